//! The MAVLink vehicle protocol of one simulated drone, as a sans-I/O core.
//!
//! Fed with `(now, header, message)` through [`Vehicle::handle`] and woken
//! through [`Vehicle::poll`] at [`Vehicle::next_wake`], it returns the
//! messages to send. It never reads a clock or touches a socket, so the same
//! code runs over UDP in real time ([`udp`](super::udp)) and on a virtual
//! clock in tests and drills ([`virtual_clock`](super::virtual_clock)).
//!
//! It behaves like ArduCopter towards a ground station: a HEARTBEAT at 1 Hz
//! with ArduCopter's `custom_mode` numbers, telemetry streams whose rates
//! MAV_CMD_SET_MESSAGE_INTERVAL changes, COMMAND_LONG and COMMAND_INT with
//! COMMAND_ACK, the vehicle side of the mission protocol (missions and
//! fences, MISSION_REQUEST_INT and the deprecated MISSION_REQUEST), STATUSTEXT
//! on notable events, and a camera component (id 100) with a gimbal.
//!
//! Physics advances in fixed 20 ms steps up to each call's `now`, so results
//! do not depend on how often the driver calls in.

use std::time::{Duration, Instant};

use mavlink::dialects::ardupilotmega::*;
use mavlink::{MavHeader, MessageData};
use vigie_ground::frame::LocalFrame;

use super::autopilot::{
    Autopilot, AutopilotConfig, Event, FlightMode, MissionCommand, MissionProgress, Orbit, Place,
    Refusal, Severity,
};
use super::fence::Zone;
use super::physics::Enu;

/// Component id of the autopilot.
pub const AUTOPILOT_COMPONENT: u8 = 1;
/// Component id of the camera (MAV_COMP_ID_CAMERA).
pub const CAMERA_COMPONENT: u8 = 100;
/// Physics step, seconds (50 Hz).
pub const PHYSICS_DT_S: f64 = 0.02;
/// Most mission items accepted in one upload (ArduPilot stores a few hundred).
pub const MAX_MISSION_ITEMS: u16 = 1000;
/// Most fence items accepted in one upload.
pub const MAX_FENCE_ITEMS: u16 = 256;
/// Re-request a missing mission item after this long.
pub const MISSION_RETRY: Duration = Duration::from_millis(1500);
/// Give up an upload after this many unanswered requests.
pub const MISSION_MAX_RETRIES: u8 = 5;

/// ArduCopter 4.5.7, official release, as AUTOPILOT_VERSION encodes it.
const FLIGHT_SW_VERSION: u32 = (4 << 24) | (5 << 16) | (7 << 8) | 255;

/// The camera on the gimbal.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraConfig {
    /// Horizontal field of view, degrees.
    pub hfov_deg: f64,
    /// Vertical field of view, degrees.
    pub vfov_deg: f64,
    /// Image width, pixels.
    pub resolution_h: u16,
    /// Image height, pixels.
    pub resolution_v: u16,
    /// Video stream address announced in VIDEO_STREAM_INFORMATION. The
    /// simulator serves no video: the address is metadata for the ground.
    pub stream_uri: String,
}

impl Default for CameraConfig {
    fn default() -> CameraConfig {
        CameraConfig {
            hfov_deg: 84.0,
            vfov_deg: 53.0,
            resolution_h: 1920,
            resolution_v: 1080,
            stream_uri: String::new(),
        }
    }
}

/// Everything that makes one simulated drone.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleConfig {
    /// MAVLink system id (1 to 255).
    pub system_id: u8,
    /// Home latitude, degrees.
    pub home_lat_deg: f64,
    /// Home longitude, degrees.
    pub home_lon_deg: f64,
    /// Home altitude above mean sea level, metres.
    pub home_alt_amsl_m: f64,
    /// Autopilot parameters.
    pub autopilot: AutopilotConfig,
    /// The camera.
    pub camera: CameraConfig,
}

impl VehicleConfig {
    /// A drone with default parameters at a home position.
    pub fn new(system_id: u8, home_lat_deg: f64, home_lon_deg: f64) -> VehicleConfig {
        VehicleConfig {
            system_id,
            home_lat_deg,
            home_lon_deg,
            home_alt_amsl_m: 35.0,
            autopilot: AutopilotConfig::default(),
            camera: CameraConfig {
                stream_uri: format!("rtsp://127.0.0.1:8554/vigie/sys{system_id}"),
                ..CameraConfig::default()
            },
        }
    }
}

/// A message to send, and which of the vehicle's components sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Sending component: [`AUTOPILOT_COMPONENT`] or [`CAMERA_COMPONENT`].
    pub component_id: u8,
    /// The message.
    pub message: MavMessage,
}

/// A periodic message and its rate.
#[derive(Debug, Clone, Copy)]
struct Stream {
    /// Sending component.
    component_id: u8,
    /// Message id.
    msgid: u32,
    /// Rate when nobody asked for another, or `None` for on-request only.
    default: Option<Duration>,
    /// Current rate.
    interval: Option<Duration>,
    /// When it is next due.
    next_due: Instant,
}

/// Default streams: ArduCopter's heartbeat, and rates a ground station
/// typically requests (SRx_ parameters): position and attitude at 4 Hz,
/// status at 1 Hz.
const DEFAULT_STREAMS: [(u8, u32, Option<u64>); 17] = [
    (AUTOPILOT_COMPONENT, HEARTBEAT_DATA::ID, Some(1000)),
    (AUTOPILOT_COMPONENT, GLOBAL_POSITION_INT_DATA::ID, Some(250)),
    (AUTOPILOT_COMPONENT, ATTITUDE_DATA::ID, Some(250)),
    (AUTOPILOT_COMPONENT, VFR_HUD_DATA::ID, Some(1000)),
    (AUTOPILOT_COMPONENT, SYS_STATUS_DATA::ID, Some(1000)),
    (AUTOPILOT_COMPONENT, BATTERY_STATUS_DATA::ID, Some(1000)),
    (AUTOPILOT_COMPONENT, GPS_RAW_INT_DATA::ID, Some(1000)),
    (AUTOPILOT_COMPONENT, EXTENDED_SYS_STATE_DATA::ID, Some(1000)),
    (AUTOPILOT_COMPONENT, MISSION_CURRENT_DATA::ID, Some(1000)),
    (AUTOPILOT_COMPONENT, HOME_POSITION_DATA::ID, Some(10_000)),
    (
        AUTOPILOT_COMPONENT,
        GIMBAL_DEVICE_ATTITUDE_STATUS_DATA::ID,
        Some(500),
    ),
    (AUTOPILOT_COMPONENT, AUTOPILOT_VERSION_DATA::ID, None),
    (CAMERA_COMPONENT, HEARTBEAT_DATA::ID, Some(1000)),
    (CAMERA_COMPONENT, CAMERA_FOV_STATUS_DATA::ID, Some(1000)),
    (CAMERA_COMPONENT, CAMERA_INFORMATION_DATA::ID, None),
    (CAMERA_COMPONENT, VIDEO_STREAM_INFORMATION_DATA::ID, None),
    (CAMERA_COMPONENT, MESSAGE_INTERVAL_DATA::ID, None),
];

/// A mission or fence upload in progress (the vehicle requests items).
#[derive(Debug, Clone)]
struct Upload {
    /// Mission or fence.
    mission_type: MavMissionType,
    /// Items announced by MISSION_COUNT.
    count: u16,
    /// Items received so far, in order.
    items: Vec<MISSION_ITEM_INT_DATA>,
    /// The ground station sending them (system, component).
    from: (u8, u8),
    /// When to re-request the next item.
    retry_at: Instant,
    /// Requests sent for the current item without an answer.
    retries: u8,
}

/// Counters of protocol oddities, for tests and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VehicleStats {
    /// Mission items that arrived out of order or twice and were ignored.
    pub mission_items_ignored: u64,
    /// Uploads abandoned after the ground stopped answering.
    pub uploads_timed_out: u64,
    /// Commands answered with MAV_RESULT_UNSUPPORTED.
    pub commands_unsupported: u64,
}

