//! The ledger: an append-only, hash-chained sequence of events (PREMIS event type names plus
//! access events). Each event carries its predecessor's hash, so an edited or truncated log is
//! detectable. Events are first committed in the index (in the same transaction as the state
//! change they record), then written to the store as segments, from which `index rebuild`
//! replays them. Events never contain document content.
//!
//! An event is stored as the canonical JSON of its fields (encoding 2, [`canonical`]) and its
//! hash is the SHA-256 of exactly those bytes: nothing is ever re-serialised to be checked.
//! Events written before encoding 2 (no `v` field, a `hash` field in the line) are checked
//! the way they were written.

pub mod canonical;
mod segments;

use serde::{Deserialize, Serialize};

pub use canonical::FloatInEvent;
pub use segments::{Assembled, Assembler, parse_segment_key};

use crate::digest::Sha256;

/// The event encoding arkisto writes (FORMAT.md section 5).
pub const EVENT_ENCODING: u32 = 2;

/// PREMIS event type for archiving a pack's records.
pub const INGESTION: &str = "ingestion";
/// PREMIS event type for a fixity check.
pub const FIXITY_CHECK: &str = "fixity check";
/// PREMIS event type for handing out a record's bytes.
pub const DISSEMINATION: &str = "dissemination";
/// PREMIS event type for validation (quarantines).
pub const VALIDATION: &str = "validation";
/// Searching or viewing personal data (metadata).
pub const ACCESS: &str = "access";
/// Index rebuilt from the store.
pub const INDEX_REBUILD: &str = "index rebuild";
/// A compression dictionary was created (PREMIS "creation").
pub const DICTIONARY: &str = "creation";
/// A fact about a subject arrived (e.g. a death date).
pub const FACT: &str = "fact recorded";
/// Records' retention was re-evaluated and changed.
pub const REEVALUATION: &str = "retention re-evaluation";
/// A legal hold was placed.
pub const HOLD_PLACED: &str = "legal hold placed";
/// A legal hold was removed.
pub const HOLD_REMOVED: &str = "legal hold removed";
/// A disposal plan was made.
pub const DISPOSAL_PLAN: &str = "disposal plan";
/// A disposal plan was approved.
pub const DISPOSAL_APPROVAL: &str = "disposal approval";
/// A record was destroyed (PREMIS "deletion"); its detail is the tombstone.
pub const DELETION: &str = "deletion";
/// A pack was rewritten without its disposed records.
pub const COMPACTION: &str = "pack compaction";
/// A disposal plan was carried out.
pub const DISPOSAL_EXECUTED: &str = "disposal executed";
/// Object Lock retain-until dates extended and legal holds synchronised.
pub const LOCK_RENEWAL: &str = "lock renewal";
/// A store capability probe (`arkisto store check`) and what it found.
pub const STORE_CHECK: &str = "store capability check";
/// An ingest run finished (its summary).
pub const RUN: &str = "ingest run";
/// An API token was issued (its id, holder, role and hash; never the secret).
pub const TOKEN_CREATED: &str = "api token created";
/// An archived attachment linked to one more record (`detail.links`: [parent, attachment] pairs).
pub const LINK: &str = "attachment linked";
/// A repair action (`detail`: an orphan pack adopted, with its digest, or removed).
pub const REPAIR: &str = "repair";
/// A checkpoint signing key was made or replaced (`detail`: `verifier_key`, `previous_key`,
/// and `announcement`, a note naming both keys signed by the previous one).
pub const KEY_ANNOUNCED: &str = "checkpoint key announced";
/// An API token was revoked.
pub const TOKEN_REVOKED: &str = "api token revoked";
/// Records handed over to long-term preservation as E-ARK SIPs (PREMIS "transfer";
/// `detail`: `transfer`, `date`, `records`, `packages`, and `changes` in the shape of a
/// re-evaluation's: each record's new decision, disposable from the transfer date).
pub const TRANSFER: &str = "transfer";

