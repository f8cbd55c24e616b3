//! The autopilot: flight modes, arming checks, guided commands, mission
//! execution, failsafes (geofence, battery) and the camera gimbal, as pure
//! `step(dt)` logic over [`physics`](super::physics).
//!
//! Behaviour follows ArduCopter with default parameters where a ground
//! station can tell the difference: which modes arm, that takeoff needs
//! GUIDED, that RTL climbs to 15 m before returning, loiters 5 s and lands
//! and disarms, that a fence breach or the battery reserve triggers RTL,
//! that mission item 0 is home, and that a mission ending without RTL or
//! LAND hovers at its last waypoint.

use super::fence::{Breach, Fence, Zone};
use super::physics::{Battery, BatteryConfig, Enu, Kinematics, Limits, Load, Setpoint, wrap_180};

/// ArduCopter flight modes, with their `custom_mode` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlightMode {
    /// Manual attitude control; with no pilot input it holds level and
    /// altitude.
    Stabilize,
    /// Mission execution.
    Auto,
    /// Commands from the ground station (go to, takeoff, orbit).
    Guided,
    /// Hold position.
    Loiter,
    /// Return to launch and land.
    Rtl,
    /// Land where it is.
    Land,
}

impl FlightMode {
    /// Every mode.
    pub const ALL: [FlightMode; 6] = [
        FlightMode::Stabilize,
        FlightMode::Auto,
        FlightMode::Guided,
        FlightMode::Loiter,
        FlightMode::Rtl,
        FlightMode::Land,
    ];

    /// ArduCopter's `custom_mode` number.
    pub fn custom_mode(self) -> u32 {
        match self {
            FlightMode::Stabilize => 0,
            FlightMode::Auto => 3,
            FlightMode::Guided => 4,
            FlightMode::Loiter => 5,
            FlightMode::Rtl => 6,
            FlightMode::Land => 9,
        }
    }

    /// The mode with ArduCopter `custom_mode` number `n`, if simulated.
    pub fn from_custom_mode(n: u32) -> Option<FlightMode> {
        FlightMode::ALL.into_iter().find(|m| m.custom_mode() == n)
    }

    /// The mode's name as ArduCopter spells it.
    pub fn name(self) -> &'static str {
        match self {
            FlightMode::Stabilize => "STABILIZE",
            FlightMode::Auto => "AUTO",
            FlightMode::Guided => "GUIDED",
            FlightMode::Loiter => "LOITER",
            FlightMode::Rtl => "RTL",
            FlightMode::Land => "LAND",
        }
    }

    /// Whether the mode needs a position estimate (GPS).
    fn needs_position(self) -> bool {
        self != FlightMode::Stabilize
    }

    /// Whether arming is allowed in this mode (ArduCopter defaults).
    fn allows_arming(self) -> bool {
        matches!(
            self,
            FlightMode::Stabilize | FlightMode::Guided | FlightMode::Loiter
        )
    }
}

/// Autopilot parameters (ArduCopter defaults where one exists).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutopilotConfig {
    /// Flight envelope.
    pub limits: Limits,
    /// Battery pack.
    pub battery: BatteryConfig,
    /// RTL return altitude above home (RTL_ALT), metres.
    pub rtl_alt_m: f64,
    /// Hover time over home before landing in RTL (RTL_LOIT_TIME), seconds.
    pub rtl_loiter_s: f64,
    /// Distance at which a waypoint counts as reached (WPNAV_RADIUS), metres.
    pub wp_radius_m: f64,
    /// Battery charge that triggers RTL (reserve), percent.
    pub battery_reserve_pct: f64,
    /// Battery charge that triggers LAND (critical), percent.
    pub battery_critical_pct: f64,
    /// Auto-disarm after this long armed on the ground (DISARM_DELAY), seconds.
    pub disarm_delay_s: f64,
    /// Maximum altitude while the fence is enabled (FENCE_ALT_MAX), metres.
    pub fence_alt_max_m: f64,
    /// Gimbal slew rate, degrees per second.
    pub gimbal_rate_dps: f64,
    /// Gimbal pitch when nothing is commanded (negative: down), degrees.
    pub gimbal_default_pitch_deg: f64,
    /// Guided velocity commands expire after this long (ArduCopter: 3 s).
    pub velocity_timeout_s: f64,
}

impl Default for AutopilotConfig {
    fn default() -> AutopilotConfig {
        AutopilotConfig {
            limits: Limits::default(),
            battery: BatteryConfig::default(),
            rtl_alt_m: 15.0,
            rtl_loiter_s: 5.0,
            wp_radius_m: 2.0,
            battery_reserve_pct: 20.0,
            battery_critical_pct: 10.0,
            disarm_delay_s: 10.0,
            fence_alt_max_m: 120.0,
            gimbal_rate_dps: 60.0,
            gimbal_default_pitch_deg: -45.0,
            velocity_timeout_s: 3.0,
        }
    }
}

/// How loud an event is (maps to MAV_SEVERITY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Action needed now (failsafes).
    Critical,
    /// Something failed (refused arming).
    Error,
    /// Worth a look (fence breach).
    Warning,
    /// Normal but notable (arming, takeoff, waypoint reached).
    Info,
}

/// Something the vehicle should tell the ground about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A line for STATUSTEXT.
    Text(Severity, String),
    /// A mission item was reached (MISSION_ITEM_REACHED).
    ItemReached(u16),
    /// The current mission item changed (MISSION_CURRENT).
    CurrentChanged(u16),
}

/// Why a command was refused; the text goes into a STATUSTEXT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// What was wrong, in ArduPilot's words where it has some.
    pub reason: &'static str,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for Refusal {}

const fn refuse(reason: &'static str) -> Refusal {
    Refusal { reason }
}

