//! `vigie drone`: list and command drones through a running server.

use clap::{Args, Subcommand};
use vigie_protocols::api::{
    CommandOutcome, CommandResult, DroneCommand, FenceShape, MissionItem, UnitList,
};

/// Options shared by every `vigie drone` subcommand.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  vigie drone list\n  vigie drone arm drone:udp0:1\n  vigie drone takeoff drone:udp0:1 --alt 40\n  vigie drone goto drone:udp0:1 48.9250 2.3610 --alt 60\n  vigie drone orbit drone:udp0:1 48.9245 2.3602 --radius 80 --alt 60\n  vigie drone fence drone:udp0:1 --circle 48.9245,2.3602,500\n  vigie drone rtl drone:udp0:1"
)]
pub struct DroneArgs {
    #[command(flatten)]
    pub server: super::token::ServerOpt,
    #[command(subcommand)]
    pub command: DroneCommandArg,
}

/// One drone action.
#[derive(Subcommand, Debug)]
pub enum DroneCommandArg {
    /// List drones with mode, battery and position.
    List,
    /// Arm the motors.
    Arm {
        /// Drone id (`drone:<link>:<sysid>`).
        id: String,
    },
    /// Disarm the motors.
    Disarm {
        /// Drone id.
        id: String,
    },
    /// Change the flight mode (GUIDED, AUTO, LOITER, RTL, LAND, ...).
    Mode {
        /// Drone id.
        id: String,
        /// Mode name.
        mode: String,
    },
    /// Take off to an altitude above home.
    Takeoff {
        /// Drone id.
        id: String,
        /// Altitude above home, metres.
        #[arg(long, default_value_t = 30.0)]
        alt: f64,
    },
    /// Fly to a point and hold.
    Goto {
        /// Drone id.
        id: String,
        /// Latitude, degrees.
        lat: f64,
        /// Longitude, degrees.
        lon: f64,
        /// Altitude above home, metres.
        #[arg(long, default_value_t = 50.0)]
        alt: f64,
        /// Ground speed, m/s.
        #[arg(long)]
        speed: Option<f64>,
    },
    /// Circle a point.
    Orbit {
        /// Drone id.
        id: String,
        /// Centre latitude, degrees.
        lat: f64,
        /// Centre longitude, degrees.
        lon: f64,
        /// Radius, metres (negative: counter-clockwise).
        #[arg(long, default_value_t = 50.0, allow_hyphen_values = true)]
        radius: f64,
        /// Altitude above home, metres.
        #[arg(long, default_value_t = 50.0)]
        alt: f64,
        /// Speed, m/s.
        #[arg(long)]
        speed: Option<f64>,
    },
    /// Return to launch.
    Rtl {
        /// Drone id.
        id: String,
    },
    /// Land where it is.
    Land {
        /// Drone id.
        id: String,
    },
    /// Point the gimbal.
    Gimbal {
        /// Drone id.
        id: String,
        /// Pitch, degrees (-90 straight down).
        #[arg(long, allow_hyphen_values = true)]
        pitch: f64,
        /// Yaw relative to the vehicle, degrees.
        #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
        yaw: f64,
    },
    /// Point the camera at a location.
    Roi {
        /// Drone id.
        id: String,
        /// Latitude, degrees.
        lat: f64,
        /// Longitude, degrees.
        lon: f64,
        /// Altitude above home, metres.
        #[arg(long, default_value_t = 0.0)]
        alt: f64,
    },
    /// Upload a geofence: inclusion/exclusion circles and polygons.
    Fence {
        /// Drone id.
        id: String,
        /// Inclusion circle `LAT,LON,RADIUS_M` (repeatable).
        #[arg(long)]
        circle: Vec<String>,
        /// Exclusion circle `LAT,LON,RADIUS_M` (repeatable).
        #[arg(long)]
        exclude_circle: Vec<String>,
        /// Inclusion polygon `LAT,LON;LAT,LON;...` (repeatable).
        #[arg(long)]
        polygon: Vec<String>,
        /// Exclusion polygon `LAT,LON;LAT,LON;...` (repeatable).
        #[arg(long)]
        exclude_polygon: Vec<String>,
    },
    /// Upload a mission from a JSON file (a list of mission items).
    Mission {
        /// Drone id.
        id: String,
        /// JSON file: `[{"kind":"takeoff","alt_m":30}, {"kind":"waypoint","lat_deg":..,"lon_deg":..,"alt_m":..}, ...]`.
        file: std::path::PathBuf,
    },
    /// Download the vehicle's mission and print it as JSON.
    Download {
        /// Drone id.
        id: String,
    },
}

