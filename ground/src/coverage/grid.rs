//! Point lookups over the fixed cameras: a uniform grid of cells, each
//! listing the polygons that reach it and whether they cover it whole.
//!
//! A point query reads one cell's list (one or two cache lines) and, in
//! most cases, nothing else:
//!
//! - a polygon that covers the cell whole answers with no geometry;
//! - a convex polygon whose border crosses the cell carries, inline, the
//!   few half-planes of the edges that cross it (in `f32`, relative to the
//!   cell's corner): inside the polygon means inside those half-planes;
//! - any other polygon runs the exact ring test on its vertices.
//!
//! Polygons whose box meets the cell but whose shape misses it are not
//! listed.
//!
//! Exactness: a cell is classified against its box grown by [`MARGIN_M`],
//! far above the rounding error of the ring test, so "whole" and "missed"
//! hold for every point the query may place in that cell. A half-plane
//! answer is taken only when the point is farther than [`PLANE_DOUBT_M`]
//! from every line tested (far above `f32` rounding over a cell); closer,
//! the exact ring test decides. So the answers are those of
//! [`point_in_ring`] on every polygon.
//!
//! Why half-planes suffice for a convex polygon `P` and a cell `C` that it
//! meets: if `q` in `C` is outside `P`, the segment from a point of `P ∩ C`
//! to `q` stays in `C` and leaves `P` through an edge that therefore meets
//! `C`, and `q` lies beyond that edge's line.

use super::polygon::{Bbox, Pt, point_in_ring};

/// Cells are classified against their box grown by this much, metres.
const MARGIN_M: f64 = 1e-3;
/// Most cells a grid may have (16 MB of cell starts).
const MAX_CELLS: f64 = 4_000_000.0;
/// Half-plane answers closer than this to a line go to the exact ring
/// test, metres.
const PLANE_DOUBT_M: f32 = 1e-4;
/// Most half-planes carried inline for one polygon in one cell.
const MAX_PLANES: usize = 6;
/// Header kind: the polygon covers the cell whole.
const KIND_WHOLE: u32 = 0;
/// Header kind: exact ring test; two words follow (first vertex, count).
const KIND_RING: u32 = 15;
/// Header bits holding the polygon position.
const POS_BITS: u32 = 28;
/// Largest polygon position a header holds.
pub(crate) const MAX_POLYGONS: usize = 1 << POS_BITS;

/// Target cell side, as a fraction of the median polygon box side: small
/// enough that most listed polygons cover the cell whole.
const CELL_PER_SIDE: f64 = 0.25;

/// The grid over a set of rings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Grid {
    /// South-west corner of cell (0, 0), local metres.
    origin: Pt,
    /// Cell side, metres.
    cell_m: f64,
    /// `1 / cell_m`.
    inv_cell: f64,
    /// Cells west to east.
    nx: usize,
    /// Cells south to north.
    ny: usize,
    /// Start of each cell's words (row-major); one more than cells.
    starts: Vec<u32>,
    /// Every cell's entries, cell after cell. An entry is a header word
    /// (`kind << 28 | position`), then for kind 1..=[`MAX_PLANES`] that
    /// many half-planes of three `f32` words `[a, b, c]` (outside when
    /// `a·x + b·y > c`, `(x, y)` relative to the cell's south-west
    /// corner), for [`KIND_RING`] the ring's first vertex and count.
    words: Vec<u32>,
    /// Listed (cell, polygon) pairs, and how many cover their cell whole.
    counts: (usize, usize),
}

