//! Watteco (nke Watteco) ZCL frames on FPort 125, shared by every Watteco model: standard
//! reports (one attribute of one cluster) and batch reports (bit-packed, compressed time
//! series). Each `watteco_*` file says which attributes its product reads and its batch
//! parameters; this file frames the bytes and handles the clusters every product shares.

use std::time::Duration;

use crate::cursor::Cursor;
use crate::metric::Metric;
use crate::{DecodeError, Readings};

/// The FPort every Watteco product sends its ZCL frames on.
pub(crate) const PORT: u8 = 125;

const CMD_READ_ATTRIBUTE_RESPONSE: u8 = 0x01;
const CMD_REPORT_ATTRIBUTES: u8 = 0x0A;
const CMD_ALARM_REPORT: u8 = 0x8A;

/// ZCL data type of octet strings (length-prefixed bytes).
pub(crate) const TYPE_OCTET_STRING: u8 = 0x41;

/// Cluster "binary input": pin state (0x0055) and pulse count (0x0402).
pub(crate) const CLUSTER_BINARY_INPUT: u16 = 0x000F;
pub(crate) const ATTR_PRESENT_VALUE: u16 = 0x0055;
pub(crate) const ATTR_COUNT: u16 = 0x0402;
/// Cluster "simple metering" (attribute 0x0000: energies and powers).
pub(crate) const CLUSTER_SIMPLE_METERING: u16 = 0x0052;
/// Cluster "power configuration": the node power descriptor (0x0006) carries voltages.
const CLUSTER_POWER: u16 = 0x0050;
const ATTR_POWER_DESCRIPTOR: u16 = 0x0006;

/// What a product reads from Watteco frames.
pub(crate) struct Product {
    /// Reads one standard-report attribute; attributes it does not know yield nothing.
    pub(crate) standard: fn(&Attribute<'_>, &mut Readings) -> Result<(), DecodeError>,
    /// The product's batch parameters, if it sends batch reports.
    pub(crate) batch: Option<&'static Batch>,
}

/// Decodes one uplink of a Watteco product.
pub(crate) fn decode(product: &Product, f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    if f_port != PORT {
        return Err(DecodeError::UnknownPort(f_port));
    }
    let first = *bytes.first().ok_or(DecodeError::Empty)?;
    // Bit 0 of the first byte: set in the ZCL frame control of standard reports, clear in
    // the header of batch reports.
    if first & 0x01 == 0 {
        let batch = product.batch.ok_or_else(|| DecodeError::BadValue {
            field: "batch report",
            reason: "this model sends no batch reports".into(),
        })?;
        return decode_batch(batch, bytes, out);
    }
    let Some(attribute) = Attribute::parse(bytes)? else {
        return Ok(());
    };
    if (attribute.cluster, attribute.attribute) == (CLUSTER_POWER, ATTR_POWER_DESCRIPTOR) {
        power_descriptor(&attribute, out)?;
    }
    (product.standard)(&attribute, out)
}

/// One attribute of a standard report (`0x0A`), alarm report (`0x8A`) or successful read
/// attribute response (`0x01`). The value starts at `value_at`; alarm causes may follow it.
pub(crate) struct Attribute<'a> {
    frame: &'a [u8],
    value_at: usize,
    /// ZCL endpoint: the product's input or sensor number, from 0.
    pub(crate) endpoint: u8,
    pub(crate) cluster: u16,
    pub(crate) attribute: u16,
    pub(crate) data_type: u8,
}

impl<'a> Attribute<'a> {
    /// Frames a standard frame; `None` for commands that carry no attribute value
    /// (configure and read-reporting responses) and for failed read responses.
    fn parse(frame: &'a [u8]) -> Result<Option<Self>, DecodeError> {
        let mut c = Cursor::new(frame);
        let control = c.u8()?;
        let endpoint = ((control & 0xE0) >> 5) | ((control & 0x06) << 2);
        let command = c.u8()?;
        let cluster = c.u16_be()?;
        if !matches!(command, CMD_REPORT_ATTRIBUTES | CMD_ALARM_REPORT | CMD_READ_ATTRIBUTE_RESPONSE) {
            return Ok(None);
        }
        let attribute = c.u16_be()?;
        if command == CMD_READ_ATTRIBUTE_RESPONSE && c.u8()? != 0 {
            return Ok(None);
        }
        let data_type = c.u8()?;
        Ok(Some(Self { frame, value_at: c.pos(), endpoint, cluster, attribute, data_type }))
    }

