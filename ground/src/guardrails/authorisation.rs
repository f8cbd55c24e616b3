//! Flight authorisations and the check every drone command passes.
//!
//! French police may fly camera drones only under a prefectoral
//! authorisation (Code de la sécurité intérieure, art. L242-5): one of the
//! purposes the law lists, for a requesting service, over a perimeter, for a
//! time window, with a maximum number of cameras flying at once, under an
//! order's reference.
//!
//! How a drone comes under an authorisation: **explicit assignment**. The
//! admin who records the authorisation names the drones it covers (`--drone`
//! on `vigie authorisation add`, `drones` in the API). Assignment does not
//! depend on where a drone happens to be at arming, so a drone launched just
//! outside a perimeter is not silently covered by it, and one drone can never
//! be counted under two authorisations by accident.
//!
//! [`check`] is sans-I/O: given the time, the drone, the command and a
//! snapshot of authorisations and drones, it allows or refuses with the
//! reason. Safety commands (RTL, land, disarm) and reads are never refused:
//! the guardrail must not stand between a pilot and a recall.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use vigie_protocols::api::{DroneCommand, FenceShape, MissionItem};

use crate::coverage::polygon::{Pt, point_in_ring};
use crate::frame::LocalFrame;
use crate::store::{Store, StoreError};

/// This module's migrations, in order. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE flight_authorisation (
        id INTEGER PRIMARY KEY,
        purpose TEXT NOT NULL,
        service TEXT NOT NULL,
        contact TEXT NOT NULL,
        perimeter TEXT NOT NULL,
        from_ms INTEGER NOT NULL,
        to_ms INTEGER NOT NULL,
        max_cameras INTEGER NOT NULL,
        order_ref TEXT NOT NULL,
        drones TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        ended_ms INTEGER,
        ended_by TEXT
    );",
    // 2: what the public notice needs beyond the flight rules: the order's
    // date and the perimeter in words (JSON object).
    "ALTER TABLE flight_authorisation ADD COLUMN public TEXT NOT NULL DEFAULT '{}';",
];

/// Creates or upgrades the authorisation table.
pub fn migrate(store: &Store) -> Result<(), StoreError> {
    store.migrate_module("authorisation", MIGRATIONS)
}

/// The purposes for which camera drones may be authorised, as listed by
/// article L242-5 of the Code de la sécurité intérieure (I, 1° to 6°).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// 1°: exposed places, and public buildings exposed to intrusion.
    ExposedPlaces,
    /// 2°: gatherings liable to serious disorder; support to ground staff.
    Gatherings,
    /// 3°: prevention of terrorism.
    Terrorism,
    /// 4°: regulation of transport flows, for public order only.
    TransportFlows,
    /// 5°: border surveillance.
    Borders,
    /// 6°: rescue of persons.
    Rescue,
}

impl Purpose {
    /// Every purpose, in the order of the law.
    pub const ALL: [Purpose; 6] = [
        Purpose::ExposedPlaces,
        Purpose::Gatherings,
        Purpose::Terrorism,
        Purpose::TransportFlows,
        Purpose::Borders,
        Purpose::Rescue,
    ];

    /// The name used in the CLI and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::ExposedPlaces => "exposed_places",
            Purpose::Gatherings => "gatherings",
            Purpose::Terrorism => "terrorism",
            Purpose::TransportFlows => "transport_flows",
            Purpose::Borders => "borders",
            Purpose::Rescue => "rescue",
        }
    }

    /// The paragraph of article L242-5 I.
    pub fn paragraph(self) -> &'static str {
        match self {
            Purpose::ExposedPlaces => "1°",
            Purpose::Gatherings => "2°",
            Purpose::Terrorism => "3°",
            Purpose::TransportFlows => "4°",
            Purpose::Borders => "5°",
            Purpose::Rescue => "6°",
        }
    }

    /// The wording of the law (CSI art. L242-5 I), for the public notice.
    pub fn wording(self) -> &'static str {
        match self {
            Purpose::ExposedPlaces => {
                "La prévention des atteintes à la sécurité des personnes et des biens dans des lieux particulièrement exposés, en raison de leurs caractéristiques ou des faits qui s'y sont déjà déroulés, à des risques d'agression, de vol ou de trafic d'armes, d'êtres humains ou de stupéfiants, ainsi que la protection des bâtiments et installations publics et de leurs abords immédiats, lorsqu'ils sont particulièrement exposés à des risques d'intrusion ou de dégradation"
            }
            Purpose::Gatherings => {
                "La sécurité des rassemblements de personnes sur la voie publique ou dans des lieux ouverts au public ainsi que l'appui des personnels au sol en vue de leur permettre de maintenir ou de rétablir l'ordre public, lorsque ces rassemblements sont susceptibles d'entraîner des troubles graves à l'ordre public"
            }
            Purpose::Terrorism => "La prévention d'actes de terrorisme",
            Purpose::TransportFlows => {
                "La régulation des flux de transport, aux seules fins du maintien de l'ordre et de la sécurité publics"
            }
            Purpose::Borders => {
                "La surveillance des frontières, en vue de lutter contre leur franchissement irrégulier"
            }
            Purpose::Rescue => "Le secours aux personnes",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A purpose name that is not in the law's list.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown purpose {0:?}: the law (CSI L242-5) allows exposed_places, gatherings, terrorism, transport_flows, borders or rescue"
)]
pub struct UnknownPurpose(pub String);

