//! The command protocol (COMMAND_LONG / COMMAND_INT → COMMAND_ACK) as a
//! sans-I/O core: retries, timeouts and a typed outcome.
//!
//! Per the MAVLink command protocol, at most one command of a given id is in
//! flight per vehicle; a resent COMMAND_LONG carries an incremented
//! `confirmation`. MAV_RESULT_IN_PROGRESS extends the wait instead of
//! counting as an answer.

use std::time::{Duration, Instant};

use mavlink::dialects::ardupilotmega::{
    COMMAND_ACK_DATA, COMMAND_LONG_DATA, MavCmd, MavMessage, MavResult,
};
use vigie_protocols::api::CommandOutcome;

/// Wait for an acknowledgement before resending (QGroundControl uses about
/// this; ArduPilot answers in well under 100 ms on a healthy link).
pub const ACK_TIMEOUT: Duration = Duration::from_millis(1500);
/// Sends before giving up (first send + retries).
pub const MAX_ATTEMPTS: u32 = 4;
/// How long an IN_PROGRESS answer extends the wait.
pub const IN_PROGRESS_EXTENSION: Duration = Duration::from_secs(10);

/// Identifies a command for its caller.
pub type CommandId = u64;

/// A finished command.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// Which command.
    pub id: CommandId,
    /// How it ended.
    pub outcome: CommandOutcome,
    /// What was said.
    pub detail: String,
    /// Sends made.
    pub attempts: u32,
    /// From first send to the end.
    pub elapsed: Duration,
}

/// A command waiting for its acknowledgement.
#[derive(Debug, Clone)]
struct Pending {
    /// Caller's handle.
    id: CommandId,
    /// Target system.
    system_id: u8,
    /// The command id, to match acks.
    cmd: MavCmd,
    /// The message to (re)send.
    msg: MavMessage,
    /// Sends made so far.
    attempts: u32,
    /// When the current wait ends.
    deadline: Instant,
    /// First send.
    started: Instant,
}

/// All commands in flight on one link.
#[derive(Debug, Default)]
pub struct CommandEngine {
    /// In flight, in start order.
    pending: Vec<Pending>,
    /// Waiting for an earlier command with the same id to the same vehicle
    /// to end (the protocol allows one at a time), in order.
    queued: Vec<Pending>,
    /// Next id to hand out.
    next_id: CommandId,
}

/// What the engine wants sent: (target system, message).
pub type Send = (u8, MavMessage);

/// At most this many commands wait behind others per link; beyond that new
/// ones are refused (an operator hammering a dead vehicle must not grow
/// memory without bound).
pub const MAX_QUEUED: usize = 256;

impl CommandEngine {
    /// Starts a command (`msg` is a COMMAND_LONG or COMMAND_INT). Sends it at
    /// once (pushed onto `sends`) unless the same command is in flight to
    /// that vehicle, in which case it waits its turn.
    pub fn start(
        &mut self,
        now: Instant,
        system_id: u8,
        msg: MavMessage,
        sends: &mut Vec<Send>,
    ) -> Result<CommandId, Finished> {
        self.next_id += 1;
        let id = self.next_id;
        let refuse = |detail: String| Finished {
            id,
            outcome: CommandOutcome::Refused,
            detail,
            attempts: 0,
            elapsed: Duration::ZERO,
        };
        let cmd = match &msg {
            MavMessage::COMMAND_LONG(c) => c.command,
            MavMessage::COMMAND_INT(c) => c.command,
            _ => return Err(refuse("not a command message".into())),
        };
        let p = Pending {
            id,
            system_id,
            cmd,
            msg,
            attempts: 1,
            deadline: now + ACK_TIMEOUT,
            started: now,
        };
        if self.in_flight(system_id, cmd) {
            if self.queued.len() >= MAX_QUEUED {
                return Err(refuse(format!(
                    "{MAX_QUEUED} commands already wait on this link; retry when the vehicle answers"
                )));
            }
            self.queued.push(p);
        } else {
            sends.push((system_id, p.msg.clone()));
            self.pending.push(p);
        }
        Ok(id)
    }

    fn in_flight(&self, system_id: u8, cmd: MavCmd) -> bool {
        self.pending
            .iter()
            .any(|p| p.system_id == system_id && p.cmd == cmd)
    }

