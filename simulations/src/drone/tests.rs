//! Protocol tests of the simulated vehicle on the virtual clock: what a
//! ground station sees when it arms, takes off, flies, uploads missions and
//! fences, and asks for telemetry.

use std::time::{Duration, Instant};

use mavlink::dialects::ardupilotmega::*;
use mavlink::{Message, MessageData};

use super::autopilot::FlightMode;
use super::vehicle::{AUTOPILOT_COMPONENT, CAMERA_COMPONENT, VehicleConfig};
use super::virtual_clock::{Sent, VirtualClock};

const HOME: (f64, f64) = (48.924459, 2.360164);

fn world() -> (VirtualClock, usize) {
    let mut w = VirtualClock::new(Instant::now());
    let i = w.add(VehicleConfig::new(1, HOME.0, HOME.1));
    (w, i)
}

fn long(command: MavCmd, p: [f32; 7]) -> MavMessage {
    vigie_ground::drone::command::command_long(1, 1, command, p)
}

fn int(command: MavCmd, p: [f32; 4], lat: f64, lon: f64, alt: f32) -> MavMessage {
    MavMessage::COMMAND_INT(COMMAND_INT_DATA {
        param1: p[0],
        param2: p[1],
        param3: p[2],
        param4: p[3],
        x: (lat * 1e7).round() as i32,
        y: (lon * 1e7).round() as i32,
        z: alt,
        command,
        target_system: 1,
        target_component: 1,
        frame: MavFrame::MAV_FRAME_GLOBAL_RELATIVE_ALT,
        current: 0,
        autocontinue: 0,
    })
}

fn ack_of(sent: &[Sent], command: MavCmd) -> Option<MavResult> {
    sent.iter().find_map(|s| match &s.out.message {
        MavMessage::COMMAND_ACK(a) if a.command == command => Some(a.result),
        _ => None,
    })
}

fn texts(sent: &[Sent]) -> Vec<String> {
    sent.iter()
        .filter_map(|s| match &s.out.message {
            MavMessage::STATUSTEXT(t) => Some(t.text.to_str().unwrap_or("").to_string()),
            _ => None,
        })
        .collect()
}

fn last_position(sent: &[Sent]) -> Option<GLOBAL_POSITION_INT_DATA> {
    sent.iter().rev().find_map(|s| match &s.out.message {
        MavMessage::GLOBAL_POSITION_INT(p) => Some(p.clone()),
        _ => None,
    })
}

fn last_heartbeat(sent: &[Sent]) -> Option<HEARTBEAT_DATA> {
    sent.iter().rev().find_map(|s| match &s.out.message {
        MavMessage::HEARTBEAT(h) if s.out.component_id == AUTOPILOT_COMPONENT => Some(h.clone()),
        _ => None,
    })
}

fn guided_armed(w: &mut VirtualClock, i: usize) {
    let r = w.send(
        i,
        &long(MavCmd::MAV_CMD_DO_SET_MODE, [1.0, 4.0, 0., 0., 0., 0., 0.]),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_DO_SET_MODE),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
    let r = w.send(
        i,
        &long(
            MavCmd::MAV_CMD_COMPONENT_ARM_DISARM,
            [1.0, 0., 0., 0., 0., 0., 0.],
        ),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_COMPONENT_ARM_DISARM),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
}

fn airborne(w: &mut VirtualClock, i: usize, alt: f32) {
    guided_armed(w, i);
    let r = w.send(
        i,
        &long(MavCmd::MAV_CMD_NAV_TAKEOFF, [0., 0., 0., 0., 0., 0., alt]),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_NAV_TAKEOFF),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
    w.advance(Duration::from_secs_f32(alt / 2.5 + 8.0));
}

/// Latitude/longitude `east_m`, `north_m` from home.
fn offset(east_m: f64, north_m: f64) -> (f64, f64) {
    vigie_ground::frame::LocalFrame::new(HOME.0, HOME.1).to_wgs84(east_m, north_m)
}

fn dist_from(p: &GLOBAL_POSITION_INT_DATA, lat: f64, lon: f64) -> f64 {
    let f = vigie_ground::frame::LocalFrame::new(HOME.0, HOME.1);
    let (e1, n1) = f.to_local(f64::from(p.lat) / 1e7, f64::from(p.lon) / 1e7);
    let (e2, n2) = f.to_local(lat, lon);
    (e1 - e2).hypot(n1 - n2)
}

