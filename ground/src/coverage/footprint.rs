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
    let first = ring[0];
    ring.push(first);
    Some(ring)
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
}
