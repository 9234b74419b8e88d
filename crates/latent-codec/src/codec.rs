//! Inference API: weight files, `encode(image) -> Latent`, `decode(latent) -> image`.

use std::path::Path;
use std::sync::Arc;

use burn::module::Module;
use burn::store::{ModuleRecord, RecordError};
use burn::tensor::{Bytes, Device, Int, Tensor, TensorData};
use med_data::GrayImage;

use crate::codes::{seal, unseal_versions, CodeIndices, Latent};
use crate::config::{CodecConfig, CodecConfigV1};
use crate::error::{CodecError, Result};
use crate::fast::FastEncoder;
use crate::model::VqGan;

const WEIGHTS_MAGIC: &[u8; 8] = b"LATCODEC";
/// Version of the weight file format (2: the configuration holds the encoder stem and the
/// encoder-attention flag; version 1 files are read as a full-resolution encoder with
/// attention).
pub const WEIGHTS_VERSION: u16 = 2;

/// The weights shipped with the crate (f = 8), if committed: see `docs/latent-codec.md`.
pub const SHIPPED_F8: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/vqgan-f8.lcw");

/// The CPU device the codec runs on (burn's pure-Rust Flex backend).
pub fn cpu() -> Device {
    Device::flex()
}

static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Touch;

impl burn::module::ModuleVisitor for Touch {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Force the initialisation of every parameter of `module` now (burn initialises parameters
/// lazily, at first use, which would make seeded initialisation depend on the order of use).
pub fn init_params<M: Module>(module: M) -> M {
    module.visit(&mut Touch);
    module
}

/// Run `build` with burn's random generator seeded by `seed`, holding a process-wide lock so
/// that other seeded constructions of this crate cannot interleave their draws. The Flex
/// backend's generator is global and burn initialises parameters lazily, so `build` should
/// return modules passed through [`init_params`].
pub fn with_seed<T>(device: &Device, seed: u64, build: impl FnOnce() -> T) -> T {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    build()
}

/// A VQGAN generator with its configuration, ready for inference.
#[derive(Debug, Clone)]
pub struct Codec {
    config: CodecConfig,
    model: VqGan,
    device: Device,
    /// The encoder without burn (`None` for encoders with self-attention).
    fast: Option<Arc<FastEncoder>>,
}

fn mismatch(what: &str, e: RecordError) -> CodecError {
    match e {
        RecordError::Validation(m) => CodecError::WeightMismatch {
            what: what.into(),
            detail: m,
        },
        RecordError::Io(m) => CodecError::Corrupted {
            what: what.into(),
            detail: m,
        },
    }
}

/// Serialize `config` and a module's parameters into the weight-file layout: magic
/// `LATCODEC`, version (u16 LE), config length (u32 LE), postcard config, burnpack record,
/// CRC-32 of everything before.
pub(crate) fn write_weights<M: Module>(config: &CodecConfig, model: M) -> Result<Vec<u8>> {
    let record = model
        .into_record()
        .into_bytes()
        .map_err(|e| mismatch("model", e))?;
    let cfg = postcard::to_allocvec(config).expect("postcard serialization to a Vec cannot fail");
    let mut buf = WEIGHTS_MAGIC.to_vec();
    buf.extend_from_slice(&WEIGHTS_VERSION.to_le_bytes());
    buf.extend_from_slice(&(cfg.len() as u32).to_le_bytes());
    buf.extend_from_slice(&cfg);
    buf.extend_from_slice(&record);
    Ok(seal(buf))
}

/// Split a weight file into its configuration and record bytes (all checks but the shapes).
pub(crate) fn read_weights(bytes: &[u8], what: &str) -> Result<(CodecConfig, Vec<u8>)> {
    let (version, body) = unseal_versions(bytes, WEIGHTS_MAGIC, &[1, WEIGHTS_VERSION], 2, what)?;
    let corrupted = |d: &str| CodecError::Corrupted {
        what: what.into(),
        detail: d.into(),
    };
    if body.len() < 4 {
        return Err(corrupted("config length missing"));
    }
    let n = u32::from_le_bytes([body[0], body[1], body[2], body[3]]) as usize;
    if body.len() < 4 + n {
        return Err(corrupted("config truncated"));
    }
    let cfg = &body[4..4 + n];
    let config: CodecConfig = match version {
        1 => postcard::from_bytes::<CodecConfigV1>(cfg).map(Into::into),
        _ => postcard::from_bytes(cfg),
    }
    .map_err(|e| corrupted(&e.to_string()))?;
    config.validate()?;
    Ok((config, body[4 + n..].to_vec()))
}

/// Apply record bytes to `model`, mapping burn's errors to typed ones.
pub(crate) fn apply_record<M: Module>(model: M, record: Vec<u8>, what: &str) -> Result<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(record)).map_err(|e| {
        CodecError::Corrupted {
            what: what.into(),
            detail: e.to_string(),
        }
    })?;
    model.try_load_record(record).map_err(|e| mismatch(what, e))
}

