//! Link core tests on virtual time, with hand-built vehicle messages.

use super::*;
use mavlink::dialects::ardupilotmega::{
    COMMAND_ACK_DATA, COMMAND_LONG_DATA, GLOBAL_POSITION_INT_DATA, MISSION_ACK_DATA,
    MISSION_REQUEST_INT_DATA, MavMissionResult, MavResult,
};

const WALL: i64 = 1_800_000_000_000;

fn settings(key: Option<[u8; 32]>) -> LinkSettings {
    LinkSettings {
        name: "udp0".into(),
        system_id: 255,
        component_id: 190,
        link_loss: Duration::from_secs(3),
        signing_key: key,
        signing_reservation: 0,
        default_peer: None,
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn frame(sys: u8, comp: u8, msg: &MavMessage, sign: Option<(&[u8; 32], u64)>) -> Vec<u8> {
    let mut b = Vec::new();
    let h = MavHeader {
        system_id: sys as u32,
        component_id: comp,
        sequence: 0,
    };
    wire::encode(&mut b, h, msg, sign.map(|(k, t)| (k, 0, t)));
    b
}

fn heartbeat(armed: bool) -> MavMessage {
    MavMessage::HEARTBEAT(HEARTBEAT_DATA {
        custom_mode: 4,
        mavtype: MavType::MAV_TYPE_QUADROTOR,
        autopilot: MavAutopilot::MAV_AUTOPILOT_ARDUPILOTMEGA,
        base_mode: if armed {
            MavModeFlag::MAV_MODE_FLAG_SAFETY_ARMED | MavModeFlag::MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        } else {
            MavModeFlag::MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        },
        system_status: MavState::MAV_STATE_STANDBY,
        mavlink_version: 3,
    })
}

fn position(lat: f64, lon: f64) -> MavMessage {
    MavMessage::GLOBAL_POSITION_INT(GLOBAL_POSITION_INT_DATA {
        time_boot_ms: 1,
        lat: (lat * 1e7) as i32,
        lon: (lon * 1e7) as i32,
        alt: 95_000,
        relative_alt: 60_000,
        vx: 300,
        vy: 400,
        vz: 0,
        hdg: 4500,
    })
}

fn core(key: Option<[u8; 32]>) -> LinkCore {
    LinkCore::new(settings(key), Arc::default())
}

fn drain(core: &mut LinkCore) -> (Vec<Transmit>, Vec<LinkEvent>) {
    let mut t = Vec::new();
    while let Some(x) = core.poll_transmit() {
        t.push(x);
    }
    let mut e = Vec::new();
    while let Some(x) = core.poll_event() {
        e.push(x);
    }
    (t, e)
}

fn decoded(t: &[Transmit]) -> Vec<(SocketAddr, MavMessage)> {
    t.iter()
        .flat_map(|x| {
            wire::frames(&x.bytes)
                .filter_map(Result::ok)
                .map(|f| (x.to, f.decode().unwrap()))
                .collect::<Vec<_>>()
        })
        .collect()
}

const PRIMARY: VehicleKey = VehicleKey {
    system_id: 7,
    duplicate_of: None,
};

#[test]
fn a_heartbeat_makes_a_vehicle_that_is_asked_for_its_streams_and_shows_telemetry() {
    let t0 = Instant::now();
    let mut c = core(None);
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    c.handle_bytes(
        t0,
        WALL,
        addr(5000),
        &frame(7, 1, &position(48.9244, 2.3601), None),
    );
    let (tx, ev) = drain(&mut c);
    assert!(ev.contains(&LinkEvent::Changed(PRIMARY)));
    let sent = decoded(&tx);
    let intervals = sent
        .iter()
        .filter(|(to, m)| *to == addr(5000) && matches!(m, MavMessage::COMMAND_LONG(c) if c.command == MavCmd::MAV_CMD_SET_MESSAGE_INTERVAL))
        .count();
    assert_eq!(
        intervals, 1,
        "one SET_MESSAGE_INTERVAL in flight at a time, the rest queued"
    );
    let unit = c
        .unit(PRIMARY, t0, WALL, &LocalFrame::new(48.92, 2.36), 35.0)
        .unwrap()
        .0;
    assert_eq!(unit.id, "drone:udp0:7");
    let p = unit.position.unwrap();
    assert!((p.lat_deg - 48.9244).abs() < 1e-6 && (p.speed_m_s.unwrap() - 5.0).abs() < 1e-9);
    let d = unit.drone.unwrap();
    assert_eq!(
        (d.mode.as_str(), d.armed, d.autopilot.as_str()),
        ("GUIDED", false, "ardupilot")
    );
}

#[test]
fn telemetry_without_a_heartbeat_makes_no_vehicle() {
    let mut c = core(None);
    c.handle_bytes(
        Instant::now(),
        WALL,
        addr(5000),
        &frame(9, 1, &position(1.0, 2.0), None),
    );
    assert!(c.keys().is_empty());
}

#[test]
fn silence_loses_the_link_and_a_heartbeat_recovers_it() {
    let t0 = Instant::now();
    let mut c = core(None);
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    drain(&mut c);
    let due = c.poll_timeout().unwrap();
    assert!(due <= t0 + Duration::from_secs(3));
    c.handle_timeout(t0 + Duration::from_millis(2900), WALL);
    assert!(c.vehicle(PRIMARY).unwrap().link_up);
    c.handle_timeout(t0 + Duration::from_secs(3), WALL);
    let (_, ev) = drain(&mut c);
    assert!(ev.contains(&LinkEvent::Lost(PRIMARY)));
    assert_eq!(
        c.unit(PRIMARY, t0, WALL, &LocalFrame::new(0.0, 0.0), 0.0)
            .unwrap()
            .0
            .status,
        vigie_protocols::api::UnitStatus::LinkLost
    );
    c.handle_bytes(
        t0 + Duration::from_secs(10),
        WALL,
        addr(5000),
        &frame(7, 1, &heartbeat(false), None),
    );
    let (_, ev) = drain(&mut c);
    assert!(ev.contains(&LinkEvent::Recovered(PRIMARY)));
}

#[test]
fn two_vehicles_claiming_one_system_id_are_kept_apart_and_reported() {
    let t0 = Instant::now();
    let mut c = core(None);
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    c.handle_bytes(t0, WALL, addr(6000), &frame(7, 1, &heartbeat(true), None));
    c.handle_bytes(
        t0,
        WALL,
        addr(6000),
        &frame(7, 1, &position(10.0, 10.0), None),
    );
    let (_, ev) = drain(&mut c);
    assert!(ev.iter().any(|e| matches!(e, LinkEvent::DuplicateSystemId { system_id: 7, first, second, .. } if *first == addr(5000) && *second == addr(6000))));
    let dup = VehicleKey {
        system_id: 7,
        duplicate_of: Some(addr(6000)),
    };
    assert_eq!(c.keys(), vec![PRIMARY, dup]);
    assert!(
        !c.vehicle(PRIMARY).unwrap().armed(),
        "the first vehicle's state is not overwritten"
    );
    assert!(c.vehicle(PRIMARY).unwrap().position.is_none());
    assert!(c.vehicle(dup).unwrap().armed());
    assert!(c.vehicle(PRIMARY).unwrap().warnings[0].contains("claimed by 1 other source"));
    assert_eq!(c.key_of("drone:udp0:7@127.0.0.1:6000"), Some(dup));
}

#[test]
fn a_vehicle_that_changes_address_after_silence_is_the_same_vehicle() {
    let t0 = Instant::now();
    let mut c = core(None);
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    c.handle_bytes(
        t0 + Duration::from_secs(4),
        WALL,
        addr(5001),
        &frame(7, 1, &heartbeat(false), None),
    );
    assert_eq!(c.keys(), vec![PRIMARY]);
    assert_eq!(c.vehicle(PRIMARY).unwrap().peer, addr(5001));
}

fn ack(cmd: MavCmd, result: MavResult) -> MavMessage {
    MavMessage::COMMAND_ACK(COMMAND_ACK_DATA {
        command: cmd,
        result,
        ..COMMAND_ACK_DATA::DEFAULT
    })
}

#[test]
fn a_command_is_acknowledged_or_retried_then_timed_out_or_lost_with_the_link() {
    let t0 = Instant::now();
    let mut c = core(None);
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    drain(&mut c);
    let op = c.command(t0, WALL, PRIMARY, &DroneCommand::Arm).unwrap();
    let (tx, _) = drain(&mut c);
    assert!(decoded(&tx).iter().any(|(_, m)| matches!(m, MavMessage::COMMAND_LONG(c) if c.command == MavCmd::MAV_CMD_COMPONENT_ARM_DISARM && c.param1 == 1.0)));
    c.handle_bytes(
        t0 + Duration::from_millis(30),
        WALL,
        addr(5000),
        &frame(
            7,
            1,
            &ack(
                MavCmd::MAV_CMD_COMPONENT_ARM_DISARM,
                MavResult::MAV_RESULT_ACCEPTED,
            ),
            None,
        ),
    );
    let (_, ev) = drain(&mut c);
    let done = ev
        .iter()
        .find_map(|e| match e {
            LinkEvent::Done(id, r) if *id == op => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(done.outcome, CommandOutcome::Accepted);
    assert!((done.latency_ms - 30.0).abs() < 1e-6);

    // Keep the vehicle alive while the takeoff goes unanswered.
    let op = c
        .command(t0, WALL, PRIMARY, &DroneCommand::Takeoff { alt_m: 30.0 })
        .unwrap();
    let mut t = t0;
    let mut takeoffs = 0;
    let mut result = None;
    for _ in 0..20 {
        t += Duration::from_millis(500);
        c.handle_bytes(t, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
        c.handle_timeout(t, WALL);
        let (tx, ev) = drain(&mut c);
        takeoffs += decoded(&tx).iter().filter(|(_, m)| matches!(m, MavMessage::COMMAND_LONG(c) if c.command == MavCmd::MAV_CMD_NAV_TAKEOFF)).count();
        if let Some(r) = ev.iter().find_map(|e| match e {
            LinkEvent::Done(id, r) if *id == op => Some(r.clone()),
            _ => None,
        }) {
            result = Some(r);
            break;
        }
    }
    let r = result.unwrap();
    assert_eq!(r.outcome, CommandOutcome::TimedOut);
    assert_eq!(r.attempts, super::super::command::MAX_ATTEMPTS);
    assert_eq!(
        takeoffs as u32, r.attempts,
        "the first send plus the resends"
    );

    let op = c.command(t, WALL, PRIMARY, &DroneCommand::Land).unwrap();
    c.handle_timeout(t + Duration::from_secs(3), WALL);
    let (_, ev) = drain(&mut c);
    let r = ev
        .iter()
        .find_map(|e| match e {
            LinkEvent::Done(id, r) if *id == op => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(r.outcome, CommandOutcome::LinkLost);
    let refused = c
        .command(
            t + Duration::from_secs(3),
            WALL,
            PRIMARY,
            &DroneCommand::Rtl,
        )
        .unwrap_err();
    assert_eq!(refused.outcome, CommandOutcome::LinkLost);
}

#[test]
fn bad_parameters_and_unknown_vehicles_are_refused_before_sending() {
    let t0 = Instant::now();
    let mut c = core(None);
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    let r = c
        .command(
            t0,
            WALL,
            PRIMARY,
            &DroneCommand::Goto {
                lat_deg: 123.0,
                lon_deg: 0.0,
                alt_m: 10.0,
                speed_m_s: None,
            },
        )
        .unwrap_err();
    assert_eq!(r.outcome, CommandOutcome::Refused);
    let r = c
        .command(
            t0,
            WALL,
            PRIMARY,
            &DroneCommand::Takeoff { alt_m: f64::NAN },
        )
        .unwrap_err();
    assert!(r.detail.contains("finite"));
    let r = c
        .command(
            t0,
            WALL,
            PRIMARY,
            &DroneCommand::SetMode {
                mode: "WARP".into(),
            },
        )
        .unwrap_err();
    assert!(r.detail.contains("WARP"));
    let other = VehicleKey {
        system_id: 8,
        duplicate_of: None,
    };
    assert_eq!(
        c.command(t0, WALL, other, &DroneCommand::Arm)
            .unwrap_err()
            .outcome,
        CommandOutcome::Refused
    );
}

#[test]
fn a_fence_upload_answers_requests_in_any_order_through_the_link() {
    let t0 = Instant::now();
    let mut c = core(None);
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    drain(&mut c);
    let shapes = vec![vigie_protocols::api::FenceShape::Polygon {
        inclusion: true,
        vertices: vec![[48.92, 2.35], [48.93, 2.35], [48.93, 2.37], [48.92, 2.37]],
    }];
    let op = c
        .command(t0, WALL, PRIMARY, &DroneCommand::Fence { shapes })
        .unwrap();
    let (tx, _) = drain(&mut c);
    assert!(decoded(&tx).iter().any(|(_, m)| matches!(m, MavMessage::MISSION_COUNT(c) if c.count == 4 && c.mission_type == MavMissionType::MAV_MISSION_TYPE_FENCE)));
    for seq in [1u16, 0, 3, 2] {
        let req = MavMessage::MISSION_REQUEST_INT(MISSION_REQUEST_INT_DATA {
            seq,
            target_system: 255,
            target_component: 190,
            mission_type: MavMissionType::MAV_MISSION_TYPE_FENCE,
        });
        c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &req, None));
        let (tx, _) = drain(&mut c);
        assert!(decoded(&tx).iter().any(|(_, m)| matches!(m, MavMessage::MISSION_ITEM_INT(i) if i.seq == seq && i.command == MavCmd::MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION)));
    }
    let ack = MavMessage::MISSION_ACK(MISSION_ACK_DATA {
        target_system: 255,
        target_component: 190,
        mavtype: MavMissionResult::MAV_MISSION_ACCEPTED,
        mission_type: MavMissionType::MAV_MISSION_TYPE_FENCE,
        opaque_id: 0,
    });
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &ack, None));
    let (_, ev) = drain(&mut c);
    assert!(ev.iter().any(|e| matches!(e, LinkEvent::Done(id, r) if *id == op && r.outcome == CommandOutcome::Accepted)));
}

#[test]
fn a_signed_link_rejects_unsigned_and_wrong_key_frames_and_signs_its_own() {
    let key = [3u8; 32];
    let t0 = Instant::now();
    let mut c = core(Some(key));
    let ts = signing::timestamp_from_unix_ms(WALL);
    c.handle_bytes(
        t0,
        WALL,
        addr(5000),
        &frame(7, 1, &heartbeat(false), Some((&key, ts))),
    );
    assert_eq!(c.keys(), vec![PRIMARY]);
    c.handle_bytes(
        t0,
        WALL,
        addr(5000),
        &frame(7, 1, &position(1.0, 1.0), None),
    );
    c.handle_bytes(
        t0,
        WALL,
        addr(5000),
        &frame(7, 1, &position(1.0, 1.0), Some((&[4u8; 32], ts + 1))),
    );
    let (held, ev) = drain(&mut c);
    assert!(
        held.is_empty(),
        "nothing signed before its reservation is stored"
    );
    let reservation = ev
        .iter()
        .find_map(|e| match e {
            LinkEvent::PersistSigning(r) => Some(*r),
            _ => None,
        })
        .expect("a reservation to store");
    c.signing_persisted(reservation, true);
    let (tx, _) = drain(&mut c);
    assert!(!tx.is_empty(), "the held frames go once it is stored");
    let reasons: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            LinkEvent::SigningRejected { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec![SigningReject::Unsigned, SigningReject::BadSignature]
    );
    assert!(ev.iter().any(|e| matches!(e, LinkEvent::PersistSigning(_))));
    assert!(c.vehicle(PRIMARY).unwrap().position.is_none());
    assert!(
        c.vehicle(PRIMARY)
            .unwrap()
            .warnings
            .iter()
            .any(|w| w.contains("signing"))
    );
    // What we send verifies with the key.
    let mut v = Verifier::new(key);
    for t in &tx {
        let f = wire::frames(&t.bytes).next().unwrap().unwrap();
        v.check(&f, ts).unwrap();
    }
}

#[test]
fn garbage_is_counted_and_does_not_disturb_other_vehicles() {
    let t0 = Instant::now();
    let counters: Arc<LinkCounters> = Arc::default();
    let mut c = LinkCore::new(settings(None), counters.clone());
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    let mut junk = vec![0xFD; 40];
    junk.extend_from_slice(&[0xFE, 3, 0, 0, 0, 0]);
    junk.extend((0..200u32).map(|i| (i * 37 % 251) as u8));
    for _ in 0..100 {
        c.handle_bytes(t0, WALL, addr(6666), &junk);
    }
    c.handle_bytes(
        t0,
        WALL,
        addr(5000),
        &frame(7, 1, &position(2.0, 3.0), None),
    );
    assert!(counters.malformed.load(Ordering::Relaxed) >= 100);
    assert_eq!(c.keys(), vec![PRIMARY]);
    assert!(c.vehicle(PRIMARY).unwrap().position.is_some());
    // Reports of junk stay bounded however much arrives.
    let reports = c
        .events
        .iter()
        .filter(|e| matches!(e, LinkEvent::Malformed { .. }))
        .count();
    assert!(reports <= MAX_OUTBOX, "{reports}");
}

#[test]
fn spoofed_senders_of_a_live_system_id_are_bounded_expired_and_raise_one_alert() {
    let t0 = Instant::now();
    let counters: Arc<LinkCounters> = Arc::default();
    let mut c = LinkCore::new(settings(None), counters.clone());
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    drain(&mut c);
    // 3,000 spoofed heartbeats from as many source ports, while the real
    // drone keeps speaking.
    let mut duplicate_reports = 0;
    for port in 0..3000u16 {
        let t = t0 + Duration::from_millis(port as u64);
        c.handle_bytes(
            t,
            WALL,
            addr(10_000 + port),
            &frame(7, 1, &heartbeat(true), None),
        );
        if port % 500 == 0 {
            c.handle_bytes(t, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
        }
        let (_, ev) = drain(&mut c);
        duplicate_reports += ev
            .iter()
            .filter(|e| matches!(e, LinkEvent::DuplicateSystemId { .. }))
            .count();
    }
    assert!(
        c.keys().len() <= 1 + MAX_DUPLICATES,
        "{} vehicles tracked",
        c.keys().len()
    );
    assert!(
        duplicate_reports <= MAX_DUPLICATES + 1,
        "{duplicate_reports}"
    );
    let v = c.vehicle(PRIMARY).unwrap();
    let conflict: Vec<&String> = v
        .warnings
        .iter()
        .filter(|w| w.contains("claimed by"))
        .collect();
    assert_eq!(conflict.len(), 1, "one alert: {:?}", v.warnings);
    assert!(
        conflict[0].contains("3000 other sources"),
        "{}",
        conflict[0]
    );
    assert_eq!(counters.conflicting_sources.load(Ordering::Relaxed), 3000);
    assert!(!v.armed(), "the real drone's state is untouched");
    // The spoofers fall silent; the real drone goes on. After link loss and
    // the grace, every duplicate is gone and the alert clears.
    let mut t = t0 + Duration::from_secs(3);
    let mut removed = Vec::new();
    while t < t0 + DUPLICATE_GRACE + Duration::from_secs(10) {
        t += Duration::from_millis(500);
        c.handle_bytes(t, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
        c.handle_timeout(t, WALL);
        let (_, ev) = drain(&mut c);
        removed.extend(ev.into_iter().filter_map(|e| match e {
            LinkEvent::Removed(k) => Some(k),
            _ => None,
        }));
    }
    assert_eq!(c.keys(), vec![PRIMARY]);
    assert!(!removed.is_empty() && removed.iter().all(|k| k.duplicate_of.is_some()));
    assert!(
        c.vehicle(PRIMARY)
            .unwrap()
            .warnings
            .iter()
            .all(|w| !w.contains("claimed by")),
        "{:?}",
        c.vehicle(PRIMARY).unwrap().warnings
    );
}

#[test]
fn duplicate_vehicles_are_never_restored_as_units() {
    assert!(is_duplicate_unit_id("drone:udp0:7@127.0.0.1:6000"));
    assert!(!is_duplicate_unit_id("drone:udp0:7"));
    assert!(!is_duplicate_unit_id("patrol:alpha@x"));
}

fn companion_heartbeat() -> MavMessage {
    MavMessage::HEARTBEAT(HEARTBEAT_DATA {
        custom_mode: 0,
        mavtype: MavType::MAV_TYPE_ONBOARD_CONTROLLER,
        autopilot: MavAutopilot::MAV_AUTOPILOT_INVALID,
        base_mode: MavModeFlag::empty(),
        system_status: MavState::MAV_STATE_ACTIVE,
        mavlink_version: 3,
    })
}

#[test]
fn a_companion_computers_heartbeat_does_not_set_the_vehicles_mode_or_arming() {
    let t0 = Instant::now();
    let mut c = core(None);
    // The companion speaks first, then the autopilot, then the companion again.
    c.handle_bytes(
        t0,
        WALL,
        addr(5000),
        &frame(7, 191, &companion_heartbeat(), None),
    );
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &heartbeat(true), None));
    c.handle_bytes(
        t0,
        WALL,
        addr(5000),
        &frame(7, 191, &companion_heartbeat(), None),
    );
    let v = c.vehicle(PRIMARY).unwrap();
    assert!(v.armed(), "armed, as the autopilot says");
    assert_eq!(v.mode(), "GUIDED");
    assert_eq!(v.autopilot, MavAutopilot::MAV_AUTOPILOT_ARDUPILOTMEGA);
    assert_eq!(v.mav_type, MavType::MAV_TYPE_QUADROTOR);
    let unit = c
        .unit(PRIMARY, t0, WALL, &LocalFrame::new(48.92, 2.36), 35.0)
        .unwrap()
        .0;
    let d = unit.drone.unwrap();
    assert_eq!((d.autopilot.as_str(), d.armed), ("ardupilot", true));
    // The companion's heartbeats alone do not keep the vehicle's link up.
    let mut t = t0;
    let mut lost = false;
    for _ in 0..8 {
        t += Duration::from_millis(500);
        c.handle_bytes(
            t,
            WALL,
            addr(5000),
            &frame(7, 191, &companion_heartbeat(), None),
        );
        c.handle_timeout(t, WALL);
        let (_, ev) = drain(&mut c);
        lost |= ev.contains(&LinkEvent::Lost(PRIMARY));
    }
    assert!(lost, "the autopilot fell silent: link lost");
}

#[test]
fn commands_go_to_the_component_whose_heartbeat_is_the_autopilots() {
    let t0 = Instant::now();
    let mut c = core(None);
    c.handle_bytes(
        t0,
        WALL,
        addr(5000),
        &frame(7, 191, &companion_heartbeat(), None),
    );
    // An autopilot on component 2 (some boards run two flight stacks).
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 2, &heartbeat(false), None));
    drain(&mut c);
    c.command(t0, WALL, PRIMARY, &DroneCommand::Rtl).unwrap();
    let (tx, _) = drain(&mut c);
    let rtl = decoded(&tx).into_iter().find_map(|(_, m)| match m {
        MavMessage::COMMAND_LONG(l) if l.command == MavCmd::MAV_CMD_NAV_RETURN_TO_LAUNCH => Some(l),
        _ => None,
    });
    // The RTL waits behind the stream requests (one command in flight per
    // vehicle); every command sent so far targets component 2.
    let sent: Vec<_> = decoded(&tx)
        .into_iter()
        .filter_map(|(_, m)| match m {
            MavMessage::COMMAND_LONG(l) => Some(l.target_component),
            _ => None,
        })
        .collect();
    assert!(!sent.is_empty());
    assert!(sent.iter().all(|&comp| comp == 2), "{sent:?} {rtl:?}");
}

/// Acknowledges every COMMAND_LONG the link sends until it sends no more;
/// returns them in order.
fn ack_everything(c: &mut LinkCore, t: Instant, from: SocketAddr) -> Vec<COMMAND_LONG_DATA> {
    let mut all = Vec::new();
    for _ in 0..64 {
        let (tx, _) = drain(c);
        let sent: Vec<COMMAND_LONG_DATA> = decoded(&tx)
            .into_iter()
            .filter_map(|(_, m)| match m {
                MavMessage::COMMAND_LONG(l) => Some(l),
                _ => None,
            })
            .collect();
        if sent.is_empty() {
            break;
        }
        for l in sent {
            c.handle_bytes(
                t,
                WALL,
                from,
                &frame(7, 1, &ack(l.command, MavResult::MAV_RESULT_ACCEPTED), None),
            );
            all.push(l);
        }
    }
    all
}

#[test]
fn a_vehicle_heard_again_after_link_loss_is_asked_for_its_streams_and_home_again() {
    let t0 = Instant::now();
    let mut c = core(None);
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    let first = ack_everything(&mut c, t0, addr(5000));
    let intervals = |cmds: &[COMMAND_LONG_DATA]| {
        cmds.iter()
            .filter(|l| l.command == MavCmd::MAV_CMD_SET_MESSAGE_INTERVAL)
            .count()
    };
    let home = |cmds: &[COMMAND_LONG_DATA]| {
        cmds.iter()
            .any(|l| l.command == MavCmd::MAV_CMD_REQUEST_MESSAGE && l.param1 == 242.0)
    };
    assert_eq!(intervals(&first), STREAMS.len());
    assert!(home(&first));
    // The vehicle reboots: silence, then the same system id again.
    c.handle_timeout(t0 + Duration::from_secs(3), WALL);
    drain(&mut c);
    let t1 = t0 + Duration::from_secs(20);
    c.handle_bytes(t1, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    let again = ack_everything(&mut c, t1, addr(5000));
    assert_eq!(intervals(&again), STREAMS.len(), "{again:?}");
    assert!(home(&again), "{again:?}");
}

fn gps(eph: u16, h_acc_mm: u32) -> MavMessage {
    MavMessage::GPS_RAW_INT(mavlink::dialects::ardupilotmega::GPS_RAW_INT_DATA {
        eph,
        h_acc: h_acc_mm,
        satellites_visible: 12,
        fix_type: mavlink::dialects::ardupilotmega::GpsFixType::GPS_FIX_TYPE_3D_FIX,
        ..mavlink::dialects::ardupilotmega::GPS_RAW_INT_DATA::DEFAULT
    })
}

#[test]
fn gps_accuracy_in_metres_comes_from_h_acc_and_hdop_is_labelled_hdop() {
    let t0 = Instant::now();
    let mut c = core(None);
    let unit = |c: &mut LinkCore, msgs: &[MavMessage]| {
        for m in msgs {
            c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, m, None));
        }
        c.unit(PRIMARY, t0, WALL, &LocalFrame::new(48.92, 2.36), 35.0)
            .unwrap()
            .0
    };
    // HDOP 1.5, position uncertainty 2.5 m, in either order with the position.
    let u = unit(
        &mut c,
        &[heartbeat(false), gps(150, 2500), position(48.92, 2.36)],
    );
    assert_eq!(u.position.unwrap().accuracy_m, Some(2.5));
    assert_eq!(u.drone.unwrap().gps_hdop, Some(1.5));
    let u = unit(&mut c, &[gps(150, 4000)]);
    assert_eq!(u.position.unwrap().accuracy_m, Some(4.0));
    // No h_acc (0: an autopilot without the extension): no accuracy in
    // metres, HDOP still shown as HDOP.
    let u = unit(&mut c, &[gps(90, 0), position(48.92, 2.36)]);
    assert_eq!(u.position.unwrap().accuracy_m, None);
    assert_eq!(u.drone.unwrap().gps_hdop, Some(0.9));
}

