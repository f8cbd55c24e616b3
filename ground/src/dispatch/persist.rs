//! Incidents, their timed transitions and escalations in SQLite.
//!
//! Orders are not stored here: the patrol link's order queue
//! (`patrol::orders`) is the one truth for orders and their acks, and
//! carries the incident id. Tablet incident reports are stored by the patrol
//! link before the tablet gets its receipt; [`DispatchStore::unimported`]
//! finds those that a crash kept from becoming incidents.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use rusqlite::{OptionalExtension, params};

use super::engine::Escalation;
use super::incident::{Category, GeoPoint, Incident, Priority, Report, Source, Status, Transition};
use crate::store::{Store, StoreError};

/// Tables of this module; append only.
const MIGRATIONS: &[&str] = &[
    // 1: incidents, transitions, escalations.
    "CREATE TABLE dispatch_incident (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        category TEXT NOT NULL,
        priority TEXT NOT NULL,
        lat_deg REAL NOT NULL,
        lon_deg REAL NOT NULL,
        source TEXT NOT NULL,
        reporter TEXT NOT NULL,
        text TEXT NOT NULL,
        observed_ms INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        status TEXT NOT NULL,
        eyes_on_ms INTEGER,
        on_scene_ms INTEGER,
        tablet_unit TEXT,
        tablet_message TEXT,
        UNIQUE (tablet_unit, tablet_message)
    );
    CREATE INDEX dispatch_incident_created ON dispatch_incident (created_ms);
    CREATE TABLE dispatch_transition (
        incident_id INTEGER NOT NULL REFERENCES dispatch_incident (id),
        seq INTEGER NOT NULL,
        status TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        by TEXT NOT NULL,
        PRIMARY KEY (incident_id, seq)
    );
    CREATE TABLE dispatch_escalation (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES dispatch_incident (id),
        order_id TEXT,
        unit TEXT,
        reason TEXT NOT NULL,
        at_ms INTEGER NOT NULL
    );",
];

/// A tablet report the patrol link stored that is not an incident yet.
#[derive(Debug, Clone, PartialEq)]
pub struct TabletReport {
    /// The reporting unit.
    pub unit: String,
    /// The tablet's message id.
    pub message_id: String,
    /// Protobuf category number.
    pub category: i32,
    /// Where, when the tablet said.
    pub location: Option<GeoPoint>,
    /// Free text.
    pub text: String,
    /// When observed, Unix ms.
    pub at_ms: i64,
    /// When the server stored it, Unix ms.
    pub received_ms: i64,
}

/// Dispatch's tables.
#[derive(Debug, Clone)]
pub struct DispatchStore {
    /// The database.
    store: Store,
    /// Passed before every statement: closed only by a [`StoreHold`].
    gate: Arc<StoreGate>,
}

/// What every dispatch statement passes first. Open in a deployment;
/// closed by a [`StoreHold`], it makes dispatch's storage behave as a disk
/// that stopped answering, so that a test can show what still works
/// meanwhile (position ingest, orders on other connections).
#[derive(Debug)]
pub struct StoreGate {
    /// Whether it is closed, and how many statements wait at it.
    state: Mutex<GateState>,
    /// Wakes the statements waiting when it opens.
    opened: Condvar,
    /// Statements waiting, for the holder.
    waiting: tokio::sync::watch::Sender<usize>,
}

/// The gate's state.
#[derive(Debug, Default)]
struct GateState {
    /// Closed by a hold.
    closed: bool,
    /// Statements waiting.
    waiting: usize,
}

impl Default for StoreGate {
    fn default() -> StoreGate {
        StoreGate {
            state: Mutex::default(),
            opened: Condvar::new(),
            waiting: tokio::sync::watch::channel(0).0,
        }
    }
}

impl StoreGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits while the gate is closed.
    fn pass(&self) {
        let mut state = self.lock();
        if !state.closed {
            return;
        }
        state.waiting += 1;
        self.waiting.send_replace(state.waiting);
        while state.closed {
            state = self.opened.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.waiting -= 1;
        self.waiting.send_replace(state.waiting);
    }

    /// Closes the gate until the hold is dropped.
    pub fn hold(self: &Arc<Self>) -> StoreHold {
        self.lock().closed = true;
        StoreHold {
            gate: self.clone(),
            waiting: self.waiting.subscribe(),
        }
    }
}

/// Dispatch's storage held still (see [`StoreGate`]); released when
/// dropped.
#[derive(Debug)]
pub struct StoreHold {
    /// The gate held.
    gate: Arc<StoreGate>,
    /// Statements waiting at it.
    waiting: tokio::sync::watch::Receiver<usize>,
}

