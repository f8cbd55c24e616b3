//! The dispatch core on virtual time, its store, and the edge over an
//! on-disk database reopened as after a `kill -9`.

use std::collections::HashMap;

use super::engine::*;
use super::incident::*;
use super::persist::DispatchStore;
use super::*;
use crate::store::Store;

const T0: i64 = 1_800_000_000_000;

fn rules(auto: Option<Priority>) -> Rules {
    Rules {
        auto_assign_min_priority: auto,
        auto_assign_units: 1,
        resend_after_ms: 10_000,
        escalate_after_ms: 30_000,
    }
}

fn report(priority: Priority) -> Report {
    Report {
        category: Category::Medical,
        priority,
        location: GeoPoint {
            lat_deg: 48.924,
            lon_deg: 2.36,
        },
        source: Source::Operator,
        reporter: "claire".into(),
        text: "gate D".into(),
        observed_ms: T0,
    }
}

fn cands(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Plays the edge: stores every asked order under a made-up id.
fn store_orders(e: &mut Engine, now: i64, actions: Vec<Action>) -> Vec<Action> {
    let mut out = Vec::new();
    let mut queue: std::collections::VecDeque<Action> = actions.into();
    while let Some(a) = queue.pop_front() {
        if let Action::IssueOrder {
            incident_id, unit, ..
        } = &a
        {
            let ev = Event::OrderStored {
                incident_id: *incident_id,
                unit: unit.clone(),
                order_id: format!("{unit}-{incident_id}"),
                issued_ms: now,
            };
            queue.extend(e.handle(now, ev).unwrap());
        }
        out.push(a);
    }
    out
}

fn issued(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::IssueOrder { unit, .. } => Some(unit.clone()),
            _ => None,
        })
        .collect()
}

