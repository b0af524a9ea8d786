//! The embedded SQLite store (`GATEBOT_STORE=sqlite:PATH`). One connection
//! behind a mutex, used from blocking threads; WAL mode; records as JSON
//! next to the columns that are queried.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Params, Row, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::sqlite_checkpoint::{AUTOCHECKPOINT_PAGES, CHECKPOINT_EVERY, Checkpointer};
use super::{
    AuditEntry, Begin, DeployRecord, DispatchRecord, EnvWrite, GateRecord, JudgedOn, Store,
    StoreError, TransitionSaved, TransitionWrite, Versioned,
};
use crate::core::domain::{DispatchId, Environment, PrKey, RepoName, Sha};
use crate::core::gate::EnvRecord;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA busy_timeout = 5000;
CREATE TABLE IF NOT EXISTS dedupe (
    key TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gates (
    repo TEXT NOT NULL,
    pr INTEGER NOT NULL,
    version INTEGER NOT NULL,
    head_sha TEXT NOT NULL,
    open INTEGER NOT NULL,
    has_pending INTEGER NOT NULL,
    watch INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    PRIMARY KEY (repo, pr)
);
CREATE INDEX IF NOT EXISTS gates_head ON gates (repo, head_sha);
CREATE INDEX IF NOT EXISTS gates_pending ON gates (has_pending) WHERE has_pending = 1;
CREATE INDEX IF NOT EXISTS gates_watch ON gates (watch) WHERE watch = 1;
CREATE TABLE IF NOT EXISTS dispatches (
    repo TEXT NOT NULL,
    dispatch_id TEXT NOT NULL,
    run_id INTEGER,
    data TEXT NOT NULL,
    PRIMARY KEY (repo, dispatch_id)
);
CREATE INDEX IF NOT EXISTS dispatches_run ON dispatches (repo, run_id);
CREATE TABLE IF NOT EXISTS deploys (
    repo TEXT NOT NULL,
    environment TEXT NOT NULL,
    dispatch_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at_ns INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    PRIMARY KEY (repo, environment, dispatch_id)
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    repo TEXT NOT NULL,
    pr INTEGER,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_pr ON audit (repo, pr);
CREATE TABLE IF NOT EXISTS environments (
    repo TEXT NOT NULL,
    environment TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (repo, environment)
) WITHOUT ROWID;
";

/// Columns added after the first schema: (table, column, definition, what
/// rows written before it hold). Databases created before them get them on
/// open.
const ADDED_COLUMNS: &[(&str, &str, &str, &str)] = &[
    // Keys claimed before gatebot told "in progress" from "done" were all
    // finished work or released: done.
    (
        "dedupe",
        "done",
        "INTEGER NOT NULL DEFAULT 0",
        "UPDATE dedupe SET done = 1",
    ),
    // Filled below from each record's completion time.
    ("deploys", "at_ns", "INTEGER NOT NULL DEFAULT 0", "SELECT 1"),
];

/// Nanoseconds since the epoch, the sort key of the deploy history.
fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// Adds the [`ADDED_COLUMNS`] a database lacks and fills `deploys.at_ns`
/// from the records of deploys stored before it existed.
fn migrate(c: &mut Connection) -> Result<(), StoreError> {
    for (table, column, definition, backfill) in ADDED_COLUMNS {
        let present: bool = c
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
            ))
            .and_then(|mut st| st.exists(params![column]))
            .map_err(unavailable)?;
        if !present {
            c.execute_batch(&format!(
                "BEGIN; ALTER TABLE {table} ADD COLUMN {column} {definition}; {backfill}; COMMIT;"
            ))
            .map_err(unavailable)?;
        }
    }
    c.execute_batch("CREATE INDEX IF NOT EXISTS deploys_at ON deploys (repo, environment, at_ns)")
        .map_err(unavailable)?;
    let tx = c.transaction().map_err(unavailable)?;
    {
        let mut stmt = tx
            .prepare("SELECT rowid, data FROM deploys WHERE at_ns = 0")
            .map_err(unavailable)?;
        let rows: Vec<(i64, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(unavailable)?
            .collect::<Result<_, _>>()
            .map_err(unavailable)?;
        for (rowid, data) in rows {
            let record: DeployRecord = from_json(&data)?;
            tx.execute(
                "UPDATE deploys SET at_ns = ?1 WHERE rowid = ?2",
                params![nanos(record.at), rowid],
            )
            .map_err(unavailable)?;
        }
    }
    tx.commit().map_err(unavailable)
}

/// The stored record of dispatch `id`, if any.
fn read_dispatch(
    c: &Connection,
    repo: &str,
    id: &str,
) -> Result<Option<DispatchRecord>, StoreError> {
    let data: Option<String> = c
        .query_row(
            "SELECT data FROM dispatches WHERE repo = ?1 AND dispatch_id = ?2",
            params![repo, id],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    data.map(|d| from_json(&d)).transpose()
}

/// Applies `change` to a stored dispatch record in one transaction;
/// returns the record as stored afterwards (`None`: no such dispatch).
fn update_dispatch(
    c: &mut Connection,
    repo: &str,
    id: &str,
    change: impl FnOnce(&mut DispatchRecord),
) -> Result<Option<DispatchRecord>, StoreError> {
    let tx = c.transaction().map_err(unavailable)?;
    let Some(mut record) = read_dispatch(&tx, repo, id)? else {
        return Ok(None);
    };
    change(&mut record);
    tx.execute(
        "UPDATE dispatches SET run_id = ?3, data = ?4 WHERE repo = ?1 AND dispatch_id = ?2",
        params![repo, id, record.run_id.map(|r| r as i64), to_json(&record)?],
    )
    .map_err(unavailable)?;
    tx.commit().map_err(unavailable)?;
    Ok(Some(record))
}

/// Statements from the connection's cache: each SQL text is parsed once per
/// connection, not on every call.
trait Cached {
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}

/// Marks a dedupe key done (inserted when it was never begun).
const FINISH: &str = "INSERT INTO dedupe (key, expires_at, done) VALUES (?1, ?2, 1)
     ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, done = 1";

/// [`Store::begin`] of one key inside a transaction: an expired holder's
/// row is removed, then the key is taken unless someone holds it.
fn begin_in(c: &Connection, key: &str, now_s: i64, expires: i64) -> Result<Begin, StoreError> {
    c.exec(
        "DELETE FROM dedupe WHERE key = ?1 AND expires_at <= ?2",
        params![key, now_s],
    )
    .map_err(unavailable)?;
    let inserted = c
        .exec(
            "INSERT OR IGNORE INTO dedupe (key, expires_at, done) VALUES (?1, ?2, 0)",
            params![key, expires],
        )
        .map_err(unavailable)?;
    if inserted == 1 {
        return Ok(Begin::Fresh);
    }
    let done: bool = c
        .row(
            "SELECT done FROM dedupe WHERE key = ?1",
            params![key],
            |r| r.get(0),
        )
        .map_err(unavailable)?;
    Ok(if done { Begin::Done } else { Begin::InProgress })
}

/// An audit line as its columns: (repo, pr, data).
type AuditRow = (String, Option<i64>, String);

fn audit_rows(entries: &[AuditEntry]) -> Result<Vec<AuditRow>, StoreError> {
    entries
        .iter()
        .map(|e| Ok((e.repo.to_string(), e.pr.map(|p| p as i64), to_json(e)?)))
        .collect()
}

fn insert_audit_rows(c: &Connection, rows: &[AuditRow]) -> Result<(), StoreError> {
    for (repo, pr, data) in rows {
        c.exec(
            "INSERT INTO audit (repo, pr, data) VALUES (?1, ?2, ?3)",
            params![repo, pr, data],
        )
        .map_err(unavailable)?;
    }
    Ok(())
}

/// A gate record as the columns it is stored in.
struct GateRow {
    repo: String,
    number: i64,
    head: String,
    open: bool,
    pending: bool,
    watch: bool,
    data: String,
}

impl GateRow {
    fn of(record: &GateRecord) -> Result<Self, StoreError> {
        Ok(GateRow {
            repo: record.state.pr.repo.to_string(),
            number: record.state.pr.number as i64,
            head: record.state.head_sha.to_string(),
            open: record.state.open,
            pending: !record.pending.is_empty(),
            watch: record.state.needs_watch(),
            data: to_json(record)?,
        })
    }
}

/// A gate's stored version and JSON, if there is one.
fn read_gate_row(
    c: &Connection,
    repo: &str,
    number: i64,
) -> Result<Option<(i64, String)>, StoreError> {
    c.row(
        "SELECT version, data FROM gates WHERE repo = ?1 AND pr = ?2",
        params![repo, number],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(unavailable)
}

/// Writes `row` if the stored version is `expected` (`None`: if there is
/// no row yet); returns the new version, or [`StoreError::Conflict`]. Run
/// inside a transaction. An indexed column is written only when its value
/// changes: SQLite rewrites an index's entry for every column a statement
/// sets, changed or not, which is a page more in the log per index.
fn write_gate(c: &Connection, row: &GateRow, expected: Option<u64>) -> Result<u64, StoreError> {
    let GateRow {
        repo,
        number,
        head,
        open,
        pending,
        watch,
        data,
    } = row;
    let Some(v) = expected else {
        let inserted = c
            .exec(
                "INSERT OR IGNORE INTO gates (repo, pr, version, head_sha, open, has_pending, watch, data)
                 VALUES (?1, ?2, 1, ?3, ?4, ?5, ?7, ?6)",
                params![repo, number, head, open, pending, data, watch],
            )
            .map_err(unavailable)?;
        return if inserted == 1 {
            Ok(1)
        } else {
            Err(StoreError::Conflict)
        };
    };
    let updated = c
        .exec(
            "UPDATE gates SET version = version + 1, open = ?3, data = ?4
             WHERE repo = ?1 AND pr = ?2 AND version = ?5",
            params![repo, number, open, data, v as i64],
        )
        .map_err(unavailable)?;
    if updated != 1 {
        return Err(StoreError::Conflict);
    }
    let indexed: [(&str, &dyn rusqlite::ToSql); 3] = [
        (
            "UPDATE gates SET head_sha = ?3 WHERE repo = ?1 AND pr = ?2 AND head_sha IS NOT ?3",
            head,
        ),
        (
            "UPDATE gates SET has_pending = ?3 WHERE repo = ?1 AND pr = ?2 AND has_pending IS NOT ?3",
            pending,
        ),
        (
            "UPDATE gates SET watch = ?3 WHERE repo = ?1 AND pr = ?2 AND watch IS NOT ?3",
            watch,
        ),
    ];
    for (sql, value) in indexed {
        c.exec(sql, params![repo, number, value])
            .map_err(unavailable)?;
    }
    Ok(v + 1)
}

/// An environment record's row to write: repository, environment, the
/// version it was read at, its JSON.
type EnvRow = (String, String, Option<u64>, String);

/// Writes each environment record if its stored version is the one
/// expected (`None`: if there is none yet), else [`StoreError::Conflict`].
/// Run inside a transaction, which the caller rolls back on a conflict.
fn write_environments(c: &Connection, writes: &[EnvRow]) -> Result<(), StoreError> {
    for (repo, env, expected, data) in writes {
        let written = match expected {
            None => c.exec(
                "INSERT OR IGNORE INTO environments (repo, environment, version, data)
                 VALUES (?1, ?2, 1, ?3)",
                params![repo, env, data],
            ),
            Some(v) => c.exec(
                "UPDATE environments SET version = version + 1, data = ?3
                 WHERE repo = ?1 AND environment = ?2 AND version = ?4",
                params![repo, env, data, *v as i64],
            ),
        }
        .map_err(unavailable)?;
        if written != 1 {
            return Err(StoreError::Conflict);
        }
    }
    Ok(())
}

/// The rows [`write_environments`] writes.
fn env_rows(writes: &[EnvWrite<'_>]) -> Result<Vec<EnvRow>, StoreError> {
    writes
        .iter()
        .map(|w| {
            Ok((
                w.record.repo.to_string(),
                w.record.environment.as_str().to_string(),
                w.expected,
                to_json(w.record)?,
            ))
        })
        .collect()
}

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// Stops when the last clone of the store is dropped.
    checkpointer: Option<Arc<Checkpointer>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, checkpointed
    /// every [`CHECKPOINT_EVERY`] off the request path.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_checkpointed(path, CHECKPOINT_EVERY)
    }

    /// [`SqliteStore::open`] with another checkpoint period.
    pub fn open_checkpointed(path: impl AsRef<Path>, every: Duration) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(unavailable)?;
        let mut store = Self::init(conn)?;
        // After the schema exists, so that the checkpointer's connection
        // opens a database already in WAL mode.
        store.checkpointer = Some(Arc::new(
            Checkpointer::start(path, every).map_err(unavailable)?,
        ));
        Ok(store)
    }

    /// A private in-memory database (tests, `--dry-run` without a path).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(unavailable)?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        conn.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES)
            .map_err(unavailable)?;
        migrate(&mut conn)?;
        // Room for every statement the store runs (about 30), so none is
        // parsed again once the cache is warm.
        conn.set_prepared_statement_cache_capacity(64);
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            checkpointer: None,
        })
    }

    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        metrics::counter!("gatebot_store_requests_total", "store" => "sqlite").increment(1);
        // Uncontended, the statement runs here: a cached statement on an
        // open WAL database takes microseconds, less than a hop to the
        // blocking pool and back. Contended, the wait for the lock (and a
        // checkpoint's fsync) goes to the blocking pool, off the runtime.
        // A panic while the lock was held (contained to its delivery, see
        // `crate::app::panics`) must not take the store from every other one:
        // the connection is taken back. A transaction the panic cut short
        // was rolled back when it was dropped.
        match self.conn.try_lock() {
            Ok(mut guard) => return f(&mut guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                return f(&mut poisoned.into_inner());
            }
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(unavailable)?
    }

    /// Keys of the gates matching a fixed `WHERE` clause.
    async fn keys_where(&self, clause: &'static str) -> Result<Vec<PrKey>, StoreError> {
        self.with(move |c| {
            let sql = format!("SELECT repo, pr FROM gates WHERE {clause} ORDER BY repo, pr");
            let mut stmt = c.prepare(&sql).map_err(unavailable)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                let (repo, pr) = row.map_err(unavailable)?;
                let repo =
                    RepoName::parse(&repo).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                out.push(PrKey {
                    repo,
                    number: pr as u64,
                });
            }
            Ok(out)
        })
        .await
    }
}

