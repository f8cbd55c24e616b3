//! The ground's whole MAVLink ingest path as one function of arbitrary
//! bytes, so that the `mavlink_ingest` fuzz target (fuzz/) and a seeded unit
//! test run in CI exercise exactly the same code.
//!
//! [`ingest_everything`] plays `data` through the paths a hostile or broken
//! peer reaches: datagrams into a [`LinkCore`] (plain and signed link, from
//! two addresses so duplicate system ids are hit), commands and a mission
//! upload in flight while the answers arrive, link loss and retries on
//! virtual time, publication of every vehicle as a unit (footprints
//! included), and the TCP stream reassembly cut into chunks whose sizes come
//! from `data` itself. It must never panic, and checks the invariants that
//! bound memory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use vigie_protocols::api::{DroneCommand, MissionItem};

use super::link::{LinkCore, LinkEvent, LinkSettings, MAX_OUTBOX};
use super::wire::{self, StreamBuffer};
use crate::frame::LocalFrame;
use crate::metrics::LinkCounters;

/// The signing key of the signed link the ingest body runs (test inputs
/// signed with it pass verification).
pub const FUZZ_SIGNING_KEY: [u8; 32] = [7; 32];
/// Wall clock of the ingest body, Unix milliseconds.
pub const FUZZ_WALL_MS: i64 = 1_750_000_000_000;
/// Vehicles per run that get a command and a mission upload.
const COMMANDED: usize = 8;

fn settings(signed: bool) -> LinkSettings {
    LinkSettings {
        name: "fuzz".into(),
        system_id: 255,
        component_id: 190,
        link_loss: Duration::from_secs(3),
        signing_key: signed.then_some(FUZZ_SIGNING_KEY),
        signing_reservation: 0,
        default_peer: None,
    }
}

/// Drains what the core produced, publishing changed vehicles as units.
fn drain(core: &mut LinkCore, now: Instant, wall_ms: i64, frame: &LocalFrame) {
    while let Some(ev) = core.poll_event() {
        if let LinkEvent::Changed(key) = ev {
            let _ = core.unit(key, now, wall_ms, frame, 35.0);
        }
    }
    let mut sent = 0;
    while core.poll_transmit().is_some() {
        sent += 1;
    }
    assert!(sent <= MAX_OUTBOX, "the outbox grew past its bound: {sent}");
}

/// How much of the path an input reached (so tests can tell a body that
/// decodes from one that rejects everything).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reached {
    /// Messages decoded and applied on the datagram path.
    pub messages: u64,
    /// Vehicles the datagram path ended up tracking.
    pub vehicles: usize,
}

/// Plays `data` through every ingest path (see the module doc). The first
/// byte chooses a plain (even) or signed (odd) link.
pub fn ingest_everything(data: &[u8]) -> Reached {
    let Some((&mode, body)) = data.split_first() else {
        return Reached::default();
    };
    let reached = datagrams(mode & 1 == 1, body);
    stream(body);
    reached
}

/// The UDP path: the whole input as datagrams, twice from one address and
/// once from another, with commands in flight and time passing.
fn datagrams(signed: bool, data: &[u8]) -> Reached {
    let frame = LocalFrame::new(48.924_459, 2.360_164);
    let counters = Arc::new(LinkCounters::default());
    let mut core = LinkCore::new(settings(signed), counters.clone());
    let a = SocketAddr::from(([127, 0, 0, 1], 14_551));
    let b = SocketAddr::from(([127, 0, 0, 1], 14_552));
    let t0 = Instant::now();
    let mut wall = FUZZ_WALL_MS;
    core.handle_bytes(t0, wall, a, data);
    drain(&mut core, t0, wall, &frame);

    // Commands and a transfer in flight, so acks and mission messages in the
    // input meet something to answer.
    let mut now = t0 + Duration::from_millis(10);
    wall += 10;
    for key in core.keys().into_iter().take(COMMANDED) {
        let goto = DroneCommand::Goto {
            lat_deg: 48.925,
            lon_deg: 2.361,
            alt_m: 30.0,
            speed_m_s: None,
        };
        let _ = core.command(now, wall, key, &goto);
        let mission = DroneCommand::Mission {
            items: vec![
                MissionItem::Takeoff { alt_m: 20.0 },
                MissionItem::Waypoint {
                    lat_deg: 48.926,
                    lon_deg: 2.362,
                    alt_m: 25.0,
                    hold_s: 0.0,
                },
            ],
        };
        let _ = core.command(now, wall, key, &mission);
    }
    drain(&mut core, now, wall, &frame);

    for (step_ms, from) in [(50, a), (50, b), (2_000, a), (5_000, b)] {
        now += Duration::from_millis(step_ms);
        wall += step_ms as i64;
        core.handle_bytes(now, wall, from, data);
        drain(&mut core, now, wall, &frame);
        if core.poll_timeout().is_some_and(|t| t <= now) {
            core.handle_timeout(now, wall);
            drain(&mut core, now, wall, &frame);
        }
    }
    // Long silence: link loss and every retry running out.
    for _ in 0..8 {
        now += Duration::from_secs(2);
        wall += 2_000;
        core.handle_timeout(now, wall);
        drain(&mut core, now, wall, &frame);
    }
    Reached {
        messages: counters.messages.load(Ordering::Relaxed),
        vehicles: core.keys().len(),
    }
}

