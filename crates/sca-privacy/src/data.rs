//! Training and evaluation images: the 16 real X-rays with the same 4 held out as
//! `latent-codec` (the last two of each class in `labels.csv` order), synthetic phantoms,
//! and random 64x64 training tiles.

use med_data::datasets::{embedded_samples_dir, real_samples, ImageDataset};
use med_data::phantom::PhantomGenerator;
use med_data::{GrayImage, Preprocess};
use rand::Rng;

use crate::error::{Result, ScaError};

/// The real samples held out of every training here and in `latent-codec`
/// (`latent_codec::data::real_split`: the last two normal and the last two pneumonia images).
pub const HELD_OUT_REAL: [&str; 4] = [
    "NORMAL2-IM-1440-0001.png",
    "NORMAL2-IM-1442-0001.png",
    "person1952_bacteria_4883.png",
    "person1954_bacteria_4886.png",
];

/// Seed of the phantom generator (the one `latent-codec` trains on).
pub const PHANTOM_SEED: u64 = 2025;

/// A named 256x256 image in `[0, 1]`.
#[derive(Clone, Debug)]
pub struct NamedImage {
    /// File name or phantom id.
    pub id: String,
    /// Whether it is a synthetic phantom.
    pub synthetic: bool,
    /// The image.
    pub image: GrayImage,
}

/// The 16 real samples at 256x256 in `[0, 1]`, split into (training, held out).
pub fn real_split() -> Result<(Vec<NamedImage>, Vec<NamedImage>)> {
    let ds = real_samples(embedded_samples_dir())?;
    let mut pre = Preprocess::latent_he().with_upscale();
    pre.range = (0.0, 1.0);
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for i in 0..ds.len() {
        let s = ds.sample(i)?;
        let img = NamedImage {
            synthetic: false,
            image: pre.apply(&s.image)?,
            id: s.id,
        };
        if HELD_OUT_REAL.iter().any(|h| img.id.ends_with(h)) {
            held.push(img);
        } else {
            train.push(img);
        }
    }
    if held.len() != HELD_OUT_REAL.len() {
        return Err(ScaError::InvalidArgument(format!(
            "found {} of the {} held-out samples",
            held.len(),
            HELD_OUT_REAL.len()
        )));
    }
    Ok((train, held))
}

/// Phantoms `start..start + n` of [`PHANTOM_SEED`] (SYNTHETIC).
pub fn phantoms(start: u64, n: usize) -> Vec<NamedImage> {
    let g = PhantomGenerator::new(PHANTOM_SEED);
    (start..start + n as u64)
        .map(|i| {
            let p = g.generate(i);
            NamedImage {
                id: p.id,
                synthetic: true,
                image: p.image,
            }
        })
        .collect()
}

/// The training pool: the 12 real training images at 256, 320, 384 and 512 pixels (random
/// tiles of these see the anatomy at several scales) and `n` SYNTHETIC phantoms `0..n`.
pub fn training_pool(n: usize) -> Result<Vec<NamedImage>> {
    let (train, _) = real_split()?;
    let mut out = Vec::new();
    for img in &train {
        for side in [256u32, 320, 384, 512] {
            out.push(NamedImage {
                id: format!("{}@{side}", img.id),
                synthetic: false,
                image: img.image.resize(side, side)?,
            });
        }
    }
    out.extend(phantoms(0, n));
    Ok(out)
}

/// Random training tiles from a pool of images (random image, position, horizontal flip).
#[derive(Clone, Debug)]
pub struct TileSampler {
    pool: Vec<GrayImage>,
    /// Tile side.
    pub tile: u32,
}

impl TileSampler {
    /// Tiles of side `tile` from `images` (each at least `tile` on both sides).
    pub fn new(images: &[NamedImage], tile: u32) -> Result<Self> {
        if images.is_empty() {
            return Err(ScaError::InvalidArgument("no training images".into()));
        }
        if let Some(i) = images
            .iter()
            .find(|i| i.image.width() < tile || i.image.height() < tile)
        {
            return Err(ScaError::InvalidArgument(format!(
                "{} smaller than a {tile}x{tile} tile",
                i.id
            )));
        }
        Ok(Self {
            pool: images.iter().map(|i| i.image.clone()).collect(),
            tile,
        })
    }

    /// One random tile in `[0, 1]`.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> Result<GrayImage> {
        let img = &self.pool[rng.gen_range(0..self.pool.len())];
        let x = rng.gen_range(0..=img.width() - self.tile);
        let y = rng.gen_range(0..=img.height() - self.tile);
        let t = img.crop(x, y, self.tile, self.tile)?;
        Ok(if rng.gen_bool(0.5) {
            t.flip_horizontal()
        } else {
            t
        })
    }
}
