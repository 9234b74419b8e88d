//! Typed errors of the codec.

use std::path::PathBuf;

/// Errors of loading weights, (de)serializing latents and checking inputs.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Factor not in {2, 4, 8, 16}.
    #[error("unsupported downsampling factor {0} (supported: 2, 4, 8, 16)")]
    UnsupportedFactor(usize),
    /// Inconsistent configuration.
    #[error("invalid codec configuration: {0}")]
    InvalidConfig(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a weight file of this crate (wrong magic).
    #[error("{what}: not a latent-codec file (bad magic bytes)")]
    BadMagic {
        /// The file or buffer concerned.
        what: String,
    },
    /// A format version this build does not read.
    #[error("{what}: format version {found}, this build reads {expected}")]
    UnsupportedVersion {
        /// The file or buffer concerned.
        what: String,
        /// Version in the file.
        found: u16,
        /// Version this build reads.
        expected: u16,
    },
    /// Truncated data or a checksum mismatch.
    #[error("{what}: corrupted ({detail})")]
    Corrupted {
        /// The file or buffer concerned.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// The weights do not fit the architecture they are loaded into.
    #[error("{what}: weights do not match the model: {detail}")]
    WeightMismatch {
        /// The file or buffer concerned.
        what: String,
        /// What did not match.
        detail: String,
    },
    /// A latent or index set made for another configuration.
    #[error("latent does not match the codec: {0}")]
    LatentMismatch(String),
    /// An image of the wrong size for the codec.
    #[error("image {width}x{height} is not a positive multiple of the factor {factor}")]
    BadImageSize {
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
        /// Required divisor.
        factor: usize,
    },
    /// Error from med-data (image I/O, datasets, metrics).
    #[error(transparent)]
    Data(#[from] med_data::Error),
    /// Invalid argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, CodecError>;
