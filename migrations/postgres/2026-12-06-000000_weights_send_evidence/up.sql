-- What identifies a sent weights transaction on chain after the fact: the
-- nonce it carried and its mortal era (birth block, period in blocks), so a
-- send whose inclusion was not seen (outcome `unknown`) can be found in a
-- block of its era later, or known expired once the era is over.
-- New outcomes: unknown | expired | malformed_answer.
-- Keep this file and the other backend's in step.

ALTER TABLE weights_submissions ADD COLUMN nonce BIGINT;
ALTER TABLE weights_submissions ADD COLUMN era_birth BIGINT;
ALTER TABLE weights_submissions ADD COLUMN era_period BIGINT;
