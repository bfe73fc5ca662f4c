//! The device models this crate decodes: who makes them, what they measure and which
//! decoder reads their frames. The API's model catalogue and `roc42 models` read this.

use serde::Serialize;

use crate::models;
use crate::{DecodeError, Readings};

/// What a model is deployed for (the services of the catalogue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    AirQuality,
    Energy,
    Parking,
}

impl Category {
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::AirQuality => "air_quality",
            Category::Energy => "energy",
            Category::Parking => "parking",
        }
    }
}

pub(crate) type DecodeFn = fn(u8, &[u8], &mut Readings) -> Result<(), DecodeError>;

/// A device model.
#[derive(Clone, Serialize)]
pub struct ModelInfo {
    /// Stable id used in the device registry, e.g. `milesight-am307`.
    pub id: &'static str,
    pub vendor: &'static str,
    /// The vendor's model name, e.g. `AM307`.
    pub model: &'static str,
    pub category: Category,
    /// LoRaWAN device class the model runs in (`A` or `C`).
    pub lorawan_class: &'static str,
    /// FPort the model sends its measurements on (used by the simulator and docs).
    pub uplink_port: u8,
    #[serde(skip)]
    pub(crate) decoder: DecodeFn,
}

impl std::fmt::Debug for ModelInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelInfo").field("id", &self.id).finish_non_exhaustive()
    }
}

const fn m(
    id: &'static str,
    vendor: &'static str,
    model: &'static str,
    category: Category,
    uplink_port: u8,
    decoder: DecodeFn,
) -> ModelInfo {
    ModelInfo { id, vendor, model, category, lorawan_class: "A", uplink_port, decoder }
}

use Category::*;

