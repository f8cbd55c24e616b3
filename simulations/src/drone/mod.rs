//! Simulated multicopters that speak MAVLink like ArduCopter.
//!
//! One implementation, two drivers: the vehicle is a sans-I/O core
//! ([`vehicle::Vehicle`]) over pure `step(dt)` physics, driven either in
//! real time over UDP ([`udp`]) or on a virtual clock in-process
//! ([`virtual_clock`]).
//!
//! - [`physics`]: kinematics and battery, pure `step(dt)`.
//! - [`fence`]: geofence zones.
//! - [`autopilot`]: modes, arming, guided commands, missions, failsafes, gimbal.
//! - [`vehicle`]: the MAVLink protocol of one drone (autopilot and camera).
//! - [`link`]: bytes in and out, MAVLink 2 signing, sequence numbers.
//! - [`params`]: the parameter protocol over a few ArduCopter parameters.
//! - [`udp`]: the real-time driver, one UDP socket per drone.
//! - [`virtual_clock`]: the in-process driver for tests, drills, benchmarks.
//!
//! System ids are one byte, so one ground link carries at most 255 drones
//! ([`MAX_PER_LINK`]); [`spawn_drones`] spreads larger fleets over several
//! ground addresses (drone k goes to address k / 255 with id k % 255 + 1)
//! and refuses a fleet the addresses cannot hold.
pub mod autopilot;
pub mod fence;
pub mod link;
pub mod params;
pub mod physics;
pub mod udp;
pub mod vehicle;
pub mod virtual_clock;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::sync::watch;
use tokio::task::JoinSet;

use self::udp::{BoundDrone, UdpDrone};
use self::vehicle::VehicleConfig;

/// Most drones one ground link can tell apart (system ids 1 to 255).
pub const MAX_PER_LINK: usize = 255;

/// Why the simulated fleet could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A socket could not be bound.
    #[error("cannot bind a UDP socket on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// More drones than the ground addresses can tell apart.
    #[error(
        "{count} drones need {needed} ground addresses (255 system ids per link), got {given}: \
         give --ground once per 255 drones, each a different port the ground listens on"
    )]
    TooManyDrones {
        /// Drones asked for.
        count: usize,
        /// Ground addresses needed.
        needed: usize,
        /// Ground addresses given.
        given: usize,
    },
    /// No ground address.
    #[error("no ground address: give at least one --ground HOST:PORT")]
    NoGround,
}

/// A fleet to start.
#[derive(Debug, Clone)]
pub struct DroneSpec {
    /// How many drones.
    pub count: usize,
    /// Ground addresses; drone k reports to `ground[k / 255]`.
    pub ground: Vec<SocketAddr>,
    /// Centre of the fleet's home positions, (latitude, longitude) degrees.
    pub origin: (f64, f64),
    /// Distance between neighbouring homes on the grid, metres.
    pub spacing_m: f64,
    /// MAVLink 2 signing key for every drone, when links are signed.
    pub signing_key: Option<[u8; 32]>,
}

impl DroneSpec {
    /// `count` drones around `origin`, reporting to `ground`, 20 m apart.
    pub fn new(count: usize, ground: SocketAddr, origin: (f64, f64)) -> DroneSpec {
        DroneSpec {
            count,
            ground: vec![ground],
            origin,
            spacing_m: 20.0,
            signing_key: None,
        }
    }
}

/// One running simulated drone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DroneInfo {
    /// MAVLink system id.
    pub system_id: u8,
    /// The drone's own UDP address.
    pub local: SocketAddr,
    /// Where it sends telemetry.
    pub ground: SocketAddr,
    /// Home (latitude, longitude), degrees.
    pub home: (f64, f64),
}

/// The running fleet; [`DroneFleet::stop`] ends it.
#[derive(Debug)]
pub struct DroneFleet {
    /// One task per drone.
    tasks: JoinSet<()>,
    /// Tells the tasks to stop.
    stop: watch::Sender<bool>,
    /// What runs where.
    drones: Vec<DroneInfo>,
}

impl DroneFleet {
    /// The drones.
    pub fn drones(&self) -> &[DroneInfo] {
        &self.drones
    }