impl Grid {
    /// Builds the grid over rings stored flat in `verts`, ring `i` being
    /// `verts[offsets[i]..offsets[i + 1]]` with box `boxes[i]`.
    pub(crate) fn build(verts: &[Pt], offsets: &[u32], boxes: &[Bbox]) -> Grid {
        let mut extent = Bbox::EMPTY;
        boxes.iter().for_each(|b| extent.union(b));
        if boxes.is_empty() || extent.is_empty() {
            return Grid::default();
        }
        let (w, h) = (extent.max_e - extent.min_e, extent.max_n - extent.min_n);
        let mut sides: Vec<f64> = boxes
            .iter()
            .map(|b| (b.max_e - b.min_e).max(b.max_n - b.min_n))
            .collect();
        let mid = sides.len() / 2;
        let median = *sides.select_nth_unstable_by(mid, f64::total_cmp).1;
        let mut cell_m = (median * CELL_PER_SIDE)
            .max(((w + MARGIN_M) * (h + MARGIN_M) / MAX_CELLS).sqrt())
            .max(0.01);
        // Bound the entries too: about 64 listed cells per polygon at most.
        let budget = 64.0 * boxes.len() as f64 + 1e6;
        while boxes
            .iter()
            .map(|b| ((b.max_e - b.min_e) / cell_m + 2.0) * ((b.max_n - b.min_n) / cell_m + 2.0))
            .sum::<f64>()
            > budget
        {
            cell_m *= 1.5;
        }
        let nx = (w / cell_m).floor() as usize + 1;
        let ny = (h / cell_m).floor() as usize + 1;
        let mut grid = Grid {
            origin: [extent.min_e, extent.min_n],
            cell_m,
            inv_cell: 1.0 / cell_m,
            nx,
            ny,
            ..Grid::default()
        };

        // Pass 1: each polygon's words per cell, tagged with the cell.
        let mut listed: Vec<(u32, u32, u32)> = Vec::new(); // (cell, from, to) in `scratch`
        let mut scratch: Vec<u32> = Vec::new();
        let mut crossing = Vec::new();
        let (mut pairs, mut whole) = (0usize, 0usize);
        for (i, b) in boxes.iter().enumerate() {
            let (start, end) = (offsets[i], offsets[i + 1]);
            let ring = &verts[start as usize..end as usize];
            let outward = convex_outward(ring);
            let (x0, x1) = grid.cols(b.min_e - MARGIN_M, b.max_e + MARGIN_M);
            let (y0, y1) = grid.rows(b.min_n - MARGIN_M, b.max_n + MARGIN_M);
            for cy in y0..=y1 {
                for cx in x0..=x1 {
                    let cell = grid.cell_box(cx, cy);
                    edges_meeting(ring, &cell, &mut crossing);
                    let from = scratch.len() as u32;
                    let pos = i as u32;
                    if crossing.is_empty() {
                        if !point_in_ring(ring, cell.centre()) {
                            continue;
                        }
                        scratch.push(KIND_WHOLE << POS_BITS | pos);
                        whole += 1;
                    } else if let Some(sign) = outward
                        && crossing.len() <= MAX_PLANES
                    {
                        scratch.push((crossing.len() as u32) << POS_BITS | pos);
                        let corner = [cell.min_e + MARGIN_M, cell.min_n + MARGIN_M];
                        for &k in &crossing {
                            let (p, q) = (ring[k], ring[k + 1]);
                            let (dx, dy) = (q[0] - p[0], q[1] - p[1]);
                            let len = (dx * dx + dy * dy).sqrt();
                            let (a, b) = (-sign * dy / len, sign * dx / len);
                            let c = a * (p[0] - corner[0]) + b * (p[1] - corner[1]);
                            scratch.extend([a as f32, b as f32, c as f32].map(f32::to_bits));
                        }
                    } else {
                        scratch.extend([KIND_RING << POS_BITS | pos, start, end - start]);
                    }
                    pairs += 1;
                    listed.push(((cy * nx + cx) as u32, from, scratch.len() as u32));
                }
            }
        }
        // Pass 2: counting sort by cell; within a cell, polygons stay in
        // position order.
        let mut starts = vec![0u32; nx * ny + 1];
        for &(c, from, to) in &listed {
            starts[c as usize + 1] += to - from;
        }
        for k in 1..starts.len() {
            starts[k] += starts[k - 1];
        }
        let mut next = starts.clone();
        let mut words = vec![0u32; scratch.len()];
        for (c, from, to) in listed {
            let at = next[c as usize] as usize;
            words[at..at + (to - from) as usize]
                .copy_from_slice(&scratch[from as usize..to as usize]);
            next[c as usize] += to - from;
        }
        grid.starts = starts;
        grid.words = words;
        grid.counts = (pairs, whole);
        grid
    }

