-- Sessions and every line said in them. A trainee line is committed before the
-- resident's reply is shown; source_message_id stops a replayed message scoring twice.
CREATE TABLE sessions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    scenario_id     TEXT    NOT NULL,
    scenario_digest TEXT    NOT NULL,
    trainee         TEXT    NOT NULL,
    seed            INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    mood            INTEGER NOT NULL,
    turns           INTEGER NOT NULL DEFAULT 0,
    mode            TEXT    NOT NULL DEFAULT 'practice' CHECK (mode IN ('practice', 'assessment')),
    status          TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
    outcome         TEXT    CHECK (outcome IN ('success', 'failure', 'abandoned')),
    score           INTEGER CHECK (score BETWEEN 0 AND 100),
    guild_id        INTEGER NOT NULL DEFAULT 0,
    channel_id      INTEGER,
    thread_id       INTEGER UNIQUE,
    trainee_id      INTEGER,
    started_at      TEXT    NOT NULL,
    ended_at        TEXT
);
CREATE INDEX sessions_status ON sessions (status);

CREATE TABLE turns (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id        INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq               INTEGER NOT NULL,
    speaker           TEXT    NOT NULL CHECK (speaker IN ('trainee', 'resident')),
    text              TEXT    NOT NULL,
    signals           TEXT    NOT NULL DEFAULT '[]',
    mood              INTEGER NOT NULL,
    state             TEXT    NOT NULL,
    source_message_id TEXT    UNIQUE,
    created_at        TEXT    NOT NULL,
    UNIQUE (session_id, seq, speaker)
);
