//! zstd dictionaries, one line of them per source: small XML records compress about 7× alone
//! but over 20× with a dictionary trained on their source's documents.
//!
//! A dictionary is trained from a source's first records, stored as an object of its own
//! (`dicts/<dict-id>`, the id being zstd's own dictionary id, which every frame header names),
//! recorded in the ledger, and never changed once used, so `zstd -d -D <dict>` reads any frame
//! without arkisto. This module trains, names, caches and checks dictionaries; it never
//! decides which records use one (that is the ingest stage).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::digest::Sha256;

/// A dictionary's id: zstd's dictionary id, as in the frame header (never 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DictId(pub u32);

impl std::fmt::Display for DictId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl DictId {
    /// The object key of this dictionary (`dicts/<id>`, FORMAT.md section 1).
    pub fn key(self) -> String {
        format!("dicts/{}", self.0)
    }
}

/// What the archive records about a dictionary (index row and ledger event detail).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DictInfo {
    /// Id.
    pub dict_id: DictId,
    /// Source it was trained for.
    pub source: String,
    /// SHA-256 of the dictionary object.
    pub sha256: Sha256,
    /// Size in bytes.
    pub size: u64,
    /// Records it was trained on.
    pub samples: u64,
    /// Compression ratio (original / stored) of the training records with this dictionary.
    /// Recorded in ledger events as integer parts per million (`trained_ratio_ppm`): events
    /// carry no floats. Events written before that carry the float `trained_ratio`.
    #[serde(rename = "trained_ratio_ppm", alias = "trained_ratio", with = "ratio_ppm")]
    pub trained_ratio: f64,
    /// When (RFC 3339).
    pub created_at: String,
}

/// A ratio as integer parts per million; reads either that or a legacy float ratio.
mod ratio_ppm {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ratio: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64((ratio.max(0.0) * 1e6).round() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Ppm(u64),
            Ratio(f64),
        }
        Ok(match Either::deserialize(d)? {
            Either::Ppm(p) => p as f64 / 1e6,
            Either::Ratio(r) => r,
        })
    }
}

/// Dictionary failures.
#[derive(Debug, thiserror::Error)]
pub enum DictError {
    /// The object is missing.
    #[error("dictionary {0} is missing from the store")]
    Missing(DictId),
    /// The object's bytes do not match the recorded digest, or are not a zstd dictionary.
    #[error("dictionary {0} is damaged: {1}")]
    Damaged(DictId, String),
    /// The store could not give the dictionary (its message).
    #[error("store: {0}")]
    Store(String),
    /// Training failed.
    #[error("dictionary training failed: {0}")]
    Train(String),
    /// The index could not say what digest the dictionary should have.
    #[error("dictionary lookup in the index failed: {0}")]
    Index(String),
}

impl DictError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            DictError::Missing(_) => "dict-missing",
            DictError::Damaged(..) => "dict-damaged",
            DictError::Store(_) => "dict-store",
            DictError::Train(_) => "dict-train",
            DictError::Index(_) => "dict-index",
        }
    }
}

/// A dictionary ready to compress and decompress with.
#[derive(Debug)]
pub struct Dictionary {
    /// Id.
    pub id: DictId,
    /// Raw dictionary bytes (as stored).
    pub bytes: Vec<u8>,
}

/// Train a dictionary of at most `max_size` bytes from `samples`. The size is scaled down
/// for small sample sets (a dictionary much larger than a tenth of its samples costs more
/// than it saves).
pub fn train(samples: &[Vec<u8>], max_size: usize) -> Result<Dictionary, DictError> {
    let total: usize = samples.iter().map(Vec::len).sum();
    let size = max_size.min(total / 8).max(2048);
    let bytes = zstd::dict::from_samples(samples, size).map_err(|e| DictError::Train(e.to_string()))?;
    let id = zstd::zstd_safe::get_dict_id_from_dict(&bytes).ok_or_else(|| DictError::Train("trained dictionary has no id".into()))?;
    Ok(Dictionary { id: DictId(id.get()), bytes })
}

