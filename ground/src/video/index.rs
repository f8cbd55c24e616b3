//! The video rows of the recordings index: the segments this ground
//! recorded and, per fragment (about a second, starting at a keyframe),
//! its wall-clock span, its bytes in the file and the ground its source
//! saw then. Footage queries and exports answer from here.
//!
//! A segment is a row of `recording_index` (the same index outside
//! recorders register into, so retention, legal holds and the deletion
//! register treat both alike) plus a `video_segment` row naming its file.
//! Consecutive fragments of a segment that saw the same ground (every
//! vertex within [`MOVE_THRESHOLD_M`], as the coverage history keeps a
//! footprint) share one *view*: a fixed camera's minute is one view, a
//! drone in flight one per fragment. Views are found by place and time
//! through an SQLite R*Tree over their footprint's box and their span; the
//! tree's 32-bit bounds are rounded outwards, so it only narrows the search
//! and every answer is checked against the exact columns.
//!
//! Footprints are stored in WGS84 (`[lon, lat]` rings, as the coverage
//! history keeps them): the local frame is an affine map of longitude and
//! latitude, so containment in degrees is containment in metres.

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use geo::{ConvexHull as _, Intersects as _, LineString, MultiPoint, Polygon};
use rusqlite::{OptionalExtension as _, params};
use serde::{Deserialize, Serialize};

use crate::coverage::camera::pixel_density;
pub use crate::coverage::history::MOVE_THRESHOLD_M;
use crate::coverage::mask::Masks;
use crate::coverage::polygon::{Bbox, Pt, point_in_ring};
use crate::coverage::{Network, SourceKind};
use crate::dispatch::incident::GeoPoint;
use crate::frame::LocalFrame;
use crate::guardrails::recordings::{self, category};
use crate::store::{Store, StoreError};

/// Who `recording_index` says registered the segments this ground records.
pub const RECORDED_BY: &str = "ground:video";

/// Most fragments one query reads (about 14 hours of one source); narrow
/// the window beyond.
pub const MAX_FRAGMENTS: usize = 50_000;

/// This module's migrations, in order. Never edit one that has shipped.
pub const MIGRATIONS: &[&str] = &["CREATE TABLE video_segment (
        recording INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        init_length INTEGER NOT NULL,
        width_px INTEGER NOT NULL,
        height_px INTEGER NOT NULL,
        network TEXT NOT NULL
    );
    CREATE TABLE video_view (
        id INTEGER PRIMARY KEY,
        recording INTEGER NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        fragments INTEGER NOT NULL,
        masked INTEGER NOT NULL,
        seen TEXT NOT NULL
    );
    CREATE INDEX video_view_recording ON video_view (recording);
    CREATE TABLE video_fragment (
        recording INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        byte_offset INTEGER NOT NULL,
        byte_length INTEGER NOT NULL,
        pictures INTEGER NOT NULL,
        keyframe INTEGER NOT NULL,
        masked INTEGER NOT NULL,
        view INTEGER,
        PRIMARY KEY (recording, seq)
    ) WITHOUT ROWID;
    CREATE VIRTUAL TABLE video_view_where USING rtree (
        id, min_lon, max_lon, min_lat, max_lat, min_ms, max_ms
    );
    CREATE INDEX IF NOT EXISTS recording_index_source ON recording_index (source, start_ms);
    CREATE INDEX IF NOT EXISTS recording_index_outside ON recording_index (end_ms)
        WHERE recorded_by != 'ground:video';"];

/// Applies this module's migrations.
pub fn migrate(store: &Store) -> Result<(), StoreError> {
    store.migrate_module("video", MIGRATIONS)
}

/// What a source saw during a fragment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    /// The ground footprint: a closed ring of `[lon, lat]`.
    pub ring: Vec<[f64; 2]>,
    /// The camera's position, `[lon, lat]`.
    pub eye: [f64; 2],
    /// The camera's height above the ground, metres.
    pub height_m: f64,
    /// Horizontal field of view, degrees.
    pub hfov_deg: f64,
}

