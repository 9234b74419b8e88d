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

use super::{for_each_limb, simd, Basis, Form, Modulus, Ring, RnsPoly};
use rayon::prelude::*;

/// Precomputed constants to extend residues from a source basis to any prime of a ring.
///
/// Constant factors on the way in and out are folded into the tables
/// ([`BasisExtender::with_scales`]): inputs `c_j x_j` (`c_j = N` for an inverse NTT that
/// skipped its division by `N`, times `2^-64` for a Montgomery-reduced inner product) and
/// outputs wanted as `o_t Conv(x)`.
#[derive(Clone, Debug)]
pub struct BasisExtender {
    source: Vec<Modulus>,
    /// Whether the inputs come from an inverse NTT without the division by `N` (the `N` is
    /// part of the input scales).
    raw_intt: bool,
    /// `(c_j q̂_j)^{-1} mod q_j` and its Shoup constant.
    qhat_inv: Vec<(u64, u64)>,
    /// `targets[t]`: the target modulus and the Montgomery forms of `o_t q̂_j mod t` for every
    /// source prime `j`, followed by that of `-o_t D mod t` (the exact conversion's correction).
    targets: Vec<(Modulus, Vec<u64>)>,
    /// `c_j floor(D/2)` modulo each source prime, and `o_t floor(D/2)` modulo each target.
    half_source: Vec<u64>,
    half_target: Vec<u64>,
    /// `(o_t D)^{-1} mod t` and Shoup constants for each target (0 when `t` divides `D`).
    inv_target: Vec<(u64, u64)>,
    /// `1 / q_j` as floating-point numbers (exact conversion).
    inv_source_f64: Vec<f64>,
    /// Whether `Σ_j q_j + #source < 2^64`, so that one Montgomery reduction finishes every
    /// sum of products (else the sums are reduced by Barrett, 16 terms at a time).
    montgomery: bool,
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

/// Coefficients per block of the conversions (the block's `y_j` stay in L1).
const BLOCK: usize = 256;

impl BasisExtender {
    /// Extender from `source` to each prime of `targets` (no input or output factors).
    pub fn new(source: &[Modulus], targets: &[Modulus]) -> Self {
        Self::with_scales(
            source,
            targets,
            &vec![1; source.len()],
            &vec![1; targets.len()],
            false,
        )
    }

    /// Extender whose inputs are `c_j · x_j` (`input_scale[j]`, a residue modulo source prime
    /// `j`) and whose outputs are `o_t · Conv(x)` (`output_scale[t]` modulo target `t`); for
    /// rounded division the whole input polynomial carries `o_t` on its kept limbs and the
    /// result comes out without factors. `raw_intt` says that the `c_j` include the `N` of an
    /// inverse NTT without its division by `N` ([`div_round_eval`] then skips it too).
    pub fn with_scales(
        source: &[Modulus],
        targets: &[Modulus],
        input_scale: &[u64],
        output_scale: &[u64],
        raw_intt: bool,
    ) -> Self {
        let qhat_inv = source
            .iter()
            .zip(input_scale)
            .enumerate()
            .map(|(j, (m, &c))| {
                let qhat = m.mul(product_mod(source, j, m), m.reduce(c));
                let inv = m.inv(qhat).unwrap_or(0);
                (inv, m.shoup(inv))
            })
            .collect();
        let target_rows = targets
            .iter()
            .zip(output_scale)
            .map(|(t, &o)| {
                let o = t.reduce(o);
                let row = (0..source.len())
                    .map(|j| product_mod(source, j, t))
                    .chain([t.neg(product_mod(source, usize::MAX, t))])
                    .map(|w| t.to_montgomery(t.mul(w, o)))
                    .collect();
                (*t, row)
            })
            .collect();
        let half = |m: &Modulus| half_product_mod(source, m);
        let inv_target = targets
            .iter()
            .zip(output_scale)
            .map(|(t, &o)| {
                let d = t.mul(product_mod(source, usize::MAX, t), t.reduce(o));
                let inv = t.inv(d).unwrap_or(0);
                (inv, t.shoup(inv))
            })
            .collect();
        let bound: u128 =
            source.iter().map(|m| m.value() as u128).sum::<u128>() + source.len() as u128;
        Self {
            inv_source_f64: source.iter().map(|m| 1.0 / m.value() as f64).collect(),
            source: source.to_vec(),
            raw_intt,
            qhat_inv,
            targets: target_rows,
            half_source: source
                .iter()
                .zip(input_scale)
                .map(|(m, &c)| m.mul(half(m), m.reduce(c)))
                .collect(),
            half_target: targets
                .iter()
                .zip(output_scale)
                .map(|(t, &o)| t.mul(half(t), t.reduce(o)))
                .collect(),
            inv_target,
            montgomery: bound < 1u128 << 64,
        }
    }

    /// Number of source primes.
    pub fn source_len(&self) -> usize {
        self.source.len()
    }

