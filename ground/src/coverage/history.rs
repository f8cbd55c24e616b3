//! Coverage over time: which sources covered a point or a path between two
//! times, with the exact sub-intervals, from what was recorded.
//!
//! Two kinds of rows, in the `coverage` module's tables of the store:
//!
//! - **intervals** of moving sources: a footprint and the time span it held.
//!   The [`Recorder`] (sans-I/O) turns the live feed into rows: a footprint
//!   is kept while it moves less than [`MOVE_THRESHOLD_M`] at every vertex,
//!   and open intervals are checkpointed every [`CHECKPOINT_MS`] so that a
//!   crash loses at most that much. Answers are therefore exact to the
//!   recorded footprints, which lag the true ones by at most the threshold.
//! - **inventory versions** of fixed cameras: each import retires the
//!   previous cameras and records the new ones with their coverage.
//!
//! Rings are stored in WGS84 (`[lon, lat]`): the local frame is an affine
//! map of longitude/latitude, so point-in-polygon in degrees gives the same
//! answer as in metres, and rows stay valid if the site origin changes.
//! Rows older than the retention limit (`[coverage]
//! history_retention_days`, one month by default, the legal maximum for
//! video-protection recordings in France) are purged by the guardrails'
//! retention, which honours legal holds and keeps the deletion register.

use std::collections::{BTreeMap, HashMap};

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::camera::FixedCamera;
use super::mask::Masks;
use super::polygon::{Bbox, Pt, point_in_ring};
use super::{Network, SourceKind};
use crate::frame::LocalFrame;
use crate::store::{Store, StoreError};

/// A footprint that moved less than this at every vertex is kept, metres.
pub const MOVE_THRESHOLD_M: f64 = 2.0;
/// Open intervals are written at least this often, milliseconds.
pub const CHECKPOINT_MS: i64 = 10_000;
/// Paths are checked every this many metres (masked stretches skipped).
pub const PATH_STEP_M: f64 = 1.0;

/// This module's migrations, in order. Never edit one that has shipped.
pub const MIGRATIONS: &[&str] = &[
    // 1: intervals of moving sources, fixed-camera inventory versions,
    // buildings and masks layers.
    "CREATE TABLE coverage_interval (
        id INTEGER PRIMARY KEY,
        source_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        network TEXT NOT NULL,
        from_ms INTEGER NOT NULL,
        to_ms INTEGER NOT NULL,
        min_lon REAL NOT NULL, min_lat REAL NOT NULL,
        max_lon REAL NOT NULL, max_lat REAL NOT NULL,
        ring TEXT NOT NULL
    );
    CREATE INDEX coverage_interval_to ON coverage_interval (to_ms);
    CREATE INDEX coverage_interval_from ON coverage_interval (from_ms);
    CREATE TABLE coverage_camera (
        id TEXT NOT NULL,
        imported_ms INTEGER NOT NULL,
        retired_ms INTEGER,
        json TEXT NOT NULL,
        ring TEXT,
        PRIMARY KEY (id, imported_ms)
    );
    CREATE TABLE coverage_layer (
        name TEXT PRIMARY KEY,
        geojson TEXT NOT NULL,
        imported_ms INTEGER NOT NULL
    );",
];

/// Applies this module's migrations.
pub fn migrate(store: &Store) -> Result<(), StoreError> {
    store.migrate_module("coverage", MIGRATIONS)
}

/// One recorded interval of a moving source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalRow {
    /// Source id.
    pub source_id: String,
    /// Kind of source.
    pub kind: SourceKind,
    /// Owner network.
    pub network: Network,
    /// Start, Unix milliseconds.
    pub from_ms: i64,
    /// End, Unix milliseconds.
    pub to_ms: i64,
    /// Footprint, closed WGS84 ring of `[lon, lat]`.
    pub ring: Vec<[f64; 2]>,
}

/// An interval being recorded.
#[derive(Debug, Clone)]
struct Open {
    kind: SourceKind,
    network: Network,
    /// Footprint in the local frame, to measure moves in metres.
    local: Vec<Pt>,
    /// The same in WGS84, as stored.
    ring: Vec<[f64; 2]>,
    /// Start, Unix milliseconds.
    from_ms: i64,
}