impl Seen {
    /// Pixel density at the local point `p` for a picture `width_px` wide,
    /// pixels per metre of scene width.
    pub fn density_at(&self, frame: &LocalFrame, p: Pt, width_px: f64) -> f64 {
        let eye = frame.local(self.eye);
        let ground = f64::hypot(p[0] - eye[0], p[1] - eye[1]);
        pixel_density(width_px, self.hfov_deg, ground.hypot(self.height_m))
    }

    /// Whether `other` saw the same ground: the same optics, and no vertex
    /// or the eye moved by [`MOVE_THRESHOLD_M`] or more.
    pub fn same_as(&self, other: &Seen) -> bool {
        let moved = |a: [f64; 2], b: [f64; 2]| {
            let north = (a[1] - b[1]) * 111_320.0;
            let east = (a[0] - b[0]) * 111_320.0 * a[1].to_radians().cos();
            north.hypot(east) >= MOVE_THRESHOLD_M
        };
        self.ring.len() == other.ring.len()
            && self.height_m == other.height_m
            && self.hfov_deg == other.hfov_deg
            && !moved(self.eye, other.eye)
            && !self
                .ring
                .iter()
                .zip(&other.ring)
                .any(|(a, b)| moved(*a, *b))
    }

    /// Whether the footprint crosses a privacy mask.
    pub fn crosses(&self, frame: &LocalFrame, masks: &Masks) -> bool {
        if masks.is_empty() {
            return false;
        }
        let local: Vec<Pt> = self.ring.iter().map(|&p| frame.local(p)).collect();
        let footprint = ring_polygon(&local);
        masks
            .rings()
            .iter()
            .any(|m| ring_polygon(m).intersects(&footprint))
    }
}

fn ring_polygon(ring: &[Pt]) -> Polygon<f64> {
    Polygon::new(
        LineString::from(ring.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>()),
        vec![],
    )
}

/// A segment file this ground begins.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSegment {
    /// The source's id (a unit id of the picture, a camera id).
    pub source_id: String,
    /// What kind of source.
    pub kind: SourceKind,
    /// Who owns the source.
    pub network: Network,
    /// Wall-clock start, Unix milliseconds.
    pub start_ms: i64,
    /// The file.
    pub path: PathBuf,
    /// Bytes of the init segment at the start of the file.
    pub init_length: u64,
    /// Picture size.
    pub width_px: u32,
    /// Picture size.
    pub height_px: u32,
    /// The flight authorisation a drone's segment is made under.
    pub authorisation: Option<i64>,
}

/// A fragment appended to a segment file.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFragment {
    /// The segment (`recording_index` id).
    pub recording: i64,
    /// Its place in the segment, from 0.
    pub seq: u32,
    /// Wall-clock start, Unix milliseconds.
    pub start_ms: i64,
    /// Wall-clock end, Unix milliseconds.
    pub end_ms: i64,
    /// Where its bytes start in the file.
    pub offset: u64,
    /// How many bytes.
    pub length: u64,
    /// Pictures in it.
    pub pictures: u32,
    /// Whether its first picture is a keyframe (every fragment this ground
    /// cuts starts at one).
    pub keyframe: bool,
    /// Whether its footprint crosses a privacy mask.
    pub masked: bool,
    /// What the source saw, when known.
    pub seen: Option<Seen>,
}

/// The smallest convex ring holding every point, as `recording_index`
/// keeps a segment's footprint; `None` under three distinct points.
pub fn hull(points: &[[f64; 2]]) -> Option<Vec<GeoPoint>> {
    let hull =
        MultiPoint::from(points.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>()).convex_hull();
    let ring: Vec<GeoPoint> = hull
        .exterior()
        .points()
        .map(|p| GeoPoint {
            lat_deg: p.y(),
            lon_deg: p.x(),
        })
        .collect();
    (ring.len() >= 4).then_some(ring)
}

