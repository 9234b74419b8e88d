//! Encrypted products `W X` with **24** instead of 64 tensor products, when the left operand
//! `W` is prepared by a party that knows it in plaintext (the model owner encrypting weights).
//!
//! **Idea.** Cl(3,0) ≅ M₂(C) by `ρ(e1) = σx, ρ(e2) = σy, ρ(e3) = σz` (Pauli matrices; Hestenes,
//! *New Foundations for Classical Mechanics*, 1999; Lounesto, *Clifford Algebras and
//! Spinors*, 2001). A geometric product is a 2x2 complex matrix product: 8 complex
//! products, each done with Gauss's 3 real products
//!
//! ```text
//! (p + iq)(r + is):  k1 = r (p + q),  k2 = p (s - r),  k3 = q (r + s);
//!                    Re = k1 - k3,    Im = k1 + k2,
//! ```
//!
//! so `8 · 3 = 24` ciphertext products. The linear maps around them cost only additions:
//! the real and imaginary parts of `ρ(X)`'s entries are `F x` with `F` a 0/±1 matrix derived
//! here from the Pauli matrices (not typed), and since the blades' images are orthogonal for
//! `<P, Q> = Re tr(P^† Q)` with squared norm 2, `x = ½ Fᵀ (Re, Im)(ρ(X))`. The factor `½` and
//! the weight-side sums `p + q` are applied by the weight owner before encryption, so the
//! evaluation needs no constant multiplication and no extra level. The input side (`r`,
//! `s - r`, `r + s` for the 4 entries) is 16 additions per input multivector, shared by every
//! weight it meets.
//!
//! Cost of a sum of `T` products: `24 T` tensor products, `32 T` additions of degree-2
//! ciphertexts, 8 relinearizations, 8 rescales, depth 1 (the direct planar sum needs `64 T`
//! tensor products).

use crate::algebra::{Multivector, BLADES, COMPONENT_MASKS};
use crate::encrypted::PlanarCiphertext;
use crate::error::{GeoError, Result};
use ckks_core::ckks::{Ciphertext, Context, Encryptor, Evaluator};
use ckks_core::Complex64;
use rayon::prelude::*;

type M2 = [[Complex64; 2]; 2];

fn mat_mul(a: &M2, b: &M2) -> M2 {
    let mut o = [[Complex64::new(0.0, 0.0); 2]; 2];
    for (i, row) in o.iter_mut().enumerate() {
        for (j, x) in row.iter_mut().enumerate() {
            *x = a[i][0] * b[0][j] + a[i][1] * b[1][j];
        }
    }
    o
}

/// `ρ(e_c)`: the product of the Pauli matrices of the basis vectors in blade `c`, in
/// increasing index order.
pub fn pauli_matrix(c: usize) -> M2 {
    let (z, o, i) = (
        Complex64::new(0.0, 0.0),
        Complex64::new(1.0, 0.0),
        Complex64::new(0.0, 1.0),
    );
    let sigma = [[[z, o], [o, z]], [[z, -i], [i, z]], [[o, z], [z, -o]]];
    let mask = COMPONENT_MASKS.get(c).copied().unwrap_or(0);
    (0..3)
        .filter(|b| mask & (1 << b) != 0)
        .fold([[o, z], [z, o]], |m, b| mat_mul(&m, &sigma[b]))
}

/// Row `r = 2 (2j + l) + t` of `F` gives the real (`t = 0`) or imaginary (`t = 1`) part of
/// `ρ(X)_{jl}` as `Σ_c F[r][c] x_c`; entries are 0 or ±1.
#[allow(clippy::needless_range_loop)] // (row, column) indices mirror the formula
pub fn forward_map() -> [[i8; BLADES]; BLADES] {
    let mut f = [[0i8; BLADES]; BLADES];
    for c in 0..BLADES {
        let m = pauli_matrix(c);
        for j in 0..2 {
            for l in 0..2 {
                let r = 2 * (2 * j + l);
                f[r][c] = m[j][l].re.round() as i8;
                f[r + 1][c] = m[j][l].im.round() as i8;
            }
        }
    }
    f
}

