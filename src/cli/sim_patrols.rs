//! `vigie sim patrols`: simulated patrol tablets against a running server.
//!
//! Each tablet uses its own certificate from `--certs DIR` (as written by
//! `vigie ca issue`); with `--issue-from DATA_DIR` the missing ones are issued
//! from that data directory's CA first. Units walk (or drive) along a
//! generated street grid, or the streets of `--streets FILE.geojson`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use vigie_ground::config::SiteConfig;
use vigie_ground::frame::LocalFrame;
use vigie_ground::patrol::ca::{DeploymentCa, Role, Validity};
use vigie_sim::patrol::model::Streets;
use vigie_sim::patrol::tablet::TabletCerts;
use vigie_sim::patrol::{PatrolSpec, spawn_patrols};

/// Options of `vigie sim patrols`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  vigie ca issue --unit P01 --out certs && vigie sim patrols --count 1 --ground 127.0.0.1:4433 --certs certs\n  vigie sim patrols --count 200 --ground 127.0.0.1:4433 --certs certs --issue-from ./vigie-data --for 60s"
)]
pub struct SimPatrolsArgs {
    /// Number of tablets.
    #[arg(long, default_value_t = 6)]
    pub count: usize,
    /// The ground server's QUIC address.
    #[arg(long, default_value = "127.0.0.1:4433")]
    pub ground: SocketAddr,
    /// Directory with ca.pem and <UNIT>.cert.pem / <UNIT>.key.pem files.
    #[arg(long)]
    pub certs: PathBuf,
    /// Issue certificates P0001.. missing from --certs with this data directory's CA.
    #[arg(long)]
    pub issue_from: Option<PathBuf>,
    /// Street network (GeoJSON LineStrings, WGS84); default: a generated grid.
    #[arg(long)]
    pub streets: Option<PathBuf>,
    /// One unit in this many is a vehicle (0: all on foot).
    #[arg(long, default_value_t = 3)]
    pub vehicle_every: usize,
    /// Pictures a second of each tablet's camera, streamed (real H.264)
    /// while the patrol is on scene; 0: the tablets film nothing.
    #[arg(long, default_value_t = 10)]
    pub camera_fps: u32,
    /// Site origin latitude, degrees (default: the server's default site).
    #[arg(long)]
    pub origin_lat: Option<f64>,
    /// Site origin longitude, degrees.
    #[arg(long)]
    pub origin_lon: Option<f64>,
    /// The server's HTTP address, to issue `--orders` through the API.
    #[arg(long)]
    pub http: Option<SocketAddr>,
    /// Operator token (dispatcher or admin) for `--orders`.
    #[arg(long, env = "VIGIE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Orders to issue (round-robin over the units) once every tablet is
    /// connected, for measuring delivery latency and loss.
    #[arg(long, default_value_t = 0)]
    pub orders: usize,
    /// Orders issued per second.
    #[arg(long, default_value_t = 20.0)]
    pub order_rate: f64,
    /// Stop after this long (e.g. `30s`); default: until Ctrl-C.
    #[arg(long = "for", value_parser = super::duration::parse)]
    pub run_for: Option<Duration>,
}

/// Runs the simulated tablets.
pub fn run(args: SimPatrolsArgs) -> anyhow::Result<()> {
    let site = SiteConfig::default();
    let frame = LocalFrame::new(
        args.origin_lat.unwrap_or(site.origin_lat_deg),
        args.origin_lon.unwrap_or(site.origin_lon_deg),
    );
    if let Some(data_dir) = &args.issue_from {
        issue_missing(data_dir, &args.certs, args.count)?;
    }
    let units = TabletCerts::units_in(&args.certs)?;
    if units.len() < args.count {
        anyhow::bail!(
            "{} has certificates for {} unit(s), {} asked: issue more with `vigie ca issue --unit ... --out {}` or pass --issue-from DATA_DIR",
            args.certs.display(),
            units.len(),
            args.count,
            args.certs.display()
        );
    }
    let certs = units[..args.count]
        .iter()
        .map(|u| TabletCerts::load(&args.certs, u))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let streets = match &args.streets {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let s = Streets::from_geojson(&text, |lat, lon| frame.to_local(lat, lon))
                .with_context(|| format!("street network {}", path.display()))?;
            Some(Arc::new(s))
        }
        None => None,
    };
    super::runtime()?.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let spec = PatrolSpec {
            server: args.ground,
            streets,
            frame,
            vehicle_every: args.vehicle_every,
            seed: 5,
            camera: (args.camera_fps > 0).then(|| vigie_sim::camera::CameraSpec {
                fps: args.camera_fps,
                bitrate: 250_000,
                time_zone: SiteConfig::default().time_zone,
            }),
        };
        let mut patrols = spawn_patrols(spec, certs, stop_rx);
        let stats = patrols.stats.clone();
        let report = async {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                eprintln!(
                    "tablets connected {}/{} | attempts {} | orders {} (redelivered {}) | arrivals {}",
                    stats.connected.load(Ordering::Relaxed),
                    args.count,
                    stats.attempts.load(Ordering::Relaxed),
                    stats.orders.load(Ordering::Relaxed),
                    stats.redelivered.load(Ordering::Relaxed),
                    stats.arrivals.load(Ordering::Relaxed),
                );
            }
        };
        let stop = async {
            match args.run_for {
                Some(d) => tokio::select! { _ = tokio::time::sleep(d) => {}, _ = super::stop_signal() => {} },
                None => super::stop_signal().await,
            }
        };
        let units: Vec<String> = units[..args.count].to_vec();
        let load = issue_orders(args.http, args.token.clone(), args.orders, args.order_rate, units, stats.clone(), args.count);
        let issued = tokio::select! {
            _ = stop => None,
            _ = report => None,
            n = load, if args.orders > 0 => {
                // Let the last orders arrive, then stop.
                tokio::time::sleep(Duration::from_secs(3)).await;
                Some(n)
            }
        };
        let _ = stop_tx.send(true);
        summary(&stats, args.count, issued);
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while patrols.tasks.join_next().await.is_some() {}
        })
        .await;
        Ok(())
    })
}

