//! An operator client of the QUIC protocol: connects with an operator or
//! supervisor certificate, opens the session and follows the live picture.
//!
//! Used by the 3D viewer's live mode and by tests; a tablet team reads
//! `protocols/README.md`, not this file.

use std::net::SocketAddr;
use std::time::Duration;

use vigie_protocols::tablet::codec::{self, FrameDecoder, MAX_CONTROL_MESSAGE_BYTES};
use vigie_protocols::tablet::picture::Picture;
use vigie_protocols::tablet::{
    ClientMessage, Hello, PROTOCOL_VERSION, PictureSubscribe, SERVER_NAME, ServerMessage,
    VideoChunk, VideoSubscribe, client_message, server_message,
};

use crate::operator::picture::MAX_PICTURE_FRAME_BYTES;

/// Longest wait for the server's Welcome and for the picture stream.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why following the picture stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No UDP socket.
    #[error("cannot open a UDP socket: {0}")]
    Socket(std::io::Error),
    /// The connection could not be made.
    #[error("cannot connect to {addr}: {detail}")]
    Connect {
        /// Server address.
        addr: SocketAddr,
        /// What failed.
        detail: String,
    },
    /// The server refused or closed the session.
    #[error("the server ended the session: {0}")]
    Refused(String),
    /// The server sent something this client cannot read.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The certificate, key or CA could not be read.
    #[error("operator credentials: {0}")]
    Credentials(String),
    /// The server did not answer in time.
    #[error("no answer from the server within {0:?}: {1}")]
    Timeout(Duration, &'static str),
    /// The server refused these credentials or this role (an expired,
    /// revoked or unknown certificate, a role that may not follow the
    /// picture): trying again with them cannot succeed.
    #[error(
        "the server refused this client: {0}; not retrying: fix the certificate (`vigie ca issue --role operator`)"
    )]
    Rejected(String),
}

impl ClientError {
    /// Whether trying again with the same credentials cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ClientError::Rejected(_) | ClientError::Credentials(_))
    }
}

/// TLS alerts about a certificate (RFC 8446 §6.2): bad (42), unsupported
/// (43), revoked (44), expired (45), unknown (46), unknown CA (48), access
/// denied (49), certificate required (116).
const CERTIFICATE_ALERTS: [(u8, &str); 8] = [
    (42, "bad certificate"),
    (43, "unsupported certificate: not a client certificate"),
    (44, "certificate revoked"),
    (45, "certificate expired"),
    (46, "certificate unknown"),
    (48, "unknown CA: not issued by this deployment"),
    (49, "access denied: no unit id in the certificate"),
    (116, "certificate required"),
];

/// Close codes of the protocol that no retry with the same credentials
/// can change (`vigie.proto`, `CloseCode`).
const FINAL_CLOSE_CODES: [(u64, &str); 3] = [
    (3, "unsupported protocol version"),
    (4, "role refused"),
    (5, "certificate revoked or expired"),
];

/// Why a connection ended, with the server's reason; a refusal of the
/// credentials is [`ClientError::Rejected`].
fn connection_error(addr: SocketAddr, e: &quinn::ConnectionError) -> ClientError {
    use quinn::ConnectionError as C;
    let alert = |code: quinn::TransportErrorCode| {
        let n = u64::from(code).checked_sub(0x100).filter(|n| *n < 0x100)?;
        CERTIFICATE_ALERTS
            .iter()
            .find(|(a, _)| u64::from(*a) == n)
            .map(|(a, name)| format!("TLS alert {a} ({name})"))
    };
    let rejected = match e {
        C::ApplicationClosed(c) => {
            let code = c.error_code.into_inner();
            FINAL_CLOSE_CODES
                .iter()
                .find(|(k, _)| *k == code)
                .map(|(_, name)| format!("{name}: {}", String::from_utf8_lossy(&c.reason)))
        }
        C::ConnectionClosed(c) => alert(c.error_code),
        C::TransportError(t) => alert(t.code),
        _ => None,
    };
    match rejected {
        Some(reason) => ClientError::Rejected(reason),
        None => ClientError::Connect {
            addr,
            detail: e.to_string(),
        },
    }
}

