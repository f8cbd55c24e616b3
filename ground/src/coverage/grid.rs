//! Point lookups over the fixed cameras: a uniform grid of cells, each
//! listing the polygons that reach it and whether they cover it whole.
//!
//! A point query reads one cell's list (one or two cache lines): polygons
//! that cover the cell whole answer with no geometry at all, and only the
//! polygons whose border crosses the cell run the exact ring test. Polygons
//! whose box meets the cell but whose shape misses it are not listed.
//!
//! Exactness: a cell is classified against its box grown by [`MARGIN_M`],
//! far above the rounding error of the ring test, so "whole" and "missed"
//! hold for every point the query may place in that cell, and the answers
//! are those of [`point_in_ring`] on every polygon.

use super::polygon::{Bbox, Pt, point_in_ring};

/// Cells are classified against their box grown by this much, metres.
const MARGIN_M: f64 = 1e-3;
/// Most cells a grid may have (16 MB of cell starts).
const MAX_CELLS: f64 = 4_000_000.0;
/// Target cell side, as a fraction of the median polygon box side: small
/// enough that most listed polygons cover the cell whole.
const CELL_PER_SIDE: f64 = 0.25;

/// One polygon listed in a cell.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    /// Polygon position (the source slot).
    pos: u32,
    /// First vertex of its ring in the shared vertex array.
    start: u32,
    /// Vertex count of its ring; 0 when the polygon covers the cell whole.
    len: u32,
}

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
    /// Start of each cell's entries (row-major); one more than cells.
    starts: Vec<u32>,
    /// Every cell's entries, cell after cell.
    entries: Vec<Entry>,
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

        let mut listed: Vec<(u32, Entry)> = Vec::new();
        for (i, b) in boxes.iter().enumerate() {
            let (start, end) = (offsets[i], offsets[i + 1]);
            let ring = &verts[start as usize..end as usize];
            let (x0, x1) = grid.cols(b.min_e - MARGIN_M, b.max_e + MARGIN_M);
            let (y0, y1) = grid.rows(b.min_n - MARGIN_M, b.max_n + MARGIN_M);
            for cy in y0..=y1 {
                for cx in x0..=x1 {
                    let cell = grid.cell_box(cx, cy);
                    let len = if edges_meet(ring, &cell) {
                        end - start
                    } else if point_in_ring(ring, cell.centre()) {
                        0
                    } else {
                        continue;
                    };
                    listed.push((
                        (cy * nx + cx) as u32,
                        Entry {
                            pos: i as u32,
                            start,
                            len,
                        },
                    ));
                }
            }
        }
        // Counting sort by cell; within a cell, polygons stay in position
        // order (whole covers first would save nothing: both are read).
        let mut starts = vec![0u32; nx * ny + 1];
        for (c, _) in &listed {
            starts[*c as usize + 1] += 1;
        }
        for k in 1..starts.len() {
            starts[k] += starts[k - 1];
        }
        let mut next = starts.clone();
        let mut entries = vec![
            Entry {
                pos: 0,
                start: 0,
                len: 0
            };
            listed.len()
        ];
        for (c, e) in listed {
            entries[next[c as usize] as usize] = e;
            next[c as usize] += 1;
        }
        grid.starts = starts;
        grid.entries = entries;
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

    /// Calls `f(pos)` for each polygon containing `p`.
    #[inline]
    pub(crate) fn at_point(&self, verts: &[Pt], p: Pt, f: &mut impl FnMut(u32)) {
        let fx = (p[0] - self.origin[0]) * self.inv_cell;
        let fy = (p[1] - self.origin[1]) * self.inv_cell;
        // Also false for NaN.
        if !(fx >= 0.0 && fy >= 0.0 && fx < self.nx as f64 && fy < self.ny as f64) {
            return;
        }
        let c = fy as usize * self.nx + fx as usize;
        let (a, b) = (self.starts[c] as usize, self.starts[c + 1] as usize);
        for e in &self.entries[a..b] {
            if e.len == 0 || point_in_ring(&verts[e.start as usize..(e.start + e.len) as usize], p)
            {
                f(e.pos);
            }
        }
    }

    /// Cell side, metres (0 for an empty grid).
    pub(crate) fn cell_m(&self) -> f64 {
        self.cell_m
    }

    /// Number of listed (cell, polygon) pairs, and how many of them cover
    /// their cell whole.
    pub(crate) fn entry_counts(&self) -> (usize, usize) {
        (
            self.entries.len(),
            self.entries.iter().filter(|e| e.len == 0).count(),
        )
    }
}

/// Whether any edge of `ring` meets the box `b` (touching counts). Errs
/// towards `true`, which only costs an exact ring test later.
fn edges_meet(ring: &[Pt], b: &Bbox) -> bool {
    ring.windows(2).any(|w| {
        let (a, c) = (w[0], w[1]);
        if a[0].max(c[0]) < b.min_e
            || a[0].min(c[0]) > b.max_e
            || a[1].max(c[1]) < b.min_n
            || a[1].min(c[1]) > b.max_n
        {
            return false;
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
        !(s.iter().all(|&v| v > 0.0) || s.iter().all(|&v| v < 0.0))
    })
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
        let (v, o, b) = flat(&[big, small]);
        let g = Grid::build(&v, &o, &b);
        let (all, whole) = g.entry_counts();
        // 25 m cells over the 100 m square: the 4 inner cells are whole.
        assert!(whole >= 4, "{whole} of {all} listed pairs are whole");
        let hits = |p: Pt| {
            let mut h = Vec::new();
            g.at_point(&v, p, &mut |i| h.push(i));
            h
        };
        assert_eq!(hits([50.0, 50.0]), [0]);
        assert_eq!(hits([0.5, 0.5]), [0, 1]);
        assert!(hits([150.0, 50.0]).is_empty());
        assert!(hits([f64::NAN, 1.0]).is_empty());
    }

    /// Rings that are neither convex nor simple, and points on and near
    /// edges and vertices as well as anywhere.
    fn ring() -> impl Strategy<Value = Vec<Pt>> {
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
                g.at_point(&v, p, &mut |i| got.push(i));
                let want: Vec<u32> = (0..rings.len() as u32)
                    .filter(|&i| point_in_ring(&rings[i as usize], p))
                    .collect();
                prop_assert_eq!(got, want, "at {:?}", p);
            }
        }
    }
}
