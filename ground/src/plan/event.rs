//! The event file: what to cover, when, with what, and where not to fly.
//!
//! TOML, with shapes as GeoJSON geometries (WGS84, `[lon, lat]`) written
//! inline or in GeoJSON files next to the event file:
//!
//! ```toml
//! name = "Stade de France, final"
//!
//! [authorisation]                 # the drone flight authorisation
//! start = "2024-08-10T18:00:00+02:00"
//! end = "2024-08-11T00:30:00+02:00"
//! area = { type = "Polygon", coordinates = [[[2.352, 48.918], ...]] }
//!
//! [[zones]]                       # an area to watch
//! name = "Bowl forecourt"
//! weight = 3                      # relative importance, > 0
//! crowd = 40000                   # expected people (reported)
//! start = "2024-08-10T18:30:00+02:00"
//! end = "2024-08-10T23:30:00+02:00"
//! area = { type = "Polygon", coordinates = [[...]] }
//!
//! [[routes]]                      # a corridor along a line
//! name = "Seine parade"
//! width_m = 150
//! line = { type = "LineString", coordinates = [...] }
//! # weight, crowd, start, end as for zones
//!
//! [[no_fly]]                      # `area` inline or `file` (GeoJSON)
//! [[privacy_masks]]
//!
//! [layers]                        # optional GeoJSON/CSV files
//! cameras = "cameras.geojson"     # fixed cameras (inventory columns)
//! buildings = "buildings.geojson"
//! base = "paris.base.geojson"     # base map (crate::map::base): water,
//!                                 # parks, streets, landmarks
//!
//! [drones]
//! count = 12
//! endurance_min = 38
//! reserve_min = 5
//! swap_min = 4
//! cruise_m_s = 12
//! climb_m_s = 4
//! hfov_deg = 84
//! vfov_deg = 62
//! range_m = 300
//! ceiling_m = 120
//! launch_sites = [[2.357, 48.921]]
//!
//! [patrols]
//! count = 40
//! shift_h = 4
//! post_radius_m = 50
//! ```
//!
//! Every error names the file, the line and what is wrong. Times are RFC
//! 3339 strings with an offset; they are kept as Unix seconds.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use crate::coverage::buildings::Building;
use crate::coverage::camera::FixedCamera;
use crate::coverage::inventory;
use crate::coverage::polygon::{Pt, closed, first_self_crossing, signed_area};
use crate::frame::LocalFrame;
use crate::map::base::BaseMap;

/// Highest altitude a drone may fly in the open category, metres above
/// ground (EU 2019/947): the default and the upper limit of `ceiling_m`.
pub const MAX_CEILING_M: f64 = 120.0;

/// How far from the site's centre (the frame's origin) any point of an
/// event may lie. One event covers one site: beyond this the local frame's
/// distortion grows past half a percent, and a point this far is almost
/// always a `[lat, lon]` written where GeoJSON wants `[lon, lat]`.
pub const MAX_SITE_RADIUS_M: f64 = crate::frame::SITE_RADIUS_M;

/// The largest area one zone may have, hectares (Paris intra-muros is
/// about 10,500 ha): larger is a typing error, not a zone to watch.
pub const MAX_ZONE_HA: f64 = 10_000.0;

/// Why an event file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A problem at a known place in the event file.
    #[error("{path}:{line}: {message}")]
    At {
        /// The event file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong and what to do.
        message: String,
    },
}

/// A time interval, Unix seconds, `start_s < end_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    /// Start, Unix seconds.
    pub start_s: i64,
    /// End, Unix seconds.
    pub end_s: i64,
}

impl Window {
    /// Length, seconds (0 when empty).
    pub fn len_s(&self) -> i64 {
        (self.end_s - self.start_s).max(0)
    }

    /// Whether `t_s` lies in `[start, end)`.
    pub fn contains(&self, t_s: i64) -> bool {
        t_s >= self.start_s && t_s < self.end_s
    }

    /// The overlap of two windows, if any.
    pub fn intersect(&self, o: &Window) -> Option<Window> {
        let w = Window {
            start_s: self.start_s.max(o.start_s),
            end_s: self.end_s.min(o.end_s),
        };
        (w.start_s < w.end_s).then_some(w)
    }

    /// The smallest window containing both.
    pub fn hull(&self, o: &Window) -> Window {
        Window {
            start_s: self.start_s.min(o.start_s),
            end_s: self.end_s.max(o.end_s),
        }
    }
}

/// The shape of a zone, in the local frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A closed ring.
    Polygon(Vec<Pt>),
    /// Every point within `half_width_m` of a polyline.
    Corridor {
        /// The centre line.
        line: Vec<Pt>,
        /// Half the corridor's width, metres.
        half_width_m: f64,
    },
}

