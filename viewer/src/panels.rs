//! Text overlays: the status bar, the details panel of the selection, the
//! find prompt and the help overlay listing every key.

use std::fmt::Write as _;

use bevy::prelude::*;
use vigie_protocols::api::{Unit, UnitKind};

use crate::controls::{FindPrompt, Selection};
use crate::i18n::Lang;
use crate::labels::KeepClear;
use crate::layers::{Layer, Layers};
use crate::scene::Scene;
use crate::units::{CoverageStats, SceneRes, SourceRes, UnitsState};

/// The status bar (top left).
#[derive(Component)]
pub struct StatusBar;
/// The details panel (top right).
#[derive(Component)]
pub struct DetailsPanel;
/// The help overlay (centre).
#[derive(Component)]
pub struct HelpOverlay;
/// The find prompt (bottom left).
#[derive(Component)]
pub struct PromptLine;

const PANEL_BG: Color = Color::srgba(0.05, 0.06, 0.08, 0.78);
const FONT_PX: f32 = 13.0;

fn panel(node: Node) -> impl Bundle {
    (
        Node {
            position_type: PositionType::Absolute,
            padding: UiRect::all(px(6)),
            ..node
        },
        BackgroundColor(PANEL_BG),
        Text::new(""),
        TextFont::from_font_size(FONT_PX),
        TextColor(Color::WHITE),
    )
}

/// Spawns the overlays, hidden until they have something to say.
pub fn setup(mut commands: Commands, lang: Option<Res<Lang>>) {
    let lang = lang.map_or(Lang::En, |l| *l);
    commands.spawn((
        StatusBar,
        KeepClear,
        panel(Node {
            top: px(6),
            left: px(6),
            ..default()
        }),
    ));
    commands.spawn((
        DetailsPanel,
        KeepClear,
        Visibility::Hidden,
        panel(Node {
            top: px(6),
            right: px(6),
            max_width: px(340),
            ..default()
        }),
    ));
    commands
        .spawn((
            HelpOverlay,
            Visibility::Hidden,
            panel(Node {
                top: px(40),
                left: px(40),
                ..default()
            }),
        ))
        .insert(Text::new(help_text(lang)));
    commands.spawn((
        PromptLine,
        KeepClear,
        Visibility::Hidden,
        panel(Node {
            bottom: px(6),
            left: px(6),
            ..default()
        }),
    ));
}

