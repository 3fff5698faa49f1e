//! One sequential pass over a stored pack: every byte is hashed once, and each record's frames
//! are handed over as soon as they have been read. Verify and rebuild both read packs this
//! way, so a pack costs one read (a few large ranged GETs on S3), not one per frame on top of
//! a whole-object pass. Memory stays at one chunk plus one record; a record whose data frame
//! is larger than [`STREAM_ABOVE`] is checked as it streams past (both digests, the size), and
//! only the verdict is handed over, so memory stays at one chunk whatever the record's size.

use crate::digest::{Hasher, Sha256};
use crate::record::RecordLocation;
use crate::store::{ObjectKey, ObjectStore, StoreError};

/// Bytes read per request.
const CHUNK: u64 = 8 << 20;

/// Data frames larger than this are checked while they stream past, never buffered whole.
pub const STREAM_ABOVE: u64 = 32 << 20;

/// A record's frames as the scan hands them over.
pub enum Frames<'a> {
    /// Both frames, as stored.
    Whole {
        /// Metadata frame.
        meta: &'a [u8],
        /// Data frame.
        data: &'a [u8],
    },
    /// A large record: its metadata frame, and the verdict on its data frame, checked as it
    /// streamed past (stored digest, decoded size and original digest).
    Streamed {
        /// Metadata frame.
        meta: &'a [u8],
        /// `Err` says what did not match.
        data: Result<(), String>,
    },
}

/// The streaming check of one large data frame.
struct LargeCheck {
    stored: Hasher,
    dec: Option<zstd::stream::write::Decoder<'static, crate::digest::HashingWriter<std::io::Sink>>>,
    failed: Option<String>,
}

impl LargeCheck {
    fn new(l: &RecordLocation) -> Self {
        let (dec, failed) = if l.dict_id != 0 {
            (None, Some(format!("record {}: a large frame with dictionary {} (arkisto never writes one)", l.record_id, l.dict_id)))
        } else {
            match zstd::stream::write::Decoder::new(crate::digest::HashingWriter::new(std::io::sink())) {
                Ok(d) => (Some(d), None),
                Err(e) => (None, Some(format!("zstd: {e}"))),
            }
        };
        Self { stored: Hasher::new(), dec, failed }
    }

    fn feed(&mut self, l: &RecordLocation, bytes: &[u8]) {
        use std::io::Write;
        self.stored.update(bytes);
        if self.failed.is_some() {
            return;
        }
        if let Some(d) = self.dec.as_mut() {
            if let Err(e) = d.write_all(bytes) {
                self.failed = Some(format!("record {}: zstd: {e}", l.record_id));
            } else if d.get_ref().written() > l.original_size {
                self.failed = Some(format!("record {}: decodes to more bytes than the pack table says", l.record_id));
            }
        }
    }

    fn finish(self, l: &RecordLocation) -> Result<(), String> {
        use std::io::Write;
        if self.stored.finish() != l.stored_sha256 {
            return Err(format!("stored digest mismatch for record {}", l.record_id));
        }
        if let Some(f) = self.failed {
            return Err(f);
        }
        let Some(mut d) = self.dec else { return Err("no decoder".into()) };
        d.flush().map_err(|e| format!("record {}: zstd: {e}", l.record_id))?;
        let (_, digest, n) = d.into_inner().finish();
        if n != l.original_size || digest != l.record_id.0 {
            return Err(format!("original digest mismatch for record {}", l.record_id));
        }
        Ok(())
    }
}

fn span(l: &RecordLocation) -> (u64, u64) {
    let end = |o: u64, n: u64| o.saturating_add(n);
    (l.meta_offset.min(l.data_offset), end(l.meta_offset, l.meta_len).max(end(l.data_offset, l.data_len)))
}

fn frame(buf: &[u8], from: u64, len: u64) -> Option<&[u8]> {
    let a = usize::try_from(from).ok()?;
    buf.get(a..a.checked_add(usize::try_from(len).ok()?)?)
}

