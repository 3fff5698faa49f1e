//! C2SP signed notes with Ed25519 (<https://c2sp.org/signed-note>), the envelope of a
//! checkpoint, and the key texts Go's `sumdb/note` reads:
//!
//! - verifier key: `<name>+<key id, 8 hex>+<base64(0x01 ‖ public key)>`;
//! - signer key: `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>`;
//! - key id: the first four bytes of `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)`, big-endian;
//! - a note: its text (ending in a newline), a blank line, then one line per signature,
//!   `— <name> <base64(key id ‖ signature)>`, the signature being over the text.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, Verifier as _};

use crate::digest::Sha256;

/// The signature algorithm byte for Ed25519.
const ALG_ED25519: u8 = 0x01;
/// A signature line's prefix: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// What is wrong with a key, a note or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A key name that the format does not allow.
    #[error("key name {0:?} is not allowed (non-empty, no spaces, no '+')")]
    BadName(String),
    /// A key text that does not parse.
    #[error("malformed key: {0}")]
    BadKey(String),
    /// A note that does not parse.
    #[error("malformed note: {0}")]
    Malformed(String),
    /// No signature by a trusted key.
    #[error("the note carries no signature by {0}")]
    Unsigned(String),
    /// A signature by a trusted key's name and id that does not verify.
    #[error("the signature by {0} does not verify: the note was changed or forged")]
    BadSignature(String),
}

impl NoteError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            NoteError::BadName(_) => "note-bad-name",
            NoteError::BadKey(_) => "note-bad-key",
            NoteError::Malformed(_) => "note-malformed",
            NoteError::Unsigned(_) => "note-unsigned",
            NoteError::BadSignature(_) => "note-bad-signature",
        }
    }
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains('+') || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(NoteError::BadName(name.chars().take(80).collect()));
    }
    Ok(())
}

fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut b = Vec::with_capacity(name.len() + 34);
    b.extend_from_slice(name.as_bytes());
    b.push(b'\n');
    b.push(ALG_ED25519);
    b.extend_from_slice(public);
    let h = Sha256::of(&b);
    u32::from_be_bytes([h.0[0], h.0[1], h.0[2], h.0[3]])
}

/// Split `name+hash+key` and check the pieces.
fn parse_key_text(text: &str) -> Result<(String, u32, [u8; 32]), NoteError> {
    let bad = |why: &str| NoteError::BadKey(why.into());
    // Names hold no '+'; base64 may.
    let mut parts = text.trim().splitn(3, '+');
    let (Some(name), Some(hash), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected name+keyid+key"));
    };
    check_name(name)?;
    let raw = B64.decode(b64).map_err(|_| bad("key is not base64"))?;
    let (&alg, key) = raw.split_first().ok_or_else(|| bad("key is empty"))?;
    if alg != ALG_ED25519 {
        return Err(bad("only Ed25519 keys (algorithm 1) are supported"));
    }
    let key: [u8; 32] = key.try_into().map_err(|_| bad("an Ed25519 key has 32 bytes"))?;
    if hash.len() != 8 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(bad("key id must be 8 lowercase hex digits"));
    }
    let id = u32::from_str_radix(hash, 16).map_err(|_| bad("key id is not hex"))?;
    Ok((name.to_string(), id, key))
}

/// A key that verifies notes: what an auditor trusts.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl Verifier {
    /// Parse a verifier key text (`name+id+base64`).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let (name, id, key) = parse_key_text(text)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| NoteError::BadKey("not an Ed25519 public key".into()))?;
        if key_id(&name, key.as_bytes()) != id {
            return Err(NoteError::BadKey("key id does not match the name and key".into()));
        }
        Ok(Self { name, id, key })
    }
    /// The key's name (the checkpoint origin, by convention).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The key id.
    pub fn id(&self) -> u32 {
        self.id
    }
    /// Whether `sig` is this key's signature of `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else { return false };
        self.key.verify(msg, &sig).is_ok()
    }
}

impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verifier({self})")
    }
}

/// A key that signs notes. Its text is a secret: it is never printed (`Debug` shows only the
/// name and id).
pub struct Signer {
    name: String,
    id: u32,
    key: ed25519_dalek::SigningKey,
}

impl Signer {
    /// A signer from a 32-byte seed (the caller draws it from the OS's random source).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        Ok(Self { name: name.to_string(), id: key_id(name, key.verifying_key().as_bytes()), key })
    }
    /// Parse a signer key text (`PRIVATE+KEY+name+id+base64`).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let rest =
            text.trim().strip_prefix("PRIVATE+KEY+").ok_or_else(|| NoteError::BadKey("a signer key starts with PRIVATE+KEY+".into()))?;
        let (name, id, seed) = parse_key_text(rest)?;
        let s = Self::from_seed(&name, seed)?;
        if s.id != id {
            return Err(NoteError::BadKey("key id does not match the name and key".into()));
        }
        Ok(s)
    }
    /// The signer key text, to be written to the key file (and nowhere else).
    pub fn secret_text(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(&self.key.to_bytes());
        format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
    /// The matching verifier key.
    pub fn verifier(&self) -> Verifier {
        Verifier { name: self.name.clone(), id: self.id, key: self.key.verifying_key() }
    }
    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Sign bytes.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({}+{:08x}, secret not shown)", self.name, self.id)
    }
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Key name.
    pub name: String,
    /// Key id.
    pub id: u32,
    /// Signature bytes.
    pub sig: Vec<u8>,
}

