//! RFC 6962 / RFC 9162 Merkle tree hashing, the incremental frontier, and inclusion and
//! consistency proofs with their verification.
//!
//! Pure functions over hashes: no IO, no async, nothing specific to wijkhub, so that the same
//! code verifies what an outside party checks. It must never accept a proof by a shortcut: every
//! verification recomputes the root from the proof and compares.

use ring::digest::{Context, SHA256, digest};

use crate::AuditError;

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    to_hash(digest(&SHA256, b"").as_ref())
}

/// `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[0x00]);
    ctx.update(leaf);
    to_hash(ctx.finish().as_ref())
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[0x01]);
    ctx.update(left);
    ctx.update(right);
    to_hash(ctx.finish().as_ref())
}

fn to_hash(bytes: &[u8]) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(bytes);
    out
}

/// The largest power of two strictly smaller than `n` (n > 1).
fn split_point(n: u64) -> u64 {
    debug_assert!(n > 1);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The roots of the perfect subtrees that make up a tree of `size` leaves, left to right: the
/// only state needed to append in O(log n) and to know the root at any time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut size = self.size;
        while size & 1 == 1 {
            if let Some(left) = self.nodes.pop() {
                hash = node_hash(&left, &hash);
            }
            size >>= 1;
        }
        self.nodes.push(hash);
        self.size += 1;
    }

    /// The tree head: MTH of all leaves so far.
    pub fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(last) = nodes.next() else {
            return empty_root();
        };
        nodes.fold(*last, |right, left| node_hash(left, &right))
    }

    /// The leaf ranges `[start, end)` of the frontier's subtrees, in the order of `nodes`.
    fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut start = 0u64;
        (0..64u32)
            .rev()
            .filter(move |bit| self.size & (1u64 << bit) != 0)
            .map(move |bit| {
                let range = (start, start + (1u64 << bit));
                start = range.1;
                range
            })
    }

    /// A frontier from its stored parts: `nodes` must hold one hash per set bit of `size`.
    pub fn from_nodes(size: u64, nodes: Vec<Hash>) -> Option<Frontier> {
        (nodes.len() == size.count_ones() as usize).then_some(Frontier { size, nodes })
    }

    /// The subtree roots, left to right (largest subtree first).
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// The hash of the subtree `[start, end)` if it is one of the frontier's subtrees.
    pub(crate) fn subtree(&self, start: u64, end: u64) -> Option<Hash> {
        self.ranges()
            .zip(self.nodes.iter())
            .find(|(range, _)| *range == (start, end))
            .map(|(_, hash)| *hash)
    }
}

/// MTH(D[n]) of a list of leaf hashes, by the RFC's recursive definition's iterative equivalent.
pub fn root_of(leaves: &[Hash]) -> Hash {
    let mut frontier = Frontier::new();
    for leaf in leaves {
        frontier.push(*leaf);
    }
    frontier.root()
}

/// RFC 6962 §2.1.1 PATH(m, D[n]), given a way to get MTH of any leaf range `[lo, hi)`.
pub fn inclusion_path(
    index: u64,
    size: u64,
    subtree: &mut dyn FnMut(u64, u64) -> Result<Hash, AuditError>,
) -> Result<Vec<Hash>, AuditError> {
    if index >= size {
        return Err(AuditError::NotFound);
    }
    let mut path = Vec::new();
    path_rec(index, 0, size, subtree, &mut path)?;
    Ok(path)
}

fn path_rec(
    index: u64,
    lo: u64,
    hi: u64,
    subtree: &mut dyn FnMut(u64, u64) -> Result<Hash, AuditError>,
    path: &mut Vec<Hash>,
) -> Result<(), AuditError> {
    let n = hi - lo;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if index < k {
        path_rec(index, lo, lo + k, subtree, path)?;
        path.push(subtree(lo + k, hi)?);
    } else {
        path_rec(index - k, lo + k, hi, subtree, path)?;
        path.push(subtree(lo, lo + k)?);
    }
    Ok(())
}

/// RFC 6962 §2.1.2 PROOF(m, D[n]).
pub fn consistency_path(
    old_size: u64,
    new_size: u64,
    subtree: &mut dyn FnMut(u64, u64) -> Result<Hash, AuditError>,
) -> Result<Vec<Hash>, AuditError> {
    if old_size > new_size {
        return Err(AuditError::NotFound);
    }
    let mut proof = Vec::new();
    if old_size == 0 || old_size == new_size {
        return Ok(proof);
    }
    subproof_rec(old_size, 0, new_size, true, subtree, &mut proof)?;
    Ok(proof)
}

