//! The patrol link's storage thread: one OS thread owns a SQLite connection
//! and runs every order and acknowledgement write (and the queue reads of
//! new sessions), so that ten thousand tablets never block the async
//! runtime on SQLite or on `fsync`.
//!
//! Requests come through a bounded queue of [`WRITER_QUEUE`] jobs; when it is
//! full, callers wait (`send().await`): a burst slows the tablets that sent
//! it, through QUIC flow control, and nothing else. The thread takes every
//! job waiting (up to [`MAX_BATCH`]) and runs them in one transaction, each
//! in its own savepoint so one failure does not undo the others: one commit,
//! so one `fsync`, for the whole batch (group commit). A job's answer is sent
//! only after that commit returned: when a tablet gets its receipt, the ack
//! is on disk.

use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::orders::{self, NewOrder, OrderError, OrderRecord, OrderStore, StoreDone, StoreOp};
use crate::store::{Store, StoreError};

/// Jobs that may wait for the writer; more make their senders wait.
pub const WRITER_QUEUE: usize = 4096;

/// Most jobs committed together in one transaction.
pub const MAX_BATCH: usize = 512;

/// A job for the writer thread: runs inside the batch transaction, then
/// learns whether the batch committed.
trait Job: Send {
    /// Runs the job's statements; `false` when they failed (its savepoint
    /// is then rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Sends the answer, once the batch's commit is known.
    fn deliver(self: Box<Self>, commit: Result<(), &StoreError>);
}

/// A job built from a closure and the channel its answer goes back on.
struct ClosureJob<F, R> {
    /// The statements; taken when run.
    work: Option<F>,
    /// What they returned.
    result: Option<rusqlite::Result<R>>,
    /// Where the answer goes.
    reply: oneshot::Sender<Result<R, StoreError>>,
    /// The database file, for error messages.
    path: Arc<std::path::PathBuf>,
}

impl<F, R> Job for ClosureJob<F, R>
where
    F: FnOnce(&Connection) -> rusqlite::Result<R> + Send,
    R: Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = work(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn deliver(self: Box<Self>, commit: Result<(), &StoreError>) {
        let path = (*self.path).clone();
        let answer = match (commit, self.result) {
            (Ok(()), Some(Ok(r))) => Ok(r),
            (_, Some(Err(source))) => Err(StoreError::Sqlite { path, source }),
            (Err(e), _) => Err(StoreError::Unavailable {
                path,
                detail: format!("batch not committed: {e}"),
            }),
            (Ok(()), None) => Err(StoreError::Unavailable {
                path,
                detail: "the job did not run".into(),
            }),
        };
        // The asker may have gone (connection closed): nothing to do.
        let _ = self.reply.send(answer);
    }
}

/// Handle to the writer thread; cheap to clone. The thread ends when the
/// last handle is dropped, after finishing the jobs already queued.
#[derive(Debug, Clone)]
pub struct OrderWriter {
    /// The job queue.
    jobs: mpsc::Sender<Box<dyn Job>>,
    /// The database file, for error messages.
    path: Arc<std::path::PathBuf>,
}

impl std::fmt::Debug for dyn Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl OrderWriter {
    /// Starts the thread on a connection of its own to `orders`' database
    /// (shared with the caller for an in-memory database, which has no
    /// second connection).
    pub fn spawn(orders: &OrderStore) -> Result<OrderWriter, StoreError> {
        let store = orders.store();
        let own = store.second_connection()?;
        let path = Arc::new(store.path().to_path_buf());
        let (jobs, rx) = mpsc::channel(WRITER_QUEUE);
        let thread_path = path.clone();
        std::thread::Builder::new()
            .name("vigie-patrol-writer".into())
            .spawn(move || run(own, rx, &thread_path))
            .map_err(|e| StoreError::Unavailable {
                path: (*path).clone(),
                detail: format!("cannot start the patrol writer thread: {e}"),
            })?;
        Ok(OrderWriter { jobs, path })
    }

