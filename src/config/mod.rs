//! Configuration: one TOML file with defaults for everything, overridden by environment
//! variables `ARKISTO__SECTION__KEY`, then by command-line flags, all in [`Config::load`].
//! Unknown keys are errors. Secrets ([`Secret`]) are redacted from `Debug` and `config show`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::validate::ProblemPolicy;

/// Configuration problems (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The TOML (or an override) does not fit the schema.
    #[error("invalid configuration{}: {message}", .origin.as_ref().map(|o| format!(" in {o}")).unwrap_or_default())]
    Invalid {
        /// File or env var.
        origin: Option<String>,
        /// What is wrong (names the key).
        message: String,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded store, index, quarantine and temp files live.
    pub data_dir: PathBuf,
    /// Object store.
    pub store: StoreConfig,
    /// Index database.
    pub index: IndexConfig,
    /// Pack building.
    pub pack: PackConfig,
    /// Ingest behaviour.
    pub ingest: IngestConfig,
    /// Per-source zstd dictionaries.
    pub dict: DictConfig,
    /// Retention rules.
    pub retention: RetentionConfig,
    /// The daemon (`arkisto serve`).
    pub serve: ServeConfig,
    /// Checkpoints of the ledger: signing key, origin, witness copy.
    pub ledger: LedgerConfig,
    /// Packages out (`arkisto export`).
    pub export: ExportConfig,
}

/// Who the packages `arkisto export` writes name as the records' holder (the E-ARK METS
/// archivist agent and the BagIt Source-Organization).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    /// The organisation holding the records, e.g. "Pohjois-Savon hyvinvointialue".
    pub organisation: String,
    /// Its identifier (e.g. business id 3221323-6), if any.
    pub organisation_id: Option<String>,
    /// How long a package made through the API (`POST /api/v1/exports`) is kept for download
    /// before it is deleted: it holds a person's records (default 168 hours, a week).
    pub keep_hours: u64,
}

impl Default for ExportConfig {
    fn default() -> Self {
        Self { organisation: "arkisto".into(), organisation_id: None, keep_hours: 168 }
    }
}

/// Signed checkpoints of the ledger's Merkle tree (FORMAT.md section 6).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// The checkpoint signing key file (made by `arkisto key generate`; default
    /// `data_dir/checkpoint.key`). Without one, checkpoints are unsigned tree heads.
    pub signing_key: Option<PathBuf>,
    /// A second store that receives a copy of every checkpoint (a witness the store's
    /// operator does not control: another bucket or prefix, or a folder, e.g. a mount of the
    /// auditor's), in the same form as `[store]`: `kind = "local"` with `path`, or
    /// `kind = "s3"` with `bucket`, `prefix`, `endpoint`…. None: no witness.
    pub witness: Option<StoreConfig>,
}

/// The daemon's schedules (cron with seconds: `sec min hour day month weekday`; `off` to
/// disable one).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Folders whose subfolders are batches (taken when they hold `READY` or are a valid bag).
    pub inbox: Vec<PathBuf>,
    /// When to look for complete batches.
    pub ingest_schedule: String,
    /// When to run a fixity sweep.
    pub fixity_schedule: String,
    /// Share of the packs each sweep checks (0.1: the whole archive every 10 sweeps).
    pub fixity_share: f64,
    /// When to renew Object Lock (only where the store has it configured).
    pub lock_schedule: String,
    /// When to write a checkpoint of the ledger (also written at every flush) and copy every
    /// checkpoint to the witness.
    pub checkpoint_schedule: String,
    /// This instance's name among several sharing one index (empty: generated once and kept
    /// in `data_dir/instance-id`).
    pub instance: String,
    /// How often a run and a batch lease show they are alive. A run silent for 4 heartbeats
    /// is taken as dead (its unindexed packs may be cleaned up); a batch lease runs out after
    /// 6, and then another instance may take the batch over.
    pub heartbeat_secs: u64,
    /// Address of the HTTP API (e.g. `127.0.0.1:8470`; empty: no API).
    pub listen: String,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            inbox: Vec::new(),
            ingest_schedule: "0 */5 * * * *".into(),
            fixity_schedule: "0 0 3 * * *".into(),
            fixity_share: 0.1,
            lock_schedule: "0 30 3 * * *".into(),
            checkpoint_schedule: "0 0 * * * *".into(),
            instance: String::new(),
            heartbeat_secs: 15,
            listen: String::new(),
        }
    }
}

