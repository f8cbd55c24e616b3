//! `vigie demo`: the ground server on loopback with a simulated fleet around
//! the Stade de France, and the live picture in the terminal.
//!
//! Everything shown is read back from the server's own picture: the
//! simulated units talk to the server over the same sockets and protocols as
//! real ones.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use vigie_ground::config::Config;
use vigie_ground::server::Server;
use vigie_protocols::api::{Unit, UnitKind, UnitStatus};

/// Options of `vigie demo`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  vigie demo                  # until Ctrl-C\n  vigie demo --for 30s        # stops by itself and exits 0\n  vigie demo --http 127.0.0.1:0 --mavlink 127.0.0.1:0 --quic 127.0.0.1:0 --for 10s"
)]
pub struct DemoArgs {
    /// Stop by itself after this long (e.g. `30s`, `2m`) and exit 0.
    #[arg(long = "for", value_parser = super::duration::parse)]
    pub run_for: Option<Duration>,
    /// Data directory; default: a fresh temporary directory, removed at exit.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// QUIC listen address.
    #[arg(long, default_value = "127.0.0.1:4433")]
    pub quic: SocketAddr,
    /// MAVLink UDP listen address.
    #[arg(long, default_value = "127.0.0.1:14550")]
    pub mavlink: SocketAddr,
    /// Simulated drones.
    #[arg(long, default_value_t = 4)]
    pub drones: usize,
    /// Simulated patrols.
    #[arg(long, default_value_t = 6)]
    pub patrols: usize,
    /// Do not open the 3D viewer even when a display is present.
    #[arg(long)]
    pub no_view: bool,
    /// How often the picture is printed.
    #[arg(long, default_value = "1s", value_parser = super::duration::parse)]
    pub every: Duration,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let temp = args.data_dir.is_none();
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("vigie-demo-{}", std::process::id())));
    let mut config = Config {
        data_dir: data_dir.clone(),
        ..Config::default()
    };
    config.http.listen = args.http;
    config.quic.listen = args.quic;
    config.mavlink.links[0].address = format!("udpin:{}", args.mavlink);
    // The simulated drones' cameras (system ids 1.., on the first link),
    // each on a port the ground picks.
    let link = config.mavlink.links[0].name.clone();
    config.video.streams = (1..=args.drones.min(vigie_sim::drone::MAX_PER_LINK))
        .map(|id| vigie_ground::video::service::StreamConfig {
            source: format!("drone:{link}:{id}"),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            kind: None,
        })
        .collect();
    let result = super::runtime()?.block_on(demo(config, &args));
    if temp {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    result
}

async fn demo(config: Config, args: &DemoArgs) -> anyhow::Result<()> {
    let site = config.site.name.clone();
    let server = Server::start(config)
        .await
        .context("cannot start the ground server")?;
    let state = server.state().clone();
    let http = state.listener("http").context("no HTTP listener")?;
    // The demo's operator: an admin token, shown once, as `vigie token
    // issue` would.
    let token = state
        .store
        .issue_token(
            "demo",
            vigie_ground::auth::Role::Admin,
            vigie_ground::time::unix_ms(),
        )
        .context("cannot issue the demo's operator token")?
        .token;
    // What an operator needs to try the server: kept at the top of the
    // screen, above the picture every refresh redraws.
    let mut header = format!("Vigie demo at {site}\n");
    for l in state.listeners() {
        header.push_str(&format!("  {:<14} {}\n", l.name, l.address));
    }
    header.push_str(&format!(
        "  data dir       {}\n  token          {token}\n  try:\n    curl -H 'Authorization: Bearer {token}' http://{http}/api/v1/units\n    VIGIE_TOKEN={token} vigie drone list --server http://{http}\n    VIGIE_TOKEN={token} vigie view --live http://{http}\n",
        state.config.data_dir.display()
    ));
    print!("{header}");
    demo_authorisation(&state, args)?;
    let fleet_task = vigie_sim::demo::spawn_fleet(
        &state,
        vigie_sim::demo::FleetSpec {
            drones: args.drones,
            patrols: args.patrols,
        },
        server.shutdown_signal(),
    )
    .await
    .context("cannot start the simulated fleet")?;

    // With a display, open the 3D view on the live picture as its own
    // process (Bevy wants the main thread; the server keeps this one).
    let mut viewer = None;
    let display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if display && !args.no_view {
        let scenario = std::path::Path::new("simulations/scenarios/stade-de-france/scenario.toml");
        let mut cmd = std::process::Command::new(std::env::current_exe()?);
        // The view is an operator client of the QUIC protocol, with its own
        // certificate: a snapshot, then deltas.
        let certs = state.config.data_dir.join("viewer-certs");
        let quic = state.listener("quic").context("no QUIC listener")?;
        let authority = vigie_ground::patrol::ca::DeploymentCa::open(&state.config.data_dir)?;
        let cert = authority.issue(
            "VIEW1",
            vigie_ground::patrol::ca::Role::Operator,
            vigie_ground::patrol::ca::Validity::from_now(Duration::from_secs(86_400)),
            Some(&state.store),
        )?;
        vigie_ground::patrol::ca::write_unit_files(&certs, "VIEW1", &cert, authority.cert_pem())?;
        cmd.arg("view")
            .arg("--live")
            .arg(format!("quic://{quic}"))
            .arg("--certs")
            .arg(&certs)
            .arg("--unit")
            .arg("VIEW1");
        if scenario.exists() {
            cmd.arg("--scenario").arg(scenario);
        } else {
            let s = &state.config.site;
            cmd.arg("--origin")
                .arg(format!("{},{}", s.origin_lat_deg, s.origin_lon_deg));
        }
        match cmd.stdout(std::process::Stdio::null()).spawn() {
            Ok(child) => {
                println!("  3D view opened (close it any time; --no-view to skip)");
                viewer = Some(child);
            }
            Err(e) => println!("  3D view not opened: {e}"),
        }
    }
    let stop = super::run_for_or_signal(args.run_for);
    let printer = {
        let fleet = state.fleet.clone();
        let time_zone = state.config.site.time_zone.clone();
        let every = args.every;
        let tty = std::io::stdout().is_terminal();
        async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                print_picture(&header, &fleet.snapshot(), tty, &time_zone);
            }
        }
    };
    tokio::select! {
        r = server.run_until(stop) => r?,
        _ = printer => {}
    }
    fleet_task.stop().await;
    if let Some(mut v) = viewer {
        let _ = v.kill();
        let _ = v.wait();
    }
    println!("demo stopped cleanly");
    Ok(())
}

