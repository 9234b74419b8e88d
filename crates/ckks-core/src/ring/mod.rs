//! The ring layer: `Z_Q[X]/(X^N + 1)` in RNS form.
//!
//! * [`modulus`]: word arithmetic (Barrett, Shoup).
//! * [`primes`]: NTT-friendly prime generation.
//! * [`poly`]: RNS polynomials and their bases.
//! * [`basis`]: fast basis extension (ModUp) and division by the special modulus (ModDown).
//! * [`sampler`]: uniform, ternary and Gaussian sampling from ChaCha20.
//! * [`pool`]: reuse of large polynomial buffers.
//! * `simd`: AVX2 Montgomery sums of products (basis conversion, key inner products).
//!
//! The NTT itself is `tfhe-ntt`'s `prime64::Plan`, one per prime, shared process-wide.

pub mod basis;
pub mod modulus;
pub mod poly;
pub mod pool;
pub mod primes;
pub mod sampler;
pub(crate) mod simd;

pub use modulus::Modulus;
pub use poly::{Basis, Form, RnsPoly};
pub use pool::{buffer_pool_bytes, set_buffer_pool_limit};

use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tfhe_ntt::prime64::Plan;

use crate::error::{CkksError, Result};

/// Below this many coefficients per call, limb loops stay on the calling thread.
const PAR_THRESHOLD: usize = 1 << 13;

/// Products of residues below `2^62` that add up in a `u128` without overflow
/// (`16 (2^62 - 1)^2 < 2^128`), see [`Ring::sum_of_products`].
const LAZY_TERMS: usize = 16;

/// The second factors of the terms of [`Ring::sum_of_products`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Weights<'a> {
    /// Polynomials (pointwise products, evaluation form), one per term.
    Polys(&'a [&'a RnsPoly]),
    /// Constants: one residue per limb of the output, one vector per term.
    Scalars(&'a [Vec<u64>]),
    /// Polynomials in compact evaluation form ([`CompactPoly`]), one per term: each factor is
    /// read through its gather, `w_t[c] = small_t[map_t[c]]`.
    Compact(&'a [&'a CompactPoly]),
}

/// The second factors of one group of [`Ring::sum_of_products`] terms, for one limb.
#[derive(Clone, Copy)]
enum Factors<'a> {
    Limbs(&'a [&'a [u64]]),
    Scalars(&'a [u64]),
    /// `(small_t, map_t)`: the factor of term `t` at `c` is `small_t[map_t[c]]`.
    Gathered(&'a [&'a [u64]], &'a [&'a [u32]]),
}

/// `o_h[c] += Σ_t x_{h,t}[c] w_t[c] mod m` for `H` outputs sharing the factors `w_t` (the two
/// halves of a ciphertext times the same plaintexts: each factor is read once for both), for
/// at most [`LAZY_TERMS`] terms, with the term count a compile-time constant (the limbs stay
/// in registers, no bounds checks in the loop).
fn dot_dispatch<const H: usize>(
    m: &Modulus,
    o: &mut [&mut [u64]; H],
    x: [&[&[u64]]; H],
    w: Factors<'_>,
) {
    fn fixed<const K: usize, const H: usize>(
        m: &Modulus,
        o: &mut [&mut [u64]; H],
        x: [&[&[u64]]; H],
        w: Factors<'_>,
    ) {
        let n = o.iter().map(|o| o.len()).min().unwrap_or(0);
        let x: [[&[u64]; K]; H] = std::array::from_fn(|h| std::array::from_fn(|t| &x[h][t][..n]));
        match w {
            Factors::Limbs(w) => {
                let w: [&[u64]; K] = std::array::from_fn(|t| &w[t][..n]);
                for c in 0..n {
                    let wc: [u128; K] = std::array::from_fn(|t| w[t][c] as u128);
                    for h in 0..H {
                        let acc: u128 = (0..K).map(|t| x[h][t][c] as u128 * wc[t]).sum();
                        o[h][c] = m.add(o[h][c], m.reduce_u128(acc));
                    }
                }
            }
            Factors::Scalars(w) => {
                let w: [u128; K] = std::array::from_fn(|t| w[t] as u128);
                for h in 0..H {
                    for (c, o) in o[h][..n].iter_mut().enumerate() {
                        let acc: u128 = (0..K).map(|t| x[h][t][c] as u128 * w[t]).sum();
                        *o = m.add(*o, m.reduce_u128(acc));
                    }
                }
            }
            Factors::Gathered(small, map) => {
                let small: [&[u64]; K] = std::array::from_fn(|t| small[t]);
                let map: [&[u32]; K] = std::array::from_fn(|t| &map[t][..n]);
                for c in 0..n {
                    let wc: [u128; K] =
                        std::array::from_fn(|t| small[t][map[t][c] as usize] as u128);
                    for h in 0..H {
                        let acc: u128 = (0..K).map(|t| x[h][t][c] as u128 * wc[t]).sum();
                        o[h][c] = m.add(o[h][c], m.reduce_u128(acc));
                    }
                }
            }
        }
    }
    macro_rules! by_count {
        ($($k:literal)*) => {
            match x[0].len() {
                $($k => fixed::<$k, H>(m, o, x, w),)*
                // groups hold 1 to LAZY_TERMS terms: only an empty group lands here
                _ => {}
            }
        };
    }
    by_count!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
}

