//! One sequential pass over a stored pack: every byte is hashed once, and each record's frames
//! are handed over as soon as they have been read. Verify and rebuild both read packs this
//! way, so a pack costs one read (a few large ranged GETs on S3), not one per frame on top of
//! a whole-object pass. Memory stays at one chunk plus one record.

use crate::digest::{Hasher, Sha256};
use crate::record::RecordLocation;
use crate::store::{ObjectKey, ObjectStore, StoreError};

/// Bytes read per request.
const CHUNK: u64 = 8 << 20;

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
    mut each: impl FnMut(&RecordLocation, Option<(&[u8], &[u8])>),
) -> Result<Sha256, StoreError> {
    let mut order: Vec<&RecordLocation> = records.iter().collect();
    order.sort_by_key(|l| span(l).0);
    let (mut h, mut buf, mut start, mut off, mut next) = (Hasher::new(), Vec::new(), 0u64, 0u64, 0usize);
    loop {
        // Hand over every record whose frames have been read completely.
        while let Some(l) = order.get(next) {
            let (s, e) = span(l);
            if e > off {
                break;
            }
            let frames = if s >= start {
                frame(&buf, l.meta_offset - start, l.meta_len).zip(frame(&buf, l.data_offset - start, l.data_len))
            } else {
                None // overlaps a record already handed over: not a pack arkisto wrote
            };
            each(l, frames);
            next += 1;
        }
        if off >= size {
            break;
        }
        // Keep only what the remaining records need, then read on.
        let keep = order.get(next).map_or(off, |l| span(l).0).clamp(start, off);
        buf.drain(..(keep - start) as usize);
        start = keep;
        let n = (size - off).min(CHUNK);
        let chunk = store.get_range(key, off, n).await?;
        h.update(&chunk);
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
        let sha = scan_pack(&store, &key, done.size, &done.table.records, |_, f| {
            let (m, d) = f.unwrap();
            seen.push((m.to_vec(), d.to_vec()));
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
