//! One MAVLink link as a sans-I/O core: bytes in, vehicles, commands and
//! transfers tracked, bytes out.
//!
//! Driven like `quinn-proto`: feed it received bytes with
//! [`LinkCore::handle_bytes`] and the passage of time with
//! [`LinkCore::handle_timeout`]; drain [`LinkCore::poll_transmit`] and
//! [`LinkCore::poll_event`]; sleep until [`LinkCore::poll_timeout`]. It never
//! reads a clock or touches a socket, so link loss, retries and duplicate
//! detection are tested on virtual time.
//!
//! Vehicles are keyed by system id on the link. Two senders claiming the same
//! system and component id from different addresses while both are alive are
//! two vehicles, never one: the second is tracked apart, both are flagged,
//! and the operator is told (QGroundControl silently merges them).

use std::collections::VecDeque;
use std::collections::hash_map::Entry;

use rustc_hash::FxHashSet as HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mavlink::MavHeader;
use mavlink::dialects::ardupilotmega::{
    COMMAND_INT_DATA, HEARTBEAT_DATA, MavAutopilot, MavCmd, MavFrame, MavMessage, MavMissionType,
    MavModeFlag, MavState, MavType,
};
use rustc_hash::FxHashMap as HashMap;
use vigie_protocols::api::{CommandOutcome, CommandResult, DroneCommand, Unit};

pub use super::altitude::ALTITUDE_CEILING_M;
use super::command::{CommandEngine, CommandId, Finished, command_long as long};
use super::mission::{self, Transfer, TransferResult};
use super::signing::{self, Signer, SigningReject, Verifier};
use super::vehicle::{COMP_CAMERA, Vehicle};
use super::wire::{self, FrameError};
use crate::frame::LocalFrame;
use crate::metrics::LinkCounters;

/// How often we send our own HEARTBEAT (as a GCS must, or autopilots
/// consider the ground lost and fail safe).
pub const GCS_HEARTBEAT: Duration = Duration::from_secs(1);

/// Message rates the ground asks every vehicle for: (message id, rate Hz).
pub const STREAMS: &[(u32, f64)] = &[
    (33, 5.0),  // GLOBAL_POSITION_INT
    (30, 5.0),  // ATTITUDE
    (1, 1.0),   // SYS_STATUS
    (24, 1.0),  // GPS_RAW_INT
    (147, 1.0), // BATTERY_STATUS
    (285, 5.0), // GIMBAL_DEVICE_ATTITUDE_STATUS
];
/// Messages requested once from a new vehicle: HOME_POSITION.
pub const REQUEST_ONCE: &[u32] = &[242];
/// Messages requested once from a camera component: CAMERA_INFORMATION,
/// VIDEO_STREAM_INFORMATION.
pub const CAMERA_REQUEST_ONCE: &[u32] = &[259, 269];
/// CAMERA_FOV_STATUS rate asked of camera components, Hz.
pub const CAMERA_FOV_RATE_HZ: f64 = 2.0;

/// Most duplicate vehicles (a second sender of a system id already in use)
/// tracked per link. With at most 255 system ids, a link tracks at most
/// 255 + this many vehicles; conflicting sources beyond it are counted and
/// their messages dropped.
pub const MAX_DUPLICATES: usize = 8;
/// How long a duplicate stays listed after its link loss before it is
/// removed from the link and the picture.
pub const DUPLICATE_GRACE: Duration = Duration::from_secs(30);
/// Distinct conflicting source addresses remembered per system id, to count
/// them (the count saturates there).
pub const MAX_CONFLICT_SOURCES: usize = 4096;

/// Whether a unit id names a duplicate (`drone:<link>:<id>@<address>`): a
/// sender seen only while it contested a live vehicle's id, never restored
/// or persisted across a restart.
pub fn is_duplicate_unit_id(id: &str) -> bool {
    id.strip_prefix("drone:").is_some_and(|r| r.contains('@'))
}

/// How long a warning stays on a vehicle after the last occurrence of its
/// cause (signing rejections); then it clears.
pub const WARNING_HOLD: Duration = Duration::from_secs(30);
/// Prefix of the signing warning.
const SIGNING_WARNING: &str = "MAVLink signing: rejected messages";

/// Frames to hold for sending before new ones are dropped (the edge drains
/// after every input; only a stalled socket fills it).
pub const MAX_OUTBOX: usize = 4096;

/// Identifies a vehicle on the link: its system id, and for a duplicate, the
/// address it speaks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VehicleKey {
    /// MAVLink system id.
    pub system_id: u8,
    /// `Some` for a second sender claiming an id already in use.
    pub duplicate_of: Option<SocketAddr>,
}

/// Something the edge must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    /// A vehicle's state changed: refresh it in the picture.
    Changed(VehicleKey),
    /// A vehicle went silent past the loss timeout.
    Lost(VehicleKey),
    /// A lost vehicle is heard again.
    Recovered(VehicleKey),
    /// A new sender claims a system id already in use; reported for the
    /// first [`MAX_DUPLICATES`] only (the rest are counted in the
    /// vehicle's one conflict warning and in the link's counters).
    DuplicateSystemId {
        /// The contested id.
        system_id: u8,
        /// The address that had it.
        first: SocketAddr,
        /// The address that also claims it.
        second: SocketAddr,
        /// Distinct conflicting sources seen so far for this id.
        sources: usize,
    },
    /// A silent duplicate expired: remove it from the picture.
    Removed(VehicleKey),
    /// A command or transfer ended.
    Done(OpId, CommandResult),
    /// A frame failed the signing check.
    SigningRejected {
        /// Sender.
        from: SocketAddr,
        /// System id claimed.
        system_id: u8,
        /// Why.
        reason: SigningReject,
    },
    /// Bytes that are no valid frame.
    Malformed {
        /// Sender.
        from: SocketAddr,
        /// Why.
        error: FrameError,
    },
    /// Persist this signing timestamp reservation, then report it with
    /// [`LinkCore::signing_persisted`]; signing goes on below the previous
    /// one meanwhile.
    PersistSigning(u64),
}

