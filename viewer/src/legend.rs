//! Map furniture: the legend of every layer shown, the north arrow and the
//! scale bar. All three belong to the HUD layer (key 0).
//!
//! The legend's swatches are the palette's colours as they look on the
//! ground (translucent layers over the ground colour), so a swatch and the
//! map match pixel for pixel. The north arrow turns with the camera's
//! heading; the scale bar gives ground metres at the centre of the view.

use bevy::prelude::*;
use vigie_protocols::api::UnitStatus;

use crate::coverage::Cell;
use crate::i18n::Lang;
use crate::labels::KeepClear;
use crate::layers::{Layer, Layers};
use crate::palette;
use crate::scene::{OwnerNetwork, Scene, ZoneKind};
use crate::units::{Orbit, SceneRes};
use crate::view::OrbitView;
use vigie_ground::map::scale::{format_length, round_length as scale};

/// Side of a legend swatch, pixels.
pub const SWATCH_PX: f32 = 12.0;
/// Side of the north arrow's disc, pixels.
pub const ARROW_PX: f32 = 44.0;
/// Longest scale bar, pixels.
pub const SCALE_MAX_PX: f32 = 120.0;
/// Smallest window that shows the legend, pixels (a thumbnail keeps the
/// map; the arrow and scale bar always show with the HUD).
pub const LEGEND_MIN_PX: (f32, f32) = (480.0, 360.0);
/// Colour of the north arrow's needle and the scale bar.
pub const FURNITURE: Srgba = Srgba::rgb(1.0, 1.0, 1.0);
const PANEL_BG: Color = Color::srgba(0.05, 0.06, 0.08, 0.78);
const FONT_PX: f32 = 12.0;
/// Size of the attribution's text, pixels.
const ATTRIBUTION_PX: f32 = 10.0;

/// The legend's root node (left, under the status bar).
#[derive(Component)]
pub struct LegendRoot;
/// The node that turns with the heading.
#[derive(Component)]
pub struct NorthNeedle;
/// The scale bar's bar node.
#[derive(Component)]
pub struct ScaleBar;
/// The scale bar's label.
#[derive(Component)]
pub struct ScaleLabel;
/// Every furniture root, shown with the HUD; labels keep clear of it.
#[derive(Component)]
#[require(KeepClear)]
pub struct Furniture;
/// The base map's attribution (bottom right), shown with the map layer
/// whether or not the HUD is: the data's licence asks for it on screen.
#[derive(Component)]
pub struct Attribution;

/// The attribution line for `scene` in `lang`; `None` without a base map.
pub fn attribution(scene: &Scene, lang: Lang) -> Option<String> {
    (!scene.attribution.is_empty()).then(|| {
        format!(
            "{} {}",
            lang.pick("Base map:", "Fond de plan :"),
            scene.attribution
        )
    })
}

/// One line of the legend: a swatch colour (as seen on the map) and words.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Colour of the swatch.
    pub colour: Srgba,
    /// What it means.
    pub label: String,
}