/// Waits for every tablet, then issues `n` orders through the HTTP API at
/// `rate` per second; returns how many the server stored.
async fn issue_orders(
    http: Option<SocketAddr>,
    token: Option<String>,
    n: usize,
    rate: f64,
    units: Vec<String>,
    stats: Arc<vigie_sim::patrol::tablet::TabletStats>,
    count: usize,
) -> usize {
    let Some(http) = http else {
        if n > 0 {
            tracing::warn!("--orders needs --http to reach the API");
        }
        return std::future::pending().await;
    };
    while stats.connected.load(Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("all {count} tablets connected; issuing {n} orders at {rate}/s");
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.01)));
    let mut stored = 0;
    for i in 0..n {
        tick.tick().await;
        let unit = units[i % units.len()].clone();
        let url = format!("http://{http}/api/v1/patrols/{unit}/orders");
        let body = serde_json::json!({
            "lat_deg": 48.9245, "lon_deg": 2.3602, "priority": "normal",
            "instructions": format!("load order {i}"),
        });
        let bearer = format!("Bearer {}", token.as_deref().unwrap_or_default());
        let ok = tokio::task::spawn_blocking(move || {
            ureq::post(&url)
                .header("Authorization", &bearer)
                .send_json(&body)
                .is_ok()
        })
        .await
        .unwrap_or(false);
        stored += usize::from(ok);
    }
    stored
}

/// Prints set-up time, delivery latency and loss.
fn summary(stats: &vigie_sim::patrol::tablet::TabletStats, count: usize, issued: Option<usize>) {
    let mut connect = stats
        .connect_ms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    connect.sort_unstable();
    let mut lat = stats
        .latencies_ms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    lat.sort_unstable();
    let pct = |v: &[i64], p: f64| {
        v.get(((v.len() as f64 - 1.0) * p).round() as usize)
            .copied()
    };
    println!(
        "tablets: {} of {count} connected at least once; all connected after {} ms (first Welcome of the last tablet)",
        connect.len(),
        connect.last().map_or("-".into(), |m| m.to_string())
    );
    println!(
        "connection attempts: {}",
        stats.attempts.load(Ordering::Relaxed)
    );
    if let Some(issued) = issued {
        let received = stats.orders.load(Ordering::Relaxed) as usize;
        println!(
            "orders: {issued} stored, {received} received, {} lost, {} redelivered",
            issued.saturating_sub(received),
            stats.redelivered.load(Ordering::Relaxed)
        );
        println!(
            "order delivery latency ms: p50 {:?} p99 {:?} max {:?}",
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            lat.last()
        );
    }
}

/// Issues P0001..P<count> certificates not yet in `out`.
fn issue_missing(
    data_dir: &std::path::Path,
    out: &std::path::Path,
    count: usize,
) -> anyhow::Result<()> {
    let ca = DeploymentCa::open(data_dir)?;
    let store = vigie_ground::store::Store::open(data_dir)?;
    let mut issued = 0;
    for i in 1..=count {
        let unit = format!("P{i:04}");
        if out.join(format!("{unit}.cert.pem")).exists() {
            continue;
        }
        let cert = ca.issue(
            &unit,
            Role::Patrol,
            Validity::from_now(Duration::from_secs(30 * 86_400)),
            Some(&store),
        )?;
        vigie_ground::patrol::ca::write_unit_files(out, &unit, &cert, ca.cert_pem())?;
        issued += 1;
    }
    if issued > 0 {
        eprintln!("issued {issued} certificate(s) into {}", out.display());
    }
    Ok(())
}
