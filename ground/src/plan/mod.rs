//! Event coverage planning: where to put drones and patrols, how many, and
//! when, to watch what fixed cameras miss.
//!
//! Offline and deterministic (same event, options and seed: same plan), one
//! library call, [`plan`], that the CLI and the viewer share. A straight
//! path through the module, in the order a plan is made:
//!
//! - [`event`]: the event file (TOML with GeoJSON shapes): zones, routes as
//!   corridors, no-fly zones, privacy masks, the flight authorisation,
//!   fixed cameras, buildings, drones and patrol teams.
//! - [`candidates`]: zones rasterised into weighted cells in the local
//!   frame, what fixed cameras already see, and the candidate drone
//!   stations (position, altitude, gimbal) and patrol posts with the cells
//!   each would see.
//! - [`rotation`]: airframes per station from endurance, reserve, transit
//!   and battery swap; teams per post from the shift length.
//! - [`objective`]: weighted maximum coverage with a budget per asset pool.
//! - [`greedy`]: lazy greedy and swaps, with the `1 − 1/e` bound and an a
//!   posteriori bound on the optimum for every plan.
//! - `exact` (compiled for tests): the integer program that gives the
//!   optimum of small instances, to measure greedy against.
//! - [`report`]: the plan as GeoJSON, a summary table, a Markdown report
//!   with maps and a coverage-over-time plot.
//! - [`cameras`]: fixed-camera siting along streets (`vigie plan cameras`).
//!
//! Constraints hold by construction: every station is inside the flight
//! authorisation, outside every no-fly zone, at or below the ceiling, and
//! the airframes and teams the plan takes never exceed those available.

pub mod cameras;
pub mod candidates;
pub mod event;
#[cfg(test)]
pub mod exact;
pub mod greedy;
pub mod layout;
pub mod objective;
pub mod report;
pub mod rotation;

use serde::Serialize;

use crate::coverage::polygon::Pt;
use candidates::{Cells, DRONES, NONE, Post, Site, Station};
use event::{Event, Window};
use objective::Instance;
use rotation::Sortie;

/// Why a plan could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The event or the options make no sense for planning.
    #[error("{0}")]
    Invalid(String),
}

/// How to plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Seed for the candidate grids' phase and for tie-breaking.
    pub seed: u64,
    /// Sample cell side, metres; `None`: 10 m, larger for very large events.
    pub cell_m: Option<f64>,
    /// Spacing of candidate drone stations, metres.
    pub station_spacing_m: f64,
    /// Candidate station altitudes above ground, metres (those above the
    /// ceiling are dropped).
    pub altitudes_m: Vec<f64>,
    /// Candidate gimbal pitches, degrees (−90 looks straight down; others
    /// are tried towards north, east, south and west).
    pub pitches_deg: Vec<f64>,
    /// Spacing of candidate patrol posts, as a fraction of the post radius.
    pub post_spacing: f64,
    /// Most rounds of swaps after greedy.
    pub swap_rounds: usize,
    /// Most gaps listed.
    pub max_gaps: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 1,
            cell_m: None,
            station_spacing_m: 60.0,
            altitudes_m: vec![60.0, 90.0, 120.0],
            pitches_deg: vec![-90.0, -50.0],
            post_spacing: 0.7,
            swap_rounds: 3,
            max_gaps: 20,
        }
    }
}

/// What covers a cell in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cover {
    /// A fixed camera already sees it.
    Fixed,
    /// A planned drone station sees it.
    Drone,
    /// A planned patrol post watches it.
    Patrol,
    /// A camera added to the plan by hand sees it.
    Camera,
    /// Nobody.
    Gap,
}

/// A chosen drone station.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedStation {
    /// Stable id in the plan (`S01`, ...).
    pub id: String,
    /// Where, how high, which way it looks, and its rotation.
    pub station: Station,
    /// Camera ground footprint, closed local ring.
    pub footprint: Vec<Pt>,
    /// Sorties that keep it watched.
    pub schedule: Vec<Sortie>,
    /// What it adds, weighted square metres.
    pub value: f64,
}

/// A chosen patrol post.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPost {
    /// Stable id in the plan (`P001`, ...).
    pub id: String,
    /// Where and when.
    pub post: Post,
    /// What it adds, weighted square metres.
    pub value: f64,
}

/// Coverage of one zone, before and after the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneSummary {
    /// Zone name.
    pub name: String,
    /// Weight.
    pub weight: f64,
    /// Expected people.
    pub crowd: u32,
    /// Open area sampled (masks and buildings excluded), square metres.
    pub area_m2: f64,
    /// Fraction seen by fixed cameras.
    pub before: f64,
    /// Fraction seen with the plan.
    pub after: f64,
}

