"""The state file's schema, as the steps that build it: PRAGMA user_version counts the steps
a file has taken."""

from __future__ import annotations

__all__ = ["MIGRATIONS"]

# Each entry moves the schema from version i to i + 1; never edit a released one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE history_meta (
        source_key TEXT NOT NULL,
        query TEXT NOT NULL,          -- table name + hash of its SQL: new SQL, new cache
        held_from INTEGER NOT NULL,   -- unix seconds, inclusive
        held_until INTEGER NOT NULL,  -- unix seconds, exclusive: every bucket before is complete
        PRIMARY KEY (source_key, query)
    );
    CREATE TABLE history_rows (
        source_key TEXT NOT NULL,
        query TEXT NOT NULL,
        bucket INTEGER NOT NULL,
        dim TEXT NOT NULL,
        dim_value TEXT NOT NULL,
        vals TEXT NOT NULL,           -- JSON list, in the order of the table's columns
        PRIMARY KEY (source_key, query, bucket, dim, dim_value)
    ) WITHOUT ROWID;
    """,
    """
    CREATE TABLE subscriptions (
        chat_id INTEGER NOT NULL,
        metric TEXT NOT NULL,          -- a metric name, or '*' for all of them
        created_at INTEGER NOT NULL,
        PRIMARY KEY (chat_id, metric)
    );
    CREATE TABLE overrides (
        metric TEXT NOT NULL,
        param TEXT NOT NULL,
        value TEXT NOT NULL,           -- JSON
        user_id INTEGER,
        set_at INTEGER NOT NULL,
        PRIMARY KEY (metric, param)
    );
    CREATE TABLE mutes (
        metric TEXT NOT NULL PRIMARY KEY,   -- a metric name, or '*'
        until INTEGER NOT NULL,
        user_id INTEGER,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        metric TEXT NOT NULL,
        slice TEXT NOT NULL,           -- '' for the total, else dim=value
        bucket INTEGER NOT NULL,
        value REAL, expected REAL, lower REAL, upper REAL, score REAL,
        reason TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX alerts_by_series ON alerts (metric, slice, created_at);
    CREATE TABLE deliveries (
        alert_id INTEGER NOT NULL,
        chat_id INTEGER NOT NULL,
        message_id INTEGER,
        sent_at INTEGER NOT NULL,
        error TEXT
    );
    CREATE TABLE check_runs (
        id INTEGER PRIMARY KEY,
        started INTEGER NOT NULL,
        finished INTEGER NOT NULL,
        series INTEGER NOT NULL,
        anomalies INTEGER NOT NULL,
        errors TEXT NOT NULL          -- JSON: table -> message
    );
    """,
    """
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        metric TEXT NOT NULL,
        opened_at INTEGER NOT NULL,
        last_notified_at INTEGER NOT NULL,
        resolved_at INTEGER,           -- NULL while open
        ok_streak INTEGER NOT NULL,
        acknowledged_by TEXT,
        false_alarm_by TEXT,
        peak_score REAL NOT NULL
    );
    CREATE INDEX incidents_open ON incidents (metric, resolved_at);
    CREATE TABLE incident_messages (
        incident_id INTEGER NOT NULL,
        chat_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        is_photo INTEGER NOT NULL,
        text TEXT NOT NULL             -- as first sent: edits put the state in front of it
    );
    CREATE TABLE flags (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        text TEXT NOT NULL,
        png BLOB,                      -- a photo with `text` as caption, or NULL for text
        markup TEXT,                   -- JSON of the inline keyboard
        incident_id INTEGER,           -- the message then shows that incident (edits)
        status TEXT NOT NULL,          -- pending | sending | sent | dead
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        message_id INTEGER,
        error TEXT,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX outbox_due ON outbox (status, next_at);
    """,
    """
    ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'telegram';
    ALTER TABLE incidents ADD COLUMN alert_id INTEGER;   -- the alert that opened it
    ALTER TABLE outbox ADD COLUMN meta TEXT;   -- JSON: what the message is about, for channels
                                               -- that take structure (webhook)
    """,
    """
    CREATE TABLE chat_languages (
        chat_id INTEGER PRIMARY KEY,
        lang TEXT NOT NULL,            -- 'en' | 'ru': what the bot says in this chat
        user_id INTEGER,               -- who chose it (NULL: taken from Telegram's language_code)
        set_at INTEGER NOT NULL
    );
    """,
    # The history cache becomes columnar: one row per four hours of a table's aggregates, each
    # column a binary array. Rows held in the JSON form are dropped and fetched again by the
    # next check (one full query per table).
    """
    CREATE TABLE history_chunks (
        source_key TEXT NOT NULL,
        query TEXT NOT NULL,
        chunk INTEGER NOT NULL,       -- unix seconds its buckets start at (a multiple of 4 h)
        n INTEGER NOT NULL,           -- rows in the chunk
        buckets BLOB NOT NULL,        -- int64 unix seconds, little-endian, one per row
        dims TEXT NOT NULL,           -- JSON list: the chunk's distinct dims
        dim_codes BLOB NOT NULL,      -- int32 per row: index into dims
        dim_values TEXT NOT NULL,     -- JSON list: the chunk's distinct dim values
        value_codes BLOB NOT NULL,    -- int32 per row: index into dim_values
        vals BLOB NOT NULL,           -- float64, column after column in the table's order
        PRIMARY KEY (source_key, query, chunk)
    );
    DELETE FROM history_meta;
    DROP TABLE history_rows;
    """,
    # Who set an override, by name as Telegram gave it at /set time (shown by /thresholds).
    """
    ALTER TABLE overrides ADD COLUMN user_name TEXT;
    """,
    # A metric's new level accepted in the chat ("New normal" on an alert): its bands follow
    # the level from `since` until `until`, by when the detector has re-based by itself.
    """
    CREATE TABLE baselines (
        metric TEXT NOT NULL PRIMARY KEY,
        since INTEGER NOT NULL,       -- unix seconds: the bucket the new level began
        until INTEGER NOT NULL,       -- unix seconds: the band follows it until then
        incident_id INTEGER,          -- the incident it was accepted on
        user_id INTEGER,
        user_name TEXT,
        set_at INTEGER NOT NULL,
        acknowledged INTEGER NOT NULL DEFAULT 0  -- 1: accepting it acknowledged the incident
    );
    """,
    # A digest (many metrics in one message) gets its own id, which its buttons carry: they act
    # on every incident it lists. Each message kept for edits records the language it was sent
    # in, so an edit says its state line in that language too (NULL: sent before this was kept).
    """
    CREATE TABLE digests (
        id INTEGER PRIMARY KEY,
        incidents TEXT NOT NULL,      -- JSON list of incident ids, as the digest lists them
        created_at INTEGER NOT NULL
    );
    CREATE TABLE digest_messages (
        digest_id INTEGER NOT NULL,
        chat_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        is_photo INTEGER NOT NULL,
        text TEXT NOT NULL,           -- as first sent: edits put the state in front of it
        lang TEXT                     -- the language it was sent in
    );
    ALTER TABLE incident_messages ADD COLUMN lang TEXT;
    """,
    """
    ALTER TABLE incidents ADD COLUMN ok_bucket INTEGER;  -- newest interval counted in ok_streak
    ALTER TABLE incidents ADD COLUMN ok_since INTEGER;   -- the first interval of that streak
    ALTER TABLE incidents ADD COLUMN since INTEGER;      -- the first interval outside
    """,
    # Who acknowledged an incident and who called it a false alarm, by Telegram user id beside
    # the name shown (NULL: marked before this was kept): two people may share a name.
    """
    ALTER TABLE incidents ADD COLUMN acknowledged_by_id INTEGER;
    ALTER TABLE incidents ADD COLUMN false_alarm_by_id INTEGER;
    """,
)
