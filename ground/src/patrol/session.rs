//! The sans-I/O core of one tablet connection.
//!
//! Fed with `(now, event)`: decoded client messages from the control stream,
//! report streams and datagrams, decode errors, orders issued while connected,
//! and path statistics. It answers with [`Output`]s for the edge to carry out
//! (send a message, close, update the picture) and with the next instant it
//! wants to be woken ([`Session::poll_timeout`]). Durable state (the order
//! queue, message ids already applied) lives in SQLite; the session never
//! touches it: it asks with [`Output::Persist`] and the edge answers with
//! [`Session::persisted`] once the operation is durable (the edge runs them
//! in order, one at a time per connection, on the patrol writer thread).
//! A receipt is therefore only sent for what is on disk. Everything else
//! dies with the connection, which is what makes a reconnection resume
//! cleanly: a new session re-reads the queue and sends every order not yet
//! acknowledged, in order.
//!
//! An order sent on a connection and not acknowledged (any ack of its
//! `order_id`) within [`ResendPolicy::after`] is sent again on the same
//! connection, at most [`ResendPolicy::max`] times; then the session gives
//! up on it (dispatch escalates it to the operators). Tablets apply an order
//! once per `order_id`, so a copy is harmless. A withdrawn order
//! (state `withdrawn` in the queue) is announced with `OrderWithdrawn`, sent
//! again the same way until the tablet acknowledges it with an `OrderAck` of
//! kind `WITHDRAWN`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use vigie_protocols::tablet::codec::{
    DecodeError, MAX_CONTROL_MESSAGE_BYTES, MAX_REPORT_MESSAGE_BYTES,
};
use vigie_protocols::tablet::{
    self, Broadcast, ClientMessage, CloseCode, ErrorCode, GeoPoint, IncidentReport, PositionReport,
    Receipt, ServerMessage, UnitStatus, Welcome, client_message, server_message,
};

use super::ca::Role;
use super::orders::{AckOutcome, OrderRecord, OrderState, StoreDone, StoreOp};
use crate::store::StoreError;

/// Time a client has to send `Hello` after the handshake.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Expected interval between position reports.
pub const POSITION_INTERVAL: Duration = Duration::from_secs(1);

/// Control- and report-stream messages read per second and connection
/// (positions on datagrams are not counted). Beyond it the server paces:
/// it stops reading until the rate allows, and QUIC flow control then holds
/// the client's writes. No client is closed for its pace.
pub const MAX_MESSAGES_PER_SECOND: u32 = 200;

/// Messages read at once before pacing starts (a fresh connection, or one
/// quiet for a second, has this allowance).
pub const PACE_BURST: u32 = 200;

/// Most text bytes accepted in incidents and broadcasts.
pub const MAX_TEXT_BYTES: usize = 2000;

/// When an order sent on a live connection and not acknowledged is sent
/// again on that connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResendPolicy {
    /// Delay after a send without any ack before the next copy.
    pub after: Duration,
    /// Copies sent after the first one, at most, per connection.
    pub max: u32,
}

impl Default for ResendPolicy {
    /// Every 10 s, 5 times.
    fn default() -> Self {
        ResendPolicy {
            after: Duration::from_secs(10),
            max: 5,
        }
    }
}

/// An order (or its withdrawal) sent on this connection and not
/// acknowledged yet.
#[derive(Debug, Clone, PartialEq)]
struct Unacked {
    /// The order concerned.
    order_id: String,
    /// What was sent: the `Order`, or the `OrderWithdrawn`.
    body: server_message::Body,
    /// When to send it again.
    due: Instant,
    /// Copies sent after the first one.
    resent: u32,
}

impl Unacked {
    /// Whether `ack` answers what was sent: any ack answers an order, only
    /// `WITHDRAWN` answers a withdrawal.
    fn answered_by(&self, ack: &tablet::OrderAck) -> bool {
        self.order_id == ack.order_id
            && (matches!(self.body, server_message::Body::Order(_))
                || ack.kind() == tablet::AckKind::Withdrawn)
    }
}

/// Where a message came from; some messages are only valid on some channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The bidirectional control stream.
    Control,
    /// A unidirectional report stream.
    Report,
    /// A QUIC datagram.
    Datagram,
}

/// What the edge must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send on the control stream.
    Send(ServerMessage),
    /// Close the connection with this code and reason.
    Close {
        /// QUIC application error code.
        code: CloseCode,
        /// Reason phrase for the client.
        reason: String,
    },
    /// The session is open (after Welcome): the link is up.
    Up,
    /// A newer position of the unit.
    Position(PositionReport),
    /// The unit declared a status.
    Status(UnitStatus),
    /// An incident was stored.
    Incident(IncidentReport),
    /// A broadcast to relay to every connected unit.
    Broadcast(Broadcast),
    /// A coverage query to answer (the edge owns the picture).
    CoverageQuery {
        /// The query's message id.
        query_id: String,
        /// The point asked about (the unit's position when absent).
        point: Option<GeoPoint>,
    },
    /// An order's state changed.
    OrderProgress(AckOutcome, String),
    /// Run this storage operation, then call [`Session::persisted`] with its
    /// result. Operations must run in the order they are asked, each
    /// answered once.
    Persist(StoreOp),
    /// Start streaming a live video feed to this client.
    SubscribeVideo {
        /// The feed's source.
        source: String,
    },
    /// Start streaming the live picture to this client (once per connection).
    SubscribePicture {
        /// Fewest time between two picture steps.
        min_interval: Duration,
    },
    /// Something the certificate's role may not do was refused (the client
    /// got an error with the reason): for the audit register.
    Refused {
        /// What was asked (`broadcast`, `picture`, `position`, ...).
        action: &'static str,
        /// Why it was refused, as told to the client.
        reason: String,
    },
}

/// What the session does with the answer of a [`StoreOp`] it asked for.
#[derive(Debug, Clone, PartialEq)]
enum Awaiting {
    /// The queue read of Hello: then Welcome and the pending orders.
    Hello,
    /// A queue re-read after dropped notifications.
    Resync,
    /// An order ack: then its receipt.
    Ack(tablet::OrderAck),
    /// A status report: then its receipt and the status.
    Status(String, UnitStatus),
    /// A broadcast: then its receipt and the relay.
    Broadcast(Broadcast),
    /// An incident report: then its receipt.
    Incident(IncidentReport),
}

/// Shortest interval between two picture steps a client may ask for.
pub const MIN_PICTURE_INTERVAL: Duration = Duration::from_millis(100);

/// Most live video feeds one connection watches at once (each is a stream
/// the client must allow).
pub const MAX_VIDEO_FEEDS: usize = 4;

/// Link quality inputs sampled from the QUIC path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathSample {
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Packets sent on the path since the connection opened.
    pub sent_packets: u64,
    /// Packets declared lost since the connection opened.
    pub lost_packets: u64,
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Handshake done, waiting for Hello until the deadline.
    AwaitingHello {
        /// When to give up.
        deadline: Instant,
    },
    /// Hello received; reading the order queue before Welcome.
    Opening,
    /// Welcome sent.
    Open,
    /// Close requested; nothing more is processed.
    Closed,
}

