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