/// One simulated drone's MAVLink side.
#[derive(Debug, Clone)]
pub struct Vehicle {
    /// The configuration.
    config: VehicleConfig,
    /// Local frame centred on home.
    frame: LocalFrame,
    /// The flight controller.
    ap: Autopilot,
    /// Power-on time (time_boot_ms counts from here).
    boot: Instant,
    /// Physics has been advanced up to this instant.
    physics_at: Instant,
    /// Periodic messages.
    streams: Vec<Stream>,
    /// Mission or fence upload in progress.
    upload: Option<Upload>,
    /// The mission as uploaded (item 0 reported as home on download).
    mission_items: Vec<MISSION_ITEM_INT_DATA>,
    /// The fence as uploaded.
    fence_items: Vec<MISSION_ITEM_INT_DATA>,
    /// Counters.
    stats: VehicleStats,
}

impl Vehicle {
    /// A drone powered on at `now`, disarmed on the ground at home.
    pub fn new(config: VehicleConfig, now: Instant) -> Vehicle {
        // Stagger streams across vehicles so a fleet does not send in bursts.
        let phase = Duration::from_millis(u64::from(config.system_id) * 37 % 1000);
        let streams = DEFAULT_STREAMS
            .iter()
            .map(|&(component_id, msgid, ms)| {
                let interval = ms.map(Duration::from_millis);
                Stream {
                    component_id,
                    msgid,
                    default: interval,
                    interval,
                    next_due: now + interval.map_or(Duration::ZERO, |i| phase.min(i)),
                }
            })
            .collect();
        Vehicle {
            frame: LocalFrame::new(config.home_lat_deg, config.home_lon_deg),
            ap: Autopilot::new(config.autopilot),
            boot: now,
            physics_at: now,
            streams,
            upload: None,
            mission_items: Vec::new(),
            fence_items: Vec::new(),
            stats: VehicleStats::default(),
            config,
        }
    }

    /// MAVLink system id.
    pub fn system_id(&self) -> u8 {
        self.config.system_id
    }

    /// The flight controller (read-only).
    pub fn autopilot(&self) -> &Autopilot {
        &self.ap
    }

    /// The flight controller, for tests and drills that inject faults
    /// (GPS loss, a drained battery).
    pub fn autopilot_mut(&mut self) -> &mut Autopilot {
        &mut self.ap
    }

    /// Protocol counters.
    pub fn stats(&self) -> VehicleStats {
        self.stats
    }

    /// Current position as (latitude deg, longitude deg, height above home m).
    pub fn position(&self) -> (f64, f64, f64) {
        let p = self.ap.kin.pos;
        let (lat, lon) = self.frame.to_wgs84(p.e, p.n);
        (lat, lon, p.u)
    }

    /// The current interval of a stream, or `None` when it is off.
    pub fn message_interval(&self, component_id: u8, msgid: u32) -> Option<Duration> {
        self.streams
            .iter()
            .find(|s| s.component_id == component_id && s.msgid == msgid)
            .and_then(|s| s.interval)
    }

    /// When [`poll`](Self::poll) next has something to send.
    pub fn next_wake(&self, now: Instant) -> Instant {
        let streams = self
            .streams
            .iter()
            .filter(|s| s.interval.is_some())
            .map(|s| s.next_due);
        let upload = self.upload.as_ref().map(|u| u.retry_at);
        streams
            .chain(upload)
            .min()
            .unwrap_or(now + Duration::from_secs(1))
            .max(now)
    }

    /// Advances to `now` and returns what is due: periodic telemetry,
    /// events (STATUSTEXT, mission progress) and mission retries.
    pub fn poll(&mut self, now: Instant) -> Vec<Outgoing> {
        let mut out = Vec::new();
        self.advance(now, &mut out);
        for i in 0..self.streams.len() {
            let s = self.streams[i];
            let Some(interval) = s.interval else { continue };
            if s.next_due > now {
                continue;
            }
            if let Some(o) = self.build(now, s.component_id, s.msgid, 0) {
                out.push(o);
            }
            let mut next = s.next_due + interval;
            if next <= now {
                // Fell behind (a stalled driver): skip, do not burst.
                next = now + interval;
            }
            self.streams[i].next_due = next;
        }
        self.upload_retry(now, &mut out);
        out
    }

    /// Handles one received message and returns the replies.
    pub fn handle(&mut self, now: Instant, header: MavHeader, msg: &MavMessage) -> Vec<Outgoing> {
        let mut out = Vec::new();
        self.advance(now, &mut out);
        if header.system_id == u32::from(self.config.system_id) {
            // Our own echo, or another vehicle with our id: never obey it.
            return out;
        }
        let from = (header.system_id as u8, header.component_id);
        self.handle_message(now, from, msg, &mut out);
        out
    }

    /// Steps physics to `now` in fixed steps and turns autopilot events into
    /// messages.
    fn advance(&mut self, now: Instant, out: &mut Vec<Outgoing>) {
        let dt = Duration::from_secs_f64(PHYSICS_DT_S);
        while self.physics_at + dt <= now {
            self.ap.step(PHYSICS_DT_S);
            self.physics_at += dt;
        }
        self.flush_events(out);
    }

    fn time_boot_ms(&self, now: Instant) -> u32 {
        now.saturating_duration_since(self.boot).as_millis() as u32
    }

    #[allow(deprecated)]
    fn handle_message(
        &mut self,
        now: Instant,
        from: (u8, u8),
        msg: &MavMessage,
        out: &mut Vec<Outgoing>,
    ) {
        let me = self.config.system_id;
        let for_me = |sys: u8, comp: u8| {
            (sys == 0 || sys == me) && matches!(comp, 0 | AUTOPILOT_COMPONENT | CAMERA_COMPONENT)
        };
        match msg {
            MavMessage::COMMAND_LONG(c) if for_me(c.target_system, c.target_component) => {
                let cmd = Command {
                    command: c.command,
                    params: [c.param1, c.param2, c.param3, c.param4],
                    p5: f64::from(c.param5),
                    p6: f64::from(c.param6),
                    p7: c.param7,
                    int_frame: None,
                };
                self.command(now, from, c.target_component, cmd, out);
            }
            MavMessage::COMMAND_INT(c) if for_me(c.target_system, c.target_component) => {
                let cmd = Command {
                    command: c.command,
                    params: [c.param1, c.param2, c.param3, c.param4],
                    p5: f64::from(c.x),
                    p6: f64::from(c.y),
                    p7: c.z,
                    int_frame: Some(c.frame),
                };
                self.command(now, from, c.target_component, cmd, out);
            }
            MavMessage::SET_MODE(m) if m.target_system == me => {
                let result = if !m
                    .base_mode
                    .contains(MavModeFlag::MAV_MODE_FLAG_CUSTOM_MODE_ENABLED)
                {
                    MavResult::MAV_RESULT_DENIED
                } else {
                    self.set_mode(m.custom_mode, out)
                };
                out.push(ack(
                    MavCmd::MAV_CMD_DO_SET_MODE,
                    result,
                    from,
                    AUTOPILOT_COMPONENT,
                ));
            }
            MavMessage::SET_POSITION_TARGET_GLOBAL_INT(t)
                if for_me(t.target_system, t.target_component) =>
            {
                self.position_target(t);
            }
            MavMessage::MISSION_COUNT(m) if for_me(m.target_system, m.target_component) => {
                self.mission_count(now, from, m, out);
            }
            MavMessage::MISSION_ITEM_INT(m) if for_me(m.target_system, m.target_component) => {
                self.mission_item(now, from, m.clone(), out);
            }
            MavMessage::MISSION_ITEM(m) if for_me(m.target_system, m.target_component) => {
                let item = self.item_from_float(m);
                self.mission_item(now, from, item, out);
            }
            MavMessage::MISSION_REQUEST_LIST(m) if for_me(m.target_system, m.target_component) => {
                let count = self.stored(m.mission_type).map_or(0, |v| v.len() as u16);
                out.push(autopilot(MavMessage::MISSION_COUNT(MISSION_COUNT_DATA {
                    count,
                    target_system: from.0,
                    target_component: from.1,
                    mission_type: m.mission_type,
                    opaque_id: 0,
                })));
            }
            MavMessage::MISSION_REQUEST_INT(m) if for_me(m.target_system, m.target_component) => {
                out.push(self.download_item(from, m.seq, m.mission_type, true));
            }
            MavMessage::MISSION_REQUEST(m) if for_me(m.target_system, m.target_component) => {
                out.push(self.download_item(from, m.seq, m.mission_type, false));
            }
            MavMessage::MISSION_CLEAR_ALL(m) if for_me(m.target_system, m.target_component) => {
                let t = m.mission_type;
                if matches!(
                    t,
                    MavMissionType::MAV_MISSION_TYPE_MISSION | MavMissionType::MAV_MISSION_TYPE_ALL
                ) {
                    self.mission_items.clear();
                    self.ap.set_mission(Vec::new());
                }
                if matches!(
                    t,
                    MavMissionType::MAV_MISSION_TYPE_FENCE | MavMissionType::MAV_MISSION_TYPE_ALL
                ) {
                    self.fence_items.clear();
                    self.ap.set_fence(Vec::new());
                }
                let result = if t == MavMissionType::MAV_MISSION_TYPE_RALLY {
                    MavMissionResult::MAV_MISSION_UNSUPPORTED
                } else {
                    MavMissionResult::MAV_MISSION_ACCEPTED
                };
                out.push(mission_ack(from, t, result));
            }
            MavMessage::MISSION_SET_CURRENT(m) if for_me(m.target_system, m.target_component) => {
                match self.ap.set_mission_current(m.seq) {
                    Ok(()) => out.push(autopilot(self.mission_current())),
                    Err(r) => out.push(autopilot(statustext(Severity::Warning, r.reason))),
                }
            }
            MavMessage::MISSION_ACK(_) => {
                // The end of a download: downloads are stateless here.
            }
            MavMessage::PARAM_REQUEST_LIST(m)
                if (m.target_system == 0 || m.target_system == me)
                    && matches!(m.target_component, 0 | AUTOPILOT_COMPONENT) =>
            {
                out.extend(super::params::list(&self.ap).into_iter().map(autopilot));
            }
            MavMessage::PARAM_REQUEST_READ(m)
                if (m.target_system == 0 || m.target_system == me)
                    && matches!(m.target_component, 0 | AUTOPILOT_COMPONENT) =>
            {
                out.extend(super::params::read(&self.ap, m).map(autopilot));
            }
            MavMessage::PARAM_SET(m)
                if (m.target_system == 0 || m.target_system == me)
                    && matches!(m.target_component, 0 | AUTOPILOT_COMPONENT) =>
            {
                out.extend(super::params::set(&mut self.ap, m).map(autopilot));
            }
            _ => {}
        }
    }