/// Retention rules (`policies/`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Class of records whose header names none; CDA documents are patient documents.
    /// Empty: such records get retention *undetermined*.
    pub default_class: String,
    /// Read the rule sets from this folder instead of the built-in copies of `policies/`.
    pub policies_dir: Option<PathBuf>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { default_class: "fi:patient".into(), policies_dir: None }
    }
}

impl RetentionConfig {
    /// Load the rule sets this configuration names.
    pub fn policies(&self) -> Result<crate::retention::Policies, crate::retention::policy::PolicyError> {
        match &self.policies_dir {
            Some(d) => crate::retention::Policies::from_dir(d),
            None => crate::retention::Policies::builtin(),
        }
    }
}

/// Per-source zstd dictionaries (FORMAT.md "Dictionaries").
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DictConfig {
    /// Train and use dictionaries at all.
    pub enabled: bool,
    /// Sources that never get a dictionary.
    pub disabled_sources: Vec<String>,
    /// Records a dictionary is trained from (a source's first records).
    pub train_samples: usize,
    /// Fewer records than this at the end of a run: no dictionary yet.
    pub min_samples: usize,
    /// Largest dictionary, in KiB (scaled down for small sample sets).
    pub max_size_kib: usize,
    /// Records larger than this (KiB) are compressed without a dictionary.
    pub max_record_kib: u64,
    /// Retrain when recent records compress below this share of the training ratio.
    pub retrain_below: f64,
}

impl Default for DictConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            disabled_sources: Vec::new(),
            train_samples: 500,
            min_samples: 20,
            max_size_kib: 112,
            max_record_kib: 1024,
            retrain_below: 0.7,
        }
    }
}

impl DictConfig {
    /// Whether `source` gets a dictionary.
    pub fn enabled_for(&self, source: &str) -> bool {
        self.enabled && !self.disabled_sources.iter().any(|s| s == source)
    }
}

/// Which object store.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `local` (a directory; the embedded default) or `s3`.
    pub kind: String,
    /// Directory of the local store (default: `<data_dir>/store`).
    pub path: Option<PathBuf>,
    /// S3: endpoint URL (empty: AWS's own endpoint for the region).
    pub endpoint: String,
    /// S3: region (Garage: whatever its `s3_region` says).
    pub region: String,
    /// S3: bucket.
    pub bucket: String,
    /// S3: key prefix inside the bucket (e.g. `county-a/`), so several archives can share one.
    pub prefix: String,
    /// S3: path-style addressing (`endpoint/bucket/key`), which most self-hosted servers need.
    pub path_style: bool,
    /// S3: access key id. Empty: the usual AWS sources (env, profile, web identity, IMDS).
    pub access_key_id: String,
    /// S3: secret key (never printed). Prefer `ARKISTO__STORE__SECRET_ACCESS_KEY`.
    pub secret_access_key: Secret,
    /// S3: objects larger than this (MiB) are uploaded in parts.
    pub multipart_threshold_mib: u64,
    /// S3: part size (MiB, at least 5).
    pub part_size_mib: u64,
    /// S3: requests in flight at once, per process.
    pub max_concurrency: usize,
    /// S3: attempts per request (retries with exponential backoff on 5xx, 429 and timeouts).
    pub max_attempts: u32,
    /// S3: seconds before one attempt of a request is abandoned.
    pub timeout_secs: u64,
    /// S3: `auto` (send `x-amz-checksum-sha256`, drop it if the server refuses it), `sha256`
    /// (always; fail otherwise) or `none`.
    pub checksum: String,
    /// S3 Object Lock mode for packs: `off`, `governance` or `compliance`. Needs a bucket
    /// created with Object Lock enabled; `arkisto store check` tells whether it is enforced.
    pub lock_mode: String,
    /// Days a pack is locked when none of its records has a lock horizon yet.
    pub lock_default_days: u32,
    /// Refuse to start unless `store check` proved the bucket enforces Object Lock.
    pub require_worm: bool,
}

