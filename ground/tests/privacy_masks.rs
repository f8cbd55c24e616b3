//! A point under a privacy mask is never in a who-sees answer: not now (one
//! point or a batch, fixed cameras or a drone flying over it), not in history.
//! Checked over a grid of points inside and around each mask.

use vigie_ground::coverage::history::{self, IntervalRow, Target};
use vigie_ground::coverage::http::answer_point;
use vigie_ground::coverage::index::SourceInfo;
use vigie_ground::coverage::live::LiveCoverage;
use vigie_ground::coverage::mask::Masks;
use vigie_ground::coverage::polygon::{Pt, point_in_ring};
use vigie_ground::coverage::query;
use vigie_ground::coverage::{Network, SourceKind};
use vigie_ground::frame::LocalFrame;
use vigie_ground::store::Store;

fn square(c: Pt, r: f64) -> Vec<Pt> {
    vec![
        [c[0] - r, c[1] - r],
        [c[0] + r, c[1] - r],
        [c[0] + r, c[1] + r],
        [c[0] - r, c[1] + r],
        [c[0] - r, c[1] - r],
    ]
}

fn camera(id: &str, kind: SourceKind, eye: Pt) -> SourceInfo {
    SourceInfo {
        id: id.into(),
        kind,
        network: Network::City,
        eye,
        height_m: 8.0,
        hfov_deg: 70.0,
        horizontal_px: 1920.0,
        heading_deg: 0.0,
        range_m: 200.0,
        ptz: false,
        speed_m_s: 0.0,
    }
}

#[test]
fn a_masked_point_is_never_in_a_who_sees_answer() {
    let frame = LocalFrame::new(48.924459, 2.360164);
    // A courtyard (square) and a school yard (triangle), both under cameras
    // that cover everything around them.
    let masks = vec![
        square([10.0, 10.0], 6.0),
        vec![
            [-40.0, -40.0],
            [-10.0, -40.0],
            [-25.0, -15.0],
            [-40.0, -40.0],
        ],
    ];
    let statics = vec![
        (
            camera("cam-a", SourceKind::FixedCamera, [0.0, -60.0]),
            square([0.0, 0.0], 80.0),
        ),
        (
            camera("cam-b", SourceKind::FixedCamera, [0.0, 60.0]),
            square([0.0, 0.0], 60.0),
        ),
        (
            camera("drone:udp0:1", SourceKind::Drone, [10.0, 10.0]),
            square([0.0, 0.0], 70.0),
        ),
    ];
    let live = LiveCoverage::new(frame, statics, Masks::new(masks.clone()), None);
    let wgs = |p: Pt| {
        let (lat, lon) = frame.to_wgs84(p[0], p[1]);
        [lon, lat]
    };
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for i in -50..=25 {
        for j in -50..=25 {
            // Off the integer grid the masks' edges lie on: a point exactly
            // on an edge is ambiguous after the WGS84 round trip.
            let p = [i as f64 + 0.37, j as f64 + 0.37];
            if masks.iter().any(|m| point_in_ring(m, p)) {
                inside.push(p);
            } else {
                outside.push(p);
            }
        }
    }
    assert!(inside.len() > 300, "the grid samples the masks");
    for &p in &inside {
        let [lon, lat] = wgs(p);
        let a = answer_point(&live, lon, lat);
        assert!(a.masked && a.sightings.is_empty(), "{p:?}: {a:?}");
    }
    // Outside the masks, the same cameras do answer: the check is not vacuous.
    let seen = outside
        .iter()
        .filter(|&&p| {
            let [lon, lat] = wgs(p);
            !answer_point(&live, lon, lat).sightings.is_empty()
        })
        .count();
    assert_eq!(seen, outside.len());
    // The batch form agrees.
    let local: Vec<Pt> = inside
        .iter()
        .map(|&p| {
            let [lon, lat] = wgs(p);
            let (e, n) = frame.to_local(lat, lon);
            [e, n]
        })
        .collect();
    live.read(|idx| {
        let batch = query::who_sees_batch(idx, &local);
        for (i, p) in local.iter().enumerate() {
            assert!(batch.masked[i] && batch.of(i).is_empty(), "{p:?}");
        }
    });

    // History: a drone footprint recorded over the courtyard is never
    // reported for a point inside it.
    let store = Store::in_memory().unwrap();
    history::migrate(&store).unwrap();
    let ring: Vec<[f64; 2]> = square([0.0, 0.0], 70.0).into_iter().map(wgs).collect();
    let row = IntervalRow {
        source_id: "drone:udp0:1".into(),
        kind: SourceKind::Drone,
        network: Network::Fleet,
        from_ms: 1_000,
        to_ms: 2_000,
        ring,
    };
    history::write_intervals(&store, std::slice::from_ref(&row)).unwrap();
    let masks = Masks::new(masks);
    for &p in inside.iter().step_by(7) {
        let covered = history::covered(
            &store,
            &frame,
            &masks,
            &Target::Point(wgs(p)),
            0,
            3_000,
            &[],
        )
        .unwrap();
        assert!(covered.is_empty(), "{p:?}: {covered:?}");
    }
    let open = history::covered(
        &store,
        &frame,
        &masks,
        &Target::Point(wgs([30.0, 30.0])),
        0,
        3_000,
        &[],
    )
    .unwrap();
    assert_eq!(open.len(), 1, "outside the masks the drone is reported");
}
