//! HTTP routes of the patrol link: send an order to a patrol and list a
//! patrol's orders with their acknowledgement state.
//!
//! - `POST /api/v1/patrols/{id}/orders` with a [`NewOrder`] body: stores the
//!   order, hands it to the unit's live connection if any (otherwise it is
//!   delivered when the unit connects), answers 201 with the [`OrderRecord`].
//! - `GET /api/v1/patrols/{id}/orders`: every order of the unit, in issue
//!   order, as an [`OrderList`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use super::ca::check_unit_id;
use super::orders::{NewOrder, OrderError, OrderRecord};
use crate::http::HttpError;

/// What the patrol routes use: the order queue and live sessions, and the
/// register orders are recorded in.
#[derive(Debug, Clone)]
pub struct PatrolApi {
    /// Order queue and live tablet sessions.
    pub patrol: Arc<super::roster::PatrolLink>,
    /// Where orders are recorded.
    pub register: crate::guardrails::gate::Register,
}

/// `GET /api/v1/patrols/{id}/orders`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrderList {
    /// The unit.
    pub unit: String,
    /// Its orders, in issue order.
    pub orders: Vec<OrderRecord>,
}

/// The patrol routes, to merge into the API router.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    PatrolApi: axum::extract::FromRef<S>,
{
    Router::new().route("/api/v1/patrols/{id}/orders", get(list).post(create))
}

fn unit_id(id: &str) -> Result<(), HttpError> {
    check_unit_id(id).map_err(|e| HttpError::bad_request(e.to_string()))
}

async fn create(
    State(state): State<PatrolApi>,
    op: crate::auth::Operator,
    Path(id): Path<String>,
    Json(order): Json<NewOrder>,
) -> Result<(StatusCode, Json<OrderRecord>), HttpError> {
    unit_id(&id)?;
    // Recorded before the order can reach the tablet.
    crate::guardrails::gate::record_async(
        &state.register,
        (&op).into(),
        "patrol.order",
        &format!("unit:{id}"),
        serde_json::to_value(&order).unwrap_or_default(),
    )
    .await;
    match state.patrol.issue_order(&id, &order).await {
        Ok(record) => Ok((StatusCode::CREATED, Json(record))),
        Err(e @ (OrderError::BadDestination { .. } | OrderError::BadPriority(_))) => {
            Err(HttpError::bad_request(e.to_string()))
        }
        Err(e @ OrderError::TooLarge { .. }) => Err(HttpError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: e.to_string(),
        }),
        Err(e @ OrderError::UnknownUnit(_)) => Err(HttpError::not_found(e.to_string())),
        Err(e @ OrderError::Unreachable(_)) => Err(HttpError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: e.to_string(),
        }),
        Err(e) => Err(HttpError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("the order was not stored: {e}"),
        }),
    }
}

async fn list(
    State(state): State<PatrolApi>,
    Path(id): Path<String>,
) -> Result<Json<OrderList>, HttpError> {
    unit_id(&id)?;
    let (patrol, unit) = (state.patrol.clone(), id.clone());
    let orders = crate::http::blocking(move || patrol.orders().list(&unit))
        .await?
        .map_err(|e| HttpError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("cannot read the orders: {e}"),
        })?;
    Ok(Json(OrderList { unit: id, orders }))
}
