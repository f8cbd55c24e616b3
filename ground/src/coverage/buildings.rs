//! Building footprints with heights, and line of sight over them.
//!
//! A ground point is seen from a camera when the straight sightline between
//! them passes over every building, i.e. at every point where the sightline
//! is above a footprint it is higher than that building. The sightline's
//! height is linear along it, so it is enough to test where it crosses
//! footprint edges: the test is exact, not sampled. Buildings whose
//! footprint contains the camera (a camera on a facade or a roof) and
//! crossings within [`MOUNT_CLEARANCE_M`] of the camera are ignored.
//!
//! A camera's visible region is built by casting rays from the camera across
//! its footprint, one every [`RAY_STEP_DEG`]: along each ray the coverage
//! stops at the first building wall. Ground that becomes visible again
//! behind a low obstacle is not counted (coverage errs on the side of
//! "not seen"), and between two rays the boundary is a straight line, so a
//! building corner can cut at most one ray step (0.5° × range) into it.

use rstar::{AABB, RTree, RTreeObject};

use super::polygon::{Bbox, Pt, point_in_ring, ray_crossings, ray_segment};

/// Crossings this close to the camera are its own mount, metres.
pub const MOUNT_CLEARANCE_M: f64 = 0.5;

/// Angle between two rays of a visible region, degrees.
pub const RAY_STEP_DEG: f64 = 0.5;

/// One building: a footprint and a height.
#[derive(Debug, Clone, PartialEq)]
pub struct Building {
    /// Footprint, a closed ring in the local frame.
    pub ring: Vec<Pt>,
    /// Height above the ground, metres.
    pub height_m: f64,
}

/// An entry of the buildings R-tree: a footprint's box and its index.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    /// The footprint's box.
    aabb: AABB<[f64; 2]>,
    /// Index into [`Buildings::items`].
    index: u32,
}

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.aabb
    }
}

/// Every building of the site, indexed.
#[derive(Debug, Clone, Default)]
pub struct Buildings {
    /// The buildings.
    items: Vec<Building>,
    /// R-tree over the boxes.
    tree: RTree<Entry>,
}

impl Buildings {
    /// Indexes `items`.
    pub fn new(items: Vec<Building>) -> Buildings {
        let boxes: Vec<Bbox> = items.iter().map(|b| Bbox::of(&b.ring)).collect();
        let entries = boxes
            .iter()
            .enumerate()
            .map(|(i, b)| Entry {
                aabb: AABB::from_corners([b.min_e, b.min_n], [b.max_e, b.max_n]),
                index: i as u32,
            })
            .collect();
        Buildings {
            items,
            tree: RTree::bulk_load(entries),
        }
    }

    /// The buildings.
    pub fn items(&self) -> &[Building] {
        &self.items
    }