impl FromStr for Purpose {
    type Err = UnknownPurpose;

    fn from_str(s: &str) -> Result<Purpose, UnknownPurpose> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPurpose(s.to_string()))
    }
}

/// What an admin records from the prefectoral order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuthorisation {
    /// The legal purpose.
    pub purpose: Purpose,
    /// The requesting service (e.g. `DDSP 93`).
    pub service: String,
    /// Whom the public may contact about it (address, mail, phone).
    #[serde(default)]
    pub contact: String,
    /// Perimeter: a ring of WGS84 `[lon, lat]` (GeoJSON order), at least 3
    /// points, closed or not.
    pub perimeter: Vec<[f64; 2]>,
    /// Start of the window, Unix milliseconds.
    pub from_ms: i64,
    /// End of the window, Unix milliseconds.
    pub to_ms: i64,
    /// Most camera drones flying at once under it.
    pub max_cameras: u32,
    /// The order's reference (arrêté n°...).
    pub order_ref: String,
    /// The drones it covers (unit ids, `drone:<link>:<sysid>`).
    #[serde(default)]
    pub drones: Vec<String>,
    /// Date of the prefectoral order, `YYYY-MM-DD` (for the public notice).
    #[serde(default)]
    pub order_date: String,
    /// The perimeter in words, as the order describes it (streets,
    /// landmarks), for the public notice.
    #[serde(default)]
    pub area: String,
}

/// The notice-only fields, stored together as JSON.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PublicFields {
    #[serde(default)]
    order_date: String,
    #[serde(default)]
    area: String,
}

/// A stored authorisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorisation {
    /// Id.
    pub id: i64,
    /// What was recorded.
    #[serde(flatten)]
    pub spec: NewAuthorisation,
    /// When it was recorded, Unix milliseconds.
    pub created_ms: i64,
    /// Who recorded it (audit actor).
    pub created_by: String,
    /// When it was ended early, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<i64>,
    /// Who ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<String>,
}

impl Authorisation {
    /// When it stops being valid: its window's end, or when it was ended.
    pub fn end_ms(&self) -> i64 {
        self.ended_ms
            .map_or(self.spec.to_ms, |e| e.min(self.spec.to_ms))
    }

    /// Whether it is in force at `now_ms`.
    pub fn active(&self, now_ms: i64) -> bool {
        self.spec.from_ms <= now_ms && now_ms < self.end_ms()
    }

    /// Whether it covers drone `id`.
    pub fn covers(&self, id: &str) -> bool {
        self.spec.drones.iter().any(|d| d == id)
    }

    /// The perimeter as an inclusion fence for the vehicle (`[lat, lon]`).
    pub fn fence(&self) -> DroneCommand {
        let mut vertices: Vec<[f64; 2]> =
            self.spec.perimeter.iter().map(|p| [p[1], p[0]]).collect();
        if vertices.len() > 3 && vertices.first() == vertices.last() {
            vertices.pop();
        }
        DroneCommand::Fence {
            shapes: vec![FenceShape::Polygon {
                inclusion: true,
                vertices,
            }],
        }
    }

    /// The perimeter fence with `shapes` added after it (a copy of the
    /// perimeter among them is not repeated).
    pub fn fence_with(&self, shapes: &[FenceShape]) -> DroneCommand {
        let DroneCommand::Fence { shapes: mut out } = self.fence() else {
            return self.fence();
        };
        let perimeter = out.clone();
        out.extend(shapes.iter().filter(|s| !perimeter.contains(s)).cloned());
        DroneCommand::Fence { shapes: out }
    }

