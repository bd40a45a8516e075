-- The outbox: every message the trainer sends (resident lines, briefings, feedback,
-- recognition, notices) is stored here before it is sent, in the same transaction as
-- what caused it, then marked with the chat message that carried it. `key` names what
-- the message is for ("12:turn:3", "12:feedback"), so the same item is never queued twice.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,  -- also the order of sending within a channel
    key          TEXT    NOT NULL UNIQUE,
    transport    TEXT    NOT NULL,                   -- discord | terminal
    channel_id   INTEGER NOT NULL,                   -- Discord channel or thread; the session id in the terminal
    session_id   INTEGER REFERENCES sessions (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    body         TEXT    NOT NULL,                   -- the message, as JSON
    status       TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'undeliverable')),
    message_id   TEXT,                               -- the platform's id of the message that carried it
    error        TEXT,                               -- why it is undeliverable
    created_at   TEXT    NOT NULL,
    delivered_at TEXT
);
CREATE INDEX outbox_pending ON outbox (transport, channel_id, id) WHERE status = 'pending';
CREATE INDEX outbox_by_channel ON outbox (transport, channel_id, status, id);

-- Chat messages a session saw but did not play (empty, sent too fast), so catching up
-- on a thread's history after a reconnection skips them as it skips stored lines.
CREATE TABLE ignored_messages (
    message_id TEXT    PRIMARY KEY,
    session_id INTEGER REFERENCES sessions (id) ON DELETE CASCADE,
    reason     TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX sessions_by_trainee ON sessions (guild_id, trainee_id, status);
