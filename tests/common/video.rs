//! A real H.264 source for video tests: x264 through Debian's ffmpeg, cut
//! into access units as a camera's encoder hands them out, and the tools
//! that check what was recorded (ffprobe, ffmpeg's framemd5).

use std::path::{Path, PathBuf};
use std::process::Command;

use vigie_ground::video::h264::{AccessUnit, nal};

use super::render::on_path;

/// Pictures in the test source.
pub const FRAMES: usize = 120;

/// Whether ffmpeg is missing (then `test` is skipped, or fails where the
/// environment says it is complete).
pub fn skip(test: &str) -> bool {
    if on_path("ffmpeg") && on_path("ffprobe") {
        return false;
    }
    super::skip::skip(
        test,
        "ffmpeg is not installed (apt-get install ffmpeg, or run scripts/test.sh)",
    );
    true
}

pub fn run(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A 4 s test pattern at 30 fps, 320x240, a keyframe a second, no
/// B-frames (as live encoders send), access unit delimiters on.
pub fn source(dir: &Path) -> PathBuf {
    let path = dir.join("source.264");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=320x240:rate=30")
        .args(["-frames:v", &FRAMES.to_string(), "-pix_fmt", "yuv420p"])
        .args(["-c:v", "libx264", "-g", "30", "-bf", "0"])
        .args(["-x264-params", "aud=1", "-f", "h264"])
        .arg(&path));
    path
}

/// Annex B bytes as access units, split at the delimiters.
pub fn access_units(annex_b: &[u8]) -> Vec<AccessUnit> {
    let mut nals: Vec<&[u8]> = Vec::new();
    let (mut i, mut start) = (0, None);
    while i + 3 <= annex_b.len() {
        if annex_b[i..i + 3] == [0, 0, 1] {
            if let Some(s) = start {
                let mut end = i;
                while end > s && annex_b[end - 1] == 0 {
                    end -= 1;
                }
                nals.push(&annex_b[s..end]);
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        nals.push(&annex_b[s..]);
    }
    let mut units: Vec<AccessUnit> = Vec::new();
    for n in nals {
        if nal::kind(n) == 9 || units.is_empty() {
            units.push(AccessUnit {
                timestamp: 3000 * units.len() as u32,
                nals: Vec::new(),
            });
        }
        if let Some(u) = units.last_mut() {
            u.nals.push(n.to_vec());
        }
    }
    units
}

pub fn probe(file: &Path) -> String {
    run(Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ])
        .args(["-of", "default=nw=1"])
        .arg(file))
    .0
}

/// The MD5 of each decoded picture, in order.
pub fn frame_md5s(file: &Path) -> Vec<String> {
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "framemd5", "-"]))
    .0
    .lines()
    .filter(|l| !l.starts_with('#'))
    .filter_map(|l| l.rsplit(',').next().map(|s| s.trim().to_owned()))
    .collect()
}

/// What ffmpeg reports decoding `file` (empty: it decodes cleanly).
pub fn decode_errors(file: &Path) -> String {
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"]))
    .1
    .trim()
    .to_string()
}

/// The container's duration, seconds, as ffprobe reads it.
pub fn duration_s(file: &Path) -> f64 {
    run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(file))
    .0
    .trim()
    .parse()
    .unwrap_or(f64::NAN)
}