fn numbers(text: &str, n: usize, what: &str) -> anyhow::Result<Vec<f64>> {
    let v: Result<Vec<f64>, _> = text.split(',').map(|s| s.trim().parse::<f64>()).collect();
    match v {
        Ok(v) if v.len() == n => Ok(v),
        _ => anyhow::bail!("{what} {text:?}: expected {n} comma-separated numbers"),
    }
}

fn polygon(text: &str, inclusion: bool) -> anyhow::Result<FenceShape> {
    let vertices = text
        .split(';')
        .map(|p| numbers(p, 2, "vertex").map(|v| [v[0], v[1]]))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(FenceShape::Polygon {
        inclusion,
        vertices,
    })
}

fn circle(text: &str, inclusion: bool) -> anyhow::Result<FenceShape> {
    let v = numbers(text, 3, "circle")?;
    Ok(FenceShape::Circle {
        inclusion,
        lat_deg: v[0],
        lon_deg: v[1],
        radius_m: v[2],
    })
}

/// Runs a `vigie drone` subcommand.
pub fn run(args: DroneArgs) -> anyhow::Result<()> {
    let (base, bearer) = args.server.endpoint()?;
    let (id, command) = match args.command {
        DroneCommandArg::List => return list(&base, &bearer),
        DroneCommandArg::Arm { id } => (id, DroneCommand::Arm),
        DroneCommandArg::Disarm { id } => (id, DroneCommand::Disarm),
        DroneCommandArg::Mode { id, mode } => (id, DroneCommand::SetMode { mode }),
        DroneCommandArg::Takeoff { id, alt } => (id, DroneCommand::Takeoff { alt_m: alt }),
        DroneCommandArg::Goto {
            id,
            lat,
            lon,
            alt,
            speed,
        } => (
            id,
            DroneCommand::Goto {
                lat_deg: lat,
                lon_deg: lon,
                alt_m: alt,
                speed_m_s: speed,
            },
        ),
        DroneCommandArg::Orbit {
            id,
            lat,
            lon,
            radius,
            alt,
            speed,
        } => (
            id,
            DroneCommand::Orbit {
                lat_deg: lat,
                lon_deg: lon,
                alt_m: alt,
                radius_m: radius,
                speed_m_s: speed,
            },
        ),
        DroneCommandArg::Rtl { id } => (id, DroneCommand::Rtl),
        DroneCommandArg::Land { id } => (id, DroneCommand::Land),
        DroneCommandArg::Gimbal { id, pitch, yaw } => (
            id,
            DroneCommand::Gimbal {
                pitch_deg: pitch,
                yaw_deg: yaw,
            },
        ),
        DroneCommandArg::Roi { id, lat, lon, alt } => (
            id,
            DroneCommand::Roi {
                lat_deg: lat,
                lon_deg: lon,
                alt_m: alt,
            },
        ),
        DroneCommandArg::Fence {
            id,
            circle: inc_c,
            exclude_circle,
            polygon: inc_p,
            exclude_polygon,
        } => {
            let mut shapes = Vec::new();
            for c in &inc_c {
                shapes.push(circle(c, true)?);
            }
            for c in &exclude_circle {
                shapes.push(circle(c, false)?);
            }
            for p in &inc_p {
                shapes.push(polygon(p, true)?);
            }
            for p in &exclude_polygon {
                shapes.push(polygon(p, false)?);
            }
            if shapes.is_empty() {
                anyhow::bail!(
                    "a fence needs at least one --circle, --exclude-circle, --polygon or --exclude-polygon"
                );
            }
            (id, DroneCommand::Fence { shapes })
        }
        DroneCommandArg::Mission { id, file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let items: Vec<MissionItem> = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!("{}: not a list of mission items: {e}", file.display())
            })?;
            (id, DroneCommand::Mission { items })
        }
        DroneCommandArg::Download { id } => (id, DroneCommand::DownloadMission),
    };
    let url = format!("{base}/api/v1/drones/{id}/commands");
    let mut resp = ureq::post(&url)
        .header("Authorization", &bearer)
        .config()
        .http_status_as_error(false)
        .build()
        .send_json(&command)
        .map_err(|e| anyhow::anyhow!("cannot reach the server at {base}: {e} (is `vigie serve` running? --server sets the address)"))?;
    refused(&mut resp)?;
    let result: CommandResult = resp
        .body_mut()
        .read_json()
        .map_err(|e| anyhow::anyhow!("unexpected answer from {url}: {e}"))?;
    if let Some(items) = &result.mission {
        println!("{}", serde_json::to_string_pretty(items)?);
    }
    // The status line goes to stderr: stdout carries only the downloaded
    // mission, so `vigie drone download ID > m.json` writes valid JSON.
    eprintln!(
        "{id}: {:?} after {} send(s) in {:.0} ms: {}",
        result.outcome, result.attempts, result.latency_ms, result.detail
    );
    if result.outcome == CommandOutcome::Accepted {
        Ok(())
    } else {
        anyhow::bail!("the command was not accepted")
    }
}

