//! Video feeds in the server: each configured stream is received on its
//! UDP port (RTP/H.264, as QGroundControl's convention sends it), cut into
//! fragments by [`Feed`], and recorded and indexed by a [`Sink`] on a
//! thread of its own behind a bounded queue.
//!
//! Every fragment is stamped with the wall-clock span it shows and the
//! ground its source saw then (the live coverage index's footprint), so
//! the recordings index answers "who recorded this spot between 14:02 and
//! 14:10" to the second. A drone's fragments are recorded only under an
//! active flight authorisation that names it: otherwise they are dropped,
//! counted, and the refusal is written to the audit register once per
//! stretch. Audio never reaches the recorder: only the video payload type
//! of the stream is read.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::index::{NewFragment, NewSegment, Seen, hull};
use super::mp4::TIMESCALE;
use super::record::{Feed, FeedStats, WRITE_QUEUE, Write};
use crate::coverage::live::LiveCoverage;
use crate::coverage::{Network, SourceKind};
use crate::frame::LocalFrame;
use crate::guardrails::audit::{Actor, Audit, Entry};
use crate::store::Store;

/// Where a stream's wall clock is re-anchored: a fragment whose computed
/// end is further than this from its arrival (a sender that paused or
/// restarted its clock), milliseconds.
pub const REANCHOR_MS: i64 = 2_000;

/// The `[video]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VideoConfig {
    /// Where segment files are written; a relative path is under the data
    /// directory. Default `video`.
    pub dir: PathBuf,
    /// The streams taken in.
    pub streams: Vec<StreamConfig>,
    /// Take in the RTP/UDP stream a drone announces in
    /// `VIDEO_STREAM_INFORMATION` (`udp://0.0.0.0:5600`, as QGroundControl
    /// does) when no stream of the configuration names it. Off by default:
    /// a vehicle's message then opens a port on the ground.
    pub announced: bool,
    /// The ports an announced stream may use, inclusive.
    pub announced_ports: [u16; 2],
    /// The address announced streams are received on.
    pub announced_ip: std::net::IpAddr,
    /// Take in the camera of patrol and supervisor tablets that stream it
    /// over QUIC (protocol §10), recorded with their view sector. On by
    /// default.
    pub tablets: bool,
}

impl Default for VideoConfig {
    fn default() -> Self {
        VideoConfig {
            dir: PathBuf::from("video"),
            streams: Vec::new(),
            announced: false,
            announced_ports: [5600, 5699],
            announced_ip: std::net::IpAddr::from([127, 0, 0, 1]),
            tablets: true,
        }
    }
}

/// Receive buffer asked for each video socket: about 1.5 s of a 20 Mb/s
/// feed, so a burst (a keyframe, a sender catching up) is not lost to the
/// OS's default of a few hundred kilobytes. Linux caps it at
/// `net.core.rmem_max`.
pub const RECEIVE_BUFFER: usize = 4 << 20;

/// Binds a video stream's UDP socket with a receive buffer of
/// [`RECEIVE_BUFFER`] (or what the OS grants).
pub fn bind_udp(listen: std::net::SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    crate::drone::io::udp_socket_with(listen, RECEIVE_BUFFER)
}

/// The UDP port of a stream URI a drone announces (`udp://HOST:PORT`, the
/// RTP/UDP convention), if it is one.
pub fn announced_port(uri: &str) -> Option<u16> {
    let rest = uri.trim().strip_prefix("udp://")?;
    let hostport = rest.split(['/', '?']).next()?;
    let (_, port) = hostport.rsplit_once(':')?;
    port.parse().ok().filter(|p| *p != 0)
}

/// One stream (`[[video.streams]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// The source: a unit id of the picture (`drone:udp0:1`,
    /// `patrol:P001`) or a camera id of the inventory.
    pub source: String,
    /// Where its RTP arrives (`0.0.0.0:5600` is QGroundControl's
    /// convention; port 0 picks one, shown as listener `video:SOURCE`).
    pub listen: SocketAddr,
    /// What kind of source; by default from the id (`drone:` a drone,
    /// `patrol:` a tablet, anything else a fixed camera).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SourceKind>,
}

impl StreamConfig {
    /// The kind of source, given or from the id.
    pub fn kind(&self) -> SourceKind {
        self.kind.unwrap_or(if self.source.starts_with("drone:") {
            SourceKind::Drone
        } else if self.source.starts_with("patrol:") {
            SourceKind::Tablet
        } else {
            SourceKind::FixedCamera
        })
    }
}

impl VideoConfig {
    /// Checks sources and ports.
    pub fn validate(&self) -> Result<(), String> {
        let mut sources = std::collections::HashSet::new();
        let mut ports = std::collections::HashSet::new();
        for s in &self.streams {
            let id = s.source.trim();
            if id.is_empty() || id.len() > 200 || id != s.source {
                return Err(format!(
                    "video stream source {:?} must be a unit or camera id of 1 to 200 characters, without surrounding spaces",
                    s.source
                ));
            }
            if !sources.insert(id) {
                return Err(format!(
                    "video stream source {id:?} is given twice: one stream per source"
                ));
            }
            if s.listen.port() != 0 && !ports.insert(s.listen) {
                return Err(format!(
                    "video streams share {}: one port carries one stream",
                    s.listen
                ));
            }
        }
        let [lo, hi] = self.announced_ports;
        if lo == 0 || lo > hi {
            return Err(format!(
                "video.announced_ports = [{lo}, {hi}] must be two ports, the first not above the second"
            ));
        }
        Ok(())
    }

