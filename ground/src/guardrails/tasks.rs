//! The thin tokio edge of the guardrails: drives the [`Supervisor`] once a
//! second (fences, recalls, warnings) and runs a retention purge pass every
//! `purge_interval_s`. All decisions are in the sans-I/O cores.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};
use vigie_protocols::api::{CommandOutcome, DroneCommand};

use super::GuardEvent;
use super::audit::{Actor, Entry};
use super::supervisor::{Action, Supervisor};
use crate::server::{ServerState, Shutdown};

/// How often authorisations are looked at: an expiry is acted on within this.
pub const SUPERVISE_INTERVAL: Duration = Duration::from_secs(1);

/// Records the configuration the server starts with (its SHA-256 and the
/// text), so a later change of limits or listeners is visible in the register.
pub fn record_config(state: &ServerState) -> Result<(), super::audit::AuditError> {
    let text = toml::to_string(&state.config).unwrap_or_default();
    let digest = Sha256::digest(text.as_bytes());
    let hash: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    state
        .audit
        .record(
            Entry::new(
                crate::time::unix_ms(),
                Actor::System,
                "config.loaded",
                "server",
            )
            .detail(json!({"sha256": hash, "version": env!("CARGO_PKG_VERSION"), "config": text})),
        )
        .map(|_| ())
}

fn event(state: &ServerState, level: &str, authorisation: Option<i64>, message: String) {
    state.guardrails.event(GuardEvent {
        at_ms: crate::time::unix_ms(),
        level: level.into(),
        authorisation,
        message,
    });
}

/// Carries out one supervisor action.
async fn act(state: &Arc<ServerState>, sup: &mut Supervisor, action: Action) {
    match action {
        Action::Fence {
            authorisation,
            drone,
            command,
        } => {
            let result = send(state, &drone, command).await;
            if result.outcome != CommandOutcome::Accepted {
                sup.fence_failed(authorisation, &drone);
                event(
                    state,
                    "warning",
                    Some(authorisation),
                    format!(
                        "the perimeter of authorisation {authorisation} could not be uploaded to {drone} as a geofence ({:?}: {}); retrying",
                        result.outcome, result.detail
                    ),
                );
            } else {
                event(
                    state,
                    "info",
                    Some(authorisation),
                    format!(
                        "perimeter of authorisation {authorisation} uploaded to {drone} as a geofence"
                    ),
                );
            }
        }
        Action::Recall {
            authorisation,
            drone,
        } => {
            let result = send(state, &drone, DroneCommand::Rtl).await;
            let level = if result.outcome == CommandOutcome::Accepted {
                "warning"
            } else {
                "error"
            };
            event(
                state,
                level,
                Some(authorisation),
                format!(
                    "{drone} recalled (RTL) at the end of authorisation {authorisation}: {:?} {}",
                    result.outcome, result.detail
                ),
            );
        }
        Action::Warn {
            authorisation,
            message,
        } => {
            super::gate::record(
                state,
                Actor::System,
                "authorisation.warning",
                &format!("authorisation:{authorisation}"),
                json!({"message": message}),
            );
            event(state, "warning", Some(authorisation), message);
        }
    }
}

/// Sends a command as Vigie itself (checked and recorded by the hub's gate).
async fn send(
    state: &Arc<ServerState>,
    drone: &str,
    command: DroneCommand,
) -> vigie_protocols::api::CommandResult {
    state
        .drones
        .command_as(&Actor::System, drone, command)
        .await
}

/// Drives the supervisor until shutdown.
pub async fn supervise(state: Arc<ServerState>, mut stop: Shutdown) -> anyhow::Result<()> {
    let mut sup = Supervisor::new();
    if let Ok(auths) = state.store.list_authorisations() {
        sup.skip_past(crate::time::unix_ms(), &auths);
    }
    let mut tick = tokio::time::interval(SUPERVISE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait() => return Ok(()),
        }
        let check = match super::gate::check_state(&state.store, &state.fleet) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot read authorisations: {e}");
                continue;
            }
        };
        let actions = sup.poll(crate::time::unix_ms(), &check.authorisations, &check.drones);
        for action in actions {
            act(&state, &mut sup, action).await;
        }
    }
}

/// Runs a retention purge pass every `purge_interval_s` until shutdown.
pub async fn purge(state: Arc<ServerState>, mut stop: Shutdown) -> anyhow::Result<()> {
    let cfg = state.guardrails.retention.clone();
    let mut tick = tokio::time::interval(Duration::from_secs(cfg.config.purge_interval_s.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait() => return Ok(()),
        }
        let store = state.store.clone();
        let cfg = cfg.clone();
        let now = crate::time::unix_ms();
        match tokio::task::spawn_blocking(move || super::retention::purge(&store, now, &cfg)).await
        {
            Ok(Ok(counts)) if !counts.is_empty() => {
                let detail: serde_json::Map<String, serde_json::Value> = counts
                    .iter()
                    .map(|(c, n)| (c.as_str().to_string(), json!(n)))
                    .collect();
                tracing::info!(?counts, "retention purge");
                super::gate::record(
                    &state,
                    Actor::System,
                    "retention.purge",
                    "store",
                    serde_json::Value::Object(detail),
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!("retention purge failed: {e}"),
            Err(e) => tracing::error!("retention purge panicked: {e}"),
        }
    }
}

/// How often counted refusals are looked at: rows are written within this
/// of their minute's end, log summaries every [`super::refusals::LOG_EVERY_MS`].
pub const REFUSALS_INTERVAL: Duration = Duration::from_secs(5);

/// Writes the refusals of each ended minute to the register and their
/// summaries to the log; at shutdown, everything still counted.
pub async fn refusals(state: Arc<ServerState>, mut shutdown: Shutdown) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(REFUSALS_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let (rows, lines) = state.guardrails.refusals_due(crate::time::unix_ms());
                for line in lines {
                    tracing::warn!("{line}");
                }
                for entry in rows {
                    if let Err(e) = state.audit.enqueue_async(entry).await {
                        tracing::error!("audit register unavailable, refusals unrecorded: {e}");
                    }
                }
            }
            _ = shutdown.wait() => break,
        }
    }
    for line in state.guardrails.refusal_lines_now(crate::time::unix_ms()) {
        tracing::warn!("{line}");
    }
    super::gate::flush_refusals(&state).await;
    Ok(())
}
