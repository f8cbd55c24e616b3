//! The `[dispatch]` section of the configuration: when units are ordered
//! automatically, how long an order may stay unacknowledged, how travel
//! times are estimated, and the emergency call points of the site.

use serde::{Deserialize, Serialize};

use super::incident::{Category, GeoPoint, Priority};

/// How dispatch behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatchConfig {
    /// Incidents of at least this priority get units ordered at once, without
    /// waiting for a dispatcher (the best-ranked available patrols). Absent:
    /// never; a dispatcher assigns every incident.
    pub auto_assign_min_priority: Option<Priority>,
    /// How many patrols an automatic assignment orders. Default 1.
    pub auto_assign_units: usize,
    /// An order not acknowledged after this long is sent to the unit again
    /// (on its live connection, or when it reconnects), and again after each
    /// such delay, milliseconds. Default 10 000.
    pub resend_after_ms: u64,
    /// Copies of an unacknowledged order sent again on one live connection,
    /// at most; then only the escalation is left. Default 5.
    pub max_resends: u32,
    /// An order still not acknowledged this long after it was issued is
    /// escalated to the operators, milliseconds. Default 30 000.
    pub escalate_after_ms: u64,
    /// Straight-line distance times this gives the street distance when no
    /// street network is loaded. Default 1.3 (typical of European city
    /// centres' street grids).
    pub detour_factor: f64,
    /// Speed of a patrol on foot, metres per second. Default 1.4.
    pub walking_speed_m_s: f64,
    /// Speed of a patrol in a vehicle, metres per second. Default 8.0.
    pub driving_speed_m_s: f64,
    /// Patrol unit ids that drive (the others walk).
    pub vehicle_units: Vec<String>,
    /// Drone cruise speed used for time to overhead, metres per second.
    /// Default 12.
    pub drone_cruise_m_s: f64,
    /// Flight time of a full battery, seconds. Default 1500 (25 min).
    pub drone_endurance_s: f64,
    /// Battery left on return that a suggestion must keep, percent.
    /// Default 25.
    pub drone_reserve_pct: f64,
    /// How many patrols a suggestion lists. Default 5.
    pub suggestions: usize,
    /// Street network (GeoJSON LineStrings, as `vigie sim patrols --streets`
    /// reads) to route travel times on; absent: straight line × the detour
    /// factor.
    pub streets: Option<std::path::PathBuf>,
    /// Emergency call points: fixed units that raise an incident at their
    /// location (`POST /api/v1/callpoints/{id}/alarm`).
    pub call_points: Vec<CallPoint>,
    /// Zones of the event whose camera coverage the live page and the
    /// metrics report.
    pub event_zones: Vec<EventZone>,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            auto_assign_min_priority: None,
            auto_assign_units: 1,
            resend_after_ms: 10_000,
            max_resends: 5,
            escalate_after_ms: 30_000,
            detour_factor: 1.3,
            walking_speed_m_s: 1.4,
            driving_speed_m_s: 8.0,
            vehicle_units: Vec::new(),
            drone_cruise_m_s: 12.0,
            drone_endurance_s: 1500.0,
            drone_reserve_pct: 25.0,
            suggestions: 5,
            streets: None,
            call_points: Vec::new(),
            event_zones: Vec::new(),
        }
    }
}

impl DispatchConfig {
    /// What makes no sense in these values, if anything.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("detour_factor", self.detour_factor),
            ("walking_speed_m_s", self.walking_speed_m_s),
            ("driving_speed_m_s", self.driving_speed_m_s),
            ("drone_cruise_m_s", self.drone_cruise_m_s),
            ("drone_endurance_s", self.drone_endurance_s),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!(
                    "dispatch.{name} must be a positive number, got {v}"
                ));
            }
        }
        if self.detour_factor < 1.0 {
            return Err("dispatch.detour_factor must be at least 1 (streets are never shorter than the straight line)".into());
        }
        if !(0.0..100.0).contains(&self.drone_reserve_pct) {
            return Err("dispatch.drone_reserve_pct must be in 0..100".into());
        }
        if self.resend_after_ms == 0 || self.escalate_after_ms == 0 {
            return Err("dispatch.resend_after_ms and escalate_after_ms must be above 0".into());
        }
        for cp in &self.call_points {
            if !cp.location.is_valid() {
                return Err(format!(
                    "call point {:?}: location is not a WGS84 position",
                    cp.id
                ));
            }
        }
        for z in &self.event_zones {
            if z.ring.len() < 3 || z.ring.iter().any(|p| !p.is_valid()) {
                return Err(format!(
                    "event zone {:?}: give at least 3 WGS84 vertices",
                    z.name
                ));
            }
        }
        Ok(())
    }

    /// When a tablet session sends an unacknowledged order again.
    pub fn resend_policy(&self) -> crate::patrol::session::ResendPolicy {
        crate::patrol::session::ResendPolicy {
            after: std::time::Duration::from_millis(self.resend_after_ms),
            max: self.max_resends,
        }
    }

    /// The call point `id`, if declared.
    pub fn call_point(&self, id: &str) -> Option<&CallPoint> {
        self.call_points.iter().find(|c| c.id == id)
    }
}

/// An emergency call point declared in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallPoint {
    /// Unit id of the call point (`CP-NORTH-3`).
    pub id: String,
    /// Where it stands.
    pub location: GeoPoint,
    /// Category of the incident its alarm raises. Default `medical`.
    #[serde(default = "default_category")]
    pub category: Category,
    /// Priority of that incident. Default `high`.
    #[serde(default = "default_priority")]
    pub priority: Priority,
}

fn default_category() -> Category {
    Category::Medical
}

fn default_priority() -> Priority {
    Priority::High
}

/// A zone of the event (stands, forecourt, fan zone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventZone {
    /// Name shown on the live page and in metric labels.
    pub name: String,
    /// Outline, WGS84 vertices (closed or not).
    pub ring: Vec<GeoPoint>,
}
