//! `sca-attack`: train the supervised inversion attack on (public code, image) pairs of
//! the images an attacker is given (the 12 real training X-rays at 4 scales and SYNTHETIC
//! phantoms, fresh ambiguation noise at every step); it is tested by `sca-eval` on the 4
//! held-out real X-rays it never saw.
//!
//! ```text
//! nice -n 19 cargo run --profile test -p sca-privacy --bin sca-attack -- --sparsity 16 \
//!     --steps 400 --max-minutes 5 --out runs/attack-s16
//! ```

use std::path::PathBuf;

use burn::tensor::Tensor;
use clap::Parser;
use rand::Rng;
use sca_privacy::ambiguation::AmbiguationArgs;
use sca_privacy::attack::{code_maps, AttackConfig, Attacker, ATTACK_MAGIC};
use sca_privacy::codec::{cpu, image_to_tiles, shipped_weights_path};
use sca_privacy::data::{training_pool, TileSampler};
use sca_privacy::model::InversionNet;
use sca_privacy::share::obfuscate;
use sca_privacy::train::{mse_loss, Fit, Schedule};
use sca_privacy::{Result, Sca, ScaError};

#[derive(Parser, Debug)]
#[command(about = "Train the supervised inversion attack on public codes")]
struct Args {
    /// Run folder (checkpoint.scc, attack-s{S}.sca, log.txt).
    #[arg(long)]
    out: PathBuf,
    /// Sparsity of the shipped weights to attack.
    #[arg(long, default_value_t = 16)]
    sparsity: usize,
    /// Attack these weights instead of the shipped ones.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Ambiguation (default: decoy layers, as many as fit).
    #[command(flatten)]
    ambiguation: AmbiguationArgs,
    /// Total steps.
    #[arg(long, default_value_t = 400)]
    steps: u64,
    /// Stop after this many minutes.
    #[arg(long)]
    max_minutes: Option<f64>,
    /// Resume from OUT/checkpoint.scc.
    #[arg(long)]
    resume: bool,
    /// 256x256 images per step (16 tiles each).
    #[arg(long, default_value_t = 1)]
    images: usize,
    /// Network width.
    #[arg(long, default_value_t = 48)]
    width: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Training phantoms (synthetic).
    #[arg(long, default_value_t = 48)]
    phantoms: usize,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out).map_err(|source| ScaError::Io {
        path: args.out.clone(),
        source,
    })?;
    let device = cpu();
    let sca = Sca::load(
        args.weights
            .clone()
            .unwrap_or_else(|| shipped_weights_path(args.sparsity)),
        &device,
    )?;
    let cfg = sca.config().clone();
    let amb = args.ambiguation.resolve(cfg.code_dim, cfg.sparsity)?;
    let ckpt = args.out.join("checkpoint.scc");
    let build = |c: &AttackConfig, d: &burn::tensor::Device| InversionNet::new(&c.sca, c.width, d);
    let mut fit = if args.resume && ckpt.exists() {
        Fit::load_checkpoint(ATTACK_MAGIC, &ckpt, &device, build)?
    } else {
        let c = AttackConfig {
            sca: cfg.clone(),
            width: args.width,
        };
        Fit::new(c.clone(), args.seed, &device, |d| build(&c, d))
    };
    if fit.config.sca != cfg {
        return Err(ScaError::ModelMismatch {
            what: ckpt.display().to_string(),
            detail: "checkpoint attacks another autoencoder".into(),
        });
    }
    let sampler = TileSampler::new(&training_pool(args.phantoms)?, 256)?;
    eprintln!(
        "attacking S_x = {}, {}; {} image(s) per step",
        cfg.sparsity,
        amb.name(),
        args.images
    );
    let schedule = Schedule {
        steps: args.steps,
        lr: args.lr,
        max_minutes: args.max_minutes,
        log_every: 25,
        checkpoint_every: 25,
    };
    fit.run(&schedule, &args.out, ATTACK_MAGIC, &ckpt, |fit, lr, rng| {
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for _ in 0..args.images {
            let img = sampler.sample(rng)?;
            let (public, _) = obfuscate(&sca, &img, amb, Some(rng.gen()))?;
            xs.push(code_maps(&public.codes, fit.device()));
            ys.push(image_to_tiles(&img, cfg.patch, fit.device())?.0);
        }
        let (x, y) = (Tensor::cat(xs, 0), Tensor::cat(ys, 0));
        fit.step(lr, |m| mse_loss(m.forward(x), y))
    })?;
    let attacker =
        Attacker::from_model(fit.config.clone(), burn::module::Module::valid(&fit.model));
    let path = args.out.join(format!("attack-s{}.sca", cfg.sparsity));
    attacker.save(&path)?;
    eprintln!("step {}: attack weights {}", fit.step, path.display());
    Ok(())
}
