DROP TABLE agreement_missing_hours;
ALTER TABLE agreement_runs DROP COLUMN threshold;
