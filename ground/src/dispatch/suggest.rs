//! Who to send: available patrols ranked by estimated travel time, the drone
//! that can be overhead soonest, and the cameras that see the spot now.
//!
//! Travel time, with a street network loaded (`[dispatch] streets`): the
//! shortest route on it ([`super::routing`]). Without one, or for a unit the
//! network does not connect to the spot: straight-line distance in the
//! local frame × [`DispatchConfig::detour_factor`] (1.3 by default) ÷ the
//! unit's speed (walking 1.4 m/s, driving 8 m/s unless configured). Each
//! candidate says which ([`PatrolCandidate::method`] and `method_note`).
//!
//! A drone is suggested when it is linked, has a position and enough battery
//! to fly there, hover for [`DRONE_ON_STATION_S`] and come back keeping
//! [`DispatchConfig::drone_reserve_pct`]; time to overhead = distance ÷
//! cruise speed. Whether it holds a flight authorisation for the spot is the
//! guardrails' answer: [`suggest`] takes it as a predicate.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use vigie_protocols::api::{Unit, UnitKind, UnitStatus};

use super::incident::GeoPoint;
use super::policy::DispatchConfig;
use super::routing::{self, RouteTime, StreetGraph};
use crate::coverage::index::CoverageIndex;
use crate::coverage::query::{self, Sighting};
use crate::frame::LocalFrame;

/// Time a suggested drone must be able to stay over the spot, seconds.
pub const DRONE_ON_STATION_S: f64 = 300.0;

/// How a patrol moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mobility {
    /// On foot.
    Foot,
    /// In a vehicle.
    Vehicle,
}

/// How a travel time was estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TravelMethod {
    /// The shortest route on the loaded street network.
    Route,
    /// Straight-line distance × the detour factor.
    #[default]
    StraightLine,
}

/// A patrol that could go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatrolCandidate {
    /// Unit id.
    pub unit: String,
    /// Straight-line distance to the spot, metres.
    pub distance_m: f64,
    /// Estimated travel time, seconds.
    pub travel_s: f64,
    /// How it moves.
    pub mobility: Mobility,
    /// How `travel_s` was estimated.
    #[serde(default)]
    pub method: TravelMethod,
    /// The method in words, with the detour factor and, for a straight line
    /// while a street network is loaded, why no route was used.
    #[serde(default)]
    pub method_note: String,
}

/// The note of a straight-line estimate.
fn straight_note(cfg: &DispatchConfig, why: &str) -> String {
    format!("straight line × {} ({why})", cfg.detour_factor)
}

/// The drone that can be overhead soonest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroneCandidate {
    /// Unit id.
    pub unit: String,
    /// Straight-line distance to the spot, metres.
    pub distance_m: f64,
    /// Estimated time until overhead, seconds.
    pub eta_s: f64,
    /// Battery now, percent.
    pub battery_pct: f64,
}

/// What dispatch suggests for one incident.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Suggestions {
    /// Available patrols, quickest first.
    pub patrols: Vec<PatrolCandidate>,
    /// The drone that can be overhead soonest, if any can.
    pub drone: Option<DroneCandidate>,
    /// Cameras and drones whose coverage contains the spot now, best pixel
    /// density first (empty when the spot is under a privacy mask).
    pub cameras: Vec<Sighting>,
    /// When computed, Unix ms.
    pub at_ms: i64,
}

