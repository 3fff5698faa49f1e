//! SHA-256 digests as a newtype, and reader/writer wrappers that hash while data streams.
//!
//! Every digest arkisto records is computed during a copy that has to happen anyway; this
//! module owns that and never reads data twice just to hash it.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// A SHA-256 digest. Displays and serialises as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// Digest of a byte slice in one shot.
    pub fn of(bytes: &[u8]) -> Self {
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// Lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.to_hex())
    }
}

/// The text was not 64 hex characters.
#[derive(Debug, thiserror::Error)]
#[error("not a SHA-256 digest (expected 64 hex characters): {0:?}")]
pub struct BadDigest(pub String);

impl FromStr for Sha256 {
    type Err = BadDigest;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| BadDigest(s.chars().take(80).collect()))?;
        Ok(Self(out))
    }
}

impl Serialize for Sha256 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Incremental hasher, for data that arrives in pieces.
#[derive(Default, Clone)]
pub struct Hasher(sha2::Sha256);

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }
    /// Feed more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    /// The digest of everything fed so far.
    pub fn finish(self) -> Sha256 {
        Sha256(self.0.finalize().into())
    }
}

/// A writer that hashes and counts everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wrap `inner`.
    pub fn new(inner: W) -> Self {
        Self { inner, hasher: Hasher::new(), written: 0 }
    }
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
    /// The inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, Sha256, u64) {
        (self.inner, self.hasher.finish(), self.written)
    }
    /// The inner writer, for flushing or syncing.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    read: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wrap `inner`.
    pub fn new(inner: R) -> Self {
        Self { inner, hasher: Hasher::new(), read: 0 }
    }
    /// The digest and byte count of everything read.
    pub fn finish(self) -> (Sha256, u64) {
        (self.hasher.finish(), self.read)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn streaming_digest_equals_one_shot(data in proptest::collection::vec(any::<u8>(), 0..20_000), chunk in 1usize..4096) {
            let mut w = HashingWriter::new(Vec::new());
            for c in data.chunks(chunk) { w.write_all(c).unwrap(); }
            let (inner, d, n) = w.finish();
            prop_assert_eq!(d, Sha256::of(&data));
            prop_assert_eq!(n as usize, data.len());
            prop_assert_eq!(inner, data.clone());
            let mut r = HashingReader::new(&data[..]);
            let mut sink = Vec::new();
            r.read_to_end(&mut sink).unwrap();
            prop_assert_eq!(r.finish().0, Sha256::of(&data));
        }
    }

    #[test]
    fn hex_round_trip_and_rejects_garbage() {
        let d = Sha256::of(b"abc");
        assert_eq!(d.to_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(d.to_hex().parse::<Sha256>().unwrap(), d);
        assert!("zz".parse::<Sha256>().is_err());
    }
}
