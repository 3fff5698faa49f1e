//! Henkilötunnus (Finnish personal identity code) parsing and checking.
//!
//! All 11 characters are kept as given: the century sign distinguishes people
//! (`010190-999W` and `010190Y999W` are two persons), so nothing is ever normalised.

use chrono::NaiveDate;

const CHECK_CHARS: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";

/// Why a henkilötunnus is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HetuProblem {
    /// Wrong length, characters or century sign, or an impossible date (V006).
    Malformed(&'static str),
    /// Well-formed, but the check character does not match (V005).
    CheckCharacter {
        /// What the digits give.
        expected: char,
        /// What the code has.
        found: char,
    },
}

/// A checked henkilötunnus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hetu {
    /// The code exactly as given.
    pub value: String,
    /// The birth date it encodes.
    pub birth_date: NaiveDate,
    /// Individual number 900–999: a temporary or test code.
    pub is_temporary: bool,
}

fn century(sign: u8) -> Option<i32> {
    match sign {
        b'+' => Some(1800),
        b'-' | b'Y' | b'X' | b'W' | b'V' | b'U' => Some(1900),
        b'A' | b'B' | b'C' | b'D' | b'E' | b'F' => Some(2000),
        _ => None,
    }
}

/// The check character for the 9 digits `DDMMYYZZZ`.
pub fn check_char(nine_digits: u32) -> char {
    CHECK_CHARS[(nine_digits % 31) as usize] as char
}

/// Parse and check a henkilötunnus.
pub fn parse(value: &str) -> Result<Hetu, HetuProblem> {
    let b = value.as_bytes();
    if b.len() != 11 || !value.is_ascii() {
        return Err(HetuProblem::Malformed("must be 11 characters"));
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = &value[r];
        if s.bytes().all(|c| c.is_ascii_digit()) { s.parse().ok() } else { None }
    };
    let (Some(dd), Some(mm), Some(yy), Some(zzz)) = (digits(0..2), digits(2..4), digits(4..6), digits(7..10)) else {
        return Err(HetuProblem::Malformed("date and individual number must be digits"));
    };
    let Some(c) = century(b[6]) else {
        return Err(HetuProblem::Malformed("unknown century sign"));
    };
    let Some(birth_date) = NaiveDate::from_ymd_opt(c + yy as i32, mm, dd) else {
        return Err(HetuProblem::Malformed("birth date does not exist"));
    };
    if zzz < 2 {
        return Err(HetuProblem::Malformed("individual number below 002"));
    }
    let expected = check_char(dd * 10_000_000 + mm * 100_000 + yy * 1000 + zzz);
    let found = b[10] as char;
    if expected != found {
        return Err(HetuProblem::CheckCharacter { expected, found });
    }
    Ok(Hetu { value: value.to_string(), birth_date, is_temporary: zzz >= 900 })
}

/// The birth date a henkilötunnus encodes, even when its check character is wrong (the date
/// digits are as given; only the check disagrees). `None` when it is malformed.
pub fn birth_date_lenient(value: &str) -> Option<NaiveDate> {
    match parse(value) {
        Ok(h) => Some(h.birth_date),
        Err(HetuProblem::CheckCharacter { expected, .. }) => parse(&format!("{}{expected}", value.get(..10)?)).ok().map(|h| h.birth_date),
        Err(HetuProblem::Malformed(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_examples_are_valid() {
        for v in ["131052-308T", "010594Y9032", "020516C903K", "010181-900C"] {
            parse(v).unwrap_or_else(|e| panic!("{v}: {e:?}"));
        }
        assert_eq!(parse("020516C903K").unwrap().birth_date, NaiveDate::from_ymd_opt(2016, 5, 2).unwrap());
    }

    #[test]
    fn every_century_sign_is_accepted_and_kept() {
        for (sign, year) in [
            ('+', 1890),
            ('-', 1990),
            ('Y', 1990),
            ('X', 1990),
            ('W', 1990),
            ('V', 1990),
            ('U', 1990),
            ('A', 2090),
            ('B', 2090),
            ('C', 2090),
            ('D', 2090),
            ('E', 2090),
            ('F', 2090),
        ] {
            let q = check_char(10190999);
            let v = format!("010190{sign}999{q}");
            let h = parse(&v).unwrap();
            assert_eq!(h.value, v, "sign kept as given");
            assert_eq!(h.birth_date, NaiveDate::from_ymd_opt(year, 1, 1).unwrap());
            assert!(h.is_temporary);
        }
        assert!(matches!(parse("010190G999W"), Err(HetuProblem::Malformed(_))));
    }

    #[test]
    fn wrong_check_character_is_reported_not_fixed() {
        assert_eq!(parse("131052-308U"), Err(HetuProblem::CheckCharacter { expected: 'T', found: 'U' }));
    }

    #[test]
    fn impossible_dates_and_leap_days() {
        let q = check_char(290200999);
        assert!(parse(&format!("290200A999{q}")).is_ok(), "2000 is a leap year");
        assert!(matches!(parse(&format!("290200-999{q}")), Err(HetuProblem::Malformed(_))), "1900 is not");
        assert!(matches!(parse("310490-999W"), Err(HetuProblem::Malformed(_))));
        assert!(matches!(parse("31049"), Err(HetuProblem::Malformed(_))));
        assert!(matches!(parse("ää0490-999W"), Err(HetuProblem::Malformed(_))));
        assert!(matches!(parse("0ä23456789"), Err(HetuProblem::Malformed(_))), "11 bytes, not 11 ASCII characters");
        assert_eq!(birth_date_lenient("0ä23456789"), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_text(s in "\\PC{0,14}") {
            let _ = parse(&s);
            let _ = birth_date_lenient(&s);
        }
    }
}
