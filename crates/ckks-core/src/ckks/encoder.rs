//! The CKKS encoder: the canonical embedding through the "special FFT".
//!
//! A plaintext `m(X) ∈ Z[X]/(X^N+1)` holds the complex vector `z_j = m(ζ^{5^j}) / Δ`,
//! `j < N/2`, with `ζ = e^{iπ/N}` (Cheon-Kim-Kim-Song 2017, §3.1). Ordering the slots along
//! the orbit of 5 makes `X -> X^{5^k}` a cyclic rotation of the slots by `k`, and
//! `X -> X^{-1}` their complex conjugation. Encoding evaluates the inverse of this map with an
//! FFT-like butterfly network over the rotation group (the "special FFT" of HEAAN, Cheon et al.
//! 2018, Alg. 1), in `O(N log N)`.
//!
//! With `n < N/2` slots ("sparse packing") the message lives in `Z[Y]/(Y^{2n}+1)`,
//! `Y = X^{N/(2n)}`, and every slot statement above holds with `N` replaced by `2n`.

use num_complex::Complex64;
use std::f64::consts::PI;

/// Precomputed tables of the special FFT for ring degree `N`.
#[derive(Clone, Debug)]
pub struct SpecialFft {
    n: usize,
    /// `5^j mod 2N`, `j < N/2`.
    rot_group: Vec<u64>,
    /// `e^{2πik/2N}`, `k <= 2N`.
    ksi: Vec<Complex64>,
}

impl SpecialFft {
    /// Tables for ring degree `n`.
    pub fn new(n: usize) -> Self {
        let m = 2 * n;
        let mut rot_group = Vec::with_capacity(n / 2);
        let mut g = 1u64;
        for _ in 0..n / 2 {
            rot_group.push(g);
            g = g * 5 % m as u64;
        }
        let ksi = (0..=m)
            .map(|k| Complex64::from_polar(1.0, 2.0 * PI * k as f64 / m as f64))
            .collect();
        Self { n, rot_group, ksi }
    }

    /// Ring degree.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The twiddle of butterfly `j` in a block of length `len`: `ζ^{5^j mod 4len}` scaled to
    /// the `2N`-th roots (its inverse for the interpolation direction).
    pub(crate) fn twiddle(&self, j: usize, len: usize, inverse: bool) -> Complex64 {
        let lenq = 4 * len;
        let gap = 2 * self.n / lenq;
        let r = self.rot_group[j] as usize % lenq;
        self.ksi[if inverse { lenq - r } else { r } * gap]
    }

    /// Evaluation: "coefficients" (real and imaginary halves packed as complex numbers) to
    /// slot values, in place; `vals.len()` is the number of slots (a power of two).
    pub fn forward(&self, vals: &mut [Complex64]) {
        let size = vals.len();
        bit_reverse(vals);
        let mut len = 2;
        while len <= size {
            let lenh = len / 2;
            for chunk in vals.chunks_mut(len) {
                for j in 0..lenh {
                    let u = chunk[j];
                    let v = chunk[j + lenh] * self.twiddle(j, len, false);
                    chunk[j] = u + v;
                    chunk[j + lenh] = u - v;
                }
            }
            len *= 2;
        }
    }

    /// Interpolation: slot values to packed coefficients, in place (inverse of [`forward`]).
    ///
    /// [`forward`]: SpecialFft::forward
    pub fn inverse(&self, vals: &mut [Complex64]) {
        let size = vals.len();
        let mut len = size;
        while len >= 2 {
            let lenh = len / 2;
            for chunk in vals.chunks_mut(len) {
                for j in 0..lenh {
                    let u = chunk[j] + chunk[j + lenh];
                    let v = (chunk[j] - chunk[j + lenh]) * self.twiddle(j, len, true);
                    chunk[j] = u;
                    chunk[j + lenh] = v;
                }
            }
            len /= 2;
        }
        bit_reverse(vals);
        let inv = 1.0 / size as f64;
        vals.iter_mut().for_each(|v| *v *= inv);
    }
}

/// In-place bit-reversal permutation of a power-of-two-length slice.
pub(crate) fn bit_reverse<T>(vals: &mut [T]) {
    let n = vals.len();
    if n <= 2 {
        return;
    }
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if i < j {
            vals.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Direct evaluation of m(ζ^{5^j}) from packed coefficients (O(n^2) reference).
    fn naive_forward(n_ring: usize, packed: &[Complex64]) -> Vec<Complex64> {
        let slots = packed.len();
        let gap = n_ring / (2 * slots);
        let mut coeffs = vec![0.0f64; n_ring];
        for (i, c) in packed.iter().enumerate() {
            coeffs[i * gap] = c.re;
            coeffs[i * gap + n_ring / 2] = c.im;
        }
        let m = 2 * n_ring as u64;
        (0..slots)
            .map(|j| {
                let e = (0..j).fold(1u64, |g, _| g * 5 % m);
                coeffs
                    .iter()
                    .enumerate()
                    .map(|(k, &c)| {
                        Complex64::from_polar(c, PI * ((e * k as u64) % m) as f64 / n_ring as f64)
                    })
                    .sum()
            })
            .collect()
    }

    proptest! {
        #[test]
        fn special_fft_matches_direct_evaluation(
            re in proptest::collection::vec(-1.0f64..1.0, 16),
            im in proptest::collection::vec(-1.0f64..1.0, 16),
            log_slots in 0u32..5,
        ) {
            let n = 64;
            let f = SpecialFft::new(n);
            let slots = 1usize << log_slots;
            let packed: Vec<Complex64> = (0..slots).map(|i| Complex64::new(re[i], im[i])).collect();
            let mut fast = packed.clone();
            f.forward(&mut fast);
            let slow = naive_forward(n, &packed);
            for (a, b) in fast.iter().zip(&slow) {
                prop_assert!((a - b).norm() < 1e-9);
            }
            f.inverse(&mut fast);
            for (a, b) in fast.iter().zip(&packed) {
                prop_assert!((a - b).norm() < 1e-12);
            }
        }
    }
}
