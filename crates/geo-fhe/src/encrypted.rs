//! SIMD-batched encrypted geometric products over RNS-CKKS.
//!
//! # Layouts
//!
//! * **Planar** ([`PlanarCiphertext`]): 8 ciphertexts, ciphertext `c` holds component `c` of
//!   multivector `i` in slot `i`, so one set holds `N/2` multivectors. The product
//!   `(A B)_k = Σ_{(i,j): e_i e_j = ± e_k} ± a_i b_j` ([`CAYLEY`]) is slot-wise: 64 tensor
//!   products accumulated as degree-2 ciphertexts into the 8 outputs, then 8
//!   relinearizations (the only key switches) and 8 rescales. Depth 1, no rotation.
//!   Ciphertext x plaintext: 64 plaintext products, 8 rescales, no key switch, depth 1.
//! * **Interleaved** (one [`Ciphertext`]): slot `8i + c` holds component `c` of multivector
//!   `i`, so one ciphertext holds `N/16` multivectors. Output slot `8i + k` needs
//!   `a_{8i+p} b_{8i+q}` for the 8 pairs `(p, q)` with `e_p e_q = ± e_k`. With left rotations
//!   `rot_d` (slot `s` receives slot `s + d`), `a_{8i+p} = rot_{p-k}(a)_{8i+k}`, so
//!
//!   ```text
//!   A B = Σ_{dq} rot_{dq}(b) ⊙ Σ_{dp} M_{dp,dq} ⊙ rot_{dp}(a),
//!   ```
//!
//!   where the mask `M_{dp,dq}` holds, at position `k` of every block of 8, the sign of the
//!   term `(k + dp, k + dq) -> k` (0 if there is none). For a fixed `(k, dq)` exactly one `dp`
//!   contributes, so the inner sum selects `± a_p` without mixing blocks (rotations that cross
//!   a block edge are masked out). Cost: hoisted rotations of `a` and of `b` by the distinct
//!   offsets in `-7..=7` (14 each), one masked plaintext product per `(dp, dq)` pair and one
//!   rescale per `dq`, one tensor product per `dq`, **one** relinearization, depth 2.
//!   Ciphertext x plaintext needs only the rotations of `a`: `Σ_{dp} rot_{dp}(a) ⊙ B_{dp}`
//!   with `B_{dp}` the signed, shifted components of the plaintext, depth 1.
//!
//! [`ProductCost`] reports these counts as computed from the same plans the code executes.
//! Per multivector, the planar layout needs `8 / (N/2)` key switches against
//! `29 / (N/16)` for the interleaved one, so **planar is the default** (`gp` = [`gp_planar`]);
//! the measured ratio is in `docs/results/geo-fhe.md`.
//!
//! # Conversion
//!
//! [`LayoutConverter`] maps 8 planar ciphertexts (`S` slots, `S` multivectors) to 8
//! interleaved ciphertexts (`S/8` multivectors each) and back with one plaintext linear
//! transform `T` (slot `t` -> slot `8t` for `t < S/8`, by the diagonal method with
//! baby-step giant-step, `ckks_core::circuits::linear`) and rotations:
//! `interleaved_j = Σ_c rot_{-c}(T(rot_{jS/8}(planar_c)))` and
//! `planar_c = Σ_j rot_{-jS/8}(Tᵀ(rot_c(interleaved_j)))`. One level.
//!
//! [`CAYLEY`]: crate::algebra::CAYLEY

