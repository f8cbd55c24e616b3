//! Camera ground footprints: where on the ground a camera's image lands.
//!
//! The view pyramid's four side planes meet flat ground (at the camera's
//! height above it) in four straight lines; the footprint is the range disc
//! (`max_range_m`, measured horizontally) clipped by the four half-planes,
//! so a camera looking at the horizon gets a bounded footprint, never an
//! infinite one. The straight sides are exact; the far arc is a polygon
//! inscribed in the range circle whose chords' sagitta is at most
//! [`ARC_SAGITTA_M`], so the ring lies inside the true footprint and every
//! point more than that inside it is in the ring. The ring is convex, hence
//! never self-intersecting. Terrain is taken as flat at the ground height
//! the caller gives; buildings clip coverage elsewhere (line of sight).

/// Largest distance between the footprint's far border and the true range
/// circle, metres.
pub const ARC_SAGITTA_M: f64 = 0.1;

/// A camera's pose and optics, in the local frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraPose {
    /// Camera position east of the origin, metres.
    pub east_m: f64,
    /// Camera position north of the origin, metres.
    pub north_m: f64,
    /// Camera height above the ground, metres.
    pub height_agl_m: f64,
    /// Optical axis heading, degrees clockwise from north.
    pub yaw_deg: f64,
    /// Optical axis elevation, degrees: 0 = horizon, -90 = straight down.
    pub pitch_deg: f64,
    /// Rotation of the image about the optical axis, degrees.
    pub roll_deg: f64,
    /// Horizontal field of view, degrees.
    pub hfov_deg: f64,
    /// Vertical field of view, degrees.
    pub vfov_deg: f64,
    /// Useful range, metres: bounds a footprint that reaches the horizon.
    pub max_range_m: f64,
}

/// The four side planes of a view pyramid whose half-angles have tangents
/// `th` (horizontal) and `tv` (vertical), as outward normals in the camera
/// frame (forward, right, down): a ray is in view when it is on the inner
/// side of all four.
fn side_planes(th: f64, tv: f64) -> [(f64, f64, f64); 4] {
    [
        (-th, 1.0, 0.0),
        (-th, -1.0, 0.0),
        (-tv, 0.0, 1.0),
        (-tv, 0.0, -1.0),
    ]
}

/// Ground footprint as a closed local ring (east_m, north_m), or `None` when
/// the camera sees no ground (below ground, or looking entirely above the
/// horizon, or degenerate optics).
pub fn ground_footprint(pose: &CameraPose) -> Option<Vec<(f64, f64)>> {
    let valid = pose.height_agl_m > 0.0
        && pose.max_range_m > 0.0
        && pose.hfov_deg > 0.0
        && pose.hfov_deg < 180.0
        && pose.vfov_deg > 0.0
        && pose.vfov_deg < 180.0
        && [
            pose.east_m,
            pose.north_m,
            pose.yaw_deg,
            pose.pitch_deg,
            pose.roll_deg,
        ]
        .iter()
        .all(|v| v.is_finite());
    if !valid {
        return None;
    }
    let rot = Rotation::new(pose.yaw_deg, pose.pitch_deg, pose.roll_deg);
    footprint_with_rotation(pose, &rot)
}