#[test]
fn a_udpout_link_sends_heartbeats_to_its_peer_before_anyone_speaks() {
    let t0 = Instant::now();
    let mut s = settings(None);
    s.default_peer = Some(addr(14550));
    let mut c = LinkCore::new(s, Arc::default());
    c.start(t0);
    assert_eq!(c.poll_timeout(), Some(t0));
    for i in 0..3u64 {
        let t = t0 + GCS_HEARTBEAT * i as u32;
        c.handle_timeout(t, WALL);
        let (tx, _) = drain(&mut c);
        let hb: Vec<_> = decoded(&tx)
            .into_iter()
            .filter(|(to, m)| {
                *to == addr(14550)
                    && matches!(m, MavMessage::HEARTBEAT(h) if h.mavtype == MavType::MAV_TYPE_GCS)
            })
            .collect();
        assert_eq!(hb.len(), 1, "heartbeat {i}");
    }
    // A listening link (no peer) stays quiet until a vehicle speaks.
    let mut quiet = core(None);
    quiet.start(t0);
    assert_eq!(quiet.poll_timeout(), None);
}

#[test]
fn one_altitude_ceiling_bounds_every_command_and_mission_item() {
    let t0 = Instant::now();
    let mut c = core(None);
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    drain(&mut c);
    let high = ALTITUDE_CEILING_M + 380.0;
    let refused = |c: &mut LinkCore, cmd: DroneCommand| {
        let r = c.command(t0, WALL, PRIMARY, &cmd).unwrap_err();
        assert_eq!(r.outcome, CommandOutcome::Refused, "{cmd:?}");
        assert!(r.detail.contains("120 m"), "{}", r.detail);
    };
    refused(&mut c, DroneCommand::Takeoff { alt_m: high });
    refused(
        &mut c,
        DroneCommand::Goto {
            lat_deg: 48.92,
            lon_deg: 2.36,
            alt_m: high,
            speed_m_s: None,
        },
    );
    refused(
        &mut c,
        DroneCommand::Orbit {
            lat_deg: 48.92,
            lon_deg: 2.36,
            alt_m: high,
            radius_m: 50.0,
            speed_m_s: None,
        },
    );
    use vigie_protocols::api::MissionItem;
    for item in [
        MissionItem::Takeoff { alt_m: high },
        MissionItem::Waypoint {
            lat_deg: 48.92,
            lon_deg: 2.36,
            alt_m: high,
            hold_s: 0.0,
        },
        MissionItem::Loiter {
            lat_deg: 48.92,
            lon_deg: 2.36,
            alt_m: -5.0,
            time_s: 10.0,
        },
        MissionItem::Raw {
            command: 16,
            frame: 3,
            params: [0.0; 4],
            x: 489_200_000,
            y: 23_600_000,
            z: high as f32,
        },
    ] {
        refused(&mut c, DroneCommand::Mission { items: vec![item] });
    }
    // At the ceiling is fine.
    assert!(
        c.command(
            t0,
            WALL,
            PRIMARY,
            &DroneCommand::Goto {
                lat_deg: 48.92,
                lon_deg: 2.36,
                alt_m: ALTITUDE_CEILING_M,
                speed_m_s: None,
            },
        )
        .is_ok()
    );
}

