//! The hooks other modules call, so that every check and record of the
//! guardrails lives here and their handlers carry one line each.
//!
//! Records are written *before* the action's effect is announced: a drone
//! command is recorded before it is sent, a footage query before it runs.
//! When the register cannot be written, actions that can wait are refused
//! (fail closed); a recall (RTL, land, disarm) goes through regardless and
//! the failure is logged, because safety comes before paperwork.

use axum::http::StatusCode;
use serde_json::{Value, json};
use vigie_protocols::api::{CommandResult, DroneCommand};

use super::audit::{Actor, Audit, Entry};
use super::authorisation::{self, CheckState};
use crate::drone::hub::CommandGate;
use crate::fleet::FleetHandle;
use crate::http::HttpError;
use crate::store::{Store, StoreError};

/// What the hooks that record write to: the audit register, and the
/// guardrails' counters (first use of a token, refusals per minute). Every
/// HTTP route group that records holds one; it is cheap to clone.
#[derive(Debug, Clone)]
pub struct Register {
    /// The audit register.
    pub audit: Audit,
    /// Counters and limits of the guardrails.
    pub guardrails: std::sync::Arc<super::Guardrails>,
}

fn refused(detail: String) -> CommandResult {
    CommandResult::refused(detail)
}

fn is_safety(cmd: &DroneCommand) -> bool {
    matches!(
        cmd,
        DroneCommand::Rtl | DroneCommand::Land | DroneCommand::Disarm
    )
}

/// A command's name and parameters for the register.
fn command_json(cmd: &DroneCommand) -> Value {
    serde_json::to_value(cmd).unwrap_or(Value::Null)
}

/// What the authorisation check reads, from the store and the picture.
pub fn check_state(store: &Store, fleet: &FleetHandle) -> Result<CheckState, StoreError> {
    Ok(CheckState {
        authorisations: store.list_authorisations()?,
        drones: CheckState::drones_of(&fleet.snapshot()),
    })
}

/// The gate every drone command passes (set on the server's drone hub):
/// the authorisation check, then the register.
#[derive(Debug, Clone)]
pub struct DroneGate {
    /// Where authorisations are.
    pub store: Store,
    /// Where drones are.
    pub fleet: FleetHandle,
    /// Where commands are recorded.
    pub audit: Audit,
}

impl CommandGate for DroneGate {
    fn before(
        &self,
        actor: &Actor,
        unit_id: &str,
        cmd: &DroneCommand,
    ) -> Result<DroneCommand, CommandResult> {
        drone_command(self, crate::time::unix_ms(), actor, unit_id, cmd)
    }

    fn after(&self, actor: &Actor, unit_id: &str, result: &CommandResult) {
        let entry = Entry::new(crate::time::unix_ms(), actor.clone(), "drone.command.result", unit_id)
            .detail(json!({"outcome": result.outcome, "detail": result.detail, "attempts": result.attempts}));
        // The command itself was recorded (with a receipt) before it was
        // sent; its result only needs to follow it.
        if let Err(e) = self.audit.enqueue(entry) {
            tracing::error!("audit register unavailable, command result unrecorded: {e}");
        }
    }
}

