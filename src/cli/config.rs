//! `vigie config`: print the defaults, check a file.

use std::path::PathBuf;

use clap::Subcommand;
use vigie_ground::config::Config;

/// Configuration helpers.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the default configuration as TOML, every key documented in README.md.
    ///
    /// Example: `vigie config default > vigie.toml`
    Default,
    /// Check a configuration file and print it with defaults filled in
    /// (signing keys redacted).
    ///
    /// Example: `vigie config check vigie.toml`
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}

/// Runs a `vigie config` subcommand.
pub fn run(cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Default => print!("{}", Config::default_toml()),
        ConfigCommand::Check { file } => {
            let config = Config::load(&file)?;
            for warning in config.warnings() {
                eprintln!("warning: {warning}");
            }
            // Signing keys are redacted: this output is pasted into tickets.
            print!("{}", config.to_shown_toml());
        }
    }
    Ok(())
}
