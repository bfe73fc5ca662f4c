-- What the rollup refresh costs under load (`roc42 bench`, live, 100,000 uplinks from
-- 1,000 devices): sampling pg_stat_activity showed the refresh busy about twice as long
-- as the batch writer itself, the service rollups first among its statements.
--
-- 1. Service hours are recomputed from every device of the (commune, service), so one
--    changed device recomputed the sum over all of them, at every refresh. Their keys
--    are now queued here, in the transaction that refreshed the devices' hours, and
--    recomputed at a slower cadence (`analytics.service_rollup_interval_ms`), each key
--    once however many times it was queued. Queued with the hours they depend on, a key
--    is never claimed before those hours are visible.
CREATE TABLE rollup_service_pending (
    commune text        NOT NULL,
    service text        NOT NULL,
    hour    timestamptz NOT NULL
);
CREATE INDEX rollup_service_pending_key_idx ON rollup_service_pending (commune, service, hour);

-- Keys of the service hours the last refresh would have recomputed at once.
INSERT INTO rollup_service_pending (commune, service, hour)
SELECT DISTINCT d.commune, d.service_id, p.hour
FROM rollup_pending p JOIN device d ON d.id = p.device_id
WHERE d.commune IS NOT NULL AND d.service_id IS NOT NULL;

-- 2. The batch writer sets `last_seen_at` of its devices in every transaction. With full
--    pages, 21,000 such updates were 792 heap-only (HOT) updates and 20,208 new index
--    entries in each of the five indexes: the table grew 20 times over and every join on
--    it (service rollups, fleet health) read the dead versions. Free space on each page
--    lets an update stay on its page, with no index entry, and be pruned there.
ALTER TABLE device SET (fillfactor = 50);
-- Rewritten now (the table is small), so existing pages get that room too.
CLUSTER device USING device_pkey;
