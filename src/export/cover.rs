//! The human side of a client's package: the cover page (`documentation/index.html`) in the
//! client's language, the access report and the record list as CSV, and a plain, escaped
//! HTML rendering of a CDA document. Nothing here runs a script or loads anything from
//! elsewhere: the pages are static, self-contained and print as they show.

use std::fmt::Write as _;

use super::{Excluded, Lang, esc};
use crate::retrieve::AccessEntry;

/// Words of the cover page, per language.
struct Words {
    title: &'static str,
    intro: &'static str,
    request: &'static str,
    person: &'static str,
    request_id: &'static str,
    handled_by: &'static str,
    purpose: &'static str,
    period: &'static str,
    source: &'static str,
    all: &'static str,
    compiled: &'static str,
    package: &'static str,
    holder: &'static str,
    records: &'static str,
    date: &'static str,
    doc_type: &'static str,
    system: &'static str,
    heading: &'static str,
    files: &'static str,
    original: &'static str,
    readable: &'static str,
    retention: &'static str,
    rule: &'static str,
    permanent: &'static str,
    undetermined: &'static str,
    kept_until: &'static str,
    hold: &'static str,
    empty: &'static str,
    not_included: &'static str,
    all_included: &'static str,
    destroyed: &'static str,
    held_back: &'static str,
    damaged: &'static str,
    mismatch: &'static str,
    access: &'static str,
    access_law: &'static str,
    time: &'static str,
    who: &'static str,
    action: &'static str,
    count: &'static str,
    viewed: &'static str,
    disclosed: &'static str,
    no_access: &'static str,
    machine: &'static str,
    confidentiality: &'static str,
    record_id: &'static str,
    no_text: &'static str,
}

const FI: Words = Words {
    title: "Henkilön asiakirjat",
    intro: "Tämä paketti sisältää kaikki arkistoon tallennetut asiakirjat, jotka koskevat alla mainittua henkilöä, sekä selvityksen siitä, kuka tietoja on käyttänyt tai kenelle niitä on luovutettu, milloin ja miksi.",
    request: "Pyyntö",
    person: "Henkilö",
    request_id: "Pyynnön tunnus",
    handled_by: "Käsittelijä",
    purpose: "Käyttötarkoitus",
    period: "Aikaväli",
    source: "Lähdejärjestelmä",
    all: "kaikki",
    compiled: "Koottu",
    package: "Paketin tunnus",
    holder: "Rekisterinpitäjä",
    records: "Asiakirjat",
    date: "Päivämäärä",
    doc_type: "Tyyppi",
    system: "Järjestelmä",
    heading: "Otsikko",
    files: "Tiedostot",
    original: "alkuperäinen",
    readable: "luettava",
    retention: "Säilytys",
    rule: "sääntö",
    permanent: "säilytetään pysyvästi",
    undetermined: "päättymispäivä ei vielä tiedossa",
    kept_until: "säilytetään vähintään",
    hold: "säilytysmääräys",
    empty: "Arkistossa ei ole tätä henkilöä koskevia asiakirjoja.",
    not_included: "Mitä paketissa ei ole",
    all_included: "Kaikki löydetyt asiakirjat ovat mukana.",
    destroyed: "hävitetty {date} säännön {rule} perusteella (hävityspäätös {plan})",
    held_back: "pidätetty säilytysmääräyksen {hold} vuoksi: {reason}",
    damaged: "ei luovutettu: tallennettu kopio ei läpäissyt eheystarkistusta; arkisto selvittää asian",
    mismatch: "ei luovutettu: arkiston hakemisto ja arkistoitu asiakirja ovat ristiriidassa; arkisto selvittää asian",
    access: "Tietojen käyttö ja luovutukset",
    access_law: "Laki sosiaali- ja terveydenhuollon asiakastietojen käsittelystä (703/2023) 11 §: kuka tietoja on käyttänyt tai kenelle niitä on luovutettu, milloin ja mihin tarkoitukseen.",
    time: "Aika",
    who: "Kuka",
    action: "Toiminto",
    count: "Asiakirjoja",
    viewed: "katselu",
    disclosed: "luovutus",
    no_access: "Ei kirjattuja käyttökertoja.",
    confidentiality: "Luottamuksellisuus",
    record_id: "Asiakirjan tunniste (SHA-256)",
    no_text: "Asiakirjassa ei ole luettavaa tekstiosaa; alkuperäinen tiedosto on paketissa.",
    machine: "Samat tiedot koneluettavina: records.csv (asiakirjat ja niiden säilytys) ja access-report.csv (käyttö ja luovutukset). Tiedostojen tarkistussummat ovat paketin METS.xml-tiedostoissa.",
};

