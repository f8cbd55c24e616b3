//! The audit register: append-only and hash-chained, in SQLite.
//!
//! Every row carries the SHA-256 of the row before it (`prev_hash`) and its
//! own `hash` over the canonical encoding of all its fields, `prev_hash`
//! included. Editing a row breaks its hash; removing or reordering rows
//! breaks the sequence numbers or the chain; [`verify`] names the first row
//! where that happens. Removing the *last* rows leaves a valid shorter chain,
//! so each append also writes the head (`seq hash`) to `audit-head` next to
//! the database (an anchor an inspector can keep a copy of); `verify` checks
//! the register still reaches it.
//!
//! Appends run in one `BEGIN IMMEDIATE` transaction, so the server and an
//! offline command (`vigie token issue`) can append to the same file without
//! forking the chain. The server appends through a writer thread that
//! commits whatever is queued as one batch ([`super::audit_writer`]);
//! offline commands append on their own thread.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::audit_seal::{
    AuditConfig, Checkpoint, HeadFile, SealError, SealPaths, SignedHead, Signer,
    append_checkpoints, read_checkpoints, read_head, read_public_key, write_head,
};
use crate::store::{Store, StoreError};

/// This module's migrations, in order. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        time_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL,
        reason TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX audit_log_time ON audit_log (time_ms);",
    // Signed checkpoints (see `audit_seal`): one per committed batch, in the
    // batch's transaction. `hashes` are the rows' hashes, space-separated.
    "CREATE TABLE audit_checkpoint (
        last_seq INTEGER PRIMARY KEY,
        first_seq INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        hashes TEXT NOT NULL,
        last_hash TEXT NOT NULL,
        predates_signing INTEGER NOT NULL,
        signature TEXT NOT NULL
    );",
];

/// `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Name of the head anchor file, next to the database.
pub const HEAD_FILE: &str = "audit-head";

/// Action of the row the register writes when it finds its head anchor
/// missing or wrong before appending: the damage stays on record even
/// once a new head is written.
pub const ANCHOR_DAMAGED: &str = "audit.anchor.damaged";

/// Action of the row `vigie serve --accept-damaged-audit` writes at start
/// with the verify report.
pub const DAMAGE_ACCEPTED: &str = "audit.damage.accepted";

/// Creates or upgrades the audit tables.
pub fn migrate(store: &Store) -> Result<(), StoreError> {
    store.migrate_module("audit", MIGRATIONS)
}

/// Who acted, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A person with an operator token: `operator:NAME`.
    Operator(String),
    /// A field unit identified by its certificate: `unit:ID`.
    Unit(String),
    /// Vigie itself (start-up, expiry recalls, purges): `system`.
    System,
    /// Someone with file access to the data directory (offline commands):
    /// `local:USER`.
    Local(String),
    /// A caller that could not be identified (refused requests): `anonymous`.
    Anonymous,
}

impl Actor {
    /// The recorded form.
    pub fn as_string(&self) -> String {
        match self {
            Actor::Operator(n) => format!("operator:{n}"),
            Actor::Unit(id) => format!("unit:{id}"),
            Actor::System => "system".into(),
            Actor::Local(u) => format!("local:{u}"),
            Actor::Anonymous => "anonymous".into(),
        }
    }

    /// The user running an offline command, from `$USER` (or `unknown`).
    pub fn local_user() -> Actor {
        Actor::Local(std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
    }
}

impl From<&crate::auth::Operator> for Actor {
    fn from(op: &crate::auth::Operator) -> Actor {
        Actor::Operator(op.name.clone())
    }
}

/// What to record (the chain fields are added by [`Audit::record`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// When, Unix milliseconds.
    pub time_ms: i64,
    /// Who.
    pub actor: Actor,
    /// What, as a dotted verb (`drone.command`, `coverage.history`, ...).
    pub action: String,
    /// On what (a unit id, a token id, a place).
    pub target: String,
    /// Details, as JSON.
    pub detail: Value,
    /// Why, as the actor gave it (empty when none was asked).
    pub reason: String,
}

impl Entry {
    /// An entry with no detail and no reason.
    pub fn new(time_ms: i64, actor: Actor, action: &str, target: &str) -> Entry {
        Entry {
            time_ms,
            actor,
            action: action.into(),
            target: target.into(),
            detail: Value::Null,
            reason: String::new(),
        }
    }

    /// With details.
    pub fn detail(mut self, detail: Value) -> Entry {
        self.detail = detail;
        self
    }

    /// With a reason.
    pub fn reason(mut self, reason: &str) -> Entry {
        self.reason = reason.into();
        self
    }
}

/// One stored row of the register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Position in the register, from 1, without gaps.
    pub seq: i64,
    /// When, Unix milliseconds.
    pub time_ms: i64,
    /// Who (`operator:NAME`, `unit:ID`, `system`, `local:USER`, `anonymous`).
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Details, JSON text.
    pub detail: String,
    /// Why.
    pub reason: String,
    /// Hash of the previous row (hex), [`GENESIS`] for the first.
    pub prev_hash: String,
    /// SHA-256 (hex) of this row's canonical encoding.
    pub hash: String,
}

/// The canonical encoding hashed for a row: every field in a fixed order,
/// integers as 8 big-endian bytes, text as its 8-byte big-endian length then
/// its UTF-8 bytes. Unambiguous: no two different rows encode the same.
pub fn canonical(row: &Row) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + row.detail.len());
    out.extend_from_slice(&row.seq.to_be_bytes());
    out.extend_from_slice(&row.time_ms.to_be_bytes());
    for text in [
        &row.actor,
        &row.action,
        &row.target,
        &row.detail,
        &row.reason,
        &row.prev_hash,
    ] {
        out.extend_from_slice(&(text.len() as u64).to_be_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out
}

/// SHA-256 of the row's canonical encoding, lower-case hex.
pub fn row_hash(row: &Row) -> String {
    let digest = Sha256::digest(canonical(row));
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// Why the register could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Storage failed.
    #[error("audit register: {0}")]
    Store(#[from] StoreError),
    /// The writer thread stopped or could not commit: the entry may not be
    /// on disk.
    #[error("audit register writer: {0}; check the data directory's disk and permissions")]
    Writer(String),
    /// The head anchor file could not be written or read.
    #[error("audit head anchor {path}: {source}")]
    Anchor {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The signing key, the checkpoint file or the head could not be used.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The register does not verify and starting on it was not accepted.
    #[error(
        "{report}\nThe audit register does not verify, so the server does not start on it. To proceed: compare with an inspector's copy (`vigie audit verify --public-key FILE --checkpoints FILE`) and restore the data directory from a backup, or start with `--accept-damaged-audit` (or `[audit] accept_damaged = true`) to run with the damage recorded in the register, logged and shown by /api/v1/health."
    )]
    Damaged {
        /// The verify report.
        report: String,
    },
}

/// The data directory of a file-backed store; `None` in memory.
fn data_dir(store: &Store) -> Option<&Path> {
    if store.path() == Path::new(":memory:") {
        return None;
    }
    store.path().parent()
}

/// A register's seal: its key, where its anchors are, and what this
/// process last wrote to the head (a head it wrote itself needs no new
/// signature check).
#[derive(Debug)]
pub struct Seal {
    /// Where the key, head and checkpoints are.
    paths: SealPaths,
    /// The private key.
    signer: Signer,
    /// Held (exclusive) while a batch commits and its anchors are written.
    lock: std::fs::File,
    /// The last head line this process wrote.
    last_head: std::sync::Mutex<String>,
    /// The highest (seq, hash) in the checkpoint file, as far as this
    /// process knows: new rows are numbered after it even when the database
    /// lost its tail.
    file_max: std::sync::Mutex<Option<(i64, String)>>,
}

/// Holds the seal's file lock; released on drop.
pub(crate) struct SealLock<'a>(Option<&'a std::fs::File>);

