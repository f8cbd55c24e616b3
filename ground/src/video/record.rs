//! One feed, from datagrams to files: RTP in order, access units whole,
//! fragments cut, segments of about a minute written as fragmented MP4
//! files that play on their own (each begins with the init segment).
//!
//! [`Feed`] is the sans-I/O pipeline: datagrams in, [`Write`]s out (and,
//! when someone watches, one [`LivePicture`] per picture), every count
//! kept. The server's edge that receives, records and indexes them is
//! [`super::service`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::h264::{AccessUnit, DepacketStats, Depacketizer};
use super::mp4::{Fragmenter, TIMESCALE, init_segment};
use super::reorder::{Released, Reorder, ReorderStats};
use super::rtp::Packet;

/// How long a missing packet is waited for.
pub const REORDER_WAIT: Duration = Duration::from_millis(60);
/// Most packets held waiting for a missing one: about 2.4 s of a 2 Mb/s
/// feed in 1200-byte packets, 0.6 MB at most.
pub const REORDER_HELD: usize = 512;
/// Target length of a segment file, stream time.
pub const SEGMENT: Duration = Duration::from_secs(60);
/// Writes queued for the disk before fragments are dropped.
pub const WRITE_QUEUE: usize = 64;

/// What the pipeline asks the disk to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Start a new segment file with this init segment; `start_ticks` is
    /// its stream time (90 kHz from the feed's first picture).
    Begin {
        /// The init segment (`ftyp` + `moov`).
        init: Vec<u8>,
        /// Stream time of its first picture.
        start_ticks: u64,
        /// Picture size, from the sequence parameter set.
        size: (u32, u32),
    },
    /// Append a fragment to the current segment.
    Fragment {
        /// `moof` + `mdat`.
        bytes: Vec<u8>,
        /// Stream time of its first picture.
        start_ticks: u64,
        /// Its length, ticks.
        duration_ticks: u64,
        /// Pictures in it.
        pictures: usize,
    },
}

/// What a feed has seen, for `/metrics` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Datagrams that were not RTP.
    pub not_rtp: u64,
    /// Datagrams of another payload type or source than the feed's.
    pub foreign: u64,
    /// The reorder buffer's counts.
    pub packets: ReorderStats,
    /// The depacketiser's counts.
    pub units: DepacketStats,
    /// Fragments cut.
    pub fragments: u64,
    /// Segments begun.
    pub segments: u64,
}

/// The pipeline of one feed.
#[derive(Debug)]
pub struct Feed {
    reorder: Reorder<Held>,
    depacketizer: Depacketizer,
    fragmenter: Fragmenter,
    /// The stream's synchronisation source, from its first packet.
    ssrc: Option<u32>,
    /// Parameter sets of the segment under way (a change starts another).
    params: Option<(Vec<u8>, Vec<u8>)>,
    /// Stream time at which the segment under way began.
    segment_start: u64,
    /// A segment is open.
    open: bool,
    not_rtp: u64,
    foreign: u64,
    fragments: u64,
    segments: u64,
    units: Vec<AccessUnit>,
    released: Vec<Released<Held>>,
    /// The init segment of the segment under way.
    init: Option<Arc<Vec<u8>>>,
    /// Pictures for live viewers, when some watch.
    live: Option<LiveTap>,
}

/// A picture for live viewers: a fragment of one sample, to append after
/// `init` (a viewer starts at a keyframe). Relayed as it arrives: no
/// picture waits for the next, nothing is transcoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePicture {
    /// The init segment the picture decodes with.
    pub init: Arc<Vec<u8>>,
    /// `moof` + `mdat` of the picture alone.
    pub chunk: Vec<u8>,
    /// Whether a viewer can start here.
    pub keyframe: bool,
    /// When the ground took it in, Unix milliseconds (0 before it is
    /// published).
    pub received_ms: i64,
}

/// Cuts each picture into a fragment of its own for live viewers.
#[derive(Debug, Default)]
struct LiveTap {
    sequence: u32,
    last: Option<u32>,
    time: u64,
    duration: u32,
    out: Vec<LivePicture>,
}