/// The TCP path: the input cut into chunks (sizes from the data) through
/// the stream reassembly. Chunking must not change what is decoded.
fn stream(data: &[u8]) {
    let frame = LocalFrame::new(48.924_459, 2.360_164);
    let mut core = LinkCore::new(settings(false), Arc::default());
    let peer = SocketAddr::from(([127, 0, 0, 1], 5_760));
    let now = Instant::now();
    let count_ok = |run: &[u8]| wire::frames(run).filter(Result::is_ok).count();

    let mut whole = StreamBuffer::default();
    let mut expected = 0;
    whole.push(data, |run| expected += count_ok(run));

    let mut chunked = StreamBuffer::default();
    let mut got = 0;
    let mut rest = data;
    while let Some(&size) = rest.first() {
        let cut = (usize::from(size) % 64 + 1).min(rest.len());
        chunked.push(&rest[..cut], |run| {
            got += count_ok(run);
            core.handle_bytes(now, FUZZ_WALL_MS, peer, run);
        });
        assert!(
            chunked.buffered() <= wire::MAX_FRAME_LEN,
            "the stream buffer holds {} bytes, more than one frame",
            chunked.buffered()
        );
        drain(&mut core, now, FUZZ_WALL_MS, &frame);
        rest = &rest[cut..];
    }
    assert_eq!(
        got, expected,
        "cutting the stream into chunks changed the frames decoded"
    );
    assert_eq!(chunked.buffered(), whole.buffered());
}

#[cfg(test)]
mod tests {
    use super::*;
    use mavlink::MavHeader;
    use mavlink::dialects::ardupilotmega::*;
    use rand::{RngExt as _, SeedableRng as _};
    use rand_chacha::ChaCha8Rng;

    /// Messages a vehicle (or a camera) sends, to build valid inputs from.
    fn messages(rng: &mut ChaCha8Rng) -> Vec<(u8, MavMessage)> {
        let seq = rng.random_range(0..4u16);
        vec![
            (
                1,
                MavMessage::HEARTBEAT(HEARTBEAT_DATA {
                    custom_mode: rng.random_range(0..10),
                    mavtype: MavType::MAV_TYPE_QUADROTOR,
                    autopilot: MavAutopilot::MAV_AUTOPILOT_ARDUPILOTMEGA,
                    base_mode: MavModeFlag::from_bits_truncate(rng.random()),
                    system_status: MavState::MAV_STATE_ACTIVE,
                    mavlink_version: 3,
                }),
            ),
            (
                100,
                MavMessage::HEARTBEAT(HEARTBEAT_DATA {
                    mavtype: MavType::MAV_TYPE_CAMERA,
                    ..HEARTBEAT_DATA::default()
                }),
            ),
            (
                1,
                MavMessage::GLOBAL_POSITION_INT(GLOBAL_POSITION_INT_DATA {
                    time_boot_ms: rng.random(),
                    lat: rng.random(),
                    lon: rng.random(),
                    alt: rng.random(),
                    relative_alt: rng.random(),
                    vx: rng.random(),
                    vy: rng.random(),
                    vz: rng.random(),
                    hdg: rng.random(),
                }),
            ),
            (
                1,
                MavMessage::ATTITUDE(ATTITUDE_DATA {
                    roll: rng.random(),
                    pitch: f32::NAN,
                    yaw: rng.random(),
                    ..ATTITUDE_DATA::default()
                }),
            ),
            (
                1,
                MavMessage::SYS_STATUS(SYS_STATUS_DATA {
                    voltage_battery: rng.random(),
                    battery_remaining: rng.random(),
                    ..SYS_STATUS_DATA::default()
                }),
            ),
            (
                1,
                MavMessage::COMMAND_ACK(COMMAND_ACK_DATA {
                    command: MavCmd::MAV_CMD_DO_REPOSITION,
                    result: MavResult::MAV_RESULT_ACCEPTED,
                    ..COMMAND_ACK_DATA::default()
                }),
            ),
            (
                1,
                MavMessage::MISSION_REQUEST_INT(MISSION_REQUEST_INT_DATA {
                    seq,
                    ..MISSION_REQUEST_INT_DATA::default()
                }),
            ),
            (
                1,
                MavMessage::MISSION_ACK(MISSION_ACK_DATA {
                    mavtype: MavMissionResult::MAV_MISSION_ACCEPTED,
                    ..MISSION_ACK_DATA::default()
                }),
            ),
            (
                1,
                MavMessage::MISSION_COUNT(MISSION_COUNT_DATA {
                    count: seq,
                    ..MISSION_COUNT_DATA::default()
                }),
            ),
            (
                1,
                MavMessage::STATUSTEXT(STATUSTEXT_DATA {
                    text: "PreArm: fuzz".into(),
                    ..STATUSTEXT_DATA::default()
                }),
            ),
            (
                100,
                MavMessage::CAMERA_FOV_STATUS(CAMERA_FOV_STATUS_DATA {
                    lat_camera: 489_244_590,
                    lon_camera: 23_601_640,
                    alt_camera: 80_000,
                    q: [rng.random(), rng.random(), rng.random(), rng.random()],
                    hfov: rng.random_range(-10.0..200.0),
                    vfov: rng.random_range(-10.0..200.0),
                    ..CAMERA_FOV_STATUS_DATA::default()
                }),
            ),
            (
                100,
                MavMessage::GIMBAL_DEVICE_ATTITUDE_STATUS(GIMBAL_DEVICE_ATTITUDE_STATUS_DATA {
                    q: [rng.random(), f32::INFINITY, rng.random(), rng.random()],
                    ..GIMBAL_DEVICE_ATTITUDE_STATUS_DATA::default()
                }),
            ),
        ]
    }

