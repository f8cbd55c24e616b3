//! Dispatch's HTTP routes, the operators' event stream and the live page.
//!
//! - `POST /api/v1/incidents` ([`NewIncident`]): report an incident. An
//!   operator's report has source `operator`; a `reporter` token's (external
//!   system) has source `external`. Answers 201 with the [`IncidentView`]
//!   (suggestions included).
//! - `GET /api/v1/incidents[?open=true]`, `GET /api/v1/incidents/{id}`.
//! - `POST /api/v1/incidents/{id}/assign` ([`AssignRequest`]),
//!   `.../close`, `.../cancel`.
//! - `POST /api/v1/callpoints/{id}/alarm`: a call point raises an incident
//!   at its location.
//! - `GET /api/v1/dispatch/events`: Server-Sent Events, one `data:` JSON
//!   [`Notice`](super::engine::Notice) per event, `event:` its type, `id:`
//!   an increasing number. Chosen over WebSocket because it is one-way,
//!   works through proxies, and browsers reconnect by themselves. The stream
//!   carries changes only: on (re)connection, read `GET /api/v1/incidents`
//!   first. A reader more than [`super::EVENT_BUFFER`] notices behind gets an
//!   `event: lagged` and should re-read.
//! - `GET /api/v1/dispatch/figures`: the live page's [`Figures`].
//! - `GET /live`: the live page for officials. The page itself is public
//!   and holds no data; it reads the figures with the token given in the
//!   URL fragment (`/live#token=...`), which browsers never send to the
//!   server nor write in its logs.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::incident::{Category, GeoPoint, Incident, Priority, Report, Source};
use super::{DispatchError, Figures, IncidentView};
use crate::auth::{Operator, Role};
use crate::http::HttpError;

/// What the dispatch routes use: the desk, and the site the figures are of.
#[derive(Debug, Clone)]
pub struct DispatchApi {
    /// The dispatch desk.
    pub dispatch: super::desk::Desk,
    /// The site: its name, event and time zone label the figures.
    pub site: crate::config::SiteConfig,
}

/// Body of `POST /api/v1/incidents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewIncident {
    /// What it is about.
    pub category: Category,
    /// How urgent; default `normal`.
    #[serde(default = "normal")]
    pub priority: Priority,
    /// Where.
    pub location: GeoPoint,
    /// Free text, at most 2000 bytes.
    #[serde(default)]
    pub text: String,
    /// When observed, Unix ms; default: now.
    #[serde(default)]
    pub observed_ms: Option<i64>,
}

fn normal() -> Priority {
    Priority::Normal
}

/// Body of `POST /api/v1/incidents/{id}/assign`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// Patrol unit ids to order; when empty, the `count` best suggested.
    #[serde(default)]
    pub units: Vec<String>,
    /// How many suggested patrols to order when `units` is empty; default 1.
    #[serde(default)]
    pub count: Option<usize>,
}

/// Body of `POST /api/v1/callpoints/{id}/alarm` (optional).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alarm {
    /// What the caller said, if anything.
    #[serde(default)]
    pub text: String,
}

/// `GET /api/v1/incidents` query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    /// Only incidents not closed or cancelled.
    #[serde(default)]
    pub open: Option<bool>,
}

/// `GET /api/v1/incidents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentList {
    /// When listed, Unix ms.
    pub at_ms: i64,
    /// Open incidents and today's, newest first.
    pub incidents: Vec<Incident>,
}

/// The dispatch routes, to merge into the API router.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    DispatchApi: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/api/v1/incidents", get(list).post(create))
        .route("/api/v1/incidents/{id}", get(one))
        .route("/api/v1/incidents/{id}/assign", post(assign))
        .route("/api/v1/incidents/{id}/close", post(close))
        .route("/api/v1/incidents/{id}/cancel", post(cancel))
        .route("/api/v1/callpoints/{id}/alarm", post(alarm))
        .route("/api/v1/dispatch/events", get(events))
        .route("/api/v1/dispatch/figures", get(figures))
        .route("/live", get(live))
}

impl From<DispatchError> for HttpError {
    fn from(e: DispatchError) -> HttpError {
        use super::engine::EngineError;
        match e {
            DispatchError::Report(_) | DispatchError::UnknownUnit(_) => {
                HttpError::bad_request(e.to_string())
            }
            DispatchError::Engine(EngineError::UnknownIncident(_))
            | DispatchError::UnknownCallPoint(_) => HttpError::not_found(e.to_string()),
            DispatchError::Engine(EngineError::NoUnits) => HttpError {
                status: StatusCode::CONFLICT,
                message: e.to_string(),
            },
            DispatchError::Engine(_) => HttpError {
                status: StatusCode::CONFLICT,
                message: e.to_string(),
            },
            DispatchError::Store(_) | DispatchError::Streets { .. } | DispatchError::Stopped(_) => {
                HttpError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: e.to_string(),
                }
            }
        }
    }
}

fn parse_id(id: &str) -> Result<u64, HttpError> {
    id.parse().map_err(|_| {
        HttpError::bad_request(format!(
            "{id:?} is not an incident id (a positive integer): GET /api/v1/incidents lists them"
        ))
    })
}