fn subproof_rec(
    m: u64,
    lo: u64,
    hi: u64,
    complete: bool,
    subtree: &mut dyn FnMut(u64, u64) -> Result<Hash, AuditError>,
    proof: &mut Vec<Hash>,
) -> Result<(), AuditError> {
    let n = hi - lo;
    if m == n {
        if !complete {
            proof.push(subtree(lo, hi)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof_rec(m, lo, lo + k, complete, subtree, proof)?;
        proof.push(subtree(lo + k, hi)?);
    } else {
        subproof_rec(m - k, lo + k, hi, false, subtree, proof)?;
        proof.push(subtree(lo, lo + k)?);
    }
    Ok(())
}

/// RFC 9162 §2.1.3.2: does `path` prove leaf `leaf` at `index` in the tree of `size` with `root`?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf;
    for p in path {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `proof` show the tree of `old_size` with `old_root` is a prefix of
/// the tree of `new_size` with `new_root`?
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == empty_root();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let mut f_r = path[0];
    let mut s_r = path[0];
    for c in &path[1..] {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    f_r == *old_root && s_r == *new_root && s_n == 0
}

/// A subtree oracle over a tree whose first `frontier.size()` leaves were purged: the frontier
/// stands for them, `leaves` are the leaf hashes from there on. Ranges that need a purged leaf
/// not covered by a whole frontier subtree are `NotFound`.
pub fn purged_oracle<'a>(
    frontier: &'a Frontier,
    leaves: &'a [Hash],
) -> impl FnMut(u64, u64) -> Result<Hash, AuditError> + 'a {
    move |lo, hi| purged_subtree(frontier, leaves, lo, hi)
}

fn purged_subtree(
    frontier: &Frontier,
    leaves: &[Hash],
    lo: u64,
    hi: u64,
) -> Result<Hash, AuditError> {
    let start = frontier.size();
    if lo >= start {
        let lo = usize::try_from(lo - start).map_err(|_| AuditError::NotFound)?;
        let hi = usize::try_from(hi - start).map_err(|_| AuditError::NotFound)?;
        return leaves.get(lo..hi).map(root_of).ok_or(AuditError::NotFound);
    }
    if hi <= start
        && let Some(hash) = frontier.subtree(lo, hi)
    {
        return Ok(hash);
    }
    if hi - lo <= 1 {
        return Err(AuditError::NotFound);
    }
    // MTH(D[lo:hi]) = node(MTH(D[lo:lo+k]), MTH(D[lo+k:hi])), whatever the range.
    let k = split_point(hi - lo);
    Ok(node_hash(
        &purged_subtree(frontier, leaves, lo, lo + k)?,
        &purged_subtree(frontier, leaves, lo + k, hi)?,
    ))
}

/// A subtree oracle over an in-memory list of leaf hashes.
pub fn leaves_oracle(leaves: &[Hash]) -> impl FnMut(u64, u64) -> Result<Hash, AuditError> + '_ {
    move |lo, hi| {
        let lo = usize::try_from(lo).map_err(|_| AuditError::NotFound)?;
        let hi = usize::try_from(hi).map_err(|_| AuditError::NotFound)?;
        leaves.get(lo..hi).map(root_of).ok_or(AuditError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// MTH by the RFC's recursive definition, independent of the frontier.
    fn naive_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&[i as u8])).collect()
    }

    #[test]
    fn empty_tree_is_sha256_of_nothing() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Certificate Transparency's leaf hash of the empty leaf: SHA-256(0x00).
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn frontier_matches_the_recursive_definition() {
        for n in 0..70 {
            let list = leaves(n);
            assert_eq!(root_of(&list), naive_root(&list), "size {n}");
        }
    }

    #[test]
    fn small_tree_by_hand() {
        let l: Vec<Hash> = leaves(3);
        let want = node_hash(&node_hash(&l[0], &l[1]), &l[2]);
        assert_eq!(root_of(&l), want);
    }

    #[test]
    fn rfc6962_example_proofs() {
        // RFC 6962 §2.1.3: tree of 7 leaves a..g (d0..d6).
        let l = leaves(7);
        let mut oracle = leaves_oracle(&l);
        let path = inclusion_path(3, 7, &mut oracle).unwrap_or_default();
        let ab = node_hash(&l[0], &l[1]);
        let efg = node_hash(&node_hash(&l[4], &l[5]), &l[6]);
        assert_eq!(path, vec![l[2], ab, efg]);
        let proof = consistency_path(3, 7, &mut oracle).unwrap_or_default();
        let ef = node_hash(&l[4], &l[5]);
        assert_eq!(proof, vec![l[2], l[3], ab, node_hash(&ef, &l[6])]);
        let proof = consistency_path(4, 7, &mut oracle).unwrap_or_default();
        assert_eq!(proof, vec![efg]);
    }

    proptest! {
        #[test]
        fn inclusion_round_trips_and_rejects_tampering(size in 1u64..200, index_seed in any::<u64>(), flip in any::<(usize, u8)>()) {
            let index = index_seed % size;
            let list = leaves(size as usize);
            let root = naive_root(&list);
            let path = inclusion_path(index, size, &mut leaves_oracle(&list)).unwrap_or_default();
            prop_assert!(verify_inclusion(index, size, &list[index as usize], &path, &root));
            // Another leaf, another index, another size or a changed path fail.
            let other = leaf_hash(b"not in the tree");
            prop_assert!(!verify_inclusion(index, size, &other, &path, &root));
            // (The tree size is bound by the signed checkpoint, not by the path: a path for
            // size n can also fit the same root at another size, so that is not asserted.)
            if size > 1 {
                prop_assert!(!verify_inclusion((index + 1) % size, size, &list[index as usize], &path, &root));
            }
            if !path.is_empty() {
                let mut bad = path.clone();
                let i = flip.0 % bad.len();
                bad[i][usize::from(flip.1) % 32] ^= 1;
                prop_assert!(!verify_inclusion(index, size, &list[index as usize], &bad, &root));
                let mut short = path.clone();
                short.pop();
                prop_assert!(!verify_inclusion(index, size, &list[index as usize], &short, &root));
            }
        }

        #[test]
        fn consistency_round_trips_and_rejects_tampering(new_size in 1u64..200, old_seed in any::<u64>(), flip in any::<(usize, u8)>()) {
            let old_size = 1 + old_seed % new_size;
            let list = leaves(new_size as usize);
            let old_root = naive_root(&list[..old_size as usize]);
            let new_root = naive_root(&list);
            let proof = consistency_path(old_size, new_size, &mut leaves_oracle(&list)).unwrap_or_default();
            prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof));
            let forked = leaf_hash(b"fork");
            prop_assert!(!verify_consistency(old_size, new_size, &forked, &new_root, &proof));
            prop_assert!(!verify_consistency(old_size, new_size, &old_root, &forked, &proof));
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let i = flip.0 % bad.len();
                bad[i][usize::from(flip.1) % 32] ^= 1;
                prop_assert!(!verify_consistency(old_size, new_size, &old_root, &new_root, &bad));
            }
        }

        #[test]
        fn frontier_subtrees_serve_consistency_proofs(old_size in 1u64..100, extra in 1u64..100) {
            let list = leaves((old_size + extra) as usize);
            let mut frontier = Frontier::new();
            for leaf in &list[..old_size as usize] {
                frontier.push(*leaf);
            }
            let since = &list[old_size as usize..];
            let mut oracle = |lo: u64, hi: u64| {
                if lo >= old_size {
                    Ok(root_of(&since[(lo - old_size) as usize..(hi - old_size) as usize]))
                } else {
                    frontier.subtree(lo, hi).ok_or(AuditError::NotFound)
                }
            };
            let proof = consistency_path(old_size, old_size + extra, &mut oracle);
            prop_assert!(proof.is_ok());
        }

        /// After a purge of `[0, purged)`, every retained leaf is still provable, and the proofs
        /// (inclusion, and consistency from any retained size) equal those of the whole tree.
        #[test]
        fn purged_prefix_keeps_retained_proofs(purged in 1u64..80, kept in 1u64..80, seed in any::<u64>()) {
            let size = purged + kept;
            let list = leaves(size as usize);
            let mut frontier = Frontier::new();
            for leaf in &list[..purged as usize] {
                frontier.push(*leaf);
            }
            let stored = Frontier::from_nodes(purged, frontier.nodes().to_vec()).unwrap();
            let retained = &list[purged as usize..];
            let index = purged + seed % kept;
            let whole = inclusion_path(index, size, &mut leaves_oracle(&list)).unwrap();
            let after = inclusion_path(index, size, &mut purged_oracle(&stored, retained)).unwrap();
            prop_assert_eq!(&whole, &after);
            prop_assert!(verify_inclusion(index, size, &list[index as usize], &after, &root_of(&list)));
            let old_size = purged + seed % kept;
            let whole = consistency_path(old_size, size, &mut leaves_oracle(&list)).unwrap();
            let after = consistency_path(old_size, size, &mut purged_oracle(&stored, retained)).unwrap();
            prop_assert_eq!(whole, after);
            prop_assert!(Frontier::from_nodes(purged, Vec::new()).is_none());
        }
    }
}
