//! `vigie coverage`: who sees what, from the shell, offline on files or on
//! the data directory.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use vigie_ground::coverage::buildings::Buildings;
use vigie_ground::coverage::history::{self, Target};
use vigie_ground::coverage::http::{WhoSeesAnswer, answer_point, zone_json, zone_ring};
use vigie_ground::coverage::inventory::{self, csv_field, csv_records};
use vigie_ground::coverage::live::{LiveCoverage, fixed_source};
use vigie_ground::coverage::mask::Masks;
use vigie_ground::coverage::polygon::Pt;
use vigie_ground::coverage::query;
use vigie_ground::frame::LocalFrame;
use vigie_ground::time::rfc3339;

use super::cameras::DataPlace;

/// Coverage queries.
#[derive(Subcommand, Debug)]
pub enum CoverageCommand {
    /// Who sees a point (best pixel density first), or every point of a CSV
    /// file (columns id, lat, lon) into an output CSV.
    ///
    /// Examples:
    ///   vigie coverage who-sees --cameras cams.csv --at 48.8606,2.3376
    ///   vigie coverage who-sees --cameras cams.csv --buildings b.geojson --points pts.csv --out seen.csv
    WhoSees {
        #[command(flatten)]
        sources: SourceArgs,
        /// One point, `LAT,LON`.
        #[arg(long, value_parser = parse_lat_lon, conflicts_with = "points")]
        at: Option<[f64; 2]>,
        /// CSV of points (columns `id` (optional), `lat`, `lon`).
        #[arg(long, requires = "out")]
        points: Option<PathBuf>,
        /// Output CSV for `--points`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Coverage of a zone: fractions by kind and network, gaps.
    ///
    /// Example: `vigie coverage zone --cameras cams.csv --zone zone.geojson --cell-m 2 --gaps-out gaps.geojson`
    Zone {
        #[command(flatten)]
        sources: SourceArgs,
        /// The zone: a GeoJSON file with a Polygon (geometry or feature).
        #[arg(long)]
        zone: PathBuf,
        /// Cell side, metres.
        #[arg(long, default_value_t = 2.0)]
        cell_m: f64,
        /// Most gaps listed, largest first.
        #[arg(long, default_value_t = 20)]
        max_gaps: usize,
        /// Smallest gap listed, square metres.
        #[arg(long, default_value_t = 20.0)]
        min_gap_m2: f64,
        /// Write the gaps as a GeoJSON FeatureCollection here.
        #[arg(long)]
        gaps_out: Option<PathBuf>,
        /// Print the whole report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Which sources covered a point or a path between two times, with the
    /// exact sub-intervals (from the data directory's history).
    ///
    /// Example: `vigie coverage history --at 48.9245,2.3601 --from 2026-07-14T14:02:00Z --to 2026-07-14T14:10:00Z --reason "incident 42"`
    History {
        #[command(flatten)]
        place: DataPlace,
        /// One point, `LAT,LON`.
        #[arg(long, value_parser = parse_lat_lon, required_unless_present = "path")]
        at: Option<[f64; 2]>,
        /// A path: `LAT,LON LAT,LON ...` (space separated).
        #[arg(long, conflicts_with = "at")]
        path: Option<String>,
        #[command(flatten)]
        window: Window,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The sources that could see a point soonest (PTZ turn, drone flight,
    /// patrol walk).
    ///
    /// Example: `vigie coverage soonest --at 48.9245,2.3601`
    Soonest {
        #[command(flatten)]
        sources: SourceArgs,
        /// The point, `LAT,LON`.
        #[arg(long, value_parser = parse_lat_lon)]
        at: [f64; 2],
        /// Most answers.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A window of time asked about, and why (footage and coverage history).
#[derive(Args, Debug)]
pub struct Window {
    /// Window start: RFC 3339 UTC (`2026-07-14T14:02:00Z`) or Unix ms.
    #[arg(long, value_parser = parse_time_ms)]
    pub from: i64,
    /// Window end, same formats.
    #[arg(long, value_parser = parse_time_ms)]
    pub to: i64,
    /// Why (incident, case, requisition): written to the audit register.
    #[arg(long)]
    pub reason: String,
}

/// Where the sources come from: files (offline), or the data directory.
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// Camera inventory file (CSV or GeoJSON); without it, the inventory
    /// imported in the data directory.
    #[arg(long)]
    pub cameras: Option<PathBuf>,
    /// Buildings (GeoJSON with heights), with `--cameras`.
    #[arg(long, requires = "cameras")]
    pub buildings: Option<PathBuf>,
    /// Privacy masks (GeoJSON polygons), with `--cameras`.
    #[arg(long, requires = "cameras")]
    pub masks: Option<PathBuf>,
    #[command(flatten)]
    pub place: DataPlace,
}

impl SourceArgs {
    /// Builds the coverage index.
    pub fn load(&self) -> anyhow::Result<LiveCoverage> {
        let Some(path) = &self.cameras else {
            let (store, frame) = self.place.open()?;
            let config = self.place.config()?;
            return Ok(LiveCoverage::open_with(&store, frame, &config.coverage)?);
        };
        // Without --config, the documented defaults.
        let config = self.place.config()?;
        let optics = config.coverage.optics;
        let imp = inventory::load_cameras(path, &optics)?;
        if !imp.rejected.is_empty() {
            eprintln!(
                "{}: {} rows rejected (see `vigie cameras import` for the reasons):",
                path.display(),
                imp.rejected.len()
            );
            for r in imp.rejected.iter().take(10) {
                eprintln!("  row {}: {}", r.row, r.reason);
            }
        }
        // Offline: the configured [site], else centred on the cameras.
        let positions: Vec<(f64, f64)> =
            imp.cameras.iter().map(|c| (c.lat_deg, c.lon_deg)).collect();
        let frame = match vigie_ground::site::centre(&positions) {
            Some((lat, lon)) if config.site_defaulted => LocalFrame::new(lat, lon),
            _ => LocalFrame::new(config.site.origin_lat_deg, config.site.origin_lon_deg),
        };
        if let Some(w) = vigie_ground::site::far_warning(
            &frame,
            &positions,
            &format!("the cameras of {}", path.display()),
        ) {
            eprintln!("warning: {w}");
        }
        let buildings = match &self.buildings {
            Some(p) => {
                let (b, rej) = inventory::parse_buildings(&inventory::read_layer(p)?, &frame)?;
                if !rej.is_empty() {
                    eprintln!("{}: {} building features rejected", p.display(), rej.len());
                }
                Some(Buildings::new(b))
            }
            None => None,
        };
        let masks = match &self.masks {
            Some(p) => Masks::new(inventory::parse_masks(&inventory::read_layer(p)?, &frame)?.0),
            None => Masks::default(),
        };
        let statics = imp
            .cameras
            .iter()
            .filter_map(|c| {
                let ring = c.coverage(&frame, buildings.as_ref(), &optics)?;
                fixed_source(c, &frame, ring, &optics)
            })
            .collect();
        Ok(LiveCoverage::new(frame, statics, masks, buildings).configured(&config.coverage))
    }
}

pub(crate) fn parse_lat_lon(s: &str) -> Result<[f64; 2], String> {
    let (a, b) = s
        .split_once(',')
        .ok_or_else(|| format!("{s:?}: expected LAT,LON such as 48.8606,2.3376"))?;
    let lat: f64 = a
        .trim()
        .parse()
        .map_err(|_| format!("{a:?} is not a latitude"))?;
    let lon: f64 = b
        .trim()
        .parse()
        .map_err(|_| format!("{b:?} is not a longitude"))?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(format!(
            "{s:?}: latitude must be within -90..90 and longitude within -180..180"
        ));
    }
    Ok([lat, lon])
}

/// Unix milliseconds from Unix ms or RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SS[.fff]Z`).
pub(crate) fn parse_time_ms(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let err =
        || format!("{s:?}: expected Unix milliseconds or a UTC time such as 2026-07-14T14:02:00Z");
    let t = s.strip_suffix('Z').ok_or_else(err)?;
    let (date, time) = t.split_once('T').ok_or_else(err)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().map_err(|_| err()))
        .collect::<Result<_, _>>()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().map_err(|_| err()))
        .collect::<Result<_, _>>()?;
    if d.len() != 3
        || h.len() != 3
        || !(1..=12).contains(&d[1])
        || !(1..=31).contains(&d[2])
        || h[0] > 23
        || h[1] > 59
        || h[2] > 60
    {
        return Err(err());
    }
    let ms_frac: i64 = format!("{:0<3}", &frac[..frac.len().min(3)])
        .parse()
        .map_err(|_| err())?;
    let days = vigie_ground::time::days_from_civil(d[0], d[1], d[2]);
    Ok(((days * 24 + h[0]) * 60 + h[1]) * 60_000 + h[2] * 1000 + ms_frac)
}

/// Runs a `vigie coverage` subcommand.
pub fn run(cmd: CoverageCommand) -> anyhow::Result<()> {
    match cmd {
        CoverageCommand::WhoSees {
            sources,
            at,
            points,
            out,
            json,
        } => {
            let live = sources.load()?;
            match (at, points, out) {
                (Some([lat, lon]), _, _) => print_point(&answer_point(&live, lon, lat), json),
                (None, Some(points), Some(out)) => batch(&live, &points, &out),
                _ => anyhow::bail!("give --at LAT,LON, or --points FILE.csv --out FILE.csv"),
            }
        }
        CoverageCommand::Zone {
            sources,
            zone,
            cell_m,
            max_gaps,
            min_gap_m2,
            gaps_out,
            json,
        } => {
            let live = sources.load()?;
            let text = std::fs::read_to_string(&zone)
                .with_context(|| format!("reading {}", zone.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", zone.display()))?;
            let value = match value.get("type").and_then(|t| t.as_str()) {
                Some("FeatureCollection") => value
                    .get("features")
                    .and_then(|f| f.get(0))
                    .cloned()
                    .ok_or_else(|| {
                        anyhow::anyhow!("{}: the FeatureCollection is empty", zone.display())
                    })?,
                _ => value,
            };
            let ring = zone_ring(&live.frame, &value)
                .map_err(|e| anyhow::anyhow!("{}: {e}", zone.display()))?;
            let report =
                live.read(|idx| query::zone_coverage(idx, &ring, cell_m, max_gaps, min_gap_m2))?;
            let report_json = zone_json(&live.frame, &report);
            if let Some(path) = gaps_out {
                std::fs::write(&path, serde_json::to_string_pretty(&report_json["gaps"])?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&report_json)?);
            } else {
                println!(
                    "zone {:.0} m², open ground {:.0} m² (masked {:.0}, buildings {:.0}); covered {:.1} %",
                    report.zone_m2,
                    report.open_m2,
                    report.masked_m2,
                    report.buildings_m2,
                    report.covered_fraction * 100.0
                );
                for (k, f) in &report.by_kind {
                    println!("  {:<14} {:5.1} %", k.as_str(), f * 100.0);
                }
                for (n, f) in report.by_network.iter().filter(|(_, f)| **f > 0.0) {
                    println!("  {:<14} {:5.1} %", n.as_str(), f * 100.0);
                }
                println!(
                    "{} sources reach the zone; {} gaps",
                    report.sources, report.gap_count
                );
                for g in &report.gaps {
                    let (lat, lon) = live.frame.to_wgs84(g.centroid[0], g.centroid[1]);
                    println!("  gap {:>9.0} m² around {lat:.6},{lon:.6}", g.area_m2);
                }
            }
            Ok(())
        }
        CoverageCommand::History {
            place,
            at,
            path,
            window: Window { from, to, reason },
            json,
        } => {
            let (store, frame) = place.open()?;
            let (_, masks) = vigie_ground::coverage::live::load_layers(&store, &frame)?;
            let target = match (at, path) {
                (Some([lat, lon]), _) => Target::Point([lon, lat]),
                (None, Some(p)) => Target::Path(
                    p.split_whitespace()
                        .map(|s| parse_lat_lon(s).map(|[lat, lon]| [lon, lat]))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| anyhow::anyhow!("--path: {e}"))?,
                ),
                _ => anyhow::bail!("give --at LAT,LON or --path \"LAT,LON LAT,LON ...\""),
            };
            super::audit::record_footage_query(&store, &target, from, to, &reason)?;
            // Nothing is known of the future: fixed cameras' open intervals end now.
            let to = to.min(vigie_ground::time::unix_ms());
            let covered = history::covered(&store, &frame, &masks, &target, from, to, &[])?;
            if json {
                println!("{}", serde_json::to_string_pretty(&covered)?);
            } else if covered.is_empty() {
                println!(
                    "no recorded coverage between {} and {}",
                    rfc3339(from),
                    rfc3339(to)
                );
            } else {
                for c in &covered {
                    println!(
                        "{} ({}, {}): {:.1} s",
                        c.id,
                        c.kind.as_str(),
                        c.network.as_str(),
                        c.total_ms as f64 / 1000.0
                    );
                    for [a, b] in &c.intervals {
                        println!("  {} → {}", rfc3339(*a), rfc3339(*b));
                    }
                }
            }
            Ok(())
        }
        CoverageCommand::Soonest {
            sources,
            at,
            limit,
            json,
        } => {
            let live = sources.load()?;
            let (e, n) = live.frame.to_local(at[0], at[1]);
            let etas = live.read(|idx| query::soonest(idx, [e, n], limit));
            if json {
                println!("{}", serde_json::to_string_pretty(&etas)?);
            } else if etas.is_empty() {
                println!("no source can see this point (or it is under a privacy mask)");
            } else {
                for eta in etas {
                    println!(
                        "{:>8.1} s  {:<10} {} ({}, {})",
                        eta.eta_s,
                        eta.how,
                        eta.id,
                        eta.kind.as_str(),
                        eta.network.as_str()
                    );
                }
            }
            Ok(())
        }
    }
}

fn print_point(answer: &WhoSeesAnswer, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(answer)?);
    } else if answer.masked {
        println!("this point is under a privacy mask: no answer");
    } else if answer.sightings.is_empty() {
        println!("nobody sees this point");
    } else {
        for s in &answer.sightings {
            println!(
                "{:<24} {:<13} {:<8} {:>7.1} px/m  {:<14} {:>6.1} m",
                s.id,
                s.kind.as_str(),
                s.network.as_str(),
                s.density_px_m,
                s.tier.map_or("below detection", |t| t.as_str()),
                s.distance_m
            );
        }
    }
    Ok(())
}

