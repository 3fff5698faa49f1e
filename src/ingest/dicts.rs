//! Dictionary life cycle during an ingest: sample a source's first records, train, store the
//! dictionary durably (object, index row, ledger event) *before* any frame that needs it can
//! reach a pack, recompress the sampled records with it, and retrain when recent records
//! compress well below the training ratio. Workers read the current dictionary from a slot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use tokio::runtime::Handle;

use super::pipeline::IngestError;
use crate::archive::{Archive, now};
use crate::config::DictConfig;
use crate::dict::{self, DictInfo, Dictionary};
use crate::digest::Sha256;
use crate::ledger::{self, NewEvent};
use crate::pack::CompressedRecord;
use crate::store::StoreError;

/// What workers compress with, and whether they should keep originals for training.
#[derive(Default)]
pub struct DictSlot {
    current: RwLock<Option<Arc<Dictionary>>>,
    sampling: AtomicBool,
}

impl DictSlot {
    /// The dictionary to use now, if any.
    pub fn current(&self) -> Option<Arc<Dictionary>> {
        self.current.read().ok().and_then(|g| g.clone())
    }
    /// Whether records should carry their original bytes (a dictionary is being trained).
    pub fn sampling(&self) -> bool {
        self.sampling.load(Ordering::Relaxed)
    }
    fn set(&self, d: Option<Arc<Dictionary>>, sampling: bool) {
        if let Ok(mut g) = self.current.write() {
            *g = d;
        }
        self.sampling.store(sampling, Ordering::Relaxed);
    }
}

/// The stage's side of dictionaries for one run and source.
pub struct Trainer {
    pub slot: Arc<DictSlot>,
    cfg: DictConfig,
    source: String,
    level: i32,
    buffer: Vec<(String, CompressedRecord)>,
    trained_ratio: f64,
    window: (u64, u64, u64),
    /// Dictionaries created in this run.
    pub created: Vec<DictInfo>,
}

impl Trainer {
    /// Set up for `source`: use its dictionary if it has one, else start sampling.
    pub fn start(archive: &Archive, handle: &Handle, source: &str) -> Result<Self, IngestError> {
        let cfg = archive.config.dict.clone();
        let slot = Arc::new(DictSlot::default());
        let mut trained_ratio = 0.0;
        if cfg.enabled_for(source) {
            match handle.block_on(archive.index.active_dict(source))? {
                Some(info) => {
                    let bytes = handle.block_on(archive.load_dict(info.dict_id, Some(&info.sha256))).map_err(|e| IngestError::Io {
                        what: format!("load dictionary {}", info.dict_id),
                        source: std::io::Error::other(e),
                    })?;
                    trained_ratio = info.trained_ratio;
                    slot.set(Some(Arc::new(Dictionary { id: info.dict_id, bytes: bytes.to_vec() })), false);
                }
                None => slot.set(None, true),
            }
        }
        Ok(Self {
            slot,
            cfg,
            source: source.to_string(),
            level: archive.config.pack.compression_level,
            buffer: Vec::new(),
            trained_ratio,
            window: (0, 0, 0),
            created: Vec::new(),
        })
    }

    /// Largest record that may use a dictionary.
    pub fn max_record(&self) -> u64 {
        self.cfg.max_record_kib << 10
    }

    /// Take a record. Returns the records ready to append now (none while sampling).
    pub fn take(
        &mut self,
        archive: &Archive,
        handle: &Handle,
        path: String,
        rec: CompressedRecord,
    ) -> Result<Vec<(String, CompressedRecord)>, IngestError> {
        if rec.original.is_some() && self.slot.sampling() {
            self.buffer.push((path, rec));
            if self.buffer.len() >= self.cfg.train_samples {
                return self.train(archive, handle);
            }
            return Ok(Vec::new());
        }
        let mut rec = rec;
        // Compressed while the dictionary was being trained: use it now that it exists.
        if rec.original.is_some()
            && let Some(cur) = self.slot.current()
            && rec.dict_id != cur.id.0
        {
            rec.recompress(self.level, &cur, self.max_record())
                .map_err(|e| IngestError::Io { what: "recompress with dictionary".into(), source: e })?;
        }
        rec.original = None;
        self.watch(&rec);
        Ok(vec![(path, rec)])
    }