const SV: Words = Words {
    title: "Personens handlingar",
    intro: "Detta paket innehåller alla handlingar i arkivet som gäller personen nedan, och en redogörelse för vem som har använt eller fått uppgifterna, när och varför.",
    request: "Begäran",
    person: "Person",
    request_id: "Begärans id",
    handled_by: "Handläggare",
    purpose: "Ändamål",
    period: "Tidsperiod",
    source: "Källsystem",
    all: "alla",
    compiled: "Sammanställt",
    package: "Paketets id",
    holder: "Personuppgiftsansvarig",
    records: "Handlingar",
    date: "Datum",
    doc_type: "Typ",
    system: "System",
    heading: "Rubrik",
    files: "Filer",
    original: "original",
    readable: "läsbar",
    retention: "Bevarande",
    rule: "regel",
    permanent: "bevaras permanent",
    undetermined: "slutdatum ännu okänt",
    kept_until: "bevaras minst till",
    hold: "bevarandeorder",
    empty: "Arkivet har inga handlingar om denna person.",
    not_included: "Vad paketet inte innehåller",
    all_included: "Alla handlingar som hittades ingår.",
    destroyed: "förstörd {date} enligt regel {rule} (gallringsbeslut {plan})",
    held_back: "undanhållen på grund av bevarandeorder {hold}: {reason}",
    damaged: "inte utlämnad: den lagrade kopian klarade inte integritetskontrollen; arkivet utreder saken",
    mismatch: "inte utlämnad: arkivets index och den arkiverade handlingen motsäger varandra; arkivet utreder saken",
    access: "Användning och utlämnanden av uppgifterna",
    access_law: "Lagen om behandling av kunduppgifter inom social- och hälsovården (703/2023) 11 §: vem som har använt eller fått uppgifterna, när och för vilket ändamål.",
    time: "Tid",
    who: "Vem",
    action: "Åtgärd",
    count: "Handlingar",
    viewed: "visning",
    disclosed: "utlämnande",
    no_access: "Inga registrerade användningar.",
    confidentiality: "Sekretess",
    record_id: "Handlingens id (SHA-256)",
    no_text: "Handlingen har ingen läsbar textdel; originalfilen finns i paketet.",
    machine: "Samma uppgifter maskinläsbart: records.csv (handlingar och deras bevarande) och access-report.csv (användning och utlämnanden). Filernas kontrollsummor finns i paketets METS.xml-filer.",
};

const EN: Words = Words {
    title: "Records of a person",
    intro: "This package holds every record in the archive about the person below, and an account of who has used or received the data, when and why.",
    request: "Request",
    person: "Person",
    request_id: "Request id",
    handled_by: "Handled by",
    purpose: "Purpose",
    period: "Period",
    source: "Source system",
    all: "all",
    compiled: "Compiled",
    package: "Package id",
    holder: "Controller",
    records: "Records",
    date: "Date",
    doc_type: "Type",
    system: "System",
    heading: "Title",
    files: "Files",
    original: "original",
    readable: "readable",
    retention: "Retention",
    rule: "rule",
    permanent: "kept permanently",
    undetermined: "end date not yet known",
    kept_until: "kept at least until",
    hold: "legal hold",
    empty: "The archive holds no records of this person.",
    not_included: "What is not included",
    all_included: "Every record found is included.",
    destroyed: "destroyed on {date} under rule {rule} (disposal plan {plan})",
    held_back: "held back under legal hold {hold}: {reason}",
    damaged: "not included: the stored copy failed its integrity check; the archive is looking into it",
    mismatch: "not included: the archive's index and the archived record disagree; the archive is looking into it",
    access: "Use and disclosure of the data",
    access_law: "Act on the Processing of Client Data in Healthcare and Social Welfare (703/2023) section 11: who has used or received the data, when and for what purpose.",
    time: "Time",
    who: "Who",
    action: "Action",
    count: "Records",
    viewed: "viewed",
    disclosed: "disclosed",
    no_access: "No recorded use.",
    confidentiality: "Confidentiality",
    record_id: "Record id (SHA-256)",
    no_text: "The document has no readable text part; the original file is in the package.",
    machine: "The same in machine-readable form: records.csv (records and their retention) and access-report.csv (use and disclosure). The files' checksums are in the package's METS.xml files.",
};

