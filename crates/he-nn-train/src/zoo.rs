//! The classifier zoo of the Latent-HE pipeline (Kim et al. 2025), in burn, with export to
//! he-nn's model description.
//!
//! * [`ResNet`]: ResNet-n for CIFAR-sized inputs (He, Zhang, Ren, Sun, *Deep residual
//!   learning for image recognition*, CVPR 2016, §4.2): a 3x3 stem convolution, three stages
//!   of `(n - 2) / 6` basic blocks with 16 / 32 / 64 channels (two 3x3 convolutions with batch
//!   normalization each; the first convolution of stages 2 and 3 has stride 2 and the shortcut
//!   is then a 1x1 stride-2 convolution with batch normalization), global average pooling,
//!   dense to the 14 findings. Options: squeeze-and-excitation in every block (Hu, Shen,
//!   Sun, CVPR 2018, §3: `x ⊙ σ(W2 act(W1 gap(x)))`, reduction 4) and the Latent-HE code's
//!   one-convolution-per-block variant.
//! * [`LeNet`]: LeNet-5's structure (LeCun, Bottou, Bengio, Haffner, Proc. IEEE 1998) on the
//!   latent: two convolution + activation + 2x2 average-pooling stages and two dense layers,
//!   sized to fit `4 x 32 x 32` in one N = 2^13 ciphertext; SE optionally after the second
//!   convolution's activation (its 16 channels, before the pooling).
//! * [`Vgg`]: a VGG-style plain network (Simonyan, Zisserman, *Very deep convolutional
//!   networks*, ICLR 2015: stacks of 3x3 convolutions, channels doubled after each pooling):
//!   three stages of `depth / 3` (3x3 convolution, batch normalization, activation) with
//!   16 / 32 / 64 channels, SE optionally closing every stage, 2x2 average pooling between the
//!   stages, global average pooling, dense. No shortcuts: the depth ablation of the zoo.
//! * [`HefNet`]: the zoo's HE-friendly network of grouped convolutions, after the HE-group
//!   convolution of SpENCNN (Ran et al., ICML 2023): a 3x3 stem, then
//!   blocks of a grouped 3x3 convolution ([`HEFNET_GROUPS`] groups, stride 2 in the first two
//!   blocks) and a 1x1 pointwise convolution, each with batch normalization and activation
//!   (16 -> 32 -> 64 -> 64 channels), SE optionally closing every block, global average
//!   pooling, dense. A grouped convolution needs `1 / groups` of the diagonals of a full one
//!   (he-nn: only channel differences inside a group are nonzero), the pointwise mixing no
//!   spatial rotations.
//!
//! Activations are the learnable per-channel quadratics `a x² + b x + c` ([`QuadAct`]) or, for
//! comparison only, ReLU; the SE gate is the cubic approximate sigmoid
//! (`he_nn::model::ApproxSigmoid::default()`) or, for comparison, the true sigmoid. Only the
//! polynomial variants export to he-nn.

use crate::{export_conv, export_dense, values, QuadAct, Result, Touch, TrainError};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Tensor};
use he_nn::model::{self as hm, ApproxSigmoid, Layer, Model, Shape};
use serde::{Deserialize, Serialize};

/// Initial `a` of the zoo's quadratic activations `a x² + x`. Small, since a deep stack of
/// quadratics diverges otherwise: measured on the SYNTHETIC latents, ResNet-20 + SE with
/// `a = 0.05` gave non-finite validation logits (inference-mode batch normalization) from
/// epoch 4 on, `a = 0.02` did not (docs/results/he-nn.md). A small `a` costs nothing in
/// he-nn: its one-level product form `a · x ⊙ (x + b/a) + c` needs only
/// `|b/a| <= CompileOptions::max_shift` (`2^16`).
pub const QUAD_INIT_A: f32 = 0.02;

/// Activation kind of a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActKind {
    /// Learnable per-channel `a x² + b x + c` (HE-friendly, one level).
    Quadratic,
    /// `max(x, 0)` (comparison only: no HE export).
    Relu,
}

/// Gate of the squeeze-and-excitation blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GateKind {
    /// The cubic approximate sigmoid (HE-friendly, two levels).
    Cubic,
    /// The logistic sigmoid (comparison only: no HE export).
    Sigmoid,
}

/// An activation layer: a [`QuadAct`], or ReLU when absent.
#[derive(Module, Debug)]
pub struct Act {
    quad: Option<QuadAct>,
}

