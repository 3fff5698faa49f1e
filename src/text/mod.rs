//! The text analyzer both index backends use, so that SQLite and PostgreSQL index the same
//! terms and give the same answers (FORMAT.md does not depend on it: the index is a
//! projection, rebuilt with whatever analyzer the machine has).
//!
//! A text is split on Unicode word boundaries (UAX #29, after NFC), each word split again at
//! anything that is not a letter or digit, and lower-cased (ä, ö and å stay letters). Each
//! word becomes one term, at its position:
//! - Finnish: the first base form libvoikko gives (`sydämen` → `sydän`, `lääkemääräyksen` →
//!   `lääkemääräys`), or the Snowball Finnish stem where libvoikko is absent or does not
//!   know the word;
//! - Swedish: the Snowball Swedish stem (`läkemedlen` → `läkemedl`).
//!
//! A query word is analysed in both languages and matches any of its forms (see [`query`]).

pub mod query;
mod voikko;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// Words longer than this (in characters) are not indexed: no one types them, and they would
/// be a tsvector lexeme past PostgreSQL's limit.
pub const MAX_WORD: usize = 64;

/// Version of the analysis rules; part of [`Analyzer::id`].
const RULES: u32 = 1;

/// Most cached word analyses before the cache starts over.
const CACHE_MAX: usize = 200_000;

/// A text's language, as far as analysis goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Finnish.
    Fi,
    /// Swedish.
    Sv,
}

impl Lang {
    /// The language a record's text is analysed in: its declared language (`fi`, `fi-FI`,
    /// `sv-FI`, ...) when that is Finnish or Swedish, else a count of common function words
    /// of each, Finnish when neither wins (most records of Finnish systems are Finnish).
    pub fn of(declared: Option<&str>, text: &str) -> Lang {
        match declared.map(|d| d.trim().to_ascii_lowercase()) {
            Some(d) if d == "fi" || d.starts_with("fi-") || d.starts_with("fi_") || d == "fin" => return Lang::Fi,
            Some(d) if d == "sv" || d.starts_with("sv-") || d.starts_with("sv_") || d == "swe" => return Lang::Sv,
            _ => {}
        }
        const FI: &[&str] = &["ja", "on", "ei", "että", "oli", "tai", "kun", "myös", "hän", "joka", "sekä", "mutta", "kanssa", "ovat"];
        const SV: &[&str] = &["och", "är", "att", "det", "som", "på", "med", "för", "av", "inte", "har", "till", "den", "var"];
        let (mut fi, mut sv) = (0u32, 0u32);
        for w in text.split(|c: char| !c.is_alphanumeric()).take(2000) {
            let w = w.to_lowercase();
            fi += u32::from(FI.contains(&w.as_str()));
            sv += u32::from(SV.contains(&w.as_str()));
        }
        if sv > fi { Lang::Sv } else { Lang::Fi }
    }
}

/// The words of a text, in order: NFC, Unicode word boundaries, split at non-alphanumerics,
/// lower-cased; a word over [`MAX_WORD`] characters is `None` (left out, keeping its place).
pub fn words(text: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for_each_word(text, |w| out.push(w.map(str::to_string)));
    out
}

/// Whether UAX #29 word boundaries, then a split at non-alphanumerics, are the same as the
/// split alone for this text, and it is NFC as it stands: true when every character is ASCII
/// or a Latin letter (U+00C0–U+024F but × and ÷). Between two such letters or digits UAX #29
/// never breaks (WB5, WB8–WB10), and no combining mark can follow. Most records' text is.
fn plain_latin(text: &str) -> bool {
    // On the UTF-8 bytes: ASCII; C2 80–9F; C3 but 97 (×) and B7 (÷); C4–C8; C9 80–8F.
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let x = b[i];
        if x < 0x80 {
            i += 1;
            continue;
        }
        let y = b.get(i + 1).copied().unwrap_or(0);
        let ok = match x {
            0xC2 => y <= 0x9F,
            0xC3 => y != 0x97 && y != 0xB7,
            0xC4..=0xC8 => true,
            0xC9 => y <= 0x8F,
            _ => false,
        };
        if !ok {
            return false;
        }
        i += 2;
    }
    true
}

