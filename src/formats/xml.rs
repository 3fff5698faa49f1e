//! A hardened XML reader: quick-xml's tokenizer plus the well-formedness checks it leaves out.
//!
//! What this module guarantees, for every input: no DTD is processed (a DOCTYPE stops the parse
//! with V002), no entity other than the five predefined ones and character references is ever
//! expanded, nothing outside the bytes given is opened (no external entity, no schema, no
//! network), nesting depth is bounded, and any not-well-formed construct it can detect is
//! reported with a line and column. It never panics on input.

use std::borrow::Cow;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

use crate::validate::findings::{Code, Finding};

pub use super::encoding::Encoding;

/// Limits that bound the work one document can cause.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Maximum element nesting depth.
    pub max_depth: usize,
    /// Maximum number of attributes on one element.
    pub max_attributes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_depth: 256, max_attributes: 256 }
    }
}

/// Receives the parsed document, event by event.
pub trait Handler {
    /// An element starts. `ns` is its namespace URI, `attrs` are (qualified name, unescaped value).
    fn start(&mut self, ns: Option<&str>, local: &str, attrs: &[(String, String)]);
    /// An element ends.
    fn end(&mut self, ns: Option<&str>, local: &str);
    /// Character data (entities already resolved).
    fn text(&mut self, text: &str);
    /// The byte range in the source of the event about to be reported (called before each
    /// `start`, `end` and `text`). Streaming readers use it to cut records out of a file.
    fn span(&mut self, _start: u64, _end: u64) {}
}

/// Turn raw bytes into text for parsing: honour a BOM and the declared encoding; report V010
/// when they disagree or the bytes are not what they claim to be.
pub fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, Finding> {
    let enc_err = |m: String| Finding::new(Code::V010, m);
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        let s = std::str::from_utf8(rest).map_err(|e| enc_err(format!("invalid UTF-8 at byte {}", e.valid_up_to() + 3)))?;
        if let Some(decl) = declared_encoding(s)
            && !matches!(decl.to_ascii_lowercase().as_str(), "utf-8" | "utf8")
        {
            return Err(enc_err(format!("UTF-8 byte-order mark contradicts declared encoding {decl:?}")));
        }
        return Ok(Cow::Borrowed(s));
    }
    for (bom, le) in [(&b"\xFF\xFE"[..], true), (&b"\xFE\xFF"[..], false)] {
        if let Some(rest) = bytes.strip_prefix(bom) {
            if rest.len() % 2 != 0 {
                return Err(enc_err("UTF-16 content has an odd number of bytes (truncated?)".into()));
            }
            let units = rest.chunks_exact(2).map(|c| if le { u16::from_le_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], c[1]]) });
            let s: String =
                char::decode_utf16(units).collect::<Result<_, _>>().map_err(|_| enc_err("invalid UTF-16 (unpaired surrogate)".into()))?;
            if let Some(decl) = declared_encoding(&s)
                && !decl.to_ascii_lowercase().starts_with("utf-16")
            {
                return Err(enc_err(format!("UTF-16 byte-order mark contradicts declared encoding {decl:?}")));
            }
            return Ok(Cow::Owned(s));
        }
    }
    // No BOM: the declaration (read as ASCII) decides; the default is UTF-8.
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    match declared_encoding(&head).map(|e| e.to_ascii_lowercase()) {
        None => {}
        Some(e) if e == "utf-8" || e == "utf8" || e == "us-ascii" || e == "ascii" => {}
        Some(e) if e == "iso-8859-1" || e == "latin1" || e == "iso_8859-1" || e == "latin-1" => {
            return Ok(Cow::Owned(bytes.iter().map(|&b| b as char).collect()));
        }
        Some(e) if e.starts_with("utf-16") => {
            return Err(enc_err(format!("declared encoding {e:?} but no UTF-16 byte-order mark")));
        }
        Some(e) => return Err(enc_err(format!("unsupported encoding {e:?}"))),
    }
    std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| enc_err(format!("invalid UTF-8 at byte {}", e.valid_up_to())))
}

