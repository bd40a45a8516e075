-- turns_by_session (session_id, seq) repeats the first columns of the UNIQUE (session_id, seq,
-- speaker) index, which serves every query the other did (a session's lines in order, the
-- cascade from sessions): one index less to write for every line saved.
DROP INDEX IF EXISTS turns_by_session;