    /// Valid frames (some signed with the fuzz key), then mutated.
    fn input(rng: &mut ChaCha8Rng) -> Vec<u8> {
        let mut data = vec![rng.random::<u8>()];
        if rng.random_range(0..5) == 0 {
            let n = rng.random_range(0..600);
            data.extend((0..n).map(|_| rng.random::<u8>()));
            return data;
        }
        let msgs = messages(rng);
        let signed = data[0] & 1 == 1;
        let n = rng.random_range(1..24);
        for i in 0..n {
            let (comp, msg) = &msgs[rng.random_range(0..msgs.len())];
            let header = MavHeader {
                system_id: rng.random_range(1..4),
                component_id: *comp,
                sequence: i as u8,
            };
            let sign = (signed && rng.random_range(0..8) != 0).then_some((
                &FUZZ_SIGNING_KEY,
                0,
                super::super::signing::timestamp_from_unix_ms(FUZZ_WALL_MS) + i as u64,
            ));
            wire::encode(&mut data, header, msg, sign);
        }
        for _ in 0..rng.random_range(0..4) {
            let len = data.len();
            if len < 2 {
                break;
            }
            match rng.random_range(0..5) {
                0 => {
                    let i = rng.random_range(1..len);
                    data[i] ^= 1 << rng.random_range(0..8);
                }
                1 => data.truncate(rng.random_range(1..=len)),
                2 => {
                    let i = rng.random_range(1..=len);
                    let junk: Vec<u8> = (0..rng.random_range(1..16))
                        .map(|_| [0xFD, 0xFE, rng.random()][rng.random_range(0..3)])
                        .collect();
                    data.splice(i..i, junk);
                }
                3 => {
                    let i = rng.random_range(1..len);
                    let j = rng.random_range(i..=len);
                    let copy = data[i..j].to_vec();
                    data.extend_from_slice(&copy);
                }
                _ => {
                    let i = rng.random_range(1..len);
                    data[i] = rng.random();
                }
            }
        }
        data
    }

    #[test]
    fn random_and_mutated_frames_never_break_the_ingest_path() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x4d41_564c);
        let (mut decoding, mut with_vehicles) = (0, 0);
        let runs = 2_000;
        for _ in 0..runs {
            let data = input(&mut rng);
            let reached = ingest_everything(&data);
            decoding += usize::from(reached.messages > 0);
            with_vehicles += usize::from(reached.vehicles > 0);
        }
        // Mutations must leave most inputs meaningful, or the test only
        // exercises the rejection paths.
        assert!(decoding > runs / 2, "{decoding} of {runs} inputs decoded");
        assert!(
            with_vehicles > runs / 3,
            "{with_vehicles} of {runs} made vehicles"
        );
    }

    #[test]
    fn valid_frames_reach_the_vehicle_state() {
        // The body is not vacuous: unmutated valid input makes vehicles.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let msgs = messages(&mut rng);
        let mut data = Vec::new();
        for (i, (comp, msg)) in msgs.iter().enumerate() {
            let header = MavHeader {
                system_id: 3,
                component_id: *comp,
                sequence: i as u8,
            };
            wire::encode(&mut data, header, msg, None);
        }
        let mut core = LinkCore::new(settings(false), Arc::default());
        let now = Instant::now();
        core.handle_bytes(now, FUZZ_WALL_MS, "127.0.0.1:1".parse().unwrap(), &data);
        assert_eq!(core.keys().len(), 1);
        let mut with_mode = vec![0];
        with_mode.extend_from_slice(&data);
        let reached = ingest_everything(&with_mode);
        // The same system id from a second address is a second vehicle.
        assert_eq!(reached.vehicles, 2);
        // Five passes of every message over the datagram path.
        assert_eq!(reached.messages, 5 * msgs.len() as u64);
    }
}