    /// The perimeter in a local frame centred on its first vertex, closed.
    fn local(&self) -> (LocalFrame, Vec<Pt>) {
        let first = self.spec.perimeter.first().copied().unwrap_or([0.0, 0.0]);
        let frame = LocalFrame::new(first[1], first[0]);
        let mut ring: Vec<Pt> = self
            .spec
            .perimeter
            .iter()
            .map(|p| {
                let (e, n) = frame.to_local(p[1], p[0]);
                [e, n]
            })
            .collect();
        if ring.first() != ring.last()
            && let Some(&f) = ring.first()
        {
            ring.push(f);
        }
        (frame, ring)
    }
}

/// Why an authorisation could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum AuthorisationError {
    /// The record makes no sense; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// No such authorisation.
    #[error("no authorisation {0}: `vigie authorisation list` shows them")]
    NotFound(i64),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl NewAuthorisation {
    /// Checks the record; the error says what to fix.
    pub fn validate(&self) -> Result<(), AuthorisationError> {
        let bad = |m: String| Err(AuthorisationError::Invalid(m));
        if self.service.trim().is_empty() {
            return bad("the requesting service is empty: name it (e.g. \"DDSP 93\")".into());
        }
        if self.order_ref.trim().is_empty() {
            return bad("the order reference is empty: give the prefectoral order's number".into());
        }
        if self.to_ms <= self.from_ms {
            return bad("the window ends before it starts: check --from and --to".into());
        }
        if self.max_cameras == 0 {
            return bad("max_cameras is 0: the order allows at least one camera".into());
        }
        let mut distinct = self.perimeter.clone();
        if distinct.len() > 1 && distinct.first() == distinct.last() {
            distinct.pop();
        }
        if distinct.len() < 3 {
            return bad("the perimeter needs at least 3 distinct [lon, lat] points".into());
        }
        for p in &self.perimeter {
            if !(-90.0..=90.0).contains(&p[1]) || !(-180.0..=180.0).contains(&p[0]) {
                return bad(format!(
                    "perimeter point {p:?} is not [lon, lat] in degrees (GeoJSON order)"
                ));
            }
        }
        if !self.order_date.is_empty() {
            let date = crate::plan::event::parse_time_s(&format!("{}T00:00:00Z", self.order_date));
            if date.is_err() || self.order_date.len() != 10 {
                return bad(format!(
                    "order date {:?} is not a date such as 2026-07-10",
                    self.order_date
                ));
            }
        }
        for d in &self.drones {
            if !d.starts_with("drone:") {
                return bad(format!(
                    "{d:?} is not a drone id: use drone:<link>:<system id> as `vigie drone list` shows"
                ));
            }
        }
        Ok(())
    }
}

type RawRow = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    String,
    String,
    i64,
    String,
    Option<i64>,
    Option<String>,
    String,
);

fn from_row(store: &Store, r: RawRow) -> Result<Authorisation, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        path: store.path().to_path_buf(),
        table: "flight_authorisation",
        detail,
    };
    let purpose =
        r.1.parse::<Purpose>()
            .map_err(|e| corrupt(format!("authorisation {}: {e}", r.0)))?;
    let perimeter = serde_json::from_str(&r.4)
        .map_err(|e| corrupt(format!("authorisation {} perimeter: {e}", r.0)))?;
    let drones = serde_json::from_str(&r.9)
        .map_err(|e| corrupt(format!("authorisation {} drones: {e}", r.0)))?;
    let public: PublicFields = serde_json::from_str(&r.14)
        .map_err(|e| corrupt(format!("authorisation {} notice fields: {e}", r.0)))?;
    Ok(Authorisation {
        id: r.0,
        spec: NewAuthorisation {
            purpose,
            service: r.2,
            contact: r.3,
            perimeter,
            from_ms: r.5,
            to_ms: r.6,
            max_cameras: u32::try_from(r.7).unwrap_or(0),
            order_ref: r.8,
            drones,
            order_date: public.order_date,
            area: public.area,
        },
        created_ms: r.10,
        created_by: r.11,
        ended_ms: r.12,
        ended_by: r.13,
    })
}

