//! Simulated patrols: units on foot or in vehicles moving along streets
//! ([`model`], pure `step(dt)` logic) carried by simulated tablets that speak
//! the real `vigie/1` protocol over QUIC ([`tablet`]), whose protocol side
//! is the sans-I/O [`core`].

pub mod core;
pub mod model;
pub mod tablet;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;
use vigie_ground::frame::LocalFrame;

use model::{Mobility, Streets};
use tablet::{TabletCerts, TabletSpec, TabletStats};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct PatrolSpec {
    /// The server's QUIC address.
    pub server: SocketAddr,
    /// Street network; a generated grid when `None`.
    pub streets: Option<Arc<Streets>>,
    /// Local frame of the site (origin of the generated grid).
    pub frame: LocalFrame,
    /// One unit in this many is a vehicle, the others are on foot (0: none).
    pub vehicle_every: usize,
    /// Seed of every unit's randomness.
    pub seed: u64,
    /// The tablets' camera, streamed while on scene; `None`: none films.
    pub camera: Option<crate::camera::CameraSpec>,
}

/// The running simulated patrols.
#[derive(Debug)]
pub struct Patrols {
    /// One task per tablet.
    pub tasks: JoinSet<()>,
    /// Shared counters.
    pub stats: Arc<TabletStats>,
}

/// The default street network: a 12 × 12 grid of 120 m blocks around the
/// origin (about 1.4 km across).
pub fn default_streets() -> Streets {
    Streets::grid(12, 120.0)
}

/// Tablets sharing one client UDP socket in large simulations (as tablets
/// behind one carrier NAT do): keeps the simulator's file descriptors and
/// socket tasks bounded at 10,000 tablets.
pub const TABLETS_PER_SOCKET: usize = 32;

/// Starts one simulated tablet per certificate; they run until `stop` turns
/// true. Start-ups are spread over a few seconds so a large fleet does not
/// arrive as one burst. Tablets share client sockets, [`TABLETS_PER_SOCKET`]
/// per socket; a socket that cannot be opened leaves its tablets to open
/// their own.
pub fn spawn_patrols(
    spec: PatrolSpec,
    certs: Vec<TabletCerts>,
    stop: watch::Receiver<bool>,
) -> Patrols {
    let mut endpoint: Option<quinn::Endpoint> = None;
    let streets = spec
        .streets
        .clone()
        .unwrap_or_else(|| Arc::new(default_streets()));
    let stats = Arc::new(TabletStats::default());
    let mut tasks = JoinSet::new();
    let n = certs.len().max(1);
    let spread_ms = (n as u64 * 2).min(10_000);
    for (i, certs) in certs.into_iter().enumerate() {
        let mobility = if spec.vehicle_every > 0 && i % spec.vehicle_every == 0 {
            Mobility::Vehicle
        } else {
            Mobility::Foot
        };
        let tablet = TabletSpec {
            server: spec.server,
            streets: streets.clone(),
            frame: spec.frame,
            mobility,
            seed: spec.seed.wrapping_add(i as u64),
            camera: spec.camera.clone(),
        };
        if i % TABLETS_PER_SOCKET == 0 {
            endpoint = tablet::client_endpoint(spec.server)
                .inspect_err(|e| tracing::warn!("shared tablet socket: {e:#}"))
                .ok();
        }
        let endpoint = endpoint.clone();
        let stats = stats.clone();
        let stop = stop.clone();
        let delay = std::time::Duration::from_millis(spread_ms * i as u64 / n as u64);
        tasks.spawn(async move {
            tokio::time::sleep(delay).await;
            let unit = certs.unit.clone();
            if let Err(e) = tablet::run_tablet(tablet, certs, stats, stop, endpoint).await {
                tracing::warn!(%unit, "simulated tablet failed: {e:#}");
            }
        });
    }
    Patrols { tasks, stats }
}

/// `vigie demo`'s patrols: issues `count` certificates (P01, P02, ...) from
/// the server's CA and starts their tablets against its QUIC listener. They
/// stop with the server.
pub fn spawn_demo_patrols(
    server: &Arc<vigie_ground::server::ServerState>,
    count: usize,
    mut shutdown: vigie_ground::server::Shutdown,
) -> anyhow::Result<Patrols> {
    use anyhow::Context as _;
    use vigie_ground::patrol::ca::{DEFAULT_UNIT_VALIDITY, DeploymentCa, Role, Validity};
    let quic = server
        .listener("quic")
        .context("the server has no QUIC listener")?;
    let ca = DeploymentCa::open(&server.config.data_dir)?;
    let certs = (1..=count)
        .map(|i| {
            let unit = format!("P{i:02}");
            let c = ca.issue(
                &unit,
                Role::Patrol,
                Validity::from_now(DEFAULT_UNIT_VALIDITY),
                Some(&server.store),
            )?;
            Ok(TabletCerts {
                unit,
                ca_pem: ca.cert_pem().to_string(),
                cert_pem: c.cert_pem,
                key_pem: c.key_pem,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.wait().await;
        let _ = stop_tx.send(true);
    });
    let spec = PatrolSpec {
        server: quic,
        streets: None,
        frame: server.frame,
        vehicle_every: 3,
        seed: 17,
        camera: Some(crate::camera::CameraSpec {
            fps: 10,
            bitrate: 250_000,
            time_zone: server.config.site.time_zone.clone(),
        }),
    };
    Ok(spawn_patrols(spec, certs, stop_rx))
}
