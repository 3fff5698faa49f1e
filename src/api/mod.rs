//! The HTTP API of `arkisto serve` (axum): health, status, runs and their progress,
//! Prometheus metrics, record search and retrieval and client packages (export jobs) for
//! records officers, and the ledger for auditors. Every endpoint but `/health` and `/openapi.json` (which reveal nothing about
//! the archive) takes a bearer token and checks its role; every read of personal data is
//! logged in the ledger with the token holder as actor and the purpose the request names.

mod exports;
mod metrics;

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use crate::archive::Archive;
use crate::auth::{Role, TokenRow, hash_token};
use crate::index::SearchQuery;
use crate::retrieve::{Access, RetrieveError};

/// The OpenAPI 3.1 description of this API (also served at `/openapi.json`).
pub const OPENAPI: &str = include_str!("openapi.json");

/// An API failure: an HTTP status and a stable code, never internal detail or personal data.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
    fn internal(what: &str, e: impl std::fmt::Display) -> Self {
        // The cause goes to the daemon's log; the client gets no internals.
        eprintln!("{} arkisto serve: api: {what}: {e}", crate::archive::now());
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("{what} failed; see the server log"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(json!({ "error": self.message, "code": self.code }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"arkisto\""));
        }
        r
    }
}

impl From<RetrieveError> for ApiError {
    fn from(e: RetrieveError) -> Self {
        match &e {
            RetrieveError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.code(), "no record matches that id"),
            RetrieveError::Disposed { .. } => ApiError::new(StatusCode::GONE, e.code(), e.to_string()),
            RetrieveError::Ambiguous(..) => ApiError::new(StatusCode::CONFLICT, e.code(), e.to_string()),
            RetrieveError::Archive(crate::archive::ArchiveError::Index(i @ crate::index::IndexError::TextStale { .. })) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, i.code(), i.to_string())
            }
            _ => ApiError::internal("retrieval", e),
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// The token behind a request, if its role is one of `allowed`.
async fn authorize(archive: &Archive, headers: &HeaderMap, allowed: &[Role]) -> ApiResult<TokenRow> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "no-token", "send `Authorization: Bearer <token>` (`arkisto token create`)")
        })?;
    let row = archive
        .index
        .token_by_hash(&hash_token(presented))
        .await
        .map_err(|e| ApiError::internal("token lookup", e))?
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "bad-token", "unknown token"))?;
    if row.revoked_at.is_some() {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "revoked-token", "this token was revoked"));
    }
    if !allowed.contains(&row.role) {
        eprintln!("{} arkisto serve: api: token {} ({}) denied", crate::archive::now(), row.token_id, row.role);
        let want: Vec<_> = allowed.iter().map(|r| r.as_str()).collect();
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("this needs the role {}", want.join(" or "))));
    }
    Ok(row)
}

/// Who a token acts as in the ledger.
fn actor(t: &TokenRow) -> String {
    format!("api:{} ({})", t.name, t.token_id)
}

/// Reads of personal data name their purpose.
fn access(t: &TokenRow, purpose: Option<&String>) -> ApiResult<Access> {
    let purpose = purpose.map(|p| p.trim()).filter(|p| !p.is_empty()).ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "no-purpose", "reading records needs `purpose` (why you need them; it is logged)")
    })?;
    Ok(Access { actor: actor(t), purpose: purpose.into() })
}

const STAFF: &[Role] = &[Role::Operator, Role::Auditor];

/// The router: every route with its role check.
pub fn router(archive: Archive) -> Router {
    exports::mark_start();
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics_handler))
        .route("/api/v1/status", get(status))
        .route("/api/v1/runs", get(runs))
        .route("/api/v1/runs/{id}", get(run))
        .route("/api/v1/records", get(search_get))
        .route("/api/v1/records/search", axum::routing::post(search_post))
        .route("/api/v1/records/{id}", get(record))
        .route("/api/v1/ledger", get(ledger))
        .route("/api/v1/exports", axum::routing::post(exports::create))
        .route("/api/v1/exports/{id}", get(exports::status))
        .route("/api/v1/exports/{id}/package", get(exports::package))
        .with_state(archive)
}

