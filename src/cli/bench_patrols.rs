//! `vigie bench patrols`: the patrol link under load, end to end on one
//! machine: a real `vigie serve` child process, N simulated tablets in this
//! process, orders through the HTTP API, then a reconnection storm after a
//! `kill -9` of the server.
//!
//! What it measures and prints, with its targets:
//! - connection set-up: time until every tablet has its `Welcome`;
//! - steady state with positions at 1 Hz: server CPU (% of one core) and
//!   memory (RSS, peak RSS), simulator CPU;
//! - order delivery latency (issue to the tablet receiving it) p50/p99
//!   (target: p99 under 100 ms) and orders lost (target: 0);
//! - storm: SIGKILL the server with orders in flight, restart it on the same
//!   ports and data directory, issue more orders at once, and time until
//!   every tablet is back, both sides agree, and every order is received and
//!   acknowledged (target: under 30 s); orders lost (target: 0); tablets that
//!   believe they are connected while the server does not know them
//!   (target: 0).

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use vigie_ground::config::SiteConfig;
use vigie_ground::frame::LocalFrame;
use vigie_ground::patrol::ca::{DEFAULT_UNIT_VALIDITY, DeploymentCa, Role, Validity};
use vigie_protocols::api::UnitList;
use vigie_sim::patrol::tablet::{TabletCerts, TabletStats};
use vigie_sim::patrol::{PatrolSpec, TABLETS_PER_SOCKET, spawn_patrols};

/// Options of `vigie bench patrols`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  vigie bench patrols --count 10000 --for 60s\n  vigie bench patrols --count 1000 --for 20s --order-rate 50 --storm-orders 500\n  vigie bench patrols --count 2000 --no-storm"
)]
pub struct BenchPatrolsArgs {
    /// Simulated tablets.
    #[arg(long, default_value_t = 10_000)]
    pub count: usize,
    /// Steady-state duration, with orders issued throughout (e.g. `60s`).
    #[arg(long = "for", value_parser = super::duration::parse, default_value = "60s")]
    pub run_for: Duration,
    /// Orders per second during the steady state (round-robin over units).
    #[arg(long, default_value_t = 20.0)]
    pub order_rate: f64,
    /// Orders issued just before the kill, and again just after the restart.
    #[arg(long, default_value_t = 500)]
    pub storm_orders: usize,
    /// Skip the reconnection storm.
    #[arg(long)]
    pub no_storm: bool,
    /// Give up waiting for every tablet to connect after this long.
    #[arg(long, value_parser = super::duration::parse, default_value = "300s")]
    pub connect_timeout: Duration,
    /// Give up waiting for the storm to settle after this long.
    #[arg(long, value_parser = super::duration::parse, default_value = "180s")]
    pub recover_timeout: Duration,
    /// Data directory for the server (default: a fresh temporary one,
    /// deleted at the end).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// A `vigie serve` child and where it listens.
pub(super) struct ServerProcess {
    /// The process.
    child: Child,
    /// Its HTTP listener.
    pub(super) http: SocketAddr,
    /// Its QUIC listener.
    quic: SocketAddr,
}

impl ServerProcess {
    /// Starts `vigie serve` on `data_dir`, on the given addresses (port 0:
    /// any), and waits until it announces its listeners.
    pub(super) fn start(
        data_dir: &Path,
        http: SocketAddr,
        quic: SocketAddr,
    ) -> anyhow::Result<ServerProcess> {
        let exe = std::env::current_exe().context("cannot find the vigie binary")?;
        let mut child = Command::new(exe)
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--http", &http.to_string(), "--quic", &quic.to_string()])
            .args(["--mavlink", "127.0.0.1:0"])
            .env("VIGIE_LOG", "warn,vigie::cli::serve=info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start `vigie serve`")?;
        let stderr = child.stderr.take().context("no stderr from the server")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut warned = 0u32;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(" listening on ") {
                    let _ = tx.send(line);
                } else if warned < 20 {
                    // The first server warnings tell what went wrong; a
                    // storm may log thousands, so only those are shown.
                    warned += 1;
                    eprintln!("[server] {line}");
                }
            }
        });
        let (mut http_addr, mut quic_addr) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_addr.is_none() || quic_addr.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .context("the server did not announce its listeners within 60 s")?;
            let addr = |name: &str| -> Option<SocketAddr> {
                line.split(&format!("{name} listening on "))
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            };
            http_addr = http_addr.or_else(|| addr("http"));
            quic_addr = quic_addr.or_else(|| addr("quic"));
        }
        Ok(ServerProcess {
            child,
            http: http_addr.context("no HTTP address")?,
            quic: quic_addr.context("no QUIC address")?,
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash.
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL if it does not stop within 10 s.
    pub(super) fn stop(&mut self) {
        // SAFETY: kill(2) with a pid we spawned and still own (not waited).
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill9();
        }
    }
}

