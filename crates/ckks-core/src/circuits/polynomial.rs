//! Homomorphic polynomial evaluation, in the Chebyshev or the monomial basis, at optimal depth
//! and with an exact output scale.
//!
//! **Chebyshev interpolation.** A function on `[a, b]` is approximated by
//! `p(x) = Σ_{k<=d} c_k T_k(t)`, `t = (2x - a - b)/(b - a)`, interpolating at the `d + 1`
//! Chebyshev nodes (Trefethen, *Approximation Theory and Approximation Practice*, ch. 3-4).
//!
//! **Evaluation by recursive splitting** on the giant steps `G = T_{2^k}` (Paterson-Stockmeyer
//! 1973 in the Chebyshev form of Bossuat et al., *Efficient bootstrapping for approximate HE with
//! non-sparse keys*, Eurocrypt 2021, §4.2): a polynomial of degree `< 2^{k+1}` is split as
//! `p = q · T_{2^k} + r` with `deg q, deg r < 2^k`, using `T_{2^k + j} = 2 T_{2^k} T_j -
//! T_{2^k - j}` (for the monomial basis, `x^{2^k + j} = x^{2^k} x^j`). Only the powers
//! `T_{2^k}` are computed (`T_{2n} = 2 T_n^2 - 1`, one level each), and the leaves
//! `c_0 + c_1 T_1` cost one constant multiplication, so a polynomial of degree `d` consumes
//! exactly `ceil(log2(d + 1))` levels — the optimum — plus one level for the affine change of
//! variable when `[a, b] != [-1, 1]`. It uses about `d/2` ciphertext multiplications; a
//! baby-step variant with fewer multiplications costs one more level and is not implemented.
//!
//! **Exact scale.** Every node is evaluated towards a *target* scale: a leaf multiplies `T_1`
//! by `c_1` encoded at scale `S q_ℓ / Δ(T_1)` so that after rescaling its scale is exactly `S`,
//! and a product `q · G` evaluated at level `ℓ` asks `q` for the scale `S q_ℓ / Δ(G)`. The
//! levels at which products happen are planned before any computation, so the output has
//! exactly the requested scale (up to floating-point rounding of the scale itself) and adds to
//! other ciphertexts of that scale without any correction.

use crate::ckks::{Ciphertext, Evaluator};
use crate::error::{CkksError, Result};
use num_complex::Complex64;
use std::collections::BTreeMap;
use std::f64::consts::PI;

/// The basis of a [`Polynomial`]'s coefficients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolyBasis {
    /// `Σ c_k T_k(t)` with `t` the affine image of `x` from `[a, b]` to `[-1, 1]`.
    Chebyshev,
    /// `Σ c_k x^k`.
    Monomial,
}

/// A real polynomial to evaluate homomorphically.
#[derive(Clone, Debug, PartialEq)]
pub struct Polynomial {
    basis: PolyBasis,
    coeffs: Vec<f64>,
    domain: (f64, f64),
}

/// Coefficients below this magnitude are treated as zero.
const ZERO: f64 = 1e-300;

impl Polynomial {
    /// `Σ c_k x^k` (e.g. a learnable activation `a x^2 + b x + c` is `[c, b, a]`).
    pub fn monomial(coeffs: &[f64]) -> Result<Self> {
        Self::new(PolyBasis::Monomial, coeffs.to_vec(), (-1.0, 1.0))
    }

    /// `Σ c_k T_k((2x - a - b)/(b - a))` on `[a, b]`.
    pub fn chebyshev(coeffs: &[f64], a: f64, b: f64) -> Result<Self> {
        Self::new(PolyBasis::Chebyshev, coeffs.to_vec(), (a, b))
    }

    fn new(basis: PolyBasis, coeffs: Vec<f64>, domain: (f64, f64)) -> Result<Self> {
        if coeffs.is_empty() || coeffs.iter().any(|c| !c.is_finite()) {
            return Err(CkksError::InvalidParameters(
                "polynomial coefficients must be finite and non-empty".into(),
            ));
        }
        let (a, b) = domain;
        if !(a.is_finite() && b.is_finite() && a < b) {
            return Err(CkksError::InvalidParameters(format!(
                "invalid interval [{a}, {b}]"
            )));
        }
        Ok(Self {
            basis,
            coeffs,
            domain,
        })
    }

    /// Chebyshev interpolant of degree `degree` of `f` on `[a, b]` (at the Chebyshev nodes of
    /// the first kind).
    pub fn interpolate(f: impl Fn(f64) -> f64, a: f64, b: f64, degree: usize) -> Result<Self> {
        let n = degree + 1;
        let nodes: Vec<f64> = (0..n)
            .map(|j| (PI * (j as f64 + 0.5) / n as f64).cos())
            .collect();
        let values: Vec<f64> = nodes
            .iter()
            .map(|&t| f(0.5 * (b - a) * t + 0.5 * (a + b)))
            .collect();
        let coeffs: Vec<f64> = (0..n)
            .map(|k| {
                let s: f64 = (0..n)
                    .map(|j| values[j] * (k as f64 * PI * (j as f64 + 0.5) / n as f64).cos())
                    .sum();
                if k == 0 {
                    s / n as f64
                } else {
                    2.0 * s / n as f64
                }
            })
            .collect();
        Self::chebyshev(&coeffs, a, b)
    }

