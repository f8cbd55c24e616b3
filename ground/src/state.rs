//! The state every listener and handler shares, and the bound listeners'
//! addresses. A leaf: it names what the edges use and imports none of
//! them; [`crate::server`] fills it in at start-up.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use vigie_protocols::api::Listener;

use crate::config::Config;
use crate::fleet::FleetHandle;
use crate::frame::LocalFrame;
use crate::metrics::Metrics;
use crate::store::Store;

/// State shared by every listener and handler.
#[derive(Debug)]
pub struct ServerState {
    /// The configuration the server runs with.
    pub config: Config,
    /// The fleet picture.
    pub fleet: FleetHandle,
    /// Persistence.
    pub store: Store,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The site's local metric frame.
    pub frame: LocalFrame,
    /// The patrol link: order queue and live tablet sessions.
    pub patrol: Arc<crate::patrol::roster::PatrolLink>,
    /// When the server started, for uptime.
    pub started: Instant,
    /// Request queues of the MAVLink links.
    pub drones: crate::drone::hub::DroneHub,
    /// Live coverage index over every camera, following the picture.
    pub coverage: Arc<crate::coverage::live::LiveCoverage>,
    /// The audit register: who did what, when, why.
    pub audit: crate::guardrails::audit::Audit,
    /// Retention limits and operator events of the guardrails.
    pub guardrails: Arc<crate::guardrails::Guardrails>,
    /// Seen by long-lived responses (live video) so they end when the
    /// server stops.
    pub shutdown: crate::shutdown::Shutdown,
    /// Live video feeds, for viewers.
    pub video: Arc<crate::video::relay::Relay>,
    /// Dispatch: incidents, suggestions, orders, escalations.
    pub dispatch: crate::dispatch::desk::Desk,
    /// The audit register's verify report at start when it did not verify
    /// and the server was started anyway (`--accept-damaged-audit`).
    pub audit_damage: Option<String>,
    /// Bound listeners, filled in during start-up.
    pub(crate) listeners: Mutex<Vec<Listener>>,
}

impl ServerState {
    /// The audit register and the guardrails' counters, for the hooks
    /// that record.
    pub fn register(&self) -> crate::guardrails::gate::Register {
        crate::guardrails::gate::Register {
            audit: self.audit.clone(),
            guardrails: self.guardrails.clone(),
        }
    }

    /// Bound listeners, by name.
    pub fn listeners(&self) -> Vec<Listener> {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records a bound listener (shown by `/api/v1/health` and the CLI).
    pub fn add_listener(&self, name: &str, address: SocketAddr) {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Listener {
                name: name.into(),
                address: address.to_string(),
            });
    }

    /// The address of a listener by name.
    pub fn listener(&self, name: &str) -> Option<SocketAddr> {
        self.listeners()
            .into_iter()
            .find(|l| l.name == name)
            .and_then(|l| l.address.parse().ok())
    }
}
