//! JSON shapes of the HTTP API, version 1.
//!
//! Positions are WGS84 degrees; altitudes are metres, above mean sea level
//! (`alt_msl_m`) or above the home/launch point (`alt_rel_m`); times are Unix
//! milliseconds (UTC).

use serde::{Deserialize, Serialize};

/// What a unit is: everything that can see or act is a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// A multicopter or fixed wing reached over MAVLink.
    Drone,
    /// A patrol team carrying a tablet reached over QUIC.
    Patrol,
    /// A fixed video-protection camera from the inventory.
    FixedCamera,
    /// An emergency call point at a fixed location.
    CallPoint,
}

impl UnitKind {
    /// All kinds, in display order.
    pub const ALL: [UnitKind; 4] = [
        UnitKind::Drone,
        UnitKind::Patrol,
        UnitKind::FixedCamera,
        UnitKind::CallPoint,
    ];

    /// Stable lower-case name, as in JSON and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Drone => "drone",
            UnitKind::Patrol => "patrol",
            UnitKind::FixedCamera => "fixed_camera",
            UnitKind::CallPoint => "call_point",
        }
    }
}

/// Operational status of a unit, as a dispatcher reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitStatus {
    /// Ready to take an order.
    Available,
    /// Moving to an assigned destination.
    EnRoute,
    /// Arrived where it was sent.
    OnScene,
    /// Working, but not available for new orders (flying a mission, on a break).
    Busy,
    /// Declared unavailable by the unit or the operator.
    Unavailable,
    /// Its link went silent past the link-loss timeout; last known state shown.
    LinkLost,
}

impl UnitStatus {
    /// All statuses, in display order.
    pub const ALL: [UnitStatus; 6] = [
        UnitStatus::Available,
        UnitStatus::EnRoute,
        UnitStatus::OnScene,
        UnitStatus::Busy,
        UnitStatus::Unavailable,
        UnitStatus::LinkLost,
    ];

    /// Stable lower-case name, as in JSON and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitStatus::Available => "available",
            UnitStatus::EnRoute => "en_route",
            UnitStatus::OnScene => "on_scene",
            UnitStatus::Busy => "busy",
            UnitStatus::Unavailable => "unavailable",
            UnitStatus::LinkLost => "link_lost",
        }
    }
}

/// A WGS84 position with optional altitude and motion.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Position {
    /// Latitude, degrees north.
    pub lat_deg: f64,
    /// Longitude, degrees east.
    pub lon_deg: f64,
    /// Altitude above mean sea level, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_msl_m: Option<f64>,
    /// Altitude above the home (launch) point, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_rel_m: Option<f64>,
    /// Heading over ground, degrees clockwise from true north.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading_deg: Option<f64>,
    /// Ground speed, metres per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_m_s: Option<f64>,
    /// Horizontal accuracy (1 sigma), metres, when the source reports it in
    /// metres (never a dilution of precision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
}

/// One unit of the fleet picture, as `GET /api/v1/units` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// Stable identifier: `drone:<link>:<sysid>`, the patrol's certificate
    /// name, or the camera's inventory id.
    pub id: String,
    /// What the unit is.
    pub kind: UnitKind,
    /// Operational status.
    pub status: UnitStatus,
    /// Human-readable label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Last known position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// When the unit was last heard from, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_ms: Option<i64>,
    /// Where the data comes from (link name, inventory file, certificate).
    pub source: String,
    /// Ground coverage of the unit's camera, a closed WGS84 ring of
    /// `[lon, lat]` pairs (GeoJSON order), when it has a camera that sees the
    /// ground.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Vec<[f64; 2]>>,
    /// Drone-specific telemetry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drone: Option<DroneTelemetry>,
    /// Patrol-specific link details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patrol: Option<PatrolInfo>,
}

impl Unit {
    /// A unit known by its id, kind, status and source only: no name,
    /// position, coverage or telemetry yet. Fill in what is known with
    /// struct update syntax (`Unit { name: .., ..Unit::new(..) }`) or
    /// [`Unit::at`].
    pub fn new(
        id: impl Into<String>,
        kind: UnitKind,
        status: UnitStatus,
        source: impl Into<String>,
    ) -> Unit {
        Unit {
            id: id.into(),
            kind,
            status,
            name: None,
            position: None,
            last_seen_ms: None,
            source: source.into(),
            coverage: None,
            drone: None,
            patrol: None,
        }
    }

    /// The same unit at a WGS84 position (degrees), nothing else known of
    /// the fix.
    pub fn at(mut self, lat_deg: f64, lon_deg: f64) -> Unit {
        self.position = Some(Position {
            lat_deg,
            lon_deg,
            ..Position::default()
        });
        self
    }
}

