//! `vigie retention`: legal holds, the recordings index and the deletion
//! register, offline on the data directory.
//!
//! These commands need file access to the data directory. Holds and purges
//! are recorded in the audit register.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use vigie_ground::config::Config;
use vigie_ground::guardrails::audit::{Actor, Audit, Entry};
use vigie_ground::guardrails::retention;
use vigie_ground::store::Store;

/// Options shared by every `vigie retention` subcommand.
#[derive(Args, Debug)]
pub struct RetentionArgs {
    /// Data directory holding the database (needs file access to it).
    #[arg(long, global = true, default_value = "./vigie-data")]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: RetentionCommand,
}

/// `vigie retention` subcommands.
#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// Suspend the purge of one item (seized for proceedings).
    #[command(
        after_help = "Examples:\n  vigie retention hold recording:12 --reason \"seized\" --reference \"PV 2026/1234, TJ Bobigny\"\n  vigie retention hold coverage:5531 --reason \"requisition 26-0042\""
    )]
    Hold {
        /// The item: recording:ID, coverage:ID, camera:ID@IMPORTED_MS or unit:ID.
        item: String,
        /// Why it is held.
        #[arg(long)]
        reason: String,
        /// The proceedings' reference (case or seizure number).
        #[arg(long, default_value = "")]
        reference: String,
    },
    /// Release a legal hold: the item is purged at the next pass if past its limit.
    #[command(
        after_help = "Example:\n  vigie retention release recording:12 --reason \"case closed\""
    )]
    Release {
        /// The held item.
        item: String,
        /// Why it is released.
        #[arg(long)]
        reason: String,
    },
    /// List legal holds and indexed recordings.
    #[command(after_help = "Example:\n  vigie retention list")]
    List,
    /// Print the deletion register (what was purged, when).
    #[command(after_help = "Example:\n  vigie retention register")]
    Register,
    /// Run one purge pass now with the configuration's limits.
    #[command(after_help = "Example:\n  vigie retention purge --config /etc/vigie.toml")]
    Purge {
        /// TOML configuration (for `[retention]`); defaults without it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Runs a `vigie retention` subcommand.
pub fn run(args: RetentionArgs) -> anyhow::Result<()> {
    let store = Store::open_existing(&args.data_dir)?;
    retention::migrate(&store)?;
    let audit = Audit::open(&store)?;
    let now = vigie_ground::time::unix_ms();
    let actor = Actor::local_user();
    match args.command {
        RetentionCommand::Hold {
            item,
            reason,
            reference,
        } => {
            store.hold_for(&item, &reason, &reference, &actor.as_string(), now)?;
            audit.record(
                Entry::new(now, actor, "retention.hold", &item)
                    .detail(serde_json::json!({ "reference": reference }))
                    .reason(&reason),
            )?;
            println!("{item} held: it will not be purged until released");
        }
        RetentionCommand::Release { item, reason } => {
            store.release(&item)?;
            audit.record(Entry::new(now, actor, "retention.release", &item).reason(&reason))?;
            println!("{item} released");
        }
        RetentionCommand::List => {
            println!("legal holds:");
            for h in store.holds()? {
                println!(
                    "  {:<24} {} by {}: {} [{}]",
                    h.item,
                    vigie_ground::time::rfc3339(h.held_ms),
                    h.held_by,
                    h.reason,
                    h.reference
                );
            }
            println!("recordings:");
            for r in store.list_recordings()? {
                println!(
                    "  recording:{:<6} {:<20} {} .. {}  {}",
                    r.id,
                    r.source,
                    vigie_ground::time::rfc3339(r.start_ms),
                    vigie_ground::time::rfc3339(r.end_ms),
                    r.uri
                );
            }
        }
        RetentionCommand::Register => {
            println!("deleted_utc,item,category,ended_utc,detail");
            for d in store.deletions()? {
                println!(
                    "{},{},{},{},{}",
                    vigie_ground::time::rfc3339(d.deleted_ms),
                    d.item,
                    d.category,
                    vigie_ground::time::rfc3339(d.ended_ms),
                    d.detail.replace(',', ";")
                );
            }
        }
        RetentionCommand::Purge { config } => {
            let cfg = match config {
                Some(p) => retention::Limits::from_config(&Config::load(&p)?),
                None => retention::Limits::default(),
            };
            let counts = retention::purge(&store, now, &cfg)?;
            let total: usize = counts.iter().map(|(_, n)| n).sum();
            audit.record(
                Entry::new(now, actor, "retention.purge", "store").detail(
                    serde_json::Value::Object(
                        counts
                            .iter()
                            .map(|(c, n)| (c.as_str().to_string(), serde_json::json!(n)))
                            .collect(),
                    ),
                ),
            )?;
            println!("{total} item(s) purged; `vigie retention register` lists them");
        }
    }
    Ok(())
}