#[test]
fn heartbeats_say_arducopter_quadrotor_with_a_camera_at_1_hz() {
    let (mut w, _) = world();
    let sent = w.advance(Duration::from_secs(10));
    let hb: Vec<_> = sent
        .iter()
        .filter_map(|s| match &s.out.message {
            MavMessage::HEARTBEAT(h) => Some((s.out.component_id, h.clone())),
            _ => None,
        })
        .collect();
    let ap: Vec<_> = hb
        .iter()
        .filter(|(c, _)| *c == AUTOPILOT_COMPONENT)
        .collect();
    let cam: Vec<_> = hb.iter().filter(|(c, _)| *c == CAMERA_COMPONENT).collect();
    assert!((10..=11).contains(&ap.len()), "{}", ap.len());
    assert!((10..=11).contains(&cam.len()), "{}", cam.len());
    let h = &ap[0].1;
    assert_eq!(h.mavtype, MavType::MAV_TYPE_QUADROTOR);
    assert_eq!(h.autopilot, MavAutopilot::MAV_AUTOPILOT_ARDUPILOTMEGA);
    assert_eq!(h.custom_mode, 0, "STABILIZE at power-on");
    assert!(
        h.base_mode
            .contains(MavModeFlag::MAV_MODE_FLAG_CUSTOM_MODE_ENABLED)
    );
    assert!(
        !h.base_mode
            .contains(MavModeFlag::MAV_MODE_FLAG_SAFETY_ARMED)
    );
    assert_eq!(cam[0].1.mavtype, MavType::MAV_TYPE_CAMERA);
}

#[test]
fn arming_is_refused_without_gps_with_an_ack_and_a_reason() {
    let (mut w, i) = world();
    w.vehicle_mut(i).autopilot_mut().gps_fix = false;
    let r = w.send(
        i,
        &long(
            MavCmd::MAV_CMD_COMPONENT_ARM_DISARM,
            [1.0, 0., 0., 0., 0., 0., 0.],
        ),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_COMPONENT_ARM_DISARM),
        Some(MavResult::MAV_RESULT_FAILED)
    );
    assert!(
        texts(&r).iter().any(|t| t.contains("3D Fix")),
        "{:?}",
        texts(&r)
    );
    let r = w.send(
        i,
        &long(MavCmd::MAV_CMD_DO_SET_MODE, [1.0, 4.0, 0., 0., 0., 0., 0.]),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_DO_SET_MODE),
        Some(MavResult::MAV_RESULT_FAILED)
    );
    let sent = w.advance(Duration::from_secs(2));
    assert!(
        !last_heartbeat(&sent)
            .unwrap()
            .base_mode
            .contains(MavModeFlag::MAV_MODE_FLAG_SAFETY_ARMED)
    );
    let gps = sent.iter().find_map(|s| match &s.out.message {
        MavMessage::GPS_RAW_INT(g) => Some(g.fix_type),
        _ => None,
    });
    assert_eq!(gps, Some(GpsFixType::GPS_FIX_TYPE_NO_FIX));
    // With a fix back, arming works; a second arm is accepted and changes nothing.
    w.vehicle_mut(i).autopilot_mut().gps_fix = true;
    guided_armed(&mut w, i);
    let r = w.send(
        i,
        &long(
            MavCmd::MAV_CMD_COMPONENT_ARM_DISARM,
            [1.0, 0., 0., 0., 0., 0., 0.],
        ),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_COMPONENT_ARM_DISARM),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
    assert!(
        texts(&r).is_empty(),
        "no second 'Arming motors': {:?}",
        texts(&r)
    );
}

#[test]
fn takeoff_needs_guided_and_reaches_altitude_at_the_climb_rate() {
    let (mut w, i) = world();
    let r = w.send(
        i,
        &long(MavCmd::MAV_CMD_NAV_TAKEOFF, [0., 0., 0., 0., 0., 0., 20.0]),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_NAV_TAKEOFF),
        Some(MavResult::MAV_RESULT_FAILED)
    );
    guided_armed(&mut w, i);
    let r = w.send(
        i,
        &long(MavCmd::MAV_CMD_NAV_TAKEOFF, [0., 0., 0., 0., 0., 0., 20.0]),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_NAV_TAKEOFF),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
    let sent = w.advance(Duration::from_secs(8));
    let alt = last_position(&sent).unwrap().relative_alt;
    assert!(
        alt > 12_000 && alt < 19_500,
        "2.5 m/s climb caps the height after 8 s: {alt} mm"
    );
    let sent = w.advance(Duration::from_secs(6));
    let alt = last_position(&sent).unwrap().relative_alt;
    assert!((alt - 20_000).abs() < 300, "{alt} mm");
    let landed = sent.iter().rev().find_map(|s| match &s.out.message {
        MavMessage::EXTENDED_SYS_STATE(e) => Some(e.landed_state),
        _ => None,
    });
    assert_eq!(landed, Some(MavLandedState::MAV_LANDED_STATE_IN_AIR));
    let hb = last_heartbeat(&sent).unwrap();
    assert_eq!(hb.custom_mode, 4);
    assert!(
        hb.base_mode
            .contains(MavModeFlag::MAV_MODE_FLAG_SAFETY_ARMED)
    );
}

