//! The drone link over real UDP on loopback: a hand-driven vehicle socket
//! talks to a running server.

use std::net::SocketAddr;
use std::time::Duration;

use mavlink::dialects::ardupilotmega::{
    COMMAND_ACK_DATA, GLOBAL_POSITION_INT_DATA, HEARTBEAT_DATA, MavAutopilot, MavMessage,
    MavModeFlag, MavResult, MavState, MavType,
};
use tokio::net::UdpSocket;
use vigie_ground::config::{Config, LinkConfig};
use vigie_ground::drone::wire;
use vigie_ground::fleet::Change;
use vigie_ground::server::Server;
use vigie_protocols::api::{CommandOutcome, DroneCommand, UnitKind};

fn config(dir: &std::path::Path) -> Config {
    let mut c = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    c.http.listen = "127.0.0.1:0".parse().unwrap();
    c.quic.listen = "127.0.0.1:0".parse().unwrap();
    c.mavlink.links = vec![LinkConfig {
        name: "udp0".into(),
        address: "udpin:127.0.0.1:0".into(),
        signing_key: None,
    }];
    c
}

fn encode(msg: &MavMessage) -> Vec<u8> {
    let mut b = Vec::new();
    wire::encode(&mut b, wire::header(42, 1, 0), msg, None);
    b
}

