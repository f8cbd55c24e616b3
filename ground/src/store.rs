//! SQLite persistence behind a narrow interface.
//!
//! One database file, `vigie.db`, in the data directory. Each domain module
//! owns its tables and their numbered migrations (a `const` slice of SQL next
//! to its code) and applies them with [`Store::migrate_module`]; the applied
//! number per module lives in the `schema_module` table, so modules evolve
//! their tables independently. WAL mode with `synchronous=FULL`: a write that
//! returned is on disk, so anything acknowledged survives `kill -9`.
//!
//! Modules keep their SQL in one file of their own (`drone/persist.rs`, ...)
//! as `impl Store` methods, so every query of the system is found next to its
//! migrations and a PostgreSQL/PostGIS back end can take over later behind
//! the same methods.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use vigie_protocols::api::Unit;

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A command that reads a deployment was pointed at a directory with no
    /// database.
    #[error(
        "no Vigie deployment in {0} (no vigie.db there): pass --data-dir with the server's data directory (`vigie serve` creates it)"
    )]
    NoDeployment(PathBuf),
    /// SQLite refused an operation.
    #[error("database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The database was written by a newer Vigie.
    #[error(
        "database {path}: the {module} tables have schema version {found}, newer than this vigie knows ({known}): upgrade vigie or use another data directory"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The module whose tables are too new.
        module: String,
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        known: i64,
    },
    /// The writer serving these tables stopped, or its batch did not commit.
    #[error("database {path}: {detail}; retry later")]
    Unavailable {
        /// The database file.
        path: PathBuf,
        /// What happened.
        detail: String,
    },
    /// A stored row could not be decoded.
    #[error("database {path}: corrupt row in {table}: {detail}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// The table.
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// This module's migrations, in order. Never edit one that has shipped: append.
const MIGRATIONS: &[&str] = &[
    // 1: server runs and the last known fleet picture.
    "CREATE TABLE server_run (
        id INTEGER PRIMARY KEY,
        started_ms INTEGER NOT NULL,
        stopped_ms INTEGER,
        version TEXT NOT NULL
    );
    CREATE TABLE unit_last_known (
        id TEXT PRIMARY KEY,
        json TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    );",
];

