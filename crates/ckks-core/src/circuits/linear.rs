//! Homomorphic linear transforms: a plaintext matrix times an encrypted vector.
//!
//! **Diagonal method** (Halevi, Shoup, *Algorithms in HElib*, Crypto 2014, §4.1). For an
//! `n x n` matrix `M` acting on the `n` slots, with diagonals `d_k[s] = M[s][(s + k) mod n]`,
//!
//! ```text
//!     M x = Σ_k d_k ⊙ rot_k(x).
//! ```
//!
//! **Baby-step giant-step** (Halevi, Shoup, *Faster homomorphic linear transformations in
//! HElib*, Crypto 2018, §4). Writing `k = j n1 + i` and pre-rotating the diagonals,
//!
//! ```text
//!     M x = Σ_j rot_{j n1}( Σ_i rot_{-j n1}(d_{j n1 + i}) ⊙ rot_i(x) ),
//! ```
//!
//! so only the baby rotations `rot_i(x)` (computed together, hoisted: one ModUp) and one
//! giant rotation per `j` are key-switched: about `n1 + d / n1` rotations instead of `d`.
//! `n1` is chosen (a power of two) to minimize the number of distinct rotations for the given
//! set of nonzero diagonals, and [`LinearTransform::rotations`] reports exactly the rotation
//! steps whose Galois keys the evaluation needs.

use crate::ckks::{Ciphertext, Context, Evaluator, Plaintext};
use crate::error::{CkksError, Result};
use num_complex::Complex64;
use std::collections::{BTreeMap, BTreeSet};

/// A plaintext matrix, precomputed (diagonals rotated and encoded) for one level and scale.
#[derive(Clone, Debug)]
pub struct LinearTransform {
    slots: usize,
    level: usize,
    scale: f64,
    n1: usize,
    /// Giant step `j` (rotation `j n1`) -> baby steps `i` with their encoded diagonals.
    giant: BTreeMap<usize, Vec<(usize, Plaintext)>>,
}

/// The baby-step size that minimizes `#baby + #giant` rotations for these diagonal indices.
fn best_n1(diagonals: &BTreeSet<usize>, slots: usize) -> usize {
    let cost = |n1: usize| {
        let baby: BTreeSet<usize> = diagonals.iter().map(|k| k % n1).collect();
        let giant: BTreeSet<usize> = diagonals.iter().map(|k| k / n1).collect();
        baby.iter().filter(|&&i| i != 0).count() + giant.iter().filter(|&&j| j != 0).count()
    };
    (0..=slots.trailing_zeros())
        .map(|e| 1usize << e)
        .min_by_key(|&n1| (cost(n1), n1))
        .unwrap_or(1)
}

impl LinearTransform {
    /// From the nonzero diagonals `d_k` (index `k` in `0..slots`, each of length `slots`),
    /// encoded at `level` with `scale` (use `q_level` to let the following rescale restore the
    /// input scale exactly).
    pub fn from_diagonals(
        ctx: &Context,
        diagonals: &BTreeMap<usize, Vec<Complex64>>,
        slots: usize,
        level: usize,
        scale: f64,
    ) -> Result<Self> {
        if diagonals.is_empty() {
            return Err(CkksError::InvalidParameters(
                "a linear transform needs at least one diagonal".into(),
            ));
        }
        for (&k, d) in diagonals {
            if k >= slots || d.len() != slots {
                return Err(CkksError::InvalidParameters(format!(
                    "diagonal {k} of length {} does not fit {slots} slots",
                    d.len()
                )));
            }
        }
        let keys: BTreeSet<usize> = diagonals.keys().copied().collect();
        let n1 = best_n1(&keys, slots);
        let mut giant: BTreeMap<usize, Vec<(usize, Plaintext)>> = BTreeMap::new();
        for (&k, d) in diagonals {
            let (j, i) = (k / n1, k % n1);
            let shift = j * n1;
            // rot_{-shift}(d)[s] = d[s - shift]
            let rotated: Vec<Complex64> =
                (0..slots).map(|s| d[(s + slots - shift) % slots]).collect();
            let pt = ctx.encode(&rotated, slots, level, scale)?;
            giant.entry(j).or_default().push((i, pt));
        }
        Ok(Self {
            slots,
            level,
            scale,
            n1,
            giant,
        })
    }

