//! What a plan looks like on disk: GeoJSON for GIS tools and the viewer, a
//! summary table (Markdown and CSV), and a Markdown report with PNG maps of
//! coverage before and after, the gaps, and coverage over time.
//!
//! The maps are drawn cell by cell with the `image` crate, over the
//! event's base map, with the labels, typeface and placement the viewer
//! uses ([`crate::map`]): no plotting library.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use serde_json::{Value, json};

use super::event::{Event, hhmm_utc};

/// `HH:MM` in the event's local time.
fn clock(plan: &Plan, t_s: i64) -> String {
    hhmm_utc(t_s + plan.utc_offset_s)
}

/// The event's local time zone, as `UTC+02:00`.
fn zone(plan: &Plan) -> String {
    let o = plan.utc_offset_s;
    let sign = if o < 0 { '-' } else { '+' };
    format!(
        "UTC{sign}{:02}:{:02}",
        o.abs() / 3600,
        (o.abs() % 3600) / 60
    )
}
use super::{Cover, Plan};
use crate::coverage::polygon::{Pt, row_crossings};
use crate::map::labels;
use crate::map::text::{Pen, blend, mix};

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be written.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Files written by [`write_all`], in the order written.
pub const FILES: [&str; 8] = [
    "plan.geojson",
    "summary.csv",
    "summary.md",
    "before.png",
    "after.png",
    "gaps.png",
    "timeline.png",
    "report.md",
];

/// Writes every output into `dir` (created if missing); returns the paths.
pub fn write_all(event: &Event, plan: &Plan, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let err = |path: &Path, e: &dyn std::fmt::Display| ReportError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| err(dir, &e))?;
    let mut written = Vec::new();
    let mut text = |name: &str, body: String| -> Result<(), ReportError> {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(|e| err(&p, &e))?;
        written.push(p);
        Ok(())
    };
    text(
        "plan.geojson",
        serde_json::to_string_pretty(&geojson(event, plan)).unwrap_or_default(),
    )?;
    text("summary.csv", summary_csv(event, plan))?;
    text("summary.md", summary_md(event, plan))?;
    let mut png = |name: &str, img: RgbImage| -> Result<(), ReportError> {
        let p = dir.join(name);
        img.save(&p).map_err(|e| err(&p, &e))?;
        written.push(p);
        Ok(())
    };
    png("before.png", map(event, plan, MapKind::Before))?;
    png("after.png", map(event, plan, MapKind::After))?;
    png("gaps.png", map(event, plan, MapKind::Gaps))?;
    png("timeline.png", timeline_png(plan))?;
    let p = dir.join("report.md");
    std::fs::write(&p, report_md(event, plan)).map_err(|e| err(&p, &e))?;
    written.push(p);
    Ok(written)
}

fn lonlat(event: &Event, p: Pt) -> [f64; 2] {
    let (lat, lon) = event.frame.to_wgs84(p[0], p[1]);
    [(lon * 1e7).round() / 1e7, (lat * 1e7).round() / 1e7]
}

/// RFC 3339 UTC of Unix seconds.
pub fn rfc3339(t_s: i64) -> String {
    let (y, m, d) = crate::time::civil(t_s.div_euclid(86_400));
    let s = t_s.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

/// The plan as a GeoJSON FeatureCollection: stations (Points) with their
/// footprints (Polygons), posts (Points), gaps (MultiPolygons of cell
/// rectangles). Every feature has a `kind` property.
pub fn geojson(event: &Event, plan: &Plan) -> Value {
    let mut features = Vec::new();
    for s in &plan.stations {
        let st = &s.station;
        let r = &st.rotation;
        features.push(json!({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": lonlat(event, st.pos)},
            "properties": {
                "kind": "drone_station",
                "id": s.id,
                "local_m": st.pos,
                "altitude_m": st.altitude_m,
                "gimbal_pitch_deg": st.pitch_deg,
                "gimbal_yaw_deg": st.yaw_deg,
                "airframes": r.airframes,
                "sorties": r.sorties,
                "on_station_min": (r.on_station_s / 6.0).round() / 10.0,
                "transit_min": (r.transit_s / 6.0).round() / 10.0,
                "launch_site": st.launch,
                "start": rfc3339(st.window.start_s),
                "end": rfc3339(st.window.end_s),
                "adds_weighted_m2": s.value.round(),
            }
        }));
        if s.footprint.len() >= 4 {
            let ring: Vec<[f64; 2]> = s.footprint.iter().map(|&p| lonlat(event, p)).collect();
            features.push(json!({
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"kind": "drone_footprint", "id": s.id},
            }));
        }
    }
    for p in &plan.posts {
        features.push(json!({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": lonlat(event, p.post.pos)},
            "properties": {
                "kind": "patrol_post",
                "id": p.id,
                "local_m": p.post.pos,
                "radius_m": p.post.radius_m,
                "teams": p.post.teams,
                "start": rfc3339(p.post.window.start_s),
                "end": rfc3339(p.post.window.end_s),
                "adds_weighted_m2": p.value.round(),
            }
        }));
    }
    for (k, g) in plan.gaps.iter().enumerate() {
        let polys: Vec<Value> = rectangles(plan, &g.cells)
            .into_iter()
            .map(|[a, b]| {
                json!([[
                    lonlat(event, a),
                    lonlat(event, [b[0], a[1]]),
                    lonlat(event, b),
                    lonlat(event, [a[0], b[1]]),
                    lonlat(event, a)
                ]])
            })
            .collect();
        features.push(json!({
            "type": "Feature",
            "geometry": {"type": "MultiPolygon", "coordinates": polys},
            "properties": {
                "kind": "gap",
                "rank": k + 1,
                "area_m2": g.area_m2.round(),
                "centroid": lonlat(event, g.centroid),
            }
        }));
    }
    json!({
        "type": "FeatureCollection",
        "properties": {
            "event": plan.event,
            "seed": plan.seed,
            "coverage_before": plan.totals.before,
            "coverage_after": plan.totals.after,
            "airframes_used": plan.totals.airframes_used,
            "teams_used": plan.totals.teams_used,
        },
        "features": features,
    })
}

