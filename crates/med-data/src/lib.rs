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
//!
//! ```
//! use med_data::metrics::{psnr, ssim};
//! use med_data::phantom::PhantomGenerator;
//! use med_data::Preprocess;
//!
//! // A synthetic phantom (labels drawn from the NIH statistics), as model input.
//! let phantom = PhantomGenerator::new(42).generate(0);
//! assert!(phantom.id.starts_with("synthetic-phantom-"));
//! let x = Preprocess::latent_he().apply(&phantom.image)?; // 256x256 in [-1, 1]
//! let shifted = x.map(|v| (v + 0.01).min(1.0));
//! assert!(psnr(&x, &shifted, 2.0)? > 40.0);
//! assert!(ssim(&x, &shifted, 2.0)? > 0.99);
//! # Ok::<(), med_data::Error>(())
//! ```
//!
//! Reading a dataset, counting what could not be read:
//!
//! ```no_run
//! let ds = med_data::datasets::nih("Data_Entry_2017_v2020.csv", "/data/nih")?
//!     .with_preprocess(med_data::Preprocess::latent_he());
//! let mut it = ds.iter();
//! for sample in it.by_ref() {
//!     let _ = (sample.image, sample.labels); // 256x256 image, 14 labels
//! }
//! for skip in it.skipped() {
//!     eprintln!("{skip}");
//! }
//! # Ok::<(), med_data::Error>(())
//! ```

#![warn(missing_docs)]

pub mod datasets;
mod dicom_guard;
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
