//! Affine maps between logical tensors, `y = M x + b` with a sparse `M`: every linear layer
//! (convolution, batch normalization, pooling, dense, the squeeze-and-excitation broadcast)
//! becomes one, and consecutive ones compose, which folds batch normalization into the
//! neighbouring convolution and pooling into the following dense layer at no level cost.

use crate::model::{BatchNorm, Conv2d, Dense, Shape};

/// `y = M x + b`: `rows[o]` lists the nonzero `(input index, weight)` of output `o`.
#[derive(Clone, Debug, PartialEq)]
pub struct AffineMap {
    /// Number of inputs.
    pub inputs: usize,
    /// Nonzero entries per output.
    pub rows: Vec<Vec<(usize, f64)>>,
    /// Bias per output.
    pub bias: Vec<f64>,
}

impl AffineMap {
    /// The identity on `n` elements.
    pub fn identity(n: usize) -> Self {
        Self::diagonal(&vec![1.0; n], &vec![0.0; n])
    }

    /// `y_i = a_i x_i + g_i`.
    pub fn diagonal(a: &[f64], g: &[f64]) -> Self {
        Self {
            inputs: a.len(),
            rows: a.iter().enumerate().map(|(i, &v)| vec![(i, v)]).collect(),
            bias: g.to_vec(),
        }
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.rows.len()
    }

    /// `Some((a, g))` when the map is element-wise (`y_i = a_i x_i + g_i`).
    pub fn as_diagonal(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        if self.inputs != self.outputs() {
            return None;
        }
        let mut a = vec![0.0; self.inputs];
        for (o, row) in self.rows.iter().enumerate() {
            match row.as_slice() {
                [] => {}
                [(i, w)] if *i == o => a[o] = *w,
                _ => return None,
            }
        }
        Some((a, self.bias.clone()))
    }

    /// `self ∘ inner`: `x -> self(inner(x))`.
    pub fn compose(&self, inner: &AffineMap) -> AffineMap {
        let rows = self
            .rows
            .iter()
            .map(|row| {
                let mut acc: std::collections::BTreeMap<usize, f64> = Default::default();
                for &(j, w) in row {
                    for &(i, v) in &inner.rows[j] {
                        *acc.entry(i).or_default() += w * v;
                    }
                }
                acc.into_iter().filter(|(_, w)| *w != 0.0).collect()
            })
            .collect();
        let bias = self
            .rows
            .iter()
            .zip(&self.bias)
            .map(|(row, b)| b + row.iter().map(|&(j, w)| w * inner.bias[j]).sum::<f64>())
            .collect();
        AffineMap {
            inputs: inner.inputs,
            rows,
            bias,
        }
    }

    /// `M x + b` in plaintext.
    pub fn apply(&self, x: &[f64]) -> Vec<f64> {
        self.rows
            .iter()
            .zip(&self.bias)
            .map(|(row, b)| b + row.iter().map(|&(i, w)| w * x[i]).sum::<f64>())
            .collect()
    }

    /// Convolution of an input of shape `x` (output shape `out`, already validated).
    pub fn conv2d(conv: &Conv2d, x: Shape, out: Shape) -> Self {
        let k = conv.kernel;
        let cin_g = conv.in_channels / conv.groups;
        let cout_g = conv.out_channels / conv.groups;
        let mut rows = Vec::with_capacity(out.len());
        let mut bias = Vec::with_capacity(out.len());
        for o in 0..out.c {
            let first_in = (o / cout_g) * cin_g;
            for i in 0..out.h {
                for j in 0..out.w {
                    let mut row = Vec::with_capacity(cin_g * k * k);
                    for ci in 0..cin_g {
                        for u in 0..k {
                            for v in 0..k {
                                let y = (conv.stride * i + u).checked_sub(conv.padding);
                                let xx = (conv.stride * j + v).checked_sub(conv.padding);
                                if let (Some(y), Some(xx)) = (y, xx) {
                                    if y < x.h && xx < x.w {
                                        let w = conv.weight[((o * cin_g + ci) * k + u) * k + v];
                                        row.push((x.index(first_in + ci, y, xx), w));
                                    }
                                }
                            }
                        }
                    }
                    rows.push(row);
                    bias.push(conv.bias.get(o).copied().unwrap_or(0.0));
                }
            }
        }
        Self {
            inputs: x.len(),
            rows,
            bias,
        }
    }

    /// Per-channel affine map `y = s_c x + t_c` over shape `x`.
    pub fn per_channel(x: Shape, s: &[f64], t: &[f64]) -> Self {
        let hw = x.h * x.w;
        let a: Vec<f64> = (0..x.len()).map(|i| s[i / hw]).collect();
        let g: Vec<f64> = (0..x.len()).map(|i| t[i / hw]).collect();
        Self::diagonal(&a, &g)
    }

