//! `vigie bench udp|fleet`: load tests of the drone link that anyone can
//! run, against a real ground server started in this process
//! (`vigie bench patrols` lives in `bench_patrols.rs`).
//!
//! The server runs alone on one thread (a current-thread tokio runtime
//! named `vigie-server`, its blocking helpers included), so its CPU time is
//! read per thread from `/proc/self/task/*/stat` and "one ground core" is
//! meant literally. The traffic comes from other threads over real loopback
//! UDP sockets into the ground's real edge (`drone::io`).

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use mavlink::dialects::ardupilotmega::{
    COMMAND_ACK_DATA, GLOBAL_POSITION_INT_DATA, HEARTBEAT_DATA, MavAutopilot, MavMessage,
    MavModeFlag, MavResult, MavState, MavType,
};
use vigie_ground::config::{Config, LinkConfig};
use vigie_ground::drone::wire;
use vigie_ground::fleet::Change;
use vigie_ground::server::{Server, ServerState};

/// Name of the server's threads, to find their CPU time.
pub(crate) const SERVER_THREAD: &str = "vigie-server";
/// Name of the simulated drones' thread.
const SIM_THREAD: &str = "vigie-sim";
/// Home of the benchmark drones, degrees ×1e7 (the Stade de France).
const HOME_E7: (i32, i32) = (489_244_590, 23_601_640);
/// Most drones one link tells apart.
const PER_LINK: usize = 255;

/// `vigie bench ...`
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Datagrams per second one ground core takes in over loopback UDP.
    Udp(UdpArgs),
    /// A fleet of drones at a telemetry rate: server CPU, latency, losses.
    Fleet(FleetArgs),
    /// Simulated patrol tablets against a `vigie serve` child process:
    /// connection set-up, steady state, order latency and loss, then a
    /// reconnection storm after `kill -9`.
    Patrols(super::bench_patrols::BenchPatrolsArgs),
    /// Idle connections and slow requests against a `vigie serve` child's
    /// HTTP listener: does `/api/v1/health` still answer, and how fast.
    Http(super::bench_http::BenchHttpArgs),
    /// Concurrent 2 Mb/s camera feeds ingested, recorded and relayed live:
    /// ground CPU per feed, pictures lost, latency to viewers, disk.
    Video(super::bench_video::BenchVideoArgs),
}

/// Options of `vigie bench udp`.
#[derive(Args, Debug)]
pub struct UdpArgs {
    /// Datagrams to send (one GLOBAL_POSITION_INT each).
    #[arg(long, default_value_t = 2_000_000)]
    pub datagrams: u64,
    /// Vehicles sending them, each from its own socket.
    #[arg(long, default_value_t = 200)]
    pub vehicles: usize,
    /// Sending threads.
    #[arg(long, default_value_t = 2)]
    pub senders: usize,
    /// Give up after this long.
    #[arg(long = "for", default_value = "60s", value_parser = super::duration::parse)]
    pub max: Duration,
}

/// Options of `vigie bench fleet`.
#[derive(Args, Debug)]
pub struct FleetArgs {
    /// Simulated drones (255 per ground link; more use several links).
    #[arg(long, default_value_t = 500)]
    pub drones: usize,
    /// GLOBAL_POSITION_INT and ATTITUDE rate per drone, Hz (plus
    /// HEARTBEAT, SYS_STATUS and GPS_RAW_INT at 1 Hz).
    #[arg(long, default_value_t = 10.0)]
    pub rate_hz: f64,
    /// Measurement window.
    #[arg(long = "for", default_value = "30s", value_parser = super::duration::parse)]
    pub duration: Duration,
}

/// Runs a benchmark and prints its report.
pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Udp(a) => udp(a),
        BenchCommand::Fleet(a) => fleet(a),
        BenchCommand::Patrols(a) => super::bench_patrols::run(a),
        BenchCommand::Http(a) => super::bench_http::run(a),
        BenchCommand::Video(a) => super::bench_video::run(a),
    }
}

