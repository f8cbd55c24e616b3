//! Live feeds to operators: each feed's pictures, as they arrive, to every
//! viewer, without transcoding.
//!
//! A feed publishes [`LivePicture`]s on a bounded broadcast channel
//! ([`QUEUE`] pictures, about 8 s at 30 fps). A viewer that falls behind
//! loses what it missed and resumes at the next keyframe ([`Viewer::next`]):
//! it never slows the feed or the other viewers, and nothing is buffered
//! for it without bound. A drone's pictures are relayed only while its
//! recording is permitted (an active authorisation names it): the same
//! guardrail as the recording's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

pub use super::record::LivePicture;

/// Pictures held for viewers.
pub const QUEUE: usize = 256;

/// One feed's live side.
#[derive(Debug)]
pub struct LiveFeed {
    /// Gone once the feed ends (its viewers then see [`Piece::Ended`]).
    tx: Mutex<Option<broadcast::Sender<Arc<LivePicture>>>>,
    /// Whether its pictures may be relayed now (a drone's: while an
    /// authorisation names it).
    pub permitted: AtomicBool,
    /// Pictures viewers skipped because they fell behind, all viewers.
    pub skipped: AtomicU64,
}

impl LiveFeed {
    /// Viewers watching now.
    pub fn viewers(&self) -> usize {
        self.sender().map_or(0, |tx| tx.receiver_count())
    }

    fn sender(&self) -> Option<broadcast::Sender<Arc<LivePicture>>> {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Publishes a picture to the viewers, if permitted, stamped with
    /// the time it was taken in.
    pub fn publish(&self, mut p: LivePicture) {
        p.received_ms = crate::time::unix_ms();
        if self.permitted.load(Ordering::Relaxed)
            && let Some(tx) = self.tx.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
        {
            let _ = tx.send(Arc::new(p));
        }
    }

    /// Whether the feed ended (and has not begun again).
    pub fn ended(&self) -> bool {
        self.sender().is_none()
    }

    /// The feed ended: its viewers are told so.
    pub fn end(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// A new viewer, starting at the next keyframe; `None` once the feed
    /// ended.
    pub fn watch(self: &Arc<Self>) -> Option<Viewer> {
        Some(Viewer {
            rx: self.sender()?.subscribe(),
            feed: self.clone(),
            init: None,
            synced: false,
        })
    }
}

/// Every feed's live side, by source.
#[derive(Debug, Default)]
pub struct Relay {
    feeds: Mutex<BTreeMap<String, Arc<LiveFeed>>>,
}

impl Relay {
    /// The live side of `source`'s feed, created on first use, and begun
    /// again if it had ended (a tablet streaming anew); `permitted` is its
    /// starting state.
    pub fn feed(&self, source: &str, permitted: bool) -> Arc<LiveFeed> {
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        let feed = feeds
            .entry(source.to_string())
            .or_insert_with(|| {
                Arc::new(LiveFeed {
                    tx: Mutex::new(Some(broadcast::channel(QUEUE).0)),
                    permitted: AtomicBool::new(permitted),
                    skipped: AtomicU64::new(0),
                })
            })
            .clone();
        let mut tx = feed.tx.lock().unwrap_or_else(|p| p.into_inner());
        if tx.is_none() {
            *tx = Some(broadcast::channel(QUEUE).0);
            feed.permitted.store(permitted, Ordering::Relaxed);
        }
        drop(tx);
        feed
    }

    /// The live side of a configured feed, if there is one.
    pub fn get(&self, source: &str) -> Option<Arc<LiveFeed>> {
        let feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds.get(source).cloned()
    }

    /// Every feed, by source.
    pub fn all(&self) -> Vec<(String, Arc<LiveFeed>)> {
        let feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// One viewer of a feed.
pub struct Viewer {
    rx: broadcast::Receiver<Arc<LivePicture>>,
    feed: Arc<LiveFeed>,
    init: Option<Arc<Vec<u8>>>,
    synced: bool,
}

/// What a viewer is handed next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes to append: the init segment once at the start, then one
    /// picture's fragment at a time.
    Bytes(Vec<u8>),
    /// The stream's parameters changed: a new init segment is needed, so
    /// a progressive stream ends here (the client reconnects).
    Changed,
    /// The feed ended.
    Ended,
}

impl Viewer {
    /// The next picture for this viewer, whole (init segment beside it):
    /// from a keyframe on, skipping to the next keyframe after a loss;
    /// `None` once the feed ended. For clients that carry the init segment
    /// apart (QUIC), where a change of parameters is not an end.
    pub async fn next_picture(&mut self) -> Option<Arc<LivePicture>> {
        loop {
            let p = match self.rx.recv().await {
                Ok(p) => p,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    self.feed.skipped.fetch_add(n, Ordering::Relaxed);
                    self.synced = false;
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            if !self.synced && !p.keyframe {
                continue;
            }
            self.synced = true;
            return Some(p);
        }
    }

    /// Skips to the next keyframe (a picture could not be sent).
    pub fn resync(&mut self) {
        self.synced = false;
    }

    /// The next bytes for this viewer: the init segment and the first
    /// keyframe together, then each picture. A viewer that fell behind
    /// skips to the next keyframe.
    pub async fn next(&mut self) -> Piece {
        let Some(p) = self.next_picture().await else {
            return Piece::Ended;
        };
        match &self.init {
            Some(init) if !Arc::ptr_eq(init, &p.init) && **init != *p.init => Piece::Changed,
            Some(_) => Piece::Bytes(p.chunk.clone()),
            None => {
                self.init = Some(p.init.clone());
                let mut bytes = Vec::with_capacity(p.init.len() + p.chunk.len());
                bytes.extend_from_slice(&p.init);
                bytes.extend_from_slice(&p.chunk);
                Piece::Bytes(bytes)
            }
        }
    }
}

/// Longest a picture may wait for the client's flow control before the
/// stream is reset: a client that stopped reading.
pub const QUIC_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Streams `feed` to an operator's QUIC connection on a unidirectional
/// stream of its own (`protocols/README.md`, live video), until the feed or
/// the connection ends. A client that falls behind has pictures skipped to
/// the next keyframe; one that stops reading has the stream reset.
pub async fn to_quic(conn: quinn::Connection, feed: Arc<LiveFeed>, source: String) {
    use vigie_protocols::tablet::{ServerMessage, VideoChunk, codec, server_message};
    let Some(mut viewer) = feed.watch() else {
        return;
    };
    let mut send = match tokio::time::timeout(QUIC_WRITE_TIMEOUT, conn.open_uni()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::info!(%source, "cannot open a video stream: {e}");
            return;
        }
        Err(_) => {
            tracing::warn!(%source, "the client allows no more streams from the server: no video");
            return;
        }
    };
    let mut sent_init: Option<Arc<Vec<u8>>> = None;
    loop {
        let Some(p) = viewer.next_picture().await else {
            let _ = send.finish();
            return;
        };
        let init = match &sent_init {
            Some(i) if Arc::ptr_eq(i, &p.init) || **i == *p.init => Vec::new(),
            _ => {
                sent_init = Some(p.init.clone());
                p.init.to_vec()
            }
        };
        let msg = ServerMessage {
            body: Some(server_message::Body::Video(VideoChunk {
                source: source.clone(),
                init,
                fragment: p.chunk.clone(),
                keyframe: p.keyframe,
                received_ms: p.received_ms,
            })),
        };
        let frame = match codec::encode_frame(&msg, MAX_VIDEO_FRAME_BYTES) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(%source, "a picture too large to relay was skipped: {e}");
                viewer.resync();
                continue;
            }
        };
        match tokio::time::timeout(QUIC_WRITE_TIMEOUT, send.write_all(&frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::info!(%source, "video stream ended: {e}");
                return;
            }
            Err(_) => {
                tracing::info!(%source, "the client stopped reading its video stream: reset");
                let _ = send.reset(0u32.into());
                return;
            }
        }
    }
}

/// Largest frame of a video stream (a keyframe with its init segment).
pub const MAX_VIDEO_FRAME_BYTES: usize = 8 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(init: &Arc<Vec<u8>>, k: u8, keyframe: bool) -> LivePicture {
        LivePicture {
            init: init.clone(),
            chunk: vec![k],
            keyframe,
            received_ms: 0,
        }
    }

