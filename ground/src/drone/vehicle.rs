//! One vehicle's state as the ground knows it, updated message by message.
//!
//! Pure data and a pure update function: no clock reads, no I/O. `now` is
//! passed in so link loss and "last seen" work on virtual time.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use mavlink::dialects::ardupilotmega::{
    GpsFixType, MavAutopilot, MavMessage, MavModeFlag, MavState, MavType,
};
use vigie_protocols::api::{DroneTelemetry, Position, Unit, UnitKind, UnitStatus};

use super::modes;
use crate::coverage::footprint::{CameraPose, Rotation, ground_footprint};
use crate::fleet::LocalRing;
use crate::frame::LocalFrame;

/// STATUSTEXT lines kept per vehicle.
pub const STATUS_TEXTS_KEPT: usize = 10;

/// MAVLink component id of a vehicle's primary camera.
pub const COMP_CAMERA: u8 = 100;
/// MAVLink component id of a vehicle's autopilot.
pub const COMP_AUTOPILOT: u8 = 1;

/// A camera's field of view and range when the vehicle does not say.
pub const DEFAULT_HFOV_DEG: f64 = 70.0;
/// Vertical field of view used when only the horizontal one is known (16:9).
pub const DEFAULT_VFOV_RATIO: f64 = 9.0 / 16.0;
/// Range that bounds a footprint reaching the horizon, metres.
pub const FOOTPRINT_MAX_RANGE_M: f64 = 500.0;

/// Everything known about one vehicle.
#[derive(Debug, Clone)]
pub struct Vehicle {
    /// MAVLink system id.
    pub system_id: u8,
    /// Address the vehicle last sent from (replies go there).
    pub peer: SocketAddr,
    /// When the last autopilot HEARTBEAT arrived.
    pub last_heartbeat: Instant,
    /// The autopilot's component id: the one whose HEARTBEAT has an
    /// autopilot other than `MAV_AUTOPILOT_INVALID` (normally 1). Commands
    /// and transfers go to it; other components' heartbeats (companion
    /// computers, gimbals, cameras) never set the vehicle's mode or arming.
    pub autopilot_component: u8,
    /// Whether the autopilot's own HEARTBEAT has been heard (a vehicle first
    /// heard through its companion computer has not, yet).
    pub autopilot_seen: bool,
    /// When any message arrived.
    pub last_message: Instant,
    /// Whether the link is up (heartbeats within the loss timeout).
    pub link_up: bool,
    /// Autopilot family.
    pub autopilot: MavAutopilot,
    /// Vehicle type.
    pub mav_type: MavType,
    /// HEARTBEAT base mode flags.
    pub base_mode: MavModeFlag,
    /// HEARTBEAT custom mode.
    pub custom_mode: u32,
    /// MAV_STATE.
    pub system_status: MavState,
    /// Position, WGS84 degrees and metres.
    pub position: Option<Position>,
    /// Roll, pitch, yaw in degrees.
    pub attitude_deg: Option<[f64; 3]>,
    /// Battery remaining, percent.
    pub battery_pct: Option<f64>,
    /// Battery voltage, volts.
    pub battery_v: Option<f64>,
    /// GPS fix.
    pub gps_fix: Option<GpsFixType>,
    /// Satellites visible.
    pub satellites: Option<u8>,
    /// GPS horizontal dilution of precision (`GPS_RAW_INT.eph` / 100),
    /// dimensionless.
    pub gps_hdop: Option<f64>,
    /// GPS horizontal position uncertainty (`GPS_RAW_INT.h_acc`), metres;
    /// `None` when the autopilot does not send it.
    pub gps_h_acc_m: Option<f64>,
    /// Home position.
    pub home: Option<Position>,
    /// Gimbal attitude relative to the vehicle or earth: (pitch, yaw) degrees,
    /// and whether yaw is earth-frame.
    pub gimbal: Option<(f64, f64, bool)>,
    /// Camera horizontal / vertical FOV, degrees.
    pub camera_fov_deg: Option<(f64, f64)>,
    /// Whether a camera component announced itself.
    pub has_camera: bool,
    /// Footprint reported by CAMERA_FOV_STATUS: camera and image-centre
    /// positions and the camera attitude quaternion.
    pub fov_status: Option<FovStatus>,
    /// Advertised video stream.
    pub video_uri: Option<String>,
    /// Recent STATUSTEXT lines, oldest first.
    pub status_texts: VecDeque<String>,
    /// Conditions an operator must see; each clears when its cause is gone.
    pub warnings: Vec<String>,
    /// When a message claiming this vehicle last failed the signing check
    /// (its warning clears [`super::link::WARNING_HOLD`] after).
    pub signing_rejected_at: Option<Instant>,
    /// Whether the link's event queue already holds a "changed" event for
    /// this vehicle (a burst of telemetry queues one, not one per message).
    pub change_queued: bool,
}

