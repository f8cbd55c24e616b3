//! The questions operators ask of the index: who sees P (ranked by pixel
//! density), how much of a zone is covered and where the gaps are, and which
//! source could see P soonest.
//!
//! Every query applies the privacy masks first: a masked point has no
//! answer, a masked cell is neither covered nor a gap.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::camera::Tier;
#[cfg(doc)]
use super::camera::pixel_density;
use super::index::CoverageIndex;
use super::polygon::{Bbox, Pt, hilbert_key, ray_crossings, row_crossings};
use super::{Network, SourceKind};

/// Pan speed assumed for PTZ cameras, degrees per second.
pub const PTZ_SLEW_DEG_S: f64 = 60.0;
/// Time for a PTZ camera to settle and focus after turning, seconds.
pub const PTZ_SETTLE_S: f64 = 1.0;
/// Largest zone raster a query may ask for, cells (100 km² at 2 m).
pub const MAX_ZONE_CELLS: usize = 25_000_000;

/// One source that sees a point, by slot (see [`describe`] for ids).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Source slot in the index.
    pub slot: u32,
    /// Pixel density at the point, pixels per metre.
    pub density_px_m: f64,
    /// Slant distance from the camera to the point, metres.
    pub distance_m: f64,
}

/// A source that sees a point, as answered to operators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sighting {
    /// Source id.
    pub id: String,
    /// Kind of source.
    pub kind: SourceKind,
    /// Owner network.
    pub network: Network,
    /// Pixel density at the point, pixels per metre.
    pub density_px_m: f64,
    /// Highest IEC 62676-4 tier reached at the point, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// Slant distance from the camera, metres.
    pub distance_m: f64,
}

#[inline]
fn hit(index: &CoverageIndex, slot: u32, p: Pt) -> Hit {
    // Density falls as 1/distance: density at 1 m over the distance (as
    // [`pixel_density`], which floors the distance at 0.1 m).
    let [e, n, h2, at_1m] = index.rank_data(slot);
    let (de, dn) = (p[0] - e, p[1] - n);
    let distance_m = (de * de + dn * dn + h2).sqrt();
    Hit {
        slot,
        density_px_m: at_1m / distance_m.max(0.1),
        distance_m,
    }
}

fn rank(hits: &mut [Hit]) {
    hits.sort_unstable_by(|a, b| {
        b.density_px_m
            .total_cmp(&a.density_px_m)
            .then(a.slot.cmp(&b.slot))
    });
}

/// Who sees `p` now, best pixel density first, appended to `out` (cleared
/// first). Returns `false` when `p` is inside a privacy mask (and `out`
/// stays empty).
pub fn who_sees(index: &CoverageIndex, p: Pt, out: &mut Vec<Hit>) -> bool {
    out.clear();
    if index.masks().masks(p) {
        return false;
    }
    index.covering(p, |slot| out.push(hit(index, slot, p)));
    rank(out);
    true
}

/// Answers for many points at once, in the order given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Hits of point `i` are `hits[offsets[i]..offsets[i + 1]]`, ranked.
    pub offsets: Vec<u32>,
    /// Every hit, grouped by point.
    pub hits: Vec<Hit>,
    /// Whether each point was inside a privacy mask.
    pub masked: Vec<bool>,
}