impl Drop for SealLock<'_> {
    fn drop(&mut self) {
        if let Some(f) = self.0 {
            let _ = f.unlock();
        }
    }
}

fn open_lock(path: &Path) -> Result<std::fs::File, SealError> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| SealError::Io {
            path: path.to_path_buf(),
            source,
        })
}

impl Seal {
    /// Loads (or on a register never signed, creates) the key. When the key
    /// is created on a register that already has rows (written by a version
    /// before signing), those rows are sealed as found, in checkpoints
    /// marked `predates_signing`.
    fn open(store: &Store, paths: SealPaths) -> Result<Seal, AuditError> {
        let checkpoints: i64 = store.with_conn(|c| {
            c.query_row("SELECT COUNT(*) FROM audit_checkpoint", [], |r| r.get(0))
        })?;
        let existed = paths.signing_key.exists();
        let signer = Signer::load_or_create(&paths, checkpoints == 0)?;
        let lock = open_lock(&paths.lock)?;
        if let Some(dir) = paths.checkpoints.parent() {
            std::fs::create_dir_all(dir).map_err(|source| SealError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let file = read_checkpoints(&paths.checkpoints)?;
        let file_max = file
            .checkpoints
            .iter()
            .filter(|cp| cp.verifies(signer.public_key()))
            .max_by_key(|cp| cp.last_seq)
            .and_then(|cp| cp.hashes.last().map(|h| (cp.last_seq, h.clone())));
        let seal = Seal {
            paths,
            signer,
            lock,
            last_head: std::sync::Mutex::new(String::new()),
            file_max: std::sync::Mutex::new(file_max),
        };
        if !existed && checkpoints == 0 {
            seal.seal_older_rows(store)?;
        }
        Ok(seal)
    }

    /// The paths.
    pub fn paths(&self) -> &SealPaths {
        &self.paths
    }

    /// The public key, 32 bytes.
    pub fn public_key(&self) -> &[u8] {
        self.signer.public_key()
    }

    /// Takes the file lock (always before the store's connection, so the
    /// two are taken in one order everywhere).
    pub(crate) fn lock(&self) -> SealLock<'_> {
        match self.lock.lock() {
            Ok(()) => SealLock(Some(&self.lock)),
            Err(e) => {
                tracing::warn!(lock = %self.paths.lock.display(), "cannot lock the audit head: {e}");
                SealLock(None)
            }
        }
    }

    /// Seals rows written before signing existed, as found now.
    fn seal_older_rows(&self, store: &Store) -> Result<(), AuditError> {
        let _lock = self.lock();
        let now = crate::time::unix_ms();
        let sealed = store.with_conn(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let rows: Vec<(i64, String)> = {
                let mut stmt = tx.prepare("SELECT seq, hash FROM audit_log ORDER BY seq")?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let mut sealed = Vec::new();
            // Runs of consecutive seqs, at most a batch each.
            let mut run: Vec<(i64, String)> = Vec::new();
            for (seq, hash) in rows {
                if run.len() >= super::audit_writer::MAX_BATCH
                    || run.last().is_some_and(|(s, _)| *s + 1 != seq)
                {
                    sealed.push(self.checkpoint(&std::mem::take(&mut run), now, true));
                }
                run.push((seq, hash));
            }
            if !run.is_empty() {
                sealed.push(self.checkpoint(&run, now, true));
            }
            for cp in &sealed {
                insert_checkpoint(&tx, cp)?;
            }
            tx.commit()?;
            Ok(sealed)
        })?;
        let Some(last) = sealed.last() else {
            return Ok(());
        };
        tracing::warn!(
            rows = last.last_seq,
            "audit register written by an older version: rows 1..{} predate signing and are sealed as found now",
            last.last_seq
        );
        append_checkpoints(&self.paths.checkpoints, &sealed)?;
        // The unsigned head of the older version is replaced only when it
        // agrees with the register; otherwise the next append records it.
        let head = read_head(&self.paths.head)?;
        let last_hash = last.hashes.last().cloned().unwrap_or_default();
        if head.stated() == Some((last.last_seq, last_hash.as_str())) {
            self.write_head(last.last_seq, &last_hash);
        }
        Ok(())
    }

    fn checkpoint(&self, rows: &[(i64, String)], now: i64, predates: bool) -> Checkpoint {
        let first = rows.first().map(|(s, _)| *s).unwrap_or(1);
        let hashes = rows.iter().map(|(_, h)| h.clone()).collect();
        Checkpoint::sign(&self.signer, first, hashes, now, predates)
    }

    /// Writes the signed head; failures are logged (the rows stand, the
    /// next batch writes it again).
    fn write_head(&self, seq: i64, hash: &str) -> Option<AuditError> {
        let head = SignedHead::sign(&self.signer, seq, hash, crate::time::unix_ms());
        match write_head(&self.paths.head, &head) {
            Ok(()) => {
                *self.last_head.lock().unwrap_or_else(|p| p.into_inner()) = head.line();
                None
            }
            Err(e) => Some(e.into()),
        }
    }

    /// The head file now, and whether it is the one this process wrote.
    fn read_head_now(&self) -> (HeadFile, bool) {
        match std::fs::read_to_string(&self.paths.head) {
            Ok(text) => {
                let ours = *self.last_head.lock().unwrap_or_else(|p| p.into_inner()) == text;
                (HeadFile::parse(&text), ours)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (HeadFile::Missing, false),
            Err(_) => (HeadFile::Garbled, false),
        }
    }
}

/// The handle every part of the server records through. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Audit {
    /// The database holding `audit_log`.
    store: Store,
    /// The key and anchors; `None` for an in-memory store (unsigned, for
    /// tests).
    seal: Option<std::sync::Arc<Seal>>,
    /// The writer thread batching appends; `None` for offline commands,
    /// which append on their own thread.
    writer: Option<std::sync::Arc<super::audit_writer::Writer>>,
}

impl Audit {
    /// The register in `store` (migrated), sealed with the key the server
    /// uses (the locator file's paths, else the defaults): what offline
    /// commands append through.
    pub fn open(store: &Store) -> Result<Audit, AuditError> {
        Audit::open_sealed(store, None)
    }

