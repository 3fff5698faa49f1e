//! Checkpoints in the C2SP `tlog-checkpoint` format (<https://c2sp.org/tlog-checkpoint>):
//! the origin line, the tree size in decimal, the base64 root hash, then optional extension
//! lines; the whole text is the body of a signed note ([`crate::note`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::digest::Sha256;
use crate::note::NoteError;

/// A tree head: which log, how many leaves, what root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line (by convention, the signing key's name).
    pub origin: String,
    /// Leaves (ledger events) in the tree.
    pub size: u64,
    /// The tree's root hash.
    pub root: Sha256,
    /// Extension lines (arkisto writes none).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The checkpoint's text, the body a note signs.
    pub fn text(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root.0));
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Whether a ledger whose leaf hashes are `leaves` leads to this checkpoint: its first
    /// `size` leaves hash to `root`. Says what is wrong otherwise.
    pub fn matches(&self, leaves: &[Sha256]) -> Result<(), String> {
        let roots = crate::merkle::prefix_roots(leaves, [self.size]);
        self.matches_root(roots.get(&self.size), leaves.len() as u64)
    }

    /// As [`Checkpoint::matches`], given the root of the ledger's first `size` events (from
    /// [`crate::merkle::prefix_roots`]; `None` when it has fewer) and its length.
    pub fn matches_root(&self, root_at_size: Option<&Sha256>, events: u64) -> Result<(), String> {
        let n = self.size;
        match root_at_size {
            _ if n > events => {
                Err(format!("the checkpoint covers {n} events; the store's ledger holds {events} (truncated or rolled back)"))
            }
            Some(r) if *r == self.root => Ok(()),
            _ => Err(format!("the store's first {n} events do not hash to the checkpoint's root (ledger edited or rewritten)")),
        }
    }

    /// Parse a checkpoint's text (a note's body).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::Malformed(format!("checkpoint: {why}"));
        let body = text.strip_suffix('\n').ok_or_else(|| bad("must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or_else(|| bad("no origin line"))?;
        let size = lines.next().ok_or_else(|| bad("no tree size"))?;
        if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) || (size.len() > 1 && size.starts_with('0')) {
            return Err(bad("tree size is not a decimal number"));
        }
        let size: u64 = size.parse().map_err(|_| bad("tree size out of range"))?;
        let raw = B64.decode(lines.next().ok_or_else(|| bad("no root hash"))?).map_err(|_| bad("root hash is not base64"))?;
        let root = Sha256(raw.try_into().map_err(|_| bad("root hash is not 32 bytes"))?);
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("empty extension line"));
        }
        Ok(Self { origin: origin.to_string(), size, root, extensions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_malformed() {
        let c = Checkpoint { origin: "example.fi/arkisto".into(), size: 42, root: Sha256([9; 32]), extensions: vec![] };
        assert_eq!(Checkpoint::parse(&c.text()).unwrap(), c);
        assert_eq!(c.text(), "example.fi/arkisto\n42\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n");
        for bad in [
            "",
            "o\n",
            "o\n01\nCQ==\n",
            "o\n-1\nCQ==\n",
            "o\n1\nCQ==\n",
            "o\n1\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=",
            "\n1\nCQ==\n",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
    }
}
