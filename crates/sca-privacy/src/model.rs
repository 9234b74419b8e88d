//! The bottlenecked sparse-coding autoencoder of PRIMIS (Shiri, Razeghi, Ferdowsi et al.
//! 2024, Sec. 3) in `burn`, and the attacker's inversion network.
//!
//! Encoder: space-to-depth (lossless, `factor^2` channels), a 3x3 convolution and residual
//! blocks `x + conv(relu(conv(x)))` (EDSR style, no normalisation). The grouped linear stage
//! splits the `width` features of every position into `groups` groups of `F_g = width/groups`
//! and maps group `g` with its own matrix `A_g in R^{M x F_g}` to the code vector
//! `z_g = A_g f_g in R^M` (a grouped 1x1 convolution): one code map per group. The
//! S-sparsity operator keeps `S_x` entries per vector. The decoder starts with the tied
//! transpose `f'_g = A_g^T x_g`, then residual blocks, a 3x3 convolution to `factor^2`
//! channels and depth-to-space.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::PaddingConfig2d;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Tensor};

use crate::config::{ScaConfig, SparsityKind};

fn conv(cin: usize, cout: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
    let pad = k / 2;
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .init(device)
}

/// Residual block `x + conv2(relu(conv1(x)))` (Lim et al. 2017, EDSR, without batch norm).
#[derive(Module, Debug)]
pub struct ResBlock {
    conv1: Conv2d,
    conv2: Conv2d,
}

impl ResBlock {
    /// A block of `c` channels.
    pub fn new(c: usize, device: &Device) -> Self {
        Self {
            conv1: conv(c, c, 3, 1, device),
            conv2: conv(c, c, 3, 1, device),
        }
    }

    /// Forward pass.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        x.clone() + self.conv2.forward(relu(self.conv1.forward(x)))
    }

    /// Its two convolutions (for [`crate::fast::FastPasses`]).
    pub fn convs(&self) -> (&Conv2d, &Conv2d) {
        (&self.conv1, &self.conv2)
    }
}

fn trunk(blocks: &[ResBlock], mut x: Tensor<4>) -> Tensor<4> {
    for b in blocks {
        x = b.forward(x);
    }
    x
}

/// Space-to-depth: `[b, 1, H, W]` to `[b, f^2, H/f, W/f]` (lossless).
pub fn space_to_depth(x: Tensor<4>, f: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b * c, h / f, f, w / f, f])
        .permute([0, 2, 4, 1, 3])
        .reshape([b, c * f * f, h / f, w / f])
}

/// Depth-to-space, the inverse of [`space_to_depth`].
pub fn depth_to_space(x: Tensor<4>, f: usize) -> Tensor<4> {
    let [b, cf, h, w] = x.dims();
    let c = cf / (f * f);
    x.reshape([b * c, f, f, h, w])
        .permute([0, 3, 1, 4, 2])
        .reshape([b, c, h * f, w * f])
}

/// Mask of the S-sparsity operator on `z = [b, G, M, n]` along the code dimension (dim 2),
/// computed on detached values (the mask is piecewise constant; gradients flow through the
/// kept entries, as in the top-k autoencoders of Makhzani and Frey 2013).
pub fn sparsity_mask(z: &Tensor<4>, s: usize, kind: SparsityKind) -> Tensor<4> {
    let z = z.clone().detach();
    match kind {
        SparsityKind::Magnitude => {
            let a = z.abs();
            let thr = a.clone().sort_descending(2).narrow(2, s - 1, 1);
            a.greater_equal(thr).float()
        }
        SparsityKind::Signed => {
            let h = s / 2;
            let top = z.clone().sort_descending(2).narrow(2, h - 1, 1);
            let neg = z.clone().neg();
            let bot = neg.clone().sort_descending(2).narrow(2, h - 1, 1);
            (z.greater_equal(top).float() + neg.greater_equal(bot).float()).clamp_max(1.0)
        }
    }
}

/// The autoencoder: encoder trunk, grouped projection `A = (A_1..A_G)`, tied decoder.
#[derive(Module, Debug)]
pub struct ScaAutoencoder {
    enc_in: Conv2d,
    enc_blocks: Vec<ResBlock>,
    /// `[G, M, F_g]`: the grouped linear projection, shared (transposed) with the decoder.
    pub projection: Param<Tensor<3>>,
    dec_blocks: Vec<ResBlock>,
    dec_out: Conv2d,
    factor: usize,
    groups: usize,
}