/// A ground server on its own thread.
pub(crate) struct ServerThread {
    /// Its shared state (picture, counters, bound addresses).
    pub(crate) state: Arc<ServerState>,
    /// Stops it.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The thread.
    join: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    /// Its scratch data directory, removed at the end.
    data_dir: std::path::PathBuf,
}

impl ServerThread {
    /// Starts a server with `links` UDP listeners on loopback ports chosen
    /// by the OS, HTTP and QUIC on free ports, data in a scratch directory.
    fn start(links: usize) -> anyhow::Result<ServerThread> {
        ServerThread::start_with(links, |_| {})
    }

    /// [`ServerThread::start`], with `more` changing the configuration
    /// before the server starts.
    pub(crate) fn start_with(
        links: usize,
        more: impl FnOnce(&mut Config),
    ) -> anyhow::Result<ServerThread> {
        let data_dir = std::env::temp_dir().join(format!("vigie-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data_dir);
        let mut config = Config {
            data_dir: data_dir.clone(),
            ..Config::default()
        };
        config.http.listen = "127.0.0.1:0".parse()?;
        config.quic.listen = "127.0.0.1:0".parse()?;
        config.mavlink.links = (0..links)
            .map(|i| LinkConfig {
                name: format!("bench{i}"),
                address: "udpin:127.0.0.1:0".into(),
                signing_key: None,
            })
            .collect();
        more(&mut config);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let join = std::thread::Builder::new()
            .name(SERVER_THREAD.into())
            .spawn(move || -> anyhow::Result<()> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .thread_name(SERVER_THREAD)
                    .build()?;
                rt.block_on(async move {
                    let server = match Server::start(config).await {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("{e:#}")));
                            return Err(e);
                        }
                    };
                    let _ = ready_tx.send(Ok(server.state().clone()));
                    server
                        .run_until(async move {
                            let _ = stop_rx.await;
                        })
                        .await
                })
            })?;
        let state = match ready_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => bail!("the ground server did not start: {e}"),
            Err(_) => bail!("the ground server did not start within 30 s"),
        };
        Ok(ServerThread {
            state,
            stop: Some(stop),
            join: Some(join),
            data_dir,
        })
    }

    /// Address of the `i`-th MAVLink link.
    fn link_addr(&self, i: usize) -> anyhow::Result<SocketAddr> {
        let name = format!("mavlink:bench{i}");
        let l = self
            .state
            .listeners()
            .into_iter()
            .find(|l| l.name == name)
            .with_context(|| format!("listener {name} not found"))?;
        Ok(l.address.parse()?)
    }

    /// Datagrams and messages taken in by every link so far.
    fn received(&self, links: usize) -> (u64, u64) {
        (0..links).fold((0, 0), |(p, m), i| {
            let c = self.state.metrics.link(&format!("bench{i}"));
            (
                p + c.packets.load(Ordering::Relaxed),
                m + c.messages.load(Ordering::Relaxed),
            )
        })
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(j) = self.join.take() {
            match j.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("the ground server stopped with an error: {e:#}"),
                Err(_) => tracing::warn!("the ground server thread panicked"),
            }
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// CPU time (user + system) of this process's threads named `name`.
fn threads_cpu(name: &str) -> Duration {
    threads_cpu_where(|n| n == name)
}

/// CPU time (user + system) of this process's threads whose name passes
/// `which` (Linux keeps the first 15 bytes of a name).
pub(crate) fn threads_cpu_where(which: impl Fn(&str) -> bool) -> Duration {
    // Linux reports these in clock ticks of 1/100 s (USER_HZ) on every
    // architecture Vigie runs on.
    const TICK: Duration = Duration::from_millis(10);
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut ticks = 0u64;
    for task in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // "tid (comm) state ..." : comm may hold spaces, so split at the
        // last ')'. utime and stime are fields 14 and 15.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !which(&stat[open + 1..close]) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        ticks += field(14).unwrap_or(0) + field(15).unwrap_or(0);
    }
    TICK * ticks as u32
}

fn encode(sys: u8, seq: u8, msg: &MavMessage, out: &mut Vec<u8>) {
    out.clear();
    wire::encode(out, wire::header(sys, 1, seq), msg, None);
}