fn px4_heartbeat() -> MavMessage {
    MavMessage::HEARTBEAT(HEARTBEAT_DATA {
        // POSCTL: main mode 3.
        custom_mode: 3 << 16,
        mavtype: MavType::MAV_TYPE_QUADROTOR,
        autopilot: MavAutopilot::MAV_AUTOPILOT_PX4,
        base_mode: MavModeFlag::MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
        system_status: MavState::MAV_STATE_STANDBY,
        mavlink_version: 3,
    })
}

/// The last COMMAND_LONG with `cmd` the link sent, acking them all.
fn sent_command(c: &mut LinkCore, t: Instant, cmd: MavCmd) -> Option<COMMAND_LONG_DATA> {
    ack_everything(c, t, addr(5000))
        .into_iter()
        .rev()
        .find(|l| l.command == cmd)
}

#[test]
fn px4_gets_main_and_sub_mode_in_params_2_and_3() {
    let t0 = Instant::now();
    let mut c = core(None);
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &px4_heartbeat(), None));
    for (mode, main, sub) in [
        ("MISSION", 4.0, 4.0),
        ("POSCTL", 3.0, 0.0),
        ("RTL", 4.0, 5.0),
    ] {
        c.command(
            t0,
            WALL,
            PRIMARY,
            &DroneCommand::SetMode { mode: mode.into() },
        )
        .unwrap();
        let l = sent_command(&mut c, t0, MavCmd::MAV_CMD_DO_SET_MODE).unwrap();
        assert_eq!((l.param2, l.param3), (main, sub), "{mode}");
        assert_eq!(
            l.param1,
            MavModeFlag::MAV_MODE_FLAG_CUSTOM_MODE_ENABLED.bits() as f32
        );
    }
    // ArduPilot keeps its mode number in param2.
    let mut ap = core(None);
    ap.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    ap.command(
        t0,
        WALL,
        PRIMARY,
        &DroneCommand::SetMode { mode: "RTL".into() },
    )
    .unwrap();
    let l = sent_command(&mut ap, t0, MavCmd::MAV_CMD_DO_SET_MODE).unwrap();
    assert_eq!((l.param2, l.param3), (6.0, 0.0));
}

