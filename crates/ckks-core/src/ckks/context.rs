//! The CKKS context: parameters plus every precomputed table, shared behind an `Arc`.

use super::encoder::SpecialFft;
use super::params::Parameters;
use super::{Ciphertext, Plaintext};
use crate::error::{CkksError, Result};
use crate::ring::basis::BasisExtender;
use crate::ring::{Basis, CompactPoly, Form, Modulus, Ring, RnsPoly};
use crate::rlwe::{KeyGenerator, KeySwitcher};
use num_complex::Complex64;
use rayon::prelude::*;
use std::sync::Arc;

/// The second factor of products inside linear transforms
/// ([`Context::encode_for_products`]).
#[derive(Clone, Debug)]
pub(crate) enum ProductPlaintext {
    /// `N` evaluations.
    Plain(Plaintext),
    /// A periodic plaintext's compact evaluation form, read through its gather.
    Compact(CompactPoly),
}

/// Parameters and precomputations; cheap to clone.
#[derive(Clone)]
pub struct Context(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) params: Parameters,
    pub(crate) fingerprint: [u8; 32],
    pub(crate) ring: Arc<Ring>,
    pub(crate) ks: KeySwitcher,
    /// `rescale[ℓ]`: extender from `q_ℓ` to `q_0..q_{ℓ-1}` (index 0 unused).
    pub(crate) rescale: Vec<BasisExtender>,
    pub(crate) fft: SpecialFft,
    /// `inv[i][k] = q_k^{-1} mod q_i` (with Shoup constants) for Garner's CRT, `k < i`.
    garner: Vec<Vec<(u64, u64)>>,
    /// Evaluation form of the monomial `X^{N/2}` over `Q` (multiplies every slot by `i`).
    pub(crate) i_monomial: RnsPoly,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("params", &self.0.params)
            .finish()
    }
}

impl Context {
    /// Builds the context (NTT plans, basis-extension and encoder tables) for `params`.
    pub fn new(params: &Parameters) -> Result<Self> {
        params.validate()?;
        let n = params.n();
        let ring = Arc::new(Ring::new(n, params.q(), params.p())?);
        let ks = KeySwitcher::new(ring.clone(), params.dnum(), params.alpha());
        let q = ring.q();
        let rescale = (0..q.len())
            .map(|l| BasisExtender::new(&q[l..=l], &q[..l]))
            .collect();
        let garner = (0..q.len())
            .map(|i| {
                (0..i)
                    .map(|k| {
                        let inv = q[i].inv(q[k].value()).unwrap_or(0);
                        (inv, q[i].shoup(inv))
                    })
                    .collect()
            })
            .collect();
        let mut mono = vec![0i64; n];
        mono[n / 2] = 1;
        let mut i_monomial = ring.from_signed(&mono, Basis::q(ring.max_level()));
        ring.ntt(&mut i_monomial);
        Ok(Self(Arc::new(Inner {
            fingerprint: params.fingerprint(),
            params: params.clone(),
            ring,
            ks,
            rescale,
            fft: SpecialFft::new(n),
            garner,
            i_monomial,
        })))
    }