    /// Columns whose cells meet `[lo, hi]` (clamped to the grid).
    fn cols(&self, lo: f64, hi: f64) -> (usize, usize) {
        let f = |v: f64| {
            ((v - self.origin[0]) * self.inv_cell)
                .floor()
                .clamp(0.0, (self.nx - 1) as f64) as usize
        };
        (f(lo), f(hi))
    }

    /// Rows whose cells meet `[lo, hi]` (clamped to the grid).
    fn rows(&self, lo: f64, hi: f64) -> (usize, usize) {
        let f = |v: f64| {
            ((v - self.origin[1]) * self.inv_cell)
                .floor()
                .clamp(0.0, (self.ny - 1) as f64) as usize
        };
        (f(lo), f(hi))
    }

    /// Box of cell `(cx, cy)` grown by [`MARGIN_M`].
    fn cell_box(&self, cx: usize, cy: usize) -> Bbox {
        let e = self.origin[0] + cx as f64 * self.cell_m;
        let n = self.origin[1] + cy as f64 * self.cell_m;
        Bbox {
            min_e: e - MARGIN_M,
            min_n: n - MARGIN_M,
            max_e: e + self.cell_m + MARGIN_M,
            max_n: n + self.cell_m + MARGIN_M,
        }
    }

    /// Calls `f(pos)` for each polygon containing `p`; rings as given to
    /// [`Grid::build`].
    #[inline]
    pub(crate) fn at_point(&self, verts: &[Pt], offsets: &[u32], p: Pt, f: &mut impl FnMut(u32)) {
        let fx = (p[0] - self.origin[0]) * self.inv_cell;
        let fy = (p[1] - self.origin[1]) * self.inv_cell;
        // Also false for NaN.
        if !(fx >= 0.0 && fy >= 0.0 && fx < self.nx as f64 && fy < self.ny as f64) {
            return;
        }
        let (cx, cy) = (fx as usize, fy as usize);
        let c = cy * self.nx + cx;
        let words = &self.words[self.starts[c] as usize..self.starts[c + 1] as usize];
        // The point relative to the cell's south-west corner.
        let x = (p[0] - (self.origin[0] + cx as f64 * self.cell_m)) as f32;
        let y = (p[1] - (self.origin[1] + cy as f64 * self.cell_m)) as f32;
        let exact = |pos: u32| {
            let (a, b) = (
                offsets[pos as usize] as usize,
                offsets[pos as usize + 1] as usize,
            );
            point_in_ring(&verts[a..b], p)
        };
        let mut k = 0;
        while k < words.len() {
            let head = words[k];
            let (kind, pos) = (head >> POS_BITS, head & (MAX_POLYGONS as u32 - 1));
            k += 1;
            let inside = match kind {
                KIND_WHOLE => true,
                KIND_RING => {
                    let (a, n) = (words[k] as usize, words[k + 1] as usize);
                    k += 2;
                    point_in_ring(&verts[a..a + n], p)
                }
                planes => {
                    let end = k + 3 * planes as usize;
                    let mut worst = f32::NEG_INFINITY;
                    for w in words[k..end].chunks_exact(3) {
                        let d = f32::from_bits(w[0]) * x + f32::from_bits(w[1]) * y
                            - f32::from_bits(w[2]);
                        worst = worst.max(d);
                    }
                    k = end;
                    if worst < -PLANE_DOUBT_M {
                        true
                    } else if worst > PLANE_DOUBT_M {
                        false
                    } else {
                        exact(pos)
                    }
                }
            };
            if inside {
                f(pos);
            }
        }
    }

