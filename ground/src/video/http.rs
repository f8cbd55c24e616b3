//! Footage routes: where and when, never who.
//!
//! - `GET /api/v1/footage?lat&lon&from&to&reason=`: for each source, the
//!   spans in which its recorded footage shows the point and the segments
//!   behind them, best pixel density first (a footage query: the reason is
//!   required and recorded before it runs).
//! - `POST /api/v1/footage/exports`: cuts one source's footage of a window
//!   into MP4 files with a manifest of its provenance (source, owner
//!   network, flight authorisations, SHA-256 of each file, the audit
//!   entries of the export).
//! - `GET /api/v1/footage/exports/{id}/{file}`: downloads a file of an
//!   export (each download audited).
//! - `GET /api/v1/video/{source}/live`: a feed live, as fragmented MP4 a
//!   browser's `<video>` plays (Media Source Extensions or a plain `src`):
//!   the init segment, then each picture as it arrives; a viewer that falls
//!   behind skips to the next keyframe. Each view is audited.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::index::{self, ClipError, ClipPart, SourceFootage};
use crate::auth::Operator;
use crate::coverage::{Network, SourceKind};
use crate::guardrails::audit::{Actor, Entry};
use crate::guardrails::gate::Register;
use crate::guardrails::http::FootageQuery;
use crate::http::HttpError;

/// Longest window one export covers, milliseconds.
pub const MAX_EXPORT_MS: i64 = 24 * 3_600_000;

/// What the footage routes use.
#[derive(Debug, Clone)]
pub struct VideoApi {
    /// The recordings index.
    pub store: crate::store::Store,
    /// The live coverage index, for the privacy masks.
    pub coverage: Arc<crate::coverage::live::LiveCoverage>,
    /// The site's frame.
    pub frame: crate::frame::LocalFrame,
    /// The audit register.
    pub register: Register,
    /// Where exports are written.
    pub exports: PathBuf,
    /// The site's name, for manifests.
    pub site: String,
    /// Live feeds.
    pub relay: Arc<super::relay::Relay>,
    /// Stops live responses when the server stops.
    pub shutdown: crate::shutdown::Shutdown,
}

/// The footage routes, merged into the API router.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    VideoApi: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/api/v1/footage", get(query))
        .route("/api/v1/footage/exports", post(export))
        .route("/api/v1/footage/exports/{id}/{file}", get(download))
        .route("/api/v1/video/{source}/live", get(live))
}

fn internal(e: impl std::fmt::Display) -> HttpError {
    HttpError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: format!("storage unavailable: {e}"),
    }
}

/// `GET /api/v1/footage` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FootageAnswer {
    /// Sources that recorded the point, best pixel density first.
    pub footage: Vec<SourceFootage>,
    /// Whether the point lies in a privacy mask (then nothing is answered).
    pub masked: bool,
}

async fn query(
    State(api): State<VideoApi>,
    op: Operator,
    Query(q): Query<FootageQuery>,
) -> Result<Json<FootageAnswer>, HttpError> {
    q.check()?;
    crate::guardrails::gate::footage_access(
        &api.register,
        &op,
        ("footage.query", "footage", "a footage query"),
        json!({"point": {"lat_deg": q.lat, "lon_deg": q.lon}}),
        q.from,
        q.to,
        q.reason.as_deref(),
    )
    .await?;
    let masks = api.coverage.read(|i| i.masks().clone());
    let point = [q.lon, q.lat];
    let masked = masks.masks(api.frame.local(point));
    let (store, frame, from, to) = (api.store.clone(), api.frame, q.from, q.to);
    let footage =
        crate::http::blocking(move || index::footage_at(&store, &frame, &masks, point, from, to))
            .await?
            .map_err(|e| match e {
                index::FootageError::TooMany(_) => HttpError::bad_request(e.to_string()),
                index::FootageError::Store(e) => internal(e),
            })?;
    Ok(Json(FootageAnswer { footage, masked }))
}

/// `POST /api/v1/footage/exports` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// The source whose footage is cut.
    pub source: String,
    /// Window start, Unix milliseconds.
    pub from_ms: i64,
    /// Window end, Unix milliseconds.
    pub to_ms: i64,
    /// Why (the incident or case, the requisition): required, audited.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A flight authorisation as a manifest names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorisationRef {
    /// Id.
    pub id: i64,
    /// The prefectoral order's reference.
    pub order_ref: String,
    /// The purpose the law lists.
    pub purpose: String,
    /// The requesting service.
    pub service: String,
}

