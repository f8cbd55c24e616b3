//! The Bevy application: builds the static scene once, then each frame
//! takes the source's picture, moves markers, draws lines (frustums,
//! trails, altitude lines, incident links), reads the operator's input and
//! updates the overlays. A screenshot run is the same app with a capture
//! system that exits once the picture is saved.

use std::path::PathBuf;
use std::sync::Arc;

use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::prelude::*;
use bevy::render::view::Msaa;
use bevy::window::{PresentMode, WindowResolution};
use thiserror::Error;
use vigie_protocols::api::UnitKind;

use crate::capture::{self, Capture};
use crate::controls;
use crate::labels;
use crate::layers::{Layer, Layers};
use crate::legend;
use crate::meshes;
use crate::palette;
use crate::panels;
use crate::scene::Scene;
use crate::site;
use crate::source::Source;
use crate::units::{self, CoverageStats, MarkerAssets, Orbit, SceneRes, SourceRes, UnitsState};
use crate::view::{NEAR_M, OrbitView, VFOV_DEG, world};

/// Height of streets above the ground, metres.
const STREET_UP_M: f64 = 0.1;
/// Height of the base map's parks above the ground, metres.
const PARK_UP_M: f64 = 0.04;
/// Height of the base map's water above the ground, metres (above parks:
/// a river crossing a park shows).
const WATER_UP_M: f64 = 0.07;

/// Why the viewer stopped with an error.
#[derive(Debug, Error)]
pub enum ViewerError {
    /// The screenshot could not be taken or saved.
    #[error("screenshot failed: {0}")]
    Screenshot(String),
    /// The renderer or window system stopped with an error.
    #[error("the viewer stopped with error code {0} (see the log above)")]
    Exit(u8),
}

/// How to run the viewer.
pub struct ViewerOptions {
    /// The static scene.
    pub scene: Arc<Scene>,
    /// Where units come from.
    pub source: Source,
    /// Window (and screenshot) size, pixels; default 1280x720.
    pub size: (u32, u32),
    /// Save a screenshot here after the scene is ready, then exit.
    pub screenshot: Option<PathBuf>,
    /// Layers shown at start.
    pub layers: Layers,
    /// Initial view; default: framing the event, or the live picture once
    /// it arrives.
    pub view: Option<OrbitView>,
    /// Start in the top-down map (orthographic, north up).
    pub top_down: bool,
    /// Language of the interface.
    pub lang: crate::i18n::Lang,
    /// Plan mode: the plan to edit (use with [`Source::Still`]).
    pub plan: Option<crate::plan::PlanMode>,
}

/// Opens the viewer window and runs until it is closed (or, with a
/// screenshot, until the picture is saved).
pub fn run(options: ViewerOptions) -> Result<(), ViewerError> {
    let mut app = build(options);
    let slot = app
        .world()
        .get_resource::<Capture>()
        .map(Capture::outcome_slot);
    let exit = app.run();
    let outcome = slot.and_then(|s| s.lock().ok()?.clone());
    if let Some(outcome) = outcome {
        return outcome.map_err(ViewerError::Screenshot);
    }
    match exit {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => Err(ViewerError::Exit(code.get())),
    }
}