    /// The basis.
    pub fn basis(&self) -> PolyBasis {
        self.basis
    }
    /// The coefficients.
    pub fn coeffs(&self) -> &[f64] {
        &self.coeffs
    }
    /// The interval `[a, b]` (Chebyshev basis).
    pub fn domain(&self) -> (f64, f64) {
        self.domain
    }

    /// Degree (ignoring zero leading coefficients).
    pub fn degree(&self) -> usize {
        self.coeffs
            .iter()
            .rposition(|c| c.abs() > ZERO)
            .unwrap_or(0)
    }

    fn needs_affine(&self) -> bool {
        self.basis == PolyBasis::Chebyshev && self.domain != (-1.0, 1.0)
    }

    /// Levels consumed by [`PolynomialEvaluator::evaluate`]: `ceil(log2(d + 1))`, plus one for
    /// the change of variable of a Chebyshev polynomial on `[a, b] != [-1, 1]`.
    pub fn depth(&self) -> usize {
        let d = self.degree();
        let core = if d == 0 {
            0
        } else {
            (usize::BITS - d.leading_zeros()) as usize
        };
        core + usize::from(self.needs_affine() && d > 0)
    }

    /// Evaluation in the clear (Clenshaw for the Chebyshev basis, Horner for monomials).
    pub fn eval(&self, x: f64) -> f64 {
        match self.basis {
            PolyBasis::Monomial => self.coeffs.iter().rev().fold(0.0, |acc, c| acc * x + c),
            PolyBasis::Chebyshev => {
                let (a, b) = self.domain;
                let t = (2.0 * x - a - b) / (b - a);
                let (mut b1, mut b2) = (0.0, 0.0);
                for c in self.coeffs.iter().skip(1).rev() {
                    let b0 = 2.0 * t * b1 - b2 + c;
                    b2 = b1;
                    b1 = b0;
                }
                t * b1 - b2 + self.coeffs[0]
            }
        }
    }

    /// `p = q · P_g + r` for the giant step `P_g` (`T_g` or `x^g`), `deg r < g`.
    fn split(&self, coeffs: &[f64], g: usize) -> (Vec<f64>, Vec<f64>) {
        let d = coeffs.len() - 1;
        let mut r = coeffs[..g].to_vec();
        let mut q = vec![0.0; d - g + 1];
        match self.basis {
            PolyBasis::Monomial => q.copy_from_slice(&coeffs[g..]),
            PolyBasis::Chebyshev => {
                q[0] = coeffs[g];
                for k in g + 1..=d {
                    q[k - g] += 2.0 * coeffs[k];
                    r[2 * g - k] -= coeffs[k];
                }
            }
        }
        (q, r)
    }
}

/// A partial result: a ciphertext, or a constant (polynomial of degree 0).
enum Value {
    Const(f64),
    Ct(Ciphertext),
}

/// Evaluates [`Polynomial`]s on ciphertexts (needs the relinearization key).
pub struct PolynomialEvaluator<'a> {
    eval: &'a Evaluator,
}

/// The giant-step powers `P_{2^k}` of one input.
struct Powers {
    by_exp: BTreeMap<usize, Ciphertext>,
}

impl<'a> PolynomialEvaluator<'a> {
    /// An evaluator on top of `eval`.
    pub fn new(eval: &'a Evaluator) -> Self {
        Self { eval }
    }

