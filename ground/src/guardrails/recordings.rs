//! The recordings index: which recorded segment shows which ground, when,
//! and where its file is, as a video management system keeps one.
//!
//! Vigie records no video itself. A recorder (a VMS for fixed cameras, a
//! drone video store, a tablet upload service) registers each segment it
//! keeps with `POST /api/v1/recordings` (role `recorder` or `admin`): the
//! source (kind and id), start and end, the ground footprint it shows, the
//! storage URI and, for a drone, the flight authorisation it was made under
//! (required, and its window must overlap the segment's).
//!
//! Searching the index (`GET /api/v1/recordings?lat&lon&from&to&reason=`) is
//! a footage query: the reason is required and the query is written to the
//! audit register before it runs. Privacy masks apply to what is answered:
//! a masked point is shown by no segment, and each footprint is returned
//! with the masked areas cut out (a segment whose footprint lies entirely
//! in masks is never returned).
//!
//! Retention: each kind has its limit (`[retention]`), counted from the
//! segment's end; legal holds suspend it; purges go to the deletion register
//! ([`super::retention`]).

use geo::{BooleanOps as _, LineString, MultiPolygon, Polygon};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::retention::Category;
use crate::coverage::mask::Masks;
use crate::coverage::polygon::{Pt, point_in_ring};
use crate::dispatch::incident::GeoPoint;
use crate::frame::LocalFrame;
use crate::store::{Store, StoreError};

/// Most vertices of a footprint.
pub const MAX_FOOTPRINT_POINTS: usize = 256;

/// Longest segment indexed, milliseconds (a recorder cuts longer ones).
pub const MAX_SEGMENT_MS: i64 = 24 * 3_600_000;

/// Most segments one search returns; narrow the window beyond.
pub const MAX_RESULTS: usize = 1000;

/// What recorded the segment: the coverage index's kinds of source.
pub use crate::coverage::SourceKind;

/// The retention category of a source's recordings.
pub fn category(kind: SourceKind) -> Category {
    match kind {
        SourceKind::FixedCamera => Category::FixedRecording,
        SourceKind::Drone => Category::DroneRecording,
        SourceKind::Tablet => Category::TabletRecording,
    }
}

/// A segment to index (`POST /api/v1/recordings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRecording {
    /// What recorded it.
    pub source_kind: SourceKind,
    /// The source's id (a camera id, a drone unit id, a patrol unit id).
    pub source_id: String,
    /// Start, Unix milliseconds.
    pub start_ms: i64,
    /// End, Unix milliseconds.
    pub end_ms: i64,
    /// The ground the segment shows: a ring of at least three points
    /// (closed or not), WGS84.
    pub footprint: Vec<GeoPoint>,
    /// Where the file is stored (a URI with a scheme: `s3://`, `file://`,
    /// `rtsp://`, `urn:`).
    pub uri: String,
    /// The flight authorisation a drone's segment was made under (required
    /// for drones).
    #[serde(default)]
    pub authorisation: Option<i64>,
}

/// A segment as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// Id: the item `recording:ID` for holds and the deletion register.
    pub id: i64,
    /// What recorded it.
    pub source_kind: SourceKind,
    /// The source's id.
    pub source_id: String,
    /// Start, Unix milliseconds.
    pub start_ms: i64,
    /// End, Unix milliseconds.
    pub end_ms: i64,
    /// The ground it shows, WGS84 (as registered, before masks).
    pub footprint: Vec<GeoPoint>,
    /// Where the file is stored.
    pub uri: String,
    /// The flight authorisation of a drone's segment.
    pub authorisation: Option<i64>,
    /// Whether a legal hold suspends its purge.
    pub held: bool,
    /// Who registered it (`operator:NAME`).
    pub registered_by: String,
    /// When it was registered, Unix milliseconds.
    pub registered_ms: i64,
}