/// Uploads `items` as a mission and returns the MISSION_ITEM_INTs sent.
fn upload_mission(
    c: &mut LinkCore,
    t: Instant,
    items: Vec<vigie_protocols::api::MissionItem>,
) -> Vec<mavlink::dialects::ardupilotmega::MISSION_ITEM_INT_DATA> {
    ack_everything(c, t, addr(5000));
    c.command(t, WALL, PRIMARY, &DroneCommand::Mission { items })
        .unwrap();
    let (tx, _) = drain(c);
    let count = decoded(&tx)
        .into_iter()
        .find_map(|(_, m)| match m {
            MavMessage::MISSION_COUNT(n) => Some(n.count),
            _ => None,
        })
        .unwrap();
    let mut out = Vec::new();
    for seq in 0..count {
        let req = MavMessage::MISSION_REQUEST_INT(MISSION_REQUEST_INT_DATA {
            seq,
            target_system: 255,
            target_component: 190,
            mission_type: MavMissionType::MAV_MISSION_TYPE_MISSION,
        });
        c.handle_bytes(t, WALL, addr(5000), &frame(7, 1, &req, None));
        let (tx, _) = drain(c);
        out.extend(decoded(&tx).into_iter().filter_map(|(_, m)| match m {
            MavMessage::MISSION_ITEM_INT(i) => Some(i),
            _ => None,
        }));
    }
    out
}

