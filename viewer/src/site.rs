//! The site's own layers that a ground server may replace while the view
//! runs: fixed cameras (masts and ground coverage), privacy masks and
//! incidents.
//!
//! A scenario gives them once; a live ground server (QUIC) gives its own
//! with every picture step that changed them ([`crate::scene::GroundLayers`]).
//! [`apply_ground`] then rebuilds these entities from
//! [`Scene::with_ground`], leaving the rest of the scene (ground, buildings,
//! streets, zones) untouched.

use std::sync::Arc;

use bevy::prelude::*;

use crate::layers::Layer;
use crate::meshes;
use crate::palette;
use crate::scene::{GroundLayers, Scene};
use crate::units::{self, MarkerAssets, SceneRes};
use crate::view::world;

/// Height of fixed camera coverage above the ground, metres.
pub const COVERAGE_UP_M: f64 = 0.3;
/// Height of privacy masks above the ground, metres: above every overlay.
pub const PRIVACY_UP_M: f64 = 0.6;

/// Marks an entity built from the site's cameras, masks or incidents.
#[derive(Component)]
pub struct SiteEntity;

/// The scene as the scenario (or the empty live site) gave it, before any
/// ground layers.
#[derive(Resource)]
pub struct BaseScene(pub Arc<Scene>);

/// Ground layers received and not yet applied, and the last applied.
#[derive(Resource, Default)]
pub struct GroundState {
    /// The newest layers from the source, if they differ from the applied.
    pub pending: Option<Arc<GroundLayers>>,
    /// The layers the scene shows now.
    pub applied: Option<Arc<GroundLayers>>,
}

impl GroundState {
    /// Notes the layers a picture carried; only a change is kept pending.
    pub fn offer(&mut self, layers: Option<Arc<GroundLayers>>) {
        let Some(layers) = layers else { return };
        let same = |a: &Option<Arc<GroundLayers>>| a.as_deref() == Some(layers.as_ref());
        if !same(&self.applied) && !same(&self.pending) {
            self.pending = Some(layers);
        }
    }
}

/// Spawns the coverage and privacy meshes, camera masts and incident
/// markers of `scene`, each tagged [`SiteEntity`].
pub fn spawn(
    commands: &mut Commands,
    scene: &Scene,
    meshes: &mut Assets<Mesh>,
    materials: &mut Assets<StandardMaterial>,
    overlay: Handle<StandardMaterial>,
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
        ),
    ];
    for (mesh, layer, material) in flat {
        let Some(mesh) = mesh else { continue };
        let mut e = commands.spawn((
            SiteEntity,
            Mesh3d(meshes.add(mesh)),
            MeshMaterial3d(material),
        ));
        if let Some(layer) = layer {
            e.insert(layer);
        }
    }
    // Camera masts: one shared cube, one material per owner network.
    let cube = meshes.add(Cuboid::new(3.0, 3.0, 3.0));
    let mut by_owner = std::collections::HashMap::new();
    for c in &scene.cameras {
        let material = by_owner
            .entry(c.owner)
            .or_insert_with(|| materials.add(units::unlit(palette::owner(c.owner).into())))
            .clone();
        commands.spawn((
            SiteEntity,
            Layer::Cameras,
            Mesh3d(cube.clone()),
            MeshMaterial3d(material),
            Transform::from_translation(world(c.position, c.height_m)),
        ));
    }
    let incident = meshes.add(Cone::new(6.0, 14.0));
    let incident_material = materials.add(units::unlit(palette::INCIDENT.into()));
    for i in &scene.incidents {
        commands.spawn((
            SiteEntity,
            Layer::Incidents,
            Mesh3d(incident.clone()),
            MeshMaterial3d(incident_material.clone()),
            Transform::from_translation(world(i.position, 7.0))
                .with_rotation(Quat::from_rotation_x(std::f32::consts::PI)),
        ));
    }
}

/// Rebuilds the site's cameras, masks and incidents when the ground sent
/// new ones.
#[allow(clippy::too_many_arguments)]
pub fn apply_ground(
    mut commands: Commands,
    mut ground: ResMut<GroundState>,
    base: Res<BaseScene>,
    mut scene: ResMut<SceneRes>,
    assets: Res<MarkerAssets>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    existing: Query<Entity, With<SiteEntity>>,
) {
    let Some(layers) = ground.pending.take() else {
        return;
    };
    let next = Arc::new(base.0.with_ground(&layers));
    for e in &existing {
        commands.entity(e).despawn();
    }
    spawn(
        &mut commands,
        &next,
        &mut meshes,
        &mut materials,
        assets.overlay.clone(),
    );
    scene.0 = next;
    ground.applied = Some(layers);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_layers_are_kept_pending() {
        let mut state = GroundState::default();
        let a = Arc::new(GroundLayers::default());
        state.offer(Some(a.clone()));
        assert!(state.pending.is_some());
        state.applied = state.pending.take();
        // The same content again (a new Arc): nothing to do.
        state.offer(Some(Arc::new(GroundLayers::default())));
        assert!(state.pending.is_none());
        // No layers (scenario, HTTP): nothing to do.
        state.offer(None);
        assert!(state.pending.is_none());
        let mut b = GroundLayers::default();
        b.privacy_masks.push(vec![[2.0, 48.0]]);
        state.offer(Some(Arc::new(b)));
        assert!(state.pending.is_some());
    }
}
