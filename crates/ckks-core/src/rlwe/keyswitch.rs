//! Hybrid key switching (Han-Ki 2020, "Better bootstrapping for approximate HE", §3; the
//! "hybrid" gadget of Gentry-Halevi-Smart 2012 with `dnum` digits as in Lattigo and SEAL).
//!
//! With ciphertext primes split into `dnum` digits of `alpha` primes, `Q = Π_j Q_j`, and
//! special modulus `P`, a switching key from `s'` to `s` is, for each digit `j`,
//!
//! ```text
//!     swk_j = (-a_j s + e_j + P · g_j · s',  a_j)   over QP,   g_j = Q̂_j [Q̂_j^{-1}]_{Q_j},
//! ```
//!
//! so that `g_j ≡ 1 (mod q_i)` for `q_i` in digit `j` and `0` otherwise. To switch `d s'`:
//!
//! 1. **ModUp**: extend each digit `[d]_{Q_j}` to `Q_ℓ ∪ P` by fast basis conversion;
//! 2. **inner product** `(Σ_j d_j b_j, Σ_j d_j a_j)` over `Q_ℓ P`;
//! 3. **ModDown**: divide by `P` with rounding back to `Q_ℓ`.
//!
//! The result `(u0, u1)` satisfies `u0 + u1 s ≈ d s'` with an error of about
//! `N^{1/2} σ Q_j / P + N^{1/2}` per coefficient.
//!
//! **Hoisting** (Halevi-Shoup 2018, §5): ModUp is done once ([`KeySwitcher::decompose`]) and
//! shared by many automorphisms, which permute the decomposed digits in evaluation form (a
//! Galois automorphism commutes with the digit decomposition up to a multiple of `Q_j`).

use super::keys::{digit_seed, SwitchingKey};
use crate::error::{CkksError, Result};
use crate::ring::basis::{div_round_eval, BasisExtender, Conversion};
use crate::ring::sampler::uniform_limb;
use crate::ring::simd::{self, KeyTerms};
use crate::ring::Modulus;
use crate::ring::{for_each_limb, Basis, Form, Ring, RnsPoly};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// A polynomial decomposed into its extended digits (the output of ModUp).
#[derive(Clone, Debug)]
pub struct Decomposed {
    pub(crate) level: usize,
    /// One polynomial over `Q_ℓ ∪ P` per (non-empty) digit, in evaluation form.
    pub(crate) digits: Vec<RnsPoly>,
}

impl Decomposed {
    /// Level of the decomposed polynomial.
    pub fn level(&self) -> usize {
        self.level
    }
}

/// Precomputed tables of hybrid key switching for one ring.
#[derive(Debug)]
pub struct KeySwitcher {
    ring: Arc<Ring>,
    alpha: usize,
    dnum: usize,
    /// ModUp extenders keyed by the digit's source range `[start, end)`, to every prime of QP.
    mod_up: HashMap<(usize, usize), BasisExtender>,
    /// ModDown extender from `P` to every ciphertext prime.
    mod_down: BasisExtender,
    /// The same for the Montgomery-reduced output of [`KeySwitcher::inner_product`] (every
    /// limb times `2^-64`).
    mod_down_ks: BasisExtender,
    /// `mod_down_rescale[ℓ - 1]`: from `q_ℓ` and `P` (Montgomery-scaled inputs) to
    /// `q_0..q_{ℓ-1}`, for [`KeySwitcher::mod_down_rescale`].
    mod_down_rescale: Vec<BasisExtender>,
}

