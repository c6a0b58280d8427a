ALTER TABLE weights_submissions DROP COLUMN era_period;
ALTER TABLE weights_submissions DROP COLUMN era_birth;
ALTER TABLE weights_submissions DROP COLUMN nonce;
