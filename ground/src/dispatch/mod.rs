//! Dispatch: incidents in from every source, the right units and cameras
//! out, nothing lost.
//!
//! One straight path:
//!
//! - [`incident`]: categories (situations, never persons), priorities,
//!   sources, the status lifecycle with every transition timed.
//! - [`policy`]: the `[dispatch]` configuration (auto-assignment, resend and
//!   escalation delays, travel speeds, call points, event zones).
//! - [`suggest`]: free patrols ranked by travel time, the drone that can be
//!   overhead soonest, the cameras that see the spot now.
//! - [`engine`]: the sans-I/O core: `(now_ms, event)` in, ordered actions
//!   and the next wake-up out.
//! - [`persist`]: incidents, transitions and escalations in SQLite.
//! - [`http`]: the routes, the operators' event stream and the live page.
//! - [`desk`]: dispatch's own thread, and the handle ([`desk::Desk`]) the
//!   HTTP routes, the patrol link and the operator picture hold.
//!
//! [`Dispatch`] (this file) is the thin edge, run only on that thread: it
//! stores a report, computes suggestions from the picture and coverage,
//! feeds the core, and carries its actions out in order: saves before
//! announcements, orders through the patrol link's persisted queue. Three
//! private files carry the rest of its methods: `figures` (the live page's
//! [`Figures`]), `metrics` (latencies and the Prometheus families) and
//! `audit` (each decision translated to a register entry).

mod audit;
pub mod desk;
pub mod engine;
mod figures;
pub mod http;
pub mod incident;
mod metrics;
pub mod persist;
pub mod policy;
pub mod routing;
pub mod suggest;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use vigie_protocols::api::UnitKind;

use crate::coverage::live::LiveCoverage;
use crate::fleet::FleetHandle;
use crate::frame::LocalFrame;
use crate::metrics::Histogram;
use crate::order::{NewOrder, OrderState};
use crate::patrol::roster::PatrolLink;
use crate::store::{Store, StoreError};
use engine::{Action, Engine, EngineError, Escalation, Event, Notice, Rules, TrackedOrder};
use incident::{Category, GeoPoint, Incident, Priority, Report, ReportError, Source, Status};
use persist::DispatchStore;
use policy::DispatchConfig;
use suggest::Suggestions;

pub use figures::{Figures, MapFigures, MapIncident, MapUnit, MapZone, day_start};
use metrics::Stats;

/// Notices the operators' stream keeps for slow readers; a reader that
/// falls further behind is told it lagged and should re-read the incidents.
pub const EVENT_BUFFER: usize = 1024;

/// How often open incidents are checked for cameras that see them.
pub const EYES_ON_CHECK: Duration = Duration::from_secs(1);

/// Why dispatch refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The report is invalid.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The core refused the event.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A named unit is not a patrol of the picture.
    #[error("{0:?} is not a patrol unit of the picture: GET /api/v1/units lists them")]
    UnknownUnit(String),
    /// No such call point.
    #[error(
        "no call point {0:?}: declare it under [[dispatch.call_points]] or as a call_point unit with a position"
    )]
    UnknownCallPoint(String),
    /// Dispatch's thread is not running (or failed on this request).
    #[error("dispatch is not running: {0}")]
    Stopped(String),
    /// Storage failed: nothing after it was announced.
    #[error("storage failed, nothing was announced: {0}")]
    Store(#[from] StoreError),
    /// The street network of `[dispatch] streets` could not be loaded.
    #[error(
        "dispatch.streets {path}: {detail}; fix the file or remove the setting (straight-line travel times are used without it)"
    )]
    Streets {
        /// The file.
        path: std::path::PathBuf,
        /// What was wrong.
        detail: String,
    },
}

/// An incident with its orders, escalations and current suggestions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentView {
    /// The incident.
    pub incident: Incident,
    /// Its orders, in issue order.
    pub orders: Vec<TrackedOrder>,
    /// Times operators were asked to step in.
    pub escalations: Vec<Escalation>,
    /// Who to send and what sees it, now (none once it is over).
    pub suggestions: Option<Suggestions>,
}