/// One tablet's session on one connection.
#[derive(Debug)]
pub struct Session {
    /// Unit id from the certificate.
    unit: String,
    /// Role from the certificate.
    role: Role,
    /// Id of this session in logs and in Welcome.
    session_id: u64,
    /// Where the session is.
    phase: Phase,
    /// Seqs of orders sent on this connection: an order announced both by the
    /// queue read at Hello and by a live notification is sent once.
    sent_seqs: BTreeSet<u64>,
    /// Seqs of orders whose withdrawal was sent on this connection.
    withdrawn_seqs: BTreeSet<u64>,
    /// Orders sent on this connection and not acknowledged, by seq.
    unacked: BTreeMap<u64, Unacked>,
    /// When unacknowledged orders are sent again.
    resend: ResendPolicy,
    /// Copies of orders sent again on this connection (for counters).
    resent_total: u64,
    /// Timestamp of the newest position applied (latest wins).
    last_position_ms: Option<i64>,
    /// Last known position, for coverage queries without a point.
    last_position: Option<GeoPoint>,
    /// Token bucket of the read pace: messages still allowed (negative:
    /// read ahead of the rate) as of the instant.
    pace: (f64, Instant),
    /// Previous path sample, to compute loss over the last interval.
    last_path: Option<PathSample>,
    /// Link quality 0..1, smoothed.
    quality: Option<f64>,
    /// Whether the live picture was already subscribed on this connection.
    picture_subscribed: bool,
    /// Live video feeds this connection asked for.
    video_feeds: Vec<String>,
    /// Whether a video stream of this tablet's camera is being taken in.
    publishing: bool,
    /// Whether an operator console's position was already refused on this
    /// connection (positions come many a second: refused and told once).
    position_refused: bool,
    /// Whether an out-of-range position was already answered `INVALID` on
    /// this connection (told once: positions come every second).
    position_invalid_told: bool,
    /// Whether an order was notified while the queue read for `Hello` was
    /// under way: the read may have run before it was stored, so the queue
    /// is read again once the session opens.
    notified_while_opening: bool,
    /// Things for the edge to do, in order.
    out: VecDeque<Output>,
    /// What to do with each storage answer still to come, in asking order.
    awaiting: VecDeque<Awaiting>,
}

impl Session {
    /// A session for a verified connection of `unit` with `role`.
    pub fn new(now: Instant, unit: String, role: Role, session_id: u64) -> Session {
        Session {
            unit,
            role,
            session_id,
            phase: Phase::AwaitingHello {
                deadline: now + HELLO_TIMEOUT,
            },
            sent_seqs: BTreeSet::new(),
            withdrawn_seqs: BTreeSet::new(),
            unacked: BTreeMap::new(),
            resend: ResendPolicy::default(),
            resent_total: 0,
            last_position_ms: None,
            last_position: None,
            pace: (f64::from(PACE_BURST), now),
            last_path: None,
            quality: None,
            picture_subscribed: false,
            video_feeds: Vec::new(),
            publishing: false,
            position_refused: false,
            position_invalid_told: false,
            notified_while_opening: false,
            out: VecDeque::new(),
            awaiting: VecDeque::new(),
        }
    }

    /// The same session resending unacknowledged orders by `policy`.
    pub fn with_resend(mut self, policy: ResendPolicy) -> Session {
        self.resend = policy;
        self
    }

    /// Copies of orders sent again on this connection so far.
    pub fn resent(&self) -> u64 {
        self.resent_total
    }

    /// The unit id.
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// Whether Welcome was sent and the session not closed.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// A unidirectional stream began with a `VideoFrame`: whether the edge
    /// takes it in as this unit's camera. Refused (and the client told why)
    /// before the session is open, for a role that is not in the field
    /// (operator consoles watch video, they do not send it), and while
    /// another video stream of the connection is being taken in.
    pub fn video_stream_opened(&mut self) -> bool {
        if self.phase != Phase::Open {
            self.error(
                ErrorCode::Invalid,
                "a video stream may only begin once the session is open (after Welcome)".into(),
                "",
            );
            return false;
        }
        if !matches!(self.role, Role::Patrol | Role::Supervisor) {
            self.refuse(
                "video stream",
                format!(
                    "role {} may not stream video; patrol and supervisor certificates may",
                    self.role.as_str()
                ),
                "",
            );
            return false;
        }
        if self.publishing {
            self.error(
                ErrorCode::Invalid,
                "one video stream per connection at a time: finish the last before opening another"
                    .into(),
                "",
            );
            return false;
        }
        self.publishing = true;
        true
    }

    /// A video stream was refused by the edge for `reason` (the server
    /// does not take video in): the client is told.
    pub fn refuse_video_stream(&mut self, reason: &str) {
        self.refuse("video stream", reason.to_string(), "");
    }

    /// The video stream taken in ended: another may begin.
    pub fn video_stream_ended(&mut self) {
        self.publishing = false;
    }

    /// Link quality 0..1, once a path sample was seen.
    pub fn link_quality(&self) -> Option<f64> {
        self.quality
    }

