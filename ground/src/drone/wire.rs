//! MAVLink framing: split received bytes into frames, check them, decode the
//! payload; encode (and sign) outgoing messages.
//!
//! A datagram may hold several frames, or garbage between frames (a serial
//! bridge, a fuzzer, an attacker): the splitter resynchronises on the next
//! start byte and reports every rejected stretch, so the link can count and
//! rate-limit them. It never panics on any input.

use mavlink::dialects::ardupilotmega::MavMessage;
use mavlink::{MavHeader, MavlinkVersion, Message};

/// MAVLink 1 start byte.
pub const STX_V1: u8 = 0xFE;
/// MAVLink 2 start byte.
pub const STX_V2: u8 = 0xFD;
/// MAVLink 2 incompatibility flag: the frame carries a signature.
pub const IFLAG_SIGNED: u8 = 0x01;
/// Length of a MAVLink 2 signature block (link id, timestamp, value).
pub const SIGNATURE_LEN: usize = 13;
/// Largest frame on the wire (MAVLink 2, signed, full payload).
pub const MAX_FRAME_LEN: usize = 10 + 255 + 2 + SIGNATURE_LEN;

/// Why bytes were rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Bytes before a start byte, or after a bad frame, that are no frame.
    Garbage,
    /// A frame cut short by the end of the datagram.
    Truncated,
    /// The checksum does not match.
    BadCrc,
    /// A message id this dialect does not know.
    UnknownMessage(u32),
    /// Incompatibility flags this implementation does not support.
    UnsupportedFlags(u8),
    /// The payload does not decode (bad enum value, ...).
    BadPayload(u32),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Garbage => write!(f, "bytes outside any frame"),
            FrameError::Truncated => write!(f, "truncated frame"),
            FrameError::BadCrc => write!(f, "bad checksum"),
            FrameError::UnknownMessage(id) => write!(f, "unknown message id {id}"),
            FrameError::UnsupportedFlags(fl) => {
                write!(f, "unsupported incompatibility flags {fl:#04x}")
            }
            FrameError::BadPayload(id) => write!(f, "undecodable payload for message id {id}"),
        }
    }
}

/// A checked frame, borrowing the received bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame<'a> {
    /// Protocol version.
    pub version: MavlinkVersion,
    /// Sequence, system and component ids.
    pub header: MavHeader,
    /// Message id.
    pub msgid: u32,
    /// Payload bytes (MAVLink 2 payloads may be truncated of trailing zeros).
    pub payload: &'a [u8],
    /// The whole frame as received (for signature checks).
    pub raw: &'a [u8],
    /// The signature block, when the frame is signed.
    pub signature: Option<&'a [u8]>,
}

impl Frame<'_> {
    /// Decodes the payload.
    pub fn decode(&self) -> Result<MavMessage, FrameError> {
        MavMessage::parse(self.version, self.msgid, self.payload)
            .map_err(|_| FrameError::BadPayload(self.msgid))
    }

    /// The signature's 48-bit timestamp (10 µs units since 2015-01-01).
    pub fn signature_timestamp(&self) -> Option<u64> {
        self.signature.map(|s| {
            let mut t = [0u8; 8];
            t[..6].copy_from_slice(&s[1..7]);
            u64::from_le_bytes(t)
        })
    }

    /// The signature's link id.
    pub fn signature_link_id(&self) -> Option<u8> {
        self.signature.map(|s| s[0])
    }
}