/// A segment as a search answers it: its footprint with masked areas cut
/// out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingView {
    /// Id.
    pub id: i64,
    /// What recorded it.
    pub source_kind: SourceKind,
    /// The source's id.
    pub source_id: String,
    /// Start, Unix milliseconds.
    pub start_ms: i64,
    /// End, Unix milliseconds.
    pub end_ms: i64,
    /// The ground it shows outside privacy masks: polygons (outer rings),
    /// WGS84.
    pub footprint: Vec<Vec<GeoPoint>>,
    /// Whether masks cut part of the footprint.
    pub masked_in_part: bool,
    /// Where the file is stored.
    pub uri: String,
    /// The flight authorisation of a drone's segment.
    pub authorisation: Option<i64>,
    /// Whether a legal hold suspends its purge.
    pub held: bool,
}

/// Why a segment could not be indexed.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The request is wrong; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(msg: impl Into<String>) -> RecordingError {
    RecordingError::Invalid(msg.into())
}

fn valid_point(p: &GeoPoint) -> bool {
    p.lat_deg.is_finite()
        && p.lon_deg.is_finite()
        && (-90.0..=90.0).contains(&p.lat_deg)
        && (-180.0..=180.0).contains(&p.lon_deg)
}

/// Checks a segment's fields (the authorisation is checked against the
/// store by [`Store::index_segment`]).
pub fn validate(r: &NewRecording) -> Result<(), RecordingError> {
    let id = r.source_id.trim();
    if id.is_empty() || id.len() > 200 {
        return Err(invalid("source_id must be 1 to 200 characters"));
    }
    if r.start_ms <= 0 || r.end_ms < r.start_ms {
        return Err(invalid(
            "start_ms and end_ms are Unix milliseconds with start_ms <= end_ms",
        ));
    }
    if r.end_ms - r.start_ms > MAX_SEGMENT_MS {
        return Err(invalid(format!(
            "a segment lasts at most {} hours: index longer recordings as several segments",
            MAX_SEGMENT_MS / 3_600_000
        )));
    }
    let n = r.footprint.len();
    if !(3..=MAX_FOOTPRINT_POINTS).contains(&n) {
        return Err(invalid(format!(
            "footprint needs 3 to {MAX_FOOTPRINT_POINTS} points (lat_deg, lon_deg), got {n}"
        )));
    }
    if !r.footprint.iter().all(valid_point) {
        return Err(invalid(
            "footprint points need lat_deg in -90..90 and lon_deg in -180..180",
        ));
    }
    let uri = r.uri.trim();
    let has_scheme = uri.split_once(':').is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && !rest.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if !has_scheme || uri.len() > 2048 {
        return Err(invalid(
            "uri must name where the file is stored, with a scheme (s3://..., file://..., urn:...), at most 2048 characters",
        ));
    }
    match (r.source_kind, r.authorisation) {
        (SourceKind::Drone, None) => Err(invalid(
            "a drone's recording needs the flight authorisation it was made under (authorisation)",
        )),
        _ => Ok(()),
    }
}

/// The footprint in the local frame, closed.
fn local_ring(footprint: &[GeoPoint], frame: &LocalFrame) -> Vec<Pt> {
    let mut ring: Vec<Pt> = footprint
        .iter()
        .map(|p| {
            let (e, n) = frame.to_local(p.lat_deg, p.lon_deg);
            [e, n]
        })
        .collect();
    if ring.first() != ring.last()
        && let Some(&first) = ring.first()
    {
        ring.push(first);
    }
    ring
}

fn polygon(ring: &[Pt]) -> Polygon<f64> {
    Polygon::new(
        LineString::from(ring.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>()),
        vec![],
    )
}