impl Shape {
    /// A point inside the shape where its name can stand: the polygon's
    /// interior point (a concave zone's centroid may lie outside), or the
    /// corridor's centre line at half its length.
    pub fn label_point(&self) -> Option<Pt> {
        match self {
            Shape::Polygon(ring) => crate::coverage::polygon::interior_point(ring),
            Shape::Corridor { line, .. } => {
                let len: f64 = line
                    .windows(2)
                    .map(|w| (w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1]))
                    .sum();
                let mut left = len / 2.0;
                for w in line.windows(2) {
                    let d = (w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1]);
                    if d >= left && d > 0.0 {
                        let t = left / d;
                        return Some([
                            w[0][0] + t * (w[1][0] - w[0][0]),
                            w[0][1] + t * (w[1][1] - w[0][1]),
                        ]);
                    }
                    left -= d;
                }
                line.first().copied()
            }
        }
    }

    /// Whether `p` lies in the shape.
    pub fn contains(&self, p: Pt) -> bool {
        match self {
            Shape::Polygon(ring) => crate::coverage::polygon::point_in_ring(ring, p),
            Shape::Corridor { line, half_width_m } => polyline_distance_m(line, p) <= *half_width_m,
        }
    }

    /// Bounding box `[min, max]`.
    pub fn bbox(&self) -> [Pt; 2] {
        let (pts, pad) = match self {
            Shape::Polygon(r) => (r, 0.0),
            Shape::Corridor { line, half_width_m } => (line, *half_width_m),
        };
        let mut b = [[f64::INFINITY; 2], [f64::NEG_INFINITY; 2]];
        for p in pts {
            for k in 0..2 {
                b[0][k] = b[0][k].min(p[k] - pad);
                b[1][k] = b[1][k].max(p[k] + pad);
            }
        }
        b
    }
}

/// Distance from `p` to the polyline, metres.
pub fn polyline_distance_m(line: &[Pt], p: Pt) -> f64 {
    if line.len() == 1 {
        return f64::hypot(p[0] - line[0][0], p[1] - line[0][1]);
    }
    line.windows(2)
        .map(|s| segment_distance_m(s[0], s[1], p))
        .fold(f64::INFINITY, f64::min)
}

/// Distance from `p` to segment `a`–`b`, metres.
pub fn segment_distance_m(a: Pt, b: Pt, p: Pt) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    f64::hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy)
}

/// An area to watch.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// Name shown in the report.
    pub name: String,
    /// Where.
    pub shape: Shape,
    /// Relative importance of one square metre, > 0.
    pub weight: f64,
    /// When it must be watched.
    pub window: Window,
    /// Expected people in the zone (reported, not optimised).
    pub crowd: u32,
}

/// A named forbidden area for drones.
#[derive(Debug, Clone, PartialEq)]
pub struct NoFly {
    /// Name shown in the report.
    pub name: String,
    /// Closed local ring.
    pub ring: Vec<Pt>,
}

/// The drones one can have.
#[derive(Debug, Clone, PartialEq)]
pub struct DroneAssets {
    /// Airframes available.
    pub count: u32,
    /// Flight time on a full battery, seconds.
    pub endurance_s: f64,
    /// Flight time kept in reserve at landing, seconds.
    pub reserve_s: f64,
    /// Battery swap (or recharge) time on the ground, seconds.
    pub swap_s: f64,
    /// Cruise speed between launch site and station, metres per second.
    pub cruise_m_s: f64,
    /// Climb and descent rate, metres per second.
    pub climb_m_s: f64,
    /// Camera horizontal field of view, degrees.
    pub hfov_deg: f64,
    /// Camera vertical field of view, degrees.
    pub vfov_deg: f64,
    /// Useful ground range of the camera, metres (bounds oblique views).
    pub range_m: f64,
    /// Altitude ceiling above ground, metres (at most 120).
    pub ceiling_m: f64,
    /// Launch and landing sites, local frame.
    pub launch_sites: Vec<Pt>,
}

impl Default for DroneAssets {
    fn default() -> Self {
        DroneAssets {
            count: 0,
            endurance_s: 38.0 * 60.0,
            reserve_s: 5.0 * 60.0,
            swap_s: 4.0 * 60.0,
            cruise_m_s: 12.0,
            climb_m_s: 4.0,
            hfov_deg: 84.0,
            vfov_deg: 62.0,
            range_m: 300.0,
            ceiling_m: MAX_CEILING_M,
            launch_sites: Vec::new(),
        }
    }
}

/// The patrol teams one can have.
#[derive(Debug, Clone, PartialEq)]
pub struct PatrolAssets {
    /// Teams available over the event (each works one shift).
    pub count: u32,
    /// Length of one team's shift, seconds.
    pub shift_s: f64,
    /// Radius a team on foot watches from its post, metres.
    pub post_radius_m: f64,
}

impl Default for PatrolAssets {
    fn default() -> Self {
        PatrolAssets {
            count: 0,
            shift_s: 4.0 * 3600.0,
            post_radius_m: 50.0,
        }
    }
}