    /// Executes a COMMAND_LONG / COMMAND_INT and acknowledges it.
    fn command(
        &mut self,
        now: Instant,
        from: (u8, u8),
        target_component: u8,
        c: Command,
        out: &mut Vec<Outgoing>,
    ) {
        let component = if target_component == CAMERA_COMPONENT {
            CAMERA_COMPONENT
        } else {
            AUTOPILOT_COMPONENT
        };
        let mut after = Vec::new();
        let result = self.execute(now, component, &c, out, &mut after);
        if result == MavResult::MAV_RESULT_UNSUPPORTED {
            self.stats.commands_unsupported += 1;
        }
        out.push(ack(c.command, result, from, component));
        out.extend(after);
    }

    /// Runs a command; `after` receives messages that must follow the ACK
    /// (answers to REQUEST_MESSAGE).
    #[allow(deprecated)]
    fn execute(
        &mut self,
        now: Instant,
        component: u8,
        c: &Command,
        out: &mut Vec<Outgoing>,
        after: &mut Vec<Outgoing>,
    ) -> MavResult {
        use MavCmd::*;
        let [p1, p2, p3, p4] = c.params;
        match (component, c.command) {
            (_, MAV_CMD_SET_MESSAGE_INTERVAL) => {
                let msgid = p1 as u32;
                let comp = self.stream_component(component, msgid);
                let Some(s) = self
                    .streams
                    .iter_mut()
                    .find(|s| s.component_id == comp && s.msgid == msgid)
                else {
                    return MavResult::MAV_RESULT_DENIED;
                };
                s.interval = if p2 < 0.0 {
                    None
                } else if p2 == 0.0 {
                    s.default
                } else {
                    Some(Duration::from_micros(p2 as u64).max(Duration::from_millis(10)))
                };
                s.next_due = now;
                MavResult::MAV_RESULT_ACCEPTED
            }
            (_, MAV_CMD_REQUEST_MESSAGE) => {
                let msgid = p1 as u32;
                let comp = self.stream_component(component, msgid);
                match self.build(now, comp, msgid, p2 as i64) {
                    Some(m) => {
                        after.push(m);
                        MavResult::MAV_RESULT_ACCEPTED
                    }
                    None => MavResult::MAV_RESULT_DENIED,
                }
            }
            (AUTOPILOT_COMPONENT, MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES) => {
                after.extend(self.build(now, AUTOPILOT_COMPONENT, AUTOPILOT_VERSION_DATA::ID, 0));
                MavResult::MAV_RESULT_ACCEPTED
            }
            (_, MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW) => {
                let device = c.p7 as i64;
                if !(device == 0 || device == 1 || device == i64::from(AUTOPILOT_COMPONENT)) {
                    return MavResult::MAV_RESULT_DENIED;
                }
                let flags = c.p5 as u32;
                // YAW_LOCK (16) or YAW_IN_EARTH_FRAME (64): yaw is relative to north.
                let earth = flags & (16 | 64) != 0;
                self.ap.point_gimbal(f64::from(p1), f64::from(p2), earth);
                let _ = (p3, p4);
                MavResult::MAV_RESULT_ACCEPTED
            }
            (CAMERA_COMPONENT, _) => MavResult::MAV_RESULT_UNSUPPORTED,
            (_, MAV_CMD_COMPONENT_ARM_DISARM) => {
                let r = if p1 >= 0.5 {
                    self.ap.arm(p2 as i32 == 2989)
                } else {
                    self.ap.disarm(p2 as i32 == 21196)
                };
                // The autopilot already said why in a STATUSTEXT.
                self.flush_events(out);
                failed_if_err(r)
            }
            (_, MAV_CMD_DO_SET_MODE) => {
                if (p1 as u32) & 1 == 0 {
                    return MavResult::MAV_RESULT_DENIED;
                }
                self.set_mode(p2 as u32, out)
            }
            (_, MAV_CMD_NAV_TAKEOFF) => {
                let r = self.ap.takeoff(f64::from(c.p7));
                self.refusal_text(&r, out);
                failed_if_err(r)
            }
            (_, MAV_CMD_NAV_RETURN_TO_LAUNCH) => self.set_mode(FlightMode::Rtl.custom_mode(), out),
            (_, MAV_CMD_NAV_LAND) => self.set_mode(FlightMode::Land.custom_mode(), out),
            (_, MAV_CMD_DO_REPOSITION) => {
                // MAV_DO_REPOSITION_FLAGS_CHANGE_MODE: switch to GUIDED first.
                if self.ap.mode() != FlightMode::Guided
                    && (p2 as u32) & 1 != 0
                    && let Err(r) = self.ap.set_mode(FlightMode::Guided)
                {
                    return failed_if_err(Err(r));
                }
                let Some(place) = self.place(c) else {
                    return MavResult::MAV_RESULT_DENIED;
                };
                let speed = (p1 > 0.0).then_some(f64::from(p1));
                let r = self.ap.goto(place, speed);
                self.refusal_text(&r, out);
                failed_if_err(r)
            }
            (_, MAV_CMD_DO_ORBIT) => {
                let pos = self.ap.kin.pos;
                let radius = f64::from(p1);
                if !radius.is_finite() || radius == 0.0 {
                    return MavResult::MAV_RESULT_DENIED;
                }
                let speed = if p2.is_finite() && p2 != 0.0 {
                    f64::from(p2)
                } else {
                    5.0
                };
                let center = self
                    .latlon(c)
                    .map_or((pos.e, pos.n), |(lat, lon)| self.frame.to_local(lat, lon));
                let alt_m = self.alt_rel(c).unwrap_or(pos.u);
                let r = self.ap.orbit(Orbit {
                    center,
                    radius_m: radius.abs(),
                    clockwise: (radius > 0.0) == (speed > 0.0),
                    speed_mps: speed.abs(),
                    alt_m,
                    turns: (p4.is_finite() && p4 > 0.0).then_some(f64::from(p4)),
                });
                self.refusal_text(&r, out);
                failed_if_err(r)
            }
            (_, MAV_CMD_DO_SET_ROI_LOCATION) => {
                let Some((lat, lon)) = self.latlon(c) else {
                    return MavResult::MAV_RESULT_DENIED;
                };
                let (e, n) = self.frame.to_local(lat, lon);
                let u = self.alt_rel(c).unwrap_or(0.0);
                self.ap.set_roi(Some(Enu::new(e, n, u)));
                MavResult::MAV_RESULT_ACCEPTED
            }
            (_, MAV_CMD_DO_SET_ROI_NONE) => {
                self.ap.set_roi(None);
                MavResult::MAV_RESULT_ACCEPTED
            }
            (_, MAV_CMD_MISSION_START) => {
                let r = self.ap.start_mission(p1.max(0.0) as u16);
                self.refusal_text(&r, out);
                self.flush_events(out);
                failed_if_err(r)
            }
            (_, MAV_CMD_DO_FENCE_ENABLE) => {
                self.ap.fence.enabled = p1 >= 0.5;
                MavResult::MAV_RESULT_ACCEPTED
            }
            _ => MavResult::MAV_RESULT_UNSUPPORTED,
        }
    }

