-- roc42 foundation schema: device registry, raw uplinks, narrow readings, rejected messages.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE device (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dev_eui      text NOT NULL UNIQUE CHECK (dev_eui ~ '^[0-9a-f]{16}$'),
    name         text NOT NULL,
    model        text NOT NULL,
    -- INSEE code of the commune the device belongs to (2A/2B for Corsica).
    commune      text CHECK (commune ~ '^[0-9][0-9AB][0-9]{3}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- Network time of the last uplink committed (maintained by the batch writer).
    last_seen_at timestamptz
);
CREATE INDEX device_commune_idx ON device (commune);

-- Every uplink as received, decoded or not: readings can be recomputed from it.
-- No foreign key to device: ingest must not pay a lookup per row, and uplinks of
-- unknown devices are kept too.
CREATE TABLE uplink (
    time        timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    dedup_key   text NOT NULL,
    lns         text NOT NULL,
    device_id   bigint,
    dev_eui     text NOT NULL,
    dev_addr    text,
    f_cnt       bigint,
    f_port      smallint NOT NULL,
    payload     bytea NOT NULL,
    rx          jsonb NOT NULL DEFAULT '[]',
    tx          jsonb,
    lns_object  jsonb,
    outcome     text NOT NULL CHECK (outcome IN
                ('decoded', 'decode_failed', 'unknown_device', 'unknown_model', 'mac_only', 'encrypted')),
    error       text,
    readings    smallint NOT NULL DEFAULT 0,
    -- Redeliveries carry the same key and network time: this makes them no-ops.
    UNIQUE (dedup_key, time)
);
SELECT create_hypertable('uplink', by_range('time', INTERVAL '1 day'));
CREATE INDEX uplink_dev_eui_time_idx ON uplink (dev_eui, time DESC);
CREATE INDEX uplink_outcome_time_idx ON uplink (outcome, time DESC) WHERE outcome <> 'decoded';

-- Narrow time series: one row per (device, metric, time).
CREATE TABLE reading (
    time      timestamptz NOT NULL,
    device_id bigint NOT NULL,
    metric    text NOT NULL,
    value     double precision NOT NULL,
    UNIQUE (device_id, metric, time)
);
-- No default index on time alone: every query goes by device (the unique index leads
-- with device_id), chunk exclusion needs no index, and one index less is ~a third less
-- work per inserted row.
SELECT create_hypertable('reading', by_range('time', INTERVAL '7 days'), create_default_indexes => false);

-- Messages that could not be parsed (or that the database refused), raw, with the error.
-- A message seen again (redelivered) bumps times_seen instead of adding a row.
CREATE TABLE ingest_rejected (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source           text NOT NULL,
    topic            text NOT NULL,
    payload          bytea NOT NULL,
    payload_sha256   bytea NOT NULL,
    error            text NOT NULL,
    received_at      timestamptz NOT NULL,
    last_received_at timestamptz NOT NULL,
    times_seen       integer NOT NULL DEFAULT 1,
    UNIQUE (source, topic, payload_sha256)
);
CREATE INDEX ingest_rejected_received_idx ON ingest_rejected (last_received_at DESC);
