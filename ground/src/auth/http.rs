//! `Authorization: Bearer <token>` on the HTTP API, and the token routes.
//!
//! [`enforce`] runs on every matched route before its handler: it looks the
//! route up in [`route_policy`] (the one table of who may call what), refuses
//! with 401 when the token is missing, unknown or revoked, with 403 naming the
//! roles that may when the operator's role may not, and otherwise hands the
//! resolved [`Operator`] to the handler (extract it as an argument to record
//! who acted). A route missing from the table is refused: the table fails
//! closed, so a new route cannot be open by accident.

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde::{Deserialize, Serialize};

use super::tokens::{IssuedToken, TokenInfo};
use super::{Forbidden, Operator, Permission, Role};
use crate::guardrails::gate::Register;
use crate::http::HttpError;
use crate::store::Store;

/// What the access check and the token routes use: the store the tokens
/// are in, and the register logins, refusals and token changes go to.
#[derive(Debug, Clone)]
pub struct AuthApi {
    /// Where the tokens are.
    pub store: Store,
    /// Where logins, refusals and token changes are recorded.
    pub register: Register,
}

impl From<Forbidden> for HttpError {
    fn from(f: Forbidden) -> HttpError {
        HttpError {
            status: StatusCode::FORBIDDEN,
            message: f.to_string(),
        }
    }
}

const HOW_TO_GET_ONE: &str = "send `Authorization: Bearer <token>`; an admin issues tokens with `vigie token issue --name NAME --role ROLE`";

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token: liveness and monitoring.
    Public,
    /// An operator whose role has this permission.
    Needs(Permission),
    /// Nobody: the route is not in the policy table.
    Unlisted,
}

/// The whole HTTP access policy: what `method` on the route pattern `path`
/// (as registered, e.g. `/api/v1/drones/{id}/commands`) needs.
pub fn route_policy(method: &Method, path: &str) -> Access {
    use Permission::*;
    let read = *method == Method::GET || *method == Method::HEAD;
    match path {
        "/api/v1/health" | "/metrics" | "/api/v1/openapi.json" | "/live" => Access::Public,
        "/api/v1/whoami" => Access::Needs(ViewPicture),
        p if p.starts_with("/api/v1/tokens") => Access::Needs(ManageOperators),
        p if p.starts_with("/api/v1/coverage/history") => Access::Needs(QueryHistory),
        // Coverage questions are reads, even the batch forms sent with POST.
        p if p.starts_with("/api/v1/coverage/") => Access::Needs(ViewPicture),
        "/api/v1/drones/{id}/commands" => Access::Needs(CommandDrone),
        "/api/v1/patrols/{id}/orders" if read => Access::Needs(ViewPicture),
        "/api/v1/patrols/{id}/orders" => Access::Needs(Dispatch),
        p if p.starts_with("/api/v1/audit") => Access::Needs(ReadAudit),
        "/api/v1/authorisations" | "/api/v1/guardrails/events" if read => {
            Access::Needs(ViewPicture)
        }
        p if p.starts_with("/api/v1/authorisations") => Access::Needs(ManageAuthorisations),
        "/api/v1/units" | "/api/v1/units/{id}" | "/api/v1/drones" if read => {
            Access::Needs(ViewPicture)
        }
        "/api/v1/incidents" | "/api/v1/incidents/{id}" if read => Access::Needs(ViewPicture),
        "/api/v1/incidents" | "/api/v1/callpoints/{id}/alarm" => Access::Needs(ReportIncident),
        "/api/v1/incidents/{id}/assign"
        | "/api/v1/incidents/{id}/close"
        | "/api/v1/incidents/{id}/cancel" => Access::Needs(Dispatch),
        "/api/v1/dispatch/events" | "/api/v1/dispatch/figures" if read => {
            Access::Needs(ViewPicture)
        }
        // Retention: the limits are public (the notice prints them); holds
        // name proceedings, so only auditors and admins read them; placing
        // and lifting one is the data controller's (admin).
        "/api/v1/retention" if read => Access::Needs(ViewPicture),
        "/api/v1/retention/holds" | "/api/v1/retention/deletions" if read => {
            Access::Needs(ReadAudit)
        }
        "/api/v1/retention/holds" | "/api/v1/retention/holds/{item}/release" => {
            Access::Needs(ManageHolds)
        }
        // Searching recordings is a footage query (reason required, audited).
        "/api/v1/recordings" if read => Access::Needs(QueryHistory),
        "/api/v1/recordings" => Access::Needs(IndexRecordings),
        // Footage by place and time, its exports and their files: footage
        // queries (reason required, audited).
        p if p.starts_with("/api/v1/footage") => Access::Needs(QueryHistory),
        // Live video is part of the live picture (each view audited).
        "/api/v1/video/{source}/live" => Access::Needs(ViewPicture),
        _ => Access::Unlisted,
    }
}