/// An access event's action in the client's language (the code itself when unknown).
fn action(lang: Lang, code: &str) -> String {
    let (fi, sv, en) = match code {
        "search" => ("haku", "sökning", "search"),
        "show" => ("tietojen katselu", "visning av uppgifter", "viewing the record's data"),
        "get" => ("asiakirjan nouto", "hämtning av handlingen", "retrieving the record"),
        "retention explain" => ("säilytysajan selvitys", "utredning av bevarandetiden", "explaining its retention"),
        "export person" => {
            ("asiakirjojen luovutus pakettina", "utlämnande av handlingarna som paket", "disclosure of the records as a package")
        }
        "export download" => ("paketin lataus", "nedladdning av paketet", "download of the package"),
        other => return other.to_string(),
    };
    match lang {
        Lang::Fi => fi,
        Lang::Sv => sv,
        Lang::En => en,
    }
    .to_string()
}

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::Fi => &FI,
        Lang::Sv => &SV,
        Lang::En => &EN,
    }
}

/// One record on the cover page.
pub struct CoverRecord {
    /// Created date (ISO) or empty.
    pub date: String,
    /// Type (display name or code).
    pub doc_type: String,
    /// Source system.
    pub source: String,
    /// Title.
    pub title: String,
    /// Record id.
    pub record_id: String,
    /// Path of the original from the package root.
    pub original: String,
    /// Path of the rendering from the package root.
    pub rendering: Option<String>,
    /// Retention rule.
    pub rule: String,
    /// Disposal: a date, `permanent` or `undetermined`.
    pub disposal: String,
    /// A hold in force on it: id and reason.
    pub hold: Option<(String, String)>,
}

