//! Framing of `vigie.v1` messages, with no I/O.
//!
//! On QUIC streams every message is one frame: a varint length prefix (the
//! protobuf "delimited" format: Java `writeDelimitedTo`, Python
//! `_VarintBytes(len) + bytes`) followed by that many bytes of one envelope
//! ([`ClientMessage`] or [`ServerMessage`]). A datagram carries exactly one
//! envelope with no prefix.
//!
//! Size limits are checked on the prefix, before the body is buffered, so a
//! peer announcing a huge frame costs nothing. An envelope with no body set
//! (an empty message, or a message type added by a newer protocol revision
//! that this build does not know) decodes to [`DecodeError::UnknownMessage`],
//! which a server answers with an error and survives; every other error means
//! the peer is broken and the connection should be closed.

use prost::Message;

use super::{ClientMessage, ServerMessage};

/// Largest frame accepted on the control stream, bytes (prefix excluded).
pub const MAX_CONTROL_MESSAGE_BYTES: usize = 64 * 1024;

/// Largest frame accepted on a report stream (an incident with a photo), bytes.
pub const MAX_REPORT_MESSAGE_BYTES: usize = 2 * 1024 * 1024;

/// Largest datagram payload a client may send, bytes: fits the 1200-byte
/// minimum QUIC path MTU with room for headers.
pub const MAX_DATAGRAM_BYTES: usize = 1100;

/// A varint length prefix is at most this long for any accepted size.
const MAX_PREFIX_BYTES: usize = 10;

/// Why bytes could not be turned into a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame announces (or the datagram has) more bytes than allowed.
    #[error(
        "frame of {len} bytes exceeds the {max}-byte limit: split the content or send it on a report stream"
    )]
    TooLarge {
        /// Announced or actual size, bytes.
        len: u64,
        /// The limit that applies, bytes.
        max: usize,
    },
    /// The length prefix is not a valid varint.
    #[error("frame length prefix is not a valid varint: the peer does not speak vigie/1 framing")]
    BadLength,
    /// The frame body is not a valid protobuf envelope.
    #[error("frame is not a valid vigie.v1 message: {detail}")]
    Malformed {
        /// What prost reported.
        detail: String,
    },
    /// The envelope carries no message this build knows.
    #[error("message type unknown to this server (empty envelope or newer protocol revision)")]
    UnknownMessage,
    /// The stream ended in the middle of a frame.
    #[error("stream ended in the middle of a frame ({buffered} bytes left over)")]
    Truncated {
        /// Bytes buffered when the stream ended.
        buffered: usize,
    },
}

/// Why a message could not be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoded message is larger than the receiver accepts.
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Encoded size, bytes.
        len: usize,
        /// The limit, bytes.
        max: usize,
    },
}

/// An envelope type: a protobuf message whose body is a `oneof`.
pub trait Envelope: Message + Default {
    /// Whether a known body is set.
    fn has_body(&self) -> bool;
}

impl Envelope for ClientMessage {
    fn has_body(&self) -> bool {
        self.body.is_some()
    }
}

impl Envelope for ServerMessage {
    fn has_body(&self) -> bool {
        self.body.is_some()
    }
}

/// Decodes one envelope from exactly `bytes` (a frame body or a datagram).
pub fn decode_message<M: Envelope>(bytes: &[u8]) -> Result<M, DecodeError> {
    let msg = M::decode(bytes).map_err(|e| DecodeError::Malformed {
        detail: e.to_string(),
    })?;
    if msg.has_body() {
        Ok(msg)
    } else {
        Err(DecodeError::UnknownMessage)
    }
}

/// Frames `msg` for a stream: varint length, then the message.
pub fn encode_frame<M: Message>(msg: &M, max: usize) -> Result<Vec<u8>, EncodeError> {
    let len = msg.encoded_len();
    if len > max {
        return Err(EncodeError::TooLarge { len, max });
    }
    Ok(msg.encode_length_delimited_to_vec())
}

/// Encodes `msg` as one datagram payload (no prefix).
pub fn encode_datagram(msg: &ClientMessage) -> Result<Vec<u8>, EncodeError> {
    let len = msg.encoded_len();
    if len > MAX_DATAGRAM_BYTES {
        return Err(EncodeError::TooLarge {
            len,
            max: MAX_DATAGRAM_BYTES,
        });
    }
    Ok(msg.encode_to_vec())
}

