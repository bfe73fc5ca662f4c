-- Placement and onboarding: each commune's time zone (local-time days), whether an
-- uplink's FRMPayload arrived still encrypted (so a device claimed later with its AppSKey
-- can be decoded from the raw frame), and the lookup the unknown-device queue makes.

-- IANA time zone of the commune: daily buckets and indicators use its local days.
ALTER TABLE commune ADD COLUMN time_zone text NOT NULL DEFAULT 'Europe/Paris';

-- Set from the adapter's `Uplink::encrypted`. Older rows: only those kept as 'encrypted'
-- are known to be.
ALTER TABLE uplink ADD COLUMN encrypted boolean NOT NULL DEFAULT false;
UPDATE uplink SET encrypted = true WHERE outcome = 'encrypted';

-- The unknown-device queue groups the uplinks of unregistered DevEUIs.
CREATE INDEX uplink_unknown_idx ON uplink (dev_eui, time DESC) WHERE outcome = 'unknown_device';