/// A whole event, in the local frame.
#[derive(Debug, Clone)]
pub struct Event {
    /// Name shown in the report.
    pub name: String,
    /// The local metric frame of every shape.
    pub frame: LocalFrame,
    /// Drone flight authorisation perimeter: closed local rings.
    pub authorisation: Vec<Vec<Pt>>,
    /// Drone flight authorisation time window.
    pub flight_window: Window,
    /// Local time's offset from UTC, seconds, as the authorisation's start
    /// is written (for display only: times are kept in UTC).
    pub utc_offset_s: i64,
    /// Areas to watch.
    pub zones: Vec<Zone>,
    /// No-fly zones.
    pub no_fly: Vec<NoFly>,
    /// Privacy masks: closed local rings, never counted as covered.
    pub masks: Vec<Vec<Pt>>,
    /// Fixed cameras already there.
    pub cameras: Vec<FixedCamera>,
    /// Building footprints (line of sight of fixed cameras; not ground).
    pub buildings: Vec<Building>,
    /// The base map to orient by (WGS84), empty if the event names none.
    pub base: BaseMap,
    /// Drones.
    pub drones: DroneAssets,
    /// Patrol teams.
    pub patrols: PatrolAssets,
    /// Rows of layer files that were not imported, and why.
    pub warnings: Vec<String>,
    /// Where the event's coordinates come from (cited in the report).
    pub sources: Vec<String>,
}

impl Event {
    /// The window from the first zone start to the last zone end.
    pub fn span(&self) -> Option<Window> {
        self.zones
            .iter()
            .map(|z| z.window)
            .reduce(|a, b| a.hull(&b))
    }

    /// Whether a local point lies inside the flight authorisation.
    pub fn authorised(&self, p: Pt) -> bool {
        self.authorisation
            .iter()
            .any(|r| crate::coverage::polygon::point_in_ring(r, p))
    }

    /// Whether a local point lies inside a no-fly zone.
    pub fn no_fly_at(&self, p: Pt) -> bool {
        self.no_fly
            .iter()
            .any(|z| crate::coverage::polygon::point_in_ring(&z.ring, p))
    }

