//! Authorisations over time, as a sans-I/O core: fences when one comes into
//! force, recalls and warnings when one ends.
//!
//! [`Supervisor::poll`] is fed `(now, authorisations, drones)` and returns
//! what to do; the server's thin task (`guardrails::tasks`) sends the
//! commands through the drone hub and records them. Tested on virtual time.

use std::collections::{HashMap, HashSet};

use vigie_protocols::api::DroneCommand;

use super::authorisation::{Authorisation, DroneState};

/// Something the supervisor wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Upload the authorisation's perimeter to the drone as an inclusion
    /// fence.
    Fence {
        /// The authorisation.
        authorisation: i64,
        /// The drone.
        drone: String,
        /// The fence command to send.
        command: DroneCommand,
    },
    /// Send the drone home: its authorisation ended while it flies.
    Recall {
        /// The authorisation that ended.
        authorisation: i64,
        /// The drone.
        drone: String,
    },
    /// Tell the operators.
    Warn {
        /// The authorisation.
        authorisation: i64,
        /// What happened, in words.
        message: String,
    },
}

/// First wait before a failed fence upload is tried again, ms; it doubles
/// with each failure up to [`FENCE_RETRY_MAX_MS`].
pub const FENCE_RETRY_FIRST_MS: i64 = 2_000;
/// Longest wait between tries of a failing fence upload, ms.
pub const FENCE_RETRY_MAX_MS: i64 = 120_000;

/// A fence upload that keeps failing (the drone is offline or refuses).
#[derive(Debug, Clone, Copy)]
struct Failing {
    /// Failed tries so far.
    failures: u32,
    /// Not tried again before this, Unix ms.
    next_try_ms: i64,
}

/// Tracks which fences were sent and which ends were handled.
#[derive(Debug, Default)]
pub struct Supervisor {
    /// (authorisation, drone) pairs whose fence was sent (and not reported
    /// failed).
    fenced: HashSet<(i64, String)>,
    /// (authorisation, drone) pairs whose fence upload failed, with their
    /// back-off.
    failing: HashMap<(i64, String), Failing>,
    /// Authorisations whose end was handled.
    ended: HashSet<i64>,
    /// Authorisations whose coming end was announced (warned ahead).
    warned_ahead: HashSet<i64>,
}

/// How long before an authorisation ends operators are warned, ms.
pub const WARN_AHEAD_MS: i64 = 5 * 60 * 1000;

impl Supervisor {
    /// A supervisor that has done nothing yet.
    pub fn new() -> Supervisor {
        Supervisor::default()
    }

    /// What to do at `now_ms`. Each fence, recall and warning is returned
    /// once; a fence reported failed with [`Supervisor::fence_failed`] is
    /// returned again on the next poll.
    pub fn poll(
        &mut self,
        now_ms: i64,
        authorisations: &[Authorisation],
        drones: &HashMap<String, DroneState>,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        for auth in authorisations {
            if auth.active(now_ms) {
                for drone in &auth.spec.drones {
                    if !drones.contains_key(drone) {
                        continue; // not heard yet: fenced once it appears
                    }
                    let key = (auth.id, drone.clone());
                    if self
                        .failing
                        .get(&key)
                        .is_some_and(|f| now_ms < f.next_try_ms)
                    {
                        continue; // backing off
                    }
                    if self.fenced.insert(key) {
                        out.push(Action::Fence {
                            authorisation: auth.id,
                            drone: drone.clone(),
                            command: auth.fence(),
                        });
                    }
                }
                if auth.end_ms() - now_ms <= WARN_AHEAD_MS && self.warned_ahead.insert(auth.id) {
                    out.push(Action::Warn {
                        authorisation: auth.id,
                        message: format!(
                            "authorisation {} ({}) ends at {}: its drones will be sent home then",
                            auth.id,
                            auth.spec.order_ref,
                            crate::time::rfc3339(auth.end_ms())
                        ),
                    });
                }
            } else if now_ms >= auth.end_ms() && self.ended.insert(auth.id) {
                let mut recalled = Vec::new();
                for drone in &auth.spec.drones {
                    let flying = drones.get(drone).is_some_and(|d| d.armed);
                    // Covered by another authorisation in force: it stays.
                    let still_covered = authorisations
                        .iter()
                        .any(|o| o.id != auth.id && o.active(now_ms) && o.covers(drone));
                    if flying && !still_covered {
                        recalled.push(drone.clone());
                        out.push(Action::Recall {
                            authorisation: auth.id,
                            drone: drone.clone(),
                        });
                    }
                }
                let what = if auth.ended_ms.is_some_and(|e| e < auth.spec.to_ms) {
                    "was ended"
                } else {
                    "expired"
                };
                let message = if recalled.is_empty() {
                    format!(
                        "authorisation {} ({}) {what}: no drone of it was flying",
                        auth.id, auth.spec.order_ref
                    )
                } else {
                    format!(
                        "authorisation {} ({}) {what}: {} sent home (RTL)",
                        auth.id,
                        auth.spec.order_ref,
                        recalled.join(", ")
                    )
                };
                out.push(Action::Warn {
                    authorisation: auth.id,
                    message,
                });
                self.fenced.retain(|(a, _)| *a != auth.id);
                self.failing.retain(|(a, _), _| *a != auth.id);
            }
        }
        out
    }

