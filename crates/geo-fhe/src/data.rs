//! **Synthetic** 3D lesion volumes and their multivector descriptors.
//!
//! No labelled 3D lesion data set can be downloaded on the machines this project is built on,
//! so the volumes come from a seeded generator (ChaCha20); every figure computed from them is
//! a figure on synthetic data. A volume is a `G x G x G` voxel grid (CT/MR-like intensities in
//! `[0, 1]`) of soft-tissue background with smooth inhomogeneity and noise, and:
//!
//! * **healthy**: no lesion, one thin vessel-like tube of random direction;
//! * **benign**: a near-spherical ellipsoid (aspect <= 1.25), sharp margin, homogeneous
//!   bright texture;
//! * **malignant**: a larger lobulated, elongated (aspect up to 1.8), randomly oriented mass
//!   with spiculated, blurred margins, heterogeneous texture and a darker necrotic core.
//!
//! **Descriptor** ([`descriptor`]). With the segmentation `S = {v : I(v) > 0.5}` and voxel
//! coordinates `x` normalized to `[-1, 1]`:
//!
//! ```text
//! scalar        <- mean intensity over S (over the volume if S is empty)
//! e1, e2, e3    <- centroid (1/|S|) Σ_{v∈S} x_v
//! e12, e13, e23 <- second central moments (1/|S|) Σ (x_a - c_a)(x_b - c_b), a < b,
//!                  i.e. the bivector Σ (x - c) ∧ (x - c)-weighted plane moments
//! e123          <- volume indicator 10 |S| / G^3
//! ```
//!
//! A bivector `m_12 e12 + m_13 e13 + m_23 e23` carries the oriented off-diagonal moments of
//! the inertia tensor; the diagonal ones are summarized by the volume indicator.

use crate::algebra::Multivector;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Classes of the synthetic data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LesionClass {
    /// No lesion.
    Healthy = 0,
    /// Round, sharp, homogeneous lesion.
    Benign = 1,
    /// Irregular, blurred, heterogeneous lesion.
    Malignant = 2,
}

impl LesionClass {
    /// All classes, in label order.
    pub const ALL: [LesionClass; 3] = [Self::Healthy, Self::Benign, Self::Malignant];
    /// Label index.
    pub fn label(self) -> usize {
        self as usize
    }
}

/// A voxel grid `size^3`, x fastest.
#[derive(Clone, Debug, PartialEq)]
pub struct Volume {
    /// Edge length in voxels.
    pub size: usize,
    /// Intensities.
    pub voxels: Vec<f32>,
}

impl Volume {
    fn idx(&self, x: usize, y: usize, z: usize) -> usize {
        (z * self.size + y) * self.size + x
    }
    /// Intensity at `(x, y, z)` (`None` outside the grid).
    pub fn get(&self, x: usize, y: usize, z: usize) -> Option<f32> {
        (x < self.size && y < self.size && z < self.size).then(|| self.voxels[self.idx(x, y, z)])
    }
}

fn gaussian(rng: &mut ChaCha20Rng) -> f64 {
    // Box-Muller.
    let u: f64 = rng.gen_range(1e-12..1.0);
    let v: f64 = rng.gen_range(0.0..1.0);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

#[allow(clippy::needless_range_loop)] // Gram-Schmidt reads rows i and j of the same matrix
fn random_rotation(rng: &mut ChaCha20Rng) -> [[f64; 3]; 3] {
    // Gram-Schmidt on Gaussian vectors: a uniformly random orthonormal frame.
    let mut m = [[0.0; 3]; 3];
    for row in m.iter_mut() {
        for x in row.iter_mut() {
            *x = gaussian(rng);
        }
    }
    for i in 0..3 {
        for j in 0..i {
            let d: f64 = (0..3).map(|k| m[i][k] * m[j][k]).sum();
            for k in 0..3 {
                m[i][k] -= d * m[j][k];
            }
        }
        let n = (0..3)
            .map(|k| m[i][k] * m[i][k])
            .sum::<f64>()
            .sqrt()
            .max(1e-12);
        for k in 0..3 {
            m[i][k] /= n;
        }
    }
    m
}

fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}