/// Gathers of [`Ring::ntt_sparse`] by `(prime, n')`.
type SparseMaps = RwLock<HashMap<(u64, usize), Arc<Vec<u32>>>>;

/// A size-`n'` NTT plan and the gather of [`Ring::ntt_sparse`] for one prime.
type SparsePlan = (Arc<Plan>, Arc<Vec<u32>>);

/// The evaluation form of a polynomial in `X^g` only, `a(X) = b(X^g)`, kept compact: the
/// `n' = N/g` evaluations of `b` per limb and the gather of each limb's prime, with
/// `NTT_N(a)[k] = NTT_{n'}(b)[map[k]]` ([`Ring::ntt_compact`]). `g` times less memory than
/// the [`RnsPoly`] it stands for; products read it through the gather
/// ([`Weights::Compact`]) instead of materializing the `N` evaluations.
#[derive(Clone, Debug)]
pub(crate) struct CompactPoly {
    pub(crate) basis: Basis,
    n_small: usize,
    /// `basis.len()` limbs of `n_small` evaluations.
    data: Vec<u64>,
    /// The gather of each limb (shared between primes whose plans order their roots alike).
    maps: Vec<Arc<Vec<u32>>>,
}

impl CompactPoly {
    /// Limb `i`: its `n'` evaluations and its gather.
    fn limb(&self, i: usize) -> (&[u64], &[u32]) {
        (
            &self.data[i * self.n_small..(i + 1) * self.n_small],
            self.maps[i].as_slice(),
        )
    }

    /// Bytes of the evaluations (the gathers are shared by every compact polynomial).
    pub(crate) fn memory_bytes(&self) -> usize {
        8 * self.data.len()
    }
}

/// NTT plans by `(N, p)`.
type PlanCache = Mutex<HashMap<(usize, u64), Arc<Plan>>>;

/// Process-wide cache of NTT plans, one per `(N, p)`.
fn plan_for(n: usize, p: u64) -> Result<Arc<Plan>> {
    static PLANS: OnceLock<PlanCache> = OnceLock::new();
    let cache = PLANS.get_or_init(Default::default);
    let mut guard = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(plan) = guard.get(&(n, p)) {
        return Ok(plan.clone());
    }
    let plan = Plan::try_new(n, p).ok_or_else(|| {
        CkksError::InvalidParameters(format!("no negacyclic NTT of size {n} modulo {p}"))
    })?;
    let plan = Arc::new(plan);
    guard.insert((n, p), plan.clone());
    Ok(plan)
}

/// Runs `f(limb_index, limb)` over the limbs of a polynomial buffer, in parallel when large.
pub(crate) fn for_each_limb<F>(data: &mut [u64], n: usize, f: F)
where
    F: Fn(usize, &mut [u64]) + Sync + Send,
{
    if data.len() >= PAR_THRESHOLD && data.len() > n {
        data.par_chunks_mut(n)
            .enumerate()
            .for_each(|(i, l)| f(i, l));
    } else {
        data.chunks_mut(n).enumerate().for_each(|(i, l)| f(i, l));
    }
}

/// The ring `Z[X]/(X^N+1)` with ciphertext primes `q_0..q_L` and special primes `p_0..p_{K-1}`.
pub struct Ring {
    n: usize,
    q: Vec<Modulus>,
    p: Vec<Modulus>,
    plans_q: Vec<Arc<Plan>>,
    plans_p: Vec<Arc<Plan>>,
    /// `eval_exp[k]`: odd exponent `e` such that NTT slot `k` holds `a(ψ^e)`.
    eval_exp: Vec<u32>,
    /// Inverse of `eval_exp`, indexed by `(e - 1) / 2`.
    exp_index: Vec<u32>,
    galois_perm: RwLock<HashMap<u64, Arc<Vec<u32>>>>,
    /// `(prime, n')` -> the gather of [`Ring::ntt_sparse`] (equal ones shared).
    sparse_maps: SparseMaps,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("n", &self.n)
            .field("q", &self.q.iter().map(|m| m.value()).collect::<Vec<_>>())
            .field("p", &self.p.iter().map(|m| m.value()).collect::<Vec<_>>())
            .finish()
    }
}

