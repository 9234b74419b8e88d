//! The latent dataset of the classifier zoo: SYNTHETIC chest phantoms (`med_data::phantom`,
//! labels drawn from the real NIH ChestX-ray14 label statistics, 14 findings) encoded by a
//! `latent_codec::Codec` into its continuous encoder output (f = 8: `4 x 32 x 32`), cached in
//! shards on disk named by the codec's factor and weight fingerprint
//! (`latent_codec::Codec::fingerprint`: latents of different weights never mix), split
//! deterministically into train / validation / test.
//!
//! Phantom `i` of seed [`PHANTOM_SEED`] (indices from [`PHANTOM_START`], disjoint from the
//! ranges the codec was trained and evaluated on) is in the validation split iff
//! `i mod 10 = 8` and in the test split iff `i mod 10 = 9` (80 / 10 / 10).

use crate::{io, Result, TrainError};
use latent_codec::Codec;
use med_data::phantom::PhantomGenerator;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Seed of the phantom generator of the classifier data.
pub const PHANTOM_SEED: u64 = 14;
/// First phantom index (the codec uses seed 2025; a different seed and range keep the sets apart).
pub const PHANTOM_START: u64 = 3_000_000;
/// Phantoms per cache shard.
pub const SHARD: usize = 250;
/// Number of findings (NIH ChestX-ray14).
pub const FINDINGS: usize = med_data::labels::NIH_FINDINGS.len();

/// One encoded phantom.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentSample {
    /// Phantom index (its split follows from it).
    pub index: u64,
    /// Finding flags in `med_data::labels::NIH_FINDINGS` order.
    pub labels: [bool; FINDINGS],
    /// Continuous encoder output, `c, y, x` order.
    pub latent: Vec<f32>,
}

impl LatentSample {
    /// Labels as 0/1 values.
    pub fn label_vector(&self) -> Vec<f32> {
        self.labels
            .iter()
            .map(|&b| f32::from(u8::from(b)))
            .collect()
    }
}

/// Which split a sample belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// 80 %.
    Train,
    /// 10 % (`index mod 10 = 8`).
    Validation,
    /// 10 % (`index mod 10 = 9`).
    Test,
}

impl Split {
    /// The split of phantom `index`.
    pub fn of(index: u64) -> Self {
        match index % 10 {
            8 => Split::Validation,
            9 => Split::Test,
            _ => Split::Train,
        }
    }
}

/// A set of latents of one shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatentSet {
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Codec downsampling factor.
    pub factor: usize,
    /// Samples in index order.
    pub samples: Vec<LatentSample>,
}

impl LatentSet {
    /// The samples of `split`.
    pub fn split(&self, split: Split) -> Vec<&LatentSample> {
        self.samples
            .iter()
            .filter(|s| Split::of(s.index) == split)
            .collect()
    }
}

/// Encodes phantoms `start..start + count` with the codec's [`Codec::encode`] (the burn-free
/// encoder where the codec has one), the images in parallel; calls `progress(done)`.
pub fn encode_phantoms(
    codec: &Codec,
    start: u64,
    count: usize,
    mut progress: impl FnMut(usize),
) -> Result<LatentSet> {
    use rayon::prelude::*;
    let generator = PhantomGenerator::new(PHANTOM_SEED);
    let mut samples = Vec::with_capacity(count);
    let mut shape = [0; 3];
    let indices: Vec<u64> = (start..start + count as u64).collect();
    for chunk in indices.chunks(16) {
        let encoded: Vec<_> = chunk
            .par_iter()
            .map(|&i| {
                let p = generator.generate(i);
                codec.encode(&p.image).map(|z| (p, z))
            })
            .collect::<std::result::Result<_, _>>()?;
        for (p, z) in encoded {
            shape = z.shape;
            samples.push(LatentSample {
                index: p.index,
                labels: p.labels,
                latent: z.continuous,
            });
        }
        progress(samples.len());
    }
    Ok(LatentSet {
        shape,
        factor: codec.config().factor,
        samples,
    })
}

/// `latents-f{factor}-c{codec fingerprint}-s{seed}-{first index}-{count}.bin`.
fn shard_path(dir: &Path, factor: usize, codec: u32, shard: usize) -> PathBuf {
    dir.join(format!(
        "latents-f{factor}-c{codec:08x}-s{PHANTOM_SEED}-{:07}-{SHARD}.bin",
        PHANTOM_START as usize + shard * SHARD
    ))
}

/// The first `count` phantoms (rounded up to whole shards of [`SHARD`]) encoded by `codec`,
/// read from the shards cached in `dir` and encoding (and caching) the missing ones;
/// `progress(done, total)` counts phantoms.
pub fn load_or_encode(
    codec: &Codec,
    dir: &Path,
    count: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<LatentSet> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let factor = codec.config().factor;
    let fingerprint = codec.fingerprint()?;
    let shards = count.div_ceil(SHARD);
    let total = shards * SHARD;
    let mut set = LatentSet {
        shape: [0; 3],
        factor,
        samples: Vec::with_capacity(total),
    };
    for shard in 0..shards {
        let path = shard_path(dir, factor, fingerprint, shard);
        let part = if path.exists() {
            let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
            postcard::from_bytes::<LatentSet>(&bytes).map_err(|e| TrainError::Io {
                path: path.clone(),
                detail: format!("corrupted latent cache ({e}); delete it to re-encode"),
            })?
        } else {
            let done = set.samples.len();
            let part =
                encode_phantoms(codec, PHANTOM_START + (shard * SHARD) as u64, SHARD, |d| {
                    progress(done + d, total)
                })?;
            let bytes = postcard::to_allocvec(&part)
                .map_err(|e| TrainError::Tensor(format!("serializing latents: {e}")))?;
            std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
            part
        };
        set.shape = part.shape;
        set.samples.extend(part.samples);
        progress(set.samples.len(), total);
    }
    Ok(set)
}