/// Generates one synthetic volume of `class` with edge `size` (>= 8) from `rng`.
pub fn generate_volume(class: LesionClass, size: usize, rng: &mut ChaCha20Rng) -> Volume {
    let size = size.max(8);
    let g = size as f64;
    let half = (g - 1.0) / 2.0;
    // Background: tissue level, smooth inhomogeneity, noise.
    let base = 0.30 + 0.04 * gaussian(rng);
    let (fx, fy, fz) = (
        rng.gen_range(0.5..2.0),
        rng.gen_range(0.5..2.0),
        rng.gen_range(0.5..2.0),
    );
    let phase: f64 = rng.gen_range(0.0..std::f64::consts::TAU);
    let amp = rng.gen_range(0.02..0.06);
    let noise = rng.gen_range(0.03..0.06);
    // Lesion parameters.
    let center = [
        half + rng.gen_range(-0.15..0.15) * g,
        half + rng.gen_range(-0.15..0.15) * g,
        half + rng.gen_range(-0.15..0.15) * g,
    ];
    let rot = random_rotation(rng);
    let (radius, aspect, margin, level, texture, lobes, necrosis) = match class {
        LesionClass::Healthy => (0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0),
        LesionClass::Benign => (
            rng.gen_range(0.12..0.22) * g,
            rng.gen_range(1.0..1.25),
            rng.gen_range(0.25..0.5),
            rng.gen_range(0.62..0.80),
            rng.gen_range(0.01..0.04),
            0.0,
            0.0,
        ),
        LesionClass::Malignant => (
            rng.gen_range(0.15..0.28) * g,
            rng.gen_range(1.2..1.8),
            rng.gen_range(0.9..1.8),
            rng.gen_range(0.60..0.85),
            rng.gen_range(0.06..0.12),
            rng.gen_range(0.15..0.35),
            rng.gen_range(0.1..0.3),
        ),
    };
    let lobe_freq = [
        rng.gen_range(2.0..4.0f64),
        rng.gen_range(2.0..4.0f64),
        rng.gen_range(0.0..std::f64::consts::TAU),
    ];
    // Healthy: a vessel through a random point with a random direction.
    let dir = rot[0];
    let vessel_r = rng.gen_range(0.6..1.2);
    let vessel_level = rng.gen_range(0.55..0.7);
    let mut voxels = Vec::with_capacity(size * size * size);
    for z in 0..size {
        for y in 0..size {
            for x in 0..size {
                let p = [x as f64, y as f64, z as f64];
                let mut v = base
                    + amp
                        * (fx * p[0] / g * 3.0 + fy * p[1] / g * 2.0 + fz * p[2] / g + phase).sin()
                    + noise * gaussian(rng);
                let d = [p[0] - center[0], p[1] - center[1], p[2] - center[2]];
                // Local frame coordinates.
                let u: Vec<f64> = rot
                    .iter()
                    .map(|r| r[0] * d[0] + r[1] * d[1] + r[2] * d[2])
                    .collect();
                match class {
                    LesionClass::Healthy => {
                        let t = d[0] * dir[0] + d[1] * dir[1] + d[2] * dir[2];
                        let perp2 = d.iter().map(|a| a * a).sum::<f64>() - t * t;
                        let w = sigmoid((vessel_r - perp2.max(0.0).sqrt()) / 0.35);
                        v += w * (vessel_level - base);
                    }
                    _ => {
                        let r = ((u[0] / aspect).powi(2) + u[1].powi(2) + u[2].powi(2)).sqrt();
                        let theta = u[2].atan2(u[1]);
                        let phi = (u[0] / r.max(1e-9)).clamp(-1.0, 1.0).acos();
                        let surface = radius
                            * (1.0
                                + lobes
                                    * (lobe_freq[0] * theta + lobe_freq[2]).sin()
                                    * (lobe_freq[1] * phi).cos());
                        let inside = sigmoid((surface - r) / margin);
                        let core = 1.0 - necrosis * sigmoid((0.5 * surface - r) / margin);
                        let tex = texture * gaussian(rng);
                        v += inside * ((level * core - base) + tex);
                    }
                }
                voxels.push(v.clamp(0.0, 1.0) as f32);
            }
        }
    }
    Volume { size, voxels }
}

