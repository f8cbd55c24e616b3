//! The site's own layers that a ground server may replace while the view
//! runs: fixed cameras (masts and ground coverage), privacy masks and
//! incidents.
//!
//! A scenario gives them once; a live ground server (QUIC) gives its own
//! with every picture step that changed them ([`crate::scene::GroundLayers`]).
//! [`apply_ground`] then rebuilds, of these entities, only the part that
//! changed ([`Scene::take_ground`]), leaving the rest of the scene (ground,
//! buildings, streets, zones) untouched: an incident changing does not
//! rebuild 100,000 camera footprints.

use std::sync::Arc;

use bevy::prelude::*;

use crate::layers::Layer;
use crate::meshes;
use crate::palette;
use crate::scene::{GroundChange, GroundLayers, Scene};
use crate::units::{self, MarkerAssets, SceneRes};
use crate::view::world;

/// Height of fixed camera coverage above the ground, metres.
pub const COVERAGE_UP_M: f64 = 0.3;
/// Height of privacy masks above the ground, metres: above every overlay.
pub const PRIVACY_UP_M: f64 = 0.6;

/// The scene as the scenario (or the empty live site) gave it, before any
/// ground layers.
#[derive(Resource)]
pub struct BaseScene(pub Arc<Scene>);

/// Ground layers received and not yet applied, and the last applied.
#[derive(Resource, Default)]
pub struct GroundState {
    /// The newest layers from the source, if they differ from the applied.
    pub pending: Option<GroundLayers>,
    /// The layers the scene shows now.
    pub applied: Option<GroundLayers>,
}

impl GroundState {
    /// Notes the layers a picture carried; only a change is kept pending.
    pub fn offer(&mut self, layers: Option<&GroundLayers>) {
        let Some(layers) = layers else { return };
        let newer = |than: Option<&GroundLayers>| !GroundChange::between(than, layers).is_empty();
        if newer(self.pending.as_ref().or(self.applied.as_ref())) {
            self.pending = Some(layers.clone());
        }
    }
}

/// Which part of the site an entity draws.
#[derive(Component, Clone, Copy, PartialEq, Eq)]
pub enum SitePart {
    /// Camera masts and their ground coverage.
    Cameras,
    /// Privacy masks.
    Masks,
    /// Incident markers.
    Incidents,
}

/// Spawns the coverage and privacy meshes, camera masts and incident
/// markers of `scene`, each tagged with its [`SitePart`].
pub fn spawn(
    commands: &mut Commands,
    scene: &Scene,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
    overlay: Handle<StandardMaterial>,
) {
    let all = GroundChange {
        cameras: true,
        incidents: true,
        masks: true,
    };
    spawn_parts(commands, scene, meshes, materials, overlay, all);
}

/// Spawns the parts of the site `parts` names.
fn spawn_parts(
    commands: &mut Commands,
    scene: &Scene,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
    overlay: Handle<StandardMaterial>,
    parts: GroundChange,
) {
    let flat = [
        (
            meshes::flat_rings(
                scene.cameras.iter().map(|c| {
                    (
                        c.coverage.as_slice(),
                        palette::owner(c.owner).with_alpha(palette::COVERAGE_ALPHA),
                    )
                }),
                COVERAGE_UP_M,
            )
            .into_mesh(),
            Some(Layer::Coverage),
            overlay,
            SitePart::Cameras,
        ),
        (
            meshes::flat_rings(
                scene
                    .privacy_masks
                    .iter()
                    .map(|m| (m.ring.as_slice(), palette::PRIVACY)),
                PRIVACY_UP_M,
            )
            .into_mesh(),
            // Masks are never hidden.
            None,
            materials.add(units::unlit(Color::WHITE)),
            SitePart::Masks,
        ),
    ];
    let wanted = |part: SitePart| match part {
        SitePart::Cameras => parts.cameras,
        SitePart::Masks => parts.masks,
        SitePart::Incidents => parts.incidents,
    };
    for (mesh, layer, material, part) in flat {
        if !wanted(part) {
            continue;
        }
        let Some(mesh) = mesh else { continue };
        let mut e = commands.spawn((part, Mesh3d(meshes.add(mesh)), MeshMaterial3d(material)));
        if let Some(layer) = layer {
            e.insert(layer);
        }
    }
    if parts.cameras {
        spawn_masts(commands, scene, meshes, materials);
    }
    if parts.incidents {
        spawn_incidents(commands, scene, meshes, materials);
    }
}

