//! `vigie`: the one binary. A thin command line over the crates: each
//! subcommand lives in its own file under `cli/`.

mod cli;

use clap::{Parser, Subcommand};

/// Vigie coordinates drones, patrols and cameras for urban event security.
///
/// One ground server speaks MAVLink 2 to drones and QUIC to patrol tablets,
/// keeps one live picture of every unit and answers "who sees this point".
#[derive(Parser, Debug)]
#[command(name = "vigie", version, propagate_version = true)]
#[command(
    after_help = "Examples:\n  vigie demo                 # server + simulated fleet at the Stade de France\n  vigie serve --config vigie.toml\n  vigie config default > vigie.toml"
)]
struct Cli {
    /// Log filter (tracing syntax), e.g. `info` or `vigie_ground=debug`.
    #[arg(long, global = true, env = "VIGIE_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the ground server.
    Serve(cli::serve::ServeArgs),
    /// Run the server with a simulated fleet and show the live picture.
    Demo(cli::demo::DemoArgs),
    /// List and command drones through a running server.
    Drone(cli::drone::DroneArgs),
    /// Open the 3D operations view (scenario or live), or save a screenshot of it.
    View(cli::view::ViewArgs),
    /// Deployment certificate authority: issue and revoke unit certificates.
    #[command(
        after_help = "Examples:\n  vigie ca init\n  vigie ca issue --unit P17 --role patrol --out certs\n  vigie ca revoke P17"
    )]
    Ca(cli::ca::CaArgs),
    /// Print or check configuration.
    #[command(
        subcommand,
        after_help = "Examples:\n  vigie config default > vigie.toml\n  vigie config check vigie.toml"
    )]
    Config(cli::config::ConfigCommand),
    /// Who sees what: now, over a zone, over time (offline on files too).
    #[command(
        subcommand,
        after_help = "Examples:\n  vigie coverage who-sees --cameras cams.csv --at 48.9245,2.3602\n  vigie coverage who-sees --cameras cams.csv --points pts.csv --out seen.csv\n  vigie coverage zone --zone zone.geojson --cell-m 2 --gaps-out gaps.geojson\n  vigie coverage history --at 48.9245,2.3602 --from 2026-07-14T14:02:00Z --to 2026-07-14T14:10:00Z --reason \"incident 42\""
    )]
    Coverage(cli::coverage::CoverageCommand),
    /// Recorded video found by place and time, and exported with its provenance.
    Footage(cli::footage::FootageArgs),
    /// The fixed-camera inventory: import (with a report of rejected rows) and export.
    #[command(
        subcommand,
        after_help = "Examples:\n  vigie cameras import cams.csv --buildings buildings.geojson\n  vigie cameras export --format geojson --out cams.geojson"
    )]
    Cameras(cli::cameras::CamerasCommand),
    /// Plan drone stations, rotations and patrol posts for an event; site street cameras.
    #[command(
        after_help = "Examples:\n  vigie plan simulations/events/stade-de-france.toml --out plan-sdf\n  vigie plan simulations/events/seine-opening-ceremony.toml --out plan-seine --seed 7\n  vigie plan cameras --streets streets.geojson --radius 200 --target 0.95 --cameras cams.csv --out siting"
    )]
    Plan(cli::plan::PlanArgs),
    /// Run simulated units against a ground server or any ground software.
    #[command(
        subcommand,
        after_help = "Examples:\n  vigie sim drones --count 10 --ground 127.0.0.1:14550 --for 60s\n  vigie sim patrols --count 10 --ground 127.0.0.1:4433 --certs certs"
    )]
    Sim(cli::sim::SimCommand),
    /// Operator tokens for the HTTP API: issue, list, revoke (offline, needs file access).
    #[command(
        after_help = "Examples:\n  vigie token issue --name claire --role dispatcher\n  vigie token list\n  vigie token revoke claire"
    )]
    Token(cli::token::TokenArgs),
    /// Load benchmarks on this machine: the drone link (in-process server) and the patrol link (server as a child process).
    #[command(
        subcommand,
        after_help = "Examples:\n  vigie bench udp --datagrams 2000000\n  vigie bench fleet --drones 500 --rate-hz 10 --for 30s\n  vigie bench patrols --count 10000 --for 60s"
    )]
    Bench(cli::bench::BenchCommand),
    /// The audit register: verify its hash chain, export it for an inspector (offline, needs file access).
    #[command(
        after_help = "Examples:\n  vigie audit verify\n  vigie audit export --from 2026-07-14T00:00:00Z --to 2026-07-15T00:00:00Z --out register.csv"
    )]
    Audit(cli::audit::AuditArgs),
    /// Flight authorisations: record, list, end (offline, needs file access; admins use the API).
    #[command(
        after_help = "Examples:\n  vigie authorisation add --purpose gatherings --service \"DDSP 93\" --order-ref 2026-093 --perimeter \"48.915,2.355;48.915,2.365;48.925,2.365\" --from 2026-07-14T12:00:00Z --to 2026-07-14T23:00:00Z --max-cameras 2 --drone drone:udp0:1\n  vigie authorisation list\n  vigie authorisation end 3"
    )]
    Authorisation(cli::authorisation::AuthorisationArgs),
    /// Retention: legal holds, recordings index, deletion register (offline, needs file access).
    #[command(
        after_help = "Examples:\n  vigie retention hold recording:12 --reason \"PV 2026/1234\"\n  vigie retention release recording:12 --reason \"case closed\"\n  vigie retention register"
    )]
    Retention(cli::retention::RetentionArgs),
    /// Write the public information notice (Markdown and HTML) from the authorisations in force.
    Notice(cli::notice::NoticeArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    cli::init_logging(&cli.log);
    let result = match cli.command {
        Command::Serve(args) => cli::serve::run(args),
        Command::Demo(args) => cli::demo::run(args),
        Command::View(args) => cli::view::run(args),
        Command::Config(cmd) => cli::config::run(cmd),
        Command::Drone(args) => cli::drone::run(args),
        Command::Coverage(cmd) => cli::coverage::run(cmd),
        Command::Footage(args) => cli::footage::run(args),
        Command::Cameras(cmd) => cli::cameras::run(cmd),
        Command::Sim(cmd) => cli::sim::run(cmd),
        Command::Plan(args) => cli::plan::run(args),
        Command::Ca(args) => cli::ca::run(args),
        Command::Bench(cmd) => cli::bench::run(cmd),
        Command::Token(args) => cli::token::run(args),
        Command::Audit(args) => cli::audit::run(args),
        Command::Authorisation(args) => cli::authorisation::run(args),
        Command::Retention(args) => cli::retention::run(args),
        Command::Notice(args) => cli::notice::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
