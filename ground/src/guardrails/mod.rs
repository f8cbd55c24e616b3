//! Guardrails by design: what Vigie refuses to do, and the proof of what it
//! did.
//!
//! - [`audit`]: the append-only, hash-chained audit register (who did what,
//!   when, why) and its verification.
//! - [`audit_seal`]: Ed25519 checkpoints and the signed head that make the
//!   register tamper-evident against someone with file access.
//! - [`audit_writer`]: the register's writer thread (group commit, receipts
//!   for callers that must wait, back-pressure when full).
//! - [`authorisation`]: prefectoral flight authorisations (legal purpose,
//!   perimeter, window, camera cap) and the sans-I/O check every drone
//!   command passes.
//! - [`supervisor`]: authorisations over time (sans-I/O): perimeter fences
//!   when one comes into force, recalls and warnings when one ends.
//! - [`retention`]: retention limits, legal holds, the recordings index and
//!   the deletion register.
//! - [`recordings`]: the recordings index (segments by source, time and
//!   footprint), searched with a reason and clipped by privacy masks.
//! - [`notice`]: the public information notice, Markdown and HTML.
//! - [`refusals`]: refused requests and connections counted per source and
//!   minute for the register, and summarised for the log (sans-I/O).
//! - [`gate`]: the hooks other modules call (drone commands, footage
//!   queries, refused requests) so that checks and records live here.
//! - [`http`]: `/api/v1/audit`, `/api/v1/authorisations`,
//!   `/api/v1/guardrails/events`.
//! - [`tasks`]: the thin tokio tasks driving the supervisor and the purge.
//!
//! What Vigie never does (no audio, no face, biometric or behaviour
//! recognition) is a property of what is *not* in the code; README.md says
//! it and why.

pub mod audit;
pub mod audit_seal;
pub mod audit_writer;
pub mod authorisation;
pub mod gate;
pub mod http;
pub mod notice;
pub mod recordings;
pub mod refusals;
pub mod retention;
pub mod supervisor;
pub mod tasks;

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Events kept for `GET /api/v1/guardrails/events`; older ones are dropped
/// (they stay in the audit register).
pub const MAX_EVENTS: usize = 256;

/// Something operators must see (an authorisation ending, a recall, a
/// fence that could not be uploaded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardEvent {
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// Severity: `info` or `warning`.
    pub level: String,
    /// The authorisation concerned, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorisation: Option<i64>,
    /// What happened, in words.
    pub message: String,
}

/// Refused requests and connections not yet in the register or the log.
#[derive(Debug, Default)]
struct Refused {
    /// Counted per source and minute for the register.
    tally: refusals::Tally,
    /// Summarised for the log.
    log: refusals::LogThrottle,
}

/// Guardrail state shared by the server's handlers and tasks.
#[derive(Debug, Default)]
pub struct Guardrails {
    /// Retention limits in force.
    pub retention: retention::Limits,
    /// Recent events, oldest first, at most [`MAX_EVENTS`].
    events: Mutex<VecDeque<GuardEvent>>,
    /// Refused requests and connections, counted (see [`refusals`]).
    refused: Mutex<Refused>,
    /// Operator tokens already seen in this run: their first use is
    /// recorded as a login, later ones are not (bounded by the tokens
    /// issued).
    logged_in: Mutex<std::collections::HashSet<i64>>,
}

impl Guardrails {
    /// Guardrails with these retention limits.
    pub fn new(retention: retention::Limits) -> Guardrails {
        Guardrails {
            retention,
            ..Guardrails::default()
        }
    }

