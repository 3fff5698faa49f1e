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
    let text: std::borrow::Cow<str> = match unicode_normalization::is_nfc_quick(text.chars()) {
        unicode_normalization::IsNormalized::Yes => text.into(),
        _ => text.nfc().collect::<String>().into(),
    };
    text.unicode_words()
        .flat_map(|w| w.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .map(|w| (w.chars().count() <= MAX_WORD).then(|| w.to_lowercase()))
        .collect()
}

/// Finnish and Swedish analysis (one per process: [`analyzer`]).
pub struct Analyzer {
    fi: Stemmer,
    sv: Stemmer,
    voikko: Option<voikko::Voikko>,
    cache: Mutex<HashMap<String, Vec<String>>>,
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
            cache: Mutex::new(HashMap::new()),
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

    /// libvoikko's base forms of a lower-case word (cached), empty without libvoikko.
    fn base_forms(&self, word: &str) -> Vec<String> {
        let Some(v) = &self.voikko else { return Vec::new() };
        if let Ok(c) = self.cache.lock()
            && let Some(b) = c.get(word)
        {
            return b.clone();
        }
        let b = v.base_forms(word);
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= CACHE_MAX {
                c.clear();
            }
            c.insert(word.to_string(), b.clone());
        }
        b
    }

    /// The term a (lower-case) word is indexed under, in `lang`.
    pub fn term(&self, lang: Lang, word: &str) -> String {
        match lang {
            Lang::Fi => self.base_forms(word).into_iter().next().unwrap_or_else(|| self.fi.stem(word).into_owned()),
            Lang::Sv => self.sv_stem(word),
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
}

/// What both backends store for one record: the analysed title and body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysed {
    /// Title terms, in order.
    pub title: Vec<Option<String>>,
    /// Body terms, in order.
    pub body: Vec<Option<String>>,
}

impl Analysed {
    /// Analyse a record's title and narrative in its language.
    pub fn new(a: &Analyzer, declared_lang: Option<&str>, title: &str, body: &str) -> Analysed {
        let lang = Lang::of(declared_lang, if body.is_empty() { title } else { body });
        Analysed { title: a.terms(lang, title), body: a.terms(lang, body) }
    }

    /// Terms as FTS5 text (space-separated; the table's `ascii` tokenizer splits only there).
    /// A word left out becomes `§`, which no query produces, so positions stay the same.
    pub fn fts_column(terms: &[Option<String>]) -> String {
        let mut s = String::with_capacity(terms.len() * 8);
        for t in terms {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(t.as_deref().unwrap_or("§"));
        }
        s
    }

    /// Terms as a PostgreSQL tsvector literal: title at positions 1.., the body after a gap
    /// (so no phrase spans the two, as in FTS5's separate columns). PostgreSQL keeps positions
    /// up to 16383 and 256 per term; past those, a term still matches but phrase queries
    /// over it may not (FTS5 has no such limit: the one documented difference).
    pub fn tsvector(&self) -> String {
        let mut pos: std::collections::BTreeMap<&str, Vec<u32>> = std::collections::BTreeMap::new();
        let body_start = self.title.len() as u32 + 2;
        let all = self
            .title
            .iter()
            .enumerate()
            .map(|(i, t)| (i as u32 + 1, t))
            .chain(self.body.iter().enumerate().map(|(i, t)| (body_start + i as u32, t)));
        for (p, t) in all {
            let Some(t) = t else { continue };
            let v = pos.entry(t.as_str()).or_default();
            let p = p.min(16383);
            if v.len() < 256 && v.last() != Some(&p) {
                v.push(p);
            }
        }
        let mut s = String::new();
        // A tsvector holds at most 1 MiB: stop adding terms well before (a text with that
        // many distinct words is not prose).
        for (t, ps) in pos {
            if s.len() > 900_000 {
                break;
            }
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&quote(t));
            s.push(':');
            let ps: Vec<String> = ps.iter().map(u32::to_string).collect();
            s.push_str(&ps.join(","));
        }
        s
    }
}

/// A term as a tsvector/tsquery lexeme literal.
pub(crate) fn quote(t: &str) -> String {
    format!("'{}'", t.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests;
