//! MAVLink 2 message signing: keys, signatures, timestamps.
//!
//! A signature is the first 6 bytes of SHA-256(key ‖ frame up to and
//! including the 6-byte timestamp). Timestamps count 10 µs units since
//! 2015-01-01 00:00 UTC and must strictly increase per stream (system,
//! component, link id): that is what stops replays, so ours must never go
//! backwards, not even across a restart or a clock step. [`Signer`] takes
//! timestamps from a high-water mark reserved in storage ahead of use.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::wire::Frame;

/// Seconds from the Unix epoch to 2015-01-01 00:00 UTC.
const EPOCH_2015_UNIX_S: u64 = 1_420_070_400;

/// How far a new stream's first timestamp may lag our clock (spec: 1 minute).
pub const MAX_NEW_STREAM_LAG: u64 = 60 * 100_000;

/// Parses a 32-byte signing key written as 64 hexadecimal digits.
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return Err(format!(
            "signing_key must be 64 hex digits (32 bytes), got {} characters",
            text.chars().count()
        ));
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("signing_key has a non-hex digit near position {}", 2 * i))?;
    }
    if key == [0u8; 32] {
        return Err(
            "signing_key is all zeros: anyone can sign with it. Generate a random key (e.g. `openssl rand -hex 32`) and set the same on the vehicles".into(),
        );
    }
    Ok(key)
}

/// The 6-byte signature of `signed_part` (the frame from its start byte to
/// the end of the timestamp).
pub fn signature(key: &[u8; 32], signed_part: &[u8]) -> [u8; 6] {
    let mut h = Sha256::new();
    h.update(key);
    h.update(signed_part);
    let digest = h.finalize();
    let mut out = [0u8; 6];
    out.copy_from_slice(&digest[..6]);
    out
}

/// A signing timestamp for a Unix time in milliseconds.
pub fn timestamp_from_unix_ms(unix_ms: i64) -> u64 {
    let ms = (unix_ms.max(0) as u64).saturating_sub(EPOCH_2015_UNIX_S * 1000);
    ms * 100
}

/// Why a received frame failed the signing check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningReject {
    /// Signing is required on this link and the frame is unsigned (or v1).
    Unsigned,
    /// The signature does not match the key.
    BadSignature,
    /// The timestamp is not newer than the last one of its stream.
    Replayed,
    /// A new stream's timestamp lags our clock by more than a minute.
    TooOld,
}

impl std::fmt::Display for SigningReject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SigningReject::Unsigned => "unsigned message on a signed link",
            SigningReject::BadSignature => "bad signature (wrong key?)",
            SigningReject::Replayed => "replayed or out-of-order signature timestamp",
            SigningReject::TooOld => "signature timestamp more than a minute old",
        })
    }
}

/// Checks incoming signatures and tracks per-stream timestamps.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// The link's key.
    key: [u8; 32],
    /// Last accepted timestamp per (system, component, link id).
    streams: HashMap<(u32, u8, u8), u64>,
}

impl Verifier {
    /// A verifier for `key`.
    pub fn new(key: [u8; 32]) -> Verifier {
        Verifier {
            key,
            streams: HashMap::new(),
        }
    }

    /// Accepts or rejects a frame; `now_ts` is our current signing timestamp.
    pub fn check(&mut self, frame: &Frame<'_>, now_ts: u64) -> Result<(), SigningReject> {
        let (Some(sig), Some(ts), Some(link_id)) = (
            frame.signature,
            frame.signature_timestamp(),
            frame.signature_link_id(),
        ) else {
            return Err(SigningReject::Unsigned);
        };
        let signed_len = frame.raw.len() - 6;
        if signature(&self.key, &frame.raw[..signed_len]) != sig[7..13] {
            return Err(SigningReject::BadSignature);
        }
        let stream = (frame.header.system_id, frame.header.component_id, link_id);
        match self.streams.get(&stream) {
            Some(&last) if ts <= last => return Err(SigningReject::Replayed),
            None if ts + MAX_NEW_STREAM_LAG < now_ts => return Err(SigningReject::TooOld),
            _ => {}
        }
        self.streams.insert(stream, ts);
        Ok(())
    }
}

/// Hands out strictly increasing signing timestamps that never go backwards
/// across restarts.
///
/// Timestamps are used only below a reservation already persisted. The
/// next one is asked for early ([`Signer::wants_renewal`], half a span
/// before the end), so that its write runs off the link while signing goes
/// on; only a write slower than half a span (5 minutes) holds frames back.
/// After a restart, start from the stored value.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The link's key.
    pub key: [u8; 32],
    /// Our link id in signatures.
    pub link_id: u8,
    /// Last timestamp used.
    last: u64,
    /// Timestamps below this value are covered by the persisted reservation.
    reserved: u64,
    /// A reservation asked for and not yet persisted.
    requested: Option<u64>,
}

/// How far ahead a reservation reaches: 10 minutes of timestamps.
pub const RESERVATION_SPAN: u64 = 600 * 100_000;

impl Signer {
    /// A signer that starts above `stored_reservation` (0 on first use).
    pub fn new(key: [u8; 32], link_id: u8, stored_reservation: u64) -> Signer {
        Signer {
            key,
            link_id,
            last: stored_reservation,
            reserved: stored_reservation,
            requested: None,
        }
    }

    /// The timestamp the next frame would get at `wall_ts`.
    fn upcoming(&self, wall_ts: u64) -> u64 {
        wall_ts.max(self.last + 1)
    }