/// The configured app, not yet running.
pub fn build(options: ViewerOptions) -> App {
    let (w, h) = options.size;
    let capture = options.screenshot.is_some();
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: format!("Vigie: {}", options.scene.name),
                    resolution: WindowResolution::new(w, h).with_scale_factor_override(1.0),
                    resizable: !capture,
                    present_mode: PresentMode::AutoVsync,
                    ..default()
                }),
                ..default()
            })
            // The binary already logs through `tracing`.
            .disable::<bevy::log::LogPlugin>(),
    );
    crate::fonts::install(&mut app);
    let mode = OrbitView {
        top_down: options.top_down,
        ..OrbitView::overview(options.scene.extent_m)
    };
    let auto_fit = options.view.is_none() && options.scene.interest([]).is_none();
    let view = options.view.map_or_else(
        || options.scene.framing(mode, [], w, h),
        |v| OrbitView {
            top_down: v.top_down || options.top_down,
            ..v
        },
    );
    app.insert_resource(ClearColor(palette::SKY.into()))
        .insert_resource(site::BaseScene(options.scene.clone()))
        .insert_resource(SceneRes(options.scene))
        .init_resource::<site::GroundState>()
        .insert_resource(SourceRes(options.source))
        .insert_resource(Orbit(view))
        .insert_resource(controls::AutoFit(auto_fit.then_some(view)))
        .insert_resource(options.layers)
        .insert_resource(options.lang)
        .insert_resource(CaptureMode(capture))
        .init_resource::<UnitsState>()
        .init_resource::<CoverageStats>()
        .init_resource::<controls::Selection>()
        .init_resource::<controls::FindPrompt>()
        .init_resource::<controls::MouseGrab>()
        .add_systems(
            Startup,
            (setup_scene, panels::setup, legend::setup, labels::setup),
        )
        .add_systems(
            Update,
            (
                units::poll_source,
                site::apply_ground,
                units::sync_units,
                controls::auto_fit,
                units::update_heat_map,
                controls::keyboard,
                controls::mouse,
                controls::pick,
                apply_orbit,
                units::scale_markers,
                apply_layers,
                draw_lines,
                panels::update,
                legend::update_legend,
                legend::update_furniture,
                legend::show_attribution,
                labels::sync_unit_labels,
                labels::place_labels,
            )
                .chain(),
        );
    if matches!(app.world().resource::<SourceRes>().0, Source::Replay(_)) {
        crate::timebar::install(&mut app);
    }
    if let Some(mode) = options.plan {
        crate::plan::install(&mut app, mode);
    }
    if let Some(path) = options.screenshot {
        capture::install(&mut app, path);
    }
    app
}

/// Whether this run only takes a screenshot (MSAA off, no interaction).
#[derive(Resource)]
pub struct CaptureMode(pub bool);