    /// The next thing for the edge to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::AwaitingHello { deadline } => Some(deadline),
            Phase::Open => self.unacked.values().map(|u| u.due).min(),
            _ => None,
        }
    }

    /// Time passes.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Phase::AwaitingHello { deadline } = self.phase
            && now >= deadline
        {
            self.close(
                CloseCode::HelloTimeout,
                "no Hello within 10 s of the handshake".into(),
            );
        }
        if self.phase != Phase::Open {
            return;
        }
        let due: Vec<u64> = self
            .unacked
            .iter()
            .filter(|(_, u)| u.due <= now)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in due {
            let Some(u) = self.unacked.get_mut(&seq) else {
                continue;
            };
            if u.resent >= self.resend.max {
                tracing::warn!(
                    unit = %self.unit,
                    order = %u.order_id,
                    copies = u.resent + 1,
                    "order still not acknowledged on this connection: left to escalation"
                );
                self.unacked.remove(&seq);
                continue;
            }
            u.resent += 1;
            u.due = now + self.resend.after;
            let body = u.body.clone();
            self.resent_total += 1;
            self.send(body);
        }
    }

    /// A frame could not be decoded on `channel`.
    pub fn handle_decode_error(&mut self, channel: Channel, err: &DecodeError) {
        match err {
            DecodeError::UnknownMessage => {
                self.error(ErrorCode::UnknownMessage, err.to_string(), "")
            }
            DecodeError::TooLarge { .. } => self.close(CloseCode::MessageTooLarge, err.to_string()),
            // A bad datagram is dropped: datagrams are unreliable anyway and
            // a garbled one must not cost the client its orders.
            _ if channel == Channel::Datagram => {}
            _ => self.close(CloseCode::ProtocolViolation, err.to_string()),
        }
    }

    /// A decoded message arrived on `channel`.
    pub fn handle_message(
        &mut self,
        now: Instant,
        now_ms: i64,
        channel: Channel,
        msg: ClientMessage,
    ) {
        if self.phase == Phase::Closed {
            return;
        }
        if channel != Channel::Datagram {
            self.count_message(now);
        }
        let Some(body) = msg.body else {
            self.error(
                ErrorCode::UnknownMessage,
                DecodeError::UnknownMessage.to_string(),
                "",
            );
            return;
        };
        if let Phase::AwaitingHello { .. } = self.phase {
            if channel == Channel::Datagram {
                // A position may overtake the Hello on the control stream:
                // datagrams are unreliable anyway, drop it.
                return;
            }
            match body {
                client_message::Body::Hello(hello) if channel == Channel::Control => {
                    self.hello(&hello)
                }
                _ => self.close(
                    CloseCode::ProtocolViolation,
                    "the first message on the control stream must be Hello".into(),
                ),
            }
            return;
        }
        if self.role == Role::Operator
            && let Some((action, message_id)) = field_report(&body)
        {
            if action == "position" {
                if self.position_refused {
                    return;
                }
                self.position_refused = true;
            }
            self.refuse(
                action,
                format!(
                    "role operator may not send a {action}: that is a field unit's report; an operator console follows the picture and acts through the HTTP API"
                ),
                &message_id,
            );
            return;
        }
        match body {
            client_message::Body::Hello(_) => self.error(
                ErrorCode::Invalid,
                "Hello was already received on this connection".into(),
                "",
            ),
            client_message::Body::Position(p) => self.position(p),
            client_message::Body::Status(s) => {
                let status = s.status();
                if status == UnitStatus::Unspecified {
                    self.error(
                        ErrorCode::Invalid,
                        "status must be set".into(),
                        &s.message_id,
                    );
                } else {
                    let id = s.message_id.clone();
                    self.remember(&s.message_id, "status", Awaiting::Status(id, status));
                }
            }
            client_message::Body::Incident(report) => self.incident(report),
            client_message::Body::OrderAck(ack) => self.order_ack(ack),
            client_message::Body::CoverageQuery(q) => self.out.push_back(Output::CoverageQuery {
                query_id: q.message_id,
                point: q.point.or(self.last_position),
            }),
            client_message::Body::Broadcast(mut b) => {
                if !self.role.may_broadcast() {
                    self.refuse(
                        "broadcast",
                        format!(
                            "role {} may not broadcast; supervisor and operator certificates may",
                            self.role.as_str()
                        ),
                        &b.message_id,
                    );
                } else if b.text.len() > MAX_TEXT_BYTES {
                    self.error(
                        ErrorCode::Invalid,
                        format!("broadcast text over {MAX_TEXT_BYTES} bytes"),
                        &b.message_id,
                    );
                } else {
                    b.from_unit = self.unit.clone();
                    b.at_ms = now_ms;
                    let id = b.message_id.clone();
                    self.remember(&id, "broadcast", Awaiting::Broadcast(b));
                }
            }
            client_message::Body::Ping(p) => self.send(server_message::Body::Pong(tablet::Pong {
                nonce: p.nonce,
                server_time_ms: now_ms,
            })),
            client_message::Body::SubscribeVideo(sub) => {
                let source = sub.source.trim().to_string();
                if !matches!(self.role, Role::Operator | Role::Supervisor) {
                    self.refuse(
                        "video",
                        format!(
                            "role {} may not watch live video; supervisor and operator certificates may",
                            self.role.as_str()
                        ),
                        "",
                    );
                } else if source.is_empty() || source.len() > 200 {
                    self.error(
                        ErrorCode::Invalid,
                        "VideoSubscribe.source must name a feed (a unit or camera id)".into(),
                        "",
                    );
                } else if self.video_feeds.contains(&source) {
                    // Already streaming: nothing more to do.
                } else if self.video_feeds.len() >= MAX_VIDEO_FEEDS {
                    self.error(
                        ErrorCode::Invalid,
                        format!("at most {MAX_VIDEO_FEEDS} live feeds per connection"),
                        "",
                    );
                } else {
                    self.video_feeds.push(source.clone());
                    self.out.push_back(Output::SubscribeVideo { source });
                }
            }
            client_message::Body::VideoFrame(_) => self.error(
                ErrorCode::Invalid,
                "a VideoFrame goes only on a video stream: a unidirectional stream whose first message is one"
                    .into(),
                "",
            ),
            client_message::Body::SubscribePicture(sub) => {
                if !matches!(self.role, Role::Operator | Role::Supervisor) {
                    self.refuse(
                        "picture",
                        format!(
                            "role {} may not follow the live picture; supervisor and operator certificates may",
                            self.role.as_str()
                        ),
                        "",
                    );
                } else if !self.picture_subscribed {
                    self.picture_subscribed = true;
                    let asked = Duration::from_millis(u64::from(sub.min_interval_ms));
                    self.out.push_back(Output::SubscribePicture {
                        min_interval: asked.max(MIN_PICTURE_INTERVAL),
                    });
                }
            }
        }
    }

    /// An order was stored (or withdrawn) for this unit while the
    /// connection is up.
    pub fn order_issued(&mut self, now: Instant, order: &OrderRecord) {
        match self.phase {
            Phase::Open => {}
            // Before Hello, the read to come finds it.
            Phase::AwaitingHello { .. } | Phase::Closed => return,
            Phase::Opening => {
                self.notified_while_opening = true;
                return;
            }
        }
        let body = if order.state == OrderState::Withdrawn {
            if order.withdraw_acked_ms.is_some() || !self.withdrawn_seqs.insert(order.seq) {
                return;
            }
            server_message::Body::OrderWithdrawn(order.to_withdrawal())
        } else if self.sent_seqs.insert(order.seq) {
            server_message::Body::Order(order.to_proto())
        } else {
            return;
        };
        self.send(body.clone());
        self.unacked.insert(
            order.seq,
            Unacked {
                order_id: order.order_id.clone(),
                body,
                due: now + self.resend.after,
                resent: 0,
            },
        );
    }

    /// Re-reads the queue and sends unacknowledged orders not yet sent on this
    /// connection (after live notifications were dropped).
    pub fn resync(&mut self) {
        if self.phase == Phase::Open {
            self.request(Awaiting::Resync, StoreOp::Unacked);
        }
    }

    /// The answer to the oldest [`Output::Persist`] not yet answered: the
    /// operation is durable (or failed).
    pub fn persisted(&mut self, now: Instant, now_ms: i64, result: Result<StoreDone, StoreError>) {
        let Some(awaiting) = self.awaiting.pop_front() else {
            tracing::error!(unit = %self.unit, "a storage answer nobody asked for");
            return;
        };
        if self.phase == Phase::Closed {
            return;
        }
        match (awaiting, result) {
            (Awaiting::Hello, Ok(StoreDone::Unacked(pending))) => self.open(now, now_ms, &pending),
            (Awaiting::Hello, other) => {
                // Welcome only goes out with the queue read: a failure closes
                // the session rather than opening one that would miss orders.
                tracing::error!(unit = %self.unit, "cannot read the order queue: {other:?}");
                self.close(
                    CloseCode::Normal,
                    "server storage unavailable; retry later".into(),
                );
            }
            (Awaiting::Resync, Ok(StoreDone::Unacked(list))) => {
                list.iter().for_each(|o| self.order_issued(now, o))
            }
            (Awaiting::Resync, other) => {
                tracing::error!(unit = %self.unit, "cannot re-read the order queue: {other:?}")
            }
            (Awaiting::Ack(ack), Ok(StoreDone::Ack(outcome))) => match outcome {
                AckOutcome::UnknownOrder => self.error(
                    ErrorCode::UnknownOrder,
                    format!("no order {:?} for unit {}", ack.order_id, self.unit),
                    &ack.message_id,
                ),
                AckOutcome::Invalid => self.error(
                    ErrorCode::Invalid,
                    "ack kind must be set".into(),
                    &ack.message_id,
                ),
                outcome => {
                    self.receipt(&ack.message_id, outcome == AckOutcome::Duplicate);
                    self.out
                        .push_back(Output::OrderProgress(outcome, ack.order_id.clone()));
                }
            },
            (Awaiting::Status(id, status), Ok(StoreDone::Fresh(fresh))) => {
                self.receipt(&id, !fresh);
                if fresh {
                    self.out.push_back(Output::Status(status));
                }
            }
            (Awaiting::Broadcast(b), Ok(StoreDone::Fresh(fresh))) => {
                self.receipt(&b.message_id, !fresh);
                if fresh {
                    self.out.push_back(Output::Broadcast(b));
                }
            }
            (Awaiting::Incident(report), Ok(StoreDone::Fresh(fresh))) => {
                self.receipt(&report.message_id, !fresh);
                if fresh {
                    self.out.push_back(Output::Incident(report));
                }
            }
            (
                Awaiting::Ack(tablet::OrderAck { message_id: id, .. })
                | Awaiting::Status(id, _)
                | Awaiting::Broadcast(Broadcast { message_id: id, .. })
                | Awaiting::Incident(IncidentReport { message_id: id, .. }),
                result,
            ) => {
                let e = match result {
                    Err(e) => e.to_string(),
                    Ok(other) => format!("unexpected storage answer {other:?}"),
                };
                self.internal(&id, &e);
            }
        }
    }

    /// Asks the edge for a storage operation; `then` says what to do with
    /// the answer.
    fn request(&mut self, then: Awaiting, op: StoreOp) {
        self.awaiting.push_back(then);
        self.out.push_back(Output::Persist(op));
    }

    /// A new sample of path statistics: updates link quality.
    pub fn path_sample(&mut self, sample: PathSample) {
        let loss = match self.last_path {
            Some(prev) if sample.sent_packets > prev.sent_packets => {
                (sample.lost_packets.saturating_sub(prev.lost_packets)) as f64
                    / (sample.sent_packets - prev.sent_packets) as f64
            }
            _ => 0.0,
        };
        self.last_path = Some(sample);
        let q = link_quality(sample.rtt, loss);
        // Exponential smoothing so one bad interval does not flap the picture.
        self.quality = Some(match self.quality {
            Some(prev) => 0.7 * prev + 0.3 * q,
            None => q,
        });
    }

    fn hello(&mut self, hello: &tablet::Hello) {
        if hello.protocol_version != tablet::PROTOCOL_VERSION {
            self.close(
                CloseCode::UnsupportedVersion,
                format!(
                    "protocol version {} is not supported; this server speaks {}",
                    hello.protocol_version,
                    tablet::PROTOCOL_VERSION
                ),
            );
            return;
        }
        // Read the queue before Welcome goes out.
        self.phase = Phase::Opening;
        self.request(Awaiting::Hello, StoreOp::Unacked);
    }

    fn open(&mut self, now: Instant, now_ms: i64, pending: &[OrderRecord]) {
        self.phase = Phase::Open;
        self.send(server_message::Body::Welcome(Welcome {
            protocol_version: tablet::PROTOCOL_VERSION,
            server_time_ms: now_ms,
            unit_id: self.unit.clone(),
            role: self.role.as_str().into(),
            session_id: self.session_id,
            position_interval_ms: POSITION_INTERVAL.as_millis() as u32,
            max_control_message_bytes: MAX_CONTROL_MESSAGE_BYTES as u32,
            max_report_message_bytes: MAX_REPORT_MESSAGE_BYTES as u32,
        }));
        self.out.push_back(Output::Up);
        for order in pending {
            self.order_issued(now, order);
        }
        // Orders notified meanwhile: read the queue again (what the first
        // read found is not sent twice).
        if std::mem::take(&mut self.notified_while_opening) {
            self.resync();
        }
    }

    fn position(&mut self, p: PositionReport) {
        let valid = (-90.0..=90.0).contains(&p.lat_deg) && (-180.0..=180.0).contains(&p.lon_deg);
        if !valid {
            // Dropped; said once per connection, not at every fix.
            if !self.position_invalid_told {
                self.position_invalid_told = true;
                self.error(
                    ErrorCode::Invalid,
                    format!(
                        "position ({}, {}) out of range (lat -90..90, lon -180..180): dropped; further bad positions on this connection are dropped without a word",
                        p.lat_deg, p.lon_deg
                    ),
                    "",
                );
            }
            return;
        }
        if self
            .last_position_ms
            .is_some_and(|last| p.timestamp_ms <= last)
        {
            return; // Latest wins: an older report arriving late is dropped.
        }
        self.last_position_ms = Some(p.timestamp_ms);
        self.last_position = Some(GeoPoint {
            lat_deg: p.lat_deg,
            lon_deg: p.lon_deg,
        });
        self.out.push_back(Output::Position(p));
    }

    fn incident(&mut self, report: IncidentReport) {
        if report.message_id.is_empty()
            || report.category() == tablet::IncidentCategory::Unspecified
        {
            self.error(
                ErrorCode::Invalid,
                "an incident needs a message_id and a category".into(),
                &report.message_id,
            );
            return;
        }
        if report.text.len() > MAX_TEXT_BYTES || report.photo_jpeg.len() > 1024 * 1024 {
            self.error(
                ErrorCode::Invalid,
                "incident text over 2000 bytes or photo over 1 MiB".into(),
                &report.message_id,
            );
            return;
        }
        self.request(
            Awaiting::Incident(report.clone()),
            StoreOp::Incident(report),
        );
    }

    fn order_ack(&mut self, ack: tablet::OrderAck) {
        if ack.message_id.is_empty() {
            self.error(
                ErrorCode::Invalid,
                "an order ack needs a message_id".into(),
                "",
            );
            return;
        }
        // The unit must say why it cannot take an order: the dispatcher
        // reads it to choose the next unit (the proto calls it required).
        if ack.kind == tablet::AckKind::Refused as i32 && ack.reason.trim().is_empty() {
            self.error(
                ErrorCode::Invalid,
                "an order ack REFUSED needs a reason: say why the unit cannot take the order"
                    .into(),
                &ack.message_id,
            );
            return;
        }
        // Any ack shows the tablet has the order: no more copies (of a
        // withdrawal, only its own ack).
        self.unacked.retain(|_, u| !u.answered_by(&ack));
        self.request(Awaiting::Ack(ack.clone()), StoreOp::Ack(ack));
    }

    /// Applies a reliable message id once, then does `then` if it was new
    /// (and receipts it either way).
    fn remember(&mut self, message_id: &str, kind: &'static str, then: Awaiting) {
        if message_id.is_empty() {
            self.error(
                ErrorCode::Invalid,
                format!("a {kind} message needs a message_id"),
                "",
            );
            return;
        }
        self.request(
            then,
            StoreOp::Remember {
                message_id: message_id.into(),
                kind,
            },
        );
    }

    /// Takes one message from the read pace's allowance.
    fn count_message(&mut self, now: Instant) {
        self.pace = (self.allowance(now) - 1.0, now);
    }

    /// Messages allowed as of `now`: refilled at the rate, up to the burst.
    fn allowance(&self, now: Instant) -> f64 {
        let (tokens, at) = self.pace;
        let refill =
            now.saturating_duration_since(at).as_secs_f64() * f64::from(MAX_MESSAGES_PER_SECOND);
        (tokens + refill).min(f64::from(PACE_BURST))
    }

    /// Until when the edge must not read the next control- or report-stream
    /// message (`None`: read now). Messages read anyway are handled; they
    /// only push this instant further.
    pub fn paced_until(&self, now: Instant) -> Option<Instant> {
        let tokens = self.allowance(now);
        (tokens < 1.0).then(|| {
            now + Duration::from_secs_f64((1.0 - tokens) / f64::from(MAX_MESSAGES_PER_SECOND))
        })
    }

    fn receipt(&mut self, message_id: &str, duplicate: bool) {
        self.send(server_message::Body::Receipt(Receipt {
            message_id: message_id.into(),
            duplicate,
        }));
    }

    fn internal(&mut self, message_id: &str, e: &str) {
        tracing::error!(unit = %self.unit, "storing a client message failed: {e}");
        self.error(
            ErrorCode::Internal,
            "the server could not store this message; resend it later".into(),
            message_id,
        );
    }

    /// Refuses what the role may not do: an error to the client, then a
    /// note for the audit register.
    fn refuse(&mut self, action: &'static str, reason: String, message_id: &str) {
        self.error(ErrorCode::NotPermitted, reason.clone(), message_id);
        self.out.push_back(Output::Refused { action, reason });
    }

    fn error(&mut self, code: ErrorCode, message: String, message_id: &str) {
        self.send(server_message::Body::Error(tablet::Error {
            code: code as i32,
            message,
            message_id: message_id.into(),
        }));
    }

    fn send(&mut self, body: server_message::Body) {
        self.out
            .push_back(Output::Send(ServerMessage { body: Some(body) }));
    }

    fn close(&mut self, code: CloseCode, reason: String) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.out.push_back(Output::Close { code, reason });
        }
    }
}