    #[tokio::test]
    async fn a_viewer_starts_at_a_keyframe_and_a_slow_one_skips_to_the_next() {
        let relay = Relay::default();
        let feed = relay.feed("cam-1", true);
        let init = Arc::new(b"init".to_vec());
        let mut fast = feed.watch().unwrap();
        let mut slow = feed.watch().unwrap();
        assert_eq!(feed.viewers(), 2);
        // Joined mid-picture-group: the P pictures before the keyframe are
        // not shown.
        feed.publish(picture(&init, 1, false));
        feed.publish(picture(&init, 2, true));
        feed.publish(picture(&init, 3, false));
        assert_eq!(fast.next().await, Piece::Bytes(b"init\x02".to_vec()));
        assert_eq!(fast.next().await, Piece::Bytes(vec![3]));
        // The slow viewer reads nothing while QUEUE + 10 more arrive: it
        // lost some, and resumes at the next keyframe, not mid-group.
        for k in 0..QUEUE + 10 {
            feed.publish(picture(&init, (k % 200) as u8 + 10, k % 30 == 0));
            assert!(matches!(fast.next().await, Piece::Bytes(_)));
        }
        match slow.next().await {
            Piece::Bytes(b) => {
                assert_eq!(&b[..4], b"init");
                // The first keyframe still held: k = 30 * n past the loss.
                let k = usize::from(b[4] - 10);
                assert_eq!(k % 30, 0, "resumed at a keyframe, got picture {k}");
                assert!(k > 0);
            }
            other => panic!("{other:?}"),
        }
        assert!(feed.skipped.load(Ordering::Relaxed) > 0);
        // Parameters changed: the progressive stream ends there.
        let other = Arc::new(b"init2".to_vec());
        feed.publish(picture(&other, 9, true));
        assert_eq!(fast.next().await, Piece::Changed);
        // Not permitted: nothing is relayed.
        feed.permitted.store(false, Ordering::Relaxed);
        let mut late = feed.watch().unwrap();
        feed.publish(picture(&init, 4, true));
        assert!(
            matches!(
                late.rx.try_recv(),
                Err(broadcast::error::TryRecvError::Empty)
            ),
            "nothing relayed while not permitted"
        );
        // The feed ends: its viewers are told, and nobody joins it.
        feed.end();
        assert_eq!(late.next().await, Piece::Ended);
        assert!(feed.watch().is_none());
    }
}
