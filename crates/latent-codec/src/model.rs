//! VQGAN generator: encoder, vector quantizer and decoder (Esser et al. 2021), and the
//! PatchGAN discriminator (Isola et al. 2017) used for the adversarial loss.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, relu, sigmoid, softmax};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

use crate::config::CodecConfig;

/// Swish / SiLU, `x * sigmoid(x)`, the non-linearity of the taming-transformers blocks.
fn swish(x: Tensor<4>) -> Tensor<4> {
    x.clone() * sigmoid(x)
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, pad: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .init(device)
}

fn norm(groups: usize, c: usize, device: &Device) -> GroupNorm {
    GroupNormConfig::new(groups.min(c), c).init(device)
}

/// Residual block: `x + conv(swish(norm(conv(swish(norm(x))))))`, with a 1x1 shortcut
/// when the width changes.
#[derive(Module, Debug)]
pub struct ResBlock {
    pub(crate) norm1: GroupNorm,
    pub(crate) conv1: Conv2d,
    pub(crate) norm2: GroupNorm,
    pub(crate) conv2: Conv2d,
    pub(crate) shortcut: Option<Conv2d>,
}

impl ResBlock {
    fn new(cin: usize, cout: usize, groups: usize, device: &Device) -> Self {
        Self {
            norm1: norm(groups, cin, device),
            conv1: conv(cin, cout, 3, 1, 1, device),
            norm2: norm(groups, cout, device),
            conv2: conv(cout, cout, 3, 1, 1, device),
            shortcut: (cin != cout).then(|| conv(cin, cout, 1, 1, 0, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.conv1.forward(swish(self.norm1.forward(x.clone())));
        let h = self.conv2.forward(swish(self.norm2.forward(h)));
        match &self.shortcut {
            Some(s) => s.forward(x) + h,
            None => x + h,
        }
    }
}

/// Single-head spatial self-attention block (the `AttnBlock` of taming-transformers):
/// every position attends to every other, output added to the input.
#[derive(Module, Debug)]
pub struct AttnBlock {
    norm: GroupNorm,
    q: Conv2d,
    k: Conv2d,
    v: Conv2d,
    proj: Conv2d,
}

impl AttnBlock {
    fn new(c: usize, groups: usize, device: &Device) -> Self {
        Self {
            norm: norm(groups, c, device),
            q: conv(c, c, 1, 1, 0, device),
            k: conv(c, c, 1, 1, 0, device),
            v: conv(c, c, 1, 1, 0, device),
            proj: conv(c, c, 1, 1, 0, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let n = h * w;
        let hn = self.norm.forward(x.clone());
        let q = self
            .q
            .forward(hn.clone())
            .reshape([b, c, n])
            .swap_dims(1, 2); // b n c
        let k = self.k.forward(hn.clone()).reshape([b, c, n]); // b c n
        let v = self.v.forward(hn).reshape([b, c, n]); // b c n
        let att = softmax(q.matmul(k).mul_scalar(1.0 / (c as f64).sqrt()), 2); // b n(query) n(key)
        let out = v.matmul(att.swap_dims(1, 2)).reshape([b, c, h, w]); // b c n(query)
        x + self.proj.forward(out)
    }
}

/// Encoder `E`: image `[b, 1, H, W]` to continuous latent `[b, d, H/f, W/f]`.
///
/// With `encoder_stem_levels = s > 0` the first `s` levels are replaced by one
/// `2^s x 2^s` convolution with stride `2^s` (a patchify stem), which removes the costly
/// full-resolution convolutions and normalisations from the client's encode.
#[derive(Module, Debug)]
pub struct Encoder {
    pub(crate) conv_in: Conv2d,
    pub(crate) blocks: Vec<ResBlock>,
    pub(crate) downs: Vec<Conv2d>,
    pub(crate) mid1: ResBlock,
    pub(crate) attn: Option<AttnBlock>,
    pub(crate) mid2: ResBlock,
    pub(crate) norm_out: GroupNorm,
    pub(crate) conv_out: Conv2d,
    pub(crate) blocks_per_level: usize,
}

impl Encoder {
    /// Build the encoder of `cfg` (the configuration must be valid).
    pub fn new(cfg: &CodecConfig, device: &Device) -> Self {
        let g = cfg.norm_groups;
        let levels = cfg.channel_mult.len();
        let stem = cfg.encoder_stem_levels;
        let mut blocks = Vec::new();
        let mut downs = Vec::new();
        let mut cin = cfg.width(stem);
        for level in stem..levels {
            let cout = cfg.width(level);
            for _ in 0..cfg.num_res_blocks {
                blocks.push(ResBlock::new(cin, cout, g, device));
                cin = cout;
            }
            if level + 1 < levels {
                downs.push(conv(cin, cin, 3, 2, 1, device));
            }
        }
        let conv_in = match stem {
            0 => conv(cfg.in_channels, cfg.width(0), 3, 1, 1, device),
            s => conv(cfg.in_channels, cfg.width(s), 1 << s, 1 << s, 0, device),
        };
        Self {
            conv_in,
            blocks,
            downs,
            mid1: ResBlock::new(cin, cin, g, device),
            attn: cfg
                .encoder_attention
                .then(|| AttnBlock::new(cin, g, device)),
            mid2: ResBlock::new(cin, cin, g, device),
            norm_out: norm(g, cin, device),
            conv_out: conv(cin, cfg.latent_channels, 3, 1, 1, device),
            blocks_per_level: cfg.num_res_blocks,
        }
    }

    /// Continuous encoder output `z_e`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = self.conv_in.forward(x);
        for (i, block) in self.blocks.iter().enumerate() {
            h = block.forward(h);
            let level = i / self.blocks_per_level;
            if (i + 1) % self.blocks_per_level == 0 && level < self.downs.len() {
                h = self.downs[level].forward(h);
            }
        }
        let mut h = self.mid1.forward(h);
        if let Some(attn) = &self.attn {
            h = attn.forward(h);
        }
        let h = self.mid2.forward(h);
        self.conv_out.forward(swish(self.norm_out.forward(h)))
    }
}

/// Decoder `G`: quantized latent `[b, d, h, w]` to image `[b, 1, f h, f w]`.
#[derive(Module, Debug)]
pub struct Decoder {
    conv_in: Conv2d,
    mid1: ResBlock,
    attn: AttnBlock,
    mid2: ResBlock,
    blocks: Vec<ResBlock>,
    ups: Vec<Conv2d>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    blocks_per_level: usize,
}

/// Nearest-neighbour 2x upsampling.
fn upsample2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .expand([b, c, h, 2, w, 2])
        .reshape([b, c, 2 * h, 2 * w])
}

impl Decoder {
    /// Build the decoder of `cfg` (the configuration must be valid).
    pub fn new(cfg: &CodecConfig, device: &Device) -> Self {
        let g = cfg.norm_groups;
        let levels = cfg.channel_mult.len();
        let top = cfg.width(levels - 1);
        let mut blocks = Vec::new();
        let mut ups = Vec::new();
        let mut cin = top;
        for level in (0..levels).rev() {
            let cout = cfg.width(level);
            for _ in 0..cfg.num_res_blocks {
                blocks.push(ResBlock::new(cin, cout, g, device));
                cin = cout;
            }
            if level > 0 {
                ups.push(conv(cin, cin, 3, 1, 1, device));
            }
        }
        Self {
            conv_in: conv(cfg.latent_channels, top, 3, 1, 1, device),
            mid1: ResBlock::new(top, top, g, device),
            attn: AttnBlock::new(top, g, device),
            mid2: ResBlock::new(top, top, g, device),
            blocks,
            ups,
            norm_out: norm(g, cin, device),
            conv_out: conv(cin, cfg.in_channels, 3, 1, 1, device),
            blocks_per_level: cfg.num_res_blocks,
        }
    }

    /// Reconstruction from a (quantized) latent; values are in the image range, `[-1, 1]`
    /// for training data, not clamped.
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let h = self.conv_in.forward(z);
        let mut h = self.mid2.forward(self.attn.forward(self.mid1.forward(h)));
        for (i, block) in self.blocks.iter().enumerate() {
            h = block.forward(h);
            let step = i / self.blocks_per_level;
            if (i + 1) % self.blocks_per_level == 0 && step < self.ups.len() {
                h = self.ups[step].forward(upsample2(h));
            }
        }
        self.conv_out.forward(swish(self.norm_out.forward(h)))
    }
}

/// Values of a float tensor as `f32`s (row-major).
pub(crate) fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("converted to f32")
}

/// Index of the nearest codebook vector (squared Euclidean distance, first index on ties) for
/// each `d`-vector of `z`, with `codebook` the `K x d` codebook row-major (`K <= 65536`):
/// `argmin_k |z - e_k|^2 = argmin_k (|e_k|^2 - 2 z.e_k)`, since `|z|^2` is the same for every
/// code. The codebook is transposed to `d x K` once so that the distances to all codes are
/// one vectorisable pass per position; this plain loop is several times cheaper than the
/// tensor formulation (an `n x K` matmul, broadcast add and argmin), which mattered for the
/// client's encode time.
pub fn nearest_codes(z: &[f32], codebook: &[f32], d: usize) -> Vec<u16> {
    let k = codebook.len() / d.max(1);
    let (et, ee) = distance_terms(codebook, d, k);
    let mut dist = vec![0f32; k];
    z.chunks_exact(d)
        .map(|zi| {
            dist.copy_from_slice(&ee);
            for (j, &zj) in zi.iter().enumerate() {
                for (dv, &ev) in dist.iter_mut().zip(&et[j * k..(j + 1) * k]) {
                    *dv += zj * ev;
                }
            }
            let mut best = 0;
            for (c, &dv) in dist.iter().enumerate() {
                if dv < dist[best] {
                    best = c;
                }
            }
            best as u16
        })
        .collect()
}

/// The terms of `|e_k|^2 - 2 z.e_k` for a `K x d` row-major codebook: `-2 e` transposed to
/// `d x K` and `|e_k|^2` (shared by [`nearest_codes`] and the fast encoder's fused search,
/// which must form the same sums).
pub(crate) fn distance_terms(codebook: &[f32], d: usize, k: usize) -> (Vec<f32>, Vec<f32>) {
    let mut et = vec![0f32; d * k];
    let mut ee = vec![0f32; k];
    for (c, row) in codebook.chunks_exact(d).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            et[j * k + c] = -2.0 * v;
            ee[c] += v * v;
        }
    }
    (et, ee)
}

