-- API bearer tokens: who may call the API, and as what. Only a SHA-256 of the token is
-- kept (the token is 32 random bytes, so a plain hash is enough: there is nothing to
-- brute-force); the token itself is shown once, by `roc42 tokens create`.
CREATE TABLE api_token (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    label        text NOT NULL DEFAULT '',
    role         text NOT NULL CHECK (role IN ('operator', 'analyst', 'commune')),
    -- INSEE code of the commune, for (and only for) commune tokens. No foreign key to
    -- `commune`: tokens may be created before the commune is loaded.
    commune      text CHECK (commune ~ '^[0-9][0-9AB][0-9]{3}$'),
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CHECK ((role = 'commune') = (commune IS NOT NULL))
);
