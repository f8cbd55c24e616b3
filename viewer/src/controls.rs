//! The operator's input: orbit, pan and zoom with mouse and keys, layer
//! toggles, clicking a unit, finding a unit by id, help, pause.

use bevy::input::ButtonState;
use bevy::input::keyboard::{Key, KeyboardInput};
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;
use vigie_protocols::api::UnitKind;

use crate::layers::{Layer, Layers};
use crate::scene::Scene;
use crate::units::{Orbit, SceneRes, SourceRes, UnitsState};
use crate::view::{OrbitView, world};

/// Largest distance from the cursor at which a click selects, pixels.
const PICK_RADIUS_PX: f32 = 14.0;
/// Mouse travel under which a press and release is a click, not a drag.
const CLICK_SLOP_PX: f32 = 4.0;
/// Orbit speed with the mouse, degrees per pixel.
const ORBIT_DEG_PER_PX: f32 = 0.3;
/// Orbit speed with the keys, degrees per second.
const ORBIT_DEG_PER_S: f32 = 60.0;

/// What is selected: a unit, camera or incident id.
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub struct Selection {
    /// Selected id.
    pub id: Option<String>,
    /// Whether the help overlay is shown.
    pub help: bool,
}

impl Selection {
    /// World position of the selected thing, if it still exists.
    pub fn position(&self, scene: &Scene, state: &UnitsState) -> Option<Vec3> {
        let id = self.id.as_deref()?;
        if let Some((_, p)) = state.units.get(id) {
            let alt = if p.kind == UnitKind::Drone {
                p.alt_m
            } else {
                0.0
            };
            return Some(world(p.position, alt));
        }
        if let Some(c) = scene.cameras.iter().find(|c| c.id == id) {
            return Some(world(c.position, c.height_m));
        }
        scene
            .incidents
            .iter()
            .find(|i| i.id == id)
            .map(|i| world(i.position, 0.0))
    }
}

/// The find-by-id prompt.
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub struct FindPrompt {
    /// Whether the prompt is open and takes the keyboard.
    pub open: bool,
    /// Text typed so far.
    pub text: String,
    /// Result of the last search, for the prompt line.
    pub message: Option<String>,
}

/// Every id and label the viewer can find: units, cameras, incidents.
fn candidates<'a>(
    scene: &'a Scene,
    state: &'a UnitsState,
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    state
        .units
        .values()
        .map(|(u, _)| (u.id.as_str(), u.name.as_deref().unwrap_or("")))
        .chain(
            scene
                .cameras
                .iter()
                .map(|c| (c.id.as_str(), c.name.as_str())),
        )
        .chain(
            scene
                .incidents
                .iter()
                .map(|i| (i.id.as_str(), i.title.as_str())),
        )
}

/// Finds an id: exact id first, then the first id or label containing the
/// text (case-insensitive).
pub fn find<'a>(scene: &'a Scene, state: &'a UnitsState, text: &str) -> Option<&'a str> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Some((id, _)) = candidates(scene, state).find(|(id, _)| *id == text) {
        return Some(id);
    }
    let lower = text.to_lowercase();
    candidates(scene, state)
        .find(|(id, label)| {
            id.to_lowercase().contains(&lower) || label.to_lowercase().contains(&lower)
        })
        .map(|(id, _)| id)
}