    /// Number of buildings.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn near(&self, b: &Bbox) -> impl Iterator<Item = u32> + '_ {
        let env = AABB::from_corners([b.min_e, b.min_n], [b.max_e, b.max_n]);
        self.tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| e.index)
    }

    /// Buildings whose footprint box meets `b`.
    pub fn in_box(&self, b: &Bbox) -> impl Iterator<Item = &Building> + '_ {
        self.near(b).map(|i| &self.items[i as usize])
    }

    /// Whether `p` is inside a building footprint.
    pub fn contains(&self, p: Pt) -> bool {
        let b = Bbox {
            min_e: p[0],
            min_n: p[1],
            max_e: p[0],
            max_n: p[1],
        };
        self.near(&b)
            .any(|i| point_in_ring(&self.items[i as usize].ring, p))
    }

    /// Whether the ground point `target` is seen from a camera at `eye`,
    /// `eye_height_m` above the ground.
    pub fn line_of_sight(&self, eye: Pt, eye_height_m: f64, target: Pt) -> bool {
        let mut bbox = Bbox::of(&[eye, target]);
        bbox.add(target);
        let len = f64::hypot(target[0] - eye[0], target[1] - eye[1]);
        if len < 1e-9 {
            return !self.contains(target);
        }
        let dir = [(target[0] - eye[0]) / len, (target[1] - eye[1]) / len];
        for i in self.near(&bbox) {
            let b = &self.items[i as usize];
            if point_in_ring(&b.ring, eye) {
                continue;
            }
            if point_in_ring(&b.ring, target) {
                return false;
            }
            for w in b.ring.windows(2) {
                if let Some((t, _)) = ray_segment(eye, dir, w[0], w[1])
                    && t >= MOUNT_CLEARANCE_M
                    && t <= len
                {
                    // Sightline height where it crosses this wall.
                    let h = eye_height_m * (1.0 - t / len);
                    if h < b.height_m {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Distance along the ray from `eye` in unit direction `dir` to the first
    /// wall it meets, searching up to `max_m`: the first ground point along
    /// the ray that the camera does not see. `max_m` when nothing is in the
    /// way.
    pub fn first_wall_m(&self, eye: Pt, dir: Pt, max_m: f64) -> f64 {
        let end = [eye[0] + dir[0] * max_m, eye[1] + dir[1] * max_m];
        let bbox = Bbox::of(&[eye, end]);
        let mut best = max_m;
        let mut ts = Vec::new();
        for i in self.near(&bbox) {
            let b = &self.items[i as usize];
            if point_in_ring(&b.ring, eye) {
                continue;
            }
            ts.clear();
            ray_crossings(&b.ring, eye, dir, &mut ts);
            for &t in &ts {
                if t >= MOUNT_CLEARANCE_M && t < best {
                    best = t;
                }
            }
        }
        best
    }

    /// The part of a footprint `ring` (convex, as camera footprints are)
    /// seen from `eye`: along each ray from the camera, from where the ray
    /// enters the footprint to where it leaves it or meets a wall. `None`
    /// when nothing is left.
    pub fn visible_part(&self, eye: Pt, ring: &[Pt]) -> Option<Vec<Pt>> {
        let bbox = Bbox::of(ring);
        if self.near(&bbox).next().is_none() {
            return Some(ring.to_vec());
        }
        let inside = point_in_ring(ring, eye);
        let (start, span) = if inside {
            (0.0, std::f64::consts::TAU)
        } else {
            // Angular span of the footprint seen from outside, measured
            // around the direction to its centre so it never wraps.
            let c = bbox.centre();
            let a0 = (c[1] - eye[1]).atan2(c[0] - eye[0]);
            let (mut lo, mut hi) = (0.0f64, 0.0f64);
            for p in ring {
                let mut a = (p[1] - eye[1]).atan2(p[0] - eye[0]) - a0;
                a = (a + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU)
                    - std::f64::consts::PI;
                lo = lo.min(a);
                hi = hi.max(a);
            }
            (a0 + lo, hi - lo)
        };
        let steps = ((span.to_degrees() / RAY_STEP_DEG).ceil() as usize).max(1);
        let mut far_pts = Vec::with_capacity(steps + 1);
        let mut near_pts = Vec::with_capacity(steps + 1);
        let mut ts = Vec::new();
        let mut any = false;
        let last = if inside { steps - 1 } else { steps };
        for k in 0..=last {
            let a = start + span * k as f64 / steps as f64;
            let dir = [a.cos(), a.sin()];
            ts.clear();
            ray_crossings(ring, eye, dir, &mut ts);
            let (near, far) = if inside {
                (0.0, ts.iter().copied().fold(0.0, f64::max))
            } else if ts.is_empty() {
                continue;
            } else {
                let lo = ts.iter().copied().fold(f64::INFINITY, f64::min);
                (lo, ts.iter().copied().fold(lo, f64::max))
            };
            let wall = self.first_wall_m(eye, dir, far);
            let far = wall.max(near);
            any |= far > near;
            far_pts.push([eye[0] + dir[0] * far, eye[1] + dir[1] * far]);
            if !inside {
                near_pts.push([eye[0] + dir[0] * near, eye[1] + dir[1] * near]);
            }
        }
        if !any {
            return None;
        }
        near_pts.reverse();
        far_pts.extend(near_pts);
        let mut out = simplify(far_pts, 0.05);
        let first = *out.first()?;
        out.push(first);
        (out.len() >= 4).then_some(out)
    }
}

/// Drops points closer than `tol_m` to the line through their neighbours
/// (open ring in, open ring out).
fn simplify(points: Vec<Pt>, tol_m: f64) -> Vec<Pt> {
    let mut out: Vec<Pt> = Vec::with_capacity(points.len());
    for p in points {
        while out.len() >= 2 {
            let (a, b) = (out[out.len() - 2], out[out.len() - 1]);
            let len = f64::hypot(p[0] - a[0], p[1] - a[1]);
            let dist = if len < 1e-12 {
                f64::hypot(b[0] - a[0], b[1] - a[1])
            } else {
                ((p[0] - a[0]) * (b[1] - a[1]) - (p[1] - a[1]) * (b[0] - a[0])).abs() / len
            };
            // Only drop b when it lies between a and p (no spikes removed).
            let between = (b[0] - a[0]) * (p[0] - a[0]) + (b[1] - a[1]) * (p[1] - a[1]) >= 0.0
                && (b[0] - p[0]) * (a[0] - p[0]) + (b[1] - p[1]) * (a[1] - p[1]) >= 0.0;
            if dist < tol_m && between {
                out.pop();
            } else {
                break;
            }
        }
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

    fn rect(e0: f64, n0: f64, e1: f64, n1: f64, h: f64) -> Building {
        Building {
            ring: vec![[e0, n0], [e1, n0], [e1, n1], [e0, n1], [e0, n0]],
            height_m: h,
        }
    }

    #[test]
    fn a_tall_wall_hides_what_is_behind_it_and_a_low_one_casts_a_shadow() {
        let b = Buildings::new(vec![
            rect(10.0, -5.0, 12.0, 5.0, 20.0),
            rect(10.0, 20.0, 12.0, 30.0, 2.0),
        ]);
        let eye = [0.0, 0.0];
        assert!(b.line_of_sight(eye, 6.0, [9.0, 0.0]));
        assert!(!b.line_of_sight(eye, 6.0, [11.0, 0.0]), "inside a building");
        assert!(!b.line_of_sight(eye, 6.0, [30.0, 0.0]));
        // Low wall (2 m, 2 m thick) seen from 6 m: the sightline is lowest
        // where it leaves the wall, at x = 12, so the shadow ends where
        // 6 (1 - x_exit/d) = 2, i.e. d = 1.5 x 1.2 w = 1.8 w.
        let dir = [10.0 / f64::hypot(10.0, 25.0), 25.0 / f64::hypot(10.0, 25.0)];
        let at = |d: f64| [dir[0] * d, dir[1] * d];
        let wall = b.first_wall_m(eye, dir, 100.0);
        assert!((wall - 10.0 / dir[0]).abs() < 1e-9);
        assert!(!b.line_of_sight(eye, 6.0, at(wall * 1.3)));
        assert!(!b.line_of_sight(eye, 6.0, at(wall * 1.75)));
        assert!(b.line_of_sight(eye, 6.0, at(wall * 1.85)));
    }

    #[test]
    fn visible_part_stops_at_walls() {
        let b = Buildings::new(vec![rect(20.0, -5.0, 25.0, 5.0, 30.0)]);
        let fp = vec![
            [5.0, -20.0],
            [50.0, -20.0],
            [50.0, 20.0],
            [5.0, 20.0],
            [5.0, -20.0],
        ];
        let vis = b.visible_part([0.0, 0.0], &fp).unwrap();
        assert!(point_in_ring(&vis, [15.0, 0.0]));
        assert!(!point_in_ring(&vis, [40.0, 0.0]), "behind the building");
        assert!(
            point_in_ring(&vis, [40.0, 15.0]),
            "beside the building's shadow"
        );
        assert!(
            !point_in_ring(&vis, [2.0, 0.0]),
            "before the footprint's near edge"
        );
    }

    /// Oracle: march along the sightline in fine steps and look for a sample
    /// above a footprint and below its roof.
    fn marched(items: &[Building], eye: Pt, eye_h: f64, target: Pt) -> bool {
        const STEPS: usize = 20_000;
        for k in 0..=STEPS {
            let u = k as f64 / STEPS as f64;
            let p = [
                eye[0] + (target[0] - eye[0]) * u,
                eye[1] + (target[1] - eye[1]) * u,
            ];
            let h = eye_h * (1.0 - u);
            let d = u * f64::hypot(target[0] - eye[0], target[1] - eye[1]);
            for b in items {
                if point_in_ring(&b.ring, eye) || d < MOUNT_CLEARANCE_M {
                    continue;
                }
                if point_in_ring(&b.ring, p) && h < b.height_m {
                    return false;
                }
            }
        }
        true
    }

    /// Whether the case is too close to a grazing contact for a sampled
    /// oracle to settle it.
    fn grazing(items: &[Building], eye: Pt, eye_h: f64, target: Pt) -> bool {
        let len = f64::hypot(target[0] - eye[0], target[1] - eye[1]);
        let dir = [(target[0] - eye[0]) / len, (target[1] - eye[1]) / len];
        items.iter().any(|b| {
            let corner_near = b.ring.iter().any(|v| {
                let w = [v[0] - eye[0], v[1] - eye[1]];
                let t = (w[0] * dir[0] + w[1] * dir[1]).clamp(0.0, len);
                f64::hypot(w[0] - dir[0] * t, w[1] - dir[1] * t) < 0.05
            });
            let roof_near = b.ring.windows(2).any(|s| {
                ray_segment(eye, dir, s[0], s[1]).is_some_and(|(t, _)| {
                    t <= len && (eye_h * (1.0 - t / len) - b.height_m).abs() < 0.05
                })
            });
            let edge_near = b.ring.windows(2).any(|s| {
                let e = [s[1][0] - s[0][0], s[1][1] - s[0][1]];
                let l = f64::hypot(e[0], e[1]);
                let w = [target[0] - s[0][0], target[1] - s[0][1]];
                let u = ((w[0] * e[0] + w[1] * e[1]) / (l * l)).clamp(0.0, 1.0);
                f64::hypot(w[0] - e[0] * u, w[1] - e[1] * u) < 0.05
            });
            corner_near || roof_near || edge_near
        })
    }

    fn building() -> impl Strategy<Value = Building> {
        (
            -80.0..80.0f64,
            -80.0..80.0f64,
            3.0..25.0f64,
            3.0..25.0f64,
            0.0..std::f64::consts::PI,
            1.0..30.0f64,
        )
            .prop_map(|(e, n, w, d, rot, h)| {
                let (s, c) = rot.sin_cos();
                let corners = [[-w, -d], [w, -d], [w, d], [-w, d], [-w, -d]];
                Building {
                    ring: corners
                        .iter()
                        .map(|p| [e + p[0] * c - p[1] * s, n + p[0] * s + p[1] * c])
                        .collect(),
                    height_m: h,
                }
            })
    }

    proptest! {
        #![proptest_config(Config { cases: 200, rng_seed: RngSeed::Fixed(62676), ..Config::default() })]

        #[test]
        fn line_of_sight_matches_ray_marching(
            items in proptest::collection::vec(building(), 1..6),
            eye in (-100.0..100.0f64, -100.0..100.0f64),
            eye_h in 2.0..40.0f64,
            target in (-100.0..100.0f64, -100.0..100.0f64),
        ) {
            let (eye, target) = ([eye.0, eye.1], [target.0, target.1]);
            prop_assume!(f64::hypot(target[0] - eye[0], target[1] - eye[1]) > 1.0);
            prop_assume!(!grazing(&items, eye, eye_h, target));
            let b = Buildings::new(items.clone());
            prop_assert_eq!(b.line_of_sight(eye, eye_h, target), marched(&items, eye, eye_h, target));
        }

        #[test]
        fn ground_before_the_first_wall_is_seen(
            items in proptest::collection::vec(building(), 1..6),
            eye in (-100.0..100.0f64, -100.0..100.0f64),
            eye_h in 2.0..40.0f64,
            angle in 0.0..std::f64::consts::TAU,
            frac in 0.0..0.999f64,
        ) {
            let b = Buildings::new(items.clone());
            let eye = [eye.0, eye.1];
            let dir = [angle.cos(), angle.sin()];
            let wall = b.first_wall_m(eye, dir, 150.0);
            let d = MOUNT_CLEARANCE_M + (wall - MOUNT_CLEARANCE_M) * frac;
            let target = [eye[0] + dir[0] * d, eye[1] + dir[1] * d];
            prop_assume!(d > 1.0 && !grazing(&items, eye, eye_h, target));
            prop_assert!(b.line_of_sight(eye, eye_h, target));
            prop_assert!(marched(&items, eye, eye_h, target));
        }
    }
}