/// Call `f` with each word of `text` (as [`words`] gives them, lower-cased into one reused
/// buffer): the analyzer's hot path allocates nothing per word.
pub fn for_each_word(text: &str, f: impl FnMut(Option<&str>)) {
    split_words(text, plain_latin(text), f)
}

/// [`for_each_word`], with the fast split when `fast` (only where [`plain_latin`] holds;
/// the tests compare both paths).
fn split_words(text: &str, fast: bool, mut f: impl FnMut(Option<&str>)) {
    let mut buf = String::new();
    let mut emit = |w: &str, buf: &mut String| {
        if w.len() > MAX_WORD && w.chars().count() > MAX_WORD {
            f(None);
            return;
        }
        buf.clear();
        if w.is_ascii() {
            buf.push_str(w);
            buf.make_ascii_lowercase();
        } else {
            for c in w.chars() {
                match c {
                    // Latin-1 capitals (Ä, Ö, Å, ...) are their small letter less 0x20.
                    '\u{C0}'..='\u{DE}' => buf.push(char::from_u32(c as u32 + 0x20).unwrap_or(c)),
                    // ... and ß to ÿ are small letters already (÷ is never in a word).
                    '\u{DF}'..='\u{FF}' => buf.push(c),
                    c if c.is_ascii() => buf.push(c.to_ascii_lowercase()),
                    c => buf.extend(c.to_lowercase()),
                }
            }
        }
        f(Some(buf));
    };
    if fast {
        // In such text a letter or digit is an ASCII one or a two-byte character from U+00C0
        // on (lead byte C3 and up); the only other non-ASCII ones (C2 ..) are C1 controls.
        let b = text.as_bytes();
        let (mut i, mut start) = (0, None);
        while i < b.len() {
            let (alnum, len) = if b[i] < 0x80 { (b[i].is_ascii_alphanumeric(), 1) } else { (b[i] >= 0xC3, 2) };
            match (alnum, start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    emit(&text[s..i], &mut buf);
                    start = None;
                }
                _ => {}
            }
            i += len;
        }
        if let Some(s) = start {
            emit(&text[s..], &mut buf);
        }
        return;
    }
    let text: std::borrow::Cow<str> = match unicode_normalization::is_nfc_quick(text.chars()) {
        unicode_normalization::IsNormalized::Yes => text.into(),
        _ => text.nfc().collect::<String>().into(),
    };
    for w in text.unicode_words().flat_map(|w| w.split(|c: char| !c.is_alphanumeric())).filter(|w| !w.is_empty()) {
        emit(w, &mut buf);
    }
}

/// FNV-1a: the term cache's hash, for its shards and its maps (short words, and no flooding
/// worth a SipHash: a cache that fills is cleared).
struct FnvHasher(u64);

impl Default for FnvHasher {
    fn default() -> Self {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = bytes.iter().fold(self.0, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    }
}

type Fnv = std::hash::BuildHasherDefault<FnvHasher>;

/// Shards of the word-to-term cache (workers analyse in parallel; one lock would be contended).
const SHARDS: usize = 16;

/// Finnish and Swedish analysis (one per process: [`analyzer`]).
pub struct Analyzer {
    fi: Stemmer,
    sv: Stemmer,
    voikko: Option<voikko::Voikko>,
    /// Word → indexed term, per language (Fi, Sv), in shards by the word's hash.
    cache: [[Mutex<HashMap<String, String, Fnv>>; SHARDS]; 2],
}

/// The process's analyzer: libvoikko when it loads (`ARKISTO_NO_VOIKKO=1` turns it off, for
/// comparisons), else Snowball alone.
pub fn analyzer() -> &'static Analyzer {
    static A: OnceLock<Analyzer> = OnceLock::new();
    A.get_or_init(|| Analyzer::new(std::env::var_os("ARKISTO_NO_VOIKKO").is_none_or(|v| v.is_empty() || v == "0")))
}

impl Analyzer {
    /// An analyzer, with libvoikko if `voikko` and it loads.
    pub fn new(voikko: bool) -> Analyzer {
        Analyzer {
            fi: Stemmer::create(Algorithm::Finnish),
            sv: Stemmer::create(Algorithm::Swedish),
            voikko: if voikko { voikko::Voikko::load() } else { None },
            cache: std::array::from_fn(|_| std::array::from_fn(|_| Mutex::new(HashMap::default()))),
        }
    }

