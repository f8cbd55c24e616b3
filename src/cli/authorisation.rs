//! `vigie authorisation`: record, list and end flight authorisations,
//! offline on the data directory (a running server reads them every second).
//!
//! These commands need file access to the data directory; the same actions
//! over the API need an admin token (`POST /api/v1/authorisations`). Every
//! change is recorded in the audit register.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::Value;
use vigie_ground::guardrails::audit::{Actor, Audit, Entry};
use vigie_ground::guardrails::authorisation::{self, NewAuthorisation, Purpose};
use vigie_ground::store::Store;

/// Options shared by every `vigie authorisation` subcommand.
#[derive(Args, Debug)]
pub struct AuthorisationArgs {
    /// Data directory holding the database (needs file access to it).
    #[arg(long, global = true, default_value = "./vigie-data")]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: AuthorisationCommand,
}

/// `vigie authorisation` subcommands.
#[derive(Subcommand, Debug)]
// Parsed once per run: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum AuthorisationCommand {
    /// Record a prefectoral flight authorisation and the drones it covers.
    #[command(
        after_help = "Example:\n  vigie authorisation add --purpose gatherings --service \"DDSP 93\" \\\n    --contact \"ddsp93@interieur.gouv.fr\" --order-ref \"2026-07-14-093\" \\\n    --perimeter \"48.915,2.355;48.915,2.365;48.925,2.365;48.925,2.355\" \\\n    --from 2026-07-14T12:00:00Z --to 2026-07-14T23:00:00Z --max-cameras 2 \\\n    --drone drone:udp0:1 --drone drone:udp0:2\n\nPurposes (CSI L242-5 I): exposed_places (1°), gatherings (2°), terrorism (3°),\ntransport_flows (4°), borders (5°), rescue (6°)."
    )]
    Add {
        /// Legal purpose: exposed_places, gatherings, terrorism, transport_flows, borders, rescue.
        #[arg(long)]
        purpose: String,
        /// Requesting service.
        #[arg(long)]
        service: String,
        /// Whom the public may contact (shown in the notice).
        #[arg(long, default_value = "")]
        contact: String,
        /// Perimeter: `lat,lon;lat,lon;...` (at least 3 points) or a GeoJSON polygon file.
        #[arg(long)]
        perimeter: String,
        /// Window start: RFC 3339 UTC or Unix ms.
        #[arg(long)]
        from: String,
        /// Window end: RFC 3339 UTC or Unix ms.
        #[arg(long)]
        to: String,
        /// Most camera drones flying at once.
        #[arg(long)]
        max_cameras: u32,
        /// The prefectoral order's reference.
        #[arg(long)]
        order_ref: String,
        /// A drone it covers (repeat for each), as `vigie drone list` names it.
        #[arg(long = "drone")]
        drones: Vec<String>,
        /// The order's date, YYYY-MM-DD (printed in the public notice).
        #[arg(long, default_value = "")]
        order_date: String,
        /// The perimeter in words as the order describes it (streets,
        /// landmarks), for the public notice.
        #[arg(long, default_value = "")]
        area: String,
    },
    /// List every authorisation, in force or not.
    #[command(after_help = "Example:\n  vigie authorisation list --json")]
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// End an authorisation now: its flying drones are sent home.
    #[command(after_help = "Example:\n  vigie authorisation end 3")]
    End {
        /// Authorisation id.
        id: i64,
    },
}

/// Perimeter from `lat,lon;...` or a GeoJSON file, as `[lon, lat]`.
fn perimeter(arg: &str) -> anyhow::Result<Vec<[f64; 2]>> {
    let path = std::path::Path::new(arg);
    if path.is_file() {
        let text = std::fs::read_to_string(path)?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{arg}: not GeoJSON: {e}"))?;
        // The first Polygon of the file (a MultiPolygon's first part).
        return vigie_ground::geojson::features(&v)
            .into_iter()
            .flat_map(|(_, g)| vigie_ground::geojson::outer_rings(g))
            .next()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{arg}: expected a GeoJSON Polygon with [lon, lat] numbers as its points"
                )
            });
    }
    arg.split(';')
        .filter(|s| !s.trim().is_empty())
        .map(|pair| {
            let (lat, lon) = pair
                .split_once(',')
                .ok_or_else(|| anyhow::anyhow!("{pair:?}: expected lat,lon"))?;
            let lat: f64 = lat
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{pair:?}: bad latitude"))?;
            let lon: f64 = lon
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{pair:?}: bad longitude"))?;
            Ok([lon, lat])
        })
        .collect()
}

/// Runs a `vigie authorisation` subcommand.
pub fn run(args: AuthorisationArgs) -> anyhow::Result<()> {
    // Recording an authorisation may prepare a deployment before its first
    // start; every other subcommand reads one that exists.
    let store = if matches!(args.command, AuthorisationCommand::Add { .. }) {
        Store::open(&args.data_dir)?
    } else {
        Store::open_existing(&args.data_dir)?
    };
    authorisation::migrate(&store)?;
    let audit = Audit::open(&store)?;
    let now = vigie_ground::time::unix_ms();
    let actor = Actor::local_user();
    match args.command {
        AuthorisationCommand::Add {
            purpose,
            service,
            contact,
            perimeter: per,
            from,
            to,
            max_cameras,
            order_ref,
            drones,
            order_date,
            area,
        } => {
            let purpose: Purpose = purpose.parse()?;
            let spec = NewAuthorisation {
                purpose,
                service,
                contact,
                perimeter: perimeter(&per)?,
                from_ms: super::coverage::parse_time_ms(&from).map_err(anyhow::Error::msg)?,
                to_ms: super::coverage::parse_time_ms(&to).map_err(anyhow::Error::msg)?,
                max_cameras,
                order_ref,
                drones,
                order_date,
                area,
            };
            spec.validate()?;
            let saved = store.add_authorisation(&spec, now, &actor.as_string())?;
            audit.record(
                Entry::new(
                    now,
                    actor,
                    "authorisation.add",
                    &format!("authorisation:{}", saved.id),
                )
                .detail(serde_json::to_value(&saved)?),
            )?;
            println!("{}", saved.id);
            eprintln!(
                "authorisation {} recorded ({}, {} drone(s))",
                saved.id,
                saved.spec.order_ref,
                saved.spec.drones.len()
            );
        }
        AuthorisationCommand::List { json } => {
            let list = store.list_authorisations()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!(
                    "{:>4}  {:<8} {:<16} {:<20} {:<24} {:<24} {:>4}  drones",
                    "id", "state", "purpose", "order", "from", "to", "cams"
                );
                for a in list {
                    let state = if a.active(now) {
                        "active"
                    } else if now < a.spec.from_ms {
                        "future"
                    } else {
                        "over"
                    };
                    println!(
                        "{:>4}  {state:<8} {:<16} {:<20} {:<24} {:<24} {:>4}  {}",
                        a.id,
                        a.spec.purpose.as_str(),
                        a.spec.order_ref,
                        vigie_ground::time::rfc3339(a.spec.from_ms),
                        vigie_ground::time::rfc3339(a.end_ms()),
                        a.spec.max_cameras,
                        a.spec.drones.join(",")
                    );
                }
            }
        }
        AuthorisationCommand::End { id } => {
            audit.record(Entry::new(
                now,
                actor.clone(),
                "authorisation.end",
                &format!("authorisation:{id}"),
            ))?;
            store.end_authorisation(id, now, &actor.as_string())?;
            println!("authorisation {id} ended; a running server recalls its flying drones");
        }
    }
    Ok(())
}
