//! Where the moving part of the picture comes from. The viewer asks its
//! [`Source`] for a new [`Picture`] each frame and never knows more; adding
//! a source (the QUIC operator client once the patrol link lands, replay of
//! a recorded day) means adding a variant here and nothing else.
//!
//! - [`ScenarioSource`]: scripted units of a scenario file, on the
//!   scenario's clock (frozen for screenshots).
//! - [`LiveSource`]: a ground server's live picture on a background thread,
//!   latest picture wins: over QUIC as an operator client with an operator
//!   certificate (a snapshot, then deltas: [`LiveSource::start_quic`]), or by
//!   polling `GET /api/v1/units` over HTTP every 500 ms with an operator
//!   token ([`LiveSource::start`]).
//! - [`ReplaySource`]: a recorded day or drill (the ground's timeline) on a
//!   clock of its own that can pause, seek and run faster.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use vigie_protocols::api::UnitList;

use crate::scenario::Scenario;
use crate::scene::{GroundLayers, Picture};

/// How often the live source asks the server for the picture.
pub const LIVE_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Fewest time between two picture steps asked of a QUIC server.
pub const QUIC_PICTURE_INTERVAL: Duration = Duration::from_millis(200);
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
    /// A recorded period of a ground server's picture.
    Replay(ReplaySource),
    /// No moving units (plan mode): one empty picture, then nothing.
    Still {
        /// Whether the empty picture was handed out.
        sent: bool,
    },
}

impl Source {
    /// A new picture if one is due; `wall` is the time since the viewer
    /// started.
    pub fn poll(&mut self, wall: Duration) -> Option<Picture> {
        match self {
            Source::Scenario(s) => s.poll(wall),
            Source::Live(s) => s.poll(),
            Source::Replay(s) => s.poll(wall),
            Source::Still { sent } => (!std::mem::replace(sent, true)).then(Picture::default),
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
            Source::Replay(s) => s.describe(),
            Source::Still { .. } => "plan".to_owned(),
        }
    }

    /// Pauses or resumes a scenario or replay clock; live sources cannot
    /// pause.
    pub fn toggle_pause(&mut self) {
        match self {
            Source::Scenario(s) => s.playing = !s.playing,
            Source::Replay(s) => s.playing = !s.playing,
            Source::Live(_) | Source::Still { .. } => {}
        }
    }

    /// Moves a replay's clock by `delta_ms` (clamped to the recording).
    pub fn seek(&mut self, delta_ms: i64) {
        if let Source::Replay(s) = self {
            s.seek(delta_ms);
        }
    }

    /// Multiplies a replay's speed by `factor` (1/16x to 64x).
    pub fn scale_speed(&mut self, factor: f64) {
        if let Source::Replay(s) = self {
            s.speed = (s.speed * factor).clamp(1.0 / 16.0, 64.0);
        }
    }
}

/// A recorded period of the picture, on its own clock.
pub struct ReplaySource {
    /// The recording.
    replay: vigie_ground::timeline::Replay,
    /// First and last recorded instants, Unix ms.
    span: (i64, i64),
    /// Replay clock, Unix ms.
    time_ms: i64,
    /// Whether the clock runs.
    playing: bool,
    /// Replay seconds per wall second.
    speed: f64,
    /// Wall time of the previous poll.
    last_wall: Option<Duration>,
    /// Replay time of the last picture handed out; `None` forces one.
    emitted: Option<i64>,
}

impl ReplaySource {
    /// Replays `replay` from `start_ms` (clamped to the recording); `playing
    /// = false` freezes the clock (screenshots). `None` when nothing was
    /// recorded.
    pub fn new(
        replay: vigie_ground::timeline::Replay,
        start_ms: i64,
        playing: bool,
    ) -> Option<ReplaySource> {
        let span = replay.span()?;
        Some(ReplaySource {
            replay,
            span,
            time_ms: start_ms.clamp(span.0, span.1),
            playing,
            speed: 1.0,
            last_wall: None,
            emitted: None,
        })
    }

    /// The replay clock, Unix ms.
    pub fn time_ms(&self) -> i64 {
        self.time_ms
    }

    /// First and last recorded instants, Unix ms.
    pub fn span(&self) -> (i64, i64) {
        self.span
    }

    /// Times of the recording's keyframes, Unix ms.
    pub fn keyframes(&self) -> Vec<i64> {
        self.replay.keyframe_times()
    }

    /// Units changed per slice of the recording, in `bins` slices.
    pub fn activity(&self, bins: usize) -> Vec<u32> {
        self.replay.activity(bins)
    }

    /// Moves the clock to `at_ms` (clamped to the recording).
    pub fn seek_to(&mut self, at_ms: i64) {
        self.time_ms = at_ms.clamp(self.span.0, self.span.1);
        self.emitted = None;
    }

    /// Where the clock is in the recording, 0 at the start, 1 at the end.
    pub fn fraction(&self) -> f64 {
        let len = (self.span.1 - self.span.0).max(1) as f64;
        ((self.time_ms - self.span.0) as f64 / len).clamp(0.0, 1.0)
    }