    /// The register in `store` with the seal where `config` says.
    pub fn open_with(store: &Store, config: &AuditConfig) -> Result<Audit, AuditError> {
        Audit::open_sealed(store, Some(config))
    }

    fn open_sealed(store: &Store, config: Option<&AuditConfig>) -> Result<Audit, AuditError> {
        migrate(store)?;
        let seal = match data_dir(store) {
            Some(dir) => {
                let paths = match config {
                    Some(c) => SealPaths::new(dir, c),
                    None => SealPaths::located(dir)?,
                };
                Some(std::sync::Arc::new(Seal::open(store, paths)?))
            }
            None => None,
        };
        Ok(Audit {
            store: store.clone(),
            seal,
            writer: None,
        })
    }

    /// Starts the register of `store` with its writer thread (group
    /// commit, see [`super::audit_writer`]): what the server uses, so that
    /// ten thousand tablets reconnecting do not each wait for an `fsync`.
    pub fn start(store: &Store) -> Result<Audit, AuditError> {
        Audit::open(store)?.with_writer()
    }

    /// [`Audit::start`] with the seal where `config` says.
    pub fn start_with(store: &Store, config: &AuditConfig) -> Result<Audit, AuditError> {
        Audit::open_with(store, config)?.with_writer()
    }

    fn with_writer(mut self) -> Result<Audit, AuditError> {
        let writer = super::audit_writer::Writer::spawn(&self.store, self.seal.clone())?;
        self.writer = Some(std::sync::Arc::new(writer));
        Ok(self)
    }

    /// Appends `entry`; returns its sequence number once it is on disk (a
    /// receipt). With a writer, this thread waits for the batch's commit.
    pub fn record(&self, entry: Entry) -> Result<i64, AuditError> {
        match &self.writer {
            Some(w) => w.record(entry),
            None => self.append_now(entry),
        }
    }

    /// [`Audit::record`] for async callers: waits without blocking the
    /// runtime's thread.
    pub async fn record_async(&self, entry: Entry) -> Result<i64, AuditError> {
        match &self.writer {
            Some(w) => w.record_async(entry).await,
            None => self.append_now(entry),
        }
    }

    /// Queues `entry` and goes on: it is written with the next batch, in
    /// order after everything queued before it. When the queue is full this
    /// thread waits for room (back-pressure; nothing is dropped). Without a
    /// writer, the entry is written now.
    pub fn enqueue(&self, entry: Entry) -> Result<(), AuditError> {
        match &self.writer {
            Some(w) => w.enqueue(entry),
            None => self.append_now(entry).map(|_| ()),
        }
    }

    /// [`Audit::enqueue`] for async callers: a full queue makes this task
    /// wait, not the runtime's thread.
    pub async fn enqueue_async(&self, entry: Entry) -> Result<(), AuditError> {
        match &self.writer {
            Some(w) => w.enqueue_async(entry).await,
            None => self.append_now(entry).map(|_| ()),
        }
    }

