//! What the planner chooses from: the zones as weighted sample cells, and
//! the candidate drone stations and patrol posts with the cells each sees.
//!
//! Cells are squares of the local frame; a cell belongs to a zone when its
//! centre does (the crossing-number rule of [`crate::coverage::polygon`]).
//! Cells under a privacy mask or inside a building are dropped: masks are
//! never counted as covered, and a building's footprint is no ground to
//! watch. A cell is worth `weight × cell area` (the largest weight of the
//! zones it lies in), in weighted square metres.
//!
//! Drone stations lie on a grid over the flight authorisation, outside every
//! no-fly zone, at a few altitudes up to the ceiling and a few gimbal
//! attitudes (straight down, and oblique towards the four points of the
//! compass); each one's footprint is [`crate::coverage::footprint`]'s on
//! flat ground. Patrol posts lie on a grid over and near the zones, outside
//! buildings, and watch a disc. Terrain is flat and drones see over
//! buildings (a drone at 60 m or more sees most open ground between
//! Paris-height buildings; fixed cameras, low down, are clipped by line of
//! sight when buildings are given).

use super::event::{Event, Window};
use super::rotation::{self, Rotation};
use super::{Options, PlanError};
use crate::coverage::buildings::Buildings;
use crate::coverage::footprint::{gimbal_pose, ground_footprint};
use crate::coverage::mask::Masks;
use crate::coverage::polygon::{Pt, row_crossings};
use crate::coverage::synth::Rng;

/// No cell at this grid position.
pub const NONE: u32 = u32::MAX;

/// Most cells the planner samples; larger events get larger cells.
pub const MAX_CELLS: usize = 600_000;

/// A square grid in the local frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// South-west corner of cell (0, 0), local frame.
    pub origin: Pt,
    /// Cell side, metres.
    pub cell_m: f64,
    /// Columns (west to east).
    pub cols: usize,
    /// Rows (south to north).
    pub rows: usize,
}

impl Grid {
    /// Centre of grid cell `(i, j)`.
    #[inline]
    pub fn centre(&self, i: usize, j: usize) -> Pt {
        [
            self.origin[0] + (i as f64 + 0.5) * self.cell_m,
            self.origin[1] + (j as f64 + 0.5) * self.cell_m,
        ]
    }

    /// Grid index `j × cols + i` of the cell containing `p`, if on the grid.
    pub fn index_of(&self, p: Pt) -> Option<usize> {
        let i = ((p[0] - self.origin[0]) / self.cell_m).floor();
        let j = ((p[1] - self.origin[1]) / self.cell_m).floor();
        (i >= 0.0 && j >= 0.0 && (i as usize) < self.cols && (j as usize) < self.rows)
            .then(|| j as usize * self.cols + i as usize)
    }

    /// Rows `j0..j1` whose centres may lie within `[lo, hi]` north.
    fn rows_between(&self, lo: f64, hi: f64) -> (usize, usize) {
        let j0 = ((lo - self.origin[1]) / self.cell_m - 0.5).floor().max(0.0) as usize;
        let j1 =
            (((hi - self.origin[1]) / self.cell_m + 0.5).ceil().max(0.0) as usize).min(self.rows);
        (j0, j1)
    }

    /// Columns `i0..i1` whose centres may lie within `[lo, hi]` east.
    fn cols_between(&self, lo: f64, hi: f64) -> (usize, usize) {
        let i0 = ((lo - self.origin[0]) / self.cell_m - 0.5).floor().max(0.0) as usize;
        let i1 =
            (((hi - self.origin[0]) / self.cell_m + 0.5).ceil().max(0.0) as usize).min(self.cols);
        (i0, i1)
    }