    /// `p(x)` slot-wise, with output scale exactly `target_scale`; consumes
    /// [`Polynomial::depth`] levels.
    pub fn evaluate(
        &self,
        x: &Ciphertext,
        poly: &Polynomial,
        target_scale: f64,
    ) -> Result<Ciphertext> {
        if !(target_scale.is_finite() && target_scale >= 1.0) {
            return Err(CkksError::InvalidParameters(format!(
                "target scale {target_scale}"
            )));
        }
        let d = poly.degree();
        let coeffs = &poly.coeffs[..=d];
        if x.level() < poly.depth() {
            return Err(CkksError::LevelTooLow {
                needed: poly.depth(),
                level: x.level(),
            });
        }
        if d == 0 {
            // a constant: an encryption of zero relabelled to the target scale, plus c
            let zero = Ciphertext {
                scale: target_scale,
                ..self.eval.mul_integer(x, 0)?
            };
            return self.eval.add_const(&zero, Complex64::new(coeffs[0], 0.0));
        }
        let t = if poly.needs_affine() {
            let (a, b) = poly.domain;
            let alpha = 2.0 / (b - a);
            let beta = -(a + b) / (b - a);
            let scaled = self
                .eval
                .rescale(&self.eval.mul_const(x, Complex64::new(alpha, 0.0))?)?;
            self.eval.add_const(&scaled, Complex64::new(beta, 0.0))?
        } else {
            x.clone()
        };
        let mut powers = Powers {
            by_exp: BTreeMap::from([(0usize, t)]),
        };
        let top = usize::BITS as usize - 1 - d.leading_zeros() as usize; // floor(log2 d)
        for k in 1..=top {
            let prev = &powers.by_exp[&(k - 1)];
            let sq = self.eval.mul_relin(prev, prev)?;
            let next = match poly.basis {
                PolyBasis::Monomial => self.eval.rescale(&sq)?,
                PolyBasis::Chebyshev => {
                    let doubled = self.eval.rescale(&self.eval.mul_integer(&sq, 2)?)?;
                    self.eval.add_const(&doubled, Complex64::new(-1.0, 0.0))?
                }
            };
            powers.by_exp.insert(k, next);
        }
        match self.node(poly, coeffs, target_scale, &powers)? {
            Value::Ct(ct) => Ok(ct),
            Value::Const(_) => Err(CkksError::InvalidParameters("degenerate polynomial".into())),
        }
    }

    /// Level of the result of [`node`](Self::node), `None` for a constant (no ciphertext).
    fn plan(&self, poly: &Polynomial, coeffs: &[f64], powers: &Powers) -> Option<usize> {
        let d = coeffs.iter().rposition(|c| c.abs() > ZERO).unwrap_or(0);
        match d {
            0 => None,
            1 => Some(powers.by_exp[&0].level() - 1),
            _ => {
                let k = usize::BITS as usize - 1 - d.leading_zeros() as usize;
                let g_level = powers.by_exp[&k].level();
                let (q, r) = poly.split(&coeffs[..=d], 1 << k);
                let prod = self
                    .plan(poly, &q, powers)
                    .map_or(g_level, |l| l.min(g_level))
                    - 1;
                Some(self.plan(poly, &r, powers).map_or(prod, |l| l.min(prod)))
            }
        }
    }

    /// Evaluates `Σ coeffs_k P_k` towards the exact scale `scale`.
    fn node(
        &self,
        poly: &Polynomial,
        coeffs: &[f64],
        scale: f64,
        powers: &Powers,
    ) -> Result<Value> {
        let ev = self.eval;
        let q_at = |level: usize| ev.context().params().q()[level] as f64;
        let d = coeffs.iter().rposition(|c| c.abs() > ZERO).unwrap_or(0);
        if d == 0 {
            return Ok(Value::Const(coeffs[0]));
        }
        if d == 1 {
            let t = &powers.by_exp[&0];
            let k = scale * q_at(t.level()) / t.scale();
            let prod =
                ev.rescale(&ev.mul_const_with_scale(t, Complex64::new(coeffs[1], 0.0), k)?)?;
            return Ok(Value::Ct(
                ev.add_const(&prod, Complex64::new(coeffs[0], 0.0))?,
            ));
        }
        let k = usize::BITS as usize - 1 - d.leading_zeros() as usize;
        let g = &powers.by_exp[&k];
        let (q, r) = poly.split(&coeffs[..=d], 1 << k);
        let product = match self.plan(poly, &q, powers) {
            None => {
                let c = q[0];
                let k_scale = scale * q_at(g.level()) / g.scale();
                ev.rescale(&ev.mul_const_with_scale(g, Complex64::new(c, 0.0), k_scale)?)?
            }
            Some(q_level) => {
                let level = q_level.min(g.level());
                let q_scale = scale * q_at(level) / g.scale();
                let Value::Ct(qct) = self.node(poly, &q, q_scale, powers)? else {
                    return Err(CkksError::InvalidParameters(
                        "planned a ciphertext, got a constant".into(),
                    ));
                };
                let qct = ev.drop_to_level(&qct, level)?;
                let gct = ev.drop_to_level(g, level)?;
                ev.rescale(&ev.mul_relin(&qct, &gct)?)?
            }
        };
        // the planned scale is exact up to floating-point rounding of the scale itself
        if (product.scale / scale - 1.0).abs() > 1e-9 {
            return Err(CkksError::ScaleMismatch(product.scale.log2(), scale.log2()));
        }
        let product = Ciphertext { scale, ..product };
        Ok(Value::Ct(match self.node(poly, &r, scale, powers)? {
            Value::Const(c) => ev.add_const(&product, Complex64::new(c, 0.0))?,
            Value::Ct(rct) => {
                let (a, b) = ev.match_levels(&product, &rct)?;
                ev.add(&a, &b)?
            }
        }))
    }
}
