//! `vigie sim`: simulated units that talk to a ground server (or any ground
//! software) over the real protocols. One subcommand per kind of unit.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use vigie_sim::drone::{DroneSpec, spawn_drones};

/// Simulations.
#[derive(Subcommand, Debug)]
pub enum SimCommand {
    /// Simulated multicopters speaking MAVLink 2 like ArduCopter, each on
    /// its own UDP socket with its own system id.
    ///
    /// Example: `vigie sim drones --count 10 --ground 127.0.0.1:14550 --for 60s`
    Drones(DronesArgs),
    /// Simulated patrol tablets speaking the QUIC protocol, each with its own
    /// issued certificate.
    ///
    /// Example: `vigie sim patrols --count 10 --ground 127.0.0.1:4433 --certs certs`
    Patrols(super::sim_patrols::SimPatrolsArgs),
}

/// Options of `vigie sim drones`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  vigie sim drones                                  # one drone to 127.0.0.1:14550\n  vigie sim drones --count 20 --origin 48.9245,2.3602 --for 5m\n  vigie sim drones --count 500 --ground 127.0.0.1:14550 --ground 127.0.0.1:14551\n\nEach drone sends to its ground address and answers whoever talks to it, so\nQGroundControl or a pymavlink script can connect to a drone's own port too.\nSystem ids are one byte: give one --ground per 255 drones."
)]
pub struct DronesArgs {
    /// How many drones.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Ground address to send telemetry to (a GCS listening on UDP); repeat
    /// for fleets above 255 drones (drone k goes to address k / 255).
    #[arg(long, default_value = "127.0.0.1:14550")]
    pub ground: Vec<SocketAddr>,
    /// Centre of the fleet's home positions, `LAT,LON` in degrees.
    #[arg(long, default_value = "48.924459,2.360164", value_parser = parse_origin)]
    pub origin: (f64, f64),
    /// Distance between neighbouring home positions, metres.
    #[arg(long, default_value_t = 20.0)]
    pub spacing: f64,
    /// MAVLink 2 signing key, 64 hex digits: outgoing messages are signed and
    /// unsigned or badly signed incoming messages are dropped.
    #[arg(long, env = "VIGIE_SIM_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,
    /// Stop by itself after this long (e.g. `30s`, `2m`) and exit 0.
    #[arg(long = "for", value_parser = super::duration::parse)]
    pub run_for: Option<Duration>,
}

/// Parses `LAT,LON` in degrees.
fn parse_origin(text: &str) -> Result<(f64, f64), String> {
    let (lat, lon) = text
        .split_once(',')
        .ok_or_else(|| format!("{text:?}: write the origin as LAT,LON, e.g. 48.9245,2.3602"))?;
    let lat: f64 = lat
        .trim()
        .parse()
        .map_err(|_| format!("{lat:?} is not a latitude in degrees"))?;
    let lon: f64 = lon
        .trim()
        .parse()
        .map_err(|_| format!("{lon:?} is not a longitude in degrees"))?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(format!("origin {lat},{lon} is outside -90..90, -180..180"));
    }
    Ok((lat, lon))
}

/// Runs a `vigie sim` subcommand.
pub fn run(cmd: SimCommand) -> anyhow::Result<()> {
    match cmd {
        SimCommand::Drones(args) => drones(args),
        SimCommand::Patrols(args) => super::sim_patrols::run(args),
    }
}

fn drones(args: DronesArgs) -> anyhow::Result<()> {
    let signing_key = args
        .signing_key
        .as_deref()
        .map(vigie_ground::drone::signing::parse_key)
        .transpose()
        .map_err(anyhow::Error::msg)
        .context("bad --signing-key")?;
    let spec = DroneSpec {
        count: args.count,
        ground: args.ground.clone(),
        origin: args.origin,
        spacing_m: args.spacing,
        signing_key,
    };
    super::runtime()?.block_on(async move {
        let fleet = spawn_drones(spec)
            .await
            .context("cannot start the simulated drones")?;
        for d in fleet.drones() {
            println!(
                "drone sysid {:>3} on udp {} -> ground {} home {:.6},{:.6}",
                d.system_id, d.local, d.ground, d.home.0, d.home.1
            );
        }
        println!(
            "{} simulated drones running{}",
            fleet.drones().len(),
            if signing_key.is_some() {
                " (signed)"
            } else {
                ""
            }
        );
        super::run_for_or_signal(args.run_for).await;
        fleet.stop().await;
        println!("simulated drones stopped");
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_and_nonsense_is_explained() {
        assert_eq!(parse_origin("48.9, 2.36").unwrap(), (48.9, 2.36));
        assert!(parse_origin("48.9").unwrap_err().contains("LAT,LON"));
        assert!(parse_origin("95,2").unwrap_err().contains("outside"));
        assert!(parse_origin("x,2").unwrap_err().contains("latitude"));
    }
}