fn escalations(actions: &[Action]) -> Vec<Escalation> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SaveEscalation(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn auto_assigned_incident_goes_dispatched_on_scene_closed_with_saves_before_announces() {
    let mut e = Engine::new(rules(Some(Priority::High)));
    let inc = Incident::new(1, report(Priority::Critical), T0);
    let a = e
        .handle(
            T0,
            Event::Reported {
                incident: inc,
                candidates: cands(&["P1", "P2"]),
            },
        )
        .unwrap();
    let a = store_orders(&mut e, T0, a);
    assert_eq!(issued(&a), ["P1"]);
    assert_eq!(e.incident(1).unwrap().status, Status::Dispatched);
    // Every SaveIncident precedes the announcement of the same state.
    let save = a
        .iter()
        .position(|x| matches!(x, Action::SaveIncident(i) if i.status == Status::Dispatched))
        .unwrap();
    let announce = a
        .iter()
        .position(|x| matches!(x, Action::Announce(Notice::Incident { incident }) if incident.status == Status::Dispatched))
        .unwrap();
    assert!(save < announce);

    let step = |e: &mut Engine, t: i64, s: OrderState| {
        e.handle(
            t,
            Event::OrderProgress {
                order_id: "P1-1".into(),
                state: s,
                candidates: vec![],
            },
        )
        .unwrap()
    };
    step(&mut e, T0 + 400, OrderState::Received);
    assert_eq!(e.order("P1-1").unwrap().first_ack_ms, Some(T0 + 400));
    step(&mut e, T0 + 900, OrderState::Accepted);
    let a = step(&mut e, T0 + 120_000, OrderState::Arrived);
    assert!(
        a.iter()
            .any(|x| matches!(x, Action::SaveIncident(i) if i.status == Status::OnScene))
    );
    assert_eq!(e.incident(1).unwrap().on_scene_ms, Some(T0 + 120_000));
    step(&mut e, T0 + 300_000, OrderState::Closed);
    let inc = e.incident(1).unwrap();
    assert_eq!(inc.status, Status::Closed);
    let trail: Vec<_> = inc
        .transitions
        .iter()
        .map(|t| (t.status, t.at_ms - T0, t.by.as_str()))
        .collect();
    assert_eq!(
        trail,
        [
            (Status::New, 0, "dispatch"),
            (Status::Dispatched, 0, "dispatch"),
            (Status::OnScene, 120_000, "unit:P1"),
            (Status::Closed, 300_000, "unit:P1")
        ]
    );
    assert_eq!(e.poll_timeout(), None, "nothing left to wait for");
}

#[test]
fn below_the_auto_priority_a_dispatcher_assigns() {
    let mut e = Engine::new(rules(Some(Priority::High)));
    let a = e
        .handle(
            T0,
            Event::Reported {
                incident: Incident::new(1, report(Priority::Normal), T0),
                candidates: cands(&["P1"]),
            },
        )
        .unwrap();
    assert!(issued(&a).is_empty());
    assert_eq!(e.incident(1).unwrap().status, Status::New);
    let err = e
        .handle(
            T0,
            Event::Assign {
                incident_id: 9,
                units: cands(&["P1"]),
                by: "operator:c".into(),
            },
        )
        .unwrap_err();
    assert_eq!(err, EngineError::UnknownIncident(9));
    let a = e
        .handle(
            T0 + 5,
            Event::Assign {
                incident_id: 1,
                units: cands(&["P1", "P2"]),
                by: "operator:c".into(),
            },
        )
        .unwrap();
    let a = store_orders(&mut e, T0 + 5, a);
    assert_eq!(issued(&a), ["P1", "P2"]);
    assert_eq!(e.orders_of(1).count(), 2);
}

#[test]
fn unacknowledged_order_is_resent_then_escalated_once() {
    let mut e = Engine::new(rules(Some(Priority::Low)));
    let a = e
        .handle(
            T0,
            Event::Reported {
                incident: Incident::new(1, report(Priority::High), T0),
                candidates: cands(&["P1"]),
            },
        )
        .unwrap();
    store_orders(&mut e, T0, a);
    assert_eq!(e.poll_timeout(), Some(T0 + 10_000));
    assert!(e.handle_timeout(T0 + 9_999).is_empty());
    let mut resends = 0;
    let mut escalated = Vec::new();
    let mut now = T0;
    // Follow the core's own wake-ups, as the edge does.
    while let Some(t) = e.poll_timeout() {
        if t > T0 + 65_000 {
            break;
        }
        now = t;
        let a = e.handle_timeout(now);
        resends += a
            .iter()
            .filter(|x| matches!(x, Action::Resend { .. }))
            .count();
        escalated.extend(escalations(&a).into_iter().map(|x| (x.at_ms - T0, x.unit)));
    }
    assert_eq!(resends, 6, "at 10, 20, ..., 60 s");
    assert_eq!(escalated, [(30_000, Some("P1".to_string()))]);
    assert!(now <= T0 + 60_000);
    // An ack stops everything.
    e.handle(
        now,
        Event::OrderProgress {
            order_id: "P1-1".into(),
            state: OrderState::Received,
            candidates: vec![],
        },
    )
    .unwrap();
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn refusal_moves_to_the_next_untried_candidate_then_escalates() {
    let mut e = Engine::new(rules(Some(Priority::Low)));
    let a = e
        .handle(
            T0,
            Event::Reported {
                incident: Incident::new(1, report(Priority::High), T0),
                candidates: cands(&["P1", "P2"]),
            },
        )
        .unwrap();
    store_orders(&mut e, T0, a);
    let refuse = |e: &mut Engine, id: &str, c: &[&str]| {
        let a = e
            .handle(
                T0 + 1000,
                Event::OrderProgress {
                    order_id: id.into(),
                    state: OrderState::Refused,
                    candidates: cands(c),
                },
            )
            .unwrap();
        store_orders(e, T0 + 1000, a)
    };
    // P1 refuses; the fresh ranking still lists P1 first: P2 is asked.
    let a = refuse(&mut e, "P1-1", &["P1", "P2", "P3"]);
    assert_eq!(issued(&a), ["P2"]);
    let a = refuse(&mut e, "P2-1", &["P1", "P2"]);
    assert!(issued(&a).is_empty());
    let esc = escalations(&a);
    assert_eq!(esc.len(), 1);
    assert!(esc[0].reason.contains("P2 refused"), "{}", esc[0].reason);
    assert_eq!(e.incident(1).unwrap().status, Status::Dispatched);
}

#[test]
fn a_unit_busy_with_one_incident_is_not_auto_assigned_another() {
    let mut e = Engine::new(rules(Some(Priority::Low)));
    for id in [1, 2] {
        let a = e
            .handle(
                T0,
                Event::Reported {
                    incident: Incident::new(id, report(Priority::High), T0),
                    candidates: cands(&["P1", "P2"]),
                },
            )
            .unwrap();
        let a = store_orders(&mut e, T0, a);
        assert_eq!(issued(&a), [if id == 1 { "P1" } else { "P2" }]);
    }
    // A third finds no one and tells the operators.
    let a = e
        .handle(
            T0,
            Event::Reported {
                incident: Incident::new(3, report(Priority::High), T0),
                candidates: cands(&["P1", "P2"]),
            },
        )
        .unwrap();
    assert!(issued(&a).is_empty());
    assert_eq!(escalations(&a).len(), 1);
}

#[test]
fn cancelled_incident_stops_timers_and_takes_no_orders() {
    let mut e = Engine::new(rules(Some(Priority::Low)));
    let a = e
        .handle(
            T0,
            Event::Reported {
                incident: Incident::new(1, report(Priority::High), T0),
                candidates: cands(&["P1"]),
            },
        )
        .unwrap();
    store_orders(&mut e, T0, a);
    e.handle(
        T0 + 1,
        Event::Cancel {
            incident_id: 1,
            by: "operator:c".into(),
        },
    )
    .unwrap();
    assert_eq!(e.poll_timeout(), None);
    assert!(
        !e.excluded(2).contains("P1"),
        "a cancelled incident's order no longer keeps its unit busy"
    );
    let err = e
        .handle(
            T0 + 2,
            Event::Assign {
                incident_id: 1,
                units: cands(&["P2"]),
                by: "operator:c".into(),
            },
        )
        .unwrap_err();
    assert_eq!(err, EngineError::Over(1, "cancelled"));
    let err = e
        .handle(
            T0 + 3,
            Event::Close {
                incident_id: 1,
                by: "operator:c".into(),
            },
        )
        .unwrap_err();
    assert!(matches!(err, EngineError::BadTransition { .. }));
}

fn withdrawn(actions: &[Action]) -> Vec<(String, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Withdraw {
                order_id, reason, ..
            } => Some((order_id.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn cancelling_withdraws_open_orders_and_reassigning_a_busy_unit_withdraws_its_other_order() {
    let mut e = Engine::new(rules(None));
    for id in [1, 2] {
        e.handle(
            T0,
            Event::Reported {
                incident: Incident::new(id, report(Priority::High), T0),
                candidates: vec![],
            },
        )
        .unwrap();
    }
    let a = e
        .handle(
            T0,
            Event::Assign {
                incident_id: 1,
                units: cands(&["P1", "P2"]),
                by: "operator:c".into(),
            },
        )
        .unwrap();
    store_orders(&mut e, T0, a);
    // P2 refuses: its order is over and is not withdrawn later.
    e.handle(
        T0 + 5,
        Event::OrderProgress {
            order_id: "P2-1".into(),
            state: OrderState::Refused,
            candidates: vec![],
        },
    )
    .unwrap();
    // The dispatcher sends P1, busy with incident 1, to incident 2.
    let a = e
        .handle(
            T0 + 10,
            Event::Assign {
                incident_id: 2,
                units: cands(&["P1"]),
                by: "operator:c".into(),
            },
        )
        .unwrap();
    assert_eq!(
        withdrawn(&a),
        [("P1-1".to_string(), "reassigned to incident 2".to_string())]
    );
    let w = a
        .iter()
        .position(|x| matches!(x, Action::Withdraw { .. }))
        .unwrap();
    let i = a
        .iter()
        .position(|x| matches!(x, Action::IssueOrder { .. }))
        .unwrap();
    assert!(w < i, "the old order is taken back before the new one goes");
    store_orders(&mut e, T0 + 10, a);
    assert_eq!(e.order("P1-1").unwrap().state, OrderState::Withdrawn);
    // A late ack of the withdrawn order changes nothing.
    let late = e
        .handle(
            T0 + 20,
            Event::OrderProgress {
                order_id: "P1-1".into(),
                state: OrderState::Arrived,
                candidates: vec![],
            },
        )
        .unwrap();
    assert!(late.is_empty(), "{late:?}");
    assert_eq!(e.incident(1).unwrap().status, Status::Dispatched);
    // Cancelling incident 2 withdraws P1's order there, once.
    let a = e
        .handle(
            T0 + 30,
            Event::Cancel {
                incident_id: 2,
                by: "operator:c".into(),
            },
        )
        .unwrap();
    assert_eq!(
        withdrawn(&a),
        [("P1-2".to_string(), "incident 2 cancelled".to_string())]
    );
    assert!(!e.excluded(3).contains("P1"), "P1 is free again");
    let a = e
        .handle(
            T0 + 40,
            Event::Cancel {
                incident_id: 1,
                by: "operator:c".into(),
            },
        )
        .unwrap();
    assert!(withdrawn(&a).is_empty(), "nothing left open on incident 1");
}

#[test]
fn closing_an_incident_releases_every_unit_still_on_it() {
    let mut e = Engine::new(rules(None));
    e.handle(
        T0,
        Event::Reported {
            incident: Incident::new(1, report(Priority::High), T0),
            candidates: vec![],
        },
    )
    .unwrap();
    let a = e
        .handle(
            T0,
            Event::Assign {
                incident_id: 1,
                units: cands(&["P1", "P2"]),
                by: "operator:c".into(),
            },
        )
        .unwrap();
    store_orders(&mut e, T0, a);
    for (id, state) in [
        ("P1-1", OrderState::Accepted),
        ("P2-1", OrderState::Arrived),
    ] {
        e.handle(
            T0 + 5,
            Event::OrderProgress {
                order_id: id.into(),
                state,
                candidates: vec![],
            },
        )
        .unwrap();
    }
    assert!(e.excluded(2).contains("P1"), "busy while on incident 1");
    let a = e
        .handle(
            T0 + 60,
            Event::Close {
                incident_id: 1,
                by: "operator:c".into(),
            },
        )
        .unwrap();
    assert_eq!(
        withdrawn(&a),
        [
            ("P1-1".to_string(), "incident 1 closed".to_string()),
            ("P2-1".to_string(), "incident 1 closed".to_string())
        ]
    );
    assert_eq!(e.incident(1).unwrap().status, Status::Closed);
    assert!(!e.excluded(2).contains("P1"), "P1 is free again");
    assert!(!e.excluded(2).contains("P2"), "P2 is free again");
}

#[test]
fn restore_applies_acks_stored_before_a_crash_and_rearms_timers() {
    let mut inc = Incident::new(4, report(Priority::High), T0);
    inc.transition(Status::Dispatched, T0 + 10, "dispatch");
    let order = |id: &str, state: OrderState, state_ms: i64| crate::patrol::orders::OrderRecord {
        order_id: id.into(),
        unit: id[..2].into(),
        seq: 1,
        incident_id: Some("4".into()),
        lat_deg: 48.9,
        lon_deg: 2.3,
        priority: 3,
        instructions: String::new(),
        issued_ms: T0 + 10,
        state,
        state_ms,
        reason: None,
        withdraw_acked_ms: None,
    };
    let mut e = Engine::new(rules(None));
    let now = T0 + 50_000;
    let escalated = HashMap::from([("P2-x".to_string(), T0 + 40_010)]);
    let fixes = e.restore(
        now,
        vec![inc],
        vec![
            order("P1-x", OrderState::Arrived, T0 + 20_000),
            order("P2-x", OrderState::Pending, T0 + 10),
        ],
        &escalated,
    );
    assert!(
        matches!(&fixes[..], [Action::SaveIncident(i)] if i.status == Status::OnScene && i.on_scene_ms == Some(T0 + 20_000))
    );
    // The pending order is resent one delay after the restart, and not
    // escalated again.
    assert_eq!(e.poll_timeout(), Some(now + 10_000));
    let a = e.handle_timeout(now + 10_000);
    assert!(matches!(&a[..], [Action::Resend { order_id, .. }] if order_id == "P2-x"));
}

#[test]
fn store_round_trips_incidents_transitions_and_tablet_idempotence() {
    let store = Store::in_memory().unwrap();
    crate::patrol::orders::OrderStore::new(store.clone()).unwrap();
    let db = DispatchStore::new(store).unwrap();
    let mut a = db
        .insert(&report(Priority::High), T0, None)
        .unwrap()
        .unwrap();
    let b = db
        .insert(&report(Priority::Low), T0 + 1, Some(("P1", "m1")))
        .unwrap()
        .unwrap();
    assert!(
        db.insert(&report(Priority::Low), T0 + 2, Some(("P1", "m1")))
            .unwrap()
            .is_none(),
        "the same tablet message is one incident"
    );
    assert!(a.transition(Status::Dispatched, T0 + 5, "dispatch"));
    a.eyes_on_ms = Some(T0 + 6);
    db.save(&a).unwrap();
    db.save(&a).unwrap();
    let loaded = db.load(T0).unwrap();
    assert_eq!(loaded, vec![a.clone(), b]);
    assert!(a.transition(Status::Closed, T0 + 9, "operator:c"));
    db.save(&a).unwrap();
    assert_eq!(
        db.load(T0 + 100).unwrap().len(),
        1,
        "closed and old: not loaded"
    );
    assert_eq!(db.get(a.id).unwrap().unwrap(), a);
}

mod edge {
    use super::*;
    use crate::coverage::live::LiveCoverage;
    use crate::coverage::mask::Masks;
    use crate::fleet::FleetHandle;
    use crate::patrol::roster::PatrolLink;
    use vigie_protocols::api::UnitStatus;

    fn open(dir: &std::path::Path, fleet: &FleetHandle) -> (Arc<PatrolLink>, Dispatch) {
        let store = Store::open(dir).unwrap();
        let frame = LocalFrame::new(48.924_459, 2.360_164);
        let patrol = Arc::new(PatrolLink::new(store.clone(), Default::default()).unwrap());
        let coverage = Arc::new(LiveCoverage::new(frame, Vec::new(), Masks::default(), None));
        let cfg = DispatchConfig {
            auto_assign_min_priority: Some(Priority::Critical),
            ..DispatchConfig::default()
        };
        let d = Dispatch::open(store, cfg, frame, patrol.clone(), fleet.clone(), coverage).unwrap();
        (patrol, d)
    }

    #[test]
    fn reopening_after_an_abrupt_stop_loses_no_incident_order_or_ack() {
        let dir = std::env::temp_dir().join(format!("vigie-dispatch-edge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let fleet = FleetHandle::new();
        let frame = LocalFrame::new(48.924_459, 2.360_164);
        for (id, e) in [("P1", 100.0), ("P2", 300.0), ("P3", 900.0)] {
            let (lat_deg, lon_deg) = frame.to_wgs84(e, 0.0);
            let mut u = super::super::suggest::tests::patrol(
                id,
                vigie_protocols::api::Position {
                    lat_deg,
                    lon_deg,
                    alt_msl_m: None,
                    alt_rel_m: None,
                    heading_deg: None,
                    speed_m_s: None,
                    accuracy_m: None,
                },
                UnitStatus::Available,
            );
            u.last_seen_ms = Some(T0);
            fleet.upsert(u);
        }
        let (patrol, d) = open(&dir, &fleet);
        let mut events = d.subscribe();
        let mut r = report(Priority::Critical);
        r.location = GeoPoint {
            lat_deg: 48.924_459,
            lon_deg: 2.360_164,
        };
        let view = d.report(r.clone(), None).unwrap().unwrap();
        let id = view.incident.id;
        let ranked: Vec<_> = view
            .suggestions
            .as_ref()
            .unwrap()
            .patrols
            .iter()
            .map(|c| c.unit.as_str())
            .collect();
        assert_eq!(ranked, ["P1", "P2", "P3"]);
        assert_eq!(view.orders.len(), 1, "critical: auto-assigned");
        assert_eq!(view.orders[0].unit, "P1");
        assert_eq!(view.incident.status, Status::Dispatched);
        let first = events.try_recv().unwrap();
        assert!(matches!(first, Notice::Incident { .. }));
        assert!(matches!(
            events.try_recv().unwrap(),
            Notice::Suggestions { .. }
        ));

        // A second incident, assigned by hand, acked "received".
        r.priority = Priority::Normal;
        let second = d.report(r, None).unwrap().unwrap().incident.id;
        let v2 = d.assign(second, vec![], 1, "operator:claire").unwrap();
        assert_eq!(v2.orders[0].unit, "P2", "P1 is busy with the first");
        let ack = vigie_protocols::tablet::OrderAck {
            message_id: "a1".into(),
            order_id: v2.orders[0].order_id.clone(),
            kind: vigie_protocols::tablet::AckKind::Arrived as i32,
            reason: String::new(),
            at_ms: 0,
        };
        // The ack is stored by the patrol link, and the process dies before
        // dispatch hears of it.
        patrol.orders().apply_ack("P2", &ack, T0).unwrap();
        // A tablet report stored by the patrol link just before the stop.
        let tablet = vigie_protocols::tablet::IncidentReport {
            message_id: "t1".into(),
            category: 2,
            location: None,
            text: "smoke".into(),
            photo_jpeg: Vec::new(),
            at_ms: T0,
        };
        patrol.orders().store_incident("P3", &tablet, T0).unwrap();
        drop(d);
        drop(patrol);

        let (_patrol, d) = open(&dir, &fleet);
        let v = d.view(id).unwrap().unwrap();
        assert_eq!(v.incident.status, Status::Dispatched);
        assert_eq!(v.orders.len(), 1);
        assert_eq!(v.orders[0].state, OrderState::Pending);
        let v2 = d.view(second).unwrap().unwrap();
        assert_eq!(
            v2.incident.status,
            Status::OnScene,
            "the stored ack took effect"
        );
        let all = d.list(false);
        assert_eq!(all.len(), 3, "the tablet report became an incident");
        let t = &all[0];
        assert_eq!(
            (t.report.category, t.report.source),
            (Category::Fire, Source::Tablet)
        );
        assert_eq!(t.report.reporter, "P3");
        let figures = d.figures();
        assert_eq!(figures.incidents_today, 3);
        assert_eq!(figures.by_category[&Category::Medical], 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
