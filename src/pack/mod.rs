//! Packs: many records in one object, each record a metadata frame plus a zstd frame, with a
//! table and footer at the end (DESIGN.md "Storage format", FORMAT.md).
//!
//! This module builds packs in local temp files (streaming, bounded memory) and reads them
//! back from bytes; it never talks to a store or the index itself.

pub use arkisto_format::pack as format;
mod reader;
mod writer;

pub use reader::{PackError, decode_footer, decode_meta, decode_table, decompress_frame, decompress_frame_to};
pub use writer::{CompressedRecord, FinishedPack, PackWriter, compress, compress_file, compress_record, dict_eligible};

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::digest::Sha256;
    use crate::ids::{PackId, RecordId, RunId};
    use crate::record::RecordMeta;
    use crate::retention::{Disposal, Retention};

    fn meta(bytes: &[u8], title: String) -> RecordMeta {
        RecordMeta {
            meta_version: 1,
            record_id: RecordId(Sha256::of(bytes)),
            original_size: bytes.len() as u64,
            media_type: "application/xml".into(),
            format: "cda-r2".into(),
            source: "prop".into(),
            document_id: None,
            set_id: None,
            version: None,
            subject: None,
            subject_birth_date: None,
            title: Some(title),
            doc_type: None,
            doc_type_name: None,
            created: None,
            service_time: None,
            custodian: None,
            run_id: RunId::generate(),
            input_path: "x".into(),
            ingested_at: "2026-01-01T00:00:00Z".into(),
            retention: Retention {
                rule_id: "r".into(),
                ruleset: "s".into(),
                ruleset_version: "1".into(),
                class: None,
                disposal: Disposal::Permanent,
                lock_horizon: "2038-01-01".into(),
            },
            findings: vec![],
            local_header: None,
            parent: None,
            language: None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever goes into a pack comes out unchanged: bytes, metadata, digests.
        #[test]
        fn pack_write_then_read_returns_records_and_metadata_unchanged(
            records in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..3000), "\\PC{0,40}"), 1..12),
            level in 1i32..6,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut w = PackWriter::create(dir.path(), PackId::generate(), "2026-01-01T00:00:00Z".into()).unwrap();
            let mut expect = Vec::new();
            for (bytes, title) in &records {
                let (frame, stored_sha256, dict_id) = compress_record(bytes, level, None, u64::MAX).unwrap();
                let rec = CompressedRecord { meta: meta(bytes, title.clone()), frame, stored_sha256, dict_id, text: Default::default(), original: None, frame_file: None };
                let (loc, _) = w.append(&rec).unwrap();
                expect.push((bytes.clone(), rec.meta.clone(), loc));
            }
            let done = w.finish().unwrap();
            let pack = std::fs::read(&done.path).unwrap();
            prop_assert_eq!(Sha256::of(&pack), done.sha256);
            let footer = decode_footer(&pack[pack.len() - format::FOOTER_LEN..], pack.len() as u64).unwrap();
            let table = decode_table(&pack[footer.table_offset as usize..(footer.table_offset + footer.table_len) as usize], &footer).unwrap();
            prop_assert_eq!(&table, &done.table);
            for ((bytes, m, loc), t) in expect.iter().zip(&table.records) {
                prop_assert_eq!(loc, t);
                let mf = &pack[t.meta_offset as usize..(t.meta_offset + t.meta_len) as usize];
                prop_assert_eq!(&decode_meta(mf, t).unwrap(), m);
                let df = &pack[t.data_offset as usize..(t.data_offset + t.data_len) as usize];
                prop_assert_eq!(&decompress_frame(df, t, None).unwrap(), bytes);
            }
            // Plain zstd sees only the records' bytes, back to back.
            let all: Vec<u8> = expect.iter().flat_map(|(b, _, _)| b.clone()).collect();
            prop_assert_eq!(zstd::stream::decode_all(&pack[..]).unwrap(), all);
        }

        /// A streamed frame (large records, compressed from their file) is a frame like any
        /// other: it decodes to the file's bytes, its digest is the digest of its bytes, and a
        /// pack holding it reads back the same.
        #[test]
        fn streamed_frames_equal_in_memory_frames(bytes in proptest::collection::vec(any::<u8>(), 0..200_000), level in 1i32..4) {
            let dir = tempfile::tempdir().unwrap();
            let src = dir.path().join("src");
            std::fs::write(&src, &bytes).unwrap();
            let (path, len, sha) = compress_file(&src, dir.path(), level).unwrap();
            let frame = std::fs::read(&path).unwrap();
            prop_assert_eq!(frame.len() as u64, len);
            prop_assert_eq!(Sha256::of(&frame), sha);
            prop_assert_eq!(zstd::stream::decode_all(&frame[..]).unwrap(), bytes.clone());
            let mut w = PackWriter::create(dir.path(), PackId::generate(), "2026-01-01T00:00:00Z".into()).unwrap();
            let rec = CompressedRecord { meta: meta(&bytes, "big".into()), frame: vec![], stored_sha256: sha, dict_id: 0, text: Default::default(), original: None, frame_file: Some((path.clone(), len)) };
            let (loc, _) = w.append(&rec).unwrap();
            drop(rec);
            prop_assert!(!path.exists(), "the temp frame is removed once packed");
            let done = w.finish().unwrap();
            let pack = std::fs::read(&done.path).unwrap();
            let df = &pack[loc.data_offset as usize..(loc.data_offset + loc.data_len) as usize];
            prop_assert_eq!(decompress_frame(df, &loc, None).unwrap(), bytes);
        }
    }
}
