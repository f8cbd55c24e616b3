//! The audit register's writer thread: group commit.
//!
//! One synced SQLite transaction per recorded action costs about 8 ms here,
//! which ten thousand tablets reconnecting at once cannot pay one by one. So
//! the server's appends go through one OS thread that owns a connection of
//! its own: it takes every entry waiting (up to [`MAX_BATCH`]), computes the
//! hash chain over them in queue order, and writes them in one transaction,
//! so one `fsync`, sealed by one signed checkpoint, with one head-anchor
//! write (see
//! `guardrails::audit::append_batch`).
//!
//! - Callers that must not act before the record is on disk (a drone
//!   command, a footage query) ask for a receipt and wait for the commit
//!   ([`Writer::record`], [`Writer::record_async`]).
//! - Others queue the entry and go on ([`Writer::enqueue`],
//!   [`Writer::enqueue_async`]); it is written in order after everything
//!   queued before it.
//! - The queue holds [`AUDIT_QUEUE`] entries. When it is full, senders wait
//!   for room (back-pressure): a thread blocks, an async task yields until
//!   the writer takes a batch. Nothing is dropped.
//! - When the last handle goes, the thread writes what is still queued and
//!   ends; dropping the handle waits for that, so nothing queued is lost at
//!   shutdown. [`Writer::flush`] waits for everything queued before it.
//! - A batch that fails to commit is retried ([`COMMIT_ATTEMPTS`]); if it
//!   still fails, receipts carry the error and queued entries are written to
//!   the error log, so they are at least in the system journal.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

use super::audit::{AuditError, Entry, Seal, append_batch};
use crate::store::Store;

/// Entries that may wait for the writer; more make their senders wait.
pub const AUDIT_QUEUE: usize = 16_384;

/// Most entries committed together in one transaction.
pub const MAX_BATCH: usize = 2048;

/// Times a batch's transaction is tried before its entries are reported
/// unwritten.
pub const COMMIT_ATTEMPTS: u32 = 3;

/// Pause between two attempts at a failed batch.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Where a job's outcome goes: its sequence number, or why it is not on
/// disk. Flushes answer 0.
enum Reply {
    /// Nobody waits (a queued entry).
    None,
    /// A thread waits.
    Blocking(SyncSender<Result<i64, String>>),
    /// An async task waits.
    Async(oneshot::Sender<Result<i64, String>>),
}

impl Reply {
    fn send(self, outcome: Result<i64, String>) {
        // The asker may have gone (a closed connection): nothing to do.
        match self {
            Reply::None => {}
            Reply::Blocking(tx) => {
                let _ = tx.send(outcome);
            }
            Reply::Async(tx) => {
                let _ = tx.send(outcome);
            }
        }
    }
}

/// One item of the queue: an entry to write, or a flush marker (`None`).
struct Job {
    /// The entry; `None` for a flush, answered once what came before is on
    /// disk.
    entry: Option<Entry>,
    /// Who waits for the outcome.
    reply: Reply,
}

/// What the writer has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed.
    pub batches: u64,
    /// Entries committed.
    pub rows: u64,
    /// Times a sender found the queue full and waited.
    pub waits: u64,
}

/// Counters shared with the thread.
#[derive(Debug, Default)]
struct Counters {
    /// Transactions committed.
    batches: AtomicU64,
    /// Entries committed.
    rows: AtomicU64,
    /// Senders that found the queue full.
    waits: AtomicU64,
}

/// Handle to the writer thread. The thread ends when this is dropped, after
/// writing what is queued; the drop waits for it.
pub struct Writer {
    /// The queue; taken on drop to end the thread.
    jobs: Option<SyncSender<Job>>,
    /// Signalled each time the thread takes a batch: room in the queue for
    /// async senders that found it full.
    room: Arc<Notify>,
    /// The thread, joined on drop.
    thread: Option<std::thread::JoinHandle<()>>,
    /// Counters.
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("stats", &self.stats())
            .finish()
    }
}

fn gone() -> AuditError {
    AuditError::Writer("the audit writer thread stopped".into())
}