    /// Waits until everything queued before this call is on disk.
    pub fn flush(&self) -> Result<(), AuditError> {
        match &self.writer {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }

    /// [`Audit::flush`] for async callers.
    pub async fn flush_async(&self) -> Result<(), AuditError> {
        match &self.writer {
            Some(w) => w.flush_async().await,
            None => Ok(()),
        }
    }

    /// Writer statistics (batches and rows committed), `None` without one.
    pub fn writer_stats(&self) -> Option<super::audit_writer::WriterStats> {
        self.writer.as_ref().map(|w| w.stats())
    }

    /// Appends one entry on this thread, in its own transaction.
    fn append_now(&self, entry: Entry) -> Result<i64, AuditError> {
        let _lock = self.seal.as_ref().map(|s| s.lock());
        let (seqs, anchor_err) = self
            .store
            .with_conn(|c| append_batch(c, self.seal.as_deref(), std::slice::from_ref(&&entry)))?;
        if let Some(e) = anchor_err {
            tracing::error!("{e}");
        }
        Ok(seqs.first().copied().unwrap_or(0))
    }

    /// Makes `change` and records `entry` in one transaction: both are on
    /// disk, or neither (a crash between a change and its record cannot
    /// leave the change unrecorded). Everything queued before is written
    /// first, so the entry keeps its place in the chain.
    pub fn record_with(
        &self,
        entry: Entry,
        mut change: impl FnMut(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>,
    ) -> Result<i64, AuditError> {
        self.flush()?;
        let _lock = self.seal.as_ref().map(|s| s.lock());
        let (seqs, anchor_err) = self.store.with_conn(|c| {
            append_batch_with(
                c,
                self.seal.as_deref(),
                std::slice::from_ref(&&entry),
                &mut change,
            )
        })?;
        if let Some(e) = anchor_err {
            tracing::error!("{e}");
        }
        Ok(seqs.first().copied().unwrap_or(0))
    }

    /// Rows with `from_ms <= time_ms <= to_ms`, in order, including
    /// everything queued before this call.
    pub fn range(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Row>, AuditError> {
        self.flush()?;
        Ok(read_rows(&self.store, Some((from_ms, to_ms)))?)
    }

    /// The head anchor file, if any.
    pub fn anchor(&self) -> Option<&Path> {
        self.seal.as_ref().map(|s| s.paths.head.as_path())
    }

    /// The seal (key and anchors), `None` in memory.
    pub fn seal(&self) -> Option<&Seal> {
        self.seal.as_deref()
    }
}

fn insert_checkpoint(tx: &rusqlite::Transaction<'_>, cp: &Checkpoint) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO audit_checkpoint (last_seq, first_seq, time_ms, hashes, last_hash, predates_signing, signature)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        cp.last_seq,
        cp.first_seq,
        cp.time_ms,
        cp.hashes.join(" "),
        cp.hashes.last().map(String::as_str).unwrap_or(""),
        cp.predates_signing,
        cp.signature
    ])?;
    Ok(())
}

/// Every checkpoint in the database, in seq order.
pub fn stored_checkpoints(store: &Store) -> Result<Vec<Checkpoint>, StoreError> {
    store.with_conn(|c| {
        let mut stmt = c.prepare(
            "SELECT first_seq, last_seq, time_ms, hashes, predates_signing, signature
             FROM audit_checkpoint ORDER BY last_seq",
        )?;
        let rows = stmt.query_map([], |r| {
            let hashes: String = r.get(3)?;
            Ok(Checkpoint {
                first_seq: r.get(0)?,
                last_seq: r.get(1)?,
                time_ms: r.get(2)?,
                hashes: hashes.split_whitespace().map(str::to_string).collect(),
                predates_signing: r.get(4)?,
                signature: r.get(5)?,
            })
        })?;
        rows.collect()
    })
}

/// Appends `entries`, in order, in one `BEGIN IMMEDIATE` transaction: one
/// commit, so one `fsync`, for all of them, sealed by one signed checkpoint
/// stored in the same transaction. The chain continues from the highest
/// point any anchor records (the last row in the file, read inside the
/// transaction, the last checkpoint, the head, the checkpoint file), so
/// appends from another process keep one chain and sequence numbers removed
/// from the tail are never given again. When the head is missing or does
/// not match the register, a row saying so goes first. After the commit the
/// checkpoint is appended to the checkpoint file and the signed head
/// written. Returns the sequence numbers given to `entries`, and an anchor's
/// write error if any (the rows stand). The caller holds [`Seal::lock`].
pub(crate) fn append_batch(
    c: &mut rusqlite::Connection,
    seal: Option<&Seal>,
    entries: &[&Entry],
) -> rusqlite::Result<(Vec<i64>, Option<AuditError>)> {
    append_batch_with(c, seal, entries, &mut |_| Ok(()))
}

/// [`append_batch`], running `change` first in the same transaction: the
/// change and its record are committed together or not at all.
fn append_batch_with(
    c: &mut rusqlite::Connection,
    seal: Option<&Seal>,
    entries: &[&Entry],
    change: &mut dyn FnMut(&rusqlite::Transaction<'_>) -> rusqlite::Result<()>,
) -> rusqlite::Result<(Vec<i64>, Option<AuditError>)> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    change(&tx)?;
    let last: (i64, String) = tx
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((0, GENESIS.to_string()));
    let mut damage = None;
    let mut start = last.clone();
    if let Some(seal) = seal {
        let last_checkpoint: Option<(i64, String, i64)> = tx
            .query_row(
                "SELECT last_seq, last_hash, first_seq FROM audit_checkpoint ORDER BY last_seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let last_batch_first = last_checkpoint.as_ref().map(|c| c.2);
        let checkpointed: Option<(i64, String)> = last_checkpoint.map(|(s, h, _)| (s, h));
        let (head, ours) = seal.read_head_now();
        let key = (!ours).then(|| seal.public_key());
        let signed_max = checkpointed.as_ref().map_or(0, |c| c.0).max(last.0);
        let hash_at = |seq: i64| -> Option<String> {
            if seq == last.0 {
                return Some(last.1.clone());
            }
            tx.query_row("SELECT hash FROM audit_log WHERE seq = ?1", [seq], |r| {
                r.get(0)
            })
            .optional()
            .ok()
            .flatten()
        };
        if last.0 > 0 || head.stated().is_some() {
            let batch_first = last_batch_first
                .filter(|_| checkpointed.as_ref().is_some_and(|c| c.0 == signed_max));
            damage = head_problem(&head, key, ours, last.0, (signed_max, batch_first), hash_at);
        }
        let file_max = seal
            .file_max
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // Only a head this key signed moves the numbering on: anyone can
        // write a number in an unsigned one.
        let stated = match &head {
            HeadFile::Signed(h) if ours || h.verifies(seal.public_key()) => {
                Some((h.seq, h.hash.clone()))
            }
            _ => None,
        };
        for anchor in [checkpointed, stated, file_max].into_iter().flatten() {
            if anchor.0 > start.0 {
                start = anchor;
            }
        }
    }
    let damage_entry = damage.map(|t| {
        Entry::new(crate::time::unix_ms(), Actor::System, ANCHOR_DAMAGED, HEAD_FILE).detail(
            serde_json::json!({"first_bad_seq": t.seq(), "problem": t.to_string(), "register_last_seq": last.0}),
        )
    });
    let (mut seq, mut prev_hash) = start;
    let first_seq = seq + 1;
    let mut seqs = Vec::with_capacity(entries.len());
    let mut hashes = Vec::with_capacity(entries.len() + 1);
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO audit_log (seq, time_ms, actor, action, target, detail, reason, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        let all = damage_entry.iter().chain(entries.iter().copied());
        for (i, entry) in all.enumerate() {
            let detail = if entry.detail.is_null() {
                "{}".to_string()
            } else {
                entry.detail.to_string()
            };
            let mut row = Row {
                seq: seq + 1,
                time_ms: entry.time_ms,
                actor: entry.actor.as_string(),
                action: entry.action.clone(),
                target: entry.target.clone(),
                detail,
                reason: entry.reason.clone(),
                prev_hash,
                hash: String::new(),
            };
            row.hash = row_hash(&row);
            insert.execute(params![
                row.seq,
                row.time_ms,
                row.actor,
                row.action,
                row.target,
                row.detail,
                row.reason,
                row.prev_hash,
                row.hash
            ])?;
            seq = row.seq;
            hashes.push(row.hash.clone());
            prev_hash = row.hash;
            if i > 0 || damage_entry.is_none() {
                seqs.push(seq);
            }
        }
    }
    let checkpoint = match seal {
        Some(seal) if !hashes.is_empty() => {
            let cp = Checkpoint::sign(
                &seal.signer,
                first_seq,
                hashes,
                crate::time::unix_ms(),
                false,
            );
            insert_checkpoint(&tx, &cp)?;
            Some(cp)
        }
        _ => None,
    };
    tx.commit()?;
    // After the commit: a crash between the two leaves the anchors behind
    // the register (verify says so), never ahead of it.
    let mut anchor_err = None;
    if let (Some(seal), Some(cp)) = (seal, checkpoint) {
        match append_checkpoints(&seal.paths.checkpoints, std::slice::from_ref(&cp)) {
            Ok(()) => {
                *seal.file_max.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((seq, prev_hash.clone()));
            }
            Err(e) => anchor_err = Some(e.into()),
        }
        if let Some(e) = seal.write_head(seq, &prev_hash) {
            anchor_err = Some(e);
        }
    }
    Ok((seqs, anchor_err))
}

fn read_rows(store: &Store, window: Option<(i64, i64)>) -> Result<Vec<Row>, StoreError> {
    let (from, to) = window.unwrap_or((i64::MIN, i64::MAX));
    store.with_conn(|c| {
        let mut stmt = c.prepare(
            "SELECT seq, time_ms, actor, action, target, detail, reason, prev_hash, hash
             FROM audit_log WHERE time_ms >= ?1 AND time_ms <= ?2 ORDER BY rowid",
        )?;
        let rows = stmt.query_map(params![from, to], |r| {
            Ok(Row {
                seq: r.get(0)?,
                time_ms: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                detail: r.get(5)?,
                reason: r.get(6)?,
                prev_hash: r.get(7)?,
                hash: r.get(8)?,
            })
        })?;
        rows.collect()
    })
}

/// What is wrong with the register, at the first bad row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tamper {
    /// A row's content does not match its hash: it was edited.
    #[error("row seq {seq} was edited: its content no longer matches its hash")]
    Edited {
        /// The row.
        seq: i64,
    },
    /// A sequence number is missing or out of place: rows were removed or
    /// reordered.
    #[error(
        "row seq {found} is where seq {expected} should be: rows were removed or reordered before it"
    )]
    Sequence {
        /// The sequence number expected here.
        expected: i64,
        /// The one found.
        found: i64,
    },
    /// A row does not chain to the row before it.
    #[error(
        "row seq {seq} does not follow the row before it (prev_hash mismatch): a row was replaced, removed or reordered"
    )]
    Chain {
        /// The row.
        seq: i64,
    },
    /// The register ends before the head anchor: its last rows were removed.
    #[error(
        "the register ends at seq {last} but the head anchor records seq {anchored}: rows after {last} were removed"
    )]
    Truncated {
        /// Last seq present.
        last: i64,
        /// Seq in the anchor.
        anchored: i64,
    },
    /// The anchored row's hash differs from the anchor.
    #[error("row seq {seq} does not match the head anchor: it was replaced")]
    AnchorMismatch {
        /// The row.
        seq: i64,
    },
    /// A signed checkpoint records another hash for this row: it was
    /// rewritten (and the later hashes recomputed, or the chain would say so).
    #[error("row seq {seq} is not the row that was signed: it was rewritten after it was written")]
    Rewritten {
        /// The row.
        seq: i64,
    },
    /// A signed checkpoint covers this row and it is not there.
    #[error("row seq {seq} was signed but is missing: it was removed")]
    Removed {
        /// The row.
        seq: i64,
    },
    /// The register is signed but no valid checkpoint covers this row: it
    /// was added, or its checkpoints removed, by someone without the key.
    #[error(
        "row seq {seq} is covered by no valid signed checkpoint: it was written or re-sealed without the signing key"
    )]
    Unsigned {
        /// The row.
        seq: i64,
    },
    /// A checkpoint's signature does not verify with the public key.
    #[error(
        "the checkpoint over rows {first_seq}..={last_seq} ({source_name}) is not signed by the register's key: forged or corrupted"
    )]
    ForgedCheckpoint {
        /// First row it claims to cover.
        first_seq: i64,
        /// Last row it claims to cover.
        last_seq: i64,
        /// Where it was read.
        source_name: String,
    },
    /// The register is signed but there is no public key to check it with.
    #[error(
        "the register is signed but no public key was found to check it: pass --public-key with the inspector's copy"
    )]
    NoPublicKey {
        /// The first signed row.
        seq: i64,
    },
    /// The head file is missing, empty or unreadable on a register with rows.
    #[error(
        "the head anchor is missing, empty or unreadable on a register of {last} rows: it was removed, or rows after {last} with it"
    )]
    HeadMissing {
        /// Last seq present.
        last: i64,
    },
    /// The head's signature does not verify.
    #[error("the head anchor is not signed by the register's key: it was replaced")]
    HeadForged {
        /// Last seq present.
        last: i64,
    },
    /// The head records an older row than the register's signed rows: it was
    /// rolled back to an older copy (or the server stopped between a commit
    /// and the head's write).
    #[error(
        "the head anchor records seq {head} but rows up to {signed} were committed and signed: the head was rolled back to an older copy (or the server stopped abruptly between a commit and the head's write)"
    )]
    HeadBehind {
        /// Seq in the head.
        head: i64,
        /// Highest seq committed and signed.
        signed: i64,
    },
    /// The register itself records damage found earlier (when appending,
    /// or accepted at a start with `--accept-damaged-audit`).
    #[error("row seq {at} records damage found earlier, from seq {first_bad_seq}: {problem}")]
    Recorded {
        /// The row that records it.
        at: i64,
        /// The first bad seq it names.
        first_bad_seq: i64,
        /// What it says.
        problem: String,
    },
}

