//! The framework-free model description (serde) and its shape validation.
//!
//! A [`Model`] is an input [`Shape`] and a sequence of [`Layer`]s; residual blocks nest
//! sequences. Weights are plain `f64` vectors in PyTorch's memory order (Conv2d weight
//! `[out][in / groups][k][k]`, Dense weight `[out][in]`, flatten in `c, y, x` order), so a
//! model trained elsewhere maps onto it one tensor per field (see [`crate::import`]).

use crate::error::{HeNnError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A `C x H x W` tensor shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl Shape {
    /// `C x H x W`.
    pub fn new(c: usize, h: usize, w: usize) -> Self {
        Self { c, h, w }
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.c * self.h * self.w
    }
    /// Whether the shape holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Index of `(c, y, x)` in `c, y, x` (row-major) order.
    pub fn index(&self, c: usize, y: usize, x: usize) -> usize {
        (c * self.h + y) * self.w + x
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.c, self.h, self.w)
    }
}

/// 2-D convolution (cross-correlation, as PyTorch's `Conv2d`):
/// `y[o, i, j] = bias[o] + Σ_{c ∈ group(o), u, v} w[o, c, u, v] · x[c, s i + u - p, s j + v - p]`
/// with zero padding `p` and stride `s`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2d {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Square kernel size `k`.
    pub kernel: usize,
    /// Stride (1 or 2).
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
    /// Groups (`in_channels` and `out_channels` divisible by it).
    pub groups: usize,
    /// `[out][in / groups][k][k]`.
    pub weight: Vec<f64>,
    /// `[out]`, or empty for no bias.
    pub bias: Vec<f64>,
}

/// Batch normalization in inference form: `y = γ (x - μ) / sqrt(σ² + ε) + β` per channel.
/// The planner folds it into the neighbouring linear layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNorm {
    /// `γ`, per channel.
    pub gamma: Vec<f64>,
    /// `β`, per channel.
    pub beta: Vec<f64>,
    /// Running mean `μ`.
    pub mean: Vec<f64>,
    /// Running variance `σ²`.
    pub var: Vec<f64>,
    /// `ε`.
    pub eps: f64,
}

impl BatchNorm {
    /// The per-channel affine map `(scale, shift)` with `y = scale · x + shift`.
    pub fn affine(&self) -> (Vec<f64>, Vec<f64>) {
        self.gamma
            .iter()
            .zip(&self.var)
            .zip(self.mean.iter().zip(&self.beta))
            .map(|((g, v), (m, b))| {
                let s = g / (v + self.eps).sqrt();
                (s, b - s * m)
            })
            .unzip()
    }
}

/// Learnable quadratic activation `a x² + b x + c` (Kim et al. 2025, Latent-HE §3), with one
/// coefficient triple per layer (vectors of length 1) or per channel (length `C`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quadratic {
    /// `a`, length 1 or `C`.
    pub a: Vec<f64>,
    /// `b`, length 1 or `C`.
    pub b: Vec<f64>,
    /// `c`, length 1 or `C`.
    pub c: Vec<f64>,
}

impl Quadratic {
    /// One coefficient triple for the whole layer.
    pub fn per_layer(a: f64, b: f64, c: f64) -> Self {
        Self {
            a: vec![a],
            b: vec![b],
            c: vec![c],
        }
    }
    /// `(a, b, c)` of channel `ch`.
    pub fn coeffs(&self, ch: usize) -> (f64, f64, f64) {
        let pick = |v: &[f64]| if v.len() == 1 { v[0] } else { v[ch] };
        (pick(&self.a), pick(&self.b), pick(&self.c))
    }
}

/// The cubic approximation of the logistic sigmoid, `c0 + c1 x + c2 x² + c3 x³`.
///
/// The default is the least-squares fit on `[-8, 8]`,
/// `σ(x) ≈ 0.5 + 0.15012 x - 0.0015930 x³` (Kim, Song, Kim, Lee, Cheon, *Logistic regression
/// model training based on the approximate homomorphic encryption*, BMC Med. Genomics 2018,
/// §Methods), the "cubic approximate sigmoid" of Latent-HE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApproxSigmoid {
    /// `[c0, c1, c2, c3]`.
    pub coeffs: [f64; 4],
}

impl Default for ApproxSigmoid {
    fn default() -> Self {
        Self {
            coeffs: [0.5, 0.15012, 0.0, -0.0015930],
        }
    }
}

impl ApproxSigmoid {
    /// `p(x)`.
    pub fn eval(&self, x: f64) -> f64 {
        let [c0, c1, c2, c3] = self.coeffs;
        c0 + x * (c1 + x * (c2 + x * c3))
    }
}

/// Fully connected layer `y = W x + b` on the flattened input (`c, y, x` order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// Inputs.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
    /// `[out][in]`.
    pub weight: Vec<f64>,
    /// `[out]`, or empty for no bias.
    pub bias: Vec<f64>,
}

