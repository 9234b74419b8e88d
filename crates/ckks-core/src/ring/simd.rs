//! AVX2 Montgomery sums of products (fast basis conversion, key inner products).
//!
//! AVX2 has no 64 x 64 -> 128-bit vector product, only `vpmuludq` (four 32 x 32 -> 64-bit
//! products). With `y = y_h 2^32 + y_l` and `w = w_h 2^32 + w_l` (32-bit halves),
//!
//! ```text
//!     y w = y_h w_h 2^64 + (y_l w_h + y_h w_l) 2^32 + y_l w_l,
//! ```
//!
//! four such products per lane. A sum `V = Σ_j y_j w_j` is kept in three 64-bit accumulators
//! of weights `2^0, 2^32, 2^64`: the low and high 32-bit halves of `y_l w_l` and of the cross
//! sum `y_l w_h + y_h w_l` (below `2^63` for residues below `2^62`) go to the accumulators of
//! their weights, `y_h w_h` to the top one. For `Σ_j y_j < 2^64` and `w_j < 2^62` none
//! overflows (the top one stays below `2^62 + 2^36`). Then one Montgomery reduction
//! (Montgomery 1985) per output, as [`Modulus::redc`] does it in scalar code:
//!
//! ```text
//!     m = (V mod 2^64) p^{-1} mod 2^64,    r = floor(V / 2^64) - floor(m p / 2^64),
//! ```
//!
//! exact because `m p ≡ V (mod 2^64)`; `r` lies in `(-p, p)` for `V < p 2^64` and one
//! conditional addition of `p` gives `V 2^-64 mod p`, the same word as the scalar path.
//!
//! Per lane this is about 3.5 vector operations per term plus about 8 per output, on four
//! lanes at once, against one 128-bit `mul` per term on the scalar path, which occupies the
//! single integer multiplier of a Zen 3 core for two cycles: the gain is modest (about 10-30%
//! on the conversions, `examples/conversion_timing.rs`).
//! The callers keep their scalar loops, used when AVX2 is missing and for the tail (the
//! outputs beyond a multiple of 4); property tests check the vector outputs against the
//! definition computed with scalar modular arithmetic.

use super::Modulus;

/// The leading outputs of `out[c] = (Σ_j rows[j][c] w_j) 2^-64 mod p` (`K` rows of at
/// least `out.len()` words, `w_j < 2^62`, `Σ_j max(rows[j]) < 2^64`, each row word below
/// `2^62`) on AVX2: returns how many it wrote (a multiple of 4, or 0 without AVX2); the
/// caller's scalar loop finishes the rest (`ring::basis`, whose scalar loop reads the rows at
/// constant offsets from one block).
pub(crate) fn dot_const_avx2<const K: usize>(
    m: &Modulus,
    rows: [&[u64]; K],
    w: [u64; K],
    out: &mut [u64],
) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        x86::token().map_or(0, |simd| x86::dot_const(simd, m, rows, w, out))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (m, rows, w, out);
        0
    }
}