    /// The next timestamp, given the wall clock's; only when
    /// [`Signer::covers`] said so.
    pub fn next(&mut self, wall_ts: u64) -> u64 {
        self.last = self.upcoming(wall_ts);
        self.last
    }

    /// Whether a frame may be signed now: its timestamp is below the
    /// persisted reservation.
    pub fn covers(&self, wall_ts: u64) -> bool {
        self.upcoming(wall_ts) < self.reserved
    }

    /// Whether to ask for the next reservation now: none is in flight and
    /// less than half a span is left.
    pub fn wants_renewal(&self, wall_ts: u64) -> bool {
        self.requested.is_none() && self.upcoming(wall_ts) + RESERVATION_SPAN / 2 >= self.reserved
    }

    /// Asks for a reservation a span ahead; returns the value to persist.
    pub fn request(&mut self, wall_ts: u64) -> u64 {
        let r = self.upcoming(wall_ts) + RESERVATION_SPAN;
        self.requested = Some(r);
        r
    }

    /// `reservation` is on disk: timestamps below it may be used.
    pub fn persisted(&mut self, reservation: u64) {
        self.reserved = self.reserved.max(reservation);
        if self.requested.is_some_and(|r| r <= reservation) {
            self.requested = None;
        }
    }

    /// The write of `reservation` failed: it will be asked for again.
    pub fn not_persisted(&mut self, reservation: u64) {
        if self.requested == Some(reservation) {
            self.requested = None;
        }
    }

    /// The last persisted reservation.
    pub fn reservation(&self) -> u64 {
        self.reserved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drone::wire;
    use mavlink::MavHeader;
    use mavlink::dialects::ardupilotmega::{HEARTBEAT_DATA, MavMessage};

    const KEY: [u8; 32] = [7; 32];

    fn signed(ts: u64, key: &[u8; 32]) -> Vec<u8> {
        let mut buf = Vec::new();
        let h = MavHeader {
            system_id: 1,
            component_id: 1,
            sequence: 0,
        };
        wire::encode(
            &mut buf,
            h,
            &MavMessage::HEARTBEAT(HEARTBEAT_DATA::default()),
            Some((key, 2, ts)),
        );
        buf
    }

    #[test]
    fn our_signatures_verify_with_the_mavlink_crate() {
        let buf = signed(1000, &KEY);
        let mut raw = mavlink::MAVLinkV2MessageRaw::new();
        raw.as_mut_slice()[..buf.len()].copy_from_slice(&buf);
        let mut value = [0u8; 6];
        raw.calculate_signature(&KEY, &mut value);
        assert_eq!(value, raw.signature_value());
    }

    #[test]
    fn verifier_rejects_unsigned_wrong_key_replay_and_stale() {
        let mut v = Verifier::new(KEY);
        let now = 10_000_000;
        let ok = signed(now, &KEY);
        let f = wire::frames(&ok).next().unwrap().unwrap();
        assert_eq!(v.check(&f, now), Ok(()));
        assert_eq!(v.check(&f, now), Err(SigningReject::Replayed));
        let bad = signed(now + 5, &[8; 32]);
        let f = wire::frames(&bad).next().unwrap().unwrap();
        assert_eq!(v.check(&f, now), Err(SigningReject::BadSignature));
        let mut unsigned = Vec::new();
        wire::encode(
            &mut unsigned,
            MavHeader::default(),
            &MavMessage::HEARTBEAT(HEARTBEAT_DATA::default()),
            None,
        );
        let f = wire::frames(&unsigned).next().unwrap().unwrap();
        assert_eq!(v.check(&f, now), Err(SigningReject::Unsigned));
        let mut fresh = Verifier::new(KEY);
        let stale = signed(now - MAX_NEW_STREAM_LAG - 1, &KEY);
        let f = wire::frames(&stale).next().unwrap().unwrap();
        assert_eq!(fresh.check(&f, now), Err(SigningReject::TooOld));
    }

    #[test]
    fn timestamps_never_go_backwards_across_a_restart_or_clock_step() {
        let mut s = Signer::new(KEY, 0, 0);
        let wall = 500_000_000;
        assert!(
            !s.covers(wall),
            "nothing is signed before a reservation is stored"
        );
        assert!(s.wants_renewal(wall));
        let stored = s.request(wall);
        assert!(!s.wants_renewal(wall), "one request in flight");
        s.persisted(stored);
        assert!(s.covers(wall));
        let a = s.next(wall);
        let b = s.next(wall); // same wall time: still increases
        assert!(b > a);
        // Restart with the clock stepped back an hour: start above the store.
        let mut s2 = Signer::new(KEY, 0, stored);
        let c = s2.next(wall - 360_000_000);
        assert!(c > b && c > stored);
    }

    #[test]
    fn the_next_reservation_is_asked_for_early_and_signing_goes_on_meanwhile() {
        let mut s = Signer::new(KEY, 0, 0);
        let wall = 500_000_000;
        let first = s.request(wall);
        s.persisted(first);
        // Past half the span: renewal wanted, signing still covered.
        let later = wall + RESERVATION_SPAN / 2 + 1;
        assert!(s.wants_renewal(later));
        let second = s.request(later);
        assert!(s.covers(later));
        s.next(later);
        // The write fails: asked again; it lands: covered further.
        s.not_persisted(second);
        assert!(s.wants_renewal(later));
        let third = s.request(later);
        let end = first + 10;
        assert!(!s.covers(end), "beyond the stored reservation: held");
        s.persisted(third);
        assert!(s.covers(end));
        assert!(!s.wants_renewal(later), "a span ahead again");
    }
}
