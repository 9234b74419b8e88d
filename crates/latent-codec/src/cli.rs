//! The codec training run behind the `train` binary and `privmed train-codec` (moved here
//! from `bin/train.rs` so that both call one function): train a VQGAN codec on crops of the real samples
//! (12 of 16; 4 held out) and synthetic phantoms, with periodic resumable checkpoints and a
//! validation report.
//!
//! ```text
//! cargo run --profile test -p latent-codec --bin train -- --factor 8 --steps 2000 --out runs/f8
//! cargo run --profile test -p latent-codec --bin train -- --out runs/f8 --resume --steps 4000
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use crate::codec::cpu;
use crate::data::{eval_phantoms, real_split, CropSampler};
use crate::eval::{evaluate, SetResult};
use crate::train::{RecLoss, TrainConfig, Trainer};
use crate::{Codec, CodecConfig, CodecError, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

/// Settings of a codec training run (the `train` binary and `privmed train-codec`).
#[derive(Parser, Debug, Clone)]
#[command(about = "Train the latent-codec VQGAN (real X-ray crops + synthetic phantoms)")]
pub struct TrainArgs {
    /// Run folder: checkpoint.lcc, vqgan-f{F}.lcw, report.md.
    #[arg(long)]
    pub out: PathBuf,
    /// Downsampling factor (2, 4, 8, 16).
    #[arg(long, default_value_t = 8)]
    pub factor: usize,
    /// Train until this many steps in total (a resumed run continues to it).
    #[arg(long, default_value_t = 2000)]
    pub steps: u64,
    /// Stop early after this many minutes (a checkpoint is written).
    #[arg(long)]
    pub max_minutes: Option<f64>,
    /// Resume from OUT/checkpoint.lcc (hyper-parameters come from the checkpoint).
    #[arg(long)]
    pub resume: bool,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Batch size.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Crop side.
    #[arg(long, default_value_t = 64)]
    pub crop: u32,
    /// Learning rate (default 2e-4; with --resume, overrides the checkpoint's, for example to
    /// lower it when continuing).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Use an L2 instead of an L1 reconstruction loss.
    #[arg(long)]
    l2: bool,
    /// Step at which the PatchGAN hinge loss switches on.
    #[arg(long, default_value_t = 2000)]
    pub disc_start: u64,
    /// Weight of the generator's adversarial loss.
    #[arg(long, default_value_t = 0.1)]
    pub disc_weight: f64,
    /// Base width of the encoder/decoder (default: the factor's configuration).
    #[arg(long)]
    pub width: Option<usize>,
    /// Weight of the SSIM term, loss = pixel + W (1 - SSIM).
    #[arg(long, default_value_t = 0.0)]
    pub ssim_weight: f64,
    /// Cosine decay of the learning rate over this many steps (default 0: constant; with
    /// --resume, overrides the checkpoint's).
    #[arg(long)]
    pub decay_steps: Option<u64>,
    /// Learning rate at the end of the cosine decay.
    #[arg(long, default_value_t = 1e-5)]
    pub lr_end: f64,
    /// Initialise from this weight file: the whole generator if its configuration is the
    /// run's, otherwise its decoder and codebook (its encoder is then the distillation
    /// teacher).
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// Steps of encoder distillation from the --init-from encoder before the VQGAN objective.
    #[arg(long, default_value_t = 0)]
    pub distill_steps: u64,
    /// Encoder levels replaced by the patchify stem (default: the factor's configuration;
    /// 0 = full-resolution encoder).
    #[arg(long)]
    pub stem_levels: Option<usize>,
    /// Give the encoder's mid-block its self-attention block.
    #[arg(long)]
    pub encoder_attention: bool,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 200)]
    pub checkpoint_every: u64,
    /// Held-out phantoms in the validation report.
    #[arg(long, default_value_t = 8)]
    pub eval_phantoms: usize,
}

fn report_line(name: &str, r: &SetResult) -> String {
    format!("| {name} | {} |", r.table_cells())
}