/// The CRC-16/MCRF4XX (X.25) tables MAVLink uses, for slicing by 8:
/// `CRC_TABLES[k][b]` is the checksum contribution of byte `b` followed by
/// `k` zero bytes. Table 0 is the classic byte-at-a-time table.
const CRC_TABLES: [[u16; 256]; 8] = {
    let mut t = [[0u16; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
};

/// Accumulates the MAVLink checksum over `data`, starting from `crc`.
///
/// Eight bytes per step with independent table reads (slicing by 8): the
/// byte-at-a-time loop is one long dependency chain, and the checksum was
/// the largest single cost of ingest.
#[inline]
pub fn crc_accumulate(mut crc: u16, data: &[u8]) -> u16 {
    let t = &CRC_TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let b0 = c[0] ^ crc as u8;
        let b1 = c[1] ^ (crc >> 8) as u8;
        crc = t[7][b0 as usize]
            ^ t[6][b1 as usize]
            ^ t[5][c[2] as usize]
            ^ t[4][c[3] as usize]
            ^ t[3][c[4] as usize]
            ^ t[2][c[5] as usize]
            ^ t[1][c[6] as usize]
            ^ t[0][c[7] as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ t[0][((crc ^ b as u16) & 0xff) as usize];
    }
    crc
}

/// The CRC_EXTRA seed of a message id, or `None` for ids the dialect lacks.
#[inline(always)]
fn extra_crc(msgid: u32) -> Option<u8> {
    // The generated dialect returns 0 for unknown ids; 0 is also a legal seed
    // for no message we know of in common/ardupilotmega, so 0 means unknown
    // unless the id decodes to a default message.
    match MavMessage::extra_crc(msgid) {
        0 => MavMessage::default_message_from_id(msgid).map(|_| 0),
        x => Some(x),
    }
}

/// Splits `bytes` into frames and rejected stretches, in order.
pub fn frames(bytes: &[u8]) -> Frames<'_> {
    Frames { bytes, pos: 0 }
}

/// Iterator over the frames of a buffer; see [`frames`].
#[derive(Debug)]
pub struct Frames<'a> {
    /// The buffer.
    bytes: &'a [u8],
    /// Next unread byte.
    pos: usize,
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, FrameError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.bytes[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let start = rest.iter().position(|&b| b == STX_V2 || b == STX_V1);
        match start {
            None => {
                self.pos = self.bytes.len();
                Some(Err(FrameError::Garbage))
            }
            Some(0) => {
                let (result, used) = parse_one(rest);
                // On a bad frame skip only the start byte: a real frame may
                // begin inside what looked like one.
                self.pos += if result.is_ok() { used } else { used.max(1) };
                Some(result)
            }
            Some(n) => {
                self.pos += n;
                Some(Err(FrameError::Garbage))
            }
        }
    }
}

/// Parses the frame at the start of `b` (which begins with a start byte).
/// Returns the result and the bytes it spans (1 on a bad frame).
#[inline]
fn parse_one(b: &[u8]) -> (Result<Frame<'_>, FrameError>, usize) {
    if b[0] == STX_V2 {
        if b.len() < 12 {
            return (Err(FrameError::Truncated), 1);
        }
        let len = b[1] as usize;
        let incompat = b[2];
        if incompat & !IFLAG_SIGNED != 0 {
            return (Err(FrameError::UnsupportedFlags(incompat)), 1);
        }
        let signed = incompat & IFLAG_SIGNED != 0;
        let total = 10 + len + 2 + if signed { SIGNATURE_LEN } else { 0 };
        if b.len() < total {
            return (Err(FrameError::Truncated), 1);
        }
        let msgid = u32::from_le_bytes([b[7], b[8], b[9], 0]);
        let Some(extra) = extra_crc(msgid) else {
            // Without the seed the CRC can't be checked, so the length can't
            // be trusted either: skip only the start byte, or stray bytes
            // that look like a header would swallow the real frame after
            // them. Anything found inside must still pass its own CRC.
            return (Err(FrameError::UnknownMessage(msgid)), 1);
        };
        let crc = crc_accumulate(crc_accumulate(0xffff, &b[1..10 + len]), &[extra]);
        if crc != u16::from_le_bytes([b[10 + len], b[11 + len]]) {
            return (Err(FrameError::BadCrc), 1);
        }
        let frame = Frame {
            version: MavlinkVersion::V2,
            header: MavHeader {
                sequence: b[4],
                system_id: b[5] as u32,
                component_id: b[6],
            },
            msgid,
            payload: &b[10..10 + len],
            raw: &b[..total],
            signature: signed.then(|| &b[12 + len..total]),
        };
        (Ok(frame), total)
    } else {
        if b.len() < 8 {
            return (Err(FrameError::Truncated), 1);
        }
        let len = b[1] as usize;
        let total = 6 + len + 2;
        if b.len() < total {
            return (Err(FrameError::Truncated), 1);
        }
        let msgid = b[5] as u32;
        let Some(extra) = extra_crc(msgid) else {
            return (Err(FrameError::UnknownMessage(msgid)), 1);
        };
        let crc = crc_accumulate(crc_accumulate(0xffff, &b[1..6 + len]), &[extra]);
        if crc != u16::from_le_bytes([b[6 + len], b[7 + len]]) {
            return (Err(FrameError::BadCrc), 1);
        }
        let frame = Frame {
            version: MavlinkVersion::V1,
            header: MavHeader {
                sequence: b[2],
                system_id: b[3] as u32,
                component_id: b[4],
            },
            msgid,
            payload: &b[6..6 + len],
            raw: &b[..total],
            signature: None,
        };
        (Ok(frame), total)
    }
}