/// What the cover page says about the request.
pub struct Request<'a> {
    /// Language.
    pub lang: Lang,
    /// The person's identifier.
    pub subject: &'a str,
    /// Request id.
    pub request_id: &'a str,
    /// Who compiled it.
    pub actor: &'a str,
    /// Why.
    pub purpose: &'a str,
    /// Period asked for.
    pub period: Option<String>,
    /// Source asked for.
    pub source: Option<&'a str>,
    /// When compiled (RFC 3339).
    pub created: &'a str,
    /// Package id.
    pub package_id: &'a str,
    /// Organisation holding the records.
    pub organisation: &'a str,
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;line-height:1.5;color:#1a1a1a;background:#fff;max-width:72rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.75rem;margin:0 0 .5rem}h2{font-size:1.3rem;margin-top:2rem;border-bottom:2px solid #1a1a1a}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #767676;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#e8e8e8}caption{text-align:left;font-weight:600;padding:.25rem 0}dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}
dt{font-weight:600}dd{margin:0}a{color:#0b4f9c}a:focus{outline:3px solid #1a1a1a;outline-offset:2px}.id{font-family:ui-monospace,monospace;font-size:.85em;word-break:break-all}
@media print{body{max-width:none;padding:0}a{color:#000}h2{page-break-after:avoid}tr{page-break-inside:avoid}}";

/// The cover page.
pub fn index_html(r: &Request<'_>, records: &[CoverRecord], excluded: &[Excluded], access: &[AccessEntry]) -> String {
    let w = words(r.lang);
    let mut h = String::with_capacity(8192 + records.len() * 600 + access.len() * 200);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n<title>{} – {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n<p>{}</p>\n",
        r.lang.code(),
        esc(w.title),
        esc(r.subject),
        esc(w.title),
        esc(w.intro),
    );
    let _ = write!(h, "<h2 id=\"request\">{}</h2>\n<dl>\n", esc(w.request));
    let mut row = |k: &str, v: &str| {
        let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
    };
    row(w.person, r.subject);
    row(w.request_id, r.request_id);
    row(w.holder, r.organisation);
    row(w.handled_by, r.actor);
    row(w.purpose, r.purpose);
    row(w.period, r.period.as_deref().unwrap_or(w.all));
    row(w.source, r.source.unwrap_or(w.all));
    row(w.compiled, r.created);
    row(w.package, r.package_id);
    h.push_str("</dl>\n");

    let _ = writeln!(h, "<h2 id=\"records\">{} ({})</h2>", esc(w.records), records.len());
    if records.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(w.empty));
    } else {
        let _ = writeln!(
            h,
            "<table aria-labelledby=\"records\">\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>",
            esc(w.date),
            esc(w.doc_type),
            esc(w.system),
            esc(w.heading),
            esc(w.files),
            esc(w.retention),
        );
        for c in records {
            let retention = match c.disposal.as_str() {
                "permanent" => w.permanent.to_string(),
                "undetermined" => w.undetermined.to_string(),
                d => format!("{} {d}", w.kept_until),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}<br><span class=\"id\">{}</span></td><td><a href=\"../{}\">{}</a>",
                esc(&c.date),
                esc(&c.doc_type),
                esc(&c.source),
                esc(&c.title),
                esc(&c.record_id),
                esc(&c.original),
                esc(w.original),
            );
            if let Some(rend) = &c.rendering {
                let _ = write!(h, "<br><a href=\"../{}\">{}</a>", esc(rend), esc(w.readable));
            }
            let _ = write!(h, "</td><td>{}<br>{} {}", esc(&retention), esc(w.rule), esc(&c.rule));
            if let Some((id, reason)) = &c.hold {
                let _ = write!(h, "<br>{} {}: {}", esc(w.hold), esc(id), esc(reason));
            }
            h.push_str("</td></tr>\n");
        }
        h.push_str("</tbody>\n</table>\n");
    }

    let _ = writeln!(h, "<h2 id=\"not-included\">{}</h2>", esc(w.not_included));
    if excluded.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(w.all_included));
    } else {
        h.push_str("<ul>\n");
        for x in excluded {
            let text = match x {
                Excluded::Destroyed { date, rule, plan, .. } => {
                    w.destroyed.replace("{date}", date).replace("{rule}", rule).replace("{plan}", plan)
                }
                Excluded::HeldBack { hold, reason, .. } => w.held_back.replace("{hold}", hold).replace("{reason}", reason),
                Excluded::Damaged { .. } => w.damaged.to_string(),
                Excluded::Mismatch { .. } => w.mismatch.to_string(),
            };
            let _ = writeln!(h, "<li><span class=\"id\">{}</span>: {}</li>", esc(&x.record().to_string()), esc(&text));
        }
        h.push_str("</ul>\n");
    }

    let _ = writeln!(h, "<h2 id=\"access\">{}</h2>\n<p>{}</p>", esc(w.access), esc(w.access_law));
    if access.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(w.no_access));
    } else {
        let _ = writeln!(
            h,
            "<table aria-labelledby=\"access\">\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>",
            esc(w.time),
            esc(w.who),
            esc(w.action),
            esc(w.purpose),
            esc(w.count),
        );
        for a in access {
            let kind = if a.kind == crate::ledger::DISSEMINATION { w.disclosed } else { w.viewed };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}: {}</td><td>{}</td><td>{}</td></tr>",
                esc(&a.time),
                esc(&a.actor),
                esc(kind),
                esc(&action(r.lang, &a.action)),
                esc(a.purpose.as_deref().unwrap_or("")),
                a.records.len(),
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    let _ = writeln!(h, "<h2 id=\"files\">{}</h2>\n<p>{}</p>", esc(w.files), esc(w.machine));
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

/// One CSV field: always quoted; a leading `=`, `+`, `-` or `@` is prefixed with `'` so a
/// spreadsheet shows it instead of running it as a formula.
fn csv_field(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

fn csv_line(fields: &[&str]) -> String {
    let mut l = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    l.push_str("\r\n");
    l
}

/// The access report as CSV (RFC 4180): one line per use or disclosure.
pub fn access_csv(access: &[AccessEntry]) -> String {
    let mut s = csv_line(&["time", "actor", "kind", "action", "purpose", "records"]);
    for a in access {
        s.push_str(&csv_line(&[&a.time, &a.actor, &a.kind, &a.action, a.purpose.as_deref().unwrap_or(""), &a.records.join(" ")]));
    }
    s
}

/// The records and their retention as CSV, then what was not included and why.
pub fn records_csv(records: &[CoverRecord], excluded: &[Excluded]) -> String {
    let mut s =
        csv_line(&["record_id", "status", "created", "type", "source", "title", "original", "rendering", "rule", "disposal", "hold"]);
    for c in records {
        let hold = c.hold.as_ref().map(|(id, r)| format!("{id}: {r}")).unwrap_or_default();
        s.push_str(&csv_line(&[
            &c.record_id,
            "included",
            &c.date,
            &c.doc_type,
            &c.source,
            &c.title,
            &c.original,
            c.rendering.as_deref().unwrap_or(""),
            &c.rule,
            &c.disposal,
            &hold,
        ]));
    }
    for x in excluded {
        let (status, rule, disposal, hold) = match x {
            Excluded::Destroyed { date, rule, .. } => ("destroyed", rule.as_str(), date.as_str(), String::new()),
            Excluded::HeldBack { hold, reason, .. } => ("held back", "", "", format!("{hold}: {reason}")),
            Excluded::Damaged { .. } => ("damaged", "", "", String::new()),
            Excluded::Mismatch { .. } => ("index mismatch", "", "", String::new()),
        };
        s.push_str(&csv_line(&[&x.record().to_string(), status, "", "", "", "", "", "", rule, disposal, &hold]));
    }
    s
}

/// A plain, escaped rendering of a CDA document: its header and its narrative, section by
/// section. Nothing in the document is interpreted as markup.
pub fn render_cda(lang: Lang, doc: &super::render::Rendered, meta: &crate::record::RecordMeta) -> String {
    let w = words(lang);
    let hd = &doc.header;
    let title = hd.title.clone().or_else(|| meta.title.clone()).unwrap_or_default();
    let blocks = &doc.blocks;
    let mut h = String::with_capacity(
        2048 + blocks
            .iter()
            .map(|b| match b {
                super::render::Block::Heading(_, t) | super::render::Block::Para(t) => t.len() + 16,
            })
            .sum::<usize>(),
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n<dl>\n",
        esc(hd.language.as_deref().and_then(|l| l.get(..2)).unwrap_or(lang.code())),
        esc(&title),
        esc(&title),
    );
    let mut row = |k: &str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
        }
    };
    row(w.person, meta.subject.as_ref().map(|s| s.value.as_str()));
    row(w.date, meta.created.as_deref());
    row(w.doc_type, meta.doc_type_name.as_deref().or(meta.doc_type.as_deref()));
    row(w.system, Some(&meta.source));
    row(w.holder, hd.custodian.as_deref());
    row(w.confidentiality, hd.confidentiality.as_deref());
    row(w.record_id, Some(&meta.record_id.to_string()));
    h.push_str("</dl>\n");
    if blocks.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(w.no_text));
    }
    for b in blocks {
        match b {
            super::render::Block::Heading(level, t) => {
                let l = (level + 1).min(6);
                let _ = writeln!(h, "<h{l}>{}</h{l}>", esc(t));
            }
            super::render::Block::Para(t) => {
                let _ = writeln!(h, "<p>{}</p>", esc(t));
            }
        }
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_line(&["a", "b,c"]), "\"a\",\"b,c\"\r\n");
    }

    #[test]
    fn the_cover_page_escapes_what_it_shows_and_runs_nothing() {
        let r = Request {
            lang: Lang::Sv,
            subject: "010101-123N",
            request_id: "<script>alert(1)</script>",
            actor: "a&b",
            purpose: "\"x\"",
            period: None,
            source: None,
            created: "2026-12-08T00:00:00Z",
            package_id: "p",
            organisation: "o",
        };
        let h = index_html(&r, &[], &[], &[]);
        assert!(!h.contains("<script"), "{h}");
        assert!(h.contains("&lt;script&gt;"));
        assert!(h.contains("Arkivet har inga handlingar om denna person."));
        assert!(h.contains("<html lang=\"sv\">"));
    }
}
