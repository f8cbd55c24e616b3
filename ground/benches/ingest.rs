//! MAVLink ingest: decode plus vehicle-state update, on one core.
//!
//! `cargo bench -p vigie-ground --bench ingest`
//!
//! Feeds a link core pre-encoded GLOBAL_POSITION_INT datagrams from 100
//! vehicles (one frame per datagram, as vehicles send them), after each
//! vehicle's heartbeat. Compared with the bare `mavlink` crate reader on the
//! same bytes.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mavlink::dialects::ardupilotmega::{
    GLOBAL_POSITION_INT_DATA, HEARTBEAT_DATA, MavAutopilot, MavMessage, MavModeFlag, MavState,
    MavType,
};
use vigie_ground::drone::link::{LinkCore, LinkSettings};
use vigie_ground::drone::wire;

const VEHICLES: u8 = 100;
const FRAMES: usize = 10_000;

fn encode(sys: u8, seq: u8, msg: &MavMessage) -> Vec<u8> {
    let mut b = Vec::new();
    wire::encode(&mut b, wire::header(sys, 1, seq), msg, None);
    b
}

fn position(i: usize) -> MavMessage {
    MavMessage::GLOBAL_POSITION_INT(GLOBAL_POSITION_INT_DATA {
        time_boot_ms: i as u32,
        lat: 489_244_590 + i as i32,
        lon: 23_601_640 - i as i32,
        alt: 95_000,
        relative_alt: 60_000,
        vx: 120,
        vy: -40,
        vz: 3,
        hdg: 9000,
    })
}

fn addr(sys: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 20_000 + sys as u16))
}

fn core() -> LinkCore {
    let mut core = LinkCore::new(
        LinkSettings {
            name: "udp0".into(),
            system_id: 255,
            component_id: 190,
            link_loss: std::time::Duration::from_secs(3),
            signing_key: None,
            signing_reservation: 0,
            default_peer: None,
        },
        Arc::default(),
    );
    let hb = MavMessage::HEARTBEAT(HEARTBEAT_DATA {
        custom_mode: 4,
        mavtype: MavType::MAV_TYPE_QUADROTOR,
        autopilot: MavAutopilot::MAV_AUTOPILOT_ARDUPILOTMEGA,
        base_mode: MavModeFlag::MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
        system_status: MavState::MAV_STATE_ACTIVE,
        mavlink_version: 3,
    });
    let now = Instant::now();
    for sys in 1..=VEHICLES {
        core.handle_bytes(now, 0, addr(sys), &encode(sys, 0, &hb));
    }
    while core.poll_transmit().is_some() {}
    while core.poll_event().is_some() {}
    core
}

fn ingest(c: &mut Criterion) {
    let frames: Vec<(SocketAddr, Vec<u8>)> = (0..FRAMES)
        .map(|i| {
            let sys = (i % VEHICLES as usize) as u8 + 1;
            (addr(sys), encode(sys, i as u8, &position(i)))
        })
        .collect();
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(FRAMES as u64));

    let mut link = core();
    let now = Instant::now();
    g.bench_function("link_core_global_position_int", |b| {
        b.iter(|| {
            for (from, bytes) in &frames {
                link.handle_bytes(now, 0, *from, bytes);
            }
            while link.poll_event().is_some() {}
        })
    });

    g.bench_function("wire_decode_only", |b| {
        b.iter(|| {
            for (_, bytes) in &frames {
                for f in wire::frames(bytes).flatten() {
                    black_box(f.decode().ok());
                }
            }
        })
    });

    let stream: Vec<u8> = frames.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    g.bench_function("mavlink_crate_reader", |b| {
        b.iter(|| {
            let mut r = mavlink::MavlinkReader::new(&stream[..]);
            for _ in 0..FRAMES {
                black_box(r.read_any_message::<MavMessage>().ok());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