    /// Which component sends `msgid` when `component` is asked for it.
    fn stream_component(&self, component: u8, msgid: u32) -> u8 {
        if msgid == HEARTBEAT_DATA::ID {
            return component;
        }
        self.streams
            .iter()
            .find(|s| s.msgid == msgid)
            .map_or(component, |s| s.component_id)
    }

    /// Turns the autopilot's events into messages.
    fn flush_events(&mut self, out: &mut Vec<Outgoing>) {
        for event in self.ap.drain_events() {
            let message = match event {
                Event::Text(severity, text) => statustext(severity, &text),
                Event::ItemReached(seq) => {
                    MavMessage::MISSION_ITEM_REACHED(MISSION_ITEM_REACHED_DATA { seq })
                }
                Event::CurrentChanged(_) => self.mission_current(),
            };
            out.push(autopilot(message));
        }
    }

    /// ArduPilot reports refused guided commands in a STATUSTEXT too.
    fn refusal_text(&self, r: &Result<(), Refusal>, out: &mut Vec<Outgoing>) {
        if let Err(e) = r {
            out.push(autopilot(statustext(Severity::Warning, e.reason)));
        }
    }

    fn set_mode(&mut self, custom_mode: u32, out: &mut Vec<Outgoing>) -> MavResult {
        let Some(mode) = FlightMode::from_custom_mode(custom_mode) else {
            out.push(autopilot(statustext(
                Severity::Warning,
                &format!("Mode {custom_mode} not available in this simulator"),
            )));
            return MavResult::MAV_RESULT_FAILED;
        };
        let r = self.ap.set_mode(mode);
        self.flush_events(out);
        failed_if_err(r)
    }

    fn latlon(&self, c: &Command) -> Option<(f64, f64)> {
        let (lat, lon) = match c.int_frame {
            Some(_) => {
                if c.p5 as i64 == i64::from(i32::MAX) || c.p6 as i64 == i64::from(i32::MAX) {
                    return None;
                }
                (c.p5 / 1e7, c.p6 / 1e7)
            }
            None => (c.p5, c.p6),
        };
        if !(lat.is_finite() && lon.is_finite()) || (lat == 0.0 && lon == 0.0) {
            return None;
        }
        if lat.abs() > 90.0 || lon.abs() > 180.0 {
            return None;
        }
        Some((lat, lon))
    }

    /// Height above home from a command's altitude and frame.
    fn alt_rel(&self, c: &Command) -> Option<f64> {
        let z = f64::from(c.p7);
        if !z.is_finite() {
            return None;
        }
        Some(match c.int_frame.map(|f| f as u32) {
            // MAV_FRAME_GLOBAL(_INT): above mean sea level.
            Some(0) | Some(5) => z - self.config.home_alt_amsl_m,
            _ => z,
        })
    }

    fn place(&self, c: &Command) -> Option<Place> {
        let en = match self.latlon(c) {
            Some((lat, lon)) => Some(self.frame.to_local(lat, lon)),
            None if c.p5 == 0.0 && c.p6 == 0.0 => None,
            None => return None,
        };
        let up_m = self.alt_rel(c).unwrap_or(self.ap.kin.pos.u);
        Some(Place { en, up_m })
    }

    /// SET_POSITION_TARGET_GLOBAL_INT: a position, or a velocity when the
    /// position is masked out. Ignored outside GUIDED, as on ArduCopter.
    fn position_target(&mut self, t: &SET_POSITION_TARGET_GLOBAL_INT_DATA) {
        let mask = t.type_mask.bits();
        let pos_ignored = mask & 0b111 == 0b111;
        let vel_ignored = mask & 0b111000 == 0b111000;
        if !pos_ignored {
            let (e, n) = self
                .frame
                .to_local(f64::from(t.lat_int) / 1e7, f64::from(t.lon_int) / 1e7);
            let up_m = match t.coordinate_frame as u32 {
                0 | 5 => f64::from(t.alt) - self.config.home_alt_amsl_m,
                _ => f64::from(t.alt),
            };
            let _ = self.ap.goto(
                Place {
                    en: Some((e, n)),
                    up_m,
                },
                None,
            );
        } else if !vel_ignored {
            // NED velocity to ENU.
            let _ = self
                .ap
                .velocity(Enu::new(f64::from(t.vy), f64::from(t.vx), -f64::from(t.vz)));
        }
    }

    // ---- mission protocol, vehicle side ----

    fn stored(&self, t: MavMissionType) -> Option<&Vec<MISSION_ITEM_INT_DATA>> {
        match t {
            MavMissionType::MAV_MISSION_TYPE_MISSION => Some(&self.mission_items),
            MavMissionType::MAV_MISSION_TYPE_FENCE => Some(&self.fence_items),
            _ => None,
        }
    }

    fn mission_count(
        &mut self,
        now: Instant,
        from: (u8, u8),
        m: &MISSION_COUNT_DATA,
        out: &mut Vec<Outgoing>,
    ) {
        let t = m.mission_type;
        let max = match t {
            MavMissionType::MAV_MISSION_TYPE_MISSION => MAX_MISSION_ITEMS,
            MavMissionType::MAV_MISSION_TYPE_FENCE => MAX_FENCE_ITEMS,
            _ => {
                out.push(mission_ack(
                    from,
                    t,
                    MavMissionResult::MAV_MISSION_UNSUPPORTED,
                ));
                return;
            }
        };
        if m.count > max {
            out.push(mission_ack(from, t, MavMissionResult::MAV_MISSION_NO_SPACE));
            return;
        }
        // A new MISSION_COUNT restarts any upload in progress.
        self.upload = Some(Upload {
            mission_type: t,
            count: m.count,
            items: Vec::with_capacity(usize::from(m.count)),
            from,
            retry_at: now + MISSION_RETRY,
            retries: 0,
        });
        if m.count == 0 {
            self.finish_upload(from, out);
        } else {
            out.push(request_item(from, 0, t));
        }
    }

    fn mission_item(
        &mut self,
        now: Instant,
        from: (u8, u8),
        item: MISSION_ITEM_INT_DATA,
        out: &mut Vec<Outgoing>,
    ) {
        let Some(up) = self.upload.as_mut() else {
            // No upload in progress: a late duplicate. ArduPilot ignores it.
            self.stats.mission_items_ignored += 1;
            return;
        };
        if item.mission_type != up.mission_type || from != up.from {
            self.stats.mission_items_ignored += 1;
            return;
        }
        let expected = up.items.len() as u16;
        if item.seq != expected {
            // A repeat of an item we have, or one from the future: ignore
            // it and ask again for the one we need.
            self.stats.mission_items_ignored += 1;
            out.push(request_item(from, expected, up.mission_type));
            up.retry_at = now + MISSION_RETRY;
            return;
        }
        up.items.push(item);
        up.retries = 0;
        up.retry_at = now + MISSION_RETRY;
        if up.items.len() == usize::from(up.count) {
            self.finish_upload(from, out);
        } else {
            out.push(request_item(from, expected + 1, up.mission_type));
        }
    }

