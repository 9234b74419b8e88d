//! # med-data
//!
//! Shared ground for the imaging crates of the workspace: reading medical images,
//! reading labelled chest X-ray datasets, generating a synthetic (clearly labelled)
//! chest phantom set, and scoring results.
//!
//! * [`io`]: PNG / JPEG (8 and 16 bit) and DICOM (MONOCHROME1/2, 8..16 bits stored,
//!   rescale, VOI window) to a [`GrayImage`] of `[0, 1]` intensities;
//!   [`Preprocess`] brings it to a model's input (Latent-HE: 256x256 in `[-1, 1]`).
//! * [`datasets`]: CheXpert, NIH ChestX-ray14, MedMNIST `.npz` and plain folders as
//!   iterators of [`datasets::Sample`]s that skip and count unreadable items.
//! * [`phantom`]: deterministic synthetic chest radiographs with the 14 NIH findings,
//!   labels drawn from the real NIH label statistics ([`labels`]).
//! * [`metrics`]: PSNR, SSIM, MAE, ME, RMSE, AUROC, F1 and subset accuracy.
//!
//! Library code returns [`Error`] on bad input; it does not panic on user data.

pub mod datasets;
pub mod error;
pub mod figure;
pub mod image;
pub mod io;
pub mod labels;
pub mod metrics;
pub mod phantom;

pub use crate::error::{Error, Result};
pub use crate::image::{GrayImage, Preprocess};
pub use crate::io::{load_image, load_preprocessed};