impl Batch {
    /// Hits of point `i`, best first.
    pub fn of(&self, i: usize) -> &[Hit] {
        &self.hits[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
}

/// Who sees each of `points`. Points are visited along a Hilbert curve so
/// that consecutive queries walk the same part of the index, then the
/// answers are put back in the caller's order.
pub fn who_sees_batch(index: &CoverageIndex, points: &[Pt]) -> Batch {
    let extent = Bbox::of(points);
    let mut order: Vec<(u64, u32)> = points
        .iter()
        .enumerate()
        .map(|(i, &p)| (hilbert_key(p, &extent), i as u32))
        .collect();
    order.sort_unstable();
    let mut masked = vec![false; points.len()];
    let mut counts = vec![0u32; points.len() + 1];
    let mut found: Vec<(u32, Hit)> = Vec::with_capacity(points.len() * 2);
    for &(_, i) in &order {
        let p = points[i as usize];
        if index.masks().masks(p) {
            masked[i as usize] = true;
            continue;
        }
        let start = found.len();
        index.covering(p, |slot| found.push((i, hit(index, slot, p))));
        counts[i as usize + 1] = (found.len() - start) as u32;
    }
    // Counting sort back into the caller's order.
    for k in 1..counts.len() {
        counts[k] += counts[k - 1];
    }
    let offsets = counts.clone();
    let mut hits = vec![
        Hit {
            slot: 0,
            density_px_m: 0.0,
            distance_m: 0.0
        };
        found.len()
    ];
    let mut next = counts;
    for (i, h) in found {
        hits[next[i as usize] as usize] = h;
        next[i as usize] += 1;
    }
    for i in 0..points.len() {
        rank(&mut hits[offsets[i] as usize..offsets[i + 1] as usize]);
    }
    Batch {
        offsets,
        hits,
        masked,
    }
}

/// Hits with their sources' ids, kinds and networks.
pub fn describe(index: &CoverageIndex, hits: &[Hit]) -> Vec<Sighting> {
    hits.iter()
        .map(|h| {
            let s = index.source(h.slot);
            Sighting {
                id: s.id.clone(),
                kind: s.kind,
                network: s.network,
                density_px_m: h.density_px_m,
                tier: Tier::reached(h.density_px_m),
                distance_m: h.distance_m,
            }
        })
        .collect()
}

/// Coverage of a zone, measured on a grid of square cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneReport {
    /// Cell side, metres.
    pub cell_m: f64,
    /// Zone area (cells whose centre is in the zone), square metres.
    pub zone_m2: f64,
    /// Part of the zone under privacy masks, square metres.
    pub masked_m2: f64,
    /// Part of the zone inside building footprints, square metres.
    pub buildings_m2: f64,
    /// Open ground: the zone minus masks and buildings, square metres.
    pub open_m2: f64,
    /// Open ground seen by at least one source, square metres.
    pub covered_m2: f64,
    /// `covered_m2 / open_m2` (0 when there is no open ground).
    pub covered_fraction: f64,
    /// Fraction of open ground seen by each kind of source.
    pub by_kind: BTreeMap<SourceKind, f64>,
    /// Fraction of open ground seen by each network.
    pub by_network: BTreeMap<Network, f64>,
    /// Number of sources whose coverage reaches the zone.
    pub sources: usize,
    /// Number of separate gaps (4-connected uncovered open cells).
    pub gap_count: usize,
    /// Largest gaps first, at most the number asked for.
    pub gaps: Vec<Gap>,
}

/// One gap: connected open ground nobody sees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// Area, square metres.
    pub area_m2: f64,
    /// Centroid in the local frame, `[east_m, north_m]`.
    pub centroid: Pt,
    /// The gap as a union of non-overlapping cell-aligned rectangles
    /// `[[min_e, min_n], [max_e, max_n]]`, local frame.
    pub rects: Vec<[Pt; 2]>,
}

/// Why a zone query was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZoneError {
    /// The zone ring is degenerate.
    #[error("the zone polygon needs at least 3 distinct points with finite coordinates")]
    Degenerate,
    /// The cell size is not positive.
    #[error("cell size {0} m must be above 0")]
    Cell(f64),
    /// Too many cells.
    #[error(
        "the zone needs {0} cells at this cell size, above the limit of {MAX_ZONE_CELLS}: use larger cells or a smaller zone"
    )]
    TooLarge(usize),
}

const ZONE: u16 = 1;
const MASK: u16 = 2;
const BUILDING: u16 = 4;
const KIND0: u16 = 8;
const NET0: u16 = 64;
const ANY_KIND: u16 = 8 | 16 | 32;

/// A raster of flags over the zone's box.
struct Raster {
    /// Centre of cell (0, 0) minus half a cell: the box's south-west corner.
    origin: Pt,
    /// Cell side, metres.
    cell: f64,
    /// Columns.
    cols: usize,
    /// Rows.
    rows: usize,
    /// Flags per cell, row-major from the south.
    flags: Vec<u16>,
    /// Scratch for crossings.
    xs: Vec<f64>,
}

impl Raster {
    #[inline]
    fn cx(&self, i: usize) -> f64 {
        self.origin[0] + (i as f64 + 0.5) * self.cell
    }

    #[inline]
    fn cy(&self, j: usize) -> f64 {
        self.origin[1] + (j as f64 + 0.5) * self.cell
    }

