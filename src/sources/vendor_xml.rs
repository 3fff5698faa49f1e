//! Vendor XML: one file holding many records. The file is parsed as a stream by the hardened
//! reader (`formats::xml::parse_stream`: no DTD, no entities, no network, bounded depth), and
//! each record element is reported with its byte range in the file, the values the profile
//! asks for and its text, so that memory stays flat however large the file is.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use crate::formats::xml::{self, Handler, Limits};
use crate::validate::findings::Finding;

/// Longest value kept for one field (longer values are cut).
const MAX_VALUE: usize = 64 << 10;

/// What the reader looks for.
#[derive(Clone, Debug, Default)]
pub struct XmlSpec {
    /// Local name of a record element.
    pub record: String,
    /// Value paths to collect: `A/B` (text of element A/B in the record), `A/@x` (attribute),
    /// `@x` (attribute of the record element).
    pub wanted: HashSet<String>,
    /// Paths whose text is indexed (empty: all text of the record).
    pub text: Vec<String>,
    /// Path of a repeated attachment element, with its file and type attributes (`@file`).
    pub attachment: Option<(String, String, Option<String>)>,
}

/// One record element.
#[derive(Clone, Debug, Default)]
pub struct XmlRecord {
    /// 1-based position of the record in the file.
    pub ordinal: u64,
    /// Byte offset of its start tag.
    pub start: u64,
    /// Byte offset just after its end tag.
    pub end: u64,
    /// Collected values by path.
    pub values: HashMap<String, String>,
    /// Text for the index.
    pub text: String,
    /// Attachment references: (file, declared type).
    pub attachments: Vec<(String, Option<String>)>,
}

struct Reader<'s, F: FnMut(XmlRecord) -> bool> {
    spec: &'s XmlSpec,
    on_record: F,
    depth: usize,
    rec_depth: Option<usize>,
    rel: Vec<String>,
    span: (u64, u64),
    cur: XmlRecord,
    count: u64,
    emitted: u64,
    stopped: bool,
}

fn local(q: &str) -> &str {
    q.rsplit(':').next().unwrap_or(q)
}

fn push_bounded(s: &mut String, t: &str, max: usize) {
    if s.len() >= max {
        return;
    }
    let mut cut = t.len().min(max - s.len());
    while !t.is_char_boundary(cut) {
        cut -= 1;
    }
    s.push_str(&t[..cut]);
}

impl<F: FnMut(XmlRecord) -> bool> Handler for Reader<'_, F> {
    fn span(&mut self, start: u64, end: u64) {
        self.span = (start, end);
    }

    fn start(&mut self, _ns: Option<&str>, name: &str, attrs: &[(String, String)]) {
        self.depth += 1;
        if self.stopped {
            return;
        }
        let prefix = match self.rec_depth {
            None if name == self.spec.record => {
                self.rec_depth = Some(self.depth);
                self.count += 1;
                self.cur = XmlRecord { ordinal: self.count, start: self.span.0, ..Default::default() };
                String::new()
            }
            None => return,
            Some(_) => {
                self.rel.push(name.to_string());
                self.rel.join("/")
            }
        };
        for (q, v) in attrs {
            let key = if prefix.is_empty() { format!("@{}", local(q)) } else { format!("{prefix}/@{}", local(q)) };
            if self.spec.wanted.contains(&key) {
                let e = self.cur.values.entry(key).or_default();
                push_bounded(e, v, MAX_VALUE);
            }
        }
        if let Some((el, file, ty)) = &self.spec.attachment
            && *el == prefix
        {
            let get = |a: &str| attrs.iter().find(|(q, _)| format!("@{}", local(q)) == a).map(|(_, v)| v.clone());
            if let Some(f) = get(file) {
                self.cur.attachments.push((f, ty.as_deref().and_then(get)));
            }
        }
    }

    fn end(&mut self, _ns: Option<&str>, _name: &str) {
        if let Some(d) = self.rec_depth
            && !self.stopped
        {
            if d == self.depth {
                self.rec_depth = None;
                let mut rec = std::mem::take(&mut self.cur);
                rec.end = self.span.1;
                rec.text = rec.text.split_whitespace().collect::<Vec<_>>().join(" ");
                self.emitted += 1;
                if !(self.on_record)(rec) {
                    self.stopped = true;
                }
            } else {
                self.rel.pop();
            }
        }
        self.depth = self.depth.saturating_sub(1);
    }

    fn text(&mut self, text: &str) {
        if self.rec_depth.is_none() || self.stopped {
            return;
        }
        let path = self.rel.join("/");
        if self.spec.wanted.contains(&path) {
            push_bounded(self.cur.values.entry(path.clone()).or_default(), text, MAX_VALUE);
        }
        if self.spec.text.is_empty() || self.spec.text.iter().any(|t| path == *t || path.starts_with(&format!("{t}/"))) {
            push_bounded(&mut self.cur.text, text, crate::formats::cda::MAX_NARRATIVE);
            push_bounded(&mut self.cur.text, " ", crate::formats::cda::MAX_NARRATIVE);
        }
    }
}