    /// End of input: train from what was sampled if there is enough, and release the buffer.
    pub fn finish(&mut self, archive: &Archive, handle: &Handle) -> Result<Vec<(String, CompressedRecord)>, IngestError> {
        if self.buffer.len() >= self.cfg.min_samples {
            return self.train(archive, handle);
        }
        self.slot.set(self.slot.current(), false);
        Ok(std::mem::take(&mut self.buffer)
            .into_iter()
            .map(|(p, mut r)| {
                r.original = None;
                (p, r)
            })
            .collect())
    }

    /// Track the ratio of records using the current dictionary; start sampling for a new one
    /// when it drops well below the ratio at training time.
    fn watch(&mut self, rec: &CompressedRecord) {
        let Some(cur) = self.slot.current() else { return };
        if rec.dict_id != cur.id.0 {
            return;
        }
        let w = &mut self.window;
        w.0 += rec.meta.original_size;
        w.1 += rec.frame.len() as u64;
        w.2 += 1;
        // Judge over twice a training sample's worth of records.
        if w.2 >= 2 * self.cfg.train_samples as u64 {
            let ratio = w.0 as f64 / w.1.max(1) as f64;
            if self.trained_ratio > 0.0 && ratio < self.cfg.retrain_below * self.trained_ratio {
                self.slot.set(Some(cur), true);
            }
            self.window = (0, 0, 0);
        }
    }

    fn train(&mut self, archive: &Archive, handle: &Handle) -> Result<Vec<(String, CompressedRecord)>, IngestError> {
        let mut buffered = std::mem::take(&mut self.buffer);
        let max_record = self.max_record();
        let samples: Vec<Vec<u8>> = buffered
            .iter()
            .filter_map(|(_, r)| r.original.as_ref())
            .filter(|o| crate::pack::dict_eligible(o, max_record))
            .cloned()
            .collect();
        let io_err =
            |what: &str, e: &dyn std::fmt::Display| IngestError::Io { what: what.into(), source: std::io::Error::other(e.to_string()) };
        let trained = if samples.len() >= self.cfg.min_samples { dict::train(&samples, self.cfg.max_size_kib << 10).ok() } else { None };
        drop(samples);
        let Some(d) = trained else {
            // Nothing worth training on (e.g. all attachments): keep the frames as they are.
            self.slot.set(self.slot.current(), false);
            return Ok(buffered
                .into_iter()
                .map(|(p, mut r)| {
                    r.original = None;
                    (p, r)
                })
                .collect());
        };
        let d = Arc::new(d);
        let (mut orig, mut stored) = (0u64, 0u64);
        for (_, r) in buffered.iter_mut() {
            r.recompress(self.level, &d, max_record).map_err(|e| io_err("recompress with dictionary", &e))?;
            if r.dict_id == d.id.0 {
                orig += r.meta.original_size;
                stored += r.frame.len() as u64;
            }
            r.original = None;
        }
        let info = DictInfo {
            dict_id: d.id,
            source: self.source.clone(),
            sha256: Sha256::of(&d.bytes),
            size: d.bytes.len() as u64,
            samples: buffered.len() as u64,
            trained_ratio: orig as f64 / stored.max(1) as f64,
            created_at: now(),
        };
        // Durable before any frame that needs it is packed: object, then index row and event.
        match handle.block_on(archive.store.put_bytes(&crate::store::ObjectKey::trusted(d.id.key()), d.bytes.clone())) {
            Ok(()) => {}
            Err(StoreError::Exists(_)) => {
                let existing = handle.block_on(crate::store::get_all(&*archive.store, &crate::store::ObjectKey::trusted(d.id.key())))?;
                if existing != d.bytes {
                    return Err(io_err("store dictionary", &format!("dicts/{} exists with other bytes", d.id)));
                }
            }
            Err(e) => return Err(e.into()),
        }
        let event = NewEvent {
            event_type: ledger::DICTIONARY.into(),
            actor: "arkisto".into(),
            purpose: None,
            object: format!("dicts/{}", d.id),
            outcome: "success".into(),
            detail: serde_json::to_value(&info).unwrap_or_default(),
        };
        handle.block_on(archive.index.add_dict(&info, vec![event], &now()))?;
        archive.dicts.insert(d.id, Arc::new(d.bytes.clone()));
        self.trained_ratio = info.trained_ratio;
        self.created.push(info);
        self.slot.set(Some(d), false);
        Ok(buffered)
    }
}