/// An event to append (seq and hashes are assigned on commit).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Event type (PREMIS name or `access`).
    pub event_type: String,
    /// Who (user or service).
    pub actor: String,
    /// Why, for access to personal data.
    pub purpose: Option<String>,
    /// The object concerned: record id, pack id, run id, or a subject id for access.
    pub object: String,
    /// `success`, `failure` or a short outcome word.
    pub outcome: String,
    /// Structured detail (identifiers, counts; never content).
    pub detail: serde_json::Value,
}

/// A committed ledger event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the ledger, from 1.
    pub seq: i64,
    /// When (RFC 3339, UTC).
    pub time: String,
    /// Event type.
    pub event_type: String,
    /// Who.
    pub actor: String,
    /// Why.
    pub purpose: Option<String>,
    /// Object.
    pub object: String,
    /// Outcome.
    pub outcome: String,
    /// Detail.
    pub detail: serde_json::Value,
    /// Hash of the previous event (zeros for the first).
    pub prev_hash: Sha256,
    /// Hash of this event: SHA-256 of `body` (encoding 2), or of the legacy serialisation.
    pub hash: Sha256,
    /// The event's bytes as stored (encoding 2), which `hash` covers; `None` for an event
    /// written in encoding 1.
    #[serde(skip)]
    pub body: Option<String>,
}

/// The fields of an encoding-2 event line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    v: u32,
    seq: i64,
    time: String,
    event_type: String,
    actor: String,
    purpose: Option<String>,
    object: String,
    outcome: String,
    detail: serde_json::Value,
    prev_hash: Sha256,
}

/// Just enough of a line to tell its encoding.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    v: Option<u32>,
}

#[derive(Serialize)]
struct Hashed<'a> {
    seq: i64,
    time: &'a str,
    event_type: &'a str,
    actor: &'a str,
    purpose: &'a Option<String>,
    object: &'a str,
    outcome: &'a str,
    detail: &'a serde_json::Value,
    prev_hash: &'a Sha256,
}

impl Event {
    /// Chain a new event after `prev_hash` at position `seq`, encoded canonically. Refused
    /// when the detail holds a float (it has no stable text form).
    pub fn chain(e: NewEvent, seq: i64, time: String, prev_hash: Sha256) -> Result<Self, FloatInEvent> {
        let fields = serde_json::json!({
            "v": EVENT_ENCODING, "seq": seq, "time": time, "event_type": e.event_type, "actor": e.actor,
            "purpose": e.purpose, "object": e.object, "outcome": e.outcome, "detail": e.detail, "prev_hash": prev_hash,
        });
        let body = canonical::encode(&fields)?;
        Ok(Event {
            seq,
            time,
            event_type: e.event_type,
            actor: e.actor,
            purpose: e.purpose,
            object: e.object,
            outcome: e.outcome,
            detail: e.detail,
            prev_hash,
            hash: Sha256::of(body.as_bytes()),
            body: Some(body),
        })
    }

    /// Read an encoding-2 event from its stored bytes; its hash is theirs.
    pub fn from_body(body: String) -> Result<Self, String> {
        let b: Body = serde_json::from_str(&body).map_err(|e| format!("event does not decode: {e}"))?;
        if b.v != EVENT_ENCODING {
            return Err(format!("event encoding {} is not known to this arkisto", b.v));
        }
        Ok(Event {
            seq: b.seq,
            time: b.time,
            event_type: b.event_type,
            actor: b.actor,
            purpose: b.purpose,
            object: b.object,
            outcome: b.outcome,
            detail: b.detail,
            prev_hash: b.prev_hash,
            hash: Sha256::of(body.as_bytes()),
            body: Some(body),
        })
    }

    /// Whether the fields equal what the stored bytes say (always, for an encoding-1 event,
    /// whose hash covers the fields themselves). An index row's query columns are copies of
    /// the bytes; this is how an edit of a copy is found.
    pub fn matches_body(&self) -> bool {
        let Some(body) = &self.body else { return true };
        Self::from_body(body.clone()).is_ok_and(|b| b == *self)
    }

