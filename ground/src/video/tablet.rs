//! A tablet's camera over QUIC (protocol §10): a unidirectional stream of
//! `VideoFrame`s, each a whole H.264 access unit with its timestamp, taken
//! in through the same [`Ingest`] as an RTP feed, recorded with the
//! tablet's view sector and relayed live.
//!
//! The stream is read as fast as it comes and holds at most one frame (its
//! decoder's buffer, bounded by the report-stream limit): a tablet that
//! cannot send as fast as it encodes drops frames itself, up to its next
//! keyframe. After a silence of more than [`PAUSE`], or a clock that jumps,
//! the next keyframe begins a segment of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vigie_protocols::tablet::codec::FrameDecoder;
use vigie_protocols::tablet::{ClientMessage, VideoFrame, client_message};

use super::h264::{AccessUnit, nal};
use super::service::{Ingest, VideoContext};
use crate::coverage::SourceKind;

/// A silence after which a tablet's stream is taken as paused: the next
/// picture must be a keyframe, and begins a new segment.
pub const PAUSE: Duration = Duration::from_secs(2);

/// `STOP_SENDING` code of a video stream the server does not take in (the
/// reason comes as an `Error` on the control stream).
pub const STOP_REFUSED: u32 = 0x10;
/// `STOP_SENDING` code of a video stream that carried something else than
/// well-formed `VideoFrame`s.
pub const STOP_MALFORMED: u32 = 0x11;

/// What the QUIC edge needs to take tablets' video in.
#[derive(Clone)]
pub struct TabletVideo {
    /// Recording, index, coverage and relay.
    pub ctx: VideoContext,
    /// Where each feed's counters are kept.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// How a tablet's video stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The tablet finished it (stop), or the connection went.
    Finished,
    /// It carried something that is not a well-formed `VideoFrame`.
    Malformed(String),
}

/// The access unit of a frame: its NAL units, after its parameter sets
/// when it is a keyframe that carries them; `Err` says what is wrong.
pub fn access_unit(frame: VideoFrame) -> Result<AccessUnit, String> {
    if frame.nal_units.is_empty() {
        return Err("a VideoFrame must carry at least one NAL unit".into());
    }
    if frame.nal_units.iter().any(|n| n.is_empty()) {
        return Err("a VideoFrame's NAL units must not be empty".into());
    }
    let mut nals = Vec::with_capacity(frame.nal_units.len() + 2);
    if frame.keyframe {
        for (set, kind, name) in [(frame.sps, nal::SPS, "sps"), (frame.pps, nal::PPS, "pps")] {
            if set.is_empty() {
                continue;
            }
            if nal::kind(&set) != kind {
                return Err(format!(
                    "VideoFrame.{name} is not a {} NAL unit",
                    name.to_uppercase()
                ));
            }
            nals.push(set);
        }
    }
    nals.extend(frame.nal_units);
    Ok(AccessUnit {
        // The 90 kHz clock modulo 2^32, as RTP carries it: the feed
        // follows its differences.
        timestamp: frame.timestamp_90khz as u32,
        nals,
    })
}

