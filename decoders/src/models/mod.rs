//! One file per vendor decoder family; `crate::model::MODELS` maps model ids to them.

pub(crate) mod adeunis;
pub(crate) mod adeunis_breath;
pub(crate) mod adeunis_comfort;
pub(crate) mod adeunis_pulse;
pub(crate) mod adeunis_tic;
pub(crate) mod bosch;
pub(crate) mod decentlab;
pub(crate) mod dingtek;
pub(crate) mod elsys;
pub(crate) mod elvaco;
pub(crate) mod mbus;
pub(crate) mod milesight;
pub(crate) mod milesight_am100;
pub(crate) mod milesight_am300;
pub(crate) mod milesight_ct10x;
pub(crate) mod milesight_ct30x;
pub(crate) mod milesight_em300;
pub(crate) mod milesight_gs301;
pub(crate) mod milesight_ws;
pub(crate) mod netvox;
pub(crate) mod nwave;
pub(crate) mod tekzitel;
pub(crate) mod watteco;
pub(crate) mod watteco_flasho;
pub(crate) mod watteco_intenso;
pub(crate) mod watteco_pulse_senso;
pub(crate) mod watteco_smartplug;
pub(crate) mod watteco_ticso;
pub(crate) mod watteco_triphaso;
pub(crate) mod watteco_vaqao_lite;

use crate::model::{DecodeFn, NativeDecoder};

/// Every native decoder, by the name manifests give it (`[decoder] native = "..."`),
/// sorted by name.
#[rustfmt::skip]
static NATIVE: &[(&str, DecodeFn)] = &[
    ("adeunis-breath", adeunis_breath::decode),
    ("adeunis-comfort", adeunis_comfort::decode),
    ("adeunis-pulse", adeunis_pulse::decode),
    ("adeunis-tic-linky-mono", adeunis_tic::decode_linky_mono),
    ("adeunis-tic-linky-tri", adeunis_tic::decode_linky_tri),
    ("adeunis-tic-pme-pmi", adeunis_tic::decode_pme_pmi),
    ("bosch-tps110", bosch::decode_tps110),
    ("decentlab-gmm", decentlab::decode_gmm),
    ("decentlab-iam", decentlab::decode_iam),
    ("decentlab-lp8p", decentlab::decode_lp8p),
    ("decentlab-pm", decentlab::decode_pm),
    ("dingtek-do200", dingtek::decode_do200),
    ("dingtek-do201", dingtek::decode_do201),
    ("dingtek-do202", dingtek::decode_do202),
    ("dingtek-dt320", dingtek::decode_dt320),
    ("elsys", elsys::decode),
    ("elvaco-cmi4110", elvaco::decode_cmi4110),
    ("elvaco-cmi4111", elvaco::decode_cmi4111),
    ("elvaco-cmi4130", elvaco::decode_cmi4130),
    ("elvaco-cmi4140", elvaco::decode_cmi4140),
    ("elvaco-cmi4160", elvaco::decode_cmi4160),
    ("milesight-am100", milesight_am100::decode),
    ("milesight-am300-tvoc-iaq", milesight_am300::decode_tvoc_iaq),
    ("milesight-am300-tvoc-raw", milesight_am300::decode_tvoc_raw),
    ("milesight-ct10x", milesight_ct10x::decode),
    ("milesight-ct30x", milesight_ct30x::decode),
    ("milesight-em300", milesight_em300::decode),
    ("milesight-gs301", milesight_gs301::decode),
    ("milesight-ws", milesight_ws::decode),
    ("netvox-r718n1", netvox::decode_r718n1),
    ("netvox-ra07", netvox::decode_ra07),
    ("nwave-ncc405", nwave::decode_ncc405),
    ("nwave-nps310sm", nwave::decode_nps310sm),
    ("nwave-nps405", nwave::decode_nps405),
    ("tekzitel", tekzitel::decode),
    ("watteco-flasho", watteco_flasho::decode),
    ("watteco-intenso", watteco_intenso::decode),
    ("watteco-pulse-senso", watteco_pulse_senso::decode),
    ("watteco-smartplug", watteco_smartplug::decode),
    ("watteco-ticso", watteco_ticso::decode),
    ("watteco-triphaso", watteco_triphaso::decode),
    ("watteco-vaqao-lite", watteco_vaqao_lite::decode),
];

/// The native decoder of this name.
pub(crate) fn native(name: &str) -> Option<NativeDecoder> {
    NATIVE
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .and_then(|i| NATIVE.get(i))
        .map(|(name, f)| NativeDecoder { name, f: *f })
}

/// The names of every native decoder.
#[cfg(test)]
pub(crate) fn native_names() -> impl Iterator<Item = &'static str> {
    NATIVE.iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn native_table_is_sorted_so_lookup_works() {
        for w in super::NATIVE.windows(2) {
            assert!(w[0].0 < w[1].0, "{} must sort before {}", w[0].0, w[1].0);
        }
        for name in super::native_names() {
            assert_eq!(super::native(name).map(|d| d.name), Some(name));
        }
    }
}
