//! The moving units on screen: the latest picture from the source, placed
//! in the local frame, one marker entity per unit (shared meshes and
//! materials, so the renderer instances them), drone footprints as one
//! batched mesh, tracks kept per drone.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bevy::prelude::*;
use vigie_protocols::api::{Unit, UnitKind, UnitStatus};

use crate::coverage::CoverageGrid;
use crate::layers::Layer;
use crate::meshes;
use crate::palette;
use crate::scene::{Picture, PlacedUnit, Scene, place};
use crate::source::Source;
use crate::view::{OrbitView, world};

/// Most positions kept per track; the oldest is dropped when full.
pub const TRACK_CAPACITY: usize = 240;
/// Heat-map cell side, metres.
pub const HEAT_CELL_M: f64 = 5.0;
/// Height of drone footprints above the ground, metres (above coverage).
const FOOTPRINT_UP_M: f64 = 0.35;
/// Height of the heat map above the ground, metres.
const HEAT_UP_M: f64 = 0.45;
/// Marker radius on screen, pixels, whatever the zoom.
pub const MARKER_PX: f32 = 5.0;

/// The static scene, shared by every system.
#[derive(Resource, Clone)]
pub struct SceneRes(pub std::sync::Arc<Scene>);

/// The source of pictures.
#[derive(Resource)]
pub struct SourceRes(pub Source);

/// The orbit camera's state.
#[derive(Resource, Clone, Copy)]
pub struct Orbit(pub OrbitView);

/// Every unit of the latest picture, by id.
#[derive(Resource, Default)]
pub struct UnitsState {
    /// Units as the source described them, by id (sorted: stable lists).
    pub units: BTreeMap<String, (Unit, PlacedUnit)>,
    /// Recent positions of drones, world coordinates, oldest first.
    pub tracks: HashMap<String, VecDeque<Vec3>>,
    /// Time of the latest picture (source's clock), milliseconds.
    pub at_ms: i64,
    /// Pictures applied so far.
    pub pictures: u64,
    /// Set when a picture changed the units; cleared once meshes follow.
    dirty: bool,
}

impl UnitsState {
    /// Applies a picture: replaces every unit, extends or replaces tracks.
    pub fn apply(&mut self, scene: &Scene, picture: Picture) {
        self.units.clear();
        for unit in picture.units {
            if let Some(placed) = place(&scene.frame, &unit) {
                self.units.insert(unit.id.clone(), (unit, placed));
            }
        }
        let given: HashMap<_, _> = picture.tracks.into_iter().collect();
        self.tracks.retain(|id, _| self.units.contains_key(id));
        for (id, (_, p)) in &self.units {
            if p.kind != UnitKind::Drone {
                continue;
            }
            let track = self.tracks.entry(id.clone()).or_default();
            match given.get(id) {
                Some(points) => {
                    track.clear();
                    track.extend(points.iter().map(|q| world([q[0], q[1]], q[2])));
                }
                None => track.push_back(world(p.position, p.alt_m)),
            }
            while track.len() > TRACK_CAPACITY {
                track.pop_front();
            }
        }
        self.at_ms = picture.at_ms;
        self.pictures += 1;
        self.dirty = true;
    }
}

/// A unit's marker entity.
#[derive(Component)]
pub struct UnitMarker {
    /// Unit id.
    pub id: String,
}

/// The drone footprints entity.
#[derive(Component)]
pub struct FootprintMesh;

/// The heat-map entity.
#[derive(Component)]
pub struct HeatMapMesh;

/// Latest coverage summary of the event zones (for the status bar).
#[derive(Resource, Default)]
pub struct CoverageStats {
    /// Covered fraction, 0..=1, when computed.
    pub fraction: Option<f64>,
    /// Gap cells inside event zones.
    pub gaps: usize,
}

/// Shared meshes and materials of markers: one per kind and per status, so
/// that all markers of a kind and status batch into one instanced draw.
#[derive(Resource)]
pub struct MarkerAssets {
    /// Drone marker (unit sphere).
    pub drone: Handle<Mesh>,
    /// Patrol marker (unit cylinder).
    pub patrol: Handle<Mesh>,
    /// Unlit material per status.
    pub status: HashMap<UnitStatus, Handle<StandardMaterial>>,
    /// Unlit white, translucent, vertex-coloured: batched overlays.
    pub overlay: Handle<StandardMaterial>,
}

impl MarkerAssets {
    /// Creates the shared assets.
    pub fn new(
        meshes: &mut Assets<Mesh>,
        materials: &mut Assets<StandardMaterial>,
    ) -> MarkerAssets {
        let status = UnitStatus::ALL
            .iter()
            .map(|&s| (s, materials.add(unlit(palette::status(s).into()))))
            .collect();
        MarkerAssets {
            drone: meshes.add(
                Sphere::new(1.0)
                    .mesh()
                    .ico(2)
                    .unwrap_or_else(|_| Sphere::new(1.0).mesh().uv(16, 8)),
            ),
            patrol: meshes.add(Cylinder::new(1.0, 0.8)),
            status,
            overlay: materials.add(overlay_material()),
        }
    }
}

/// An unlit opaque material of one colour.
pub fn unlit(color: Color) -> StandardMaterial {
    StandardMaterial {
        base_color: color,
        unlit: true,
        ..default()
    }
}

/// Unlit, alpha-blended, double-sided, coloured by its vertices.
pub fn overlay_material() -> StandardMaterial {
    StandardMaterial {
        base_color: Color::WHITE,
        unlit: true,
        alpha_mode: AlphaMode::Blend,
        cull_mode: None,
        double_sided: true,
        ..default()
    }
}