#[test]
fn reposition_flies_there_no_faster_than_cruise_speed() {
    let (mut w, i) = world();
    airborne(&mut w, i, 20.0);
    let (lat, lon) = offset(150.0, 150.0); // 212 m away
    let r = w.send(
        i,
        &int(
            MavCmd::MAV_CMD_DO_REPOSITION,
            [-1.0, 0., 0., f32::NAN],
            lat,
            lon,
            30.0,
        ),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_DO_REPOSITION),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
    let sent = w.advance(Duration::from_secs(20));
    let p = last_position(&sent).unwrap();
    assert!(
        dist_from(&p, lat, lon) > 5.0,
        "212 m at 10 m/s takes more than 20 s"
    );
    let sent = w.advance(Duration::from_secs(20));
    let p = last_position(&sent).unwrap();
    assert!(dist_from(&p, lat, lon) < 1.0, "{}", dist_from(&p, lat, lon));
    assert!((p.relative_alt - 30_000).abs() < 300);
    // SET_POSITION_TARGET_GLOBAL_INT moves it too.
    let (lat2, lon2) = offset(0.0, 50.0);
    w.send(
        i,
        &MavMessage::SET_POSITION_TARGET_GLOBAL_INT(SET_POSITION_TARGET_GLOBAL_INT_DATA {
            lat_int: (lat2 * 1e7) as i32,
            lon_int: (lon2 * 1e7) as i32,
            alt: 25.0,
            type_mask: PositionTargetTypemask::from_bits_truncate(0b0000_1111_1111_1000),
            target_system: 1,
            target_component: 1,
            coordinate_frame: MavFrame::MAV_FRAME_GLOBAL_RELATIVE_ALT,
            ..Default::default()
        }),
    );
    let sent = w.advance(Duration::from_secs(40));
    assert!(dist_from(&last_position(&sent).unwrap(), lat2, lon2) < 1.0);
}

fn item(
    seq: u16,
    command: MavCmd,
    lat: f64,
    lon: f64,
    alt: f32,
    mission_type: MavMissionType,
) -> MavMessage {
    MavMessage::MISSION_ITEM_INT(MISSION_ITEM_INT_DATA {
        seq,
        command,
        x: (lat * 1e7).round() as i32,
        y: (lon * 1e7).round() as i32,
        z: alt,
        frame: MavFrame::MAV_FRAME_GLOBAL_RELATIVE_ALT,
        target_system: 1,
        target_component: 1,
        autocontinue: 1,
        mission_type,
        ..Default::default()
    })
}

fn requested(sent: &[Sent]) -> Vec<u16> {
    sent.iter()
        .filter_map(|s| match &s.out.message {
            MavMessage::MISSION_REQUEST_INT(r) => Some(r.seq),
            _ => None,
        })
        .collect()
}

fn mission_ack(sent: &[Sent]) -> Option<MavMissionResult> {
    sent.iter().find_map(|s| match &s.out.message {
        MavMessage::MISSION_ACK(a) => Some(a.mavtype),
        _ => None,
    })
}

fn count(n: u16, mission_type: MavMissionType) -> MavMessage {
    MavMessage::MISSION_COUNT(MISSION_COUNT_DATA {
        count: n,
        target_system: 1,
        target_component: 1,
        mission_type,
        opaque_id: 0,
    })
}

