//! Homomorphic operations on CKKS ciphertexts.
//!
//! Every binary operation requires both operands at the same level and scale: a mismatch is
//! a typed error ([`CkksError::LevelMismatch`], [`CkksError::ScaleMismatch`]), never a silent
//! wrong result. Levels are matched explicitly with [`Evaluator::drop_to_level`] or
//! [`Evaluator::match_levels`].

use super::{Ciphertext, Context, Plaintext};
use crate::error::{CkksError, Result};
use crate::ring::basis::div_round_eval;
use crate::ring::{for_each_limb, Basis, CompactPoly, Form, RnsPoly, Weights};
use crate::rlwe::{
    Decomposed, GaloisKey, KeyGenerator, RelinearizationKey, SecretKey, SwitchingKey,
};
use num_complex::Complex64;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Relative tolerance under which two scales count as equal (far below CKKS precision).
const SCALE_TOLERANCE: f64 = 1e-12;

/// The public evaluation keys a server holds: relinearization and Galois keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvaluationKeys {
    /// Relinearization key (needed by `mul_relin`, `square_relin`, `relinearize`).
    pub relin: Option<RelinearizationKey>,
    /// Galois keys by Galois element.
    pub galois: BTreeMap<u64, GaloisKey>,
}

impl EvaluationKeys {
    /// Generates a relinearization key (if `relin`), keys for the rotation `steps`, and the
    /// conjugation key (if `conjugate`), all for every level of the chain.
    pub fn generate(
        ctx: &Context,
        kg: &mut KeyGenerator<'_>,
        sk: &SecretKey,
        relin: bool,
        steps: &[i64],
        conjugate: bool,
    ) -> Self {
        let top = ctx.max_level();
        let leveled: Vec<(i64, usize)> = steps.iter().map(|&k| (k, top)).collect();
        Self::generate_leveled(ctx, kg, sk, relin, &leveled, conjugate.then_some(top))
    }

    /// Like [`generate`](Self::generate), with the highest level each Galois key must serve:
    /// `(step, level)` per rotation and the conjugation key's level. A key that only has to
    /// work up to level `ℓ` lives over `Q_ℓ P` ([`KeyGenerator::galois_key_at`]); a step
    /// listed twice gets the higher level.
    pub fn generate_leveled(
        ctx: &Context,
        kg: &mut KeyGenerator<'_>,
        sk: &SecretKey,
        relin: bool,
        steps: &[(i64, usize)],
        conjugate: Option<usize>,
    ) -> Self {
        Self::generate_leveled_compacted(ctx, kg, sk, relin, steps, conjugate, |_, _| false)
    }

    /// [`generate_leveled`](Self::generate_leveled), dropping the uniform halves of the Galois
    /// keys for which `compact(galois_element, level)` holds as each key is made (see
    /// [`drop_galois_uniform_halves_where`](Self::drop_galois_uniform_halves_where)), so the
    /// whole key set never sits in memory at full size.
    pub fn generate_leveled_compacted(
        ctx: &Context,
        kg: &mut KeyGenerator<'_>,
        sk: &SecretKey,
        relin: bool,
        steps: &[(i64, usize)],
        conjugate: Option<usize>,
        compact: impl Fn(u64, usize) -> bool,
    ) -> Self {
        let galois = Self::galois_levels(ctx, steps, conjugate)
            .into_iter()
            .map(|(g, l)| {
                let mut key = kg.galois_key_at(sk, g, l);
                if compact(g, l) {
                    key.drop_uniform_halves();
                }
                (g, key)
            })
            .collect();
        EvaluationKeys {
            relin: relin.then(|| kg.relinearization_key(sk)),
            galois,
        }
    }

    /// The Galois keys [`generate_leveled`](Self::generate_leveled) makes: each Galois element
    /// of the steps and the conjugation with the level of its key, the highest any of them
    /// asks for (capped at the top level). Steps that differ by a multiple of the slot count
    /// share one element; a step of 0 (element 1) needs no key.
    pub fn galois_levels(
        ctx: &Context,
        steps: &[(i64, usize)],
        conjugate: Option<usize>,
    ) -> BTreeMap<u64, usize> {
        let mut levels: BTreeMap<u64, usize> = BTreeMap::new();
        let elements = steps
            .iter()
            .map(|&(k, l)| (ctx.galois_element_for_rotation(k), l))
            .chain(conjugate.map(|l| (ctx.galois_element_for_conjugation(), l)));
        for (g, l) in elements {
            if g != 1 {
                let e = levels.entry(g).or_insert(0);
                *e = (*e).max(l.min(ctx.max_level()));
            }
        }
        levels
    }