/// The middleware that applies [`route_policy`] to every matched route.
pub async fn enforce(State(state): State<AuthApi>, request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    let access = route_policy(request.method(), &path);
    let permission = match access {
        Access::Public => return next.run(request).await,
        Access::Needs(p) => p,
        // A method the path does not take: every registered route is in
        // the table (the OpenAPI tests check it), so a path listed for
        // other methods has no handler for this one.
        Access::Unlisted
            if [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::PATCH,
            ]
            .iter()
            .any(|m| !matches!(route_policy(m, &path), Access::Unlisted)) =>
        {
            return HttpError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                message: format!("{path} does not take {}", request.method()),
            }
            .into_response();
        }
        Access::Unlisted => {
            tracing::error!(method = %request.method(), path, "route missing from the access policy");
            return HttpError {
                status: StatusCode::FORBIDDEN,
                message: format!(
                    "{} {path} has no access rule, so nobody may call it: this is a server bug, report it",
                    request.method()
                ),
            }
            .into_response();
        }
    };
    let (mut parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    // Counted in the register (per source and minute) and answered.
    let refuse = |actor: crate::guardrails::audit::Actor, e: HttpError| {
        crate::guardrails::gate::refused_request(
            &state.register,
            actor,
            peer,
            parts.method.as_str(),
            &path,
            e.status.as_u16(),
            &e.message,
        );
        e.into_response()
    };
    let op = match resolve(&parts, &state).await {
        Ok(op) => op,
        Err(e) => return refuse(crate::guardrails::audit::Actor::Anonymous, e),
    };
    if let Err(forbidden) = op.require(permission) {
        // Logged as a throttled summary by `refused_request`.
        tracing::debug!(operator = %op.name, role = %op.role, method = %parts.method, path, "refused: {forbidden}");
        return refuse((&op).into(), HttpError::from(forbidden));
    }
    parts.extensions.insert(op);
    next.run(Request::from_parts(parts, body)).await
}

/// The operator [`enforce`] resolved: every route that takes one needs a
/// token in [`route_policy`], so it is there by the time a handler runs.
impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Operator, HttpError> {
        parts.extensions.get::<Operator>().cloned().ok_or_else(|| {
            HttpError::unauthorized(format!(
                "this route needs an operator token: {HOW_TO_GET_ONE}"
            ))
        })
    }
}

/// The operator behind the request's bearer token.
/// The lookup runs on a blocking thread: it reads SQLite.
async fn resolve(parts: &Parts, state: &AuthApi) -> Result<Operator, HttpError> {
    {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(HttpError::unauthorized(format!(
                "this route needs an operator token: {HOW_TO_GET_ONE}"
            )));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                HttpError::unauthorized(format!(
                    "the Authorization header is not a bearer token: {HOW_TO_GET_ONE}"
                ))
            })?;
        let token = token.to_string();
        let found =
            crate::http::on_store(&state.store, move |store| store.resolve_token(&token)).await?;
        match found {
            Ok(Some(op)) => {
                crate::guardrails::gate::login(
                    &state.register,
                    &op,
                    parts.method.as_str(),
                    parts.uri.path(),
                )
                .await;
                Ok(op)
            }
            Ok(None) => {
                // Logged as a throttled summary by the caller.
                tracing::debug!(path = %parts.uri.path(), "refused an unknown or revoked token");
                Err(HttpError::unauthorized(
                    "unknown or revoked token: ask an admin for a new one (`vigie token issue`)",
                ))
            }
            Err(e) => {
                tracing::error!(error = %e, "token lookup failed");
                Err(HttpError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: format!("cannot check tokens right now: {e}"),
                })
            }
        }
    }
}

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueRequest {
    /// Operator name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// The token routes.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AuthApi: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/tokens", get(list).post(issue))
        .route("/api/v1/tokens/{id}", delete(revoke))
}

async fn whoami(op: Operator) -> Json<Operator> {
    Json(op)
}

async fn list(
    State(state): State<AuthApi>,
    _op: Operator,
) -> Result<Json<Vec<TokenInfo>>, HttpError> {
    crate::http::on_store(&state.store, move |store| store.list_tokens())
        .await?
        .map(Json)
        .map_err(|e| HttpError::internal(e.to_string()))
}

async fn issue(
    State(state): State<AuthApi>,
    op: Operator,
    Json(req): Json<IssueRequest>,
) -> Result<(StatusCode, Json<IssuedToken>), HttpError> {
    let (name, role) = (req.name.clone(), req.role);
    let issued = crate::http::on_store(&state.store, move |store| {
        store.issue_token(&name, role, crate::time::unix_ms())
    })
    .await?
    .map_err(|e| match e {
        super::tokens::IssueError::BadName(_) => HttpError::bad_request(e.to_string()),
        other => HttpError::internal(other.to_string()),
    })?;
    tracing::info!(by = %op.name, name = %req.name, role = %req.role, "issued an operator token");
    crate::guardrails::gate::record_async(
        &state.register,
        (&op).into(),
        "token.issue",
        &format!("token:{}", issued.info.id),
        serde_json::json!({"name": req.name, "role": req.role}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(issued)))
}

async fn revoke(
    State(state): State<AuthApi>,
    op: Operator,
    Path(id): Path<i64>,
) -> Result<StatusCode, HttpError> {
    let n = crate::http::on_store(&state.store, move |store| {
        store.revoke_tokens(&id.to_string(), crate::time::unix_ms())
    })
    .await?
    .map_err(|e| HttpError::internal(e.to_string()))?;
    if n == 0 {
        return Err(HttpError::not_found(format!(
            "no live token {id}: GET /api/v1/tokens lists them"
        )));
    }
    tracing::info!(by = %op.name, id, "revoked an operator token");
    crate::guardrails::gate::record_async(
        &state.register,
        (&op).into(),
        "token.revoke",
        &format!("token:{id}"),
        serde_json::Value::Null,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