#[test]
#[allow(deprecated)]
fn mission_upload_survives_repeats_and_out_of_order_items_then_downloads_and_flies() {
    let (mut w, i) = world();
    let m = MavMissionType::MAV_MISSION_TYPE_MISSION;
    let wp1 = offset(60.0, 0.0);
    let wp2 = offset(60.0, 60.0);
    let items = [
        item(0, MavCmd::MAV_CMD_NAV_WAYPOINT, 0.0, 0.0, 0.0, m),
        item(1, MavCmd::MAV_CMD_NAV_TAKEOFF, 0.0, 0.0, 15.0, m),
        item(2, MavCmd::MAV_CMD_NAV_WAYPOINT, wp1.0, wp1.1, 20.0, m),
        item(3, MavCmd::MAV_CMD_NAV_WAYPOINT, wp2.0, wp2.1, 20.0, m),
        item(4, MavCmd::MAV_CMD_NAV_RETURN_TO_LAUNCH, 0.0, 0.0, 0.0, m),
    ];
    assert_eq!(requested(&w.send(i, &count(5, m))), vec![0]);
    assert_eq!(requested(&w.send(i, &items[0])), vec![1]);
    // A repeat of item 0: ignored, item 1 asked again.
    assert_eq!(requested(&w.send(i, &items[0])), vec![1]);
    // Item 3 before 1: ignored, item 1 asked again.
    assert_eq!(requested(&w.send(i, &items[3])), vec![1]);
    assert_eq!(requested(&w.send(i, &items[1])), vec![2]);
    // Silence: the vehicle asks again by itself.
    let sent = w.advance(Duration::from_secs(2));
    assert_eq!(requested(&sent), vec![2]);
    assert_eq!(requested(&w.send(i, &items[2])), vec![3]);
    assert_eq!(requested(&w.send(i, &items[3])), vec![4]);
    let done = w.send(i, &items[4]);
    assert_eq!(
        mission_ack(&done),
        Some(MavMissionResult::MAV_MISSION_ACCEPTED)
    );
    assert_eq!(w.vehicle(i).stats().mission_items_ignored, 2);

    // Download, with requests out of order, repeated, and the deprecated
    // MISSION_REQUEST (answered with MISSION_ITEM).
    let r = w.send(
        i,
        &MavMessage::MISSION_REQUEST_LIST(MISSION_REQUEST_LIST_DATA {
            target_system: 1,
            target_component: 1,
            mission_type: m,
        }),
    );
    assert!(
        r.iter()
            .any(|s| matches!(&s.out.message, MavMessage::MISSION_COUNT(c) if c.count == 5)),
        "{r:?}"
    );
    for seq in [3u16, 1, 1, 0, 4, 2] {
        let r = w.send(
            i,
            &MavMessage::MISSION_REQUEST_INT(MISSION_REQUEST_INT_DATA {
                seq,
                target_system: 1,
                target_component: 1,
                mission_type: m,
            }),
        );
        match &r[0].out.message {
            MavMessage::MISSION_ITEM_INT(it) => {
                assert_eq!(it.seq, seq);
                if seq == 0 {
                    assert_eq!(it.x, (HOME.0 * 1e7).round() as i32, "item 0 is home");
                } else if let MavMessage::MISSION_ITEM_INT(sent) = &items[usize::from(seq)] {
                    assert_eq!((it.command, it.x, it.y), (sent.command, sent.x, sent.y));
                }
            }
            other => panic!("{other:?}"),
        }
    }
    let r = w.send(
        i,
        &MavMessage::MISSION_REQUEST(MISSION_REQUEST_DATA {
            seq: 2,
            target_system: 1,
            target_component: 1,
            mission_type: m,
        }),
    );
    match &r[0].out.message {
        MavMessage::MISSION_ITEM(it) => assert!((f64::from(it.x) - wp1.0).abs() < 1e-5),
        other => panic!("{other:?}"),
    }
    let r = w.send(
        i,
        &MavMessage::MISSION_REQUEST_INT(MISSION_REQUEST_INT_DATA {
            seq: 9,
            target_system: 1,
            target_component: 1,
            mission_type: m,
        }),
    );
    assert_eq!(
        mission_ack(&r),
        Some(MavMissionResult::MAV_MISSION_INVALID_SEQUENCE)
    );

    // Fly it: GUIDED, arm, MISSION_START.
    guided_armed(&mut w, i);
    let r = w.send(i, &long(MavCmd::MAV_CMD_MISSION_START, [0.0; 7]));
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_MISSION_START),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
    let sent = w.advance(Duration::from_secs(120));
    let reached: Vec<u16> = sent
        .iter()
        .filter_map(|s| match &s.out.message {
            MavMessage::MISSION_ITEM_REACHED(r) => Some(r.seq),
            _ => None,
        })
        .collect();
    assert_eq!(reached, vec![1, 2, 3, 4], "{:?}", texts(&sent));
    assert!(
        !w.vehicle(i).autopilot().armed(),
        "RTL item lands and disarms"
    );
    let (lat, lon, up) = w.vehicle(i).position();
    let f = vigie_ground::frame::LocalFrame::new(HOME.0, HOME.1);
    let (e, n) = f.to_local(lat, lon);
    assert!(e.hypot(n) < 2.5 && up < 0.1, "{e} {n} {up}");
}