/// Cells (ascending ids, so row-major) as rectangles: one per run along a
/// row, `[south-west, north-east]` in the local frame.
fn rectangles(plan: &Plan, cells: &[u32]) -> Vec<[Pt; 2]> {
    let g = &plan.cells.grid;
    let mut out: Vec<[Pt; 2]> = Vec::new();
    let mut run: Option<(usize, usize, usize)> = None;
    let flush = |run: (usize, usize, usize), out: &mut Vec<[Pt; 2]>| {
        let (j, a, b) = run;
        out.push([
            [
                g.origin[0] + a as f64 * g.cell_m,
                g.origin[1] + j as f64 * g.cell_m,
            ],
            [
                g.origin[0] + b as f64 * g.cell_m,
                g.origin[1] + (j + 1) as f64 * g.cell_m,
            ],
        ]);
    };
    for &c in cells {
        let gi = plan.cells.at[c as usize] as usize;
        let (i, j) = (gi % g.cols, gi / g.cols);
        run = match run {
            Some((rj, a, b)) if rj == j && b == i => Some((rj, a, b + 1)),
            Some(r) => {
                flush(r, &mut out);
                Some((j, i, i + 1))
            }
            None => Some((j, i, i + 1)),
        };
    }
    if let Some(r) = run {
        flush(r, &mut out);
    }
    out
}

/// One row per station and post.
pub fn summary_csv(event: &Event, plan: &Plan) -> String {
    let mut out = String::from(
        "id,kind,lat,lon,altitude_m,gimbal_pitch_deg,gimbal_yaw_deg,airframes_or_teams,start,end,adds_weighted_m2\n",
    );
    for s in &plan.stations {
        let st = &s.station;
        let [lon, lat] = lonlat(event, st.pos);
        let _ = writeln!(
            out,
            "{},drone_station,{lat},{lon},{},{},{},{},{},{},{:.0}",
            s.id,
            st.altitude_m,
            st.pitch_deg,
            st.yaw_deg,
            st.rotation.airframes,
            rfc3339(st.window.start_s),
            rfc3339(st.window.end_s),
            s.value
        );
    }
    for p in &plan.posts {
        let [lon, lat] = lonlat(event, p.post.pos);
        let _ = writeln!(
            out,
            "{},patrol_post,{lat},{lon},,,,{},{},{},{:.0}",
            p.id,
            p.post.teams,
            rfc3339(p.post.window.start_s),
            rfc3339(p.post.window.end_s),
            p.value
        );
    }
    out
}

/// A share as a percentage with one decimal: never "-0.0 %" (a rounding
/// residue below zero prints as 0.0), "n/a" when there is nothing to share.
pub fn pct(x: f64) -> String {
    format!("{} %", pct_value(x))
}

/// The number [`pct`] prints, without the sign of a rounding residue.
pub fn pct_value(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    // Rounded first, then `+ 0.0` turns -0.0 into 0.0.
    let tenths = (1000.0 * x).round() / 10.0 + 0.0;
    format!("{tenths:.1}")
}