/// For a byte stream (TCP): how many leading bytes of `buf` the splitter
/// can decide on now (whole frames, rejected stretches); the rest is the
/// start of a frame still arriving and must be kept for the next read.
///
/// It decides exactly as [`frames`] does, so a false start byte claiming a
/// long frame is rejected by its checksum once its bytes are in, and the
/// real frame found inside it is not cut in two.
pub fn complete_prefix_len(buf: &[u8]) -> usize {
    let mut pos = 0;
    while pos < buf.len() {
        let Some(off) = buf[pos..].iter().position(|&b| b == STX_V2 || b == STX_V1) else {
            return buf.len();
        };
        let start = pos + off;
        let b = &buf[start..];
        let need = match b[0] {
            STX_V2 if b.len() >= 3 => {
                10 + b[1] as usize
                    + 2
                    + if b[2] & IFLAG_SIGNED != 0 {
                        SIGNATURE_LEN
                    } else {
                        0
                    }
            }
            STX_V1 if b.len() >= 2 => 6 + b[1] as usize + 2,
            _ => return start,
        };
        if b.len() < need {
            return start;
        }
        let (result, used) = parse_one(b);
        pos = start + if result.is_ok() { used } else { 1 };
    }
    buf.len()
}

/// Reassembles a byte stream (TCP) into runs of whole frames.
///
/// Holds at most one unfinished frame ([`MAX_FRAME_LEN`] bytes): whatever a
/// peer sends, the buffer cannot grow past that.
#[derive(Debug, Default)]
pub struct StreamBuffer {
    /// Bytes of a frame still arriving.
    pending: Vec<u8>,
}

impl StreamBuffer {
    /// Appends `bytes` and hands every run that can be decided on now to
    /// `decided` (feed it to [`frames`] or the link core).
    pub fn push(&mut self, bytes: &[u8], mut decided: impl FnMut(&[u8])) {
        // The common case: nothing pending and the read ends on a frame
        // boundary, so no copy.
        if self.pending.is_empty() {
            let n = complete_prefix_len(bytes);
            if n > 0 {
                decided(&bytes[..n]);
            }
            self.pending.extend_from_slice(&bytes[n..]);
        } else {
            self.pending.extend_from_slice(bytes);
            let n = complete_prefix_len(&self.pending);
            if n > 0 {
                decided(&self.pending[..n]);
                self.pending.drain(..n);
            }
        }
        // Cannot happen (an unfinished frame is shorter than the largest
        // one), kept as the bound's guarantee.
        if self.pending.len() > MAX_FRAME_LEN {
            self.pending.clear();
        }
    }

    /// Bytes held for the next read.
    pub fn buffered(&self) -> usize {
        self.pending.len()
    }

