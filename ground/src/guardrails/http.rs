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
//! - `GET /api/v1/retention`: the retention limits in force.
//! - `GET /api/v1/retention/holds`, `POST /api/v1/retention/holds`,
//!   `POST /api/v1/retention/holds/{item}/release`: legal holds (reason and
//!   proceedings' reference), each change recorded.
//! - `GET /api/v1/retention/deletions?from=MS&to=MS`: the deletion register.
//! - `POST /api/v1/recordings`: a recorder indexes a segment.
//! - `GET /api/v1/recordings?lat&lon&from&to&reason=`: segments showing a
//!   point in a window (a footage query: reason required, recorded), their
//!   footprints cut by privacy masks.

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
use super::recordings::{self, NewRecording, RecordingError, RecordingView};
use super::retention::{Deleted, Hold, HoldError};
use crate::auth::Operator;
use crate::http::HttpError;

/// What the guardrail routes use: the store (authorisations, holds,
/// recordings), the live index (masks), the site frame, and the register.
#[derive(Debug, Clone)]
pub struct GuardrailsApi {
    /// Authorisations, holds, recordings, deletions.
    pub store: crate::store::Store,
    /// The live coverage index, for the privacy masks.
    pub coverage: Arc<crate::coverage::live::LiveCoverage>,
    /// The site's local frame.
    pub frame: crate::frame::LocalFrame,
    /// The audit register and the guardrails' counters.
    pub register: super::gate::Register,
}

/// Most rows one audit request returns; narrow the window beyond.
pub const MAX_AUDIT_ROWS: usize = 100_000;

/// The guardrail routes, merged into the API router.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    GuardrailsApi: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/api/v1/audit", get(audit_range))
        .route("/api/v1/audit/verify", get(audit_verify))
        .route("/api/v1/authorisations", get(list).post(add))
        .route("/api/v1/authorisations/{id}/end", post(end))
        .route("/api/v1/guardrails/events", get(events))
        .route("/api/v1/retention", get(retention_limits))
        .route("/api/v1/retention/holds", get(holds).post(place_hold))
        .route("/api/v1/retention/holds/{item}/release", post(lift_hold))
        .route("/api/v1/retention/deletions", get(deletions))
        .route(
            "/api/v1/recordings",
            get(search_recordings).post(index_recording),
        )
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
    State(state): State<GuardrailsApi>,
    op: Operator,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditRows>, HttpError> {
    let from = q.from.unwrap_or(i64::MIN);
    let to = q.to.unwrap_or_else(crate::time::unix_ms);
    // Reading the register is itself recorded: who looked at the log.
    super::gate::record_async(
        &state.register,
        Actor::from(&op),
        "audit.read",
        "audit",
        json!({"from": q.from, "to": to}),
    )
    .await;
    // Refusals are counted per minute: write the current counts first, so
    // the rows read hold every refusal so far.
    super::gate::flush_refusals(&state.register).await;
    let audit = state.register.audit.clone();
    let rows = crate::http::blocking(move || audit.range(from, to))
        .await?
        .map_err(internal)?;
    if rows.len() > MAX_AUDIT_ROWS {
        return Err(HttpError::bad_request(format!(
            "{} rows in that window, above {MAX_AUDIT_ROWS}: narrow from/to or use `vigie audit export`",
            rows.len()
        )));
    }
    Ok(Json(AuditRows { rows }))
}

