//! The encoder's inference pass without `burn`: the client's cost in the Latent-HE pipeline
//! (the target: at most 50 ms single-thread per 256x256 image).
//!
//! Same layers as [`crate::model::Encoder`] (convolutions, group normalisations, swish,
//! residual blocks), on channel-major buffers (`[c, h * w]`, the layout of burn's
//! `[1, c, h, w]`) with one matrix product per convolution: im2col into a reused buffer, then
//! `gemm` on one thread with the bias (and, in a residual block, the skip connection)
//! pre-filled in the destination, so that the product accumulates onto it; normalisation and
//! swish are one fused pass. Buffers are kept between calls ([`Workspace`]), so an encode
//! allocates only its output.
//!
//! The nearest-code search ([`NearestCodes`]) precomputes the codebook's norms `|e_k|^2` and
//! `-2 e_k` once and evaluates `|e_k|^2 - 2 z.e_k` as the product of the `K x d` codebook
//! with the `d x n` latent, fused with the argmin (a block of positions at a time, so the
//! `K x n` distance matrix is never stored); the sums are formed in the order of the former
//! per-position loop, so for the same latent the indices are bit-identical.
//!
//! The encoder output equals burn's up to the order of floating-point sums (tested against
//! [`crate::model::Encoder::forward`] on the shipped weights: `tests/fast.rs`). Encoders with
//! self-attention in the mid-block (the full-resolution layout of format-1 weight files) are
//! not covered: [`FastEncoder::from_model`] returns `None` for them and
//! [`crate::Codec::encode`] runs burn's forward pass.

use std::sync::Mutex;

use burn::nn::conv::Conv2d;
use burn::nn::{GroupNorm, PaddingConfig2d};
use burn::tensor::Tensor;
use gemm::{gemm, Parallelism};

use crate::error::{CodecError, Result};
use crate::model::{Encoder, ResBlock, VqGan};

fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| CodecError::InvalidArgument(format!("{e:?}")))
}

fn unsupported(what: &str) -> CodecError {
    CodecError::InvalidConfig(format!("fast encoder: {what}"))
}

/// A 2-D convolution (square kernel `k`, stride `s`, zero padding `p`, no groups or
/// dilation) as a `[cout, cin k k]` matrix (burn's `[cout, cin, k, k]` weight, row-major) and
/// a bias.
#[derive(Clone, Debug)]
struct Conv {
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

impl Conv {
    fn from_burn(c: &Conv2d) -> Result<Self> {
        let [cout, cin, kh, kw] = c.weight.val().dims();
        let pad = match c.padding {
            PaddingConfig2d::Valid => 0,
            PaddingConfig2d::Explicit(t, l, b, r) if t == l && l == b && b == r => t,
            _ => return Err(unsupported("only symmetric explicit or no padding")),
        };
        if kh != kw || c.stride[0] != c.stride[1] || c.dilation != [1, 1] || c.groups != 1 {
            return Err(unsupported(
                "only square kernels, equal strides, no dilation or groups",
            ));
        }
        let b = match &c.bias {
            Some(b) => values(b.val())?,
            None => vec![0.0; cout],
        };
        Ok(Self {
            cin,
            cout,
            k: kh,
            stride: c.stride[0],
            pad,
            w: values(c.weight.val())?,
            b,
        })
    }

    fn out_side(&self, n: usize) -> usize {
        (n + 2 * self.pad - self.k) / self.stride + 1
    }

