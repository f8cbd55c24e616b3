//! `/api/v1/coverage/...`: the coverage queries over HTTP/JSON.
//!
//! Positions are WGS84 `[lon, lat]` (GeoJSON order) in bodies and
//! `lat`/`lon` in query strings; times are Unix milliseconds. Queries run on
//! the blocking pool (a zone query can take a second) and hold the index's
//! read lock for one query only.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::history::{self, Covered, Target};
use super::live::LiveCoverage;
use super::polygon::{Pt, closed};
use super::query::{self, Eta, Sighting, ZoneReport};
use crate::frame::LocalFrame;
use crate::http::HttpError;

/// What the coverage routes use: the live index, the store the history is
/// in, and the register footage queries are recorded in.
#[derive(Debug, Clone)]
pub struct CoverageApi {
    /// The live coverage index.
    pub coverage: Arc<LiveCoverage>,
    /// Where the coverage history is.
    pub store: crate::store::Store,
    /// Where footage queries are recorded.
    pub register: crate::guardrails::gate::Register,
}

/// Most points one batch request may carry.
pub const MAX_BATCH_POINTS: usize = 1_000_000;
/// Longest history window one request may ask for, milliseconds (31 days).
pub const MAX_HISTORY_WINDOW_MS: i64 = 31 * 24 * 3600 * 1000;

/// The coverage routes, merged into the main router.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    CoverageApi: axum::extract::FromRef<S>,
{
    Router::new()
        .route(
            "/api/v1/coverage/who-sees",
            get(who_sees_one).post(who_sees_many),
        )
        .route("/api/v1/coverage/zone", axum::routing::post(zone))
        .route(
            "/api/v1/coverage/history",
            get(history_point).post(history_path),
        )
        .route("/api/v1/coverage/soonest", get(soonest))
        .route("/api/v1/coverage/sources", get(sources))
}

/// A point in a query string.
#[derive(Debug, Deserialize)]
pub struct PointQuery {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Most answers wanted (soonest only).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Who sees one point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhoSeesAnswer {
    /// The point is under a privacy mask: nothing may be said about it.
    pub masked: bool,
    /// Sources seeing it, best pixel density first.
    pub sightings: Vec<Sighting>,
}

/// `POST /api/v1/coverage/who-sees` body.
#[derive(Debug, Deserialize)]
pub struct BatchRequest {
    /// Points as `[lon, lat]`.
    pub points: Vec<[f64; 2]>,
}

/// `POST /api/v1/coverage/zone` body.
#[derive(Debug, Deserialize)]
pub struct ZoneRequest {
    /// The zone: a GeoJSON Polygon geometry, or a ring of `[lon, lat]`.
    pub zone: Value,
    /// Cell side, metres (default 2).
    #[serde(default)]
    pub cell_m: Option<f64>,
    /// Most gaps returned, largest first (default 50).
    #[serde(default)]
    pub max_gaps: Option<usize>,
    /// Smallest gap returned, square metres (default 20).
    #[serde(default)]
    pub min_gap_m2: Option<f64>,
}

/// `GET /api/v1/coverage/history` query.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Window start, Unix milliseconds.
    pub from_ms: i64,
    /// Window end, Unix milliseconds.
    pub to_ms: i64,
    /// Why the history is searched (incident, case): required, audited.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/v1/coverage/history` body: a path.
#[derive(Debug, Deserialize)]
pub struct HistoryPathRequest {
    /// The path as `[lon, lat]` points.
    pub path: Vec<[f64; 2]>,
    /// Window start, Unix milliseconds.
    pub from_ms: i64,
    /// Window end, Unix milliseconds.
    pub to_ms: i64,
    /// Why the history is searched (incident, case): required, audited.
    #[serde(default)]
    pub reason: Option<String>,
}

fn check_lat_lon(lat: f64, lon: f64) -> Result<(), HttpError> {
    if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
        Ok(())
    } else {
        Err(HttpError::bad_request(format!(
            "({lat}, {lon}) is not a position: lat must be within -90..90 and lon within -180..180"
        )))
    }
}

fn local(frame: &LocalFrame, lon: f64, lat: f64) -> Pt {
    let (e, n) = frame.to_local(lat, lon);
    [e, n]
}

/// The answer for one point.
pub fn answer_point(live: &LiveCoverage, lon: f64, lat: f64) -> WhoSeesAnswer {
    let p = local(&live.frame, lon, lat);
    live.read(|idx| {
        let mut hits = Vec::new();
        let unmasked = query::who_sees(idx, p, &mut hits);
        WhoSeesAnswer {
            masked: !unmasked,
            sightings: query::describe(idx, &hits),
        }
    })
}

