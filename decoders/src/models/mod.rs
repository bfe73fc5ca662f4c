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
