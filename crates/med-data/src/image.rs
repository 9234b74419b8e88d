//! The grayscale image type and the preprocessing used across the project.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Largest image (in pixels) that [`GrayImage::resize`] and [`Preprocess`] produce.
pub const MAX_PIXELS: u64 = 1 << 28;

/// A single-channel image of `f32` samples, stored row-major (`data[y * width + x]`).
///
/// Loaders return *display intensities* in `[0, 1]` (0 black, 1 white, after the
/// DICOM modality/VOI transforms and MONOCHROME1 inversion);
/// [`Preprocess`] maps them to `[-1, 1]` for the models. The type itself does not
/// constrain the range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrayImage {
    width: u32,
    height: u32,
    data: Vec<f32>,
}

impl GrayImage {
    /// Wrap a row-major buffer. Fails when `data.len() != width * height` or a side is 0.
    pub fn new(width: u32, height: u32, data: Vec<f32>) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::InvalidArgument(format!(
                "image sides must be positive, got {width}x{height}"
            )));
        }
        let expected = width as usize * height as usize;
        if data.len() != expected {
            return Err(Error::InvalidArgument(format!(
                "{width}x{height} image needs {expected} samples, got {}",
                data.len()
            )));
        }
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// An image of constant value.
    pub fn filled(width: u32, height: u32, value: f32) -> Result<Self> {
        Self::new(width, height, vec![value; width as usize * height as usize])
    }

    /// Build an image from a function of `(x, y)`.
    pub fn from_fn(width: u32, height: u32, mut f: impl FnMut(u32, u32) -> f32) -> Result<Self> {
        let mut data = Vec::with_capacity(width as usize * height as usize);
        for y in 0..height {
            for x in 0..width {
                data.push(f(x, y));
            }
        }
        Self::new(width, height, data)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The row-major samples.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Mutable access to the row-major samples.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Consume the image, returning its samples.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// The sample at `(x, y)`, or `None` outside the image.
    pub fn get(&self, x: u32, y: u32) -> Option<f32> {
        (x < self.width && y < self.height)
            .then(|| self.data[y as usize * self.width as usize + x as usize])
    }

    /// Smallest and largest sample.
    pub fn min_max(&self) -> (f32, f32) {
        self.data
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            })
    }

    /// Mean sample value.
    pub fn mean(&self) -> f32 {
        (self.data.iter().map(|&v| v as f64).sum::<f64>() / self.data.len() as f64) as f32
    }

    /// Apply `f` to every sample.
    pub fn map(&self, f: impl Fn(f32) -> f32) -> Self {
        Self {
            width: self.width,
            height: self.height,
            data: self.data.iter().map(|&v| f(v)).collect(),
        }
    }

    /// Linearly map `[from_lo, from_hi]` to `[to_lo, to_hi]` (no clamping).
    pub fn rescale_range(&self, from: (f32, f32), to: (f32, f32)) -> Result<Self> {
        let span = from.1 - from.0;
        if span == 0.0 || !span.is_finite() {
            return Err(Error::InvalidArgument(format!(
                "cannot rescale from an empty range {from:?}"
            )));
        }
        let k = (to.1 - to.0) / span;
        Ok(self.map(|v| to.0 + (v - from.0) * k))
    }

    /// Resize to exactly `width x height` with a separable triangle (bilinear,
    /// antialiased when shrinking) filter, as `image::imageops::resize` does.
    pub fn resize(&self, width: u32, height: u32) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::InvalidArgument(format!(
                "cannot resize to {width}x{height}"
            )));
        }
        if width as u64 * height as u64 > MAX_PIXELS {
            return Err(Error::InvalidArgument(format!(
                "resize to {width}x{height} exceeds the {MAX_PIXELS}-pixel limit"
            )));
        }
        if width == self.width && height == self.height {
            return Ok(self.clone());
        }
        let buf: image::ImageBuffer<image::Luma<f32>, Vec<f32>> =
            image::ImageBuffer::from_raw(self.width, self.height, self.data.clone())
                .ok_or_else(|| Error::InvalidArgument("image buffer size mismatch".to_string()))?;
        let out =
            image::imageops::resize(&buf, width, height, image::imageops::FilterType::Triangle);
        Self::new(width, height, out.into_raw())
    }

    /// The `width x height` window whose top-left corner is `(x, y)`.
    pub fn crop(&self, x: u32, y: u32, width: u32, height: u32) -> Result<Self> {
        if width == 0
            || height == 0
            || x.checked_add(width).is_none_or(|r| r > self.width)
            || y.checked_add(height).is_none_or(|b| b > self.height)
        {
            return Err(Error::InvalidArgument(format!(
                "crop {width}x{height}+{x}+{y} outside {}x{} image",
                self.width, self.height
            )));
        }
        let mut data = Vec::with_capacity(width as usize * height as usize);
        for row in y..y + height {
            let start = row as usize * self.width as usize + x as usize;
            data.extend_from_slice(&self.data[start..start + width as usize]);
        }
        Self::new(width, height, data)
    }

    /// The central `width x height` window. Fails with [`Error::ImageTooSmall`]
    /// when the image is smaller.
    pub fn center_crop(&self, width: u32, height: u32) -> Result<Self> {
        if self.width < width || self.height < height {
            return Err(Error::ImageTooSmall {
                path: None,
                width: self.width,
                height: self.height,
                required_width: width,
                required_height: height,
            });
        }
        self.crop(
            (self.width - width) / 2,
            (self.height - height) / 2,
            width,
            height,
        )
    }

    /// The image mirrored left-right.
    pub fn flip_horizontal(&self) -> Self {
        let w = self.width as usize;
        let data = self
            .data
            .chunks_exact(w)
            .flat_map(|row| row.iter().rev().copied())
            .collect();
        Self {
            width: self.width,
            height: self.height,
            data,
        }
    }

    /// All `size x size` patches on a grid with the given `stride` (row-major order).
    /// Fails when the image is smaller than one patch.
    pub fn patches(&self, size: u32, stride: u32) -> Result<Vec<GrayImage>> {
        if stride == 0 {
            return Err(Error::InvalidArgument(
                "patch stride must be positive".into(),
            ));
        }
        self.check_patch(size)?;
        let mut out = Vec::new();
        for y in (0..=self.height - size).step_by(stride as usize) {
            for x in (0..=self.width - size).step_by(stride as usize) {
                out.push(self.crop(x, y, size, size)?);
            }
        }
        Ok(out)
    }

    /// `count` patches of `size x size` at uniformly random positions (seeded by the
    /// caller's RNG, so reproducible).
    pub fn random_patches<R: rand::Rng + ?Sized>(
        &self,
        size: u32,
        count: usize,
        rng: &mut R,
    ) -> Result<Vec<GrayImage>> {
        self.check_patch(size)?;
        (0..count)
            .map(|_| {
                let x = rng.gen_range(0..=self.width - size);
                let y = rng.gen_range(0..=self.height - size);
                self.crop(x, y, size, size)
            })
            .collect()
    }

    fn check_patch(&self, size: u32) -> Result<()> {
        if size == 0 {
            return Err(Error::InvalidArgument("patch size must be positive".into()));
        }
        if self.width < size || self.height < size {
            return Err(Error::ImageTooSmall {
                path: None,
                width: self.width,
                height: self.height,
                required_width: size,
                required_height: size,
            });
        }
        Ok(())
    }

    /// Quantize `[0, 1]` samples (clamped) to 8 bits.
    pub fn to_u8(&self) -> Vec<u8> {
        self.data
            .iter()
            .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect()
    }

    /// Quantize `[0, 1]` samples (clamped) to 16 bits.
    pub fn to_u16(&self) -> Vec<u16> {
        self.data
            .iter()
            .map(|&v| (v.clamp(0.0, 1.0) * 65535.0).round() as u16)
            .collect()
    }
}