    /// Batch normalization over shape `x`.
    pub fn batch_norm(bn: &BatchNorm, x: Shape) -> Self {
        let (s, t) = bn.affine();
        Self::per_channel(x, &s, &t)
    }

    /// Average pooling (window `kernel`, `stride`) from `x` to `out`.
    pub fn avg_pool(kernel: usize, stride: usize, x: Shape, out: Shape) -> Self {
        let w = 1.0 / (kernel * kernel) as f64;
        let mut rows = Vec::with_capacity(out.len());
        for c in 0..out.c {
            for i in 0..out.h {
                for j in 0..out.w {
                    rows.push(
                        (0..kernel * kernel)
                            .map(|t| {
                                (
                                    x.index(c, stride * i + t / kernel, stride * j + t % kernel),
                                    w,
                                )
                            })
                            .collect(),
                    );
                }
            }
        }
        Self {
            inputs: x.len(),
            rows,
            bias: vec![0.0; out.len()],
        }
    }

    /// Global average pooling `C x H x W -> C`.
    pub fn global_avg_pool(x: Shape) -> Self {
        let hw = x.h * x.w;
        let w = 1.0 / hw as f64;
        Self {
            inputs: x.len(),
            rows: (0..x.c)
                .map(|c| (0..hw).map(|t| (c * hw + t, w)).collect())
                .collect(),
            bias: vec![0.0; x.c],
        }
    }

    /// Dense layer.
    pub fn dense(d: &Dense) -> Self {
        Self {
            inputs: d.inputs,
            rows: (0..d.outputs)
                .map(|o| {
                    d.weight[o * d.inputs..(o + 1) * d.inputs]
                        .iter()
                        .copied()
                        .enumerate()
                        .filter(|(_, w)| *w != 0.0)
                        .collect()
                })
                .collect(),
            bias: (0..d.outputs)
                .map(|o| d.bias.get(o).copied().unwrap_or(0.0))
                .collect(),
        }
    }

    /// Copies value `c` of a `C`-vector to every `(c, y, x)` of shape `x` (the
    /// squeeze-and-excitation broadcast).
    pub fn broadcast(x: Shape) -> Self {
        let hw = x.h * x.w;
        Self {
            inputs: x.c,
            rows: (0..x.len()).map(|i| vec![(i / hw, 1.0)]).collect(),
            bias: vec![0.0; x.len()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_map(inputs: usize, outputs: usize) -> impl Strategy<Value = AffineMap> {
        (
            proptest::collection::vec(proptest::collection::vec(-2.0f64..2.0, inputs), outputs),
            proptest::collection::vec(-1.0f64..1.0, outputs),
        )
            .prop_map(move |(m, bias)| AffineMap {
                inputs,
                rows: m
                    .into_iter()
                    .map(|r| r.into_iter().enumerate().collect())
                    .collect(),
                bias,
            })
    }

    proptest! {
        /// Composition is function composition: (f ∘ g)(x) = f(g(x)).
        #[test]
        fn composition_is_function_composition(
            f in arb_map(4, 3), g in arb_map(5, 4), x in proptest::collection::vec(-1.0f64..1.0, 5)
        ) {
            let lhs = f.compose(&g).apply(&x);
            let rhs = f.apply(&g.apply(&x));
            for (a, b) in lhs.iter().zip(&rhs) {
                prop_assert!((a - b).abs() < 1e-12);
            }
        }

        /// The identity is neutral, and composition is associative.
        #[test]
        fn identity_and_associativity(
            f in arb_map(3, 3), g in arb_map(3, 3), h in arb_map(3, 3),
            x in proptest::collection::vec(-1.0f64..1.0, 3)
        ) {
            let id = AffineMap::identity(3);
            prop_assert_eq!(f.compose(&id).apply(&x), f.apply(&x));
            let a = f.compose(&g).compose(&h).apply(&x);
            let b = f.compose(&g.compose(&h)).apply(&x);
            for (u, v) in a.iter().zip(&b) {
                prop_assert!((u - v).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn diagonal_maps_are_recognized() {
        let d = AffineMap::diagonal(&[1.0, 2.0], &[0.5, 0.0]);
        assert_eq!(d.as_diagonal(), Some((vec![1.0, 2.0], vec![0.5, 0.0])));
        assert!(AffineMap::broadcast(Shape::new(2, 1, 2))
            .as_diagonal()
            .is_none());
    }
}