impl KeySwitcher {
    /// Tables for `dnum` digits of `alpha` primes each.
    pub fn new(ring: Arc<Ring>, dnum: usize, alpha: usize) -> Self {
        let l1 = ring.q().len();
        let n = ring.n() as u64;
        let all: Vec<_> = ring.q().iter().chain(ring.p()).copied().collect();
        let mut mod_up = HashMap::new();
        for j in 0..dnum {
            let start = j * alpha;
            for end in start + 1..=((j + 1) * alpha).min(l1) {
                mod_up.insert(
                    (start, end),
                    BasisExtender::with_scales(
                        &ring.q()[start..end],
                        &all,
                        &vec![n; end - start],
                        &vec![1; all.len()],
                        true,
                    ),
                );
            }
        }
        let ones = vec![1; l1];
        let mod_down =
            BasisExtender::with_scales(ring.p(), ring.q(), &vec![n; ring.p().len()], &ones, true);
        // 2^-64 mod p is the Montgomery reduction of 1
        let n_r: Vec<u64> = ring.p().iter().map(|m| m.redc(n as u128)).collect();
        let r_inv: Vec<u64> = ring.q().iter().map(|m| m.redc(1)).collect();
        let mod_down_ks = BasisExtender::with_scales(ring.p(), ring.q(), &n_r, &r_inv, true);
        // ModDown fused with rescaling: from q_ℓ and P (Montgomery-scaled) to q_0..q_{ℓ-1}
        let mod_down_rescale = (1..l1)
            .map(|l| {
                let source: Vec<Modulus> = [ring.q()[l]].iter().chain(ring.p()).copied().collect();
                let scales: Vec<u64> = source.iter().map(|m| m.redc(n as u128)).collect();
                BasisExtender::with_scales(&source, &ring.q()[..l], &scales, &r_inv[..l], true)
            })
            .collect();
        Self {
            ring,
            alpha,
            dnum,
            mod_up,
            mod_down,
            mod_down_ks,
            mod_down_rescale,
        }
    }

    /// The ring.
    pub fn ring(&self) -> &Arc<Ring> {
        &self.ring
    }

    /// Number of digits of a key.
    pub fn dnum(&self) -> usize {
        self.dnum
    }

    /// Primes per digit.
    pub fn alpha(&self) -> usize {
        self.alpha
    }

    /// Number of special primes.
    pub fn k(&self) -> usize {
        self.ring.p().len()
    }

    /// ModUp: decomposes `d` (over `Q_ℓ`, evaluation form) into extended digits over `Q_ℓ P`.
    pub fn decompose(&self, d: &RnsPoly) -> Decomposed {
        debug_assert_eq!(d.form, Form::Eval);
        let ring = &self.ring;
        let n = ring.n();
        let level = d.basis.q - 1;
        let k = self.k();
        let l1 = ring.q().len();
        let ext_basis = Basis::qp(level, k);
        // inverse NTT without the division by N: the extenders fold N^{-1} into their constants
        let mut coeff = d.clone();
        let d_basis = d.basis;
        for_each_limb(&mut coeff.data, n, |i, l| {
            ring.intt_limb_scaled(d_basis, i, l, true)
        });
        let digits = (0..self.dnum)
            .map(|j| (j * self.alpha, ((j + 1) * self.alpha).min(level + 1)))
            .filter(|(s, e)| s < e)
            .map(|(start, end)| {
                let ext = &self.mod_up[&(start, end)];
                // targets: q_i outside the digit, then every p (global index l1 + t)
                let positions: Vec<usize> = (0..=level)
                    .filter(|i| !(start..end).contains(i))
                    .chain(level + 1..level + 1 + k)
                    .collect();
                let target_ids: Vec<usize> = positions
                    .iter()
                    .map(|&pos| {
                        if pos <= level {
                            pos
                        } else {
                            l1 + pos - level - 1
                        }
                    })
                    .collect();
                // every limb is written: the digit's own limbs here, the others by `extend`
                let mut out = ring.scratch(ext_basis, Form::Eval);
                out.data[start * n..end * n].copy_from_slice(&d.data[start * n..end * n]);
                let mut outs: Vec<&mut [u64]> = out
                    .data
                    .chunks_mut(n)
                    .enumerate()
                    .filter(|(i, _)| !(start..end).contains(i))
                    .map(|(_, l)| l)
                    .collect();
                ext.extend(
                    &coeff.data[start * n..end * n],
                    n,
                    &target_ids,
                    &mut outs,
                    Conversion::Fast,
                );
                let ntt_one =
                    |(l, &pos): (&mut &mut [u64], &usize)| ring.ntt_limb(ext_basis, pos, l);
                if n >= 1 << 12 {
                    outs.par_iter_mut()
                        .zip(positions.par_iter())
                        .for_each(ntt_one);
                } else {
                    outs.iter_mut().zip(positions.iter()).for_each(ntt_one);
                }
                out
            })
            .collect();
        Decomposed { level, digits }
    }

