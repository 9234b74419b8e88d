//! The circuits layer: homomorphic algorithms built on the evaluator.
//!
//! * [`linear`]: plaintext-matrix x encrypted-vector products by the diagonal method with
//!   baby-step giant-step and hoisted rotations.
//! * [`polynomial`]: Chebyshev interpolation and polynomial evaluation (Chebyshev or monomial
//!   basis) at optimal depth with an exact output scale.

pub mod linear;
pub mod polynomial;

pub use linear::LinearTransform;
pub use polynomial::{PolyBasis, Polynomial, PolynomialEvaluator};
