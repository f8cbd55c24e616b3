//! The ground's tablet session and order queue against a simulated
//! tablet's protocol core, on virtual time, across reconnections.
//!
//! The production pieces run as the server runs them: [`Session`] (the
//! sans-I/O core of one connection), its storage operations executed in
//! order on the real [`OrderStore`] (an in-memory SQLite), each answered
//! after a random storage delay, and orders created in the store and then
//! notified to the live session as the patrol roster does, at any moment,
//! even while the session is still opening. The tablet is
//! [`TabletCore`], the very core the QUIC tablet drives.
//!
//! The control stream is QUIC's: reliable and ordered while the connection
//! lives, with a latency. Connections die at random (everything in flight
//! both ways is lost; storage operations already handed to the writer still
//! run, their answers go nowhere), and the tablet reconnects after a delay:
//! a new session, a new `Hello`.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use rand::{RngExt as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use vigie_ground::order::{NewOrder, OrderRecord};
use vigie_ground::patrol::ca::Role;
use vigie_ground::patrol::orders::{OrderStore, StoreOp};
use vigie_ground::patrol::session::{Channel, Output, ResendPolicy, Session};
use vigie_ground::store::Store;
use vigie_protocols::tablet::{AckKind, ClientMessage, ServerMessage};

use super::Stepper;
use super::net::{Conditions, Path};
use crate::patrol::core::{TabletCore, TabletEvent};

/// Wall clock at the start of a run, Unix ms.
const WALL_START_MS: i64 = 1_800_000_000_000;

/// What the pair's connection does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weather {
    /// One-way latency of the control stream.
    pub latency: Duration,
    /// Chance per second that the live connection dies.
    pub drops_per_s: f64,
    /// Time from a connection's death to the tablet's next `Hello`.
    pub reconnect_after: Duration,
    /// Longest a storage operation takes (uniform in `0..=store_delay`).
    pub store_delay: Duration,
}

impl Weather {
    /// A steady link: 20 ms, never dropped, storage in 5 ms at most.
    pub const CALM: Weather = Weather {
        latency: Duration::from_millis(20),
        drops_per_s: 0.0,
        reconnect_after: Duration::from_secs(1),
        store_delay: Duration::from_millis(5),
    };
}

/// A storage operation handed to the writer: when it runs, when its
/// answer reaches the session, and for which connection (the answer is
/// lost if that connection died).
#[derive(Debug)]
struct Storage {
    /// When the writer runs it (durable from then on).
    due: Instant,
    /// When its answer reaches the session (the writer's reply channel
    /// and the connection task's turn take time too).
    answer_at: Instant,
    /// The connection that asked.
    conn: u64,
    /// The operation, then its result once it ran.
    work: Work,
}

/// A storage operation waiting for the writer, or its result.
#[derive(Debug)]
enum Work {
    /// Not run yet.
    Queued(StoreOp),
    /// Run: the answer on its way to the session.
    Done(Result<vigie_ground::patrol::orders::StoreDone, vigie_ground::store::StoreError>),
}

/// One live connection.
#[derive(Debug)]
struct Conn {
    /// Connection number.
    id: u64,
    /// The server's session.
    session: Session,
    /// Server to tablet (control stream).
    down: Path<ServerMessage>,
    /// Tablet to server (control stream).
    up: Path<ClientMessage>,
    /// Whether the tablet got `Welcome` on it.
    welcomed: bool,
}

/// The ground's session and queue, and one simulated tablet.
#[derive(Debug)]
pub struct PatrolPair {
    /// When the run began.
    start: Instant,
    /// The virtual present.
    now: Instant,
    /// Connection drops, storage delays.
    rng: ChaCha8Rng,
    /// What the link does.
    weather: Weather,
    /// Resend policy of the sessions.
    resend: ResendPolicy,
    /// The order queue (in-memory SQLite).
    orders: OrderStore,
    /// The unit.
    unit: String,
    /// The tablet.
    tablet: TabletCore,
    /// The live connection, if any.
    conn: Option<Conn>,
    /// Connections opened so far.
    connections: u64,
    /// When the tablet reconnects, while it has no connection.
    reconnect_at: Option<Instant>,
    /// When to check next whether the connection dies.
    next_weather: Instant,
    /// Storage operations handed to the writer, in order.
    storage: VecDeque<Storage>,
    /// Times each order was applied by the tablet, by order id.
    applied: BTreeMap<String, u32>,
    /// Orders the tablet saw withdrawn.
    withdrawn: BTreeMap<String, u32>,
}