/// Telemetry of a drone, as last reported over MAVLink.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DroneTelemetry {
    /// Link the vehicle is heard on (configured link name).
    pub link: String,
    /// MAVLink system id on that link.
    pub system_id: u8,
    /// Autopilot family (`ardupilot`, `px4`, `generic`, ...).
    pub autopilot: String,
    /// Flight mode name (`GUIDED`, `AUTO`, `RTL`, `LAND`, ...).
    pub mode: String,
    /// Motors armed.
    pub armed: bool,
    /// MAV_STATE name (`STANDBY`, `ACTIVE`, `CRITICAL`, ...).
    pub system_status: String,
    /// Link health: `up` or `lost`.
    pub link_state: String,
    /// Battery remaining, percent, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_pct: Option<f64>,
    /// Battery voltage, volts, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_v: Option<f64>,
    /// GPS fix type name (`NO_FIX`, `3D_FIX`, `RTK_FIXED`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps_fix: Option<String>,
    /// Satellites visible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satellites: Option<u8>,
    /// GPS horizontal dilution of precision (HDOP), dimensionless: a
    /// geometry factor, not metres (the accuracy in metres is the
    /// position's `accuracy_m`, from the receiver's own estimate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps_hdop: Option<f64>,
    /// Attitude roll, pitch, yaw in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attitude_deg: Option<[f64; 3]>,
    /// Home position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<Position>,
    /// Gimbal pitch and yaw (relative to the vehicle), degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gimbal_deg: Option<[f64; 2]>,
    /// Camera horizontal and vertical field of view, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_fov_deg: Option<[f64; 2]>,
    /// Video stream URI advertised by the vehicle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_uri: Option<String>,
    /// Most recent STATUSTEXT messages, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_texts: Vec<String>,
    /// Warnings an operator must see (duplicate system id, signing failures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Link details of a patrol tablet.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PatrolInfo {
    /// Role named in the unit's certificate.
    pub role: String,
    /// Whether a QUIC connection is currently open.
    pub connected: bool,
    /// Link quality from 0 (unusable) to 1 (perfect), from loss and round-trip time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_quality: Option<f64>,
    /// Smoothed round-trip time, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Remote address of the current connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
}

/// `GET /api/v1/units`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitList {
    /// Server time of the picture, Unix milliseconds.
    pub at_ms: i64,
    /// Every known unit, sorted by id.
    pub units: Vec<Unit>,
}

/// `GET /api/v1/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `ok` while every listener is up; `degraded` when the server was
    /// started on an audit register that does not verify.
    pub status: String,
    /// Server version.
    pub version: String,
    /// Seconds since the server started.
    pub uptime_s: f64,
    /// Number of units in the picture.
    pub units: usize,
    /// Bound listeners, by name (`http`, `quic`, `mavlink:<name>`).
    pub listeners: Vec<Listener>,
    /// What `vigie audit verify` found at start when the server was started
    /// anyway (`--accept-damaged-audit`); absent when the register verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_damage: Option<String>,
}

/// One bound network listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    /// Listener name.
    pub name: String,
    /// Bound address, `host:port`.
    pub address: String,
}

/// An error body returned with any 4xx/5xx status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong and what to do about it.
    pub error: String,
}

/// A command to a drone, `POST /api/v1/drones/{id}/commands`.
///
/// Altitudes are metres above the home (launch) point; positions WGS84.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum DroneCommand {
    /// Arm the motors.
    Arm,
    /// Disarm the motors (refused by the vehicle in flight unless forced).
    Disarm,
    /// Change flight mode (`GUIDED`, `AUTO`, `LOITER`, `RTL`, `LAND`, ...).
    SetMode {
        /// Mode name.
        mode: String,
    },
    /// Take off to an altitude.
    Takeoff {
        /// Target altitude above home, metres.
        alt_m: f64,
    },
    /// Fly to a point and hold there (MAV_CMD_DO_REPOSITION).
    Goto {
        /// Latitude, degrees.
        lat_deg: f64,
        /// Longitude, degrees.
        lon_deg: f64,
        /// Altitude above home, metres.
        alt_m: f64,
        /// Ground speed, metres per second; vehicle default when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        speed_m_s: Option<f64>,
    },
    /// Circle a point (MAV_CMD_DO_ORBIT).
    Orbit {
        /// Centre latitude, degrees.
        lat_deg: f64,
        /// Centre longitude, degrees.
        lon_deg: f64,
        /// Altitude above home, metres.
        alt_m: f64,
        /// Radius, metres; positive clockwise, negative counter-clockwise.
        radius_m: f64,
        /// Tangential speed, metres per second; vehicle default when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        speed_m_s: Option<f64>,
    },
    /// Return to launch.
    Rtl,
    /// Land where it is.
    Land,
    /// Point the gimbal (MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW).
    Gimbal {
        /// Pitch, degrees: 0 horizon, -90 straight down.
        pitch_deg: f64,
        /// Yaw relative to the vehicle's heading, degrees.
        yaw_deg: f64,
    },
    /// Point the camera at a location (MAV_CMD_DO_SET_ROI_LOCATION).
    Roi {
        /// Latitude, degrees.
        lat_deg: f64,
        /// Longitude, degrees.
        lon_deg: f64,
        /// Altitude above home, metres.
        alt_m: f64,
    },
    /// Upload a mission (waypoints) and start nothing.
    Mission {
        /// Items in order.
        items: Vec<MissionItem>,
    },
    /// Upload a geofence (inclusion/exclusion polygons and circles).
    Fence {
        /// Fence shapes.
        shapes: Vec<FenceShape>,
    },
    /// Download the vehicle's mission.
    DownloadMission,
}

