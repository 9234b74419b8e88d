//! The geometric network 1 -> 16 -> 8 -> 3, plaintext training and encrypted inference.
//!
//! # Model
//!
//! Each layer maps `n_in` multivectors to `n_out` multivectors by geometric products with
//! weight multivectors (as in geometric / Clifford neurons, Buchholz, Sommer, *On Clifford
//! neurons and Clifford multi-layer perceptrons*, Neural Networks 21, 2008):
//!
//! ```text
//! z_o = Σ_i W_{oi} x_i + b_o,          h_o = g(z_o),     g(t) = t (t + β)  (per component)
//! ```
//!
//! with the quadratic activation `g` after the first two layers (depth 1 under CKKS, no
//! polynomial approximation needed) and `β` a fixed hyperparameter. The logits are the scalar
//! parts `<z^{(3)}_o>_0` of the three outputs; the loss is softmax cross-entropy, minimized by
//! Adam (Kingma, Ba 2015) with gradients computed by hand: for `y = W x`,
//! `∂L/∂W_p += s x_q ∂L/∂y_k` and `∂L/∂x_q += s W_p ∂L/∂y_k` for every table entry
//! `e_p e_q = s e_k`.
//!
//! # Encrypted inference protocol
//!
//! 1. The client generates `(sk, pk)` and the evaluation keys (relinearization only: the
//!    planar layout needs no rotation), encrypts its standardized descriptors in the planar
//!    layout at level 5 and sends them with `pk` and the evaluation keys.
//! 2. The model owner encrypts every weight and bias multivector **under the client's `pk`**,
//!    broadcast to all slots, each at the level and scale where it is used
//!    ([`EncryptedModel::encrypt`]).
//! 3. The server evaluates [`EncryptedModel::forward`]: 5 levels (3 products, 2 activations),
//!    only the scalar components of the last layer are computed; it returns 3 ciphertexts.
//! 4. The client decrypts the 3 logit ciphertexts and takes the argmax.
//!
//! **What single-key CKKS protects and what it does not.** The server sees only ciphertexts
//! under `pk` (IND-CPA), so neither the client's data nor the weights leak *to the server*.
//! But the secret key belongs to the client: the client could decrypt the weight ciphertexts
//! if it obtained them (they must not be returned to it), and the logits it decrypts leak
//! information about the model through the outputs (model extraction by queries) and, without
//! noise flooding, through the CKKS decryption error (Li-Micciancio 2021). If the model owner
//! and the server are the same party, encrypting weights under the client's key protects
//! nothing against that party and is pure cost; it matters when a third party evaluates. A
//! **threshold / multiparty** CKKS variant (Mouchet et al., *Multiparty homomorphic
//! encryption from RLWE*, PETS 2021) would share the secret key between client and model
//! owner (collective public key, collective relinearization key), so that no single party can
//! decrypt the weights or the intermediate values, and the final decryption would be a
//! collective key switch to the client's key with flooding noise added by the model owner.
//! That variant is not implemented here.

use crate::algebra::{Multivector, BLADES, CAYLEY};
use crate::data::Dataset;
use crate::encrypted::{
    encode_planar_broadcast, encrypt_planar, PlanarCiphertext, PlanarProductSum,
};
use crate::error::{GeoError, Result};
use crate::pauli::{PauliProductSum, PreparedInput, PreparedWeight};
use ckks_core::ckks::{Context, Encryptor, Evaluator};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;

/// Widths of the network: 1 -> 16 -> 8 -> 3.
pub const WIDTHS: [usize; 4] = [1, 16, 8, 3];
/// Levels consumed by an encrypted forward pass (3 geometric products, 2 activations).
pub const DEPTH: usize = 5;

/// One geometric-product layer.
#[derive(Clone, Debug, PartialEq)]
pub struct GeoLayer {
    /// `weights[o][i]`.
    pub weights: Vec<Vec<Multivector>>,
    /// `bias[o]`.
    pub bias: Vec<Multivector>,
}

