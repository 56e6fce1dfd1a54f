-- The schema registry (issue 6, PIPE-2/3): per tenant, a subject (one per stream) holds
-- numbered versions of a JSON Schema. Never edit this file once released.
-- Unqualified names: the runner sets search_path to the target schema. This file
-- depends on nothing but itself.

-- A subject and its settings. `next_version` only grows, so a number freed by a
-- permanent delete is never handed out again; the registry locks this row (FOR UPDATE)
-- while registering, which makes concurrent registrations take consecutive versions.
CREATE TABLE schema_subjects (
    tenant_id      text COLLATE "C" NOT NULL CHECK (tenant_id <> ''),
    subject        text COLLATE "C" NOT NULL CHECK (subject <> ''),
    compatibility  text NOT NULL DEFAULT 'BACKWARD' CHECK (compatibility IN (
                       'NONE', 'BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD',
                       'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE')),
    next_version   integer NOT NULL DEFAULT 1 CHECK (next_version BETWEEN 1 AND 101),
    deleted        boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, subject)
);

-- One row per registered version. `canonical` is the normalised JSON text and
-- `fingerprint` its SHA-256, so registering the same schema again finds its version.
-- A soft-deleted version is hidden from "latest" and listings but still decodes.
CREATE TABLE schema_versions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    text COLLATE "C" NOT NULL,
    subject      text COLLATE "C" NOT NULL,
    version      integer NOT NULL CHECK (version BETWEEN 1 AND 100),
    schema       jsonb NOT NULL,
    canonical    text NOT NULL,
    fingerprint  text COLLATE "C" NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    deleted      boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, subject, version),
    UNIQUE (tenant_id, subject, fingerprint),
    FOREIGN KEY (tenant_id, subject) REFERENCES schema_subjects (tenant_id, subject)
        ON DELETE CASCADE
);

-- Row-level security as a backstop behind the registry's explicit tenant filters
-- (STORE-15), the same policy as the store's tables: a session that set
-- `datanexus.tenant` sees and writes only that tenant's rows; unset or empty, all rows.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['schema_subjects', 'schema_versions'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_scope ON %I USING ('
            'coalesce(current_setting(''datanexus.tenant'', true), '''') = '''''
            ' OR tenant_id = current_setting(''datanexus.tenant'', true))', t);
    END LOOP;
END $$;
