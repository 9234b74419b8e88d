//! Synthetic chest phantoms: deterministic, seeded, chest-radiograph-like images with
//! the 14 NIH findings drawn as visible patterns.
//!
//! **Everything made here is synthetic** — not patient data. Identifiers start with
//! `synthetic-phantom-`, [`Phantom::synthetic`] is always `true`, and PNGs written by
//! [`Phantom::save_png`] carry `tEXt` chunks that say so.
//!
//! A phantom is rendered as a sum of intensity fields in normalised coordinates
//! (`u` left to right, `v` top to bottom, both in `[0, 1]`, PA view: the patient's
//! right lung is on the image's left): soft tissue with a thickness profile, two
//! lung fields (darker), mediastinum, spine, heart, aortic knob, diaphragm domes
//! (the lower lung borders), posterior ribs and clavicles, vascular markings fanning
//! out of the hila, low-frequency texture and Gaussian acquisition noise.
//!
//! Findings (index = position in [`NIH_FINDINGS`]):
//!
//! | finding | rendering |
//! |---|---|
//! | Atelectasis | plate-like band in a lower zone, elevated hemidiaphragm on that side |
//! | Cardiomegaly | heart widened to a cardiothoracic ratio of about 0.6 |
//! | Effusion | basal opacity with a meniscus rising laterally, blunted angle |
//! | Infiltration | several ill-defined patchy opacities |
//! | Mass | one lobulated round opacity, 5-8% of the image wide |
//! | Nodule | one to three small sharp round opacities |
//! | Pneumonia | a dense cluster of confluent patches in one lower/middle zone |
//! | Pneumothorax | apical-lateral band without lung markings, darker, with a visible pleural line |
//! | Consolidation | homogeneous lobar opacity bounded by a fissure, with air bronchograms |
//! | Edema | bilateral perihilar (bat-wing) haze and basal Kerley B lines |
//! | Emphysema | hyperlucent lungs, fewer markings, low flat diaphragm |
//! | Fibrosis | reticular (cell-edge) network in the lower peripheral zones, both sides |
//! | Pleural_Thickening | smooth band along one lateral chest wall and apex |
//! | Hernia | retrocardiac round opacity with an air-fluid level above the diaphragm |
//!
//! Randomness: every `(seed, index)` pair has independent ChaCha8 streams for the
//! anatomy, the labels, the noise and each finding, so a phantom's anatomy and noise
//! do not depend on its labels and one finding's placement does not depend on the
//! others. This is what lets tests compare a phantom with and without one finding.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::datasets::{ImageDataset, Sample};
use crate::error::{Error, Result};
use crate::image::GrayImage;
use crate::labels::{format_nih_labels, LabelStats, NIH_FINDINGS};

/// Where a phantom's label vector comes from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum LabelSource {
    /// The empirical joint distribution of the NIH label sets (about 54% "No Finding").
    NihJoint,
    /// The NIH joint distribution conditioned on at least one finding.
    NihAbnormal,
    /// The same labels for every phantom.
    Fixed([bool; 14]),
}

/// Generator settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhantomConfig {
    /// Output side length in pixels (images are square); at least 32.
    pub size: u32,
    /// Standard deviation of the additive Gaussian noise (intensity units, `[0, 1]` scale).
    pub noise: f32,
    /// Label source.
    pub labels: LabelSource,
}

impl Default for PhantomConfig {
    fn default() -> Self {
        Self {
            size: 256,
            noise: 0.012,
            labels: LabelSource::NihJoint,
        }
    }
}

/// An axis-aligned box in pixels, `x0..x1` by `y0..y1` (exclusive ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PixelBox {
    /// Left column.
    pub x0: u32,
    /// Top row.
    pub y0: u32,
    /// One past the right column.
    pub x1: u32,
    /// One past the bottom row.
    pub y1: u32,
}

impl PixelBox {
    /// Whether `(x, y)` lies inside.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x0 && x < self.x1 && y >= self.y0 && y < self.y1
    }

    /// The box grown by `m` pixels on each side, clipped to a `size x size` image.
    pub fn grow(&self, m: u32, size: u32) -> Self {
        Self {
            x0: self.x0.saturating_sub(m),
            y0: self.y0.saturating_sub(m),
            x1: (self.x1 + m).min(size),
            y1: (self.y1 + m).min(size),
        }
    }
}

/// The anatomy of one phantom, in normalised coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Anatomy {
    /// Body midline.
    pub cx: f32,
    /// Half width of the thorax (inner chest wall).
    pub thorax_half_width: f32,
    /// Lung apex height.
    pub apex: f32,
    /// Base of the diaphragm dome under the image-left and image-right lung.
    pub diaphragm: [f32; 2],
    /// Dome height of the diaphragm.
    pub dome: f32,
    /// Extra elevation of each hemidiaphragm dome (volume loss), on top of `diaphragm`.
    pub lift: [f32; 2],
    /// Heart ellipse: centre x, centre y, half width, half height.
    pub heart: [f32; 4],
    /// Half width of the upper mediastinum.
    pub mediastinum: f32,
    /// Vertical distance between posterior ribs.
    pub rib_spacing: f32,
}

impl Anatomy {
    /// Cardiothoracic ratio (heart width / thorax width).
    pub fn cardiothoracic_ratio(&self) -> f32 {
        self.heart[2] / self.thorax_half_width
    }

    /// Bounding box (normalised `u0, v0, u1, v1`) of lung `side` (0 image-left, 1 image-right).
    pub fn lung_box(&self, side: usize) -> [f32; 4] {
        let (lc, lw, vc, lh) = self.lung_geom(side);
        let sgn = side_sign(side);
        let c = self.cx + sgn * lc;
        [c - lw, vc - lh, c + lw, self.diaphragm[side] + 0.01]
    }

    fn lung_geom(&self, side: usize) -> (f32, f32, f32, f32) {
        let lc = (self.mediastinum + self.thorax_half_width) / 2.0;
        let lw = (self.thorax_half_width - self.mediastinum) / 2.0;
        let vc = (self.apex + self.diaphragm[side]) / 2.0;
        let lh = (self.diaphragm[side] - self.apex) / 2.0 + 0.02;
        (lc, lw, vc, lh)
    }

