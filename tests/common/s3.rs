//! S3 test servers: Garage (started by infra/test.sh, or by a test itself for clusters and
//! faults) and the moto server (Object Lock). Under CI=true a missing server fails the test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where an S3 server is and how to reach it.
#[derive(Clone, Debug)]
pub struct Target {
    pub endpoint: String,
    pub region: String,
    pub key_id: String,
    pub secret: String,
    pub bucket: String,
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A missing service: fail under CI, otherwise say so loudly and skip.
pub fn missing(what: &str) -> Option<Target> {
    assert!(!ci(), "{what} is not available (infra/test.sh starts it); under CI=true this test must not skip");
    eprintln!("SKIPPED: {what} is not available; run the tests through infra/test.sh");
    None
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The single-node Garage that infra/test.sh started.
pub fn garage() -> Option<Target> {
    let Some(endpoint) = var("ARKISTO_TEST_GARAGE_ENDPOINT") else { return missing("Garage (ARKISTO_TEST_GARAGE_ENDPOINT)") };
    Some(Target {
        endpoint,
        region: var("ARKISTO_TEST_GARAGE_REGION").unwrap_or_else(|| "garage".into()),
        key_id: var("ARKISTO_TEST_GARAGE_KEY_ID").expect("ARKISTO_TEST_GARAGE_KEY_ID"),
        secret: var("ARKISTO_TEST_GARAGE_SECRET").expect("ARKISTO_TEST_GARAGE_SECRET"),
        bucket: var("ARKISTO_TEST_GARAGE_BUCKET").unwrap_or_else(|| "arkisto".into()),
    })
}

/// The moto server that infra/test.sh started (any credentials work; buckets are made per test).
pub fn moto() -> Option<Target> {
    let Some(endpoint) = var("ARKISTO_TEST_MOTO_ENDPOINT") else { return missing("the moto server (ARKISTO_TEST_MOTO_ENDPOINT)") };
    Some(Target { endpoint, region: "us-east-1".into(), key_id: "testing".into(), secret: "testingsecret".into(), bucket: String::new() })
}

/// The garage binary for tests that run their own cluster.
pub fn garage_bin() -> Option<PathBuf> {
    let p = var("GARAGE_BIN").map(PathBuf::from).or_else(|| {
        let out = Command::new("sh").args(["-c", "command -v garage"]).output().ok()?;
        out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    })?;
    p.exists().then_some(p)
}

impl Target {
    /// The `ARKISTO__STORE__…` variables that point arkisto at this server, under `prefix`.
    pub fn env(&self, prefix: &str) -> Vec<(String, String)> {
        vec![
            ("ARKISTO__STORE__KIND".into(), "s3".into()),
            ("ARKISTO__STORE__ENDPOINT".into(), self.endpoint.clone()),
            ("ARKISTO__STORE__REGION".into(), self.region.clone()),
            ("ARKISTO__STORE__BUCKET".into(), self.bucket.clone()),
            ("ARKISTO__STORE__PREFIX".into(), prefix.into()),
            ("ARKISTO__STORE__ACCESS_KEY_ID".into(), self.key_id.clone()),
            ("ARKISTO__STORE__SECRET_ACCESS_KEY".into(), self.secret.clone()),
        ]
    }

    /// An SDK client, for looking at what arkisto wrote (and making buckets).
    pub fn client(&self) -> aws_sdk_s3::Client {
        use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .endpoint_url(self.endpoint.clone())
            .force_path_style(true)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .credentials_provider(Credentials::new(self.key_id.clone(), self.secret.clone(), None, None, "test"))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// Create a fresh bucket (with Object Lock when asked) and return a target for it.
    pub async fn fresh_bucket(&self, object_lock: bool) -> Target {
        let name = format!("t-{}", ulid::Ulid::new().to_string().to_lowercase());
        let mut req = self.client().create_bucket().bucket(&name);
        if object_lock {
            req = req.object_lock_enabled_for_bucket(true);
        }
        req.send().await.unwrap_or_else(|e| panic!("create bucket {name}: {}", aws_sdk_s3::error::DisplayErrorContext(e)));
        Target { bucket: name, ..self.clone() }
    }

    /// Every key under `prefix`.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.client().list_objects_v2().bucket(&self.bucket).prefix(prefix).send().await.expect("list");
        out.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect()
    }
}

/// A Garage cluster of our own (for node and fault tests), stopped on drop.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub target: Target,
    script: PathBuf,
}

impl Cluster {
    pub fn start(nodes: usize, base_port: u16) -> Option<Cluster> {
        let Some(bin) = garage_bin() else {
            missing("the garage binary (GARAGE_BIN or PATH)");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let script = super::root().join("infra/garage/cluster.sh");
        let st = Command::new("bash")
            .arg(&script)
            .args(["start", dir.path().to_str().unwrap(), &nodes.to_string(), &base_port.to_string()])
            .env("GARAGE_BIN", &bin)
            .status()
            .expect("run cluster.sh");
        assert!(st.success(), "cluster.sh start failed");
        let env = std::fs::read_to_string(dir.path().join("env")).expect("cluster env");
        let get = |k: &str| env.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).expect(k).to_string();
        let target = Target {
            endpoint: get("ARKISTO_TEST_GARAGE_ENDPOINT"),
            region: get("ARKISTO_TEST_GARAGE_REGION"),
            key_id: get("ARKISTO_TEST_GARAGE_KEY_ID"),
            secret: get("ARKISTO_TEST_GARAGE_SECRET"),
            bucket: get("ARKISTO_TEST_GARAGE_BUCKET"),
        };
        Some(Cluster { dir, target, script })
    }

    fn op(&self, op: &str, node: usize) {
        let st = Command::new("bash")
            .arg(&self.script)
            .args([op, self.dir.path().to_str().unwrap(), &node.to_string()])
            .env("GARAGE_BIN", garage_bin().expect("garage"))
            .status()
            .expect("cluster.sh");
        assert!(st.success(), "cluster.sh {op} {node}");
    }
    pub fn kill(&self, node: usize) {
        self.op("kill", node)
    }
    pub fn restart(&self, node: usize) {
        self.op("restart", node)
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(&self.script).args(["stop", self.dir.path().to_str().unwrap_or("")]).status();
    }
}