    /// Calls `f(grid index)` for every cell whose centre lies inside the
    /// closed ring (the same answer as `point_in_ring` at the centre).
    pub fn fill(&self, ring: &[Pt], xs: &mut Vec<f64>, mut f: impl FnMut(usize)) {
        let (lo, hi) = ring
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p[1]), b.max(p[1])));
        let (j0, j1) = self.rows_between(lo, hi);
        for j in j0..j1 {
            let y = self.centre(0, j)[1];
            row_crossings(ring, y, xs);
            for pair in xs.chunks_exact(2) {
                // Columns whose centre x satisfies pair[0] <= x < pair[1].
                let a = ((pair[0] - self.origin[0]) / self.cell_m - 0.5).ceil();
                let b = ((pair[1] - self.origin[0]) / self.cell_m - 0.5).ceil();
                // One column of slack each side against rounding; the
                // test below decides.
                let a = (a - 1.0).clamp(0.0, self.cols as f64) as usize;
                let b = (b + 1.0).clamp(0.0, self.cols as f64) as usize;
                for i in a..b {
                    let x = self.centre(i, j)[0];
                    if x >= pair[0] && x < pair[1] {
                        f(j * self.cols + i);
                    }
                }
            }
        }
    }

    /// Calls `f(grid index)` for every cell whose centre lies within
    /// `radius_m` of `c`.
    pub fn disc(&self, c: Pt, radius_m: f64, mut f: impl FnMut(usize)) {
        let (j0, j1) = self.rows_between(c[1] - radius_m, c[1] + radius_m);
        let (i0, i1) = self.cols_between(c[0] - radius_m, c[0] + radius_m);
        let r2 = radius_m * radius_m;
        for j in j0..j1 {
            for i in i0..i1 {
                let p = self.centre(i, j);
                let (dx, dy) = (p[0] - c[0], p[1] - c[1]);
                if dx * dx + dy * dy <= r2 {
                    f(j * self.cols + i);
                }
            }
        }
    }
}

/// The zones as sample cells.
#[derive(Debug, Clone)]
pub struct Cells {
    /// The grid the cells lie on.
    pub grid: Grid,
    /// Cell id by grid index, [`NONE`] where there is no cell.
    pub lookup: Vec<u32>,
    /// Grid index of each cell.
    pub at: Vec<u32>,
    /// Worth of each cell, weighted square metres.
    pub value: Vec<f64>,
    /// Index into `zone_sets` of the zones each cell lies in.
    pub zone_set: Vec<u32>,
    /// Distinct sets of zone indices.
    pub zone_sets: Vec<Vec<u16>>,
    /// Whether a fixed camera sees the cell.
    pub fixed: Vec<bool>,
    /// Whether one of the cell's zones is watched while drones may fly.
    pub flyable: Vec<bool>,
    /// Zone area under privacy masks, square metres.
    pub masked_m2: f64,
    /// Zone area inside buildings, square metres.
    pub buildings_m2: f64,
}

impl Cells {
    /// Number of cells.
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// Centre of cell `c`.
    pub fn centre(&self, c: usize) -> Pt {
        let g = self.at[c] as usize;
        self.grid.centre(g % self.grid.cols, g / self.grid.cols)
    }

    /// The hull of the windows of cell `c`'s zones.
    pub fn window(&self, event: &Event, c: usize) -> Option<Window> {
        self.zone_sets[self.zone_set[c] as usize]
            .iter()
            .map(|&z| event.zones[z as usize].window)
            .reduce(|a, b| a.hull(&b))
    }

    /// Whether one of cell `c`'s zones is watched at `t_s`.
    pub fn active(&self, event: &Event, c: usize, t_s: i64) -> bool {
        self.zone_sets[self.zone_set[c] as usize]
            .iter()
            .any(|&z| event.zones[z as usize].window.contains(t_s))
    }
}

/// The cell side for an event: the option's, or 10 m grown until the
/// zones' box holds at most [`MAX_CELLS`] cells.
fn cell_side(event: &Event, opts: &Options) -> (Pt, Pt, f64) {
    let mut lo = [f64::INFINITY; 2];
    let mut hi = [f64::NEG_INFINITY; 2];
    for z in &event.zones {
        let b = z.shape.bbox();
        for k in 0..2 {
            lo[k] = lo[k].min(b[0][k]);
            hi[k] = hi[k].max(b[1][k]);
        }
    }
    let area = ((hi[0] - lo[0]) * (hi[1] - lo[1])).max(1.0);
    let cell = opts
        .cell_m
        .unwrap_or_else(|| 10f64.max((area / MAX_CELLS as f64).sqrt().ceil()));
    (lo, hi, cell)
}

