//! Export jobs: `POST /api/v1/exports` starts a client's package (`arkisto export person`) in
//! the background, `GET /api/v1/exports/{id}` tells its state, and once it is done
//! `GET /api/v1/exports/{id}/package` downloads it (a TAR, with its length and SHA-256).
//! Records officers only; a job is visible to the token holder who started it and to no one
//! else (404 otherwise: an id reveals nothing). The job's state is a file beside the package
//! under `data_dir/exports/`, so a restart of the daemon loses no finished package; finished
//! jobs older than `[export] keep_hours` are deleted, package and all, when the next starts.

use std::path::PathBuf;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiError, ApiResult, access, actor, authorize, stream_file};
use crate::archive::Archive;
use crate::auth::Role;
use crate::export::{self, ExportError, Lang, PersonRequest};

/// The body of `POST /api/v1/exports`: the CLI's `export person` options.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExportBody {
    subject: String,
    purpose: Option<String>,
    from: Option<String>,
    to: Option<String>,
    source: Option<String>,
    lang: Option<String>,
    request: Option<String>,
    #[serde(default)]
    hold_back: Option<Vec<String>>,
    #[serde(default)]
    skip_damaged: Option<bool>,
    #[serde(default)]
    bag: Option<bool>,
}

/// A job's state, as stored beside its package.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Job {
    id: String,
    /// `running`, `done` or `failed`.
    state: String,
    /// The token holder who started it (only they see it).
    owner: String,
    /// Whose records (kept beside the package in the data directory, never shown in a
    /// response or a URL): the download is logged in this person's access log.
    subject: String,
    started_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<String>,
    /// The export's result once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<serde_json::Value>,
    /// Size of the package in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<serde_json::Value>,
}

fn dir(a: &Archive) -> PathBuf {
    a.config.data_dir.join("exports")
}

