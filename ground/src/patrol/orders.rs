//! The order queue of every patrol unit, persisted in SQLite before anything
//! is sent, and the record of client message ids already applied.
//!
//! An order is created here ([`OrderStore::create`]) and only then handed to
//! the unit's live session, if any. Until the unit acknowledges it in any way
//! it is "unacknowledged" and [`OrderStore::unacked`] returns it on every new
//! session, in issue order. Acks only move an order forward; each client
//! `message_id` is applied once ([`OrderStore::apply_ack`],
//! [`OrderStore::remember`]). Dispatch builds incidents on top of this queue.
//!
//! Every statement is a function of a `&Connection` (`*_in`), so the same SQL
//! runs in one transaction per call here ([`OrderStore`], for tools, tests and
//! reads) and batched with others in one transaction per group commit by the
//! patrol writer thread (`patrol::writer`), which is how the server writes.

use rusqlite::{Connection, OptionalExtension, params};
use vigie_protocols::tablet::OrderAck;

use crate::store::{Store, StoreError};

/// Tables of this module; append only.
const MIGRATIONS: &[&str] = &[
    // 1: orders, applied client message ids, incident reports.
    "CREATE TABLE patrol_order (
        order_id TEXT PRIMARY KEY,
        unit TEXT NOT NULL,
        seq INTEGER NOT NULL,
        incident_id TEXT,
        dest_lat_deg REAL NOT NULL,
        dest_lon_deg REAL NOT NULL,
        priority INTEGER NOT NULL,
        instructions TEXT NOT NULL,
        issued_ms INTEGER NOT NULL,
        state TEXT NOT NULL,
        state_ms INTEGER NOT NULL,
        reason TEXT,
        UNIQUE (unit, seq)
    );
    CREATE TABLE patrol_message (
        unit TEXT NOT NULL,
        message_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (unit, message_id)
    );
    CREATE TABLE patrol_incident (
        id INTEGER PRIMARY KEY,
        unit TEXT NOT NULL,
        message_id TEXT NOT NULL,
        category INTEGER NOT NULL,
        lat_deg REAL,
        lon_deg REAL,
        text TEXT NOT NULL,
        photo_jpeg BLOB,
        at_ms INTEGER NOT NULL,
        received_ms INTEGER NOT NULL
    );",
    // 2: withdrawals (state 'withdrawn', the reason in `reason`) and when the
    // unit acknowledged one.
    "ALTER TABLE patrol_order ADD COLUMN withdraw_acked_ms INTEGER;",
];

pub use crate::order::{NewOrder, OrderRecord, OrderState, priority_label, priority_number};

/// What applying an ack did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    /// The order moved forward.
    Applied {
        /// State before.
        from: OrderState,
        /// State after.
        to: OrderState,
        /// When the order was issued, Unix ms (for latency metrics).
        issued_ms: i64,
    },
    /// The ack is older than or equal to what is known: no effect.
    Stale(OrderState),
    /// This `message_id` was already applied: no effect.
    Duplicate,
    /// No such order for this unit.
    UnknownOrder,
    /// The ack kind is `UNSPECIFIED`.
    Invalid,
}

/// A storage operation a tablet session needs before it can answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    /// Read the unit's unacknowledged orders, in issue order.
    Unacked,
    /// Apply an order acknowledgement ([`OrderStore::apply_ack`]).
    Ack(OrderAck),
    /// Record a client message id once ([`OrderStore::remember`]).
    Remember {
        /// The client's message id.
        message_id: String,
        /// What kind of message it was (`status`, `broadcast`).
        kind: &'static str,
    },
    /// Store an incident report once ([`OrderStore::store_incident`]).
    Incident(vigie_protocols::tablet::IncidentReport),
}

/// What a [`StoreOp`] found or did.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreDone {
    /// [`StoreOp::Unacked`]: the orders.
    Unacked(Vec<OrderRecord>),
    /// [`StoreOp::Ack`]: the outcome.
    Ack(AckOutcome),
    /// [`StoreOp::Remember`] and [`StoreOp::Incident`]: `true` when the
    /// message id was new (applied now), `false` for a duplicate.
    Fresh(bool),
}

