//! Model builders: the HE-friendly ResNet family (He, Zhang, Ren, Sun, *Deep residual
//! learning*, CVPR 2016, §4.2: the CIFAR ResNet-`6n+2` with three stages of `n` basic blocks)
//! with quadratic activations and optional squeeze-and-excitation (Hu, Shen, Sun, CVPR 2018),
//! and a LeNet-like network, all with weights from a [`RandomInit`].
//!
//! They serve as templates for weight import ([`crate::import::load_safetensors`] fills a
//! template's weights by name) and as the random-weight models of the fidelity tests and the
//! full-size example.

use crate::error::Result;
use crate::model::{
    ApproxSigmoid, BatchNorm, Conv2d, Dense, Layer, Model, Quadratic, Shape, SqueezeExcitation,
};
use crate::reference::{forward_layer, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Seeded random weights sized to keep activations of order one: convolution and dense
/// weights uniform in `±gain / sqrt(fan_in)`, batch normalization near the identity, quadratic
/// activations `a x² + b x + c` with `a ∈ [0.02, 0.1)`, `b ∈ [0.6, 1)`, `|c| < 0.1` (the
/// residual stream passes every block's activation unnormalized, so `a` must stay small).
pub struct RandomInit {
    rng: ChaCha20Rng,
    /// Weight gain (`1.5` by default).
    pub gain: f64,
}

impl RandomInit {
    /// Weights drawn from ChaCha20 seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha20Rng::seed_from_u64(seed),
            gain: 1.5,
        }
    }

    /// `n` values uniform in `[-r, r)`.
    pub fn uniform(&mut self, n: usize, r: f64) -> Vec<f64> {
        (0..n).map(|_| self.rng.gen_range(-r..r)).collect()
    }

    fn range(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.rng.gen_range(lo..hi)).collect()
    }

    /// A `k x k` convolution with padding `k / 2`.
    pub fn conv(&mut self, cin: usize, cout: usize, k: usize, stride: usize) -> Layer {
        let r = self.gain / ((cin * k * k) as f64).sqrt();
        Layer::Conv2d(Conv2d {
            in_channels: cin,
            out_channels: cout,
            kernel: k,
            stride,
            padding: k / 2,
            groups: 1,
            weight: self.uniform(cout * cin * k * k, r),
            bias: self.uniform(cout, 0.1),
        })
    }

    /// Batch normalization near the identity, with output gain `gamma` on average.
    pub fn bn(&mut self, c: usize, gamma: f64) -> Layer {
        Layer::BatchNorm(BatchNorm {
            gamma: self.range(c, 0.8 * gamma, 1.2 * gamma),
            beta: self.uniform(c, 0.1),
            mean: self.uniform(c, 0.1),
            var: self.range(c, 0.8, 1.2),
            eps: 1e-5,
        })
    }

    /// A per-channel quadratic activation.
    pub fn quad(&mut self, c: usize) -> Layer {
        Layer::Quadratic(Quadratic {
            a: self.range(c, 0.02, 0.1),
            b: self.range(c, 0.6, 1.0),
            c: self.uniform(c, 0.1),
        })
    }

    /// A dense layer.
    pub fn dense(&mut self, inputs: usize, outputs: usize) -> Dense {
        Dense {
            inputs,
            outputs,
            weight: self.uniform(inputs * outputs, self.gain / (inputs as f64).sqrt()),
            bias: self.uniform(outputs, 0.1),
        }
    }

    /// Squeeze-and-excitation over `c` channels with reduction `r` (`c -> c / r -> c`), the
    /// quadratic activation and the cubic sigmoid.
    pub fn se(&mut self, c: usize, r: usize) -> Layer {
        let hidden = (c / r).max(1);
        Layer::SqueezeExcitation(SqueezeExcitation {
            reduce: self.dense(c, hidden),
            activation: Quadratic::per_layer(0.2, 1.0, 0.0),
            expand: self.dense(hidden, c),
            sigmoid: ApproxSigmoid::default(),
        })
    }
}