    /// The parameters.
    pub fn params(&self) -> &Parameters {
        &self.0.params
    }
    /// SHA-256 fingerprint of the parameters.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.0.fingerprint
    }
    /// The ring.
    pub fn ring(&self) -> &Arc<Ring> {
        &self.0.ring
    }
    /// The key-switching tables.
    pub fn key_switcher(&self) -> &KeySwitcher {
        &self.0.ks
    }
    /// A key generator seeded from OS entropy, drawing secrets from the parameters' secret
    /// distribution.
    pub fn key_generator(&self) -> KeyGenerator<'_> {
        let h = match self.0.params.secret() {
            super::params::SecretDistribution::Ternary => None,
            super::params::SecretDistribution::HammingWeight(h) => Some(h),
        };
        KeyGenerator::new(&self.0.ks).with_default_hamming_weight(h)
    }
    /// Highest level.
    pub fn max_level(&self) -> usize {
        self.0.params.max_level()
    }

    /// The Galois element of a left rotation by `k` slots: `5^k mod 2N` (`k` taken mod `N/2`).
    pub fn galois_element_for_rotation(&self, k: i64) -> u64 {
        let half = (self.params().n() / 2) as i64;
        crate::ring::pow_mod_2n(5, k.rem_euclid(half) as u64, self.params().n())
    }
    /// The Galois element of complex conjugation: `2N - 1`.
    pub fn galois_element_for_conjugation(&self) -> u64 {
        2 * self.params().n() as u64 - 1
    }

    pub(crate) fn check_slots(&self, values: usize, slots: usize) -> Result<()> {
        if slots == 0 || !slots.is_power_of_two() || slots > self.params().max_slots() {
            return Err(CkksError::InvalidParameters(format!(
                "slot count {slots} is not a power of two in [1, N/2 = {}]",
                self.params().max_slots()
            )));
        }
        if values > slots {
            return Err(CkksError::TooManyValues { values, slots });
        }
        Ok(())
    }

    fn check_level(&self, level: usize) -> Result<()> {
        if level > self.max_level() {
            return Err(CkksError::LevelTooLow {
                needed: level,
                level: self.max_level(),
            });
        }
        Ok(())
    }

    /// Encodes complex values into `slots` slots (zero-padded) at `level` and `scale`.
    pub fn encode(
        &self,
        values: &[Complex64],
        slots: usize,
        level: usize,
        scale: f64,
    ) -> Result<Plaintext> {
        self.encode_over(values, slots, level, false, scale)
    }

    /// [`encode`](Self::encode) over `Q_ℓ`, or over `Q_ℓ P` when `with_p` (for products with
    /// ciphertexts kept in the extended basis, as in double-hoisted linear transforms).
    pub(crate) fn encode_over(
        &self,
        values: &[Complex64],
        slots: usize,
        level: usize,
        with_p: bool,
        scale: f64,
    ) -> Result<Plaintext> {
        let coeffs = self.encoding_coefficients(values, slots, level, scale)?;
        let poly = self
            .ring()
            .ntt_sparse(self.encoding_basis(level, with_p), 2 * slots, |m, j| {
                m.reduce_i128(coeffs[j])
            });
        Ok(Plaintext { poly, scale, slots })
    }

    /// The basis of a plaintext at `level`: `Q_ℓ`, or `Q_ℓ P` when `with_p`.
    fn encoding_basis(&self, level: usize, with_p: bool) -> Basis {
        if with_p {
            Basis::qp(level, self.ring().p().len())
        } else {
            Basis::q(level)
        }
    }

    /// The `2 slots` integer coefficients of the encoding of `values` in `slots` slots (a
    /// polynomial in `X^{N/2n}`, n = slots: coefficient `i` is `Re v_i` and coefficient
    /// `n + i` is `Im v_i` of the inverse special FFT, times the scale, rounded), checked to
    /// stay below `Q_ℓ / 2`.
    fn encoding_coefficients(
        &self,
        values: &[Complex64],
        slots: usize,
        level: usize,
        scale: f64,
    ) -> Result<Vec<i128>> {
        self.check_slots(values.len(), slots)?;
        self.check_level(level)?;
        if !(scale.is_finite() && scale >= 1.0) {
            return Err(CkksError::EncodingOverflow(format!(
                "scale {scale} is not >= 1"
            )));
        }
        let mut v = vec![Complex64::new(0.0, 0.0); slots];
        v[..values.len()].copy_from_slice(values);
        self.0.fft.inverse(&mut v);
        let mut coeffs = vec![0i128; 2 * slots];
        // |coefficient| must stay below Q_ℓ / 2 and inside i128.
        let log_q: f64 = self.params().q()[..=level]
            .iter()
            .map(|&x| (x as f64).log2())
            .sum();
        let limit = (log_q - 1.0).min(126.0).exp2();
        for (i, c) in v.iter().enumerate() {
            for (pos, x) in [(i, c.re), (i + slots, c.im)] {
                let y = (x * scale).round();
                if !y.is_finite() || y.abs() >= limit {
                    return Err(CkksError::EncodingOverflow(format!(
                        "value {x} times scale 2^{:.1} exceeds the level-{level} modulus",
                        scale.log2()
                    )));
                }
                coeffs[pos] = y as i128;
            }
        }
        Ok(coeffs)
    }

    /// Checks that `period` (a power-of-two number of values) divides `slots`.
    fn check_period(&self, period: usize, slots: usize) -> Result<()> {
        self.check_slots(period, slots)?;
        if !period.is_power_of_two() {
            return Err(CkksError::InvalidParameters(format!(
                "a period of {period} values does not divide {slots} slots"
            )));
        }
        Ok(())
    }

    /// Encodes, into `slots` slots, the vector that repeats `period` (a power-of-two number
    /// of values dividing `slots`) across them: the encoding of `period` in `period.len()`
    /// slots, read with `slots` slots (a polynomial in `X^{N/2p}` decodes to its `p` slots
    /// repeated). Costs a size-`p` FFT and size-`2p` NTTs instead of size `N/2` and `N`.
    pub(crate) fn encode_periodic_over(
        &self,
        period: &[Complex64],
        slots: usize,
        level: usize,
        with_p: bool,
        scale: f64,
    ) -> Result<Plaintext> {
        self.check_period(period.len(), slots)?;
        let mut pt = self.encode_over(period, period.len(), level, with_p, scale)?;
        pt.slots = slots;
        Ok(pt)
    }

    /// [`encode_periodic_over`](Self::encode_periodic_over) for products only (linear
    /// transforms' diagonals): kept in compact evaluation form when the period allows (the
    /// size-`2p` NTTs without the gather to `N` evaluations, [`Ring::ntt_compact`]; `N / 2p`
    /// times less memory), a plaintext of `N` evaluations otherwise. Periods shorter than the
    /// smallest compact form (`2p = 16`) are repeated up to it.
    pub(crate) fn encode_for_products(
        &self,
        period: &[Complex64],
        slots: usize,
        level: usize,
        with_p: bool,
        scale: f64,
    ) -> Result<ProductPlaintext> {
        self.check_period(period.len(), slots)?;
        let p = period.len().max(8).min(slots);
        // only then are the coefficients computed here (a plain encoding computes its own)
        if self.ring().has_compact_form(2 * p) {
            let tiled: Vec<Complex64> = period.iter().copied().cycle().take(p).collect();
            let coeffs = self.encoding_coefficients(&tiled, p, level, scale)?;
            let basis = self.encoding_basis(level, with_p);
            if let Some(c) = self
                .ring()
                .ntt_compact(basis, 2 * p, |m, j| m.reduce_i128(coeffs[j]))
            {
                return Ok(ProductPlaintext::Compact(c));
            }
        }
        Ok(ProductPlaintext::Plain(self.encode_periodic_over(
            period, slots, level, with_p, scale,
        )?))
    }

    /// Encodes real values (imaginary parts zero).
    pub fn encode_real(
        &self,
        values: &[f64],
        slots: usize,
        level: usize,
        scale: f64,
    ) -> Result<Plaintext> {
        let v: Vec<Complex64> = values.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        self.encode(&v, slots, level, scale)
    }

    /// Decodes a plaintext at any level into its `slots` complex values.
    pub fn decode(&self, pt: &Plaintext) -> Result<Vec<Complex64>> {
        self.check_slots(0, pt.slots)?;
        let mut poly = pt.poly.clone();
        if poly.form == Form::Eval {
            self.ring().intt(&mut poly);
        }
        let coeffs = self.centered_coefficients(&poly);
        let n = self.params().n();
        let gap = n / (2 * pt.slots);
        let inv = 1.0 / pt.scale;
        let mut v: Vec<Complex64> = (0..pt.slots)
            .map(|i| Complex64::new(coeffs[i * gap] * inv, coeffs[i * gap + n / 2] * inv))
            .collect();
        self.0.fft.forward(&mut v);
        Ok(v)
    }

    /// The coefficients of a coefficient-form polynomial over `Q_ℓ`, lifted to the centered
    /// interval `(-Q_ℓ/2, Q_ℓ/2]` and rounded to `f64`.
    ///
    /// Garner's mixed-radix conversion gives digits `v_i < q_i` with
    /// `x = v_0 + v_1 q_0 + v_2 q_0 q_1 + ...`; the digits of `(Q-1)/2` decide the sign, and
    /// `Q - x` has digits `q_i - 1 - v_i` plus one, so no big integers are needed.
    pub(crate) fn centered_coefficients(&self, poly: &RnsPoly) -> Vec<f64> {
        let q = &self.ring().q()[..poly.basis.q];
        let half_digits =
            self.mixed_radix(q, &q.iter().map(|m| half_product(q, m)).collect::<Vec<_>>());
        let n = poly.n;
        (0..n)
            .into_par_iter()
            .with_min_len(1024)
            .map(|c| {
                let residues: Vec<u64> = (0..q.len()).map(|i| poly.data[i * n + c]).collect();
                let digits = self.mixed_radix(q, &residues);
                let negative = digits.iter().rev().cmp(half_digits.iter().rev())
                    == std::cmp::Ordering::Greater;
                let mut f = 0.0f64;
                for (d, m) in digits.iter().zip(q).rev() {
                    let d = if negative { m.value() - 1 - d } else { *d };
                    f = f * m.value() as f64 + d as f64;
                }
                if negative {
                    -(f + 1.0)
                } else {
                    f
                }
            })
            .collect()
    }

    fn mixed_radix(&self, q: &[Modulus], residues: &[u64]) -> Vec<u64> {
        let mut v: Vec<u64> = Vec::with_capacity(q.len());
        for (i, m) in q.iter().enumerate() {
            let mut t = residues[i];
            for (k, &vk) in v.iter().enumerate() {
                let (w, ws) = self.0.garner[i][k];
                t = m.mul_shoup(m.sub(t, m.reduce(vk)), w, ws);
            }
            v.push(t);
        }
        v
    }

    /// Checks that a ciphertext is well formed for this context (degree, basis, scale).
    pub fn check_ciphertext(&self, ct: &Ciphertext) -> Result<()> {
        if ct.c.len() < 2 {
            return Err(CkksError::Degree(ct.c.len().saturating_sub(1), 1));
        }
        let basis = ct.c[0].basis;
        for c in &ct.c {
            if c.basis != basis
                || c.n != self.params().n()
                || c.basis.p != 0
                || c.form != Form::Eval
            {
                return Err(CkksError::ParameterMismatch);
            }
        }
        self.ring().check_basis(basis)?;
        self.check_slots(0, ct.slots)?;
        Ok(())
    }
}

