//! Property tests of the pair harnesses: over many seeds and path
//! conditions, the ground cores keep the promises of their protocols.
//!
//! - MAVLink (ground `LinkCore` against the simulated vehicle, paths that
//!   lose, duplicate and reorder): every command ends with exactly one
//!   result, and an accepted one was carried out; a mission upload is
//!   accepted only when the vehicle holds exactly that mission, and a
//!   vehicle never holds a mix of two.
//! - Tablet protocol (ground `Session` and order queue against the tablet
//!   core, connections that die at random, slow storage): every order is
//!   applied once by the tablet and acknowledged in the queue, every
//!   withdrawal is acknowledged, and nothing is left unreceipted.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use vigie_ground::order::OrderState;
use vigie_ground::patrol::session::ResendPolicy;
use vigie_protocols::api::{CommandOutcome, DroneCommand, MissionItem};
use vigie_sim::pair::Stepper;
use vigie_sim::pair::drone::DronePair;
use vigie_sim::pair::net::Conditions;
use vigie_sim::pair::patrol::{PatrolPair, Weather};

fn path(loss: f64, duplicate: f64, jitter_ms: u64) -> Conditions {
    Conditions {
        latency: Duration::from_millis(15),
        jitter: Duration::from_millis(jitter_ms),
        loss,
        duplicate,
    }
}

/// A pair whose ground has heard the vehicle's autopilot (its HEARTBEAT:
/// before it, missions are refused, see `drone::link` tests).
fn heard(seed: u64, c: Conditions) -> DronePair {
    let mut pair = DronePair::new(seed, c, c);
    assert!(
        pair.run_until(Duration::from_secs(60), |p| p
            .key()
            .and_then(|k| p.ground().vehicle(k))
            .is_some_and(|v| v.autopilot_seen)),
        "the ground hears the vehicle's autopilot within a minute"
    );
    pair
}

fn waypoints(n: usize, seed: u64) -> Vec<MissionItem> {
    (0..n)
        .map(|i| MissionItem::Waypoint {
            lat_deg: 48.8566 + (i as f64) * 1e-4 + (seed % 97) as f64 * 1e-6,
            lon_deg: 2.3522 + (i as f64 % 7.0) * 1e-4,
            alt_m: 30.0 + (i % 5) as f64,
            hold_s: 0.0,
        })
        .collect()
}

fn same_mission(a: &[MissionItem], b: &[MissionItem]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (
                MissionItem::Waypoint {
                    lat_deg: la,
                    lon_deg: oa,
                    alt_m: aa,
                    ..
                },
                MissionItem::Waypoint {
                    lat_deg: lb,
                    lon_deg: ob,
                    alt_m: ab,
                    ..
                },
            ) => (la - lb).abs() < 2e-7 && (oa - ob).abs() < 2e-7 && (aa - ab).abs() < 1e-3,
            _ => x == y,
        })
}

#[test]
fn on_a_perfect_path_every_command_is_accepted_and_a_mission_goes_through() {
    let mut pair = heard(1, Conditions::PERFECT);
    for cmd in [
        DroneCommand::SetMode {
            mode: "GUIDED".into(),
        },
        DroneCommand::Arm,
        DroneCommand::Takeoff { alt_m: 20.0 },
    ] {
        let op = pair.command(&cmd).expect("sent");
        let r = pair.finish(op, Duration::from_secs(30)).expect("a result");
        assert_eq!(r.outcome, CommandOutcome::Accepted, "{cmd:?}: {r:?}");
        assert_eq!(r.attempts, 1, "nothing lost, nothing resent");
    }
    assert!(pair.vehicle().autopilot().armed());
    let items = waypoints(12, 1);
    let op = pair
        .command(&DroneCommand::Mission {
            items: items.clone(),
        })
        .expect("sent");
    let r = pair.finish(op, Duration::from_secs(60)).expect("a result");
    assert_eq!(r.outcome, CommandOutcome::Accepted, "{r:?}");
    let op = pair.command(&DroneCommand::DownloadMission).expect("sent");
    let r = pair.finish(op, Duration::from_secs(60)).expect("a result");
    assert_eq!(r.outcome, CommandOutcome::Accepted, "{r:?}");
    assert!(
        same_mission(r.mission.as_deref().unwrap_or(&[]), &items),
        "{r:?}"
    );
}

