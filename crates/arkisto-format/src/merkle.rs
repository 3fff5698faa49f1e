//! The ledger's Merkle tree, hashed as RFC 6962 / RFC 9162 section 2.1 do it: a leaf is
//! `SHA-256(0x00 ‖ event line)`, an interior node `SHA-256(0x01 ‖ left ‖ right)`, and a tree
//! of `n` leaves splits at the largest power of two below `n`. Inclusion and consistency
//! proofs are RFC 6962's `PATH` and `PROOF`, checked with RFC 9162's algorithms, so any
//! implementation of those (Go's `sumdb/tlog`, the Python reader) checks ours.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::digest::Sha256;

/// A proof that does not check out, with what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Sizes or index out of range for the proof asked.
    #[error("proof parameters out of range: {0}")]
    Range(String),
    /// The proof has the wrong number of hashes.
    #[error("proof has the wrong length")]
    Length,
    /// The proof leads to another root.
    #[error("proof does not lead to the expected root hash")]
    Mismatch,
}

impl ProofError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ProofError::Range(_) => "proof-range",
            ProofError::Length => "proof-length",
            ProofError::Mismatch => "proof-mismatch",
        }
    }
}

/// The hash of a leaf: `SHA-256(0x00 ‖ bytes)`; for the ledger, `bytes` is one event's line
/// exactly as its segment stores it (without the line end).
pub fn leaf_hash(bytes: &[u8]) -> Sha256 {
    let mut h = sha2::Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    Sha256(h.finalize().into())
}

/// The hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Sha256, right: &Sha256) -> Sha256 {
    let mut h = sha2::Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Sha256(h.finalize().into())
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Sha256 {
    Sha256::of(b"")
}

/// The largest power of two strictly below `n` (`n` ≥ 2).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The tree hash of a sequence of leaf hashes (RFC 6962 `MTH`).
pub fn root(leaves: &[Sha256]) -> Sha256 {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion proof of leaf `index` in the tree of `leaves` (RFC 6962 `PATH`), from the
/// leaf up.
pub fn inclusion_proof(leaves: &[Sha256], index: u64) -> Result<Vec<Sha256>, ProofError> {
    let i = usize::try_from(index).map_err(|_| ProofError::Range("index".into()))?;
    if i >= leaves.len() {
        return Err(ProofError::Range(format!("leaf {index} is not in a tree of {}", leaves.len())));
    }
    fn path(m: usize, d: &[Sha256], out: &mut Vec<Sha256>) {
        if d.len() <= 1 {
            return;
        }
        let k = split(d.len());
        if m < k {
            path(m, &d[..k], out);
            out.push(root(&d[k..]));
        } else {
            path(m - k, &d[k..], out);
            out.push(root(&d[..k]));
        }
    }
    let mut out = Vec::new();
    path(i, leaves, &mut out);
    Ok(out)
}

/// The proof that the tree of the first `old_size` leaves is a prefix of the tree of all
/// `leaves` (RFC 6962 `PROOF`). Empty when `old_size` is 0 or the whole tree.
pub fn consistency_proof(leaves: &[Sha256], old_size: u64) -> Result<Vec<Sha256>, ProofError> {
    let m = usize::try_from(old_size).map_err(|_| ProofError::Range("size".into()))?;
    if m > leaves.len() {
        return Err(ProofError::Range(format!("a tree of {m} is not a prefix of a tree of {}", leaves.len())));
    }
    fn sub(m: usize, d: &[Sha256], whole: bool, out: &mut Vec<Sha256>) {
        if m == d.len() {
            if !whole {
                out.push(root(d));
            }
            return;
        }
        let k = split(d.len());
        if m <= k {
            sub(m, &d[..k], whole, out);
            out.push(root(&d[k..]));
        } else {
            sub(m - k, &d[k..], false, out);
            out.push(root(&d[..k]));
        }
    }
    let mut out = Vec::new();
    if m > 0 {
        sub(m, leaves, true, &mut out);
    }
    Ok(out)
}

/// Check that `leaf` is leaf `index` of the tree of `size` leaves with root `root`
/// (RFC 9162 section 2.1.3.2).
pub fn verify_inclusion(index: u64, size: u64, leaf: &Sha256, proof: &[Sha256], root: &Sha256) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::Range(format!("leaf {index} is not in a tree of {size}")));
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::Length);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::Length);
    }
    if r != *root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

/// Check that the tree of `old_size` leaves with root `old_root` is a prefix of the tree of
/// `new_size` leaves with root `new_root` (RFC 9162 section 2.1.4.2).
pub fn verify_consistency(old_size: u64, new_size: u64, old_root: &Sha256, new_root: &Sha256, proof: &[Sha256]) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::Range(format!("the older tree ({old_size}) is larger than the newer ({new_size})")));
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::Length);
        }
        return if old_root == new_root { Ok(()) } else { Err(ProofError::Mismatch) };
    }
    if old_size == 0 {
        return if proof.is_empty() { Ok(()) } else { Err(ProofError::Length) };
    }
    if proof.is_empty() {
        return Err(ProofError::Length);
    }
    let mut path: Vec<Sha256> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError::Length);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::Length);
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

