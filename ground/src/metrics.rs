//! Counters and the Prometheus text rendering served at `/metrics`.
//!
//! Counters are plain atomics owned by the module that counts; this module
//! only knows how to name and print them. Per-link counters are registered
//! once when a link opens, so the hot path never takes a lock.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::fleet::FleetHandle;

/// Counters of one MAVLink link.
#[derive(Debug, Default)]
pub struct LinkCounters {
    /// Datagrams or TCP reads received.
    pub packets: AtomicU64,
    /// Bytes received.
    pub bytes: AtomicU64,
    /// MAVLink messages decoded and applied.
    pub messages: AtomicU64,
    /// Datagrams (or TCP reads) with at least one rejected stretch: bad CRC,
    /// truncated frame, unknown message id, bad length, stray bytes.
    pub malformed: AtomicU64,
    /// Messages rejected by signing (unsigned, bad signature, replayed).
    pub signing_rejected: AtomicU64,
    /// Messages sent to vehicles.
    pub sent: AtomicU64,
    /// Distinct senders that claimed a system id already in use by a live
    /// vehicle (spoofing, or two vehicles with one SYSID).
    pub conflicting_sources: AtomicU64,
}

/// Counters and gauges of the patrol link (QUIC tablets), updated by
/// `patrol::quic` and `patrol::roster` without locks.
#[derive(Debug, Default)]
pub struct PatrolCounters {
    /// Units with a live connection now (gauge).
    pub connected: AtomicU64,
    /// TLS handshakes in progress now (gauge; capped by admission control).
    pub handshakes_in_progress: AtomicU64,
    /// Connections refused before the handshake because too many handshakes
    /// were in progress or too many connections were open.
    pub refused_overload: AtomicU64,
    /// Handshakes that failed: no, unknown, revoked or expired certificate,
    /// or a peer that gave up.
    pub handshake_failures: AtomicU64,
    /// Handshakes abandoned after the handshake timeout.
    pub handshake_timeouts: AtomicU64,
    /// Connections closed after the handshake because of the certificate's
    /// role or a revocation seen on a resumed session.
    pub refused_after_handshake: AtomicU64,
    /// Sessions opened (Welcome sent).
    pub sessions_opened: AtomicU64,
    /// Datagrams received (position reports).
    pub datagrams: AtomicU64,
    /// Messages received on streams.
    pub stream_messages: AtomicU64,
    /// Frames or datagrams that could not be decoded.
    pub malformed: AtomicU64,
    /// Orders stored.
    pub orders_issued: AtomicU64,
    /// Orders stored and not yet acknowledged by their unit (gauge).
    pub orders_pending: AtomicU64,
    /// Orders written to a control stream (resends included).
    pub orders_sent: AtomicU64,
    /// Order acknowledgements applied (any kind, duplicates excluded).
    pub acks_applied: AtomicU64,
    /// From an order's issue to its first acknowledgement, seconds.
    pub ack_latency: Histogram,
}

/// Upper bounds of the order acknowledgement latency buckets, seconds: from
/// a tablet online on loopback (milliseconds) to one that was away.
pub const ACK_LATENCY_BUCKETS_S: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// A Prometheus histogram with fixed buckets, lock-free.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bound of each bucket.
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    counts: Vec<AtomicU64>,
    /// Sum of observations, microseconds.
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram::new(ACK_LATENCY_BUCKETS_S)
    }
}

