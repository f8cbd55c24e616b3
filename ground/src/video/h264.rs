//! H.264 over RTP (RFC 6184, packetisation mode 1): NAL units back from
//! single-NAL, STAP-A and FU-A payloads, grouped into access units by
//! timestamp and marker bit; and the other way, for simulated sources.
//!
//! Nothing is transcoded: the NAL units come out as the camera encoded
//! them. An access unit with a hole (a lost fragment, a malformed payload)
//! is dropped whole, and so is everything after a loss until the next
//! keyframe, so a recorder or a viewer never gets a picture that decodes
//! to garbage; both are counted.

/// NAL unit types this module cares about (ITU-T H.264 table 7-1).
pub mod nal {
    /// Coded slice of a non-IDR picture.
    pub const SLICE: u8 = 1;
    /// Coded slice of an IDR picture: a keyframe.
    pub const IDR: u8 = 5;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// RTP aggregation packet, single time (RFC 6184 §5.7.1).
    pub const STAP_A: u8 = 24;
    /// RTP fragmentation unit A (RFC 6184 §5.8).
    pub const FU_A: u8 = 28;

    /// A NAL unit's type, from its first byte.
    pub fn kind(nal: &[u8]) -> u8 {
        nal.first().map_or(0, |b| b & 0x1f)
    }
}

/// One picture's NAL units, as encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// RTP timestamp, 90 kHz.
    pub timestamp: u32,
    /// The NAL units, without start codes.
    pub nals: Vec<Vec<u8>>,
}

impl AccessUnit {
    /// Whether it holds an IDR slice: decoding can start here.
    pub fn is_keyframe(&self) -> bool {
        self.nals.iter().any(|n| nal::kind(n) == nal::IDR)
    }
}

/// What the depacketiser did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DepacketStats {
    /// Access units handed on.
    pub units: u64,
    /// Keyframes among them.
    pub keyframes: u64,
    /// Access units dropped because a part was lost or malformed.
    pub broken: u64,
    /// Whole access units dropped while waiting for a keyframe (at the
    /// start, and after a loss).
    pub skipped: u64,
    /// Payloads that were not valid H.264 RTP (or a mode not supported:
    /// STAP-B, MTAP, FU-B).
    pub malformed: u64,
}

/// Reassembles access units from one stream's RTP payloads, in order.
#[derive(Debug, Default)]
pub struct Depacketizer {
    /// Timestamp of the unit being assembled.
    current: Option<u32>,
    /// Its NAL units so far.
    nals: Vec<Vec<u8>>,
    /// A fragmented NAL unit being reassembled.
    fragment: Option<Vec<u8>>,
    /// The unit being assembled lost a part: drop it when it ends.
    broken: bool,
    /// A loss happened: drop units until a keyframe.
    need_keyframe: bool,
    /// Whether a keyframe was ever handed on.
    started: bool,
    /// Whether unit boundaries are known: from a packet that can only
    /// begin a unit, or after a marker. Before, a stream joined in the
    /// middle of a unit would hand on its tail as if whole.
    synced: bool,
    /// The latest parameter sets seen (a late joiner's decoder needs them).
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    /// Bytes of the NAL units of the unit being assembled.
    unit_bytes: usize,
    /// Counts.
    stats: DepacketStats,
}

/// Largest NAL unit reassembled, bytes: a fragment train past it is
/// dropped (a 4K IDR slice is well under it).
pub const MAX_NAL_BYTES: usize = 4 << 20;
/// Largest access unit assembled, bytes: a unit past it (a sender that
/// never sets the marker nor changes the timestamp) is dropped as it
/// grows, not kept.
pub const MAX_UNIT_BYTES: usize = 8 << 20;

impl Depacketizer {
    /// A fresh depacketiser: it hands nothing on before the first keyframe.
    pub fn new() -> Depacketizer {
        Depacketizer::default()
    }

    /// What it did so far.
    pub fn stats(&self) -> DepacketStats {
        self.stats
    }

    /// The latest sequence and picture parameter sets.
    pub fn parameter_sets(&self) -> (Option<&[u8]>, Option<&[u8]>) {
        (self.sps.as_deref(), self.pps.as_deref())
    }