    /// The directory segment files go to.
    pub fn dir_in(&self, data_dir: &Path) -> PathBuf {
        if self.dir.is_absolute() {
            self.dir.clone()
        } else {
            data_dir.join(&self.dir)
        }
    }
}

/// Counters of one feed, for `/metrics`.
#[derive(Debug, Default)]
pub struct FeedCounters {
    /// RTP packets received (the feed's own).
    pub packets: AtomicU64,
    /// RTP packets never received.
    pub packets_lost: AtomicU64,
    /// Pictures (access units) taken in whole.
    pub frames: AtomicU64,
    /// Pictures dropped: broken by loss, or waiting for a keyframe.
    pub frames_lost: AtomicU64,
    /// Datagrams that were not this feed's RTP video.
    pub foreign: AtomicU64,
    /// Bytes written to segment files.
    pub bytes_recorded: AtomicU64,
    /// Fragments recorded and indexed.
    pub fragments_recorded: AtomicU64,
    /// Fragments dropped because the disk fell behind or failed.
    pub fragments_dropped: AtomicU64,
    /// Fragments not recorded because no authorisation allowed it.
    pub fragments_refused: AtomicU64,
    /// Live viewers now (gauge).
    pub viewers: AtomicU64,
    /// Pictures live viewers skipped because they fell behind.
    pub viewer_skipped: AtomicU64,
}

impl FeedCounters {
    fn update(&self, s: &FeedStats) {
        self.packets.store(s.packets.received, Ordering::Relaxed);
        self.packets_lost.store(s.packets.lost, Ordering::Relaxed);
        self.frames.store(s.units.units, Ordering::Relaxed);
        self.frames_lost
            .store(s.units.broken + s.units.skipped, Ordering::Relaxed);
        self.foreign.store(s.not_rtp + s.foreign, Ordering::Relaxed);
    }
}

/// What the recorder thread is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// A new segment begins with this init segment.
    Begin {
        /// When it began, Unix milliseconds.
        at_ms: i64,
        /// Its number in the feed (fragments name it).
        segment: u64,
        /// `ftyp` + `moov`.
        init: Vec<u8>,
        /// Picture size.
        size: (u32, u32),
    },
    /// A fragment.
    Fragment(FragmentJob),
}

/// The stream's clock: RTP time to wall-clock time, anchored on the first
/// fragment's arrival (it is cut when the next keyframe arrives, so its end
/// is its arrival), and again whenever the two drift apart by more than
/// [`REANCHOR_MS`].
#[derive(Debug, Default, Clone, Copy)]
pub struct WallClock {
    offset_ms: Option<i64>,
}

impl WallClock {
    /// The wall-clock span of a fragment of `duration` ticks starting at
    /// `start` ticks, cut at `now_ms`.
    pub fn span(&mut self, now_ms: i64, start: u64, duration: u64) -> (i64, i64) {
        let ms = |ticks: u64| (ticks * 1000 / u64::from(TIMESCALE)) as i64;
        let end = ms(start + duration);
        let offset = match self.offset_ms {
            Some(o) if (o + end - now_ms).abs() <= REANCHOR_MS => o,
            _ => now_ms - end,
        };
        self.offset_ms = Some(offset);
        (offset + ms(start), offset + end)
    }
}

/// Records one source's fragments into segment files and the index.
pub struct Sink {
    store: Store,
    audit: Option<Audit>,
    dir: PathBuf,
    source: String,
    kind: SourceKind,
    counters: Arc<FeedCounters>,
    /// The init segment of the segment under way, its number and size.
    init: Option<(u64, Vec<u8>, (u32, u32))>,
    open: Option<OpenSegment>,
    /// Authorisations as last read, and when (wall clock).
    permits: Option<(i64, Vec<crate::guardrails::authorisation::Authorisation>)>,
    /// Recording is refused since this fragment's start.
    refused_since: Option<i64>,
    /// Whether the feed may be relayed live (what is refused recording is
    /// refused relaying).
    permitted: Option<Arc<super::relay::LiveFeed>>,
}

struct OpenSegment {
    recording: i64,
    segment: u64,
    file: std::fs::File,
    path: PathBuf,
    len: u64,
    seq: u32,
    authorisation: Option<i64>,
    /// Every footprint vertex the segment saw, for its hull.
    points: Vec<[f64; 2]>,
    /// The view under way: its id, what it saw, where it ends.
    view: Option<(i64, Seen, i64)>,
}

impl Sink {
    /// A sink writing `source`'s segments under `dir/<source>/`.
    pub fn new(
        store: Store,
        audit: Option<Audit>,
        dir: &Path,
        source: &str,
        kind: SourceKind,
        counters: Arc<FeedCounters>,
    ) -> Sink {
        let safe: String = source
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Sink {
            store,
            audit,
            dir: dir.join(safe),
            source: source.to_string(),
            kind,
            counters,
            init: None,
            open: None,
            permits: None,
            refused_since: None,
            permitted: None,
        }
    }

    /// Tells `feed` whether its pictures may be relayed, as each fragment
    /// is allowed or refused.
    pub fn relaying(mut self, feed: Arc<super::relay::LiveFeed>) -> Sink {
        self.permitted = Some(feed);
        self
    }

    fn permit_live(&self, on: bool) {
        if let Some(f) = &self.permitted {
            f.permitted.store(on, Ordering::Relaxed);
        }
    }

