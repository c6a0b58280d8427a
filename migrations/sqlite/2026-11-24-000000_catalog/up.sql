-- The catalog: what the auditor knows about audit entries and what it derived.
-- Keep this file and ../../postgres/*/up.sql in step: the same tables, columns and types.

CREATE TABLE audit_entries (
    entry_id        TEXT PRIMARY KEY,
    hotkey          TEXT NOT NULL,
    block           BIGINT NOT NULL,
    path            TEXT NOT NULL,
    source          TEXT NOT NULL,          -- validator | miner
    created_at      TIMESTAMP NOT NULL,
    start_time      TIMESTAMP NOT NULL,
    end_time        TIMESTAMP NOT NULL,
    state           TEXT NOT NULL,          -- pending | verified | unverifiable | loaded | rejected
    unverifiable    BOOLEAN NOT NULL DEFAULT FALSE,
    reject_reason   TEXT,
    report_sha256   TEXT,
    instance_rows   BIGINT NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    first_seen_at   TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    loaded_at       TIMESTAMP
);
CREATE INDEX audit_entries_state ON audit_entries (state);
CREATE INDEX audit_entries_created ON audit_entries (created_at);
CREATE INDEX audit_entries_hotkey ON audit_entries (hotkey, block);

CREATE TABLE entry_exports (
    entry_id        TEXT NOT NULL REFERENCES audit_entries (entry_id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,          -- invocations | reports | jobs
    path            TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    bytes           BIGINT NOT NULL DEFAULT 0,
    row_count       BIGINT NOT NULL DEFAULT 0,
    malformed_rows  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (entry_id, kind)
);

CREATE TABLE synthetics (
    invocation_id        TEXT PRIMARY KEY,
    parent_invocation_id TEXT NOT NULL,
    task                 TEXT NOT NULL,     -- chat | completion | image | tts | embed
    chute_id             TEXT NOT NULL,
    instance_id          TEXT NOT NULL,
    miner_uid            INTEGER,
    miner_hotkey         TEXT NOT NULL,
    created_at           TIMESTAMP NOT NULL,
    has_error            BOOLEAN NOT NULL DEFAULT FALSE,
    check_state          TEXT NOT NULL DEFAULT 'pending', -- pending | present | missing | rerouted
    checked_at           TIMESTAMP
);
CREATE INDEX synthetics_created ON synthetics (created_at);

CREATE TABLE metagraph_snapshots (
    snapshot_id INTEGER PRIMARY KEY AUTOINCREMENT,
    netuid      INTEGER NOT NULL,
    block       BIGINT NOT NULL,
    taken_at    TIMESTAMP NOT NULL
);

CREATE TABLE metagraph_neurons (
    snapshot_id      BIGINT NOT NULL REFERENCES metagraph_snapshots (snapshot_id) ON DELETE CASCADE,
    uid              INTEGER NOT NULL,
    hotkey           TEXT NOT NULL,
    coldkey          TEXT NOT NULL,
    incentive        INTEGER NOT NULL,      -- u16 fraction of 65535
    stake            DOUBLE NOT NULL,
    last_update      BIGINT NOT NULL,
    validator_permit BOOLEAN NOT NULL,
    PRIMARY KEY (snapshot_id, uid)
);

CREATE TABLE gpu_counts (
    chute_id   TEXT PRIMARY KEY,
    gpu_count  INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE weights_runs (
    run_id          INTEGER PRIMARY KEY AUTOINCREMENT,
    evaluated_at    TIMESTAMP NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    profile_name    TEXT NOT NULL,
    profile_version INTEGER NOT NULL,
    snapshot_id     BIGINT REFERENCES metagraph_snapshots (snapshot_id) ON DELETE SET NULL,
    sum_abs_delta   DOUBLE NOT NULL,
    max_delta       DOUBLE NOT NULL,
    sent            BOOLEAN NOT NULL DEFAULT FALSE,
    sent_to         TEXT,
    sent_block      BIGINT,
    extrinsic_hash  TEXT
);

CREATE TABLE weights_run_miners (
    run_id                 BIGINT NOT NULL REFERENCES weights_runs (run_id) ON DELETE CASCADE,
    hotkey                 TEXT NOT NULL,
    uid                    INTEGER,
    coldkey                TEXT,
    invocation_count       DOUBLE NOT NULL,
    compute_units          DOUBLE NOT NULL,
    bounty_count           DOUBLE NOT NULL,
    unique_chute_count     DOUBLE NOT NULL,
    private_instances      BIGINT NOT NULL,
    private_seconds        DOUBLE NOT NULL,
    private_compute_units  DOUBLE NOT NULL,
    norm_invocation_count  DOUBLE NOT NULL,
    norm_compute_units     DOUBLE NOT NULL,
    norm_bounty_count      DOUBLE NOT NULL,
    norm_unique_chute_count DOUBLE NOT NULL,
    pre_score              DOUBLE NOT NULL,
    penalised              BOOLEAN NOT NULL,
    score                  DOUBLE NOT NULL,
    chain_share            DOUBLE,
    delta                  DOUBLE,
    weight                 INTEGER,
    PRIMARY KEY (run_id, hotkey)
);

CREATE TABLE agreement_runs (
    run_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    evaluated_at TIMESTAMP NOT NULL,
    created_at   TIMESTAMP NOT NULL
);

CREATE TABLE agreement_results (
    run_id            BIGINT NOT NULL REFERENCES agreement_runs (run_id) ON DELETE CASCADE,
    hotkey            TEXT NOT NULL,
    coverage_seconds  BIGINT NOT NULL,
    validator_count   BIGINT,
    reported_count    BIGINT,
    ratio             DOUBLE,
    flagged           BOOLEAN NOT NULL,
    note              TEXT,
    PRIMARY KEY (run_id, hotkey)
);
