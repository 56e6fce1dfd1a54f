-- The time-series store of issue 6: time-partitioned rollups and raw events, `tenant_id`
-- on every tenant table with row-level security as a backstop, the pipeline catalog, and
-- the bookkeeping of compaction (per-level watermarks, the invalidation log, a generation
-- counter). Unqualified names: the runner sets search_path to the target schema.
--
-- Partition names are part of the contract with datanexus.store.partitions, which
-- creates the future ones: rollups_pYYYYMM (a UTC month), raw_events_pYYYYMMDD (a UTC
-- day), and <table>_default catching rows no partition covers (an alarm, STORE-2).

-- ---------------------------------------------------------------------------------------
-- Rollups: RANGE-partitioned on window_start, one MONTHLY partition per UTC month.
-- Why monthly: rollups are small (a 1 m series is 43 200 rows a month), so a month is a
-- modest table whose primary key stays cached, and a writer's batch (windows of the last
-- minutes) lands in one partition either way. Daily partitions would multiply planning
-- and locking cost for the queries that span long ranges at 1 h / 1 d granularity (a year
-- = 12 partitions, not 365) without speeding up the upsert. Queries still prune by
-- window_start to the months they overlap. Retention drops whole months.
ALTER TABLE rollups RENAME TO rollups_0001;
ALTER TABLE rollups_0001 RENAME CONSTRAINT rollups_pkey TO rollups_0001_pkey;

CREATE TABLE rollups (
    tenant_id       text COLLATE "C" NOT NULL,
    pipeline        text COLLATE "C" NOT NULL,
    series          text COLLATE "C" NOT NULL,
    metric          text COLLATE "C" NOT NULL DEFAULT '*',
    granularity_ms  bigint           NOT NULL CHECK (granularity_ms > 0),
    window_start    timestamptz      NOT NULL,
    revision        bigint           NOT NULL CHECK (revision >= 0),
    count           bigint           NOT NULL CHECK (count >= 0),
    sum             double precision NOT NULL,
    min             double precision,
    max             double precision,
    mean            double precision,
    m2              double precision,
    digest          bytea,
    hll             bytea,
    written_at      timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, pipeline, granularity_ms, series, metric, window_start)
) PARTITION BY RANGE (window_start);

-- A BRIN on window_start (rows arrive roughly in time order) serves compaction's and
-- retention's range scans over all series at a few pages' cost, where a second B-tree
-- would slow every upsert.
CREATE INDEX rollups_window_brin ON rollups USING brin (window_start);
CREATE TABLE rollups_default PARTITION OF rollups DEFAULT;

-- Existing rows get the partitions of their months (not the default: that is an alarm).
DO $$
DECLARE m timestamp;
BEGIN
    FOR m IN SELECT DISTINCT date_trunc('month', window_start AT TIME ZONE 'UTC')
             FROM rollups_0001 LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF rollups FOR VALUES FROM (%L) TO (%L)',
            'rollups_p' || to_char(m, 'YYYYMM'),
            to_char(m, 'YYYY-MM-DD HH24:MI:SS') || '+00',
            to_char(m + interval '1 month', 'YYYY-MM-DD HH24:MI:SS') || '+00');
    END LOOP;
END $$;

INSERT INTO rollups (tenant_id, pipeline, series, metric, granularity_ms, window_start,
                     revision, count, sum, min, max, mean, m2, digest, hll, written_at)
SELECT tenant, pipeline, series, '*', granularity_ms, window_start,
       revision, count, sum, min, max, mean, m2, digest, hll, written_at
FROM rollups_0001;
DROP TABLE rollups_0001;

-- ---------------------------------------------------------------------------------------
-- Raw events: DAILY RANGE partitions on ts (STORE-1), BRIN on ts for time scans.
-- A partitioned table's unique key must contain the partition key, so the idempotency
-- key is now (tenant_id, stream, ts, id): the event id plus its event time (STORE-1's
-- (tenant, series, ts, seq) with stream as the series and the id as the sequence).
-- Consequence: a replay of the same event (same id, same ts) still inserts nothing, but
-- an event re-sent with the same id and a DIFFERENT ts is stored twice. Ids derived from
-- content hash the ts too, so only producers that reuse explicit ids across different
-- event times are affected; the stream-level dedup window (STREAM-14) catches recent ones.
ALTER TABLE raw_events RENAME TO raw_events_0001;
ALTER TABLE raw_events_0001 RENAME CONSTRAINT raw_events_pkey TO raw_events_0001_pkey;

CREATE TABLE raw_events (
    tenant_id    text COLLATE "C" NOT NULL,
    stream       text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    ts           timestamptz NOT NULL,
    seq          bigint,
    payload      jsonb       NOT NULL,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, stream, ts, id)
) PARTITION BY RANGE (ts);

CREATE INDEX raw_events_ts_brin ON raw_events USING brin (ts);
CREATE TABLE raw_events_default PARTITION OF raw_events DEFAULT;

