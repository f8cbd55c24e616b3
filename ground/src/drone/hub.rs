//! How the rest of the server reaches a vehicle: one bounded request queue
//! per link, found from the unit id (`drone:<link>:<sysid>`).

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};
use vigie_protocols::api::{CommandOutcome, CommandResult, DroneCommand};

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

/// The request queues of every link, by link name.
#[derive(Debug, Clone, Default)]
pub struct DroneHub {
    /// Link name → its task's queue.
    links: HashMap<String, mpsc::Sender<LinkRequest>>,
}

fn refused(outcome: CommandOutcome, detail: String) -> CommandResult {
    CommandResult {
        outcome,
        detail,
        attempts: 0,
        latency_ms: 0.0,
        mission: None,
    }
}

impl DroneHub {
    /// Registers a link's queue.
    pub fn add(&mut self, name: &str, tx: mpsc::Sender<LinkRequest>) {
        self.links.insert(name.to_string(), tx);
    }

    /// Runs `command` on the drone `unit_id` and waits for its typed result.
    pub async fn command(&self, unit_id: &str, command: DroneCommand) -> CommandResult {
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
