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
//!
//! - [`desk`]: dispatch's own thread, and the handle ([`desk::Desk`]) the
//!   HTTP routes, the patrol link and the operator picture hold.
//!
//! [`Dispatch`] (this file) is the thin edge, run only on that thread: it
//! stores a report, computes suggestions from the picture and coverage,
//! feeds the core, and carries its actions out in order: saves before
//! announcements, orders through the patrol link's persisted queue.

pub mod desk;
pub mod engine;
pub mod http;
pub mod incident;
pub mod persist;
pub mod policy;
pub mod routing;
pub mod suggest;

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use vigie_protocols::api::{UnitKind, UnitStatus};

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

/// The figures of the live page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Start of the day counted, Unix ms (00:00 UTC).
    pub day_start_ms: i64,
    /// Incidents created since then.
    pub incidents_today: u64,
    /// Of those, by category (every category, zeros included).
    pub by_category: BTreeMap<Category, u64>,
    /// Incidents not closed or cancelled.
    pub open_incidents: u64,
    /// Median time from report to a camera or drone seeing the spot, over
    /// today's incidents that got eyes on, seconds.
    pub median_eyes_on_s: Option<f64>,
    /// Median time from report to the first unit on scene, over today's
    /// incidents that got one, seconds.
    pub median_first_on_scene_s: Option<f64>,
    /// Available units by kind.
    pub units_available: BTreeMap<UnitKind, u64>,
    /// Camera coverage of each event zone, fraction of open ground 0..1.
    pub zone_coverage: BTreeMap<String, f64>,
    /// Units by kind and status (every kind and status, zeros included).
    #[serde(default)]
    pub units_by_status: BTreeMap<UnitKind, BTreeMap<UnitStatus, u64>>,
    /// Drones flying now (armed, link up): a flying drone is not
    /// "available", and must still be counted.
    #[serde(default)]
    pub drones_in_flight: u64,
    /// For the page's map: open incidents, event zones, units with a
    /// position.
    #[serde(default)]
    pub map: MapFigures,
    /// When computed, Unix ms.
    pub at_ms: i64,
}

/// What the live page's small map draws (WGS84).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MapFigures {
    /// Open incidents.
    pub incidents: Vec<MapIncident>,
    /// Event zones, outer ring `[lon, lat]`, with their camera coverage.
    pub zones: Vec<MapZone>,
    /// Units with a known position.
    pub units: Vec<MapUnit>,
}

/// An open incident on the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapIncident {
    /// Incident id.
    pub id: u64,
    /// Category.
    pub category: Category,
    /// Priority.
    pub priority: Priority,
    /// Latitude, degrees.
    pub lat_deg: f64,
    /// Longitude, degrees.
    pub lon_deg: f64,
}

/// An event zone on the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapZone {
    /// Zone name.
    pub name: String,
    /// Outer ring, `[lon, lat]`.
    pub ring: Vec<[f64; 2]>,
    /// Camera coverage, fraction of open ground 0..1, when computed.
    pub coverage: Option<f64>,
}

/// A unit on the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapUnit {
    /// Unit id.
    pub id: String,
    /// Kind.
    pub kind: UnitKind,
    /// Status.
    pub status: UnitStatus,
    /// Latitude, degrees.
    pub lat_deg: f64,
    /// Longitude, degrees.
    pub lon_deg: f64,
}

