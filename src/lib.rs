//! roc42: LoRaWAN application backend. Uplinks flow from the network server's MQTT
//! broker through decoding into PostgreSQL/TimescaleDB, and out through an HTTP API.
//!
//! Layout (in data-flow order):
//! - [`config`]: the configuration tree (file + environment);
//! - [`telemetry`]: logs and Prometheus metrics;
//! - [`lorawan`]: LoRaWAN identifiers (`DevEui`, `AppSKey`) and FRMPayload crypto;
//! - [`custody`]: AppSKeys sealed at rest under the configured master key;
//! - [`ingest`]: the MQTT consumer and one adapter per network-server format -> `Uplink`;
//! - [`pipeline`]: decode stage and batch writer, joined by bounded channels;
//! - [`store`]: PostgreSQL/TimescaleDB access and migrations;
//! - [`analytics`]: rollups and retention upkeep, indicators, alerts, fleet health, experiments, exports;
//! - [`onboarding`]: operators' bulk import of devices from CSV (checked whole, applied atomically);
//! - [`api`]: the axum HTTP API and its OpenAPI document;
//! - [`web`]: the built-in pages (maps, sites, fleet health), server-rendered, on the API's access rules;
//! - [`app`]: wiring and ordered shutdown;
//! - [`simulate`]: realistic ChirpStack uplinks for demos, tests and the bench;
//! - [`demo`]: everything in one process, with an embedded broker;
//! - [`bench`]: the end-to-end benchmark and its ceilings.
//!
//! Device models and their decoders live in the `roc42-decoders` crate (`decoders/`).

pub mod analytics;
pub mod api;
pub mod app;
pub mod bench;
pub mod config;
pub mod custody;
pub mod demo;
pub mod ingest;
pub mod lorawan;
pub mod onboarding;
pub mod pipeline;
pub mod simulate;
pub mod store;
pub mod telemetry;
pub mod web;

/// Makes rustls's ring provider the process default (once; later calls do nothing).
/// HTTP clients (alert webhooks) take it from there: the build carries no other provider
/// (aws-lc-rs would be a C/cmake build).
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err: another provider is already the default, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