    /// Read one segment line, whichever encoding wrote it.
    pub fn from_line(line: &str) -> Result<Self, String> {
        let probe: Probe = serde_json::from_str(line).map_err(|e| format!("event does not decode: {e}"))?;
        match probe.v {
            Some(_) => Self::from_body(line.to_string()),
            None => serde_json::from_str(line).map_err(|e| format!("event does not decode: {e}")),
        }
    }

    /// The bytes a segment stores for this event (one line, without its line end).
    pub fn line(&self) -> Result<String, String> {
        match &self.body {
            Some(b) => Ok(b.clone()),
            None => serde_json::to_string(self).map_err(|e| e.to_string()),
        }
    }

    /// The hash this event should have: the SHA-256 of its stored bytes (encoding 2), or of
    /// the encoding-1 serialisation it was written with.
    pub fn compute_hash(&self) -> Sha256 {
        if let Some(body) = &self.body {
            return Sha256::of(body.as_bytes());
        }
        let h = Hashed {
            seq: self.seq,
            time: &self.time,
            event_type: &self.event_type,
            actor: &self.actor,
            purpose: &self.purpose,
            object: &self.object,
            outcome: &self.outcome,
            detail: &self.detail,
            prev_hash: &self.prev_hash,
        };
        Sha256::of(&serde_json::to_vec(&h).unwrap_or_default())
    }
}

/// The first problem in a chain of events, if any: (seq, what is wrong).
pub fn check_chain(events: &[Event]) -> Option<(i64, String)> {
    let mut prev = Sha256([0; 32]);
    let first = events.first().map(|e| e.seq).unwrap_or(1);
    if first != 1 {
        return Some((first, "ledger does not start at event 1 (truncated at the front?)".into()));
    }
    for (expect_seq, e) in (1..).zip(events) {
        if e.seq != expect_seq {
            return Some((e.seq, format!("expected event {expect_seq}, found {} (events missing)", e.seq)));
        }
        if e.prev_hash != prev {
            return Some((e.seq, "previous-hash link broken".into()));
        }
        if e.compute_hash() != e.hash {
            return Some((e.seq, "event content does not match its hash (edited?)".into()));
        }
        if !e.matches_body() {
            return Some((e.seq, "event fields differ from the event's stored bytes (edited?)".into()));
        }
        prev = e.hash;
    }
    None
}

/// Object key of a ledger segment holding events `first..=last`.
pub fn segment_key(first: i64, last: i64) -> String {
    format!("ledger/{first:012}-{last:012}.jsonl.zst")
}

/// Encode events as a zstd-compressed JSON-lines segment: each event's stored bytes, a line
/// each.
pub fn encode_segment(events: &[Event]) -> std::io::Result<Vec<u8>> {
    let mut jsonl = Vec::new();
    for e in events {
        jsonl.extend_from_slice(e.line().map_err(std::io::Error::other)?.as_bytes());
        jsonl.push(b'\n');
    }
    zstd::bulk::compress(&jsonl, 3)
}

/// Decode a segment.
pub fn decode_segment(bytes: &[u8]) -> std::io::Result<Vec<Event>> {
    Ok(decode_segment_lines(bytes)?.into_iter().map(|(e, _)| e).collect())
}

