use super::query::{Clause, parse};
use super::*;

fn voikko() -> Option<Analyzer> {
    let a = Analyzer::new(true);
    if a.has_voikko() {
        return Some(a);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "libvoikko1 + voikko-fi are not installed (infra/test.sh installs them)");
    eprintln!("skipped: libvoikko is not installed");
    None
}

/// Whether a record whose text holds `found` is found by a query for `typed`.
fn finds(a: &Analyzer, lang: Lang, found: &str, typed: &str) -> bool {
    let indexed = a.term(lang, found);
    match parse(a, typed).as_deref() {
        Some([Clause::Word(forms)]) => forms.contains(&indexed),
        other => panic!("{other:?}"),
    }
}

#[test]
fn words_split_fold_case_and_keep_finnish_letters() {
    let w: Vec<String> = words("Sydämen VAJAATOIMINTA, verenpaine-arvo 10.5 mmHg; Åbo").into_iter().flatten().collect();
    assert_eq!(w, ["sydämen", "vajaatoiminta", "verenpaine", "arvo", "10", "5", "mmhg", "åbo"]);
    // Decomposed ä (a + U+0308) is the same word as the composed one.
    assert_eq!(words("syda\u{308}n"), words("sydän"));
    // A very long word keeps its place but is not indexed.
    let long = "x".repeat(MAX_WORD + 1);
    assert_eq!(words(&format!("a {long} b")), [Some("a".into()), None, Some("b".into())]);
}

#[test]
fn language_from_declaration_or_function_words() {
    assert_eq!(Lang::of(Some("sv-FI"), "ja ja ja"), Lang::Sv);
    assert_eq!(Lang::of(Some("fi"), "och det är"), Lang::Fi);
    assert_eq!(Lang::of(None, "Patienten har feber och det är inte bra."), Lang::Sv);
    assert_eq!(Lang::of(Some("en"), "Potilas on kotona ja voi hyvin."), Lang::Fi);
    assert_eq!(Lang::of(None, ""), Lang::Fi);
}

#[test]
fn consonant_gradation_with_voikko() {
    let Some(a) = voikko() else { return };
    for (found, typed) in [
        ("sydämen", "sydän"),
        ("lääkemääräyksen", "lääkemääräys"),
        ("diabeteksen", "diabetes"),
        ("verenpainetta", "verenpaine"),
        ("verenpaineen", "verenpaine"),
        ("hoidon", "hoito"),
        ("kivun", "kipu"),
        ("vajaatoiminnan", "vajaatoiminta"),
        // and the other way round: an inflected query finds the base form
        ("sydän", "sydämen"),
    ] {
        assert!(finds(&a, Lang::Fi, found, typed), "{typed} should find {found}");
    }
    assert!(!finds(&a, Lang::Fi, "sydämen", "munuainen"));
}

#[test]
fn swedish_stems() {
    let a = Analyzer::new(false);
    for (found, typed) in [("läkemedlen", "läkemedel"), ("sjukdomar", "sjukdom"), ("patienten", "patient"), ("blodtrycket", "blodtryck")]
    {
        assert!(finds(&a, Lang::Sv, found, typed) || finds(&a, Lang::Sv, typed, found), "{typed} / {found}");
    }
}

#[test]
fn queries_parse_into_clauses() {
    let a = Analyzer::new(false);
    let q = parse(&a, "\"Sydämen vajaatoiminta\" lääk* hoito").unwrap_or_default();
    assert!(matches!(&q[0], Clause::Phrase(p) if p.iter().all(|s| s.len() == 2)));
    assert_eq!(q[1], Clause::Prefix("lääk".into()));
    assert!(matches!(&q[2], Clause::Word(f) if f.contains(&"hoito".to_string())));
    // Syntax of either backend is just punctuation here.
    let q = parse(&a, "a\" OR title:x NEAR( ) *").unwrap_or_default();
    assert!(q.iter().all(|c| match c {
        Clause::Word(f) => f.iter().all(|t| t.chars().all(char::is_alphanumeric)),
        Clause::Phrase(p) => p.iter().flatten().all(|t| t.chars().all(char::is_alphanumeric)),
        Clause::Prefix(p) => p.chars().all(char::is_alphanumeric),
    }));
    assert!(parse(&a, "  \"() * ").is_none());
    // An unclosed quote is a phrase to the end.
    assert!(matches!(parse(&a, "\"a b").as_deref(), Some([Clause::Phrase(_)])));
    // Inner punctuation makes a phrase of the parts.
    assert!(matches!(parse(&a, "verenpaine-arvo").as_deref(), Some([Clause::Phrase(_)])));
}

#[test]
fn tsvector_keeps_title_and_body_apart_and_quotes() {
    let an = Analysed { title: "a b".into(), body: "b § it's".into() };
    assert_eq!(an.tsvector(), "'a':1 'b':2,4 'it''s':6");
    let bin: &[u8] = &[0, 0, 0, 3, b'a', 0, 0, 1, 0, 1, b'b', 0, 0, 2, 0, 2, 0, 4, b'i', b't', b'\'', b's', 0, 0, 1, 0, 6];
    assert_eq!(an.tsvector_binary(), bin);
    let a = Analyzer::new(false);
    let col = a.column(Lang::Fi, &format!("Sydämen {} vajaatoiminta", "x".repeat(MAX_WORD + 1)));
    assert_eq!(col.split(' ').nth(1), Some("§"));
    assert_eq!(col.split(' ').count(), 3);
}

proptest::proptest! {
    #[test]
    fn the_fast_word_split_is_the_unicode_one_on_latin_text(s in "[ -~\n\t\u{c0}-\u{24f}\u{a0}-\u{bf}\u{300}\u{2019}]{0,60}") {
        let collect = |fast: bool, text: &str| {
            let mut v: Vec<Option<String>> = Vec::new();
            super::split_words(text, fast, |w| v.push(w.map(str::to_string)));
            v
        };
        if super::plain_latin(&s) {
            proptest::prop_assert_eq!(collect(true, &s), collect(false, &s));
        }
    }

    #[test]
    fn analysis_never_panics_and_terms_are_clean(s in "\\PC{0,80}") {
        let a = Analyzer::new(false);
        for t in a.terms(Lang::Fi, &s).into_iter().chain(a.terms(Lang::Sv, &s)).flatten() {
            proptest::prop_assert!(!t.is_empty() && !t.contains(' '));
        }
        let _ = parse(&a, &s);
    }
}

#[test]
fn plain_latin_is_only_what_the_fast_split_handles() {
    assert!(super::plain_latin("Sydämen vajaatoiminta, ÅÄÖ åäö Łódź 3.5 mg/l\n"));
    for s in ["x²", "a\u{a0}b", "e\u{301}", "3×4", "日本", "ɐ"] {
        assert!(!super::plain_latin(s), "{s}");
    }
    let mut v = Vec::new();
    super::split_words("RR 140/90, ÅSA:n Łódź-ssa", true, |w| v.push(w.map(str::to_string)));
    assert_eq!(v, ["rr", "140", "90", "åsa", "n", "łódź", "ssa"].map(|s| Some(s.to_string())));
}

#[test]
fn latin_letters_fold_as_unicode_does() {
    let letters: String = ('\u{C0}'..='\u{24F}').filter(|c| c.is_alphanumeric()).collect();
    for chunk in letters.chars().collect::<Vec<_>>().chunks(MAX_WORD) {
        let w: String = chunk.iter().collect();
        let mut got = Vec::new();
        super::split_words(&w, true, |x| got.push(x.map(str::to_string)));
        assert_eq!(got, vec![Some(w.to_lowercase())]);
    }
}