async fn write(send: &mut quinn::SendStream, msg: &ClientMessage) -> Result<(), ClientError> {
    let frame = codec::encode_frame(msg, MAX_CONTROL_MESSAGE_BYTES)
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    send.write_all(&frame)
        .await
        .map_err(|e| ClientError::Refused(e.to_string()))
}

/// Reads the next server message from `recv`.
async fn read(
    recv: &mut quinn::RecvStream,
    decoder: &mut FrameDecoder<ServerMessage>,
    buf: &mut [u8],
) -> Result<ServerMessage, ClientError> {
    loop {
        match decoder.next_message() {
            Ok(Some(m)) => return Ok(m),
            Ok(None) => {}
            Err(codec::DecodeError::UnknownMessage) => continue,
            Err(e) => return Err(ClientError::Protocol(e.to_string())),
        }
        match recv.read(buf).await {
            Ok(Some(n)) => decoder.push(&buf[..n]),
            Ok(None) => return Err(ClientError::Refused("stream finished".into())),
            Err(e) => return Err(ClientError::Refused(e.to_string())),
        }
    }
}

/// Connects to `addr`, opens the session, subscribes to the live picture
/// and calls `on_step` with the picture after every complete step (the
/// snapshot first). Returns when the connection ends, or when `on_step`
/// returns `false`.
pub async fn follow_picture(
    addr: SocketAddr,
    config: quinn::ClientConfig,
    min_interval: Duration,
    mut on_step: impl FnMut(&Picture) -> bool,
) -> Result<(), ClientError> {
    let (_endpoint, conn) = connect(addr, config).await?;
    match follow_session(addr, &conn, min_interval, &mut on_step).await {
        // However it surfaced (a write, a read, the picture stream), a
        // connection the server closed on these credentials says so.
        Err(e) => Err(match conn.close_reason() {
            Some(reason) => match connection_error(addr, &reason) {
                r @ ClientError::Rejected(_) => r,
                _ => e,
            },
            None => e,
        }),
        ok => ok,
    }
}

/// A QUIC connection to the ground (the endpoint must live as long).
async fn connect(
    addr: SocketAddr,
    config: quinn::ClientConfig,
) -> Result<(quinn::Endpoint, quinn::Connection), ClientError> {
    let bind: SocketAddr = if addr.is_ipv6() {
        "[::]:0"
            .parse()
            .map_err(|_| ClientError::Protocol("bind".into()))?
    } else {
        "0.0.0.0:0"
            .parse()
            .map_err(|_| ClientError::Protocol("bind".into()))?
    };
    let mut endpoint = quinn::Endpoint::client(bind).map_err(ClientError::Socket)?;
    endpoint.set_default_client_config(config);
    let conn = endpoint
        .connect(addr, SERVER_NAME)
        .map_err(|e| ClientError::Connect {
            addr,
            detail: e.to_string(),
        })?;
    let conn = tokio::time::timeout(OPEN_TIMEOUT, conn)
        .await
        .map_err(|_| ClientError::Timeout(OPEN_TIMEOUT, "handshake"))?
        .map_err(|e| connection_error(addr, &e))?;
    Ok((endpoint, conn))
}

