//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong in `geo-fhe`; no public function panics on user input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum GeoError {
    /// A multivector with `A Ā` (Clifford conjugate) of zero modulus has no inverse.
    #[error("multivector is not invertible: |A Ā|^2 = {0:e}")]
    NotInvertible(f64),
    /// An error of the CKKS layer.
    #[error(transparent)]
    Ckks(#[from] ckks_core::CkksError),
    /// A layout or batch that does not fit (component count, slot count, batch size).
    #[error("layout: {0}")]
    Layout(String),
    /// Model shapes, data sets or training settings that are inconsistent.
    #[error("model: {0}")]
    Model(String),
}

/// `Result` with [`GeoError`].
pub type Result<T> = std::result::Result<T, GeoError>;