impl PatrolPair {
    /// A tablet of unit `P1` that connects at once, under `weather`; the
    /// run's randomness comes from `seed`.
    pub fn new(seed: u64, weather: Weather, resend: ResendPolicy) -> anyhow::Result<PatrolPair> {
        let start = Instant::now();
        let mut pair = PatrolPair {
            start,
            now: start,
            rng: ChaCha8Rng::seed_from_u64(seed),
            weather,
            resend,
            orders: OrderStore::new(Store::in_memory()?)?,
            unit: "P1".into(),
            tablet: TabletCore::new("P1"),
            conn: None,
            connections: 0,
            reconnect_at: Some(start),
            next_weather: start + Duration::from_secs(1),
            storage: VecDeque::new(),
            applied: BTreeMap::new(),
            withdrawn: BTreeMap::new(),
        };
        pair.pump();
        Ok(pair)
    }

    /// The order queue.
    pub fn orders(&self) -> &OrderStore {
        &self.orders
    }

    /// The unit.
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// The tablet's core.
    pub fn tablet(&self) -> &TabletCore {
        &self.tablet
    }

    /// Times the tablet applied each order.
    pub fn applied(&self) -> &BTreeMap<String, u32> {
        &self.applied
    }

    /// Times the tablet heard each withdrawal.
    pub fn withdrawn(&self) -> &BTreeMap<String, u32> {
        &self.withdrawn
    }

    /// Connections opened so far.
    pub fn connections(&self) -> u64 {
        self.connections
    }

    /// Whether the tablet holds an open session now.
    pub fn is_up(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.welcomed)
    }

    /// Changes the weather from now on.
    pub fn set_weather(&mut self, weather: Weather) {
        self.weather = weather;
    }

    fn wall_ms(&self) -> i64 {
        WALL_START_MS + (self.now - self.start).as_millis() as i64
    }

    /// Stores an order for the unit and notifies the live session, as the
    /// roster does after the writer's commit.
    pub fn issue(&mut self, n: u32) -> anyhow::Result<OrderRecord> {
        let order = NewOrder {
            incident_id: None,
            lat_deg: 48.85 + f64::from(n) * 1e-4,
            lon_deg: 2.35,
            priority: "normal".into(),
            instructions: format!("order {n}"),
        };
        let record = self.orders.create(&self.unit, &order, self.wall_ms())?;
        self.notify(&record);
        Ok(record)
    }

    /// Withdraws an order and notifies the live session; `None` when it
    /// had already ended.
    pub fn withdraw(&mut self, order_id: &str) -> anyhow::Result<Option<OrderRecord>> {
        let Some((_, record)) =
            self.orders
                .withdraw(order_id, "no longer needed", self.wall_ms())?
        else {
            return Ok(None);
        };
        self.notify(&record);
        Ok(Some(record))
    }

    fn notify(&mut self, record: &OrderRecord) {
        let now = self.now;
        if let Some(c) = self.conn.as_mut() {
            c.session.order_issued(now, record);
        }
        self.pump();
    }

    fn next_wake(&self) -> Option<Instant> {
        let mut t = vec![Some(self.next_weather), self.reconnect_at];
        for s in &self.storage {
            t.push(Some(match s.work {
                Work::Queued(_) => s.due,
                Work::Done(_) => s.answer_at,
            }));
        }
        if let Some(c) = &self.conn {
            t.push(c.session.poll_timeout());
            t.push(c.down.next_arrival());
            t.push(c.up.next_arrival());
        }
        t.into_iter().flatten().min()
    }

    /// Carries out what the session asked.
    fn pump(&mut self) {
        let now = self.now;
        let mut close = false;
        let Some(c) = self.conn.as_mut() else { return };
        while let Some(out) = c.session.poll_output() {
            match out {
                Output::Send(m) => c.down.send(now, m),
                Output::Persist(op) => {
                    let delay = self.weather.store_delay.mul_f64(self.rng.random::<f64>());
                    let due = self.storage.back().map_or(now, |s| s.due).max(now + delay);
                    let back = self.weather.store_delay.mul_f64(self.rng.random::<f64>());
                    let answer_at = self
                        .storage
                        .back()
                        .map_or(now, |s| s.answer_at)
                        .max(due + back);
                    self.storage.push_back(Storage {
                        due,
                        answer_at,
                        conn: c.id,
                        work: Work::Queued(op),
                    });
                }
                Output::Close { .. } => close = true,
                _ => {}
            }
        }
        if close {
            self.drop_connection();
        }
    }

    fn connect(&mut self) {
        self.reconnect_at = None;
        self.connections += 1;
        let id = self.connections;
        let wire = Conditions {
            latency: self.weather.latency,
            ..Conditions::PERFECT
        };
        let mut conn = Conn {
            id,
            session: Session::new(self.now, self.unit.clone(), Role::Patrol, id)
                .with_resend(self.resend),
            down: Path::new(wire, id),
            up: Path::new(wire, id + 1_000_000),
            welcomed: false,
        };
        conn.up
            .send(self.now, self.tablet.hello(self.wall_ms(), "vigie-pair"));
        self.conn = Some(conn);
    }

    /// The connection dies: what was in flight is lost; the tablet
    /// reconnects later.
    pub fn drop_connection(&mut self) {
        if self.conn.take().is_some() {
            self.reconnect_at = Some(self.now + self.weather.reconnect_after);
        }
    }

    /// The unit acknowledges an order as the field does (arrived, closed).
    pub fn field_ack(&mut self, order_id: &str, kind: AckKind) {
        let msg = self.tablet.ack(self.wall_ms(), order_id, kind);
        let now = self.now;
        if let Some(c) = self.conn.as_mut().filter(|c| c.welcomed) {
            c.up.send(now, msg);
        }
    }
}