#[test]
fn an_abandoned_upload_is_cancelled_after_retries() {
    let (mut w, i) = world();
    let m = MavMissionType::MAV_MISSION_TYPE_MISSION;
    w.send(i, &count(3, m));
    let sent = w.advance(Duration::from_secs(12));
    assert_eq!(requested(&sent), vec![0; 5]);
    assert_eq!(
        mission_ack(&sent),
        Some(MavMissionResult::MAV_MISSION_OPERATION_CANCELLED)
    );
    assert_eq!(w.vehicle(i).stats().uploads_timed_out, 1);
}

fn upload(
    w: &mut VirtualClock,
    i: usize,
    items: &[MavMessage],
    t: MavMissionType,
) -> Option<MavMissionResult> {
    w.send(i, &count(items.len() as u16, t));
    let mut last = Vec::new();
    for it in items {
        last = w.send(i, it);
    }
    mission_ack(&last)
}

fn fence_item(seq: u16, command: MavCmd, p1: f32, lat: f64, lon: f64) -> MavMessage {
    let mut m = item(
        seq,
        command,
        lat,
        lon,
        0.0,
        MavMissionType::MAV_MISSION_TYPE_FENCE,
    );
    if let MavMessage::MISSION_ITEM_INT(d) = &mut m {
        d.param1 = p1;
        d.frame = MavFrame::MAV_FRAME_GLOBAL;
    }
    m
}

#[test]
fn fence_breach_triggers_rtl_and_bad_fences_are_refused() {
    let (mut w, i) = world();
    let f = MavMissionType::MAV_MISSION_TYPE_FENCE;
    // A polygon with a vertex count that does not match: refused.
    let bad = [
        fence_item(
            0,
            MavCmd::MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            4.0,
            HOME.0,
            HOME.1,
        ),
        fence_item(
            1,
            MavCmd::MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            4.0,
            HOME.0 + 0.001,
            HOME.1,
        ),
        fence_item(
            2,
            MavCmd::MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            4.0,
            HOME.0,
            HOME.1 + 0.001,
        ),
    ];
    assert_eq!(
        upload(&mut w, i, &bad, f),
        Some(MavMissionResult::MAV_MISSION_INVALID_PARAM1)
    );
    // A 100 m inclusion circle around home and a small exclusion circle.
    let (xl, xo) = offset(-50.0, -50.0);
    let good = [
        fence_item(
            0,
            MavCmd::MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION,
            100.0,
            HOME.0,
            HOME.1,
        ),
        fence_item(1, MavCmd::MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION, 10.0, xl, xo),
    ];
    assert_eq!(
        upload(&mut w, i, &good, f),
        Some(MavMissionResult::MAV_MISSION_ACCEPTED)
    );
    airborne(&mut w, i, 20.0);
    let (lat, lon) = offset(200.0, 0.0);
    let r = w.send(
        i,
        &int(
            MavCmd::MAV_CMD_DO_REPOSITION,
            [-1.0, 0., 0., 0.],
            lat,
            lon,
            20.0,
        ),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_DO_REPOSITION),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
    let sent = w.advance(Duration::from_secs(20));
    assert!(
        texts(&sent).iter().any(|t| t.starts_with("Fence breach")),
        "{:?}",
        texts(&sent)
    );
    assert_eq!(last_heartbeat(&sent).unwrap().custom_mode, 6, "RTL");
    let p = last_position(&sent).unwrap();
    assert!(
        dist_from(&p, HOME.0, HOME.1) < 140.0,
        "turned back near the fence"
    );
    w.advance(Duration::from_secs(90));
    assert!(!w.vehicle(i).autopilot().armed(), "landed at home");
    // Downloading the fence returns what was sent.
    let r = w.send(
        i,
        &MavMessage::MISSION_REQUEST_LIST(MISSION_REQUEST_LIST_DATA {
            target_system: 1,
            target_component: 1,
            mission_type: f,
        }),
    );
    assert!(r.iter().any(|s| matches!(&s.out.message, MavMessage::MISSION_COUNT(c) if c.count == 2 && c.mission_type == f)));
}