impl GeoLayer {
    fn n_in(&self) -> usize {
        self.weights.first().map_or(0, Vec::len)
    }
    fn forward(&self, x: &[Multivector]) -> Vec<Multivector> {
        self.weights
            .iter()
            .zip(&self.bias)
            .map(|(row, b)| {
                let mut z = *b;
                for (w, xi) in row.iter().zip(x) {
                    z += w.gp(xi);
                }
                z
            })
            .collect()
    }
}

/// The geometric network.
#[derive(Clone, Debug, PartialEq)]
pub struct GeoNet {
    /// Layers 1 -> 16, 16 -> 8, 8 -> 3.
    pub layers: Vec<GeoLayer>,
    /// Activation `g(t) = t (t + beta)`.
    pub beta: f64,
}

/// Activation `g(t) = t (t + β)`.
pub fn activation(t: f64, beta: f64) -> f64 {
    t * (t + beta)
}

fn act_mv(m: &Multivector, beta: f64) -> Multivector {
    Multivector(m.0.map(|t| activation(t, beta)))
}

/// Training settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Adam step size.
    pub lr: f64,
    /// Activation parameter `β`.
    pub beta: f64,
    /// Initialization and shuffling seed.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 60,
            batch: 32,
            lr: 0.01,
            beta: 1.0,
            seed: 7,
        }
    }
}

/// Per-sample intermediates for backpropagation.
struct Trace {
    x: Vec<Vec<Multivector>>,
    z: Vec<Vec<Multivector>>,
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

impl GeoNet {
    /// Random initialization (`N(0, 1/(8 n_in))` weights, zero biases).
    pub fn init(beta: f64, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let layers = WIDTHS
            .windows(2)
            .map(|w| {
                let (n_in, n_out) = (w[0], w[1]);
                let sd = (1.0 / (BLADES * n_in) as f64).sqrt();
                GeoLayer {
                    weights: (0..n_out)
                        .map(|_| {
                            (0..n_in)
                                .map(|_| {
                                    Multivector(std::array::from_fn(|_| {
                                        // Irwin-Hall approximation of a Gaussian.
                                        let u: f64 = (0..12).map(|_| rng.gen_range(0.0..1.0)).sum();
                                        (u - 6.0) * sd
                                    }))
                                })
                                .collect()
                        })
                        .collect(),
                    bias: vec![Multivector::ZERO; n_out],
                }
            })
            .collect();
        Self { layers, beta }
    }

    fn check_shapes(&self) -> Result<()> {
        let ok = self.layers.len() == 3
            && self.layers.iter().enumerate().all(|(l, layer)| {
                layer.weights.len() == WIDTHS[l + 1]
                    && layer.bias.len() == WIDTHS[l + 1]
                    && layer.weights.iter().all(|r| r.len() == WIDTHS[l])
            });
        if ok {
            Ok(())
        } else {
            Err(GeoError::Model(format!(
                "layer shapes differ from {WIDTHS:?}"
            )))
        }
    }

    fn trace(&self, x: &Multivector) -> Trace {
        let mut xs = vec![vec![*x]];
        let mut zs = Vec::new();
        for (l, layer) in self.layers.iter().enumerate() {
            let z = layer.forward(&xs[l]);
            if l + 1 < self.layers.len() {
                xs.push(z.iter().map(|m| act_mv(m, self.beta)).collect());
            }
            zs.push(z);
        }
        Trace { x: xs, z: zs }
    }

    /// All output multivectors of the last layer.
    pub fn forward(&self, x: &Multivector) -> Vec<Multivector> {
        self.trace(x).z.pop().unwrap_or_default()
    }

    /// Logits: scalar parts of the outputs.
    pub fn logits(&self, x: &Multivector) -> Vec<f64> {
        self.forward(x).iter().map(|m| m.0[0]).collect()
    }