    /// `out = conv(x) + bias`, or `out += conv(x) + bias` with `accumulate`; `x` is
    /// `[cin, h * w]`, `out` `[cout, oh * ow]`, `col` scratch for the im2col matrix.
    fn apply(
        &self,
        x: &[f32],
        h: usize,
        w: usize,
        out: &mut [f32],
        accumulate: bool,
        col: &mut Vec<f32>,
    ) {
        let (oh, ow) = (self.out_side(h), self.out_side(w));
        let n = oh * ow;
        let kk = self.cin * self.k * self.k;
        let out = &mut out[..self.cout * n];
        for (row, &b) in out.chunks_exact_mut(n).zip(&self.b) {
            if accumulate {
                row.iter_mut().for_each(|v| *v += b);
            } else {
                row.fill(b);
            }
        }
        let rhs = if self.k == 1 && self.stride == 1 && self.pad == 0 {
            &x[..self.cin * n]
        } else {
            if col.len() < kk * n {
                col.resize(kk * n, 0.0);
            }
            im2col(
                x,
                self.cin,
                h,
                w,
                self.k,
                self.stride,
                self.pad,
                &mut col[..kk * n],
            );
            &col[..kk * n]
        };
        // SAFETY: `out` is `[cout, n]`, `self.w` `[cout, kk]` and `rhs` `[kk, n]`, all
        // row-major with exactly these sizes (checked by the slicing above); `out` does not
        // overlap the two inputs.
        unsafe {
            gemm(
                self.cout,
                n,
                kk,
                out.as_mut_ptr(),
                1,
                n as isize,
                true,
                self.w.as_ptr(),
                1,
                kk as isize,
                rhs.as_ptr(),
                1,
                n as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                Parallelism::None,
            );
        }
    }
}

/// The im2col matrix of a convolution: row `(ci k + ky) k + kx` holds, for every output
/// position `(oy, ox)`, the input `x[ci, oy s + ky - p, ox s + kx - p]` (0 outside).
#[allow(clippy::too_many_arguments)]
fn im2col(
    x: &[f32],
    cin: usize,
    h: usize,
    w: usize,
    k: usize,
    s: usize,
    p: usize,
    col: &mut [f32],
) {
    let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
    let mut rows = col.chunks_exact_mut(oh * ow);
    for ci in 0..cin {
        let plane = &x[ci * h * w..(ci + 1) * h * w];
        for ky in 0..k {
            for kx in 0..k {
                let row = rows.next().expect("im2col buffer of cin k k rows");
                // Output columns whose input column `ox s + kx - p` lies in `0..w`.
                let lo = p.saturating_sub(kx).div_ceil(s).min(ow);
                let hi = if w + p > kx {
                    ((w + p - kx - 1) / s + 1).clamp(lo, ow)
                } else {
                    lo
                };
                for (oy, dst) in row.chunks_exact_mut(ow).enumerate() {
                    let iy = (oy * s + ky) as isize - p as isize;
                    if iy < 0 || iy >= h as isize {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    let x0 = lo * s + kx - p;
                    if s == 1 {
                        dst[lo..hi].copy_from_slice(&src[x0..x0 + (hi - lo)]);
                    } else {
                        for (d, v) in dst[lo..hi].iter_mut().zip(src[x0..].iter().step_by(s)) {
                            *d = *v;
                        }
                    }
                }
            }
        }
    }
}

/// `x * sigmoid(x)` with the sigmoid of burn's Flex backend (the same branches), the
/// reference of [`exp_approx`]'s use in [`NormSwish`].
#[cfg(test)]
fn swish(x: f32) -> f32 {
    let s = if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    };
    x * s
}

/// `e^x` for `x` in `[-87, 87]` (clamped there), branch-free so that loops over it
/// vectorise: Cody-Waite reduction `x = n ln 2 + r`, `|r| <= ln 2 / 2`, the degree-6
/// polynomial of Cephes' `expf` for `e^r`, and `2^n` through the exponent bits. Relative
/// error about 2e-7 (a few units in the last place; tested).
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let x = x.clamp(-87.0, 87.0);
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // The low bits of `t` hold `n + 2^22`; move `n + 127` into the exponent field.
    let bits = t.to_bits().wrapping_sub(0x4B40_0000).wrapping_add(127) << 23;
    e * f32::from_bits(bits)
}

/// `sum f(x_i)` with eight f32 partial sums per row of 1024 values, the rows added in f64
/// (vectorises; the f32 partial sums hold at most 128 terms each).
#[inline(always)]
fn lane_sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    xs.chunks(1024)
        .map(|row| {
            let mut acc = [0f32; 8];
            let mut chunks = row.chunks_exact(8);
            for c in &mut chunks {
                for (a, &v) in acc.iter_mut().zip(c) {
                    *a += f(v);
                }
            }
            let rest: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
            acc.iter().map(|&a| a as f64).sum::<f64>() + rest as f64
        })
        .sum()
}