/// A line of the deploy history, ready to insert.
struct DeployRow {
    repo: String,
    env: String,
    id: String,
    at_ns: i64,
    data: String,
}

impl DeployRow {
    fn of(record: &DeployRecord) -> Result<DeployRow, StoreError> {
        Ok(DeployRow {
            repo: record.repo.to_string(),
            env: record.environment.to_string(),
            id: record.dispatch_id.to_string(),
            at_ns: nanos(record.at),
            data: to_json(record)?,
        })
    }

    /// Inserts it unless its dispatch has a line already.
    fn insert(&self, c: &Connection) -> Result<(), StoreError> {
        c.exec(
            "INSERT OR IGNORE INTO deploys (repo, environment, dispatch_id, seq, at_ns, data)
             VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM deploys), ?5, ?4)",
            params![self.repo, self.env, self.id, self.data, self.at_ns],
        )
        .map(|_| ())
        .map_err(unavailable)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.with(|c| c.row("SELECT 1", [], |_| Ok(())).map_err(unavailable))
            .await
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_string();
        self.with(move |c| {
            c.exec("DELETE FROM dedupe WHERE key = ?1", params![key])
                .map(|_| ())
                .map_err(unavailable)
        })
        .await
    }

    async fn begin(
        &self,
        key: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Begin, StoreError> {
        let mut begun = self.begin_many(&[key.to_string()], lease, now).await?;
        begun
            .pop()
            .ok_or_else(|| unavailable("no answer for the key"))
    }

    async fn begin_many(
        &self,
        keys: &[String],
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Begin>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.to_vec();
        let now_s = now.timestamp();
        let expires = now_s + lease.as_secs() as i64;
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            let mut out = Vec::with_capacity(keys.len());
            for key in &keys {
                out.push(begin_in(&tx, key, now_s, expires)?);
            }
            tx.commit().map_err(unavailable)?;
            Ok(out)
        })
        .await
    }

    async fn finish(
        &self,
        key: &str,
        keep: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = key.to_string();
        let expires = now.timestamp() + keep.as_secs() as i64;
        self.with(move |c| {
            c.exec(FINISH, params![key, expires])
                .map(|_| ())
                .map_err(unavailable)
        })
        .await
    }

    async fn load_gate(&self, pr: &PrKey) -> Result<Option<Versioned<GateRecord>>, StoreError> {
        let repo = pr.repo.to_string();
        let number = pr.number as i64;
        self.with(move |c| {
            read_gate_row(c, &repo, number)?
                .map(|(version, data)| {
                    Ok(Versioned {
                        version: version as u64,
                        value: GateRecord::decode(&data)?,
                    })
                })
                .transpose()
        })
        .await
    }

    async fn save_gate(
        &self,
        record: &GateRecord,
        expected: Option<u64>,
    ) -> Result<u64, StoreError> {
        let row = GateRow::of(record)?;
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            let version = write_gate(&tx, &row, expected)?;
            tx.commit().map_err(unavailable)?;
            Ok(version)
        })
        .await
    }

    async fn save_gate_and_environments(
        &self,
        record: &GateRecord,
        expected: Option<u64>,
        environments: &[EnvWrite<'_>],
    ) -> Result<u64, StoreError> {
        let row = GateRow::of(record)?;
        let envs = env_rows(environments)?;
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            let version = write_gate(&tx, &row, expected)?;
            write_environments(&tx, &envs)?;
            tx.commit().map_err(unavailable)?;
            Ok(version)
        })
        .await
    }

    async fn load_environments(
        &self,
        repo: &RepoName,
    ) -> Result<Vec<Versioned<EnvRecord>>, StoreError> {
        let repo = repo.to_string();
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT version, data FROM environments WHERE repo = ?1")
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![repo], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for row in rows {
                let (version, data) = row.map_err(unavailable)?;
                out.push(Versioned {
                    version: version as u64,
                    value: from_json(&data)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn commit_transition(
        &self,
        t: TransitionWrite<'_>,
    ) -> Result<TransitionSaved, StoreError> {
        let row = GateRow::of(t.record)?;
        let envs = env_rows(t.environments)?;
        let audits = audit_rows(t.audits)?;
        let deploys = t
            .deploys
            .iter()
            .map(DeployRow::of)
            .collect::<Result<Vec<_>, _>>()?;
        let claims = t.claims.to_vec();
        let now_s = t.now.timestamp();
        let claim_expires = now_s + t.claim_lease.as_secs() as i64;
        let settle = t
            .settles
            .map(|key| (key.to_string(), now_s + t.keep.as_secs() as i64));
        let expected = t.expected;
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            let version = write_gate(&tx, &row, expected)?;
            write_environments(&tx, &envs)?;
            insert_audit_rows(&tx, &audits)?;
            for deploy in &deploys {
                deploy.insert(&tx)?;
            }
            let mut begun = Vec::with_capacity(claims.len());
            for key in &claims {
                begun.push(begin_in(&tx, key, now_s, claim_expires)?);
            }
            if let Some((key, expires)) = &settle {
                tx.exec(FINISH, params![key, expires])
                    .map_err(unavailable)?;
            }
            tx.commit().map_err(unavailable)?;
            Ok(TransitionSaved {
                version,
                claims: begun,
                settled: settle.is_some(),
            })
        })
        .await
    }

    async fn gates_with_pending(&self) -> Result<Vec<PrKey>, StoreError> {
        self.keys_where("has_pending = 1").await
    }

    async fn gates_to_watch(&self) -> Result<Vec<PrKey>, StoreError> {
        self.keys_where("watch = 1").await
    }

    async fn prs_with_head(&self, repo: &RepoName, sha: &Sha) -> Result<Vec<u64>, StoreError> {
        let repo = repo.to_string();
        let sha = sha.to_string();
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT pr FROM gates WHERE repo = ?1 AND head_sha = ?2 AND open = 1 ORDER BY pr")
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![repo, sha], |r| r.get::<_, i64>(0))
                .map_err(unavailable)?;
            rows.map(|r| r.map(|n| n as u64).map_err(unavailable)).collect()
        })
        .await
    }

    async fn create_dispatch(&self, record: &DispatchRecord) -> Result<DispatchRecord, StoreError> {
        let data = to_json(record)?;
        let repo = record.repo.to_string();
        let id = record.deploy.dispatch_id.to_string();
        let run = record.run_id.map(|r| r as i64);
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            tx.exec(
                "INSERT OR IGNORE INTO dispatches (repo, dispatch_id, run_id, data) VALUES (?1, ?2, ?3, ?4)",
                params![repo, id, run, data],
            )
            .map_err(unavailable)?;
            let stored = read_dispatch(&tx, &repo, &id)?
                .ok_or_else(|| unavailable(format!("dispatch {id} vanished")))?;
            tx.commit().map_err(unavailable)?;
            Ok(stored)
        })
        .await
    }

    async fn create_dispatch_if(
        &self,
        record: &DispatchRecord,
        on: JudgedOn<'_>,
    ) -> Result<bool, StoreError> {
        let data = to_json(record)?;
        let repo = record.repo.to_string();
        let id = record.deploy.dispatch_id.to_string();
        let run = record.run_id.map(|r| r as i64);
        let gate_repo = on.pr.repo.to_string();
        let number = on.pr.number as i64;
        let gate_version = on.gate_version as i64;
        let envs: Vec<(String, Option<i64>)> = on
            .environments
            .iter()
            .map(|(env, v)| (env.as_str().to_string(), v.map(|v| v as i64)))
            .collect();
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            let version: Option<i64> = tx
                .query_row(
                    "SELECT version FROM gates WHERE repo = ?1 AND pr = ?2",
                    params![gate_repo, number],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            if version != Some(gate_version) {
                return Ok(false);
            }
            for (env, expected) in &envs {
                let version: Option<i64> = tx
                    .query_row(
                        "SELECT version FROM environments WHERE repo = ?1 AND environment = ?2",
                        params![gate_repo, env],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(unavailable)?;
                if version != *expected {
                    return Ok(false);
                }
            }
            let inserted = tx
                .exec(
                    "INSERT OR IGNORE INTO dispatches (repo, dispatch_id, run_id, data) VALUES (?1, ?2, ?3, ?4)",
                    params![repo, id, run, data],
                )
                .map_err(unavailable)?;
            if inserted == 0 {
                return Ok(false);
            }
            tx.commit().map_err(unavailable)?;
            Ok(true)
        })
        .await
    }

    async fn mark_dispatch_sent(
        &self,
        repo: &RepoName,
        dispatch_id: &DispatchId,
    ) -> Result<(), StoreError> {
        let repo = repo.to_string();
        let id = dispatch_id.to_string();
        self.with(move |c| {
            update_dispatch(c, &repo, &id, |r| {
                r.sent = true;
            })
            .map(|_| ())
        })
        .await
    }

    async fn link_dispatch_run(
        &self,
        repo: &RepoName,
        dispatch_id: &DispatchId,
        run_id: u64,
    ) -> Result<Option<u64>, StoreError> {
        let repo = repo.to_string();
        let id = dispatch_id.to_string();
        self.with(move |c| {
            let record = update_dispatch(c, &repo, &id, |r| {
                if r.run_id.is_none() {
                    r.run_id = Some(run_id);
                    r.sent = true;
                }
            })?;
            Ok(record.and_then(|r| r.run_id))
        })
        .await
    }

    async fn dispatch_by_id(
        &self,
        repo: &RepoName,
        dispatch_id: &DispatchId,
    ) -> Result<Option<DispatchRecord>, StoreError> {
        let repo = repo.to_string();
        let id = dispatch_id.to_string();
        self.with(move |c| read_dispatch(c, &repo, &id)).await
    }

    async fn dispatch_by_run(
        &self,
        repo: &RepoName,
        run_id: u64,
    ) -> Result<Option<DispatchRecord>, StoreError> {
        let repo = repo.to_string();
        self.with(move |c| {
            let data: Option<String> = c
                .row(
                    "SELECT data FROM dispatches WHERE repo = ?1 AND run_id = ?2",
                    params![repo, run_id as i64],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            data.map(|d| from_json(&d)).transpose()
        })
        .await
    }

    async fn record_deploy(&self, record: &DeployRecord) -> Result<(), StoreError> {
        let row = DeployRow::of(record)?;
        self.with(move |c| row.insert(c)).await
    }

    async fn deploy_history(
        &self,
        repo: &RepoName,
        env: &Environment,
        limit: usize,
    ) -> Result<Vec<DeployRecord>, StoreError> {
        let repo = repo.to_string();
        let env = env.to_string();
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT data FROM deploys WHERE repo = ?1 AND environment = ?2
                     ORDER BY at_ns DESC, seq DESC LIMIT ?3",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![repo, env, limit as i64], |r| r.get::<_, String>(0))
                .map_err(unavailable)?;
            rows.map(|r| from_json(&r.map_err(unavailable)?)).collect()
        })
        .await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.append_audits(std::slice::from_ref(entry)).await
    }

    async fn append_audits(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let rows = audit_rows(entries)?;
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            insert_audit_rows(&tx, &rows)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn finish_with_audit(
        &self,
        key: &str,
        keep: Duration,
        now: DateTime<Utc>,
        entries: &[AuditEntry],
    ) -> Result<(), StoreError> {
        let key = key.to_string();
        let expires = now.timestamp() + keep.as_secs() as i64;
        let rows = audit_rows(entries)?;
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            tx.exec(FINISH, params![key, expires])
                .map_err(unavailable)?;
            insert_audit_rows(&tx, &rows)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    async fn finish_effect(
        &self,
        keys: &[String],
        keep: Duration,
        now: DateTime<Utc>,
        entries: &[AuditEntry],
        pr: &PrKey,
        done: &[u64],
    ) -> Result<bool, StoreError> {
        let keys = keys.to_vec();
        let expires = now.timestamp() + keep.as_secs() as i64;
        let rows = audit_rows(entries)?;
        let repo = pr.repo.to_string();
        let number = pr.number as i64;
        let done = done.to_vec();
        self.with(move |c| {
            let tx = c.transaction().map_err(unavailable)?;
            for key in &keys {
                tx.exec(FINISH, params![key, expires])
                    .map_err(unavailable)?;
            }
            insert_audit_rows(&tx, &rows)?;
            let stored = read_gate_row(&tx, &repo, number)?;
            // A record this version cannot read (a newer gatebot's) keeps
            // its outbox: the key and its audit lines are written anyway.
            let dropped = match stored {
                None => true,
                Some((version, data)) => match GateRecord::decode(&data) {
                    Ok(mut record) => {
                        let before = record.pending.len();
                        record.pending.retain(|p| !done.contains(&p.id));
                        if record.pending.len() != before {
                            write_gate(&tx, &GateRow::of(&record)?, Some(version as u64))?;
                        }
                        true
                    }
                    Err(_) => false,
                },
            };
            tx.commit().map_err(unavailable)?;
            Ok(dropped)
        })
        .await
    }

    async fn audit(
        &self,
        repo: &RepoName,
        pr: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let repo = repo.to_string();
        let pr = pr.map(|p| p as i64);
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT data FROM (SELECT seq, data FROM audit
                         WHERE repo = ?1 AND (?2 IS NULL OR pr = ?2)
                         ORDER BY seq DESC LIMIT ?3)
                     ORDER BY seq ASC",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![repo, pr, limit as i64], |r| r.get::<_, String>(0))
                .map_err(unavailable)?;
            rows.map(|r| from_json(&r.map_err(unavailable)?)).collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the database file alone (as a power loss would leave it,
    /// without the unsynced log) holds a finished key.
    fn file_alone_has(path: &Path, key: &str) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy.db");
        std::fs::copy(path, &copy).unwrap();
        let c = Connection::open(&copy).unwrap();
        // No table yet counts as not there: the schema is in the log too.
        c.query_row("SELECT count(*) FROM dedupe WHERE key = ?1", [key], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap_or(0)
            == 1
    }

    /// Commits reach the database file within the checkpoint period,
    /// without any writer paying for it; without the checkpointer they
    /// stay in the log (SQLite's own checkpoint waits for 10,000 pages).
    #[tokio::test]
    async fn the_checkpointer_moves_commits_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let keep = Duration::from_secs(60);
        let fast = dir.path().join("fast.db");
        let store = SqliteStore::open_checkpointed(&fast, Duration::from_millis(50)).unwrap();
        store.finish("delivery:a", keep, now).await.unwrap();
        let slow = dir.path().join("slow.db");
        let control = SqliteStore::open_checkpointed(&slow, Duration::from_secs(3600)).unwrap();
        control.finish("delivery:a", keep, now).await.unwrap();
        let mut waited = Duration::ZERO;
        while !file_alone_has(&fast, "delivery:a") && waited < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        assert!(file_alone_has(&fast, "delivery:a"), "checkpointed");
        assert!(
            !file_alone_has(&slow, "delivery:a"),
            "the control: still only in the log"
        );
        // Dropping the store stops its checkpointer with a last checkpoint.
        control.finish("delivery:b", keep, now).await.unwrap();
        drop(control);
        let mut waited = Duration::ZERO;
        while !file_alone_has(&slow, "delivery:b") && waited < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        assert!(file_alone_has(&slow, "delivery:b"), "a last checkpoint");
    }

    /// A database written by gatebot before `dedupe.done` and
    /// `deploys.at_ns` existed opens, gains them, and its history is
    /// ordered by completion time.
    #[tokio::test]
    async fn an_older_database_is_migrated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE dedupe (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
                 CREATE TABLE deploys (repo TEXT NOT NULL, environment TEXT NOT NULL,
                     dispatch_id TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL,
                     PRIMARY KEY (repo, environment, dispatch_id));
                 INSERT INTO dedupe VALUES ('delivery:old', 99999999999);",
            )
            .unwrap();
            let t0: DateTime<Utc> = "2026-11-26T12:00:00Z".parse().unwrap();
            for (seq, id, minute) in [(1, "late", 30), (2, "early", 10)] {
                let record = DeployRecord {
                    repo: RepoName::parse("acme/widgets").unwrap(),
                    environment: Environment::production(),
                    sha: Sha::parse(&"a".repeat(40)).unwrap(),
                    pr: 1,
                    dispatch_id: id.into(),
                    run_id: None,
                    at: t0 + chrono::Duration::minutes(minute),
                    rollback: false,
                };
                c.exec(
                    "INSERT INTO deploys VALUES ('acme/widgets', 'production', ?1, ?2, ?3)",
                    params![id, seq, serde_json::to_string(&record).unwrap()],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(&path).unwrap();
        let repo = RepoName::parse("acme/widgets").unwrap();
        let history = store
            .deploy_history(&repo, &Environment::production(), 10)
            .await
            .unwrap();
        let ids: Vec<&str> = history.iter().map(|d| d.dispatch_id.as_str()).collect();
        assert_eq!(ids, vec!["late", "early"], "by completion time");
        let now = Utc::now();
        let lease = Duration::from_secs(60);
        assert_eq!(
            store.begin("delivery:old", lease, now).await.unwrap(),
            Begin::Done,
            "a key claimed before is done work"
        );
        assert_eq!(
            store.begin("delivery:new", lease, now).await.unwrap(),
            Begin::Fresh
        );
        // Opening again changes nothing.
        drop(store);
        SqliteStore::open(&path).unwrap();
    }
}
