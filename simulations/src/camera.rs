//! A simulated camera that sends real H.264: each picture drawn (the unit
//! it belongs to, the site's local time to the tenth of a second, the
//! picture's number, a bar sweeping across so that consecutive pictures
//! differ) and encoded with OpenH264, built from its bundled source.
//!
//! The access units come out as a camera's encoder writes them: an IDR led
//! by its parameter sets every `keyframe_every` pictures, P pictures
//! between. Simulated drones send them as RTP over UDP
//! ([`stream_rtp`]); simulated tablets as `VideoFrame`s over QUIC.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use image::{Rgb, RgbImage};
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode,
    UsageType,
};
use openh264::formats::{RgbSliceU8, YUVBuffer};
use openh264::{OpenH264API, Timestamp};
use vigie_ground::map::text::Pen;
use vigie_ground::video::h264::AccessUnit;

/// Picture width of simulated cameras, pixels (26 macroblocks).
pub const WIDTH: u32 = 416;
/// Picture height of simulated cameras, pixels (15 macroblocks).
pub const HEIGHT: u32 = 240;

/// A simulated camera.
pub struct Camera {
    label: String,
    time_zone: String,
    fps: u32,
    encoder: Encoder,
    pen: Option<Pen>,
    image: RgbImage,
    picture: u64,
}

impl std::fmt::Debug for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera")
            .field("label", &self.label)
            .field("fps", &self.fps)
            .field("picture", &self.picture)
            .finish()
    }
}

impl Camera {
    /// A camera showing `label` and the time in `time_zone`, at `fps`
    /// pictures a second with a keyframe every second, about `bitrate`
    /// bits a second.
    pub fn new(label: &str, time_zone: &str, fps: u32, bitrate: u32) -> anyhow::Result<Camera> {
        let fps = fps.clamp(1, 60);
        let config = EncoderConfig::new()
            .bitrate(BitRate::from_bps(bitrate))
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            .rate_control_mode(RateControlMode::Bufferbased)
            .usage_type(UsageType::CameraVideoRealTime)
            .skip_frames(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(fps));
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .context("cannot start the H.264 encoder")?;
        Ok(Camera {
            label: label.to_string(),
            time_zone: time_zone.to_string(),
            fps,
            encoder,
            pen: Pen::sans(),
            image: RgbImage::new(WIDTH, HEIGHT),
            picture: 0,
        })
    }

    /// Pictures a second.
    pub fn fps(&self) -> u32 {
        self.fps
    }

    /// The time between two pictures.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.fps))
    }

    /// The next picture, showing the wall-clock time `now_ms`, encoded; its
    /// timestamp is its number on a 90 kHz clock.
    pub fn next_unit(&mut self, now_ms: i64) -> anyhow::Result<AccessUnit> {
        self.draw(now_ms);
        let yuv = YUVBuffer::from_rgb_source(RgbSliceU8::new(
            self.image.as_raw(),
            (WIDTH as usize, HEIGHT as usize),
        ));
        let ms = self.picture * 1000 / u64::from(self.fps);
        let stream = self
            .encoder
            .encode_at(&yuv, Timestamp::from_millis(ms))
            .context("the H.264 encoder failed")?;
        let mut nals = Vec::new();
        for l in 0..stream.num_layers() {
            let Some(layer) = stream.layer(l) else {
                continue;
            };
            for n in 0..layer.nal_count() {
                if let Some(nal) = layer.nal_unit(n) {
                    let nal = strip_start_code(nal);
                    if !nal.is_empty() {
                        nals.push(nal.to_vec());
                    }
                }
            }
        }
        if stream.frame_type() == FrameType::Skip || nals.is_empty() {
            anyhow::bail!("the H.264 encoder skipped a picture");
        }
        let timestamp = (self.picture * 90_000 / u64::from(self.fps)) as u32;
        self.picture += 1;
        Ok(AccessUnit { timestamp, nals })
    }

    fn draw(&mut self, now_ms: i64) {
        let (w, h) = (WIDTH, HEIGHT);
        let sweep = (self.picture * 4 % u64::from(w)) as u32;
        for (x, y, p) in self.image.enumerate_pixels_mut() {
            let shade = (y * 60 / h) as u8;
            *p = if x.abs_diff(sweep) < 6 {
                Rgb([200, 160, 40])
            } else {
                Rgb([16 + shade, 32 + shade, 64 + shade])
            };
        }
        if let Some(pen) = self.pen.as_mut() {
            let white = Rgb([240, 240, 240]);
            pen.draw(&mut self.image, [12.0, 12.0], &self.label, 22.0, white);
            let clock = vigie_ground::time::clock(now_ms, &self.time_zone);
            let tenth = now_ms.rem_euclid(1000) / 100;
            pen.draw(
                &mut self.image,
                [12.0, 96.0],
                &format!("{clock}.{tenth}"),
                44.0,
                white,
            );
            pen.draw(
                &mut self.image,
                [12.0, 200.0],
                &format!("#{}  {}", self.picture, self.time_zone),
                16.0,
                white,
            );
        }
    }
}

/// How a simulated unit's camera runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraSpec {
    /// Pictures a second.
    pub fps: u32,
    /// Bits a second the encoder aims at.
    pub bitrate: u32,
    /// The time zone of the clock it shows.
    pub time_zone: String,
}

impl CameraSpec {
    /// The camera of `label`.
    pub fn camera(&self, label: &str) -> anyhow::Result<Camera> {
        Camera::new(label, &self.time_zone, self.fps, self.bitrate)
    }
}

