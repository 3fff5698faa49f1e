//! Kanta / HL7 CDA R2 header extraction.
//!
//! Reads a `ClinicalDocument` through the hardened XML reader and pulls out the header fields
//! DOMAIN.md lists, plus the narrative text for search. It never interprets the content beyond
//! that and never resolves anything outside the document.

use serde::{Deserialize, Serialize};

use super::xml::{self, Handler, Limits};
use crate::validate::findings::{Code, Finding};

/// The HL7 v3 namespace.
pub const HL7_NS: &str = "urn:hl7-org:v3";
/// The Finnish HL7 header extension namespace.
pub const HL7FI_NS: &str = "urn:hl7finland";
/// Narrative text kept for the search index is cut at this many bytes.
pub const MAX_NARRATIVE: usize = 1 << 20;

/// An HL7 instance identifier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ii {
    /// OID of the identifier scheme, or the id itself.
    pub root: String,
    /// The identifier within the scheme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
}

/// A coded value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coded {
    /// The code.
    pub code: String,
    /// Code system OID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_system: Option<String>,
    /// Human-readable name given in the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// The `hl7fi:localHeader` fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalHeader {
    /// Document type code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_type: Option<String>,
    /// TOS task class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_code: Option<String>,
    /// Record status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_status: Option<String>,
    /// Kanta retention period class (code system 1.2.246.537.5.40158).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_period_class: Option<String>,
    /// File format code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_format: Option<String>,
    /// Producing software.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_support: Option<String>,
}

/// A `nonXMLBody` (unstructured document) description.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonXmlBody {
    /// Declared media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Declared representation (`B64` for embedded content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representation: Option<String>,
    /// Bytes of embedded (still encoded) content.
    pub embedded_len: usize,
    /// A reference to external content, if given instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// What arkisto extracts from a CDA header. Raw values, as in the document; validation
/// interprets them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdaHeader {
    /// `realmCode/@code`.
    pub realm: Option<String>,
    /// `templateId/@root` values.
    pub template_ids: Vec<String>,
    /// Document id.
    pub id: Option<Ii>,
    /// Document class code.
    pub code: Option<Coded>,
    /// Title.
    pub title: Option<String>,
    /// `effectiveTime/@value` (HL7 TS).
    pub effective_time: Option<String>,
    /// Confidentiality code.
    pub confidentiality: Option<Coded>,
    /// Language code.
    pub language: Option<String>,
    /// Version chain id.
    pub set_id: Option<Ii>,
    /// Version number within the chain.
    pub version: Option<String>,
    /// `recordTarget/patientRole/id`s.
    pub subject_ids: Vec<Ii>,
    /// Patient `birthTime/@value`.
    pub birth_time: Option<String>,
    /// Custodian (controller) organisation id.
    pub custodian: Option<Ii>,
    /// Custodian name.
    pub custodian_name: Option<String>,
    /// Service event (encompassing encounter) id.
    pub service_event_id: Option<Ii>,
    /// Service event time (value or low).
    pub service_event_time: Option<String>,
    /// `relatedDocument/parentDocument/id`s.
    pub parent_documents: Vec<Ii>,
    /// Finnish local header.
    pub local: LocalHeader,
    /// Unstructured body, when the document has one.
    pub non_xml_body: Option<NonXmlBody>,
}

/// A parsed CDA document: header plus the narrative text for search.
#[derive(Clone, Debug, Default)]
pub struct CdaDocument {
    /// Header fields.
    pub header: CdaHeader,
    /// Narrative text (section titles and texts), whitespace-collapsed, bounded.
    pub narrative: String,
    /// The still-encoded content of an embedded `nonXMLBody` (whitespace removed).
    pub embedded: Option<String>,
}

/// Parse a CDA document from its raw bytes.
pub fn read(bytes: &[u8], limits: Limits) -> Result<CdaDocument, Finding> {
    if bytes.is_empty() {
        return Err(Finding::new(Code::V009, "file is empty (0 bytes)"));
    }
    if !looks_like_xml(bytes) {
        return Err(Finding::new(Code::V014, "file does not start with '<': not an XML document"));
    }
    let text = xml::decode(bytes)?;
    let mut h = Extractor::default();
    xml::parse(&text, limits, &mut h)?;
    if let Some(f) = h.not_cda {
        return Err(f);
    }
    let mut narrative = h.narrative;
    if narrative.len() > MAX_NARRATIVE {
        let mut cut = MAX_NARRATIVE;
        while !narrative.is_char_boundary(cut) {
            cut -= 1;
        }
        narrative.truncate(cut);
    }
    let embedded = Some(h.embedded).filter(|e| !e.is_empty());
    Ok(CdaDocument { header: h.header, narrative, embedded })
}

/// Whether the bytes start (after a BOM and whitespace) with `<`, in UTF-8 or UTF-16.
pub fn looks_like_xml(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return true;
    }
    let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    b.iter().find(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n')) == Some(&b'<')
}