impl StoreHold {
    /// Resolves once dispatch is stuck on the held storage (a statement
    /// waits at the gate).
    pub async fn stuck(&mut self) {
        let _ = self.waiting.wait_for(|n| *n > 0).await;
    }
}

impl Drop for StoreHold {
    fn drop(&mut self) {
        self.gate.lock().closed = false;
        self.gate.opened.notify_all();
    }
}

fn corrupt(store: &Store, detail: String) -> StoreError {
    StoreError::Corrupt {
        path: store.path().to_path_buf(),
        table: "dispatch_incident",
        detail,
    }
}

impl DispatchStore {
    /// Opens dispatch's tables, creating them if needed.
    pub fn new(store: Store) -> Result<DispatchStore, StoreError> {
        store.migrate_module("dispatch", MIGRATIONS)?;
        Ok(DispatchStore {
            store,
            gate: Arc::default(),
        })
    }

    /// The gate every statement passes (see [`StoreGate`]).
    pub fn gate(&self) -> &Arc<StoreGate> {
        &self.gate
    }

    /// Runs `f` on the connection, once past the gate.
    fn with_conn<R>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        self.gate.pass();
        self.store.with_conn(f)
    }

    /// Stores a new incident (and its `new` transition) and returns it.
    /// With `tablet` = (unit, message id), a report already stored returns
    /// `None`.
    pub fn insert(
        &self,
        report: &Report,
        created_ms: i64,
        tablet: Option<(&str, &str)>,
    ) -> Result<Option<Incident>, StoreError> {
        self.with_conn(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO dispatch_incident (category, priority, lat_deg, lon_deg, source, reporter,
                    text, observed_ms, created_ms, status, tablet_unit, tablet_message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'new', ?10, ?11)",
                params![
                    report.category.as_str(),
                    report.priority.as_str(),
                    report.location.lat_deg,
                    report.location.lon_deg,
                    report.source.as_str(),
                    report.reporter,
                    report.text,
                    report.observed_ms,
                    created_ms,
                    tablet.map(|t| t.0),
                    tablet.map(|t| t.1),
                ],
            )?;
            if n == 0 {
                return Ok(None);
            }
            let id = tx.last_insert_rowid() as u64;
            let incident = Incident::new(id, report.clone(), created_ms);
            insert_transitions(&tx, &incident)?;
            tx.commit()?;
            Ok(Some(incident))
        })
    }

    /// Writes an incident's status, times and transitions not yet stored.
    pub fn save(&self, incident: &Incident) -> Result<(), StoreError> {
        self.with_conn(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE dispatch_incident SET status = ?1, eyes_on_ms = ?2, on_scene_ms = ?3 WHERE id = ?4",
                params![
                    incident.status.as_str(),
                    incident.eyes_on_ms,
                    incident.on_scene_ms,
                    incident.id as i64
                ],
            )?;
            insert_transitions(&tx, incident)?;
            tx.commit()
        })
    }

    /// Records an escalation.
    pub fn save_escalation(&self, e: &Escalation) -> Result<(), StoreError> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO dispatch_escalation (incident_id, order_id, unit, reason, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![e.incident_id as i64, e.order_id, e.unit, e.reason, e.at_ms],
            )
            .map(|_| ())
        })
    }

    /// Escalations of one incident, oldest first.
    pub fn escalations(&self, incident_id: u64) -> Result<Vec<Escalation>, StoreError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT incident_id, order_id, unit, reason, at_ms FROM dispatch_escalation WHERE incident_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![incident_id as i64], |r| {
                Ok(Escalation {
                    incident_id: r.get::<_, i64>(0)? as u64,
                    order_id: r.get(1)?,
                    unit: r.get(2)?,
                    reason: r.get(3)?,
                    at_ms: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// When each escalated order was escalated.
    pub fn escalated_orders(&self) -> Result<HashMap<String, i64>, StoreError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT order_id, MIN(at_ms) FROM dispatch_escalation WHERE order_id IS NOT NULL GROUP BY order_id",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Incidents still open, and those created since `since_ms`, by id.
    pub fn load(&self, since_ms: i64) -> Result<Vec<Incident>, StoreError> {
        self.select(
            "WHERE status NOT IN ('closed', 'cancelled') OR created_ms >= ?1 ORDER BY id",
            params![since_ms],
        )
    }

    /// One incident by id, from the database.
    pub fn get(&self, id: u64) -> Result<Option<Incident>, StoreError> {
        Ok(self
            .select("WHERE id = ?1", params![id as i64])?
            .into_iter()
            .next())
    }

    fn select(
        &self,
        clause: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<Incident>, StoreError> {
        type Row = (
            i64,
            [String; 4],
            [f64; 2],
            String,
            String,
            [i64; 2],
            [Option<i64>; 2],
        );
        let sql = format!(
            "SELECT id, category, priority, source, status, lat_deg, lon_deg, reporter, text, observed_ms,
                    created_ms, eyes_on_ms, on_scene_ms FROM dispatch_incident {clause}"
        );
        let (rows, transitions) = self.with_conn(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows: Vec<Row> = stmt
                .query_map(args, |r| {
                    Ok((
                        r.get(0)?,
                        [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?],
                        [r.get(5)?, r.get(6)?],
                        r.get(7)?,
                        r.get(8)?,
                        [r.get(9)?, r.get(10)?],
                        [r.get(11)?, r.get(12)?],
                    ))
                })?
                .collect::<Result<_, _>>()?;
            let mut tstmt = c.prepare_cached(
                "SELECT status, at_ms, by FROM dispatch_transition WHERE incident_id = ?1 ORDER BY seq",
            )?;
            let mut transitions = Vec::with_capacity(rows.len());
            for row in &rows {
                let t: Vec<(String, i64, String)> = tstmt
                    .query_map(params![row.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()?;
                transitions.push(t);
            }
            Ok((rows, transitions))
        })?;
        rows.into_iter()
            .zip(transitions)
            .map(|((id, names, ll, reporter, text, times, opt), ts)| {
                let bad = |what: &str, v: &str| {
                    corrupt(&self.store, format!("incident {id}: unknown {what} {v:?}"))
                };
                let report = Report {
                    category: Category::parse(&names[0])
                        .ok_or_else(|| bad("category", &names[0]))?,
                    priority: Priority::parse(&names[1])
                        .ok_or_else(|| bad("priority", &names[1]))?,
                    location: GeoPoint {
                        lat_deg: ll[0],
                        lon_deg: ll[1],
                    },
                    source: Source::parse(&names[2]).ok_or_else(|| bad("source", &names[2]))?,
                    reporter,
                    text,
                    observed_ms: times[0],
                };
                let transitions = ts
                    .into_iter()
                    .map(|(s, at_ms, by)| {
                        Ok(Transition {
                            status: Status::parse(&s).ok_or_else(|| bad("status", &s))?,
                            at_ms,
                            by,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                Ok(Incident {
                    id: id as u64,
                    report,
                    created_ms: times[1],
                    status: Status::parse(&names[3]).ok_or_else(|| bad("status", &names[3]))?,
                    transitions,
                    eyes_on_ms: opt[0],
                    on_scene_ms: opt[1],
                })
            })
            .collect()
    }

    /// Tablet reports the patrol link stored that are not incidents yet
    /// (the server stopped between the two writes), oldest first.
    pub fn unimported(&self) -> Result<Vec<TabletReport>, StoreError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT p.unit, p.message_id, p.category, p.lat_deg, p.lon_deg, p.text, p.at_ms, p.received_ms
                 FROM patrol_incident p
                 WHERE NOT EXISTS (SELECT 1 FROM dispatch_incident d
                                   WHERE d.tablet_unit = p.unit AND d.tablet_message = p.message_id)
                 ORDER BY p.id",
            )?;
            let rows = stmt.query_map([], |r| {
                let lat: Option<f64> = r.get(3)?;
                let lon: Option<f64> = r.get(4)?;
                Ok(TabletReport {
                    unit: r.get(0)?,
                    message_id: r.get(1)?,
                    category: r.get(2)?,
                    location: lat.zip(lon).map(|(lat_deg, lon_deg)| GeoPoint { lat_deg, lon_deg }),
                    text: r.get(5)?,
                    at_ms: r.get(6)?,
                    received_ms: r.get(7)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Incidents created since `since_ms`, by category.
    pub fn count_since(&self, since_ms: i64) -> Result<Vec<(String, u64)>, StoreError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT category, COUNT(*) FROM dispatch_incident WHERE created_ms >= ?1 GROUP BY category ORDER BY category",
            )?;
            let rows = stmt.query_map(params![since_ms], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            rows.collect()
        })
    }

    /// Whether an incident with this id exists.
    pub fn exists(&self, id: u64) -> Result<bool, StoreError> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT 1 FROM dispatch_incident WHERE id = ?1",
                params![id as i64],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
        })
    }
}

fn insert_transitions(tx: &rusqlite::Transaction<'_>, incident: &Incident) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO dispatch_transition (incident_id, seq, status, at_ms, by) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (seq, t) in incident.transitions.iter().enumerate() {
        stmt.execute(params![
            incident.id as i64,
            seq as i64,
            t.status.as_str(),
            t.at_ms,
            t.by
        ])?;
    }
    Ok(())
}