/// Turns footprint updates into interval rows (sans-I/O: the caller
/// writes the rows).
#[derive(Debug, Default)]
pub struct Recorder {
    /// Open intervals by source id.
    open: HashMap<String, Open>,
    /// When open intervals were last checkpointed, Unix milliseconds.
    last_checkpoint_ms: i64,
}

fn moved(a: &[Pt], b: &[Pt]) -> bool {
    a.len() != b.len()
        || a.iter()
            .zip(b)
            .any(|(p, q)| f64::hypot(p[0] - q[0], p[1] - q[1]) > MOVE_THRESHOLD_M)
}

impl Recorder {
    /// A recorder with nothing open.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// A source's footprint is now `footprint` (local ring and the same in
    /// WGS84), or gone (`None`). Finished intervals are appended to `out`.
    pub fn update(
        &mut self,
        now_ms: i64,
        id: &str,
        kind: SourceKind,
        network: Network,
        footprint: Option<(Vec<Pt>, Vec<[f64; 2]>)>,
        out: &mut Vec<IntervalRow>,
    ) {
        match footprint {
            Some((local, ring)) => {
                if let Some(o) = self.open.get(id)
                    && !moved(&o.local, &local)
                {
                    return;
                }
                self.close(now_ms, id, out);
                self.open.insert(
                    id.to_string(),
                    Open {
                        kind,
                        network,
                        local,
                        ring,
                        from_ms: now_ms,
                    },
                );
            }
            None => self.close(now_ms, id, out),
        }
    }

    fn close(&mut self, now_ms: i64, id: &str, out: &mut Vec<IntervalRow>) {
        if let Some(o) = self.open.remove(id)
            && now_ms > o.from_ms
        {
            out.push(IntervalRow {
                source_id: id.to_string(),
                kind: o.kind,
                network: o.network,
                from_ms: o.from_ms,
                to_ms: now_ms,
                ring: o.ring,
            });
        }
    }

    /// When [`Recorder::checkpoint`] should next run, Unix milliseconds.
    pub fn next_checkpoint_ms(&self) -> i64 {
        self.last_checkpoint_ms + CHECKPOINT_MS
    }

    /// Writes out every open interval up to `now_ms` and keeps it open from
    /// there, so a crash loses at most one checkpoint period.
    pub fn checkpoint(&mut self, now_ms: i64, out: &mut Vec<IntervalRow>) {
        out.extend(self.pending(now_ms));
        for o in self.open.values_mut() {
            o.from_ms = o.from_ms.max(now_ms);
        }
        self.last_checkpoint_ms = now_ms;
    }

    /// Open intervals as rows ending at `now_ms`, not yet written: history
    /// queries add them so that the last seconds are answered too.
    pub fn pending(&self, now_ms: i64) -> Vec<IntervalRow> {
        let mut rows: Vec<IntervalRow> = self
            .open
            .iter()
            .filter(|(_, o)| now_ms > o.from_ms)
            .map(|(id, o)| IntervalRow {
                source_id: id.clone(),
                kind: o.kind,
                network: o.network,
                from_ms: o.from_ms,
                to_ms: now_ms,
                ring: o.ring.clone(),
            })
            .collect();
        rows.sort_by(|a, b| a.source_id.cmp(&b.source_id));
        rows
    }
}

/// Writes interval rows in one transaction.
pub fn write_intervals(store: &Store, rows: &[IntervalRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let encoded: Vec<(&IntervalRow, Bbox, String)> = rows
        .iter()
        .map(|r| {
            (
                r,
                Bbox::of(&r.ring),
                serde_json::to_string(&r.ring).unwrap_or_else(|_| "[]".into()),
            )
        })
        .collect();
    store.with_conn(|c| {
        let tx = c.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO coverage_interval
                 (source_id, kind, network, from_ms, to_ms, min_lon, min_lat, max_lon, max_lat, ring)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for (r, b, ring) in &encoded {
                stmt.execute(params![
                    r.source_id,
                    r.kind.as_str(),
                    r.network.as_str(),
                    r.from_ms,
                    r.to_ms,
                    b.min_e,
                    b.min_n,
                    b.max_e,
                    b.max_n,
                    ring
                ])?;
            }
        }
        tx.commit()
    })
}

/// A fixed camera with its stored coverage ring (WGS84 `[lon, lat]`,
/// `None` when it sees no ground).
pub type StoredCamera = (FixedCamera, Option<Vec<[f64; 2]>>);

