//! Training and evaluation data: random crops and rescales of the real X-ray samples (4 of 16
//! held out), synthetic chest phantoms (separate index ranges for training and evaluation).

use med_data::datasets::{embedded_samples_dir, real_samples, ImageDataset};
use med_data::phantom::PhantomGenerator;
use med_data::{GrayImage, Preprocess};
use rand::Rng;

use crate::error::{CodecError, Result};

/// Real samples held out of training: the last two of each class in `labels.csv` order
/// (two normal, two pneumonia).
pub const HELD_OUT_REAL: usize = 4;
/// Seed of the phantom generator used for training and evaluation.
pub const PHANTOM_SEED: u64 = 2025;
/// First phantom index of the held-out evaluation range (training uses `0..n`, `n` much
/// smaller).
pub const PHANTOM_EVAL_START: u64 = 1_000_000;

/// A named evaluation image.
#[derive(Clone, Debug)]
pub struct EvalImage {
    /// Identifier (file name, or the `synthetic-phantom-...` id).
    pub id: String,
    /// Whether it is a synthetic phantom.
    pub synthetic: bool,
    /// 256x256 image in `[0, 1]`.
    pub image: GrayImage,
}

/// The 16 real samples at 256x256 (`Preprocess::latent_he` geometry, but `[0, 1]` values),
/// split into (training, held-out) with the held-out set as in [`HELD_OUT_REAL`].
pub fn real_split() -> Result<(Vec<EvalImage>, Vec<EvalImage>)> {
    let ds = real_samples(embedded_samples_dir())?;
    let mut pre = Preprocess::latent_he().with_upscale();
    pre.range = (0.0, 1.0);
    let mut by_class: Vec<Vec<EvalImage>> = vec![Vec::new(); ds.class_names().len()];
    for i in 0..ds.len() {
        let s = ds.sample(i)?;
        let class = s
            .labels
            .iter()
            .position(|&l| l > 0.5)
            .ok_or_else(|| CodecError::InvalidArgument(format!("{}: no label", s.id)))?;
        by_class[class].push(EvalImage {
            id: s.id,
            synthetic: false,
            image: pre.apply(&s.image)?,
        });
    }
    let per_class = HELD_OUT_REAL / by_class.len().max(1);
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for mut c in by_class {
        let keep = c.len().saturating_sub(per_class);
        held.extend(c.split_off(keep));
        train.extend(c);
    }
    Ok((train, held))
}

/// Held-out synthetic phantoms `PHANTOM_EVAL_START..PHANTOM_EVAL_START + n` (256x256).
pub fn eval_phantoms(n: usize) -> Vec<EvalImage> {
    let generator = PhantomGenerator::new(PHANTOM_SEED);
    (0..n as u64)
        .map(|i| {
            let p = generator.generate(PHANTOM_EVAL_START + i);
            EvalImage {
                id: p.id,
                synthetic: true,
                image: p.image,
            }
        })
        .collect()
}

/// Source of training crops.
#[derive(Clone, Debug)]
pub struct CropSampler {
    real: Vec<GrayImage>,
    phantoms: Vec<GrayImage>,
    /// Probability of drawing from the phantoms rather than the real images.
    pub phantom_fraction: f64,
    /// Crop side in pixels.
    pub crop: u32,
}

impl CropSampler {
    /// Real training images (rescaled copies at 1x, 1.25x, 1.5x and 2x of 256 are prepared)
    /// and `n_phantoms` phantoms `0..n_phantoms` of [`PHANTOM_SEED`].
    pub fn new(
        real_train: &[EvalImage],
        n_phantoms: usize,
        phantom_fraction: f64,
        crop: u32,
    ) -> Result<Self> {
        if crop == 0 || crop > 256 {
            return Err(CodecError::InvalidArgument(format!(
                "crop {crop} outside 1..=256"
            )));
        }
        let mut real = Vec::new();
        for img in real_train {
            for side in [256u32, 320, 384, 512] {
                real.push(if side == 256 {
                    img.image.clone()
                } else {
                    img.image.resize(side, side)?
                });
            }
        }
        let generator = PhantomGenerator::new(PHANTOM_SEED);
        let phantoms = (0..n_phantoms as u64)
            .map(|i| generator.generate(i).image)
            .collect();
        if real.is_empty() && n_phantoms == 0 {
            return Err(CodecError::InvalidArgument("no training images".into()));
        }
        Ok(Self {
            real,
            phantoms,
            phantom_fraction,
            crop,
        })
    }

    /// One random crop (random image, scale, position, horizontal flip), `[0, 1]`.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> Result<GrayImage> {
        let use_phantom = !self.phantoms.is_empty()
            && (self.real.is_empty() || rng.gen_bool(self.phantom_fraction.clamp(0.0, 1.0)));
        let pool = if use_phantom {
            &self.phantoms
        } else {
            &self.real
        };
        let img = &pool[rng.gen_range(0..pool.len())];
        let x = rng.gen_range(0..=img.width() - self.crop);
        let y = rng.gen_range(0..=img.height() - self.crop);
        let c = img.crop(x, y, self.crop, self.crop)?;
        Ok(if rng.gen_bool(0.5) {
            c.flip_horizontal()
        } else {
            c
        })
    }

    /// A batch `[n * crop * crop]` flattened, values in `[-1, 1]`.
    pub fn batch<R: Rng>(&self, n: usize, rng: &mut R) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(n * (self.crop * self.crop) as usize);
        for _ in 0..n {
            out.extend(self.sample(rng)?.data().iter().map(|v| v * 2.0 - 1.0));
        }
        Ok(out)
    }
}