impl Act {
    fn new(cfg: &ZooConfig, channels: usize, device: &Device) -> Self {
        Self {
            quad: (cfg.act == ActKind::Quadratic)
                .then(|| QuadAct::new(channels, cfg.quad_a, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.quad {
            Some(q) => q.forward(x),
            None => relu(x),
        }
    }

    fn export_quadratic(&self) -> Result<hm::Quadratic> {
        match &self.quad {
            Some(q) => q.export(),
            None => Err(TrainError::Config(
                "ReLU has no exact HE evaluation: only the quadratic variants export".into(),
            )),
        }
    }

    fn export(&self) -> Result<Layer> {
        self.export_quadratic().map(Layer::Quadratic)
    }
}

fn conv(cin: usize, cout: usize, kernel: usize, stride: usize, device: &Device) -> Conv2d {
    grouped_conv(cin, cout, kernel, stride, 1, device)
}

/// A `kernel x kernel` convolution without bias, padding `kernel / 2`, in `groups` groups.
fn grouped_conv(
    cin: usize,
    cout: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
    device: &Device,
) -> Conv2d {
    let p = kernel / 2;
    Conv2dConfig::new([cin, cout], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_groups(groups)
        .with_bias(false)
        .init(device)
}

fn bn(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels).init(device)
}

fn export_bn(b: &BatchNorm) -> Result<Layer> {
    Ok(Layer::BatchNorm(hm::BatchNorm {
        gamma: values(b.gamma.val())?,
        beta: values(b.beta.val())?,
        mean: values(b.running_mean.value())?,
        var: values(b.running_var.value())?,
        eps: b.epsilon,
    }))
}

/// `[b, c, 1, 1] <-> [b, c]`.
fn flat(x: Tensor<4>) -> Tensor<2> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c * h * w])
}

fn unflat(x: Tensor<2>) -> Tensor<4> {
    let [b, c] = x.dims();
    x.reshape([b, c, 1, 1])
}

/// The cubic approximate sigmoid of he-nn (one set of coefficients for training and export).
fn cubic_sigmoid(x: Tensor<2>) -> Tensor<2> {
    let [c0, c1, c2, c3] = ApproxSigmoid::default().coeffs;
    let x2 = x.clone() * x.clone();
    x2.clone() * x.clone() * c3 + x2 * c2 + x * c1 + c0
}

/// Squeeze-and-excitation: `x ⊙ gate(expand(act(reduce(gap(x)))))`.
#[derive(Module, Debug)]
pub struct SqueezeExcite {
    reduce: Linear,
    act: Act,
    expand: Linear,
    exact_sigmoid: bool,
}

impl SqueezeExcite {
    fn new(channels: usize, cfg: &ZooConfig, device: &Device) -> Self {
        let r = (channels / 4).max(1);
        Self {
            reduce: LinearConfig::new(channels, r).init(device),
            act: Act::new(cfg, r, device),
            expand: LinearConfig::new(r, channels).init(device),
            exact_sigmoid: cfg.gate == GateKind::Sigmoid,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let s = flat(x.clone().mean_dims(&[2, 3]));
        let h = flat(self.act.forward(unflat(self.reduce.forward(s))));
        let e = self.expand.forward(h);
        let g = if self.exact_sigmoid {
            sigmoid(e)
        } else {
            cubic_sigmoid(e)
        };
        x * unflat(g)
    }

    /// `x` through a network's optional SE block `se` (unchanged without one).
    fn forward_optional(se: Option<&Self>, x: Tensor<4>) -> Tensor<4> {
        match se {
            Some(se) => se.forward(x),
            None => x,
        }
    }

    /// Appends the export of a network's optional SE block `se` to `layers`.
    fn export_optional(se: Option<&Self>, layers: &mut Vec<Layer>) -> Result<()> {
        if let Some(se) = se {
            layers.push(se.export()?);
        }
        Ok(())
    }

    fn export(&self) -> Result<Layer> {
        if self.exact_sigmoid {
            return Err(TrainError::Config(
                "the true sigmoid has no exact HE evaluation: only the cubic gate exports".into(),
            ));
        }
        Ok(Layer::SqueezeExcitation(hm::SqueezeExcitation {
            reduce: export_dense(&self.reduce)?,
            activation: self.act.export_quadratic()?,
            expand: export_dense(&self.expand)?,
            sigmoid: ApproxSigmoid::default(),
        }))
    }
}

/// A basic residual block: `act(body(x) + shortcut(x))` with
/// `body = conv3x3, BN, act, conv3x3, BN [, SE]` (or `conv3x3, BN [, SE]` in the
/// one-convolution variant) and an identity shortcut, or `conv1x1 stride 2, BN` where the block
/// downsamples.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    inner: Option<Inner>,
    se: Option<SqueezeExcite>,
    shortcut: Option<ConvBn>,
    out: Act,
}

