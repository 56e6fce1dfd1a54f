-- STORE-15: the runtime role that tenant-scoped sessions (queries, the API) switch to
-- with SET LOCAL ROLE, so that row-level security applies even when the application
-- connects as a superuser or as the tables' owner: it can read and write rows, never
-- change the schema, and it neither owns the tables nor bypasses RLS. Roles are
-- cluster-wide: the first schema migrated creates it, later ones reuse it; a database
-- user not allowed to create roles skips this (tenant_scope then keeps the session's
-- own role and the explicit tenant filters remain the guard).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'datanexus_runtime') THEN
        CREATE ROLE datanexus_runtime NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;  -- created concurrently
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'datanexus_runtime not created: % (RLS backstop off)', SQLERRM;
END $$;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'datanexus_runtime') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO datanexus_runtime', current_schema());
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I'
                       ' TO datanexus_runtime', current_schema());
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I'
                       ' TO datanexus_runtime', current_schema());
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE,'
                       ' DELETE ON TABLES TO datanexus_runtime', current_schema());
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT'
                       ' ON SEQUENCES TO datanexus_runtime', current_schema());
        IF NOT pg_has_role(current_user, 'datanexus_runtime', 'MEMBER') THEN
            EXECUTE 'GRANT datanexus_runtime TO ' || quote_ident(current_user);
        END IF;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'datanexus_runtime not granted: % (RLS backstop off)', SQLERRM;
END $$;
