//! Dispatch's own thread, and the [`Desk`] everyone else holds.
//!
//! [`Dispatch`] writes SQLite, with `fsync`, on every decision. It runs on
//! one OS thread of its own, fed by a bounded queue of [`DESK_QUEUE`] jobs,
//! each answered on its own channel, as the patrol writer is: the async
//! runtime's threads never wait for dispatch's disk. When the queue is full
//! its senders wait (`send().await`), which slows the HTTP requests and
//! tablet connections that sent the work, and nothing else: drone links,
//! positions and orders on other connections go on.
//!
//! Orders dispatch issues are stored by the patrol writer thread (the one
//! path orders take to SQLite), from this thread, which may wait for it.
//!
//! A timer task on the runtime ([`Desk::run_timers`]) asks for resends,
//! escalations and eyes-on checks when the core says they are due; ticks
//! are coalesced, so a stuck thread does not fill its queue with them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::engine::Notice;
use super::incident::{GeoPoint, Incident, Report};
use super::persist::{StoreGate, StoreHold};
use super::policy::DispatchConfig;
use super::{Dispatch, DispatchError, EYES_ON_CHECK, Figures, IncidentView};
use crate::coverage::live::LiveCoverage;
use crate::fleet::FleetHandle;
use crate::frame::LocalFrame;
use crate::order::OrderState;
use crate::patrol::roster::PatrolLink;
use crate::store::Store;

/// Jobs that may wait for the dispatch thread; more make their senders
/// wait.
pub const DESK_QUEUE: usize = 1024;

/// Work for the dispatch thread.
type Job = Box<dyn FnOnce(&Dispatch) + Send>;

/// The handle to dispatch's thread; cheap to clone. The thread ends when
/// the last handle is dropped, after the jobs already queued.
#[derive(Clone)]
pub struct Desk {
    /// The job queue.
    jobs: mpsc::Sender<Job>,
    /// Operators' notices (sent by the thread, read by anyone).
    events: broadcast::Sender<Notice>,
    /// The configuration dispatch runs with.
    config: Arc<DispatchConfig>,
    /// Dispatch's storage gate (held only by the slow-disk test).
    gate: Arc<StoreGate>,
    /// The core's next deadline, Unix ms, as the thread last saw it.
    next: watch::Receiver<Option<i64>>,
    /// A tick is queued and not yet run.
    tick_queued: Arc<AtomicBool>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk")
            .field("queued", &(DESK_QUEUE - self.jobs.capacity()))
            .finish_non_exhaustive()
    }
}

/// What the thread hands back once dispatch is open.
type Opened = (broadcast::Sender<Notice>, Arc<StoreGate>);