impl Ring {
    /// Builds the ring, its NTT plans and the evaluation-order table.
    pub fn new(n: usize, q: &[u64], p: &[u64]) -> Result<Self> {
        if !n.is_power_of_two() || n < 16 {
            return Err(CkksError::InvalidParameters(format!(
                "ring degree {n} is not a power of two >= 16"
            )));
        }
        let plans_q = q
            .iter()
            .map(|&x| plan_for(n, x))
            .collect::<Result<Vec<_>>>()?;
        let plans_p = p
            .iter()
            .map(|&x| plan_for(n, x))
            .collect::<Result<Vec<_>>>()?;
        let (eval_exp, exp_index) = eval_order(n, &plans_q[0]);
        Ok(Self {
            n,
            q: q.iter().map(|&x| Modulus::new(x)).collect(),
            p: p.iter().map(|&x| Modulus::new(x)).collect(),
            plans_q,
            plans_p,
            eval_exp,
            exp_index,
            galois_perm: RwLock::new(HashMap::new()),
            sparse_maps: RwLock::new(HashMap::new()),
        })
    }

    /// Ring degree `N`.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Ciphertext primes.
    pub fn q(&self) -> &[Modulus] {
        &self.q
    }
    /// Special primes.
    pub fn p(&self) -> &[Modulus] {
        &self.p
    }
    /// Highest level `L` (number of ciphertext primes minus one).
    pub fn max_level(&self) -> usize {
        self.q.len() - 1
    }

    /// The modulus of limb `i` of a polynomial over `basis`.
    #[inline]
    pub fn modulus(&self, basis: Basis, i: usize) -> &Modulus {
        if i < basis.q {
            &self.q[i]
        } else {
            &self.p[i - basis.q]
        }
    }

    fn plan(&self, basis: Basis, i: usize) -> &Plan {
        if i < basis.q {
            &self.plans_q[i]
        } else {
            &self.plans_p[i - basis.q]
        }
    }

    /// The moduli of a basis, in limb order.
    pub fn moduli(&self, basis: Basis) -> Vec<Modulus> {
        (0..basis.len()).map(|i| *self.modulus(basis, i)).collect()
    }

    /// Checks that a basis fits this ring.
    pub fn check_basis(&self, basis: Basis) -> Result<()> {
        if basis.q == 0 || basis.q > self.q.len() || (basis.p != 0 && basis.p != self.p.len()) {
            return Err(CkksError::InvalidParameters(format!(
                "basis with {} ciphertext and {} special primes does not fit a ring with {} and {}",
                basis.q,
                basis.p,
                self.q.len(),
                self.p.len()
            )));
        }
        Ok(())
    }

    /// The zero polynomial over `basis`.
    pub fn zero(&self, basis: Basis, form: Form) -> RnsPoly {
        RnsPoly::zero(self.n, basis, form)
    }

    /// A polynomial over `basis` with unspecified contents, for outputs that the caller
    /// writes in full (no zeroing pass; see [`pool`]).
    pub(crate) fn scratch(&self, basis: Basis, form: Form) -> RnsPoly {
        RnsPoly::scratch(self.n, basis, form)
    }

    /// A polynomial from signed coefficients, reduced modulo every prime of `basis`.
    pub fn from_signed(&self, coeffs: &[i64], basis: Basis) -> RnsPoly {
        let mut out = self.zero(basis, Form::Coeff);
        for_each_limb(&mut out.data, self.n, |i, limb| {
            let m = self.modulus(basis, i);
            for (o, &c) in limb.iter_mut().zip(coeffs) {
                *o = m.reduce_i64(c);
            }
        });
        out
    }

    /// A polynomial from signed coefficients, in evaluation form.
    pub fn from_signed_eval(&self, coeffs: &[i64], basis: Basis) -> RnsPoly {
        let mut p = self.from_signed(coeffs, basis);
        self.ntt(&mut p);
        p
    }

    /// Forward NTT of limb `i` of a polynomial over `basis`.
    pub(crate) fn ntt_limb(&self, basis: Basis, i: usize, limb: &mut [u64]) {
        self.plan(basis, i).fwd(limb);
    }

    /// Inverse NTT (with the division by `N`) of limb `i` of a polynomial over `basis`.
    pub(crate) fn intt_limb(&self, basis: Basis, i: usize, limb: &mut [u64]) {
        let plan = self.plan(basis, i);
        plan.inv(limb);
        plan.normalize(limb);
    }

