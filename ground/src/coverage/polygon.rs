//! Flat rings and the few exact predicates every coverage query uses.
//!
//! A ring is a closed slice of `[east_m, north_m]` points (first == last).
//! Point-in-polygon uses the crossing-number rule with half-open edges, so a
//! point on a shared edge belongs to exactly one of two neighbours, and the
//! scanline rasteriser in [`row_crossings`] applies the very same rule: a
//! zone raster is the point-in-polygon answer at every cell centre, not an
//! approximation of it.

/// A point in the local frame, `[east_m, north_m]`.
pub type Pt = [f64; 2];

/// An axis-aligned box in the local frame, metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    /// West edge, metres east of the origin.
    pub min_e: f64,
    /// South edge, metres north of the origin.
    pub min_n: f64,
    /// East edge, metres east of the origin.
    pub max_e: f64,
    /// North edge, metres north of the origin.
    pub max_n: f64,
}

impl Default for Bbox {
    fn default() -> Self {
        Bbox::EMPTY
    }
}

impl Bbox {
    /// The empty box (contains nothing, grows with [`Bbox::add`]).
    pub const EMPTY: Bbox = Bbox {
        min_e: f64::INFINITY,
        min_n: f64::INFINITY,
        max_e: f64::NEG_INFINITY,
        max_n: f64::NEG_INFINITY,
    };

    /// The bounding box of some points.
    pub fn of(points: &[Pt]) -> Bbox {
        let mut b = Bbox::EMPTY;
        for &p in points {
            b.add(p);
        }
        b
    }

    /// Grows the box to contain `p`.
    pub fn add(&mut self, p: Pt) {
        self.min_e = self.min_e.min(p[0]);
        self.min_n = self.min_n.min(p[1]);
        self.max_e = self.max_e.max(p[0]);
        self.max_n = self.max_n.max(p[1]);
    }

    /// Grows the box to contain `o`.
    pub fn union(&mut self, o: &Bbox) {
        self.min_e = self.min_e.min(o.min_e);
        self.min_n = self.min_n.min(o.min_n);
        self.max_e = self.max_e.max(o.max_e);
        self.max_n = self.max_n.max(o.max_n);
    }

    /// Whether `p` is inside or on the border.
    #[inline]
    pub fn contains(&self, p: Pt) -> bool {
        p[0] >= self.min_e && p[0] <= self.max_e && p[1] >= self.min_n && p[1] <= self.max_n
    }

    /// Whether the boxes overlap (borders included).
    #[inline]
    pub fn intersects(&self, o: &Bbox) -> bool {
        self.min_e <= o.max_e
            && o.min_e <= self.max_e
            && self.min_n <= o.max_n
            && o.min_n <= self.max_n
    }

    /// Whether the box holds at least one point.
    pub fn is_empty(&self) -> bool {
        !(self.min_e <= self.max_e && self.min_n <= self.max_n)
    }

    /// Centre of the box.
    pub fn centre(&self) -> Pt {
        [
            (self.min_e + self.max_e) / 2.0,
            (self.min_n + self.max_n) / 2.0,
        ]
    }
}

/// Whether `p` is inside the closed ring (crossing number, half-open edges).
#[inline]
pub fn point_in_ring(ring: &[Pt], p: Pt) -> bool {
    let mut inside = false;
    for w in ring.windows(2) {
        let (a, b) = (w[0], w[1]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if p[0] < x {
                inside = !inside;
            }
        }
    }
    inside
}

/// Where the horizontal line `north = y` crosses the ring's edges, sorted
/// west to east, appended to `out` (cleared first). A point `(x, y)` is
/// inside the ring exactly when `out[2k] <= x < out[2k + 1]` for some `k`,
/// the same answer as [`point_in_ring`].
pub fn row_crossings(ring: &[Pt], y: f64, out: &mut Vec<f64>) {
    out.clear();
    for w in ring.windows(2) {
        let (a, b) = (w[0], w[1]);
        if (a[1] > y) != (b[1] > y) {
            out.push(a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]));
        }
    }
    out.sort_unstable_by(f64::total_cmp);
}

/// Signed area of a closed ring, square metres (positive when
/// counter-clockwise).
pub fn signed_area(ring: &[Pt]) -> f64 {
    ring.windows(2)
        .map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1])
        .sum::<f64>()
        / 2.0
}

/// Distances `t` at which the ray `origin + t * dir` (with `dir` a unit
/// vector, `t >= 0`) crosses the ring's edges, unsorted, appended to `out`.
pub fn ray_crossings(ring: &[Pt], origin: Pt, dir: Pt, out: &mut Vec<f64>) {
    for w in ring.windows(2) {
        if let Some((t, _)) = ray_segment(origin, dir, w[0], w[1]) {
            out.push(t);
        }
    }
}