/// Ranks the available patrols by travel time to `spot`, at most `limit`,
/// skipping `exclude` (units already tried or busy with another order).
pub fn rank_patrols<'a>(
    units: impl Iterator<Item = &'a Unit>,
    frame: &LocalFrame,
    spot: GeoPoint,
    cfg: &DispatchConfig,
    exclude: &HashSet<String>,
    limit: usize,
) -> Vec<PatrolCandidate> {
    let (sx, sy) = frame.to_local(spot.lat_deg, spot.lon_deg);
    let note = straight_note(cfg, "no street network loaded");
    // (travel_s, unit) kept sorted, at most `limit`: a bounded insertion
    // keeps this linear in the fleet size for small limits.
    let mut best: Vec<PatrolCandidate> = Vec::with_capacity(limit.min(256) + 1);
    if limit == 0 {
        return best;
    }
    for u in units {
        if u.kind != UnitKind::Patrol || u.status != UnitStatus::Available {
            continue;
        }
        if u.patrol.as_ref().is_some_and(|p| !p.connected) {
            continue;
        }
        let Some(pos) = u.position else { continue };
        let (x, y) = frame.to_local(pos.lat_deg, pos.lon_deg);
        let distance_m = f64::hypot(x - sx, y - sy);
        let vehicle = cfg.vehicle_units.iter().any(|v| v == &u.id);
        let speed = if vehicle {
            cfg.driving_speed_m_s
        } else {
            cfg.walking_speed_m_s
        };
        let travel_s = distance_m * cfg.detour_factor / speed;
        if best.len() == limit && best.last().is_some_and(|w| w.travel_s <= travel_s) {
            continue;
        }
        if exclude.contains(&u.id) {
            continue;
        }
        let at = best.partition_point(|c| {
            c.travel_s < travel_s || (c.travel_s == travel_s && c.unit < u.id)
        });
        best.insert(
            at,
            PatrolCandidate {
                unit: u.id.clone(),
                distance_m,
                travel_s,
                mobility: if vehicle {
                    Mobility::Vehicle
                } else {
                    Mobility::Foot
                },
                method: TravelMethod::StraightLine,
                method_note: note.clone(),
            },
        );
        best.truncate(limit);
    }
    best
}

/// [`rank_patrols`] on the street network when one is given: one bounded
/// reverse Dijkstra from the spot per mode present (on foot, vehicle); a unit
/// the network does not connect to the spot falls back to the straight line,
/// with the reason in its `method_note`.
pub fn rank_patrols_with<'a>(
    streets: Option<&StreetGraph>,
    units: impl Iterator<Item = &'a Unit>,
    frame: &LocalFrame,
    spot: GeoPoint,
    cfg: &DispatchConfig,
    exclude: &HashSet<String>,
    limit: usize,
) -> Vec<PatrolCandidate> {
    let Some(streets) = streets else {
        return rank_patrols(units, frame, spot, cfg, exclude, limit);
    };
    let here = frame.to_local(spot.lat_deg, spot.lon_deg);
    // Free patrols by mode: (unit, position).
    let mut by_mode: [Vec<(&Unit, (f64, f64))>; 2] = [Vec::new(), Vec::new()];
    for u in units {
        if u.kind != UnitKind::Patrol
            || u.status != UnitStatus::Available
            || u.patrol.as_ref().is_some_and(|p| !p.connected)
            || exclude.contains(&u.id)
        {
            continue;
        }
        let Some(pos) = u.position else { continue };
        let vehicle = cfg.vehicle_units.iter().any(|v| v == &u.id);
        by_mode[usize::from(vehicle)].push((u, frame.to_local(pos.lat_deg, pos.lon_deg)));
    }
    let mut out = Vec::new();
    for (vehicle, units) in by_mode.iter().enumerate() {
        if units.is_empty() {
            continue;
        }
        let vehicle = vehicle == 1;
        let (speed, mobility) = if vehicle {
            (cfg.driving_speed_m_s, Mobility::Vehicle)
        } else {
            (cfg.walking_speed_m_s, Mobility::Foot)
        };
        let mode = routing::Mode {
            speed_m_s: speed,
            drives: vehicle,
        };
        let points: Vec<(f64, f64)> = units.iter().map(|u| u.1).collect();
        let times = streets.times_to(here, mode, &points, limit);
        for ((u, p), t) in units.iter().zip(times) {
            let distance_m = f64::hypot(p.0 - here.0, p.1 - here.1);
            let (travel_s, method, method_note) = match t {
                RouteTime::Beyond => continue,
                RouteTime::Route(s) => (s, TravelMethod::Route, "street route".to_string()),
                RouteTime::NoRoute(why) => (
                    distance_m * cfg.detour_factor / speed,
                    TravelMethod::StraightLine,
                    straight_note(cfg, &why),
                ),
            };
            out.push(PatrolCandidate {
                unit: u.id.clone(),
                distance_m,
                travel_s,
                mobility,
                method,
                method_note,
            });
        }
    }
    out.sort_by(|a, b| a.travel_s.total_cmp(&b.travel_s).then(a.unit.cmp(&b.unit)));
    out.truncate(limit);
    out
}