/// What a search answers for `rec` at the local point `at`: `None` when
/// its footprint does not contain the point, when the point is masked, or
/// when nothing of the footprint is left outside the masks; otherwise the
/// segment with its footprint clipped by the masks. Pure.
pub fn view_at(
    rec: &Recording,
    at: Pt,
    frame: &LocalFrame,
    masks: &Masks,
) -> Option<RecordingView> {
    if masks.masks(at) {
        return None;
    }
    let ring = local_ring(&rec.footprint, frame);
    if !point_in_ring(&ring, at) {
        return None;
    }
    let whole = polygon(&ring);
    let mut left = MultiPolygon::new(vec![whole]);
    for mask in masks.rings() {
        left = left.difference(&polygon(mask));
    }
    let footprint: Vec<Vec<GeoPoint>> = left
        .0
        .iter()
        .map(|p| {
            p.exterior()
                .points()
                .map(|pt| {
                    let (lat_deg, lon_deg) = frame.to_wgs84(pt.x(), pt.y());
                    GeoPoint { lat_deg, lon_deg }
                })
                .collect()
        })
        .filter(|r: &Vec<GeoPoint>| r.len() >= 4)
        .collect();
    if footprint.is_empty() {
        return None;
    }
    let masked_in_part = masks.rings().iter().any(|m| {
        let cut = polygon(&ring).intersection(&polygon(m));
        !cut.0.is_empty()
    });
    Some(RecordingView {
        id: rec.id,
        source_kind: rec.source_kind,
        source_id: rec.source_id.clone(),
        start_ms: rec.start_ms,
        end_ms: rec.end_ms,
        footprint,
        masked_in_part,
        uri: rec.uri.clone(),
        authorisation: rec.authorisation,
        held: rec.held,
    })
}

/// Bounding box of a footprint: (min_lat, min_lon, max_lat, max_lon).
fn bbox(footprint: &[GeoPoint]) -> (f64, f64, f64, f64) {
    footprint.iter().fold(
        (f64::MAX, f64::MAX, f64::MIN, f64::MIN),
        |(a, b, c, d), p| {
            (
                a.min(p.lat_deg),
                b.min(p.lon_deg),
                c.max(p.lat_deg),
                d.max(p.lon_deg),
            )
        },
    )
}

fn read_recording(r: &rusqlite::Row<'_>) -> rusqlite::Result<Recording> {
    let kind: String = r.get(1)?;
    let category: String = r.get(2)?;
    let footprint: String = r.get(6)?;
    let source_kind = SourceKind::parse(&kind).unwrap_or(if category == "fixed_recording" {
        SourceKind::FixedCamera
    } else {
        SourceKind::Drone
    });
    Ok(Recording {
        id: r.get(0)?,
        source_kind,
        source_id: r.get(3)?,
        start_ms: r.get(4)?,
        end_ms: r.get(5)?,
        footprint: serde_json::from_str(&footprint).unwrap_or_default(),
        uri: r.get(7)?,
        authorisation: r.get(8)?,
        held: r.get(9)?,
        registered_by: r.get(10)?,
        registered_ms: r.get(11)?,
    })
}

const SELECT: &str =
    "SELECT r.id, r.source_kind, r.kind, r.source, r.start_ms, r.end_ms, r.footprint,
        r.uri, r.authorisation, h.item IS NOT NULL, r.recorded_by, r.registered_ms
     FROM recording_index r LEFT JOIN legal_hold h ON h.item = 'recording:' || r.id";