    /// What produced the terms: an index built by one analyzer is searched by the same one
    /// (`index rebuild` re-analyses under another).
    pub fn id(&self) -> String {
        match &self.voikko {
            Some(v) => format!("fi=voikko-{},sv=snowball;rules={RULES}", v.version()),
            None => format!("fi=snowball,sv=snowball;rules={RULES}"),
        }
    }

    /// Whether Finnish base forms come from libvoikko.
    pub fn has_voikko(&self) -> bool {
        self.voikko.is_some()
    }

    /// libvoikko's base forms of a lower-case word, empty without libvoikko.
    fn base_forms(&self, word: &str) -> Vec<String> {
        self.voikko.as_ref().map(|v| v.base_forms(word)).unwrap_or_default()
    }

    /// The term a (lower-case) word is indexed under, in `lang`.
    pub fn term(&self, lang: Lang, word: &str) -> String {
        let mut out = String::new();
        self.push_term(lang, word, &mut out);
        out
    }

    /// Append the term of `word` in `lang` to `out` (cached: a record's words are mostly
    /// words seen before, and libvoikko is the costly part).
    fn push_term(&self, lang: Lang, word: &str, out: &mut String) {
        let h = std::hash::BuildHasher::hash_one(&Fnv::default(), word);
        let shard = &self.cache[lang as usize][(h >> 60) as usize % SHARDS];
        if let Ok(c) = shard.lock()
            && let Some(t) = c.get(word)
        {
            out.push_str(t);
            return;
        }
        let t = match lang {
            Lang::Fi => self.base_forms(word).into_iter().next().unwrap_or_else(|| self.fi.stem(word).into_owned()),
            Lang::Sv => self.sv_stem(word),
        };
        out.push_str(&t);
        if let Ok(mut c) = shard.lock() {
            if c.len() >= CACHE_MAX / SHARDS {
                c.clear();
            }
            c.insert(word.to_string(), t);
        }
    }

    /// Snowball's Swedish stem, then what Snowball leaves: the definite `-et` (`barnet`,
    /// `receptet`), then `-at`/`-an` (`hjärtat`, `lungan`), then the unstressed `e` of a final
    /// `-el`/`-er`/`-en` (`läkemedel`, `läkemedlet` → `läkemedl`; `finger`, `fingrar` →
    /// `fingr`). Each only where at least four letters stay.
    fn sv_stem(&self, word: &str) -> String {
        let mut s = self.sv.stem(word).into_owned();
        for ends in [&["et"][..], &["at", "an"]] {
            if let Some(e) = ends.iter().find(|e| s.ends_with(*e))
                && s.chars().count() >= 6
            {
                s.truncate(s.len() - e.len());
            }
        }
        let c: Vec<char> = s.chars().collect();
        if c.len() >= 5
            && let [.., x, 'e', 'l' | 'r' | 'n'] = c[..]
            && !"aeiouyåäö".contains(x)
        {
            let last = c[c.len() - 1];
            s = c[..c.len() - 2].iter().chain(std::iter::once(&last)).collect();
        }
        s
    }

    /// Every term a query word may have been indexed under in `lang`: all of libvoikko's base
    /// forms and the Snowball stem (a word libvoikko does not know in a record was indexed
    /// under its stem).
    pub fn forms(&self, lang: Lang, word: &str) -> Vec<String> {
        let mut out = match lang {
            Lang::Fi => self.base_forms(word),
            Lang::Sv => Vec::new(),
        };
        let stem = match lang {
            Lang::Fi => self.fi.stem(word).into_owned(),
            Lang::Sv => self.sv_stem(word),
        };
        if !out.contains(&stem) {
            out.push(stem);
        }
        out
    }

    /// The terms of a text, in order, one per word (`None` where a word is not indexed).
    pub fn terms(&self, lang: Lang, text: &str) -> Vec<Option<String>> {
        words(text).into_iter().map(|w| w.map(|w| self.term(lang, &w))).collect()
    }

    /// The terms of a text as one [`Analysed`] column.
    pub fn column(&self, lang: Lang, text: &str) -> String {
        let mut out = String::with_capacity(text.len() / 2);
        for_each_word(text, |w| {
            if !out.is_empty() {
                out.push(' ');
            }
            match w {
                Some(w) => self.push_term(lang, w, &mut out),
                None => out.push_str(SKIPPED),
            }
        });
        out
    }
}