/// The headline table and the stations and posts, in Markdown.
pub fn summary_md(event: &Event, plan: &Plan) -> String {
    let t = &plan.totals;
    let mut out = String::new();
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Open area sampled | {:.1} ha |", t.area_m2 / 1e4);
    let _ = writeln!(
        out,
        "| Seen by fixed cameras (weighted) | {} |",
        pct(t.before)
    );
    let _ = writeln!(
        out,
        "| Watched with the plan (weighted) | {} |",
        pct(t.after)
    );
    let _ = writeln!(out, "| … added by drones | {} |", pct(t.by_drones));
    let _ = writeln!(out, "| … added by patrols | {} |", pct(t.by_patrols));
    let _ = writeln!(
        out,
        "| Drone stations | {} ({} of {} airframes) |",
        plan.stations.len(),
        t.airframes_used,
        t.airframes
    );
    let _ = writeln!(
        out,
        "| Patrol posts | {} ({} of {} teams) |",
        plan.posts.len(),
        t.teams_used,
        t.teams
    );
    let _ = writeln!(
        out,
        "| Plan vs optimum | at least {} |",
        pct(plan.quality.ratio_lower_bound)
    );
    let _ = writeln!(out, "| Gaps | {} |", plan.gap_count);
    if !plan.stations.is_empty() {
        let _ = writeln!(
            out,
            "\n| Station | Position (lat, lon) | Altitude | Gimbal pitch / heading | Airframes | Sorties | On station | Transit | Window ({}) |\n|---|---|---|---|---|---|---|---|---|",
            zone(plan)
        );
        for s in &plan.stations {
            let st = &s.station;
            let r = &st.rotation;
            let [lon, lat] = lonlat(event, st.pos);
            let _ = writeln!(
                out,
                "| {} | {lat:.6}, {lon:.6} | {:.0} m | {:.0}° / {:.0}° | {} | {} | {:.0} min | {:.1} min | {}–{} |",
                s.id,
                st.altitude_m,
                st.pitch_deg,
                st.yaw_deg,
                r.airframes,
                r.sorties,
                r.on_station_s / 60.0,
                r.transit_s / 60.0,
                clock(plan, st.window.start_s),
                clock(plan, st.window.end_s)
            );
        }
    }
    if !plan.posts.is_empty() {
        let _ = writeln!(
            out,
            "\n| Post | Position (lat, lon) | Radius | Teams | Window ({}) |\n|---|---|---|---|---|",
            zone(plan)
        );
        for p in &plan.posts {
            let [lon, lat] = lonlat(event, p.post.pos);
            let _ = writeln!(
                out,
                "| {} | {lat:.6}, {lon:.6} | {:.0} m | {} | {}–{} |",
                p.id,
                p.post.radius_m,
                p.post.teams,
                clock(plan, p.post.window.start_s),
                clock(plan, p.post.window.end_s)
            );
        }
    }
    out
}

/// What the plan achieves in one line: coverage before and after, and
/// with what (the report's opening and `vigie plan`'s output).
pub fn headline(plan: &Plan) -> String {
    let t = &plan.totals;
    format!(
        "{} with fixed cameras alone, {} with {} drone stations ({} of {} airframes) and {} patrol posts ({} of {} teams)",
        pct(t.before),
        pct(t.after),
        plan.stations.len(),
        t.airframes_used,
        t.airframes,
        plan.posts.len(),
        t.teams_used,
        t.teams,
    )
}

/// The full report in Markdown, referring to the PNGs beside it.
pub fn report_md(event: &Event, plan: &Plan) -> String {
    let t = &plan.totals;
    let q = &plan.quality;
    let mut out = String::new();
    let _ = writeln!(out, "# Coverage plan: {}\n", plan.event);
    let _ = writeln!(
        out,
        "Seed {}. Weighted coverage of the zones: {}. Coverage is weighted by each zone's weight and counted on {:.0} m cells; {:.1} ha under privacy masks are never counted.\n",
        plan.seed,
        headline(plan),
        plan.cells.grid.cell_m,
        t.masked_m2 / 1e4,
    );
    let _ = writeln!(out, "## Summary\n\n{}", summary_md(event, plan));
    let _ = writeln!(
        out,
        "\n## Zones\n\n| Zone | Weight | Crowd | Open area | Fixed cameras | With the plan | People outside coverage (est.) |\n|---|---|---|---|---|---|---|"
    );
    for z in &plan.zones {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} ha | {} | {} | {:.0} |",
            z.name,
            z.weight,
            z.crowd,
            z.area_m2 / 1e4,
            pct(z.before),
            pct(z.after),
            f64::from(z.crowd) * (1.0 - z.after)
        );
    }
    let _ = writeln!(
        out,
        "\n## Maps\n\nBlue: fixed cameras; green: planned drones (footprints outlined, stations as dark triangles); purple: planned patrols (posts as dots); red: gaps; amber: not yet covered; dark outline: flight authorisation; red outline: no-fly zones; black squares: launch sites. The bar at the bottom left is 100 m.\n\n| Before | After | Gaps |\n|---|---|---|\n| ![before](before.png) | ![after](after.png) | ![gaps](gaps.png) |\n"
    );
    let _ = writeln!(
        out,
        "## Coverage over time\n\n![coverage over time](timeline.png)\n\nWeighted share of the zones on watch at each time that is seen (blue: fixed cameras only; green: with the stations and posts on duty). Times {tz}; the grid lines are every 25 %; the plot's hour labels are local time too.\n\n| Time ({tz}) | Fixed cameras | With the plan | Area on watch |\n|---|---|---|---|",
        tz = zone(plan)
    );
    let every = (plan.timeline.len() / 12).max(1);
    for p in plan.timeline.iter().step_by(every) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} ha |",
            clock(plan, p.t_s),
            pct(p.before),
            pct(p.after),
            p.active_m2 / 1e4
        );
    }
    let d = &event.drones;
    let _ = writeln!(
        out,
        "\n## Rotations\n\nEach airframe flies {:.0} min (endurance {:.0} min less a {:.0} min reserve) and needs {:.0} min on the ground for a battery swap. A station reached in T minutes (distance at {:.0} m/s plus the climb at {:.0} m/s) is held {:.0} − 2T min per sortie, and needs `ceil((E − R + S) / (E − R − 2T))` airframes to stay watched without a break, or fewer when its window takes fewer sorties. {} candidate stations were too far from every launch site and {} needed more airframes or teams than available; both were left out.\n",
        (d.endurance_s - d.reserve_s) / 60.0,
        d.endurance_s / 60.0,
        d.reserve_s / 60.0,
        d.swap_s / 60.0,
        d.cruise_m_s,
        d.climb_m_s,
        (d.endurance_s - d.reserve_s) / 60.0,
        q.unreachable,
        q.over_assets,
    );
    let _ = writeln!(
        out,
        "## How good is this plan\n\n{} candidate stations ({} positions refused in no-fly zones) and {} candidate posts. Lazy greedy reached {:.0} weighted m², swaps ({} made) {:.0}. Greedy is guaranteed within `1 − 1/e ≈ 63 %` of the optimum when every candidate costs the same (Nemhauser, Wolsey & Fisher 1978), `½(1 − 1/e)` with unequal costs (Khuller, Moss & Naor 1999). For this plan, submodularity gives a sharper bound: no plan within the budgets can exceed {:.0} weighted m², so this plan is **at least {} of the optimum**. On small instances the tests compare with the exact integer-programming optimum.\n",
        q.station_candidates,
        q.in_no_fly,
        q.post_candidates,
        q.greedy_value,
        q.swaps,
        q.value,
        q.upper_bound,
        pct(q.ratio_lower_bound),
    );
    let _ = writeln!(
        out,
        "## Largest gaps\n\n{} separate gaps in all.\n\n| # | Area | Centre (lat, lon) |\n|---|---|---|",
        plan.gap_count
    );
    for (k, g) in plan.gaps.iter().enumerate() {
        let [lon, lat] = lonlat(event, g.centroid);
        let _ = writeln!(
            out,
            "| {} | {:.0} m² | {lat:.6}, {lon:.6} |",
            k + 1,
            g.area_m2
        );
    }
    if !event.sources.is_empty() {
        let _ = writeln!(out, "\n## Sources of the event's coordinates\n");
        for s in &event.sources {
            let _ = writeln!(out, "- {s}");
        }
    }
    if !event.warnings.is_empty() {
        let _ = writeln!(out, "\n## Layer rows not imported\n");
        for w in &event.warnings {
            let _ = writeln!(out, "- {w}");
        }
    }
    out
}