/// Prints the picture: counts by kind and status, then one line per unit.
/// On a terminal the screen is redrawn, `header` (the addresses, the token
/// and the commands to try) first, so that it never scrolls away.
fn print_picture(header: &str, units: &[Unit], tty: bool, time_zone: &str) {
    let mut out = String::new();
    if tty {
        out.push_str("\x1b[2J\x1b[H");
        out.push_str(header);
    }
    let mut counts: BTreeMap<(UnitKind, UnitStatus), usize> = BTreeMap::new();
    for u in units {
        *counts.entry((u.kind, u.status)).or_default() += 1;
    }
    out.push_str(&format!(
        "--- picture at {} ({time_zone}): {} units\n",
        vigie_ground::time::clock(vigie_ground::time::unix_ms(), time_zone),
        units.len()
    ));
    for kind in UnitKind::ALL {
        let parts: Vec<String> = UnitStatus::ALL
            .iter()
            .filter_map(|s| {
                counts
                    .get(&(kind, *s))
                    .map(|n| format!("{n} {}", s.as_str()))
            })
            .collect();
        if !parts.is_empty() {
            out.push_str(&format!("  {:<13} {}\n", kind.as_str(), parts.join(", ")));
        }
    }
    for u in units {
        let pos = u.position.map_or_else(
            || "position unknown".to_string(),
            |p| {
                let alt = p.alt_rel_m.map_or(String::new(), |a| format!(" {a:6.1} m"));
                format!("{:9.5} {:9.5}{alt}", p.lat_deg, p.lon_deg)
            },
        );
        let mut extra = String::new();
        if let Some(d) = &u.drone {
            extra.push_str(&format!(
                " {} {}",
                d.mode,
                if d.armed { "armed" } else { "disarmed" }
            ));
            if let Some(b) = d.battery_pct {
                extra.push_str(&format!(" bat {b:.0}%"));
            }
        }
        if u.coverage.is_some() {
            extra.push_str(" [camera footprint]");
        }
        out.push_str(&format!(
            "  {:<22} {:<12} {:<11} {pos}{extra}\n",
            u.id,
            u.kind.as_str(),
            u.status.as_str()
        ));
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

/// `HH:MM:SS` of a Unix millisecond time.
/// The demo's flight authorisation: every simulated drone may fly within
/// 2 km of the site for the demo's duration (a day without `--for`), as a
/// prefectoral order would allow; the guardrails refuse the rest.
fn demo_authorisation(
    state: &vigie_ground::server::ServerState,
    args: &DemoArgs,
) -> anyhow::Result<()> {
    use vigie_ground::guardrails::authorisation::{NewAuthorisation, Purpose};
    if args.drones == 0 {
        return Ok(());
    }
    let site = &state.config.site;
    let frame = vigie_ground::frame::LocalFrame::new(site.origin_lat_deg, site.origin_lon_deg);
    let corner = |e: f64, n: f64| {
        let (lat, lon) = frame.to_wgs84(e, n);
        [lon, lat]
    };
    let link = state
        .config
        .mavlink
        .links
        .first()
        .map_or("udp0".to_string(), |l| l.name.clone());
    let now = vigie_ground::time::unix_ms();
    let length_ms = args
        .run_for
        .map_or(86_400_000, |d| d.as_millis() as i64 + 60_000);
    let spec = NewAuthorisation {
        purpose: Purpose::Gatherings,
        service: "Vigie demo".into(),
        contact: "nobody: this is a simulation".into(),
        perimeter: vec![
            corner(-2000.0, -2000.0),
            corner(2000.0, -2000.0),
            corner(2000.0, 2000.0),
            corner(-2000.0, 2000.0),
        ],
        from_ms: now - 60_000,
        to_ms: now + length_ms,
        max_cameras: args.drones as u32,
        order_ref: "DEMO".into(),
        drones: (1..=args.drones.min(255))
            .map(|k| format!("drone:{link}:{k}"))
            .collect(),
        order_date: String::new(),
        area: "a 4 km square around the simulated site".into(),
    };
    let saved = state
        .store
        .add_authorisation(&spec, now, "system")
        .context("cannot record the demo's flight authorisation")?;
    state.audit.record(
        vigie_ground::guardrails::audit::Entry::new(
            now,
            vigie_ground::guardrails::audit::Actor::System,
            "authorisation.add",
            &format!("authorisation:{}", saved.id),
        )
        .detail(serde_json::to_value(&saved)?),
    )?;
    Ok(())
}