/// `act, conv3x3, BN`: the second half of a two-convolution body.
#[derive(Module, Debug)]
pub struct Inner {
    act: Act,
    conv: ConvBn,
}

/// A convolution followed by batch normalization.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBn {
    fn new(cin: usize, cout: usize, kernel: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: conv(cin, cout, kernel, stride, device),
            bn: bn(cout, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }

    fn export(&self) -> Result<[Layer; 2]> {
        Ok([
            Layer::Conv2d(export_conv(&self.conv)?),
            export_bn(&self.bn)?,
        ])
    }
}

impl BasicBlock {
    fn new(cin: usize, cout: usize, stride: usize, cfg: &ZooConfig, device: &Device) -> Self {
        Self {
            conv1: conv(cin, cout, 3, stride, device),
            bn1: bn(cout, device),
            inner: (!cfg.one_conv).then(|| Inner {
                act: Act::new(cfg, cout, device),
                conv: ConvBn::new(cout, cout, 3, 1, device),
            }),
            se: cfg.se.then(|| SqueezeExcite::new(cout, cfg, device)),
            shortcut: (stride != 1 || cin != cout)
                .then(|| ConvBn::new(cin, cout, 1, stride, device)),
            out: Act::new(cfg, cout, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = self.bn1.forward(self.conv1.forward(x.clone()));
        if let Some(inner) = &self.inner {
            h = inner.conv.forward(inner.act.forward(h));
        }
        let h = SqueezeExcite::forward_optional(self.se.as_ref(), h);
        let s = match &self.shortcut {
            Some(sc) => sc.forward(x),
            None => x,
        };
        self.out.forward(h + s)
    }

    fn export(&self, layers: &mut Vec<Layer>) -> Result<()> {
        let mut body = vec![
            Layer::Conv2d(export_conv(&self.conv1)?),
            export_bn(&self.bn1)?,
        ];
        if let Some(inner) = &self.inner {
            body.push(inner.act.export()?);
            body.extend(inner.conv.export()?);
        }
        SqueezeExcite::export_optional(self.se.as_ref(), &mut body)?;
        let shortcut = match &self.shortcut {
            Some(sc) => sc.export()?.to_vec(),
            None => vec![],
        };
        layers.push(Layer::Residual { body, shortcut });
        layers.push(self.out.export()?);
        Ok(())
    }
}

/// A convolution, batch normalization and activation (VGG's and HefNet's layer).
#[derive(Module, Debug)]
pub struct ConvBnAct {
    conv: ConvBn,
    act: Act,
}

impl ConvBnAct {
    fn new(conv: Conv2d, cfg: &ZooConfig, device: &Device) -> Self {
        let cout = conv.weight.dims()[0];
        Self {
            conv: ConvBn {
                conv,
                bn: bn(cout, device),
            },
            act: Act::new(cfg, cout, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.act.forward(self.conv.forward(x))
    }

    fn export(&self, layers: &mut Vec<Layer>) -> Result<()> {
        layers.extend(self.conv.export()?);
        layers.push(self.act.export()?);
        Ok(())
    }
}

/// A sequence of [`ConvBnAct`] optionally closed by squeeze-and-excitation: a VGG stage or a
/// HefNet block.
#[derive(Module, Debug)]
pub struct Stage {
    layers: Vec<ConvBnAct>,
    se: Option<SqueezeExcite>,
}

impl Stage {
    fn new(layers: Vec<ConvBnAct>, cfg: &ZooConfig, device: &Device) -> Self {
        let cout = layers.last().map_or(0, |l| l.conv.bn.gamma.dims()[0]);
        Self {
            layers,
            se: cfg.se.then(|| SqueezeExcite::new(cout, cfg, device)),
        }
    }

    fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        for l in &self.layers {
            x = l.forward(x);
        }
        SqueezeExcite::forward_optional(self.se.as_ref(), x)
    }

    fn export(&self, layers: &mut Vec<Layer>) -> Result<()> {
        for l in &self.layers {
            l.export(layers)?;
        }
        SqueezeExcite::export_optional(self.se.as_ref(), layers)
    }
}

/// Stages, global average pooling, dense: the body shared by [`Vgg`] and [`HefNet`];
/// `pool_between` puts a 2x2 average pooling between the stages.
fn stages_forward(stages: &[Stage], pool_between: bool, fc: &Linear, x: Tensor<4>) -> Tensor<2> {
    let mut h = x;
    for (i, s) in stages.iter().enumerate() {
        if pool_between && i > 0 {
            h = pool(h);
        }
        h = s.forward(h);
    }
    fc.forward(flat(h.mean_dims(&[2, 3])))
}

fn stages_export(stages: &[Stage], pool_between: bool, fc: &Linear) -> Result<Vec<Layer>> {
    let mut layers = Vec::new();
    for (i, s) in stages.iter().enumerate() {
        if pool_between && i > 0 {
            layers.push(Layer::AvgPool {
                kernel: 2,
                stride: 2,
            });
        }
        s.export(&mut layers)?;
    }
    layers.extend([Layer::GlobalAvgPool, Layer::Dense(export_dense(fc)?)]);
    Ok(layers)
}

/// VGG-`depth` on the latent (see the module documentation).
#[derive(Module, Debug)]
pub struct Vgg {
    stages: Vec<Stage>,
    fc: Linear,
}

impl Vgg {
    fn new(cfg: &ZooConfig, device: &Device) -> Self {
        let per_stage = cfg.depth / 3;
        let mut cin = cfg.input[0];
        let stages = [16, 32, 64]
            .into_iter()
            .map(|cout| {
                let layers = (0..per_stage)
                    .map(|i| {
                        let c = if i == 0 { cin } else { cout };
                        ConvBnAct::new(conv(c, cout, 3, 1, device), cfg, device)
                    })
                    .collect();
                cin = cout;
                Stage::new(layers, cfg, device)
            })
            .collect();
        Self {
            stages,
            fc: LinearConfig::new(64, cfg.classes).init(device),
        }
    }
}

/// Groups of HefNet's 3x3 convolutions.
pub const HEFNET_GROUPS: usize = 4;

/// HefNet on the latent (see the module documentation).
#[derive(Module, Debug)]
pub struct HefNet {
    stages: Vec<Stage>,
    fc: Linear,
}

impl HefNet {
    fn new(cfg: &ZooConfig, device: &Device) -> Self {
        let stem = ConvBnAct::new(conv(cfg.input[0], 16, 3, 1, device), cfg, device);
        let mut stages = vec![Stage {
            layers: vec![stem],
            se: None,
        }];
        for (cin, cout, stride) in [(16, 32, 2), (32, 64, 2), (64, 64, 1)] {
            let grouped = grouped_conv(cin, cin, 3, stride, HEFNET_GROUPS, device);
            let layers = vec![
                ConvBnAct::new(grouped, cfg, device),
                ConvBnAct::new(conv(cin, cout, 1, 1, device), cfg, device),
            ];
            stages.push(Stage::new(layers, cfg, device));
        }
        Self {
            stages,
            fc: LinearConfig::new(64, cfg.classes).init(device),
        }
    }
}

/// Architecture of a zoo network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZooConfig {
    /// Family.
    pub arch: Arch,
    /// ResNet depth `n = 6k + 2` (20, 32, 44, 56) or VGG depth `3k` (convolutions); ignored
    /// by LeNet and HefNet.
    pub depth: usize,
    /// Squeeze-and-excitation in every residual block (VGG: every stage, HefNet: every block).
    pub se: bool,
    /// One convolution per block (the Latent-HE code's variant).
    pub one_conv: bool,
    /// Activation.
    pub act: ActKind,
    /// SE gate.
    pub gate: GateKind,
    /// Input `[channels, height, width]`.
    pub input: [usize; 3],
    /// Outputs (findings).
    pub classes: usize,
    /// Initial `a` of the quadratic activations (default [`QUAD_INIT_A`]).
    pub quad_a: f32,
}

/// Architecture family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arch {
    /// [`ResNet`].
    ResNet,
    /// [`LeNet`].
    LeNet,
    /// [`Vgg`].
    Vgg,
    /// [`HefNet`].
    HefNet,
}

impl ZooConfig {
    /// ResNet-`depth` on a `4 x 32 x 32` latent with 14 outputs, quadratic activations.
    pub fn resnet(depth: usize, se: bool) -> Self {
        Self {
            arch: Arch::ResNet,
            depth,
            se,
            one_conv: false,
            act: ActKind::Quadratic,
            gate: GateKind::Cubic,
            input: [4, 32, 32],
            classes: crate::latents::FINDINGS,
            quad_a: QUAD_INIT_A,
        }
    }