/// Which map to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    /// Fixed cameras only.
    Before,
    /// With the plan.
    After,
    /// Only the gaps left.
    Gaps,
}

const BLUE: Rgb<u8> = Rgb([66, 120, 220]);
const GREEN: Rgb<u8> = Rgb([60, 170, 90]);
const PURPLE: Rgb<u8> = Rgb([150, 90, 200]);
const RED: Rgb<u8> = Rgb([220, 50, 40]);
const AMBER: Rgb<u8> = Rgb([240, 170, 60]);
const PALE: Rgb<u8> = Rgb([215, 215, 215]);
const INK: Rgb<u8> = Rgb([30, 30, 40]);
/// The map's background.
const PAPER: Rgb<u8> = Rgb([248, 248, 244]);
/// The base map's water, parks and streets, pale under the cells.
const WATER: Rgb<u8> = Rgb([170, 200, 232]);
const PARK: Rgb<u8> = Rgb([200, 226, 190]);
const STREET: Rgb<u8> = Rgb([214, 212, 206]);
/// Opacity of the cells over the base map (the river shows through).
const CELL_ALPHA: u8 = 200;
/// Radius of a patrol post's disc, pixels.
const POST_PX: i64 = 2;
/// Label and legend text, pixels per em.
const LABEL_PX: f32 = 13.0;
/// The attribution's text, pixels per em.
const SMALL_PX: f32 = 11.0;
/// A legend swatch's side and a legend row's height, pixels.
const SWATCH_PX: f32 = 12.0;
const ROW_PX: f32 = 17.0;
/// Padding inside a label's backing, pixels.
const PAD_PX: f32 = 2.0;

/// Local frame to pixels.
struct View {
    lo: Pt,
    scale: f64,
    h: u32,
}

impl View {
    /// Where `p` falls on the image, fractional pixels.
    fn xy(&self, p: Pt) -> Pt {
        [
            (p[0] - self.lo[0]) * self.scale,
            f64::from(self.h) - (p[1] - self.lo[1]) * self.scale,
        ]
    }

    /// The pixel `p` falls on.
    fn px(&self, p: Pt) -> (i64, i64) {
        let [x, y] = self.xy(p);
        (x.round() as i64, y.round() as i64)
    }
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, c);
    }
}