/// Rasterises the zones, drops masked and built cells, and marks what the
/// fixed cameras see.
pub fn cells(event: &Event, opts: &Options) -> Result<Cells, PlanError> {
    let (lo, hi, cell_m) = cell_side(event, opts);
    if !(cell_m > 0.0 && cell_m.is_finite() && lo[0].is_finite() && hi[0].is_finite()) {
        return Err(PlanError::Invalid(format!(
            "cell size {cell_m} m must be above 0 and zones must have finite coordinates"
        )));
    }
    let cols = ((hi[0] - lo[0]) / cell_m).ceil().max(1.0) as usize;
    let rows = ((hi[1] - lo[1]) / cell_m).ceil().max(1.0) as usize;
    if cols.saturating_mul(rows) > 8 * MAX_CELLS {
        return Err(PlanError::Invalid(format!(
            "the zones span {cols} × {rows} cells of {cell_m} m: use larger cells (cell_m) or smaller zones"
        )));
    }
    let grid = Grid {
        origin: lo,
        cell_m,
        cols,
        rows,
    };
    // (grid index, zone) pairs, then grouped by grid index.
    let mut pairs: Vec<(u32, u16)> = Vec::new();
    let mut xs = Vec::new();
    for (z, zone) in event.zones.iter().enumerate().take(u16::MAX as usize) {
        match &zone.shape {
            super::event::Shape::Polygon(ring) => {
                grid.fill(ring, &mut xs, |g| pairs.push((g as u32, z as u16)));
            }
            super::event::Shape::Corridor { line, half_width_m } => {
                let start = pairs.len();
                for s in line.windows(2) {
                    let b0 = [s[0][0].min(s[1][0]), s[0][1].min(s[1][1])];
                    let b1 = [s[0][0].max(s[1][0]), s[0][1].max(s[1][1])];
                    let (j0, j1) = grid.rows_between(b0[1] - half_width_m, b1[1] + half_width_m);
                    let (i0, i1) = grid.cols_between(b0[0] - half_width_m, b1[0] + half_width_m);
                    for j in j0..j1 {
                        for i in i0..i1 {
                            let p = grid.centre(i, j);
                            if super::event::segment_distance_m(s[0], s[1], p) <= *half_width_m {
                                pairs.push(((j * cols + i) as u32, z as u16));
                            }
                        }
                    }
                }
                // A cell near two segments was pushed twice.
                pairs[start..].sort_unstable();
                let mut tail = pairs.split_off(start);
                tail.dedup();
                pairs.extend(tail);
            }
        }
    }
    pairs.sort_unstable();
    let masks = Masks::new(event.masks.clone());
    let buildings = Buildings::new(event.buildings.clone());
    let cell_area = cell_m * cell_m;
    let mut out = Cells {
        grid,
        lookup: vec![NONE; cols * rows],
        at: Vec::new(),
        value: Vec::new(),
        zone_set: Vec::new(),
        zone_sets: Vec::new(),
        fixed: Vec::new(),
        flyable: Vec::new(),
        masked_m2: 0.0,
        buildings_m2: 0.0,
    };
    let mut set_ids: std::collections::HashMap<Vec<u16>, u32> = Default::default();
    let mut k = 0;
    while k < pairs.len() {
        let g = pairs[k].0;
        let mut zones = Vec::new();
        while k < pairs.len() && pairs[k].0 == g {
            zones.push(pairs[k].1);
            k += 1;
        }
        let p = grid.centre(g as usize % cols, g as usize / cols);
        if masks.masks(p) {
            out.masked_m2 += cell_area;
            continue;
        }
        if !buildings.is_empty() && buildings.contains(p) {
            out.buildings_m2 += cell_area;
            continue;
        }
        let weight = zones
            .iter()
            .map(|&z| event.zones[z as usize].weight)
            .fold(0.0, f64::max);
        let flyable = zones.iter().any(|&z| {
            event.zones[z as usize]
                .window
                .intersect(&event.flight_window)
                .is_some()
        });
        let next = out.zone_sets.len() as u32;
        let set = *set_ids.entry(zones.clone()).or_insert_with(|| {
            out.zone_sets.push(zones);
            next
        });
        out.lookup[g as usize] = out.value.len() as u32;
        out.at.push(g);
        out.value.push(weight * cell_area);
        out.zone_set.push(set);
        out.fixed.push(false);
        out.flyable.push(flyable);
    }
    // What the fixed cameras see, clipped by line of sight when buildings
    // are given. Event files carry no optics: the defaults of the coverage
    // configuration apply (IEC 62676-4 detection tier for range).
    let b = (!buildings.is_empty()).then_some(&buildings);
    let optics = crate::coverage::camera::Optics::default();
    for cam in &event.cameras {
        if let Some(ring) = cam.coverage(&event.frame, b, &optics) {
            grid.fill(&ring, &mut xs, |g| {
                let c = out.lookup[g];
                if c != NONE {
                    out.fixed[c as usize] = true;
                }
            });
        }
    }
    Ok(out)
}