/// Dispatch's shared state: the core behind a lock, its store, and the
/// stream of notices for operators.
#[derive(Debug)]
pub struct Dispatch {
    /// The audit register, once the server has handed it over.
    register: std::sync::OnceLock<crate::guardrails::audit::Audit>,
    /// Configuration.
    cfg: DispatchConfig,
    /// The site's frame.
    frame: LocalFrame,
    /// Incidents, transitions, escalations.
    db: DispatchStore,
    /// Orders go through the patrol link's persisted queue.
    patrol: Arc<PatrolLink>,
    /// The picture, for suggestions.
    fleet: FleetHandle,
    /// Coverage now, for suggestions and eyes-on.
    coverage: Arc<LiveCoverage>,
    /// The street network travel times are routed on, when one is loaded.
    streets: Option<routing::StreetGraph>,
    /// The core. Locked for one event and its actions; never across an await.
    engine: Mutex<Engine>,
    /// Notices to operators.
    events: broadcast::Sender<Notice>,
    /// Latency histograms.
    stats: Mutex<Stats>,
}

impl Dispatch {
    /// Opens dispatch over the store: restores the core from the incidents
    /// and orders stored, turns tablet reports a crash left behind into
    /// incidents, and is ready to resend what was pending.
    pub fn open(
        store: Store,
        cfg: DispatchConfig,
        frame: LocalFrame,
        patrol: Arc<PatrolLink>,
        fleet: FleetHandle,
        coverage: Arc<LiveCoverage>,
    ) -> Result<Dispatch, DispatchError> {
        let streets = match &cfg.streets {
            Some(path) => {
                let fail = |detail: String| DispatchError::Streets {
                    path: path.clone(),
                    detail,
                };
                let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
                let lines = routing::read_lines(&text, |lat, lon| frame.to_local(lat, lon))
                    .map_err(|e| fail(e.to_string()))?;
                let graph = routing::StreetGraph::new(&lines);
                tracing::info!(path = %path.display(), segments = graph.edge_count(), "travel times routed on the street network");
                Some(graph)
            }
            None => None,
        };
        let db = DispatchStore::new(store)?;
        let now = crate::time::unix_ms();
        let since = day_start(now);
        let incidents = db.load(since)?;
        let first = incidents.iter().map(|i| i.created_ms).min().unwrap_or(now);
        let orders = patrol.orders().for_incidents_since(first)?;
        let escalated = db.escalated_orders()?;
        let mut engine = Engine::new(Rules::from_config(&cfg));
        let restored = incidents.len();
        let fixes = engine.restore(now, incidents, orders, &escalated);
        let dispatch = Dispatch {
            register: std::sync::OnceLock::new(),
            frame,
            db,
            patrol,
            fleet,
            coverage,
            streets,
            engine: Mutex::new(engine),
            events: broadcast::channel(EVENT_BUFFER).0,
            stats: Mutex::new(Stats {
                ack_latency: Histogram::new(&[
                    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                ]),
                first_on_scene: Histogram::new(&[
                    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
                ]),
                on_scene_counted: std::collections::HashSet::new(),
                orders: 0,
                escalations: 0,
            }),
            cfg,
        };
        {
            let mut engine = dispatch.lock();
            dispatch.carry_out(&mut engine, now, fixes)?;
        }
        for r in dispatch.db.unimported()? {
            tracing::warn!(unit = %r.unit, id = %r.message_id, "tablet report stored before a stop but not dispatched: importing it");
            dispatch.tablet_report(
                &r.unit,
                &r.message_id,
                r.category,
                r.location,
                &r.text,
                r.at_ms,
            )?;
        }
        tracing::info!(incidents = restored, "dispatch restored");
        Ok(dispatch)
    }

    /// The configuration.
    pub fn config(&self) -> &DispatchConfig {
        &self.cfg
    }

