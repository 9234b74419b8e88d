//! `sca-train`: train the sparse-coding autoencoder at one sparsity S_x on random 64x64
//! tiles of the 12 real training X-rays (at 4 scales; the 4 held out are never seen) and
//! synthetic phantoms, with periodic resumable checkpoints.
//!
//! ```text
//! nice -n 19 cargo run --profile test -p sca-privacy --bin sca-train -- --sparsity 16 \
//!     --steps 1500 --max-minutes 12 --out runs/s16
//! # fine-tune another sparsity from it:
//! nice -n 19 cargo run --profile test -p sca-privacy --bin sca-train -- --sparsity 8 \
//!     --init runs/s16/sca-s16.scw --steps 600 --out runs/s8
//! ```

use std::path::PathBuf;

use burn::module::Module;
use clap::Parser;
use sca_privacy::codec::{apply_record, cpu, parse_module_bytes};
use sca_privacy::data::{training_pool, TileSampler};
use sca_privacy::error::read_file;
use sca_privacy::model::ScaAutoencoder;
use sca_privacy::train::{mse_loss, tiles_tensor, Fit, Schedule};
use sca_privacy::{Result, Sca, ScaConfig, ScaError};

use sca_privacy::codec::WEIGHTS_MAGIC as AE_MAGIC;

#[derive(Parser, Debug)]
#[command(
    about = "Train the PRIMIS sparse-coding autoencoder (real X-ray tiles + SYNTHETIC phantoms)"
)]
struct Args {
    /// Run folder (checkpoint.scc, sca-s{S}.scw, log.txt).
    #[arg(long)]
    out: PathBuf,
    /// S_x, nonzeros kept per code vector.
    #[arg(long, default_value_t = 16)]
    sparsity: usize,
    /// Total steps (a resumed run continues to it; also the length of the cosine schedule).
    #[arg(long, default_value_t = 1500)]
    steps: u64,
    /// Stop after this many minutes (a checkpoint is written).
    #[arg(long)]
    max_minutes: Option<f64>,
    /// Resume from OUT/checkpoint.scc.
    #[arg(long)]
    resume: bool,
    /// Start from these weights (another sparsity's), with a fresh optimizer.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Tiles per step.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Training phantoms (synthetic) in the pool.
    #[arg(long, default_value_t = 48)]
    phantoms: usize,
    /// Residual trunk width.
    #[arg(long, default_value_t = 64)]
    width: usize,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 100)]
    checkpoint_every: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out).map_err(|source| ScaError::Io {
        path: args.out.clone(),
        source,
    })?;
    let ckpt = args.out.join("checkpoint.scc");
    let device = cpu();
    let build = |c: &ScaConfig, d: &burn::tensor::Device| ScaAutoencoder::new(c, d);
    let mut fit = if args.resume && ckpt.exists() {
        Fit::load_checkpoint(AE_MAGIC, &ckpt, &device, build)?
    } else {
        let mut config = ScaConfig::with_sparsity(args.sparsity)?;
        config.width = args.width;
        config.validate()?;
        let mut fit = Fit::new(config.clone(), args.seed, &device, |d| build(&config, d));
        if let Some(init) = &args.init {
            let (c, record): (ScaConfig, _) = parse_module_bytes(
                &read_file(init)?,
                AE_MAGIC,
                "sca-privacy weights",
                &init.display().to_string(),
            )?;
            if (ScaConfig {
                sparsity: config.sparsity,
                ..c.clone()
            }) != config
            {
                return Err(ScaError::ModelMismatch {
                    what: init.display().to_string(),
                    detail: "architecture differs".into(),
                });
            }
            fit.model = apply_record(fit.model, record, &init.display().to_string())?;
            eprintln!("initialised from {} (S_x = {})", init.display(), c.sparsity);
        }
        fit
    };
    let cfg = fit.config.clone();
    let sampler = TileSampler::new(&training_pool(args.phantoms)?, cfg.patch)?;
    eprintln!(
        "S_x = {}, {} code maps of M = {}, width {}, batch {}, steps {} (at {})",
        cfg.sparsity, cfg.groups, cfg.code_dim, cfg.width, args.batch, args.steps, fit.step
    );
    let schedule = Schedule {
        steps: args.steps,
        lr: args.lr,
        max_minutes: args.max_minutes,
        log_every: 50,
        checkpoint_every: args.checkpoint_every,
    };
    fit.run(&schedule, &args.out, AE_MAGIC, &ckpt, |fit, lr, rng| {
        let tiles = (0..args.batch)
            .map(|_| sampler.sample(rng))
            .collect::<Result<Vec<_>>>()?;
        let x = tiles_tensor(&tiles, fit.device());
        fit.step(lr, |m| {
            mse_loss(m.forward(x.clone(), cfg.sparsity, cfg.kind), x)
        })
    })?;
    let sca = Sca::from_model(cfg.clone(), fit.model.valid())?;
    let path = args.out.join(format!("sca-s{}.scw", cfg.sparsity));
    sca.save(&path)?;
    eprintln!("step {}: weights {}", fit.step, path.display());
    Ok(())
}
