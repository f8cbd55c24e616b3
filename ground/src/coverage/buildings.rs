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
//! its footprint, one every [`RAY_STEP_DEG`] and one either side of every
//! corner in view: along each ray the coverage stops at the first building
//! wall. Ground that becomes visible again behind a low obstacle is not
//! counted (coverage errs on the side of "not seen"). Between two rays the
//! border follows one edge, so the region is exact to
//! [`VISIBILITY_TOLERANCE_M`] (see [`Buildings::visible_part`]).

use rstar::{AABB, RTree, RTreeObject};

use super::polygon::{Bbox, Pt, point_in_ring, ray_segment};

/// Crossings this close to the camera are its own mount, metres.
pub const MOUNT_CLEARANCE_M: f64 = 0.5;

/// Angle between two rays of a visible region, degrees.
pub const RAY_STEP_DEG: f64 = 0.5;

/// Largest error of a visible region's border, metres: ground visible and
/// farther than this from the border of what is visible is in the region,
/// and ground hidden and farther than this from it is not.
pub const VISIBILITY_TOLERANCE_M: f64 = 0.05;

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
        self.first_wall(eye, dir, max_m).0
    }

    /// [`Buildings::first_wall_m`] with the wall it meets, if any.
    fn first_wall(&self, eye: Pt, dir: Pt, max_m: f64) -> (f64, Option<Seg>) {
        let end = [eye[0] + dir[0] * max_m, eye[1] + dir[1] * max_m];
        let bbox = Bbox::of(&[eye, end]);
        let mut best = (max_m, None);
        for i in self.near(&bbox) {
            let b = &self.items[i as usize];
            if point_in_ring(&b.ring, eye) {
                continue;
            }
            for w in b.ring.windows(2) {
                if let Some((t, _)) = ray_segment(eye, dir, w[0], w[1])
                    && t >= MOUNT_CLEARANCE_M
                    && t < best.0
                {
                    best = (t, Some([w[0], w[1]]));
                }
            }
        }
        best
    }

    /// The part of a footprint `ring` (convex, as camera footprints are)
    /// seen from `eye`: along each ray from the camera, from where the ray
    /// enters the footprint to where it leaves it or meets a wall. `None`
    /// when nothing is left.
    ///
    /// Rays are cast every [`RAY_STEP_DEG`] and just either side of every
    /// footprint and building corner in view, so between two rays the
    /// border follows one straight wall or footprint edge and the chord
    /// between them is exact. Where the border switches from one edge to
    /// another between two rays (a wall crossing the footprint's edge,
    /// overlapping footprints) the switch point is the two edges'
    /// intersection, checked by a ray; failing that the angle is halved
    /// until the wedge is narrower than [`VISIBILITY_TOLERANCE_M`] at its
    /// range. No vertex is dropped except between two others on the same
    /// edge, so the border is within [`VISIBILITY_TOLERANCE_M`] of the
    /// exact one.
    pub fn visible_part(&self, eye: Pt, ring: &[Pt]) -> Option<Vec<Pt>> {
        let bbox = Bbox::of(ring);
        // Walls between the camera and its footprint hide it too.
        let mut reach_box = bbox;
        reach_box.add(eye);
        if self.near(&reach_box).next().is_none() {
            return Some(ring.to_vec());
        }
        let inside = point_in_ring(ring, eye);
        let tau = std::f64::consts::TAU;
        let pi = std::f64::consts::PI;
        let a0 = {
            let c = bbox.centre();
            (c[1] - eye[1]).atan2(c[0] - eye[0])
        };
        // Offset of a direction from a0, in (-pi, pi].
        let offset = |p: Pt| {
            let a = (p[1] - eye[1]).atan2(p[0] - eye[0]) - a0;
            (a + pi).rem_euclid(tau) - pi
        };
        let (start, span) = if inside {
            (a0, tau)
        } else {
            // Angular span of the footprint seen from outside, measured
            // around the direction to its centre so it never wraps.
            let (mut lo, mut hi) = (0.0f64, 0.0f64);
            for &p in ring {
                let a = offset(p);
                lo = lo.min(a);
                hi = hi.max(a);
            }
            (a0 + lo, hi - lo)
        };
        let reach = ring
            .iter()
            .map(|p| f64::hypot(p[0] - eye[0], p[1] - eye[1]))
            .fold(0.0, f64::max);
        // Ray angles as offsets from `start` in [0, span].
        let steps = ((span.to_degrees() / RAY_STEP_DEG).ceil() as usize).max(1);
        let last = if inside { steps - 1 } else { steps };
        let mut angles: Vec<f64> = (0..=last).map(|k| span * k as f64 / steps as f64).collect();
        let lo = start - a0;
        let mut corner = |p: Pt| {
            let d = f64::hypot(p[0] - eye[0], p[1] - eye[1]);
            if d < 1e-9 || d > reach {
                return;
            }
            let o = if inside {
                (offset(p) - lo).rem_euclid(tau)
            } else {
                offset(p) - lo
            };
            for a in [o - CORNER_EPS_RAD, o + CORNER_EPS_RAD] {
                if a > 0.0 && (a < span || (inside && a < tau)) {
                    angles.push(a);
                }
            }
        };
        for &p in ring {
            corner(p);
        }
        for b in self.in_box(&reach_box) {
            if !point_in_ring(&b.ring, eye) {
                for &p in &b.ring {
                    corner(p);
                }
            }
        }
        angles.sort_unstable_by(f64::total_cmp);
        angles.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
        let cast = |a: f64| self.cast(eye, ring, inside, start + a);
        let mut base: Vec<Hit> = angles.iter().filter_map(|&a| cast(a)).collect();
        if inside && let Some(first) = base.first().copied() {
            // Close the turn: the last wedge ends at the first ray.
            base.push(Hit {
                angle_rad: first.angle_rad + tau,
                ..first
            });
        }
        let mut hits = Vec::with_capacity(base.len() * 2);
        for w in base.windows(2) {
            hits.push(w[0]);
            self.refine(eye, ring, inside, &w[0], &w[1], REFINE_DEPTH, &mut hits);
        }
        if let Some(&l) = base.last()
            && !inside
        {
            hits.push(l);
        }
        if !hits.iter().any(|h| h.far_m > h.near_m) {
            return None;
        }
        let at = |h: &Hit, t: f64| [eye[0] + h.dir[0] * t, eye[1] + h.dir[1] * t];
        // A point between two others on the same edge adds nothing.
        let keep = |segs: &[Option<Seg>], i: usize| {
            i == 0
                || i + 1 == segs.len()
                || segs[i].is_none()
                || segs[i - 1] != segs[i]
                || segs[i + 1] != segs[i]
        };
        let far_segs: Vec<Option<Seg>> = hits.iter().map(|h| h.far_seg).collect();
        let mut out: Vec<Pt> = hits
            .iter()
            .enumerate()
            .filter(|(i, _)| keep(&far_segs, *i))
            .map(|(_, h)| at(h, h.far_m))
            .collect();
        if !inside {
            let near_segs: Vec<Option<Seg>> = hits.iter().map(|h| h.near_seg).collect();
            let near: Vec<Pt> = hits
                .iter()
                .enumerate()
                .filter(|(i, _)| keep(&near_segs, *i))
                .map(|(_, h)| at(h, h.near_m))
                .collect();
            out.extend(near.into_iter().rev());
        }
        out.dedup_by(|a, b| f64::hypot(a[0] - b[0], a[1] - b[1]) < 1e-9);
        let first = *out.first()?;
        out.push(first);
        (out.len() >= 4).then_some(out)
    }

    /// One ray of [`Buildings::visible_part`] at `angle_rad`: where it
    /// enters the footprint and where its visible part ends. `None` when
    /// it misses the footprint.
    fn cast(&self, eye: Pt, ring: &[Pt], inside: bool, angle_rad: f64) -> Option<Hit> {
        let dir = [angle_rad.cos(), angle_rad.sin()];
        let (mut near, mut far) = ((f64::INFINITY, None), (f64::NEG_INFINITY, None));
        for w in ring.windows(2) {
            if let Some((t, _)) = ray_segment(eye, dir, w[0], w[1]) {
                if t < near.0 {
                    near = (t, Some([w[0], w[1]]));
                }
                if t > far.0 {
                    far = (t, Some([w[0], w[1]]));
                }
            }
        }
        far.1?;
        if inside {
            near = (0.0, None);
        }
        let wall = self.first_wall(eye, dir, far.0);
        if wall.0 < far.0 {
            far = wall;
        }
        if far.0 < near.0 {
            far = near;
        }
        Some(Hit {
            angle_rad,
            dir,
            near_m: near.0,
            near_seg: near.1,
            far_m: far.0,
            far_seg: far.1,
        })
    }

    /// Hits strictly between rays `a` and `b`, in order, wherever the
    /// border between them is not one straight edge.
    #[allow(clippy::too_many_arguments)]
    fn refine(
        &self,
        eye: Pt,
        ring: &[Pt],
        inside: bool,
        a: &Hit,
        b: &Hit,
        depth: u32,
        out: &mut Vec<Hit>,
    ) {
        if a.far_seg == b.far_seg && a.near_seg == b.near_seg {
            return;
        }
        let gap = b.angle_rad - a.angle_rad;
        if depth == 0 || a.far_m.max(b.far_m) * gap <= VISIBILITY_TOLERANCE_M {
            return;
        }
        // The border switches edges where they meet, if that is where the
        // ray says it is.
        if a.near_seg == b.near_seg
            && let (Some(s), Some(t)) = (a.far_seg, b.far_seg)
            && let Some(x) = line_intersection(s, t)
        {
            let d = f64::hypot(x[0] - eye[0], x[1] - eye[1]);
            let ax = a.angle_rad
                + ((x[1] - eye[1]).atan2(x[0] - eye[0]) - a.angle_rad)
                    .rem_euclid(std::f64::consts::TAU);
            if ax > a.angle_rad
                && ax < b.angle_rad
                && let Some(h) = self.cast(eye, ring, inside, ax)
                && (h.far_m - d).abs() <= 1e-7 * d.max(1.0)
            {
                out.push(h);
                return;
            }
        }
        let Some(h) = self.cast(eye, ring, inside, a.angle_rad + gap / 2.0) else {
            return;
        };
        self.refine(eye, ring, inside, a, &h, depth - 1, out);
        out.push(h);
        self.refine(eye, ring, inside, &h, b, depth - 1, out);
    }
}

