//! Roles on the QUIC tablet link, by certificate: what each role is refused.
//!
//! Already covered in `patrol_link.rs`: a server certificate cannot connect
//! as a client, a patrol cannot broadcast. Here: a unit cannot act on
//! another unit's order (orders are bound to the certificate's unit id), and
//! a supervisor may broadcast where a patrol may not, both over real QUIC.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use common::Tablet;
use vigie_ground::config::Config;
use vigie_ground::patrol::ca::{DEFAULT_UNIT_VALIDITY, DeploymentCa, Role, Validity};
use vigie_ground::patrol::orders::{NewOrder, OrderState};
use vigie_ground::server::Server;
use vigie_protocols::tablet::{
    AckKind, Broadcast, ErrorCode, OrderAck, client_message, server_message,
};

/// Bound on every wait in these tests.
const WAIT: Duration = Duration::from_secs(10);

async fn start() -> (Server, PathBuf, SocketAddr) {
    let dir = std::env::temp_dir().join(format!("vigie-quic-roles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config::loopback(dir.clone());
    let server = Server::start(config).await.expect("server starts");
    let quic = server.state().listener("quic").expect("quic listener");
    (server, dir, quic)
}

#[tokio::test]
async fn a_unit_cannot_ack_another_units_order_and_only_supervisors_broadcast() {
    let (server, dir, quic) = start().await;
    let state = server.state().clone();
    let order = NewOrder {
        incident_id: None,
        lat_deg: 48.925,
        lon_deg: 2.36,
        priority: "high".into(),
        instructions: "Gate D".into(),
    };
    // P2 exists (it holds a certificate) but is not connected yet.
    DeploymentCa::open(&dir)
        .unwrap()
        .issue(
            "P2",
            Role::Patrol,
            Validity::from_now(DEFAULT_UNIT_VALIDITY),
            Some(&state.store),
        )
        .unwrap();
    let for_p2 = state.patrol.issue_order("P2", &order).await.unwrap();

    // P1 tries to accept P2's order: refused as unknown for P1, P2's order
    // untouched.
    let mut p1 = Tablet::open(quic, common::client(&dir, "P1", Role::Patrol)).await;
    p1.send(client_message::Body::OrderAck(OrderAck {
        message_id: "m1".into(),
        order_id: for_p2.order_id.clone(),
        kind: AckKind::Accepted as i32,
        reason: String::new(),
        at_ms: 0,
    }))
    .await;
    match p1.answer().await {
        server_message::Body::Error(e) => {
            assert_eq!(e.code(), ErrorCode::UnknownOrder);
            assert!(e.message.contains("for unit P1"), "{}", e.message);
        }
        other => panic!("expected UNKNOWN_ORDER, got {other:?}"),
    }
    let p2_orders = state.patrol.orders().list("P2").unwrap();
    assert_eq!(p2_orders[0].state, OrderState::Pending, "{p2_orders:?}");

    // A patrol may not broadcast; a supervisor may, and the patrol hears it.
    let b = |id: &str| {
        client_message::Body::Broadcast(Broadcast {
            message_id: id.into(),
            text: "all units to gate D".into(),
            ..Default::default()
        })
    };
    p1.send(b("b1")).await;
    match p1.answer().await {
        server_message::Body::Error(e) => assert_eq!(e.code(), ErrorCode::NotPermitted),
        other => panic!("expected NOT_PERMITTED, got {other:?}"),
    }
    let mut s1 = Tablet::open(quic, common::client(&dir, "S1", Role::Supervisor)).await;
    s1.send(b("b2")).await;
    match s1.answer().await {
        server_message::Body::Receipt(_) => {}
        other => panic!("expected a receipt, got {other:?}"),
    }
    let heard = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(server_message::Body::Broadcast(b)) = p1.next().await.body {
                return b;
            }
        }
    })
    .await
    .expect("the patrol hears the supervisor's broadcast");
    assert_eq!(heard.from_unit, "S1");
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
