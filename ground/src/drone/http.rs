//! HTTP routes of the drone link.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use vigie_protocols::api::{CommandResult, DroneCommand, UnitKind, UnitList};

/// What the drone routes use: the picture and the links' command queues.
#[derive(Debug, Clone)]
pub struct DroneApi {
    /// Where drones are.
    pub fleet: crate::fleet::FleetHandle,
    /// The MAVLink links' command queues.
    pub drones: super::hub::DroneHub,
}

/// `GET /api/v1/drones` and `POST /api/v1/drones/{id}/commands`.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    DroneApi: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/api/v1/drones", get(list))
        .route("/api/v1/drones/{id}/commands", post(command))
}

async fn list(State(state): State<DroneApi>) -> Json<UnitList> {
    Json(UnitList {
        at_ms: crate::time::unix_ms(),
        units: state.fleet.read(|f| {
            f.units()
                .filter(|u| u.kind == UnitKind::Drone)
                .cloned()
                .collect()
        }),
    })
}

/// Sends a command and answers with its typed result once the vehicle
/// acknowledged it, refused it, or every retry ran out. The status is 200
/// whenever the command reached a decision (even a denial: that is the
/// vehicle's answer, and a refusal by the flight-authorisation check is
/// Vigie's, with outcome `refused` and the reason), 404 for an unknown drone.
async fn command(
    State(state): State<DroneApi>,
    op: crate::auth::Operator,
    Path(id): Path<String>,
    Json(cmd): Json<DroneCommand>,
) -> (StatusCode, Json<CommandResult>) {
    let known = state
        .fleet
        .read(|f| f.get(&id).is_some_and(|u| u.kind == UnitKind::Drone));
    if !known {
        return (
            StatusCode::NOT_FOUND,
            Json(CommandResult::refused(format!(
                "no drone {id:?}: GET /api/v1/drones lists them"
            ))),
        );
    }
    let result = state.drones.command_as(&(&op).into(), &id, cmd).await;
    (StatusCode::OK, Json(result))
}
