#!/usr/bin/env bash
# The demo command of the README: makes sure PostgreSQL + TimescaleDB run, builds roc42
# and runs `roc42 demo` (embedded MQTT broker, simulator, pipeline, API on
# 127.0.0.1:8080). Extra arguments go to `roc42 demo` (see `roc42 demo --help`).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/services.sh
exec cargo run --release --locked --quiet -- demo "$@"
