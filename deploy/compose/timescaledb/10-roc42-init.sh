#!/usr/bin/env bash
# First start of the timescaledb service (empty data volume) only: the image runs the
# scripts of /docker-entrypoint-initdb.d in name order, after its own (which create the
# timescaledb extension in template1, so every database made from it has it).
#
#   roc42       LOGIN CREATEROLE, owner of database roc42. CREATEROLE: its migrations
#               create the NOLOGIN roles roc42_analyst and roc42_dashboard, and
#               `roc42 grafana grant` creates the data sources' login roles. Not a superuser.
#   chirpstack  LOGIN, owner of database chirpstack, which has the pg_trgm and hstore
#               extensions ChirpStack v4 needs (made here as superuser).
#
# Passwords come from the service's environment (ROC42_DB_PASSWORD, CHIRPSTACK_DB_PASSWORD);
# psql quotes them (:'var'). To change one later: ALTER ROLE ... PASSWORD ..., and .env.
set -euo pipefail

: "${ROC42_DB_PASSWORD:?ROC42_DB_PASSWORD is not set}"
: "${CHIRPSTACK_DB_PASSWORD:?CHIRPSTACK_DB_PASSWORD is not set}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v roc42_password="$ROC42_DB_PASSWORD" \
    -v chirpstack_password="$CHIRPSTACK_DB_PASSWORD" <<'SQL'
CREATE ROLE roc42 LOGIN CREATEROLE PASSWORD :'roc42_password';
CREATE DATABASE roc42 OWNER roc42;

CREATE ROLE chirpstack LOGIN PASSWORD :'chirpstack_password';
-- From template0: ChirpStack has no use for the timescaledb extension of template1.
CREATE DATABASE chirpstack OWNER chirpstack TEMPLATE template0;

\connect chirpstack
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS hstore;
SQL