/// Spawns the camera, lights and every static layer as batched meshes.
fn setup_scene(
    mut commands: Commands,
    scene: Res<SceneRes>,
    orbit: Res<Orbit>,
    capture: Res<CaptureMode>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let scene = &scene.0;
    let mut camera = commands.spawn((
        Camera3d::default(),
        projection(&orbit.0, scene.extent_m),
        // Colours on screen are the palette's: the legend and tests rely on it.
        Tonemapping::None,
        Transform::from_translation(orbit.0.eye()).with_rotation(orbit.0.rotation()),
    ));
    if capture.0 {
        camera.insert(Msaa::Off);
    }
    commands.spawn((
        DirectionalLight {
            illuminance: 1_500.0,
            shadow_maps_enabled: false,
            ..default()
        },
        Transform::from_xyz(-300.0, 800.0, 400.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
    commands.insert_resource(GlobalAmbientLight {
        brightness: 120.0,
        ..default()
    });

    let assets = MarkerAssets::new(&mut meshes, &mut materials);
    let overlay = assets.overlay.clone();

    // Ground: a flat unlit square, the map's base colour.
    let e = scene.extent_m as f32;
    commands.spawn((
        Mesh3d(meshes.add(Plane3d::default().mesh().size(2.0 * e, 2.0 * e))),
        MeshMaterial3d(materials.add(units::unlit(palette::GROUND.into()))),
    ));
    let lit_vertex_coloured = materials.add(StandardMaterial {
        base_color: Color::WHITE,
        perceptual_roughness: 0.9,
        ..default()
    });
    let flat = materials.add(units::unlit(Color::WHITE));
    let parks = scene
        .parks
        .iter()
        .map(|a| (a.ring.as_slice(), palette::PARK));
    let water = scene
        .water
        .iter()
        .map(|a| (a.ring.as_slice(), palette::WATER));
    let layers: [(Option<Mesh>, Option<Layer>, Handle<StandardMaterial>); 5] = [
        (
            meshes::flat_rings(parks, PARK_UP_M).into_mesh(),
            Some(Layer::Map),
            flat.clone(),
        ),
        (
            meshes::flat_rings(water, WATER_UP_M).into_mesh(),
            Some(Layer::Map),
            flat.clone(),
        ),
        (
            meshes::buildings(&scene.buildings).into_mesh(),
            Some(Layer::Buildings),
            lit_vertex_coloured,
        ),
        (
            meshes::streets(&scene.streets, STREET_UP_M).into_mesh(),
            Some(Layer::Map),
            flat,
        ),
        (
            meshes::zones(&scene.zones).into_mesh(),
            Some(Layer::Zones),
            overlay.clone(),
        ),
    ];
    for (mesh, layer, material) in layers {
        let Some(mesh) = mesh else { continue };
        let mut e = commands.spawn((Mesh3d(meshes.add(mesh)), MeshMaterial3d(material)));
        if let Some(layer) = layer {
            e.insert(layer);
        }
    }
    site::spawn(&mut commands, scene, &mut meshes, &mut materials, overlay);
    commands.insert_resource(assets);
}

/// The Bevy projection of a view: perspective in 3D, orthographic top-down.
pub fn projection(view: &OrbitView, extent_m: f64) -> Projection {
    let far = view.far_m(extent_m);
    if view.top_down {
        Projection::Orthographic(OrthographicProjection {
            scaling_mode: bevy::camera::ScalingMode::FixedVertical {
                viewport_height: 2.0 * view.half_height_m(),
            },
            near: 0.0,
            far,
            ..OrthographicProjection::default_3d()
        })
    } else {
        Projection::Perspective(PerspectiveProjection {
            fov: VFOV_DEG.to_radians(),
            near: NEAR_M,
            far,
            ..default()
        })
    }
}

/// Moves the Bevy camera to the orbit state, and switches its projection
/// with the mode (the top-down scale follows the zoom).
fn apply_orbit(
    orbit: Res<Orbit>,
    scene: Res<SceneRes>,
    mut camera: Query<(&mut Transform, &mut Projection), With<Camera3d>>,
) {
    if !orbit.is_changed() {
        return;
    }
    for (mut t, mut p) in &mut camera {
        t.translation = orbit.0.eye();
        t.rotation = orbit.0.rotation();
        *p = projection(&orbit.0, scene.0.extent_m);
    }
}

/// Shows and hides entities by layer.
pub fn apply_layers(layers: Res<Layers>, mut q: Query<(&Layer, &mut Visibility)>) {
    for (layer, mut v) in &mut q {
        let want = if layers.shown(*layer) {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        };
        if *v != want {
            *v = want;
        }
    }
}

/// Lines: camera frustums, drone trails and altitude lines, heading ticks,
/// incident links and the selection ring.
fn draw_lines(
    mut gizmos: Gizmos,
    scene: Res<SceneRes>,
    layers: Res<Layers>,
    state: Res<UnitsState>,
    selection: Res<controls::Selection>,
    orbit: Res<Orbit>,
) {
    let scene = &scene.0;
    if layers.shown(Layer::Cameras) {
        for c in &scene.cameras {
            let top = world(c.position, c.height_m);
            let color = Color::from(palette::owner(c.owner));
            gizmos.line(world(c.position, 0.0), top, color);
            // The frustum's outer edges: to the coverage's first and last
            // far-arc points, and the sector's extreme corners.
            if let (Some(first), Some(last)) = (c.coverage.first(), c.coverage.last()) {
                gizmos.line(top, world(*first, 0.3), color);
                gizmos.line(top, world(*last, 0.3), color);
            }
        }
    }
    if layers.shown(Layer::Drones) {
        let trail = Color::from(palette::DRONE_FOOTPRINT.with_alpha(0.8));
        for (id, track) in &state.tracks {
            if track.len() >= 2 {
                gizmos.linestrip(track.iter().copied(), trail);
            }
            if let Some((_, p)) = state.units.get(id) {
                let top = world(p.position, p.alt_m);
                let status = Color::from(palette::status(p.status));
                gizmos.line(world(p.position, 0.0), top, status);
                if let Some(h) = p.heading_deg {
                    let r = h.to_radians() as f32;
                    let len = orbit.0.distance_m * 0.03;
                    gizmos.line(top, top + Vec3::new(r.sin(), 0.0, -r.cos()) * len, status);
                }
            }
        }
    }
    if layers.shown(Layer::Incidents) {
        for i in &scene.incidents {
            let at = world(i.position, 1.0);
            for id in &i.suggested {
                if let Some((_, p)) = state.units.get(id) {
                    let alt = if p.kind == UnitKind::Drone {
                        p.alt_m
                    } else {
                        1.0
                    };
                    gizmos.line(
                        at,
                        world(p.position, alt),
                        Color::from(palette::INCIDENT_LINK),
                    );
                }
            }
        }
    }
    if let Some(at) = selection.position(scene, &state) {
        let r = orbit.0.distance_m * 0.02;
        gizmos.circle(
            Isometry3d::new(at, Quat::from_rotation_x(std::f32::consts::FRAC_PI_2)),
            r,
            Color::from(palette::SELECTION),
        );
    }
}