/// Link quality 0..1 from round-trip time and packet loss: 1 up to 100 ms
/// and no loss; each 1 % of loss costs 5 %; quality falls linearly to 0 at a
/// 2 s round trip (a tablet that hears orders seconds late is not usable).
pub fn link_quality(rtt: Duration, loss: f64) -> f64 {
    let rtt_ms = rtt.as_secs_f64() * 1000.0;
    let rtt_factor = (1.0 - (rtt_ms - 100.0).max(0.0) / 1900.0).clamp(0.0, 1.0);
    let loss_factor = (1.0 - 5.0 * loss).clamp(0.0, 1.0);
    rtt_factor * loss_factor
}

/// A field unit's report (what an operator console may not send): its
/// name and message id.
fn field_report(body: &client_message::Body) -> Option<(&'static str, String)> {
    match body {
        client_message::Body::Position(_) => Some(("position", String::new())),
        client_message::Body::Status(s) => Some(("status", s.message_id.clone())),
        client_message::Body::OrderAck(a) => Some(("order ack", a.message_id.clone())),
        client_message::Body::Incident(i) => Some(("incident", i.message_id.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patrol::orders::{NewOrder, OrderState, OrderStore};
    use crate::store::Store;
    use vigie_protocols::tablet::{AckKind, Hello, OrderAck};

    /// A unit on virtual time: connections come and go, the queue persists.
    struct Rig {
        orders: OrderStore,
        now: Instant,
        now_ms: i64,
        next_session: u64,
    }

    impl Rig {
        fn new() -> Rig {
            Rig {
                orders: OrderStore::new(Store::in_memory().unwrap()).unwrap(),
                now: Instant::now(),
                now_ms: 1_700_000_000_000,
                next_session: 1,
            }
        }

        fn advance(&mut self, d: Duration) {
            self.now += d;
            self.now_ms += d.as_millis() as i64;
        }

        fn connect(&mut self, unit: &str, role: Role) -> Session {
            self.next_session += 1;
            let mut s = Session::new(self.now, unit.into(), role, self.next_session);
            self.feed(
                &mut s,
                client_message::Body::Hello(Hello {
                    protocol_version: 1,
                    ..Hello::default()
                }),
            );
            s
        }

        fn feed(&mut self, s: &mut Session, body: client_message::Body) {
            s.handle_message(
                self.now,
                self.now_ms,
                Channel::Control,
                ClientMessage { body: Some(body) },
            );
        }

        fn issue(&mut self, unit: &str, live: Option<&mut Session>) -> OrderRecord {
            let o = self
                .orders
                .create(
                    unit,
                    &NewOrder {
                        incident_id: None,
                        lat_deg: 48.9,
                        lon_deg: 2.3,
                        priority: "normal".into(),
                        instructions: "go".into(),
                    },
                    self.now_ms,
                )
                .unwrap();
            if let Some(s) = live {
                s.order_issued(self.now, &o);
            }
            o
        }

        fn ack(&mut self, s: &mut Session, msg_id: &str, order_id: &str, kind: AckKind) {
            self.feed(
                s,
                client_message::Body::OrderAck(OrderAck {
                    message_id: msg_id.into(),
                    order_id: order_id.into(),
                    kind: kind as i32,
                    reason: "busy".into(),
                    at_ms: self.now_ms,
                }),
            );
        }
    }

    impl Rig {
        /// Everything the session asks, running its storage operations as
        /// the edge does: in order, answering each before going on.
        fn drain(&self, s: &mut Session) -> Vec<Output> {
            let mut out = Vec::new();
            while let Some(o) = s.poll_output() {
                match o {
                    Output::Persist(op) => {
                        let done = self.orders.execute(s.unit(), self.now_ms, &op);
                        s.persisted(self.now, self.now_ms, done);
                    }
                    other => out.push(other),
                }
            }
            out
        }
    }

    fn orders_sent(out: &[Output]) -> Vec<u64> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send(ServerMessage {
                    body: Some(server_message::Body::Order(o)),
                }) => Some(o.seq),
                _ => None,
            })
            .collect()
    }

    fn receipts(out: &[Output]) -> Vec<(String, bool)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send(ServerMessage {
                    body: Some(server_message::Body::Receipt(r)),
                }) => Some((r.message_id.clone(), r.duplicate)),
                _ => None,
            })
            .collect()
    }

    /// Found by the patrol pair harness (`simulations/tests/pairs.rs`),
    /// whose storage answers come late as the writer thread's do: an order
    /// stored after the queue read for `Hello` but notified before that
    /// read's answer reached the session was dropped (the session was not
    /// open yet) and never sent on that connection. This file's rig ran
    /// every storage operation and answered it at once, so a notification
    /// could never fall between the two.
    #[test]
    fn an_order_notified_while_the_session_opens_is_sent_once_it_is_open() {
        let mut rig = Rig::new();
        let early = rig.issue("P1", None);
        let mut s = rig.connect("P1", Role::Patrol);
        // The queue read runs on the writer now; its answer is on its way.
        let Some(Output::Persist(op)) = s.poll_output() else {
            panic!("the session reads the queue first");
        };
        let read = rig.orders.execute("P1", rig.now_ms, &op);
        // An order stored after the read, notified before the answer.
        let late = rig.issue("P1", Some(&mut s));
        // And one the read also found, notified too: sent once.
        s.order_issued(rig.now, &early);
        s.persisted(rig.now, rig.now_ms, read);
        let out = rig.drain(&mut s);
        assert_eq!(orders_sent(&out), vec![early.seq, late.seq]);
        // Nothing more later: each was sent once on this connection.
        rig.advance(Duration::from_millis(10));
        assert!(orders_sent(&rig.drain(&mut s)).is_empty());
    }

    #[test]
    fn hello_opens_with_welcome_then_pending_orders_in_order() {
        let mut rig = Rig::new();
        rig.issue("P1", None);
        rig.issue("P1", None);
        let mut s = rig.connect("P1", Role::Patrol);
        let out = rig.drain(&mut s);
        assert!(
            matches!(&out[0], Output::Send(ServerMessage { body: Some(server_message::Body::Welcome(w)) }) if w.unit_id == "P1" && w.role == "patrol")
        );
        assert_eq!(out[1], Output::Up);
        assert_eq!(orders_sent(&out), vec![1, 2]);
        assert!(s.is_open());
    }

    #[test]
    fn drop_and_resume_redelivers_every_unacked_order_in_order_exactly_once_in_effect() {
        let mut rig = Rig::new();
        let mut s = rig.connect("P1", Role::Patrol);
        rig.drain(&mut s);
        let o1 = rig.issue("P1", Some(&mut s));
        let o2 = rig.issue("P1", Some(&mut s));
        // A live notification racing with the queue read is sent once.
        s.order_issued(rig.now, &o2);
        assert_eq!(orders_sent(&rig.drain(&mut s)), vec![1, 2]);
        rig.ack(&mut s, "a1", &o1.order_id, AckKind::Received);
        rig.drain(&mut s);

        // The connection drops; orders are issued while the unit is away.
        drop(s);
        rig.advance(Duration::from_secs(20));
        let o3 = rig.issue("P1", None);
        rig.issue("P1", None);

        // A new connection gets exactly the unacknowledged ones, in order.
        let mut s = rig.connect("P1", Role::Patrol);
        assert_eq!(orders_sent(&rig.drain(&mut s)), vec![2, 3, 4]);

        // The tablet applies by order_id: a replayed ack changes nothing.
        rig.ack(&mut s, "a2", &o2.order_id, AckKind::Received);
        rig.ack(&mut s, "a2", &o2.order_id, AckKind::Received);
        rig.ack(&mut s, "a3", &o3.order_id, AckKind::Accepted);
        let out = rig.drain(&mut s);
        assert_eq!(
            receipts(&out),
            vec![
                ("a2".into(), false),
                ("a2".into(), true),
                ("a3".into(), false)
            ]
        );

        // Drop again before acking order 4: only order 4 comes back.
        drop(s);
        let mut s = rig.connect("P1", Role::Patrol);
        assert_eq!(orders_sent(&rig.drain(&mut s)), vec![4]);
        let states: Vec<_> = rig
            .orders
            .list("P1")
            .unwrap()
            .into_iter()
            .map(|o| o.state)
            .collect();
        assert_eq!(
            states,
            [
                OrderState::Received,
                OrderState::Received,
                OrderState::Accepted,
                OrderState::Pending
            ]
        );
    }

    #[test]
    fn receipts_wait_for_durable_storage_and_a_failed_write_is_not_receipted() {
        let mut rig = Rig::new();
        let mut s = rig.connect("P1", Role::Patrol);
        // Welcome waits for the queue read.
        assert!(matches!(
            s.poll_output(),
            Some(Output::Persist(StoreOp::Unacked))
        ));
        assert_eq!(s.poll_output(), None);
        assert!(!s.is_open());
        s.persisted(rig.now, rig.now_ms, Ok(StoreDone::Unacked(Vec::new())));
        assert!(s.is_open());
        rig.drain(&mut s);
        let o = rig.issue("P1", Some(&mut s));
        rig.drain(&mut s);
        rig.ack(&mut s, "a1", &o.order_id, AckKind::Received);
        rig.ack(&mut s, "a2", &o.order_id, AckKind::Accepted);
        // Nothing is receipted before the writes are answered.
        let asked: Vec<Output> = std::iter::from_fn(|| s.poll_output()).collect();
        assert!(
            asked
                .iter()
                .all(|o| matches!(o, Output::Persist(StoreOp::Ack(_)))),
            "{asked:?}"
        );
        assert_eq!(asked.len(), 2);
        // The first write fails: an INTERNAL error, no receipt; the second
        // is durable: its receipt.
        s.persisted(
            rig.now,
            rig.now_ms,
            Err(StoreError::Unavailable {
                path: "test.db".into(),
                detail: "disk full".into(),
            }),
        );
        let done = rig.orders.execute(
            "P1",
            rig.now_ms,
            &StoreOp::Ack(OrderAck {
                message_id: "a2".into(),
                order_id: o.order_id.clone(),
                kind: AckKind::Accepted as i32,
                ..OrderAck::default()
            }),
        );
        s.persisted(rig.now, rig.now_ms, done);
        let out = rig.drain(&mut s);
        assert!(
            matches!(&out[0], Output::Send(ServerMessage { body: Some(server_message::Body::Error(e)) }) if e.code() == ErrorCode::Internal && e.message_id == "a1"),
            "{out:?}"
        );
        assert_eq!(receipts(&out), vec![("a2".to_string(), false)]);
    }

    fn withdrawals_sent(out: &[Output]) -> Vec<(String, String)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send(ServerMessage {
                    body: Some(server_message::Body::OrderWithdrawn(w)),
                }) => Some((w.order_id.clone(), w.reason.clone())),
                _ => None,
            })
            .collect()
    }

    const RESEND: ResendPolicy = ResendPolicy {
        after: Duration::from_secs(10),
        max: 2,
    };

    #[test]
    fn an_unacknowledged_order_is_sent_again_on_the_same_connection_a_bounded_number_of_times() {
        let mut rig = Rig::new();
        let mut s = rig.connect("P1", Role::Patrol).with_resend(RESEND);
        rig.drain(&mut s);
        assert_eq!(s.poll_timeout(), None, "nothing outstanding");
        let o1 = rig.issue("P1", Some(&mut s));
        assert_eq!(orders_sent(&rig.drain(&mut s)), vec![1]);
        assert_eq!(s.poll_timeout(), Some(rig.now + RESEND.after));
        // Not yet due: nothing.
        rig.advance(Duration::from_secs(9));
        s.handle_timeout(rig.now);
        assert!(orders_sent(&rig.drain(&mut s)).is_empty());
        // Due: the same order again, twice, then the session gives up on
        // this connection (the queue keeps it pending for dispatch).
        let mut copies = Vec::new();
        for _ in 0..4 {
            rig.advance(Duration::from_secs(10));
            s.handle_timeout(rig.now);
            copies.push(orders_sent(&rig.drain(&mut s)));
        }
        assert_eq!(copies, [vec![1], vec![1], vec![], vec![]]);
        assert_eq!(s.resent(), 2);
        assert_eq!(s.poll_timeout(), None);
        assert_eq!(rig.orders.unacked("P1").unwrap(), vec![o1]);

        // Any ack stops the copies.
        let o2 = rig.issue("P1", Some(&mut s));
        rig.drain(&mut s);
        rig.ack(&mut s, "a1", &o2.order_id, AckKind::Received);
        rig.drain(&mut s);
        assert_eq!(s.poll_timeout(), None);
        rig.advance(Duration::from_secs(30));
        s.handle_timeout(rig.now);
        assert!(orders_sent(&rig.drain(&mut s)).is_empty());

        // A new connection starts over with what is still pending.
        drop(s);
        let mut s = rig.connect("P1", Role::Patrol).with_resend(RESEND);
        assert_eq!(orders_sent(&rig.drain(&mut s)), vec![1]);
        rig.advance(Duration::from_secs(10));
        s.handle_timeout(rig.now);
        assert_eq!(orders_sent(&rig.drain(&mut s)), vec![1]);
    }

    #[test]
    fn a_withdrawal_is_sent_until_the_tablet_acknowledges_it_even_across_reconnections() {
        let mut rig = Rig::new();
        let mut s = rig.connect("P1", Role::Patrol).with_resend(RESEND);
        rig.drain(&mut s);
        let o1 = rig.issue("P1", Some(&mut s));
        rig.drain(&mut s);
        rig.ack(&mut s, "a1", &o1.order_id, AckKind::Accepted);
        rig.drain(&mut s);
        let (before, w) = rig
            .orders
            .withdraw(&o1.order_id, "incident 7 cancelled", rig.now_ms)
            .unwrap()
            .unwrap();
        assert_eq!(before, OrderState::Accepted);
        assert!(
            rig.orders
                .withdraw(&o1.order_id, "again", rig.now_ms)
                .unwrap()
                .is_none(),
            "withdrawn once"
        );
        s.order_issued(rig.now, &w);
        s.order_issued(rig.now, &w);
        let out = rig.drain(&mut s);
        assert_eq!(
            withdrawals_sent(&out),
            [(o1.order_id.clone(), "incident 7 cancelled".to_string())],
            "one copy per notification of the same withdrawal"
        );
        // An ack of the order itself crossing the withdrawal is stale and
        // does not answer the withdrawal.
        rig.ack(&mut s, "a2", &o1.order_id, AckKind::Arrived);
        rig.drain(&mut s);
        rig.advance(Duration::from_secs(10));
        s.handle_timeout(rig.now);
        assert_eq!(withdrawals_sent(&rig.drain(&mut s)).len(), 1);

        // Reconnecting without acknowledging: told again at Welcome.
        drop(s);
        let mut s = rig.connect("P1", Role::Patrol).with_resend(RESEND);
        let out = rig.drain(&mut s);
        assert!(orders_sent(&out).is_empty(), "the order itself is not sent");
        assert_eq!(withdrawals_sent(&out).len(), 1);
        rig.ack(&mut s, "a3", &o1.order_id, AckKind::Withdrawn);
        let out = rig.drain(&mut s);
        assert_eq!(receipts(&out), vec![("a3".into(), false)]);
        assert!(
            out.iter().any(|o| matches!(
                o,
                Output::OrderProgress(
                    AckOutcome::Applied {
                        to: OrderState::Withdrawn,
                        ..
                    },
                    _
                )
            )),
            "{out:?}"
        );
        let stored = rig.orders.get(&o1.order_id).unwrap().unwrap();
        assert_eq!(stored.state, OrderState::Withdrawn);
        assert_eq!(stored.withdraw_acked_ms, Some(rig.now_ms));
        assert_eq!(stored.reason.as_deref(), Some("incident 7 cancelled"));
        rig.advance(Duration::from_secs(30));
        s.handle_timeout(rig.now);
        assert!(withdrawals_sent(&rig.drain(&mut s)).is_empty());
        drop(s);
        let mut s = rig.connect("P1", Role::Patrol).with_resend(RESEND);
        assert!(
            withdrawals_sent(&rig.drain(&mut s)).is_empty(),
            "acknowledged: done"
        );
    }

    #[test]
    fn a_refusal_without_a_reason_is_an_error_and_changes_nothing() {
        let mut rig = Rig::new();
        let mut s = rig.connect("P1", Role::Patrol);
        let o = rig.issue("P1", Some(&mut s));
        rig.drain(&mut s);
        rig.feed(
            &mut s,
            client_message::Body::OrderAck(OrderAck {
                message_id: "r".into(),
                order_id: o.order_id.clone(),
                kind: AckKind::Refused as i32,
                reason: "  ".into(),
                at_ms: rig.now_ms,
            }),
        );
        let out = rig.drain(&mut s);
        assert!(
            matches!(&out[..], [Output::Send(ServerMessage { body: Some(server_message::Body::Error(e)) })] if e.code() == ErrorCode::Invalid && e.message_id == "r" && e.message.contains("reason")),
            "{out:?}"
        );
        assert_eq!(rig.orders.list("P1").unwrap()[0].state, OrderState::Pending);
    }

    #[test]
    fn refused_order_ends_and_later_acks_are_stale() {
        let mut rig = Rig::new();
        let mut s = rig.connect("P1", Role::Patrol);
        let o = rig.issue("P1", Some(&mut s));
        rig.drain(&mut s);
        rig.ack(&mut s, "r", &o.order_id, AckKind::Refused);
        rig.ack(&mut s, "x", &o.order_id, AckKind::Arrived);
        let out = rig.drain(&mut s);
        assert!(out.contains(&Output::OrderProgress(
            AckOutcome::Applied {
                from: OrderState::Pending,
                to: OrderState::Refused,
                issued_ms: o.issued_ms,
            },
            o.order_id.clone()
        )));
        assert!(out.contains(&Output::OrderProgress(
            AckOutcome::Stale(OrderState::Refused),
            o.order_id.clone()
        )));
        let stored = &rig.orders.list("P1").unwrap()[0];
        assert_eq!(
            (stored.state, stored.reason.as_deref()),
            (OrderState::Refused, Some("busy"))
        );
        rig.ack(&mut s, "y", "nope", AckKind::Received);
        let out = rig.drain(&mut s);
        assert!(
            matches!(&out[0], Output::Send(ServerMessage { body: Some(server_message::Body::Error(e)) }) if e.code() == ErrorCode::UnknownOrder)
        );
    }

    #[test]
    fn only_operators_and_supervisors_follow_the_picture_once_per_connection() {
        let mut rig = Rig::new();
        let sub = |ms| {
            client_message::Body::SubscribePicture(tablet::PictureSubscribe {
                min_interval_ms: ms,
            })
        };
        let mut p = rig.connect("P1", Role::Patrol);
        rig.drain(&mut p);
        rig.feed(&mut p, sub(200));
        assert!(
            matches!(&rig.drain(&mut p)[..], [Output::Send(ServerMessage { body: Some(server_message::Body::Error(e)) }), Output::Refused { action: "picture", .. }] if e.code() == ErrorCode::NotPermitted && e.message.contains("operator"))
        );
        let mut op = rig.connect("OPS1", Role::Operator);
        rig.drain(&mut op);
        rig.feed(&mut op, sub(10));
        assert_eq!(
            rig.drain(&mut op),
            vec![Output::SubscribePicture {
                min_interval: MIN_PICTURE_INTERVAL
            }]
        );
        rig.feed(&mut op, sub(500));
        assert!(
            rig.drain(&mut op).is_empty(),
            "a second subscription is ignored"
        );
        let mut sup = rig.connect("S1", Role::Supervisor);
        rig.drain(&mut sup);
        rig.feed(&mut sup, sub(500));
        assert_eq!(
            rig.drain(&mut sup),
            vec![Output::SubscribePicture {
                min_interval: Duration::from_millis(500)
            }]
        );
    }

    #[test]
    fn each_role_is_refused_what_it_may_not_do_with_a_reason_for_the_register() {
        let mut rig = Rig::new();
        let refused = |out: &[Output]| -> Vec<(String, String)> {
            out.iter()
                .filter_map(|o| match o {
                    Output::Refused { action, reason } => {
                        Some((action.to_string(), reason.clone()))
                    }
                    _ => None,
                })
                .collect()
        };
        let not_permitted = |out: &[Output]| {
            out.iter().filter(|o| matches!(o, Output::Send(ServerMessage { body: Some(server_message::Body::Error(e)) }) if e.code() == ErrorCode::NotPermitted)).count()
        };
        // A patrol: no broadcast, no picture.
        let mut p = rig.connect("P1", Role::Patrol);
        rig.drain(&mut p);
        rig.feed(
            &mut p,
            client_message::Body::Broadcast(Broadcast {
                message_id: "b1".into(),
                text: "all units".into(),
                ..Broadcast::default()
            }),
        );
        let out = rig.drain(&mut p);
        assert_eq!(not_permitted(&out), 1);
        let r = refused(&out);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, "broadcast");
        assert!(r[0].1.contains("role patrol may not broadcast"), "{r:?}");
        assert!(!out.iter().any(|o| matches!(o, Output::Broadcast(_))));
        rig.feed(
            &mut p,
            client_message::Body::SubscribePicture(tablet::PictureSubscribe {
                min_interval_ms: 200,
            }),
        );
        let out = rig.drain(&mut p);
        assert_eq!(refused(&out)[0].0, "picture");
        assert!(
            !out.iter()
                .any(|o| matches!(o, Output::SubscribePicture { .. }))
        );
        // An operator console: no field reports, positions refused once.
        let mut op = rig.connect("OPS1", Role::Operator);
        rig.drain(&mut op);
        for _ in 0..3 {
            rig.feed(
                &mut op,
                client_message::Body::Position(PositionReport {
                    lat_deg: 48.9,
                    lon_deg: 2.3,
                    timestamp_ms: 1,
                    ..PositionReport::default()
                }),
            );
        }
        let out = rig.drain(&mut op);
        assert_eq!(refused(&out).len(), 1, "{out:?}");
        assert!(!out.iter().any(|o| matches!(o, Output::Position(_))));
        rig.feed(
            &mut op,
            client_message::Body::Incident(IncidentReport {
                message_id: "i1".into(),
                category: tablet::IncidentCategory::Medical as i32,
                text: "x".into(),
                ..IncidentReport::default()
            }),
        );
        let out = rig.drain(&mut op);
        assert_eq!(refused(&out)[0].0, "incident");
        assert!(
            !out.iter()
                .any(|o| matches!(o, Output::Persist(_) | Output::Incident(_)))
        );
        rig.ack(&mut op, "a1", "o1", AckKind::Received);
        let out = rig.drain(&mut op);
        assert_eq!(refused(&out)[0].0, "order ack");
        assert!(refused(&out)[0].1.contains("role operator may not send"));
        // A supervisor may do all of these.
        let mut sup = rig.connect("S1", Role::Supervisor);
        rig.drain(&mut sup);
        rig.feed(
            &mut sup,
            client_message::Body::SubscribePicture(tablet::PictureSubscribe {
                min_interval_ms: 200,
            }),
        );
        assert!(refused(&rig.drain(&mut sup)).is_empty());
    }

    #[test]
    fn protocol_rules_close_or_refuse_with_reasons() {
        let mut rig = Rig::new();
        // No Hello in time.
        let mut s = Session::new(rig.now, "P1".into(), Role::Patrol, 1);
        assert_eq!(s.poll_timeout(), Some(rig.now + HELLO_TIMEOUT));
        rig.advance(HELLO_TIMEOUT);
        s.handle_timeout(rig.now);
        assert!(matches!(
            rig.drain(&mut s)[..],
            [Output::Close {
                code: CloseCode::HelloTimeout,
                ..
            }]
        ));
        // First message not a Hello.
        let mut s = Session::new(rig.now, "P1".into(), Role::Patrol, 2);
        rig.feed(
            &mut s,
            client_message::Body::Ping(tablet::Ping { nonce: 1 }),
        );
        assert!(matches!(
            rig.drain(&mut s)[..],
            [Output::Close {
                code: CloseCode::ProtocolViolation,
                ..
            }]
        ));
        // Wrong version.
        let mut s = Session::new(rig.now, "P1".into(), Role::Patrol, 3);
        rig.feed(
            &mut s,
            client_message::Body::Hello(Hello {
                protocol_version: 2,
                ..Hello::default()
            }),
        );
        assert!(matches!(
            rig.drain(&mut s)[..],
            [Output::Close {
                code: CloseCode::UnsupportedVersion,
                ..
            }]
        ));
        // A patrol may not broadcast; a supervisor may.
        let mut s = rig.connect("P1", Role::Patrol);
        rig.drain(&mut s);
        let b = Broadcast {
            message_id: "b1".into(),
            text: "hi".into(),
            ..Broadcast::default()
        };
        rig.feed(&mut s, client_message::Body::Broadcast(b.clone()));
        assert!(
            matches!(&rig.drain(&mut s)[0], Output::Send(ServerMessage { body: Some(server_message::Body::Error(e)) }) if e.code() == ErrorCode::NotPermitted)
        );
        let mut s = rig.connect("S1", Role::Supervisor);
        rig.drain(&mut s);
        rig.feed(&mut s, client_message::Body::Broadcast(b));
        assert!(
            rig.drain(&mut s)
                .iter()
                .any(|o| matches!(o, Output::Broadcast(b) if b.from_unit == "S1"))
        );
        // Unknown messages are answered, not fatal; garbage and oversize are fatal.
        s.handle_decode_error(Channel::Control, &DecodeError::UnknownMessage);
        s.handle_decode_error(Channel::Datagram, &DecodeError::BadLength);
        assert!(matches!(&rig.drain(&mut s)[..], [Output::Send(_)]));
        s.handle_decode_error(
            Channel::Control,
            &DecodeError::TooLarge {
                len: 1 << 20,
                max: 1 << 16,
            },
        );
        assert!(matches!(
            rig.drain(&mut s)[..],
            [Output::Close {
                code: CloseCode::MessageTooLarge,
                ..
            }]
        ));
    }

    #[test]
    fn positions_are_latest_wins() {
        let mut rig = Rig::new();
        let mut s = rig.connect("P1", Role::Patrol);
        rig.drain(&mut s);
        for ts in [10, 30, 20] {
            let p = PositionReport {
                lat_deg: 48.0,
                lon_deg: 2.0,
                timestamp_ms: ts,
                streaming: false,
                camera_bearing_deg: None,
                ..PositionReport::default()
            };
            s.handle_message(
                rig.now,
                rig.now_ms,
                Channel::Datagram,
                ClientMessage {
                    body: Some(client_message::Body::Position(p)),
                },
            );
        }
        let kept: Vec<i64> = rig
            .drain(&mut s)
            .iter()
            .filter_map(|o| match o {
                Output::Position(p) => Some(p.timestamp_ms),
                _ => None,
            })
            .collect();
        assert_eq!(kept, vec![10, 30]);
    }

    #[test]
    fn an_out_of_range_position_is_dropped_and_said_once() {
        let mut rig = Rig::new();
        let mut s = rig.connect("P1", Role::Patrol);
        rig.drain(&mut s);
        for ts in [1, 2] {
            s.handle_message(
                rig.now,
                rig.now_ms,
                Channel::Datagram,
                ClientMessage {
                    body: Some(client_message::Body::Position(PositionReport {
                        lat_deg: 2.36,
                        lon_deg: 248.92,
                        timestamp_ms: ts,
                        ..PositionReport::default()
                    })),
                },
            );
        }
        let out = rig.drain(&mut s);
        let errors: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                Output::Send(ServerMessage {
                    body: Some(server_message::Body::Error(e)),
                }) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(errors.len(), 1, "{out:?}");
        assert_eq!(errors[0].code(), ErrorCode::Invalid);
        assert!(!out.iter().any(|o| matches!(o, Output::Position(_))));
        assert!(s.is_open());
    }

    #[test]
    fn a_burst_beyond_the_rate_is_paced_not_closed() {
        // A tablet resending a long outbox after a reconnection, as the
        // spec advises: five times the per-second rate at once.
        let mut rig = Rig::new();
        let mut s = rig.connect("P1", Role::Patrol);
        rig.drain(&mut s);
        assert_eq!(
            s.paced_until(rig.now),
            None,
            "a fresh session reads at once"
        );
        let burst = 5 * MAX_MESSAGES_PER_SECOND;
        for i in 0..burst {
            rig.feed(
                &mut s,
                client_message::Body::Ping(tablet::Ping {
                    nonce: u64::from(i),
                }),
            );
        }
        let out = rig.drain(&mut s);
        assert!(
            !out.iter().any(|o| matches!(o, Output::Close { .. })),
            "a client that follows the spec is never closed for its pace"
        );
        let pongs = out
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Output::Send(ServerMessage {
                        body: Some(server_message::Body::Pong(_))
                    })
                )
            })
            .count();
        assert_eq!(pongs, burst as usize, "every message answered");
        // The edge stops reading until the rate allows: here the burst
        // beyond the allowance, at the documented rate.
        let wait = s.paced_until(rig.now).expect("paced after the burst") - rig.now;
        let expected = Duration::from_secs_f64(
            f64::from(burst - PACE_BURST + 1) / f64::from(MAX_MESSAGES_PER_SECOND),
        );
        assert!(
            wait.abs_diff(expected) < Duration::from_millis(10),
            "{wait:?} vs {expected:?}"
        );
        assert_eq!(
            s.paced_until(rig.now + wait),
            None,
            "reads again once the rate allows"
        );
    }

    #[test]
    fn link_quality_follows_rtt_and_loss() {
        assert_eq!(link_quality(Duration::from_millis(50), 0.0), 1.0);
        assert!((link_quality(Duration::from_millis(1050), 0.0) - 0.5).abs() < 1e-9);
        assert_eq!(link_quality(Duration::from_secs(3), 0.0), 0.0);
        assert!((link_quality(Duration::from_millis(20), 0.1) - 0.5).abs() < 1e-9);
        let mut s = Session::new(Instant::now(), "P1".into(), Role::Patrol, 1);
        s.path_sample(PathSample {
            rtt: Duration::from_millis(20),
            sent_packets: 100,
            lost_packets: 0,
        });
        assert_eq!(s.link_quality(), Some(1.0));
        s.path_sample(PathSample {
            rtt: Duration::from_millis(20),
            sent_packets: 200,
            lost_packets: 20,
        });
        let q = s.link_quality().unwrap();
        assert!((q - 0.7).abs() < 1e-9, "smoothed: {q}");
    }
}
