-- Seam engine schema: runs, jobs (the queue), step executions, signals, history, workers and
-- registered workflow definitions. Everything lives in the `seam` schema.

CREATE TABLE seam.definitions (
    workflow      text        NOT NULL,
    version       integer     NOT NULL CHECK (version > 0),
    -- JSON array of step specs: name, kind, queue, retry, timeout, compensation, wait/sleep.
    steps         jsonb       NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow, version)
);

CREATE TABLE seam.runs (
    id                  uuid        PRIMARY KEY,
    workflow            text        NOT NULL,
    version             integer     NOT NULL,
    status              text        NOT NULL CHECK (status IN (
                            'pending', 'running', 'waiting', 'compensating', 'completed',
                            'failed', 'cancelled', 'compensation_failed', 'paused')),
    input               jsonb       NOT NULL,
    -- Latest output of every step that completed, keyed by step name.
    outputs             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    output              jsonb,
    error               text,
    current_step        text,
    -- Bumped by every goto and rewind: (run, step, iteration) names one entry into a step.
    iteration           integer     NOT NULL DEFAULT 0,
    wait_signal         text,
    wait_deadline       timestamptz,
    -- Status to return to on resume (set only while paused).
    paused_from         text        CHECK (paused_from IS NULL OR paused_from IN (
                            'pending', 'running', 'waiting', 'compensating')),
    -- Terminal status a compensation ends in: failed or cancelled.
    compensation_target text        CHECK (compensation_target IS NULL OR
                                           compensation_target IN ('failed', 'cancelled')),
    parent_run_id       uuid        REFERENCES seam.runs (id) ON DELETE SET NULL,
    parent_step         text,
    parent_iteration    integer,
    idempotency_key     text,
    created_by          text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    CONSTRAINT runs_finished_iff_terminal CHECK (
        (status IN ('completed', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
    CONSTRAINT runs_paused_from_iff_paused CHECK ((status = 'paused') = (paused_from IS NOT NULL))
);
CREATE UNIQUE INDEX runs_idempotency_key ON seam.runs (workflow, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_status_created ON seam.runs (status, created_at DESC);
CREATE INDEX runs_created ON seam.runs (created_at DESC);
CREATE INDEX runs_parent ON seam.runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE INDEX runs_finished ON seam.runs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE seam.jobs (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           uuid        NOT NULL REFERENCES seam.runs (id) ON DELETE CASCADE,
    -- step: run the step's handler; compensate: run its compensation; signal: show buffered
    -- signals to a wait; timer: a wait deadline or a sleep's end; join: children finished.
    kind             text        NOT NULL CHECK (kind IN ('step', 'compensate', 'signal', 'timer', 'join')),
    queue            text        NOT NULL,
    -- "workflow@version": only a worker that has this definition version may claim the job.
    pin              text        NOT NULL,
    step             text        NOT NULL,
    iteration        integer     NOT NULL,
    attempt          integer     NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    max_attempts     integer     NOT NULL CHECK (max_attempts >= 1),
    input            jsonb       NOT NULL DEFAULT 'null'::jsonb,
    state            text        NOT NULL CHECK (state IN ('ready', 'running', 'dead', 'paused')),
    run_at           timestamptz NOT NULL,
    lease_token      uuid,
    lease_expires_at timestamptz,
    worker_id        uuid,
    started_at       timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jobs_lease_iff_running CHECK (
        (state = 'running') = (lease_token IS NOT NULL AND lease_expires_at IS NOT NULL))
);
CREATE INDEX jobs_claim ON seam.jobs (queue, run_at, id) WHERE state = 'ready';
CREATE INDEX jobs_lease ON seam.jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_run ON seam.jobs (run_id);
CREATE INDEX jobs_dead ON seam.jobs (created_at) WHERE state = 'dead';
-- At most one pending signal-delivery job per run.
CREATE UNIQUE INDEX jobs_one_signal ON seam.jobs (run_id) WHERE kind = 'signal' AND state IN ('ready', 'paused');

CREATE TABLE seam.step_executions (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      uuid        NOT NULL REFERENCES seam.runs (id) ON DELETE CASCADE,
    kind        text        NOT NULL CHECK (kind IN ('step', 'compensate', 'signal', 'timer', 'join')),
    queue       text        NOT NULL,
    step        text        NOT NULL,
    iteration   integer     NOT NULL,
    attempt     integer     NOT NULL,
    status      text        NOT NULL CHECK (status IN (
                    'completed', 'skipped', 'failed', 'timed_out', 'lost', 'dead', 'waiting')),
    input       jsonb,
    output      jsonb,
    error       text,
    worker_id   uuid,
    started_at  timestamptz,
    finished_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX step_executions_run ON seam.step_executions (run_id, id);
CREATE INDEX step_executions_finished ON seam.step_executions (finished_at);

CREATE TABLE seam.signals (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      uuid        NOT NULL REFERENCES seam.runs (id) ON DELETE CASCADE,
    name        text        NOT NULL,
    payload     jsonb       NOT NULL DEFAULT 'null'::jsonb,
    sent_by     text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    consumed_at timestamptz,
    consumed_by text
);
CREATE INDEX signals_pending ON seam.signals (run_id, name, id) WHERE consumed_at IS NULL;
CREATE INDEX signals_run ON seam.signals (run_id, id);

CREATE TABLE seam.events (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id    uuid        NOT NULL REFERENCES seam.runs (id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    kind      text        NOT NULL,
    step      text,
    iteration integer,
    attempt   integer,
    actor     text        NOT NULL,
    reason    text,
    data      jsonb
);
CREATE INDEX events_run ON seam.events (run_id, id);

CREATE TABLE seam.workers (
    id                uuid        PRIMARY KEY,
    name              text        NOT NULL,
    host              text        NOT NULL,
    pid               integer     NOT NULL,
    queues            text[]      NOT NULL,
    pins              text[]      NOT NULL,
    concurrency       integer     NOT NULL,
    in_flight         integer     NOT NULL DEFAULT 0,
    started_at        timestamptz NOT NULL DEFAULT now(),
    last_heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at        timestamptz
);
CREATE INDEX workers_heartbeat ON seam.workers (last_heartbeat_at DESC);