    /// The fence upload of `drone` under `authorisation` failed at
    /// `now_ms`: it is tried again after a back-off doubling from
    /// [`FENCE_RETRY_FIRST_MS`] to [`FENCE_RETRY_MAX_MS`]. Returns the
    /// failures so far (1 the first time: the state change to report).
    pub fn fence_failed(&mut self, now_ms: i64, authorisation: i64, drone: &str) -> u32 {
        let key = (authorisation, drone.to_string());
        self.fenced.remove(&key);
        let f = self.failing.entry(key).or_insert(Failing {
            failures: 0,
            next_try_ms: now_ms,
        });
        f.failures = f.failures.saturating_add(1);
        let wait = FENCE_RETRY_FIRST_MS
            .saturating_mul(1 << (f.failures - 1).min(20))
            .min(FENCE_RETRY_MAX_MS);
        f.next_try_ms = now_ms + wait;
        f.failures
    }

    /// The fence upload of `drone` under `authorisation` was accepted.
    /// Returns how many tries had failed before (0: nothing to report).
    pub fn fence_accepted(&mut self, authorisation: i64, drone: &str) -> u32 {
        self.failing
            .remove(&(authorisation, drone.to_string()))
            .map_or(0, |f| f.failures)
    }

    /// Marks authorisations already over at start-up as handled, so a
    /// restart does not recall drones for an order that ended days ago.
    pub fn skip_past(&mut self, now_ms: i64, authorisations: &[Authorisation]) {
        for a in authorisations {
            if now_ms >= a.end_ms() + WARN_AHEAD_MS {
                self.ended.insert(a.id);
            }
        }
    }

