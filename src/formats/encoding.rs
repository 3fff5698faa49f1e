//! Character encodings of legacy exports: UTF-8 and the single-byte encodings old Finnish
//! systems wrote (ISO-8859-1, ISO-8859-15, Windows-1252). Original bytes are always archived
//! as they are; these decode them for parsing and for the index.

use std::borrow::Cow;

/// Single-byte encodings a streamed document may declare (besides UTF-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (also US-ASCII).
    Utf8,
    /// ISO-8859-1.
    Latin1,
    /// ISO-8859-15.
    Latin9,
    /// Windows-1252.
    Cp1252,
}

impl Encoding {
    /// Parse an encoding label (`utf-8`, `iso-8859-15`, `windows-1252`, …).
    pub fn from_label(label: &str) -> Option<Self> {
        match label.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" | "us-ascii" | "ascii" => Some(Self::Utf8),
            "iso-8859-1" | "latin1" | "iso_8859-1" | "latin-1" | "l1" => Some(Self::Latin1),
            "iso-8859-15" | "latin9" | "latin-9" | "iso_8859-15" | "l9" => Some(Self::Latin9),
            "windows-1252" | "cp1252" | "win-1252" => Some(Self::Cp1252),
            _ => None,
        }
    }

    /// The label used in media types.
    pub fn label(self) -> &'static str {
        match self {
            Self::Utf8 => "utf-8",
            Self::Latin1 => "iso-8859-1",
            Self::Latin9 => "iso-8859-15",
            Self::Cp1252 => "windows-1252",
        }
    }

    /// Decode bytes. UTF-8 is checked (`Err` gives the offset of the first bad byte); the
    /// single-byte encodings map every byte (Windows-1252's five unassigned bytes become
    /// U+FFFD, never an error, so that a row is still indexed).
    pub fn decode<'a>(self, b: &'a [u8]) -> Result<Cow<'a, str>, usize> {
        match self {
            Self::Utf8 => std::str::from_utf8(b).map(Cow::Borrowed).map_err(|e| e.valid_up_to()),
            _ if b.is_ascii() => Ok(Cow::Borrowed(std::str::from_utf8(b).unwrap_or_default())),
            Self::Latin1 => Ok(Cow::Owned(b.iter().map(|&c| c as char).collect())),
            Self::Latin9 => Ok(Cow::Owned(b.iter().map(|&c| latin9(c)).collect())),
            Self::Cp1252 => Ok(Cow::Owned(b.iter().map(|&c| cp1252(c)).collect())),
        }
    }
}

fn latin9(c: u8) -> char {
    match c {
        0xA4 => '€',
        0xA6 => 'Š',
        0xA8 => 'š',
        0xB4 => 'Ž',
        0xB8 => 'ž',
        0xBC => 'Œ',
        0xBD => 'œ',
        0xBE => 'Ÿ',
        _ => c as char,
    }
}

fn cp1252(c: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{FFFD}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{FFFD}', 'Ž', '\u{FFFD}', '\u{FFFD}', '‘', '’', '“',
        '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{FFFD}', 'ž', 'Ÿ',
    ];
    match c {
        0x80..=0x9F => HIGH[(c - 0x80) as usize],
        _ => c as char,
    }
}
