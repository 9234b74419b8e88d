//! Bootstrapping (Cheon, Han, Kim, Kim, Song, *Bootstrapping for approximate HE*,
//! Eurocrypt 2018), full slots, in its direct form:
//!
//! 1. **ModRaise**: a ciphertext at level 0 decrypts to `t = Δm + e (mod q_0)`; lifting its
//!    coefficients (centered) to the full chain `Q_L` gives a ciphertext of
//!    `t + q_0 I` with a small integer polynomial `I` (`|I| <= (h + 1)/2` for a secret of
//!    Hamming weight `h`, typically a few units). It is labelled with scale `q_0`, so its
//!    "values" are `x = I + t/q_0`.
//! 2. **CoeffToSlot**: the inverse of the encoder's special FFT moves the coefficients into the
//!    slots. It is applied without its normalization (butterflies with entries of magnitude
//!    1, so the encoded diagonals keep the full precision of their `q_ℓ`): slot `j` gets
//!    `n (x_j + i x_{j+N/2})` (`n = N/2`; slots in bit-reversed order, see [`super::dft`]), and
//!    a conjugation separates the real and the imaginary parts `2n x`. It is `cts_levels`
//!    sparse transforms (groups of butterfly stages), one level each.
//! 3. **Change of scale** (one level): the parts are relabelled as ciphertexts of
//!    `t = x / K` at scale `2nK q_0` (exact: only the label changes), then brought to
//!    EvalMod's working scale (about `2^60`) by an integer multiplication and a rescale
//!    ([`Bootstrapper`]'s `scale_down`). The rescale is the only rounding between ModRaise
//!    and EvalMod at a scale below `2^80`, so the CoeffToSlot noise is negligible.
//! 4. **EvalMod** ([`super::eval_mod`]): a polynomial `g(t) ≈ x - I`, evaluated towards the
//!    exact scale `q_0`: the output decrypts to `q_0 g ≈ Δm + e`, so relabelling it with the
//!    message scale `Δ` gives back `m` (the "message ratio" `q_0 / Δ` of Bossuat et al. 2021).
//! 5. **SlotToCoeff**: the special FFT puts `m_j + i m_{j+N/2}` back into coefficients
//!    (`stc_levels` sparse transforms).
//!
//! Levels, from the top of the chain: CoeffToSlot `cts_levels`, the change of scale 1,
//! EvalMod [`EvalMod::depth`], SlotToCoeff `stc_levels`; see [`super::bootstrap_params`] for
//! the layout of the chain and the failure probability.
//!
//! **Sparse-secret encapsulation** (Bossuat, Troncoso-Pastoriza, Hubaux, *Bootstrapping for
//! approximate HE with negligible failure probability using sparse-secret encapsulation*,
//! ACNS 2022): with a dense user key `s`, the level-0 ciphertext is first switched to an
//! ephemeral sparse key `s'` (Hamming weight `h`) with a switching key that lives only over
//! `q_0 P` (small modulus, so the sparse RLWE instance stays hard), ModRaise happens under `s'`
//! (so `|I|` stays small), and the raised ciphertext is switched back to `s` at the top level.
//! Everything else runs under `s` with the ordinary keys.
//!
//! EvalMod (see [`super::eval_mod`]) is a Chebyshev sine, or a cosine with double-angle steps,
//! optionally followed by an arcsine correction. [`Bootstrapper::bootstrap_iterated`] is the iterated variant of META-BTS
//! (Bae, Cheon, Cho, Kim, Kim, CCS 2022): the error of one pass is bootstrapped again at a
//! larger scale and subtracted, for about twice the precision at the cost of one level.
//! Full slots (`N/2`) and fewer slots ([`Bootstrapper::with_slots`]) are handled.

use super::eval_mod::{EvalMod, EvalModConfig};
use super::linear::{DiagonalStorage, Hoisting, LinearTransform};
use super::{dft, snap_scale};
use crate::ckks::serialize::{
    decode_exact, decode_swk_at, encode, encode_swk, Serializable, WireSwitchingKey,
};
use crate::ckks::{Ciphertext, Context, EvaluationKeys, Evaluator};
use crate::error::{CkksError, Result};
use crate::ring::{Basis, Form};
use crate::rlwe::{KeyGenerator, SecretKey, SwitchingKey};
use num_complex::Complex64;
use std::time::{Duration, Instant};