    /// When something next changes by time alone (a window opening, a
    /// warning or an end), for the driver's sleep.
    pub fn next_wake(&self, now_ms: i64, authorisations: &[Authorisation]) -> Option<i64> {
        authorisations
            .iter()
            .flat_map(|a| [a.spec.from_ms, a.end_ms() - WARN_AHEAD_MS, a.end_ms()])
            .filter(|t| *t > now_ms)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::super::authorisation::tests::{at, square};
    use super::*;

    fn drones(list: &[(&str, DroneState)]) -> HashMap<String, DroneState> {
        list.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn a_window_opening_fences_its_drones_once() {
        let mut sup = Supervisor::new();
        let auths = vec![square(7, &["drone:a:1", "drone:a:2"])];
        let d = drones(&[("drone:a:1", at(48.92, 2.36, false))]);
        assert!(sup.poll(500, &auths, &d).is_empty(), "not in force yet");
        assert_eq!(sup.next_wake(500, &auths), Some(1000));
        let acts = sup.poll(1000, &auths, &d);
        assert_eq!(acts.len(), 1 + 1, "{acts:?}"); // fence + ends-soon warning
        assert!(
            matches!(&acts[0], Action::Fence { drone, command: DroneCommand::Fence { .. }, .. } if drone == "drone:a:1")
        );
        assert!(sup.poll(1100, &auths, &d).is_empty(), "fenced once");
        // Drone 2 appears: fenced then. A failed fence is retried.
        let d2 = drones(&[
            ("drone:a:1", at(48.92, 2.36, false)),
            ("drone:a:2", at(48.92, 2.36, false)),
        ]);
        let acts = sup.poll(1200, &auths, &d2);
        assert!(matches!(&acts[..], [Action::Fence { drone, .. }] if drone == "drone:a:2"));
        assert_eq!(sup.fence_failed(1200, 7, "drone:a:2"), 1);
        assert!(sup.poll(1300, &auths, &d2).is_empty(), "backing off");
        assert_eq!(sup.poll(1200 + FENCE_RETRY_FIRST_MS, &auths, &d2).len(), 1);
    }

    #[test]
    fn a_failing_fence_is_retried_with_a_doubling_capped_back_off() {
        let mut sup = Supervisor::new();
        let mut a = square(7, &["drone:a:1"]);
        a.spec.to_ms = 100_000_000;
        let auths = vec![a];
        let d = drones(&[("drone:a:1", at(48.92, 2.36, false))]);
        let mut tries = Vec::new();
        let mut failures = Vec::new();
        // Poll every second for an hour; every upload fails at once.
        for now in (1000..3_601_000).step_by(1000) {
            for act in sup.poll(now, &auths, &d) {
                if let Action::Fence { drone, .. } = act {
                    tries.push(now);
                    failures.push(sup.fence_failed(now, 7, &drone));
                }
            }
        }
        let gaps: Vec<i64> = tries.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(&gaps[..6], &[2000, 4000, 8000, 16_000, 32_000, 64_000]);
        assert!(
            gaps[6..].iter().all(|g| *g == FENCE_RETRY_MAX_MS),
            "{gaps:?}"
        );
        assert!(tries.len() < 40, "{} tries in an hour", tries.len());
        assert_eq!(failures.iter().filter(|f| **f == 1).count(), 1);
        // Accepted at last: the failures are reported once, then forgotten.
        assert_eq!(sup.fence_accepted(7, "drone:a:1"), failures.len() as u32);
        assert_eq!(sup.fence_accepted(7, "drone:a:1"), 0);
    }

    #[test]
    fn an_expired_authorisation_recalls_its_flying_drones_and_warns() {
        let mut sup = Supervisor::new();
        let auths = vec![square(7, &["drone:a:1", "drone:a:2"])];
        let d = drones(&[
            ("drone:a:1", at(48.92, 2.36, true)),
            ("drone:a:2", at(48.92, 2.36, false)),
        ]);
        sup.poll(1500, &auths, &d);
        assert!(sup.poll(1999, &auths, &d).is_empty());
        let acts = sup.poll(2000, &auths, &d);
        assert_eq!(
            acts[0],
            Action::Recall {
                authorisation: 7,
                drone: "drone:a:1".into()
            }
        );
        assert!(
            matches!(&acts[1], Action::Warn { message, .. } if message.contains("expired") && message.contains("drone:a:1 sent home"))
        );
        assert_eq!(acts.len(), 2, "the landed drone is left alone: {acts:?}");
        assert!(sup.poll(3000, &auths, &d).is_empty(), "recalled once");
    }

    #[test]
    fn ending_early_recalls_but_another_authorisation_keeps_a_drone() {
        let mut sup = Supervisor::new();
        let mut a = square(7, &["drone:a:1", "drone:a:2"]);
        a.ended_ms = Some(1400);
        let mut b = square(8, &["drone:a:2"]);
        b.spec.to_ms = 10_000;
        let d = drones(&[
            ("drone:a:1", at(48.92, 2.36, true)),
            ("drone:a:2", at(48.92, 2.36, true)),
        ]);
        let acts = sup.poll(1400, &[a, b], &d);
        let recalls: Vec<&Action> = acts
            .iter()
            .filter(|a| matches!(a, Action::Recall { .. }))
            .collect();
        assert_eq!(recalls.len(), 1);
        assert!(matches!(recalls[0], Action::Recall { drone, .. } if drone == "drone:a:1"));
        assert!(
            acts.iter().any(
                |a| matches!(a, Action::Warn { message, .. } if message.contains("was ended"))
            )
        );
    }

    #[test]
    fn a_restart_does_not_replay_old_ends() {
        let mut sup = Supervisor::new();
        let auths = vec![square(7, &["drone:a:1"])];
        let d = drones(&[("drone:a:1", at(48.92, 2.36, true))]);
        sup.skip_past(10_000_000, &auths);
        assert!(sup.poll(10_000_000, &auths, &d).is_empty());
    }
}
