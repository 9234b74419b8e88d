//! The S-sparsity operator on code vectors, their supports, and the compact encoding of the
//! supports (the secret key) in the combinatorial number system.
//!
//! A support is an S-subset `c_1 < ... < c_S` of `{0..M-1}`. Its rank in the combinatorial
//! number system (Knuth, TAOCP 4A, 7.2.1.3, Eq. (20); also "combinadic") is
//! `r = sum_{i=1..S} C(c_i, i)`, a bijection onto `{0, .., C(M, S) - 1}`; each vector's
//! support thus takes `ceil(log2 C(M, S))` bits of the key (less than one bit above the
//! information-theoretic `log2 C(M, S)`).

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::codec::{CodeLayout, Codes};
use crate::config::SparsityKind;
use crate::error::{Result, ScaError};

/// Binomial coefficient `C(n, k)` in `u128`; `None` on overflow.
pub fn binomial(n: u64, k: u64) -> Option<u128> {
    if k > n {
        return Some(0);
    }
    let k = k.min(n - k);
    let mut r: u128 = 1;
    for i in 0..k {
        // r * (n - i) / (i + 1) is exact at every step (r = C(n, i) * ... ).
        r = r.checked_mul((n - i) as u128)? / (i + 1) as u128;
    }
    Some(r)
}

/// `log2 C(n, k)`, the support uncertainty in bits of an S = k subset of n positions.
pub fn log2_binomial(n: u64, k: u64) -> f64 {
    if k > n {
        return f64::NEG_INFINITY;
    }
    (0..k.min(n - k))
        .map(|i| ((n - i) as f64).log2() - ((i + 1) as f64).log2())
        .sum()
}

/// Key bits per vector, `ceil(log2 C(M, S))`; an error where it exceeds 127 bits.
pub fn bits_per_support(m: usize, s: usize) -> Result<u32> {
    let c = binomial(m as u64, s as u64)
        .filter(|&c| c > 0 && c < (1u128 << 127))
        .ok_or_else(|| ScaError::InvalidConfig(format!("C({m}, {s}) needs more than 127 bits")))?;
    Ok(128 - (c - 1).leading_zeros())
}

/// Table of the binomial coefficients `C(n, k)`, `n <= m`, `k <= s`, by Pascal's rule
/// (saturating at `u128::MAX`, which only entries above every valid rank reach): ranking and
/// unranking look coefficients up instead of recomputing them.
#[derive(Clone, Debug)]
pub struct Binomials {
    s: usize,
    table: Vec<u128>,
}

impl Binomials {
    /// Coefficients up to `C(m, s)`.
    pub fn new(m: usize, s: usize) -> Self {
        let w = s + 1;
        let mut table = vec![0u128; (m + 1) * w];
        for n in 0..=m {
            table[n * w] = 1;
            for k in 1..=s.min(n) {
                table[n * w + k] =
                    table[(n - 1) * w + k - 1].saturating_add(table[(n - 1) * w + k]);
            }
        }
        Self { s, table }
    }

    /// `C(n, k)`.
    pub fn get(&self, n: usize, k: usize) -> u128 {
        self.table[n * (self.s + 1) + k]
    }

    /// Rank of a sorted support, `sum_i C(c_i, i)`.
    pub fn rank(&self, support: &[u8]) -> u128 {
        support
            .iter()
            .enumerate()
            .map(|(i, &c)| self.get(c as usize, i + 1))
            .sum()
    }

    /// The sorted support of rank `r` among the `out.len()`-subsets of `0..m`, written into
    /// `out`; an error where `r >= C(m, out.len())`.
    pub fn unrank(&self, mut r: u128, m: usize, out: &mut [u8]) -> Result<()> {
        let s = out.len();
        let out_of_range = || ScaError::KeyMismatch(format!("rank out of range for C({m}, {s})"));
        let mut c = m;
        for i in (1..=s).rev() {
            // Largest c' < c with C(c', i) <= r.
            loop {
                if c == 0 {
                    return Err(out_of_range());
                }
                c -= 1;
                let b = self.get(c, i);
                if b <= r {
                    r -= b;
                    break;
                }
            }
            out[i - 1] = c as u8;
        }
        if r != 0 {
            return Err(out_of_range());
        }
        Ok(())
    }
}

/// Rank of a sorted support in the combinatorial number system.
pub fn rank(support: &[u8]) -> u128 {
    let top = support.last().map_or(0, |&c| c as usize);
    Binomials::new(top, support.len()).rank(support)
}

