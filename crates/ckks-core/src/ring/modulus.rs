//! Word-sized modular arithmetic for NTT-friendly primes below 2^62.
//!
//! Two reductions are used throughout the crate:
//!
//! * **Barrett** reduction of a 128-bit value `x` by `p` with the precomputed ratio
//!   `floor(2^128 / p)` (Barrett 1986; the two-word variant used by SEAL). One conditional
//!   subtraction gives the exact residue for every `x < 2^128`.
//! * **Shoup** multiplication by a fixed operand `w`: with `w' = floor(w 2^64 / p)`,
//!   `x w mod p = x w - floor(x w' / 2^64) p`, up to one subtraction (Shoup, NTL; Harvey 2014).
//!
//! All primes of this crate are below 2^62, which leaves two bits of headroom for lazy
//! accumulation of sums of products in `u128`.

use serde::{Deserialize, Serialize};

/// A prime modulus below 2^62 with its Barrett constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Modulus {
    p: u64,
    /// `floor(2^128 / p)` as (low word, high word).
    ratio: (u64, u64),
    /// Bit length `b` of `p`.
    bits: u32,
    /// Single-word Barrett constant `floor(2^(2b) / p)` for products of two residues.
    mu: u64,
    /// `p^{-1} mod 2^64` (Montgomery reduction).
    p_inv: u64,
}

impl Modulus {
    /// Wraps `p`; `p` must be odd, at least 3 and below 2^62 (checked by the caller that builds
    /// parameters, since every modulus of this crate comes from validated parameters).
    pub fn new(p: u64) -> Self {
        debug_assert!(p > 2 && p < (1 << 62));
        let ratio = u128::MAX / p as u128; // floor((2^128 - 1)/p) == floor(2^128/p) for odd p
        let bits = 64 - p.leading_zeros();
        Self {
            p,
            ratio: (ratio as u64, (ratio >> 64) as u64),
            bits,
            mu: ((1u128 << (2 * bits)) / p as u128) as u64,
            // Newton iteration x <- x (2 - p x) doubles the correct low bits (p^-1 = p mod 8)
            p_inv: (0..5).fold(p, |x, _| {
                x.wrapping_mul(2u64.wrapping_sub(p.wrapping_mul(x)))
            }),
        }
    }

    /// The modulus value.
    #[inline(always)]
    pub fn value(&self) -> u64 {
        self.p
    }

    /// `p^{-1} mod 2^64` (the Montgomery constant of [`Modulus::redc`]).
    #[inline(always)]
    pub(crate) fn p_inv(&self) -> u64 {
        self.p_inv
    }

    /// Number of bits of the modulus.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// `(a + b) mod p` for `a, b < p`.
    #[inline(always)]
    pub fn add(&self, a: u64, b: u64) -> u64 {
        let s = a + b;
        s.min(s.wrapping_sub(self.p))
    }

    /// `(a - b) mod p` for `a, b < p`.
    #[inline(always)]
    pub fn sub(&self, a: u64, b: u64) -> u64 {
        let d = a.wrapping_sub(b);
        d.min(d.wrapping_add(self.p))
    }

    /// `-a mod p` for `a < p`.
    #[inline(always)]
    pub fn neg(&self, a: u64) -> u64 {
        let d = self.p - a;
        d.min(d.wrapping_sub(self.p))
    }

    /// Barrett reduction of any 128-bit value.
    #[inline(always)]
    pub fn reduce_u128(&self, x: u128) -> u64 {
        let x0 = x as u64;
        let x1 = (x >> 64) as u64;
        let (r0, r1) = self.ratio;
        // High 128 bits of the 256-bit product x * ratio, dropping the lowest partial product's
        // low word (the estimate is off by at most one multiple of p).
        let carry = ((x0 as u128 * r0 as u128) >> 64) as u64;
        let t = x0 as u128 * r1 as u128 + carry as u128;
        let u = x1 as u128 * r0 as u128 + (t as u64) as u128;
        let q = x1
            .wrapping_mul(r1)
            .wrapping_add((t >> 64) as u64)
            .wrapping_add((u >> 64) as u64);
        let r = x0.wrapping_sub(q.wrapping_mul(self.p));
        r.min(r.wrapping_sub(self.p))
    }

