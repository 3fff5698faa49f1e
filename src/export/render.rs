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

#[derive(Default)]
struct Narrative {
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
    fn start(&mut self, _ns: Option<&str>, local: &str, _attrs: &[(String, String)]) {
        let parent = self.path.last().map(String::as_str);
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
        if self.in_title || self.in_text > 0 {
            self.cur.push_str(text);
            self.cur.push(' ');
        }
    }
}

/// The narrative of a CDA document's structured body as blocks; empty when it has none or
/// does not parse (the original is in the package either way).
pub fn narrative(bytes: &[u8]) -> Vec<Block> {
    let Ok(text) = xml::decode(bytes) else { return Vec::new() };
    let mut n = Narrative::default();
    if xml::parse(&text, Limits::default(), &mut n).is_err() {
        return Vec::new();
    }
    n.flush();
    n.blocks
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
    fn a_dtd_or_garbage_gives_nothing_not_a_panic() {
        assert!(narrative(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>").is_empty());
        assert!(narrative(&[0xff, 0xfe, 0x00]).is_empty());
        assert!(narrative(b"").is_empty());
    }
}