    /// Bytes held for the unit being assembled.
    pub fn assembling_bytes(&self) -> usize {
        self.unit_bytes
    }

    /// Packets were lost before the next one: what was being assembled is
    /// dropped, and units until the next keyframe.
    pub fn gap(&mut self) {
        self.broken = true;
        self.fragment = None;
        self.need_keyframe = true;
    }

    /// Takes the next payload (in sequence order) with its timestamp and
    /// marker bit; appends the access units it completes.
    pub fn push(
        &mut self,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
        out: &mut Vec<AccessUnit>,
    ) {
        if !self.synced {
            if begins_unit(payload) {
                self.synced = true;
            } else {
                // The tail of a unit whose start was never seen.
                self.synced = marker;
                return;
            }
        }
        if self.current.is_some_and(|t| t != timestamp) {
            // A new picture began without the marker of the last: the last
            // ends here (its final packet may have been lost).
            self.finish(out);
        }
        self.current = Some(timestamp);
        if !self.take(payload) {
            self.stats.malformed += 1;
            self.broken = true;
            self.fragment = None;
        }
        if marker {
            self.finish(out);
        }
    }

    /// Reads one payload into the unit; `false` if it is malformed.
    fn take(&mut self, p: &[u8]) -> bool {
        let Some(&first) = p.first() else {
            return false;
        };
        match first & 0x1f {
            0 | 25..=27 | 29..=31 => false,
            nal::STAP_A => {
                let mut rest = &p[1..];
                while !rest.is_empty() {
                    let Some(len) = rest
                        .get(..2)
                        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                    else {
                        return false;
                    };
                    let Some(unit) = rest.get(2..2 + len).filter(|u| !u.is_empty()) else {
                        return false;
                    };
                    self.nal(unit.to_vec());
                    rest = &rest[2 + len..];
                }
                true
            }
            nal::FU_A => {
                let Some(&fu) = p.get(1) else {
                    return false;
                };
                let (start, end) = (fu & 0x80 != 0, fu & 0x40 != 0);
                if start && end {
                    return false;
                }
                if start {
                    let mut n = Vec::with_capacity(p.len() * 4);
                    n.push(first & 0xe0 | fu & 0x1f);
                    n.extend_from_slice(&p[2..]);
                    self.fragment = Some(n);
                } else {
                    match self.fragment.as_mut() {
                        Some(n) if n.len() + p.len() <= MAX_NAL_BYTES => {
                            n.extend_from_slice(&p[2..]);
                        }
                        // A middle or an end without its start: the start
                        // was lost (a gap said so) or never sent.
                        _ => {
                            self.fragment = None;
                            self.broken = true;
                            return true;
                        }
                    }
                }
                if end && let Some(n) = self.fragment.take() {
                    self.nal(n);
                }
                true
            }
            _ => {
                self.nal(p.to_vec());
                true
            }
        }
    }

    fn nal(&mut self, n: Vec<u8>) {
        match nal::kind(&n) {
            nal::SPS => self.sps = Some(n.clone()),
            nal::PPS => self.pps = Some(n.clone()),
            _ => {}
        }
        if self.broken {
            // Dropped at its end anyway: keep nothing of it.
            return;
        }
        if self.unit_bytes + n.len() > MAX_UNIT_BYTES {
            self.broken = true;
            self.nals.clear();
            self.unit_bytes = 0;
            return;
        }
        self.unit_bytes += n.len();
        self.nals.push(n);
    }

    /// Takes an access unit that arrived whole (a tablet's frame over
    /// QUIC, not RTP), under the same rules as one reassembled: parameter
    /// sets remembered, nothing handed on before the first keyframe nor,
    /// after [`Depacketizer::gap`], before the next; counted alike.
    pub fn whole(&mut self, unit: AccessUnit, out: &mut Vec<AccessUnit>) {
        self.finish(out);
        // Nothing is being assembled: a gap's mark is `need_keyframe`.
        self.broken = false;
        self.fragment = None;
        self.synced = true;
        let bytes: usize = unit.nals.iter().map(Vec::len).sum();
        if bytes > MAX_UNIT_BYTES || unit.nals.iter().any(|n| n.is_empty()) {
            self.stats.broken += 1;
            self.need_keyframe = true;
            return;
        }
        self.current = Some(unit.timestamp);
        for n in unit.nals {
            self.nal(n);
        }
        self.finish(out);
    }