impl Desk {
    /// Starts dispatch's thread: opens dispatch there (restoring incidents
    /// and orders, importing tablet reports a crash left behind) and
    /// returns once it is ready, or with the reason it could not open.
    /// Decisions go to `audit` from then on.
    pub async fn open(
        store: Store,
        cfg: DispatchConfig,
        frame: LocalFrame,
        patrol: Arc<PatrolLink>,
        fleet: FleetHandle,
        coverage: Arc<LiveCoverage>,
        audit: Option<crate::guardrails::audit::Audit>,
    ) -> Result<Desk, DispatchError> {
        // A connection of its own: a slow dispatch write never holds the
        // lock the HTTP handlers' reads take.
        let store = store.second_connection()?;
        let config = Arc::new(cfg.clone());
        let (jobs, rx) = mpsc::channel::<Job>(DESK_QUEUE);
        let (ready, opened) = oneshot::channel::<Result<Opened, DispatchError>>();
        let (deadline, next) = watch::channel(None);
        std::thread::Builder::new()
            .name("vigie-dispatch".into())
            .spawn(move || {
                let dispatch = match Dispatch::open(store, cfg, frame, patrol, fleet, coverage) {
                    Ok(d) => d,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                if let Some(register) = audit {
                    dispatch.set_audit(register);
                }
                let _ = ready.send(Ok((dispatch.events.clone(), dispatch.db.gate().clone())));
                serve(&dispatch, rx, &deadline);
            })
            .map_err(|e| DispatchError::Stopped(format!("cannot start its thread: {e}")))?;
        let (events, gate) = opened
            .await
            .map_err(|_| DispatchError::Stopped("its thread failed while opening".into()))??;
        Ok(Desk {
            jobs,
            events,
            config,
            gate,
            next,
            tick_queued: Arc::default(),
        })
    }

    /// Runs `f` on dispatch's thread and returns its answer.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Dispatch) -> R + Send + 'static,
    ) -> Result<R, DispatchError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(move |d| {
                let _ = reply.send(f(d));
            }))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| {
            DispatchError::Stopped("the request failed on dispatch's thread (see the log)".into())
        })
    }

    /// Queues `f` for dispatch's thread without waiting for it to run
    /// (only for room in the queue).
    async fn post(&self, f: impl FnOnce(&Dispatch) + Send + 'static) -> Result<(), DispatchError> {
        self.jobs.send(Box::new(f)).await.map_err(|_| stopped())
    }

    /// The configuration.
    pub fn config(&self) -> &DispatchConfig {
        &self.config
    }

    /// Operators' notices, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.events.subscribe()
    }

    /// Holds dispatch's storage still, as a disk that stopped answering,
    /// until the hold is dropped. For the test that shows what still works
    /// then; a deployment never calls it.
    pub fn hold_storage(&self) -> StoreHold {
        self.gate.hold()
    }

    /// [`Dispatch::report`] for an operator's or a system's report.
    pub async fn report(&self, report: Report) -> Result<Option<IncidentView>, DispatchError> {
        self.call(move |d| d.report(report, None)).await?
    }

    /// [`Dispatch::tablet_report`]: queued, not awaited (the patrol link has
    /// stored it; a crash before dispatch takes it is imported on restart).
    pub async fn tablet_report(
        &self,
        unit: String,
        message_id: String,
        category: i32,
        location: Option<GeoPoint>,
        text: String,
        at_ms: i64,
    ) -> Result<(), DispatchError> {
        self.post(move |d| {
            if let Err(e) = d.tablet_report(&unit, &message_id, category, location, &text, at_ms)
            {
                tracing::error!(%unit, id = %message_id, "incident stored but not dispatched yet (imported on restart): {e}");
            }
        })
        .await
    }

    /// [`Dispatch::call_point_alarm`].
    pub async fn call_point_alarm(
        &self,
        id: String,
        text: String,
    ) -> Result<IncidentView, DispatchError> {
        self.call(move |d| d.call_point_alarm(&id, &text)).await?
    }

    /// [`Dispatch::assign`].
    pub async fn assign(
        &self,
        incident_id: u64,
        units: Vec<String>,
        count: usize,
        by: String,
    ) -> Result<IncidentView, DispatchError> {
        self.call(move |d| d.assign(incident_id, units, count, &by))
            .await?
    }

    /// [`Dispatch::finish`].
    pub async fn finish(
        &self,
        incident_id: u64,
        cancel: bool,
        by: String,
    ) -> Result<IncidentView, DispatchError> {
        self.call(move |d| d.finish(incident_id, cancel, &by))
            .await?
    }

    /// [`Dispatch::order_progress`]: queued, not awaited (the ack is stored;
    /// dispatch restores it from the order queue after a crash).
    pub async fn order_progress(
        &self,
        order_id: String,
        state: OrderState,
    ) -> Result<(), DispatchError> {
        self.post(move |d| d.order_progress(&order_id, state)).await
    }

    /// [`Dispatch::view`].
    pub async fn view(&self, id: u64) -> Result<Option<IncidentView>, DispatchError> {
        self.call(move |d| d.view(id)).await?
    }

    /// [`Dispatch::list`].
    pub async fn list(&self, open_only: bool) -> Result<Vec<Incident>, DispatchError> {
        self.call(move |d| d.list(open_only)).await
    }

    /// [`Dispatch::figures`].
    pub async fn figures(&self) -> Result<Figures, DispatchError> {
        self.call(Dispatch::figures).await
    }

    /// [`Dispatch::render_metrics`].
    pub async fn render_metrics(&self) -> Result<String, DispatchError> {
        self.call(Dispatch::render_metrics).await
    }

    /// Asks for resends, escalations and eyes-on checks when the core says
    /// they are due (at least every [`EYES_ON_CHECK`]), until `stop`
    /// resolves.
    pub async fn run_timers(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut next = self.next.clone();
        loop {
            let now = crate::time::unix_ms();
            let due = *next.borrow_and_update();
            let wait = if self.tick_queued.load(Ordering::Acquire) {
                // The thread has not taken the last one: do not spin.
                EYES_ON_CHECK
            } else {
                due.map(|t| Duration::from_millis((t - now).clamp(0, 60_000) as u64))
                    .unwrap_or(EYES_ON_CHECK)
                    .min(EYES_ON_CHECK)
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(wait) => self.queue_tick(),
                changed = next.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Queues one tick unless one is queued already; a full queue skips it
    /// (the next round tries again).
    fn queue_tick(&self) {
        if self.tick_queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let queued = self.tick_queued.clone();
        let tick: Job = Box::new(move |d| {
            queued.store(false, Ordering::Release);
            d.tick();
        });
        if self.jobs.try_send(tick).is_err() {
            self.tick_queued.store(false, Ordering::Release);
        }
    }
}

impl crate::patrol::quic::DispatchInbox for Desk {
    fn tablet_report(
        &self,
        unit: &str,
        report: &vigie_protocols::tablet::IncidentReport,
    ) -> crate::patrol::quic::BoxFuture<'static, ()> {
        let desk = self.clone();
        let at = report.location.map(|p| GeoPoint {
            lat_deg: p.lat_deg,
            lon_deg: p.lon_deg,
        });
        let (unit, id) = (unit.to_string(), report.message_id.clone());
        let (category, text, at_ms) = (report.category, report.text.clone(), report.at_ms);
        Box::pin(async move {
            if let Err(e) = desk
                .tablet_report(unit, id.clone(), category, at, text, at_ms)
                .await
            {
                tracing::error!(%id, "incident stored but not dispatched yet (imported on restart): {e}");
            }
        })
    }

    fn order_progress(
        &self,
        order_id: &str,
        state: OrderState,
    ) -> crate::patrol::quic::BoxFuture<'static, ()> {
        let desk = self.clone();
        let order_id = order_id.to_string();
        Box::pin(async move {
            if let Err(e) = desk.order_progress(order_id.clone(), state).await {
                tracing::error!(%order_id, "ack stored, dispatch not told (restored on restart): {e}");
            }
        })
    }
}

fn stopped() -> DispatchError {
    DispatchError::Stopped("its thread has stopped".into())
}

/// The thread: one job at a time, in order; after each, the core's next
/// deadline for the timer task. A job that panics is logged and its caller
/// told; the ones after it still run.
fn serve(
    dispatch: &Dispatch,
    mut jobs: mpsc::Receiver<Job>,
    deadline: &watch::Sender<Option<i64>>,
) {
    deadline.send_replace(dispatch.next_deadline());
    while let Some(job) = jobs.blocking_recv() {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(dispatch)));
        if ran.is_err() {
            tracing::error!(
                "a dispatch request panicked; dispatch goes on from its last completed step"
            );
        }
        let next = dispatch.next_deadline();
        deadline.send_if_modified(|d| {
            let changed = *d != next;
            *d = next;
            changed
        });
    }
    tracing::debug!("dispatch thread stopped");
}