/// Read `key` (of `size` bytes) front to back; call `each` with every record of `records` and
/// its (metadata frame, data frame), or `None` when the frames are not where the table says.
/// Returns the SHA-256 of the whole object.
pub async fn scan_pack(
    store: &dyn ObjectStore,
    key: &ObjectKey,
    size: u64,
    records: &[RecordLocation],
    mut each: impl FnMut(&RecordLocation, Option<Frames<'_>>),
) -> Result<Sha256, StoreError> {
    let mut order: Vec<&RecordLocation> = records.iter().collect();
    order.sort_by_key(|l| span(l).0);
    let (mut h, mut buf, mut start, mut off, mut next) = (Hasher::new(), Vec::new(), 0u64, 0u64, 0usize);
    // The large record being streamed: its metadata frame (copied out) and its check.
    let large = |l: &RecordLocation| l.data_len > STREAM_ABOVE && l.meta_offset.saturating_add(l.meta_len) <= l.data_offset;
    let mut stash: Option<Vec<u8>> = None;
    let mut check: Option<LargeCheck> = None;
    loop {
        // Hand over every record whose frames have been read completely.
        while let Some(l) = order.get(next) {
            let (s, e) = span(l);
            if e > off {
                break;
            }
            if large(l) {
                let verdict = check.take().map_or_else(|| Err("data frame not read".to_string()), |c| c.finish(l));
                match stash.take() {
                    Some(meta) => each(l, Some(Frames::Streamed { meta: &meta, data: verdict })),
                    None => each(l, None),
                }
            } else {
                let frames = if s >= start {
                    frame(&buf, l.meta_offset - start, l.meta_len)
                        .zip(frame(&buf, l.data_offset - start, l.data_len))
                        .map(|(meta, data)| Frames::Whole { meta, data })
                } else {
                    None // overlaps a record already handed over: not a pack arkisto wrote
                };
                each(l, frames);
            }
            next += 1;
        }
        if off >= size {
            break;
        }
        // A large record next: copy its metadata frame out once read, and keep nothing else.
        let next_large = order.get(next).filter(|l| large(l));
        if let Some(l) = next_large
            && stash.is_none()
            && l.meta_offset >= start
            && l.meta_offset + l.meta_len <= off
        {
            stash = frame(&buf, l.meta_offset - start, l.meta_len).map(<[u8]>::to_vec);
        }
        // Keep only what the remaining records need, then read on.
        let keep = match next_large {
            Some(_) if stash.is_some() => off,
            _ => order.get(next).map_or(off, |l| span(l).0).clamp(start, off),
        };
        buf.drain(..(keep - start) as usize);
        start = keep;
        let n = (size - off).min(CHUNK);
        let chunk = store.get_range(key, off, n).await?;
        h.update(&chunk);
        if let Some(l) = next_large {
            // Feed the part of this chunk that is the large record's data frame.
            let (a, b) = (l.data_offset.max(off), (l.data_offset + l.data_len).min(off + n));
            if a < b {
                check.get_or_insert_with(|| LargeCheck::new(l)).feed(l, &chunk[(a - off) as usize..(b - off) as usize]);
            }
        }
        buf.extend_from_slice(&chunk);
        off += n;
    }
    for l in &order[next..] {
        each(l, None); // beyond the end of the object
    }
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::{PackWriter, compress_record};
    use crate::store::LocalStore;

    #[tokio::test]
    async fn one_pass_hands_over_every_record_and_hashes_the_whole_object() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("s")).unwrap();
        let mut w = PackWriter::create(dir.path(), crate::ids::PackId::generate(), "t".into()).unwrap();
        let mut want = Vec::new();
        for i in 0..50u32 {
            let bytes = format!("<r>{}</r>", "x".repeat(i as usize * 997)).into_bytes();
            let (frame, sha, _) = compress_record(&bytes, 3, None, u64::MAX).unwrap();
            let meta = format!("meta {i}").into_bytes();
            let from = RecordLocation {
                record_id: crate::ids::RecordId(Sha256::of(&bytes)),
                meta_offset: 0,
                meta_len: meta.len() as u64,
                meta_sha256: Sha256::of(&meta),
                data_offset: 0,
                data_len: frame.len() as u64,
                stored_sha256: sha,
                original_size: bytes.len() as u64,
                dict_id: 0,
            };
            w.append_raw(&meta, &frame, &from).unwrap();
            want.push((meta, frame));
        }
        let done = w.finish().unwrap();
        let key = ObjectKey::new("packs/t.pack").unwrap();
        store.put_file(&key, &done.path, &Default::default()).await.unwrap();
        let mut seen = Vec::new();
        let sha = scan_pack(&store, &key, done.size, &done.table.records, |_, f| match f.unwrap() {
            Frames::Whole { meta, data } => seen.push((meta.to_vec(), data.to_vec())),
            Frames::Streamed { .. } => panic!("small records are handed over whole"),
        })
        .await
        .unwrap();
        assert_eq!(sha, done.sha256);
        assert_eq!(seen, want);
        // A record the object does not hold is reported, not skipped.
        let mut missing = done.table.records[0].clone();
        missing.data_offset = done.size + 10;
        let mut nones = 0;
        scan_pack(&store, &key, done.size, &[missing], |_, f| nones += f.is_none() as usize).await.unwrap();
        assert_eq!(nones, 1);
    }
}
