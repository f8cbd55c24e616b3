//! The picture the viewer renders: static layers of a site (ground,
//! buildings, streets, zones, privacy masks, fixed cameras, incidents) and
//! the moving units (drones, patrols) that a source keeps up to date.
//!
//! All geometry is in the site's local frame ([`LocalFrame`]): east/north
//! metres around the origin, heights in metres above the ground. WGS84 lives
//! only at the edges (scenario files, the live API).

use vigie_ground::frame::LocalFrame;
use vigie_protocols::api::{Unit, UnitKind, UnitStatus};

/// A point in the local frame: `[east_m, north_m]`.
pub type EastNorth = [f64; 2];

/// The static part of a site: everything that does not move on its own.
#[derive(Debug, Clone)]
pub struct Scene {
    /// Human-readable name of the site.
    pub name: String,
    /// The local frame every layer is expressed in.
    pub frame: LocalFrame,
    /// Half the side of the square ground around the origin, metres.
    pub extent_m: f64,
    /// Buildings, extruded from their footprints.
    pub buildings: Vec<Building>,
    /// Streets, drawn as flat ribbons.
    pub streets: Vec<Street>,
    /// Event zones, no-fly zones and drone authorisation perimeters.
    pub zones: Vec<Zone>,
    /// Areas that must never be shown nor counted as covered.
    pub privacy_masks: Vec<PrivacyMask>,
    /// Fixed video-protection cameras.
    pub cameras: Vec<FixedCamera>,
    /// Incidents with their suggested units.
    pub incidents: Vec<Incident>,
}

impl Scene {
    /// An empty site (ground only) around a WGS84 origin.
    pub fn empty(name: &str, origin_lat_deg: f64, origin_lon_deg: f64, extent_m: f64) -> Scene {
        Scene {
            name: name.to_owned(),
            frame: LocalFrame::new(origin_lat_deg, origin_lon_deg),
            extent_m,
            buildings: Vec::new(),
            streets: Vec::new(),
            zones: Vec::new(),
            privacy_masks: Vec::new(),
            cameras: Vec::new(),
            incidents: Vec::new(),
        }
    }
}

/// A building: a footprint extruded to a roof height.
#[derive(Debug, Clone, PartialEq)]
pub struct Building {
    /// Name, when known (for the details panel).
    pub name: String,
    /// Outer ring of the footprint, local frame, not closed (first != last).
    pub footprint: Vec<EastNorth>,
    /// Roof height above the ground, metres.
    pub height_m: f64,
}

/// A street centre line.
#[derive(Debug, Clone, PartialEq)]
pub struct Street {
    /// Street name.
    pub name: String,
    /// Centre line, local frame.
    pub line: Vec<EastNorth>,
    /// Carriageway width, metres.
    pub width_m: f64,
}

/// What a zone means, which sets its colour and who must respect it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZoneKind {
    /// The event perimeter to be covered (gaps are counted inside it).
    Event,
    /// Airspace no drone may enter.
    NoFly,
    /// The perimeter (and ceiling) of the active drone flight authorisation.
    DronePerimeter,
}

impl ZoneKind {
    /// Parses the `kind` property of a zone feature.
    pub fn parse(s: &str) -> Option<ZoneKind> {
        match s {
            "event" => Some(ZoneKind::Event),
            "no_fly" => Some(ZoneKind::NoFly),
            "drone_perimeter" => Some(ZoneKind::DronePerimeter),
            _ => None,
        }
    }
}

/// A zone drawn as a translucent volume between a floor and a ceiling.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// Name shown to the operator.
    pub name: String,
    /// What the zone means.
    pub kind: ZoneKind,
    /// Outer ring, local frame, not closed.
    pub ring: Vec<EastNorth>,
    /// Floor of the volume above the ground, metres.
    pub floor_m: f64,
    /// Ceiling of the volume above the ground, metres.
    pub ceiling_m: f64,
}

/// An area blacked out in every view and excluded from coverage.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivacyMask {
    /// Why the mask exists (e.g. "housing windows, rue X").
    pub name: String,
    /// Outer ring, local frame, not closed.
    pub ring: Vec<EastNorth>,
}

/// The network that owns a fixed camera; sets its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnerNetwork {
    /// Municipal video protection.
    City,
    /// Public transport operator.
    Transit,
    /// Car park operator.
    Parking,
    /// Social housing landlord.
    Housing,
}

impl OwnerNetwork {
    /// All networks, in legend order.
    pub const ALL: [OwnerNetwork; 4] = [
        OwnerNetwork::City,
        OwnerNetwork::Transit,
        OwnerNetwork::Parking,
        OwnerNetwork::Housing,
    ];

    /// Parses the `owner` property of a camera feature.
    pub fn parse(s: &str) -> Option<OwnerNetwork> {
        match s {
            "city" => Some(OwnerNetwork::City),
            "transit" => Some(OwnerNetwork::Transit),
            "parking" => Some(OwnerNetwork::Parking),
            "housing" => Some(OwnerNetwork::Housing),
            _ => None,
        }
    }

    /// Stable lower-case name, as in files.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerNetwork::City => "city",
            OwnerNetwork::Transit => "transit",
            OwnerNetwork::Parking => "parking",
            OwnerNetwork::Housing => "housing",
        }
    }
}