/// What CAMERA_FOV_STATUS said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FovStatus {
    /// Camera latitude, longitude (degrees), altitude MSL (m).
    pub camera: (f64, f64, f64),
    /// Camera attitude quaternion (w, x, y, z), earth frame.
    pub q: [f64; 4],
    /// Horizontal and vertical FOV, degrees.
    pub fov_deg: (f64, f64),
}

impl Vehicle {
    /// A vehicle first heard at `now` from `peer`.
    pub fn new(system_id: u8, peer: SocketAddr, now: Instant) -> Vehicle {
        Vehicle {
            system_id,
            peer,
            last_heartbeat: now,
            autopilot_component: COMP_AUTOPILOT,
            autopilot_seen: false,
            last_message: now,
            link_up: true,
            autopilot: MavAutopilot::MAV_AUTOPILOT_GENERIC,
            mav_type: MavType::MAV_TYPE_GENERIC,
            base_mode: MavModeFlag::empty(),
            custom_mode: 0,
            system_status: MavState::MAV_STATE_UNINIT,
            position: None,
            attitude_deg: None,
            battery_pct: None,
            battery_v: None,
            gps_fix: None,
            satellites: None,
            gps_hdop: None,
            gps_h_acc_m: None,
            home: None,
            gimbal: None,
            camera_fov_deg: None,
            has_camera: false,
            fov_status: None,
            video_uri: None,
            status_texts: VecDeque::new(),
            warnings: Vec::new(),
            signing_rejected_at: None,
            change_queued: false,
        }
    }

    /// Whether the motors are armed.
    pub fn armed(&self) -> bool {
        self.base_mode
            .contains(MavModeFlag::MAV_MODE_FLAG_SAFETY_ARMED)
    }

    /// Current mode name.
    pub fn mode(&self) -> String {
        modes::name(self.autopilot, self.mav_type, self.custom_mode)
    }