/// A position in a command or mission item; no horizontal part means "where
/// the vehicle is when the item starts" (ArduPilot's 0,0 convention).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    /// `(east_m, north_m)` from home, or `None` for the current position.
    pub en: Option<(f64, f64)>,
    /// Height above home, metres.
    pub up_m: f64,
}

impl Place {
    /// This place, with the current position filling what is missing.
    fn resolve(&self, here: &Enu) -> Enu {
        let (e, n) = self.en.unwrap_or((here.e, here.n));
        Enu::new(e, n, self.up_m)
    }
}

/// A mission item, already converted to the local frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MissionCommand {
    /// Item 0: home (ignored when flying the mission).
    Home,
    /// Fly to a place, then wait `hold_s` seconds.
    Waypoint {
        /// Where.
        place: Place,
        /// Wait once there, seconds.
        hold_s: f64,
    },
    /// Climb vertically to a height above home.
    Takeoff {
        /// Height, metres.
        alt_m: f64,
    },
    /// Fly to a place and hover there for a while.
    LoiterTime {
        /// Where.
        place: Place,
        /// Hover time, seconds.
        time_s: f64,
    },
    /// Fly to a place and hover there until told otherwise.
    LoiterUnlimited {
        /// Where.
        place: Place,
    },
    /// Return home and land.
    ReturnToLaunch,
    /// Land, at a place or where the vehicle is.
    Land {
        /// Where (`en: None`: straight down).
        place: Place,
    },
    /// Change the cruise speed.
    ChangeSpeed {
        /// New horizontal speed, m/s.
        speed_mps: f64,
    },
    /// Point the camera (and the nose) at a place, or stop doing so.
    SetRoi {
        /// The region of interest, or `None` to clear it.
        target: Option<Enu>,
    },
    /// Point the gimbal.
    GimbalPitchYaw {
        /// Pitch, degrees (negative: down).
        pitch_deg: f64,
        /// Yaw relative to the nose, degrees.
        yaw_deg: f64,
    },
    /// A command this simulator does not execute: skipped, as ArduPilot
    /// skips commands it cannot run.
    Skip,
}

impl MissionCommand {
    /// True for commands that move the vehicle (navigation commands).
    fn is_nav(&self) -> bool {
        !matches!(
            self,
            MissionCommand::Home
                | MissionCommand::ChangeSpeed { .. }
                | MissionCommand::SetRoi { .. }
                | MissionCommand::GimbalPitchYaw { .. }
                | MissionCommand::Skip
        )
    }
}

/// Progress of the mission, as MISSION_CURRENT reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissionProgress {
    /// No mission loaded.
    NoMission,
    /// Loaded, not started.
    NotStarted,
    /// Running.
    Active,
    /// Interrupted (mode changed away from AUTO).
    Paused,
    /// Finished.
    Complete,
}

/// The phases of a return to launch.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RtlPhase {
    /// Climbing to the return altitude over the start point.
    Climb { alt_m: f64, over: Enu },
    /// Flying home at the return altitude.
    Return { alt_m: f64 },
    /// Hovering over home until `until_s`.
    Loiter { until_s: f64, alt_m: f64 },
    /// Descending onto home.
    Land,
}

/// An orbit around a point (DO_ORBIT).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Orbit {
    /// Centre `(east_m, north_m)`.
    pub center: (f64, f64),
    /// Radius, metres.
    pub radius_m: f64,
    /// True to circle clockwise seen from above.
    pub clockwise: bool,
    /// Tangential speed, m/s.
    pub speed_mps: f64,
    /// Height above home, metres.
    pub alt_m: f64,
    /// Turns to fly before hovering, or `None` for ever.
    pub turns: Option<f64>,
}

/// What GUIDED mode is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum GuidedGoal {
    /// Hold a point.
    Hold(Enu),
    /// Climb to a height over the takeoff point.
    Takeoff(Enu),
    /// Fly to a point.
    Goto { target: Enu, speed_mps: f64 },
    /// Hold a velocity until a time.
    Velocity { velocity: Enu, until_s: f64 },
    /// Circle.
    Orbit {
        orbit: Orbit,
        travelled_rad: f64,
        last_angle: Option<f64>,
    },
}

/// Where the AUTO mission is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum AutoPhase {
    /// The current item has not been started.
    Start,
    /// Flying to a point; then hold `hold_s` (infinite for loiter unlimited).
    Going { target: Enu, hold_s: f64 },
    /// Holding until a time.
    Holding { target: Enu, until_s: f64 },
    /// Climbing vertically.
    TakingOff { target: Enu },
    /// A return to launch inside the mission.
    Rtl(RtlPhase),
    /// Flying to a landing point, then descending.
    Landing { over: Enu, descending: bool },
    /// Finished: hovering at the last point.
    Done { hold: Enu },
}

/// What the camera gimbal is told to do.
#[derive(Debug, Clone, Copy, PartialEq)]
enum GimbalGoal {
    /// Default pitch, straight ahead.
    Neutral,
    /// Fixed angles; `earth` when yaw is relative to north.
    Angles {
        pitch_deg: f64,
        yaw_deg: f64,
        earth: bool,
    },
    /// Track a point.
    Roi(Enu),
}

/// The camera gimbal's attitude.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gimbal {
    /// Pitch, degrees (negative: down), -90 to +30.
    pub pitch_deg: f64,
    /// Yaw relative to north, degrees clockwise.
    pub yaw_earth_deg: f64,
    /// What it is told to do.
    goal: GimbalGoal,
}

