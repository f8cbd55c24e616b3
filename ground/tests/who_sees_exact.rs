//! Who sees P, against exact oracles, on seeded cameras: every (point,
//! camera) pair farther than the stated bounds from a coverage border is
//! answered right.
//!
//! - Without buildings the truth is the view pyramid met with flat ground
//!   within the horizontal range (four half-planes and a disc), and the
//!   bound is [`ARC_SAGITTA_M`].
//! - With buildings the truth also needs a clear straight sightline (walls
//!   block whatever their height, as the visible region's model says), and
//!   the bound adds [`VISIBILITY_TOLERANCE_M`].

use vigie_ground::coverage::Network;
use vigie_ground::coverage::buildings::{Building, Buildings, VISIBILITY_TOLERANCE_M};
use vigie_ground::coverage::camera::{FixedCamera, Optics, Tier};
use vigie_ground::coverage::footprint::{ARC_SAGITTA_M, CameraPose, Rotation};
use vigie_ground::coverage::live::{LiveCoverage, fixed_source};
use vigie_ground::coverage::mask::Masks;
use vigie_ground::coverage::polygon::{Pt, point_in_ring, ray_segment};
use vigie_ground::coverage::query;
use vigie_ground::coverage::synth::Rng;
use vigie_ground::frame::LocalFrame;

/// A street camera of an inventory row: position, mount, heading, tilt
/// (sometimes left to the default), field of view and useful range.
fn camera(rng: &mut Rng, k: usize, frame: &LocalFrame, at: Pt) -> FixedCamera {
    let (lat, lon) = frame.to_wgs84(at[0], at[1]);
    let optics = Optics::default();
    let mut c = FixedCamera {
        id: format!("cam-{k:05}"),
        network: Network::City,
        lat_deg: lat,
        lon_deg: lon,
        mount_height_m: rng.f(3.0, 15.0),
        heading_deg: rng.f(0.0, 360.0),
        tilt_deg: rng.f(-45.0, -2.0),
        hfov_deg: rng.f(30.0, 130.0),
        range_m: Some(rng.f(20.0, 160.0)),
        resolution_px: None,
        range_tier: Tier::Detection,
        ptz: false,
        name: None,
    };
    if rng.f(0.0, 1.0) < 0.3 {
        // Top of the image on the horizon, as an import without tilt.
        c.tilt_deg = -c.vfov_deg(&optics) / 2.0;
    }
    c
}

/// How far `p` lies inside the camera's true ground view, metres (negative
/// outside; see `footprint.rs` for why this is exact enough to judge).
fn frustum_margin_m(pose: &CameraPose, p: Pt) -> f64 {
    let rot = Rotation::new(pose.yaw_deg, pose.pitch_deg, pose.roll_deg);
    let th = (pose.hfov_deg.to_radians() / 2.0).tan();
    let tv = (pose.vfov_deg.to_radians() / 2.0).tan();
    let (de, dn) = (p[0] - pose.east_m, p[1] - pose.north_m);
    let mut margin = pose.max_range_m - f64::hypot(de, dn);
    for (f, r, d) in [
        (-th, 1.0, 0.0),
        (-th, -1.0, 0.0),
        (-tv, 0.0, 1.0),
        (-tv, 0.0, -1.0),
    ] {
        let (nn, ne, nd) = rot.apply(f, r, d);
        let len = f64::hypot(nn, ne);
        let value = nn * dn + ne * de + nd * pose.height_agl_m;
        margin = margin.min(if len > 1e-12 {
            -value / len
        } else if value <= 0.0 {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        });
    }
    margin
}