/// The help overlay's text: every key, every layer, in `lang`.
pub fn help_text(lang: Lang) -> String {
    let keys: &[(&str, &str, &str)] = &[
        ("Mouse left drag", "orbit", "tourner autour"),
        ("Mouse right/middle", "pan", "déplacer"),
        ("Mouse wheel", "zoom", "zoomer"),
        (
            "Click",
            "select a unit, camera or incident",
            "choisir une unité, une caméra, un incident",
        ),
        ("W A S D / arrows", "pan", "déplacer"),
        ("Q / E", "turn left / right", "tourner à gauche / à droite"),
        ("R / F", "tilt up / down", "incliner vers le haut / le bas"),
        ("+ / -", "zoom in / out", "zoomer / dézoomer"),
        (
            "Home",
            "frame the event or the picture",
            "cadrer l'événement ou la situation",
        ),
        (
            "T",
            "top-down map (north up) / 3D",
            "carte vue de dessus (nord en haut) / 3D",
        ),
        ("C", "centre on the selection", "centrer sur la sélection"),
        (
            "/ or Ctrl+F",
            "find a unit by id or name (Enter, Esc)",
            "chercher une unité (Entrée, Échap)",
        ),
        (
            "Space",
            "pause / resume the scenario or replay clock",
            "pause / reprise du scénario ou de la relecture",
        ),
        (
            "[ / ]",
            "replay: back / forward 10 s (Shift: 1 min)",
            "relecture : -10 s / +10 s (Maj : 1 min)",
        ),
        (
            ", / .",
            "replay: half / double speed",
            "relecture : vitesse ÷2 / ×2",
        ),
        (
            "Click the bottom bar",
            "replay: seek there (drag to scrub)",
            "relecture : aller à cet instant",
        ),
        (
            "Esc",
            "clear the selection, close help",
            "effacer la sélection, fermer l'aide",
        ),
        ("H or F1", "this help", "cette aide"),
    ];
    let plan: &[(&str, &str, &str)] = &[
        (
            "Click / drag an item",
            "select it / move it on the ground",
            "le choisir / le déplacer au sol",
        ),
        (
            "N / P / K",
            "add a drone station / patrol post / camera at the cursor",
            "ajouter une station drone / un poste de patrouille / une caméra",
        ),
        (
            "Delete, Backspace, X",
            "remove the selected item",
            "supprimer l'élément choisi",
        ),
        (
            "Ctrl+Z or U",
            "undo the last edit (a whole drag is one edit)",
            "annuler la dernière modification",
        ),
        (
            "Page Up / Page Down",
            "selected station 10 m higher / lower (120 m ceiling)",
            "station choisie 10 m plus haut / bas (plafond 120 m)",
        ),
        (
            "L",
            "lock / unlock the selected item (the planner keeps it)",
            "verrouiller / déverrouiller (le planificateur le garde)",
        ),
        (
            "G",
            "run the planner (replaces unlocked items)",
            "lancer le planificateur (remplace le non verrouillé)",
        ),
        (
            "Ctrl+S",
            "save the plan (GeoJSON, as vigie plan --out)",
            "enregistrer le plan (GeoJSON, comme vigie plan --out)",
        ),
    ];
    let line = |s: &mut String, (key, en, fr): &(&str, &str, &str)| {
        let key = match (lang, *key) {
            (Lang::Fr, "Mouse left drag") => "Souris gauche glissée",
            (Lang::Fr, "Mouse right/middle") => "Souris droite/milieu",
            (Lang::Fr, "Mouse wheel") => "Molette",
            (Lang::Fr, "Click") => "Clic",
            (Lang::Fr, "W A S D / arrows") => "W A S D / flèches",
            (Lang::Fr, "Home") => "Début (Home)",
            (Lang::Fr, "/ or Ctrl+F") => "/ ou Ctrl+F",
            (Lang::Fr, "Space") => "Espace",
            (Lang::Fr, "Click the bottom bar") => "Clic sur la barre",
            (Lang::Fr, "Esc") => "Échap",
            (Lang::Fr, "H or F1") => "H ou F1",
            (Lang::Fr, "Click / drag an item") => "Clic / glisser",
            (Lang::Fr, "Delete, Backspace, X") => "Suppr, Retour, X",
            (Lang::Fr, "Ctrl+Z or U") => "Ctrl+Z ou U",
            (Lang::Fr, "Page Up / Page Down") => "Page préc. / suiv.",
            (_, k) => k,
        };
        let _ = writeln!(s, "{key:<22} {}", lang.pick(en, fr));
    };
    let mut s = format!(
        "{}\n\n",
        lang.pick("Vigie viewer: keys", "Vigie, vue des opérations : touches")
    );
    for k in keys {
        line(&mut s, k);
    }
    let _ = writeln!(
        s,
        "\n{}",
        lang.pick(
            "Plan mode (vigie view --plan EVENT)",
            "Mode plan (vigie view --plan ÉVÉNEMENT)"
        )
    );
    for k in plan {
        line(&mut s, k);
    }
    let _ = writeln!(s, "\n{}", lang.pick("Layers", "Couches"));
    for layer in Layer::ALL {
        let _ = writeln!(s, "{:<22} {}", layer.key().1, layer.name());
    }
    s.push_str(lang.pick(
        "\nPrivacy masks are always blacked out.",
        "\nLes masques de vie privée sont toujours noircis.",
    ));
    s
}