/// One simulated multicopter's flight controller.
#[derive(Debug, Clone)]
pub struct Autopilot {
    /// Parameters.
    pub config: AutopilotConfig,
    /// The airframe.
    pub kin: Kinematics,
    /// The battery.
    pub battery: Battery,
    /// The camera gimbal.
    pub gimbal: Gimbal,
    /// The geofence.
    pub fence: Fence,
    /// Whether GPS has a 3D fix (tests turn it off).
    pub gps_fix: bool,
    /// Current flight mode.
    mode: FlightMode,
    /// Motors armed.
    armed: bool,
    /// Seconds since power-on (the autopilot's own clock).
    time_s: f64,
    /// When the vehicle was last armed on the ground or landed, for the
    /// auto-disarm delay.
    idle_since_s: Option<f64>,
    /// GUIDED state.
    guided: GuidedGoal,
    /// Point held by LOITER (and by STABILIZE in the air).
    hold: Enu,
    /// Landing point of LAND mode.
    land_over: Enu,
    /// RTL mode's progress.
    rtl: RtlPhase,
    /// The mission; index = sequence number, item 0 is home.
    mission: Vec<MissionCommand>,
    /// Current mission item.
    mission_current: u16,
    /// AUTO's progress through the current item.
    auto: AutoPhase,
    /// Mission progress for MISSION_CURRENT.
    progress: MissionProgress,
    /// Cruise speed in AUTO (DO_CHANGE_SPEED), m/s.
    auto_speed_mps: f64,
    /// Region of interest the nose points at in GUIDED/AUTO.
    roi: Option<Enu>,
    /// A fence breach is in progress (act once per breach).
    breached: bool,
    /// Battery failsafes already taken: 0 none, 1 reserve (RTL), 2 critical (LAND).
    battery_failsafe: u8,
    /// Events for the ground, drained by the vehicle.
    events: Vec<Event>,
}

impl Autopilot {
    /// A disarmed vehicle on the ground at home, in STABILIZE, GPS fixed.
    pub fn new(config: AutopilotConfig) -> Autopilot {
        Autopilot {
            config,
            kin: Kinematics::default(),
            battery: Battery::new(config.battery),
            gimbal: Gimbal {
                pitch_deg: config.gimbal_default_pitch_deg,
                yaw_earth_deg: 0.0,
                goal: GimbalGoal::Neutral,
            },
            fence: Fence {
                alt_max_m: Some(config.fence_alt_max_m),
                ..Fence::default()
            },
            gps_fix: true,
            mode: FlightMode::Stabilize,
            armed: false,
            time_s: 0.0,
            idle_since_s: None,
            guided: GuidedGoal::Hold(Enu::default()),
            hold: Enu::default(),
            land_over: Enu::default(),
            rtl: RtlPhase::Land,
            mission: Vec::new(),
            mission_current: 0,
            auto: AutoPhase::Start,
            progress: MissionProgress::NoMission,
            auto_speed_mps: config.limits.speed_h_mps,
            roi: None,
            breached: false,
            battery_failsafe: 0,
            events: Vec::new(),
        }
    }

    /// Current flight mode.
    pub fn mode(&self) -> FlightMode {
        self.mode
    }

    /// Motors armed.
    pub fn armed(&self) -> bool {
        self.armed
    }

    /// In the air (armed and off the ground).
    pub fn flying(&self) -> bool {
        self.armed && !self.kin.on_ground()
    }

    /// Seconds since power-on.
    pub fn time_s(&self) -> f64 {
        self.time_s
    }

    /// The current mission item.
    pub fn mission_current(&self) -> u16 {
        self.mission_current
    }

    /// The mission's length, home included.
    pub fn mission_len(&self) -> u16 {
        self.mission.len() as u16
    }

    /// Mission progress.
    pub fn mission_progress(&self) -> MissionProgress {
        self.progress
    }

    /// Takes the events produced since the last call.
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn text(&mut self, severity: Severity, text: impl Into<String>) {
        self.events.push(Event::Text(severity, text.into()));
    }

    /// Arms the motors after the pre-arm checks (`force` skips them, like
    /// ArduPilot's magic 2989). Arming an armed vehicle changes nothing and
    /// succeeds, as on ArduPilot.
    pub fn arm(&mut self, force: bool) -> Result<(), Refusal> {
        if self.armed {
            return Ok(());
        }
        if !force {
            let check = if !self.mode.allows_arming() {
                Some(refuse("Arm: Mode not armable"))
            } else if !self.gps_fix {
                Some(refuse("PreArm: Need 3D Fix"))
            } else if self.battery.remaining_pct() <= self.config.battery_reserve_pct {
                Some(refuse("PreArm: Battery below minimum arming capacity"))
            } else if self
                .fence
                .check(self.kin.pos.e, self.kin.pos.n, self.kin.pos.u)
                .is_some()
            {
                Some(refuse("PreArm: Fence: vehicle outside fence"))
            } else {
                None
            };
            if let Some(r) = check {
                self.text(Severity::Error, r.reason);
                return Err(r);
            }
        }
        self.armed = true;
        self.idle_since_s = Some(self.time_s);
        self.guided = GuidedGoal::Hold(self.kin.pos);
        self.battery_failsafe = 0;
        self.text(Severity::Info, "Arming motors");
        Ok(())
    }

    /// Disarms; refused in flight unless `force` (ArduPilot's 21196).
    pub fn disarm(&mut self, force: bool) -> Result<(), Refusal> {
        if !self.armed {
            return Ok(());
        }
        if self.flying() && !force {
            let r = refuse("Disarm: vehicle is flying (force with 21196)");
            self.text(Severity::Error, r.reason);
            return Err(r);
        }
        self.disarm_now("Disarming motors");
        Ok(())
    }

    fn disarm_now(&mut self, why: &str) {
        self.armed = false;
        self.idle_since_s = None;
        self.kin.vel = Enu::default();
        self.text(Severity::Info, why.to_string());
    }