#[test]
fn px4_missions_have_no_arducopter_home_placeholder() {
    use vigie_protocols::api::MissionItem;
    let t0 = Instant::now();
    let wp = MissionItem::Waypoint {
        lat_deg: 48.92,
        lon_deg: 2.36,
        alt_m: 30.0,
        hold_s: 0.0,
    };
    let mut px4 = core(None);
    px4.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &px4_heartbeat(), None));
    let items = upload_mission(
        &mut px4,
        t0,
        vec![MissionItem::Takeoff { alt_m: 20.0 }, wp.clone()],
    );
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].command, MavCmd::MAV_CMD_NAV_TAKEOFF);
    assert!(
        items
            .iter()
            .all(|i| !(i.x == 0 && i.y == 0 && i.command == MavCmd::MAV_CMD_NAV_WAYPOINT))
    );
    let mut ap = core(None);
    ap.handle_bytes(t0, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    let items = upload_mission(&mut ap, t0, vec![wp]);
    assert_eq!(items.len(), 2, "ArduPilot's home item, then the waypoint");
    assert_eq!((items[0].x, items[0].y), (0, 0));
}

#[test]
fn the_malformed_counter_counts_bad_datagrams_not_byte_offsets() {
    let t0 = Instant::now();
    let counters: Arc<LinkCounters> = Arc::default();
    let mut c = LinkCore::new(settings(None), counters.clone());
    // One datagram of 200 junk bytes full of false start bytes.
    let junk: Vec<u8> = (0..200u32)
        .map(|i| {
            if i % 3 == 0 {
                0xFD
            } else {
                (i * 37 % 251) as u8
            }
        })
        .collect();
    c.handle_bytes(t0, WALL, addr(6666), &junk);
    assert_eq!(counters.malformed.load(Ordering::Relaxed), 1);
    // A good frame with junk around it: one bad input, one message.
    let mut mixed = junk.clone();
    mixed.extend(frame(7, 1, &heartbeat(false), None));
    mixed.extend(&junk);
    c.handle_bytes(t0, WALL, addr(5000), &mixed);
    assert_eq!(counters.malformed.load(Ordering::Relaxed), 2);
    assert_eq!(counters.messages.load(Ordering::Relaxed), 1);
    assert_eq!(c.keys(), vec![PRIMARY]);
}

