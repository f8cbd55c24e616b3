//! The live picture over QUIC for operator clients: a snapshot, then deltas,
//! end to end on loopback with real certificates.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use vigie_ground::config::Config;
use vigie_ground::patrol::ca::{DEFAULT_UNIT_VALIDITY, DeploymentCa, Role, Validity};
use vigie_ground::patrol::client::{ClientError, follow_picture};
use vigie_ground::patrol::tls;
use vigie_ground::server::Server;
use vigie_protocols::api::{Position, Unit, UnitKind, UnitStatus};

/// Bound on every wait in these tests.
const WAIT: Duration = Duration::from_secs(10);

async fn start(name: &str) -> (Server, PathBuf, SocketAddr) {
    let dir = std::env::temp_dir().join(format!("vigie-picture-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = Config {
        data_dir: dir.clone(),
        ..Config::default()
    };
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    config.quic.listen = "127.0.0.1:0".parse().unwrap();
    for link in &mut config.mavlink.links {
        link.address = "udpin:127.0.0.1:0".into();
    }
    let server = Server::start(config).await.expect("server starts");
    let quic = server.state().listener("quic").expect("quic listener");
    (server, dir, quic)
}

fn client(dir: &std::path::Path, unit: &str, role: Role) -> quinn::ClientConfig {
    let ca = DeploymentCa::open(dir).unwrap();
    let store = vigie_ground::store::Store::open(dir).unwrap();
    let cert = ca
        .issue(
            unit,
            role,
            Validity::from_now(DEFAULT_UNIT_VALIDITY),
            Some(&store),
        )
        .unwrap();
    tls::client_config(ca.cert_pem(), &cert.cert_pem, &cert.key_pem).unwrap()
}

fn patrol(id: &str, lat: f64) -> Unit {
    Unit {
        id: id.into(),
        kind: UnitKind::Patrol,
        status: UnitStatus::Available,
        name: None,
        position: Some(Position {
            lat_deg: lat,
            lon_deg: 2.36,
            ..Position::default()
        }),
        last_seen_ms: Some(1),
        source: "test".into(),
        coverage: None,
        drone: None,
        patrol: None,
    }
}

/// Follows the picture on a task; every complete step arrives on the channel.
fn follow(quic: SocketAddr, config: quinn::ClientConfig) -> mpsc::Receiver<Vec<Unit>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let result = follow_picture(quic, config, Duration::from_millis(100), |p| {
            tx.try_send(p.units().cloned().collect()).is_ok() || !tx.is_closed()
        })
        .await;
        tracing::info!("following ended: {result:?}");
    });
    rx
}

/// Waits for a step satisfying `ok`.
async fn until(rx: &mut mpsc::Receiver<Vec<Unit>>, ok: impl Fn(&[Unit]) -> bool) -> Vec<Unit> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let step = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("a matching picture step within the wait")
            .expect("the client is still following");
        if ok(&step) {
            return step;
        }
    }
}

#[tokio::test]
async fn an_operator_gets_a_snapshot_then_every_change_and_removal() {
    let (server, dir, quic) = start("follow").await;
    let fleet = server.state().fleet.clone();
    fleet.upsert(patrol("P1", 48.90));
    fleet.upsert(patrol("P2", 48.91));
    let mut rx = follow(quic, client(&dir, "OPS1", Role::Operator));
    let snap = until(&mut rx, |u| u.iter().any(|x| x.id == "P2")).await;
    assert!(snap.iter().any(|u| u.id == "P1"));
    // The operator console is not a unit in the field: never in the picture.
    assert!(!snap.iter().any(|u| u.id == "OPS1"), "{snap:?}");
    // A change and an arrival.
    let mut moved = patrol("P1", 48.95);
    moved.status = UnitStatus::EnRoute;
    fleet.upsert(moved.clone());
    fleet.upsert(patrol("P3", 48.92));
    let step = until(&mut rx, |u| u.iter().any(|x| x.id == "P3")).await;
    assert_eq!(step.iter().find(|u| u.id == "P1"), Some(&moved));
    // A removal.
    fleet.remove("P2");
    let step = until(&mut rx, |u| !u.iter().any(|x| x.id == "P2")).await;
    // What the client holds is exactly the server's picture.
    let server_units = fleet.snapshot();
    let client_ids: Vec<&str> = step.iter().map(|u| u.id.as_str()).collect();
    let server_ids: Vec<&str> = server_units.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(client_ids, server_ids);
    drop(rx);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_patrol_certificate_may_not_follow_the_picture() {
    let (server, dir, quic) = start("refused").await;
    let result = follow_picture(
        quic,
        client(&dir, "P9", Role::Patrol),
        Duration::from_millis(100),
        |_| true,
    )
    .await;
    match result {
        Err(ClientError::Refused(why)) => {
            assert!(why.contains("may not follow the live picture"), "{why}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    server.stop().await.unwrap();
}

/// A patrol tablet that streams its camera counts as coverage: its view
/// sector, pointed where it says, is in "who sees this point".
#[tokio::test]
async fn a_streaming_tablet_is_a_source_of_eyes_where_its_camera_points() {
    use vigie_protocols::tablet::codec::{self, MAX_CONTROL_MESSAGE_BYTES};
    use vigie_protocols::tablet::{ClientMessage, Hello, PositionReport, client_message};

    let (server, dir, quic) = start("streaming").await;
    let state = server.state().clone();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(client(&dir, "P17", Role::Patrol));
    let conn = endpoint
        .connect(quic, vigie_protocols::tablet::SERVER_NAME)
        .unwrap()
        .await
        .unwrap();
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    let hello = ClientMessage {
        body: Some(client_message::Body::Hello(Hello {
            protocol_version: 1,
            client_software: "test".into(),
            client_time_ms: 0,
        })),
    };
    send.write_all(&codec::encode_frame(&hello, MAX_CONTROL_MESSAGE_BYTES).unwrap())
        .await
        .unwrap();
    let (lat, lon) = (48.9244, 2.3601);
    let report = |streaming: bool, ts: i64| ClientMessage {
        body: Some(client_message::Body::Position(PositionReport {
            lat_deg: lat,
            lon_deg: lon,
            accuracy_m: 4.0,
            heading_deg: 0.0,
            speed_m_s: 0.0,
            timestamp_ms: ts,
            streaming,
            // Walking north, filming east.
            camera_bearing_deg: Some(90.0),
        })),
    };
    let (east_x, east_y) = state.frame.to_local(lat, lon);
    let seen_by_p17 = |dx: f64, dy: f64| {
        state.coverage.read(|index| {
            let mut hits = Vec::new();
            vigie_ground::coverage::query::who_sees(index, [east_x + dx, east_y + dy], &mut hits);
            hits.iter().any(|h| index.source(h.slot).id == "P17")
        })
    };
    // Poll until the sector is in the index (datagrams may be lost: resend).
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut ts = vigie_ground::time::unix_ms();
    while !seen_by_p17(10.0, 0.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tablet's sector never appeared"
        );
        ts += 1;
        conn.send_datagram(codec::encode_datagram(&report(true, ts)).unwrap().into())
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Ten metres east is seen; ten metres west, behind the camera, is not.
    assert!(!seen_by_p17(-10.0, 0.0));
    let unit = state.fleet.read(|f| f.get("P17").cloned()).unwrap();
    assert!(unit.coverage.is_some());
    // Streaming stops: the sector goes.
    while seen_by_p17(10.0, 0.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sector outlived the stream"
        );
        ts += 1;
        conn.send_datagram(codec::encode_datagram(&report(false, ts)).unwrap().into())
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await.unwrap();
}
