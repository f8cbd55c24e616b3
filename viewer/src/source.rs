//! Where the moving part of the picture comes from. The viewer asks its
//! [`Source`] for a new [`Picture`] each frame and never knows more; adding
//! a source (the QUIC operator client once the patrol link lands, replay of
//! a recorded day) means adding a variant here and nothing else.
//!
//! - [`ScenarioSource`]: scripted units of a scenario file, on the
//!   scenario's clock (frozen for screenshots).
//! - [`LiveSource`]: polls a ground server's `GET /api/v1/units` over HTTP
//!   every 500 ms on a background thread, latest picture wins.
//! - Replay is not built yet: it needs the ground's coverage history.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use vigie_protocols::api::UnitList;

use crate::scenario::Scenario;
use crate::scene::Picture;

/// How often the live source asks the server for the picture.
pub const LIVE_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How long one live request may take before it counts as failed.
const LIVE_TIMEOUT: Duration = Duration::from_secs(2);
/// Smallest scenario time step between two pictures: units move smoothly
/// enough at 10 pictures per second and meshes are not rebuilt every frame.
const SCENARIO_PICTURE_STEP: Duration = Duration::from_millis(100);

/// The one place sources are chosen.
pub enum Source {
    /// Scripted units of a scenario file.
    Scenario(ScenarioSource),
    /// A ground server's live picture.
    Live(LiveSource),
}

impl Source {
    /// A new picture if one is due; `wall` is the time since the viewer
    /// started.
    pub fn poll(&mut self, wall: Duration) -> Option<Picture> {
        match self {
            Source::Scenario(s) => s.poll(wall),
            Source::Live(s) => s.poll(),
        }
    }

    /// One line for the status bar: what the source is and how it fares.
    pub fn describe(&self) -> String {
        match self {
            Source::Scenario(s) => format!(
                "scenario t={:.1}s{}",
                s.time.as_secs_f64(),
                if s.playing { "" } else { " (paused)" }
            ),
            Source::Live(s) => s.describe(),
        }
    }

    /// Pauses or resumes a scenario clock; live sources cannot pause.
    pub fn toggle_pause(&mut self) {
        if let Source::Scenario(s) = self {
            s.playing = !s.playing;
        }
    }
}

/// Scripted units of a scenario, on the scenario's own clock.
pub struct ScenarioSource {
    /// The scenario.
    scenario: Arc<Scenario>,
    /// Scenario time now.
    time: Duration,
    /// Whether scenario time follows wall time.
    playing: bool,
    /// Wall time of the previous poll.
    last_wall: Option<Duration>,
    /// Scenario time of the last picture handed out.
    emitted: Option<Duration>,
}

impl ScenarioSource {
    /// Starts at `at` since the scenario start; `playing = false` freezes
    /// the clock (screenshots).
    pub fn new(scenario: Arc<Scenario>, at: Duration, playing: bool) -> ScenarioSource {
        ScenarioSource {
            scenario,
            time: at,
            playing,
            last_wall: None,
            emitted: None,
        }
    }

    fn poll(&mut self, wall: Duration) -> Option<Picture> {
        if self.playing
            && let Some(last) = self.last_wall
        {
            self.time += wall.saturating_sub(last);
        }
        self.last_wall = Some(wall);
        let due = match self.emitted {
            None => true,
            Some(t) => self.time.abs_diff(t) >= SCENARIO_PICTURE_STEP,
        };
        due.then(|| {
            self.emitted = Some(self.time);
            self.scenario.picture_at(self.time)
        })
    }
}

/// What the polling thread hands to the viewer.
#[derive(Default)]
struct LiveSlot {
    /// The latest picture not yet taken; a newer one replaces it.
    latest: Option<Picture>,
    /// The last error, cleared by the next success.
    error: Option<String>,
    /// Pictures received so far.
    received: u64,
}

/// Polls `GET {base}/api/v1/units` on a background thread.
///
/// Bounded by design: one request in flight, one picture waiting (latest
/// wins, older ones are dropped). The thread stops when the source drops.
pub struct LiveSource {
    /// Server base URL, e.g. `http://127.0.0.1:8080`.
    base: String,
    /// Shared with the polling thread.
    slot: Arc<Mutex<LiveSlot>>,
    /// Set on drop to stop the thread.
    stop: Arc<AtomicBool>,
    /// The polling thread.
    thread: Option<JoinHandle<()>>,
}