/// What the reorder buffer keeps of a packet: what the depacketiser reads.
#[derive(Debug)]
struct Held {
    timestamp: u32,
    marker: bool,
    payload: Vec<u8>,
}

impl Default for Feed {
    fn default() -> Feed {
        Feed::new()
    }
}

impl Feed {
    /// A feed waiting for its first packet.
    pub fn new() -> Feed {
        Feed {
            reorder: Reorder::new(REORDER_WAIT, REORDER_HELD),
            depacketizer: Depacketizer::new(),
            fragmenter: Fragmenter::new(TIMESCALE),
            ssrc: None,
            params: None,
            segment_start: 0,
            open: false,
            not_rtp: 0,
            foreign: 0,
            fragments: 0,
            segments: 0,
            units: Vec::new(),
            released: Vec::new(),
            init: None,
            live: None,
        }
    }

    /// Starts or stops cutting pictures for live viewers
    /// ([`Feed::take_live`]); off by default (it costs a copy of each).
    pub fn set_live(&mut self, on: bool) {
        match (on, self.live.is_some()) {
            (true, false) => self.live = Some(LiveTap::default()),
            (false, true) => self.live = None,
            _ => {}
        }
    }

    /// The pictures cut for live viewers since the last call.
    pub fn take_live(&mut self) -> Vec<LivePicture> {
        self.live
            .as_mut()
            .map(|t| std::mem::take(&mut t.out))
            .unwrap_or_default()
    }

    fn tap(&mut self, u: &AccessUnit) {
        let (Some(tap), Some(init)) = (self.live.as_mut(), self.init.as_ref()) else {
            return;
        };
        // Its decode time from the stream's clock; its duration is the
        // last interval seen (the next picture's arrival is not awaited:
        // players follow each fragment's decode time).
        if let Some(last) = tap.last {
            let d = u.timestamp.wrapping_sub(last);
            let d = if d == 0 || d > 60 * TIMESCALE {
                tap.duration.max(1)
            } else {
                d
            };
            tap.time += u64::from(d);
            tap.duration = d;
        } else {
            tap.duration = 3000;
        }
        tap.last = Some(u.timestamp);
        tap.sequence += 1;
        let sample = super::mp4::Sample::of(u, tap.duration);
        tap.out.push(LivePicture {
            init: init.clone(),
            chunk: super::mp4::fragment(tap.sequence, tap.time, &[sample]),
            keyframe: u.is_keyframe(),
            received_ms: 0,
        });
    }

    /// Counts so far.
    pub fn stats(&self) -> FeedStats {
        FeedStats {
            not_rtp: self.not_rtp,
            foreign: self.foreign,
            packets: self.reorder.stats(),
            units: self.depacketizer.stats(),
            fragments: self.fragments,
            segments: self.segments,
        }
    }

    /// When [`Feed::poll`] next has work (a gap to give up).
    pub fn poll_at(&self) -> Option<Instant> {
        self.reorder.poll_at()
    }

    /// Takes a datagram received at `now`; appends what to write.
    pub fn datagram(&mut self, now: Instant, d: &[u8], out: &mut Vec<Write>) {
        let Ok(p) = Packet::parse(d) else {
            self.not_rtp += 1;
            return;
        };
        // Dynamic payload types only; one source per feed (a second
        // sender on the port is not mixed in).
        if p.payload_type < 96 || *self.ssrc.get_or_insert(p.ssrc) != p.ssrc {
            self.foreign += 1;
            return;
        }
        let held = Held {
            timestamp: p.timestamp,
            marker: p.marker,
            payload: p.payload.to_vec(),
        };
        self.reorder.push(now, p.sequence, held, &mut self.released);
        self.drain(out);
    }

    /// Takes a picture that arrived whole (a tablet's frame over QUIC),
    /// its parameter sets among its NAL units; appends what to write.
    pub fn access_unit(&mut self, unit: AccessUnit, out: &mut Vec<Write>) {
        self.depacketizer.whole(unit, &mut self.units);
        self.drain(out);
    }

    /// Frames were dropped before the next one (a sender that paused or
    /// fell behind): nothing more is taken before the next keyframe.
    pub fn gap(&mut self) {
        self.depacketizer.gap();
    }

