//! # geo-fhe
//!
//! Clifford algebra Cl(3,0) in the clear and under RNS-CKKS encryption (`ckks-core`):
//!
//! * [`algebra`]: multivectors with blades as bitmasks and the Cayley table **derived** from
//!   the canonical reordering sign (Dorst, Fontijne, Mann, *Geometric Algebra for Computer
//!   Science*, 2007, ch. 19); geometric, outer and inner products, reverse, involutions, grade
//!   projection, norm and inverse (Hestenes, Sobczyk, *Clifford Algebra to Geometric
//!   Calculus*, 1984).
//! * [`encrypted`]: SIMD-batched encrypted geometric products, ciphertext x ciphertext and
//!   ciphertext x plaintext, in the planar layout (8 ciphertexts, one per component, one
//!   multivector per slot; the default) and the interleaved layout (slot `8i + c`; masked
//!   rotations), and conversion between the layouts.
//! * [`pauli`]: products `W X` with 24 instead of 64 tensor products through Cl(3,0) ≅ M₂(C)
//!   and Gauss's 3-multiplication complex product, when `W` is prepared by its owner.
//! * [`data`]: a seeded generator of **synthetic** 3D lesion volumes (healthy, benign,
//!   malignant) and their multivector descriptors.
//! * [`network`]: the geometric network 1 -> 16 -> 8 -> 3 of geometric-product layers with a
//!   quadratic activation, plaintext training by Adam, and encrypted inference with encrypted
//!   inputs and weights encrypted under the client's public key.
//!
//! ```
//! use geo_fhe::algebra::Multivector;
//! let e1 = Multivector::basis(1).unwrap();
//! let e2 = Multivector::basis(2).unwrap();
//! assert_eq!(e1 * e2, -(e2 * e1));
//! assert_eq!((e1 * e1).coeffs()[0], 1.0);
//! ```

pub mod algebra;
pub mod data;
pub mod encrypted;
pub mod error;
pub mod network;
pub mod pauli;

pub use algebra::{Blade, Multivector, BLADES, CAYLEY};
pub use error::{GeoError, Result};