/// Decodes one datagram payload.
pub fn decode_datagram(bytes: &[u8]) -> Result<ClientMessage, DecodeError> {
    if bytes.len() > MAX_DATAGRAM_BYTES {
        return Err(DecodeError::TooLarge {
            len: bytes.len() as u64,
            max: MAX_DATAGRAM_BYTES,
        });
    }
    decode_message(bytes)
}

/// Reassembles frames from stream chunks of any size.
///
/// Memory is bounded: at most one frame of `max` bytes plus its prefix is
/// buffered, provided the caller drains [`FrameDecoder::next_message`] after
/// each [`FrameDecoder::push`]. A prefix announcing more than `max` is an
/// error as soon as the prefix is complete.
#[derive(Debug)]
pub struct FrameDecoder<M> {
    /// Bytes received and not yet consumed.
    buf: Vec<u8>,
    /// Largest frame body accepted, bytes.
    max: usize,
    /// Set after an error: the stream cannot be resynchronised.
    failed: bool,
    /// The envelope type decoded.
    _message: std::marker::PhantomData<fn() -> M>,
}

impl<M: Envelope> FrameDecoder<M> {
    /// A decoder accepting frames of up to `max` bytes.
    pub fn new(max: usize) -> FrameDecoder<M> {
        FrameDecoder {
            buf: Vec::new(),
            max,
            failed: false,
            _message: std::marker::PhantomData,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes buffered and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    ///
    /// After a fatal error (anything but [`DecodeError::UnknownMessage`],
    /// whose frame is skipped) the decoder keeps returning it.
    pub fn next_message(&mut self) -> Result<Option<M>, DecodeError> {
        if self.failed {
            return Err(DecodeError::BadLength);
        }
        let (len, prefix) = match self.read_prefix() {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.fail();
                return Err(e);
            }
        };
        let end = prefix + len;
        if self.buf.len() < end {
            return Ok(None);
        }
        let result = decode_message::<M>(&self.buf[prefix..end]);
        self.buf.drain(..end);
        match result {
            Ok(m) => Ok(Some(m)),
            Err(DecodeError::UnknownMessage) => Err(DecodeError::UnknownMessage),
            Err(e) => {
                self.fail();
                Err(e)
            }
        }
    }

    /// Checks that the stream ended on a frame boundary.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Truncated {
                buffered: self.buf.len(),
            })
        }
    }

    fn fail(&mut self) {
        self.failed = true;
        self.buf = Vec::new();
    }

    /// The announced length and the prefix size, once the prefix is complete.
    fn read_prefix(&self) -> Result<Option<(usize, usize)>, DecodeError> {
        let mut value: u64 = 0;
        for (i, byte) in self.buf.iter().take(MAX_PREFIX_BYTES).enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if value > self.max as u64 {
                return Err(DecodeError::TooLarge {
                    len: value,
                    max: self.max,
                });
            }
            if byte & 0x80 == 0 {
                // `value <= max` was checked above, so it fits in usize.
                return Ok(Some((value as usize, i + 1)));
            }
        }
        if self.buf.len() >= MAX_PREFIX_BYTES {
            Err(DecodeError::BadLength)
        } else {
            Ok(None)
        }
    }
}