    /// Handles one job; failures are logged and counted, and the segment
    /// under way is closed so the next fragment opens a fresh one.
    pub fn handle(&mut self, job: Job) {
        match job {
            Job::Begin {
                at_ms,
                segment,
                init,
                size,
            } => {
                self.close();
                self.init = Some((segment, init, size));
                // Live viewers may watch from this keyframe on if its
                // recording is permitted.
                let permitted = self.permit(at_ms).is_ok();
                self.permit_live(permitted);
            }
            Job::Fragment(fragment) => {
                let permit = match self.permit(fragment.start_ms) {
                    Ok(p) => p,
                    Err(reason) => {
                        self.permit_live(false);
                        self.refuse(fragment.start_ms, &reason);
                        return;
                    }
                };
                self.permit_live(true);
                self.refused_since = None;
                if self
                    .open
                    .as_ref()
                    .is_some_and(|o| o.segment != fragment.segment || o.authorisation != permit)
                {
                    self.close();
                }
                if let Err(e) = self.write(permit, fragment) {
                    tracing::error!("recording {}: {e}", self.source);
                    self.counters
                        .fragments_dropped
                        .fetch_add(1, Ordering::Relaxed);
                    self.close();
                }
            }
        }
    }

    /// The authorisation a drone's fragment starting at `at_ms` is
    /// recorded under (none needed for other sources), or why it is not.
    fn permit(&mut self, at_ms: i64) -> Result<Option<i64>, String> {
        if self.kind != SourceKind::Drone {
            return Ok(None);
        }
        let stale = self
            .permits
            .as_ref()
            .is_none_or(|(read, _)| (at_ms - read).abs() >= 1_000);
        if stale {
            let list = self
                .store
                .list_authorisations()
                .map_err(|e| format!("the authorisations cannot be read ({e})"))?;
            self.permits = Some((at_ms, list));
        }
        let list = self
            .permits
            .as_ref()
            .map(|(_, l)| l.as_slice())
            .unwrap_or(&[]);
        list.iter()
            .find(|a| a.active(at_ms) && a.covers(&self.source))
            .map(|a| Some(a.id))
            .ok_or_else(|| {
                format!(
                    "no active flight authorisation names {}: a drone's video is recorded only under one",
                    self.source
                )
            })
    }

    fn refuse(&mut self, at_ms: i64, reason: &str) {
        self.close();
        self.counters
            .fragments_refused
            .fetch_add(1, Ordering::Relaxed);
        if self.refused_since.is_some() {
            return;
        }
        self.refused_since = Some(at_ms);
        tracing::warn!("video of {} not recorded: {reason}", self.source);
        if let Some(audit) = &self.audit {
            let entry = Entry::new(at_ms, Actor::System, "video.refused", &self.source)
                .detail(json!({"kind": self.kind.as_str(), "reason": reason}));
            if let Err(e) = audit.record(entry) {
                tracing::error!("the refusal to record {} was not audited: {e}", self.source);
            }
        }
    }

