//! `train`: train a VQGAN codec on crops of the real samples (12 of 16; 4 held out) and
//! synthetic phantoms, with periodic resumable checkpoints and a validation report.
//!
//! ```text
//! cargo run --profile test -p latent-codec --bin train -- --factor 8 --steps 2000 --out runs/f8
//! cargo run --profile test -p latent-codec --bin train -- --out runs/f8 --resume --steps 4000
//! ```

use clap::Parser;
use latent_codec::cli::{train, TrainArgs};

fn main() -> latent_codec::Result<()> {
    train(&TrainArgs::parse())
}