impl Tamper {
    /// The first bad seq, as the CLI reports it.
    pub fn seq(&self) -> i64 {
        match self {
            Tamper::Edited { seq }
            | Tamper::Chain { seq }
            | Tamper::AnchorMismatch { seq }
            | Tamper::Rewritten { seq }
            | Tamper::Removed { seq }
            | Tamper::Unsigned { seq }
            | Tamper::NoPublicKey { seq } => *seq,
            Tamper::Sequence { expected, .. } => *expected,
            Tamper::Truncated { last, .. }
            | Tamper::HeadMissing { last }
            | Tamper::HeadForged { last } => *last + 1,
            Tamper::HeadBehind { head, .. } => *head + 1,
            Tamper::ForgedCheckpoint { first_seq, .. } => *first_seq,
            Tamper::Recorded { first_bad_seq, .. } => *first_bad_seq,
        }
    }
}

/// Checks a sequence of rows, in stored order: the first problem found, or
/// the number of rows checked. Pure, so it is tested on rows in memory.
pub fn check_chain(rows: &[Row], anchor: Option<(i64, &str)>) -> Result<usize, Tamper> {
    let mut prev = GENESIS.to_string();
    for (i, row) in rows.iter().enumerate() {
        let expected = i as i64 + 1;
        if row.seq != expected {
            return Err(Tamper::Sequence {
                expected,
                found: row.seq,
            });
        }
        if row_hash(row) != row.hash {
            return Err(Tamper::Edited { seq: row.seq });
        }
        if row.prev_hash != prev {
            return Err(Tamper::Chain { seq: row.seq });
        }
        prev = row.hash.clone();
    }
    if let Some((seq, hash)) = anchor {
        let last = rows.len() as i64;
        if seq > last {
            return Err(Tamper::Truncated {
                last,
                anchored: seq,
            });
        }
        if seq >= 1 && rows[(seq - 1) as usize].hash != hash {
            return Err(Tamper::AnchorMismatch { seq });
        }
    }
    Ok(rows.len())
}

/// What is wrong with the head anchor, given the register's last seq, the
/// highest seq committed and signed, and a way to read a row's hash. `key`
/// checks a signed head's signature (`None` with `trusted`: this process
/// wrote it; `None` otherwise: no key to check with). An unsigned head
/// (older versions) is taken at its word.
///
/// `last_batch_first` is the first seq of the checkpoint that ends at
/// `signed_max`. A head exactly one batch behind, with every row of that
/// batch present and signed, is what an abrupt stop (power cut, `kill -9`)
/// between a commit and the head's write leaves: nothing is lost (the
/// batch's own signed checkpoint proves its rows), so it is no tamper, and
/// the next append writes the head anew. A head further behind is.
pub fn head_problem(
    head: &HeadFile,
    key: Option<&[u8]>,
    trusted: bool,
    last: i64,
    (signed_max, last_batch_first): (i64, Option<i64>),
    hash_at: impl Fn(i64) -> Option<String>,
) -> Option<Tamper> {
    if let HeadFile::Signed(h) = head
        && !trusted
        && !key.is_some_and(|k| h.verifies(k))
    {
        return Some(Tamper::HeadForged { last });
    }
    let Some((seq, hash)) = head.stated() else {
        return (last > 0).then_some(Tamper::HeadMissing { last });
    };
    if seq > last {
        return Some(Tamper::Truncated {
            last,
            anchored: seq,
        });
    }
    if seq >= 1 && hash_at(seq).as_deref() != Some(hash) {
        return Some(Tamper::AnchorMismatch { seq });
    }
    let crash_window = last >= signed_max && last_batch_first == Some(seq + 1);
    if seq < signed_max && !crash_window {
        return Some(Tamper::HeadBehind {
            head: seq,
            signed: signed_max,
        });
    }
    None
}

