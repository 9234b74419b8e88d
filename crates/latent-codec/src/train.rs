//! Training: VQGAN objective (Esser et al. 2021, Eq. 4-6) with a pixel reconstruction loss,
//! codebook and commitment losses, codebook usage tracking with dead-code re-initialisation,
//! a PatchGAN hinge loss switched on after a warm-up, and resumable checkpoints.

use std::path::Path;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Bytes, Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::codec::{
    apply_record, cpu, indices_to_vec, init_params, read_weights, with_seed, write_weights, Codec,
};
use crate::codes::{seal, unseal};
use crate::config::CodecConfig;
use crate::error::{CodecError, Result};
use crate::model::{
    floats, generator_adv_loss, hinge_d_loss, ssim, Encoder, PatchDiscriminator, VqGan,
};

/// Pixel reconstruction loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecLoss {
    /// Mean absolute error.
    L1,
    /// Mean squared error.
    L2,
}

/// Hyper-parameters of a training run (stored in checkpoints; a resumed run keeps them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Seed of initialisation, crops and dead-code re-initialisation.
    pub seed: u64,
    /// Images per step.
    pub batch: usize,
    /// Crop side.
    pub crop: u32,
    /// Adam learning rate (generator and discriminator).
    pub lr: f64,
    /// Commitment weight beta (0.25 in van den Oord et al. 2017 and taming-transformers).
    pub beta: f64,
    /// Reconstruction loss.
    pub rec_loss: RecLoss,
    /// Step from which the adversarial loss is on.
    pub disc_start: u64,
    /// Weight of the generator's adversarial loss (fixed; taming-transformers adapts it by
    /// the ratio of gradient norms at the last decoder layer).
    pub disc_weight: f64,
    /// Discriminator base width.
    pub disc_channels: usize,
    /// A code not chosen for this many steps is re-initialised to a random encoder output of
    /// the current batch.
    pub dead_after: u64,
    /// Probability that a crop comes from the synthetic phantoms.
    pub phantom_fraction: f64,
    /// Number of training phantoms.
    pub n_phantoms: usize,
    /// Weight `w` of the structural term of the reconstruction loss, `rec + w (1 - SSIM)`
    /// (a pixel + SSIM mix as in Zhao et al. 2017, "Loss Functions for Image Restoration
    /// with Neural Networks"; 0 = pixel loss alone).
    pub ssim_weight: f64,
    /// Learning rate reached at the end of the cosine decay (Loshchilov & Hutter 2017,
    /// SGDR): `lr_end + (lr - lr_end) (1 + cos(pi t / T)) / 2` at step `t` of `T =
    /// decay_steps`, then `lr_end`.
    pub lr_end: f64,
    /// Length `T` of the cosine decay in steps (0: constant `lr`).
    pub decay_steps: u64,
    /// Steps of encoder distillation at the start (knowledge distillation, Hinton et al.
    /// 2015, on features): the encoder alone regresses a teacher encoder's output, `||E(x) -
    /// E_t(x)||^2`, before the VQGAN objective takes over (with the teacher's decoder and
    /// codebook, see [`Trainer::init_from`]).
    pub distill_steps: u64,
    /// Weight file the run was initialised from (and whose encoder is the teacher).
    pub init_from: Option<String>,
}

impl TrainConfig {
    /// Learning rate of step `step` (1-based).
    pub fn lr_at(&self, step: u64) -> f64 {
        if self.decay_steps == 0 {
            return self.lr;
        }
        let t = step.min(self.decay_steps) as f64 / self.decay_steps as f64;
        self.lr_end + (self.lr - self.lr_end) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            batch: 8,
            crop: 64,
            lr: 2e-4,
            beta: 0.25,
            rec_loss: RecLoss::L1,
            disc_start: 2000,
            disc_weight: 0.1,
            disc_channels: 16,
            dead_after: 100,
            phantom_fraction: 0.3,
            n_phantoms: 64,
            ssim_weight: 0.0,
            lr_end: 2e-4,
            decay_steps: 0,
            distill_steps: 0,
            init_from: None,
        }
    }
}