    /// The sender paused, or its clock jumped: what is held is written,
    /// and the next keyframe begins a segment of its own whose stream time
    /// starts again (no picture lasts the pause); counts run on.
    pub fn restart(&mut self, out: &mut Vec<Write>) {
        self.drain(out);
        if let Some(f) = self.fragmenter.finish() {
            self.fragment(f, out);
        }
        self.fragmenter = Fragmenter::new(TIMESCALE);
        self.open = false;
        self.params = None;
        self.segment_start = 0;
        self.depacketizer.gap();
        if let Some(tap) = self.live.as_mut() {
            // Live decode times run on past the pause.
            tap.time += u64::from(tap.duration);
            tap.last = None;
        }
    }

    /// Gives up on packets that waited long enough by `now`.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<Write>) {
        self.reorder.poll(now, &mut self.released);
        self.drain(out);
    }

    /// The feed ended: writes what it holds.
    pub fn finish(&mut self, out: &mut Vec<Write>) {
        self.reorder.poll(
            Instant::now() + Duration::from_secs(3600),
            &mut self.released,
        );
        self.drain(out);
        if let Some(f) = self.fragmenter.finish() {
            self.fragment(f, out);
        }
    }

    fn drain(&mut self, out: &mut Vec<Write>) {
        for r in std::mem::take(&mut self.released) {
            match r {
                Released::Packet(p) => {
                    self.depacketizer
                        .push(p.timestamp, p.marker, &p.payload, &mut self.units);
                }
                Released::Gap(_) => self.depacketizer.gap(),
            }
        }
        for u in std::mem::take(&mut self.units) {
            let init = if u.is_keyframe() {
                self.new_segment()
            } else {
                None
            };
            if let Some((init, _)) = &init {
                self.init = Some(Arc::new(init.clone()));
            }
            if self.open || init.is_some() {
                self.tap(&u);
            }
            match init {
                Some((init, size)) => {
                    // The fragment under way ends the segment that ends.
                    if let Some(f) = self.fragmenter.push_cutting(u) {
                        self.fragment(f, out);
                    }
                    self.open = true;
                    self.segments += 1;
                    self.segment_start = self.fragmenter.position();
                    out.push(Write::Begin {
                        init,
                        start_ticks: self.segment_start,
                        size,
                    });
                }
                None if self.open => {
                    if let Some(f) = self.fragmenter.push(u) {
                        self.fragment(f, out);
                    }
                }
                None => {}
            }
        }
    }

    /// At a keyframe: the init segment of a new segment file, when none is
    /// open, the parameter sets changed, or the open one is long enough;
    /// with the picture size.
    fn new_segment(&mut self) -> Option<(Vec<u8>, (u32, u32))> {
        let (Some(sps), Some(pps)) = self.depacketizer.parameter_sets() else {
            return None;
        };
        let params = (sps.to_vec(), pps.to_vec());
        let changed = self.params.as_ref() != Some(&params);
        let elapsed = self.fragmenter.position() - self.segment_start;
        let long = elapsed >= SEGMENT.as_secs() * u64::from(TIMESCALE);
        if self.open && !changed && !long {
            return None;
        }
        let init = init_segment(&params.0, &params.1).ok()?;
        let sps = super::sps::Sps::parse(&params.0).ok()?;
        self.params = Some(params);
        Some((init, (sps.width, sps.height)))
    }

    fn fragment(&mut self, f: super::mp4::Fragment, out: &mut Vec<Write>) {
        self.fragments += 1;
        out.push(Write::Fragment {
            bytes: f.bytes,
            start_ticks: f.start,
            duration_ticks: f.duration,
            pictures: f.samples,
        });
    }
}

