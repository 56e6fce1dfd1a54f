-- Connector tasks (CONN-8): one row per task of a flow; a task's id is the source
-- partition whose progress row (flow, partition) it owns. `state` follows the
-- lifecycle of datanexus.connectors.tasks (the transitions are checked there, the set
-- of states here); `worker` is the worker it is assigned to (NULL: none); `last_poll`
-- the last time its worker reported a poll (health: RUNNING and polled within 30 s);
-- `error` the reason of the last failure.
CREATE TABLE connector_tasks (
    tenant_id   text COLLATE "C" NOT NULL,
    flow        text COLLATE "C" NOT NULL CHECK (length(flow) BETWEEN 1 AND 200),
    task        text COLLATE "C" NOT NULL CHECK (length(task) BETWEEN 1 AND 500),
    state       text        NOT NULL DEFAULT 'UNASSIGNED' CHECK (state IN
                    ('UNASSIGNED', 'RUNNING', 'PAUSED', 'STOPPED', 'FAILED', 'RESTARTING')),
    worker      text COLLATE "C",
    last_poll   timestamptz,
    error       text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, flow, task)
);

-- The same row-level security backstop as the store's tables.
ALTER TABLE connector_tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE connector_tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_scope ON connector_tasks USING (
    coalesce(current_setting('datanexus.tenant', true), '') = ''
    OR tenant_id = current_setting('datanexus.tenant', true));

-- Migration 0007's default privileges cover tables its role creates; grant explicitly
-- too, so a schema migrated by another role works the same.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'datanexus_runtime') THEN
        EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON connector_tasks TO datanexus_runtime';
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'connector_tasks not granted to datanexus_runtime: %', SQLERRM;
END $$;
