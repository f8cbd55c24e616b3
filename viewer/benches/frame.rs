//! CPU cost of the viewer at scale: 100,000 fixed camera footprints,
//! 1,000 drones and 10,000 patrols, headless (no GPU, no window).
//!
//! - `static_layers/footprints_100k_mesh`: batching every camera's ground
//!   coverage into one mesh (done once at start; afterwards one draw call).
//! - `static_layers/coverage_sectors_100k`: computing those sectors.
//! - `frame/units_11k_new_picture`: one frame in which a new picture of
//!   11,000 units arrives (the worst case: a source updating every frame):
//!   placing units, moving markers, rebuilding the drone footprint mesh,
//!   scaling markers, layer visibility.
//! - `frame/units_11k_no_picture`: one frame without a new picture (the
//!   common case at 60 frames/s with pictures at 2-10 Hz).
//! - `heat_map/…`: the coverage heat map over the whole set (recomputed at
//!   most once per second, only while the layer is shown).
//! - `ground_layers/…`: a live ground's 100,000 cameras taken into the
//!   scene (once), and an incident change taken with those cameras present
//!   (often; neither the cameras nor the scene are copied).
//!
//! Run: `cargo bench -p vigie-viewer --bench frame`.

use std::hint::black_box;
use std::sync::Arc;

use bevy::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use vigie_protocols::api::{Position, Unit, UnitKind, UnitStatus};
use vigie_viewer::coverage::{CoverageGrid, fixed_camera_coverage};
use vigie_viewer::layers::Layers;
use vigie_viewer::meshes;
use vigie_viewer::palette;
use vigie_viewer::scene::{FixedCamera, GroundChange, GroundLayers, OwnerNetwork, Picture, Scene};
use vigie_viewer::units::{self, MarkerAssets, Orbit, SceneRes, UnitsState};
use vigie_viewer::view::OrbitView;

const CAMERAS: usize = 100_000;
const DRONES: usize = 1_000;
const PATROLS: usize = 10_000;
/// Half side of the synthetic city, metres (a 10 km square).
const EXTENT_M: f64 = 5_000.0;

/// A seeded xorshift generator: the same city every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

fn cameras(rng: &mut Rng) -> Vec<FixedCamera> {
    (0..CAMERAS)
        .map(|i| {
            let mut c = FixedCamera {
                id: format!("cam-{i}"),
                name: String::new(),
                position: [
                    rng.range(-EXTENT_M, EXTENT_M),
                    rng.range(-EXTENT_M, EXTENT_M),
                ],
                height_m: rng.range(4.0, 12.0),
                heading_deg: rng.range(0.0, 360.0),
                tilt_deg: rng.range(5.0, 30.0),
                hfov_deg: rng.range(40.0, 90.0),
                range_m: rng.range(30.0, 90.0),
                owner: OwnerNetwork::ALL[i % 4],
                coverage: Vec::new(),
            };
            c.coverage = fixed_camera_coverage(&c, &[]);
            c
        })
        .collect()
}

fn picture(scene: &Scene, rng: &mut Rng, at_ms: i64) -> Picture {
    let frame = scene.frame;
    let mut units = Vec::with_capacity(DRONES + PATROLS);
    for i in 0..DRONES + PATROLS {
        let drone = i < DRONES;
        let (e, n) = (
            rng.range(-EXTENT_M, EXTENT_M),
            rng.range(-EXTENT_M, EXTENT_M),
        );
        let (lat, lon) = frame.to_wgs84(e, n);
        let coverage = drone.then(|| {
            [
                (-40.0, -30.0),
                (40.0, -30.0),
                (40.0, 30.0),
                (-40.0, 30.0),
                (-40.0, -30.0),
            ]
            .iter()
            .map(|&(de, dn)| {
                let (la, lo) = frame.to_wgs84(e + de, n + dn);
                [lo, la]
            })
            .collect()
        });
        units.push(Unit {
            position: Some(Position {
                lat_deg: lat,
                lon_deg: lon,
                alt_rel_m: drone.then_some(rng.range(30.0, 120.0)),
                heading_deg: Some(rng.range(0.0, 360.0)),
                ..Position::default()
            }),
            last_seen_ms: Some(at_ms),
            coverage,
            ..Unit::new(
                if drone {
                    format!("drone:{i}")
                } else {
                    format!("patrol-{i}")
                },
                if drone {
                    UnitKind::Drone
                } else {
                    UnitKind::Patrol
                },
                UnitStatus::ALL[i % UnitStatus::ALL.len()],
                "bench",
            )
        });
    }
    Picture {
        at_ms,
        units,
        tracks: Vec::new(),
        ground: None,
    }
}

/// Pictures the bench feeds, alternately, one per frame while `fresh`.
#[derive(Resource)]
struct Feed {
    pictures: [Picture; 2],
    frame: usize,
    fresh: bool,
}

