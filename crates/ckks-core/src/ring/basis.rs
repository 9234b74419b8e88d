//! Fast basis extension and rounded division by a product of primes.
//!
//! **Fast basis conversion** (Bajard et al. 2016; Halevi-Polyakov-Shoup 2019, §2.2): for
//! `x` given by its residues `x_j` modulo the primes `q_j` of a basis with product `Q`,
//!
//! ```text
//!     Conv(x) = Σ_j [x_j · q̂_j^{-1}]_{q_j} · q̂_j   (mod t),   q̂_j = Q / q_j,
//! ```
//!
//! equals `x + u Q` for some integer `0 <= u < #basis`, for every target prime `t`. Hybrid key
//! switching tolerates the `u Q` term (it is a multiple of the gadget modulus), and division by
//! `Q` turns it into a small additive error.
//!
//! **Rounded division** by `D` (the special modulus `P` in ModDown, the last prime `q_ℓ` in
//! rescaling): `round(a / D) = (a + h - [a + h]_D) / D` with `h = floor(D/2)`, computed limb by
//! limb on the kept primes as `(a_i - Conv([a + h]_D - h)) · D^{-1} mod q_i`.
//!
//! Sums of products are accumulated lazily in `u128`: primes are below 2^62, so up to 16
//! products fit before a reduction is due.

use super::{for_each_limb, Basis, Form, Modulus, Ring, RnsPoly};
use rayon::prelude::*;

/// Precomputed constants to extend residues from a source basis to any prime of a ring.
#[derive(Clone, Debug)]
pub struct BasisExtender {
    source: Vec<Modulus>,
    /// `q̂_j^{-1} mod q_j` and its Shoup constant.
    qhat_inv: Vec<(u64, u64)>,
    /// `targets[t]`: the target modulus and `q̂_j mod t` for every source prime `j`.
    targets: Vec<(Modulus, Vec<u64>)>,
    /// `[floor(D/2)]` modulo each source prime and each target, for rounded division.
    half_source: Vec<u64>,
    half_target: Vec<u64>,
    /// `D^{-1} mod t` and Shoup constants for each target (0 when `t` divides `D`).
    inv_target: Vec<(u64, u64)>,
    /// `-D mod t` for each target (exact conversion).
    neg_d_target: Vec<u64>,
    /// `1 / q_j` as floating-point numbers (exact conversion).
    inv_source_f64: Vec<f64>,
}

/// How [`BasisExtender::extend`] converts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conversion {
    /// `Conv(x) = x + u D` with `0 <= u < #basis` (ModUp: the `u D` term is harmless there).
    Fast,
    /// The exact value of `[x + h]_D - h`, `h = floor(D/2)`: the fast conversion corrected by
    /// `v = floor(Σ_j y_j / q_j)` computed in floating point (Halevi-Polyakov-Shoup 2019,
    /// §2.4). Rounded division needs it: the `-u` bias of the fast conversion is the same in
    /// every coefficient, and a constant polynomial concentrates on a few slots.
    CenteredExact,
}

impl BasisExtender {
    /// Extender from `source` to each prime of `targets`.
    pub fn new(source: &[Modulus], targets: &[Modulus]) -> Self {
        let qhat_inv = source
            .iter()
            .enumerate()
            .map(|(j, m)| {
                let qhat = product_mod(source, j, m);
                let inv = m.inv(qhat).unwrap_or(0);
                (inv, m.shoup(inv))
            })
            .collect();
        let target_rows = targets
            .iter()
            .map(|t| {
                let row = (0..source.len())
                    .map(|j| product_mod(source, j, t))
                    .collect();
                (*t, row)
            })
            .collect();
        let half = |m: &Modulus| half_product_mod(source, m);
        let inv_target = targets
            .iter()
            .map(|t| {
                let d = product_mod(source, usize::MAX, t);
                let inv = t.inv(d).unwrap_or(0);
                (inv, t.shoup(inv))
            })
            .collect();
        let neg_d_target = targets
            .iter()
            .map(|t| t.neg(product_mod(source, usize::MAX, t)))
            .collect();
        Self {
            neg_d_target,
            inv_source_f64: source.iter().map(|m| 1.0 / m.value() as f64).collect(),
            source: source.to_vec(),
            qhat_inv,
            targets: target_rows,
            half_source: source.iter().map(half).collect(),
            half_target: targets.iter().map(half).collect(),
            inv_target,
        }
    }

    /// Number of source primes.
    pub fn source_len(&self) -> usize {
        self.source.len()
    }