impl Histogram {
    /// A histogram over `bounds` (seconds, increasing).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: std::time::Duration) {
        let s = value.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(value.as_micros() as u64, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The upper bound of the bucket holding quantile `q` (0..1), seconds;
    /// `None` with no observations, infinity when it is past the last bound.
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= rank {
                return Some(self.bounds.get(i).copied().unwrap_or(f64::INFINITY));
            }
        }
        Some(f64::INFINITY)
    }

    /// Writes the family `name` with its HELP and TYPE lines.
    pub fn render_family(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        self.render(out, name);
    }

    fn render(&self, out: &mut String, name: &str) {
        let mut cumulative = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            match self.bounds.get(i) {
                Some(b) => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let sum_s = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum_s:.6}");
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// Every counter the server exposes.
#[derive(Debug, Default)]
pub struct Metrics {
    /// MAVLink links by name.
    links: Mutex<BTreeMap<String, Arc<LinkCounters>>>,
    /// The patrol link (QUIC tablets); shared with `patrol::roster`.
    pub patrol: Arc<PatrolCounters>,
    /// HTTP requests served.
    pub http_requests: AtomicU64,
    /// The HTTP listener's connections.
    pub http: Arc<crate::http::listener::HttpCounters>,
    /// Video feeds by source.
    video: Mutex<BTreeMap<String, Arc<crate::video::service::FeedCounters>>>,
}

impl Metrics {
    /// Counters for the link `name`, created on first use.
    pub fn link(&self, name: &str) -> Arc<LinkCounters> {
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        links.entry(name.to_string()).or_default().clone()
    }

    /// Counters for the video feed of `source`, created on first use.
    pub fn video_feed(&self, source: &str) -> Arc<crate::video::service::FeedCounters> {
        let mut feeds = self.video.lock().unwrap_or_else(|p| p.into_inner());
        feeds.entry(source.to_string()).or_default().clone()
    }

    /// Renders everything in the Prometheus text exposition format.
    pub fn render(&self, fleet: &FleetHandle, uptime_s: f64) -> String {
        let mut out = String::with_capacity(4096);
        header(
            &mut out,
            "vigie_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
        );
        let _ = writeln!(out, "vigie_uptime_seconds {uptime_s:.3}");

        header(
            &mut out,
            "vigie_units",
            "gauge",
            "Units in the fleet picture by kind and status.",
        );
        for ((kind, status), n) in fleet.read(|f| f.counts()) {
            let _ = writeln!(
                out,
                "vigie_units{{kind=\"{}\",status=\"{}\"}} {n}",
                kind.as_str(),
                status.as_str()
            );
        }

        let links = self.links.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let link_counters: [LinkFamily; 7] = [
            (
                "vigie_mavlink_packets_total",
                "Datagrams or reads received per link.",
                |c| &c.packets,
            ),
            (
                "vigie_mavlink_bytes_total",
                "Bytes received per link.",
                |c| &c.bytes,
            ),
            (
                "vigie_mavlink_messages_total",
                "MAVLink messages decoded per link.",
                |c| &c.messages,
            ),
            (
                "vigie_mavlink_malformed_total",
                "Datagrams or reads with malformed MAVLink input per link.",
                |c| &c.malformed,
            ),
            (
                "vigie_mavlink_signing_rejected_total",
                "Messages rejected by MAVLink 2 signing per link.",
                |c| &c.signing_rejected,
            ),
            (
                "vigie_mavlink_sent_total",
                "MAVLink messages sent per link.",
                |c| &c.sent,
            ),
            (
                "vigie_mavlink_conflicting_sources_total",
                "Senders that claimed a system id already used by a live vehicle, per link.",
                |c| &c.conflicting_sources,
            ),
        ];
        for (name, help, get) in link_counters {
            header(&mut out, name, "counter", help);
            for (link, c) in &links {
                let _ = writeln!(
                    out,
                    "{name}{{link=\"{link}\"}} {}",
                    get(c).load(Ordering::Relaxed)
                );
            }
        }

        header(
            &mut out,
            "vigie_http_requests_total",
            "counter",
            "HTTP requests served.",
        );
        let _ = writeln!(
            out,
            "vigie_http_requests_total {}",
            self.http_requests.load(Ordering::Relaxed)
        );
        let http = &self.http;
        for (name, kind, help, value) in [
            (
                "vigie_http_connections_open",
                "gauge",
                "HTTP connections open now.",
                &http.open,
            ),
            (
                "vigie_http_connections_accepted_total",
                "counter",
                "HTTP connections accepted and served.",
                &http.accepted,
            ),
            (
                "vigie_http_connections_refused_total",
                "counter",
                "HTTP connections closed at once: the total or per-peer cap was reached.",
                &http.refused,
            ),
            (
                "vigie_http_tls_failed_total",
                "counter",
                "HTTPS handshakes that failed or timed out.",
                &http.tls_failed,
            ),
        ] {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        self.render_patrol(&mut out);
        self.render_video(&mut out);
        out
    }

    fn render_video(&self, out: &mut String) {
        use crate::video::service::FeedCounters;
        let feeds = self.video.lock().unwrap_or_else(|p| p.into_inner()).clone();
        header(
            out,
            "vigie_video_viewers",
            "gauge",
            "Live viewers per feed now.",
        );
        for (source, c) in &feeds {
            let _ = writeln!(
                out,
                "vigie_video_viewers{{source=\"{}\"}} {}",
                label(source),
                c.viewers.load(Ordering::Relaxed)
            );
        }
        let families: [Family<FeedCounters>; 10] = [
            (
                "vigie_video_packets_total",
                "RTP packets received per feed.",
                |c| &c.packets,
            ),
            (
                "vigie_video_packets_lost_total",
                "RTP packets never received per feed.",
                |c| &c.packets_lost,
            ),
            (
                "vigie_video_frames_total",
                "Pictures taken in whole per feed.",
                |c| &c.frames,
            ),
            (
                "vigie_video_frames_lost_total",
                "Pictures dropped per feed: broken by loss or waiting for a keyframe.",
                |c| &c.frames_lost,
            ),
            (
                "vigie_video_foreign_total",
                "Datagrams on a feed's port that were not its RTP video (audio included).",
                |c| &c.foreign,
            ),
            (
                "vigie_video_recorded_bytes_total",
                "Bytes written to segment files per feed.",
                |c| &c.bytes_recorded,
            ),
            (
                "vigie_video_fragments_recorded_total",
                "Fragments recorded and indexed per feed.",
                |c| &c.fragments_recorded,
            ),
            (
                "vigie_video_fragments_dropped_total",
                "Fragments dropped because the disk fell behind or failed, per feed.",
                |c| &c.fragments_dropped,
            ),
            (
                "vigie_video_fragments_refused_total",
                "Fragments not recorded for want of an authorisation, per feed.",
                |c| &c.fragments_refused,
            ),
            (
                "vigie_video_viewer_skipped_total",
                "Pictures live viewers skipped to catch up (to the next keyframe), per feed.",
                |c| &c.viewer_skipped,
            ),
        ];
        for (name, help, get) in families {
            header(out, name, "counter", help);
            for (source, c) in &feeds {
                let _ = writeln!(
                    out,
                    "{name}{{source=\"{}\"}} {}",
                    label(source),
                    get(c).load(Ordering::Relaxed)
                );
            }
        }
    }
}

impl Metrics {
    fn render_patrol(&self, out: &mut String) {
        let p = &self.patrol;
        let gauges: [(&str, &str, &AtomicU64); 3] = [
            (
                "vigie_patrol_connected",
                "Patrol tablets with a live QUIC connection.",
                &p.connected,
            ),
            (
                "vigie_patrol_handshakes_in_progress",
                "TLS handshakes in progress (admission control caps them).",
                &p.handshakes_in_progress,
            ),
            (
                "vigie_patrol_orders_pending",
                "Orders stored and not yet acknowledged by their unit.",
                &p.orders_pending,
            ),
        ];
        for (name, help, v) in gauges {
            header(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
        header(
            out,
            "vigie_patrol_handshakes_refused_total",
            "counter",
            "Patrol connections refused, by reason: overload (admission control), failed (certificate or handshake error), timeout, after_handshake (role or revocation).",
        );
        for (reason, v) in [
            ("overload", &p.refused_overload),
            ("failed", &p.handshake_failures),
            ("timeout", &p.handshake_timeouts),
            ("after_handshake", &p.refused_after_handshake),
        ] {
            let _ = writeln!(
                out,
                "vigie_patrol_handshakes_refused_total{{reason=\"{reason}\"}} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let counters: [(&str, &str, &AtomicU64); 7] = [
            (
                "vigie_patrol_sessions_opened_total",
                "Patrol sessions opened (Welcome sent).",
                &p.sessions_opened,
            ),
            (
                "vigie_patrol_datagrams_total",
                "QUIC datagrams received from tablets (position reports).",
                &p.datagrams,
            ),
            (
                "vigie_patrol_stream_messages_total",
                "Messages received from tablets on QUIC streams.",
                &p.stream_messages,
            ),
            (
                "vigie_patrol_malformed_total",
                "Tablet frames or datagrams that could not be decoded.",
                &p.malformed,
            ),
            (
                "vigie_patrol_orders_issued_total",
                "Orders stored for patrol units.",
                &p.orders_issued,
            ),
            (
                "vigie_patrol_orders_sent_total",
                "Orders written to a tablet's control stream, resends included.",
                &p.orders_sent,
            ),
            (
                "vigie_patrol_orders_acked_total",
                "Order acknowledgements applied (duplicates and stale ones excluded).",
                &p.acks_applied,
            ),
        ];
        for (name, help, v) in counters {
            header(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
        let name = "vigie_patrol_order_ack_latency_seconds";
        header(
            out,
            name,
            "histogram",
            "From an order's issue (stored) to its first acknowledgement by the unit, seconds.",
        );
        p.ack_latency.render(out, name);
    }
}

/// A counter family over counters `C` (one per link, per feed): name, help
/// text, and how to read it.
type Family<C> = (&'static str, &'static str, fn(&C) -> &AtomicU64);
/// A per-link counter family.
type LinkFamily = Family<LinkCounters>;

/// A label value escaped as the exposition format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_bucket_bounds() {
        let h = Histogram::default();
        assert_eq!(h.quantile_bound(0.5), None);
        for ms in [1, 2, 3, 4, 5, 6, 7, 8, 40, 400] {
            h.observe(std::time::Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 10);
        assert_eq!(h.quantile_bound(0.5), Some(0.005));
        assert_eq!(h.quantile_bound(0.8), Some(0.01));
        assert_eq!(h.quantile_bound(0.99), Some(0.5));
        h.observe(std::time::Duration::from_secs(1000));
        assert_eq!(h.quantile_bound(1.0), Some(f64::INFINITY));
    }

    #[test]
    fn renders_every_family_with_help_and_type() {
        let m = Metrics::default();
        m.link("udp0").messages.fetch_add(3, Ordering::Relaxed);
        let text = m.render(&FleetHandle::new(), 1.5);
        assert!(text.contains("vigie_mavlink_messages_total{link=\"udp0\"} 3"));
        assert!(text.contains("vigie_units{kind=\"drone\",status=\"available\"} 0"));
        m.patrol.connected.store(7, Ordering::Relaxed);
        m.patrol
            .ack_latency
            .observe(std::time::Duration::from_millis(30));
        let text = m.render(&FleetHandle::new(), 1.5);
        assert!(text.contains("vigie_patrol_connected 7"));
        assert!(text.contains("vigie_patrol_order_ack_latency_seconds_bucket{le=\"0.025\"} 0"));
        assert!(text.contains("vigie_patrol_order_ack_latency_seconds_bucket{le=\"0.05\"} 1"));
        assert!(text.contains("vigie_patrol_order_ack_latency_seconds_bucket{le=\"+Inf\"} 1"));
        assert!(text.contains("vigie_patrol_order_ack_latency_seconds_count 1"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let name = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| text.contains(&format!("# TYPE {base} histogram")))
                .unwrap_or(name);
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "no TYPE for {name}"
            );
        }
    }
}
