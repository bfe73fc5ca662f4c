-- Sessions of the built-in pages: a person logs in once with an API token and gets a
-- cookie. The cookie holds a random secret; only its SHA-256 is stored. A session is the
-- token's: revoking the token ends its sessions.
CREATE TABLE web_session (
    secret_hash  bytea PRIMARY KEY,
    token_id     bigint NOT NULL REFERENCES api_token (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX web_session_expires_idx ON web_session (expires_at);