    /// Inverse NTT of limb `i`, leaving out the division by `N` when `times_n` (the result is
    /// then `N` times the coefficients; [`basis::BasisExtender::with_input_scale`] folds the
    /// factor into its constants).
    pub(crate) fn intt_limb_scaled(&self, basis: Basis, i: usize, limb: &mut [u64], times_n: bool) {
        if times_n {
            self.plan(basis, i).inv(limb);
        } else {
            self.intt_limb(basis, i, limb);
        }
    }

    /// Forward NTT in place (coefficient -> evaluation form).
    pub fn ntt(&self, a: &mut RnsPoly) {
        debug_assert_eq!(a.form, Form::Coeff);
        let basis = a.basis;
        for_each_limb(&mut a.data, self.n, |i, l| self.ntt_limb(basis, i, l));
        a.form = Form::Eval;
    }

    /// Inverse NTT in place (evaluation -> coefficient form), including the division by `N`.
    pub fn intt(&self, a: &mut RnsPoly) {
        debug_assert_eq!(a.form, Form::Eval);
        let basis = a.basis;
        for_each_limb(&mut a.data, self.n, |i, l| self.intt_limb(basis, i, l));
        a.form = Form::Coeff;
    }

    /// The evaluation form over `basis` of a polynomial in `X^g` only,
    /// `a(X) = b(X^g)` with `b` of degree `< n' = N / g`, given by `coeff(m, j)`: the
    /// coefficient `b_j` reduced modulo `m`.
    ///
    /// **Sparse NTT.** `a(ψ^e) = b((ψ^g)^e)` and `ψ^g` is a primitive `2n'`-th root of unity,
    /// so the `N` evaluations of `a` are the `n'` evaluations of `b` (a negacyclic NTT of
    /// size `n'`), each repeated `g` times: one small NTT and a gather per limb instead of a
    /// size-`N` NTT, `g` times less arithmetic. This is the shape of every plaintext encoded
    /// with `n < N/2` slots (`g = N/2n`), e.g. a diagonal that repeats with period `n`.
    /// Falls back to the full NTT when `n' < 16` or no plan of size `n'` exists.
    pub(crate) fn ntt_sparse<F>(&self, basis: Basis, n_small: usize, coeff: F) -> RnsPoly
    where
        F: Fn(&Modulus, usize) -> u64 + Sync,
    {
        if let Some(compact) = self.ntt_compact(basis, n_small, &coeff) {
            return self.expand(&compact);
        }
        let n = self.n;
        let g = n / n_small.max(1);
        let mut out = self.scratch(basis, Form::Eval);
        for_each_limb(&mut out.data, n, |i, limb| {
            let m = self.modulus(basis, i);
            limb.fill(0);
            for j in 0..n / g {
                limb[j * g] = coeff(m, j);
            }
            self.ntt_limb(basis, i, limb);
        });
        out
    }

    /// The sparse NTT of [`ntt_sparse`](Self::ntt_sparse) without its final gather: the
    /// [`CompactPoly`] of `b(X^g)`, or `None` when `n' < 16`, `n' = N` or no plan of size `n'`
    /// exists for some prime of `basis`.
    pub(crate) fn ntt_compact<F>(
        &self,
        basis: Basis,
        n_small: usize,
        coeff: F,
    ) -> Option<CompactPoly>
    where
        F: Fn(&Modulus, usize) -> u64 + Sync,
    {
        if !self.has_compact_form(n_small) {
            return None;
        }
        let plans: Vec<SparsePlan> = (0..basis.len())
            .map(|i| self.sparse_map(basis, i, n_small))
            .collect::<Option<_>>()?;
        let mut data = vec![0u64; basis.len() * n_small];
        let transform = |(i, small): (usize, &mut [u64])| {
            let m = self.modulus(basis, i);
            small
                .iter_mut()
                .enumerate()
                .for_each(|(j, x)| *x = coeff(m, j));
            plans[i].0.fwd(small);
        };
        if data.len() >= PAR_THRESHOLD {
            data.par_chunks_mut(n_small).enumerate().for_each(transform);
        } else {
            data.chunks_mut(n_small).enumerate().for_each(transform);
        }
        Some(CompactPoly {
            basis,
            n_small,
            data,
            maps: plans.into_iter().map(|(_, map)| map).collect(),
        })
    }

    /// Whether a polynomial in `X^{N/n'}` has a compact form of `n'` evaluations per limb
    /// ([`ntt_compact`](Self::ntt_compact), given a size-`n'` plan for every prime).
    pub(crate) fn has_compact_form(&self, n_small: usize) -> bool {
        n_small >= 16 && n_small < self.n && n_small.is_power_of_two()
    }