/// CPU time and memory of a process, from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ProcSample {
    /// When sampled.
    at: Option<Instant>,
    /// User + system CPU time, seconds.
    cpu_s: f64,
    /// Resident set size, MiB.
    pub(super) rss_mib: f64,
    /// Peak resident set size, MiB.
    pub(super) hwm_mib: f64,
}

pub(super) fn sample(pid: &str) -> ProcSample {
    let ticks = {
        // SAFETY: sysconf has no preconditions.
        #[allow(unsafe_code)]
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 { t as f64 } else { 100.0 }
    };
    let cpu_s = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces).
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks)
        })
        .unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    ProcSample {
        at: Some(Instant::now()),
        cpu_s,
        rss_mib: kib("VmRSS:") / 1024.0,
        hwm_mib: kib("VmHWM:") / 1024.0,
    }
}

/// CPU used between two samples, in % of one core.
fn cpu_percent(a: ProcSample, b: ProcSample) -> f64 {
    match (a.at, b.at) {
        (Some(ta), Some(tb)) if tb > ta => {
            100.0 * (b.cpu_s - a.cpu_s) / tb.duration_since(ta).as_secs_f64()
        }
        _ => 0.0,
    }
}

/// Raises the open-file limit to its hard limit: the simulator needs one
/// socket per [`TABLETS_PER_SOCKET`] tablets plus HTTP connections, and the
/// server child inherits the limit.
pub(super) fn raise_fd_limit(need: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read the struct we own.
    #[allow(unsafe_code)]
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur < lim.rlim_max {
            let old = lim.rlim_cur;
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                eprintln!("open-file limit raised from {old} to {}", lim.rlim_max);
            }
        }
    }
    if lim.rlim_cur < need {
        eprintln!(
            "warning: open-file limit {} is below the {need} this run may need; raise the hard limit (ulimit -Hn)",
            lim.rlim_cur
        );
    }
}

/// Counters read from the server's `/metrics`.
#[derive(Debug, Default, Clone, Copy)]
struct ServerView {
    /// Tablets with a live connection.
    connected: u64,
    /// Orders not yet acknowledged.
    pending: u64,
    /// Connections refused by admission control so far.
    refused_overload: u64,
    /// Failed handshakes so far.
    refused_failed: u64,
    /// Timed-out handshakes so far.
    refused_timeout: u64,
}

/// The operator bearer token the bench uses on the HTTP API.
static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn bearer() -> String {
    format!("Bearer {}", TOKEN.get().map_or("", String::as_str))
}

/// Issues a dispatcher token in `data_dir` with `vigie token issue`.
fn issue_token(data_dir: &Path) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find the vigie binary")?;
    let out = Command::new(exe)
        .args([
            "token",
            "issue",
            "--name",
            "bench",
            "--role",
            "dispatcher",
            "--data-dir",
        ])
        .arg(data_dir)
        .output()
        .context("cannot run `vigie token issue`")?;
    anyhow::ensure!(
        out.status.success(),
        "vigie token issue failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn metrics(http: SocketAddr) -> Option<ServerView> {
    let text = ureq::get(&format!("http://{http}/metrics"))
        .header("Authorization", &bearer())
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()?;
    let value = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    };
    Some(ServerView {
        connected: value("vigie_patrol_connected "),
        pending: value("vigie_patrol_orders_pending "),
        refused_overload: value("vigie_patrol_handshakes_refused_total{reason=\"overload\"} "),
        refused_failed: value("vigie_patrol_handshakes_refused_total{reason=\"failed\"} "),
        refused_timeout: value("vigie_patrol_handshakes_refused_total{reason=\"timeout\"} "),
    })
}