/// Turns a 401 or 403 into the server's explanation.
fn refused(resp: &mut ureq::http::Response<ureq::Body>) -> anyhow::Result<()> {
    let status = resp.status();
    if status == 401 || status == 403 {
        let why = resp
            .body_mut()
            .read_json::<vigie_protocols::api::ApiError>()
            .map(|e| e.error)
            .unwrap_or_else(|_| status.to_string());
        anyhow::bail!("the server refused: {why}");
    }
    Ok(())
}

fn list(base: &str, bearer: &str) -> anyhow::Result<()> {
    let url = format!("{base}/api/v1/drones");
    let mut resp = ureq::get(&url)
        .header("Authorization", bearer)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .map_err(|e| {
            anyhow::anyhow!("cannot reach the server at {base}: {e} (is `vigie serve` running?)")
        })?;
    refused(&mut resp)?;
    let list: UnitList = resp
        .body_mut()
        .read_json()
        .map_err(|e| anyhow::anyhow!("unexpected answer from {url}: {e}"))?;
    println!(
        "{:<24} {:<10} {:<9} {:<8} {:>6} {:>11} {:>11} {:>7}",
        "ID", "STATUS", "MODE", "ARMED", "BAT%", "LAT", "LON", "ALT m"
    );
    for u in list.units {
        let d = u.drone.unwrap_or_default();
        let p = u.position.unwrap_or_default();
        println!(
            "{:<24} {:<10} {:<9} {:<8} {:>6} {:>11.6} {:>11.6} {:>7.1}",
            u.id,
            u.status.as_str(),
            d.mode,
            if d.armed { "armed" } else { "disarmed" },
            d.battery_pct.map_or("-".into(), |b| format!("{b:.0}")),
            p.lat_deg,
            p.lon_deg,
            p.alt_rel_m.unwrap_or(0.0)
        );
        for w in &d.warnings {
            println!("  WARNING: {w}");
        }
    }
    Ok(())
}
