//! The patrol link end to end over loopback QUIC: a real server, real
//! certificates, clients speaking raw `vigie/1` frames.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{Tablet, dial};
use vigie_ground::config::Config;
use vigie_ground::patrol::ca::{self, DEFAULT_UNIT_VALIDITY, DeploymentCa, Role, Validity};
use vigie_ground::patrol::orders::{NewOrder, OrderState};
use vigie_ground::patrol::session::{MAX_MESSAGES_PER_SECOND, PACE_BURST};
use vigie_ground::patrol::tls;
use vigie_ground::server::Server;
use vigie_protocols::tablet::codec::{self, FrameDecoder, MAX_CONTROL_MESSAGE_BYTES};
use vigie_protocols::tablet::{
    AckKind, ClientMessage, CloseCode, ErrorCode, Hello, Ping, PositionReport, client_message,
    server_message,
};

/// Bound on every wait in these tests.
const WAIT: Duration = Duration::from_secs(10);

static NEXT: AtomicU32 = AtomicU32::new(0);

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "vigie-patrol-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn start(name: &str) -> (Server, PathBuf, SocketAddr) {
    start_with(name, Config::default()).await
}

async fn start_with(name: &str, config: Config) -> (Server, PathBuf, SocketAddr) {
    let dir = temp_dir(name);
    // The caller's settings, on loopback.
    let loopback = Config::loopback(dir.clone());
    let config = Config {
        data_dir: dir.clone(),
        http: loopback.http,
        quic: loopback.quic,
        mavlink: loopback.mavlink,
        ..config
    };
    let server = Server::start(config).await.expect("server starts");
    let quic = server.state().listener("quic").expect("quic listener");
    (server, dir, quic)
}

fn client(
    dir: &std::path::Path,
    unit: &str,
    role: Role,
    validity: Validity,
) -> quinn::ClientConfig {
    let ca = DeploymentCa::open(dir).unwrap();
    let store = vigie_ground::store::Store::open(dir).unwrap();
    let cert = ca.issue(unit, role, validity, Some(&store)).unwrap();
    tls::client_config(ca.cert_pem(), &cert.cert_pem, &cert.key_pem).unwrap()
}

