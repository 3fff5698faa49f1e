//! A CDA document's narrative as plain blocks (section titles and paragraphs), read with
//! arkisto's own bounded XML parser (no DTD, no entity expansion, depth limits). Nothing of
//! the document becomes markup: the blocks are text, escaped when written. The web UI's
//! renderer with the narrative-block allowlist will replace this; until then, it is what the
//! export issue asks for: a plain, escaped text rendering.

use crate::formats::xml::{self, Handler, Limits};

/// One block of a document's narrative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// A section title, with its nesting level (1 = top).
    Heading(usize, String),
    /// A paragraph (a `paragraph`, list item, table row or a run of text).
    Para(String),
}

/// At most this many characters of narrative are rendered (a rendering is a reading aid; the
/// original is always beside it).
const MAX_CHARS: usize = 2_000_000;

/// What a rendering shows of a CDA header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// The document's title.
    pub title: Option<String>,
    /// The custodian organisation's name.
    pub custodian: Option<String>,
    /// Confidentiality: display name, else code.
    pub confidentiality: Option<String>,
    /// `languageCode/@code`.
    pub language: Option<String>,
}

/// A CDA document read for a human: header fields and the narrative.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Header fields.
    pub header: Header,
    /// The narrative, section by section.
    pub blocks: Vec<Block>,
}

#[derive(Default)]
struct Narrative {
    header: Header,
    /// Text of the element being captured for the header (`title`, a custodian `name`).
    capture: Option<String>,
    blocks: Vec<Block>,
    path: Vec<String>,
    sections: usize,
    in_title: bool,
    in_text: usize,
    cur: String,
    chars: usize,
}

impl Narrative {
    fn flush(&mut self) {
        let t = self.cur.split_whitespace().collect::<Vec<_>>().join(" ");
        self.cur.clear();
        if t.is_empty() {
            return;
        }
        self.chars += t.len();
        if self.chars <= MAX_CHARS {
            if self.in_title {
                self.blocks.push(Block::Heading(self.sections.max(1), t));
            } else {
                self.blocks.push(Block::Para(t));
            }
        }
    }
}

/// Elements of the narrative block that end a line.
fn breaks(local: &str) -> bool {
    matches!(local, "paragraph" | "item" | "tr" | "br" | "caption" | "list" | "table" | "footnote")
}

impl Handler for Narrative {
    fn start(&mut self, _ns: Option<&str>, local: &str, attrs: &[(String, String)]) {
        let parent = self.path.last().map(String::as_str);
        let attr = |n: &str| attrs.iter().find(|(k, _)| k == n || k.ends_with(&format!(":{n}"))).map(|(_, v)| v.clone());
        match (self.path.len(), local) {
            (1, "title") => self.capture = Some(String::new()),
            (1, "confidentialityCode") => self.header.confidentiality = attr("displayName").or_else(|| attr("code")),
            (1, "languageCode") => self.header.language = attr("code"),
            (_, "name") if parent == Some("representedCustodianOrganization") => self.capture = Some(String::new()),
            _ => {}
        }
        match local {
            "section" => {
                self.flush();
                self.sections += 1;
            }
            "title" if parent == Some("section") => {
                self.flush();
                self.in_title = true;
            }
            "text" if parent == Some("section") => {
                self.flush();
                self.in_text += 1;
            }
            l if self.in_text > 0 && breaks(l) => self.flush(),
            "td" | "th" if self.in_text > 0 && !self.cur.trim().is_empty() => self.cur.push_str(" | "),
            _ => {}
        }
        self.path.push(local.to_string());
    }