/// Reads the head anchor's seq and hash, if the file states them.
pub fn read_anchor(path: &Path) -> Result<Option<(i64, String)>, AuditError> {
    Ok(read_head(path)?.stated().map(|(s, h)| (s, h.to_string())))
}

/// Where a checkpoint checked by verify was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The `audit_checkpoint` table.
    Database,
    /// The checkpoint file next to the register.
    File,
    /// An inspector's earlier copy (`--checkpoints`).
    Inspector,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Database => "database",
            Source::File => "checkpoint file",
            Source::Inspector => "inspector's copy",
        }
    }
}

/// Everything verify checks the rows against.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The head file; `None` where there is none to expect (in memory).
    pub head: Option<HeadFile>,
    /// Checkpoints and where each was read.
    pub checkpoints: Vec<(Source, Checkpoint)>,
    /// The public key signatures are checked with.
    pub public_key: Option<Vec<u8>>,
    /// Where the key came from, in words.
    pub key_origin: String,
    /// Lines of the checkpoint file that are not checkpoints.
    pub garbled_lines: Vec<usize>,
}

/// What an inspector brings to verify: their copy of the public key and of
/// the checkpoints, exported earlier.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The public key (32 bytes) to check every signature with, instead of
    /// the one in the data directory.
    pub public_key: Option<Vec<u8>>,
    /// Checkpoints exported earlier (`vigie audit checkpoints`).
    pub checkpoints: Vec<Checkpoint>,
}

impl VerifyOptions {
    /// Reads an inspector's public key file and checkpoint file.
    pub fn from_files(
        public_key: Option<&Path>,
        checkpoints: Option<&Path>,
    ) -> Result<VerifyOptions, AuditError> {
        let public_key = match public_key {
            Some(path) => Some(
                read_public_key(path)?.ok_or_else(|| SealError::BadPublicKey {
                    path: path.to_path_buf(),
                })?,
            ),
            None => None,
        };
        let checkpoints = match checkpoints {
            Some(path) => {
                let file = read_checkpoints(path)?;
                if !file.exists {
                    return Err(SealError::Io {
                        path: path.to_path_buf(),
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    }
                    .into());
                }
                if !file.garbled_lines.is_empty() {
                    return Err(SealError::Garbled {
                        path: path.to_path_buf(),
                        lines: file.garbled_lines,
                    }
                    .into());
                }
                file.checkpoints
            }
            None => Vec::new(),
        };
        Ok(VerifyOptions {
            public_key,
            checkpoints,
        })
    }
}

/// The outcome of verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Rows read.
    pub rows: usize,
    /// Everything found wrong, first bad seq first.
    pub findings: Vec<Tamper>,
    /// Rows sealed when signing began on a register written by an older
    /// version (`first..=last`): checked by their chain, sealed as found
    /// then.
    pub predates_signing: Option<(i64, i64)>,
    /// Rows covered by a valid checkpoint.
    pub signed_rows: usize,
    /// Distinct valid checkpoints.
    pub checkpoints: usize,
    /// Which public key was used.
    pub key_origin: String,
    /// Remarks that are not tampers.
    pub notes: Vec<String>,
}

impl Report {
    /// The first bad row's finding, if any.
    pub fn first(&self) -> Option<&Tamper> {
        self.findings.first()
    }

    /// Whether nothing is wrong.
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }

    /// The report in words, one line each.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.first() {
            None => out.push(format!(
                "audit register intact: {} rows, hash chain verified, {} rows under {} signed checkpoints ({})",
                self.rows, self.signed_rows, self.checkpoints, self.key_origin
            )),
            Some(t) => {
                out.push(format!(
                    "audit register TAMPERED at seq {}: {t}",
                    t.seq()
                ));
                for t in &self.findings[1..] {
                    out.push(format!("  also at seq {}: {t}", t.seq()));
                }
            }
        }
        if let Some((a, b)) = self.predates_signing {
            out.push(format!(
                "rows {a}..{b} predate signing (written by an older version): their chain is verified, and they were sealed as found when signing began"
            ));
        }
        out.extend(self.notes.iter().cloned());
        out
    }
}

