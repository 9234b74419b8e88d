//! # he-nn-train
//!
//! Trains HE-friendly CNNs (learnable quadratic activations, Kim et al. 2025 Latent-HE §3) in
//! `burn` (pure-Rust Flex CPU backend) and exports them to `he-nn`'s framework-free model
//! description, which the encrypted executor compiles. `burn` stays out of `he-nn`'s
//! dependency tree: this crate depends on `he-nn`, not the other way round.
//!
//! The shipped model ([`DigitsNet`]) is trained on scikit-learn's bundled `digits` (real 8x8
//! images; split and provenance in [`he_nn::digits`]):
//! `cargo run --release -p he-nn-train --bin train-digits`.

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::loss::cross_entropy_with_logits;
use burn::tensor::{Device, Tensor, TensorData};
use he_nn::digits::Digit;
use he_nn::model::{Conv2d as HeConv, Dense, Layer, Model, Quadratic as HeQuad, Shape};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use thiserror::Error;

pub mod classify;
pub mod latents;
pub mod weights;
pub mod zoo;

/// Errors of training and export.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A tensor that could not be read back.
    #[error("reading a tensor: {0}")]
    Tensor(String),
    /// An error of he-nn (the exported model does not validate, data unreadable).
    #[error(transparent)]
    HeNn(#[from] he_nn::HeNnError),
    /// An error of the codec (weights unreadable).
    #[error(transparent)]
    Codec(#[from] latent_codec::CodecError),
    /// An error of med-data (metrics, images).
    #[error(transparent)]
    Data(#[from] med_data::Error),
    /// A file that could not be read or written (cache, checkpoint, weights).
    #[error("{}: {detail}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A setting that cannot be used.
    #[error("{0}")]
    Config(String),
}

/// [`TrainError::Io`] for `path`.
pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Io {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

/// `Result` with [`TrainError`].
pub type Result<T> = std::result::Result<T, TrainError>;

/// Learnable quadratic activation `a x² + b x + c` with one coefficient triple per channel.
#[derive(Module, Debug)]
pub struct QuadAct {
    a: Param<Tensor<1>>,
    b: Param<Tensor<1>>,
    c: Param<Tensor<1>>,
}

fn constant(v: f32, n: usize, device: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(vec![v; n], [n]), device))
}

impl QuadAct {
    /// `channels` triples initialised to `a x² + x` with a small `a` (near the identity, as
    /// Latent-HE's learnable activations start).
    pub fn new(channels: usize, a: f32, device: &Device) -> Self {
        Self {
            a: constant(a, channels, device),
            b: constant(1.0, channels, device),
            c: constant(0.0, channels, device),
        }
    }

    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let n = self.a.val().dims()[0];
        let r = |p: &Param<Tensor<1>>| p.val().reshape([1, n, 1, 1]);
        x.clone() * x.clone() * r(&self.a) + x * r(&self.b) + r(&self.c)
    }

    pub(crate) fn export(&self) -> Result<HeQuad> {
        Ok(HeQuad {
            a: values(self.a.val())?,
            b: values(self.b.val())?,
            c: values(self.c.val())?,
        })
    }
}

/// The values of a tensor as `f64`, each the shortest decimal that reads back as the `f32`
/// burn holds (so that model files stay compact and exact to burn's precision).
pub(crate) fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f64>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map(|v| v.into_iter().map(shortest).collect())
        .map_err(|e| TrainError::Tensor(format!("{e:?}")))
}

/// The digits CNN: `conv 1->8 (3x3, stride 2) -> quadratic -> conv 8->16 (3x3, stride 2) ->
/// quadratic -> flatten -> dense 64->10`. Five levels encrypted.
#[derive(Module, Debug)]
pub struct DigitsNet {
    conv1: Conv2d,
    act1: QuadAct,
    conv2: Conv2d,
    act2: QuadAct,
    fc: Linear,
}