impl Stepper for PatrolPair {
    fn now(&self) -> Instant {
        self.now
    }

    fn step(&mut self, end: Instant) {
        let next = self.next_wake().unwrap_or(end).min(end);
        self.now = self.now.max(next);
        let (now, wall) = (self.now, self.wall_ms());
        if now >= self.next_weather {
            self.next_weather = now + Duration::from_secs(1);
            if self.conn.is_some() && self.rng.random::<f64>() < self.weather.drops_per_s {
                self.drop_connection();
            }
        }
        if self.reconnect_at.is_some_and(|t| t <= now) {
            self.connect();
        }
        // The writer runs operations in order, each when due; answers
        // reach the session later, in the same order, and only the
        // connection that asked.
        for s in self.storage.iter_mut() {
            if s.due > now {
                break;
            }
            if let Work::Queued(op) = &s.work {
                s.work = Work::Done(self.orders.execute(&self.unit, wall, op));
            }
        }
        while self
            .storage
            .front()
            .is_some_and(|s| matches!(s.work, Work::Done(_)) && s.answer_at <= now)
        {
            let Some(s) = self.storage.pop_front() else {
                break;
            };
            if let (Some(c), Work::Done(result)) =
                (self.conn.as_mut().filter(|c| c.id == s.conn), s.work)
            {
                c.session.persisted(now, wall, result);
            }
        }
        if let Some(c) = self.conn.as_mut() {
            while let Some(m) = c.up.receive(now) {
                c.session.handle_message(now, wall, Channel::Control, m);
            }
            if c.session.poll_timeout().is_some_and(|t| t <= now) {
                c.session.handle_timeout(now);
            }
        }
        let mut replies = Vec::new();
        if let Some(c) = self.conn.as_mut() {
            while let Some(m) = c.down.receive(now) {
                let (send, event) = self.tablet.handle(wall, m);
                match event {
                    Some(TabletEvent::Welcome) => c.welcomed = true,
                    Some(TabletEvent::Order(o)) => {
                        *self.applied.entry(o.order_id).or_default() += 1
                    }
                    Some(TabletEvent::Withdrawn(id)) => *self.withdrawn.entry(id).or_default() += 1,
                    _ => {}
                }
                replies.extend(send);
            }
            for m in replies {
                c.up.send(now, m);
            }
        }
        self.pump();
    }
}
