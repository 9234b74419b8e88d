//! Inference: weight files (typed, CRC-checked), whole images by tiling into patches,
//! `encode(image) -> dense codes`, `decode(sparse codes) -> image`.

use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::store::{ModuleRecord, RecordError};
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use med_data::GrayImage;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::ScaConfig;
use crate::error::{read_file, write_file, Result, ScaError};
use crate::fast::FastPasses;
use crate::format::{corrupted, put_section, seal, take_section, unseal};
use crate::model::ScaAutoencoder;

/// Magic bytes of a weight file.
pub const WEIGHTS_MAGIC: &[u8; 8] = b"SCAWGHT\0";
/// Version of the weight file format.
pub const WEIGHTS_VERSION: u16 = 1;

/// Path of the shipped weights at sparsity `s` (4, 8 or 16).
pub fn shipped_weights_path(s: usize) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("weights/sca-s{s}.scw"))
}

/// The CPU device (burn's pure-Rust Flex backend).
pub fn cpu() -> Device {
    Device::flex()
}

static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Touch;

impl ModuleVisitor for Touch {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Build a module with burn's (global) generator seeded by `seed`, forcing the lazy
/// parameter initialisation inside the lock so the draws are reproducible.
pub fn seeded<M: Module>(device: &Device, seed: u64, build: impl FnOnce() -> M) -> M {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    let m = build();
    m.visit(&mut Touch);
    m
}

/// Shape of the codes of one image: `tiles_y x tiles_x` tiles, each with `groups` code maps
/// of `side x side` vectors of dimension `code_dim`. Vector `v` is
/// `((tile * groups + g) * side^2 + position)`, tiles in row-major order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeLayout {
    /// Tiles per row.
    pub tiles_x: u16,
    /// Tiles per column.
    pub tiles_y: u16,
    /// Code maps per tile.
    pub groups: u16,
    /// Code positions per tile side.
    pub side: u16,
    /// Dimension M of a code vector.
    pub code_dim: u16,
}

impl CodeLayout {
    /// Number of tiles.
    pub fn tiles(&self) -> usize {
        self.tiles_x as usize * self.tiles_y as usize
    }

    /// Vectors per code map of one tile.
    pub fn per_map(&self) -> usize {
        self.side as usize * self.side as usize
    }

    /// Number of code vectors.
    pub fn vectors(&self) -> usize {
        self.tiles() * self.groups as usize * self.per_map()
    }

    /// Number of values, `vectors * code_dim`.
    pub fn values(&self) -> usize {
        self.vectors() * self.code_dim as usize
    }

    /// Code map (group) of vector `v`.
    pub fn group_of(&self, v: usize) -> usize {
        (v / self.per_map()) % self.groups as usize
    }
}

/// Code vectors of one image (dense, sparse or ambiguated), `values[v * M + i]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Codes {
    /// Shape.
    pub layout: CodeLayout,
    /// Values, vector-major.
    pub values: Vec<f32>,
}

impl Codes {
    /// Vector `v`.
    pub fn vector(&self, v: usize) -> &[f32] {
        let m = self.layout.code_dim as usize;
        &self.values[v * m..(v + 1) * m]
    }

    /// Iterator over the vectors.
    pub fn vectors(&self) -> std::slice::ChunksExact<'_, f32> {
        self.values.chunks_exact(self.layout.code_dim as usize)
    }
}

/// The trained autoencoder with its configuration.
#[derive(Debug, Clone)]
pub struct Sca {
    config: ScaConfig,
    model: ScaAutoencoder,
    device: Device,
    fingerprint: [u8; 16],
    fast: std::sync::Arc<FastPasses>,
}

fn record_error(what: &str, e: RecordError) -> ScaError {
    match e {
        RecordError::Validation(m) => ScaError::ModelMismatch {
            what: what.into(),
            detail: m,
        },
        RecordError::Io(m) => corrupted(what, &m),
    }
}

/// Serialize configuration and parameters of `model` (sections: postcard config, burnpack
/// record), in the crate's envelope with `magic`.
pub fn module_bytes<C: Serialize, M: Module>(
    magic: &[u8; 8],
    cfg: &C,
    model: M,
) -> Result<Vec<u8>> {
    let record = model
        .into_record()
        .into_bytes()
        .map_err(|e| record_error("model", e))?;
    let cfg = postcard::to_allocvec(cfg).expect("postcard to a Vec cannot fail");
    let mut body = Vec::new();
    put_section(&mut body, &cfg);
    put_section(&mut body, &record);
    Ok(seal(magic, WEIGHTS_VERSION, &body))
}

/// Parse [`module_bytes`] output: the configuration and the raw record.
pub fn parse_module_bytes<C: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    magic: &[u8; 8],
    expected: &'static str,
    what: &str,
) -> Result<(C, Vec<u8>)> {
    let mut body = unseal(bytes, magic, WEIGHTS_VERSION, expected, what)?;
    let cfg = take_section(&mut body, what)?;
    let record = take_section(&mut body, what)?;
    let cfg = postcard::from_bytes(cfg).map_err(|e| corrupted(what, &e.to_string()))?;
    Ok((cfg, record.to_vec()))
}

