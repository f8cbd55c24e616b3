//! The thin tokio edge of the guardrails: drives the [`Supervisor`] once a
//! second (fences, recalls, warnings) and runs a retention purge pass every
//! `purge_interval_s`. All decisions are in the sans-I/O cores.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};
use vigie_protocols::api::{CommandOutcome, CommandResult, DroneCommand};

use super::GuardEvent;
use super::audit::{Actor, Entry};
use super::authorisation::CheckState;
use super::supervisor::{Action, Supervisor};
use crate::shutdown::Shutdown;
use crate::state::ServerState;

/// How often authorisations are looked at: an expiry is acted on within this.
pub const SUPERVISE_INTERVAL: Duration = Duration::from_secs(1);

/// Records the configuration the server starts with (its SHA-256 and the
/// text), so a later change of limits or listeners is visible in the register.
pub fn record_config(state: &ServerState) -> Result<(), super::audit::AuditError> {
    // Never the signing keys: the register is read by auditors.
    let text = state.config.to_shown_toml();
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

/// What the supervision needs from the server: a seam, so that its timing
/// (a recall never waiting behind a fence upload) is tested on virtual time
/// with a stand-in.
pub trait Guard: Send + Sync + 'static {
    /// Wall-clock time, Unix milliseconds.
    fn now_ms(&self) -> i64;
    /// Authorisations and drones as they are now (read from SQLite: off
    /// the runtime's threads).
    fn check_state(&self) -> impl Future<Output = Result<CheckState, String>> + Send + 'static;
    /// Sends a command as Vigie itself (checked and recorded by the hub's
    /// gate) and waits for its typed result.
    fn send(
        &self,
        drone: &str,
        command: DroneCommand,
    ) -> impl Future<Output = CommandResult> + Send + 'static;
    /// Tells the operators (the guardrails event list, and the log).
    fn event(&self, level: &str, authorisation: Option<i64>, message: String);
    /// Records an authorisation warning in the audit register.
    fn record_warning(&self, authorisation: i64, message: &str);
}

/// The server as a [`Guard`].
struct ServerGuard(Arc<ServerState>);

impl Guard for ServerGuard {
    fn now_ms(&self) -> i64 {
        crate::time::unix_ms()
    }

    fn check_state(&self) -> impl Future<Output = Result<CheckState, String>> + Send + 'static {
        let (store, fleet) = (self.0.store.clone(), self.0.fleet.clone());
        async move {
            tokio::task::spawn_blocking(move || super::gate::check_state(&store, &fleet))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
        }
    }

    fn send(
        &self,
        drone: &str,
        command: DroneCommand,
    ) -> impl Future<Output = CommandResult> + Send + 'static {
        let state = self.0.clone();
        let drone = drone.to_string();
        async move {
            state
                .drones
                .command_as(&Actor::System, &drone, command)
                .await
        }
    }

    fn event(&self, level: &str, authorisation: Option<i64>, message: String) {
        self.0.guardrails.event(GuardEvent {
            at_ms: crate::time::unix_ms(),
            level: level.into(),
            authorisation,
            message,
        });
    }

    fn record_warning(&self, authorisation: i64, message: &str) {
        // On its own task: a full register queue makes it wait, not the
        // supervisor (a recall must never wait behind a warning).
        let register = self.0.register();
        let message = message.to_string();
        tokio::spawn(async move {
            super::gate::record_async(
                &register,
                Actor::System,
                "authorisation.warning",
                &format!("authorisation:{authorisation}"),
                json!({ "message": message }),
            )
            .await;
        });
    }
}

/// How a fence upload ended, for the supervisor.
struct FenceDone {
    /// The authorisation.
    authorisation: i64,
    /// The drone.
    drone: String,
    /// The vehicle's answer.
    result: CommandResult,
}

/// Carries out one supervisor action; a fence upload's outcome is handed
/// back for the supervisor.
async fn act<G: Guard>(guard: Arc<G>, action: Action) -> Option<FenceDone> {
    match action {
        Action::Fence {
            authorisation,
            drone,
            command,
        } => {
            let result = guard.send(&drone, command).await;
            Some(FenceDone {
                authorisation,
                drone,
                result,
            })
        }
        Action::Recall {
            authorisation,
            drone,
        } => {
            let result = guard.send(&drone, DroneCommand::Rtl).await;
            let level = if result.outcome == CommandOutcome::Accepted {
                "warning"
            } else {
                "error"
            };
            guard.event(
                level,
                Some(authorisation),
                format!(
                    "{drone} recalled (RTL) at the end of authorisation {authorisation}: {:?} {}",
                    result.outcome, result.detail
                ),
            );
            None
        }
        Action::Warn {
            authorisation,
            message,
        } => {
            guard.record_warning(authorisation, &message);
            guard.event("warning", Some(authorisation), message);
            None
        }
    }
}