    /// Drops the uniform halves of every Galois key from memory
    /// ([`SwitchingKey::drop_uniform_halves`](crate::rlwe::SwitchingKey::drop_uniform_halves)):
    /// about half their memory, for one ChaCha20 expansion of each used `a_j` limb per
    /// rotation. The relinearization key keeps both halves.
    pub fn drop_galois_uniform_halves(&mut self) {
        self.drop_galois_uniform_halves_where(|_| true);
    }

    /// [`drop_galois_uniform_halves`](Self::drop_galois_uniform_halves) for the Galois keys
    /// that `select` picks only: typically the largest keys (`dnum (ℓ + 1 + K)` limbs per
    /// half, at the top of the chain) of rotations used once per bootstrap, while the keys of
    /// frequent rotations stay whole.
    pub fn drop_galois_uniform_halves_where(&mut self, select: impl Fn(&GaloisKey) -> bool) {
        self.galois
            .values_mut()
            .filter(|k| select(k))
            .for_each(GaloisKey::drop_uniform_halves);
    }

    /// Bytes the keys occupy in memory (evaluation form, both halves of every digit).
    pub fn memory_bytes(&self) -> usize {
        self.relin.as_ref().map_or(0, |r| r.0.memory_bytes())
            + self
                .galois
                .values()
                .map(|g| g.key_memory_bytes())
                .sum::<usize>()
    }
}

/// Evaluates homomorphic operations with a context and (optional) evaluation keys.
#[derive(Clone)]
pub struct Evaluator {
    ctx: Context,
    keys: Arc<EvaluationKeys>,
}

impl Evaluator {
    /// An evaluator holding `keys`.
    pub fn new(ctx: &Context, keys: EvaluationKeys) -> Self {
        Self {
            ctx: ctx.clone(),
            keys: Arc::new(keys),
        }
    }

    /// The context.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The evaluation keys.
    pub fn keys(&self) -> &EvaluationKeys {
        &self.keys
    }

    fn ring(&self) -> &crate::ring::Ring {
        self.ctx.ring()
    }

    fn check_same(&self, a: &Ciphertext, level: usize, scale: f64, slots: usize) -> Result<()> {
        self.ctx.check_ciphertext(a)?;
        if a.level() != level {
            return Err(CkksError::LevelMismatch(a.level(), level));
        }
        if ((a.scale / scale) - 1.0).abs() > SCALE_TOLERANCE {
            return Err(CkksError::ScaleMismatch(a.scale.log2(), scale.log2()));
        }
        if a.slots != slots {
            return Err(CkksError::InvalidParameters(format!(
                "slot counts differ: {} vs {slots}",
                a.slots
            )));
        }
        Ok(())
    }

    fn check_plain(&self, pt: &Plaintext) -> Result<()> {
        if pt.poly.n != self.ctx.params().n()
            || pt.poly.basis.p != 0
            || pt.poly.form != crate::ring::Form::Eval
        {
            return Err(CkksError::ParameterMismatch);
        }
        self.ring().check_basis(pt.poly.basis)
    }

    fn combine(&self, a: &Ciphertext, b: &Ciphertext, negate_b: bool) -> Result<Ciphertext> {
        self.check_same(a, b.level(), b.scale, b.slots)?;
        self.ctx.check_ciphertext(b)?;
        let (long, short, b_is_long) = if a.c.len() >= b.c.len() {
            (a, b, false)
        } else {
            (b, a, true)
        };
        let mut out = long.clone();
        out.seed = None;
        if negate_b && b_is_long {
            out.c.iter_mut().for_each(|c| self.ring().neg_assign(c));
        }
        for (o, s) in out.c.iter_mut().zip(&short.c) {
            if negate_b && !b_is_long {
                self.ring().sub_assign(o, s);
            } else {
                self.ring().add_assign(o, s);
            }
        }
        Ok(out)
    }