/// Output of the vector quantizer.
#[derive(Debug, Clone)]
pub struct QuantizerOutput {
    /// Quantized latent with the straight-through gradient, `z + sg(z_q - z)`.
    pub quantized: Tensor<4>,
    /// Codebook loss `||sg(z) - z_q||^2 + beta ||z - sg(z_q)||^2` (van den Oord et al. 2017).
    pub loss: Tensor<1>,
    /// Index of the nearest codebook vector per latent position, `[b * h * w]` in
    /// `(b, y, x)` order.
    pub indices: Tensor<1, Int>,
}

/// Vector quantizer with a learned codebook (van den Oord et al. 2017, "Neural Discrete
/// Representation Learning"; as used by Esser et al. 2021).
#[derive(Module, Debug)]
pub struct VectorQuantizer {
    /// Codebook, `[K, d]`.
    pub codebook: Param<Tensor<2>>,
}

impl VectorQuantizer {
    /// Codebook of `k` vectors of dimension `d`, initialised uniformly in `[-1/K, 1/K]` as in
    /// taming-transformers.
    pub fn new(k: usize, d: usize, device: &Device) -> Self {
        let bound = 1.0 / k as f64;
        Self {
            codebook: Param::from_tensor(Tensor::random(
                [k, d],
                Distribution::Uniform(-bound, bound),
                device,
            )),
        }
    }

