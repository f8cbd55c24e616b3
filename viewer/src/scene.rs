//! The picture the viewer renders: static layers of a site (ground, the
//! base map's water, parks, streets and landmarks, buildings, zones,
//! privacy masks, fixed cameras, incidents) and
//! the moving units (drones, patrols) that a source keeps up to date.
//!
//! All geometry is in the site's local frame ([`LocalFrame`]): east/north
//! metres around the origin, heights in metres above the ground. WGS84 lives
//! only at the edges (scenario files, the live API).

use std::sync::Arc;

use vigie_ground::frame::LocalFrame;
use vigie_ground::map::base::{self as basemap, BaseMap};

use crate::view::{Extent, OrbitView};
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
    /// Water of the base map (rivers, canals), flat.
    pub water: Vec<Area>,
    /// Parks and gardens of the base map, flat.
    pub parks: Vec<Area>,
    /// Named places of the base map, labelled.
    pub landmarks: Vec<Landmark>,
    /// What the base map's licence asks to be shown with it; empty without
    /// a base map.
    pub attribution: String,
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
            water: Vec::new(),
            parks: Vec::new(),
            landmarks: Vec::new(),
            attribution: String::new(),
        }
    }

    /// Adds a base map: water, parks, streets and landmarks in the scene's
    /// frame, the attribution kept. What lies wholly off the ground square
    /// is left out (it would float beside the site).
    pub fn add_base(&mut self, map: &BaseMap) {
        let frame = self.frame;
        let e = self.extent_m;
        let local = |p: &[f64; 2]| frame.local(*p);
        let on_ground = |pts: &[EastNorth]| {
            Extent::of(pts.iter().copied())
                .is_some_and(|b| b.max[0] >= -e && b.min[0] <= e && b.max[1] >= -e && b.min[1] <= e)
        };
        let areas = |list: &[basemap::Area]| -> Vec<Area> {
            list.iter()
                .map(|a| Area {
                    name: a.name.clone(),
                    ring: open(a.ring.iter().map(local).collect()),
                })
                .filter(|a| on_ground(&a.ring))
                .collect()
        };
        self.water.extend(areas(&map.water));
        self.parks.extend(areas(&map.parks));
        for s in &map.streets {
            let line: Vec<EastNorth> = s.line.iter().map(local).collect();
            if on_ground(&line) {
                self.streets.push(Street {
                    name: s.name.clone(),
                    line,
                    width_m: s.width_m,
                });
            }
        }
        for l in &map.landmarks {
            let at = local(&l.at);
            if on_ground(&[at]) {
                self.landmarks.push(Landmark {
                    name: l.name.clone(),
                    at,
                });
            }
        }
        if !map.attribution.is_empty() && !self.attribution.contains(&map.attribution) {
            if !self.attribution.is_empty() {
                self.attribution.push_str("; ");
            }
            self.attribution.push_str(&map.attribution);
        }
    }
}

/// A ring without its closing point.
pub fn open(mut ring: Vec<EastNorth>) -> Vec<EastNorth> {
    if ring.len() > 1 && ring.first() == ring.last() {
        ring.pop();
    }
    ring
}

impl Scene {
    /// What a view should frame: the event zones when the site has any,
    /// otherwise everything it shows (zones, cameras and their coverage,
    /// masks, incidents, buildings) and the units at `units`; `None` for an
    /// empty site with no units.
    pub fn interest(&self, units: impl IntoIterator<Item = EastNorth>) -> Option<Extent> {
        let event = Extent::of(
            self.zones
                .iter()
                .filter(|z| z.kind == ZoneKind::Event)
                .flat_map(|z| z.ring.iter().copied()),
        );
        if event.is_some() {
            return event;
        }
        Extent::of(
            self.zones
                .iter()
                .flat_map(|z| z.ring.iter().copied())
                .chain(
                    self.cameras.iter().flat_map(|c| {
                        std::iter::once(c.position).chain(c.coverage.iter().copied())
                    }),
                )
                .chain(
                    self.privacy_masks
                        .iter()
                        .flat_map(|m| m.ring.iter().copied()),
                )
                .chain(self.incidents.iter().map(|i| i.position))
                .chain(
                    self.buildings
                        .iter()
                        .flat_map(|b| b.footprint.iter().copied()),
                )
                .chain(units),
        )
    }

