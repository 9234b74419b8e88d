//! Bootstrapping (Cheon, Han, Kim, Kim, Song, *Bootstrapping for approximate HE*,
//! Eurocrypt 2018), full slots, in its direct form:
//!
//! 1. **ModRaise**: a ciphertext at level 0 decrypts to `t = Δm + e (mod q_0)`; lifting its
//!    coefficients (centered) to the full chain `Q_L` gives a ciphertext of
//!    `t + q_0 I` with a small integer polynomial `I` (`|I| <= (h + 1)/2` for a secret of
//!    Hamming weight `h`, typically a few units). It is labelled with scale `q_0`, so its
//!    "values" are `x = I + t/q_0`.
//! 2. **CoeffToSlot**: the inverse of the encoder's special FFT, `F^{-1}`, moves the
//!    coefficients into the slots: slot `j` gets `(x_j + i x_{j+N/2}) / 2` (the `1/2` folded
//!    into the matrix; slots in bit-reversed order, see [`super::dft`]); a conjugation
//!    separates the real and the imaginary parts. `F^{-1}` is applied as `cts_levels` sparse
//!    transforms (groups of butterfly stages), one level each.
//! 3. **EvalMod**: `g(x) = sin(2πx) / (2π) ≈ x - I` for `|x - I|` small, by Chebyshev
//!    interpolation on `[-K, K]` (baby-step giant-step), evaluated towards the exact working
//!    scale `q_0`: the output
//!    decrypts to `q_0 g(x) ≈ Δm + e`, so relabelling it with the message scale `Δ` gives back
//!    `m` (the "message ratio" `q_0 / Δ` of Bossuat et al. 2021).
//! 4. **SlotToCoeff**: the special FFT `F` puts `m_j + i m_{j+N/2}` back into coefficients
//!    (`stc_levels` sparse transforms).
//!
//! Levels, from the top of the chain: CoeffToSlot `cts_levels`, EvalMod
//! `ceil(log2(d+1)) + 1`, SlotToCoeff `stc_levels`. The chain is therefore laid out as `q_0`
//! (about `log2 Δ + 10` bits), the levels left for computation (at `Δ`), the SlotToCoeff
//! primes, the EvalMod primes (about the size of `q_0`, since EvalMod works at scale `q_0`),
//! the CoeffToSlot primes.
//!
//! **Sparse-secret encapsulation** (Bossuat, Troncoso-Pastoriza, Hubaux, *Bootstrapping for
//! approximate HE with negligible failure probability using sparse-secret encapsulation*,
//! ACNS 2022): with a dense user key `s`, the level-0 ciphertext is first switched to an
//! ephemeral sparse key `s'` (Hamming weight `h`) with a switching key that lives only over
//! `q_0 P` (small modulus, so the sparse RLWE instance stays hard), ModRaise happens under `s'`
//! (so `|I|` stays small), and the raised ciphertext is switched back to `s` at the top level.
//! Everything else runs under `s` with the ordinary keys.
//!
//! Still missing from this version: EvalMod is a plain Chebyshev sine without double-angle or
//! arcsine steps, only full slots are handled, and there is no iterated variant.

use super::linear::LinearTransform;
use super::polynomial::{Polynomial, PolynomialEvaluator};
use super::{dft, snap_scale};
use crate::ckks::{Ciphertext, Context, Evaluator};
use crate::error::{CkksError, Result};
use crate::ring::{Basis, Form};
use crate::rlwe::{KeyGenerator, SecretKey, SwitchingKey};
use num_complex::Complex64;
use std::f64::consts::PI;

/// Settings of the bootstrapping circuit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BootstrapConfig {
    /// EvalMod interval `[-K, K]` (must exceed `max |I| + 1`).
    pub k: f64,
    /// Degree of the Chebyshev sine.
    pub sine_degree: usize,
    /// Levels (sparse transforms) of CoeffToSlot.
    pub cts_levels: usize,
    /// Levels (sparse transforms) of SlotToCoeff.
    pub stc_levels: usize,
    /// Baby steps `2^eval_mod_baby_log` of the EvalMod polynomial (1: optimal depth, about
    /// `d/2` products; 4: one more level, about a third of the products at degree 127).
    pub eval_mod_baby_log: usize,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            k: 13.0,
            sine_degree: 127,
            cts_levels: 3,
            stc_levels: 3,
            eval_mod_baby_log: 4,
        }
    }
}

impl BootstrapConfig {
    /// The EvalMod polynomial: the Chebyshev interpolant of `sin(2πx)/(2π)` on `[-K, K]`.
    pub fn eval_mod_polynomial(&self) -> Result<Polynomial> {
        Polynomial::interpolate(
            |x| (2.0 * PI * x).sin() / (2.0 * PI),
            -self.k,
            self.k,
            self.sine_degree,
        )
    }