/// A caller's handle on a command or transfer.
pub type OpId = u64;

/// Bytes to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit {
    /// Destination (ignored by connected transports).
    pub to: SocketAddr,
    /// One MAVLink frame.
    pub bytes: Vec<u8>,
}

/// How the link was configured.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// Link name (part of unit ids).
    pub name: String,
    /// Our system id.
    pub system_id: u8,
    /// Our component id.
    pub component_id: u8,
    /// Heartbeat silence that means link loss.
    pub link_loss: Duration,
    /// Signing key, when the link is signed.
    pub signing_key: Option<[u8; 32]>,
    /// Stored signing timestamp reservation (0 if none).
    pub signing_reservation: u64,
    /// Where to send when no vehicle has spoken yet (udpout / tcp peers).
    pub default_peer: Option<SocketAddr>,
}

/// An operation in flight: a command or a transfer.
#[derive(Debug)]
enum Op {
    /// A COMMAND_LONG/INT in the command engine.
    Command(CommandId),
    /// A mission-protocol transfer with the vehicle.
    Transfer(Box<Transfer>, Instant),
}

/// Senders contesting one system id.
#[derive(Debug, Default)]
struct Conflict {
    /// Distinct conflicting addresses, at most [`MAX_CONFLICT_SOURCES`].
    sources: HashSet<SocketAddr>,
    /// Whether more sources came than are remembered.
    saturated: bool,
}

/// Prefix of the one conflict warning a contested vehicle carries.
fn conflict_prefix(sys: u8) -> String {
    format!("system id {sys} is claimed by ")
}

/// The link core.
#[derive(Debug)]
pub struct LinkCore {
    /// Configuration.
    settings: LinkSettings,
    /// Our next sequence number.
    seq: u8,
    /// Vehicles, by key.
    vehicles: HashMap<VehicleKey, Vehicle>,
    /// Per (system, component): the address it was last heard from and when,
    /// for duplicate detection.
    components: HashMap<(u8, u8), (SocketAddr, Instant)>,
    /// Per contested system id: who else claims it.
    conflicts: HashMap<u8, Conflict>,
    /// Commands in flight.
    commands: CommandEngine,
    /// Ops by caller id; internal ops (stream requests) are not listed.
    ops: HashMap<OpId, (VehicleKey, Op)>,
    /// Next op id.
    next_op: OpId,
    /// Signing state.
    signer: Option<Signer>,
    /// Verifier for incoming frames.
    verifier: Option<Verifier>,
    /// Frames to send.
    outbox: VecDeque<Transmit>,
    /// Messages waiting for a signing reservation to be persisted.
    unsigned: VecDeque<(SocketAddr, MavMessage)>,
    /// Events for the edge.
    events: VecDeque<LinkEvent>,
    /// Next GCS heartbeat.
    next_heartbeat: Option<Instant>,
    /// Counters shared with /metrics.
    counters: Arc<LinkCounters>,
    /// Reusable buffer of engine sends.
    sends: Vec<(u8, MavMessage)>,
    /// Wall time of the current input, Unix ms, for signing timestamps.
    wall_ms: i64,
}

impl LinkCore {
    /// A link with no vehicles yet.
    pub fn new(settings: LinkSettings, counters: Arc<LinkCounters>) -> LinkCore {
        let signer = settings
            .signing_key
            .map(|k| Signer::new(k, 0, settings.signing_reservation));
        let verifier = settings.signing_key.map(Verifier::new);
        LinkCore {
            settings,
            seq: 0,
            vehicles: HashMap::default(),
            components: HashMap::default(),
            conflicts: HashMap::default(),
            commands: CommandEngine::default(),
            ops: HashMap::default(),
            next_op: 0,
            signer,
            verifier,
            outbox: VecDeque::new(),
            unsigned: VecDeque::new(),
            events: VecDeque::new(),
            next_heartbeat: None,
            counters,
            sends: Vec::new(),
            wall_ms: 0,
        }
    }

    /// Starts the link at `now`: a link with a configured peer (udpout,
    /// tcp) sends our heartbeat from now on, since vehicles and routers
    /// that wait for a GCS never speak first; a listening link waits for
    /// its first vehicle.
    pub fn start(&mut self, now: Instant) {
        if self.settings.default_peer.is_some() && self.next_heartbeat.is_none() {
            self.next_heartbeat = Some(now);
        }
    }

    /// The link's name.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// Unit id of a vehicle key.
    pub fn unit_id(&self, key: VehicleKey) -> String {
        match key.duplicate_of {
            None => format!("drone:{}:{}", self.settings.name, key.system_id),
            Some(addr) => format!("drone:{}:{}@{addr}", self.settings.name, key.system_id),
        }
    }

    /// The key of a unit id on this link, if it is one of ours.
    pub fn key_of(&self, unit_id: &str) -> Option<VehicleKey> {
        let rest = unit_id
            .strip_prefix("drone:")?
            .strip_prefix(self.settings.name.as_str())?;
        let rest = rest.strip_prefix(':')?;
        let (sys, dup) = match rest.split_once('@') {
            Some((s, a)) => (s, Some(a.parse().ok()?)),
            None => (rest, None),
        };
        let key = VehicleKey {
            system_id: sys.parse().ok()?,
            duplicate_of: dup,
        };
        self.vehicles.contains_key(&key).then_some(key)
    }

