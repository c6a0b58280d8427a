-- Whether what the chain said was proven: an entry's commitment read
-- (audit_entries.commitment_proven) and a weights send's chain reads
-- (weights_submissions.chain_proven). False records an operator's choice
-- to turn proofs off (subtensor.proofs: false); NULL is a row written
-- before this column existed, or one no chain read decided.
-- Keep this file and the other backend's in step.

ALTER TABLE audit_entries ADD COLUMN commitment_proven BOOLEAN;
ALTER TABLE weights_submissions ADD COLUMN chain_proven BOOLEAN;
