//! The schema, as an ordered list of migrations per backend, with one
//! version number between them. SQLite's `PRAGMA user_version` and
//! PostgreSQL's `llmnode_schema` table record how many have been applied;
//! opening a store applies the rest in one transaction, so a store is never
//! left half-upgraded. On PostgreSQL, daemons starting together take an
//! advisory lock first, so the migrations run once.

use super::sql::{Backend, Db};
use super::{Location, StoreError};

/// Each entry upgrades the schema by one version. Append only: never edit a
/// migration that has shipped.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: workspaces, users and tokens, connections and their sealed secrets,
    // plugins, and the append-only audit log.
    r#"
    CREATE TABLE workspaces (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        -- This workspace's data key, wrapped by the master key.
        data_key    BLOB NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    CREATE TABLE users (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_ms  INTEGER NOT NULL
    );
    CREATE TABLE api_tokens (
        id            INTEGER PRIMARY KEY,
        user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
        -- SHA-256 of the token; the token itself is shown once and never stored.
        token_hash    BLOB NOT NULL UNIQUE,
        created_ms    INTEGER NOT NULL,
        revoked_ms    INTEGER
    );
    CREATE TABLE connections (
        id            INTEGER PRIMARY KEY,
        workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        provider      TEXT NOT NULL,
        -- Public settings as JSON (base URL, models, limits, …); never secrets.
        settings      TEXT NOT NULL,
        enabled       INTEGER NOT NULL DEFAULT 1,
        created_ms    INTEGER NOT NULL,
        updated_ms    INTEGER NOT NULL,
        UNIQUE (workspace_id, name)
    );
    CREATE TABLE connection_secrets (
        connection_id  INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        -- `api_key`, `aws_secret_access_key`, `header:NAME`, …
        field          TEXT NOT NULL,
        -- AES-256-GCM under the workspace's data key, bound to (workspace, connection, field).
        sealed         BLOB NOT NULL,
        -- A masked hint for operators, e.g. `sk-…a1b2`.
        hint           TEXT NOT NULL,
        PRIMARY KEY (connection_id, field)
    );
    CREATE TABLE plugins (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        version    TEXT NOT NULL,
        sha256     TEXT NOT NULL,
        file       TEXT NOT NULL,
        added_ms   INTEGER NOT NULL,
        UNIQUE (name, version)
    );
    CREATE TABLE audit_log (
        id            INTEGER PRIMARY KEY,
        at_ms         INTEGER NOT NULL,
        workspace_id  INTEGER,
        actor         TEXT NOT NULL,
        action        TEXT NOT NULL,
        target        TEXT NOT NULL,
        -- JSON: what changed (field names, never secret values).
        detail        TEXT NOT NULL
    );
    CREATE INDEX audit_by_workspace ON audit_log (workspace_id, at_ms);
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    "#,
    // 2: usage events (one row per attempt), per-workspace price overrides,
    // alert settings and the alerts that fired.
    r#"
    CREATE TABLE usage_events (
        id                  INTEGER PRIMARY KEY,
        at_ms               INTEGER NOT NULL,
        workspace_id        INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        workflow            TEXT NOT NULL,
        node                TEXT NOT NULL,
        connection          TEXT NOT NULL,
        provider            TEXT NOT NULL,
        model               TEXT NOT NULL,
        input_tokens        INTEGER NOT NULL,
        output_tokens       INTEGER NOT NULL,
        cache_read_tokens   INTEGER NOT NULL,
        cache_write_tokens  INTEGER NOT NULL,
        reasoning_tokens    INTEGER NOT NULL,
        -- Cost in nano-dollars, computed once when the attempt was recorded.
        cost_nusd           INTEGER NOT NULL,
        latency_ms          REAL NOT NULL,
        ttft_ms             REAL,
        -- NULL when the attempt served its node; else its error class.
        error_class         TEXT,
        streamed            INTEGER NOT NULL
    );
    CREATE INDEX usage_by_time ON usage_events (workspace_id, at_ms);
    CREATE INDEX usage_by_connection ON usage_events (workspace_id, connection, at_ms);
    CREATE TABLE price_overrides (
        workspace_id       INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        provider           TEXT NOT NULL,
        model              TEXT NOT NULL,
        -- USD per million tokens.
        input              REAL NOT NULL,
        output             REAL NOT NULL,
        cache_read         REAL,
        cache_write        REAL,
        updated_ms         INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, provider, model)
    );
    CREATE TABLE alert_settings (
        workspace_id       INTEGER PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
        -- Public settings as JSON (thresholds, window); the webhook URL is sealed.
        settings           TEXT NOT NULL,
        webhook_sealed     BLOB,
        webhook_hint       TEXT,
        updated_ms         INTEGER NOT NULL
    );
    CREATE TABLE alerts (
        id                 INTEGER PRIMARY KEY,
        workspace_id       INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        kind               TEXT NOT NULL,
        -- The connection the alert is about; '' for workspace-wide alerts.
        subject            TEXT NOT NULL,
        -- The window the condition was seen in: one alert per condition per window.
        window_start_ms    INTEGER NOT NULL,
        fired_ms           INTEGER NOT NULL,
        value              REAL NOT NULL,
        threshold          REAL NOT NULL,
        message            TEXT NOT NULL,
        delivered_ms       INTEGER,
        delivery_attempts  INTEGER NOT NULL DEFAULT 0,
        delivery_error     TEXT,
        UNIQUE (workspace_id, kind, subject, window_start_ms)
    );
    CREATE INDEX alerts_by_time ON alerts (workspace_id, fired_ms);
    "#,
    // 3: the contract version of each installed plugin (every plugin
    // installed before this migration was built for 0.1.0, the only one then).
    r#"
    ALTER TABLE plugins ADD COLUMN contract_version TEXT NOT NULL DEFAULT '0.1.0';
    "#,
    // 4: stored workflows and chat routes (the daemon's named definitions).
    r#"
    CREATE TABLE definitions (
        workspace_id       INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        -- 'workflow' or 'route'.
        kind               TEXT NOT NULL,
        name               TEXT NOT NULL,
        -- The definition as the caller sent it (JSON), validated before it was stored.
        body               TEXT NOT NULL,
        -- The connections it names (JSON array), so a delete can say who breaks.
        connections        TEXT NOT NULL,
        created_ms         INTEGER NOT NULL,
        updated_ms         INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, kind, name)
    );
    "#,
    // 5: limits shared by every process on this store (RPM/TPM windows, the
    // day's spend and the budget held by calls in flight, circuit breakers).
    r#"
    CREATE TABLE limit_windows (
        workspace_id       INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        connection         TEXT NOT NULL,
        -- 'rpm' or 'tpm'.
        kind               TEXT NOT NULL,
        -- The one-minute window: (second, units) pairs, 16 bytes each.
        buckets            BLOB NOT NULL,
        PRIMARY KEY (workspace_id, connection, kind)
    );
    CREATE TABLE budget_days (
        workspace_id       INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        connection         TEXT NOT NULL,
        -- Days since the Unix epoch (UTC).
        day                INTEGER NOT NULL,
        -- Booked with each usage event, in the same transaction.
        spent_nusd         INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, connection, day)
    );
    INSERT INTO budget_days (workspace_id, connection, day, spent_nusd)
        SELECT workspace_id, connection, at_ms / 86400000, SUM(cost_nusd)
        FROM usage_events GROUP BY workspace_id, connection, at_ms / 86400000;
    -- Processes holding budget for calls in flight; a holder that stops
    -- beating is dead, and its holds are released.
    CREATE TABLE limit_holders (
        holder             TEXT PRIMARY KEY,
        heartbeat_ms       INTEGER NOT NULL
    );
    CREATE TABLE budget_holds (
        id                 INTEGER PRIMARY KEY,
        holder             TEXT NOT NULL,
        workspace_id       INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        connection         TEXT NOT NULL,
        day                INTEGER NOT NULL,
        nusd               INTEGER NOT NULL
    );
    CREATE INDEX budget_holds_by_connection ON budget_holds (workspace_id, connection, day);
    CREATE INDEX budget_holds_by_holder ON budget_holds (holder);
    -- 1 for an attempt of a model nobody priced (recorded at $0, flagged in reports).
    ALTER TABLE usage_events ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE breakers (
        workspace_id       INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        connection         TEXT NOT NULL,
        failures           INTEGER NOT NULL,
        open_until_ms      INTEGER,
        PRIMARY KEY (workspace_id, connection)
    );
    "#,
    // 6: `prompt_caching` is unset unless an operator chose it (rows written
    // while it was a plain boolean stored `false` for "not chosen"); price
    // overrides of long-lived cache writes.
    r#"
    ALTER TABLE price_overrides ADD COLUMN cache_write_long REAL;
    UPDATE connections SET settings = json_remove(settings, '$.prompt_caching')
        WHERE json_extract(settings, '$.prompt_caching') = 0;
    "#,
    // 7: the configuration's version, bumped by every audited change in its
    // own transaction: daemons sharing a store notice a change by it (and,
    // on PostgreSQL, by a notification sent on commit).
    r#"
    CREATE TABLE config_version (
        id                 INTEGER PRIMARY KEY CHECK (id = 1),
        version            INTEGER NOT NULL
    );
    INSERT INTO config_version (id, version) VALUES (1, 0);
    ALTER TABLE audit_log ADD COLUMN config_version INTEGER;
    "#,
    // 8: who caused each usage event (the API token's user and id, or
    // `cli:ACCOUNT`; '' for events recorded before), each token's own limits
    // and allow-lists (JSON), and when each secret was last set (secrets
    // stored before count from their connection's creation).
    r#"
    ALTER TABLE usage_events ADD COLUMN user_name TEXT NOT NULL DEFAULT '';
    ALTER TABLE usage_events ADD COLUMN token_id INTEGER;
    ALTER TABLE api_tokens ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE connection_secrets ADD COLUMN set_ms INTEGER NOT NULL DEFAULT 0;
    UPDATE connection_secrets SET set_ms =
        (SELECT created_ms FROM connections c WHERE c.id = connection_secrets.connection_id);
    "#,
    // 9: per-workspace settings (the approval workflow, the prompt monitor's
    // policy), and changes awaiting a second admin's approval: a new
    // connection, an edit of a base URL or key (its new secrets sealed
    // beside it until approved), an installed plugin.
    r#"
    ALTER TABLE workspaces ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
    CREATE TABLE approvals (
        id            INTEGER PRIMARY KEY,
        workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        -- 'connection.create', 'connection.edit' or 'plugin.install'.
        kind          TEXT NOT NULL,
        -- The connection's or the plugin's name.
        target        TEXT NOT NULL,
        -- JSON: the change (public settings, secret field names, plugin digest); never a secret.
        detail        TEXT NOT NULL,
        requested_by  TEXT NOT NULL,
        requested_ms  INTEGER NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'cancelled')),
        decided_by    TEXT,
        decided_ms    INTEGER
    );
    CREATE INDEX approvals_by_state ON approvals (workspace_id, state);
    CREATE TABLE approval_secrets (
        approval_id   INTEGER NOT NULL REFERENCES approvals(id) ON DELETE CASCADE,
        field         TEXT NOT NULL,
        -- Sealed for the connection's row, as connection_secrets will hold it.
        sealed        BLOB NOT NULL,
        hint          TEXT NOT NULL,
        PRIMARY KEY (approval_id, field)
    );
    "#,
    // 10: alert channels (webhooks, now with a body format, and email over
    // SMTP), the workspace's one webhook moved in as the channel `webhook`;
    // and the prompt monitor's prompt bytes per sender and hour, which every
    // daemon on the store adds to and reads its baselines from.
    r#"
    CREATE TABLE alert_channels (
        workspace_id   INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        name           TEXT NOT NULL,
        -- Public settings as JSON, tagged by kind; never a secret.
        settings       TEXT NOT NULL,
        -- The webhook URL or the SMTP password, sealed under the workspace's data key.
        secret_sealed  BLOB,
        -- What operators see of where it delivers: scheme and host, or the mail server.
        hint           TEXT NOT NULL,
        updated_ms     INTEGER NOT NULL,
        PRIMARY KEY (workspace_id, name)
    );
    INSERT INTO alert_channels (workspace_id, name, settings, secret_sealed, hint, updated_ms)
        SELECT workspace_id, 'webhook', '{"kind":"webhook","format":"json"}', webhook_sealed,
               COALESCE(webhook_hint, ''), updated_ms
        FROM alert_settings WHERE webhook_sealed IS NOT NULL;
    ALTER TABLE alert_settings DROP COLUMN webhook_sealed;
    ALTER TABLE alert_settings DROP COLUMN webhook_hint;
    CREATE TABLE volume_hours (
        -- `workflow:WORKSPACE_ID:NAME` or `token:ID`.
        sender         TEXT NOT NULL,
        -- Hours since the epoch (UTC).
        hour           INTEGER NOT NULL,
        bytes          INTEGER NOT NULL,
        PRIMARY KEY (sender, hour)
    );
    CREATE INDEX volume_by_hour ON volume_hours (hour);
    "#,
    // 11: price overrides of reasoning tokens.
    r#"
    ALTER TABLE price_overrides ADD COLUMN reasoning REAL;
    "#,
];