/// The sorted support of rank `r` (`r < C(m, s)`), written into `out` (length `s`).
pub fn unrank(r: u128, m: usize, out: &mut [u8]) -> Result<()> {
    Binomials::new(m, out.len()).unrank(r, m, out)
}

/// The support (sorted indices) of the S-sparsity operator on `v`, written into `out`
/// (length `s`). Magnitude: the `s` largest `|v_i|`; Signed: the `s/2` largest and the `s/2`
/// smallest (most negative) `v_i`. Ties go to the lower index.
pub fn top_s_support(v: &[f32], s: usize, kind: SparsityKind, out: &mut [u8]) {
    let mut buf = [0u8; 256];
    let idx = &mut buf[..v.len()];
    for (i, x) in idx.iter_mut().enumerate() {
        *x = i as u8;
    }
    top_s_among(v, idx, kind, &mut out[..s]);
    idx.zeroize();
}

/// [`top_s_support`] restricted to the positions `candidates` (distinct, at least
/// `out.len()` of them; reordered): the S-sparsity operator on the entries of `v` that are
/// still free, as a decoy layer needs ([`crate::ambiguation::ambiguate_with_decoys`]).
pub fn top_s_among(v: &[f32], candidates: &mut [u8], kind: SparsityKind, out: &mut [u8]) {
    let s = out.len();
    // One integer key per candidate, `(order of the value) << 8 | (255 - index)`: sorting the
    // keys in decreasing order is the order "larger value first, then lower index first"
    // (a total order), so selecting the first `s` gives the same set as a full sort would,
    // with integer comparisons only.
    let mut keys = [0u64; 256];
    let keys = &mut keys[..candidates.len()];
    for (k, &i) in keys.iter_mut().zip(candidates.iter()) {
        let x = v[i as usize];
        let order = match kind {
            // |x| is non-negative: its bits are already ordered (NaN above infinity, as
            // `total_cmp` has it).
            SparsityKind::Magnitude => x.abs().to_bits(),
            SparsityKind::Signed => order_key(x),
        };
        *k = ((order as u64) << 8) | (255 - i as u64);
    }
    let descending = |a: &u64, b: &u64| b.cmp(a);
    let index = |k: u64| (255 - (k & 0xFF)) as u8;
    match kind {
        SparsityKind::Magnitude => {
            if s < keys.len() {
                keys.select_nth_unstable_by(s, descending);
            }
            for (o, &k) in out.iter_mut().zip(keys.iter()) {
                *o = index(k);
            }
        }
        SparsityKind::Signed => {
            let h = s / 2;
            if h < keys.len() {
                keys.select_nth_unstable_by(h, descending);
            }
            let rest = &mut keys[h..];
            let k = rest.len() - (s - h);
            if k < rest.len() {
                rest.select_nth_unstable_by(k, descending);
            }
            let (top, bottom) = (&keys[..h], &keys[h + k..]);
            for (o, &key) in out.iter_mut().zip(top.iter().chain(bottom)) {
                *o = index(key);
            }
        }
    }
    out.sort_unstable();
    // The keys carry the support (secret): wipe them.
    keys.zeroize();
}

/// A `u32` whose unsigned order is `f32::total_cmp`'s order of `x`.
pub fn order_key(x: f32) -> u32 {
    let b = x.to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// The secret key: the true support of every code vector. Zeroized on drop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SupportKey {
    /// Code shape the key belongs to.
    #[zeroize(skip)]
    pub layout: CodeLayout,
    /// S_x.
    pub sparsity: u16,
    /// `vectors * sparsity` indices, sorted within each vector.
    supports: Vec<u8>,
}

impl std::fmt::Debug for SupportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SupportKey({} vectors, S = {}, ..)",
            self.layout.vectors(),
            self.sparsity
        )
    }
}

impl SupportKey {
    /// Supports of vector `v`.
    pub fn support(&self, v: usize) -> &[u8] {
        let s = self.sparsity as usize;
        &self.supports[v * s..(v + 1) * s]
    }

    /// Key bits per vector, `ceil(log2 C(M, S_x))`.
    pub fn bits_per_vector(&self) -> Result<u32> {
        bits_per_support(self.layout.code_dim as usize, self.sparsity as usize)
    }