/// Runs the training `args` describe: checkpoints, weights and `report.md` in `args.out`.
pub fn train(args: &TrainArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out).map_err(|source| CodecError::Io {
        path: args.out.clone(),
        source,
    })?;
    let ckpt = args.out.join("checkpoint.lcc");
    let device = cpu();
    let mut trainer = if args.resume && ckpt.exists() {
        let mut t = Trainer::load_checkpoint(&ckpt, &device)?;
        eprintln!("resumed {} at step {}", ckpt.display(), t.step);
        if let Some(lr) = args.lr {
            eprintln!("learning rate {} -> {lr}", t.train.lr);
            t.train.lr = lr;
        }
        if let Some(d) = args.decay_steps {
            eprintln!("cosine decay over {} -> {d} steps", t.train.decay_steps);
            t.train.decay_steps = d;
        }
        t
    } else {
        let mut config = CodecConfig::for_factor(args.factor)?;
        if let Some(w) = args.width {
            config.base_channels = w;
        }
        if let Some(s) = args.stem_levels {
            config.encoder_stem_levels = s;
        }
        config.encoder_attention |= args.encoder_attention;
        let train = TrainConfig {
            seed: args.seed,
            batch: args.batch,
            crop: args.crop,
            lr: args.lr.unwrap_or(2e-4),
            rec_loss: if args.l2 { RecLoss::L2 } else { RecLoss::L1 },
            disc_start: args.disc_start,
            disc_weight: args.disc_weight,
            ssim_weight: args.ssim_weight,
            decay_steps: args.decay_steps.unwrap_or(0),
            lr_end: args.lr_end,
            distill_steps: args.distill_steps,
            init_from: args.init_from.as_ref().map(|p| p.display().to_string()),
            ..TrainConfig::default()
        };
        let mut t = Trainer::new(config, train, &device)?;
        if let Some(p) = &args.init_from {
            t.init_from(&Codec::load(p, &device)?)?;
            eprintln!("initialised from {}", p.display());
        }
        t
    };
    let teacher = match &trainer.train.init_from {
        Some(p) if trainer.step < trainer.train.distill_steps => Some(Codec::load(p, &device)?),
        _ => None,
    };
    let tc = trainer.train.clone();
    let (real_train, real_held) = real_split()?;
    let sampler = CropSampler::new(&real_train, tc.n_phantoms, tc.phantom_fraction, tc.crop)?;
    eprintln!(
        "f={} latent {}ch, codebook {}, {} real training images (+4 held out), {} synthetic phantoms, crop {}, batch {}",
        trainer.config.factor,
        trainer.config.latent_channels,
        trainer.config.codebook_size,
        real_train.len(),
        tc.n_phantoms,
        tc.crop,
        tc.batch
    );

    let pb = ProgressBar::new(args.steps);
    pb.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta}) {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_position(trainer.step);
    let start = Instant::now();
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(args.out.join("train.log"))
        .map_err(|source| CodecError::Io {
            path: args.out.join("train.log"),
            source,
        })?;
    let (mut acc_rec, mut acc_n) = (0.0, 0u32);
    while trainer.step < args.steps {
        if let Some(m) = args.max_minutes {
            if start.elapsed().as_secs_f64() > m * 60.0 {
                pb.println(format!("time limit of {m} min reached"));
                break;
            }
        }
        let mut rng = trainer.step_rng(trainer.step + 1);
        let batch = sampler.batch(tc.batch, &mut rng)?;
        let s = match &teacher {
            Some(t) if trainer.step < tc.distill_steps => {
                trainer.distill_step(&t.model().encoder, batch, tc.batch, tc.crop as usize)?
            }
            _ => trainer.step(batch, tc.batch, tc.crop as usize)?,
        };
        acc_rec += s.rec;
        acc_n += 1;
        pb.set_position(trainer.step);
        pb.set_message(format!(
            "rec {:.4} ssim {:.3} vq {:.4} ppl {:.0} d {:.3}",
            s.rec, s.ssim, s.vq, s.batch_perplexity, s.d_loss
        ));
        if trainer.step % 50 == 0 {
            let _ = writeln!(
                log,
                "step {} lr {:.2e} rec(mean of last {}) {:.5} ssim {:.4} vq {:.5} g_adv {:.4} d {:.4} batch_ppl {:.1} reinit {} run_ppl {:.1} used {}",
                trainer.step,
                tc.lr_at(trainer.step),
                acc_n,
                acc_rec / acc_n as f64,
                s.ssim,
                s.vq,
                s.g_adv,
                s.d_loss,
                s.batch_perplexity,
                s.reinitialised,
                trainer.usage.perplexity(),
                trainer.usage.used()
            );
            trainer.usage.reset_counts();
            acc_rec = 0.0;
            acc_n = 0;
        }
        if trainer.step % args.checkpoint_every == 0 {
            trainer.save_checkpoint(&ckpt)?;
        }
    }
    pb.finish();
    trainer.save_checkpoint(&ckpt)?;
    let codec = trainer.codec()?;
    let weights = args
        .out
        .join(format!("vqgan-f{}.lcw", trainer.config.factor));
    codec.save(&weights)?;
    eprintln!(
        "step {}: checkpoint {}, weights {} ({} bytes)",
        trainer.step,
        ckpt.display(),
        weights.display(),
        std::fs::metadata(&weights).map(|m| m.len()).unwrap_or(0)
    );

    let real = evaluate(&codec, &real_held)?;
    let phantoms = evaluate(&codec, &eval_phantoms(args.eval_phantoms))?;
    let mut report = format!(
        "# Validation report, f={} after {} steps\n\n\
         256x256 images, metrics on [0, 1] intensities (data range 1), median single-image times.\n\n\
         | set | n | PSNR dB | SSIM | MAE | codes used | perplexity | encode ms | decode ms |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        trainer.config.factor, trainer.step
    );
    report += &report_line("real X-rays, held out (Kermany et al.)", &real);
    report.push('\n');
    report += &report_line("SYNTHETIC phantoms, held out", &phantoms);
    report.push_str("\n\nPer image:\n\n| image | PSNR dB | SSIM | MAE |\n|---|---|---|---|\n");
    for r in real.images.iter().chain(&phantoms.images) {
        report += &format!(
            "| {} | {:.2} | {:.4} | {:.4} |\n",
            r.id, r.psnr, r.ssim, r.mae
        );
    }
    std::fs::write(args.out.join("report.md"), &report).map_err(|source| CodecError::Io {
        path: args.out.join("report.md"),
        source,
    })?;
    println!("{report}");
    Ok(())
}