/// The provenance of an export, written beside its files as
/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The export's id (its directory).
    pub id: String,
    /// The ground that recorded and exported it.
    pub site: String,
    /// The source.
    pub source_id: String,
    /// What kind of source.
    pub kind: SourceKind,
    /// Who owns it.
    pub network: Option<Network>,
    /// The window asked, Unix milliseconds.
    pub from_ms: i64,
    /// The window asked, Unix milliseconds.
    pub to_ms: i64,
    /// Who exported it.
    pub exported_by: String,
    /// When, Unix milliseconds.
    pub exported_ms: i64,
    /// Why, as given.
    pub reason: String,
    /// The flight authorisations a drone's footage was recorded under.
    pub authorisations: Vec<AuthorisationRef>,
    /// The files, in time order, each with its SHA-256.
    pub parts: Vec<ClipPart>,
    /// Fragments left out because their footprint crosses a privacy mask.
    pub withheld_masked: usize,
    /// The audit entry recording the request (who, what, why), before
    /// anything was cut.
    pub audit_request_seq: i64,
    /// The audit entry recording what was written (the files' hashes).
    pub audit_written_seq: i64,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

async fn export(
    State(api): State<VideoApi>,
    op: Operator,
    Json(r): Json<ExportRequest>,
) -> Result<(StatusCode, Json<Manifest>), HttpError> {
    let source = r.source.trim().to_string();
    if source.is_empty() || source.len() > 200 {
        return Err(HttpError::bad_request(
            "source must name the unit or camera whose footage is exported",
        ));
    }
    if r.to_ms <= r.from_ms || r.to_ms - r.from_ms > MAX_EXPORT_MS {
        return Err(HttpError::bad_request(format!(
            "from_ms must be before to_ms, and one export covers at most {} hours",
            MAX_EXPORT_MS / 3_600_000
        )));
    }
    let reason = r.reason.as_deref().map(str::trim).unwrap_or("");
    if reason.is_empty() {
        return Err(HttpError::bad_request(
            "an export needs a reason (the incident, case or requisition it serves); it is written to the audit register",
        ));
    }
    let reason: String = reason
        .chars()
        .take(crate::guardrails::gate::MAX_REASON_CHARS)
        .collect();
    let now = crate::time::unix_ms();
    let unavailable = |e: crate::guardrails::audit::AuditError| HttpError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: format!("the audit register cannot be written ({e}), so nothing was exported"),
    };
    let request_seq = api
        .register
        .audit
        .record_async(
            Entry::new(now, Actor::from(&op), "footage.export", &source)
                .detail(json!({"from_ms": r.from_ms, "to_ms": r.to_ms}))
                .reason(&reason),
        )
        .await
        .map_err(unavailable)?;
    let id = format!("{}-{request_seq}", crate::time::utc_stamp(now));
    let dir = api.exports.join(&id);
    let (store, from, to, name, out) = (
        api.store.clone(),
        r.from_ms,
        r.to_ms,
        source.clone(),
        dir.clone(),
    );
    let cut = crate::http::blocking(move || {
        let clip = index::write_clip(&store, &name, from, to, &out, "clip")?;
        let auths = store.list_authorisations().map_err(ClipError::Store)?;
        Ok::<_, ClipError>((clip, auths))
    })
    .await?;
    let (clip, auths) = match cut {
        Ok(c) => c,
        Err(ClipError::Nothing(m)) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(HttpError {
                status: StatusCode::NOT_FOUND,
                message: m,
            });
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(internal(e));
        }
    };
    let written_seq = api
        .register
        .audit
        .record_async(
            Entry::new(
                crate::time::unix_ms(),
                Actor::from(&op),
                "footage.exported",
                &source,
            )
            .detail(json!({
                "export": id,
                "request_seq": request_seq,
                "files": clip.parts.iter().map(|p| json!({"file": p.file, "sha256": p.sha256, "bytes": p.bytes})).collect::<Vec<_>>(),
                "withheld_masked": clip.withheld_masked,
            })),
        )
        .await
        .map_err(unavailable)?;
    let manifest = Manifest {
        id,
        site: api.site.clone(),
        source_id: clip.source_id,
        kind: clip.kind,
        network: clip.network,
        from_ms: r.from_ms,
        to_ms: r.to_ms,
        exported_by: Actor::from(&op).as_string(),
        exported_ms: now,
        reason,
        authorisations: clip
            .authorisations
            .iter()
            .filter_map(|a| auths.iter().find(|x| x.id == *a))
            .map(|a| AuthorisationRef {
                id: a.id,
                order_ref: a.spec.order_ref.clone(),
                purpose: a.spec.purpose.as_str().to_string(),
                service: a.spec.service.clone(),
            })
            .collect(),
        parts: clip.parts,
        withheld_masked: clip.withheld_masked,
        audit_request_seq: request_seq,
        audit_written_seq: written_seq,
    };
    let text = serde_json::to_string_pretty(&manifest).map_err(internal)?;
    let path = dir.join("manifest.json");
    crate::http::blocking(move || std::fs::write(path, text))
        .await?
        .map_err(internal)?;
    Ok((StatusCode::CREATED, Json(manifest)))
}

