//! Fragmented MP4 (ISO/IEC 14496-12 and -15) for H.264 as it arrived: an
//! init segment (`ftyp`, `moov` with the `avcC` of the stream's parameter
//! sets) and fragments (`moof` + `mdat`) of whole access units, each
//! starting at a keyframe, about [`Fragmenter::target`] long. ffmpeg, VLC
//! and browsers' Media Source Extensions read it; nothing is re-encoded.
//! Sans-I/O: bytes out, the caller writes them.

use super::h264::{AccessUnit, nal};
use super::sps::{Sps, SpsError};

/// Media timescale of the track: RTP's 90 kHz video clock.
pub const TIMESCALE: u32 = 90_000;

/// Appends a box: size, type, what `body` writes.
fn bx(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(kind);
    body(out);
    let size = (out.len() - start) as u32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// Appends a full box (version and flags first).
fn full(
    out: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    bx(out, kind, |o| {
        o.push(version);
        o.extend_from_slice(&flags.to_be_bytes()[1..]);
        body(o);
    });
}

fn u16s(o: &mut Vec<u8>, v: &[u16]) {
    v.iter().for_each(|x| o.extend_from_slice(&x.to_be_bytes()));
}

fn u32s(o: &mut Vec<u8>, v: &[u32]) {
    v.iter().for_each(|x| o.extend_from_slice(&x.to_be_bytes()));
}

/// The identity transformation matrix of `mvhd` and `tkhd`.
const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// The init segment of a track with these parameter sets; refused when the
/// SPS cannot be read or a parameter set is too long for `avcC`.
pub fn init_segment(sps: &[u8], pps: &[u8]) -> Result<Vec<u8>, SpsError> {
    let info = Sps::parse(sps)?;
    // avcC gives each parameter set's length in 16 bits.
    if sps.len() > usize::from(u16::MAX) || pps.len() > usize::from(u16::MAX) {
        return Err(SpsError::OutOfRange("parameter set length"));
    }
    let (w, h) = (info.width, info.height);
    let mut o = Vec::with_capacity(1024);
    bx(&mut o, b"ftyp", |o| {
        o.extend_from_slice(b"isom");
        u32s(o, &[0x200]);
        o.extend_from_slice(b"isomiso6avc1mp41");
    });
    bx(&mut o, b"moov", |o| {
        full(o, b"mvhd", 0, 0, |o| {
            u32s(o, &[0, 0, 1000, 0, 0x0001_0000]);
            u16s(o, &[0x0100, 0]);
            u32s(o, &[0, 0]);
            u32s(o, &MATRIX);
            u32s(o, &[0; 6]);
            u32s(o, &[2]);
        });
        bx(o, b"trak", |o| {
            full(o, b"tkhd", 0, 3, |o| {
                u32s(o, &[0, 0, 1, 0, 0, 0, 0]);
                u16s(o, &[0, 0, 0, 0]);
                u32s(o, &MATRIX);
                u32s(o, &[w << 16, h << 16]);
            });
            bx(o, b"mdia", |o| {
                full(o, b"mdhd", 0, 0, |o| {
                    u32s(o, &[0, 0, TIMESCALE, 0]);
                    // Language "und", packed ISO-639-2/T.
                    u16s(o, &[0x55c4, 0]);
                });
                full(o, b"hdlr", 0, 0, |o| {
                    u32s(o, &[0]);
                    o.extend_from_slice(b"vide");
                    u32s(o, &[0, 0, 0]);
                    o.extend_from_slice(b"Vigie video\0");
                });
                bx(o, b"minf", |o| {
                    full(o, b"vmhd", 0, 1, |o| u16s(o, &[0, 0, 0, 0]));
                    bx(o, b"dinf", |o| {
                        full(o, b"dref", 0, 0, |o| {
                            u32s(o, &[1]);
                            full(o, b"url ", 0, 1, |_| {});
                        });
                    });
                    bx(o, b"stbl", |o| {
                        full(o, b"stsd", 0, 0, |o| {
                            u32s(o, &[1]);
                            avc1(o, &info, sps, pps);
                        });
                        full(o, b"stts", 0, 0, |o| u32s(o, &[0]));
                        full(o, b"stsc", 0, 0, |o| u32s(o, &[0]));
                        full(o, b"stsz", 0, 0, |o| u32s(o, &[0, 0]));
                        full(o, b"stco", 0, 0, |o| u32s(o, &[0]));
                    });
                });
            });
        });
        bx(o, b"mvex", |o| {
            full(o, b"trex", 0, 0, |o| u32s(o, &[1, 1, 0, 0, 0]));
        });
    });
    Ok(o)
}

/// The `avc1` sample entry with its `avcC` (ISO/IEC 14496-15 §5.3.3).
fn avc1(o: &mut Vec<u8>, info: &Sps, sps: &[u8], pps: &[u8]) {
    bx(o, b"avc1", |o| {
        o.extend_from_slice(&[0; 6]);
        u16s(o, &[1, 0, 0]);
        u32s(o, &[0, 0, 0]);
        u16s(o, &[info.width as u16, info.height as u16]);
        u32s(o, &[0x0048_0000, 0x0048_0000, 0]);
        u16s(o, &[1]);
        o.extend_from_slice(&[0; 32]);
        u16s(o, &[0x0018, 0xffff]);
        bx(o, b"avcC", |o| {
            o.extend_from_slice(&[1, info.profile, info.compatibility, info.level]);
            // 4-byte NAL lengths; one SPS, one PPS.
            o.extend_from_slice(&[0xff, 0xe1]);
            u16s(o, &[sps.len() as u16]);
            o.extend_from_slice(sps);
            o.push(1);
            u16s(o, &[pps.len() as u16]);
            o.extend_from_slice(pps);
        });
    });
}

/// One sample of a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// How long it shows, in [`TIMESCALE`] ticks.
    pub duration: u32,
    /// Whether decoding can start here.
    pub keyframe: bool,
    /// The NAL units, each after its 4-byte length.
    pub data: Vec<u8>,
}

