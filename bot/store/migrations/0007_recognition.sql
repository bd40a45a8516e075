-- Recognition, assignments, overrides and training records.
-- What a finished session showed, kept with it so badges, the leaderboard and reports never
-- replay a session (sessions that ended before this migration have no row: they count for
-- reports, never for public recognition, since their grade's integrity is not known).
CREATE TABLE session_results (
    session_id INTEGER PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    clean      INTEGER NOT NULL CHECK (clean IN (0, 1)),     -- no integrity notes
    gamed      INTEGER NOT NULL CHECK (gamed IN (0, 1)),
    penalties  INTEGER NOT NULL,                             -- penalised lines
    critical   INTEGER NOT NULL CHECK (critical IN (0, 1)),
    start_mood INTEGER NOT NULL,
    peak_mood  INTEGER NOT NULL,
    end_mood   INTEGER NOT NULL
);

-- The behaviours of the badge rules file a session showed, with the words that showed them.
CREATE TABLE session_behaviours (
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    behaviour  TEXT    NOT NULL,
    turn       INTEGER NOT NULL,
    quote      TEXT    NOT NULL,
    PRIMARY KEY (session_id, behaviour)
);

-- Public recognition is opt-out, per person (their own choice, kept across cohorts).
ALTER TABLE members ADD COLUMN public_recognition INTEGER NOT NULL DEFAULT 1;

-- The instructor who started a session for a trainee (NULL: the trainee practised on their own).
ALTER TABLE sessions ADD COLUMN instructor_id INTEGER REFERENCES members (id) ON DELETE SET NULL;

-- "Caught doing it right": a line of a session, nominated for the cohort channel.
CREATE TABLE nominations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    member_id  INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    turn       INTEGER NOT NULL,
    line       TEXT    NOT NULL,
    why        TEXT    NOT NULL,
    status     TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'dismissed')),
    decided_by INTEGER REFERENCES members (id) ON DELETE SET NULL,
    decided_at TEXT,
    created_at TEXT    NOT NULL,
    UNIQUE (session_id, turn)
);

-- A scenario a cohort must pass (a score of at least pass_mark) by a date.
CREATE TABLE assignments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    cohort_id   INTEGER NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
    scenario_id TEXT    NOT NULL,
    due_at      TEXT    NOT NULL,
    pass_mark   INTEGER NOT NULL CHECK (pass_mark BETWEEN 0 AND 100),
    created_by  INTEGER REFERENCES members (id) ON DELETE SET NULL,
    created_at  TEXT    NOT NULL
);
CREATE INDEX assignments_by_cohort ON assignments (cohort_id, due_at);

-- An instructor's change of a session's score, with the reason. The session keeps the score
-- it earned; the newest override is the one reports and records use, and every one is kept.
CREATE TABLE score_overrides (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    score      INTEGER NOT NULL CHECK (score BETWEEN 0 AND 100),
    previous   INTEGER NOT NULL,
    reason     TEXT    NOT NULL,
    by_member  INTEGER REFERENCES members (id) ON DELETE SET NULL,
    by_name    TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX score_overrides_by_session ON score_overrides (session_id, id);

CREATE INDEX kudos_by_giver ON kudos (from_member_id, created_at);
CREATE INDEX kudos_by_receiver ON kudos (to_member_id, created_at);
CREATE INDEX sessions_by_member ON sessions (member_id, ended_at);