impl Store {
    /// Records an authorisation; returns it with its id.
    pub fn add_authorisation(
        &self,
        spec: &NewAuthorisation,
        now_ms: i64,
        by: &str,
    ) -> Result<Authorisation, AuthorisationError> {
        spec.validate()?;
        let perimeter = serde_json::to_string(&spec.perimeter).unwrap_or_default();
        let drones = serde_json::to_string(&spec.drones).unwrap_or_default();
        let public = serde_json::to_string(&PublicFields {
            order_date: spec.order_date.clone(),
            area: spec.area.clone(),
        })
        .unwrap_or_else(|_| "{}".into());
        let id = self.with_conn(|c| {
            c.execute(
                "INSERT INTO flight_authorisation (purpose, service, contact, perimeter, from_ms, to_ms,
                    max_cameras, order_ref, drones, created_ms, created_by, public)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    spec.purpose.as_str(),
                    spec.service,
                    spec.contact,
                    perimeter,
                    spec.from_ms,
                    spec.to_ms,
                    spec.max_cameras,
                    spec.order_ref,
                    drones,
                    now_ms,
                    by,
                    public
                ],
            )?;
            Ok(c.last_insert_rowid())
        })?;
        Ok(Authorisation {
            id,
            spec: spec.clone(),
            created_ms: now_ms,
            created_by: by.to_string(),
            ended_ms: None,
            ended_by: None,
        })
    }

    /// Every authorisation, in id order.
    pub fn list_authorisations(&self) -> Result<Vec<Authorisation>, StoreError> {
        let rows: Vec<RawRow> = self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT id, purpose, service, contact, perimeter, from_ms, to_ms, max_cameras,
                        order_ref, drones, created_ms, created_by, ended_ms, ended_by, public
                 FROM flight_authorisation ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                    r.get(13)?,
                    r.get(14)?,
                ))
            })?;
            rows.collect()
        })?;
        rows.into_iter().map(|r| from_row(self, r)).collect()
    }

    /// Ends authorisation `id` at `now_ms` (its drones are recalled by the
    /// supervisor). Ending an ended one keeps the first end.
    pub fn end_authorisation(
        &self,
        id: i64,
        now_ms: i64,
        by: &str,
    ) -> Result<(), AuthorisationError> {
        let found: Option<i64> = self.with_conn(|c| {
            c.query_row(
                "SELECT id FROM flight_authorisation WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
        })?;
        if found.is_none() {
            return Err(AuthorisationError::NotFound(id));
        }
        self.with_conn(|c| {
            c.execute(
                "UPDATE flight_authorisation SET ended_ms = ?2, ended_by = ?3
                 WHERE id = ?1 AND ended_ms IS NULL",
                params![id, now_ms, by],
            )
        })?;
        Ok(())
    }
}

/// What the check needs to know of a drone.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DroneState {
    /// Last known position, WGS84 `(lat, lon)` degrees.
    pub position: Option<(f64, f64)>,
    /// Motors armed: counted as a camera flying.
    pub armed: bool,
}

/// A snapshot of what the check reads.
#[derive(Debug, Clone, Default)]
pub struct CheckState {
    /// Every authorisation (active or not).
    pub authorisations: Vec<Authorisation>,
    /// Drones by unit id.
    pub drones: HashMap<String, DroneState>,
}

impl CheckState {
    /// Drones of the fleet picture.
    pub fn drones_of(units: &[vigie_protocols::api::Unit]) -> HashMap<String, DroneState> {
        units
            .iter()
            .filter(|u| u.kind == vigie_protocols::api::UnitKind::Drone)
            .map(|u| {
                (
                    u.id.clone(),
                    DroneState {
                        position: u.position.map(|p| (p.lat_deg, p.lon_deg)),
                        armed: u.drone.as_ref().is_some_and(|d| d.armed),
                    },
                )
            })
            .collect()
    }
}

/// A command refused by the guardrails, with the reason for the caller.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    /// What was wrong, in words, with what to do.
    pub reason: String,
    /// The authorisation the refusal refers to, if one.
    pub authorisation: Option<i64>,
}