/// The inventory as it is stored: each camera with its ground coverage
/// (line of sight through `buildings` when given) as a WGS84 ring, `None`
/// for a camera that sees no ground.
pub fn with_coverage(
    cameras: &[FixedCamera],
    frame: &LocalFrame,
    buildings: Option<&super::buildings::Buildings>,
    optics: &super::camera::Optics,
) -> Vec<StoredCamera> {
    cameras
        .iter()
        .map(|c| {
            let ring = c.coverage(frame, buildings, optics).map(|r| {
                r.iter()
                    .map(|p| {
                        let (lat, lon) = frame.to_wgs84(p[0], p[1]);
                        [lon, lat]
                    })
                    .collect()
            });
            (c.clone(), ring)
        })
        .collect()
}

/// Replaces the fixed-camera inventory at `now_ms`: current cameras are
/// retired (kept for history until purged) and `cameras` recorded with
/// their coverage rings (WGS84, `None` when a camera sees no ground).
pub fn save_inventory(
    store: &Store,
    now_ms: i64,
    cameras: &[StoredCamera],
) -> Result<(), StoreError> {
    save_import(store, now_ms, cameras, &[])
}

/// Replaces the inventory and the named GeoJSON `layers` (`buildings`,
/// `masks`) in one transaction: after a crash or a failed write either
/// all of an import is live or none of it, so new cameras never run under
/// the previous privacy masks.
pub fn save_import(
    store: &Store,
    now_ms: i64,
    cameras: &[StoredCamera],
    layers: &[(&str, &str)],
) -> Result<(), StoreError> {
    store.with_conn(|c| {
        let tx = c.transaction()?;
        save_import_in(&tx, now_ms, cameras, layers)?;
        tx.commit()
    })
}

/// [`save_import`] inside the caller's transaction (with the audit record
/// of the change, see `Audit::record_with`).
pub fn save_import_in(
    tx: &rusqlite::Transaction<'_>,
    now_ms: i64,
    cameras: &[StoredCamera],
    layers: &[(&str, &str)],
) -> rusqlite::Result<()> {
    let rows: Vec<(String, String, Option<String>)> = cameras
        .iter()
        .map(|(c, ring)| {
            (
                c.id.clone(),
                serde_json::to_string(c).unwrap_or_default(),
                ring.as_ref()
                    .map(|r| serde_json::to_string(r).unwrap_or_default()),
            )
        })
        .collect();
    tx.execute(
        "UPDATE coverage_camera SET retired_ms = ?1 WHERE retired_ms IS NULL",
        params![now_ms],
    )?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO coverage_camera (id, imported_ms, retired_ms, json, ring)
             VALUES (?1, ?2, NULL, ?3, ?4)",
        )?;
        for (id, json, ring) in &rows {
            stmt.execute(params![id, now_ms, json, ring])?;
        }
    }
    for (name, geojson) in layers {
        write_layer(tx, name, geojson, now_ms)?;
    }
    Ok(())
}