/// Camera masts: one shared cube, one material per owner network.
fn spawn_masts(
    commands: &mut Commands,
    scene: &Scene,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
) {
    let cube = meshes.add(Cuboid::new(3.0, 3.0, 3.0));
    let mut by_owner = std::collections::HashMap::new();
    for c in &scene.cameras {
        let material = by_owner
            .entry(c.owner)
            .or_insert_with(|| materials.add(units::unlit(palette::owner(c.owner).into())))
            .clone();
        commands.spawn((
            SitePart::Cameras,
            Layer::Cameras,
            Mesh3d(cube.clone()),
            MeshMaterial3d(material),
            Transform::from_translation(world(c.position, c.height_m)),
        ));
    }
}

/// Incident markers: cones pointing down at the spot.
fn spawn_incidents(
    commands: &mut Commands,
    scene: &Scene,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
) {
    let incident = meshes.add(Cone::new(6.0, 14.0));
    let incident_material = materials.add(units::unlit(palette::INCIDENT.into()));
    for i in &scene.incidents {
        commands.spawn((
            SitePart::Incidents,
            Layer::Incidents,
            Mesh3d(incident.clone()),
            MeshMaterial3d(incident_material.clone()),
            Transform::from_translation(world(i.position, 7.0))
                .with_rotation(Quat::from_rotation_x(std::f32::consts::PI)),
        ));
    }
}

/// Rebuilds the site's cameras, masks or incidents, only those the ground
/// changed.
#[allow(clippy::too_many_arguments)]
pub fn apply_ground(
    mut commands: Commands,
    mut ground: ResMut<GroundState>,
    base: Res<BaseScene>,
    mut scene: ResMut<SceneRes>,
    assets: Res<MarkerAssets>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    existing: Query<(Entity, &SitePart)>,
) {
    let Some(layers) = ground.pending.take() else {
        return;
    };
    let change = GroundChange::between(ground.applied.as_ref(), &layers);
    // In place when the view holds the only copy of its scene (every time
    // but the first): 100,000 cameras are not copied for an incident.
    let next = Arc::make_mut(&mut scene.0);
    next.take_ground(&base.0, &layers, change);
    for (e, part) in &existing {
        let rebuilt = match part {
            SitePart::Cameras => change.cameras,
            SitePart::Masks => change.masks,
            SitePart::Incidents => change.incidents,
        };
        if rebuilt {
            commands.entity(e).despawn();
        }
    }
    spawn_parts(
        &mut commands,
        next,
        &mut meshes,
        &mut materials,
        assets.overlay.clone(),
        change,
    );
    ground.applied = Some(layers);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_layers_are_kept_pending() {
        let mut state = GroundState::default();
        let a = GroundLayers::default();
        state.offer(Some(&a));
        assert!(
            state.pending.is_some(),
            "the first layers are always applied"
        );
        state.applied = state.pending.take();
        // The same content again (new Arcs): nothing to do.
        state.offer(Some(&GroundLayers::default()));
        assert!(state.pending.is_none());
        // No layers (scenario, HTTP): nothing to do.
        state.offer(None);
        assert!(state.pending.is_none());
        let b = GroundLayers {
            privacy_masks: Arc::new(vec![vec![[2.0, 48.0]]]),
            ..GroundLayers::default()
        };
        state.offer(Some(&b));
        assert!(state.pending.is_some());
    }
}