#[derive(Default)]
struct Extractor {
    header: CdaHeader,
    stack: Vec<String>,
    not_cda: Option<Finding>,
    embedded: String,
    narrative: String,
    /// Depth at which a narrative `text`/`title` element started, while inside one.
    in_narrative: Option<usize>,
    capture: Option<Capture>,
    buf: String,
}

#[derive(Clone, Copy)]
enum Capture {
    Title,
    CustodianName,
    NonXmlText,
    Local(usize),
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

fn ii(attrs: &[(String, String)]) -> Option<Ii> {
    let root = attr(attrs, "root")?;
    Some(Ii { root: root.to_string(), extension: attr(attrs, "extension").map(str::to_string) })
}

fn coded(attrs: &[(String, String)]) -> Option<Coded> {
    Some(Coded {
        code: attr(attrs, "code")?.to_string(),
        code_system: attr(attrs, "codeSystem").map(str::to_string),
        display_name: attr(attrs, "displayName").map(str::to_string),
    })
}

impl Handler for Extractor {
    fn start(&mut self, ns: Option<&str>, local: &str, attrs: &[(String, String)]) {
        // Some producers omit the HL7 namespace; the root is still a ClinicalDocument.
        if self.stack.is_empty() && self.not_cda.is_none() && (!matches!(ns, Some(HL7_NS) | None) || local != "ClinicalDocument") {
            self.not_cda = Some(Finding::new(
                Code::V003,
                format!("root element is {{{}}}{local}, not {{{HL7_NS}}}ClinicalDocument", ns.unwrap_or("")),
            ));
        }
        let key = match ns {
            Some(HL7FI_NS) => format!("fi:{local}"),
            _ => local.to_string(),
        };
        self.stack.push(key);
        if self.not_cda.is_some() {
            return;
        }
        let path: Vec<&str> = self.stack.iter().skip(1).map(String::as_str).collect();
        let h = &mut self.header;
        match path.as_slice() {
            ["realmCode"] => h.realm = attr(attrs, "code").map(str::to_string),
            ["templateId"] => h.template_ids.extend(attr(attrs, "root").map(str::to_string)),
            ["id"] => h.id = ii(attrs),
            ["code"] => h.code = coded(attrs),
            ["title"] => self.capture = Some(Capture::Title),
            ["effectiveTime"] => h.effective_time = attr(attrs, "value").map(str::to_string),
            ["confidentialityCode"] => h.confidentiality = coded(attrs),
            ["languageCode"] => h.language = attr(attrs, "code").map(str::to_string),
            ["setId"] => h.set_id = ii(attrs),
            ["versionNumber"] => h.version = attr(attrs, "value").map(str::to_string),
            ["recordTarget", "patientRole", "id"] => h.subject_ids.extend(ii(attrs)),
            ["recordTarget", "patientRole", "patient", "birthTime"] => h.birth_time = attr(attrs, "value").map(str::to_string),
            ["custodian", "assignedCustodian", "representedCustodianOrganization", "id"] => h.custodian = ii(attrs),
            ["custodian", "assignedCustodian", "representedCustodianOrganization", "name"] => self.capture = Some(Capture::CustodianName),
            ["componentOf", "encompassingEncounter", "id"] => h.service_event_id = ii(attrs),
            ["componentOf", "encompassingEncounter", "effectiveTime"] => h.service_event_time = attr(attrs, "value").map(str::to_string),
            ["componentOf", "encompassingEncounter", "effectiveTime", "low"] if h.service_event_time.is_none() => {
                h.service_event_time = attr(attrs, "value").map(str::to_string)
            }
            ["relatedDocument", "parentDocument", "id"] => h.parent_documents.extend(ii(attrs)),
            ["fi:localHeader", field] => {
                let v = attr(attrs, "code").or_else(|| attr(attrs, "product")).map(str::to_string);
                let slot = match *field {
                    "fi:documentType" => Some(&mut h.local.document_type),
                    "fi:functionCode" => Some(&mut h.local.function_code),
                    "fi:recordStatus" => Some(&mut h.local.record_status),
                    "fi:retentionPeriodClass" => Some(&mut h.local.retention_period_class),
                    "fi:fileFormat" => Some(&mut h.local.file_format),
                    "fi:softwareSupport" => Some(&mut h.local.software_support),
                    _ => None,
                };
                if let Some(slot) = slot {
                    match v {
                        Some(v) => *slot = Some(v),
                        None => self.capture = Some(Capture::Local(self.stack.len())),
                    }
                }
            }
            ["component", "nonXMLBody", "text"] => {
                h.non_xml_body = Some(NonXmlBody {
                    media_type: attr(attrs, "mediaType").map(str::to_string),
                    representation: attr(attrs, "representation").map(str::to_string),
                    embedded_len: 0,
                    reference: None,
                });
                self.capture = Some(Capture::NonXmlText);
            }
            ["component", "nonXMLBody", "text", "reference"] => {
                if let Some(b) = h.non_xml_body.as_mut() {
                    b.reference = attr(attrs, "value").map(str::to_string);
                }
            }
            ["component", "structuredBody", .., last] if self.in_narrative.is_none() && (*last == "text" || *last == "title") => {
                self.in_narrative = Some(self.stack.len());
            }
            _ => {}
        }
    }

