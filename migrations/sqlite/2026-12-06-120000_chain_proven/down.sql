ALTER TABLE weights_submissions DROP COLUMN chain_proven;
ALTER TABLE audit_entries DROP COLUMN commitment_proven;
