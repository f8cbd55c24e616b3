//! Camera ground footprints: where on the ground a camera's image lands.
//!
//! The image border is sampled and each border ray is intersected with flat
//! ground at the camera's height above it. Rays that reach the horizon (or
//! hit the ground beyond `max_range_m`) are cut at `max_range_m` measured
//! horizontally, so a camera looking at the horizon gets a bounded footprint,
//! never an infinite one. Terrain is taken as flat at the ground height the
//! caller gives; buildings clip coverage elsewhere (line of sight).

/// Samples per image edge: enough that a horizon-clipped border is smooth.
const SAMPLES_PER_EDGE: usize = 8;

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
    let mut ring = Vec::with_capacity(4 * SAMPLES_PER_EDGE + 1);
    let mut any_ground = false;
    // Border of the image plane, clockwise from the top-left corner, in
    // normalised coordinates (right, down) in [-1, 1].
    let corners = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)];
    for edge in 0..4 {
        let (x0, y0) = corners[edge];
        let (x1, y1) = corners[(edge + 1) % 4];
        for s in 0..SAMPLES_PER_EDGE {
            let t = s as f64 / SAMPLES_PER_EDGE as f64;
            let (u, v) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            // Camera frame: forward, right, down.
            let (n, e, d) = rot.apply(1.0, u * th, v * tv);
            let horiz = f64::hypot(n, e);
            let (de, dn) = if d > 1e-9 {
                let k = pose.height_agl_m / d;
                let (ge, gn) = (e * k, n * k);
                if f64::hypot(ge, gn) <= pose.max_range_m {
                    any_ground = true;
                    (ge, gn)
                } else {
                    any_ground = true;
                    (e / horiz * pose.max_range_m, n / horiz * pose.max_range_m)
                }
            } else if horiz > 1e-12 {
                (e / horiz * pose.max_range_m, n / horiz * pose.max_range_m)
            } else {
                continue;
            };
            ring.push((pose.east_m + de, pose.north_m + dn));
        }
    }
    if !any_ground || ring.len() < 3 {
        return None;
    }
    // An image edge projects to a straight line on flat ground: drop the
    // samples in the middle of straight stretches (fewer vertices, same
    // polygon), keeping the curved, range-clipped parts.
    let mut ring = drop_collinear(ring, 1e-3);
    if ring.len() < 3 {
        return None;
    }
    let first = ring[0];
    ring.push(first);
    Some(ring)
}

/// Drops points within `tol_m` of the segment joining their neighbours,
/// in an open ring.
fn drop_collinear(points: Vec<(f64, f64)>, tol_m: f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(points.len());
    let near = |a: (f64, f64), b: (f64, f64), c: (f64, f64)| {
        let (dx, dy) = (c.0 - a.0, c.1 - a.1);
        let len = f64::hypot(dx, dy);
        let inside = (b.0 - a.0) * dx + (b.1 - a.1) * dy >= 0.0
            && (b.0 - c.0) * -dx + (b.1 - c.1) * -dy >= 0.0;
        len > 0.0 && inside && ((b.0 - a.0) * dy - (b.1 - a.1) * dx).abs() / len < tol_m
    };
    for p in points {
        while out.len() >= 2 && near(out[out.len() - 2], out[out.len() - 1], p) {
            out.pop();
        }
        out.push(p);
    }
    // Across the closing point.
    while out.len() >= 3 && near(out[out.len() - 2], out[out.len() - 1], out[0]) {
        out.pop();
    }
    while out.len() >= 3 && near(out[out.len() - 1], out[0], out[1]) {
        out.remove(0);
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
            let ring = ground_footprint(&pose).unwrap();
            for &(e, n) in &ring {
                prop_assert!(f64::hypot(e - 10.0, n + 20.0) <= range + 1e-6);
            }
            let (n, e, d) = Rotation::new(yaw, pitch, roll).apply(1.0, 0.0, 0.0);
            let k = h / d;
            let centre = (10.0 + e * k, -20.0 + n * k);
            if f64::hypot(e * k, n * k) < range * 0.9 {
                let pts: Vec<[f64; 2]> = ring.iter().map(|&(e, n)| [e, n]).collect();
                prop_assert!(crate::coverage::polygon::point_in_ring(&pts, [centre.0, centre.1]));
            }
        }
    }
}