/// Runs `op` for `unit` on `c` (inside the caller's transaction).
pub fn execute_in(
    c: &Connection,
    unit: &str,
    now_ms: i64,
    op: &StoreOp,
) -> rusqlite::Result<StoreDone> {
    Ok(match op {
        StoreOp::Unacked => StoreDone::Unacked(unacked_in(c, unit)?),
        StoreOp::Ack(ack) => StoreDone::Ack(apply_ack_in(c, unit, ack, now_ms)?),
        StoreOp::Remember { message_id, kind } => {
            StoreDone::Fresh(remember_in(c, unit, message_id, kind, now_ms)?)
        }
        StoreOp::Incident(report) => StoreDone::Fresh(store_incident_in(c, unit, report, now_ms)?),
    })
}

/// Checks an order and returns its protobuf priority number.
pub fn validate(order: &NewOrder) -> Result<i32, OrderError> {
    // Whatever is stored must fit one control frame to the tablet, or it
    // could never be delivered: refused here, before anything is stored.
    if order.instructions.len() > MAX_INSTRUCTIONS_BYTES {
        return Err(OrderError::TooLarge {
            field: "instructions",
            bytes: order.instructions.len(),
            max: MAX_INSTRUCTIONS_BYTES,
        });
    }
    if let Some(id) = &order.incident_id
        && id.len() > MAX_INCIDENT_ID_BYTES
    {
        return Err(OrderError::TooLarge {
            field: "incident_id",
            bytes: id.len(),
            max: MAX_INCIDENT_ID_BYTES,
        });
    }
    let valid =
        (-90.0..=90.0).contains(&order.lat_deg) && (-180.0..=180.0).contains(&order.lon_deg);
    if !valid {
        return Err(OrderError::BadDestination {
            lat_deg: order.lat_deg,
            lon_deg: order.lon_deg,
        });
    }
    priority_number(&order.priority).ok_or_else(|| OrderError::BadPriority(order.priority.clone()))
}

/// Longest order instructions, bytes of UTF-8: a page of text, well inside
/// one control frame (`MAX_CONTROL_MESSAGE_BYTES`, 64 KiB) with every other
/// field of the order at its longest.
pub const MAX_INSTRUCTIONS_BYTES: usize = 16 * 1024;

/// Longest incident reference on an order, bytes.
pub const MAX_INCIDENT_ID_BYTES: usize = 128;

/// Whether `unit` holds a certificate that lets it receive orders (a patrol
/// or supervisor certificate, not revoked, not expired at `now_ms`): an
/// order to any other unit could never be delivered.
pub fn can_receive_orders_in(c: &Connection, unit: &str, now_ms: i64) -> rusqlite::Result<Reach> {
    // The CA's table exists once a certificate was issued.
    let exists: bool = c.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'patrol_cert')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(Reach::Unknown);
    }
    let (any, live): (i64, i64) = c.query_row(
        "SELECT COUNT(*),
                COALESCE(SUM(revoked_ms IS NULL AND not_after_ms > ?2 AND role IN ('patrol', 'supervisor')), 0)
         FROM patrol_cert WHERE unit = ?1",
        params![unit, now_ms],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(match (any, live) {
        (0, _) => Reach::Unknown,
        (_, 0) => Reach::NoValidCertificate,
        _ => Reach::Reachable,
    })
}

/// Whether a unit can ever get an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// It holds a valid patrol or supervisor certificate.
    Reachable,
    /// No certificate was ever issued for it.
    Unknown,
    /// Its certificates are revoked, expired, or of a role that takes no
    /// orders.
    NoValidCertificate,
}

/// Inserts a validated order for `unit` with the next sequence number.
pub fn create_in(
    c: &Connection,
    unit: &str,
    order: &NewOrder,
    priority: i32,
    now_ms: i64,
) -> rusqlite::Result<OrderRecord> {
    let seq: i64 = c.query_row(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM patrol_order WHERE unit = ?1",
        params![unit],
        |r| r.get(0),
    )?;
    let record = OrderRecord {
        order_id: format!("{unit}-{seq}-{now_ms:x}"),
        unit: unit.to_string(),
        seq: seq as u64,
        incident_id: order.incident_id.clone(),
        lat_deg: order.lat_deg,
        lon_deg: order.lon_deg,
        priority,
        instructions: order.instructions.clone(),
        issued_ms: now_ms,
        state: OrderState::Pending,
        state_ms: now_ms,
        reason: None,
        withdraw_acked_ms: None,
    };
    c.execute(
        "INSERT INTO patrol_order (order_id, unit, seq, incident_id, dest_lat_deg, dest_lon_deg,
            priority, instructions, issued_ms, state, state_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            record.order_id,
            record.unit,
            seq,
            record.incident_id,
            record.lat_deg,
            record.lon_deg,
            record.priority,
            record.instructions,
            record.issued_ms,
            record.state.as_str(),
            record.state_ms
        ],
    )?;
    Ok(record)
}

