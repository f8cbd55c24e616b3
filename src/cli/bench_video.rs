//! `vigie bench video`: N camera feeds of 2 Mb/s at 30 fps sent over
//! loopback RTP to a ground server started in this process, each recorded
//! (segment files and the index, on this machine's disk) and relayed live
//! to V viewers. Reported: the ground's CPU per feed (its server thread and
//! the feeds' recorder threads, read from `/proc/self/task`), pictures
//! lost, the latency from the sender's packet to each viewer, disk bytes
//! per feed-hour.
//!
//! The viewers are in this process, on a thread of their own, reading the
//! ground's relay directly (the fan-out the server does for every viewer);
//! the HTTP route adds one socket write per picture and viewer. Every
//! picture carries its send time, so each viewer measures its own latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use vigie_ground::video::h264::{AccessUnit, synthetic_unit};
use vigie_ground::video::relay::Piece;
use vigie_ground::video::rtp::Sender;
use vigie_ground::video::service::StreamConfig;

use super::bench::{SERVER_THREAD, ServerThread, threads_cpu_where};

/// Name of the senders' thread.
const SENDER_THREAD: &str = "vigie-cameras";

/// Options of `vigie bench video`.
#[derive(Args, Debug)]
pub struct BenchVideoArgs {
    /// Concurrent feeds.
    #[arg(long, default_value_t = 20)]
    pub feeds: usize,
    /// Live viewers per feed.
    #[arg(long, default_value_t = 5)]
    pub viewers: usize,
    /// Measurement window (after a 3 s warm-up).
    #[arg(long = "for", default_value = "20s", value_parser = super::duration::parse)]
    pub window: Duration,
}

/// Picture `k` of a 2 Mb/s feed: a 40 kB keyframe each second, 7 kB
/// otherwise; its slice starts with the send time (ns since `t0`).
fn picture(k: u32, sent_ns: u64) -> AccessUnit {
    let size = if k.is_multiple_of(30) { 40_000 } else { 7_000 };
    let mut payload = Vec::with_capacity(size + 8);
    payload.extend_from_slice(&sent_ns.to_be_bytes());
    payload.extend((0..size).map(|i| (i * 31 + k as usize) as u8 | 1));
    synthetic_unit(k, 30, &payload)
}

/// The send time a picture's fragment carries: the first sample's slice
/// (after `moof`, the `mdat` header and the sample's 4-byte length and NAL
/// header).
fn sent_ns(chunk: &[u8]) -> Option<u64> {
    let moof = u32::from_be_bytes(chunk.get(..4)?.try_into().ok()?) as usize;
    let at = moof + 8 + 4 + 1;
    Some(u64::from_be_bytes(chunk.get(at..at + 8)?.try_into().ok()?))
}