    /// A cursor over the frame, at the value.
    pub(crate) fn value(&self) -> Result<Cursor<'a>, DecodeError> {
        let mut c = Cursor::new(self.frame);
        c.take(self.value_at)?;
        Ok(c)
    }

    /// For an octet-string value: a cursor at its first byte that ends with the string, so
    /// reading past the string is a `TooShort` (offsets stay those of the frame).
    pub(crate) fn octets(&self) -> Result<Cursor<'a>, DecodeError> {
        if self.data_type != TYPE_OCTET_STRING {
            return Err(self.unexpected_type());
        }
        let mut c = self.value()?;
        let len = usize::from(c.u8()?);
        let start = c.pos();
        c.take(len)?;
        let frame = self.frame.get(..c.pos()).ok_or(DecodeError::TooShort {
            offset: start,
            needed: len,
            len: self.frame.len(),
        })?;
        let mut inner = Cursor::new(frame);
        inner.take(start)?;
        Ok(inner)
    }

    /// The error for a data type this attribute should not have.
    pub(crate) fn unexpected_type(&self) -> DecodeError {
        DecodeError::UnknownField { code: u16::from(self.data_type), offset: self.value_at.saturating_sub(1) }
    }

    /// A boolean value (pin state).
    pub(crate) fn bool(&self) -> Result<bool, DecodeError> {
        Ok(self.value()?.u8()? != 0)
    }

    /// An unsigned 32-bit value (pulse count).
    pub(crate) fn u32(&self) -> Result<u32, DecodeError> {
        self.value()?.u32_be()
    }
}

/// Node power descriptor: length, power modes, a bitmap of the sources present (bit 0 mains
/// or external, 1 rechargeable battery, 2 disposable battery, 3 solar, 4 TIC harvesting),
/// then each present source's voltage in mV, in that order.
fn power_descriptor(a: &Attribute<'_>, out: &mut Readings) -> Result<(), DecodeError> {
    let mut c = a.value()?;
    let _len = c.u8()?;
    let _modes = c.u8()?;
    let sources = c.u8()?;
    for bit in 0..5 {
        if sources & (1 << bit) == 0 {
            continue;
        }
        let volts = f64::from(c.u16_be()?) / 1000.0;
        if bit == 1 || bit == 2 {
            out.push(Metric::BatteryVoltage, volts);
        }
    }
    Ok(())
}

/// Simple metering: active energy (Wh) and reactive energy (varh), signed 24-bit indexes;
/// the number of samples behind the powers; mean active (W) and reactive (var) power,
/// signed 16-bit.
pub(crate) fn simple_metering(a: &Attribute<'_>, out: &mut Readings) -> Result<(), DecodeError> {
    let mut c = a.octets()?;
    let active_energy = i24_be(&mut c)?;
    let reactive_energy = i24_be(&mut c)?;
    let _samples = c.u16_be()?;
    let active_power = c.i16_be()?;
    let reactive_power = c.i16_be()?;
    out.push(Metric::EnergyActiveImport, f64::from(active_energy));
    out.push(Metric::EnergyReactiveImport, f64::from(reactive_energy));
    out.push(Metric::PowerActive, f64::from(active_power));
    out.push(Metric::PowerReactive, f64::from(reactive_power));
    Ok(())
}

/// Reads a big-endian 24-bit two's-complement integer.
pub(crate) fn i24_be(c: &mut Cursor<'_>) -> Result<i32, DecodeError> {
    let b = c.take(3)?;
    let raw = b.iter().fold(0i32, |acc, &x| (acc << 8) | i32::from(x));
    Ok((raw << 8) >> 8)
}

/// Reads a big-endian unsigned 24-bit integer.
pub(crate) fn u24_be(c: &mut Cursor<'_>) -> Result<u32, DecodeError> {
    Ok(c.take(3)?.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)))
}

// ---------------------------------------------------------------------------------------
// Batch reports

/// A product's batch parameters: how many bits a series tag takes and its series.
pub(crate) struct Batch {
    pub(crate) tag_bits: u32,
    pub(crate) series: &'static [Series],
}

/// One series a product can put in a batch report.
pub(crate) struct Series {
    /// The tag that names the series in the frame.
    pub(crate) tag: u32,
    pub(crate) kind: SampleType,
    /// The step of compressed deltas, in raw units.
    pub(crate) resolution: f64,
    /// Raw value / `divide` = value in the metric's unit.
    pub(crate) divide: f64,
    /// The canonical metric, or `None` for a series decoded (to frame the rest) but not kept.
    pub(crate) metric: Option<Metric>,
}