    /// Compact encoding: per vector the rank of its support in `bits_per_vector` bits,
    /// little-endian bit order, the last byte zero-padded. (Layout and S_x travel in the
    /// public code; see [`SupportKey::from_packed`].)
    pub fn pack(&self) -> Result<Vec<u8>> {
        let b = self.bits_per_vector()? as usize;
        let n = self.layout.vectors();
        let table = Binomials::new(self.layout.code_dim as usize, self.sparsity as usize);
        let mut out = vec![0u8; (n * b).div_ceil(8)];
        for v in 0..n {
            let mut r = table.rank(self.support(v));
            for j in 0..b {
                let bit = v * b + j;
                out[bit / 8] |= ((r & 1) as u8) << (bit % 8);
                r >>= 1;
            }
        }
        Ok(out)
    }

    /// Decode [`pack`](Self::pack) output for codes of `layout` at sparsity `s`.
    pub fn from_packed(layout: CodeLayout, s: usize, bytes: &[u8]) -> Result<Self> {
        let m = layout.code_dim as usize;
        let b = bits_per_support(m, s)? as usize;
        let n = layout.vectors();
        if bytes.len() != (n * b).div_ceil(8) {
            return Err(ScaError::KeyMismatch(format!(
                "{} key bytes, {} vectors of {b} bits need {}",
                bytes.len(),
                n,
                (n * b).div_ceil(8)
            )));
        }
        let table = Binomials::new(m, s);
        let mut supports = vec![0u8; n * s];
        for v in 0..n {
            let mut r: u128 = 0;
            for j in (0..b).rev() {
                let bit = v * b + j;
                r = (r << 1) | ((bytes[bit / 8] >> (bit % 8)) & 1) as u128;
            }
            table.unrank(r, m, &mut supports[v * s..(v + 1) * s])?;
        }
        Ok(Self {
            layout,
            sparsity: s as u16,
            supports,
        })
    }

    /// Build from explicit supports (sorted, distinct, below M within each vector).
    pub fn from_supports(layout: CodeLayout, s: usize, supports: Vec<u8>) -> Result<Self> {
        let m = layout.code_dim as usize;
        bits_per_support(m, s)?;
        if supports.len() != layout.vectors() * s
            || supports
                .chunks_exact(s)
                .any(|c| c.windows(2).any(|w| w[0] >= w[1]) || c[s - 1] as usize >= m)
        {
            return Err(ScaError::KeyMismatch(
                "supports not sorted S-subsets of 0..M".into(),
            ));
        }
        Ok(Self {
            layout,
            sparsity: s as u16,
            supports,
        })
    }

    /// Keep only the entries of `codes` on the supports (purification with the key).
    pub fn purify(&self, codes: &Codes) -> Result<Codes> {
        if codes.layout != self.layout {
            return Err(ScaError::KeyMismatch(format!(
                "key for {:?}, code is {:?}",
                self.layout, codes.layout
            )));
        }
        let m = self.layout.code_dim as usize;
        let mut values = vec![0f32; codes.values.len()];
        for v in 0..self.layout.vectors() {
            for &i in self.support(v) {
                values[v * m + i as usize] = codes.values[v * m + i as usize];
            }
        }
        Ok(Codes {
            layout: self.layout,
            values,
        })
    }
}

