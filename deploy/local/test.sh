#!/usr/bin/env bash
# The test command of the README: makes sure the services run, then runs every test of
# the workspace (decoders, unit tests, integration tests against the real PostgreSQL +
# TimescaleDB and Mosquitto).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/services.sh
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export ROC42_MQTT_URL=${ROC42_MQTT_URL:-mqtt://127.0.0.1:1883}
cargo test --workspace --locked "$@"
