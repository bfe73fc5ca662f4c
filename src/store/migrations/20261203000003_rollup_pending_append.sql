-- Marks are appended, no longer unique. The batch writer marks the (device, hour) of its
-- readings in every transaction; with a unique key its INSERT ... ON CONFLICT DO NOTHING
-- waited, whenever a refresh had claimed the same marks (FOR UPDATE), for the whole
-- recomputation to commit. Measured with `roc42 bench` (live, 50,000 uplinks): end to
-- end 7.5k uplinks/s and p99 publish-to-queryable 1.0 s at 1,000/s with the refresh
-- running, against 12.6k/s and 0.42 s with it held off. A plain INSERT never waits for
-- another transaction's row locks; the refresh claims duplicates together and
-- recomputes each (device, hour) once.
ALTER TABLE rollup_pending DROP CONSTRAINT rollup_pending_pkey;
CREATE INDEX rollup_pending_key_idx ON rollup_pending (device_id, hour);