    fn write(&mut self, permit: Option<i64>, f: FragmentJob) -> Result<(), String> {
        use std::io::Write as _;
        if self.open.is_none() {
            let Some((segment, init, size)) = self.init.as_ref() else {
                // A fragment whose segment start was dropped: nothing
                // plays without the init segment.
                self.counters
                    .fragments_dropped
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(());
            };
            if *segment != f.segment {
                self.counters
                    .fragments_dropped
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| format!("{}: {e}", self.dir.display()))?;
            let path = self.dir.join(format!(
                "{}-{}.mp4",
                crate::time::utc_stamp(f.start_ms),
                f.start_ms
            ));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            file.write_all(init)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let recording = self
                .store
                .video_batch(|b| {
                    b.begin_segment(
                        &NewSegment {
                            source_id: self.source.clone(),
                            kind: self.kind,
                            network: f.network.unwrap_or(Network::Other),
                            start_ms: f.start_ms,
                            path: path.clone(),
                            init_length: init.len() as u64,
                            width_px: size.0,
                            height_px: size.1,
                            authorisation: permit,
                        },
                        crate::time::unix_ms(),
                    )
                })
                .map_err(|e| e.to_string())?;
            self.counters
                .bytes_recorded
                .fetch_add(init.len() as u64, Ordering::Relaxed);
            self.open = Some(OpenSegment {
                recording,
                segment: *segment,
                len: init.len() as u64,
                file,
                path,
                seq: 0,
                authorisation: permit,
                points: Vec::new(),
                view: None,
            });
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        open.file
            .write_all(&f.bytes)
            .map_err(|e| format!("{}: {e}", open.path.display()))?;
        // The fragment joins the view under way when it follows it and saw
        // the same ground.
        let extend = match (&open.view, &f.seen) {
            (Some((id, seen, end)), Some(now)) if f.start_ms <= end + 1 && seen.same_as(now) => {
                Some(*id)
            }
            _ => None,
        };
        let footprint = match (&f.seen, extend) {
            (Some(seen), None) => {
                open.points.extend_from_slice(&seen.ring);
                hull(&open.points)
            }
            _ => None,
        };
        let fragment = NewFragment {
            recording: open.recording,
            seq: open.seq,
            start_ms: f.start_ms,
            end_ms: f.end_ms,
            offset: open.len,
            length: f.bytes.len() as u64,
            pictures: f.pictures,
            keyframe: true,
            masked: f.masked,
            seen: f.seen,
        };
        let view = self
            .store
            .video_batch(|b| b.add_fragment(&fragment, extend, footprint.as_deref()))
            .map_err(|e| e.to_string())?;
        open.view = match (view, extend, fragment.seen) {
            (Some(id), Some(_), _) => open.view.take().map(|(_, seen, _)| (id, seen, f.end_ms)),
            (Some(id), None, Some(seen)) => Some((id, seen, f.end_ms)),
            _ => None,
        };
        open.len += f.bytes.len() as u64;
        open.seq += 1;
        self.counters
            .bytes_recorded
            .fetch_add(f.bytes.len() as u64, Ordering::Relaxed);
        self.counters
            .fragments_recorded
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Closes the segment under way (its file synced).
    pub fn close(&mut self) {
        if let Some(open) = self.open.take()
            && let Err(e) = open.file.sync_all()
        {
            tracing::error!("{}: {e}", open.path.display());
        }
    }
}

/// A fragment for the recorder thread.
#[derive(Debug, Clone, PartialEq)]
pub struct FragmentJob {
    /// The segment it belongs to.
    pub segment: u64,
    /// `moof` + `mdat`.
    pub bytes: Vec<u8>,
    /// Wall-clock span, Unix milliseconds.
    pub start_ms: i64,
    /// Wall-clock span, Unix milliseconds.
    pub end_ms: i64,
    /// Pictures in it.
    pub pictures: u32,
    /// What the source saw, if the coverage index knows it.
    pub seen: Option<Seen>,
    /// Its owner network, if the coverage index knows it.
    pub network: Option<Network>,
    /// Whether its footprint crosses a privacy mask.
    pub masked: bool,
}

/// What a stream's task needs from the server.
#[derive(Clone)]
pub struct VideoContext {
    /// Persistence (the recordings index).
    pub store: Store,
    /// The audit register (refusals).
    pub audit: Audit,
    /// The site's frame.
    pub frame: LocalFrame,
    /// The live coverage index: each source's footprint now.
    pub coverage: Arc<LiveCoverage>,
    /// Where segment files go.
    pub dir: PathBuf,
    /// Live viewers of each feed.
    pub relay: Arc<super::relay::Relay>,
}

/// What the coverage index says `source` sees now: its footprint and
/// optics in WGS84, its network, and whether a privacy mask crosses it.
pub fn seen_now(
    coverage: &LiveCoverage,
    frame: &LocalFrame,
    source: &str,
) -> (Option<Seen>, Option<Network>, bool) {
    coverage.read(|index| {
        let Some(slot) = index.slot(source) else {
            return (None, None, false);
        };
        let info = index.source(slot);
        let seen = Seen {
            ring: frame.ring_to_wgs84(index.ring(slot)),
            eye: frame.lon_lat(info.eye),
            height_m: info.height_m,
            hfov_deg: info.hfov_deg,
        };
        let masked = seen.crosses(frame, index.masks());
        (Some(seen), Some(info.network), masked)
    })
}

/// Follows the picture for drones announcing an RTP/UDP stream
/// (`video_uri` from `VIDEO_STREAM_INFORMATION`) that the configuration
/// does not name, and takes each in on its announced port when the port is
/// in `[video] announced_ports` and free: as a configured stream, recorded
/// under the drone's authorisation, listener `video:SOURCE`. Checks once a
/// second; ends with `shutdown`.
pub async fn follow_announced(
    state: Arc<crate::state::ServerState>,
    ctx: VideoContext,
    shutdown: crate::shutdown::Shutdown,
) -> anyhow::Result<()> {
    let video = &state.config.video;
    let mut started: std::collections::HashSet<String> =
        video.streams.iter().map(|s| s.source.clone()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    let mut stop = shutdown.clone();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait() => break,
        }
        let announced: Vec<(String, String)> = state.fleet.read(|f| {
            f.units()
                .filter_map(|u| {
                    let uri = u.drone.as_ref()?.video_uri.clone()?;
                    Some((u.id.clone(), uri))
                })
                .collect()
        });
        for (source, uri) in announced {
            if started.contains(&source) {
                continue;
            }
            let Some(port) = announced_port(&uri) else {
                continue;
            };
            let [lo, hi] = video.announced_ports;
            if !(lo..=hi).contains(&port) {
                tracing::warn!(%source, %uri, "announced video port outside video.announced_ports: not taken in");
                started.insert(source);
                continue;
            }
            let listen = std::net::SocketAddr::new(video.announced_ip, port);
            let socket = match bind_udp(listen) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%source, %listen, "cannot take in the announced video: {e}");
                    started.insert(source);
                    continue;
                }
            };
            tracing::info!(%source, %listen, "taking in the video stream the drone announced");
            if let Ok(addr) = socket.local_addr() {
                state.add_listener(&format!("video:{source}"), addr);
            }
            let stream = StreamConfig {
                source: source.clone(),
                listen,
                kind: Some(SourceKind::Drone),
            };
            state.video.feed(&source, false);
            let counters = state.metrics.video_feed(&source);
            tasks.spawn(run_stream(
                ctx.clone(),
                stream,
                socket,
                counters,
                shutdown.clone(),
            ));
            started.insert(source);
        }
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok(Err(e)) = done {
            tracing::warn!("an announced video stream ended with an error: {e:#}");
        }
    }
    Ok(())
}

/// One feed being taken in: its [`Feed`], the wall clock of its stream,
/// its live viewers, and the [`Sink`] recording it on a thread of its own
/// behind a bounded queue. Whatever carries the pictures (RTP over UDP, a
/// tablet's QUIC stream) hands them to it; nothing here waits on the disk.
pub struct Ingest {
    ctx: VideoContext,
    source: String,
    feed: Feed,
    clock: WallClock,
    segment: u64,
    tx: mpsc::SyncSender<Job>,
    thread: std::thread::JoinHandle<()>,
    live: Arc<super::relay::LiveFeed>,
    counters: Arc<FeedCounters>,
    out: Vec<Write>,
}

