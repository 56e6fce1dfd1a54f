-- Saved queries (QUERY-15): a named query text of a tenant and the saved queries it
-- depends on (refreshed first; invalidating one marks its transitive dependants stale).
-- version rises by one on every save of the name.
CREATE TABLE saved_queries (
    tenant_id   text COLLATE "C" NOT NULL,
    name        text COLLATE "C" NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$'),
    text        text        NOT NULL CHECK (length(text) BETWEEN 1 AND 100000),
    depends_on  text[]      NOT NULL DEFAULT '{}',
    version     integer     NOT NULL DEFAULT 1 CHECK (version >= 1),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

-- The same row-level security backstop as the store's tables.
ALTER TABLE saved_queries ENABLE ROW LEVEL SECURITY;
ALTER TABLE saved_queries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON saved_queries USING (
    coalesce(current_setting('datanexus.tenant', true), '') = ''
    OR tenant_id = current_setting('datanexus.tenant', true));