/// Checks a drone command against the authorisations and records it.
/// `Ok` carries the command to send (a fence under an authorisation keeps
/// its perimeter, see [`authorisation::authorise`]); `Err` the typed refusal
/// to return to the caller (outcome `refused`, with the reason), already
/// recorded.
pub fn drone_command(
    gate: &DroneGate,
    now: i64,
    actor: &Actor,
    drone_id: &str,
    cmd: &DroneCommand,
) -> Result<DroneCommand, CommandResult> {
    let verdict = match check_state(&gate.store, &gate.fleet) {
        Ok(s) => authorisation::authorise(now, drone_id, cmd, &s),
        Err(e) if is_safety(cmd) => {
            tracing::error!("cannot read authorisations ({e}); letting the recall through");
            Ok(cmd.clone())
        }
        Err(e) => Err(authorisation::Refusal {
            reason: format!("cannot read the flight authorisations ({e}); retry shortly"),
            authorisation: None,
        }),
    };
    match verdict {
        Ok(to_send) => {
            let mut detail = command_json(&to_send);
            if to_send != *cmd
                && let Value::Object(m) = &mut detail
            {
                // What the pilot asked, when the gate completed it.
                m.insert("asked".into(), command_json(cmd));
            }
            let entry = Entry::new(now, actor.clone(), "drone.command", drone_id).detail(detail);
            if let Err(e) = gate.audit.record(entry) {
                if is_safety(cmd) {
                    tracing::error!("audit register unavailable ({e}); recall sent unrecorded");
                } else {
                    return Err(refused(format!(
                        "the audit register cannot be written ({e}), so the command was not sent; retry shortly"
                    )));
                }
            }
            Ok(to_send)
        }
        Err(refusal) => {
            tracing::warn!(drone = drone_id, actor = %actor.as_string(), "command refused: {refusal}");
            let entry = Entry::new(now, actor.clone(), "drone.command.refused", drone_id).detail(
                json!({"command": command_json(cmd), "authorisation": refusal.authorisation, "refusal": refusal.reason}),
            );
            if let Err(e) = gate.audit.enqueue(entry) {
                tracing::error!("audit register unavailable, refusal unrecorded: {e}");
            }
            Err(refused(format!(
                "outside flight authorisation: {}",
                refusal.reason
            )))
        }
    }
}

/// Most characters of a footage-query reason kept.
pub const MAX_REASON_CHARS: usize = 500;

/// Records a coverage-history (footage) query: who, what, the window, why.
/// Refuses it without a reason (400) or when it cannot be recorded (503):
/// the query runs only once its record is on disk.
pub async fn footage_query(
    register: &Register,
    op: &crate::auth::Operator,
    what: Value,
    from_ms: i64,
    to_ms: i64,
    reason: Option<&str>,
) -> Result<(), HttpError> {
    footage_access(
        register,
        op,
        ("coverage.history", "coverage", "a coverage-history query"),
        what,
        from_ms,
        to_ms,
        reason,
    )
    .await
}

/// Records an access to what cameras and drones saw (coverage history, the
/// recordings index) as `(action, target, what it is in words)`: who, what,
/// the window, why. Refuses it without a reason (400) or when it cannot be
/// recorded (503): the query runs only once its record is on disk.
pub async fn footage_access(
    register: &Register,
    op: &crate::auth::Operator,
    (action, target, described): (&str, &str, &str),
    what: Value,
    from_ms: i64,
    to_ms: i64,
    reason: Option<&str>,
) -> Result<(), HttpError> {
    let reason = reason.map(str::trim).unwrap_or("");
    if reason.is_empty() {
        return Err(HttpError::bad_request(format!(
            "{described} needs a reason (`reason=` in the query or body: the incident or case it serves); it is written to the audit register"
        )));
    }
    let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
    let entry = Entry::new(crate::time::unix_ms(), Actor::from(op), action, target)
        .detail(json!({"target": what, "from_ms": from_ms, "to_ms": to_ms}))
        .reason(&reason);
    register
        .audit
        .record_async(entry)
        .await
        .map(|_| ())
        .map_err(|e| HttpError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!(
                "the audit register cannot be written ({e}), so the query was not run"
            ),
        })
}

/// Counts a request refused by the access policy (401 or 403): in the
/// register, one row per source (peer IP) and minute with the count and the
/// distinct reasons ([`super::refusals`]); in the log, one summary line per
/// 5 s at most.
pub fn refused_request(
    register: &Register,
    actor: Actor,
    peer: Option<std::net::IpAddr>,
    method: &str,
    path: &str,
    status: u16,
    message: &str,
) {
    let remote = peer.map_or_else(|| "unknown".to_string(), |ip| ip.to_string());
    let refusal = super::refusals::Refusal {
        at_ms: crate::time::unix_ms(),
        action: "http.refused",
        actor,
        source: format!("remote:{remote}"),
        class: vec![("remote", remote), ("status", status.to_string())],
        request: format!("{method} {path}"),
        reason: message.to_string(),
    };
    if let Some(line) = register.guardrails.refusal("http", refusal) {
        tracing::warn!("{line}");
    }
}