    /// Nearest codebook index for each row of `flat` (`[n, d]`), by [`nearest_codes`].
    pub fn nearest(&self, flat: Tensor<2>) -> Tensor<1, Int> {
        let device = flat.device();
        let [n, d] = flat.dims();
        let idx = nearest_codes(&floats(flat), &floats(self.codebook.val()), d);
        let idx: Vec<i64> = idx.into_iter().map(i64::from).collect();
        Tensor::from_data(TensorData::new(idx, [n]), &device)
    }

    /// Codebook vectors for `indices`, shaped as a latent `[b, d, h, w]`.
    pub fn lookup(&self, indices: Tensor<1, Int>, b: usize, h: usize, w: usize) -> Tensor<4> {
        let e = self.codebook.val();
        let d = e.dims()[1];
        e.select(0, indices)
            .reshape([b, h, w, d])
            .permute([0, 3, 1, 2])
    }

    /// Quantize `z` (`[b, d, h, w]`) with commitment weight `beta`.
    pub fn forward(&self, z: Tensor<4>, beta: f64) -> QuantizerOutput {
        let [b, d, h, w] = z.dims();
        let flat = z.clone().permute([0, 2, 3, 1]).reshape([b * h * w, d]);
        let indices = self.nearest(flat.detach());
        let zq = self.lookup(indices.clone(), b, h, w);
        let codebook_loss = (zq.clone() - z.clone().detach()).square().mean();
        let commitment = (zq.clone().detach() - z.clone()).square().mean();
        let loss = codebook_loss + commitment.mul_scalar(beta);
        let quantized = z.clone() + (zq - z).detach();
        QuantizerOutput {
            quantized,
            loss,
            indices,
        }
    }
}