/// Plays `data` through a feed as a hostile or broken sender could: a run
/// of `[length (2 bytes, big-endian, 11 bits), milliseconds since the last
/// (1 byte), datagram]` records on virtual time, gaps given up as time
/// passes, the feed finished at the end. Panics (a bug) when what comes out
/// breaks the pipeline's promises: a fragment before its segment's init, an
/// init that is not `ftyp`+`moov`, a fragment that is not `moof`+`mdat` or
/// holds no picture, stream time going back. The fuzz target
/// `video_feed` and a seeded unit test run it.
pub fn feed_everything(data: &[u8]) -> FeedStats {
    let mut feed = Feed::new();
    let t0 = Instant::now();
    let mut now = t0;
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]) & 0x07ff);
        now += Duration::from_millis(u64::from(rest[2]));
        let body = &rest[3..];
        let d = &body[..len.min(body.len())];
        rest = &body[d.len()..];
        feed.poll(now, &mut out);
        feed.datagram(now, d, &mut out);
    }
    feed.finish(&mut out);
    let box_is = |b: &[u8], name: &[u8; 4]| b.len() >= 8 && &b[4..8] == name;
    let (mut begun, mut last_end) = (false, 0u64);
    for w in &out {
        match w {
            Write::Begin { init, .. } => {
                assert!(box_is(init, b"ftyp"), "an init segment starts with ftyp");
                begun = true;
            }
            Write::Fragment {
                bytes,
                start_ticks,
                duration_ticks,
                pictures,
            } => {
                assert!(begun, "a fragment came before any init segment");
                assert!(box_is(bytes, b"moof"), "a fragment starts with moof");
                assert!(*pictures > 0, "a fragment holds a picture");
                assert!(*start_ticks >= last_end, "stream time went back");
                last_end = start_ticks + duration_ticks;
            }
        }
    }
    feed.stats()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::h264::AccessUnit;
    use crate::video::rtp::Sender;
    use rand::{RngExt as _, SeedableRng as _};
    use rand_chacha::ChaCha8Rng;

    /// Records of [`feed_everything`] carrying a valid stream: a keyframe
    /// (x264's SPS, a PPS, an IDR) every 30 pictures, 33 ms apart.
    fn valid(rng: &mut ChaCha8Rng, pictures: usize) -> Vec<u8> {
        let mut sender = Sender::new(96, 0x5eed, rng.random(), 1200);
        let mut data = Vec::new();
        for k in 0..pictures {
            let mut nals = Vec::new();
            let slice = if k % 30 == 0 {
                nals.push(crate::video::sps::X264_BASELINE_320X240.to_vec());
                nals.push(crate::video::sps::EXAMPLE_PPS.to_vec());
                0x65
            } else {
                0x41
            };
            let len = rng.random_range(1..3000);
            let mut n = vec![slice];
            n.extend((0..len).map(|_| rng.random::<u8>()));
            nals.push(n);
            let mut datagrams = Vec::new();
            sender.send(
                &AccessUnit {
                    timestamp: 3000 * k as u32,
                    nals,
                },
                &mut datagrams,
            );
            for (i, d) in datagrams.iter().enumerate() {
                data.extend_from_slice(&(d.len() as u16).to_be_bytes());
                data.push(if i == 0 { 33 } else { 0 });
                data.extend_from_slice(d);
            }
        }
        data
    }

    #[test]
    fn a_valid_stream_comes_out_whole() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let s = feed_everything(&valid(&mut rng, 95));
        assert_eq!(s.units.units, 95);
        assert_eq!(s.packets.lost, 0);
        assert_eq!(s.segments, 1);
        // Keyframes at 0, 30, 60, 90: four fragments, the last at the end.
        assert_eq!(s.fragments, 4);
    }

    #[test]
    fn random_and_mutated_input_never_breaks_the_pipeline() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x5649_4445);
        let runs = if cfg!(debug_assertions) { 60 } else { 300 };
        let mut recorded = 0;
        for _ in 0..runs {
            let mut data = valid(&mut rng, 70);
            // Flip, drop and duplicate bytes here and there.
            for _ in 0..rng.random_range(0..40) {
                let i = rng.random_range(0..data.len());
                match rng.random_range(0..3) {
                    0 => data[i] ^= 1 << rng.random_range(0..8),
                    1 => {
                        data.remove(i);
                    }
                    _ => data.insert(i, data[i]),
                }
            }
            if feed_everything(&data).fragments > 0 {
                recorded += 1;
            }
            let noise: Vec<u8> = (0..rng.random_range(0..4000))
                .map(|_| rng.random())
                .collect();
            feed_everything(&noise);
        }
        // The mutations leave most streams recordable: the checks ran.
        assert!(recorded > runs / 2, "{recorded} of {runs} streams recorded");
    }
}