/// A job id names a file: only `exp-` and a ULID are taken.
fn valid_id(id: &str) -> bool {
    id.strip_prefix("exp-").is_some_and(|u| u.len() == 26 && u.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn save(a: &Archive, job: &Job) -> std::io::Result<()> {
    let d = dir(a);
    std::fs::create_dir_all(&d)?;
    let tmp = d.join(format!(".{}.json.tmp", job.id));
    std::fs::write(&tmp, serde_json::to_vec(job).map_err(std::io::Error::other)?)?;
    std::fs::rename(tmp, d.join(format!("{}.json", job.id)))
}

/// When this process started serving: a job still `running` from before then was cut off by
/// a stop or a crash of the daemon.
static STARTED: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Note the moment the API starts (called when the router is built).
pub(super) fn mark_start() {
    STARTED.get_or_init(crate::clock::now);
}

/// A job `running` since before this process started will never finish: it says so.
fn settle(mut job: Job) -> Job {
    if job.state == "running" && STARTED.get().is_some_and(|s| job.started_at.as_str() < s.as_str()) {
        job.state = "failed".into();
        job.finished_at = STARTED.get().cloned();
        job.error = Some(json!({ "code": "interrupted", "message": "the daemon stopped while this export ran; start it again" }));
    }
    job
}

fn load(a: &Archive, id: &str, owner: &str) -> ApiResult<Job> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not-found", "no export job with that id is yours");
    if !valid_id(id) {
        return Err(not_found());
    }
    let bytes = std::fs::read(dir(a).join(format!("{id}.json"))).map_err(|_| not_found())?;
    let job = settle(serde_json::from_slice(&bytes).map_err(|e| ApiError::internal("export job", e))?);
    if job.owner != owner {
        return Err(not_found());
    }
    Ok(job)
}

/// Delete the finished jobs older than `[export] keep_hours` and their packages: each holds a
/// person's records, and a download link is no archive.
fn sweep(a: &Archive) {
    let Ok(entries) = std::fs::read_dir(dir(a)) else { return };
    let keep = chrono::Duration::hours(i64::try_from(a.config.export.keep_hours).unwrap_or(i64::MAX / 3_600_000));
    let now = chrono::Utc::now();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // A package half-written when a daemon (another process: never a job running now)
        // stopped.
        let mine = format!(".arkisto-tmp-{}", std::process::id());
        if name.starts_with(".exp-") && name.contains(".arkisto-tmp-") && !name.ends_with(&mine) {
            let _ = if e.path().is_dir() { std::fs::remove_dir_all(e.path()) } else { std::fs::remove_file(e.path()) };
            continue;
        }
        let Some(id) = name.strip_suffix(".json").filter(|id| valid_id(id)) else { continue };
        let Ok(job) = std::fs::read(e.path()).map_err(|_| ()).and_then(|b| serde_json::from_slice::<Job>(&b).map_err(|_| ())) else {
            continue;
        };
        let job = settle(job);
        let done = job.finished_at.as_deref().and_then(|f| chrono::DateTime::parse_from_rfc3339(f).ok());
        if done.is_some_and(|d| now.signed_duration_since(d) >= keep) {
            let _ = std::fs::remove_file(dir(a).join(format!("{id}.tar")));
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn view(job: &Job) -> serde_json::Value {
    let mut v = json!({ "id": job.id, "state": job.state, "started_at": job.started_at });
    if let Some(f) = &job.finished_at {
        v["finished_at"] = json!(f);
    }
    if let Some(e) = &job.error {
        v["error"] = e.clone();
    }
    if let (Some(r), Some(size)) = (&job.result, job.size) {
        v["package"] = json!({
            "href": format!("/api/v1/exports/{}/package", job.id), "size": size,
            "sha256": r["sha256"], "package_id": r["package_id"], "records": r["records"],
            "not_included": r["not_included"], "bag": r["bag"],
        });
    }
    v
}

fn bad(code: &'static str, m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, m)
}

pub(super) async fn create(
    State(a): State<Archive>,
    headers: HeaderMap,
    body: Result<Json<ExportBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let t = authorize(&a, &headers, &[Role::RecordsOfficer]).await?;
    let Json(b) = body.map_err(|e| bad("bad-body", format!("the export body: {}", e.body_text())))?;
    let acc = access(&t, b.purpose.as_ref())?;
    if b.subject.trim().is_empty() {
        return Err(bad("bad-body", "subject is the person's identifier; it is empty"));
    }
    for d in [&b.from, &b.to].into_iter().flatten() {
        if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
            return Err(bad("bad-date", "from and to are dates: YYYY-MM-DD"));
        }
    }
    let lang: Lang = b.lang.as_deref().unwrap_or("fi").parse().map_err(|e: String| bad("bad-lang", e))?;
    sweep(&a);
    let id = format!("exp-{}", ulid::Ulid::new());
    let out = dir(&a).join(format!("{id}.tar"));
    let req = PersonRequest {
        subject: b.subject.trim().to_string(),
        from: b.from,
        to: b.to,
        source: b.source,
        lang,
        request_id: b.request.filter(|r| !r.trim().is_empty()),
        hold_back: b.hold_back.unwrap_or_default(),
        skip_damaged: b.skip_damaged.unwrap_or(false),
        bag: b.bag.unwrap_or(false),
        out,
        force: false,
    };
    let owner = actor(&t);
    let job = Job {
        id: id.clone(),
        state: "running".into(),
        owner,
        subject: req.subject.clone(),
        started_at: crate::clock::now(),
        finished_at: None,
        result: None,
        size: None,
        error: None,
    };
    save(&a, &job).map_err(|e| ApiError::internal("export job", e))?;
    // The export does file IO and hashing: it runs on a blocking thread of its own, never on
    // the runtime's workers.
    let handle = tokio::runtime::Handle::current();
    let archive = a.clone();
    tokio::task::spawn_blocking(move || {
        let r = handle.block_on(export::export_person(&archive, &req, &acc));
        let mut job = job;
        job.finished_at = Some(crate::clock::now());
        match r {
            Ok(done) => {
                job.state = "done".into();
                job.size = std::fs::metadata(&req.out).ok().map(|m| m.len());
                job.result = serde_json::to_value(&done).ok();
            }
            Err(e) => {
                job.state = "failed".into();
                let message = match &e {
                    ExportError::Usage(m) => m.clone(),
                    ExportError::Damaged { .. } => e.to_string(),
                    other => {
                        eprintln!("{} arkisto serve: export {}: {other}", crate::clock::now(), job.id);
                        "the export failed; see the server log".into()
                    }
                };
                job.error = Some(json!({ "code": e.code(), "message": message }));
            }
        }
        if let Err(e) = save(&archive, &job) {
            eprintln!("{} arkisto serve: export {}: cannot save its state: {e}", crate::clock::now(), job.id);
        }
    });
    let mut r =
        (StatusCode::ACCEPTED, Json(json!({ "id": id, "state": "running", "href": format!("/api/v1/exports/{id}") }))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/exports/{id}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

pub(super) async fn status(State(a): State<Archive>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    let t = authorize(&a, &headers, &[Role::RecordsOfficer]).await?;
    Ok(Json(view(&load(&a, &id, &actor(&t))?)))
}

pub(super) async fn package(State(a): State<Archive>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Response> {
    let t = authorize(&a, &headers, &[Role::RecordsOfficer]).await?;
    let job = load(&a, &id, &actor(&t))?;
    let (Some(result), Some(size)) = (&job.result, job.size) else {
        return Err(ApiError::new(StatusCode::CONFLICT, "not-ready", format!("the export is {}; its package is not ready", job.state)));
    };
    let file = tokio::fs::File::open(dir(&a).join(format!("{id}.tar"))).await.map_err(|e| ApiError::internal("export package", e))?;
    // Handing the package out is a disclosure of the person's data, logged as such.
    let e = crate::ledger::NewEvent {
        event_type: crate::ledger::DISSEMINATION.into(),
        actor: actor(&t),
        purpose: Some("download of an export the same holder made".into()),
        object: result["package_id"].as_str().unwrap_or_default().to_string(),
        outcome: "success".into(),
        detail: json!({ "action": "export download", "subject": job.subject, "job": id, "package_sha256": result["sha256"], "bytes": size }),
    };
    a.index.append_events(vec![e], &crate::clock::now()).await.map_err(|e| ApiError::internal("export package", e))?;
    a.flush_ledger().await.map_err(|e| ApiError::internal("export package", e))?;
    let mut r = stream_file(file).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.tar\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(v) = result["sha256"].as_str().and_then(|s| HeaderValue::from_str(s).ok()) {
        h.insert("x-arkisto-sha256", v);
    }
    Ok(r)
}