impl LiveSource {
    /// Starts polling `base` (scheme, host and port), sending `token` as the
    /// operator's bearer token when given.
    pub fn start(base: &str, token: Option<String>) -> LiveSource {
        let base = base.trim_end_matches('/').to_owned();
        let slot = Arc::new(Mutex::new(LiveSlot::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let url = format!("{base}/api/v1/units");
        let thread = {
            let (slot, stop) = (slot.clone(), stop.clone());
            std::thread::Builder::new()
                .name("vigie-live".into())
                .spawn(move || poll_loop(&url, token.as_deref(), &slot, &stop))
                .map_err(|e| tracing::error!("cannot start the live polling thread: {e}"))
                .ok()
        };
        LiveSource {
            base,
            slot,
            stop,
            thread,
        }
    }

    fn poll(&mut self) -> Option<Picture> {
        self.slot.lock().ok()?.latest.take()
    }

    fn describe(&self) -> String {
        let Ok(slot) = self.slot.lock() else {
            return format!("live {}: polling thread failed", self.base);
        };
        match &slot.error {
            Some(e) => format!("live {}: {e}", self.base),
            None => format!("live {} ({} pictures)", self.base, slot.received),
        }
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn poll_loop(url: &str, token: Option<&str>, slot: &Mutex<LiveSlot>, stop: &AtomicBool) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(LIVE_TIMEOUT))
        .build()
        .into();
    while !stop.load(Ordering::Relaxed) {
        let mut request = agent.get(url);
        if let Some(b) = &bearer {
            request = request.header("Authorization", b);
        }
        let result = request
            .call()
            .and_then(|mut r| r.body_mut().read_json::<UnitList>());
        let Ok(mut s) = slot.lock() else { return };
        match result {
            Ok(list) => {
                s.latest = Some(Picture {
                    at_ms: list.at_ms,
                    units: list.units,
                    tracks: Vec::new(),
                });
                s.error = None;
                s.received += 1;
            }
            Err(e) => {
                let message = format!("cannot fetch {url}: {e} (is `vigie serve` running there?)");
                if s.error.as_deref() != Some(message.as_str()) {
                    tracing::warn!("{message}");
                }
                s.error = Some(message);
            }
        }
        drop(s);
        // Sleep in short steps so that dropping the source stops us quickly.
        let mut slept = Duration::ZERO;
        while slept < LIVE_POLL_INTERVAL && !stop.load(Ordering::Relaxed) {
            let step = Duration::from_millis(50);
            std::thread::sleep(step);
            slept += step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{ScriptedUnit, Waypoint};
    use crate::scene::Scene;
    use vigie_protocols::api::{UnitKind, UnitStatus};

    fn scenario() -> Arc<Scenario> {
        let wp = |e: f64, t_s: f64| Waypoint {
            east_m: e,
            north_m: 0.0,
            alt_m: 40.0,
            t_s,
        };
        Arc::new(Scenario {
            scene: Scene::empty("t", 48.9, 2.36, 100.0),
            units: vec![ScriptedUnit {
                id: "d".into(),
                name: None,
                kind: UnitKind::Drone,
                status: UnitStatus::Busy,
                battery_pct: Some(50.0),
                camera_fov_deg: [70.0, 50.0],
                gimbal_pitch_deg: -90.0,
                role: String::new(),
                looping: false,
                path: vec![wp(0.0, 0.0), wp(100.0, 100.0)],
            }],
        })
    }

    #[test]
    fn frozen_scenario_gives_one_picture_at_the_requested_time() {
        let mut s = ScenarioSource::new(scenario(), Duration::from_secs(50), false);
        let p = s.poll(Duration::ZERO).expect("first poll gives a picture");
        assert_eq!(p.at_ms, 50_000);
        assert!(
            s.poll(Duration::from_secs(5)).is_none(),
            "frozen: nothing new"
        );
    }

    #[test]
    fn playing_scenario_follows_wall_time_at_a_bounded_rate() {
        let mut s = ScenarioSource::new(scenario(), Duration::ZERO, true);
        assert!(s.poll(Duration::ZERO).is_some());
        assert!(s.poll(Duration::from_millis(16)).is_none(), "too soon");
        let p = s.poll(Duration::from_millis(2_000)).expect("due");
        assert_eq!(p.at_ms, 2_000);
    }

    /// A one-route HTTP server on loopback answering every request with
    /// `body`, for at most `requests` requests.
    #[allow(clippy::type_complexity)]
    fn serve(
        body: String,
        requests: usize,
    ) -> (u16, std::thread::JoinHandle<Vec<(String, String)>>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        let handle = std::thread::spawn(move || {
            let mut paths: Vec<(String, String)> = Vec::new();
            for stream in listener.incoming().take(requests) {
                let Ok(mut stream) = stream else { break };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                // Drain the headers, keeping the bearer token.
                let mut auth = String::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("authorization:") {
                        auth = v.trim().to_owned();
                    }
                }
                paths.push((path, auth));
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
            paths
        });
        (port, handle)
    }

    #[test]
    fn live_source_delivers_the_servers_units() {
        let list = UnitList {
            at_ms: 1_700_000_000_000,
            units: vec![vigie_protocols::api::Unit {
                id: "patrol-7".into(),
                kind: UnitKind::Patrol,
                status: UnitStatus::OnScene,
                name: None,
                position: None,
                last_seen_ms: None,
                source: "quic".into(),
                coverage: None,
                drone: None,
                patrol: None,
            }],
        };
        let body = serde_json::to_string(&list).expect("json");
        let (port, server) = serve(body, 2);
        let mut live = Source::Live(LiveSource::start(
            &format!("http://127.0.0.1:{port}/"),
            Some("vgt_test".into()),
        ));
        let mut got = None;
        for _ in 0..250 {
            if let Some(p) = live.poll(Duration::ZERO) {
                got = Some(p);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let p = got.expect("a picture within 5 s");
        assert_eq!(p.at_ms, list.at_ms);
        assert_eq!(p.units, list.units);
        assert!(
            live.describe().contains("1 pictures"),
            "{}",
            live.describe()
        );
        // Second poll after the interval, then stop the source.
        for _ in 0..100 {
            if live.poll(Duration::ZERO).is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(live);
        let paths = server.join().expect("server thread");
        assert!(
            paths
                .iter()
                .all(|(p, auth)| p == "/api/v1/units" && auth == "bearer vgt_test"),
            "{paths:?}"
        );
    }

    #[test]
    fn live_source_reports_an_unreachable_server() {
        // Bind then drop a listener: the port is very likely closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("ephemeral port");
        let mut live = Source::Live(LiveSource::start(&format!("http://127.0.0.1:{port}"), None));
        let mut saw_error = false;
        for _ in 0..100 {
            assert!(live.poll(Duration::ZERO).is_none());
            if live.describe().contains("cannot fetch") {
                saw_error = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(saw_error, "{}", live.describe());
    }
}