    /// `work` as a job, and where its answer will come.
    fn job<R, F>(&self, work: F) -> (Box<dyn Job>, oneshot::Receiver<Result<R, StoreError>>)
    where
        F: FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(ClosureJob {
            work: Some(work),
            result: None,
            reply,
            path: self.path.clone(),
        });
        (job, answer)
    }

    /// The thread is gone.
    fn gone(&self) -> StoreError {
        StoreError::Unavailable {
            path: (*self.path).clone(),
            detail: "the patrol writer thread stopped".into(),
        }
    }

    /// Runs `work` in the next batch; answers once the batch is committed.
    pub async fn run<R, F>(&self, work: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (job, answer) = self.job(work);
        self.jobs.send(job).await.map_err(|_| self.gone())?;
        answer.await.map_err(|_| self.gone())?
    }

    /// [`OrderWriter::run`] for a thread outside the async runtime
    /// (dispatch's): waits for the commit on the calling thread. Never call
    /// it from async code: it blocks the thread it runs on.
    pub fn run_blocking<R, F>(&self, work: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (job, answer) = self.job(work);
        self.jobs.blocking_send(job).map_err(|_| self.gone())?;
        answer.blocking_recv().map_err(|_| self.gone())?
    }

    /// Stores a new order for `unit` from dispatch's thread (durable when
    /// this returns): the same writer, so the same path to SQLite, as the
    /// API's and the sessions' writes.
    pub fn create_blocking(
        &self,
        unit: &str,
        order: &NewOrder,
        now_ms: i64,
    ) -> Result<OrderRecord, OrderError> {
        Ok(self.run_blocking(create_work(unit, order, now_ms)?)?)
    }

    /// Withdraws an order not yet ended, from dispatch's thread; its state
    /// before and the withdrawn order, `None` when there is none or it had
    /// ended.
    pub fn withdraw_blocking(
        &self,
        order_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Option<(orders::OrderState, OrderRecord)>, StoreError> {
        let (order_id, reason) = (order_id.to_string(), reason.to_string());
        self.run_blocking(move |c| orders::withdraw_in(c, &order_id, &reason, now_ms))
    }

    /// Stores a new order for `unit` (durable when this returns).
    pub async fn create(
        &self,
        unit: &str,
        order: &NewOrder,
        now_ms: i64,
    ) -> Result<OrderRecord, OrderError> {
        Ok(self.run(create_work(unit, order, now_ms)?).await?)
    }

    /// [`OrderWriter::create`] for a unit that must be able to receive it:
    /// refused, and nothing stored, when no valid patrol or supervisor
    /// certificate names the unit (checked in the same transaction).
    pub async fn create_deliverable(
        &self,
        unit: &str,
        order: &NewOrder,
        now_ms: i64,
    ) -> Result<OrderRecord, OrderError> {
        let priority = orders::validate(order)?;
        let (unit, order) = (unit.to_string(), order.clone());
        // The check and the insert in one job: one transaction.
        self.run(move |c| {
            Ok(match orders::can_receive_orders_in(c, &unit, now_ms)? {
                orders::Reach::Reachable => {
                    Ok(orders::create_in(c, &unit, &order, priority, now_ms)?)
                }
                orders::Reach::Unknown => Err(OrderError::UnknownUnit(unit)),
                orders::Reach::NoValidCertificate => Err(OrderError::Unreachable(unit)),
            })
        })
        .await?
    }

    /// Runs a session's storage operation (durable when this returns).
    pub async fn execute(
        &self,
        unit: &str,
        now_ms: i64,
        op: StoreOp,
    ) -> Result<StoreDone, StoreError> {
        let unit = unit.to_string();
        self.run(move |c| orders::execute_in(c, &unit, now_ms, &op))
            .await
    }
}

/// The statements that store a new order, once it is valid.
fn create_work(
    unit: &str,
    order: &NewOrder,
    now_ms: i64,
) -> Result<impl FnOnce(&Connection) -> rusqlite::Result<OrderRecord> + Send + 'static, OrderError>
{
    let priority = orders::validate(order)?;
    let (unit, order) = (unit.to_string(), order.clone());
    Ok(move |c: &Connection| orders::create_in(c, &unit, &order, priority, now_ms))
}