    /// Whether the inputs are expected from an inverse NTT without its division by `N`.
    pub fn expects_raw_intt(&self) -> bool {
        self.raw_intt
    }

    /// Writes `Conv(x) mod t` for each requested target index `targets[i]` into `outputs[i]`
    /// (coefficient form). `input` holds the source limbs (coefficient form), `n`
    /// coefficients each, multiplied by the input scale; see [`Conversion`] for the modes.
    ///
    /// The work runs block by block of coefficients: the block's `y_j` are computed once into
    /// a stack buffer and serve every target (one pass over the input, none over a `y` array).
    pub fn extend(
        &self,
        input: &[u64],
        n: usize,
        targets: &[usize],
        outputs: &mut [&mut [u64]],
        mode: Conversion,
    ) {
        let k = self.source.len();
        debug_assert_eq!(input.len(), k * n);
        debug_assert_eq!(outputs.len(), targets.len());
        // split every output into chunks; chunk c of all outputs is one job
        let jobs = (n * targets.len() / (1 << 13))
            .clamp(1, 16)
            .min(n / BLOCK.min(n));
        let chunk = n.div_ceil(jobs.max(1));
        let mut columns: Vec<Vec<&mut [u64]>> =
            (0..n.div_ceil(chunk)).map(|_| Vec::new()).collect();
        for out in outputs.iter_mut() {
            for (col, piece) in columns.iter_mut().zip(out.chunks_mut(chunk)) {
                col.push(piece);
            }
        }
        let work = |(c, col): (usize, &mut Vec<&mut [u64]>)| {
            let start = c * chunk;
            let len = col.first().map_or(0, |o| o.len());
            let mut scratch = vec![[0u64; BLOCK]; k + 1];
            for b in (0..len).step_by(BLOCK) {
                let blen = BLOCK.min(len - b);
                let src: Vec<&[u64]> = (0..k)
                    .map(|j| &input[j * n + start + b..j * n + start + b + blen])
                    .collect();
                let mut outs: Vec<&mut [u64]> =
                    col.iter_mut().map(|o| &mut o[b..b + blen]).collect();
                self.extend_block(&src, targets, &mut outs, mode, &mut scratch);
            }
        };
        if jobs > 1 {
            columns.par_iter_mut().enumerate().for_each(work);
        } else {
            columns.iter_mut().enumerate().for_each(work);
        }
    }