/// Decode a segment, keeping each event's line exactly as stored (the bytes its Merkle leaf
/// covers, FORMAT.md section 5).
pub fn decode_segment_lines(bytes: &[u8]) -> std::io::Result<Vec<(Event, String)>> {
    let mut out = Vec::new();
    let mut d = zstd::stream::read::Decoder::new(bytes)?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut d, &mut text)?;
    for (i, line) in text.split('\n').enumerate().filter(|(_, l)| !l.is_empty()) {
        let e = Event::from_line(line).map_err(|e| std::io::Error::other(format!("line {}: {e}", i + 1)))?;
        out.push((e, line.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: &str) -> NewEvent {
        NewEvent {
            event_type: ACCESS.into(),
            actor: "a".into(),
            purpose: Some("p".into()),
            object: n.into(),
            outcome: "success".into(),
            detail: serde_json::json!({"n": n}),
        }
    }

    #[test]
    fn chain_detects_edits_and_gaps() {
        let mut prev = Sha256([0; 32]);
        let mut evs = Vec::new();
        for i in 1..=4 {
            let e = Event::chain(ev(&i.to_string()), i, "t".into(), prev).unwrap();
            prev = e.hash;
            evs.push(e);
        }
        assert_eq!(check_chain(&evs), None);
        let seg = decode_segment(&encode_segment(&evs).unwrap()).unwrap();
        assert_eq!(seg, evs);
        let mut edited = evs.clone();
        edited[2].actor = "mallory".into();
        assert_eq!(check_chain(&edited).unwrap().0, 3);
        let mut gap = evs.clone();
        gap.remove(1);
        assert_eq!(check_chain(&gap).unwrap().0, 3);
    }

    /// A JSON detail of any shape events use: nested objects and arrays, unicode (controls,
    /// astral planes), integers at both ends of i64 and u64, no floats.
    fn detail() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            any::<u64>().prop_map(|n| serde_json::json!(n)),
            "\\PC*".prop_map(serde_json::Value::String),
            any::<String>().prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn events_hash_the_same_after_write_and_read(details in proptest::collection::vec(detail(), 1..6), actor in "\\PC{0,20}", purpose in proptest::option::of(any_string())) {
            let mut prev = Sha256([0; 32]);
            let mut evs = Vec::new();
            for (i, d) in details.into_iter().enumerate() {
                let e = NewEvent { event_type: DICTIONARY.into(), actor: actor.clone(), purpose: purpose.clone(), object: format!("o{i}"), outcome: "success".into(), detail: d };
                let ev = Event::chain(e, i as i64 + 1, "2026-12-03T08:00:00Z".into(), prev).unwrap();
                prev = ev.hash;
                evs.push(ev);
            }
            let read = decode_segment(&encode_segment(&evs).unwrap()).unwrap();
            proptest::prop_assert_eq!(&read, &evs);
            proptest::prop_assert_eq!(check_chain(&read), None);
            for e in &read {
                // What an index stores and gives back: the body, and columns parsed from it.
                let again = Event::from_body(e.body.clone().unwrap()).unwrap();
                proptest::prop_assert_eq!(&again, e);
                proptest::prop_assert!(again.matches_body());
            }
        }
    }

    fn any_string() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::prelude::any::<String>()
    }

    #[test]
    fn floats_are_refused_with_the_field_named() {
        let mut e = ev("x");
        e.detail = serde_json::json!({"trained_ratio": 7.25});
        let err = Event::chain(e, 1, "t".into(), Sha256([0; 32])).unwrap_err();
        assert_eq!(err.path, "detail.trained_ratio");
    }

    /// Archives written before encoding 2 keep verifying: their lines carry a `hash` over the
    /// serialised fields, floats included, and the chain may go on in encoding 2.
    #[test]
    fn encoding_1_events_keep_verifying_and_chain_into_encoding_2() {
        let legacy = |seq: i64, prev: Sha256, detail: serde_json::Value| {
            let mut e = Event {
                seq,
                time: "2026-11-25T18:07:31Z".into(),
                event_type: DICTIONARY.into(),
                actor: "arkisto".into(),
                purpose: None,
                object: "dict".into(),
                outcome: "success".into(),
                detail,
                prev_hash: prev,
                hash: Sha256([0; 32]),
                body: None,
            };
            e.hash = e.compute_hash();
            e
        };
        let mut evs = Vec::new();
        let mut prev = Sha256([0; 32]);
        // Ratios whose shortest text once failed to survive a parse.
        for (i, r) in [7.123456789012345_f64, 0.1 + 0.2, 1.0 / 3.0, 22.549999999999997].iter().enumerate() {
            let e = legacy(i as i64 + 1, prev, serde_json::json!({"dict_id": 1, "trained_ratio": r, "source": "ä"}));
            prev = e.hash;
            evs.push(e);
        }
        let e = Event::chain(ev("new"), 5, "2026-12-03T08:00:00Z".into(), prev).unwrap();
        evs.push(e);
        let read = decode_segment(&encode_segment(&evs).unwrap()).unwrap();
        assert_eq!(read, evs);
        assert_eq!(check_chain(&read), None);
    }
}
