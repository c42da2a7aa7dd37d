//! Binary Merkle trees over a block's transactions and receipts, with
//! inclusion proofs.
//!
//! The shape follows RFC 6962: leaves are hashed with a `0x00` prefix and
//! inner nodes with `0x01`, so a leaf can never pass for an inner node; a tree
//! of `n` leaves splits at the largest power of two below `n`, so no leaf is
//! duplicated and every proof is unique.

use govchain_crypto::Suite;
use serde::{Deserialize, Serialize};

use crate::Hash;

fn leaf_hash(suite: Suite, data: &[u8]) -> Hash {
    let mut h = suite.hasher();
    h.update(&[0x00]);
    h.update(data);
    Hash(h.finalize())
}

fn node_hash(suite: Suite, left: &Hash, right: &Hash) -> Hash {
    let mut h = suite.hasher();
    h.update(&[0x01]);
    h.update(&left.0);
    h.update(&right.0);
    Hash(h.finalize())
}

fn split(n: usize) -> usize {
    // Largest power of two strictly below n (n >= 2).
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn root_of(suite: Suite, leaves: &[Hash]) -> Hash {
    match leaves {
        [] => Hash(suite.hash(&[])),
        [one] => *one,
        _ => {
            let k = split(leaves.len());
            node_hash(suite, &root_of(suite, &leaves[..k]), &root_of(suite, &leaves[k..]))
        }
    }
}

/// The Merkle root of a list of items (each item's bytes are one leaf).
pub fn root<T: AsRef<[u8]>>(suite: Suite, items: &[T]) -> Hash {
    let leaves: Vec<Hash> = items.iter().map(|i| leaf_hash(suite, i.as_ref())).collect();
    root_of(suite, &leaves)
}

/// Proof that one item is the `index`-th leaf under a root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleProof {
    /// Position of the item among the leaves.
    pub index: u64,
    /// Number of leaves in the tree.
    pub leaf_count: u64,
    /// Sibling hashes from the leaf up to the root.
    pub siblings: Vec<Hash>,
}

/// Builds the inclusion proof of `items[index]`; `None` if out of range.
pub fn prove<T: AsRef<[u8]>>(suite: Suite, items: &[T], index: usize) -> Option<MerkleProof> {
    if index >= items.len() {
        return None;
    }
    let leaves: Vec<Hash> = items.iter().map(|i| leaf_hash(suite, i.as_ref())).collect();
    let mut siblings = Vec::new();
    path(suite, &leaves, index, &mut siblings);
    Some(MerkleProof { index: index as u64, leaf_count: items.len() as u64, siblings })
}

fn path(suite: Suite, leaves: &[Hash], index: usize, out: &mut Vec<Hash>) {
    if leaves.len() <= 1 {
        return;
    }
    let k = split(leaves.len());
    if index < k {
        path(suite, &leaves[..k], index, out);
        out.push(root_of(suite, &leaves[k..]));
    } else {
        path(suite, &leaves[k..], index - k, out);
        out.push(root_of(suite, &leaves[..k]));
    }
}

impl MerkleProof {
    /// Checks that `item` sits at this proof's position under `root`.
    pub fn verify(&self, suite: Suite, item: &[u8], root: &Hash) -> bool {
        if self.index >= self.leaf_count {
            return false;
        }
        let mut siblings = self.siblings.iter();
        match fold(suite, leaf_hash(suite, item), self.index, self.leaf_count, &mut siblings) {
            Some(computed) => siblings.next().is_none() && computed == *root,
            None => false,
        }
    }
}

/// Recomputes the root walking the same splits as [`path`], consuming the
/// siblings bottom-up; `None` if the proof is too short.
fn fold<'a>(
    suite: Suite,
    leaf: Hash,
    index: u64,
    count: u64,
    siblings: &mut impl Iterator<Item = &'a Hash>,
) -> Option<Hash> {
    if count <= 1 {
        return Some(leaf);
    }
    let k = split(usize::try_from(count).ok()?) as u64;
    if index < k {
        let left = fold(suite, leaf, index, k, siblings)?;
        Some(node_hash(suite, &left, siblings.next()?))
    } else {
        let right = fold(suite, leaf, index - k, count - k, siblings)?;
        Some(node_hash(suite, siblings.next()?, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_proves_and_tampering_fails() {
        for suite in Suite::ALL {
            for n in 1..=17usize {
                let items: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; i + 1]).collect();
                let r = root(suite, &items);
                for (i, item) in items.iter().enumerate() {
                    let p = prove(suite, &items, i).expect("in range");
                    assert!(p.verify(suite, item, &r), "n={n} i={i}");
                    assert!(!p.verify(suite, b"other", &r));
                    let mut wrong = p.clone();
                    wrong.index = (wrong.index + 1) % n as u64;
                    if n > 1 {
                        assert!(!wrong.verify(suite, item, &r));
                    }
                }
                assert!(prove(suite, &items, n).is_none());
            }
        }
    }

    #[test]
    fn root_depends_on_order_and_content() {
        let s = Suite::Gm;
        let a = root(s, &[b"a".as_slice(), b"b"]);
        assert_ne!(a, root(s, &[b"b".as_slice(), b"a"]));
        assert_ne!(a, root(s, &[b"a".as_slice(), b"b", b"c"]));
        assert_ne!(root(s, &[b"a".as_slice()]), root(s, &[b"a".as_slice(), b"a"]));
    }
}