/// Checks rows against the evidence. Pure, so every tamper is tested on
/// rows in memory.
pub fn check(rows: &[Row], ev: &Evidence) -> Report {
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    if let Err(t) = check_chain(rows, None) {
        findings.push(t);
    }
    let last = rows.last().map_or(0, |r| r.seq);
    // Checkpoints, each once, signature checked.
    let mut seen = std::collections::HashSet::new();
    let mut valid: Vec<&Checkpoint> = Vec::new();
    for (source, cp) in &ev.checkpoints {
        if !seen.insert((cp.first_seq, cp.last_seq, cp.signature.as_str())) {
            continue;
        }
        match &ev.public_key {
            Some(key) if cp.verifies(key) => valid.push(cp),
            Some(_) => findings.push(Tamper::ForgedCheckpoint {
                first_seq: cp.first_seq,
                last_seq: cp.last_seq,
                source_name: source.name().into(),
            }),
            None => {}
        }
    }
    let signed_anything =
        !ev.checkpoints.is_empty() || matches!(ev.head, Some(HeadFile::Signed(_)));
    if ev.public_key.is_none() && signed_anything {
        findings.push(Tamper::NoPublicKey {
            seq: ev
                .checkpoints
                .iter()
                .map(|(_, c)| c.first_seq)
                .min()
                .unwrap_or(1),
        });
    }
    // Every signed row is there with the hash it was signed with.
    let by_seq: std::collections::HashMap<i64, &str> =
        rows.iter().map(|r| (r.seq, r.hash.as_str())).collect();
    let mut covered: Vec<(i64, i64)> = Vec::new();
    let mut predates: Option<(i64, i64)> = None;
    for cp in &valid {
        covered.push((cp.first_seq, cp.last_seq));
        if cp.predates_signing {
            predates = Some(predates.map_or((cp.first_seq, cp.last_seq), |(a, b)| {
                (a.min(cp.first_seq), b.max(cp.last_seq))
            }));
        }
        for (seq, hash) in cp.rows() {
            match by_seq.get(&seq) {
                None => {
                    findings.push(Tamper::Removed { seq });
                    break;
                }
                Some(h) if *h != hash => {
                    findings.push(Tamper::Rewritten { seq });
                    break;
                }
                Some(_) => {}
            }
        }
    }
    // Once signing has begun, every row is covered.
    covered.sort_unstable();
    let mut signed_rows = 0;
    // A public key means signing was set up (the key is created, and the
    // rows then present sealed, when a register is first opened by a
    // version that signs): rows without a checkpoint are then a tamper.
    let signing = !valid.is_empty() || ev.public_key.is_some();
    if !signing && !rows.is_empty() {
        notes.push(format!(
            "rows 1..{last} are not signed: the register predates signing (it is sealed at the next start of the server or an offline command)"
        ));
    }
    if signing {
        let mut ranges = covered.iter().peekable();
        let mut reach = 0;
        let mut unsigned = None;
        for r in rows {
            while let Some((a, b)) = ranges.peek() {
                if *a <= r.seq {
                    reach = reach.max(*b);
                    ranges.next();
                } else {
                    break;
                }
            }
            if r.seq <= reach {
                signed_rows += 1;
            } else if unsigned.is_none() {
                unsigned = Some(r.seq);
            }
        }
        if let Some(seq) = unsigned {
            findings.push(Tamper::Unsigned { seq });
        }
    }
    if let Some(head) = &ev.head {
        let signed_max = valid
            .iter()
            .map(|c| c.last_seq)
            .max()
            .unwrap_or(0)
            .max(last);
        let hash_at = |seq: i64| by_seq.get(&seq).map(|h| h.to_string());
        let batch_first = valid
            .iter()
            .find(|c| c.last_seq == signed_max)
            .map(|c| c.first_seq);
        if let Some(t) = head_problem(
            head,
            ev.public_key.as_deref(),
            false,
            last,
            (signed_max, batch_first),
            hash_at,
        ) {
            findings.push(t);
        } else if head.stated().is_some_and(|(seq, _)| seq < signed_max) {
            notes.push(format!(
                "the head anchor is one batch behind the last signed row ({signed_max}): the server stopped abruptly between a commit and the head's write; that batch's signed checkpoint proves its rows, and the next append writes the head anew"
            ));
        }
        if matches!(head, HeadFile::Unsigned { .. }) && !valid.is_empty() {
            notes.push("the head anchor is unsigned (older format): it is checked against the rows but proves nothing by itself".into());
        }
    }
    // Damage recorded in the register itself.
    for r in rows
        .iter()
        .filter(|r| r.action == ANCHOR_DAMAGED || r.action == DAMAGE_ACCEPTED)
    {
        let detail: Value = serde_json::from_str(&r.detail).unwrap_or(Value::Null);
        findings.push(Tamper::Recorded {
            at: r.seq,
            first_bad_seq: detail["first_bad_seq"].as_i64().unwrap_or(r.seq),
            problem: detail["problem"]
                .as_str()
                .unwrap_or("(no description)")
                .to_string(),
        });
    }
    if !ev.garbled_lines.is_empty() {
        notes.push(format!(
            "the checkpoint file has lines that are not checkpoints: {:?}",
            ev.garbled_lines
        ));
    }
    findings.sort_by_key(Tamper::seq);
    Report {
        rows: rows.len(),
        findings,
        predates_signing: predates,
        signed_rows,
        checkpoints: valid.len(),
        key_origin: ev.key_origin.clone(),
        notes,
    }
}

/// Verifies the whole register of `store` against its anchors, and an
/// inspector's copies when given. Reads only: never creates a key.
pub fn verify_with(store: &Store, opts: &VerifyOptions) -> Result<Report, AuditError> {
    migrate(store)?;
    let Some(dir) = data_dir(store) else {
        let rows = read_rows(store, None)?;
        let ev = Evidence {
            checkpoints: stored_checkpoints(store)?
                .into_iter()
                .map(|c| (Source::Database, c))
                .collect(),
            public_key: opts.public_key.clone(),
            ..Evidence::default()
        };
        return Ok(check(&rows, &ev));
    };
    let paths = SealPaths::located(dir)?;
    // Read rows, head and checkpoints while no batch is half-anchored.
    let lock = open_lock(&paths.lock)?;
    if let Err(e) = lock.lock_shared() {
        tracing::warn!("cannot lock the audit head for verify: {e}");
    }
    let rows = read_rows(store, None);
    let head = read_head(&paths.head);
    let db = stored_checkpoints(store);
    let file = read_checkpoints(&paths.checkpoints);
    let _ = lock.unlock();
    let (rows, head, db, file) = (rows?, head?, db?, file?);
    let local_key = read_public_key(&paths.public_key)?;
    let (public_key, key_origin) = match (&opts.public_key, local_key) {
        (Some(k), local) => {
            let origin = if local.as_deref() == Some(k.as_slice()) {
                "inspector's public key, same as the local one".to_string()
            } else {
                "inspector's public key".to_string()
            };
            (Some(k.clone()), origin)
        }
        (None, Some(k)) => (
            Some(k),
            format!(
                "local public key {}; pass --public-key with the inspector's copy to rule out a replaced key",
                paths.public_key.display()
            ),
        ),
        (None, None) => (None, "no public key".to_string()),
    };
    let mut checkpoints: Vec<(Source, Checkpoint)> =
        db.into_iter().map(|c| (Source::Database, c)).collect();
    checkpoints.extend(file.checkpoints.into_iter().map(|c| (Source::File, c)));
    checkpoints.extend(
        opts.checkpoints
            .iter()
            .cloned()
            .map(|c| (Source::Inspector, c)),
    );
    let ev = Evidence {
        head: Some(head),
        checkpoints,
        public_key,
        key_origin,
        garbled_lines: file.garbled_lines,
    };
    Ok(check(&rows, &ev))
}

/// Verifies the whole register of `store` (and its anchors).
/// `Ok(Ok(n))`: `n` rows, intact; `Ok(Err(tamper))`: the first bad row.
pub fn verify(store: &Store) -> Result<Result<usize, Tamper>, AuditError> {
    let report = verify_with(store, &VerifyOptions::default())?;
    Ok(match report.findings.into_iter().next() {
        None => Ok(report.rows),
        Some(t) => Err(t),
    })
}

/// Opens the server's register: writes the locator file (so offline
/// commands sign with the same key), verifies, and refuses a register that
/// does not verify unless `config.accept_damaged`; then starts the writer.
/// On a damaged register accepted, the report is logged (WARN), recorded in
/// the register, and returned for `/api/v1/health`.
pub fn start_checked(
    store: &Store,
    config: &AuditConfig,
) -> Result<(Audit, Option<String>), AuditError> {
    if let Some(dir) = data_dir(store) {
        SealPaths::write_locator(dir, config)?;
    }
    let report = verify_with(store, &VerifyOptions::default())?;
    let Some(first) = report.first() else {
        for note in &report.notes {
            tracing::info!("audit register: {note}");
        }
        return Ok((Audit::start_with(store, config)?, None));
    };
    let lines = report.lines();
    if !config.accept_damaged {
        return Err(AuditError::Damaged {
            report: lines.join("\n"),
        });
    }
    for line in &lines {
        tracing::warn!("{line}");
    }
    tracing::warn!(
        "started on a damaged audit register (--accept-damaged-audit): the damage is recorded in the register and shown by /api/v1/health"
    );
    let audit = Audit::start_with(store, config)?;
    audit.record(
        Entry::new(crate::time::unix_ms(), Actor::System, DAMAGE_ACCEPTED, "audit").detail(
            serde_json::json!({"first_bad_seq": first.seq(), "problem": first.to_string(), "report": lines}),
        ),
    )?;
    Ok((audit, Some(lines.join("; "))))
}

