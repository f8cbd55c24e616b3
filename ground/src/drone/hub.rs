//! How the rest of the server reaches a vehicle: one bounded request queue
//! per link, found from the unit id (`drone:<link>:<sysid>`).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use vigie_protocols::api::{CommandOutcome, CommandResult, DroneCommand};

use crate::guardrails::audit::Actor;

/// Requests a link task may queue before callers are told it is busy.
pub const LINK_QUEUE: usize = 256;

/// A request to a link task.
#[derive(Debug)]
pub enum LinkRequest {
    /// Run a command on a vehicle and answer with its result.
    Command {
        /// The vehicle's unit id.
        unit_id: String,
        /// What to do.
        command: DroneCommand,
        /// Where the result goes.
        reply: oneshot::Sender<CommandResult>,
    },
}

/// What every command passes before it is sent and after it ends: the
/// flight-authorisation check and the audit register (`guardrails::gate`).
pub trait CommandGate: Send + Sync + std::fmt::Debug {
    /// The command to send (the gate may complete it: under an
    /// authorisation a fence keeps the perimeter), or the typed refusal to
    /// return (already recorded).
    fn before(
        &self,
        actor: &Actor,
        unit_id: &str,
        command: &DroneCommand,
    ) -> Result<DroneCommand, CommandResult>;
    /// Records how a sent command ended.
    fn after(&self, actor: &Actor, unit_id: &str, result: &CommandResult);
}

/// The request queues of every link, by link name.
#[derive(Debug, Clone, Default)]
pub struct DroneHub {
    /// Link name → its task's queue.
    links: HashMap<String, mpsc::Sender<LinkRequest>>,
    /// Checks and records every command; the server always sets one, so no
    /// caller (HTTP, dispatch, the demo) can reach a vehicle around it.
    gate: Option<Arc<dyn CommandGate>>,
}

fn refused(outcome: CommandOutcome, detail: String) -> CommandResult {
    CommandResult::unsent(outcome, detail)
}

impl DroneHub {
    /// Registers a link's queue.
    pub fn add(&mut self, name: &str, tx: mpsc::Sender<LinkRequest>) {
        self.links.insert(name.to_string(), tx);
    }

    /// Sets the gate every command passes.
    pub fn set_gate(&mut self, gate: Arc<dyn CommandGate>) {
        self.gate = Some(gate);
    }

    /// Runs `command` on the drone `unit_id` on Vigie's own behalf (actor
    /// `system`) and waits for its typed result.
    pub async fn command(&self, unit_id: &str, command: DroneCommand) -> CommandResult {
        self.command_as(&Actor::System, unit_id, command).await
    }

    /// Runs `command` for `actor`: checked and recorded by the gate, sent,
    /// and its result recorded.
    pub async fn command_as(
        &self,
        actor: &Actor,
        unit_id: &str,
        command: DroneCommand,
    ) -> CommandResult {
        if let Some(gate) = &self.gate {
            let command = match gate.before(actor, unit_id, &command) {
                Ok(to_send) => to_send,
                Err(refused) => return refused,
            };
            let result = self.send(unit_id, command).await;
            gate.after(actor, unit_id, &result);
            return result;
        }
        self.send(unit_id, command).await
    }

    async fn send(&self, unit_id: &str, command: DroneCommand) -> CommandResult {
        let Some(link) = unit_id
            .strip_prefix("drone:")
            .and_then(|r| r.split(':').next())
        else {
            return refused(
                CommandOutcome::Refused,
                format!("{unit_id:?} is not a drone id (drone:<link>:<system id>)"),
            );
        };
        let Some(tx) = self.links.get(link) else {
            return refused(
                CommandOutcome::Refused,
                format!("no MAVLink link named {link:?}"),
            );
        };
        let (reply, rx) = oneshot::channel();
        let req = LinkRequest::Command {
            unit_id: unit_id.to_string(),
            command,
            reply,
        };
        if tx.try_send(req).is_err() {
            return refused(
                CommandOutcome::Refused,
                format!(
                    "link {link} is busy ({LINK_QUEUE} requests waiting) or stopped; retry shortly"
                ),
            );
        }
        rx.await.unwrap_or_else(|_| {
            refused(
                CommandOutcome::Refused,
                "the link stopped before answering (server shutting down?)".into(),
            )
        })
    }
}