/// Codebook usage: how often and when each code was last chosen.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CodeUsage {
    /// Times chosen since the last [`CodeUsage::reset_counts`].
    pub counts: Vec<u64>,
    /// Step at which each code was last chosen (or re-initialised).
    pub last_used: Vec<u64>,
}

impl CodeUsage {
    /// Tracker for `k` codes.
    pub fn new(k: usize) -> Self {
        Self {
            counts: vec![0; k],
            last_used: vec![0; k],
        }
    }

    /// Record the indices chosen at `step`.
    pub fn record(&mut self, indices: &[u16], step: u64) {
        for &i in indices {
            self.counts[i as usize] += 1;
            self.last_used[i as usize] = step;
        }
    }

    /// Perplexity `exp(-sum p log p)` of the code distribution counted so far (1 = one code,
    /// K = uniform use).
    pub fn perplexity(&self) -> f64 {
        perplexity(&self.counts)
    }

    /// Codes chosen at least once since the last reset.
    pub fn used(&self) -> usize {
        self.counts.iter().filter(|&&c| c > 0).count()
    }

    /// Zero the counts (not `last_used`).
    pub fn reset_counts(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
    }

    /// Codes not chosen during the last `after` steps at `step`.
    pub fn dead(&self, step: u64, after: u64) -> Vec<usize> {
        self.last_used
            .iter()
            .enumerate()
            .filter(|(_, &l)| step.saturating_sub(l) >= after)
            .map(|(i, _)| i)
            .collect()
    }
}

/// Perplexity of a histogram, `exp(H)` with `H` the entropy in nats; 0 for an empty one.
pub fn perplexity(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let h: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.ln()
        })
        .sum();
    h.exp()
}

/// Losses and statistics of one step.
#[derive(Clone, Debug, Default)]
pub struct StepStats {
    /// Reconstruction loss (the pixel term; in a distillation step, the feature regression).
    pub rec: f64,
    /// SSIM of the batch's reconstructions (0 in a distillation step).
    pub ssim: f64,
    /// Codebook + commitment loss.
    pub vq: f64,
    /// Generator adversarial loss (0 before `disc_start`).
    pub g_adv: f64,
    /// Discriminator hinge loss (0 before `disc_start`).
    pub d_loss: f64,
    /// Perplexity of the codes of this batch.
    pub batch_perplexity: f64,
    /// Codes re-initialised after this step.
    pub reinitialised: usize,
}

/// Generator, discriminator, their optimizers and the run state.
pub struct Trainer {
    /// Architecture.
    pub config: CodecConfig,
    /// Hyper-parameters.
    pub train: TrainConfig,
    /// Steps done.
    pub step: u64,
    /// Codebook usage.
    pub usage: CodeUsage,
    gen: VqGan,
    disc: PatchDiscriminator,
    opt_g: ModuleOptimizer,
    opt_d: ModuleOptimizer,
    device: Device,
}

const CKPT_MAGIC: &[u8; 8] = b"LCCKPT\0\0";
const CKPT_VERSION: u16 = 2;

impl Trainer {
    /// A fresh run on `device` (made autodiff here), initialised from `train.seed`.
    pub fn new(config: CodecConfig, train: TrainConfig, device: &Device) -> Result<Self> {
        config.validate()?;
        let device = device.clone().autodiff();
        let (gen, disc) = with_seed(&device, train.seed, || {
            (
                init_params(VqGan::new(&config, &device)),
                init_params(PatchDiscriminator::new(
                    config.in_channels,
                    train.disc_channels,
                    2,
                    &device,
                )),
            )
        });
        Ok(Self {
            usage: CodeUsage::new(config.codebook_size),
            config,
            train,
            step: 0,
            gen,
            disc,
            opt_g: AdamConfig::new().with_beta_1(0.5).with_beta_2(0.9).init(),
            opt_d: AdamConfig::new().with_beta_1(0.5).with_beta_2(0.9).init(),
            device,
        })
    }