    /// Ends the unit being assembled: hands it on, or drops and counts it.
    fn finish(&mut self, out: &mut Vec<AccessUnit>) {
        let Some(timestamp) = self.current.take() else {
            return;
        };
        let nals = std::mem::take(&mut self.nals);
        self.unit_bytes = 0;
        let broken = std::mem::take(&mut self.broken) || self.fragment.take().is_some();
        if broken {
            self.stats.broken += 1;
            self.need_keyframe = true;
            return;
        }
        if nals.is_empty() {
            return;
        }
        let unit = AccessUnit { timestamp, nals };
        let key = unit.is_keyframe();
        if (self.need_keyframe || !self.started) && !key {
            self.stats.skipped += 1;
            return;
        }
        self.need_keyframe = false;
        self.started = true;
        self.stats.units += 1;
        self.stats.keyframes += u64::from(key);
        out.push(unit);
    }
}

/// Whether a payload can only be the first of an access unit: it starts
/// with an access unit delimiter, an SEI or a sequence parameter set
/// (ITU-T H.264 §7.4.1.2.3), alone or first in a STAP-A.
fn begins_unit(p: &[u8]) -> bool {
    let first = match nal::kind(p) {
        nal::STAP_A => p.get(3).map_or(0, |b| b & 0x1f),
        k => k,
    };
    matches!(first, 6 | nal::SPS | 9)
}

/// Packetises one access unit into RTP payloads of at most `mtu` bytes
/// (single NAL units, or FU-A fragments for larger ones); the last carries
/// the marker. Appends `(marker, payload)` pairs to `out`.
pub fn packetize(unit: &AccessUnit, mtu: usize, out: &mut Vec<(bool, Vec<u8>)>) {
    let mtu = mtu.max(3);
    let n = unit.nals.len();
    for (i, nal) in unit.nals.iter().enumerate() {
        let last_nal = i + 1 == n;
        if nal.len() <= mtu {
            out.push((last_nal, nal.clone()));
            continue;
        }
        let (head, body) = (nal[0], &nal[1..]);
        let chunks: Vec<&[u8]> = body.chunks(mtu - 2).collect();
        for (k, c) in chunks.iter().enumerate() {
            let (start, end) = (k == 0, k + 1 == chunks.len());
            let mut p = Vec::with_capacity(c.len() + 2);
            p.push(head & 0xe0 | nal::FU_A);
            p.push(head & 0x1f | if start { 0x80 } else { 0 } | if end { 0x40 } else { 0 });
            p.extend_from_slice(c);
            out.push((last_nal && end, p));
        }
    }
}