/// Load a raw record into `model`.
pub fn apply_record<M: Module>(model: M, record: Vec<u8>, what: &str) -> Result<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(record))
        .map_err(|e| corrupted(what, &e.to_string()))?;
    model
        .try_load_record(record)
        .map_err(|e| record_error(what, e))
}

/// `f32` contents of a tensor.
pub fn tensor_values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| ScaError::InvalidArgument(format!("{e:?}")))
}

/// Fails unless a `width x height` image cuts into at most 1024 x 1024 tiles of `patch`
/// pixels (both sides nonzero multiples of the patch).
pub(crate) fn check_tiling(width: u32, height: u32, patch: u32) -> Result<()> {
    if width == 0
        || height == 0
        || !width.is_multiple_of(patch)
        || !height.is_multiple_of(patch)
        || width / patch > 1024
        || height / patch > 1024
    {
        return Err(ScaError::BadImageSize {
            width,
            height,
            patch,
        });
    }
    Ok(())
}

/// Tiles of `img` (sides multiples of `patch`) as `[tiles, 1, patch, patch]` in `[-1, 1]`.
pub fn image_to_tiles(
    img: &GrayImage,
    patch: u32,
    device: &Device,
) -> Result<(Tensor<4>, u16, u16)> {
    let (w, h) = (img.width(), img.height());
    check_tiling(w, h, patch)?;
    let (tx, ty, p) = (w / patch, h / patch, patch as usize);
    let mut data = Vec::with_capacity((w * h) as usize);
    for t in 0..(tx * ty) {
        let tile = img.crop((t % tx) * patch, (t / tx) * patch, patch, patch)?;
        data.extend(tile.data().iter().map(|v| v * 2.0 - 1.0));
    }
    let n = (tx * ty) as usize;
    Ok((
        Tensor::from_data(TensorData::new(data, [n, 1, p, p]), device),
        tx as u16,
        ty as u16,
    ))
}

/// Stitch tiles `[tiles, 1, patch, patch]` in `[-1, 1]` back into an image in `[0, 1]`
/// (clamped).
pub fn tiles_to_image(t: Tensor<4>, tiles_x: u16, tiles_y: u16) -> Result<GrayImage> {
    let [n, _, p, _] = t.dims();
    let v = tensor_values(t)?;
    let (tx, ty) = (tiles_x as usize, tiles_y as usize);
    if n != tx * ty {
        return Err(ScaError::InvalidArgument(format!(
            "{n} tiles for a {tx}x{ty} grid"
        )));
    }
    let w = tx * p;
    let mut out = vec![0f32; w * ty * p];
    for t in 0..n {
        let (ox, oy) = ((t % tx) * p, (t / tx) * p);
        for y in 0..p {
            for x in 0..p {
                out[(oy + y) * w + ox + x] = ((v[(t * p + y) * p + x] + 1.0) * 0.5).clamp(0.0, 1.0);
            }
        }
    }
    Ok(GrayImage::new(w as u32, (ty * p) as u32, out)?)
}

impl Sca {
    /// A randomly initialised model (seeded).
    pub fn random(config: ScaConfig, seed: u64, device: &Device) -> Result<Self> {
        config.validate()?;
        let model = seeded(device, seed, || ScaAutoencoder::new(&config, device));
        Self::from_model(config, model)
    }

    /// Wrap a (trained) model, moved to the CPU device without autodiff.
    pub fn from_model(config: ScaConfig, model: ScaAutoencoder) -> Result<Self> {
        config.validate()?;
        let device = cpu();
        let model = model.valid().to_device(&device);
        let fast = std::sync::Arc::new(FastPasses::new(&config, &model)?);
        let mut s = Self {
            config,
            model,
            device,
            fingerprint: [0; 16],
            fast,
        };
        s.fingerprint = fingerprint(&s.to_bytes()?);
        Ok(s)
    }

    /// The configuration.
    pub fn config(&self) -> &ScaConfig {
        &self.config
    }

    /// The network.
    pub fn model(&self) -> &ScaAutoencoder {
        &self.model
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// First 16 bytes of the SHA-256 of the weight file: public codes name the weights they
    /// were made with.
    pub fn fingerprint(&self) -> [u8; 16] {
        self.fingerprint
    }

    /// Serialize (magic `SCAWGHT`, version, postcard config, burnpack record, CRC-32).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        module_bytes(WEIGHTS_MAGIC, &self.config, self.model.clone())
    }

    /// Parse a weight file: magic, version, CRC, then tensor names and shapes against the
    /// stored configuration's architecture.
    pub fn from_bytes(bytes: &[u8], what: &str, device: &Device) -> Result<Self> {
        let (config, record): (ScaConfig, _) =
            parse_module_bytes(bytes, WEIGHTS_MAGIC, "sca-privacy weights", what)?;
        config.validate()?;
        let model = apply_record(ScaAutoencoder::new(&config, device), record, what)?;
        let fast = std::sync::Arc::new(FastPasses::new(&config, &model)?);
        Ok(Self {
            config,
            model,
            device: device.clone(),
            fingerprint: fingerprint(bytes),
            fast,
        })
    }