fn heartbeat() -> MavMessage {
    MavMessage::HEARTBEAT(HEARTBEAT_DATA {
        custom_mode: 4,
        mavtype: MavType::MAV_TYPE_QUADROTOR,
        autopilot: MavAutopilot::MAV_AUTOPILOT_ARDUPILOTMEGA,
        base_mode: MavModeFlag::MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
        system_status: MavState::MAV_STATE_STANDBY,
        mavlink_version: 3,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vehicle_on_udp_appears_in_the_picture_and_answers_a_command() {
    let dir = std::env::temp_dir().join(format!("vigie-drone-udp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = Server::start(config(&dir)).await.unwrap();
    let state = server.state().clone();
    // The guardrails refuse arming without a flight authorisation naming the
    // drone around where it is.
    let now = vigie_ground::time::unix_ms();
    let authorisation = vigie_ground::guardrails::authorisation::NewAuthorisation {
        purpose: vigie_ground::guardrails::authorisation::Purpose::Gatherings,
        service: "test".into(),
        contact: String::new(),
        perimeter: vec![[2.35, 48.91], [2.37, 48.91], [2.37, 48.93], [2.35, 48.93]],
        from_ms: now - 60_000,
        to_ms: now + 3_600_000,
        max_cameras: 1,
        order_ref: "test".into(),
        drones: vec!["drone:udp0:42".into()],
        order_date: String::new(),
        area: String::new(),
    };
    state
        .store
        .add_authorisation(&authorisation, now, "system")
        .unwrap();
    let ground: SocketAddr = state.listener("mavlink:udp0").unwrap();
    let mut changes = state.fleet.subscribe();

    let vehicle = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    vehicle
        .send_to(&encode(&heartbeat()), ground)
        .await
        .unwrap();
    let pos = MavMessage::GLOBAL_POSITION_INT(GLOBAL_POSITION_INT_DATA {
        time_boot_ms: 10,
        lat: 489_244_590,
        lon: 23_601_640,
        alt: 95_000,
        relative_alt: 60_000,
        vx: 0,
        vy: 0,
        vz: 0,
        hdg: 0,
    });
    vehicle.send_to(&encode(&pos), ground).await.unwrap();

    // Wait (bounded) until the picture holds the vehicle with its position.
    let unit = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(Change::Upsert(u, _)) = changes.recv().await
                && u.id == "drone:udp0:42"
                && u.position.is_some()
            {
                return u;
            }
        }
    })
    .await
    .expect("the vehicle never reached the picture");
    assert_eq!(unit.kind, UnitKind::Drone);
    assert!((unit.position.unwrap().alt_rel_m.unwrap() - 60.0).abs() < 1e-9);

    // The vehicle answers every command it receives with ACCEPTED.
    let responder = tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        let mut arms = 0;
        while arms == 0 {
            let (n, from) = vehicle.recv_from(&mut buf).await.unwrap();
            for f in wire::frames(&buf[..n]).flatten() {
                if let Ok(MavMessage::COMMAND_LONG(c)) = f.decode() {
                    if c.command
                        == mavlink::dialects::ardupilotmega::MavCmd::MAV_CMD_COMPONENT_ARM_DISARM
                    {
                        arms += 1;
                    }
                    let ack = MavMessage::COMMAND_ACK(COMMAND_ACK_DATA {
                        command: c.command,
                        result: MavResult::MAV_RESULT_ACCEPTED,
                        ..COMMAND_ACK_DATA::DEFAULT
                    });
                    vehicle.send_to(&encode(&ack), from).await.unwrap();
                }
            }
        }
    });
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        state.drones.command("drone:udp0:42", DroneCommand::Arm),
    )
    .await
    .unwrap();
    assert_eq!(result.outcome, CommandOutcome::Accepted, "{result:?}");
    responder.await.unwrap();

    let unknown = state
        .drones
        .command("drone:udp0:43", DroneCommand::Arm)
        .await;
    assert_eq!(unknown.outcome, CommandOutcome::Refused);
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udpout_link_sends_heartbeats_before_the_peer_ever_speaks() {
    let dir = std::env::temp_dir().join(format!("vigie-drone-udpout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // A vehicle (or router) that waits for a GCS before it says anything.
    let vehicle = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut c = config(&dir);
    c.mavlink.links = vec![LinkConfig {
        name: "out0".into(),
        address: format!("udpout:{}", vehicle.local_addr().unwrap()),
        signing_key: None,
    }];
    let server = Server::start(c).await.unwrap();
    // Listed under the local address it sends from, not the peer's.
    let listed = server.state().listener("mavlink:out0").unwrap();
    assert_ne!(listed, vehicle.local_addr().unwrap());
    let mut buf = [0u8; 2048];
    let heartbeat = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let (n, from) = vehicle.recv_from(&mut buf).await.unwrap();
            for f in wire::frames(&buf[..n]).flatten() {
                if let Ok(MavMessage::HEARTBEAT(h)) = f.decode()
                    && h.mavtype == MavType::MAV_TYPE_GCS
                {
                    return from;
                }
            }
        }
    })
    .await
    .expect("no GCS heartbeat reached the udpout peer");
    assert_eq!(heartbeat.port(), listed.port());
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drone_announcing_its_rtp_stream_has_it_taken_in_under_the_guardrails() {
    use mavlink::dialects::ardupilotmega::{
        VIDEO_STREAM_INFORMATION_DATA, VideoStreamEncoding, VideoStreamStatusFlags, VideoStreamType,
    };
    use std::sync::atomic::Ordering;
    use vigie_ground::video::h264::synthetic_unit;
    use vigie_ground::video::rtp::Sender;

    let dir = std::env::temp_dir().join(format!("vigie-drone-video-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // A port free now, the only one announced streams may use.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = config(&dir);
    c.video.announced = true;
    c.video.announced_ports = [port, port];
    let server = Server::start(c).await.unwrap();
    let state = server.state().clone();
    let ground: SocketAddr = state.listener("mavlink:udp0").unwrap();
    let vehicle = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let info = MavMessage::VIDEO_STREAM_INFORMATION(VIDEO_STREAM_INFORMATION_DATA {
        framerate: 30.0,
        bitrate: 2_000_000,
        flags: VideoStreamStatusFlags::VIDEO_STREAM_STATUS_FLAGS_RUNNING,
        resolution_h: 320,
        resolution_v: 240,
        rotation: 0,
        hfov: 84,
        stream_id: 1,
        count: 1,
        mavtype: VideoStreamType::VIDEO_STREAM_TYPE_RTPUDP,
        name: "camera".into(),
        uri: format!("udp://0.0.0.0:{port}").as_str().into(),
        encoding: VideoStreamEncoding::VIDEO_STREAM_ENCODING_H264,
        camera_device_id: 0,
    });
    // The ground takes the stream in on the announced port.
    let rtp = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            vehicle
                .send_to(&encode(&heartbeat()), ground)
                .await
                .unwrap();
            vehicle.send_to(&encode(&info), ground).await.unwrap();
            if let Some(a) = state.listener("video:drone:udp0:42") {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the announced stream was never taken in");
    assert_eq!(rtp.port(), port);
    // The camera sends 70 pictures (keyframes at 0, 30, 60) at its pace,
    // 30 a second.
    let camera = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut sender = Sender::new(96, 42, 0, 1200);
    let mut pace = tokio::time::interval(Duration::from_millis(33));
    let payload: Vec<u8> = (0..2000).map(|i| (i % 200) as u8 + 1).collect();
    for k in 0..70u32 {
        pace.tick().await;
        let mut datagrams = Vec::new();
        sender.send(&synthetic_unit(k, 30, &payload), &mut datagrams);
        for d in datagrams {
            camera.send_to(&d, rtp).await.unwrap();
        }
    }
    let counters = state.metrics.video_feed("drone:udp0:42");
    tokio::time::timeout(Duration::from_secs(10), async {
        while counters.frames.load(Ordering::Relaxed) < 70
            || counters.fragments_refused.load(Ordering::Relaxed) < 2
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "every picture taken in, its fragments refused: {} pictures, {} refused, {} packets, {} foreign",
            counters.frames.load(Ordering::Relaxed),
            counters.fragments_refused.load(Ordering::Relaxed),
            counters.packets.load(Ordering::Relaxed),
            counters.foreign.load(Ordering::Relaxed)
        )
    });
    // No authorisation names the drone: nothing is recorded.
    assert_eq!(counters.fragments_recorded.load(Ordering::Relaxed), 0);
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
