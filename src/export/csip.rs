//! E-ARK Common Specification for Information Packages 2.2.0: the METS documents (package
//! and representation) and PREMIS 3.0 preservation files. A [`Profile`] says what differs
//! between a DIP and a SIP; a new package format (say the Finnish Digital Preservation
//! Service's) is a writer of its own beside this one, using the same gathered records.

use std::fmt::Write as _;

use super::esc;
use crate::digest::Sha256;

/// The E-ARK METS extension namespace.
const CSIP_NS: &str = "https://DILCIS.eu/XML/METS/CSIPExtensionMETS";
const SIP_NS: &str = "https://DILCIS.eu/XML/METS/SIPExtensionMETS";

/// The XSDs the package carries under `schemas/` (CSIPSTR15), as the reference validator
/// ships them.
pub const SCHEMAS: &[(&str, &[u8])] = &[
    ("mets1_12.xsd", include_bytes!("schemas/mets1_12.xsd")),
    ("xlink.xsd", include_bytes!("schemas/xlink.xsd")),
    ("DILCISExtensionMETS.xsd", include_bytes!("schemas/DILCISExtensionMETS.xsd")),
    ("DILCISExtensionSIPMETS.xsd", include_bytes!("schemas/DILCISExtensionSIPMETS.xsd")),
    ("premis-v3-0.xsd", include_bytes!("schemas/premis-v3-0.xsd")),
];

/// Which kind of E-ARK package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// A dissemination package (E-ARK DIP 2.2.0): a client's records.
    Dip,
    /// A submission package (E-ARK SIP 2.2.0): records handed to preservation.
    Sip,
}

impl Profile {
    fn url(self) -> &'static str {
        match self {
            Profile::Dip => "https://earkdip.dilcis.eu/profile/E-ARK-DIP.xml",
            Profile::Sip => "https://earksip.dilcis.eu/profile/E-ARK-SIP-v2-2-0.xml",
        }
    }
    fn oais(self) -> &'static str {
        match self {
            Profile::Dip => "DIP",
            Profile::Sip => "SIP",
        }
    }
}

/// What a package is about (`mets/@TYPE` and the content information type).
#[derive(Clone, Debug)]
pub struct Content {
    /// `csip:OTHERTYPE` (with `TYPE="OTHER"`), e.g. "Patient Medical Records".
    pub other_type: String,
    /// `csip:OTHERCONTENTINFORMATIONTYPE` (with `CONTENTINFORMATIONTYPE="OTHER"`).
    pub content_type: String,
}

/// One file a METS document lists.
#[derive(Clone, Debug)]
pub struct FileEntry {
    /// Path relative to the folder of the METS document that lists it.
    pub href: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes.
    pub sha256: Sha256,
    /// Media type.
    pub mime: String,
    /// When the file was made (RFC 3339).
    pub created: String,
}

fn root_attrs(out: &mut String, p: Profile, objid: &str, label: &str, c: &Content, schemas: &str) {
    let _ = write!(
        out,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<mets xmlns="http://www.loc.gov/METS/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:csip="{CSIP_NS}" xmlns:sip="{SIP_NS}" OBJID="{}" LABEL="{}" TYPE="OTHER" csip:OTHERTYPE="{}" csip:CONTENTINFORMATIONTYPE="OTHER" csip:OTHERCONTENTINFORMATIONTYPE="{}" PROFILE="{}" xsi:schemaLocation="http://www.loc.gov/METS/ {schemas}mets1_12.xsd http://www.w3.org/1999/xlink {schemas}xlink.xsd https://dilcis.eu/XML/METS/CSIPExtensionMETS {schemas}DILCISExtensionMETS.xsd https://dilcis.eu/XML/METS/SIPExtensionMETS {schemas}DILCISExtensionSIPMETS.xsd">
"#,
        esc(objid),
        esc(label),
        esc(&c.other_type),
        esc(&c.content_type),
        p.url(),
    );
}

/// The agents of a package: the software that made it and the organisation that holds the
/// records (CSIP10–CSIP16).
#[derive(Clone, Debug)]
pub struct Agents {
    /// The county or organisation (archive holder).
    pub organisation: String,
    /// Its identifier (e.g. a business id), if known.
    pub organisation_id: Option<String>,
    /// Who submits the package (a SIP's submitting agent, E-ARK SIP15), if anyone.
    pub submitter: Option<String>,
}