    /// First column whose centre is at or east of `x`.
    fn first_col_at_or_after(&self, x: f64) -> usize {
        let mut i = ((x - self.origin[0]) / self.cell - 0.5)
            .ceil()
            .clamp(0.0, self.cols as f64) as usize;
        while i > 0 && self.cx(i - 1) >= x {
            i -= 1;
        }
        while i < self.cols && self.cx(i) < x {
            i += 1;
        }
        i
    }

    /// Sets `bit` on every cell whose centre is inside `ring`, exactly as
    /// [`point_in_ring`] would answer at that centre.
    fn fill(&mut self, ring: &[Pt], bit: u16) {
        let b = Bbox::of(ring);
        let j0 = ((b.min_n - self.origin[1]) / self.cell - 0.5)
            .floor()
            .max(0.0) as usize;
        let j1 = (((b.max_n - self.origin[1]) / self.cell + 0.5)
            .ceil()
            .max(0.0) as usize)
            .min(self.rows);
        let mut xs = std::mem::take(&mut self.xs);
        for j in j0..j1 {
            row_crossings(ring, self.cy(j), &mut xs);
            for pair in xs.chunks_exact(2) {
                let (a, c) = (
                    self.first_col_at_or_after(pair[0]),
                    self.first_col_at_or_after(pair[1]),
                );
                let row = &mut self.flags[j * self.cols..(j + 1) * self.cols];
                for f in &mut row[a..c] {
                    *f |= bit;
                }
            }
        }
        self.xs = xs;
    }
}

/// Coverage of `zone` (a closed local ring) on cells of `cell_m` metres:
/// fractions of open ground seen, by kind and by network, and the gaps
/// (`max_gaps` largest, those of at least `min_gap_m2`).
pub fn zone_coverage(
    index: &CoverageIndex,
    zone: &[Pt],
    cell_m: f64,
    max_gaps: usize,
    min_gap_m2: f64,
) -> Result<ZoneReport, ZoneError> {
    if !(cell_m > 0.0 && cell_m.is_finite()) {
        return Err(ZoneError::Cell(cell_m));
    }
    if zone.len() < 4 || zone.iter().any(|p| !p[0].is_finite() || !p[1].is_finite()) {
        return Err(ZoneError::Degenerate);
    }
    let bbox = Bbox::of(zone);
    let cols = ((bbox.max_e - bbox.min_e) / cell_m).ceil().max(1.0) as usize;
    let rows = ((bbox.max_n - bbox.min_n) / cell_m).ceil().max(1.0) as usize;
    let cells = cols.saturating_mul(rows);
    if cells > MAX_ZONE_CELLS {
        return Err(ZoneError::TooLarge(cells));
    }
    let mut r = Raster {
        origin: [bbox.min_e, bbox.min_n],
        cell: cell_m,
        cols,
        rows,
        flags: vec![0; cells],
        xs: Vec::new(),
    };
    r.fill(zone, ZONE);
    for m in index.masks().rings() {
        if Bbox::of(m).intersects(&bbox) {
            r.fill(m, MASK);
        }
    }
    if let Some(b) = index.buildings() {
        for building in b.in_box(&bbox) {
            r.fill(&building.ring, BUILDING);
        }
    }
    let mut sources = 0usize;
    let mut covering: Vec<(u32, u16)> = Vec::new();
    index.in_box(&bbox, |slot, _| covering.push((slot, 0)));
    for (slot, bits) in &mut covering {
        let s = index.source(*slot);
        let kind = SourceKind::ALL
            .iter()
            .position(|k| *k == s.kind)
            .unwrap_or(0);
        let net = Network::ALL
            .iter()
            .position(|n| *n == s.network)
            .unwrap_or(0);
        *bits = (KIND0 << kind) | (NET0 << net);
    }
    for (slot, bits) in covering {
        r.fill(index.ring(slot), bits);
        sources += 1;
    }
    // Count.
    let cell_area = cell_m * cell_m;
    let (mut zone_n, mut masked_n, mut building_n, mut open_n, mut covered_n) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    let mut kind_n = [0usize; 3];
    let mut net_n = [0usize; 7];
    for &f in &r.flags {
        if f & ZONE == 0 {
            continue;
        }
        zone_n += 1;
        if f & MASK != 0 {
            masked_n += 1;
            continue;
        }
        if f & BUILDING != 0 {
            building_n += 1;
            continue;
        }
        open_n += 1;
        if f & ANY_KIND != 0 {
            covered_n += 1;
            for (k, n) in kind_n.iter_mut().enumerate() {
                *n += usize::from(f & (KIND0 << k) != 0);
            }
            for (k, n) in net_n.iter_mut().enumerate() {
                *n += usize::from(f & (NET0 << k) != 0);
            }
        }
    }
    let frac = |n: usize| {
        if open_n == 0 {
            0.0
        } else {
            n as f64 / open_n as f64
        }
    };
    let (gap_count, gaps) = gaps(&r, max_gaps, min_gap_m2);
    Ok(ZoneReport {
        cell_m,
        zone_m2: zone_n as f64 * cell_area,
        masked_m2: masked_n as f64 * cell_area,
        buildings_m2: building_n as f64 * cell_area,
        open_m2: open_n as f64 * cell_area,
        covered_m2: covered_n as f64 * cell_area,
        covered_fraction: frac(covered_n),
        by_kind: SourceKind::ALL
            .iter()
            .zip(kind_n)
            .map(|(k, n)| (*k, frac(n)))
            .collect(),
        by_network: Network::ALL
            .iter()
            .zip(net_n)
            .map(|(k, n)| (*k, frac(n)))
            .collect(),
        sources,
        gap_count,
        gaps,
    })
}