    /// A vehicle by key.
    pub fn vehicle(&self, key: VehicleKey) -> Option<&Vehicle> {
        self.vehicles.get(&key)
    }

    /// Every vehicle key, sorted.
    pub fn keys(&self) -> Vec<VehicleKey> {
        let mut k: Vec<_> = self.vehicles.keys().copied().collect();
        k.sort();
        k
    }

    /// The unit for a vehicle, for the fleet picture, with its camera
    /// footprint in the local frame (see [`crate::fleet::LocalRing`]).
    pub fn unit(
        &self,
        key: VehicleKey,
        now: Instant,
        wall_ms: i64,
        frame: &LocalFrame,
        ground_alt_msl_m: f64,
    ) -> Option<(Unit, Option<crate::fleet::LocalRing>)> {
        let v = self.vehicles.get(&key)?;
        let ago = now.saturating_duration_since(v.last_message).as_millis() as i64;
        Some(v.to_unit(
            self.unit_id(key),
            &self.settings.name,
            wall_ms - ago,
            frame,
            ground_alt_msl_m,
        ))
    }

    /// Feeds received bytes (one datagram or one TCP read).
    pub fn handle_bytes(&mut self, now: Instant, wall_ms: i64, from: SocketAddr, bytes: &[u8]) {
        self.wall_ms = wall_ms;
        self.counters.packets.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if self.next_heartbeat.is_none() {
            self.next_heartbeat = Some(now);
        }
        let sign_now = signing::timestamp_from_unix_ms(wall_ms);
        // Counted once per input, not per message: each shared-counter update
        // is a locked instruction.
        let mut messages = 0;
        // The first error of this input, if any: a malformed datagram (or
        // TCP read) is counted and reported once, however many byte offsets
        // the splitter had to reject in it.
        let mut malformed = None;
        for result in wire::frames(bytes) {
            let frame = match result {
                Ok(f) => f,
                Err(error) => {
                    malformed.get_or_insert(error);
                    continue;
                }
            };
            if let Some(v) = self.verifier.as_mut()
                && let Err(reason) = v.check(&frame, sign_now)
            {
                self.counters
                    .signing_rejected
                    .fetch_add(1, Ordering::Relaxed);
                let system_id = frame.header.system_id as u8;
                self.flag_signing(now, system_id, reason);
                self.push_event(LinkEvent::SigningRejected {
                    from,
                    system_id,
                    reason,
                });
                continue;
            }
            let msg = match frame.decode() {
                Ok(m) => m,
                Err(error) => {
                    malformed.get_or_insert(error);
                    continue;
                }
            };
            messages += 1;
            self.handle_message(now, from, frame.header, &msg);
        }
        if messages > 0 {
            self.counters
                .messages
                .fetch_add(messages, Ordering::Relaxed);
        }
        if let Some(error) = malformed {
            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
            self.push_event(LinkEvent::Malformed { from, error });
        }
        self.flush_sends();
    }

    fn flag_signing(&mut self, now: Instant, system_id: u8, reason: SigningReject) {
        let key = VehicleKey {
            system_id,
            duplicate_of: None,
        };
        if let Some(v) = self.vehicles.get_mut(&key) {
            v.signing_rejected_at = Some(now);
            let w = format!("{SIGNING_WARNING} ({reason})");
            if !v.warnings.contains(&w) {
                v.warnings.push(w);
                self.mark_changed(key);
            }
        }
    }

    fn push_event(&mut self, e: LinkEvent) {
        // Events are drained after every input; this bound only matters if
        // the edge stops draining. Floods of malformed input are coalesced
        // by dropping the oldest malformed report.
        if self.events.len() >= MAX_OUTBOX {
            if let Some(i) = self.events.iter().position(|e| {
                matches!(
                    e,
                    LinkEvent::Malformed { .. } | LinkEvent::SigningRejected { .. }
                )
            }) {
                self.events.remove(i);
            } else {
                return;
            }
        }
        self.events.push_back(e);
    }

