//! Putting the ledger together from its segments, as the store holds them: events merged by
//! sequence number (a flush retried after a crash may write overlapping segments), each with
//! the Merkle leaf hash of its stored line.

use std::collections::BTreeMap;

use super::{Event, check_chain, decode_segment_lines};
use crate::digest::Sha256;
use crate::merkle;

/// The (first, last) sequence numbers a segment key names (`ledger/<first>-<last>.jsonl.zst`).
pub fn parse_segment_key(key: &str) -> Option<(i64, i64)> {
    let name = key.rsplit('/').next()?.strip_suffix(".jsonl.zst")?;
    let (a, b) = name.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Collects segments in any order.
#[derive(Default)]
pub struct Assembler {
    by_seq: BTreeMap<i64, (Event, Sha256)>,
    problems: Vec<(String, String)>,
}

/// The ledger put together.
#[derive(Debug, Default)]
pub struct Assembled {
    /// Events in sequence order.
    pub events: Vec<Event>,
    /// Each event's Merkle leaf hash, aligned with `events`.
    pub leaves: Vec<Sha256>,
    /// Segment problems: (key, what is wrong). Their events are missing from `events`.
    pub problems: Vec<(String, String)>,
    /// The first break in the chain, if any: (seq, what).
    pub chain: Option<(i64, String)>,
}

impl Assembler {
    /// Add one segment's bytes.
    pub fn add(&mut self, key: &str, bytes: &[u8]) {
        match decode_segment_lines(bytes) {
            Ok(lines) => {
                // A segment holds the events its key names, in order, each once.
                if let Some((first, last)) = parse_segment_key(key)
                    && !lines.iter().map(|(e, _)| e.seq).eq(first..=last)
                {
                    self.problems.push((
                        key.to_string(),
                        format!("does not hold events {first} to {last} in order (reordered, truncated or edited)"),
                    ));
                }
                for (e, line) in lines {
                    match self.by_seq.get(&e.seq) {
                        Some((there, _)) if there.hash != e.hash => {
                            self.problems.push((key.to_string(), format!("holds another event {} than an earlier segment", e.seq)))
                        }
                        Some(_) => {}
                        None => {
                            let leaf = merkle::leaf_hash(line.as_bytes());
                            self.by_seq.insert(e.seq, (e, leaf));
                        }
                    }
                }
            }
            Err(e) => self.problems.push((key.to_string(), format!("does not decode: {e}"))),
        }
    }

    /// Record a problem found outside the segment bytes (e.g. a segment that could not be read).
    pub fn problem(&mut self, key: &str, why: String) {
        self.problems.push((key.to_string(), why));
    }

    /// The events in order, their leaves, the problems and the chain's first break.
    pub fn finish(self) -> Assembled {
        let (events, leaves): (Vec<Event>, Vec<Sha256>) = self.by_seq.into_values().unzip();
        let chain = check_chain(&events);
        Assembled { events, leaves, problems: self.problems, chain }
    }
}
