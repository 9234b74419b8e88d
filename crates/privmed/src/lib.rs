//! # privmed
//!
//! The binary users run. `privmed demo` closes the loop of the Latent-HE pipeline (Kim et al.
//! 2025): a chest X-ray is encoded by the shipped VQGAN (`latent-codec`, f = 8:
//! `256 x 256 -> 4 x 32 x 32`), the latent is encrypted under RNS-CKKS (`ckks-core`), the
//! classifier runs on the ciphertext without the secret key (`he-nn`), and the decrypted
//! logits of the 14 NIH findings are printed beside the plaintext result.
//! `privmed train-classifier` and `privmed train-codec` wrap the training entry points of
//! `he-nn-train` and `latent-codec`.
//!
//! The shipped classifier was trained on SYNTHETIC phantom latents (`med_data::phantom`), so
//! its findings on a real X-ray are a demonstration of the encrypted pipeline, not a
//! diagnosis.

pub mod demo;
pub mod evaluate;

use std::path::PathBuf;
use thiserror::Error;

/// Everything the commands report; each is one line for the user.
#[derive(Debug, Error)]
pub enum PrivmedError {
    /// An image that does not exist or cannot be decoded.
    #[error("cannot read image {}: {detail}", path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// Classifier weights that do not exist or are not a valid he-nn model.
    #[error("cannot load classifier weights {}: {detail}", path.display())]
    Weights {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The codec (shipped weights missing or corrupted, image of the wrong size).
    #[error("codec: {0}")]
    Codec(#[from] latent_codec::CodecError),
    /// The encrypted executor (a model the planner cannot serve with these parameters).
    #[error("encrypted inference: {0}")]
    HeNn(#[from] he_nn::HeNnError),
    /// The CKKS library (parameters).
    #[error("parameters: {0}")]
    Ckks(#[from] ckks_core::CkksError),
    /// An evaluation records file that cannot be read, parsed or appended to.
    #[error("evaluation records {}: {detail}", path.display())]
    Records {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// Training.
    #[error("training: {0}")]
    Train(#[from] he_nn_train::TrainError),
    /// A classifier trained on the latents of another codec than the one given.
    #[error("the classifier was trained on the latents of codec {model}, not of {codec}: pass --codec with the weights it was trained with")]
    CodecMismatch {
        /// `encoder` recorded in the model file.
        model: String,
        /// `Codec::id` of the codec given (or the default).
        codec: String,
    },
}

/// `Result` with [`PrivmedError`].
pub type Result<T> = std::result::Result<T, PrivmedError>;

/// The VQGAN the shipped classifiers were trained with: latent-codec's f=8 weights as of
/// 2026-12-01 08:00 (before its patchify-stem encoder, whose latents differ), kept here until
/// the classifiers are retrained on the current codec's latents.
pub fn classifier_codec() -> Result<latent_codec::Codec> {
    Ok(latent_codec::Codec::from_bytes(
        include_bytes!("../weights/vqgan-f8-v1.lcw"),
        &latent_codec::codec::cpu(),
    )?)
}

/// The VQGAN weights at `path`, or [`classifier_codec`] when none is given: the codec whose
/// latents `train-classifier` trains on and `evaluate` evaluates.
pub fn codec_or_default(path: Option<&std::path::Path>) -> Result<latent_codec::Codec> {
    match path {
        Some(p) => Ok(latent_codec::Codec::load(p, &latent_codec::codec::cpu())?),
        None => classifier_codec(),
    }
}

/// The codec for `model`: the weights at `path` or [`classifier_codec`], checked against the
/// codec id the model file records (`Model::encoder`, written by `train-classifier`; a file
/// without one is trusted). Latents of another codec have the classifier's input shape but
/// not its meaning, so a mismatch is an error rather than silently wrong findings.
pub fn codec_for(
    model: &he_nn::Model,
    path: Option<&std::path::Path>,
) -> Result<latent_codec::Codec> {
    let codec = codec_or_default(path)?;
    if let Some(want) = &model.encoder {
        let have = codec.id()?;
        if &have != want {
            return Err(PrivmedError::CodecMismatch {
                model: want.clone(),
                codec: have,
            });
        }
    }
    Ok(codec)
}

/// `e` on one line (nested messages joined with `: `).
pub fn one_line(e: &dyn std::error::Error) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
