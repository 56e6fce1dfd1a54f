-- Roles and cookie sessions of the HTTP API (API-8).
-- A key's role limits the verbs its scopes can use: viewer reads only; editor also
-- writes data (streams, queries, pipelines); admin also manages keys, teams and tenants.
-- NULL: no role limit beyond the scopes (the keys made before roles existed).
ALTER TABLE api_keys ADD COLUMN role text CHECK (role IN ('viewer', 'editor', 'admin'));
-- A team's role caps the role of its keys (NULL: no cap).
ALTER TABLE teams ADD COLUMN role text CHECK (role IN ('viewer', 'editor', 'admin'));

-- A browser session opened with an API key (POST /v1/sessions): the cookie carries a
-- random id, stored here only as SHA-256; writes also need the CSRF token (stored as
-- SHA-256 too) in X-CSRF-Token. It dies with its key (revoked, expired) or at expires_at.
CREATE TABLE api_sessions (
    session_hash  bytea       PRIMARY KEY CHECK (length(session_hash) = 32),
    tenant_id     text COLLATE "C" NOT NULL REFERENCES tenants ON DELETE CASCADE,
    key_id        text COLLATE "C" NOT NULL REFERENCES api_keys ON DELETE CASCADE,
    csrf_hash     bytea       NOT NULL CHECK (length(csrf_hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX api_sessions_key ON api_sessions (key_id);
