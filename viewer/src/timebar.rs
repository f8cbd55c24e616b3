//! The replay timeline bar: the recording from start to end along the
//! bottom of the window, the part already played, the current position,
//! keyframe ticks and an activity histogram (units changed per slice).
//! Clicking or dragging on the bar seeks there.

use bevy::prelude::*;

use crate::controls::MouseGrab;
use crate::source::Source;
use crate::units::SourceRes;

/// Gap between the bar and the window's left, right and bottom edges, pixels.
const MARGIN_PX: f32 = 6.0;
/// Height above the bottom edge of the bar's bottom, pixels (leaves room for
/// the find prompt below it).
const BOTTOM_PX: f32 = 30.0;
/// Height of the bar, pixels.
const HEIGHT_PX: f32 = 22.0;
/// Slices of the activity histogram.
const BINS: usize = 120;
/// Most keyframe ticks drawn (every n-th beyond that).
const MAX_TICKS: usize = 120;

/// The bar's background.
#[derive(Component)]
pub struct TimeBar;
/// The played part.
#[derive(Component)]
pub struct TimeBarPlayed;
/// The current position's marker.
#[derive(Component)]
pub struct TimeBarCursor;

/// Whether a seek drag on the bar is in progress.
#[derive(Resource, Default)]
pub struct Scrubbing(bool);

/// Adds the bar to an app whose source is a replay.
pub fn install(app: &mut App) {
    app.init_resource::<Scrubbing>()
        .add_systems(Startup, setup)
        .add_systems(
            Update,
            (seek.before(crate::controls::mouse), update).after(crate::units::poll_source),
        );
}

/// Where on the bar (0..1) a cursor x lands, if the cursor is on the bar.
pub fn bar_fraction(window_w: f32, window_h: f32, cursor: Vec2, scrubbing: bool) -> Option<f32> {
    let (x0, x1) = (MARGIN_PX, window_w - MARGIN_PX);
    let (y1, y0) = (window_h - BOTTOM_PX, window_h - BOTTOM_PX - HEIGHT_PX);
    let on = cursor.x >= x0 && cursor.x <= x1 && cursor.y >= y0 && cursor.y <= y1;
    (on || scrubbing).then(|| ((cursor.x - x0) / (x1 - x0).max(1.0)).clamp(0.0, 1.0))
}

fn setup(mut commands: Commands, source: Res<SourceRes>) {
    let Source::Replay(r) = &source.0 else {
        return;
    };
    let (a, b) = r.span();
    let len = (b - a).max(1) as f32;
    let activity = r.activity(BINS);
    let peak = activity.iter().copied().max().unwrap_or(0).max(1) as f32;
    let keyframes = r.keyframes();
    let every = keyframes.len().div_ceil(MAX_TICKS).max(1);
    commands
        .spawn((
            TimeBar,
            Node {
                position_type: PositionType::Absolute,
                left: px(MARGIN_PX),
                right: px(MARGIN_PX),
                bottom: px(BOTTOM_PX),
                height: px(HEIGHT_PX),
                ..default()
            },
            BackgroundColor(Color::srgba(0.05, 0.06, 0.08, 0.78)),
        ))
        .with_children(|bar| {
            bar.spawn((
                TimeBarPlayed,
                Node {
                    position_type: PositionType::Absolute,
                    left: percent(0),
                    top: px(0),
                    bottom: px(0),
                    width: percent(0),
                    ..default()
                },
                BackgroundColor(Color::srgba(0.3, 0.55, 0.9, 0.35)),
            ));
            for (k, n) in activity.iter().enumerate().filter(|(_, n)| **n > 0) {
                let h = (HEIGHT_PX - 4.0) * (*n as f32 / peak).sqrt().max(0.1);
                bar.spawn((
                    Node {
                        position_type: PositionType::Absolute,
                        left: percent(100.0 * k as f32 / BINS as f32),
                        width: percent(100.0 / BINS as f32),
                        bottom: px(0),
                        height: px(h),
                        ..default()
                    },
                    BackgroundColor(Color::srgba(1.0, 0.8, 0.3, 0.55)),
                ));
            }
            for t in keyframes.iter().step_by(every) {
                bar.spawn((
                    Node {
                        position_type: PositionType::Absolute,
                        left: percent(100.0 * (t - a) as f32 / len),
                        width: px(1),
                        top: px(0),
                        height: px(4),
                        ..default()
                    },
                    BackgroundColor(Color::srgba(1.0, 1.0, 1.0, 0.6)),
                ));
            }
            bar.spawn((
                TimeBarCursor,
                Node {
                    position_type: PositionType::Absolute,
                    left: percent(0),
                    width: px(3),
                    top: px(-3),
                    bottom: px(-3),
                    ..default()
                },
                BackgroundColor(Color::srgb(1.0, 1.0, 0.2)),
            ));
        });
}

/// A press on the bar seeks there, and dragging keeps seeking; the press
/// neither orbits nor selects.
fn seek(
    buttons: Res<ButtonInput<MouseButton>>,
    windows: Query<&Window>,
    mut source: ResMut<SourceRes>,
    mut scrubbing: ResMut<Scrubbing>,
    mut grab: ResMut<MouseGrab>,
) {
    let Source::Replay(r) = &mut source.0 else {
        return;
    };
    let Some(window) = windows.iter().next() else {
        return;
    };
    if buttons.just_pressed(MouseButton::Left)
        && let Some(c) = window.cursor_position()
        && bar_fraction(window.width(), window.height(), c, false).is_some()
    {
        scrubbing.0 = true;
        grab.0 = true;
    }
    if scrubbing.0 {
        if let Some(c) = window.cursor_position()
            && let Some(f) = bar_fraction(window.width(), window.height(), c, true)
        {
            let (a, b) = r.span();
            let at = a + ((b - a) as f64 * f64::from(f)).round() as i64;
            if at != r.time_ms() {
                r.seek_to(at);
            }
        }
        if !buttons.pressed(MouseButton::Left) {
            scrubbing.0 = false;
            grab.0 = false;
        }
    }
}

/// Moves the played part and the cursor to the clock.
fn update(
    source: Res<SourceRes>,
    mut played: Query<&mut Node, (With<TimeBarPlayed>, Without<TimeBarCursor>)>,
    mut cursor: Query<&mut Node, (With<TimeBarCursor>, Without<TimeBarPlayed>)>,
) {
    let Source::Replay(r) = &source.0 else {
        return;
    };
    let f = (r.fraction() * 100.0) as f32;
    for mut n in &mut played {
        if n.width != percent(f) {
            n.width = percent(f);
        }
    }
    for mut n in &mut cursor {
        let left = percent(f);
        if n.left != left {
            n.left = left;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_maps_its_width_to_the_recording_and_ignores_clicks_elsewhere() {
        let (w, h) = (1000.0, 500.0);
        let y = h - BOTTOM_PX - HEIGHT_PX / 2.0;
        assert_eq!(
            bar_fraction(w, h, Vec2::new(MARGIN_PX, y), false),
            Some(0.0)
        );
        assert_eq!(
            bar_fraction(w, h, Vec2::new(w - MARGIN_PX, y), false),
            Some(1.0)
        );
        assert_eq!(bar_fraction(w, h, Vec2::new(w / 2.0, y), false), Some(0.5));
        assert_eq!(bar_fraction(w, h, Vec2::new(w / 2.0, 100.0), false), None);
        // While scrubbing, the cursor may leave the bar and is clamped.
        assert_eq!(bar_fraction(w, h, Vec2::new(-50.0, 100.0), true), Some(0.0));
    }
}