    /// Predicted class.
    pub fn predict(&self, x: &Multivector) -> usize {
        argmax(&self.logits(x))
    }

    /// Accuracy on a data set.
    pub fn accuracy(&self, data: &Dataset) -> f64 {
        let correct = data
            .x
            .par_iter()
            .zip(&data.y)
            .filter(|(x, &y)| self.predict(x) == y)
            .count();
        correct as f64 / data.len().max(1) as f64
    }

    /// Largest absolute value of any pre-activation over `data` (for choosing CKKS headroom).
    pub fn max_abs_activation(&self, data: &Dataset) -> f64 {
        data.x
            .par_iter()
            .map(|x| {
                self.trace(x)
                    .z
                    .iter()
                    .flatten()
                    .flat_map(|m| m.0)
                    .fold(0.0f64, |a, v| a.max(v.abs()))
            })
            .reduce(|| 0.0, f64::max)
    }

    /// Loss and gradient (same shapes as the model) of one sample.
    fn grad(&self, x: &Multivector, y: usize) -> (f64, Vec<GeoLayer>) {
        let t = self.trace(x);
        let last = t.z.len() - 1;
        let logits: Vec<f64> = t.z[last].iter().map(|m| m.0[0]).collect();
        let p = softmax(&logits);
        let loss = -p[y].max(1e-300).ln();
        let mut gz: Vec<Multivector> = p
            .iter()
            .enumerate()
            .map(|(o, &po)| Multivector::scalar(po - if o == y { 1.0 } else { 0.0 }))
            .collect();
        let mut grads: Vec<GeoLayer> = self
            .layers
            .iter()
            .map(|l| GeoLayer {
                weights: vec![vec![Multivector::ZERO; l.n_in()]; l.weights.len()],
                bias: vec![Multivector::ZERO; l.weights.len()],
            })
            .collect();
        for l in (0..self.layers.len()).rev() {
            let layer = &self.layers[l];
            let xin = &t.x[l];
            let mut gx = vec![Multivector::ZERO; xin.len()];
            for (o, row) in layer.weights.iter().enumerate() {
                grads[l].bias[o] = gz[o];
                for (i, w) in row.iter().enumerate() {
                    let gw = &mut grads[l].weights[o][i];
                    for (pi, trow) in CAYLEY.iter().enumerate() {
                        for (q, e) in trow.iter().enumerate() {
                            let s = f64::from(e.sign) * gz[o].0[e.index];
                            gw.0[pi] += s * xin[i].0[q];
                            gx[i].0[q] += s * w.0[pi];
                        }
                    }
                }
            }
            if l > 0 {
                // Through the activation: g'(t) = 2t + β.
                gz = gx
                    .iter()
                    .zip(&t.z[l - 1])
                    .map(|(g, z)| {
                        Multivector(std::array::from_fn(|c| g.0[c] * (2.0 * z.0[c] + self.beta)))
                    })
                    .collect();
            }
        }
        (loss, grads)
    }