/// A candidate drone station.
#[derive(Debug, Clone, PartialEq)]
pub struct Station {
    /// Position, local frame.
    pub pos: Pt,
    /// Altitude above ground, metres.
    pub altitude_m: f64,
    /// Gimbal pitch, degrees (−90 looks straight down).
    pub pitch_deg: f64,
    /// Camera heading, degrees clockwise from north.
    pub yaw_deg: f64,
    /// Index of the nearest launch site.
    pub launch: usize,
    /// When the station must be watched (its cells' zones, within the
    /// flight window).
    pub window: Window,
    /// How it is kept watched.
    pub rotation: Rotation,
}

impl Station {
    /// The camera's ground footprint, a closed local ring.
    pub fn footprint(&self, event: &Event) -> Option<Vec<Pt>> {
        let d = &event.drones;
        let pose = gimbal_pose(
            self.pos[0],
            self.pos[1],
            self.altitude_m,
            0.0,
            self.pitch_deg,
            self.yaw_deg,
            (d.hfov_deg, d.vfov_deg),
            d.range_m,
        );
        Some(
            ground_footprint(&pose)?
                .into_iter()
                .map(|(e, n)| [e, n])
                .collect(),
        )
    }
}

/// A candidate patrol post.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    /// Position, local frame.
    pub pos: Pt,
    /// Radius watched, metres.
    pub radius_m: f64,
    /// When the post must be held.
    pub window: Window,
    /// Teams that hold it over its window, one shift each.
    pub teams: u32,
}

/// What a candidate is.
#[derive(Debug, Clone, PartialEq)]
pub enum Site {
    /// A drone station.
    Station(Station),
    /// A patrol post.
    Post(Post),
}

/// Drones are pool 0, patrol teams pool 1.
pub const DRONES: usize = 0;
/// Patrol teams' pool.
pub const PATROLS: usize = 1;

/// One candidate with its cost and the cells it would see.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Station or post.
    pub site: Site,
    /// Which asset pool pays for it: [`DRONES`] or [`PATROLS`].
    pub pool: usize,
    /// Airframes or teams it takes.
    pub cost: u32,
    /// Cells it sees that fixed cameras miss, ascending.
    pub cells: Vec<u32>,
}

/// Every candidate, and what was left out.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    /// The candidates.
    pub list: Vec<Candidate>,
    /// Station positions refused for lying in a no-fly zone.
    pub in_no_fly: usize,
    /// Stations too far from every launch site to spend a minute there.
    pub unreachable: usize,
    /// Stations or posts needing more airframes or teams than there are.
    pub over_assets: usize,
}

/// Builds the candidates, calling `progress(done, total)` now and then.
pub fn candidates(
    event: &Event,
    cells: &Cells,
    opts: &Options,
    progress: &mut dyn FnMut(usize, usize),
) -> Candidates {
    let mut out = Candidates::default();
    let mut rng = Rng(opts.seed ^ 0x5EED_CAFE);
    stations(event, cells, opts, &mut rng, &mut out, progress);
    posts(event, cells, opts, &mut rng, &mut out);
    out
}

/// Whether a drone station counts cell `c`: fixed cameras miss it and one
/// of its zones is watched while drones may fly.
#[inline]
pub fn drone_counts(cells: &Cells, c: usize) -> bool {
    !cells.fixed[c] && cells.flyable[c]
}