/// The database handle: cheap to clone, one connection behind a mutex
/// (writes are small; SQLite serialises writers anyway).
#[derive(Clone)]
pub struct Store {
    /// The connection.
    conn: Arc<Mutex<Connection>>,
    /// The file, for error messages.
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) `vigie.db` in `data_dir` and migrates it.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let dir_error = |source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        };
        create_private_dir(data_dir).map_err(dir_error)?;
        let path = data_dir.join("vigie.db");
        // SQLite gives the WAL and shared-memory files the database file's
        // mode: a database created owner-only keeps all three so. Files of
        // an older version are tightened.
        create_private_file(&path).map_err(dir_error)?;
        for companion in ["vigie.db-wal", "vigie.db-shm"] {
            make_private(&data_dir.join(companion)).map_err(dir_error)?;
        }
        let conn = Connection::open(&path).map_err(|source| StoreError::Sqlite {
            path: path.clone(),
            source,
        })?;
        Store::migrated(conn, path)
    }

    /// The handle on an open connection, migrated.
    fn migrated(conn: Connection, path: PathBuf) -> Result<Store, StoreError> {
        let store = Store {
            conn: Arc::new(Mutex::new(conn)),
            path,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens the store of an existing deployment: refused, and nothing
    /// created, when `data_dir` holds no database. For the commands that
    /// read a deployment (`notice`, `audit`, `retention`, queries, replay),
    /// which must not answer from an empty directory made up on the spot.
    pub fn open_existing(data_dir: &Path) -> Result<Store, StoreError> {
        if !data_dir.join("vigie.db").is_file() {
            return Err(StoreError::NoDeployment(data_dir.to_path_buf()));
        }
        Store::open(data_dir)
    }

    /// An in-memory database, for tests and offline tools.
    pub fn in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Sqlite {
            path: path.clone(),
            source,
        })?;
        Store::migrated(conn, path)
    }

    /// A connection of its own to the same database, for a thread that
    /// writes apart from the others (the patrol writer, dispatch): a slow
    /// write there never holds this handle's lock. An in-memory database
    /// has no second connection: the same one is shared.
    pub fn second_connection(&self) -> Result<Store, StoreError> {
        match self.path.parent() {
            Some(dir) if self.path != Path::new(":memory:") => Store::open(dir),
            _ => Ok(self.clone()),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection, mapping SQLite errors to [`StoreError`].
    pub fn with_conn<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        let mut conn = self.lock();
        f(&mut conn).map_err(|source| self.sqlite(source))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-applied write:
        // SQLite rolls back an unfinished transaction.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn migrate(&self) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_module (
                    module TEXT PRIMARY KEY,
                    version INTEGER NOT NULL
                )",
            )
        })?;
        self.migrate_module("store", MIGRATIONS)
    }

    /// Applies the migrations of `module` not yet applied, each in its own
    /// transaction. Refuses a database whose `module` tables are newer than
    /// this build.
    pub fn migrate_module(&self, module: &str, migrations: &[&str]) -> Result<(), StoreError> {
        let known = migrations.len() as i64;
        let found: i64 = self.with_conn(|c| {
            c.query_row(
                "SELECT version FROM schema_module WHERE module = ?1",
                params![module],
                |r| r.get(0),
            )
            .optional()
            .map(|v| v.unwrap_or(0))
        })?;
        if found > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                module: module.to_string(),
                found,
                known,
            });
        }
        for (i, sql) in migrations.iter().enumerate().skip(found as usize) {
            self.with_conn(|c| {
                let tx = c.transaction()?;
                tx.execute_batch(sql)?;
                tx.execute(
                    "INSERT INTO schema_module (module, version) VALUES (?1, ?2)
                     ON CONFLICT(module) DO UPDATE SET version = excluded.version",
                    params![module, (i + 1) as i64],
                )?;
                tx.commit()
            })?;
        }
        Ok(())
    }

    /// Records a server start; returns the run id.
    pub fn begin_run(&self, now_ms: i64, version: &str) -> Result<i64, StoreError> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO server_run (started_ms, version) VALUES (?1, ?2)",
                params![now_ms, version],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Records a clean stop of run `id`.
    pub fn end_run(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.with_conn(|c| {
            c.execute(
                "UPDATE server_run SET stopped_ms = ?1 WHERE id = ?2",
                params![now_ms, id],
            )
            .map(|_| ())
        })
    }

    /// Whether the previous run stopped without recording its end (a crash
    /// or `kill -9`).
    pub fn previous_run_crashed(&self, current: i64) -> Result<bool, StoreError> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT stopped_ms IS NULL FROM server_run WHERE id < ?1 ORDER BY id DESC LIMIT 1",
                params![current],
                |r| r.get::<_, bool>(0),
            )
            .optional()
            .map(|o| o.unwrap_or(false))
        })
    }

    /// Saves the last known state of every unit, in one transaction.
    pub fn save_units(&self, units: &[Unit], now_ms: i64) -> Result<(), StoreError> {
        let rows: Vec<(String, String)> = units
            .iter()
            .map(|u| (u.id.clone(), serde_json::to_string(u).unwrap_or_default()))
            .collect();
        self.with_conn(|c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO unit_last_known (id, json, updated_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT(id) DO UPDATE SET json = excluded.json, updated_ms = excluded.updated_ms",
                )?;
                for (id, json) in &rows {
                    stmt.execute(params![id, json, now_ms])?;
                }
            }
            tx.commit()
        })
    }

    /// The last known state of every unit saved by [`Store::save_units`].
    pub fn load_units(&self) -> Result<Vec<Unit>, StoreError> {
        let rows: Vec<(String, String)> = self.with_conn(|c| {
            let mut stmt = c.prepare("SELECT id, json FROM unit_last_known ORDER BY id")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(id, json)| {
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    table: "unit_last_known",
                    detail: format!("unit {id}: {e}"),
                })
            })
            .collect()
    }
}

