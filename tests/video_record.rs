//! A real H.264 stream (x264, through Debian's ffmpeg) goes the way a
//! drone's camera feed does: RTP packets (sequence numbers across the
//! 16-bit wrap, reordered on the way), the reorder buffer, the
//! depacketiser, the fragmenter. The fragmented MP4 it writes is checked by
//! ffprobe and ffmpeg, which nobody here wrote: every picture is there,
//! the size is right, and each decoded picture is bit-identical to the
//! source's (no transcoding, nothing altered). With packets lost, what is
//! recorded still decodes without a single error.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::video::{
    FRAMES, access_units, decode_errors, duration_s, frame_md5s, probe, run, source,
};
use vigie_ground::video::h264::{AccessUnit, Depacketizer};
use vigie_ground::video::mp4::{Fragmenter, TIMESCALE, init_segment};
use vigie_ground::video::reorder::{Released, Reorder};
use vigie_ground::video::rtp::{Packet, Sender};

/// Sends the units as RTP over a path that reorders (up to 4 places) and
/// loses one packet in `lose_every` (0: none); records what arrives.
/// Returns the MP4 and how many pictures it holds.
fn record(units: &[AccessUnit], lose_every: usize, out: &Path) -> usize {
    let mut datagrams = Vec::new();
    let mut sender = Sender::new(96, 0x5eed, 65_000, 1200);
    for u in units {
        sender.send(u, &mut datagrams);
    }
    // Bounded reordering: packet i leaves at i + (i * 7 % 5).
    let mut order: Vec<(usize, Vec<u8>)> = datagrams
        .into_iter()
        .enumerate()
        .filter(|(i, _)| lose_every == 0 || (i + 3) % lose_every != 0)
        .map(|(i, d)| (i + (i * 7) % 5, d))
        .collect();
    order.sort_by_key(|(k, _)| *k);

    let t0 = Instant::now();
    let mut reorder = Reorder::new(Duration::from_millis(50), 256);
    let mut depacketizer = Depacketizer::new();
    let mut fragmenter = Fragmenter::new(TIMESCALE);
    let mut file = Vec::new();
    let mut pictures = 0;
    let (mut released, mut complete) = (Vec::new(), Vec::new());
    let mut feed = |released: &mut Vec<Released<Vec<u8>>>, complete: &mut Vec<AccessUnit>| {
        for r in released.drain(..) {
            match r {
                Released::Packet(d) => {
                    let p = Packet::parse(&d).expect("our own packets parse");
                    depacketizer.push(p.timestamp, p.marker, p.payload, complete);
                }
                Released::Gap(_) => depacketizer.gap(),
            }
        }
        for u in complete.drain(..) {
            if file.is_empty() {
                let (sps, pps) = depacketizer.parameter_sets();
                let (Some(sps), Some(pps)) = (sps, pps) else {
                    panic!("a keyframe came without its parameter sets");
                };
                file = init_segment(sps, pps).expect("x264's SPS parses");
            }
            if let Some(f) = fragmenter.push(u) {
                pictures += f.samples;
                file.extend_from_slice(&f.bytes);
            }
        }
    };
    for (k, (_, d)) in order.into_iter().enumerate() {
        let seq = Packet::parse(&d).expect("parses").sequence;
        let now = t0 + Duration::from_millis(k as u64 / 4);
        reorder.push(now, seq, d, &mut released);
        feed(&mut released, &mut complete);
    }
    reorder.poll(t0 + Duration::from_secs(60), &mut released);
    feed(&mut released, &mut complete);
    if let Some(f) = fragmenter.finish() {
        pictures += f.samples;
        file.extend_from_slice(&f.bytes);
    }
    std::fs::write(out, &file).expect("write the recording");
    let lost = reorder.stats().lost;
    if lose_every == 0 {
        assert_eq!(lost, 0);
    } else {
        assert!(lost > 0, "the path lost nothing");
    }
    pictures
}

