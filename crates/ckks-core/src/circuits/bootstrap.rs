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
//!    into the matrix); a conjugation separates the real and the imaginary parts.
//! 3. **EvalMod**: `g(x) = sin(2πx) / (2π) ≈ x - I` for `|x - I|` small, by Chebyshev
//!    interpolation on `[-K, K]`, evaluated towards the exact working scale `q_0`: the output
//!    decrypts to `q_0 g(x) ≈ Δm + e`, so relabelling it with the message scale `Δ` gives back
//!    `m` (the "message ratio" `q_0 / Δ` of Bossuat et al. 2021).
//! 4. **SlotToCoeff**: the special FFT `F` puts `m_j + i m_{j+N/2}` back into coefficients.
//!
//! Levels: CoeffToSlot 1, EvalMod `ceil(log2(d+1)) + 1`, SlotToCoeff 1, from the top of the
//! chain; the chain must therefore be laid out as `q_0` (about `log2 Δ + 20` bits), the levels
//! left for computation (at `Δ`), one SlotToCoeff prime, the EvalMod primes (about the size of
//! `q_0`, since EvalMod works at scale `q_0`), one CoeffToSlot prime.
//!
//! This is the first, direct version: CoeffToSlot and SlotToCoeff are dense linear transforms
//! (BSGS with `O(sqrt(n))` rotations but `n` encoded diagonals: fine up to N = 2^12, not for
//! N = 2^16, which needs the level-collapsed FFT factorization), EvalMod is a plain Chebyshev
//! sine without double-angle steps, and the secret must be sparse (no encapsulation yet).

use super::linear::LinearTransform;
use super::polynomial::{Polynomial, PolynomialEvaluator};
use crate::ckks::{Ciphertext, Context, Evaluator};
use crate::error::{CkksError, Result};
use crate::ring::{Basis, Form};
use num_complex::Complex64;
use std::f64::consts::PI;

/// Settings of the direct bootstrapping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BootstrapConfig {
    /// EvalMod interval `[-K, K]` (must exceed `max |I| + 1`).
    pub k: f64,
    /// Degree of the Chebyshev sine.
    pub sine_degree: usize,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            k: 13.0,
            sine_degree: 127,
        }
    }
}

/// Precomputed bootstrapping circuit for one context.
pub struct Bootstrapper {
    ctx: Context,
    coeff_to_slot: LinearTransform,
    slot_to_coeff: LinearTransform,
    eval_mod: Polynomial,
    output_level: usize,
}

/// Dense matrix of a linear map on `C^n` given by its action on unit vectors (columns).
fn matrix_of(n: usize, map: impl Fn(&mut [Complex64]), factor: f64) -> Vec<Vec<Complex64>> {
    let mut rows = vec![vec![Complex64::new(0.0, 0.0); n]; n];
    for k in 0..n {
        let mut col = vec![Complex64::new(0.0, 0.0); n];
        col[k] = Complex64::new(1.0, 0.0);
        map(&mut col);
        for (row, v) in rows.iter_mut().zip(col) {
            row[k] = v * factor;
        }
    }
    rows
}

impl Bootstrapper {
    /// Precomputes CoeffToSlot, SlotToCoeff and EvalMod for `ctx` (full slots).
    pub fn new(ctx: &Context, config: BootstrapConfig) -> Result<Self> {
        let n = ctx.params().max_slots();
        let eval_mod = Polynomial::interpolate(
            |x| (2.0 * PI * x).sin() / (2.0 * PI),
            -config.k,
            config.k,
            config.sine_degree,
        )?;
        let top = ctx.max_level();
        let needed = 2 + eval_mod.depth();
        if top < needed {
            return Err(CkksError::InvalidParameters(format!(
                "bootstrapping needs {needed} levels above the output, the chain has {top}"
            )));
        }
        let q = ctx.params().q();
        let fft = &ctx.0.fft;
        let cts_matrix = matrix_of(n, |v| fft.inverse(v), 0.5);
        let coeff_to_slot = LinearTransform::from_dense(ctx, &cts_matrix, top, q[top] as f64)?;
        drop(cts_matrix);
        let stc_level = top - 1 - eval_mod.depth();
        let stc_matrix = matrix_of(n, |v| fft.forward(v), 1.0);
        let slot_to_coeff =
            LinearTransform::from_dense(ctx, &stc_matrix, stc_level, q[stc_level] as f64)?;
        Ok(Self {
            ctx: ctx.clone(),
            coeff_to_slot,
            slot_to_coeff,
            eval_mod,
            output_level: stc_level - 1,
        })
    }

    /// Rotation steps whose Galois keys bootstrapping needs (plus conjugation and relinearization).
    pub fn rotations(&self) -> Vec<i64> {
        let mut r = self.coeff_to_slot.rotations();
        r.extend(self.slot_to_coeff.rotations());
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

    /// Bootstraps a full-slot ciphertext (any level; it is first dropped to level 0): returns
    /// a ciphertext of the same values and scale at [`output_level`](Self::output_level).
    pub fn bootstrap(&self, eval: &Evaluator, ct: &Ciphertext) -> Result<Ciphertext> {
        if ct.slots() != self.ctx.params().max_slots() {
            return Err(CkksError::InvalidParameters(format!(
                "this bootstrapper handles {} slots, the ciphertext has {}",
                self.ctx.params().max_slots(),
                ct.slots()
            )));
        }
        let scale = ct.scale();
        let raised = self.mod_raise(&eval.drop_to_level(ct, 0)?)?;
        // CoeffToSlot: y = F^{-1} z / 2 at scale q_0 (the diagonals' scale q_L is rescaled away)
        let y = eval.rescale(&self.coeff_to_slot.evaluate(eval, &raised)?)?;
        let y = Ciphertext {
            scale: raised.scale,
            ..y
        };
        let y_conj = eval.conjugate(&y)?;
        let re = eval.add(&y, &y_conj)?;
        let i_im = eval.sub(&y, &y_conj)?;
        let im = eval.mul_const_with_scale(&i_im, Complex64::new(0.0, -1.0), 1.0)?;
        // EvalMod at working scale q_0, relabelled with the message scale
        let pe = PolynomialEvaluator::new(eval);
        let q0 = self.ctx.params().q()[0] as f64;
        let reduce = |v: &Ciphertext| -> Result<Ciphertext> {
            let out = pe.evaluate(v, &self.eval_mod, q0)?;
            Ok(Ciphertext { scale, ..out })
        };
        let (re, im) = (reduce(&re)?, reduce(&im)?);
        let u = eval.add(
            &re,
            &eval.mul_const_with_scale(&im, Complex64::new(0.0, 1.0), 1.0)?,
        )?;
        // SlotToCoeff
        let u = eval.drop_to_level(&u, self.slot_to_coeff.level())?;
        let out = eval.rescale(&self.slot_to_coeff.evaluate(eval, &u)?)?;
        Ok(Ciphertext { scale, ..out })
    }
}