fn line(img: &mut RgbImage, a: (i64, i64), b: (i64, i64), c: Rgb<u8>) {
    let (mut x, mut y) = a;
    let (dx, dy) = ((b.0 - a.0).abs(), -(b.1 - a.1).abs());
    let (sx, sy) = (
        if a.0 < b.0 { 1 } else { -1 },
        if a.1 < b.1 { 1 } else { -1 },
    );
    let mut err = dx + dy;
    for _ in 0..100_000 {
        put(img, x, y, c);
        if (x, y) == b {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

fn ring(img: &mut RgbImage, v: &View, r: &[Pt], c: Rgb<u8>) {
    for w in r.windows(2) {
        line(img, v.px(w[0]), v.px(w[1]), c);
    }
}

fn disc(img: &mut RgbImage, centre: (i64, i64), r: i64, c: Rgb<u8>) {
    for dy in -r..=r {
        for dx in -r..=r {
            if dx * dx + dy * dy <= r * r {
                put(img, centre.0 + dx, centre.1 + dy, c);
            }
        }
    }
}

/// A label drawn on a report map: its words and its box, pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// The words.
    pub text: String,
    /// The box, backing included.
    pub rect: labels::Rect,
    /// The point it names, pixels.
    pub at: [f32; 2],
}

/// A map of the plan, at most 1400 × 1000 pixels, north up: the base map
/// (water, parks, streets) under the cells, the plan's items, labels that
/// do not overlap (stations, zones, posts, landmarks), a legend, a north
/// arrow, a scale bar and the base map's attribution.
pub fn map(event: &Event, plan: &Plan, kind: MapKind) -> RgbImage {
    map_and_labels(event, plan, kind).0
}

/// [`map`], and the labels it placed.
pub fn map_and_labels(event: &Event, plan: &Plan, kind: MapKind) -> (RgbImage, Vec<Label>) {
    let g = &plan.cells.grid;
    let pad = 0.05 * (g.cols.max(g.rows) as f64 * g.cell_m);
    let lo = [g.origin[0] - pad, g.origin[1] - pad];
    let w_m = g.cols as f64 * g.cell_m + 2.0 * pad;
    let h_m = g.rows as f64 * g.cell_m + 2.0 * pad;
    let scale = (1400.0 / w_m).min(1000.0 / h_m);
    let (w, h) = (
        ((w_m * scale).ceil() as u32).max(1),
        ((h_m * scale).ceil() as u32).max(1),
    );
    let v = View { lo, scale, h };
    let mut img = RgbImage::from_pixel(w, h, PAPER);
    let local = |p: &[f64; 2]| event.frame.local(*p);
    // Parks first: a river crossing a park shows.
    for (areas, colour) in [(&event.base.parks, PARK), (&event.base.water, WATER)] {
        for a in areas {
            let ring: Vec<Pt> = a.ring.iter().map(local).collect();
            fill(&mut img, &v, &ring, colour, 255);
        }
    }
    for s in &event.base.streets {
        let line_px: Vec<Pt> = s.line.iter().map(local).collect();
        let half = ((s.width_m * scale / 2.0).round() as i64).clamp(0, 6);
        for wnd in line_px.windows(2) {
            let (a, b) = (v.px(wnd[0]), v.px(wnd[1]));
            for k in -half..=half {
                line(&mut img, (a.0, a.1 + k), (b.0, b.1 + k), STREET);
            }
        }
    }
    let cell_px = (g.cell_m * scale).ceil().max(1.0) as i64;
    for c in 0..plan.cells.len() {
        let colour = cell_colour(kind, plan.cover[c]);
        let centre = plan.cells.centre(c);
        let (x, y) = v.px([centre[0] - g.cell_m / 2.0, centre[1] + g.cell_m / 2.0]);
        for dy in 0..cell_px {
            for dx in 0..cell_px {
                blend(&mut img, x + dx, y + dy, colour, CELL_ALPHA);
            }
        }
    }
    for r in &event.authorisation {
        ring(&mut img, &v, r, INK);
    }
    for z in &event.no_fly {
        ring(&mut img, &v, &z.ring, RED);
    }
    if kind == MapKind::After {
        for s in &plan.stations {
            ring(&mut img, &v, &s.footprint, Rgb([20, 110, 50]));
        }
        for p in &plan.posts {
            disc(&mut img, v.px(p.post.pos), POST_PX, Rgb([90, 40, 140]));
        }
        for s in &plan.stations {
            station_mark(&mut img, v.px(s.station.pos));
        }
    }
    for l in &event.drones.launch_sites {
        let (x, y) = v.px(*l);
        for dy in -3..=3 {
            for dx in -3..=3 {
                put(&mut img, x + dx, y + dy, INK);
            }
        }
    }
    let Some(mut pen) = Pen::sans() else {
        return (img, Vec::new());
    };
    let legend = legend_rows(event, kind);
    let legend_box = legend_box(&pen, &legend, w);
    let bar = crate::map::scale::round_length(1.0 / scale as f32, 0.2 * w as f32);
    let furniture = [
        legend_box,
        labels::Rect::at([0.0, h as f32 - 40.0], [200.0, 40.0]),
        labels::Rect::at([0.0, 0.0], [40.0, 50.0]),
        labels::Rect::at([w as f32 - 520.0, h as f32 - 18.0], [520.0, 18.0]),
    ];
    let placed = draw_labels(&mut img, &mut pen, &v, event, plan, kind, &furniture);
    draw_legend(&mut img, &mut pen, &legend, legend_box);
    // North arrow: the map is north up.
    let (ax, ay) = (20i64, 40i64);
    for k in 0..10 {
        line(
            &mut img,
            (ax - k / 2, ay - 14 + k),
            (ax + k / 2, ay - 14 + k),
            INK,
        );
    }
    line(&mut img, (ax, ay - 4), (ax, ay + 6), INK);
    pen.draw(&mut img, [ax as f32 - 5.0, 4.0], "N", LABEL_PX, INK);
    // Scale bar with its length.
    if let Some((m, px)) = bar {
        let bar = px.round() as i64;
        let y0 = i64::from(h) - 12;
        for k in 0..3 {
            line(&mut img, (10, y0 + k), (10 + bar, y0 + k), INK);
        }
        pen.draw(
            &mut img,
            [10.0, y0 as f32 - LABEL_PX * 1.3],
            &crate::map::scale::format_length(m),
            LABEL_PX,
            INK,
        );
    }
    if !event.base.attribution.is_empty() {
        let s = format!("Base map: {}", event.base.attribution);
        let [tw, _] = pen.measure(&s, SMALL_PX);
        pen.draw(
            &mut img,
            [w as f32 - tw - 6.0, h as f32 - 15.0],
            &s,
            SMALL_PX,
            INK,
        );
    }
    (img, placed)
}

/// Colour of a cell on each map.
fn cell_colour(kind: MapKind, cover: Cover) -> Rgb<u8> {
    match (kind, cover) {
        (_, Cover::Fixed) if kind != MapKind::Gaps => BLUE,
        (MapKind::Before, _) => AMBER,
        (MapKind::After, Cover::Drone) => GREEN,
        (MapKind::After, Cover::Patrol) => PURPLE,
        (MapKind::After, Cover::Camera) => BLUE,
        (_, Cover::Gap) => RED,
        _ => PALE,
    }
}

/// A station's mark: a small ink triangle above its position.
fn station_mark(img: &mut RgbImage, (x, y): (i64, i64)) {
    for k in 0..6 {
        line(img, (x - k, y + 3), (x + k, y + 3), INK);
        line(img, (x - k / 2, y + 3 - k), (x + k / 2, y + 3 - k), INK);
    }
}

/// The legend's rows: swatch colour and words, for what the map shows.
fn legend_rows(event: &Event, kind: MapKind) -> Vec<(Rgb<u8>, Swatch, &'static str)> {
    let cells: &[(Rgb<u8>, &str)] = match kind {
        MapKind::Before => &[
            (BLUE, "seen by fixed cameras"),
            (AMBER, "not seen by fixed cameras"),
        ],
        MapKind::After => &[
            (BLUE, "fixed or added cameras"),
            (GREEN, "drones"),
            (PURPLE, "patrol posts"),
            (RED, "gap left"),
        ],
        MapKind::Gaps => &[(RED, "gap left"), (PALE, "covered")],
    };
    let mut rows: Vec<_> = cells
        .iter()
        .map(|(c, s)| (mix(*c, PAPER, CELL_ALPHA), Swatch::Fill, *s))
        .collect();
    if kind == MapKind::After {
        rows.push((INK, Swatch::Station, "drone station (S01…)"));
        rows.push((Rgb([90, 40, 140]), Swatch::Dot, "patrol post (P001…)"));
    }
    if !event.drones.launch_sites.is_empty() {
        rows.push((INK, Swatch::Fill, "drone launch site"));
    }
    rows.push((RED, Swatch::Outline, "no-fly zone"));
    rows.push((INK, Swatch::Outline, "flight authorisation"));
    for (absent, c, s) in [
        (event.base.water.is_empty(), WATER, "water"),
        (event.base.parks.is_empty(), PARK, "park, garden"),
        (event.base.streets.is_empty(), STREET, "street"),
    ] {
        if !absent {
            rows.push((c, Swatch::Fill, s));
        }
    }
    rows
}

/// How a legend row shows its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Swatch {
    /// A filled square.
    Fill,
    /// A square's outline.
    Outline,
    /// A station's triangle.
    Station,
    /// A post's dot.
    Dot,
}

/// Where the legend stands: top right, sized to its rows.
fn legend_box(pen: &Pen, rows: &[(Rgb<u8>, Swatch, &str)], w: u32) -> labels::Rect {
    let text_w = rows
        .iter()
        .map(|(_, _, s)| pen.measure(s, LABEL_PX)[0])
        .fold(0.0, f32::max);
    let bw = text_w + SWATCH_PX + 18.0;
    let bh = rows.len() as f32 * ROW_PX + 10.0;
    labels::Rect::at([w as f32 - bw - 8.0, 8.0], [bw, bh])
}

fn draw_legend(
    img: &mut RgbImage,
    pen: &mut Pen,
    rows: &[(Rgb<u8>, Swatch, &str)],
    b: labels::Rect,
) {
    fill_rect(img, b, Rgb([255, 255, 255]), 225);
    for (k, (colour, swatch, words)) in rows.iter().enumerate() {
        let y = b.min[1] + 5.0 + k as f32 * ROW_PX;
        let sw = labels::Rect::at([b.min[0] + 6.0, y + 2.0], [SWATCH_PX, SWATCH_PX]);
        let (x0, y0) = (sw.min[0] as i64, sw.min[1] as i64);
        let (x1, y1) = (sw.max[0] as i64 - 1, sw.max[1] as i64 - 1);
        let centre = ((x0 + x1) / 2, (y0 + y1) / 2);
        match swatch {
            Swatch::Fill => fill_rect(img, sw, *colour, 255),
            Swatch::Outline => {
                let corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)];
                for e in corners.windows(2) {
                    line(img, e[0], e[1], *colour);
                }
            }
            Swatch::Station => station_mark(img, (centre.0, centre.1 + 1)),
            Swatch::Dot => disc(img, centre, POST_PX + 1, *colour),
        }
        pen.draw(img, [sw.max[0] + 6.0, y], words, LABEL_PX, INK);
    }
}

