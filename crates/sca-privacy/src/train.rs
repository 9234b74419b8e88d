//! Training: one generic Adam loop serves the autoencoder (MSE between tiles and their
//! reconstructions through the S-sparse bottleneck) and the attacker's inversion network
//! (MSE between tiles and the network's output on their public codes); resumable
//! checkpoints (model and optimizer state in the crate's CRC-checked envelope).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{de::DeserializeOwned, Serialize};

use crate::codec::{apply_record, module_bytes, parse_module_bytes, seeded};
use crate::error::{read_file, write_file, Result};
use crate::format::{corrupted, put_section, seal, take_section, unseal};

const CKPT_MAGIC: &[u8; 8] = b"SCACKPT\0";
const CKPT_VERSION: u16 = 1;

/// Cosine learning-rate schedule from `lr` to `lr * floor` over `steps` steps.
pub fn cosine_lr(lr: f64, floor: f64, step: u64, steps: u64) -> f64 {
    let t = (step as f64 / steps.max(1) as f64).min(1.0);
    lr * (floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
}

/// Mean squared error of two tensors of the same shape.
pub fn mse_loss(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    (a - b).square().mean()
}

/// A `[b, 1, s, s]` tensor from flattened tile values in `[0, 1]`, mapped to `[-1, 1]`.
pub fn tiles_tensor(tiles: &[med_data::GrayImage], device: &Device) -> Tensor<4> {
    let s = tiles.first().map(|t| t.width() as usize).unwrap_or(0);
    let data: Vec<f32> = tiles
        .iter()
        .flat_map(|t| t.data().iter().map(|v| v * 2.0 - 1.0))
        .collect();
    Tensor::from_data(TensorData::new(data, [tiles.len(), 1, s, s]), device)
}

/// How long and how often [`Fit::run`] trains, logs and checkpoints.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Stop after this many steps in all (a resumed run continues its count).
    pub steps: u64,
    /// Peak learning rate of the cosine schedule ([`cosine_lr`], floor 5%).
    pub lr: f64,
    /// Stop earlier after this many minutes of wall time.
    pub max_minutes: Option<f64>,
    /// Append the mean loss to `log.txt` every this many steps.
    pub log_every: u64,
    /// Save the checkpoint every this many steps (and at the end).
    pub checkpoint_every: u64,
}

/// A module under training with Adam, its configuration `C` and the step count.
pub struct Fit<C, M: Module> {
    /// Configuration stored with the weights.
    pub config: C,
    /// The module (on an autodiff device).
    pub model: M,
    /// Steps done.
    pub step: u64,
    /// Seed of the run (initialisation and data).
    pub seed: u64,
    opt: ModuleOptimizer,
    device: Device,
}

impl<C: Serialize + DeserializeOwned + Clone, M: Module> Fit<C, M> {
    /// A fresh run: the module built by `build` on the autodiff version of `device`, seeded.
    pub fn new(config: C, seed: u64, device: &Device, build: impl FnOnce(&Device) -> M) -> Self {
        let device = device.clone().autodiff();
        let model = seeded(&device, seed, || build(&device));
        Self {
            config,
            model,
            step: 0,
            seed,
            opt: AdamConfig::new().init(),
            device,
        }
    }