/// The `encoding="…"` of an XML declaration at the very start of `text`, if any.
pub(crate) fn declared_encoding(text: &str) -> Option<String> {
    let decl = text.strip_prefix("<?xml")?;
    let end = decl.find("?>")?;
    let decl = &decl[..end];
    let i = decl.find("encoding")?;
    let rest = decl[i + 8..].trim_start().strip_prefix('=')?.trim_start();
    let q = rest.chars().next()?;
    if q != '"' && q != '\'' {
        return None;
    }
    let rest = &rest[1..];
    Some(rest[..rest.find(q)?].to_string())
}

/// Parse `text` as one XML document, calling `handler` for each event.
pub fn parse(text: &str, limits: Limits, handler: &mut impl Handler) -> Result<(), Finding> {
    // Refuse a DOCTYPE before the tokenizer sees it: its internal subset is never read.
    if let Some(pos) = doctype_position(text) {
        return Err(Finding::new(Code::V002, "document has a DOCTYPE; DTDs are refused and never processed").at(line_col(text, pos)));
    }
    let mut p = Parser { text: Some(text), enc: Encoding::Utf8, base: 0, limits, depth: 0, seen_root: false, root_closed: false };
    p.run(NsReader::from_reader(text.as_bytes()), handler)
}

/// Parse one XML document from a stream with flat memory (only the current event is held):
/// the encoding comes from a UTF-8 byte-order mark or the declaration (UTF-8, ISO-8859-1,
/// ISO-8859-15, Windows-1252; UTF-16 is refused here). Positions in findings and in
/// [`Handler::span`] are byte offsets into the stream. The same checks as [`parse`].
pub fn parse_stream<R: std::io::BufRead>(mut reader: R, limits: Limits, handler: &mut impl Handler) -> Result<(), Finding> {
    let enc_err = |m: String| Finding::new(Code::V010, m);
    let head = reader.fill_buf().map_err(|e| Finding::new(Code::V013, format!("cannot read: {}", e.kind())))?.to_vec();
    let mut base = 0u64;
    let enc = if head.starts_with(b"\xEF\xBB\xBF") {
        let text = String::from_utf8_lossy(&head[3..]);
        if let Some(decl) = declared_encoding(&text)
            && Encoding::from_label(&decl) != Some(Encoding::Utf8)
        {
            return Err(enc_err(format!("UTF-8 byte-order mark contradicts declared encoding {decl:?}")));
        }
        reader.consume(3);
        base = 3;
        Encoding::Utf8
    } else if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return Err(enc_err("UTF-16 is not supported for streamed exports; convert the file to UTF-8".into()));
    } else {
        match declared_encoding(&String::from_utf8_lossy(&head[..head.len().min(200)])) {
            None => Encoding::Utf8,
            Some(label) if label.to_ascii_lowercase().starts_with("utf-16") => {
                return Err(enc_err(format!("declared encoding {label:?} but no UTF-16 byte-order mark")));
            }
            Some(label) => Encoding::from_label(&label).ok_or_else(|| enc_err(format!("unsupported encoding {label:?}")))?,
        }
    };
    // Refuse a DOCTYPE in the prolog before the tokenizer reads its internal subset.
    let head_text = String::from_utf8_lossy(&head[base as usize..]);
    if let Some(pos) = doctype_position(&head_text) {
        return Err(Finding::new(Code::V002, "document has a DOCTYPE; DTDs are refused and never processed")
            .at(format!("byte {}", pos as u64 + base)));
    }
    let mut p = Parser { text: None, enc, base, limits, depth: 0, seen_root: false, root_closed: false };
    p.run(NsReader::from_reader(reader), handler)
}

/// Byte offset of a `<!DOCTYPE` in the prolog (after the declaration, comments, PIs and
/// whitespace), if there is one.
fn doctype_position(text: &str) -> Option<usize> {
    let mut i = 0;
    let b = text.as_bytes();
    loop {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        let rest = &text[i..];
        if rest.starts_with("<!DOCTYPE") {
            return Some(i);
        } else if rest.starts_with("<?") {
            i += rest.find("?>")? + 2;
        } else if rest.starts_with("<!--") {
            i += rest.find("-->")? + 3;
        } else {
            return None;
        }
    }
}