    /// Changes flight mode.
    pub fn set_mode(&mut self, mode: FlightMode) -> Result<(), Refusal> {
        if mode.needs_position() && !self.gps_fix {
            let r = refuse("Mode change failed: requires position");
            self.text(Severity::Error, r.reason);
            return Err(r);
        }
        if mode == FlightMode::Auto && self.mission.len() < 2 {
            let r = refuse("Mode change failed: no mission");
            self.text(Severity::Error, r.reason);
            return Err(r);
        }
        if mode == self.mode {
            return Ok(());
        }
        if self.mode == FlightMode::Auto && self.progress == MissionProgress::Active {
            self.progress = MissionProgress::Paused;
        }
        self.mode = mode;
        let here = self.kin.pos;
        match mode {
            FlightMode::Stabilize | FlightMode::Loiter => self.hold = here,
            FlightMode::Guided => self.guided = GuidedGoal::Hold(here),
            FlightMode::Rtl => self.rtl = self.rtl_start(),
            FlightMode::Land => self.land_over = here,
            FlightMode::Auto => {
                // Resume the current item (restart it from its beginning).
                if self.mission_current == 0 {
                    self.set_current_index(1);
                }
                self.auto = AutoPhase::Start;
                if self.armed {
                    self.progress = MissionProgress::Active;
                }
            }
        }
        Ok(())
    }

    fn rtl_start(&self) -> RtlPhase {
        let alt_m = self.kin.pos.u.max(self.config.rtl_alt_m);
        RtlPhase::Climb {
            alt_m,
            over: self.kin.pos,
        }
    }

    /// Takes off vertically to `alt_m` above home (GUIDED, armed, landed).
    pub fn takeoff(&mut self, alt_m: f64) -> Result<(), Refusal> {
        if self.mode != FlightMode::Guided {
            return Err(refuse("Takeoff: needs GUIDED mode"));
        }
        if !self.armed {
            return Err(refuse("Takeoff: not armed"));
        }
        if self.flying() {
            return Err(refuse("Takeoff: already flying"));
        }
        if !(alt_m.is_finite() && alt_m > 0.0) {
            return Err(refuse("Takeoff: altitude must be above 0 m"));
        }
        let p = self.kin.pos;
        self.guided = GuidedGoal::Takeoff(Enu::new(p.e, p.n, alt_m));
        self.idle_since_s = None;
        self.text(Severity::Info, format!("Takeoff to {alt_m:.1} m"));
        Ok(())
    }

    fn require_guided_flight(&self) -> Result<(), Refusal> {
        if self.mode != FlightMode::Guided {
            return Err(refuse("Guided command: not in GUIDED mode"));
        }
        if !self.flying() {
            return Err(refuse("Guided command: not flying, take off first"));
        }
        Ok(())
    }

    /// Flies to `target` (GUIDED, flying); `speed_mps` caps the horizontal
    /// speed (`None`: cruise speed).
    pub fn goto(&mut self, target: Place, speed_mps: Option<f64>) -> Result<(), Refusal> {
        self.require_guided_flight()?;
        let speed_mps = speed_mps
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(self.config.limits.speed_h_mps);
        self.guided = GuidedGoal::Goto {
            target: target.resolve(&self.kin.pos),
            speed_mps,
        };
        Ok(())
    }

    /// Holds a velocity for a few seconds (GUIDED, flying).
    pub fn velocity(&mut self, velocity: Enu) -> Result<(), Refusal> {
        self.require_guided_flight()?;
        self.guided = GuidedGoal::Velocity {
            velocity,
            until_s: self.time_s + self.config.velocity_timeout_s,
        };
        Ok(())
    }

    /// Circles a point; switches to GUIDED first (flying).
    pub fn orbit(&mut self, orbit: Orbit) -> Result<(), Refusal> {
        if !self.flying() {
            return Err(refuse("Orbit: not flying, take off first"));
        }
        if !(orbit.radius_m.is_finite() && orbit.radius_m >= 1.0) {
            return Err(refuse("Orbit: radius must be at least 1 m"));
        }
        self.set_mode(FlightMode::Guided)?;
        self.guided = GuidedGoal::Orbit {
            orbit,
            travelled_rad: 0.0,
            last_angle: None,
        };
        Ok(())
    }

    /// Points the gimbal; `earth` when `yaw_deg` is relative to north, else
    /// to the nose. NaN leaves an axis as it is.
    pub fn point_gimbal(&mut self, pitch_deg: f64, yaw_deg: f64, earth: bool) {
        let (cur_pitch, cur_yaw) = match self.gimbal.goal {
            GimbalGoal::Angles {
                pitch_deg, yaw_deg, ..
            } => (pitch_deg, yaw_deg),
            _ => (self.gimbal.pitch_deg, 0.0),
        };
        self.gimbal.goal = GimbalGoal::Angles {
            pitch_deg: if pitch_deg.is_nan() {
                cur_pitch
            } else {
                pitch_deg.clamp(-90.0, 30.0)
            },
            yaw_deg: if yaw_deg.is_nan() { cur_yaw } else { yaw_deg },
            earth,
        };
        self.roi = None;
    }

    /// Points camera and nose at `target`, or back to neutral with `None`.
    pub fn set_roi(&mut self, target: Option<Enu>) {
        self.roi = target;
        self.gimbal.goal = target.map_or(GimbalGoal::Neutral, GimbalGoal::Roi);
    }

    /// Replaces the mission (item 0 is home). In AUTO the current item is
    /// kept when it still exists.
    pub fn set_mission(&mut self, mission: Vec<MissionCommand>) {
        self.mission = mission;
        if self.mission.len() < 2 {
            self.progress = MissionProgress::NoMission;
            self.mission_current = 0;
            if self.mode == FlightMode::Auto {
                // ArduCopter leaves AUTO when its mission disappears.
                self.mode = FlightMode::Loiter;
                self.hold = self.kin.pos;
            }
            return;
        }
        if usize::from(self.mission_current) >= self.mission.len() || self.mission_current == 0 {
            self.set_current_index(1);
        }
        if self.mode != FlightMode::Auto {
            self.progress = MissionProgress::NotStarted;
        }
        self.auto = AutoPhase::Start;
    }