    /// One block of [`BasisExtender::extend`]: `src[j]` and every `outs[i]` hold the same
    /// `len <= BLOCK` coefficients.
    fn extend_block(
        &self,
        src: &[&[u64]],
        targets: &[usize],
        outs: &mut [&mut [u64]],
        mode: Conversion,
        y: &mut [[u64; BLOCK]],
    ) {
        let centered = mode == Conversion::CenteredExact;
        let k = self.source.len();
        let len = src.first().map_or(0, |s| s.len());
        // rows 0..k: y_j = [x_j q̂_j^{-1}]_{q_j}; row k: v = floor(Σ_j y_j / q_j) (exact mode)
        for (j, (row, x)) in y.iter_mut().zip(src).enumerate() {
            let m = &self.source[j];
            let (w, ws) = self.qhat_inv[j];
            let h = if centered { self.half_source[j] } else { 0 };
            for (o, &x) in row[..len].iter_mut().zip(x.iter()) {
                *o = m.mul_shoup(m.add(x, h), w, ws);
            }
        }
        let terms = if centered {
            let (rows, v) = y.split_at_mut(k);
            for (c, v) in v[0][..len].iter_mut().enumerate() {
                let s: f64 = rows
                    .iter()
                    .zip(&self.inv_source_f64)
                    .map(|(r, inv)| r[c] as f64 * inv)
                    .sum();
                *v = s as u64; // s >= 0: truncation is the floor
            }
            k + 1
        } else {
            k
        };
        let rows = &y[..terms];
        for (out, &t) in outs.iter_mut().zip(targets) {
            let (m, w) = &self.targets[t];
            // the weight of v is the last entry of the row
            let weights = &w[..terms];
            if self.montgomery {
                dot_montgomery(m, rows, weights, out);
            } else {
                let plain: Vec<u64> = weights.iter().map(|&x| m.redc(x as u128)).collect();
                dot_barrett(m, rows, &plain, out);
            }
            if centered {
                let h = self.half_target[t];
                out.iter_mut().for_each(|o| *o = m.sub(*o, h));
            }
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

/// `out[c] = Σ_j rows[j][c] · w_j · 2^-64 mod m` by one Montgomery reduction per output
/// (`w_j` in Montgomery form gives the plain sum); needs `Σ_j max(rows[j]) < 2^64`.
///
/// The rows are one contiguous block, so for a fixed term count every row is a constant
/// offset from one pointer and the weights stay in registers (scalar path); on AVX2 machines
/// `ring::simd` computes all but the last `len mod 4` outputs.
fn dot_montgomery(m: &Modulus, rows: &[[u64; BLOCK]], w: &[u64], out: &mut [u64]) {
    fn fixed<const K: usize>(m: &Modulus, rows: &[[u64; BLOCK]], w: &[u64], out: &mut [u64]) {
        let rows: &[[u64; BLOCK]; K] = rows.try_into().expect("K rows");
        let w: [u64; K] = std::array::from_fn(|j| w[j]);
        let len = out.len().min(BLOCK);
        let out = &mut out[..len];
        // AVX2 for the leading multiple of 4, the scalar loop for the rest (or all)
        let slices: [&[u64]; K] = std::array::from_fn(|j| &rows[j][..len]);
        let done = simd::dot_const_avx2(m, slices, w, out);
        for (c, o) in out.iter_mut().enumerate().skip(done) {
            let mut acc = 0u128;
            for j in 0..K {
                acc += rows[j][c] as u128 * w[j] as u128;
            }
            *o = m.redc(acc);
        }
    }
    match rows.len() {
        1 => fixed::<1>(m, rows, w, out),
        2 => fixed::<2>(m, rows, w, out),
        3 => fixed::<3>(m, rows, w, out),
        4 => fixed::<4>(m, rows, w, out),
        5 => fixed::<5>(m, rows, w, out),
        6 => fixed::<6>(m, rows, w, out),
        7 => fixed::<7>(m, rows, w, out),
        8 => fixed::<8>(m, rows, w, out),
        _ => {
            for (c, o) in out.iter_mut().enumerate() {
                let acc: u128 = rows
                    .iter()
                    .zip(w)
                    .map(|(r, &w)| r[c] as u128 * w as u128)
                    .sum();
                *o = m.redc(acc);
            }
        }
    }
}

/// `out[c] = Σ_j rows[j][c] · w_j mod m` for any `rows` below `2^62`, by Barrett reductions of
/// `u128` sums of at most 16 products.
fn dot_barrett(m: &Modulus, rows: &[[u64; BLOCK]], w: &[u64], out: &mut [u64]) {
    for (c, o) in out.iter_mut().enumerate() {
        let mut acc = 0u128;
        for (j, (r, &w)) in rows.iter().zip(w).enumerate() {
            acc += r[c] as u128 * w as u128;
            if j % 16 == 15 {
                acc = m.reduce_u128(acc) as u128;
            }
        }
        *o = m.reduce_u128(acc);
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
    let mut low = super::pool::take_copy(&a.data[drop.start * n..drop.end * n]);
    let raw = ext.expects_raw_intt();
    for_each_limb(&mut low, n, |i, l| {
        ring.intt_limb_scaled(in_basis, drop.start + i, l, raw)
    });
    // every coefficient is written by the conversion
    let mut out = ring.scratch(out_basis, Form::Eval);
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
    super::pool::give(low);
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Folded factors: inputs `c_j x_j` and outputs `o_t Conv(x)` give the same results as
        /// the plain extender, for the conversion and for rounded division.
        #[test]
        fn scaled_extender_matches_plain(vals in proptest::collection::vec(any::<u64>(), 5), cs in proptest::collection::vec(1u64..u64::MAX, 5)) {
            let n = 16;
            let src: Vec<Modulus> = generate_primes(50, n, 3, &[]).unwrap().into_iter().map(Modulus::new).collect();
            let dst: Vec<Modulus> = generate_primes(61, n, 2, &[]).unwrap().into_iter().map(Modulus::new).collect();
            let c: Vec<u64> = src.iter().zip(&cs).map(|(m, &c)| m.reduce(c).max(1)).collect();
            let o: Vec<u64> = dst.iter().zip(&cs[3..]).map(|(m, &o)| m.reduce(o).max(1)).collect();
            let plain = BasisExtender::new(&src, &dst);
            let scaled = BasisExtender::with_scales(&src, &dst, &c, &o, false);
            let mut x = vec![0u64; 3 * n];
            let mut cx = vec![0u64; 3 * n];
            for j in 0..3 {
                x[j * n] = src[j].reduce(vals[j]);
                cx[j * n] = src[j].mul(x[j * n], c[j]);
            }
            for mode in [Conversion::Fast, Conversion::CenteredExact] {
                let (mut a, mut b) = (vec![0u64; 2 * n], vec![0u64; 2 * n]);
                plain.extend(&x, n, &[0, 1], &mut a.chunks_mut(n).collect::<Vec<_>>(), mode);
                scaled.extend(&cx, n, &[0, 1], &mut b.chunks_mut(n).collect::<Vec<_>>(), mode);
                for t in 0..2 {
                    prop_assert_eq!(dst[t].mul(a[t * n], o[t]), b[t * n]);
                }
            }
            for t in 0..2 {
                let (w, ws) = plain.inv_of_source_product(t);
                let (v, vs) = scaled.inv_of_source_product(t);
                let y = dst[t].reduce(vals[3 + t % 2]);
                prop_assert_eq!(dst[t].mul_shoup(y, w, ws), dst[t].mul_shoup(dst[t].mul(y, o[t]), v, vs));
            }
        }
    }
}
