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
//! baby-step variant with fewer multiplications usually costs one more level
//! ([`PolynomialEvaluator::evaluate_bsgs`]; only the powers that its leaves read are computed).
//!
//! **Exact scale.** Every node is evaluated towards a *target* scale: a leaf multiplies `T_1`
//! by `c_1` encoded at scale `S q_ℓ / Δ(T_1)` so that after rescaling its scale is exactly `S`,
//! and a product `q · G` evaluated at level `ℓ` asks `q` for the scale `S q_ℓ / Δ(G)`. The
//! levels at which products happen are planned before any computation, so the output has
//! exactly the requested scale (up to floating-point rounding of the scale itself) and adds to
//! other ciphertexts of that scale without any correction.

use super::snap_scale;
use crate::ckks::{Ciphertext, Evaluator};
use crate::error::{CkksError, Result};
use num_complex::Complex64;
use std::collections::{BTreeMap, BTreeSet};
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

/// The powers `P_i` of one input: baby steps `1..2^l` and giant steps `2^k`, by index `i`.
struct Powers {
    by_index: BTreeMap<usize, Ciphertext>,
    /// Leaves are polynomials of degree `< 2^baby_log`.
    baby_log: usize,
}

/// `floor(log2 d)` for `d >= 1`.
fn ilog2(d: usize) -> usize {
    (usize::BITS - 1 - d.leading_zeros()) as usize
}

impl<'a> PolynomialEvaluator<'a> {
    /// An evaluator on top of `eval`.
    pub fn new(eval: &'a Evaluator) -> Self {
        Self { eval }
    }

    /// `p(x)` slot-wise, with output scale exactly `target_scale`; consumes
    /// [`Polynomial::depth`] levels (the optimum).
    pub fn evaluate(
        &self,
        x: &Ciphertext,
        poly: &Polynomial,
        target_scale: f64,
    ) -> Result<Ciphertext> {
        self.evaluate_bsgs(x, poly, target_scale, 1)
    }

    /// Levels consumed by [`evaluate_bsgs`](Self::evaluate_bsgs) with `baby_log` (for
    /// `baby_log = 1` this is [`Polynomial::depth`]).
    pub fn depth_bsgs(poly: &Polynomial, baby_log: usize) -> usize {
        let d = poly.degree();
        if d == 0 {
            return 0;
        }
        let baby_log = baby_log.clamp(1, ilog2(d) + 1);
        Self::plan_depth(poly, &poly.coeffs[..=d], baby_log).unwrap_or(0)
            + usize::from(poly.needs_affine())
    }

    /// The multiplicative depth of [`node`](Self::node) (`None` for a constant), from the
    /// depth `ceil(log2 i)` of each power `P_i`; mirrors [`plan`](Self::plan).
    fn plan_depth(poly: &Polynomial, coeffs: &[f64], baby_log: usize) -> Option<usize> {
        let power_depth = |i: usize| (usize::BITS - (i - 1).leading_zeros()) as usize; // ceil(log2 i)
        let d = coeffs.iter().rposition(|c| c.abs() > ZERO).unwrap_or(0);
        if d == 0 {
            return None;
        }
        if d < 1 << baby_log {
            return (1..=d)
                .filter(|&i| coeffs[i].abs() > ZERO)
                .map(power_depth)
                .max()
                .map(|x| x + 1);
        }
        let k = ilog2(d);
        let (q, r) = poly.split(&coeffs[..=d], 1 << k);
        let prod = Self::plan_depth(poly, &q, baby_log).map_or(k, |x| x.max(k)) + 1;
        Some(Self::plan_depth(poly, &r, baby_log).map_or(prod, |x| x.max(prod)))
    }

