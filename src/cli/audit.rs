//! `vigie audit`: verify and export the audit register, offline on the data
//! directory.
//!
//! These commands read the database file directly: whoever runs them needs
//! file access to the data directory (operating-system permissions are the
//! access control). Exports are themselves recorded in the register.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use vigie_ground::guardrails::audit::{self, Actor, Audit, Entry};
use vigie_ground::guardrails::audit_seal;
use vigie_ground::store::Store;

/// Options shared by every `vigie audit` subcommand.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Data directory holding the database (needs file access to it).
    #[arg(long, global = true, default_value = "./vigie-data")]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// One row per line, with a header; times also in UTC.
    Csv,
    /// A JSON array of rows.
    Json,
}

/// `vigie audit` subcommands.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain, the signed checkpoints and the head: fails and names the first
    /// edited, removed, reordered or rewritten row.
    #[command(
        after_help = "Examples:\n  vigie audit verify --data-dir /var/lib/vigie\n  vigie audit verify --public-key inspector/audit-signing.pub --checkpoints inspector/checkpoints.jsonl"
    )]
    Verify {
        /// The public key to check signatures with (an inspector's copy of
        /// `audit-signing.pub`); default: the one in the data directory.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// Checkpoints exported earlier (`vigie audit checkpoints`): rows
        /// they cover must still be there, unchanged.
        #[arg(long)]
        checkpoints: Option<PathBuf>,
    },
    /// Write every signed checkpoint (JSON lines) for an inspector to keep, with the public key.
    #[command(after_help = "Example:\n  vigie audit checkpoints --out checkpoints.jsonl")]
    Checkpoints {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the register between two times for an inspector.
    #[command(
        after_help = "Examples:\n  vigie audit export --from 2026-07-14T00:00:00Z --to 2026-07-15T00:00:00Z --out register.csv\n  vigie audit export --from 0 --to 1784073600000 --format json --out register.json"
    )]
    Export {
        /// Window start: RFC 3339 UTC or Unix ms.
        #[arg(long)]
        from: String,
        /// Window end: RFC 3339 UTC or Unix ms.
        #[arg(long)]
        to: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs a `vigie audit` subcommand.
pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    if !args.data_dir.join("vigie.db").exists() {
        anyhow::bail!(
            "no database in {}: pass --data-dir with the server's data directory",
            args.data_dir.display()
        );
    }
    let store = Store::open(&args.data_dir)?;
    match args.command {
        AuditCommand::Verify {
            public_key,
            checkpoints,
        } => {
            let opts =
                audit::VerifyOptions::from_files(public_key.as_deref(), checkpoints.as_deref())?;
            let report = audit::verify_with(&store, &opts)?;
            let lines = report.lines();
            if report.intact() {
                println!("{}", lines.join("\n"));
                Ok(())
            } else {
                anyhow::bail!("{}", lines.join("\n"))
            }
        }
        AuditCommand::Checkpoints { out } => {
            let checkpoints = audit::export_checkpoints(&store)?;
            std::fs::write(&out, audit_seal::to_json_lines(&checkpoints))
                .with_context(|| format!("cannot write {}", out.display()))?;
            Audit::open(&store)?.record(
                Entry::new(
                    vigie_ground::time::unix_ms(),
                    Actor::local_user(),
                    "audit.checkpoints.export",
                    &out.display().to_string(),
                )
                .detail(serde_json::json!({"checkpoints": checkpoints.len()})),
            )?;
            eprintln!(
                "{} checkpoints written to {}; keep them with {} (the public key)",
                checkpoints.len(),
                out.display(),
                args.data_dir.join(audit_seal::PUBLIC_KEY_FILE).display()
            );
            Ok(())
        }
        AuditCommand::Export {
            from,
            to,
            format,
            out,
        } => {
            let from_ms = super::coverage::parse_time_ms(&from).map_err(anyhow::Error::msg)?;
            let to_ms = super::coverage::parse_time_ms(&to).map_err(anyhow::Error::msg)?;
            if to_ms < from_ms {
                anyhow::bail!("--to is before --from");
            }
            let log = Audit::open(&store)?;
            let rows = log.range(from_ms, to_ms)?;
            let text = match format {
                Format::Csv => audit::to_csv(&rows),
                Format::Json => serde_json::to_string_pretty(&rows)?,
            };
            std::fs::write(&out, text)
                .with_context(|| format!("cannot write {}", out.display()))?;
            log.record(
                Entry::new(
                    vigie_ground::time::unix_ms(),
                    Actor::local_user(),
                    "audit.export",
                    &out.display().to_string(),
                )
                .detail(
                    serde_json::json!({"from_ms": from_ms, "to_ms": to_ms, "rows": rows.len()}),
                ),
            )?;
            eprintln!("{} rows written to {}", rows.len(), out.display());
            Ok(())
        }
    }
}

/// The register entry of a change made by an offline command (privacy
/// masks, ...): the local user, with the SHA-256 of the new content.
pub fn local_change(now: i64, action: &str, target: &str, content: &str) -> Entry {
    use sha2::Digest as _;
    let hash: String = sha2::Sha256::digest(content.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Entry::new(now, Actor::local_user(), action, target)
        .detail(serde_json::json!({"sha256": hash, "bytes": content.len()}))
}

/// Records an offline coverage-history (footage) query: who (the local
/// user), what, the window and why. Refuses an empty reason.
pub fn record_footage_query(
    store: &Store,
    target: &vigie_ground::coverage::history::Target,
    from_ms: i64,
    to_ms: i64,
    reason: &str,
) -> anyhow::Result<()> {
    use vigie_ground::coverage::history::Target;
    if reason.trim().is_empty() {
        anyhow::bail!("--reason is empty: say which incident or case the search serves");
    }
    let what = match target {
        Target::Point(p) => serde_json::json!({"point": p}),
        Target::Path(p) => serde_json::json!({"path": p}),
    };
    Audit::open(store)?.record(
        Entry::new(
            vigie_ground::time::unix_ms(),
            Actor::local_user(),
            "coverage.history",
            "coverage",
        )
        .detail(serde_json::json!({"target": what, "from_ms": from_ms, "to_ms": to_ms}))
        .reason(reason.trim()),
    )?;
    Ok(())
}