/// Every model this crate knows, one line each, sorted by id (lookups binary-search it).
#[rustfmt::skip]
pub static MODELS: &[ModelInfo] = &[
    m("adeunis-breath", "Adeunis", "Breath", AirQuality, 1, models::adeunis_breath::decode),
    m("adeunis-comfort-co2", "Adeunis", "Comfort CO2", AirQuality, 1, models::adeunis_comfort::decode),
    m("adeunis-comfort-serenity", "Adeunis", "Comfort Serenity", AirQuality, 1, models::adeunis_comfort::decode),
    m("adeunis-pulse", "Adeunis", "Pulse", Energy, 1, models::adeunis_pulse::decode),
    m("adeunis-tic-cbe-linky-mono", "Adeunis", "TIC CBE/Linky mono", Energy, 1, models::adeunis_tic::decode_linky_mono),
    m("adeunis-tic-cbe-linky-tri", "Adeunis", "TIC CBE/Linky tri", Energy, 1, models::adeunis_tic::decode_linky_tri),
    m("adeunis-tic-pme-pmi", "Adeunis", "TIC PME-PMI", Energy, 1, models::adeunis_tic::decode_pme_pmi),
    m("bosch-tps110", "Bosch", "TPS110 parking lot sensor", Parking, 1, models::bosch::decode_tps110),
    m("decentlab-dl-gmm", "Decentlab", "DL-GMM", AirQuality, 1, models::decentlab::decode_gmm),
    m("decentlab-dl-iam", "Decentlab", "DL-IAM", AirQuality, 1, models::decentlab::decode_iam),
    m("decentlab-dl-lp8p", "Decentlab", "DL-LP8P", AirQuality, 1, models::decentlab::decode_lp8p),
    m("decentlab-dl-pm", "Decentlab", "DL-PM", AirQuality, 1, models::decentlab::decode_pm),
    m("dingtek-do200", "Dingtek", "DO200", Parking, 3, models::dingtek::decode_do200),
    m("dingtek-do201", "Dingtek", "DO201", Parking, 3, models::dingtek::decode_do201),
    m("dingtek-do202", "Dingtek", "DO202", Parking, 3, models::dingtek::decode_do202),
    m("dingtek-dt320", "Dingtek", "DT320 gas-level sensor", AirQuality, 3, models::dingtek::decode_dt320),
    m("elsys-ems", "Elsys", "EMS", AirQuality, 5, models::elsys::decode),
    m("elsys-ems-lite", "Elsys", "EMS Lite", AirQuality, 5, models::elsys::decode),
    m("elsys-ers", "Elsys", "ERS", AirQuality, 5, models::elsys::decode),
    m("elsys-ers-co2", "Elsys", "ERS CO2", AirQuality, 5, models::elsys::decode),
    m("elsys-ers-co2-lite", "Elsys", "ERS CO2 Lite", AirQuality, 5, models::elsys::decode),
    m("elsys-ers-lite", "Elsys", "ERS Lite", AirQuality, 5, models::elsys::decode),
    m("elsys-ers-voc", "Elsys", "ERS VOC", AirQuality, 5, models::elsys::decode),
    m("elvaco-cmi4110", "Elvaco", "CMi4110", Energy, 2, models::elvaco::decode_cmi4110),
    m("elvaco-cmi4111", "Elvaco", "CMi4111", Energy, 2, models::elvaco::decode_cmi4111),
    m("elvaco-cmi4130", "Elvaco", "CMi4130", Energy, 2, models::elvaco::decode_cmi4130),
    m("elvaco-cmi4140", "Elvaco", "CMi4140", Energy, 2, models::elvaco::decode_cmi4140),
    m("elvaco-cmi4160", "Elvaco", "CMi4160", Energy, 2, models::elvaco::decode_cmi4160),
    m("milesight-am103", "Milesight", "AM103", AirQuality, 85, models::milesight_am100::decode),
    m("milesight-am103l", "Milesight", "AM103L", AirQuality, 85, models::milesight_am100::decode),
    m("milesight-am104", "Milesight", "AM104", AirQuality, 85, models::milesight_am100::decode),
    m("milesight-am107", "Milesight", "AM107", AirQuality, 85, models::milesight_am100::decode),
    m("milesight-am307", "Milesight", "AM307", AirQuality, 85, models::milesight_am300::decode_tvoc_raw),
    m("milesight-am307l", "Milesight", "AM307L", AirQuality, 85, models::milesight_am300::decode_tvoc_raw),
    m("milesight-am308", "Milesight", "AM308", AirQuality, 85, models::milesight_am300::decode_tvoc_iaq),
    m("milesight-am308l", "Milesight", "AM308L", AirQuality, 85, models::milesight_am300::decode_tvoc_iaq),
    m("milesight-am319", "Milesight", "AM319", AirQuality, 85, models::milesight_am300::decode_tvoc_raw),
    m("milesight-am319l", "Milesight", "AM319L", AirQuality, 85, models::milesight_am300::decode_tvoc_raw),
    m("milesight-ct101", "Milesight", "CT101", Energy, 85, models::milesight_ct10x::decode),
    m("milesight-ct103", "Milesight", "CT103", Energy, 85, models::milesight_ct10x::decode),
    m("milesight-ct105", "Milesight", "CT105", Energy, 85, models::milesight_ct10x::decode),
    m("milesight-ct303", "Milesight", "CT303", Energy, 85, models::milesight_ct30x::decode),
    m("milesight-ct305", "Milesight", "CT305", Energy, 85, models::milesight_ct30x::decode),
    m("milesight-ct310", "Milesight", "CT310", Energy, 85, models::milesight_ct30x::decode),
    m("milesight-em300-di", "Milesight", "EM300-DI", Energy, 85, models::milesight_em300::decode),
    m("milesight-gs301", "Milesight", "GS301", AirQuality, 85, models::milesight_gs301::decode),
    m("milesight-ws52x", "Milesight", "WS52x", Energy, 85, models::milesight_ws::decode),
    m("milesight-ws558", "Milesight", "WS558", Energy, 85, models::milesight_ws::decode),
    m("netvox-r718n1", "Netvox", "R718N1", Energy, 6, models::netvox::decode_r718n1),
    m("netvox-ra0715", "Netvox", "RA0715", AirQuality, 6, models::netvox::decode_ra07),
    m("netvox-ra0715y", "Netvox", "RA0715Y", AirQuality, 6, models::netvox::decode_ra07),
    m("nwave-ncc405", "Nwave", "NCC405 car counter", Parking, 1, models::nwave::decode_ncc405),
    m("nwave-nps310sm", "Nwave", "NPS310SM", Parking, 1, models::nwave::decode_nps310sm),
    m("nwave-nps405", "Nwave", "NPS405 (FM/SM)", Parking, 1, models::nwave::decode_nps405),
    m("tekzitel-tekzipark", "Tekzitel", "TekziPark", Parking, 1, models::tekzitel::decode),
];

/// Looks a model up by id.
pub fn get(id: &str) -> Option<&'static ModelInfo> {
    MODELS.binary_search_by(|m| m.id.cmp(id)).ok().map(|i| &MODELS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_are_sorted_and_unique_so_lookup_works() {
        for w in MODELS.windows(2) {
            assert!(w[0].id < w[1].id, "{} must sort before {}", w[0].id, w[1].id);
        }
        for m in MODELS {
            assert_eq!(get(m.id).map(|x| x.id), Some(m.id));
        }
        assert!(get("nope").is_none());
    }

    #[test]
    fn every_category_has_a_model() {
        for c in [AirQuality, Energy, Parking] {
            assert!(MODELS.iter().any(|m| m.category == c), "{c:?}");
        }
    }
}