/// Where a command would take the drone or its camera.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// A point, `(lat, lon)`.
    Point(f64, f64, &'static str),
    /// A circle: centre `(lat, lon)` and radius, metres.
    Circle(f64, f64, f64),
    /// The drone's own position (arming, take-off).
    Here(&'static str),
}

/// What `cmd` does, as far as the check is concerned.
enum Kind {
    /// Never refused: safety and reads.
    Free,
    /// Starts a flight: must be inside and under the camera cap.
    Launch,
    /// Moves the drone or its camera: every target must be inside.
    Targets(Vec<Target>),
}

fn classify(cmd: &DroneCommand) -> Kind {
    match cmd {
        DroneCommand::Rtl
        | DroneCommand::Land
        | DroneCommand::Disarm
        | DroneCommand::DownloadMission
        | DroneCommand::Gimbal { .. }
        | DroneCommand::SetMode { .. } => Kind::Free,
        DroneCommand::Arm | DroneCommand::Takeoff { .. } => Kind::Launch,
        DroneCommand::Goto {
            lat_deg, lon_deg, ..
        } => Kind::Targets(vec![Target::Point(*lat_deg, *lon_deg, "go-to point")]),
        DroneCommand::Orbit {
            lat_deg,
            lon_deg,
            radius_m,
            ..
        } => Kind::Targets(vec![Target::Circle(*lat_deg, *lon_deg, radius_m.abs())]),
        DroneCommand::Roi {
            lat_deg, lon_deg, ..
        } => Kind::Targets(vec![Target::Point(*lat_deg, *lon_deg, "camera target")]),
        DroneCommand::Mission { items } => Kind::Targets(
            items
                .iter()
                .filter_map(|item| match item {
                    MissionItem::Takeoff { .. } => Some(Target::Here("mission take-off")),
                    MissionItem::Waypoint {
                        lat_deg, lon_deg, ..
                    }
                    | MissionItem::Loiter {
                        lat_deg, lon_deg, ..
                    } => Some(Target::Point(*lat_deg, *lon_deg, "mission point")),
                    // A raw item with coordinates is checked as a point; one
                    // without (x = y = 0) carries no position.
                    MissionItem::Raw { x, y, .. } if *x != 0 || *y != 0 => Some(Target::Point(
                        f64::from(*x) / 1e7,
                        f64::from(*y) / 1e7,
                        "mission point",
                    )),
                    _ => None,
                })
                .collect(),
        ),
        // Exclusion shapes only restrict; inclusion shapes must stay inside.
        DroneCommand::Fence { shapes } => Kind::Targets(
            shapes
                .iter()
                .flat_map(|s| match s {
                    FenceShape::Polygon {
                        inclusion: true,
                        vertices,
                    } => vertices
                        .iter()
                        .map(|v| Target::Point(v[0], v[1], "fence vertex"))
                        .collect(),
                    FenceShape::Circle {
                        inclusion: true,
                        lat_deg,
                        lon_deg,
                        radius_m,
                    } => vec![Target::Circle(*lat_deg, *lon_deg, radius_m.abs())],
                    _ => Vec::new(),
                })
                .collect(),
        ),
    }
}

/// Distance from `p` to the segment `a`-`b`, metres (local frame).
fn segment_distance(p: Pt, a: Pt, b: Pt) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    };
    f64::hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy))
}

/// How close to the perimeter's edge a point counts as on it, metres.
const ON_EDGE_M: f64 = 1.0;

/// Whether the point `(lat, lon)` with a margin of `radius_m` lies inside
/// the perimeter.
fn inside(auth: &Authorisation, lat: f64, lon: f64, radius_m: f64) -> bool {
    if !lat.is_finite() || !lon.is_finite() {
        return false;
    }
    let (frame, ring) = auth.local();
    let (e, n) = frame.to_local(lat, lon);
    let p = [e, n];
    // A point on the boundary (within a metre: the perimeter's own
    // vertices, as uploaded in its fence) counts as inside.
    let on_edge = || {
        ring.windows(2)
            .any(|w| segment_distance(p, w[0], w[1]) <= ON_EDGE_M)
    };
    (point_in_ring(&ring, p) || (radius_m <= 0.0 && on_edge()))
        && (radius_m <= 0.0
            || ring
                .windows(2)
                .all(|w| segment_distance(p, w[0], w[1]) >= radius_m))
}

fn target_inside(
    auth: &Authorisation,
    t: &Target,
    here: Option<(f64, f64)>,
) -> Result<bool, String> {
    Ok(match *t {
        Target::Point(lat, lon, _) => inside(auth, lat, lon, 0.0),
        Target::Circle(lat, lon, r) => inside(auth, lat, lon, r),
        Target::Here(what) => {
            let (lat, lon) = here.ok_or_else(|| {
                format!("the drone's position is unknown, so its {what} cannot be checked against the authorised perimeter; wait for a GPS fix")
            })?;
            inside(auth, lat, lon, 0.0)
        }
    })
}

fn describe(t: &Target) -> String {
    match *t {
        Target::Point(lat, lon, what) => format!("the {what} ({lat:.6}, {lon:.6})"),
        Target::Circle(lat, lon, r) => {
            format!("the circle of {r:.0} m around ({lat:.6}, {lon:.6})")
        }
        Target::Here(what) => format!("the drone's position for its {what}"),
    }
}

/// Allows `cmd` for `drone_id` at `now_ms`, or says why not.
///
/// The drone must be assigned to an authorisation in force; every target of
/// the command (go-to point, orbit circle, camera target, mission points,
/// inclusion fence, the drone's own position for arming and take-off) must
/// lie inside its perimeter; arming or taking off must not take the number
/// of armed drones under it above its camera cap (every drone counts as a
/// camera: Vigie flies drones to film). When several authorisations cover
/// the drone, one that allows the command suffices.
pub fn check(
    now_ms: i64,
    drone_id: &str,
    cmd: &DroneCommand,
    state: &CheckState,
) -> Result<(), Refusal> {
    allowing(now_ms, drone_id, cmd, state).map(|_| ())
}

