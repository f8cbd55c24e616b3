//! The shared state of the patrol link: the order queue, the revocation list,
//! and the live session of each connected unit, so that an order stored by
//! the HTTP API (or dispatch) reaches the unit's connection at once.
//!
//! Bounded: each live session has a queue of [`ORDER_NOTIFY_BUFFER`]
//! notifications; when it is full the notification is dropped and the session
//! is flagged to re-read the persisted queue (nothing is lost: the queue is
//! the truth, notifications are only a shortcut).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};
use vigie_protocols::tablet::{Broadcast, CloseCode};

use super::ca::{RevocationList, UnitIdentity};
use super::orders::{NewOrder, OrderError, OrderRecord, OrderStore};
use super::writer::OrderWriter;
use crate::metrics::PatrolCounters;
use crate::store::{Store, StoreError};

/// Order notifications a live session may have pending.
pub const ORDER_NOTIFY_BUFFER: usize = 64;

/// Broadcasts a session may fall behind before missing some (it is told by
/// `Lagged` and logs it; broadcasts are not queued for offline units).
pub const BROADCAST_BUFFER: usize = 256;

/// One unit's live connection.
#[derive(Debug)]
struct Live {
    /// Distinguishes this connection from a newer one of the same unit.
    session_id: u64,
    /// Certificate serial, to close it when revoked.
    serial: String,
    /// Order notifications.
    orders: mpsc::Sender<OrderRecord>,
    /// Set when a notification was dropped: re-read the queue.
    resync: Arc<AtomicBool>,
    /// The connection, to close it when replaced or revoked.
    conn: quinn::Connection,
}

/// What a connection task gets when it attaches to the link.
#[derive(Debug)]
pub struct Attached {
    /// This session's id.
    pub session_id: u64,
    /// Orders issued while connected.
    pub orders: mpsc::Receiver<OrderRecord>,
    /// Set when the session must re-read the queue.
    pub resync: Arc<AtomicBool>,
    /// Broadcasts to relay.
    pub broadcasts: broadcast::Receiver<Broadcast>,
}

/// The patrol link's shared state.
#[derive(Debug)]
pub struct PatrolLink {
    /// The persisted order queue, for reads outside sessions.
    orders: OrderStore,
    /// The storage thread every order and ack write goes through.
    writer: OrderWriter,
    /// Revoked certificate serials, refreshed from the store.
    revoked: Arc<RevocationList>,
    /// Live sessions by unit id; one per unit (a newer one replaces it).
    live: Mutex<HashMap<String, Live>>,
    /// Broadcast fan-out to every live session.
    broadcasts: broadcast::Sender<Broadcast>,
    /// Next session id.
    next_session: AtomicU64,
    /// Counters and gauges, shared with `/metrics`.
    pub counters: Arc<PatrolCounters>,
}

impl PatrolLink {
    /// The link over `store`, creating its tables if needed; counts into
    /// `counters`.
    pub fn new(store: Store, counters: Arc<PatrolCounters>) -> Result<PatrolLink, StoreError> {
        let revoked = Arc::new(RevocationList::default());
        if let Err(e) = revoked.refresh(&store) {
            tracing::warn!("cannot read the revocation list yet: {e}");
        }
        let orders = OrderStore::new(store)?;
        counters
            .orders_pending
            .store(orders.count_unacked()?, Ordering::Relaxed);
        let writer = OrderWriter::spawn(&orders)?;
        Ok(PatrolLink {
            writer,
            orders,
            revoked,
            live: Mutex::default(),
            broadcasts: broadcast::channel(BROADCAST_BUFFER).0,
            next_session: AtomicU64::new(1),
            counters,
        })
    }

    /// The order queue, for reads (listing orders).
    pub fn orders(&self) -> &OrderStore {
        &self.orders
    }

    /// The storage thread, for a session's storage operations.
    pub fn writer(&self) -> &OrderWriter {
        &self.writer
    }

    /// The revocation list the TLS verifier consults.
    pub fn revocations(&self) -> &Arc<RevocationList> {
        &self.revoked
    }

    /// Stores an order for `unit` (durably, on the writer thread), then
    /// hands it to the unit's live session. Refused, and nothing stored,
    /// when it could never be delivered: too large for a control frame, or
    /// no valid patrol or supervisor certificate names the unit.
    pub async fn issue_order(
        &self,
        unit: &str,
        order: &NewOrder,
    ) -> Result<OrderRecord, OrderError> {
        let record = self
            .writer
            .create_deliverable(unit, order, crate::time::unix_ms())
            .await?;
        self.issued(record.clone());
        Ok(record)
    }

    /// [`PatrolLink::issue_order`] for dispatch's own thread (outside the
    /// async runtime): stored by the same writer thread, durably, before it
    /// is handed on. Never call it from async code: it waits for the commit
    /// on the calling thread.
    pub fn issue_order_blocking(
        &self,
        unit: &str,
        order: &NewOrder,
    ) -> Result<OrderRecord, OrderError> {
        let record = self
            .writer
            .create_blocking(unit, order, crate::time::unix_ms())?;
        self.issued(record.clone());
        Ok(record)
    }