/// Latencies measured as they happen (since this server started).
#[derive(Debug)]
struct Stats {
    /// Order issued → first ack of any kind, seconds.
    ack_latency: Histogram,
    /// Incident created → first unit on scene, seconds.
    first_on_scene: Histogram,
    /// Incidents already counted in `first_on_scene`: an incident may be
    /// saved again in the same state (a repeated acknowledgement), and is
    /// counted once.
    on_scene_counted: std::collections::HashSet<u64>,
    /// Orders issued.
    orders: u64,
    /// Escalations.
    escalations: u64,
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

/// Start of the UTC day containing `ms`.
pub fn day_start(ms: i64) -> i64 {
    ms - ms.rem_euclid(86_400_000)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
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

    /// The live page's figures.
    pub fn figures(&self) -> Figures {
        let now = crate::time::unix_ms();
        let start = day_start(now);
        let engine = self.lock();
        let mut by_category: BTreeMap<Category, u64> =
            Category::ALL.into_iter().map(|c| (c, 0)).collect();
        let mut eyes = Vec::new();
        let mut scene = Vec::new();
        let mut today = 0;
        let mut open = 0;
        let mut map = MapFigures::default();
        for i in engine.incidents() {
            if !i.status.is_final() {
                open += 1;
                map.incidents.push(MapIncident {
                    id: i.id,
                    category: i.report.category,
                    priority: i.report.priority,
                    lat_deg: i.report.location.lat_deg,
                    lon_deg: i.report.location.lon_deg,
                });
            }
            if i.created_ms < start {
                continue;
            }
            today += 1;
            *by_category.entry(i.report.category).or_default() += 1;
            if let Some(t) = i.eyes_on_ms {
                eyes.push((t - i.created_ms).max(0) as f64 / 1000.0);
            }
            if let Some(t) = i.on_scene_ms {
                scene.push((t - i.created_ms).max(0) as f64 / 1000.0);
            }
        }
        drop(engine);
        let mut units_available: BTreeMap<UnitKind, u64> =
            UnitKind::ALL.into_iter().map(|k| (k, 0)).collect();
        let mut units_by_status: BTreeMap<UnitKind, BTreeMap<UnitStatus, u64>> = UnitKind::ALL
            .into_iter()
            .map(|k| (k, UnitStatus::ALL.into_iter().map(|s| (s, 0)).collect()))
            .collect();
        let mut drones_in_flight = 0;
        self.fleet.read(|f| {
            for u in f.units() {
                if u.status == UnitStatus::Available {
                    *units_available.entry(u.kind).or_default() += 1;
                }
                *units_by_status
                    .entry(u.kind)
                    .or_default()
                    .entry(u.status)
                    .or_default() += 1;
                if u.kind == UnitKind::Drone
                    && u.status != UnitStatus::LinkLost
                    && u.drone.as_ref().is_some_and(|d| d.armed)
                {
                    drones_in_flight += 1;
                }
                if let Some(p) = &u.position {
                    map.units.push(MapUnit {
                        id: u.id.clone(),
                        kind: u.kind,
                        status: u.status,
                        lat_deg: p.lat_deg,
                        lon_deg: p.lon_deg,
                    });
                }
            }
        });
        let zone_coverage = self.zone_coverage();
        map.zones = self
            .cfg
            .event_zones
            .iter()
            .map(|z| MapZone {
                name: z.name.clone(),
                ring: z.ring.iter().map(|p| [p.lon_deg, p.lat_deg]).collect(),
                coverage: zone_coverage.get(&z.name).copied(),
            })
            .collect();
        Figures {
            day_start_ms: start,
            incidents_today: today,
            by_category,
            open_incidents: open,
            median_eyes_on_s: median(eyes),
            median_first_on_scene_s: median(scene),
            units_available,
            zone_coverage,
            units_by_status,
            drones_in_flight,
            map,
            at_ms: now,
        }
    }

    fn zone_coverage(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for z in &self.cfg.event_zones {
            let mut ring: Vec<[f64; 2]> = z
                .ring
                .iter()
                .map(|p| {
                    let (e, n) = self.frame.to_local(p.lat_deg, p.lon_deg);
                    [e, n]
                })
                .collect();
            if ring.first() != ring.last()
                && let Some(first) = ring.first().copied()
            {
                ring.push(first);
            }
            let report = self
                .coverage
                .read(|idx| crate::coverage::query::zone_coverage(idx, &ring, 10.0, 0, f64::MAX));
            match report {
                Ok(r) => {
                    out.insert(z.name.clone(), r.covered_fraction);
                }
                Err(e) => tracing::warn!(zone = %z.name, "zone coverage: {e}"),
            }
        }
        out
    }

    /// Dispatch's Prometheus families.
    pub fn render_metrics(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut by_status: BTreeMap<Status, u64> =
            Status::ALL.into_iter().map(|s| (s, 0)).collect();
        {
            let engine = self.lock();
            for i in engine.incidents() {
                *by_status.entry(i.status).or_default() += 1;
            }
        }
        let _ = writeln!(
            out,
            "# HELP vigie_incidents Incidents open or created today, by status.\n# TYPE vigie_incidents gauge"
        );
        for (s, n) in by_status {
            let _ = writeln!(out, "vigie_incidents{{status=\"{}\"}} {n}", s.as_str());
        }
        let stats = self.stats();
        let _ = writeln!(
            out,
            "# HELP vigie_dispatch_orders_total Orders issued by dispatch.\n# TYPE vigie_dispatch_orders_total counter\nvigie_dispatch_orders_total {}",
            stats.orders
        );
        let _ = writeln!(
            out,
            "# HELP vigie_dispatch_escalations_total Escalations to operators.\n# TYPE vigie_dispatch_escalations_total counter\nvigie_dispatch_escalations_total {}",
            stats.escalations
        );
        stats.ack_latency.render_family(
            &mut out,
            "vigie_order_ack_latency_seconds",
            "Order stored to its first acknowledgement by the unit.",
        );
        stats.first_on_scene.render_family(
            &mut out,
            "vigie_incident_first_on_scene_seconds",
            "Incident reported to its first unit on scene.",
        );
        drop(stats);
        let zones = self.zone_coverage();
        let _ = writeln!(
            out,
            "# HELP vigie_zone_coverage_fraction Camera coverage of each event zone (open ground seen, 0..1).\n# TYPE vigie_zone_coverage_fraction gauge"
        );
        for (z, f) in zones {
            let z = z.replace(['\\', '"', '\n'], "_");
            let _ = writeln!(out, "vigie_zone_coverage_fraction{{zone=\"{z}\"}} {f:.4}");
        }
        out
    }

    /// Records every later decision in the audit register too.
    pub fn set_audit(&self, register: crate::guardrails::audit::Audit) {
        let _ = self.register.set(register);
    }

    /// The single place where dispatch's decisions are recorded for audit:
    /// every incident change, order and escalation passes here before it is
    /// carried out. The guardrails' tamper-evident audit log plugs in here.
    fn audit(&self, action: &Action) {
        if let Some(register) = self.register.get() {
            record(register, action);
        }
        match action {
            Action::SaveIncident(i) => {
                if let Some(t) = i.transitions.last() {
                    tracing::info!(target: "vigie::audit", incident = i.id, status = t.status.as_str(), by = %t.by, "incident status");
                }
            }
            Action::SaveEscalation(e) => {
                tracing::info!(target: "vigie::audit", incident = e.incident_id, order = ?e.order_id, reason = %e.reason, "escalation");
            }
            Action::IssueOrder {
                incident_id,
                unit,
                by,
            } => {
                tracing::info!(target: "vigie::audit", incident = incident_id, %unit, %by, "order");
            }
            Action::Withdraw {
                order_id,
                unit,
                reason,
            } => {
                tracing::info!(target: "vigie::audit", %order_id, %unit, %reason, "order withdrawn");
            }
            Action::Resend { .. } | Action::Announce(_) => {}
        }
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

/// Writes one dispatch decision to the audit register.
fn record(register: &crate::guardrails::audit::Audit, action: &Action) {
    use crate::guardrails::audit::{Actor, Entry};
    let actor = |by: &str| match by.split_once(':') {
        Some(("operator", name)) => Actor::Operator(name.to_string()),
        Some(("unit", id)) => Actor::Unit(id.to_string()),
        _ => Actor::System,
    };
    let now = crate::time::unix_ms();
    let entry = match action {
        Action::SaveIncident(i) => {
            let Some(t) = i.transitions.last() else {
                return;
            };
            Entry::new(
                now,
                actor(&t.by),
                "incident.status",
                &format!("incident:{}", i.id),
            )
            .detail(serde_json::json!({ "status": t.status.as_str(), "by": t.by }))
        }
        Action::SaveEscalation(e) => Entry::new(
            now,
            Actor::System,
            "incident.escalation",
            &format!("incident:{}", e.incident_id),
        )
        .detail(serde_json::json!({ "order": e.order_id, "reason": e.reason })),
        Action::IssueOrder {
            incident_id,
            unit,
            by,
        } => Entry::new(now, actor(by), "patrol.order", &format!("unit:{unit}"))
            .detail(serde_json::json!({ "incident": incident_id })),
        Action::Withdraw {
            order_id,
            unit,
            reason,
        } => Entry::new(
            now,
            Actor::System,
            "patrol.withdraw",
            &format!("unit:{unit}"),
        )
        .detail(serde_json::json!({ "order": order_id, "reason": reason })),
        Action::Resend { .. } | Action::Announce(_) => return,
    };
    if let Err(e) = register.enqueue(entry) {
        tracing::error!("audit register unavailable, dispatch decision unrecorded: {e}");
    }
}