    /// Soft lung mask in `[0, 1]` for `side` at `(u, v)`; `px` is one pixel in normalised units.
    fn lung_mask(&self, side: usize, u: f32, v: f32, px: f32) -> f32 {
        let (lc, lw, vc, lh) = self.lung_geom(side);
        let sgn = side_sign(side);
        let d = (u - self.cx) * sgn;
        let x = (d - lc) / lw;
        let y = (v - vc) / lh;
        // Rounder at the apex, squarer at the base (costophrenic angles).
        let (x2, y2) = (x * x, y * y);
        let f = if y < 0.0 { x2 + y2 } else { x2 * x2 + y2 * y2 };
        let edge = 3.0 * px / lw.min(lh);
        let m = smoothstep(1.0 + edge, 1.0 - edge, f);
        let dome = self.dome_at(side, u);
        m * smoothstep(dome + 1.5 * px, dome - 1.5 * px, v)
    }

    fn dome_at(&self, side: usize, u: f32) -> f32 {
        let (lc, lw, _, _) = self.lung_geom(side);
        let d = (u - self.cx) * side_sign(side);
        let x = ((d - lc) / (lw * 1.15)).clamp(-1.0, 1.0);
        self.diaphragm[side] - self.lift[side] - self.dome * (1.0 - x * x)
    }
}

/// What a finding was rendered into.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenderedFinding {
    /// Index into [`NIH_FINDINGS`].
    pub finding: usize,
    /// Its name.
    pub name: String,
    /// Pixels the rendering changed (a bounding box).
    pub region: PixelBox,
    /// Which lung (0 image-left = patient right, 1 image-right), or `None` when bilateral/central.
    pub side: Option<usize>,
}

/// One synthetic phantom.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Phantom {
    /// `synthetic-phantom-s{seed}-{index:06}`.
    pub id: String,
    /// Always `true`: this is not patient data.
    pub synthetic: bool,
    /// Generator seed.
    pub seed: u64,
    /// Index within the seed's sequence.
    pub index: u64,
    /// Finding flags in [`NIH_FINDINGS`] order.
    pub labels: [bool; 14],
    /// The image, `[0, 1]` intensities.
    pub image: GrayImage,
    /// The anatomy drawn (after label-dependent changes such as cardiomegaly).
    pub anatomy: Anatomy,
    /// Where each finding was drawn.
    pub findings: Vec<RenderedFinding>,
}

impl Phantom {
    /// Labels as a 0/1 `f32` vector.
    pub fn label_vector(&self) -> Vec<f32> {
        self.labels.iter().map(|&b| b as u8 as f32).collect()
    }

    /// Labels in NIH `Finding Labels` form (`"No Finding"` when none).
    pub fn label_string(&self) -> String {
        format_nih_labels(&self.labels)
    }

    /// As a dataset [`Sample`] (the id says it is synthetic).
    pub fn to_sample(&self) -> Sample {
        Sample {
            id: self.id.clone(),
            image: self.image.clone(),
            labels: self.label_vector(),
        }
    }

    /// Write `dir/{id}.png` (8-bit) with `tEXt` chunks marking it synthetic and
    /// listing its labels; returns the path.
    pub fn save_png(&self, dir: impl AsRef<Path>) -> Result<PathBuf> {
        let path = dir.as_ref().join(format!("{}.png", self.id));
        let werr = |e: Box<dyn std::error::Error + Send + Sync>| Error::Write {
            path: path.clone(),
            source: e,
        };
        let file = std::fs::File::create(&path).map_err(|e| werr(Box::new(e)))?;
        let mut enc = png::Encoder::new(
            std::io::BufWriter::new(file),
            self.image.width(),
            self.image.height(),
        );
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let texts = [
            ("Title", self.id.clone()),
            (
                "Description",
                "SYNTHETIC chest phantom generated by med-data; not patient data".to_string(),
            ),
            (
                "Software",
                format!("med-data {}", env!("CARGO_PKG_VERSION")),
            ),
            ("Labels", self.label_string()),
            ("Seed", format!("{} index {}", self.seed, self.index)),
        ];
        for (k, v) in texts {
            enc.add_text_chunk(k.to_string(), v)
                .map_err(|e| werr(Box::new(e)))?;
        }
        let mut w = enc.write_header().map_err(|e| werr(Box::new(e)))?;
        w.write_image_data(&self.image.to_u8())
            .map_err(|e| werr(Box::new(e)))?;
        w.finish().map_err(|e| werr(Box::new(e)))?;
        Ok(path)
    }
}

/// The deterministic phantom generator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhantomGenerator {
    /// Seed of the whole sequence.
    pub seed: u64,
    /// Settings.
    pub config: PhantomConfig,
}

const STREAM_ANATOMY: u64 = 0;
const STREAM_LABELS: u64 = 1;
const STREAM_NOISE: u64 = 2;
const STREAM_TEXTURE: u64 = 3;
const STREAM_FINDING: u64 = 8;
const STREAMS_PER_IMAGE: u64 = 32;

fn side_sign(side: usize) -> f32 {
    if side == 0 {
        -1.0
    } else {
        1.0
    }
}

