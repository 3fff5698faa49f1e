//! Checking a whole pack in one sequential pass, with memory bounded by one metadata frame
//! and the zstd window, whatever the pack's size: the digest of every byte, each metadata
//! frame against its table entry, each data frame's stored digest, and its decompressed bytes
//! against the record's id (the SHA-256 of the original).

use std::collections::HashMap;
use std::io::{self, BufReader, Read};

use crate::digest::{Hasher, HashingReader, HashingWriter, Sha256};
use crate::ids::RecordId;
use crate::pack::{self, PackTable, RecordLocation};

/// What one pass over a pack found.
#[derive(Debug)]
pub struct Scanned {
    /// SHA-256 of every byte read.
    pub sha256: Sha256,
    /// Bytes read.
    pub size: u64,
    /// Records whose frames all check out.
    pub good: Vec<RecordId>,
    /// Problems: (record, what is wrong).
    pub bad: Vec<(RecordId, String)>,
}

/// A reader that hashes what passes through it into a borrowed hasher.
struct Tee<'a, R> {
    inner: R,
    hasher: &'a mut Hasher,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn skip_to(r: &mut impl Read, pos: &mut u64, to: u64) -> io::Result<bool> {
    if to < *pos {
        return Ok(false);
    }
    let n = io::copy(&mut r.by_ref().take(to - *pos), &mut io::sink())?;
    *pos += n;
    Ok(*pos == to)
}

/// Check one data frame as it streams past: returns the bytes it read and what is wrong, if
/// anything.
fn check_data(r: &mut impl Read, loc: &RecordLocation, dict: Option<&Dict>) -> io::Result<(u64, Option<String>)> {
    let mut stored = Hasher::new();
    let mut tee = Tee { inner: r.by_ref().take(loc.data_len), hasher: &mut stored };
    let outcome = (|| -> io::Result<(Sha256, u64)> {
        let input = BufReader::new(&mut tee);
        let mut dec = match dict {
            Some(d) => zstd::stream::read::Decoder::with_prepared_dictionary(input, d)?,
            None => zstd::stream::read::Decoder::with_buffer(input)?,
        }
        .single_frame();
        let mut w = HashingWriter::new(io::sink());
        io::copy(&mut (&mut dec).take(loc.original_size.saturating_add(1)), &mut w)?;
        // Whatever of the frame the decoder left unread still counts for its digest.
        io::copy(&mut dec.finish(), &mut io::sink())?;
        let (_, d, n) = w.finish();
        Ok((d, n))
    })();
    // Read the frame to its end, whatever the decoder made of it.
    io::copy(&mut tee, &mut io::sink())?;
    let consumed = loc.data_len - tee.inner.limit();
    let stored = stored.finish();
    if stored != loc.stored_sha256 {
        return Ok((consumed, Some("data frame does not match its stored digest".into())));
    }
    Ok((
        consumed,
        match outcome {
            Err(e) => Some(format!("data frame does not decompress: {e}")),
            Ok((d, n)) if n != loc.original_size || d != loc.record_id.0 => Some("decompressed bytes do not match the record's id".into()),
            Ok(_) => None,
        },
    ))
}

/// A dictionary prepared once for every frame that uses it.
pub type Dict = zstd::dict::DecoderDictionary<'static>;

/// Prepare a dictionary's bytes (already checked against their digest) for [`scan`].
pub fn prepare(bytes: &[u8]) -> Dict {
    zstd::dict::DecoderDictionary::copy(bytes)
}

/// Read `pack` from its first byte to its end, checking every record of `table`; `dicts`
/// holds the dictionaries by id (already checked against their digests).
pub fn scan(pack_bytes: impl Read, table: &PackTable, dicts: &HashMap<u32, Dict>) -> io::Result<Scanned> {
    let mut r = HashingReader::new(io::BufReader::with_capacity(1 << 20, pack_bytes));
    let mut pos = 0u64;
    let mut out = Scanned { sha256: Sha256([0; 32]), size: 0, good: Vec::new(), bad: Vec::new() };
    let mut locs: Vec<&RecordLocation> = table.records.iter().collect();
    locs.sort_by_key(|l| l.meta_offset);
    for loc in locs {
        let id = loc.record_id;
        if loc.meta_len > (pack::MAX_META_JSON as u64) * 2 || !skip_to(&mut r, &mut pos, loc.meta_offset)? {
            out.bad.push((id, "metadata frame is not where the pack table says".into()));
            continue;
        }
        let mut meta = Vec::with_capacity(loc.meta_len as usize);
        pos += r.by_ref().take(loc.meta_len).read_to_end(&mut meta)? as u64;
        let meta = pack::meta_json(&meta, loc)
            .map_err(|e| e.to_string())
            .and_then(|j| serde_json::from_slice::<serde_json::Value>(&j).map_err(|e| format!("metadata frame is not JSON: {e}")))
            .and_then(|v| {
                if v.get("record_id").and_then(|x| x.as_str()) == Some(&id.to_string()) {
                    Ok(v)
                } else {
                    Err("metadata frame names another record".into())
                }
            });
        if let Err(why) = meta {
            out.bad.push((id, why));
            continue;
        }
        if !skip_to(&mut r, &mut pos, loc.data_offset)? {
            out.bad.push((id, "data frame is not where the pack table says".into()));
            continue;
        }
        let dict = match loc.dict_id {
            0 => None,
            n => match dicts.get(&n) {
                Some(d) => Some(d),
                None => {
                    out.bad.push((id, format!("needs dictionary {n}, which the store does not hold intact")));
                    continue;
                }
            },
        };
        let (consumed, problem) = check_data(&mut r, loc, dict)?;
        pos += consumed;
        match problem {
            Some(why) => out.bad.push((id, why)),
            None => out.good.push(id),
        }
    }
    io::copy(&mut r.by_ref(), &mut io::sink())?;
    let (sha256, size) = r.finish();
    out.sha256 = sha256;
    out.size = size;
    Ok(out)
}

/// Decode the footer and table of a pack from its last bytes and its table frame; `read`
/// gives (offset, len) ranges of the object.
pub fn table_of(size: u64, mut read: impl FnMut(u64, u64) -> io::Result<Vec<u8>>) -> Result<PackTable, String> {
    if size < pack::FOOTER_LEN as u64 {
        return Err("too small to be a pack".into());
    }
    let tail = read(size - pack::FOOTER_LEN as u64, pack::FOOTER_LEN as u64).map_err(|e| e.to_string())?;
    let footer = pack::decode_footer(&tail, size).map_err(|e| e.to_string())?;
    let frame = read(footer.table_offset, footer.table_len).map_err(|e| e.to_string())?;
    pack::decode_table(&frame, &footer).map_err(|e| e.to_string())
}