    /// The mission as stored.
    pub fn mission(&self) -> &[MissionCommand] {
        &self.mission
    }

    /// Makes `seq` the current mission item (MISSION_SET_CURRENT).
    pub fn set_mission_current(&mut self, seq: u16) -> Result<(), Refusal> {
        if usize::from(seq) >= self.mission.len() {
            return Err(refuse("Mission: no such item"));
        }
        self.set_current_index(seq.max(1));
        self.auto = AutoPhase::Start;
        if self.progress == MissionProgress::Complete {
            self.progress = if self.mode == FlightMode::Auto {
                MissionProgress::Active
            } else {
                MissionProgress::NotStarted
            };
        }
        Ok(())
    }

    /// Starts the mission at `first` (MISSION_START): armed, switches to AUTO.
    pub fn start_mission(&mut self, first: u16) -> Result<(), Refusal> {
        if !self.armed {
            return Err(refuse("Mission start: not armed"));
        }
        if self.mission.len() < 2 {
            return Err(refuse("Mission start: no mission"));
        }
        self.set_mission_current(first.max(1))?;
        self.set_mode(FlightMode::Auto)?;
        self.auto = AutoPhase::Start;
        self.progress = MissionProgress::Active;
        self.idle_since_s = None;
        Ok(())
    }

    fn set_current_index(&mut self, seq: u16) {
        if self.mission_current != seq {
            self.mission_current = seq;
            self.events.push(Event::CurrentChanged(seq));
        }
    }

    /// Replaces the fence zones; a non-empty fence is enabled.
    pub fn set_fence(&mut self, zones: Vec<Zone>) {
        self.fence.enabled = !zones.is_empty();
        self.fence.zones = zones;
        self.breached = false;
    }

    /// Advances everything by `dt_s` seconds.
    pub fn step(&mut self, dt_s: f64) {
        self.time_s += dt_s;
        let load = if !self.armed {
            Load::Disarmed
        } else if self.kin.on_ground() {
            Load::Idle
        } else {
            Load::Flying(self.kin.vel)
        };
        self.battery.step(dt_s, load, &self.config.limits);
        self.failsafes();
        let (setpoint, yaw) = self.setpoint();
        if self.armed {
            self.kin.step(dt_s, &setpoint, yaw, &self.config.limits);
        }
        self.step_gimbal(dt_s);
        self.after_step();
    }

    /// Battery and fence failsafes.
    fn failsafes(&mut self) {
        if !self.flying() {
            return;
        }
        let pct = self.battery.remaining_pct();
        if pct <= self.config.battery_critical_pct && self.battery_failsafe < 2 {
            self.battery_failsafe = 2;
            self.text(
                Severity::Critical,
                format!("Battery critical {pct:.0}%: LAND"),
            );
            let _ = self.set_mode(FlightMode::Land);
        } else if pct <= self.config.battery_reserve_pct && self.battery_failsafe < 1 {
            self.battery_failsafe = 1;
            self.text(
                Severity::Critical,
                format!("Battery reserve {pct:.0}%: RTL"),
            );
            if !matches!(self.mode, FlightMode::Rtl | FlightMode::Land) {
                let _ = self.set_mode(FlightMode::Rtl);
            }
        }
        let p = self.kin.pos;
        match self.fence.check(p.e, p.n, p.u) {
            Some(breach) if !self.breached => {
                self.breached = true;
                self.text(
                    Severity::Critical,
                    format!("Fence breach: {}: RTL", breach.as_str()),
                );
                if !matches!(self.mode, FlightMode::Rtl | FlightMode::Land) {
                    let _ = self.set_mode(FlightMode::Rtl);
                }
                if breach == Breach::Altitude {
                    // Return below the ceiling rather than climbing to it.
                    let alt_m = self.config.rtl_alt_m.min(self.config.fence_alt_max_m - 5.0);
                    self.rtl = RtlPhase::Return { alt_m };
                }
            }
            None if self.breached => {
                self.breached = false;
                self.text(Severity::Info, "Fence breach cleared");
            }
            _ => {}
        }
    }

    /// The setpoint and yaw target of the current mode.
    fn setpoint(&mut self) -> (Setpoint, Option<f64>) {
        if !self.armed {
            return (Setpoint::Ground, None);
        }
        let cruise = self.config.limits.speed_h_mps;
        let roi_yaw = self.roi.map(|r| bearing_deg(&self.kin.pos, &r));
        match self.mode {
            FlightMode::Stabilize | FlightMode::Loiter => {
                if self.kin.on_ground() {
                    (Setpoint::Ground, None)
                } else {
                    (
                        Setpoint::Position {
                            target: self.hold,
                            speed_h_mps: cruise,
                        },
                        None,
                    )
                }
            }
            FlightMode::Land => (
                Setpoint::Land {
                    over: self.land_over,
                },
                None,
            ),
            FlightMode::Rtl => {
                let mut phase = self.rtl;
                let sp = self.rtl_setpoint(&mut phase);
                self.rtl = phase;
                (sp, None)
            }
            FlightMode::Guided => self.guided_setpoint(roi_yaw),
            FlightMode::Auto => {
                let sp = self.auto_setpoint();
                (sp, roi_yaw)
            }
        }
    }