/// A straight edge: a wall or a footprint side.
type Seg = [Pt; 2];

/// Rays either side of a corner are this far from it, radians.
const CORNER_EPS_RAD: f64 = 1e-8;

/// Most halvings of a wedge between two rays.
const REFINE_DEPTH: u32 = 40;

/// One ray of a visible region.
#[derive(Debug, Clone, Copy)]
struct Hit {
    /// Direction, radians counter-clockwise from east.
    angle_rad: f64,
    /// Unit direction.
    dir: Pt,
    /// Where the ray enters the footprint, metres from the eye.
    near_m: f64,
    /// The footprint edge it enters by (`None` from inside).
    near_seg: Option<Seg>,
    /// Where the ray's visible part ends, metres from the eye.
    far_m: f64,
    /// The wall or footprint edge it ends on.
    far_seg: Option<Seg>,
}

/// Where the lines through two segments meet, if they are not parallel.
fn line_intersection(s: Seg, t: Seg) -> Option<Pt> {
    let d1 = [s[1][0] - s[0][0], s[1][1] - s[0][1]];
    let d2 = [t[1][0] - t[0][0], t[1][1] - t[0][1]];
    let den = d1[0] * d2[1] - d1[1] * d2[0];
    if den.abs() < 1e-12 * (d1[0].hypot(d1[1]) * d2[0].hypot(d2[1])).max(1e-300) {
        return None;
    }
    let w = [t[0][0] - s[0][0], t[0][1] - s[0][1]];
    let u = (w[0] * d2[1] - w[1] * d2[0]) / den;
    Some([s[0][0] + d1[0] * u, s[0][1] + d1[1] * u])
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

    /// Distance from `p` to segment `a`–`b`, metres.
    fn seg_dist(a: Pt, b: Pt, p: Pt) -> f64 {
        let e = [b[0] - a[0], b[1] - a[1]];
        let l2 = e[0] * e[0] + e[1] * e[1];
        let w = [p[0] - a[0], p[1] - a[1]];
        let u = if l2 > 0.0 {
            ((w[0] * e[0] + w[1] * e[1]) / l2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        f64::hypot(w[0] - e[0] * u, w[1] - e[1] * u)
    }

    /// Exact oracle of the visible-region model: `p` is in the footprint,
    /// in no building, and the straight segment from the eye to it crosses
    /// no wall beyond the mount clearance (walls block whatever their
    /// height: ground seen again behind a low building is not counted).
    fn visible_2d(items: &[Building], eye: Pt, footprint: &[Pt], p: Pt) -> bool {
        if !point_in_ring(footprint, p) {
            return false;
        }
        let len = f64::hypot(p[0] - eye[0], p[1] - eye[1]);
        let dir = [(p[0] - eye[0]) / len, (p[1] - eye[1]) / len];
        items
            .iter()
            .filter(|b| !point_in_ring(&b.ring, eye))
            .all(|b| {
                !point_in_ring(&b.ring, p)
                    && b.ring.windows(2).all(|w| {
                        ray_segment(eye, dir, w[0], w[1])
                            .is_none_or(|(t, _)| t < MOUNT_CLEARANCE_M || t > len)
                    })
            })
    }

    /// A lower bound on the distance from `p` to the border of the visible
    /// region: the border lies on footprint edges, walls and shadow lines
    /// (rays from the eye through building corners, beyond the corner), so
    /// `p` is at least this far from it.
    fn border_distance_lower_bound(items: &[Building], eye: Pt, footprint: &[Pt], p: Pt) -> f64 {
        let mut d = f64::hypot(p[0] - eye[0], p[1] - eye[1]) - MOUNT_CLEARANCE_M;
        for w in footprint.windows(2) {
            d = d.min(seg_dist(w[0], w[1], p));
        }
        for b in items {
            for w in b.ring.windows(2) {
                d = d.min(seg_dist(w[0], w[1], p));
                let v = w[0];
                let l = f64::hypot(v[0] - eye[0], v[1] - eye[1]);
                if l > 1e-9 {
                    let far = [
                        v[0] + (v[0] - eye[0]) / l * 1e4,
                        v[1] + (v[1] - eye[1]) / l * 1e4,
                    ];
                    d = d.min(seg_dist(v, far, p));
                }
            }
        }
        d
    }

    /// Seeded street blocks: one rotated rectangle per 30 m cell of a grid,
    /// inside its cell, so that footprints never overlap (as in real data).
    fn blocks(rng: &mut crate::coverage::synth::Rng) -> Vec<Building> {
        let mut out = Vec::new();
        for i in -4..4 {
            for j in -4..4 {
                if rng.f(0.0, 1.0) < 0.35 {
                    continue;
                }
                let c = [i as f64 * 30.0 + 15.0, j as f64 * 30.0 + 15.0];
                let (w, d) = (rng.f(2.0, 9.0), rng.f(2.0, 9.0));
                let (s, co) = rng.f(0.0, std::f64::consts::PI).sin_cos();
                let corners = [[-w, -d], [w, -d], [w, d], [-w, d], [-w, -d]];
                out.push(Building {
                    ring: corners
                        .iter()
                        .map(|p| [c[0] + p[0] * co - p[1] * s, c[1] + p[0] * s + p[1] * co])
                        .collect(),
                    height_m: rng.f(3.0, 30.0),
                });
            }
        }
        out
    }

    proptest! {
        #![proptest_config(Config { cases: 120, rng_seed: RngSeed::Fixed(7856), ..Config::default() })]

        /// Against the exact oracle on seeded layouts: ground visible and
        /// more than [`VISIBILITY_TOLERANCE_M`] from the visibility border
        /// is in the region; hidden ground that far from it is not.
        #[test]
        fn visible_part_matches_exact_visibility_within_tolerance(
            seed in 0u64..u64::MAX,
            eye in (-110.0..110.0f64, -110.0..110.0f64),
            h in 3.0..12.0f64, yaw in 0.0..360.0f64, pitch in -40.0..-5.0f64,
            hfov in 40.0..120.0f64, range in 15.0..120.0f64,
        ) {
            let mut rng = crate::coverage::synth::Rng(seed);
            let items = blocks(&mut rng);
            let eye = [eye.0, eye.1];
            // Cameras stand clear of walls: within the mount clearance the
            // model ignores the wall a camera is fixed on (see the report).
            prop_assume!(items.iter().all(|b| !point_in_ring(&b.ring, eye)
                && b.ring.windows(2).all(|w| seg_dist(w[0], w[1], eye) > 1.0)));
            let pose = crate::coverage::footprint::CameraPose {
                east_m: eye[0], north_m: eye[1], height_agl_m: h, yaw_deg: yaw,
                pitch_deg: pitch, roll_deg: 0.0, hfov_deg: hfov, vfov_deg: 40.0,
                max_range_m: range,
            };
            let Some(fp) = crate::coverage::footprint::ground_footprint(&pose) else {
                return Ok(());
            };
            let fp: Vec<Pt> = fp.into_iter().map(|(e, n)| [e, n]).collect();
            let b = Buildings::new(items.clone());
            let vis = b.visible_part(eye, &fp);
            let bbox = Bbox::of(&fp);
            let corners: Vec<Pt> = items.iter().flat_map(|b| b.ring.iter().copied()).collect();
            for k in 0..3000 {
                // Half uniform, half near building corners, where shadows start.
                let p = if k % 2 == 0 || corners.is_empty() {
                    [rng.f(bbox.min_e, bbox.max_e), rng.f(bbox.min_n, bbox.max_n)]
                } else {
                    let c = corners[(rng.next_u64() % corners.len() as u64) as usize];
                    [c[0] + rng.f(-3.0, 3.0), c[1] + rng.f(-3.0, 3.0)]
                };
                if border_distance_lower_bound(&items, eye, &fp, p) <= VISIBILITY_TOLERANCE_M {
                    continue;
                }
                let truth = visible_2d(&items, eye, &fp, p);
                let got = vis.as_ref().is_some_and(|r| point_in_ring(r, p));
                prop_assert_eq!(got, truth, "point {:?} from eye {:?}", p, eye);
            }
        }
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