/// A fixed camera from the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedCamera {
    /// Inventory id.
    pub id: String,
    /// Label.
    pub name: String,
    /// Mount position, local frame.
    pub position: EastNorth,
    /// Mount height above the ground, metres.
    pub height_m: f64,
    /// Optical axis heading, degrees clockwise from north.
    pub heading_deg: f64,
    /// Optical axis tilt below the horizon, degrees (0 = horizon, 90 = down).
    pub tilt_deg: f64,
    /// Horizontal field of view, degrees.
    pub hfov_deg: f64,
    /// Useful range (identification distance), metres.
    pub range_m: f64,
    /// Owner network.
    pub owner: OwnerNetwork,
    /// Ground coverage, a local ring (not closed), from
    /// [`crate::coverage::fixed_camera_coverage`].
    pub coverage: Vec<EastNorth>,
}

/// An incident and the units suggested to handle it.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// Incident id.
    pub id: String,
    /// Short description.
    pub title: String,
    /// Where it is, local frame.
    pub position: EastNorth,
    /// Ids of the units the dispatcher suggests, best first.
    pub suggested: Vec<String>,
}

/// The moving part of the picture at one instant: every unit as the API
/// describes it, plus recent tracks when the source knows them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Picture {
    /// Time of the picture, Unix milliseconds (scenario: milliseconds since
    /// the scenario start).
    pub at_ms: i64,
    /// Every unit, as `GET /api/v1/units` returns them.
    pub units: Vec<Unit>,
    /// Recent track of some units, oldest first, `[east_m, north_m, alt_m]`:
    /// given by sources that know the past (scenario); live sources leave it
    /// empty and the viewer accumulates tracks itself.
    pub tracks: Vec<(String, Vec<[f64; 3]>)>,
}

/// A unit placed in the local frame, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedUnit {
    /// Unit id.
    pub id: String,
    /// Drone, patrol, camera or call point.
    pub kind: UnitKind,
    /// Operational status.
    pub status: UnitStatus,
    /// Position, local frame.
    pub position: EastNorth,
    /// Height above the ground, metres (drones: relative altitude).
    pub alt_m: f64,
    /// Heading, degrees clockwise from north, when known.
    pub heading_deg: Option<f64>,
    /// Camera footprint, local ring (not closed), when the unit has one.
    pub coverage: Option<Vec<EastNorth>>,
}

/// Places an API unit in the local frame, or `None` when it has no position.
pub fn place(frame: &LocalFrame, unit: &Unit) -> Option<PlacedUnit> {
    let pos = unit.position?;
    if !(pos.lat_deg.is_finite() && pos.lon_deg.is_finite()) {
        return None;
    }
    let (e, n) = frame.to_local(pos.lat_deg, pos.lon_deg);
    let alt_m = match unit.kind {
        UnitKind::Drone => pos.alt_rel_m.unwrap_or(0.0).max(0.0),
        _ => 0.0,
    };
    let coverage = unit.coverage.as_ref().map(|ring| {
        let mut local: Vec<EastNorth> = ring
            .iter()
            .map(|&[lon, lat]| {
                let (e, n) = frame.to_local(lat, lon);
                [e, n]
            })
            .collect();
        // GeoJSON rings are closed; ours are not.
        if local.len() > 1 && local.first() == local.last() {
            local.pop();
        }
        local
    });
    Some(PlacedUnit {
        id: unit.id.clone(),
        kind: unit.kind,
        status: unit.status,
        position: [e, n],
        alt_m,
        heading_deg: pos.heading_deg,
        coverage: coverage.filter(|r| r.len() >= 3),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_protocols::api::Position;

    #[test]
    fn placing_a_unit_uses_the_frame_and_opens_the_ring() {
        let frame = LocalFrame::new(48.9245, 2.3602);
        let (lat, lon) = frame.to_wgs84(100.0, -50.0);
        let ring: Vec<[f64; 2]> = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 0.0)]
            .iter()
            .map(|&(e, n)| {
                let (la, lo) = frame.to_wgs84(e, n);
                [lo, la]
            })
            .collect();
        let unit = Unit {
            id: "d1".into(),
            kind: UnitKind::Drone,
            status: UnitStatus::Busy,
            name: None,
            position: Some(Position {
                lat_deg: lat,
                lon_deg: lon,
                alt_rel_m: Some(60.0),
                ..Position::default()
            }),
            last_seen_ms: None,
            source: "test".into(),
            coverage: Some(ring),
            drone: None,
            patrol: None,
        };
        let p = place(&frame, &unit).expect("has a position");
        assert!((p.position[0] - 100.0).abs() < 1e-6 && (p.position[1] + 50.0).abs() < 1e-6);
        assert_eq!(p.alt_m, 60.0);
        assert_eq!(p.coverage.map(|r| r.len()), Some(3));
    }

    #[test]
    fn a_unit_without_position_is_not_placed() {
        let frame = LocalFrame::new(48.9245, 2.3602);
        let unit = Unit {
            id: "p1".into(),
            kind: UnitKind::Patrol,
            status: UnitStatus::Available,
            name: None,
            position: None,
            last_seen_ms: None,
            source: "test".into(),
            coverage: None,
            drone: None,
            patrol: None,
        };
        assert!(place(&frame, &unit).is_none());
    }
}