/// Keys: layers, help, find prompt, pause, keyboard orbit/pan/zoom.
#[allow(clippy::too_many_arguments)]
pub fn keyboard(
    keys: Res<ButtonInput<KeyCode>>,
    mut typed: MessageReader<KeyboardInput>,
    time: Res<Time<Real>>,
    scene: Res<SceneRes>,
    state: Res<UnitsState>,
    mut layers: ResMut<Layers>,
    mut selection: ResMut<Selection>,
    mut prompt: ResMut<FindPrompt>,
    mut orbit: ResMut<Orbit>,
    mut source: ResMut<SourceRes>,
    windows: Query<&Window>,
) {
    if prompt.open {
        for k in typed.read() {
            if k.state != ButtonState::Pressed {
                continue;
            }
            match &k.logical_key {
                Key::Enter => {
                    prompt.open = false;
                    match find(&scene.0, &state, &prompt.text) {
                        Some(id) => {
                            selection.id = Some(id.to_owned());
                            if let Some(at) = selection.position(&scene.0, &state) {
                                orbit.0.target = Vec3::new(at.x, 0.0, at.z);
                            }
                            prompt.message = None;
                        }
                        None => {
                            prompt.message = Some(format!("no unit matches {:?}", prompt.text));
                        }
                    }
                }
                Key::Escape => prompt.open = false,
                Key::Backspace => {
                    prompt.text.pop();
                }
                Key::Character(c) => prompt.text.push_str(c),
                Key::Space => prompt.text.push(' '),
                _ => {}
            }
        }
        return;
    }
    typed.clear();
    for layer in Layer::ALL {
        if keys.just_pressed(layer.key().0) {
            layers.toggle(layer);
        }
    }
    if keys.just_pressed(KeyCode::KeyH) || keys.just_pressed(KeyCode::F1) {
        selection.help = !selection.help;
    }
    let ctrl = keys.any_pressed([KeyCode::ControlLeft, KeyCode::ControlRight]);
    if keys.just_pressed(KeyCode::Slash) || (ctrl && keys.just_pressed(KeyCode::KeyF)) {
        prompt.open = true;
        prompt.text.clear();
        prompt.message = None;
    }
    if keys.just_pressed(KeyCode::Escape) {
        selection.id = None;
        selection.help = false;
    }
    if keys.just_pressed(KeyCode::Space) {
        source.0.toggle_pause();
    }
    // Replay: seek 10 s (a minute with Shift), halve or double the speed.
    let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    let jump_ms = if shift { 60_000 } else { 10_000 };
    if keys.just_pressed(KeyCode::BracketLeft) {
        source.0.seek(-jump_ms);
    }
    if keys.just_pressed(KeyCode::BracketRight) {
        source.0.seek(jump_ms);
    }
    if keys.just_pressed(KeyCode::Comma) {
        source.0.scale_speed(0.5);
    }
    if keys.just_pressed(KeyCode::Period) {
        source.0.scale_speed(2.0);
    }
    if keys.just_pressed(KeyCode::Home) {
        let size = windows
            .iter()
            .next()
            .map_or((1280, 720), |w| (w.physical_width(), w.physical_height()));
        orbit.0 = refit(&scene.0, &state, orbit.0, size);
    }
    if keys.just_pressed(KeyCode::KeyT) && !ctrl {
        orbit.0.top_down = !orbit.0.top_down;
    }
    if keys.just_pressed(KeyCode::KeyC)
        && let Some(at) = selection.position(&scene.0, &state)
    {
        orbit.0.target = Vec3::new(at.x, 0.0, at.z);
    }
    let dt = time.delta_secs();
    let axis = |neg: &[KeyCode], pos: &[KeyCode]| {
        let n = if keys.any_pressed(neg.iter().copied()) {
            1.0
        } else {
            0.0
        };
        let p = if keys.any_pressed(pos.iter().copied()) {
            1.0
        } else {
            0.0
        };
        p - n
    };
    let right = axis(
        &[KeyCode::KeyA, KeyCode::ArrowLeft],
        &[KeyCode::KeyD, KeyCode::ArrowRight],
    );
    let ahead = axis(
        &[KeyCode::KeyS, KeyCode::ArrowDown],
        &[KeyCode::KeyW, KeyCode::ArrowUp],
    );
    let turn = axis(&[KeyCode::KeyQ], &[KeyCode::KeyE]);
    let tilt = axis(&[KeyCode::KeyF], &[KeyCode::KeyR]);
    let zoom = axis(
        &[KeyCode::Equal, KeyCode::NumpadAdd],
        &[KeyCode::Minus, KeyCode::NumpadSubtract],
    );
    if (right != 0.0 || ahead != 0.0) && !ctrl {
        let speed = orbit.0.distance_m * 0.8 * dt;
        orbit.0.pan(right * speed, ahead * speed);
    }
    if (turn != 0.0 || tilt != 0.0) && !ctrl {
        orbit
            .0
            .orbit(turn * ORBIT_DEG_PER_S * dt, tilt * ORBIT_DEG_PER_S * dt);
    }
    if zoom != 0.0 {
        orbit.0.zoom((1.0 + zoom * 1.5 * dt).max(0.1));
    }
}

/// The view framing the site and every unit in the picture, in `mode`'s
/// projection, heading and pitch (the refit key).
pub fn refit(scene: &Scene, state: &UnitsState, mode: OrbitView, size: (u32, u32)) -> OrbitView {
    scene.framing(
        mode,
        state.units.values().map(|(_, p)| p.position),
        size.0,
        size.1,
    )
}

/// A view that started with nothing to frame (a live view before its first
/// picture), holding the view it started on: it frames the picture once
/// the picture has something, unless the operator moved it first.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct AutoFit(pub Option<OrbitView>);

/// Frames the live picture once it has content (see [`AutoFit`]).
pub fn auto_fit(
    mut fit: ResMut<AutoFit>,
    scene: Res<SceneRes>,
    state: Res<UnitsState>,
    windows: Query<&Window>,
    mut orbit: ResMut<Orbit>,
) {
    let Some(started) = fit.0 else {
        return;
    };
    if orbit.0 != started {
        fit.0 = None;
        return;
    }
    if scene.0.interest([]).is_none() && state.units.is_empty() {
        return;
    }
    let size = windows
        .iter()
        .next()
        .map_or((1280, 720), |w| (w.physical_width(), w.physical_height()));
    orbit.0 = refit(&scene.0, &state, orbit.0, size);
    fit.0 = None;
}