    /// Sends the next queued command for (system, cmd), if any.
    fn promote(&mut self, now: Instant, system_id: u8, cmd: MavCmd, sends: &mut Vec<Send>) {
        if let Some(i) = self
            .queued
            .iter()
            .position(|q| q.system_id == system_id && q.cmd == cmd)
        {
            let mut p = self.queued.remove(i);
            p.started = now;
            p.deadline = now + ACK_TIMEOUT;
            sends.push((p.system_id, p.msg.clone()));
            self.pending.push(p);
        }
    }

    /// Handles a COMMAND_ACK from `system_id`.
    pub fn on_ack(
        &mut self,
        now: Instant,
        system_id: u8,
        ack: &COMMAND_ACK_DATA,
        sends: &mut Vec<Send>,
    ) -> Option<Finished> {
        let i = self
            .pending
            .iter()
            .position(|p| p.system_id == system_id && p.cmd == ack.command)?;
        let (outcome, detail) = match ack.result {
            MavResult::MAV_RESULT_IN_PROGRESS => {
                let p = &mut self.pending[i];
                p.deadline = now + IN_PROGRESS_EXTENSION;
                return None;
            }
            MavResult::MAV_RESULT_ACCEPTED => (CommandOutcome::Accepted, "accepted".to_string()),
            MavResult::MAV_RESULT_TEMPORARILY_REJECTED => (
                CommandOutcome::TemporarilyRejected,
                "temporarily rejected by the vehicle: retry later".to_string(),
            ),
            MavResult::MAV_RESULT_UNSUPPORTED
            | MavResult::MAV_RESULT_COMMAND_LONG_ONLY
            | MavResult::MAV_RESULT_COMMAND_INT_ONLY
            | MavResult::MAV_RESULT_COMMAND_UNSUPPORTED_MAV_FRAME => {
                (CommandOutcome::Unsupported, format!("{:?}", ack.result))
            }
            other => (CommandOutcome::Denied, format!("{other:?}")),
        };
        let p = self.pending.remove(i);
        self.promote(now, p.system_id, p.cmd, sends);
        Some(Finished {
            id: p.id,
            outcome,
            detail,
            attempts: p.attempts,
            elapsed: now.saturating_duration_since(p.started),
        })
    }

    /// When the engine next needs [`CommandEngine::on_timeout`].
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.deadline).min()
    }

    /// Resends what timed out (pushing onto `sends`) and returns what gave up.
    pub fn on_timeout(&mut self, now: Instant, sends: &mut Vec<Send>) -> Vec<Finished> {
        let mut finished = Vec::new();
        let mut freed = Vec::new();
        self.pending.retain_mut(|p| {
            if p.deadline > now {
                return true;
            }
            if p.attempts >= MAX_ATTEMPTS {
                finished.push(Finished {
                    id: p.id,
                    outcome: CommandOutcome::TimedOut,
                    detail: format!("no answer after {} sends", p.attempts),
                    attempts: p.attempts,
                    elapsed: now.saturating_duration_since(p.started),
                });
                freed.push((p.system_id, p.cmd));
                return false;
            }
            p.attempts += 1;
            if let MavMessage::COMMAND_LONG(c) = &mut p.msg {
                c.confirmation = c.confirmation.saturating_add(1);
            }
            p.deadline = now + ACK_TIMEOUT;
            sends.push((p.system_id, p.msg.clone()));
            true
        });
        for (system_id, cmd) in freed {
            self.promote(now, system_id, cmd, sends);
        }
        finished
    }

    /// Fails every command to `system_id`, sent or queued (its link was lost).
    pub fn on_link_lost(&mut self, now: Instant, system_id: u8) -> Vec<Finished> {
        let mut finished = Vec::new();
        let mut fail = |p: &Pending| {
            finished.push(Finished {
                id: p.id,
                outcome: CommandOutcome::LinkLost,
                detail: "link to the vehicle lost while waiting for its answer".into(),
                attempts: p.attempts,
                elapsed: now.saturating_duration_since(p.started),
            })
        };
        for list in [&mut self.pending, &mut self.queued] {
            list.retain(|p| {
                if p.system_id == system_id {
                    fail(p);
                    false
                } else {
                    true
                }
            });
        }
        finished
    }
}