/// Runs the benchmark and prints its report.
pub fn run(args: BenchVideoArgs) -> anyhow::Result<()> {
    if args.feeds == 0 || args.feeds > 2000 || args.viewers > 50 {
        bail!("--feeds must be 1 to 2000 and --viewers at most 50");
    }
    let sources: Vec<String> = (0..args.feeds).map(|i| format!("cam-b{i:04}")).collect();
    let streams = sources.clone();
    let server = ServerThread::start_with(0, move |config| {
        config.timeline.record = false;
        config.video.streams = streams
            .iter()
            .map(|s| StreamConfig {
                source: s.clone(),
                listen: "127.0.0.1:0".parse().expect("an address"),
                kind: None,
            })
            .collect();
    })?;
    let targets: Vec<std::net::SocketAddr> = sources
        .iter()
        .map(|s| {
            server
                .state
                .listener(&format!("video:{s}"))
                .with_context(|| format!("no listener for {s}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let t0 = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let total = Duration::from_secs(3) + args.window;

    // Viewers: a runtime of their own; each records its latencies.
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let received = Arc::new(AtomicU64::new(0));
    let viewer_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("vigie-viewers")
        .build()?;
    let mut watchers = Vec::new();
    for s in &sources {
        let feed = server.state.video.get(s).context("no live feed")?;
        for _ in 0..args.viewers {
            let mut v = feed.watch().context("the feed ended")?;
            let (latencies, received) = (latencies.clone(), received.clone());
            watchers.push(viewer_rt.spawn(async move {
                let mut mine = Vec::new();
                while let Piece::Bytes(b) = v.next().await {
                    let now = t0.elapsed().as_nanos() as u64;
                    // The first piece carries the init segment first.
                    let chunk = if &b[4..8] == b"ftyp" {
                        let ftyp = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
                        let moov =
                            u32::from_be_bytes([b[ftyp], b[ftyp + 1], b[ftyp + 2], b[ftyp + 3]])
                                as usize;
                        &b[ftyp + moov..]
                    } else {
                        &b[..]
                    };
                    if let Some(sent) = sent_ns(chunk) {
                        mine.push(now.saturating_sub(sent));
                    }
                    received.fetch_add(1, Ordering::Relaxed);
                }
                latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(mine);
            }));
        }
    }
    let viewers = std::thread::Builder::new()
        .name("vigie-viewers".into())
        .spawn(move || {
            viewer_rt.block_on(async move {
                for w in watchers {
                    let _ = w.await;
                }
            })
        })?;

    // Senders: every feed paced at 30 fps from one thread, the feeds'
    // pictures spread over each frame interval.
    let sent = Arc::new(AtomicU64::new(0));
    let sender = {
        let (stop, sent) = (stop.clone(), sent.clone());
        std::thread::Builder::new()
            .name(SENDER_THREAD.into())
            .spawn(move || -> anyhow::Result<u32> {
                let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
                let mut senders: Vec<Sender> = (0..targets.len())
                    .map(|i| Sender::new(96, 0x1000 + i as u32, 0, 1200))
                    .collect();
                let mut datagrams = Vec::new();
                let mut k = 0u32;
                while !stop.load(Ordering::Relaxed) && t0.elapsed() < total {
                    let frame_start = t0 + Duration::from_nanos(k as u64 * 1_000_000_000 / 30);
                    for (i, (to, s)) in targets.iter().zip(&mut senders).enumerate() {
                        let due = frame_start
                            + Duration::from_nanos(i as u64 * 33_000_000 / targets.len() as u64);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        datagrams.clear();
                        s.send(&picture(k, t0.elapsed().as_nanos() as u64), &mut datagrams);
                        for d in &datagrams {
                            socket.send_to(d, to)?;
                        }
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    k += 1;
                }
                Ok(k)
            })?
    };

    // Measure the window after a warm-up.
    std::thread::sleep(Duration::from_secs(3));
    let ground_cpu = || threads_cpu_where(|n| n == SERVER_THREAD || n.starts_with("video:"));
    let counters = |f: fn(&vigie_ground::video::service::FeedCounters) -> &AtomicU64| {
        sources
            .iter()
            .map(|s| f(&server.state.metrics.video_feed(s)).load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let (cpu0, bytes0, w0) = (
        ground_cpu(),
        counters(|c| &c.bytes_recorded),
        Instant::now(),
    );
    std::thread::sleep(args.window);
    let (cpu, bytes, elapsed) = (
        ground_cpu().saturating_sub(cpu0),
        counters(|c| &c.bytes_recorded) - bytes0,
        w0.elapsed(),
    );
    stop.store(true, Ordering::Relaxed);
    let pictures = sender
        .join()
        .map_err(|_| anyhow::anyhow!("the sender thread panicked"))??;
    // What was sent has arrived once the ground's counters stop moving.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = counters(|c| &c.frames);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = counters(|c| &c.frames);
        if now == last || Instant::now() > deadline {
            break;
        }
        last = now;
    }
    let frames_in = counters(|c| &c.frames);
    let packets_lost = counters(|c| &c.packets_lost);
    let dropped = counters(|c| &c.fragments_dropped);
    let skipped = counters(|c| &c.viewer_skipped);
    let sent = sent.load(Ordering::Relaxed);
    drop(server);
    let _ = viewers.join();
    let mut lat = std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
    lat.sort_unstable();
    let q = |p: f64| -> f64 {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(f64::NAN, |ns| *ns as f64 / 1e6)
    };
    let cpu_share = cpu.as_secs_f64() / elapsed.as_secs_f64();
    let feeds = args.feeds as f64;
    println!(
        "{} feeds of 2 Mb/s at 30 fps for {:.1} s ({} pictures each sent), {} viewers each",
        args.feeds,
        elapsed.as_secs_f64(),
        pictures,
        args.viewers
    );
    println!(
        "ground CPU: {:.1} % of a core in all, {:.3} % per feed: {:.0} feeds per ground core",
        cpu_share * 100.0,
        cpu_share * 100.0 / feeds,
        feeds / cpu_share
    );
    println!(
        "pictures: {sent} sent, {frames_in} taken in ({} lost), {packets_lost} RTP packets lost, {dropped} fragments dropped by the recorder",
        sent.saturating_sub(frames_in)
    );
    println!(
        "live: {} pictures delivered to viewers, {skipped} skipped by viewers that fell behind; latency sender to viewer p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        received.load(Ordering::Relaxed),
        q(0.5),
        q(0.99),
        lat.last().map_or(f64::NAN, |ns| *ns as f64 / 1e6)
    );
    println!(
        "disk: {:.2} GB per feed-hour recorded",
        bytes as f64 / feeds / elapsed.as_secs_f64() * 3600.0 / 1e9
    );
    Ok(())
}