    /// The autodiff device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The random generator of step `step` (a resumed run draws the same batches).
    pub fn step_rng(&self, step: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// One Adam step at learning rate `lr` on the loss `loss(model)`; returns the loss.
    pub fn step(&mut self, lr: f64, loss: impl FnOnce(&M) -> Tensor<1>) -> Result<f64> {
        let l = loss(&self.model);
        let value = crate::codec::tensor_values(l.clone().detach())?
            .first()
            .copied()
            .unwrap_or(f32::NAN) as f64;
        let grads = GradientsParams::from_grads(l.backward(), &self.model);
        self.model = self.opt.step(lr, self.model.clone(), grads);
        self.step += 1;
        Ok(value)
    }

    /// Checkpoint: (seed, step), the model file, the optimizer state.
    pub fn checkpoint_bytes(&self, magic: &[u8; 8]) -> Result<Vec<u8>> {
        let meta = postcard::to_allocvec(&(self.seed, self.step)).expect("postcard to a Vec");
        let model = module_bytes(magic, &self.config, self.model.clone())?;
        let opt = self
            .opt
            .into_bytes()
            .map_err(|e| corrupted("optimizer", &e.to_string()))?;
        let mut body = Vec::new();
        put_section(&mut body, &meta);
        put_section(&mut body, &model);
        put_section(&mut body, &opt);
        Ok(seal(CKPT_MAGIC, CKPT_VERSION, &body))
    }

    /// Resume from [`checkpoint_bytes`](Self::checkpoint_bytes).
    pub fn from_checkpoint_bytes(
        bytes: &[u8],
        magic: &[u8; 8],
        what: &str,
        device: &Device,
        build: impl FnOnce(&C, &Device) -> M,
    ) -> Result<Self> {
        let mut body = unseal(
            bytes,
            CKPT_MAGIC,
            CKPT_VERSION,
            "sca-privacy checkpoint",
            what,
        )?;
        let meta = take_section(&mut body, what)?;
        let model = take_section(&mut body, what)?;
        let opt = take_section(&mut body, what)?;
        let (seed, step): (u64, u64) =
            postcard::from_bytes(meta).map_err(|e| corrupted(what, &e.to_string()))?;
        let (config, record): (C, _) = parse_module_bytes(model, magic, "sca-privacy model", what)?;
        let device = device.clone().autodiff();
        let model = apply_record(build(&config, &device), record, what)?;
        let opt = AdamConfig::new()
            .init()
            .from_bytes(Bytes::from_bytes_vec(opt.to_vec()))
            .map_err(|e| corrupted(what, &e.to_string()))?;
        Ok(Self {
            config,
            model,
            step,
            seed,
            opt,
            device,
        })
    }

    /// Write a checkpoint atomically (temporary file, then rename).
    pub fn save_checkpoint(&self, magic: &[u8; 8], path: &Path) -> Result<()> {
        let tmp = path.with_extension("tmp");
        write_file(&tmp, &self.checkpoint_bytes(magic)?)?;
        std::fs::rename(&tmp, path).map_err(|source| crate::error::ScaError::Io {
            path: path.into(),
            source,
        })
    }

    /// The training loop of every trainer: until `schedule.steps` (or its time limit), draws
    /// the step's seeded generator ([`step_rng`](Self::step_rng)) and calls
    /// `train_step(self, lr, rng)`, which builds one batch and takes one [`step`](Self::step)
    /// at the scheduled learning rate, returning the loss (an MSE on `[-1, 1]` tiles, so PSNR
    /// on `[0, 1]` is `10 log10(4 / mse)`); shows a progress bar, appends the mean loss to
    /// `out/log.txt` and saves the checkpoint `checkpoint` with `magic` periodically and at
    /// the end.
    pub fn run(
        &mut self,
        schedule: &Schedule,
        out: &Path,
        magic: &[u8; 8],
        checkpoint: &Path,
        mut train_step: impl FnMut(&mut Self, f64, &mut ChaCha8Rng) -> Result<f64>,
    ) -> Result<()> {
        let log_path = out.join("log.txt");
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| crate::error::ScaError::Io {
                path: log_path,
                source,
            })?;
        let pb = indicatif::ProgressBar::new(schedule.steps).with_position(self.step);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} {per_sec} {msg}",
        ) {
            pb.set_style(style);
        }
        let psnr = |mse: f64| 10.0 * (4.0 / mse).log10();
        let start = Instant::now();
        let (mut acc, mut n) = (0.0, 0u32);
        while self.step < schedule.steps {
            if schedule
                .max_minutes
                .is_some_and(|m| start.elapsed().as_secs_f64() > m * 60.0)
            {
                pb.println("time limit reached");
                break;
            }
            let mut rng = self.step_rng(self.step + 1);
            let lr = cosine_lr(schedule.lr, 0.05, self.step, schedule.steps);
            let loss = train_step(self, lr, &mut rng)?;
            acc += loss;
            n += 1;
            pb.set_position(self.step);
            pb.set_message(format!("mse {loss:.5} ({:.2} dB) lr {lr:.1e}", psnr(loss)));
            if self.step.is_multiple_of(schedule.log_every.max(1)) {
                let m = acc / n as f64;
                let _ = writeln!(
                    log,
                    "step {} mse {m:.6} psnr {:.2} dB lr {lr:.2e} t {:.0}s",
                    self.step,
                    psnr(m),
                    start.elapsed().as_secs_f64()
                );
                (acc, n) = (0.0, 0);
            }
            if self.step.is_multiple_of(schedule.checkpoint_every.max(1)) {
                self.save_checkpoint(magic, checkpoint)?;
            }
        }
        pb.finish();
        self.save_checkpoint(magic, checkpoint)
    }

    /// Read a checkpoint file.
    pub fn load_checkpoint(
        magic: &[u8; 8],
        path: &Path,
        device: &Device,
        build: impl FnOnce(&C, &Device) -> M,
    ) -> Result<Self> {
        Self::from_checkpoint_bytes(
            &read_file(path)?,
            magic,
            &path.display().to_string(),
            device,
            build,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_ends() {
        assert!((cosine_lr(1e-3, 0.1, 0, 100) - 1e-3).abs() < 1e-12);
        assert!((cosine_lr(1e-3, 0.1, 100, 100) - 1e-4).abs() < 1e-12);
        assert!((cosine_lr(1e-3, 0.1, 500, 100) - 1e-4).abs() < 1e-12);
    }
}
