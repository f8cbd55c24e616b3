//! The local metric frame: east/north metres around the deployment's origin.
//!
//! An equirectangular projection scaled at the origin's latitude, with the
//! WGS84 ellipsoid's radii of curvature there. East-west distances are exact
//! on the origin's parallel and off by about `tan(lat) × north offset / R`
//! elsewhere: [`LocalFrame::relative_error_bound`] states the bound, checked
//! against the ellipsoid's geodesics. Around Paris that is 0.18 % at 10 km
//! from the origin and 0.47 % at 25 km ([`SITE_RADIUS_M`]); at 60° N, 0.28 %
//! and 0.7 %. A frame centred elsewhere is wrong by far more: Paris's frame
//! stretches east-west distances in Oslo by 1.32. Deployments wider than a
//! city should pick an origin per sector.

use serde::{Deserialize, Serialize};

/// How far from the origin a deployment's data is expected to lie: beyond
/// it commands warn (and event files are refused), since the frame's error
/// grows with the distance and such a point is usually a mistake.
pub const SITE_RADIUS_M: f64 = 25_000.0;

const WGS84_A_M: f64 = 6_378_137.0;
const WGS84_E2: f64 = 6.694_379_990_14e-3;

/// A local east/north frame around an origin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LocalFrame {
    /// Origin latitude, degrees.
    pub origin_lat_deg: f64,
    /// Origin longitude, degrees.
    pub origin_lon_deg: f64,
    /// Metres per degree of latitude at the origin.
    m_per_deg_lat: f64,
    /// Metres per degree of longitude at the origin.
    m_per_deg_lon: f64,
}

impl LocalFrame {
    /// A frame centred on `(lat, lon)` in degrees.
    pub fn new(origin_lat_deg: f64, origin_lon_deg: f64) -> LocalFrame {
        let phi = origin_lat_deg.to_radians();
        let s = phi.sin();
        let w = (1.0 - WGS84_E2 * s * s).sqrt();
        // Meridian and prime-vertical radii of curvature.
        let m = WGS84_A_M * (1.0 - WGS84_E2) / (w * w * w);
        let n = WGS84_A_M / w;
        LocalFrame {
            origin_lat_deg,
            origin_lon_deg,
            m_per_deg_lat: m.to_radians(),
            m_per_deg_lon: (n * phi.cos()).to_radians(),
        }
    }

    /// WGS84 degrees to local `(east_m, north_m)`.
    pub fn to_local(&self, lat_deg: f64, lon_deg: f64) -> (f64, f64) {
        (
            (lon_deg - self.origin_lon_deg) * self.m_per_deg_lon,
            (lat_deg - self.origin_lat_deg) * self.m_per_deg_lat,
        )
    }

    /// Largest relative error of a local distance between two points within
    /// `radius_m` of the origin, against the ellipsoid's geodesic (a
    /// fraction: 0.0047 is 0.47 %). The east-west scale is `cos(lat0) /
    /// cos(lat)` off at latitude `lat`; the north-south scale and the
    /// curvature of the parallels add second-order terms.
    pub fn relative_error_bound(&self, radius_m: f64) -> f64 {
        let d = radius_m / 6_356_752.0; // the smallest radius: the largest angle
        let phi = self.origin_lat_deg.abs().to_radians();
        let far = (phi + d).min(89.0_f64.to_radians());
        let near = (phi - d).max(0.0);
        let east_west = (phi.cos() / far.cos() - 1.0).max(1.0 - phi.cos() / near.cos());
        // Meridian radius over the span (e² terms) and the curvature of
        // geodesics against straight local lines.
        let second = 3.0 * WGS84_E2 * d + 2.0 * d * d * (1.0 + far.tan().powi(2));
        east_west + second
    }

    /// Local `(east_m, north_m)` to WGS84 `(lat_deg, lon_deg)`.
    pub fn to_wgs84(&self, east_m: f64, north_m: f64) -> (f64, f64) {
        (
            self.origin_lat_deg + north_m / self.m_per_deg_lat,
            self.origin_lon_deg + east_m / self.m_per_deg_lon,
        )
    }

    /// A local `[east, north]` point as GeoJSON's `[lon, lat]`.
    pub fn lon_lat(&self, p: [f64; 2]) -> [f64; 2] {
        let (lat, lon) = self.to_wgs84(p[0], p[1]);
        [lon, lat]
    }