    fn guided_setpoint(&mut self, roi_yaw: Option<f64>) -> (Setpoint, Option<f64>) {
        let pos = self.kin.pos;
        let cruise = self.config.limits.speed_h_mps;
        match &mut self.guided {
            GuidedGoal::Hold(p) => {
                if pos.u <= 0.01 {
                    (Setpoint::Ground, None)
                } else {
                    (
                        Setpoint::Position {
                            target: *p,
                            speed_h_mps: cruise,
                        },
                        roi_yaw,
                    )
                }
            }
            GuidedGoal::Takeoff(t) => {
                let t = *t;
                if pos.u >= t.u - 0.1 {
                    self.guided = GuidedGoal::Hold(t);
                    self.events
                        .push(Event::Text(Severity::Info, "Takeoff complete".into()));
                }
                (
                    Setpoint::Position {
                        target: t,
                        speed_h_mps: cruise,
                    },
                    roi_yaw,
                )
            }
            GuidedGoal::Goto { target, speed_mps } => (
                Setpoint::Position {
                    target: *target,
                    speed_h_mps: *speed_mps,
                },
                roi_yaw,
            ),
            GuidedGoal::Velocity { velocity, until_s } => {
                if self.time_s >= *until_s {
                    self.guided = GuidedGoal::Hold(pos);
                    (
                        Setpoint::Position {
                            target: pos,
                            speed_h_mps: cruise,
                        },
                        roi_yaw,
                    )
                } else {
                    (
                        Setpoint::Velocity {
                            velocity: *velocity,
                        },
                        roi_yaw,
                    )
                }
            }
            GuidedGoal::Orbit {
                orbit,
                travelled_rad,
                last_angle,
            } => {
                let (ce, cn) = orbit.center;
                let (de, dn) = (pos.e - ce, pos.n - cn);
                let d = de.hypot(dn);
                let (re, rn) = if d > 0.5 {
                    (de / d, dn / d)
                } else {
                    (1.0, 0.0)
                };
                let angle = rn.atan2(re);
                if let Some(last) = *last_angle {
                    *travelled_rad += wrap_180((angle - last).to_degrees()).to_radians().abs();
                }
                *last_angle = Some(angle);
                if orbit
                    .turns
                    .is_some_and(|t| *travelled_rad >= t * std::f64::consts::TAU)
                {
                    self.guided = GuidedGoal::Hold(pos);
                    self.events
                        .push(Event::Text(Severity::Info, "Orbit complete".into()));
                    return (
                        Setpoint::Position {
                            target: pos,
                            speed_h_mps: cruise,
                        },
                        None,
                    );
                }
                // Tangential speed, capped so the centripetal acceleration
                // stays within the horizontal limit.
                let lim = &self.config.limits;
                let speed = orbit
                    .speed_mps
                    .min((lim.accel_h_mps2 * orbit.radius_m).sqrt() * 0.9);
                let (te, tn) = if orbit.clockwise {
                    (rn, -re)
                } else {
                    (-rn, re)
                };
                let radial = (-(d - orbit.radius_m)).clamp(-lim.speed_h_mps, lim.speed_h_mps);
                let near = ((d - orbit.radius_m).abs() < orbit.radius_m.max(5.0)) as u8 as f64;
                let velocity = Enu::new(
                    te * speed * near + re * radial,
                    tn * speed * near + rn * radial,
                    (orbit.alt_m - pos.u).clamp(-lim.descent_mps, lim.climb_mps),
                );
                let face_center = (-de).atan2(-dn).to_degrees();
                (Setpoint::Velocity { velocity }, Some(face_center))
            }
        }
    }

    /// The RTL setpoint, advancing `phase`. Returns to home (the origin).
    fn rtl_setpoint(&mut self, phase: &mut RtlPhase) -> Setpoint {
        let pos = self.kin.pos;
        let cruise = self.config.limits.speed_h_mps;
        loop {
            match *phase {
                RtlPhase::Climb { alt_m, over } => {
                    if pos.u >= alt_m - 0.5 {
                        *phase = RtlPhase::Return { alt_m };
                        continue;
                    }
                    return Setpoint::Position {
                        target: Enu::new(over.e, over.n, alt_m),
                        speed_h_mps: cruise,
                    };
                }
                RtlPhase::Return { alt_m } => {
                    let home = Enu::new(0.0, 0.0, alt_m);
                    if pos.horizontal_dist(&home) <= self.config.wp_radius_m {
                        *phase = RtlPhase::Loiter {
                            until_s: self.time_s + self.config.rtl_loiter_s,
                            alt_m,
                        };
                        continue;
                    }
                    return Setpoint::Position {
                        target: home,
                        speed_h_mps: cruise,
                    };
                }
                RtlPhase::Loiter { until_s, alt_m } => {
                    if self.time_s >= until_s {
                        *phase = RtlPhase::Land;
                        continue;
                    }
                    return Setpoint::Position {
                        target: Enu::new(0.0, 0.0, alt_m),
                        speed_h_mps: cruise,
                    };
                }
                RtlPhase::Land => {
                    return Setpoint::Land {
                        over: Enu::default(),
                    };
                }
            }
        }
    }

