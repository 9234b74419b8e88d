//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong in `ckks-core`; no public function panics on user input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CkksError {
    /// Parameters that cannot be built (wrong sizes, missing primes, bad `dnum`, ...).
    #[error("invalid parameters: {0}")]
    InvalidParameters(String),
    /// A parameter set above the 128-bit security bound that does not say `insecure`.
    #[error(
        "parameter set '{name}' is not 128-bit secure: log2(QP) = {log_qp:.1} exceeds the bound {bound} for N = 2^{log_n} (HomomorphicEncryption.org table, ternary secret); name it '...insecure...' for tests"
    )]
    Insecure {
        /// Name of the set.
        name: String,
        /// log2 of the full modulus including special primes.
        log_qp: f64,
        /// The table's bound for this ring degree.
        bound: u32,
        /// log2 N.
        log_n: u32,
    },
    /// Two operands at different levels.
    #[error("level mismatch: {0} vs {1} (drop the higher one explicitly with drop_level)")]
    LevelMismatch(usize, usize),
    /// Two operands at different scales.
    #[error("scale mismatch: 2^{0:.6} vs 2^{1:.6} (match them explicitly, e.g. with set_scale)")]
    ScaleMismatch(f64, f64),
    /// Operands that do not share a parameter set.
    #[error("operands belong to different parameter sets")]
    ParameterMismatch,
    /// An operation that needs a level the ciphertext no longer has.
    #[error("level too low: the operation needs level {needed}, the operand is at level {level}")]
    LevelTooLow {
        /// Level required.
        needed: usize,
        /// Level present.
        level: usize,
    },
    /// A ciphertext of unexpected degree (e.g. relinearizing a degree-1 ciphertext).
    #[error("ciphertext degree {0} not supported by this operation (expected {1})")]
    Degree(usize, usize),
    /// A Galois key that was not generated.
    #[error("missing Galois key for element {0} (rotation or conjugation key not generated)")]
    MissingGaloisKey(u64),
    /// Too many values for the slots.
    #[error("{values} values do not fit in {slots} slots")]
    TooManyValues {
        /// Number of values given.
        values: usize,
        /// Available slots.
        slots: usize,
    },
    /// A value whose scaled encoding would not fit the plaintext modulus or is not finite.
    #[error("value out of range for encoding: {0}")]
    EncodingOverflow(String),
    /// Malformed, truncated or foreign serialized data.
    #[error("deserialization failed: {0}")]
    Deserialize(String),
    /// Serialized data made for another parameter set.
    #[error("serialized object belongs to another parameter set (fingerprint mismatch)")]
    FingerprintMismatch,
    /// Serialized data with a format version this build cannot read.
    #[error("unsupported serialization format version {0}")]
    Version(u16),
    /// Serialization failed.
    #[error("serialization failed: {0}")]
    Serialize(String),
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, CkksError>;