/// Squeeze-and-excitation (Hu, Shen, Sun, *Squeeze-and-excitation networks*, CVPR 2018, §3):
/// `y = x ⊙ σ̃(W2 act(W1 gap(x) + b1) + b2)` broadcast over each channel's `H x W`, with the
/// polynomial activation `act` and the cubic sigmoid `σ̃`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SqueezeExcitation {
    /// `C -> C/r`.
    pub reduce: Dense,
    /// Activation between the two dense layers.
    pub activation: Quadratic,
    /// `C/r -> C`.
    pub expand: Dense,
    /// Gate.
    pub sigmoid: ApproxSigmoid,
}

/// One layer of a [`Model`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Layer {
    /// 2-D convolution.
    Conv2d(Conv2d),
    /// Batch normalization (inference form).
    BatchNorm(BatchNorm),
    /// `a x² + b x + c`.
    Quadratic(Quadratic),
    /// `x²`.
    Square,
    /// Cubic approximate sigmoid.
    ApproxSigmoid(ApproxSigmoid),
    /// Squeeze-and-excitation.
    SqueezeExcitation(SqueezeExcitation),
    /// Average pooling with a square window `kernel` and `stride` (no padding).
    AvgPool {
        /// Window size.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
    /// Mean over each channel's `H x W`: `C x H x W -> C x 1 x 1`.
    GlobalAvgPool,
    /// Fully connected layer.
    Dense(Dense),
    /// `body(x) + shortcut(x)`; an empty shortcut is the identity.
    Residual {
        /// Main branch.
        body: Vec<Layer>,
        /// Shortcut branch (empty: identity).
        shortcut: Vec<Layer>,
    },
    /// `C x H x W -> (C H W) x 1 x 1` in `c, y, x` order.
    Flatten,
}

/// A network: its input shape and layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// A name for reports.
    pub name: String,
    /// Input shape.
    pub input: Shape,
    /// Layers, applied in order.
    pub layers: Vec<Layer>,
    /// Names the encoder whose outputs the model takes as input, when its input is not
    /// raw pixels: for a classifier of VQGAN latents, the codec's
    /// `latent_codec::Codec::id` (`vqgan-f8-c32ebc085`). A consumer compares it with the
    /// encoder it is about to use, since latents of another codec have the same shape but
    /// a different meaning. `None` (absent in the file): not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<String>,
}

fn shape_err(layer: &str, detail: impl Into<String>) -> HeNnError {
    HeNnError::Shape {
        layer: layer.to_string(),
        detail: detail.into(),
    }
}

fn check_len(layer: &str, what: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(shape_err(
            layer,
            format!("{what} has {got} values, expected {want}"),
        ));
    }
    Ok(())
}

fn check_finite(layer: &str, v: &[f64]) -> Result<()> {
    if v.iter().any(|x| !x.is_finite()) {
        return Err(shape_err(layer, "non-finite weight"));
    }
    Ok(())
}

/// Output size of a window of `k` with stride `s` and padding `p` over `n`.
fn window_out(layer: &str, n: usize, k: usize, s: usize, p: usize) -> Result<usize> {
    if k == 0 || s == 0 || n + 2 * p < k {
        return Err(shape_err(
            layer,
            format!("window {k}, stride {s}, padding {p} does not fit size {n}"),
        ));
    }
    Ok((n + 2 * p - k) / s + 1)
}

impl Conv2d {
    fn output(&self, layer: &str, x: Shape) -> Result<Shape> {
        let g = self.groups;
        if x.c != self.in_channels {
            return Err(shape_err(
                layer,
                format!("takes {} channels, input has {}", self.in_channels, x.c),
            ));
        }
        if g == 0 || !self.in_channels.is_multiple_of(g) || !self.out_channels.is_multiple_of(g) {
            return Err(shape_err(
                layer,
                format!("groups {g} do not divide the channels"),
            ));
        }
        if !(1..=2).contains(&self.stride) {
            return Err(shape_err(layer, format!("stride {} (1 or 2)", self.stride)));
        }
        let k = self.kernel;
        check_len(
            layer,
            "weight",
            self.weight.len(),
            self.out_channels * (self.in_channels / g) * k * k,
        )?;
        if !self.bias.is_empty() {
            check_len(layer, "bias", self.bias.len(), self.out_channels)?;
        }
        check_finite(layer, &self.weight)?;
        check_finite(layer, &self.bias)?;
        Ok(Shape::new(
            self.out_channels,
            window_out(layer, x.h, k, self.stride, self.padding)?,
            window_out(layer, x.w, k, self.stride, self.padding)?,
        ))
    }
}

