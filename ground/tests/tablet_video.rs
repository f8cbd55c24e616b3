//! A tablet's camera over QUIC (protocol §10), end to end on loopback with
//! real certificates and a client speaking raw `vigie/1` frames: the frames
//! recorded with the tablet's view sector and found by place and time, a
//! pause beginning a segment of its own, relayed live to an operator; and
//! refusals: an operator console's stream, a second stream at once, a frame
//! on the control stream, a malformed stream.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Tablet, client};
use vigie_ground::config::Config;
use vigie_ground::operator::client::watch_video;
use vigie_ground::patrol::ca::Role;
use vigie_ground::server::Server;
use vigie_ground::video::h264::{nal, synthetic_unit};
use vigie_ground::video::index::footage_at;
use vigie_ground::video::tablet::{STOP_MALFORMED, STOP_REFUSED};
use vigie_protocols::tablet::codec::{MAX_REPORT_MESSAGE_BYTES, encode_frame};
use vigie_protocols::tablet::{
    ClientMessage, ErrorCode, PositionReport, VideoFrame, client_message, server_message,
};

/// Bound on every wait in this test.
const WAIT: Duration = Duration::from_secs(20);
/// Where the tablet stands.
const LAT: f64 = 48.9245;
const LON: f64 = 2.3602;

/// Frame `k` of a camera, a keyframe every 30, at 30 fps from `t0` (90 kHz).
fn frame(k: u32, t0: u64) -> VideoFrame {
    let payload: Vec<u8> = (0..1800 + k as usize * 3)
        .map(|i| (i % 251) as u8 | 1)
        .collect();
    let u = synthetic_unit(k, 30, &payload);
    let find = |kind| {
        u.nals
            .iter()
            .find(|n| nal::kind(n) == kind)
            .cloned()
            .unwrap_or_default()
    };
    VideoFrame {
        timestamp_90khz: t0 + u64::from(k) * 3000,
        keyframe: u.is_keyframe(),
        sps: find(nal::SPS),
        pps: find(nal::PPS),
        nal_units: u
            .nals
            .iter()
            .filter(|n| ![nal::SPS, nal::PPS].contains(&nal::kind(n)))
            .cloned()
            .collect(),
    }
}

fn framed(f: VideoFrame) -> Vec<u8> {
    encode_frame(
        &ClientMessage {
            body: Some(client_message::Body::VideoFrame(f)),
        },
        MAX_REPORT_MESSAGE_BYTES,
    )
    .unwrap()
}

/// The next error on the control stream.
async fn error(t: &mut Tablet) -> vigie_protocols::tablet::Error {
    loop {
        if let server_message::Body::Error(e) = t.answer().await {
            return e;
        }
    }
}