/// The authorisation under which `cmd` is allowed (`None` for commands
/// never refused), or the refusal.
fn allowing<'a>(
    now_ms: i64,
    drone_id: &str,
    cmd: &DroneCommand,
    state: &'a CheckState,
) -> Result<Option<&'a Authorisation>, Refusal> {
    let targets = match classify(cmd) {
        Kind::Free => return Ok(None),
        Kind::Launch => vec![Target::Here("arming or take-off")],
        Kind::Targets(t) => t,
    };
    let drone = state.drones.get(drone_id).copied().unwrap_or_default();
    let mine: Vec<&Authorisation> = state
        .authorisations
        .iter()
        .filter(|a| a.covers(drone_id))
        .collect();
    let in_force: Vec<&Authorisation> = mine.iter().copied().filter(|a| a.active(now_ms)).collect();
    if in_force.is_empty() {
        let reason = match mine.iter().max_by_key(|a| a.end_ms()) {
            None => format!(
                "{drone_id} is not assigned to any flight authorisation: an admin records the prefectoral order with `vigie authorisation add ... --drone {drone_id}`"
            ),
            Some(a) if now_ms < a.spec.from_ms => format!(
                "authorisation {} ({}) for {drone_id} starts only at {}",
                a.id,
                a.spec.order_ref,
                crate::time::rfc3339(a.spec.from_ms)
            ),
            Some(a) => format!(
                "authorisation {} ({}) for {drone_id} ended at {}: no flight is authorised now",
                a.id,
                a.spec.order_ref,
                crate::time::rfc3339(a.end_ms())
            ),
        };
        return Err(Refusal {
            reason,
            authorisation: mine.first().map(|a| a.id),
        });
    }
    let mut first_refusal = None;
    for auth in in_force {
        match allowed_under(auth, drone_id, drone, cmd, &targets, state) {
            Ok(()) => return Ok(Some(auth)),
            Err(reason) => {
                first_refusal.get_or_insert(Refusal {
                    reason,
                    authorisation: Some(auth.id),
                });
            }
        }
    }
    Err(first_refusal.unwrap_or(Refusal {
        reason: "no authorisation allows this command".into(),
        authorisation: None,
    }))
}

/// Allows `cmd` as [`check`] does and returns the command to send. Under an
/// authorisation a geofence always keeps its perimeter: the perimeter goes
/// first as an inclusion polygon and what the pilot uploads (exclusion
/// zones, tighter inclusion shapes, already checked to lie inside) comes in
/// addition. An empty fence therefore uploads the perimeter alone, never
/// "no fence". Autopilots keep a vehicle inside every inclusion shape, so
/// the perimeter still bounds the flight.
pub fn authorise(
    now_ms: i64,
    drone_id: &str,
    cmd: &DroneCommand,
    state: &CheckState,
) -> Result<DroneCommand, Refusal> {
    let auth = allowing(now_ms, drone_id, cmd, state)?;
    Ok(match (cmd, auth) {
        (DroneCommand::Fence { shapes }, Some(auth)) => auth.fence_with(shapes),
        _ => cmd.clone(),
    })
}

