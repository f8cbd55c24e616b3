//! The live page's figures: today's incidents by category, median times to
//! eyes on and to a unit on scene, units by kind and status, each event
//! zone's camera coverage, and what the page's small map draws.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vigie_protocols::api::{UnitKind, UnitStatus};

use super::Dispatch;
use super::incident::{Category, Priority};

/// The figures of the live page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Start of the day counted, Unix ms (00:00 UTC).
    pub day_start_ms: i64,
    /// Incidents created since then.
    pub incidents_today: u64,
    /// Of those, by category (every category, zeros included).
    pub by_category: BTreeMap<Category, u64>,
    /// Incidents not closed or cancelled.
    pub open_incidents: u64,
    /// Median time from report to a camera or drone seeing the spot, over
    /// today's incidents that got eyes on, seconds.
    pub median_eyes_on_s: Option<f64>,
    /// Median time from report to the first unit on scene, over today's
    /// incidents that got one, seconds.
    pub median_first_on_scene_s: Option<f64>,
    /// Available units by kind.
    pub units_available: BTreeMap<UnitKind, u64>,
    /// Camera coverage of each event zone, fraction of open ground 0..1.
    pub zone_coverage: BTreeMap<String, f64>,
    /// Units by kind and status (every kind and status, zeros included).
    #[serde(default)]
    pub units_by_status: BTreeMap<UnitKind, BTreeMap<UnitStatus, u64>>,
    /// Drones flying now (armed, link up): a flying drone is not
    /// "available", and must still be counted.
    #[serde(default)]
    pub drones_in_flight: u64,
    /// For the page's map: open incidents, event zones, units with a
    /// position.
    #[serde(default)]
    pub map: MapFigures,
    /// When computed, Unix ms.
    pub at_ms: i64,
}

/// What the live page's small map draws (WGS84).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MapFigures {
    /// Open incidents.
    pub incidents: Vec<MapIncident>,
    /// Event zones, outer ring `[lon, lat]`, with their camera coverage.
    pub zones: Vec<MapZone>,
    /// Units with a known position.
    pub units: Vec<MapUnit>,
}

/// An open incident on the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapIncident {
    /// Incident id.
    pub id: u64,
    /// Category.
    pub category: Category,
    /// Priority.
    pub priority: Priority,
    /// Latitude, degrees.
    pub lat_deg: f64,
    /// Longitude, degrees.
    pub lon_deg: f64,
}

/// An event zone on the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapZone {
    /// Zone name.
    pub name: String,
    /// Outer ring, `[lon, lat]`.
    pub ring: Vec<[f64; 2]>,
    /// Camera coverage, fraction of open ground 0..1, when computed.
    pub coverage: Option<f64>,
}

/// A unit on the map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapUnit {
    /// Unit id.
    pub id: String,
    /// Kind.
    pub kind: UnitKind,
    /// Status.
    pub status: UnitStatus,
    /// Latitude, degrees.
    pub lat_deg: f64,
    /// Longitude, degrees.
    pub lon_deg: f64,
}

/// Start of the UTC day containing `ms`.
pub fn day_start(ms: i64) -> i64 {
    ms - ms.rem_euclid(86_400_000)
}

pub(super) fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

impl Dispatch {
    /// The live page's figures.
    pub fn figures(&self) -> Figures {
        let now = crate::time::unix_ms();
        let start = day_start(now);
        let engine = self.lock();
        let mut by_category: BTreeMap<Category, u64> =
            Category::ALL.into_iter().map(|c| (c, 0)).collect();
        let mut eyes = Vec::new();
        let mut scene = Vec::new();
        let mut today = 0;
        let mut open = 0;
        let mut map = MapFigures::default();
        for i in engine.incidents() {
            if !i.status.is_final() {
                open += 1;
                map.incidents.push(MapIncident {
                    id: i.id,
                    category: i.report.category,
                    priority: i.report.priority,
                    lat_deg: i.report.location.lat_deg,
                    lon_deg: i.report.location.lon_deg,
                });
            }
            if i.created_ms < start {
                continue;
            }
            today += 1;
            *by_category.entry(i.report.category).or_default() += 1;
            if let Some(t) = i.eyes_on_ms {
                eyes.push((t - i.created_ms).max(0) as f64 / 1000.0);
            }
            if let Some(t) = i.on_scene_ms {
                scene.push((t - i.created_ms).max(0) as f64 / 1000.0);
            }
        }
        drop(engine);
        let mut units_available: BTreeMap<UnitKind, u64> =
            UnitKind::ALL.into_iter().map(|k| (k, 0)).collect();
        let mut units_by_status: BTreeMap<UnitKind, BTreeMap<UnitStatus, u64>> = UnitKind::ALL
            .into_iter()
            .map(|k| (k, UnitStatus::ALL.into_iter().map(|s| (s, 0)).collect()))
            .collect();
        let mut drones_in_flight = 0;
        self.fleet.read(|f| {
            for u in f.units() {
                if u.status == UnitStatus::Available {
                    *units_available.entry(u.kind).or_default() += 1;
                }
                *units_by_status
                    .entry(u.kind)
                    .or_default()
                    .entry(u.status)
                    .or_default() += 1;
                if u.kind == UnitKind::Drone
                    && u.status != UnitStatus::LinkLost
                    && u.drone.as_ref().is_some_and(|d| d.armed)
                {
                    drones_in_flight += 1;
                }
                if let Some(p) = &u.position {
                    map.units.push(MapUnit {
                        id: u.id.clone(),
                        kind: u.kind,
                        status: u.status,
                        lat_deg: p.lat_deg,
                        lon_deg: p.lon_deg,
                    });
                }
            }
        });
        let zone_coverage = self.zone_coverage();
        map.zones = self
            .cfg
            .event_zones
            .iter()
            .map(|z| MapZone {
                name: z.name.clone(),
                ring: z.ring.iter().map(|p| [p.lon_deg, p.lat_deg]).collect(),
                coverage: zone_coverage.get(&z.name).copied(),
            })
            .collect();
        Figures {
            day_start_ms: start,
            incidents_today: today,
            by_category,
            open_incidents: open,
            median_eyes_on_s: median(eyes),
            median_first_on_scene_s: median(scene),
            units_available,
            zone_coverage,
            units_by_status,
            drones_in_flight,
            map,
            at_ms: now,
        }
    }

    pub(super) fn zone_coverage(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for z in &self.cfg.event_zones {
            let mut ring: Vec<[f64; 2]> = z
                .ring
                .iter()
                .map(|p| {
                    let (e, n) = self.frame.to_local(p.lat_deg, p.lon_deg);
                    [e, n]
                })
                .collect();
            if ring.first() != ring.last()
                && let Some(first) = ring.first().copied()
            {
                ring.push(first);
            }
            let report = self
                .coverage
                .read(|idx| crate::coverage::query::zone_coverage(idx, &ring, 10.0, 0, f64::MAX));
            match report {
                Ok(r) => {
                    out.insert(z.name.clone(), r.covered_fraction);
                }
                Err(e) => tracing::warn!(zone = %z.name, "zone coverage: {e}"),
            }
        }
        out
    }
}