/// Watches one live video feed (`VideoSubscribe`): `on_chunk` gets every
/// picture (the first with its init segment) until it returns `false`.
pub async fn watch_video(
    addr: SocketAddr,
    config: quinn::ClientConfig,
    source: &str,
    mut on_chunk: impl FnMut(&VideoChunk) -> bool,
) -> Result<(), ClientError> {
    let (_endpoint, conn) = connect(addr, config).await?;
    let (mut send, mut recv, mut control) = open_session(addr, &conn).await?;
    let subscribe = ClientMessage {
        body: Some(client_message::Body::SubscribeVideo(VideoSubscribe {
            source: source.to_string(),
        })),
    };
    write(&mut send, &subscribe).await?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut video = server_stream(&conn, &mut recv, &mut control, &mut buf, "video stream").await?;
    let mut decoder =
        FrameDecoder::<ServerMessage>::new(crate::video::relay::MAX_VIDEO_FRAME_BYTES);
    let mut vbuf = vec![0u8; 256 * 1024];
    loop {
        let msg = read(&mut video, &mut decoder, &mut vbuf).await?;
        let Some(server_message::Body::Video(chunk)) = msg.body else {
            return Err(ClientError::Protocol(
                "a video stream frame was not a VideoChunk".into(),
            ));
        };
        if !on_chunk(&chunk) {
            conn.close(0u32.into(), b"done");
            return Ok(());
        }
    }
}

/// Opens the control stream: Hello, then the server's Welcome.
async fn open_session(
    addr: SocketAddr,
    conn: &quinn::Connection,
) -> Result<
    (
        quinn::SendStream,
        quinn::RecvStream,
        FrameDecoder<ServerMessage>,
    ),
    ClientError,
> {
    let connect_err = |detail: String| ClientError::Connect { addr, detail };
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    let hello = ClientMessage {
        body: Some(client_message::Body::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            client_software: concat!("vigie-operator/", env!("CARGO_PKG_VERSION")).into(),
            client_time_ms: crate::time::unix_ms(),
        })),
    };
    write(&mut send, &hello).await?;
    let mut control = FrameDecoder::<ServerMessage>::new(MAX_CONTROL_MESSAGE_BYTES);
    let mut buf = vec![0u8; 64 * 1024];
    let welcome = tokio::time::timeout(OPEN_TIMEOUT, read(&mut recv, &mut control, &mut buf))
        .await
        .map_err(|_| ClientError::Timeout(OPEN_TIMEOUT, "Welcome"))??;
    match welcome.body {
        Some(server_message::Body::Welcome(w)) => {
            tracing::info!(unit = %w.unit_id, role = %w.role, "operator session open");
        }
        other => {
            return Err(ClientError::Protocol(format!(
                "expected Welcome, got {other:?}"
            )));
        }
    }
    Ok((send, recv, control))
}

/// The stream the server opens after a subscription; meanwhile the control
/// stream may carry a refusal.
async fn server_stream(
    conn: &quinn::Connection,
    recv: &mut quinn::RecvStream,
    control: &mut FrameDecoder<ServerMessage>,
    buf: &mut [u8],
    what: &'static str,
) -> Result<quinn::RecvStream, ClientError> {
    tokio::select! {
        s = conn.accept_uni() => s.map_err(|e| ClientError::Refused(e.to_string())),
        m = read(recv, control, buf) => {
            Err(match m?.body {
                Some(server_message::Body::Error(e))
                    if e.code() == vigie_protocols::tablet::ErrorCode::NotPermitted =>
                {
                    ClientError::Rejected(e.message)
                }
                Some(server_message::Body::Error(e)) => ClientError::Refused(e.message),
                other => ClientError::Protocol(format!("expected the {what}, got {other:?}")),
            })
        }
        _ = tokio::time::sleep(OPEN_TIMEOUT) => Err(ClientError::Timeout(OPEN_TIMEOUT, what)),
    }
}