/// A connected area nobody watches after the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct GapArea {
    /// Area, square metres.
    pub area_m2: f64,
    /// Centroid, local frame.
    pub centroid: Pt,
    /// Its cells.
    pub cells: Vec<u32>,
}

/// Weighted coverage at one time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimePoint {
    /// Time, Unix seconds.
    pub t_s: i64,
    /// Fraction of the zones watched at `t_s` that fixed cameras see
    /// (weighted).
    pub before: f64,
    /// The same with the plan's stations and posts on duty at `t_s`.
    pub after: f64,
    /// Open area of the zones watched at `t_s`, square metres.
    pub active_m2: f64,
}

/// What the optimiser did and how good it is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quality {
    /// Candidate drone stations considered.
    pub station_candidates: usize,
    /// Candidate patrol posts considered.
    pub post_candidates: usize,
    /// Station positions refused inside no-fly zones.
    pub in_no_fly: usize,
    /// Stations too far from every launch site.
    pub unreachable: usize,
    /// Stations or posts needing more airframes or teams than there are.
    pub over_assets: usize,
    /// Worth after greedy, weighted square metres.
    pub greedy_value: f64,
    /// Worth after swaps, weighted square metres.
    pub value: f64,
    /// Improving swaps made.
    pub swaps: usize,
    /// Upper bound on the optimum's worth.
    pub upper_bound: f64,
    /// `value / upper_bound`: the plan is at least this share of optimal.
    pub ratio_lower_bound: f64,
}

/// Totals of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Totals {
    /// Open zone area sampled, square metres.
    pub area_m2: f64,
    /// Weighted fraction fixed cameras see.
    pub before: f64,
    /// Weighted fraction seen with the plan.
    pub after: f64,
    /// Weighted fraction seen by planned drones.
    pub by_drones: f64,
    /// Weighted fraction watched by planned patrols.
    pub by_patrols: f64,
    /// Zone area under privacy masks (never counted), square metres.
    pub masked_m2: f64,
    /// Airframes the plan takes.
    pub airframes_used: u32,
    /// Airframes available.
    pub airframes: u32,
    /// Teams the plan takes.
    pub teams_used: u32,
    /// Teams available.
    pub teams: u32,
}

/// A plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Event name.
    pub event: String,
    /// Seed used.
    pub seed: u64,
    /// Local time's offset from UTC, seconds (for display).
    pub utc_offset_s: i64,
    /// The sample cells.
    pub cells: Cells,
    /// What covers each cell.
    pub cover: Vec<Cover>,
    /// Chosen drone stations.
    pub stations: Vec<PlannedStation>,
    /// Chosen patrol posts.
    pub posts: Vec<PlannedPost>,
    /// Per zone, before and after.
    pub zones: Vec<ZoneSummary>,
    /// Totals.
    pub totals: Totals,
    /// Optimiser statistics and bounds.
    pub quality: Quality,
    /// Largest gaps first.
    pub gaps: Vec<GapArea>,
    /// Number of separate gaps.
    pub gap_count: usize,
    /// Coverage over time across the zones' windows.
    pub timeline: Vec<TimePoint>,
}

/// Plans an event.
pub fn plan(event: &Event, opts: &Options) -> Result<Plan, PlanError> {
    plan_with_progress(event, opts, &mut |_, _, _| {})
}