/// Station and post ids, zone names and landmarks, placed without overlap
/// (stations first, then zones, posts, landmarks) and clear of `keep_out`.
#[allow(clippy::too_many_arguments)]
fn draw_labels(
    img: &mut RgbImage,
    pen: &mut Pen,
    v: &View,
    event: &Event,
    plan: &Plan,
    kind: MapKind,
    keep_out: &[labels::Rect],
) -> Vec<Label> {
    use labels::Anchor::{Beside, Centred};
    // What to name, where, with what rank and anchor.
    let mut wanted: Vec<(Pt, String, u8, labels::Anchor)> = Vec::new();
    if kind == MapKind::After {
        wanted.extend(
            plan.stations
                .iter()
                .map(|s| (s.station.pos, s.id.clone(), 0, Beside(6.0))),
        );
        wanted.extend(
            plan.posts
                .iter()
                .map(|p| (p.post.pos, p.id.clone(), 2, Beside(POST_PX as f32))),
        );
    }
    wanted.extend(
        event
            .zones
            .iter()
            .filter_map(|z| Some((z.shape.label_point()?, z.name.clone(), 1, Centred))),
    );
    wanted.extend(
        event
            .base
            .landmarks
            .iter()
            .map(|l| (event.frame.local(l.at), l.name.clone(), 3, Centred)),
    );
    let cands: Vec<labels::Candidate> = wanted
        .iter()
        .map(|(at, s, rank, anchor)| {
            let (x, y) = v.px(*at);
            let [tw, th] = pen.measure(s, LABEL_PX);
            labels::Candidate {
                at: [x as f32, y as f32],
                size: [tw + 2.0 * PAD_PX, th + 2.0 * PAD_PX],
                rank: *rank,
                anchor: *anchor,
            }
        })
        .collect();
    let texts = wanted.into_iter().map(|(_, s, _, _)| s);
    let screen = [img.width() as f32, img.height() as f32];
    let mut out = Vec::new();
    for ((p, c), s) in labels::place(&cands, screen, keep_out)
        .into_iter()
        .zip(&cands)
        .zip(texts)
    {
        let Some(p) = p else { continue };
        let rect = labels::Rect::at(p, c.size);
        fill_rect(img, rect, Rgb([255, 255, 255]), 200);
        pen.draw(img, [p[0] + PAD_PX, p[1] + PAD_PX], &s, LABEL_PX, INK);
        out.push(Label {
            text: s,
            rect,
            at: c.at,
        });
    }
    out
}