/// Group normalisation (affine) followed by swish.
#[derive(Clone, Debug)]
struct NormSwish {
    groups: usize,
    eps: f64,
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl NormSwish {
    fn from_burn(g: &GroupNorm) -> Result<Self> {
        let c = g.num_channels;
        let (gamma, beta) = match (&g.gamma, &g.beta) {
            (Some(a), Some(b)) if g.affine => (values(a.val())?, values(b.val())?),
            _ if !g.affine => (vec![1.0; c], vec![0.0; c]),
            _ => return Err(unsupported("affine group norm without parameters")),
        };
        if g.num_groups == 0 || !c.is_multiple_of(g.num_groups) {
            return Err(unsupported("group count does not divide the channels"));
        }
        Ok(Self {
            groups: g.num_groups,
            eps: g.epsilon,
            gamma,
            beta,
        })
    }

    /// `out = swish(groupnorm(x))` for `x` of `[c, n]`: the mean, then the mean squared
    /// deviation from it (as burn's `group_norm`), with [`lane_sum`].
    fn apply(&self, x: &[f32], n: usize, out: &mut [f32]) {
        let c = self.gamma.len();
        let per = c / self.groups * n;
        for (g, (xg, og)) in x[..c * n]
            .chunks_exact(per)
            .zip(out[..c * n].chunks_exact_mut(per))
            .enumerate()
        {
            let mean = (lane_sum(xg, |v| v) / per as f64) as f32;
            let var = lane_sum(xg, |v| (v - mean) * (v - mean)) / per as f64;
            let inv = 1.0 / (var + self.eps).sqrt();
            for (ci, (xc, oc)) in xg.chunks_exact(n).zip(og.chunks_exact_mut(n)).enumerate() {
                let ch = g * (c / self.groups) + ci;
                let a = (self.gamma[ch] as f64 * inv) as f32;
                let b = self.beta[ch];
                for (o, &v) in oc.iter_mut().zip(xc) {
                    let y = (v - mean) * a + b;
                    *o = y / (1.0 + exp_approx(-y));
                }
            }
        }
    }
}

/// Residual block: `x + conv2(swish(norm2(conv1(swish(norm1(x))))))`, the skip through a
/// 1x1 convolution when the width changes.
#[derive(Clone, Debug)]
struct Res {
    norm1: NormSwish,
    conv1: Conv,
    norm2: NormSwish,
    conv2: Conv,
    shortcut: Option<Conv>,
}

impl Res {
    fn from_burn(b: &ResBlock) -> Result<Self> {
        let res = Self {
            norm1: NormSwish::from_burn(&b.norm1)?,
            conv1: Conv::from_burn(&b.conv1)?,
            norm2: NormSwish::from_burn(&b.norm2)?,
            conv2: Conv::from_burn(&b.conv2)?,
            shortcut: b.shortcut.as_ref().map(Conv::from_burn).transpose()?,
        };
        let same = |c: &Conv| c.k == 3 && c.stride == 1 && c.pad == 1;
        if !same(&res.conv1) || !same(&res.conv2) {
            return Err(unsupported("residual convolutions must be 3x3, stride 1"));
        }
        Ok(res)
    }

    /// Apply to `ws.x` (`[cin, side_h * side_w]`), result in `ws.x` (`[cout, ...]`).
    fn apply(&self, ws: &mut Workspace, h: usize, w: usize) {
        let n = h * w;
        self.norm1.apply(&ws.x, n, &mut ws.t);
        self.conv1.apply(&ws.t, h, w, &mut ws.u, false, &mut ws.col);
        self.norm2.apply(&ws.u, n, &mut ws.t);
        match &self.shortcut {
            Some(sc) => {
                sc.apply(&ws.x, h, w, &mut ws.s, false, &mut ws.col);
                self.conv2.apply(&ws.t, h, w, &mut ws.s, true, &mut ws.col);
                std::mem::swap(&mut ws.x, &mut ws.s);
            }
            None => self.conv2.apply(&ws.t, h, w, &mut ws.x, true, &mut ws.col),
        }
    }
}

/// Nearest codebook entry by `argmin_k |e_k|^2 - 2 z.e_k` (squared Euclidean distance less
/// the `|z|^2` common to all codes), first index on ties, with the codebook's norms and
/// `-2 e` (transposed, `d x K`) precomputed.
#[derive(Clone, Debug)]
pub struct NearestCodes {
    d: usize,
    k: usize,
    /// `-2 e_k[j]` at `j * K + k`.
    et: Vec<f32>,
    /// `|e_k|^2`.
    ee: Vec<f32>,
}

/// Positions per block of the fused product and argmin.
const BLOCK: usize = 64;

impl NearestCodes {
    /// From a `K x d` row-major codebook (`d > 0`, `K` from 1 to 65536).
    pub fn new(codebook: &[f32], d: usize) -> Result<Self> {
        let k = codebook.len() / d.max(1);
        if d == 0 || k == 0 || k > 1 << 16 || codebook.len() != k * d {
            return Err(CodecError::InvalidArgument(format!(
                "codebook of {} values is not K x {d} with 1 <= K <= 65536",
                codebook.len()
            )));
        }
        let (et, ee) = crate::model::distance_terms(codebook, d, k);
        Ok(Self { d, k, et, ee })
    }