/// Film-like response: compresses highlights so overlapping densities do not saturate.
fn tone(x: f32) -> f32 {
    const K: f32 = 1.6;
    (1.0 - (-K * x.max(0.0)).exp()) / (1.0 - (-K).exp())
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn gauss<R: Rng>(rng: &mut R) -> f32 {
    // Box-Muller.
    let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
    let u2: f32 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// A painting surface in normalised coordinates.
struct Canvas {
    n: u32,
    data: Vec<f32>,
}

impl Canvas {
    fn px(&self) -> f32 {
        1.0 / self.n as f32
    }

    /// Add `f(u, v)` over the normalised box; returns the pixel box touched.
    fn paint(&mut self, bx: [f32; 4], f: impl Fn(f32, f32) -> f32) -> PixelBox {
        let n = self.n as f32;
        let x0 = (bx[0] * n).floor().clamp(0.0, n) as u32;
        let y0 = (bx[1] * n).floor().clamp(0.0, n) as u32;
        let x1 = (bx[2] * n).ceil().clamp(0.0, n) as u32;
        let y1 = (bx[3] * n).ceil().clamp(0.0, n) as u32;
        for y in y0..y1 {
            let v = (y as f32 + 0.5) / n;
            for x in x0..x1 {
                let u = (x as f32 + 0.5) / n;
                self.data[(y * self.n + x) as usize] += f(u, v);
            }
        }
        PixelBox { x0, y0, x1, y1 }
    }
}

impl PhantomGenerator {
    /// A generator with the default configuration (256x256, NIH joint labels).
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            config: PhantomConfig::default(),
        }
    }

    /// A generator with the given configuration.
    pub fn with_config(seed: u64, config: PhantomConfig) -> Result<Self> {
        if config.size < 32 || config.size > 4096 {
            return Err(Error::InvalidArgument(format!(
                "phantom size must be in 32..=4096, got {}",
                config.size
            )));
        }
        if !(config.noise >= 0.0 && config.noise.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "noise must be a finite non-negative number, got {}",
                config.noise
            )));
        }
        Ok(Self { seed, config })
    }

    fn rng(&self, index: u64, stream: u64) -> ChaCha8Rng {
        let mut r = ChaCha8Rng::seed_from_u64(self.seed);
        r.set_stream(index.wrapping_mul(STREAMS_PER_IMAGE).wrapping_add(stream));
        r
    }

    /// The labels phantom `index` gets from the configured [`LabelSource`].
    pub fn labels_for(&self, index: u64) -> [bool; 14] {
        let mut rng = self.rng(index, STREAM_LABELS);
        match self.config.labels {
            LabelSource::NihJoint => LabelStats::nih().sample(&mut rng),
            LabelSource::NihAbnormal => LabelStats::nih().sample_abnormal(&mut rng),
            LabelSource::Fixed(l) => l,
        }
    }

    /// Phantom number `index` of this seed's sequence.
    pub fn generate(&self, index: u64) -> Phantom {
        self.generate_with_labels(index, self.labels_for(index))
    }

    /// Phantom `index` (same anatomy and noise as [`generate`](Self::generate)) with the given labels.
    ///
    /// A configuration built without [`with_config`](Self::with_config) (public fields,
    /// deserialisation) is made safe here: the size is clamped to `32..=4096` and a
    /// negative or non-finite noise level counts as 0.
    pub fn generate_with_labels(&self, index: u64, labels: [bool; 14]) -> Phantom {
        let n = self.config.size.clamp(32, 4096);
        let mut arng = self.rng(index, STREAM_ANATOMY);
        let mut anatomy = base_anatomy(&mut arng);
        let mut findings = Vec::new();
        let has = |k: usize| labels[k];
        let frng = |k: usize| self.rng(index, STREAM_FINDING + k as u64);

        // Label-dependent anatomy.
        let base = anatomy;
        if has(1) {
            anatomy.heart[2] = 0.60 * anatomy.thorax_half_width;
            anatomy.heart[3] *= 1.18;
            anatomy.heart[0] += 0.02;
        }
        let emphysema = has(10);
        if emphysema {
            anatomy.dome *= 0.35;
            anatomy.diaphragm[0] += 0.04;
            anatomy.diaphragm[1] += 0.04;
        }
        let atelectasis_side = if has(0) {
            let side = frng(0).gen_range(0..2usize);
            anatomy.lift[side] = 0.035;
            Some(side)
        } else {
            None
        };
        let ptx_side = has(7).then(|| frng(7).gen_range(0..2usize));

        let mut c = Canvas {
            n,
            data: vec![0.0; (n * n) as usize],
        };
        let mut trng = self.rng(index, STREAM_TEXTURE);
        draw_anatomy(&mut c, &anatomy, &mut trng, emphysema, ptx_side);

        // Regions of label-dependent anatomy changes.
        if has(1) {
            let h = anatomy.heart;
            let b = base.heart;
            let bx = [
                (h[0] - h[2]).min(b[0] - b[2]) - 0.02,
                (h[1] - h[3]).min(b[1] - b[3]) - 0.02,
                (h[0] + h[2]).max(b[0] + b[2]) + 0.02,
                (h[1] + h[3]).max(b[1] + b[3]) + 0.02,
            ];
            findings.push(rendered(1, &c, bx, None));
        }
        if emphysema {
            // Darker lungs and a lower, flatter diaphragm: the chest across its width.
            // (The gastric bubble under the left dome moves down with it.)
            let bx = [
                0.0,
                anatomy.apex - 0.04,
                1.0,
                anatomy.diaphragm[0].max(anatomy.diaphragm[1]) + 0.07,
            ];
            findings.push(rendered(10, &c, bx, None));
        }

        for k in 0..14 {
            if !has(k) || k == 1 || k == 10 {
                continue;
            }
            let mut rng = frng(k);
            let f = match k {
                0 => atelectasis(&mut c, &anatomy, atelectasis_side.unwrap_or(0), &mut rng),
                2 => effusion(&mut c, &anatomy, &mut rng),
                3 => infiltration(&mut c, &anatomy, &mut rng),
                4 => mass(&mut c, &anatomy, &mut rng),
                5 => nodules(&mut c, &anatomy, &mut rng),
                6 => pneumonia(&mut c, &anatomy, &mut rng),
                7 => pneumothorax_region(&c, &anatomy, ptx_side.unwrap_or(0)),
                8 => consolidation(&mut c, &anatomy, &mut rng),
                9 => edema(&mut c, &anatomy, &mut rng),
                11 => fibrosis(&mut c, &anatomy, &mut rng),
                12 => pleural_thickening(&mut c, &anatomy, &mut rng),
                _ => hernia(&mut c, &anatomy, &mut rng),
            };
            findings.push(f);
        }
        findings.sort_by_key(|f| f.finding);

        // Acquisition noise: same stream whatever the labels.
        let mut nrng = self.rng(index, STREAM_NOISE);
        let sigma = if self.config.noise.is_finite() {
            self.config.noise.max(0.0)
        } else {
            0.0
        };
        for v in c.data.iter_mut() {
            let g = gauss(&mut nrng);
            *v = (tone(*v) + sigma * g).clamp(0.0, 1.0);
        }
        let image = GrayImage::new(n, n, c.data)
            .unwrap_or_else(|e| unreachable!("canvas is n x n by construction: {e}"));
        Phantom {
            id: format!("synthetic-phantom-s{}-{index:06}", self.seed),
            synthetic: true,
            seed: self.seed,
            index,
            labels,
            image,
            anatomy,
            findings,
        }
    }

    /// Phantoms `start..start + count` as dataset samples.
    pub fn samples(&self, start: u64, count: u64) -> impl Iterator<Item = Sample> + '_ {
        (start..start.saturating_add(count)).map(move |i| self.generate(i).to_sample())
    }
}

/// A fixed-size synthetic dataset: phantoms `start..start + count` of a generator, as an
/// [`ImageDataset`] (its name says it is synthetic).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhantomSet {
    /// The generator.
    pub generator: PhantomGenerator,
    /// First phantom index.
    pub start: u64,
    /// Number of phantoms.
    pub count: u64,
}