    /// Reduction of any 64-bit value.
    #[inline(always)]
    pub fn reduce(&self, x: u64) -> u64 {
        self.reduce_u128(x as u128)
    }

    /// Reduction of a signed value into `[0, p)`.
    #[inline(always)]
    pub fn reduce_i64(&self, x: i64) -> u64 {
        self.reduce_i128(x as i128)
    }

    /// Reduction of a signed 128-bit value into `[0, p)`.
    #[inline(always)]
    pub fn reduce_i128(&self, x: i128) -> u64 {
        let r = self.reduce_u128(x.unsigned_abs());
        if x < 0 {
            self.neg(r)
        } else {
            r
        }
    }

    /// `a * b mod p` for residues `a, b < p`, by single-word Barrett reduction of the product
    /// `x < p^2 < 2^(2b)`: `q = floor(floor(x / 2^(b-1)) mu / 2^(b+1))` underestimates
    /// `floor(x / p)` by at most 2 (Menezes et al., Handbook of Applied Cryptography, 14.42).
    #[inline(always)]
    pub fn mul(&self, a: u64, b: u64) -> u64 {
        let x = a as u128 * b as u128;
        let q =
            (((x >> (self.bits - 1)) as u64 as u128 * self.mu as u128) >> (self.bits + 1)) as u64;
        let r = (x as u64).wrapping_sub(q.wrapping_mul(self.p));
        let r = r.min(r.wrapping_sub(self.p));
        r.min(r.wrapping_sub(self.p))
    }

    /// Montgomery reduction (Montgomery 1985) of `t < p · 2^64`: returns `t · 2^-64 mod p`.
    ///
    /// With `m = t p^{-1} mod 2^64`, `t - m p` is divisible by `2^64` and
    /// `(t - m p) / 2^64 = hi(t) - hi(m p)` lies in `(-p, p)`: two multiplications, against five
    /// for Barrett reduction of a 128-bit value. Sums of products `Σ x_j w_j` with
    /// `Σ x_j < 2^64` and `w_j < p` satisfy the bound; weights stored as `w 2^64 mod p`
    /// ([`Modulus::to_montgomery`]) make the result exactly `Σ x_j w_j mod p`.
    #[inline(always)]
    pub fn redc(&self, t: u128) -> u64 {
        let m = (t as u64).wrapping_mul(self.p_inv);
        let mp = ((m as u128 * self.p as u128) >> 64) as u64;
        let r = ((t >> 64) as u64).wrapping_sub(mp);
        r.min(r.wrapping_add(self.p))
    }

    /// `w · 2^64 mod p` (the Montgomery form of `w`, undone by one [`Modulus::redc`]).
    #[inline(always)]
    pub fn to_montgomery(&self, w: u64) -> u64 {
        (((w as u128) << 64) % self.p as u128) as u64
    }

    /// Shoup constant `floor(w * 2^64 / p)` of a fixed operand `w < p`.
    #[inline(always)]
    pub fn shoup(&self, w: u64) -> u64 {
        (((w as u128) << 64) / self.p as u128) as u64
    }

    /// `x * w mod p` with the Shoup constant `w_shoup = self.shoup(w)`; `x` may be any `u64`.
    #[inline(always)]
    pub fn mul_shoup(&self, x: u64, w: u64, w_shoup: u64) -> u64 {
        let q = ((x as u128 * w_shoup as u128) >> 64) as u64;
        let r = x.wrapping_mul(w).wrapping_sub(q.wrapping_mul(self.p));
        r.min(r.wrapping_sub(self.p))
    }