#[test]
fn a_camera_stream_is_recorded_as_fragmented_mp4_that_ffmpeg_plays_unaltered() {
    if common::video::skip("video_record") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("vigie-video-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let src = source(&dir);
    let units = access_units(&std::fs::read(&src).expect("read the source"));
    assert_eq!(units.len(), FRAMES);

    let mp4 = dir.join("recorded.mp4");
    assert_eq!(record(&units, 0, &mp4), FRAMES);
    let p = probe(&mp4);
    assert!(p.contains("codec_name=h264"), "{p}");
    assert!(p.contains("width=320") && p.contains("height=240"), "{p}");
    assert!(p.contains(&format!("nb_read_frames={FRAMES}")), "{p}");
    // Every picture decodes to exactly the source's pixels.
    let (want, got) = (frame_md5s(&src), frame_md5s(&mp4));
    assert_eq!(want.len(), FRAMES);
    assert_eq!(got, want, "the recording is not the source's pictures");
    // It lasts 4 s at the source's 90 kHz clock.
    let d = duration_s(&mp4);
    assert!((d - 4.0).abs() < 0.05, "{d} s");

    // One packet in 200 lost: what is recorded is fewer pictures, and not
    // one decoding error.
    let lossy = dir.join("lossy.mp4");
    let kept = record(&units, 200, &lossy);
    assert!(kept > 0 && kept < FRAMES, "{kept} pictures kept");
    let errors = decode_errors(&lossy);
    assert!(errors.is_empty(), "decoding errors: {errors}");
    assert!(probe(&lossy).contains(&format!("nb_read_frames={kept}")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_rtp_stream_from_ffmpeg_is_taken_in_on_udp_and_recorded() {
    use std::sync::atomic::Ordering;
    use vigie_ground::video::service::{FeedCounters, StreamConfig, VideoContext, run_stream};
    if common::video::skip("video_record") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("vigie-video-udp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = vigie_ground::store::Store::open(&dir).expect("store");
    vigie_ground::guardrails::retention::migrate(&store).expect("migrated");
    vigie_ground::video::index::migrate(&store).expect("migrated");
    let frame = vigie_ground::frame::LocalFrame::new(48.9245, 2.3601);
    let ctx = VideoContext {
        audit: vigie_ground::guardrails::audit::Audit::start(&store).expect("audit"),
        coverage: std::sync::Arc::new(
            vigie_ground::coverage::live::LiveCoverage::open(&store, frame).expect("coverage"),
        ),
        store,
        frame,
        dir: dir.join("video"),
        relay: Default::default(),
    };
    let counters = std::sync::Arc::new(FeedCounters::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind on loopback");
        let port = socket.local_addr().expect("address").port();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let shutdown = vigie_ground::shutdown::Shutdown::new(stopped);
        // ffmpeg as a camera: x264 in real time, RTP/H.264 with the
        // parameter sets in band, to our port. It ends by itself.
        let sender = tokio::task::spawn_blocking(move || {
            run(Command::new("ffmpeg")
                .args(["-v", "error", "-re", "-f", "lavfi", "-i"])
                .arg("testsrc=size=320x240:rate=30")
                .args(["-frames:v", "90", "-pix_fmt", "yuv420p"])
                .args(["-c:v", "libx264", "-g", "30", "-bf", "0"])
                .args(["-x264-params", "repeat-headers=1", "-f", "rtp"])
                .arg(format!("rtp://127.0.0.1:{port}")));
            let _ = stop.send(true);
        });
        let stream = StreamConfig {
            source: "cam-ffmpeg".into(),
            listen: "127.0.0.1:0".parse().expect("address"),
            kind: None,
        };
        run_stream(ctx, stream, socket, counters.clone(), shutdown)
            .await
            .expect("the stream ran");
        sender.await.expect("ffmpeg ran");
    });
    let files: Vec<PathBuf> = std::fs::read_dir(dir.join("video").join("cam-ffmpeg"))
        .expect("segments written")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    assert_eq!(files.len(), 1, "3 s make one segment: {files:?}");
    let pictures = counters.frames.load(Ordering::Relaxed);
    assert!(pictures >= 60, "only {pictures} pictures taken in");
    assert_eq!(counters.foreign.load(Ordering::Relaxed), 0);
    let p = probe(&files[0]);
    assert!(p.contains("width=320") && p.contains("height=240"), "{p}");
    assert!(p.contains(&format!("nb_read_frames={pictures}")), "{p}");
    assert!(decode_errors(&files[0]).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