/// Settings of the bootstrapping circuit.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BootstrapConfig {
    /// EvalMod: interval, interpolant, double angle, arcsine.
    pub eval_mod: EvalModConfig,
    /// Levels (sparse transforms) of CoeffToSlot.
    pub cts_levels: usize,
    /// Levels (sparse transforms) of SlotToCoeff.
    pub stc_levels: usize,
    /// How CoeffToSlot and SlotToCoeff hold their diagonals: encoded once (default), or
    /// deferred and encoded at every bootstrap (a fraction of the memory, for a server that
    /// also holds a network's keys and weights).
    #[serde(default)]
    pub diagonals: DiagonalStorage,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            eval_mod: EvalModConfig::default(),
            cts_levels: 3,
            stc_levels: 3,
            diagonals: DiagonalStorage::Encoded,
        }
    }
}

impl BootstrapConfig {
    /// Levels consumed between CoeffToSlot and SlotToCoeff: the change of scale to `x / K`
    /// (one level, see [`Bootstrapper::bootstrap`]) and EvalMod.
    pub fn eval_mod_depth(&self) -> Result<usize> {
        Ok(1 + EvalMod::new(self.eval_mod)?.depth())
    }

    /// Levels consumed by the whole circuit (CoeffToSlot, EvalMod, SlotToCoeff).
    pub fn depth(&self) -> Result<usize> {
        Ok(self.cts_levels + self.eval_mod_depth()? + self.stc_levels)
    }
}

/// Wall-clock time of each step of one bootstrap.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BootstrapTimings {
    /// Key switches of encapsulation, ModRaise and (fewer slots) the trace.
    pub mod_raise: Duration,
    /// CoeffToSlot and the real/imaginary split.
    pub coeff_to_slot: Duration,
    /// The change of scale and EvalMod (twice for full slots: real and imaginary parts).
    pub eval_mod: Duration,
    /// SlotToCoeff.
    pub slot_to_coeff: Duration,
}

impl BootstrapTimings {
    /// Sum of the steps.
    pub fn total(&self) -> Duration {
        self.mod_raise + self.coeff_to_slot + self.eval_mod + self.slot_to_coeff
    }
}

/// The two switching keys of sparse-secret encapsulation.
#[derive(Clone, Debug)]
pub struct EncapsulationKeys {
    /// From the user key `s` to the ephemeral sparse `s'`, over `q_0 P` only.
    to_sparse: SwitchingKey,
    /// From `s'` back to `s`, over the whole chain.
    to_dense: SwitchingKey,
}

impl EncapsulationKeys {
    /// Draws an ephemeral secret of Hamming weight `h` and the two switching keys; the
    /// ephemeral secret is dropped (zeroized) on return.
    pub fn generate(kg: &mut KeyGenerator<'_>, sk: &SecretKey, h: usize) -> Self {
        let sparse = kg.secret_key(Some(h));
        Self {
            to_sparse: kg.switching_key_at(kg.secret_poly(sk), &sparse, 0),
            to_dense: kg.switching_key(kg.secret_poly(&sparse), sk),
        }
    }