/// Whether a cell is open ground nobody sees.
#[inline]
fn is_gap(f: u16) -> bool {
    f & (ZONE | MASK | BUILDING | ANY_KIND) == ZONE
}

/// Connected gaps (4-neighbours), largest first.
fn gaps(r: &Raster, max_gaps: usize, min_gap_m2: f64) -> (usize, Vec<Gap>) {
    let cell_area = r.cell * r.cell;
    let mut seen = vec![false; r.flags.len()];
    let mut stack = Vec::new();
    let mut all: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut count = 0;
    for start in 0..r.flags.len() {
        if seen[start] || !is_gap(r.flags[start]) {
            continue;
        }
        count += 1;
        let mut cells = Vec::new();
        seen[start] = true;
        stack.push(start);
        while let Some(c) = stack.pop() {
            cells.push(c);
            let (i, j) = (c % r.cols, c / r.cols);
            let mut visit = |n: usize| {
                if !seen[n] && is_gap(r.flags[n]) {
                    seen[n] = true;
                    stack.push(n);
                }
            };
            if i > 0 {
                visit(c - 1);
            }
            if i + 1 < r.cols {
                visit(c + 1);
            }
            if j > 0 {
                visit(c - r.cols);
            }
            if j + 1 < r.rows {
                visit(c + r.cols);
            }
        }
        if cells.len() as f64 * cell_area >= min_gap_m2 {
            all.push((cells.len(), cells));
        }
    }
    all.sort_by_key(|g| std::cmp::Reverse(g.0));
    all.truncate(max_gaps);
    let gaps = all
        .into_iter()
        .map(|(n, mut cells)| {
            cells.sort_unstable();
            let (mut se, mut sn) = (0.0, 0.0);
            for &c in &cells {
                se += r.cx(c % r.cols);
                sn += r.cy(c / r.cols);
            }
            Gap {
                area_m2: n as f64 * cell_area,
                centroid: [se / n as f64, sn / n as f64],
                rects: rectangles(r, &cells),
            }
        })
        .collect();
    (count, gaps)
}

/// Cells (sorted row-major) as rectangles: runs along each row, stacked
/// while the run below has the same columns.
fn rectangles(r: &Raster, cells: &[usize]) -> Vec<[Pt; 2]> {
    // (row, first col, end col) runs.
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    for &c in cells {
        let (i, j) = (c % r.cols, c / r.cols);
        match runs.last_mut() {
            Some(run) if run.0 == j && run.2 == i => run.2 = i + 1,
            _ => runs.push((j, i, i + 1)),
        }
    }
    // Open rectangles keyed by columns: (first row, last row).
    let mut open: BTreeMap<(usize, usize), (usize, usize)> = BTreeMap::new();
    let mut done: Vec<(usize, usize, usize, usize)> = Vec::new();
    for (j, a, b) in runs {
        // Close rectangles that did not continue into the previous row.
        let stale: Vec<(usize, usize)> = open
            .iter()
            .filter(|(_, v)| v.1 + 1 < j)
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            if let Some(v) = open.remove(&k) {
                done.push((k.0, k.1, v.0, v.1));
            }
        }
        match open.get_mut(&(a, b)) {
            Some(v) if v.1 + 1 == j => v.1 = j,
            _ => {
                if let Some(v) = open.insert((a, b), (j, j)) {
                    done.push((a, b, v.0, v.1));
                }
            }
        }
    }
    done.extend(open.into_iter().map(|(k, v)| (k.0, k.1, v.0, v.1)));
    done.into_iter()
        .map(|(a, b, j0, j1)| {
            [
                [
                    r.origin[0] + a as f64 * r.cell,
                    r.origin[1] + j0 as f64 * r.cell,
                ],
                [
                    r.origin[0] + b as f64 * r.cell,
                    r.origin[1] + (j1 + 1) as f64 * r.cell,
                ],
            ]
        })
        .collect()
}