    fn upload_retry(&mut self, now: Instant, out: &mut Vec<Outgoing>) {
        let Some(up) = self.upload.as_mut() else {
            return;
        };
        if now < up.retry_at {
            return;
        }
        if up.retries >= MISSION_MAX_RETRIES {
            out.push(mission_ack(
                up.from,
                up.mission_type,
                MavMissionResult::MAV_MISSION_OPERATION_CANCELLED,
            ));
            out.push(autopilot(statustext(
                Severity::Warning,
                "Mission upload timed out",
            )));
            self.upload = None;
            self.stats.uploads_timed_out += 1;
            return;
        }
        up.retries += 1;
        up.retry_at = now + MISSION_RETRY;
        out.push(request_item(
            up.from,
            up.items.len() as u16,
            up.mission_type,
        ));
    }

    fn finish_upload(&mut self, from: (u8, u8), out: &mut Vec<Outgoing>) {
        let Some(up) = self.upload.take() else { return };
        let t = up.mission_type;
        let result = match t {
            MavMissionType::MAV_MISSION_TYPE_FENCE => self.fence_zones(&up.items).map(|zones| {
                self.ap.set_fence(zones);
                self.fence_items = up.items;
            }),
            _ => self.mission_commands(&up.items).map(|commands| {
                self.ap.set_mission(commands);
                self.mission_items = up.items;
            }),
        };
        self.flush_events(out);
        let code = result
            .err()
            .unwrap_or(MavMissionResult::MAV_MISSION_ACCEPTED);
        out.push(mission_ack(from, t, code));
        if code == MavMissionResult::MAV_MISSION_ACCEPTED {
            let what = if t == MavMissionType::MAV_MISSION_TYPE_FENCE {
                "Fence"
            } else {
                "Mission"
            };
            out.push(autopilot(statustext(
                Severity::Info,
                &format!("{what} received: {} items", up.count),
            )));
            if t == MavMissionType::MAV_MISSION_TYPE_MISSION {
                out.push(autopilot(self.mission_current()));
            }
        }
    }