/// How a raw sample is stored (the types the supported products use; the format also has
/// 4-bit, signed 8-bit, unsigned 24-bit and signed 32-bit samples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SampleType {
    Bool,
    U8,
    U16,
    I16,
    I24,
    U32,
    F32,
}

impl SampleType {
    fn bits(self) -> u32 {
        match self {
            SampleType::Bool => 1,
            SampleType::U8 => 8,
            SampleType::U16 | SampleType::I16 => 16,
            SampleType::I24 => 24,
            SampleType::U32 | SampleType::F32 => 32,
        }
    }

    fn read(self, bits: &mut Bits<'_>) -> Result<f64, DecodeError> {
        let n = self.bits();
        let raw = bits.uint(n)?;
        Ok(match self {
            SampleType::I16 | SampleType::I24 => {
                let sign = 1u64 << (n - 1);
                (i64::from(raw) ^ sign as i64) as f64 - sign as f64
            }
            SampleType::F32 => {
                let v = f64::from(f32::from_bits(raw));
                if !v.is_finite() {
                    return Err(DecodeError::BadValue { field: "batch sample", reason: format!("float {v}") });
                }
                v
            }
            _ => f64::from(raw),
        })
    }
}

/// A Huffman code index above this means "raw value follows" rather than "delta of that
/// many bits".
const MAX_DELTA_BITS: usize = 14;

/// The three Huffman tables of batch reports: entry `i` is `(code length, code)` of the
/// symbol `i`, the number of bits of the delta that follows (15: a raw value follows).
/// The longest Huffman code, in bits.
const CODE_BITS: usize = 11;

/// [`HUFFMAN`] as lookup tables, built at compile time: the next 11 bits (the first one
/// read most significant) index `(code length, symbol)`; length 0: no code starts so.
static HUFFMAN_LOOKUP: [[(u8, u8); 1 << CODE_BITS]; 3] = huffman_lookup();

const fn huffman_lookup() -> [[(u8, u8); 1 << CODE_BITS]; 3] {
    let mut out = [[(0u8, 0u8); 1 << CODE_BITS]; 3];
    let mut t = 0;
    while t < HUFFMAN.len() {
        let mut s = 0;
        while s < HUFFMAN[t].len() {
            let (len, code) = HUFFMAN[t][s];
            let shift = CODE_BITS as u32 - len;
            let mut i = (code << shift) as usize;
            let end = ((code + 1) << shift) as usize;
            while i < end {
                if out[t][i].0 == 0 {
                    out[t][i] = (len as u8, s as u8);
                }
                i += 1;
            }
            s += 1;
        }
        t += 1;
    }
    out
}

const HUFFMAN: [[(u32, u32); 16]; 3] = [
    [
        (2, 0x000),
        (2, 0x001),
        (2, 0x003),
        (3, 0x005),
        (4, 0x009),
        (5, 0x011),
        (6, 0x021),
        (7, 0x041),
        (8, 0x081),
        (10, 0x200),
        (11, 0x402),
        (11, 0x403),
        (11, 0x404),
        (11, 0x405),
        (11, 0x406),
        (11, 0x407),
    ],
    [
        (7, 0x06f),
        (5, 0x01a),
        (4, 0x00c),
        (3, 0x003),
        (3, 0x007),
        (2, 0x002),
        (2, 0x000),
        (3, 0x002),
        (6, 0x036),
        (9, 0x1bb),
        (9, 0x1b9),
        (10, 0x375),
        (10, 0x374),
        (10, 0x370),
        (11, 0x6e3),
        (11, 0x6e2),
    ],
    [
        (4, 0x009),
        (3, 0x005),
        (2, 0x000),
        (2, 0x001),
        (2, 0x003),
        (5, 0x011),
        (6, 0x021),
        (7, 0x041),
        (8, 0x081),
        (10, 0x200),
        (11, 0x402),
        (11, 0x403),
        (11, 0x404),
        (11, 0x405),
        (11, 0x406),
        (11, 0x407),
    ],
];