impl Store {
    /// Indexes a segment registered by `by` at `now_ms`; returns its id.
    /// A drone's segment must name an authorisation whose window overlaps
    /// it.
    pub fn index_segment(
        &self,
        r: &NewRecording,
        by: &str,
        now_ms: i64,
    ) -> Result<i64, RecordingError> {
        validate(r)?;
        if let Some(id) = r.authorisation {
            let auth = self
                .list_authorisations()?
                .into_iter()
                .find(|a| a.id == id)
                .ok_or_else(|| invalid(format!("no flight authorisation {id}")))?;
            if r.start_ms >= auth.end_ms() || r.end_ms < auth.spec.from_ms {
                return Err(invalid(format!(
                    "the segment ({}..{}) lies outside authorisation {id}'s window ({}..{})",
                    r.start_ms,
                    r.end_ms,
                    auth.spec.from_ms,
                    auth.end_ms()
                )));
            }
        }
        let (min_lat, min_lon, max_lat, max_lon) = bbox(&r.footprint);
        let footprint = serde_json::to_string(&r.footprint).unwrap_or_else(|_| "[]".into());
        let location = format!(
            "{:.6},{:.6}",
            (min_lat + max_lat) / 2.0,
            (min_lon + max_lon) / 2.0
        );
        Ok(self.with_conn(|c| {
            c.execute(
                "INSERT INTO recording_index (source, kind, start_ms, end_ms, location, uri,
                    source_kind, footprint, authorisation, recorded_by, registered_ms,
                    min_lat, min_lon, max_lat, max_lon)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                params![
                    r.source_id.trim(),
                    category(r.source_kind).as_str(),
                    r.start_ms,
                    r.end_ms,
                    location,
                    r.uri.trim(),
                    r.source_kind.as_str(),
                    footprint,
                    r.authorisation,
                    by,
                    now_ms,
                    min_lat,
                    min_lon,
                    max_lat,
                    max_lon
                ],
            )?;
            Ok(c.last_insert_rowid())
        })?)
    }

    /// Segments overlapping `[from_ms, to_ms]` whose footprint's box holds
    /// the point, at most `limit`, by start.
    pub fn segments_near(
        &self,
        lat_deg: f64,
        lon_deg: f64,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<Recording>, StoreError> {
        self.segments_where("", "", [lat_deg, lon_deg], [from_ms, to_ms], limit)
    }

    /// [`Store::segments_near`], only segments outside recorders
    /// registered (not those `recorded_by` this ground: the video index
    /// answers for those, fragment by fragment).
    pub fn outside_segments_near(
        &self,
        lat_deg: f64,
        lon_deg: f64,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
        recorded_by: &str,
    ) -> Result<Vec<Recording>, StoreError> {
        // Through the video index's partial index over outside segments
        // (`video::index` creates it): the time index would walk this
        // ground's own segments too, a day of them for every source.
        let only = format!("r.recorded_by != '{}' AND", recorded_by.replace('\'', "''"));
        self.segments_where(
            "INDEXED BY recording_index_outside",
            &only,
            [lat_deg, lon_deg],
            [from_ms, to_ms],
            limit,
        )
    }

    fn segments_where(
        &self,
        index: &str,
        only: &str,
        [lat_deg, lon_deg]: [f64; 2],
        [from_ms, to_ms]: [i64; 2],
        limit: usize,
    ) -> Result<Vec<Recording>, StoreError> {
        self.with_conn(|c| {
            let select = SELECT.replacen(
                "FROM recording_index r",
                &format!("FROM recording_index r {index}"),
                1,
            );
            let mut stmt = c.prepare_cached(&format!(
                "{select} WHERE {only} r.start_ms <= ?1 AND r.end_ms >= ?2
                   AND r.min_lat <= ?3 AND r.max_lat >= ?3 AND r.min_lon <= ?4 AND r.max_lon >= ?4
                 ORDER BY r.start_ms, r.id LIMIT ?5"
            ))?;
            let rows = stmt.query_map(
                params![to_ms, from_ms, lat_deg, lon_deg, limit as i64],
                read_recording,
            )?;
            rows.collect()
        })
    }

    /// One segment by id.
    pub fn segment(&self, id: i64) -> Result<Option<Recording>, StoreError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(&format!("{SELECT} WHERE r.id = ?1"))?;
            let mut rows = stmt.query_map(params![id], read_recording)?;
            rows.next().transpose()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrails::retention::{self, Limits};

    const DAY: i64 = 86_400_000;

    fn frame() -> LocalFrame {
        LocalFrame::new(48.9245, 2.3601)
    }

    /// A square footprint of `half_m` around local (e, n).
    fn square(e: f64, n: f64, half_m: f64) -> Vec<GeoPoint> {
        let f = frame();
        [
            (e - half_m, n - half_m),
            (e + half_m, n - half_m),
            (e + half_m, n + half_m),
            (e - half_m, n + half_m),
        ]
        .iter()
        .map(|&(x, y)| {
            let (lat_deg, lon_deg) = f.to_wgs84(x, y);
            GeoPoint { lat_deg, lon_deg }
        })
        .collect()
    }

    fn seg(kind: SourceKind, start_ms: i64, end_ms: i64, footprint: Vec<GeoPoint>) -> NewRecording {
        NewRecording {
            source_kind: kind,
            source_id: "cam-12".into(),
            start_ms,
            end_ms,
            footprint,
            uri: format!("s3://vms/cam-12/{start_ms}.mp4"),
            authorisation: None,
        }
    }

    fn store() -> Store {
        let s = Store::in_memory().unwrap();
        retention::migrate(&s).unwrap();
        crate::guardrails::authorisation::migrate(&s).unwrap();
        s
    }

    fn mask_square(e: f64, n: f64, half: f64) -> Vec<Pt> {
        vec![
            [e - half, n - half],
            [e + half, n - half],
            [e + half, n + half],
            [e - half, n + half],
            [e - half, n - half],
        ]
    }

    #[test]
    fn bad_segments_are_refused_with_what_to_fix() {
        let ok = seg(SourceKind::FixedCamera, 1000, 2000, square(0.0, 0.0, 10.0));
        assert!(validate(&ok).is_ok());
        let cases = [
            (
                NewRecording {
                    end_ms: 500,
                    ..ok.clone()
                },
                "start_ms <= end_ms",
            ),
            (
                NewRecording {
                    footprint: ok.footprint[..2].to_vec(),
                    ..ok.clone()
                },
                "3 to",
            ),
            (
                NewRecording {
                    uri: "nowhere".into(),
                    ..ok.clone()
                },
                "scheme",
            ),
            (
                NewRecording {
                    source_kind: SourceKind::Drone,
                    ..ok.clone()
                },
                "authorisation",
            ),
            (
                NewRecording {
                    end_ms: 1000 + 2 * MAX_SEGMENT_MS,
                    ..ok.clone()
                },
                "several segments",
            ),
        ];
        for (r, expect) in cases {
            let e = validate(&r).unwrap_err().to_string();
            assert!(e.contains(expect), "{e}");
        }
    }

    #[test]
    fn a_drone_segment_must_lie_in_its_authorisation_window() {
        let s = store();
        let mut r = seg(SourceKind::Drone, 1000, 2000, square(0.0, 0.0, 10.0));
        r.authorisation = Some(99);
        let e = s.index_segment(&r, "operator:rec", 5).unwrap_err();
        assert!(e.to_string().contains("no flight authorisation 99"), "{e}");
    }

    #[test]
    fn a_search_finds_segments_over_the_point_in_the_window_and_masks_cut_them() {
        let s = store();
        let f = frame();
        let a = s
            .index_segment(
                &seg(SourceKind::FixedCamera, 1000, 2000, square(0.0, 0.0, 50.0)),
                "operator:vms",
                1,
            )
            .unwrap();
        // Elsewhere, and later.
        s.index_segment(
            &seg(
                SourceKind::FixedCamera,
                1000,
                2000,
                square(500.0, 0.0, 50.0),
            ),
            "operator:vms",
            1,
        )
        .unwrap();
        s.index_segment(
            &seg(SourceKind::Tablet, 9000, 9500, square(0.0, 0.0, 50.0)),
            "operator:vms",
            1,
        )
        .unwrap();
        // Wholly inside the mask below.
        s.index_segment(
            &seg(
                SourceKind::FixedCamera,
                1000,
                2000,
                square(-30.0, -30.0, 5.0),
            ),
            "operator:vms",
            1,
        )
        .unwrap();
        let (lat, lon) = f.to_wgs84(10.0, 10.0);
        let found = s.segments_near(lat, lon, 1500, 1600, MAX_RESULTS).unwrap();
        assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), vec![a]);

        // A mask over the south-west corner: the footprint comes back cut.
        let masks = Masks::new(vec![mask_square(-40.0, -40.0, 20.0)]);
        let v = view_at(&found[0], [10.0, 10.0], &f, &masks).unwrap();
        assert!(v.masked_in_part);
        assert_eq!(v.footprint.len(), 1);
        let cut_corner = f.to_wgs84(-45.0, -45.0);
        let ring: Vec<Pt> = v.footprint[0]
            .iter()
            .map(|p| {
                let (e, n) = f.to_local(p.lat_deg, p.lon_deg);
                [e, n]
            })
            .collect();
        let (e, n) = f.to_local(cut_corner.0, cut_corner.1);
        assert!(
            !point_in_ring(&ring, [e, n]),
            "the masked corner is cut out"
        );
        assert!(point_in_ring(&ring, [40.0, 40.0]));
        // A masked point is shown by nothing.
        assert!(view_at(&found[0], [-45.0, -45.0], &f, &masks).is_none());
        // A footprint wholly in the mask is never answered, even for a point
        // just outside the mask that its (unclipped) ring would contain.
        let inside = s
            .segments_near(
                f.to_wgs84(-30.0, -30.0).0,
                f.to_wgs84(-30.0, -30.0).1,
                0,
                5000,
                10,
            )
            .unwrap();
        let wholly = inside
            .iter()
            .find(|r| r.footprint.len() == 4 && r.id != a)
            .unwrap();
        let big_mask = Masks::new(vec![mask_square(-30.0, -30.0, 6.0)]);
        assert!(view_at(wholly, [-30.0, -30.0], &f, &big_mask).is_none());
        let no_masks = Masks::default();
        assert!(view_at(wholly, [-30.0, -30.0], &f, &no_masks).is_some());
    }

    #[test]
    fn each_kind_is_purged_after_its_limit_unless_held_on_virtual_time() {
        let s = store();
        let limits = Limits::default();
        let fixed = s
            .index_segment(
                &seg(SourceKind::FixedCamera, 1000, 2000, square(0.0, 0.0, 10.0)),
                "operator:vms",
                1,
            )
            .unwrap();
        let tablet = s
            .index_segment(
                &seg(SourceKind::Tablet, 1000, 2000, square(0.0, 0.0, 10.0)),
                "operator:vms",
                1,
            )
            .unwrap();
        // A drone segment under an authorisation.
        let auth = s
            .add_authorisation(
                &crate::guardrails::authorisation::NewAuthorisation {
                    from_ms: 0,
                    to_ms: 10 * DAY,
                    ..crate::guardrails::authorisation::tests::square(0, &[]).spec
                },
                0,
                "operator:odile",
            )
            .unwrap();
        let mut d = seg(SourceKind::Drone, 1000, 2000, square(0.0, 0.0, 10.0));
        d.authorisation = Some(auth.id);
        let drone = s.index_segment(&d, "operator:vms", 1).unwrap();
        let held_drone = s.index_segment(&d, "operator:vms", 1).unwrap();
        s.hold_for(
            &format!("recording:{held_drone}"),
            "seized",
            "PV 2026/77",
            "operator:odile",
            3,
        )
        .unwrap();
        assert!(s.segment(held_drone).unwrap().unwrap().held);

        // Day 7 after the end: kept. Just after: the drone segment goes.
        retention::purge(&s, 2000 + 7 * DAY, &limits).unwrap();
        assert!(s.segment(drone).unwrap().is_some());
        retention::purge(&s, 2001 + 7 * DAY, &limits).unwrap();
        assert!(s.segment(drone).unwrap().is_none());
        assert!(s.segment(held_drone).unwrap().is_some(), "held");
        assert!(s.segment(fixed).unwrap().is_some());
        // After 30 days the fixed and tablet ones go; the held one stays.
        retention::purge(&s, 2001 + 30 * DAY, &limits).unwrap();
        assert!(s.segment(fixed).unwrap().is_none());
        assert!(s.segment(tablet).unwrap().is_none());
        assert!(s.segment(held_drone).unwrap().is_some());
        let register = s.deletions().unwrap();
        let items: Vec<&str> = register.iter().map(|d| d.item.as_str()).collect();
        assert_eq!(
            items,
            [
                format!("recording:{drone}"),
                format!("recording:{fixed}"),
                format!("recording:{tablet}")
            ]
        );
        assert!(register[0].detail.contains("s3://vms/cam-12/1000.mp4"));
        assert_eq!(register[2].category, "tablet_recording");
    }
}