/// `[0, 1]` image to a `[1, 1, H, W]` tensor in `[-1, 1]`.
pub fn image_to_tensor(img: &GrayImage, device: &Device) -> Tensor<4> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let data: Vec<f32> = img.data().iter().map(|v| v * 2.0 - 1.0).collect();
    Tensor::from_data(TensorData::new(data, [1, 1, h, w]), device)
}

/// Codebook indices of a quantizer output as `u16` (codebooks have at most 2^16 codes).
pub(crate) fn indices_to_vec(indices: Tensor<1, Int>) -> Result<Vec<u16>> {
    Ok(indices
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|e| CodecError::InvalidArgument(format!("{e:?}")))?
        .into_iter()
        .map(|i| i as u16)
        .collect())
}

/// First image of a `[b, 1, H, W]` tensor in `[-1, 1]` back to `[0, 1]`, clamped.
pub fn tensor_to_image(t: Tensor<4>) -> Result<GrayImage> {
    let [_, _, h, w] = t.dims();
    let data = t
        .narrow(0, 0, 1)
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| CodecError::InvalidArgument(format!("{e:?}")))?;
    let data = data
        .into_iter()
        .map(|v| ((v + 1.0) * 0.5).clamp(0.0, 1.0))
        .collect();
    Ok(GrayImage::new(w as u32, h as u32, data)?)
}

impl Codec {
    /// A randomly initialised codec (seeded through the device RNG).
    pub fn random(config: CodecConfig, seed: u64, device: &Device) -> Result<Self> {
        config.validate()?;
        let model = with_seed(device, seed, || init_params(VqGan::new(&config, device)));
        Self::assemble(config, model, device.clone())
    }

    /// Wrap a trained model (moved to the [`cpu`] device, without autodiff).
    pub fn from_model(config: CodecConfig, model: VqGan) -> Result<Self> {
        config.validate()?;
        let device = cpu();
        let model = model.valid().to_device(&device);
        Self::assemble(config, model, device)
    }

