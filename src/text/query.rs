//! A search text as clauses over analysed terms; every clause must match. The backends
//! render the same clauses into FTS5 and tsquery syntax, so neither sees user syntax.
//!
//! - `sydämen` matches any form the word may have been indexed under, in Finnish or Swedish;
//! - `"sydämen vajaatoiminta"` matches the words in that order, next to each other;
//! - `lääk*` matches every indexed term that starts with `lääk` (terms are base forms, so a
//!   prefix is best typed as the start of the base form);
//! - a word written with inner punctuation (`verenpaine-arvo`) is a phrase of its parts.

use super::{Analyzer, Lang, words};

/// Most alternative term sequences a phrase is expanded into, per language.
const MAX_PHRASES: usize = 16;

/// One condition on a record's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clause {
    /// Any of these terms.
    Word(Vec<String>),
    /// A term that starts with this.
    Prefix(String),
    /// Any of these term sequences, at consecutive positions of one field.
    Phrase(Vec<Vec<String>>),
}

/// Parse a search text; `None` when it holds no word to search for.
pub fn parse(a: &Analyzer, text: &str) -> Option<Vec<Clause>> {
    let mut clauses = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('"') {
        plain(a, &rest[..i], &mut clauses);
        let after = &rest[i + 1..];
        let (inner, next) = match after.find('"') {
            Some(j) => (&after[..j], &after[j + 1..]),
            None => (after, ""),
        };
        let ws: Vec<String> = words(inner).into_iter().flatten().collect();
        push_phrase(a, &ws, &mut clauses);
        rest = next;
    }
    plain(a, rest, &mut clauses);
    (!clauses.is_empty()).then_some(clauses)
}

fn plain(a: &Analyzer, text: &str, out: &mut Vec<Clause>) {
    for token in text.split_whitespace() {
        let (token, prefix) = match token.strip_suffix('*') {
            Some(t) => (t.trim_end_matches('*'), true),
            None => (token, false),
        };
        let mut ws: Vec<String> = words(token).into_iter().flatten().collect();
        if prefix && let Some(p) = ws.pop() {
            for w in &ws {
                out.push(Clause::Word(word_forms(a, w)));
            }
            out.push(Clause::Prefix(p));
            continue;
        }
        push_phrase(a, &ws, out);
    }
}

fn word_forms(a: &Analyzer, w: &str) -> Vec<String> {
    let mut f = a.forms(Lang::Fi, w);
    for s in a.forms(Lang::Sv, w) {
        if !f.contains(&s) {
            f.push(s);
        }
    }
    f
}

fn push_phrase(a: &Analyzer, ws: &[String], out: &mut Vec<Clause>) {
    match ws {
        [] => {}
        [w] => out.push(Clause::Word(word_forms(a, w))),
        _ => {
            let mut all: Vec<Vec<String>> = Vec::new();
            for lang in [Lang::Fi, Lang::Sv] {
                let mut seqs: Vec<Vec<String>> = vec![Vec::new()];
                for w in ws {
                    let forms = a.forms(lang, w);
                    let mut next = Vec::new();
                    for s in &seqs {
                        for f in &forms {
                            if next.len() < MAX_PHRASES {
                                let mut s = s.clone();
                                s.push(f.clone());
                                next.push(s);
                            }
                        }
                    }
                    seqs = next;
                }
                for s in seqs {
                    if !all.contains(&s) {
                        all.push(s);
                    }
                }
            }
            out.push(Clause::Phrase(all));
        }
    }
}