    /// Code dimension `d`.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Nearest code for each of the `n = z.len() / d` columns of the channel-major `z`
    /// (`[d, n]`, the layout of an encoder output), written to `out[..n]`.
    pub fn nearest_planar(&self, z: &[f32], out: &mut [u16]) {
        let (d, k) = (self.d, self.k);
        let n = z.len() / d;
        let mut dist = [0f32; BLOCK];
        let mut best = [0f32; BLOCK];
        let mut idx = [0u16; BLOCK];
        for p0 in (0..n).step_by(BLOCK) {
            let m = BLOCK.min(n - p0);
            for c in 0..k {
                let dist = &mut dist[..m];
                dist.fill(self.ee[c]);
                for j in 0..d {
                    let e = self.et[j * k + c];
                    for (dv, &zv) in dist.iter_mut().zip(&z[j * n + p0..j * n + p0 + m]) {
                        *dv += zv * e;
                    }
                }
                if c == 0 {
                    best[..m].copy_from_slice(dist);
                    idx[..m].fill(0);
                    continue;
                }
                for ((b, i), &dv) in best[..m].iter_mut().zip(&mut idx[..m]).zip(dist.iter()) {
                    let closer = dv < *b;
                    *b = if closer { dv } else { *b };
                    *i = if closer { c as u16 } else { *i };
                }
            }
            out[p0..p0 + m].copy_from_slice(&idx[..m]);
        }
    }
}

/// Buffers of the fast encoder, kept between calls.
#[derive(Debug, Default)]
pub struct Workspace {
    x: Vec<f32>,
    t: Vec<f32>,
    u: Vec<f32>,
    s: Vec<f32>,
    col: Vec<f32>,
}

impl Workspace {
    fn reserve(&mut self, len: usize) {
        for b in [&mut self.x, &mut self.t, &mut self.u, &mut self.s] {
            if b.len() < len {
                b.resize(len, 0.0);
            }
        }
    }
}

/// The encoder and the nearest-code search of a trained [`VqGan`], without `burn`.
pub struct FastEncoder {
    in_channels: usize,
    conv_in: Conv,
    blocks: Vec<Res>,
    downs: Vec<Conv>,
    blocks_per_level: usize,
    mid: Vec<Res>,
    norm_out: NormSwish,
    conv_out: Conv,
    codes: NearestCodes,
    scratch: Mutex<Workspace>,
}

impl std::fmt::Debug for FastEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastEncoder")
            .field("in_channels", &self.in_channels)
            .field("residual_blocks", &(self.blocks.len() + self.mid.len()))
            .field("downsamplings", &self.downs.len())
            .field("latent_channels", &self.conv_out.cout)
            .field("codes", &self.codes.k)
            .finish_non_exhaustive()
    }
}

impl FastEncoder {
    /// Copy the weights of `model`'s encoder and codebook; `None` when the encoder has a
    /// self-attention block (not implemented here).
    pub fn from_model(model: &VqGan) -> Result<Option<Self>> {
        let e: &Encoder = &model.encoder;
        if e.attn.is_some() {
            return Ok(None);
        }
        let codebook = model.quantizer.codebook.val();
        let d = codebook.dims()[1];
        let conv_in = Conv::from_burn(&e.conv_in)?;
        Ok(Some(Self {
            in_channels: conv_in.cin,
            conv_in,
            blocks: e.blocks.iter().map(Res::from_burn).collect::<Result<_>>()?,
            downs: e.downs.iter().map(Conv::from_burn).collect::<Result<_>>()?,
            blocks_per_level: e.blocks_per_level,
            mid: vec![Res::from_burn(&e.mid1)?, Res::from_burn(&e.mid2)?],
            norm_out: NormSwish::from_burn(&e.norm_out)?,
            conv_out: Conv::from_burn(&e.conv_out)?,
            codes: NearestCodes::new(&values(codebook)?, d)?,
            scratch: Mutex::new(Workspace::default()),
        }))
    }