/// Waits (bounded) until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tablet_streams_its_camera_recorded_where_it_looks_and_relayed_live() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("vigie-tablet-video-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = Server::start(Config::loopback(dir.clone()))
        .await
        .expect("server starts");
    let state = server.state().clone();
    let quic = state.listener("quic").expect("quic listener");
    let from_ms = vigie_ground::time::unix_ms();

    // The tablet says it streams, its camera pointing east.
    let mut tablet = Tablet::open(quic, client(&dir, "P1", Role::Patrol)).await;
    tablet
        .send(client_message::Body::Position(PositionReport {
            lat_deg: LAT,
            lon_deg: LON,
            accuracy_m: 4.0,
            heading_deg: Some(0.0),
            speed_m_s: Some(0.0),
            timestamp_ms: from_ms,
            streaming: true,
            camera_bearing_deg: Some(90.0),
        }))
        .await;
    until(
        "the tablet's view sector never reached the coverage index",
        || state.coverage.read(|i| i.slot("P1").is_some()),
    )
    .await;

    // Its first keyframe opens the feed; an operator watches it.
    let mut video = tablet.conn.open_uni().await.unwrap();
    let t0 = 5 << 32;
    video.write_all(&framed(frame(0, t0))).await.unwrap();
    until("the tablet's feed never opened", || {
        state.video.get("P1").is_some()
    })
    .await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let ops = client(&dir, "OPS1", Role::Operator);
    let watcher = tokio::spawn(async move {
        watch_video(quic, ops, "P1", |c| tx.try_send(c.clone()).is_ok()).await
    });
    let feed = state.video.get("P1").expect("the feed");
    until("the operator never subscribed", || feed.viewers() > 0).await;

    // Three seconds of pictures at the camera's pace; then a pause of ten
    // seconds of the camera's clock, and a second of pictures after it.
    let mut pace = tokio::time::interval(Duration::from_millis(33));
    for k in 1..90 {
        pace.tick().await;
        video.write_all(&framed(frame(k, t0))).await.unwrap();
    }
    let t1 = t0 + 90 * 3000 + 10 * 90_000;
    for k in 0..31 {
        pace.tick().await;
        video.write_all(&framed(frame(k, t1))).await.unwrap();
    }
    video.finish().unwrap();

    // Live: from the next keyframe, the init first, every picture after.
    let mut chunks = Vec::new();
    while chunks.len() < 60 {
        let c = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("a picture within the wait")
            .expect("still watching");
        chunks.push(c);
    }
    assert!(chunks[0].keyframe && &chunks[0].init[4..8] == b"ftyp");
    assert!(chunks.iter().all(|c| c.source == "P1"));
    watcher.abort();

    // Recorded where the camera looked: a point 20 m east of the tablet is
    // found, a point 20 m west is not. The pause cut a second segment.
    let frame_ = state.frame;
    let (e, n) = frame_.to_local(LAT, LON);
    let east = frame_.lon_lat([e + 20.0, n]);
    let west = frame_.lon_lat([e - 20.0, n]);
    let masks = state.coverage.read(|i| i.masks().clone());
    let to_ms = || vigie_ground::time::unix_ms() + 60_000;
    let counters = state.metrics.video_feed("P1");
    until("the tablet's fragments were never all recorded", || {
        counters
            .fragments_recorded
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 4
    })
    .await;
    let found = footage_at(&state.store, &frame_, &masks, east, from_ms, to_ms()).unwrap();
    let p1 = found
        .iter()
        .find(|s| s.source_id == "P1")
        .unwrap_or_else(|| panic!("the tablet's footage is found east: {found:?}"));
    assert_eq!(p1.kind, vigie_ground::coverage::SourceKind::Tablet);
    assert_eq!(p1.segments.len(), 2, "{:?}", p1.segments);
    assert!(p1.segments.iter().all(|s| s.recorded_here));
    let behind = footage_at(&state.store, &frame_, &masks, west, from_ms, to_ms()).unwrap();
    assert!(
        behind.iter().all(|s| s.source_id != "P1"),
        "nothing behind the camera: {behind:?}"
    );
    // Counted as pictures in, none lost.
    let frames = counters.frames.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(frames, 90 + 31);

    // A second stream at once is refused; the tablet still streams.
    let mut one = tablet.conn.open_uni().await.unwrap();
    one.write_all(&framed(frame(0, t0))).await.unwrap();
    until("the next stream was never taken in", || {
        state.video.get("P1").is_some_and(|f| !f.ended())
    })
    .await;
    let mut two = tablet.conn.open_uni().await.unwrap();
    two.write_all(&framed(frame(0, t0))).await.unwrap();
    let e = error(&mut tablet).await;
    assert!(
        e.message.contains("one video stream per connection"),
        "{e:?}"
    );
    assert_eq!(
        tokio::time::timeout(WAIT, two.stopped()).await.unwrap(),
        Ok(Some(quinn::VarInt::from_u32(STOP_REFUSED)))
    );
    // A malformed frame ends the stream it is on.
    let mut bad = frame(1, t0);
    bad.nal_units.clear();
    one.write_all(&framed(bad)).await.unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, one.stopped()).await.unwrap(),
        Ok(Some(quinn::VarInt::from_u32(STOP_MALFORMED)))
    );
    // A frame on the control stream is refused, the connection stays.
    tablet
        .send(client_message::Body::VideoFrame(frame(0, t0)))
        .await;
    let e = error(&mut tablet).await;
    assert_eq!(e.code, ErrorCode::Invalid as i32);
    assert!(e.message.contains("video stream"), "{e:?}");
    tablet.ping(7).await;

    // An operator console watches video, it does not send it.
    let mut console = Tablet::open(quic, client(&dir, "OPS2", Role::Operator)).await;
    let mut stream = console.conn.open_uni().await.unwrap();
    stream.write_all(&framed(frame(0, t0))).await.unwrap();
    let e = error(&mut console).await;
    assert_eq!(e.code, ErrorCode::NotPermitted as i32);
    assert!(e.message.contains("may not stream video"), "{e:?}");
    assert!(state.video.get("OPS2").is_none());

    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