/// The operands of a key inner product over one limb: the digits `d_j` and the key halves
/// `b_j`, `a_j`, each of at least the outputs' length.
#[derive(Clone, Copy)]
pub(crate) struct KeyTerms<'a, const D: usize> {
    pub(crate) d: [&'a [u64]; D],
    pub(crate) b: [&'a [u64]; D],
    pub(crate) a: [&'a [u64]; D],
}

/// The leading outputs of `(out_b[c], out_a[c]) = ((Σ_j d_j[c] b_j[c]) 2^-64,
/// (Σ_j d_j[c] a_j[c]) 2^-64) mod p` (the two halves of a key inner product, for
/// `Σ_j max(d_j) < 2^64` and every word below `2^62`) on AVX2: returns how many it wrote, as
/// [`dot_const_avx2`] does; the scalar loop is in `rlwe::keyswitch`.
pub(crate) fn dot_pair_avx2<const D: usize>(
    m: &Modulus,
    t: KeyTerms<'_, D>,
    out: (&mut [u64], &mut [u64]),
) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        x86::token().map_or(0, |simd| x86::dot_pair(simd, m, t, out))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (m, t, out);
        0
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Modulus;
    use pulp::x86::V3;
    use std::arch::x86_64::__m256i;
    use std::sync::OnceLock;

    /// The AVX2 token, detected once; `CKKS_CORE_NO_AVX2=1` in the environment turns the
    /// vector kernels off (the scalar path, for comparisons).
    pub(super) fn token() -> Option<V3> {
        static TOKEN: OnceLock<Option<V3>> = OnceLock::new();
        *TOKEN.get_or_init(|| {
            let off = std::env::var_os("CKKS_CORE_NO_AVX2").is_some_and(|v| v == "1");
            V3::try_new().filter(|_| !off)
        })
    }

    /// Three accumulators of weights `2^0, 2^32, 2^64` (see the module documentation).
    #[derive(Clone, Copy)]
    struct Acc {
        a0: __m256i,
        a1: __m256i,
        a2: __m256i,
    }

    /// A 64-bit operand per lane for [`mac`]: `lo` is the full word (`vpmuludq` reads only its
    /// low 32 bits), `hi` the word shifted right by 32.
    #[derive(Clone, Copy)]
    struct Halves {
        lo: __m256i,
        hi: __m256i,
    }

    #[inline(always)]
    fn load(s: &[u64], c: usize) -> __m256i {
        let a: [u64; 4] = s[c..c + 4].try_into().expect("four words");
        pulp::cast(a)
    }

    #[inline(always)]
    fn store(s: &mut [u64], c: usize, v: __m256i) {
        let a: [u64; 4] = pulp::cast(v);
        s[c..c + 4].copy_from_slice(&a);
    }

    #[inline(always)]
    fn splat(simd: V3, w: u64) -> Halves {
        Halves {
            lo: simd.avx._mm256_set1_epi64x(w as i64),
            hi: simd.avx._mm256_set1_epi64x((w >> 32) as i64),
        }
    }

    #[inline(always)]
    fn zero(simd: V3) -> Acc {
        let z = simd.avx._mm256_setzero_si256();
        Acc {
            a0: z,
            a1: z,
            a2: z,
        }
    }

    /// `acc += y w` for `y` (lanes; its high half `yh = y >> 32` precomputed) and `w` (halves).
    #[inline(always)]
    fn mac(simd: V3, acc: &mut Acc, y: __m256i, yh: __m256i, w: Halves) {
        let x = simd.avx2;
        let mask = simd.avx._mm256_set1_epi64x(0xffff_ffff);
        let ll = x._mm256_mul_epu32(y, w.lo);
        let cross = x._mm256_add_epi64(x._mm256_mul_epu32(y, w.hi), x._mm256_mul_epu32(yh, w.lo));
        let hh = x._mm256_mul_epu32(yh, w.hi);
        acc.a0 = x._mm256_add_epi64(acc.a0, x._mm256_and_si256(ll, mask));
        acc.a1 = x._mm256_add_epi64(
            acc.a1,
            x._mm256_add_epi64(
                x._mm256_srli_epi64::<32>(ll),
                x._mm256_and_si256(cross, mask),
            ),
        );
        acc.a2 = x._mm256_add_epi64(
            acc.a2,
            x._mm256_add_epi64(hh, x._mm256_srli_epi64::<32>(cross)),
        );
    }

    /// Montgomery reduction of the accumulated `V < p 2^64`: `V 2^-64 mod p` in `[0, p)`.
    #[inline(always)]
    fn redc(simd: V3, acc: Acc, p: Halves, p_inv: Halves) -> __m256i {
        let x = simd.avx2;
        let mask = simd.avx._mm256_set1_epi64x(0xffff_ffff);
        // carries: V = a2 2^64 + l_h 2^32 + l_l with 32-bit l_h, l_l
        let a1 = x._mm256_add_epi64(acc.a1, x._mm256_srli_epi64::<32>(acc.a0));
        let l_l = x._mm256_and_si256(acc.a0, mask);
        let l_h = x._mm256_and_si256(a1, mask);
        let hi = x._mm256_add_epi64(acc.a2, x._mm256_srli_epi64::<32>(a1));
        // m = (l_h 2^32 + l_l) p^{-1} mod 2^64
        let cross = x._mm256_add_epi64(
            x._mm256_mul_epu32(l_l, p_inv.hi),
            x._mm256_mul_epu32(l_h, p_inv.lo),
        );
        let m = x._mm256_add_epi64(
            x._mm256_mul_epu32(l_l, p_inv.lo),
            x._mm256_slli_epi64::<32>(cross),
        );
        // floor(m p / 2^64)
        let mh = x._mm256_srli_epi64::<32>(m);
        let ll = x._mm256_mul_epu32(m, p.lo);
        let lh = x._mm256_mul_epu32(m, p.hi);
        let hl = x._mm256_mul_epu32(mh, p.lo);
        let hh = x._mm256_mul_epu32(mh, p.hi);
        let mid = x._mm256_add_epi64(
            x._mm256_srli_epi64::<32>(ll),
            x._mm256_add_epi64(x._mm256_and_si256(lh, mask), x._mm256_and_si256(hl, mask)),
        );
        let mp_hi = x._mm256_add_epi64(
            x._mm256_add_epi64(hh, x._mm256_srli_epi64::<32>(mid)),
            x._mm256_add_epi64(x._mm256_srli_epi64::<32>(lh), x._mm256_srli_epi64::<32>(hl)),
        );
        // r = hi - mp_hi in (-p, p); both below 2^63, so a signed comparison decides the sign
        let r = x._mm256_sub_epi64(hi, mp_hi);
        let negative = x._mm256_cmpgt_epi64(mp_hi, hi);
        x._mm256_add_epi64(r, x._mm256_and_si256(negative, p.lo))
    }

    /// AVX2 part of [`super::dot_const`]: returns how many leading outputs it wrote (a
    /// multiple of 4; the caller finishes the tail).
    pub(super) fn dot_const<const K: usize>(
        simd: V3,
        m: &Modulus,
        rows: [&[u64]; K],
        w: [u64; K],
        out: &mut [u64],
    ) -> usize {
        let len = out.len() / 4 * 4;
        let rows: [&[u64]; K] = std::array::from_fn(|j| &rows[j][..len]);
        let out = &mut out[..len];
        simd.vectorize(
            #[inline(always)]
            || {
                let w: [Halves; K] = std::array::from_fn(|j| splat(simd, w[j]));
                let p = splat(simd, m.value());
                let p_inv = splat(simd, m.p_inv());
                for c in (0..len).step_by(4) {
                    let mut acc = zero(simd);
                    for j in 0..K {
                        let y = load(rows[j], c);
                        let yh = simd.avx2._mm256_srli_epi64::<32>(y);
                        mac(simd, &mut acc, y, yh, w[j]);
                    }
                    store(out, c, redc(simd, acc, p, p_inv));
                }
            },
        );
        len
    }

    /// AVX2 part of [`super::dot_pair`] (same contract as [`dot_const`]).
    pub(super) fn dot_pair<const D: usize>(
        simd: V3,
        m: &Modulus,
        t: super::KeyTerms<'_, D>,
        (out_b, out_a): (&mut [u64], &mut [u64]),
    ) -> usize {
        let len = out_b.len().min(out_a.len()) / 4 * 4;
        let d: [&[u64]; D] = std::array::from_fn(|j| &t.d[j][..len]);
        let b: [&[u64]; D] = std::array::from_fn(|j| &t.b[j][..len]);
        let a: [&[u64]; D] = std::array::from_fn(|j| &t.a[j][..len]);
        let (out_b, out_a) = (&mut out_b[..len], &mut out_a[..len]);
        simd.vectorize(
            #[inline(always)]
            || {
                let x = simd.avx2;
                let p = splat(simd, m.value());
                let p_inv = splat(simd, m.p_inv());
                for c in (0..len).step_by(4) {
                    let (mut sb, mut sa) = (zero(simd), zero(simd));
                    for j in 0..D {
                        let y = load(d[j], c);
                        let yh = x._mm256_srli_epi64::<32>(y);
                        let kb = load(b[j], c);
                        let ka = load(a[j], c);
                        let wb = Halves {
                            lo: kb,
                            hi: x._mm256_srli_epi64::<32>(kb),
                        };
                        let wa = Halves {
                            lo: ka,
                            hi: x._mm256_srli_epi64::<32>(ka),
                        };
                        mac(simd, &mut sb, y, yh, wb);
                        mac(simd, &mut sa, y, yh, wa);
                    }
                    store(out_b, c, redc(simd, sb, p, p_inv));
                    store(out_a, c, redc(simd, sa, p, p_inv));
                }
            },
        );
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::primes::generate_primes;
    use proptest::prelude::*;

    /// Edge residues of `p`: 0, 1, p - 1, p - 2, and the low and high 32-bit halves of p - 1.
    fn edge(p: u64, which: u8) -> u64 {
        [
            0,
            1,
            p - 1,
            p - 2,
            (p - 1) & 0xffff_ffff,
            (p - 1) & !0xffff_ffff,
        ][which as usize % 6]
    }

    fn moduli() -> Vec<u64> {
        let mut ps = Vec::new();
        for bits in [62, 61, 60, 50, 40] {
            ps.extend(generate_primes(bits, 1 << 10, 1, &[]).unwrap());
        }
        ps
    }

    /// The vector outputs equal `(Σ_j y_j w_j) 2^-64 mod p` computed with scalar modular
    /// arithmetic (the definition the scalar loop of `ring::basis` implements).
    fn check_const<const K: usize>(
        p: u64,
        rows: &[Vec<u64>],
        w: &[u64],
    ) -> Result<(), TestCaseError> {
        let m = Modulus::new(p);
        let rows: [&[u64]; K] = std::array::from_fn(|j| rows[j].as_slice());
        let w: [u64; K] = std::array::from_fn(|j| w[j]);
        let len = rows[0].len();
        let mut fast = vec![0; len];
        let done = dot_const_avx2(&m, rows, w, &mut fast);
        prop_assert!(done <= len && done % 4 == 0);
        let r_inv = m.redc(1);
        for c in 0..done {
            let want = (0..K).fold(0u64, |acc, j| {
                m.add(acc, m.mul(m.reduce(rows[j][c]), w[j] % p))
            });
            prop_assert_eq!(fast[c], m.mul(want, r_inv));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        /// The vector conversion kernel equals the definition for 1 to 6 rows of residues of 40- to 61-bit primes (`Σ_j y_j < 2^64`, as the conversions
        /// guarantee), weights below the target prime, lengths with and without a tail.
        #[test]
        fn dot_const_matches_scalar(
            pi in 0usize..5, ti in 0usize..5, k in 1usize..7, len in 1usize..40,
            seed in proptest::collection::vec(any::<u64>(), 6 * 40 + 6),
            use_edge in any::<bool>(),
        ) {
            let ps = moduli();
            let (src, p) = (ps[pi], ps[ti]);
            // Σ_j y_j < 2^64: at most 3 rows of 62-bit primes, else 61 bits or less
            let src = if k > 3 && src > 1 << 61 { ps[1] } else { src };
            let rows: Vec<Vec<u64>> = (0..k).map(|j| (0..len).map(|c| {
                let x = seed[j * 40 + c];
                if use_edge && c % 3 == 0 { edge(src, x as u8) } else { x % src }
            }).collect()).collect();
            let w: Vec<u64> = (0..k).map(|j| if use_edge && j == 0 { edge(p, seed[j] as u8) } else { seed[240 + j] % p }).collect();
            match k {
                1 => check_const::<1>(p, &rows, &w)?,
                2 => check_const::<2>(p, &rows, &w)?,
                3 => check_const::<3>(p, &rows, &w)?,
                4 => check_const::<4>(p, &rows, &w)?,
                5 => check_const::<5>(p, &rows, &w)?,
                _ => check_const::<6>(p, &rows, &w)?,
            }
        }

        /// The vector inner-product kernel equals the definition, edge residues included.
        #[test]
        fn dot_pair_matches_scalar(
            pi in 0usize..5, len in 1usize..40,
            xs in proptest::collection::vec(any::<u64>(), 6 * 40),
            which in any::<u8>(), use_edge in any::<bool>(),
        ) {
            let ps = moduli();
            let p = ps[pi];
            let m = Modulus::new(p);
            let limb = |o: usize| -> Vec<u64> {
                (0..len).map(|c| if use_edge && (c + o).is_multiple_of(2) { edge(p, which.wrapping_add(o as u8)) } else { xs[o * 40 + c] % p }).collect()
            };
            let (d0, d1, b0, b1, a0, a1) = (limb(0), limb(1), limb(2), limb(3), limb(4), limb(5));
            let (mut fb, mut fa) = (vec![0; len], vec![0; len]);
            let terms = KeyTerms { d: [&d0, &d1], b: [&b0, &b1], a: [&a0, &a1] };
            let done = dot_pair_avx2(&m, terms, (&mut fb, &mut fa));
            prop_assert!(done <= len && done % 4 == 0);
            let r_inv = m.redc(1);
            let dot = |x: [&Vec<u64>; 2], c: usize| m.mul(m.add(m.mul(d0[c], x[0][c]), m.mul(d1[c], x[1][c])), r_inv);
            for c in 0..done {
                prop_assert_eq!(fb[c], dot([&b0, &b1], c));
                prop_assert_eq!(fa[c], dot([&a0, &a1], c));
            }
        }
    }
}