async fn who_sees_one(
    State(state): State<CoverageApi>,
    Query(q): Query<PointQuery>,
) -> Result<Json<WhoSeesAnswer>, HttpError> {
    check_lat_lon(q.lat, q.lon)?;
    Ok(Json(answer_point(&state.coverage, q.lon, q.lat)))
}

async fn who_sees_many(
    State(state): State<CoverageApi>,
    Json(req): Json<BatchRequest>,
) -> Result<Json<Value>, HttpError> {
    if req.points.len() > MAX_BATCH_POINTS {
        return Err(HttpError::bad_request(format!(
            "{} points in one request, above the limit of {MAX_BATCH_POINTS}: split the batch",
            req.points.len()
        )));
    }
    for p in &req.points {
        check_lat_lon(p[1], p[0])?;
    }
    let live = state.coverage.clone();
    let results = crate::http::blocking(move || {
        let pts: Vec<Pt> = req
            .points
            .iter()
            .map(|p| local(&live.frame, p[0], p[1]))
            .collect();
        live.read(|idx| {
            let batch = query::who_sees_batch(idx, &pts);
            (0..pts.len())
                .map(|i| WhoSeesAnswer {
                    masked: batch.masked[i],
                    sightings: query::describe(idx, batch.of(i)),
                })
                .collect::<Vec<_>>()
        })
    })
    .await?;
    Ok(Json(json!({ "results": results })))
}

/// Parses a zone: a GeoJSON Polygon (outer ring) or a bare ring of
/// `[lon, lat]`, into a local ring.
pub fn zone_ring(frame: &LocalFrame, zone: &Value) -> Result<Vec<Pt>, String> {
    let ring = match zone.get("type").and_then(Value::as_str) {
        Some("Polygon") => zone.get("coordinates").and_then(|c| c.get(0)),
        Some("Feature") => zone
            .get("geometry")
            .and_then(|g| g.get("coordinates"))
            .and_then(|c| c.get(0)),
        Some(other) => {
            return Err(format!(
                "zone of type {other:?}: give a Polygon or a ring of [lon, lat]"
            ));
        }
        None => Some(zone),
    };
    let pts: Option<Vec<Pt>> = ring.and_then(Value::as_array).and_then(|r| {
        r.iter()
            .map(|p| {
                let lon = p.get(0)?.as_f64()?;
                let lat = p.get(1)?.as_f64()?;
                Some(local(frame, lon, lat))
            })
            .collect()
    });
    pts.and_then(closed)
        .ok_or_else(|| "the zone must be a ring of at least 3 [lon, lat] points".to_string())
}

/// A zone report with gaps as WGS84 GeoJSON MultiPolygons.
pub fn zone_json(frame: &LocalFrame, report: &ZoneReport) -> Value {
    let wgs = |p: Pt| {
        let (lat, lon) = frame.to_wgs84(p[0], p[1]);
        [lon, lat]
    };
    let gaps: Vec<Value> = report
        .gaps
        .iter()
        .map(|g| {
            let polys: Vec<Value> = g
                .rects
                .iter()
                .map(|r| {
                    let (a, b) = (r[0], r[1]);
                    json!([[wgs(a), wgs([b[0], a[1]]), wgs(b), wgs([a[0], b[1]]), wgs(a)]])
                })
                .collect();
            json!({
                "type": "Feature",
                "properties": {"area_m2": g.area_m2, "centroid": wgs(g.centroid)},
                "geometry": {"type": "MultiPolygon", "coordinates": polys},
            })
        })
        .collect();
    let mut v = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "gaps".into(),
            json!({"type": "FeatureCollection", "features": gaps}),
        );
    }
    v
}

async fn zone(
    State(state): State<CoverageApi>,
    Json(req): Json<ZoneRequest>,
) -> Result<Json<Value>, HttpError> {
    let live = state.coverage.clone();
    let ring = zone_ring(&live.frame, &req.zone).map_err(HttpError::bad_request)?;
    let report = crate::http::blocking(move || {
        let r = live.read(|idx| {
            query::zone_coverage(
                idx,
                &ring,
                req.cell_m.unwrap_or(2.0),
                req.max_gaps.unwrap_or(50),
                req.min_gap_m2.unwrap_or(20.0),
            )
        });
        r.map(|r| zone_json(&live.frame, &r))
    })
    .await?
    .map_err(|e| HttpError::bad_request(e.to_string()))?;
    Ok(Json(report))
}

