//! The bytes side of one simulated drone: frames in, frames out, MAVLink 2
//! signing, sequence numbers. Sans-I/O like the vehicle: the drivers pass
//! datagrams and a wall-clock signing timestamp in and get bytes back.
//!
//! Framing and signatures reuse the ground's codec (`vigie_ground::drone`),
//! the same code that reads real autopilots, so the simulator cannot drift
//! from what the ground accepts; the interop tests check both against
//! pymavlink.

use mavlink::MavHeader;
use mavlink::dialects::ardupilotmega::MavMessage;
use vigie_ground::drone::signing::{Signer, Verifier};
use vigie_ground::drone::wire;

use super::vehicle::Outgoing;

/// Counters of what the link received and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Messages decoded and accepted.
    pub accepted: u64,
    /// Malformed bytes: garbage, truncation, bad checksum, unknown id.
    pub malformed: u64,
    /// Unsigned messages dropped because signing is required.
    pub unsigned: u64,
    /// Messages with a wrong signature or a replayed timestamp.
    pub bad_signature: u64,
    /// Frames sent.
    pub sent: u64,
}

/// MAVLink 2 signing state for one vehicle.
#[derive(Debug, Clone)]
struct Signing {
    /// Signs outgoing frames.
    signer: Signer,
    /// Checks incoming frames.
    verifier: Verifier,
}

/// Encoder and decoder for one vehicle's link.
#[derive(Debug, Clone)]
pub struct Link {
    /// Our system id.
    system_id: u8,
    /// Next sequence number per sending component (index: component id).
    seq: [u8; 256],
    /// Signing, when a key is configured.
    signing: Option<Signing>,
    /// Counters.
    stats: LinkStats,
}

impl Link {
    /// A link for system `system_id`; with a key, outgoing frames are signed
    /// and unsigned or badly signed incoming frames are dropped.
    ///
    /// The simulator does not persist signing timestamps: it starts from the
    /// wall clock, which is enough for a process that runs once.
    pub fn new(system_id: u8, signing_key: Option<[u8; 32]>) -> Link {
        Link {
            system_id,
            seq: [0; 256],
            signing: signing_key.map(|key| Signing {
                signer: Signer::new(key, 0, 0),
                verifier: Verifier::new(key),
            }),
            stats: LinkStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Decodes a datagram; `wall_ts` is the current signing timestamp
    /// (10 µs units since 2015). Bad frames are counted and skipped.
    pub fn decode(&mut self, bytes: &[u8], wall_ts: u64) -> Vec<(MavHeader, MavMessage)> {
        let mut out = Vec::new();
        for frame in wire::frames(bytes) {
            let Ok(frame) = frame else {
                self.stats.malformed += 1;
                continue;
            };
            if let Some(s) = self.signing.as_mut() {
                match s.verifier.check(&frame, wall_ts) {
                    Ok(()) => {}
                    Err(vigie_ground::drone::signing::SigningReject::Unsigned) => {
                        self.stats.unsigned += 1;
                        continue;
                    }
                    Err(_) => {
                        self.stats.bad_signature += 1;
                        continue;
                    }
                }
            }
            match frame.decode() {
                Ok(msg) => {
                    self.stats.accepted += 1;
                    out.push((frame.header, msg));
                }
                Err(_) => self.stats.malformed += 1,
            }
        }
        out
    }

    /// Appends `msg` as a MAVLink 2 frame to `buf`, signed when a key is set.
    pub fn encode(&mut self, msg: &Outgoing, wall_ts: u64, buf: &mut Vec<u8>) {
        let c = usize::from(msg.component_id);
        let header = MavHeader {
            system_id: u32::from(self.system_id),
            component_id: msg.component_id,
            sequence: self.seq[c],
        };
        self.seq[c] = self.seq[c].wrapping_add(1);
        match self.signing.as_mut() {
            Some(s) => {
                let ts = s.signer.next(wall_ts);
                let (key, link_id) = (s.signer.key, s.signer.link_id);
                wire::encode(buf, header, &msg.message, Some((&key, link_id, ts)));
            }
            None => wire::encode(buf, header, &msg.message, None),
        }
        self.stats.sent += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mavlink::dialects::ardupilotmega::HEARTBEAT_DATA;

    fn heartbeat_from_gcs(key: Option<&[u8; 32]>, ts: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        let h = MavHeader {
            system_id: 255,
            component_id: 190,
            sequence: 0,
        };
        let msg = MavMessage::HEARTBEAT(HEARTBEAT_DATA::default());
        wire::encode(&mut buf, h, &msg, key.map(|k| (k, 1, ts)));
        buf
    }

    #[test]
    fn signed_link_rejects_unsigned_and_wrong_key_and_accepts_the_right_key() {
        let key = [9u8; 32];
        let now_ts = 1_000_000_000;
        let mut link = Link::new(1, Some(key));
        assert!(link.decode(&heartbeat_from_gcs(None, 0), now_ts).is_empty());
        assert!(
            link.decode(&heartbeat_from_gcs(Some(&[1; 32]), now_ts), now_ts)
                .is_empty()
        );
        assert_eq!(
            link.decode(&heartbeat_from_gcs(Some(&key), now_ts), now_ts)
                .len(),
            1
        );
        // A replay of the same timestamp is refused.
        assert!(
            link.decode(&heartbeat_from_gcs(Some(&key), now_ts), now_ts)
                .is_empty()
        );
        let s = link.stats();
        assert_eq!((s.unsigned, s.bad_signature, s.accepted), (1, 2, 1));

        // What we send verifies with the key.
        let mut buf = Vec::new();
        let out = Outgoing {
            component_id: 1,
            message: MavMessage::HEARTBEAT(HEARTBEAT_DATA::default()),
        };
        link.encode(&out, now_ts, &mut buf);
        let frame = wire::frames(&buf).next().unwrap().unwrap();
        assert!(Verifier::new(key).check(&frame, now_ts).is_ok());
    }

    #[test]
    fn garbage_is_counted_not_fatal() {
        let mut link = Link::new(1, None);
        let mut bytes = vec![1, 2, 3];
        bytes.extend(heartbeat_from_gcs(None, 0));
        assert_eq!(link.decode(&bytes, 0).len(), 1);
        assert!(link.stats().malformed >= 1);
    }
}
