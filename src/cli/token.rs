//! `vigie token`: operator tokens for the HTTP API, managed offline on the
//! data directory (a running server sees changes on the next request).
//!
//! These commands need file access to the data directory: whoever may write
//! it is an administrator. Issues and revocations go to the audit register.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use vigie_ground::auth::Role;
use vigie_ground::auth::tokens;
use vigie_ground::store::Store;

/// Options shared by every `vigie token` subcommand.
#[derive(Args, Debug)]
pub struct TokenArgs {
    /// Data directory holding the database (needs file access to it).
    #[arg(long, global = true, default_value = "./vigie-data")]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// `vigie token` subcommands.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue a token for an operator; it is printed once, only its hash is kept.
    #[command(after_help = "Example:\n  vigie token issue --name claire --role dispatcher")]
    Issue {
        /// Operator name (letters, digits, '.', '-', '_', '@').
        #[arg(long)]
        name: String,
        /// Role: planner, pilot, dispatcher, auditor or admin.
        #[arg(long)]
        role: String,
    },
    /// List every token issued, live and revoked (never the secrets).
    List,
    /// Revoke one token by id, or every live token of an operator by name.
    #[command(after_help = "Examples:\n  vigie token revoke 3\n  vigie token revoke claire")]
    Revoke {
        /// Token id or operator name.
        id_or_name: String,
    },
}

/// Runs a `vigie token` subcommand.
pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    // Issuing a token may prepare a deployment before its first start;
    // listing and revoking read one that exists.
    let store = if matches!(args.command, TokenCommand::Issue { .. }) {
        Store::open(&args.data_dir)?
    } else {
        Store::open_existing(&args.data_dir)?
    };
    tokens::migrate(&store)?;
    let now = vigie_ground::time::unix_ms();
    match args.command {
        TokenCommand::Issue { name, role } => {
            let role: Role = role.parse()?;
            let issued = store.issue_token(&name, role, now)?;
            record(
                &store,
                now,
                "token.issue",
                &format!("token:{}", issued.info.id),
                serde_json::json!({"name": name, "role": role}),
            )?;
            eprintln!(
                "token {} for {name} ({role}); it is shown only now, keep it secret:",
                issued.info.id
            );
            println!("{}", issued.token);
        }
        TokenCommand::List => {
            println!("{:>4}  {:<24} {:<11} {:<8}", "id", "name", "role", "state");
            for t in store.list_tokens()? {
                let state = if t.revoked_ms.is_some() {
                    "revoked"
                } else {
                    "live"
                };
                println!("{:>4}  {:<24} {:<11} {state:<8}", t.id, t.name, t.role);
            }
        }
        TokenCommand::Revoke { id_or_name } => {
            let n = store.revoke_tokens(&id_or_name, now)?;
            record(
                &store,
                now,
                "token.revoke",
                &id_or_name,
                serde_json::json!({"revoked": n}),
            )?;
            if n == 0 {
                anyhow::bail!(
                    "no live token matches {id_or_name:?}: `vigie token list` shows them"
                );
            }
            println!("revoked {n} token(s)");
        }
    }
    Ok(())
}

/// Records a token change in the audit register, as the local user.
fn record(
    store: &Store,
    now: i64,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    use vigie_ground::guardrails::audit::{Actor, Audit, Entry};
    Audit::open(store)?
        .record(Entry::new(now, Actor::local_user(), action, target).detail(detail))?;
    Ok(())
}

/// Where a command that calls a running server finds it, and its token.
#[derive(Args, Debug, Clone)]
pub struct ServerOpt {
    /// The server's HTTP address.
    #[arg(
        long,
        global = true,
        env = "VIGIE_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    #[command(flatten)]
    pub auth: TokenOpt,
}

impl ServerOpt {
    /// The base URL (no trailing slash) and the `Authorization` value.
    pub fn endpoint(&self) -> anyhow::Result<(String, String)> {
        Ok((
            self.server.trim_end_matches('/').to_string(),
            self.auth.bearer()?,
        ))
    }
}

/// The `--token` option of commands that call a running server.
#[derive(Args, Debug, Clone)]
pub struct TokenOpt {
    /// Operator token for the server's API (`vigie token issue` makes one).
    #[arg(long, global = true, env = "VIGIE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl TokenOpt {
    /// The `Authorization` header value, or a clear error when no token was given.
    pub fn bearer(&self) -> anyhow::Result<String> {
        match &self.token {
            Some(t) if !t.trim().is_empty() => Ok(format!("Bearer {}", t.trim())),
            _ => anyhow::bail!(
                "this command calls the server's API and needs an operator token: pass --token or set VIGIE_TOKEN (an admin issues one with `vigie token issue --name NAME --role ROLE`)"
            ),
        }
    }
}
