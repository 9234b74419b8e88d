//! The special FFT as a product of sparse linear transforms, for bootstrapping.
//!
//! The encoder's FFT over the rotation group is `log2 n` butterfly stages and a bit-reversal
//! (see [`crate::ckks::encoder`]). Each stage on blocks of length `len` is a matrix with three
//! nonzero diagonals (offsets `0`, `len/2`, `-len/2`), so a group of `s` consecutive stages has
//! at most `2^{s+1} - 1` diagonals; CoeffToSlot and SlotToCoeff are computed as a few such
//! groups, one level each, instead of one dense transform with `n` diagonals (the
//! level-collapsed factorization of Chen-Chillotti-Song 2019 and Han-Ki 2020).
//!
//! The bit-reversal is left out of both directions: CoeffToSlot then leaves its output in
//! bit-reversed slot order, EvalMod is slot-wise, and SlotToCoeff takes bit-reversed input, so
//! the two permutations cancel.

use crate::ckks::encoder::SpecialFft;
use num_complex::Complex64;
use std::collections::BTreeMap;

/// A matrix on `n` slots in diagonal form: offset `k` -> `d_k[s] = M[s][(s + k) mod n]`.
pub type Diagonals = BTreeMap<usize, Vec<Complex64>>;

/// `A · B` in diagonal form: `(AB)_{k+l}[s] += a_k[s] b_l[s + k]`.
pub fn mul_diagonals(a: &Diagonals, b: &Diagonals, n: usize) -> Diagonals {
    let mut out = Diagonals::new();
    for (&k, ak) in a {
        for (&l, bl) in b {
            let d = out
                .entry((k + l) % n)
                .or_insert_with(|| vec![Complex64::new(0.0, 0.0); n]);
            for (s, v) in d.iter_mut().enumerate() {
                *v += ak[s] * bl[(s + k) % n];
            }
        }
    }
    out.retain(|_, d| d.iter().any(|v| v.norm() > 1e-300));
    out
}

/// One butterfly stage on blocks of length `len` over `n` slots, in the interpolation
/// (`inverse`: `(a, b) -> (a + b, (a - b) w̄)`) or evaluation (`(a, b) -> (a + b w, a - b w)`)
/// direction.
fn stage(fft: &SpecialFft, n: usize, len: usize, inverse: bool) -> Diagonals {
    let zero = Complex64::new(0.0, 0.0);
    let one = Complex64::new(1.0, 0.0);
    let lenh = len / 2;
    let (mut d0, mut dp, mut dm) = (vec![zero; n], vec![zero; n], vec![zero; n]);
    for base in (0..n).step_by(len) {
        for j in 0..lenh {
            let w = fft.twiddle(j, len, inverse);
            let (top, bottom) = (base + j, base + j + lenh);
            if inverse {
                // top = a + b ; bottom = (a - b) w
                d0[top] = one;
                dp[top] = one;
                dm[bottom] = w;
                d0[bottom] = -w;
            } else {
                // top = a + b w ; bottom = a - b w
                d0[top] = one;
                dp[top] = w;
                dm[bottom] = one;
                d0[bottom] = -w;
            }
        }
    }
    let mut out = Diagonals::new();
    out.insert(0, d0);
    if lenh == n - lenh {
        // len == n: offsets +n/2 and -n/2 coincide
        let merged: Vec<Complex64> = dp.iter().zip(&dm).map(|(p, m)| p + m).collect();
        out.insert(lenh % n, merged);
    } else {
        out.insert(lenh, dp);
        out.insert(n - lenh, dm);
    }
    out
}

/// Groups the stages (in application order) into `groups` consecutive products.
fn group(stages: Vec<Diagonals>, groups: usize, n: usize) -> Vec<Diagonals> {
    let total = stages.len();
    let groups = groups.clamp(1, total.max(1));
    let mut out = Vec::with_capacity(groups);
    let mut iter = stages.into_iter();
    for g in 0..groups {
        // spread the remainder over the first groups
        let size = total / groups + usize::from(g < total % groups);
        let mut acc: Option<Diagonals> = None;
        for s in iter.by_ref().take(size) {
            acc = Some(match acc {
                None => s,
                Some(prev) => mul_diagonals(&s, &prev, n),
            });
        }
        out.extend(acc);
    }
    out
}

/// CoeffToSlot without the bit-reversal, times `factor`, as `groups` transforms in
/// application order: `BR(F^{-1} z) · factor` where `F^{-1}` is [`SpecialFft::inverse`].
pub fn coeff_to_slot(fft: &SpecialFft, n: usize, groups: usize, factor: f64) -> Vec<Diagonals> {
    let mut stages: Vec<Diagonals> = std::iter::successors(Some(n), |&l| (l > 2).then_some(l / 2))
        .map(|len| stage(fft, n, len, true))
        .collect();
    let scale = Complex64::new(factor / n as f64, 0.0);
    if let Some(first) = stages.first_mut() {
        first.values_mut().flatten().for_each(|v| *v *= scale);
    }
    group(stages, groups, n)
}

/// SlotToCoeff for bit-reversed input, as `groups` transforms in application order:
/// `F(BR(w))` where `F` is [`SpecialFft::forward`].
pub fn slot_to_coeff(fft: &SpecialFft, n: usize, groups: usize) -> Vec<Diagonals> {
    let stages: Vec<Diagonals> = std::iter::successors(Some(2usize), |&l| (l < n).then_some(l * 2))
        .map(|len| stage(fft, n, len, false))
        .collect();
    group(stages, groups, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::encoder::bit_reverse;

    fn apply(d: &Diagonals, x: &[Complex64]) -> Vec<Complex64> {
        let n = x.len();
        (0..n)
            .map(|s| d.iter().map(|(&k, dk)| dk[s] * x[(s + k) % n]).sum())
            .collect()
    }

    fn vector(n: usize) -> Vec<Complex64> {
        (0..n)
            .map(|i| Complex64::new((i as f64 * 0.7).sin(), (i as f64 * 0.3).cos()))
            .collect()
    }

    #[test]
    fn factored_transforms_equal_the_fft() {
        let ring_n = 256;
        let fft = SpecialFft::new(ring_n);
        for n in [4usize, 16, 128] {
            for groups in 1..=4 {
                let x = vector(n);
                // CoeffToSlot: BR(F^{-1} x) * 0.5
                let mut want = x.clone();
                fft.inverse(&mut want);
                bit_reverse(&mut want);
                let got = coeff_to_slot(&fft, n, groups, 0.5)
                    .iter()
                    .fold(x.clone(), |v, d| apply(d, &v));
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b * 0.5).norm() < 1e-9, "cts n={n} groups={groups}");
                }
                // SlotToCoeff: F(BR(w))
                let mut want = x.clone();
                bit_reverse(&mut want);
                fft.forward(&mut want);
                let got = slot_to_coeff(&fft, n, groups)
                    .iter()
                    .fold(x.clone(), |v, d| apply(d, &v));
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).norm() < 1e-9, "stc n={n} groups={groups}");
                }
            }
        }
    }

    #[test]
    fn grouping_bounds_the_number_of_diagonals() {
        let fft = SpecialFft::new(2048);
        let groups = coeff_to_slot(&fft, 1024, 3, 1.0);
        assert_eq!(groups.len(), 3);
        // 10 stages in groups of 4, 3, 3: at most 2^5 - 1 = 31 diagonals each
        assert!(
            groups.iter().all(|g| g.len() <= 31),
            "{:?}",
            groups.iter().map(|g| g.len()).collect::<Vec<_>>()
        );
    }
}