/// The multivector descriptor of a volume (module docs).
pub fn descriptor(vol: &Volume) -> Multivector {
    let g = vol.size as f64;
    let half = (g - 1.0) / 2.0;
    let norm = |i: usize| (i as f64 - half) / half.max(1.0);
    let mut count = 0usize;
    let mut sum_i = 0.0;
    let mut s1 = [0.0f64; 3];
    let mut s2 = [[0.0f64; 3]; 3];
    let mut total = 0.0;
    for z in 0..vol.size {
        for y in 0..vol.size {
            for x in 0..vol.size {
                let v = f64::from(vol.voxels[vol.idx(x, y, z)]);
                total += v;
                if v > 0.5 {
                    count += 1;
                    sum_i += v;
                    let p = [norm(x), norm(y), norm(z)];
                    for a in 0..3 {
                        s1[a] += p[a];
                        for b in 0..3 {
                            s2[a][b] += p[a] * p[b];
                        }
                    }
                }
            }
        }
    }
    let mut m = Multivector::ZERO;
    if count == 0 {
        m.0[0] = total / vol.voxels.len().max(1) as f64;
        return m;
    }
    let n = count as f64;
    let c = [s1[0] / n, s1[1] / n, s1[2] / n];
    let cov = |a: usize, b: usize| s2[a][b] / n - c[a] * c[b];
    m.0[0] = sum_i / n;
    m.0[1..4].copy_from_slice(&c);
    m.0[4] = cov(0, 1);
    m.0[5] = cov(0, 2);
    m.0[6] = cov(1, 2);
    m.0[7] = 10.0 * n / vol.voxels.len() as f64;
    m
}

/// A labelled set of descriptors.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// Descriptors.
    pub x: Vec<Multivector>,
    /// Labels (`LesionClass::label`).
    pub y: Vec<usize>,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.len()
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }
}

/// `n` synthetic samples (classes balanced, interleaved), volumes of edge `size`, from
/// `seed`. Descriptors are computed in parallel, each sample from its own ChaCha20 stream,
/// so the result depends only on `(n, size, seed)`.
pub fn synthetic_dataset(n: usize, size: usize, seed: u64) -> Dataset {
    use rayon::prelude::*;
    let (x, y): (Vec<_>, Vec<_>) = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            rng.set_stream(i as u64 + 1);
            let class = LesionClass::ALL[i % 3];
            (
                descriptor(&generate_volume(class, size, &mut rng)),
                class.label(),
            )
        })
        .unzip();
    Dataset { x, y }
}

/// Per-component standardization `(x - μ) / σ` fitted on a training set.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// Means.
    pub mean: [f64; 8],
    /// Standard deviations (at least `1e-9`).
    pub std: [f64; 8],
}

impl Standardizer {
    /// Fits means and standard deviations.
    pub fn fit(xs: &[Multivector]) -> Self {
        let n = xs.len().max(1) as f64;
        let mean: [f64; 8] = std::array::from_fn(|c| xs.iter().map(|m| m.0[c]).sum::<f64>() / n);
        let std: [f64; 8] = std::array::from_fn(|c| {
            (xs.iter().map(|m| (m.0[c] - mean[c]).powi(2)).sum::<f64>() / n)
                .sqrt()
                .max(1e-9)
        });
        Self { mean, std }
    }
    /// Applies the standardization.
    pub fn apply(&self, m: &Multivector) -> Multivector {
        Multivector(std::array::from_fn(|c| {
            (m.0[c] - self.mean[c]) / self.std[c]
        }))
    }
}