    /// Applies one message from component `compid`. Returns whether anything
    /// an operator sees changed.
    pub fn apply(&mut self, now: Instant, compid: u8, msg: &MavMessage) -> bool {
        self.last_message = now;
        match msg {
            MavMessage::HEARTBEAT(hb) => {
                if hb.mavtype == MavType::MAV_TYPE_CAMERA || compid == COMP_CAMERA {
                    self.has_camera = true;
                    return false;
                }
                // MAVLink: the vehicle's heartbeat is the autopilot's, the
                // one with a real autopilot field. A companion computer
                // (MAV_TYPE_ONBOARD_CONTROLLER, MAV_AUTOPILOT_INVALID), a
                // gimbal or a GCS speaks for itself, not for the vehicle.
                if hb.autopilot == MavAutopilot::MAV_AUTOPILOT_INVALID
                    || matches!(hb.mavtype, MavType::MAV_TYPE_GCS | MavType::MAV_TYPE_GIMBAL)
                {
                    return false;
                }
                self.last_heartbeat = now;
                self.autopilot_component = compid;
                self.autopilot_seen = true;
                let changed = !self.link_up
                    || self.autopilot != hb.autopilot
                    || self.mav_type != hb.mavtype
                    || self.base_mode != hb.base_mode
                    || self.custom_mode != hb.custom_mode
                    || self.system_status != hb.system_status;
                self.link_up = true;
                self.autopilot = hb.autopilot;
                self.mav_type = hb.mavtype;
                self.base_mode = hb.base_mode;
                self.custom_mode = hb.custom_mode;
                self.system_status = hb.system_status;
                changed
            }
            MavMessage::GLOBAL_POSITION_INT(p) => {
                let heading = (p.hdg != u16::MAX).then_some(p.hdg as f64 / 100.0);
                self.position = Some(Position {
                    lat_deg: p.lat as f64 * 1e-7,
                    lon_deg: p.lon as f64 * 1e-7,
                    alt_msl_m: Some(p.alt as f64 / 1000.0),
                    alt_rel_m: Some(p.relative_alt as f64 / 1000.0),
                    heading_deg: heading,
                    // vx, vy are i16: no overflow, so no need for hypot's
                    // slower careful path.
                    speed_m_s: Some(((p.vx as f64).powi(2) + (p.vy as f64).powi(2)).sqrt() / 100.0),
                    accuracy_m: self.gps_h_acc_m,
                });
                true
            }
            MavMessage::ATTITUDE(a) => {
                self.attitude_deg = Some([
                    (a.roll as f64).to_degrees(),
                    (a.pitch as f64).to_degrees(),
                    (a.yaw as f64).to_degrees(),
                ]);
                false
            }
            MavMessage::SYS_STATUS(s) => {
                if s.battery_remaining >= 0 {
                    self.battery_pct = Some(s.battery_remaining as f64);
                }
                if s.voltage_battery != u16::MAX {
                    self.battery_v = Some(s.voltage_battery as f64 / 1000.0);
                }
                true
            }
            MavMessage::BATTERY_STATUS(b) => {
                if b.battery_remaining >= 0 {
                    self.battery_pct = Some(b.battery_remaining as f64);
                }
                let cells: Vec<f64> = b
                    .voltages
                    .iter()
                    .filter(|&&v| v != u16::MAX && v != 0)
                    .map(|&v| v as f64 / 1000.0)
                    .collect();
                if !cells.is_empty() {
                    self.battery_v = Some(cells.iter().sum());
                }
                true
            }
            MavMessage::GPS_RAW_INT(g) => {
                self.gps_fix = Some(g.fix_type);
                self.satellites = (g.satellites_visible != u8::MAX).then_some(g.satellites_visible);
                // eph is HDOP x 100, a geometry factor: never metres.
                self.gps_hdop = (g.eph != u16::MAX).then(|| g.eph as f64 / 100.0);
                // h_acc (MAVLink 2 extension, mm) is the receiver's own
                // estimate; 0 means not sent.
                self.gps_h_acc_m = (g.h_acc > 0).then(|| g.h_acc as f64 / 1000.0);
                if let Some(p) = self.position.as_mut() {
                    p.accuracy_m = self.gps_h_acc_m;
                }
                true
            }
            MavMessage::HOME_POSITION(h) => {
                self.home = Some(Position {
                    lat_deg: h.latitude as f64 * 1e-7,
                    lon_deg: h.longitude as f64 * 1e-7,
                    alt_msl_m: Some(h.altitude as f64 / 1000.0),
                    ..Position::default()
                });
                true
            }
            MavMessage::STATUSTEXT(t) => {
                let text = t
                    .text
                    .to_str()
                    .unwrap_or("<non-UTF-8 text>")
                    .trim()
                    .to_string();
                if self.status_texts.len() == STATUS_TEXTS_KEPT {
                    self.status_texts.pop_front();
                }
                self.status_texts
                    .push_back(format!("{:?}: {text}", t.severity).replace("MAV_SEVERITY_", ""));
                true
            }
            MavMessage::GIMBAL_DEVICE_ATTITUDE_STATUS(g) => {
                let q = g.q.map(|v| v as f64);
                if let Some(r) = Rotation::from_quaternion(q) {
                    let (yaw, pitch, _) = r.euler_deg();
                    // GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME = 2048.
                    let earth = g.flags.bits() & 2048 != 0;
                    self.gimbal = Some((pitch, yaw, earth));
                }
                true
            }
            MavMessage::CAMERA_FOV_STATUS(c) => {
                self.has_camera = true;
                let q = c.q.map(|v| v as f64);
                if c.hfov.is_finite()
                    && c.vfov.is_finite()
                    && c.hfov > 0.0
                    && c.vfov > 0.0
                    && q.iter().all(|v| v.is_finite())
                {
                    self.camera_fov_deg = Some((c.hfov as f64, c.vfov as f64));
                    self.fov_status = Some(FovStatus {
                        camera: (
                            c.lat_camera as f64 * 1e-7,
                            c.lon_camera as f64 * 1e-7,
                            c.alt_camera as f64 / 1000.0,
                        ),
                        q,
                        fov_deg: (c.hfov as f64, c.vfov as f64),
                    });
                }
                true
            }
            MavMessage::CAMERA_INFORMATION(c) => {
                self.has_camera = true;
                if c.focal_length > 0.0 && c.sensor_size_h > 0.0 && c.sensor_size_v > 0.0 {
                    let h = 2.0 * (c.sensor_size_h as f64 / (2.0 * c.focal_length as f64)).atan();
                    let v = 2.0 * (c.sensor_size_v as f64 / (2.0 * c.focal_length as f64)).atan();
                    if self.camera_fov_deg.is_none() {
                        self.camera_fov_deg = Some((h.to_degrees(), v.to_degrees()));
                    }
                }
                true
            }
            MavMessage::VIDEO_STREAM_INFORMATION(v) => {
                self.has_camera = true;
                let uri = v.uri.to_str().unwrap_or("").trim().to_string();
                if !uri.is_empty() {
                    self.video_uri = Some(uri);
                }
                if v.hfov > 0 && self.camera_fov_deg.is_none() {
                    let h = v.hfov as f64;
                    self.camera_fov_deg = Some((h, h * DEFAULT_VFOV_RATIO));
                }
                true
            }
            _ => false,
        }
    }

