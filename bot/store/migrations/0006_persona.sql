-- The resident's persona variant a session was played with (cooperative, anxious, angry...),
-- chosen by the instructor or at random; NULL for scenarios without variants and for
-- sessions started before variants existed.
ALTER TABLE sessions ADD COLUMN persona TEXT;