    /// `a^e mod p`.
    pub fn pow(&self, mut a: u64, mut e: u64) -> u64 {
        let mut r = 1u64;
        a = self.reduce(a);
        while e > 0 {
            if e & 1 == 1 {
                r = self.mul(r, a);
            }
            a = self.mul(a, a);
            e >>= 1;
        }
        r
    }

    /// Multiplicative inverse of `a` (Fermat; `p` is prime). Returns `None` for `a ≡ 0`.
    pub fn inv(&self, a: u64) -> Option<u64> {
        let a = self.reduce(a);
        (a != 0).then(|| self.pow(a, self.p - 2))
    }

    /// Centered lift of a residue into `(-p/2, p/2]`.
    #[inline(always)]
    pub fn center(&self, a: u64) -> i64 {
        if a > self.p / 2 {
            a as i64 - self.p as i64
        } else {
            a as i64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The largest 62-, 61- and 50-bit primes congruent to 1 mod 2^17, and a small prime.
    fn primes() -> [u64; 3] {
        let gen = |bits| crate::ring::primes::generate_primes(bits, 1 << 16, 1, &[]).unwrap()[0];
        [gen(62), gen(61), gen(50)]
    }

    proptest! {
        #[test]
        fn barrett_matches_u128_rem(x in any::<u128>(), i in 0usize..3) {
            let ps = primes();
            let m = Modulus::new(ps[i]);
            prop_assert_eq!(m.reduce_u128(x) as u128, x % ps[i] as u128);
        }

        #[test]
        fn shoup_matches_mul(x in any::<u64>(), w in any::<u64>(), i in 0usize..3) {
            let ps = primes();
            let m = Modulus::new(ps[i]);
            let w = w % ps[i];
            let expect = (x as u128 * w as u128 % ps[i] as u128) as u64;
            prop_assert_eq!(m.mul_shoup(x, w, m.shoup(w)), expect);
        }

        #[test]
        fn product_reduction_matches_u128_rem(a in any::<u64>(), b in any::<u64>(), i in 0usize..3) {
            let ps = primes();
            let m = Modulus::new(ps[i]);
            let (a, b) = (a % ps[i], b % ps[i]);
            prop_assert_eq!(m.mul(a, b) as u128, a as u128 * b as u128 % ps[i] as u128);
            // edge: the largest residues
            let top = ps[i] - 1;
            prop_assert_eq!(m.mul(top, top), 1);
        }

        #[test]
        fn montgomery_reduction_of_sums(xs in proptest::collection::vec(any::<u64>(), 1..4), ws in proptest::collection::vec(any::<u64>(), 4), i in 0usize..3) {
            let ps = primes();
            let m = Modulus::new(ps[i]);
            // Σ x_j < 2^64: residues of at most three 62-bit primes
            let xs: Vec<u64> = xs.iter().map(|x| x % ps[0]).collect();
            let t: u128 = xs.iter().zip(&ws).map(|(&x, &w)| x as u128 * m.to_montgomery(w % ps[i]) as u128).sum();
            let expect = xs.iter().zip(&ws).map(|(&x, &w)| x as u128 * (w % ps[i]) as u128 % ps[i] as u128).sum::<u128>() % ps[i] as u128;
            prop_assert_eq!(m.redc(t) as u128, expect);
            prop_assert_eq!(m.redc(0), 0);
        }

        #[test]
        fn inverse_is_inverse(a in 1u64..u64::MAX, i in 0usize..3) {
            let ps = primes();
            let m = Modulus::new(ps[i]);
            if a % ps[i] != 0 {
                let ai = m.inv(a).unwrap();
                prop_assert_eq!(m.mul(m.reduce(a), ai), 1);
            }
        }

        #[test]
        fn signed_reduction(x in any::<i128>(), i in 0usize..3) {
            let ps = primes();
            let m = Modulus::new(ps[i]);
            let expect = x.rem_euclid(ps[i] as i128) as u64;
            prop_assert_eq!(m.reduce_i128(x), expect);
        }
    }
}
