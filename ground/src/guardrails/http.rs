//! HTTP routes of the guardrails.
//!
//! - `GET /api/v1/audit?from=MS&to=MS`: the register for auditors, in order,
//!   with the chain fields so an inspector can re-verify it.
//! - `GET /api/v1/audit/verify`: the whole chain checked now.
//! - `GET /api/v1/authorisations`: every authorisation with `active`.
//! - `POST /api/v1/authorisations`: record one (admins).
//! - `POST /api/v1/authorisations/{id}/end`: end one early (admins); its
//!   flying drones are recalled within a second.
//! - `GET /api/v1/guardrails/events?after_ms=MS`: recalls, expiries and
//!   fence failures for operators' screens.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::GuardEvent;
use super::audit::{self, Actor, Row};
use super::authorisation::{Authorisation, AuthorisationError, NewAuthorisation};
use crate::auth::Operator;
use crate::http::HttpError;
use crate::server::ServerState;

/// Most rows one audit request returns; narrow the window beyond.
pub const MAX_AUDIT_ROWS: usize = 100_000;

/// The guardrail routes, merged into the API router.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/api/v1/audit", get(audit_range))
        .route("/api/v1/audit/verify", get(audit_verify))
        .route("/api/v1/authorisations", get(list).post(add))
        .route("/api/v1/authorisations/{id}/end", post(end))
        .route("/api/v1/guardrails/events", get(events))
}

/// `GET /api/v1/audit` query.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// Window start, Unix milliseconds (default: the beginning).
    #[serde(default)]
    pub from: Option<i64>,
    /// Window end, Unix milliseconds (default: now).
    #[serde(default)]
    pub to: Option<i64>,
}

/// `GET /api/v1/audit` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRows {
    /// Rows in the window, in register order.
    pub rows: Vec<Row>,
}

fn internal(e: impl std::fmt::Display) -> HttpError {
    HttpError::internal(e.to_string())
}

async fn audit_range(
    State(state): State<Arc<ServerState>>,
    op: Operator,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditRows>, HttpError> {
    let from = q.from.unwrap_or(i64::MIN);
    let to = q.to.unwrap_or_else(crate::time::unix_ms);
    // Reading the register is itself recorded: who looked at the log.
    super::gate::record(
        &state,
        Actor::from(&op),
        "audit.read",
        "audit",
        json!({"from": q.from, "to": to}),
    );
    let rows = state.audit.range(from, to).map_err(internal)?;
    if rows.len() > MAX_AUDIT_ROWS {
        return Err(HttpError::bad_request(format!(
            "{} rows in that window, above {MAX_AUDIT_ROWS}: narrow from/to or use `vigie audit export`",
            rows.len()
        )));
    }
    Ok(Json(AuditRows { rows }))
}

async fn audit_verify(State(state): State<Arc<ServerState>>) -> Result<Json<Value>, HttpError> {
    let store = state.store.clone();
    let result = tokio::task::spawn_blocking(move || audit::verify(&store))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    Ok(Json(match result {
        Ok(n) => json!({"intact": true, "rows": n}),
        Err(t) => json!({"intact": false, "first_bad_seq": t.seq(), "problem": t.to_string()}),
    }))
}

/// An authorisation as listed, with whether it is in force now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listed {
    /// The authorisation.
    #[serde(flatten)]
    pub authorisation: Authorisation,
    /// In force now.
    pub active: bool,
}

async fn list(State(state): State<Arc<ServerState>>) -> Result<Json<Value>, HttpError> {
    let now = crate::time::unix_ms();
    let list: Vec<Listed> = state
        .store
        .list_authorisations()
        .map_err(internal)?
        .into_iter()
        .map(|a| Listed {
            active: a.active(now),
            authorisation: a,
        })
        .collect();
    Ok(Json(json!({"at_ms": now, "authorisations": list})))
}

async fn add(
    State(state): State<Arc<ServerState>>,
    op: Operator,
    Json(spec): Json<NewAuthorisation>,
) -> Result<(StatusCode, Json<Authorisation>), HttpError> {
    let now = crate::time::unix_ms();
    spec.validate()
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    let saved = state
        .store
        .add_authorisation(&spec, now, &op.actor())
        .map_err(|e| match e {
            AuthorisationError::Invalid(_) => HttpError::bad_request(e.to_string()),
            other => internal(other),
        })?;
    super::gate::record(
        &state,
        Actor::from(&op),
        "authorisation.add",
        &format!("authorisation:{}", saved.id),
        serde_json::to_value(&saved).unwrap_or(Value::Null),
    );
    Ok((StatusCode::CREATED, Json(saved)))
}

async fn end(
    State(state): State<Arc<ServerState>>,
    op: Operator,
    Path(id): Path<i64>,
) -> Result<StatusCode, HttpError> {
    super::gate::record(
        &state,
        Actor::from(&op),
        "authorisation.end",
        &format!("authorisation:{id}"),
        Value::Null,
    );
    state
        .store
        .end_authorisation(id, crate::time::unix_ms(), &op.actor())
        .map_err(|e| match e {
            AuthorisationError::NotFound(_) => HttpError::not_found(e.to_string()),
            other => internal(other),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/guardrails/events` query.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// Only events after this time, Unix milliseconds.
    #[serde(default)]
    pub after_ms: Option<i64>,
}

async fn events(
    State(state): State<Arc<ServerState>>,
    Query(q): Query<EventsQuery>,
) -> Json<Vec<GuardEvent>> {
    Json(
        state
            .guardrails
            .events_since(q.after_ms.unwrap_or(i64::MIN)),
    )
}