/// `(Re, Im)` parts of `ρ(X)`'s entries, in the row order of [`forward_map`].
fn forward(x: &Multivector) -> [f64; BLADES] {
    let f = forward_map();
    std::array::from_fn(|r| (0..BLADES).map(|c| f64::from(f[r][c]) * x.0[c]).sum())
}

/// A left operand prepared for [`PauliProductSum`]: for each entry `(j, m)` of `ρ(W)/2 = p + iq`,
/// encryptions of `p + q`, `p`, `q` broadcast over all slots.
#[derive(Clone, Debug)]
pub struct PreparedWeight {
    /// `[entry][0: p + q, 1: p, 2: q]`, entry `= 2j + m`.
    cts: Vec<[Ciphertext; 3]>,
}

impl PreparedWeight {
    /// Prepares and encrypts `w` (the same in every slot) at `level` and `scale` (use
    /// `q_level` so that the following rescale keeps the input's scale).
    pub fn encrypt(
        ctx: &Context,
        enc: &mut Encryptor,
        w: &Multivector,
        slots: usize,
        level: usize,
        scale: f64,
    ) -> Result<Self> {
        let m = forward(w);
        let mut cts = Vec::with_capacity(4);
        for e in 0..4 {
            let (p, q) = (m[2 * e] / 2.0, m[2 * e + 1] / 2.0);
            let vals = [p + q, p, q];
            let mut three = Vec::with_capacity(3);
            for v in vals {
                let pt = ctx.encode(&vec![Complex64::new(v, 0.0); slots], slots, level, scale)?;
                three.push(enc.encrypt(&pt)?);
            }
            let arr: [Ciphertext; 3] = three
                .try_into()
                .map_err(|_| GeoError::Layout("three ciphertexts expected".into()))?;
            cts.push(arr);
        }
        Ok(Self { cts })
    }

    /// Level.
    pub fn level(&self) -> usize {
        self.cts[0][0].level()
    }
}

/// A right operand prepared for [`PauliProductSum`]: for each entry `(m, l)` of `ρ(X) = r + is`,
/// the ciphertexts `r`, `s - r`, `r + s` (additions only).
#[derive(Clone, Debug)]
pub struct PreparedInput {
    cts: Vec<[Ciphertext; 3]>,
}

impl PreparedInput {
    /// From a planar batch: 8 additions for `F x` and 8 for the Gauss combinations.
    pub fn new(eval: &Evaluator, x: &PlanarCiphertext) -> Result<Self> {
        let f = forward_map();
        let comps = x.components();
        let part = |r: usize| -> Result<Ciphertext> {
            let mut acc: Option<Ciphertext> = None;
            for (c, &k) in f[r].iter().enumerate() {
                if k == 0 {
                    continue;
                }
                acc = Some(match (acc.take(), k > 0) {
                    (None, true) => comps[c].clone(),
                    (None, false) => eval.negate(&comps[c])?,
                    (Some(a), true) => eval.add(&a, &comps[c])?,
                    (Some(a), false) => eval.sub(&a, &comps[c])?,
                });
            }
            acc.ok_or_else(|| GeoError::Layout("empty row of the Pauli map".into()))
        };
        let cts = (0..4)
            .map(|e| -> Result<[Ciphertext; 3]> {
                let (r, s) = (part(2 * e)?, part(2 * e + 1)?);
                let smr = eval.sub(&s, &r)?;
                let rps = eval.add(&r, &s)?;
                Ok([r, smr, rps])
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { cts })
    }
}

/// Accumulates `Σ_t W_t X_t` in the Pauli domain (module docs) and returns the planar result.
#[derive(Clone, Debug, Default)]
pub struct PauliProductSum {
    /// `(Re, Im)` of the 4 entries of `Σ ρ(W)ρ(X)/2`, degree 2.
    acc: Vec<Option<Ciphertext>>,
}

fn acc_add(eval: &Evaluator, acc: &mut Option<Ciphertext>, t: &Ciphertext, sign: i8) -> Result<()> {
    *acc = Some(match (acc.take(), sign >= 0) {
        (None, true) => t.clone(),
        (None, false) => eval.negate(t)?,
        (Some(a), true) => eval.add(&a, t)?,
        (Some(a), false) => eval.sub(&a, t)?,
    });
    Ok(())
}

impl PauliProductSum {
    /// An empty sum.
    pub fn new() -> Self {
        Self {
            acc: vec![None; BLADES],
        }
    }

