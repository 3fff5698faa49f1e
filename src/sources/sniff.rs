//! File type sniffing for attachments: the type is read from the file's first bytes (magic),
//! compared with what the export declares, and the file's end is checked for the marks a
//! complete file of that type carries (a truncated scan is a finding, not a surprise later).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// File kinds arkisto recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// PDF.
    Pdf,
    /// TIFF.
    Tiff,
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
    /// A ZIP container: OOXML (docx, xlsx, pptx) and OpenDocument files.
    Zip,
    /// An OLE2 compound file: legacy Office (doc, xls, ppt).
    Ole,
    /// RTF.
    Rtf,
    /// XML.
    Xml,
    /// Plain text (UTF-8 or a single-byte encoding: no NUL bytes).
    Text,
}

impl Kind {
    /// The media type arkisto records.
    pub fn media_type(self) -> &'static str {
        match self {
            Kind::Pdf => "application/pdf",
            Kind::Tiff => "image/tiff",
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Zip => "application/zip",
            Kind::Ole => "application/x-ole-storage",
            Kind::Rtf => "application/rtf",
            Kind::Xml => "application/xml",
            Kind::Text => "text/plain",
        }
    }

    /// What an export declares (a media type or a file extension), as a kind.
    pub fn from_declared(declared: &str) -> Option<Kind> {
        let d = declared.trim().to_ascii_lowercase();
        let d = d.split(';').next().unwrap_or("").trim();
        let d = if d.contains('/') { d } else { d.rsplit('.').next().unwrap_or(d) };
        Some(match d {
            "application/pdf" | "pdf" => Kind::Pdf,
            "image/tiff" | "tif" | "tiff" => Kind::Tiff,
            "image/jpeg" | "image/jpg" | "jpg" | "jpeg" => Kind::Jpeg,
            "image/png" | "png" => Kind::Png,
            "application/zip" | "zip" | "docx" | "xlsx" | "pptx" | "odt" | "ods" | "odp" => Kind::Zip,
            _ if d.starts_with("application/vnd.openxmlformats") || d.starts_with("application/vnd.oasis.opendocument") => Kind::Zip,
            "application/msword" | "application/vnd.ms-excel" | "application/vnd.ms-powerpoint" | "doc" | "xls" | "ppt" => Kind::Ole,
            "application/rtf" | "text/rtf" | "rtf" => Kind::Rtf,
            "application/xml" | "text/xml" | "xml" => Kind::Xml,
            "text/plain" | "txt" | "text" => Kind::Text,
            _ => return None,
        })
    }
}

/// The kind of a file from its first bytes (at least 8 KiB where the file has them).
pub fn sniff(head: &[u8]) -> Option<Kind> {
    let k = if head.starts_with(b"%PDF-") {
        Kind::Pdf
    } else if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        Kind::Tiff
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Kind::Jpeg
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Kind::Png
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Kind::Zip
    } else if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        Kind::Ole
    } else if head.starts_with(b"{\\rtf") {
        Kind::Rtf
    } else if head.is_empty() || head.contains(&0) {
        return None;
    } else {
        let t = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
        if t.starts_with(b"<?xml") { Kind::Xml } else { Kind::Text }
    };
    Some(k)
}

/// Whether a file of `kind` looks complete: `Err` says what is missing. `tail` is the file's
/// last bytes (up to 64 KiB), `size` its length, `head` its first bytes.
pub fn check_complete(kind: Kind, head: &[u8], tail: &[u8], size: u64) -> Result<(), String> {
    let trimmed = {
        let mut t = tail;
        while let [rest @ .., last] = t {
            if matches!(last, b'\n' | b'\r' | b' ' | b'\t' | 0) {
                t = rest;
            } else {
                break;
            }
        }
        t
    };
    match kind {
        Kind::Pdf if !trimmed.ends_with(b"%%EOF") && !tail.windows(5).any(|w| w == b"%%EOF") => {
            Err("PDF has no %%EOF end marker (truncated?)".into())
        }
        Kind::Png if !trimmed.ends_with(b"IEND\xAE\x42\x60\x82") => Err("PNG has no IEND chunk at its end (truncated?)".into()),
        Kind::Jpeg if !trimmed.ends_with(&[0xFF, 0xD9]) => Err("JPEG has no end-of-image marker (truncated?)".into()),
        Kind::Zip if !tail.windows(4).any(|w| w == b"PK\x05\x06") => {
            Err("ZIP/Office container has no end-of-central-directory record (truncated?)".into())
        }
        Kind::Tiff => {
            let off = match head.get(..8) {
                Some([b'I', b'I', _, _, a, b, c, d]) => u32::from_le_bytes([*a, *b, *c, *d]),
                Some([b'M', b'M', _, _, a, b, c, d]) => u32::from_be_bytes([*a, *b, *c, *d]),
                _ => return Err("TIFF header is cut short".into()),
            };
            if off < 8 || u64::from(off) + 2 > size {
                Err(format!("TIFF first directory at byte {off} is outside the file of {size} bytes (truncated?)"))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// Sniff a file on disk: its kind and, if it looks incomplete, why.
pub fn sniff_file(path: &Path) -> std::io::Result<(Option<Kind>, Option<String>, u64)> {
    let mut f = File::open(path)?;
    let size = f.metadata()?.len();
    let mut head = vec![0u8; 8192.min(size as usize)];
    f.read_exact(&mut head)?;
    let kind = sniff(&head);
    let tail_len = size.min(65536);
    let mut tail = vec![0u8; tail_len as usize];
    f.seek(SeekFrom::Start(size - tail_len))?;
    f.read_exact(&mut tail)?;
    let problem = kind.and_then(|k| check_complete(k, &head, &tail, size).err());
    Ok((kind, problem, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_and_magic() {
        assert_eq!(Kind::from_declared("application/pdf"), Some(Kind::Pdf));
        assert_eq!(Kind::from_declared("scan.TIF"), Some(Kind::Tiff));
        assert_eq!(Kind::from_declared("application/vnd.openxmlformats-officedocument.wordprocessingml.document"), Some(Kind::Zip));
        assert_eq!(Kind::from_declared("text/plain; charset=utf-8"), Some(Kind::Text));
        assert_eq!(sniff(b"%PDF-1.4\n"), Some(Kind::Pdf));
        assert_eq!(sniff(b"hello"), Some(Kind::Text));
        assert_eq!(sniff(b"he\0llo"), None);
        assert!(check_complete(Kind::Pdf, b"%PDF-1.4", b"%PDF-1.4\n...\n%%EOF\n", 20).is_ok());
        assert!(check_complete(Kind::Pdf, b"%PDF-1.4", b"%PDF-1.4\n...", 12).is_err());
        assert!(check_complete(Kind::Tiff, b"II*\0\x08\0\0\0", b"", 9).is_err());
    }
}