/// Intersection of the ray `origin + t * dir` (`t >= 0`) with segment
/// `a`–`b`: `(t, s)` with `s` in `[0, 1]` along the segment.
#[inline]
pub fn ray_segment(origin: Pt, dir: Pt, a: Pt, b: Pt) -> Option<(f64, f64)> {
    let e = [b[0] - a[0], b[1] - a[1]];
    let denom = dir[0] * e[1] - dir[1] * e[0];
    if denom.abs() < 1e-15 {
        return None;
    }
    let w = [a[0] - origin[0], a[1] - origin[1]];
    let t = (w[0] * e[1] - w[1] * e[0]) / denom;
    let s = (w[0] * dir[1] - w[1] * dir[0]) / denom;
    (t >= 0.0 && (0.0..=1.0).contains(&s)).then_some((t, s))
}

/// Whether segments `a`–`b` and `c`–`d` intersect (touching counts).
pub fn segments_intersect(a: Pt, b: Pt, c: Pt, d: Pt) -> bool {
    fn orient(p: Pt, q: Pt, r: Pt) -> f64 {
        (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
    }
    fn on_segment(p: Pt, q: Pt, r: Pt) -> bool {
        r[0] >= p[0].min(q[0])
            && r[0] <= p[0].max(q[0])
            && r[1] >= p[1].min(q[1])
            && r[1] <= p[1].max(q[1])
    }
    let (d1, d2) = (orient(c, d, a), orient(c, d, b));
    let (d3, d4) = (orient(a, b, c), orient(a, b, d));
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    (d1 == 0.0 && on_segment(c, d, a))
        || (d2 == 0.0 && on_segment(c, d, b))
        || (d3 == 0.0 && on_segment(a, b, c))
        || (d4 == 0.0 && on_segment(a, b, d))
}

/// The first pair of edges `(i, j)` of a ring that cross or touch though
/// they are not neighbours (edge `i` runs from point `i` to point `i + 1`),
/// or `None` for a simple ring. Repeated consecutive points are ignored.
/// Quadratic, with a bounding-box test first: event rings are small.
pub fn first_self_crossing(ring: &[Pt]) -> Option<(usize, usize)> {
    // Indices of the distinct consecutive points, kept to report positions
    // in the caller's numbering.
    let mut idx: Vec<usize> = Vec::with_capacity(ring.len());
    for (k, p) in ring.iter().enumerate() {
        if idx.last().is_none_or(|&l| ring[l] != *p) {
            idx.push(k);
        }
    }
    if idx.len() >= 2 && ring[idx[0]] == ring[idx[idx.len() - 1]] {
        idx.pop();
    }
    let n = idx.len();
    if n < 4 {
        return None;
    }
    let edge = |e: usize| (ring[idx[e]], ring[idx[(e + 1) % n]]);
    for i in 0..n {
        let (a, b) = edge(i);
        for j in i + 2..n {
            if i == 0 && j == n - 1 {
                continue; // the closing edge is the first edge's neighbour
            }
            let (c, d) = edge(j);
            if a[0].max(b[0]) < c[0].min(d[0])
                || c[0].max(d[0]) < a[0].min(b[0])
                || a[1].max(b[1]) < c[1].min(d[1])
                || c[1].max(d[1]) < a[1].min(b[1])
            {
                continue;
            }
            if segments_intersect(a, b, c, d) {
                return Some((idx[i], idx[j]));
            }
        }
    }
    None
}

/// Whether any part of the polyline `path` lies inside or on the ring.
pub fn path_touches_ring(ring: &[Pt], path: &[Pt]) -> bool {
    if path.iter().any(|&p| point_in_ring(ring, p)) {
        return true;
    }
    path.windows(2).any(|s| {
        ring.windows(2)
            .any(|e| segments_intersect(s[0], s[1], e[0], e[1]))
    })
}

/// A point inside the ring where its name can stand (geo's interior
/// point: a concave or corridor-shaped ring's centroid may lie outside);
/// `None` for a degenerate ring.
pub fn interior_point(ring: &[Pt]) -> Option<Pt> {
    use geo::InteriorPoint;
    let poly = geo::Polygon::new(
        geo::LineString::from(ring.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>()),
        Vec::new(),
    );
    poly.interior_point().map(|p| [p.x(), p.y()])
}

/// Closes a ring (appends its first point if it is not already last) and
/// checks it has at least three distinct points and finite coordinates.
pub fn closed(mut ring: Vec<Pt>) -> Option<Vec<Pt>> {
    if ring.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
        return None;
    }
    if ring.first() != ring.last() {
        let first = *ring.first()?;
        ring.push(first);
    }
    (ring.len() >= 4).then_some(ring)
}