    /// Adds `W X`: 24 tensor products. The 8 output parts are computed in parallel.
    pub fn add_product(
        &mut self,
        eval: &Evaluator,
        w: &PreparedWeight,
        x: &PreparedInput,
    ) -> Result<()> {
        if self.acc.len() != BLADES {
            self.acc = vec![None; BLADES];
        }
        self.acc
            .par_iter_mut()
            .enumerate()
            .try_for_each(|(row, acc)| -> Result<()> {
                let (entry, imag) = (row / 2, row % 2 == 1);
                let (j, l) = (entry / 2, entry % 2);
                for m in 0..2 {
                    let wc = &w.cts[2 * j + m];
                    let xc = &x.cts[2 * m + l];
                    // k1 = r (p + q) in both parts; Re: - k3 = -q (r + s); Im: + k2 = p (s - r).
                    let k1 = eval.mul(&xc[0], &wc[0])?;
                    acc_add(eval, acc, &k1, 1)?;
                    if imag {
                        acc_add(eval, acc, &eval.mul(&xc[1], &wc[1])?, 1)?;
                    } else {
                        acc_add(eval, acc, &eval.mul(&xc[2], &wc[2])?, -1)?;
                    }
                }
                Ok(())
            })
    }

    /// `y = Fᵀ (Re, Im)` (the ½ is in the weights), then relinearization and rescale per
    /// component.
    pub fn finish(self, eval: &Evaluator) -> Result<PlanarCiphertext> {
        let parts: Vec<Ciphertext> = self
            .acc
            .into_iter()
            .map(|a| a.ok_or_else(|| GeoError::Layout("finish() on an empty sum".into())))
            .collect::<Result<Vec<_>>>()?;
        let f = forward_map();
        let comps = (0..BLADES)
            .into_par_iter()
            .map(|c| -> Result<Ciphertext> {
                let mut acc = None;
                for (r, part) in parts.iter().enumerate() {
                    if f[r][c] != 0 {
                        acc_add(eval, &mut acc, part, f[r][c])?;
                    }
                }
                let acc = acc.ok_or_else(|| GeoError::Layout("empty column".into()))?;
                Ok(eval.rescale(&eval.relinearize(&acc)?)?)
            })
            .collect::<Result<Vec<_>>>()?;
        PlanarCiphertext::from_components(comps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::CAYLEY;

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn pauli_map_is_a_representation_with_orthogonal_images() {
        for a in 0..BLADES {
            for b in 0..BLADES {
                let e = CAYLEY[a][b];
                let lhs = mat_mul(&pauli_matrix(a), &pauli_matrix(b));
                let rhs = pauli_matrix(e.index);
                for j in 0..2 {
                    for l in 0..2 {
                        assert!((lhs[j][l] - rhs[j][l] * f64::from(e.sign)).norm() < 1e-12);
                    }
                }
            }
        }
        // F^T F = 2 I: the inverse used by `finish` is ½ Fᵀ.
        let f = forward_map();
        for c in 0..BLADES {
            for d in 0..BLADES {
                let dot: i32 = (0..BLADES)
                    .map(|r| i32::from(f[r][c]) * i32::from(f[r][d]))
                    .sum();
                assert_eq!(dot, if c == d { 2 } else { 0 });
            }
        }
    }
}