/// Takes in `unit`'s video stream, from its `first` frame (the rest of the
/// stream is read through `decoder`, which may already hold some) until
/// the tablet finishes it or the connection goes.
pub async fn take_in(
    video: &TabletVideo,
    unit: &str,
    first: VideoFrame,
    mut decoder: FrameDecoder<ClientMessage>,
    mut stream: quinn::RecvStream,
) -> Ended {
    let counters = video.metrics.video_feed(unit);
    let mut ingest = match Ingest::start(&video.ctx, unit, SourceKind::Tablet, counters) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(%unit, "cannot start recording a tablet's video: {e}");
            let _ = stream.stop(quinn::VarInt::from_u32(STOP_REFUSED));
            return Ended::Finished;
        }
    };
    let mut pace = Pace::default();
    let mut ended = take(&mut ingest, &mut pace, first);
    let mut buf = vec![0u8; 64 * 1024];
    while ended.is_none() {
        // Frames already received first.
        match decoder.next_message() {
            Ok(Some(m)) => {
                ended = match m.body {
                    Some(client_message::Body::VideoFrame(f)) => take(&mut ingest, &mut pace, f),
                    _ => Some(Ended::Malformed(
                        "a video stream carries VideoFrame messages only".into(),
                    )),
                };
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                ended = Some(Ended::Malformed(e.to_string()));
                continue;
            }
        }
        ended = match stream.read(&mut buf).await {
            Ok(Some(n)) => {
                decoder.push(&buf[..n]);
                None
            }
            Ok(None) => Some(match decoder.finish() {
                Ok(()) => Ended::Finished,
                Err(e) => Ended::Malformed(e.to_string()),
            }),
            Err(e) => {
                tracing::info!(%unit, "video stream ended: {e}");
                Some(Ended::Finished)
            }
        };
    }
    if matches!(ended, Some(Ended::Malformed(_))) {
        let _ = stream.stop(quinn::VarInt::from_u32(STOP_MALFORMED));
    }
    if let Err(e) = ingest.finish().await {
        tracing::error!(%unit, "recording a tablet's video: {e:#}");
    }
    ended.unwrap_or(Ended::Finished)
}

/// When the last picture arrived, and its timestamp.
#[derive(Debug, Default)]
struct Pace {
    last: Option<(Instant, u64)>,
}

/// Hands one frame to the feed; `Some` when the stream must end.
fn take(ingest: &mut Ingest, pace: &mut Pace, frame: VideoFrame) -> Option<Ended> {
    let now = Instant::now();
    let ts = frame.timestamp_90khz;
    if let Some((at, last)) = pace.last {
        let ticks = PAUSE.as_millis() as u64 * 90;
        let silent = now.duration_since(at) > PAUSE;
        let jumped = ts < last || ts - last > ticks;
        if silent || jumped {
            ingest.restart();
        }
    }
    pace.last = Some((now, ts));
    match access_unit(frame) {
        Ok(u) => {
            ingest.access_unit(u);
            None
        }
        Err(e) => Some(Ended::Malformed(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(keyframe: bool) -> VideoFrame {
        let u = super::super::h264::synthetic_unit(0, 1, b"x");
        let sps = u.nals.iter().find(|n| nal::kind(n) == nal::SPS).cloned();
        let pps = u.nals.iter().find(|n| nal::kind(n) == nal::PPS).cloned();
        VideoFrame {
            timestamp_90khz: 1 << 33,
            keyframe,
            sps: sps.unwrap_or_default(),
            pps: pps.unwrap_or_default(),
            nal_units: u
                .nals
                .into_iter()
                .filter(|n| ![nal::SPS, nal::PPS].contains(&nal::kind(n)))
                .collect(),
        }
    }

    #[test]
    fn a_keyframe_carries_its_parameter_sets_first() {
        let u = access_unit(frame(true)).unwrap();
        let kinds: Vec<u8> = u.nals.iter().map(|n| nal::kind(n)).collect();
        assert_eq!(&kinds[..2], &[nal::SPS, nal::PPS]);
        assert!(u.is_keyframe());
        // The 90 kHz clock is carried modulo 2^32.
        assert_eq!(u.timestamp, 0);
    }

    #[test]
    fn frames_that_say_nothing_or_lie_are_refused() {
        let mut empty = frame(false);
        empty.nal_units.clear();
        assert!(access_unit(empty).unwrap_err().contains("at least one"));
        let mut hollow = frame(false);
        hollow.nal_units.push(Vec::new());
        assert!(access_unit(hollow).unwrap_err().contains("empty"));
        let mut swapped = frame(true);
        std::mem::swap(&mut swapped.sps, &mut swapped.pps);
        assert!(access_unit(swapped).unwrap_err().contains("VideoFrame.sps"));
        // Parameter sets on a picture that is no keyframe are ignored.
        let mut inter = frame(false);
        inter.sps = vec![0x67, 1];
        assert!(access_unit(inter).is_ok());
    }
}