impl Ingest {
    /// Starts taking in `source`'s feed: its recorder thread, and its live
    /// feed (a drone's pictures wait for its first permitted fragment).
    pub fn start(
        ctx: &VideoContext,
        source: &str,
        kind: SourceKind,
        counters: Arc<FeedCounters>,
    ) -> std::io::Result<Ingest> {
        let (tx, rx) = mpsc::sync_channel::<Job>(WRITE_QUEUE);
        let live = ctx.relay.feed(source, kind != SourceKind::Drone);
        let mut sink = Sink::new(
            ctx.store.clone(),
            Some(ctx.audit.clone()),
            &ctx.dir,
            source,
            kind,
            counters.clone(),
        )
        .relaying(live.clone());
        let thread = std::thread::Builder::new()
            .name(format!("video:{source}"))
            .spawn(move || {
                for job in rx {
                    sink.handle(job);
                }
                sink.close();
            })?;
        Ok(Ingest {
            ctx: ctx.clone(),
            source: source.to_string(),
            feed: Feed::new(),
            clock: WallClock::default(),
            segment: 0,
            tx,
            thread,
            live,
            counters,
            out: Vec::new(),
        })
    }

    /// A datagram (RTP) received now.
    pub fn datagram(&mut self, d: &[u8]) {
        self.feed.datagram(Instant::now(), d, &mut self.out);
        self.flush();
    }

    /// A picture that arrived whole (its parameter sets among its NAL
    /// units on a keyframe).
    pub fn access_unit(&mut self, unit: super::h264::AccessUnit) {
        self.feed.access_unit(unit, &mut self.out);
        self.flush();
    }

    /// The sender paused or dropped pictures: the next is taken from a
    /// keyframe, and begins a segment of its own (its stream time does not
    /// run on from the last).
    pub fn restart(&mut self) {
        self.feed.restart(&mut self.out);
        self.flush();
    }

    /// When [`Ingest::poll`] next has work.
    pub fn poll_at(&self) -> Option<Instant> {
        self.feed.poll_at()
    }

    /// Gives up on packets that waited long enough.
    pub fn poll(&mut self) {
        self.feed.poll(Instant::now(), &mut self.out);
        self.flush();
    }