/// Reads a points CSV: `id` (optional), `lat`, `lon` columns.
fn read_points(path: &std::path::Path) -> anyhow::Result<(Vec<String>, Vec<[f64; 2]>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut records = csv_records(text.trim_start_matches('\u{feff}')).into_iter();
    let (_, header) = records
        .next()
        .ok_or_else(|| anyhow::anyhow!("{}: empty file", path.display()))?;
    let col = |names: &[&str]| {
        header
            .iter()
            .position(|h| names.contains(&h.trim().to_ascii_lowercase().as_str()))
    };
    let lat_i = col(&["lat", "lat_deg", "latitude"])
        .ok_or_else(|| anyhow::anyhow!("{}: no lat column", path.display()))?;
    let lon_i = col(&["lon", "lon_deg", "lng", "longitude"])
        .ok_or_else(|| anyhow::anyhow!("{}: no lon column", path.display()))?;
    let id_i = col(&["id", "point_id", "name"]);
    let (mut ids, mut pts) = (Vec::new(), Vec::new());
    for (line, f) in records {
        let num = |i: usize| f.get(i).and_then(|v| v.trim().parse::<f64>().ok());
        let (Some(lat), Some(lon)) = (num(lat_i), num(lon_i)) else {
            anyhow::bail!("{}:{line}: lat/lon missing or not numbers", path.display());
        };
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
            anyhow::bail!(
                "{}:{line}: ({lat}, {lon}) is not a position",
                path.display()
            );
        }
        ids.push(
            id_i.and_then(|i| f.get(i).cloned())
                .unwrap_or_else(|| (pts.len() + 1).to_string()),
        );
        pts.push([lat, lon]);
    }
    Ok((ids, pts))
}