/// PostgreSQL stores begin at this schema version: the SQLite migrations
/// before it never ran there (nothing older was ever stored on a server).
const PG_BASE: i64 = 7;

/// PostgreSQL's migrations, from [`PG_BASE`] on. Append only, in step with
/// [`MIGRATIONS`]: entry `i` brings the schema to version `PG_BASE + i`.
const PG_MIGRATIONS: &[&str] = &[
    // 7: everything SQLite's migrations 1 to 7 built.
    r#"
    CREATE TABLE workspaces (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        data_key    BYTEA NOT NULL,
        created_ms  BIGINT NOT NULL
    );
    CREATE TABLE users (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_ms  BIGINT NOT NULL
    );
    CREATE TABLE api_tokens (
        id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        user_id       BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        workspace_id  BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
        token_hash    BYTEA NOT NULL UNIQUE,
        created_ms    BIGINT NOT NULL,
        revoked_ms    BIGINT
    );
    CREATE TABLE connections (
        id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        workspace_id  BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        provider      TEXT NOT NULL,
        settings      TEXT NOT NULL,
        enabled       BIGINT NOT NULL DEFAULT 1,
        created_ms    BIGINT NOT NULL,
        updated_ms    BIGINT NOT NULL,
        UNIQUE (workspace_id, name)
    );
    CREATE TABLE connection_secrets (
        connection_id  BIGINT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        field          TEXT NOT NULL,
        sealed         BYTEA NOT NULL,
        hint           TEXT NOT NULL,
        PRIMARY KEY (connection_id, field)
    );
    CREATE TABLE plugins (
        id                BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name              TEXT NOT NULL,
        version           TEXT NOT NULL,
        sha256            TEXT NOT NULL,
        file              TEXT NOT NULL,
        added_ms          BIGINT NOT NULL,
        contract_version  TEXT NOT NULL DEFAULT '0.1.0',
        UNIQUE (name, version)
    );
    CREATE TABLE audit_log (
        id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        at_ms           BIGINT NOT NULL,
        workspace_id    BIGINT,
        actor           TEXT NOT NULL,
        action          TEXT NOT NULL,
        target          TEXT NOT NULL,
        detail          TEXT NOT NULL,
        config_version  BIGINT
    );
    CREATE INDEX audit_by_workspace ON audit_log (workspace_id, at_ms);
    CREATE INDEX audit_by_version ON audit_log (config_version);
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
    CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
    CREATE TABLE usage_events (
        id                  BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        at_ms               BIGINT NOT NULL,
        workspace_id        BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        workflow            TEXT NOT NULL,
        node                TEXT NOT NULL,
        connection          TEXT NOT NULL,
        provider            TEXT NOT NULL,
        model               TEXT NOT NULL,
        input_tokens        BIGINT NOT NULL,
        output_tokens       BIGINT NOT NULL,
        cache_read_tokens   BIGINT NOT NULL,
        cache_write_tokens  BIGINT NOT NULL,
        reasoning_tokens    BIGINT NOT NULL,
        cost_nusd           BIGINT NOT NULL,
        latency_ms          DOUBLE PRECISION NOT NULL,
        ttft_ms             DOUBLE PRECISION,
        error_class         TEXT,
        streamed            BIGINT NOT NULL,
        unpriced            BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX usage_by_time ON usage_events (workspace_id, at_ms);
    CREATE INDEX usage_by_connection ON usage_events (workspace_id, connection, at_ms);
    CREATE TABLE price_overrides (
        workspace_id       BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        provider           TEXT NOT NULL,
        model              TEXT NOT NULL,
        input              DOUBLE PRECISION NOT NULL,
        output             DOUBLE PRECISION NOT NULL,
        cache_read         DOUBLE PRECISION,
        cache_write        DOUBLE PRECISION,
        updated_ms         BIGINT NOT NULL,
        cache_write_long   DOUBLE PRECISION,
        PRIMARY KEY (workspace_id, provider, model)
    );
    CREATE TABLE alert_settings (
        workspace_id       BIGINT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
        settings           TEXT NOT NULL,
        webhook_sealed     BYTEA,
        webhook_hint       TEXT,
        updated_ms         BIGINT NOT NULL
    );
    CREATE TABLE alerts (
        id                 BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        workspace_id       BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        kind               TEXT NOT NULL,
        subject            TEXT NOT NULL,
        window_start_ms    BIGINT NOT NULL,
        fired_ms           BIGINT NOT NULL,
        value              DOUBLE PRECISION NOT NULL,
        threshold          DOUBLE PRECISION NOT NULL,
        message            TEXT NOT NULL,
        delivered_ms       BIGINT,
        delivery_attempts  BIGINT NOT NULL DEFAULT 0,
        delivery_error     TEXT,
        UNIQUE (workspace_id, kind, subject, window_start_ms)
    );
    CREATE INDEX alerts_by_time ON alerts (workspace_id, fired_ms);
    CREATE TABLE definitions (
        workspace_id       BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        kind               TEXT NOT NULL,
        name               TEXT NOT NULL,
        body               TEXT NOT NULL,
        connections        TEXT NOT NULL,
        created_ms         BIGINT NOT NULL,
        updated_ms         BIGINT NOT NULL,
        PRIMARY KEY (workspace_id, kind, name)
    );
    CREATE TABLE limit_windows (
        workspace_id       BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        connection         TEXT NOT NULL,
        kind               TEXT NOT NULL,
        buckets            BYTEA NOT NULL,
        PRIMARY KEY (workspace_id, connection, kind)
    );
    CREATE TABLE budget_days (
        workspace_id       BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        connection         TEXT NOT NULL,
        day                BIGINT NOT NULL,
        spent_nusd         BIGINT NOT NULL,
        PRIMARY KEY (workspace_id, connection, day)
    );
    CREATE TABLE limit_holders (
        holder             TEXT PRIMARY KEY,
        heartbeat_ms       BIGINT NOT NULL
    );
    CREATE TABLE budget_holds (
        id                 BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        holder             TEXT NOT NULL,
        workspace_id       BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        connection         TEXT NOT NULL,
        day                BIGINT NOT NULL,
        nusd               BIGINT NOT NULL
    );
    CREATE INDEX budget_holds_by_connection ON budget_holds (workspace_id, connection, day);
    CREATE INDEX budget_holds_by_holder ON budget_holds (holder);
    CREATE TABLE breakers (
        workspace_id       BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        connection         TEXT NOT NULL,
        failures           BIGINT NOT NULL,
        open_until_ms      BIGINT,
        PRIMARY KEY (workspace_id, connection)
    );
    CREATE TABLE config_version (
        id                 BIGINT PRIMARY KEY CHECK (id = 1),
        version            BIGINT NOT NULL
    );
    INSERT INTO config_version (id, version) VALUES (1, 0);
    "#,
    // 8: as SQLite's 8.
    r#"
    ALTER TABLE usage_events ADD COLUMN user_name TEXT NOT NULL DEFAULT '';
    ALTER TABLE usage_events ADD COLUMN token_id BIGINT;
    ALTER TABLE api_tokens ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE connection_secrets ADD COLUMN set_ms BIGINT NOT NULL DEFAULT 0;
    UPDATE connection_secrets SET set_ms =
        (SELECT created_ms FROM connections c WHERE c.id = connection_secrets.connection_id);
    "#,
    // 9: as SQLite's 9.
    r#"
    ALTER TABLE workspaces ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
    CREATE TABLE approvals (
        id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        workspace_id  BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        kind          TEXT NOT NULL,
        target        TEXT NOT NULL,
        detail        TEXT NOT NULL,
        requested_by  TEXT NOT NULL,
        requested_ms  BIGINT NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'cancelled')),
        decided_by    TEXT,
        decided_ms    BIGINT
    );
    CREATE INDEX approvals_by_state ON approvals (workspace_id, state);
    CREATE TABLE approval_secrets (
        approval_id   BIGINT NOT NULL REFERENCES approvals(id) ON DELETE CASCADE,
        field         TEXT NOT NULL,
        sealed        BYTEA NOT NULL,
        hint          TEXT NOT NULL,
        PRIMARY KEY (approval_id, field)
    );
    "#,
    // 10: as SQLite's 10.
    r#"
    CREATE TABLE alert_channels (
        workspace_id   BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
        name           TEXT NOT NULL,
        settings       TEXT NOT NULL,
        secret_sealed  BYTEA,
        hint           TEXT NOT NULL,
        updated_ms     BIGINT NOT NULL,
        PRIMARY KEY (workspace_id, name)
    );
    INSERT INTO alert_channels (workspace_id, name, settings, secret_sealed, hint, updated_ms)
        SELECT workspace_id, 'webhook', '{"kind":"webhook","format":"json"}', webhook_sealed,
               COALESCE(webhook_hint, ''), updated_ms
        FROM alert_settings WHERE webhook_sealed IS NOT NULL;
    ALTER TABLE alert_settings DROP COLUMN webhook_sealed;
    ALTER TABLE alert_settings DROP COLUMN webhook_hint;
    CREATE TABLE volume_hours (
        sender         TEXT NOT NULL,
        hour           BIGINT NOT NULL,
        bytes          BIGINT NOT NULL,
        PRIMARY KEY (sender, hour)
    );
    CREATE INDEX volume_by_hour ON volume_hours (hour);
    "#,
    // 11: as SQLite's 11.
    r#"
    ALTER TABLE price_overrides ADD COLUMN reasoning DOUBLE PRECISION;
    "#,
];

