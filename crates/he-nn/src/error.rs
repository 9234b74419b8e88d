//! The crate's error type.

use ckks_core::CkksError;
use thiserror::Error;

/// Everything that can go wrong in `he-nn`; no public function panics on user input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum HeNnError {
    /// A layer whose weights or hyper-parameters do not fit its input shape.
    #[error("layer {layer}: {detail}")]
    Shape {
        /// Path of the layer in the model (`layers[3].body[1]`).
        layer: String,
        /// What does not fit.
        detail: String,
    },
    /// A tensor of the wrong shape given to the reference forward pass or the client.
    #[error("input of shape {got} given to a model that takes {expected}")]
    InputShape {
        /// Shape the model takes.
        expected: String,
        /// Shape given.
        got: String,
    },
    /// The planner cannot serve this model with these parameters (depth, slots, bootstrapping).
    #[error("the planner cannot serve this model: {0}")]
    Plan(String),
    /// A ciphertext that does not match the plan (level, scale, slot count, parameters).
    #[error("ciphertext does not match the plan: {0}")]
    Ciphertext(String),
    /// Evaluation keys that lack what the plan needs.
    #[error("missing evaluation keys: {0}")]
    MissingKeys(String),
    /// Too many inputs for the plan's batch.
    #[error("{given} inputs given, the plan batches at most {batch}")]
    Batch {
        /// Inputs given.
        given: usize,
        /// Batch size of the plan.
        batch: usize,
    },
    /// Unreadable, malformed or incomplete weight files.
    #[error("weights: {0}")]
    Weights(String),
    /// An error of the CKKS library.
    #[error(transparent)]
    Ckks(#[from] CkksError),
}

/// `Result` with [`HeNnError`].
pub type Result<T> = std::result::Result<T, HeNnError>;