    /// A GeoJSON `[lon, lat]` point as local `[east, north]` (the inverse
    /// of [`LocalFrame::lon_lat`]).
    pub fn local(&self, lon_lat: [f64; 2]) -> [f64; 2] {
        let (east, north) = self.to_local(lon_lat[1], lon_lat[0]);
        [east, north]
    }

    /// A local ring as GeoJSON `[lon, lat]` points: the picture's `coverage`.
    pub fn ring_to_wgs84(&self, ring: &[[f64; 2]]) -> Vec<[f64; 2]> {
        ring.iter().map(|&p| self.lon_lat(p)).collect()
    }
}

/// Great-circle distance between two WGS84 points, metres (haversine on the
/// mean Earth radius; 0.5 % worst-case error, used only as an oracle and for
/// long distances).
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const R: f64 = 6_371_008.8;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact_enough() {
        let f = LocalFrame::new(48.924459, 2.360164);
        for &(e, n) in &[(0.0, 0.0), (1000.0, -2500.0), (-9000.0, 7000.0)] {
            let (lat, lon) = f.to_wgs84(e, n);
            let (e2, n2) = f.to_local(lat, lon);
            assert!((e - e2).abs() < 1e-6 && (n - n2).abs() < 1e-6);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 400,
            rng_seed: proptest::test_runner::RngSeed::Fixed(6_356),
            ..proptest::test_runner::Config::default()
        })]

        /// Any two points within the site radius, at any latitude up to
        /// 70°: the local distance is within the stated bound of the WGS84
        /// geodesic (Karney's algorithm in `geo`, exact to nanometres).
        #[test]
        fn local_distances_are_within_the_stated_bound_of_the_geodesic(
            lat0 in -70.0f64..70.0,
            lon0 in -180.0f64..180.0,
            a in (0.0f64..1.0, 0.0f64..std::f64::consts::TAU),
            b in (0.0f64..1.0, 0.0f64..std::f64::consts::TAU),
        ) {
            use geo::{Distance as _, Geodesic, Point};
            let f = LocalFrame::new(lat0, lon0);
            let r = SITE_RADIUS_M;
            let at = |(t, th): (f64, f64)| (r * t.sqrt() * th.cos(), r * t.sqrt() * th.sin());
            let (pa, pb) = (at(a), at(b));
            let local = f64::hypot(pa.0 - pb.0, pa.1 - pb.1);
            proptest::prop_assume!(local > 100.0);
            let (la, lo_a) = f.to_wgs84(pa.0, pa.1);
            let (lb, lo_b) = f.to_wgs84(pb.0, pb.1);
            let exact = Geodesic.distance(Point::new(lo_a, la), Point::new(lo_b, lb));
            let err = (local - exact).abs() / exact;
            let bound = f.relative_error_bound(r);
            proptest::prop_assert!(err <= bound, "{err} > {bound} at {lat0}");
        }
    }

    #[test]
    fn the_bound_is_what_the_module_says() {
        let paris = LocalFrame::new(48.8566, 2.3522);
        let oslo = LocalFrame::new(59.9139, 10.7522);
        let pct = |f: &LocalFrame, r: f64| (f.relative_error_bound(r) * 1e4).round() / 1e2;
        assert_eq!(
            (pct(&paris, 10_000.0), pct(&paris, SITE_RADIUS_M)),
            (0.18, 0.47)
        );
        assert_eq!(
            (pct(&oslo, 10_000.0), pct(&oslo, SITE_RADIUS_M)),
            (0.28, 0.7)
        );
    }

    #[test]
    fn distances_agree_with_great_circle_within_stated_bound() {
        let f = LocalFrame::new(48.8566, 2.3522);
        for &(e, n) in &[(10_000.0, 0.0), (0.0, 10_000.0), (7071.0, 7071.0)] {
            let (lat, lon) = f.to_wgs84(e, n);
            let local = f64::hypot(e, n);
            let gc = haversine_m(48.8566, 2.3522, lat, lon);
            // Haversine itself is a sphere: allow its 0.5 % on top of ours.
            assert!((local - gc).abs() / gc < 0.006, "{local} vs {gc}");
        }
    }
}
