//! `vigie ca`: the deployment certificate authority that identifies tablets.
//!
//! `init` creates it in the data directory (the server also does this on
//! first start), `issue` writes a unit's certificate and key with the CA
//! certificate the tablet must trust, `revoke` refuses a unit's certificates
//! from the server's next refresh (a few seconds when it is running).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use vigie_ground::patrol::ca::{self, DeploymentCa, Role, Validity};
use vigie_ground::store::Store;

/// Options shared by every `vigie ca` subcommand.
#[derive(Args, Debug)]
pub struct CaArgs {
    /// Data directory holding the CA (`<dir>/ca/`) and the database.
    #[arg(long, global = true, default_value = "./vigie-data")]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: CaCommand,
}

/// `vigie ca` subcommands.
#[derive(Subcommand, Debug)]
pub enum CaCommand {
    /// Create the deployment CA (refuses to overwrite an existing one).
    Init {
        /// Deployment name written in the CA certificate.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Issue a unit certificate: writes <UNIT>.cert.pem, <UNIT>.key.pem and ca.pem.
    #[command(after_help = "Example:\n  vigie ca issue --unit P17 --role patrol --out ./certs")]
    Issue {
        /// Unit id (1-32 letters, digits, '-' or '_'), e.g. P17.
        #[arg(long)]
        unit: String,
        /// Role: patrol, supervisor or operator (tablets and consoles), or
        /// server (a ground server's QUIC certificate, named vigie-ground,
        /// for a server whose CA lives elsewhere; it cannot connect as a
        /// client).
        #[arg(long, default_value = "patrol", value_parser = ["patrol", "supervisor", "operator", "server"])]
        role: String,
        /// Directory to write the PEM files to.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Validity, days.
        #[arg(long, default_value_t = 365)]
        days: u64,
    },
    /// Revoke every certificate issued to a unit.
    Revoke {
        /// Unit id.
        unit: String,
    },
}

/// Runs a `vigie ca` subcommand.
pub fn run(args: CaArgs) -> anyhow::Result<()> {
    match args.command {
        CaCommand::Init { name } => {
            DeploymentCa::init(&args.data_dir, &name)?;
            println!(
                "deployment CA created in {}",
                ca::ca_dir(&args.data_dir).display()
            );
        }
        CaCommand::Issue {
            unit,
            role,
            out,
            days,
        } => {
            let role: Role = role.parse()?;
            let authority = DeploymentCa::open(&args.data_dir)?;
            let store = Store::open(&args.data_dir)?;
            let validity = Validity::from_now(Duration::from_secs(days * 86_400));
            let cert = authority.issue(&unit, role, validity, Some(&store))?;
            ca::write_unit_files(&out, &unit, &cert, authority.cert_pem())?;
            println!(
                "issued {unit} ({}) serial {}: {}/{unit}.cert.pem, {unit}.key.pem, ca.pem",
                role.as_str(),
                cert.serial,
                out.display()
            );
        }
        CaCommand::Revoke { unit } => {
            let store = Store::open(&args.data_dir)?;
            let n = ca::revoke_unit(&store, &unit, vigie_ground::time::unix_ms())?;
            if n == 0 {
                anyhow::bail!(
                    "no unrevoked certificate issued to {unit:?} in {}",
                    args.data_dir.display()
                );
            }
            println!("revoked {n} certificate(s) of {unit}");
        }
    }
    Ok(())
}