/// A secret value: deserialised normally, never printed (`Debug` and serialisation redact it).
#[derive(Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself, for handing to a client library only.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"<redacted>\"" })
    }
}
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "<redacted>" })
    }
}

/// Which index database.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IndexConfig {
    /// `sqlite` (the embedded default) or `postgres` (shared by several instances).
    pub kind: String,
    /// SQLite file (default: `<data_dir>/index.sqlite`).
    pub path: Option<PathBuf>,
    /// PostgreSQL connection URL, e.g. `postgres://arkisto@db/arkisto` (never printed: it
    /// may hold a password). Prefer `ARKISTO__INDEX__URL`.
    pub url: Secret,
}

/// Pack building.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PackConfig {
    /// A pack is closed once it reaches this size (MiB).
    pub target_size_mib: u64,
    /// zstd level for record frames (1–19).
    pub compression_level: i32,
    /// Packs open at once (one per retention group); the fullest is closed beyond this.
    pub max_open_packs: usize,
    /// Finished packs being stored at once (their round trips to an S3 server overlap).
    pub upload_concurrency: usize,
}

/// Ingest behaviour.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Parser/compressor threads (0 = one per CPU).
    pub workers: usize,
    /// `flag` (archive with the finding) or `quarantine` a record whose henkilötunnus has a
    /// wrong check character or is malformed (V005, V006).
    pub invalid_hetu: ProblemPolicy,
    /// `flag` or `quarantine` a ClinicalDocument whose header lacks required fields or has
    /// unparseable dates (V004, V007). Flagged records get retention *undetermined* when
    /// the facts it needs are missing: never disposable.
    pub incomplete_header: ProblemPolicy,
    /// Larger input files are quarantined (V012), in MiB.
    pub max_file_size_mib: u64,
    /// Maximum XML nesting depth (V012 beyond it).
    pub max_xml_depth: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./arkisto-data"),
            store: StoreConfig::default(),
            index: IndexConfig::default(),
            pack: PackConfig::default(),
            ingest: IngestConfig::default(),
            dict: DictConfig::default(),
            retention: RetentionConfig::default(),
            serve: ServeConfig::default(),
            ledger: LedgerConfig::default(),
            export: ExportConfig::default(),
        }
    }
}
impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            kind: "local".into(),
            path: None,
            endpoint: String::new(),
            region: "us-east-1".into(),
            bucket: String::new(),
            prefix: String::new(),
            path_style: true,
            access_key_id: String::new(),
            secret_access_key: Secret::default(),
            multipart_threshold_mib: 64,
            part_size_mib: 16,
            max_concurrency: 8,
            max_attempts: 6,
            timeout_secs: 120,
            checksum: "auto".into(),
            lock_mode: "off".into(),
            lock_default_days: 365,
            require_worm: false,
        }
    }
}
impl Default for IndexConfig {
    fn default() -> Self {
        Self { kind: "sqlite".into(), path: None, url: Secret::default() }
    }
}
impl Default for PackConfig {
    fn default() -> Self {
        Self { target_size_mib: 32, compression_level: 3, max_open_packs: 128, upload_concurrency: 4 }
    }
}
impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            invalid_hetu: ProblemPolicy::Flag,
            incomplete_header: ProblemPolicy::Flag,
            max_file_size_mib: 256,
            max_xml_depth: 256,
        }
    }
}

