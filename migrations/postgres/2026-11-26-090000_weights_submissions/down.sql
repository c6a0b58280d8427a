DROP TABLE weights_submission_weights;
DROP TABLE weights_submissions;