    /// Bytes the two keys occupy in memory.
    pub fn memory_bytes(&self) -> usize {
        self.to_sparse.memory_bytes() + self.to_dense.memory_bytes()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct WireEncapsulationKeys {
    to_sparse: WireSwitchingKey,
    to_dense: WireSwitchingKey,
}

/// Encapsulation keys travel with the evaluation keys (the server needs them to bootstrap):
/// the same envelope, seeds and validation as every other key
/// ([`crate::ckks::serialize`]); the key to the sparse secret is read back at level 0 only.
impl Serializable for EncapsulationKeys {
    const KIND: u8 = 8;
    fn encode_body(&self, ctx: &Context, compressed: bool) -> Result<Vec<u8>> {
        encode(&WireEncapsulationKeys {
            to_sparse: encode_swk(ctx, &self.to_sparse, compressed),
            to_dense: encode_swk(ctx, &self.to_dense, compressed),
        })
    }
    fn decode_body(ctx: &Context, body: &[u8]) -> Result<Self> {
        let w: WireEncapsulationKeys = decode_exact(body)?;
        Ok(Self {
            to_sparse: decode_swk_at(ctx, &w.to_sparse, 0)?,
            to_dense: decode_swk_at(ctx, &w.to_dense, ctx.max_level())?,
        })
    }
}

/// Precomputed bootstrapping circuit for one context.
pub struct Bootstrapper {
    ctx: Context,
    /// Slots `n` of the ciphertexts it bootstraps (`N/2`: full slots).
    slots: usize,
    /// Rotations `n 2^j` of the trace to the subring (sparse slots only).
    trace_steps: Vec<i64>,
    coeff_to_slot: Vec<LinearTransform>,
    slot_to_coeff: Vec<LinearTransform>,
    eval_mod: EvalMod,
    output_level: usize,
}

impl Bootstrapper {
    /// Precomputes CoeffToSlot, SlotToCoeff and EvalMod for `ctx` (full slots).
    pub fn new(ctx: &Context, config: BootstrapConfig) -> Result<Self> {
        Self::with_slots(ctx, config, ctx.params().max_slots())
    }

    /// Precomputes the circuit for ciphertexts of `slots` slots (a power of two up to `N/2`).
    ///
    /// With fewer slots (`n < N/2`, message in `Z[Y]/(Y^{2n} + 1)`, `Y = X^{N/2n}`), ModRaise is
    /// followed by the trace to that subring, `Σ_j σ_{5^{n j}}` over the `N/2n` automorphisms
    /// that fix `Y` (computed as `log2(N/2n)` rotations by `n 2^j` and additions), which cancels
    /// the part of `q_0 I` outside the subring and multiplies the rest by `N/2n`. The `2n` real
    /// coefficients then fit in one `2n`-slot ciphertext: the last CoeffToSlot transform also
    /// multiplies by `diag(1/2, -i/2)` (halves of the `2n`-slot view), so that one conjugation
    /// and addition leave coefficient `j` in slot `j`; EvalMod runs once instead of twice, and
    /// the first SlotToCoeff transform recombines `z_j + i z_{j+n}` (Chen, Chillotti, Song,
    /// Eurocrypt 2019, §4; Bossuat et al., Eurocrypt 2021, §3).
    pub fn with_slots(ctx: &Context, config: BootstrapConfig, slots: usize) -> Result<Self> {
        let max = ctx.params().max_slots();
        if !slots.is_power_of_two() || slots > max || slots < 2 {
            return Err(CkksError::InvalidParameters(format!(
                "bootstrapping handles a power-of-two slot count in [2, N/2 = {max}], not {slots}"
            )));
        }
        let n = slots;
        let eval_mod = EvalMod::new(config.eval_mod)?;
        let stages = n.trailing_zeros() as usize;
        let (cts_levels, stc_levels) = (config.cts_levels, config.stc_levels);
        if !(1..=stages).contains(&cts_levels) || !(1..=stages).contains(&stc_levels) {
            return Err(CkksError::InvalidParameters(format!(
                "{n} slots have {stages} butterfly stages: CoeffToSlot and SlotToCoeff need 1 to \
                 {stages} levels each (got {cts_levels} and {stc_levels}); lay the chain out for \
                 a configuration with fewer transform levels"
            )));
        }
        let top = ctx.max_level();
        let needed = cts_levels + 1 + eval_mod.depth() + stc_levels;
        if top < needed {
            return Err(CkksError::InvalidParameters(format!(
                "bootstrapping needs {needed} levels above the output, the chain has {top}"
            )));
        }
        let q = ctx.params().q();
        let fft = &ctx.0.fft;
        let encode = |groups: Vec<(dft::Diagonals, usize)>,
                      first_level: usize|
         -> Result<Vec<LinearTransform>> {
            groups
                .iter()
                .enumerate()
                .map(|(i, (d, width))| {
                    let level = first_level - i;
                    LinearTransform::from_diagonals_with(
                        ctx,
                        d,
                        *width,
                        level,
                        q[level] as f64,
                        config.diagonals,
                        Hoisting::Double,
                    )
                })
                .collect()
        };
        // unnormalized butterflies (entries of magnitude 1, encoded at full precision); the
        // factor 1/n goes into the change of scale after CoeffToSlot
        let mut cts: Vec<(dft::Diagonals, usize)> =
            dft::coeff_to_slot(fft, n, cts_levels, n as f64)
                .into_iter()
                .map(|d| (d, n))
                .collect();
        let mut stc: Vec<(dft::Diagonals, usize)> = dft::slot_to_coeff(fft, n, stc_levels)
            .into_iter()
            .map(|d| (d, n))
            .collect();
        if n < max {
            let last = cts.len() - 1;
            cts[last] = (split_into_halves(&cts[last].0, n), 2 * n);
            stc[0] = (join_halves(&stc[0].0, n), 2 * n);
        }
        let coeff_to_slot = encode(cts, top)?;
        let stc_level = top - cts_levels - 1 - eval_mod.depth();
        let slot_to_coeff = encode(stc, stc_level)?;
        let trace_steps = std::iter::successors(Some(n), |&s| (2 * s < max).then_some(2 * s))
            .filter(|_| n < max)
            .map(|s| s as i64)
            .collect();
        Ok(Self {
            ctx: ctx.clone(),
            slots,
            trace_steps,
            output_level: stc_level - slot_to_coeff.len(),
            coeff_to_slot,
            slot_to_coeff,
            eval_mod,
        })
    }

    /// Rotation steps whose Galois keys bootstrapping needs (plus conjugation and relinearization).
    pub fn rotations(&self) -> Vec<i64> {
        let mut r: Vec<i64> = self
            .coeff_to_slot
            .iter()
            .chain(&self.slot_to_coeff)
            .flat_map(LinearTransform::rotations)
            .chain(self.trace_steps.iter().copied())
            .collect();
        r.sort_unstable();
        r.dedup();
        r
    }

    /// Every rotation step bootstrapping uses, with the highest level it is applied at: the
    /// trace at the top, each CoeffToSlot and SlotToCoeff transform at its own level. Keys
    /// generated to just that level ([`EvaluationKeys::generate_leveled`]) live over
    /// `Q_ℓ P` with `ceil((ℓ + 1) / α)` digits instead of `Q_L P` with `dnum`: SlotToCoeff runs
    /// below EvalMod, so its keys are a fraction of a full key (see [`generate_keys`](Self::generate_keys)).
    pub fn rotation_levels(&self) -> Vec<(i64, usize)> {
        let top = self.ctx.max_level();
        let mut levels: std::collections::BTreeMap<i64, usize> = Default::default();
        let uses = self
            .coeff_to_slot
            .iter()
            .chain(&self.slot_to_coeff)
            .flat_map(|t| t.rotations().into_iter().map(move |r| (r, t.level())))
            .chain(self.trace_steps.iter().map(|&r| (r, top)));
        for (r, l) in uses {
            let e = levels.entry(r).or_insert(l);
            *e = (*e).max(l);
        }
        levels.into_iter().collect()
    }

    /// Level of the conjugation that separates real and imaginary parts (the CoeffToSlot
    /// output's level: each transform is followed by a rescale).
    pub fn conjugation_level(&self) -> usize {
        let top = self.ctx.max_level();
        self.coeff_to_slot
            .last()
            .map_or(top, |t| t.level().saturating_sub(1))
    }

    /// The evaluation keys bootstrapping needs (relinearization, conjugation and the
    /// [`rotations`](Self::rotations)), each Galois key generated only up to the highest level
    /// it serves ([`rotation_levels`](Self::rotation_levels),
    /// [`conjugation_level`](Self::conjugation_level)). The relinearization key stays full: EvalMod
    /// multiplies from the top of its levels down.
    pub fn generate_keys(&self, kg: &mut KeyGenerator<'_>, sk: &SecretKey) -> EvaluationKeys {
        EvaluationKeys::generate_leveled(
            &self.ctx,
            kg,
            sk,
            true,
            &self.rotation_levels(),
            Some(self.conjugation_level()),
        )
    }

    /// Slot count of the ciphertexts this bootstrapper handles.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Level of bootstrapped ciphertexts.
    pub fn output_level(&self) -> usize {
        self.output_level
    }

    /// ModRaise: the level-0 ciphertext's coefficients lifted (centered) to the whole chain,
    /// labelled with scale `q_0`.
    pub fn mod_raise(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        self.ctx.check_ciphertext(ct)?;
        if ct.level() != 0 {
            return Err(CkksError::LevelMismatch(ct.level(), 0));
        }
        let ring = self.ctx.ring();
        let q0 = ring.q()[0];
        let top = self.ctx.max_level();
        let c =
            ct.c.iter()
                .map(|ci| {
                    let mut p = ci.clone();
                    if p.form == Form::Eval {
                        ring.intt(&mut p);
                    }
                    let lifted: Vec<i64> = p.limb(0).iter().map(|&x| q0.center(x)).collect();
                    ring.from_signed_eval(&lifted, Basis::q(top))
                })
                .collect();
        Ok(Ciphertext {
            c,
            scale: q0.value() as f64,
            slots: ct.slots,
            seed: None,
        })
    }

    /// Bootstraps a full-slot ciphertext (any level; it is first dropped to level 0): returns
    /// a ciphertext of the same values and scale at [`output_level`](Self::output_level).
    ///
    /// With `encapsulation`, the user key may be dense (ModRaise happens under the ephemeral
    /// sparse key); without it, the user key itself must be sparse for `|I| < K`.
    pub fn bootstrap(
        &self,
        eval: &Evaluator,
        encapsulation: Option<&EncapsulationKeys>,
        ct: &Ciphertext,
    ) -> Result<Ciphertext> {
        Ok(self.bootstrap_timed(eval, encapsulation, ct)?.0)
    }

    /// [`bootstrap`](Self::bootstrap), also returning the time of each step.
    pub fn bootstrap_timed(
        &self,
        eval: &Evaluator,
        encapsulation: Option<&EncapsulationKeys>,
        ct: &Ciphertext,
    ) -> Result<(Ciphertext, BootstrapTimings)> {
        if ct.slots() != self.slots {
            return Err(CkksError::InvalidParameters(format!(
                "this bootstrapper handles {} slots, the ciphertext has {}",
                self.slots,
                ct.slots()
            )));
        }
        let mut timings = BootstrapTimings::default();
        let mut clock = Instant::now();
        let mut lap = |slot: &mut Duration| {
            *slot = clock.elapsed();
            clock = Instant::now();
        };
        let scale = ct.scale();
        let bottom = eval.drop_to_level(ct, 0)?;
        if bottom.degree() != 1 {
            return Err(CkksError::Degree(bottom.degree(), 1));
        }
        let raised = match encapsulation {
            None => self.mod_raise(&bottom)?,
            Some(keys) => {
                let sparse = eval.key_switch(&bottom, &keys.to_sparse)?;
                eval.key_switch(&self.mod_raise(&sparse)?, &keys.to_dense)?
            }
        };
        let raised = self.trace(eval, raised)?;
        lap(&mut timings.mod_raise);
        // CoeffToSlot: y = n BR(F^{-1} z) at scale q_0 (each transform's scale q_ℓ is rescaled
        // away); the parts 2n x (full slots: two ciphertexts; sparse: one of 2n slots, times
        // the trace's factor N/2n)
        let y = self.apply(eval, &self.coeff_to_slot, raised)?;
        let y_conj = eval.conjugate(&y)?;
        let k = self.eval_mod.config().k;
        let max = self.ctx.params().max_slots();
        let q0 = self.ctx.params().q()[0] as f64;
        // EvalMod towards the exact scale q_0, relabelled with the message scale
        let reduce = |v: &Ciphertext, divisor: f64| -> Result<Ciphertext> {
            let out = self
                .eval_mod
                .evaluate(eval, &self.scale_down(eval, v, divisor)?, q0)?;
            Ok(Ciphertext { scale, ..out })
        };
        let u = if self.slots == max {
            let re = eval.add(&y, &y_conj)?;
            let i_im = eval.sub(&y, &y_conj)?;
            let im = eval.mul_const_with_scale(&i_im, Complex64::new(0.0, -1.0), 1.0)?;
            lap(&mut timings.coeff_to_slot);
            let divisor = 2.0 * max as f64 * k;
            let (re, im) = (reduce(&re, divisor)?, reduce(&im, divisor)?);
            eval.add(
                &re,
                &eval.mul_const_with_scale(&im, Complex64::new(0.0, 1.0), 1.0)?,
            )?
        } else {
            let z = eval.add(&y, &y_conj)?;
            lap(&mut timings.coeff_to_slot);
            // n (unnormalized CoeffToSlot) x N/2n (trace) x K
            reduce(&z, max as f64 * k)?
        };
        lap(&mut timings.eval_mod);
        // SlotToCoeff
        let u = eval.drop_to_level(&u, self.slot_to_coeff[0].level())?;
        let mut out = self.apply(eval, &self.slot_to_coeff, u)?;
        out.slots = self.slots;
        lap(&mut timings.slot_to_coeff);
        Ok((out, timings))
    }

    /// Iterated bootstrapping (META-BTS, Bae et al., CCS 2022, §3): with `c_1 = BTS(c)` of
    /// error `e_1`, the difference `c - c_1` (at level 0) encrypts `-e_1`; multiplied by the
    /// integer `2^gain_log2` it fills the message range, is bootstrapped again (error `e_2`)
    /// and added back after multiplying by `2^{-gain_log2}`, so the result has error
    /// `e_2 / 2^gain_log2`. Choose `gain_log2` a few bits below the precision of one pass (the
    /// amplified difference must stay within the range of the messages). Costs two bootstraps
    /// and one level: the output is at [`output_level`](Self::output_level) `- 1`.
    pub fn bootstrap_iterated(
        &self,
        eval: &Evaluator,
        encapsulation: Option<&EncapsulationKeys>,
        ct: &Ciphertext,
        gain_log2: u32,
    ) -> Result<Ciphertext> {
        if self.output_level == 0 || !(1..=40).contains(&gain_log2) {
            return Err(CkksError::InvalidParameters(format!(
                "iterated bootstrapping needs an output level >= 1 (have {}) and a gain of 1..=40 bits (got {gain_log2})",
                self.output_level
            )));
        }
        let bottom = eval.drop_to_level(ct, 0)?;
        let first = self.bootstrap(eval, encapsulation, &bottom)?;
        let diff = eval.sub(&bottom, &eval.drop_to_level(&first, 0)?)?;
        let amplified = eval.mul_integer(&diff, 1i64 << gain_log2)?;
        let correction = self.bootstrap(eval, encapsulation, &amplified)?;
        // multiply by 2^-gain (mul_const encodes at q_ℓ, so the rescale keeps the scale)
        let shrunk = eval.rescale(&eval.mul_const(
            &correction,
            Complex64::new((-(gain_log2 as f64)).exp2(), 0.0),
        )?)?;
        let shrunk = snap_scale(shrunk, first.scale())?;
        eval.add(&eval.drop_to_level(&first, shrunk.level())?, &shrunk)
    }

    /// The trace to the subring of `n`-slot messages: `log2(N/2n)` rotations by `n 2^j` and
    /// additions (nothing for full slots).
    fn trace(&self, eval: &Evaluator, mut ct: Ciphertext) -> Result<Ciphertext> {
        for &step in &self.trace_steps {
            let rotated = eval.rotate(&ct, step)?;
            eval.add_assign(&mut ct, &rotated)?;
        }
        Ok(ct)
    }

    /// The change of scale before EvalMod: a ciphertext of `v` at scale `S` is relabelled as one
    /// of `v / divisor` at scale `S · divisor` (no computation, no error), multiplied by the
    /// integer `k = round(q_ℓ^2 / (S · divisor))` and rescaled by `q_ℓ`, which brings its scale
    /// to `S · divisor · k / q_ℓ ≈ q_ℓ`, EvalMod's working scale. Because `k` is an integer
    /// scalar, nothing is rounded but the rescale itself, unlike folding `1/divisor` into
    /// encoded diagonals, whose precision would shrink with `divisor` (`2 n K ≈ 2^20` at
    /// `N = 2^16`).
    fn scale_down(&self, eval: &Evaluator, ct: &Ciphertext, divisor: f64) -> Result<Ciphertext> {
        let q = self.ctx.params().q()[ct.level()] as f64;
        let relabelled = ct.scale() * divisor;
        let k = (q * q / relabelled).round();
        if k < 1.0 {
            return Err(CkksError::InvalidParameters(format!(
                "the CoeffToSlot output scale 2^{:.1} is too large for level {}",
                relabelled.log2(),
                ct.level()
            )));
        }
        let scaled = eval.mul_const_with_scale(
            &Ciphertext {
                scale: relabelled,
                ..ct.clone()
            },
            Complex64::new(1.0, 0.0),
            k,
        )?;
        eval.rescale(&scaled)
    }

    /// Applies transforms whose diagonals are encoded at the scale `q_ℓ` of their level, each
    /// followed by a rescale, so that the scale is unchanged (up to its floating-point
    /// rounding, which is snapped back).
    fn apply(
        &self,
        eval: &Evaluator,
        transforms: &[LinearTransform],
        mut ct: Ciphertext,
    ) -> Result<Ciphertext> {
        let scale = ct.scale;
        for lt in transforms {
            // an n-slot message is n-periodic in every wider view, and the joining transform
            // of sparse SlotToCoeff leaves an n-periodic result: the relabelling is exact
            ct.slots = lt.slots();
            ct = snap_scale(eval.rescale(&lt.evaluate(eval, &ct)?)?, scale)?;
        }
        ct.slots = self.slots.min(ct.slots);
        Ok(ct)
    }
}

/// The last CoeffToSlot transform of sparse bootstrapping, on `2n` slots: `diag(1/2, -i/2) · M`
/// for the `n`-slot transform `M` applied to an `n`-periodic input (offsets stay below `n`).
fn split_into_halves(m: &dft::Diagonals, n: usize) -> dft::Diagonals {
    let half = Complex64::new(0.5, 0.0);
    let minus_i_half = Complex64::new(0.0, -0.5);
    m.iter()
        .map(|(&k, d)| {
            let wide = (0..2 * n)
                .map(|s| d[s % n] * if s < n { half } else { minus_i_half })
                .collect();
            (k, wide)
        })
        .collect()
}

/// The first SlotToCoeff transform of sparse bootstrapping, on `2n` slots: `M · J` where
/// `(J z)_s = z_s + i z_{s+n}` for `s < n` and `z_{s-n} + i z_s` above (an `n`-periodic
/// vector of `z_j + i z_{j+n}`), and `M` is the `n`-slot transform on that periodic vector.
fn join_halves(m: &dft::Diagonals, n: usize) -> dft::Diagonals {
    let one = Complex64::new(1.0, 0.0);
    let i = Complex64::new(0.0, 1.0);
    let wide_m: dft::Diagonals = m
        .iter()
        .map(|(&k, d)| (k, (0..2 * n).map(|s| d[s % n]).collect()))
        .collect();
    let join: dft::Diagonals = [
        (0, (0..2 * n).map(|s| if s < n { one } else { i }).collect()),
        (n, (0..2 * n).map(|s| if s < n { i } else { one }).collect()),
    ]
    .into_iter()
    .collect();
    dft::mul_diagonals(&wide_m, &join, 2 * n)
}
