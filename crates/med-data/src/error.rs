//! The crate's error type.

use std::path::{Path, PathBuf};

/// Every fallible operation of this crate returns this error.
///
/// Variants that concern a file name it, so that a user who points a reader at a
/// folder of thousands of images learns which one failed and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or read (missing file, permissions, ...).
    #[error("{}: cannot read file: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error("{}: cannot write file: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error, as text.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The file's format is not one this crate reads (by extension and content).
    #[error("{}: unsupported image format ({detail})", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// A PNG or JPEG file could not be decoded (truncated, corrupt, ...).
    #[error("{}: cannot decode image: {detail}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        detail: String,
    },
    /// A DICOM file could not be parsed.
    #[error("{}: invalid DICOM file: {detail}", path.display())]
    Dicom {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        detail: String,
    },
    /// The DICOM file's transfer syntax has no pixel data decoder here
    /// (for example JPEG 2000 or JPEG-LS).
    #[error("{}: unsupported DICOM transfer syntax {uid} ({name})", path.display())]
    UnsupportedTransferSyntax {
        /// The file.
        path: PathBuf,
        /// Transfer syntax UID.
        uid: String,
        /// Human-readable name, when known.
        name: String,
    },
    /// The DICOM file has no Pixel Data element (an RT plan, a structured report, ...).
    #[error("{}: DICOM file has no pixel data (SOP class {sop_class})", path.display())]
    NoPixelData {
        /// The file.
        path: PathBuf,
        /// SOP Class UID, or "unknown".
        sop_class: String,
    },
    /// The DICOM pixel data uses a layout this crate does not convert to grayscale.
    #[error("{}: unsupported DICOM pixel layout: {detail}", path.display())]
    UnsupportedPixelLayout {
        /// The file.
        path: PathBuf,
        /// What is unsupported.
        detail: String,
    },
    /// The image is smaller than the requested output and upscaling was not allowed.
    #[error("{}: image is {width}x{height}, smaller than the requested {required_width}x{required_height}", show(path))]
    ImageTooSmall {
        /// The file, when the image came from one.
        path: Option<PathBuf>,
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
        /// Requested width.
        required_width: u32,
        /// Requested height.
        required_height: u32,
    },
    /// An argument is out of its domain (zero size, mismatched lengths, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A CSV file could not be parsed at all (bad header, wrong encoding).
    #[error("{}: CSV error: {detail}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        detail: String,
    },
    /// A CSV header has a column that the reader does not know.
    #[error("{}: unknown column {column:?} (expected columns: {expected})", path.display())]
    UnknownColumn {
        /// The file.
        path: PathBuf,
        /// The unexpected column.
        column: String,
        /// The columns the reader knows, comma separated.
        expected: String,
    },
    /// A CSV header lacks a column that the reader needs.
    #[error("{}: missing column {column:?}", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The missing column.
        column: String,
    },
    /// A `.npz` archive or one of its arrays is malformed or missing.
    #[error("{}: invalid NPZ archive: {detail}", path.display())]
    Npz {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A dataset folder has no usable content.
    #[error("{}: empty dataset: {detail}", path.display())]
    EmptyDataset {
        /// The folder or file.
        path: PathBuf,
        /// What was looked for.
        detail: String,
    },
}

fn show(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => "<in-memory image>".to_string(),
    }
}

impl Error {
    /// The file this error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. }
            | Error::Write { path, .. }
            | Error::UnsupportedFormat { path, .. }
            | Error::Decode { path, .. }
            | Error::Dicom { path, .. }
            | Error::UnsupportedTransferSyntax { path, .. }
            | Error::NoPixelData { path, .. }
            | Error::UnsupportedPixelLayout { path, .. }
            | Error::Csv { path, .. }
            | Error::UnknownColumn { path, .. }
            | Error::MissingColumn { path, .. }
            | Error::Npz { path, .. }
            | Error::EmptyDataset { path, .. } => Some(path),
            Error::ImageTooSmall { path, .. } => path.as_deref(),
            Error::InvalidArgument(_) => None,
        }
    }

    /// Attach a file name to an error produced on an in-memory image.
    pub fn with_path(self, file: &Path) -> Self {
        match self {
            Error::ImageTooSmall {
                path: None,
                width,
                height,
                required_width,
                required_height,
            } => Error::ImageTooSmall {
                path: Some(file.to_path_buf()),
                width,
                height,
                required_width,
                required_height,
            },
            other => other,
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Shorthand for `Result<T, med_data::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
