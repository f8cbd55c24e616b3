//! `vigie serve`: the ground server.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use vigie_ground::config::Config;
use vigie_ground::server::Server;

/// Options of `vigie serve`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  vigie serve                          # loopback, data in ./vigie-data\n  vigie serve --config /etc/vigie.toml\n  vigie serve --config /etc/vigie.toml --data-dir /var/lib/vigie\n\nOn an address other than loopback, HTTP needs [http] tls = true (or\nallow_plain_http = true behind a TLS proxy)."
)]
pub struct ServeArgs {
    /// TOML configuration file; without it, the documented defaults.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Override the data directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Override the HTTP listen address.
    #[arg(long)]
    pub http: Option<SocketAddr>,
    /// Override the QUIC listen address.
    #[arg(long)]
    pub quic: Option<SocketAddr>,
    /// Replace the MAVLink links with one UDP listener on this address.
    #[arg(long)]
    pub mavlink: Option<SocketAddr>,
    /// Start even if the audit register does not verify: the damage is
    /// recorded in the register, logged and shown by /api/v1/health.
    #[arg(long)]
    pub accept_damaged_audit: bool,
}

impl ServeArgs {
    /// Loads the config file (if any) and applies the overrides.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::unconfigured(),
        };
        if let Some(d) = &self.data_dir {
            config.data_dir = d.clone();
        }
        if let Some(a) = self.http {
            config.http.listen = a;
        }
        if let Some(a) = self.quic {
            config.quic.listen = a;
        }
        if self.accept_damaged_audit {
            config.audit.accept_damaged = true;
        }
        if let Some(a) = self.mavlink {
            config.mavlink.links = vec![vigie_ground::config::LinkConfig {
                name: "udp0".into(),
                address: format!("udpin:{a}"),
                signing_key: None,
            }];
        }
        // The overrides are checked like the file.
        config.validate().map_err(|e| {
            anyhow::anyhow!("the configuration with the command-line overrides: {e}")
        })?;
        Ok(config)
    }
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    // One descriptor per HTTP connection, plus the database, the links and
    // the QUIC socket: the soft limit (often 1024) is raised to the hard one.
    super::bench_patrols::raise_fd_limit(config.http.max_connections as u64 + 256);
    super::runtime()?.block_on(async move {
        let server = Server::start(config)
            .await
            .context("cannot start the ground server")?;
        for l in server.state().listeners() {
            tracing::info!("{} listening on {}", l.name, l.address);
        }
        server.run_until(super::stop_signal()).await
    })
}