/// Shape of a ResNet of the CIFAR family.
#[derive(Clone, Debug, PartialEq)]
pub struct ResNetConfig {
    /// Input `C x H x W`.
    pub input: Shape,
    /// Channels of each stage (every stage after the first halves `H` and `W`).
    pub widths: Vec<usize>,
    /// Basic blocks per stage (`n`: ResNet-`6n+2`).
    pub blocks: usize,
    /// Convolutions per block: 2 (the standard basic block) or 1 (the Latent-HE paper's
    /// variant).
    pub convs_per_block: usize,
    /// Squeeze-and-excitation reduction in every block, if any.
    pub se_reduction: Option<usize>,
    /// Outputs of the final dense layer.
    pub classes: usize,
}

impl ResNetConfig {
    /// ResNet-`depth` (`depth = 6n + 2`: 20, 32, 44, 56) with 16/32/64 channels.
    pub fn depth(depth: usize, input: Shape, classes: usize) -> Self {
        Self {
            input,
            widths: vec![16, 32, 64],
            blocks: depth.saturating_sub(2) / 6,
            convs_per_block: 2,
            se_reduction: None,
            classes,
        }
    }

    /// With squeeze-and-excitation of reduction `r` in every block.
    pub fn with_se(mut self, r: usize) -> Self {
        self.se_reduction = Some(r);
        self
    }

    /// With one convolution per block.
    pub fn one_conv(mut self) -> Self {
        self.convs_per_block = 1;
        self
    }

    /// A name such as `resnet20-se` or `resnet20-1conv`.
    pub fn name(&self) -> String {
        let mut name = format!("resnet{}", 6 * self.blocks + 2);
        if self.convs_per_block == 1 {
            name.push_str("-1conv");
        }
        if self.se_reduction.is_some() {
            name.push_str("-se");
        }
        name
    }
}

/// A basic block: `convs_per_block` x (conv, BN) with a quadratic activation between them, SE
/// on the body's output, and the identity or a 1x1 strided conv + BN as shortcut (He et al.
/// §3.3, option B). The activation after the addition belongs to the caller.
fn basic_block(
    cfg: &ResNetConfig,
    init: &mut RandomInit,
    cin: usize,
    cout: usize,
    stride: usize,
) -> Layer {
    let mut body = Vec::new();
    for i in 0..cfg.convs_per_block {
        if i > 0 {
            body.push(init.quad(cout));
        }
        let (c_in, s) = if i == 0 { (cin, stride) } else { (cout, 1) };
        body.push(init.conv(c_in, cout, 3, s));
        // a damped last BN keeps the residual sum from growing block after block
        let last = i + 1 == cfg.convs_per_block;
        body.push(init.bn(cout, if last { 0.5 } else { 1.0 }));
    }
    if let Some(r) = cfg.se_reduction {
        body.push(init.se(cout, r));
    }
    let shortcut = if stride == 1 && cin == cout {
        Vec::new()
    } else {
        vec![init.conv(cin, cout, 1, stride), init.bn(cout, 1.0)]
    };
    Layer::Residual { body, shortcut }
}

/// The ResNet of `cfg`: stem conv + BN + activation, the stages of basic blocks each followed
/// by an activation, global average pooling and a dense layer to `classes` logits.
pub fn resnet(cfg: &ResNetConfig, init: &mut RandomInit) -> Model {
    let first = cfg.widths.first().copied().unwrap_or(16);
    let mut layers = vec![init.conv(cfg.input.c, first, 3, 1), init.bn(first, 1.0)];
    layers.push(init.quad(first));
    let mut cin = first;
    for (stage, &width) in cfg.widths.iter().enumerate() {
        for b in 0..cfg.blocks {
            let stride = if stage > 0 && b == 0 { 2 } else { 1 };
            layers.push(basic_block(cfg, init, cin, width, stride));
            layers.push(init.quad(width));
            cin = width;
        }
    }
    layers.push(Layer::GlobalAvgPool);
    layers.push(Layer::Dense(init.dense(cin, cfg.classes)));
    Model {
        name: cfg.name(),
        input: cfg.input,
        layers,
        encoder: None,
    }
}

/// A LeNet-like network: conv + BN, quadratic, 2x2 average pooling, strided conv, square,
/// flatten, dense.
pub fn lenet(input: Shape, classes: usize, init: &mut RandomInit) -> Model {
    let (c1, c2) = (4 * input.c, 8 * input.c);
    let side = |x: usize| x / 2 / 2 + usize::from(x / 2 % 2 == 1);
    Model {
        name: "lenet".into(),
        input,
        layers: vec![
            init.conv(input.c, c1, 3, 1),
            init.bn(c1, 1.0),
            init.quad(c1),
            Layer::AvgPool {
                kernel: 2,
                stride: 2,
            },
            init.conv(c1, c2, 3, 2),
            Layer::Square,
            Layer::Flatten,
            Layer::Dense(init.dense(c2 * side(input.h) * side(input.w), classes)),
        ],
        encoder: None,
    }
}

