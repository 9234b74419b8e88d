//! Typed errors of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in encoding, sharing, revealing and loading files.
#[derive(Debug, thiserror::Error)]
pub enum ScaError {
    /// Inconsistent configuration (sparsity larger than the code dimension, ...).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a file of the expected kind.
    #[error("{what}: not a {expected} file (bad magic bytes)")]
    BadMagic {
        /// The file or buffer concerned.
        what: String,
        /// The kind of file expected.
        expected: &'static str,
    },
    /// A format version this build does not read.
    #[error("{what}: format version {found}, this build reads {expected}")]
    UnsupportedVersion {
        /// The file or buffer concerned.
        what: String,
        /// Version found.
        found: u16,
        /// Version this build reads.
        expected: u16,
    },
    /// Truncated data, a checksum mismatch or an inconsistent field.
    #[error("{what}: corrupted ({detail})")]
    Corrupted {
        /// The file or buffer concerned.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// Weights that do not fit the architecture, or a code made with other weights.
    #[error("{what}: does not match the model: {detail}")]
    ModelMismatch {
        /// The file or buffer concerned.
        what: String,
        /// What did not match.
        detail: String,
    },
    /// An image whose sides are not positive multiples of the patch side.
    #[error("image {width}x{height} is not tiled by {patch}x{patch} patches")]
    BadImageSize {
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
        /// Patch side.
        patch: u32,
    },
    /// No wrapped key for the named recipient.
    #[error("no key wrapped for recipient {0:?}")]
    UnknownRecipient(String),
    /// Authenticated decryption failed: wrong secret key, or the key file or the public code
    /// was modified.
    #[error("key unwrapping failed for recipient {0:?}: wrong secret key, or the key or the public code was modified")]
    UnwrapFailed(String),
    /// A support key that does not fit the public code.
    #[error("secret key does not fit the public code: {0}")]
    KeyMismatch(String),
    /// Error from med-data (image I/O, metrics).
    #[error(transparent)]
    Data(#[from] med_data::Error),
    /// Invalid argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ScaError>;

/// Read a file, mapping the error to [`ScaError::Io`].
pub fn read_file(path: impl AsRef<std::path::Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    std::fs::read(path).map_err(|source| ScaError::Io {
        path: path.into(),
        source,
    })
}

/// Write a file, mapping the error to [`ScaError::Io`].
pub fn write_file(path: impl AsRef<std::path::Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    std::fs::write(path, bytes).map_err(|source| ScaError::Io {
        path: path.into(),
        source,
    })
}
