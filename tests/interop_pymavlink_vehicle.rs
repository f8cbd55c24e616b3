//! Interop with software nobody here wrote, the other way round: a pymavlink
//! vehicle (tests/interop/pymavlink_vehicle.py, an ArduCopter look-alike)
//! talks to a real `vigie serve`. The ground must list it in
//! `GET /api/v1/units` with the telemetry the script sends, and commands
//! posted to `POST /api/v1/drones/{id}/commands` must come back with typed
//! results the vehicle decided (accepted, unsupported) while the vehicle
//! visibly obeys (mode, arming, climb, go-to).
//!
//! Needs python3 with pymavlink (scripts/test.sh installs it from
//! scripts/requirements-test.txt); skips with a message when either is
//! missing. Real time, short distances: about 20 s.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigie_protocols::api::{CommandOutcome, CommandResult, DroneCommand, Unit, UnitList};

/// Everything must be over by then.
const TIMEOUT: Duration = Duration::from_secs(90);
/// The vehicle's MAVLink system id.
const SYSID: u8 = 42;
/// Its home, degrees (fixed in the script's command line).
const HOME: (f64, f64) = (48.924_5, 2.360_2);
/// What the script reports (see its constants).
const BATTERY_PCT: f64 = 87.0;
const BATTERY_V: f64 = 15.2;
const SATELLITES: u8 = 14;
const YAW_DEG: f64 = 90.0;
const M_PER_DEG_LAT: f64 = 111_200.0;

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

impl Reaped {
    /// Everything the process wrote, once it is stopped.
    fn stop_and_read(&mut self) -> String {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let mut s = String::new();
        if let Some(out) = self.0.stdout.as_mut() {
            let _ = out.read_to_string(&mut s);
        }
        if let Some(err) = self.0.stderr.as_mut() {
            let _ = err.read_to_string(&mut s);
        }
        s
    }
}

/// A scratch directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free TCP port on loopback")
        .port()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port on loopback")
        .port()
}

/// Horizontal distance in metres between two WGS84 points close together.
fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let dn = (b.0 - a.0) * M_PER_DEG_LAT;
    let de = (b.1 - a.1) * M_PER_DEG_LAT * a.0.to_radians().cos();
    dn.hypot(de)
}

/// The running pair: server, vehicle, and how to reach the API.
struct Rig {
    base: String,
    /// `Authorization` header value of the pilot's token.
    bearer: String,
    unit_id: String,
    server: Reaped,
    vehicle: Reaped,
    start: Instant,
}

impl Rig {
    fn logs(&mut self) -> String {
        format!(
            "--- vigie serve ---\n{}\n--- pymavlink vehicle ---\n{}",
            self.server.stop_and_read(),
            self.vehicle.stop_and_read()
        )
    }

    /// Fails the test with both processes' output.
    fn fail(&mut self, why: String) -> ! {
        let logs = self.logs();
        panic!("{why}\n{logs}");
    }

    fn check_alive(&mut self) {
        if let Ok(Some(s)) = self.server.0.try_wait() {
            self.fail(format!("vigie serve exited early ({s})"));
        }
        if let Ok(Some(s)) = self.vehicle.0.try_wait() {
            self.fail(format!("the pymavlink vehicle exited early ({s})"));
        }
        if self.start.elapsed() > TIMEOUT {
            self.fail(format!("the test ran past {TIMEOUT:?}"));
        }
    }

    fn units(&self) -> Option<UnitList> {
        ureq::get(format!("{}/api/v1/units", self.base))
            .header("Authorization", &self.bearer)
            .call()
            .ok()?
            .body_mut()
            .read_json()
            .ok()
    }