async fn create(
    State(state): State<DispatchApi>,
    op: Operator,
    Json(body): Json<NewIncident>,
) -> Result<(StatusCode, Json<IncidentView>), HttpError> {
    let source = if op.role == Role::Reporter {
        Source::External
    } else {
        Source::Operator
    };
    let report = Report {
        category: body.category,
        priority: body.priority,
        location: body.location,
        source,
        reporter: op.name.clone(),
        text: body.text,
        observed_ms: body.observed_ms.unwrap_or_else(crate::time::unix_ms),
    };
    let view =
        state.dispatch.report(report).await?.ok_or_else(|| {
            HttpError::internal("the incident was stored but cannot be read back")
        })?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list(
    State(state): State<DispatchApi>,
    Query(q): Query<ListQuery>,
) -> Result<Json<IncidentList>, HttpError> {
    Ok(Json(IncidentList {
        at_ms: crate::time::unix_ms(),
        incidents: state.dispatch.list(q.open.unwrap_or(false)).await?,
    }))
}

async fn one(
    State(state): State<DispatchApi>,
    Path(id): Path<String>,
) -> Result<Json<IncidentView>, HttpError> {
    let id = parse_id(&id)?;
    state.dispatch.view(id).await?.map(Json).ok_or_else(|| {
        HttpError::not_found(format!(
            "no incident {id}: GET /api/v1/incidents lists them"
        ))
    })
}

async fn assign(
    State(state): State<DispatchApi>,
    op: Operator,
    Path(id): Path<String>,
    Json(body): Json<AssignRequest>,
) -> Result<Json<IncidentView>, HttpError> {
    let id = parse_id(&id)?;
    let count = body.count.unwrap_or(1).clamp(1, 20);
    Ok(Json(
        state
            .dispatch
            .assign(id, body.units, count, op.actor())
            .await?,
    ))
}

async fn close(
    State(state): State<DispatchApi>,
    op: Operator,
    Path(id): Path<String>,
) -> Result<Json<IncidentView>, HttpError> {
    let id = parse_id(&id)?;
    Ok(Json(state.dispatch.finish(id, false, op.actor()).await?))
}

async fn cancel(
    State(state): State<DispatchApi>,
    op: Operator,
    Path(id): Path<String>,
) -> Result<Json<IncidentView>, HttpError> {
    let id = parse_id(&id)?;
    Ok(Json(state.dispatch.finish(id, true, op.actor()).await?))
}

async fn alarm(
    State(state): State<DispatchApi>,
    _op: Operator,
    Path(id): Path<String>,
    body: Option<Json<Alarm>>,
) -> Result<(StatusCode, Json<IncidentView>), HttpError> {
    let text = body.map(|b| b.0.text).unwrap_or_default();
    let view = state.dispatch.call_point_alarm(id, text).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /api/v1/dispatch/figures`: the figures with the site they are of.
#[derive(Debug, serde::Serialize)]
pub struct LiveFigures {
    /// The figures.
    #[serde(flatten)]
    pub figures: Figures,
    /// The site's name.
    pub site: String,
    /// The event under way, when configured.
    pub event: Option<String>,
    /// IANA time zone to show times in.
    pub time_zone: String,
}

async fn figures(State(state): State<DispatchApi>) -> Result<Json<LiveFigures>, HttpError> {
    let site = &state.site;
    Ok(Json(LiveFigures {
        figures: state.dispatch.figures().await?,
        site: site.name.clone(),
        event: site.event.clone(),
        time_zone: site.time_zone.clone(),
    }))
}

/// Event ids of the stream, increasing across connections.
static NEXT_EVENT: AtomicU64 = AtomicU64::new(1);

async fn events(State(state): State<DispatchApi>) -> impl IntoResponse {
    use tokio::sync::broadcast::error::RecvError;
    let rx = state.dispatch.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(notice) => {
                let kind = match &notice {
                    super::engine::Notice::Incident { .. } => "incident",
                    super::engine::Notice::Order { .. } => "order",
                    super::engine::Notice::Escalation { .. } => "escalation",
                    super::engine::Notice::Suggestions { .. } => "suggestions",
                };
                let data = serde_json::to_string(&notice)
                    .unwrap_or_else(|e| format!("{{\"type\":\"error\",\"error\":\"{e}\"}}"));
                SseEvent::default().event(kind).data(data)
            }
            Err(RecvError::Lagged(n)) => SseEvent::default()
                .event("lagged")
                .data(format!("{{\"type\":\"lagged\",\"missed\":{n}}}")),
            Err(RecvError::Closed) => return None,
        };
        let id = NEXT_EVENT.fetch_add(1, Ordering::Relaxed);
        Some((
            Ok::<_, std::convert::Infallible>(event.id(id.to_string())),
            rx,
        ))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The live page: HTML and a small script, no external resources.
pub const LIVE_PAGE: &str = include_str!("live.html");

async fn live() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(LIVE_PAGE))
}