/// The thread: batches, one transaction each, answers after the commit.
fn run(store: Store, mut jobs: mpsc::Receiver<Box<dyn Job>>, path: &std::path::Path) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let commit = store.with_conn(|c| {
            let mut tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for job in batch.iter_mut() {
                let sp = tx.savepoint()?;
                if job.run(&sp) {
                    sp.commit()?;
                }
                // A failed job's savepoint rolls back when dropped.
            }
            tx.commit()
        });
        if let Err(e) = &commit {
            tracing::error!(db = %path.display(), jobs = batch.len(), "patrol writes not committed: {e}");
        }
        for job in batch.drain(..) {
            job.deliver(commit.as_ref().map(|_| ()));
        }
    }
    tracing::debug!("patrol writer stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patrol::orders::{AckOutcome, OrderState};
    use vigie_protocols::tablet::{AckKind, OrderAck};

    fn order() -> NewOrder {
        NewOrder {
            incident_id: None,
            lat_deg: 48.9,
            lon_deg: 2.3,
            priority: "normal".into(),
            instructions: "go".into(),
        }
    }

    #[tokio::test]
    async fn concurrent_jobs_are_committed_in_batches_and_answered_after_commit() {
        let dir = std::env::temp_dir().join(format!("vigie-writer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let orders = OrderStore::new(Store::open(&dir).unwrap()).unwrap();
        let writer = OrderWriter::spawn(&orders).unwrap();
        // 200 units issue at once: every order gets seq 1 for its unit and is
        // visible through another connection as soon as its answer arrives.
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let (writer, orders) = (writer.clone(), orders.clone());
            tasks.spawn(async move {
                let unit = format!("P{i}");
                let rec = writer.create(&unit, &order(), 1).await.unwrap();
                assert_eq!(rec.seq, 1);
                assert_eq!(orders.unacked(&unit).unwrap(), vec![rec.clone()]);
                let ack = OrderAck {
                    message_id: format!("m{i}"),
                    order_id: rec.order_id.clone(),
                    kind: AckKind::Received as i32,
                    ..OrderAck::default()
                };
                let done = writer
                    .execute(&unit, 2, StoreOp::Ack(ack.clone()))
                    .await
                    .unwrap();
                assert_eq!(
                    done,
                    StoreDone::Ack(AckOutcome::Applied {
                        from: OrderState::Pending,
                        to: OrderState::Received,
                        issued_ms: 1
                    })
                );
                assert_eq!(orders.list(&unit).unwrap()[0].state, OrderState::Received);
                let again = writer.execute(&unit, 3, StoreOp::Ack(ack)).await.unwrap();
                assert_eq!(again, StoreDone::Ack(AckOutcome::Duplicate));
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        assert_eq!(orders.count_unacked().unwrap(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_order_that_could_never_be_delivered_is_refused_before_it_is_stored() {
        let store = Store::in_memory().unwrap();
        let orders = OrderStore::new(store.clone()).unwrap();
        let writer = OrderWriter::spawn(&orders).unwrap();
        // Too large for one control frame.
        let huge = NewOrder {
            instructions: "x".repeat(70 * 1024),
            ..order()
        };
        assert!(matches!(
            writer.create_deliverable("P1", &huge, 1).await,
            Err(OrderError::TooLarge {
                field: "instructions",
                ..
            })
        ));
        // No such unit.
        assert!(matches!(
            writer.create_deliverable("P404", &order(), 1).await,
            Err(OrderError::UnknownUnit(_))
        ));
        // A unit with a patrol certificate, then the same unit revoked.
        let dir = std::env::temp_dir().join(format!("vigie-writer-ca-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ca = crate::patrol::ca::DeploymentCa::init(&dir, "t").unwrap();
        ca.issue(
            "P1",
            crate::patrol::ca::Role::Patrol,
            crate::patrol::ca::Validity::from_now(std::time::Duration::from_secs(3600)),
            Some(&store),
        )
        .unwrap();
        ca.issue(
            "OPS1",
            crate::patrol::ca::Role::Operator,
            crate::patrol::ca::Validity::from_now(std::time::Duration::from_secs(3600)),
            Some(&store),
        )
        .unwrap();
        let ok = writer
            .create_deliverable("P1", &order(), crate::time::unix_ms())
            .await
            .unwrap();
        assert!(matches!(
            writer
                .create_deliverable("OPS1", &order(), crate::time::unix_ms())
                .await,
            Err(OrderError::Unreachable(_))
        ));
        crate::patrol::ca::revoke_unit(&store, "P1", crate::time::unix_ms()).unwrap();
        assert!(matches!(
            writer
                .create_deliverable("P1", &order(), crate::time::unix_ms())
                .await,
            Err(OrderError::Unreachable(_))
        ));
        // Only the deliverable order was stored.
        assert_eq!(orders.list("P1").unwrap(), vec![ok]);
        assert!(orders.list("P404").unwrap().is_empty());
        assert!(orders.list("OPS1").unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The longest order the API accepts still fits one control frame, with
    /// every field at its longest.
    #[test]
    fn the_longest_accepted_order_fits_a_control_frame() {
        use vigie_protocols::tablet::codec::{MAX_CONTROL_MESSAGE_BYTES, encode_frame};
        use vigie_protocols::tablet::{ServerMessage, server_message};
        let unit = "P".repeat(64);
        let longest = NewOrder {
            incident_id: Some("9".repeat(orders::MAX_INCIDENT_ID_BYTES)),
            instructions: "é".repeat(orders::MAX_INSTRUCTIONS_BYTES / 2),
            ..order()
        };
        assert!(orders::validate(&longest).is_ok());
        let store = Store::in_memory().unwrap();
        OrderStore::new(store.clone()).unwrap();
        let rec = store
            .with_conn(|c| orders::create_in(c, &unit, &longest, 4, i64::MAX))
            .unwrap();
        let msg = ServerMessage {
            body: Some(server_message::Body::Order(rec.to_proto())),
        };
        let frame = encode_frame(&msg, MAX_CONTROL_MESSAGE_BYTES).expect("fits");
        assert!(
            frame.len() < MAX_CONTROL_MESSAGE_BYTES / 2,
            "{}",
            frame.len()
        );
    }

    #[tokio::test]
    async fn a_failing_job_does_not_undo_its_batch() {
        let orders = OrderStore::new(Store::in_memory().unwrap()).unwrap();
        let writer = OrderWriter::spawn(&orders).unwrap();
        let bad = writer.run(|c| c.execute("INSERT INTO no_such_table VALUES (1)", []));
        let first = order();
        let good = writer.create("P1", &first, 5);
        let (bad, good) = tokio::join!(bad, good);
        assert!(bad.is_err());
        let good = good.unwrap();
        assert_eq!(orders.unacked("P1").unwrap(), vec![good]);
        assert!(matches!(
            writer
                .create(
                    "P1",
                    &NewOrder {
                        lat_deg: 100.0,
                        ..order()
                    },
                    6
                )
                .await,
            Err(OrderError::BadDestination { .. })
        ));
    }
}