    /// The generator as an inference codec (no autodiff).
    pub fn codec(&self) -> Result<Codec> {
        Codec::from_model(self.config.clone(), self.gen.valid())
    }

    /// Random number generator of step `step` (a resumed run draws the same crops).
    pub fn step_rng(&self, step: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.train.seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// One optimisation step on `batch` (`[b, 1, crop, crop]` values in `[-1, 1]`, flattened).
    pub fn step(&mut self, batch: Vec<f32>, b: usize, side: usize) -> Result<StepStats> {
        let step = self.step + 1;
        let x: Tensor<4> =
            Tensor::from_data(TensorData::new(batch, [b, 1, side, side]), &self.device);
        let out = self.gen.forward(x.clone(), self.train.beta);
        let diff = out.reconstruction.clone() - x.clone();
        let rec = match self.train.rec_loss {
            RecLoss::L1 => diff.abs().mean(),
            RecLoss::L2 => diff.square().mean(),
        };
        let adversarial = step > self.train.disc_start;
        let mut stats = StepStats::default();
        let mut loss = rec.clone() + out.vq.loss.clone();
        if self.train.ssim_weight > 0.0 {
            let s = ssim(out.reconstruction.clone(), x.clone(), 2.0);
            stats.ssim = scalar(&s);
            loss = loss + s.neg().add_scalar(1.0).mul_scalar(self.train.ssim_weight);
        }
        let lr = self.train.lr_at(step);
        if adversarial {
            let g_adv = generator_adv_loss(self.disc.forward(out.reconstruction.clone()));
            stats.g_adv = scalar(&g_adv);
            loss = loss + g_adv.mul_scalar(self.train.disc_weight);
        }
        stats.rec = scalar(&rec);
        stats.vq = scalar(&out.vq.loss);
        let grads = loss.backward();
        let grads = GradientsParams::from_grads(grads, &self.gen);
        self.gen = self.opt_g.step(lr, self.gen.clone(), grads);

        if adversarial {
            let real = self.disc.forward(x.detach());
            let fake = self.disc.forward(out.reconstruction.clone().detach());
            let d_loss = hinge_d_loss(real, fake);
            stats.d_loss = scalar(&d_loss);
            let grads = GradientsParams::from_grads(d_loss.backward(), &self.disc);
            self.disc = self.opt_d.step(lr, self.disc.clone(), grads);
        }

        self.track_codes(out.vq.indices, out.z, step, true, &mut stats)?;
        self.step = step;
        Ok(stats)
    }

    /// Record the codes chosen at `step` (batch perplexity into `stats`) and, with `reinit`,
    /// re-initialise the dead codes to random encoder outputs `z` of the batch.
    fn track_codes(
        &mut self,
        indices: Tensor<1, Int>,
        z: Tensor<4>,
        step: u64,
        reinit: bool,
        stats: &mut StepStats,
    ) -> Result<()> {
        let idx: Vec<u16> = indices_to_vec(indices)?;
        let mut hist = vec![0u64; self.config.codebook_size];
        idx.iter().for_each(|&i| hist[i as usize] += 1);
        stats.batch_perplexity = perplexity(&hist);
        self.usage.record(&idx, step);
        let dead = self.usage.dead(step, self.train.dead_after);
        if !reinit || dead.is_empty() {
            return Ok(());
        }
        let [bb, d, h, w] = z.dims();
        let z = floats(z.detach().permute([0, 2, 3, 1]).reshape([bb * h * w, d]));
        let mut codebook = floats(self.gen.quantizer.codebook.val().detach());
        let mut rng = self.step_rng(step ^ 0xDEAD);
        for &k in &dead {
            let row = rng.gen_range(0..bb * h * w);
            for j in 0..d {
                let noise: f32 = rng.gen_range(-1e-3..1e-3);
                codebook[k * d + j] = z[row * d + j] + noise;
            }
            self.usage.last_used[k] = step;
        }
        let k = self.config.codebook_size;
        let device = self.device.clone();
        let param = std::mem::replace(
            &mut self.gen.quantizer.codebook,
            burn::module::Param::from_tensor(Tensor::zeros([1, 1], &device)),
        );
        self.gen.quantizer.codebook = param
            .map(|_| Tensor::from_data(TensorData::new(codebook, [k, d]), &device).require_grad());
        stats.reinitialised = dead.len();
        Ok(())
    }

    /// Initialise from trained weights `donor`: the whole generator when its configuration
    /// is this run's, otherwise its decoder and codebook (the encoder configuration may
    /// differ, for example a lighter encoder distilled from the donor's, see
    /// [`distill_step`](Self::distill_step)). [`CodecError::WeightMismatch`] when the decoders
    /// differ.
    pub fn init_from(&mut self, donor: &Codec) -> Result<()> {
        let what = "initialisation weights";
        if donor.config() == &self.config {
            self.gen = apply_record(self.gen.clone(), record_bytes(donor.model().clone())?, what)?;
            return Ok(());
        }
        let (a, b) = (donor.config(), &self.config);
        let decoder_differs = (a.factor, a.in_channels, a.base_channels, &a.channel_mult)
            != (b.factor, b.in_channels, b.base_channels, &b.channel_mult)
            || (
                a.num_res_blocks,
                a.latent_channels,
                a.codebook_size,
                a.norm_groups,
            ) != (
                b.num_res_blocks,
                b.latent_channels,
                b.codebook_size,
                b.norm_groups,
            );
        if decoder_differs {
            return Err(CodecError::WeightMismatch {
                what: what.into(),
                detail: "the donor's decoder or codebook has another configuration".into(),
            });
        }
        let dec = record_bytes(donor.model().decoder.clone())?;
        let vq = record_bytes(donor.model().quantizer.clone())?;
        self.gen.decoder = apply_record(self.gen.decoder.clone(), dec, what)?;
        self.gen.quantizer = apply_record(self.gen.quantizer.clone(), vq, what)?;
        Ok(())
    }

    /// One encoder distillation step on `batch` (as in [`step`](Self::step)): the encoder
    /// regresses `teacher`'s output, `mean ||E(x) - E_t(x)||^2` (reported as `rec`); only the
    /// encoder is updated. Codes are tracked but not re-initialised.
    pub fn distill_step(
        &mut self,
        teacher: &Encoder,
        batch: Vec<f32>,
        b: usize,
        side: usize,
    ) -> Result<StepStats> {
        let step = self.step + 1;
        let data = TensorData::new(batch, [b, 1, side, side]);
        let target = teacher.forward(Tensor::from_data(data.clone(), &cpu()));
        let target = Tensor::<4>::from_data(target.into_data(), &self.device);
        let z = self
            .gen
            .encoder
            .forward(Tensor::from_data(data, &self.device));
        let loss = (z.clone() - target).square().mean();
        let mut stats = StepStats {
            rec: scalar(&loss),
            ..StepStats::default()
        };
        let grads = GradientsParams::from_grads(loss.backward(), &self.gen);
        self.gen = self
            .opt_g
            .step(self.train.lr_at(step), self.gen.clone(), grads);
        let [bb, d, h, w] = z.dims();
        let flat = z
            .clone()
            .detach()
            .permute([0, 2, 3, 1])
            .reshape([bb * h * w, d]);
        let indices = self.gen.quantizer.nearest(flat);
        self.track_codes(indices, z, step, false, &mut stats)?;
        self.step = step;
        Ok(stats)
    }

    /// Serialize the whole run state: configurations, step, usage, generator and discriminator
    /// weights, both optimizers' states; magic `LCCKPT`, version, CRC-32.
    pub fn checkpoint_bytes(&self) -> Result<Vec<u8>> {
        let meta = postcard::to_allocvec(&(&self.train, self.step, &self.usage))
            .expect("postcard serialization to a Vec cannot fail");
        let gen = write_weights(&self.config, self.gen.clone())?;
        let disc = record_bytes(self.disc.clone())?;
        let og = self
            .opt_g
            .into_bytes()
            .map_err(|e| CodecError::InvalidArgument(e.to_string()))?;
        let od = self
            .opt_d
            .into_bytes()
            .map_err(|e| CodecError::InvalidArgument(e.to_string()))?;
        let mut buf = CKPT_MAGIC.to_vec();
        buf.extend_from_slice(&CKPT_VERSION.to_le_bytes());
        for part in [&meta[..], &gen[..], &disc[..], &og[..], &od[..]] {
            buf.extend_from_slice(&(part.len() as u64).to_le_bytes());
            buf.extend_from_slice(part);
        }
        Ok(seal(buf))
    }

    /// Restore a run from [`checkpoint_bytes`](Self::checkpoint_bytes) output.
    pub fn from_checkpoint_bytes(bytes: &[u8], what: &str, device: &Device) -> Result<Self> {
        let mut body = unseal(bytes, CKPT_MAGIC, CKPT_VERSION, 2, what)?;
        let mut parts = Vec::new();
        for _ in 0..5 {
            if body.len() < 8 {
                return Err(CodecError::Corrupted {
                    what: what.into(),
                    detail: "section header truncated".into(),
                });
            }
            let n = u64::from_le_bytes(body[..8].try_into().expect("8 bytes")) as usize;
            if body.len() - 8 < n {
                return Err(CodecError::Corrupted {
                    what: what.into(),
                    detail: "section truncated".into(),
                });
            }
            parts.push(&body[8..8 + n]);
            body = &body[8 + n..];
        }
        let (train, step, usage): (TrainConfig, u64, CodeUsage) = postcard::from_bytes(parts[0])
            .map_err(|e| CodecError::Corrupted {
                what: what.into(),
                detail: e.to_string(),
            })?;
        let (config, gen_record) = read_weights(parts[1], what)?;
        let mut t = Trainer::new(config, train, device)?;
        t.gen = apply_record(t.gen, gen_record, what)?;
        t.disc = apply_record(t.disc, parts[2].to_vec(), what)?;
        let bad = |e: burn::store::RecordError| CodecError::Corrupted {
            what: what.into(),
            detail: e.to_string(),
        };
        t.opt_g = t
            .opt_g
            .from_bytes(Bytes::from_bytes_vec(parts[3].to_vec()))
            .map_err(bad)?;
        t.opt_d = t
            .opt_d
            .from_bytes(Bytes::from_bytes_vec(parts[4].to_vec()))
            .map_err(bad)?;
        if usage.counts.len() != t.config.codebook_size {
            return Err(CodecError::WeightMismatch {
                what: what.into(),
                detail: "usage table size differs from the codebook".into(),
            });
        }
        t.step = step;
        t.usage = usage;
        Ok(t)
    }

    /// Write a checkpoint atomically (temporary file, then rename).
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("tmp");
        let io = |source| CodecError::Io {
            path: path.into(),
            source,
        };
        std::fs::write(&tmp, self.checkpoint_bytes()?).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Read a checkpoint file.
    pub fn load_checkpoint(path: &Path, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| CodecError::Io {
            path: path.into(),
            source,
        })?;
        Self::from_checkpoint_bytes(&bytes, &path.display().to_string(), device)
    }
}

/// A module's parameters as burnpack bytes.
fn record_bytes<M: Module>(module: M) -> Result<Vec<u8>> {
    module
        .into_record()
        .into_bytes()
        .map(|b| b.to_vec())
        .map_err(|e| CodecError::InvalidArgument(e.to_string()))
}

fn scalar(t: &Tensor<1>) -> f64 {
    t.clone()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map(|v| v[0] as f64)
        .unwrap_or(f64::NAN)
}