    /// Forgets the unfinished frame (the connection was lost).
    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

/// A MAVLink header from its three fields as they travel (one byte each).
pub fn header(system_id: u8, component_id: u8, sequence: u8) -> MavHeader {
    MavHeader {
        system_id: u32::from(system_id),
        component_id,
        sequence,
    }
}

/// Encodes `msg` as a MAVLink 2 frame appended to `out`; signs it when `sign`
/// gives a key, link id and timestamp.
pub fn encode(
    out: &mut Vec<u8>,
    header: MavHeader,
    msg: &MavMessage,
    sign: Option<(&[u8; 32], u8, u64)>,
) {
    let mut payload = [0u8; 255];
    let mut len = msg.ser(MavlinkVersion::V2, &mut payload);
    // MAVLink 2 truncates trailing zero bytes (at least one byte remains).
    while len > 1 && payload[len - 1] == 0 {
        len -= 1;
    }
    let msgid = msg.message_id();
    let start = out.len();
    let id = msgid.to_le_bytes();
    out.extend_from_slice(&[
        STX_V2,
        len as u8,
        if sign.is_some() { IFLAG_SIGNED } else { 0 },
        0,
        header.sequence,
        header.system_id as u8,
        header.component_id,
        id[0],
        id[1],
        id[2],
    ]);
    out.extend_from_slice(&payload[..len]);
    let crc = crc_accumulate(
        crc_accumulate(0xffff, &out[start + 1..]),
        &[MavMessage::extra_crc(msgid)],
    );
    out.extend_from_slice(&crc.to_le_bytes());
    if let Some((key, link_id, timestamp)) = sign {
        let ts = timestamp.to_le_bytes();
        out.push(link_id);
        out.extend_from_slice(&ts[..6]);
        let value = crate::drone::signing::signature(key, &out[start..]);
        out.extend_from_slice(&value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mavlink::dialects::ardupilotmega::{GLOBAL_POSITION_INT_DATA, HEARTBEAT_DATA};

    fn position() -> MavMessage {
        MavMessage::GLOBAL_POSITION_INT(GLOBAL_POSITION_INT_DATA {
            time_boot_ms: 1234,
            lat: 489_244_590,
            lon: 23_601_640,
            alt: 85_000,
            relative_alt: 50_000,
            vx: 100,
            vy: -50,
            vz: 0,
            hdg: 9000,
        })
    }

    fn header(seq: u8) -> MavHeader {
        MavHeader {
            system_id: 7,
            component_id: 1,
            sequence: seq,
        }
    }

    #[test]
    fn our_encoding_matches_the_mavlink_crate_and_round_trips() {
        let mut ours = Vec::new();
        encode(&mut ours, header(3), &position(), None);
        let mut theirs = Vec::new();
        mavlink::write_v2_msg(&mut theirs, header(3), &position()).unwrap();
        assert_eq!(ours, theirs);
        let got: Vec<_> = frames(&ours).collect();
        assert_eq!(got.len(), 1);
        let f = got[0].unwrap();
        assert_eq!(f.header, header(3));
        assert_eq!(f.decode().unwrap(), position());
    }

    #[test]
    fn sliced_checksum_matches_the_byte_at_a_time_definition() {
        fn bytewise(mut crc: u16, data: &[u8]) -> u16 {
            for &b in data {
                let mut x = (b ^ crc as u8) as u16;
                x ^= (x << 4) & 0xff;
                crc = (crc >> 8) ^ (x << 8) ^ (x << 3) ^ (x >> 4);
            }
            crc
        }
        // "123456789" is the catalogue check value of CRC-16/MCRF4XX.
        assert_eq!(crc_accumulate(0xffff, b"123456789"), 0x6f91);
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7919 % 251) as u8).collect();
        for start in 0..20 {
            for end in start..data.len() {
                assert_eq!(
                    crc_accumulate(0x1234, &data[start..end]),
                    bytewise(0x1234, &data[start..end])
                );
            }
        }
    }

    #[test]
    fn v1_frames_from_the_crate_decode() {
        let msg = MavMessage::HEARTBEAT(HEARTBEAT_DATA::default());
        let mut buf = Vec::new();
        mavlink::write_v1_msg(&mut buf, header(9), &msg).unwrap();
        let f = frames(&buf).next().unwrap().unwrap();
        assert_eq!(f.version, MavlinkVersion::V1);
        assert_eq!(f.decode().unwrap(), msg);
    }

    #[test]
    fn garbage_bad_crc_and_truncation_are_reported_and_good_frames_survive() {
        let mut good = Vec::new();
        encode(&mut good, header(1), &position(), None);
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 3] ^= 0x55;
        let mut buf = vec![1, 2, 3];
        buf.extend_from_slice(&bad);
        buf.extend_from_slice(&good);
        buf.extend_from_slice(&good[..good.len() - 4]);
        let results: Vec<_> = frames(&buf).collect();
        let oks = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(oks, 1);
        assert_eq!(results[0].unwrap_err(), FrameError::Garbage);
        let errors: Vec<_> = results.iter().filter_map(|r| r.err()).collect();
        assert!(errors.contains(&FrameError::BadCrc), "{errors:?}");
        assert!(errors.contains(&FrameError::Truncated), "{errors:?}");
    }