async fn health(State(a): State<Archive>) -> Response {
    match a.index.runs(1).await {
        Ok(_) => (StatusCode::OK, Json(json!({ "status": "ok" }))).into_response(),
        Err(e) => {
            eprintln!("{} arkisto serve: health: index: {e}", crate::archive::now());
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable" }))).into_response()
        }
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn metrics_handler(State(a): State<Archive>, headers: HeaderMap) -> ApiResult<Response> {
    authorize(&a, &headers, STAFF).await?;
    let body = metrics::render(&a).await.map_err(|e| ApiError::internal("metrics", e))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}

/// Runs in progress anywhere (any instance sharing the index), with their progress.
async fn in_progress(a: &Archive) -> ApiResult<Vec<serde_json::Value>> {
    let beats: HashMap<_, _> =
        a.index.heartbeats().await.map_err(|e| ApiError::internal("heartbeats", e))?.into_iter().map(|h| (h.run_id, h)).collect();
    let runs = a.index.runs(200).await.map_err(|e| ApiError::internal("runs", e))?;
    Ok(runs.into_iter().filter(|r| r.status == "running").map(|r| json!({ "run": r, "progress": beats.get(&r.run_id) })).collect())
}

async fn status(State(a): State<Archive>, headers: HeaderMap) -> ApiResult<Json<serde_json::Value>> {
    authorize(&a, &headers, STAFF).await?;
    let claims = a.index.claims().await.map_err(|e| ApiError::internal("claims", e))?;
    let active: Vec<_> = claims.into_iter().filter(|c| c.state == "claimed").collect();
    Ok(Json(json!({
        "instance": a.instance,
        "store": a.store.describe(),
        "index": a.config.index.kind,
        "running": in_progress(&a).await?,
        "claimed_batches": active,
    })))
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<u32>,
}

/// A query string, or a 400 that says what is wrong with it (in the API's error shape).
fn query<T>(q: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> ApiResult<T> {
    q.map(|Query(t)| t).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad-query", e.body_text()))
}

/// `limit` within 1..=1000 (default `default`), or a 400.
fn limit(l: Option<u32>, default: u32) -> ApiResult<u32> {
    match l {
        None => Ok(default),
        Some(l @ 1..=1000) => Ok(l),
        Some(_) => Err(ApiError::new(StatusCode::BAD_REQUEST, "bad-query", "limit is 1 to 1000")),
    }
}

async fn runs(
    State(a): State<Archive>,
    headers: HeaderMap,
    q: Result<Query<Limit>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    authorize(&a, &headers, STAFF).await?;
    let q = query(q)?;
    let runs = a.index.runs(limit(q.limit, 50)?).await.map_err(|e| ApiError::internal("runs", e))?;
    Ok(Json(json!(runs)))
}

async fn run(State(a): State<Archive>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    authorize(&a, &headers, STAFF).await?;
    let run_id: crate::ids::RunId = id.parse().map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad-id", "not a run id"))?;
    let runs = a.index.runs(u32::MAX).await.map_err(|e| ApiError::internal("runs", e))?;
    let run =
        runs.into_iter().find(|r| r.run_id == run_id).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such run"))?;
    let beat = a.index.heartbeats().await.map_err(|e| ApiError::internal("heartbeats", e))?.into_iter().find(|h| h.run_id == run_id);
    Ok(Json(json!({ "run": run, "progress": beat })))
}

/// A search: `GET /api/v1/records` (query string) or `POST /api/v1/records/search` (JSON
/// body). A query naming a person or carrying free text goes only by POST: URLs end up in
/// proxy logs and browser histories.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    subject: Option<String>,
    set_id: Option<String>,
    r#type: Option<String>,
    source: Option<String>,
    from: Option<String>,
    to: Option<String>,
    text: Option<String>,
    sort: Option<crate::index::Sort>,
    #[serde(default, deserialize_with = "whole_number")]
    limit: Option<u32>,
    #[serde(default, deserialize_with = "whole_number")]
    page: Option<u32>,
    purpose: Option<String>,
}

/// A u32 written as JSON Schema's integer: `3` or `3.0` (a number without a fraction).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    use serde::de::Error;
    let v: Option<serde_json::Value> = Option::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX)).map(|f| f as u64))
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number from 0 to 4294967295"))),
        // A query string gives text.
        Some(serde_json::Value::String(s)) => s.parse().map(Some).map_err(|_| D::Error::custom(format!("{s:?} is not a whole number"))),
        Some(other) => Err(D::Error::custom(format!("{other} is not a whole number"))),
    }
}

