-- Analytics: rollups roc42 maintains itself (the Apache edition of TimescaleDB has no
-- continuous aggregates), what indicators need to know about sites, alert rules and
-- their history, experiments, the metric catalogue in SQL, and read-only views for
-- analysts.

-- Aggregates of one metric of one device over one bucket: UTC hours and local days (the
-- commune's time zone). `increase` sums the steps between consecutive readings of the
-- bucket, a decrease counting as a counter reset (the new value is the increase, as in
-- Prometheus): the consumption of a meter index. Steps across buckets are added at query
-- time from `first` and the previous bucket's `last`.
CREATE TABLE rollup_hour (
    device_id  bigint NOT NULL,
    metric     text NOT NULL,
    bucket     timestamptz NOT NULL,
    count      integer NOT NULL,
    sum        double precision NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    first      double precision NOT NULL,
    last       double precision NOT NULL,
    last_time  timestamptz NOT NULL,
    increase   double precision NOT NULL,
    PRIMARY KEY (device_id, metric, bucket)
);
SELECT create_hypertable('rollup_hour', by_range('bucket', INTERVAL '90 days'), create_default_indexes => false);

CREATE TABLE rollup_day (LIKE rollup_hour INCLUDING ALL);
SELECT create_hypertable('rollup_day', by_range('bucket', INTERVAL '1 year'), create_default_indexes => false);

-- The hourly rollups of a commune's devices under one service, added up: the series a
-- commune's dashboard draws for a year (8,760 rows, whatever the number of devices).
-- Recomputed from rollup_hour for the (commune, service, hour) a refresh touched, with the
-- devices placed there at that moment.
CREATE TABLE rollup_service_hour (
    commune text NOT NULL,
    service text NOT NULL,
    metric  text NOT NULL,
    bucket  timestamptz NOT NULL,
    devices integer NOT NULL,
    count   bigint NOT NULL,
    sum     double precision NOT NULL,
    min     double precision NOT NULL,
    max     double precision NOT NULL,
    PRIMARY KEY (commune, service, metric, bucket)
);
SELECT create_hypertable('rollup_service_hour', by_range('bucket', INTERVAL '1 year'), create_default_indexes => false);

-- (device, UTC hour) whose readings changed since their rollups were computed: written
-- in the transaction that changes the readings, consumed by store::rollup::refresh.
CREATE TABLE rollup_pending (
    device_id bigint NOT NULL,
    hour      timestamptz NOT NULL,
    PRIMARY KEY (device_id, hour)
);

-- The canonical metrics, copied from the binary's catalogue at every migration
-- (store::domain::sync_metrics), so SQL users see units.
CREATE TABLE metric (
    name        text PRIMARY KEY,
    unit        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('gauge', 'counter', 'state')),
    description text NOT NULL
);

-- What indicators need to know about a site: when it is occupied (null: school hours,
-- see analytics::indicators::Occupancy), its floor area and OPERAT identifier (French
-- tertiary-sector declaration), and the reference year energy is compared with.
ALTER TABLE site
    ADD COLUMN occupancy     jsonb,
    ADD COLUMN floor_area_m2 double precision CHECK (floor_area_m2 > 0),
    ADD COLUMN operat_id     text,
    ADD COLUMN baseline_year integer CHECK (baseline_year BETWEEN 2010 AND 2100);

-- Alert rules, for every device of a service or for one device.
--   threshold: `metric` above (or below) `threshold` for at least `min_duration`; the
--              alert resolves once it is back below (above) `clear_threshold` for as long;
--   battery:   a threshold rule on battery.level, below;
--   silence:   no uplink for longer than `silence_factor` times the device's usual interval.
CREATE TABLE alert_rule (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (name <> ''),
    kind            text NOT NULL CHECK (kind IN ('threshold', 'battery', 'silence')),
    service_id      text REFERENCES service (id),
    device_id       bigint REFERENCES device (id),
    metric          text,
    direction       text NOT NULL DEFAULT 'above' CHECK (direction IN ('above', 'below')),
    threshold       double precision,
    clear_threshold double precision,
    min_duration_s  integer NOT NULL DEFAULT 0 CHECK (min_duration_s >= 0),
    silence_factor  double precision CHECK (silence_factor > 1),
    webhook_url     text,
    webhook_secret  text,
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(service_id, device_id) = 1),
    CHECK (kind = 'silence' OR (metric IS NOT NULL AND threshold IS NOT NULL AND clear_threshold IS NOT NULL)),
    CHECK (kind <> 'silence' OR silence_factor IS NOT NULL)
);