/// The current fixed-camera inventory with stored coverage rings.
pub fn load_inventory(store: &Store) -> Result<Vec<StoredCamera>, StoreError> {
    let rows: Vec<(String, Option<String>)> = store.with_conn(|c| {
        let mut stmt = c.prepare(
            "SELECT json, ring FROM coverage_camera WHERE retired_ms IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    })?;
    rows.into_iter()
        .map(|(json, ring)| {
            let cam: FixedCamera =
                serde_json::from_str(&json).map_err(|e| corrupt("coverage_camera", e))?;
            let ring = match ring {
                Some(r) => {
                    Some(serde_json::from_str(&r).map_err(|e| corrupt("coverage_camera", e))?)
                }
                None => None,
            };
            Ok((cam, ring))
        })
        .collect()
}

fn corrupt(table: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        path: std::path::PathBuf::from("vigie.db"),
        table,
        detail: e.to_string(),
    }
}

/// Stores a GeoJSON layer (`buildings` or `masks`), replacing the previous.
pub fn save_layer(store: &Store, name: &str, geojson: &str, now_ms: i64) -> Result<(), StoreError> {
    store.with_conn(|c| write_layer(c, name, geojson, now_ms))
}

fn write_layer(
    c: &rusqlite::Connection,
    name: &str,
    geojson: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO coverage_layer (name, geojson, imported_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT(name) DO UPDATE SET geojson = excluded.geojson, imported_ms = excluded.imported_ms",
        params![name, geojson, now_ms],
    )
    .map(|_| ())
}

/// A stored GeoJSON layer, if any.
pub fn load_layer(store: &Store, name: &str) -> Result<Option<String>, StoreError> {
    store.with_conn(|c| {
        use rusqlite::OptionalExtension as _;
        c.query_row(
            "SELECT geojson FROM coverage_layer WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .optional()
    })
}

/// What a history query asks about.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// One point, `[lon, lat]`.
    Point([f64; 2]),
    /// A path (polyline) of `[lon, lat]` points.
    Path(Vec<[f64; 2]>),
}

/// A source that covered the target, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Covered {
    /// Source id.
    pub id: String,
    /// Kind of source.
    pub kind: SourceKind,
    /// Owner network.
    pub network: Network,
    /// Disjoint `[from_ms, to_ms]` sub-intervals, in order.
    pub intervals: Vec<[i64; 2]>,
    /// Total covered time, milliseconds.
    pub total_ms: i64,
}

/// The points a target is tested at, in WGS84: the point itself, or the
/// path every [`PATH_STEP_M`] metres; points under privacy masks are
/// dropped, so masked stretches are never answered.
fn probe_points(target: &Target, frame: &LocalFrame, masks: &Masks) -> Vec<[f64; 2]> {
    let local = |p: &[f64; 2]| {
        let (e, n) = frame.to_local(p[1], p[0]);
        [e, n]
    };
    let mut pts: Vec<Pt> = Vec::new();
    match target {
        Target::Point(p) => pts.push(local(p)),
        Target::Path(path) => {
            for w in path.windows(2) {
                let (a, b) = (local(&w[0]), local(&w[1]));
                let len = f64::hypot(b[0] - a[0], b[1] - a[1]);
                let steps = (len / PATH_STEP_M).ceil().max(1.0) as usize;
                for k in 0..steps {
                    let t = k as f64 / steps as f64;
                    pts.push([a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t]);
                }
            }
            if let Some(last) = path.last() {
                pts.push(local(last));
            }
        }
    }
    pts.into_iter()
        .filter(|&p| !masks.masks(p))
        .map(|p| {
            let (lat, lon) = frame.to_wgs84(p[0], p[1]);
            [lon, lat]
        })
        .collect()
}

/// Which sources covered `target` between `from_ms` and `to_ms`, from the
/// stored rows plus `pending` ones (the recorder's open intervals). Each
/// source's covered time is clipped to the window and merged into disjoint
/// sub-intervals. Sorted by total covered time, longest first.
pub fn covered(
    store: &Store,
    frame: &LocalFrame,
    masks: &Masks,
    target: &Target,
    from_ms: i64,
    to_ms: i64,
    pending: &[IntervalRow],
) -> Result<Vec<Covered>, StoreError> {
    let probes = probe_points(target, frame, masks);
    if probes.is_empty() || to_ms < from_ms {
        return Ok(Vec::new());
    }
    let probe_box = Bbox::of(&probes);
    let hits = |ring: &[[f64; 2]]| {
        let b = Bbox::of(ring);
        b.intersects(&probe_box)
            && probes
                .iter()
                .any(|&p| b.contains(p) && point_in_ring(ring, p))
    };
    let mut spans: BTreeMap<(String, SourceKind, Network), Vec<[i64; 2]>> = BTreeMap::new();
    let mut add = |id: &str, kind: SourceKind, network: Network, a: i64, b: i64| {
        let (a, b) = (a.max(from_ms), b.min(to_ms));
        if a <= b {
            spans
                .entry((id.to_string(), kind, network))
                .or_default()
                .push([a, b]);
        }
    };
    // Moving sources.
    let rows: Vec<(String, String, String, i64, i64, String)> = store.with_conn(|c| {
        let mut stmt = c.prepare_cached(
            "SELECT source_id, kind, network, from_ms, to_ms, ring FROM coverage_interval
             WHERE to_ms >= ?1 AND from_ms <= ?2
               AND max_lon >= ?3 AND min_lon <= ?4 AND max_lat >= ?5 AND min_lat <= ?6",
        )?;
        let rows = stmt.query_map(
            params![
                from_ms,
                to_ms,
                probe_box.min_e,
                probe_box.max_e,
                probe_box.min_n,
                probe_box.max_n
            ],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )?;
        rows.collect()
    })?;
    for (id, kind, network, a, b, ring) in rows {
        let ring: Vec<[f64; 2]> =
            serde_json::from_str(&ring).map_err(|e| corrupt("coverage_interval", e))?;
        let kind = SourceKind::parse(&kind)
            .ok_or_else(|| corrupt("coverage_interval", format!("kind {kind:?}")))?;
        let network = Network::parse(&network).unwrap_or(Network::Other);
        if hits(&ring) {
            add(&id, kind, network, a, b);
        }
    }
    for r in pending {
        if r.to_ms >= from_ms && r.from_ms <= to_ms && hits(&r.ring) {
            add(&r.source_id, r.kind, r.network, r.from_ms, r.to_ms);
        }
    }
    // Fixed cameras, by inventory version.
    let cams: Vec<(String, i64, Option<i64>, Option<String>)> = store.with_conn(|c| {
        let mut stmt = c.prepare_cached(
            "SELECT json, imported_ms, retired_ms, ring FROM coverage_camera
             WHERE imported_ms <= ?2 AND (retired_ms IS NULL OR retired_ms >= ?1) AND ring IS NOT NULL",
        )?;
        let rows = stmt.query_map(params![from_ms, to_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect()
    })?;
    for (json, imported, retired, ring) in cams {
        let Some(ring) = ring else { continue };
        let ring: Vec<[f64; 2]> =
            serde_json::from_str(&ring).map_err(|e| corrupt("coverage_camera", e))?;
        if hits(&ring) {
            let cam: FixedCamera =
                serde_json::from_str(&json).map_err(|e| corrupt("coverage_camera", e))?;
            add(
                &cam.id,
                SourceKind::FixedCamera,
                cam.network,
                imported,
                retired.unwrap_or(i64::MAX),
            );
        }
    }
    let mut out: Vec<Covered> = spans
        .into_iter()
        .map(|((id, kind, network), mut iv)| {
            iv.sort_unstable();
            let mut merged: Vec<[i64; 2]> = Vec::with_capacity(iv.len());
            for [a, b] in iv {
                match merged.last_mut() {
                    Some(last) if a <= last[1] => last[1] = last[1].max(b),
                    _ => merged.push([a, b]),
                }
            }
            let total_ms = merged.iter().map(|[a, b]| b - a).sum();
            Covered {
                id,
                kind,
                network,
                intervals: merged,
                total_ms,
            }
        })
        .collect();
    out.sort_by(|a, b| b.total_ms.cmp(&a.total_ms).then(a.id.cmp(&b.id)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square_local(frame: &LocalFrame, c: Pt, r: f64) -> (Vec<Pt>, Vec<[f64; 2]>) {
        let local = vec![
            [c[0] - r, c[1] - r],
            [c[0] + r, c[1] - r],
            [c[0] + r, c[1] + r],
            [c[0] - r, c[1] + r],
            [c[0] - r, c[1] - r],
        ];
        let wgs = local
            .iter()
            .map(|p| {
                let (lat, lon) = frame.to_wgs84(p[0], p[1]);
                [lon, lat]
            })
            .collect();
        (local, wgs)
    }

    fn lonlat(frame: &LocalFrame, p: Pt) -> [f64; 2] {
        let (lat, lon) = frame.to_wgs84(p[0], p[1]);
        [lon, lat]
    }

    #[test]
    fn a_drone_passing_over_a_point_is_found_with_its_exact_interval() {
        let frame = LocalFrame::new(48.9, 2.36);
        let store = Store::in_memory().unwrap();
        migrate(&store).unwrap();
        let mut rec = Recorder::new();
        let mut rows = Vec::new();
        // A drone footprint (radius 20 m) moving east 10 m per second.
        for s in 0..20 {
            let now = 1_000_000 + s * 1000;
            let fp = square_local(&frame, [s as f64 * 10.0, 0.0], 20.0);
            rec.update(
                now,
                "d1",
                SourceKind::Drone,
                Network::Fleet,
                Some(fp),
                &mut rows,
            );
        }
        // Tiny jitter does not open a new interval.
        let before = rows.len();
        rec.update(
            1_019_500,
            "d1",
            SourceKind::Drone,
            Network::Fleet,
            Some(square_local(&frame, [190.5, 0.0], 20.0)),
            &mut rows,
        );
        assert_eq!(rows.len(), before);
        rec.update(
            1_020_000,
            "d1",
            SourceKind::Drone,
            Network::Fleet,
            None,
            &mut rows,
        );
        write_intervals(&store, &rows).unwrap();
        // Point at 100 m east: inside footprints centred in (80, 120] m
        // (half-open edges), i.e. s = 9..=12, held from 9 s to 13 s.
        let t = Target::Point(lonlat(&frame, [100.0, 0.0]));
        let got = covered(&store, &frame, &Masks::default(), &t, 0, i64::MAX, &[]).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].intervals, vec![[1_009_000, 1_013_000]]);
        // Clipped to the window.
        let got = covered(
            &store,
            &frame,
            &Masks::default(),
            &t,
            1_010_000,
            1_010_500,
            &[],
        )
        .unwrap();
        assert_eq!(got[0].intervals, vec![[1_010_000, 1_010_500]]);
        // Masked point: nothing.
        let masks = Masks::new(vec![square_local(&frame, [100.0, 0.0], 2.0).0]);
        assert!(
            covered(&store, &frame, &masks, &t, 0, i64::MAX, &[])
                .unwrap()
                .is_empty()
        );
        // A path crossing the track at 300 m east: covered from 28 s on
        // only if the drone got there; it stopped at 190 m, so nothing.
        let path = Target::Path(vec![
            lonlat(&frame, [300.0, -50.0]),
            lonlat(&frame, [300.0, 50.0]),
        ]);
        assert!(
            covered(&store, &frame, &Masks::default(), &path, 0, i64::MAX, &[])
                .unwrap()
                .is_empty()
        );
        let path = Target::Path(vec![
            lonlat(&frame, [50.0, -50.0]),
            lonlat(&frame, [50.0, 50.0]),
        ]);
        let got = covered(&store, &frame, &Masks::default(), &path, 0, i64::MAX, &[]).unwrap();
        assert_eq!(got[0].intervals, vec![[1_004_000, 1_008_000]]);
    }

    #[test]
    fn checkpoints_and_pending_rows_cover_the_open_interval() {
        let frame = LocalFrame::new(48.9, 2.36);
        let store = Store::in_memory().unwrap();
        migrate(&store).unwrap();
        let mut rec = Recorder::new();
        let mut rows = Vec::new();
        rec.update(
            0,
            "t1",
            SourceKind::Tablet,
            Network::Fleet,
            Some(square_local(&frame, [0.0, 0.0], 10.0)),
            &mut rows,
        );
        rec.checkpoint(10_000, &mut rows);
        write_intervals(&store, &rows).unwrap();
        let t = Target::Point(lonlat(&frame, [0.0, 0.0]));
        let got = covered(
            &store,
            &frame,
            &Masks::default(),
            &t,
            0,
            20_000,
            &rec.pending(15_000),
        )
        .unwrap();
        assert_eq!(
            got[0].intervals,
            vec![[0, 15_000]],
            "checkpoint and pending merge"
        );
    }

    #[test]
    fn inventory_versions_bound_fixed_camera_history() {
        let frame = LocalFrame::new(48.9, 2.36);
        let store = Store::in_memory().unwrap();
        migrate(&store).unwrap();
        let cam = FixedCamera {
            id: "c1".into(),
            network: Network::Transit,
            lat_deg: 48.9,
            lon_deg: 2.36,
            mount_height_m: 6.0,
            heading_deg: 0.0,
            tilt_deg: -20.0,
            hfov_deg: 60.0,
            range_m: Some(40.0),
            resolution_px: None,
            range_tier: super::super::camera::Tier::Detection,
            ptz: false,
            name: None,
        };
        let ring: Vec<[f64; 2]> = cam
            .coverage(&frame, None, &super::super::camera::Optics::default())
            .unwrap()
            .iter()
            .map(|p| lonlat(&frame, *p))
            .collect();
        save_inventory(&store, 1000, &[(cam.clone(), Some(ring))]).unwrap();
        save_inventory(&store, 5000, &[]).unwrap();
        assert!(load_inventory(&store).unwrap().is_empty());
        let t = Target::Point(lonlat(&frame, [0.0, 20.0]));
        let got = covered(&store, &frame, &Masks::default(), &t, 0, 10_000, &[]).unwrap();
        assert_eq!(got[0].id, "c1");
        assert_eq!(got[0].intervals, vec![[1000, 5000]]);
    }
}