impl Dense {
    fn check(&self, layer: &str, inputs: usize) -> Result<()> {
        if inputs != self.inputs {
            return Err(shape_err(
                layer,
                format!("takes {} inputs, gets {inputs}", self.inputs),
            ));
        }
        check_len(
            layer,
            "weight",
            self.weight.len(),
            self.inputs * self.outputs,
        )?;
        if !self.bias.is_empty() {
            check_len(layer, "bias", self.bias.len(), self.outputs)?;
        }
        check_finite(layer, &self.weight)?;
        check_finite(layer, &self.bias)
    }
}

impl Quadratic {
    fn check(&self, layer: &str, channels: usize) -> Result<()> {
        for (name, v) in [("a", &self.a), ("b", &self.b), ("c", &self.c)] {
            if v.len() != 1 && v.len() != channels {
                return Err(shape_err(
                    layer,
                    format!("{name} has {} values, expected 1 or {channels}", v.len()),
                ));
            }
            check_finite(layer, v)?;
        }
        Ok(())
    }
}

impl Layer {
    /// The output shape for input `x`, after checking every weight against it.
    pub fn output_shape(&self, layer: &str, x: Shape) -> Result<Shape> {
        match self {
            Layer::Conv2d(conv) => conv.output(layer, x),
            Layer::BatchNorm(bn) => {
                for (name, v) in [
                    ("gamma", &bn.gamma),
                    ("beta", &bn.beta),
                    ("mean", &bn.mean),
                    ("var", &bn.var),
                ] {
                    check_len(layer, name, v.len(), x.c)?;
                    check_finite(layer, v)?;
                }
                if bn.eps.is_nan() || bn.eps < 0.0 || bn.var.iter().any(|v| v + bn.eps <= 0.0) {
                    return Err(shape_err(layer, "variance + eps must be positive"));
                }
                Ok(x)
            }
            Layer::Quadratic(q) => q.check(layer, x.c).map(|_| x),
            Layer::Square => Ok(x),
            Layer::ApproxSigmoid(s) => check_finite(layer, &s.coeffs).map(|_| x),
            Layer::SqueezeExcitation(se) => {
                se.reduce.check(&format!("{layer}.reduce"), x.c)?;
                se.activation
                    .check(&format!("{layer}.activation"), se.reduce.outputs)?;
                se.expand
                    .check(&format!("{layer}.expand"), se.reduce.outputs)?;
                if se.expand.outputs != x.c {
                    return Err(shape_err(
                        layer,
                        format!(
                            "expand gives {} channels, input has {}",
                            se.expand.outputs, x.c
                        ),
                    ));
                }
                check_finite(layer, &se.sigmoid.coeffs)?;
                Ok(x)
            }
            Layer::AvgPool { kernel, stride } => Ok(Shape::new(
                x.c,
                window_out(layer, x.h, *kernel, *stride, 0)?,
                window_out(layer, x.w, *kernel, *stride, 0)?,
            )),
            Layer::GlobalAvgPool => Ok(Shape::new(x.c, 1, 1)),
            Layer::Dense(d) => d.check(layer, x.len()).map(|_| Shape::new(d.outputs, 1, 1)),
            Layer::Residual { body, shortcut } => {
                let b = sequence_shape(&format!("{layer}.body"), body, x)?;
                let s = sequence_shape(&format!("{layer}.shortcut"), shortcut, x)?;
                if b != s {
                    return Err(shape_err(
                        layer,
                        format!("body gives {b}, shortcut gives {s}"),
                    ));
                }
                Ok(b)
            }
            Layer::Flatten => Ok(Shape::new(x.len(), 1, 1)),
        }
    }

    /// A short name of the layer kind (traces and reports).
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Conv2d(_) => "conv2d",
            Layer::BatchNorm(_) => "batchnorm",
            Layer::Quadratic(_) => "quadratic",
            Layer::Square => "square",
            Layer::ApproxSigmoid(_) => "approx-sigmoid",
            Layer::SqueezeExcitation(_) => "squeeze-excitation",
            Layer::AvgPool { .. } => "avgpool",
            Layer::GlobalAvgPool => "global-avgpool",
            Layer::Dense(_) => "dense",
            Layer::Residual { .. } => "residual",
            Layer::Flatten => "flatten",
        }
    }
}

/// Output shape of a sequence of layers named `prefix[i]`.
pub(crate) fn sequence_shape(prefix: &str, layers: &[Layer], x: Shape) -> Result<Shape> {
    layers
        .iter()
        .enumerate()
        .try_fold(x, |s, (i, l)| l.output_shape(&format!("{prefix}[{i}]"), s))
}

impl Model {
    /// Checks every layer against the shape it receives; returns the output shape.
    pub fn validate(&self) -> Result<Shape> {
        if self.input.is_empty() {
            return Err(shape_err("input", "empty input shape"));
        }
        sequence_shape("layers", &self.layers, self.input)
    }

    /// Reads a model from JSON (validated).
    pub fn from_json(text: &str) -> Result<Self> {
        let m: Model = serde_json::from_str(text).map_err(|e| HeNnError::Weights(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Writes the model as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| HeNnError::Weights(e.to_string()))
    }
}