/// A bounds-checked reader of the bit stream of a batch report: bits are taken from bit 0
/// of each byte upwards.
struct Bits<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn bit(&mut self) -> Result<bool, DecodeError> {
        let byte = self.pos / 8;
        let b = self.bytes.get(byte).ok_or(DecodeError::TooShort { offset: byte, needed: 1, len: self.bytes.len() })?;
        let set = (b >> (self.pos % 8)) & 1 == 1;
        self.pos += 1;
        Ok(set)
    }

    /// An `n`-bit unsigned value (1 <= n <= 32). The first `n % 8` bits (or 8) read are
    /// the value's top byte, the next 8 the byte below, and so on; each byte's bits come
    /// lowest first.
    fn uint(&mut self, n: u32) -> Result<u32, DecodeError> {
        if n == 0 || n > 32 {
            return Err(DecodeError::BadValue { field: "batch bit width", reason: format!("{n} bits") });
        }
        let mut value = 0u32;
        let mut remaining = n;
        let mut chunk = if n % 8 == 0 { 8 } else { n % 8 };
        while remaining > 0 {
            let shift = remaining - chunk;
            value |= u32::from(self.low_bits(chunk)?) << shift;
            remaining = shift;
            chunk = 8;
        }
        Ok(value)
    }

    /// The next `n` bits (1 <= n <= 8), the first read as the lowest.
    fn low_bits(&mut self, n: u32) -> Result<u8, DecodeError> {
        let end = self.pos + n as usize;
        if end > self.bytes.len() * 8 {
            let offset = self.bytes.len();
            return Err(DecodeError::TooShort { offset, needed: 1, len: self.bytes.len() });
        }
        let byte = self.pos / 8;
        let lo = self.bytes.get(byte).copied().unwrap_or(0);
        let hi = self.bytes.get(byte + 1).copied().unwrap_or(0);
        let window = (u16::from(hi) << 8 | u16::from(lo)) >> (self.pos % 8);
        self.pos = end;
        Ok((window & ((1u16 << n) - 1)) as u8)
    }

    /// The next Huffman symbol of `table` (codes are read most significant bit first):
    /// the next 11 bits index the table's lookup, which gives the code's length.
    fn symbol(&mut self, table: u32) -> Result<usize, DecodeError> {
        let lookup = usize::try_from(table).ok().and_then(|t| HUFFMAN_LOOKUP.get(t)).ok_or_else(|| {
            DecodeError::BadValue { field: "batch coding table", reason: format!("table {table} does not exist") }
        })?;
        let start = self.pos;
        let mut window = 0usize;
        let mut available = 0;
        for k in 0..CODE_BITS {
            let Some(byte) = self.bytes.get((start + k) / 8) else { break };
            window |= usize::from((byte >> ((start + k) % 8)) & 1) << (CODE_BITS - 1 - k);
            available += 1;
        }
        let too_short = DecodeError::TooShort { offset: (start + available) / 8, needed: 1, len: self.bytes.len() };
        match lookup.get(window).copied().unwrap_or((0, 0)) {
            (0, _) if available < CODE_BITS => Err(too_short),
            (0, _) => {
                Err(DecodeError::BadValue { field: "batch code", reason: format!("no Huffman code at bit {start}") })
            }
            (len, _) if usize::from(len) > available => Err(too_short),
            (len, symbol) => {
                self.pos += usize::from(len);
                Ok(usize::from(symbol))
            }
        }
    }

    /// A timestamp (seconds) coded against `base`: a symbol of table 1, then the delta bits.
    fn timestamp_after(&mut self, base: u64, table: u32) -> Result<u64, DecodeError> {
        let symbol = self.symbol(table)?;
        self.timestamp_from_symbol(base, symbol)
    }

    fn timestamp_from_symbol(&mut self, base: u64, symbol: usize) -> Result<u64, DecodeError> {
        if symbol > MAX_DELTA_BITS {
            return Ok(u64::from(self.uint(32)?));
        }
        if symbol == 0 {
            return Ok(base);
        }
        // Delta of `symbol` bits, offset by 2^symbol - 1 (shorter deltas have shorter codes).
        let bits = symbol as u32;
        let delta = u64::from(self.uint(bits)?) + (1u64 << bits) - 1;
        base.checked_add(delta)
            .ok_or_else(|| DecodeError::BadValue { field: "batch timestamp", reason: "overflows".into() })
    }
}

/// A series being decoded: its coding parameters and samples `(timestamp s, raw value)`.
struct SeriesState {
    coding_type: u32,
    coding_table: u32,
    samples: Vec<(u64, f64)>,
}

impl SeriesState {
    fn last(&self) -> Result<(u64, f64), DecodeError> {
        self.samples
            .last()
            .copied()
            .ok_or_else(|| DecodeError::BadValue { field: "batch series", reason: "no first sample".into() })
    }
}

