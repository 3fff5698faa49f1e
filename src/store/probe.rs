//! `arkisto store check`: what the store really does, found out by doing it, never assumed
//! from its name or its documentation (DESIGN principle 8).
//!
//! The basic operations go through the [`ObjectStore`] trait (so the local store is probed
//! the same way). On S3 the probe also tries every checksum algorithm, sends a wrong SHA-256
//! to see whether the server verifies it, and writes an object under a short COMPLIANCE
//! retention, then tries to delete that version: only a refusal proves Object Lock.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode};
use serde::{Deserialize, Serialize};

use super::{ObjectKey, ObjectStore, S3Store, StoreError};

/// One capability and what the probe saw.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Capability {
    /// Short name (`write`, `ranged-read`, …).
    pub name: String,
    /// Whether it works.
    pub ok: bool,
    /// What happened (the server's error, if any).
    pub detail: String,
}

/// The probe's findings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CheckReport {
    /// The store probed (no secrets).
    pub store: String,
    /// When (RFC 3339).
    pub checked_at: String,
    /// Write, read, ranged read, list, no-overwrite, delete.
    pub operations: Vec<Capability>,
    /// Checksum algorithms the server accepted on a write.
    pub checksums_accepted: Vec<String>,
    /// Whether a write with a wrong SHA-256 was refused (the server checks what it stores).
    pub sha256_verified: Option<bool>,
    /// Whether the bucket enforces Object Lock (a locked version could not be deleted).
    pub object_lock_enforced: bool,
    /// How that was found out.
    pub object_lock_detail: String,
    /// Whether S3 legal hold could be set and read back.
    pub legal_hold: Option<bool>,
    /// Whether the server itself refuses `If-None-Match: *` onto an existing key (arkisto
    /// looks before it writes either way).
    pub conditional_write: Option<bool>,
}

impl CheckReport {
    /// Whether every basic operation works.
    pub fn operations_ok(&self) -> bool {
        self.operations.iter().all(|c| c.ok)
    }
}

fn cap(name: &str, r: Result<String, String>) -> Capability {
    match r {
        Ok(detail) => Capability { name: name.into(), ok: true, detail },
        Err(detail) => Capability { name: name.into(), ok: false, detail },
    }
}