/// Applies a fence upload's outcome: the supervisor retries a failed one.
fn fence_done<G: Guard>(guard: &G, sup: &mut Supervisor, done: FenceDone) {
    let FenceDone {
        authorisation,
        drone,
        result,
    } = done;
    // Only changes of state are told and recorded: the first failure (the
    // drone flies without its perimeter as a geofence) and the success
    // that ends a run of failures; the retries in between are logged at
    // debug level.
    if result.outcome != CommandOutcome::Accepted {
        let failures = sup.fence_failed(guard.now_ms(), authorisation, &drone);
        if failures == 1 {
            let message = format!(
                "{drone} has NO geofence from authorisation {authorisation}: its perimeter could not be uploaded ({:?}: {}); retrying with back-off up to every {} s",
                result.outcome,
                result.detail,
                super::supervisor::FENCE_RETRY_MAX_MS / 1000
            );
            guard.record_warning(authorisation, &message);
            guard.event("warning", Some(authorisation), message);
        } else {
            tracing::debug!(
                drone,
                authorisation,
                failures,
                "fence upload failed again: {:?} {}",
                result.outcome,
                result.detail
            );
        }
    } else {
        let failed_before = sup.fence_accepted(authorisation, &drone);
        let message = if failed_before > 0 {
            format!(
                "perimeter of authorisation {authorisation} uploaded to {drone} as a geofence, after {failed_before} failed tries"
            )
        } else {
            format!("perimeter of authorisation {authorisation} uploaded to {drone} as a geofence")
        };
        if failed_before > 0 {
            guard.record_warning(authorisation, &message);
        }
        guard.event("info", Some(authorisation), message);
    }
}

/// Drives the supervisor until shutdown.
pub async fn supervise(state: Arc<ServerState>, mut stop: Shutdown) -> anyhow::Result<()> {
    drive(
        Arc::new(ServerGuard(state)),
        async move { stop.wait().await },
    )
    .await;
    Ok(())
}

