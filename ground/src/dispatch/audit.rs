//! Dispatch's decisions in the audit register: every incident change,
//! order and escalation is translated to a register entry (and a log line)
//! before it is carried out.

use super::Dispatch;
use super::engine::Action;

impl Dispatch {
    /// Records every later decision in the audit register too.
    pub fn set_audit(&self, register: crate::guardrails::audit::Audit) {
        let _ = self.register.set(register);
    }

    /// The single place where dispatch's decisions are recorded for audit:
    /// every incident change, order and escalation passes here before it is
    /// carried out. The guardrails' tamper-evident audit log plugs in here.
    pub(super) fn audit(&self, action: &Action) {
        if let Some(register) = self.register.get() {
            record(register, action);
        }
        match action {
            Action::SaveIncident(i) => {
                if let Some(t) = i.transitions.last() {
                    tracing::info!(target: "vigie::audit", incident = i.id, status = t.status.as_str(), by = %t.by, "incident status");
                }
            }
            Action::SaveEscalation(e) => {
                tracing::info!(target: "vigie::audit", incident = e.incident_id, order = ?e.order_id, reason = %e.reason, "escalation");
            }
            Action::IssueOrder {
                incident_id,
                unit,
                by,
            } => {
                tracing::info!(target: "vigie::audit", incident = incident_id, %unit, %by, "order");
            }
            Action::Withdraw {
                order_id,
                unit,
                reason,
            } => {
                tracing::info!(target: "vigie::audit", %order_id, %unit, %reason, "order withdrawn");
            }
            Action::Resend { .. } | Action::Announce(_) => {}
        }
    }
}

/// Writes one dispatch decision to the audit register.
fn record(register: &crate::guardrails::audit::Audit, action: &Action) {
    use crate::guardrails::audit::{Actor, Entry};
    let actor = |by: &str| match by.split_once(':') {
        Some(("operator", name)) => Actor::Operator(name.to_string()),
        Some(("unit", id)) => Actor::Unit(id.to_string()),
        _ => Actor::System,
    };
    let now = crate::time::unix_ms();
    let entry = match action {
        Action::SaveIncident(i) => {
            let Some(t) = i.transitions.last() else {
                return;
            };
            Entry::new(
                now,
                actor(&t.by),
                "incident.status",
                &format!("incident:{}", i.id),
            )
            .detail(serde_json::json!({ "status": t.status.as_str(), "by": t.by }))
        }
        Action::SaveEscalation(e) => Entry::new(
            now,
            Actor::System,
            "incident.escalation",
            &format!("incident:{}", e.incident_id),
        )
        .detail(serde_json::json!({ "order": e.order_id, "reason": e.reason })),
        Action::IssueOrder {
            incident_id,
            unit,
            by,
        } => Entry::new(now, actor(by), "patrol.order", &format!("unit:{unit}"))
            .detail(serde_json::json!({ "incident": incident_id })),
        Action::Withdraw {
            order_id,
            unit,
            reason,
        } => Entry::new(
            now,
            Actor::System,
            "patrol.withdraw",
            &format!("unit:{unit}"),
        )
        .detail(serde_json::json!({ "order": order_id, "reason": reason })),
        Action::Resend { .. } | Action::Announce(_) => return,
    };
    if let Err(e) = register.enqueue(entry) {
        tracing::error!("audit register unavailable, dispatch decision unrecorded: {e}");
    }
}
