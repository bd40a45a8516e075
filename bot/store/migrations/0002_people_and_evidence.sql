-- People, cohorts and what a session earned, for reports, exports and recognition.
CREATE TABLE members (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id     INTEGER NOT NULL DEFAULT 0,      -- 0: the terminal, not a Discord server
    discord_id   INTEGER,                         -- NULL for terminal trainees
    display_name TEXT    NOT NULL,
    role         TEXT    NOT NULL DEFAULT 'trainee' CHECK (role IN ('trainee', 'instructor')),
    created_at   TEXT    NOT NULL
);
CREATE UNIQUE INDEX members_by_discord_id ON members (guild_id, discord_id) WHERE discord_id IS NOT NULL;
CREATE UNIQUE INDEX members_by_local_name ON members (guild_id, display_name) WHERE discord_id IS NULL;

CREATE TABLE cohorts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id   INTEGER NOT NULL DEFAULT 0,
    name       TEXT    NOT NULL,
    channel_id INTEGER,
    created_at TEXT    NOT NULL,
    UNIQUE (guild_id, name)
);

CREATE TABLE cohort_members (
    cohort_id INTEGER NOT NULL REFERENCES cohorts (id) ON DELETE CASCADE,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    PRIMARY KEY (cohort_id, member_id)
);

ALTER TABLE sessions ADD COLUMN member_id INTEGER REFERENCES members (id);
CREATE INDEX sessions_started_at ON sessions (started_at);
CREATE INDEX turns_by_session ON turns (session_id, seq);

CREATE TABLE skill_evidence (
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    skill      TEXT    NOT NULL,
    label      TEXT    NOT NULL,
    status     TEXT    NOT NULL CHECK (status IN ('earned', 'late', 'out_of_order', 'missed')),
    points     INTEGER NOT NULL,
    max_points INTEGER NOT NULL,
    turn       INTEGER,
    quote      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (session_id, skill)
);

CREATE TABLE badges (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id  INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    badge      TEXT    NOT NULL,
    session_id INTEGER REFERENCES sessions (id) ON DELETE SET NULL,
    awarded_at TEXT    NOT NULL,
    UNIQUE (member_id, badge)
);

CREATE TABLE kudos (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id       INTEGER NOT NULL DEFAULT 0,
    from_member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    to_member_id   INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    skill          TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    created_at     TEXT    NOT NULL
);