/// The VQGAN generator (encoder, quantizer, decoder).
#[derive(Module, Debug)]
pub struct VqGan {
    /// Encoder.
    pub encoder: Encoder,
    /// Vector quantizer.
    pub quantizer: VectorQuantizer,
    /// Decoder.
    pub decoder: Decoder,
}

/// Output of a full VQGAN pass.
#[derive(Debug, Clone)]
pub struct VqGanOutput {
    /// Continuous encoder output.
    pub z: Tensor<4>,
    /// Quantizer output.
    pub vq: QuantizerOutput,
    /// Reconstruction.
    pub reconstruction: Tensor<4>,
}

impl VqGan {
    /// Randomly initialised model of `cfg` (the configuration must be valid).
    pub fn new(cfg: &CodecConfig, device: &Device) -> Self {
        Self {
            encoder: Encoder::new(cfg, device),
            quantizer: VectorQuantizer::new(cfg.codebook_size, cfg.latent_channels, device),
            decoder: Decoder::new(cfg, device),
        }
    }

    /// Encode, quantize and decode `x` (`[b, 1, H, W]`, values in `[-1, 1]`).
    pub fn forward(&self, x: Tensor<4>, beta: f64) -> VqGanOutput {
        let z = self.encoder.forward(x);
        let vq = self.quantizer.forward(z.clone(), beta);
        let reconstruction = self.decoder.forward(vq.quantized.clone());
        VqGanOutput {
            z,
            vq,
            reconstruction,
        }
    }
}

/// PatchGAN discriminator (Isola et al. 2017, "Image-to-Image Translation with Conditional
/// Adversarial Networks"): a stack of 4x4 convolutions whose output is one real/fake logit per
/// overlapping patch. Group normalisation replaces the batch normalisation of the original so
/// that small batches behave.
#[derive(Module, Debug)]
pub struct PatchDiscriminator {
    convs: Vec<Conv2d>,
    norms: Vec<GroupNorm>,
    out: Conv2d,
}

impl PatchDiscriminator {
    /// `n_layers` stride-2 stages after the first, starting at `ndf` channels (doubling, at
    /// most 8 ndf), on `in_channels` inputs.
    pub fn new(in_channels: usize, ndf: usize, n_layers: usize, device: &Device) -> Self {
        let mut convs = vec![conv(in_channels, ndf, 4, 2, 1, device)];
        let mut norms = Vec::new();
        let mut c = ndf;
        for i in 1..=n_layers {
            let cout = ndf * (1 << i.min(3));
            let stride = if i == n_layers { 1 } else { 2 };
            convs.push(conv(c, cout, 4, stride, 1, device));
            norms.push(norm(8, cout, device));
            c = cout;
        }
        Self {
            convs,
            norms,
            out: conv(c, 1, 4, 1, 1, device),
        }
    }