    /// The view a screen of `width` x `height` starts on: `mode`'s
    /// heading, pitch and projection, framing [`Scene::interest`], or the
    /// site's overview when there is nothing to frame.
    pub fn framing(
        &self,
        mode: OrbitView,
        units: impl IntoIterator<Item = EastNorth>,
        width: u32,
        height: u32,
    ) -> OrbitView {
        match self.interest(units) {
            Some(extent) => mode.fit(&extent, FRAMED_HEIGHT_M, width, height),
            None => OrbitView {
                top_down: mode.top_down,
                ..OrbitView::overview(self.extent_m)
            },
        }
    }
}

/// Height kept in a framed view above the framed box, metres (drones fly
/// up to 120 m; most of what matters is lower).
pub const FRAMED_HEIGHT_M: f64 = 40.0;

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
    /// Every kind.
    pub const ALL: [ZoneKind; 3] = [ZoneKind::Event, ZoneKind::NoFly, ZoneKind::DronePerimeter];

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

/// A flat area of the base map: water or a park.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    /// Name, possibly empty.
    pub name: String,
    /// Outer ring, local frame, not closed.
    pub ring: Vec<EastNorth>,
}

/// A named place of the base map.
#[derive(Debug, Clone, PartialEq)]
pub struct Landmark {
    /// Name (the label).
    pub name: String,
    /// Where the label stands, local frame.
    pub at: EastNorth,
}

/// An area blacked out in every view and excluded from coverage.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivacyMask {
    /// Why the mask exists (e.g. "housing windows, rue X").
    pub name: String,
    /// Outer ring, local frame, not closed.
    pub ring: Vec<EastNorth>,
}

/// The network that owns a fixed camera; sets its colour. The ground's
/// own type, so a camera file reads the same here (synonyms included).
pub use vigie_ground::coverage::Network as OwnerNetwork;

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
    /// Ids of the units the dispatcher suggests, best first (those with
    /// an order on it first).
    pub suggested: Vec<String>,
    /// Ids of the units that hold an order on it.
    pub assigned: Vec<String>,
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
    /// What the ground says of its site beside the units, when the source
    /// is a ground server that tells it (live over QUIC).
    pub ground: Option<GroundLayers>,
}

/// What a ground server says of its site beside the units, WGS84 as
/// received: its fixed cameras with the coverage its own index uses (line
/// of sight through buildings), the open incidents with the units suggested
/// and ordered, and the privacy masks. Each layer is shared: a source hands
/// the same `Arc` on until that layer changes, so that an unchanged layer
/// (100,000 cameras) is neither copied nor rebuilt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroundLayers {
    /// Fixed cameras, sorted by id.
    pub cameras: Arc<Vec<vigie_protocols::tablet::PictureCamera>>,
    /// Open incidents, sorted by id.
    pub incidents: Arc<Vec<vigie_protocols::tablet::PictureIncident>>,
    /// Privacy masks, outer rings of `[lon, lat]`.
    pub privacy_masks: Arc<Vec<Vec<[f64; 2]>>>,
}

/// Which of the ground's layers differ between two [`GroundLayers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroundChange {
    /// The cameras.
    pub cameras: bool,
    /// The incidents.
    pub incidents: bool,
    /// The privacy masks.
    pub masks: bool,
}

impl GroundChange {
    /// What changed from `old` (nothing applied yet: everything) to `new`;
    /// a layer shared by both (same `Arc`) is unchanged without a look.
    pub fn between(old: Option<&GroundLayers>, new: &GroundLayers) -> GroundChange {
        fn differs<T: PartialEq>(a: &Arc<T>, b: &Arc<T>) -> bool {
            !Arc::ptr_eq(a, b) && a != b
        }
        match old {
            None => GroundChange {
                cameras: true,
                incidents: true,
                masks: true,
            },
            Some(old) => GroundChange {
                cameras: differs(&old.cameras, &new.cameras),
                incidents: differs(&old.incidents, &new.incidents),
                masks: differs(&old.privacy_masks, &new.privacy_masks),
            },
        }
    }

    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        !(self.cameras || self.incidents || self.masks)
    }
}