impl Sample {
    /// An access unit as an MP4 sample: length-prefixed NAL units, the
    /// parameter sets (in `avcC`) and delimiters left out.
    pub fn of(unit: &AccessUnit, duration: u32) -> Sample {
        let mut data = Vec::with_capacity(unit.nals.iter().map(|n| n.len() + 4).sum());
        for n in &unit.nals {
            if matches!(nal::kind(n), nal::SPS | nal::PPS | 9) {
                continue;
            }
            data.extend_from_slice(&(n.len() as u32).to_be_bytes());
            data.extend_from_slice(n);
        }
        Sample {
            duration,
            keyframe: unit.is_keyframe(),
            data,
        }
    }
}

/// A fragment: `moof` then `mdat`, its samples from `decode_time` on.
pub fn fragment(sequence: u32, decode_time: u64, samples: &[Sample]) -> Vec<u8> {
    let mut o = Vec::with_capacity(samples.iter().map(|s| s.data.len() + 12).sum::<usize>() + 128);
    let mut offset_at = 0;
    bx(&mut o, b"moof", |o| {
        full(o, b"mfhd", 0, 0, |o| u32s(o, &[sequence]));
        bx(o, b"traf", |o| {
            // default-base-is-moof: data offsets count from the moof.
            full(o, b"tfhd", 0, 0x02_0000, |o| u32s(o, &[1]));
            full(o, b"tfdt", 1, 0, |o| {
                o.extend_from_slice(&decode_time.to_be_bytes())
            });
            // data-offset, and per sample duration, size and flags.
            full(o, b"trun", 0, 0x0701, |o| {
                u32s(o, &[samples.len() as u32]);
                offset_at = o.len();
                u32s(o, &[0]);
                for s in samples {
                    let flags = if s.keyframe { 0x0200_0000 } else { 0x0101_0000 };
                    u32s(o, &[s.duration, s.data.len() as u32, flags]);
                }
            });
        });
    });
    // The first sample's offset from the moof's start: past the moof and
    // the mdat header.
    let data_offset = (o.len() + 8) as u32;
    o[offset_at..offset_at + 4].copy_from_slice(&data_offset.to_be_bytes());
    bx(&mut o, b"mdat", |o| {
        samples.iter().for_each(|s| o.extend_from_slice(&s.data))
    });
    o
}

/// Cuts a stream of access units into fragments: each starts at a
/// keyframe once the fragment under way is at least `target` long. A
/// sample's duration is the time to the next unit, so a unit is held until
/// the next arrives.
#[derive(Debug)]
pub struct Fragmenter {
    /// Shortest fragment, ticks, before a keyframe starts the next.
    pub target: u32,
    /// The unit waiting for its successor (to know its duration).
    pending: Option<AccessUnit>,
    /// Samples of the fragment under way.
    samples: Vec<Sample>,
    /// Decode time of the fragment under way, ticks from the first unit.
    start: u64,
    /// Decode time of the next sample.
    next: u64,
    /// Fragments written so far (the next's sequence number is this + 1).
    written: u32,
    /// The first unit's timestamp, for decode times.
    origin: Option<u32>,
}

/// A fragment the [`Fragmenter`] cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// `moof` + `mdat`.
    pub bytes: Vec<u8>,
    /// Decode time of its first sample, ticks from the stream's first unit.
    pub start: u64,
    /// Its length, ticks.
    pub duration: u64,
    /// How many samples (pictures) it holds.
    pub samples: usize,
}

impl Fragmenter {
    /// A fragmenter cutting fragments of about `target` ticks.
    pub fn new(target: u32) -> Fragmenter {
        Fragmenter {
            target,
            pending: None,
            samples: Vec::new(),
            start: 0,
            next: 0,
            written: 0,
            origin: None,
        }
    }

    /// Takes the next unit (the stream must start at a keyframe, as the
    /// depacketiser hands it on); returns a fragment when one is complete.
    pub fn push(&mut self, unit: AccessUnit) -> Option<Fragment> {
        self.take(unit, false)
    }

    /// [`Fragmenter::push`], ending the fragment under way at this unit if
    /// it is a keyframe, however short (a segment file ends here).
    pub fn push_cutting(&mut self, unit: AccessUnit) -> Option<Fragment> {
        self.take(unit, true)
    }