    /// The AUTO setpoint: runs DO items, starts and completes NAV items.
    fn auto_setpoint(&mut self) -> Setpoint {
        let pos = self.kin.pos;
        if self.progress != MissionProgress::Active {
            if self.armed && !self.kin.on_ground() && self.progress != MissionProgress::Complete {
                self.progress = MissionProgress::Active;
            } else if let AutoPhase::Done { hold } = self.auto {
                return Setpoint::Position {
                    target: hold,
                    speed_h_mps: self.auto_speed_mps,
                };
            } else if self.kin.on_ground() {
                // On the ground in AUTO: wait for MISSION_START.
                return Setpoint::Ground;
            }
        }
        // A bounded number of item transitions per step.
        for _ in 0..16 {
            let idx = usize::from(self.mission_current);
            let Some(item) = self.mission.get(idx).copied() else {
                return self.finish_mission(pos);
            };
            match self.auto {
                AutoPhase::Start => {
                    if !item.is_nav() {
                        self.run_do(item);
                        self.advance();
                        continue;
                    }
                    self.auto = match item {
                        MissionCommand::Waypoint { place, hold_s } => AutoPhase::Going {
                            target: place.resolve(&pos),
                            hold_s,
                        },
                        MissionCommand::LoiterTime { place, time_s } => AutoPhase::Going {
                            target: place.resolve(&pos),
                            hold_s: time_s,
                        },
                        MissionCommand::LoiterUnlimited { place } => AutoPhase::Going {
                            target: place.resolve(&pos),
                            hold_s: f64::INFINITY,
                        },
                        MissionCommand::Takeoff { alt_m } => AutoPhase::TakingOff {
                            target: Enu::new(pos.e, pos.n, alt_m.max(pos.u)),
                        },
                        MissionCommand::ReturnToLaunch => AutoPhase::Rtl(self.rtl_start()),
                        MissionCommand::Land { place } => AutoPhase::Landing {
                            over: Enu::new(
                                place.en.map_or(pos.e, |p| p.0),
                                place.en.map_or(pos.n, |p| p.1),
                                pos.u,
                            ),
                            descending: place.en.is_none(),
                        },
                        _ => AutoPhase::Start,
                    };
                }
                AutoPhase::Going { target, hold_s } => {
                    if pos.dist(&target) <= self.config.wp_radius_m {
                        self.reached();
                        self.auto = AutoPhase::Holding {
                            target,
                            until_s: self.time_s + hold_s,
                        };
                        continue;
                    }
                    return Setpoint::Position {
                        target,
                        speed_h_mps: self.auto_speed_mps,
                    };
                }
                AutoPhase::Holding { target, until_s } => {
                    if self.time_s >= until_s {
                        self.advance();
                        continue;
                    }
                    return Setpoint::Position {
                        target,
                        speed_h_mps: self.auto_speed_mps,
                    };
                }
                AutoPhase::TakingOff { target } => {
                    if pos.u >= target.u - 0.5 {
                        self.reached();
                        self.advance();
                        continue;
                    }
                    return Setpoint::Position {
                        target,
                        speed_h_mps: self.auto_speed_mps,
                    };
                }
                AutoPhase::Rtl(mut phase) => {
                    let sp = self.rtl_setpoint(&mut phase);
                    self.auto = AutoPhase::Rtl(phase);
                    return sp;
                }
                AutoPhase::Landing { over, descending } => {
                    if !descending {
                        if pos.horizontal_dist(&over) <= self.config.wp_radius_m {
                            self.auto = AutoPhase::Landing {
                                over,
                                descending: true,
                            };
                            continue;
                        }
                        return Setpoint::Position {
                            target: over,
                            speed_h_mps: self.auto_speed_mps,
                        };
                    }
                    return Setpoint::Land { over };
                }
                AutoPhase::Done { hold } => {
                    return Setpoint::Position {
                        target: hold,
                        speed_h_mps: self.auto_speed_mps,
                    };
                }
            }
        }
        Setpoint::Position {
            target: pos,
            speed_h_mps: self.auto_speed_mps,
        }
    }

    fn finish_mission(&mut self, pos: Enu) -> Setpoint {
        if self.progress != MissionProgress::Complete {
            self.progress = MissionProgress::Complete;
            self.text(Severity::Info, "Mission complete");
        }
        self.auto = AutoPhase::Done { hold: pos };
        Setpoint::Position {
            target: pos,
            speed_h_mps: self.auto_speed_mps,
        }
    }

    fn reached(&mut self) {
        let seq = self.mission_current;
        self.events.push(Event::ItemReached(seq));
        self.text(Severity::Info, format!("Reached command #{seq}"));
    }

    fn advance(&mut self) {
        let next = self.mission_current.saturating_add(1);
        self.auto = AutoPhase::Start;
        if usize::from(next) >= self.mission.len() {
            // Stay on the last item; finish_mission runs on the next pass.
            self.mission_current = next;
        } else {
            self.set_current_index(next);
        }
    }

    fn run_do(&mut self, item: MissionCommand) {
        match item {
            MissionCommand::ChangeSpeed { speed_mps } if speed_mps > 0.0 => {
                self.auto_speed_mps = speed_mps.min(self.config.limits.speed_h_mps);
            }
            MissionCommand::SetRoi { target } => self.set_roi(target),
            MissionCommand::GimbalPitchYaw { pitch_deg, yaw_deg } => {
                self.point_gimbal(pitch_deg, yaw_deg, false)
            }
            _ => {}
        }
    }

    fn step_gimbal(&mut self, dt_s: f64) {
        let yaw = self.kin.yaw_deg;
        let (pitch, yaw_earth) = match self.gimbal.goal {
            GimbalGoal::Neutral => (self.config.gimbal_default_pitch_deg, yaw),
            GimbalGoal::Angles {
                pitch_deg,
                yaw_deg,
                earth,
            } => (pitch_deg, if earth { yaw_deg } else { yaw + yaw_deg }),
            GimbalGoal::Roi(target) => {
                let p = self.kin.pos;
                let h = p.horizontal_dist(&target);
                (
                    (target.u - p.u).atan2(h).to_degrees(),
                    bearing_deg(&p, &target),
                )
            }
        };
        let max = self.config.gimbal_rate_dps * dt_s;
        self.gimbal.pitch_deg +=
            (pitch.clamp(-90.0, 30.0) - self.gimbal.pitch_deg).clamp(-max, max);
        let dy = wrap_180(yaw_earth - self.gimbal.yaw_earth_deg).clamp(-max, max);
        self.gimbal.yaw_earth_deg = (self.gimbal.yaw_earth_deg + dy).rem_euclid(360.0);
    }

