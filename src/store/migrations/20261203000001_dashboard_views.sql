-- What Grafana reads: views in schema `dashboard` that show a database role only the
-- communes it was granted (`dashboard_role`). Grafana's SQL data sources do not isolate
-- anything themselves (an editor can type any SQL), so the isolation lives here:
--   * each Grafana organisation (one per commune) has a data source logging in as a role
--     of its own, member of `roc42_dashboard`, which may read the views of `dashboard`
--     and nothing else;
--   * every view keeps the rows of the communes `dashboard_role` grants to the querying
--     role (`current_user`: a view runs with its owner's rights on the tables, but
--     `current_user` stays the caller), and is a security barrier, so a function a user
--     writes into a WHERE clause never sees a row the filter removed.
-- `roc42 grafana grant` creates such roles (src/store/dashboard.rs).

-- Which communes a role (or the members of a group role) may see in dashboards.
CREATE TABLE dashboard_role (
    role_name    text PRIMARY KEY,
    communes     text[] NOT NULL DEFAULT '{}',
    -- Operators' dashboards: every commune, and the uplinks of unknown devices.
    all_communes boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (all_communes OR cardinality(communes) > 0)
);

-- The grants that apply to the current user. A role dropped since it was granted is
-- skipped (pg_has_role would fail on its name).
CREATE VIEW dashboard_grant AS
SELECT r.communes, r.all_communes
FROM dashboard_role r
JOIN pg_roles p ON p.rolname = r.role_name
WHERE pg_has_role(current_user, p.oid, 'USAGE');

-- The communes the current user may see.
CREATE VIEW dashboard_visible AS
SELECT c.insee
FROM commune c
WHERE EXISTS (SELECT 1 FROM dashboard_grant g WHERE g.all_communes OR c.insee = ANY (g.communes));

CREATE SCHEMA dashboard;

CREATE VIEW dashboard.commune WITH (security_barrier) AS
SELECT c.insee, c.name, c.latitude, c.longitude, c.time_zone
FROM commune c
WHERE c.insee IN (SELECT insee FROM dashboard_visible);

-- The catalogue is public: every commune sees the services offered.
CREATE VIEW dashboard.service AS SELECT id, name, description, category, metrics FROM service;
CREATE VIEW dashboard.metric AS SELECT name, unit, kind, description FROM metric;

CREATE VIEW dashboard.subscription WITH (security_barrier) AS
SELECT s.commune, s.service, s.since
FROM subscription s
WHERE s.commune IN (SELECT insee FROM dashboard_visible);

CREATE VIEW dashboard.site WITH (security_barrier) AS
SELECT s.id AS site_id, s.commune, s.name, s.address, s.latitude, s.longitude, s.floor_area_m2
FROM site s
WHERE s.commune IN (SELECT insee FROM dashboard_visible);

CREATE VIEW dashboard.device WITH (security_barrier) AS
SELECT d.id AS device_id, d.dev_eui, d.name, d.model, d.commune, d.site_id, s.name AS site_name,
       d.service_id AS service, coalesce(d.latitude, s.latitude) AS latitude,
       coalesce(d.longitude, s.longitude) AS longitude, d.last_seen_at, d.retired_at
FROM device d
LEFT JOIN site s ON s.id = d.site_id
WHERE d.commune IN (SELECT insee FROM dashboard_visible);

-- Raw readings: short ranges. Filter on `time` first (chunk exclusion).
CREATE VIEW dashboard.reading WITH (security_barrier) AS
SELECT r.time, r.device_id, d.dev_eui, d.name AS device_name, d.model, d.commune, d.site_id,
       s.name AS site_name, d.service_id AS service, r.metric, r.value
FROM reading r
JOIN device d ON d.id = r.device_id
LEFT JOIN site s ON s.id = d.site_id
WHERE d.commune IN (SELECT insee FROM dashboard_visible);

-- Hourly (UTC) and daily (local) rollups of each device: long ranges.
CREATE VIEW dashboard.reading_hourly WITH (security_barrier) AS
SELECT h.bucket, h.device_id, d.dev_eui, d.name AS device_name, d.model, d.commune, d.site_id,
       s.name AS site_name, d.service_id AS service, h.metric, h.count, h.sum / h.count AS avg,
       h.min, h.max, h.last, h.increase
FROM rollup_hour h
JOIN device d ON d.id = h.device_id
LEFT JOIN site s ON s.id = d.site_id
WHERE d.commune IN (SELECT insee FROM dashboard_visible);

CREATE VIEW dashboard.reading_daily WITH (security_barrier) AS
SELECT h.bucket, h.device_id, d.dev_eui, d.name AS device_name, d.model, d.commune, d.site_id,
       s.name AS site_name, d.service_id AS service, h.metric, h.count, h.sum / h.count AS avg,
       h.min, h.max, h.last, h.increase
FROM rollup_day h
JOIN device d ON d.id = h.device_id
LEFT JOIN site s ON s.id = d.site_id
WHERE d.commune IN (SELECT insee FROM dashboard_visible);

-- A commune's devices under one service, added up per hour: a year is 8,760 rows.
CREATE VIEW dashboard.service_hourly WITH (security_barrier) AS
SELECT h.bucket, h.commune, h.service, h.metric, h.devices, h.count, h.sum / h.count AS avg, h.min, h.max
FROM rollup_service_hour h
WHERE h.commune IN (SELECT insee FROM dashboard_visible);

CREATE VIEW dashboard.alert WITH (security_barrier) AS
SELECT a.id, a.opened_at, a.resolved_at, r.name AS rule, r.kind, r.metric, a.device_id, d.dev_eui,
       d.name AS device_name, d.commune, d.site_id, s.name AS site_name, d.service_id AS service,
       a.open_value, a.message
FROM alert a
JOIN alert_rule r ON r.id = a.rule_id
JOIN device d ON d.id = a.device_id
LEFT JOIN site s ON s.id = d.site_id
WHERE d.commune IN (SELECT insee FROM dashboard_visible);

-- Uplinks with the radio of their best gateway. Uplinks of unknown devices (no commune)
-- only for roles granted every commune.
CREATE VIEW dashboard.uplink WITH (security_barrier) AS
SELECT u.time, u.dev_eui, u.device_id, d.name AS device_name, d.model, d.commune, d.site_id,
       u.lns, u.f_cnt, u.f_port, u.outcome, u.error, u.readings,
       best.rssi, best.snr, best.gateways
FROM uplink u
LEFT JOIN device d ON d.id = u.device_id
CROSS JOIN LATERAL (
    SELECT max((g ->> 'rssi')::float8) AS rssi, max((g ->> 'snr')::float8) AS snr, count(*)::int AS gateways
    FROM jsonb_array_elements(CASE jsonb_typeof(u.rx) WHEN 'array' THEN u.rx ELSE '[]' END) g
) best
WHERE d.commune IN (SELECT insee FROM dashboard_visible)
   OR (d.commune IS NULL AND EXISTS (SELECT 1 FROM dashboard_grant g WHERE g.all_communes));

-- Roles belong to the cluster: another database may have made it.
DO $$
BEGIN
    CREATE ROLE roc42_dashboard NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
GRANT USAGE ON SCHEMA dashboard TO roc42_dashboard;
GRANT SELECT ON ALL TABLES IN SCHEMA dashboard TO roc42_dashboard;