    fn assemble(config: CodecConfig, model: VqGan, device: Device) -> Result<Self> {
        let fast = FastEncoder::from_model(&model)?.map(Arc::new);
        Ok(Self {
            config,
            model,
            device,
            fast,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CodecConfig {
        &self.config
    }

    /// The generator.
    pub fn model(&self) -> &VqGan {
        &self.model
    }

    /// Serialize the weights (see [`Codec::from_bytes`] for the layout).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        write_weights(&self.config, self.model.clone())
    }

    /// Parse a weight file: magic, version and CRC-32 are checked (typed errors
    /// [`CodecError::BadMagic`], [`CodecError::UnsupportedVersion`], [`CodecError::Corrupted`]),
    /// then every tensor's name and shape against the architecture of the stored
    /// configuration ([`CodecError::WeightMismatch`]).
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self> {
        Self::from_bytes_named(bytes, "weights", device)
    }

    fn from_bytes_named(bytes: &[u8], what: &str, device: &Device) -> Result<Self> {
        let (config, record) = read_weights(bytes, what)?;
        let model = apply_record(VqGan::new(&config, device), record, what)?;
        Self::assemble(config, model, device.clone())
    }

    /// The CRC-32 of the serialized weights ([`to_bytes`](Self::to_bytes), the checksum its
    /// last four bytes carry): tells apart codecs whose latents differ (caches of encoded
    /// latents are keyed by it). Not a security measure.
    pub fn fingerprint(&self) -> Result<u32> {
        let bytes = self.to_bytes()?;
        let body = &bytes[..bytes.len().saturating_sub(4)];
        Ok(crate::codes::crc32(body))
    }

    /// `vqgan-f{factor}-c{fingerprint:08x}` (`vqgan-f8-c32ebc085`): names the codec whose
    /// latents a classifier was trained on, so that a classifier is not run on the latents
    /// of another codec (the two differ although their shapes agree).
    pub fn id(&self) -> Result<String> {
        Ok(format!(
            "vqgan-f{}-c{:08x}",
            self.config.factor,
            self.fingerprint()?
        ))
    }

    /// Load a weight file.
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| CodecError::Io {
            path: path.into(),
            source,
        })?;
        Self::from_bytes_named(&bytes, &path.display().to_string(), device)
    }

    /// Load a weight file and require the configuration `expected` (for example the factor a
    /// pipeline was built for): [`CodecError::WeightMismatch`] otherwise.
    pub fn load_expecting(
        path: impl AsRef<Path>,
        expected: &CodecConfig,
        device: &Device,
    ) -> Result<Self> {
        let path = path.as_ref();
        let codec = Self::load(path, device)?;
        if &codec.config != expected {
            return Err(CodecError::WeightMismatch {
                what: path.display().to_string(),
                detail: format!(
                    "file holds f={} ({} latent channels, {} codes, width {}), expected f={} ({}, {}, {})",
                    codec.config.factor,
                    codec.config.latent_channels,
                    codec.config.codebook_size,
                    codec.config.base_channels,
                    expected.factor,
                    expected.latent_channels,
                    expected.codebook_size,
                    expected.base_channels
                ),
            });
        }
        Ok(codec)
    }

    /// The shipped f = 8 weights ([`SHIPPED_F8`]).
    pub fn shipped_f8(device: &Device) -> Result<Self> {
        Self::load(SHIPPED_F8, device)
    }

