//! The simulated fleet of `vigie demo`: drones over MAVLink/UDP and patrols
//! over QUIC, talking to the server through its real listeners, and flown
//! through the server's own command path. Their cameras send real H.264:
//! the drones' as RTP to the ports the ground takes them in on, the
//! patrols' over QUIC while on scene.

use std::sync::Arc;
use std::time::Duration;

use vigie_ground::fleet::Change;
use vigie_ground::server::{ServerState, Shutdown};
use vigie_protocols::api::{CommandOutcome, DroneCommand};

use crate::drone::{DroneFleet, DroneSpec, spawn_drones};

/// How many of each unit to simulate.
#[derive(Debug, Clone, Copy)]
pub struct FleetSpec {
    /// Simulated drones.
    pub drones: usize,
    /// Simulated patrol tablets.
    pub patrols: usize,
}

/// The running simulated fleet.
#[derive(Debug)]
pub struct FleetTask {
    /// The simulated drones.
    drones: Option<DroneFleet>,
    /// The tasks that fly the drones and run the patrols.
    tasks: tokio::task::JoinSet<()>,
}

impl FleetTask {
    /// Stops every simulated unit.
    pub async fn stop(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        if let Some(d) = self.drones.take() {
            d.stop().await;
        }
    }
}

/// How long the demo waits for a simulated drone to appear in the picture.
const JOIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Starts the simulated fleet against a running server: drones take off
/// from around the site origin and orbit it at staggered radii and
/// altitudes, commanded through the server like an operator would.
pub async fn spawn_fleet(
    server: &Arc<ServerState>,
    spec: FleetSpec,
    shutdown: Shutdown,
) -> anyhow::Result<FleetTask> {
    let mut tasks = tokio::task::JoinSet::new();
    let site = &server.config.site;
    let origin = (site.origin_lat_deg, site.origin_lon_deg);
    let drones = if spec.drones > 0 {
        let ground = server
            .listener("mavlink:udp0")
            .or_else(|| {
                server
                    .listeners()
                    .into_iter()
                    .find(|l| l.name.starts_with("mavlink:"))
                    .and_then(|l| l.address.parse().ok())
            })
            .ok_or_else(|| anyhow::anyhow!("the server has no MAVLink UDP listener"))?;
        let mut s = DroneSpec::new(spec.drones, ground, origin);
        s.spacing_m = 30.0;
        let fleet = spawn_drones(s).await?;
        let link = server
            .listeners()
            .into_iter()
            .find(|l| l.address == ground.to_string())
            .and_then(|l| l.name.strip_prefix("mavlink:").map(str::to_string))
            .unwrap_or_else(|| "udp0".into());
        for (i, d) in fleet.drones().iter().enumerate() {
            let id = format!("drone:{link}:{}", d.system_id);
            // Its camera, as RTP/H.264 on the port the ground takes it in
            // on (`[[video.streams]]` names it).
            if let Some(to) = server.listener(&format!("video:{id}")) {
                let camera = crate::camera::CameraSpec {
                    fps: 15,
                    bitrate: 400_000,
                    time_zone: site.time_zone.clone(),
                }
                .camera(&id)?;
                let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
                let mut stop = shutdown.clone();
                tasks.spawn(async move {
                    stop.wait().await;
                    let _ = stop_tx.send(true);
                });
                let ssrc = 0x5eed_0000 | u32::from(d.system_id);
                let name = id.clone();
                tasks.spawn(async move {
                    if let Err(e) = crate::camera::stream_rtp(camera, to, ssrc, None, stop_rx).await
                    {
                        tracing::warn!("{name}: camera stopped: {e:#}");
                    }
                });
            }
            tasks.spawn(fly(server.clone(), id, i, origin, shutdown.clone()));
        }
        Some(fleet)
    } else {
        None
    };
    if spec.patrols > 0 {
        let mut patrols = crate::patrol::spawn_demo_patrols(server, spec.patrols, shutdown)?;
        tasks.spawn(async move { while patrols.tasks.join_next().await.is_some() {} });
    }
    Ok(FleetTask { drones, tasks })
}

/// Waits for a drone in the picture, then flies it: guided, arm, take off,
/// camera 45° down, orbit the site.
async fn fly(
    server: Arc<ServerState>,
    id: String,
    i: usize,
    origin: (f64, f64),
    mut shutdown: Shutdown,
) {
    let mut changes = server.fleet.subscribe();
    let present = |s: &ServerState| {
        s.fleet
            .read(|f| f.get(&id).is_some_and(|u| u.position.is_some()))
    };
    let joined = tokio::time::timeout(JOIN_TIMEOUT, async {
        while !present(&server) {
            match changes.recv().await {
                Ok(Change::Upsert(u, _)) if u.id == id && u.position.is_some() => return,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                _ => {}
            }
        }
    })
    .await;
    if joined.is_err() {
        tracing::warn!("simulated drone {id} did not join the picture within {JOIN_TIMEOUT:?}");
        return;
    }
    let alt = 40.0 + 10.0 * (i % 5) as f64;
    let steps = [
        DroneCommand::SetMode {
            mode: "GUIDED".into(),
        },
        DroneCommand::Arm,
        DroneCommand::Takeoff { alt_m: alt },
        DroneCommand::Gimbal {
            pitch_deg: -45.0,
            yaw_deg: 0.0,
        },
        DroneCommand::Orbit {
            lat_deg: origin.0,
            lon_deg: origin.1,
            alt_m: alt,
            radius_m: 150.0 + 60.0 * i as f64,
            speed_m_s: Some(6.0),
        },
    ];
    for (n, cmd) in steps.into_iter().enumerate() {
        if shutdown.is_set() {
            return;
        }
        // Let the takeoff climb before the orbit starts.
        if n == 3 {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(4)) => {}
                _ = shutdown.wait() => return,
            }
        }
        let r = server.drones.command(&id, cmd.clone()).await;
        if r.outcome == CommandOutcome::Accepted {
            tracing::info!("{id}: {cmd:?} accepted in {:.0} ms", r.latency_ms);
        } else {
            tracing::warn!("{id}: {cmd:?} {:?}: {}", r.outcome, r.detail);
        }
    }
}