/// The drone that can be overhead soonest, if any is linked and has the
/// battery for it; `authorised(unit_id, spot)` is the flight authorisation
/// check.
pub fn best_drone<'a>(
    units: impl Iterator<Item = &'a Unit>,
    frame: &LocalFrame,
    spot: GeoPoint,
    cfg: &DispatchConfig,
    authorised: &dyn Fn(&str, GeoPoint) -> bool,
) -> Option<DroneCandidate> {
    let (sx, sy) = frame.to_local(spot.lat_deg, spot.lon_deg);
    let mut best: Option<DroneCandidate> = None;
    for u in units {
        if u.kind != UnitKind::Drone
            || matches!(u.status, UnitStatus::LinkLost | UnitStatus::Unavailable)
        {
            continue;
        }
        let (Some(pos), Some(battery_pct)) =
            (u.position, u.drone.as_ref().and_then(|d| d.battery_pct))
        else {
            continue;
        };
        let (x, y) = frame.to_local(pos.lat_deg, pos.lon_deg);
        let distance_m = f64::hypot(x - sx, y - sy);
        let eta_s = distance_m / cfg.drone_cruise_m_s;
        let needed_s = 2.0 * eta_s + DRONE_ON_STATION_S;
        let needed_pct = needed_s / cfg.drone_endurance_s * 100.0 + cfg.drone_reserve_pct;
        if battery_pct < needed_pct || !authorised(&u.id, spot) {
            continue;
        }
        if best.as_ref().is_none_or(|b| eta_s < b.eta_s) {
            best = Some(DroneCandidate {
                unit: u.id.clone(),
                distance_m,
                eta_s,
                battery_pct,
            });
        }
    }
    best
}

/// The cameras that see `spot` now.
pub fn cameras_now(index: &CoverageIndex, frame: &LocalFrame, spot: GeoPoint) -> Vec<Sighting> {
    let (x, y) = frame.to_local(spot.lat_deg, spot.lon_deg);
    let mut hits = Vec::new();
    if !query::who_sees(index, [x, y], &mut hits) {
        return Vec::new();
    }
    query::describe(index, &hits)
}