impl ImageDataset for PhantomSet {
    fn name(&self) -> String {
        format!(
            "SYNTHETIC chest phantoms (seed {}, {}..{})",
            self.generator.seed,
            self.start,
            self.start.saturating_add(self.count)
        )
    }

    fn class_names(&self) -> Vec<String> {
        NIH_FINDINGS.iter().map(|s| s.to_string()).collect()
    }

    fn len(&self) -> usize {
        usize::try_from(self.count).unwrap_or(usize::MAX)
    }

    fn sample(&self, index: usize) -> Result<Sample> {
        if index as u64 >= self.count {
            return Err(Error::InvalidArgument(format!(
                "index {index} past {} phantoms",
                self.count
            )));
        }
        let i = self
            .start
            .checked_add(index as u64)
            .ok_or_else(|| Error::InvalidArgument("phantom index overflows u64".into()))?;
        Ok(self.generator.generate(i).to_sample())
    }
}

fn rendered(k: usize, c: &Canvas, bx: [f32; 4], side: Option<usize>) -> RenderedFinding {
    let n = c.n as f32;
    let clip = |x: f32| x.clamp(0.0, n) as u32;
    RenderedFinding {
        finding: k,
        name: NIH_FINDINGS[k].to_string(),
        region: PixelBox {
            x0: clip((bx[0] * n).floor()),
            y0: clip((bx[1] * n).floor()),
            x1: clip((bx[2] * n).ceil()),
            y1: clip((bx[3] * n).ceil()),
        },
        side,
    }
}

fn with_region(k: usize, region: PixelBox, side: Option<usize>) -> RenderedFinding {
    RenderedFinding {
        finding: k,
        name: NIH_FINDINGS[k].to_string(),
        region,
        side,
    }
}

fn base_anatomy<R: Rng>(r: &mut R) -> Anatomy {
    let cx = 0.5 + r.gen_range(-0.012..0.012);
    let tw = r.gen_range(0.38..0.42);
    let apex = r.gen_range(0.07..0.10);
    let d_right = r.gen_range(0.75..0.79); // patient right (image left) is higher
    let d_left = d_right + r.gen_range(0.01..0.03);
    let heart_hw = tw * r.gen_range(0.42..0.48);
    let heart_hh = r.gen_range(0.11..0.13);
    let dome = r.gen_range(0.05..0.07);
    let heart_cy = (d_right + d_left) / 2.0 - dome - 0.45 * heart_hh;
    Anatomy {
        cx,
        thorax_half_width: tw,
        apex,
        diaphragm: [d_right, d_left],
        dome,
        lift: [0.0; 2],
        heart: [cx + heart_hw * 0.42, heart_cy, heart_hw, heart_hh],
        mediastinum: r.gen_range(0.05..0.06),
        rib_spacing: r.gen_range(0.064..0.072),
    }
}

