//! What an incident is: its category (a fixed list of situations, never of
//! persons), priority, place, source and the status lifecycle with every
//! transition timed.
//!
//! Lifecycle: `new → dispatched → on_scene → closed`, and `cancelled` from
//! any open status. [`Status::may_become`] is the one table of allowed moves.

use serde::{Deserialize, Serialize};

/// What an incident is about. Fixed by design: situations and objects only.
/// There is deliberately no biometric, appearance or "suspicious person"
/// category, and none may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Someone needs medical help.
    Medical,
    /// Fire or smoke.
    Fire,
    /// Dangerous crowd density or movement.
    CrowdDensity,
    /// A fight or an assault in progress.
    Violence,
    /// Theft or pickpocketing reported.
    Theft,
    /// An unattended object (bag, parcel).
    UnattendedObject,
    /// A lost child or a person looking for someone (reported by them).
    LostPerson,
    /// Breach of a perimeter, gate or barrier.
    PerimeterBreach,
    /// Road traffic problem or accident.
    Traffic,
    /// Damaged structure, fallen barrier, hazard on the ground.
    Hazard,
    /// A drone flying without authorisation.
    UnauthorisedDrone,
    /// Anything else; described in the text.
    Other,
}

impl Category {
    /// Every category, in the protocol's order.
    pub const ALL: [Category; 12] = [
        Category::Medical,
        Category::Fire,
        Category::CrowdDensity,
        Category::Violence,
        Category::Theft,
        Category::UnattendedObject,
        Category::LostPerson,
        Category::PerimeterBreach,
        Category::Traffic,
        Category::Hazard,
        Category::UnauthorisedDrone,
        Category::Other,
    ];

    /// Stable lower-case name, as stored, in JSON and in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Medical => "medical",
            Category::Fire => "fire",
            Category::CrowdDensity => "crowd_density",
            Category::Violence => "violence",
            Category::Theft => "theft",
            Category::UnattendedObject => "unattended_object",
            Category::LostPerson => "lost_person",
            Category::PerimeterBreach => "perimeter_breach",
            Category::Traffic => "traffic",
            Category::Hazard => "hazard",
            Category::UnauthorisedDrone => "unauthorised_drone",
            Category::Other => "other",
        }
    }

    /// Priority given to a report that does not say (tablet reports):
    /// `high` where lives may be at stake, `normal` otherwise.
    pub fn default_priority(self) -> Priority {
        match self {
            Category::Medical | Category::Fire | Category::CrowdDensity | Category::Violence => {
                Priority::High
            }
            _ => Priority::Normal,
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The category of a tablet's `IncidentCategory` number; `None` for
    /// `UNSPECIFIED` or a number this server does not know.
    pub fn from_proto(n: i32) -> Option<Category> {
        usize::try_from(n)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| Category::ALL.get(i).copied())
    }
}

/// How urgent an incident is; orders inherit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Routine.
    Low,
    /// Default.
    Normal,
    /// Go now.
    High,
    /// Life at risk.
    Critical,
}

impl Priority {
    /// Stable lower-case name (also the order queue's priority name).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Priority> {
        [
            Priority::Low,
            Priority::Normal,
            Priority::High,
            Priority::Critical,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// Where an incident came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A patrol tablet's incident report (QUIC link).
    Tablet,
    /// An operator in the control room (HTTP API, viewer).
    Operator,
    /// An emergency call point raising an alarm at its location.
    CallPoint,
    /// An external system with a `reporter` token (citizen app, venue).
    External,
}

impl Source {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Tablet => "tablet",
            Source::Operator => "operator",
            Source::CallPoint => "call_point",
            Source::External => "external",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Source> {
        [
            Source::Tablet,
            Source::Operator,
            Source::CallPoint,
            Source::External,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// Where an incident is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Reported, no unit ordered yet.
    New,
    /// At least one order stored for a unit.
    Dispatched,
    /// A unit reported arriving.
    OnScene,
    /// Dealt with (ends the incident).
    Closed,
    /// Withdrawn: false alarm, duplicate (ends the incident).
    Cancelled,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Dispatched,
        Status::OnScene,
        Status::Closed,
        Status::Cancelled,
    ];

    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Dispatched => "dispatched",
            Status::OnScene => "on_scene",
            Status::Closed => "closed",
            Status::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the incident is over.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Closed | Status::Cancelled)
    }

    /// The lifecycle table: whether `self` may move to `to`.
    pub fn may_become(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (New, Dispatched)
                | (Dispatched, OnScene)
                | (New | Dispatched | OnScene, Closed | Cancelled)
        )
    }
}

/// A WGS84 point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Latitude, degrees north, -90..90.
    pub lat_deg: f64,
    /// Longitude, degrees east, -180..180.
    pub lon_deg: f64,
}

impl GeoPoint {
    /// Whether the point is a WGS84 position.
    pub fn is_valid(&self) -> bool {
        (-90.0..=90.0).contains(&self.lat_deg) && (-180.0..=180.0).contains(&self.lon_deg)
    }
}

