// Example codec for roc42: a CO2 / temperature / humidity sensor with a TTN-style
// decodeUplink and normalizeUplink (ES5, as codecs of the TTN device repository are).
//
// FPort 1, 8 bytes: version (0x01), CO2 ppm (u16 BE), temperature in 0.01 C (i16 BE),
// relative humidity in 0.5 % (u8), battery voltage in mV (u16 BE).
function decodeUplink(input) {
  var b = input.bytes;
  if (input.fPort !== 1) {
    return { errors: ["unknown FPort " + input.fPort] };
  }
  if (b.length < 8) {
    return { errors: ["frame too short: " + b.length + " bytes, 8 expected"] };
  }
  if (b[0] !== 0x01) {
    return { errors: ["unknown frame version " + b[0]] };
  }
  var t = (b[3] << 8) | b[4];
  if (t & 0x8000) {
    t -= 0x10000;
  }
  return {
    data: {
      co2: (b[1] << 8) | b[2],
      temperature: t / 100,
      humidity: b[5] / 2,
      battery_mv: (b[6] << 8) | b[7]
    },
    warnings: b[5] > 200 ? ["humidity out of range"] : []
  };
}

function normalizeUplink(input) {
  var d = input.data;
  return {
    data: {
      air: { co2: d.co2, temperature: d.temperature, relativeHumidity: d.humidity },
      battery: { voltage: d.battery_mv / 1000 }
    }
  };
}