/// Ground footprint for a camera whose attitude is given as a rotation (the
/// pose's own angles are ignored): used with quaternions, which stay exact
/// looking straight down where Euler angles lose the yaw.
pub fn footprint_with_rotation(pose: &CameraPose, rot: &Rotation) -> Option<Vec<(f64, f64)>> {
    let valid = pose.height_agl_m > 0.0
        && pose.max_range_m > 0.0
        && pose.hfov_deg > 0.0
        && pose.hfov_deg < 180.0
        && pose.vfov_deg > 0.0
        && pose.vfov_deg < 180.0
        && pose.east_m.is_finite()
        && pose.north_m.is_finite()
        && pose.height_agl_m.is_finite()
        && pose.max_range_m.is_finite();
    if !valid {
        return None;
    }
    let th = (pose.hfov_deg.to_radians() / 2.0).tan();
    let tv = (pose.vfov_deg.to_radians() / 2.0).tan();
    // The range disc as an inscribed polygon, counter-clockwise, relative
    // to the camera: each edge's sagitta is at most ARC_SAGITTA_M.
    let r = pose.max_range_m;
    let n = arc_edges(r, std::f64::consts::TAU);
    let mut ring: Vec<(f64, f64)> = (0..n)
        .map(|k| {
            let a = std::f64::consts::TAU * k as f64 / n as f64;
            (r * a.cos(), r * a.sin())
        })
        .collect();
    // On the ground, `h` below the camera, each side plane of the view
    // pyramid is a straight line: clip the disc by each half-plane.
    for (f, rt, d) in side_planes(th, tv) {
        let (nn, ne, nd) = rot.apply(f, rt, d);
        ring = clip_half_plane(&ring, ne, nn, nd * pose.height_agl_m);
        if ring.len() < 3 {
            return None;
        }
    }
    ring.dedup_by(|a, b| f64::hypot(a.0 - b.0, a.1 - b.1) < 1e-9);
    while ring.len() > 1
        && ring
            .first()
            .zip(ring.last())
            .is_some_and(|(a, b)| f64::hypot(a.0 - b.0, a.1 - b.1) < 1e-9)
    {
        ring.pop();
    }
    let area: f64 = (0..ring.len())
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % ring.len()]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum::<f64>()
        / 2.0;
    if ring.len() < 3 || area < 1e-6 {
        return None;
    }
    let mut ring: Vec<(f64, f64)> = ring
        .into_iter()
        .map(|(e, n)| (pose.east_m + e, pose.north_m + n))
        .collect();
    let first = ring[0];
    ring.push(first);
    Some(ring)
}

/// Number of chords for an arc of `radius_m` spanning `angle_rad` such that
/// each chord's sagitta, `radius · (1 − cos(Δθ / 2))`, is at most
/// [`ARC_SAGITTA_M`] (at least 8 for a full circle, at most 65,536).
pub fn arc_edges(radius_m: f64, angle_rad: f64) -> usize {
    let cos = 1.0 - ARC_SAGITTA_M / radius_m.max(ARC_SAGITTA_M);
    let max_step = 2.0 * cos.clamp(-1.0, 1.0).acos();
    let n = if max_step > 0.0 {
        (angle_rad / max_step).ceil()
    } else {
        f64::INFINITY
    };
    let least = (8.0 * angle_rad / std::f64::consts::TAU).ceil().max(1.0);
    n.max(least).min(65_536.0) as usize
}

/// The part of a convex ring (open, relative coordinates) where
/// `a·east + b·north + c ≤ 0` (Sutherland–Hodgman, one edge): convex in,
/// convex out.
fn clip_half_plane(ring: &[(f64, f64)], a: f64, b: f64, c: f64) -> Vec<(f64, f64)> {
    let side = |p: (f64, f64)| a * p.0 + b * p.1 + c;
    let mut out = Vec::with_capacity(ring.len() + 2);
    for i in 0..ring.len() {
        let (p, q) = (ring[i], ring[(i + 1) % ring.len()]);
        let (sp, sq) = (side(p), side(q));
        if sp <= 0.0 {
            out.push(p);
        }
        if (sp <= 0.0) != (sq <= 0.0) {
            let t = sp / (sp - sq);
            out.push((p.0 + (q.0 - p.0) * t, p.1 + (q.1 - p.1) * t));
        }
    }
    out
}

/// The fields of MAVLink `CAMERA_FOV_STATUS` (message 271) a footprint
/// needs, in SI units (the message carries degE7 and millimetres).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FovStatus {
    /// Camera latitude, degrees.
    pub lat_camera_deg: f64,
    /// Camera longitude, degrees.
    pub lon_camera_deg: f64,
    /// Camera altitude above mean sea level, metres.
    pub alt_camera_msl_m: f64,
    /// Latitude of the image centre on the ground, degrees; NaN when the
    /// centre does not hit the ground (MAVLink sends `INT32_MAX`).
    pub lat_image_deg: f64,
    /// Longitude of the image centre on the ground, degrees; NaN as above.
    pub lon_image_deg: f64,
    /// Altitude of the image centre above mean sea level, metres; NaN as
    /// above.
    pub alt_image_msl_m: f64,
    /// Camera attitude quaternion `[w, x, y, z]`, camera (forward, right,
    /// down) to local north-east-down.
    pub q: [f64; 4],
    /// Horizontal field of view, degrees.
    pub hfov_deg: f64,
    /// Vertical field of view, degrees.
    pub vfov_deg: f64,
}