    /// Packets the socket still holds, then the end of the feed: what it
    /// holds is written, viewers are told, and the recorder thread is
    /// waited for.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        self.feed.finish(&mut self.out);
        self.flush();
        self.live.end();
        let Ingest { tx, thread, .. } = self;
        drop(tx);
        // The thread ends once the queue is drained and closed.
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|e| anyhow::anyhow!("video writer of a stream: {e}"))?
            .map_err(|_| anyhow::anyhow!("the video writer thread panicked"))?;
        Ok(())
    }

    /// Hands what the feed cut to the recorder and the live viewers.
    fn flush(&mut self) {
        for w in std::mem::take(&mut self.out) {
            let job = match w {
                Write::Begin { init, size, .. } => {
                    self.segment += 1;
                    Job::Begin {
                        at_ms: crate::time::unix_ms(),
                        segment: self.segment,
                        init,
                        size,
                    }
                }
                Write::Fragment {
                    bytes,
                    start_ticks,
                    duration_ticks,
                    pictures,
                } => {
                    let (start_ms, end_ms) =
                        self.clock
                            .span(crate::time::unix_ms(), start_ticks, duration_ticks);
                    let (seen, network, masked) =
                        seen_now(&self.ctx.coverage, &self.ctx.frame, &self.source);
                    Job::Fragment(FragmentJob {
                        segment: self.segment,
                        bytes,
                        start_ms,
                        end_ms,
                        pictures: pictures as u32,
                        seen,
                        network,
                        masked,
                    })
                }
            };
            // Never wait on the disk here: a full queue drops the job (a
            // lost segment start drops its fragments in the sink, counted
            // there).
            if self.tx.try_send(job).is_err() {
                self.counters
                    .fragments_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        for p in self.feed.take_live() {
            self.live.publish(p);
        }
        let viewers = self.live.viewers();
        self.feed.set_live(viewers > 0);
        self.counters.update(&self.feed.stats());
        self.counters
            .viewers
            .store(viewers as u64, Ordering::Relaxed);
        self.counters
            .viewer_skipped
            .store(self.live.skipped.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// Receives one stream on `socket` until `shutdown`, recording through an
/// [`Ingest`].
pub async fn run_stream(
    ctx: VideoContext,
    stream: StreamConfig,
    socket: tokio::net::UdpSocket,
    counters: Arc<FeedCounters>,
    mut shutdown: crate::shutdown::Shutdown,
) -> anyhow::Result<()> {
    let mut ingest = Ingest::start(&ctx, &stream.source, stream.kind(), counters)?;
    let mut buf = vec![0u8; 65_536];
    loop {
        let wake = ingest.poll_at();
        tokio::select! {
            r = socket.recv(&mut buf) => {
                if let Ok(n) = r {
                    ingest.datagram(&buf[..n]);
                }
            }
            _ = async {
                match wake {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            } => ingest.poll(),
            _ = shutdown.wait() => break,
        }
    }
    while let Ok(n) = socket.try_recv(&mut buf) {
        ingest.datagram(&buf[..n]);
    }
    ingest.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::mask::Masks;
    use crate::coverage::polygon::Pt;
    use crate::guardrails::authorisation::{NewAuthorisation, tests::square};
    use crate::guardrails::retention::{self, Limits};
    use crate::video::index::{self, footage_at, write_clip};

    const DRONE: &str = "drone:udp0:7";
    /// Wall-clock start of the tests' footage.
    const T0: i64 = 1_784_037_720_000;

    fn frame() -> LocalFrame {
        LocalFrame::new(48.92, 2.36)
    }

    fn store() -> Store {
        let s = Store::in_memory().unwrap();
        retention::migrate(&s).unwrap();
        crate::guardrails::authorisation::migrate(&s).unwrap();
        index::migrate(&s).unwrap();
        s
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vigie-video-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// A drone 40 m up over local (e, n), seeing a 30 m square below it.
    fn seen(e: f64, n: f64) -> Seen {
        let f = frame();
        let ring: Vec<Pt> = vec![
            [e - 15.0, n - 15.0],
            [e + 15.0, n - 15.0],
            [e + 15.0, n + 15.0],
            [e - 15.0, n + 15.0],
            [e - 15.0, n - 15.0],
        ];
        Seen {
            ring: f.ring_to_wgs84(&ring),
            eye: f.lon_lat([e, n]),
            height_m: 40.0,
            hfov_deg: 70.0,
        }
    }

    fn fragment(segment: u64, k: i64, at: Option<Seen>, masked: bool) -> Job {
        Job::Fragment(FragmentJob {
            segment,
            bytes: format!("fragment {k} of segment {segment};").into_bytes(),
            start_ms: T0 + k * 1000,
            end_ms: T0 + (k + 1) * 1000,
            pictures: 30,
            seen: at,
            network: Some(Network::Fleet),
            masked,
        })
    }

    fn begin(segment: u64) -> Job {
        Job::Begin {
            at_ms: T0 + 1000 * (segment as i64 - 1),
            segment,
            init: b"init segment;".to_vec(),
            size: (1280, 720),
        }
    }

    /// A segment an outside recorder registers over the origin.
    fn outside(
        start_ms: i64,
        end_ms: i64,
        uri: &str,
    ) -> crate::guardrails::recordings::NewRecording {
        crate::guardrails::recordings::NewRecording {
            source_kind: SourceKind::FixedCamera,
            source_id: "vms:cam-3".into(),
            start_ms,
            end_ms,
            footprint: seen(0.0, 0.0)
                .ring
                .iter()
                .map(|p| crate::dispatch::incident::GeoPoint {
                    lat_deg: p[1],
                    lon_deg: p[0],
                })
                .collect(),
            uri: uri.into(),
            authorisation: None,
        }
    }

    fn authorise(s: &Store, drones: &[&str]) -> i64 {
        s.add_authorisation(
            &NewAuthorisation {
                from_ms: T0 + 5_000,
                to_ms: T0 + 3_600_000,
                ..square(0, drones).spec
            },
            T0,
            "operator:odile",
        )
        .unwrap()
        .id
    }

    fn local(e: f64, n: f64) -> [f64; 2] {
        frame().lon_lat([e, n])
    }

    #[test]
    fn a_drone_is_recorded_only_under_its_authorisation_and_found_by_place_and_time() {
        let s = store();
        let audit = Audit::start(&s).unwrap();
        let dir = temp("authorised");
        let counters = Arc::new(FeedCounters::default());
        let auth = authorise(&s, &[DRONE]);
        let mut sink = Sink::new(
            s.clone(),
            Some(audit.clone()),
            &dir,
            DRONE,
            SourceKind::Drone,
            counters.clone(),
        );
        sink.handle(begin(1));
        // Seconds 0..5: before the authorisation's window. Refused.
        for k in 0..5 {
            sink.handle(fragment(1, k, Some(seen(0.0, 0.0)), false));
        }
        // Seconds 5..10 over the origin, 10..15 moved 100 m east.
        for k in 5..10 {
            sink.handle(fragment(1, k, Some(seen(0.0, 0.0)), false));
        }
        sink.handle(begin(2));
        for k in 10..15 {
            sink.handle(fragment(2, k, Some(seen(100.0, 0.0)), false));
        }
        sink.close();
        audit.flush().unwrap();
        assert_eq!(counters.fragments_refused.load(Ordering::Relaxed), 5);
        assert_eq!(counters.fragments_recorded.load(Ordering::Relaxed), 10);
        let refusals: Vec<_> = audit
            .range(0, i64::MAX)
            .unwrap()
            .into_iter()
            .filter(|r| r.action == "video.refused")
            .collect();
        assert_eq!(refusals.len(), 1, "one entry for the stretch refused");
        assert_eq!(refusals[0].target, DRONE);

        let f = frame();
        let masks = Masks::default();
        // The origin: seen from 5 s to 10 s, by the first segment only.
        let at = footage_at(&s, &f, &masks, local(0.0, 0.0), T0, T0 + 60_000).unwrap();
        assert_eq!(at.len(), 1);
        assert_eq!(at[0].source_id, DRONE);
        assert_eq!(at[0].intervals, vec![[T0 + 5_000, T0 + 10_000]]);
        assert_eq!(at[0].total_ms, 5_000);
        assert_eq!(at[0].segments.len(), 1);
        assert_eq!(at[0].segments[0].authorisation, Some(auth));
        assert_eq!(at[0].segments[0].fragments, 5);
        // Straight below at 40 m: 1280 px over 2·40·tan 35° = 56 m.
        let d = at[0].density_px_m.unwrap();
        assert!(
            (d - 1280.0 / (80.0 * 35f64.to_radians().tan())).abs() < 0.1,
            "{d}"
        );
        // 100 m east: 10..15 s, the second segment; a window clips it.
        let east = footage_at(&s, &f, &masks, local(100.0, 0.0), T0 + 12_500, T0 + 60_000).unwrap();
        assert_eq!(east[0].intervals, vec![[T0 + 12_500, T0 + 15_000]]);
        // A window cutting a view counts the fragments in it: 12..13 on.
        assert_eq!(east[0].segments[0].fragments, 3);
        // 50 m east: seen by neither footprint.
        assert!(
            footage_at(&s, &f, &masks, local(50.0, 0.0), T0, T0 + 60_000)
                .unwrap()
                .is_empty()
        );
        // More views than an answer holds: refused, not cut short.
        let few = crate::video::index::footage_at_most(
            &s,
            &f,
            &masks,
            local(0.0, 0.0),
            [T0, T0 + 60_000],
            0,
        )
        .unwrap_err();
        assert!(few.to_string().contains("narrower window"), "{few}");
        assert!(
            crate::video::index::footage_at_most(
                &s,
                &f,
                &masks,
                local(0.0, 0.0),
                [T0, T0 + 60_000],
                1
            )
            .is_ok()
        );
        // Before the window: nothing.
        assert!(
            footage_at(&s, &f, &masks, local(0.0, 0.0), T0 + 20_000, T0 + 60_000)
                .unwrap()
                .is_empty()
        );
        // A masked point is shown by nothing.
        let mask = Masks::new(vec![vec![
            [-2.0, -2.0],
            [2.0, -2.0],
            [2.0, 2.0],
            [-2.0, 2.0],
            [-2.0, -2.0],
        ]]);
        assert!(
            footage_at(&s, &f, &mask, local(0.0, 0.0), T0, T0 + 60_000)
                .unwrap()
                .is_empty()
        );

        // A segment an outside recorder registered over the same spot is
        // in the same answer, by its footprint and span.
        let vms = outside(T0, T0 + 30_000, "s3://vms/cam-3/1.mp4");
        s.index_segment(&vms, "operator:vms", T0).unwrap();
        let both = footage_at(&s, &f, &masks, local(0.0, 0.0), T0, T0 + 60_000).unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(both[0].source_id, DRONE, "known optics rank first");
        assert_eq!(both[1].source_id, "vms:cam-3");
        assert_eq!(both[1].intervals, vec![[T0, T0 + 30_000]]);
        assert!(!both[1].segments[0].recorded_here);
        assert_eq!(both[1].density_px_m, None);

        // The segment's index row holds its span and the hull of what it saw.
        let seg = s.segment(at[0].segments[0].recording).unwrap().unwrap();
        assert_eq!((seg.start_ms, seg.end_ms), (T0 + 5_000, T0 + 10_000));
        assert_eq!(seg.footprint.len(), 5);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_clip_is_the_init_and_whole_fragments_with_masked_ones_withheld_and_its_hash() {
        use sha2::Digest as _;
        let s = store();
        let dir = temp("clip");
        let counters = Arc::new(FeedCounters::default());
        let mut sink = Sink::new(
            s.clone(),
            None,
            &dir,
            "cam-12",
            SourceKind::FixedCamera,
            counters,
        );
        sink.handle(begin(1));
        for k in 0..6 {
            sink.handle(fragment(1, k, Some(seen(0.0, 0.0)), k == 3));
        }
        sink.close();
        // From 1.5 s to 4.5 s: fragments 1, 2 and 4 (3 crosses a mask).
        let out = dir.join("export");
        let clip = write_clip(&s, "cam-12", T0 + 1_500, T0 + 4_500, &out, "clip").unwrap();
        assert_eq!(clip.withheld_masked, 1);
        assert_eq!(clip.parts.len(), 1);
        let part = &clip.parts[0];
        let bytes = std::fs::read(out.join(&part.file)).unwrap();
        assert_eq!(
            bytes,
            b"init segment;fragment 1 of segment 1;fragment 2 of segment 1;fragment 4 of segment 1;"
        );
        assert_eq!(
            part.sha256,
            crate::guardrails::audit_seal::hex(&sha2::Sha256::digest(&bytes))
        );
        assert_eq!(
            (part.start_ms, part.end_ms, part.pictures),
            (T0 + 1_000, T0 + 5_000, 90)
        );
        assert!(write_clip(&s, "cam-99", T0, T0 + 9_000, &out, "none").is_err());
        // A damaged index is refused with what is wrong, not followed into
        // a gigabyte allocation.
        s.with_conn(|c| c.execute("UPDATE video_segment SET init_length = 1 << 40", []))
            .unwrap();
        let damaged = write_clip(&s, "cam-12", T0, T0 + 9_000, &out, "damaged").unwrap_err();
        assert!(damaged.to_string().contains("damaged"), "{damaged}");
        s.with_conn(|c| c.execute("UPDATE video_segment SET init_length = 13", []))
            .unwrap();
        // One camera that did not move: one view for the segment's six
        // fragments.
        let views: i64 = s
            .with_conn(|c| c.query_row("SELECT count(*) FROM video_view", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(views, 1);
        // A masked fragment shows in the query's answer.
        let at = footage_at(
            &s,
            &frame(),
            &Masks::default(),
            local(0.0, 0.0),
            T0,
            T0 + 9_000,
        )
        .unwrap();
        assert!(at[0].masked_in_part);
        assert_eq!(at[0].intervals, vec![[T0, T0 + 6_000]]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_purged_segment_takes_its_file_and_fragments_with_it_unless_held() {
        let s = store();
        let dir = temp("purge");
        let counters = Arc::new(FeedCounters::default());
        let mut sink = Sink::new(
            s.clone(),
            None,
            &dir,
            "patrol:P001",
            SourceKind::Tablet,
            counters,
        );
        sink.handle(begin(1));
        sink.handle(fragment(1, 0, Some(seen(0.0, 0.0)), false));
        sink.handle(begin(2));
        sink.handle(fragment(2, 1, Some(seen(0.0, 0.0)), false));
        sink.close();
        let found = footage_at(
            &s,
            &frame(),
            &Masks::default(),
            local(0.0, 0.0),
            T0,
            T0 + 9_000,
        )
        .unwrap();
        let ids: Vec<i64> = found[0].segments.iter().map(|g| g.recording).collect();
        assert_eq!(ids.len(), 2);
        let files: Vec<PathBuf> = ids
            .iter()
            .map(|&id| s.video_file(id).unwrap().unwrap())
            .collect();
        assert!(files.iter().all(|f| f.exists()));
        s.hold_for(
            &format!("recording:{}", ids[1]),
            "seized",
            "PV 2026/78",
            "operator:odile",
            T0,
        )
        .unwrap();
        retention::purge(&s, T0 + 31 * 86_400_000, &Limits::default()).unwrap();
        assert!(!files[0].exists(), "the purged segment's file is gone");
        assert!(files[1].exists(), "the held one stays");
        let left = footage_at(
            &s,
            &frame(),
            &Masks::default(),
            local(0.0, 0.0),
            T0,
            T0 + 9_000,
        )
        .unwrap();
        assert_eq!(left[0].segments.len(), 1);
        assert_eq!(left[0].intervals, vec![[T0 + 1_000, T0 + 2_000]]);
        let deleted = s.deletions().unwrap();
        assert!(
            deleted
                .iter()
                .any(|d| d.item == format!("recording:{}", ids[0]))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_outside_segment_is_found_among_more_of_our_own_than_a_search_returns() {
        // More of this ground's own segments over the spot than one search
        // of the recordings index returns: an outside recorder's segment
        // must still be answered (it was crowded out when our own were
        // read and dropped after the limit).
        let s = store();
        let dir = temp("crowded");
        let counters = Arc::new(FeedCounters::default());
        let mut sink = Sink::new(
            s.clone(),
            None,
            &dir,
            "cam-12",
            SourceKind::FixedCamera,
            counters,
        );
        let ours = crate::guardrails::recordings::MAX_RESULTS as u64 + 5;
        for k in 0..ours {
            sink.handle(begin(k + 1));
            sink.handle(fragment(k + 1, k as i64, Some(seen(0.0, 0.0)), false));
        }
        sink.close();
        // After the first MAX_RESULTS of ours by start.
        let vms = outside(
            T0 + (ours as i64 - 3) * 1000,
            T0 + 1_100_000,
            "s3://vms/cam-3/2.mp4",
        );
        s.index_segment(&vms, "operator:vms", T0).unwrap();
        let at = footage_at(
            &s,
            &frame(),
            &Masks::default(),
            local(0.0, 0.0),
            T0,
            T0 + 2_000_000,
        )
        .unwrap();
        let ids: Vec<&str> = at.iter().map(|f| f.source_id.as_str()).collect();
        assert_eq!(ids, ["cam-12", "vms:cam-3"]);
        assert_eq!(at[0].segments.len() as u64, ours);
        assert_eq!(at[0].intervals, vec![[T0, T0 + ours as i64 * 1000]]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_wall_clock_follows_the_stream_and_reanchors_after_a_jump() {
        let mut c = WallClock::default();
        // First fragment (1 s) cut at T0 + 1000: it began at T0.
        assert_eq!(c.span(T0 + 1_000, 0, 90_000), (T0, T0 + 1_000));
        // Arrival jitter does not move the next ones.
        assert_eq!(c.span(T0 + 2_150, 90_000, 90_000), (T0 + 1_000, T0 + 2_000));
        // The sender paused 10 s without its clock: re-anchored on arrival.
        assert_eq!(
            c.span(T0 + 13_000, 180_000, 90_000),
            (T0 + 12_000, T0 + 13_000)
        );
    }

    #[test]
    fn an_announced_udp_uri_gives_its_port() {
        assert_eq!(announced_port("udp://0.0.0.0:5600"), Some(5600));
        assert_eq!(announced_port(" udp://:5601 "), Some(5601));
        assert_eq!(announced_port("udp://[::]:5602/live"), Some(5602));
        assert_eq!(announced_port("rtsp://10.0.0.3:8554/live"), None);
        assert_eq!(announced_port("udp://0.0.0.0:0"), None);
        assert_eq!(announced_port("udp://0.0.0.0:99999"), None);
    }

    #[test]
    fn streams_are_checked() {
        let ok = StreamConfig {
            source: DRONE.into(),
            listen: "127.0.0.1:5600".parse().unwrap(),
            kind: None,
        };
        assert_eq!(ok.kind(), SourceKind::Drone);
        let twice = VideoConfig {
            streams: vec![ok.clone(), ok.clone()],
            ..VideoConfig::default()
        };
        assert!(twice.validate().unwrap_err().contains("twice"));
        let port = VideoConfig {
            streams: vec![
                ok.clone(),
                StreamConfig {
                    source: "cam-1".into(),
                    ..ok.clone()
                },
            ],
            ..VideoConfig::default()
        };
        assert!(port.validate().unwrap_err().contains("one port"));
    }
}