/// Probe `store` (and, when it is S3, the server behind it). Leaves at most one probe object
/// behind: the locked one, until its short retention ends (the next check removes it).
pub async fn check(store: &dyn ObjectStore, s3: Option<&S3Store>, lock_seconds: u64) -> CheckReport {
    let mut ops = Vec::new();
    let key = match ObjectKey::new(format!("probe/check-{}", ulid::Ulid::new().to_string().to_lowercase())) {
        Ok(k) => k,
        Err(e) => return failed(store, e),
    };
    let body: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let wrote = put_unlocked(store, &key, &body).await;
    ops.push(cap("write", wrote.as_ref().map(|_| format!("{} bytes to {key}", body.len())).map_err(ToString::to_string)));
    if wrote.is_ok() {
        ops.push(cap(
            "read",
            match store.get_range(&key, 0, body.len() as u64).await {
                Ok(b) if b == body => Ok("whole object read back identical".into()),
                Ok(_) => Err("read back different bytes".into()),
                Err(e) => Err(e.to_string()),
            },
        ));
        ops.push(cap(
            "ranged-read",
            match store.get_range(&key, 1000, 100).await {
                Ok(b) if b[..] == body[1000..1100] => Ok("bytes 1000–1099 read back identical".into()),
                Ok(b) => Err(format!("asked for 100 bytes, got {} different ones (server ignores Range?)", b.len())),
                Err(e) => Err(e.to_string()),
            },
        ));
        ops.push(cap(
            "list",
            match store.list("probe/").await {
                Ok(l) if l.iter().any(|o| o.key == key && o.size == body.len() as u64) => Ok(format!("{} probe object(s) listed", l.len())),
                Ok(_) => Err("the object just written is not listed".into()),
                Err(e) => Err(e.to_string()),
            },
        ));
        ops.push(cap(
            "no-overwrite",
            match store.put_bytes(&key, b"other".to_vec()).await {
                Err(StoreError::Exists(_)) => Ok("a second write to the same key was refused".into()),
                Ok(()) => Err("a second write to the same key replaced the object".into()),
                Err(e) => Err(e.to_string()),
            },
        ));
        ops.push(cap(
            "delete",
            match store.delete(&key).await {
                Ok(()) => match store.head(&key).await {
                    Ok(None) => Ok("deleted; HEAD finds nothing".into()),
                    Ok(Some(_)) => Err("still there after delete".into()),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            },
        ));
    }
    let mut report = CheckReport {
        store: store.describe(),
        checked_at: crate::clock::now(),
        operations: ops,
        checksums_accepted: Vec::new(),
        sha256_verified: None,
        object_lock_enforced: false,
        object_lock_detail: "a local directory cannot enforce immutability".into(),
        legal_hold: None,
        conditional_write: None,
    };
    if let Some(s3) = s3 {
        probe_s3(s3, &mut report, lock_seconds).await;
    }
    report
}

/// Write a probe object that a locked bucket will still let us delete.
async fn put_unlocked(store: &dyn ObjectStore, key: &ObjectKey, body: &[u8]) -> Result<(), StoreError> {
    let path = std::env::temp_dir().join(format!("arkisto-probe-{}", ulid::Ulid::new()));
    std::fs::write(&path, body).map_err(|source| StoreError::Io { key: key.to_string(), source })?;
    let opts = super::PutOptions { sha256: Some(crate::digest::Sha256::of(body)), no_lock: true };
    let r = store.put_file(key, &path, &opts).await;
    let _ = std::fs::remove_file(&path);
    r
}

fn failed(store: &dyn ObjectStore, e: StoreError) -> CheckReport {
    CheckReport {
        store: store.describe(),
        checked_at: crate::clock::now(),
        operations: vec![cap("write", Err(e.to_string()))],
        checksums_accepted: Vec::new(),
        sha256_verified: None,
        object_lock_enforced: false,
        object_lock_detail: "not probed".into(),
        legal_hold: None,
        conditional_write: None,
    }
}

fn err_text<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String {
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => format!(
            "HTTP {} {}: {}",
            s.raw().status().as_u16(),
            s.err().code().unwrap_or("?"),
            s.err().message().unwrap_or("").chars().take(200).collect::<String>()
        ),
        other => format!("{}", aws_sdk_s3::error::DisplayErrorContext(other)).chars().take(300).collect(),
    }
}