    /// Baby-step giant-step evaluation: leaves of degree `< 2^baby_log` are linear
    /// combinations of the baby powers `P_1..P_{2^baby_log - 1}` (constant multiplications
    /// only), joined by products with the giant powers `P_{2^k}`. About
    /// `2^baby_log + d / 2^baby_log` ciphertext products instead of `d / 2`, usually for one
    /// more level than the optimum ([`depth_bsgs`](Self::depth_bsgs) gives it exactly).
    /// `baby_log = 1` is [`evaluate`](Self::evaluate). The output scale is exactly
    /// `target_scale`.
    pub fn evaluate_bsgs(
        &self,
        x: &Ciphertext,
        poly: &Polynomial,
        target_scale: f64,
        baby_log: usize,
    ) -> Result<Ciphertext> {
        if !(target_scale.is_finite() && target_scale >= 1.0) {
            return Err(CkksError::InvalidParameters(format!(
                "target scale {target_scale}"
            )));
        }
        let d = poly.degree();
        let coeffs = &poly.coeffs[..=d];
        let baby_log = baby_log.clamp(1, ilog2(d.max(1)) + 1);
        let depth = Self::depth_bsgs(poly, baby_log);
        if x.level() < depth {
            return Err(CkksError::LevelTooLow {
                needed: depth,
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
        let powers = self.powers(poly, t, baby_log)?;
        match self.node(poly, coeffs, target_scale, &powers)? {
            Value::Ct(ct) => Ok(ct),
            Value::Const(_) => Err(CkksError::InvalidParameters("degenerate polynomial".into())),
        }
    }

    /// Indices of the powers that the leaves and products of [`node`](Self::node) read.
    fn leaf_powers(poly: &Polynomial, coeffs: &[f64], baby_log: usize, out: &mut BTreeSet<usize>) {
        let d = coeffs.iter().rposition(|c| c.abs() > ZERO).unwrap_or(0);
        if d == 0 {
            return;
        }
        if d < 1 << baby_log {
            out.extend((1..=d).filter(|&i| coeffs[i].abs() > ZERO));
            return;
        }
        let k = ilog2(d);
        out.insert(1 << k);
        let (q, r) = poly.split(&coeffs[..=d], 1 << k);
        Self::leaf_powers(poly, &q, baby_log, out);
        Self::leaf_powers(poly, &r, baby_log, out);
    }

    /// The powers `P_i` that `poly` needs (those its leaves and giant steps read, and the
    /// factors they are computed from, `P_i = P_{ceil(i/2)} P_{floor(i/2)}` with `T_1` for the
    /// Chebyshev correction), computed in increasing order. For an odd or even polynomial
    /// (EvalMod's sine) only about half of the baby steps are needed.
    fn powers(&self, poly: &Polynomial, t: Ciphertext, baby_log: usize) -> Result<Powers> {
        let ev = self.eval;
        let d = poly.degree();
        let mut needed = BTreeSet::new();
        Self::leaf_powers(poly, &poly.coeffs[..=d], baby_log, &mut needed);
        let mut todo = needed.clone();
        while let Some(i) = todo.pop_last() {
            if i > 1 {
                for j in [i.div_ceil(2), i / 2] {
                    if needed.insert(j) {
                        todo.insert(j);
                    }
                }
            }
        }
        let basis = poly.basis;
        let mut by_index = BTreeMap::from([(1usize, t)]);
        for i in needed {
            if by_index.contains_key(&i) {
                continue;
            }
            let (a, b) = (i.div_ceil(2), i / 2);
            let (pa, pb) = ev.match_levels(&by_index[&a], &by_index[&b])?;
            let prod = ev.mul_relin_rescale(&pa, &pb)?;
            let next = match basis {
                PolyBasis::Monomial => prod,
                PolyBasis::Chebyshev => {
                    // T_{a+b} = 2 T_a T_b - T_{a-b}
                    let doubled = ev.mul_integer(&prod, 2)?;
                    if a == b {
                        ev.add_const(&doubled, Complex64::new(-1.0, 0.0))?
                    } else {
                        let t_diff =
                            self.bring_to(&by_index[&(a - b)], doubled.level(), doubled.scale())?;
                        ev.sub(&doubled, &t_diff)?
                    }
                }
            };
            by_index.insert(i, next);
        }
        Ok(Powers { by_index, baby_log })
    }

    /// `ct` at exactly `(level, scale)`: multiplies by 1 encoded at the scale that makes the
    /// following rescale land on `scale`, then drops levels. Needs `ct.level() > level`.
    fn bring_to(&self, ct: &Ciphertext, level: usize, scale: f64) -> Result<Ciphertext> {
        let ev = self.eval;
        if ct.level() == level && (ct.scale() / scale - 1.0).abs() < 1e-12 {
            return Ok(ct.clone());
        }
        if ct.level() <= level {
            return Err(CkksError::LevelTooLow {
                needed: level + 1,
                level: ct.level(),
            });
        }
        let q = ev.context().params().q()[ct.level()] as f64;
        let k = scale * q / ct.scale();
        let out = ev.rescale(&ev.mul_const_with_scale(ct, Complex64::new(1.0, 0.0), k)?)?;
        ev.drop_to_level(&snap_scale(out, scale)?, level)
    }

    /// Level of the result of [`node`](Self::node), `None` for a constant (no ciphertext).
    fn plan(&self, poly: &Polynomial, coeffs: &[f64], powers: &Powers) -> Option<usize> {
        let d = coeffs.iter().rposition(|c| c.abs() > ZERO).unwrap_or(0);
        if d == 0 {
            return None;
        }
        if d < 1 << powers.baby_log {
            return (1..=d)
                .filter(|&i| coeffs[i].abs() > ZERO)
                .map(|i| powers.by_index[&i].level())
                .min()
                .map(|l| l - 1);
        }
        let k = ilog2(d);
        let g_level = powers.by_index[&(1 << k)].level();
        let (q, r) = poly.split(&coeffs[..=d], 1 << k);
        let prod = self
            .plan(poly, &q, powers)
            .map_or(g_level, |l| l.min(g_level))
            - 1;
        Some(self.plan(poly, &r, powers).map_or(prod, |l| l.min(prod)))
    }

    /// Evaluates `Σ coeffs_i P_i` towards the exact scale `scale`.
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
        if d < 1 << powers.baby_log {
            // leaf: Σ c_i P_i, each term at scale `scale q_lev`, then one rescale
            let terms: Vec<usize> = (1..=d).filter(|&i| coeffs[i].abs() > ZERO).collect();
            let lev = terms
                .iter()
                .map(|i| powers.by_index[i].level())
                .min()
                .unwrap_or(0);
            let weighted: Vec<(&Ciphertext, f64)> = terms
                .iter()
                .map(|i| (&powers.by_index[i], coeffs[*i]))
                .collect();
            let sum = ev.linear_combination(&weighted, lev, scale * q_at(lev))?;
            let out = ev.rescale(&sum)?;
            let out = snap_scale(out, scale)?;
            return Ok(Value::Ct(
                ev.add_const(&out, Complex64::new(coeffs[0], 0.0))?,
            ));
        }
        let k = ilog2(d);
        let g = &powers.by_index[&(1 << k)];
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
                ev.mul_relin_rescale(&qct, &gct)?
            }
        };
        let product = snap_scale(product, scale)?;
        Ok(Value::Ct(match self.node(poly, &r, scale, powers)? {
            Value::Const(c) => ev.add_const(&product, Complex64::new(c, 0.0))?,
            Value::Ct(rct) => {
                let (a, b) = ev.match_levels(&product, &rct)?;
                ev.add(&a, &b)?
            }
        }))
    }
}