impl FovStatus {
    /// From the raw message fields: positions in degE7, altitudes in
    /// millimetres; `i32::MAX` marks an image centre that is not on the
    /// ground.
    #[allow(clippy::too_many_arguments)]
    pub fn from_raw(
        lat_camera: i32,
        lon_camera: i32,
        alt_camera_mm: i32,
        lat_image: i32,
        lon_image: i32,
        alt_image_mm: i32,
        q: [f32; 4],
        hfov_deg: f32,
        vfov_deg: f32,
    ) -> FovStatus {
        let unknown = lat_image == i32::MAX || lon_image == i32::MAX || alt_image_mm == i32::MAX;
        let or_nan = |v: f64| if unknown { f64::NAN } else { v };
        FovStatus {
            lat_camera_deg: f64::from(lat_camera) * 1e-7,
            lon_camera_deg: f64::from(lon_camera) * 1e-7,
            alt_camera_msl_m: f64::from(alt_camera_mm) * 1e-3,
            lat_image_deg: or_nan(f64::from(lat_image) * 1e-7),
            lon_image_deg: or_nan(f64::from(lon_image) * 1e-7),
            alt_image_msl_m: or_nan(f64::from(alt_image_mm) * 1e-3),
            q: q.map(f64::from),
            hfov_deg: f64::from(hfov_deg),
            vfov_deg: f64::from(vfov_deg),
        }
    }
}

/// Ground footprint from a `CAMERA_FOV_STATUS`, as a closed local ring.
///
/// The ground is taken at the image centre's altitude when the vehicle
/// reports one (its terrain model knows better than ours), otherwise at
/// `ground_alt_msl_m`. `max_range_m` bounds a footprint that reaches the
/// horizon. `None` when the camera sees no ground.
pub fn footprint_from_fov_status(
    frame: &crate::frame::LocalFrame,
    status: &FovStatus,
    ground_alt_msl_m: f64,
    max_range_m: f64,
) -> Option<Vec<(f64, f64)>> {
    let rot = Rotation::from_quaternion(status.q)?;
    let ground = if status.alt_image_msl_m.is_finite() {
        status.alt_image_msl_m
    } else {
        ground_alt_msl_m
    };
    let (east_m, north_m) = frame.to_local(status.lat_camera_deg, status.lon_camera_deg);
    let pose = CameraPose {
        east_m,
        north_m,
        height_agl_m: status.alt_camera_msl_m - ground,
        yaw_deg: 0.0,
        pitch_deg: 0.0,
        roll_deg: 0.0,
        hfov_deg: status.hfov_deg,
        vfov_deg: status.vfov_deg,
        max_range_m,
    };
    footprint_with_rotation(&pose, &rot)
}

/// The pose of a gimballed drone camera from what a vehicle reports when it
/// sends no `CAMERA_FOV_STATUS`: position and height above the ground,
/// vehicle yaw, gimbal pitch and yaw relative to the vehicle (a stabilised
/// gimbal cancels the vehicle's roll and pitch), and the camera's fields of
/// view. Angles in degrees, heights and ranges in metres.
#[allow(clippy::too_many_arguments)]
pub fn gimbal_pose(
    east_m: f64,
    north_m: f64,
    height_agl_m: f64,
    vehicle_yaw_deg: f64,
    gimbal_pitch_deg: f64,
    gimbal_yaw_deg: f64,
    fov_deg: (f64, f64),
    max_range_m: f64,
) -> CameraPose {
    CameraPose {
        east_m,
        north_m,
        height_agl_m,
        yaw_deg: vehicle_yaw_deg + gimbal_yaw_deg,
        pitch_deg: gimbal_pitch_deg,
        roll_deg: 0.0,
        hfov_deg: fov_deg.0,
        vfov_deg: fov_deg.1,
        max_range_m,
    }
}

/// A handheld camera's view sector (a tablet streaming video, held about
/// level): apex at the holder, `hfov_deg` wide around `heading_deg`, out to
/// `range_m`. A closed local ring.
pub fn view_sector(
    east_m: f64,
    north_m: f64,
    heading_deg: f64,
    hfov_deg: f64,
    range_m: f64,
) -> Vec<(f64, f64)> {
    let hfov = hfov_deg.clamp(1.0, 359.0);
    let arcs = ((hfov / 5.0).ceil() as usize).max(2);
    let mut ring = Vec::with_capacity(arcs + 3);
    ring.push((east_m, north_m));
    for k in 0..=arcs {
        let bearing = (heading_deg - hfov / 2.0 + hfov * k as f64 / arcs as f64).to_radians();
        ring.push((
            east_m + range_m * bearing.sin(),
            north_m + range_m * bearing.cos(),
        ));
    }
    ring.push((east_m, north_m));
    ring
}