DO $$
DECLARE d timestamp;
BEGIN
    FOR d IN SELECT DISTINCT date_trunc('day', ts AT TIME ZONE 'UTC') FROM raw_events_0001 LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF raw_events FOR VALUES FROM (%L) TO (%L)',
            'raw_events_p' || to_char(d, 'YYYYMMDD'),
            to_char(d, 'YYYY-MM-DD HH24:MI:SS') || '+00',
            to_char(d + interval '1 day', 'YYYY-MM-DD HH24:MI:SS') || '+00');
    END LOOP;
END $$;

INSERT INTO raw_events (tenant_id, stream, id, ts, seq, payload, ingested_at)
SELECT tenant, stream, id, ts, seq, payload, ingested_at FROM raw_events_0001;
DROP TABLE raw_events_0001;

-- ---------------------------------------------------------------------------------------
ALTER TABLE dead_letters RENAME COLUMN tenant TO tenant_id;
ALTER TABLE dead_letters ALTER COLUMN tenant_id SET DATA TYPE text COLLATE "C";

-- The pipeline catalog (CONTRACT.md): the flow upserts its row at start, version + 1 when
-- the spec text changes (STORE-12); the query engine reads it as its catalog.
CREATE TABLE pipelines (
    tenant_id      text COLLATE "C" NOT NULL,
    name           text COLLATE "C" NOT NULL,
    version        integer     NOT NULL DEFAULT 1 CHECK (version >= 1),
    spec           text        NOT NULL,
    dims           text[]      NOT NULL DEFAULT '{}',
    metrics        jsonb       NOT NULL DEFAULT '{}',
    granularities  bigint[]    NOT NULL DEFAULT '{60000,3600000,86400000}',
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

-- ---------------------------------------------------------------------------------------
-- Compaction (STORE-6, STORE-9). One row per coarse level: it is built from
-- source_granularity_ms rows, and every bucket ending at or before `watermark` is closed
-- and materialised. Writers of source rows below the watermark log the coarse buckets
-- they change in rollup_invalidations (same transaction); the next compaction re-merges
-- exactly those whole buckets.
CREATE TABLE compaction_levels (
    granularity_ms         bigint      PRIMARY KEY CHECK (granularity_ms > 0),
    source_granularity_ms  bigint      NOT NULL UNIQUE CHECK (source_granularity_ms > 0),
    watermark              timestamptz NOT NULL DEFAULT '-infinity',
    compacted_at           timestamptz,
    CHECK (granularity_ms % source_granularity_ms = 0 AND granularity_ms > source_granularity_ms)
);
INSERT INTO compaction_levels (granularity_ms, source_granularity_ms)
VALUES (3600000, 60000), (86400000, 3600000);

CREATE TABLE rollup_invalidations (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       text COLLATE "C" NOT NULL,
    pipeline        text COLLATE "C" NOT NULL,
    series          text COLLATE "C" NOT NULL,
    metric          text COLLATE "C" NOT NULL,
    granularity_ms  bigint      NOT NULL,  -- the coarse level whose bucket is stale
    bucket_start    timestamptz NOT NULL,
    bucket_end      timestamptz NOT NULL CHECK (bucket_end > bucket_start),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rollup_invalidations_level ON rollup_invalidations (granularity_ms, id);

-- Coarse rows carry revision = (max revision of their inputs) + a fresh generation, so a
-- re-merge replaces the previous coarse row even when no input revision rose.
CREATE SEQUENCE compaction_generation;

-- Tenant-zone days (STORE-7): a separate rollup with an explicit zone and origin, the
-- local calendar day `day` of `zone` = [window_start, window_end) in UTC (23, 24 or 25 h).
CREATE TABLE zone_day_rollups (
    tenant_id       text COLLATE "C" NOT NULL,
    pipeline        text COLLATE "C" NOT NULL,
    series          text COLLATE "C" NOT NULL,
    metric          text COLLATE "C" NOT NULL DEFAULT '*',
    zone            text COLLATE "C" NOT NULL,
    day             date             NOT NULL,
    window_start    timestamptz      NOT NULL,
    window_end      timestamptz      NOT NULL CHECK (window_end > window_start),
    revision        bigint           NOT NULL CHECK (revision >= 0),
    count           bigint           NOT NULL CHECK (count >= 0),
    sum             double precision NOT NULL,
    min             double precision,
    max             double precision,
    mean            double precision,
    m2              double precision,
    digest          bytea,
    hll             bytea,
    written_at      timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, pipeline, zone, series, metric, day)
);

-- ---------------------------------------------------------------------------------------
-- Row-level security, a backstop behind the tenant filters of the query engine and API
-- (STORE-15). FORCE makes it apply to the table owner too. A session that set
-- `datanexus.tenant` (datanexus.store.tenancy.tenant_scope) sees and writes only that
-- tenant's rows; with the setting unset or empty (the owner-side writers, compaction,
-- maintenance) every row is visible. Superusers and BYPASSRLS roles are never subject to
-- it: the runtime role must be neither.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['rollups', 'raw_events', 'dead_letters', 'pipelines',
                             'rollup_invalidations', 'zone_day_rollups'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_scope ON %I USING ('
            'coalesce(current_setting(''datanexus.tenant'', true), '''') = '''''
            ' OR tenant_id = current_setting(''datanexus.tenant'', true))', t);
    END LOOP;
END $$;