    /// Stops every drone and waits for their tasks.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Home of drone `k` on a square grid centred on the origin, metres
/// `(east, north)`.
pub fn grid_offset(k: usize, count: usize, spacing_m: f64) -> (f64, f64) {
    let side = (count as f64).sqrt().ceil().max(1.0) as usize;
    let (row, col) = (k / side, k % side);
    let half = (side as f64 - 1.0) / 2.0;
    (
        (col as f64 - half) * spacing_m,
        (row as f64 - half) * spacing_m,
    )
}

/// Starts `spec.count` drones, each on its own UDP socket with its own
/// system id, and returns once every socket is bound.
pub async fn spawn_drones(spec: DroneSpec) -> Result<DroneFleet, SimError> {
    if spec.ground.is_empty() {
        return Err(SimError::NoGround);
    }
    let needed = spec.count.div_ceil(MAX_PER_LINK);
    if needed > spec.ground.len() {
        return Err(SimError::TooManyDrones {
            count: spec.count,
            needed,
            given: spec.ground.len(),
        });
    }
    let frame = vigie_ground::frame::LocalFrame::new(spec.origin.0, spec.origin.1);
    let mut bound = Vec::with_capacity(spec.count);
    let mut drones = Vec::with_capacity(spec.count);
    for k in 0..spec.count {
        let ground = spec.ground[k / MAX_PER_LINK];
        let system_id = (k % MAX_PER_LINK + 1) as u8;
        let (e, n) = grid_offset(k, spec.count, spec.spacing_m);
        let home = frame.to_wgs84(e, n);
        let ip: IpAddr = if ground.ip().is_loopback() {
            ground.ip()
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        let drone = BoundDrone::bind(UdpDrone {
            vehicle: VehicleConfig::new(system_id, home.0, home.1),
            ground,
            bind: SocketAddr::new(ip, 0),
            signing_key: spec.signing_key,
        })
        .await?;
        drones.push(DroneInfo {
            system_id,
            local: drone.local_addr()?,
            ground,
            home,
        });
        bound.push(drone);
    }
    let (stop, rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for drone in bound {
        tasks.spawn(drone.run(rx.clone()));
    }
    Ok(DroneFleet {
        tasks,
        stop,
        drones,
    })
}

#[cfg(test)]
mod udp_tests {
    use std::time::Duration;

    use mavlink::MavHeader;
    use mavlink::dialects::ardupilotmega::*;
    use tokio::net::UdpSocket;
    use vigie_ground::drone::wire;

    use super::*;

    #[tokio::test]
    async fn drones_report_to_the_ground_and_answer_commands_over_loopback() {
        let ground = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let spec = DroneSpec::new(3, ground.local_addr().unwrap(), (48.9, 2.36));
        let fleet = spawn_drones(spec).await.unwrap();
        assert_eq!(fleet.drones().len(), 3);
        let mut seen = std::collections::BTreeSet::new();
        let mut buf = [0u8; 2048];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while seen.len() < 3 {
            let (n, _) = tokio::time::timeout_at(deadline, ground.recv_from(&mut buf))
                .await
                .expect("heartbeats from every drone within 5 s")
                .unwrap();
            for f in wire::frames(&buf[..n]).flatten() {
                if let Ok(MavMessage::HEARTBEAT(h)) = f.decode()
                    && h.mavtype == MavType::MAV_TYPE_QUADROTOR
                {
                    seen.insert(f.header.system_id);
                }
            }
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![1, 2, 3]);

        // A second ground station talks to drone 2 directly and gets the ACK.
        let other = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut cmd = Vec::new();
        let header = MavHeader {
            system_id: 250,
            component_id: 190,
            sequence: 0,
        };
        let msg = MavMessage::COMMAND_LONG(COMMAND_LONG_DATA {
            command: MavCmd::MAV_CMD_REQUEST_MESSAGE,
            param1: AUTOPILOT_VERSION_DATA::ID as f32,
            target_system: 2,
            target_component: 1,
            ..Default::default()
        });
        wire::encode(&mut cmd, header, &msg, None);
        other.send_to(&cmd, fleet.drones()[1].local).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut acked = false;
        while !acked {
            let (n, _) = tokio::time::timeout_at(deadline, other.recv_from(&mut buf))
                .await
                .expect("an ACK within 5 s")
                .unwrap();
            acked = wire::frames(&buf[..n]).flatten().any(|f| {
                f.header.system_id == 2
                    && matches!(f.decode(), Ok(MavMessage::COMMAND_ACK(a)) if a.result == MavResult::MAV_RESULT_ACCEPTED)
            });
        }
        fleet.stop().await;
    }

    #[tokio::test]
    async fn fleets_beyond_255_need_several_ground_addresses() {
        let g: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let err = spawn_drones(DroneSpec::new(256, g, (48.9, 2.36)))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                SimError::TooManyDrones {
                    needed: 2,
                    given: 1,
                    ..
                }
            ),
            "{err}"
        );
        let mut spec = DroneSpec::new(0, g, (48.9, 2.36));
        spec.ground.clear();
        assert!(matches!(spawn_drones(spec).await, Err(SimError::NoGround)));
    }

    use mavlink::MessageData;
}