/// A parsed note: its text and signature lines (not yet verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in a newline.
    pub text: String,
    /// Signature lines, in order.
    pub signatures: Vec<Signature>,
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("note text must end with a newline".into()));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("note text holds a control character".into()));
    }
    Ok(())
}

/// Sign `text` (which must end with a newline) with each signer: the whole note.
pub fn sign(text: &str, signers: &[&Signer]) -> Result<String, NoteError> {
    check_text(text)?;
    let mut out = format!("{text}\n");
    for s in signers {
        let mut raw = s.id.to_be_bytes().to_vec();
        raw.extend_from_slice(&s.sign(text.as_bytes()));
        out.push_str(&format!("{SIG_PREFIX}{} {}\n", s.name, B64.encode(raw)));
    }
    Ok(out)
}

impl Note {
    /// Parse a note: text, blank line, signature lines. A note without signatures (an
    /// unsigned tree head) is its text alone.
    pub fn parse(msg: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::Malformed(why.into());
        let Some(split) = msg.rfind("\n\n") else {
            check_text(msg)?;
            return Ok(Note { text: msg.to_string(), signatures: Vec::new() });
        };
        let (text, sigs) = (&msg[..split + 1], &msg[split + 2..]);
        check_text(text)?;
        if !sigs.ends_with('\n') {
            return Err(bad("signature lines must end with a newline"));
        }
        let mut signatures = Vec::new();
        for line in sigs.lines() {
            let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| bad("a signature line starts with an em dash"))?;
            let (name, b64) = rest.split_once(' ').ok_or_else(|| bad("a signature line is '— name signature'"))?;
            check_name(name)?;
            let raw = B64.decode(b64).map_err(|_| bad("signature is not base64"))?;
            if raw.len() < 5 {
                return Err(bad("signature too short"));
            }
            let id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
            signatures.push(Signature { name: name.to_string(), id, sig: raw[4..].to_vec() });
        }
        if signatures.is_empty() {
            return Err(bad("a blank line but no signatures"));
        }
        Ok(Note { text: text.to_string(), signatures })
    }

    /// Check the note's signature by `key`: there must be one, and it must verify. Other
    /// signatures (witnesses, unknown keys) are ignored, as the spec asks.
    pub fn verify(&self, key: &Verifier) -> Result<(), NoteError> {
        let mut found = false;
        for s in self.signatures.iter().filter(|s| s.name == key.name && s.id == key.id) {
            found = true;
            if key.verify(self.text.as_bytes(), &s.sig) {
                return Ok(());
            }
        }
        if found { Err(NoteError::BadSignature(key.name.clone())) } else { Err(NoteError::Unsigned(key.to_string())) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example key pair and note of Go's `sumdb/note` documentation.
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn reads_and_writes_what_go_sumdb_note_does() {
        let v = Verifier::parse(GO_VKEY).unwrap();
        assert_eq!(v.to_string(), GO_VKEY);
        let s = Signer::parse(GO_SKEY).unwrap();
        assert_eq!(s.verifier(), v);
        assert_eq!(s.secret_text(), GO_SKEY);
        let n = Note::parse(GO_NOTE).unwrap();
        n.verify(&v).unwrap();
        // Ed25519 is deterministic: the same text signs to the same note.
        assert_eq!(sign(&n.text, &[&s]).unwrap(), GO_NOTE);
        assert!(!format!("{s:?}").contains("AYEK"));
    }

    #[test]
    fn changed_text_or_another_key_fails() {
        let v = Verifier::parse(GO_VKEY).unwrap();
        let forged = GO_NOTE.replacen("cryptography", "Cryptography", 1);
        assert!(matches!(Note::parse(&forged).unwrap().verify(&v), Err(NoteError::BadSignature(_))));
        let other = Signer::from_seed("PeterNeumann", [7; 32]).unwrap();
        let n = Note::parse(&sign("hello\n", &[&other]).unwrap()).unwrap();
        assert!(matches!(n.verify(&v), Err(NoteError::Unsigned(_))));
        n.verify(&other.verifier()).unwrap();
        assert!(Note::parse("no newline").is_err());
        assert!(Signer::from_seed("a b", [1; 32]).is_err());
        assert!(Verifier::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
    }
}