/// Writes to the video index inside one transaction: [`Store::video_batch`].
pub struct VideoBatch<'a> {
    tx: rusqlite::Transaction<'a>,
}

impl VideoBatch<'_> {
    /// Indexes a segment this ground begins recording; its end and
    /// footprint grow with its fragments. Returns its id.
    pub fn begin_segment(&mut self, s: &NewSegment, now_ms: i64) -> rusqlite::Result<i64> {
        let uri = file_uri(&s.path);
        self.tx.execute(
            "INSERT INTO recording_index (source, kind, start_ms, end_ms, location, uri,
                source_kind, footprint, authorisation, recorded_by, registered_ms)
             VALUES (?1, ?2, ?3, ?3, '', ?4, ?5, '[]', ?6, ?7, ?8)",
            params![
                s.source_id,
                category(s.kind).as_str(),
                s.start_ms,
                uri,
                s.kind.as_str(),
                s.authorisation,
                RECORDED_BY,
                now_ms
            ],
        )?;
        let id = self.tx.last_insert_rowid();
        self.tx.execute(
            "INSERT INTO video_segment (recording, path, init_length, width_px, height_px, network)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                s.path.to_string_lossy(),
                s.init_length as i64,
                s.width_px,
                s.height_px,
                s.network.as_str()
            ],
        )?;
        Ok(id)
    }

    /// Indexes a fragment written to its segment's file: in the view
    /// `extend` when given (the caller saw the same ground, see
    /// [`Seen::same_as`]), else in a new view when the source's footprint
    /// is known. Extends the segment to its end, with `footprint` (the hull
    /// of what the segment saw so far) when given. Returns the fragment's
    /// view.
    pub fn add_fragment(
        &mut self,
        f: &NewFragment,
        extend: Option<i64>,
        footprint: Option<&[GeoPoint]>,
    ) -> rusqlite::Result<Option<i64>> {
        let tx = &self.tx;
        let view = match (&f.seen, extend) {
            (Some(_), Some(id)) => {
                tx.execute(
                    "UPDATE video_view SET end_ms = max(end_ms, ?2), fragments = fragments + 1,
                        masked = masked OR ?3 WHERE id = ?1",
                    params![id, f.end_ms, f.masked],
                )?;
                tx.execute(
                    "UPDATE video_view_where SET max_ms = max(max_ms, ?2) WHERE id = ?1",
                    params![id, f.end_ms as f64],
                )?;
                Some(id)
            }
            (Some(seen), None) => {
                tx.execute(
                    "INSERT INTO video_view (recording, start_ms, end_ms, fragments, masked, seen)
                     VALUES (?1, ?2, ?3, 1, ?4, ?5)",
                    params![
                        f.recording,
                        f.start_ms,
                        f.end_ms,
                        f.masked,
                        serde_json::to_string(seen).unwrap_or_else(|_| "null".into())
                    ],
                )?;
                let id = tx.last_insert_rowid();
                let b = Bbox::of(&seen.ring);
                tx.execute(
                    "INSERT INTO video_view_where VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        id,
                        b.min_e,
                        b.max_e,
                        b.min_n,
                        b.max_n,
                        f.start_ms as f64,
                        f.end_ms as f64
                    ],
                )?;
                Some(id)
            }
            (None, _) => None,
        };
        tx.execute(
            "INSERT INTO video_fragment (recording, seq, start_ms, end_ms, byte_offset,
                byte_length, pictures, keyframe, masked, view)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                f.recording,
                f.seq,
                f.start_ms,
                f.end_ms,
                f.offset as i64,
                f.length as i64,
                f.pictures,
                f.keyframe,
                f.masked,
                view
            ],
        )?;
        tx.execute(
            "UPDATE recording_index SET end_ms = max(end_ms, ?2) WHERE id = ?1",
            params![f.recording, f.end_ms],
        )?;
        if let Some(ring) = footprint {
            let b = Bbox::of(
                &ring
                    .iter()
                    .map(|p| [p.lon_deg, p.lat_deg])
                    .collect::<Vec<_>>(),
            );
            tx.execute(
                "UPDATE recording_index SET footprint = ?2, location = ?3,
                    min_lat = ?4, min_lon = ?5, max_lat = ?6, max_lon = ?7 WHERE id = ?1",
                params![
                    f.recording,
                    serde_json::to_string(ring).unwrap_or_else(|_| "[]".into()),
                    format!(
                        "{:.6},{:.6}",
                        (b.min_n + b.max_n) / 2.0,
                        (b.min_e + b.max_e) / 2.0
                    ),
                    b.min_n,
                    b.min_e,
                    b.max_n,
                    b.max_e
                ],
            )?;
        }
        Ok(view)
    }
}

