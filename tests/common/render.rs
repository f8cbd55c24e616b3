//! Running `vigie view --screenshot` under Xvfb and Mesa's lavapipe, and the
//! colour arithmetic that predicts what a pixel must be.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Largest difference per channel between expected and rendered colours
/// (dithering, blending precision).
pub const TOLERANCE: i32 = 12;

/// Whether `program` is on the `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Runs `vigie ARGS --screenshot OUT --size WxH` under `xvfb-run` with the
/// Vulkan backend, within `timeout`, and returns how it exited and what it
/// wrote on stderr.
pub fn run_screenshot<S: AsRef<OsStr>>(
    args: &[S],
    out: &Path,
    size: (u32, u32),
    timeout: Duration,
) -> (std::process::ExitStatus, String) {
    let _ = std::fs::remove_file(out);
    let mut child = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x720x24"])
        .arg(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .arg("--screenshot")
        .arg(out)
        .args(["--size", &format!("{}x{}", size.0, size.1)])
        .env("WGPU_BACKEND", "vulkan")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xvfb-run starts");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the viewer") {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            panic!("the viewer did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().expect("viewer output");
    (status, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// [`run_screenshot`], which must succeed, and the picture (checked to be
/// `size`).
pub fn screenshot<S: AsRef<OsStr>>(
    args: &[S],
    out: &Path,
    size: (u32, u32),
    timeout: Duration,
) -> image::RgbImage {
    let (status, stderr) = run_screenshot(args, out, size, timeout);
    assert!(status.success(), "vigie view failed ({status}):\n{stderr}");
    let img = image::open(out)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", out.display()))
        .to_rgb8();
    assert_eq!((img.width(), img.height()), size);
    img
}

/// [`screenshot`], and the view the viewer logged for it (`--view` form).
pub fn screenshot_and_view<S: AsRef<OsStr>>(
    args: &[S],
    out: &Path,
    size: (u32, u32),
    timeout: Duration,
) -> (image::RgbImage, String) {
    let (status, stderr) = run_screenshot(args, out, size, timeout);
    assert!(status.success(), "vigie view failed ({status}):\n{stderr}");
    let view = stderr
        .split("(view: ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no view logged:\n{stderr}"))
        .to_owned();
    let img = image::open(out)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", out.display()))
        .to_rgb8();
    assert_eq!((img.width(), img.height()), size);
    (img, view)
}

/// [`screenshot_and_view`] of a view the test predicted: fails unless the
/// viewer framed exactly `predicted`.
pub fn screenshot_of<S: AsRef<OsStr>>(
    args: &[S],
    out: &Path,
    size: (u32, u32),
    timeout: Duration,
    predicted: &impl std::fmt::Display,
) -> image::RgbImage {
    let (img, logged) = screenshot_and_view(args, out, size, timeout);
    assert_eq!(
        logged,
        predicted.to_string(),
        "the viewer framed another view than the test predicts"
    );
    img
}

fn to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn to_srgb(c: f32) -> f32 {
    if c <= 0.003_130_8 {
        c * 12.92
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    }
}

/// sRGB channels 0..1 as bytes.
pub fn bytes(rgb: [f32; 3]) -> [u8; 3] {
    rgb.map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8)
}

/// `top` with opacity `alpha` over `under`, blended in linear space as the
/// renderer does; sRGB in and out.
pub fn over(top: [f32; 3], alpha: f32, under: [f32; 3]) -> [f32; 3] {
    let mut out = [0.0; 3];
    for k in 0..3 {
        out[k] = to_srgb(alpha * to_linear(top[k]) + (1.0 - alpha) * to_linear(under[k]));
    }
    out
}

/// Whether two colours are within [`TOLERANCE`] on every channel.
pub fn close(actual: [u8; 3], expected: [u8; 3]) -> bool {
    (0..3).all(|k| (actual[k] as i32 - expected[k] as i32).abs() <= TOLERANCE)
}
