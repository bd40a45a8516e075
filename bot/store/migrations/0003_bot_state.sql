-- What the Discord bot keeps between runs: small settings (the hash of the last synced
-- command tree) and which resident replies actually reached the thread.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE INDEX sessions_active_by_guild ON sessions (guild_id, status);
CREATE INDEX kudos_by_guild ON kudos (guild_id, created_at);