proptest! {
    #![proptest_config(Config { cases: 128, rng_seed: RngSeed::Fixed(0x9a1e), failure_persistence: None, ..Config::default() })]

    #[test]
    fn every_command_ends_once_and_an_accepted_one_was_carried_out(
        seed in any::<u64>(),
        loss in 0.0..0.35f64,
        duplicate in 0.0..0.25f64,
        jitter_ms in 0..300u64,
    ) {
        let mut pair = heard(seed, path(loss, duplicate, jitter_ms));
        let mut ops = Vec::new();
        for cmd in [
            DroneCommand::SetMode { mode: "GUIDED".into() },
            DroneCommand::Arm,
            DroneCommand::Takeoff { alt_m: 25.0 },
            DroneCommand::Gimbal { pitch_deg: -60.0, yaw_deg: 0.0 },
            DroneCommand::Rtl,
        ] {
            let Ok(op) = pair.command(&cmd) else { continue };
            let r = pair.finish(op, Duration::from_secs(120));
            prop_assert!(r.is_some(), "{cmd:?} ended within two minutes");
            let r = r.unwrap_or_else(|| unreachable!());
            if r.outcome == CommandOutcome::Accepted {
                let ap = pair.vehicle().autopilot();
                match &cmd {
                    DroneCommand::Arm => prop_assert!(ap.armed() || ap.mode().name() == "RTL"),
                    DroneCommand::SetMode { mode } => prop_assert!(ap.mode().name() == mode || !ap.armed()),
                    DroneCommand::Rtl => prop_assert_eq!(ap.mode().name(), "RTL"),
                    _ => {}
                }
            }
            ops.push((cmd, op));
        }
        // Late copies and retries change nothing: still one result each.
        pair.run_for(Duration::from_secs(30));
        for (cmd, op) in ops {
            prop_assert_eq!(pair.results(op).len(), 1, "{:?}: {:?}", cmd, pair.results(op));
        }
    }

    #[test]
    fn a_mission_is_accepted_only_when_the_vehicle_holds_exactly_it(
        seed in any::<u64>(),
        n in 1usize..40,
        loss in 0.0..0.3f64,
        duplicate in 0.0..0.25f64,
        jitter_ms in 0..300u64,
    ) {
        // The vehicle's count for this mission, learnt on a perfect path.
        let items = waypoints(n, seed);
        let expected_len = {
            let mut p = heard(seed, Conditions::PERFECT);
            let op = p.command(&DroneCommand::Mission { items: items.clone() }).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            p.finish(op, Duration::from_secs(60));
            p.vehicle().autopilot().mission_len()
        };
        let mut pair = heard(seed, path(loss, duplicate, jitter_ms));
        let before = pair.vehicle().autopilot().mission_len();
        let op = pair.command(&DroneCommand::Mission { items: items.clone() }).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let r = pair.finish(op, Duration::from_secs(300));
        prop_assert!(r.is_some(), "the upload ended");
        let r = r.unwrap_or_else(|| unreachable!());
        let held = pair.vehicle().autopilot().mission_len();
        if r.outcome == CommandOutcome::Accepted {
            prop_assert_eq!(held, expected_len, "accepted, so the vehicle holds all {} items", n);
        } else {
            // A failed upload leaves the old mission, or (the final ack lost)
            // the whole new one: never part of it.
            prop_assert!(held == before || held == expected_len, "held {held} after {r:?}");
        }
        if held == expected_len {
            // What the vehicle holds is what was sent, item by item.
            pair.set_conditions(Conditions::PERFECT, Conditions::PERFECT);
            pair.run_for(Duration::from_secs(5));
            let op = pair.command(&DroneCommand::DownloadMission).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            let d = pair.finish(op, Duration::from_secs(60));
            let d = d.unwrap_or_else(|| unreachable!());
            prop_assert_eq!(d.outcome, CommandOutcome::Accepted, "{:?}", d);
            prop_assert!(same_mission(d.mission.as_deref().unwrap_or(&[]), &items), "{:?}", d);
        }
        pair.run_for(Duration::from_secs(30));
        prop_assert_eq!(pair.results(op).len(), 1);
    }
}