async fn download(
    State(api): State<VideoApi>,
    op: Operator,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, HttpError> {
    if !valid_name(&id) || !valid_name(&file) {
        return Err(HttpError::bad_request(
            "an export id and file name are letters, digits, '-', '_' and '.'",
        ));
    }
    let path = api.exports.join(&id).join(&file);
    let entry = Entry::new(
        crate::time::unix_ms(),
        Actor::from(&op),
        "footage.download",
        &id,
    )
    .detail(json!({"file": file}));
    api.register
        .audit
        .record_async(entry)
        .await
        .map_err(|e| HttpError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!("the audit register cannot be written ({e}), so nothing was sent"),
        })?;
    // Streamed from the file: a day's clip is gigabytes.
    let f = tokio::fs::File::open(&path).await.map_err(|_| HttpError {
        status: StatusCode::NOT_FOUND,
        message: format!("no file {file} in export {id}"),
    })?;
    let length = f.metadata().await.map(|m| m.len()).ok();
    let body = futures_util::stream::unfold(f, |mut f| async move {
        use tokio::io::AsyncReadExt as _;
        let mut chunk = vec![0u8; 256 * 1024];
        match f.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok(axum::body::Bytes::from(chunk)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let kind = if file.ends_with(".mp4") {
        "video/mp4"
    } else {
        "application/json"
    };
    let mut resp = axum::body::Body::from_stream(body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Some(n) = length.and_then(|n| HeaderValue::from_str(&n.to_string()).ok()) {
        h.insert(header::CONTENT_LENGTH, n);
    }
    Ok(resp)
}

async fn live(
    State(api): State<VideoApi>,
    op: Operator,
    Path(source): Path<String>,
) -> Result<Response, HttpError> {
    let not_found = || HttpError {
        status: StatusCode::NOT_FOUND,
        message: format!(
            "no live feed of {source}: [[video.streams]] names the feeds this ground takes in"
        ),
    };
    let feed = api.relay.get(&source).ok_or_else(not_found)?;
    if !feed.permitted.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(HttpError {
            status: StatusCode::FORBIDDEN,
            message: format!(
                "{source}'s video is not relayed: no active flight authorisation names it"
            ),
        });
    }
    let viewer = feed.watch().ok_or_else(not_found)?;
    api.register
        .audit
        .record_async(
            Entry::new(
                crate::time::unix_ms(),
                Actor::from(&op),
                "video.live",
                &source,
            )
            .detail(json!({"viewers": feed.viewers()})),
        )
        .await
        .map_err(|e| HttpError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!("the audit register cannot be written ({e}), so nothing is shown"),
        })?;
    let stream = futures_util::stream::unfold(
        (viewer, api.shutdown.clone()),
        |(mut viewer, mut stop)| async move {
            let piece = tokio::select! {
                p = viewer.next() => p,
                _ = stop.wait() => return None,
            };
            match piece {
                super::relay::Piece::Bytes(b) => Some((
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(b)),
                    (viewer, stop),
                )),
                super::relay::Piece::Changed | super::relay::Piece::Ended => None,
            }
        },
    );
    let mut resp = axum::body::Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