    /// Patch logits `[b, 1, h', w']`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = leaky_relu(self.convs[0].forward(x), 0.2);
        for (c, n) in self.convs[1..].iter().zip(&self.norms) {
            h = leaky_relu(n.forward(c.forward(h)), 0.2);
        }
        self.out.forward(h)
    }
}

/// Hinge loss of the discriminator: `mean(relu(1 - D(x))) + mean(relu(1 + D(x_hat)))`
/// (Lim & Ye 2017; the `hinge_d_loss` of taming-transformers, which halves it).
pub fn hinge_d_loss(logits_real: Tensor<4>, logits_fake: Tensor<4>) -> Tensor<1> {
    let real = relu(logits_real.neg().add_scalar(1.0)).mean();
    let fake = relu(logits_fake.add_scalar(1.0)).mean();
    (real + fake).mul_scalar(0.5)
}

/// 1-D Gaussian window of the SSIM of `med_data::metrics` (`SSIM_WINDOW` taps, standard
/// deviation `SSIM_SIGMA`, normalised to sum 1).
fn ssim_window() -> Vec<f32> {
    use med_data::metrics::{SSIM_SIGMA, SSIM_WINDOW};
    let r = (SSIM_WINDOW / 2) as f64;
    let k: Vec<f64> = (0..SSIM_WINDOW)
        .map(|i| (-(i as f64 - r).powi(2) / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp())
        .collect();
    let sum: f64 = k.iter().sum();
    k.iter().map(|v| (v / sum) as f32).collect()
}

/// Separable "valid" Gaussian filtering of `[n, 1, h, w]` maps.
fn gaussian_valid(x: Tensor<4>) -> Tensor<4> {
    let k = ssim_window();
    let n = k.len();
    let device = x.device();
    let row = Tensor::<1>::from_floats(k.as_slice(), &device);
    let opts = || burn::tensor::ops::ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
    let h = burn::tensor::module::conv2d(x, row.clone().reshape([1, 1, 1, n]), None, opts());
    burn::tensor::module::conv2d(h, row.reshape([1, 1, n, 1]), None, opts())
}

/// Mean SSIM (Wang et al. 2004, "Image Quality Assessment: From Error Visibility to
/// Structural Similarity") of two `[b, 1, h, w]` batches whose values span `data_range`,
/// differentiable: `SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 +
/// s_y^2 + C2))` with local statistics under an 11-tap Gaussian window (sigma 1.5) over the
/// valid region, `C1 = (0.01 L)^2`, `C2 = (0.03 L)^2`; the same definition as
/// `med_data::metrics::ssim`, so `1 - ssim` is a training loss for the reported metric.
pub fn ssim(x: Tensor<4>, y: Tensor<4>, data_range: f64) -> Tensor<1> {
    let b = x.dims()[0];
    let stats = gaussian_valid(Tensor::cat(
        vec![
            x.clone(),
            y.clone(),
            x.clone().square(),
            y.clone().square(),
            x * y,
        ],
        0,
    ));
    let part = |i: usize| stats.clone().narrow(0, i * b, b);
    let (mx, my) = (part(0), part(1));
    let (mxx, myy, mxy) = (mx.clone().square(), my.clone().square(), mx * my);
    let vx = part(2) - mxx.clone();
    let vy = part(3) - myy.clone();
    let cov = part(4) - mxy.clone();
    let c1 = (0.01 * data_range).powi(2);
    let c2 = (0.03 * data_range).powi(2);
    let num = mxy.mul_scalar(2.0).add_scalar(c1) * cov.mul_scalar(2.0).add_scalar(c2);
    let den = (mxx + myy).add_scalar(c1) * (vx + vy).add_scalar(c2);
    (num / den).mean()
}

/// Generator's adversarial loss, `-mean(D(x_hat))`.
pub fn generator_adv_loss(logits_fake: Tensor<4>) -> Tensor<1> {
    logits_fake.mean().neg()
}