/// Read `reader` as one XML document and call `on_record` for each record element, in
/// order (return `false` to stop early). Returns the number of records reported; `Err` is the
/// finding that stopped the parse, with the number of complete records reported before it.
pub fn read<R: BufRead>(
    reader: R,
    spec: &XmlSpec,
    limits: Limits,
    on_record: impl FnMut(XmlRecord) -> bool,
) -> Result<u64, (u64, Finding)> {
    let mut h = Reader {
        spec,
        on_record,
        depth: 0,
        rec_depth: None,
        rel: Vec::new(),
        span: (0, 0),
        cur: XmlRecord::default(),
        count: 0,
        emitted: 0,
        stopped: false,
    };
    match xml::parse_stream(reader, limits, &mut h) {
        Ok(()) => Ok(h.emitted),
        Err(f) => Err((h.emitted, f)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> XmlSpec {
        XmlSpec {
            record: "Doc".into(),
            wanted: ["@id", "P/Hetu", "Title"].iter().map(|s| s.to_string()).collect(),
            text: vec![],
            attachment: Some(("Att".into(), "@file".into(), Some("@type".into()))),
        }
    }

    #[test]
    fn records_with_byte_ranges_values_and_attachments() {
        let xml = "<?xml version=\"1.0\"?>\n<Export><Doc id=\"1\"><P><Hetu>010101-900X</Hetu></P><Title>Eka &amp; toka</Title>\
                   <Att file=\"a.pdf\" type=\"application/pdf\"/></Doc>\n<Doc id=\"2\"><Title>Ö</Title></Doc></Export>";
        let mut got = Vec::new();
        let n = read(xml.as_bytes(), &spec(), Limits::default(), |r| {
            got.push(r);
            true
        })
        .unwrap();
        assert_eq!(n, 2);
        let r = &got[0];
        assert_eq!(&xml[r.start as usize..r.end as usize], &xml[xml.find("<Doc id=\"1\"").unwrap()..xml.find("</Doc>").unwrap() + 6]);
        assert_eq!(r.values["@id"], "1");
        assert_eq!(r.values["P/Hetu"], "010101-900X");
        assert_eq!(r.values["Title"], "Eka & toka");
        assert_eq!(r.attachments, vec![("a.pdf".to_string(), Some("application/pdf".to_string()))]);
        assert_eq!(r.text, "010101-900X Eka & toka");
        assert!(xml[got[1].start as usize..got[1].end as usize].starts_with("<Doc id=\"2\">"));
        assert!(xml[got[1].start as usize..got[1].end as usize].ends_with("</Doc>"));
    }

    #[test]
    fn latin9_offsets_are_byte_offsets() {
        let mut bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-15\"?><E><Doc id=\"\xE4\xA4\"><Title>\xF6</Title></Doc></E>".to_vec();
        let mut got = Vec::new();
        read(&bytes[..], &spec(), Limits::default(), |r| {
            got.push(r);
            true
        })
        .unwrap();
        assert_eq!(got[0].values["@id"], "ä€");
        assert_eq!(got[0].values["Title"], "ö");
        assert_eq!(&bytes[got[0].start as usize..got[0].start as usize + 4], b"<Doc");
        assert_eq!(&bytes[got[0].end as usize - 6..got[0].end as usize], b"</Doc>");
        // A malformed tail: the records before stand, the finding says where.
        bytes.truncate(bytes.len() - 4);
        let e = read(&bytes[..], &spec(), Limits::default(), |_| true).unwrap_err();
        assert_eq!(e.0, 1);
        assert_eq!(e.1.code.as_str(), "V001");
    }
}