/// The legend of what `layers` shows of `scene`, in `lang`: a heading per
/// layer, then its colours; networks and zones only when the site has some.
/// In plan mode (`plan`), the plan's items instead of live units.
pub fn entries(
    scene: &Scene,
    layers: &Layers,
    lang: Lang,
    plan: bool,
) -> Vec<(String, Vec<Entry>)> {
    let ground = palette::GROUND;
    let mut out = Vec::new();
    let entry = |colour: Srgba, label: &str| Entry {
        colour,
        label: label.to_owned(),
    };
    if plan {
        use crate::plan::colours;
        out.push((
            lang.pick("Plan", "Plan").to_owned(),
            vec![
                entry(
                    palette::over(colours::STATION, ground),
                    lang.pick("drone station footprint", "emprise d'une station drone"),
                ),
                entry(
                    palette::over(colours::POST, ground),
                    lang.pick("patrol post", "poste de patrouille"),
                ),
                entry(
                    palette::over(colours::CAMERA, ground),
                    lang.pick("added camera", "caméra ajoutée"),
                ),
                entry(
                    colours::LOCKED,
                    lang.pick(
                        "locked (kept by the planner)",
                        "verrouillé (gardé par le planificateur)",
                    ),
                ),
            ],
        ));
    }
    if layers.shown(Layer::Incidents) && !plan {
        out.push((
            lang.pick("Incidents", "Incidents").to_owned(),
            vec![
                entry(palette::INCIDENT, lang.pick("incident", "incident")),
                entry(
                    palette::INCIDENT_LINK,
                    lang.pick("suggested unit", "unité proposée"),
                ),
            ],
        ));
    }
    if (layers.shown(Layer::Drones) || layers.shown(Layer::Patrols)) && !plan {
        out.push((
            lang.pick("Units", "Unités").to_owned(),
            UnitStatus::ALL
                .iter()
                .map(|s| entry(palette::status(*s), lang.status(*s)))
                .collect(),
        ));
    }
    if layers.shown(Layer::Zones) {
        let zones: Vec<Entry> = ZoneKind::ALL
            .iter()
            .filter(|k| scene.zones.iter().any(|z| z.kind == **k))
            .map(|k| entry(palette::over(palette::zone(*k), ground), lang.zone(*k)))
            .collect();
        if !zones.is_empty() {
            out.push((lang.pick("Zones", "Zones").to_owned(), zones));
        }
    }
    if layers.shown(Layer::Coverage) || layers.shown(Layer::Cameras) {
        let networks: Vec<Entry> = OwnerNetwork::ALL
            .iter()
            .filter(|o| scene.cameras.iter().any(|c| c.owner == **o))
            .map(|o| {
                let c = if layers.shown(Layer::Coverage) {
                    palette::over(
                        palette::owner(*o).with_alpha(palette::COVERAGE_ALPHA),
                        ground,
                    )
                } else {
                    palette::owner(*o)
                };
                entry(c, lang.owner(*o))
            })
            .collect();
        if !networks.is_empty() {
            out.push((lang.pick("Cameras", "Caméras").to_owned(), networks));
        }
    }
    if layers.shown(Layer::HeatMap) {
        let cells = [
            (
                Cell::Seen(1),
                lang.pick("seen by 1 source", "vu par 1 source"),
            ),
            (
                Cell::Seen(2),
                lang.pick("seen by 2 sources", "vu par 2 sources"),
            ),
            (
                Cell::Seen(3),
                lang.pick("3 sources or more", "3 sources ou plus"),
            ),
            (Cell::Gap, lang.pick("gap (seen by none)", "angle mort")),
        ];
        out.push((
            lang.pick("Coverage", "Couverture").to_owned(),
            cells
                .iter()
                .filter_map(|(c, l)| Some(entry(palette::over(palette::heat(*c)?, ground), l)))
                .collect(),
        ));
    }
    if layers.shown(Layer::Map) {
        let mut map = Vec::new();
        if !scene.water.is_empty() {
            map.push(entry(palette::WATER, lang.pick("water", "eau")));
        }
        if !scene.parks.is_empty() {
            map.push(entry(
                palette::PARK,
                lang.pick("park, garden", "parc, jardin"),
            ));
        }
        if !scene.streets.is_empty() {
            map.push(entry(palette::STREET, lang.pick("street", "rue")));
        }
        if !map.is_empty() {
            out.push((lang.pick("Map", "Fond de plan").to_owned(), map));
        }
    }
    if !scene.privacy_masks.is_empty() {
        out.push((
            lang.pick("Privacy", "Vie privée").to_owned(),
            vec![entry(
                palette::PRIVACY,
                lang.pick("masked (never shown)", "masqué (jamais affiché)"),
            )],
        ));
    }
    out
}

/// A furniture node's place: above the status line, `left_px` from the
/// left edge.
fn bottom_left(left_px: f32) -> Node {
    Node {
        position_type: PositionType::Absolute,
        bottom: px(44),
        left: px(left_px),
        ..default()
    }
}

