//! # latent-codec
//!
//! The client-side compressor of the Latent-HE pipeline (Kim et al. 2025): a VQGAN (Esser,
//! Rombach and Ommer 2021, "Taming Transformers for High-Resolution Image Synthesis") that
//! maps a 256x256 chest X-ray to a small latent (f = 8: 4x32x32) on which encrypted inference
//! is affordable.
//!
//! - [`model`]: encoder (residual blocks, stride-2 downsampling per level, mid-block with one
//!   self-attention block), [`model::VectorQuantizer`] (codebook 1024, straight-through
//!   estimator, commitment loss; van den Oord et al. 2017), decoder, PatchGAN discriminator
//!   (Isola et al. 2017) and the hinge losses.
//! - [`config::CodecConfig`]: f = 2, 4, 8, 16 with the latent shapes of Rombach et al. 2022,
//!   Table 4 (128x128x2, 64x64x3, 32x32x4, 16x16x8).
//! - [`codec::Codec`]: inference, `encode(image) -> Latent`, `decode(latent) -> image`, weight
//!   files with typed errors ([`CodecError`]).
//! - [`fast`]: the encoder and nearest-code search of [`Codec::encode`] without burn
//!   (im2col + `gemm`, one thread), tested against burn's forward pass.
//! - [`codes`]: [`Latent`] and [`CodeIndices`], 10 bits per index at 1024 codes.
//! - [`train`]: the training step, codebook usage and perplexity, dead-code
//!   re-initialisation, resumable checkpoints; [`data`]: crops of the real samples (4 held out)
//!   and synthetic phantoms; [`eval`]: PSNR/SSIM/MAE and timings; [`average`]: the mean
//!   of several snapshots' weights.
//!
//! Runs on burn's pure-Rust Flex CPU backend ([`codec::cpu`]).

#![warn(missing_docs)]

pub mod average;
pub mod cli;
pub mod codec;
pub mod codes;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod fast;
pub mod model;
pub mod train;

pub use codec::Codec;
pub use codes::{CodeIndices, Latent};
pub use config::CodecConfig;
pub use error::{CodecError, Result};
