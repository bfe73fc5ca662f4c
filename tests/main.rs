//! Integration tests against the real PostgreSQL + TimescaleDB and Mosquitto
//! (`deploy/local/services.sh` sets them up). Each test gets a fresh database and its own
//! MQTT client ids and topic root, so they run in parallel.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adapters;
mod analytics;
mod api;
mod appskey;
mod auth;
mod chirpstack;
mod claim;
mod codecs;
mod communes;
mod dashboards;
mod demo;
mod deploy;
mod ingest;
mod onboarding;
mod operations;
mod operators;
mod pages;
mod reliability;
mod reprocess;
mod restart;
mod support;
mod tls;