#[test]
fn battery_reserve_triggers_rtl() {
    let (mut w, i) = world();
    airborne(&mut w, i, 20.0);
    let (lat, lon) = offset(300.0, 0.0);
    w.send(
        i,
        &int(
            MavCmd::MAV_CMD_DO_REPOSITION,
            [-1.0, 0., 0., 0.],
            lat,
            lon,
            20.0,
        ),
    );
    w.advance(Duration::from_secs(10));
    // Leave just over the 20 % reserve: about 20 s of flight.
    let b = &mut w.vehicle_mut(i).autopilot_mut().battery;
    b.consumed_mah = b.config.capacity_mah * 0.785;
    let sent = w.advance(Duration::from_secs(5));
    assert_eq!(last_heartbeat(&sent).unwrap().custom_mode, 4, "not yet");
    let sent = w.advance(Duration::from_secs(30));
    assert!(
        texts(&sent)
            .iter()
            .any(|t| t.starts_with("Battery reserve")),
        "{:?}",
        texts(&sent)
    );
    assert_eq!(w.vehicle(i).autopilot().mode(), FlightMode::Rtl);
    let status = sent.iter().rev().find_map(|s| match &s.out.message {
        MavMessage::BATTERY_STATUS(b) => Some(b.charge_state),
        _ => None,
    });
    assert_eq!(
        status,
        Some(MavBatteryChargeState::MAV_BATTERY_CHARGE_STATE_LOW)
    );
}

fn count_of(sent: &[Sent], component: u8, id: u32) -> usize {
    sent.iter()
        .filter(|s| s.out.component_id == component && s.out.message.message_id() == id)
        .count()
}

#[test]
fn message_intervals_are_honoured_and_requests_answered() {
    let (mut w, i) = world();
    let sent = w.advance(Duration::from_secs(10));
    let gpi = GLOBAL_POSITION_INT_DATA::ID;
    assert!((39..=41).contains(&count_of(&sent, 1, gpi)), "default 4 Hz");
    let r = w.send(
        i,
        &long(
            MavCmd::MAV_CMD_SET_MESSAGE_INTERVAL,
            [gpi as f32, 100_000.0, 0., 0., 0., 0., 0.],
        ),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_SET_MESSAGE_INTERVAL),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
    let att = ATTITUDE_DATA::ID;
    w.send(
        i,
        &long(
            MavCmd::MAV_CMD_SET_MESSAGE_INTERVAL,
            [att as f32, -1.0, 0., 0., 0., 0., 0.],
        ),
    );
    let sent = w.advance(Duration::from_secs(10));
    let n = count_of(&sent, 1, gpi);
    assert!((99..=101).contains(&n), "10 Hz for 10 s: {n}");
    assert_eq!(count_of(&sent, 1, att), 0, "disabled");
    assert!((9..=11).contains(&count_of(&sent, 1, HEARTBEAT_DATA::ID)));
    // Gaps between position messages are 100 ms.
    let times: Vec<Instant> = sent
        .iter()
        .filter(|s| s.out.message.message_id() == gpi)
        .map(|s| s.at)
        .collect();
    assert!(
        times
            .windows(2)
            .all(|p| p[1] - p[0] == Duration::from_millis(100))
    );
    // Back to the default with 0.
    w.send(
        i,
        &long(
            MavCmd::MAV_CMD_SET_MESSAGE_INTERVAL,
            [gpi as f32, 0.0, 0., 0., 0., 0., 0.],
        ),
    );
    assert_eq!(
        w.vehicle(i).message_interval(1, gpi),
        Some(Duration::from_millis(250))
    );
    // A message we cannot produce is denied.
    let r = w.send(
        i,
        &long(
            MavCmd::MAV_CMD_SET_MESSAGE_INTERVAL,
            [9999.0, 100_000.0, 0., 0., 0., 0., 0.],
        ),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_SET_MESSAGE_INTERVAL),
        Some(MavResult::MAV_RESULT_DENIED)
    );

    // REQUEST_MESSAGE to the camera: ACK then CAMERA_INFORMATION from 100.
    let mut req = long(
        MavCmd::MAV_CMD_REQUEST_MESSAGE,
        [CAMERA_INFORMATION_DATA::ID as f32, 0., 0., 0., 0., 0., 0.],
    );
    if let MavMessage::COMMAND_LONG(c) = &mut req {
        c.target_component = CAMERA_COMPONENT;
    }
    let r = w.send(i, &req);
    let ack_at = r
        .iter()
        .position(|s| matches!(s.out.message, MavMessage::COMMAND_ACK(_)))
        .unwrap();
    let info_at = r
        .iter()
        .position(|s| matches!(s.out.message, MavMessage::CAMERA_INFORMATION(_)))
        .unwrap();
    assert!(ack_at < info_at);
    assert_eq!(r[info_at].out.component_id, CAMERA_COMPONENT);
    assert_eq!(r[ack_at].out.component_id, CAMERA_COMPONENT);
    let r = w.send(
        i,
        &long(
            MavCmd::MAV_CMD_REQUEST_MESSAGE,
            [
                VIDEO_STREAM_INFORMATION_DATA::ID as f32,
                1.,
                0.,
                0.,
                0.,
                0.,
                0.,
            ],
        ),
    );
    assert!(r.iter().any(|s| matches!(&s.out.message, MavMessage::VIDEO_STREAM_INFORMATION(v) if v.uri.to_str().unwrap().starts_with("rtsp://"))));
    let r = w.send(
        i,
        &long(
            MavCmd::MAV_CMD_REQUEST_MESSAGE,
            [AUTOPILOT_VERSION_DATA::ID as f32, 0., 0., 0., 0., 0., 0.],
        ),
    );
    assert!(
        r.iter()
            .any(|s| matches!(s.out.message, MavMessage::AUTOPILOT_VERSION(_)))
    );
    // An unknown command is unsupported.
    let r = w.send(i, &long(MavCmd::MAV_CMD_DO_PARACHUTE, [0.0; 7]));
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_DO_PARACHUTE),
        Some(MavResult::MAV_RESULT_UNSUPPORTED)
    );
}