/// Feeds `data` to every decoding entry point, cut into chunks whose sizes
/// come from `data` itself. The fuzz target and a seeded unit test run it: it
/// must never panic, and must never buffer more than one frame.
pub fn decode_everything(data: &[u8]) {
    let _ = decode_datagram(data);
    let _ = decode_message::<ServerMessage>(data);
    let mut decoder = FrameDecoder::<ClientMessage>::new(MAX_CONTROL_MESSAGE_BYTES);
    let mut rest = data;
    while !rest.is_empty() {
        let cut = (usize::from(rest[0]) + 1).min(rest.len());
        decoder.push(&rest[..cut]);
        rest = &rest[cut..];
        while let Ok(Some(_)) | Err(DecodeError::UnknownMessage) = decoder.next_message() {}
        assert!(decoder.buffered() <= MAX_CONTROL_MESSAGE_BYTES + MAX_PREFIX_BYTES + 256);
    }
    let _ = decoder.finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tablet::{Hello, Ping, PositionReport, client_message};

    fn hello() -> ClientMessage {
        ClientMessage {
            body: Some(client_message::Body::Hello(Hello {
                protocol_version: 1,
                client_software: "test".into(),
                client_time_ms: 5,
            })),
        }
    }

    #[test]
    fn frames_round_trip_across_any_chunking() {
        let mut bytes = encode_frame(&hello(), MAX_CONTROL_MESSAGE_BYTES).unwrap();
        let ping = ClientMessage {
            body: Some(client_message::Body::Ping(Ping { nonce: 7 })),
        };
        bytes.extend(encode_frame(&ping, MAX_CONTROL_MESSAGE_BYTES).unwrap());
        for chunk in 1..bytes.len() {
            let mut d = FrameDecoder::<ClientMessage>::new(MAX_CONTROL_MESSAGE_BYTES);
            let mut got = Vec::new();
            for c in bytes.chunks(chunk) {
                d.push(c);
                while let Some(m) = d.next_message().unwrap() {
                    got.push(m);
                }
            }
            d.finish().unwrap();
            assert_eq!(got, vec![hello(), ping.clone()], "chunk size {chunk}");
        }
    }

    #[test]
    fn oversized_prefix_is_refused_before_the_body_arrives() {
        let mut d = FrameDecoder::<ClientMessage>::new(1000);
        // 1001 as a varint, and no body at all.
        d.push(&[0xe9, 0x07]);
        assert_eq!(
            d.next_message(),
            Err(DecodeError::TooLarge {
                len: 1001,
                max: 1000
            })
        );
        // A broken stream stays broken and buffers nothing more.
        d.push(&[0; 100]);
        assert_eq!(d.buffered(), 0);
        assert!(d.next_message().is_err());
    }

    #[test]
    fn garbage_unknown_and_truncated_frames_are_typed() {
        let mut d = FrameDecoder::<ClientMessage>::new(1000);
        d.push(&[3, 0xff, 0xff, 0xff]);
        assert!(matches!(
            d.next_message(),
            Err(DecodeError::Malformed { .. })
        ));

        // Field 99 (unknown to this build), varint 1: decodes to no body.
        let mut d = FrameDecoder::<ClientMessage>::new(1000);
        d.push(&[3, 0x98, 0x06, 0x01]);
        d.push(&encode_frame(&hello(), 1000).unwrap());
        assert_eq!(d.next_message(), Err(DecodeError::UnknownMessage));
        assert_eq!(
            d.next_message(),
            Ok(Some(hello())),
            "the next frame still decodes"
        );

        let mut d = FrameDecoder::<ClientMessage>::new(1000);
        d.push(&[5, 1, 2]);
        assert_eq!(d.next_message(), Ok(None));
        assert_eq!(d.finish(), Err(DecodeError::Truncated { buffered: 3 }));

        let mut d = FrameDecoder::<ClientMessage>::new(usize::MAX);
        d.push(&[0xff; 11]);
        assert_eq!(d.next_message(), Err(DecodeError::BadLength));
    }

    #[test]
    fn datagrams_hold_one_message_within_the_limit() {
        let pos = ClientMessage {
            body: Some(client_message::Body::Position(PositionReport {
                lat_deg: 48.9,
                lon_deg: 2.36,
                accuracy_m: 4.0,
                heading_deg: Some(90.0),
                speed_m_s: Some(1.4),
                timestamp_ms: 1,
                streaming: false,
                camera_bearing_deg: None,
            })),
        };
        let bytes = encode_datagram(&pos).unwrap();
        assert_eq!(decode_datagram(&bytes), Ok(pos));
        assert!(matches!(
            decode_datagram(&[0u8; MAX_DATAGRAM_BYTES + 1]),
            Err(DecodeError::TooLarge { .. })
        ));
        let huge = ClientMessage {
            body: Some(client_message::Body::Hello(Hello {
                client_software: "x".repeat(2000),
                ..Hello::default()
            })),
        };
        assert!(encode_datagram(&huge).is_err());
    }

    #[test]
    fn seeded_random_bytes_never_panic_or_grow_the_buffer() {
        // A small xorshift so the protocols crate needs no rand dependency.
        let mut state: u64 = 0x5eed_1234_abcd_ef01;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 300) as usize;
            let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Half the time, start with a plausible frame so decoding goes deep.
            if next() % 2 == 0 && !data.is_empty() {
                data[0] = (len as u8).saturating_sub(1) & 0x7f;
            }
            decode_everything(&data);
        }
    }
}
