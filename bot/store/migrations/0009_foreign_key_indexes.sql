-- An index for every foreign key that had none. Deleting a row makes SQLite look for the
-- rows that refer to it (to cascade, set NULL or refuse); without an index on the referring
-- column, that is a scan of the whole table for each row deleted. `purge` deletes a year of
-- sessions at once: every session deleted scanned the outbox (about ten rows per session),
-- so purging grew with the square of the data (bench/purge.py: half of 4,000 sessions in
-- 10.8 s, of 8,000 in 44.1 s; with these indexes 0.27 and 0.48 s), all of it holding the
-- write lock, so no line could be saved meanwhile.
-- tests/store/test_store.py checks that every foreign key has its index.
CREATE INDEX outbox_by_session ON outbox (session_id);
CREATE INDEX ignored_by_session ON ignored_messages (session_id);
CREATE INDEX badges_by_session ON badges (session_id);
CREATE INDEX sessions_by_instructor ON sessions (instructor_id);
CREATE INDEX cohort_members_by_member ON cohort_members (member_id);
CREATE INDEX nominations_by_member ON nominations (member_id);
CREATE INDEX nominations_by_decider ON nominations (decided_by);
CREATE INDEX assignments_by_creator ON assignments (created_by);
CREATE INDEX score_overrides_by_member ON score_overrides (by_member);