/// What both backends store for one record: the analysed title and body, each as its terms
/// in order separated by single spaces, with `§` (which no term and no query contains) where
/// a word is left out, so that positions stay. SQLite's FTS5 columns take these strings as
/// they are (its `ascii` tokenizer splits only at the spaces); PostgreSQL's tsvector is built
/// from them ([`Analysed::tsvector_binary`]). Two strings per record, not a string per word: records
/// are analysed by the workers and queued to the index writer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysed {
    /// Title terms.
    pub title: String,
    /// Body terms.
    pub body: String,
}

/// The placeholder of a word left out.
const SKIPPED: &str = "§";

impl Analysed {
    /// Analyse a record's title and narrative in its language.
    pub fn new(a: &Analyzer, declared_lang: Option<&str>, title: &str, body: &str) -> Analysed {
        let lang = Lang::of(declared_lang, if body.is_empty() { title } else { body });
        Analysed { title: a.column(lang, title), body: a.column(lang, body) }
    }

    /// Terms of one column, in order (`None` where a word was left out).
    fn terms(column: &str) -> impl Iterator<Item = Option<&str>> {
        column.split(' ').filter(|t| !t.is_empty()).map(|t| (t != SKIPPED).then_some(t))
    }

    /// Each term's positions: title at 1.., the body after a gap (so no phrase spans the
    /// two, as in FTS5's separate columns), in lexeme order. PostgreSQL keeps positions up to
    /// 16383 and 256 per term; past those, a term still matches but phrase queries over it
    /// may not (FTS5 has no such limit: the one documented difference).
    fn positions(&self) -> std::collections::BTreeMap<&str, Vec<u16>> {
        let mut pos: std::collections::BTreeMap<&str, Vec<u16>> = std::collections::BTreeMap::new();
        let body_start = Self::terms(&self.title).count() + 2;
        let all = Self::terms(&self.title)
            .enumerate()
            .map(|(i, t)| (i + 1, t))
            .chain(Self::terms(&self.body).enumerate().map(|(i, t)| (body_start + i, t)));
        for (p, t) in all {
            let Some(t) = t else { continue };
            let v = pos.entry(t).or_default();
            let p = p.min(16383) as u16;
            if v.len() < 256 && v.last() != Some(&p) {
                v.push(p);
            }
        }
        pos
    }

    /// A tsvector holds at most 1 MiB: terms stop being added well before (a text with that
    /// many distinct words is not prose).
    const MAX_TSVECTOR: usize = 900_000;

    /// Terms as a PostgreSQL tsvector literal (see [`Analysed::positions`]): what
    /// [`Analysed::tsvector_binary`] encodes, in a form the tests can read.
    #[cfg(test)]
    pub fn tsvector(&self) -> String {
        let mut s = String::new();
        for (t, ps) in self.positions() {
            if s.len() > Self::MAX_TSVECTOR {
                break;
            }
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&quote(t));
            s.push(':');
            for (i, p) in ps.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(&p.to_string());
            }
        }
        s
    }

    /// The same tsvector in PostgreSQL's binary format (`tsvectorrecv`): a big-endian i32
    /// count, then per lexeme its bytes and a NUL, a u16 count and the u16 positions (weight
    /// D, the top bits 0). The server stores it without parsing text: parsing the literal was
    /// a tenth of its ingest time.
    pub fn tsvector_binary(&self) -> Vec<u8> {
        let mut out = vec![0u8; 4];
        let mut n: i32 = 0;
        for (t, ps) in self.positions() {
            if out.len() > Self::MAX_TSVECTOR {
                break;
            }
            out.extend_from_slice(t.as_bytes());
            out.push(0);
            out.extend_from_slice(&(ps.len() as u16).to_be_bytes());
            for p in ps {
                out.extend_from_slice(&p.to_be_bytes());
            }
            n += 1;
        }
        out[..4].copy_from_slice(&n.to_be_bytes());
        out
    }
}

/// A term as a tsvector/tsquery lexeme literal.
pub(crate) fn quote(t: &str) -> String {
    format!("'{}'", t.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests;