impl Store {
    /// Runs `f` on the video index in one transaction, committed when it
    /// returns `Ok`.
    pub fn video_batch<R>(
        &self,
        f: impl FnOnce(&mut VideoBatch<'_>) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        self.with_conn(|c| {
            let mut batch = VideoBatch {
                tx: c.transaction()?,
            };
            let r = f(&mut batch)?;
            batch.tx.commit()?;
            Ok(r)
        })
    }

    /// The file of a segment this ground recorded, if it is one.
    pub fn video_file(&self, recording: i64) -> Result<Option<PathBuf>, StoreError> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT path FROM video_segment WHERE recording = ?1",
                params![recording],
                |r| r.get::<_, String>(0),
            )
            .optional()
        })
        .map(|p| p.map(PathBuf::from))
    }
}

/// A `file://` URI for a path (made absolute when it can be).
pub fn file_uri(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file://{}", abs.display())
}

/// One segment behind a source's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentHit {
    /// `recording_index` id (the item `recording:ID` of holds).
    pub recording: i64,
    /// The segment's span, Unix milliseconds.
    pub start_ms: i64,
    /// The segment's span, Unix milliseconds.
    pub end_ms: i64,
    /// Where it is stored.
    pub uri: String,
    /// The flight authorisation of a drone's segment.
    pub authorisation: Option<i64>,
    /// Whether a legal hold keeps it.
    pub held: bool,
    /// Recorded by this ground (exportable with `vigie footage export`);
    /// `false` for a segment an outside recorder registered.
    pub recorded_here: bool,
    /// Fragments of it that saw the spot in the window.
    pub fragments: usize,
}

/// What one source recorded of the spot in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceFootage {
    /// The source's id.
    pub source_id: String,
    /// What kind of source.
    pub kind: SourceKind,
    /// Who owns it, when known.
    pub network: Option<Network>,
    /// Disjoint `[from_ms, to_ms]` spans in which its recorded footage
    /// shows the spot, in order.
    pub intervals: Vec<[i64; 2]>,
    /// Their total, milliseconds.
    pub total_ms: i64,
    /// Best pixel density at the spot in those spans, pixels per metre
    /// (unknown for outside recordings).
    pub density_px_m: Option<f64>,
    /// Whether a privacy mask crosses what it recorded then (those
    /// fragments are withheld from exports).
    pub masked_in_part: bool,
    /// The segments behind the spans.
    pub segments: Vec<SegmentHit>,
}

impl SourceFootage {
    /// A source with nothing found yet.
    fn new(source_id: &str, kind: SourceKind, network: Option<Network>) -> SourceFootage {
        SourceFootage {
            source_id: source_id.to_string(),
            kind,
            network,
            intervals: Vec::new(),
            total_ms: 0,
            density_px_m: None,
            masked_in_part: false,
            segments: Vec::new(),
        }
    }
}

/// Adds `[a, b]` to sorted, disjoint spans, merging spans that touch
/// (fragments of one stream end where the next begins, to the
/// millisecond).
fn add_span(spans: &mut Vec<[i64; 2]>, a: i64, b: i64) {
    spans.push([a, b]);
    spans.sort_unstable();
    let mut merged: Vec<[i64; 2]> = Vec::with_capacity(spans.len());
    for s in spans.drain(..) {
        match merged.last_mut() {
            Some(last) if s[0] <= last[1] + 1 => last[1] = last[1].max(s[1]),
            _ => merged.push(s),
        }
    }
    *spans = merged;
}

