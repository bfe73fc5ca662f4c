// A codec written to test the runtime's boundary: it turns the frame's bytes into
// arbitrary output shapes (numbers, NaN, Infinity, strings, nested objects and arrays,
// thrown values, missing data, errors) so that every path from JS back to Rust is hit.
function decodeUplink(input) {
  var b = input.bytes, i = 0;
  function next() { return i < b.length ? b[i++] : 0; }
  var keys = ["co2", "air", "temperature", "relativeHumidity", "battery.level", "pulse.count", "x", "action"];
  function value(depth) {
    var t = next() % 10;
    if (depth > 4) t = t % 5;
    var n, a, o;
    switch (t) {
      case 0: return next() - 128;
      case 1: return next() / (next() - 128);
      case 2: return String.fromCharCode(next(), next());
      case 3: return next() % 2 === 0;
      case 4: return null;
      case 5: a = []; for (n = next() % 4; n > 0; n--) a.push(value(depth + 1)); return a;
      case 6: o = {}; for (n = next() % 4; n > 0; n--) o[keys[next() % keys.length]] = value(depth + 1); return o;
      case 7: return undefined;
      case 8: return ["OPEN", "CLOSED", " 12.5 ", "1e400"][next() % 4];
      default: return 1e300 * next() * next();
    }
  }
  switch (input.fPort % 6) {
    case 0: return value(0);
    case 1: return { data: value(0), errors: next() % 3 === 0 ? [value(1)] : [] };
    case 2: throw value(0);
    case 3: return { data: value(0), warnings: [value(1)] };
    default: var d = {}; for (var n = next() % 6; n > 0; n--) d[keys[next() % keys.length]] = value(1); return { data: d };
  }
}
function normalizeUplink(input) {
  return input.data && input.data.x === 1 ? { data: [input.data, input.data] } : { data: input.data };
}
