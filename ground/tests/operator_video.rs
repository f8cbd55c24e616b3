//! Live video over QUIC for operator clients, end to end on loopback with
//! real certificates: a camera's RTP/H.264 into the ground, its pictures
//! out to an operator as `VideoChunk`s on a stream of their own; refusals
//! for a patrol certificate, an unknown feed and a drone no authorisation
//! names.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::client;
use vigie_ground::config::Config;
use vigie_ground::operator::client::{ClientError, watch_video};
use vigie_ground::patrol::ca::Role;
use vigie_ground::server::Server;
use vigie_ground::video::h264::{AccessUnit, synthetic_unit};
use vigie_ground::video::rtp::Sender;
use vigie_ground::video::service::StreamConfig;

/// Bound on every wait in these tests.
const WAIT: Duration = Duration::from_secs(20);
const PICTURES: usize = 90;

fn stream(source: &str) -> StreamConfig {
    StreamConfig {
        source: source.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        kind: None,
    }
}

/// Pictures of a camera: a keyframe every 30.
fn pictures() -> Vec<AccessUnit> {
    (0..PICTURES as u32)
        .map(|k| {
            let payload: Vec<u8> = (0..2500 + k as usize * 7)
                .map(|i| (i % 251) as u8 | 1)
                .collect();
            synthetic_unit(k, 30, &payload)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_watches_a_feed_live_and_others_are_refused() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("vigie-video-quic-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = Config::loopback(dir.clone());
    config.video.streams = vec![stream("cam-7"), stream("drone:udp0:5")];
    let server = Server::start(config).await.expect("server starts");
    let quic = server.state().listener("quic").expect("quic listener");
    let rtp = server
        .state()
        .listener("video:cam-7")
        .expect("video listener");

    // An operator subscribes; chunks come back on a channel.
    let (tx, mut rx) = tokio::sync::mpsc::channel(PICTURES * 2);
    let ops = client(&dir, "OPS1", Role::Operator);
    let watcher = tokio::spawn(async move {
        watch_video(quic, ops, "cam-7", |c| tx.try_send(c.clone()).is_ok()).await
    });
    // Once it watches, the camera sends.
    let feed = server.state().video.get("cam-7").expect("the feed");
    let deadline = tokio::time::Instant::now() + WAIT;
    while feed.viewers() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the operator never subscribed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut sender = Sender::new(96, 7, 100, 1200);
    // At the camera's pace, 30 pictures a second.
    let mut pace = tokio::time::interval(Duration::from_millis(33));
    for u in pictures() {
        pace.tick().await;
        let mut datagrams = Vec::new();
        sender.send(&u, &mut datagrams);
        for d in datagrams {
            socket.send_to(&d, rtp).await.unwrap();
        }
    }
    // The pictures reach the operator, the first a keyframe with its init.
    let mut chunks = Vec::new();
    while chunks.len() < PICTURES - 1 {
        let c = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("a picture within the wait")
            .expect("still watching");
        chunks.push(c);
    }
    let first = &chunks[0];
    assert!(first.keyframe);
    assert_eq!(&first.init[4..8], b"ftyp");
    assert!(
        chunks[1..].iter().all(|c| c.init.is_empty()),
        "the init segment is sent once"
    );
    assert!(
        chunks
            .iter()
            .all(|c| &c.fragment[4..8] == b"moof" && c.source == "cam-7")
    );
    assert_eq!(chunks.iter().filter(|c| c.keyframe).count(), 3);
    assert!(chunks.iter().all(|c| c.received_ms > 0));
    watcher.abort();

    // A patrol certificate may not watch; an unknown feed is refused; a
    // drone no authorisation names is not relayed.
    let patrol = watch_video(quic, client(&dir, "P9", Role::Patrol), "cam-7", |_| true).await;
    assert!(
        matches!(patrol, Err(ClientError::Rejected(ref m)) if m.contains("may not watch")),
        "{patrol:?}"
    );
    let unknown = watch_video(
        quic,
        client(&dir, "OPS2", Role::Operator),
        "cam-404",
        |_| true,
    )
    .await;
    assert!(
        matches!(unknown, Err(ClientError::Refused(ref m)) if m.contains("no live feed")),
        "{unknown:?}"
    );
    let drone = watch_video(
        quic,
        client(&dir, "OPS3", Role::Operator),
        "drone:udp0:5",
        |_| true,
    )
    .await;
    assert!(
        matches!(drone, Err(ClientError::Rejected(ref m)) if m.contains("not relayed")),
        "{drone:?}"
    );

    // The view is in the audit register.
    server.state().audit.flush_async().await.unwrap();
    let rows = server.state().audit.range(0, i64::MAX).unwrap();
    assert!(
        rows.iter()
            .any(|r| r.action == "video.live" && r.target == "cam-7")
    );
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