    /// Number of listed (cell, polygon) pairs, and how many of them cover
    /// their cell whole.
    #[cfg(test)]
    pub(crate) fn entry_counts(&self) -> (usize, usize) {
        self.counts
    }
}

/// Indices `k` of the edges `ring[k]`–`ring[k + 1]` that meet the box `b`
/// (touching counts), into `out` (cleared first). Errs towards listing an
/// edge, which only costs a test later.
fn edges_meeting(ring: &[Pt], b: &Bbox, out: &mut Vec<usize>) {
    out.clear();
    for (k, w) in ring.windows(2).enumerate() {
        let (a, c) = (w[0], w[1]);
        if a[0].max(c[0]) < b.min_e
            || a[0].min(c[0]) > b.max_e
            || a[1].max(c[1]) < b.min_n
            || a[1].min(c[1]) > b.max_n
        {
            continue;
        }
        // The segment's box meets the box: the segment misses it only if
        // all four corners lie strictly on one side of its line.
        let side = |q: Pt| (c[0] - a[0]) * (q[1] - a[1]) - (c[1] - a[1]) * (q[0] - a[0]);
        let s = [
            side([b.min_e, b.min_n]),
            side([b.max_e, b.min_n]),
            side([b.max_e, b.max_n]),
            side([b.min_e, b.max_n]),
        ];
        if !(s.iter().all(|&v| v > 0.0) || s.iter().all(|&v| v < 0.0)) {
            out.push(k);
        }
    }
}

