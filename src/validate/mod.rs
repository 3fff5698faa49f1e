//! Validation: the only place a [`ValidatedRecord`] is made.
//!
//! Takes an ingested input and its parsed header, applies the header rules, and returns either
//! a validated record (with any warnings) or the findings that quarantine it. It never writes.

pub mod findings;
pub mod hetu;
pub mod mapped;

use chrono::NaiveDate;

use crate::formats::cda::CdaDocument;
use crate::ids::{DocumentId, HETU_OID, RunId, SubjectId};
use crate::ingest::IngestedRecord;
use crate::record::{META_VERSION, RecordMeta};
use crate::retention::{self, Facts, Policies};
use findings::{Code, Finding, Severity};

/// What to do with a problem that does not stop a record from being understood: a
/// henkilötunnus with a wrong check character or malformed (V005, V006), or a header field
/// missing or unparseable (V004, V007).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProblemPolicy {
    /// Quarantine the record.
    Quarantine,
    /// Archive it, keeping the finding as a warning (default: a record with a mistyped or
    /// masked identifier is still a record the law requires us to keep).
    #[default]
    Flag,
}

/// Run-wide context for validation.
#[derive(Clone, Debug)]
pub struct Context {
    /// Source system name.
    pub source: String,
    /// Run id.
    pub run_id: RunId,
    /// Evaluation date for retention.
    pub today: NaiveDate,
    /// Ingest timestamp (RFC 3339).
    pub now: String,
    /// Policy for henkilötunnus problems (V005, V006).
    pub invalid_hetu: ProblemPolicy,
    /// Policy for missing or unparseable header fields (V004, V007).
    pub incomplete_header: ProblemPolicy,
    /// Retention rule sets.
    pub policies: std::sync::Arc<Policies>,
    /// Class for records whose header names none (`retention.default_class`).
    pub default_class: Option<String>,
}

/// A record that passed validation: its metadata, its bytes and its searchable text.
/// Fields are private so that nothing but [`validate`] can make one.
#[derive(Debug)]
pub struct ValidatedRecord {
    meta: RecordMeta,
    bytes: Vec<u8>,
    narrative: String,
    /// A large record is not held in memory: its bytes are read from this file when packed.
    source: Option<std::path::PathBuf>,
}

impl ValidatedRecord {
    /// Archival metadata.
    pub fn meta(&self) -> &RecordMeta {
        &self.meta
    }
    /// Original bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// Narrative text for the search index.
    pub fn narrative(&self) -> &str {
        &self.narrative
    }
    /// Attach a warning found after validation (e.g. a V008 document-id conflict seen in the
    /// index). Always kept as a warning: it never turns a valid record into a quarantined one.
    pub fn flag(&mut self, f: Finding) {
        self.meta.findings.push(f.with_severity(Severity::Warning));
    }

    /// A record attached to this one (a decoded embedded body): the parent's subject, dates
    /// and retention, its own bytes, type and findings, linked by `parent`.
    pub fn attachment(&self, path: String, bytes: Vec<u8>, media_type: String, findings: Vec<Finding>) -> ValidatedRecord {
        let record_id = crate::ids::RecordId(crate::digest::Sha256::of(&bytes));
        let meta = RecordMeta {
            record_id,
            original_size: bytes.len() as u64,
            media_type,
            format: "attachment".into(),
            document_id: None,
            set_id: None,
            version: None,
            title: Some(format!("{} (embedded body)", self.meta.title.as_deref().unwrap_or("document"))),
            input_path: path,
            findings,
            parent: Some(self.meta.record_id),
            ..self.meta.clone()
        };
        ValidatedRecord { meta, bytes, narrative: String::new(), source: None }
    }

    /// Mark the record as streamed from `path` (`size` bytes, already hashed into its id):
    /// its bytes are read when it is packed, never held whole in memory.
    pub fn stream_from(&mut self, path: std::path::PathBuf, size: u64) {
        self.meta.original_size = size;
        self.source = Some(path);
    }

    /// The file a streamed record is read from.
    pub fn source(&self) -> Option<&std::path::Path> {
        self.source.as_deref()
    }

    /// Take the parts.
    pub fn into_parts(self) -> (RecordMeta, Vec<u8>, String) {
        (self.meta, self.bytes, self.narrative)
    }
}

/// A parsed HL7 timestamp: the ISO text and the calendar date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ts {
    /// ISO 8601 text (`2016-08-03T09:24:22+0200`, or shorter for less precise values).
    pub iso: String,
    /// The date part.
    pub date: Option<NaiveDate>,
}