/// Spawns the north arrow and the scale bar (bottom left), an empty
/// legend (filled by [`update_legend`]) and the base map's attribution.
pub fn setup(mut commands: Commands, scene: Res<SceneRes>, lang: Res<Lang>) {
    if let Some(text) = attribution(&scene.0, *lang) {
        commands.spawn((
            Attribution,
            KeepClear,
            Node {
                position_type: PositionType::Absolute,
                bottom: px(2),
                right: px(4),
                padding: UiRect::horizontal(px(4)),
                ..default()
            },
            BackgroundColor(PANEL_BG),
            Text::new(text),
            TextFont::from_font_size(ATTRIBUTION_PX),
            TextColor(Color::srgb(0.9, 0.9, 0.9)),
        ));
    }
    commands.spawn((
        LegendRoot,
        Furniture,
        Node {
            position_type: PositionType::Absolute,
            top: px(36),
            left: px(6),
            padding: UiRect::all(px(6)),
            flex_direction: FlexDirection::Column,
            row_gap: px(2),
            ..default()
        },
        BackgroundColor(PANEL_BG),
    ));
    // The arrow: a dark disc; inside, a full-size node that turns, holding
    // the needle's north half and an N at its tip.
    commands
        .spawn((
            Furniture,
            Node {
                width: px(ARROW_PX),
                height: px(ARROW_PX),
                border_radius: BorderRadius::MAX,
                ..bottom_left(6.0)
            },
            BackgroundColor(PANEL_BG),
        ))
        .with_children(|disc| {
            disc.spawn((
                NorthNeedle,
                Node {
                    position_type: PositionType::Absolute,
                    width: percent(100),
                    height: percent(100),
                    ..default()
                },
                UiTransform::IDENTITY,
            ))
            .with_children(|needle| {
                needle.spawn((
                    Node {
                        position_type: PositionType::Absolute,
                        left: px(ARROW_PX / 2.0 - 2.0),
                        top: px(14),
                        width: px(4),
                        height: px(ARROW_PX / 2.0 - 14.0),
                        ..default()
                    },
                    BackgroundColor(FURNITURE.into()),
                ));
                needle.spawn((
                    Node {
                        position_type: PositionType::Absolute,
                        left: px(ARROW_PX / 2.0 - 5.0),
                        top: px(0),
                        ..default()
                    },
                    Text::new("N"),
                    TextFont::from_font_size(FONT_PX),
                    TextColor(FURNITURE.into()),
                ));
            });
        });
    // The scale bar, right of the arrow.
    commands
        .spawn((
            Furniture,
            Node {
                padding: UiRect::all(px(4)),
                flex_direction: FlexDirection::Column,
                row_gap: px(2),
                ..bottom_left(ARROW_PX + 12.0)
            },
            BackgroundColor(PANEL_BG),
        ))
        .with_children(|p| {
            p.spawn((
                ScaleLabel,
                Text::new(""),
                TextFont::from_font_size(FONT_PX),
                TextColor(FURNITURE.into()),
            ));
            p.spawn((
                ScaleBar,
                Node {
                    width: px(SCALE_MAX_PX),
                    height: px(4),
                    ..default()
                },
                BackgroundColor(FURNITURE.into()),
            ));
        });
}

/// Rebuilds the legend when the layers, the scene or the language change.
pub fn update_legend(
    mut commands: Commands,
    scene: Res<SceneRes>,
    layers: Res<Layers>,
    lang: Res<Lang>,
    plan: Option<Res<crate::plan::PlanState>>,
    root: Query<Entity, With<LegendRoot>>,
) {
    if !(scene.is_changed() || layers.is_changed() || lang.is_changed()) {
        return;
    }
    let Ok(root) = root.single() else {
        return;
    };
    commands.entity(root).despawn_children();
    let sections = entries(&scene.0, &layers, *lang, plan.is_some());
    commands.entity(root).with_children(|legend| {
        for (heading, rows) in sections {
            legend.spawn((
                Text::new(heading),
                TextFont::from_font_size(FONT_PX),
                TextColor(Color::srgb(0.85, 0.85, 0.85)),
            ));
            for row in rows {
                legend
                    .spawn(Node {
                        flex_direction: FlexDirection::Row,
                        column_gap: px(6),
                        align_items: AlignItems::Center,
                        ..default()
                    })
                    .with_children(|r| {
                        r.spawn((
                            Node {
                                width: px(SWATCH_PX),
                                height: px(SWATCH_PX),
                                ..default()
                            },
                            BackgroundColor(row.colour.into()),
                        ));
                        r.spawn((
                            Text::new(row.label),
                            TextFont::from_font_size(FONT_PX),
                            TextColor(Color::WHITE),
                        ));
                    });
            }
        }
    });
}

