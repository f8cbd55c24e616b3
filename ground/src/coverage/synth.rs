//! Seeded synthetic cities for benchmarks and the PostGIS/shapely
//! comparison: the same seed gives the same scene on every machine.
//!
//! - [`paris`]: 100,000 fixed-camera footprints over 10 × 10 km (Paris
//!   intra-muros is about 10.5 km across) and 1,000 drone footprints;
//! - [`zone_city`]: a 10 km² square with 20,000 buildings and 5,000 cameras
//!   standing outside them.

use super::buildings::{Building, Buildings};
use super::footprint::{CameraPose, ground_footprint};
use super::index::SourceInfo;
use super::polygon::Pt;
use super::{Network, SourceKind};

/// Side of the synthetic city, metres.
pub const CITY_M: f64 = 10_000.0;

/// SplitMix64: small, seeded, reproducible.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn f(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A street camera: 3–12 m up, tilted 5–30° down, 40–100° wide, useful to
/// 15–80 m.
pub fn camera_pose(rng: &mut Rng, e: f64, n: f64) -> CameraPose {
    CameraPose {
        east_m: e,
        north_m: n,
        height_agl_m: rng.f(3.0, 12.0),
        yaw_deg: rng.f(0.0, 360.0),
        pitch_deg: rng.f(-30.0, -5.0),
        roll_deg: 0.0,
        hfov_deg: rng.f(40.0, 100.0),
        vfov_deg: 35.0,
        max_range_m: rng.f(15.0, 80.0),
    }
}

/// A drone camera: 50–120 m up, looking 50–90° down, 84° × 62°.
pub fn drone_pose(rng: &mut Rng, e: f64, n: f64) -> CameraPose {
    CameraPose {
        east_m: e,
        north_m: n,
        height_agl_m: rng.f(50.0, 120.0),
        yaw_deg: rng.f(0.0, 360.0),
        pitch_deg: rng.f(-90.0, -50.0),
        roll_deg: 0.0,
        hfov_deg: 84.0,
        vfov_deg: 62.0,
        max_range_m: 500.0,
    }
}

/// Index entry for a synthetic source.
pub fn info(id: String, kind: SourceKind, pose: &CameraPose) -> SourceInfo {
    let moving = kind != SourceKind::FixedCamera;
    SourceInfo {
        id,
        kind,
        network: if moving {
            Network::Fleet
        } else {
            Network::City
        },
        eye: [pose.east_m, pose.north_m],
        height_m: pose.height_agl_m,
        hfov_deg: pose.hfov_deg,
        horizontal_px: 1920.0,
        heading_deg: pose.yaw_deg,
        range_m: pose.max_range_m,
        ptz: false,
        speed_m_s: if moving { 12.0 } else { 0.0 },
    }
}

/// A pose's footprint as a local ring.
pub fn ring(pose: &CameraPose) -> Option<Vec<Pt>> {
    Some(
        ground_footprint(pose)?
            .into_iter()
            .map(|(e, n)| [e, n])
            .collect(),
    )
}

/// A synthetic city: fixed cameras and drones, with their footprints.
#[derive(Debug, Clone)]
pub struct City {
    /// Fixed cameras.
    pub fixed: Vec<(SourceInfo, Vec<Pt>)>,
    /// Drones.
    pub drones: Vec<(SourceInfo, Vec<Pt>)>,
    /// Query points, uniform over the city.
    pub points: Vec<Pt>,
}

/// Paris-scale: `cameras` fixed cameras, `drones` drones and `points` query
/// points over [`CITY_M`] × [`CITY_M`].
pub fn paris(seed: u64, cameras: usize, drones: usize, points: usize) -> City {
    let mut rng = Rng(seed);
    let mut fixed = Vec::with_capacity(cameras);
    while fixed.len() < cameras {
        let (e, n) = (rng.f(0.0, CITY_M), rng.f(0.0, CITY_M));
        let pose = camera_pose(&mut rng, e, n);
        if let Some(r) = ring(&pose) {
            fixed.push((
                info(
                    format!("cam-{}", fixed.len()),
                    SourceKind::FixedCamera,
                    &pose,
                ),
                r,
            ));
        }
    }
    let mut drone_list = Vec::with_capacity(drones);
    while drone_list.len() < drones {
        let (e, n) = (rng.f(0.0, CITY_M), rng.f(0.0, CITY_M));
        let pose = drone_pose(&mut rng, e, n);
        if let Some(r) = ring(&pose) {
            drone_list.push((
                info(
                    format!("drone-{}", drone_list.len()),
                    SourceKind::Drone,
                    &pose,
                ),
                r,
            ));
        }
    }
    let points = (0..points)
        .map(|_| [rng.f(0.0, CITY_M), rng.f(0.0, CITY_M)])
        .collect();
    City {
        fixed,
        drones: drone_list,
        points,
    }
}

/// The zone workload: the zone ring, the buildings, and each camera's pose
/// with its unclipped footprint.
#[derive(Debug, Clone)]
pub struct ZoneCity {
    /// The 10 km² square zone.
    pub zone: Vec<Pt>,
    /// Buildings, 8–24 m across, 8–30 m high.
    pub buildings: Vec<Building>,
    /// Cameras (outside buildings) with their footprints before clipping.
    pub cameras: Vec<(SourceInfo, CameraPose, Vec<Pt>)>,
}

/// 10 km² with `buildings` buildings and `cameras` cameras.
pub fn zone_city(seed: u64, buildings: usize, cameras: usize) -> ZoneCity {
    let mut rng = Rng(seed);
    let side = 10_000_000f64.sqrt();
    let mut list = Vec::with_capacity(buildings);
    for _ in 0..buildings {
        let (e, n) = (rng.f(0.0, side), rng.f(0.0, side));
        let (w, d) = (rng.f(4.0, 12.0), rng.f(4.0, 12.0));
        list.push(Building {
            ring: vec![
                [e - w, n - d],
                [e + w, n - d],
                [e + w, n + d],
                [e - w, n + d],
                [e - w, n - d],
            ],
            height_m: rng.f(8.0, 30.0),
        });
    }
    let index = Buildings::new(list.clone());
    let mut cams = Vec::with_capacity(cameras);
    while cams.len() < cameras {
        let (e, n) = (rng.f(0.0, side), rng.f(0.0, side));
        if index.contains([e, n]) {
            continue;
        }
        let pose = camera_pose(&mut rng, e, n);
        if let Some(r) = ring(&pose) {
            cams.push((
                info(
                    format!("cam-{}", cams.len()),
                    SourceKind::FixedCamera,
                    &pose,
                ),
                pose,
                r,
            ));
        }
    }
    ZoneCity {
        zone: vec![
            [0.0, 0.0],
            [side, 0.0],
            [side, side],
            [0.0, side],
            [0.0, 0.0],
        ],
        buildings: list,
        cameras: cams,
    }
}

/// Each camera's footprint clipped by line of sight.
pub fn clip(city: &ZoneCity, buildings: &Buildings) -> Vec<(SourceInfo, Vec<Pt>)> {
    city.cameras
        .iter()
        .filter_map(|(i, pose, r)| {
            Some((
                i.clone(),
                buildings.visible_part([pose.east_m, pose.north_m], r)?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_city() {
        let a = paris(7, 50, 5, 10);
        let b = paris(7, 50, 5, 10);
        assert_eq!(a.fixed, b.fixed);
        assert_eq!(a.points, b.points);
        assert_ne!(paris(8, 50, 5, 10).points, a.points);
        let z = zone_city(3, 100, 20);
        assert_eq!(z.cameras.len(), 20);
    }
}
