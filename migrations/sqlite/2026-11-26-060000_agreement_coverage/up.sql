-- compare-prom: the threshold a run flagged below, and each miner's missing
-- hours (the hour slots of the coverage window no loaded self-report covers).
-- Keep this file and the other backend's in step.

ALTER TABLE agreement_runs ADD COLUMN threshold DOUBLE NOT NULL DEFAULT 0.9;

CREATE TABLE agreement_missing_hours (
    run_id  BIGINT NOT NULL,
    hotkey  TEXT NOT NULL,
    hour    TIMESTAMP NOT NULL,             -- the slot's start
    PRIMARY KEY (run_id, hotkey, hour),
    FOREIGN KEY (run_id, hotkey) REFERENCES agreement_results (run_id, hotkey) ON DELETE CASCADE
);
