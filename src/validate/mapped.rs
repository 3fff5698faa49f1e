//! Validation of records cut out of a legacy export (vendor XML elements, CSV rows) and of
//! their attachments: the profile has already mapped the source's fields to the record model;
//! this applies the same rules as for CDA headers (henkilötunnus, dates, retention).

use chrono::NaiveDate;

use super::findings::{Code, Finding, Severity};
use super::{Context, ProblemPolicy, ValidatedRecord, hetu, parse_ts};
use crate::ids::{DocumentId, HETU_OID, RecordId, SubjectId};
use crate::ingest::IngestedRecord;
use crate::record::{META_VERSION, RecordMeta};
use crate::retention::{self, Facts};

/// Record-model values as the source gives them (raw text, not yet checked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapped {
    /// Subject id.
    pub subject_id: Option<String>,
    /// The source's document id.
    pub document_id: Option<String>,
    /// Document type.
    pub doc_type: Option<String>,
    /// Created date.
    pub created: Option<String>,
    /// Service date.
    pub service_date: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Organisation.
    pub organisation: Option<String>,
    /// Retention class value (source's code).
    pub retention_class: Option<String>,
    /// Subject birth date.
    pub birth_date: Option<String>,
}

/// How mapped values are read (from the profile).
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Profile name (document ids are namespaced by it).
    pub profile: String,
    /// Subject ids are henkilötunnus (true) or local numbers under `subject_root`.
    pub hetu: bool,
    /// OID of local subject ids.
    pub subject_root: Option<String>,
    /// Date formats tried after HL7 and ISO.
    pub date_formats: Vec<String>,
    /// Source class value → arkisto class.
    pub retention: std::collections::BTreeMap<String, String>,
    /// Language of the records' text (`fi`, `sv`), if the profile says.
    pub language: Option<String>,
}

/// One record to validate.
pub struct MappedInput {
    /// The bytes as read, with path and digest.
    pub input: IngestedRecord,
    /// `vendor-xml`, `csv-row` or `attachment`.
    pub format: &'static str,
    /// Media type of the bytes.
    pub media_type: String,
    /// Values.
    pub fields: Mapped,
    /// The record this one is attached to.
    pub parent: Option<RecordId>,
    /// Findings made while reading (kept as warnings, or errors that quarantine).
    pub findings: Vec<Finding>,
    /// Text for the index.
    pub narrative: String,
}

/// Parse a date: HL7 TS, ISO `YYYY-MM-DD` (optionally with a time), or one of `formats`.
pub fn parse_date(v: &str, formats: &[String]) -> Option<(String, Option<NaiveDate>)> {
    let v = v.trim();
    if let Some(t) = parse_ts(v) {
        return Some((t.iso, t.date));
    }
    if let Some(d) = v.get(..10).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        && (v.len() == 10 || v[10..].starts_with(['T', ' ']))
    {
        return Some((v.to_string(), Some(d)));
    }
    for f in formats {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(v, f) {
            return Some((dt.format("%Y-%m-%dT%H:%M:%S").to_string(), Some(dt.date())));
        }
    }
    for f in formats {
        if let Ok(d) = NaiveDate::parse_from_str(v, f) {
            return Some((d.to_string(), Some(d)));
        }
    }
    None
}

fn sev(p: ProblemPolicy) -> Severity {
    match p {
        ProblemPolicy::Quarantine => Severity::Error,
        ProblemPolicy::Flag => Severity::Warning,
    }
}