/// Orders of `unit` not yet acknowledged, and withdrawals not yet
/// acknowledged (state `withdrawn`), in issue order.
pub fn unacked_in(c: &Connection, unit: &str) -> rusqlite::Result<Vec<OrderRecord>> {
    query_in(
        c,
        "WHERE unit = ?1 AND (state = 'pending' OR (state = 'withdrawn' AND withdraw_acked_ms IS NULL)) ORDER BY seq",
        unit,
    )
}

/// Withdraws an order not yet ended (`reason` says why): its state before
/// and the withdrawn order; `None` when there is no such order or it had
/// already ended.
pub fn withdraw_in(
    c: &Connection,
    order_id: &str,
    reason: &str,
    now_ms: i64,
) -> rusqlite::Result<Option<(OrderState, OrderRecord)>> {
    let Some(before) = query_in(c, "WHERE order_id = ?1", order_id)?
        .into_iter()
        .next()
        .map(|o| o.state)
    else {
        return Ok(None);
    };
    let n = c.execute(
        "UPDATE patrol_order SET state = 'withdrawn', state_ms = ?1, reason = ?2
         WHERE order_id = ?3 AND state NOT IN ('refused', 'closed', 'withdrawn')",
        params![now_ms, reason, order_id],
    )?;
    if n == 0 {
        return Ok(None);
    }
    Ok(query_in(c, "WHERE order_id = ?1", order_id)?
        .into_iter()
        .next()
        .map(|o| (before, o)))
}

fn query_in(c: &Connection, clause: &str, unit: &str) -> rusqlite::Result<Vec<OrderRecord>> {
    let sql = format!(
        "SELECT order_id, unit, seq, incident_id, dest_lat_deg, dest_lon_deg, priority,
                instructions, issued_ms, state, state_ms, reason, withdraw_acked_ms
         FROM patrol_order {clause}"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![unit], |r| {
        let state: String = r.get(9)?;
        let state = OrderState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                9,
                rusqlite::types::Type::Text,
                format!("unknown order state {state:?}").into(),
            )
        })?;
        Ok(OrderRecord {
            order_id: r.get(0)?,
            unit: r.get(1)?,
            seq: r.get::<_, i64>(2)? as u64,
            incident_id: r.get(3)?,
            lat_deg: r.get(4)?,
            lon_deg: r.get(5)?,
            priority: r.get(6)?,
            instructions: r.get(7)?,
            issued_ms: r.get(8)?,
            state,
            state_ms: r.get(10)?,
            reason: r.get(11)?,
            withdraw_acked_ms: r.get(12)?,
        })
    })?;
    rows.collect()
}