    /// Load a weight file.
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let path = path.as_ref();
        Self::from_bytes(&read_file(path)?, &path.display().to_string(), device)
    }

    /// The shipped weights at sparsity `s` (4, 8 or 16).
    pub fn shipped(s: usize, device: &Device) -> Result<Self> {
        Self::load(shipped_weights_path(s), device)
    }

    /// Save the weights.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        write_file(path, &self.to_bytes()?)
    }

    /// Dense (pre-sparsity) codes of an image in `[0, 1]` whose sides are multiples of the
    /// patch side, tile by tile.
    pub fn encode_dense(&self, img: &GrayImage) -> Result<Codes> {
        let mut all = self.encode_dense_all(std::slice::from_ref(img))?;
        Ok(all.remove(0))
    }

    /// [`encode_dense`](Self::encode_dense) of several images of the same size, by the
    /// [`FastPasses`] (one thread, the tiles of all images in batches).
    pub fn encode_dense_all(&self, imgs: &[GrayImage]) -> Result<Vec<Codes>> {
        self.fast.encode_all(imgs)
    }

    /// [`encode_dense_all`](Self::encode_dense_all) by the `burn` model in one forward pass
    /// (their tiles in one batch): the reference the fast passes are tested against.
    pub fn encode_dense_all_burn(&self, imgs: &[GrayImage]) -> Result<Vec<Codes>> {
        let first = imgs
            .first()
            .ok_or_else(|| ScaError::InvalidArgument("no image to encode".into()))?;
        if let Some(other) = imgs
            .iter()
            .find(|i| (i.width(), i.height()) != (first.width(), first.height()))
        {
            return Err(ScaError::InvalidArgument(format!(
                "images of {}x{} and {}x{} in one batch",
                first.width(),
                first.height(),
                other.width(),
                other.height()
            )));
        }
        let mut batch = Vec::with_capacity(imgs.len());
        let (mut tx, mut ty) = (0, 0);
        for img in imgs {
            let t;
            (t, tx, ty) = image_to_tiles(img, self.config.patch, &self.device)?;
            batch.push(t);
        }
        let z = self.model.encode_dense(Tensor::cat(batch, 0)); // [tiles, G, M, n]
        let values = tensor_values(z.swap_dims(2, 3))?;
        let layout = CodeLayout {
            tiles_x: tx,
            tiles_y: ty,
            groups: self.config.groups as u16,
            side: self.config.code_side() as u16,
            code_dim: self.config.code_dim as u16,
        };
        Ok(values
            .chunks_exact(layout.values())
            .map(|c| Codes {
                layout,
                values: c.to_vec(),
            })
            .collect())
    }

    /// Check that `codes` has this model's code geometry.
    pub fn check_layout(&self, l: &CodeLayout) -> Result<()> {
        if l.groups as usize != self.config.groups
            || l.side as usize != self.config.code_side()
            || l.code_dim as usize != self.config.code_dim
            || l.tiles() == 0
        {
            return Err(ScaError::ModelMismatch {
                what: "codes".into(),
                detail: format!(
                    "{} maps of {}x{} vectors of dimension {}, the model makes {} of {}x{} of {}",
                    l.groups,
                    l.side,
                    l.side,
                    l.code_dim,
                    self.config.groups,
                    self.config.code_side(),
                    self.config.code_side(),
                    self.config.code_dim
                ),
            });
        }
        Ok(())
    }

    /// Codes as the decoder's input tensor `[tiles, G, M, n]`.
    pub fn codes_tensor(&self, codes: &Codes) -> Result<Tensor<4>> {
        let l = codes.layout;
        self.check_layout(&l)?;
        if codes.values.len() != l.values() {
            return Err(ScaError::InvalidArgument(format!(
                "{} values for {} vectors of dimension {}",
                codes.values.len(),
                l.vectors(),
                l.code_dim
            )));
        }
        let t = Tensor::<4>::from_data(
            TensorData::new(
                codes.values.clone(),
                [
                    l.tiles(),
                    l.groups as usize,
                    l.per_map(),
                    l.code_dim as usize,
                ],
            ),
            &self.device,
        );
        Ok(t.swap_dims(2, 3))
    }

    /// Decode codes (sparse, purified or public as they are) into an image in `[0, 1]`, by
    /// the [`FastPasses`] (one thread, tile by tile).
    pub fn decode(&self, codes: &Codes) -> Result<GrayImage> {
        self.check_layout(&codes.layout)?;
        self.fast.decode(codes)
    }

    /// [`decode`](Self::decode) by the `burn` model (the reference of the fast passes).
    pub fn decode_burn(&self, codes: &Codes) -> Result<GrayImage> {
        let z = self.codes_tensor(codes)?;
        let out = self.model.decode(z, self.config.code_side());
        tiles_to_image(out, codes.layout.tiles_x, codes.layout.tiles_y)
    }
}

/// First 16 bytes of SHA-256.
pub fn fingerprint(bytes: &[u8]) -> [u8; 16] {
    let d = Sha256::digest(bytes);
    d[..16].try_into().expect("16 bytes")
}
