//! What the patrol link writes to the audit register: every tablet or
//! console session (start and end), every refusal (at the handshake, at
//! connection, by role), every broadcast relayed, every order's progress,
//! every subscription to the live picture (an operator viewing what the
//! cameras and drones see: who, when).
//!
//! Pure: these build the entries; the connection task queues them
//! (`Audit::enqueue_async`), never waiting for a commit, so a reconnection
//! storm of ten thousand tablets is not slowed by the register (the writer
//! commits them in batches).

use serde_json::json;
use vigie_protocols::tablet::Broadcast;

use super::ca::UnitIdentity;
use crate::guardrails::audit::{Actor, Entry};

/// The facts of one session, as recorded at its start and end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    /// Unit id (certificate CN).
    pub unit: String,
    /// Role (certificate OU).
    pub role: String,
    /// Certificate serial, hex.
    pub serial: String,
    /// Certificate SHA-256 fingerprint, hex.
    pub fingerprint: String,
    /// Remote address, `ip:port`.
    pub remote: String,
    /// Whether the TLS session was resumed (no certificate exchange).
    pub resumed: bool,
    /// This session's id (also in the tablet's Welcome and the logs).
    pub session_id: u64,
}

impl SessionFacts {
    /// Facts from a verified identity.
    pub fn new(
        identity: &UnitIdentity,
        fingerprint: String,
        remote: std::net::SocketAddr,
        resumed: bool,
        session_id: u64,
    ) -> SessionFacts {
        SessionFacts {
            unit: identity.unit.clone(),
            role: identity.role.clone(),
            serial: identity.serial.clone(),
            fingerprint,
            remote: remote.to_string(),
            resumed,
            session_id,
        }
    }

    fn actor(&self) -> Actor {
        Actor::Unit(self.unit.clone())
    }

    fn target(&self) -> String {
        format!("unit:{}", self.unit)
    }
}

/// A session started (certificate checked, not revoked, role may connect).
pub fn session_start(now_ms: i64, f: &SessionFacts) -> Entry {
    Entry::new(now_ms, f.actor(), "patrol.session.start", &f.target()).detail(json!({
        "session": f.session_id,
        "role": f.role,
        "serial": f.serial,
        "fingerprint_sha256": f.fingerprint,
        "remote": f.remote,
        "handshake": if f.resumed { "resumed" } else { "full" },
    }))
}

/// A session ended, after `duration_ms`, for `why` (the close reason).
pub fn session_end(now_ms: i64, f: &SessionFacts, duration_ms: i64, why: &str) -> Entry {
    Entry::new(now_ms, f.actor(), "patrol.session.end", &f.target()).detail(json!({
        "session": f.session_id,
        "remote": f.remote,
        "duration_ms": duration_ms,
        "ended": why,
    }))
}

/// Where a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// In the TLS handshake: no certificate, unknown CA, expired, revoked.
    Handshake,
    /// After the handshake: role may not connect, expired or revoked
    /// certificate on a resumed session.
    Connect,
    /// In the session: an action the role may not do.
    Session,
}

impl Stage {
    /// The recorded form: `handshake`, `connect`, `session`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Handshake => "handshake",
            Stage::Connect => "connect",
            Stage::Session => "session",
        }
    }
}

/// A refusal. `who` is the certificate's identity when one was read
/// (anonymous otherwise: the handshake failed before).
pub fn refused(
    now_ms: i64,
    who: Option<&UnitIdentity>,
    remote: std::net::SocketAddr,
    stage: Stage,
    action: &str,
    reason: &str,
) -> Entry {
    let (actor, target) = match who {
        Some(id) => (Actor::Unit(id.unit.clone()), format!("unit:{}", id.unit)),
        None => (Actor::Anonymous, format!("remote:{remote}")),
    };
    Entry::new(now_ms, actor, "patrol.refused", &target).detail(json!({
        "stage": stage.as_str(),
        "action": action,
        "reason": reason,
        "remote": remote.to_string(),
        "role": who.map(|i| i.role.clone()),
        "serial": who.map(|i| i.serial.clone()),
    }))
}

/// An action the session's role may not do, refused in the session.
pub fn session_refused(now_ms: i64, f: &SessionFacts, action: &str, reason: &str) -> Entry {
    Entry::new(now_ms, f.actor(), "patrol.refused", &f.target()).detail(json!({
        "stage": Stage::Session.as_str(),
        "action": action,
        "reason": reason,
        "remote": f.remote,
        "role": f.role,
        "serial": f.serial,
        "session": f.session_id,
    }))
}

/// A broadcast relayed to every connected unit.
pub fn broadcast(now_ms: i64, b: &Broadcast) -> Entry {
    Entry::new(
        now_ms,
        Actor::Unit(b.from_unit.clone()),
        "patrol.broadcast",
        "units:all",
    )
    .detail(json!({"message_id": b.message_id, "text": b.text}))
}

/// A client started following the live picture.
pub fn picture(now_ms: i64, f: &SessionFacts, min_interval_ms: u128) -> Entry {
    Entry::new(now_ms, f.actor(), "picture.subscribe", "picture:live").detail(json!({
        "session": f.session_id,
        "role": f.role,
        "remote": f.remote,
        "min_interval_ms": min_interval_ms,
    }))
}

/// A client started watching a live video feed.
pub fn video(now_ms: i64, f: &SessionFacts, source: &str) -> Entry {
    Entry::new(now_ms, f.actor(), "video.live", source).detail(json!({
        "session": f.session_id,
        "role": f.role,
        "remote": f.remote,
    }))
}

/// A unit moved one of its orders on (accepted, arrived, refused, closed).
pub fn order_progress(now_ms: i64, f: &SessionFacts, order_id: &str, state: &str) -> Entry {
    Entry::new(
        now_ms,
        f.actor(),
        "patrol.order.progress",
        &format!("order:{order_id}"),
    )
    .detail(json!({"session": f.session_id, "state": state}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(resumed: bool) -> SessionFacts {
        SessionFacts {
            unit: "P7".into(),
            role: "patrol".into(),
            serial: "0a1b".into(),
            fingerprint: "ff".repeat(32),
            remote: "10.0.0.7:4433".into(),
            resumed,
            session_id: 42,
        }
    }

    #[test]
    fn a_session_start_says_who_with_which_certificate_from_where_and_how() {
        let e = session_start(5, &facts(true));
        assert_eq!(e.actor, Actor::Unit("P7".into()));
        assert_eq!(e.action, "patrol.session.start");
        assert_eq!(e.target, "unit:P7");
        assert_eq!(e.detail["serial"], "0a1b");
        assert_eq!(e.detail["fingerprint_sha256"], "ff".repeat(32));
        assert_eq!(e.detail["remote"], "10.0.0.7:4433");
        assert_eq!(e.detail["handshake"], "resumed");
        assert_eq!(session_start(5, &facts(false)).detail["handshake"], "full");
        let end = session_end(9, &facts(false), 4, "closed by peer");
        assert_eq!(end.detail["session"], 42);
        assert_eq!(end.detail["ended"], "closed by peer");
    }

    #[test]
    fn an_anonymous_refusal_names_the_remote_address() {
        let remote: std::net::SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let e = refused(1, None, remote, Stage::Handshake, "connect", "unknown CA");
        assert_eq!(e.actor, Actor::Anonymous);
        assert_eq!(e.target, "remote:192.0.2.1:5000");
        assert_eq!(e.detail["stage"], "handshake");
        assert_eq!(e.detail["reason"], "unknown CA");
    }
}