    /// Applies one decoded message.
    pub fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        header: MavHeader,
        msg: &MavMessage,
    ) {
        let sys = header.system_id as u8;
        let comp = header.component_id;
        if let MavMessage::HEARTBEAT(hb) = msg
            && hb.mavtype == MavType::MAV_TYPE_GCS
        {
            return; // another ground station on the link
        }
        let Some(key) = self.route(now, sys, comp, from) else {
            return; // a conflicting sender beyond the cap: counted, dropped
        };
        // One map lookup per message: this is the ingest hot path.
        let (v, is_new) = match self.vehicles.entry(key) {
            Entry::Occupied(o) => (o.into_mut(), false),
            Entry::Vacant(e) => {
                // Only a heartbeat makes a vehicle: stray telemetry from a
                // system never introduced is not a unit.
                if !matches!(msg, MavMessage::HEARTBEAT(_)) {
                    return;
                }
                (e.insert(Vehicle::new(sys, from, now)), true)
            }
        };
        let was_up = v.link_up;
        let was_camera = v.has_camera;
        let had_autopilot = v.autopilot_seen;
        let changed = v.apply(now, comp, msg);
        // Replies go where the autopilot speaks from.
        if comp == v.autopilot_component {
            v.peer = from;
        }
        let autopilot = v.autopilot_component;
        let camera_appeared = !was_camera && v.has_camera;
        let recovered = !was_up && v.link_up;
        let autopilot_appeared = !had_autopilot && v.autopilot_seen;
        if recovered {
            self.events.push_back(LinkEvent::Recovered(key));
        }
        if changed || is_new || camera_appeared {
            self.mark_changed(key);
        }
        if camera_appeared && key.duplicate_of.is_none() {
            self.request_camera(now, sys);
        }
        // A vehicle heard again after link loss may have rebooted and
        // forgotten the rates asked of it (and its commands were failed
        // with the link): ask again, as for a new one.
        if (autopilot_appeared || recovered) && key.duplicate_of.is_none() {
            self.request_streams(now, sys, autopilot);
            if recovered
                && !camera_appeared
                && self.vehicles.get(&key).is_some_and(|v| v.has_camera)
            {
                self.request_camera(now, sys);
            }
        }
        match msg {
            MavMessage::COMMAND_ACK(ack) => {
                let mut sends = std::mem::take(&mut self.sends);
                if let Some(f) = self.commands.on_ack(now, sys, ack, &mut sends) {
                    self.finish_command(f);
                }
                self.sends = sends;
            }
            #[allow(deprecated)]
            MavMessage::MISSION_REQUEST_INT(_)
            | MavMessage::MISSION_REQUEST(_)
            | MavMessage::MISSION_ACK(_)
            | MavMessage::MISSION_COUNT(_)
            | MavMessage::MISSION_ITEM_INT(_) => self.transfer_message(now, key, msg),
            _ => {}
        }
    }

    /// Which vehicle a message from (sys, comp) at `from` belongs to;
    /// `None` for a conflicting sender beyond [`MAX_DUPLICATES`].
    fn route(&mut self, now: Instant, sys: u8, comp: u8, from: SocketAddr) -> Option<VehicleKey> {
        let primary = VehicleKey {
            system_id: sys,
            duplicate_of: None,
        };
        let loss = self.settings.link_loss;
        // One lookup on the usual path (the same sender again).
        let first = match self.components.entry((sys, comp)) {
            Entry::Vacant(e) => {
                e.insert((from, now));
                return Some(primary);
            }
            Entry::Occupied(mut o) => {
                let (addr, last) = *o.get();
                // Same sender; or the first sender went silent: the vehicle
                // moved (new NAT port, new network). It is the same vehicle.
                if addr == from || now.saturating_duration_since(last) > loss {
                    o.insert((from, now));
                    return Some(primary);
                }
                addr
            }
        };
        let key = VehicleKey {
            system_id: sys,
            duplicate_of: Some(from),
        };
        if self.vehicles.contains_key(&key) {
            return Some(key);
        }
        // A new conflicting source: counted, one warning on the vehicle
        // whose id it claims, tracked apart only up to the cap.
        let conflict = self.conflicts.entry(sys).or_default();
        let new_source = if conflict.sources.contains(&from) {
            false
        } else if conflict.sources.len() < MAX_CONFLICT_SOURCES {
            conflict.sources.insert(from);
            true
        } else {
            conflict.saturated = true;
            false
        };
        let sources = conflict.sources.len();
        if new_source {
            self.counters
                .conflicting_sources
                .fetch_add(1, Ordering::Relaxed);
            self.set_conflict_warning(sys, first, from);
        }
        let duplicates = self
            .vehicles
            .keys()
            .filter(|k| k.duplicate_of.is_some())
            .count();
        if duplicates >= MAX_DUPLICATES {
            return None;
        }
        self.push_event(LinkEvent::DuplicateSystemId {
            system_id: sys,
            first,
            second: from,
            sources,
        });
        let mut v = Vehicle::new(sys, from, now);
        v.warnings.push(format!(
            "this sender ({from}) claims system id {sys}, already used by {first} on link {}: kept apart; it is removed {}s after it falls silent",
            self.settings.name,
            DUPLICATE_GRACE.as_secs()
        ));
        self.vehicles.insert(key, v);
        Some(key)
    }

    /// Puts the one conflict warning of system `sys`, with its count, on
    /// the vehicle that holds the id.
    fn set_conflict_warning(&mut self, sys: u8, first: SocketAddr, latest: SocketAddr) {
        let Some(c) = self.conflicts.get(&sys) else {
            return;
        };
        let n = c.sources.len();
        let more = if c.saturated { " or more" } else { "" };
        let plural = if n == 1 && !c.saturated {
            "source"
        } else {
            "sources"
        };
        let warning = format!(
            "{}{n}{more} other {plural} on link {} besides {first} (latest {latest}): possible spoofing or two vehicles with one SYSID; they are kept apart (at most {MAX_DUPLICATES} tracked), give each vehicle its own SYSID or sign the link",
            conflict_prefix(sys),
            self.settings.name
        );
        let primary = VehicleKey {
            system_id: sys,
            duplicate_of: None,
        };
        if let Some(v) = self.vehicles.get_mut(&primary) {
            let prefix = conflict_prefix(sys);
            v.warnings.retain(|w| !w.starts_with(&prefix));
            v.warnings.push(warning);
            self.mark_changed(primary);
        }
    }

    /// Clears warnings whose cause has not recurred for [`WARNING_HOLD`].
    fn clear_warnings(&mut self, now: Instant) {
        let mut cleared = Vec::new();
        for (k, v) in self.vehicles.iter_mut() {
            if v.signing_rejected_at
                .is_some_and(|t| now.saturating_duration_since(t) >= WARNING_HOLD)
            {
                v.signing_rejected_at = None;
                v.warnings.retain(|w| !w.starts_with(SIGNING_WARNING));
                cleared.push(*k);
            }
        }
        cleared.sort();
        for k in cleared {
            self.mark_changed(k);
        }
    }

    /// Removes duplicates silent for the link loss and [`DUPLICATE_GRACE`];
    /// clears a conflict warning once no duplicate of its id is left.
    fn expire_duplicates(&mut self, now: Instant) {
        let limit = self.settings.link_loss + DUPLICATE_GRACE;
        let mut expired: Vec<VehicleKey> = self
            .vehicles
            .iter()
            .filter(|(k, v)| {
                k.duplicate_of.is_some()
                    && !v.link_up
                    && now.saturating_duration_since(v.last_heartbeat) >= limit
            })
            .map(|(k, _)| *k)
            .collect();
        expired.sort();
        for key in expired {
            self.vehicles.remove(&key);
            let ops: Vec<OpId> = self
                .ops
                .iter()
                .filter(|(_, (k, _))| *k == key)
                .map(|(id, _)| *id)
                .collect();
            for op in ops {
                self.ops.remove(&op);
            }
            self.events.push_back(LinkEvent::Removed(key));
            let sys = key.system_id;
            let left = self
                .vehicles
                .keys()
                .any(|k| k.system_id == sys && k.duplicate_of.is_some());
            if !left && self.conflicts.remove(&sys).is_some() {
                let primary = VehicleKey {
                    system_id: sys,
                    duplicate_of: None,
                };
                if let Some(v) = self.vehicles.get_mut(&primary) {
                    let prefix = conflict_prefix(sys);
                    v.warnings.retain(|w| !w.starts_with(&prefix));
                    self.mark_changed(primary);
                }
            }
        }
    }

    fn request_streams(&mut self, now: Instant, sys: u8, autopilot: u8) {
        for &(id, hz) in STREAMS {
            self.internal_command(
                now,
                sys,
                autopilot,
                MavCmd::MAV_CMD_SET_MESSAGE_INTERVAL,
                [id as f32, (1e6 / hz) as f32, 0.0, 0.0, 0.0, 0.0, 0.0],
            );
        }
        for &id in REQUEST_ONCE {
            self.internal_command(
                now,
                sys,
                autopilot,
                MavCmd::MAV_CMD_REQUEST_MESSAGE,
                [id as f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            );
        }
    }

    fn request_camera(&mut self, now: Instant, sys: u8) {
        for &id in CAMERA_REQUEST_ONCE {
            self.internal_command(
                now,
                sys,
                COMP_CAMERA,
                MavCmd::MAV_CMD_REQUEST_MESSAGE,
                [id as f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            );
        }
        self.internal_command(
            now,
            sys,
            COMP_CAMERA,
            MavCmd::MAV_CMD_SET_MESSAGE_INTERVAL,
            [
                271.0,
                (1e6 / CAMERA_FOV_RATE_HZ) as f32,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
            ],
        );
    }

    fn internal_command(&mut self, now: Instant, sys: u8, comp: u8, command: MavCmd, p: [f32; 7]) {
        let msg = long(sys, comp, command, p);
        let mut sends = std::mem::take(&mut self.sends);
        // Refusal only happens when the queue is full; a stream request
        // lost then is re-asked on the next reconnect.
        let _ = self.commands.start(now, sys, msg, &mut sends);
        self.sends = sends;
    }

    fn finish_command(&mut self, f: Finished) {
        let op = self
            .ops
            .iter()
            .find(|(_, (_, op))| matches!(op, Op::Command(c) if *c == f.id))
            .map(|(id, _)| *id);
        if let Some(op) = op {
            self.ops.remove(&op);
            self.events.push_back(LinkEvent::Done(
                op,
                CommandResult {
                    outcome: f.outcome,
                    detail: f.detail,
                    attempts: f.attempts,
                    latency_ms: f.elapsed.as_secs_f64() * 1000.0,
                    mission: None,
                },
            ));
        }
    }

    fn transfer_message(&mut self, now: Instant, key: VehicleKey, msg: &MavMessage) {
        let Some((op, (_, Op::Transfer(t, started)))) = self
            .ops
            .iter_mut()
            .find(|(_, (k, op))| *k == key && matches!(op, Op::Transfer(..)))
        else {
            return;
        };
        let op = *op;
        let started = *started;
        let step = t.on_message(now, msg);
        self.apply_step(now, op, key, started, step);
    }

    fn apply_step(
        &mut self,
        now: Instant,
        op: OpId,
        key: VehicleKey,
        started: Instant,
        step: mission::Step,
    ) {
        for m in step.send {
            self.queue_to(key, m);
        }
        if let Some(done) = step.done {
            self.ops.remove(&op);
            let home_item = self
                .vehicles
                .get(&key)
                .is_some_and(|v| mission::has_home_item(v.autopilot));
            let latency_ms = now.saturating_duration_since(started).as_secs_f64() * 1000.0;
            let (outcome, detail, mission) = match done {
                TransferResult::Uploaded => (
                    CommandOutcome::Accepted,
                    "upload accepted".to_string(),
                    None,
                ),
                TransferResult::Downloaded(items) => (
                    CommandOutcome::Accepted,
                    format!("{} items downloaded", items.len()),
                    Some(mission::steps_from_items(&items, home_item)),
                ),
                TransferResult::Rejected(r) => (
                    CommandOutcome::Denied,
                    format!("vehicle refused: {r:?}"),
                    None,
                ),
                TransferResult::TimedOut(what) => (CommandOutcome::TimedOut, what, None),
            };
            self.events.push_back(LinkEvent::Done(
                op,
                CommandResult {
                    outcome,
                    detail,
                    attempts: 1,
                    latency_ms,
                    mission,
                },
            ));
        }
    }

    /// Starts an operator command. The result arrives as
    /// [`LinkEvent::Done`] with the returned id, or at once as `Err`.
    pub fn command(
        &mut self,
        now: Instant,
        wall_ms: i64,
        key: VehicleKey,
        cmd: &DroneCommand,
    ) -> Result<OpId, CommandResult> {
        let refuse = |detail: String| CommandResult::refused(detail);
        let Some(v) = self.vehicles.get(&key) else {
            return Err(refuse(format!(
                "no vehicle {} on link {}",
                self.unit_id(key),
                self.settings.name
            )));
        };
        if !v.link_up {
            return Err(CommandResult::unsent(
                CommandOutcome::LinkLost,
                "the vehicle's link is lost; the command was not sent",
            ));
        }
        super::altitude::check(cmd, v.home.and_then(|h| h.alt_msl_m)).map_err(refuse)?;
        self.wall_ms = wall_ms;
        let sys = key.system_id;
        let target = (sys, v.autopilot_component);
        self.next_op += 1;
        let op_id = self.next_op;
        // Whether seq 0 is the home position depends on the autopilot
        // family, which only its HEARTBEAT says: a vehicle known from its
        // telemetry alone (the first heartbeats lost) would get a mission
        // laid out for another autopilot, and lose its first waypoint.
        if matches!(
            cmd,
            DroneCommand::Mission { .. } | DroneCommand::DownloadMission
        ) && !v.autopilot_seen
        {
            return Err(refuse(format!(
                "{} has not sent its autopilot's HEARTBEAT yet, so how its mission is laid out is unknown; retry in a second",
                self.unit_id(key)
            )));
        }
        let transfer = match cmd {
            DroneCommand::Mission { items } => Some((
                MavMissionType::MAV_MISSION_TYPE_MISSION,
                Some(
                    mission::mission_items(items, mission::has_home_item(v.autopilot))
                        .map_err(refuse)?,
                ),
            )),
            DroneCommand::Fence { shapes } => Some((
                MavMissionType::MAV_MISSION_TYPE_FENCE,
                Some(mission::fence_items(shapes).map_err(refuse)?),
            )),
            DroneCommand::DownloadMission => Some((MavMissionType::MAV_MISSION_TYPE_MISSION, None)),
            _ => None,
        };
        if let Some((mission_type, items)) = transfer {
            if self
                .ops
                .values()
                .any(|(k, op)| *k == key && matches!(op, Op::Transfer(..)))
            {
                return Err(refuse(
                    "another mission transfer with this vehicle is in progress; retry when it ends"
                        .into(),
                ));
            }
            let (t, first) = match items {
                Some(items) => Transfer::upload(now, target, mission_type, items),
                None => Transfer::download(now, target, mission_type),
            };
            self.ops
                .insert(op_id, (key, Op::Transfer(Box::new(t), now)));
            self.queue_to(key, first);
            self.flush_sends();
            return Ok(op_id);
        }
        let msg = self.command_message(key, cmd).map_err(refuse)?;
        let mut sends = std::mem::take(&mut self.sends);
        let started = self.commands.start(now, sys, msg, &mut sends);
        self.sends = sends;
        match started {
            Ok(id) => {
                self.ops.insert(op_id, (key, Op::Command(id)));
                self.flush_sends();
                Ok(op_id)
            }
            Err(f) => Err(refuse(f.detail)),
        }
    }

    fn command_message(&self, key: VehicleKey, cmd: &DroneCommand) -> Result<MavMessage, String> {
        let sys = key.system_id;
        let v = self.vehicles.get(&key).ok_or("unknown vehicle")?;
        let ap = v.autopilot_component;
        let finite = |vals: &[f64]| {
            if vals.iter().all(|x| x.is_finite()) {
                Ok(())
            } else {
                Err("parameters must be finite numbers".to_string())
            }
        };
        let pos = mission::position_e7;
        // A position parameter: finite, then in MAVLink's 1e-7 degrees.
        let at = |lat_deg: f64, lon_deg: f64, alt_m: f64| {
            finite(&[lat_deg, lon_deg, alt_m])?;
            pos(lat_deg, lon_deg)
        };
        let nan = f32::NAN;
        Ok(match cmd {
            DroneCommand::Arm => long(
                sys,
                ap,
                MavCmd::MAV_CMD_COMPONENT_ARM_DISARM,
                [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            ),
            DroneCommand::Disarm => long(sys, ap, MavCmd::MAV_CMD_COMPONENT_ARM_DISARM, [0.0; 7]),
            DroneCommand::SetMode { mode } => {
                let n = super::modes::number(v.autopilot, v.mav_type, mode).ok_or_else(|| {
                    format!(
                        "mode {mode:?} is unknown for a {} vehicle",
                        super::modes::family(v.autopilot)
                    )
                })?;
                let (param2, param3) = super::modes::set_mode_params(v.autopilot, n);
                long(
                    sys,
                    ap,
                    MavCmd::MAV_CMD_DO_SET_MODE,
                    [
                        MavModeFlag::MAV_MODE_FLAG_CUSTOM_MODE_ENABLED.bits() as f32,
                        param2,
                        param3,
                        0.0,
                        0.0,
                        0.0,
                        0.0,
                    ],
                )
            }
            DroneCommand::Takeoff { alt_m } => {
                finite(&[*alt_m])?;
                long(
                    sys,
                    ap,
                    MavCmd::MAV_CMD_NAV_TAKEOFF,
                    [0.0, 0.0, 0.0, nan, nan, nan, *alt_m as f32],
                )
            }
            DroneCommand::Goto {
                lat_deg,
                lon_deg,
                alt_m,
                speed_m_s,
            } => {
                let (x, y) = at(*lat_deg, *lon_deg, *alt_m)?;
                // param2 bit 0: switch to guided.
                int(
                    sys,
                    ap,
                    MavCmd::MAV_CMD_DO_REPOSITION,
                    [speed_m_s.map_or(-1.0, |s| s as f32), 1.0, 0.0, nan],
                    x,
                    y,
                    *alt_m as f32,
                )
            }
            DroneCommand::Orbit {
                lat_deg,
                lon_deg,
                alt_m,
                radius_m,
                speed_m_s,
            } => {
                finite(&[*radius_m])?;
                let (x, y) = at(*lat_deg, *lon_deg, *alt_m)?;
                int(
                    sys,
                    ap,
                    MavCmd::MAV_CMD_DO_ORBIT,
                    [
                        *radius_m as f32,
                        speed_m_s.map_or(nan, |s| s as f32),
                        0.0,
                        nan,
                    ],
                    x,
                    y,
                    *alt_m as f32,
                )
            }
            DroneCommand::Rtl => long(sys, ap, MavCmd::MAV_CMD_NAV_RETURN_TO_LAUNCH, [0.0; 7]),
            DroneCommand::Land => long(
                sys,
                ap,
                MavCmd::MAV_CMD_NAV_LAND,
                [0.0, 0.0, 0.0, nan, nan, nan, 0.0],
            ),
            DroneCommand::Gimbal { pitch_deg, yaw_deg } => {
                finite(&[*pitch_deg, *yaw_deg])?;
                // Flags 0: yaw relative to the vehicle.
                long(
                    sys,
                    ap,
                    MavCmd::MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW,
                    [*pitch_deg as f32, *yaw_deg as f32, nan, nan, 0.0, 0.0, 0.0],
                )
            }
            DroneCommand::Roi {
                lat_deg,
                lon_deg,
                alt_m,
            } => {
                let (x, y) = at(*lat_deg, *lon_deg, *alt_m)?;
                int(
                    sys,
                    ap,
                    MavCmd::MAV_CMD_DO_SET_ROI_LOCATION,
                    [0.0; 4],
                    x,
                    y,
                    *alt_m as f32,
                )
            }
            DroneCommand::Mission { .. }
            | DroneCommand::Fence { .. }
            | DroneCommand::DownloadMission => {
                return Err("transfers are not single commands".into());
            }
        })
    }

    /// When [`LinkCore::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.next_heartbeat;
        let mut min = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t: Instant| t.min(x)));
            }
        };
        min(self.commands.next_deadline());
        for (_, op) in self.ops.values() {
            if let Op::Transfer(tr, _) = op {
                min(Some(tr.deadline()));
            }
        }
        for (k, v) in &self.vehicles {
            min(v.signing_rejected_at.map(|t| t + WARNING_HOLD));
            if v.link_up {
                min(Some(v.last_heartbeat + self.settings.link_loss));
            } else if k.duplicate_of.is_some() {
                min(Some(
                    v.last_heartbeat + self.settings.link_loss + DUPLICATE_GRACE,
                ));
            }
        }
        t
    }

    /// Advances time: link loss, resends, our heartbeat.
    pub fn handle_timeout(&mut self, now: Instant, wall_ms: i64) {
        self.wall_ms = wall_ms;
        // Link loss.
        let mut lost = Vec::new();
        for (key, v) in self.vehicles.iter_mut() {
            if v.link_up
                && now.saturating_duration_since(v.last_heartbeat) >= self.settings.link_loss
            {
                v.link_up = false;
                lost.push(*key);
            }
        }
        lost.sort();
        for key in lost {
            self.events.push_back(LinkEvent::Lost(key));
            self.mark_changed(key);
            if key.duplicate_of.is_none() {
                for f in self.commands.on_link_lost(now, key.system_id) {
                    self.finish_command(f);
                }
            }
            let transfers: Vec<OpId> = self
                .ops
                .iter()
                .filter(|(_, (k, op))| *k == key && matches!(op, Op::Transfer(..)))
                .map(|(id, _)| *id)
                .collect();
            for op in transfers {
                self.ops.remove(&op);
                self.events.push_back(LinkEvent::Done(
                    op,
                    CommandResult {
                        outcome: CommandOutcome::LinkLost,
                        detail: "link to the vehicle lost during the transfer".into(),
                        attempts: 1,
                        latency_ms: 0.0,
                        mission: None,
                    },
                ));
            }
        }
        self.expire_duplicates(now);
        self.clear_warnings(now);
        // Command resends and give-ups.
        let mut sends = std::mem::take(&mut self.sends);
        let finished = self.commands.on_timeout(now, &mut sends);
        self.sends = sends;
        for f in finished {
            self.finish_command(f);
        }
        // Transfer steps.
        let due: Vec<(OpId, VehicleKey)> = self
            .ops
            .iter()
            .filter(|(_, (_, op))| matches!(op, Op::Transfer(t, _) if t.deadline() <= now))
            .map(|(id, (k, _))| (*id, *k))
            .collect();
        for (op, key) in due {
            if let Some((_, Op::Transfer(t, started))) = self.ops.get_mut(&op) {
                let started = *started;
                let step = t.on_timeout(now);
                self.apply_step(now, op, key, started, step);
            }
        }
        // Our heartbeat.
        if self.next_heartbeat.is_some_and(|t| t <= now) {
            self.next_heartbeat = Some(now + GCS_HEARTBEAT);
            let hb = MavMessage::HEARTBEAT(HEARTBEAT_DATA {
                custom_mode: 0,
                mavtype: MavType::MAV_TYPE_GCS,
                autopilot: MavAutopilot::MAV_AUTOPILOT_INVALID,
                base_mode: MavModeFlag::empty(),
                system_status: MavState::MAV_STATE_ACTIVE,
                mavlink_version: 3,
            });
            self.broadcast(hb);
        }
        self.flush_sends();
    }

    /// Sends `msg` to every distinct peer (our heartbeat).
    fn broadcast(&mut self, msg: MavMessage) {
        let mut peers: Vec<SocketAddr> = self
            .vehicles
            .values()
            .filter(|v| v.link_up)
            .map(|v| v.peer)
            .collect();
        if peers.is_empty() {
            peers.extend(self.settings.default_peer);
        }
        peers.sort();
        peers.dedup();
        for to in peers {
            self.encode_to(to, &msg);
        }
    }

    fn queue_to(&mut self, key: VehicleKey, msg: MavMessage) {
        let to = self
            .vehicles
            .get(&key)
            .map(|v| v.peer)
            .or(self.settings.default_peer);
        if let Some(to) = to {
            self.encode_to(to, &msg);
        }
    }

    /// Encodes what the engines queued; first reserves signing timestamps
    /// if the wall time of the current input (`self.wall_ms`) needs it.
    fn flush_sends(&mut self) {
        if let Some(s) = self.signer.as_mut() {
            let ts = signing::timestamp_from_unix_ms(self.wall_ms);
            if s.wants_renewal(ts) {
                let r = s.request(ts);
                self.events.push_back(LinkEvent::PersistSigning(r));
            }
        }
        let sends = std::mem::take(&mut self.sends);
        for (sys, msg) in &sends {
            let key = VehicleKey {
                system_id: *sys,
                duplicate_of: None,
            };
            self.queue_to(key, msg.clone());
        }
        self.sends = sends;
        self.sends.clear();
    }

    /// The edge stored the signing reservation `reservation` (`ok`) or
    /// could not (then it is asked for again at the next send). Frames held
    /// for it are signed and queued.
    pub fn signing_persisted(&mut self, reservation: u64, ok: bool) {
        let Some(s) = self.signer.as_mut() else {
            return;
        };
        if ok {
            s.persisted(reservation);
        } else {
            s.not_persisted(reservation);
        }
        let ts = signing::timestamp_from_unix_ms(self.wall_ms);
        if !s.covers(ts) {
            if s.wants_renewal(ts) {
                let r = s.request(ts);
                self.events.push_back(LinkEvent::PersistSigning(r));
            }
            return;
        }
        for (to, msg) in std::mem::take(&mut self.unsigned) {
            self.encode_to(to, &msg);
        }
    }

    fn encode_to(&mut self, to: SocketAddr, msg: &MavMessage) {
        if self.outbox.len() >= MAX_OUTBOX {
            return; // a stalled socket: drop rather than grow
        }
        let wall = signing::timestamp_from_unix_ms(self.wall_ms);
        if self.signer.as_ref().is_some_and(|s| !s.covers(wall)) {
            // No timestamp may be used before its reservation is on disk.
            if self.unsigned.len() < MAX_OUTBOX {
                self.unsigned.push_back((to, msg.clone()));
            }
            return;
        }
        let header = MavHeader {
            system_id: self.settings.system_id as u32,
            component_id: self.settings.component_id,
            sequence: self.seq,
        };
        self.seq = self.seq.wrapping_add(1);
        let mut bytes = Vec::with_capacity(64);
        let sign = self.signer.as_mut().map(|s| {
            let ts = s.next(wall);
            (s.key, s.link_id, ts)
        });
        wire::encode(
            &mut bytes,
            header,
            msg,
            sign.as_ref().map(|(k, l, t)| (k, *l, *t)),
        );
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        self.outbox.push_back(Transmit { to, bytes });
    }

    /// Next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    /// Next event for the edge.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        let ev = self.events.pop_front()?;
        if let LinkEvent::Changed(key) = ev
            && let Some(v) = self.vehicles.get_mut(&key)
        {
            v.change_queued = false;
        }
        Some(ev)
    }

    /// Queues a [`LinkEvent::Changed`] for `key` unless one already waits:
    /// the edge reads the vehicle's state when it publishes, so one event
    /// per burst is enough.
    fn mark_changed(&mut self, key: VehicleKey) {
        if let Some(v) = self.vehicles.get_mut(&key) {
            if v.change_queued {
                return;
            }
            v.change_queued = true;
        }
        self.events.push_back(LinkEvent::Changed(key));
    }
}

fn int(sys: u8, comp: u8, command: MavCmd, p: [f32; 4], x: i32, y: i32, z: f32) -> MavMessage {
    MavMessage::COMMAND_INT(COMMAND_INT_DATA {
        param1: p[0],
        param2: p[1],
        param3: p[2],
        param4: p[3],
        x,
        y,
        z,
        command,
        target_system: sys,
        target_component: comp,
        frame: MavFrame::MAV_FRAME_GLOBAL_RELATIVE_ALT,
        current: 0,
        autocontinue: 0,
    })
}

#[cfg(test)]
#[path = "link_tests.rs"]
mod tests;
