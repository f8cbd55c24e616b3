//! Scenario files: a TOML file naming the site and its scripted units, and
//! GeoJSON files (paths relative to the TOML file) for the static layers.
//!
//! ```toml
//! name = "Stade de France, match day"
//! origin = { lat_deg = 48.924459, lon_deg = 2.360164 }
//! extent_m = 700                       # half side of the ground square
//!
//! [layers]                             # every layer is optional
//! buildings = "buildings.geojson"      # Polygon: height_m (or levels), name
//! streets = "streets.geojson"          # LineString: name, width_m
//! zones = "zones.geojson"              # Polygon: name, kind (event | no_fly |
//!                                      #   drone_perimeter), floor_m, ceiling_m
//! privacy_masks = "privacy.geojson"    # Polygon: name
//! cameras = "cameras.geojson"          # Point: id, name, height_m, heading_deg,
//!                                      #   tilt_deg, hfov_deg, range_m, owner
//! base = "base.geojson"                # base map: water, parks, streets,
//!                                      #   landmarks, attribution
//!                                      #   (vigie_ground::map::base)
//!
//! [[drones]]                           # path: [lon, lat, alt_rel_m, t_s], t_s rising
//! id = "drone:sim:1"
//! status = "busy"
//! battery_pct = 81
//! loop = true
//! path = [[2.3580, 48.9255, 60, 0], [2.3620, 48.9255, 60, 60]]
//!
//! [[patrols]]                          # path as drones (altitude ignored)
//! id = "patrol-01"
//! status = "available"
//! path = [[2.3570, 48.9230, 0, 0]]
//!
//! [[incidents]]
//! id = "inc-1"
//! title = "Crowd surge at gate H"
//! position = [2.3612, 48.9262]
//! suggested = ["patrol-01", "drone:sim:1"]
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;
use vigie_ground::coverage::footprint::{CameraPose, ground_footprint};
use vigie_ground::frame::LocalFrame;
use vigie_ground::map::base::BaseMap;
use vigie_protocols::api::{DroneTelemetry, PatrolInfo, Position, Unit, UnitKind, UnitStatus};

use crate::coverage::fixed_camera_coverage;
use crate::scene::{
    Building, EastNorth, FixedCamera, Incident, OwnerNetwork, Picture, PrivacyMask, Scene, Street,
    Zone, ZoneKind,
};

/// Roof height used when a building gives neither `height_m` nor `levels`.
const DEFAULT_BUILDING_HEIGHT_M: f64 = 10.0;
/// Storey height used to turn `levels` into metres.
const STOREY_M: f64 = 3.0;
/// Length of the track a scripted drone shows behind it, seconds.
const TRACK_S: f64 = 60.0;
/// Time between two track samples, seconds.
const TRACK_STEP_S: f64 = 2.0;

/// Why a scenario could not be loaded.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// A file could not be read.
    #[error(
        "cannot read {path}: {source} (check the path; layer paths are relative to the scenario file)"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML file is not a valid scenario.
    #[error("{path} is not a valid scenario: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A GeoJSON file is malformed or a feature lacks what its layer needs.
    #[error("{path}: {message}")]
    GeoJson {
        /// The file.
        path: PathBuf,
        /// What was wrong, naming the feature.
        message: String,
    },
    /// A scripted unit is inconsistent.
    #[error("unit {id}: {message}")]
    Unit {
        /// The unit's id.
        id: String,
        /// What was wrong.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: String,
    origin: Origin,
    #[serde(default = "default_extent")]
    extent_m: f64,
    #[serde(default)]
    layers: Layers,
    #[serde(default)]
    drones: Vec<DroneFile>,
    #[serde(default)]
    patrols: Vec<PatrolFile>,
    #[serde(default)]
    incidents: Vec<IncidentFile>,
}