impl ScaAutoencoder {
    /// Build the network of `cfg` (validated by the caller).
    pub fn new(cfg: &ScaConfig, device: &Device) -> Self {
        let ff = cfg.factor * cfg.factor;
        let fg = cfg.group_features();
        let std = (1.0 / fg as f64).sqrt();
        Self {
            enc_in: conv(ff, cfg.width, 3, 1, device),
            enc_blocks: (0..cfg.res_blocks)
                .map(|_| ResBlock::new(cfg.width, device))
                .collect(),
            projection: Param::from_tensor(Tensor::random(
                [cfg.groups, cfg.code_dim, fg],
                Distribution::Normal(0.0, std),
                device,
            )),
            dec_blocks: (0..cfg.res_blocks)
                .map(|_| ResBlock::new(cfg.width, device))
                .collect(),
            dec_out: conv(cfg.width, ff, 3, 1, device),
            factor: cfg.factor,
            groups: cfg.groups,
        }
    }

    /// Its layers: encoder input convolution, encoder blocks, decoder blocks, decoder output
    /// convolution (for [`crate::fast::FastPasses`]).
    pub fn layers(&self) -> (&Conv2d, &[ResBlock], &[ResBlock], &Conv2d) {
        (
            &self.enc_in,
            &self.enc_blocks,
            &self.dec_blocks,
            &self.dec_out,
        )
    }

    /// Dense codes `[b, G, M, h*w]` of tiles `[b, 1, P, P]` in `[-1, 1]` (before sparsity).
    pub fn encode_dense(&self, x: Tensor<4>) -> Tensor<4> {
        let f = self.enc_in.forward(space_to_depth(x, self.factor));
        let f = trunk(&self.enc_blocks, f);
        let [b, c, h, w] = f.dims();
        let g = self.groups;
        let f = f.reshape([b, g, c / g, h * w]);
        let a = self.projection.val().unsqueeze::<4>(); // [1, G, M, F_g]
        a.matmul(f)
    }

    /// Tiles `[b, 1, P, P]` from sparse codes `[b, G, M, h*w]` (tied decoder `A_g^T`).
    pub fn decode(&self, z: Tensor<4>, side: usize) -> Tensor<4> {
        let [b, g, _, n] = z.dims();
        let at = self.projection.val().swap_dims(1, 2).unsqueeze::<4>(); // [1, G, F_g, M]
        let f = at.matmul(z); // [b, G, F_g, n]
        let fg = f.dims()[2];
        let f = f.reshape([b, g * fg, side, n / side]);
        let f = trunk(&self.dec_blocks, f);
        depth_to_space(self.dec_out.forward(f), self.factor)
    }

    /// Encode, sparsify, decode (the training forward pass).
    pub fn forward(&self, x: Tensor<4>, s: usize, kind: SparsityKind) -> Tensor<4> {
        let side = x.dims()[2] / self.factor;
        let z = self.encode_dense(x);
        let mask = sparsity_mask(&z, s, kind);
        self.decode(z * mask, side)
    }
}

/// The attacker's inversion network (U-Net-like, Ronneberger et al. 2015): public code maps
/// `[b, G*M, h, w]` to tiles `[b, 1, P, P]`. One level down (stride-2 convolution, residual
/// block), up again (depth-to-space), concatenated with the skip connection, residual
/// block, depth-to-space to pixels.
#[derive(Module, Debug)]
pub struct InversionNet {
    inp: Conv2d,
    down: Conv2d,
    low: ResBlock,
    up: Conv2d,
    merge: Conv2d,
    high: ResBlock,
    out: Conv2d,
    factor: usize,
}

impl InversionNet {
    /// A network for codes of `cfg`, `width` channels.
    pub fn new(cfg: &ScaConfig, width: usize, device: &Device) -> Self {
        let cin = cfg.groups * cfg.code_dim;
        Self {
            inp: conv(cin, width, 3, 1, device),
            down: conv(width, 2 * width, 3, 2, device),
            low: ResBlock::new(2 * width, device),
            up: conv(2 * width, 4 * width, 3, 1, device),
            merge: conv(2 * width, width, 3, 1, device),
            high: ResBlock::new(width, device),
            out: conv(width, cfg.factor * cfg.factor, 3, 1, device),
            factor: cfg.factor,
        }
    }

    /// Forward pass on code maps `[b, G*M, h, w]`.
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let skip = relu(self.inp.forward(z));
        let low = self.low.forward(relu(self.down.forward(skip.clone())));
        let up = depth_to_space(self.up.forward(low), 2);
        let h = relu(self.merge.forward(Tensor::cat(vec![skip, up], 1)));
        depth_to_space(self.out.forward(self.high.forward(h)), self.factor)
    }
}
