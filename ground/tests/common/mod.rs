//! Helpers shared by the ground's integration tests. Each test binary
//! compiles this module and uses part of it.
#![allow(dead_code)]

use vigie_ground::patrol::ca::{DEFAULT_UNIT_VALIDITY, DeploymentCa, Role, Validity};
use vigie_ground::patrol::tls;

/// A QUIC client configuration with a certificate the data directory's
/// deployment CA issues now for `unit` in `role`.
pub fn client(dir: &std::path::Path, unit: &str, role: Role) -> quinn::ClientConfig {
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

use std::net::SocketAddr;
use std::time::Duration;

use vigie_protocols::tablet::codec::{self, FrameDecoder, MAX_CONTROL_MESSAGE_BYTES};
use vigie_protocols::tablet::{
    AckKind, ClientMessage, Hello, OrderAck, Ping, ServerMessage, client_message, server_message,
};

/// Bound on every wait of the raw tablet below.
pub const TABLET_WAIT: Duration = Duration::from_secs(10);

/// A QUIC connection to `quic` with `config`, or why the handshake failed.
pub async fn dial(
    quic: SocketAddr,
    config: quinn::ClientConfig,
) -> Result<quinn::Connection, String> {
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(config);
    let connecting = endpoint
        .connect(quic, vigie_protocols::tablet::SERVER_NAME)
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(TABLET_WAIT, connecting).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("handshake timed out".into()),
    }
}

/// A connected tablet speaking raw `vigie/1` frames, as a third-party
/// client written from the protocol would.
pub struct Tablet {
    /// The connection.
    pub conn: quinn::Connection,
    /// The control stream, client side.
    pub send: quinn::SendStream,
    /// The control stream, server side.
    pub recv: quinn::RecvStream,
    /// What the server wrote on it so far.
    pub decoder: FrameDecoder<ServerMessage>,
}

impl Tablet {
    /// Connects, says Hello and waits for Welcome.
    pub async fn open(quic: SocketAddr, config: quinn::ClientConfig) -> Tablet {
        let conn = dial(quic, config).await.expect("handshake");
        let (send, recv) = conn.open_bi().await.unwrap();
        let mut t = Tablet {
            conn,
            send,
            recv,
            decoder: FrameDecoder::new(MAX_CONTROL_MESSAGE_BYTES),
        };
        t.send(client_message::Body::Hello(Hello {
            protocol_version: 1,
            client_software: "test".into(),
            client_time_ms: 0,
        }))
        .await;
        match t.next().await.body {
            Some(server_message::Body::Welcome(_)) => t,
            other => panic!("expected Welcome, got {other:?}"),
        }
    }

    /// Writes one message on the control stream.
    pub async fn send(&mut self, body: client_message::Body) {
        let frame = codec::encode_frame(
            &ClientMessage { body: Some(body) },
            MAX_CONTROL_MESSAGE_BYTES,
        )
        .unwrap();
        self.send.write_all(&frame).await.unwrap();
    }

    /// The next message on the control stream.
    pub async fn next(&mut self) -> ServerMessage {
        let mut buf = [0u8; 4096];
        tokio::time::timeout(TABLET_WAIT, async {
            loop {
                if let Some(m) = self.decoder.next_message().unwrap() {
                    return m;
                }
                let n = self
                    .recv
                    .read(&mut buf)
                    .await
                    .unwrap()
                    .expect("stream open");
                self.decoder.push(&buf[..n]);
            }
        })
        .await
        .expect("a server message in time")
    }

    /// The next message that is not an order or a broadcast.
    pub async fn answer(&mut self) -> server_message::Body {
        loop {
            match self.next().await.body {
                Some(server_message::Body::Order(_)) | Some(server_message::Body::Broadcast(_)) => {
                }
                Some(b) => return b,
                None => panic!("empty message"),
            }
        }
    }

    /// A ping answered.
    pub async fn ping(&mut self, nonce: u64) {
        self.send(client_message::Body::Ping(Ping { nonce })).await;
        loop {
            if let Some(server_message::Body::Pong(p)) = self.next().await.body {
                assert_eq!(p.nonce, nonce);
                return;
            }
        }
    }

    /// Acknowledges `order_id`; the server's answer.
    pub async fn ack(&mut self, id: &str, order_id: &str, kind: AckKind) -> server_message::Body {
        self.send(client_message::Body::OrderAck(OrderAck {
            message_id: id.into(),
            order_id: order_id.into(),
            kind: kind as i32,
            reason: String::new(),
            at_ms: 0,
        }))
        .await;
        self.next().await.body.unwrap()
    }
}
