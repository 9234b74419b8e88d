//! # sca-privacy
//!
//! PRIMIS (Shiri, Razeghi, Ferdowsi et al. 2024): images are shared as *public* sparse codes
//! that anyone may hold, obfuscated by ambiguation noise; only recipients holding the small
//! secret key (the true supports of the codes) reconstruct them. See `docs/sca-privacy.md`.
//!
//! - [`model`]: the bottlenecked autoencoder in `burn` (residual encoder, grouped linear
//!   projection into `G` code maps of `M`-dimensional vectors, S-sparsity, decoder tied to
//!   the projection) and the attacker's U-Net-like [`model::InversionNet`].
//! - [`codec`]: [`Sca`], weight files, whole images by 64x64 tiles, [`Codes`].
//! - [`fast`]: the encoder and decoder inference passes without `burn` (im2col + `gemm`,
//!   one thread), used by sharing and revealing.
//! - [`sparse`]: the top-S operator, supports, [`sparse::SupportKey`] packed in the
//!   combinatorial number system (`ceil(log2 C(M, S_x))` bits per vector).
//! - [`ambiguation`]: S_n ambiguation entries per vector from ChaCha20: decoy layers (the
//!   S-sparse codes of a fresh SYNTHETIC phantom, tile-shuffled, rank-matched to each code
//!   map's true values; the default) or PRIMIS's i.i.d. noise matched per code map.
//! - [`keys`]: X25519 + ChaCha20-Poly1305 key wrapping per recipient, bound to the SHA-256 of
//!   the public code.
//! - [`share`]: [`share::share`], [`share::reveal`], the public code file, support guesses and
//!   their recovery rate against chance.
//! - [`attack`], [`train`], [`data`], [`stats`] (Kolmogorov-Smirnov), [`format`] (envelope
//!   with CRC-32).
//!
//! ```no_run
//! use sca_privacy::{ambiguation::Ambiguation, codec::cpu, keys::RecipientSecret, share, Sca};
//! let sca = Sca::shipped(16, &cpu())?;
//! let img = med_data::GrayImage::filled(256, 256, 0.5)?;
//! let alice = RecipientSecret::generate("alice")?;
//! let amb = Ambiguation::default_for(64, 16); // 3 decoy layers
//! let shared = share::share(&sca, &img, amb, &[alice.public()])?;
//! let back = share::reveal(&sca, &shared.public_bytes, &shared.keys, &alice)?;
//! assert_eq!((back.width(), back.height()), (256, 256));
//! # Ok::<(), sca_privacy::ScaError>(())
//! ```

#![warn(missing_docs)]

pub mod ambiguation;
pub mod attack;
pub mod codec;
pub mod config;
pub mod data;
pub mod error;
pub mod fast;
pub mod format;
pub mod keys;
pub mod model;
pub mod share;
pub mod sparse;
pub mod stats;
pub mod train;

pub use codec::{CodeLayout, Codes, Sca};
pub use config::{ScaConfig, SparsityKind};
pub use error::{Result, ScaError};