/// How an image is brought to a model's input size and range.
///
/// The default is the Latent-HE recipe: resize so that the shortest side is 256,
/// take the central 256x256 crop, and map `[0, 1]` to `[-1, 1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Output side length (the output is `size x size`).
    pub size: u32,
    /// When false, an image whose shortest side is below `size` is rejected with
    /// [`Error::ImageTooSmall`] instead of being upscaled.
    pub allow_upscale: bool,
    /// Output range that `[0, 1]` is mapped to.
    pub range: (f32, f32),
}

impl Default for Preprocess {
    fn default() -> Self {
        Self::latent_he()
    }
}

impl Preprocess {
    /// Latent-HE: 256x256, `[-1, 1]`, no upscaling.
    pub fn latent_he() -> Self {
        Self::square(256)
    }

    /// Any square size, `[-1, 1]`, no upscaling.
    pub fn square(size: u32) -> Self {
        Self {
            size,
            allow_upscale: false,
            range: (-1.0, 1.0),
        }
    }

    /// Same settings but upscaling allowed (for low-resolution sets such as MedMNIST).
    pub fn with_upscale(mut self) -> Self {
        self.allow_upscale = true;
        self
    }

    /// Resize the shortest side to `size` (keeping the aspect ratio), center-crop
    /// `size x size`, map `[0, 1]` to `range`.
    pub fn apply(&self, img: &GrayImage) -> Result<GrayImage> {
        let s = self.size;
        if s == 0 || s > 16384 {
            return Err(Error::InvalidArgument(format!(
                "preprocess size must be in 1..=16384, got {s}"
            )));
        }
        let (w, h) = (img.width(), img.height());
        let short = w.min(h);
        if short < s && !self.allow_upscale {
            return Err(Error::ImageTooSmall {
                path: None,
                width: w,
                height: h,
                required_width: s,
                required_height: s,
            });
        }
        // Scale so that the shortest side becomes exactly `s`.
        // As torchvision's Resize(size): the long side is truncated, not rounded.
        let long = |side: u32| side as u64 * s as u64 / short as u64;
        let (nw, nh) = if w <= h {
            (s as u64, long(h).max(s as u64))
        } else {
            (long(w).max(s as u64), s as u64)
        };
        if nw * nh > MAX_PIXELS {
            return Err(Error::InvalidArgument(format!(
                "a {w}x{h} image resized to a shortest side of {s} exceeds the {MAX_PIXELS}-pixel limit"
            )));
        }
        let (nw, nh) = (nw as u32, nh as u32);
        let resized = img.resize(nw, nh)?;
        let cropped = resized.center_crop(s, s)?;
        cropped.rescale_range((0.0, 1.0), self.range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_and_conversions() {
        let img = GrayImage::from_fn(3, 2, |x, y| (x + 10 * y) as f32).unwrap();
        assert_eq!(img.get(2, 1), Some(12.0));
        assert_eq!(img.get(3, 0), None);
        assert_eq!(img.min_max(), (0.0, 12.0));
        let unit = img.rescale_range((0.0, 12.0), (0.0, 1.0)).unwrap();
        assert_eq!(unit.get(2, 1), Some(1.0));
        assert!(img.rescale_range((1.0, 1.0), (0.0, 1.0)).is_err());
        let q = GrayImage::new(3, 1, vec![-0.5, 0.5, 2.0]).unwrap();
        assert_eq!(q.to_u8(), [0, 128, 255]);
        assert_eq!(q.to_u16(), [0, 32768, 65535]);
    }

    #[test]
    fn patches_flips_and_random_crops() {
        use rand::SeedableRng;
        let img = GrayImage::from_fn(10, 7, |x, y| (x + 100 * y) as f32).unwrap();
        let grid = img.patches(4, 3).unwrap();
        // x in {0, 3, 6}, y in {0, 3}.
        assert_eq!(grid.len(), 6);
        assert_eq!(grid[1].get(0, 0), Some(3.0));
        assert_eq!(grid[5].get(3, 3), Some(609.0));
        assert!(img.patches(8, 1).is_err());
        assert!(img.patches(2, 0).is_err());
        let f = img.flip_horizontal();
        assert_eq!(f.get(0, 2), Some(209.0));
        assert_eq!(f.flip_horizontal(), img);
        let mut r1 = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let mut r2 = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let a = img.random_patches(5, 20, &mut r1).unwrap();
        assert_eq!(a, img.random_patches(5, 20, &mut r2).unwrap());
        assert!(a.iter().all(|p| p.width() == 5 && p.height() == 5));
        // Every patch is a window of the source: its corner determines the rest.
        for p in &a {
            let c = p.get(0, 0).unwrap() as u32;
            assert_eq!(p.get(4, 4), Some((c + 404) as f32));
        }
        assert!(img.random_patches(0, 1, &mut r1).is_err());
    }

    #[test]
    fn preprocess_rejects_absurd_sizes() {
        let img = GrayImage::filled(4, 4, 0.5).unwrap();
        assert!(Preprocess::square(0).apply(&img).is_err());
        assert!(Preprocess::square(20_000)
            .with_upscale()
            .apply(&img)
            .is_err());
        let thin = GrayImage::filled(1, 4000, 0.5).unwrap();
        // 1x4000 upscaled to a shortest side of 16384 would be 16384 x 65.5M pixels.
        assert!(Preprocess::square(16384)
            .with_upscale()
            .apply(&thin)
            .is_err());
        let ok = Preprocess::square(8).with_upscale().apply(&img).unwrap();
        assert!(ok.data().iter().all(|&v| v.abs() < 1e-6), "0.5 maps to 0");
    }
}
