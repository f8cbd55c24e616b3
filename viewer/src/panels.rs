//! Text overlays: the status bar, the details panel of the selection, the
//! find prompt and the help overlay listing every key.

use std::fmt::Write as _;

use bevy::prelude::*;
use vigie_protocols::api::{Unit, UnitKind};

use crate::controls::{FindPrompt, Selection};
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
pub fn setup(mut commands: Commands) {
    commands.spawn((
        StatusBar,
        panel(Node {
            top: px(6),
            left: px(6),
            ..default()
        }),
    ));
    commands.spawn((
        DetailsPanel,
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
        .insert(Text::new(help_text()));
    commands.spawn((
        PromptLine,
        Visibility::Hidden,
        panel(Node {
            bottom: px(6),
            left: px(6),
            ..default()
        }),
    ));
}

/// The help overlay's text: every key, every layer.
pub fn help_text() -> String {
    let mut s = String::from(
        "Vigie viewer: keys\n\
         \n\
         Mouse left drag      orbit\n\
         Mouse right/middle   pan\n\
         Mouse wheel          zoom\n\
         Click                select a unit, camera or incident\n\
         W A S D / arrows     pan\n\
         Q / E                turn left / right\n\
         R / F                tilt up / down\n\
         + / -                zoom in / out\n\
         Home                 overview\n\
         C                    centre on the selection\n\
         / or Ctrl+F          find a unit by id or name (Enter, Esc)\n\
         Space                pause / resume the scenario or replay clock\n\
         [ / ]                replay: back / forward 10 s (Shift: 1 min)\n\
         , / .                replay: half / double speed\n\
         Click the bottom bar replay: seek there (drag to scrub)\n\
         Esc                  clear the selection, close help\n\
         H or F1              this help\n\
         \n\
         Plan mode (vigie view --plan EVENT)\n\
         Click / drag an item select it / move it on the ground\n\
         N / P / K            add a drone station / patrol post / camera at the cursor\n\
         Delete, Backspace, X remove the selected item\n\
         Ctrl+Z or U          undo the last edit (a whole drag is one edit)\n\
         Page Up / Page Down  selected station 10 m higher / lower (120 m ceiling)\n\
         L                    lock / unlock the selected item (the planner keeps it)\n\
         G                    run the planner (replaces unlocked items)\n\
         Ctrl+S               save the plan (GeoJSON, as vigie plan --out)\n\
         \n\
         Layers\n",
    );
    for layer in Layer::ALL {
        let _ = writeln!(s, "{:<20} {}", layer.key().1, layer.name());
    }
    s.push_str("\nPrivacy masks are always blacked out.");
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
    mut q: ParamSet<(
        Query<(&mut Text, &mut Visibility), With<StatusBar>>,
        Query<(&mut Text, &mut Visibility), With<DetailsPanel>>,
        Query<&mut Visibility, With<HelpOverlay>>,
        Query<(&mut Text, &mut Visibility), With<PromptLine>>,
    )>,
) {
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
            "{} | {} | {} drones, {} patrols, {} cameras",
            scene.0.name,
            source.0.describe(),
            drones,
            patrols,
            scene.0.cameras.len()
        );
        if let (true, Some(f)) = (layers.shown(Layer::HeatMap), stats.fraction) {
            let _ = write!(
                s,
                " | event zones covered {:.0} %, {} gap cells",
                f * 100.0,
                stats.gaps
            );
        }
        s.push_str(" | H: help");
        set(&mut text, s);
    }
    for (mut text, mut v) in &mut q.p1() {
        let details = selection
            .id
            .as_deref()
            .and_then(|id| details(&scene.0, &state, id));
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
            Some(format!("find: {}_", prompt.text))
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

/// The details panel's text for an id, `None` when it no longer exists.
pub fn details(scene: &Scene, state: &UnitsState, id: &str) -> Option<String> {
    if let Some((u, p)) = state.units.get(id) {
        return Some(unit_details(u, p.alt_m, state.at_ms));
    }
    if let Some(c) = scene.cameras.iter().find(|c| c.id == id) {
        return Some(format!(
            "{}\n{}\nfixed camera, {} network\nmount {:.0} m, heading {:.0} deg, tilt {:.0} deg\nfield of view {:.0} deg, range {:.0} m",
            c.id,
            c.name,
            c.owner.as_str(),
            c.height_m,
            c.heading_deg,
            c.tilt_deg,
            c.hfov_deg,
            c.range_m
        ));
    }
    let i = scene.incidents.iter().find(|i| i.id == id)?;
    let mut s = format!("incident {}\n{}\nsuggested:", i.id, i.title);
    for u in &i.suggested {
        let status = state
            .units
            .get(u)
            .map_or("not in the picture", |(u, _)| u.status.as_str());
        let _ = write!(s, "\n  {u} ({status})");
    }
    Some(s)
}

fn unit_details(u: &Unit, alt_m: f64, at_ms: i64) -> String {
    let mut s = u.id.clone();
    if let Some(name) = &u.name {
        let _ = write!(s, "\n{name}");
    }
    let _ = write!(s, "\n{} - {}", u.kind.as_str(), u.status.as_str());
    if let Some(p) = u.position {
        let _ = write!(s, "\n{:.6}, {:.6}", p.lat_deg, p.lon_deg);
        if u.kind == UnitKind::Drone {
            let _ = write!(s, "  alt {alt_m:.0} m");
        }
        if let Some(h) = p.heading_deg {
            let _ = write!(s, "  hdg {h:.0} deg");
        }
        if let Some(v) = p.speed_m_s {
            let _ = write!(s, "  {v:.1} m/s");
        }
    }
    if let Some(d) = &u.drone {
        let battery = d
            .battery_pct
            .map_or("unknown".to_owned(), |b| format!("{b:.0} %"));
        let _ = write!(
            s,
            "\nbattery {battery}\nmode {} {}, link {}",
            d.mode,
            if d.armed { "armed" } else { "disarmed" },
            d.link_state
        );
        if let Some(uri) = &d.video_uri {
            let _ = write!(s, "\nfeed {uri}");
        }
        for w in &d.warnings {
            let _ = write!(s, "\n! {w}");
        }
    }
    if let Some(p) = &u.patrol {
        let _ = write!(
            s,
            "\nrole {}, {}",
            p.role,
            if p.connected {
                "connected"
            } else {
                "disconnected"
            }
        );
        if let Some(q) = p.link_quality {
            let _ = write!(s, ", link {:.0} %", q * 100.0);
        }
    }
    match u.last_seen_ms {
        Some(t) => {
            let _ = write!(
                s,
                "\nlast seen {:.1} s ago",
                (at_ms - t).max(0) as f64 / 1000.0
            );
        }
        None => s.push_str("\nnever heard from"),
    }
    let _ = write!(s, "\nsource {}", u.source);
    s
}
