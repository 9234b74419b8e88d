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
//! `n1` is chosen (a power of two) to minimize the cost of the rotations for the given set of
//! nonzero diagonals (a giant rotation, a full key switch, counts as [`GIANT_COST`] baby
//! rotations), and [`LinearTransform::rotations`] reports exactly the rotation steps whose
//! Galois keys the evaluation needs.
//!
//! **Double hoisting** ([`Hoisting::Double`]; Bossuat, Mouchet, Troncoso-Pastoriza, Hubaux,
//! *Efficient bootstrapping for approximate HE with non-sparse keys*, Eurocrypt 2021, §5):
//! the baby rotations are left in the extended basis `Q_ℓ P` without their ModDown,
//! `rot_i(x) ≈ (P φ_i(c_0) + <ModUp(c_1), swk_i>) / P`, the diagonals are encoded over
//! `Q_ℓ P` too, and each inner sum `Σ_i d'_{j,i} ⊙ P rot_i(x)` stays there: its `c_0` half is
//! permuted by the giant rotation in `Q_ℓ P` directly, only its `c_1` half goes through
//! ModDown (to be decomposed for the giant key switch), and one ModDown of the total ends the
//! transform. Per transform this saves `2 #baby + #giant - 2` ModDowns, at the price of
//! diagonals over `L + 1 + K` instead of `L + 1` primes (memory). The ModDown rounding
//! happens after the plaintext products instead of before, so the error is not larger.
//!
//!
//! **Storage.** An encoded diagonal at `N = 2^16` and level `ℓ` takes `8 N (ℓ + 1)` bytes
//! (5 MiB at `ℓ = 9`); a network with thousands of convolution diagonals cannot hold them all.
//! [`DiagonalStorage::Deferred`] keeps the (pre-rotated) slot values instead, `8` bytes a slot
//! for real diagonals, and encodes each one when [`LinearTransform::evaluate`] reaches it
//! (one special FFT and `ℓ + 1` NTTs per diagonal, in parallel over the diagonals of a giant
//! step): memory traded for time.
//!
//! **Compact periodic diagonals.** A diagonal that repeats every `p` slots encodes to a
//! polynomial in `X^g`, `g = N / 2p`, whose `N` evaluations are the `2p` evaluations of a
//! size-`2p` NTT, each repeated `g` times (`Ring::ntt_compact`). Such diagonals, encoded at
//! construction or at evaluation, stay in that compact form (`8 · 2p (ℓ + 1)` bytes) and
//! the products read them through the cached gather `k -> j` of each prime: the `N`
//! evaluations are never written out, so a diagonal product reads the ciphertext and a
//! small table instead of two `N`-length operands (these products are memory-bound). Periods
//! shorter than 8 are repeated up to 8 (the smallest compact NTT has 16 points); a
//! diagonal without a shorter period (`p = N/2`) is an ordinary plaintext.

use crate::ckks::context::ProductPlaintext;
use crate::ckks::{Ciphertext, Context, Evaluator, Plaintext};
use crate::error::{CkksError, Result};
use crate::ring::{Basis, CompactPoly, Form, RnsPoly, Weights};
use num_complex::Complex64;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// Diagonal products per parallel task in a giant step of the single-hoisted evaluation.
const TERMS_PER_TASK: usize = 8;

/// Cost of a giant rotation (a full key switch: ModUp, inner product, ModDown) in baby
/// rotations (hoisted: inner product and ModDown, or only the inner product when double
/// hoisted), for the choice of the baby-step size; 2 keeps the bootstrapping key set of the
/// `N = 2^16` preset at 38 rotation keys (larger values trade more keys for fewer giants).
pub const GIANT_COST: usize = 2;