#[test]
fn a_signing_warning_clears_once_rejections_stop() {
    let key = [3u8; 32];
    let t0 = Instant::now();
    let mut c = core(Some(key));
    let ts = signing::timestamp_from_unix_ms(WALL);
    c.handle_bytes(
        t0,
        WALL,
        addr(5000),
        &frame(7, 1, &heartbeat(false), Some((&key, ts))),
    );
    c.handle_bytes(
        t0,
        WALL,
        addr(5000),
        &frame(7, 1, &position(1.0, 1.0), None),
    );
    let signing_warned = |c: &LinkCore| {
        c.vehicle(PRIMARY)
            .unwrap()
            .warnings
            .iter()
            .any(|w| w.contains("signing"))
    };
    assert!(signing_warned(&c));
    // Signed traffic only, for longer than the warning's hold.
    let mut t = t0;
    let mut wall = WALL;
    while t < t0 + WARNING_HOLD + Duration::from_secs(2) {
        t += Duration::from_millis(500);
        wall += 500;
        let ts = signing::timestamp_from_unix_ms(wall);
        c.handle_bytes(
            t,
            wall,
            addr(5000),
            &frame(7, 1, &heartbeat(false), Some((&key, ts))),
        );
        c.handle_timeout(t, wall);
    }
    assert!(
        !signing_warned(&c),
        "{:?}",
        c.vehicle(PRIMARY).unwrap().warnings
    );
}