/// Refreshes the overlays' text and visibility.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn update(
    scene: Res<SceneRes>,
    state: Res<UnitsState>,
    source: Res<SourceRes>,
    layers: Res<Layers>,
    stats: Res<CoverageStats>,
    selection: Res<Selection>,
    prompt: Res<FindPrompt>,
    lang: Option<Res<Lang>>,
    mut q: ParamSet<(
        Query<(&mut Text, &mut Visibility), With<StatusBar>>,
        Query<(&mut Text, &mut Visibility), With<DetailsPanel>>,
        Query<&mut Visibility, With<HelpOverlay>>,
        Query<(&mut Text, &mut Visibility), With<PromptLine>>,
    )>,
) {
    let lang = lang.map_or(Lang::En, |l| *l);
    let hud = layers.shown(Layer::Hud);
    let show = |v: &mut Visibility, on: bool| {
        let want = if on {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        };
        if *v != want {
            *v = want;
        }
    };
    for (mut text, mut v) in &mut q.p0() {
        show(&mut v, hud);
        let (drones, patrols) = state
            .units
            .values()
            .fold((0, 0), |(d, p), (u, _)| match u.kind {
                UnitKind::Drone => (d + 1, p),
                UnitKind::Patrol => (d, p + 1),
                _ => (d, p),
            });
        let mut s = format!(
            "{} | {} | {drones} {}, {patrols} {}, {} {}",
            scene.0.name,
            source.0.describe(),
            lang.pick("drones", "drones"),
            lang.pick("patrols", "patrouilles"),
            scene.0.cameras.len(),
            lang.pick("cameras", "caméras"),
        );
        if let (true, Some(f)) = (layers.shown(Layer::HeatMap), stats.fraction) {
            let _ = match lang {
                Lang::En => write!(
                    s,
                    " | event zones covered {:.0} %, {} gap cells",
                    f * 100.0,
                    stats.gaps
                ),
                Lang::Fr => write!(
                    s,
                    " | périmètre couvert à {:.0} %, {} cellules en angle mort",
                    f * 100.0,
                    stats.gaps
                ),
            };
        }
        s.push_str(lang.pick(" | H: help", " | H : aide"));
        set(&mut text, s);
    }
    for (mut text, mut v) in &mut q.p1() {
        let details = selection
            .id
            .as_deref()
            .and_then(|id| details(&scene.0, &state, id, lang));
        show(&mut v, hud && details.is_some());
        if let Some(d) = details {
            set(&mut text, d);
        }
    }
    for mut v in &mut q.p2() {
        show(&mut v, selection.help);
    }
    for (mut text, mut v) in &mut q.p3() {
        let line = if prompt.open {
            Some(format!(
                "{} {}_",
                lang.pick("find:", "chercher :"),
                prompt.text
            ))
        } else {
            prompt.message.clone()
        };
        show(&mut v, line.is_some());
        if let Some(line) = line {
            set(&mut text, line);
        }
    }
}

fn set(text: &mut Text, s: String) {
    if text.0 != s {
        text.0 = s;
    }
}

/// The details panel's text for an id in `lang`, `None` when it no longer
/// exists.
pub fn details(scene: &Scene, state: &UnitsState, id: &str, lang: Lang) -> Option<String> {
    if let Some((u, p)) = state.units.get(id) {
        let mut s = unit_details(u, p.alt_m, state.at_ms, lang);
        // What the unit is doing for dispatch: its order, else where it is
        // suggested.
        for i in &scene.incidents {
            if i.assigned.iter().any(|a| a == id) {
                let _ = write!(s, "\n{} {}", lang.pick("order:", "ordre :"), i.title);
            } else if i.suggested.iter().any(|a| a == id) {
                let _ = write!(
                    s,
                    "\n{} {}",
                    lang.pick("suggested for", "proposée pour"),
                    i.title
                );
            }
        }
        return Some(s);
    }
    if let Some(c) = scene.cameras.iter().find(|c| c.id == id) {
        let w = |en, fr| lang.pick(en, fr);
        return Some(format!(
            "{}\n{}\n{}, {}\n{} {:.0} m, {} {:.0}°, {} {:.0}°\n{} {:.0}°, {} {:.0} m",
            c.id,
            c.name,
            w("fixed camera", "caméra fixe"),
            lang.owner(c.owner),
            w("mount", "hauteur"),
            c.height_m,
            w("heading", "cap"),
            c.heading_deg,
            w("tilt", "inclinaison"),
            c.tilt_deg,
            w("field of view", "champ"),
            c.hfov_deg,
            w("range", "portée"),
            c.range_m
        ));
    }
    let i = scene.incidents.iter().find(|i| i.id == id)?;
    let mut s = format!(
        "{} {}\n{}\n{}",
        lang.pick("incident", "incident"),
        i.id,
        i.title,
        lang.pick("suggested:", "unités proposées :")
    );
    for u in &i.suggested {
        let status = state.units.get(u).map_or(
            lang.pick("not in the picture", "absente de la situation"),
            |(u, _)| lang.status(u.status),
        );
        let _ = write!(s, "\n  {u} ({status})");
    }
    Some(s)
}