/// `floor(Q/2) mod m` for `Q = Π q`.
fn half_product(q: &[Modulus], m: &Modulus) -> u64 {
    let d = q
        .iter()
        .fold(1u64, |acc, x| m.mul(acc, m.reduce(x.value())));
    m.mul(m.sub(d, 1), m.inv(2).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ckks::insecure_test_params;

    /// A period encoded sparsely decodes, with all the slots, to the period repeated, and
    /// to the same values as the full-slot encoding of the repeated vector.
    #[test]
    fn periodic_encoding_repeats_its_period() {
        let ctx = Context::new(&insecure_test_params(11, 3).unwrap()).unwrap();
        let slots = ctx.params().max_slots();
        let scale = 2f64.powi(40);
        for p in [1usize, 2, 8, 64, 256, slots] {
            let period: Vec<Complex64> = (0..p)
                .map(|i| Complex64::new((i as f64 * 0.7).sin(), (i as f64 * 0.3).cos() - 0.5))
                .collect();
            let tiled: Vec<Complex64> = (0..slots).map(|i| period[i % p]).collect();
            let sparse = ctx
                .encode_periodic_over(&period, slots, 2, false, scale)
                .unwrap();
            let full = ctx.encode_over(&tiled, slots, 2, false, scale).unwrap();
            assert_eq!(sparse.slots, slots);
            let (a, b) = (ctx.decode(&sparse).unwrap(), ctx.decode(&full).unwrap());
            for ((x, y), want) in a.iter().zip(&b).zip(&tiled) {
                assert!((x - want).norm() < 1e-9, "period {p}: {x} vs {want}");
                assert!((x - y).norm() < 1e-9, "period {p}: {x} vs {y}");
            }
        }
        let odd = vec![Complex64::new(1.0, 0.0); 3];
        assert!(ctx
            .encode_periodic_over(&odd, slots, 2, false, scale)
            .is_err());
    }
}
