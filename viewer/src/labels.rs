//! Names on the map: units (call sign and id), incidents, zones and the
//! base map's landmarks, at one size on screen whatever the zoom, placed so
//! that no two overlap nor cover a panel.
//!
//! Placement is the ground's ([`vigie_ground::map::labels::place`]), the one
//! the planner's report maps use: greedy by rank (incidents, units, zones,
//! landmarks), a point's label beside its marker, an area's name centred on
//! it. A label that finds no free place is hidden until the view makes room
//! (zoom in and it comes back).

use std::collections::HashSet;

use bevy::prelude::*;

use vigie_ground::coverage::polygon::interior_point;
use vigie_ground::map::labels::{self as placing, Anchor, Candidate};

use crate::fonts::Fonts;
use crate::layers::{Layer, Layers};
use crate::palette;
use crate::scene::Scene;
use crate::units::{MARKER_PX, SceneRes, UnitsState, marker_position, unit_layer};
use crate::view::world;

/// Size of label text, pixels, at every zoom.
pub const LABEL_PX: f32 = 12.0;
/// Padding inside a label's backing, pixels.
const PAD_PX: f32 = 2.0;

/// What a label names; its rank in placement (first placed first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LabelKind {
    /// An incident: never hidden for anything else.
    Incident,
    /// A drone or a patrol.
    Unit,
    /// An event zone, no-fly zone or authorisation.
    Zone,
    /// A place of the base map.
    Landmark,
}

impl LabelKind {
    /// How the label stands to what it names: beside a marker (a point) or
    /// centred on it (an area, a place name).
    fn anchor(self) -> Anchor {
        match self {
            LabelKind::Incident | LabelKind::Unit => Anchor::Beside(MARKER_PX),
            LabelKind::Zone | LabelKind::Landmark => Anchor::Centred,
        }
    }
}

/// A label entity on the map.
#[derive(Component, Debug, Clone)]
pub struct MapLabel {
    /// What it names, and its rank.
    pub kind: LabelKind,
    /// The layer that shows it (with the HUD).
    pub layer: Layer,
    /// The world point it names.
    pub anchor: Vec3,
    /// The unit it follows, for unit labels.
    pub unit: Option<String>,
}

/// A UI node that labels must not cover (panels, legend, furniture).
#[derive(Component, Default)]
pub struct KeepClear;

/// The text of a unit's label: call sign and id, or the id alone.
pub fn unit_text(id: &str, name: Option<&str>) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty() && *n != id) {
        Some(n) => format!("{n} · {id}"),
        None => id.to_owned(),
    }
}

fn spawn_label(commands: &mut Commands, font: &TextFont, label: MapLabel, text: String) {
    commands.spawn((
        label,
        Node {
            position_type: PositionType::Absolute,
            padding: UiRect::all(px(PAD_PX)),
            ..default()
        },
        Visibility::Hidden,
        BackgroundColor(palette::LABEL_BACK.into()),
        Text::new(text),
        font.clone(),
        TextColor(palette::LABEL_TEXT.into()),
        // Under the panels, whatever the spawn order.
        GlobalZIndex(-1),
    ));
}

/// Spawns the static labels: zones, landmarks and the scene's incidents.
pub fn setup(mut commands: Commands, scene: Res<SceneRes>, fonts: Option<Res<Fonts>>) {
    let font = label_font(fonts.as_deref());
    for (kind, layer, anchor, text) in static_labels(&scene.0) {
        spawn_label(
            &mut commands,
            &font,
            MapLabel {
                kind,
                layer,
                anchor,
                unit: None,
            },
            text,
        );
    }
}

/// The labels a scene has of itself: every named zone at a point inside
/// it (at its ceiling), every landmark, every incident.
pub fn static_labels(scene: &Scene) -> Vec<(LabelKind, Layer, Vec3, String)> {
    let zones = scene
        .zones
        .iter()
        .filter(|z| !z.name.trim().is_empty())
        .filter_map(|z| {
            let at = world(interior_point(&z.ring)?, z.ceiling_m.min(40.0));
            Some((LabelKind::Zone, Layer::Zones, at, z.name.clone()))
        });
    let landmarks = scene.landmarks.iter().map(|l| {
        let at = world(l.at, 0.0);
        (LabelKind::Landmark, Layer::Map, at, l.name.clone())
    });
    let incidents = scene.incidents.iter().map(|i| {
        let at = world(i.position, 0.0);
        (LabelKind::Incident, Layer::Incidents, at, i.title.clone())
    });
    zones.chain(landmarks).chain(incidents).collect()
}

/// Labels' text: DejaVu Sans when loaded (the default font otherwise).
fn label_font(fonts: Option<&Fonts>) -> TextFont {
    let f = TextFont::from_font_size(LABEL_PX);
    match fonts {
        Some(fonts) => TextFont {
            font: fonts.sans.clone().into(),
            ..f
        },
        None => f,
    }
}