/// Writes the refusals counted so far, the current minute's too, to the
/// register (queued in order): before the register is read, and at shutdown.
pub async fn flush_refusals(register: &Register) {
    for entry in register.guardrails.refusals_now() {
        if let Err(e) = register.audit.enqueue_async(entry).await {
            tracing::error!("audit register unavailable, refusals unrecorded: {e}");
        }
    }
}

/// Records an operator's login: the first request of a token in this run.
pub async fn login(register: &Register, op: &crate::auth::Operator, method: &str, path: &str) {
    if !register.guardrails.first_use(op.token_id) {
        return;
    }
    record_async(
        register,
        op.into(),
        "operator.login",
        &format!("token:{}", op.token_id),
        json!({ "role": op.role.as_str(), "first_request": format!("{method} {path}") }),
    )
    .await;
}

/// Records anything else (tokens, orders): queued in order, written with
/// the next batch; failures are logged, the action stands. A full queue
/// (the disk behind) makes this thread wait: from async code, use
/// [`record_async`].
pub fn record(register: &Register, actor: Actor, action: &str, target: &str, detail: Value) {
    let entry = Entry::new(crate::time::unix_ms(), actor, action, target).detail(detail);
    if let Err(e) = register.audit.enqueue(entry) {
        tracing::error!(action, "audit register unavailable, action unrecorded: {e}");
    }
}

/// [`record`] for async code: a full queue makes this task wait, never the
/// runtime's thread.
pub async fn record_async(
    register: &Register,
    actor: Actor,
    action: &str,
    target: &str,
    detail: Value,
) {
    let entry = Entry::new(crate::time::unix_ms(), actor, action, target).detail(detail);
    if let Err(e) = register.audit.enqueue_async(entry).await {
        tracing::error!(action, "audit register unavailable, action unrecorded: {e}");
    }
}

#[cfg(test)]
mod runtime_tests {
    use super::*;
    use std::time::Duration;

    /// Found reviewing the runtime's threads: the HTTP handlers recorded
    /// tokens, orders and authorisations with the blocking `enqueue`, so a
    /// register whose disk fell behind (queue full) stalled the runtime
    /// thread the handler ran on. Shown on a one-thread runtime: with the
    /// queue full and the writer stuck, a record waits in its task and
    /// another task still runs (here, the one that unsticks the writer).
    #[tokio::test(flavor = "current_thread")]
    async fn a_record_from_async_code_waits_in_its_task_when_the_register_is_full() {
        let store = Store::in_memory().unwrap();
        let register = Register {
            audit: Audit::start(&store).unwrap(),
            guardrails: std::sync::Arc::default(),
        };
        // Hold the writer's connection so the queue fills and stays full;
        // bounded: a stalled runtime never releases it.
        let held = crate::store::HeldConnection::hold(&store, Duration::from_secs(10));
        let release = held.releaser();
        let total =
            super::super::audit_writer::AUDIT_QUEUE + super::super::audit_writer::MAX_BATCH + 10;
        let filler = {
            let register = register.clone();
            tokio::spawn(async move {
                for i in 0..total {
                    record_async(
                        &register,
                        Actor::System,
                        "test.fill",
                        &format!("n:{i}"),
                        Value::Null,
                    )
                    .await;
                }
            })
        };
        let recorder = {
            let register = register.clone();
            tokio::spawn(async move {
                record_async(
                    &register,
                    Actor::System,
                    "token.issue",
                    "token:1",
                    Value::Null,
                )
                .await;
            })
        };
        // Runs only if no record holds the runtime's one thread.
        let releaser = tokio::spawn(async move {
            for _ in 0..100 {
                tokio::task::yield_now().await;
            }
            let _ = release.send(());
        });
        releaser.await.unwrap();
        filler.await.unwrap();
        recorder.await.unwrap();
        assert!(
            held.release(),
            "the runtime's thread was held: the releasing task could not run"
        );
        let rows = register.audit.range(i64::MIN, i64::MAX).unwrap();
        assert_eq!(rows.len(), total + 1, "nothing dropped");
    }
}