    /// LeNet on a `4 x 32 x 32` latent with 14 outputs, quadratic activations.
    pub fn lenet() -> Self {
        Self {
            arch: Arch::LeNet,
            ..Self::resnet(0, false)
        }
    }

    /// A short name such as `resnet20-se-quad` or `lenet-relu`.
    pub fn name(&self) -> String {
        let mut s = match self.arch {
            Arch::ResNet => format!("resnet{}", self.depth),
            Arch::LeNet => "lenet".into(),
            Arch::Vgg => format!("vgg{}", self.depth),
            Arch::HefNet => "hefnet".into(),
        };
        if self.one_conv {
            s += "-1conv";
        }
        if self.se {
            s += "-se";
            if self.gate == GateKind::Sigmoid {
                s += "-sigmoid";
            }
        }
        s += match self.act {
            ActKind::Quadratic => "-quad",
            ActKind::Relu => "-relu",
        };
        s
    }

    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.arch == Arch::ResNet && (self.depth < 8 || !(self.depth - 2).is_multiple_of(6)) {
            return bad(format!(
                "ResNet depth {} is not 6k + 2 (20, 32, 44, 56)",
                self.depth
            ));
        }
        if self.arch == Arch::Vgg && (self.depth == 0 || !self.depth.is_multiple_of(3)) {
            return bad(format!("VGG depth {} is not 3k (3, 6, 9, ...)", self.depth));
        }
        let side = match self.arch {
            Arch::LeNet => 8,
            Arch::Vgg | Arch::HefNet => 4,
            Arch::ResNet => 1,
        };
        if !self.input[1].is_multiple_of(side) || !self.input[2].is_multiple_of(side) {
            return bad(format!(
                "{} needs sides divisible by {side}, got {:?}",
                self.name(),
                self.input
            ));
        }
        if self.input.contains(&0) || self.classes == 0 {
            return bad(format!("empty input {:?} or no classes", self.input));
        }
        Ok(())
    }
}