/// Creates `dir` (and its parents) readable by its owner only (0700), and
/// tightens it if it exists: the data directory holds the database, the
/// audit register and keys.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Creates `path` empty if it does not exist, owner-only (0600), and
/// tightens it if it does.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)?;
    }
    make_private(path)
}

/// Makes an existing file owner-only (0600); nothing when it is absent.
pub fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Writes `bytes` to `path`, readable by its owner only, whether the file is
/// new or was there with a wider mode.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        make_private(path)?;
        f.write_all(bytes)
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, bytes)
    }
}

/// The store's connection held on a thread of its own, for tests of what
/// waits behind a stuck disk: [`HeldConnection::hold`] returns once it is
/// held.
#[cfg(test)]
pub(crate) struct HeldConnection {
    /// Releases the hold.
    release: std::sync::mpsc::Sender<()>,
    /// The holding thread: `true` when released before the bound.
    thread: std::thread::JoinHandle<bool>,
}

#[cfg(test)]
impl HeldConnection {
    /// Holds `store`'s connection until released, or for `bound` at most
    /// (a test whose release never comes fails instead of hanging).
    pub(crate) fn hold(store: &Store, bound: std::time::Duration) -> HeldConnection {
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let store = store.clone();
        let thread = std::thread::spawn(move || {
            store
                .with_conn(|_| {
                    let _ = held_tx.send(());
                    Ok(release_rx.recv_timeout(bound).is_ok())
                })
                .unwrap_or(false)
        });
        let _ = held_rx.recv();
        HeldConnection { release, thread }
    }

    /// A handle that releases the hold from elsewhere (another task).
    pub(crate) fn releaser(&self) -> std::sync::mpsc::Sender<()> {
        self.release.clone()
    }

    /// Releases the hold (if not yet) and waits for it to end: whether it
    /// was released before its bound.
    pub(crate) fn release(self) -> bool {
        let _ = self.release.send(());
        self.thread.join().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_protocols::api::{UnitKind, UnitStatus};

    #[cfg(unix)]
    #[test]
    fn the_data_directory_and_database_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = std::env::temp_dir().join(format!("vigie-store-perms-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        store.begin_run(1, "t").unwrap();
        assert_eq!(mode(&dir), 0o700, "data directory");
        for file in ["vigie.db", "vigie.db-wal", "vigie.db-shm"] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
        drop(store);
        // A directory left world-readable by an older version is tightened.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.join("vigie.db"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let head = dir.join("audit-head");
        std::fs::write(&head, "old").unwrap();
        std::fs::set_permissions(&head, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&head, b"new").unwrap();
        Store::open(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("vigie.db")), 0o600);
        assert_eq!(mode(&head), 0o600, "rewritten private files are tightened");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn units_survive_a_reopen_and_runs_are_tracked() {
        let dir = std::env::temp_dir().join(format!("vigie-store-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let run = store.begin_run(1, "t").unwrap();
        let unit = Unit {
            last_seen_ms: Some(5),
            ..Unit::new(
                "drone:udp0:1",
                UnitKind::Drone,
                UnitStatus::Available,
                "udp0",
            )
        };
        store.save_units(std::slice::from_ref(&unit), 10).unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.load_units().unwrap(), vec![unit]);
        let run2 = store.begin_run(20, "t").unwrap();
        assert!(
            store.previous_run_crashed(run2).unwrap(),
            "run {run} never ended"
        );
        store.end_run(run2, 30).unwrap();
        let run3 = store.begin_run(40, "t").unwrap();
        assert!(!store.previous_run_crashed(run3).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn newer_schema_is_refused_with_advice() {
        let dir = std::env::temp_dir().join(format!("vigie-store-new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir).unwrap();
        store
            .with_conn(|c| {
                c.execute(
                    "UPDATE schema_module SET version = 999 WHERE module = 'store'",
                    [],
                )
            })
            .unwrap();
        drop(store);
        let err = Store::open(&dir).unwrap_err().to_string();
        assert!(err.contains("newer than this vigie"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