fn seg_dist(a: Pt, b: Pt, p: Pt) -> f64 {
    let e = [b[0] - a[0], b[1] - a[1]];
    let l2 = e[0] * e[0] + e[1] * e[1];
    let w = [p[0] - a[0], p[1] - a[1]];
    let u = if l2 > 0.0 {
        ((w[0] * e[0] + w[1] * e[1]) / l2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    f64::hypot(w[0] - e[0] * u, w[1] - e[1] * u)
}

/// Whether the straight sightline from `eye` to `p` is clear, and a lower
/// bound on how far `p` is from the border of what `eye` sees (walls and
/// the shadow lines behind corners).
fn sightline(items: &[Building], eye: Pt, p: Pt) -> (bool, f64) {
    let len = f64::hypot(p[0] - eye[0], p[1] - eye[1]);
    let dir = [(p[0] - eye[0]) / len, (p[1] - eye[1]) / len];
    let mut clear = true;
    let mut d = len - 0.5;
    for b in items {
        if point_in_ring(&b.ring, eye) {
            continue;
        }
        clear &= !point_in_ring(&b.ring, p);
        for w in b.ring.windows(2) {
            clear &= ray_segment(eye, dir, w[0], w[1]).is_none_or(|(t, _)| t < 0.5 || t > len);
            d = d.min(seg_dist(w[0], w[1], p));
            let v = w[0];
            let l = f64::hypot(v[0] - eye[0], v[1] - eye[1]);
            let far = [
                v[0] + (v[0] - eye[0]) / l * 1e4,
                v[1] + (v[1] - eye[1]) / l * 1e4,
            ];
            d = d.min(seg_dist(v, far, p));
        }
    }
    (clear, d)
}

/// Seeded blocks on a 40 m grid, one rotated rectangle inside each cell.
fn blocks(rng: &mut Rng, side_m: f64) -> Vec<Building> {
    let n = (side_m / 40.0) as i32;
    let mut out = Vec::new();
    for i in 0..n {
        for j in 0..n {
            if rng.f(0.0, 1.0) < 0.3 {
                continue;
            }
            let c = [i as f64 * 40.0 + 20.0, j as f64 * 40.0 + 20.0];
            let (w, d) = (rng.f(3.0, 12.0), rng.f(3.0, 12.0));
            let (s, co) = rng.f(0.0, std::f64::consts::PI).sin_cos();
            let corners = [[-w, -d], [w, -d], [w, d], [-w, d], [-w, -d]];
            out.push(Building {
                ring: corners
                    .iter()
                    .map(|p| [c[0] + p[0] * co - p[1] * s, c[1] + p[0] * s + p[1] * co])
                    .collect(),
                height_m: rng.f(3.0, 30.0),
            });
        }
    }
    out
}

/// Counts of a comparison: pairs the oracle settles, and wrong answers.
#[derive(Debug, Default)]
struct Tally {
    seen: usize,
    missed: usize,
    unseen: usize,
    claimed: usize,
}

fn compare(cameras: usize, buildings: Option<Vec<Building>>, seed: u64) -> Tally {
    let frame = LocalFrame::new(48.8566, 2.3522);
    let optics = Optics::default();
    let side_m = 3000.0;
    let mut rng = Rng(seed);
    let items = buildings.unwrap_or_default();
    let indexed = (!items.is_empty()).then(|| Buildings::new(items.clone()));
    let mut cams = Vec::new();
    while cams.len() < cameras {
        let at = [rng.f(0.0, side_m), rng.f(0.0, side_m)];
        // Cameras stand clear of walls: within the mount clearance the
        // visible region ignores the wall a camera is fixed on.
        let on_wall = |b: &Building| {
            point_in_ring(&b.ring, at) || b.ring.windows(2).any(|w| seg_dist(w[0], w[1], at) < 1.0)
        };
        if items.iter().any(on_wall) {
            continue;
        }
        cams.push(camera(&mut rng, cams.len(), &frame, at));
    }
    let statics: Vec<_> = cams
        .iter()
        .filter_map(|c| {
            let ring = c.coverage(&frame, indexed.as_ref(), &optics)?;
            fixed_source(c, &frame, ring, &optics)
        })
        .collect();
    let live = LiveCoverage::new(frame, statics, Masks::default(), indexed.clone());
    let near: Vec<Building> = items;
    let mut tally = Tally::default();
    live.read(|idx| {
        let mut hits = Vec::new();
        for c in &cams {
            let pose = c.pose(&frame, &optics);
            let eye = [pose.east_m, pose.north_m];
            let r = pose.max_range_m;
            // Buildings near this camera, for the sightline oracle.
            let around: Vec<Building> = near
                .iter()
                .filter(|b| {
                    b.ring
                        .iter()
                        .any(|v| f64::hypot(v[0] - eye[0], v[1] - eye[1]) < r + 30.0)
                })
                .cloned()
                .collect();
            for k in 0..20 {
                // Around the view's bearing; half the probes near the far
                // arc, where chords cut.
                let a = (c.heading_deg + rng.f(-0.6, 0.6) * c.hfov_deg).to_radians();
                let d = if k % 2 == 0 {
                    rng.f(0.0, r * 1.05)
                } else {
                    r + rng.f(-5.0, 1.0)
                };
                let p = [eye[0] + d * a.sin(), eye[1] + d * a.cos()];
                let mut margin = frustum_margin_m(&pose, p);
                let mut bound = ARC_SAGITTA_M;
                if indexed.is_some() && margin > bound {
                    let (clear, dist) = sightline(&around, eye, p);
                    bound += VISIBILITY_TOLERANCE_M;
                    margin = if dist <= VISIBILITY_TOLERANCE_M {
                        0.0
                    } else if clear {
                        margin
                    } else {
                        -dist
                    };
                }
                query::who_sees(idx, p, &mut hits);
                let answered = hits.iter().any(|h| idx.source(h.slot).id == c.id);
                if margin > bound {
                    tally.seen += 1;
                    tally.missed += usize::from(!answered);
                } else if margin < -bound {
                    tally.unseen += 1;
                    tally.claimed += usize::from(answered);
                }
            }
        }
    });
    tally
}

#[test]
fn who_sees_agrees_with_the_exact_view_away_from_borders() {
    let t = compare(20_000, None, 20_000);
    eprintln!("no buildings: {t:?}");
    assert!(t.seen > 150_000 && t.unseen > 50_000, "{t:?}");
    assert_eq!((t.missed, t.claimed), (0, 0), "{t:?}");
}

#[test]
fn who_sees_agrees_with_exact_line_of_sight_away_from_borders() {
    let mut rng = Rng(300);
    let items = blocks(&mut rng, 3000.0);
    let t = compare(3_000, Some(items), 300);
    eprintln!("with buildings: {t:?}");
    assert!(t.seen > 10_000 && t.unseen > 10_000, "{t:?}");
    assert_eq!((t.missed, t.claimed), (0, 0), "{t:?}");
}