/// The hull of the windows of some cells' zones.
pub fn hull(event: &Event, cells: &Cells, set: &[u32], seen: &mut [bool]) -> Option<Window> {
    let mut w: Option<Window> = None;
    for &c in set {
        let s = cells.zone_set[c as usize] as usize;
        if seen[s] {
            continue;
        }
        seen[s] = true;
        for &z in &cells.zone_sets[s] {
            let zw = event.zones[z as usize].window;
            w = Some(w.map_or(zw, |a| a.hull(&zw)));
        }
    }
    for &c in set {
        seen[cells.zone_set[c as usize] as usize] = false;
    }
    w
}

fn stations(
    event: &Event,
    cells: &Cells,
    opts: &Options,
    rng: &mut Rng,
    out: &mut Candidates,
    progress: &mut dyn FnMut(usize, usize),
) {
    let d = &event.drones;
    if d.count == 0 || d.launch_sites.is_empty() || event.authorisation.is_empty() {
        return;
    }
    let mut altitudes: Vec<f64> = opts
        .altitudes_m
        .iter()
        .copied()
        .filter(|a| *a > 0.0 && *a <= d.ceiling_m)
        .collect();
    if altitudes.is_empty() {
        altitudes.push(d.ceiling_m);
    }
    let mut attitudes: Vec<(f64, f64)> = Vec::new();
    for &p in &opts.pitches_deg {
        if p <= -89.9 {
            attitudes.push((-90.0, 0.0));
        } else {
            attitudes.extend([0.0, 90.0, 180.0, 270.0].map(|y| (p, y)));
        }
    }
    // Candidate positions: a grid over the authorisation's box with a
    // seeded phase, kept where authorised and outside no-fly zones.
    let mut lo = [f64::INFINITY; 2];
    let mut hi = [f64::NEG_INFINITY; 2];
    for r in &event.authorisation {
        for p in r {
            for k in 0..2 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
    }
    // Only where a footprint can reach a zone cell.
    let g = &cells.grid;
    let reach = d.range_m + d.ceiling_m;
    let zlo = [g.origin[0] - reach, g.origin[1] - reach];
    let zhi = [
        g.origin[0] + g.cols as f64 * g.cell_m + reach,
        g.origin[1] + g.rows as f64 * g.cell_m + reach,
    ];
    let s = opts.station_spacing_m;
    let phase = [rng.f(0.0, s), rng.f(0.0, s)];
    let mut positions = Vec::new();
    let mut y = lo[1] + phase[1];
    while y <= hi[1] {
        let mut x = lo[0] + phase[0];
        while x <= hi[0] {
            let p = [x, y];
            if p[0] >= zlo[0]
                && p[0] <= zhi[0]
                && p[1] >= zlo[1]
                && p[1] <= zhi[1]
                && event.authorised(p)
            {
                if event.no_fly_at(p) {
                    out.in_no_fly += 1;
                } else {
                    positions.push(p);
                }
            }
            x += s;
        }
        y += s;
    }
    let mut xs = Vec::new();
    let mut seen = vec![false; cells.zone_sets.len()];
    let mut set = Vec::new();
    let total = positions.len();
    for (k, &p) in positions.iter().enumerate() {
        if k % 64 == 0 {
            progress(k, total);
        }
        let (launch, dist) = d
            .launch_sites
            .iter()
            .enumerate()
            .map(|(i, l)| (i, f64::hypot(l[0] - p[0], l[1] - p[1])))
            .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
        for &alt in &altitudes {
            let transit = rotation::transit_s(d, dist, alt);
            for &(pitch, yaw) in &attitudes {
                let pose = gimbal_pose(
                    p[0],
                    p[1],
                    alt,
                    0.0,
                    pitch,
                    yaw,
                    (d.hfov_deg, d.vfov_deg),
                    d.range_m,
                );
                let Some(ring) = ground_footprint(&pose) else {
                    continue;
                };
                let ring: Vec<Pt> = ring.into_iter().map(|(e, n)| [e, n]).collect();
                set.clear();
                g.fill(&ring, &mut xs, |gi| {
                    let c = cells.lookup[gi];
                    if c != NONE && drone_counts(cells, c as usize) {
                        set.push(c);
                    }
                });
                if set.is_empty() {
                    continue;
                }
                let Some(window) = hull(event, cells, &set, &mut seen)
                    .and_then(|w| w.intersect(&event.flight_window))
                else {
                    continue;
                };
                let Some(rot) = rotation::rotation(d, transit, window.len_s() as f64) else {
                    out.unreachable += 1;
                    continue;
                };
                if rot.airframes > d.count {
                    out.over_assets += 1;
                    continue;
                }
                set.sort_unstable();
                out.list.push(Candidate {
                    site: Site::Station(Station {
                        pos: p,
                        altitude_m: alt,
                        pitch_deg: pitch,
                        yaw_deg: yaw,
                        launch,
                        window,
                        rotation: rot,
                    }),
                    pool: DRONES,
                    cost: rot.airframes,
                    cells: set.clone(),
                });
            }
        }
    }
    progress(total, total);
}

fn posts(event: &Event, cells: &Cells, opts: &Options, rng: &mut Rng, out: &mut Candidates) {
    let pa = &event.patrols;
    if pa.count == 0 || cells.is_empty() {
        return;
    }
    let r = pa.post_radius_m;
    let s = (r * opts.post_spacing).max(cells.grid.cell_m);
    let g = &cells.grid;
    let buildings = Buildings::new(event.buildings.clone());
    let phase = [rng.f(0.0, s), rng.f(0.0, s)];
    let mut seen = vec![false; cells.zone_sets.len()];
    let mut set = Vec::new();
    let mut y = g.origin[1] - r / 2.0 + phase[1];
    let top = g.origin[1] + g.rows as f64 * g.cell_m + r / 2.0;
    let right = g.origin[0] + g.cols as f64 * g.cell_m + r / 2.0;
    while y <= top {
        let mut x = g.origin[0] - r / 2.0 + phase[0];
        while x <= right {
            let p = [x, y];
            x += s;
            // On or near a zone: a zone cell within half the radius.
            let mut near = false;
            g.disc(p, r / 2.0, |gi| near |= cells.lookup[gi] != NONE);
            if !near || (!buildings.is_empty() && buildings.contains(p)) {
                continue;
            }
            set.clear();
            g.disc(p, r, |gi| {
                let c = cells.lookup[gi];
                if c != NONE && !cells.fixed[c as usize] {
                    set.push(c);
                }
            });
            if set.is_empty() {
                continue;
            }
            let Some(window) = hull(event, cells, &set, &mut seen) else {
                continue;
            };
            let teams = rotation::teams(pa.shift_s, window.len_s() as f64);
            if teams > pa.count {
                out.over_assets += 1;
                continue;
            }
            set.sort_unstable();
            out.list.push(Candidate {
                site: Site::Post(Post {
                    pos: p,
                    radius_m: r,
                    window,
                    teams,
                }),
                pool: PATROLS,
                cost: teams,
                cells: set.clone(),
            });
        }
        y += s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::polygon::point_in_ring;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, rng_seed: proptest::test_runner::RngSeed::Fixed(4), ..ProptestConfig::default() })]

        /// Filling a ring marks exactly the cells whose centre
        /// `point_in_ring` puts inside; a disc exactly those within reach.
        #[test]
        fn fill_and_disc_agree_with_brute_force(
            pts in proptest::collection::vec((-60.0f64..60.0, -60.0f64..60.0), 3..8),
            cell in 1.0f64..9.0,
            c in (-50.0f64..50.0, -50.0f64..50.0),
            r in 0.0f64..40.0,
        ) {
            let mut ring: Vec<Pt> = pts.iter().map(|&(x, y)| [x, y]).collect();
            ring.push(ring[0]);
            let g = Grid { origin: [-55.0, -57.0], cell_m: cell, cols: (110.0 / cell) as usize, rows: (115.0 / cell) as usize };
            let mut got = vec![false; g.cols * g.rows];
            g.fill(&ring, &mut Vec::new(), |k| got[k] = true);
            let mut near = vec![false; g.cols * g.rows];
            g.disc([c.0, c.1], r, |k| near[k] = true);
            for j in 0..g.rows {
                for i in 0..g.cols {
                    let p = g.centre(i, j);
                    prop_assert_eq!(got[j * g.cols + i], point_in_ring(&ring, p), "cell {} {}", i, j);
                    prop_assert_eq!(near[j * g.cols + i], f64::hypot(p[0] - c.0, p[1] - c.1) <= r);
                }
            }
        }
    }
}