    /// Stream time at which the unit last pushed begins, ticks from the
    /// first unit.
    pub fn position(&self) -> u64 {
        self.next
    }

    fn take(&mut self, unit: AccessUnit, cut: bool) -> Option<Fragment> {
        self.origin.get_or_insert(unit.timestamp);
        let mut done = None;
        if let Some(prev) = self.pending.take() {
            let duration = unit.timestamp.wrapping_sub(prev.timestamp);
            // A clock going backwards or jumping over a minute is a
            // broken source: show the picture for one frame at 30 fps.
            let duration = if duration == 0 || duration > 60 * TIMESCALE {
                3000
            } else {
                duration
            };
            self.samples.push(Sample::of(&prev, duration));
            self.next += u64::from(duration);
            if unit.is_keyframe() && (cut || self.next - self.start >= u64::from(self.target)) {
                done = self.cut();
            }
        }
        self.pending = Some(unit);
        done
    }

    /// Ends the stream: the last unit lasts as long as the one before it.
    pub fn finish(&mut self) -> Option<Fragment> {
        if let Some(last) = self.pending.take() {
            let d = self.samples.last().map_or(3000, |s| s.duration);
            self.samples.push(Sample::of(&last, d));
            self.next += u64::from(d);
        }
        self.cut()
    }

    fn cut(&mut self) -> Option<Fragment> {
        if self.samples.is_empty() {
            return None;
        }
        self.written += 1;
        let samples = std::mem::take(&mut self.samples);
        let f = Fragment {
            bytes: fragment(self.written, self.start, &samples),
            start: self.start,
            duration: self.next - self.start,
            samples: samples.len(),
        };
        self.start = self.next;
        Some(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The boxes at the top of `b`: (type, size), checking sizes add up.
    fn boxes(b: &[u8]) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < b.len() {
            let size = u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
            assert!(size >= 8 && at + size <= b.len(), "box at {at} overruns");
            out.push((
                String::from_utf8_lossy(&b[at + 4..at + 8]).into_owned(),
                size,
            ));
            at += size;
        }
        out
    }

    const SPS: [u8; 24] = [
        0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
        0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80,
    ];

    fn unit(k: u32, key: bool) -> AccessUnit {
        let mut nals = vec![vec![0x09, 0xf0]];
        if key {
            nals.push(SPS.to_vec());
            nals.push(vec![0x68, 0xce, 0x3c, 0x80]);
        }
        nals.push(vec![if key { 0x65 } else { 0x41 }, k as u8, 1, 2, 3]);
        AccessUnit {
            timestamp: 1_000 + 3000 * k,
            nals,
        }
    }

    #[test]
    fn the_init_segment_is_ftyp_then_moov_with_the_picture_size() {
        let init = init_segment(&SPS, &[0x68, 0xce, 0x3c, 0x80]).expect("valid SPS");
        let top = boxes(&init);
        assert_eq!(
            top.iter().map(|b| b.0.as_str()).collect::<Vec<_>>(),
            ["ftyp", "moov"]
        );
        let tkhd = init.windows(4).position(|w| w == b"tkhd").expect("tkhd");
        let wh = &init[tkhd + 4 + 76..tkhd + 4 + 84];
        assert_eq!(wh, [0x01, 0x40, 0, 0, 0x00, 0xf0, 0, 0], "320 x 240, 16.16");
        assert!(init.windows(4).any(|w| w == b"avcC"));
        assert!(init_segment(&[0x68, 1, 2, 3], &[]).is_err());
        // avcC writes each parameter set's length in 16 bits: a longer one
        // (from a hostile stream) is refused, not written truncated.
        let mut long_pps = vec![0x68];
        long_pps.resize(70_000, 0x80);
        assert_eq!(
            init_segment(&SPS, &long_pps).err(),
            Some(SpsError::OutOfRange("parameter set length"))
        );
    }

    #[test]
    fn fragments_start_at_keyframes_and_their_durations_add_up() {
        // A keyframe every 15 pictures at 30 fps, fragments of at least 1 s.
        let mut f = Fragmenter::new(TIMESCALE);
        let mut out = Vec::new();
        for k in 0..95 {
            out.extend(f.push(unit(k, k % 15 == 0)));
        }
        out.extend(f.finish());
        // Cut at the first keyframe past 1 s: pictures 0-29, 30-59, 60-89,
        // then the rest.
        assert_eq!(
            out.iter().map(|f| f.samples).collect::<Vec<_>>(),
            [30, 30, 30, 5]
        );
        assert_eq!(out.iter().map(|f| f.duration).sum::<u64>(), 95 * 3000);
        for (i, fr) in out.iter().enumerate() {
            let top = boxes(&fr.bytes);
            assert_eq!(
                top.iter().map(|b| b.0.as_str()).collect::<Vec<_>>(),
                ["moof", "mdat"]
            );
            assert_eq!(fr.start, 90_000 * i as u64);
            // mdat holds the samples: 4-byte length + NAL, no AUD, SPS, PPS.
            assert_eq!(top[1].1, 8 + fr.samples * (4 + 5));
        }
    }
}