/// Plans an event, calling `progress(stage, done, total)` as it goes.
pub fn plan_with_progress(
    event: &Event,
    opts: &Options,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<Plan, PlanError> {
    validate(event, opts)?;
    progress("cells", 0, 1);
    let cells = candidates::cells(event, opts)?;
    progress("cells", 1, 1);
    let mut cands = candidates::candidates(event, &cells, opts, &mut |d, t| {
        progress("candidates", d, t)
    });
    let station_candidates = cands.list.iter().filter(|c| c.pool == DRONES).count();
    let post_candidates = cands.list.len() - station_candidates;
    progress("optimise", 0, 1);
    let cols = cells.grid.cols;
    let inst = Instance::new(
        cells.value.clone(),
        cands
            .list
            .iter_mut()
            .map(|c| std::mem::take(&mut c.cells))
            .collect(),
        cands.list.iter().map(|c| c.cost).collect(),
        cands.list.iter().map(|c| c.pool).collect(),
        vec![event.drones.count, event.patrols.count],
        |c| {
            let g = cells.at[c as usize] as usize;
            ((g % cols) as u32, (g / cols) as u32)
        },
    );
    let out = greedy::solve(&inst, opts.seed, opts.swap_rounds);
    progress("optimise", 1, 1);

    // What each chosen candidate adds, in the order chosen.
    let mut chosen = out.chosen.clone();
    chosen.sort_by_key(|&c| (inst.pool[c], c));
    let mut count = vec![0u32; cells.len()];
    for &c in &chosen {
        for &i in &inst.sets[c] {
            count[i as usize] += 1;
        }
    }
    let own = |c: usize| -> f64 {
        inst.sets[c]
            .iter()
            .filter(|&&i| count[i as usize] == 1)
            .map(|&i| cells.value[i as usize])
            .sum()
    };
    let mut cover: Vec<Cover> = cells
        .fixed
        .iter()
        .map(|&f| if f { Cover::Fixed } else { Cover::Gap })
        .collect();
    let mut stations = Vec::new();
    let mut posts = Vec::new();
    for &c in &chosen {
        let mark = if inst.pool[c] == DRONES {
            Cover::Drone
        } else {
            Cover::Patrol
        };
        for &i in &inst.sets[c] {
            // Drones first in the legend when both see a cell.
            if cover[i as usize] == Cover::Gap || mark == Cover::Drone {
                cover[i as usize] = mark;
            }
        }
        match &cands.list[c].site {
            Site::Station(s) => stations.push(PlannedStation {
                id: format!("S{:02}", stations.len() + 1),
                footprint: s.footprint(event).unwrap_or_default(),
                schedule: rotation::schedule(&s.rotation, s.window),
                station: s.clone(),
                value: own(c),
            }),
            Site::Post(p) => posts.push(PlannedPost {
                id: format!("P{:03}", posts.len() + 1),
                post: p.clone(),
                value: own(c),
            }),
        }
    }
    let total: f64 = cells.value.iter().sum();
    let frac = |f: &dyn Fn(usize) -> bool| -> f64 {
        if total <= 0.0 {
            return 0.0;
        }
        (0..cells.len())
            .filter(|&i| f(i))
            .map(|i| cells.value[i])
            .sum::<f64>()
            / total
    };
    let cell_area = cells.grid.cell_m * cells.grid.cell_m;
    let totals = Totals {
        area_m2: cells.len() as f64 * cell_area,
        before: frac(&|i| cover[i] == Cover::Fixed),
        after: frac(&|i| cover[i] != Cover::Gap),
        by_drones: frac(&|i| cover[i] == Cover::Drone),
        by_patrols: frac(&|i| cover[i] == Cover::Patrol),
        masked_m2: cells.masked_m2,
        airframes_used: stations.iter().map(|s| s.station.rotation.airframes).sum(),
        airframes: event.drones.count,
        teams_used: posts.iter().map(|p| p.post.teams).sum(),
        teams: event.patrols.count,
    };
    let quality = Quality {
        station_candidates,
        post_candidates,
        in_no_fly: cands.in_no_fly,
        unreachable: cands.unreachable,
        over_assets: cands.over_assets,
        greedy_value: out.greedy_value,
        value: out.value,
        swaps: out.swaps,
        upper_bound: out.upper_bound,
        ratio_lower_bound: if out.upper_bound > 0.0 {
            out.value / out.upper_bound
        } else {
            1.0
        },
    };
    let zones = zone_summaries(event, &cells, &cover);
    let (gap_count, gaps) = gaps(&cells, &cover, opts.max_gaps);
    progress("timeline", 0, 1);
    let timeline = timeline(event, &cells, &inst, &chosen, &cands.list);
    progress("timeline", 1, 1);
    Ok(Plan {
        event: event.name.clone(),
        seed: opts.seed,
        utc_offset_s: event.utc_offset_s,
        cells,
        cover,
        stations,
        posts,
        zones,
        totals,
        quality,
        gaps,
        gap_count,
        timeline,
    })
}

fn validate(event: &Event, opts: &Options) -> Result<(), PlanError> {
    if event.zones.is_empty() {
        return Err(PlanError::Invalid("the event has no zone to cover".into()));
    }
    if opts.station_spacing_m.is_nan() || opts.station_spacing_m < 5.0 {
        return Err(PlanError::Invalid(
            "station spacing must be at least 5 m".into(),
        ));
    }
    if opts.post_spacing.is_nan() || opts.post_spacing < 0.1 {
        return Err(PlanError::Invalid(
            "post spacing must be at least 0.1 of the post radius".into(),
        ));
    }
    if let Some(c) = opts.cell_m
        && !(1.0..=500.0).contains(&c)
    {
        return Err(PlanError::Invalid(format!(
            "cell size {c} m must be within 1..500"
        )));
    }
    Ok(())
}

fn zone_summaries(event: &Event, cells: &Cells, cover: &[Cover]) -> Vec<ZoneSummary> {
    let n = event.zones.len();
    let (mut area, mut before, mut after) = (vec![0usize; n], vec![0usize; n], vec![0usize; n]);
    for (c, &cov) in cover.iter().enumerate() {
        for &z in &cells.zone_sets[cells.zone_set[c] as usize] {
            let z = z as usize;
            area[z] += 1;
            before[z] += usize::from(cov == Cover::Fixed);
            after[z] += usize::from(cov != Cover::Gap);
        }
    }
    let cell_area = cells.grid.cell_m * cells.grid.cell_m;
    let share = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    event
        .zones
        .iter()
        .enumerate()
        .map(|(z, zone)| ZoneSummary {
            name: zone.name.clone(),
            weight: zone.weight,
            crowd: zone.crowd,
            area_m2: area[z] as f64 * cell_area,
            before: share(before[z], area[z]),
            after: share(after[z], area[z]),
        })
        .collect()
}

/// Connected gaps (4-neighbours on the grid), largest first.
fn gaps(cells: &Cells, cover: &[Cover], max: usize) -> (usize, Vec<GapArea>) {
    let g = &cells.grid;
    let mut seen = vec![false; cells.len()];
    let mut all = Vec::new();
    let mut stack = Vec::new();
    for start in 0..cells.len() {
        if seen[start] || cover[start] != Cover::Gap {
            continue;
        }
        seen[start] = true;
        stack.push(start as u32);
        let mut members = Vec::new();
        while let Some(c) = stack.pop() {
            members.push(c);
            let gi = cells.at[c as usize] as usize;
            let (i, j) = (gi % g.cols, gi / g.cols);
            let mut visit = |ni: usize| {
                let n = cells.lookup[ni];
                if n != NONE && !seen[n as usize] && cover[n as usize] == Cover::Gap {
                    seen[n as usize] = true;
                    stack.push(n);
                }
            };
            if i > 0 {
                visit(gi - 1);
            }
            if i + 1 < g.cols {
                visit(gi + 1);
            }
            if j > 0 {
                visit(gi - g.cols);
            }
            if j + 1 < g.rows {
                visit(gi + g.cols);
            }
        }
        members.sort_unstable();
        all.push(members);
    }
    let count = all.len();
    all.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    all.truncate(max);
    let cell_area = g.cell_m * g.cell_m;
    let gaps = all
        .into_iter()
        .map(|members| {
            let n = members.len() as f64;
            let (mut e, mut no) = (0.0, 0.0);
            for &c in &members {
                let p = cells.centre(c as usize);
                e += p[0];
                no += p[1];
            }
            GapArea {
                area_m2: n * cell_area,
                centroid: [e / n, no / n],
                cells: members,
            }
        })
        .collect();
    (count, gaps)
}

/// Coverage over the zones' windows, at about 150 steps of at least 5 min.
fn timeline(
    event: &Event,
    cells: &Cells,
    inst: &Instance,
    chosen: &[usize],
    list: &[candidates::Candidate],
) -> Vec<TimePoint> {
    let Some(span) = event.span() else {
        return Vec::new();
    };
    let step = (span.len_s() / 150).max(300);
    let window_of = |c: usize| -> Window {
        match &list[c].site {
            Site::Station(s) => s.window,
            Site::Post(p) => p.window,
        }
    };
    let cell_area = cells.grid.cell_m * cells.grid.cell_m;
    let mut on = vec![false; cells.len()];
    let mut set_active = vec![false; cells.zone_sets.len()];
    let mut out = Vec::new();
    let mut t = span.start_s;
    loop {
        for (k, set) in cells.zone_sets.iter().enumerate() {
            set_active[k] = set
                .iter()
                .any(|&z| event.zones[z as usize].window.contains(t));
        }
        on.iter_mut().for_each(|x| *x = false);
        for &c in chosen {
            if window_of(c).contains(t) {
                for &i in &inst.sets[c] {
                    on[i as usize] = true;
                }
            }
        }
        let (mut all, mut before, mut after, mut n) = (0.0, 0.0, 0.0, 0usize);
        for c in 0..cells.len() {
            if !set_active[cells.zone_set[c] as usize] {
                continue;
            }
            let v = cells.value[c];
            n += 1;
            all += v;
            if cells.fixed[c] {
                before += v;
                after += v;
            } else if on[c] {
                after += v;
            }
        }
        let share = |x: f64| if all > 0.0 { x / all } else { 0.0 };
        out.push(TimePoint {
            t_s: t,
            before: share(before),
            after: share(after),
            active_m2: n as f64 * cell_area,
        });
        if t >= span.end_s {
            break;
        }
        t = (t + step).min(span.end_s);
        if t == span.end_s {
            // The last instant of a half-open window is outside it: sample
            // just before the end instead.
            t = span.end_s - 1;
            if out.last().is_some_and(|p| p.t_s >= t) {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
