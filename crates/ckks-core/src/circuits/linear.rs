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
//!
//! **Storage.** An encoded diagonal at `N = 2^16` and level `ℓ` takes `8 N (ℓ + 1)` bytes
//! (5 MiB at `ℓ = 9`); a network with thousands of convolution diagonals cannot hold them all.
//! [`DiagonalStorage::Deferred`] keeps the (pre-rotated) slot values instead, `8` bytes a slot
//! for real diagonals, and encodes each one when [`LinearTransform::evaluate`] reaches it
//! (one special FFT and `ℓ + 1` NTTs per diagonal, in parallel over the diagonals of a giant
//! step): memory traded for time.

use crate::ckks::{Ciphertext, Context, Evaluator, Plaintext};
use crate::error::{CkksError, Result};
use num_complex::Complex64;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// How a [`LinearTransform`] holds its diagonals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DiagonalStorage {
    /// Encoded once at construction: fastest evaluation.
    #[default]
    Encoded,
    /// Slot values, encoded at every evaluation: least memory.
    Deferred,
}

/// One pre-rotated diagonal; a deferred one keeps a single period of its values (a
/// diagonal of a transform between tensors replicated every `P` slots repeats every `P`).
#[derive(Clone, Debug)]
enum Diagonal {
    Encoded(Plaintext),
    Real(Vec<f64>),
    Complex(Vec<Complex64>),
}

/// The shortest power-of-two period of `v` (its length if none shorter).
fn period<T: PartialEq>(v: &[T]) -> usize {
    let mut p = v.len();
    while p > 1 && p % 2 == 0 && (p / 2..v.len()).all(|i| v[i] == v[i % (p / 2)]) {
        p /= 2;
    }
    p
}

/// `v` repeated to `slots` values.
fn tiled<T: Copy>(v: &[T], slots: usize) -> Vec<T> {
    (0..slots).map(|i| v[i % v.len()]).collect()
}

/// A plaintext matrix, precomputed (diagonals rotated, and encoded unless deferred) for one
/// level and scale.
#[derive(Clone, Debug)]
pub struct LinearTransform {
    ctx: Context,
    slots: usize,
    level: usize,
    scale: f64,
    n1: usize,
    /// Giant step `j` (rotation `j n1`) -> baby steps `i` with their diagonals.
    giant: BTreeMap<usize, Vec<(usize, Diagonal)>>,
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

/// Fails unless `values` encode at `level` and `scale`: every coefficient of the encoding is
/// an average of slot values times the scale, so `max |v| · scale < Q_ℓ / 2` suffices.
fn check_encodable(ctx: &Context, values: &[Complex64], level: usize, scale: f64) -> Result<()> {
    let max = values
        .iter()
        .map(|v| v.re.abs().max(v.im.abs()))
        .fold(0.0, f64::max);
    let log_q: f64 = ctx.params().q()[..=level]
        .iter()
        .map(|&q| (q as f64).log2())
        .sum();
    if !(max * scale).is_finite() || (max * scale).log2() >= (log_q - 1.0).min(126.0) {
        return Err(CkksError::EncodingOverflow(format!(
            "diagonal value {max} times scale 2^{:.1} exceeds the level-{level} modulus",
            scale.log2()
        )));
    }
    Ok(())
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
        Self::from_diagonals_stored(
            ctx,
            diagonals,
            slots,
            level,
            scale,
            DiagonalStorage::Encoded,
        )
    }

    /// [`from_diagonals`](Self::from_diagonals) with the diagonals held as `storage` says
    /// (checked here either way: a deferred diagonal that cannot be encoded at this level and
    /// scale is an error now, not at evaluation).
    pub fn from_diagonals_stored(
        ctx: &Context,
        diagonals: &BTreeMap<usize, Vec<Complex64>>,
        slots: usize,
        level: usize,
        scale: f64,
        storage: DiagonalStorage,
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
        let mut giant: BTreeMap<usize, Vec<(usize, Diagonal)>> = BTreeMap::new();
        for (&k, d) in diagonals {
            let (j, i) = (k / n1, k % n1);
            let shift = j * n1;
            // rot_{-shift}(d)[s] = d[s - shift]
            let rotated: Vec<Complex64> =
                (0..slots).map(|s| d[(s + slots - shift) % slots]).collect();
            let diagonal = match storage {
                DiagonalStorage::Encoded => {
                    Diagonal::Encoded(ctx.encode(&rotated, slots, level, scale)?)
                }
                DiagonalStorage::Deferred => {
                    check_encodable(ctx, &rotated, level, scale)?;
                    let one = &rotated[..period(&rotated)];
                    if one.iter().all(|v| v.im == 0.0) {
                        Diagonal::Real(one.iter().map(|v| v.re).collect())
                    } else {
                        Diagonal::Complex(one.to_vec())
                    }
                }
            };
            giant.entry(j).or_default().push((i, diagonal));
        }
        Ok(Self {
            ctx: ctx.clone(),
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
            let inner = terms
                .par_iter()
                .try_fold(
                    || None,
                    |acc: Option<Ciphertext>, (i, d)| -> Result<Option<Ciphertext>> {
                        let pt = self.plaintext(d)?;
                        Ok(Some(match acc {
                            None => eval.mul_plain(&rotated[i], &pt)?,
                            Some(mut acc) => {
                                eval.mul_plain_add_assign(&mut acc, &rotated[i], &pt)?;
                                acc
                            }
                        }))
                    },
                )
                .try_reduce(
                    || None,
                    |a, b| match (a, b) {
                        (Some(a), Some(b)) => Ok(Some(eval.add(&a, &b)?)),
                        (a, b) => Ok(a.or(b)),
                    },
                )?
                .expect("every giant step has at least one term");
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

    /// The encoded plaintext of a diagonal (encoding it now if it is deferred).
    fn plaintext<'a>(&self, d: &'a Diagonal) -> Result<Cow<'a, Plaintext>> {
        Ok(match d {
            Diagonal::Encoded(pt) => Cow::Borrowed(pt),
            Diagonal::Real(v) => Cow::Owned(self.ctx.encode_real(
                &tiled(v, self.slots),
                self.slots,
                self.level,
                self.scale,
            )?),
            Diagonal::Complex(v) => Cow::Owned(self.ctx.encode(
                &tiled(v, self.slots),
                self.slots,
                self.level,
                self.scale,
            )?),
        })
    }

    /// Number of stored diagonals.
    pub fn diagonal_count(&self) -> usize {
        self.giant.values().map(Vec::len).sum()
    }

    /// Bytes the diagonals occupy in memory.
    pub fn memory_bytes(&self) -> usize {
        self.giant
            .values()
            .flatten()
            .map(|(_, d)| match d {
                Diagonal::Encoded(pt) => 8 * pt.poly.data.len(),
                Diagonal::Real(v) => 8 * v.len(),
                Diagonal::Complex(v) => 16 * v.len(),
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_the_shortest_power_of_two() {
        assert_eq!(period(&[1, 2, 1, 2, 1, 2, 1, 2]), 2);
        assert_eq!(period(&[1, 2, 3, 4]), 4);
        assert_eq!(period(&[5; 8]), 1);
        assert_eq!(period(&[1, 2, 1, 3]), 4);
        assert_eq!(tiled(&[1, 2], 6), vec![1, 2, 1, 2, 1, 2]);
    }

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
