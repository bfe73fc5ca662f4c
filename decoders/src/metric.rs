//! The canonical metric catalogue: every decoder emits into these names and units, so
//! vendor names and scales stop at the decoder.
//!
//! Names follow The Things Network's normalized-payload vocabulary where it has one
//! (`air.temperature`, `air.co2`, ...), in snake_case; units are SenML/UCUM symbols.

use serde::Serialize;

/// How a metric's values relate over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// A value sampled at a point in time (temperature, CO2).
    Gauge,
    /// A monotonically increasing total (energy index, pulse count); may reset.
    Counter,
    /// A discrete state (occupied 0/1).
    State,
}

impl MetricKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
            MetricKind::State => "state",
        }
    }
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MetricInfo {
    /// Canonical name, e.g. `air.co2`.
    pub name: &'static str,
    /// SenML/UCUM unit symbol, e.g. `ppm`; `1` for dimensionless values.
    pub unit: &'static str,
    pub kind: MetricKind,
    pub description: &'static str,
}

macro_rules! catalogue {
    ($($variant:ident => $name:literal, $unit:literal, $kind:ident, $desc:literal;)*) => {
        /// A canonical metric. `Metric::ALL` lists the catalogue.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Metric { $($variant,)* }

        impl Metric {
            /// Every metric of the catalogue, in catalogue order.
            pub const ALL: &'static [Metric] = &[$(Metric::$variant,)*];

            /// Name, unit, kind and description of this metric.
            pub const fn info(self) -> &'static MetricInfo {
                match self {
                    $(Metric::$variant => &MetricInfo {
                        name: $name, unit: $unit, kind: MetricKind::$kind, description: $desc,
                    },)*
                }
            }
        }
    };
}