-- Where the evaluation of a rule for a device stands: readings up to `evaluated_to`
-- are taken into account; `pending_since` is when the condition (to open, or to resolve
-- an open alert) started to hold.
CREATE TABLE alert_state (
    rule_id       bigint NOT NULL REFERENCES alert_rule (id) ON DELETE CASCADE,
    device_id     bigint NOT NULL REFERENCES device (id),
    evaluated_to  timestamptz NOT NULL,
    pending_since timestamptz,
    PRIMARY KEY (rule_id, device_id)
);

-- Alert history: one row per alert, open until resolved_at.
CREATE TABLE alert (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id       bigint NOT NULL REFERENCES alert_rule (id) ON DELETE CASCADE,
    device_id     bigint NOT NULL REFERENCES device (id),
    opened_at     timestamptz NOT NULL,
    resolved_at   timestamptz,
    open_value    double precision,
    resolve_value double precision,
    message       text NOT NULL
);
CREATE UNIQUE INDEX alert_open_idx ON alert (rule_id, device_id) WHERE resolved_at IS NULL;
CREATE INDEX alert_device_idx ON alert (device_id, opened_at DESC);

-- Webhook deliveries of alert changes (an outbox: written with the change, sent after).
CREATE TABLE alert_notification (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id        bigint NOT NULL REFERENCES alert (id) ON DELETE CASCADE,
    url             text NOT NULL,
    secret          text,
    body            jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_notification_due_idx ON alert_notification (next_attempt_at) WHERE delivered_at IS NULL;

-- An experiment analysts follow: devices chosen by service and commune, or listed.
CREATE TABLE experiment (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (name <> ''),
    theme       text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    services    text[] NOT NULL DEFAULT '{}',
    communes    text[] NOT NULL DEFAULT '{}',
    dev_euis    text[] NOT NULL DEFAULT '{}',
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);

-- Read-only access for analysts (pandas, R, DuckDB): views in schema `analytics`, and
-- the role `roc42_analyst`, which can read them and nothing else. Give a person a login
-- with `CREATE ROLE alice LOGIN PASSWORD '...' IN ROLE roc42_analyst` (README).
CREATE SCHEMA analytics;

CREATE VIEW analytics.device AS
SELECT d.id AS device_id, d.dev_eui, d.name, d.model, d.commune, c.name AS commune_name,
       d.site_id, s.name AS site_name, d.service_id AS service,
       coalesce(d.latitude, s.latitude) AS latitude, coalesce(d.longitude, s.longitude) AS longitude,
       d.created_at, d.retired_at, d.last_seen_at
FROM device d
LEFT JOIN commune c ON c.insee = d.commune
LEFT JOIN site s ON s.id = d.site_id;

CREATE VIEW analytics.site AS
SELECT s.id AS site_id, s.name, s.commune, c.name AS commune_name, s.address, s.latitude, s.longitude,
       s.floor_area_m2, s.operat_id, s.baseline_year
FROM site s JOIN commune c ON c.insee = s.commune;

CREATE VIEW analytics.reading AS
SELECT r.time, d.dev_eui, d.name AS device_name, d.model, d.commune, d.commune_name, d.site_id,
       d.site_name, d.service, r.metric, m.unit, r.value
FROM reading r
JOIN analytics.device d ON d.device_id = r.device_id
LEFT JOIN metric m ON m.name = r.metric;

CREATE VIEW analytics.reading_hourly AS
SELECT h.bucket, d.dev_eui, d.name AS device_name, d.model, d.commune, d.commune_name, d.site_id,
       d.site_name, d.service, h.metric, m.unit, h.count, h.sum / h.count AS avg, h.min, h.max, h.last,
       h.increase
FROM rollup_hour h
JOIN analytics.device d ON d.device_id = h.device_id
LEFT JOIN metric m ON m.name = h.metric;

CREATE VIEW analytics.reading_daily AS
SELECT h.bucket, d.dev_eui, d.name AS device_name, d.model, d.commune, d.commune_name, d.site_id,
       d.site_name, d.service, h.metric, m.unit, h.count, h.sum / h.count AS avg, h.min, h.max, h.last,
       h.increase
FROM rollup_day h
JOIN analytics.device d ON d.device_id = h.device_id
LEFT JOIN metric m ON m.name = h.metric;

CREATE VIEW analytics.metric AS SELECT name, unit, kind, description FROM metric;
CREATE VIEW analytics.service AS SELECT id, name, description, category FROM service;
CREATE VIEW analytics.experiment AS
SELECT id, name, theme, description, services, communes, dev_euis, starts_at, ends_at FROM experiment;

-- Roles belong to the cluster, not the database: another database may have made it.
DO $$
BEGIN
    CREATE ROLE roc42_analyst NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
GRANT USAGE ON SCHEMA analytics TO roc42_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO roc42_analyst;