    #[test]
    fn a_stream_keeps_the_unfinished_frame_for_the_next_read() {
        let mut buf = Vec::new();
        encode(&mut buf, header(1), &position(), None);
        let one = buf.len();
        encode(&mut buf, header(2), &position(), None);
        assert_eq!(complete_prefix_len(&buf), buf.len());
        assert_eq!(complete_prefix_len(&buf[..one + 5]), one);
        assert_eq!(complete_prefix_len(&buf[..one + 1]), one);
        assert_eq!(complete_prefix_len(&[1, 2, 3]), 3);
    }

    #[test]
    fn a_stream_finds_the_real_frame_inside_a_false_header() {
        // A false header claiming a frame that ends inside the real one
        // following it, then filler.
        let mut stream = vec![0xFD, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
        encode(&mut stream, header(4), &position(), None);
        stream.extend(std::iter::repeat_n(0u8, 300));
        for chunk in [1, 7, 64, stream.len()] {
            let mut buf = StreamBuffer::default();
            let mut good = Vec::new();
            for c in stream.chunks(chunk) {
                buf.push(c, |run| {
                    good.extend(frames(run).filter_map(Result::ok).map(|f| f.decode()));
                });
                assert!(buf.buffered() <= MAX_FRAME_LEN);
            }
            assert_eq!(good, vec![Ok(position())], "chunks of {chunk}");
        }
    }

    #[test]
    fn a_false_header_does_not_swallow_the_real_frame_after_it() {
        let mut buf = vec![0xFD, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0xDE, 0xBC, 0x0A];
        encode(&mut buf, header(4), &position(), None);
        let good: Vec<_> = frames(&buf).filter_map(Result::ok).collect();
        assert_eq!(good.len(), 1);
        assert_eq!(good[0].decode().unwrap(), position());
    }

    #[test]
    fn unknown_message_ids_are_named() {
        let mut buf = Vec::new();
        encode(&mut buf, header(1), &position(), None);
        // Message id 0xABCDE is in no dialect.
        buf[7] = 0xDE;
        buf[8] = 0xBC;
        buf[9] = 0x0A;
        let r: Vec<_> = frames(&buf).collect();
        assert_eq!(r[0].unwrap_err(), FrameError::UnknownMessage(0x0ABCDE));
    }

    #[test]
    fn every_prefix_and_every_single_byte_flip_is_handled_without_panic() {
        let mut buf = Vec::new();
        encode(&mut buf, header(1), &position(), None);
        for cut in 0..buf.len() {
            for r in frames(&buf[..cut]) {
                assert!(r.is_err());
            }
        }
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[i] ^= 1 << bit;
                for f in frames(&b).flatten() {
                    let _ = f.decode();
                }
            }
        }
    }
}