    /// Trains by Adam on mini-batches; returns the mean training loss per epoch.
    pub fn train(data: &Dataset, cfg: &TrainConfig) -> Result<(Self, Vec<f64>)> {
        if data.is_empty() || data.x.len() != data.y.len() || data.y.iter().any(|&y| y >= 3) {
            return Err(GeoError::Model("empty or malformed training set".into()));
        }
        if cfg.batch == 0 || !(cfg.lr.is_finite() && cfg.lr > 0.0) || !cfg.beta.is_finite() {
            return Err(GeoError::Model(
                "batch must be > 0 and lr, beta finite".into(),
            ));
        }
        let mut net = GeoNet::init(cfg.beta, cfg.seed);
        let flat_len = net.flatten().len();
        let (mut m1, mut m2) = (vec![0.0; flat_len], vec![0.0; flat_len]);
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let mut rng = ChaCha20Rng::seed_from_u64(cfg.seed ^ 0x5eed);
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut history = Vec::with_capacity(cfg.epochs);
        let mut step = 0i32;
        for _ in 0..cfg.epochs {
            // Fisher-Yates shuffle.
            for i in (1..order.len()).rev() {
                let j = rng.gen_range(0..=i);
                order.swap(i, j);
            }
            let mut epoch_loss = 0.0;
            for chunk in order.chunks(cfg.batch) {
                let (loss, g) = chunk
                    .par_iter()
                    .map(|&s| {
                        let (l, g) = net.grad(&data.x[s], data.y[s]);
                        (l, flatten_layers(&g))
                    })
                    .reduce(
                        || (0.0, vec![0.0; flat_len]),
                        |(la, mut ga), (lb, gb)| {
                            ga.iter_mut().zip(&gb).for_each(|(a, b)| *a += b);
                            (la + lb, ga)
                        },
                    );
                epoch_loss += loss;
                step += 1;
                let mut theta = net.flatten();
                let n = chunk.len() as f64;
                let (c1, c2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
                for k in 0..flat_len {
                    let gk = (g[k] / n).clamp(-10.0, 10.0);
                    m1[k] = b1 * m1[k] + (1.0 - b1) * gk;
                    m2[k] = b2 * m2[k] + (1.0 - b2) * gk * gk;
                    theta[k] -= cfg.lr * (m1[k] / c1) / ((m2[k] / c2).sqrt() + eps);
                }
                net.unflatten(&theta);
            }
            history.push(epoch_loss / data.len() as f64);
        }
        if history.last().is_some_and(|l| !l.is_finite()) {
            return Err(GeoError::Model(
                "training diverged (non-finite loss)".into(),
            ));
        }
        Ok((net, history))
    }

    fn flatten(&self) -> Vec<f64> {
        flatten_layers(&self.layers)
    }

    fn unflatten(&mut self, theta: &[f64]) {
        let mut it = theta.iter();
        for layer in &mut self.layers {
            for m in layer
                .weights
                .iter_mut()
                .flatten()
                .chain(layer.bias.iter_mut())
            {
                for c in m.0.iter_mut() {
                    *c = *it.next().unwrap_or(c);
                }
            }
        }
    }
}

fn flatten_layers(layers: &[GeoLayer]) -> Vec<f64> {
    layers
        .iter()
        .flat_map(|l| l.weights.iter().flatten().chain(l.bias.iter()))
        .flat_map(|m| m.0)
        .collect()
}

/// Index of the largest value (first one on ties).
pub fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// How the encrypted layers compute `Σ_i W_oi x_i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProductMethod {
    /// 64 tensor products per weight ([`PlanarProductSum`]).
    Direct,
    /// 24 tensor products per weight through Cl(3,0) ≅ M₂(C) and Gauss's trick
    /// ([`crate::pauli`]); the last layer, which only needs scalar parts (8 tensor products
    /// per weight), stays direct. The default.
    Pauli,
}

#[derive(Clone, Debug)]
enum EncryptedWeights {
    Direct(Vec<Vec<PlanarCiphertext>>),
    Pauli(Vec<Vec<PreparedWeight>>),
}

/// The network's weights and biases encrypted under the client's public key, each at the
/// level and scale at which the evaluation uses it.
#[derive(Clone, Debug)]
pub struct EncryptedModel {
    layers: Vec<(EncryptedWeights, Vec<PlanarCiphertext>)>,
    method: ProductMethod,
    beta: f64,
    input_level: usize,
    input_scale: f64,
    slots: usize,
}

/// Level, weight scale and output scale of each layer for inputs at `level` with `scale`.
/// Weights are encoded at scale `q_ℓ` so that the product's rescale restores the input scale;
/// the activation `t(t + β)` maps the scale `s` to `s^2 / q_ℓ`.
fn schedule(ctx: &Context, level: usize, scale: f64) -> Vec<(usize, f64, f64)> {
    let q = ctx.params().q();
    let mut out = Vec::new();
    let (mut l, mut s) = (level, scale);
    for layer in 0..3 {
        let w = q[l] as f64;
        let s_out = s * w / q[l] as f64;
        out.push((l, w, s_out));
        l -= 1;
        s = s_out;
        if layer < 2 {
            s = s * s / q[l] as f64;
            l -= 1;
        }
    }
    out
}

impl EncryptedModel {
    /// Encrypts the model for inputs encrypted at `input_level` (>= [`DEPTH`]) with
    /// `input_scale` and `slots` slots, under the public key held by `enc`.
    pub fn encrypt(
        net: &GeoNet,
        ctx: &Context,
        enc: &mut Encryptor,
        slots: usize,
        input_level: usize,
        input_scale: f64,
        method: ProductMethod,
    ) -> Result<Self> {
        net.check_shapes()?;
        if input_level < DEPTH || input_level > ctx.max_level() {
            return Err(GeoError::Model(format!(
                "inputs at level {input_level}: the network needs {DEPTH} levels (max {})",
                ctx.max_level()
            )));
        }
        let sched = schedule(ctx, input_level, input_scale);
        let mut layers = Vec::new();
        let n_layers = net.layers.len();
        for (li, (layer, &(l, w_scale, out_scale))) in net.layers.iter().zip(&sched).enumerate() {
            let enc_w = if method == ProductMethod::Pauli && li + 1 < n_layers {
                let mut rows = Vec::new();
                for row in &layer.weights {
                    rows.push(
                        row.iter()
                            .map(|w| PreparedWeight::encrypt(ctx, enc, w, slots, l, w_scale))
                            .collect::<Result<Vec<_>>>()?,
                    );
                }
                EncryptedWeights::Pauli(rows)
            } else {
                let mut rows = Vec::new();
                for row in &layer.weights {
                    let mut r = Vec::new();
                    for w in row {
                        let pt = encode_planar_broadcast(ctx, w, slots, l, w_scale)?;
                        r.push(encrypt_planar(enc, &pt)?);
                    }
                    rows.push(r);
                }
                EncryptedWeights::Direct(rows)
            };
            let enc_b = layer
                .bias
                .iter()
                .map(|b| {
                    let pt = encode_planar_broadcast(ctx, b, slots, l - 1, out_scale)?;
                    encrypt_planar(enc, &pt)
                })
                .collect::<Result<Vec<_>>>()?;
            layers.push((enc_w, enc_b));
        }
        Ok(Self {
            layers,
            method,
            beta: net.beta,
            input_level,
            input_scale,
            slots,
        })
    }