    /// Inner product of the decomposed digits with a switching key, over `Q_ℓ P`, optionally
    /// reading the digits through an evaluation-form Galois permutation (hoisted rotations).
    /// The result is in Montgomery form, every limb times `2^-64` mod its prime: one
    /// reduction per coefficient, the factor undone for free inside ModDown's constants.
    pub(crate) fn inner_product(
        &self,
        dec: &Decomposed,
        key: &SwitchingKey,
        perm: Option<&[u32]>,
    ) -> Result<[RnsPoly; 2]> {
        let ring = &self.ring;
        let n = ring.n();
        let level = dec.level;
        let basis = Basis::qp(level, self.k());
        // the key lives over q_0..q_{kq-1}, P (kq = L+1 for full keys)
        let kq = key.digits.first().map_or(0, |d| d[0].basis.q);
        if kq < level + 1 || key.digits.len() < dec.digits.len() {
            return Err(CkksError::LevelTooLow {
                needed: level,
                level: kq.saturating_sub(1),
            });
        }
        // `dot_pair` writes every coefficient
        let mut out = [
            ring.scratch(basis, Form::Eval),
            ring.scratch(basis, Form::Eval),
        ];
        let [out_b, out_a] = &mut out;
        let work = |(i, (ob, oa)): (usize, (&mut [u64], &mut [u64]))| {
            // limb i of the Q_ℓ P basis is limb `key_i` of the key's full Q P basis
            let key_i = if i <= level { i } else { kq + i - level - 1 };
            let digits: Vec<&[u64]> = dec
                .digits
                .iter()
                .map(|d| &d.data[i * n..(i + 1) * n])
                .collect();
            let key_limb = |half: usize| -> Vec<&[u64]> {
                key.digits
                    .iter()
                    .map(|k| &k[half].data[key_i * n..(key_i + 1) * n])
                    .collect()
            };
            // uniform halves dropped from memory: this limb of each used digit's `a_j`,
            // expanded again from the digit's seed
            let regenerated = (!key.has_uniform_halves()).then(|| {
                let mut buf = crate::ring::pool::take(dec.digits.len() * n);
                for (j, limb) in buf.chunks_mut(n).enumerate() {
                    let key_basis = key.digits[j][0].basis;
                    uniform_limb(ring, key_basis, key_i, &digit_seed(&key.seed, j), limb);
                }
                buf
            });
            let a_limbs = match &regenerated {
                Some(buf) => buf.chunks(n).collect(),
                None => key_limb(1),
            };
            dot_pair(
                ring.modulus(basis, i),
                &digits,
                &key_limb(0),
                &a_limbs,
                perm,
                ob,
                oa,
            );
            if let Some(buf) = regenerated {
                crate::ring::pool::give(buf);
            }
        };
        if n * basis.len() >= 1 << 13 {
            out_b
                .data
                .par_chunks_mut(n)
                .zip(out_a.data.par_chunks_mut(n))
                .enumerate()
                .for_each(work);
        } else {
            out_b
                .data
                .chunks_mut(n)
                .zip(out_a.data.chunks_mut(n))
                .enumerate()
                .for_each(work);
        }
        Ok(out)
    }

    /// ModDown: `round(a / P)` from `Q_ℓ P` to `Q_ℓ` (evaluation form).
    pub fn mod_down(&self, a: &RnsPoly) -> RnsPoly {
        self.mod_down_with(a, &self.mod_down)
    }

    fn mod_down_with(&self, a: &RnsPoly, ext: &BasisExtender) -> RnsPoly {
        let level = a.basis.q - 1;
        let targets: Vec<usize> = (0..=level).collect();
        div_round_eval(
            &self.ring,
            a,
            level + 1..level + 1 + self.k(),
            ext,
            &targets,
            Basis::q(level),
        )
    }

    /// `P · 2^-64 · φ(c)` over `Q_ℓ P` for `c` over `Q_ℓ` (evaluation form), `φ` the Galois
    /// permutation `perm` if given: `c` moved into the extended basis (zero modulo every
    /// special prime) in the Montgomery-scaled domain of [`inner_product`](Self::inner_product),
    /// so that it adds to key-switch outputs before ModDown ([`mod_down_lazy`](Self::mod_down_lazy)).
    pub(crate) fn lift(&self, c: &RnsPoly, perm: Option<&[u32]>) -> RnsPoly {
        let ring = &self.ring;
        let n = ring.n();
        let level = c.basis.q - 1;
        let mut out = ring.scratch(Basis::qp(level, self.k()), Form::Eval);
        let q_part = (level + 1) * n;
        crate::ring::pool::fill_zero(&mut out.data[q_part..]);
        for_each_limb(&mut out.data[..q_part], n, |i, o| {
            let m = ring.q()[i];
            let p_mod = ring
                .p()
                .iter()
                .fold(1, |acc, p| m.mul(acc, m.reduce(p.value())));
            let w = m.redc(p_mod as u128);
            let ws = m.shoup(w);
            let src = &c.data[i * n..(i + 1) * n];
            match perm {
                Some(p) => o
                    .iter_mut()
                    .zip(p)
                    .for_each(|(x, &k)| *x = m.mul_shoup(src[k as usize], w, ws)),
                None => o
                    .iter_mut()
                    .zip(src)
                    .for_each(|(x, &y)| *x = m.mul_shoup(y, w, ws)),
            }
        });
        out
    }