struct ViewHit {
    recording: i64,
    start_ms: i64,
    end_ms: i64,
    fragments: usize,
    masked: bool,
    seen: Seen,
    source: String,
    kind: String,
    network: String,
    width_px: f64,
    segment: (i64, i64, String, Option<i64>, bool),
}

/// Most views one query reads (a day of 60 drones over one spot); a query
/// that would read more is refused, to be asked again over a narrower
/// window.
pub const MAX_VIEWS: usize = 200_000;

/// Why a footage query was not answered.
#[derive(Debug, thiserror::Error)]
pub enum FootageError {
    /// More recorded views than one answer holds (the limit).
    #[error(
        "more than {0} recorded views of the spot in that window: ask again over a narrower window"
    )]
    TooMany(usize),
    /// The index failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which sources recorded the WGS84 point `[lon, lat]` between `from_ms`
/// and `to_ms`: for each, the exact spans (to the fragment) in which what
/// it recorded shows the point, and the segments behind them; segments an
/// outside recorder registered are answered by their footprint and span.
/// Best pixel density first (outside recordings, whose optics are unknown,
/// after), then the longest. A point under a privacy mask is shown by
/// nothing.
pub fn footage_at(
    store: &Store,
    frame: &LocalFrame,
    masks: &Masks,
    point: [f64; 2],
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<SourceFootage>, FootageError> {
    footage_at_most(store, frame, masks, point, [from_ms, to_ms], MAX_VIEWS)
}

/// [`footage_at`], reading at most `max_views` views.
pub fn footage_at_most(
    store: &Store,
    frame: &LocalFrame,
    masks: &Masks,
    point: [f64; 2],
    [from_ms, to_ms]: [i64; 2],
    max_views: usize,
) -> Result<Vec<SourceFootage>, FootageError> {
    let local = frame.local(point);
    if masks.masks(local) || to_ms < from_ms {
        return Ok(Vec::new());
    }
    let hits: Vec<ViewHit> = store.with_conn(|c| {
        // A view wholly in the window counts all its fragments; one cut by
        // the window counts those inside it.
        let mut stmt = c.prepare_cached(
            "SELECT v.recording, v.start_ms, v.end_ms,
                    CASE WHEN v.start_ms >= ?3 AND v.end_ms <= ?4 THEN v.fragments
                         ELSE (SELECT count(*) FROM video_fragment g
                               WHERE g.recording = v.recording AND g.view = v.id
                                 AND g.end_ms >= ?3 AND g.start_ms <= ?4) END,
                    v.masked, v.seen,
                    r.source, r.source_kind, s.network, s.width_px,
                    r.start_ms, r.end_ms, r.uri, r.authorisation, h.item IS NOT NULL
             FROM video_view_where w
             JOIN video_view v ON v.id = w.id
             JOIN recording_index r ON r.id = v.recording
             JOIN video_segment s ON s.recording = v.recording
             LEFT JOIN legal_hold h ON h.item = 'recording:' || r.id
             WHERE w.min_lon <= ?1 AND w.max_lon >= ?1 AND w.min_lat <= ?2 AND w.max_lat >= ?2
               AND w.max_ms >= ?3 AND w.min_ms <= ?4
               AND v.end_ms >= ?3 AND v.start_ms <= ?4
             LIMIT ?5",
        )?;
        let rows = stmt.query_map(
            params![point[0], point[1], from_ms, to_ms, max_views as i64 + 1],
            |r| {
                let seen: String = r.get(5)?;
                Ok((
                    seen,
                    ViewHit {
                        recording: r.get(0)?,
                        start_ms: r.get(1)?,
                        end_ms: r.get(2)?,
                        fragments: r.get::<_, i64>(3)?.max(0) as usize,
                        masked: r.get(4)?,
                        seen: Seen {
                            ring: Vec::new(),
                            eye: [0.0; 2],
                            height_m: 0.0,
                            hfov_deg: 0.0,
                        },
                        source: r.get(6)?,
                        kind: r.get(7)?,
                        network: r.get(8)?,
                        width_px: r.get(9)?,
                        segment: (r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?, r.get(14)?),
                    },
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (seen, mut hit) = row?;
            // A row whose footprint does not parse answers nothing.
            if let Ok(seen) = serde_json::from_str(&seen) {
                hit.seen = seen;
                out.push(hit);
            }
        }
        Ok(out)
    })?;
    if hits.len() > max_views {
        return Err(FootageError::TooMany(max_views));
    }

    let mut by_source: BTreeMap<String, SourceFootage> = BTreeMap::new();
    let mut segments: BTreeMap<(String, i64), SegmentHit> = BTreeMap::new();
    for h in hits {
        if !point_in_ring(&h.seen.ring, point) {
            continue;
        }
        let density = h.seen.density_at(frame, local, h.width_px);
        let entry = by_source.entry(h.source.clone()).or_insert_with(|| {
            SourceFootage::new(
                &h.source,
                SourceKind::parse(&h.kind).unwrap_or(SourceKind::FixedCamera),
                Network::parse(&h.network),
            )
        });
        add_span(
            &mut entry.intervals,
            h.start_ms.max(from_ms),
            h.end_ms.min(to_ms),
        );
        entry.density_px_m = Some(entry.density_px_m.map_or(density, |d| d.max(density)));
        entry.masked_in_part |= h.masked;
        let (start_ms, end_ms, uri, authorisation, held) = h.segment;
        segments
            .entry((h.source, h.recording))
            .or_insert(SegmentHit {
                recording: h.recording,
                start_ms,
                end_ms,
                uri,
                authorisation,
                held,
                recorded_here: true,
                fragments: 0,
            })
            .fragments += h.fragments;
    }

    // Segments outside recorders registered: by footprint and span.
    let (lat, lon) = (point[1], point[0]);
    for rec in store.outside_segments_near(
        lat,
        lon,
        from_ms,
        to_ms,
        recordings::MAX_RESULTS,
        RECORDED_BY,
    )? {
        let Some(view) = recordings::view_at(&rec, local, frame, masks) else {
            continue;
        };
        let entry = by_source
            .entry(rec.source_id.clone())
            .or_insert_with(|| SourceFootage::new(&rec.source_id, rec.source_kind, None));
        add_span(
            &mut entry.intervals,
            rec.start_ms.max(from_ms),
            rec.end_ms.min(to_ms),
        );
        entry.masked_in_part |= view.masked_in_part;
        segments.insert(
            (rec.source_id.clone(), rec.id),
            SegmentHit {
                recording: rec.id,
                start_ms: rec.start_ms,
                end_ms: rec.end_ms,
                uri: rec.uri,
                authorisation: rec.authorisation,
                held: rec.held,
                recorded_here: false,
                fragments: 0,
            },
        );
    }
    for ((source, _), seg) in segments {
        if let Some(f) = by_source.get_mut(&source) {
            f.segments.push(seg);
        }
    }
    let mut out: Vec<SourceFootage> = by_source
        .into_values()
        .map(|mut f| {
            f.total_ms = f.intervals.iter().map(|[a, b]| b - a).sum();
            f
        })
        .collect();
    out.sort_by(|a, b| {
        let d = |f: &SourceFootage| f.density_px_m.unwrap_or(-1.0);
        d(b).total_cmp(&d(a))
            .then(b.total_ms.cmp(&a.total_ms))
            .then(a.source_id.cmp(&b.source_id))
    });
    Ok(out)
}

/// Why a clip could not be cut.
#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    /// Nothing recorded here in the window (or only masked fragments).
    #[error("{0}")]
    Nothing(String),
    /// The index failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A segment file could not be read or the clip written.
    #[error("{0}")]
    Io(String),
}

/// One file of a clip: fragments of segments sharing one init segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipPart {
    /// The file's name, beside the manifest.
    pub file: String,
    /// Its bytes.
    pub bytes: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Span of the footage in it, Unix milliseconds.
    pub start_ms: i64,
    /// Span of the footage in it, Unix milliseconds.
    pub end_ms: i64,
    /// Pictures in it.
    pub pictures: u64,
    /// The segments it was cut from (`recording_index` ids).
    pub recordings: Vec<i64>,
}

/// A clip cut from one source's recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    /// The source.
    pub source_id: String,
    /// What kind of source.
    pub kind: SourceKind,
    /// Who owns it.
    pub network: Option<Network>,
    /// The flight authorisations its segments were made under.
    pub authorisations: Vec<i64>,
    /// The files, in time order.
    pub parts: Vec<ClipPart>,
    /// Fragments left out because their footprint crosses a privacy mask.
    pub withheld_masked: usize,
}

struct ClipFragment {
    recording: i64,
    start_ms: i64,
    end_ms: i64,
    offset: u64,
    length: u64,
    pictures: u64,
    masked: bool,
    path: String,
    init_length: u64,
    kind: String,
    network: String,
    authorisation: Option<i64>,
}

/// Cuts the footage `source_id` recorded here between `from_ms` and
/// `to_ms` into `dir` as `<stem>-<n>.mp4` files: whole fragments (each
/// starts at a keyframe, so the clip is cut at keyframes), consecutive
/// segments with the same init segment in one file, each file with its
/// SHA-256. Fragments that cross a privacy mask are withheld and counted.
pub fn write_clip(
    store: &Store,
    source_id: &str,
    from_ms: i64,
    to_ms: i64,
    dir: &Path,
    stem: &str,
) -> Result<Clip, ClipError> {
    use sha2::Digest as _;
    use std::io::Write as _;
    let fragments: Vec<ClipFragment> = store.with_conn(|c| {
        let mut stmt = c.prepare_cached(
            "SELECT f.recording, f.start_ms, f.end_ms, f.byte_offset, f.byte_length, f.pictures,
                    f.masked, s.path, s.init_length, r.source_kind, s.network, r.authorisation
             FROM recording_index r
             JOIN video_fragment f ON f.recording = r.id
             JOIN video_segment s ON s.recording = r.id
             WHERE r.source = ?1 AND r.end_ms > ?2 AND r.start_ms < ?3
               AND f.end_ms > ?2 AND f.start_ms < ?3
             ORDER BY f.start_ms, f.recording, f.seq LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![source_id, from_ms, to_ms, MAX_FRAGMENTS as i64],
            |r| {
                Ok(ClipFragment {
                    recording: r.get(0)?,
                    start_ms: r.get(1)?,
                    end_ms: r.get(2)?,
                    offset: r.get::<_, i64>(3)?.max(0) as u64,
                    length: r.get::<_, i64>(4)?.max(0) as u64,
                    pictures: r.get::<_, i64>(5)?.max(0) as u64,
                    masked: r.get(6)?,
                    path: r.get(7)?,
                    init_length: r.get::<_, i64>(8)?.max(0) as u64,
                    kind: r.get(9)?,
                    network: r.get(10)?,
                    authorisation: r.get(11)?,
                })
            },
        )?;
        rows.collect()
    })?;
    let Some(first) = fragments.first() else {
        return Err(ClipError::Nothing(format!(
            "{source_id} recorded nothing here between {from_ms} and {to_ms}"
        )));
    };
    let mut clip = Clip {
        source_id: source_id.to_string(),
        kind: SourceKind::parse(&first.kind).unwrap_or(SourceKind::FixedCamera),
        network: Network::parse(&first.network),
        authorisations: Vec::new(),
        parts: Vec::new(),
        withheld_masked: 0,
    };
    std::fs::create_dir_all(dir).map_err(|e| ClipError::Io(format!("{}: {e}", dir.display())))?;
    let io = |what: &str, e: std::io::Error| ClipError::Io(format!("{what}: {e}"));
    struct Open {
        file: std::fs::File,
        hash: sha2::Sha256,
        part: ClipPart,
        init: Vec<u8>,
        path: PathBuf,
    }
    let mut open: Option<Open> = None;
    let finish = |o: Open, parts: &mut Vec<ClipPart>| -> Result<(), ClipError> {
        o.file
            .sync_all()
            .map_err(|e| ClipError::Io(format!("{}: {e}", o.path.display())))?;
        let mut part = o.part;
        part.sha256 = crate::guardrails::audit_seal::hex(&o.hash.finalize());
        parts.push(part);
        Ok(())
    };
    let mut sources: BTreeMap<String, std::fs::File> = BTreeMap::new();
    for f in &fragments {
        if f.masked {
            clip.withheld_masked += 1;
            continue;
        }
        if let Some(a) = f.authorisation
            && !clip.authorisations.contains(&a)
        {
            clip.authorisations.push(a);
        }
        // Bounds a damaged index cannot push past: an init segment is a few
        // hundred bytes, a fragment a second of video.
        if f.init_length > 1 << 20 || f.length > 256 << 20 {
            return Err(ClipError::Io(format!(
                "the index of recording {} is damaged (init {} bytes, fragment {} bytes): not exported",
                f.recording, f.init_length, f.length
            )));
        }
        if !sources.contains_key(&f.path) {
            let file = std::fs::File::open(&f.path).map_err(|e| io(&f.path, e))?;
            sources.insert(f.path.clone(), file);
        }
        let Some(src) = sources.get_mut(&f.path) else {
            continue;
        };
        let mut init = vec![0u8; f.init_length as usize];
        src.seek(SeekFrom::Start(0))
            .and_then(|_| src.read_exact(&mut init))
            .map_err(|e| io(&f.path, e))?;
        let mut bytes = vec![0u8; f.length as usize];
        src.seek(SeekFrom::Start(f.offset))
            .and_then(|_| src.read_exact(&mut bytes))
            .map_err(|e| io(&f.path, e))?;
        if open.as_ref().is_some_and(|o| o.init != init)
            && let Some(o) = open.take()
        {
            finish(o, &mut clip.parts)?;
        }
        let o = match &mut open {
            Some(o) => o,
            None => {
                let name = format!("{stem}-{}.mp4", clip.parts.len() + 1);
                let path = dir.join(&name);
                let mut file =
                    std::fs::File::create(&path).map_err(|e| io(&path.display().to_string(), e))?;
                file.write_all(&init)
                    .map_err(|e| io(&path.display().to_string(), e))?;
                let mut hash = sha2::Sha256::new();
                hash.update(&init);
                open.insert(Open {
                    file,
                    hash,
                    part: ClipPart {
                        file: name,
                        bytes: init.len() as u64,
                        sha256: String::new(),
                        start_ms: f.start_ms,
                        end_ms: f.end_ms,
                        pictures: 0,
                        recordings: Vec::new(),
                    },
                    init,
                    path,
                })
            }
        };
        o.file
            .write_all(&bytes)
            .map_err(|e| io(&o.path.display().to_string(), e))?;
        o.hash.update(&bytes);
        o.part.bytes += bytes.len() as u64;
        o.part.end_ms = f.end_ms;
        o.part.pictures += f.pictures;
        if !o.part.recordings.contains(&f.recording) {
            o.part.recordings.push(f.recording);
        }
    }
    if let Some(o) = open.take() {
        finish(o, &mut clip.parts)?;
    }
    if clip.parts.is_empty() {
        return Err(ClipError::Nothing(format!(
            "every fragment {source_id} recorded in the window crosses a privacy mask: nothing can be exported until black-out is applied"
        )));
    }
    Ok(clip)
}
