-- The tables the connectors' sinks write (issue 5). Issue 6 adds time partitions,
-- BRIN indexes, retention and compaction in later migrations; never edit this file
-- once released: the runner refuses a database whose applied checksum differs.
-- Unqualified names: the runner sets search_path to the target schema. Key columns are
-- identifiers, not prose: COLLATE "C" compares them bytewise, which makes the primary key
-- indexes (and so every upsert) markedly cheaper than a libc locale.

-- One row per (tenant, pipeline, series, granularity, window start): the window's
-- mergeable aggregates. `revision` grows with every re-emission of the window (late
-- data); writers keep the highest (STORE-5), so replays and reordering change nothing.
CREATE TABLE rollups (
    tenant          text COLLATE "C" NOT NULL,
    pipeline        text COLLATE "C" NOT NULL,
    series          text COLLATE "C" NOT NULL,
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
    PRIMARY KEY (tenant, pipeline, series, granularity_ms, window_start)
);

-- Accepted events as received; (tenant, stream, id) is the idempotency key (the event's
-- id, else its content hash), so a replayed batch inserts nothing.
CREATE TABLE raw_events (
    tenant       text COLLATE "C" NOT NULL,
    stream       text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    ts           timestamptz NOT NULL,
    seq          bigint,
    payload      jsonb       NOT NULL,
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, stream, id)
);

-- Invalid and late input with the reason: nothing accepted is silently dropped. Entries
-- from a replayable source carry (source, partition, position, item), unique, so a replay
-- adds none; entries without a position (NULLs are distinct) always insert.
CREATE TABLE dead_letters (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant      text,
    source      text COLLATE "C" NOT NULL,
    partition   text COLLATE "C",
    position    text COLLATE "C",
    item        integer     NOT NULL DEFAULT 0,
    stage       text        NOT NULL,
    reason      text        NOT NULL,
    error       text        NOT NULL,
    payload     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, partition, position, item)
);

-- How far each (flow, partition) has durably written, updated in the same transaction as
-- the rows it covers (CONN-5). `position` is a source offset (a RabbitMQ stream offset, a
-- Redis entry id as ms * 2^64 + seq) or, for rollups, the end of the newest window written;
-- it only moves forward.
CREATE TABLE progress (
    flow        text COLLATE "C" NOT NULL,
    partition   text COLLATE "C" NOT NULL,
    position    numeric     NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flow, partition)
);