/// Fills a ring (local frame, closed or not) by scanlines, the even-odd
/// rule of [`row_crossings`].
fn fill(img: &mut RgbImage, v: &View, ring: &[Pt], c: Rgb<u8>, alpha: u8) {
    if ring.len() < 3 {
        return;
    }
    let mut px: Vec<Pt> = ring.iter().map(|p| v.xy(*p)).collect();
    if px.first() != px.last() {
        px.push(px[0]);
    }
    let (y0, y1) = px
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p[1]), b.max(p[1])));
    let mut xs = Vec::new();
    let rows = (y0.floor().max(0.0) as i64)..=(y1.ceil().min(f64::from(v.h)) as i64);
    for y in rows {
        row_crossings(&px, y as f64 + 0.5, &mut xs);
        for pair in xs.chunks_exact(2) {
            let (a, b) = (pair[0].round() as i64, pair[1].round() as i64);
            for x in a.max(0)..b.min(i64::from(img.width())) {
                blend(img, x, y, c, alpha);
            }
        }
    }
}

fn fill_rect(img: &mut RgbImage, r: labels::Rect, c: Rgb<u8>, alpha: u8) {
    for y in r.min[1].round() as i64..r.max[1].round() as i64 {
        for x in r.min[0].round() as i64..r.max[0].round() as i64 {
            blend(img, x, y, c, alpha);
        }
    }
}