/// Most bytes of free text kept with an incident (as the tablet protocol).
pub const MAX_TEXT_BYTES: usize = 2000;

/// An incident as reported, before it has an id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What it is about.
    pub category: Category,
    /// How urgent.
    pub priority: Priority,
    /// Where.
    pub location: GeoPoint,
    /// Which kind of source reported it.
    pub source: Source,
    /// Who: unit id, operator name, call point id or integration name.
    pub reporter: String,
    /// Free text, at most [`MAX_TEXT_BYTES`].
    pub text: String,
    /// When it was observed, Unix ms.
    pub observed_ms: i64,
}

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// Location outside WGS84 bounds.
    #[error("location is not a WGS84 position (lat -90..90, lon -180..180)")]
    BadLocation,
    /// Text too long.
    #[error("text over {MAX_TEXT_BYTES} bytes: shorten it")]
    TextTooLong,
}

impl Report {
    /// Checks the report before it is stored.
    pub fn validate(&self) -> Result<(), ReportError> {
        if !self.location.is_valid() {
            return Err(ReportError::BadLocation);
        }
        if self.text.len() > MAX_TEXT_BYTES {
            return Err(ReportError::TextTooLong);
        }
        Ok(())
    }
}

/// One timed status change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// The status entered.
    pub status: Status,
    /// When, Unix ms.
    pub at_ms: i64,
    /// Who or what caused it (`operator:NAME`, `unit:P03`, `dispatch`).
    pub by: String,
}

/// A stored incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Server-unique id.
    pub id: u64,
    /// The report as received.
    #[serde(flatten)]
    pub report: Report,
    /// When the server stored it, Unix ms.
    pub created_ms: i64,
    /// Current status.
    pub status: Status,
    /// Every status entered, oldest first (starts with `new`).
    pub transitions: Vec<Transition>,
    /// First time a camera or drone saw the spot, Unix ms.
    pub eyes_on_ms: Option<i64>,
    /// First time a unit reported arriving, Unix ms.
    pub on_scene_ms: Option<i64>,
}

impl Incident {
    /// A new incident from a stored report.
    pub fn new(id: u64, report: Report, created_ms: i64) -> Incident {
        Incident {
            id,
            report,
            created_ms,
            status: Status::New,
            transitions: vec![Transition {
                status: Status::New,
                at_ms: created_ms,
                by: "dispatch".into(),
            }],
            eyes_on_ms: None,
            on_scene_ms: None,
        }
    }

    /// Moves to `to` if the lifecycle allows; `false` (and no change) if not.
    pub fn transition(&mut self, to: Status, at_ms: i64, by: &str) -> bool {
        if !self.status.may_become(to) {
            return false;
        }
        self.status = to;
        self.transitions.push(Transition {
            status: to,
            at_ms,
            by: by.to_string(),
        });
        if to == Status::OnScene && self.on_scene_ms.is_none() {
            self.on_scene_ms = Some(at_ms);
        }
        true
    }

    /// The id as orders carry it.
    pub fn order_ref(&self) -> String {
        self.id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_follow_the_protocol_numbers_and_names_round_trip() {
        assert_eq!(Category::from_proto(0), None);
        assert_eq!(Category::from_proto(1), Some(Category::Medical));
        assert_eq!(Category::from_proto(12), Some(Category::Other));
        assert_eq!(Category::from_proto(13), None);
        assert_eq!(Category::from_proto(-1), None);
        for c in Category::ALL {
            assert_eq!(Category::parse(c.as_str()), Some(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
        for banned in ["suspicious_person", "face", "biometric"] {
            assert!(Category::parse(banned).is_none());
            assert!(serde_json::from_str::<Category>(&format!("\"{banned}\"")).is_err());
        }
    }

    #[test]
    fn lifecycle_only_moves_forward_and_times_every_step() {
        let report = Report {
            category: Category::Fire,
            priority: Priority::High,
            location: GeoPoint {
                lat_deg: 48.9,
                lon_deg: 2.3,
            },
            source: Source::Operator,
            reporter: "claire".into(),
            text: String::new(),
            observed_ms: 5,
        };
        let mut i = Incident::new(1, report, 10);
        assert!(
            !i.transition(Status::OnScene, 11, "x"),
            "new cannot jump on scene"
        );
        assert!(i.transition(Status::Dispatched, 12, "dispatch"));
        assert!(!i.transition(Status::New, 13, "x"));
        assert!(i.transition(Status::OnScene, 14, "unit:P1"));
        assert_eq!(i.on_scene_ms, Some(14));
        assert!(i.transition(Status::Closed, 20, "operator:c"));
        assert!(!i.transition(Status::Cancelled, 21, "x"), "closed is final");
        let times: Vec<_> = i.transitions.iter().map(|t| (t.status, t.at_ms)).collect();
        assert_eq!(
            times,
            vec![
                (Status::New, 10),
                (Status::Dispatched, 12),
                (Status::OnScene, 14),
                (Status::Closed, 20)
            ]
        );
    }
}