#[test]
fn gimbal_roi_and_orbit_show_in_camera_telemetry() {
    let (mut w, i) = world();
    airborne(&mut w, i, 30.0);
    let r = w.send(
        i,
        &long(
            MavCmd::MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW,
            [-90.0, 0.0, 0., 0., 0., 0., 0.],
        ),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
    let sent = w.advance(Duration::from_secs(3));
    let fov = sent.iter().rev().find_map(|s| match &s.out.message {
        MavMessage::CAMERA_FOV_STATUS(f) => Some(f.clone()),
        _ => None,
    });
    let fov = fov.unwrap();
    assert!((fov.hfov - 84.0).abs() < 1e-3);
    // Straight down: the image centre is under the camera.
    assert!(
        (fov.lat_image - fov.lat_camera).abs() < 20 && (fov.lon_image - fov.lon_camera).abs() < 20
    );
    assert!(
        sent.iter()
            .any(|s| matches!(s.out.message, MavMessage::GIMBAL_DEVICE_ATTITUDE_STATUS(_)))
    );

    let (lat, lon) = offset(30.0, 0.0);
    let r = w.send(
        i,
        &int(MavCmd::MAV_CMD_DO_SET_ROI_LOCATION, [0.0; 4], lat, lon, 0.0),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_DO_SET_ROI_LOCATION),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
    let sent = w.advance(Duration::from_secs(4));
    let fov = sent.iter().rev().find_map(|s| match &s.out.message {
        MavMessage::CAMERA_FOV_STATUS(f) => Some(f.clone()),
        _ => None,
    });
    let fov = fov.unwrap();
    let image = GLOBAL_POSITION_INT_DATA {
        lat: fov.lat_image,
        lon: fov.lon_image,
        ..Default::default()
    };
    assert!(dist_from(&image, lat, lon) < 1.0, "camera looks at the ROI");

    let r = w.send(
        i,
        &int(
            MavCmd::MAV_CMD_DO_ORBIT,
            [25.0, 5.0, 0.0, 1.0],
            HOME.0,
            HOME.1,
            30.0,
        ),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_DO_ORBIT),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
    let sent = w.advance(Duration::from_secs(20));
    let p = last_position(&sent).unwrap();
    let r = dist_from(&p, HOME.0, HOME.1);
    assert!((r - 25.0).abs() < 2.0, "{r}");
    // One turn of 157 m at 5 m/s then hover.
    let sent = w.advance(Duration::from_secs(40));
    assert!(
        texts(&sent).iter().any(|t| t == "Orbit complete"),
        "{:?}",
        texts(&sent)
    );
}

#[test]
#[allow(deprecated)]
fn set_mode_message_and_rtl_land_commands_change_modes() {
    let (mut w, i) = world();
    let r = w.send(
        i,
        &MavMessage::SET_MODE(SET_MODE_DATA {
            custom_mode: 5,
            target_system: 1,
            base_mode: MavModeFlag::MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
        }),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_DO_SET_MODE),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
    assert_eq!(w.vehicle(i).autopilot().mode(), FlightMode::Loiter);
    let r = w.send(
        i,
        &long(MavCmd::MAV_CMD_DO_SET_MODE, [1.0, 17.0, 0., 0., 0., 0., 0.]),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_DO_SET_MODE),
        Some(MavResult::MAV_RESULT_FAILED),
        "mode 17 not simulated"
    );
    airborne(&mut w, i, 10.0);
    let r = w.send(i, &long(MavCmd::MAV_CMD_NAV_LAND, [0.0; 7]));
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_NAV_LAND),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
    let sent = w.advance(Duration::from_secs(30));
    assert_eq!(last_heartbeat(&sent).unwrap().custom_mode, 9);
    assert!(!w.vehicle(i).autopilot().armed());
    assert!(texts(&sent).iter().any(|t| t.starts_with("Landed")));
}

