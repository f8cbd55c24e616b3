//! RTP packets (RFC 3550 §5.1) as a drone's or a camera's stream sends
//! them: the fixed header, CSRCs, a header extension and padding read and
//! checked, the payload borrowed. Nothing here allocates.

use std::fmt;

/// An RTP packet, borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Payload type (96–127 for dynamic H.264).
    pub payload_type: u8,
    /// The marker bit: for H.264, the last packet of an access unit.
    pub marker: bool,
    /// Sequence number, wrapping at 2^16.
    pub sequence: u16,
    /// Media timestamp (90 kHz for video).
    pub timestamp: u32,
    /// Synchronisation source: which stream.
    pub ssrc: u32,
    /// The payload, padding and extension removed.
    pub payload: &'a [u8],
}

/// Why a datagram is not an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpError {
    /// Shorter than the header it announces.
    Truncated,
    /// Version other than 2.
    Version(u8),
    /// Padding longer than the packet.
    Padding,
}

impl fmt::Display for RtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtpError::Truncated => f.write_str("RTP packet shorter than its header"),
            RtpError::Version(v) => write!(f, "RTP version {v}, expected 2"),
            RtpError::Padding => f.write_str("RTP padding longer than the packet"),
        }
    }
}

impl std::error::Error for RtpError {}

impl<'a> Packet<'a> {
    /// Reads one packet from a datagram.
    pub fn parse(b: &'a [u8]) -> Result<Packet<'a>, RtpError> {
        if b.len() < 12 {
            return Err(RtpError::Truncated);
        }
        let version = b[0] >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        let padding = b[0] & 0x20 != 0;
        let extension = b[0] & 0x10 != 0;
        let csrcs = usize::from(b[0] & 0x0f);
        let mut start = 12 + 4 * csrcs;
        if extension {
            let ext = b.get(start..start + 4).ok_or(RtpError::Truncated)?;
            start += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        }
        let mut end = b.len();
        if padding {
            let n = usize::from(*b.last().ok_or(RtpError::Truncated)?);
            if n == 0 || n > end.saturating_sub(start) {
                return Err(RtpError::Padding);
            }
            end -= n;
        }
        if start > end {
            return Err(RtpError::Truncated);
        }
        Ok(Packet {
            payload_type: b[1] & 0x7f,
            marker: b[1] & 0x80 != 0,
            sequence: u16::from_be_bytes([b[2], b[3]]),
            timestamp: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            payload: &b[start..end],
        })
    }

    /// Writes the packet (no CSRC, no extension, no padding) into `out`,
    /// cleared first: what a simulated source sends.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.clear();
        out.push(0x80);
        out.push(self.payload_type & 0x7f | if self.marker { 0x80 } else { 0 });
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(self.payload);
    }
}

/// Turns access units into RTP datagrams for one stream, as a camera
/// sends them: RFC 6184 payloads of at most `mtu` bytes, consecutive
/// sequence numbers, the marker on each unit's last packet.
#[derive(Debug, Clone)]
pub struct Sender {
    /// Payload type (dynamic, 96–127).
    pub payload_type: u8,
    /// The stream's synchronisation source.
    pub ssrc: u32,
    /// Sequence number of the next packet.
    pub sequence: u16,
    /// Largest payload, bytes.
    pub mtu: usize,
    payloads: Vec<(bool, Vec<u8>)>,
}

impl Sender {
    /// A stream starting at `sequence`.
    pub fn new(payload_type: u8, ssrc: u32, sequence: u16, mtu: usize) -> Sender {
        Sender {
            payload_type,
            ssrc,
            sequence,
            mtu,
            payloads: Vec::new(),
        }
    }

    /// Appends the datagrams of `unit` to `out`.
    pub fn send(&mut self, unit: &super::h264::AccessUnit, out: &mut Vec<Vec<u8>>) {
        self.payloads.clear();
        super::h264::packetize(unit, self.mtu, &mut self.payloads);
        for (marker, payload) in &self.payloads {
            let mut b = Vec::with_capacity(payload.len() + 12);
            Packet {
                payload_type: self.payload_type,
                marker: *marker,
                sequence: self.sequence,
                timestamp: unit.timestamp,
                ssrc: self.ssrc,
                payload,
            }
            .write(&mut b);
            out.push(b);
            self.sequence = self.sequence.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes_and_skips_csrcs_extension_and_padding() {
        let p = Packet {
            payload_type: 96,
            marker: true,
            sequence: 65_535,
            timestamp: 0xdead_beef,
            ssrc: 7,
            payload: &[1, 2, 3],
        };
        let mut b = Vec::new();
        p.write(&mut b);
        assert_eq!(Packet::parse(&b), Ok(p));
        // Two CSRCs, a one-word extension and two bytes of padding.
        let mut full = vec![0x80 | 0x20 | 0x10 | 2, 96];
        full.extend_from_slice(&b[2..12]);
        full.extend_from_slice(&[0; 8]);
        full.extend_from_slice(&[0xbe, 0xde, 0, 1, 9, 9, 9, 9]);
        full.extend_from_slice(&[4, 5]);
        full.extend_from_slice(&[0, 2]);
        let q = Packet::parse(&full).expect("parses");
        assert_eq!(q.payload, &[4, 5]);
        assert!(!q.marker);
    }

    #[test]
    fn refuses_what_is_not_rtp_and_never_panics_on_garbage() {
        assert_eq!(Packet::parse(&[0x80; 11]), Err(RtpError::Truncated));
        assert_eq!(Packet::parse(&[0x40; 12]), Err(RtpError::Version(1)));
        let mut padded = vec![0xa0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9];
        padded.push(200);
        assert_eq!(Packet::parse(&padded), Err(RtpError::Padding));
        let ext = [0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 9];
        assert_eq!(Packet::parse(&ext), Err(RtpError::Truncated));
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..400usize {
            let mut b = vec![0u8; len % 64];
            for byte in &mut b {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *byte = x as u8;
            }
            let _ = Packet::parse(&b);
        }
    }
}