    fn end(&mut self, _ns: Option<&str>, local: &str) {
        self.path.pop();
        let parent = self.path.last().map(String::as_str);
        if let Some(c) = self.capture.take() {
            let t = c.split_whitespace().collect::<Vec<_>>().join(" ");
            match (self.path.len(), local) {
                (1, "title") => self.header.title = Some(t),
                (_, "name") => self.header.custodian = Some(t),
                _ => self.capture = Some(c),
            }
        }
        match local {
            "section" => {
                self.flush();
                self.sections = self.sections.saturating_sub(1);
            }
            "title" if parent == Some("section") => {
                self.flush();
                self.in_title = false;
            }
            "text" if parent == Some("section") && self.in_text > 0 => {
                self.flush();
                self.in_text -= 1;
            }
            l if self.in_text > 0 && breaks(l) => self.flush(),
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        if let Some(c) = &mut self.capture {
            c.push_str(text);
            c.push(' ');
        }
        if self.in_title || self.in_text > 0 {
            self.cur.push_str(text);
            self.cur.push(' ');
        }
    }
}

/// A CDA document's header fields and the narrative of its structured body, in one pass;
/// `None` when it does not parse (the original is in the package either way).
pub fn read(bytes: &[u8]) -> Option<Rendered> {
    let text = xml::decode(bytes).ok()?;
    let mut n = Narrative::default();
    xml::parse(&text, Limits::default(), &mut n).ok()?;
    n.flush();
    Some(Rendered { header: n.header, blocks: n.blocks })
}

/// The narrative alone (empty when the document does not parse).
pub fn narrative(bytes: &[u8]) -> Vec<Block> {
    read(bytes).map(|r| r.blocks).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_become_headings_and_paragraphs_and_markup_stays_text() {
        let doc = r#"<ClinicalDocument xmlns="urn:hl7-org:v3"><component><structuredBody>
            <component><section><title>Diagnoosit</title><text><paragraph>Sydämen vajaatoiminta</paragraph>
            <list><item>I50.0</item><item>&lt;script&gt;alert(1)&lt;/script&gt;</item></list>
            <table><tr><th>Lääke</th><th>Annos</th></tr><tr><td>Furesis</td><td>40 mg</td></tr></table>
            <component><section><title>Alaosio</title><text>teksti</text></section></component>
            </text></section></component></structuredBody></component></ClinicalDocument>"#;
        let b = narrative(doc.as_bytes());
        assert_eq!(b[0], Block::Heading(1, "Diagnoosit".into()));
        assert!(b.contains(&Block::Para("Sydämen vajaatoiminta".into())), "{b:?}");
        assert!(b.contains(&Block::Para("<script>alert(1)</script>".into())), "{b:?}");
        assert!(b.contains(&Block::Para("Furesis | 40 mg".into())), "{b:?}");
        assert!(b.contains(&Block::Heading(2, "Alaosio".into())), "{b:?}");
    }

    #[test]
    fn the_header_fields_a_reader_needs_come_from_the_same_pass() {
        let doc = r#"<ClinicalDocument xmlns="urn:hl7-org:v3"><title>Lääkemääräys</title>
            <confidentialityCode code="5" displayName="Salassa pidettävä"/><languageCode code="fi-FI"/>
            <custodian><assignedCustodian><representedCustodianOrganization><name>Testi  tk</name>
            </representedCustodianOrganization></assignedCustodian></custodian>
            <component><structuredBody><component><section><title>Osio</title><text>x</text></section></component></structuredBody></component>
            </ClinicalDocument>"#;
        let r = read(doc.as_bytes()).unwrap();
        assert_eq!(r.header.title.as_deref(), Some("Lääkemääräys"));
        assert_eq!(r.header.custodian.as_deref(), Some("Testi tk"));
        assert_eq!(r.header.confidentiality.as_deref(), Some("Salassa pidettävä"));
        assert_eq!(r.header.language.as_deref(), Some("fi-FI"));
        assert_eq!(r.blocks[0], Block::Heading(1, "Osio".into()));
    }

    #[test]
    fn a_dtd_or_garbage_gives_nothing_not_a_panic() {
        assert!(narrative(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>").is_empty());
        assert!(narrative(&[0xff, 0xfe, 0x00]).is_empty());
        assert!(narrative(b"").is_empty());
    }
}