const RESEND: ResendPolicy = ResendPolicy {
    after: Duration::from_secs(2),
    max: 5,
};

#[test]
fn on_a_calm_link_every_order_is_applied_once_and_acknowledged() {
    let mut pair = PatrolPair::new(1, Weather::CALM, RESEND).expect("pair");
    assert!(pair.run_until(Duration::from_secs(10), PatrolPair::is_up));
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(pair.issue(n).expect("stored").order_id);
        pair.run_for(Duration::from_millis(300));
    }
    pair.run_for(Duration::from_secs(5));
    for id in &ids {
        assert_eq!(pair.applied().get(id), Some(&1), "{id}");
        let rec = pair.orders().get(id).expect("read").expect("stored");
        assert_eq!(rec.state, OrderState::Accepted, "{rec:?}");
    }
    assert_eq!(pair.tablet().outbox_len(), 0, "every ack receipted");
    assert_eq!(pair.connections(), 1);
}

proptest! {
    #![proptest_config(Config { cases: 128, rng_seed: RngSeed::Fixed(0x7ab1e7), failure_persistence: None, ..Config::default() })]

    #[test]
    fn every_order_is_applied_once_and_acknowledged_across_dropped_connections(
        seed in any::<u64>(),
        orders in 1u32..16,
        drops_per_s in 0.0..0.3f64,
        latency_ms in 1..300u64,
        store_ms in 0..400u64,
        withdraw_every in 2u32..6,
    ) {
        let weather = Weather {
            latency: Duration::from_millis(latency_ms),
            drops_per_s,
            reconnect_after: Duration::from_millis(700),
            store_delay: Duration::from_millis(store_ms),
        };
        let mut pair = PatrolPair::new(seed, weather, RESEND).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut issued = Vec::new();
        let mut withdrawn = Vec::new();
        for n in 0..orders {
            // Orders come at any moment: connected, opening or away.
            let gap = Duration::from_millis(50 + (seed.rotate_left(n) % 1500));
            pair.run_for(gap);
            let rec = pair.issue(n).map_err(|e| TestCaseError::fail(e.to_string()))?;
            issued.push(rec.order_id.clone());
            if n % withdraw_every == 1 {
                pair.run_for(Duration::from_millis(seed.rotate_right(n) % 900));
                if pair.withdraw(&rec.order_id).map_err(|e| TestCaseError::fail(e.to_string()))?.is_some() {
                    withdrawn.push(rec.order_id);
                }
            }
        }
        // Then the weather clears: everything must settle.
        pair.set_weather(Weather::CALM);
        pair.run_for(Duration::from_secs(60));
        prop_assert!(pair.is_up());
        for id in &issued {
            let applied = pair.applied().get(id).copied().unwrap_or(0);
            prop_assert!(applied <= 1, "{id} applied {applied} times");
            let rec = pair.orders().get(id).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let rec = rec.unwrap_or_else(|| unreachable!());
            if withdrawn.contains(id) {
                prop_assert_eq!(rec.state, OrderState::Withdrawn);
                prop_assert!(rec.withdraw_acked_ms.is_some(), "withdrawal of {} acknowledged: {:?}", id, rec);
            } else {
                prop_assert_eq!(applied, 1, "{} applied once", id);
                prop_assert_eq!(rec.state, OrderState::Accepted, "{:?}", rec);
            }
        }
        prop_assert_eq!(pair.tablet().outbox_len(), 0, "every ack receipted");
    }
}