/// Position along a Hilbert curve of order 16 of cell `(x, y)` (each below
/// 65,536): nearby cells get nearby keys, so sorting by key groups work
/// that touches the same part of the index.
pub fn hilbert(x: u32, y: u32) -> u64 {
    let n: u32 = 1 << 16;
    let (mut x, mut y) = (x.min(n - 1), y.min(n - 1));
    let mut d: u64 = 0;
    let mut s = n / 2;
    while s > 0 {
        let rx = u32::from(x & s > 0);
        let ry = u32::from(y & s > 0);
        d += u64::from(s) * u64::from(s) * u64::from((3 * rx) ^ ry);
        if ry == 0 {
            if rx == 1 {
                x = n - 1 - x;
                y = n - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    d
}

/// Hilbert key of a point within `extent`, quantised to 65,536 steps a side.
pub fn hilbert_key(p: Pt, extent: &Bbox) -> u64 {
    let w = (extent.max_e - extent.min_e).max(1e-9);
    let h = (extent.max_n - extent.min_n).max(1e-9);
    let qx = (((p[0] - extent.min_e) / w) * 65535.0).clamp(0.0, 65535.0) as u32;
    let qy = (((p[1] - extent.min_n) / h) * 65535.0).clamp(0.0, 65535.0) as u32;
    hilbert(qx, qy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interior_point_lies_inside_an_l_shaped_corridor() {
        // Its centroid lies outside; a name placed there would not.
        let l = [
            [0.0, 0.0],
            [100.0, 0.0],
            [100.0, 10.0],
            [10.0, 10.0],
            [10.0, 100.0],
            [0.0, 100.0],
            [0.0, 0.0],
        ];
        let p = interior_point(&l).expect("a point");
        assert!(point_in_ring(&l, p), "{p:?}");
    }

    fn square() -> Vec<Pt> {
        vec![
            [0.0, 0.0],
            [10.0, 0.0],
            [10.0, 10.0],
            [0.0, 10.0],
            [0.0, 0.0],
        ]
    }

    #[test]
    fn self_crossings_are_found_and_simple_rings_pass() {
        assert_eq!(first_self_crossing(&square()), None);
        // Open ring and repeated points are still simple.
        let mut open = square();
        open.pop();
        open.insert(2, [10.0, 0.0]);
        assert_eq!(first_self_crossing(&open), None);
        // A bow tie: edges 0 and 2 cross.
        let bow = vec![
            [0.0, 0.0],
            [10.0, 10.0],
            [10.0, 0.0],
            [0.0, 10.0],
            [0.0, 0.0],
        ];
        assert_eq!(first_self_crossing(&bow), Some((0, 2)));
        // A vertex touching a non-neighbouring edge counts.
        let touch = vec![[0.0, 0.0], [10.0, 0.0], [5.0, 0.0], [5.0, 5.0], [0.0, 0.0]];
        assert!(first_self_crossing(&touch).is_some());
        // A concave but simple ring.
        let l = vec![
            [0.0, 0.0],
            [10.0, 0.0],
            [10.0, 4.0],
            [4.0, 4.0],
            [4.0, 10.0],
            [0.0, 10.0],
        ];
        assert_eq!(first_self_crossing(&l), None);
    }

    #[test]
    fn point_in_square_and_shared_edges_count_once() {
        let sq = square();
        assert!(point_in_ring(&sq, [5.0, 5.0]));
        assert!(!point_in_ring(&sq, [15.0, 5.0]));
        let right: Vec<Pt> = sq.iter().map(|p| [p[0] + 10.0, p[1]]).collect();
        // On the shared edge x = 10: exactly one of the two squares.
        for y in [0.5, 3.0, 9.5] {
            let n = [&sq, &right]
                .iter()
                .filter(|r| point_in_ring(r, [10.0, y]))
                .count();
            assert_eq!(n, 1, "y = {y}");
        }
        assert_eq!(signed_area(&sq), 100.0);
    }

    #[test]
    fn row_crossings_agree_with_point_in_ring() {
        let ring = vec![
            [0.0, 0.0],
            [8.0, 1.0],
            [3.0, 4.0],
            [9.0, 9.0],
            [-1.0, 7.0],
            [0.0, 0.0],
        ];
        let mut xs = Vec::new();
        for yi in 0..40 {
            let y = yi as f64 * 0.25 + 0.1;
            row_crossings(&ring, y, &mut xs);
            for xi in -10..50 {
                let x = xi as f64 * 0.25;
                let by_row = xs.chunks(2).any(|c| c.len() == 2 && c[0] <= x && x < c[1]);
                assert_eq!(by_row, point_in_ring(&ring, [x, y]), "({x}, {y})");
            }
        }
    }

    #[test]
    fn segments_and_paths() {
        assert!(segments_intersect(
            [0.0, 0.0],
            [2.0, 2.0],
            [0.0, 2.0],
            [2.0, 0.0]
        ));
        assert!(!segments_intersect(
            [0.0, 0.0],
            [1.0, 0.0],
            [0.0, 1.0],
            [1.0, 1.0]
        ));
        assert!(path_touches_ring(&square(), &[[-5.0, 5.0], [20.0, 5.0]]));
        assert!(!path_touches_ring(&square(), &[[-5.0, 20.0], [20.0, 20.0]]));
    }

    #[test]
    fn hilbert_neighbours_are_close() {
        assert_eq!(hilbert(0, 0), 0);
        let a = hilbert(100, 100);
        let b = hilbert(101, 100);
        assert!(a.abs_diff(b) < 1000);
    }
}