/// The normal anatomy plus label-dependent texture changes (emphysema, pneumothorax).
fn draw_anatomy<R: Rng>(
    c: &mut Canvas,
    a: &Anatomy,
    r: &mut R,
    emphysema: bool,
    ptx_side: Option<usize>,
) {
    let px = c.px();
    let tw = a.thorax_half_width;
    let cx = a.cx;
    // Vessel rays from around each hilum: (side, angle, length, width, strength, origin jitter).
    let mut rays: [Vec<_>; 2] = [Vec::new(), Vec::new()];
    for (side, list) in rays.iter_mut().enumerate() {
        for _ in 0..40 {
            // Unit direction fanning laterally.
            let ang = r.gen_range(-1.35f32..1.35);
            list.push((
                side,
                (ang.cos() * side_sign(side), ang.sin()),
                r.gen_range(0.12f32..0.32),
                r.gen_range(0.0025f32..0.005),
                r.gen_range(0.04f32..0.08),
                (r.gen_range(-0.03f32..0.03), r.gen_range(-0.05f32..0.05)),
            ));
        }
    }
    // Low-frequency texture on a 12x12 lattice.
    const G: usize = 12;
    let lattice: Vec<f32> = (0..(G + 1) * (G + 1))
        .map(|_| r.gen_range(-1.0f32..1.0))
        .collect();
    let lf = |u: f32, v: f32| {
        let (gx, gy) = (u * G as f32, v * G as f32);
        let (ix, iy) = ((gx as usize).min(G - 1), (gy as usize).min(G - 1));
        let (fx, fy) = (gx - ix as f32, gy - iy as f32);
        let at = |x: usize, y: usize| lattice[y * (G + 1) + x];
        let top = at(ix, iy) * (1.0 - fx) + at(ix + 1, iy) * fx;
        let bot = at(ix, iy + 1) * (1.0 - fx) + at(ix + 1, iy + 1) * fx;
        top * (1.0 - fy) + bot * fy
    };
    // Mid-frequency texture (interstitium) on a 40x40 lattice.
    const G2: usize = 40;
    let lattice2: Vec<f32> = (0..(G2 + 1) * (G2 + 1))
        .map(|_| r.gen_range(-1.0f32..1.0))
        .collect();
    let mf = |u: f32, v: f32| {
        let (gx, gy) = (u * G2 as f32, v * G2 as f32);
        let (ix, iy) = ((gx as usize).min(G2 - 1), (gy as usize).min(G2 - 1));
        let (fx, fy) = (gx - ix as f32, gy - iy as f32);
        let (fx, fy) = (fx * fx * (3.0 - 2.0 * fx), fy * fy * (3.0 - 2.0 * fy));
        let at = |x: usize, y: usize| lattice2[y * (G2 + 1) + x];
        let top = at(ix, iy) * (1.0 - fx) + at(ix + 1, iy) * fx;
        let bot = at(ix, iy + 1) * (1.0 - fx) + at(ix + 1, iy + 1) * fx;
        top * (1.0 - fy) + bot * fy
    };
    let marking_scale = if emphysema { 0.35 } else { 1.0 };
    let carina = a.apex + 0.20;
    c.paint([0.0, 0.0, 1.0, 1.0], |u, v| {
        let d = u - cx;
        let ad = d.abs();
        // Body outline: neck above the shoulders, chest below, soft lateral walls.
        let shoulder = smoothstep(a.apex - 0.12, a.apex + 0.03, v);
        let bw = 0.12 + (tw + 0.08 - 0.12) * shoulder;
        let t = (1.0 - (ad / bw).powi(2)).max(0.0).sqrt();
        let mut val = 0.03 + 0.42 * t.powf(0.7) * smoothstep(bw + px, bw - px, ad);
        // Abdomen (liver/spleen) denser below the domes; gastric air under the left dome.
        let side = if d < 0.0 { 0 } else { 1 };
        let dome = a.dome_at(side, u);
        let below = smoothstep(dome - px, dome + px, v);
        val += 0.10 * below * t;
        let gastric = ((u - (cx + 0.6 * tw)) / 0.06).powi(2)
            + ((v - (a.diaphragm[1] + 0.03)) / 0.025).powi(2);
        val -= 0.10 * smoothstep(1.1, 0.9, gastric) * below;
        // Spine with vertebral bodies and the trachea's air column.
        let spine = smoothstep(0.034 + px, 0.034 - px, ad);
        val += spine * (0.07 + 0.03 * (v * std::f32::consts::TAU / 0.045).sin().max(0.0));
        let trachea =
            smoothstep(0.016 + px, 0.016 - px, ad) * smoothstep(carina + 0.01, carina - 0.01, v);
        val -= 0.06 * trachea;
        // Mediastinum, widening towards the heart, and the aortic knob.
        let mw = a.mediastinum + 0.02 * ((v - a.apex) / 0.4).clamp(0.0, 1.0);
        val += 0.08
            * smoothstep(mw + 2.0 * px, mw - 2.0 * px, ad)
            * smoothstep(a.apex - 0.06, a.apex, v);
        let knob = ((u - (cx + mw * 0.9)).powi(2) + (v - (a.apex + 0.17)).powi(2)).sqrt();
        val += 0.08 * smoothstep(0.034 + px, 0.034 - px, knob);
        // Heart: soft-tissue density that hides the lung behind it.
        let h = a.heart;
        let he = ((u - h[0]) / h[2]).powi(2) + ((v - h[1]) / h[3]).powi(2);
        // Softer upper border, where the heart merges into the mediastinum.
        let edge = if v < h[1] { 8.0 } else { 4.0 } * px / h[2];
        let heart = smoothstep(1.0 + edge, 1.0 - edge, he);
        // Lungs: darker (air), with vascular markings.
        let mut lung_total = 0.0;
        for (s, side_rays) in rays.iter().enumerate() {
            let m = a.lung_mask(s, u, v, px);
            if m <= 0.0 {
                continue;
            }
            lung_total += m;
            let (lc, lw, vc, lh) = a.lung_geom(s);
            // Thicker lung (darker) in the middle, thinner towards the walls.
            let y = ((v - vc) / lh).clamp(-1.0, 1.0);
            let x = ((d * side_sign(s) - lc) / lw).clamp(-1.0, 1.0);
            let profile = (0.7 + 0.3 * (1.0 - y * y)) * (0.75 + 0.25 * (1.0 - x * x));
            let depth = if emphysema { 0.42 } else { 0.32 } * profile;
            val -= depth * m * (1.0 - 0.85 * heart);
            let hx = cx + side_sign(s) * (a.mediastinum + 0.04);
            let hy = (a.apex + a.diaphragm[s]) / 2.0 + 0.03;
            let mut marks = 0.04 * blob(u, v, hx, hy, 0.03);
            for &(_, (ux, uy), len, w, st, (jx, jy)) in side_rays {
                let (dx, dy) = (u - hx - side_sign(s) * jx.abs(), v - hy - jy);
                let proj = dx * ux + dy * uy;
                if proj <= 0.0 || proj > len {
                    continue;
                }
                let perp = (dx * uy - dy * ux).abs();
                let width = w * (1.0 - 0.6 * proj / len);
                if perp > 4.0 * width {
                    continue;
                }
                marks += st
                    * (-(perp * perp) / (2.0 * width * width)).exp()
                    * (1.0 - proj / len).powf(0.7);
            }
            let mut tex = marks.min(0.09) + 0.03 * lf(u, v) + 0.018 * mf(u, v);
            if ptx_side == Some(s) {
                let p = ptx_mask(a, s, u, v, px);
                tex *= 1.0 - p;
                val -= 0.07 * p * m;
                // Visceral pleural line at the collapsed lung's edge.
                val += 0.14 * ptx_line(a, s, u, v, px) * m;
            }
            val += marking_scale * tex * m;
        }
        val += 0.05 * heart;
        // Posterior ribs (rising from the spine, curving down laterally), fainter
        // anterior ribs (descending medially), and clavicles.
        if ad < tw + 0.03 && ad > 0.02 {
            let x = ad / tw;
            let mut ribs = 0.0f32;
            for k in -1..11 {
                let base = a.apex + 0.02 + k as f32 * a.rib_spacing;
                let post = base - 0.02 * x + 0.16 * x * x;
                let dist = (v - post).abs();
                let band = smoothstep(0.010 + px, 0.010 - px, dist);
                let cortex = smoothstep(0.003, 0.0, (dist - 0.009).abs());
                ribs = ribs.max(0.8 * band + 0.4 * cortex);
                let ant = base + 0.03 + 0.12 * (1.0 - x) * (1.0 - x);
                if x > 0.35 {
                    ribs = ribs.max(0.35 * smoothstep(0.008 + px, 0.008 - px, (v - ant).abs()));
                }
            }
            val += (0.05 + 0.05 * lung_total.min(1.0)) * ribs * smoothstep(tw + 0.03, tw, ad);
            let clav = a.apex + 0.025 - 0.09 * x + 0.11 * x * x;
            val += 0.10
                * smoothstep(0.014 + px, 0.014 - px, (v - clav).abs())
                * smoothstep(1.1, 0.95, x);
        }
        val
    });
}

/// Pleural space of a pneumothorax: inside the lung but outside the collapsed lung.
fn ptx_mask(a: &Anatomy, s: usize, u: f32, v: f32, px: f32) -> f32 {
    let (lc, lw, vc, lh) = a.lung_geom(s);
    let d = (u - a.cx) * side_sign(s);
    let x = (d - (lc - 0.25 * lw)) / (0.70 * lw);
    let y = (v - (vc + 0.16 * lh)) / (0.78 * lh);
    let f = x * x + y * y;
    a.lung_mask(s, u, v, px) * smoothstep(1.0 - 0.02, 1.0 + 0.02, f)
}

fn ptx_line(a: &Anatomy, s: usize, u: f32, v: f32, px: f32) -> f32 {
    let (lc, lw, vc, lh) = a.lung_geom(s);
    let d = (u - a.cx) * side_sign(s);
    let dx = d - (lc - 0.25 * lw);
    let dy = v - (vc + 0.16 * lh);
    let x = dx / (0.70 * lw);
    let y = dy / (0.78 * lh);
    let r = (x * x + y * y).sqrt();
    let scale = (0.70 * lw).min(0.78 * lh);
    smoothstep(1.5 * px, 0.0, ((r - 1.0) * scale).abs())
}