/// The session on an open connection: Hello, Welcome, the subscription,
/// then every picture step.
async fn follow_session(
    addr: SocketAddr,
    conn: &quinn::Connection,
    min_interval: Duration,
    on_step: &mut impl FnMut(&Picture) -> bool,
) -> Result<(), ClientError> {
    let (mut send, mut recv, mut control) = open_session(addr, conn).await?;
    let mut buf = vec![0u8; 64 * 1024];
    let subscribe = ClientMessage {
        body: Some(client_message::Body::SubscribePicture(PictureSubscribe {
            min_interval_ms: u32::try_from(min_interval.as_millis()).unwrap_or(u32::MAX),
        })),
    };
    write(&mut send, &subscribe).await?;
    let mut pictures =
        server_stream(conn, &mut recv, &mut control, &mut buf, "picture stream").await?;
    let mut decoder = FrameDecoder::<ServerMessage>::new(MAX_PICTURE_FRAME_BYTES);
    let mut picture = Picture::new();
    let mut skipped = Vec::new();
    let mut pbuf = vec![0u8; 256 * 1024];
    loop {
        let msg = tokio::select! {
            m = read(&mut pictures, &mut decoder, &mut pbuf) => m?,
            // Orders, broadcasts and pongs on the control stream are not the
            // viewer's business; a refusal or close ends the loop.
            m = read(&mut recv, &mut control, &mut buf) => {
                if let Some(server_message::Body::Error(e)) = m?.body {
                    tracing::warn!("server: {}", e.message);
                }
                continue;
            }
        };
        let Some(server_message::Body::Picture(update)) = msg.body else {
            return Err(ClientError::Protocol(
                "a picture stream frame was not a PictureUpdate".into(),
            ));
        };
        let complete = picture
            .apply(&update, &mut skipped)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        for e in skipped.drain(..) {
            tracing::warn!("picture: {e}");
        }
        if complete && !on_step(&picture) {
            conn.close(0u32.into(), b"done");
            return Ok(());
        }
    }
}

/// Reads an operator's credentials as `vigie ca issue` writes them:
/// `<dir>/<unit>.cert.pem`, `<dir>/<unit>.key.pem` and `<dir>/ca.pem`.
pub fn load_client_config(
    dir: &std::path::Path,
    unit: &str,
) -> Result<quinn::ClientConfig, ClientError> {
    let read = |name: String| {
        let path = dir.join(&name);
        std::fs::read_to_string(&path).map_err(|e| {
            ClientError::Credentials(format!(
                "cannot read {}: {e} (issue one with `vigie ca issue --unit {unit} --role operator --out {}`)",
                path.display(),
                dir.display()
            ))
        })
    };
    let ca = read("ca.pem".into())?;
    let cert = read(format!("{unit}.cert.pem"))?;
    let key = read(format!("{unit}.key.pem"))?;
    crate::patrol::tls::client_config(&ca, &cert, &key)
        .map_err(|e| ClientError::Credentials(format!("{}: {e}", dir.display())))
}

/// Follows the picture from a plain thread until `stop` is set: reconnects
/// after any failure with an exponential back-off (1 s doubling to 10 s),
/// calls `on_step` after every complete step and `on_error` after every
/// failure. A refusal no retry can change ([`ClientError::is_permanent`]:
/// the certificate or its role) is reported once and ends it.
pub fn follow_picture_blocking(
    addr: SocketAddr,
    config: quinn::ClientConfig,
    min_interval: Duration,
    stop: &std::sync::atomic::AtomicBool,
    mut on_step: impl FnMut(&Picture),
    mut on_error: impl FnMut(&ClientError),
) {
    use std::sync::atomic::Ordering;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            on_error(&ClientError::Socket(e));
            return;
        }
    };
    runtime.block_on(async {
        let mut backoff = Duration::from_secs(1);
        while !stop.load(Ordering::Relaxed) {
            let stopped = async {
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            let mut stepped = false;
            let follow = follow_picture(addr, config.clone(), min_interval, |p| {
                stepped = true;
                on_step(p);
                !stop.load(Ordering::Relaxed)
            });
            let result = tokio::select! {
                r = follow => r,
                _ = stopped => return,
            };
            if stepped {
                backoff = Duration::from_secs(1);
            }
            match result {
                Ok(()) => return,
                Err(e) => {
                    on_error(&e);
                    if e.is_permanent() {
                        return;
                    }
                }
            }
            let wait = tokio::time::sleep(backoff);
            tokio::select! {
                _ = wait => {}
                _ = async {
                    while !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                } => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    });
}