    /// Converts uploaded items into mission commands.
    fn mission_commands(
        &self,
        items: &[MISSION_ITEM_INT_DATA],
    ) -> Result<Vec<MissionCommand>, MavMissionResult> {
        use MavCmd::*;
        let mut out = Vec::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            if i == 0 {
                // Item 0 is home on ArduPilot, whatever was sent.
                out.push(MissionCommand::Home);
                continue;
            }
            let place = || self.item_place(it);
            let cmd = match it.command {
                MAV_CMD_NAV_WAYPOINT => MissionCommand::Waypoint {
                    place: place()?,
                    hold_s: f64::from(it.param1.max(0.0)),
                },
                MAV_CMD_NAV_LOITER_TIME => MissionCommand::LoiterTime {
                    place: place()?,
                    time_s: f64::from(it.param1.max(0.0)),
                },
                MAV_CMD_NAV_LOITER_UNLIM => MissionCommand::LoiterUnlimited { place: place()? },
                MAV_CMD_NAV_TAKEOFF => MissionCommand::Takeoff {
                    alt_m: place()?.up_m,
                },
                MAV_CMD_NAV_RETURN_TO_LAUNCH => MissionCommand::ReturnToLaunch,
                MAV_CMD_NAV_LAND => MissionCommand::Land { place: place()? },
                MAV_CMD_DO_CHANGE_SPEED => MissionCommand::ChangeSpeed {
                    speed_mps: f64::from(it.param2),
                },
                MAV_CMD_DO_SET_ROI_LOCATION => {
                    let p = place()?;
                    MissionCommand::SetRoi {
                        target: p.en.map(|(e, n)| Enu::new(e, n, p.up_m)),
                    }
                }
                MAV_CMD_DO_SET_ROI_NONE => MissionCommand::SetRoi { target: None },
                MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW => MissionCommand::GimbalPitchYaw {
                    pitch_deg: f64::from(it.param1),
                    yaw_deg: f64::from(it.param2),
                },
                _ => MissionCommand::Skip,
            };
            out.push(cmd);
        }
        Ok(out)
    }

    /// The place of a positional mission item.
    fn item_place(&self, it: &MISSION_ITEM_INT_DATA) -> Result<Place, MavMissionResult> {
        let amsl = match it.frame as u32 {
            0 | 5 => true,
            3 | 6 | 10 | 11 => false,
            _ => return Err(MavMissionResult::MAV_MISSION_UNSUPPORTED_FRAME),
        };
        let (lat, lon) = (f64::from(it.x) / 1e7, f64::from(it.y) / 1e7);
        if lat.abs() > 90.0 {
            return Err(MavMissionResult::MAV_MISSION_INVALID_PARAM5_X);
        }
        if lon.abs() > 180.0 {
            return Err(MavMissionResult::MAV_MISSION_INVALID_PARAM6_Y);
        }
        let en = (it.x != 0 || it.y != 0).then(|| self.frame.to_local(lat, lon));
        let z = f64::from(it.z);
        let up_m = if amsl {
            z - self.config.home_alt_amsl_m
        } else {
            z
        };
        Ok(Place { en, up_m })
    }

    /// Converts uploaded fence items into zones.
    fn fence_zones(&self, items: &[MISSION_ITEM_INT_DATA]) -> Result<Vec<Zone>, MavMissionResult> {
        use MavCmd::*;
        let mut zones = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let it = &items[i];
            let en = self
                .frame
                .to_local(f64::from(it.x) / 1e7, f64::from(it.y) / 1e7);
            match it.command {
                MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
                | MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION => {
                    let n = it.param1 as usize;
                    if n < 3 || i + n > items.len() {
                        return Err(MavMissionResult::MAV_MISSION_INVALID_PARAM1);
                    }
                    let mut vertices = Vec::with_capacity(n);
                    for v in &items[i..i + n] {
                        if v.command != it.command || v.param1 as usize != n {
                            return Err(MavMissionResult::MAV_MISSION_INVALID_PARAM1);
                        }
                        vertices.push(
                            self.frame
                                .to_local(f64::from(v.x) / 1e7, f64::from(v.y) / 1e7),
                        );
                    }
                    zones.push(Zone::Polygon {
                        inclusion: it.command == MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                        vertices,
                    });
                    i += n;
                    continue;
                }
                MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION | MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION => {
                    if !(it.param1.is_finite() && it.param1 > 0.0) {
                        return Err(MavMissionResult::MAV_MISSION_INVALID_PARAM1);
                    }
                    zones.push(Zone::Circle {
                        inclusion: it.command == MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
                        center: en,
                        radius_m: f64::from(it.param1),
                    });
                }
                MAV_CMD_NAV_FENCE_RETURN_POINT => {}
                _ => return Err(MavMissionResult::MAV_MISSION_UNSUPPORTED),
            }
            i += 1;
        }
        Ok(zones)
    }

    /// MISSION_ITEM (floats) as MISSION_ITEM_INT.
    #[allow(deprecated)]
    fn item_from_float(&self, m: &MISSION_ITEM_DATA) -> MISSION_ITEM_INT_DATA {
        let global = matches!(m.frame as u32, 0 | 3 | 5 | 6 | 10 | 11);
        let scale = if global { 1e7 } else { 1.0 };
        MISSION_ITEM_INT_DATA {
            param1: m.param1,
            param2: m.param2,
            param3: m.param3,
            param4: m.param4,
            x: (f64::from(m.x) * scale).round() as i32,
            y: (f64::from(m.y) * scale).round() as i32,
            z: m.z,
            seq: m.seq,
            command: m.command,
            target_system: m.target_system,
            target_component: m.target_component,
            frame: m.frame,
            current: m.current,
            autocontinue: m.autocontinue,
            mission_type: m.mission_type,
        }
    }

    /// One item for a download, as MISSION_ITEM_INT or (deprecated
    /// MISSION_REQUEST) MISSION_ITEM; item 0 of a mission is home.
    #[allow(deprecated)]
    fn download_item(&self, to: (u8, u8), seq: u16, t: MavMissionType, int: bool) -> Outgoing {
        let Some(mut item) = self
            .stored(t)
            .and_then(|v| v.get(usize::from(seq)))
            .cloned()
        else {
            return mission_ack(to, t, MavMissionResult::MAV_MISSION_INVALID_SEQUENCE);
        };
        if seq == 0 && t == MavMissionType::MAV_MISSION_TYPE_MISSION {
            item.command = MavCmd::MAV_CMD_NAV_WAYPOINT;
            item.frame = MavFrame::MAV_FRAME_GLOBAL;
            item.x = (self.config.home_lat_deg * 1e7).round() as i32;
            item.y = (self.config.home_lon_deg * 1e7).round() as i32;
            item.z = self.config.home_alt_amsl_m as f32;
        }
        item.target_system = to.0;
        item.target_component = to.1;
        item.current = u8::from(
            t == MavMissionType::MAV_MISSION_TYPE_MISSION && seq == self.ap.mission_current(),
        );
        if int {
            return autopilot(MavMessage::MISSION_ITEM_INT(item));
        }
        let global = matches!(item.frame as u32, 0 | 3 | 5 | 6 | 10 | 11);
        let scale = if global { 1e7 } else { 1.0 };
        autopilot(MavMessage::MISSION_ITEM(MISSION_ITEM_DATA {
            param1: item.param1,
            param2: item.param2,
            param3: item.param3,
            param4: item.param4,
            x: (f64::from(item.x) / scale) as f32,
            y: (f64::from(item.y) / scale) as f32,
            z: item.z,
            seq: item.seq,
            command: item.command,
            target_system: item.target_system,
            target_component: item.target_component,
            frame: item.frame,
            current: item.current,
            autocontinue: item.autocontinue,
            mission_type: item.mission_type,
        }))
    }

    // ---- telemetry ----

    fn mission_current(&self) -> MavMessage {
        let len = self.ap.mission_len();
        MavMessage::MISSION_CURRENT(MISSION_CURRENT_DATA {
            seq: self.ap.mission_current(),
            total: if len >= 2 { len - 1 } else { u16::MAX },
            mission_state: match self.ap.mission_progress() {
                MissionProgress::NoMission => MissionState::MISSION_STATE_NO_MISSION,
                MissionProgress::NotStarted => MissionState::MISSION_STATE_NOT_STARTED,
                MissionProgress::Active => MissionState::MISSION_STATE_ACTIVE,
                MissionProgress::Paused => MissionState::MISSION_STATE_PAUSED,
                MissionProgress::Complete => MissionState::MISSION_STATE_COMPLETE,
            },
            mission_mode: if self.ap.mode() == FlightMode::Auto {
                1
            } else {
                2
            },
            ..Default::default()
        })
    }

    /// Builds message `msgid` as component `component` would send it;
    /// `index` selects an instance (video stream id, or the message id
    /// asked about for MESSAGE_INTERVAL).
    pub fn build(&self, now: Instant, component: u8, msgid: u32, index: i64) -> Option<Outgoing> {
        let ap = &self.ap;
        let k = &ap.kin;
        let t_ms = self.time_boot_ms(now);
        let (lat, lon) = self.frame.to_wgs84(k.pos.e, k.pos.n);
        let lat_e7 = (lat * 1e7).round() as i32;
        let lon_e7 = (lon * 1e7).round() as i32;
        let alt_amsl_m = self.config.home_alt_amsl_m + k.pos.u;
        let message = match (component, msgid) {
            (AUTOPILOT_COMPONENT, HEARTBEAT_DATA::ID) => MavMessage::HEARTBEAT(self.heartbeat()),
            (CAMERA_COMPONENT, HEARTBEAT_DATA::ID) => MavMessage::HEARTBEAT(HEARTBEAT_DATA {
                custom_mode: 0,
                mavtype: MavType::MAV_TYPE_CAMERA,
                autopilot: MavAutopilot::MAV_AUTOPILOT_INVALID,
                base_mode: MavModeFlag::empty(),
                system_status: MavState::MAV_STATE_ACTIVE,
                mavlink_version: 3,
            }),
            (AUTOPILOT_COMPONENT, GLOBAL_POSITION_INT_DATA::ID) => {
                MavMessage::GLOBAL_POSITION_INT(GLOBAL_POSITION_INT_DATA {
                    time_boot_ms: t_ms,
                    lat: lat_e7,
                    lon: lon_e7,
                    alt: (alt_amsl_m * 1000.0).round() as i32,
                    relative_alt: (k.pos.u * 1000.0).round() as i32,
                    vx: (k.vel.n * 100.0).round() as i16,
                    vy: (k.vel.e * 100.0).round() as i16,
                    vz: (-k.vel.u * 100.0).round() as i16,
                    hdg: (k.yaw_deg * 100.0).round() as u16 % 36000,
                })
            }
            (AUTOPILOT_COMPONENT, ATTITUDE_DATA::ID) => MavMessage::ATTITUDE(ATTITUDE_DATA {
                time_boot_ms: t_ms,
                roll: k.roll_rad() as f32,
                pitch: k.pitch_rad() as f32,
                yaw: super::physics::wrap_180(k.yaw_deg).to_radians() as f32,
                rollspeed: 0.0,
                pitchspeed: 0.0,
                yawspeed: k.yaw_rate_dps.to_radians() as f32,
            }),
            (AUTOPILOT_COMPONENT, VFR_HUD_DATA::ID) => MavMessage::VFR_HUD(VFR_HUD_DATA {
                airspeed: k.vel.horizontal_len() as f32,
                groundspeed: k.vel.horizontal_len() as f32,
                alt: alt_amsl_m as f32,
                climb: k.vel.u as f32,
                heading: k.yaw_deg.round() as i16 % 360,
                throttle: if ap.flying() { 45 } else { 0 },
            }),
            (AUTOPILOT_COMPONENT, SYS_STATUS_DATA::ID) => MavMessage::SYS_STATUS(self.sys_status()),
            (AUTOPILOT_COMPONENT, BATTERY_STATUS_DATA::ID) => {
                MavMessage::BATTERY_STATUS(self.battery_status())
            }
            (AUTOPILOT_COMPONENT, GPS_RAW_INT_DATA::ID) => MavMessage::GPS_RAW_INT(GPS_RAW_INT_DATA {
                time_usec: u64::from(t_ms) * 1000,
                lat: if ap.gps_fix { lat_e7 } else { 0 },
                lon: if ap.gps_fix { lon_e7 } else { 0 },
                alt: (alt_amsl_m * 1000.0).round() as i32,
                eph: if ap.gps_fix { 70 } else { u16::MAX },
                epv: if ap.gps_fix { 110 } else { u16::MAX },
                vel: (k.vel.horizontal_len() * 100.0).round() as u16,
                cog: (super::physics::wrap_360(k.vel.e.atan2(k.vel.n).to_degrees()) * 100.0).round() as u16
                    % 36000,
                fix_type: if ap.gps_fix {
                    GpsFixType::GPS_FIX_TYPE_3D_FIX
                } else {
                    GpsFixType::GPS_FIX_TYPE_NO_FIX
                },
                satellites_visible: if ap.gps_fix { 16 } else { 0 },
                ..Default::default()
            }),
            (AUTOPILOT_COMPONENT, HOME_POSITION_DATA::ID) => MavMessage::HOME_POSITION(HOME_POSITION_DATA {
                latitude: (self.config.home_lat_deg * 1e7).round() as i32,
                longitude: (self.config.home_lon_deg * 1e7).round() as i32,
                altitude: (self.config.home_alt_amsl_m * 1000.0).round() as i32,
                q: [1.0, 0.0, 0.0, 0.0],
                time_usec: u64::from(t_ms) * 1000,
                ..Default::default()
            }),
            (AUTOPILOT_COMPONENT, EXTENDED_SYS_STATE_DATA::ID) => {
                MavMessage::EXTENDED_SYS_STATE(EXTENDED_SYS_STATE_DATA {
                    vtol_state: MavVtolState::MAV_VTOL_STATE_UNDEFINED,
                    landed_state: if !ap.armed() || k.on_ground() {
                        MavLandedState::MAV_LANDED_STATE_ON_GROUND
                    } else if k.vel.u > 0.3 && k.pos.u < 5.0 {
                        MavLandedState::MAV_LANDED_STATE_TAKEOFF
                    } else if k.vel.u < -0.3 && k.pos.u < 5.0 {
                        MavLandedState::MAV_LANDED_STATE_LANDING
                    } else {
                        MavLandedState::MAV_LANDED_STATE_IN_AIR
                    },
                })
            }
            (AUTOPILOT_COMPONENT, MISSION_CURRENT_DATA::ID) => self.mission_current(),
            (AUTOPILOT_COMPONENT, AUTOPILOT_VERSION_DATA::ID) => {
                MavMessage::AUTOPILOT_VERSION(AUTOPILOT_VERSION_DATA {
                    capabilities: MavProtocolCapability::MAV_PROTOCOL_CAPABILITY_MISSION_FLOAT
                        | MavProtocolCapability::MAV_PROTOCOL_CAPABILITY_MISSION_INT
                        | MavProtocolCapability::MAV_PROTOCOL_CAPABILITY_COMMAND_INT
                        | MavProtocolCapability::MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_GLOBAL_INT
                        | MavProtocolCapability::MAV_PROTOCOL_CAPABILITY_MAVLINK2
                        | MavProtocolCapability::MAV_PROTOCOL_CAPABILITY_MISSION_FENCE
                        | MavProtocolCapability::MAV_PROTOCOL_CAPABILITY_COMPONENT_IMPLEMENTS_GIMBAL_MANAGER,
                    uid: u64::from(self.config.system_id),
                    flight_sw_version: FLIGHT_SW_VERSION,
                    ..Default::default()
                })
            }
            (AUTOPILOT_COMPONENT, GIMBAL_DEVICE_ATTITUDE_STATUS_DATA::ID) => {
                let g = &ap.gimbal;
                MavMessage::GIMBAL_DEVICE_ATTITUDE_STATUS(GIMBAL_DEVICE_ATTITUDE_STATUS_DATA {
                    time_boot_ms: t_ms,
                    q: quaternion(0.0, g.pitch_deg.to_radians(), g.yaw_earth_deg.to_radians()),
                    angular_velocity_x: f32::NAN,
                    angular_velocity_y: f32::NAN,
                    angular_velocity_z: f32::NAN,
                    failure_flags: GimbalDeviceErrorFlags::empty(),
                    flags: GimbalDeviceFlags::GIMBAL_DEVICE_FLAGS_ROLL_LOCK
                        | GimbalDeviceFlags::GIMBAL_DEVICE_FLAGS_PITCH_LOCK
                        | GimbalDeviceFlags::GIMBAL_DEVICE_FLAGS_YAW_LOCK
                        | GimbalDeviceFlags::GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME,
                    target_system: 0,
                    target_component: 0,
                    delta_yaw: super::physics::wrap_180(g.yaw_earth_deg - k.yaw_deg).to_radians() as f32,
                    delta_yaw_velocity: f32::NAN,
                    gimbal_device_id: 1,
                })
            }
            (CAMERA_COMPONENT, CAMERA_INFORMATION_DATA::ID) => {
                let cam = &self.config.camera;
                // A 1/2.3" sensor; focal length from the field of view.
                let sensor_h_mm = 6.17_f64;
                let sensor_v_mm = 4.55_f64;
                let focal_mm = sensor_h_mm / 2.0 / (cam.hfov_deg.to_radians() / 2.0).tan();
                MavMessage::CAMERA_INFORMATION(CAMERA_INFORMATION_DATA {
                    time_boot_ms: t_ms,
                    firmware_version: 1,
                    focal_length: focal_mm as f32,
                    sensor_size_h: sensor_h_mm as f32,
                    sensor_size_v: sensor_v_mm as f32,
                    flags: CameraCapFlags::CAMERA_CAP_FLAGS_CAPTURE_VIDEO
                        | CameraCapFlags::CAMERA_CAP_FLAGS_CAPTURE_IMAGE
                        | CameraCapFlags::CAMERA_CAP_FLAGS_HAS_VIDEO_STREAM,
                    resolution_h: cam.resolution_h,
                    resolution_v: cam.resolution_v,
                    cam_definition_version: 0,
                    vendor_name: fixed_bytes("Vigie"),
                    model_name: fixed_bytes("SimCam"),
                    lens_id: 0,
                    cam_definition_uri: "".into(),
                    gimbal_device_id: 1,
                    camera_device_id: 0,
                })
            }
            (CAMERA_COMPONENT, CAMERA_FOV_STATUS_DATA::ID) => MavMessage::CAMERA_FOV_STATUS(self.fov_status(t_ms)),
            (CAMERA_COMPONENT, VIDEO_STREAM_INFORMATION_DATA::ID) => {
                if !(index == 0 || index == 1) {
                    return None;
                }
                let cam = &self.config.camera;
                MavMessage::VIDEO_STREAM_INFORMATION(VIDEO_STREAM_INFORMATION_DATA {
                    framerate: 30.0,
                    bitrate: 4_000_000,
                    flags: VideoStreamStatusFlags::VIDEO_STREAM_STATUS_FLAGS_RUNNING,
                    resolution_h: cam.resolution_h,
                    resolution_v: cam.resolution_v,
                    rotation: 0,
                    hfov: cam.hfov_deg.round() as u16,
                    stream_id: 1,
                    count: 1,
                    mavtype: VideoStreamType::VIDEO_STREAM_TYPE_RTSP,
                    name: "Simulated camera".into(),
                    uri: cam.stream_uri.as_str().into(),
                    encoding: VideoStreamEncoding::VIDEO_STREAM_ENCODING_H264,
                    camera_device_id: 0,
                })
            }
            (_, MESSAGE_INTERVAL_DATA::ID) => {
                let asked = u32::try_from(index).ok()?;
                let comp = self.stream_component(component, asked);
                let s = self.streams.iter().find(|s| s.component_id == comp && s.msgid == asked);
                MavMessage::MESSAGE_INTERVAL(MESSAGE_INTERVAL_DATA {
                    interval_us: match s {
                        None => 0,
                        Some(s) => s.interval.map_or(-1, |i| i.as_micros() as i32),
                    },
                    message_id: asked as u16,
                })
            }
            _ => return None,
        };
        Some(Outgoing {
            component_id: component,
            message,
        })
    }

    fn heartbeat(&self) -> HEARTBEAT_DATA {
        let ap = &self.ap;
        let mut base = MavModeFlag::MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
            | MavModeFlag::MAV_MODE_FLAG_STABILIZE_ENABLED
            | MavModeFlag::MAV_MODE_FLAG_MANUAL_INPUT_ENABLED;
        if ap.mode() != FlightMode::Stabilize {
            base |= MavModeFlag::MAV_MODE_FLAG_GUIDED_ENABLED;
        }
        if ap.armed() {
            base |= MavModeFlag::MAV_MODE_FLAG_SAFETY_ARMED;
        }
        let critical = ap.armed()
            && (ap.battery.remaining_pct() <= ap.config.battery_reserve_pct
                || ap
                    .fence
                    .check(ap.kin.pos.e, ap.kin.pos.n, ap.kin.pos.u)
                    .is_some());
        HEARTBEAT_DATA {
            custom_mode: ap.mode().custom_mode(),
            mavtype: MavType::MAV_TYPE_QUADROTOR,
            autopilot: MavAutopilot::MAV_AUTOPILOT_ARDUPILOTMEGA,
            base_mode: base,
            system_status: if critical {
                MavState::MAV_STATE_CRITICAL
            } else if ap.armed() {
                MavState::MAV_STATE_ACTIVE
            } else {
                MavState::MAV_STATE_STANDBY
            },
            mavlink_version: 3,
        }
    }

    fn sys_status(&self) -> SYS_STATUS_DATA {
        use MavSysStatusSensor as S;
        let ap = &self.ap;
        let mut present = S::MAV_SYS_STATUS_SENSOR_3D_GYRO
            | S::MAV_SYS_STATUS_SENSOR_3D_ACCEL
            | S::MAV_SYS_STATUS_SENSOR_3D_MAG
            | S::MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
            | S::MAV_SYS_STATUS_SENSOR_GPS
            | S::MAV_SYS_STATUS_SENSOR_ANGULAR_RATE_CONTROL
            | S::MAV_SYS_STATUS_SENSOR_ATTITUDE_STABILIZATION
            | S::MAV_SYS_STATUS_SENSOR_YAW_POSITION
            | S::MAV_SYS_STATUS_SENSOR_Z_ALTITUDE_CONTROL
            | S::MAV_SYS_STATUS_SENSOR_XY_POSITION_CONTROL
            | S::MAV_SYS_STATUS_SENSOR_MOTOR_OUTPUTS
            | S::MAV_SYS_STATUS_AHRS
            | S::MAV_SYS_STATUS_SENSOR_BATTERY
            | S::MAV_SYS_STATUS_PREARM_CHECK;
        if !ap.fence.zones.is_empty() {
            present |= S::MAV_SYS_STATUS_GEOFENCE;
        }
        let mut enabled = present;
        if !ap.fence.enabled {
            enabled.remove(S::MAV_SYS_STATUS_GEOFENCE);
        }
        let mut health = present;
        if !ap.gps_fix {
            health.remove(S::MAV_SYS_STATUS_SENSOR_GPS | S::MAV_SYS_STATUS_PREARM_CHECK);
        }
        if ap
            .fence
            .check(ap.kin.pos.e, ap.kin.pos.n, ap.kin.pos.u)
            .is_some()
        {
            health.remove(S::MAV_SYS_STATUS_GEOFENCE);
        }
        if ap.battery.remaining_pct() <= ap.config.battery_reserve_pct {
            health.remove(S::MAV_SYS_STATUS_SENSOR_BATTERY | S::MAV_SYS_STATUS_PREARM_CHECK);
        }
        SYS_STATUS_DATA {
            onboard_control_sensors_present: present,
            onboard_control_sensors_enabled: enabled,
            onboard_control_sensors_health: health,
            load: 200,
            voltage_battery: (ap.battery.voltage_v() * 1000.0).round() as u16,
            current_battery: (ap.battery.current_a * 100.0).round() as i16,
            battery_remaining: ap.battery.remaining_pct().round() as i8,
            ..Default::default()
        }
    }

    fn battery_status(&self) -> BATTERY_STATUS_DATA {
        let ap = &self.ap;
        let b = &ap.battery;
        let cells = usize::from(b.config.cells).min(10);
        let cell_mv = (b.voltage_v() / b.config.cells.max(1) as f64 * 1000.0).round() as u16;
        let mut voltages = [u16::MAX; 10];
        for v in voltages.iter_mut().take(cells) {
            *v = cell_mv;
        }
        let pct = b.remaining_pct();
        BATTERY_STATUS_DATA {
            current_consumed: b.consumed_mah.round() as i32,
            energy_consumed: -1,
            temperature: i16::MAX,
            voltages,
            current_battery: (b.current_a * 100.0).round() as i16,
            id: 0,
            battery_function: MavBatteryFunction::MAV_BATTERY_FUNCTION_ALL,
            mavtype: MavBatteryType::MAV_BATTERY_TYPE_LIPO,
            battery_remaining: pct.round() as i8,
            time_remaining: b.time_remaining_s().round() as i32,
            charge_state: if pct <= ap.config.battery_critical_pct {
                MavBatteryChargeState::MAV_BATTERY_CHARGE_STATE_CRITICAL
            } else if pct <= ap.config.battery_reserve_pct {
                MavBatteryChargeState::MAV_BATTERY_CHARGE_STATE_LOW
            } else {
                MavBatteryChargeState::MAV_BATTERY_CHARGE_STATE_OK
            },
            voltages_ext: [0; 4],
            mode: MavBatteryMode::MAV_BATTERY_MODE_UNKNOWN,
            fault_bitmask: MavBatteryFault::empty(),
        }
    }

    /// CAMERA_FOV_STATUS: where the camera is, where its optical axis meets
    /// the ground (flat at home altitude), its attitude and field of view.
    fn fov_status(&self, t_ms: u32) -> CAMERA_FOV_STATUS_DATA {
        let k = &self.ap.kin;
        let g = &self.ap.gimbal;
        let cam = &self.config.camera;
        let (lat, lon) = self.frame.to_wgs84(k.pos.e, k.pos.n);
        let alt_cam_mm = ((self.config.home_alt_amsl_m + k.pos.u) * 1000.0).round() as i32;
        let down = -g.pitch_deg;
        let (lat_image, lon_image, alt_image) = if down > 0.5 && k.pos.u > 0.0 {
            let dist = k.pos.u / down.to_radians().tan();
            let (s, c) = g.yaw_earth_deg.to_radians().sin_cos();
            let (ilat, ilon) = self.frame.to_wgs84(k.pos.e + dist * s, k.pos.n + dist * c);
            (
                (ilat * 1e7).round() as i32,
                (ilon * 1e7).round() as i32,
                (self.config.home_alt_amsl_m * 1000.0).round() as i32,
            )
        } else {
            // Looking at or above the horizon: no intersection.
            (i32::MAX, i32::MAX, i32::MAX)
        };
        CAMERA_FOV_STATUS_DATA {
            time_boot_ms: t_ms,
            lat_camera: (lat * 1e7).round() as i32,
            lon_camera: (lon * 1e7).round() as i32,
            alt_camera: alt_cam_mm,
            lat_image,
            lon_image,
            alt_image,
            q: quaternion(0.0, g.pitch_deg.to_radians(), g.yaw_earth_deg.to_radians()),
            hfov: cam.hfov_deg as f32,
            vfov: cam.vfov_deg as f32,
            ..Default::default()
        }
    }
}

