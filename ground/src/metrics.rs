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
    /// Frames dropped: bad CRC, truncated, unknown message id, bad length.
    pub malformed: AtomicU64,
    /// Messages rejected by signing (unsigned, bad signature, replayed).
    pub signing_rejected: AtomicU64,
    /// Messages sent to vehicles.
    pub sent: AtomicU64,
}

/// Counters of the QUIC side.
#[derive(Debug, Default)]
pub struct QuicCounters {
    /// Connections accepted (handshake completed and certificate valid).
    pub accepted: AtomicU64,
    /// Connections refused (no/bad certificate, revoked, over capacity).
    pub refused: AtomicU64,
    /// Datagrams received (position reports).
    pub datagrams: AtomicU64,
    /// Stream messages received.
    pub stream_messages: AtomicU64,
    /// Messages that could not be decoded.
    pub malformed: AtomicU64,
}

/// Every counter the server exposes.
#[derive(Debug, Default)]
pub struct Metrics {
    /// MAVLink links by name.
    links: Mutex<BTreeMap<String, Arc<LinkCounters>>>,
    /// The QUIC listener.
    pub quic: QuicCounters,
    /// HTTP requests served.
    pub http_requests: AtomicU64,
}

impl Metrics {
    /// Counters for the link `name`, created on first use.
    pub fn link(&self, name: &str) -> Arc<LinkCounters> {
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        links.entry(name.to_string()).or_default().clone()
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
        let link_counters: [LinkFamily; 6] = [
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
                "Malformed MAVLink frames dropped per link.",
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

        let q = &self.quic;
        for (name, help, v) in [
            (
                "vigie_quic_accepted_total",
                "QUIC connections accepted.",
                &q.accepted,
            ),
            (
                "vigie_quic_refused_total",
                "QUIC connections refused.",
                &q.refused,
            ),
            (
                "vigie_quic_datagrams_total",
                "QUIC datagrams received.",
                &q.datagrams,
            ),
            (
                "vigie_quic_stream_messages_total",
                "QUIC stream messages received.",
                &q.stream_messages,
            ),
            (
                "vigie_quic_malformed_total",
                "QUIC messages that could not be decoded.",
                &q.malformed,
            ),
            (
                "vigie_http_requests_total",
                "HTTP requests served.",
                &self.http_requests,
            ),
        ] {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
        out
    }
}

/// A per-link counter family: name, help text, and how to read it.
type LinkFamily = (&'static str, &'static str, fn(&LinkCounters) -> &AtomicU64);

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_help_and_type() {
        let m = Metrics::default();
        m.link("udp0").messages.fetch_add(3, Ordering::Relaxed);
        let text = m.render(&FleetHandle::new(), 1.5);
        assert!(text.contains("vigie_mavlink_messages_total{link=\"udp0\"} 3"));
        assert!(text.contains("vigie_units{kind=\"drone\",status=\"available\"} 0"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "no TYPE for {name}"
            );
        }
    }
}