#[test]
fn runs_are_deterministic() {
    let run = || {
        let (mut w, i) = world();
        airborne(&mut w, i, 15.0);
        let (lat, lon) = offset(40.0, -30.0);
        w.send(
            i,
            &int(
                MavCmd::MAV_CMD_DO_REPOSITION,
                [-1.0, 0., 0., 0.],
                lat,
                lon,
                20.0,
            ),
        );
        let sent = w.advance(Duration::from_secs(7));
        last_position(&sent).unwrap()
    };
    assert_eq!(run(), run());
}

fn param_values(sent: &[Sent]) -> Vec<(String, f32)> {
    sent.iter()
        .filter_map(|s| match &s.out.message {
            MavMessage::PARAM_VALUE(v) if s.out.component_id == AUTOPILOT_COMPONENT => {
                Some((v.param_id.to_str().unwrap_or("").to_string(), v.param_value))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn parameters_are_listed_read_and_set_and_a_set_changes_the_flight() {
    let (mut w, i) = world();
    let r = w.send(
        i,
        &MavMessage::PARAM_REQUEST_LIST(PARAM_REQUEST_LIST_DATA {
            target_system: 1,
            target_component: 1,
        }),
    );
    let listed = param_values(&r);
    assert_eq!(listed.len(), super::params::PARAMS.len());
    for name in ["FENCE_ENABLE", "RTL_ALT", "WPNAV_SPEED"] {
        assert!(listed.iter().any(|(n, _)| n == name), "{name} missing");
    }
    // Another vehicle's request is not ours to answer.
    let r = w.send(
        i,
        &MavMessage::PARAM_REQUEST_READ(PARAM_REQUEST_READ_DATA {
            param_index: -1,
            target_system: 9,
            target_component: 1,
            param_id: "RTL_ALT".into(),
        }),
    );
    assert!(param_values(&r).is_empty());
    let r = w.send(
        i,
        &MavMessage::PARAM_SET(PARAM_SET_DATA {
            param_value: 500.0,
            target_system: 1,
            target_component: 1,
            param_id: "WPNAV_SPEED".into(),
            param_type: MavParamType::MAV_PARAM_TYPE_REAL32,
        }),
    );
    assert_eq!(param_values(&r), vec![("WPNAV_SPEED".to_string(), 500.0)]);

    // 5 m/s instead of the default 10: 100 m takes over 15 s.
    airborne(&mut w, i, 20.0);
    let (lat, lon) = offset(0.0, 100.0);
    let r = w.send(
        i,
        &int(
            MavCmd::MAV_CMD_DO_REPOSITION,
            [-1.0, 0., 0., f32::NAN],
            lat,
            lon,
            20.0,
        ),
    );
    assert_eq!(
        ack_of(&r, MavCmd::MAV_CMD_DO_REPOSITION),
        Some(MavResult::MAV_RESULT_ACCEPTED)
    );
    let p = last_position(&w.advance(Duration::from_secs(15))).unwrap();
    assert!(
        dist_from(&p, lat, lon) > 10.0,
        "{}",
        dist_from(&p, lat, lon)
    );
    let p = last_position(&w.advance(Duration::from_secs(15))).unwrap();
    assert!(dist_from(&p, lat, lon) < 1.0, "{}", dist_from(&p, lat, lon));
}
