//! EvalMod: the homomorphic reduction modulo 1 at the heart of bootstrapping.
//!
//! After ModRaise and CoeffToSlot each slot holds `x = I + ε` with a small integer `I`
//! (`|I| < K`) and the scaled message `ε = t / q_0` (`|ε| <= 2^{-ρ}` for the message ratio
//! `q_0 / Δ = 2^ρ`). EvalMod computes `ε` from `x` with a polynomial, in three optional steps
//! (Cheon-Han-Kim-Kim-Song, Eurocrypt 2018, §3; Han-Ki, CT-RSA 2020, §3; Bossuat,
//! Mouchet, Troncoso-Pastoriza, Hubaux, *Efficient bootstrapping for approximate HE with
//! non-sparse keys*, Eurocrypt 2021, §4-5):
//!
//! 1. **A trigonometric interpolant**, evaluated in the Chebyshev basis on `t = x / K ∈ [-1, 1]`
//!    (the bootstrapper delivers `t`, see [`super::bootstrap`]):
//!    * without double angle (`r = 0`): `p(t) ≈ sin(2π K t) / (2π)`;
//!    * with `r` double-angle steps: `p(t) ≈ cos(2π (K t - 1/4) / 2^r)`, a far smoother
//!      function (its frequency is `2^r` times lower), so a lower degree reaches the same
//!      error.
//! 2. **Double angle**, `r` times: `y <- 2 y^2 - 1` (`cos 2θ = 2 cos^2 θ - 1`), which turns the
//!    cosine of step 1 into `cos(2π (x - 1/4)) = sin(2π x)`; one level and one squaring each.
//! 3. **Arcsine correction** (optional): `sin(2π x) / (2π) = ε - (2π)^2 ε^3 / 6 + ...` is only
//!    close to `ε` while `2π ε` is small; the odd Taylor polynomial of
//!    `arcsin(w) / (2π) = Σ_k a_{2k+1} w^{2k+1} / (2π)`, `a_{2k+1} = (2k)! / (4^k (k!)^2 (2k+1))`,
//!    applied to `w = sin(2π x)` removes that error, for inputs whose coefficients are large
//!    (smooth or constant slot vectors) at the price of `ceil(log2(d_asin + 1))` levels.
//!
//! The output scale is exactly the requested one: the scales of the double-angle steps are
//! planned backwards (`S_{i-1} = sqrt(S_i q_ℓ)` for a squaring at level `ℓ`), and the final
//! division by `2π` is folded into the scale label (a ciphertext of `S sin(2π x)` is the same
//! ciphertext as one of `2π S · sin(2π x) / (2π)`).

use super::polynomial::{Polynomial, PolynomialEvaluator};
use super::snap_scale;
use crate::ckks::{Ciphertext, Evaluator};
use crate::error::{CkksError, Result};
use num_complex::Complex64;
use std::f64::consts::PI;

/// Settings of EvalMod (see the [module documentation](self)).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalModConfig {
    /// Interval `[-K, K]` of the input `x = I + ε` (must exceed `max |I| + 1`).
    pub k: f64,
    /// Degree of the Chebyshev interpolant (sine, or cosine when `double_angle > 0`).
    pub degree: usize,
    /// Number `r` of double-angle steps (0: plain sine).
    pub double_angle: usize,
    /// Degree of the odd arcsine Taylor correction (0 or 1: none; 3, 5, 7, ...).
    pub arcsine_degree: usize,
    /// Baby steps `2^baby_log` of the baby-step giant-step evaluation of the interpolant.
    pub baby_log: usize,
}

impl Default for EvalModConfig {
    /// Chebyshev sine of degree 127 on `[-13, 13]` with 16 baby steps: interpolation error about
    /// `2^{-48}` (`sin(2π x)/(2π)` against the interpolant at `|x - I| <= 2^{-7}`), 8 levels.
    fn default() -> Self {
        Self {
            k: 13.0,
            degree: 127,
            double_angle: 0,
            arcsine_degree: 0,
            baby_log: 4,
        }
    }
}