    /// Withdraws an order not yet ended (stored first, by the writer
    /// thread), then tells the unit's live session; `Ok(None)` when there
    /// is no such order or it had ended. A unit not connected is told when
    /// it reconnects, until it acknowledges. For dispatch's own thread:
    /// never from async code.
    pub fn withdraw_blocking(
        &self,
        order_id: &str,
        reason: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let Some((before, record)) =
            self.writer
                .withdraw_blocking(order_id, reason, crate::time::unix_ms())?
        else {
            return Ok(None);
        };
        if before == super::orders::OrderState::Pending {
            self.no_longer_pending();
        }
        self.hand_to_session(record.clone());
        Ok(Some(record))
    }

    /// Counts an applied acknowledgement: the first one of an order ends its
    /// pending time, observed from its issue.
    pub fn ack_applied(&self, first: bool, issued_ms: i64, now_ms: i64) {
        self.counters.acks_applied.fetch_add(1, Ordering::Relaxed);
        if first {
            self.no_longer_pending();
            let ms = now_ms.saturating_sub(issued_ms).max(0) as u64;
            self.counters
                .ack_latency
                .observe(std::time::Duration::from_millis(ms));
        }
    }

    /// Hands a stored order to its unit's live session again (a tablet
    /// applies an order id once, so a duplicate is harmless); `Ok(false)`
    /// when the unit is not connected (it gets the order when it connects).
    pub fn resend(&self, order_id: &str) -> Result<bool, StoreError> {
        let Some(record) = self.orders.get(order_id)? else {
            return Ok(false);
        };
        Ok(self.hand_to_session(record))
    }

    /// One order fewer is pending (never below zero).
    fn no_longer_pending(&self) {
        let _ =
            self.counters
                .orders_pending
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(1))
                });
    }

    /// Counts a newly stored order and hands it to its unit's live session.
    fn issued(&self, record: OrderRecord) {
        self.counters.orders_issued.fetch_add(1, Ordering::Relaxed);
        self.counters.orders_pending.fetch_add(1, Ordering::Relaxed);
        self.hand_to_session(record);
    }

    /// Hands a stored order to its unit's live session; when the session's
    /// queue is full, asks it to re-read the queue from the store instead.
    /// `false` when the unit is not connected.
    fn hand_to_session(&self, record: OrderRecord) -> bool {
        let live = self.lock();
        let Some(live) = live.get(&record.unit) else {
            return false;
        };
        if live.orders.try_send(record).is_err() {
            live.resync.store(true, Ordering::Relaxed);
        }
        true
    }

    /// Sends a broadcast to every live session.
    pub fn broadcast(&self, message: Broadcast) {
        let _ = self.broadcasts.send(message);
    }

    /// Number of units with a live connection.
    pub fn connected(&self) -> usize {
        self.lock().len()
    }

    /// Registers a new connection of `identity.unit`, closing the older one.
    pub fn attach(&self, identity: &UnitIdentity, conn: quinn::Connection) -> Attached {
        let session_id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(ORDER_NOTIFY_BUFFER);
        let resync = Arc::new(AtomicBool::new(false));
        let old = {
            let mut live = self.lock();
            let old = live.insert(
                identity.unit.clone(),
                Live {
                    session_id,
                    serial: identity.serial.clone(),
                    orders: tx,
                    resync: resync.clone(),
                    conn,
                },
            );
            self.counters
                .connected
                .store(live.len() as u64, Ordering::Relaxed);
            old
        };
        if let Some(old) = old {
            tracing::info!(unit = %identity.unit, "a new connection replaces the previous one");
            old.conn.close(
                (CloseCode::Replaced as u32).into(),
                b"a newer connection of this unit took over",
            );
        }
        Attached {
            session_id,
            orders: rx,
            resync,
            broadcasts: self.broadcasts.subscribe(),
        }
    }

    /// Unregisters a connection; `true` if it was still the unit's current one.
    pub fn detach(&self, unit: &str, session_id: u64) -> bool {
        let mut live = self.lock();
        if live.get(unit).is_some_and(|l| l.session_id == session_id) {
            live.remove(unit);
            self.counters
                .connected
                .store(live.len() as u64, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// Reloads the revocation list and closes live connections whose
    /// certificate was revoked since they connected.
    pub fn refresh_revocations(&self, store: &Store) {
        if let Err(e) = self.revoked.refresh(store) {
            tracing::warn!("cannot refresh the revocation list: {e}");
            return;
        }
        for (unit, live) in self.lock().iter() {
            if self.revoked.is_revoked(&live.serial) {
                tracing::warn!(%unit, "certificate revoked: closing its connection");
                live.conn.close(
                    (CloseCode::Revoked as u32).into(),
                    b"certificate revoked: ask for a new one",
                );
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}