/// Reads a series tag: the index of its series in the product's parameters.
fn series_index(batch: &Batch, bits: &mut Bits<'_>) -> Result<usize, DecodeError> {
    let offset = bits.pos / 8;
    let tag = bits.uint(batch.tag_bits)?;
    batch
        .series
        .iter()
        .position(|s| s.tag == tag)
        .ok_or(DecodeError::UnknownField { code: u16::try_from(tag).unwrap_or(u16::MAX), offset })
}

/// The next compressed value of a series: `symbol` (1..=14) bits of delta, coded per the
/// series' coding type, in steps of its resolution.
fn delta_value(
    bits: &mut Bits<'_>,
    previous: f64,
    coding_type: u32,
    resolution: f64,
    symbol: usize,
) -> Result<f64, DecodeError> {
    let n = symbol as u32;
    let v = f64::from(bits.uint(n)?);
    let full = f64::from(1u32 << n);
    Ok(match coding_type {
        // Two-sided: the top half of the code space is positive deltas, the bottom half
        // negative ones.
        0 if v >= full / 2.0 => v * resolution + previous,
        0 => (v + 1.0 - full) * resolution + previous,
        1 => (v + full - 1.0) * resolution + previous,
        _ => previous - (v + full - 1.0) * resolution,
    })
}

/// Decodes a batch report: header, first sample of each series, then either per-series
/// timestamps or one timestamp table common to all series, then the frame's own timestamp.
/// Every sample becomes a reading aged by its offset before that timestamp.
fn decode_batch(batch: &Batch, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    let mut bits = Bits::new(bytes);
    let header = bits.uint(8)?;
    let common_timestamps = header & 0x02 != 0;
    let has_samples = header & 0x04 == 0;
    let series_count = header >> 4;
    let _counter = bits.uint(3)?;
    let _reserved = bits.uint(1)?;

    let mut state: Vec<Option<SeriesState>> = batch.series.iter().map(|_| None).collect();
    let mut timestamp = 0u64;
    let mut first_series = None;
    for _ in 0..series_count {
        let i = series_index(batch, &mut bits)?;
        if first_series.is_none() {
            first_series = Some(i);
        }
        // A zero base means "none yet": the timestamp is then sent in full.
        timestamp = if timestamp == 0 { u64::from(bits.uint(32)?) } else { bits.timestamp_after(timestamp, 1)? };
        let kind = batch.series.get(i).map_or(SampleType::U32, |s| s.kind);
        let value = kind.read(&mut bits)?;
        let (coding_type, coding_table) = if has_samples { (bits.uint(2)?, bits.uint(2)?) } else { (0, 0) };
        if let Some(slot) = state.get_mut(i) {
            *slot = Some(SeriesState { coding_type, coding_table, samples: vec![(timestamp, value)] });
        }
    }

    let mut last = timestamp;
    if has_samples {
        last = if common_timestamps {
            common_samples(batch, &mut bits, &mut state, first_series, series_count)?
        } else {
            separate_samples(batch, &mut bits, &mut state, series_count, last)?
        };
    }
    let frame_time = if last == 0 { u64::from(bits.uint(32)?) } else { bits.timestamp_after(last, 1)? };

    for (series, st) in batch.series.iter().zip(&state) {
        let (Some(metric), Some(st)) = (series.metric, st) else {
            continue;
        };
        for &(t, raw) in &st.samples {
            let age = frame_time.checked_sub(t).ok_or_else(|| DecodeError::BadValue {
                field: "batch timestamp",
                reason: format!("sample at {t} s is after the frame's time {frame_time} s"),
            })?;
            let value = raw / series.divide;
            if !value.is_finite() {
                return Err(DecodeError::BadValue { field: "batch sample", reason: format!("{value}") });
            }
            out.push_aged(metric, value, Duration::from_secs(age));
        }
    }
    Ok(())
}

/// The next sample value of series `st`: a delta symbol, then the delta or a raw value.
/// `None` when the symbol says "same as before" and the caller must decide.
fn next_value(bits: &mut Bits<'_>, series: &Series, st: &SeriesState) -> Result<Option<f64>, DecodeError> {
    let symbol = bits.symbol(st.coding_table)?;
    if symbol > MAX_DELTA_BITS {
        return series.kind.read(bits).map(Some);
    }
    let (_, previous) = st.last()?;
    if symbol == 0 {
        return Ok(None);
    }
    delta_value(bits, previous, st.coding_type, series.resolution, symbol).map(Some)
}

