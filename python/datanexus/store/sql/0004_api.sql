-- The HTTP API's tables (issue 7): tenants, teams, API keys and the audit log.
-- Unqualified names: the runner sets search_path to the target schema. Every table carries
-- tenant_id, and every query of the API filters on the tenant of the credential (API-9).

-- A tenant is active, suspended (read-only: writes answer 403 TENANT_SUSPENDED) or
-- deleting (refused like suspended; purged once delete_after has passed, API-11).
CREATE TABLE tenants (
    tenant_id             text COLLATE "C" PRIMARY KEY
                          CHECK (tenant_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name                  text        NOT NULL,
    status                text        NOT NULL DEFAULT 'active'
                          CHECK (status IN ('active', 'suspended', 'deleting')),
    created_at            timestamptz NOT NULL DEFAULT now(),
    suspended_at          timestamptz,
    delete_after          timestamptz,
    quota_events_per_s    integer     CHECK (quota_events_per_s > 0),
    quota_bytes           bigint      CHECK (quota_bytes > 0),
    quota_queries_per_min integer     CHECK (quota_queries_per_min > 0)
);

CREATE TABLE teams (
    tenant_id   text COLLATE "C" NOT NULL REFERENCES tenants ON DELETE CASCADE,
    team_id     text COLLATE "C" NOT NULL CHECK (team_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, team_id)
);

-- The secret itself is never stored: key_hash is SHA-256 of the whole key text, looked up
-- by equality (the key carries 256 random bits, so a fast hash is enough). display_prefix
-- ("dnx_" + 8 hex) lets users tell their keys apart. Rotation sets rotated_to on the old
-- key and shortens its expiry to the grace period; revocation sets revoked_at.
CREATE TABLE api_keys (
    key_id          text COLLATE "C" PRIMARY KEY,
    tenant_id       text COLLATE "C" NOT NULL REFERENCES tenants ON DELETE CASCADE,
    team_id         text COLLATE "C",
    name            text        NOT NULL DEFAULT '',
    key_hash        bytea       NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    display_prefix  text        NOT NULL,
    scopes          text[]      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    expires_at      timestamptz,
    revoked_at      timestamptz,
    rotated_to      text COLLATE "C",
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, team_id)
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

-- Who did what to which target, per tenant (the tenant acted upon). Cross-tenant actions
-- (a platform operator suspending a tenant) name the actor's tenant too (API-8, API-11).
CREATE TABLE audit_log (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     text COLLATE "C" NOT NULL,
    actor_tenant  text COLLATE "C" NOT NULL,
    actor_key     text COLLATE "C",
    action        text        NOT NULL,
    target        text        NOT NULL,
    details       jsonb       NOT NULL DEFAULT '{}',
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at, id);