/// A command's parameters, from COMMAND_LONG or COMMAND_INT.
#[derive(Debug, Clone, Copy)]
struct Command {
    /// The command.
    command: MavCmd,
    /// Parameters 1 to 4.
    params: [f32; 4],
    /// Parameter 5 (COMMAND_INT: x, latitude × 1e7).
    p5: f64,
    /// Parameter 6 (COMMAND_INT: y, longitude × 1e7).
    p6: f64,
    /// Parameter 7 (altitude).
    p7: f32,
    /// The frame, for COMMAND_INT.
    int_frame: Option<MavFrame>,
}

fn autopilot(message: MavMessage) -> Outgoing {
    Outgoing {
        component_id: AUTOPILOT_COMPONENT,
        message,
    }
}

fn failed_if_err(r: Result<(), Refusal>) -> MavResult {
    match r {
        Ok(()) => MavResult::MAV_RESULT_ACCEPTED,
        Err(_) => MavResult::MAV_RESULT_FAILED,
    }
}

fn ack(command: MavCmd, result: MavResult, to: (u8, u8), component: u8) -> Outgoing {
    Outgoing {
        component_id: component,
        message: MavMessage::COMMAND_ACK(COMMAND_ACK_DATA {
            command,
            result,
            progress: 0,
            result_param2: 0,
            target_system: to.0,
            target_component: to.1,
        }),
    }
}