    fn seek(&mut self, delta_ms: i64) {
        self.time_ms = self
            .time_ms
            .saturating_add(delta_ms)
            .clamp(self.span.0, self.span.1);
        self.emitted = None;
    }

    fn poll(&mut self, wall: Duration) -> Option<Picture> {
        if self.playing
            && let Some(last) = self.last_wall
        {
            let step = wall.saturating_sub(last).as_secs_f64() * 1000.0 * self.speed;
            self.time_ms = (self.time_ms + step as i64).min(self.span.1);
        }
        self.last_wall = Some(wall);
        let due = match self.emitted {
            None => true,
            Some(t) => {
                (self.time_ms - t).unsigned_abs() >= SCENARIO_PICTURE_STEP.as_millis() as u64
            }
        };
        due.then(|| {
            self.emitted = Some(self.time_ms);
            Picture {
                at_ms: self.time_ms,
                units: self.replay.picture_at(self.time_ms),
                tracks: Vec::new(),
                ground: None,
            }
        })
    }

    fn describe(&self) -> String {
        let offset_s = (self.time_ms - self.span.0) as f64 / 1000.0;
        let total_s = (self.span.1 - self.span.0) as f64 / 1000.0;
        format!(
            "replay {} UTC +{offset_s:.0}/{total_s:.0} s x{}{}",
            clock(self.time_ms),
            self.speed,
            if self.playing { "" } else { " (paused)" }
        )
    }
}