/// Units the server shows as connected.
fn server_connected_units(http: SocketAddr) -> anyhow::Result<HashSet<String>> {
    let list: UnitList = ureq::get(&format!("http://{http}/api/v1/units"))
        .header("Authorization", &bearer())
        .call()?
        .body_mut()
        .with_config()
        .limit(256 * 1024 * 1024)
        .read_json()?;
    Ok(list
        .units
        .into_iter()
        .filter(|u| u.patrol.as_ref().is_some_and(|p| p.connected))
        .map(|u| u.id)
        .collect())
}

/// Issues one order to `unit`; its id when the server stored it.
fn issue(http: SocketAddr, unit: &str, i: usize) -> Option<String> {
    let url = format!("http://{http}/api/v1/patrols/{unit}/orders");
    let body = serde_json::json!({
        "lat_deg": 48.9245, "lon_deg": 2.3602, "priority": "normal",
        "instructions": format!("bench order {i}"),
    });
    let mut resp = ureq::post(&url)
        .header("Authorization", &bearer())
        .send_json(&body)
        .ok()?;
    let v: serde_json::Value = resp.body_mut().read_json().ok()?;
    v.get("order_id")?.as_str().map(str::to_string)
}

/// Issues `n` orders at once (8 in flight), round-robin from `first`.
async fn burst(http: SocketAddr, units: &Arc<Vec<String>>, first: usize, n: usize) -> Vec<String> {
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..8 {
        let units = units.clone();
        tasks.spawn_blocking(move || {
            (w..n)
                .step_by(8)
                .filter_map(|i| issue(http, &units[(first + i) % units.len()], first + i))
                .collect::<Vec<_>>()
        });
    }
    let mut ids = Vec::new();
    while let Some(r) = tasks.join_next().await {
        ids.extend(r.unwrap_or_default());
    }
    ids
}

fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
        .copied()
}

