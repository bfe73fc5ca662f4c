//! Watteco Vaqa'O Lite: indoor air quality (temperature, humidity, CO2, IAQ index).
//! Standard reports per sensor endpoint and batch reports of every series.

use crate::metric::Metric;
use crate::models::watteco::{self, Attribute, Batch, Product, SampleType, Series};
use crate::{DecodeError, Readings};

/// Temperature measurement: signed, 0.01 C.
const CLUSTER_TEMPERATURE: u16 = 0x0402;
/// Relative humidity measurement: 0.01 %RH.
const CLUSTER_HUMIDITY: u16 = 0x0405;
/// Concentration: endpoint 0 is the IAQ index, endpoint 1 the CO2 (ppm).
const CLUSTER_CONCENTRATION: u16 = 0x800C;

/// Batch parameters: 3-bit tags. Occupancy (a derived 0/1 state) is framed, not kept.
static BATCH: Batch = Batch {
    tag_bits: 3,
    series: &[
        Series { tag: 0, kind: SampleType::U8, resolution: 1.0, divide: 1.0, metric: None },
        Series { tag: 1, kind: SampleType::I16, resolution: 10.0, divide: 100.0, metric: Some(Metric::AirTemperature) },
        Series {
            tag: 2,
            kind: SampleType::U16,
            resolution: 100.0,
            divide: 100.0,
            metric: Some(Metric::AirRelativeHumidity),
        },
        Series { tag: 3, kind: SampleType::U16, resolution: 10.0, divide: 1.0, metric: Some(Metric::AirCo2) },
        Series { tag: 4, kind: SampleType::U16, resolution: 10.0, divide: 1.0, metric: Some(Metric::AirTvocIndex) },
        Series {
            tag: 5,
            kind: SampleType::U16,
            resolution: 10.0,
            divide: 1.0,
            metric: Some(Metric::AirLightIntensity),
        },
        Series { tag: 6, kind: SampleType::U16, resolution: 10.0, divide: 10.0, metric: Some(Metric::AirPressure) },
    ],
};

static VAQAO_LITE: Product = Product { standard, batch: Some(&BATCH) };

/// Endpoint 0 carries the sensors above; the binary input is the case-opening (tamper)
/// contact, not a measurement.
fn standard(a: &Attribute<'_>, out: &mut Readings) -> Result<(), DecodeError> {
    if a.attribute != 0x0000 {
        return Ok(());
    }
    match (a.cluster, a.endpoint) {
        (CLUSTER_TEMPERATURE, 0) => out.push(Metric::AirTemperature, f64::from(a.value()?.i16_be()?) / 100.0),
        (CLUSTER_HUMIDITY, 0) => out.push(Metric::AirRelativeHumidity, f64::from(a.value()?.u16_be()?) / 100.0),
        (CLUSTER_CONCENTRATION, 0) => out.push(Metric::AirTvocIndex, f64::from(a.value()?.u16_be()?)),
        (CLUSTER_CONCENTRATION, 1) => out.push(Metric::AirCo2, f64::from(a.value()?.u16_be()?)),
        _ => {}
    }
    Ok(())
}

pub(crate) fn decode(f_port: u8, bytes: &[u8], out: &mut Readings) -> Result<(), DecodeError> {
    watteco::decode(&VAQAO_LITE, f_port, bytes, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concentration_endpoint_picks_the_metric() {
        let mut out = Readings::default();
        // Frame control 0x31: endpoint 1 = CO2.
        decode(125, &[0x31, 0x0A, 0x80, 0x0C, 0x00, 0x00, 0x21, 0x01, 0x90], &mut out).unwrap();
        assert_eq!((out.0[0].metric, out.0[0].value), (Metric::AirCo2, 400.0));
        assert_eq!(
            decode(125, &[0x11, 0x0A, 0x04, 0x02, 0x00, 0x00, 0x29, 0x0B], &mut out),
            Err(DecodeError::TooShort { offset: 7, needed: 2, len: 8 })
        );
    }
}