fn conv(cin: usize, cout: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

fn shortest(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// A burn convolution (square kernel, equal strides, symmetric explicit padding) in he-nn's form.
pub(crate) fn export_conv(c: &Conv2d) -> Result<HeConv> {
    let [cout, cin_per_group, k, _] = c.weight.val().dims();
    let padding = match c.padding {
        PaddingConfig2d::Valid => 0,
        PaddingConfig2d::Explicit(t, l, b, r) if t == l && t == b && t == r => t,
        ref p => {
            return Err(TrainError::Config(format!(
                "padding {p:?} (only symmetric explicit padding exports)"
            )))
        }
    };
    if c.stride[0] != c.stride[1] || c.kernel_size[0] != c.kernel_size[1] {
        return Err(TrainError::Config(
            "only square kernels with equal strides export".into(),
        ));
    }
    Ok(HeConv {
        in_channels: cin_per_group * c.groups,
        out_channels: cout,
        kernel: k,
        stride: c.stride[0],
        padding,
        groups: c.groups,
        weight: values(c.weight.val())?,
        bias: match &c.bias {
            Some(b) => values(b.val())?,
            None => vec![],
        },
    })
}

/// A burn linear layer in he-nn's form (burn's `Linear` stores `[in, out]`; he-nn's `Dense`
/// takes `[out][in]`).
pub(crate) fn export_dense(l: &Linear) -> Result<Dense> {
    let w = values(l.weight.val())?;
    let [inputs, outputs] = l.weight.val().dims();
    let weight = (0..outputs)
        .flat_map(|o| (0..inputs).map(move |i| (o, i)))
        .map(|(o, i)| w[i * outputs + o])
        .collect();
    Ok(Dense {
        inputs,
        outputs,
        weight,
        bias: match &l.bias {
            Some(b) => values(b.val())?,
            None => vec![],
        },
    })
}

/// Largest `|burn - he-nn| / (1 + |he-nn|)` over the logits of a batch: `inputs` holds the
/// samples one after the other (`model.input` each, `c, y, x` order), `burn_logits` burn's
/// logits for them; the he-nn side is `model`'s `f64` reference forward pass. The check that an
/// export computes what burn computes.
pub fn export_gap(model: &Model, inputs: &[f32], burn_logits: &[f32]) -> Result<f64> {
    let per = model.input.len();
    let outputs = burn_logits.len() / (inputs.len() / per.max(1)).max(1);
    let mut gap = 0.0f64;
    for (x, b) in inputs.chunks(per).zip(burn_logits.chunks(outputs)) {
        let t = he_nn::Tensor::new(model.input, x.iter().map(|&v| f64::from(v)).collect())?;
        let ours = model.forward(&t)?;
        for (b, o) in b.iter().zip(&ours.data) {
            gap = gap.max((f64::from(*b) - o).abs() / (1.0 + o.abs()));
        }
    }
    Ok(gap)
}

pub(crate) struct Touch;

impl ModuleVisitor for Touch {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

impl DigitsNet {
    /// A network initialised from burn's generator seeded with `seed` (parameters are
    /// materialised at once: burn initialises lazily).
    pub fn new(device: &Device, seed: u64) -> Self {
        device.seed(seed);
        let net = Self {
            conv1: conv(1, 8, device),
            act1: QuadAct::new(8, 0.1, device),
            conv2: conv(8, 16, device),
            act2: QuadAct::new(16, 0.1, device),
            fc: LinearConfig::new(64, 10).init(device),
        };
        net.visit(&mut Touch);
        net
    }

    /// Logits `[b, 10]` of images `[b, 1, 8, 8]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let h = self.act1.forward(self.conv1.forward(x));
        let h = self.act2.forward(self.conv2.forward(h));
        let [b, c, hh, w] = h.dims();
        self.fc.forward(h.reshape([b, c * hh * w]))
    }

    /// The network in he-nn's model description.
    pub fn export(&self, name: &str) -> Result<Model> {
        let model = Model {
            name: name.to_string(),
            input: Shape::new(1, 8, 8),
            layers: vec![
                Layer::Conv2d(export_conv(&self.conv1)?),
                Layer::Quadratic(self.act1.export()?),
                Layer::Conv2d(export_conv(&self.conv2)?),
                Layer::Quadratic(self.act2.export()?),
                Layer::Flatten,
                Layer::Dense(export_dense(&self.fc)?),
            ],
            encoder: None,
        };
        model.validate()?;
        Ok(model)
    }
}

fn batch(digits: &[&Digit], device: &Device) -> (Tensor<4>, Tensor<2>) {
    let b = digits.len();
    let x: Vec<f32> = digits
        .iter()
        .flat_map(|d| d.image.data.iter().map(|&v| v as f32))
        .collect();
    let mut y = vec![0f32; b * 10];
    for (i, d) in digits.iter().enumerate() {
        y[i * 10 + d.label] = 1.0;
    }
    (
        Tensor::from_data(TensorData::new(x, [b, 1, 8, 8]), device),
        Tensor::from_data(TensorData::new(y, [b, 10]), device),
    )
}

/// Settings of [`train`].
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Passes over the training split.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed of the initialisation and of the shuffling.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            batch: 32,
            lr: 3e-3,
            seed: 7,
        }
    }
}

/// Trains [`DigitsNet`] with cross-entropy and Adam; calls `progress(epoch, mean loss)`.
pub fn train(
    data: &[Digit],
    config: &TrainConfig,
    mut progress: impl FnMut(usize, f64),
) -> Result<DigitsNet> {
    let device = Device::flex().autodiff();
    let mut net = DigitsNet::new(&device, config.seed);
    let mut opt: ModuleOptimizer = AdamConfig::new().init();
    let mut rng = ChaCha20Rng::seed_from_u64(config.seed);
    let mut order: Vec<&Digit> = data.iter().collect();
    for epoch in 0..config.epochs {
        order.shuffle(&mut rng);
        let mut total = 0.0;
        for chunk in order.chunks(config.batch.max(1)) {
            let (x, y) = batch(chunk, &device);
            let loss = cross_entropy_with_logits(net.forward(x), y);
            total += values(loss.clone())?[0] * chunk.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = opt.step(config.lr, net, grads);
        }
        progress(epoch, total / data.len() as f64);
    }
    Ok(net.valid())
}

/// Accuracy of burn's forward pass on `data`.
pub fn accuracy(net: &DigitsNet, data: &[Digit]) -> Result<f64> {
    let device = Device::flex();
    let refs: Vec<&Digit> = data.iter().collect();
    let (x, _) = batch(&refs, &device);
    let logits = values(net.forward(x))?;
    let correct = data
        .iter()
        .enumerate()
        .filter(|(i, d)| he_nn::argmax(&logits[i * 10..(i + 1) * 10]) == d.label)
        .count();
    Ok(correct as f64 / data.len() as f64)
}