fn header(out: &mut String, p: Profile, created: &str, agents: Option<&Agents>) {
    let _ = writeln!(out, r#"  <metsHdr CREATEDATE="{}" RECORDSTATUS="NEW" csip:OAISPACKAGETYPE="{}">"#, esc(created), p.oais());
    if let Some(a) = agents {
        let _ = writeln!(
            out,
            r#"    <agent ROLE="CREATOR" TYPE="OTHER" OTHERTYPE="SOFTWARE">
      <name>arkisto</name>
      <note csip:NOTETYPE="SOFTWARE VERSION">{}</note>
    </agent>
    <agent ROLE="ARCHIVIST" TYPE="ORGANIZATION">
      <name>{}</name>"#,
            env!("CARGO_PKG_VERSION"),
            esc(&a.organisation),
        );
        if let Some(id) = &a.organisation_id {
            let _ = writeln!(out, r#"      <note csip:NOTETYPE="IDENTIFICATIONCODE">{}</note>"#, esc(id));
        }
        out.push_str("    </agent>\n");
        if let Some(who) = &a.submitter {
            let _ = writeln!(
                out,
                r#"    <agent ROLE="CREATOR" TYPE="INDIVIDUAL">
      <name>{}</name>
      <note csip:NOTETYPE="IDENTIFICATIONCODE">{}</note>
    </agent>"#,
                esc(who),
                esc(who)
            );
        }
    }
    out.push_str("  </metsHdr>\n");
}

fn md_ref(out: &mut String, tag: &str, id: &str, f: &FileEntry, mdtype: &str) {
    let _ = writeln!(
        out,
        r#"    <{tag} ID="{id}" STATUS="CURRENT">
      <mdRef LOCTYPE="URL" xlink:type="simple" xlink:href="{}" MDTYPE="{mdtype}" MIMETYPE="{}" SIZE="{}" CREATED="{}" CHECKSUM="{}" CHECKSUMTYPE="SHA-256"/>
    </{tag}>"#,
        esc(&f.href),
        esc(&f.mime),
        f.size,
        esc(&f.created),
        f.sha256.to_hex().to_uppercase(),
    );
}

fn file_group(out: &mut String, id: &str, use_: &str, files: &[FileEntry], ids: &mut usize) {
    let _ = writeln!(out, r#"    <fileGrp ID="{id}" USE="{}">"#, esc(use_));
    for f in files {
        *ids += 1;
        let _ = writeln!(
            out,
            r#"      <file ID="file-{ids}" MIMETYPE="{}" SIZE="{}" CREATED="{}" CHECKSUM="{}" CHECKSUMTYPE="SHA-256">
        <FLocat LOCTYPE="URL" xlink:type="simple" xlink:href="{}"/>
      </file>"#,
            esc(&f.mime),
            f.size,
            esc(&f.created),
            f.sha256.to_hex().to_uppercase(),
            esc(&f.href),
        );
    }
    out.push_str("    </fileGrp>\n");
}

/// A representation's METS document: its data files and its preservation metadata.
pub fn representation_mets(p: Profile, name: &str, c: &Content, created: &str, data: &[FileEntry], premis: Option<&FileEntry>) -> String {
    let mut out = String::with_capacity(1024 + data.len() * 400);
    root_attrs(&mut out, p, name, name, c, "../../schemas/");
    header(&mut out, p, created, None);
    if let Some(f) = premis {
        out.push_str("  <amdSec ID=\"amd-1\">\n");
        md_ref(&mut out, "digiprovMD", "premis-1", f, "PREMIS");
        out.push_str("  </amdSec>\n");
    }
    out.push_str("  <fileSec ID=\"filesec-1\">\n");
    let mut ids = 0;
    file_group(&mut out, "grp-data", "Data", data, &mut ids);
    out.push_str("  </fileSec>\n");
    let _ = writeln!(out, r#"  <structMap ID="structmap-1" TYPE="PHYSICAL" LABEL="CSIP">"#);
    let _ = writeln!(out, r#"    <div ID="div-root" TYPE="ORIGINAL" LABEL="{}">"#, esc(name));
    if premis.is_some() {
        out.push_str("      <div ID=\"div-metadata\" LABEL=\"Metadata\" ADMID=\"premis-1\"/>\n");
    }
    out.push_str("      <div ID=\"div-data\" LABEL=\"Data\">\n        <fptr FILEID=\"grp-data\"/>\n      </div>\n");
    out.push_str("    </div>\n  </structMap>\n</mets>\n");
    out
}

/// What the package METS document points at.
pub struct PackageParts<'a> {
    /// Package id (`mets/@OBJID`, also the root folder's name).
    pub objid: &'a str,
    /// Label.
    pub label: &'a str,
    /// Content type.
    pub content: &'a Content,
    /// When made.
    pub created: &'a str,
    /// Agents.
    pub agents: &'a Agents,
    /// Descriptive metadata files (`metadata/descriptive/`) and their MDTYPE.
    pub descriptive: &'a [(FileEntry, &'a str)],
    /// Preservation metadata (`metadata/preservation/`).
    pub preservation: &'a [FileEntry],
    /// Files under `documentation/`.
    pub documentation: &'a [FileEntry],
    /// Files under `schemas/`.
    pub schemas: &'a [FileEntry],
    /// Representations: name and their METS document.
    pub representations: &'a [(String, FileEntry)],
}

/// The package (root) METS document.
pub fn package_mets(p: Profile, parts: &PackageParts<'_>) -> String {
    let mut out = String::with_capacity(4096);
    root_attrs(&mut out, p, parts.objid, parts.label, parts.content, "schemas/");
    header(&mut out, p, parts.created, Some(parts.agents));
    let mut dmd_ids = Vec::new();
    for (i, (f, mdtype)) in parts.descriptive.iter().enumerate() {
        let id = format!("dmd-{}", i + 1);
        let _ = writeln!(
            out,
            r#"  <dmdSec ID="{id}" CREATED="{}" STATUS="CURRENT">
    <mdRef LOCTYPE="URL" xlink:type="simple" xlink:href="{}" MDTYPE="{mdtype}" MIMETYPE="{}" SIZE="{}" CREATED="{}" CHECKSUM="{}" CHECKSUMTYPE="SHA-256"/>
  </dmdSec>"#,
            esc(&f.created),
            esc(&f.href),
            esc(&f.mime),
            f.size,
            esc(&f.created),
            f.sha256.to_hex().to_uppercase(),
        );
        dmd_ids.push(id);
    }
    let mut amd_ids = Vec::new();
    if !parts.preservation.is_empty() {
        out.push_str("  <amdSec ID=\"amd-1\">\n");
        for (i, f) in parts.preservation.iter().enumerate() {
            let id = format!("premis-{}", i + 1);
            md_ref(&mut out, "digiprovMD", &id, f, "PREMIS");
            amd_ids.push(id);
        }
        out.push_str("  </amdSec>\n");
    }
    out.push_str("  <fileSec ID=\"filesec-1\">\n");
    let mut ids = 0;
    if !parts.schemas.is_empty() {
        file_group(&mut out, "grp-schemas", "Schemas", parts.schemas, &mut ids);
    }
    if !parts.documentation.is_empty() {
        file_group(&mut out, "grp-documentation", "Documentation", parts.documentation, &mut ids);
    }
    for (i, (name, mets)) in parts.representations.iter().enumerate() {
        file_group(&mut out, &format!("grp-rep-{}", i + 1), &format!("Representations/{name}"), std::slice::from_ref(mets), &mut ids);
    }
    out.push_str("  </fileSec>\n");
    let _ = writeln!(out, r#"  <structMap ID="structmap-1" TYPE="PHYSICAL" LABEL="CSIP">"#);
    let _ = writeln!(out, r#"    <div ID="div-root" LABEL="{}">"#, esc(parts.objid));
    if !dmd_ids.is_empty() || !amd_ids.is_empty() {
        out.push_str("      <div ID=\"div-metadata\" LABEL=\"Metadata\"");
        if !dmd_ids.is_empty() {
            let _ = write!(out, " DMDID=\"{}\"", dmd_ids.join(" "));
        }
        if !amd_ids.is_empty() {
            let _ = write!(out, " ADMID=\"{}\"", amd_ids.join(" "));
        }
        out.push_str("/>\n");
    }
    if !parts.schemas.is_empty() {
        out.push_str("      <div ID=\"div-schemas\" LABEL=\"Schemas\">\n        <fptr FILEID=\"grp-schemas\"/>\n      </div>\n");
    }
    if !parts.documentation.is_empty() {
        out.push_str(
            "      <div ID=\"div-documentation\" LABEL=\"Documentation\">\n        <fptr FILEID=\"grp-documentation\"/>\n      </div>\n",
        );
    }
    for (i, (name, mets)) in parts.representations.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"      <div ID="div-rep-{n}" LABEL="Representations/{}">
        <mptr LOCTYPE="URL" xlink:type="simple" xlink:href="{}" xlink:title="grp-rep-{n}"/>
      </div>"#,
            esc(name),
            esc(&mets.href),
            n = i + 1,
        );
    }
    out.push_str("    </div>\n  </structMap>\n</mets>\n");
    out
}

/// One object in a PREMIS file: a record's original bytes.
#[derive(Clone, Debug)]
pub struct PremisObject {
    /// The record id (SHA-256 of the bytes).
    pub record_id: String,
    /// Size.
    pub size: u64,
    /// Media type.
    pub mime: String,
    /// The file name it had in the exported system's batch.
    pub original_name: String,
    /// Its path in the package, relative to the representation.
    pub href: String,
    /// Retention: rule and disposal (a date, `permanent` or `undetermined`).
    pub retention: Option<(String, String)>,
    /// Ledger events about it (sequence numbers).
    pub events: Vec<i64>,
}

/// One ledger event as a PREMIS event.
#[derive(Clone, Debug)]
pub struct PremisEvent {
    /// Ledger sequence number.
    pub seq: i64,
    /// Event type (PREMIS names: `ingestion`, `pack compaction`, `dissemination`, …).
    pub event_type: String,
    /// When.
    pub time: String,
    /// Who.
    pub actor: String,
    /// What happened, briefly (pack, digests, ledger hash).
    pub detail: String,
    /// Outcome.
    pub outcome: String,
    /// Records it concerns (ids).
    pub objects: Vec<String>,
}

/// A PREMIS 3.0 document: objects with fixity, the ledger events about them, the agents.
pub fn premis(objects: &[PremisObject], events: &[PremisEvent], archive_name: &str) -> String {
    let mut out = String::with_capacity(2048 + objects.len() * 900 + events.len() * 600);
    out.push_str(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<premis:premis xmlns:premis="http://www.loc.gov/premis/v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.loc.gov/premis/v3 ../../../../schemas/premis-v3-0.xsd" version="3.0">
"#,
    );
    for o in objects {
        let _ = writeln!(
            out,
            r#"  <premis:object xsi:type="premis:file">
    <premis:objectIdentifier>
      <premis:objectIdentifierType>arkisto record id (SHA-256)</premis:objectIdentifierType>
      <premis:objectIdentifierValue>{id}</premis:objectIdentifierValue>
    </premis:objectIdentifier>
    <premis:objectCharacteristics>
      <premis:compositionLevel>0</premis:compositionLevel>
      <premis:fixity>
        <premis:messageDigestAlgorithm>SHA-256</premis:messageDigestAlgorithm>
        <premis:messageDigest>{id}</premis:messageDigest>
        <premis:messageDigestOriginator>arkisto</premis:messageDigestOriginator>
      </premis:fixity>
      <premis:size>{size}</premis:size>
      <premis:format>
        <premis:formatDesignation>
          <premis:formatName>{mime}</premis:formatName>
        </premis:formatDesignation>
      </premis:format>
    </premis:objectCharacteristics>
    <premis:originalName>{name}</premis:originalName>
    <premis:storage>
      <premis:contentLocation>
        <premis:contentLocationType>package path</premis:contentLocationType>
        <premis:contentLocationValue>{href}</premis:contentLocationValue>
      </premis:contentLocation>
    </premis:storage>"#,
            id = esc(&o.record_id),
            size = o.size,
            mime = esc(&o.mime),
            name = esc(&o.original_name),
            href = esc(&o.href),
        );
        for seq in &o.events {
            let _ = writeln!(
                out,
                r#"    <premis:linkingEventIdentifier>
      <premis:linkingEventIdentifierType>arkisto ledger sequence number</premis:linkingEventIdentifierType>
      <premis:linkingEventIdentifierValue>{seq}</premis:linkingEventIdentifierValue>
    </premis:linkingEventIdentifier>"#
            );
        }
        if o.retention.is_some() {
            out.push_str(
                "    <premis:linkingRightsStatementIdentifier>\n      <premis:linkingRightsStatementIdentifierType>arkisto retention</premis:linkingRightsStatementIdentifierType>\n",
            );
            let _ = writeln!(
                out,
                "      <premis:linkingRightsStatementIdentifierValue>retention-{}</premis:linkingRightsStatementIdentifierValue>\n    </premis:linkingRightsStatementIdentifier>",
                esc(&o.record_id)
            );
        }
        out.push_str("  </premis:object>\n");
    }
    for e in events {
        let _ = writeln!(
            out,
            r#"  <premis:event>
    <premis:eventIdentifier>
      <premis:eventIdentifierType>arkisto ledger sequence number</premis:eventIdentifierType>
      <premis:eventIdentifierValue>{seq}</premis:eventIdentifierValue>
    </premis:eventIdentifier>
    <premis:eventType>{t}</premis:eventType>
    <premis:eventDateTime>{time}</premis:eventDateTime>
    <premis:eventDetailInformation>
      <premis:eventDetail>{detail}</premis:eventDetail>
    </premis:eventDetailInformation>
    <premis:eventOutcomeInformation>
      <premis:eventOutcome>{outcome}</premis:eventOutcome>
    </premis:eventOutcomeInformation>
    <premis:linkingAgentIdentifier>
      <premis:linkingAgentIdentifierType>arkisto actor</premis:linkingAgentIdentifierType>
      <premis:linkingAgentIdentifierValue>{actor}</premis:linkingAgentIdentifierValue>
    </premis:linkingAgentIdentifier>"#,
            seq = e.seq,
            t = esc(&e.event_type),
            time = esc(&e.time),
            detail = esc(&e.detail),
            outcome = esc(&e.outcome),
            actor = esc(&e.actor),
        );
        for o in &e.objects {
            let _ = writeln!(
                out,
                r#"    <premis:linkingObjectIdentifier>
      <premis:linkingObjectIdentifierType>arkisto record id (SHA-256)</premis:linkingObjectIdentifierType>
      <premis:linkingObjectIdentifierValue>{}</premis:linkingObjectIdentifierValue>
    </premis:linkingObjectIdentifier>"#,
                esc(o)
            );
        }
        out.push_str("  </premis:event>\n");
    }
    let mut actors: Vec<&str> = events.iter().map(|e| e.actor.as_str()).collect();
    actors.sort_unstable();
    actors.dedup();
    for a in actors {
        let _ = writeln!(
            out,
            r#"  <premis:agent>
    <premis:agentIdentifier>
      <premis:agentIdentifierType>arkisto actor</premis:agentIdentifierType>
      <premis:agentIdentifierValue>{a}</premis:agentIdentifierValue>
    </premis:agentIdentifier>
    <premis:agentName>{a}</premis:agentName>
    <premis:agentType>person or service of {org}</premis:agentType>
  </premis:agent>"#,
            a = esc(a),
            org = esc(archive_name),
        );
    }
    for o in objects {
        if let Some((rule, disposal)) = &o.retention {
            let _ = writeln!(
                out,
                r#"  <premis:rights>
    <premis:rightsStatement>
      <premis:rightsStatementIdentifier>
        <premis:rightsStatementIdentifierType>arkisto retention</premis:rightsStatementIdentifierType>
        <premis:rightsStatementIdentifierValue>retention-{id}</premis:rightsStatementIdentifierValue>
      </premis:rightsStatementIdentifier>
      <premis:rightsBasis>Statute</premis:rightsBasis>
      <premis:statuteInformation>
        <premis:statuteJurisdiction>FI</premis:statuteJurisdiction>
        <premis:statuteCitation>{rule}</premis:statuteCitation>
        <premis:statuteNote>disposal: {disposal}</premis:statuteNote>
      </premis:statuteInformation>
    </premis:rightsStatement>
  </premis:rights>"#,
                id = esc(&o.record_id),
                rule = esc(rule),
                disposal = esc(disposal),
            );
        }
    }
    out.push_str("</premis:premis>\n");
    out
}

/// A package's description as simple Dublin Core (`metadata/descriptive/dc.xml`): what it is,
/// for whom, by whom, when, and how many records it holds.
pub fn dublin_core(title: &str, identifier: &str, subject: &str, creator: &str, date: &str, description: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
  <dc:title>{}</dc:title>
  <dc:identifier>{}</dc:identifier>
  <dc:subject>{}</dc:subject>
  <dc:creator>{}</dc:creator>
  <dc:date>{}</dc:date>
  <dc:description>{}</dc:description>
  <dc:type>Collection</dc:type>
</metadata>
"#,
        esc(title),
        esc(identifier),
        esc(subject),
        esc(creator),
        esc(date),
        esc(description),
    )
}