/// Found by the MAVLink pair harness (`simulations/tests/pairs.rs`): with
/// the vehicle's first HEARTBEAT lost, the ground knew the vehicle from its
/// telemetry only, took it for a generic autopilot and uploaded a mission
/// without ArduPilot's home item at seq 0. The vehicle took the first
/// waypoint as home, answered ACCEPTED, and flew an empty mission while the
/// operator was told "upload accepted".
#[test]
fn a_mission_waits_for_the_autopilots_heartbeat_that_says_how_to_lay_it_out() {
    let t0 = Instant::now();
    let mut c = core(None);
    c.start(t0);
    // The camera's heartbeat and telemetry first: the autopilot's
    // heartbeat was lost.
    let camera = MavMessage::HEARTBEAT(HEARTBEAT_DATA {
        custom_mode: 0,
        mavtype: MavType::MAV_TYPE_CAMERA,
        autopilot: MavAutopilot::MAV_AUTOPILOT_INVALID,
        base_mode: MavModeFlag::empty(),
        system_status: MavState::MAV_STATE_ACTIVE,
        mavlink_version: 3,
    });
    c.handle_bytes(t0, WALL, addr(5000), &frame(7, 100, &camera, None));
    c.handle_bytes(
        t0,
        WALL,
        addr(5000),
        &frame(7, 1, &position(48.9, 2.3), None),
    );
    assert_eq!(c.keys(), [PRIMARY], "the vehicle is known");
    drain(&mut c);
    let item = vigie_protocols::api::MissionItem::Waypoint {
        lat_deg: 48.9,
        lon_deg: 2.3,
        alt_m: 30.0,
        hold_s: 0.0,
    };
    for cmd in [
        DroneCommand::Mission {
            items: vec![item.clone()],
        },
        DroneCommand::DownloadMission,
    ] {
        let r = c.command(t0, WALL, PRIMARY, &cmd);
        let refusal = r.expect_err("refused until the autopilot is known");
        assert_eq!(refusal.outcome, CommandOutcome::Refused, "{refusal:?}");
        assert!(refusal.detail.contains("HEARTBEAT"), "{}", refusal.detail);
        let (sent, _) = drain(&mut c);
        assert!(
            decoded(&sent).iter().all(|(_, m)| !matches!(
                m,
                MavMessage::MISSION_COUNT(_) | MavMessage::MISSION_REQUEST_LIST(_)
            )),
            "nothing of the transfer sent"
        );
    }
    // A recall needs no layout: it goes out at once.
    assert!(c.command(t0, WALL, PRIMARY, &DroneCommand::Rtl).is_ok());
    // Once the heartbeat says ArduPilot, the upload carries home at seq 0.
    let t1 = t0 + Duration::from_millis(100);
    c.handle_bytes(t1, WALL, addr(5000), &frame(7, 1, &heartbeat(false), None));
    drain(&mut c);
    c.command(
        t1,
        WALL,
        PRIMARY,
        &DroneCommand::Mission { items: vec![item] },
    )
    .expect("sent");
    let (sent, _) = drain(&mut c);
    let count = decoded(&sent).into_iter().find_map(|(_, m)| match m {
        MavMessage::MISSION_COUNT(c) => Some(c.count),
        _ => None,
    });
    assert_eq!(count, Some(2), "home and the waypoint");
}