fn batch(
    live: &LiveCoverage,
    points: &std::path::Path,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let (ids, pts) = read_points(points)?;
    let local: Vec<Pt> = pts
        .iter()
        .map(|[lat, lon]| {
            let (e, n) = live.frame.to_local(*lat, *lon);
            [e, n]
        })
        .collect();
    let started = std::time::Instant::now();
    let mut text =
        String::from("id,lat,lon,masked,count,best_id,best_density_px_m,best_tier,sources\n");
    let (seen, masked) = live.read(|idx| {
        let b = query::who_sees_batch(idx, &local);
        let elapsed = started.elapsed();
        let (mut seen, mut masked) = (0usize, 0usize);
        for (i, id) in ids.iter().enumerate() {
            let s = query::describe(idx, b.of(i));
            seen += usize::from(!s.is_empty());
            masked += usize::from(b.masked[i]);
            let best = s.first();
            let all: Vec<String> = s
                .iter()
                .map(|x| format!("{}:{:.1}", x.id, x.density_px_m))
                .collect();
            text.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}\n",
                csv_field(id),
                pts[i][0],
                pts[i][1],
                b.masked[i],
                s.len(),
                csv_field(best.map_or("", |x| x.id.as_str())),
                best.map_or(String::new(), |x| format!("{:.1}", x.density_px_m)),
                best.and_then(|x| x.tier).map_or("", |t| t.as_str()),
                csv_field(&all.join(";")),
            ));
        }
        tracing::info!(
            "{} points answered in {:.3} s",
            ids.len(),
            elapsed.as_secs_f64()
        );
        (seen, masked)
    });
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "{} points: {seen} seen, {masked} masked; written to {}",
        ids.len(),
        out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        let t = parse_time_ms("2026-07-14T14:02:00Z").unwrap();
        assert_eq!(t, 1_784_037_720_000);
        assert_eq!(rfc3339(t), "2026-07-14T14:02:00.000Z");
        assert_eq!(parse_time_ms("2026-07-14T14:02:00.5Z").unwrap(), t + 500);
        assert!(parse_time_ms("yesterday").is_err());
        assert_eq!(parse_time_ms("1000").unwrap(), 1000);
    }
}
