//! Dispatch's latencies and counters, and its Prometheus families.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Dispatch;
use super::incident::Status;
use crate::metrics::Histogram;

/// Latencies measured as they happen (since this server started).
#[derive(Debug)]
pub(super) struct Stats {
    /// Order issued → first ack of any kind, seconds.
    pub(super) ack_latency: Histogram,
    /// Incident created → first unit on scene, seconds.
    pub(super) first_on_scene: Histogram,
    /// Incidents already counted in `first_on_scene`: an incident may be
    /// saved again in the same state (a repeated acknowledgement), and is
    /// counted once.
    pub(super) on_scene_counted: std::collections::HashSet<u64>,
    /// Orders issued.
    pub(super) orders: u64,
    /// Escalations.
    pub(super) escalations: u64,
}

impl Dispatch {
    /// Dispatch's Prometheus families.
    pub fn render_metrics(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut by_status: BTreeMap<Status, u64> =
            Status::ALL.into_iter().map(|s| (s, 0)).collect();
        {
            let engine = self.lock();
            for i in engine.incidents() {
                *by_status.entry(i.status).or_default() += 1;
            }
        }
        let _ = writeln!(
            out,
            "# HELP vigie_incidents Incidents open or created today, by status.\n# TYPE vigie_incidents gauge"
        );
        for (s, n) in by_status {
            let _ = writeln!(out, "vigie_incidents{{status=\"{}\"}} {n}", s.as_str());
        }
        let stats = self.stats();
        let _ = writeln!(
            out,
            "# HELP vigie_dispatch_orders_total Orders issued by dispatch.\n# TYPE vigie_dispatch_orders_total counter\nvigie_dispatch_orders_total {}",
            stats.orders
        );
        let _ = writeln!(
            out,
            "# HELP vigie_dispatch_escalations_total Escalations to operators.\n# TYPE vigie_dispatch_escalations_total counter\nvigie_dispatch_escalations_total {}",
            stats.escalations
        );
        stats.ack_latency.render_family(
            &mut out,
            "vigie_order_ack_latency_seconds",
            "Order stored to its first acknowledgement by the unit.",
        );
        stats.first_on_scene.render_family(
            &mut out,
            "vigie_incident_first_on_scene_seconds",
            "Incident reported to its first unit on scene.",
        );
        drop(stats);
        let zones = self.zone_coverage();
        let _ = writeln!(
            out,
            "# HELP vigie_zone_coverage_fraction Camera coverage of each event zone (open ground seen, 0..1).\n# TYPE vigie_zone_coverage_fraction gauge"
        );
        for (z, f) in zones {
            let z = z.replace(['\\', '"', '\n'], "_");
            let _ = writeln!(out, "vigie_zone_coverage_fraction{{zone=\"{z}\"}} {f:.4}");
        }
        out
    }
}
