//! The circuits layer: homomorphic algorithms built on the evaluator.
//!
//! * [`linear`]: plaintext-matrix x encrypted-vector products by the diagonal method with
//!   baby-step giant-step and hoisted rotations.
//! * [`polynomial`]: Chebyshev interpolation and polynomial evaluation (Chebyshev or monomial
//!   basis) at optimal depth with an exact output scale.
//! * [`bootstrap`]: direct full-slot bootstrapping (ModRaise, dense CoeffToSlot, Chebyshev
//!   sine EvalMod, dense SlotToCoeff) for small rings and sparse secrets.

pub mod bootstrap;
pub mod dft;
pub mod linear;
pub mod polynomial;

pub use bootstrap::{BootstrapConfig, Bootstrapper};
pub use linear::LinearTransform;
pub use polynomial::{PolyBasis, Polynomial, PolynomialEvaluator};