const _: () = assert!(PG_BASE - 1 + PG_MIGRATIONS.len() as i64 == CURRENT, "both backends reach CURRENT");

/// The advisory lock daemons take to migrate a PostgreSQL store one at a time.
const PG_MIGRATION_LOCK: i64 = 0x6c6c_6d6e_6f64_6531;

/// The schema version this build writes.
pub const CURRENT: i64 = MIGRATIONS.len() as i64;

/// Bring `db` up to [`CURRENT`]; refuse a store written by a newer llmnode.
pub(super) fn apply(db: &Db, location: &Location) -> Result<(), StoreError> {
    match db.backend() {
        Backend::Sqlite => apply_sqlite(db, location),
        Backend::Postgres => {
            db.execute("SELECT pg_advisory_lock(?1)", crate::args![PG_MIGRATION_LOCK])?;
            let applied = apply_postgres(db, location);
            let unlocked = db.execute("SELECT pg_advisory_unlock(?1)", crate::args![PG_MIGRATION_LOCK]);
            applied.and(unlocked.map(drop))
        }
    }
}

fn too_new(location: &Location, found: i64) -> Result<(), StoreError> {
    if found > CURRENT {
        return Err(StoreError::TooNew { location: location.to_string(), found, supported: CURRENT });
    }
    Ok(())
}