/// How the baby-step rotations share their key-switching work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hoisting {
    /// One ModUp for all baby rotations, each then ModDown'd (diagonals over `Q_ℓ`).
    Single,
    /// Baby rotations and inner sums kept over `Q_ℓ P`, one ModDown per giant step and one
    /// at the end (diagonals over `Q_ℓ P`: `K` more limbs each). See the module docs.
    Double,
}

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
/// diagonal of a transform between tensors replicated every `P` slots repeats every `P`),
/// an encoded periodic one its compact evaluation form.
#[derive(Clone, Debug)]
enum Diagonal {
    Encoded(ProductPlaintext),
    Real(Vec<f64>),
    Complex(Vec<Complex64>),
}

/// `(baby step, plaintext)` terms of both forms.
type SplitTerms<'b> = (Vec<(usize, &'b Plaintext)>, Vec<(usize, &'b CompactPoly)>);

/// Encoded terms split by the form of their plaintext (the two forms go through different
/// product kernels).
fn split_terms<'b>(terms: &'b [(usize, Cow<'_, ProductPlaintext>)]) -> SplitTerms<'b> {
    let (mut plain, mut compact) = (Vec::new(), Vec::new());
    for (i, e) in terms {
        match e.as_ref() {
            ProductPlaintext::Plain(pt) => plain.push((*i, pt)),
            ProductPlaintext::Compact(c) => compact.push((*i, c)),
        }
    }
    (plain, compact)
}

/// The shortest power-of-two period of `v` (its length if none shorter).
fn period<T: PartialEq>(v: &[T]) -> usize {
    let mut p = v.len();
    while p > 1 && p.is_multiple_of(2) && (p / 2..v.len()).all(|i| v[i] == v[i % (p / 2)]) {
        p /= 2;
    }
    p
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
    hoisting: Hoisting,
    /// Giant step `j` (rotation `j n1`) -> baby steps `i` with their diagonals.
    giant: BTreeMap<usize, Vec<(usize, Diagonal)>>,
}

/// The baby-step size that minimizes `#baby + GIANT_COST #giant` for these diagonal indices.
fn best_n1(diagonals: &BTreeSet<usize>, slots: usize) -> usize {
    let cost = |n1: usize| {
        let baby: BTreeSet<usize> = diagonals.iter().map(|k| k % n1).collect();
        let giant: BTreeSet<usize> = diagonals.iter().map(|k| k / n1).collect();
        baby.iter().filter(|&&i| i != 0).count()
            + GIANT_COST * giant.iter().filter(|&&j| j != 0).count()
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
        Self::from_diagonals_with(
            ctx,
            diagonals,
            slots,
            level,
            scale,
            storage,
            Hoisting::Single,
        )
    }

    /// [`from_diagonals_stored`](Self::from_diagonals_stored) evaluated with the given
    /// [`Hoisting`] (bootstrapping uses [`Hoisting::Double`]; its diagonals, encoded now or at
    /// evaluation, live over `Q_ℓ P`).
    pub fn from_diagonals_with(
        ctx: &Context,
        diagonals: &BTreeMap<usize, Vec<Complex64>>,
        slots: usize,
        level: usize,
        scale: f64,
        storage: DiagonalStorage,
        hoisting: Hoisting,
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
            // one period: a diagonal repeating every `p` slots encodes at the cost of `p`
            let one = &rotated[..period(&rotated)];
            let with_p = hoisting == Hoisting::Double;
            let diagonal = match storage {
                DiagonalStorage::Encoded => {
                    Diagonal::Encoded(ctx.encode_for_products(one, slots, level, with_p, scale)?)
                }
                DiagonalStorage::Deferred => {
                    check_encodable(ctx, &rotated, level, scale)?;
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
            hoisting,
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
        match self.hoisting {
            Hoisting::Single => self.evaluate_single(eval, x),
            Hoisting::Double => self.evaluate_double(eval, x),
        }
    }

    fn baby_steps(&self) -> BTreeSet<usize> {
        self.giant.values().flatten().map(|(i, _)| *i).collect()
    }

    fn evaluate_single(&self, eval: &Evaluator, x: &Ciphertext) -> Result<Ciphertext> {
        let babies = self.baby_steps();
        let steps: Vec<i64> = babies.iter().map(|&i| i as i64).collect();
        let rotated: BTreeMap<usize, Ciphertext> = babies
            .iter()
            .copied()
            .zip(eval.rotate_hoisted(x, &steps)?)
            .collect();
        let mut out: Option<Ciphertext> = None;
        for (&j, terms) in &self.giant {
            // chunks of terms in parallel, each encoding its deferred diagonals and summing its
            // products lazily: coarse tasks for the threads, and only the chunks in flight
            // hold encoded plaintexts
            let inner = terms
                .par_chunks(TERMS_PER_TASK)
                .map(|chunk| {
                    let encoded = self.encode_terms(chunk, false)?;
                    let (plain, compact) = split_terms(&encoded);
                    let plain: Vec<(&Ciphertext, &Plaintext)> =
                        plain.iter().map(|&(i, pt)| (&rotated[&i], pt)).collect();
                    let compact: Vec<(&Ciphertext, &CompactPoly)> =
                        compact.iter().map(|&(i, c)| (&rotated[&i], c)).collect();
                    let mut sums = Vec::new();
                    if !plain.is_empty() {
                        sums.push(eval.mul_plain_sum(&plain)?);
                    }
                    if !compact.is_empty() {
                        sums.push(eval.mul_compact_sum(&compact, self.scale, self.slots)?);
                    }
                    let mut sum = sums
                        .pop()
                        .ok_or_else(|| CkksError::InvalidParameters("empty giant step".into()))?;
                    for other in &sums {
                        eval.add_assign(&mut sum, other)?;
                    }
                    Ok(sum)
                })
                .try_reduce_with(|mut a, b| {
                    eval.add_assign(&mut a, &b)?;
                    Ok(a)
                })
                .ok_or_else(|| CkksError::InvalidParameters("empty giant step".into()))??;
            let shifted = if j == 0 {
                inner
            } else {
                eval.rotate(&inner, (j * self.n1) as i64)?
            };
            match &mut out {
                None => out = Some(shifted),
                Some(acc) => eval.add_assign(acc, &shifted)?,
            }
        }
        out.ok_or_else(|| CkksError::InvalidParameters("empty transform".into()))
    }

    /// Double hoisting (see the module documentation): every intermediate over `Q_ℓ P` in the
    /// Montgomery-scaled domain of the key switcher, one ModDown per giant step and one at the
    /// end.
    fn evaluate_double(&self, eval: &Evaluator, x: &Ciphertext) -> Result<Ciphertext> {
        if x.degree() != 1 {
            return Err(CkksError::Degree(x.degree(), 1));
        }
        let ctx = eval.context();
        let (ring, ks) = (ctx.ring(), ctx.key_switcher());
        // (key, permutation) of the rotation by `step`
        let galois = |step: usize| -> Result<_> {
            let g = ctx.galois_element_for_rotation(step as i64);
            Ok((&eval.galois_key(g)?.key, ring.galois_permutation(g)))
        };
        let babies = self.baby_steps();
        let dec = babies
            .iter()
            .any(|&i| i != 0)
            .then(|| ks.decompose(&x.c[1]));
        let mut rotated: BTreeMap<usize, [RnsPoly; 2]> = BTreeMap::new();
        for &i in &babies {
            let r = match &dec {
                Some(dec) if i != 0 => {
                    let (key, perm) = galois(i)?;
                    ks.switch_extended(dec, key, Some(&perm), &ks.lift(&x.c[0], Some(&perm)))?
                }
                _ => [ks.lift(&x.c[0], None), ks.lift(&x.c[1], None)],
            };
            rotated.insert(i, r);
        }
        let basis = Basis::qp(self.level, ks.k());
        let mut acc: Option<[RnsPoly; 2]> = None;
        for (&j, terms) in &self.giant {
            let encoded = self.encode_terms(terms, true)?;
            let (plain, compact) = split_terms(&encoded);
            // Σ_i w_i ⊙ P rot_i(x) over the terms of one kind of plaintext
            let sum = |babies: Vec<usize>, weights: Weights<'_>| -> [RnsPoly; 2] {
                let mut out: [RnsPoly; 2] = std::array::from_fn(|_| ring.zero(basis, Form::Eval));
                let xs: [Vec<&RnsPoly>; 2] =
                    std::array::from_fn(|k| babies.iter().map(|i| &rotated[i][k]).collect());
                let [c0, c1] = &mut out;
                ring.sums_of_products([c0, c1], [&xs[0], &xs[1]], weights);
                out
            };
            let plain_polys: Vec<&RnsPoly> = plain.iter().map(|(_, pt)| &pt.poly).collect();
            let compact_polys: Vec<&CompactPoly> = compact.iter().map(|&(_, c)| c).collect();
            let mut parts = Vec::new();
            if !plain.is_empty() {
                let babies = plain.iter().map(|(i, _)| *i).collect();
                parts.push(sum(babies, Weights::Polys(&plain_polys)));
            }
            if !compact.is_empty() {
                let babies = compact.iter().map(|(i, _)| *i).collect();
                parts.push(sum(babies, Weights::Compact(&compact_polys)));
            }
            let mut inner = parts
                .pop()
                .ok_or_else(|| CkksError::InvalidParameters("empty giant step".into()))?;
            for other in &parts {
                ring.add_assign(&mut inner[0], &other[0]);
                ring.add_assign(&mut inner[1], &other[1]);
            }
            let term = if j == 0 {
                inner
            } else {
                let (key, perm) = galois(j * self.n1)?;
                let mut c0 = ring.zero(basis, Form::Eval);
                ring.permute_into(&inner[0], &perm, &mut c0);
                let c1 = ks.decompose(&ks.mod_down_lazy(&inner[1]));
                ks.switch_extended(&c1, key, Some(&perm), &c0)?
            };
            match &mut acc {
                None => acc = Some(term),
                Some(acc) => {
                    ring.add_assign(&mut acc[0], &term[0]);
                    ring.add_assign(&mut acc[1], &term[1]);
                }
            }
        }
        let acc = acc.ok_or_else(|| CkksError::InvalidParameters("empty transform".into()))?;
        Ok(Ciphertext {
            c: ks.mod_down_pair(&acc).into(),
            scale: x.scale() * self.scale,
            slots: x.slots(),
            seed: None,
        })
    }

    /// A diagonal ready for its products (encoding it now if it is deferred: compact when
    /// its period allows), over `Q_ℓ`, or over `Q_ℓ P` when double hoisted.
    fn encoded<'a>(&self, d: &'a Diagonal) -> Result<Cow<'a, ProductPlaintext>> {
        let encode = |v: &[Complex64]| {
            let with_p = self.hoisting == Hoisting::Double;
            self.ctx
                .encode_for_products(v, self.slots, self.level, with_p, self.scale)
                .map(Cow::Owned)
        };
        match d {
            Diagonal::Encoded(pt) => Ok(Cow::Borrowed(pt)),
            Diagonal::Real(v) => encode(
                &v.iter()
                    .map(|&x| Complex64::new(x, 0.0))
                    .collect::<Vec<_>>(),
            ),
            Diagonal::Complex(v) => encode(v),
        }
    }

    /// The terms `(baby step, diagonal)` of one group with their diagonals ready for the
    /// products, deferred ones encoded (in parallel when `parallel`).
    fn encode_terms<'a>(
        &self,
        terms: &'a [(usize, Diagonal)],
        parallel: bool,
    ) -> Result<Vec<(usize, Cow<'a, ProductPlaintext>)>> {
        let encode = |(i, d): &'a (usize, Diagonal)| Ok((*i, self.encoded(d)?));
        if parallel {
            terms.par_iter().map(encode).collect()
        } else {
            terms.iter().map(encode).collect()
        }
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
                Diagonal::Encoded(ProductPlaintext::Plain(pt)) => 8 * pt.poly.data.len(),
                Diagonal::Encoded(ProductPlaintext::Compact(c)) => c.memory_bytes(),
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
