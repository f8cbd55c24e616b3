//! The HTTP/JSON API (`/api/v1/...`) and Prometheus `/metrics`.
//!
//! Every route but `/api/v1/health` and `/metrics` needs an operator token,
//! and the permission [`crate::auth::http::route_policy`] names for it: one
//! table for the whole API, enforced before any handler runs.
//!
//! Handlers only read the shared state or hand work to the cores; they never
//! hold a lock across an await.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::extract::{FromRef, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use vigie_protocols::api::{ApiError, Health, UnitList};

use crate::fleet::FleetHandle;
use crate::state::ServerState;

pub mod listener;

/// An API error: a status and a message saying what to do.
#[derive(Debug)]
pub struct HttpError {
    /// HTTP status.
    pub status: StatusCode,
    /// Message for the caller.
    pub message: String,
}

impl HttpError {
    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> HttpError {
        HttpError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// 401 with a message: no valid operator token.
    pub fn unauthorized(message: impl Into<String>) -> HttpError {
        HttpError {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }

    /// 500 with a message.
    pub fn internal(message: impl Into<String>) -> HttpError {
        HttpError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> HttpError {
        HttpError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let mut response = (
            self.status,
            Json(ApiError {
                error: self.message,
            }),
        )
            .into_response();
        if unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"vigie\""),
            );
        }
        response
    }
}

/// Runs a blocking call (SQLite, a long query) on the blocking pool, so
/// that no handler holds a runtime worker while it waits.
pub async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, HttpError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HttpError::internal(format!("the request's work failed: {e}")))
}

/// [`blocking`] on a handle of `store`: `on_store(&state.store, |s| s.holds())`.
pub async fn on_store<R: Send + 'static>(
    store: &crate::store::Store,
    f: impl FnOnce(&crate::store::Store) -> R + Send + 'static,
) -> Result<R, HttpError> {
    let store = store.clone();
    blocking(move || f(&store)).await
}

// Each route group takes only what it uses: its own state, cut from the
// server's here, where the router is wired. The groups import nothing of
// [`ServerState`].

impl FromRef<Arc<ServerState>> for crate::auth::http::AuthApi {
    fn from_ref(s: &Arc<ServerState>) -> Self {
        Self {
            store: s.store.clone(),
            register: s.register(),
        }
    }
}

impl FromRef<Arc<ServerState>> for crate::drone::http::DroneApi {
    fn from_ref(s: &Arc<ServerState>) -> Self {
        Self {
            fleet: s.fleet.clone(),
            drones: s.drones.clone(),
        }
    }
}

impl FromRef<Arc<ServerState>> for crate::coverage::http::CoverageApi {
    fn from_ref(s: &Arc<ServerState>) -> Self {
        Self {
            coverage: s.coverage.clone(),
            store: s.store.clone(),
            register: s.register(),
        }
    }
}

impl FromRef<Arc<ServerState>> for crate::patrol::http::PatrolApi {
    fn from_ref(s: &Arc<ServerState>) -> Self {
        Self {
            patrol: s.patrol.clone(),
            register: s.register(),
        }
    }
}

impl FromRef<Arc<ServerState>> for crate::guardrails::http::GuardrailsApi {
    fn from_ref(s: &Arc<ServerState>) -> Self {
        Self {
            store: s.store.clone(),
            coverage: s.coverage.clone(),
            frame: s.frame,
            register: s.register(),
        }
    }
}

impl FromRef<Arc<ServerState>> for crate::dispatch::http::DispatchApi {
    fn from_ref(s: &Arc<ServerState>) -> Self {
        Self {
            dispatch: s.dispatch.clone(),
            site: s.config.site.clone(),
        }
    }
}

impl FromRef<Arc<ServerState>> for crate::video::http::VideoApi {
    fn from_ref(s: &Arc<ServerState>) -> Self {
        Self {
            store: s.store.clone(),
            coverage: s.coverage.clone(),
            frame: s.frame,
            register: s.register(),
            exports: s.config.data_dir.join("exports"),
            site: s.config.site.name.clone(),
            relay: s.video.clone(),
            shutdown: s.shutdown.clone(),
        }
    }
}

impl FromRef<Arc<ServerState>> for FleetHandle {
    fn from_ref(s: &Arc<ServerState>) -> Self {
        s.fleet.clone()
    }
}

/// The router, with every route of the API.
pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/units", get(units))
        .route("/api/v1/units/{id}", get(unit))
        .route("/metrics", get(metrics))
        .merge(crate::auth::http::routes())
        .merge(crate::drone::http::routes())
        .merge(crate::coverage::http::routes())
        .merge(crate::patrol::http::routes())
        .merge(crate::guardrails::http::routes())
        .merge(crate::dispatch::http::routes())
        .merge(crate::video::http::routes())
        .route("/api/v1/openapi.json", get(crate::openapi::serve))
        .route_layer(middleware::from_fn_with_state(
            crate::auth::http::AuthApi::from_ref(&state),
            crate::auth::http::enforce,
        ))
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

/// Any route not in the table: 404 naming the request and where the
/// routes are listed.
async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> HttpError {
    HttpError::not_found(format!(
        "no route {method} {}: GET /api/v1/openapi.json lists them",
        uri.path()
    ))
}

/// Most bytes of an error body rewritten as JSON.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Every error answer is an [`ApiError`] in JSON, as the OpenAPI document
/// says: axum's own rejections (a body that is not JSON, 415; a body that
/// does not match, 422; a bad path or query, 400; a method a route does not
/// take, 405) come as plain text or empty, and are rewritten here with
/// their message, once, for every route.
async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    let error = match (text.is_empty(), status) {
        (false, _) => text,
        (true, StatusCode::METHOD_NOT_ALLOWED) => {
            let allowed = parts
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            format!("{path} does not take {method}: it takes {allowed}")
        }
        (true, _) => format!(
            "{} on {method} {path}",
            status.canonical_reason().unwrap_or("error")
        ),
    };
    let json = serde_json::to_vec(&ApiError { error }).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(json))
}

async fn count_requests(
    State(state): State<Arc<ServerState>>,
    req: Request,
    next: Next,
) -> Response {
    state.metrics.http_requests.fetch_add(1, Ordering::Relaxed);
    next.run(req).await
}

async fn health(State(state): State<Arc<ServerState>>) -> Json<Health> {
    Json(Health {
        status: if state.audit_damage.is_some() {
            "degraded".into()
        } else {
            "ok".into()
        },
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_s: state.started.elapsed().as_secs_f64(),
        units: state.fleet.read(|f| f.len()),
        listeners: state.listeners(),
        audit_damage: state.audit_damage.clone(),
    })
}

async fn units(State(fleet): State<FleetHandle>) -> Json<UnitList> {
    Json(UnitList {
        at_ms: crate::time::unix_ms(),
        units: fleet.snapshot(),
    })
}

async fn unit(
    State(fleet): State<FleetHandle>,
    Path(id): Path<String>,
) -> Result<Json<vigie_protocols::api::Unit>, HttpError> {
    fleet
        .read(|f| f.get(&id).cloned())
        .map(Json)
        .ok_or_else(|| {
            HttpError::not_found(format!("no unit {id:?}: GET /api/v1/units lists them"))
        })
}

async fn metrics(State(state): State<Arc<ServerState>>) -> impl IntoResponse {
    let mut body = state
        .metrics
        .render(&state.fleet, state.started.elapsed().as_secs_f64());
    match state.dispatch.render_metrics().await {
        Ok(families) => body.push_str(&families),
        // The other families are still worth scraping.
        Err(e) => tracing::warn!("dispatch metrics left out: {e}"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
