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
//!
//! This file holds the state and the message dispatch; the rest is split by
//! protocol: `vehicle/commands.rs` (COMMAND_LONG/INT, modes, guided
//! targets), `vehicle/mission.rs` (the mission and fence protocol) and
//! `vehicle/telemetry.rs` (every message the vehicle sends on its own).

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
use commands::{Command, ack};
use mission::mission_ack;

mod commands;
mod mission;
mod telemetry;

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
}

fn autopilot(message: MavMessage) -> Outgoing {
    Outgoing {
        component_id: AUTOPILOT_COMPONENT,
        message,
    }
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