catalogue! {
    AirTemperature => "air.temperature", "Cel", Gauge, "Air temperature";
    AirRelativeHumidity => "air.relative_humidity", "%RH", Gauge, "Relative humidity of the air";
    AirPressure => "air.pressure", "hPa", Gauge, "Barometric pressure";
    AirCo2 => "air.co2", "ppm", Gauge, "Carbon dioxide concentration";
    AirTvoc => "air.tvoc", "ug/m3", Gauge, "Total volatile organic compounds, mass concentration";
    AirTvocPpb => "air.tvoc_ppb", "ppb", Gauge, "Total volatile organic compounds, volume fraction";
    AirTvocIndex => "air.tvoc_index", "1", Gauge, "Total volatile organic compounds as the vendor's index (IAQ level)";
    AirPm1 => "air.pm1", "ug/m3", Gauge, "Particulate matter below 1 um";
    AirPm25 => "air.pm25", "ug/m3", Gauge, "Particulate matter below 2.5 um";
    AirPm10 => "air.pm10", "ug/m3", Gauge, "Particulate matter below 10 um";
    AirHcho => "air.hcho", "mg/m3", Gauge, "Formaldehyde concentration";
    AirO3 => "air.o3", "ppm", Gauge, "Ozone concentration";
    AirNh3 => "air.nh3", "ppm", Gauge, "Ammonia concentration";
    AirCo => "air.co", "ppm", Gauge, "Carbon monoxide concentration";
    AirNo => "air.no", "ppm", Gauge, "Nitric oxide concentration";
    AirNo2 => "air.no2", "ppm", Gauge, "Nitrogen dioxide concentration";
    AirSo2 => "air.so2", "ppm", Gauge, "Sulphur dioxide concentration";
    AirH2s => "air.h2s", "ppm", Gauge, "Hydrogen sulphide concentration";
    AirLightIntensity => "air.light_intensity", "lx", Gauge, "Illuminance";
    AirLightLevel => "air.light_level", "1", Gauge, "Illuminance as the vendor's level scale";
    ActionMotionDetected => "action.motion_detected", "1", State, "Motion detected (1) or not (0) in the last period";
    ActionMotionCount => "action.motion_count", "1", Counter, "Motion detections counted in the last period";
    EnergyActiveImport => "energy.active_import", "Wh", Counter, "Active energy imported (meter index)";
    EnergyActiveImportOffpeak => "energy.active_import_offpeak", "Wh", Counter, "Active energy imported in the off-peak tariff period (meter index of a French meter's \"heures creuses\" register, HCHC)";
    EnergyActiveImportPeak => "energy.active_import_peak", "Wh", Counter, "Active energy imported in the peak tariff period (meter index of a French meter's \"heures pleines\" register, HCHP)";
    EnergyActiveImportPeriod => "energy.active_import_period", "Wh", Gauge, "Active energy imported so far in the meter's current integration period (10 min on a PME-PMI meter); restarts from zero each period";
    PowerActive => "power.active", "W", Gauge, "Active power";
    PowerFactor => "power.factor", "%", Gauge, "Power factor";
    ElectricCurrent => "electric.current", "A", Gauge, "Electric current (RMS); phase 1 (L1) on a multi-phase device";
    ElectricCurrentL2 => "electric.current_l2", "A", Gauge, "Electric current (RMS) of phase 2 (L2) of a multi-phase device (phase 1 is electric.current)";
    ElectricCurrentL3 => "electric.current_l3", "A", Gauge, "Electric current (RMS) of phase 3 (L3) of a multi-phase device (phase 1 is electric.current)";
    ElectricCurrentMax => "electric.current_max", "A", Gauge, "Highest electric current over the last period";
    ElectricCurrentMin => "electric.current_min", "A", Gauge, "Lowest electric current over the last period";
    ElectricCharge => "electric.charge", "A.h", Counter, "Accumulated current (ampere-hours)";
    ElectricVoltage => "electric.voltage", "V", Gauge, "Electric voltage (RMS); phase 1 (L1) on a multi-phase device";
    ElectricVoltageL2 => "electric.voltage_l2", "V", Gauge, "Electric voltage (RMS) of phase 2 (L2) of a multi-phase device (phase 1 is electric.voltage)";
    ElectricVoltageL3 => "electric.voltage_l3", "V", Gauge, "Electric voltage (RMS) of phase 3 (L3) of a multi-phase device (phase 1 is electric.voltage)";
    EnergyActiveExport => "energy.active_export", "Wh", Counter, "Active energy exported (injected into the grid, meter index)";
    EnergyReactiveImport => "energy.reactive_import", "varh", Counter, "Reactive energy imported (meter index)";
    PowerReactive => "power.reactive", "var", Gauge, "Reactive power";
    PowerApparent => "power.apparent", "VA", Gauge, "Apparent power";
    HeatEnergy => "heat.energy", "Wh", Counter, "Thermal energy delivered (heat or cooling meter index)";
    HeatPower => "heat.power", "W", Gauge, "Thermal power";
    WaterVolume => "water.volume", "m3", Counter, "Volume of water (meter index)";
    WaterFlow => "water.flow", "m3/h", Gauge, "Water flow rate";
    WaterFlowTemperature => "water.flow_temperature", "Cel", Gauge, "Supply (flow) water temperature of a heat meter";
    WaterReturnTemperature => "water.return_temperature", "Cel", Gauge, "Return water temperature of a heat meter";
    InputState => "input.state", "1", State, "Dry-contact input state: closed (1) or open (0); input 1 on a multi-input device";
    InputState2 => "input.state_2", "1", State, "Dry-contact state of the second input of a multi-input device: closed (1) or open (0)";
    InputState3 => "input.state_3", "1", State, "Dry-contact state of the third input of a multi-input device: closed (1) or open (0)";
    LevelDistance => "level.distance", "mm", Gauge, "Distance measured by an ultrasonic or radar level sensor";
    AirGasLevel => "air.gas_level", "1", Gauge, "Gas level as the vendor's scale (gas-alarm sensors)";
    PulseCount => "pulse.count", "1", Counter, "Pulse counter index (meters with a pulse output); input 1 on a multi-input device";
    PulseCount2 => "pulse.count_2", "1", Counter, "Pulse counter index of the second input of a multi-input device";
    PulseCount3 => "pulse.count_3", "1", Counter, "Pulse counter index of the third input of a multi-input device";
    PulseIncrement => "pulse.increment", "1", Gauge, "Pulses counted since the previous frame";
    WaterLeak => "water.leak", "1", Gauge, "Water leak sensor reading (0 = dry)";
    ParkingOccupied => "parking.occupied", "1", State, "Parking space occupied (1) or free (0)";
    ParkingVehicleCount => "parking.vehicle_count", "1", Counter, "Vehicles counted";
    RadioMargin => "radio.margin", "dB", Gauge, "Link margin the device reports (LoRaWAN DevStatusAns): SNR of its last received status request above the demodulation floor";
    DeviceTemperature => "device.temperature", "Cel", Gauge, "Temperature inside the device";
    BatteryVoltage => "battery.voltage", "V", Gauge, "Battery voltage";
    BatteryLevel => "battery.level", "%", Gauge, "Battery level";
}

impl Metric {
    /// The canonical name, e.g. `air.co2`.
    pub const fn name(self) -> &'static str {
        self.info().name
    }

    /// The SenML/UCUM unit symbol.
    pub const fn unit(self) -> &'static str {
        self.info().unit
    }

    pub const fn kind(self) -> MetricKind {
        self.info().kind
    }

    /// Looks a metric up by its canonical name.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.iter().copied().find(|m| m.name() == name)
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut seen = HashSet::new();
        for m in Metric::ALL {
            assert!(seen.insert(m.name()), "duplicate metric name {}", m.name());
            assert_eq!(Metric::from_name(m.name()), Some(*m));
            assert!(m.name().contains('.'), "{} has no family prefix", m.name());
            assert!(!m.unit().is_empty());
        }
        assert_eq!(Metric::from_name("air.nothing"), None);
    }
}