    /// True the first time a token is used in this run (a login).
    pub fn first_use(&self, token_id: i64) -> bool {
        self.logged_in
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token_id)
    }

    /// Counts a refused request (`kind` `http`) or connection (`quic`)
    /// for the register and the log; returns the log line due now, if any.
    pub fn refusal(&self, kind: &'static str, r: refusals::Refusal) -> Option<String> {
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        let line = refused.log.note(r.at_ms, kind, &r.source, &r.reason);
        refused.tally.add(r);
        line
    }

    /// The register rows of minutes ended by `now_ms` and the log lines
    /// due: what the periodic task writes.
    pub fn refusals_due(&self, now_ms: i64) -> (Vec<audit::Entry>, Vec<String>) {
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        (refused.tally.take_ended(now_ms), refused.log.tick(now_ms))
    }

    /// Every pending register row, the current minute's too (at shutdown,
    /// and before the register is read, so it holds every refusal so far).
    pub fn refusals_now(&self) -> Vec<audit::Entry> {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tally
            .take_all()
    }

    /// Every log line still owed (at shutdown).
    pub fn refusal_lines_now(&self, now_ms: i64) -> Vec<String> {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .log
            .take_all(now_ms)
    }

    /// Adds an event (and logs it); the oldest goes when full.
    pub fn event(&self, event: GuardEvent) {
        if event.level == "warning" {
            tracing::warn!(authorisation = ?event.authorisation, "{}", event.message);
        } else {
            tracing::info!(authorisation = ?event.authorisation, "{}", event.message);
        }
        let mut q = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() >= MAX_EVENTS {
            q.pop_front();
        }
        q.push_back(event);
    }

    /// Events since `after_ms` (exclusive), oldest first.
    pub fn events_since(&self, after_ms: i64) -> Vec<GuardEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|e| e.at_ms > after_ms)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_refusals_grows_the_register_by_one_row_per_source_and_minute() {
        let g = Guardrails::default();
        let store = crate::store::Store::in_memory().unwrap();
        let register = audit::Audit::open(&store).unwrap();
        let (n, sources, span_ms) = (20_000u64, 5u64, 120_000i64);
        let start = 1_800_000_000_000i64; // a minute boundary
        let mut lines = 0;
        for i in 0..n {
            let at_ms = start + (i as i64 * span_ms) / n as i64;
            let ip = format!("10.0.0.{}", i % sources);
            let r = refusals::Refusal {
                at_ms,
                action: "http.refused",
                actor: audit::Actor::Anonymous,
                source: format!("remote:{ip}"),
                class: vec![("remote", ip)],
                request: "GET /api/v1/units".into(),
                reason: "unknown or revoked token".into(),
            };
            lines += usize::from(g.refusal("http", r).is_some());
            // The periodic task.
            if i % 500 == 0 {
                let (rows, due) = g.refusals_due(at_ms);
                lines += due.len();
                for e in rows {
                    register.enqueue(e).unwrap();
                }
            }
        }
        // Shutdown.
        for e in g.refusals_now() {
            register.enqueue(e).unwrap();
        }
        lines += g.refusal_lines_now(start + span_ms).len();
        let rows = register.range(i64::MIN, i64::MAX).unwrap();
        assert_eq!(
            rows.len() as u64,
            sources * 2,
            "one row per source and minute"
        );
        let total: u64 = rows
            .iter()
            .map(|r| {
                serde_json::from_str::<serde_json::Value>(&r.detail).unwrap()["count"]
                    .as_u64()
                    .unwrap()
            })
            .sum();
        assert_eq!(total, n, "every refusal is counted");
        assert!(
            lines as i64 <= span_ms / refusals::LOG_EVERY_MS + 2,
            "{lines} log lines"
        );
    }

    #[test]
    fn events_are_bounded_oldest_dropped() {
        let g = Guardrails::default();
        for i in 0..(MAX_EVENTS as i64 + 10) {
            g.event(GuardEvent {
                at_ms: i,
                level: "info".into(),
                authorisation: None,
                message: format!("{i}"),
            });
        }
        let all = g.events_since(-1);
        assert_eq!(all.len(), MAX_EVENTS);
        assert_eq!(all[0].at_ms, 10);
        assert_eq!(g.events_since(MAX_EVENTS as i64 + 8).len(), 1);
    }
}