/// How soon a source could see a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Eta {
    /// Source id.
    pub id: String,
    /// Kind of source.
    pub kind: SourceKind,
    /// Owner network.
    pub network: Network,
    /// Estimated time until the point is in view, seconds (0: sees it now).
    pub eta_s: f64,
    /// How: `sees_now`, `turn` (PTZ), `fly` (drone), `walk` (tablet).
    pub how: String,
}

/// The sources that could see `p` soonest, best first, at most `limit`.
///
/// A source seeing `p` now counts 0 s. A PTZ camera within range (and in
/// line of sight when buildings are known) turns at [`PTZ_SLEW_DEG_S`] and
/// settles in [`PTZ_SETTLE_S`]. A moving source (drone, tablet) keeps its
/// camera geometry and moves its footprint straight towards `p` at its
/// speed: the distance is how far the footprint must slide until `p` is
/// inside. Empty when `p` is masked.
pub fn soonest(index: &CoverageIndex, p: Pt, limit: usize) -> Vec<Eta> {
    if index.masks().masks(p) {
        return Vec::new();
    }
    let mut now = Vec::new();
    index.covering(p, |slot| now.push(slot));
    let mut out: Vec<(f64, u32, &'static str)> =
        now.iter().map(|&s| (0.0, s, "sees_now")).collect();
    let mut ts = Vec::new();
    for (slot, s) in index.sources() {
        if now.contains(&slot) {
            continue;
        }
        if s.speed_m_s > 0.0 {
            let ring = index.ring(slot);
            let c = centroid(ring);
            let (dx, dy) = (c[0] - p[0], c[1] - p[1]);
            let d = f64::hypot(dx, dy);
            let slide = if d < 1e-9 {
                0.0
            } else {
                ts.clear();
                ray_crossings(ring, p, [dx / d, dy / d], &mut ts);
                ts.iter().copied().fold(d, f64::min)
            };
            let how = if s.kind == SourceKind::Tablet {
                "walk"
            } else {
                "fly"
            };
            out.push((slide / s.speed_m_s, slot, how));
        } else if s.ptz {
            let (de, dn) = (p[0] - s.eye[0], p[1] - s.eye[1]);
            let slant = (de * de + dn * dn + s.height_m * s.height_m).sqrt();
            if slant > s.range_m {
                continue;
            }
            if let Some(b) = index.buildings()
                && !b.line_of_sight(s.eye, s.height_m, p)
            {
                continue;
            }
            let bearing = de.atan2(dn).to_degrees();
            let turn = (bearing - s.heading_deg + 540.0).rem_euclid(360.0) - 180.0;
            out.push((turn.abs() / PTZ_SLEW_DEG_S + PTZ_SETTLE_S, slot, "turn"));
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    out.truncate(limit);
    out.into_iter()
        .map(|(eta_s, slot, how)| {
            let s = index.source(slot);
            Eta {
                id: s.id.clone(),
                kind: s.kind,
                network: s.network,
                eta_s,
                how: how.into(),
            }
        })
        .collect()
}

/// Mean of a closed ring's vertices (the last, repeated, one excluded).
fn centroid(ring: &[Pt]) -> Pt {
    let n = ring.len().saturating_sub(1).max(1);
    let (se, sn) = ring[..n]
        .iter()
        .fold((0.0, 0.0), |a, p| (a.0 + p[0], a.1 + p[1]));
    [se / n as f64, sn / n as f64]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::index::SourceInfo;
    use crate::coverage::mask::Masks;
    use crate::coverage::polygon::point_in_ring;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

    fn info(id: &str, kind: SourceKind, network: Network, eye: Pt) -> SourceInfo {
        SourceInfo {
            id: id.into(),
            kind,
            network,
            eye,
            height_m: 6.0,
            hfov_deg: 60.0,
            horizontal_px: 1920.0,
            heading_deg: 0.0,
            range_m: 80.0,
            ptz: false,
            speed_m_s: 0.0,
        }
    }

    fn square(c: Pt, r: f64) -> Vec<Pt> {
        vec![
            [c[0] - r, c[1] - r],
            [c[0] + r, c[1] - r],
            [c[0] + r, c[1] + r],
            [c[0] - r, c[1] + r],
            [c[0] - r, c[1] - r],
        ]
    }

    #[test]
    fn ranked_by_density_and_masks_hide_everything() {
        let idx = CoverageIndex::new(
            vec![
                (
                    info("far", SourceKind::FixedCamera, Network::City, [-30.0, 0.0]),
                    square([0.0, 0.0], 40.0),
                ),
                (
                    info(
                        "near",
                        SourceKind::FixedCamera,
                        Network::Transit,
                        [2.0, 0.0],
                    ),
                    square([0.0, 0.0], 10.0),
                ),
            ],
            Masks::new(vec![square([20.0, 20.0], 3.0)]),
            None,
        );
        let mut out = Vec::new();
        assert!(who_sees(&idx, [0.0, 0.0], &mut out));
        let ids: Vec<_> = describe(&idx, &out).into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["near", "far"]);
        assert!(!who_sees(&idx, [20.0, 20.0], &mut out));
        assert!(out.is_empty());
        let batch = who_sees_batch(
            &idx,
            &[[0.0, 0.0], [20.0, 20.0], [100.0, 100.0], [30.0, 0.0]],
        );
        assert_eq!(batch.of(0), &who_sees_hits(&idx, [0.0, 0.0])[..]);
        assert!(batch.masked[1] && batch.of(1).is_empty());
        assert!(batch.of(2).is_empty() && !batch.masked[2]);
        assert_eq!(batch.of(3).len(), 1);
    }

    fn who_sees_hits(idx: &CoverageIndex, p: Pt) -> Vec<Hit> {
        let mut out = Vec::new();
        who_sees(idx, p, &mut out);
        out
    }

    #[test]
    fn zone_fractions_masks_and_gaps() {
        let idx = CoverageIndex::new(
            vec![(
                info("a", SourceKind::FixedCamera, Network::City, [0.0, 0.0]),
                vec![
                    [0.0, 0.0],
                    [50.0, 0.0],
                    [50.0, 100.0],
                    [0.0, 100.0],
                    [0.0, 0.0],
                ],
            )],
            Masks::new(vec![square([90.0, 50.0], 10.0)]),
            None,
        );
        // Zone 100 x 100: left half covered, a 20 x 20 mask on the right.
        let zone = square([50.0, 50.0], 50.0);
        let z = zone_coverage(&idx, &zone, 1.0, 10, 0.0).unwrap();
        assert_eq!(z.zone_m2, 10_000.0);
        assert_eq!(z.masked_m2, 400.0);
        assert_eq!(z.open_m2, 9_600.0);
        assert!((z.covered_fraction - 5000.0 / 9600.0).abs() < 1e-12);
        assert_eq!(z.by_network[&Network::City], z.covered_fraction);
        assert_eq!(z.by_kind[&SourceKind::Drone], 0.0);
        assert_eq!(z.gap_count, 1);
        let gap_area: f64 = z.gaps[0]
            .rects
            .iter()
            .map(|r| (r[1][0] - r[0][0]) * (r[1][1] - r[0][1]))
            .sum();
        assert_eq!(gap_area, z.gaps[0].area_m2);
        assert_eq!(z.gaps[0].area_m2, 4600.0);
        for r in &z.gaps[0].rects {
            assert!(!point_in_ring(
                &square([90.0, 50.0], 10.0),
                [(r[0][0] + r[1][0]) / 2.0, (r[0][1] + r[1][1]) / 2.0]
            ));
        }
    }

    #[test]
    fn soonest_counts_flight_time() {
        let mut idx = CoverageIndex::new(Vec::new(), Masks::default(), None);
        let mut d = info("d", SourceKind::Drone, Network::Fleet, [0.0, 0.0]);
        d.speed_m_s = 10.0;
        idx.upsert(d, square([0.0, 0.0], 50.0)).unwrap();
        let mut t = info("t", SourceKind::Tablet, Network::Fleet, [500.0, 0.0]);
        t.speed_m_s = 1.5;
        idx.upsert(t, square([500.0, 0.0], 10.0)).unwrap();
        let etas = soonest(&idx, [250.0, 0.0], 5);
        assert_eq!(etas[0].id, "d");
        assert!(
            (etas[0].eta_s - 20.0).abs() < 1e-9,
            "200 m at 10 m/s: {}",
            etas[0].eta_s
        );
        assert!((etas[1].eta_s - 240.0 / 1.5).abs() < 1e-9);
        assert_eq!(soonest(&idx, [0.0, 0.0], 5)[0].how, "sees_now");
    }

    fn poly() -> impl Strategy<Value = Vec<Pt>> {
        (
            0.0..200.0f64,
            0.0..200.0f64,
            3usize..8,
            5.0..60.0f64,
            proptest::collection::vec(0.3..1.0f64, 8),
        )
            .prop_map(|(e, n, k, r, radii)| {
                let mut ring: Vec<Pt> = (0..k)
                    .map(|i| {
                        let a = i as f64 / k as f64 * std::f64::consts::TAU;
                        [e + r * radii[i] * a.cos(), n + r * radii[i] * a.sin()]
                    })
                    .collect();
                ring.push(ring[0]);
                ring
            })
    }

    proptest! {
        #![proptest_config(Config { cases: 24, rng_seed: RngSeed::Fixed(2026), ..Config::default() })]

        /// Zone fractions against sampling: exact at cell centres, and within
        /// a boundary band of the true area fraction (measured on a grid 8
        /// times finer).
        #[test]
        fn zone_fraction_matches_sampling(
            polys in proptest::collection::vec(poly(), 1..12),
            masks in proptest::collection::vec(poly(), 0..2),
            zone in poly(),
        ) {
            let statics: Vec<_> = polys.iter().enumerate().map(|(i, r)| {
                let net = Network::ALL[i % 4];
                (info(&format!("s{i}"), SourceKind::FixedCamera, net, r[0]), r.clone())
            }).collect();
            let idx = CoverageIndex::new(statics, Masks::new(masks.clone()), None);
            let cell = 2.0;
            let z = zone_coverage(&idx, &zone, cell, 1000, 0.0).unwrap();
            let bbox = Bbox::of(&zone);
            let sample = |step: f64| {
                let (mut open, mut covered, mut city) = (0usize, 0usize, 0usize);
                let cols = ((bbox.max_e - bbox.min_e) / step).ceil() as usize;
                let rows = ((bbox.max_n - bbox.min_n) / step).ceil() as usize;
                for j in 0..rows {
                    for i in 0..cols {
                        let p = [bbox.min_e + (i as f64 + 0.5) * step, bbox.min_n + (j as f64 + 0.5) * step];
                        if !point_in_ring(&zone, p) || masks.iter().any(|m| point_in_ring(m, p)) {
                            continue;
                        }
                        open += 1;
                        let hits: Vec<usize> = polys.iter().enumerate().filter(|(_, r)| point_in_ring(r, p)).map(|(i, _)| i).collect();
                        covered += usize::from(!hits.is_empty());
                        city += usize::from(hits.iter().any(|i| i % 4 == 0));
                    }
                }
                (open, covered, city)
            };
            // Exact at the same cell centres.
            let (open, covered, city) = sample(cell);
            prop_assert_eq!(z.open_m2, open as f64 * cell * cell);
            prop_assert_eq!(z.covered_m2, covered as f64 * cell * cell);
            if open > 0 {
                prop_assert!((z.by_network[&Network::City] - city as f64 / open as f64).abs() < 1e-12);
            }
            // Close to the fine-sampled fraction.
            let (fo, fc, _) = sample(cell / 8.0);
            if fo > 20_000 {
                let fine = fc as f64 / fo as f64;
                prop_assert!((z.covered_fraction - fine).abs() < 0.08, "{} vs {}", z.covered_fraction, fine);
            }
            // Gaps: every gap rectangle is open, uncovered ground.
            let gap_total: f64 = z.gaps.iter().map(|g| g.area_m2).sum();
            prop_assert!((gap_total - (z.open_m2 - z.covered_m2)).abs() < 1e-6);
        }
    }
}