/// Picture `k` of a synthetic stream shaped as an encoder's: every
/// `keyframe_every`-th an IDR led by x264's parameter sets
/// ([`super::sps::X264_BASELINE_320X240`]), the others P slices; `payload`
/// follows the slice's NAL header. For benchmarks, simulations and tests
/// (the pictures do not decode to an image).
pub fn synthetic_unit(k: u32, keyframe_every: u32, payload: &[u8]) -> AccessUnit {
    let key = k.is_multiple_of(keyframe_every.max(1));
    let mut nals = Vec::with_capacity(3);
    if key {
        nals.push(super::sps::X264_BASELINE_320X240.to_vec());
        nals.push(super::sps::EXAMPLE_PPS.to_vec());
    }
    let mut slice = Vec::with_capacity(payload.len() + 1);
    slice.push(if key { 0x65 } else { 0x41 });
    slice.extend_from_slice(payload);
    nals.push(slice);
    AccessUnit {
        timestamp: k.wrapping_mul(3000),
        nals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::reorder::{Released, Reorder};
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    /// A stream of `count` units: a keyframe (SPS, PPS, IDR) every `gop`,
    /// P slices between, NAL sizes from 1 byte to several MTUs.
    fn stream(seed: u64, count: usize, gop: usize) -> Vec<AccessUnit> {
        let mut x = seed | 1;
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        (0..count)
            .map(|k| {
                let mut nals = Vec::new();
                let slice = if k % gop == 0 {
                    nals.push(vec![0x67, 0x42, 0, 0x1f]);
                    nals.push(vec![0x68, 0xce, 0x3c, 0x80]);
                    0x65
                } else {
                    0x41
                };
                for _ in 0..1 + rnd(3) {
                    let len = 1 + rnd(4000) as usize;
                    let mut n = vec![slice];
                    n.extend((0..len).map(|i| (i as u64 ^ rnd(256)) as u8));
                    nals.push(n);
                }
                AccessUnit {
                    timestamp: 3000 * k as u32,
                    nals,
                }
            })
            .collect()
    }

    #[test]
    fn every_payload_kind_is_read_back() {
        let mut d = Depacketizer::new();
        let mut out = Vec::new();
        // STAP-A with SPS and PPS, then an IDR in two FU-A fragments.
        let mut stap = vec![nal::STAP_A];
        for n in [&[0x67u8, 1, 2][..], &[0x68, 3]] {
            stap.extend_from_slice(&(n.len() as u16).to_be_bytes());
            stap.extend_from_slice(n);
        }
        d.push(90, false, &stap, &mut out);
        d.push(90, false, &[0x7c, 0x85, 10, 11], &mut out);
        d.push(90, true, &[0x7c, 0x45, 12], &mut out);
        assert_eq!(
            out,
            [AccessUnit {
                timestamp: 90,
                nals: vec![vec![0x67, 1, 2], vec![0x68, 3], vec![0x65, 10, 11, 12]],
            }]
        );
        assert!(out[0].is_keyframe());
        assert_eq!(
            d.parameter_sets(),
            (Some(&[0x67, 1, 2][..]), Some(&[0x68, 3][..]))
        );
        // Malformed: an empty payload, a STAP-A whose size overruns, FU-B.
        for bad in [&[][..], &[nal::STAP_A, 0, 9, 1], &[29, 0x80, 1]] {
            d.push(180, true, bad, &mut out);
        }
        assert_eq!(d.stats().malformed, 3);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_unit_that_never_ends_is_dropped_not_kept_growing() {
        let mut d = Depacketizer::new();
        let mut out = Vec::new();
        d.push(0, true, &[0x67, 0x42, 0, 0x1f], &mut out);
        // One timestamp, no marker, more bytes than any picture holds.
        let slice = [0x65; 1200];
        for _ in 0..=MAX_UNIT_BYTES / slice.len() {
            d.push(3000, false, &slice, &mut out);
        }
        assert!(d.assembling_bytes() <= MAX_UNIT_BYTES);
        d.push(3000, true, &slice, &mut out);
        assert!(out.is_empty(), "an oversized unit was handed on");
        assert_eq!(d.stats().broken, 1);
        assert_eq!(d.assembling_bytes(), 0);
    }

    #[test]
    fn nothing_is_handed_on_before_the_first_keyframe() {
        let units = stream(3, 12, 5);
        let mut d = Depacketizer::new();
        let mut out = Vec::new();
        let mut pk = Vec::new();
        for u in &units[1..] {
            pk.clear();
            packetize(u, 1200, &mut pk);
            for (m, p) in &pk {
                d.push(u.timestamp, *m, p, &mut out);
            }
        }
        assert_eq!(out.first().map(|u| u.timestamp), Some(units[5].timestamp));
        // Unit 1 is a tail whose start cannot be told (a P slice); units 2
        // to 4 are whole but wait for the keyframe.
        assert_eq!(d.stats().skipped, 3);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, rng_seed: proptest::test_runner::RngSeed::Fixed(18), ..ProptestConfig::default() })]

        /// Over a path that reorders, duplicates and loses packets: what
        /// comes out is exactly units that went in, whole, in order, each
        /// decodable (a keyframe, or after one with nothing lost between);
        /// with no loss, everything comes out; losses are counted.
        #[test]
        fn units_come_out_whole_or_not_at_all(
            seed in 0u64..1_000_000,
            loss in prop_oneof![Just(0.0), 0.0..0.05f64],
            dup in 0.0..0.05f64,
            window in 0usize..6,
        ) {
            let units = stream(seed, 40, 8);
            let mut wire: Vec<(u16, u32, bool, Vec<u8>)> = Vec::new();
            let mut pk = Vec::new();
            let mut seq = (seed % 65_536) as u16;
            for u in &units {
                pk.clear();
                packetize(u, 1200, &mut pk);
                for (m, p) in pk.drain(..) {
                    wire.push((seq, u.timestamp, m, p));
                    seq = seq.wrapping_add(1);
                }
            }
            // The path: drop, duplicate, and move packets up to `window`
            // places later, from a seeded generator.
            let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let mut unit = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 11) as f64 / (1u64 << 53) as f64
            };
            let sent = wire.len();
            let mut path: Vec<_> = Vec::new();
            let (mut dropped_at, mut kept_at, mut dups) = (Vec::new(), Vec::new(), 0u64);
            for (i, p) in wire.into_iter().enumerate() {
                if unit() < loss {
                    dropped_at.push(i);
                    continue;
                }
                kept_at.push(i);
                if unit() < dup {
                    dups += 1;
                    path.push(p.clone());
                }
                path.push(p);
            }
            let dropped = dropped_at.len() as u64;
            // Each packet arrives up to `window` places late, no more.
            let mut keyed: Vec<(f64, _)> = path
                .into_iter()
                .enumerate()
                .map(|(i, p)| (i as f64 + unit() * window as f64, p))
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            let path: Vec<_> = keyed.into_iter().map(|(_, p)| p).collect();
            let t0 = Instant::now();
            let mut r = Reorder::new(Duration::from_millis(30), 64);
            let mut d = Depacketizer::new();
            let mut out = Vec::new();
            let mut released = Vec::new();
            for (k, (s, ts, m, p)) in path.into_iter().enumerate() {
                let now = t0 + Duration::from_millis(k as u64);
                r.push(now, s, (ts, m, p), &mut released);
                r.poll(now, &mut released);
                for rel in released.drain(..) {
                    match rel {
                        Released::Packet((ts, m, p)) => d.push(ts, m, &p, &mut out),
                        Released::Gap(_) => d.gap(),
                    }
                }
            }
            r.poll(t0 + Duration::from_secs(3600), &mut released);
            for rel in released.drain(..) {
                match rel {
                    Released::Packet((ts, m, p)) => d.push(ts, m, &p, &mut out),
                    Released::Gap(_) => d.gap(),
                }
            }
            let index: std::collections::HashMap<u32, usize> =
                units.iter().enumerate().map(|(k, u)| (u.timestamp, k)).collect();
            let emitted: std::collections::HashSet<usize> =
                out.iter().filter_map(|u| index.get(&u.timestamp).copied()).collect();
            let mut last = None;
            for u in &out {
                let k = index.get(&u.timestamp).copied();
                prop_assert!(k.is_some_and(|k| units[k] == *u), "a unit came out altered");
                prop_assert!(last < k, "out of order");
                last = k;
                // Decodable: a keyframe, or the unit before it came out too.
                let k = k.unwrap_or(0);
                prop_assert!(u.is_keyframe() || (k > 0 && emitted.contains(&(k - 1))));
            }
            let s = r.stats();
            prop_assert_eq!(s.received, sent as u64 - dropped + dups);
            // Within the wait, nothing is late but a second copy of a
            // packet already released.
            prop_assert_eq!(s.late + s.duplicate, dups);
            // A loss is seen between two packets that arrived: not before
            // the first nor after the last.
            let (first, last_kept) = (kept_at.first().copied(), kept_at.last().copied());
            let edges = dropped_at
                .iter()
                .filter(|i| first.is_none_or(|f| **i < f) || last_kept.is_none_or(|l| **i > l))
                .count() as u64;
            prop_assert_eq!(s.lost, dropped - edges);
            if dropped == 0 {
                prop_assert_eq!(out.len(), units.len());
            }
        }
    }
}