/// Precomputed EvalMod polynomials.
#[derive(Clone, Debug)]
pub struct EvalMod {
    config: EvalModConfig,
    interpolant: Polynomial,
    arcsine: Option<Polynomial>,
}

impl EvalMod {
    /// Interpolates the polynomials of `config`.
    pub fn new(config: EvalModConfig) -> Result<Self> {
        let EvalModConfig {
            k,
            degree,
            double_angle: r,
            arcsine_degree,
            ..
        } = config;
        if !(k.is_finite() && k >= 1.0) || degree == 0 || r > 8 {
            return Err(CkksError::InvalidParameters(format!(
                "EvalMod needs K >= 1, a positive degree and at most 8 double-angle steps \
                 (K = {k}, degree {degree}, r = {r})"
            )));
        }
        let interpolant = if r == 0 {
            Polynomial::interpolate(|t| (2.0 * PI * k * t).sin() / (2.0 * PI), -1.0, 1.0, degree)?
        } else {
            let period = (1u64 << r) as f64;
            Polynomial::interpolate(
                |t| (2.0 * PI * (k * t - 0.25) / period).cos(),
                -1.0,
                1.0,
                degree,
            )?
        };
        let arcsine = (arcsine_degree > 1)
            .then(|| Polynomial::monomial(&arcsine_taylor(arcsine_degree, r == 0)))
            .transpose()?;
        Ok(Self {
            config,
            interpolant,
            arcsine,
        })
    }

    /// The settings.
    pub fn config(&self) -> &EvalModConfig {
        &self.config
    }

    /// Levels consumed: the interpolant, `r` double angles, the arcsine correction.
    pub fn depth(&self) -> usize {
        PolynomialEvaluator::depth_bsgs(&self.interpolant, self.config.baby_log)
            + self.config.double_angle
            + self.arcsine.as_ref().map_or(0, Polynomial::depth)
    }

    /// `q_0 ε` from a ciphertext of `t = x / K` at any scale: the output has scale exactly
    /// `target_scale` and decrypts to `target_scale · (x - I)`.
    pub fn evaluate(
        &self,
        eval: &Evaluator,
        ct: &Ciphertext,
        target_scale: f64,
    ) -> Result<Ciphertext> {
        if ct.level() < self.depth() {
            return Err(CkksError::LevelTooLow {
                needed: self.depth(),
                level: ct.level(),
            });
        }
        let pe = PolynomialEvaluator::new(eval);
        let r = self.config.double_angle;
        let poly_depth = PolynomialEvaluator::depth_bsgs(&self.interpolant, self.config.baby_log);
        // scale of sin(2π x) (r > 0) or of sin(2π x)/(2π) (r = 0) before the arcsine
        let trig_scale = match (&self.arcsine, r) {
            (Some(_), _) => eval.context().params().q()[ct.level() - poly_depth - r] as f64,
            (None, 0) => target_scale,
            (None, _) => target_scale / (2.0 * PI),
        };
        // planned scales of the double-angle steps, from the last one backwards
        let q = eval.context().params().q();
        let first = ct.level() - poly_depth;
        let mut scales = vec![trig_scale; r + 1];
        for i in (1..=r).rev() {
            scales[i - 1] = (scales[i] * q[first - (i - 1)] as f64).sqrt();
        }
        let mut y = pe.evaluate_bsgs(ct, &self.interpolant, scales[0], self.config.baby_log)?;
        for scale in &scales[1..] {
            let sq = snap_scale(eval.square_relin_rescale(&y)?, *scale)?;
            y = eval.add_const(&eval.mul_integer(&sq, 2)?, Complex64::new(-1.0, 0.0))?;
        }
        match &self.arcsine {
            Some(asin) => pe.evaluate(&y, asin, target_scale),
            None => Ok(Ciphertext {
                scale: target_scale,
                ..y
            }),
        }
    }
}

