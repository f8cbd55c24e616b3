//! The live picture for operator clients over QUIC: a snapshot, then deltas.
//!
//! [`PictureFeed`] is the sans-I/O part: given the fleet picture at a step,
//! it returns the chunks to send (everything the first time, then only what
//! changed or left). [`stream`] is the thin edge: one unidirectional stream
//! per subscribed connection, a step at most every `min_interval`, and only
//! when the fleet changed. A slow client is never queued for: the next step
//! is computed after the previous one was written, so changes in between are
//! coalesced (latest state wins) and memory stays bounded by one step.

use std::time::Duration;

use vigie_protocols::api::Unit;
use vigie_protocols::tablet::picture::unit_to_proto;
use vigie_protocols::tablet::{PictureUpdate, ServerMessage, codec, server_message};

use crate::fleet::{FleetHandle, PictureDiff};

/// Units per chunk: keeps every frame well under [`MAX_PICTURE_FRAME_BYTES`]
/// (a drone with its footprint is under 1 kB on the wire).
pub const UNITS_PER_CHUNK: usize = 500;

/// Largest frame written on a picture stream, bytes.
pub const MAX_PICTURE_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Longest a client may take to read one frame before its picture stream is
/// dropped (the connection itself stays up).
pub const PICTURE_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What one subscriber was last sent, and the step counter.
#[derive(Debug, Default)]
pub struct PictureFeed {
    /// What was last sent.
    diff: PictureDiff,
    /// Next step number.
    seq: u64,
}

impl PictureFeed {
    /// A feed that has sent nothing yet: its first step is a snapshot.
    pub fn new() -> PictureFeed {
        PictureFeed::default()
    }

    /// The chunks that bring the subscriber to `units` at `at_ms`; empty when
    /// nothing changed since the last step (never for the snapshot).
    pub fn step(&mut self, at_ms: i64, units: &[Unit]) -> Vec<PictureUpdate> {
        let snapshot = self.seq == 0;
        let (changed, removed) = self.diff.diff(units);
        if !snapshot && changed.is_empty() && removed.is_empty() {
            return Vec::new();
        }
        let chunks = changed.len().div_ceil(UNITS_PER_CHUNK).max(1);
        let seq = self.seq;
        self.seq += 1;
        let mut out = Vec::with_capacity(chunks);
        for i in 0..chunks {
            let part = changed
                .iter()
                .skip(i * UNITS_PER_CHUNK)
                .take(UNITS_PER_CHUNK)
                .map(|u| unit_to_proto(u))
                .collect();
            out.push(PictureUpdate {
                snapshot,
                at_ms,
                units: part,
                // Removals travel with the first chunk.
                removed: if i == 0 { removed.clone() } else { Vec::new() },
                seq,
                chunk: i as u32,
                chunks: chunks as u32,
            });
        }
        out
    }
}

/// Streams the picture to one client until the connection or the stream ends.
pub async fn stream(conn: quinn::Connection, fleet: FleetHandle, min_interval: Duration) {
    let mut send = match tokio::time::timeout(PICTURE_WRITE_TIMEOUT, conn.open_uni()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!("cannot open the picture stream: {e}");
            return;
        }
        Err(_) => {
            tracing::warn!(
                "the client allows no stream from the server: no picture (see protocols/README.md)"
            );
            return;
        }
    };
    let mut feed = PictureFeed::new();
    let mut tick = tokio::time::interval(min_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen_version = None;
    loop {
        tick.tick().await;
        let (version, units) =
            fleet.read(|f| (f.version(), f.units().cloned().collect::<Vec<_>>()));
        if seen_version == Some(version) {
            continue;
        }
        seen_version = Some(version);
        for update in feed.step(crate::time::unix_ms(), &units) {
            let msg = ServerMessage {
                body: Some(server_message::Body::Picture(update)),
            };
            let frame = match codec::encode_frame(&msg, MAX_PICTURE_FRAME_BYTES) {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!("cannot frame a picture chunk: {e}");
                    return;
                }
            };
            match tokio::time::timeout(PICTURE_WRITE_TIMEOUT, send.write_all(&frame)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::info!("picture stream ended: {e}");
                    return;
                }
                Err(_) => {
                    tracing::warn!(
                        "operator client not reading its picture for 10 s: dropping the picture stream"
                    );
                    let _ = send.reset(0u32.into());
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use vigie_protocols::api::{Position, UnitKind, UnitStatus};
    use vigie_protocols::tablet::picture::Picture;

    use super::*;

    fn unit(i: usize, lat: f64) -> Unit {
        Unit {
            id: format!("P{i:05}"),
            kind: UnitKind::Patrol,
            status: UnitStatus::Available,
            name: None,
            position: Some(Position {
                lat_deg: lat,
                lon_deg: 2.36,
                ..Position::default()
            }),
            last_seen_ms: Some(1),
            source: "quic".into(),
            coverage: None,
            drone: None,
            patrol: None,
        }
    }

    /// Feeds every step to a client-side picture and checks it equals the
    /// server's, step after step.
    #[test]
    fn a_client_fed_the_steps_always_equals_the_server_picture() {
        let mut units: Vec<Unit> = (0..1_203).map(|i| unit(i, 48.9)).collect();
        let mut feed = PictureFeed::new();
        let mut client = Picture::new();
        let mut skipped = Vec::new();
        let check = |client: &Picture, units: &[Unit]| {
            let mine: Vec<&Unit> = client.units().collect();
            let theirs: Vec<&Unit> = units.iter().collect();
            assert_eq!(mine, theirs);
        };
        let snap = feed.step(10, &units);
        assert_eq!(snap.len(), 3, "1203 units in chunks of 500");
        assert!(
            snap.iter()
                .all(|c| c.snapshot && c.seq == 0 && c.chunks == 3)
        );
        let done: Vec<bool> = snap
            .iter()
            .map(|c| client.apply(c, &mut skipped).unwrap())
            .collect();
        assert_eq!(done, vec![false, false, true]);
        check(&client, &units);
        // Nothing changed: nothing sent.
        assert!(feed.step(20, &units).is_empty());
        // Three move, two leave, one arrives.
        units[5].position.as_mut().unwrap().lat_deg = 48.91;
        units[700].status = UnitStatus::EnRoute;
        units[1_202].last_seen_ms = Some(2);
        units.remove(10);
        units.remove(11);
        units.push(unit(99_999, 48.95));
        let delta = feed.step(30, &units);
        assert_eq!(delta.len(), 1);
        assert!(!delta[0].snapshot);
        assert_eq!(delta[0].seq, 1);
        assert_eq!(delta[0].units.len(), 4);
        assert_eq!(
            delta[0].removed,
            vec!["P00010".to_string(), "P00012".to_string()]
        );
        assert!(client.apply(&delta[0], &mut skipped).unwrap());
        check(&client, &units);
        // Everything moves: a chunked delta.
        for u in &mut units {
            u.last_seen_ms = Some(3);
        }
        let big = feed.step(40, &units);
        assert_eq!(big.len(), 3);
        for c in &big {
            client.apply(c, &mut skipped).unwrap();
        }
        check(&client, &units);
        assert_eq!(client.at_ms(), 40);
        assert!(skipped.is_empty());
    }

    #[test]
    fn an_empty_picture_still_gets_its_snapshot() {
        let mut feed = PictureFeed::new();
        let snap = feed.step(1, &[]);
        assert_eq!(snap.len(), 1);
        assert!(snap[0].snapshot && snap[0].units.is_empty() && snap[0].chunks == 1);
        assert!(feed.step(2, &[]).is_empty());
    }
}
