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

use crate::store::{Store, StoreError};

/// This module's migrations, in order. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &["CREATE TABLE audit_log (
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
    CREATE INDEX audit_log_time ON audit_log (time_ms);"];

/// `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Name of the head anchor file, next to the database.
pub const HEAD_FILE: &str = "audit-head";

/// Creates or upgrades the audit table.
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
}

/// The handle every part of the server records through. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Audit {
    /// The database holding `audit_log`.
    store: Store,
    /// The head anchor file; `None` for an in-memory store.
    anchor: Option<PathBuf>,
    /// The writer thread batching appends; `None` for offline commands,
    /// which append on their own thread.
    writer: Option<std::sync::Arc<super::audit_writer::Writer>>,
}

impl Audit {
    /// The register in `store` (migrated), anchored next to its file.
    pub fn open(store: &Store) -> Result<Audit, AuditError> {
        migrate(store)?;
        let anchor = store
            .path()
            .parent()
            .filter(|_| store.path() != Path::new(":memory:"))
            .map(|dir| dir.join(HEAD_FILE));
        Ok(Audit {
            store: store.clone(),
            anchor,
            writer: None,
        })
    }

    /// Starts the register of `store` with its writer thread (group
    /// commit, see [`super::audit_writer`]): what the server uses, so that
    /// ten thousand tablets reconnecting do not each wait for an `fsync`.
    pub fn start(store: &Store) -> Result<Audit, AuditError> {
        let mut audit = Audit::open(store)?;
        let writer = super::audit_writer::Writer::spawn(store, audit.anchor.clone())?;
        audit.writer = Some(std::sync::Arc::new(writer));
        Ok(audit)
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
        let (seqs, anchor_err) = self.store.with_conn(|c| {
            append_batch(c, self.anchor.as_deref(), std::slice::from_ref(&&entry))
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

    /// The anchor file, if any.
    pub fn anchor(&self) -> Option<&Path> {
        self.anchor.as_deref()
    }
}

/// Appends `entries`, in order, in one `BEGIN IMMEDIATE` transaction: one
/// commit, so one `fsync`, for all of them. The chain continues from the last
/// row *in the file* (read inside the transaction), so appends from another
/// process (an offline command) between two batches keep one chain. The head
/// anchor is written once, after the commit. Returns the sequence numbers given, and the
/// anchor's write error if any (the rows stand).
pub(crate) fn append_batch(
    c: &mut rusqlite::Connection,
    anchor: Option<&Path>,
    entries: &[&Entry],
) -> rusqlite::Result<(Vec<i64>, Option<AuditError>)> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (mut seq, mut prev_hash) = last.unwrap_or((0, GENESIS.to_string()));
    let mut seqs = Vec::with_capacity(entries.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO audit_log (seq, time_ms, actor, action, target, detail, reason, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for entry in entries {
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
            prev_hash = row.hash;
            seqs.push(seq);
        }
    }
    tx.commit()?;
    // After the commit: a crash between the two leaves the anchor behind the
    // register (still verifiable), never ahead of it (a false alarm). Another
    // process may have appended since: the anchor only moves forward.
    let mut anchor_err = None;
    if let Some(path) = anchor
        && !seqs.is_empty()
    {
        let ahead = matches!(read_anchor(path), Ok(Some((s, _))) if s > seq);
        if !ahead && let Err(source) = std::fs::write(path, format!("{seq} {prev_hash}\n")) {
            anchor_err = Some(AuditError::Anchor {
                path: path.to_path_buf(),
                source,
            });
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
}

impl Tamper {
    /// The first bad seq, as the CLI reports it.
    pub fn seq(&self) -> i64 {
        match self {
            Tamper::Edited { seq } | Tamper::Chain { seq } | Tamper::AnchorMismatch { seq } => *seq,
            Tamper::Sequence { expected, .. } => *expected,
            Tamper::Truncated { last, .. } => *last + 1,
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

/// Reads the head anchor (`seq hash`), if the file exists.
pub fn read_anchor(path: &Path) -> Result<Option<(i64, String)>, AuditError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut parts = text.split_whitespace();
            let seq = parts.next().and_then(|s| s.parse::<i64>().ok());
            let hash = parts.next().map(str::to_string);
            Ok(seq.zip(hash))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AuditError::Anchor {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Verifies the whole register of `store` (and its anchor when present).
/// `Ok(Ok(n))`: `n` rows, intact; `Ok(Err(tamper))`: the first bad row.
pub fn verify(store: &Store) -> Result<Result<usize, Tamper>, AuditError> {
    let audit = Audit::open(store)?;
    let rows = read_rows(store, None)?;
    let anchor = match audit.anchor() {
        Some(p) => read_anchor(p)?,
        None => None,
    };
    Ok(check_chain(
        &rows,
        anchor.as_ref().map(|(s, h)| (*s, h.as_str())),
    ))
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