/// Every checkpoint of the register (database and file, each once, in seq
/// order): what an inspector keeps to detect a later rollback.
pub fn export_checkpoints(store: &Store) -> Result<Vec<Checkpoint>, AuditError> {
    let mut all = stored_checkpoints(store)?;
    if let Some(dir) = data_dir(store) {
        let paths = SealPaths::located(dir)?;
        all.extend(read_checkpoints(&paths.checkpoints)?.checkpoints);
    }
    let mut seen = std::collections::HashSet::new();
    all.retain(|c| seen.insert((c.first_seq, c.last_seq, c.signature.clone())));
    all.sort_by_key(|c| c.last_seq);
    Ok(all)
}

/// CSV escaping of one field (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The rows as CSV with a header, times in UTC.
pub fn to_csv(rows: &[Row]) -> String {
    let mut out =
        String::from("seq,time_utc,time_ms,actor,action,target,detail,reason,prev_hash,hash\n");
    for r in rows {
        let fields = [
            r.seq.to_string(),
            crate::time::rfc3339(r.time_ms),
            r.time_ms.to_string(),
            r.actor.clone(),
            r.action.clone(),
            r.target.clone(),
            r.detail.clone(),
            r.reason.clone(),
            r.prev_hash.clone(),
            r.hash.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filled(n: i64) -> (Store, Audit) {
        let store = Store::in_memory().unwrap();
        let audit = Audit::open(&store).unwrap();
        for i in 0..n {
            audit
                .record(
                    Entry::new(
                        1000 + i,
                        Actor::Operator("paul".into()),
                        "drone.command",
                        "drone:udp0:1",
                    )
                    .detail(json!({"command": "goto", "i": i}))
                    .reason("test"),
                )
                .unwrap();
        }
        (store, audit)
    }

    fn sql(store: &Store, q: &str) {
        store.with_conn(|c| c.execute_batch(q)).unwrap();
    }

    /// Noticed in `vigie cameras import`: the new privacy masks were
    /// committed, then their `masks.change` row written on its own, so a
    /// kill between the two left a mask change no register showed. A
    /// change and its record now commit together or not at all.
    #[test]
    fn a_change_and_its_record_commit_together_or_not_at_all() {
        let (store, audit) = filled(2);
        sql(&store, "CREATE TABLE change_t (v INTEGER)");
        let entry = || Entry::new(5000, Actor::Local("odile".into()), "masks.change", "masks");
        let count = |t: &str| -> i64 {
            store
                .with_conn(|c| c.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0)))
                .unwrap()
        };
        // The change fails halfway: nothing of it, and no record.
        let failed = audit.record_with(entry(), |tx| {
            tx.execute("INSERT INTO change_t (v) VALUES (1)", [])?;
            tx.execute("INSERT INTO no_such_table (v) VALUES (2)", [])?;
            Ok(())
        });
        assert!(failed.is_err());
        assert_eq!((count("change_t"), count("audit_log")), (0, 2));
        // It goes through: both, and the chain still verifies.
        let seq = audit
            .record_with(entry(), |tx| {
                tx.execute("INSERT INTO change_t (v) VALUES (1)", [])?;
                Ok(())
            })
            .unwrap();
        assert_eq!(seq, 3);
        assert_eq!((count("change_t"), count("audit_log")), (1, 3));
        assert_eq!(verify(&store).unwrap(), Ok(3));
    }

    #[test]
    fn an_intact_register_verifies() {
        let (store, _) = filled(5);
        assert_eq!(verify(&store).unwrap(), Ok(5));
        let rows = read_rows(&store, None).unwrap();
        assert_eq!(rows[0].prev_hash, GENESIS);
        assert_eq!(rows[1].prev_hash, rows[0].hash);
    }

    #[test]
    fn an_edited_row_is_named() {
        let (store, _) = filled(5);
        sql(
            &store,
            "UPDATE audit_log SET actor = 'operator:nobody' WHERE seq = 3",
        );
        assert_eq!(verify(&store).unwrap(), Err(Tamper::Edited { seq: 3 }));
    }

    #[test]
    fn an_edited_row_with_a_recomputed_hash_breaks_the_next_link() {
        let (store, _) = filled(5);
        let mut rows = read_rows(&store, None).unwrap();
        rows[2].reason = "forged".into();
        rows[2].hash = row_hash(&rows[2]);
        assert_eq!(check_chain(&rows, None), Err(Tamper::Chain { seq: 4 }));
    }

    #[test]
    fn a_removed_row_is_named() {
        let (store, _) = filled(5);
        sql(&store, "DELETE FROM audit_log WHERE seq = 2");
        assert_eq!(
            verify(&store).unwrap(),
            Err(Tamper::Sequence {
                expected: 2,
                found: 3
            })
        );
    }

    #[test]
    fn reordered_rows_are_named() {
        let (store, _) = filled(5);
        // Swap the contents of rows 2 and 4, sequence numbers kept.
        let rows = read_rows(&store, None).unwrap();
        let mut swapped = rows.clone();
        swapped.swap(1, 3);
        swapped[1].seq = 2;
        swapped[3].seq = 4;
        assert_eq!(check_chain(&swapped, None), Err(Tamper::Edited { seq: 2 }));
        // Physically reordered rows keep their seq: the order breaks.
        let mut moved = rows;
        moved.swap(1, 3);
        assert_eq!(
            check_chain(&moved, None),
            Err(Tamper::Sequence {
                expected: 2,
                found: 4
            })
        );
    }

    #[test]
    fn a_removed_tail_is_caught_by_the_anchor() {
        let rows = read_rows(&filled(5).0, None).unwrap();
        let head = (5, rows[4].hash.as_str());
        assert_eq!(check_chain(&rows, Some(head)), Ok(5));
        assert_eq!(
            check_chain(&rows[..3], Some(head)),
            Err(Tamper::Truncated {
                last: 3,
                anchored: 5
            })
        );
    }

    #[test]
    fn csv_escapes_commas_and_quotes() {
        let (store, audit) = filled(1);
        audit
            .record(Entry::new(2000, Actor::System, "x", "a,b").reason("say \"hi\""))
            .unwrap();
        let csv = to_csv(&read_rows(&store, None).unwrap());
        assert!(csv.contains("\"a,b\""), "{csv}");
        assert!(csv.contains("\"say \"\"hi\"\"\""), "{csv}");
        assert_eq!(csv.lines().count(), 3);
    }
}
