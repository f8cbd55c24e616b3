//! `vigie bench http`: the HTTP listener under a connection flood, against
//! a `vigie serve` child on loopback.
//!
//! One attacking address (127.0.0.2) opens `--idle` connections that send
//! nothing and `--slow` connections that trickle a request header one byte
//! a second (slowloris), for `--for`. Meanwhile an operator on another
//! address (127.0.0.1) asks `/api/v1/health` on a fresh connection every
//! 20 ms, on its own thread with blocking sockets. The bench reports the operator's latencies, how many attacking
//! connections the server kept, and the server's memory before, during
//! and after. Every loop is bounded in count and time, and only loopback
//! addresses are used.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use super::bench_patrols::{ServerProcess, raise_fd_limit, sample};

/// Options of `vigie bench http`.
#[derive(Args, Debug)]
pub struct BenchHttpArgs {
    /// Idle connections the attacker opens (and keeps, where the server
    /// lets it).
    #[arg(long, default_value_t = 20_000)]
    pub idle: usize,
    /// Slow-header connections the attacker opens.
    #[arg(long, default_value_t = 2_000)]
    pub slow: usize,
    /// How long the attack and the health probes last.
    #[arg(long = "for", default_value = "30s", value_parser = super::duration::parse)]
    pub duration: Duration,
    /// Data directory for the server (default: a fresh temporary one).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// The attacker's source address.
const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// Runs the bench and prints its report.
pub fn run(args: BenchHttpArgs) -> anyhow::Result<()> {
    raise_fd_limit((args.idle + args.slow) as u64 + 1024);
    let (dir, temporary) = match &args.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("vigie-bench-http-{}", std::process::id())),
            true,
        ),
    };
    let mut server = ServerProcess::start(&dir, "127.0.0.1:0".parse()?, "127.0.0.1:0".parse()?)?;
    let pid = server.pid().to_string();
    let http = server.http;
    let outcome = super::runtime()?.block_on(attack(&args, http, &pid));
    server.stop();
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let report = outcome?;
    println!("{report}");
    Ok(())
}

/// What one run measured.
struct Report {
    /// Server memory before the attack, MiB.
    rss_before_mib: f64,
    /// Server memory at the end of the attack, MiB.
    rss_during_mib: f64,
    /// Server memory after the attacker left, MiB.
    rss_after_mib: f64,
    /// Peak server memory, MiB.
    hwm_mib: f64,
    /// Attacking connections opened, and still open at the end of the
    /// attack (never closed by the server).
    opened: usize,
    /// Of those, how many the server still held at the end.
    held: usize,
    /// Operator health latencies, milliseconds, sorted.
    latencies_ms: Vec<f64>,
    /// Health probes that got no 200.
    failed: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = |p: f64| {
            if self.latencies_ms.is_empty() {
                return f64::NAN;
            }
            let i = ((self.latencies_ms.len() - 1) as f64 * p).round() as usize;
            self.latencies_ms[i]
        };
        writeln!(f, "HTTP flood from one address")?;
        writeln!(
            f,
            "  attacking connections: {} opened, {} still open at the end",
            self.opened, self.held
        )?;
        writeln!(
            f,
            "  /api/v1/health from another address: {} probes, {} failed, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.latencies_ms.len() + self.failed,
            self.failed,
            q(0.5),
            q(0.99),
            q(1.0)
        )?;
        write!(
            f,
            "  server RSS: {:.0} MiB before, {:.0} MiB during, {:.0} MiB after (peak {:.0} MiB)",
            self.rss_before_mib, self.rss_during_mib, self.rss_after_mib, self.hwm_mib
        )
    }
}

async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

async fn attack(args: &BenchHttpArgs, http: SocketAddr, pid: &str) -> anyhow::Result<Report> {
    let before = sample(pid);
    let end = Instant::now() + args.duration;
    // The operator's probes, from another address, all through the attack.
    // They run on their own OS thread with blocking sockets, like a separate
    // client: sharing this runtime with tens of thousands of attacking
    // sockets would measure the bench's own scheduling, not the server.
    let probe_pid = pid.to_string();
    let probes = std::thread::spawn(move || {
        let mut latencies_ms = Vec::new();
        let mut failed = 0;
        let mut during = sample(&probe_pid);
        while Instant::now() < end {
            let t = Instant::now();
            match health(http) {
                Ok(200) => latencies_ms.push(t.elapsed().as_secs_f64() * 1e3),
                _ => failed += 1,
            }
            during = sample(&probe_pid);
            std::thread::sleep(Duration::from_millis(20));
        }
        (latencies_ms, failed, during)
    });
    // The idle flood, opened in bounded batches.
    let mut idle = Vec::with_capacity(args.idle);
    let mut opened = 0;
    for chunk in (0..args.idle).collect::<Vec<_>>().chunks(500) {
        let mut batch = tokio::task::JoinSet::new();
        for _ in chunk {
            batch.spawn(connect_from(ATTACKER, http));
        }
        while let Some(done) = batch.join_next().await {
            if let Ok(Ok(s)) = done {
                opened += 1;
                idle.push(s);
            }
        }
        if Instant::now() > end {
            break;
        }
    }
    // The slow flood: one header byte a second each, until the end.
    let slow_count = args.slow;
    let slow = tokio::spawn(async move {
        let mut held = 0usize;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..slow_count {
            tasks.spawn(async move {
                let Ok(mut s) = connect_from(ATTACKER, http).await else {
                    return false;
                };
                let head = b"GET /api/v1/health HTTP/1.1\r\nHost: vigie\r\nX-Slow: ";
                for byte in head.iter().cycle() {
                    if Instant::now() > end || s.write_all(&[*byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                // Still open at the end if the server did not close it.
                let mut b = [0u8; 1];
                tokio::time::timeout(Duration::from_millis(10), s.read(&mut b))
                    .await
                    .is_err()
            });
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok(true) = done {
                held += 1;
            }
        }
        held
    });
    let (mut latencies_ms, failed, during) = tokio::task::spawn_blocking(move || probes.join())
        .await
        .context("probe thread")?
        .map_err(|_| anyhow::anyhow!("the probe thread panicked"))?;
    // Which idle connections did the server keep?
    let mut held = 0;
    for s in &mut idle {
        let mut b = [0u8; 1];
        if tokio::time::timeout(Duration::from_millis(1), s.read(&mut b))
            .await
            .is_err()
        {
            held += 1;
        }
    }
    let slow_held = slow.await.context("slow flood task")?;
    drop(idle);
    // Let the server see the closes, then sample again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = sample(pid);
    latencies_ms.sort_by(f64::total_cmp);
    Ok(Report {
        rss_before_mib: before.rss_mib,
        rss_during_mib: during.rss_mib,
        rss_after_mib: after.rss_mib,
        hwm_mib: after.hwm_mib,
        opened: opened + slow_count,
        held: held + slow_held,
        latencies_ms,
        failed,
    })
}

/// `GET /api/v1/health` on a fresh blocking connection, five seconds at
/// most for each step: the status code.
fn health(http: SocketAddr) -> anyhow::Result<u16> {
    use std::io::{Read as _, Write as _};
    let limit = Duration::from_secs(5);
    let mut s = std::net::TcpStream::connect_timeout(&http, limit)?;
    s.set_read_timeout(Some(limit))?;
    s.set_write_timeout(Some(limit))?;
    s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: vigie\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("not an HTTP answer")
}