/// Apply the S-sparsity operator to every vector of dense codes: the sparse codes and their
/// supports (the key).
pub fn sparsify(dense: &Codes, s: usize, kind: SparsityKind) -> Result<(Codes, SupportKey)> {
    let m = dense.layout.code_dim as usize;
    if s == 0 || s > m || (kind == SparsityKind::Signed && s % 2 == 1) {
        return Err(ScaError::InvalidConfig(format!(
            "sparsity {s} for M = {m} ({kind:?})"
        )));
    }
    let n = dense.layout.vectors();
    let mut supports = vec![0u8; n * s];
    for (v, x) in dense.vectors().enumerate() {
        top_s_support(x, s, kind, &mut supports[v * s..(v + 1) * s]);
    }
    let key = SupportKey::from_supports(dense.layout, s, supports)?;
    let sparse = key.purify(dense)?;
    Ok((sparse, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn binomials() {
        assert_eq!(binomial(64, 16), Some(488_526_937_079_580));
        assert_eq!(binomial(5, 0), Some(1));
        assert_eq!(binomial(3, 5), Some(0));
        assert!((log2_binomial(64, 16) - (488_526_937_079_580f64).log2()).abs() < 1e-9);
        assert_eq!(bits_per_support(64, 16).unwrap(), 49);
        assert_eq!(bits_per_support(64, 4).unwrap(), 20);
        assert_eq!(bits_per_support(4, 4).unwrap(), 0);
        assert!(bits_per_support(255, 127).is_err());
    }

    #[test]
    fn ranks_enumerate_all_subsets() {
        // Every 3-subset of 0..7 gets a distinct rank in 0..35 and unranks back.
        let mut seen = [false; 35];
        for a in 0..7u8 {
            for b in a + 1..7 {
                for c in b + 1..7 {
                    let r = rank(&[a, b, c]) as usize;
                    assert!(!seen[r]);
                    seen[r] = true;
                    let mut out = [0u8; 3];
                    unrank(r as u128, 7, &mut out).unwrap();
                    assert_eq!(out, [a, b, c]);
                }
            }
        }
        assert!(seen.iter().all(|&s| s));
        assert!(unrank(35, 7, &mut [0u8; 3]).is_err());
    }

    #[test]
    fn top_s_operator() {
        let v = [0.1f32, -3.0, 2.0, 0.5, -0.2, 4.0, -1.0, 0.0];
        let mut out = [0u8; 3];
        top_s_support(&v, 3, SparsityKind::Magnitude, &mut out);
        assert_eq!(out, [1, 2, 5]);
        let mut out = [0u8; 4];
        top_s_support(&v, 4, SparsityKind::Signed, &mut out);
        // Two largest: 4.0 (5), 2.0 (2); two most negative: -3.0 (1), -1.0 (6).
        assert_eq!(out, [1, 2, 5, 6]);
        // Ties go to the lower index.
        let mut out = [0u8; 2];
        top_s_support(&[1.0, -1.0, 1.0], 2, SparsityKind::Magnitude, &mut out);
        assert_eq!(out, [0, 1]);
    }

    fn layout(n_tiles: u16) -> CodeLayout {
        CodeLayout {
            tiles_x: n_tiles,
            tiles_y: 1,
            groups: 2,
            side: 2,
            code_dim: 16,
        }
    }

    proptest! {
        #[test]
        fn sparsify_keeps_exactly_the_s_largest(
            vals in proptest::collection::vec(-10.0f32..10.0, 2 * 4 * 16),
            s in 1usize..16,
        ) {
            let dense = Codes { layout: layout(1), values: vals };
            let (sparse, key) = sparsify(&dense, s, SparsityKind::Magnitude).unwrap();
            for (v, x) in sparse.vectors().enumerate() {
                let d = dense.vector(v);
                prop_assert_eq!(key.support(v).len(), s);
                let kept_min = key.support(v).iter().map(|&i| d[i as usize].abs()).fold(f32::INFINITY, f32::min);
                for i in 0..16 {
                    if key.support(v).contains(&(i as u8)) {
                        prop_assert_eq!(x[i], d[i]);
                    } else {
                        prop_assert_eq!(x[i], 0.0);
                        prop_assert!(d[i].abs() <= kept_min);
                    }
                }
            }
        }

        #[test]
        fn key_encoding_round_trips(
            vals in proptest::collection::vec(-1.0f32..1.0, 3 * 2 * 4 * 16),
            s in 1usize..=16,
        ) {
            let dense = Codes { layout: layout(3), values: vals };
            let (_, key) = sparsify(&dense, s, SparsityKind::Magnitude).unwrap();
            let packed = key.pack().unwrap();
            let bits = bits_per_support(16, s).unwrap() as usize;
            prop_assert_eq!(packed.len(), (key.layout.vectors() * bits).div_ceil(8));
            let back = SupportKey::from_packed(key.layout, s, &packed).unwrap();
            prop_assert!(back == key);
        }
    }

    #[test]
    fn malformed_keys_are_refused() {
        let l = layout(1);
        assert!(SupportKey::from_packed(l, 4, &[0u8; 3]).is_err());
        assert!(SupportKey::from_supports(l, 2, [1, 1].repeat(8)).is_err());
        assert!(SupportKey::from_supports(l, 2, [1, 16].repeat(8)).is_err());
        // All-ones ranks beyond C(16, 4) - 1 = 1819 are refused, not wrapped.
        let bits = bits_per_support(16, 4).unwrap() as usize;
        let bytes = vec![0xFFu8; (l.vectors() * bits).div_ceil(8)];
        assert!(matches!(
            SupportKey::from_packed(l, 4, &bytes),
            Err(ScaError::KeyMismatch(_))
        ));
    }
}