/// A camera attitude as a rotation from camera (forward, right, down) axes to
/// local (north, east, down) axes: yaw, then pitch, then roll (aerospace
/// Z-Y-X order).
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// Row-major 3×3 matrix.
    m: [[f64; 3]; 3],
}

impl Rotation {
    /// From Euler angles in degrees.
    pub fn new(yaw_deg: f64, pitch_deg: f64, roll_deg: f64) -> Rotation {
        let (sy, cy) = yaw_deg.to_radians().sin_cos();
        let (sp, cp) = pitch_deg.to_radians().sin_cos();
        let (sr, cr) = roll_deg.to_radians().sin_cos();
        Rotation {
            m: [
                [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                [-sp, cp * sr, cp * cr],
            ],
        }
    }

    /// From a unit quaternion `[w, x, y, z]` (MAVLink order, body to NED).
    pub fn from_quaternion(q: [f64; 4]) -> Option<Rotation> {
        let [w, x, y, z] = q;
        let norm = (w * w + x * x + y * y + z * z).sqrt();
        if !norm.is_finite() || norm < 1e-6 {
            return None;
        }
        let (w, x, y, z) = (w / norm, x / norm, y / norm, z / norm);
        Some(Rotation {
            m: [
                [
                    1.0 - 2.0 * (y * y + z * z),
                    2.0 * (x * y - w * z),
                    2.0 * (x * z + w * y),
                ],
                [
                    2.0 * (x * y + w * z),
                    1.0 - 2.0 * (x * x + z * z),
                    2.0 * (y * z - w * x),
                ],
                [
                    2.0 * (x * z - w * y),
                    2.0 * (y * z + w * x),
                    1.0 - 2.0 * (x * x + y * y),
                ],
            ],
        })
    }

    /// Yaw, pitch, roll in degrees.
    pub fn euler_deg(&self) -> (f64, f64, f64) {
        let m = &self.m;
        let pitch = (-m[2][0]).clamp(-1.0, 1.0).asin();
        let yaw = m[1][0].atan2(m[0][0]);
        let roll = m[2][1].atan2(m[2][2]);
        (yaw.to_degrees(), pitch.to_degrees(), roll.to_degrees())
    }

    /// Rotates a camera-frame vector to (north, east, down).
    pub fn apply(&self, f: f64, r: f64, d: f64) -> (f64, f64, f64) {
        let m = &self.m;
        (
            m[0][0] * f + m[0][1] * r + m[0][2] * d,
            m[1][0] * f + m[1][1] * r + m[1][2] * d,
            m[2][0] * f + m[2][1] * r + m[2][2] * d,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pose(pitch: f64) -> CameraPose {
        CameraPose {
            east_m: 100.0,
            north_m: 50.0,
            height_agl_m: 100.0,
            yaw_deg: 0.0,
            pitch_deg: pitch,
            roll_deg: 0.0,
            hfov_deg: 90.0,
            vfov_deg: 90.0,
            max_range_m: 1000.0,
        }
    }

    fn bbox(ring: &[(f64, f64)]) -> (f64, f64, f64, f64) {
        ring.iter()
            .fold((f64::MAX, f64::MAX, f64::MIN, f64::MIN), |b, &(x, y)| {
                (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y))
            })
    }

    #[test]
    fn nadir_camera_sees_a_square_of_twice_its_height() {
        let ring = ground_footprint(&pose(-90.0)).unwrap();
        let (x0, y0, x1, y1) = bbox(&ring);
        // 90° FOV at 100 m: ±100 m around the camera.
        assert!(
            (x0 - 0.0).abs() < 1e-6 && (x1 - 200.0).abs() < 1e-6,
            "{x0} {x1}"
        );
        assert!(
            (y0 + 50.0).abs() < 1e-6 && (y1 - 150.0).abs() < 1e-6,
            "{y0} {y1}"
        );
        assert_eq!(ring.first(), ring.last());
    }

    #[test]
    fn horizon_footprint_is_bounded_by_range_and_points_the_right_way() {
        let ring = ground_footprint(&pose(-20.0)).unwrap();
        let (_, y0, _, y1) = bbox(&ring);
        assert!(y1 <= 50.0 + 1000.0 + 1e-6, "bounded by max range");
        assert!(
            y0 > 50.0 - 1e-6,
            "looking north: nothing south of the camera"
        );
        for &(x, y) in &ring {
            assert!(f64::hypot(x - 100.0, y - 50.0) <= 1000.0 + 1e-6);
        }
    }

    #[test]
    fn looking_up_or_underground_sees_no_ground() {
        assert!(ground_footprint(&pose(60.0)).is_none());
        let mut p = pose(-90.0);
        p.height_agl_m = -1.0;
        assert!(ground_footprint(&p).is_none());
    }

    #[test]
    fn yaw_rotates_the_footprint_clockwise() {
        let mut p = pose(-45.0);
        p.yaw_deg = 90.0;
        let ring = ground_footprint(&p).unwrap();
        let cx = ring.iter().map(|q| q.0).sum::<f64>() / ring.len() as f64;
        assert!(
            cx > 100.0 + 50.0,
            "looking east: footprint east of the camera, got {cx}"
        );
    }

    #[test]
    fn quaternion_and_euler_agree() {
        let r = Rotation::new(30.0, -40.0, 5.0);
        let (y, p, ro) = r.euler_deg();
        assert!((y - 30.0).abs() < 1e-9 && (p + 40.0).abs() < 1e-9 && (ro - 5.0).abs() < 1e-9);
        // Quaternion for yaw 90°: rotating forward (north) to east.
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let q = Rotation::from_quaternion([h, 0.0, 0.0, h]).unwrap();
        let (n, e, d) = q.apply(1.0, 0.0, 0.0);
        assert!(n.abs() < 1e-9 && (e - 1.0).abs() < 1e-9 && d.abs() < 1e-9);
    }

    #[test]
    fn fov_status_straight_down_keeps_the_yaw() {
        let frame = crate::frame::LocalFrame::new(48.9, 2.36);
        // Looking straight down, image "up" pointing east: pitch -90 after a
        // yaw of 90 degrees. Quaternion of yaw 90 then pitch -90.
        let r = Rotation::new(90.0, -90.0, 0.0);
        let q = quaternion_of(&r);
        let s = FovStatus {
            lat_camera_deg: 48.9,
            lon_camera_deg: 2.36,
            alt_camera_msl_m: 150.0,
            lat_image_deg: f64::NAN,
            lon_image_deg: f64::NAN,
            alt_image_msl_m: f64::NAN,
            q,
            hfov_deg: 90.0,
            vfov_deg: 30.0,
        };
        let ring = footprint_from_fov_status(&frame, &s, 50.0, 1000.0).unwrap();
        let (x0, y0, x1, y1) = bbox(&ring);
        // 100 m above ground; the wide axis (hfov 90) lies north-south.
        assert!((y1 - y0 - 200.0).abs() < 1e-3, "{y0} {y1}");
        assert!(
            (x1 - x0 - 2.0 * 100.0 * 15f64.to_radians().tan()).abs() < 1e-3,
            "{x0} {x1}"
        );
        // With the image centre on the ground at 90 m MSL, height is 60 m.
        let s2 = FovStatus {
            alt_image_msl_m: 90.0,
            lat_image_deg: 48.9,
            lon_image_deg: 2.36,
            ..s
        };
        let ring2 = footprint_from_fov_status(&frame, &s2, 50.0, 1000.0).unwrap();
        let (_, y0, _, y1) = bbox(&ring2);
        assert!((y1 - y0 - 120.0).abs() < 1e-3);
        let raw = FovStatus::from_raw(
            489_000_000,
            23_600_000,
            150_000,
            i32::MAX,
            i32::MAX,
            i32::MAX,
            [1.0, 0.0, 0.0, 0.0],
            90.0,
            30.0,
        );
        assert!(raw.alt_image_msl_m.is_nan() && (raw.alt_camera_msl_m - 150.0).abs() < 1e-9);
    }

    /// Quaternion `[w, x, y, z]` of a rotation matrix (test helper).
    fn quaternion_of(r: &Rotation) -> [f64; 4] {
        let m = &r.m;
        let w = (1.0 + m[0][0] + m[1][1] + m[2][2]).max(0.0).sqrt() / 2.0;
        let x = (1.0 + m[0][0] - m[1][1] - m[2][2]).max(0.0).sqrt() / 2.0
            * (m[2][1] - m[1][2]).signum();
        let y = (1.0 - m[0][0] + m[1][1] - m[2][2]).max(0.0).sqrt() / 2.0
            * (m[0][2] - m[2][0]).signum();
        let z = (1.0 - m[0][0] - m[1][1] + m[2][2]).max(0.0).sqrt() / 2.0
            * (m[1][0] - m[0][1]).signum();
        [w, x, y, z]
    }

    #[test]
    fn gimbal_and_sector_helpers() {
        let p = gimbal_pose(0.0, 0.0, 50.0, 80.0, -45.0, 10.0, (60.0, 40.0), 500.0);
        assert_eq!(p.yaw_deg, 90.0);
        let ring = ground_footprint(&p).unwrap();
        let cx = ring.iter().map(|q| q.0).sum::<f64>() / ring.len() as f64;
        assert!(cx > 20.0);
        let s = view_sector(0.0, 0.0, 0.0, 60.0, 30.0);
        assert_eq!(s.first(), s.last());
        for &(e, n) in &s {
            assert!(f64::hypot(e, n) <= 30.0 + 1e-9 && n >= -1e-9);
        }
    }

    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

    /// Exact oracle: how far `p` lies inside the true footprint (the view
    /// pyramid met with flat ground, within the horizontal range), metres;
    /// negative outside. Inside, the region is an intersection of convex
    /// sets (four half-planes and a disc), so the distance to its border is
    /// the least distance to theirs; outside, a violation by more than `b`
    /// puts the point more than `b` from the region.
    fn exact_margin_m(pose: &CameraPose, rot: &Rotation, p: (f64, f64)) -> f64 {
        let th = (pose.hfov_deg.to_radians() / 2.0).tan();
        let tv = (pose.vfov_deg.to_radians() / 2.0).tan();
        let (de, dn) = (p.0 - pose.east_m, p.1 - pose.north_m);
        let mut margin = pose.max_range_m - f64::hypot(de, dn);
        for (f, r, d) in side_planes(th, tv) {
            let (nn, ne, nd) = rot.apply(f, r, d);
            let len = f64::hypot(nn, ne);
            let value = nn * dn + ne * de + nd * pose.height_agl_m;
            let s = if len > 1e-12 {
                -value / len
            } else if value <= 0.0 {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            };
            margin = margin.min(s);
        }
        margin
    }

    fn self_intersects(ring: &[(f64, f64)]) -> bool {
        let pts: Vec<[f64; 2]> = ring.iter().map(|&(e, n)| [e, n]).collect();
        let n = pts.len() - 1;
        (0..n).any(|i| {
            (i + 2..n).any(|j| {
                (i != 0 || j != n - 1)
                    && crate::coverage::polygon::segments_intersect(
                        pts[i],
                        pts[i + 1],
                        pts[j],
                        pts[j + 1],
                    )
            })
        })
    }

    /// A reported case: 5 m up, level, 120° wide, 150 m useful range. A
    /// point 147 m out, 11.7° off axis, is 3 m inside the range circle and
    /// must be seen, as it is at 146 m (border samples 23.4° apart used to
    /// put a chord at 146.8 m there).
    #[test]
    fn a_point_3_m_inside_the_far_arc_is_seen() {
        let vfov = 2.0 * (60f64.to_radians().tan() * 9.0 / 16.0).atan().to_degrees();
        let pose = CameraPose {
            east_m: 0.0,
            north_m: 0.0,
            height_agl_m: 5.0,
            yaw_deg: 0.0,
            pitch_deg: 0.0,
            roll_deg: 0.0,
            hfov_deg: 120.0,
            vfov_deg: vfov,
            max_range_m: f64::sqrt(150.0 * 150.0 - 25.0),
        };
        let ring: Vec<[f64; 2]> = ground_footprint(&pose)
            .unwrap()
            .into_iter()
            .map(|(e, n)| [e, n])
            .collect();
        let rot = Rotation::new(0.0, 0.0, 0.0);
        for d in [146.0, 147.0] {
            let a = 11.7f64.to_radians();
            let p = [d * a.sin(), d * a.cos()];
            assert!(exact_margin_m(&pose, &rot, (p[0], p[1])) > 2.0);
            assert!(
                crate::coverage::polygon::point_in_ring(&ring, p),
                "{d} m at 11.7° not seen"
            );
        }
    }

    proptest! {
        #![proptest_config(Config { cases: 300, rng_seed: RngSeed::Fixed(271), ..Config::default() })]

        /// Every footprint vertex is on the ground within range, and the
        /// ground under the image centre (when it hits the ground within
        /// range) is inside the footprint.
        #[test]
        fn footprints_are_bounded_and_contain_the_image_centre(
            h in 5.0..300.0f64, yaw in -180.0..180.0f64, pitch in -90.0..-5.0f64,
            roll in -10.0..10.0f64, hfov in 10.0..120.0f64, vfov in 10.0..90.0f64,
            range in 50.0..2000.0f64,
        ) {
            let pose = CameraPose { east_m: 10.0, north_m: -20.0, height_agl_m: h, yaw_deg: yaw,
                pitch_deg: pitch, roll_deg: roll, hfov_deg: hfov, vfov_deg: vfov, max_range_m: range };
            let (n, e, d) = Rotation::new(yaw, pitch, roll).apply(1.0, 0.0, 0.0);
            let k = h / d;
            let centre = (10.0 + e * k, -20.0 + n * k);
            let centre_in_range = f64::hypot(e * k, n * k) < range * 0.9;
            // No footprint only when the whole view lands beyond the range
            // (high up, looking far): then the centre does too.
            let Some(ring) = ground_footprint(&pose) else {
                prop_assert!(!centre_in_range);
                return Ok(());
            };
            for &(e, n) in &ring {
                prop_assert!(f64::hypot(e - 10.0, n + 20.0) <= range + 1e-6);
            }
            if centre_in_range {
                let pts: Vec<[f64; 2]> = ring.iter().map(|&(e, n)| [e, n]).collect();
                prop_assert!(crate::coverage::polygon::point_in_ring(&pts, [centre.0, centre.1]));
            }
        }

        /// Against the exact oracle: every ground point more than
        /// [`ARC_SAGITTA_M`] inside the true footprint is in the ring, every
        /// point more than that outside is not, and the ring is simple.
        #[test]
        fn footprints_match_the_exact_view_within_the_stated_bound(
            h in 2.0..300.0f64, yaw in -180.0..180.0f64, pitch in -90.0..10.0f64,
            roll in -15.0..15.0f64, hfov in 10.0..150.0f64, vfov in 10.0..120.0f64,
            range in 10.0..2000.0f64, seed in 0u64..u64::MAX,
        ) {
            let pose = CameraPose { east_m: 10.0, north_m: -20.0, height_agl_m: h, yaw_deg: yaw,
                pitch_deg: pitch, roll_deg: roll, hfov_deg: hfov, vfov_deg: vfov, max_range_m: range };
            let rot = Rotation::new(yaw, pitch, roll);
            let mut rng = crate::coverage::synth::Rng(seed);
            let Some(ring) = ground_footprint(&pose) else {
                // No ground seen: nothing may be more than the bound inside.
                for _ in 0..400 {
                    let p = (10.0 + rng.f(-range, range), -20.0 + rng.f(-range, range));
                    prop_assert!(exact_margin_m(&pose, &rot, p) <= ARC_SAGITTA_M);
                }
                return Ok(());
            };
            prop_assert!(!self_intersects(&ring), "ring crosses itself: {ring:?}");
            let pts: Vec<[f64; 2]> = ring.iter().map(|&(e, n)| [e, n]).collect();
            for k in 0..1500 {
                // Half the points near the far arc, where chords cut.
                let p = if k % 2 == 0 {
                    (10.0 + rng.f(-range, range) * 1.05, -20.0 + rng.f(-range, range) * 1.05)
                } else {
                    let a = rng.f(0.0, std::f64::consts::TAU);
                    let r = range + rng.f(-4.0, 1.0);
                    (10.0 + r * a.sin(), -20.0 + r * a.cos())
                };
                let m = exact_margin_m(&pose, &rot, p);
                let inside = crate::coverage::polygon::point_in_ring(&pts, [p.0, p.1]);
                if m > ARC_SAGITTA_M {
                    prop_assert!(inside, "{p:?} is {m} m inside the view but not in the ring");
                } else if m < -ARC_SAGITTA_M {
                    prop_assert!(!inside, "{p:?} is {} m outside the view but in the ring", -m);
                }
            }
        }
    }
}