/// `HH:MM:SS` of a Unix time in ms, UTC.
fn clock(unix_ms: i64) -> String {
    let s = unix_ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
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

/// The ground's layers as last handed to the viewer, and the versions they
/// were copied at: a layer that did not change is handed on as the same
/// `Arc`, not copied again.
#[derive(Default)]
struct GroundCopy {
    /// Versions of the layers in `layers`.
    versions: Option<vigie_protocols::tablet::picture::LayerVersions>,
    /// The layers last handed on.
    layers: GroundLayers,
}

impl GroundCopy {
    /// The picture's layers, copying only those that changed.
    fn update(&mut self, picture: &vigie_protocols::tablet::picture::Picture) -> GroundLayers {
        let now = picture.layer_versions();
        let old = self.versions;
        if old.map(|v| v.cameras) != Some(now.cameras) {
            self.layers.cameras = Arc::new(picture.cameras().cloned().collect());
        }
        if old.map(|v| v.incidents) != Some(now.incidents) {
            self.layers.incidents = Arc::new(picture.incidents().cloned().collect());
        }
        if old.map(|v| v.masks) != Some(now.masks) {
            self.layers.privacy_masks = Arc::new(picture.privacy_masks().to_vec());
        }
        self.versions = Some(now);
        self.layers.clone()
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
    /// Follows the picture over QUIC from the server at `addr` with an
    /// operator client config (see `vigie_ground::patrol::client`),
    /// reconnecting with back-off when the link fails.
    pub fn start_quic(
        addr: std::net::SocketAddr,
        config: vigie_ground::patrol::ClientConfig,
    ) -> LiveSource {
        let slot = Arc::new(Mutex::new(LiveSlot::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (slot, stop) = (slot.clone(), stop.clone());
            let mut ground = GroundCopy::default();
            std::thread::Builder::new()
                .name("vigie-live-quic".into())
                .spawn(move || {
                    vigie_ground::operator::client::follow_picture_blocking(
                        addr,
                        config,
                        QUIC_PICTURE_INTERVAL,
                        &stop,
                        |picture| {
                            let Ok(mut s) = slot.lock() else { return };
                            s.latest = Some(Picture {
                                at_ms: picture.at_ms(),
                                units: picture.units().cloned().collect(),
                                tracks: Vec::new(),
                                ground: Some(ground.update(picture)),
                            });
                            s.error = None;
                            s.received += 1;
                        },
                        |e| {
                            let message = if e.is_permanent() {
                                e.to_string()
                            } else {
                                format!("{e} (retrying)")
                            };
                            tracing::warn!("live picture from {addr}: {message}");
                            if let Ok(mut s) = slot.lock() {
                                s.error = Some(message);
                            }
                        },
                    )
                })
                .map_err(|e| tracing::error!("cannot start the live picture thread: {e}"))
                .ok()
        };
        LiveSource {
            base: format!("quic://{addr}"),
            slot,
            stop,
            thread,
        }
    }

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
                    ground: None,
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
            units: vec![vigie_protocols::api::Unit::new(
                "patrol-7",
                UnitKind::Patrol,
                UnitStatus::OnScene,
                "quic",
            )],
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

    #[test]
    fn quic_live_source_follows_a_real_ground_server() {
        use vigie_ground::patrol::ca::{DEFAULT_UNIT_VALIDITY, DeploymentCa, Role, Validity};
        let dir = std::env::temp_dir().join(format!("vigie-viewer-quic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let config = vigie_ground::config::Config::loopback(dir.clone());
        let server = rt
            .block_on(vigie_ground::server::Server::start(config))
            .expect("server starts");
        let quic = server.state().listener("quic").expect("quic listener");
        let ca = DeploymentCa::open(&dir).expect("ca");
        let cert = ca
            .issue(
                "OPS7",
                Role::Operator,
                Validity::from_now(DEFAULT_UNIT_VALIDITY),
                Some(&server.state().store),
            )
            .expect("operator certificate");
        let certs = dir.join("certs");
        vigie_ground::patrol::ca::write_unit_files(&certs, "OPS7", &cert, ca.cert_pem())
            .expect("credentials written");
        let unit = |id: &str, status| {
            vigie_protocols::api::Unit::new(id, UnitKind::Patrol, status, "test")
        };
        server
            .state()
            .fleet
            .upsert(unit("P1", UnitStatus::Available));
        let config = vigie_ground::operator::client::load_client_config(&certs, "OPS7")
            .expect("credentials");
        let mut live = Source::Live(LiveSource::start_quic(quic, config));
        let wait_for = |live: &mut Source, want: UnitStatus| {
            for _ in 0..500 {
                if let Some(p) = live.poll(Duration::ZERO)
                    && p.units.iter().any(|u| u.id == "P1" && u.status == want)
                {
                    return p;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            panic!(
                "no picture with P1 {want:?} within 10 s: {}",
                live.describe()
            );
        };
        let first = wait_for(&mut live, UnitStatus::Available);
        assert_eq!(first.units.len(), 1, "the viewer itself is not a unit");
        server.state().fleet.upsert(unit("P1", UnitStatus::OnScene));
        wait_for(&mut live, UnitStatus::OnScene);
        // An incident reported to the ground reaches the viewer's scene.
        use vigie_ground::dispatch::incident::{
            Category, GeoPoint, Priority, Report, Source as From,
        };
        let reported = rt
            .block_on(server.state().dispatch.report(Report {
                category: Category::Fire,
                priority: Priority::Normal,
                location: GeoPoint {
                    lat_deg: 48.9245,
                    lon_deg: 2.3605,
                },
                source: From::Operator,
                reporter: "ops".into(),
                text: String::new(),
                observed_ms: 0,
            }))
            .expect("stored")
            .expect("new incident");
        let wanted = format!("incident:{}", reported.incident.id);
        let mut scene = None;
        for _ in 0..500 {
            if let Some(ground) = live.poll(Duration::ZERO).and_then(|p| p.ground) {
                let s = Scene::empty("live", 48.9245, 2.3602, 500.0).with_ground(&ground);
                if s.incidents.iter().any(|i| i.id == wanted) {
                    scene = Some(s);
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let scene = scene.expect("the incident in the live scene within 10 s");
        let incident = scene
            .incidents
            .iter()
            .find(|i| i.id == wanted)
            .expect("found");
        assert!(incident.title.contains("fire"), "{}", incident.title);
        assert!(
            (incident.position[0] - 22.0).abs() < 1.0,
            "{:?}",
            incident.position
        );
        assert!(
            live.describe().starts_with("live quic://"),
            "{}",
            live.describe()
        );
        drop(live);
        rt.block_on(server.stop()).expect("server stops");
    }

    #[test]
    fn replay_source_plays_seeks_and_scales_on_its_own_clock() {
        use vigie_ground::timeline::{Recorder, Replay};
        let unit = |status| vigie_protocols::api::Unit::new("P1", UnitKind::Patrol, status, "test");
        // 0-59 s available, 60-119 s on scene.
        let mut rec = Recorder::new(30_000);
        let mut steps = Vec::new();
        for t in 0..120i64 {
            let status = if t < 60 {
                UnitStatus::Available
            } else {
                UnitStatus::OnScene
            };
            steps.extend(rec.step(t * 1_000, &[unit(status)]));
        }
        let mut src =
            Source::Replay(ReplaySource::new(Replay::new(steps), 50_000, true).expect("recorded"));
        let status = |p: Picture| p.units[0].status;
        assert_eq!(
            status(src.poll(Duration::ZERO).unwrap()),
            UnitStatus::Available
        );
        // Ten wall seconds at 1x: 60 s, on scene.
        assert_eq!(
            status(src.poll(Duration::from_secs(10)).unwrap()),
            UnitStatus::OnScene
        );
        // Paused: the clock stays; seeking back still answers.
        src.toggle_pause();
        assert!(src.poll(Duration::from_secs(20)).is_none());
        src.seek(-30_000);
        let p = src.poll(Duration::from_secs(21)).unwrap();
        assert_eq!((p.at_ms, status(p)), (30_000, UnitStatus::Available));
        assert!(
            src.describe().contains("+30/90 s") && src.describe().contains("paused"),
            "{}",
            src.describe()
        );
        // Seeking is clamped to the recording; 4x speed.
        src.seek(-1_000_000);
        src.scale_speed(4.0);
        src.toggle_pause();
        src.poll(Duration::from_secs(21));
        let p = src.poll(Duration::from_secs(36)).unwrap();
        assert_eq!(p.at_ms, 60_000);
        assert_eq!(status(p), UnitStatus::OnScene);
        assert!(src.describe().contains("x4"), "{}", src.describe());
    }
}