fn unit_details(u: &Unit, alt_m: f64, at_ms: i64, lang: Lang) -> String {
    let mut s = u.id.clone();
    if let Some(name) = &u.name {
        let _ = write!(s, "\n{name}");
    }
    let kind = match (lang, u.kind) {
        (Lang::Fr, UnitKind::Drone) => "drone",
        (Lang::Fr, UnitKind::Patrol) => "patrouille",
        (Lang::Fr, UnitKind::FixedCamera) => "caméra fixe",
        (Lang::Fr, UnitKind::CallPoint) => "borne d'appel",
        (_, k) => k.as_str(),
    };
    let _ = write!(s, "\n{kind} - {}", lang.status(u.status));
    if let Some(p) = u.position {
        let _ = write!(s, "\n{:.6}, {:.6}", p.lat_deg, p.lon_deg);
        if u.kind == UnitKind::Drone {
            let _ = write!(s, "  alt {alt_m:.0} m");
        }
        if let Some(h) = p.heading_deg {
            let _ = write!(s, "  {} {h:.0}°", lang.pick("hdg", "cap"));
        }
        if let Some(v) = p.speed_m_s {
            let _ = write!(s, "  {v:.1} m/s");
        }
    }
    if let Some(d) = &u.drone {
        let battery = d
            .battery_pct
            .map_or(lang.pick("unknown", "inconnue").to_owned(), |b| {
                format!("{b:.0} %")
            });
        let armed = match (lang, d.armed) {
            (Lang::En, true) => "armed",
            (Lang::En, false) => "disarmed",
            (Lang::Fr, true) => "armé",
            (Lang::Fr, false) => "désarmé",
        };
        let _ = write!(
            s,
            "\n{} {battery}\n{} {} {armed}, {} {}",
            lang.pick("battery", "batterie"),
            lang.pick("mode", "mode"),
            d.mode,
            lang.pick("link", "liaison"),
            d.link_state
        );
        if let Some(uri) = &d.video_uri {
            let _ = write!(s, "\n{} {uri}", lang.pick("feed", "flux"));
        }
        for w in &d.warnings {
            let _ = write!(s, "\n! {w}");
        }
    }
    if let Some(p) = &u.patrol {
        let connected = match (lang, p.connected) {
            (Lang::En, true) => "connected",
            (Lang::En, false) => "disconnected",
            (Lang::Fr, true) => "connectée",
            (Lang::Fr, false) => "déconnectée",
        };
        let _ = write!(s, "\n{} {}, {connected}", lang.pick("role", "rôle"), p.role);
        if let Some(q) = p.link_quality {
            let _ = write!(s, ", {} {:.0} %", lang.pick("link", "liaison"), q * 100.0);
        }
    }
    match u.last_seen_ms {
        Some(t) => {
            let secs = (at_ms - t).max(0) as f64 / 1000.0;
            let _ = match lang {
                Lang::En => write!(s, "\nlast seen {secs:.1} s ago"),
                Lang::Fr => write!(s, "\nvue il y a {secs:.1} s"),
            };
        }
        None => s.push_str(lang.pick("\nnever heard from", "\njamais entendue")),
    }
    let _ = write!(s, "\n{} {}", lang.pick("source", "source"), u.source);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_units_card_says_its_order_or_where_it_is_suggested() {
        use crate::scene::{Incident, Picture};
        use vigie_protocols::api::{Position, UnitStatus};
        let mut scene = Scene::empty("t", 48.9, 2.36, 100.0);
        scene.incidents.push(Incident {
            id: "incident:7".into(),
            title: "#7 crowd (high, open)".into(),
            position: [0.0, 0.0],
            suggested: vec!["P1".into(), "P2".into()],
            assigned: vec!["P1".into()],
        });
        let unit = |id: &str| Unit {
            position: Some(Position {
                lat_deg: 48.9,
                lon_deg: 2.36,
                ..Position::default()
            }),
            ..Unit::new(id, UnitKind::Patrol, UnitStatus::EnRoute, "t")
        };
        let mut state = UnitsState::default();
        state.apply(
            &scene,
            Picture {
                at_ms: 0,
                units: vec![unit("P1"), unit("P2"), unit("P3")],
                tracks: Vec::new(),
                ground: None,
            },
        );
        let card = |id, lang| details(&scene, &state, id, lang).expect("a card");
        assert!(
            card("P1", Lang::En).contains("order: #7 crowd"),
            "{}",
            card("P1", Lang::En)
        );
        assert!(card("P1", Lang::Fr).contains("ordre : #7 crowd"));
        assert!(card("P2", Lang::En).contains("suggested for #7"));
        assert!(!card("P2", Lang::En).contains("order:"));
        assert!(!card("P3", Lang::En).contains("#7"));
    }

    #[test]
    fn help_lists_every_key_in_both_languages() {
        for lang in [Lang::En, Lang::Fr] {
            let h = help_text(lang);
            for layer in Layer::ALL {
                assert!(
                    h.contains(layer.name()),
                    "{lang:?} help lacks {}",
                    layer.name()
                );
            }
            assert!(h.contains("Ctrl+S") && h.contains("T "));
        }
        assert!(help_text(Lang::Fr).contains("Couches"));
        assert!(help_text(Lang::En).contains("Layers"));
        assert_ne!(help_text(Lang::Fr), help_text(Lang::En));
    }
}
