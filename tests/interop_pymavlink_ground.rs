//! Interop with software nobody here wrote: a pymavlink ground station
//! (tests/interop/pymavlink_ground.py) flies a `vigie sim drones` drone over
//! UDP: heartbeat, GUIDED, arm, takeoff, go-to, mission upload and
//! download, AUTO until the last waypoint, RTL.
//!
//! Needs python3 with pymavlink (scripts/test.sh installs it from
//! scripts/requirements-test.txt); skips with a message when either is
//! missing. Real time, short distances: about 30 s.

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Everything must be over by then.
const TIMEOUT: Duration = Duration::from_secs(120);

fn pymavlink_available() -> Result<(), String> {
    match Command::new("python3")
        .args(["-c", "import pymavlink"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Err(e) => Err(format!("python3 not runnable ({e})")),
        Ok(s) if !s.success() => {
            Err("python3 has no pymavlink (pip install -r scripts/requirements-test.txt)".into())
        }
        Ok(_) => Ok(()),
    }
}

/// Kills a child process when dropped, so a failing test leaves nothing behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn output_of(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(out) = child.stdout.as_mut() {
        let _ = out.read_to_string(&mut s);
    }
    if let Some(err) = child.stderr.as_mut() {
        let _ = err.read_to_string(&mut s);
    }
    s
}

#[test]
fn a_pymavlink_ground_station_flies_a_simulated_drone() {
    if let Err(why) = pymavlink_available() {
        common::skip::skip("a_pymavlink_ground_station_flies_a_simulated_drone", &why);
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    // A free loopback port for the pymavlink ground to listen on.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port on loopback")
        .port();
    let ground = format!("127.0.0.1:{port}");
    let mut script = Reaped(
        Command::new("python3")
            .arg("-u")
            .arg(format!("{root}/tests/interop/pymavlink_ground.py"))
            .args(["--listen", &ground])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 starts"),
    );
    let mut sim = Reaped(
        Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args([
                "sim", "drones", "--count", "1", "--ground", &ground, "--for", "110s",
            ])
            .env("VIGIE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vigie sim drones starts"),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = script.0.try_wait().expect("wait for python3") {
            break Some(status);
        }
        if start.elapsed() > TIMEOUT {
            break None;
        }
        if let Some(s) = sim.0.try_wait().expect("wait for vigie") {
            panic!(
                "vigie sim drones exited early ({s}):\n{}",
                output_of(&mut sim.0)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = output_of(&mut script.0);
    println!("{log}");
    match status {
        None => panic!("the pymavlink ground did not finish within {TIMEOUT:?}:\n{log}"),
        Some(s) => assert!(s.success(), "the pymavlink ground failed ({s}):\n{log}"),
    }
    assert!(log.contains("PASS"), "{log}");
}