fn pneumothorax_region(c: &Canvas, a: &Anatomy, s: usize) -> RenderedFinding {
    let b = a.lung_box(s);
    rendered(
        7,
        c,
        [b[0] - 0.01, b[1] - 0.01, b[2] + 0.01, b[3] + 0.01],
        Some(s),
    )
}

fn lung_point<R: Rng>(a: &Anatomy, s: usize, r: &mut R, vlo: f32, vhi: f32) -> (f32, f32) {
    // Rejection-sample a point well inside the lung, in the vertical fraction [vlo, vhi].
    let b = a.lung_box(s);
    for _ in 0..200 {
        let u = r.gen_range(b[0]..b[2]);
        let v = b[1] + (b[3] - b[1]) * r.gen_range(vlo..vhi);
        if a.lung_mask(s, u, v, 0.0) > 0.99
            && a.lung_mask(s, u + 0.03, v, 0.0) > 0.99
            && a.lung_mask(s, u - 0.03, v, 0.0) > 0.99
            && a.lung_mask(s, u, v + 0.03, 0.0) > 0.99
        {
            return (u, v);
        }
    }
    (
        (b[0] + b[2]) / 2.0,
        b[1] + (b[3] - b[1]) * (vlo + vhi) / 2.0,
    )
}

fn blob(u: f32, v: f32, cu: f32, cv: f32, sigma: f32) -> f32 {
    (-((u - cu).powi(2) + (v - cv).powi(2)) / (2.0 * sigma * sigma)).exp()
}

fn atelectasis<R: Rng>(c: &mut Canvas, a: &Anatomy, s: usize, r: &mut R) -> RenderedFinding {
    let b = a.lung_box(s);
    let px = c.px();
    let v0 = b[1] + (b[3] - b[1]) * r.gen_range(0.62..0.74);
    let tilt = r.gen_range(-0.15f32..0.15);
    let thick = r.gen_range(0.012f32..0.02);
    let a2 = *a;
    let band_box = [b[0], v0 - 0.08, b[2], v0 + 0.08];
    c.paint(band_box, |u, v| {
        let center = v0 + tilt * (u - (b[0] + b[2]) / 2.0);
        let m = a2.lung_mask(s, u, v, px);
        0.22 * smoothstep(thick + px, thick - px, (v - center).abs()) * m
    });
    // The elevated hemidiaphragm moved the lung base and the top of the abdomen
    // across that half of the body.
    let (h0, h1) = if s == 0 { (0.0, a.cx) } else { (a.cx, 1.0) };
    let bx = [h0, v0 - 0.08, h1, a.diaphragm[s] + 0.02];
    rendered(0, c, bx, Some(s))
}

fn effusion<R: Rng>(c: &mut Canvas, a: &Anatomy, r: &mut R) -> RenderedFinding {
    let s = r.gen_range(0..2usize);
    let b = a.lung_box(s);
    let h = r.gen_range(0.10f32..0.16);
    let a2 = *a;
    let px = c.px();
    let bx = [
        b[0] - 0.01,
        a.diaphragm[s] - a.dome - h - 0.02,
        b[2] + 0.01,
        b[3] + 0.01,
    ];
    let region = c.paint(bx, |u, v| {
        let d = (u - a2.cx) * side_sign(s);
        let lat = ((d - a2.mediastinum) / (a2.thorax_half_width - a2.mediastinum)).clamp(0.0, 1.0);
        // Meniscus: higher laterally.
        let top = a2.dome_at(s, u) - h * (0.5 + 0.5 * lat);
        let m = a2.lung_mask(s, u, v, px);
        // Behind the heart the fluid adds less (the heart already hides the lung there).
        let h = a2.heart;
        let he = ((u - h[0]) / h[2]).powi(2) + ((v - h[1]) / h[3]).powi(2);
        let heart = smoothstep(1.05, 0.95, he);
        0.38 * smoothstep(top - 0.01, top + 0.015, v) * m * (1.0 - 0.6 * heart)
    });
    with_region(2, region, Some(s))
}

fn infiltration<R: Rng>(c: &mut Canvas, a: &Anatomy, r: &mut R) -> RenderedFinding {
    let bilateral = r.gen_bool(0.5);
    let first = r.gen_range(0..2usize);
    let sides: Vec<usize> = if bilateral { vec![0, 1] } else { vec![first] };
    let mut blobs = Vec::new();
    for &s in &sides {
        for _ in 0..r.gen_range(4..7) {
            let (u, v) = lung_point(a, s, r, 0.3, 0.85);
            blobs.push((
                s,
                u,
                v,
                r.gen_range(0.018f32..0.032),
                r.gen_range(0.10f32..0.15),
            ));
        }
    }
    let (u0, v0, u1, v1) = blobs.iter().fold(
        (1.0f32, 1.0f32, 0.0f32, 0.0f32),
        |acc, &(_, u, v, sg, _)| {
            (
                acc.0.min(u - 3.0 * sg),
                acc.1.min(v - 3.0 * sg),
                acc.2.max(u + 3.0 * sg),
                acc.3.max(v + 3.0 * sg),
            )
        },
    );
    let a2 = *a;
    let px = c.px();
    let region = c.paint([u0, v0, u1, v1], |u, v| {
        let mut s = 0.0;
        for &(side, bu, bv, sg, amp) in &blobs {
            s += amp * blob(u, v, bu, bv, sg) * a2.lung_mask(side, u, v, px);
        }
        s.min(0.25)
    });
    with_region(3, region, if bilateral { None } else { Some(first) })
}

fn mass<R: Rng>(c: &mut Canvas, a: &Anatomy, r: &mut R) -> RenderedFinding {
    let s = r.gen_range(0..2usize);
    let (cu, cv) = lung_point(a, s, r, 0.2, 0.6);
    let rad = r.gen_range(0.045f32..0.07);
    let (p1, p2) = (
        r.gen_range(0.0f32..std::f32::consts::TAU),
        r.gen_range(0.0f32..std::f32::consts::TAU),
    );
    let px = c.px();
    let region = c.paint(
        [
            cu - rad * 1.3,
            cv - rad * 1.3,
            cu + rad * 1.3,
            cv + rad * 1.3,
        ],
        |u, v| {
            let (du, dv) = (u - cu, v - cv);
            let ang = dv.atan2(du);
            let rr = rad * (1.0 + 0.08 * (3.0 * ang + p1).sin() + 0.05 * (5.0 * ang + p2).sin());
            let d = (du * du + dv * dv).sqrt();
            0.30 * smoothstep(rr + 1.5 * px, rr - 1.5 * px, d)
                * (1.0 - 0.3 * (d / rr).powi(2)).max(0.6)
        },
    );
    with_region(4, region, Some(s))
}