/// Validate a mapped record. `Err` carries every finding (at least one error) and the bytes
/// (to keep in quarantine: a cut-out record has no file of its own).
pub fn validate(m: MappedInput, rules: &Rules, ctx: &Context) -> Result<ValidatedRecord, (Vec<Finding>, Vec<u8>)> {
    let MappedInput { input, format, media_type, fields, parent, mut findings, narrative } = m;
    let f = &mut findings;
    let header_sev = sev(ctx.incomplete_header);
    let hetu_sev = sev(ctx.invalid_hetu);
    let date = |v: &Option<String>, what: &str, f: &mut Vec<Finding>| -> Option<(String, Option<NaiveDate>)> {
        let v = v.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        let d = parse_date(v, &rules.date_formats);
        if d.is_none() {
            f.push(
                Finding::new(Code::V007, format!("{what} is not a date in a known format (profile date_formats)"))
                    .at(what.to_string())
                    .with_severity(header_sev),
            );
        }
        d
    };
    let created = date(&fields.created, "created", f);
    let service = date(&fields.service_date, "service_date", f);
    let birth = date(&fields.birth_date, "birth_date", f);
    let subject_value = fields.subject_id.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let mut hetu_birth = None;
    let subject = match subject_value {
        // A failed join already says why the subject is unknown (V017).
        None if f.iter().any(|x| x.code == Code::V017) => None,
        None => {
            f.push(Finding::new(Code::V004, "no subject id: the client or patient is unknown").at("subject_id").with_severity(header_sev));
            None
        }
        Some(v) if rules.hetu => {
            match hetu::parse(v) {
                Ok(h) => hetu_birth = Some(h.birth_date),
                Err(hetu::HetuProblem::Malformed(why)) => f.push(Finding::new(Code::V006, why).at("subject_id").with_severity(hetu_sev)),
                Err(hetu::HetuProblem::CheckCharacter { expected, found }) => {
                    f.push(
                        Finding::new(Code::V005, format!("check character is {found:?}, the digits give {expected:?}"))
                            .at("subject_id")
                            .with_severity(hetu_sev),
                    );
                    hetu_birth = hetu::birth_date_lenient(v);
                }
            }
            Some(SubjectId { root: HETU_OID.into(), value: v.to_string() })
        }
        Some(v) => Some(SubjectId { root: rules.subject_root.clone().unwrap_or_default(), value: v.to_string() }),
    };
    let birth_date = hetu_birth.or(birth.as_ref().and_then(|b| b.1));
    let class = match fields.retention_class.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => match rules.retention.get(c) {
            Some(mapped) => Some(mapped.clone()),
            None => {
                f.push(
                    Finding::new(Code::V011, format!("retention class value {c:?} has no mapping in the profile; retention undetermined"))
                        .at("retention_class"),
                );
                None
            }
        },
        None => ctx.default_class.clone(),
    };
    let eval = retention::evaluate(
        &ctx.policies,
        &Facts {
            class,
            kanta_class: None,
            function_code: None,
            document_type: None,
            birth_date,
            birth_from_hetu: hetu_birth.is_some(),
            death_date: None,
            created: created.as_ref().and_then(|c| c.1),
            matter_closed: None,
            child_birth: None,
        },
        ctx.today,
    );
    if findings.iter().any(|x| x.severity == Severity::Error) {
        return Err((findings, input.bytes));
    }
    let meta = RecordMeta {
        meta_version: META_VERSION,
        record_id: input.record_id,
        original_size: input.bytes.len() as u64,
        media_type,
        format: format.into(),
        source: ctx.source.clone(),
        document_id: fields
            .document_id
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| DocumentId(format!("{}:{d}", rules.profile))),
        set_id: None,
        version: None,
        subject,
        subject_birth_date: birth_date.map(|d| d.to_string()),
        title: fields.title.clone().filter(|t| !t.trim().is_empty()),
        doc_type: fields.doc_type.clone().filter(|t| !t.trim().is_empty()),
        doc_type_name: None,
        created: created.map(|c| c.0),
        service_time: service.map(|c| c.0),
        custodian: fields.organisation.clone().filter(|t| !t.trim().is_empty()),
        run_id: ctx.run_id,
        input_path: input.rel_path,
        ingested_at: ctx.now.clone(),
        retention: eval.retention,
        findings,
        local_header: None,
        parent,
        language: rules.language.clone(),
    };
    Ok(ValidatedRecord { meta, bytes: input.bytes, narrative, source: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_legacy_formats() {
        let f = vec!["%d.%m.%Y".to_string(), "%d.%m.%Y %H:%M".to_string()];
        assert_eq!(parse_date("3.8.2016", &f).unwrap().0, "2016-08-03");
        assert_eq!(parse_date("03.08.2016 09:24", &f).unwrap().0, "2016-08-03T09:24:00");
        assert_eq!(parse_date("2016-08-03", &f).unwrap().0, "2016-08-03");
        assert_eq!(parse_date("20160803", &f).unwrap().0, "2016-08-03");
        assert!(parse_date("31.2.2016", &f).is_none());
        assert!(parse_date("eilen", &f).is_none());
    }
}