/// Overrides given on the command line.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Defaults, then `file`, then `ARKISTO__…` variables from `env`, then `flags`.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>, flags: &Flags) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.to_path_buf(), source })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Invalid { origin: Some(p.display().to_string()), message: e.message().to_string() })?
            }
            None => toml::Table::new(),
        };
        for (k, v) in env {
            let Some(rest) = k.strip_prefix("ARKISTO__") else { continue };
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            let value = format!("v = {v}").parse::<toml::Table>().ok().and_then(|mut t| t.remove("v")).unwrap_or(toml::Value::String(v));
            set_path(&mut table, &path, value).map_err(|m| ConfigError::Invalid { origin: Some(k.clone()), message: m })?;
        }
        let origin = file.map(|p| p.display().to_string()).or(Some("environment".into()));
        let mut cfg: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid { origin, message: e.message().to_string() })?;
        if let Some(d) = &flags.data_dir {
            cfg.data_dir = d.clone();
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Cross-field and range rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid { origin: None, message: m });
        if let Some(w) = &self.ledger.witness {
            match w.kind.as_str() {
                "local" if w.path.is_none() => return bad("ledger.witness.kind = \"local\" needs ledger.witness.path (a folder)".into()),
                "local" => {}
                "s3" if w.bucket.is_empty() => return bad("ledger.witness.kind = \"s3\" needs ledger.witness.bucket".into()),
                "s3" if w.bucket == self.store.bucket && w.prefix == self.store.prefix && w.endpoint == self.store.endpoint => {
                    return bad("ledger.witness names the archive's own store: give it another bucket or prefix".into());
                }
                "s3" => {}
                k => return bad(format!("ledger.witness.kind = {k:?}: use \"local\" or \"s3\"")),
            }
        }
        match self.store.kind.as_str() {
            "local" => {}
            "s3" => {
                let st = &self.store;
                if st.bucket.is_empty() {
                    return bad("store.kind = \"s3\" needs store.bucket (or ARKISTO__STORE__BUCKET)".into());
                }
                if !(st.endpoint.is_empty() || st.endpoint.starts_with("http://") || st.endpoint.starts_with("https://")) {
                    return bad(format!("store.endpoint = {:?}: must start with http:// or https://", st.endpoint));
                }
                if st.access_key_id.is_empty() != st.secret_access_key.is_empty() {
                    return bad("store.access_key_id and store.secret_access_key go together: set both, or neither to use the usual AWS credential sources".into());
                }
                if !st.prefix.is_empty() && (st.prefix.starts_with('/') || !st.prefix.ends_with('/') || st.prefix.contains("..")) {
                    return bad(format!("store.prefix = {:?}: must be relative, end with '/', and contain no '..'", st.prefix));
                }
                if st.part_size_mib < 5 || st.part_size_mib > 5120 {
                    return bad(format!("store.part_size_mib = {} (S3 allows 5–5120)", st.part_size_mib));
                }
                if st.max_concurrency == 0 || st.max_attempts == 0 || st.timeout_secs == 0 {
                    return bad("store.max_concurrency, store.max_attempts and store.timeout_secs must be at least 1".into());
                }
                if !["auto", "sha256", "none"].contains(&st.checksum.as_str()) {
                    return bad(format!("store.checksum = {:?} (auto, sha256 or none)", st.checksum));
                }
                if !["off", "governance", "compliance"].contains(&st.lock_mode.as_str()) {
                    return bad(format!("store.lock_mode = {:?} (off, governance or compliance)", st.lock_mode));
                }
                if st.lock_mode != "off" && st.checksum == "none" {
                    return bad("store.lock_mode needs an integrity header on every write: set store.checksum to auto or sha256".into());
                }
            }
            other => return bad(format!("store.kind = {other:?} (local or s3)")),
        }
        if self.store.require_worm && self.store.kind != "s3" {
            return bad(
                "store.require_worm = true: a local directory cannot enforce immutability; use an S3 bucket with Object Lock".into()
            );
        }
        match self.index.kind.as_str() {
            "sqlite" => {}
            "postgres" => {
                let u = self.index.url.expose();
                if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                    return bad("index.kind = \"postgres\" needs index.url = \"postgres://…\" (or ARKISTO__INDEX__URL)".into());
                }
            }
            other => return bad(format!("index.kind = {other:?} (sqlite or postgres)")),
        }
        if !(1..=19).contains(&self.pack.compression_level) {
            return bad(format!("pack.compression_level = {} (must be 1–19)", self.pack.compression_level));
        }
        if !(1..=4096).contains(&self.pack.target_size_mib) {
            return bad(format!("pack.target_size_mib = {} (must be 1–4096)", self.pack.target_size_mib));
        }
        if !(1..=64).contains(&self.pack.upload_concurrency) {
            return bad(format!("pack.upload_concurrency = {} (must be 1–64)", self.pack.upload_concurrency));
        }
        if self.pack.max_open_packs == 0 {
            return bad("pack.max_open_packs must be at least 1".into());
        }
        if self.dict.train_samples < self.dict.min_samples || self.dict.min_samples < 5 {
            return bad("dict.min_samples must be at least 5 and at most dict.train_samples".into());
        }
        if !(0.0..=1.0).contains(&self.dict.retrain_below) {
            return bad("dict.retrain_below must be between 0 and 1".into());
        }
        if !(1..=1024).contains(&self.dict.max_size_kib) {
            return bad("dict.max_size_kib must be 1–1024".into());
        }
        let policies = self.retention.policies().map_err(|e| ConfigError::Invalid { origin: None, message: e.to_string() })?;
        if !self.retention.default_class.is_empty() && !policies.main.contains_key(&self.retention.default_class) {
            return bad(format!("retention.default_class = {:?}: no rule covers that class", self.retention.default_class));
        }
        if !(self.serve.fixity_share > 0.0 && self.serve.fixity_share <= 1.0) {
            return bad(format!("serve.fixity_share = {} (must be more than 0 and at most 1)", self.serve.fixity_share));
        }
        if self.ingest.max_xml_depth < 8 {
            return bad("ingest.max_xml_depth must be at least 8".into());
        }
        Ok(())
    }

    /// Directory of the local store.
    pub fn store_dir(&self) -> PathBuf {
        self.store.path.clone().unwrap_or_else(|| self.data_dir.join("store"))
    }
    /// The checkpoint signing key file.
    pub fn signing_key_path(&self) -> PathBuf {
        self.ledger.signing_key.clone().unwrap_or_else(|| self.data_dir.join("checkpoint.key"))
    }
    /// SQLite index file.
    pub fn index_path(&self) -> PathBuf {
        self.index.path.clone().unwrap_or_else(|| self.data_dir.join("index.sqlite"))
    }
    /// Quarantine directory.
    pub fn quarantine_dir(&self) -> PathBuf {
        self.data_dir.join("quarantine")
    }
    /// Temp directory for packs being built.
    pub fn tmp_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }
    /// Worker threads to use.
    pub fn workers(&self) -> usize {
        if self.ingest.workers > 0 { self.ingest.workers } else { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) }
    }
}