/// Takes a new picture from the source, if any.
pub fn poll_source(
    time: Res<Time<Real>>,
    scene: Res<SceneRes>,
    mut source: ResMut<SourceRes>,
    mut state: ResMut<UnitsState>,
    mut ground: ResMut<crate::site::GroundState>,
) {
    if let Some(picture) = source.0.poll(time.elapsed()) {
        ground.offer(picture.ground.as_ref());
        state.apply(&scene.0, picture);
    }
}

/// Makes marker entities and the footprint mesh follow the picture.
#[allow(clippy::too_many_arguments)]
pub fn sync_units(
    mut commands: Commands,
    mut state: ResMut<UnitsState>,
    assets: Res<MarkerAssets>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut markers: Query<(
        Entity,
        &UnitMarker,
        &mut Transform,
        &mut MeshMaterial3d<StandardMaterial>,
    )>,
    footprints: Query<Entity, With<FootprintMesh>>,
) {
    if !state.dirty {
        return;
    }
    state.dirty = false;
    let mut seen = std::collections::HashSet::new();
    for (entity, marker, mut transform, mut material) in &mut markers {
        match state.units.get(&marker.id) {
            Some((_, p)) => {
                transform.translation = marker_position(p);
                if let Some(m) = assets.status.get(&p.status)
                    && material.0 != *m
                {
                    material.0 = m.clone();
                }
                seen.insert(marker.id.clone());
            }
            None => commands.entity(entity).despawn(),
        }
    }
    for (id, (_, p)) in &state.units {
        if seen.contains(id) {
            continue;
        }
        let Some(layer) = unit_layer(p.kind) else {
            continue;
        };
        let mesh = match p.kind {
            UnitKind::Drone => assets.drone.clone(),
            _ => assets.patrol.clone(),
        };
        let Some(material) = assets.status.get(&p.status).cloned() else {
            continue;
        };
        commands.spawn((
            UnitMarker { id: id.clone() },
            layer,
            Mesh3d(mesh),
            MeshMaterial3d(material),
            Transform::from_translation(marker_position(p)),
        ));
    }
    let rings = state.units.values().filter_map(|(_, p)| {
        let ring = p.coverage.as_deref()?;
        Some((
            ring,
            palette::DRONE_FOOTPRINT.with_alpha(palette::FOOTPRINT_ALPHA),
        ))
    });
    let mesh = meshes::flat_rings(rings, FOOTPRINT_UP_M).into_mesh();
    for e in &footprints {
        commands.entity(e).despawn();
    }
    if let Some(mesh) = mesh {
        commands.spawn((
            FootprintMesh,
            Layer::Drones,
            Mesh3d(meshes.add(mesh)),
            MeshMaterial3d(assets.overlay.clone()),
        ));
    }
}

/// The layer that shows a unit's marker, for the kinds that have one
/// (fixed cameras and call points come from the scene's inventory).
pub fn unit_layer(kind: UnitKind) -> Option<Layer> {
    match kind {
        UnitKind::Drone => Some(Layer::Drones),
        UnitKind::Patrol => Some(Layer::Patrols),
        _ => None,
    }
}

/// Where a unit's marker stands: a drone at its altitude, others on the
/// ground.
pub fn marker_position(p: &PlacedUnit) -> Vec3 {
    match p.kind {
        UnitKind::Drone => world(p.position, p.alt_m),
        _ => world(p.position, 0.0),
    }
}

/// Keeps markers the same size on screen at any zoom (level of detail for
/// the eye: far units stay visible, near ones do not fill the screen).
pub fn scale_markers(
    orbit: Res<Orbit>,
    windows: Query<&Window>,
    mut markers: Query<&mut Transform, With<UnitMarker>>,
) {
    let height_px = windows.iter().next().map_or(720.0, |w| w.height().max(1.0));
    for mut t in &mut markers {
        t.scale = Vec3::splat(orbit.0.metres_per_px(t.translation, height_px) * MARKER_PX);
    }
}

/// Recomputes the heat map when it is shown and the picture changed, at most
/// once per second (it is the costliest thing the viewer computes).
#[allow(clippy::too_many_arguments)]
pub fn update_heat_map(
    mut commands: Commands,
    time: Res<Time<Real>>,
    layers: Res<crate::layers::Layers>,
    scene: Res<SceneRes>,
    state: Res<UnitsState>,
    assets: Res<MarkerAssets>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut stats: ResMut<CoverageStats>,
    existing: Query<Entity, With<HeatMapMesh>>,
    mut last: Local<Option<(u64, f64)>>,
) {
    if !layers.shown(Layer::HeatMap) {
        return;
    }
    let now = time.elapsed_secs_f64();
    if let Some((pictures, at)) = *last
        && (pictures == state.pictures || now - at < 1.0)
    {
        return;
    }
    *last = Some((state.pictures, now));
    let scene = &scene.0;
    let footprints = scene.cameras.iter().map(|c| c.coverage.as_slice()).chain(
        state
            .units
            .values()
            .filter_map(|(_, p)| p.coverage.as_deref()),
    );
    let grid = CoverageGrid::compute(scene, footprints, HEAT_CELL_M);
    let summary = grid.summary(scene);
    stats.fraction = Some(summary.fraction());
    stats.gaps = summary.event_cells - summary.covered_cells;
    for e in &existing {
        commands.entity(e).despawn();
    }
    if let Some(mesh) = meshes::heat_map(&grid, HEAT_UP_M).into_mesh() {
        commands.spawn((
            HeatMapMesh,
            Layer::HeatMap,
            Mesh3d(meshes.add(mesh)),
            MeshMaterial3d(assets.overlay.clone()),
        ));
    }
}