/// Keeps one label per unit of the picture, following it.
pub fn sync_unit_labels(
    mut commands: Commands,
    state: Res<UnitsState>,
    fonts: Option<Res<Fonts>>,
    mut labels: Query<(Entity, &mut MapLabel, &mut Text)>,
) {
    if !state.is_changed() {
        return;
    }
    let mut have = HashSet::new();
    for (e, mut label, mut text) in &mut labels {
        let Some(id) = label.unit.clone() else {
            continue;
        };
        match state.units.get(&id) {
            Some((unit, placed)) => {
                let anchor = marker_position(placed);
                if label.anchor != anchor {
                    label.anchor = anchor;
                }
                let want = unit_text(&id, unit.name.as_deref());
                if text.0 != want {
                    text.0 = want;
                }
                have.insert(id);
            }
            None => commands.entity(e).despawn(),
        }
    }
    for (id, (unit, placed)) in &state.units {
        if have.contains(id) {
            continue;
        }
        let Some(layer) = unit_layer(placed.kind) else {
            continue;
        };
        spawn_label(
            &mut commands,
            &label_font(fonts.as_deref()),
            MapLabel {
                kind: LabelKind::Unit,
                layer,
                anchor: marker_position(placed),
                unit: Some(id.clone()),
            },
            unit_text(id, unit.name.as_deref()),
        );
    }
}

/// Projects every label's anchor, places the labels and shows those that
/// fit; hides all when the HUD is off.
#[allow(clippy::type_complexity)]
pub fn place_labels(
    cameras: Query<(&Camera, &GlobalTransform), With<Camera3d>>,
    windows: Query<&Window>,
    layers: Res<Layers>,
    clear: Query<(&ComputedNode, &UiGlobalTransform, &InheritedVisibility), With<KeepClear>>,
    mut labels: Query<(&MapLabel, &ComputedNode, &Text, &mut Node, &mut Visibility)>,
) {
    let Some((camera, eye)) = cameras.iter().next() else {
        return;
    };
    let screen = windows.iter().next().map_or(Vec2::new(1280.0, 720.0), |w| {
        Vec2::new(w.width(), w.height())
    });
    let keep_out: Vec<placing::Rect> = clear
        .iter()
        .filter(|(_, _, v)| v.get())
        .map(|(n, t, _)| {
            let size = n.size() * n.inverse_scale_factor();
            let r = Rect::from_center_size(t.translation * n.inverse_scale_factor(), size);
            placing::Rect {
                min: r.min.to_array(),
                max: r.max.to_array(),
            }
        })
        .collect();
    let hud = layers.shown(Layer::Hud);
    let mut which = Vec::new();
    let mut candidates = Vec::new();
    for (i, (label, computed, text, _, _)) in labels.iter().enumerate() {
        if !(hud && layers.shown(label.layer)) {
            continue;
        }
        let Ok(anchor) = camera.world_to_viewport(eye, label.anchor) else {
            continue;
        };
        let measured = computed.size() * computed.inverse_scale_factor();
        // Before its first layout a label has no size: estimate it.
        let size = if measured.x > 0.0 {
            measured
        } else {
            Vec2::new(
                text.0.chars().count() as f32 * LABEL_PX * 0.6 + 2.0 * PAD_PX,
                LABEL_PX * 1.2 + 2.0 * PAD_PX,
            )
        };
        which.push(i);
        candidates.push(Candidate {
            at: anchor.to_array(),
            size: size.to_array(),
            rank: label.kind as u8,
            anchor: label.kind.anchor(),
        });
    }
    // Where each label (by its place in the query) stands, if anywhere.
    let mut at = vec![None; labels.iter().len()];
    for (k, p) in which
        .into_iter()
        .zip(placing::place(&candidates, screen.to_array(), &keep_out))
    {
        at[k] = p;
    }
    for ((_, _, _, mut node, mut v), at) in labels.iter_mut().zip(at) {
        let want = match at {
            Some(p) => {
                let (l, t) = (px(p[0].round()), px(p[1].round()));
                if node.left != l || node.top != t {
                    node.left = l;
                    node.top = t;
                }
                Visibility::Inherited
            }
            None => Visibility::Hidden,
        };
        if *v != want {
            *v = want;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_say_call_sign_and_id() {
        assert_eq!(
            unit_text("drone:sim:1", Some("Aigle 1")),
            "Aigle 1 · drone:sim:1"
        );
        assert_eq!(unit_text("patrol-01", None), "patrol-01");
        assert_eq!(unit_text("patrol-01", Some("patrol-01")), "patrol-01");
    }
}
