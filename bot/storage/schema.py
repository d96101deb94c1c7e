"""Haven's base schema: the numbered migrations every store gets, on every engine.

One script per number, in SQLite's dialect (``INTEGER PRIMARY KEY AUTOINCREMENT``,
``REAL``); the PostgreSQL engine translates the types mechanically
(:func:`bot.storage.dialect.postgres_ddl`). Append a migration, never edit one.
"""

from __future__ import annotations

BASE_MIGRATIONS: tuple[str, ...] = (
    # 1: everything the first release needs
    """
    CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE members (
        community_id TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
        first_seen REAL NOT NULL, welcomed_at REAL, first_post_at REAL, greeted_at REAL,
        posts INTEGER NOT NULL DEFAULT 0, replies INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (community_id, user_id));
    CREATE TABLE tracked_posts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL,
        channel_id TEXT NOT NULL, channel_name TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL, thread_id TEXT, author_id TEXT NOT NULL,
        posted_at REAL NOT NULL, link TEXT NOT NULL DEFAULT '', excerpt TEXT,
        state TEXT NOT NULL DEFAULT 'open', answered_at REAL, answered_by TEXT,
        reminded_at REAL, escalated_at REAL,
        UNIQUE (community_id, message_id));
    CREATE INDEX tracked_open ON tracked_posts (community_id, state, posted_at);
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL, kind TEXT NOT NULL,
        member_id TEXT NOT NULL, member_name TEXT NOT NULL DEFAULT '',
        channel_id TEXT NOT NULL DEFAULT '', channel_name TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL DEFAULT '', link TEXT NOT NULL DEFAULT '', excerpt TEXT,
        rule_id TEXT NOT NULL DEFAULT '', severity TEXT NOT NULL DEFAULT 'high',
        state TEXT NOT NULL DEFAULT 'open', count INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL, updated_at REAL NOT NULL,
        claimed_by TEXT, claimed_at REAL, resolved_by TEXT, resolved_at REAL, note TEXT,
        escalations INTEGER NOT NULL DEFAULT 0, messages TEXT NOT NULL DEFAULT '[]');
    CREATE INDEX alerts_state ON alerts (community_id, state);
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL, kind TEXT NOT NULL,
        key TEXT NOT NULL, due_at REAL NOT NULL, payload TEXT NOT NULL DEFAULT '{}',
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
        state TEXT NOT NULL DEFAULT 'pending', created_at REAL NOT NULL, done_at REAL);
    CREATE UNIQUE INDEX jobs_key ON jobs (kind, key) WHERE state = 'pending';
    CREATE INDEX jobs_due ON jobs (state, due_at);
    CREATE TABLE cases (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL, action TEXT NOT NULL,
        rule_id TEXT, reason TEXT NOT NULL DEFAULT '', actor_id TEXT NOT NULL,
        actor_name TEXT NOT NULL DEFAULT '', target_id TEXT NOT NULL,
        target_name TEXT NOT NULL DEFAULT '', channel_id TEXT, message_id TEXT, excerpt TEXT,
        created_at REAL NOT NULL);
    CREATE INDEX cases_target ON cases (community_id, target_id);
    CREATE TABLE cooldowns (
        community_id TEXT NOT NULL, rule_id TEXT NOT NULL, user_id TEXT NOT NULL,
        until REAL NOT NULL, PRIMARY KEY (community_id, rule_id, user_id));
    CREATE TABLE duty (
        community_id TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',
        on_duty INTEGER NOT NULL DEFAULT 0, since REAL, quiet_start INTEGER, quiet_end INTEGER,
        last_alerted_at REAL NOT NULL DEFAULT 0, PRIMARY KEY (community_id, user_id));
    CREATE TABLE handover (
        id INTEGER PRIMARY KEY AUTOINCREMENT, community_id TEXT NOT NULL,
        author_id TEXT NOT NULL, author_name TEXT NOT NULL DEFAULT '', text TEXT NOT NULL,
        created_at REAL NOT NULL);
    CREATE TABLE signposts (
        community_id TEXT NOT NULL, user_id TEXT NOT NULL, topic TEXT NOT NULL, at REAL NOT NULL,
        PRIMARY KEY (community_id, user_id, topic));
    """,
    # 2: messages already handled (ids and a digest, never text), so a platform that
    # delivers an event twice (a replayed sync after a crash, history catch-up) is
    # handled exactly once.
    """
    CREATE TABLE seen_messages (
        community_id TEXT NOT NULL, message_id TEXT NOT NULL, digest TEXT NOT NULL,
        at REAL NOT NULL, PRIMARY KEY (community_id, message_id, digest));
    CREATE INDEX seen_at ON seen_messages (at);
    """,
    # 3: field hardening. Each alert keeps the place of every post (channel and link) and
    # its urgency (``quiet`` notes are never pinged or re-escalated); the outbox makes
    # member-facing deliveries idempotent (stored before sending, marked after); deliveries
    # holds command and button delivery ids so each is acted on once.
    """
    ALTER TABLE alerts ADD COLUMN places TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE alerts ADD COLUMN urgency TEXT NOT NULL DEFAULT 'now';
    CREATE TABLE outbox (
        community_id TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
        result TEXT, created_at REAL NOT NULL, done_at REAL,
        PRIMARY KEY (community_id, key));
    CREATE INDEX outbox_at ON outbox (created_at);
    CREATE TABLE deliveries (
        community_id TEXT NOT NULL, delivery_id TEXT NOT NULL, state TEXT NOT NULL,
        at REAL NOT NULL, PRIMARY KEY (community_id, delivery_id));
    CREATE INDEX deliveries_at ON deliveries (at);
    """,
    # 4: care for moderators: how much of an alert's text each moderator wants to see
    # (on, spoiler or off; NULL = the community default).
    """
    ALTER TABLE duty ADD COLUMN excerpts TEXT;
    """,
    # 5: several processes share the jobs: a job is claimed by one process (``claimed_by``)
    # with a lease (``lease_until``); another takes it over once the lease runs out.
    """
    ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
    ALTER TABLE jobs ADD COLUMN lease_until REAL;
    """,
    # 6: numbers readable per community. Each community's alerts are #1, #2, #3 ..., its
    # cases likewise (``number``; ``id`` stays the row's key). ``counters`` holds the last
    # number given per community and kind, bumped in the transaction that inserts the row,
    # so processes sharing the database never give one number twice. Existing rows are
    # numbered per community in the order they were made; the counters start after them.
    # Open alerts whose number changed get an ``alert_refresh`` job: their messages are
    # edited once to show the new number (and buttons that carry it).
    """
    CREATE TABLE counters (
        community_id TEXT NOT NULL, kind TEXT NOT NULL, value INTEGER NOT NULL,
        PRIMARY KEY (community_id, kind));
    ALTER TABLE alerts ADD COLUMN number INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE cases ADD COLUMN number INTEGER NOT NULL DEFAULT 0;
    UPDATE alerts SET number = ranked.n FROM (
        SELECT id, ROW_NUMBER() OVER (PARTITION BY community_id ORDER BY id) AS n
        FROM alerts) AS ranked WHERE ranked.id = alerts.id;
    UPDATE cases SET number = ranked.n FROM (
        SELECT id, ROW_NUMBER() OVER (PARTITION BY community_id ORDER BY id) AS n
        FROM cases) AS ranked WHERE ranked.id = cases.id;
    INSERT INTO counters (community_id, kind, value)
        SELECT community_id, 'alert', MAX(number) FROM alerts GROUP BY community_id;
    INSERT INTO counters (community_id, kind, value)
        SELECT community_id, 'case', MAX(number) FROM cases GROUP BY community_id;
    CREATE UNIQUE INDEX alerts_number ON alerts (community_id, number);
    CREATE UNIQUE INDEX cases_number ON cases (community_id, number);
    INSERT INTO jobs (community_id, kind, key, due_at, payload, created_at)
        SELECT community_id, 'alert_refresh', 'renumbered:' || CAST(id AS TEXT), 0,
               '{"alert_id": ' || CAST(id AS TEXT) || '}', 0
        FROM alerts WHERE state IN ('open', 'claimed') AND number <> id AND messages <> '[]';
    """,
    # 7: why the semantic stage raised an alert (its score and the closest labelled corpus
    # examples, never the member's words), shown to moderators on the alert.
    """
    ALTER TABLE alerts ADD COLUMN reason TEXT;
    """,
)
"""Haven's own schema, numbered 1, 2, 3 ... (SQLite: ``PRAGMA user_version``; PostgreSQL:
the ``haven_schema`` table). Written in SQLite's dialect; :mod:`bot.storage.dialect`
translates it for PostgreSQL."""