/// ResNet-n (see the module documentation).
#[derive(Module, Debug)]
pub struct ResNet {
    stem: Conv2d,
    stem_bn: BatchNorm,
    stem_act: Act,
    blocks: Vec<BasicBlock>,
    fc: Linear,
}

impl ResNet {
    fn new(cfg: &ZooConfig, device: &Device) -> Self {
        let k = (cfg.depth - 2) / 6;
        let mut blocks = Vec::new();
        let mut cin = 16;
        for (stage, cout) in [16, 32, 64].into_iter().enumerate() {
            for i in 0..k {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(cin, cout, stride, cfg, device));
                cin = cout;
            }
        }
        Self {
            stem: conv(cfg.input[0], 16, 3, 1, device),
            stem_bn: bn(16, device),
            stem_act: Act::new(cfg, 16, device),
            blocks,
            fc: LinearConfig::new(64, cfg.classes).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = self
            .stem_act
            .forward(self.stem_bn.forward(self.stem.forward(x)));
        for b in &self.blocks {
            h = b.forward(h);
        }
        self.fc.forward(flat(h.mean_dims(&[2, 3])))
    }

    fn export(&self) -> Result<Vec<Layer>> {
        let mut layers = vec![
            Layer::Conv2d(export_conv(&self.stem)?),
            export_bn(&self.stem_bn)?,
            self.stem_act.export()?,
        ];
        for b in &self.blocks {
            b.export(&mut layers)?;
        }
        layers.extend([Layer::GlobalAvgPool, Layer::Dense(export_dense(&self.fc)?)]);
        Ok(layers)
    }
}

/// LeNet on the latent: `conv 3x3 stride 2 (C -> 8), BN, act, avgpool 2, conv 3x3 (8 -> 16),
/// BN, act, avgpool 2, flatten, dense -> 64, act, dense -> classes`.
#[derive(Module, Debug)]
pub struct LeNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    act1: Act,
    conv2: Conv2d,
    bn2: BatchNorm,
    act2: Act,
    se: Option<SqueezeExcite>,
    fc1: Linear,
    act3: Act,
    fc2: Linear,
}