    /// The nearest-code search over this model's codebook.
    pub fn codes(&self) -> &NearestCodes {
        &self.codes
    }

    /// Output shape `[c, h', w']` for an `h x w` input.
    pub fn output_shape(&self, h: usize, w: usize) -> [usize; 3] {
        let (mut h, mut w) = (self.conv_in.out_side(h), self.conv_in.out_side(w));
        for d in &self.downs {
            (h, w) = (d.out_side(h), d.out_side(w));
        }
        let (h, w) = (self.conv_out.out_side(h), self.conv_out.out_side(w));
        [self.conv_out.cout, h, w]
    }

    /// Encoder output `z_e` (`[c, h', w']` row-major, as burn's `[1, c, h', w']`) and the
    /// nearest code per latent position, for one `in_channels x h x w` image `x` in the
    /// model's input range (`[-1, 1]`). `h` and `w` must be multiples of the factor (checked by
    /// [`crate::Codec::encode`]). Uses the encoder's kept buffers, or fresh ones while
    /// another thread holds them.
    pub fn encode(&self, x: &[f32], h: usize, w: usize) -> (Vec<f32>, [usize; 3], Vec<u16>) {
        match self.scratch.try_lock() {
            Ok(mut ws) => self.encode_with(x, h, w, &mut ws),
            Err(_) => self.encode_with(x, h, w, &mut Workspace::default()),
        }
    }