    /// Key switch of a decomposed polynomial without ModDown: `(c0 + <dec, b>, <dec, a>)` over
    /// `Q_ℓ P` in the Montgomery-scaled domain (`c0` from [`lift`](Self::lift), or any sum of
    /// such outputs), read through `perm` if given. Sums of these outputs and their products
    /// with plaintexts over `Q_ℓ P` stay in that domain and leave it with one
    /// [`mod_down_lazy`](Self::mod_down_lazy) (double hoisting).
    pub(crate) fn switch_extended(
        &self,
        dec: &Decomposed,
        key: &SwitchingKey,
        perm: Option<&[u32]>,
        c0: &RnsPoly,
    ) -> Result<[RnsPoly; 2]> {
        let [mut b, a] = self.inner_product(dec, key, perm)?;
        self.ring.add_assign(&mut b, c0);
        Ok([b, a])
    }

    /// ModDown of a polynomial of the Montgomery-scaled domain over `Q_ℓ P` (the output of
    /// [`inner_product`](Self::inner_product), [`lift`](Self::lift) and their sums): `round(a /
    /// P)` over `Q_ℓ`, the factor `2^-64` undone.
    pub(crate) fn mod_down_lazy(&self, a: &RnsPoly) -> RnsPoly {
        self.mod_down_with(a, &self.mod_down_ks)
    }

    /// Full key switch of `d` (over `Q_ℓ`, evaluation form): returns `(u0, u1)` over `Q_ℓ`
    /// with `u0 + u1 s ≈ d s'`.
    pub fn key_switch(&self, d: &RnsPoly, key: &SwitchingKey) -> Result<[RnsPoly; 2]> {
        let dec = self.decompose(d);
        self.switch_decomposed(&dec, key, None)
    }

    /// Inner product and ModDown of an already decomposed polynomial.
    pub fn switch_decomposed(
        &self,
        dec: &Decomposed,
        key: &SwitchingKey,
        perm: Option<&[u32]>,
    ) -> Result<[RnsPoly; 2]> {
        let [a, b] = self.inner_product(dec, key, perm)?;
        Ok(self.mod_down_pair(&[a, b]))
    }

    /// ModDown and rescaling in one rounded division: `round(a / (q_ℓ P))` from `Q_ℓ P` (the
    /// Montgomery-scaled domain of [`mod_down_lazy`](Self::mod_down_lazy)) to `Q_{ℓ-1}`, for a
    /// key switch followed by a rescale (`ℓ >= 1`). One inverse NTT of `K + 1` limbs, one
    /// conversion and `ℓ` forward NTTs, instead of ModDown's `K` and `ℓ + 1` and then the
    /// rescale's 1 and `ℓ`; a single rounding instead of two.
    pub(crate) fn mod_down_rescale(&self, a: &RnsPoly) -> RnsPoly {
        let level = a.basis.q - 1;
        debug_assert!(level >= 1 && a.basis.p == self.k());
        let targets: Vec<usize> = (0..level).collect();
        div_round_eval(
            &self.ring,
            a,
            level..level + 1 + self.k(),
            &self.mod_down_rescale[level - 1],
            &targets,
            Basis::q(level - 1),
        )
    }

    /// [`mod_down_lazy`](Self::mod_down_lazy) of both halves of a ciphertext, in parallel.
    pub(crate) fn mod_down_pair(&self, [a, b]: &[RnsPoly; 2]) -> [RnsPoly; 2] {
        let (a, b) = rayon::join(|| self.mod_down_lazy(a), || self.mod_down_lazy(b));
        [a, b]
    }
}

/// Digits per Montgomery reduction of the inner product: `D p^2 < p 2^64` for `p < 2^62`.
const REDC_TERMS: usize = 4;