    /// The product method the weights were prepared for.
    pub fn method(&self) -> ProductMethod {
        self.method
    }

    /// Level at which inputs must be encrypted.
    pub fn input_level(&self) -> usize {
        self.input_level
    }

    /// Scale at which inputs must be encrypted.
    pub fn input_scale(&self) -> f64 {
        self.input_scale
    }

    /// Evaluates the network on an encrypted planar batch; returns the 3 logit ciphertexts
    /// (scalar parts of the outputs; one logit per slot).
    pub fn forward(
        &self,
        eval: &Evaluator,
        x: &PlanarCiphertext,
    ) -> Result<Vec<ckks_core::ckks::Ciphertext>> {
        if x.level() != self.input_level
            || x.slots() != self.slots
            || ((x.scale() / self.input_scale) - 1.0).abs() > 1e-9
        {
            return Err(GeoError::Layout(format!(
                "input must be at level {} with {} slots and scale 2^{:.3}",
                self.input_level,
                self.slots,
                self.input_scale.log2()
            )));
        }
        let mut h = vec![x.clone()];
        let n_layers = self.layers.len();
        for (l, (w, b)) in self.layers.iter().enumerate() {
            let last = l + 1 == n_layers;
            let outputs: Vec<usize> = if last { vec![0] } else { (0..BLADES).collect() };
            let prepared = match w {
                EncryptedWeights::Pauli(_) => Some(
                    h.par_iter()
                        .map(|hi| PreparedInput::new(eval, hi))
                        .collect::<Result<Vec<_>>>()?,
                ),
                EncryptedWeights::Direct(_) => None,
            };
            let z = b
                .par_iter()
                .enumerate()
                .map(|(o, bias)| -> Result<PlanarCiphertext> {
                    let z = match (w, &prepared) {
                        (EncryptedWeights::Pauli(rows), Some(px)) => {
                            let mut sum = PauliProductSum::new();
                            for (wi, xi) in rows[o].iter().zip(px) {
                                sum.add_product(eval, wi, xi)?;
                            }
                            sum.finish(eval)?
                        }
                        (EncryptedWeights::Direct(rows), _) => {
                            let mut sum = PlanarProductSum::for_components(&outputs);
                            for (wi, hi) in rows[o].iter().zip(&h) {
                                sum.add_product(eval, wi, hi)?;
                            }
                            sum.finish(eval)?
                        }
                        _ => return Err(GeoError::Model("inconsistent weight form".into())),
                    };
                    let comps = z
                        .components()
                        .iter()
                        .zip(bias.components())
                        .map(|(c, bc)| Ok(eval.add(c, bc)?))
                        .collect::<Result<Vec<_>>>()?;
                    PlanarCiphertext::from_components(comps)
                })
                .collect::<Result<Vec<_>>>()?;
            if last {
                return Ok(z
                    .into_iter()
                    .map(|p| p.into_components().swap_remove(0))
                    .collect());
            }
            h = z
                .par_iter()
                .map(|p| -> Result<PlanarCiphertext> {
                    let comps = p
                        .components()
                        .par_iter()
                        .map(|c| -> Result<_> {
                            let shifted =
                                eval.add_const(c, ckks_core::Complex64::new(self.beta, 0.0))?;
                            let sq = eval.mul(c, &shifted)?;
                            Ok(eval.rescale(&eval.relinearize(&sq)?)?)
                        })
                        .collect::<Result<Vec<_>>>()?;
                    PlanarCiphertext::from_components(comps)
                })
                .collect::<Result<Vec<_>>>()?;
        }
        Err(GeoError::Model("the network has no layer".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written gradient against central finite differences.
    #[test]
    fn gradient_matches_finite_differences() {
        let net = GeoNet::init(0.7, 3);
        let x = Multivector([0.3, -0.5, 0.8, 0.1, -0.2, 0.4, -0.9, 0.6]);
        let y = 2;
        let (_, g) = net.grad(&x, y);
        let analytic = flatten_layers(&g);
        let theta = net.flatten();
        let h = 1e-5;
        let loss_at = |t: &[f64]| {
            let mut n = net.clone();
            n.unflatten(t);
            n.grad(&x, y).0
        };
        // Every 7th parameter (all layers, weights and biases).
        for k in (0..theta.len()).step_by(7) {
            let (mut p, mut m) = (theta.clone(), theta.clone());
            p[k] += h;
            m[k] -= h;
            let numeric = (loss_at(&p) - loss_at(&m)) / (2.0 * h);
            assert!(
                (numeric - analytic[k]).abs() < 1e-6 * (1.0 + numeric.abs()),
                "parameter {k}: numeric {numeric} analytic {}",
                analytic[k]
            );
        }
    }

    #[test]
    fn schedule_keeps_scale_through_products() {
        let params = ckks_core::ckks::insecure_test_params(10, DEPTH).unwrap();
        let ctx = Context::new(&params).unwrap();
        let s = schedule(&ctx, DEPTH, params.default_scale());
        assert_eq!(s.iter().map(|x| x.0).collect::<Vec<_>>(), vec![5, 3, 1]);
        assert!((s[0].2 / params.default_scale() - 1.0).abs() < 1e-12);
    }
}