/// Turns the north arrow and sizes the scale bar to the view; shows them
/// with the HUD.
#[allow(clippy::type_complexity)]
pub fn update_furniture(
    orbit: Res<Orbit>,
    layers: Res<Layers>,
    windows: Query<&Window>,
    mut q: ParamSet<(
        Query<&mut UiTransform, With<NorthNeedle>>,
        Query<&mut Node, With<ScaleBar>>,
        Query<&mut Text, With<ScaleLabel>>,
        Query<(&mut Visibility, Has<LegendRoot>), With<Furniture>>,
    )>,
) {
    let view: &OrbitView = &orbit.0;
    let (width, height) = windows
        .iter()
        .next()
        .map_or((1280.0, 720.0), |w| (w.width(), w.height()));
    let legend_fits = width >= LEGEND_MIN_PX.0 && height >= LEGEND_MIN_PX.1;
    for mut t in &mut q.p0() {
        let want = UiTransform::from_rotation(Rot2::degrees(view.north_on_screen_deg()));
        if *t != want {
            *t = want;
        }
    }
    let bar = scale(view.metres_per_px(view.target, height), SCALE_MAX_PX);
    for mut node in &mut q.p1() {
        let w = px(bar.map_or(0.0, |(_, w)| w.round()));
        if node.width != w {
            node.width = w;
        }
    }
    for mut text in &mut q.p2() {
        let s = bar.map_or_else(String::new, |(m, _)| format_length(m));
        if text.0 != s {
            text.0 = s;
        }
    }
    for (mut v, legend) in &mut q.p3() {
        let want = if layers.shown(Layer::Hud) && (legend_fits || !legend) {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        };
        if *v != want {
            *v = want;
        }
    }
}

/// Shows the attribution with the map layer.
pub fn show_attribution(layers: Res<Layers>, mut q: Query<&mut Visibility, With<Attribution>>) {
    let want = if layers.shown(Layer::Map) {
        Visibility::Inherited
    } else {
        Visibility::Hidden
    };
    for mut v in &mut q {
        if *v != want {
            *v = want;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legend_lists_what_is_shown_and_only_that() {
        let mut scene = Scene::empty("t", 48.9, 2.36, 500.0);
        scene.zones.push(crate::scene::Zone {
            name: "no fly".into(),
            kind: ZoneKind::NoFly,
            ring: vec![[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]],
            floor_m: 0.0,
            ceiling_m: 120.0,
        });
        let all = entries(&scene, &Layers::default(), Lang::Fr, false);
        let headings: Vec<&str> = all.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(headings, ["Incidents", "Unités", "Zones"]);
        assert_eq!(all[0].1[0].colour, palette::INCIDENT);
        assert_eq!(all[1].1.len(), UnitStatus::ALL.len());
        assert_eq!(all[2].1.len(), 1, "only the zone kinds the site has");
        assert_eq!(all[2].1[0].label, "zone interdite de vol");
        let few = entries(
            &scene,
            &Layers::parse_list("drones").expect("valid"),
            Lang::En,
            false,
        );
        assert_eq!(few.len(), 1);
        assert_eq!(few[0].1[5].label, "link lost");
        let plan = entries(&scene, &Layers::default(), Lang::En, true);
        let headings: Vec<&str> = plan.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(headings, ["Plan", "Zones"], "no live units in plan mode");
    }
}