use crate::algebra::{terms_for_output, Multivector, BLADES, CAYLEY};
use crate::error::{GeoError, Result};
use ckks_core::circuits::linear::LinearTransform;
use ckks_core::ckks::{Ciphertext, Context, Decryptor, Encryptor, Evaluator, Plaintext};
use ckks_core::Complex64;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Operation counts of one batched geometric product (per call, i.e. per batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProductCost {
    /// Multiplicative depth (levels consumed).
    pub depth: usize,
    /// Ciphertext x ciphertext tensor products (no relinearization).
    pub tensor_products: usize,
    /// Ciphertext x plaintext products.
    pub plaintext_products: usize,
    /// Rotations (each a key switch; hoisted per input ciphertext).
    pub rotations: usize,
    /// Relinearizations (each a key switch).
    pub relinearizations: usize,
    /// Rescales.
    pub rescales: usize,
    /// Multivectors per call with `slots` slots.
    pub multivectors: usize,
}

impl ProductCost {
    /// Key switches: rotations plus relinearizations.
    pub fn key_switches(&self) -> usize {
        self.rotations + self.relinearizations
    }
}

/// Cost of [`gp_planar`] with `slots` slots.
pub fn planar_ct_ct_cost(slots: usize) -> ProductCost {
    let terms: usize = (0..BLADES).map(|k| terms_for_output(k).len()).sum();
    ProductCost {
        depth: 1,
        tensor_products: terms,
        plaintext_products: 0,
        rotations: 0,
        relinearizations: BLADES,
        rescales: BLADES,
        multivectors: slots,
    }
}

/// Cost of [`gp_planar_plain`] with `slots` slots.
pub fn planar_ct_pt_cost(slots: usize) -> ProductCost {
    let terms: usize = (0..BLADES).map(|k| terms_for_output(k).len()).sum();
    ProductCost {
        depth: 1,
        tensor_products: 0,
        plaintext_products: terms,
        rotations: 0,
        relinearizations: 0,
        rescales: BLADES,
        multivectors: slots,
    }
}

fn check_slots(slots: usize, count: usize, per: usize) -> Result<()> {
    if slots == 0 || !slots.is_power_of_two() || !slots.is_multiple_of(per) {
        return Err(GeoError::Layout(format!(
            "{slots} slots is not a power of two divisible by {per}"
        )));
    }
    if count * per > slots {
        return Err(GeoError::Layout(format!(
            "{count} multivectors need {} slots, {slots} available",
            count * per
        )));
    }
    Ok(())
}

/// Replicates `ct` as `+ct` or `-ct` and accumulates into `acc`.
fn accumulate(
    eval: &Evaluator,
    acc: &mut Option<Ciphertext>,
    term: Ciphertext,
    sign: i8,
) -> Result<()> {
    *acc = Some(match (acc.take(), sign >= 0) {
        (None, true) => term,
        (None, false) => eval.negate(&term)?,
        (Some(a), true) => eval.add(&a, &term)?,
        (Some(a), false) => eval.sub(&a, &term)?,
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Planar layout
// ---------------------------------------------------------------------------------------------

/// A batch of multivectors in the planar layout: 8 ciphertexts of equal level, scale and slot
/// count; component `c` of multivector `i` in slot `i` of ciphertext `c`.
#[derive(Clone, Debug)]
pub struct PlanarCiphertext {
    comps: Vec<Ciphertext>,
}

impl PlanarCiphertext {
    /// From 8 component ciphertexts (checked: same level, scale and slots).
    pub fn from_components(comps: Vec<Ciphertext>) -> Result<Self> {
        if comps.len() != BLADES {
            return Err(GeoError::Layout(format!(
                "{} component ciphertexts, expected {BLADES}",
                comps.len()
            )));
        }
        let (l, s, n) = (comps[0].level(), comps[0].scale(), comps[0].slots());
        if comps
            .iter()
            .any(|c| c.level() != l || c.slots() != n || ((c.scale() / s) - 1.0).abs() > 1e-12)
        {
            return Err(GeoError::Layout(
                "component ciphertexts differ in level, scale or slots".into(),
            ));
        }
        Ok(Self { comps })
    }
    /// The 8 component ciphertexts.
    pub fn components(&self) -> &[Ciphertext] {
        &self.comps
    }
    /// Consumes into the component ciphertexts.
    pub fn into_components(self) -> Vec<Ciphertext> {
        self.comps
    }
    /// Level.
    pub fn level(&self) -> usize {
        self.comps[0].level()
    }
    /// Scale.
    pub fn scale(&self) -> f64 {
        self.comps[0].scale()
    }
    /// Slots (= multivector capacity).
    pub fn slots(&self) -> usize {
        self.comps[0].slots()
    }
    /// Drops all components to `level`.
    pub fn drop_to_level(&self, eval: &Evaluator, level: usize) -> Result<Self> {
        let comps = self
            .comps
            .iter()
            .map(|c| eval.drop_to_level(c, level))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Self { comps })
    }
}

/// A batch of multivectors in the planar layout, encoded (not encrypted).
#[derive(Clone, Debug)]
pub struct PlanarPlaintext {
    comps: Vec<Plaintext>,
}

impl PlanarPlaintext {
    /// The 8 component plaintexts.
    pub fn components(&self) -> &[Plaintext] {
        &self.comps
    }
    /// Level.
    pub fn level(&self) -> usize {
        self.comps[0].level()
    }
    /// Scale.
    pub fn scale(&self) -> f64 {
        self.comps[0].scale()
    }
}

/// Component `c` of every multivector, padded to `slots`.
fn component_values(mvs: &[Multivector], c: usize) -> Vec<Complex64> {
    mvs.iter().map(|m| Complex64::new(m.0[c], 0.0)).collect()
}

/// Encodes `mvs` (at most `slots`) in the planar layout at `level` and `scale`.
pub fn encode_planar(
    ctx: &Context,
    mvs: &[Multivector],
    slots: usize,
    level: usize,
    scale: f64,
) -> Result<PlanarPlaintext> {
    check_slots(slots, mvs.len(), 1)?;
    let comps = (0..BLADES)
        .map(|c| ctx.encode(&component_values(mvs, c), slots, level, scale))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(PlanarPlaintext { comps })
}

/// Encodes a batch in which every slot holds the same multivector `m` (e.g. a weight).
pub fn encode_planar_broadcast(
    ctx: &Context,
    m: &Multivector,
    slots: usize,
    level: usize,
    scale: f64,
) -> Result<PlanarPlaintext> {
    encode_planar(ctx, &vec![*m; slots], slots, level, scale)
}

/// Encrypts an encoded planar batch.
pub fn encrypt_planar(enc: &mut Encryptor, pt: &PlanarPlaintext) -> Result<PlanarCiphertext> {
    let comps = pt
        .comps
        .iter()
        .map(|p| enc.encrypt(p))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(PlanarCiphertext { comps })
}

/// Decrypts the first `count` multivectors of a planar batch.
pub fn decrypt_planar(
    dec: &Decryptor,
    ct: &PlanarCiphertext,
    count: usize,
) -> Result<Vec<Multivector>> {
    if count > ct.slots() {
        return Err(GeoError::Layout(format!(
            "{count} multivectors requested from {} slots",
            ct.slots()
        )));
    }
    let mut out = vec![Multivector::ZERO; count];
    for (c, comp) in ct.comps.iter().enumerate() {
        let v = dec.decrypt_values(comp)?;
        for (m, x) in out.iter_mut().zip(v) {
            m.0[c] = x.re;
        }
    }
    Ok(out)
}

/// Accumulates `Σ_t A_t B_t` (ciphertext x ciphertext geometric products) as degree-2
/// ciphertexts, for a chosen subset of output components; [`finish`](Self::finish)
/// relinearizes and rescales once per output component, so a sum of `T` products costs
/// `64 T` tensor products but only 8 key switches.
#[derive(Clone, Debug)]
pub struct PlanarProductSum {
    outputs: Vec<usize>,
    acc: Vec<Option<Ciphertext>>,
}

impl PlanarProductSum {
    /// A sum over all 8 output components.
    pub fn new() -> Self {
        Self::for_components(&(0..BLADES).collect::<Vec<_>>())
    }

    /// A sum computing only the listed output components (the others decrypt to zero
    /// after [`finish`](Self::finish)); e.g. `&[0]` for the scalar part only.
    pub fn for_components(outputs: &[usize]) -> Self {
        let outputs: Vec<usize> = outputs
            .iter()
            .copied()
            .filter(|&k| k < BLADES)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        Self {
            acc: vec![None; outputs.len()],
            outputs,
        }
    }

    /// Adds `A B` (ciphertext x ciphertext). Output components are computed in parallel.
    pub fn add_product(
        &mut self,
        eval: &Evaluator,
        a: &PlanarCiphertext,
        b: &PlanarCiphertext,
    ) -> Result<()> {
        let outputs = &self.outputs;
        self.acc
            .par_iter_mut()
            .zip(outputs.par_iter())
            .try_for_each(|(acc, &k)| -> Result<()> {
                for (i, j, s) in terms_for_output(k) {
                    let t = eval.mul(&a.comps[i], &b.comps[j])?;
                    accumulate(eval, acc, t, s)?;
                }
                Ok(())
            })
    }

    /// Relinearizes and rescales each computed output; components not computed are
    /// encryptions of zero obtained as `x - x` from a computed one.
    pub fn finish(self, eval: &Evaluator) -> Result<PlanarCiphertext> {
        let done: Vec<Ciphertext> = self
            .acc
            .into_par_iter()
            .map(|acc| -> Result<Ciphertext> {
                let acc = acc.ok_or_else(|| {
                    GeoError::Layout("finish() on a sum with no product added".into())
                })?;
                Ok(eval.rescale(&eval.relinearize(&acc)?)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let first = done
            .first()
            .ok_or_else(|| GeoError::Layout("no output component selected".into()))?
            .clone();
        let zero = eval.sub(&first, &first)?;
        let mut comps = vec![zero; BLADES];
        for (k, ct) in self.outputs.iter().zip(done) {
            comps[*k] = ct;
        }
        Ok(PlanarCiphertext { comps })
    }
}

impl Default for PlanarProductSum {
    fn default() -> Self {
        Self::new()
    }
}

/// Encrypted geometric product `A B` of two planar batches (slot-wise), relinearized and
/// rescaled. Cost: [`planar_ct_ct_cost`].
pub fn gp_planar(
    eval: &Evaluator,
    a: &PlanarCiphertext,
    b: &PlanarCiphertext,
) -> Result<PlanarCiphertext> {
    let mut sum = PlanarProductSum::new();
    sum.add_product(eval, a, b)?;
    sum.finish(eval)
}

/// Which side of the product the plaintext operand is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainSide {
    /// `A_ct · B_pt`.
    Right,
    /// `A_pt · B_ct`.
    Left,
}

/// Encrypted x plaintext geometric product (slot-wise), rescaled. The plaintext must be at
/// the ciphertext's level; encode it at scale `q_level` to keep the ciphertext's scale.
/// Cost: [`planar_ct_pt_cost`].
pub fn gp_planar_plain(
    eval: &Evaluator,
    ct: &PlanarCiphertext,
    pt: &PlanarPlaintext,
    side: PlainSide,
) -> Result<PlanarCiphertext> {
    let comps = (0..BLADES)
        .into_par_iter()
        .map(|k| -> Result<Ciphertext> {
            let mut acc = None;
            for (i, j, s) in terms_for_output(k) {
                let t = match side {
                    PlainSide::Right => eval.mul_plain(&ct.comps[i], &pt.comps[j])?,
                    PlainSide::Left => eval.mul_plain(&ct.comps[j], &pt.comps[i])?,
                };
                accumulate(eval, &mut acc, t, s)?;
            }
            let acc = acc.ok_or_else(|| GeoError::Layout("empty product".into()))?;
            Ok(eval.rescale(&acc)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(PlanarCiphertext { comps })
}

/// The default encrypted geometric product (planar layout): [`gp_planar`].
pub fn gp(
    eval: &Evaluator,
    a: &PlanarCiphertext,
    b: &PlanarCiphertext,
) -> Result<PlanarCiphertext> {
    gp_planar(eval, a, b)
}

// ---------------------------------------------------------------------------------------------
// Interleaved layout
// ---------------------------------------------------------------------------------------------

/// The rotation plan of the interleaved product: for each `dq`, the masks `M_{dp,dq}` over
/// the 8 positions of a block.
fn interleaved_plan() -> BTreeMap<i64, BTreeMap<i64, [i8; BLADES]>> {
    let mut plan: BTreeMap<i64, BTreeMap<i64, [i8; BLADES]>> = BTreeMap::new();
    for (p, row) in CAYLEY.iter().enumerate() {
        for (q, e) in row.iter().enumerate() {
            let k = e.index;
            let (dp, dq) = (p as i64 - k as i64, q as i64 - k as i64);
            plan.entry(dq).or_default().entry(dp).or_insert([0; BLADES])[k] = e.sign;
        }
    }
    plan
}

/// The rotation steps (Galois keys) the interleaved products need: the distinct non-zero
/// offsets `p - k` and `q - k`.
pub fn interleaved_rotation_steps() -> Vec<i64> {
    let plan = interleaved_plan();
    let mut steps: BTreeSet<i64> = plan.keys().copied().collect();
    for m in plan.values() {
        steps.extend(m.keys().copied());
    }
    steps.remove(&0);
    steps.into_iter().collect()
}

/// Cost of [`gp_interleaved`] with `slots` slots.
pub fn interleaved_ct_ct_cost(slots: usize) -> ProductCost {
    let plan = interleaved_plan();
    let dps: BTreeSet<i64> = plan.values().flat_map(|m| m.keys().copied()).collect();
    ProductCost {
        depth: 2,
        tensor_products: plan.len(),
        plaintext_products: plan.values().map(|m| m.len()).sum(),
        rotations: dps.iter().filter(|&&d| d != 0).count()
            + plan.keys().filter(|&&d| d != 0).count(),
        relinearizations: 1,
        rescales: plan.len() + 1,
        multivectors: slots / BLADES,
    }
}

/// Cost of [`gp_interleaved_plain`] with `slots` slots.
pub fn interleaved_ct_pt_cost(slots: usize) -> ProductCost {
    let dps = plain_plan_offsets();
    ProductCost {
        depth: 1,
        tensor_products: 0,
        plaintext_products: dps.len(),
        rotations: dps.iter().filter(|&&d| d != 0).count(),
        relinearizations: 0,
        rescales: 1,
        multivectors: slots / BLADES,
    }
}

/// Encodes `mvs` in the interleaved layout (slot `8i + c`).
pub fn encode_interleaved(
    ctx: &Context,
    mvs: &[Multivector],
    slots: usize,
    level: usize,
    scale: f64,
) -> Result<Plaintext> {
    check_slots(slots, mvs.len(), BLADES)?;
    let v: Vec<Complex64> = mvs
        .iter()
        .flat_map(|m| m.0.iter().map(|&x| Complex64::new(x, 0.0)))
        .collect();
    Ok(ctx.encode(&v, slots, level, scale)?)
}

/// Decrypts the first `count` multivectors of an interleaved ciphertext.
pub fn decrypt_interleaved(
    dec: &Decryptor,
    ct: &Ciphertext,
    count: usize,
) -> Result<Vec<Multivector>> {
    check_slots(ct.slots(), count, BLADES)?;
    let v = dec.decrypt_values(ct)?;
    Ok((0..count)
        .map(|i| Multivector(std::array::from_fn(|c| v[BLADES * i + c].re)))
        .collect())
}

/// A real mask tiled over all blocks of 8.
fn tiled(mask: impl Fn(usize) -> f64, slots: usize) -> Vec<Complex64> {
    (0..slots)
        .map(|s| Complex64::new(mask(s % BLADES), 0.0))
        .collect()
}

/// Encrypted geometric product of two interleaved ciphertexts by masked rotations (module
/// docs). Needs the Galois keys of [`interleaved_rotation_steps`]; depth 2; cost
/// [`interleaved_ct_ct_cost`].
pub fn gp_interleaved(eval: &Evaluator, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
    check_slots(a.slots(), 0, BLADES)?;
    let (a, b) = eval.match_levels(a, b)?;
    let level = a.level();
    if level < 2 {
        return Err(ckks_core::CkksError::LevelTooLow { needed: 2, level }.into());
    }
    let ctx = eval.context();
    let slots = a.slots();
    let q = ctx.params().q()[level] as f64;
    let plan = interleaved_plan();
    let dps: Vec<i64> = plan
        .values()
        .flat_map(|m| m.keys().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let dqs: Vec<i64> = plan.keys().copied().collect();
    let (rot_a, rot_b) = rayon::join(
        || eval.rotate_hoisted(&a, &dps),
        || eval.rotate_hoisted(&b, &dqs),
    );
    let rot_a: BTreeMap<i64, Ciphertext> = dps.iter().copied().zip(rot_a?).collect();
    let rot_b: BTreeMap<i64, Ciphertext> = dqs.iter().copied().zip(rot_b?).collect();
    let terms = plan
        .par_iter()
        .map(|(dq, masks)| -> Result<Ciphertext> {
            let mut sel = None;
            for (dp, mask) in masks {
                let pt = ctx.encode(&tiled(|k| f64::from(mask[k]), slots), slots, level, q)?;
                accumulate(eval, &mut sel, eval.mul_plain(&rot_a[dp], &pt)?, 1)?;
            }
            let sel = sel.ok_or_else(|| GeoError::Layout("empty mask group".into()))?;
            let sel = eval.rescale(&sel)?;
            let bq = eval.drop_to_level(&rot_b[dq], level - 1)?;
            Ok(eval.mul(&sel, &bq)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut acc = None;
    for t in terms {
        accumulate(eval, &mut acc, t, 1)?;
    }
    let acc = acc.ok_or_else(|| GeoError::Layout("empty product".into()))?;
    Ok(eval.rescale(&eval.relinearize(&acc)?)?)
}

/// The offsets `dp = p - k` used by the ciphertext x plaintext interleaved product.
fn plain_plan_offsets() -> Vec<i64> {
    let mut set = BTreeSet::new();
    for (p, row) in CAYLEY.iter().enumerate() {
        for e in row {
            set.insert(p as i64 - e.index as i64);
        }
    }
    set.into_iter().collect()
}

/// Encrypted (interleaved, left operand) x plaintext multivectors `b` (right operand):
/// `Σ_{dp} rot_{dp}(a) ⊙ B_{dp}` with `B_{dp}[8i + k] = sign · b_i[q]` for the term
/// `(k + dp, q) -> k`. The plaintexts are encoded at scale `q_level`, so the output keeps the
/// input's scale. Depth 1; cost [`interleaved_ct_pt_cost`].
pub fn gp_interleaved_plain(
    eval: &Evaluator,
    a: &Ciphertext,
    b: &[Multivector],
) -> Result<Ciphertext> {
    let slots = a.slots();
    check_slots(slots, b.len(), BLADES)?;
    let level = a.level();
    if level < 1 {
        return Err(ckks_core::CkksError::LevelTooLow { needed: 1, level }.into());
    }
    let ctx = eval.context();
    let q = ctx.params().q()[level] as f64;
    let dps = plain_plan_offsets();
    let rots = eval.rotate_hoisted(a, &dps)?;
    let terms = dps
        .par_iter()
        .zip(rots.par_iter())
        .map(|(&dp, rot)| -> Result<Ciphertext> {
            let mut v = vec![Complex64::new(0.0, 0.0); slots];
            for (i, m) in b.iter().enumerate() {
                for k in 0..BLADES {
                    let p = k as i64 + dp;
                    if !(0..BLADES as i64).contains(&p) {
                        continue;
                    }
                    let p = p as usize;
                    if let Some((q, e)) = CAYLEY[p].iter().enumerate().find(|(_, e)| e.index == k) {
                        v[BLADES * i + k] = Complex64::new(f64::from(e.sign) * m.0[q], 0.0);
                    }
                }
            }
            let pt = ctx.encode(&v, slots, level, q)?;
            Ok(eval.mul_plain(rot, &pt)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut acc = None;
    for t in terms {
        accumulate(eval, &mut acc, t, 1)?;
    }
    let acc = acc.ok_or_else(|| GeoError::Layout("empty product".into()))?;
    Ok(eval.rescale(&acc)?)
}

// ---------------------------------------------------------------------------------------------
// Conversion
// ---------------------------------------------------------------------------------------------

/// Converts between 8 planar ciphertexts and 8 interleaved ciphertexts (module docs).
#[derive(Clone, Debug)]
pub struct LayoutConverter {
    slots: usize,
    level: usize,
    spread: LinearTransform,
    gather: LinearTransform,
}

impl LayoutConverter {
    /// Precomputes the spread `t -> 8t` and gather `8t -> t` transforms (`t < slots/8`) for
    /// inputs at `level` (encoded at scale `q_level`, so the output keeps the input's scale at
    /// `level - 1`).
    pub fn new(ctx: &Context, slots: usize, level: usize) -> Result<Self> {
        check_slots(slots, 0, BLADES)?;
        if level < 1 || level > ctx.max_level() {
            return Err(GeoError::Layout(format!(
                "conversion needs a level in 1..={}, got {level}",
                ctx.max_level()
            )));
        }
        let q = ctx.params().q()[level] as f64;
        let m = slots / BLADES;
        let one = Complex64::new(1.0, 0.0);
        // M[dest][src] = 1; diagonal k = (src - dest) mod slots, d_k[dest] = 1.
        let diagonals = |pairs: Vec<(usize, usize)>| {
            let mut d: BTreeMap<usize, Vec<Complex64>> = BTreeMap::new();
            for (dest, src) in pairs {
                let k = (src + slots - dest) % slots;
                d.entry(k)
                    .or_insert_with(|| vec![Complex64::new(0.0, 0.0); slots])[dest] = one;
            }
            d
        };
        let spread = diagonals((0..m).map(|t| (BLADES * t, t)).collect());
        let gather = diagonals((0..m).map(|t| (t, BLADES * t)).collect());
        Ok(Self {
            slots,
            level,
            spread: LinearTransform::from_diagonals(ctx, &spread, slots, level, q)?,
            gather: LinearTransform::from_diagonals(ctx, &gather, slots, level, q)?,
        })
    }

    /// The rotation steps whose Galois keys the conversions need.
    pub fn rotation_steps(&self) -> Vec<i64> {
        let m = (self.slots / BLADES) as i64;
        let mut s: BTreeSet<i64> = self.spread.rotations().into_iter().collect();
        s.extend(self.gather.rotations());
        for c in 1..BLADES as i64 {
            s.insert(c);
            s.insert(-c);
            s.insert(c * m);
            s.insert(-c * m);
        }
        s.into_iter().collect()
    }

    /// Input level.
    pub fn level(&self) -> usize {
        self.level
    }

    fn rot(eval: &Evaluator, ct: &Ciphertext, k: i64) -> Result<Ciphertext> {
        Ok(if k == 0 {
            ct.clone()
        } else {
            eval.rotate(ct, k)?
        })
    }

    /// Planar (`slots` multivectors) -> 8 interleaved ciphertexts (`slots/8` each).
    pub fn to_interleaved(
        &self,
        eval: &Evaluator,
        planar: &PlanarCiphertext,
    ) -> Result<Vec<Ciphertext>> {
        self.check(planar.components())?;
        let m = (self.slots / BLADES) as i64;
        (0..BLADES as i64)
            .into_par_iter()
            .map(|j| -> Result<Ciphertext> {
                let mut acc = None;
                for (c, comp) in planar.components().iter().enumerate() {
                    let x = Self::rot(eval, comp, j * m)?;
                    let y = self.spread.evaluate(eval, &x)?;
                    accumulate(eval, &mut acc, Self::rot(eval, &y, -(c as i64))?, 1)?;
                }
                let acc = acc.ok_or_else(|| GeoError::Layout("empty".into()))?;
                Ok(eval.rescale(&acc)?)
            })
            .collect()
    }

    /// 8 interleaved ciphertexts -> planar.
    pub fn to_planar(
        &self,
        eval: &Evaluator,
        interleaved: &[Ciphertext],
    ) -> Result<PlanarCiphertext> {
        self.check(interleaved)?;
        let m = (self.slots / BLADES) as i64;
        let comps = (0..BLADES)
            .into_par_iter()
            .map(|c| -> Result<Ciphertext> {
                let mut acc = None;
                for (j, ct) in interleaved.iter().enumerate() {
                    let x = Self::rot(eval, ct, c as i64)?;
                    let y = self.gather.evaluate(eval, &x)?;
                    accumulate(eval, &mut acc, Self::rot(eval, &y, -(j as i64) * m)?, 1)?;
                }
                let acc = acc.ok_or_else(|| GeoError::Layout("empty".into()))?;
                Ok(eval.rescale(&acc)?)
            })
            .collect::<Result<Vec<_>>>()?;
        PlanarCiphertext::from_components(comps)
    }

    fn check(&self, cts: &[Ciphertext]) -> Result<()> {
        if cts.len() != BLADES
            || cts
                .iter()
                .any(|c| c.slots() != self.slots || c.level() != self.level)
        {
            return Err(GeoError::Layout(format!(
                "conversion expects {BLADES} ciphertexts with {} slots at level {}",
                self.slots, self.level
            )));
        }
        Ok(())
    }
}