    /// Touchdown and auto-disarm.
    fn after_step(&mut self) {
        if !self.armed {
            return;
        }
        let on_ground = self.kin.on_ground();
        let landing = match self.mode {
            FlightMode::Land => true,
            FlightMode::Rtl => self.rtl == RtlPhase::Land,
            FlightMode::Auto => matches!(
                self.auto,
                AutoPhase::Rtl(RtlPhase::Land)
                    | AutoPhase::Landing {
                        descending: true,
                        ..
                    }
            ),
            _ => false,
        };
        if landing && on_ground {
            self.disarm_now("Landed: disarming motors");
            if self.mode == FlightMode::Auto {
                self.reached();
                self.advance();
                let pos = self.kin.pos;
                if usize::from(self.mission_current) >= self.mission.len() {
                    let _ = self.finish_mission(pos);
                }
            }
            return;
        }
        let taking_off = matches!(self.guided, GuidedGoal::Takeoff(_))
            && self.mode == FlightMode::Guided
            || self.mode == FlightMode::Auto && self.progress == MissionProgress::Active;
        if on_ground && !taking_off {
            let since = *self.idle_since_s.get_or_insert(self.time_s);
            if self.time_s - since >= self.config.disarm_delay_s {
                self.disarm_now("Disarming motors: idle on the ground");
            }
        } else {
            self.idle_since_s = None;
        }
    }
}

/// Bearing from `a` to `b`, degrees clockwise from north.
pub fn bearing_deg(a: &Enu, b: &Enu) -> f64 {
    (b.e - a.e).atan2(b.n - a.n).to_degrees().rem_euclid(360.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ap: &mut Autopilot, secs: f64) {
        for _ in 0..(secs / 0.02).round() as usize {
            ap.step(0.02);
        }
    }

    fn airborne(alt: f64) -> Autopilot {
        let mut ap = Autopilot::new(AutopilotConfig::default());
        ap.set_mode(FlightMode::Guided).unwrap();
        ap.arm(false).unwrap();
        ap.takeoff(alt).unwrap();
        run(&mut ap, alt / 2.5 + 8.0);
        ap
    }

    #[test]
    fn arming_is_refused_without_gps_or_in_rtl_and_twice_is_harmless() {
        let mut ap = Autopilot::new(AutopilotConfig::default());
        ap.gps_fix = false;
        assert_eq!(ap.arm(false).unwrap_err().reason, "PreArm: Need 3D Fix");
        assert!(!ap.armed());
        ap.gps_fix = true;
        ap.set_mode(FlightMode::Rtl).unwrap();
        assert!(ap.arm(false).is_err());
        ap.set_mode(FlightMode::Guided).unwrap();
        ap.arm(false).unwrap();
        ap.drain_events();
        ap.arm(false).unwrap();
        assert!(ap.drain_events().is_empty(), "a second arm does nothing");
    }

    #[test]
    fn takeoff_reaches_altitude_in_the_time_the_climb_rate_allows() {
        let mut ap = Autopilot::new(AutopilotConfig::default());
        ap.set_mode(FlightMode::Guided).unwrap();
        ap.arm(false).unwrap();
        ap.takeoff(20.0).unwrap();
        // 20 m at 2.5 m/s is 8 s, plus acceleration and the final approach.
        run(&mut ap, 8.0);
        assert!(
            ap.kin.pos.u < 19.0,
            "cannot beat the climb rate: {}",
            ap.kin.pos.u
        );
        run(&mut ap, 6.0);
        assert!((ap.kin.pos.u - 20.0).abs() < 0.3, "{}", ap.kin.pos.u);
        assert!(ap.flying());
    }

    #[test]
    fn rtl_climbs_returns_lands_and_disarms() {
        let mut ap = airborne(10.0);
        ap.goto(
            Place {
                en: Some((100.0, 50.0)),
                up_m: 10.0,
            },
            None,
        )
        .unwrap();
        run(&mut ap, 30.0);
        ap.set_mode(FlightMode::Rtl).unwrap();
        run(&mut ap, 10.0);
        assert!(
            ap.kin.pos.u > 14.0,
            "climbs to RTL_ALT first: {}",
            ap.kin.pos.u
        );
        run(&mut ap, 60.0);
        assert!(!ap.armed(), "landed and disarmed");
        assert!(ap.kin.pos.horizontal_len() < 2.5, "{:?}", ap.kin.pos);
    }

    #[test]
    fn orbit_circles_at_the_radius() {
        let mut ap = airborne(20.0);
        ap.orbit(Orbit {
            center: (0.0, 0.0),
            radius_m: 30.0,
            clockwise: true,
            speed_mps: 5.0,
            alt_m: 25.0,
            turns: None,
        })
        .unwrap();
        run(&mut ap, 40.0);
        let mut min: f64 = f64::MAX;
        let mut max: f64 = 0.0;
        for _ in 0..1000 {
            ap.step(0.02);
            let r = ap.kin.pos.horizontal_len();
            min = min.min(r);
            max = max.max(r);
        }
        assert!(min > 28.0 && max < 32.0, "{min} {max}");
        assert!((ap.kin.pos.u - 25.0).abs() < 0.5);
        assert!(ap.kin.vel.horizontal_len() > 4.0);
    }

    #[test]
    fn roi_points_the_gimbal_down_at_the_target() {
        let mut ap = airborne(30.0);
        ap.set_roi(Some(Enu::new(30.0, 0.0, 0.0)));
        run(&mut ap, 5.0);
        assert!(
            (ap.gimbal.pitch_deg + 45.0).abs() < 1.0,
            "{}",
            ap.gimbal.pitch_deg
        );
        assert!(
            (ap.gimbal.yaw_earth_deg - 90.0).abs() < 1.0,
            "{}",
            ap.gimbal.yaw_earth_deg
        );
        assert!((ap.kin.yaw_deg - 90.0).abs() < 1.0, "nose follows the ROI");
    }
}