    /// Save the weights to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_bytes()?).map_err(|source| CodecError::Io {
            path: path.into(),
            source,
        })
    }

    fn check_size(&self, img: &GrayImage) -> Result<()> {
        let f = self.config.factor as u32;
        if img.width() == 0
            || img.height() == 0
            || !img.width().is_multiple_of(f)
            || !img.height().is_multiple_of(f)
            || img.width() / f > u16::MAX as u32
            || img.height() / f > u16::MAX as u32
        {
            return Err(CodecError::BadImageSize {
                width: img.width(),
                height: img.height(),
                factor: self.config.factor,
            });
        }
        Ok(())
    }

    /// Continuous encoder output of a `[b, 1, H, W]` batch in `[-1, 1]`.
    pub fn encode_tensor(&self, x: Tensor<4>) -> Tensor<4> {
        self.model.encoder.forward(x)
    }

    /// Encode one image (`[0, 1]` intensities, sides multiples of `f`; 256x256 after
    /// `med_data::Preprocess::latent_he()` in the Latent-HE pipeline).
    ///
    /// Runs the encoder and the nearest-code search without burn ([`crate::fast`]: im2col +
    /// `gemm` on one thread), which gives [`encode_reference`](Self::encode_reference)'s
    /// result up to the order of floating-point sums; encoders with self-attention take the
    /// burn path.
    pub fn encode(&self, img: &GrayImage) -> Result<Latent> {
        let Some(fast) = &self.fast else {
            return self.encode_reference(img);
        };
        self.check_size(img)?;
        let (w, h) = (img.width() as usize, img.height() as usize);
        let x: Vec<f32> = img.data().iter().map(|v| v * 2.0 - 1.0).collect();
        let (continuous, shape, indices) = fast.encode(&x, h, w);
        let codes = CodeIndices::new(
            self.config.codebook_size as u32,
            shape[1] as u16,
            shape[2] as u16,
            indices,
        )?;
        Ok(Latent {
            shape,
            continuous,
            codes,
        })
    }

    /// Whether [`encode`](Self::encode) runs the burn-free encoder ([`crate::fast`]).
    pub fn has_fast_encoder(&self) -> bool {
        self.fast.is_some()
    }

    /// [`encode`](Self::encode) through burn's forward pass ([`crate::model::Encoder::forward`])
    /// and [`crate::model::VectorQuantizer::nearest`]: the reference the fast path is tested
    /// against.
    pub fn encode_reference(&self, img: &GrayImage) -> Result<Latent> {
        self.check_size(img)?;
        let z = self.encode_tensor(image_to_tensor(img, &self.device));
        let [_, c, h, w] = z.dims();
        let flat = z.clone().permute([0, 2, 3, 1]).reshape([h * w, c]);
        let idx = self.model.quantizer.nearest(flat);
        let continuous = z
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| CodecError::InvalidArgument(format!("{e:?}")))?;
        let indices = indices_to_vec(idx)?;
        let codes = CodeIndices::new(
            self.config.codebook_size as u32,
            h as u16,
            w as u16,
            indices,
        )?;
        Ok(Latent {
            shape: [c, h, w],
            continuous,
            codes,
        })
    }

    /// Decode codebook indices to an image in `[0, 1]`.
    pub fn decode_indices(&self, codes: &CodeIndices) -> Result<GrayImage> {
        if codes.codebook_size as usize != self.config.codebook_size {
            return Err(CodecError::LatentMismatch(format!(
                "indices into {} codes, codec has {}",
                codes.codebook_size, self.config.codebook_size
            )));
        }
        let (h, w) = (codes.height as usize, codes.width as usize);
        let idx: Vec<i64> = codes.indices.iter().map(|&i| i as i64).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [h * w]), &self.device);
        let zq = self.model.quantizer.lookup(idx, 1, h, w);
        tensor_to_image(self.model.decoder.forward(zq))
    }

    /// Decode a latent (through its quantized codes, as the VQGAN decoder is trained).
    pub fn decode(&self, latent: &Latent) -> Result<GrayImage> {
        if latent.shape[0] != self.config.latent_channels {
            return Err(CodecError::LatentMismatch(format!(
                "{} latent channels, codec has {}",
                latent.shape[0], self.config.latent_channels
            )));
        }
        self.decode_indices(&latent.codes)
    }

    /// Decode the continuous encoder output without quantization (for diagnostics: the gap to
    /// [`decode`](Self::decode) is the quantization error).
    pub fn decode_continuous(&self, latent: &Latent) -> Result<GrayImage> {
        let [c, h, w] = latent.shape;
        if c != self.config.latent_channels || latent.continuous.len() != c * h * w {
            return Err(CodecError::LatentMismatch(format!(
                "shape {:?} with {} values for {} latent channels",
                latent.shape,
                latent.continuous.len(),
                self.config.latent_channels
            )));
        }
        let z = Tensor::from_data(
            TensorData::new(latent.continuous.clone(), [1, c, h, w]),
            &self.device,
        );
        tensor_to_image(self.model.decoder.forward(z))
    }

    /// Encode and decode (the reconstruction the metrics are measured on).
    pub fn reconstruct(&self, img: &GrayImage) -> Result<GrayImage> {
        self.decode(&self.encode(img)?)
    }
}