fn nodules<R: Rng>(c: &mut Canvas, a: &Anatomy, r: &mut R) -> RenderedFinding {
    let count = r.gen_range(1..=3);
    let mut spots = Vec::new();
    for _ in 0..count {
        let s = r.gen_range(0..2usize);
        let (u, v) = lung_point(a, s, r, 0.15, 0.8);
        spots.push((u, v, r.gen_range(0.012f32..0.02)));
    }
    let (u0, v0, u1, v1) =
        spots
            .iter()
            .fold((1.0f32, 1.0f32, 0.0f32, 0.0f32), |acc, &(u, v, rad)| {
                let m = rad + 0.01;
                (
                    acc.0.min(u - m),
                    acc.1.min(v - m),
                    acc.2.max(u + m),
                    acc.3.max(v + m),
                )
            });
    let px = c.px();
    let region = c.paint([u0, v0, u1, v1], |u, v| {
        spots
            .iter()
            .map(|&(cu, cv, rad)| {
                let d = ((u - cu).powi(2) + (v - cv).powi(2)).sqrt();
                0.26 * smoothstep(rad + px, rad - px, d)
            })
            .fold(0.0, f32::max)
    });
    with_region(5, region, None)
}

fn pneumonia<R: Rng>(c: &mut Canvas, a: &Anatomy, r: &mut R) -> RenderedFinding {
    let s = r.gen_range(0..2usize);
    let (cu, cv) = lung_point(a, s, r, 0.5, 0.8);
    let spread = r.gen_range(0.035f32..0.05);
    let blobs: Vec<(f32, f32, f32)> = (0..r.gen_range(9..14))
        .map(|_| {
            (
                cu + spread * gauss(r),
                cv + 0.7 * spread * gauss(r),
                r.gen_range(0.012f32..0.022),
            )
        })
        .collect();
    let reach = 3.5 * spread + 0.07;
    let a2 = *a;
    let px = c.px();
    let region = c.paint([cu - reach, cv - reach, cu + reach, cv + reach], |u, v| {
        let m = a2.lung_mask(s, u, v, px);
        if m <= 0.0 {
            return 0.0;
        }
        let patches: f32 = blobs
            .iter()
            .map(|&(bu, bv, sg)| 0.11 * blob(u, v, bu, bv, sg))
            .sum();
        let haze = 0.06 * blob(u, v, cu, cv, 2.0 * spread);
        (patches.min(0.26) + haze) * m
    });
    with_region(6, region, Some(s))
}

fn consolidation<R: Rng>(c: &mut Canvas, a: &Anatomy, r: &mut R) -> RenderedFinding {
    let s = r.gen_range(0..2usize);
    let b = a.lung_box(s);
    let upper = r.gen_bool(0.5);
    // Fissure: a gently curved line across the lung.
    let fis = b[1] + (b[3] - b[1]) * r.gen_range(0.42f32..0.52);
    let curve = r.gen_range(-0.04f32..0.04);
    let mid = (b[0] + b[2]) / 2.0;
    let half = (b[2] - b[0]) / 2.0;
    let branches: Vec<(f32, f32, f32)> = (0..5)
        .map(|_| {
            (
                r.gen_range(-0.6f32..0.6),
                r.gen_range(0.5f32..1.2),
                r.gen_range(0.0f32..1.0),
            )
        })
        .collect();
    let a2 = *a;
    let px = c.px();
    let bx = if upper {
        [b[0] - 0.01, b[1] - 0.01, b[2] + 0.01, fis + 0.06]
    } else {
        [b[0] - 0.01, fis - 0.06, b[2] + 0.01, b[3] + 0.01]
    };
    let region = c.paint(bx, |u, v| {
        let m = a2.lung_mask(s, u, v, px);
        if m <= 0.0 {
            return 0.0;
        }
        let t = (u - mid) / half;
        let line = fis + curve * (1.0 - t * t);
        let inside = if upper {
            smoothstep(line + px, line - px, v)
        } else {
            smoothstep(line - px, line + px, v)
        };
        // Air bronchograms: thin dark lines radiating from the hilum side.
        let mut air = 0.0f32;
        for &(slope, len, off) in &branches {
            let x0 = mid - side_sign(s) * half * 0.6;
            let y0 = line + if upper { -0.02 } else { 0.02 } - off * 0.03;
            let du = (u - x0) * side_sign(s);
            if du > 0.0 && du < len * half {
                let yy = y0 + slope * du * if upper { -1.0 } else { 1.0 };
                air = air.max(smoothstep(1.2 * px, 0.0, (v - yy).abs()));
            }
        }
        (0.30 - 0.12 * air) * inside * m
    });
    with_region(8, region, Some(s))
}

fn edema<R: Rng>(c: &mut Canvas, a: &Anatomy, r: &mut R) -> RenderedFinding {
    let amp = r.gen_range(0.20f32..0.26);
    let lines: Vec<(usize, f32, f32)> = (0..12)
        .map(|i| {
            let s = i % 2;
            let b = a.lung_box(s);
            let v = b[1] + (b[3] - b[1]) * r.gen_range(0.72f32..0.9);
            (s, v, r.gen_range(0.02f32..0.035))
        })
        .collect();
    let a2 = *a;
    let px = c.px();
    let l = a.lung_box(0);
    let rb = a.lung_box(1);
    let region = c.paint([l[0], l[1], rb[2], rb[3].max(l[3])], |u, v| {
        let mut out = 0.0;
        for s in 0..2 {
            let m = a2.lung_mask(s, u, v, px);
            if m <= 0.0 {
                continue;
            }
            let (lc, _, vc, lh) = a2.lung_geom(s);
            let hx = a2.cx + side_sign(s) * (lc * 0.8);
            // Bat-wing: elongated perihilar haze.
            let g = (-((u - hx).powi(2) / (2.0 * 0.07f32.powi(2))
                + (v - vc).powi(2) / (2.0 * (0.45 * lh).powi(2))))
            .exp();
            out += amp * g * m;
            // Kerley B lines: short horizontal lines at the lateral bases.
            let b = a2.lung_box(s);
            let lateral_edge = if s == 0 { b[0] } else { b[2] };
            for &(ls, lv, len) in &lines {
                if ls != s {
                    continue;
                }
                let from_edge = (u - lateral_edge).abs();
                if from_edge < len + 0.03 && (v - lv).abs() < 1.5 * px {
                    out += 0.10 * m;
                }
            }
        }
        out
    });
    with_region(9, region, None)
}