fn series_at<'s>(
    batch: &'s Batch,
    state: &'s mut [Option<SeriesState>],
    i: usize,
) -> Result<(&'s Series, &'s mut SeriesState), DecodeError> {
    let series = batch.series.get(i);
    let st = state.get_mut(i).and_then(Option::as_mut);
    series.zip(st).ok_or_else(|| DecodeError::BadValue {
        field: "batch series",
        reason: "samples for a series not declared".into(),
    })
}

/// Separate timestamps: for each series, a sample count, then per sample a timestamp
/// (coded against the series' previous one) and a value. Returns the latest timestamp.
fn separate_samples(
    batch: &Batch,
    bits: &mut Bits<'_>,
    state: &mut [Option<SeriesState>],
    series_count: u32,
    mut last: u64,
) -> Result<u64, DecodeError> {
    for _ in 0..series_count {
        let i = series_index(batch, bits)?;
        let count = bits.uint(8)?;
        if count == 0 {
            continue;
        }
        let timestamp_table = bits.uint(2)?;
        let (series, st) = series_at(batch, state, i)?;
        for _ in 0..count {
            let (previous_time, previous) = st.last()?;
            let t = bits.timestamp_after(previous_time, timestamp_table)?;
            last = last.max(t);
            let value = next_value(bits, series, st)?.unwrap_or(previous);
            st.samples.push((t, value));
        }
    }
    Ok(last)
}

/// Common timestamps: a sample count and one timestamp table, then for each series one
/// "present" bit per timestamp, followed by the value when set. Returns the last timestamp
/// of the table.
fn common_samples(
    batch: &Batch,
    bits: &mut Bits<'_>,
    state: &mut [Option<SeriesState>],
    first_series: Option<usize>,
    series_count: u32,
) -> Result<u64, DecodeError> {
    let count = bits.uint(8)?;
    let timestamp_table = bits.uint(2)?;
    let first_time = match first_series.and_then(|i| state.get(i)).and_then(Option::as_ref) {
        Some(st) => st.last()?.0,
        None => 0,
    };
    let mut times = Vec::new();
    for _ in 0..count {
        let symbol = bits.symbol(timestamp_table)?;
        let t = match times.last() {
            // The table starts at the first series' first sample, whatever the symbol says
            // (unless it announces a raw timestamp).
            None if symbol <= MAX_DELTA_BITS => first_time,
            None => u64::from(bits.uint(32)?),
            Some(&previous) => bits.timestamp_from_symbol(previous, symbol)?,
        };
        times.push(t);
    }
    for _ in 0..series_count {
        let i = series_index(batch, bits)?;
        let (series, st) = series_at(batch, state, i)?;
        // The first "unchanged" sample of each series repeats its first sample and is not
        // a new measurement: it is skipped.
        let mut skip_unchanged = true;
        for &t in &times {
            if !bits.bit()? {
                continue;
            }
            let value = match next_value(bits, series, st)? {
                Some(v) => v,
                None if skip_unchanged => {
                    skip_unchanged = false;
                    continue;
                }
                None => st.last()?.1,
            };
            st.samples.push((t, value));
        }
    }
    Ok(times.last().copied().unwrap_or(0))
}

