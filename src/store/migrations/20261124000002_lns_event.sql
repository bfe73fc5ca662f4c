-- Network-server events other than uplinks (join, status, log, ack, txack, location),
-- kept for operators: codec and MIC errors, joins, acknowledgements, device status.
-- Status events also give device-status readings (battery.level, radio.margin).
CREATE TABLE lns_event (
    id          bigserial PRIMARY KEY,
    time        timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    dedup_key   text NOT NULL UNIQUE,
    lns         text NOT NULL,
    kind        text NOT NULL,
    dev_eui     text NOT NULL,
    device_id   bigint,
    level       text,
    code        text,
    description text,
    body        jsonb NOT NULL
);

CREATE INDEX lns_event_dev_eui_time ON lns_event (dev_eui, time DESC);
CREATE INDEX lns_event_kind_time ON lns_event (kind, time DESC);
