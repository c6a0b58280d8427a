-- Every attempt to set weights, with the run whose scores it sent: how it
-- ended, the extrinsic and block when included, the reveal round of a
-- timelocked commit, and the uid -> u16 vector. A later run updates a
-- commit's outcome once it sees the reveal (or the silent drop).
-- Keep this file and the other backend's in step.

CREATE TABLE weights_submissions (
    submission_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id          BIGINT NOT NULL REFERENCES weights_runs (run_id) ON DELETE CASCADE,
    attempted_at    TIMESTAMP NOT NULL,
    netuid          INTEGER NOT NULL,
    call            TEXT,                   -- plain | timelocked; NULL when refused before a call was chosen
    outcome         TEXT NOT NULL,          -- landed | differs | unconfirmed | committed | revealed | dropped | chain_refused | transport_error | precondition_refused
    reason          TEXT,
    tries           INTEGER NOT NULL,
    sender_uid      INTEGER,
    extrinsic_hash  TEXT,
    block_hash      TEXT,
    block           BIGINT,
    reveal_round    BIGINT,
    commit_epoch    BIGINT,
    checked_at      TIMESTAMP
);

CREATE INDEX weights_submissions_by_time ON weights_submissions (attempted_at);

CREATE TABLE weights_submission_weights (
    submission_id   BIGINT NOT NULL REFERENCES weights_submissions (submission_id) ON DELETE CASCADE,
    uid             INTEGER NOT NULL,
    weight          INTEGER NOT NULL,       -- the u16 sent
    PRIMARY KEY (submission_id, uid)
);