fn allowed_under(
    auth: &Authorisation,
    drone_id: &str,
    drone: DroneState,
    cmd: &DroneCommand,
    targets: &[Target],
    state: &CheckState,
) -> Result<(), String> {
    for t in targets {
        if !target_inside(auth, t, drone.position)? {
            return Err(format!(
                "{} lies outside the perimeter of authorisation {} ({}): the drone may fly only inside it",
                describe(t),
                auth.id,
                auth.spec.order_ref
            ));
        }
    }
    let launching = matches!(cmd, DroneCommand::Arm | DroneCommand::Takeoff { .. }) && !drone.armed;
    if launching {
        let flying = auth
            .spec
            .drones
            .iter()
            .filter(|d| d.as_str() != drone_id)
            .filter(|d| state.drones.get(d.as_str()).is_some_and(|s| s.armed))
            .count();
        if flying as u32 >= auth.spec.max_cameras {
            return Err(format!(
                "{flying} camera drone(s) already fly under authorisation {} ({}), its cap is {}: land one first",
                auth.id, auth.spec.order_ref, auth.spec.max_cameras
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A square of about 1.1 km around (48.92, 2.36), valid 1000..2000 ms.
    pub(crate) fn square(id: i64, drones: &[&str]) -> Authorisation {
        Authorisation {
            id,
            spec: NewAuthorisation {
                purpose: Purpose::Gatherings,
                service: "DDSP 93".into(),
                contact: "ddsp93@interieur.gouv.fr".into(),
                perimeter: vec![
                    [2.355, 48.915],
                    [2.365, 48.915],
                    [2.365, 48.925],
                    [2.355, 48.925],
                ],
                from_ms: 1000,
                to_ms: 2000,
                max_cameras: 1,
                order_ref: "2026-07-14-093".into(),
                drones: drones.iter().map(|d| d.to_string()).collect(),
                order_date: String::new(),
                area: String::new(),
            },
            created_ms: 0,
            created_by: "operator:alice".into(),
            ended_ms: None,
            ended_by: None,
        }
    }

    pub(crate) fn at(lat: f64, lon: f64, armed: bool) -> DroneState {
        DroneState {
            position: Some((lat, lon)),
            armed,
        }
    }

    fn goto(lat: f64, lon: f64) -> DroneCommand {
        DroneCommand::Goto {
            lat_deg: lat,
            lon_deg: lon,
            alt_m: 50.0,
            speed_m_s: None,
        }
    }

    fn state(drones: &[(&str, DroneState)]) -> CheckState {
        CheckState {
            authorisations: vec![square(7, &["drone:a:1", "drone:a:2"])],
            drones: drones.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn a_goto_inside_is_allowed_and_outside_is_refused_with_the_reason() {
        let s = state(&[("drone:a:1", at(48.92, 2.36, true))]);
        assert_eq!(check(1500, "drone:a:1", &goto(48.92, 2.36), &s), Ok(()));
        let r = check(1500, "drone:a:1", &goto(48.93, 2.36), &s).unwrap_err();
        assert!(
            r.reason
                .contains("outside the perimeter of authorisation 7"),
            "{r}"
        );
        assert!(r.reason.contains("2026-07-14-093"), "{r}");
        assert_eq!(r.authorisation, Some(7));
    }

    #[test]
    fn outside_the_window_or_unassigned_is_refused() {
        let s = state(&[("drone:a:1", at(48.92, 2.36, true))]);
        let early = check(999, "drone:a:1", &goto(48.92, 2.36), &s).unwrap_err();
        assert!(early.reason.contains("starts only at"), "{early}");
        let late = check(2000, "drone:a:1", &goto(48.92, 2.36), &s).unwrap_err();
        assert!(late.reason.contains("ended at"), "{late}");
        let other = check(1500, "drone:b:9", &goto(48.92, 2.36), &s).unwrap_err();
        assert!(other.reason.contains("not assigned"), "{other}");
        let mut ended = s.clone();
        ended.authorisations[0].ended_ms = Some(1200);
        assert!(check(1300, "drone:a:1", &goto(48.92, 2.36), &ended).is_err());
    }

    #[test]
    fn safety_commands_are_never_refused() {
        let s = CheckState::default();
        for cmd in [DroneCommand::Rtl, DroneCommand::Land, DroneCommand::Disarm] {
            assert_eq!(check(0, "drone:x:1", &cmd, &s), Ok(()));
        }
    }

    #[test]
    fn an_orbit_must_fit_inside_and_roi_and_missions_are_checked() {
        let s = state(&[("drone:a:1", at(48.92, 2.36, true))]);
        let orbit = |r| DroneCommand::Orbit {
            lat_deg: 48.92,
            lon_deg: 2.36,
            alt_m: 50.0,
            radius_m: r,
            speed_m_s: None,
        };
        assert_eq!(check(1500, "drone:a:1", &orbit(100.0), &s), Ok(()));
        // The square is about 730 m wide: a 500 m circle crosses its edge.
        assert!(check(1500, "drone:a:1", &orbit(-500.0), &s).is_err());
        let roi = DroneCommand::Roi {
            lat_deg: 48.95,
            lon_deg: 2.36,
            alt_m: 0.0,
        };
        assert!(
            check(1500, "drone:a:1", &roi, &s)
                .unwrap_err()
                .reason
                .contains("camera target")
        );
        let mission = DroneCommand::Mission {
            items: vec![
                MissionItem::Takeoff { alt_m: 30.0 },
                MissionItem::Waypoint {
                    lat_deg: 48.92,
                    lon_deg: 2.36,
                    alt_m: 30.0,
                    hold_s: 0.0,
                },
                MissionItem::Waypoint {
                    lat_deg: 48.92,
                    lon_deg: 2.40,
                    alt_m: 30.0,
                    hold_s: 0.0,
                },
            ],
        };
        assert!(
            check(1500, "drone:a:1", &mission, &s)
                .unwrap_err()
                .reason
                .contains("mission point")
        );
    }

    #[test]
    fn arming_outside_or_beyond_the_camera_cap_is_refused() {
        // Cap 1: drone 2 flies, so drone 1 may not take off.
        let s = state(&[
            ("drone:a:1", at(48.92, 2.36, false)),
            ("drone:a:2", at(48.92, 2.36, true)),
        ]);
        let r = check(1500, "drone:a:1", &DroneCommand::Arm, &s).unwrap_err();
        assert!(r.reason.contains("its cap is 1"), "{r}");
        // Drone 2, already flying, may still take off (it is counted already).
        assert_eq!(
            check(
                1500,
                "drone:a:2",
                &DroneCommand::Takeoff { alt_m: 30.0 },
                &s
            ),
            Ok(())
        );
        let outside = state(&[("drone:a:1", at(48.95, 2.36, false))]);
        assert!(check(1500, "drone:a:1", &DroneCommand::Arm, &outside).is_err());
        let unknown = state(&[]);
        let r = check(1500, "drone:a:1", &DroneCommand::Arm, &unknown).unwrap_err();
        assert!(r.reason.contains("position is unknown"), "{r}");
    }

    #[test]
    fn an_inclusion_fence_must_stay_inside_and_the_perimeter_fence_passes() {
        let s = state(&[("drone:a:1", at(48.92, 2.36, true))]);
        let own = s.authorisations[0].fence();
        assert_eq!(check(1500, "drone:a:1", &own, &s), Ok(()));
        let wide = DroneCommand::Fence {
            shapes: vec![FenceShape::Circle {
                inclusion: true,
                lat_deg: 48.92,
                lon_deg: 2.36,
                radius_m: 5000.0,
            }],
        };
        assert!(check(1500, "drone:a:1", &wide, &s).is_err());
        let exclusion = DroneCommand::Fence {
            shapes: vec![FenceShape::Circle {
                inclusion: false,
                lat_deg: 40.0,
                lon_deg: 2.0,
                radius_m: 5000.0,
            }],
        };
        assert_eq!(check(1500, "drone:a:1", &exclusion, &s), Ok(()));
    }

    #[test]
    fn under_an_authorisation_every_fence_upload_keeps_the_perimeter() {
        let s = state(&[("drone:a:1", at(48.92, 2.36, true))]);
        let own = s.authorisations[0].fence();
        let DroneCommand::Fence { shapes } = &own else {
            unreachable!()
        };
        let perimeter = shapes[0].clone();
        let fence = |shapes: Vec<FenceShape>| DroneCommand::Fence { shapes };
        // Clearing the fence uploads the perimeter instead.
        assert_eq!(
            authorise(1500, "drone:a:1", &fence(vec![]), &s),
            Ok(fence(vec![perimeter.clone()]))
        );
        // An exclusion zone comes in addition to the perimeter, not instead.
        let no_fly = FenceShape::Circle {
            inclusion: false,
            lat_deg: 48.92,
            lon_deg: 2.36,
            radius_m: 50.0,
        };
        assert_eq!(
            authorise(1500, "drone:a:1", &fence(vec![no_fly.clone()]), &s),
            Ok(fence(vec![perimeter.clone(), no_fly]))
        );
        // The perimeter itself is not doubled; other commands pass as sent.
        assert_eq!(authorise(1500, "drone:a:1", &own, &s), Ok(own.clone()));
        let g = goto(48.92, 2.36);
        assert_eq!(authorise(1500, "drone:a:1", &g, &s), Ok(g.clone()));
    }

    #[test]
    fn authorisations_round_trip_through_the_store_and_bad_ones_are_refused() {
        let store = Store::in_memory().unwrap();
        migrate(&store).unwrap();
        let a = square(0, &["drone:a:1"]);
        let saved = store
            .add_authorisation(&a.spec, 5, "operator:alice")
            .unwrap();
        store
            .end_authorisation(saved.id, 1500, "operator:alice")
            .unwrap();
        let list = store.list_authorisations().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].spec, a.spec);
        assert_eq!(list[0].ended_ms, Some(1500));
        assert!(!list[0].active(1600));
        let mut bad = a.spec.clone();
        bad.perimeter.truncate(2);
        assert!(store.add_authorisation(&bad, 5, "x").is_err());
        assert!(matches!(
            store.end_authorisation(99, 1, "x"),
            Err(AuthorisationError::NotFound(99))
        ));
        assert!("hooliganism".parse::<Purpose>().is_err());
    }
}