/// The roots of the trees of the first `n` leaves, for each `n` in `sizes` that `leaves`
/// covers, in one pass over the leaves (checking k checkpoints costs one tree, not k).
pub fn prefix_roots(leaves: &[Sha256], sizes: impl IntoIterator<Item = u64>) -> std::collections::BTreeMap<u64, Sha256> {
    let mut wanted: Vec<u64> = sizes.into_iter().filter(|n| *n <= leaves.len() as u64).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut out = std::collections::BTreeMap::new();
    let mut f = Frontier::default();
    let mut next = leaves.iter();
    for n in wanted {
        while f.size < n {
            // n <= leaves.len(): the iterator has a leaf for every step.
            let Some(l) = next.next() else { break };
            f.push(*l);
        }
        out.insert(n, f.root());
    }
    out
}

/// The right edge of a tree: the roots of its perfect subtrees, largest first, one per set
/// bit of `size`. Enough to append leaves and compute the root without the leaves before
/// (how each flush extends the tree without reading the whole ledger).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frontier {
    /// Leaves so far.
    pub size: u64,
    /// Perfect-subtree roots, largest (leftmost) first.
    pub hashes: Vec<Sha256>,
}

impl Frontier {
    /// Whether the hashes fit the size (one per set bit).
    pub fn is_well_formed(&self) -> bool {
        self.hashes.len() == self.size.count_ones() as usize
    }

    /// Append one leaf hash.
    pub fn push(&mut self, leaf: Sha256) {
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            // A set bit has its subtree on the stack (well-formed by construction).
            let Some(left) = self.hashes.pop() else { break };
            h = node_hash(&left, &h);
            s >>= 1;
        }
        self.hashes.push(h);
        self.size += 1;
    }

    /// The tree's root.
    pub fn root(&self) -> Sha256 {
        let mut it = self.hashes.iter().rev();
        let Some(first) = it.next() else { return empty_root() };
        it.fold(*first, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Sha256> {
        (0..n).map(|i| leaf_hash(format!("event {i}").as_bytes())).collect()
    }

    /// RFC 6962's reference hashes for the empty tree and a one-byte leaf (as in
    /// certificate-transparency-go's test vectors).
    #[test]
    fn known_hashes() {
        assert_eq!(empty_root().to_hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(leaf_hash(b"").to_hex(), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
        assert_eq!(leaf_hash(&[0x00]).to_hex(), "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7");
        // The first roots of the CT test vectors (leaves "", 0x00, 0x10).
        let l = [leaf_hash(b""), leaf_hash(&[0x00]), leaf_hash(&[0x10])];
        assert_eq!(root(&l[..2]).to_hex(), "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125");
        assert_eq!(root(&l).to_hex(), "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77");
    }

    #[test]
    fn every_proof_of_every_small_tree_checks_and_a_wrong_one_does_not() {
        let all = leaves(40);
        let mut f = Frontier::default();
        for n in 0..=all.len() {
            let d = &all[..n];
            let r = root(d);
            assert_eq!(f.root(), r, "frontier root at {n}");
            assert!(f.is_well_formed());
            for i in 0..n {
                let p = inclusion_proof(d, i as u64).unwrap();
                verify_inclusion(i as u64, n as u64, &d[i], &p, &r).unwrap();
                assert!(verify_inclusion(i as u64, n as u64, &leaf_hash(b"x"), &p, &r).is_err());
                if !p.is_empty() {
                    assert!(verify_inclusion(i as u64, n as u64, &d[i], &p[1..], &r).is_err());
                }
            }
            for m in 0..=n {
                let p = consistency_proof(d, m as u64).unwrap();
                let old = root(&d[..m]);
                verify_consistency(m as u64, n as u64, &old, &r, &p).unwrap();
                if m > 0 && m < n {
                    assert!(verify_consistency(m as u64, n as u64, &leaf_hash(b"x"), &r, &p).is_err());
                    assert!(verify_consistency(m as u64, n as u64, &old, &leaf_hash(b"x"), &p).is_err());
                    // A rewritten older leaf breaks consistency with the saved root.
                    let mut forged = d.to_vec();
                    forged[0] = leaf_hash(b"rewritten");
                    let fp = consistency_proof(&forged, m as u64).unwrap();
                    assert!(verify_consistency(m as u64, n as u64, &old, &root(&forged), &fp).is_err());
                }
            }
            if let Some(l) = all.get(n) {
                f.push(*l);
            }
            let sizes: Vec<u64> = (0..=n as u64).rev().collect();
            let prefix = prefix_roots(d, sizes);
            assert!(prefix.iter().all(|(m, r)| *r == root(&d[..*m as usize])), "prefix roots at {n}");
            assert_eq!(prefix.len(), n + 1);
        }
    }
}
