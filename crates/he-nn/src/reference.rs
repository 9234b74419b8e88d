//! The plaintext reference forward pass in `f64`, written directly from each layer's
//! definition (independently of the sparse matrices the encrypted executor uses), so that
//! comparing the two tests the executor.

use crate::error::{HeNnError, Result};
use crate::model::{Conv2d, Dense, Layer, Model, Quadratic, Shape};
use serde::{Deserialize, Serialize};

/// A `C x H x W` tensor in `c, y, x` order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    /// Its shape.
    pub shape: Shape,
    /// `shape.len()` values.
    pub data: Vec<f64>,
}

impl Tensor {
    /// A tensor from its values (length checked).
    pub fn new(shape: Shape, data: Vec<f64>) -> Result<Self> {
        if data.len() != shape.len() {
            return Err(HeNnError::InputShape {
                expected: shape.to_string(),
                got: format!("{} values", data.len()),
            });
        }
        Ok(Self { shape, data })
    }

    fn at(&self, c: usize, y: usize, x: usize) -> f64 {
        self.data[self.shape.index(c, y, x)]
    }

    /// Index of the largest value (the predicted class of a logit vector).
    pub fn argmax(&self) -> usize {
        argmax(&self.data)
    }
}

/// Index of the largest value (first one on ties; 0 for an empty slice).
pub fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &x)| {
            if x > bv {
                (i, x)
            } else {
                (bi, bv)
            }
        })
        .0
}

fn conv2d(conv: &Conv2d, x: &Tensor, out: Shape) -> Tensor {
    let (k, s, p) = (conv.kernel, conv.stride, conv.padding as isize);
    let cin_g = conv.in_channels / conv.groups;
    let cout_g = conv.out_channels / conv.groups;
    let mut data = Vec::with_capacity(out.len());
    for o in 0..out.c {
        let g = o / cout_g;
        for i in 0..out.h {
            for j in 0..out.w {
                let mut acc = conv.bias.get(o).copied().unwrap_or(0.0);
                for ci in 0..cin_g {
                    let c = g * cin_g + ci;
                    for u in 0..k {
                        for v in 0..k {
                            let (y, xx) = ((s * i + u) as isize - p, (s * j + v) as isize - p);
                            if y < 0
                                || xx < 0
                                || y >= x.shape.h as isize
                                || xx >= x.shape.w as isize
                            {
                                continue;
                            }
                            let w = conv.weight[((o * cin_g + ci) * k + u) * k + v];
                            acc += w * x.at(c, y as usize, xx as usize);
                        }
                    }
                }
                data.push(acc);
            }
        }
    }
    Tensor { shape: out, data }
}

fn dense(d: &Dense, x: &[f64]) -> Vec<f64> {
    (0..d.outputs)
        .map(|o| {
            d.bias.get(o).copied().unwrap_or(0.0)
                + x.iter()
                    .zip(&d.weight[o * d.inputs..(o + 1) * d.inputs])
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
        })
        .collect()
}

fn quadratic(q: &Quadratic, x: &Tensor) -> Tensor {
    let hw = x.shape.h * x.shape.w;
    let data = x
        .data
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (a, b, c) = q.coeffs(i / hw);
            a * v * v + b * v + c
        })
        .collect();
    Tensor {
        shape: x.shape,
        data,
    }
}

fn map(x: &Tensor, f: impl Fn(f64) -> f64) -> Tensor {
    Tensor {
        shape: x.shape,
        data: x.data.iter().map(|&v| f(v)).collect(),
    }
}

fn channel_means(x: &Tensor) -> Vec<f64> {
    let hw = x.shape.h * x.shape.w;
    x.data
        .chunks(hw)
        .map(|c| c.iter().sum::<f64>() / hw as f64)
        .collect()
}

/// `f(channel, value)` applied to every element of a `C x H x W` tensor.
fn per_channel(x: &Tensor, shape: Shape, f: impl Fn(usize, f64) -> f64) -> Tensor {
    let hw = x.shape.h * x.shape.w;
    Tensor {
        shape,
        data: x
            .data
            .iter()
            .enumerate()
            .map(|(i, &v)| f(i / hw, v))
            .collect(),
    }
}

pub(crate) fn forward_layer(layer: &Layer, name: &str, x: Tensor) -> Result<Tensor> {
    let out = layer.output_shape(name, x.shape)?;
    Ok(match layer {
        Layer::Conv2d(conv) => conv2d(conv, &x, out),
        Layer::BatchNorm(bn) => {
            let (s, t) = bn.affine();
            per_channel(&x, out, |c, v| s[c] * v + t[c])
        }
        Layer::Quadratic(q) => quadratic(q, &x),
        Layer::Square => map(&x, |v| v * v),
        Layer::ApproxSigmoid(s) => map(&x, |v| s.eval(v)),
        Layer::SqueezeExcitation(se) => {
            let z = dense(&se.reduce, &channel_means(&x));
            let z = quadratic(
                &se.activation,
                &Tensor {
                    shape: Shape::new(z.len(), 1, 1),
                    data: z,
                },
            );
            let gate: Vec<f64> = dense(&se.expand, &z.data)
                .into_iter()
                .map(|v| se.sigmoid.eval(v))
                .collect();
            per_channel(&x, out, |c, v| v * gate[c])
        }
        Layer::AvgPool { kernel, stride } => {
            let mut data = Vec::with_capacity(out.len());
            for c in 0..out.c {
                for i in 0..out.h {
                    for j in 0..out.w {
                        let mut acc = 0.0;
                        for u in 0..*kernel {
                            for v in 0..*kernel {
                                acc += x.at(c, stride * i + u, stride * j + v);
                            }
                        }
                        data.push(acc / (kernel * kernel) as f64);
                    }
                }
            }
            Tensor { shape: out, data }
        }
        Layer::GlobalAvgPool => Tensor {
            shape: out,
            data: channel_means(&x),
        },
        Layer::Dense(d) => Tensor {
            shape: out,
            data: dense(d, &x.data),
        },
        Layer::Residual { body, shortcut } => {
            let b = forward_sequence(&format!("{name}.body"), body, x.clone())?;
            let s = forward_sequence(&format!("{name}.shortcut"), shortcut, x)?;
            Tensor {
                shape: out,
                data: b.data.iter().zip(&s.data).map(|(a, b)| a + b).collect(),
            }
        }
        Layer::Flatten => Tensor {
            shape: out,
            data: x.data,
        },
    })
}

fn forward_sequence(prefix: &str, layers: &[Layer], x: Tensor) -> Result<Tensor> {
    layers.iter().enumerate().try_fold(x, |t, (i, l)| {
        forward_layer(l, &format!("{prefix}[{i}]"), t)
    })
}

impl Model {
    /// The plaintext forward pass in `f64` (the reference the encrypted executor must match).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.shape != self.input || x.data.len() != x.shape.len() {
            return Err(HeNnError::InputShape {
                expected: self.input.to_string(),
                got: x.shape.to_string(),
            });
        }
        forward_sequence("layers", &self.layers, x.clone())
    }
}