fn pool(x: Tensor<4>) -> Tensor<4> {
    avg_pool2d(x, AvgPoolOptions::new([2, 2]))
}

impl LeNet {
    fn new(cfg: &ZooConfig, device: &Device) -> Self {
        let flat_len = 16 * (cfg.input[1] / 8) * (cfg.input[2] / 8);
        Self {
            conv1: conv(cfg.input[0], 8, 3, 2, device),
            bn1: bn(8, device),
            act1: Act::new(cfg, 8, device),
            conv2: conv(8, 16, 3, 1, device),
            bn2: bn(16, device),
            act2: Act::new(cfg, 16, device),
            se: cfg.se.then(|| SqueezeExcite::new(16, cfg, device)),
            fc1: LinearConfig::new(flat_len, 64).init(device),
            act3: Act::new(cfg, 64, device),
            fc2: LinearConfig::new(64, cfg.classes).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let h = self.act1.forward(self.bn1.forward(self.conv1.forward(x)));
        let h = self
            .act2
            .forward(self.bn2.forward(self.conv2.forward(pool(h))));
        let h = SqueezeExcite::forward_optional(self.se.as_ref(), h);
        let h = self.act3.forward(unflat(self.fc1.forward(flat(pool(h)))));
        self.fc2.forward(flat(h))
    }

    fn export(&self) -> Result<Vec<Layer>> {
        let p = Layer::AvgPool {
            kernel: 2,
            stride: 2,
        };
        let mut layers = vec![
            Layer::Conv2d(export_conv(&self.conv1)?),
            export_bn(&self.bn1)?,
            self.act1.export()?,
            p.clone(),
            Layer::Conv2d(export_conv(&self.conv2)?),
            export_bn(&self.bn2)?,
            self.act2.export()?,
        ];
        SqueezeExcite::export_optional(self.se.as_ref(), &mut layers)?;
        layers.extend([
            p,
            Layer::Flatten,
            Layer::Dense(export_dense(&self.fc1)?),
            self.act3.export()?,
            Layer::Dense(export_dense(&self.fc2)?),
        ]);
        Ok(layers)
    }
}

/// A zoo network of either family.
#[derive(Module, Debug)]
// burn's Module derive does not see through `Box`; a network is built once, so the size
// difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Net {
    /// ResNet-n.
    ResNet(ResNet),
    /// LeNet.
    LeNet(LeNet),
    /// VGG-style.
    Vgg(Vgg),
    /// HefNet.
    HefNet(HefNet),
}

impl Net {
    /// A network of architecture `cfg`, initialised from burn's generator seeded with `seed`
    /// (parameters materialised at once).
    pub fn new(cfg: &ZooConfig, device: &Device, seed: u64) -> Result<Self> {
        cfg.check()?;
        device.seed(seed);
        let net = match cfg.arch {
            Arch::ResNet => Net::ResNet(ResNet::new(cfg, device)),
            Arch::LeNet => Net::LeNet(LeNet::new(cfg, device)),
            Arch::Vgg => Net::Vgg(Vgg::new(cfg, device)),
            Arch::HefNet => Net::HefNet(HefNet::new(cfg, device)),
        };
        net.visit(&mut Touch);
        Ok(net)
    }

    /// Logits `[b, classes]` of latents `[b, c, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Net::ResNet(n) => n.forward(x),
            Net::LeNet(n) => n.forward(x),
            Net::Vgg(n) => stages_forward(&n.stages, true, &n.fc, x),
            Net::HefNet(n) => stages_forward(&n.stages, false, &n.fc, x),
        }
    }

    /// The network in he-nn's model description (validated); fails for the ReLU and
    /// true-sigmoid variants.
    pub fn export(&self, cfg: &ZooConfig, name: &str) -> Result<Model> {
        let layers = match self {
            Net::ResNet(n) => n.export()?,
            Net::LeNet(n) => n.export()?,
            Net::Vgg(n) => stages_export(&n.stages, true, &n.fc)?,
            Net::HefNet(n) => stages_export(&n.stages, false, &n.fc)?,
        };
        let [c, h, w] = cfg.input;
        let model = Model {
            name: name.to_string(),
            input: Shape::new(c, h, w),
            layers,
            encoder: None,
        };
        model.validate()?;
        Ok(model)
    }
}