/// Parse an HL7 v3 TS (`YYYY[MM[DD[HH[MM[SS[.F]]]]]][±ZZZZ]`).
pub fn parse_ts(v: &str) -> Option<Ts> {
    let (main, zone) = match v.find(['+', '-']) {
        Some(i) => (&v[..i], Some(&v[i..])),
        None => (v, None),
    };
    let (digits, frac) = match main.split_once('.') {
        Some((d, f)) => (d, Some(f)),
        None => (main, None),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![4, 6, 8, 10, 12, 14].contains(&digits.len()) {
        return None;
    }
    if frac.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) || digits.len() != 14) {
        return None;
    }
    if let Some(z) = zone
        && (z.len() != 5 || !z[1..].bytes().all(|b| b.is_ascii_digit()) || z[1..3].parse::<u32>().ok()? > 14)
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits.get(r).and_then(|s| s.parse::<u32>().ok());
    let year = n(0..4)? as i32;
    let month = n(4..6).unwrap_or(1);
    let day = n(6..8).unwrap_or(1);
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let (h, mi, s) = (n(8..10).unwrap_or(0), n(10..12).unwrap_or(0), n(12..14).unwrap_or(0));
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut iso = format!("{year:04}");
    if digits.len() >= 6 {
        iso += &format!("-{month:02}");
    }
    if digits.len() >= 8 {
        iso += &format!("-{day:02}");
    }
    if digits.len() >= 10 {
        iso += &format!("T{h:02}");
    }
    if digits.len() >= 12 {
        iso += &format!(":{mi:02}");
    }
    if digits.len() >= 14 {
        iso += &format!(":{s:02}");
    }
    if let Some(f) = frac {
        iso += &format!(".{f}");
    }
    if let Some(z) = zone {
        iso += z;
    }
    Ok::<_, ()>(Ts { iso, date: (digits.len() >= 8).then_some(date) }).ok()
}