impl Scene {
    /// This scene with the ground's layers: its cameras replace the
    /// scenario's when it has any (the ground's inventory is the reference),
    /// its open incidents replace the scripted ones, and its privacy masks
    /// are added to the scenario's (a mask is never dropped). Cameras of an
    /// owner this viewer does not know are drawn as "other".
    pub fn with_ground(&self, ground: &GroundLayers) -> Scene {
        let mut scene = self.clone();
        scene.take_ground(self, ground, GroundChange::between(None, ground));
        scene
    }

    /// Replaces, in this scene, the layers `change` names by `base`'s with
    /// the ground's (see [`Scene::with_ground`]); the others stay as they are.
    pub fn take_ground(&mut self, base: &Scene, ground: &GroundLayers, change: GroundChange) {
        let frame = self.frame;
        let local = |lat: f64, lon: f64| -> EastNorth {
            let (e, n) = frame.to_local(lat, lon);
            [e, n]
        };
        let ring = |points: &[vigie_protocols::tablet::GeoPoint]| -> Vec<EastNorth> {
            let mut r: Vec<EastNorth> =
                points.iter().map(|g| local(g.lat_deg, g.lon_deg)).collect();
            if r.len() > 1 && r.first() == r.last() {
                r.pop();
            }
            r
        };
        if change.cameras {
            self.cameras = if ground.cameras.is_empty() {
                base.cameras.clone()
            } else {
                ground
                    .cameras
                    .iter()
                    .filter_map(|c| {
                        let p = c.position.as_ref()?;
                        Some(FixedCamera {
                            id: c.id.clone(),
                            name: c.id.clone(),
                            position: local(p.lat_deg, p.lon_deg),
                            height_m: c.height_m,
                            heading_deg: c.heading_deg,
                            tilt_deg: 0.0,
                            hfov_deg: c.hfov_deg,
                            range_m: c.range_m,
                            owner: OwnerNetwork::parse(&c.network).unwrap_or(OwnerNetwork::Other),
                            coverage: ring(&c.coverage),
                        })
                    })
                    .collect()
            };
        }
        if change.incidents {
            self.incidents = ground
                .incidents
                .iter()
                .filter_map(|i| {
                    let p = i.location.as_ref()?;
                    let mut suggested = i.assigned.clone();
                    suggested.extend(
                        i.suggested
                            .iter()
                            .filter(|u| !i.assigned.contains(u))
                            .cloned(),
                    );
                    Some(Incident {
                        id: format!("incident:{}", i.id),
                        title: format!("#{} {} ({}, {})", i.id, i.category, i.priority, i.status),
                        position: local(p.lat_deg, p.lon_deg),
                        suggested,
                        assigned: i.assigned.clone(),
                    })
                })
                .collect();
        }
        if change.masks {
            self.privacy_masks = base.privacy_masks.clone();
            self.privacy_masks
                .extend(ground.privacy_masks.iter().enumerate().map(|(k, m)| {
                    let mut r: Vec<EastNorth> = m.iter().map(|p| local(p[1], p[0])).collect();
                    if r.len() > 1 && r.first() == r.last() {
                        r.pop();
                    }
                    PrivacyMask {
                        name: format!("ground mask {}", k + 1),
                        ring: r,
                    }
                }));
        }
    }
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
            position: Some(Position {
                lat_deg: lat,
                lon_deg: lon,
                alt_rel_m: Some(60.0),
                ..Position::default()
            }),
            coverage: Some(ring),
            ..Unit::new("d1", UnitKind::Drone, UnitStatus::Busy, "test")
        };
        let p = place(&frame, &unit).expect("has a position");
        assert!((p.position[0] - 100.0).abs() < 1e-6 && (p.position[1] + 50.0).abs() < 1e-6);
        assert_eq!(p.alt_m, 60.0);
        assert_eq!(p.coverage.map(|r| r.len()), Some(3));
    }

    #[test]
    fn a_unit_without_position_is_not_placed() {
        let frame = LocalFrame::new(48.9245, 2.3602);
        let unit = Unit::new("p1", UnitKind::Patrol, UnitStatus::Available, "test");
        assert!(place(&frame, &unit).is_none());
    }

    #[test]
    fn the_grounds_layers_replace_cameras_and_incidents_and_add_masks() {
        use vigie_protocols::tablet::{GeoPoint, PictureCamera, PictureIncident};
        let mut scene = Scene::empty("t", 48.9245, 2.3602, 500.0);
        scene.privacy_masks.push(PrivacyMask {
            name: "scenario".into(),
            ring: vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]],
        });
        let geo = |e: f64, n: f64| {
            let (lat_deg, lon_deg) = scene.frame.to_wgs84(e, n);
            GeoPoint { lat_deg, lon_deg }
        };
        let ground = GroundLayers {
            cameras: Arc::new(vec![PictureCamera {
                id: "cam:1".into(),
                network: "fleet".into(),
                position: Some(geo(10.0, 20.0)),
                height_m: 6.0,
                heading_deg: 90.0,
                hfov_deg: 60.0,
                range_m: 80.0,
                ptz: false,
                coverage: vec![
                    geo(10.0, 20.0),
                    geo(90.0, 0.0),
                    geo(90.0, 40.0),
                    geo(10.0, 20.0),
                ],
            }]),
            incidents: Arc::new(vec![PictureIncident {
                id: 7,
                category: "medical".into(),
                priority: "high".into(),
                status: "dispatched".into(),
                location: Some(geo(-30.0, 5.0)),
                suggested: vec!["P1".into(), "P2".into()],
                assigned: vec!["P2".into()],
                ..PictureIncident::default()
            }]),
            privacy_masks: Arc::new(vec![vec![[2.36, 48.92], [2.361, 48.92], [2.36, 48.921]]]),
        };
        let live = scene.with_ground(&ground);
        assert_eq!(live.cameras.len(), 1);
        let cam = &live.cameras[0];
        assert_eq!(cam.owner, OwnerNetwork::Fleet);
        assert!((cam.position[0] - 10.0).abs() < 1e-6 && (cam.position[1] - 20.0).abs() < 1e-6);
        assert_eq!(cam.coverage.len(), 3, "closing point dropped");
        assert!((cam.coverage[1][0] - 90.0).abs() < 1e-6);
        let inc = &live.incidents[0];
        assert_eq!(inc.id, "incident:7");
        assert_eq!(inc.suggested, vec!["P2", "P1"], "ordered unit first");
        assert!((inc.position[0] + 30.0).abs() < 1e-6);
        assert_eq!(
            live.privacy_masks.len(),
            2,
            "scenario mask kept, ground mask added"
        );
        // A ground without cameras leaves the scenario's.
        let mut with_cam = scene.clone();
        with_cam.cameras = live.cameras.clone();
        let none = with_cam.with_ground(&GroundLayers::default());
        assert_eq!(none.cameras.len(), 1);
        assert!(none.incidents.is_empty());
        // Only what changed is taken: new incidents, same cameras (shared).
        let mut next = ground.clone();
        next.incidents = Arc::new(Vec::new());
        let change = GroundChange::between(Some(&ground), &next);
        assert_eq!(
            change,
            GroundChange {
                cameras: false,
                incidents: true,
                masks: false
            }
        );
        let mut again = live.clone();
        again.take_ground(&scene, &next, change);
        assert!(again.incidents.is_empty());
        assert_eq!(again.cameras, live.cameras);
        assert_eq!(again.privacy_masks.len(), 2, "masks not added twice");
        // Equal content in a new Arc is no change either.
        let copy = GroundLayers {
            cameras: Arc::new((*ground.cameras).clone()),
            ..ground.clone()
        };
        assert!(GroundChange::between(Some(&ground), &copy).is_empty());
    }
}
