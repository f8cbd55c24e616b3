//! Writes the seeded benchmark scenes as CSV (WKT in local metres) for the
//! PostGIS/shapely comparison, and times Vigie on the very same data.
//!
//! `cargo run --release -p vigie-ground --example coverage_compare -- OUT_DIR [CAMERAS] [POINTS]`
//!
//! Who-sees timings are the best of three runs, wall clock, one thread.
//!
//! Files: `sources.csv` (id, wkt), `points.csv` (x, y), `zone_sources.csv`
//! (id, wkt: line-of-sight clipped), `buildings.csv` (wkt, height_m),
//! `zone.wkt`, and `vigie.json` with Vigie's timings.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use vigie_ground::coverage::buildings::Buildings;
use vigie_ground::coverage::index::CoverageIndex;
use vigie_ground::coverage::mask::Masks;
use vigie_ground::coverage::polygon::Pt;
use vigie_ground::coverage::{query, synth};

fn wkt(ring: &[Pt]) -> String {
    let mut s = String::from("POLYGON((");
    for (i, p) in ring.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{:.3} {:.3}", p[0], p[1]);
    }
    s.push_str("))");
    s
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out =
        PathBuf::from(args.next().ok_or_else(|| {
            anyhow::anyhow!("usage: coverage_compare OUT_DIR [CAMERAS] [POINTS]")
        })?);
    let cameras: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let npoints: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    std::fs::create_dir_all(&out)?;

    let city = synth::paris(0x5EED_0001, cameras, cameras / 100, npoints);
    let mut csv = String::from("id,wkt\n");
    for (info, ring) in city.fixed.iter().chain(&city.drones) {
        let _ = writeln!(csv, "{},\"{}\"", info.id, wkt(ring));
    }
    std::fs::write(out.join("sources.csv"), csv)?;
    let mut csv = String::from("x,y\n");
    for p in &city.points {
        let _ = writeln!(csv, "{:.3},{:.3}", p[0], p[1]);
    }
    std::fs::write(out.join("points.csv"), csv)?;

    let mut idx = CoverageIndex::new(city.fixed.clone(), Masks::default(), None);
    for (info, ring) in &city.drones {
        idx.upsert(info.clone(), ring.clone())?;
    }
    // Same rounding as the files, so every engine sees the same points.
    let points: Vec<Pt> = city
        .points
        .iter()
        .map(|p| {
            [
                (p[0] * 1000.0).round() / 1000.0,
                (p[1] * 1000.0).round() / 1000.0,
            ]
        })
        .collect();
    // Best of three runs of each (the first also warms the caches, as
    // PostGIS's and shapely's runs after loading).
    let mut batch_s = f64::INFINITY;
    let mut batch = query::Batch::default();
    for _ in 0..3 {
        let t = Instant::now();
        batch = query::who_sees_batch(&idx, &points);
        batch_s = batch_s.min(t.elapsed().as_secs_f64());
    }
    let mut single_s = f64::INFINITY;
    let mut out_hits = Vec::new();
    let mut single_hits = 0usize;
    for _ in 0..3 {
        single_hits = 0;
        let t = Instant::now();
        for &p in &points {
            query::who_sees(&idx, p, &mut out_hits);
            single_hits += out_hits.len();
        }
        single_s = single_s.min(t.elapsed().as_secs_f64());
    }

    let zc = synth::zone_city(0x5EED_0003, 20_000, 5_000);
    let b = Arc::new(Buildings::new(zc.buildings.clone()));
    let t = Instant::now();
    let clipped = synth::clip(&zc, &b);
    let clip_s = t.elapsed().as_secs_f64();
    let zidx = CoverageIndex::new(clipped.clone(), Masks::default(), Some(b));
    let t = Instant::now();
    let report = query::zone_coverage(&zidx, &zc.zone, 2.0, 50, 20.0)?;
    let zone_s = t.elapsed().as_secs_f64();
    let mut csv = String::from("id,wkt\n");
    for (info, ring) in &clipped {
        let _ = writeln!(csv, "{},\"{}\"", info.id, wkt(ring));
    }
    std::fs::write(out.join("zone_sources.csv"), csv)?;
    let mut csv = String::from("wkt,height_m\n");
    for bld in &zc.buildings {
        let _ = writeln!(csv, "\"{}\",{:.2}", wkt(&bld.ring), bld.height_m);
    }
    std::fs::write(out.join("buildings.csv"), csv)?;
    std::fs::write(out.join("zone.wkt"), wkt(&zc.zone))?;

    let json = serde_json::json!({
        "sources": idx.len(),
        "points": points.len(),
        "hits": batch.hits.len(),
        "single_hits": single_hits,
        "batch_s": batch_s,
        "single_s": single_s,
        "batch_points_per_s": points.len() as f64 / batch_s,
        "single_points_per_s": points.len() as f64 / single_s,
        "zone_s": zone_s,
        "zone_clip_s": clip_s,
        "zone_covered_fraction": report.covered_fraction,
        "zone_open_m2": report.open_m2,
    });
    std::fs::write(out.join("vigie.json"), serde_json::to_string_pretty(&json)?)?;
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}