    /// Operators' notices, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.events.subscribe()
    }

    fn lock(&self) -> MutexGuard<'_, Engine> {
        // A panic mid-event leaves the core as it was after its last
        // completed step; the database stays the truth on restart.
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a report as an incident, suggests, and auto-assigns if the
    /// policy says so. `tablet` = (unit, message id) makes it idempotent.
    pub fn report(
        &self,
        report: Report,
        tablet: Option<(&str, &str)>,
    ) -> Result<Option<IncidentView>, DispatchError> {
        report.validate()?;
        let now = crate::time::unix_ms();
        let Some(incident) = self.db.insert(&report, now, tablet)? else {
            return Ok(None);
        };
        let id = incident.id;
        let mut engine = self.lock();
        let suggestions = self.suggestions(&engine, &incident);
        let candidates = suggestions.patrols.iter().map(|c| c.unit.clone()).collect();
        let actions = engine.handle(
            now,
            Event::Reported {
                incident,
                candidates,
            },
        )?;
        // Announce suggestions right after the incident itself.
        let mut actions: VecDeque<Action> = actions.into();
        let at = actions
            .iter()
            .position(|a| matches!(a, Action::Announce(Notice::Incident { .. })))
            .map_or(0, |i| i + 1);
        actions.insert(
            at,
            Action::Announce(Notice::Suggestions {
                incident_id: id,
                suggestions: suggestions.clone(),
            }),
        );
        self.carry_out(&mut engine, now, actions.into())?;
        let view = self.view_locked(&engine, id, Some(suggestions))?;
        Ok(view)
    }

    /// A tablet's incident report (already stored by the patrol link).
    pub fn tablet_report(
        &self,
        unit: &str,
        message_id: &str,
        category: i32,
        location: Option<GeoPoint>,
        text: &str,
        at_ms: i64,
    ) -> Result<Option<IncidentView>, DispatchError> {
        let category = Category::from_proto(category).unwrap_or(Category::Other);
        let mut text = text.to_string();
        let location = match location.filter(GeoPoint::is_valid) {
            Some(p) => p,
            None => {
                let here = self
                    .fleet
                    .read(|f| f.get(unit).and_then(|u| u.position))
                    .map(|p| GeoPoint {
                        lat_deg: p.lat_deg,
                        lon_deg: p.lon_deg,
                    });
                text.push_str(if here.is_some() {
                    " [no location given: the reporting unit's last position]"
                } else {
                    " [no location given or known: the site origin]"
                });
                here.unwrap_or(GeoPoint {
                    lat_deg: self.frame.origin_lat_deg,
                    lon_deg: self.frame.origin_lon_deg,
                })
            }
        };
        text.truncate(
            (0..=incident::MAX_TEXT_BYTES.min(text.len()))
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0),
        );
        self.report(
            Report {
                category,
                priority: category.default_priority(),
                location,
                source: Source::Tablet,
                reporter: unit.to_string(),
                text,
                observed_ms: at_ms,
            },
            Some((unit, message_id)),
        )
    }

    /// An emergency call point's alarm: an incident at its location.
    pub fn call_point_alarm(&self, id: &str, text: &str) -> Result<IncidentView, DispatchError> {
        let (location, category, priority) = match self.cfg.call_point(id) {
            Some(cp) => (cp.location, cp.category, cp.priority),
            None => {
                let pos = self
                    .fleet
                    .read(|f| {
                        f.get(id)
                            .filter(|u| u.kind == UnitKind::CallPoint)
                            .and_then(|u| u.position)
                    })
                    .ok_or_else(|| DispatchError::UnknownCallPoint(id.to_string()))?;
                (
                    GeoPoint {
                        lat_deg: pos.lat_deg,
                        lon_deg: pos.lon_deg,
                    },
                    Category::Medical,
                    Priority::High,
                )
            }
        };
        let now = crate::time::unix_ms();
        let view = self.report(
            Report {
                category,
                priority,
                location,
                source: Source::CallPoint,
                reporter: id.to_string(),
                text: text.to_string(),
                observed_ms: now,
            },
            None,
        )?;
        view.ok_or_else(|| DispatchError::UnknownCallPoint(id.to_string()))
    }

    /// Orders `units` (or, when empty, the `count` best suggested free
    /// patrols) to the incident.
    pub fn assign(
        &self,
        incident_id: u64,
        units: Vec<String>,
        count: usize,
        by: &str,
    ) -> Result<IncidentView, DispatchError> {
        let now = crate::time::unix_ms();
        let mut engine = self.lock();
        let units = if units.is_empty() {
            let inc = engine
                .incident(incident_id)
                .ok_or(EngineError::UnknownIncident(incident_id))?
                .clone();
            let s = self.suggestions(&engine, &inc);
            s.patrols.into_iter().take(count).map(|c| c.unit).collect()
        } else {
            for u in &units {
                let known = self
                    .fleet
                    .read(|f| f.get(u).is_some_and(|x| x.kind == UnitKind::Patrol));
                if !known {
                    return Err(DispatchError::UnknownUnit(u.clone()));
                }
            }
            units
        };
        let actions = engine.handle(
            now,
            Event::Assign {
                incident_id,
                units,
                by: by.to_string(),
            },
        )?;
        self.carry_out(&mut engine, now, actions)?;
        self.view_locked(&engine, incident_id, None)?
            .ok_or_else(|| EngineError::UnknownIncident(incident_id).into())
    }

    /// Closes or cancels an incident.
    pub fn finish(
        &self,
        incident_id: u64,
        cancel: bool,
        by: &str,
    ) -> Result<IncidentView, DispatchError> {
        let now = crate::time::unix_ms();
        let mut engine = self.lock();
        let by = by.to_string();
        let event = if cancel {
            Event::Cancel { incident_id, by }
        } else {
            Event::Close { incident_id, by }
        };
        let actions = engine.handle(now, event)?;
        self.carry_out(&mut engine, now, actions)?;
        self.view_locked(&engine, incident_id, None)?
            .ok_or_else(|| EngineError::UnknownIncident(incident_id).into())
    }

    /// A unit's ack moved an order forward (called by the patrol link after
    /// the ack is stored).
    pub fn order_progress(&self, order_id: &str, state: OrderState) {
        let now = crate::time::unix_ms();
        let mut engine = self.lock();
        let Some(order) = engine.order(order_id).cloned() else {
            return;
        };
        if order.first_ack_ms.is_none() && state != OrderState::Pending {
            self.stats()
                .ack_latency
                .observe(Duration::from_millis((now - order.issued_ms).max(0) as u64));
        }
        let candidates = if state == OrderState::Refused {
            match engine.incident(order.incident_id).cloned() {
                Some(inc) => {
                    let exclude = engine.excluded(inc.id);
                    self.fleet.read(|f| {
                        suggest::rank_patrols_with(
                            self.streets.as_ref(),
                            f.units(),
                            &self.frame,
                            inc.report.location,
                            &self.cfg,
                            &exclude,
                            self.cfg.suggestions,
                        )
                    })
                }
                None => Vec::new(),
            }
        } else {
            Vec::new()
        };
        let event = Event::OrderProgress {
            order_id: order_id.to_string(),
            state,
            candidates: candidates.into_iter().map(|c| c.unit).collect(),
        };
        match engine.handle(now, event) {
            Ok(actions) => {
                if let Err(e) = self.carry_out(&mut engine, now, actions) {
                    tracing::error!(%order_id, "dispatch could not apply an order's progress: {e}");
                }
            }
            Err(e) => tracing::warn!(%order_id, "order progress ignored: {e}"),
        }
    }

    /// Resends and escalates what is due, and records eyes on incidents
    /// that a camera or drone now sees. Returns the next deadline, Unix ms.
    pub fn tick(&self) -> Option<i64> {
        let now = crate::time::unix_ms();
        let mut engine = self.lock();
        let actions = engine.handle_timeout(now);
        if let Err(e) = self.carry_out(&mut engine, now, actions) {
            tracing::error!("dispatch timers: {e}");
        }
        let blind: Vec<(u64, GeoPoint)> = engine
            .incidents()
            .filter(|i| i.eyes_on_ms.is_none() && !i.status.is_final())
            .map(|i| (i.id, i.report.location))
            .collect();
        for (id, spot) in blind {
            let seen = self
                .coverage
                .read(|idx| !suggest::cameras_now(idx, &self.frame, spot).is_empty());
            if seen {
                match engine.handle(now, Event::EyesOn { incident_id: id }) {
                    Ok(actions) => {
                        if let Err(e) = self.carry_out(&mut engine, now, actions) {
                            tracing::error!("dispatch eyes-on: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("eyes-on ignored: {e}"),
                }
            }
        }
        engine.forget_before(day_start(now));
        engine.poll_timeout()
    }

    /// The core's next deadline (resend, escalation), Unix ms.
    pub fn next_deadline(&self) -> Option<i64> {
        self.lock().poll_timeout()
    }

    /// The suggestions for an incident now.
    fn suggestions(&self, engine: &Engine, inc: &Incident) -> Suggestions {
        let exclude = engine.excluded(inc.id);
        let units = self.fleet.snapshot();
        self.coverage.read(|idx| {
            suggest::suggest(
                self.streets.as_ref(),
                &units,
                idx,
                &self.frame,
                inc.report.location,
                &self.cfg,
                &exclude,
                // Flight authorisations belong to the guardrails; until they
                // answer here, every linked drone with the battery is shown.
                &|_, _| true,
                crate::time::unix_ms(),
            )
        })
    }

    /// The incident with its orders, escalations and (if asked) suggestions.
    pub fn view(&self, id: u64) -> Result<Option<IncidentView>, DispatchError> {
        let engine = self.lock();
        let fresh = engine
            .incident(id)
            .filter(|i| !i.status.is_final())
            .map(|i| self.suggestions(&engine, i));
        self.view_locked(&engine, id, fresh)
    }

    fn view_locked(
        &self,
        engine: &Engine,
        id: u64,
        suggestions: Option<Suggestions>,
    ) -> Result<Option<IncidentView>, DispatchError> {
        let incident = match engine.incident(id) {
            Some(i) => i.clone(),
            None => match self.db.get(id)? {
                Some(i) => i,
                None => return Ok(None),
            },
        };
        Ok(Some(IncidentView {
            orders: engine.orders_of(id).cloned().collect(),
            escalations: self.db.escalations(id)?,
            suggestions,
            incident,
        }))
    }

    /// Incidents held (open ones and today's), newest first; `open_only`
    /// drops closed and cancelled ones.
    pub fn list(&self, open_only: bool) -> Vec<Incident> {
        let engine = self.lock();
        let mut out: Vec<Incident> = engine
            .incidents()
            .filter(|i| !open_only || !i.status.is_final())
            .cloned()
            .collect();
        out.reverse();
        out
    }

    /// Carries actions out in order; stops at the first storage failure
    /// so that nothing after it is announced.
    fn carry_out(
        &self,
        engine: &mut Engine,
        now: i64,
        actions: Vec<Action>,
    ) -> Result<(), DispatchError> {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            self.audit(&action);
            match action {
                Action::SaveIncident(i) => {
                    self.db.save(&i)?;
                    if let (Some(t), Some(first)) = (i.on_scene_ms, i.transitions.last())
                        && first.status == Status::OnScene
                    {
                        let mut stats = self.stats();
                        if stats.on_scene_counted.insert(i.id) {
                            stats
                                .first_on_scene
                                .observe(Duration::from_millis((t - i.created_ms).max(0) as u64));
                        }
                    }
                }
                Action::SaveEscalation(e) => {
                    self.db.save_escalation(&e)?;
                    self.stats().escalations += 1;
                }
                Action::IssueOrder {
                    incident_id, unit, ..
                } => {
                    let Some(inc) = engine.incident(incident_id) else {
                        continue;
                    };
                    let order = NewOrder {
                        incident_id: Some(inc.order_ref()),
                        lat_deg: inc.report.location.lat_deg,
                        lon_deg: inc.report.location.lon_deg,
                        priority: inc.report.priority.as_str().to_string(),
                        instructions: format!(
                            "Incident {}: {}. {}",
                            inc.id,
                            inc.report.category.as_str().replace('_', " "),
                            inc.report.text
                        ),
                    };
                    let event = match self.patrol.issue_order_blocking(&unit, &order) {
                        Ok(rec) => {
                            self.stats().orders += 1;
                            Event::OrderStored {
                                incident_id,
                                unit,
                                order_id: rec.order_id,
                                issued_ms: rec.issued_ms,
                            }
                        }
                        Err(e) => {
                            tracing::error!(%unit, incident_id, "order not stored: {e}");
                            Event::OrderFailed {
                                incident_id,
                                unit,
                                reason: format!("the order could not be stored: {e}"),
                            }
                        }
                    };
                    let more = engine.handle(now, event)?;
                    queue.extend(more);
                }
                Action::Withdraw {
                    order_id, reason, ..
                } => {
                    // Stored before the notice that follows is announced.
                    self.patrol.withdraw_blocking(&order_id, &reason)?;
                }
                Action::Resend { order_id, unit } => {
                    if let Err(e) = self.patrol.resend(&order_id) {
                        tracing::warn!(%order_id, %unit, "cannot resend: {e}");
                    }
                }
                Action::Announce(n) => {
                    // No subscriber is not an error: the notice is stored.
                    let _ = self.events.send(n);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