fn fibrosis<R: Rng>(c: &mut Canvas, a: &Anatomy, r: &mut R) -> RenderedFinding {
    // Worley cell edges: points on a jittered grid.
    const CELL: f32 = 0.028;
    let cols = (1.0 / CELL) as usize + 2;
    let jitter: Vec<(f32, f32)> = (0..cols * cols)
        .map(|_| (r.gen_range(0.1f32..0.9), r.gen_range(0.1f32..0.9)))
        .collect();
    let a2 = *a;
    let px = c.px();
    let l = a.lung_box(0);
    let rb = a.lung_box(1);
    let top = l[1].min(rb[1]) + 0.45 * (l[3] - l[1]);
    let region = c.paint([l[0], top, rb[2], rb[3].max(l[3])], |u, v| {
        let mut m = 0.0;
        for s in 0..2 {
            let lm = a2.lung_mask(s, u, v, px);
            if lm > 0.0 {
                // Peripheral and basal weighting.
                let d =
                    ((u - a2.cx).abs() - a2.mediastinum) / (a2.thorax_half_width - a2.mediastinum);
                m += lm * smoothstep(0.3, 0.7, d) * smoothstep(top, top + 0.08, v);
            }
        }
        if m <= 0.0 {
            return 0.0;
        }
        let (gx, gy) = (u / CELL, v / CELL);
        let (ix, iy) = (gx as isize, gy as isize);
        let (mut d1, mut d2) = (f32::MAX, f32::MAX);
        for dy in -1..=1 {
            for dx in -1..=1 {
                let (cx, cy) = (ix + dx, iy + dy);
                if cx < 0 || cy < 0 || cx as usize >= cols || cy as usize >= cols {
                    continue;
                }
                let (jx, jy) = jitter[cy as usize * cols + cx as usize];
                let d = ((gx - (cx as f32 + jx)).powi(2) + (gy - (cy as f32 + jy)).powi(2)).sqrt();
                if d < d1 {
                    d2 = d1;
                    d1 = d;
                } else if d < d2 {
                    d2 = d;
                }
            }
        }
        let edge = smoothstep(0.12, 0.03, d2 - d1);
        0.12 * edge * m
    });
    with_region(11, region, None)
}

fn pleural_thickening<R: Rng>(c: &mut Canvas, a: &Anatomy, r: &mut R) -> RenderedFinding {
    let s = r.gen_range(0..2usize);
    let thick = r.gen_range(0.018f32..0.028);
    let extent = r.gen_range(0.55f32..0.8);
    let (f1, p1) = (
        r.gen_range(18.0f32..30.0),
        r.gen_range(0.0f32..std::f32::consts::TAU),
    );
    let a2 = *a;
    let px = c.px();
    let b = a.lung_box(s);
    let vmax = b[1] + (b[3] - b[1]) * extent;
    let region = c.paint(
        [b[0] - 0.01, b[1] - 0.01, b[2] + 0.01, vmax + 0.01],
        |u, v| {
            if v > vmax {
                return 0.0;
            }
            // A band inside the lung along its lateral wall and apex, with an undulating
            // inner margin: the lung mask minus the mask shifted inward.
            let m = a2.lung_mask(s, u, v, px);
            let (lc, _, _, _) = a2.lung_geom(s);
            let t = thick * (1.0 + 0.35 * (f1 * v + p1).sin());
            let inner = a2.lung_mask(s, u + side_sign(s) * t, v - 0.6 * t, px);
            let d = (u - a2.cx) * side_sign(s);
            let lateral =
                smoothstep(lc - 0.05, lc + 0.02, d) + smoothstep(b[1] + 0.12, b[1] + 0.04, v);
            0.30 * (m - inner).max(0.0) * lateral.min(1.0) * smoothstep(vmax, vmax - 0.04, v)
        },
    );
    with_region(12, region, Some(s))
}

fn hernia<R: Rng>(c: &mut Canvas, a: &Anatomy, r: &mut R) -> RenderedFinding {
    let rad = r.gen_range(0.045f32..0.06);
    let cu = a.cx + r.gen_range(0.0f32..0.03);
    let cv = a.diaphragm[0].min(a.diaphragm[1]) - a.dome - rad * 0.6;
    let level = cv - r.gen_range(0.15f32..0.45) * rad;
    let px = c.px();
    let region = c.paint(
        [
            cu - rad - 0.01,
            cv - rad - 0.01,
            cu + rad + 0.01,
            cv + rad + 0.01,
        ],
        |u, v| {
            let d = ((u - cu).powi(2) + (v - cv).powi(2)).sqrt();
            let inside = smoothstep(rad + px, rad - px, d);
            let wall = smoothstep(2.0 * px, 0.0, (d - rad).abs());
            // Air above the level (dark), fluid below (bright), a bright rim.
            let air = smoothstep(level + px, level - px, v);
            inside * (0.14 * (1.0 - air) - 0.12 * air) + 0.10 * wall
        },
    );
    with_region(13, region, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_curve_is_monotone_and_fixes_the_ends() {
        assert_eq!(tone(0.0), 0.0);
        assert!((tone(1.0) - 1.0).abs() < 1e-6);
        let mut prev = -1.0;
        for i in 0..=100 {
            let t = tone(i as f32 / 100.0);
            assert!(t > prev);
            prev = t;
        }
    }

    #[test]
    fn boxes_grow_and_clip() {
        let b = PixelBox {
            x0: 1,
            y0: 5,
            x1: 10,
            y1: 250,
        };
        let g = b.grow(3, 252);
        assert_eq!((g.x0, g.y0, g.x1, g.y1), (0, 2, 13, 252));
        assert!(g.contains(0, 2) && !g.contains(13, 2));
    }

    #[test]
    fn streams_are_independent_per_image() {
        let g = PhantomGenerator::new(5);
        let a: u64 = g.rng(0, STREAM_NOISE).gen();
        let b: u64 = g.rng(1, STREAM_NOISE).gen();
        let c: u64 = g.rng(0, STREAM_ANATOMY).gen();
        assert!(a != b && a != c);
        let a2: u64 = g.rng(0, STREAM_NOISE).gen();
        assert_eq!(a, a2);
    }
}