/// For a strictly convex simple ring with no repeated vertex, the sign that
/// turns an edge's left normal outward (`1` for clockwise, `-1` for
/// counter-clockwise); `None` for any other ring.
fn convex_outward(ring: &[Pt]) -> Option<f64> {
    let n = ring.len().checked_sub(1)?;
    if n < 3 || ring.first() != ring.last() {
        return None;
    }
    let mut turn = 0.0f64;
    let mut sign = 0.0f64;
    for k in 0..n {
        let (a, b, c) = (ring[k], ring[k + 1], ring[(k + 2) % n]);
        let (u, v) = ([b[0] - a[0], b[1] - a[1]], [c[0] - b[0], c[1] - b[1]]);
        let cross = u[0] * v[1] - u[1] * v[0];
        // Strict turns only: collinear or repeated vertices take the
        // exact path, where no degenerate normal can mislead.
        if cross == 0.0 || (sign != 0.0 && cross.signum() != sign) {
            return None;
        }
        sign = cross.signum();
        turn += cross.atan2(u[0] * v[0] + u[1] * v[1]);
    }
    // One full turn, not two or more (a star winds several times).
    ((turn.abs() - std::f64::consts::TAU).abs() < 1e-6).then_some(-sign)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

    fn flat(rings: &[Vec<Pt>]) -> (Vec<Pt>, Vec<u32>, Vec<Bbox>) {
        let mut verts = Vec::new();
        let mut offsets = vec![0];
        for r in rings {
            verts.extend_from_slice(r);
            offsets.push(verts.len() as u32);
        }
        (verts, offsets, rings.iter().map(|r| Bbox::of(r)).collect())
    }

    #[test]
    fn whole_cells_need_no_geometry() {
        let big = vec![
            [0.0, 0.0],
            [100.0, 0.0],
            [100.0, 100.0],
            [0.0, 100.0],
            [0.0, 0.0],
        ];
        let small = vec![[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [0.0, 0.0]];
        let (v, o, b) = flat(&[big, small.clone()]);
        let g = Grid::build(&v, &o, &b);
        let (all, whole) = g.entry_counts();
        // 25 m cells over the 100 m square: the 4 inner cells are whole.
        assert!(whole >= 4, "{whole} of {all} listed pairs are whole");
        let hits = |p: Pt| {
            let mut h = Vec::new();
            g.at_point(&v, &o, p, &mut |i| h.push(i));
            h
        };
        assert_eq!(hits([50.0, 50.0]), [0]);
        assert_eq!(hits([0.5, 0.5]), [0, 1]);
        assert!(hits([150.0, 50.0]).is_empty());
        assert!(hits([f64::NAN, 1.0]).is_empty());
        assert_eq!(convex_outward(&small), Some(-1.0), "counter-clockwise");
        let bow = vec![[0.0, 0.0], [2.0, 2.0], [2.0, 0.0], [0.0, 2.0], [0.0, 0.0]];
        assert_eq!(convex_outward(&bow), None);
    }

    /// Convex rings (points on a circle, either way round), rings that
    /// are neither convex nor simple, and points on and near edges and
    /// vertices as well as anywhere.
    fn ring() -> impl Strategy<Value = Vec<Pt>> {
        prop_oneof![convex(), any_ring()]
    }

    fn convex() -> impl Strategy<Value = Vec<Pt>> {
        (
            -200.0..200.0f64,
            -200.0..200.0f64,
            1.0..80.0f64,
            proptest::collection::vec(0.0..std::f64::consts::TAU, 3..14),
            any::<bool>(),
        )
            .prop_map(|(e, n, r, mut angles, clockwise)| {
                angles.sort_by(f64::total_cmp);
                if clockwise {
                    angles.reverse();
                }
                let mut ring: Vec<Pt> = angles
                    .iter()
                    .map(|a| [e + r * a.cos(), n + r * a.sin()])
                    .collect();
                ring.push(ring[0]);
                ring
            })
    }

    fn any_ring() -> impl Strategy<Value = Vec<Pt>> {
        (
            -200.0..200.0f64,
            -200.0..200.0f64,
            proptest::collection::vec((-60.0..60.0f64, -60.0..60.0f64), 3..12),
        )
            .prop_map(|(e, n, pts)| {
                let mut r: Vec<Pt> = pts.iter().map(|&(x, y)| [e + x, n + y]).collect();
                r.push(r[0]);
                r
            })
    }

    proptest! {
        #![proptest_config(Config { cases: 64, rng_seed: RngSeed::Fixed(0x6121D), ..Config::default() })]

        /// The grid answers exactly what testing every ring would, even for
        /// points on vertices, on edges and a hair away from them.
        #[test]
        fn grid_matches_brute_force(
            rings in proptest::collection::vec(ring(), 1..40),
            points in proptest::collection::vec((-300.0..300.0f64, -300.0..300.0f64), 100),
            picks in proptest::collection::vec((0usize..1000, 0.0..1.0f64, -1e-6..1e-6f64), 100),
        ) {
            let (v, o, b) = flat(&rings);
            let g = Grid::build(&v, &o, &b);
            let mut queries: Vec<Pt> = points.iter().map(|&(x, y)| [x, y]).collect();
            for (k, t, d) in picks {
                let r = &rings[k % rings.len()];
                let j = k % (r.len() - 1);
                let (a, c) = (r[j], r[j + 1]);
                queries.push(a);
                queries.push([a[0] + t * (c[0] - a[0]), a[1] + t * (c[1] - a[1])]);
                queries.push([a[0] + t * (c[0] - a[0]) + d, a[1] + t * (c[1] - a[1]) - d]);
            }
            for p in queries {
                let mut got = Vec::new();
                g.at_point(&v, &o, p, &mut |i| got.push(i));
                let want: Vec<u32> = (0..rings.len() as u32)
                    .filter(|&i| point_in_ring(&rings[i as usize], p))
                    .collect();
                prop_assert_eq!(got, want, "at {:?}", p);
            }
        }
    }
}