async fn search_get(
    State(a): State<Archive>,
    headers: HeaderMap,
    query: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let t = authorize(&a, &headers, &[Role::RecordsOfficer]).await?;
    let p = self::query(query)?;
    if p.subject.is_some() || p.text.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "personal-data-in-url",
            "subject and text are not taken in a URL (proxies and browsers log URLs): POST them as JSON to /api/v1/records/search",
        ));
    }
    search(&a, &t, p).await
}

async fn search_post(
    State(a): State<Archive>,
    headers: HeaderMap,
    body: Result<Json<SearchParams>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let t = authorize(&a, &headers, &[Role::RecordsOfficer]).await?;
    let Json(p) = body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad-body", format!("the search body: {}", e.body_text())))?;
    search(&a, &t, p).await
}

async fn search(a: &Archive, t: &TokenRow, p: SearchParams) -> ApiResult<Json<serde_json::Value>> {
    let access = access(t, p.purpose.as_ref())?;
    for d in [&p.from, &p.to].into_iter().flatten() {
        if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad-date", "from and to are dates: YYYY-MM-DD"));
        }
    }
    if p.page == Some(0) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad-query", "page is 1 or more"));
    }
    let limit = limit(p.limit, 100)?;
    let q = SearchQuery {
        subject: p.subject,
        set_id: p.set_id,
        doc_type: p.r#type,
        source: p.source,
        from: p.from,
        to: p.to,
        text: p.text,
        sort: p.sort,
        limit,
        page: p.page.unwrap_or(1),
    };
    let page = crate::retrieve::search(a, &q, &access).await?;
    Ok(Json(json!(page)))
}

#[derive(Deserialize)]
struct Purpose {
    purpose: Option<String>,
}

async fn record(
    State(a): State<Archive>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<Purpose>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let t = authorize(&a, &headers, &[Role::RecordsOfficer]).await?;
    let p = query(q)?;
    let access = access(&t, p.purpose.as_ref())?;
    // Decoded into a temp file and verified first (nothing unverified is sent), then streamed
    // from it in 1 MiB reads: a record of any size takes flat memory.
    let dir = a.config.tmp_dir();
    std::fs::create_dir_all(&dir).map_err(|e| ApiError::internal("record", e))?;
    let tmp = dir.join(format!("api-get-{}", crate::ids::PackId::generate()));
    let (rec, n) = crate::retrieve::get_to_file(&a, &id, &access, &tmp).await?;
    let file = tokio::fs::File::open(&tmp).await;
    let _ = std::fs::remove_file(&tmp); // the open handle still reads it
    let file = file.map_err(|e| ApiError::internal("record", e))?;
    let mut r = stream_file(file).into_response();
    let sha = rec.meta.record_id.to_string();
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    let media = HeaderValue::from_str(&rec.meta.media_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, media);
    for (k, v) in [("x-arkisto-record-id", rec.meta.record_id.to_string()), ("x-arkisto-sha256", sha)] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    Ok(r)
}

/// A file's bytes as a response body, read 1 MiB at a time (flat memory for any size).
fn stream_file(file: tokio::fs::File) -> axum::body::Body {
    let stream = futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 20];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(k) => {
                buf.truncate(k);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    axum::body::Body::from_stream(stream)
}

#[derive(Deserialize)]
struct LedgerParams {
    after: Option<i64>,
    limit: Option<u32>,
}

async fn ledger(
    State(a): State<Archive>,
    headers: HeaderMap,
    q: Result<Query<LedgerParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    authorize(&a, &headers, &[Role::Auditor]).await?;
    let p = query(q)?;
    // One page read from the index, not the whole ledger per request.
    let page = a.index.events_page(p.after.unwrap_or(0), limit(p.limit, 100)?).await.map_err(|e| ApiError::internal("ledger", e))?;
    Ok(Json(json!(page)))
}

/// Serve the API on `listener` until `shutdown` turns true.
pub async fn serve(
    archive: Archive,
    listener: tokio::net::TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router(archive))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await
}
