-- Device models added by operators at run time (`roc42 models add`, PUT /api/v1/models/{id}):
-- the manifest as JSON and the JS codec's source. Built-in models live in the binary.
CREATE TABLE device_model (
    id text PRIMARY KEY,
    manifest jsonb NOT NULL,
    codec text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The decode stage reloads models changed since it last looked.
CREATE INDEX device_model_updated_at ON device_model (updated_at);