impl Writer {
    /// Starts the thread on a connection of its own to `store`'s file (the
    /// same connection for an in-memory store, which has no second one).
    pub fn spawn(store: &Store, seal: Option<Arc<Seal>>) -> Result<Writer, AuditError> {
        let own = match store.path().parent() {
            Some(dir) if store.path() != Path::new(":memory:") => Store::open(dir)?,
            _ => store.clone(),
        };
        let (jobs, rx) = mpsc::sync_channel(AUDIT_QUEUE);
        let room = Arc::new(Notify::new());
        let counters = Arc::new(Counters::default());
        let (thread_room, thread_counters) = (room.clone(), counters.clone());
        let thread = std::thread::Builder::new()
            .name("vigie-audit-writer".into())
            .spawn(move || run(own, seal, rx, &thread_room, &thread_counters))
            .map_err(|e| AuditError::Writer(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer {
            jobs: Some(jobs),
            room,
            thread: Some(thread),
            counters,
        })
    }

    /// What the writer has done so far.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            rows: self.counters.rows.load(Ordering::Relaxed),
            waits: self.counters.waits.load(Ordering::Relaxed),
        }
    }

    /// Queues a job, this thread waiting while the queue is full.
    fn send(&self, job: Job) -> Result<(), AuditError> {
        let jobs = self.jobs.as_ref().ok_or_else(gone)?;
        match jobs.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(job)) => {
                self.counters.waits.fetch_add(1, Ordering::Relaxed);
                jobs.send(job).map_err(|_| gone())
            }
            Err(TrySendError::Disconnected(_)) => Err(gone()),
        }
    }

    /// Queues a job, this task yielding while the queue is full.
    async fn send_async(&self, mut job: Job) -> Result<(), AuditError> {
        let jobs = self.jobs.as_ref().ok_or_else(gone)?;
        let mut counted = false;
        loop {
            // Registered before trying: a batch taken between the try and
            // the wait still wakes us (`notify_waiters` reaches every
            // `Notified` created before it).
            let room = self.room.notified();
            match jobs.try_send(job) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(back)) => {
                    if !counted {
                        self.counters.waits.fetch_add(1, Ordering::Relaxed);
                        counted = true;
                    }
                    job = back;
                    room.await;
                }
                Err(TrySendError::Disconnected(_)) => return Err(gone()),
            }
        }
    }

    /// Writes `entry` with the next batch and returns its sequence number
    /// once that batch is committed.
    pub fn record(&self, entry: Entry) -> Result<i64, AuditError> {
        self.wait(Some(entry))
    }

    /// [`Writer::record`] without blocking the runtime's thread.
    pub async fn record_async(&self, entry: Entry) -> Result<i64, AuditError> {
        self.wait_async(Some(entry)).await
    }

    /// Queues `entry`; returns as soon as it is in the queue.
    pub fn enqueue(&self, entry: Entry) -> Result<(), AuditError> {
        self.send(Job {
            entry: Some(entry),
            reply: Reply::None,
        })
    }

    /// [`Writer::enqueue`] without blocking the runtime's thread.
    pub async fn enqueue_async(&self, entry: Entry) -> Result<(), AuditError> {
        self.send_async(Job {
            entry: Some(entry),
            reply: Reply::None,
        })
        .await
    }

    /// Waits until everything queued before this call is on disk.
    pub fn flush(&self) -> Result<(), AuditError> {
        self.wait(None).map(|_| ())
    }

    /// [`Writer::flush`] without blocking the runtime's thread.
    pub async fn flush_async(&self) -> Result<(), AuditError> {
        self.wait_async(None).await.map(|_| ())
    }

    fn wait(&self, entry: Option<Entry>) -> Result<i64, AuditError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Job {
            entry,
            reply: Reply::Blocking(tx),
        })?;
        rx.recv().map_err(|_| gone())?.map_err(AuditError::Writer)
    }

    async fn wait_async(&self, entry: Option<Entry>) -> Result<i64, AuditError> {
        let (tx, rx) = oneshot::channel();
        self.send_async(Job {
            entry,
            reply: Reply::Async(tx),
        })
        .await?;
        rx.await.map_err(|_| gone())?.map_err(AuditError::Writer)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue lets the thread write what is left, then end.
        self.jobs.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the audit writer thread panicked");
        }
    }
}