fn heartbeat() -> MavMessage {
    MavMessage::HEARTBEAT(HEARTBEAT_DATA {
        custom_mode: 4,
        mavtype: MavType::MAV_TYPE_QUADROTOR,
        autopilot: MavAutopilot::MAV_AUTOPILOT_ARDUPILOTMEGA,
        base_mode: MavModeFlag::MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
        system_status: MavState::MAV_STATE_ACTIVE,
        mavlink_version: 3,
    })
}

fn attitude(time_boot_ms: u32) -> MavMessage {
    MavMessage::ATTITUDE(mavlink::dialects::ardupilotmega::ATTITUDE_DATA {
        time_boot_ms,
        roll: 0.01,
        pitch: -0.02,
        yaw: 1.57,
        ..Default::default()
    })
}

fn sys_status() -> MavMessage {
    MavMessage::SYS_STATUS(mavlink::dialects::ardupilotmega::SYS_STATUS_DATA {
        voltage_battery: 15_200,
        battery_remaining: 87,
        ..Default::default()
    })
}

fn gps_raw(time_boot_ms: u32) -> MavMessage {
    MavMessage::GPS_RAW_INT(mavlink::dialects::ardupilotmega::GPS_RAW_INT_DATA {
        time_usec: u64::from(time_boot_ms) * 1000,
        fix_type: mavlink::dialects::ardupilotmega::GpsFixType::GPS_FIX_TYPE_3D_FIX,
        lat: HOME_E7.0,
        lon: HOME_E7.1,
        eph: 80,
        satellites_visible: 14,
        ..Default::default()
    })
}

/// A position report whose longitude carries `seq` (1e-7 degree steps, a
/// centimetre each), so the ground's picture tells which report it shows.
fn position(seq: u32, time_boot_ms: u32) -> MavMessage {
    MavMessage::GLOBAL_POSITION_INT(GLOBAL_POSITION_INT_DATA {
        time_boot_ms,
        lat: HOME_E7.0,
        lon: HOME_E7.1 + seq as i32,
        alt: 95_000,
        relative_alt: 60_000,
        vx: 120,
        vy: -40,
        vz: 0,
        hdg: 9000,
    })
}