/// One mission step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MissionItem {
    /// Take off to an altitude.
    Takeoff {
        /// Altitude above home, metres.
        alt_m: f64,
    },
    /// Fly through a point.
    Waypoint {
        /// Latitude, degrees.
        lat_deg: f64,
        /// Longitude, degrees.
        lon_deg: f64,
        /// Altitude above home, metres.
        alt_m: f64,
        /// Time to hold at the point, seconds.
        #[serde(default)]
        hold_s: f64,
    },
    /// Loiter at a point for a time.
    Loiter {
        /// Latitude, degrees.
        lat_deg: f64,
        /// Longitude, degrees.
        lon_deg: f64,
        /// Altitude above home, metres.
        alt_m: f64,
        /// Duration, seconds.
        time_s: f64,
    },
    /// Return to launch.
    Rtl,
    /// Land at the current position.
    Land,
    /// Any other MAVLink mission command, as raw MISSION_ITEM_INT fields.
    Raw {
        /// MAV_CMD number.
        command: u16,
        /// MAV_FRAME number.
        frame: u8,
        /// param1..param4.
        params: [f32; 4],
        /// Latitude ×1e7 (or x).
        x: i32,
        /// Longitude ×1e7 (or y).
        y: i32,
        /// Altitude (or z).
        z: f32,
    },
}

/// One geofence shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FenceShape {
    /// A polygon the vehicle must stay inside (`inclusion`) or outside.
    Polygon {
        /// Stay inside (true) or outside (false).
        inclusion: bool,
        /// Vertices as `[lat, lon]` degrees, not closed.
        vertices: Vec<[f64; 2]>,
    },
    /// A circle the vehicle must stay inside or outside.
    Circle {
        /// Stay inside (true) or outside (false).
        inclusion: bool,
        /// Centre latitude, degrees.
        lat_deg: f64,
        /// Centre longitude, degrees.
        lon_deg: f64,
        /// Radius, metres.
        radius_m: f64,
    },
}

/// How a drone command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandOutcome {
    /// The vehicle accepted and will execute (or has executed) it.
    Accepted,
    /// The vehicle refused it (MAV_RESULT_DENIED, FAILED, ...).
    Denied,
    /// The vehicle refused it for now (MAV_RESULT_TEMPORARILY_REJECTED).
    TemporarilyRejected,
    /// The vehicle does not support it.
    Unsupported,
    /// No acknowledgement after every retry.
    TimedOut,
    /// The link to the vehicle was lost while waiting.
    LinkLost,
    /// Vigie refused it before sending (unknown vehicle, bad parameters,
    /// another transfer in progress, outside authorisation).
    Refused,
}

/// The typed result of a drone command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    /// How it ended.
    pub outcome: CommandOutcome,
    /// What the vehicle or Vigie said, for the operator.
    pub detail: String,
    /// How many times it was sent.
    pub attempts: u32,
    /// Time from first send to the answer, milliseconds.
    pub latency_ms: f64,
    /// Mission items, for a download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mission: Option<Vec<MissionItem>>,
}

impl CommandResult {
    /// A command that was never sent, ending with `outcome` (refused by
    /// Vigie, or the link lost) and why.
    pub fn unsent(outcome: CommandOutcome, detail: impl Into<String>) -> CommandResult {
        CommandResult {
            outcome,
            detail: detail.into(),
            attempts: 0,
            latency_ms: 0.0,
            mission: None,
        }
    }

    /// A command Vigie refused before sending it, and why.
    pub fn refused(detail: impl Into<String>) -> CommandResult {
        CommandResult::unsent(CommandOutcome::Refused, detail)
    }
}