/// Set while plan mode drags an item with the left button: the mouse then
/// neither orbits nor selects.
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct MouseGrab(pub bool);

/// A click waiting to be resolved into a selection, cursor pixels.
#[derive(Resource, Default)]
pub struct Click(pub Option<Vec2>);

/// Mouse: left drag orbits, right or middle drag pans, the wheel zooms, a
/// left click (no drag) selects.
#[allow(clippy::too_many_arguments)]
pub fn mouse(
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    windows: Query<&Window>,
    grab: Res<MouseGrab>,
    mut orbit: ResMut<Orbit>,
    mut dragged: Local<f32>,
    mut commands: Commands,
) {
    let Some(window) = windows.iter().next() else {
        return;
    };
    let d = motion.delta;
    if grab.0 {
        *dragged = f32::MAX;
        return;
    }
    if buttons.just_pressed(MouseButton::Left) {
        *dragged = 0.0;
    }
    if buttons.pressed(MouseButton::Left) {
        *dragged += d.length();
        if d != Vec2::ZERO {
            orbit
                .0
                .orbit(d.x * ORBIT_DEG_PER_PX, d.y * ORBIT_DEG_PER_PX);
        }
    }
    if buttons.just_released(MouseButton::Left) && *dragged < CLICK_SLOP_PX {
        commands.insert_resource(Click(window.cursor_position()));
    }
    if buttons.any_pressed([MouseButton::Right, MouseButton::Middle]) && d != Vec2::ZERO {
        let m_per_px = orbit.0.metres_per_px(orbit.0.target, window.height());
        orbit.0.pan(-d.x * m_per_px, d.y * m_per_px);
    }
    let lines = match scroll.unit {
        MouseScrollUnit::Line => scroll.delta.y,
        MouseScrollUnit::Pixel => scroll.delta.y / 40.0,
    };
    if lines != 0.0 {
        orbit.0.zoom(0.88f32.powf(lines));
    }
}

/// Resolves a click into the nearest unit, camera or incident on screen.
pub fn pick(
    mut commands: Commands,
    click: Option<Res<Click>>,
    scene: Res<SceneRes>,
    state: Res<UnitsState>,
    layers: Res<Layers>,
    cameras: Query<(&Camera, &GlobalTransform)>,
    mut selection: ResMut<Selection>,
) {
    let Some(at) = click.and_then(|c| c.0) else {
        return;
    };
    commands.remove_resource::<Click>();
    let Some((camera, eye)) = cameras.iter().next() else {
        return;
    };
    let scene = &scene.0;
    let units = state.units.values().filter_map(|(u, p)| {
        let layer = if p.kind == UnitKind::Drone {
            Layer::Drones
        } else {
            Layer::Patrols
        };
        let alt = if p.kind == UnitKind::Drone {
            p.alt_m
        } else {
            0.0
        };
        layers
            .shown(layer)
            .then(|| (u.id.as_str(), world(p.position, alt)))
    });
    let cams = scene
        .cameras
        .iter()
        .filter(|_| layers.shown(Layer::Cameras))
        .map(|c| (c.id.as_str(), world(c.position, c.height_m)));
    let incidents = scene
        .incidents
        .iter()
        .filter(|_| layers.shown(Layer::Incidents))
        .map(|i| (i.id.as_str(), world(i.position, 7.0)));
    let best = units
        .chain(cams)
        .chain(incidents)
        .filter_map(|(id, p)| {
            let px = camera.world_to_viewport(eye, p).ok()?;
            Some((id, px.distance(at)))
        })
        .filter(|(_, d)| *d <= PICK_RADIUS_PX)
        .min_by(|a, b| a.1.total_cmp(&b.1));
    selection.id = best.map(|(id, _)| id.to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::Picture;
    use vigie_protocols::api::{Position, Unit, UnitStatus};

    #[test]
    fn find_prefers_exact_ids_then_substrings_of_ids_and_names() {
        let scene = Scene::empty("t", 48.9, 2.36, 100.0);
        let unit = |id: &str, name: &str| Unit {
            name: Some(name.into()),
            position: Some(Position {
                lat_deg: 48.9,
                lon_deg: 2.36,
                ..Position::default()
            }),
            ..Unit::new(id, UnitKind::Patrol, UnitStatus::Available, "t")
        };
        let mut state = UnitsState::default();
        state.apply(
            &scene,
            Picture {
                at_ms: 0,
                units: vec![unit("patrol-1", "Alpha"), unit("patrol-12", "Bravo")],
                tracks: Vec::new(),
                ground: None,
            },
        );
        assert_eq!(find(&scene, &state, "patrol-1"), Some("patrol-1"));
        assert_eq!(find(&scene, &state, "12"), Some("patrol-12"));
        assert_eq!(find(&scene, &state, "bravo"), Some("patrol-12"));
        assert_eq!(find(&scene, &state, "charlie"), None);
        assert_eq!(find(&scene, &state, "  "), None);
    }
}
