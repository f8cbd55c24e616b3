//! The tablet's side of the `vigie/1` control protocol, as a sans-I/O core:
//! server messages in, client messages out, nothing read from a clock or a
//! socket. The QUIC tablet ([`super::tablet`]) drives it over a real
//! connection; the patrol pair ([`crate::pair::patrol`]) on virtual time.
//!
//! It keeps what must survive reconnections, as `protocols/README.md` asks
//! of a client: orders applied once per `order_id` (a copy is acknowledged
//! by the acks already in the outbox, not applied again), acks and other
//! reliable messages kept until the server receipts them, and the whole
//! outbox sent again after each `Welcome`.

use std::collections::{HashSet, VecDeque};

use vigie_protocols::tablet::{
    AckKind, ClientMessage, Hello, Order, OrderAck, ServerMessage, client_message, server_message,
};

/// Most unreceipted messages kept; when full the oldest is dropped (logged):
/// a tablet offline that long has lost more than acks.
pub const OUTBOX_LIMIT: usize = 1000;

/// Order ids remembered to apply each order once.
pub const SEEN_ORDERS_LIMIT: usize = 1000;

/// What a server message means for the unit.
#[derive(Debug, Clone, PartialEq)]
pub enum TabletEvent {
    /// The session is open: the link is up.
    Welcome,
    /// A new order, to carry out (acknowledged `RECEIVED` and `ACCEPTED`).
    Order(Order),
    /// A copy of an order already applied (not applied again).
    Redelivered(String),
    /// An order withdrawn (acknowledged `WITHDRAWN` on every copy).
    Withdrawn(String),
    /// The server refused one of the tablet's messages, with its reason.
    Refused(String),
}

/// The tablet's protocol state.
#[derive(Debug, Clone)]
pub struct TabletCore {
    /// Unit id (from the certificate).
    unit: String,
    /// Orders already applied, most recent last.
    seen: VecDeque<String>,
    /// Same, for lookup.
    seen_set: HashSet<String>,
    /// Reliable messages not yet receipted, in send order.
    outbox: VecDeque<ClientMessage>,
    /// Counter for message ids.
    next_id: u64,
}

impl TabletCore {
    /// A tablet of `unit` that has seen nothing yet.
    pub fn new(unit: impl Into<String>) -> TabletCore {
        TabletCore {
            unit: unit.into(),
            seen: VecDeque::new(),
            seen_set: HashSet::new(),
            outbox: VecDeque::new(),
            next_id: 0,
        }
    }

    /// The unit id.
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// Reliable messages not yet receipted.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// The first message on a new connection.
    pub fn hello(&self, now_ms: i64, software: &str) -> ClientMessage {
        ClientMessage {
            body: Some(client_message::Body::Hello(Hello {
                protocol_version: vigie_protocols::tablet::PROTOCOL_VERSION,
                client_software: software.into(),
                client_time_ms: now_ms,
            })),
        }
    }

    fn message_id(&mut self, now_ms: i64) -> String {
        self.next_id += 1;
        format!("{}-{now_ms}-{}", self.unit, self.next_id)
    }

    /// An order acknowledgement, kept in the outbox until receipted.
    pub fn ack(&mut self, now_ms: i64, order_id: &str, kind: AckKind) -> ClientMessage {
        let msg = ClientMessage {
            body: Some(client_message::Body::OrderAck(OrderAck {
                message_id: self.message_id(now_ms),
                order_id: order_id.into(),
                kind: kind as i32,
                reason: String::new(),
                at_ms: now_ms,
            })),
        };
        if self.outbox.len() >= OUTBOX_LIMIT {
            tracing::warn!(unit = %self.unit, "outbox full: dropping the oldest unreceipted message");
            self.outbox.pop_front();
        }
        self.outbox.push_back(msg.clone());
        msg
    }

    fn remember(&mut self, order_id: &str) -> bool {
        if !self.seen_set.insert(order_id.to_string()) {
            return false;
        }
        self.seen.push_back(order_id.to_string());
        if self.seen.len() > SEEN_ORDERS_LIMIT
            && let Some(old) = self.seen.pop_front()
        {
            self.seen_set.remove(&old);
        }
        true
    }

    /// A message from the server: what to send now, and what it means for
    /// the unit.
    pub fn handle(
        &mut self,
        now_ms: i64,
        msg: ServerMessage,
    ) -> (Vec<ClientMessage>, Option<TabletEvent>) {
        match msg.body {
            Some(server_message::Body::Welcome(_)) => (
                self.outbox.iter().cloned().collect(),
                Some(TabletEvent::Welcome),
            ),
            Some(server_message::Body::Order(order)) => {
                if !self.remember(&order.order_id) {
                    return (Vec::new(), Some(TabletEvent::Redelivered(order.order_id)));
                }
                let send = vec![
                    self.ack(now_ms, &order.order_id, AckKind::Received),
                    self.ack(now_ms, &order.order_id, AckKind::Accepted),
                ];
                (send, Some(TabletEvent::Order(order)))
            }
            Some(server_message::Body::OrderWithdrawn(w)) => {
                // Said on every copy: the server resends until it hears.
                self.remember(&w.order_id);
                let send = vec![self.ack(now_ms, &w.order_id, AckKind::Withdrawn)];
                (send, Some(TabletEvent::Withdrawn(w.order_id)))
            }
            Some(server_message::Body::Receipt(r)) => {
                self.outbox
                    .retain(|m| message_id(m) != Some(r.message_id.as_str()));
                (Vec::new(), None)
            }
            Some(server_message::Body::Error(e)) => {
                self.outbox.retain(|m| {
                    message_id(m) != Some(e.message_id.as_str()) || e.message_id.is_empty()
                });
                (Vec::new(), Some(TabletEvent::Refused(e.message)))
            }
            _ => (Vec::new(), None),
        }
    }
}

/// The message id of a reliable client message.
pub fn message_id(m: &ClientMessage) -> Option<&str> {
    match &m.body {
        Some(client_message::Body::OrderAck(a)) => Some(&a.message_id),
        Some(client_message::Body::Status(s)) => Some(&s.message_id),
        Some(client_message::Body::Incident(i)) => Some(&i.message_id),
        _ => None,
    }
}