fn mission_ack(to: (u8, u8), mission_type: MavMissionType, result: MavMissionResult) -> Outgoing {
    autopilot(MavMessage::MISSION_ACK(MISSION_ACK_DATA {
        target_system: to.0,
        target_component: to.1,
        mavtype: result,
        mission_type,
        opaque_id: 0,
    }))
}

fn request_item(to: (u8, u8), seq: u16, mission_type: MavMissionType) -> Outgoing {
    autopilot(MavMessage::MISSION_REQUEST_INT(MISSION_REQUEST_INT_DATA {
        seq,
        target_system: to.0,
        target_component: to.1,
        mission_type,
    }))
}

fn statustext(severity: Severity, text: &str) -> MavMessage {
    MavMessage::STATUSTEXT(STATUSTEXT_DATA {
        severity: match severity {
            Severity::Critical => MavSeverity::MAV_SEVERITY_CRITICAL,
            Severity::Error => MavSeverity::MAV_SEVERITY_ERROR,
            Severity::Warning => MavSeverity::MAV_SEVERITY_WARNING,
            Severity::Info => MavSeverity::MAV_SEVERITY_INFO,
        },
        text: text.into(),
        id: 0,
        chunk_seq: 0,
    })
}

fn fixed_bytes<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let n = s.len().min(N);
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
    out
}

/// Quaternion (w, x, y, z) of roll, pitch, yaw (radians, NED, ZYX order).
pub fn quaternion(roll: f64, pitch: f64, yaw: f64) -> [f32; 4] {
    let (sr, cr) = (roll / 2.0).sin_cos();
    let (sp, cp) = (pitch / 2.0).sin_cos();
    let (sy, cy) = (yaw / 2.0).sin_cos();
    [
        (cr * cp * cy + sr * sp * sy) as f32,
        (sr * cp * cy - cr * sp * sy) as f32,
        (cr * sp * cy + sr * cp * sy) as f32,
        (cr * cp * sy - sr * sp * cy) as f32,
    ]
}