/// Check that `bytes` are the zstd dictionary `id`.
pub fn check(id: DictId, bytes: &[u8], expect: Option<&Sha256>) -> Result<(), DictError> {
    if let Some(want) = expect
        && Sha256::of(bytes) != *want
    {
        return Err(DictError::Damaged(id, "digest differs from the one recorded when it was created".into()));
    }
    match zstd::zstd_safe::get_dict_id_from_dict(bytes) {
        Some(got) if got.get() == id.0 => Ok(()),
        _ => Err(DictError::Damaged(id, "not a zstd dictionary with this id".into())),
    }
}

/// The first bytes of formats that are compressed already: PDF, JPEG, PNG, ZIP/OOXML, gzip,
/// zstd. Spending zstd effort (or a dictionary) on them buys nothing.
pub fn looks_compressed(bytes: &[u8]) -> bool {
    const MAGIC: [&[u8]; 6] = [b"%PDF", b"\xFF\xD8\xFF", b"\x89PNG", b"PK\x03\x04", b"\x1F\x8B", b"\x28\xB5\x2F\xFD"];
    MAGIC.iter().any(|m| bytes.starts_with(m))
}

/// Dictionaries loaded for reading, by id; each is checked against its recorded digest once.
#[derive(Default)]
pub struct DictCache {
    loaded: Mutex<HashMap<DictId, Arc<Vec<u8>>>>,
}

impl DictCache {
    /// The dictionary `id` if it is loaded (and was checked when it was).
    pub fn cached(&self, id: DictId) -> Option<Arc<Vec<u8>>> {
        self.loaded.lock().ok().and_then(|m| m.get(&id).cloned())
    }

    /// Check `bytes` as dictionary `id` (against `expect`, the digest recorded for it, when
    /// known) and keep them for reading.
    pub fn insert_checked(&self, id: DictId, bytes: Vec<u8>, expect: Option<&Sha256>) -> Result<Arc<Vec<u8>>, DictError> {
        check(id, &bytes, expect)?;
        let d = Arc::new(bytes);
        if let Ok(mut m) = self.loaded.lock() {
            m.insert(id, d.clone());
        }
        Ok(d)
    }

    /// Put a dictionary just trained (and stored) into the cache.
    pub fn insert(&self, id: DictId, bytes: Arc<Vec<u8>>) {
        if let Ok(mut m) = self.loaded.lock() {
            m.insert(id, bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dictionary events written before encoding 2 carry the float `trained_ratio`; they are
    /// still read, and new ones carry integer parts per million.
    #[test]
    fn legacy_float_ratio_is_read_and_ppm_written() {
        let info: DictInfo = serde_json::from_value(serde_json::json!({
            "dict_id": 1, "source": "s", "sha256": crate::digest::Sha256([1; 32]), "size": 1, "samples": 1, "trained_ratio": 7.5, "created_at": "t"
        }))
        .unwrap();
        assert_eq!(info.trained_ratio, 7.5);
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(v["trained_ratio_ppm"], 7_500_000);
    }

    #[test]
    fn a_trained_dictionary_round_trips_and_is_named_in_frames() {
        let samples: Vec<Vec<u8>> = (0..200)
            .map(|i| {
                format!(
                    "<ClinicalDocument><title>Hoitokertomus {i}</title><text>Potilas kertoo päänsärystä {}</text></ClinicalDocument>",
                    i * 7
                )
                .into_bytes()
            })
            .collect();
        let d = train(&samples, 16 << 10).unwrap();
        check(d.id, &d.bytes, Some(&Sha256::of(&d.bytes))).unwrap();
        assert!(check(DictId(d.id.0 + 1), &d.bytes, None).is_err());
        let mut c = zstd::bulk::Compressor::with_dictionary(3, &d.bytes).unwrap();
        let frame = c.compress(&samples[3]).unwrap();
        assert_eq!(zstd::zstd_safe::get_dict_id_from_frame(&frame).map(|n| n.get()), Some(d.id.0));
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut zstd::stream::read::Decoder::with_dictionary(&frame[..], &d.bytes).unwrap(), &mut out).unwrap();
        assert_eq!(out, samples[3]);
        assert!(looks_compressed(b"%PDF-1.4") && !looks_compressed(b"<?xml"));
    }
}