/// The thread: batches in queue order, one transaction each, answers after
/// the commit.
fn run(
    store: Store,
    seal: Option<Arc<Seal>>,
    jobs: Receiver<Job>,
    room: &Notify,
    counters: &Counters,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        room.notify_waiters();
        let entries: Vec<&Entry> = batch.iter().filter_map(|j| j.entry.as_ref()).collect();
        let outcome = if entries.is_empty() {
            Ok(Vec::new())
        } else {
            commit(&store, seal.as_deref(), &entries)
        };
        match outcome {
            Ok(seqs) => {
                counters
                    .batches
                    .fetch_add(u64::from(!seqs.is_empty()), Ordering::Relaxed);
                counters
                    .rows
                    .fetch_add(seqs.len() as u64, Ordering::Relaxed);
                let mut seqs = seqs.into_iter();
                for job in batch.drain(..) {
                    let seq = if job.entry.is_some() {
                        seqs.next().unwrap_or(0)
                    } else {
                        0
                    };
                    job.reply.send(Ok(seq));
                }
            }
            Err(e) => {
                let message = format!("the batch could not be committed: {e}");
                for job in batch.drain(..) {
                    if let (Some(entry), Reply::None) = (&job.entry, &job.reply) {
                        tracing::error!(
                            time_ms = entry.time_ms,
                            actor = %entry.actor.as_string(),
                            action = %entry.action,
                            target = %entry.target,
                            detail = %entry.detail,
                            reason = %entry.reason,
                            "audit entry not written: {message}"
                        );
                    }
                    job.reply.send(Err(message.clone()));
                }
            }
        }
    }
    tracing::debug!("audit writer stopped");
}