async fn probe_s3(s3: &S3Store, report: &mut CheckReport, lock_seconds: u64) {
    let (client, bucket) = (s3.client(), s3.bucket());
    let full = |k: &str| s3.full_key(&ObjectKey::trusted(k.to_string()));
    // Old locked probes whose retention has ended: remove them now (best effort).
    if let Ok(old) = client.list_object_versions().bucket(bucket).prefix(full("probe/lock-")).send().await {
        for v in old.versions() {
            if let (Some(k), Some(vid)) = (v.key(), v.version_id()) {
                let _ = client.delete_object().bucket(bucket).key(k).version_id(vid).send().await;
            }
        }
    }
    let body = b"arkisto checksum probe".to_vec();
    for alg in [
        ChecksumAlgorithm::Sha256,
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Crc64Nvme,
    ] {
        let k = full(&format!("probe/sum-{}", ulid::Ulid::new().to_string().to_lowercase()));
        let r =
            client.put_object().bucket(bucket).key(&k).body(ByteStream::from(body.clone())).checksum_algorithm(alg.clone()).send().await;
        if r.is_ok() {
            report.checksums_accepted.push(alg.as_str().to_string());
        }
        let _ = client.delete_object().bucket(bucket).key(&k).send().await;
    }
    // Does the server honour If-None-Match itself?
    let k = full(&format!("probe/cond-{}", ulid::Ulid::new().to_string().to_lowercase()));
    if client.put_object().bucket(bucket).key(&k).body(ByteStream::from(body.clone())).send().await.is_ok() {
        let second = client.put_object().bucket(bucket).key(&k).body(ByteStream::from(b"other".to_vec())).if_none_match("*").send().await;
        report.conditional_write = Some(second.is_err());
        let _ = client.delete_object().bucket(bucket).key(&k).send().await;
    }
    // A wrong SHA-256: a server that checks must refuse it.
    let k = full(&format!("probe/badsum-{}", ulid::Ulid::new().to_string().to_lowercase()));
    let wrong = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [0u8; 32]);
    let r = client.put_object().bucket(bucket).key(&k).body(ByteStream::from(body.clone())).checksum_sha256(wrong).send().await;
    report.sha256_verified = Some(r.is_err());
    if r.is_ok() {
        let _ = client.delete_object().bucket(bucket).key(&k).send().await;
    }

    // Object Lock: write a COMPLIANCE-locked version, then try to delete exactly that version.
    let k = full(&format!("probe/lock-{}", ulid::Ulid::new().to_string().to_lowercase()));
    let until = DateTime::from_secs(chrono::Utc::now().timestamp() + lock_seconds as i64);
    let sha = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, crate::digest::Sha256::of(&body).0);
    let put = client
        .put_object()
        .bucket(bucket)
        .key(&k)
        .body(ByteStream::from(body.clone()))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(sha)
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .send()
        .await;
    let put = match put {
        Ok(p) => p,
        Err(e) => {
            report.object_lock_detail =
                format!("a write with Object Lock headers was refused ({}): no Object Lock on this bucket", err_text(&e));
            return;
        }
    };
    let head = client.head_object().bucket(bucket).key(&k).send().await.ok();
    let reported = head.as_ref().and_then(|h| h.object_lock_mode().map(|m| m.as_str().to_string()));
    let Some(vid) = put.version_id().map(str::to_string) else {
        let _ = client.delete_object().bucket(bucket).key(&k).send().await;
        report.object_lock_detail = format!(
            "the bucket accepted Object Lock headers but keeps no versions (HEAD reports lock mode {}): not enforced",
            reported.as_deref().unwrap_or("none")
        );
        return;
    };
    // Legal hold: set, read back, release (only meaningful where the lock itself holds).
    let hold_on = client
        .put_object_legal_hold()
        .bucket(bucket)
        .key(&k)
        .version_id(&vid)
        .legal_hold(ObjectLockLegalHold::builder().status(ObjectLockLegalHoldStatus::On).build())
        .send()
        .await
        .is_ok();
    let hold_seen = hold_on
        && client
            .head_object()
            .bucket(bucket)
            .key(&k)
            .version_id(&vid)
            .send()
            .await
            .is_ok_and(|h| h.object_lock_legal_hold_status() == Some(&ObjectLockLegalHoldStatus::On));
    if hold_on {
        let _ = client
            .put_object_legal_hold()
            .bucket(bucket)
            .key(&k)
            .version_id(&vid)
            .legal_hold(ObjectLockLegalHold::builder().status(ObjectLockLegalHoldStatus::Off).build())
            .send()
            .await;
    }
    report.legal_hold = Some(hold_seen);
    match client.delete_object().bucket(bucket).key(&k).version_id(&vid).send().await {
        Ok(_) => {
            report.object_lock_detail = format!(
                "deleted a version written with COMPLIANCE retention (HEAD reported lock mode {}): the bucket does not enforce Object Lock",
                reported.as_deref().unwrap_or("none")
            );
        }
        Err(e) => {
            let still = client.head_object().bucket(bucket).key(&k).version_id(&vid).send().await.is_ok();
            report.object_lock_enforced = still;
            report.object_lock_detail = if still {
                format!("deleting a COMPLIANCE-locked version was refused ({}); the version is still there", err_text(&e))
            } else {
                format!("deleting the locked version failed ({}) but the version is gone", err_text(&e))
            };
        }
    }
}
