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
    /// Deployment certificate authority: issue and revoke unit certificates.
    Ca(cli::ca::CaArgs),
    /// Simulated patrol tablets against a running server (QUIC).
    SimPatrols(cli::sim_patrols::SimPatrolsArgs),
    /// Print or check configuration.
    #[command(subcommand)]
    Config(cli::config::ConfigCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    cli::init_logging(&cli.log);
    let result = match cli.command {
        Command::Serve(args) => cli::serve::run(args),
        Command::Demo(args) => cli::demo::run(args),
        Command::Config(cmd) => cli::config::run(cmd),
        Command::Ca(args) => cli::ca::run(args),
        Command::SimPatrols(args) => cli::sim_patrols::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