    /// Reads an event file; layer paths are relative to it.
    pub fn load(path: &Path) -> Result<Event, EventError> {
        let text = std::fs::read_to_string(path).map_err(|source| EventError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Event::parse(&text, path, dir)
    }

    /// Parses event text; `path` names the file in errors, `dir` resolves
    /// layer files.
    pub fn parse(text: &str, path: &Path, dir: &Path) -> Result<Event, EventError> {
        let at = |offset: usize, message: String| EventError::At {
            path: path.to_path_buf(),
            line: line_of(text, offset),
            message,
        };
        let file: EventFile = toml::from_str(text).map_err(|e| {
            at(
                e.span().map_or(0, |s| s.start),
                e.message().trim().to_string(),
            )
        })?;
        Builder { file, dir, at: &at }.build()
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFile {
    name: String,
    #[serde(default)]
    origin: Option<Spanned<OriginSpec>>,
    authorisation: Spanned<AuthSpec>,
    #[serde(default)]
    zones: Vec<Spanned<ZoneSpec>>,
    #[serde(default)]
    routes: Vec<Spanned<RouteSpec>>,
    #[serde(default)]
    no_fly: Vec<Spanned<AreaSpec>>,
    #[serde(default)]
    privacy_masks: Vec<Spanned<AreaSpec>>,
    #[serde(default)]
    layers: Option<Spanned<LayersSpec>>,
    #[serde(default)]
    drones: Option<Spanned<DroneSpec>>,
    #[serde(default)]
    patrols: Option<Spanned<PatrolSpec>>,
    /// Free text: where the coordinates come from.
    #[serde(default)]
    sources: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginSpec {
    lat_deg: f64,
    lon_deg: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSpec {
    start: String,
    end: String,
    #[serde(default)]
    #[allow(dead_code)]
    purpose: Option<String>,
    #[serde(default)]
    area: Option<toml::Value>,
    #[serde(default)]
    file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneSpec {
    name: String,
    #[serde(default = "one")]
    weight: f64,
    #[serde(default)]
    crowd: u32,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    area: Option<toml::Value>,
    #[serde(default)]
    file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    name: String,
    #[serde(default = "one")]
    weight: f64,
    #[serde(default)]
    crowd: u32,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
    width_m: f64,
    line: toml::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AreaSpec {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    area: Option<toml::Value>,
    #[serde(default)]
    file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayersSpec {
    #[serde(default)]
    cameras: Option<String>,
    #[serde(default)]
    buildings: Option<String>,
    #[serde(default)]
    privacy_masks: Option<String>,
    #[serde(default)]
    no_fly: Option<String>,
    #[serde(default)]
    base: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DroneSpec {
    count: u32,
    #[serde(default)]
    endurance_min: Option<f64>,
    #[serde(default)]
    reserve_min: Option<f64>,
    #[serde(default)]
    swap_min: Option<f64>,
    #[serde(default)]
    cruise_m_s: Option<f64>,
    #[serde(default)]
    climb_m_s: Option<f64>,
    #[serde(default)]
    hfov_deg: Option<f64>,
    #[serde(default)]
    vfov_deg: Option<f64>,
    #[serde(default)]
    range_m: Option<f64>,
    #[serde(default)]
    ceiling_m: Option<f64>,
    #[serde(default)]
    launch_sites: Vec<[f64; 2]>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatrolSpec {
    count: u32,
    #[serde(default)]
    shift_h: Option<f64>,
    #[serde(default)]
    post_radius_m: Option<f64>,
}

fn one() -> f64 {
    1.0
}

struct Builder<'a> {
    file: EventFile,
    dir: &'a Path,
    at: &'a dyn Fn(usize, String) -> EventError,
}

impl Builder<'_> {
    fn build(self) -> Result<Event, EventError> {
        let f = &self.file;
        let at = self.at;
        let auth_pos = f.authorisation.span().start;
        let auth = f.authorisation.get_ref();
        // Geometry in WGS84 first: the origin may follow from it.
        let auth_rings = self.polygons(
            auth.area.as_ref(),
            auth.file.as_deref(),
            auth_pos,
            "authorisation",
        )?;
        if auth_rings.is_empty() {
            return Err(at(
                auth_pos,
                "authorisation has no area: give `area` (a GeoJSON Polygon) or `file`".into(),
            ));
        }
        let frame = match &f.origin {
            Some(o) => {
                let v = o.get_ref();
                if !(-90.0..=90.0).contains(&v.lat_deg) || !(-180.0..=180.0).contains(&v.lon_deg) {
                    return Err(at(
                        o.span().start,
                        "origin: lat_deg must be within -90..90 and lon_deg within -180..180"
                            .into(),
                    ));
                }
                LocalFrame::new(v.lat_deg, v.lon_deg)
            }
            None => {
                // The centre of the authorisation's box.
                let points: Vec<(f64, f64)> =
                    auth_rings.iter().flatten().map(|p| (p[1], p[0])).collect();
                let (lat, lon) = crate::site::centre(&points).unwrap_or((0.0, 0.0));
                LocalFrame::new(lat, lon)
            }
        };
        let local = |ring: &[[f64; 2]]| -> Vec<Pt> {
            ring.iter()
                .map(|p| {
                    let (e, n) = frame.to_local(p[1], p[0]);
                    [e, n]
                })
                .collect()
        };
        let near = |what: &str, pos: usize, points: &[[f64; 2]]| {
            near_site(&frame, what, points).map_err(|m| at(pos, m))
        };
        for (k, r) in auth_rings.iter().enumerate() {
            near("authorisation", auth_pos, r)?;
            simple("authorisation", k, &local(r)).map_err(|m| at(auth_pos, m))?;
        }
        let flight_window = window(&auth.start, &auth.end).map_err(|m| at(auth_pos, m))?;

        let mut zones = Vec::new();
        for z in &f.zones {
            let pos = z.span().start;
            let spec = z.get_ref();
            let what = format!("zone {:?}", spec.name);
            check_weight(spec.weight).map_err(|m| at(pos, format!("{what}: {m}")))?;
            let w = opt_window(&spec.start, &spec.end, flight_window)
                .map_err(|m| at(pos, format!("{what}: {m}")))?;
            let rings = self.polygons(spec.area.as_ref(), spec.file.as_deref(), pos, &what)?;
            if rings.is_empty() {
                return Err(at(
                    pos,
                    format!("{what} has no area: give `area` (a GeoJSON Polygon) or `file`"),
                ));
            }
            for (k, r) in rings.iter().enumerate() {
                near(&what, pos, r)?;
                let ring = closed(local(r))
                    .ok_or_else(|| at(pos, format!("{what}: ring {k} needs at least 3 points")))?;
                simple(&what, k, &ring).map_err(|m| at(pos, m))?;
                let ha = signed_area(&ring).abs() / 10_000.0;
                if ha > MAX_ZONE_HA {
                    return Err(at(
                        pos,
                        format!(
                            "{what}: ring {k} covers {ha:.0} ha, more than the {MAX_ZONE_HA:.0} ha a zone may have; check its points"
                        ),
                    ));
                }
                zones.push(Zone {
                    name: if rings.len() > 1 {
                        format!("{} #{}", spec.name, k + 1)
                    } else {
                        spec.name.clone()
                    },
                    shape: Shape::Polygon(ring),
                    weight: spec.weight,
                    window: w,
                    crowd: spec.crowd / rings.len() as u32,
                });
            }
        }
        for r in &f.routes {
            let pos = r.span().start;
            let spec = r.get_ref();
            let what = format!("route {:?}", spec.name);
            check_weight(spec.weight).map_err(|m| at(pos, format!("{what}: {m}")))?;
            if !(spec.width_m > 0.0 && spec.width_m <= 5000.0) {
                return Err(at(
                    pos,
                    format!(
                        "{what}: width_m = {} must be above 0 and at most 5000",
                        spec.width_m
                    ),
                ));
            }
            let w = opt_window(&spec.start, &spec.end, flight_window)
                .map_err(|m| at(pos, format!("{what}: {m}")))?;
            let json = to_json(&spec.line);
            let lines = geometry_lines(&json);
            if lines.is_empty() {
                return Err(at(
                    pos,
                    format!("{what}: `line` must be a GeoJSON LineString with at least 2 points"),
                ));
            }
            for line in lines {
                near(&what, pos, &line)?;
                zones.push(Zone {
                    name: spec.name.clone(),
                    shape: Shape::Corridor {
                        line: local(&line),
                        half_width_m: spec.width_m / 2.0,
                    },
                    weight: spec.weight,
                    window: w,
                    crowd: spec.crowd,
                });
            }
        }
        if zones.is_empty() {
            return Err(at(
                0,
                "the event has no [[zones]] and no [[routes]]: nothing to cover".into(),
            ));
        }

        let mut no_fly = Vec::new();
        for z in &f.no_fly {
            let pos = z.span().start;
            let spec = z.get_ref();
            let name = spec.name.clone().unwrap_or_else(|| "no-fly".into());
            for (k, r) in self
                .polygons(spec.area.as_ref(), spec.file.as_deref(), pos, &name)?
                .iter()
                .enumerate()
            {
                near(&name, pos, r)?;
                if let Some(ring) = closed(local(r)) {
                    simple(&name, k, &ring).map_err(|m| at(pos, m))?;
                    no_fly.push(NoFly {
                        name: name.clone(),
                        ring,
                    });
                }
            }
        }
        let mut masks = Vec::new();
        for m in &f.privacy_masks {
            let pos = m.span().start;
            let spec = m.get_ref();
            for (k, r) in self
                .polygons(
                    spec.area.as_ref(),
                    spec.file.as_deref(),
                    pos,
                    "privacy mask",
                )?
                .iter()
                .enumerate()
            {
                near("privacy mask", pos, r)?;
                if let Some(ring) = closed(local(r)) {
                    simple("privacy mask", k, &ring).map_err(|m| at(pos, m))?;
                    masks.push(ring);
                }
            }
        }
        let authorisation: Vec<Vec<Pt>> =
            auth_rings.iter().filter_map(|r| closed(local(r))).collect();

        let mut warnings = Vec::new();
        let mut cameras = Vec::new();
        let mut buildings = Vec::new();
        let mut base = BaseMap::default();
        if let Some(layers) = &f.layers {
            let pos = layers.span().start;
            let l = layers.get_ref();
            if let Some(c) = &l.cameras {
                let p = self.dir.join(c);
                let imp = inventory::load_cameras(&p, &crate::coverage::camera::Optics::default())
                    .map_err(|e| at(pos, format!("layers.cameras: {e}")))?;
                for r in imp.rejected {
                    warnings.push(format!("{}: row {}: {}", p.display(), r.row, r.reason));
                }
                cameras = imp.cameras;
            }
            if let Some(b) = &l.buildings {
                let p = self.dir.join(b);
                let text = inventory::read_layer(&p)
                    .map_err(|e| at(pos, format!("layers.buildings: {e}")))?;
                let (list, rejected) = inventory::parse_buildings(&text, &frame)
                    .map_err(|e| at(pos, format!("layers.buildings: {}: {e}", p.display())))?;
                for r in rejected {
                    warnings.push(format!("{}: feature {}: {}", p.display(), r.row, r.reason));
                }
                buildings = list;
            }
            if let Some(m) = &l.privacy_masks {
                let p = self.dir.join(m);
                let text = inventory::read_layer(&p)
                    .map_err(|e| at(pos, format!("layers.privacy_masks: {e}")))?;
                let (list, _) = inventory::parse_masks(&text, &frame)
                    .map_err(|e| at(pos, format!("layers.privacy_masks: {}: {e}", p.display())))?;
                masks.extend(list);
            }
            if let Some(n) = &l.no_fly {
                let p = self.dir.join(n);
                let text = inventory::read_layer(&p)
                    .map_err(|e| at(pos, format!("layers.no_fly: {e}")))?;
                let (list, _) = inventory::parse_masks(&text, &frame)
                    .map_err(|e| at(pos, format!("layers.no_fly: {}: {e}", p.display())))?;
                no_fly.extend(list.into_iter().map(|ring| NoFly {
                    name: "no-fly".into(),
                    ring,
                }));
            }
            if let Some(b) = &l.base {
                let p = self.dir.join(b);
                let text =
                    inventory::read_layer(&p).map_err(|e| at(pos, format!("layers.base: {e}")))?;
                base = BaseMap::parse(&text)
                    .map_err(|e| at(pos, format!("layers.base: {}: {e}", p.display())))?;
            }
        }

        let mut drones = DroneAssets::default();
        if let Some(d) = &f.drones {
            let pos = d.span().start;
            let s = d.get_ref();
            let mins = |v: Option<f64>, default: f64| v.map_or(default, |m| m * 60.0);
            drones = DroneAssets {
                count: s.count,
                endurance_s: mins(s.endurance_min, drones.endurance_s),
                reserve_s: mins(s.reserve_min, drones.reserve_s),
                swap_s: mins(s.swap_min, drones.swap_s),
                cruise_m_s: s.cruise_m_s.unwrap_or(drones.cruise_m_s),
                climb_m_s: s.climb_m_s.unwrap_or(drones.climb_m_s),
                hfov_deg: s.hfov_deg.unwrap_or(drones.hfov_deg),
                vfov_deg: s.vfov_deg.unwrap_or(drones.vfov_deg),
                range_m: s.range_m.unwrap_or(drones.range_m),
                ceiling_m: s.ceiling_m.unwrap_or(drones.ceiling_m),
                launch_sites: s
                    .launch_sites
                    .iter()
                    .map(|p| {
                        let (e, n) = frame.to_local(p[1], p[0]);
                        [e, n]
                    })
                    .collect(),
            };
            validate_drones(&drones).map_err(|m| at(pos, format!("drones: {m}")))?;
            near("drones: launch site", pos, &s.launch_sites)?;
            if drones.count > 0 && drones.launch_sites.is_empty() {
                return Err(at(
                    pos,
                    "drones: launch_sites is empty: give at least one [lon, lat]".into(),
                ));
            }
        }
        let mut patrols = PatrolAssets::default();
        if let Some(p) = &f.patrols {
            let pos = p.span().start;
            let s = p.get_ref();
            patrols = PatrolAssets {
                count: s.count,
                shift_s: s.shift_h.map_or(patrols.shift_s, |h| h * 3600.0),
                post_radius_m: s.post_radius_m.unwrap_or(patrols.post_radius_m),
            };
            if !(patrols.shift_s >= 600.0 && patrols.shift_s <= 24.0 * 3600.0) {
                return Err(at(
                    pos,
                    "patrols: shift_h must be between 1/6 and 24 hours".into(),
                ));
            }
            if !(patrols.post_radius_m >= 5.0 && patrols.post_radius_m <= 1000.0) {
                return Err(at(
                    pos,
                    "patrols: post_radius_m must be between 5 and 1000".into(),
                ));
            }
        }
        Ok(Event {
            name: f.name.clone(),
            frame,
            authorisation,
            flight_window,
            utc_offset_s: utc_offset_s(&auth.start),
            zones,
            no_fly,
            masks,
            cameras,
            buildings,
            base,
            drones,
            patrols,
            warnings,
            sources: f.sources.clone(),
        })
    }

    /// Outer rings (`[lon, lat]`) of an inline geometry or of every Polygon
    /// feature of a GeoJSON file.
    fn polygons(
        &self,
        area: Option<&toml::Value>,
        file: Option<&str>,
        pos: usize,
        what: &str,
    ) -> Result<Vec<Vec<[f64; 2]>>, EventError> {
        let at = self.at;
        let mut out = Vec::new();
        if let Some(a) = area {
            let rings = geometry_polygons(&to_json(a));
            if rings.is_empty() {
                return Err(at(
                    pos,
                    format!(
                        "{what}: `area` must be a GeoJSON Polygon or MultiPolygon with [lon, lat] points"
                    ),
                ));
            }
            out.extend(rings);
        }
        if let Some(f) = file {
            let p = self.dir.join(f);
            let text = std::fs::read_to_string(&p)
                .map_err(|e| at(pos, format!("{what}: cannot read {}: {e}", p.display())))?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| at(pos, format!("{what}: {} is not JSON: {e}", p.display())))?;
            for (_, g) in crate::geojson::features(&v) {
                out.extend(geometry_polygons(g));
            }
        }
        for r in &out {
            if r.iter()
                .any(|p| !(-180.0..=180.0).contains(&p[0]) || !(-90.0..=90.0).contains(&p[1]))
            {
                return Err(at(
                    pos,
                    format!(
                        "{what}: a point is not [lon, lat] in degrees (GeoJSON order is longitude first)"
                    ),
                ));
            }
        }
        Ok(out)
    }
}

/// Refuses a point farther than [`MAX_SITE_RADIUS_M`] from the frame's
/// origin, naming it and the likely cause.
fn near_site(frame: &LocalFrame, what: &str, points: &[[f64; 2]]) -> Result<(), String> {
    for (k, p) in points.iter().enumerate() {
        let (e, n) = frame.to_local(p[1], p[0]);
        let d = e.hypot(n);
        if d.is_nan() || d > MAX_SITE_RADIUS_M {
            return Err(format!(
                "{what}: point {k} [{}, {}] lies {:.0} km from the site's centre [{:.5}, {:.5}], \
                 farther than the {:.0} km an event may span; is it [lat, lon] where GeoJSON wants [lon, lat]?",
                p[0],
                p[1],
                d / 1000.0,
                frame.origin_lon_deg,
                frame.origin_lat_deg,
                MAX_SITE_RADIUS_M / 1000.0
            ));
        }
    }
    Ok(())
}

/// Refuses a ring that crosses itself: its inside is not defined.
fn simple(what: &str, k: usize, ring: &[Pt]) -> Result<(), String> {
    match first_self_crossing(ring) {
        Some((i, j)) => Err(format!(
            "{what}: ring {k} crosses itself (edge from point {i} and edge from point {j}); \
             a shape's outline must not cross itself"
        )),
        None => Ok(()),
    }
}

fn check_weight(w: f64) -> Result<(), String> {
    if w > 0.0 && w <= 1e6 {
        Ok(())
    } else {
        Err(format!("weight = {w} must be above 0 (and at most 1e6)"))
    }
}

fn validate_drones(d: &DroneAssets) -> Result<(), String> {
    if !(d.ceiling_m > 0.0 && d.ceiling_m <= MAX_CEILING_M) {
        return Err(format!(
            "ceiling_m = {} must be above 0 and at most {MAX_CEILING_M}",
            d.ceiling_m
        ));
    }
    if d.endurance_s.is_nan()
        || d.endurance_s <= 0.0
        || d.reserve_s.is_nan()
        || d.reserve_s < 0.0
        || d.reserve_s >= d.endurance_s
    {
        return Err("endurance_min must be above 0 and above reserve_min".into());
    }
    if d.swap_s.is_nan() || d.swap_s < 0.0 {
        return Err("swap_min must be 0 or more".into());
    }
    if !(d.cruise_m_s > 0.0 && d.climb_m_s > 0.0) {
        return Err("cruise_m_s and climb_m_s must be above 0".into());
    }
    if !(d.hfov_deg > 0.0 && d.hfov_deg < 180.0 && d.vfov_deg > 0.0 && d.vfov_deg < 180.0) {
        return Err("hfov_deg and vfov_deg must be within 0..180".into());
    }
    if !(d.range_m > 0.0 && d.range_m <= 5000.0) {
        return Err("range_m must be above 0 and at most 5000".into());
    }
    Ok(())
}

fn to_json(v: &toml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Lines of a LineString or MultiLineString geometry, of two points or
/// more.
pub(crate) fn geometry_lines(g: &Value) -> Vec<Vec<[f64; 2]>> {
    let mut lines = crate::geojson::lines(g);
    lines.retain(|l| l.len() >= 2);
    lines
}

/// Outer rings of a Polygon or MultiPolygon geometry, of three points or
/// more.
fn geometry_polygons(g: &Value) -> Vec<Vec<[f64; 2]>> {
    let mut rings = crate::geojson::outer_rings(g);
    rings.retain(|r| r.len() >= 3);
    rings
}

fn window(start: &str, end: &str) -> Result<Window, String> {
    let w = Window {
        start_s: parse_time_s(start)?,
        end_s: parse_time_s(end)?,
    };
    if w.start_s >= w.end_s {
        return Err(format!("start {start:?} must come before end {end:?}"));
    }
    Ok(w)
}

fn opt_window(
    start: &Option<String>,
    end: &Option<String>,
    dflt: Window,
) -> Result<Window, String> {
    match (start, end) {
        (None, None) => Ok(dflt),
        (Some(s), Some(e)) => window(s, e),
        _ => Err("give both start and end, or neither (then the flight window applies)".into()),
    }
}

/// Unix seconds from an RFC 3339 time with an offset
/// (`2024-07-26T19:30:00+02:00` or `...Z`).
pub fn parse_time_s(s: &str) -> Result<i64, String> {
    let err = || format!("{s:?} is not a time such as 2024-07-26T19:30:00+02:00");
    let s = s.trim();
    let (body, offset_s) = if let Some(b) = s.strip_suffix('Z') {
        (b, 0)
    } else {
        let k = s.rfind(['+', '-']).filter(|&k| k > 10).ok_or_else(err)?;
        let (b, o) = s.split_at(k);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let (h, m) = o[1..].split_once(':').ok_or_else(err)?;
        let h: i64 = h.parse().map_err(|_| err())?;
        let m: i64 = m.parse().map_err(|_| err())?;
        (b, sign * (h * 3600 + m * 60))
    };
    let (date, time) = body.split_once('T').ok_or_else(err)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().map_err(|_| err()))
        .collect::<Result<_, _>>()?;
    let hms = time.split('.').next().unwrap_or(time);
    let t: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().map_err(|_| err()))
        .collect::<Result<_, _>>()?;
    if d.len() != 3
        || t.len() != 3
        || !(1..=12).contains(&d[1])
        || !(1..=31).contains(&d[2])
        || !(0..=23).contains(&t[0])
        || !(0..=59).contains(&t[1])
        || !(0..=60).contains(&t[2])
    {
        return Err(err());
    }
    let days = crate::time::days_from_civil(d[0], d[1], d[2]);
    Ok(days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2] - offset_s)
}

/// The UTC offset written in an RFC 3339 time, seconds (0 for `Z` or
/// none).
pub fn utc_offset_s(s: &str) -> i64 {
    let s = s.trim();
    let Some(k) = s.rfind(['+', '-']).filter(|&k| k > 10) else {
        return 0;
    };
    let rest = &s[k..];
    let neg = rest.starts_with('-');
    let Some((h, m)) = rest[1..].split_once(':') else {
        return 0;
    };
    let v = h.parse::<i64>().unwrap_or(0) * 3600 + m.parse::<i64>().unwrap_or(0) * 60;
    if neg { -v } else { v }
}

/// `HH:MM` of Unix seconds, UTC.
pub fn hhmm_utc(t_s: i64) -> String {
    let s = t_s.rem_euclid(86_400);
    format!("{:02}:{:02}", s / 3600, (s % 3600) / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "Test"
[authorisation]
start = "2024-07-26T19:00:00+02:00"
end = "2024-07-26T23:00:00+02:00"
area = { type = "Polygon", coordinates = [[[2.35, 48.92], [2.37, 48.92], [2.37, 48.93], [2.35, 48.93], [2.35, 48.92]]] }

[[zones]]
name = "Forecourt"
weight = 2
crowd = 1000
area = { type = "Polygon", coordinates = [[[2.355, 48.922], [2.36, 48.922], [2.36, 48.925], [2.355, 48.925]]] }

[[routes]]
name = "Walk"
width_m = 20
start = "2024-07-26T20:00:00+02:00"
end = "2024-07-26T21:00:00+02:00"
line = { type = "LineString", coordinates = [[2.356, 48.926], [2.365, 48.927]] }

[drones]
count = 4
launch_sites = [[2.351, 48.921]]

[patrols]
count = 10
"#;

    #[test]
    fn a_good_file_parses_into_the_local_frame() {
        let e = Event::parse(GOOD, Path::new("t.toml"), Path::new(".")).unwrap();
        assert_eq!(e.zones.len(), 2);
        assert_eq!(e.flight_window.len_s(), 4 * 3600);
        assert_eq!(
            e.zones[0].window, e.flight_window,
            "defaults to the flight window"
        );
        assert_eq!(e.zones[1].window.len_s(), 3600);
        assert!(
            matches!(e.zones[1].shape, Shape::Corridor { half_width_m, .. } if half_width_m == 10.0)
        );
        assert_eq!(e.drones.count, 4);
        assert_eq!(e.drones.ceiling_m, MAX_CEILING_M);
        // The frame is centred on the authorisation area.
        let (x, y) = e.frame.to_local(48.925, 2.36);
        assert!(x.abs() < 5.0 && y.abs() < 5.0, "{x} {y}");
    }

    #[test]
    fn errors_name_the_file_line_and_problem() {
        let bad = GOOD.replace("weight = 2", "weight = -1");
        let err = Event::parse(&bad, Path::new("ev.toml"), Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("ev.toml:8:"), "{err}");
        assert!(err.contains("weight"), "{err}");
        let bad = GOOD.replace("[patrols]\ncount = 10", "[patrols]\ncount = \"ten\"");
        let err = Event::parse(&bad, Path::new("ev.toml"), Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("ev.toml:26:"), "{err}");
        let bad = GOOD.replace("count = 4", "count = 4\nceiling_m = 150");
        let err = Event::parse(&bad, Path::new("ev.toml"), Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ceiling_m") && err.contains("120"), "{err}");
        let bad = GOOD.replace("[2.356, 48.926], [2.365, 48.927]", "[48.926, 2.356]");
        let err = Event::parse(&bad, Path::new("ev.toml"), Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("LineString"), "{err}");
    }

    #[test]
    fn a_swapped_vertex_an_oversized_zone_or_a_bow_tie_is_refused_with_the_reason() {
        let parse = |text: &str| {
            Event::parse(text, Path::new("ev.toml"), Path::new("."))
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        // One vertex of the zone written [lat, lon]: thousands of km away.
        let swapped = GOOD.replace(
            "[2.36, 48.925], [2.355, 48.925]",
            "[48.925, 2.36], [2.355, 48.925]",
        );
        let err = parse(&swapped).unwrap_err();
        assert!(err.starts_with("ev.toml:"), "{err}");
        assert!(
            err.contains("Forecourt") && err.contains("km from"),
            "{err}"
        );
        assert!(err.contains("[lon, lat]"), "{err}");
        // The same swap in the authorisation.
        let swapped = GOOD.replace(
            "[2.37, 48.93], [2.35, 48.93]",
            "[48.93, 2.37], [2.35, 48.93]",
        );
        let err = parse(&swapped).unwrap_err();
        assert!(err.contains("authorisation") && err.contains("km"), "{err}");
        // A launch site swapped.
        let swapped = GOOD.replace(
            "launch_sites = [[2.351, 48.921]]",
            "launch_sites = [[48.921, 2.351]]",
        );
        let err = parse(&swapped).unwrap_err();
        assert!(
            err.contains("launch site") && err.contains("km from"),
            "{err}"
        );
        // A bow tie: the ring crosses itself.
        let bow = GOOD.replace(
            "[[2.355, 48.922], [2.36, 48.922], [2.36, 48.925], [2.355, 48.925]]",
            "[[2.355, 48.922], [2.36, 48.925], [2.36, 48.922], [2.355, 48.925]]",
        );
        let err = parse(&bow).unwrap_err();
        assert!(
            err.contains("Forecourt") && err.contains("crosses itself"),
            "{err}"
        );
        // A zone larger than any event site (here 20 km across, inside the
        // distance bound).
        let big = GOOD.replace(
            "[[2.355, 48.922], [2.36, 48.922], [2.36, 48.925], [2.355, 48.925]]",
            "[[2.22, 48.84], [2.50, 48.84], [2.50, 49.02], [2.22, 49.02]]",
        );
        let err = parse(&big).unwrap_err();
        assert!(err.contains("Forecourt") && err.contains("ha"), "{err}");
        // The good file still parses.
        parse(GOOD).unwrap();
    }

    #[test]
    fn times_with_offsets() {
        assert_eq!(parse_time_s("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time_s("1970-01-01T02:00:00+02:00"), Ok(0));
        assert_eq!(parse_time_s("2024-07-26T19:30:00+02:00"), Ok(1_722_015_000));
        assert!(parse_time_s("2024-07-26 19:30").is_err());
        assert_eq!(hhmm_utc(1_722_015_000), "17:30");
        assert_eq!(utc_offset_s("2024-07-26T19:30:00+02:00"), 7200);
        assert_eq!(utc_offset_s("2024-07-26T19:30:00-03:30"), -12_600);
        assert_eq!(utc_offset_s("2024-07-26T19:30:00Z"), 0);
    }
}
