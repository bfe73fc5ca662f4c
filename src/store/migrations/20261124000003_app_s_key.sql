-- AppSKeys held by roc42 for devices whose network server forwards the FRMPayload still
-- encrypted: sealed with AES-256-GCM under the master key of the configuration (never
-- stored here), bound to the device's DevEUI.
ALTER TABLE device ADD COLUMN app_s_key_sealed bytea;