    /// From a dense `slots x slots` matrix (rows of length `slots`); all-zero diagonals are
    /// skipped.
    pub fn from_dense(
        ctx: &Context,
        matrix: &[Vec<Complex64>],
        level: usize,
        scale: f64,
    ) -> Result<Self> {
        let n = matrix.len();
        if n == 0 || matrix.iter().any(|r| r.len() != n) {
            return Err(CkksError::InvalidParameters(
                "the matrix must be square and non-empty".into(),
            ));
        }
        let diagonals: BTreeMap<usize, Vec<Complex64>> = (0..n)
            .map(|k| {
                (
                    k,
                    (0..n).map(|s| matrix[s][(s + k) % n]).collect::<Vec<_>>(),
                )
            })
            .filter(|(_, d)| d.iter().any(|v| v.norm() != 0.0))
            .collect();
        if diagonals.is_empty() {
            return Err(CkksError::InvalidParameters("the matrix is zero".into()));
        }
        Self::from_diagonals(ctx, &diagonals, n, level, scale)
    }

    /// The rotation steps whose Galois keys [`evaluate`](Self::evaluate) needs.
    pub fn rotations(&self) -> Vec<i64> {
        let mut steps: BTreeSet<i64> = BTreeSet::new();
        for (&j, babies) in &self.giant {
            if j != 0 {
                steps.insert((j * self.n1) as i64);
            }
            steps.extend(
                babies
                    .iter()
                    .filter(|(i, _)| *i != 0)
                    .map(|(i, _)| *i as i64),
            );
        }
        steps.into_iter().collect()
    }

    /// The baby-step size.
    pub fn n1(&self) -> usize {
        self.n1
    }
    /// Level of the encoded diagonals (the input ciphertext must be at this level).
    pub fn level(&self) -> usize {
        self.level
    }
    /// Slot count of the ciphertexts it applies to.
    pub fn slots(&self) -> usize {
        self.slots
    }
    /// Scale of the encoded diagonals (the output scale is the input's times this).
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// `M x` for an encrypted `x` at this transform's level and slot count. The result is not
    /// rescaled: its scale is `x.scale() * self.scale()`.
    pub fn evaluate(&self, eval: &Evaluator, x: &Ciphertext) -> Result<Ciphertext> {
        if x.slots() != self.slots {
            return Err(CkksError::InvalidParameters(format!(
                "transform over {} slots applied to a ciphertext of {} slots",
                self.slots,
                x.slots()
            )));
        }
        if x.level() != self.level {
            return Err(CkksError::LevelMismatch(x.level(), self.level));
        }
        let babies: BTreeSet<usize> = self.giant.values().flatten().map(|(i, _)| *i).collect();
        let steps: Vec<i64> = babies.iter().map(|&i| i as i64).collect();
        let rotated: BTreeMap<usize, Ciphertext> = babies
            .iter()
            .copied()
            .zip(eval.rotate_hoisted(x, &steps)?)
            .collect();
        let mut out: Option<Ciphertext> = None;
        for (&j, terms) in &self.giant {
            let mut inner: Option<Ciphertext> = None;
            for (i, pt) in terms {
                let term = eval.mul_plain(&rotated[i], pt)?;
                inner = Some(match inner {
                    None => term,
                    Some(acc) => eval.add(&acc, &term)?,
                });
            }
            let inner = inner.expect("every giant step has at least one term");
            let shifted = if j == 0 {
                inner
            } else {
                eval.rotate(&inner, (j * self.n1) as i64)?
            };
            out = Some(match out {
                None => shifted,
                Some(acc) => eval.add(&acc, &shifted)?,
            });
        }
        out.ok_or_else(|| CkksError::InvalidParameters("empty transform".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n1_minimizes_rotations() {
        let dense: BTreeSet<usize> = (0..64).collect();
        assert_eq!(best_n1(&dense, 64), 8);
        let conv: BTreeSet<usize> = [0, 1, 2, 31, 32, 33, 62, 63, 64].into_iter().collect();
        let n1 = best_n1(&conv, 1024);
        let baby: BTreeSet<usize> = conv.iter().map(|k| k % n1).collect();
        let giant: BTreeSet<usize> = conv.iter().map(|k| k / n1).collect();
        assert!(baby.len() + giant.len() <= 9);
    }
}