    /// Levels consumed by EvalMod (including the change of variable).
    pub fn eval_mod_depth(&self) -> Result<usize> {
        Ok(PolynomialEvaluator::depth_bsgs(
            &self.eval_mod_polynomial()?,
            self.eval_mod_baby_log,
        ))
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
}

/// Precomputed bootstrapping circuit for one context.
pub struct Bootstrapper {
    ctx: Context,
    coeff_to_slot: Vec<LinearTransform>,
    slot_to_coeff: Vec<LinearTransform>,
    eval_mod: Polynomial,
    eval_mod_baby_log: usize,
    output_level: usize,
}

impl Bootstrapper {
    /// Precomputes CoeffToSlot, SlotToCoeff and EvalMod for `ctx` (full slots).
    pub fn new(ctx: &Context, config: BootstrapConfig) -> Result<Self> {
        let n = ctx.params().max_slots();
        let eval_mod = config.eval_mod_polynomial()?;
        let eval_mod_depth = config.eval_mod_depth()?;
        let stages = n.trailing_zeros() as usize;
        let (cts_levels, stc_levels) = (
            config.cts_levels.clamp(1, stages.max(1)),
            config.stc_levels.clamp(1, stages.max(1)),
        );
        let top = ctx.max_level();
        let needed = cts_levels + eval_mod_depth + stc_levels;
        if top < needed {
            return Err(CkksError::InvalidParameters(format!(
                "bootstrapping needs {needed} levels above the output, the chain has {top}"
            )));
        }
        let q = ctx.params().q();
        let fft = &ctx.0.fft;
        let encode =
            |groups: Vec<dft::Diagonals>, first_level: usize| -> Result<Vec<LinearTransform>> {
                groups
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        let level = first_level - i;
                        LinearTransform::from_diagonals(ctx, d, n, level, q[level] as f64)
                    })
                    .collect()
            };
        let coeff_to_slot = encode(dft::coeff_to_slot(fft, n, cts_levels, 0.5), top)?;
        let stc_level = top - cts_levels - eval_mod_depth;
        let slot_to_coeff = encode(dft::slot_to_coeff(fft, n, stc_levels), stc_level)?;
        Ok(Self {
            ctx: ctx.clone(),
            output_level: stc_level - slot_to_coeff.len(),
            coeff_to_slot,
            slot_to_coeff,
            eval_mod,
            eval_mod_baby_log: config.eval_mod_baby_log,
        })
    }

    /// Rotation steps whose Galois keys bootstrapping needs (plus conjugation and relinearization).
    pub fn rotations(&self) -> Vec<i64> {
        let mut r: Vec<i64> = self
            .coeff_to_slot
            .iter()
            .chain(&self.slot_to_coeff)
            .flat_map(LinearTransform::rotations)
            .collect();
        r.sort_unstable();
        r.dedup();
        r
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

    /// Switches `c_1` with `key` (at the ciphertext's level): `(c_0 + u_0, u_1)`.
    fn switch_key(&self, ct: &Ciphertext, key: &SwitchingKey) -> Result<Ciphertext> {
        let [u0, u1] = self.ctx.key_switcher().key_switch(&ct.c[1], key)?;
        let mut c0 = ct.c[0].clone();
        self.ctx.ring().add_assign(&mut c0, &u0);
        Ok(Ciphertext {
            c: vec![c0, u1],
            seed: None,
            ..ct.clone()
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
        if ct.slots() != self.ctx.params().max_slots() {
            return Err(CkksError::InvalidParameters(format!(
                "this bootstrapper handles {} slots, the ciphertext has {}",
                self.ctx.params().max_slots(),
                ct.slots()
            )));
        }
        let scale = ct.scale();
        let bottom = eval.drop_to_level(ct, 0)?;
        if bottom.degree() != 1 {
            return Err(CkksError::Degree(bottom.degree(), 1));
        }
        let raised = match encapsulation {
            None => self.mod_raise(&bottom)?,
            Some(keys) => {
                let sparse = self.switch_key(&bottom, &keys.to_sparse)?;
                self.switch_key(&self.mod_raise(&sparse)?, &keys.to_dense)?
            }
        };
        // CoeffToSlot: y = BR(F^{-1} z) / 2 at scale q_0 (each transform's scale q_ℓ is
        // rescaled away)
        let y = self.apply(eval, &self.coeff_to_slot, raised)?;
        let y_conj = eval.conjugate(&y)?;
        let re = eval.add(&y, &y_conj)?;
        let i_im = eval.sub(&y, &y_conj)?;
        let im = eval.mul_const_with_scale(&i_im, Complex64::new(0.0, -1.0), 1.0)?;
        // EvalMod at working scale q_0, relabelled with the message scale
        let pe = PolynomialEvaluator::new(eval);
        let q0 = self.ctx.params().q()[0] as f64;
        let reduce = |v: &Ciphertext| -> Result<Ciphertext> {
            let out = pe.evaluate_bsgs(v, &self.eval_mod, q0, self.eval_mod_baby_log)?;
            Ok(Ciphertext { scale, ..out })
        };
        let (re, im) = (reduce(&re)?, reduce(&im)?);
        let u = eval.add(
            &re,
            &eval.mul_const_with_scale(&im, Complex64::new(0.0, 1.0), 1.0)?,
        )?;
        // SlotToCoeff
        let u = eval.drop_to_level(&u, self.slot_to_coeff[0].level())?;
        self.apply(eval, &self.slot_to_coeff, u)
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
            ct = snap_scale(eval.rescale(&lt.evaluate(eval, &ct)?)?, scale)?;
        }
        Ok(ct)
    }
}