    /// The camera's ground footprint as a closed ring in the site's local
    /// frame (`[east, north]` metres), from CAMERA_FOV_STATUS when the
    /// vehicle sends it, otherwise from position, attitude, gimbal and FOV.
    /// `None` without a camera or when it sees no ground.
    pub fn footprint(&self, frame: &LocalFrame, ground_alt_msl_m: f64) -> Option<Vec<[f64; 2]>> {
        if !self.has_camera {
            return None;
        }
        let pose = if let Some(f) = &self.fov_status {
            let (lat, lon, alt) = f.camera;
            let (e, n) = frame.to_local(lat, lon);
            let (yaw, pitch, roll) = Rotation::from_quaternion(f.q)?.euler_deg();
            CameraPose {
                east_m: e,
                north_m: n,
                height_agl_m: alt - ground_alt_msl_m,
                yaw_deg: yaw,
                pitch_deg: pitch,
                roll_deg: roll,
                hfov_deg: f.fov_deg.0,
                vfov_deg: f.fov_deg.1,
                max_range_m: FOOTPRINT_MAX_RANGE_M,
            }
        } else {
            let p = self.position?;
            let (e, n) = frame.to_local(p.lat_deg, p.lon_deg);
            let height = p.alt_rel_m.or(p.alt_msl_m.map(|a| a - ground_alt_msl_m))?;
            let vehicle_yaw = self
                .attitude_deg
                .map(|a| a[2])
                .or(p.heading_deg)
                .unwrap_or(0.0);
            let (pitch, yaw) = match self.gimbal {
                Some((pitch, yaw, true)) => (pitch, yaw),
                Some((pitch, yaw, false)) => (pitch, vehicle_yaw + yaw),
                // No gimbal report: a fixed camera looking 45° down ahead.
                None => (-45.0, vehicle_yaw),
            };
            let (h, v) = self
                .camera_fov_deg
                .unwrap_or((DEFAULT_HFOV_DEG, DEFAULT_HFOV_DEG * DEFAULT_VFOV_RATIO));
            CameraPose {
                east_m: e,
                north_m: n,
                height_agl_m: height,
                yaw_deg: yaw,
                pitch_deg: pitch,
                roll_deg: 0.0,
                hfov_deg: h,
                vfov_deg: v,
                max_range_m: FOOTPRINT_MAX_RANGE_M,
            }
        };
        let ring = ground_footprint(&pose)?;
        Some(ring.into_iter().map(|(e, n)| [e, n]).collect())
    }