/// Validate a parsed CDA document. `Err` carries every finding (at least one error).
pub fn validate(input: IngestedRecord, doc: CdaDocument, ctx: &Context) -> Result<ValidatedRecord, Vec<Finding>> {
    let h = &doc.header;
    let mut f: Vec<Finding> = Vec::new();
    let id = h.id.as_ref().filter(|i| !i.root.trim().is_empty());
    if id.is_none() {
        f.push(Finding::new(Code::V004, "ClinicalDocument/id (root) is missing").at("ClinicalDocument/id"));
    }
    let created = match h.effective_time.as_deref() {
        None => {
            f.push(Finding::new(Code::V004, "ClinicalDocument/effectiveTime is missing").at("ClinicalDocument/effectiveTime"));
            None
        }
        Some(v) => ts_or_finding(v, "ClinicalDocument/effectiveTime", &mut f),
    };
    if h.subject_ids.is_empty() {
        f.push(Finding::new(Code::V004, "no recordTarget/patientRole/id: the subject is unknown").at("recordTarget/patientRole/id"));
    }
    let version = match h.version.as_deref() {
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                f.push(Finding::new(Code::V004, "versionNumber/@value is not an integer").at("versionNumber"));
                None
            }
        },
        None => None,
    };
    let birth_ts = h.birth_time.as_deref().and_then(|v| ts_or_finding(v, "patient/birthTime", &mut f));
    let service = h.service_event_time.as_deref().and_then(|v| ts_or_finding(v, "encompassingEncounter/effectiveTime", &mut f));

    // Subject ids: every henkilötunnus is checked; the first id is the primary subject.
    let hetu_sev = match ctx.invalid_hetu {
        ProblemPolicy::Quarantine => Severity::Error,
        ProblemPolicy::Flag => Severity::Warning,
    };
    let mut hetu_birth = None;
    let header_sev = match ctx.incomplete_header {
        ProblemPolicy::Quarantine => Severity::Error,
        ProblemPolicy::Flag => Severity::Warning,
    };
    for x in f.iter_mut().filter(|x| matches!(x.code, Code::V004 | Code::V007)) {
        x.severity = header_sev;
    }
    for (i, s) in h.subject_ids.iter().enumerate() {
        if s.root != HETU_OID {
            continue;
        }
        let loc = format!("recordTarget/patientRole/id[{}]", i + 1);
        match s.extension.as_deref().map(hetu::parse) {
            None => f.push(Finding::new(Code::V006, "henkilötunnus id has no extension").at(loc).with_severity(hetu_sev)),
            Some(Ok(ok)) => hetu_birth = hetu_birth.or(Some(ok.birth_date)),
            Some(Err(hetu::HetuProblem::Malformed(why))) => f.push(Finding::new(Code::V006, why).at(loc).with_severity(hetu_sev)),
            Some(Err(hetu::HetuProblem::CheckCharacter { expected, found })) => {
                f.push(
                    Finding::new(Code::V005, format!("check character is {found:?}, the digits give {expected:?}"))
                        .at(loc)
                        .with_severity(hetu_sev),
                );
                // The date digits are as given; only the check character disagrees. Using the
                // date keeps the birthday-sample rule (permanent) from being missed.
                hetu_birth = hetu_birth.or(s.extension.as_deref().and_then(hetu::birth_date_lenient));
            }
        }
    }
    let birth_date = hetu_birth.or(birth_ts.as_ref().and_then(|t| t.date));
    let eval = retention::evaluate(
        &ctx.policies,
        &Facts {
            class: ctx.default_class.clone(),
            kanta_class: h.local.retention_period_class.clone(),
            function_code: h.local.function_code.clone(),
            document_type: h.local.document_type.clone(),
            birth_date,
            birth_from_hetu: hetu_birth.is_some(),
            death_date: None,
            created: created.as_ref().and_then(|t| t.date),
            matter_closed: None,
            child_birth: None,
        },
        ctx.today,
    );
    if let Some(c) = &eval.unknown_code {
        f.push(
            Finding::new(Code::V011, format!("retentionPeriodClass {c:?} has no rule; retention undetermined"))
                .at("hl7fi:localHeader/retentionPeriodClass"),
        );
    }
    let retention = eval.retention;
    if f.iter().any(|x| x.severity == Severity::Error) {
        return Err(f);
    }
    let subject = h.subject_ids.first().map(|s| SubjectId { root: s.root.clone(), value: s.extension.clone().unwrap_or_default() });
    let meta = RecordMeta {
        meta_version: META_VERSION,
        record_id: input.record_id,
        original_size: input.bytes.len() as u64,
        media_type: "application/xml".into(),
        format: "cda-r2".into(),
        source: ctx.source.clone(),
        document_id: id.map(|i| DocumentId::from_ii(&i.root, i.extension.as_deref())),
        set_id: h.set_id.as_ref().map(|i| DocumentId::from_ii(&i.root, i.extension.as_deref()).0),
        version,
        subject,
        subject_birth_date: birth_date.map(|d| d.to_string()),
        title: h.title.clone(),
        doc_type: h.code.as_ref().map(|c| c.code.clone()),
        doc_type_name: h.code.as_ref().and_then(|c| c.display_name.clone()),
        created: created.map(|t| t.iso),
        service_time: service.map(|t| t.iso),
        custodian: h.custodian.as_ref().map(|i| DocumentId::from_ii(&i.root, i.extension.as_deref()).0),
        run_id: ctx.run_id,
        input_path: input.rel_path,
        ingested_at: ctx.now.clone(),
        retention,
        findings: f,
        language: h.language.clone(),
        local_header: Some(doc.header.local).filter(|l| *l != Default::default()),
        parent: None,
    };
    Ok(ValidatedRecord { meta, bytes: input.bytes, narrative: doc.narrative, source: None })
}

fn ts_or_finding(v: &str, loc: &str, f: &mut Vec<Finding>) -> Option<Ts> {
    let t = parse_ts(v.trim());
    if t.is_none() {
        f.push(Finding::new(Code::V007, format!("{loc} value is not an HL7 timestamp (YYYYMMDDhhmmss[+zzzz])")).at(loc.to_string()));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn timestamps_never_panic(s in "\\PC{0,24}") {
            let _ = parse_ts(&s);
        }
    }

    #[test]
    fn hl7_timestamps() {
        assert_eq!(parse_ts("20160803092422").unwrap().iso, "2016-08-03T09:24:22");
        assert_eq!(parse_ts("20160803092422+0300").unwrap().iso, "2016-08-03T09:24:22+0300");
        assert_eq!(parse_ts("1975").unwrap().iso, "1975");
        assert_eq!(parse_ts("19750705").unwrap().date, NaiveDate::from_ymd_opt(1975, 7, 5));
        for bad in ["", "2016-08-03", "20161303", "20160230", "2016080309242", "20160803092422+03", "201608030961"] {
            assert!(parse_ts(bad).is_none(), "{bad}");
        }
    }
}