    /// `a + b`.
    pub fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.combine(a, b, false)
    }

    /// `a - b`.
    pub fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.combine(a, b, true)
    }

    /// `acc += b` in place (no allocation when `acc` has at least `b`'s degree).
    pub fn add_assign(&self, acc: &mut Ciphertext, b: &Ciphertext) -> Result<()> {
        self.accumulate(acc, b, false)
    }

    /// `acc -= b` in place.
    pub fn sub_assign(&self, acc: &mut Ciphertext, b: &Ciphertext) -> Result<()> {
        self.accumulate(acc, b, true)
    }

    fn accumulate(&self, acc: &mut Ciphertext, b: &Ciphertext, negate: bool) -> Result<()> {
        self.check_same(acc, b.level(), b.scale, b.slots)?;
        self.ctx.check_ciphertext(b)?;
        while acc.c.len() < b.c.len() {
            acc.c.push(self.ring().zero(b.c[0].basis, b.c[0].form));
        }
        for (o, s) in acc.c.iter_mut().zip(&b.c) {
            if negate {
                self.ring().sub_assign(o, s);
            } else {
                self.ring().add_assign(o, s);
            }
        }
        acc.seed = None;
        Ok(())
    }

    /// `acc += a · b` (tensor product, no relinearization): accumulates products into a
    /// degree-2 ciphertext, to relinearize and rescale once for a whole sum of products.
    /// `acc` must be at the level and scale of the products (`a.scale() * b.scale()`).
    pub fn mul_add_assign(
        &self,
        acc: &mut Ciphertext,
        a: &Ciphertext,
        b: &Ciphertext,
    ) -> Result<()> {
        self.check_same(a, b.level(), a.scale, b.slots)?;
        self.ctx.check_ciphertext(b)?;
        if a.degree() != 1 || b.degree() != 1 {
            return Err(CkksError::Degree(a.degree().max(b.degree()), 1));
        }
        self.check_same(acc, a.level(), a.scale * b.scale, a.slots)?;
        while acc.c.len() < 3 {
            acc.c.push(self.ring().zero(a.c[0].basis, a.c[0].form));
        }
        let ring = self.ring();
        let (a0, a1, b0, b1) = (&a.c[0], &a.c[1], &b.c[0], &b.c[1]);
        let [d0, d1, d2] = &mut acc.c[..] else {
            return Err(CkksError::Degree(acc.c.len() - 1, 2));
        };
        ring.mul_add_assign(d0, a0, b0);
        ring.mul_add_assign(d1, a0, b1);
        ring.mul_add_assign(d1, a1, b0);
        ring.mul_add_assign(d2, a1, b1);
        acc.seed = None;
        Ok(())
    }

    /// `-a`.
    pub fn negate(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.ctx.check_ciphertext(a)?;
        let mut out = a.clone();
        out.seed = None;
        out.c.iter_mut().for_each(|c| self.ring().neg_assign(c));
        Ok(out)
    }

    /// `a ± pt`: only `c_0` changes.
    fn combine_plain(&self, a: &Ciphertext, pt: &Plaintext, negate: bool) -> Result<Ciphertext> {
        self.check_plain(pt)?;
        self.check_same(a, pt.level(), pt.scale, pt.slots)?;
        let mut out = a.clone();
        if negate {
            self.ring().sub_assign(&mut out.c[0], &pt.poly);
        } else {
            self.ring().add_assign(&mut out.c[0], &pt.poly);
        }
        Ok(out)
    }

    /// `a + pt` (same level and scale).
    pub fn add_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        self.combine_plain(a, pt, false)
    }

    /// `a - pt` (same level and scale).
    pub fn sub_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        self.combine_plain(a, pt, true)
    }

    /// `a · pt` slot-wise; the scales multiply.
    pub fn mul_plain(&self, a: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        self.check_plain(pt)?;
        self.check_same(a, pt.level(), a.scale, pt.slots)?;
        let mut out = a.clone();
        out.seed = None;
        out.c
            .iter_mut()
            .for_each(|c| self.ring().mul_assign(c, &pt.poly));
        out.scale = a.scale * pt.scale;
        Ok(out)
    }

    /// `acc += a · pt` slot-wise, in place (`acc` at the level and scale of the product).
    pub fn mul_plain_add_assign(
        &self,
        acc: &mut Ciphertext,
        a: &Ciphertext,
        pt: &Plaintext,
    ) -> Result<()> {
        self.check_plain(pt)?;
        self.check_same(a, pt.level(), a.scale, pt.slots)?;
        self.check_same(acc, a.level(), a.scale * pt.scale, a.slots)?;
        if acc.degree() != a.degree() {
            return Err(CkksError::Degree(a.degree(), acc.degree()));
        }
        for (o, c) in acc.c.iter_mut().zip(&a.c) {
            self.ring().mul_add_assign(o, c, &pt.poly);
        }
        acc.seed = None;
        Ok(())
    }

    /// The `parts` polynomials `Σ_t x_{k,t} ⊙ w_t` (`xs(k)` the terms' `k`-th halves): a pair
    /// at once (each weight read once for both halves), any further part alone.
    fn sums_of_halves<'a>(
        &self,
        basis: Basis,
        form: Form,
        parts: usize,
        xs: impl Fn(usize) -> Vec<&'a RnsPoly>,
        weights: Weights<'_>,
    ) -> Vec<RnsPoly> {
        let ring = self.ring();
        let mut out: Vec<RnsPoly> = (0..parts).map(|_| ring.zero(basis, form)).collect();
        let mut k = 0;
        for chunk in out.chunks_mut(2) {
            match chunk {
                [a, b] => {
                    let (x0, x1) = (xs(k), xs(k + 1));
                    ring.sums_of_products([a, b], [&x0, &x1], weights);
                }
                [a] => ring.sum_of_products(a, &xs(k), weights),
                _ => {}
            }
            k += chunk.len();
        }
        out
    }

    /// `Σ_t a_t · pt_t` slot-wise, in one pass with lazy reduction
    /// ([`Ring::sum_of_products`](crate::ring::Ring)): no temporary ciphertext per term.
    /// Every ciphertext is at the plaintexts' level with the same degree, and every product
    /// has the same scale `a_t.scale · pt_t.scale`, which is the result's.
    pub fn mul_plain_sum(&self, terms: &[(&Ciphertext, &Plaintext)]) -> Result<Ciphertext> {
        for (_, pt) in terms {
            self.check_plain(pt)?;
        }
        let pts: Vec<&RnsPoly> = terms.iter().map(|(_, pt)| &pt.poly).collect();
        let factors: Vec<_> = terms
            .iter()
            .map(|(a, pt)| (*a, pt.level(), pt.scale, pt.slots))
            .collect();
        self.sum_of_plain_products(&factors, Weights::Polys(&pts))
    }

    /// [`mul_plain_sum`](Self::mul_plain_sum) with plaintexts in compact evaluation form
    /// (periodic diagonals of linear transforms, read through their gathers), all of scale
    /// `scale` and `slots` slots.
    pub(crate) fn mul_compact_sum(
        &self,
        terms: &[(&Ciphertext, &CompactPoly)],
        scale: f64,
        slots: usize,
    ) -> Result<Ciphertext> {
        for (_, pt) in terms {
            if pt.basis.p != 0 {
                return Err(CkksError::ParameterMismatch);
            }
            self.ring().check_basis(pt.basis)?;
        }
        let pts: Vec<&CompactPoly> = terms.iter().map(|(_, pt)| *pt).collect();
        let factors: Vec<_> = terms
            .iter()
            .map(|(a, pt)| (*a, pt.basis.q - 1, scale, slots))
            .collect();
        self.sum_of_plain_products(&factors, Weights::Compact(&pts))
    }

    /// `Σ_t a_t · w_t` for ciphertexts `a_t` and plaintext factors `w_t` of the given
    /// `(level, scale, slots)`: the checks of [`mul_plain_sum`](Self::mul_plain_sum) and the
    /// lazy sum of both halves.
    fn sum_of_plain_products(
        &self,
        factors: &[(&Ciphertext, usize, f64, usize)],
        weights: Weights<'_>,
    ) -> Result<Ciphertext> {
        let (first, _, first_scale, _) = factors.first().ok_or_else(|| {
            CkksError::InvalidParameters("a sum of products needs at least one term".into())
        })?;
        let scale = first.scale * first_scale;
        for &(a, level, pt_scale, slots) in factors {
            self.check_same(a, level, a.scale, slots)?;
            self.check_same(a, first.level(), scale / pt_scale, first.slots)?;
            if a.degree() != first.degree() {
                return Err(CkksError::Degree(a.degree(), first.degree()));
            }
        }
        let c = self.sums_of_halves(
            first.c[0].basis,
            first.c[0].form,
            first.c.len(),
            |k| factors.iter().map(|(a, ..)| &a.c[k]).collect(),
            weights,
        );
        Ok(Ciphertext {
            c,
            scale,
            slots: first.slots,
            seed: None,
        })
    }

    /// `Σ_t c_t a_t` for real constants `c_t`, at `level` (at most every `a_t`'s level) and
    /// with scale exactly `scale`: `c_t` is encoded as the integer `round(c_t scale / Δ_t)`
    /// (`Δ_t` the scale of `a_t`), so `scale / Δ_t` should be large (typically `q_ℓ`, for a
    /// following rescale). One pass with lazy reduction, no temporary ciphertext, levels
    /// dropped for free. Used for the leaves of polynomial evaluation.
    pub fn linear_combination(
        &self,
        terms: &[(&Ciphertext, f64)],
        level: usize,
        scale: f64,
    ) -> Result<Ciphertext> {
        let first = terms.first().ok_or_else(|| {
            CkksError::InvalidParameters("a linear combination needs at least one term".into())
        })?;
        let basis = Basis::q(level);
        let mut weights = Vec::with_capacity(terms.len());
        for (a, c) in terms {
            self.ctx.check_ciphertext(a)?;
            if a.level() < level {
                return Err(CkksError::LevelTooLow {
                    needed: level,
                    level: a.level(),
                });
            }
            if a.degree() != first.0.degree() || a.slots != first.0.slots {
                return Err(CkksError::Degree(a.degree(), first.0.degree()));
            }
            let w = (c * scale / a.scale).round();
            if !w.is_finite() || w.abs() >= 2f64.powi(126) {
                return Err(CkksError::EncodingOverflow(format!(
                    "constant {c} at scale 2^{:.1}",
                    (scale / a.scale).log2()
                )));
            }
            let w = w as i128;
            let residues: Vec<u64> = (0..basis.len())
                .map(|i| self.ring().modulus(basis, i).reduce_i128(w))
                .collect();
            weights.push(residues);
        }
        let c = self.sums_of_halves(
            basis,
            first.0.c[0].form,
            first.0.c.len(),
            |k| terms.iter().map(|(a, _)| &a.c[k]).collect(),
            Weights::Scalars(&weights),
        );
        Ok(Ciphertext {
            c,
            scale,
            slots: first.0.slots,
            seed: None,
        })
    }

    /// The constant `round(c.re · s) + round(c.im · s) X^{N/2}` in evaluation form over `Q_ℓ`
    /// (`X^{N/2}` multiplies every slot by `i`).
    fn constant_poly(&self, c: Complex64, s: f64, level: usize) -> Result<RnsPoly> {
        let (re, im) = ((c.re * s).round(), (c.im * s).round());
        if !(re.abs() < 2f64.powi(126) && im.abs() < 2f64.powi(126)) {
            return Err(CkksError::EncodingOverflow(format!(
                "constant {c} at scale 2^{:.1}",
                s.log2()
            )));
        }
        let (re, im) = (re as i128, im as i128);
        let ring = self.ring();
        let basis = Basis::q(level);
        let mut out = self.ctx.0.i_monomial.restricted_to_q(level + 1);
        let n = ring.n();
        for_each_limb(&mut out.data, n, |i, l| {
            let m = ring.modulus(basis, i);
            let (r, j) = (m.reduce_i128(re), m.reduce_i128(im));
            l.iter_mut().for_each(|x| *x = m.add(r, m.mul(*x, j)));
        });
        Ok(out)
    }

    /// `a + c` for a complex constant `c` (added to every slot).
    pub fn add_const(&self, a: &Ciphertext, c: Complex64) -> Result<Ciphertext> {
        self.ctx.check_ciphertext(a)?;
        let k = self.constant_poly(c, a.scale, a.level())?;
        let mut out = a.clone();
        self.ring().add_assign(&mut out.c[0], &k);
        Ok(out)
    }

    /// `a · c` with `c` encoded at scale `const_scale`; the result's scale is
    /// `a.scale · const_scale`.
    pub fn mul_const_with_scale(
        &self,
        a: &Ciphertext,
        c: Complex64,
        const_scale: f64,
    ) -> Result<Ciphertext> {
        self.ctx.check_ciphertext(a)?;
        let k = self.constant_poly(c, const_scale, a.level())?;
        let mut out = a.clone();
        out.seed = None;
        out.c
            .iter_mut()
            .for_each(|ci| self.ring().mul_assign(ci, &k));
        out.scale *= const_scale;
        Ok(out)
    }

    /// `a · c` with `c` encoded at scale `q_ℓ`, so that the following [`rescale`] restores
    /// exactly the scale of `a`.
    ///
    /// [`rescale`]: Evaluator::rescale
    pub fn mul_const(&self, a: &Ciphertext, c: Complex64) -> Result<Ciphertext> {
        let q = self.ctx.params().q()[a.level()] as f64;
        self.mul_const_with_scale(a, c, q)
    }

    /// `a` read as an encryption of `c · m` (for `a` encrypting `m` at scale `Δ`): the same
    /// polynomials labelled with scale `Δ / |c|`, negated when `c < 0`. A multiplication by a
    /// constant that costs no level and adds no noise, since `Δ m = (Δ / c)(c m)`; what it
    /// changes is which scale later additions must match (Bossuat et al., Eurocrypt 2021,
    /// §4, fold constants into scales the same way).
    pub fn relabel(&self, a: &Ciphertext, c: f64) -> Result<Ciphertext> {
        self.ctx.check_ciphertext(a)?;
        if !(c.is_finite() && c != 0.0 && (a.scale / c.abs()).is_normal()) {
            return Err(CkksError::InvalidParameters(format!(
                "relabelling by {c} at scale 2^{:.1}",
                a.scale.log2()
            )));
        }
        let mut out = if c < 0.0 { self.negate(a)? } else { a.clone() };
        out.scale = a.scale / c.abs();
        Ok(out)
    }

    /// `a` read with `slots` slots (a power of two up to `N/2`): the same polynomials.
    ///
    /// With `n` slots the message is a polynomial in `Y = X^{N/2n}` (sparse packing), whose
    /// `N/2` slot values repeat with period `n` (the slot order follows `5^j`, of order `n`
    /// modulo `4n`). So an `n`-slot ciphertext read with more slots holds its `n` values
    /// repeated, and a ciphertext whose values repeat with period `n` can be handed to
    /// `n`-slot circuits (bootstrapping with [`Bootstrapper::with_slots`]: one EvalMod
    /// instead of two). Reading fewer slots keeps only the part of the polynomial in
    /// `Z[Y]`: the decoding reads the coefficients at multiples of `N/2n`, and bootstrapping
    /// projects onto that subring (trace), so values that do not repeat are averaged over
    /// their copies, never an error.
    ///
    /// [`Bootstrapper::with_slots`]: crate::circuits::Bootstrapper::with_slots
    pub fn with_slots(&self, a: &Ciphertext, slots: usize) -> Result<Ciphertext> {
        self.ctx.check_ciphertext(a)?;
        self.ctx.check_slots(0, slots)?;
        Ok(Ciphertext { slots, ..a.clone() })
    }

    /// `a · k` for an integer `k`; the scale is unchanged.
    pub fn mul_integer(&self, a: &Ciphertext, k: i64) -> Result<Ciphertext> {
        self.ctx.check_ciphertext(a)?;
        let mut out = a.clone();
        out.seed = None;
        let basis = Basis::q(a.level());
        let scalars: Vec<u64> = (0..basis.len())
            .map(|i| self.ring().modulus(basis, i).reduce_i64(k))
            .collect();
        out.c
            .iter_mut()
            .for_each(|c| self.ring().mul_scalars_assign(c, &scalars));
        Ok(out)
    }

    /// Tensor product `(a0 b0, a0 b1 + a1 b0, a1 b1)` without relinearization; the scales
    /// multiply.
    pub fn mul(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.check_same(a, b.level(), a.scale, b.slots)?;
        self.ctx.check_ciphertext(b)?;
        if a.degree() != 1 || b.degree() != 1 {
            return Err(CkksError::Degree(a.degree().max(b.degree()), 1));
        }
        let ring = self.ring();
        let (a0, a1, b0, b1) = (&a.c[0], &a.c[1], &b.c[0], &b.c[1]);
        let product = |pairs: &[(&RnsPoly, &RnsPoly)]| {
            let mut d = ring.zero(a0.basis, a0.form);
            pairs
                .iter()
                .for_each(|(x, y)| ring.mul_add_assign(&mut d, x, y));
            d
        };
        let ((d0, d2), d1) = rayon::join(
            || (product(&[(a0, b0)]), product(&[(a1, b1)])),
            || product(&[(a0, b1), (a1, b0)]),
        );
        Ok(Ciphertext {
            c: vec![d0, d1, d2],
            scale: a.scale * b.scale,
            slots: a.slots,
            seed: None,
        })
    }

    /// Relinearization: switches `c_2 s^2` to a degree-1 ciphertext with the relinearization key.
    pub fn relinearize(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.relinearize_owned(a.clone())
    }

    fn relinearize_owned(&self, mut a: Ciphertext) -> Result<Ciphertext> {
        self.ctx.check_ciphertext(&a)?;
        if a.degree() != 2 {
            return Err(CkksError::Degree(a.degree(), 2));
        }
        let rk = self.keys.relin.as_ref().ok_or_else(|| {
            CkksError::InvalidParameters("no relinearization key in the evaluation keys".into())
        })?;
        let c2 = a.c.pop().expect("degree 2");
        let dec = self.ctx.key_switcher().decompose(&c2);
        let c1 = a.c.pop().expect("degree 2");
        let c0 = a.c.pop().expect("degree 2");
        self.switch_decomposed(c0, Some(c1), &dec, &rk.0, None, &a)
    }

    /// Hybrid key switching of a degree-1 ciphertext: with `(u_0, u_1) = KS_swk(c_1)`,
    ///
    /// ```text
    ///     key_switch((c_0, c_1), swk_{s' -> s}) = (c_0 + u_0, u_1),   u_0 + u_1 s ≈ c_1 s',
    /// ```
    ///
    /// so a ciphertext decrypting under `s'` comes out decrypting under `s` at the same level
    /// and scale. `KS` is ModUp of the `dnum` digits of `c_1` to `Q_ℓ P`, the inner product
    /// with the key's digits and ModDown by `P` (hybrid key switching: Han-Ki 2020, "Better
    /// bootstrapping for approximate homomorphic encryption", §3; Bossuat et al. 2021,
    /// "Efficient bootstrapping for approximate HE with non-sparse keys", §2). Relinearization
    /// and rotations run through the same path.
    ///
    /// Errors: a ciphertext of degree other than 1 or foreign to this context, or a key that
    /// does not reach the ciphertext's level ([`CkksError::LevelTooLow`]).
    pub fn key_switch(&self, ct: &Ciphertext, key: &SwitchingKey) -> Result<Ciphertext> {
        self.ctx.check_ciphertext(ct)?;
        if ct.degree() != 1 {
            return Err(CkksError::Degree(ct.degree(), 1));
        }
        let dec = self.ctx.key_switcher().decompose(&ct.c[1]);
        self.switch_decomposed(ct.c[0].clone(), None, &dec, key, None, ct)
    }

    /// The shared end of every key switch: `(c_0 + u_0, c_1 + u_1)` (`c_1` absent: `u_1`)
    /// with `(u_0, u_1)` the key switch of the decomposed polynomial `dec`, read through the
    /// evaluation-form Galois permutation `perm` if given; level, scale and slots from `like`.
    fn switch_decomposed(
        &self,
        mut c0: RnsPoly,
        c1: Option<RnsPoly>,
        dec: &Decomposed,
        key: &SwitchingKey,
        perm: Option<&[u32]>,
        like: &Ciphertext,
    ) -> Result<Ciphertext> {
        let [u0, u1] = self.ctx.key_switcher().switch_decomposed(dec, key, perm)?;
        self.ring().add_assign(&mut c0, &u0);
        let c1 = match c1 {
            Some(mut c1) => {
                self.ring().add_assign(&mut c1, &u1);
                c1
            }
            None => u1,
        };
        Ok(Ciphertext {
            c: vec![c0, c1],
            scale: like.scale,
            slots: like.slots,
            seed: None,
        })
    }

    /// `a · b` followed by relinearization.
    pub fn mul_relin(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.relinearize_owned(self.mul(a, b)?)
    }

    /// `a^2` followed by relinearization.
    pub fn square_relin(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.mul_relin(a, a)
    }

    /// Rescaling: `c -> round(c / q_ℓ)` over `Q_{ℓ-1}`; the scale is divided by `q_ℓ`.
    pub fn rescale(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.ctx.check_ciphertext(a)?;
        let level = a.level();
        if level == 0 {
            return Err(CkksError::LevelTooLow {
                needed: 1,
                level: 0,
            });
        }
        let ext = &self.ctx.0.rescale[level];
        let targets: Vec<usize> = (0..level).collect();
        let c =
            a.c.iter()
                .map(|ci| {
                    div_round_eval(
                        self.ring(),
                        ci,
                        level..level + 1,
                        ext,
                        &targets,
                        Basis::q(level - 1),
                    )
                })
                .collect();
        Ok(Ciphertext {
            c,
            scale: a.scale / self.ctx.params().q()[level] as f64,
            slots: a.slots,
            seed: None,
        })
    }

    /// `a · b`, relinearization and rescaling.
    ///
    /// The relinearization's ModDown (division by `P`) and the rescale (division by `q_ℓ`) are
    /// one rounded division by `q_ℓ P`: `(c_0, c_1)` are lifted to `Q_ℓ P` as `P c_i`, added to
    /// the key switch of `c_2` before its ModDown, and the sum is divided once
    /// ([`KeySwitcher::mod_down_rescale`](crate::rlwe::KeySwitcher)); about a fifth fewer NTTs
    /// than [`mul_relin`](Self::mul_relin) then [`rescale`](Self::rescale), same result up to
    /// one rounding.
    pub fn mul_relin_rescale(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        if a.level() == 0 {
            return Err(CkksError::LevelTooLow {
                needed: 1,
                level: 0,
            });
        }
        let mut t = self.mul(a, b)?;
        let rk = self.keys.relin.as_ref().ok_or_else(|| {
            CkksError::InvalidParameters("no relinearization key in the evaluation keys".into())
        })?;
        let ks = self.ctx.key_switcher();
        let c2 = t.c.pop().expect("degree 2");
        let [mut u0, mut u1] = ks.inner_product(&ks.decompose(&c2), &rk.0, None)?;
        self.ring().add_assign(&mut u0, &ks.lift(&t.c[0], None));
        self.ring().add_assign(&mut u1, &ks.lift(&t.c[1], None));
        let (c0, c1) = rayon::join(|| ks.mod_down_rescale(&u0), || ks.mod_down_rescale(&u1));
        Ok(Ciphertext {
            c: vec![c0, c1],
            scale: t.scale / self.ctx.params().q()[a.level()] as f64,
            slots: t.slots,
            seed: None,
        })
    }

    /// `a^2`, relinearization and rescaling ([`mul_relin_rescale`](Self::mul_relin_rescale)).
    pub fn square_relin_rescale(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.mul_relin_rescale(a, a)
    }

    /// Drops primes down to `level` without changing the message or the scale.
    pub fn drop_to_level(&self, a: &Ciphertext, level: usize) -> Result<Ciphertext> {
        self.ctx.check_ciphertext(a)?;
        if level > a.level() {
            return Err(CkksError::LevelTooLow {
                needed: level,
                level: a.level(),
            });
        }
        let mut out = a.clone();
        out.c.iter_mut().for_each(|c| c.truncate_q(level + 1));
        if level != a.level() {
            out.seed = None;
        }
        Ok(out)
    }

    /// Drops `levels` levels.
    pub fn drop_level(&self, a: &Ciphertext, levels: usize) -> Result<Ciphertext> {
        let target = a
            .level()
            .checked_sub(levels)
            .ok_or(CkksError::LevelTooLow {
                needed: levels,
                level: a.level(),
            })?;
        self.drop_to_level(a, target)
    }

    /// Brings two ciphertexts to the lower of their levels.
    pub fn match_levels(&self, a: &Ciphertext, b: &Ciphertext) -> Result<(Ciphertext, Ciphertext)> {
        let level = a.level().min(b.level());
        Ok((self.drop_to_level(a, level)?, self.drop_to_level(b, level)?))
    }

    pub(crate) fn galois_key(&self, g: u64) -> Result<&GaloisKey> {
        self.keys
            .galois
            .get(&g)
            .ok_or(CkksError::MissingGaloisKey(g))
    }

    /// Applies `X -> X^g` and switches the key back to `s` (needs the Galois key of `g`).
    pub fn apply_galois(&self, a: &Ciphertext, g: u64) -> Result<Ciphertext> {
        Ok(self.apply_galois_hoisted(a, &[g])?.remove(0))
    }

    /// Applies several automorphisms to the same ciphertext, sharing one ModUp of `c_1`
    /// (hoisting, Halevi-Shoup 2018 §5).
    pub fn apply_galois_hoisted(
        &self,
        a: &Ciphertext,
        elements: &[u64],
    ) -> Result<Vec<Ciphertext>> {
        self.ctx.check_ciphertext(a)?;
        if a.degree() != 1 {
            return Err(CkksError::Degree(a.degree(), 1));
        }
        for &g in elements {
            if g != 1 && self.galois_key(g)?.level() < a.level() {
                return Err(CkksError::LevelTooLow {
                    needed: a.level(),
                    level: self.galois_key(g)?.level(),
                });
            }
        }
        let ks = self.ctx.key_switcher();
        let dec = if elements.iter().any(|&g| g != 1) {
            Some(ks.decompose(&a.c[1]))
        } else {
            None
        };
        elements
            .iter()
            .map(|&g| {
                if g == 1 {
                    return Ok(a.clone());
                }
                let key = self.galois_key(g)?;
                let perm = self.ring().galois_permutation(g);
                let dec = dec.as_ref().expect("decomposed when some element is not 1");
                let mut c0 = self.ring().scratch(a.c[0].basis, a.c[0].form);
                self.ring().permute_into(&a.c[0], &perm, &mut c0);
                self.switch_decomposed(c0, None, dec, &key.key, Some(&perm), a)
            })
            .collect()
    }

    /// Left rotation of the slots by `k` (slot `i` receives slot `i + k mod slots`).
    pub fn rotate(&self, a: &Ciphertext, k: i64) -> Result<Ciphertext> {
        self.apply_galois(a, self.ctx.galois_element_for_rotation(k))
    }

    /// Several rotations of the same ciphertext with one shared decomposition.
    pub fn rotate_hoisted(&self, a: &Ciphertext, steps: &[i64]) -> Result<Vec<Ciphertext>> {
        let elements: Vec<u64> = steps
            .iter()
            .map(|&k| self.ctx.galois_element_for_rotation(k))
            .collect();
        self.apply_galois_hoisted(a, &elements)
    }

    /// Complex conjugation of every slot.
    pub fn conjugate(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.apply_galois(a, self.ctx.galois_element_for_conjugation())
    }
}