fn apply_sqlite(db: &Db, location: &Location) -> Result<(), StoreError> {
    let lite = db.as_sqlite().expect("a SQLite store");
    let found: i64 = lite.pragma_query_value(None, "user_version", |r| r.get(0))?;
    too_new(location, found)?;
    if found == CURRENT {
        return Ok(());
    }
    db.batch("BEGIN IMMEDIATE")?;
    let upgraded = (|| {
        // Another process may have upgraded it while this one waited for the lock.
        let found: i64 = lite.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for sql in &MIGRATIONS[found.min(CURRENT) as usize..] {
            db.batch(sql)?;
        }
        lite.pragma_update(None, "user_version", CURRENT)?;
        Ok::<_, StoreError>(found)
    })();
    finish(db, upgraded)
}

fn apply_postgres(db: &Db, location: &Location) -> Result<(), StoreError> {
    db.batch("CREATE TABLE IF NOT EXISTS llmnode_schema (version BIGINT NOT NULL)")?;
    let found = db.query_opt("SELECT version FROM llmnode_schema", crate::args![], |r| r.get::<i64>(0))?.unwrap_or(0);
    too_new(location, found)?;
    if found == CURRENT {
        return Ok(());
    }
    if found != 0 && found < PG_BASE {
        return Err(StoreError::Malformed {
            what: "schema version",
            detail: format!("{found} on PostgreSQL, which starts at {PG_BASE}"),
        });
    }
    db.batch("BEGIN")?;
    let upgraded = (|| {
        let from = found.max(PG_BASE - 1);
        for sql in &PG_MIGRATIONS[(from - (PG_BASE - 1)) as usize..] {
            db.batch(sql)?;
        }
        db.execute("DELETE FROM llmnode_schema", crate::args![])?;
        db.execute("INSERT INTO llmnode_schema (version) VALUES (?1)", crate::args![CURRENT])?;
        Ok::<_, StoreError>(found)
    })();
    finish(db, upgraded)
}

/// Commit an upgrade that went through, roll back one that did not.
fn finish(db: &Db, upgraded: Result<i64, StoreError>) -> Result<(), StoreError> {
    match upgraded {
        Ok(from) => {
            db.batch("COMMIT")?;
            if from != CURRENT {
                tracing::info!(from, to = CURRENT, "store schema upgraded");
            }
            Ok(())
        }
        Err(e) => {
            let _ = db.batch("ROLLBACK");
            Err(e)
        }
    }
}