/// A `COMMAND_LONG` for `system`/`component` with its seven parameters
/// (unconfirmed: confirmation 0).
pub fn command_long(system: u8, component: u8, command: MavCmd, params: [f32; 7]) -> MavMessage {
    let [param1, param2, param3, param4, param5, param6, param7] = params;
    MavMessage::COMMAND_LONG(COMMAND_LONG_DATA {
        param1,
        param2,
        param3,
        param4,
        param5,
        param6,
        param7,
        command,
        target_system: system,
        target_component: component,
        confirmation: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mavlink::dialects::ardupilotmega::COMMAND_LONG_DATA;

    fn arm() -> MavMessage {
        MavMessage::COMMAND_LONG(COMMAND_LONG_DATA {
            command: MavCmd::MAV_CMD_COMPONENT_ARM_DISARM,
            param1: 1.0,
            target_system: 3,
            target_component: 1,
            ..COMMAND_LONG_DATA::DEFAULT
        })
    }

    fn ack(result: MavResult) -> COMMAND_ACK_DATA {
        COMMAND_ACK_DATA {
            command: MavCmd::MAV_CMD_COMPONENT_ARM_DISARM,
            result,
            ..COMMAND_ACK_DATA::DEFAULT
        }
    }

    #[test]
    fn resends_with_confirmation_then_times_out() {
        let t0 = Instant::now();
        let mut e = CommandEngine::default();
        let mut sends = Vec::new();
        let id = e.start(t0, 3, arm(), &mut sends).unwrap();
        assert_eq!(sends.len(), 1);
        sends.clear();
        assert!(e.on_timeout(t0 + ACK_TIMEOUT / 2, &mut sends).is_empty());
        assert!(sends.is_empty());
        let mut t = t0;
        for attempt in 2..=MAX_ATTEMPTS {
            t = e.next_deadline().unwrap();
            assert!(e.on_timeout(t, &mut sends).is_empty());
            let Some((3, MavMessage::COMMAND_LONG(c))) = sends.pop() else {
                panic!("expected a resend")
            };
            assert_eq!(c.confirmation as u32, attempt - 1);
        }
        t = e.next_deadline().unwrap().max(t);
        let done = e.on_timeout(t, &mut sends);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].id, id);
        assert_eq!(done[0].outcome, CommandOutcome::TimedOut);
        assert_eq!(done[0].attempts, MAX_ATTEMPTS);
        assert_eq!(e.next_deadline(), None);
    }

    #[test]
    fn ack_ends_it_and_in_progress_extends_the_wait() {
        let t0 = Instant::now();
        let mut e = CommandEngine::default();
        let mut s = Vec::new();
        e.start(t0, 3, arm(), &mut s).unwrap();
        assert!(
            e.on_ack(t0, 3, &ack(MavResult::MAV_RESULT_IN_PROGRESS), &mut s)
                .is_none()
        );
        assert_eq!(e.next_deadline(), Some(t0 + IN_PROGRESS_EXTENSION));
        // An ack from another vehicle is not ours.
        assert!(
            e.on_ack(t0, 4, &ack(MavResult::MAV_RESULT_ACCEPTED), &mut s)
                .is_none()
        );
        let done = e
            .on_ack(
                t0 + Duration::from_millis(40),
                3,
                &ack(MavResult::MAV_RESULT_DENIED),
                &mut s,
            )
            .unwrap();
        assert_eq!(done.outcome, CommandOutcome::Denied);
        assert_eq!(done.elapsed, Duration::from_millis(40));
    }

    #[test]
    fn same_command_waits_its_turn_and_link_loss_fails_sent_and_queued() {
        let t0 = Instant::now();
        let mut e = CommandEngine::default();
        let mut s = Vec::new();
        let first = e.start(t0, 3, arm(), &mut s).unwrap();
        let second = e.start(t0, 3, arm(), &mut s).unwrap();
        assert_eq!(s.len(), 1, "the second waits");
        let done = e
            .on_ack(t0, 3, &ack(MavResult::MAV_RESULT_ACCEPTED), &mut s)
            .unwrap();
        assert_eq!(done.id, first);
        assert_eq!(s.len(), 2, "the second is sent when the first ends");
        e.start(t0, 3, arm(), &mut s).unwrap();
        e.start(t0, 5, arm(), &mut s).unwrap();
        let lost = e.on_link_lost(t0, 3);
        assert_eq!(lost.len(), 2);
        assert!(lost.iter().any(|f| f.id == second));
        assert!(lost.iter().all(|f| f.outcome == CommandOutcome::LinkLost));
        assert_eq!(e.pending.len(), 1);
    }
}