fn set_path(t: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    match path {
        [] => Err("empty key".into()),
        [last] => {
            t.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let e = t.entry(first.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match e {
                toml::Value::Table(sub) => set_path(sub, rest, value),
                _ => Err(format!("{first} is not a section")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_env_flags_in_that_order() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("c.toml");
        std::fs::write(&f, "data_dir = \"/x\"\n[pack]\ntarget_size_mib = 8\n").unwrap();
        let env = vec![("ARKISTO__PACK__COMPRESSION_LEVEL".to_string(), "5".to_string()), ("OTHER".into(), "1".into())];
        let c = Config::load(Some(&f), env, &Flags { data_dir: Some("/y".into()) }).unwrap();
        assert_eq!(c.pack.target_size_mib, 8);
        assert_eq!(c.pack.compression_level, 5);
        assert_eq!(c.data_dir, PathBuf::from("/y"));
        assert_eq!(Config::load(None, vec![], &Flags::default()).unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let e = Config::load(None, vec![("ARKISTO__PACK__TARGET_SIZE".into(), "5".into())], &Flags::default()).unwrap_err();
        assert!(e.to_string().contains("target_size"), "{e}");
        let e = Config::load(None, vec![("ARKISTO__PACK__COMPRESSION_LEVEL".into(), "99".into())], &Flags::default()).unwrap_err();
        assert!(e.to_string().contains("compression_level"), "{e}");
    }

    #[test]
    fn shipped_configs_parse() {
        for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/configs")).unwrap() {
            let p = entry.unwrap().path();
            Config::load(Some(&p), vec![], &Flags::default()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
}
