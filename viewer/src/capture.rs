//! Screenshot runs: wait for the first picture and a few frames (assets,
//! pipelines), capture the window through Bevy's screenshot machinery, save
//! a PNG, exit. A user's `--screenshot` and the tests run this same code.
//!
//! A run that has nothing to show fails with the reason and saves nothing:
//! a source that gave no picture (a live server never reached, refused
//! credentials: the source's own last error is quoted), or a capture in
//! which every pixel is the same colour (nothing was drawn).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use bevy::render::render_resource::PipelineCache;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::render::{Render, RenderApp, RenderSystems};

use crate::units::{Orbit, SourceRes, UnitsState};

/// Frames rendered after the first picture before capturing: meshes upload
/// over the first frames.
const WARMUP_FRAMES: u32 = 8;
/// Consecutive frames with no render pipeline still compiling before
/// capturing: shaders compile asynchronously (slowly on a software
/// renderer), and a mesh whose pipeline is not ready is silently not drawn.
const IDLE_FRAMES: u32 = 4;
/// Frames to wait for a first picture (a live server may be slow to
/// answer); without one by then, the run fails with the source's reason.
const PICTURE_WAIT_FRAMES: u32 = 300;
/// Frames after which a capture that never completed is an error.
const GIVE_UP_FRAMES: u32 = 1_500;

/// State of a screenshot run.
#[derive(Resource)]
pub struct Capture {
    /// Where the PNG goes.
    path: PathBuf,
    /// Frames seen so far.
    frames: u32,
    /// Frame at which the scene was ready (first picture, or waited enough).
    ready_at: Option<u32>,
    /// Whether the screenshot was requested.
    requested: bool,
    /// Set by the observer once the PNG is written (or failed).
    outcome: Arc<Mutex<Option<Result<(), String>>>>,
    /// Set by the render world each frame: no pipeline waits to compile.
    pipelines_ready: Arc<AtomicBool>,
    /// Consecutive frames with every pipeline ready.
    ready_streak: u32,
}

/// The render world's side of [`Capture::pipelines_ready`].
#[derive(Resource)]
struct PipelinesReady(Arc<AtomicBool>);

/// Adds the capture to an app: the main-world driver and the render-world
/// watch over pipeline compilation.
pub fn install(app: &mut App, path: PathBuf) {
    let capture = Capture::new(path);
    let ready = capture.pipelines_ready.clone();
    app.insert_resource(capture)
        .add_systems(Last, self::capture);
    if let Some(render) = app.get_sub_app_mut(RenderApp) {
        render
            .insert_resource(PipelinesReady(ready))
            .add_systems(Render, watch_pipelines.in_set(RenderSystems::Cleanup));
    }
}

fn watch_pipelines(cache: Res<PipelineCache>, ready: Res<PipelinesReady>) {
    let idle = cache.waiting_pipelines().next().is_none() && cache.pipelines().next().is_some();
    ready.0.store(idle, Ordering::Relaxed);
}

impl Capture {
    /// A capture to `path`.
    fn new(path: PathBuf) -> Capture {
        Capture {
            path,
            frames: 0,
            ready_at: None,
            requested: false,
            outcome: Arc::new(Mutex::new(None)),
            pipelines_ready: Arc::new(AtomicBool::new(false)),
            ready_streak: 0,
        }
    }

    /// The result, once known.
    pub fn outcome(&self) -> Option<Result<(), String>> {
        self.outcome.lock().ok()?.clone()
    }

    /// Where the result will be, readable after the app has run (the
    /// window's runner may not hand the app's world back).
    pub fn outcome_slot(&self) -> Arc<Mutex<Option<Result<(), String>>>> {
        self.outcome.clone()
    }
}

/// Drives the capture; runs last in each frame.
fn capture(
    mut commands: Commands,
    mut capture: ResMut<Capture>,
    state: Res<UnitsState>,
    source: Res<SourceRes>,
    orbit: Res<Orbit>,
    mut exit: MessageWriter<AppExit>,
) {
    capture.frames += 1;
    if let Some(outcome) = capture.outcome() {
        exit.write(match outcome {
            Ok(()) => AppExit::Success,
            Err(_) => AppExit::error(),
        });
        return;
    }
    if capture.frames > GIVE_UP_FRAMES {
        if let Ok(mut o) = capture.outcome.lock() {
            *o = Some(Err(format!(
                "no frame was captured after {GIVE_UP_FRAMES} frames: is a Vulkan driver (Mesa lavapipe) installed and WGPU_BACKEND=vulkan set?"
            )));
        }
        return;
    }
    if capture.ready_at.is_none() {
        if state.pictures > 0 {
            capture.ready_at = Some(capture.frames);
        } else if capture.frames >= PICTURE_WAIT_FRAMES {
            let reason = format!(
                "no picture to capture after {PICTURE_WAIT_FRAMES} frames ({}); nothing was saved",
                source.0.describe()
            );
            tracing::error!("{reason}");
            if let Ok(mut o) = capture.outcome.lock() {
                *o = Some(Err(reason));
            }
            return;
        }
    }
    if capture.pipelines_ready.load(Ordering::Relaxed) {
        capture.ready_streak += 1;
    } else {
        capture.ready_streak = 0;
    }
    let Some(ready) = capture.ready_at else {
        return;
    };
    if !capture.requested
        && capture.frames >= ready + WARMUP_FRAMES
        && capture.ready_streak >= IDLE_FRAMES
    {
        capture.requested = true;
        let (path, outcome) = (capture.path.clone(), capture.outcome.clone());
        let view = orbit.0;
        commands.spawn(Screenshot::primary_window()).observe(
            move |captured: On<ScreenshotCaptured>| {
                let result = save_png(&captured.image, &path);
                match &result {
                    // The view, as --view takes it: the picture can be taken again.
                    Ok(()) => {
                        tracing::info!("screenshot saved to {} (view: {view})", path.display())
                    }
                    Err(e) => tracing::error!("{e}"),
                }
                if let Ok(mut o) = outcome.lock() {
                    *o = Some(result);
                }
            },
        );
    }
}

/// Why a captured picture shows nothing, when every pixel is one colour
/// (the sky or the clear colour: no ground, no layer was drawn).
pub fn drew_nothing(rgb: &image::RgbImage) -> Option<String> {
    let first = *rgb.pixels().next()?;
    rgb.pixels().all(|p| *p == first).then(|| {
        format!(
            "the view drew nothing: every pixel is #{:02x}{:02x}{:02x} (nothing in view: check the scene, --origin and --layers); nothing was saved",
            first[0], first[1], first[2]
        )
    })
}

/// Writes a captured image as an RGB PNG, unless it shows nothing.
fn save_png(image: &Image, path: &Path) -> Result<(), String> {
    let rgb = image
        .clone()
        .try_into_dynamic()
        .map_err(|e| format!("captured image has an unexpected format: {e}"))?
        .to_rgb8();
    if let Some(reason) = drew_nothing(&rgb) {
        return Err(reason);
    }
    rgb.save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| {
            format!(
                "cannot write {}: {e} (check the directory exists and is writable)",
                path.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_of_one_colour_drew_nothing_and_one_pixel_more_is_a_picture() {
        let mut img = image::RgbImage::from_pixel(64, 36, image::Rgb([135, 190, 235]));
        let reason = drew_nothing(&img).expect("one colour is nothing drawn");
        assert!(reason.contains("#87beeb"), "{reason}");
        img.put_pixel(10, 10, image::Rgb([20, 20, 20]));
        assert_eq!(drew_nothing(&img), None);
    }
}