    fn end(&mut self, _ns: Option<&str>, _local: &str) {
        let depth = self.stack.len();
        if self.in_narrative == Some(depth) {
            self.in_narrative = None;
            if !self.narrative.is_empty() && !self.narrative.ends_with(' ') {
                self.narrative.push(' ');
            }
        }
        if let Some(c) = self.capture {
            let done = match c {
                Capture::Local(d) => d == depth,
                _ => true,
            };
            if done {
                let text = collapse(&std::mem::take(&mut self.buf));
                let h = &mut self.header;
                match c {
                    Capture::Title => h.title = Some(text).filter(|t| !t.is_empty()),
                    Capture::CustodianName => h.custodian_name = Some(text).filter(|t| !t.is_empty()),
                    Capture::NonXmlText => {}
                    Capture::Local(_) => {
                        let field = self.stack.last().map(String::as_str).unwrap_or("");
                        let v = Some(text).filter(|t| !t.is_empty());
                        match field {
                            "fi:documentType" => h.local.document_type = v,
                            "fi:functionCode" => h.local.function_code = v,
                            "fi:recordStatus" => h.local.record_status = v,
                            "fi:retentionPeriodClass" => h.local.retention_period_class = v,
                            "fi:fileFormat" => h.local.file_format = v,
                            "fi:softwareSupport" => h.local.software_support = v,
                            _ => {}
                        }
                    }
                }
                self.capture = None;
            }
        }
        self.stack.pop();
    }

    fn text(&mut self, text: &str) {
        match self.capture {
            Some(Capture::NonXmlText) => {
                if let Some(b) = self.header.non_xml_body.as_mut() {
                    b.embedded_len += text.trim().len();
                    self.embedded.extend(text.chars().filter(|c| !c.is_whitespace()));
                }
            }
            Some(_) if self.buf.len() < 4096 => self.buf.push_str(text),
            Some(_) => {}
            None => {}
        }
        if self.in_narrative.is_some() && self.narrative.len() <= MAX_NARRATIVE {
            for w in text.split_ascii_whitespace() {
                if !self.narrative.is_empty() && !self.narrative.ends_with(' ') {
                    self.narrative.push(' ');
                }
                self.narrative.push_str(w);
            }
        }
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:hl7fi="urn:hl7finland">
 <id root="1.2.3" extension="9"/><title> Hoito  ja seuranta </title><effectiveTime value="20200101120000+0200"/>
 <setId root="1.2.3.s"/><versionNumber value="2"/>
 <recordTarget><patientRole><id root="1.2.246.21" extension="010181-900C"/><patient><birthTime value="19810101"/></patient></patientRole></recordTarget>
 <hl7fi:localHeader><hl7fi:retentionPeriodClass code="2"/><hl7fi:softwareSupport>Ohjelma</hl7fi:softwareSupport></hl7fi:localHeader>
 <component><structuredBody><component><section><title>Tulosyy</title><text>Päänsärky, <b>kova</b> särky</text></section></component></structuredBody></component>
</ClinicalDocument>"#;

    #[test]
    fn extracts_header_and_narrative() {
        let d = read(DOC.as_bytes(), Limits::default()).unwrap();
        let h = &d.header;
        assert_eq!(h.id, Some(Ii { root: "1.2.3".into(), extension: Some("9".into()) }));
        assert_eq!(h.title.as_deref(), Some("Hoito ja seuranta"));
        assert_eq!(h.version.as_deref(), Some("2"));
        assert_eq!(h.subject_ids[0].extension.as_deref(), Some("010181-900C"));
        assert_eq!(h.local.retention_period_class.as_deref(), Some("2"));
        assert_eq!(h.local.software_support.as_deref(), Some("Ohjelma"));
        assert_eq!(d.narrative.trim(), "Tulosyy Päänsärky, kova särky");
    }

    proptest::proptest! {
        /// No input makes the reader panic: bytes, text, or a real document cut anywhere.
        #[test]
        fn never_panics_on_any_input(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600), cut in 0usize..2000, s in "\\PC{0,300}") {
            let _ = read(&bytes, Limits::default());
            let _ = read(s.as_bytes(), Limits::default());
            let doc = DOC.as_bytes();
            let _ = read(&doc[..cut.min(doc.len())], Limits::default());
            let mut flipped = doc.to_vec();
            if let Some(b) = flipped.get_mut(cut % doc.len()) {
                *b ^= (cut as u8) | 1;
            }
            let _ = read(&flipped, Limits::default());
        }
    }

    #[test]
    fn other_roots_are_not_clinical_documents() {
        let e = read(b"<section xmlns='urn:hl7-org:v3'/>", Limits::default()).unwrap_err();
        assert_eq!(e.code, Code::V003);
        assert_eq!(read(b"", Limits::default()).unwrap_err().code, Code::V009);
        assert_eq!(read(b"%PDF-1.4", Limits::default()).unwrap_err().code, Code::V014);
    }
}