/// A latency for a report line, or "-" when there was no sample.
fn ms_or_dash(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn latencies(stats: &TabletStats, from: usize) -> Vec<i64> {
    let all = stats.latencies_ms.lock().unwrap_or_else(|p| p.into_inner());
    let mut v = all.get(from..).unwrap_or_default().to_vec();
    v.sort_unstable();
    v
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

pub fn run(args: BenchPatrolsArgs) -> anyhow::Result<()> {
    let n = args.count;
    anyhow::ensure!(n > 0, "--count must be at least 1");
    raise_fd_limit((n / TABLETS_PER_SOCKET) as u64 + 4096);
    let (data_dir, temporary) = match &args.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("vigie-bench-patrols-{}", std::process::id())),
            true,
        ),
    };
    let _ = std::fs::remove_dir_all(&data_dir);
    println!("# vigie bench patrols --count {n} --for {:?}", args.run_for);
    println!(
        "machine: {} CPU(s), load average before: {}",
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        load_average()
    );

    // Certificates, in memory: issuing is not what is measured.
    let started = Instant::now();
    let ca = DeploymentCa::init(&data_dir, "bench")?;
    let validity = Validity::from_now(DEFAULT_UNIT_VALIDITY);
    let units: Vec<String> = (1..=n).map(|i| format!("P{i:05}")).collect();
    let certs = units
        .iter()
        .map(|unit| {
            let c = ca.issue(unit, Role::Patrol, validity, None)?;
            Ok(TabletCerts {
                unit: unit.clone(),
                ca_pem: ca.cert_pem().to_string(),
                cert_pem: c.cert_pem,
                key_pem: c.key_pem,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!(
        "issued {n} certificates in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let units = Arc::new(units);

    let _ = TOKEN.set(issue_token(&data_dir)?);
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let mut server = ServerProcess::start(&data_dir, any, any)?;
    let (http, quic) = (server.http, server.quic);
    eprintln!("server pid {} on quic {quic}, http {http}", server.pid());

    let result = super::runtime()?.block_on(async {
        let site = SiteConfig::default();
        let frame = LocalFrame::new(site.origin_lat_deg, site.origin_lon_deg);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let spec = PatrolSpec {
            server: quic,
            streets: None,
            frame,
            vehicle_every: 3,
            seed: 5,
            camera: None,
        };
        let me = std::process::id().to_string();
        let spid = server.pid().to_string();

        // 1. Connection set-up.
        let (s0, m0) = (sample(&spid), sample(&me));
        let t0 = Instant::now();
        let mut patrols = spawn_patrols(spec, certs, stop_rx);
        let stats = patrols.stats.clone();
        let mut last_report = Instant::now();
        while stats.connected.load(Ordering::Relaxed) < n {
            if t0.elapsed() > args.connect_timeout {
                break;
            }
            if last_report.elapsed() > Duration::from_secs(5) {
                last_report = Instant::now();
                eprintln!(
                    "  {:>5.0} s: {} of {n} tablets connected, {} attempts",
                    t0.elapsed().as_secs_f64(),
                    stats.connected.load(Ordering::Relaxed),
                    stats.attempts.load(Ordering::Relaxed)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let connect_s = t0.elapsed().as_secs_f64();
        let connected = stats.connected.load(Ordering::Relaxed);
        let (s1, m1) = (sample(&spid), sample(&me));
        let view = tokio::task::spawn_blocking(move || metrics(http)).await.ok().flatten().unwrap_or_default();
        println!("\n## Connection set-up");
        println!(
            "tablets connected: {connected} of {n} after {connect_s:.1} s (start-ups spread over {:.1} s); connection attempts {}",
            (n as f64 * 0.002).min(10.0),
            stats.attempts.load(Ordering::Relaxed)
        );
        println!(
            "server: CPU {:.0} % of one core, RSS {:.0} MiB; refused by admission control {}, failed handshakes {}, timed out {}",
            cpu_percent(s0, s1), s1.rss_mib, view.refused_overload, view.refused_failed, view.refused_timeout
        );
        println!("simulator: CPU {:.0} % of one core", cpu_percent(m0, m1));

        // 2. Steady state, positions at 1 Hz, orders at --order-rate.
        let lat_from = stats.latencies_ms.lock().unwrap_or_else(|p| p.into_inner()).len();
        let (s2, m2) = (sample(&spid), sample(&me));
        let steady_end = Instant::now() + args.run_for;
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.order_rate.max(0.01)));
        let mut issued: Vec<String> = Vec::new();
        let mut in_flight = tokio::task::JoinSet::new();
        let mut i = 0;
        while Instant::now() < steady_end {
            tick.tick().await;
            let unit = units[i % n].clone();
            let k = i;
            in_flight.spawn_blocking(move || issue(http, &unit, k));
            i += 1;
            while let Some(r) = in_flight.try_join_next() {
                issued.extend(r.ok().flatten());
            }
        }
        let (s3, m3) = (sample(&spid), sample(&me));
        while let Some(r) = in_flight.join_next().await {
            issued.extend(r.ok().flatten());
        }
        let wait_until = Instant::now() + Duration::from_secs(10);
        let missing = |stats: &TabletStats, ids: &[String]| {
            let got = stats.received();
            ids.iter().filter(|id| !got.contains(*id)).count()
        };
        while missing(&stats, &issued) > 0 && Instant::now() < wait_until {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let lat = latencies(&stats, lat_from);
        let lost = missing(&stats, &issued);
        let up = stats.up_units();
        let server_up = tokio::task::spawn_blocking(move || server_connected_units(http)).await??;
        let ghosts = up.difference(&server_up).count();
        println!("\n## Steady state ({:.0} s, positions at 1 Hz, {} orders/s)", args.run_for.as_secs_f64(), args.order_rate);
        println!(
            "server: CPU {:.0} % of one core, RSS {:.0} MiB (peak {:.0} MiB); simulator CPU {:.0} %",
            cpu_percent(s2, s3), s3.rss_mib, s3.hwm_mib, cpu_percent(m2, m3)
        );
        println!(
            "orders: {} issued and stored, {lost} not received within 10 s; delivery latency ms p50 {} p99 {} max {} ({} samples)",
            issued.len(), ms_or_dash(percentile(&lat, 0.5)), ms_or_dash(percentile(&lat, 0.99)), ms_or_dash(lat.last().copied()), lat.len()
        );
        println!("tablets up {} / server connected {}; tablets up unknown to the server: {ghosts}", up.len(), server_up.len());

        let mut all_issued = issued;
        if !args.no_storm {
            // 3. Reconnection storm: orders in flight, kill -9, restart.
            let before = burst(http, &units, 1_000_000, args.storm_orders).await;
            all_issued.extend(before.iter().cloned());
            server.kill9();
            let killed = Instant::now();
            let down_tablets = stats.connected.load(Ordering::Relaxed);
            let restarted = match ServerProcess::start(&data_dir, http, quic) {
                Ok(s) => s,
                Err(e) => {
                    let _ = stop_tx.send(true);
                    return Err(e.context("cannot restart the server on the same ports"));
                }
            };
            server = restarted;
            let t_restart = Instant::now();
            let spid = server.pid().to_string();
            let s4 = sample(&spid);
            let after = burst(http, &units, 2_000_000, args.storm_orders).await;
            all_issued.extend(after.iter().cloned());
            let storm_ids: Vec<String> = before.iter().chain(after.iter()).cloned().collect();
            let mut recovered = None;
            let mut last = Instant::now();
            let mut peak_rss: f64 = 0.0;
            let mut view = ServerView::default();
            while t_restart.elapsed() < args.recover_timeout {
                peak_rss = peak_rss.max(sample(&spid).rss_mib);
                view = tokio::task::spawn_blocking(move || metrics(http)).await.ok().flatten().unwrap_or_default();
                let tablets = stats.connected.load(Ordering::Relaxed);
                let missing_now = missing(&stats, &storm_ids);
                if last.elapsed() > Duration::from_secs(5) {
                    last = Instant::now();
                    eprintln!(
                        "  {:>5.1} s after restart: server sees {} tablets, tablets up {tablets}, orders pending {}, not yet received {missing_now}, refused by admission {}",
                        t_restart.elapsed().as_secs_f64(), view.connected, view.pending, view.refused_overload
                    );
                }
                if view.connected as usize == n && tablets == n && missing_now == 0 && view.pending == 0 {
                    recovered = Some(t_restart.elapsed());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let s5 = sample(&spid);
            let up = stats.up_units();
            let server_up = tokio::task::spawn_blocking(move || server_connected_units(http)).await??;
            let ghosts = up.difference(&server_up).count();
            let lost = missing(&stats, &storm_ids);
            println!("\n## Reconnection storm (kill -9 with {down_tablets} tablets up, restart on the same ports)");
            println!(
                "restart to listening: {:.2} s; all tablets back, both sides agreeing, every order received and acknowledged: {}",
                t_restart.duration_since(killed).as_secs_f64(),
                recovered.map_or(format!("NOT within {:.0} s", args.recover_timeout.as_secs_f64()), |d| format!("{:.1} s after restart", d.as_secs_f64()))
            );
            println!(
                "orders: {} issued around the kill ({} before, {} after), {lost} lost; server orders pending at the end {}",
                storm_ids.len(), before.len(), after.len(), view.pending
            );
            println!(
                "server during recovery: CPU {:.0} % of one core, peak RSS {:.0} MiB; refused by admission control {}, failed handshakes {}, timed out {}; connection attempts (all run) {}",
                cpu_percent(s4, s5), peak_rss, view.refused_overload, view.refused_failed, view.refused_timeout, stats.attempts.load(Ordering::Relaxed)
            );
            println!("tablets up {} / server connected {}; tablets up unknown to the server: {ghosts}", up.len(), server_up.len());
        }
        let got = stats.received();
        let lost_total = all_issued.iter().filter(|id| !got.contains(*id)).count();
        println!("\n## Whole run: {} orders issued, {lost_total} lost; load average after: {}", all_issued.len(), load_average());
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while patrols.tasks.join_next().await.is_some() {}
        })
        .await;
        anyhow::Ok(())
    });
    server.stop();
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    result
}