    /// Polls the unit list until our drone satisfies `cond`, within `within`.
    fn wait_for(&mut self, what: &str, within: Duration, cond: impl Fn(&Unit) -> bool) -> Unit {
        let deadline = Instant::now() + within;
        let mut last = None;
        loop {
            self.check_alive();
            if let Some(list) = self.units() {
                last = list.units.into_iter().find(|u| u.id == self.unit_id);
                if let Some(u) = &last
                    && cond(u)
                {
                    return u.clone();
                }
            }
            if Instant::now() > deadline {
                self.fail(format!(
                    "waited {within:?} for {what}; last seen: {last:#?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn command(&mut self, command: DroneCommand) -> CommandResult {
        self.check_alive();
        let url = format!("{}/api/v1/drones/{}/commands", self.base, self.unit_id);
        let sent = ureq::post(&url)
            .header("Authorization", &self.bearer)
            .config()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(15)))
            .build()
            .send_json(&command);
        match sent {
            Ok(mut resp) => match resp.body_mut().read_json::<CommandResult>() {
                Ok(r) => r,
                Err(e) => self.fail(format!(
                    "{command:?}: the answer is not a CommandResult: {e}"
                )),
            },
            Err(e) => self.fail(format!("{command:?}: POST {url} failed: {e}")),
        }
    }

    fn expect(&mut self, command: DroneCommand, outcome: CommandOutcome) -> CommandResult {
        let r = self.command(command.clone());
        if r.outcome != outcome {
            self.fail(format!("{command:?} gave {r:?}, expected {outcome:?}"));
        }
        r
    }
}

#[test]
fn a_pymavlink_vehicle_is_seen_and_obeys_the_ground() {
    if let Err(why) = pymavlink_available() {
        common::skip::skip("a_pymavlink_vehicle_is_seen_and_obeys_the_ground", &why);
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = TempDir(std::env::temp_dir().join(format!(
        "vigie-interop-vehicle-{}-{}",
        std::process::id(),
        free_tcp_port()
    )));
    std::fs::create_dir_all(&dir.0).expect("a scratch directory");
    let http_port = free_tcp_port();
    let mav_port = free_udp_port();
    let config = dir.0.join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\n\
             [quic]\nlisten = \"127.0.0.1:0\"\n\n[mavlink]\nlink_loss_ms = 3000\n\n\
             [[mavlink.links]]\nname = \"interop\"\naddress = \"udpin:127.0.0.1:{mav_port}\"\n",
            data = dir.0.join("data").display().to_string(),
        ),
    )
    .expect("write the config");
    // A pilot's token, and a flight authorisation around home for this
    // drone, valid from an hour ago to an hour from now: without them the
    // ground refuses (tokens on the API, guardrails on the drone).
    let data = dir.0.join("data");
    let offline = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .expect("vigie runs");
        assert!(
            out.status.success(),
            "vigie {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let token = offline(&["token", "issue", "--name", "pilot", "--role", "pilot"]);
    let now = vigie_ground::time::unix_ms();
    let (lat, lon) = HOME;
    let perimeter = format!(
        "{},{};{},{};{},{};{},{}",
        lat - 0.01,
        lon - 0.01,
        lat - 0.01,
        lon + 0.01,
        lat + 0.01,
        lon + 0.01,
        lat + 0.01,
        lon - 0.01
    );
    offline(&[
        "authorisation",
        "add",
        "--purpose",
        "gatherings",
        "--service",
        "interop test",
        "--order-ref",
        "TEST-1",
        "--perimeter",
        &perimeter,
        "--from",
        &vigie_ground::time::rfc3339(now - 3_600_000),
        "--to",
        &vigie_ground::time::rfc3339(now + 3_600_000),
        "--max-cameras",
        "1",
        "--drone",
        &format!("drone:interop:{SYSID}"),
    ]);
    let server = Reaped(
        Command::new(env!("CARGO_BIN_EXE_vigie"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env("VIGIE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vigie serve starts"),
    );
    let vehicle = Reaped(
        Command::new("python3")
            .arg("-u")
            .arg(format!("{root}/tests/interop/pymavlink_vehicle.py"))
            .args(["--ground", &format!("127.0.0.1:{mav_port}")])
            .args(["--sysid", &SYSID.to_string()])
            .args(["--origin", &format!("{},{}", HOME.0, HOME.1)])
            .args(["--for", &TIMEOUT.as_secs().to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 starts"),
    );
    let mut rig = Rig {
        base: format!("http://127.0.0.1:{http_port}"),
        bearer: format!("Bearer {token}"),
        unit_id: format!("drone:interop:{SYSID}"),
        server,
        vehicle,
        start: Instant::now(),
    };

    // Seen, with the telemetry the script sends.
    let unit = rig.wait_for(
        "the vehicle with position, battery and GPS",
        Duration::from_secs(30),
        |u| {
            u.drone.as_ref().is_some_and(|d| {
                d.battery_pct.is_some()
                    && d.satellites.is_some()
                    && d.home.is_some()
                    && d.attitude_deg.is_some()
            }) && u.position.is_some()
        },
    );
    let d = unit.drone.clone().unwrap_or_default();
    let Some(pos) = unit.position else {
        rig.fail(format!("no position: {unit:#?}"));
    };
    let checks = [
        (
            distance_m(HOME, (pos.lat_deg, pos.lon_deg)) < 0.05,
            "position at the script's home",
        ),
        (
            pos.alt_rel_m.is_some_and(|a| a.abs() < 0.01),
            "on the ground",
        ),
        (
            d.home
                .as_ref()
                .is_some_and(|h| distance_m(HOME, (h.lat_deg, h.lon_deg)) < 0.05),
            "home at the script's home",
        ),
        (d.autopilot == "ardupilot", "autopilot ardupilot"),
        (d.mode == "STABILIZE", "mode STABILIZE"),
        (!d.armed, "disarmed"),
        (d.system_status == "STANDBY", "status STANDBY"),
        (d.link_state == "up", "link up"),
        (d.battery_pct == Some(BATTERY_PCT), "battery 87 %"),
        (
            d.battery_v.is_some_and(|v| (v - BATTERY_V).abs() < 0.01),
            "battery 15.2 V",
        ),
        (d.gps_fix.as_deref() == Some("3D_FIX"), "GPS 3D fix"),
        (d.satellites == Some(SATELLITES), "14 satellites"),
        (
            d.attitude_deg.is_some_and(|a| (a[2] - YAW_DEG).abs() < 0.1),
            "yaw 90 degrees",
        ),
    ];
    for (ok, what) in checks {
        if !ok {
            rig.fail(format!("telemetry wrong: expected {what}, got {unit:#?}"));
        }
    }

    // Commands the vehicle accepts, and their visible effect.
    rig.expect(
        DroneCommand::SetMode {
            mode: "GUIDED".into(),
        },
        CommandOutcome::Accepted,
    );
    rig.expect(DroneCommand::Arm, CommandOutcome::Accepted);
    rig.wait_for("GUIDED and armed", Duration::from_secs(5), |u| {
        u.drone
            .as_ref()
            .is_some_and(|d| d.armed && d.mode == "GUIDED" && d.system_status == "ACTIVE")
    });
    rig.expect(
        DroneCommand::Takeoff { alt_m: 10.0 },
        CommandOutcome::Accepted,
    );
    rig.wait_for("the climb to 10 m", Duration::from_secs(15), |u| {
        u.position
            .as_ref()
            .and_then(|p| p.alt_rel_m)
            .is_some_and(|a| (a - 10.0).abs() < 0.5)
    });
    let target = (
        HOME.0 + 60.0 / M_PER_DEG_LAT,
        HOME.1 + 40.0 / (M_PER_DEG_LAT * HOME.0.to_radians().cos()),
    );
    rig.expect(
        DroneCommand::Goto {
            lat_deg: target.0,
            lon_deg: target.1,
            alt_m: 12.0,
            speed_m_s: None,
        },
        CommandOutcome::Accepted,
    );
    rig.wait_for(
        "the vehicle at the go-to target",
        Duration::from_secs(20),
        |u| {
            u.position.as_ref().is_some_and(|p| {
                distance_m(target, (p.lat_deg, p.lon_deg)) < 1.0
                    && p.alt_rel_m.is_some_and(|a| (a - 12.0).abs() < 0.5)
            })
        },
    );

    // A command ArduCopter does not implement: the vehicle's answer, typed.
    let orbit = rig.expect(
        DroneCommand::Orbit {
            lat_deg: target.0,
            lon_deg: target.1,
            alt_m: 12.0,
            radius_m: 20.0,
            speed_m_s: None,
        },
        CommandOutcome::Unsupported,
    );
    assert_eq!(
        orbit.attempts, 1,
        "an explicit answer is not retried: {orbit:?}"
    );

    // A refusal stays a refusal: disarming in flight is denied.
    rig.expect(DroneCommand::Disarm, CommandOutcome::Denied);
    rig.expect(DroneCommand::Land, CommandOutcome::Accepted);
    rig.wait_for("landed and disarmed", Duration::from_secs(15), |u| {
        u.drone
            .as_ref()
            .is_some_and(|d| !d.armed && d.mode == "LAND")
            && u.position
                .as_ref()
                .and_then(|p| p.alt_rel_m)
                .is_some_and(|a| a.abs() < 0.1)
    });
    let logs = rig.logs();
    println!("{logs}");
}