fn check_window(from_ms: i64, to_ms: i64) -> Result<(), HttpError> {
    if to_ms < from_ms {
        return Err(HttpError::bad_request("to_ms is before from_ms"));
    }
    if to_ms - from_ms > MAX_HISTORY_WINDOW_MS {
        return Err(HttpError::bad_request(
            "the window is longer than 31 days: history is kept for 30 days; narrow the window",
        ));
    }
    Ok(())
}

async fn run_history(
    state: CoverageApi,
    op: crate::auth::Operator,
    reason: Option<String>,
    target: Target,
    from_ms: i64,
    to_ms: i64,
) -> Result<Json<Value>, HttpError> {
    check_window(from_ms, to_ms)?;
    let what = match &target {
        Target::Point(p) => json!({"point": p}),
        Target::Path(p) => json!({"path": p}),
    };
    crate::guardrails::gate::footage_query(
        &state.register,
        &op,
        what,
        from_ms,
        to_ms,
        reason.as_deref(),
    )
    .await?;
    // Nothing is known of the future: open intervals end now.
    let to_ms = to_ms.min(crate::time::unix_ms());
    let live = state.coverage.clone();
    let store = state.store.clone();
    let covered: Vec<Covered> = crate::http::blocking(move || {
        let pending = live.unwritten(crate::time::unix_ms());
        let masks = live.read(|idx| idx.masks().clone());
        history::covered(
            &store,
            &live.frame,
            &masks,
            &target,
            from_ms,
            to_ms,
            &pending,
        )
    })
    .await?
    .map_err(|e| HttpError {
        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("reading coverage history failed: {e}"),
    })?;
    Ok(Json(
        json!({ "from_ms": from_ms, "to_ms": to_ms, "sources": covered }),
    ))
}

async fn history_point(
    State(state): State<CoverageApi>,
    op: crate::auth::Operator,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Value>, HttpError> {
    check_lat_lon(q.lat, q.lon)?;
    let target = Target::Point([q.lon, q.lat]);
    run_history(state, op, q.reason, target, q.from_ms, q.to_ms).await
}

async fn history_path(
    State(state): State<CoverageApi>,
    op: crate::auth::Operator,
    Json(req): Json<HistoryPathRequest>,
) -> Result<Json<Value>, HttpError> {
    if req.path.is_empty() {
        return Err(HttpError::bad_request("the path has no points"));
    }
    for p in &req.path {
        check_lat_lon(p[1], p[0])?;
    }
    let target = Target::Path(req.path);
    run_history(state, op, req.reason, target, req.from_ms, req.to_ms).await
}

async fn soonest(
    State(state): State<CoverageApi>,
    Query(q): Query<PointQuery>,
) -> Result<Json<Value>, HttpError> {
    check_lat_lon(q.lat, q.lon)?;
    let live = state.coverage.clone();
    let etas: Vec<Eta> = crate::http::blocking(move || {
        let p = local(&live.frame, q.lon, q.lat);
        live.read(|idx| query::soonest(idx, p, q.limit.unwrap_or(10).min(1000)))
    })
    .await?;
    Ok(Json(json!({ "sources": etas })))
}

/// Every coverage polygon as a GeoJSON FeatureCollection (WGS84), with the
/// privacy masks as features of kind `privacy_mask`.
pub fn sources_geojson(live: &LiveCoverage) -> Value {
    live.read(|idx| {
        let features: Vec<Value> = idx
            .sources()
            .map(|(slot, s)| {
                let ring = live.frame.ring_to_wgs84(idx.ring(slot));
                json!({
                    "type": "Feature",
                    "properties": {"id": s.id, "kind": s.kind, "network": s.network},
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                })
            })
            .collect();
        // Privacy masks go with the coverage so that views black them out.
        let masks = idx.masks().rings().iter().map(|r| {
            let ring = live.frame.ring_to_wgs84(r);
            json!({
                "type": "Feature",
                "properties": {"kind": "privacy_mask"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            })
        });
        let features: Vec<Value> = features.into_iter().chain(masks).collect();
        json!({"type": "FeatureCollection", "features": features})
    })
}

async fn sources(State(state): State<CoverageApi>) -> Result<Json<Value>, HttpError> {
    let live = state.coverage.clone();
    Ok(Json(
        crate::http::blocking(move || sources_geojson(&live)).await?,
    ))
}