/// Pictures waiting between the encoder and a QUIC video stream: past it,
/// the camera drops pictures up to its next keyframe (protocol §12).
pub const QUIC_QUEUE: usize = 2;

/// What a tablet's camera did on a stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamStats {
    /// Pictures written to the stream.
    pub sent: u64,
    /// Pictures dropped because the stream could not keep up.
    pub dropped: u64,
}

/// Streams `camera` as a tablet does (protocol §12): one unidirectional
/// stream of `VideoFrame`s, at the camera's pace, until `stop` is set or the
/// connection goes or, with `pictures`, once that many are taken; then the
/// stream is finished. A stream that cannot keep up has pictures dropped
/// up to the next keyframe, never queued.
pub async fn stream_quic(
    mut camera: Camera,
    conn: quinn::Connection,
    pictures: Option<u64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<StreamStats> {
    use vigie_ground::video::h264::nal;
    use vigie_protocols::tablet::codec::{MAX_REPORT_MESSAGE_BYTES, encode_frame};
    use vigie_protocols::tablet::{ClientMessage, VideoFrame, client_message};

    let mut send = conn
        .open_uni()
        .await
        .context("cannot open a video stream")?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(QUIC_QUEUE);
    let writer = tokio::spawn(async move {
        let mut sent = 0u64;
        while let Some(frame) = rx.recv().await {
            if send.write_all(&frame).await.is_err() {
                return sent;
            }
            sent += 1;
        }
        let _ = send.finish();
        sent
    });
    let mut tick = tokio::time::interval(camera.interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut dropped, mut behind) = (0u64, false);
    let mut t90 = 0u64;
    let step = 90_000 / u64::from(camera.fps());
    let mut taken = 0u64;
    while !*stop.borrow() && pictures.is_none_or(|n| taken < n) {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
            _ = conn.closed() => break,
        }
        let unit = camera.next_unit(vigie_ground::time::unix_ms())?;
        taken += 1;
        t90 += step;
        let keyframe = unit.is_keyframe();
        if behind && !keyframe {
            dropped += 1;
            continue;
        }
        let pick = |kind| unit.nals.iter().find(|n| nal::kind(n) == kind).cloned();
        let frame = VideoFrame {
            timestamp_90khz: t90,
            keyframe,
            sps: pick(nal::SPS).unwrap_or_default(),
            pps: pick(nal::PPS).unwrap_or_default(),
            nal_units: unit
                .nals
                .iter()
                .filter(|n| ![nal::SPS, nal::PPS].contains(&nal::kind(n)))
                .cloned()
                .collect(),
        };
        let bytes = encode_frame(
            &ClientMessage {
                body: Some(client_message::Body::VideoFrame(frame)),
            },
            MAX_REPORT_MESSAGE_BYTES,
        )?;
        match tx.try_send(bytes) {
            Ok(()) => behind = false,
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                behind = true;
                dropped += 1;
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => break,
        }
    }
    drop(tx);
    let sent = writer.await.unwrap_or(0);
    Ok(StreamStats { sent, dropped })
}

/// `nal` without its Annex B start code.
fn strip_start_code(nal: &[u8]) -> &[u8] {
    nal.strip_prefix(&[0, 0, 0, 1])
        .or_else(|| nal.strip_prefix(&[0, 0, 1]))
        .unwrap_or(nal)
}

/// Streams `camera` as RTP/H.264 (payload type 96, as QGroundControl
/// expects) to `to`, at its pace, until `stop` is set or, with `pictures`,
/// once that many are sent.
pub async fn stream_rtp(
    mut camera: Camera,
    to: SocketAddr,
    ssrc: u32,
    pictures: Option<u64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let bind: SocketAddr = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
        .parse()
        .context("bind address")?;
    let socket = tokio::net::UdpSocket::bind(bind)
        .await
        .context("cannot open the camera's UDP socket")?;
    let mut sender = vigie_ground::video::rtp::Sender::new(96, ssrc, ssrc as u16, 1200);
    let mut tick = tokio::time::interval(camera.interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut datagrams = Vec::new();
    let mut sent = 0u64;
    while !*stop.borrow() && pictures.is_none_or(|n| sent < n) {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        sent += 1;
        let unit = camera.next_unit(vigie_ground::time::unix_ms())?;
        datagrams.clear();
        sender.send(&unit, &mut datagrams);
        for d in &datagrams {
            // A lost datagram is the network's: the ground counts it.
            let _ = socket.send_to(d, to).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_ground::video::h264::nal;

    #[test]
    fn pictures_are_real_h264_a_keyframe_every_second() {
        let mut cam = Camera::new("drone:sim:1", "Europe/Paris", 10, 300_000).unwrap();
        let units: Vec<AccessUnit> = (0..25)
            .map(|k| cam.next_unit(1_784_037_720_000 + k * 100).unwrap())
            .collect();
        let keys: Vec<usize> = (0..units.len())
            .filter(|&k| units[k].is_keyframe())
            .collect();
        assert_eq!(keys, vec![0, 10, 20], "an IDR every 10 pictures");
        let first: Vec<u8> = units[0].nals.iter().map(|n| nal::kind(n)).collect();
        assert_eq!(&first[..2], &[nal::SPS, nal::PPS], "{first:?}");
        let sps = vigie_ground::video::sps::Sps::parse(&units[0].nals[0]).unwrap();
        assert_eq!((sps.width, sps.height), (WIDTH, HEIGHT));
        assert_eq!(units[1].timestamp - units[0].timestamp, 9000);
        // The pictures differ (the clock and the bar move).
        assert_ne!(units[1].nals, units[2].nals);
    }
}