    /// The `N` evaluations a [`CompactPoly`] stands for (one gather per limb).
    pub(crate) fn expand(&self, a: &CompactPoly) -> RnsPoly {
        let mut out = self.scratch(a.basis, Form::Eval);
        for_each_limb(&mut out.data, self.n, |i, limb| {
            let (small, map) = a.limb(i);
            for (o, &k) in limb.iter_mut().zip(map) {
                *o = small[k as usize];
            }
        });
        out
    }

    /// The size-`n'` plan of limb `i`'s prime and the gather `k -> j` with
    /// `NTT_N(b(X^g))[k] = NTT_{n'}(b)[j]`, found by transforming `X` with both plans
    /// (`NTT_N(X)[k]^g` is the point of slot `k` as a `2n'`-th root of unity).
    fn sparse_map(&self, basis: Basis, i: usize, n_small: usize) -> Option<SparsePlan> {
        let m = *self.modulus(basis, i);
        let key = (m.value(), n_small);
        let small_plan = plan_for(n_small, m.value()).ok()?;
        if let Some(map) = self
            .sparse_maps
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Some((small_plan, map.clone()));
        }
        let mut x_small = vec![0u64; n_small];
        x_small[1] = 1;
        small_plan.fwd(&mut x_small);
        let index: HashMap<u64, u32> = x_small
            .iter()
            .enumerate()
            .map(|(j, &v)| (v, j as u32))
            .collect();
        let mut x = vec![0u64; self.n];
        x[1] = 1;
        self.plan(basis, i).fwd(&mut x);
        let g = self.n / n_small;
        let map: Option<Vec<u32>> = x
            .iter()
            .map(|&v| {
                let mut p = v;
                let mut e = g;
                while e > 1 {
                    p = m.mul(p, p);
                    e /= 2;
                }
                index.get(&p).copied()
            })
            .collect();
        let map = map?;
        let mut maps = self.sparse_maps.write().unwrap_or_else(|e| e.into_inner());
        // primes whose plans order their roots alike share one gather
        let shared = maps
            .iter()
            .find(|((_, len), other)| *len == n_small && ***other == map)
            .map(|(_, other)| other.clone());
        let map = shared.unwrap_or_else(|| Arc::new(map));
        maps.insert(key, map.clone());
        Some((small_plan, map))
    }

    /// `a += b`.
    pub fn add_assign(&self, a: &mut RnsPoly, b: &RnsPoly) {
        self.zip_assign(a, b, |m, x, y| m.add(x, y));
    }

    /// `a -= b`.
    pub fn sub_assign(&self, a: &mut RnsPoly, b: &RnsPoly) {
        self.zip_assign(a, b, |m, x, y| m.sub(x, y));
    }

    /// `a *= b` pointwise (both in evaluation form: this is the negacyclic product).
    pub fn mul_assign(&self, a: &mut RnsPoly, b: &RnsPoly) {
        debug_assert!(a.form == Form::Eval && b.form == Form::Eval);
        self.zip_assign(a, b, |m, x, y| m.mul(x, y));
    }

    /// `a = -a`.
    pub fn neg_assign(&self, a: &mut RnsPoly) {
        let basis = a.basis;
        for_each_limb(&mut a.data, self.n, |i, l| {
            let m = self.modulus(basis, i);
            l.iter_mut().for_each(|x| *x = m.neg(*x));
        });
    }

    /// `a *= s_i` where `s_i` is the per-limb scalar `scalars[i]` (already reduced).
    pub fn mul_scalars_assign(&self, a: &mut RnsPoly, scalars: &[u64]) {
        let basis = a.basis;
        for_each_limb(&mut a.data, self.n, |i, l| {
            let m = self.modulus(basis, i);
            let (w, ws) = (scalars[i], m.shoup(scalars[i]));
            l.iter_mut().for_each(|x| *x = m.mul_shoup(*x, w, ws));
        });
    }

    /// `a += b * c` pointwise (`tfhe-ntt`'s SIMD multiply-accumulate, limb by limb).
    pub fn mul_add_assign(&self, a: &mut RnsPoly, b: &RnsPoly, c: &RnsPoly) {
        debug_assert_eq!(a.basis, b.basis);
        debug_assert_eq!(a.basis, c.basis);
        let basis = a.basis;
        let n = self.n;
        for_each_limb(&mut a.data, n, |i, l| {
            let (bl, cl) = (&b.data[i * n..(i + 1) * n], &c.data[i * n..(i + 1) * n]);
            self.plan(basis, i).mul_accumulate(l, bl, cl);
        });
    }

    /// `out = Σ_t x_t ⊙ w_t` pointwise, limb by limb, with lazy reduction: products of
    /// residues below `2^62` are below `2^124`, so up to [`LAZY_TERMS`] of them add up in a
    /// `u128` without overflow and one Barrett reduction serves them all (instead of one
    /// reduction per product, and no temporary polynomial per term). Each `x_t` (and each
    /// polynomial weight) may have more ciphertext limbs than `out`: limb `i` of `out` reads
    /// the same prime's limb of every operand (dropping levels for free).
    pub(crate) fn sum_of_products(&self, out: &mut RnsPoly, xs: &[&RnsPoly], weights: Weights<'_>) {
        self.sums_of_products([out], [xs], weights);
    }

    /// [`sum_of_products`](Self::sum_of_products) for `H` outputs with the same weights,
    /// `out_h = Σ_t x_{h,t} ⊙ w_t`, in one pass: each weight limb is loaded once for all `H`
    /// (a ciphertext's two halves times the same plaintexts).
    pub(crate) fn sums_of_products<const H: usize>(
        &self,
        out: [&mut RnsPoly; H],
        xs: [&[&RnsPoly]; H],
        weights: Weights<'_>,
    ) {
        let (n, basis) = (self.n, out[0].basis);
        // the operand's limb of the same prime as limb `i` of `basis`
        fn same_prime(src: Basis, basis: Basis, i: usize) -> usize {
            debug_assert!(src.q >= basis.q && src.p >= basis.p);
            if i < basis.q {
                i
            } else {
                src.q + i - basis.q
            }
        }
        fn limb(src: &RnsPoly, basis: Basis, i: usize) -> &[u64] {
            let j = same_prime(src.basis, basis, i);
            &src.data[j * src.n..(j + 1) * src.n]
        }
        fn compact_limb(src: &CompactPoly, basis: Basis, i: usize) -> (&[u64], &[u32]) {
            src.limb(same_prime(src.basis, basis, i))
        }
        debug_assert!(out.iter().all(|o| o.basis == basis));
        let terms = xs[0].len();
        debug_assert!(xs.iter().all(|x| x.len() == terms));
        let mut chunks = out.map(|o| o.data.chunks_mut(n));
        let limbs: Vec<[&mut [u64]; H]> = (0..basis.len())
            .map(|_| std::array::from_fn(|h| chunks[h].next().expect("one chunk per limb")))
            .collect();
        let run = |(i, mut o): (usize, [&mut [u64]; H])| {
            let m = self.modulus(basis, i);
            o.iter_mut().for_each(|o| o.fill(0));
            for g in 0..terms.div_ceil(LAZY_TERMS) {
                let range = g * LAZY_TERMS..(g * LAZY_TERMS + LAZY_TERMS).min(terms);
                let x: [Vec<&[u64]>; H] = std::array::from_fn(|h| {
                    xs[h][range.clone()]
                        .iter()
                        .map(|p| limb(p, basis, i))
                        .collect()
                });
                let x: [&[&[u64]]; H] = std::array::from_fn(|h| x[h].as_slice());
                match weights {
                    Weights::Polys(w) => {
                        let w: Vec<&[u64]> = w[range].iter().map(|p| limb(p, basis, i)).collect();
                        dot_dispatch(m, &mut o, x, Factors::Limbs(&w));
                    }
                    Weights::Scalars(w) => {
                        let w: Vec<u64> = w[range].iter().map(|s| s[i]).collect();
                        dot_dispatch(m, &mut o, x, Factors::Scalars(&w));
                    }
                    Weights::Compact(w) => {
                        let (small, map): (Vec<&[u64]>, Vec<&[u32]>) =
                            w[range].iter().map(|p| compact_limb(p, basis, i)).unzip();
                        dot_dispatch(m, &mut o, x, Factors::Gathered(&small, &map));
                    }
                }
            }
        };
        if H * basis.len() * n >= PAR_THRESHOLD && basis.len() > 1 {
            limbs.into_par_iter().enumerate().for_each(run);
        } else {
            limbs.into_iter().enumerate().for_each(run);
        }
    }

    fn zip_assign<F>(&self, a: &mut RnsPoly, b: &RnsPoly, f: F)
    where
        F: Fn(&Modulus, u64, u64) -> u64 + Sync + Send,
    {
        debug_assert_eq!(a.basis, b.basis);
        debug_assert_eq!(a.form, b.form);
        let basis = a.basis;
        let n = self.n;
        for_each_limb(&mut a.data, n, |i, l| {
            let m = self.modulus(basis, i);
            for (x, &y) in l.iter_mut().zip(&b.data[i * n..(i + 1) * n]) {
                *x = f(m, *x, y);
            }
        });
    }

    /// The Galois automorphism `a(X) -> a(X^g)` for odd `g`, in either form.
    pub fn automorphism(&self, a: &RnsPoly, g: u64) -> RnsPoly {
        // both forms write every coefficient (`j -> j g mod 2N` is a signed permutation)
        let mut out = self.scratch(a.basis, a.form);
        match a.form {
            Form::Coeff => {
                let two_n = 2 * self.n as u64;
                let basis = a.basis;
                let n = self.n;
                for_each_limb(&mut out.data, n, |i, o| {
                    let m = self.modulus(basis, i);
                    let src = &a.data[i * n..(i + 1) * n];
                    for (j, &x) in src.iter().enumerate() {
                        let t = (j as u64 * g) % two_n;
                        if t < n as u64 {
                            o[t as usize] = x;
                        } else {
                            o[(t - n as u64) as usize] = m.neg(x);
                        }
                    }
                });
            }
            Form::Eval => {
                let perm = self.galois_permutation(g);
                self.permute_into(a, &perm, &mut out);
            }
        }
        out
    }

    /// Applies an evaluation-form permutation: `out[k] = a[perm[k]]` limb by limb.
    pub(crate) fn permute_into(&self, a: &RnsPoly, perm: &[u32], out: &mut RnsPoly) {
        let n = self.n;
        for_each_limb(&mut out.data, n, |i, o| {
            let src = &a.data[i * n..(i + 1) * n];
            for (x, &k) in o.iter_mut().zip(perm) {
                *x = src[k as usize];
            }
        });
        out.form = Form::Eval;
    }

    /// The evaluation-form permutation of `X -> X^g`: slot `k` of the image holds slot
    /// `perm[k]` of the input, because `φ_g(a)(ψ^e) = a(ψ^{e g})`.
    pub fn galois_permutation(&self, g: u64) -> Arc<Vec<u32>> {
        if let Some(p) = self
            .galois_perm
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&g)
        {
            return p.clone();
        }
        let two_n = 2 * self.n as u64;
        let perm: Vec<u32> = self
            .eval_exp
            .iter()
            .map(|&e| {
                let t = (e as u64 * g) % two_n;
                self.exp_index[(t as usize - 1) / 2]
            })
            .collect();
        let perm = Arc::new(perm);
        self.galois_perm
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(g, perm.clone());
        perm
    }
}