/// `(Σ_j d_j b_j, Σ_j d_j a_j) · 2^-64` pointwise for one limb (`d_j` read through `perm` if
/// given), both halves in one pass over the digits, with one Montgomery reduction per output
/// and per [`REDC_TERMS`] digits (digit counts up to 4, and up to 8 for primes below
/// `2^64 / D`, run the AVX2 kernel `ring::simd::dot_pair` with one reduction; digits read
/// through a permutation are gathered block by block first). The factor `2^-64` is folded
/// into ModDown's constants.
fn dot_pair(
    m: &Modulus,
    digits: &[&[u64]],
    b: &[&[u64]],
    a: &[&[u64]],
    perm: Option<&[u32]>,
    out_b: &mut [u64],
    out_a: &mut [u64],
) {
    /// Coefficients per block when the digits are read through a permutation (gathered into
    /// a stack buffer first, so that the vector kernel reads them contiguously).
    const GATHER: usize = 512;
    /// AVX2 for the leading multiple of 4 coefficients, the scalar loop for the rest.
    fn run<const D: usize>(m: &Modulus, t: KeyTerms<'_, D>, out_b: &mut [u64], out_a: &mut [u64]) {
        let done = simd::dot_pair_avx2(m, t, (&mut *out_b, &mut *out_a));
        for c in done..out_b.len() {
            let (mut sb, mut sa) = (0u128, 0u128);
            for j in 0..D {
                let x = t.d[j][c] as u128;
                sb += x * t.b[j][c] as u128;
                sa += x * t.a[j][c] as u128;
            }
            out_b[c] = m.redc(sb);
            out_a[c] = m.redc(sa);
        }
    }
    #[allow(clippy::too_many_arguments)]
    fn fixed<const D: usize>(
        m: &Modulus,
        digits: &[&[u64]],
        b: &[&[u64]],
        a: &[&[u64]],
        perm: Option<&[u32]>,
        out_b: &mut [u64],
        out_a: &mut [u64],
    ) {
        let n = out_b.len();
        let b: [&[u64]; D] = std::array::from_fn(|j| &b[j][..n]);
        let a: [&[u64]; D] = std::array::from_fn(|j| &a[j][..n]);
        let out_a = &mut out_a[..n];
        match perm {
            None => {
                let d = std::array::from_fn(|j| &digits[j][..n]);
                run::<D>(m, KeyTerms { d, b, a }, out_b, out_a)
            }
            Some(p) => {
                let mut buf = [[0u64; GATHER]; D];
                for s in (0..n).step_by(GATHER) {
                    let e = (s + GATHER).min(n);
                    for (row, d) in buf.iter_mut().zip(digits) {
                        for (x, &k) in row.iter_mut().zip(&p[s..e]) {
                            *x = d[k as usize];
                        }
                    }
                    let terms = KeyTerms {
                        d: std::array::from_fn(|j| &buf[j][..e - s]),
                        b: std::array::from_fn(|j| &b[j][s..e]),
                        a: std::array::from_fn(|j| &a[j][s..e]),
                    };
                    run::<D>(m, terms, &mut out_b[s..e], &mut out_a[s..e]);
                }
            }
        }
    }
    macro_rules! dispatch {
        ($d:literal) => {
            fixed::<$d>(m, digits, b, a, perm, out_b, out_a)
        };
    }
    // D p^2 < p 2^64: one reduction for all digits when D p < 2^64 (p < 2^61: up to 8)
    let one_redc = (digits.len() as u128) * (m.value() as u128) < 1u128 << 64;
    match digits.len() {
        1 => dispatch!(1),
        2 => dispatch!(2),
        3 => dispatch!(3),
        4 => dispatch!(4),
        5 if one_redc => dispatch!(5),
        6 if one_redc => dispatch!(6),
        7 if one_redc => dispatch!(7),
        8 if one_redc => dispatch!(8),
        _ => {
            for c in 0..out_b.len() {
                let k = perm.map_or(c, |p| p[c] as usize);
                let (mut rb, mut ra) = (0u64, 0u64);
                for j0 in (0..digits.len()).step_by(REDC_TERMS) {
                    let (mut sb, mut sa) = (0u128, 0u128);
                    for j in j0..(j0 + REDC_TERMS).min(digits.len()) {
                        let x = digits[j][k] as u128;
                        sb += x * b[j][c] as u128;
                        sa += x * a[j][c] as u128;
                    }
                    rb = m.add(rb, m.redc(sb));
                    ra = m.add(ra, m.redc(sa));
                }
                out_b[c] = rb;
                out_a[c] = ra;
            }
        }
    }
}
