//! The HTTP listener against hostile and slow peers, over loopback: caps on
//! connections (in total and per peer), idle and slow peers timed out, and
//! HTTPS with the deployment CA. Each peer address is its own loopback
//! address (127.0.0.x), so "another host" is really another source address.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use vigie_ground::config::Config;
use vigie_ground::server::Server;

/// Upper bound on any wait below: a failure, never a pace.
const PATIENCE: Duration = Duration::from_secs(30);

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigie-http-edge-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn start(name: &str, tune: impl FnOnce(&mut Config)) -> (Server, SocketAddr, PathBuf) {
    let dir = temp(name);
    let mut config = Config::loopback(dir.clone());
    tune(&mut config);
    let server = Server::start(config).await.expect("server starts");
    let http = server.state().listener("http").expect("http bound");
    (server, http, dir)
}

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::from(from), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Waits until the server closes `stream` (EOF or reset); `false` if it
/// is still open after `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let end = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(end, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// `GET path` on a fresh connection from `from`: the status code.
async fn get_from(from: [u8; 4], to: SocketAddr, path: &str) -> u16 {
    let mut s = connect_from(from, to).await;
    let req = format!("GET {path} HTTP/1.1\r\nHost: vigie\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    status_of(&answer)
}

fn status_of(answer: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"))
}

#[tokio::test]
async fn one_peer_cannot_take_every_connection_and_others_are_still_served() {
    let (server, http, dir) = start("peer-cap", |c| {
        c.http.max_connections_per_peer = 8;
        c.http.max_connections = 32;
    })
    .await;
    // The attacker holds its share of idle connections...
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(connect_from([127, 0, 0, 9], http).await);
    }
    // ...and every further one is closed at once, without a byte sent.
    for _ in 0..5 {
        let mut extra = connect_from([127, 0, 0, 9], http).await;
        assert!(
            closed_by_server(&mut extra, PATIENCE).await,
            "a connection over the per-peer cap must be closed"
        );
    }
    // Another address is served.
    assert_eq!(get_from([127, 0, 0, 10], http, "/api/v1/health").await, 200);
    // The held connections are still open (never evicted).
    let probe = &mut held[0];
    probe
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: v\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    probe.read_to_end(&mut answer).await.unwrap();
    assert_eq!(status_of(&answer), 200);
    // A place freed is a place for the peer again.
    drop(held);
    let mut again = None;
    for _ in 0..200 {
        // The server frees the places when it sees the closes: poll for it.
        let mut s = connect_from([127, 0, 0, 9], http).await;
        s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: v\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer).await;
        if !answer.is_empty() {
            again = Some(status_of(&answer));
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(again, Some(200), "the peer is admitted again after closing");
    let metrics = server.state().metrics.http.clone();
    assert!(metrics.refused.load(std::sync::atomic::Ordering::Relaxed) >= 5);
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_total_cap_holds_across_many_peers() {
    let (server, http, dir) = start("total-cap", |c| {
        c.http.max_connections_per_peer = 4;
        c.http.max_connections = 12;
    })
    .await;
    let mut held = Vec::new();
    for peer in 20..23u8 {
        for _ in 0..4 {
            held.push(connect_from([127, 0, 0, peer], http).await);
        }
    }
    // Make sure the server has admitted all twelve before the next one.
    for s in held.iter_mut().step_by(4) {
        s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: v\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert_eq!(status_of(&buf[..n]), 200);
    }
    let mut over = connect_from([127, 0, 0, 30], http).await;
    assert!(closed_by_server(&mut over, PATIENCE).await);
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn idle_and_slow_peers_are_timed_out() {
    let (server, http, dir) = start("timeouts", |c| {
        c.http.header_timeout_ms = 300;
        c.http.body_timeout_ms = 300;
    })
    .await;
    // Connected, says nothing.
    let mut idle = connect_from([127, 0, 0, 40], http).await;
    // Half a request line and headers, then silence (slowloris).
    let mut slow_head = connect_from([127, 0, 0, 41], http).await;
    slow_head
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: v\r\nX-A: ")
        .await
        .unwrap();
    // A body announced, a tenth of it sent.
    let mut slow_body = connect_from([127, 0, 0, 42], http).await;
    slow_body
        .write_all(b"POST /api/v1/incidents HTTP/1.1\r\nHost: v\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"kind\":")
        .await
        .unwrap();
    // A keep-alive connection idle after its answer.
    let mut kept = connect_from([127, 0, 0, 43], http).await;
    kept.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: v\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert_eq!(status_of(&buf[..n]), 200);

    assert!(
        closed_by_server(&mut idle, PATIENCE).await,
        "idle connection"
    );
    assert!(
        closed_by_server(&mut slow_head, PATIENCE).await,
        "slow headers"
    );
    assert!(
        closed_by_server(&mut kept, PATIENCE).await,
        "idle keep-alive"
    );
    // The slow body gets an error answer, then the close.
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, slow_body.read_to_end(&mut answer))
        .await
        .expect("slow body ended in time");
    if !answer.is_empty() {
        let code = status_of(&answer);
        assert!(
            (400..500).contains(&code),
            "slow body answered {code}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn https_with_the_deployment_ca_and_no_plain_http_on_it() {
    let (server, http, dir) = start("https", |c| c.http.tls = true).await;
    let ca_pem = std::fs::read(dir.join("ca").join("ca.cert.pem")).expect("the CA was created");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(&ca_pem) {
        roots.add(cert).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    for name in ["localhost", "127.0.0.1"] {
        let tcp = TcpStream::connect(http).await.unwrap();
        let server_name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
        let mut tls = connector
            .connect(server_name, tcp)
            .await
            .unwrap_or_else(|e| panic!("TLS to {name}: {e}"));
        tls.write_all(
            b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        let mut answer = Vec::new();
        let _ = tls.read_to_end(&mut answer).await;
        assert_eq!(status_of(&answer), 200, "{name}");
    }
    // Plain HTTP on the TLS port gets no answer.
    let mut plain = TcpStream::connect(http).await.unwrap();
    plain
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: v\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, plain.read_to_end(&mut answer)).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"),
        "plain HTTP must not be served on the HTTPS port"
    );
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject as _;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// Sends `request` on a fresh connection: status, content type, body.
async fn exchange(http: SocketAddr, request: String) -> (u16, String, String) {
    let mut s = TcpStream::connect(http).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&answer).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status_of(&answer), content_type, body.to_string())
}

#[tokio::test]
async fn every_error_answer_is_a_json_api_error() {
    let (server, http, dir) = start("errors", |_| {}).await;
    let token = server
        .state()
        .store
        .issue_token("disp", vigie_ground::auth::Role::Dispatcher, 0)
        .unwrap()
        .token;
    let post = |path: &str, content_type: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: v\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let cases = [
        // Unknown route.
        (
            "GET /api/v1/nothing-here HTTP/1.1\r\nHost: v\r\nConnection: close\r\n\r\n".to_string(),
            404,
        ),
        // A method the route does not take.
        (
            format!(
                "DELETE /api/v1/units HTTP/1.1\r\nHost: v\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            ),
            405,
        ),
        // Not JSON.
        (
            post("/api/v1/patrols/P1/orders", "text/plain", "hello"),
            415,
        ),
        // JSON of the wrong shape.
        (
            post(
                "/api/v1/patrols/P1/orders",
                "application/json",
                "{\"lat_deg\":\"north\"}",
            ),
            422,
        ),
        // Broken JSON.
        (
            post(
                "/api/v1/patrols/P1/orders",
                "application/json",
                "{\"lat_deg\":",
            ),
            400,
        ),
    ];
    for (request, want) in cases {
        let (status, content_type, body) = exchange(http, request.clone()).await;
        assert_eq!(status, want, "{request}: {body}");
        assert!(
            content_type.starts_with("application/json"),
            "{request}: {content_type} {body}"
        );
        let error: vigie_protocols::api::ApiError = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{request}: not an ApiError ({e}): {body}"));
        assert!(!error.error.is_empty(), "{request}");
    }
    server.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
