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
/// Both may wait for the disk: the hub calls them on the blocking pool.
pub trait CommandGate: Send + Sync + std::fmt::Debug + 'static {
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
            // The gate reads SQLite and waits for the register's fsync: on
            // the blocking pool, never on a runtime thread.
            let checked = {
                let (gate, actor, id) = (gate.clone(), actor.clone(), unit_id.to_string());
                tokio::task::spawn_blocking(move || gate.before(&actor, &id, &command)).await
            };
            let command = match checked {
                Ok(Ok(to_send)) => to_send,
                Ok(Err(refused)) => return refused,
                Err(e) => {
                    return refused(
                        CommandOutcome::Refused,
                        format!("the command check failed ({e}); nothing was sent"),
                    );
                }
            };
            let result = self.send(unit_id, command).await;
            let (gate, actor, id, r) = (
                gate.clone(),
                actor.clone(),
                unit_id.to_string(),
                result.clone(),
            );
            if let Err(e) = tokio::task::spawn_blocking(move || gate.after(&actor, &id, &r)).await {
                tracing::error!(unit = unit_id, "recording a command's result failed: {e}");
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::mpsc as std_mpsc;
    use std::time::Duration;

    /// A gate whose check waits for the test to let it go, as one waits
    /// for the audit register's fsync and the authorisations' read.
    #[derive(Debug)]
    struct SlowGate {
        release: Mutex<std_mpsc::Receiver<()>>,
        timed_out: Mutex<bool>,
    }

    impl CommandGate for SlowGate {
        fn before(
            &self,
            _: &Actor,
            _: &str,
            command: &DroneCommand,
        ) -> Result<DroneCommand, CommandResult> {
            let rx = self.release.lock().unwrap_or_else(|p| p.into_inner());
            // The bound only turns a stalled runtime into a failure instead
            // of a hang; the passing run never waits for it.
            if rx.recv_timeout(Duration::from_secs(10)).is_err() {
                *self.timed_out.lock().unwrap_or_else(|p| p.into_inner()) = true;
            }
            Ok(command.clone())
        }

        fn after(&self, _: &Actor, _: &str, _: &CommandResult) {}
    }

    /// Found reviewing the runtime's threads: the gate read SQLite and
    /// waited for the audit register's fsync on the async runtime's thread,
    /// in the HTTP handler's task, so a slow disk stalled every task that
    /// thread runs. Shown on a one-thread runtime: while a command's gate
    /// waits, another task must still run (here, the one that releases it).
    #[tokio::test(flavor = "current_thread")]
    async fn a_slow_gate_does_not_hold_the_runtime() {
        let (release, rx) = std_mpsc::channel();
        let gate = Arc::new(SlowGate {
            release: Mutex::new(rx),
            timed_out: Mutex::new(false),
        });
        let mut hub = DroneHub::default();
        hub.set_gate(gate.clone());
        let command = tokio::spawn({
            let hub = hub.clone();
            async move { hub.command("drone:none:1", DroneCommand::Rtl).await }
        });
        // Runs only if the runtime's one thread is free while the gate waits.
        let releaser = tokio::spawn(async move {
            let _ = release.send(());
        });
        let result = command.await.expect("the command task ends");
        releaser.await.expect("the releasing task ends");
        assert!(
            !*gate.timed_out.lock().unwrap_or_else(|p| p.into_inner()),
            "the gate held the runtime's thread: the other task could not run"
        );
        // No link of that name: refused after the gate let it through.
        assert_eq!(result.outcome, CommandOutcome::Refused, "{result:?}");
    }
}