/// Applies an ack from `unit`, once per `message_id`, forward only.
pub fn apply_ack_in(
    c: &Connection,
    unit: &str,
    ack: &OrderAck,
    now_ms: i64,
) -> rusqlite::Result<AckOutcome> {
    let Some(to) = OrderState::from_ack(ack.kind()) else {
        return Ok(AckOutcome::Invalid);
    };
    let current: Option<(String, i64)> = c
        .query_row(
            "SELECT state, issued_ms FROM patrol_order WHERE order_id = ?1 AND unit = ?2",
            params![ack.order_id, unit],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((from, issued_ms)) =
        current.and_then(|(state, issued)| Some((OrderState::parse(&state)?, issued)))
    else {
        return Ok(AckOutcome::UnknownOrder);
    };
    if !remember_in(c, unit, &ack.message_id, "order_ack", now_ms)? {
        return Ok(AckOutcome::Duplicate);
    }
    let applied = if to == OrderState::Withdrawn {
        // Only acknowledges a withdrawal; the server alone withdraws.
        if from != OrderState::Withdrawn {
            return Ok(AckOutcome::Stale(from));
        }
        let n = c.execute(
            "UPDATE patrol_order SET withdraw_acked_ms = ?1 WHERE order_id = ?2 AND withdraw_acked_ms IS NULL",
            params![now_ms, ack.order_id],
        )?;
        n == 1
    } else if to.rank() > from.rank() {
        let reason = (!ack.reason.is_empty()).then(|| ack.reason.clone());
        c.execute(
            "UPDATE patrol_order SET state = ?1, state_ms = ?2, reason = COALESCE(?3, reason) WHERE order_id = ?4",
            params![to.as_str(), now_ms, reason, ack.order_id],
        )?;
        true
    } else {
        false
    };
    Ok(if applied {
        AckOutcome::Applied {
            from,
            to,
            issued_ms,
        }
    } else {
        AckOutcome::Stale(from)
    })
}

/// Records that `unit` sent `message_id` (of `kind`); `false` if it had
/// already been applied.
pub fn remember_in(
    c: &Connection,
    unit: &str,
    message_id: &str,
    kind: &str,
    now_ms: i64,
) -> rusqlite::Result<bool> {
    c.execute(
        "INSERT OR IGNORE INTO patrol_message (unit, message_id, kind, at_ms) VALUES (?1, ?2, ?3, ?4)",
        params![unit, message_id, kind, now_ms],
    )
    .map(|n| n == 1)
}

/// Stores an incident report once per `message_id`; `false` for a duplicate.
pub fn store_incident_in(
    c: &Connection,
    unit: &str,
    report: &vigie_protocols::tablet::IncidentReport,
    now_ms: i64,
) -> rusqlite::Result<bool> {
    let fresh = remember_in(c, unit, &report.message_id, "incident", now_ms)?;
    if fresh {
        let (lat, lon) = report
            .location
            .map_or((None, None), |p| (Some(p.lat_deg), Some(p.lon_deg)));
        let photo = (!report.photo_jpeg.is_empty()).then_some(&report.photo_jpeg);
        c.execute(
            "INSERT INTO patrol_incident (unit, message_id, category, lat_deg, lon_deg, text, photo_jpeg, at_ms, received_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![unit, report.message_id, report.category, lat, lon, report.text, photo, report.at_ms, now_ms],
        )?;
    }
    Ok(fresh)
}

/// Why an order could not be created.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// Destination outside WGS84 bounds.
    #[error(
        "destination {lat_deg}, {lon_deg} is not a WGS84 position (lat -90..90, lon -180..180)"
    )]
    BadDestination {
        /// Latitude given.
        lat_deg: f64,
        /// Longitude given.
        lon_deg: f64,
    },
    /// Unknown priority name.
    #[error("unknown priority {0:?}: use low, normal, high or critical")]
    BadPriority(String),
    /// A field too long to ever reach a tablet in one control frame.
    #[error(
        "{field} is {bytes} bytes, more than the {max} an order can carry to a tablet: shorten it"
    )]
    TooLarge {
        /// The field.
        field: &'static str,
        /// Its length, bytes.
        bytes: usize,
        /// The most it may have, bytes.
        max: usize,
    },
    /// No certificate was ever issued for the unit.
    #[error(
        "no unit {0:?} is known: issue its certificate first (vigie ca issue --unit {0} --role patrol)"
    )]
    UnknownUnit(String),
    /// The unit's certificates cannot connect any more.
    #[error(
        "unit {0:?} has no valid patrol or supervisor certificate (revoked, expired or of another role): it could never receive the order"
    )]
    Unreachable(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The order queue, over the SQLite store.
#[derive(Debug, Clone)]
pub struct OrderStore {
    /// The database.
    store: Store,
}

impl OrderStore {
    /// Opens the queue, creating its tables if needed.
    pub fn new(store: Store) -> Result<OrderStore, StoreError> {
        store.migrate_module("patrol", MIGRATIONS)?;
        Ok(OrderStore { store })
    }

    /// The database underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs `f` in one transaction, which takes the write lock at once
    /// (`BEGIN IMMEDIATE`): [`create_in`] reads the unit's last sequence
    /// number before inserting, and a deferred transaction whose snapshot is
    /// overtaken by the patrol writer's commit in between cannot write at
    /// all (`SQLITE_BUSY_SNAPSHOT`, not retried by the busy timeout). Under
    /// a steady stream of tablet acks that failed an order now and then.
    fn transaction<R>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        self.store.with_conn(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let r = f(&tx)?;
            tx.commit()?;
            Ok(r)
        })
    }

    /// Withdraws an order not yet ended; `None` when there is none or it
    /// had already ended.
    pub fn withdraw(
        &self,
        order_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Option<(OrderState, OrderRecord)>, StoreError> {
        self.transaction(|c| withdraw_in(c, order_id, reason, now_ms))
    }

    /// Stores a new order for `unit` and returns it (state `pending`).
    pub fn create(
        &self,
        unit: &str,
        order: &NewOrder,
        now_ms: i64,
    ) -> Result<OrderRecord, OrderError> {
        let priority = validate(order)?;
        Ok(self.transaction(|c| create_in(c, unit, order, priority, now_ms))?)
    }

    /// Runs a session's storage operation in its own transaction.
    pub fn execute(&self, unit: &str, now_ms: i64, op: &StoreOp) -> Result<StoreDone, StoreError> {
        self.transaction(|c| execute_in(c, unit, now_ms, op))
    }

    /// Orders of `unit` not yet acknowledged, in issue order.
    pub fn unacked(&self, unit: &str) -> Result<Vec<OrderRecord>, StoreError> {
        self.store.with_conn(|c| unacked_in(c, unit))
    }

    /// Every order of `unit`, in issue order.
    pub fn list(&self, unit: &str) -> Result<Vec<OrderRecord>, StoreError> {
        self.store
            .with_conn(|c| query_in(c, "WHERE unit = ?1 ORDER BY seq", unit))
    }

    /// One order by id.
    pub fn get(&self, order_id: &str) -> Result<Option<OrderRecord>, StoreError> {
        Ok(self
            .store
            .with_conn(|c| query_in(c, "WHERE order_id = ?1", order_id))?
            .into_iter()
            .next())
    }

    /// Orders answering an incident issued since `since_ms` (Unix ms), in
    /// issue order: what dispatch follows after a restart.
    pub fn for_incidents_since(&self, since_ms: i64) -> Result<Vec<OrderRecord>, StoreError> {
        self.store.with_conn(|c| {
            query_in(
                c,
                "WHERE incident_id IS NOT NULL AND issued_ms >= CAST(?1 AS INTEGER) ORDER BY issued_ms, seq",
                &since_ms.to_string(),
            )
        })
    }

    /// Orders not yet acknowledged, across every unit.
    pub fn count_unacked(&self) -> Result<u64, StoreError> {
        self.store.with_conn(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM patrol_order WHERE state = 'pending'",
                [],
                |r| r.get::<_, i64>(0).map(|n| n as u64),
            )
        })
    }

    /// Applies an ack from `unit`, once per `message_id`, forward only.
    pub fn apply_ack(
        &self,
        unit: &str,
        ack: &OrderAck,
        now_ms: i64,
    ) -> Result<AckOutcome, StoreError> {
        self.transaction(|c| apply_ack_in(c, unit, ack, now_ms))
    }

    /// Records that `unit` sent `message_id` (of `kind`); `false` if it had
    /// already been applied.
    pub fn remember(
        &self,
        unit: &str,
        message_id: &str,
        kind: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.transaction(|c| remember_in(c, unit, message_id, kind, now_ms))
    }

    /// Stores an incident report once per `message_id`; `false` if it was a
    /// duplicate.
    pub fn store_incident(
        &self,
        unit: &str,
        report: &vigie_protocols::tablet::IncidentReport,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.transaction(|c| store_incident_in(c, unit, report, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_protocols::tablet::AckKind;

    fn order() -> NewOrder {
        NewOrder {
            incident_id: None,
            lat_deg: 48.92,
            lon_deg: 2.36,
            priority: "high".into(),
            instructions: "gate D".into(),
        }
    }

    #[test]
    fn orders_in_json_name_the_incident_by_integer_and_the_priority_by_name() {
        let new: NewOrder = serde_json::from_value(serde_json::json!({
            "incident_id": 12, "lat_deg": 48.9, "lon_deg": 2.3, "priority": "high"
        }))
        .unwrap();
        assert_eq!(new.incident_id.as_deref(), Some("12"));
        assert_eq!(serde_json::to_value(&new).unwrap()["incident_id"], 12);
        // Digits as text are read (first API version); other text is not.
        let old: NewOrder =
            serde_json::from_str(r#"{"incident_id": "7", "lat_deg": 0, "lon_deg": 0}"#).unwrap();
        assert_eq!(old.incident_id.as_deref(), Some("7"));
        let err = serde_json::from_str::<NewOrder>(
            r#"{"incident_id": "INC-7", "lat_deg": 0, "lon_deg": 0}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("integer id of an incident"), "{err}");
        let record = OrderRecord {
            order_id: "o-1".into(),
            unit: "patrol-1".into(),
            seq: 1,
            incident_id: Some("12".into()),
            lat_deg: 48.9,
            lon_deg: 2.3,
            priority: validate(&new).unwrap(),
            instructions: String::new(),
            issued_ms: 5,
            state: OrderState::Pending,
            state_ms: 5,
            reason: None,
            withdraw_acked_ms: None,
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["incident_id"], 12);
        assert_eq!(json["priority"], "high");
        assert_eq!(serde_json::from_value::<OrderRecord>(json).unwrap(), record);
        // The tablet still gets the protobuf number and the decimal text.
        let proto = record.to_proto();
        assert_eq!((proto.priority, proto.incident_id.as_str()), (3, "12"));
    }

    fn ack(id: &str, order_id: &str, kind: AckKind) -> OrderAck {
        OrderAck {
            message_id: id.into(),
            order_id: order_id.into(),
            kind: kind as i32,
            reason: String::new(),
            at_ms: 0,
        }
    }

    #[test]
    fn a_write_by_another_connection_cannot_slip_between_the_seq_read_and_the_insert() {
        // The order queue may be written by more than one connection (the
        // server's writer thread, a command run on the same data directory,
        // a second server on a shared file). Here the other
        // connection tries to commit exactly between `create_in`'s read of
        // the last sequence number and its insert.
        let dir = std::env::temp_dir().join(format!(
            "vigie-orders-race-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let orders = OrderStore::new(Store::open(&dir).unwrap()).unwrap();
        let writer = Store::open(&dir).unwrap();
        orders.create("P1", &order(), 1).unwrap();
        let (created, other) = orders
            .transaction(|c| {
                let seq: i64 = c.query_row(
                    "SELECT COALESCE(MAX(seq), 0) FROM patrol_order WHERE unit = 'P1'",
                    [],
                    |r| r.get(0),
                )?;
                assert_eq!(seq, 1);
                let other = writer.with_conn(|w| {
                    w.busy_timeout(std::time::Duration::ZERO)?;
                    w.execute(
                        "INSERT INTO patrol_message (unit, message_id, kind, at_ms) VALUES ('P2', 'm', 'order_ack', 2)",
                        [],
                    )
                });
                let created = create_in(c, "P1", &order(), 3, 3);
                Ok((created, other))
            })
            .unwrap();
        let created = created.expect("the order is stored whatever the other connection does");
        assert_eq!(created.seq, 2);
        assert!(
            other.is_err(),
            "the other writer waits for the lock instead"
        );
        assert_eq!(orders.list("P1").unwrap().len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn acks_move_orders_forward_once() {
        let orders = OrderStore::new(Store::in_memory().unwrap()).unwrap();
        let a = orders.create("P1", &order(), 10).unwrap();
        let b = orders.create("P1", &order(), 11).unwrap();
        let other = orders.create("P2", &order(), 12).unwrap();
        assert_eq!((a.seq, b.seq, other.seq), (1, 2, 1));
        assert_eq!(orders.unacked("P1").unwrap(), vec![a.clone(), b.clone()]);

        let accepted = ack("m1", &a.order_id, AckKind::Accepted);
        assert_eq!(
            orders.apply_ack("P1", &accepted, 20).unwrap(),
            AckOutcome::Applied {
                from: OrderState::Pending,
                to: OrderState::Accepted,
                issued_ms: 10,
            }
        );
        assert_eq!(
            orders.apply_ack("P1", &accepted, 21).unwrap(),
            AckOutcome::Duplicate
        );
        assert_eq!(
            orders
                .apply_ack("P1", &ack("m2", &a.order_id, AckKind::Received), 22)
                .unwrap(),
            AckOutcome::Stale(OrderState::Accepted)
        );
        assert_eq!(
            orders
                .apply_ack("P2", &ack("m3", &a.order_id, AckKind::Received), 22)
                .unwrap(),
            AckOutcome::UnknownOrder,
            "a unit cannot ack another unit's order"
        );
        assert_eq!(orders.unacked("P1").unwrap(), vec![b]);
        assert!(
            orders
                .create(
                    "P1",
                    &NewOrder {
                        lat_deg: 91.0,
                        ..order()
                    },
                    1
                )
                .is_err()
        );
        assert!(
            orders
                .create(
                    "P1",
                    &NewOrder {
                        priority: "urgent".into(),
                        ..order()
                    },
                    1
                )
                .is_err()
        );
    }
}