    /// The operator's status for this vehicle.
    pub fn status(&self) -> UnitStatus {
        if !self.link_up {
            return UnitStatus::LinkLost;
        }
        match self.system_status {
            MavState::MAV_STATE_CRITICAL
            | MavState::MAV_STATE_EMERGENCY
            | MavState::MAV_STATE_POWEROFF
            | MavState::MAV_STATE_FLIGHT_TERMINATION
            | MavState::MAV_STATE_BOOT
            | MavState::MAV_STATE_CALIBRATING
            | MavState::MAV_STATE_UNINIT => UnitStatus::Unavailable,
            _ if self.armed() => UnitStatus::Busy,
            _ => UnitStatus::Available,
        }
    }

    /// The vehicle as a unit of the fleet picture, with its footprint in
    /// the local frame (the unit's `coverage` is the same ring in WGS84, for
    /// the wire).
    pub fn to_unit(
        &self,
        id: String,
        link: &str,
        last_seen_ms: i64,
        frame: &LocalFrame,
        ground_alt_msl_m: f64,
    ) -> (Unit, Option<LocalRing>) {
        let seen: Option<LocalRing> = self.footprint(frame, ground_alt_msl_m).map(Into::into);
        let name =
            |s: String, prefix: &str| s.strip_prefix(prefix).map(str::to_string).unwrap_or(s);
        let unit = Unit {
            id,
            kind: UnitKind::Drone,
            status: self.status(),
            name: Some(format!(
                "{} {}",
                modes::family(self.autopilot),
                self.system_id
            )),
            position: self.position,
            last_seen_ms: Some(last_seen_ms),
            source: format!("mavlink:{link}:{}", self.peer),
            coverage: seen.as_deref().map(|ring| frame.ring_to_wgs84(ring)),
            drone: Some(DroneTelemetry {
                link: link.to_string(),
                system_id: self.system_id,
                autopilot: modes::family(self.autopilot).to_string(),
                mode: self.mode(),
                armed: self.armed(),
                system_status: name(format!("{:?}", self.system_status), "MAV_STATE_"),
                link_state: if self.link_up { "up" } else { "lost" }.into(),
                battery_pct: self.battery_pct,
                battery_v: self.battery_v,
                gps_fix: self
                    .gps_fix
                    .map(|f| name(format!("{f:?}"), "GPS_FIX_TYPE_")),
                satellites: self.satellites,
                gps_hdop: self.gps_hdop,
                attitude_deg: self.attitude_deg,
                home: self.home,
                gimbal_deg: self.gimbal.map(|(p, y, _)| [p, y]),
                camera_fov_deg: self.camera_fov_deg.map(|(h, v)| [h, v]),
                video_uri: self.video_uri.clone(),
                status_texts: self.status_texts.iter().cloned().collect(),
                warnings: self.warnings.clone(),
            }),
            patrol: None,
        };
        (unit, seen)
    }
}
