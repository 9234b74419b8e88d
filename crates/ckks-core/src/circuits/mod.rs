//! The circuits layer: homomorphic algorithms built on the evaluator.
//!
//! * [`linear`]: plaintext-matrix x encrypted-vector products by the diagonal method with
//!   baby-step giant-step and hoisted rotations.
//! * [`polynomial`]: Chebyshev interpolation and polynomial evaluation (Chebyshev or monomial
//!   basis) at optimal depth with an exact output scale.
//! * [`dft`]: the special FFT as products of sparse butterfly-stage transforms.
//! * [`eval_mod`]: homomorphic reduction modulo 1 (Chebyshev sine, or cosine with double-angle
//!   steps, optional arcsine correction).
//! * [`bootstrap`]: full-slot bootstrapping (ModRaise, factored CoeffToSlot, EvalMod, factored
//!   SlotToCoeff) with optional sparse-secret encapsulation, and its iterated variant.
//! * [`bootstrap_params`]: chains laid out for bootstrapping, the 128-bit `N = 2^16` preset,
//!   and the failure probability.

pub mod bootstrap;
pub mod bootstrap_params;
pub mod dft;
pub mod eval_mod;
pub mod linear;
pub mod polynomial;

pub use bootstrap::{BootstrapConfig, BootstrapTimings, Bootstrapper, EncapsulationKeys};
pub use bootstrap_params::{
    failure_probability, BootstrapParameters, BootstrapParametersBuilder, BootstrapPreset,
};
pub use eval_mod::{EvalMod, EvalModConfig};
pub use linear::{DiagonalStorage, Hoisting, LinearTransform};
pub use polynomial::{PolyBasis, Polynomial, PolynomialEvaluator};

use crate::ckks::Ciphertext;
use crate::error::{CkksError, Result};

/// Sets the scale label of `ct` to the planned `scale`, which it equals up to floating-point
/// rounding of the scale itself (a larger difference is a bug, reported as an error).
pub(crate) fn snap_scale(ct: Ciphertext, scale: f64) -> Result<Ciphertext> {
    if (ct.scale / scale - 1.0).abs() > 1e-9 {
        return Err(CkksError::ScaleMismatch(ct.scale.log2(), scale.log2()));
    }
    Ok(Ciphertext { scale, ..ct })
}