fn default_extent() -> f64 {
    500.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Origin {
    lat_deg: f64,
    lon_deg: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layers {
    buildings: Option<PathBuf>,
    streets: Option<PathBuf>,
    zones: Option<PathBuf>,
    privacy_masks: Option<PathBuf>,
    cameras: Option<PathBuf>,
    base: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DroneFile {
    id: String,
    name: Option<String>,
    #[serde(default = "available")]
    status: UnitStatus,
    battery_pct: Option<f64>,
    #[serde(default = "default_hfov")]
    camera_hfov_deg: f64,
    #[serde(default = "default_vfov")]
    camera_vfov_deg: f64,
    #[serde(default = "default_gimbal")]
    gimbal_pitch_deg: f64,
    #[serde(default, rename = "loop")]
    looping: bool,
    path: Vec<[f64; 4]>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatrolFile {
    id: String,
    name: Option<String>,
    #[serde(default = "available")]
    status: UnitStatus,
    #[serde(default = "default_role")]
    role: String,
    #[serde(default, rename = "loop")]
    looping: bool,
    path: Vec<[f64; 4]>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentFile {
    id: String,
    title: String,
    position: [f64; 2],
    #[serde(default)]
    suggested: Vec<String>,
}

fn available() -> UnitStatus {
    UnitStatus::Available
}
fn default_hfov() -> f64 {
    70.0
}
fn default_vfov() -> f64 {
    52.0
}
fn default_gimbal() -> f64 {
    -90.0
}
fn default_role() -> String {
    "patrol".into()
}

/// One point of a scripted path, local frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Waypoint {
    /// East of the origin, metres.
    pub east_m: f64,
    /// North of the origin, metres.
    pub north_m: f64,
    /// Height above the ground, metres.
    pub alt_m: f64,
    /// Time since the scenario start, seconds.
    pub t_s: f64,
}

/// A scripted unit: a path in time, interpolated linearly.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedUnit {
    /// Unit id.
    pub id: String,
    /// Label.
    pub name: Option<String>,
    /// Drone or patrol.
    pub kind: UnitKind,
    /// Status shown.
    pub status: UnitStatus,
    /// Battery remaining, percent (drones).
    pub battery_pct: Option<f64>,
    /// Camera horizontal and vertical field of view, degrees (drones).
    pub camera_fov_deg: [f64; 2],
    /// Gimbal pitch, degrees (-90 = straight down) (drones).
    pub gimbal_pitch_deg: f64,
    /// Patrol role.
    pub role: String,
    /// Whether the path repeats after its last waypoint.
    pub looping: bool,
    /// The path, times rising.
    pub path: Vec<Waypoint>,
}

impl ScriptedUnit {
    /// Position and heading (degrees from north) at `t_s` seconds.
    pub fn at(&self, t_s: f64) -> (Waypoint, f64) {
        let first = self.path[0];
        let last = self.path[self.path.len() - 1];
        let span = last.t_s - first.t_s;
        let t = if self.looping && span > 0.0 {
            first.t_s + (t_s - first.t_s).rem_euclid(span)
        } else {
            t_s.clamp(first.t_s, last.t_s)
        };
        let i = self
            .path
            .windows(2)
            .position(|w| t <= w[1].t_s)
            .unwrap_or(self.path.len().saturating_sub(2));
        let (a, b) = match self.path.get(i + 1) {
            Some(b) => (self.path[i], *b),
            None => (first, first),
        };
        let k = if b.t_s > a.t_s {
            ((t - a.t_s) / (b.t_s - a.t_s)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let p = Waypoint {
            east_m: a.east_m + (b.east_m - a.east_m) * k,
            north_m: a.north_m + (b.north_m - a.north_m) * k,
            alt_m: a.alt_m + (b.alt_m - a.alt_m) * k,
            t_s: t,
        };
        let heading = (b.east_m - a.east_m)
            .atan2(b.north_m - a.north_m)
            .to_degrees()
            .rem_euclid(360.0);
        (p, heading)
    }
}

/// A loaded scenario: the static scene and the scripted units.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Static layers.
    pub scene: Scene,
    /// Scripted drones and patrols.
    pub units: Vec<ScriptedUnit>,
}

impl Scenario {
    /// Loads a scenario TOML file and the GeoJSON layers it names.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = read(path)?;
        let file: ScenarioFile = toml::from_str(&text).map_err(|e| ScenarioError::Toml {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Scenario::from_file(file, dir)
    }

    fn from_file(file: ScenarioFile, dir: &Path) -> Result<Scenario, ScenarioError> {
        let frame = LocalFrame::new(file.origin.lat_deg, file.origin.lon_deg);
        let mut scene = Scene::empty(
            &file.name,
            file.origin.lat_deg,
            file.origin.lon_deg,
            file.extent_m,
        );
        let layer = |p: &Option<PathBuf>| -> Result<Vec<Feature>, ScenarioError> {
            match p {
                Some(p) => read_features(&dir.join(p), &frame),
                None => Ok(Vec::new()),
            }
        };
        if let Some(p) = &file.layers.base {
            let path = dir.join(p);
            let map = BaseMap::parse(&read(&path)?).map_err(|e| ScenarioError::GeoJson {
                path: path.clone(),
                message: e.to_string(),
            })?;
            scene.add_base(&map);
        }
        for f in layer(&file.layers.buildings)? {
            let height_m = f
                .num("height_m")
                .or_else(|| f.num("levels").map(|l| l * STOREY_M))
                .unwrap_or(DEFAULT_BUILDING_HEIGHT_M);
            for ring in f.rings()? {
                scene.buildings.push(Building {
                    name: f.text("name").unwrap_or_default(),
                    footprint: ring,
                    height_m,
                });
            }
        }
        for f in layer(&file.layers.streets)? {
            for line in f.lines()? {
                scene.streets.push(Street {
                    name: f.text("name").unwrap_or_default(),
                    line,
                    width_m: f.num("width_m").unwrap_or(8.0),
                });
            }
        }
        for f in layer(&file.layers.zones)? {
            let kind_name = f.text("kind").unwrap_or_default();
            let kind = ZoneKind::parse(&kind_name).ok_or_else(|| {
                f.error(format!(
                    "zone kind {kind_name:?} unknown: use event, no_fly or drone_perimeter"
                ))
            })?;
            for ring in f.rings()? {
                scene.zones.push(Zone {
                    name: f.text("name").unwrap_or_default(),
                    kind,
                    ring,
                    floor_m: f.num("floor_m").unwrap_or(0.0),
                    ceiling_m: f.num("ceiling_m").unwrap_or(120.0),
                });
            }
        }
        for f in layer(&file.layers.privacy_masks)? {
            for ring in f.rings()? {
                scene.privacy_masks.push(PrivacyMask {
                    name: f.text("name").unwrap_or_default(),
                    ring,
                });
            }
        }
        for f in layer(&file.layers.cameras)? {
            let position = f.point()?;
            let owner_name = f.text("owner").unwrap_or_default();
            let owner = OwnerNetwork::parse(&owner_name).ok_or_else(|| {
                f.error(format!(
                    "camera owner {owner_name:?} unknown: use city, transit, parking or housing"
                ))
            })?;
            let id = f
                .text("id")
                .ok_or_else(|| f.error("a camera needs an `id` property".into()))?;
            let mut camera = FixedCamera {
                name: f.text("name").unwrap_or_else(|| id.clone()),
                id,
                position,
                height_m: f.num("height_m").unwrap_or(6.0),
                heading_deg: f.num("heading_deg").unwrap_or(0.0),
                tilt_deg: f.num("tilt_deg").unwrap_or(15.0),
                hfov_deg: f.num("hfov_deg").unwrap_or(60.0),
                range_m: f.num("range_m").unwrap_or(80.0),
                owner,
                coverage: Vec::new(),
            };
            camera.coverage = fixed_camera_coverage(&camera, &scene.buildings);
            scene.cameras.push(camera);
        }
        for inc in file.incidents {
            let (e, n) = frame.to_local(inc.position[1], inc.position[0]);
            scene.incidents.push(Incident {
                id: inc.id,
                title: inc.title,
                position: [e, n],
                suggested: inc.suggested,
                assigned: Vec::new(),
            });
        }
        let mut units = Vec::new();
        for d in file.drones {
            units.push(ScriptedUnit {
                path: path(&d.id, &d.path, &frame)?,
                id: d.id,
                name: d.name,
                kind: UnitKind::Drone,
                status: d.status,
                battery_pct: d.battery_pct,
                camera_fov_deg: [d.camera_hfov_deg, d.camera_vfov_deg],
                gimbal_pitch_deg: d.gimbal_pitch_deg,
                role: String::new(),
                looping: d.looping,
            });
        }
        for p in file.patrols {
            units.push(ScriptedUnit {
                path: path(&p.id, &p.path, &frame)?,
                id: p.id,
                name: p.name,
                kind: UnitKind::Patrol,
                status: p.status,
                battery_pct: None,
                camera_fov_deg: [0.0, 0.0],
                gimbal_pitch_deg: 0.0,
                role: p.role,
                looping: p.looping,
            });
        }
        Ok(Scenario { scene, units })
    }

    /// The picture at `t` since the scenario start: every scripted unit as
    /// the API would describe it, with drone footprints and tracks.
    pub fn picture_at(&self, t: Duration) -> Picture {
        let t_s = t.as_secs_f64();
        let frame = &self.scene.frame;
        let mut picture = Picture {
            at_ms: t.as_millis() as i64,
            ..Picture::default()
        };
        for u in &self.units {
            let (p, heading_deg) = u.at(t_s);
            let (lat, lon) = frame.to_wgs84(p.east_m, p.north_m);
            let mut unit = Unit {
                id: u.id.clone(),
                kind: u.kind,
                status: u.status,
                name: u.name.clone(),
                position: Some(Position {
                    lat_deg: lat,
                    lon_deg: lon,
                    alt_rel_m: (u.kind == UnitKind::Drone).then_some(p.alt_m),
                    heading_deg: Some(heading_deg),
                    ..Position::default()
                }),
                last_seen_ms: Some(picture.at_ms),
                source: "scenario".into(),
                coverage: None,
                drone: None,
                patrol: None,
            };
            match u.kind {
                UnitKind::Drone => {
                    let pose = CameraPose {
                        east_m: p.east_m,
                        north_m: p.north_m,
                        height_agl_m: p.alt_m,
                        yaw_deg: heading_deg,
                        pitch_deg: u.gimbal_pitch_deg,
                        roll_deg: 0.0,
                        hfov_deg: u.camera_fov_deg[0],
                        vfov_deg: u.camera_fov_deg[1],
                        max_range_m: 4.0 * p.alt_m.max(1.0),
                    };
                    unit.coverage = ground_footprint(&pose).map(|ring| {
                        ring.iter()
                            .map(|&(e, n)| {
                                let (la, lo) = frame.to_wgs84(e, n);
                                [lo, la]
                            })
                            .collect()
                    });
                    unit.drone = Some(DroneTelemetry {
                        link: "scenario".into(),
                        mode: "AUTO".into(),
                        armed: p.alt_m > 0.5,
                        system_status: "ACTIVE".into(),
                        link_state: if u.status == UnitStatus::LinkLost {
                            "lost".into()
                        } else {
                            "up".into()
                        },
                        battery_pct: u.battery_pct,
                        camera_fov_deg: Some(u.camera_fov_deg),
                        gimbal_deg: Some([u.gimbal_pitch_deg, 0.0]),
                        ..DroneTelemetry::default()
                    });
                    let mut track = Vec::new();
                    let mut s = (t_s - TRACK_S).max(0.0);
                    while s < t_s {
                        let (q, _) = u.at(s);
                        track.push([q.east_m, q.north_m, q.alt_m]);
                        s += TRACK_STEP_S;
                    }
                    track.push([p.east_m, p.north_m, p.alt_m]);
                    picture.tracks.push((u.id.clone(), track));
                }
                UnitKind::Patrol => {
                    unit.patrol = Some(PatrolInfo {
                        role: u.role.clone(),
                        connected: u.status != UnitStatus::LinkLost,
                        ..PatrolInfo::default()
                    });
                }
                _ => {}
            }
            picture.units.push(unit);
        }
        picture.units.sort_by(|a, b| a.id.cmp(&b.id));
        picture
    }
}

fn path(id: &str, raw: &[[f64; 4]], frame: &LocalFrame) -> Result<Vec<Waypoint>, ScenarioError> {
    let err = |message: &str| ScenarioError::Unit {
        id: id.to_owned(),
        message: message.to_owned(),
    };
    if raw.is_empty() {
        return Err(err(
            "path is empty: give at least one [lon, lat, alt_m, t_s]",
        ));
    }
    if raw.iter().flatten().any(|v| !v.is_finite()) {
        return Err(err("path has a non-finite number"));
    }
    if raw.windows(2).any(|w| w[1][3] < w[0][3]) {
        return Err(err("path times (4th value, seconds) must not decrease"));
    }
    Ok(raw
        .iter()
        .map(|&[lon, lat, alt_m, t_s]| {
            let (e, n) = frame.to_local(lat, lon);
            Waypoint {
                east_m: e,
                north_m: n,
                alt_m,
                t_s,
            }
        })
        .collect())
}

fn read(path: &Path) -> Result<String, ScenarioError> {
    std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A GeoJSON feature reduced to what layers need, geometry already local.
struct Feature {
    path: PathBuf,
    index: usize,
    geometry: Value,
    properties: Map<String, Value>,
    frame: LocalFrame,
}

fn read_features(path: &Path, frame: &LocalFrame) -> Result<Vec<Feature>, ScenarioError> {
    let text = read(path)?;
    let err = |message: String| ScenarioError::GeoJson {
        path: path.to_owned(),
        message,
    };
    let root: Value =
        serde_json::from_str(&text).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let features = match root.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => root
            .get("features")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| err("FeatureCollection without a `features` array".into()))?,
        Some("Feature") => vec![root],
        other => {
            return Err(err(format!(
                "expected a FeatureCollection or a Feature, found type {other:?}"
            )));
        }
    };
    Ok(features
        .into_iter()
        .enumerate()
        .map(|(index, f)| Feature {
            path: path.to_owned(),
            index,
            geometry: f.get("geometry").cloned().unwrap_or(Value::Null),
            properties: f
                .get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            frame: *frame,
        })
        .collect())
}

impl Feature {
    fn error(&self, message: String) -> ScenarioError {
        ScenarioError::GeoJson {
            path: self.path.clone(),
            message: format!("feature {}: {message}", self.index),
        }
    }

    fn num(&self, key: &str) -> Option<f64> {
        self.properties
            .get(key)
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite())
    }

    fn text(&self, key: &str) -> Option<String> {
        match self.properties.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn kind(&self) -> &str {
        self.geometry
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("none")
    }

    fn coords(&self) -> &Value {
        self.geometry.get("coordinates").unwrap_or(&Value::Null)
    }

    fn position(&self, v: &Value) -> Result<EastNorth, ScenarioError> {
        let pair = v
            .as_array()
            .filter(|a| a.len() >= 2)
            .and_then(|a| Some((a[0].as_f64()?, a[1].as_f64()?)));
        match pair {
            Some((lon, lat)) if lon.is_finite() && lat.is_finite() => {
                let (e, n) = self.frame.to_local(lat, lon);
                Ok([e, n])
            }
            _ => Err(self.error(format!("bad position {v}: expected [lon, lat]"))),
        }
    }

    fn line(&self, v: &Value) -> Result<Vec<EastNorth>, ScenarioError> {
        v.as_array()
            .ok_or_else(|| self.error("coordinates are not an array".into()))?
            .iter()
            .map(|p| self.position(p))
            .collect()
    }

    fn ring(&self, polygon: &Value) -> Result<Vec<EastNorth>, ScenarioError> {
        let outer = polygon
            .as_array()
            .and_then(|rings| rings.first())
            .ok_or_else(|| self.error("polygon without an outer ring".into()))?;
        let mut ring = self.line(outer)?;
        if ring.len() > 1 && ring.first() == ring.last() {
            ring.pop();
        }
        if ring.len() < 3 {
            return Err(self.error("polygon ring has fewer than 3 distinct points".into()));
        }
        Ok(ring)
    }

    /// Outer rings of a Polygon or MultiPolygon.
    fn rings(&self) -> Result<Vec<Vec<EastNorth>>, ScenarioError> {
        match self.kind() {
            "Polygon" => Ok(vec![self.ring(self.coords())?]),
            "MultiPolygon" => self
                .coords()
                .as_array()
                .map(|ps| ps.iter().map(|p| self.ring(p)).collect())
                .unwrap_or_else(|| Err(self.error("MultiPolygon without polygons".into()))),
            other => Err(self.error(format!("expected a Polygon, found {other}"))),
        }
    }

    /// Lines of a LineString or MultiLineString.
    fn lines(&self) -> Result<Vec<Vec<EastNorth>>, ScenarioError> {
        let lines = match self.kind() {
            "LineString" => vec![self.line(self.coords())?],
            "MultiLineString" => self
                .coords()
                .as_array()
                .map(|ls| ls.iter().map(|l| self.line(l)).collect())
                .unwrap_or_else(|| Err(self.error("MultiLineString without lines".into())))?,
            other => return Err(self.error(format!("expected a LineString, found {other}"))),
        };
        if lines.iter().any(|l| l.len() < 2) {
            return Err(self.error("a line needs at least 2 points".into()));
        }
        Ok(lines)
    }

    fn point(&self) -> Result<EastNorth, ScenarioError> {
        match self.kind() {
            "Point" => self.position(self.coords()),
            other => Err(self.error(format!("expected a Point, found {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(path: Vec<Waypoint>, looping: bool) -> ScriptedUnit {
        ScriptedUnit {
            id: "u".into(),
            name: None,
            kind: UnitKind::Drone,
            status: UnitStatus::Busy,
            battery_pct: None,
            camera_fov_deg: [70.0, 52.0],
            gimbal_pitch_deg: -90.0,
            role: String::new(),
            looping,
            path,
        }
    }

    fn wp(east_m: f64, north_m: f64, t_s: f64) -> Waypoint {
        Waypoint {
            east_m,
            north_m,
            alt_m: 50.0,
            t_s,
        }
    }

    #[test]
    fn path_interpolates_clamps_and_loops() {
        let u = unit(vec![wp(0.0, 0.0, 0.0), wp(100.0, 0.0, 10.0)], false);
        let (p, h) = u.at(5.0);
        assert!((p.east_m - 50.0).abs() < 1e-9);
        assert!((h - 90.0).abs() < 1e-9, "heading east");
        assert!(
            (u.at(20.0).0.east_m - 100.0).abs() < 1e-9,
            "clamped at the end"
        );
        let l = unit(vec![wp(0.0, 0.0, 0.0), wp(100.0, 0.0, 10.0)], true);
        assert!((l.at(12.5).0.east_m - 25.0).abs() < 1e-9, "loops");
        let single = unit(vec![wp(7.0, 8.0, 0.0)], false);
        assert_eq!(single.at(3.0).0.east_m, 7.0);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let dir = std::env::temp_dir().join(format!("vigie-scenario-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let toml = dir.join("s.toml");
        std::fs::write(
            &toml,
            "name = \"t\"\norigin = { lat_deg = 48.9, lon_deg = 2.36 }\n[layers]\ncameras = \"c.geojson\"\n",
        )
        .expect("write");
        let e = Scenario::load(&toml).expect_err("missing layer file");
        assert!(e.to_string().contains("c.geojson"), "{e}");
        std::fs::write(
            dir.join("c.geojson"),
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[2.36,48.9]},"properties":{"id":"c1","owner":"mall"}}]}"#,
        )
        .expect("write");
        let e = Scenario::load(&toml).expect_err("bad owner");
        assert!(
            e.to_string().contains("feature 0") && e.to_string().contains("mall"),
            "{e}"
        );
        std::fs::write(&toml, "name = 1").expect("write");
        assert!(matches!(
            Scenario::load(&toml),
            Err(ScenarioError::Toml { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn example_scenario_loads_and_drones_have_footprints() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../simulations/scenarios/stade-de-france/scenario.toml");
        let s = Scenario::load(&path).expect("example scenario loads");
        assert!(s.scene.buildings.len() >= 3);
        assert!(s.scene.cameras.len() >= 4);
        let pic = s.picture_at(Duration::from_secs(30));
        let drones: Vec<_> = pic
            .units
            .iter()
            .filter(|u| u.kind == UnitKind::Drone)
            .collect();
        assert_eq!(drones.len(), 2);
        assert!(drones.iter().all(|d| {
            d.coverage
                .as_ref()
                .is_some_and(|c| c.len() >= 4 && c.first() == c.last())
        }));
        assert_eq!(
            pic.units
                .iter()
                .filter(|u| u.kind == UnitKind::Patrol)
                .count(),
            3
        );
    }
}