/// Binary input cluster of the pulse/contact products: pin state -> `input.state`, pulse
/// count -> `pulse.count`.
pub(crate) fn binary_input(a: &Attribute<'_>, out: &mut Readings) -> Result<(), DecodeError> {
    match (a.cluster, a.attribute) {
        (CLUSTER_BINARY_INPUT, ATTR_PRESENT_VALUE) => out.push(Metric::InputState, f64::from(u8::from(a.bool()?))),
        (CLUSTER_BINARY_INPUT, ATTR_COUNT) => out.push(Metric::PulseCount, f64::from(a.u32()?)),
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nothing(_: &Attribute<'_>, _: &mut Readings) -> Result<(), DecodeError> {
        Ok(())
    }

    static PLAIN: Product = Product { standard: nothing, batch: None };

    #[test]
    fn port_empty_and_missing_batch_parameters_are_typed_errors() {
        let mut out = Readings::default();
        assert_eq!(decode(&PLAIN, 1, &[0x11], &mut out), Err(DecodeError::UnknownPort(1)));
        assert_eq!(decode(&PLAIN, PORT, &[], &mut out), Err(DecodeError::Empty));
        assert!(matches!(decode(&PLAIN, PORT, &[0x20, 0], &mut out), Err(DecodeError::BadValue { .. })));
    }

    #[test]
    fn truncated_standard_frames_report_where() {
        let mut out = Readings::default();
        assert_eq!(
            decode(&PLAIN, PORT, &[0x11, 0x0A, 0x00], &mut out),
            Err(DecodeError::TooShort { offset: 2, needed: 2, len: 3 })
        );
        // Power descriptor announcing a disposable battery whose voltage is cut off.
        assert_eq!(
            decode(&PLAIN, PORT, &[0x11, 0x0A, 0x00, 0x50, 0x00, 0x06, 0x41, 0x05, 0x03, 0x04, 0x0E], &mut out),
            Err(DecodeError::TooShort { offset: 10, needed: 2, len: 11 })
        );
    }

    #[test]
    fn commands_without_a_value_decode_to_nothing() {
        let mut out = Readings::default();
        // Configure reporting response, and a read response with a failure status.
        decode(&PLAIN, PORT, &[0x11, 0x07, 0x00, 0x0F, 0x00], &mut out).unwrap();
        decode(&PLAIN, PORT, &[0x11, 0x01, 0x00, 0x0F, 0x00, 0x55, 0x86], &mut out).unwrap();
        assert!(out.0.is_empty());
    }

    #[test]
    fn endpoint_comes_from_two_bit_groups_of_the_frame_control() {
        let a = Attribute::parse(&[0x31, 0x0A, 0x00, 0x52, 0x00, 0x00, 0x41]).unwrap().unwrap();
        assert_eq!((a.endpoint, a.cluster, a.attribute, a.data_type), (1, 0x0052, 0, 0x41));
        let a = Attribute::parse(&[0x17, 0x0A, 0x00, 0x0F, 0x00, 0x55, 0x10, 0x01]).unwrap().unwrap();
        assert_eq!(a.endpoint, 0b11000);
    }

    #[test]
    fn bits_are_read_low_first_and_fill_the_top_byte_first() {
        let mut b = Bits::new(&[0b1010_0101, 0xFF]);
        assert_eq!(b.uint(4).unwrap(), 0b0101);
        // 12 bits: 4 bits (0b1010) into bits 8..12, then 8 bits (0xFF) below.
        assert_eq!(b.uint(12).unwrap(), 0xAFF);
        assert_eq!(b.bit(), Err(DecodeError::TooShort { offset: 2, needed: 1, len: 2 }));
        assert!(Bits::new(&[0; 8]).uint(33).is_err());
    }

    #[test]
    fn huffman_codes_are_read_most_significant_bit_first() {
        // Table 1, symbol 5 is "10" (2 bits): the stream holds 1 then 0.
        assert_eq!(Bits::new(&[0b01]).symbol(1).unwrap(), 5);
        assert!(Bits::new(&[0xFF, 0xFF]).symbol(3).is_err());
        // Table 0: 1 then nine 0s is symbol 9 (10 bits); cut after 8 bits it is too short.
        assert_eq!(Bits::new(&[0x01, 0x00]).symbol(0), Ok(9));
        assert_eq!(Bits::new(&[0x01]).symbol(0), Err(DecodeError::TooShort { offset: 1, needed: 1, len: 1 }));
    }

    #[test]
    fn signed_samples_are_sign_extended() {
        // First byte read is the top byte.
        assert_eq!(SampleType::I16.read(&mut Bits::new(&[0xFF, 0xFE])).unwrap(), -2.0);
        assert_eq!(SampleType::I24.read(&mut Bits::new(&[0x80, 0, 0])).unwrap(), -8_388_608.0);
        assert_eq!(SampleType::U16.read(&mut Bits::new(&[0xFF, 0xFE])).unwrap(), 65534.0);
        assert!(SampleType::F32.read(&mut Bits::new(&[0x7F, 0x80, 0, 0])).is_err());
    }

    /// Writes bits the way `Bits` reads them.
    #[derive(Default)]
    struct BitWriter {
        bytes: Vec<u8>,
        len: usize,
    }

    impl BitWriter {
        fn bit(&mut self, set: bool) {
            if self.len % 8 == 0 {
                self.bytes.push(0);
            }
            if set {
                *self.bytes.last_mut().unwrap() |= 1 << (self.len % 8);
            }
            self.len += 1;
        }

        fn uint(&mut self, n: u32, value: u32) -> &mut Self {
            let mut remaining = n;
            let mut chunk = if n % 8 == 0 { 8 } else { n % 8 };
            while remaining > 0 {
                let shift = remaining - chunk;
                for k in 0..chunk {
                    self.bit(value >> (shift + k) & 1 == 1);
                }
                remaining = shift;
                chunk = 8;
            }
            self
        }

        fn symbol(&mut self, table: usize, symbol: usize) -> &mut Self {
            let (len, code) = HUFFMAN[table][symbol];
            for k in (0..len).rev() {
                self.bit(code >> k & 1 == 1);
            }
            self
        }
    }

    static ONE_SERIES: Batch = Batch {
        tag_bits: 2,
        series: &[Series {
            tag: 2,
            kind: SampleType::U16,
            resolution: 10.0,
            divide: 10.0,
            metric: Some(Metric::AirCo2),
        }],
    };

    /// A batch of one series and no further samples: header (1 series, "no sample" bit),
    /// counter, tag 2, first sample at t = 100 s, value 4200.
    fn first_sample_only() -> BitWriter {
        let mut w = BitWriter::default();
        w.uint(8, 0x14).uint(3, 0).uint(1, 0).uint(2, 2).uint(32, 100).uint(16, 4200);
        w
    }

    #[test]
    fn batch_sample_age_is_its_offset_before_the_frame_time() {
        // Frame time: symbol 5 of table 1, then 5 bits (3): 100 + 3 + 2^5 - 1 = 134 s.
        let mut w = first_sample_only();
        w.symbol(1, 5).uint(5, 3);
        let mut out = Readings::default();
        decode_batch(&ONE_SERIES, &w.bytes, &mut out).unwrap();
        assert_eq!(out.0, vec![crate::Reading { metric: Metric::AirCo2, value: 420.0, age: Duration::from_secs(34) }]);
    }

    #[test]
    fn batch_sample_after_the_frame_time_is_rejected() {
        // Frame time sent raw (symbol 15) as 50 s: before the sample at 100 s.
        let mut w = first_sample_only();
        w.symbol(1, 15).uint(32, 50);
        let mut out = Readings::default();
        assert!(matches!(decode_batch(&ONE_SERIES, &w.bytes, &mut out), Err(DecodeError::BadValue { .. })));
        // Cut before the frame time: too short.
        let w = first_sample_only();
        assert!(matches!(decode_batch(&ONE_SERIES, &w.bytes, &mut out), Err(DecodeError::TooShort { .. })));
        // A tag the product does not know.
        let mut w = BitWriter::default();
        w.uint(8, 0x14).uint(3, 0).uint(1, 0).uint(2, 1);
        assert_eq!(
            decode_batch(&ONE_SERIES, &w.bytes, &mut out),
            Err(DecodeError::UnknownField { code: 1, offset: 1 })
        );
    }

    static ANY_TAG: Batch = Batch {
        tag_bits: 1,
        series: &[
            Series {
                tag: 0,
                kind: SampleType::F32,
                resolution: 0.1,
                divide: 1.0,
                metric: Some(Metric::ElectricCurrent),
            },
            Series { tag: 1, kind: SampleType::I24, resolution: 1.0, divide: 1.0, metric: Some(Metric::PulseCount) },
        ],
    };

    proptest::proptest! {
        /// Random batch frames whose tags always name a series get deep into the decoder:
        /// it returns finite readings or a typed error, never panics.
        #[test]
        fn arbitrary_batch_frames_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..64)) {
            let mut out = Readings::default();
            if decode_batch(&ANY_TAG, &bytes, &mut out).is_ok() {
                for r in &out.0 {
                    proptest::prop_assert!(r.value.is_finite(), "{r:?}");
                }
            }
        }
    }

    #[test]
    fn delta_coding_types() {
        let mut b = Bits::new(&[0b11, 0b01]);
        // Type 0, 2 bits: 3 >= 2 -> +3; 1 < 2 -> 1 + 1 - 4 = -2.
        assert_eq!(delta_value(&mut b, 10.0, 0, 1.0, 2).unwrap(), 13.0);
        assert_eq!(delta_value(&mut Bits::new(&[0b01]), 10.0, 0, 1.0, 2).unwrap(), 8.0);
        // Type 1 (only up): 1 + 3 = 4 steps; type 2 (only down).
        assert_eq!(delta_value(&mut Bits::new(&[0b01]), 10.0, 1, 100.0, 2).unwrap(), 410.0);
        assert_eq!(delta_value(&mut Bits::new(&[0b01]), 10.0, 2, 1.0, 2).unwrap(), 6.0);
    }
}