/// Finds, for each NTT output index `k`, the odd exponent `e_k` with `NTT(a)[k] = a(ψ^{e_k})`
/// relative to `ψ = NTT(X)[0]`, by transforming `X` and taking discrete logarithms in the
/// cyclic group generated by `ψ`.
fn eval_order(n: usize, plan: &Plan) -> (Vec<u32>, Vec<u32>) {
    let m = Modulus::new(plan.modulus());
    let mut x = vec![0u64; n];
    x[1] = 1;
    plan.fwd(&mut x);
    let psi = x[0];
    let mut log = HashMap::with_capacity(2 * n);
    let mut acc = 1u64;
    for e in 0..2 * n as u32 {
        log.insert(acc, e);
        acc = m.mul(acc, psi);
    }
    let eval_exp: Vec<u32> = x.iter().map(|v| log[v]).collect();
    let mut exp_index = vec![0u32; n];
    for (k, &e) in eval_exp.iter().enumerate() {
        exp_index[(e as usize - 1) / 2] = k as u32;
    }
    (eval_exp, exp_index)
}

/// `base^e mod 2N`.
pub fn pow_mod_2n(base: u64, e: u64, n: usize) -> u64 {
    let two_n = 2 * n as u64;
    let mut r = 1u64;
    let mut b = base % two_n;
    let mut e = e;
    while e > 0 {
        if e & 1 == 1 {
            r = r * b % two_n;
        }
        b = b * b % two_n;
        e >>= 1;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::primes::generate_primes;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    fn ring(n: usize) -> Ring {
        let q = generate_primes(50, n, 3, &[]).unwrap();
        let p = generate_primes(55, n, 2, &q).unwrap();
        Ring::new(n, &q, &p).unwrap()
    }

    fn naive_negacyclic(a: &[u64], b: &[u64], m: &Modulus) -> Vec<u64> {
        let n = a.len();
        let mut out = vec![0u64; n];
        for (i, &ai) in a.iter().enumerate() {
            for (j, &bj) in b.iter().enumerate() {
                let prod = m.mul(ai, bj);
                let k = i + j;
                if k < n {
                    out[k] = m.add(out[k], prod);
                } else {
                    out[k - n] = m.sub(out[k - n], prod);
                }
            }
        }
        out
    }

    fn random_poly(r: &Ring, basis: Basis, seed: u64) -> RnsPoly {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut a = r.zero(basis, Form::Coeff);
        for i in 0..basis.len() {
            let p = r.modulus(basis, i).value();
            a.limb_mut(i)
                .iter_mut()
                .for_each(|x| *x = rng.gen_range(0..p));
        }
        a
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn ntt_round_trip(seed in any::<u64>(), logn in 4u32..12) {
            let r = ring(1 << logn);
            let basis = Basis::qp(2, 2);
            let a = random_poly(&r, basis, seed);
            let mut b = a.clone();
            r.ntt(&mut b);
            r.intt(&mut b);
            prop_assert_eq!(a, b);
        }

        /// The sparse NTT of `b(X^g)` equals the full NTT of that polynomial, for every
        /// `g` (including the fallbacks `n' < 16` and `g = 1`).
        #[test]
        fn sparse_ntt_equals_the_full_ntt(seed in any::<u64>(), logn in 5u32..12, logg in 0u32..5) {
            let n = 1usize << logn;
            let r = ring(n);
            let basis = Basis::qp(2, 2);
            let small = n >> logg.min(logn);
            let b = random_poly(&r, basis, seed);
            let got = r.ntt_sparse(basis, small, |m, j| {
                let i = (0..basis.len()).find(|&i| r.modulus(basis, i).value() == m.value()).unwrap();
                b.limb(i)[j]
            });
            let mut want = r.zero(basis, Form::Coeff);
            for i in 0..basis.len() {
                for j in 0..small {
                    want.limb_mut(i)[j * (n / small)] = b.limb(i)[j];
                }
            }
            r.ntt(&mut want);
            prop_assert_eq!(got, want);
        }

        /// Sums of products read through compact polynomials' gathers equal the sums with
        /// the expanded polynomials, for every term count (lazy groups of 1 to 16 and more),
        /// mixed periods and operands with more limbs than the output.
        #[test]
        fn compact_products_equal_expanded_products(
            seed in any::<u64>(), logn in 7u32..11, terms in 1usize..20,
        ) {
            let n = 1usize << logn;
            let r = ring(n);
            let (basis, wide) = (Basis::qp(1, 2), Basis::qp(2, 2));
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let compact: Vec<CompactPoly> = (0..terms)
                .map(|t| {
                    let small = n >> (1 + t % 3);
                    let c: Vec<u64> = (0..small).map(|_| rng.gen()).collect();
                    r.ntt_compact(wide, small, |m, j| m.reduce_u128(c[j] as u128)).unwrap()
                })
                .collect();
            let expanded: Vec<RnsPoly> = compact.iter().map(|c| r.expand(c)).collect();
            let xs: Vec<RnsPoly> = (0..terms)
                .map(|t| {
                    let mut x = random_poly(&r, wide, seed ^ t as u64);
                    x.form = Form::Eval;
                    x
                })
                .collect();
            let xs: Vec<&RnsPoly> = xs.iter().collect();
            let (mut got, mut want) = (r.zero(basis, Form::Eval), r.zero(basis, Form::Eval));
            let compact: Vec<&CompactPoly> = compact.iter().collect();
            let expanded: Vec<&RnsPoly> = expanded.iter().collect();
            r.sum_of_products(&mut got, &xs, Weights::Compact(&compact));
            r.sum_of_products(&mut want, &xs, Weights::Polys(&expanded));
            prop_assert_eq!(got, want);
        }

        #[test]
        fn ntt_product_is_negacyclic_product(seed in any::<u64>(), logn in 4u32..8) {
            let r = ring(1 << logn);
            let basis = Basis::q(2);
            let a = random_poly(&r, basis, seed);
            let b = random_poly(&r, basis, seed ^ 0xabcdef);
            let (mut fa, mut fb) = (a.clone(), b.clone());
            r.ntt(&mut fa);
            r.ntt(&mut fb);
            r.mul_assign(&mut fa, &fb);
            r.intt(&mut fa);
            for i in 0..basis.len() {
                let m = r.modulus(basis, i);
                prop_assert_eq!(fa.limb(i), &naive_negacyclic(a.limb(i), b.limb(i), m)[..]);
            }
        }

        #[test]
        fn automorphism_commutes_with_ntt(seed in any::<u64>(), k in 0u64..64, conj in any::<bool>()) {
            let n = 1 << 8;
            let r = ring(n);
            let g = if conj { 2 * n as u64 - 1 } else { crate::ring::pow_mod_2n(5, k, n) };
            let a = random_poly(&r, Basis::qp(2, 2), seed);
            let coeff_image = r.automorphism(&a, g);
            let mut fa = a.clone();
            r.ntt(&mut fa);
            let mut eval_image = r.automorphism(&fa, g);
            r.intt(&mut eval_image);
            prop_assert_eq!(coeff_image, eval_image);
        }
    }

    #[test]
    fn evaluation_order_is_identical_for_every_prime() {
        let n = 1 << 10;
        let r = ring(n);
        for plans in [&r.plans_q, &r.plans_p] {
            for plan in plans.iter() {
                assert_eq!(eval_order(n, plan).0, r.eval_exp);
            }
        }
    }
}