/// Drives the supervisor through `guard` until `stop` resolves.
///
/// Every action runs as its own task, so none waits for another: a recall
/// goes out the moment the supervisor asks for it, whatever fence uploads
/// to silent vehicles are still waiting for their timeouts. Fence outcomes
/// come back to the supervisor as they finish. At most one upload per
/// (authorisation, drone) is in flight: the supervisor only asks again
/// after a failure is reported.
pub async fn drive<G: Guard>(guard: Arc<G>, stop: impl Future<Output = ()>) {
    let mut sup = Supervisor::new();
    if let Ok(check) = guard.check_state().await {
        sup.skip_past(guard.now_ms(), &check.authorisations);
    }
    let mut tick = tokio::time::interval(SUPERVISE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut running: tokio::task::JoinSet<Option<FenceDone>> = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(done) = running.join_next(), if !running.is_empty() => {
                match done {
                    Ok(Some(done)) => fence_done(&*guard, &mut sup, done),
                    Ok(None) => {}
                    Err(e) => tracing::error!("a guardrail action failed: {e}"),
                }
                continue;
            }
            _ = &mut stop => {
                // Recalls already sent finish on their own.
                running.detach_all();
                return;
            }
        }
        let check = match guard.check_state().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot read authorisations: {e}");
                continue;
            }
        };
        let actions = sup.poll(guard.now_ms(), &check.authorisations, &check.drones);
        for action in actions {
            running.spawn(act(guard.clone(), action));
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
                super::gate::record_async(
                    &state.register(),
                    Actor::System,
                    "retention.purge",
                    "store",
                    serde_json::Value::Object(detail),
                )
                .await;
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
    super::gate::flush_refusals(&state.register()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::super::authorisation::tests::{at, square};
    use super::*;

    /// A stand-in server on virtual time: drones `silent` never answer (a
    /// fence upload times out after 9 s, as the link's transfer does); the
    /// others accept at once.
    struct Fake {
        /// Virtual time zero.
        base: tokio::time::Instant,
        /// Unix ms at `base`.
        wall0: i64,
        /// What the check reads.
        check: CheckState,
        /// Drones that never answer.
        silent: Vec<String>,
        /// Commands sent: (drone, command, virtual time since `base`).
        sent: Mutex<Vec<(String, DroneCommand, Duration)>>,
        /// Events: (level, message).
        events: Mutex<Vec<(String, String)>>,
    }

    impl Guard for Fake {
        fn now_ms(&self) -> i64 {
            self.wall0 + self.base.elapsed().as_millis() as i64
        }
        fn check_state(&self) -> impl Future<Output = Result<CheckState, String>> + Send + 'static {
            std::future::ready(Ok(self.check.clone()))
        }
        fn send(
            &self,
            drone: &str,
            command: DroneCommand,
        ) -> impl Future<Output = CommandResult> + Send + 'static {
            self.sent
                .lock()
                .unwrap()
                .push((drone.to_string(), command, self.base.elapsed()));
            let silent = self.silent.iter().any(|d| d == drone);
            async move {
                if silent {
                    tokio::time::sleep(Duration::from_secs(9)).await;
                    CommandResult {
                        outcome: CommandOutcome::TimedOut,
                        detail: "upload stalled after 0 of 4 items".into(),
                        attempts: 1,
                        latency_ms: 9000.0,
                        mission: None,
                    }
                } else {
                    CommandResult {
                        outcome: CommandOutcome::Accepted,
                        detail: String::new(),
                        attempts: 1,
                        latency_ms: 1.0,
                        mission: None,
                    }
                }
            }
        }
        fn event(&self, level: &str, _authorisation: Option<i64>, message: String) {
            self.events
                .lock()
                .unwrap()
                .push((level.to_string(), message));
        }
        fn record_warning(&self, _authorisation: i64, _message: &str) {}
    }

    /// Authorisation 7, in force for an hour, names two silent drones;
    /// authorisation 8 ended a second ago while drone:a:3 flies.
    fn fake() -> Arc<Fake> {
        let wall0 = 10_000_000;
        let mut a = square(7, &["drone:a:1", "drone:a:2"]);
        a.spec.from_ms = wall0 - 60_000;
        a.spec.to_ms = wall0 + 3_600_000;
        let mut b = square(8, &["drone:a:3"]);
        b.spec.from_ms = wall0 - 60_000;
        b.spec.to_ms = wall0 - 1_000;
        let drones: HashMap<String, _> = [
            ("drone:a:1", at(48.92, 2.36, false)),
            ("drone:a:2", at(48.92, 2.36, false)),
            ("drone:a:3", at(48.92, 2.36, true)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Arc::new(Fake {
            base: tokio::time::Instant::now(),
            wall0,
            check: CheckState {
                authorisations: vec![a, b],
                drones,
            },
            silent: vec!["drone:a:1".into(), "drone:a:2".into()],
            sent: Mutex::default(),
            events: Mutex::default(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_recall_is_sent_at_once_while_fence_uploads_to_silent_drones_wait() {
        let guard = fake();
        let task = tokio::spawn(drive(guard.clone(), std::future::pending()));
        tokio::time::sleep(Duration::from_secs(30)).await;
        task.abort();
        let sent = guard.sent.lock().unwrap().clone();
        let rtl = sent
            .iter()
            .find(|(d, c, _)| d == "drone:a:3" && *c == DroneCommand::Rtl)
            .map(|(_, _, at)| *at);
        assert!(
            rtl.is_some_and(|at| at < Duration::from_millis(100)),
            "RTL sent at {rtl:?}; sent: {sent:?}"
        );
        // Both fence uploads started together, not one after the other.
        let fences: Vec<Duration> = sent
            .iter()
            .filter(|(_, c, _)| matches!(c, DroneCommand::Fence { .. }))
            .take(2)
            .map(|(_, _, at)| *at)
            .collect();
        assert_eq!(fences.len(), 2);
        assert!(
            fences.iter().all(|at| *at < Duration::from_millis(100)),
            "{fences:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_offline_drone_is_retried_with_back_off_and_warned_about_once() {
        let guard = fake();
        let task = tokio::spawn(drive(guard.clone(), std::future::pending()));
        tokio::time::sleep(Duration::from_secs(600)).await;
        task.abort();
        let sent = guard.sent.lock().unwrap().clone();
        let fences = sent
            .iter()
            .filter(|(d, c, _)| d == "drone:a:1" && matches!(c, DroneCommand::Fence { .. }))
            .count();
        // Back-off doubling from 2 s to a 2 min cap: about 12 tries in
        // 10 minutes, not 60.
        assert!((5..=15).contains(&fences), "{fences} uploads in 10 min");
        let events = guard.events.lock().unwrap().clone();
        let warnings = events
            .iter()
            .filter(|(l, m)| {
                l == "warning" && m.contains("drone:a:1") && m.contains("could not be uploaded")
            })
            .count();
        assert_eq!(warnings, 1, "{events:#?}");
    }
}