/// A patrol certificate for `unit` signed with the deployment CA's own key,
/// with or without the unit's URN and client-authentication usage.
fn custom_client(dir: &std::path::Path, unit: &str, urn: bool, eku: bool) -> quinn::ClientConfig {
    use rcgen::{
        CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
        SanType,
    };
    let ca_dir = ca::ca_dir(dir);
    let ca_pem = std::fs::read_to_string(ca_dir.join("ca.cert.pem")).unwrap();
    let ca_key =
        KeyPair::from_pem(&std::fs::read_to_string(ca_dir.join("ca.key.pem")).unwrap()).unwrap();
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Vigie");
    dn.push(DnType::OrganizationalUnitName, "patrol");
    dn.push(DnType::CommonName, unit);
    params.distinguished_name = dn;
    if urn {
        params
            .subject_alt_names
            .push(SanType::URI(ca::unit_urn(unit).try_into().unwrap()));
    }
    if eku {
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    tls::client_config(&ca_pem, &cert.pem(), &key.serialize_pem()).unwrap()
}

fn valid() -> Validity {
    Validity::from_now(DEFAULT_UNIT_VALIDITY)
}

/// How the server ended a connection, as the client sees it.
async fn closed_reason(conn: &quinn::Connection) -> quinn::ConnectionError {
    tokio::time::timeout(WAIT, conn.closed())
        .await
        .expect("closed in time")
}

fn order() -> NewOrder {
    NewOrder {
        incident_id: Some("I-1".into()),
        lat_deg: 48.925,
        lon_deg: 2.36,
        priority: "high".into(),
        instructions: "Gate D, medical".into(),
    }
}

#[tokio::test]
async fn valid_certificate_connects_reports_and_receives_orders_across_reconnections() {
    let (server, dir, quic) = start("ok").await;
    let state = server.state().clone();
    let config = client(&dir, "P17", Role::Patrol, valid());
    let mut tablet = Tablet::open(quic, config.clone()).await;

    // A position on a datagram shows up in the picture with the link details.
    let pos = ClientMessage {
        body: Some(client_message::Body::Position(PositionReport {
            lat_deg: 48.9244,
            lon_deg: 2.3601,
            accuracy_m: 4.0,
            heading_deg: Some(90.0),
            speed_m_s: Some(1.4),
            timestamp_ms: vigie_ground::time::unix_ms(),
            streaming: false,
            camera_bearing_deg: None,
        })),
    };
    tablet
        .conn
        .send_datagram(codec::encode_datagram(&pos).unwrap().into())
        .unwrap();
    let unit = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(u) = state.fleet.read(|f| f.get("P17").cloned())
                && u.position.is_some()
            {
                return u;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("position in the picture");
    let info = unit.patrol.unwrap();
    assert!(info.connected);
    assert_eq!(info.role, "patrol");
    assert!(unit.last_seen_ms.is_some());

    // An order issued while connected arrives at once; its ack is receipted.
    let first = state.patrol.issue_order("P17", &order()).await.unwrap();
    let Some(server_message::Body::Order(o)) = tablet.next().await.body else {
        panic!("order expected")
    };
    assert_eq!(o.order_id, first.order_id);
    assert_eq!(o.instructions, "Gate D, medical");
    let receipt = tablet.ack("a1", &o.order_id, AckKind::Received).await;
    assert!(
        matches!(receipt, server_message::Body::Receipt(r) if r.message_id == "a1" && !r.duplicate)
    );

    // Away: two orders wait in the queue. Back: both arrive, in order, and
    // the acknowledged one does not.
    tablet.conn.close(0u32.into(), b"tunnel");
    let second = state.patrol.issue_order("P17", &order()).await.unwrap();
    let third = state.patrol.issue_order("P17", &order()).await.unwrap();
    let mut tablet = Tablet::open(quic, config.clone()).await;
    let mut got = Vec::new();
    for _ in 0..2 {
        if let Some(server_message::Body::Order(o)) = tablet.next().await.body {
            got.push(o.order_id);
        }
    }
    assert_eq!(got, vec![second.order_id.clone(), third.order_id.clone()]);
    // A replayed ack (same message id, resent after the reconnection) is a no-op.
    let again = tablet.ack("a1", &first.order_id, AckKind::Received).await;
    assert!(matches!(again, server_message::Body::Receipt(r) if r.duplicate));
    tablet.ack("a2", &second.order_id, AckKind::Accepted).await;
    let states: Vec<_> = state
        .patrol
        .orders()
        .list("P17")
        .unwrap()
        .iter()
        .map(|o| o.state)
        .collect();
    assert_eq!(
        states,
        [
            OrderState::Received,
            OrderState::Accepted,
            OrderState::Pending
        ]
    );

    // /metrics counts what happened: one tablet, three orders of which one
    // is still pending, two first acknowledgements with their latency.
    let text = state.metrics.render(&state.fleet, 0.0);
    for line in [
        "vigie_patrol_connected 1",
        "vigie_patrol_orders_issued_total 3",
        "vigie_patrol_orders_pending 1",
        "vigie_patrol_orders_acked_total 2",
        "vigie_patrol_order_ack_latency_seconds_count 2",
        "vigie_patrol_sessions_opened_total 2",
        "vigie_patrol_datagrams_total 1",
        "vigie_patrol_handshakes_in_progress 0",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }

    // A second connection of the same unit replaces the first.
    let newer = Tablet::open(quic, config).await;
    let err = closed_reason(&tablet.conn).await;
    assert!(
        matches!(&err, quinn::ConnectionError::ApplicationClosed(c) if c.error_code == (CloseCode::Replaced as u32).into()),
        "{err}"
    );
    drop(newer);
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tablet that roams (Wi-Fi to 4G: a new local address and port) keeps its
/// QUIC connection: same session, orders still arrive, and the server
/// follows the new address.
#[tokio::test]
async fn a_roaming_tablet_keeps_its_connection_across_an_address_change() {
    let (server, dir, quic) = start("roam").await;
    let state = server.state().clone();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(client(&dir, "P21", Role::Patrol, valid()));
    let conn = endpoint
        .connect(quic, vigie_protocols::tablet::SERVER_NAME)
        .unwrap()
        .await
        .unwrap();
    let (send, recv) = conn.open_bi().await.unwrap();
    let mut tablet = Tablet {
        conn,
        send,
        recv,
        decoder: FrameDecoder::new(MAX_CONTROL_MESSAGE_BYTES),
    };
    tablet
        .send(client_message::Body::Hello(Hello {
            protocol_version: 1,
            client_software: "test".into(),
            client_time_ms: 0,
        }))
        .await;
    let Some(server_message::Body::Welcome(_)) = tablet.next().await.body else {
        panic!("Welcome expected")
    };
    let before = endpoint.local_addr().unwrap();

    // The phone changes network: a new socket, a new source port.
    endpoint
        .rebind(std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .unwrap();
    let after = endpoint.local_addr().unwrap();
    assert_ne!(before.port(), after.port());
    tablet.ping(9).await;
    let order = state.patrol.issue_order("P21", &order()).await.unwrap();
    let Some(server_message::Body::Order(o)) = tablet.next().await.body else {
        panic!("order expected on the migrated connection")
    };
    assert_eq!(o.order_id, order.order_id);
    tablet.ack("m1", &o.order_id, AckKind::Received).await;

    // Still one session, now seen at the new address.
    let seen = tokio::time::timeout(WAIT, async {
        loop {
            let remote = state
                .fleet
                .read(|f| f.get("P21").and_then(|u| u.patrol.clone()))
                .and_then(|p| p.remote);
            if remote.as_deref() == Some(after.to_string().as_str()) {
                return remote;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(seen.is_ok(), "the server must follow the tablet to {after}");
    let text = state.metrics.render(&state.fleet, 0.0);
    assert!(
        text.contains("vigie_patrol_sessions_opened_total 1"),
        "one session only, got:\n{text}"
    );
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn bad_certificates_are_refused_with_a_reason_and_others_are_unaffected() {
    let (server, dir, quic) = start("refuse").await;
    let state = server.state().clone();
    let mut good = Tablet::open(quic, client(&dir, "P1", Role::Patrol, valid())).await;

    // No certificate.
    let ca_pem = DeploymentCa::open(&dir).unwrap().cert_pem().to_string();
    let anon = dial(quic, tls::anonymous_client_config(&ca_pem).unwrap()).await;
    let reason = match anon {
        Err(e) => e,
        Ok(c) => closed_reason(&c).await.to_string(),
    };
    assert!(
        reason.contains("116") || reason.to_lowercase().contains("certificate"),
        "no cert: {reason}"
    );

    // A certificate from another deployment's CA.
    let other = temp_dir("other-ca");
    DeploymentCa::init(&other, "other").unwrap();
    let stranger = dial(quic, client(&other, "P1", Role::Patrol, valid())).await;
    let reason = match stranger {
        Err(e) => e,
        Ok(c) => closed_reason(&c).await.to_string(),
    };
    assert!(
        reason.contains("48") || reason.contains("UnknownIssuer"),
        "unknown CA: {reason}"
    );

    // Expired.
    let now = vigie_ground::time::unix_ms();
    let past = Validity {
        not_before_ms: now - 10 * 86_400_000,
        not_after_ms: now - 86_400_000,
    };
    let expired = dial(quic, client(&dir, "P2", Role::Patrol, past)).await;
    let reason = match expired {
        Err(e) => e,
        Ok(c) => closed_reason(&c).await.to_string(),
    };
    assert!(
        reason.contains("45") || reason.contains("Expired"),
        "expired: {reason}"
    );

    // Revoked.
    let revoked_config = client(&dir, "P3", Role::Patrol, valid());
    ca::revoke_unit(&state.store, "P3", now).unwrap();
    state.patrol.refresh_revocations(&state.store);
    let revoked = dial(quic, revoked_config).await;
    let reason = match revoked {
        Err(e) => e,
        Ok(c) => closed_reason(&c).await.to_string(),
    };
    assert!(
        reason.contains("44") || reason.contains("Revoked"),
        "revoked: {reason}"
    );

    // A server certificate may not connect as a tablet: refused in the
    // handshake (its key usage is server authentication only).
    let wrong = dial(quic, client(&dir, "ground2", Role::Server, valid())).await;
    let reason = match wrong {
        Err(e) => e,
        Ok(c) => closed_reason(&c).await.to_string(),
    };
    assert!(
        reason.contains("client authentication"),
        "server cert as client: {reason}"
    );

    // Signed by the deployment CA but without the unit's URN, or without
    // client-authentication usage: refused (access_denied 49,
    // unsupported_certificate 43).
    for (urn, eku, expected) in [
        (false, true, ["49", "AccessDenied"]),
        (true, false, ["43", "UnsupportedCertificate"]),
    ] {
        let config = custom_client(&dir, "P4", urn, eku);
        let reason = match dial(quic, config).await {
            Err(e) => e,
            Ok(c) => closed_reason(&c).await.to_string(),
        };
        assert!(
            expected.iter().any(|e| reason.contains(e)),
            "urn {urn}, eku {eku}: {reason}"
        );
    }

    // A role may not send what it has no right to: a patrol cannot broadcast.
    good.send(client_message::Body::Broadcast(
        vigie_protocols::tablet::Broadcast {
            message_id: "b1".into(),
            text: "all units".into(),
            ..Default::default()
        },
    ))
    .await;
    match good.next().await.body {
        Some(server_message::Body::Error(e)) => {
            assert_eq!(e.code(), ErrorCode::NotPermitted);
            assert!(e.message.contains("may not broadcast"), "{}", e.message);
        }
        other => panic!("expected NOT_PERMITTED, got {other:?}"),
    }

    // None of it touched the good client, and none of them entered the picture.
    good.ping(7).await;
    let refused = state
        .patrol
        .counters
        .handshake_failures
        .load(Ordering::Relaxed);
    assert!(
        refused >= 5,
        "five refused handshakes counted, got {refused}"
    );
    let text = state.metrics.render(&state.fleet, 0.0);
    assert!(
        text.contains(&format!(
            "vigie_patrol_handshakes_refused_total{{reason=\"failed\"}} {refused}"
        )),
        "{text}"
    );
    for unit in ["P2", "P3", "ground2"] {
        assert!(
            state.fleet.read(|f| f.get(unit).is_none()),
            "{unit} must not appear"
        );
    }
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

#[tokio::test]
async fn garbage_oversized_unknown_and_flooding_clients_affect_only_themselves() {
    let (server, dir, quic) = start("bad-input").await;
    let mut good = Tablet::open(quic, client(&dir, "P1", Role::Patrol, valid())).await;

    // Unknown message type: an error, and the connection carries on.
    let mut newer = Tablet::open(quic, client(&dir, "P2", Role::Patrol, valid())).await;
    newer.send.write_all(&[3, 0x98, 0x06, 0x01]).await.unwrap();
    match newer.next().await.body {
        Some(server_message::Body::Error(e)) => assert_eq!(e.code(), ErrorCode::UnknownMessage),
        other => panic!("expected an error, got {other:?}"),
    }
    newer.ping(1).await;

    // Garbage: closed as a protocol violation.
    let mut garbage = Tablet::open(quic, client(&dir, "P3", Role::Patrol, valid())).await;
    garbage
        .send
        .write_all(&[4, 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    let err = closed_reason(&garbage.conn).await;
    assert!(
        matches!(&err, quinn::ConnectionError::ApplicationClosed(c) if c.error_code == (CloseCode::ProtocolViolation as u32).into()),
        "{err}"
    );

    // Oversized: refused on the length prefix alone.
    let mut big = Tablet::open(quic, client(&dir, "P4", Role::Patrol, valid())).await;
    big.send.write_all(&[0xff, 0xff, 0xff, 0x7f]).await.unwrap();
    let err = closed_reason(&big.conn).await;
    assert!(
        matches!(&err, quinn::ConnectionError::ApplicationClosed(c) if c.error_code == (CloseCode::MessageTooLarge as u32).into()),
        "{err}"
    );

    // A burst on the control stream, three times the per-second rate in
    // one write (a tablet resending its outbox after a reconnection, as the
    // spec advises): paced, every message answered, never closed.
    let mut burster = Tablet::open(quic, client(&dir, "P5", Role::Patrol, valid())).await;
    let count = 3 * MAX_MESSAGES_PER_SECOND;
    let mut burst = Vec::new();
    for nonce in 0..count {
        burst.extend(
            codec::encode_frame(
                &ClientMessage {
                    body: Some(client_message::Body::Ping(Ping {
                        nonce: u64::from(nonce),
                    })),
                },
                MAX_CONTROL_MESSAGE_BYTES,
            )
            .unwrap(),
        );
    }
    let started = tokio::time::Instant::now();
    burster.send.write_all(&burst).await.unwrap();
    for nonce in 0..count {
        match burster.next().await.body {
            Some(server_message::Body::Pong(p)) => assert_eq!(p.nonce, u64::from(nonce)),
            other => panic!("pong {nonce} expected, got {other:?}"),
        }
    }
    // Paced at the documented rate: what exceeds the allowance waited.
    let paced =
        Duration::from_secs_f64(f64::from(count - PACE_BURST) / f64::from(MAX_MESSAGES_PER_SECOND));
    assert!(
        started.elapsed() + Duration::from_millis(50) >= paced,
        "{:?} < {paced:?}: not paced",
        started.elapsed()
    );
    assert!(
        burster.conn.close_reason().is_none(),
        "the burster stays connected"
    );
    good.ping(4).await;

    // A stream flood: the server grants a tablet four report streams at a
    // time, so a fifth cannot even be opened while the four stay open.
    let streams = Tablet::open(quic, client(&dir, "P6", Role::Patrol, valid())).await;
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(streams.conn.open_uni().await.unwrap());
    }
    assert!(
        futures_util::FutureExt::now_or_never(streams.conn.open_uni()).is_none(),
        "a fifth concurrent report stream must wait for credit"
    );

    // Garbage datagrams are dropped without closing.
    newer.conn.send_datagram(vec![0xff; 50].into()).unwrap();
    newer.ping(2).await;
    good.ping(3).await;
    drop(open);
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ids of the orders received within `d` (other messages skipped).
async fn orders_within(t: &mut Tablet, d: Duration) -> Vec<String> {
    let mut ids = Vec::new();
    let end = tokio::time::Instant::now() + d;
    while let Ok(m) = tokio::time::timeout_at(end, t.next()).await {
        if let Some(server_message::Body::Order(o)) = m.body {
            ids.push(o.order_id);
        }
    }
    ids
}

#[tokio::test]
async fn an_order_the_tablet_did_not_take_is_sent_again_on_the_same_connection() {
    let mut config = Config::default();
    config.dispatch.resend_after_ms = 300;
    config.dispatch.max_resends = 2;
    let (server, dir, quic) = start_with("resend", config).await;
    let state = server.state().clone();
    let mut tablet = Tablet::open(quic, client(&dir, "P5", Role::Patrol, valid())).await;

    // The tablet drops the first copy (no ack): the same connection gets a
    // second one; once acknowledged, no more copies come.
    let first = state.patrol.issue_order("P5", &order()).await.unwrap();
    let Some(server_message::Body::Order(o)) = tablet.next().await.body else {
        panic!("order expected")
    };
    assert_eq!(o.order_id, first.order_id);
    let Some(server_message::Body::Order(copy)) = tablet.next().await.body else {
        panic!("a copy of the order expected")
    };
    assert_eq!(copy.order_id, first.order_id, "the same order, same id");
    let receipt = tablet.ack("r1", &copy.order_id, AckKind::Received).await;
    assert!(matches!(receipt, server_message::Body::Receipt(r) if r.message_id == "r1"));
    assert!(
        orders_within(&mut tablet, Duration::from_millis(1500))
            .await
            .is_empty(),
        "an acknowledged order is not sent again"
    );

    // Bounded: a tablet that never acknowledges gets 1 + max_resends copies
    // on this connection, then the session leaves it to the escalation.
    let second = state.patrol.issue_order("P5", &order()).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.extend(orders_within(&mut tablet, Duration::from_millis(1500)).await);
    }
    assert_eq!(seen, vec![second.order_id.clone(); 3], "{seen:?}");
    let pending = state.patrol.orders().unacked("P5").unwrap();
    assert_eq!(pending.len(), 1, "still pending: resent when it reconnects");
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The framing rules of `protocols/README.md` §2–3 as a client written from
/// the spec reads them: a frame cut by FIN is a protocol violation, an
/// oversize prefix on a report stream is refused on arrival, and complete
/// frames on a report stream are each handled.
#[tokio::test]
async fn framing_follows_the_spec_on_control_and_report_streams() {
    let (server, dir, quic) = start("framing").await;
    // A truncated frame, then FIN on the control stream.
    let mut cut = Tablet::open(quic, client(&dir, "P1", Role::Patrol, valid())).await;
    let ping = codec::encode_frame(
        &ClientMessage {
            body: Some(client_message::Body::Ping(Ping { nonce: 9 })),
        },
        MAX_CONTROL_MESSAGE_BYTES,
    )
    .unwrap();
    cut.send.write_all(&ping[..ping.len() - 1]).await.unwrap();
    cut.send.finish().unwrap();
    let err = closed_reason(&cut.conn).await;
    assert!(
        matches!(&err, quinn::ConnectionError::ApplicationClosed(c) if c.error_code == (CloseCode::ProtocolViolation as u32).into()),
        "{err}"
    );

    // An oversize length prefix on a report stream, the stream left open:
    // refused on the prefix, before any body or FIN.
    let big = Tablet::open(quic, client(&dir, "P2", Role::Patrol, valid())).await;
    let mut report = big.conn.open_uni().await.unwrap();
    report.write_all(&[0xff, 0xff, 0xff, 0x7f]).await.unwrap();
    let err = closed_reason(&big.conn).await;
    assert!(
        matches!(&err, quinn::ConnectionError::ApplicationClosed(c) if c.error_code == (CloseCode::MessageTooLarge as u32).into()),
        "{err}"
    );

    // Two complete incident reports on one report stream: both receipted.
    let mut two = Tablet::open(quic, client(&dir, "P3", Role::Patrol, valid())).await;
    let incident = |id: &str| {
        codec::encode_frame(
            &ClientMessage {
                body: Some(client_message::Body::Incident(
                    vigie_protocols::tablet::IncidentReport {
                        message_id: id.into(),
                        category: 1,
                        location: Some(vigie_protocols::tablet::GeoPoint {
                            lat_deg: 48.9245,
                            lon_deg: 2.3602,
                        }),
                        text: "test".into(),
                        photo_jpeg: Vec::new(),
                        at_ms: 1,
                    },
                )),
            },
            vigie_protocols::tablet::codec::MAX_REPORT_MESSAGE_BYTES,
        )
        .unwrap()
    };
    let mut stream = two.conn.open_uni().await.unwrap();
    let mut both = incident("inc-a");
    both.extend(incident("inc-b"));
    stream.write_all(&both).await.unwrap();
    stream.finish().unwrap();
    let mut receipted = std::collections::BTreeSet::new();
    while receipted.len() < 2 {
        match two.next().await.body {
            Some(server_message::Body::Receipt(r)) => {
                receipted.insert(r.message_id);
            }
            Some(server_message::Body::Error(e)) => panic!("refused: {e:?}"),
            _ => {}
        }
    }
    assert_eq!(
        receipted.into_iter().collect::<Vec<_>>(),
        ["inc-a", "inc-b"]
    );
    two.ping(1).await;
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Dispatch's disk stops answering (its storage held still): positions
/// still reach the picture, and an order to another tablet is still stored
/// and delivered, on a runtime of two worker threads that four waiting
/// operator requests and a tablet report would have filled had dispatch
/// written on them. When the disk answers again, nothing was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_dispatch_disk_delays_neither_positions_nor_orders_on_other_connections() {
    use vigie_ground::dispatch::incident::{Category, GeoPoint, Priority, Report, Source};
    let (server, dir, quic) = start("stuck-disk").await;
    let state = server.state().clone();
    let mut reporter = Tablet::open(quic, client(&dir, "P1", Role::Patrol, valid())).await;
    let mut other = Tablet::open(quic, client(&dir, "P2", Role::Patrol, valid())).await;

    let mut hold = state.dispatch.hold_storage();
    // A tablet's incident report: stored and receipted by the patrol link,
    // then handed to dispatch, which sticks on its first statement.
    let report = codec::encode_frame(
        &ClientMessage {
            body: Some(client_message::Body::Incident(
                vigie_protocols::tablet::IncidentReport {
                    message_id: "stuck-1".into(),
                    category: 1,
                    location: Some(vigie_protocols::tablet::GeoPoint {
                        lat_deg: 48.9245,
                        lon_deg: 2.3602,
                    }),
                    text: "smoke".into(),
                    photo_jpeg: Vec::new(),
                    at_ms: 1,
                },
            )),
        },
        vigie_protocols::tablet::codec::MAX_REPORT_MESSAGE_BYTES,
    )
    .unwrap();
    let mut stream = reporter.conn.open_uni().await.unwrap();
    stream.write_all(&report).await.unwrap();
    stream.finish().unwrap();
    loop {
        match reporter.next().await.body {
            Some(server_message::Body::Receipt(r)) if r.message_id == "stuck-1" => break,
            Some(server_message::Body::Error(e)) => panic!("refused: {e:?}"),
            _ => {}
        }
    }
    // Four operators' reports wait for dispatch too.
    let mut waiting = tokio::task::JoinSet::new();
    for i in 0..4 {
        let desk = state.dispatch.clone();
        waiting.spawn(async move {
            desk.report(Report {
                category: Category::Medical,
                priority: Priority::Normal,
                location: GeoPoint {
                    lat_deg: 48.9246,
                    lon_deg: 2.3603,
                },
                source: Source::Operator,
                reporter: format!("op{i}"),
                text: String::new(),
                observed_ms: 1,
            })
            .await
        });
    }
    tokio::time::timeout(WAIT, hold.stuck())
        .await
        .expect("dispatch reaches its held storage");

    // A position from the other tablet reaches the picture.
    let mut changes = state.fleet.subscribe();
    let pos = ClientMessage {
        body: Some(client_message::Body::Position(PositionReport {
            lat_deg: 48.9241,
            lon_deg: 2.3605,
            accuracy_m: 4.0,
            heading_deg: None,
            speed_m_s: None,
            timestamp_ms: vigie_ground::time::unix_ms(),
            streaming: false,
            camera_bearing_deg: None,
        })),
    };
    other
        .conn
        .send_datagram(codec::encode_datagram(&pos).unwrap().into())
        .unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            match changes.recv().await {
                Ok(vigie_ground::fleet::Change::Upsert(u, _))
                    if u.id == "P2"
                        && u.position.as_ref().is_some_and(|p| p.lat_deg == 48.9241) =>
                {
                    return;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => panic!("picture closed"),
                _ => {}
            }
        }
    })
    .await
    .expect("the position reaches the picture while dispatch is stuck");

    // An operator's order to the other tablet is stored and delivered.
    let issued = tokio::time::timeout(WAIT, state.patrol.issue_order("P2", &order()))
        .await
        .expect("the order is stored while dispatch is stuck")
        .unwrap();
    loop {
        match other.next().await.body {
            Some(server_message::Body::Order(o)) => {
                assert_eq!(o.order_id, issued.order_id);
                break;
            }
            Some(server_message::Body::Error(e)) => panic!("refused: {e:?}"),
            _ => {}
        }
    }
    assert!(waiting.try_join_next().is_none(), "dispatch was held");

    // The disk answers again: the five reports become incidents.
    drop(hold);
    while let Some(done) = tokio::time::timeout(WAIT, waiting.join_next())
        .await
        .expect("the operators' reports are answered")
    {
        assert!(done.unwrap().unwrap().is_some());
    }
    let incidents = state.dispatch.list(false).await.unwrap();
    assert_eq!(incidents.len(), 5, "{incidents:?}");
    assert!(incidents.iter().any(|i| i.report.reporter == "P1"));
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