/// Coverage over time: fixed cameras (blue) and with the plan (green),
/// 0–100 % with grid lines every 25 %, hour ticks labelled in UTC.
pub fn timeline_png(plan: &Plan) -> RgbImage {
    let (w, h) = (960u32, 360u32);
    let (left, right, top, bottom) = (56i64, 20i64, 16i64, 40i64);
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let pw = i64::from(w) - left - right;
    let ph = i64::from(h) - top - bottom;
    let (Some(first), Some(last)) = (plan.timeline.first(), plan.timeline.last()) else {
        return img;
    };
    let mut pen = Pen::sans();
    let mut text = |img: &mut RgbImage, x: i64, y: i64, s: &str| {
        if let Some(pen) = pen.as_mut() {
            pen.draw(img, [x as f32, y as f32], s, SMALL_PX, INK);
        }
    };
    let span = (last.t_s - first.t_s).max(1) as f64;
    let x_of = |t: i64| left + ((t - first.t_s) as f64 / span * pw as f64).round() as i64;
    let y_of = |f: f64| top + ph - (f.clamp(0.0, 1.0) * ph as f64).round() as i64;
    for q in 0..=4 {
        let y = y_of(f64::from(q) / 4.0);
        line(&mut img, (left, y), (left + pw, y), Rgb([225, 225, 225]));
        text(&mut img, 4, y - 7, &format!("{} %", q * 25));
    }
    let off = plan.utc_offset_s;
    let mut hour = ((first.t_s + off).div_euclid(3600) + 1) * 3600 - off;
    let step = if span > 12.0 * 3600.0 { 3 * 3600 } else { 3600 };
    while hour <= last.t_s {
        let x = x_of(hour);
        line(&mut img, (x, top), (x, top + ph), Rgb([235, 235, 235]));
        line(&mut img, (x, top + ph), (x, top + ph + 5), INK);
        text(&mut img, x - 15, top + ph + 8, &clock(plan, hour));
        hour += step;
    }
    line(&mut img, (left, top), (left, top + ph), INK);
    line(&mut img, (left, top + ph), (left + pw, top + ph), INK);
    // Area under "with the plan", lightly.
    for w2 in plan.timeline.windows(2) {
        let (x0, x1) = (x_of(w2[0].t_s), x_of(w2[1].t_s));
        for x in x0..x1 {
            let f = w2[0].after
                + (w2[1].after - w2[0].after) * (x - x0) as f64 / (x1 - x0).max(1) as f64;
            line(
                &mut img,
                (x, y_of(f)),
                (x, top + ph - 1),
                Rgb([220, 242, 226]),
            );
        }
    }
    for w2 in plan.timeline.windows(2) {
        for (get, c) in [
            (
                &(|p: &super::TimePoint| p.before) as &dyn Fn(&super::TimePoint) -> f64,
                BLUE,
            ),
            (&|p: &super::TimePoint| p.after, GREEN),
        ] {
            let a = (x_of(w2[0].t_s), y_of(get(&w2[0])));
            let b = (x_of(w2[1].t_s), y_of(get(&w2[1])));
            line(&mut img, a, b, c);
            line(&mut img, (a.0, a.1 - 1), (b.0, b.1 - 1), c);
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Options, plan};

    #[test]
    fn report_maps_show_the_base_map_and_name_every_station_beside_it() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../simulations/events/seine-opening-ceremony.toml");
        let event = Event::load(&path).expect("the example event loads");
        assert!(!event.base.water.is_empty() && !event.base.landmarks.is_empty());
        let plan = plan(&event, &Options::default()).expect("it plans");
        let (img, labels) = map_and_labels(&event, &plan, MapKind::After);
        let ink = |r: &labels::Rect| {
            let mut n = 0;
            for y in r.min[1] as u32..r.max[1] as u32 {
                for x in r.min[0] as u32..r.max[0] as u32 {
                    if img.get_pixel(x, y).0.iter().all(|c| *c < 90) {
                        n += 1;
                    }
                }
            }
            n
        };
        // Every station is named, next to its mark, in ink.
        for s in &plan.stations {
            let l = labels
                .iter()
                .find(|l| l.text == s.id)
                .unwrap_or_else(|| panic!("{} has no label", s.id));
            let dx = (l.at[0] - l.rect.min[0].max(l.at[0].min(l.rect.max[0]))).abs();
            let dy = (l.at[1] - l.rect.min[1].max(l.at[1].min(l.rect.max[1]))).abs();
            assert!(dx.hypot(dy) <= 12.0, "{} stands {dx},{dy} px away", s.id);
            assert!(ink(&l.rect) >= 10, "{} drew no text", s.id);
        }
        for (i, a) in labels.iter().enumerate() {
            for b in &labels[i + 1..] {
                assert!(!a.rect.overlaps(&b.rect), "{} covers {}", a.text, b.text);
            }
        }
        // Places of the base map are named too, and the river shows where
        // no zone covers it.
        let places = labels
            .iter()
            .filter(|l| event.base.landmarks.iter().any(|m| m.name == l.text))
            .count();
        assert!(places >= 5, "only {places} landmarks named");
        let water = img.pixels().filter(|p| **p == WATER).count();
        assert!(water > 5_000, "{water} water pixels");
        // The attribution stands in the bottom-right corner.
        let (w, h) = (img.width() as f32, img.height() as f32);
        assert!(ink(&labels::Rect::at([w - 300.0, h - 16.0], [300.0, 16.0])) > 50);
        // The same event with no base map: nothing of it is drawn.
        let bare = Event {
            base: Default::default(),
            ..event.clone()
        };
        let img = map(&bare, &plan, MapKind::After);
        assert_eq!(img.pixels().filter(|p| **p == WATER).count(), 0);
    }

    #[test]
    fn shares_never_print_a_negative_zero() {
        assert_eq!(pct(-0.0), "0.0 %");
        assert_eq!(pct(-1e-9), "0.0 %");
        assert_eq!(pct(-0.0004), "0.0 %");
        assert_eq!(pct(0.123_44), "12.3 %");
        assert_eq!(pct(1.0), "100.0 %");
        assert_eq!(pct_value(f64::NAN), "n/a");
    }
}