/// One batch's transaction, tried up to [`COMMIT_ATTEMPTS`] times.
fn commit(store: &Store, seal: Option<&Seal>, entries: &[&Entry]) -> Result<Vec<i64>, AuditError> {
    let mut attempt = 1;
    loop {
        let lock = seal.map(Seal::lock);
        let outcome = store.with_conn(|c| append_batch(c, seal, entries));
        drop(lock);
        match outcome {
            Ok((seqs, anchor_err)) => {
                if let Some(e) = anchor_err {
                    tracing::error!("{e}");
                }
                return Ok(seqs);
            }
            Err(e) if attempt < COMMIT_ATTEMPTS => {
                tracing::warn!(
                    entries = entries.len(),
                    attempt,
                    "audit batch not committed, retrying: {e}"
                );
                attempt += 1;
                std::thread::sleep(RETRY_PAUSE);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::audit::{self, Actor, Audit};
    use super::*;
    use serde_json::json;

    fn entry(i: i64, who: &str) -> Entry {
        Entry::new(i, Actor::Unit(who.into()), "patrol.session.start", who).detail(json!({"i": i}))
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vigie-audit-writer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn rows(store: &Store) -> Vec<audit::Row> {
        Audit::open(store)
            .unwrap()
            .range(i64::MIN, i64::MAX)
            .unwrap()
    }

    #[test]
    fn one_senders_entries_keep_their_order_and_receipts_give_their_seq() {
        let store = Store::in_memory().unwrap();
        let audit = Audit::start(&store).unwrap();
        for i in 0..100 {
            audit.enqueue(entry(i, "P1")).unwrap();
        }
        let seq = audit.record(entry(100, "P1")).unwrap();
        assert_eq!(seq, 101, "the receipt's entry comes after the 100 queued");
        let got = rows(&store);
        let order: Vec<String> = got.iter().map(|r| r.detail.clone()).collect();
        let expected: Vec<String> = (0..=100).map(|i| json!({"i": i}).to_string()).collect();
        assert_eq!(order, expected);
        assert_eq!(audit::check_chain(&got, None), Ok(101));
    }

    #[test]
    fn entries_waiting_together_are_committed_in_one_batch() {
        let store = Store::in_memory().unwrap();
        let audit = Audit::start(&store).unwrap();
        // Hold the connection the writer shares (in memory): whatever it
        // took first waits, everything queued meanwhile is the next batch.
        let held = crate::store::HeldConnection::hold(&store, Duration::from_secs(30));
        for i in 0..500 {
            audit.enqueue(entry(i, "P1")).unwrap();
        }
        assert!(held.release(), "released before the bound");
        audit.flush().unwrap();
        let stats = audit.writer_stats().unwrap();
        assert_eq!(stats.rows, 500);
        assert!(stats.batches <= 2, "{stats:?}");
        assert_eq!(audit::check_chain(&rows(&store), None), Ok(500));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_senders_form_one_chain_across_batches() {
        let dir = temp_dir("concurrent");
        let store = Store::open(&dir).unwrap();
        let audit = Audit::start(&store).unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..20 {
            let audit = audit.clone();
            tasks.spawn(async move {
                let unit = format!("P{t}");
                for i in 0..50 {
                    if i % 10 == 9 {
                        audit.record_async(entry(i, &unit)).await.unwrap();
                    } else {
                        audit.enqueue_async(entry(i, &unit)).await.unwrap();
                    }
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        audit.flush_async().await.unwrap();
        let got = rows(&store);
        assert_eq!(audit::verify(&store).unwrap(), Ok(1000));
        // Each unit's entries are in the order it sent them.
        for t in 0..20 {
            let unit = format!("P{t}");
            let mine: Vec<i64> = got
                .iter()
                .filter(|r| r.target == unit)
                .map(|r| {
                    serde_json::from_str::<serde_json::Value>(&r.detail).unwrap()["i"]
                        .as_i64()
                        .unwrap()
                })
                .collect();
            assert_eq!(mine, (0..50).collect::<Vec<_>>());
        }
        let stats = audit.writer_stats().unwrap();
        assert_eq!(stats.rows, 1000);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn nothing_queued_is_lost_at_shutdown_and_the_chain_continues_after_a_restart() {
        let dir = temp_dir("restart");
        {
            let store = Store::open(&dir).unwrap();
            let audit = Audit::start(&store).unwrap();
            for i in 0..3000 {
                audit.enqueue(entry(i, "P1")).unwrap();
            }
            // Dropped with entries still queued: the drop writes them.
        }
        let store = Store::open(&dir).unwrap();
        assert_eq!(audit::verify(&store).unwrap(), Ok(3000));
        // An offline command appends between two runs, on its own thread.
        Audit::open(&store)
            .unwrap()
            .record(Entry::new(
                5000,
                Actor::Local("odile".into()),
                "token.issue",
                "token:1",
            ))
            .unwrap();
        let audit = Audit::start(&store).unwrap();
        assert_eq!(audit.record(entry(6000, "P2")).unwrap(), 3002);
        drop(audit);
        let got = rows(&store);
        assert_eq!(got[3001].prev_hash, got[3000].hash);
        assert_eq!(got[3000].prev_hash, got[2999].hash);
        assert_eq!(audit::verify(&store).unwrap(), Ok(3002));
        let (seq, hash) = audit::read_anchor(&dir.join(audit::HEAD_FILE))
            .unwrap()
            .unwrap();
        assert_eq!((seq, hash.as_str()), (3002, got[3001].hash.as_str()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_makes_async_senders_wait_and_drops_nothing() {
        let store = Store::in_memory().unwrap();
        let audit = Audit::start(&store).unwrap();
        // Block the writer so the queue fills.
        let held = crate::store::HeldConnection::hold(&store, Duration::from_secs(30));
        let total = AUDIT_QUEUE as i64 + MAX_BATCH as i64 + 100;
        let sender = {
            let audit = audit.clone();
            tokio::spawn(async move {
                for i in 0..total {
                    audit.enqueue_async(entry(i, "P1")).await.unwrap();
                }
            })
        };
        // Let the sender run until it has to wait.
        for _ in 0..1000 {
            tokio::task::yield_now().await;
            if audit.writer_stats().unwrap().waits > 0 {
                break;
            }
        }
        assert_eq!(
            audit.writer_stats().unwrap().waits,
            1,
            "the sender waits for room"
        );
        assert!(!sender.is_finished());
        assert!(held.release(), "released before the bound");
        sender.await.unwrap();
        audit.flush_async().await.unwrap();
        assert_eq!(audit::check_chain(&rows(&store), None), Ok(total as usize));
    }
}
