//! `average`: the element-wise mean of the generator weights of several snapshots of one run
//! (weight files `.lcw` or training checkpoints `.lcc`), written as a weight file.
//!
//! ```text
//! cargo run --profile test -p latent-codec --bin average -- --out avg.lcw \
//!     runs/f8/step-900.lcc runs/f8/step-950.lcc runs/f8/step-1000.lcc
//! ```

use std::path::PathBuf;

use clap::Parser;
use latent_codec::average::average;
use latent_codec::codec::cpu;
use latent_codec::train::Trainer;
use latent_codec::{Codec, Result};

#[derive(Parser, Debug)]
#[command(about = "Average the generator weights of snapshots of one latent-codec run")]
struct Args {
    /// Output weight file (`.lcw`).
    #[arg(long)]
    out: PathBuf,
    /// Snapshots: weight files (`.lcw`) or checkpoints (`.lcc`) of one configuration.
    #[arg(required = true, num_args = 1..)]
    inputs: Vec<PathBuf>,
}

fn load(path: &PathBuf) -> Result<Codec> {
    let device = cpu();
    if path.extension().is_some_and(|e| e == "lcc") {
        let t = Trainer::load_checkpoint(path, &device)?;
        eprintln!("{}: checkpoint at step {}", path.display(), t.step);
        t.codec()
    } else {
        Codec::load(path, &device)
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let codecs = args.inputs.iter().map(load).collect::<Result<Vec<_>>>()?;
    let avg = average(&codecs)?;
    avg.save(&args.out)?;
    eprintln!(
        "mean of {} snapshots -> {} ({} bytes)",
        codecs.len(),
        args.out.display(),
        std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0)
    );
    Ok(())
}
