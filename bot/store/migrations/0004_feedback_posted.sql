-- Which sessions had their feedback posted, so a crash between ending a role-play and
-- posting its feedback is repaired on the next start. Sessions that ended before this
-- column existed are taken as done.
ALTER TABLE sessions ADD COLUMN feedback_message_id TEXT;
UPDATE sessions SET feedback_message_id = 'before-0004' WHERE status = 'ended';