struct Parser<'t> {
    /// The whole text, when parsing from memory (for line and column in messages).
    text: Option<&'t str>,
    enc: Encoding,
    /// Bytes before the reader's position 0 (a byte-order mark).
    base: u64,
    limits: Limits,
    depth: usize,
    seen_root: bool,
    root_closed: bool,
}

/// Line and column (1-based) of a byte offset, for messages.
pub fn line_col(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let before = text.as_bytes().get(..offset).unwrap_or_default();
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset - before.iter().rposition(|&b| b == b'\n').map(|p| p + 1).unwrap_or(0) + 1;
    format!("line {line}, column {col}")
}

impl Parser<'_> {
    fn loc(&self, pos: usize) -> String {
        match self.text {
            Some(t) => line_col(t, pos),
            None => format!("byte {}", pos as u64 + self.base),
        }
    }

    fn wf(&self, msg: impl Into<String>, pos: usize) -> Finding {
        Finding::new(Code::V001, msg).at(self.loc(pos))
    }

    /// The text of an event's bytes, in the document's encoding.
    fn raw<'a>(&self, b: &'a [u8], pos: usize) -> Result<Cow<'a, str>, Finding> {
        self.enc.decode(b).map_err(|off| Finding::new(Code::V010, "invalid UTF-8").at(self.loc(pos + off)))
    }

    fn run<R: std::io::BufRead>(&mut self, mut r: NsReader<R>, handler: &mut impl Handler) -> Result<(), Finding> {
        let mut buf: Vec<u8> = Vec::new();
        {
            let c = r.config_mut();
            c.check_end_names = true;
            c.check_comments = true;
            c.expand_empty_elements = false;
            c.trim_text(false);
        }
        let mut first = true;
        let mut attrs: Vec<(String, String)> = Vec::new();
        loop {
            buf.clear();
            let pos = r.buffer_position() as usize;
            let (ns, unbound, ev) = match r.read_resolved_event_into(&mut buf) {
                Ok((res, ev)) => {
                    let unbound = match &res {
                        ResolveResult::Unknown(p) => Some(String::from_utf8_lossy(p).into_owned()),
                        _ => None,
                    };
                    (ns_str(&res), unbound, ev)
                }
                Err(e) => return Err(self.wf(format!("{e}"), r.error_position() as usize)),
            };
            let span = (pos as u64 + self.base, r.buffer_position() + self.base);
            let was_first = std::mem::replace(&mut first, false);
            match ev {
                Event::Decl(d) => {
                    if !was_first || pos != 0 {
                        return Err(self.wf("XML declaration not at the very start of the document", pos));
                    }
                    check_decl(&d).map_err(|m| self.wf(m, pos))?;
                }
                Event::DocType(_) => {
                    return Err(Finding::new(Code::V002, "document has a DOCTYPE; DTDs are refused and never processed").at(self.loc(pos)));
                }
                Event::PI(pi) => {
                    let raw = self.raw(&pi, pos)?;
                    let raw = raw.as_ref();
                    let target = raw.split(|c: char| is_ws(c)).next().unwrap_or("");
                    if target.eq_ignore_ascii_case("xml") {
                        return Err(self.wf("XML declaration not at the very start of the document", pos));
                    }
                    if !is_name(target) || target.contains(':') {
                        return Err(self.wf("processing instruction has an invalid target", pos));
                    }
                    if let Some(rest) = raw.get(target.len()..)
                        && !rest.is_empty()
                        && !rest.starts_with(is_ws)
                    {
                        return Err(self.wf("processing instruction target must be followed by whitespace", pos));
                    }
                    check_chars(raw).map_err(|m| self.wf(m, pos))?;
                }
                Event::Comment(c) => {
                    let raw = self.raw(&c, pos)?;
                    check_chars(&raw).map_err(|m| self.wf(m, pos))?;
                }
                Event::Start(ref s) | Event::Empty(ref s) => {
                    let empty = matches!(ev, Event::Empty(_));
                    if self.root_closed {
                        return Err(self.wf("more than one root element", pos));
                    }
                    self.seen_root = true;
                    let raw = self.raw(s, pos)?;
                    let name = self.check_tag(&raw, &mut attrs, pos)?;
                    if let Some(p) = &unbound {
                        return Err(self.wf(format!("unbound namespace prefix {p:?}"), pos));
                    }
                    for (q, _) in &attrs {
                        if let Some((prefix, _)) = q.split_once(':')
                            && prefix != "xmlns"
                            && prefix != "xml"
                        {
                            let (ar, _) = r.resolve_attribute(quick_xml::name::QName(q.as_bytes()));
                            if let ResolveResult::Unknown(_) = ar {
                                return Err(self.wf(format!("unbound namespace prefix {prefix:?} on an attribute"), pos));
                            }
                        }
                    }
                    let local = name.rsplit(':').next().unwrap_or(name);
                    self.depth += 1;
                    if self.depth > self.limits.max_depth {
                        return Err(
                            Finding::new(Code::V012, format!("element nesting deeper than {}", self.limits.max_depth)).at(self.loc(pos))
                        );
                    }
                    handler.span(span.0, span.1);
                    handler.start(ns.as_deref(), local, &attrs);
                    if empty {
                        self.depth -= 1;
                        handler.end(ns.as_deref(), local);
                        if self.depth == 0 {
                            self.root_closed = true;
                        }
                    }
                }
                Event::End(e) => {
                    let raw = self.raw(&e, pos)?;
                    let raw = raw.as_ref();
                    if !is_qname(raw) {
                        return Err(self.wf("invalid end-tag name", pos));
                    }
                    if self.depth == 0 {
                        return Err(self.wf("end tag without a start tag", pos));
                    }
                    self.depth -= 1;
                    let local = raw.rsplit(':').next().unwrap_or(raw);
                    handler.span(span.0, span.1);
                    handler.end(ns.as_deref(), local);
                    if self.depth == 0 {
                        self.root_closed = true;
                    }
                }
                Event::Text(t) => {
                    let raw = self.raw(&t, pos)?;
                    let raw = raw.as_ref();
                    if self.depth == 0 {
                        if !raw.chars().all(is_ws) {
                            return Err(self.wf("text outside the root element", pos));
                        }
                        continue;
                    }
                    if raw.contains("]]>") {
                        return Err(self.wf("\"]]>\" is not allowed in character data", pos));
                    }
                    let text = unescape(raw).map_err(|m| self.wf(m, pos))?;
                    handler.span(span.0, span.1);
                    handler.text(&text);
                }
                Event::CData(c) => {
                    if self.depth == 0 {
                        return Err(self.wf("CDATA section outside the root element", pos));
                    }
                    let raw = self.raw(&c, pos)?;
                    check_chars(&raw).map_err(|m| self.wf(m, pos))?;
                    handler.span(span.0, span.1);
                    handler.text(&raw);
                }
                Event::Eof => {
                    if !self.seen_root {
                        return Err(self.wf("no root element", pos));
                    }
                    if self.depth > 0 {
                        return Err(self.wf("document ends inside an element (truncated?)", pos));
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Check a start tag's raw content (`name attr="v" …`), fill `attrs`, return the name.
    fn check_tag<'a>(&self, raw: &'a str, attrs: &mut Vec<(String, String)>, pos: usize) -> Result<&'a str, Finding> {
        attrs.clear();
        let name_end = raw.find(is_ws).unwrap_or(raw.len());
        let name = &raw[..name_end];
        if !is_qname(name) {
            return Err(self.wf("invalid element name", pos));
        }
        let mut rest = &raw[name_end..];
        loop {
            let trimmed = rest.trim_start_matches(is_ws);
            if trimmed.is_empty() {
                break;
            }
            if trimmed.len() == rest.len() {
                return Err(self.wf("attributes must be separated by whitespace", pos));
            }
            rest = trimmed;
            let eq = rest.find('=').ok_or_else(|| self.wf("attribute without a value", pos))?;
            let aname = rest[..eq].trim_end_matches(is_ws);
            if !is_qname(aname) {
                return Err(self.wf("invalid attribute name", pos));
            }
            let after = rest[eq + 1..].trim_start_matches(is_ws);
            let q = after.chars().next().ok_or_else(|| self.wf("attribute without a value", pos))?;
            if q != '"' && q != '\'' {
                return Err(self.wf("attribute value must be quoted", pos));
            }
            let body = &after[1..];
            let close = body.find(q).ok_or_else(|| self.wf("unterminated attribute value", pos))?;
            let rawv = &body[..close];
            if rawv.contains('<') {
                return Err(self.wf("'<' is not allowed in an attribute value", pos));
            }
            let value = unescape(rawv).map_err(|m| self.wf(m, pos))?;
            if attrs.iter().any(|(n, _)| n == aname) {
                return Err(self.wf(format!("duplicate attribute {aname:?}"), pos));
            }
            if aname == "xmlns:xmlns" || (aname.starts_with("xmlns:") && value.is_empty()) {
                return Err(self.wf("invalid namespace declaration", pos));
            }
            if attrs.len() >= self.limits.max_attributes {
                return Err(Finding::new(Code::V012, format!("more than {} attributes on one element", self.limits.max_attributes))
                    .at(self.loc(pos)));
            }
            // Attribute-value normalisation of literal whitespace (XML 1.0 §3.3.3, CDATA type).
            let value = if value.contains(['\t', '\n', '\r']) { value.replace(['\t', '\n', '\r'], " ") } else { value.into_owned() };
            attrs.push((aname.to_string(), value));
            rest = &body[close + 1..];
        }
        Ok(name)
    }
}

fn ns_str(res: &ResolveResult) -> Option<String> {
    match res {
        ResolveResult::Bound(ns) => Some(String::from_utf8_lossy(ns.0).into_owned()),
        _ => None,
    }
}

fn check_decl(d: &quick_xml::events::BytesDecl) -> Result<(), String> {
    let raw = std::str::from_utf8(d).map_err(|_| "XML declaration is not text")?;
    // raw is `xml version="1.0" …`
    let body = raw.strip_prefix("xml").ok_or("malformed XML declaration")?;
    let mut rest = body;
    let mut seen: Vec<&str> = Vec::new();
    loop {
        let t = rest.trim_start_matches(is_ws);
        if t.is_empty() {
            break;
        }
        if t.len() == rest.len() {
            return Err("XML declaration: whitespace required between pseudo-attributes".into());
        }
        let eq = t.find('=').ok_or("malformed XML declaration")?;
        let name = t[..eq].trim_end_matches(is_ws);
        let after = t[eq + 1..].trim_start_matches(is_ws);
        let q = after.chars().next().ok_or("malformed XML declaration")?;
        if q != '"' && q != '\'' {
            return Err("XML declaration: value must be quoted".into());
        }
        let close = after[1..].find(q).ok_or("malformed XML declaration")?;
        let value = &after[1..1 + close];
        let ok = match (name, seen.as_slice()) {
            ("version", []) => value.len() >= 3 && value.starts_with("1.") && value[2..].bytes().all(|b| b.is_ascii_digit()),
            ("encoding", ["version"]) => {
                value.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && value.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            }
            ("standalone", ["version"] | ["version", "encoding"]) => value == "yes" || value == "no",
            _ => false,
        };
        if !ok {
            return Err(format!("XML declaration: unexpected or invalid {name:?}"));
        }
        seen.push(name);
        rest = &after[close + 2..];
    }
    if seen.first() != Some(&"version") {
        return Err("XML declaration without a version".into());
    }
    Ok(())
}

/// XML whitespace (S production).
pub fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Every character is an XML Char. Works on bytes: in valid UTF-8 the only non-Chars are
/// C0 controls other than tab, LF and CR, and U+FFFE/U+FFFF (EF BF BE/BF); surrogates cannot
/// occur in a `str`.
fn check_chars(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let bad = b.iter().enumerate().find(|&(i, &c)| {
        (c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r'))
            || (c == 0xEF && b.get(i + 1) == Some(&0xBF) && matches!(b.get(i + 2), Some(0xBE | 0xBF)))
    });
    match bad.and_then(|(i, _)| s[i..].chars().next()) {
        Some(c) if !is_xml_char(c) => Err(format!("character U+{:04X} is not allowed in XML", c as u32)),
        _ => Ok(()),
    }
}

fn is_name_start(c: char) -> bool {
    matches!(c, ':' | 'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}'
        | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// An XML Name.
pub fn is_name(s: &str) -> bool {
    let mut it = s.chars();
    it.next().is_some_and(is_name_start) && it.all(is_name_char)
}

/// A Name that is also a valid namespace QName (at most one colon, not at either end).
fn is_qname(s: &str) -> bool {
    is_name(s) && s.matches(':').count() <= 1 && !s.starts_with(':') && !s.ends_with(':')
}

/// Resolve the five predefined entities and character references; anything else is not
/// well-formed here (there is no DTD to declare it).
pub fn unescape(raw: &str) -> Result<Cow<'_, str>, String> {
    check_chars(raw)?;
    if !raw.contains('&') {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let semi = after.find(';').ok_or("'&' does not start a reference")?;
        let name = &after[..semi];
        let ch = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ if name.starts_with("#x") => {
                let h = &name[2..];
                if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err("malformed character reference".into());
                }
                char_ref(u32::from_str_radix(h, 16).ok())?
            }
            _ if name.starts_with('#') => {
                let d = &name[1..];
                if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
                    return Err("malformed character reference".into());
                }
                char_ref(d.parse().ok())?
            }
            _ if is_name(name) => return Err(format!("undeclared entity &{name}; (entities are not expanded)")),
            _ => return Err("'&' does not start a reference".into()),
        };
        out.push(ch);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

fn char_ref(n: Option<u32>) -> Result<char, String> {
    n.and_then(char::from_u32)
        .filter(|&c| is_xml_char(c))
        .ok_or_else(|| "character reference to a character not allowed in XML".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nop;
    impl Handler for Nop {
        fn start(&mut self, _: Option<&str>, _: &str, _: &[(String, String)]) {}
        fn end(&mut self, _: Option<&str>, _: &str) {}
        fn text(&mut self, _: &str) {}
    }

    fn check(s: &str) -> Result<(), Code> {
        let t = decode(s.as_bytes()).map_err(|f| f.code)?;
        parse(&t, Limits::default(), &mut Nop).map_err(|f| f.code)
    }

    #[test]
    fn hostile_and_broken_documents_get_their_codes() {
        assert_eq!(check("<a/>"), Ok(()));
        assert_eq!(check("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>"), Err(Code::V002));
        assert_eq!(check("<a>&x;</a>"), Err(Code::V001));
        assert_eq!(check("<a><b></a>"), Err(Code::V001));
        assert_eq!(check("<a></a><b/>"), Err(Code::V001));
        assert_eq!(check("<p:a/>"), Err(Code::V001));
        assert_eq!(check("<a x='1' x='2'/>"), Err(Code::V001));
        assert_eq!(check("<a x='1'y='2'/>"), Err(Code::V001));
        assert_eq!(check("<a>&#0;</a>"), Err(Code::V001));
        assert_eq!(check("<a>"), Err(Code::V001));
        assert_eq!(check(" <?xml version='1.0'?><a/>"), Err(Code::V001));
        assert_eq!(check(&format!("{}{}", "<a>".repeat(300), "</a>".repeat(300))), Err(Code::V012));
        assert_eq!(check("<?xml version='1.0' encoding='utf-8'?><a b=\"&lt;&#x41;\">ä</a>"), Ok(()));
    }

    #[test]
    fn encodings_are_checked_not_guessed() {
        assert!(decode(b"<a>\xff</a>").is_err());
        assert_eq!(decode(b"\xEF\xBB\xBF<?xml version='1.0' encoding='ISO-8859-1'?><a/>").unwrap_err().code, Code::V010);
        assert_eq!(
            decode(b"<?xml version='1.0' encoding='ISO-8859-1'?><a>\xe4</a>").unwrap(),
            "<?xml version='1.0' encoding='ISO-8859-1'?><a>ä</a>"
        );
    }
}