    /// Writes `Conv(x) mod t` for each requested target index `targets[i]` into `outputs[i]`
    /// (coefficient form). `input` holds the source limbs (coefficient form), `n`
    /// coefficients each; see [`Conversion`] for the two modes.
    pub fn extend(
        &self,
        input: &[u64],
        n: usize,
        targets: &[usize],
        outputs: &mut [&mut [u64]],
        mode: Conversion,
    ) {
        let centered = mode == Conversion::CenteredExact;
        let k = self.source.len();
        debug_assert_eq!(input.len(), k * n);
        debug_assert_eq!(outputs.len(), targets.len());
        // y_j = [x_j * q̂_j^{-1}]_{q_j}
        let mut y = vec![0u64; k * n];
        for_each_limb(&mut y, n, |j, yj| {
            let m = &self.source[j];
            let (w, ws) = self.qhat_inv[j];
            let xj = &input[j * n..(j + 1) * n];
            let h = if centered { self.half_source[j] } else { 0 };
            for (o, &x) in yj.iter_mut().zip(xj) {
                *o = m.mul_shoup(m.add(x, h), w, ws);
            }
        });
        // v = floor(Σ_j y_j / q_j): the multiple of D that the fast conversion adds.
        let v: Vec<u64> = if centered {
            (0..n)
                .map(|c| {
                    let s: f64 = (0..k)
                        .map(|j| y[j * n + c] as f64 * self.inv_source_f64[j])
                        .sum();
                    s.floor() as u64
                })
                .collect()
        } else {
            Vec::new()
        };
        let work = |(t_pos, out): (usize, &mut &mut [u64])| {
            let t = targets[t_pos];
            let (m, row) = &self.targets[t];
            let mut terms: Vec<(&[u64], Weight<'_>)> = (0..k)
                .map(|j| (&y[j * n..(j + 1) * n], Weight::Scalar(row[j])))
                .collect();
            if centered {
                terms.push((&v, Weight::Scalar(self.neg_d_target[t])));
            }
            lazy_dot(m, &terms, None, out);
            if centered {
                let h = self.half_target[t];
                out.iter_mut().for_each(|o| *o = m.sub(*o, h));
            }
        };
        if n * targets.len() >= 1 << 13 && targets.len() > 1 {
            outputs.par_iter_mut().enumerate().for_each(work);
        } else {
            outputs.iter_mut().enumerate().for_each(work);
        }
    }

    /// `D^{-1} mod t` (with Shoup constant) for a target of this extender.
    pub fn inv_of_source_product(&self, target: usize) -> (u64, u64) {
        self.inv_target[target]
    }

    /// The target modulus with index `t`.
    pub fn target(&self, t: usize) -> &Modulus {
        &self.targets[t].0
    }
}

/// Coefficients per block of the lazy accumulations (fits comfortably in L1).
const BLOCK: usize = 256;

/// The weight of one term of [`lazy_dot`]: a scalar, or a polynomial multiplied pointwise.
#[derive(Clone, Copy)]
pub(crate) enum Weight<'a> {
    Scalar(u64),
    Poly(&'a [u64]),
}

/// `out[c] = Σ_j src_j[c] · w_j[c] mod m` (`src_j` read through `perm` if given), accumulated
/// lazily in `u128` blocks with one Barrett reduction per 16 terms.
pub(crate) fn lazy_dot(
    m: &Modulus,
    terms: &[(&[u64], Weight<'_>)],
    perm: Option<&[u32]>,
    out: &mut [u64],
) {
    let mut acc = [0u128; BLOCK];
    for start in (0..out.len()).step_by(BLOCK) {
        let len = BLOCK.min(out.len() - start);
        let acc = &mut acc[..len];
        acc.iter_mut().for_each(|a| *a = 0);
        for (j, (src, w)) in terms.iter().enumerate() {
            let range = start..start + len;
            match (perm, w) {
                (None, Weight::Scalar(w)) => {
                    let w = *w as u128;
                    for (a, &x) in acc.iter_mut().zip(&src[range]) {
                        *a += x as u128 * w;
                    }
                }
                (None, Weight::Poly(w)) => {
                    for ((a, &x), &y) in acc.iter_mut().zip(&src[range.clone()]).zip(&w[range]) {
                        *a += x as u128 * y as u128;
                    }
                }
                (Some(p), Weight::Scalar(w)) => {
                    let w = *w as u128;
                    for (a, &k) in acc.iter_mut().zip(&p[range]) {
                        *a += src[k as usize] as u128 * w;
                    }
                }
                (Some(p), Weight::Poly(w)) => {
                    for ((a, &k), &y) in acc.iter_mut().zip(&p[range.clone()]).zip(&w[range]) {
                        *a += src[k as usize] as u128 * y as u128;
                    }
                }
            }
            if j % 16 == 15 {
                acc.iter_mut().for_each(|a| *a = m.reduce_u128(*a) as u128);
            }
        }
        for (o, a) in out[start..start + len].iter_mut().zip(acc.iter()) {
            *o = m.reduce_u128(*a);
        }
    }
}

/// `Π_{i != skip} source_i mod m` (`skip = usize::MAX` for the full product).
fn product_mod(source: &[Modulus], skip: usize, m: &Modulus) -> u64 {
    source
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != skip)
        .fold(1u64, |acc, (_, q)| m.mul(acc, m.reduce(q.value())))
}

/// `floor(D / 2) mod m` for `D` the (odd) product of `source`: `(D - 1) / 2`.
fn half_product_mod(source: &[Modulus], m: &Modulus) -> u64 {
    let d = product_mod(source, usize::MAX, m);
    let two_inv = m.inv(2).unwrap_or(0);
    m.mul(m.sub(d, 1), two_inv)
}

/// Rounded division by the product `D` of a contiguous run of limbs, in evaluation form:
/// returns `round(a / D)` over the remaining limbs (`out_basis`, in order).
///
/// `ext` extends from the dropped limbs' primes, and `target_ids[i]` is the `ext` target index
/// of the `i`-th kept limb. Used by ModDown (`D = P`) and by rescaling (`D = q_ℓ`).
pub(crate) fn div_round_eval(
    ring: &Ring,
    a: &RnsPoly,
    drop: std::ops::Range<usize>,
    ext: &BasisExtender,
    target_ids: &[usize],
    out_basis: Basis,
) -> RnsPoly {
    debug_assert_eq!(a.form, Form::Eval);
    let n = ring.n();
    let in_basis = a.basis;
    let mut low = a.data[drop.start * n..drop.end * n].to_vec();
    for_each_limb(&mut low, n, |i, l| {
        ring.intt_limb(in_basis, drop.start + i, l)
    });
    let mut out = ring.zero(out_basis, Form::Eval);
    let mut outs: Vec<&mut [u64]> = out.data.chunks_mut(n).collect();
    ext.extend(&low, n, target_ids, &mut outs, Conversion::CenteredExact);
    for_each_limb(&mut out.data, n, |i, o| {
        ring.ntt_limb(out_basis, i, o);
        let src = if i < drop.start { i } else { i + drop.len() };
        let a_i = &a.data[src * n..(src + 1) * n];
        let m = ring.modulus(out_basis, i);
        let (w, ws) = ext.inv_of_source_product(target_ids[i]);
        for (o, &x) in o.iter_mut().zip(a_i) {
            *o = m.mul_shoup(m.sub(x, *o), w, ws);
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::primes::generate_primes;
    use num_bigint::{BigInt, BigUint};
    use proptest::prelude::*;

    fn crt(residues: &[u64], moduli: &[Modulus]) -> BigUint {
        let q: BigUint = moduli.iter().map(|m| BigUint::from(m.value())).product();
        let mut acc = BigUint::from(0u32);
        for (r, m) in residues.iter().zip(moduli) {
            let qhat = &q / m.value();
            let qhat_mod = (&qhat % m.value())
                .to_u64_digits()
                .first()
                .copied()
                .unwrap_or(0);
            let y = m.mul(*r, m.inv(qhat_mod).unwrap());
            acc += qhat * y;
        }
        acc % q
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn conversion_is_exact_up_to_multiples_of_q(vals in proptest::collection::vec(any::<u64>(), 3), centered in any::<bool>()) {
            let n = 16;
            let src: Vec<Modulus> = generate_primes(50, n, 3, &[]).unwrap().into_iter().map(Modulus::new).collect();
            let dst: Vec<Modulus> = generate_primes(61, n, 2, &[]).unwrap().into_iter().map(Modulus::new).collect();
            let ext = BasisExtender::new(&src, &dst);
            let residues: Vec<u64> = vals.iter().zip(&src).map(|(v, m)| m.reduce(*v)).collect();
            let mut input = vec![0u64; 3 * n];
            for j in 0..3 { input[j * n] = residues[j]; }
            let mut out = vec![0u64; 2 * n];
            let mut outs: Vec<&mut [u64]> = out.chunks_mut(n).collect();
            let mode = if centered { Conversion::CenteredExact } else { Conversion::Fast };
            ext.extend(&input, n, &[0, 1], &mut outs, mode);
            let x = BigInt::from(crt(&residues, &src));
            let q: BigInt = src.iter().map(|m| BigInt::from(m.value())).product();
            let h: BigInt = (&q - 1) / 2;
            for t in 0..2 {
                let tm = BigInt::from(dst[t].value());
                let got = BigInt::from(out[t * n]);
                // fast: got ≡ x + u Q (mod t) with 0 <= u < 3; exact: got ≡ [x + h]_Q - h
                let base = if centered { ((&x + &h) % &q) - &h } else { x.clone() };
                let us = if centered { 0..1 } else { 0..3 };
                let ok = us.into_iter().any(|u| ((&base + BigInt::from(u) * &q - &got) % &tm) == BigInt::from(0));
                prop_assert!(ok);
            }
        }
    }
}