    /// [`encode`](Self::encode) with the caller's buffers.
    pub fn encode_with(
        &self,
        x: &[f32],
        h: usize,
        w: usize,
        ws: &mut Workspace,
    ) -> (Vec<f32>, [usize; 3], Vec<u16>) {
        let shape = self.output_shape(h, w);
        let (h0, w0) = (h, w);
        let (mut h, mut w) = (self.conv_in.out_side(h), self.conv_in.out_side(w));
        let widest = std::iter::once(self.conv_in.cout)
            .chain(self.blocks.iter().map(|b| b.conv1.cout))
            .max()
            .unwrap_or(0);
        ws.reserve(widest * h * w);
        debug_assert_eq!(x.len() % self.in_channels, 0);
        self.conv_in.apply(x, h0, w0, &mut ws.x, false, &mut ws.col);
        for (i, block) in self.blocks.iter().enumerate() {
            block.apply(ws, h, w);
            let level = i / self.blocks_per_level;
            if (i + 1) % self.blocks_per_level == 0 && level < self.downs.len() {
                let down = &self.downs[level];
                down.apply(&ws.x, h, w, &mut ws.s, false, &mut ws.col);
                std::mem::swap(&mut ws.x, &mut ws.s);
                (h, w) = (down.out_side(h), down.out_side(w));
            }
        }
        for block in &self.mid {
            block.apply(ws, h, w);
        }
        let c = self.norm_out.gamma.len();
        self.norm_out.apply(&ws.x, h * w, &mut ws.t);
        let n = shape[1] * shape[2];
        let mut z = vec![0f32; shape[0] * n];
        self.conv_out
            .apply(&ws.t[..c * h * w], h, w, &mut z, false, &mut ws.col);
        let mut idx = vec![0u16; n];
        self.codes.nearest_planar(&z, &mut idx);
        (z, shape, idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution, for checking im2col + gemm.
    fn conv_direct(c: &Conv, x: &[f32], h: usize, w: usize) -> Vec<f32> {
        let (oh, ow) = (c.out_side(h), c.out_side(w));
        let mut out = vec![0f32; c.cout * oh * ow];
        for co in 0..c.cout {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = c.b[co] as f64;
                    for ci in 0..c.cin {
                        for ky in 0..c.k {
                            for kx in 0..c.k {
                                let iy = (oy * c.stride + ky) as isize - c.pad as isize;
                                let ix = (ox * c.stride + kx) as isize - c.pad as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let wv = c.w[((co * c.cin + ci) * c.k + ky) * c.k + kx];
                                acc +=
                                    wv as f64 * x[(ci * h + iy as usize) * w + ix as usize] as f64;
                            }
                        }
                    }
                    out[(co * oh + oy) * ow + ox] = acc as f32;
                }
            }
        }
        out
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn convolutions_match_the_direct_sum() {
        // (cin, cout, k, stride, pad, h, w): 3x3 same, stride 2, patchify, 1x1, odd sizes.
        for (i, &(cin, cout, k, stride, pad, h, w)) in [
            (3, 5, 3, 1, 1, 7, 9),
            (4, 3, 3, 2, 1, 8, 6),
            (4, 3, 3, 2, 1, 9, 7),
            (1, 6, 4, 4, 0, 16, 8),
            (5, 2, 1, 1, 0, 3, 4),
            (2, 2, 5, 1, 2, 6, 5),
        ]
        .iter()
        .enumerate()
        {
            let c = Conv {
                cin,
                cout,
                k,
                stride,
                pad,
                w: pseudo(cout * cin * k * k, i as u32),
                b: pseudo(cout, 100 + i as u32),
            };
            let x = pseudo(cin * h * w, 200 + i as u32);
            let want = conv_direct(&c, &x, h, w);
            let mut got = vec![0f32; want.len()];
            let mut col = Vec::new();
            c.apply(&x, h, w, &mut got, false, &mut col);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "case {i}: {a} vs {b}");
            }
            // Accumulating adds conv(x) + bias onto what is there.
            let base = pseudo(want.len(), 300 + i as u32);
            let mut acc = base.clone();
            c.apply(&x, h, w, &mut acc, true, &mut col);
            for ((a, b), o) in acc.iter().zip(&want).zip(&base) {
                assert!((a - (b + o)).abs() < 1e-5, "case {i} (accumulate)");
            }
        }
    }

    #[test]
    fn exp_approx_is_exp_to_a_few_ulp() {
        let mut worst = 0f64;
        for i in -870_000..=870_000 {
            let x = i as f32 * 1e-4;
            let want = (x as f64).exp();
            let rel = ((exp_approx(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
        }
        assert!(worst < 4e-7, "relative error {worst:e}");
        assert_eq!(exp_approx(0.0), 1.0);
        assert!(exp_approx(-1000.0) > 0.0 && exp_approx(1000.0).is_finite());
        // The swish of the fused pass against burn's branches.
        for i in -20_000..=20_000 {
            let y = i as f32 * 5e-3;
            let fast = y / (1.0 + exp_approx(-y));
            let want = swish(y);
            assert!(
                (fast - want).abs() <= 4e-7 * want.abs().max(1e-3),
                "{y}: {fast} vs {want}"
            );
        }
    }

    #[test]
    fn nearest_planar_is_the_brute_force_argmin() {
        let (k, d, n) = (37, 3, 150);
        let codebook = pseudo(k * d, 7);
        let mut z = pseudo(d * n, 8);
        // A position exactly on code 5 and one equidistant from two equal codes.
        let mut codebook = codebook;
        codebook[9 * d..10 * d].copy_from_slice(&[0.25, -0.5, 0.125]);
        codebook[20 * d..21 * d].copy_from_slice(&[0.25, -0.5, 0.125]);
        for j in 0..d {
            z[j * n] = codebook[5 * d + j];
            z[j * n + 1] = codebook[9 * d + j];
        }
        let nc = NearestCodes::new(&codebook, d).unwrap();
        let mut got = vec![0u16; n];
        nc.nearest_planar(&z, &mut got);
        for (p, &g) in got.iter().enumerate() {
            let dist = |c: usize| -> f64 {
                (0..d)
                    .map(|j| (z[j * n + p] as f64 - codebook[c * d + j] as f64).powi(2))
                    .sum()
            };
            let best = (0..k).map(dist).fold(f64::INFINITY, f64::min);
            assert!(dist(g as usize) <= best + 1e-6, "position {p}");
        }
        assert_eq!(got[0], 5);
        assert_eq!(got[1], 9, "first index on ties");
        assert!(NearestCodes::new(&codebook[..10], 3).is_err());
        assert!(NearestCodes::new(&codebook, 0).is_err());
    }
}
