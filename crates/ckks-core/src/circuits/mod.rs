//! The circuits layer: homomorphic algorithms built on the evaluator.
//!
//! * [`linear`]: plaintext-matrix x encrypted-vector products by the diagonal method with
//!   baby-step giant-step and hoisted rotations.

pub mod linear;

pub use linear::LinearTransform;