async fn audit_verify(State(state): State<GuardrailsApi>) -> Result<Json<Value>, HttpError> {
    let store = state.store.clone();
    let report = tokio::task::spawn_blocking(move || {
        audit::verify_with(&store, &audit::VerifyOptions::default())
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    Ok(Json(match report.first() {
        None => {
            json!({"intact": true, "rows": report.rows, "signed_rows": report.signed_rows, "report": report.lines()})
        }
        Some(t) => {
            json!({"intact": false, "first_bad_seq": t.seq(), "problem": t.to_string(), "report": report.lines()})
        }
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

async fn list(State(state): State<GuardrailsApi>) -> Result<Json<Value>, HttpError> {
    let now = crate::time::unix_ms();
    let list: Vec<Listed> =
        crate::http::on_store(&state.store, move |store| store.list_authorisations())
            .await?
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
    State(state): State<GuardrailsApi>,
    op: Operator,
    Json(spec): Json<NewAuthorisation>,
) -> Result<(StatusCode, Json<Authorisation>), HttpError> {
    let now = crate::time::unix_ms();
    spec.validate()
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    let actor = op.actor();
    let saved = crate::http::on_store(&state.store, move |store| {
        store.add_authorisation(&spec, now, &actor)
    })
    .await?
    .map_err(|e| match e {
        AuthorisationError::Invalid(_) => HttpError::bad_request(e.to_string()),
        other => internal(other),
    })?;
    super::gate::record_async(
        &state.register,
        Actor::from(&op),
        "authorisation.add",
        &format!("authorisation:{}", saved.id),
        serde_json::to_value(&saved).unwrap_or(Value::Null),
    )
    .await;
    Ok((StatusCode::CREATED, Json(saved)))
}

async fn end(
    State(state): State<GuardrailsApi>,
    op: Operator,
    Path(id): Path<i64>,
) -> Result<StatusCode, HttpError> {
    super::gate::record_async(
        &state.register,
        Actor::from(&op),
        "authorisation.end",
        &format!("authorisation:{id}"),
        Value::Null,
    )
    .await;
    let actor = op.actor();
    crate::http::on_store(&state.store, move |store| {
        store.end_authorisation(id, crate::time::unix_ms(), &actor)
    })
    .await?
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
    State(state): State<GuardrailsApi>,
    Query(q): Query<EventsQuery>,
) -> Json<Vec<GuardEvent>> {
    Json(
        state
            .register
            .guardrails
            .events_since(q.after_ms.unwrap_or(i64::MIN)),
    )
}

/// `GET /api/v1/retention` answer: how long each kind of data is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetentionLimits {
    /// Drone recordings, days after the segment's end.
    pub drone_recordings_days: u32,
    /// Fixed video-protection recordings, days.
    pub fixed_video_days: u32,
    /// Patrol tablets' recordings, days.
    pub tablet_recordings_days: u32,
    /// Coverage history (who saw which ground, when), days.
    pub coverage_history_days: f64,
    /// The recorded picture and units' last known state, days.
    pub telemetry_days: u32,
    /// Time between purge passes, seconds.
    pub purge_interval_s: u64,
}

async fn retention_limits(State(state): State<GuardrailsApi>) -> Json<RetentionLimits> {
    let l = &state.register.guardrails.retention;
    Json(RetentionLimits {
        drone_recordings_days: l.config.drone_recordings_days,
        fixed_video_days: l.config.fixed_video_days,
        tablet_recordings_days: l.config.tablet_recordings_days,
        coverage_history_days: l.coverage_history_ms as f64 / 86_400_000.0,
        telemetry_days: l.config.telemetry_days,
        purge_interval_s: l.config.purge_interval_s,
    })
}

/// `GET /api/v1/retention/holds` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holds {
    /// Every legal hold, by item.
    pub holds: Vec<Hold>,
}

async fn holds(State(state): State<GuardrailsApi>) -> Result<Json<Holds>, HttpError> {
    Ok(Json(Holds {
        holds: {
            crate::http::on_store(&state.store, move |store| store.holds())
                .await?
                .map_err(internal)?
        },
    }))
}

/// `POST /api/v1/retention/holds` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHold {
    /// The item: `recording:ID`, `coverage:ID`, `camera:ID@IMPORTED_MS`,
    /// `unit:ID`.
    pub item: String,
    /// Why it is held.
    pub reason: String,
    /// The proceedings' reference (case or seizure number).
    pub reference: String,
}

/// Most characters of a hold's reason or reference.
pub const MAX_HOLD_TEXT: usize = 500;

fn hold_error(e: HoldError) -> HttpError {
    match e {
        HoldError::BadItem(_) | HoldError::NoReason => HttpError::bad_request(e.to_string()),
        HoldError::NotHeld(_) => HttpError::not_found(e.to_string()),
        HoldError::Store(s) => internal(s),
    }
}

async fn place_hold(
    State(state): State<GuardrailsApi>,
    op: Operator,
    Json(h): Json<NewHold>,
) -> Result<(StatusCode, Json<Hold>), HttpError> {
    let (reason, reference) = (h.reason.trim(), h.reference.trim());
    if reference.is_empty() {
        return Err(HttpError::bad_request(
            "a legal hold needs the proceedings' reference (`reference`: case or seizure number)",
        ));
    }
    if reason.chars().count() > MAX_HOLD_TEXT || reference.chars().count() > MAX_HOLD_TEXT {
        return Err(HttpError::bad_request(format!(
            "reason and reference are at most {MAX_HOLD_TEXT} characters"
        )));
    }
    let now = crate::time::unix_ms();
    {
        let (store, actor) = (state.store.clone(), op.actor());
        let (item, reason, reference) = (h.item.clone(), reason.to_string(), reference.to_string());
        crate::http::blocking(move || store.hold_for(&item, &reason, &reference, &actor, now))
            .await?
            .map_err(hold_error)?;
    }
    let entry = super::audit::Entry::new(now, Actor::from(&op), "retention.hold", &h.item)
        .detail(json!({"reference": reference}))
        .reason(reason);
    if let Err(e) = state.register.audit.record_async(entry).await {
        tracing::error!(item = %h.item, "audit register unavailable, hold unrecorded: {e}");
    }
    Ok((
        StatusCode::CREATED,
        Json(Hold {
            item: h.item.clone(),
            reason: reason.into(),
            held_by: op.actor(),
            held_ms: now,
            reference: reference.into(),
        }),
    ))
}

/// `POST /api/v1/retention/holds/{item}/release` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiftHold {
    /// Why the hold ends (case closed, seizure lifted).
    pub reason: String,
}

async fn lift_hold(
    State(state): State<GuardrailsApi>,
    op: Operator,
    Path(item): Path<String>,
    Json(l): Json<LiftHold>,
) -> Result<StatusCode, HttpError> {
    let reason = l.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_HOLD_TEXT {
        return Err(HttpError::bad_request(format!(
            "lifting a legal hold needs a reason (at most {MAX_HOLD_TEXT} characters): the decision that ends it"
        )));
    }
    {
        let item = item.clone();
        crate::http::on_store(&state.store, move |store| store.release(&item))
            .await?
            .map_err(hold_error)?;
    }
    let entry = super::audit::Entry::new(
        crate::time::unix_ms(),
        Actor::from(&op),
        "retention.release",
        &item,
    )
    .reason(reason);
    if let Err(e) = state.register.audit.record_async(entry).await {
        tracing::error!(%item, "audit register unavailable, release unrecorded: {e}");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/retention/deletions` query.
#[derive(Debug, Deserialize)]
pub struct DeletionsQuery {
    /// Window start, Unix milliseconds (default: the beginning).
    #[serde(default)]
    pub from: Option<i64>,
    /// Window end, Unix milliseconds (default: now).
    #[serde(default)]
    pub to: Option<i64>,
}

/// `GET /api/v1/retention/deletions` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deletions {
    /// What was deleted in the window, oldest first.
    pub deletions: Vec<Deleted>,
}

async fn deletions(
    State(state): State<GuardrailsApi>,
    Query(q): Query<DeletionsQuery>,
) -> Result<Json<Deletions>, HttpError> {
    let from = q.from.unwrap_or(i64::MIN);
    let to = q.to.unwrap_or(i64::MAX);
    let store = state.store.clone();
    let all = tokio::task::spawn_blocking(move || store.deletions())
        .await
        .map_err(internal)?
        .map_err(internal)?;
    let deletions: Vec<Deleted> = all
        .into_iter()
        .filter(|d| (from..=to).contains(&d.deleted_ms))
        .collect();
    if deletions.len() > MAX_AUDIT_ROWS {
        return Err(HttpError::bad_request(format!(
            "{} deletions in that window, above {MAX_AUDIT_ROWS}: narrow from/to or use `vigie retention register`",
            deletions.len()
        )));
    }
    Ok(Json(Deletions { deletions }))
}

async fn index_recording(
    State(state): State<GuardrailsApi>,
    op: Operator,
    Json(r): Json<NewRecording>,
) -> Result<(StatusCode, Json<recordings::Recording>), HttpError> {
    let now = crate::time::unix_ms();
    let store = state.store.clone();
    let by = op.actor();
    let spec = r.clone();
    let id = tokio::task::spawn_blocking(move || store.index_segment(&spec, &by, now))
        .await
        .map_err(internal)?
        .map_err(|e| match e {
            RecordingError::Invalid(m) => HttpError::bad_request(m),
            RecordingError::Store(s) => internal(s),
        })?;
    super::gate::record_async(
        &state.register,
        Actor::from(&op),
        "recording.index",
        &format!("recording:{id}"),
        json!({
            "source_kind": r.source_kind,
            "source_id": r.source_id,
            "start_ms": r.start_ms,
            "end_ms": r.end_ms,
            "uri": r.uri,
            "authorisation": r.authorisation,
        }),
    )
    .await;
    let saved = crate::http::on_store(&state.store, move |store| store.segment(id))
        .await?
        .map_err(internal)?
        .ok_or_else(|| internal("the indexed segment vanished"))?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// A footage query's question: a point, a window, and why
/// (`GET /api/v1/recordings`, `GET /api/v1/footage`).
#[derive(Debug, Deserialize)]
pub struct FootageQuery {
    /// Latitude of the point, degrees.
    pub lat: f64,
    /// Longitude of the point, degrees.
    pub lon: f64,
    /// Window start, Unix milliseconds.
    pub from: i64,
    /// Window end, Unix milliseconds.
    pub to: i64,
    /// Why the recordings are searched (incident, case): required, audited.
    #[serde(default)]
    pub reason: Option<String>,
}

impl FootageQuery {
    /// Checks the point and the window (the reason is checked when the
    /// query is recorded).
    pub fn check(&self) -> Result<(), HttpError> {
        let valid = self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon);
        if !valid {
            return Err(HttpError::bad_request(
                "lat must be in -90..90 and lon in -180..180 (degrees)",
            ));
        }
        if self.to < self.from {
            return Err(HttpError::bad_request("from must not be after to"));
        }
        Ok(())
    }
}

/// `GET /api/v1/recordings` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordingsAnswer {
    /// Segments showing the point in the window, by start.
    pub recordings: Vec<RecordingView>,
    /// Whether the point lies in a privacy mask (then nothing is answered).
    pub masked: bool,
}

async fn search_recordings(
    State(state): State<GuardrailsApi>,
    op: Operator,
    Query(q): Query<FootageQuery>,
) -> Result<Json<RecordingsAnswer>, HttpError> {
    q.check()?;
    super::gate::footage_access(
        &state.register,
        &op,
        ("recordings.search", "recordings", "a recordings search"),
        json!({"point": {"lat_deg": q.lat, "lon_deg": q.lon}}),
        q.from,
        q.to,
        q.reason.as_deref(),
    )
    .await?;
    let frame = state.frame;
    let (e, n) = frame.to_local(q.lat, q.lon);
    let masks = state.coverage.read(|i| i.masks().clone());
    if masks.masks([e, n]) {
        return Ok(Json(RecordingsAnswer {
            recordings: Vec::new(),
            masked: true,
        }));
    }
    let store = state.store.clone();
    let (lat, lon, from, to) = (q.lat, q.lon, q.from, q.to);
    let found = tokio::task::spawn_blocking(move || {
        store.segments_near(lat, lon, from, to, recordings::MAX_RESULTS)
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    let recordings = found
        .iter()
        .filter_map(|r| recordings::view_at(r, [e, n], &frame, &masks))
        .collect();
    Ok(Json(RecordingsAnswer {
        recordings,
        masked: false,
    }))
}
