//! The simulated fleet of `vigie demo`: drones over MAVLink/UDP and patrols
//! over QUIC, talking to the server through its real listeners.

use std::sync::Arc;

use vigie_ground::server::{ServerState, Shutdown};

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
    /// The simulation tasks.
    tasks: tokio::task::JoinSet<()>,
}

impl FleetTask {
    /// Stops every simulated unit.
    pub async fn stop(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Starts the simulated fleet against a running server.
pub async fn spawn_fleet(
    server: &Arc<ServerState>,
    spec: FleetSpec,
    shutdown: Shutdown,
) -> anyhow::Result<FleetTask> {
    let mut tasks = tokio::task::JoinSet::new();
    if spec.patrols > 0 {
        let patrols = crate::patrol::spawn_demo_patrols(server, spec.patrols, shutdown)?;
        tasks.spawn(async move {
            let mut patrols = patrols;
            while patrols.tasks.join_next().await.is_some() {}
        });
    }
    Ok(FleetTask { tasks })
}