/// Everything suggested for `spot`; patrols on `streets` when given.
#[allow(clippy::too_many_arguments)]
pub fn suggest(
    streets: Option<&StreetGraph>,
    units: &[Unit],
    index: &CoverageIndex,
    frame: &LocalFrame,
    spot: GeoPoint,
    cfg: &DispatchConfig,
    exclude: &HashSet<String>,
    authorised: &dyn Fn(&str, GeoPoint) -> bool,
    now_ms: i64,
) -> Suggestions {
    Suggestions {
        patrols: rank_patrols_with(
            streets,
            units.iter(),
            frame,
            spot,
            cfg,
            exclude,
            cfg.suggestions,
        ),
        drone: best_drone(units.iter(), frame, spot, cfg, authorised),
        cameras: cameras_now(index, frame, spot),
        at_ms: now_ms,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{RngExt as _, SeedableRng};
    use vigie_protocols::api::{DroneTelemetry, PatrolInfo, Position};

    fn frame() -> LocalFrame {
        LocalFrame::new(48.924_459, 2.360_164)
    }

    fn at(frame: &LocalFrame, e: f64, n: f64) -> Position {
        let (lat_deg, lon_deg) = frame.to_wgs84(e, n);
        Position {
            lat_deg,
            lon_deg,
            alt_msl_m: None,
            alt_rel_m: None,
            heading_deg: None,
            speed_m_s: None,
            accuracy_m: None,
        }
    }

    pub(crate) fn patrol(id: &str, pos: Position, status: UnitStatus) -> Unit {
        Unit {
            position: Some(pos),
            last_seen_ms: Some(0),
            patrol: Some(PatrolInfo {
                role: "patrol".into(),
                connected: true,
                link_quality: Some(1.0),
                rtt_ms: None,
                remote: None,
            }),
            ..Unit::new(id, UnitKind::Patrol, status, "quic")
        }
    }

    fn drone(id: &str, pos: Position, battery: f64) -> Unit {
        let mut u = patrol(id, pos, UnitStatus::Available);
        u.kind = UnitKind::Drone;
        u.patrol = None;
        u.drone = Some(DroneTelemetry {
            link: "udp0".into(),
            system_id: 1,
            autopilot: String::new(),
            mode: String::new(),
            armed: false,
            system_status: String::new(),
            link_state: "up".into(),
            battery_pct: Some(battery),
            battery_v: None,
            gps_fix: None,
            satellites: None,
            gps_hdop: None,
            attitude_deg: None,
            home: None,
            gimbal_deg: None,
            camera_fov_deg: None,
            video_uri: None,
            status_texts: Vec::new(),
            warnings: Vec::new(),
        });
        u
    }

    fn spot(frame: &LocalFrame, e: f64, n: f64) -> GeoPoint {
        let p = at(frame, e, n);
        GeoPoint {
            lat_deg: p.lat_deg,
            lon_deg: p.lon_deg,
        }
    }

    #[test]
    fn ranks_by_travel_time_not_distance_and_skips_the_unavailable() {
        let f = frame();
        let cfg = DispatchConfig {
            vehicle_units: vec!["CAR".into()],
            ..DispatchConfig::default()
        };
        let units = [
            patrol("NEAR", at(&f, 100.0, 0.0), UnitStatus::Available),
            patrol("CAR", at(&f, 500.0, 0.0), UnitStatus::Available),
            patrol("BUSY", at(&f, 10.0, 0.0), UnitStatus::EnRoute),
            patrol("LOST", at(&f, 5.0, 0.0), UnitStatus::LinkLost),
            patrol("TRIED", at(&f, 1.0, 0.0), UnitStatus::Available),
        ];
        let exclude = HashSet::from(["TRIED".to_string()]);
        let ranked = rank_patrols(units.iter(), &f, spot(&f, 0.0, 0.0), &cfg, &exclude, 5);
        let ids: Vec<_> = ranked.iter().map(|c| c.unit.as_str()).collect();
        assert_eq!(ids, ["CAR", "NEAR"], "500 m driving beats 100 m walking");
        let near = &ranked[1];
        assert!((near.distance_m - 100.0).abs() < 0.5, "{}", near.distance_m);
        assert!((near.travel_s - 100.0 * 1.3 / 1.4).abs() < 0.5);
    }

    #[test]
    fn bounded_ranking_matches_a_full_sort() {
        let f = frame();
        let cfg = DispatchConfig::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let units: Vec<Unit> = (0..2000)
            .map(|i| {
                let status = if i % 7 == 0 {
                    UnitStatus::OnScene
                } else {
                    UnitStatus::Available
                };
                patrol(
                    &format!("P{i:04}"),
                    at(
                        &f,
                        rng.random_range(-2000.0..2000.0),
                        rng.random_range(-2000.0..2000.0),
                    ),
                    status,
                )
            })
            .collect();
        let s = spot(&f, 123.0, -456.0);
        let exclude = HashSet::from(["P0001".to_string(), "P0002".to_string()]);
        let top = rank_patrols(units.iter(), &f, s, &cfg, &exclude, 10);
        let mut all = rank_patrols(units.iter(), &f, s, &cfg, &exclude, 5000);
        all.truncate(10);
        assert_eq!(top, all);
        assert_eq!(top.len(), 10);
        assert!(top.windows(2).all(|w| w[0].travel_s <= w[1].travel_s));
    }

    #[test]
    fn on_streets_the_bridge_decides_and_each_time_says_how_it_was_made() {
        use crate::dispatch::routing::{OneWay, StreetLine};
        let f = frame();
        let cfg = DispatchConfig::default();
        let line = |p: &[(f64, f64)]| StreetLine {
            points: p.to_vec(),
            oneway: OneWay::Both,
            speed_m_s: None,
        };
        // A river along y = 0, banks at ±50 m, one bridge at x = 1000; an
        // island street to the north with no bridge at all.
        let g = StreetGraph::new(&[
            line(&[(0.0, -50.0), (1000.0, -50.0), (2000.0, -50.0)]),
            line(&[(0.0, 50.0), (1000.0, 50.0), (2000.0, 50.0)]),
            line(&[(1000.0, -50.0), (1000.0, 50.0)]),
            line(&[(0.0, 600.0), (500.0, 600.0)]),
        ]);
        let units = [
            patrol("ACROSS", at(&f, 100.0, 50.0), UnitStatus::Available),
            patrol("ALONG", at(&f, 500.0, -50.0), UnitStatus::Available),
            patrol("ISLAND", at(&f, 100.0, 600.0), UnitStatus::Available),
        ];
        let s = spot(&f, 100.0, -50.0);
        let none = HashSet::new();
        let straight = rank_patrols(units.iter(), &f, s, &cfg, &none, 3);
        assert_eq!(straight[0].unit, "ACROSS", "nearest in a straight line");
        assert_eq!(straight[0].method, TravelMethod::StraightLine);
        assert!(straight[0].method_note.contains("no street network loaded"));
        let routed = rank_patrols_with(Some(&g), units.iter(), &f, s, &cfg, &none, 3);
        let ids: Vec<_> = routed.iter().map(|c| c.unit.as_str()).collect();
        assert_eq!(ids, ["ALONG", "ISLAND", "ACROSS"], "{routed:#?}");
        assert_eq!(routed[0].method, TravelMethod::Route);
        assert_eq!(routed[2].method, TravelMethod::Route);
        assert!((routed[2].travel_s - 1900.0 / 1.4).abs() < 0.5);
        assert_eq!(routed[1].method, TravelMethod::StraightLine);
        assert!(
            routed[1].method_note.contains("× 1.3")
                && routed[1].method_note.contains("no street connects"),
            "{}",
            routed[1].method_note
        );
    }

    #[test]
    fn drone_needs_battery_for_the_round_trip_and_an_authorisation() {
        let f = frame();
        let cfg = DispatchConfig::default();
        let s = spot(&f, 0.0, 0.0);
        let units = [
            drone("LOW", at(&f, 50.0, 0.0), 30.0),
            drone("FAR", at(&f, 3000.0, 0.0), 95.0),
            drone("MID", at(&f, 1200.0, 0.0), 90.0),
        ];
        let yes = |_: &str, _: GeoPoint| true;
        let best = best_drone(units.iter(), &f, s, &cfg, &yes).unwrap();
        assert_eq!(best.unit, "MID", "LOW cannot keep its reserve");
        assert!((best.eta_s - 100.0).abs() < 0.5);
        let not_mid = |id: &str, _: GeoPoint| id != "MID";
        assert_eq!(
            best_drone(units.iter(), &f, s, &cfg, &not_mid)
                .unwrap()
                .unit,
            "FAR"
        );
        let none = |_: &str, _: GeoPoint| false;
        assert!(best_drone(units.iter(), &f, s, &cfg, &none).is_none());
    }
}