/// Waits until the picture holds `n` drones, bounded.
fn wait_for_drones(server: &ServerThread, n: usize, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let seen = server.state.fleet.read(|f| {
            f.units()
                .filter(|u| u.kind == vigie_protocols::api::UnitKind::Drone)
                .count()
        });
        if seen >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {seen} of {n} drones appeared within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the ground's counters stop moving (or `within` passes).
fn settle(server: &ServerThread, links: usize, within: Duration) -> (u64, u64) {
    let deadline = Instant::now() + within;
    let mut last = server.received(links);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = server.received(links);
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

fn udp(args: UdpArgs) -> anyhow::Result<()> {
    if args.vehicles == 0 || args.vehicles > PER_LINK || args.senders == 0 {
        bail!("--vehicles must be 1 to {PER_LINK} (one link) and --senders at least 1");
    }
    let server = ServerThread::start(1)?;
    let ground = server.link_addr(0)?;
    // Each vehicle: its own socket, introduced by a heartbeat.
    let mut vehicles = Vec::with_capacity(args.vehicles);
    let mut buf = Vec::new();
    for k in 0..args.vehicles {
        let sock = UdpSocket::bind("127.0.0.1:0").context("binding a vehicle socket")?;
        sock.connect(ground)?;
        let sys = (k + 1) as u8;
        encode(sys, 0, &heartbeat(), &mut buf);
        sock.send(&buf)?;
        // Pre-encoded reports, so sending costs only the system call; one in
        // 64 is a heartbeat, so the vehicle's link stays up however long
        // the run takes.
        let frames: Vec<Vec<u8>> = (0..64u32)
            .map(|i| {
                let mut f = Vec::new();
                let msg = if i == 0 { heartbeat() } else { position(i, i) };
                encode(sys, i as u8, &msg, &mut f);
                f
            })
            .collect();
        vehicles.push((sock, frames));
    }
    wait_for_drones(&server, args.vehicles, Duration::from_secs(15))?;
    let (p0, m0) = settle(&server, 1, Duration::from_secs(3));
    let cpu0 = threads_cpu(SERVER_THREAD);
    let start = Instant::now();
    let deadline = start + args.max;
    let sent = Arc::new(AtomicU64::new(0));
    let per_sender = args.datagrams.div_ceil(args.senders as u64);
    let mut groups: Vec<Vec<(UdpSocket, Vec<Vec<u8>>)>> =
        (0..args.senders).map(|_| Vec::new()).collect();
    for (i, v) in vehicles.into_iter().enumerate() {
        groups[i % args.senders].push(v);
    }
    std::thread::scope(|s| {
        for group in &groups {
            let sent = sent.clone();
            s.spawn(move || {
                let mut n = 0u64;
                'send: while n < per_sender {
                    for (sock, frames) in group {
                        // ENOBUFS or a full queue: the datagram is lost and
                        // shows up as a loss below.
                        let _ = sock.send(&frames[(n as usize) % frames.len()]);
                        n += 1;
                        if n >= per_sender {
                            break 'send;
                        }
                    }
                    if n % 4096 < group.len() as u64 && Instant::now() > deadline {
                        break;
                    }
                }
                sent.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    let send_done = start.elapsed();
    let (p1, m1) = settle(&server, 1, Duration::from_secs(5));
    let wall = start.elapsed();
    let cpu = threads_cpu(SERVER_THREAD).saturating_sub(cpu0);
    let sent = sent.load(Ordering::Relaxed);
    let received = p1 - p0;
    let cpu_s = cpu.as_secs_f64().max(1e-9);
    println!(
        "vigie bench udp: {} vehicles, {} sending threads",
        args.vehicles, args.senders
    );
    println!(
        "  sent               {sent} datagrams in {:.2} s ({:.0}/s)",
        send_done.as_secs_f64(),
        sent as f64 / send_done.as_secs_f64()
    );
    println!(
        "  taken in           {received} datagrams, {} messages ({:.0}/s wall)",
        m1 - m0,
        received as f64 / wall.as_secs_f64()
    );
    println!(
        "  ground CPU         {:.2} s on its one thread ({:.0}% of a core)",
        cpu_s,
        100.0 * cpu_s / wall.as_secs_f64()
    );
    println!(
        "  per ground core    {:.0} datagrams/s (taken in / ground CPU time)",
        received as f64 / cpu_s
    );
    println!(
        "  lost               {} (sent - taken in; socket buffer overflow when the ground is saturated)",
        sent.saturating_sub(received)
    );
    Ok(())
}

/// Send times of one drone's recent reports, by sequence number modulo
/// [`STAMPS`]: Unix time in microseconds (wall clock, so that the ground's
/// own millisecond stamps compare with it).
struct DroneStamps(Vec<AtomicU64>);

/// Reports remembered per drone (at 10 Hz, 25 s of them).
const STAMPS: usize = 256;

fn fleet(args: FleetArgs) -> anyhow::Result<()> {
    if args.drones == 0 || !(args.rate_hz > 0.0 && args.rate_hz <= 1000.0) {
        bail!("--drones must be at least 1 and --rate-hz between 0 and 1000");
    }
    let links = args.drones.div_ceil(PER_LINK);
    let server = ServerThread::start(links)?;
    let grounds: Vec<SocketAddr> = (0..links)
        .map(|i| server.link_addr(i))
        .collect::<anyhow::Result<_>>()?;
    let epoch = Instant::now();
    let stamps: Arc<Vec<DroneStamps>> = Arc::new(
        (0..args.drones)
            .map(|_| DroneStamps((0..STAMPS).map(|_| AtomicU64::new(0)).collect()))
            .collect(),
    );
    let sent = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);

    // The drones: one task and one socket each, on their own thread.
    let sim = {
        let stamps = stamps.clone();
        let sent = sent.clone();
        let (drones, rate) = (args.drones, args.rate_hz);
        std::thread::Builder::new().name(SIM_THREAD.into()).spawn(
            move || -> anyhow::Result<()> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .thread_name(SIM_THREAD)
                    .build()?;
                rt.block_on(async move {
                    let mut tasks = tokio::task::JoinSet::new();
                    for k in 0..drones {
                        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
                        sock.connect(grounds[k / PER_LINK]).await?;
                        tasks.spawn(bench_drone(
                            k,
                            sock,
                            rate,
                            epoch,
                            stamps.clone(),
                            sent.clone(),
                            stop_rx.clone(),
                        ));
                    }
                    while tasks.join_next().await.is_some() {}
                    anyhow::Ok(())
                })
            },
        )?
    };

    wait_for_drones(&server, args.drones, Duration::from_secs(30))?;
    // Let the ground's stream requests and their acks pass.
    std::thread::sleep(Duration::from_secs(2));

    // Latency probe: each update of the picture shows the drone's latest
    // report; its send stamp gives the send-to-update latency.
    let mut changes = server.state.fleet.subscribe();
    let sent0 = sent.load(Ordering::Relaxed);
    let (cpu0, sim_cpu0) = (threads_cpu(SERVER_THREAD), threads_cpu(SIM_THREAD));
    let start = Instant::now();
    // Send to the ground's state update (the unit's last-seen stamp,
    // millisecond resolution), and send to the probe seeing the update.
    let mut latencies_us: Vec<u64> = Vec::new();
    let mut probe_us: Vec<u64> = Vec::new();
    let mut last_seq = vec![-1i64; args.drones];
    // The report each drone shows when the window opens is not measured:
    // its first update in the window may come from an ATTITUDE showing a
    // report sent a period (100 ms) before the window.
    for unit in server.state.fleet.snapshot() {
        if let Some((k, seq, _, _)) = latency_of(&unit, &stamps, unix_us())
            && let Some(last) = last_seq.get_mut(k)
        {
            *last = seq;
        }
    }
    let mut lagged = 0u64;
    while start.elapsed() < args.duration {
        match changes.try_recv() {
            Ok(Change::Upsert(unit, _)) => {
                // Only the first update showing a report measures it: later
                // ones (a SYS_STATUS changing the battery) show it older.
                if let Some((k, seq, ground, probe)) = latency_of(&unit, &stamps, unix_us())
                    && last_seq[k] != seq
                {
                    last_seq[k] = seq;
                    latencies_us.push(ground);
                    probe_us.push(probe);
                }
            }
            Ok(Change::Remove(_)) => {}
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => lagged += n,
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => {
                std::thread::sleep(Duration::from_micros(200))
            }
            Err(e) => bail!("the picture stopped announcing changes: {e}"),
        }
    }
    let window = start.elapsed();
    let cpu = threads_cpu(SERVER_THREAD).saturating_sub(cpu0);
    let sim_cpu = threads_cpu(SIM_THREAD).saturating_sub(sim_cpu0);
    let _ = stop_tx.send(true);
    let _ = sim.join();
    // Only the drones send to these links: over the whole run, every
    // message sent must have been decoded once the links settle.
    let sent_total = sent.load(Ordering::Relaxed);
    let (_, processed_total) = settle(&server, links, Duration::from_secs(5));
    let window_sent = sent_total - sent0;

    let pct = |v: &mut Vec<u64>, p: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        v.sort_unstable();
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1000.0
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "vigie bench fleet: {} drones at {} Hz over {} links, {:.1} s",
        args.drones,
        args.rate_hz,
        links,
        window.as_secs_f64()
    );
    println!(
        "  server CPU      {:.1}% of one core ({:.1}% of the machine's {cores} cores)",
        100.0 * cpu.as_secs_f64() / window.as_secs_f64(),
        100.0 * cpu.as_secs_f64() / window.as_secs_f64() / cores as f64
    );
    println!(
        "  simulator CPU   {:.1}% of one core",
        100.0 * sim_cpu.as_secs_f64() / window.as_secs_f64()
    );
    println!(
        "  latency         send to ground state update: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} updates, ±1 ms: the ground stamps milliseconds)",
        pct(&mut latencies_us, 0.5),
        pct(&mut latencies_us, 0.99),
        pct(&mut latencies_us, 1.0),
        latencies_us.len(),
    );
    println!(
        "  probe latency   send to the probe seeing the picture change: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} missed by the probe)",
        pct(&mut probe_us, 0.5),
        pct(&mut probe_us, 0.99),
        pct(&mut probe_us, 1.0),
        lagged
    );
    println!(
        "  messages        {window_sent} sent in the window; whole run: sent {sent_total}, processed {processed_total}, lost {}",
        sent_total.saturating_sub(processed_total)
    );
    Ok(())
}

/// The drone index and report sequence number a drone unit shows, and that
/// report's latencies in microseconds: from its send to the ground's state
/// update (the unit's last-seen stamp), and to `seen_us`.
fn latency_of(
    unit: &vigie_protocols::api::Unit,
    stamps: &[DroneStamps],
    seen_us: u64,
) -> Option<(usize, i64, u64, u64)> {
    let d = unit.drone.as_ref()?;
    let link: usize = d.link.strip_prefix("bench")?.parse().ok()?;
    let k = link * PER_LINK + d.system_id as usize - 1;
    let seq = (unit.position?.lon_deg * 1e7).round() as i64 - HOME_E7.1 as i64;
    if seq < 0 {
        return None;
    }
    let sent = stamps.get(k)?.0[seq as usize % STAMPS].load(Ordering::Relaxed);
    let updated = u64::try_from(unit.last_seen_ms?).ok()? * 1000;
    (sent > 0).then(|| {
        (
            k,
            seq,
            updated.saturating_sub(sent),
            seen_us.saturating_sub(sent),
        )
    })
}

/// The wall clock, Unix microseconds.
fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// One benchmark drone: GLOBAL_POSITION_INT (its send time stamped) and
/// ATTITUDE at `rate_hz`; HEARTBEAT, SYS_STATUS and GPS_RAW_INT at 1 Hz;
/// COMMAND_ACK (accepted) to every command, as an autopilot answers the
/// ground's stream requests. The wire load of a telemetry stream without
/// the autopilot simulation behind it, so that send times can be stamped.
async fn bench_drone(
    k: usize,
    sock: tokio::net::UdpSocket,
    rate_hz: f64,
    epoch: Instant,
    stamps: Arc<Vec<DroneStamps>>,
    sent: Arc<AtomicU64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let sys = (k % PER_LINK + 1) as u8;
    let period = Duration::from_secs_f64(1.0 / rate_hz);
    // Spread the drones over the period, as independent vehicles are.
    let offset = period.mul_f64(k as f64 / 997.0 % 1.0);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = Vec::with_capacity(64);
    let mut inbuf = vec![0u8; 2048];
    let mut seq: u32 = 0;
    let mut last_hb: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            _ = tick.tick() => {
                let t_ms = epoch.elapsed().as_millis() as u32;
                if last_hb.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    for msg in [heartbeat(), sys_status(), gps_raw(t_ms)] {
                        encode(sys, seq as u8, &msg, &mut out);
                        if sock.send(&out).await.is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    last_hb = Some(Instant::now());
                }
                seq += 1;
                encode(sys, seq as u8, &attitude(t_ms), &mut out);
                if sock.send(&out).await.is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                encode(sys, seq as u8, &position(seq, t_ms), &mut out);
                stamps[k].0[seq as usize % STAMPS].store(unix_us(), Ordering::Relaxed);
                if sock.send(&out).await.is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            r = sock.recv(&mut inbuf) => {
                let Ok(n) = r else { continue };
                for f in wire::frames(&inbuf[..n]).flatten() {
                    if let Ok(MavMessage::COMMAND_LONG(c)) = f.decode() && c.target_system == sys {
                        let ack = MavMessage::COMMAND_ACK(COMMAND_ACK_DATA {
                            command: c.command,
                            result: MavResult::MAV_RESULT_ACCEPTED,
                            ..COMMAND_ACK_DATA::default()
                        });
                        encode(sys, seq as u8, &ack, &mut out);
                        if sock.send(&out).await.is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
    }
}