/// Coefficients (monomial, degree `d`) of the odd Taylor polynomial of `arcsin(w)/(2π)` in `w`
/// (`of_scaled`: in `g = w / (2π)`, i.e. of `arcsin(2π g)/(2π)`).
fn arcsine_taylor(d: usize, of_scaled: bool) -> Vec<f64> {
    let mut coeffs = vec![0.0; d + 1];
    let mut a = 1.0; // a_1
    for k in 0..=(d - 1) / 2 {
        let power = 2 * k + 1;
        let c = if of_scaled {
            a * (2.0 * PI).powi(2 * k as i32)
        } else {
            a / (2.0 * PI)
        };
        coeffs[power] = c;
        // a_{2k+3} = a_{2k+1} (2k+1)^2 / ((2k+2)(2k+3))
        a *= (power * power) as f64 / ((power + 1) * (power + 2)) as f64;
    }
    coeffs
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Evaluates the EvalMod pipeline in the clear.
    fn clear(em: &EvalMod, x: f64) -> f64 {
        let mut y = em.interpolant.eval(x / em.config.k);
        for _ in 0..em.config.double_angle {
            y = 2.0 * y * y - 1.0;
        }
        match (&em.arcsine, em.config.double_angle) {
            (Some(a), _) => a.eval(y),
            (None, 0) => y,
            (None, _) => y / (2.0 * PI),
        }
    }

    fn max_error(config: EvalModConfig, eps: f64) -> f64 {
        let em = EvalMod::new(config).unwrap();
        let k = config.k as i64;
        let mut worst: f64 = 0.0;
        for i in -(k - 1)..k {
            for j in -20..=20 {
                let e = eps * j as f64 / 20.0;
                worst = worst.max((clear(&em, i as f64 + e) - e).abs());
            }
        }
        worst
    }

    #[test]
    fn each_variant_reduces_modulo_one() {
        // sine: the cubic term (2π)^2 ε^3 / 6 dominates at ε = 2^-10
        let sine = max_error(EvalModConfig::default(), 2f64.powi(-10));
        assert!(sine < 2f64.powi(-26) && sine > 2f64.powi(-30), "{sine:e}");
        // double angle: same behaviour from a degree-63 cosine and two squarings
        let cosine = EvalModConfig {
            degree: 63,
            double_angle: 2,
            baby_log: 3,
            ..Default::default()
        };
        let e = max_error(cosine, 2f64.powi(-10));
        assert!(e < 2f64.powi(-26), "{e:e}");
        // the arcsine removes the cubic term
        for config in [
            EvalModConfig {
                arcsine_degree: 5,
                ..Default::default()
            },
            EvalModConfig {
                arcsine_degree: 5,
                ..cosine
            },
        ] {
            let e = max_error(config, 2f64.powi(-10));
            assert!(e < 2f64.powi(-40), "{config:?}: {e:e}");
        }
    }

    #[test]
    fn depth_counts_every_step() {
        let base = EvalMod::new(EvalModConfig::default()).unwrap();
        assert_eq!(base.depth(), 8);
        let full = EvalMod::new(EvalModConfig {
            degree: 63,
            double_angle: 2,
            arcsine_degree: 3,
            baby_log: 3,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(full.depth(), 7 + 2 + 2);
        assert!(EvalMod::new(EvalModConfig {
            k: 0.5,
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn arcsine_taylor_matches_the_series() {
        let c = arcsine_taylor(7, false);
        let w: f64 = 0.3;
        let series = c.iter().rev().fold(0.0, |acc, ci| acc * w + ci);
        assert!((series - w.asin() / (2.0 * PI)).abs() < 1e-5);
        assert_eq!(c[0], 0.0);
        assert_eq!(c[2], 0.0);
    }
}
