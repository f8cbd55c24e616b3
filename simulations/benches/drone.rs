//! Speed of the simulated drone, to size fleet tests.
//!
//! - `autopilot_step`: one flying vehicle's physics and autopilot step
//!   (50 Hz in the simulator), steps per second.
//! - `fleet_500_at_10hz`: 500 flying vehicles on the virtual clock with
//!   GLOBAL_POSITION_INT and ATTITUDE at 10 Hz (other streams at their
//!   defaults), one virtual second per iteration, each message encoded to
//!   MAVLink 2 bytes as the UDP driver would; throughput in messages/s.
//!
//! Run: `cargo bench -p vigie-sim --bench drone`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mavlink::MessageData;
use mavlink::dialects::ardupilotmega::*;
use vigie_sim::drone::autopilot::{Autopilot, AutopilotConfig, FlightMode, Orbit};
use vigie_sim::drone::link::Link;
use vigie_sim::drone::vehicle::VehicleConfig;
use vigie_sim::drone::virtual_clock::VirtualClock;

fn long(sysid: u8, command: MavCmd, p1: f32, p2: f32, p7: f32) -> MavMessage {
    MavMessage::COMMAND_LONG(COMMAND_LONG_DATA {
        param1: p1,
        param2: p2,
        param7: p7,
        command,
        target_system: sysid,
        target_component: 1,
        ..Default::default()
    })
}

fn orbit() -> Orbit {
    Orbit {
        center: (0.0, 0.0),
        radius_m: 40.0,
        clockwise: true,
        speed_mps: 8.0,
        alt_m: 30.0,
        turns: None,
    }
}

fn autopilot_step(c: &mut Criterion) {
    let mut ap = Autopilot::new(AutopilotConfig::default());
    ap.set_mode(FlightMode::Guided).unwrap();
    ap.arm(false).unwrap();
    ap.takeoff(30.0).unwrap();
    for _ in 0..1000 {
        ap.step(0.02);
    }
    ap.orbit(orbit()).unwrap();
    let mut g = c.benchmark_group("autopilot_step");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("1000_steps_orbiting", |b| {
        b.iter(|| {
            for _ in 0..1000 {
                ap.step(black_box(0.02));
            }
            ap.drain_events();
        })
    });
    g.finish();
}

fn fleet(c: &mut Criterion) {
    const N: usize = 500;
    let mut w = VirtualClock::new(Instant::now());
    let origin = (48.924459, 2.360164);
    let frame = vigie_ground::frame::LocalFrame::new(origin.0, origin.1);
    for k in 0..N {
        let (e, n) = vigie_sim::drone::grid_offset(k, N, 20.0);
        let (lat, lon) = frame.to_wgs84(e, n);
        w.add(VehicleConfig::new((k % 255 + 1) as u8, lat, lon));
    }
    for k in 0..N {
        let sysid = w.vehicle(k).system_id();
        for id in [GLOBAL_POSITION_INT_DATA::ID, ATTITUDE_DATA::ID] {
            w.send(
                k,
                &long(
                    sysid,
                    MavCmd::MAV_CMD_SET_MESSAGE_INTERVAL,
                    id as f32,
                    100_000.0,
                    0.0,
                ),
            );
        }
        w.send(k, &long(sysid, MavCmd::MAV_CMD_DO_SET_MODE, 1.0, 4.0, 0.0));
        w.send(
            k,
            &long(sysid, MavCmd::MAV_CMD_COMPONENT_ARM_DISARM, 1.0, 0.0, 0.0),
        );
        w.send(k, &long(sysid, MavCmd::MAV_CMD_NAV_TAKEOFF, 0.0, 0.0, 30.0));
    }
    w.advance(Duration::from_secs(20));
    for k in 0..N {
        let _ = w.vehicle_mut(k).autopilot_mut().orbit(orbit());
    }
    w.advance(Duration::from_secs(5));
    // Messages in one virtual second, for the throughput figure.
    let mut per_second = 0u64;
    w.advance_with(Duration::from_secs(1), |_| per_second += 1);
    let mut links: Vec<Link> = (0..N)
        .map(|k| Link::new((k % 255 + 1) as u8, None))
        .collect();
    let mut g = c.benchmark_group("fleet_500_at_10hz");
    g.sample_size(10);
    g.throughput(Throughput::Elements(per_second));
    let mut bytes = Vec::with_capacity(512);
    g.bench_function("one_virtual_second_encoded", |b| {
        b.iter(|| {
            let mut sent = 0u64;
            w.advance_with(Duration::from_secs(1), |s| {
                bytes.clear();
                links[usize::from(s.system_id) - 1].encode(&s.out, 0, &mut bytes);
                sent += bytes.len() as u64;
            });
            black_box(sent)
        })
    });
    g.finish();
    eprintln!("fleet_500_at_10hz: {per_second} messages per virtual second");
}

criterion_group!(benches, autopilot_step, fleet);
criterion_main!(benches);