/// Sets every batch normalization's running mean and variance to the statistics of its input
/// over `inputs` (per channel, over the inputs and the pixels), as training would: a
/// random-weight network then keeps its activations of order one through any depth, like a
/// trained one, instead of growing with every quadratic activation.
pub fn calibrate_batch_norm(model: &mut Model, inputs: &[Tensor]) -> Result<()> {
    calibrate_sequence("layers", &mut model.layers, inputs.to_vec()).map(|_| ())
}

fn calibrate_sequence(
    prefix: &str,
    layers: &mut [Layer],
    mut xs: Vec<Tensor>,
) -> Result<Vec<Tensor>> {
    for (i, layer) in layers.iter_mut().enumerate() {
        let name = format!("{prefix}[{i}]");
        match layer {
            Layer::BatchNorm(bn) => set_statistics(bn, &xs),
            Layer::Residual { body, shortcut } => {
                let b = calibrate_sequence(&format!("{name}.body"), body, xs.clone())?;
                let s = calibrate_sequence(&format!("{name}.shortcut"), shortcut, xs)?;
                xs = b
                    .into_iter()
                    .zip(s)
                    .map(|(b, s)| Tensor {
                        shape: b.shape,
                        data: b.data.iter().zip(&s.data).map(|(u, v)| u + v).collect(),
                    })
                    .collect();
                continue;
            }
            _ => {}
        }
        xs = xs
            .into_iter()
            .map(|x| forward_layer(layer, &name, x))
            .collect::<Result<_>>()?;
    }
    Ok(xs)
}

fn set_statistics(bn: &mut BatchNorm, xs: &[Tensor]) {
    let Some(shape) = xs.first().map(|x| x.shape) else {
        return;
    };
    let hw = shape.h * shape.w;
    let n = (hw * xs.len()) as f64;
    for c in 0..shape.c.min(bn.mean.len()) {
        let values = || xs.iter().flat_map(|x| &x.data[c * hw..(c + 1) * hw]);
        let mean = values().sum::<f64>() / n;
        let var = values().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        bn.mean[c] = mean;
        bn.var[c] = var;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resnet_family_shapes_validate() {
        let input = Shape::new(4, 32, 32);
        for cfg in [
            ResNetConfig::depth(20, input, 14),
            ResNetConfig::depth(20, input, 14).with_se(4),
            ResNetConfig::depth(20, input, 14).one_conv(),
            ResNetConfig::depth(32, input, 14),
        ] {
            let m = resnet(&cfg, &mut RandomInit::new(1));
            assert_eq!(
                m.validate().unwrap(),
                Shape::new(14, 1, 1),
                "{}",
                cfg.name()
            );
        }
        assert_eq!(
            ResNetConfig::depth(20, input, 14).with_se(4).name(),
            "resnet20-se"
        );
        let l = lenet(Shape::new(1, 8, 8), 10, &mut RandomInit::new(2));
        assert_eq!(l.validate().unwrap(), Shape::new(10, 1, 1));
    }

    #[test]
    fn calibrated_batch_norm_keeps_a_deep_random_network_bounded() {
        // ResNet-20 at full width, 19 quadratic activations
        let input = Shape::new(4, 32, 32);
        let mut init = RandomInit::new(7);
        let mut model = resnet(&ResNetConfig::depth(20, input, 14), &mut init);
        let xs: Vec<Tensor> = (0..2)
            .map(|_| Tensor::new(input, init.uniform(input.len(), 1.0)).unwrap())
            .collect();
        let max = |m: &Model| {
            m.forward(&xs[0])
                .unwrap()
                .data
                .iter()
                .fold(0.0f64, |a, v| a.max(v.abs()))
        };
        println!("random statistics: logits up to {:.3e}", max(&model));
        calibrate_batch_norm(&mut model, &xs).unwrap();
        println!("calibrated: logits up to {:.3e}", max(&model));
        assert!(
            max(&model) < 20.0,
            "calibrated logits up to {}",
            max(&model)
        );
    }
}