fn feed(mut feed: ResMut<Feed>, scene: Res<SceneRes>, mut state: ResMut<UnitsState>) {
    if !feed.fresh && feed.frame > 0 {
        return;
    }
    feed.frame += 1;
    let p = feed.pictures[feed.frame % 2].clone();
    state.apply(&scene.0, p);
}

/// A headless app running the viewer's per-frame unit systems.
fn app(scene: Arc<Scene>, pictures: [Picture; 2], fresh: bool) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default(), TransformPlugin))
        .init_asset::<Mesh>()
        .init_asset::<StandardMaterial>()
        .insert_resource(SceneRes(scene))
        .insert_resource(Orbit(OrbitView::overview(EXTENT_M)))
        .insert_resource(Layers::default())
        .insert_resource(Feed {
            pictures,
            frame: 0,
            fresh,
        })
        .init_resource::<UnitsState>()
        .add_systems(
            Update,
            (
                feed,
                units::sync_units,
                units::scale_markers,
                vigie_viewer::app::apply_layers,
            )
                .chain(),
        );
    let assets = {
        let world = app.world_mut();
        world.resource_scope(|world, mut meshes: Mut<Assets<Mesh>>| {
            let mut materials = world.resource_mut::<Assets<StandardMaterial>>();
            MarkerAssets::new(&mut meshes, &mut materials)
        })
    };
    app.insert_resource(assets);
    // Spawn every marker before measuring.
    app.update();
    app.update();
    app
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut scene = Scene::empty("bench", 48.9245, 2.3602, EXTENT_M);
    let cams = cameras(&mut rng);
    scene.cameras = cams;
    let scene = Arc::new(scene);

    let mut g = c.benchmark_group("static_layers");
    g.sample_size(10);
    g.bench_function("coverage_sectors_100k", |b| {
        b.iter(|| {
            for cam in &scene.cameras {
                black_box(fixed_camera_coverage(cam, &[]));
            }
        })
    });
    g.bench_function("footprints_100k_mesh", |b| {
        b.iter(|| {
            let batch = meshes::flat_rings(
                scene
                    .cameras
                    .iter()
                    .map(|c| (c.coverage.as_slice(), palette::owner(c.owner))),
                0.3,
            );
            black_box(batch.into_mesh())
        })
    });
    g.finish();

    let pictures = [picture(&scene, &mut rng, 0), picture(&scene, &mut rng, 500)];
    let mut g = c.benchmark_group("frame");
    g.sample_size(20);
    let mut fresh = app(scene.clone(), pictures.clone(), true);
    g.bench_function("units_11k_new_picture", |b| b.iter(|| fresh.update()));
    let mut idle = app(scene.clone(), pictures.clone(), false);
    g.bench_function("units_11k_no_picture", |b| b.iter(|| idle.update()));
    g.finish();

    let mut g = c.benchmark_group("heat_map");
    g.sample_size(10);
    let footprints: Vec<&[[f64; 2]]> = scene
        .cameras
        .iter()
        .map(|c| c.coverage.as_slice())
        .collect();
    g.bench_function("cameras_100k_cells_10m", |b| {
        b.iter(|| {
            black_box(CoverageGrid::compute(
                &scene,
                footprints.iter().copied(),
                10.0,
            ))
        })
    });
    g.finish();

    // A live ground sends its 100,000 cameras once, then incidents change
    // often: taking an incident change must not redo the cameras.
    let geo = |p: [f64; 2]| {
        let (lat_deg, lon_deg) = scene.frame.to_wgs84(p[0], p[1]);
        vigie_protocols::tablet::GeoPoint { lat_deg, lon_deg }
    };
    let ground = GroundLayers {
        cameras: Arc::new(
            scene
                .cameras
                .iter()
                .map(|c| vigie_protocols::tablet::PictureCamera {
                    id: c.id.clone(),
                    network: c.owner.as_str().into(),
                    position: Some(geo(c.position)),
                    height_m: c.height_m,
                    heading_deg: c.heading_deg,
                    hfov_deg: c.hfov_deg,
                    range_m: c.range_m,
                    ptz: false,
                    coverage: c.coverage.iter().map(|p| geo(*p)).collect(),
                })
                .collect(),
        ),
        ..GroundLayers::default()
    };
    let base = Scene::empty("bench", 48.9245, 2.3602, EXTENT_M);
    let live = base.with_ground(&ground);
    let mut next = ground.clone();
    next.incidents = Arc::new(vec![vigie_protocols::tablet::PictureIncident {
        id: 1,
        location: Some(geo([10.0, 10.0])),
        ..Default::default()
    }]);
    let mut g = c.benchmark_group("ground_layers");
    g.sample_size(10);
    g.bench_function("cameras_100k_taken", |b| {
        b.iter(|| black_box(base.with_ground(&ground)))
    });
    // As the view does it: in place, the scene being the view's own.
    let mut scene = live.clone();
    g.bench_function("incident_change_with_100k_cameras", |b| {
        b.iter(|| {
            let change = GroundChange::between(Some(&ground), &next);
            scene.take_ground(&base, &next, change);
            black_box(&scene);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
