//! The trained autoencoder's inference passes without `burn`: the same layers (space-to-depth,
//! 3x3 convolutions with zero padding, residual blocks, the grouped projection and its tied
//! transpose, depth-to-space), computed tile by tile on position-major buffers with one
//! matrix product per convolution (im2col, then `gemm` on one thread). Sharing and revealing
//! a 256x256 image run through these; training keeps `burn` (it needs gradients).
//!
//! The results equal `burn`'s up to the order of floating-point sums (tested:
//! `fast_passes_match_burn`), so a support can differ from `burn`'s only where two entries
//! of a vector tie within rounding.

use burn::nn::conv::Conv2d;
use gemm::{gemm, Parallelism};
use med_data::GrayImage;

use crate::codec::{tensor_values, CodeLayout, Codes};
use crate::config::ScaConfig;
use crate::error::{Result, ScaError};
use crate::model::{ResBlock, ScaAutoencoder};

/// A 3x3 convolution, stride 1, zero padding 1, as a `[9 cin, cout]` matrix (row
/// `(ky * 3 + kx) * cin + ci`) and a bias.
#[derive(Clone, Debug)]
struct Conv3 {
    cin: usize,
    cout: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

impl Conv3 {
    fn from_burn(c: &Conv2d) -> Result<Self> {
        let dims = c.weight.val().dims();
        let [cout, cin, kh, kw] = dims;
        if [kh, kw] != [3, 3] || c.stride != [1, 1] || c.dilation != [1, 1] || c.groups != 1 {
            return Err(ScaError::InvalidConfig(
                "fast pass: only 3x3 convolutions of stride 1".into(),
            ));
        }
        let src = tensor_values(c.weight.val())?;
        let mut w = vec![0f32; 9 * cin * cout];
        for co in 0..cout {
            for ci in 0..cin {
                for t in 0..9 {
                    w[(t * cin + ci) * cout + co] = src[(co * cin + ci) * 9 + t];
                }
            }
        }
        let b = match &c.bias {
            Some(b) => tensor_values(b.val())?,
            None => vec![0.0; cout],
        };
        Ok(Self { cin, cout, w, b })
    }

    /// `out = conv(x) + bias (+ out if accumulate)` on one `side x side` tile, `x` and `out`
    /// position-major (`[side * side, c]`); `col` is scratch.
    fn apply(&self, x: &[f32], side: usize, out: &mut [f32], accumulate: bool, col: &mut Vec<f32>) {
        let (cin, cout, n) = (self.cin, self.cout, side * side);
        let k = 9 * cin;
        col.clear();
        col.resize(n * k, 0.0);
        for y in 0..side {
            for xx in 0..side {
                let row = &mut col[(y * side + xx) * k..(y * side + xx + 1) * k];
                for ky in 0..3 {
                    let sy = y as isize + ky as isize - 1;
                    if sy < 0 || sy >= side as isize {
                        continue;
                    }
                    for kx in 0..3 {
                        let sx = xx as isize + kx as isize - 1;
                        if sx < 0 || sx >= side as isize {
                            continue;
                        }
                        let p = sy as usize * side + sx as usize;
                        let t = ky * 3 + kx;
                        row[t * cin..(t + 1) * cin].copy_from_slice(&x[p * cin..(p + 1) * cin]);
                    }
                }
            }
        }
        for o in out.chunks_exact_mut(cout) {
            if accumulate {
                o.iter_mut().zip(&self.b).for_each(|(a, b)| *a += b);
            } else {
                o.copy_from_slice(&self.b);
            }
        }
        // SAFETY: `out` is [n, cout], `col` [n, k], `w` [k, cout], all row-major and of
        // these sizes; the regions do not overlap.
        unsafe {
            gemm(
                n,
                cout,
                k,
                out.as_mut_ptr(),
                1,
                cout as isize,
                true,
                col.as_ptr(),
                1,
                k as isize,
                self.w.as_ptr(),
                1,
                cout as isize,
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

#[derive(Clone, Debug)]
struct Res {
    c1: Conv3,
    c2: Conv3,
}

impl Res {
    fn from_burn(b: &ResBlock) -> Result<Self> {
        let (c1, c2) = b.convs();
        Ok(Self {
            c1: Conv3::from_burn(c1)?,
            c2: Conv3::from_burn(c2)?,
        })
    }

    /// `x += conv2(relu(conv1(x)))` in place.
    fn apply(&self, x: &mut [f32], side: usize, tmp: &mut [f32], col: &mut Vec<f32>) {
        self.c1.apply(x, side, tmp, false, col);
        tmp.iter_mut().for_each(|v| *v = v.max(0.0));
        self.c2.apply(tmp, side, x, true, col);
    }
}

/// The inference passes of a trained [`ScaAutoencoder`].
#[derive(Clone, Debug)]
pub struct FastPasses {
    patch: usize,
    factor: usize,
    width: usize,
    groups: usize,
    code_dim: usize,
    enc_in: Conv3,
    enc: Vec<Res>,
    dec: Vec<Res>,
    dec_out: Conv3,
    /// `[G, M, F_g]`.
    projection: Vec<f32>,
}

impl FastPasses {
    /// The passes of `model` (configuration `cfg`).
    pub fn new(cfg: &ScaConfig, model: &ScaAutoencoder) -> Result<Self> {
        let (enc_in, enc, dec, dec_out) = model.layers();
        Ok(Self {
            patch: cfg.patch as usize,
            factor: cfg.factor,
            width: cfg.width,
            groups: cfg.groups,
            code_dim: cfg.code_dim,
            enc_in: Conv3::from_burn(enc_in)?,
            enc: enc.iter().map(Res::from_burn).collect::<Result<_>>()?,
            dec: dec.iter().map(Res::from_burn).collect::<Result<_>>()?,
            dec_out: Conv3::from_burn(dec_out)?,
            projection: tensor_values(model.projection.val())?,
        })
    }

    fn side(&self) -> usize {
        self.patch / self.factor
    }

    /// Dense codes of an image in `[0, 1]` (sides multiples of the patch), in the layout of
    /// [`crate::Sca::encode_dense`].
    pub fn encode(&self, img: &GrayImage) -> Result<Codes> {
        let (w, h, p) = (img.width() as usize, img.height() as usize, self.patch);
        crate::codec::check_tiling(img.width(), img.height(), p as u32)?;
        let (tx, ty) = (w / p, h / p);
        let (f, side, c, g, m) = (
            self.factor,
            self.side(),
            self.width,
            self.groups,
            self.code_dim,
        );
        let (n, ff, fg) = (side * side, f * f, c / g);
        let layout = CodeLayout {
            tiles_x: tx as u16,
            tiles_y: ty as u16,
            groups: g as u16,
            side: side as u16,
            code_dim: m as u16,
        };
        let mut values = vec![0f32; layout.values()];
        let px = img.data();
        let (mut s2d, mut a, mut tmp, mut col) = (
            vec![0f32; n * ff],
            vec![0f32; n * c],
            vec![0f32; n * c],
            Vec::new(),
        );
        for t in 0..tx * ty {
            let (ox, oy) = ((t % tx) * p, (t / tx) * p);
            // Space-to-depth: channel dy * f + dx of position (y, x) is pixel
            // (y f + dy, x f + dx), in [-1, 1].
            for y in 0..side {
                for x in 0..side {
                    for dy in 0..f {
                        for dx in 0..f {
                            let v = px[(oy + y * f + dy) * w + ox + x * f + dx];
                            s2d[(y * side + x) * ff + dy * f + dx] = v * 2.0 - 1.0;
                        }
                    }
                }
            }
            self.enc_in.apply(&s2d, side, &mut a, false, &mut col);
            for b in &self.enc {
                b.apply(&mut a, side, &mut tmp, &mut col);
            }
            for gi in 0..g {
                let out = &mut values[(t * g + gi) * n * m..(t * g + gi + 1) * n * m];
                let proj = &self.projection[gi * m * fg..(gi + 1) * m * fg];
                // SAFETY: out is [n, m]; lhs the [n, fg] block of `a` starting at column
                // gi * fg (row stride c); rhs is A_g^T: element (j, mi) at mi * fg + j.
                unsafe {
                    gemm(
                        n,
                        m,
                        fg,
                        out.as_mut_ptr(),
                        1,
                        m as isize,
                        false,
                        a.as_ptr().add(gi * fg),
                        1,
                        c as isize,
                        proj.as_ptr(),
                        fg as isize,
                        1,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                }
            }
        }
        Ok(Codes { layout, values })
    }

    /// Decode codes into an image in `[0, 1]` (clamped), as [`crate::Sca::decode`].
    pub fn decode(&self, codes: &Codes) -> Result<GrayImage> {
        let l = codes.layout;
        let (f, side, c, g, m) = (
            self.factor,
            self.side(),
            self.width,
            self.groups,
            self.code_dim,
        );
        if l.groups as usize != g
            || l.side as usize != side
            || l.code_dim as usize != m
            || codes.values.len() != l.values()
        {
            return Err(ScaError::InvalidArgument(
                "codes of another shape than the model's".into(),
            ));
        }
        let (n, ff, fg, p) = (side * side, f * f, c / g, self.patch);
        let (tx, ty) = (l.tiles_x as usize, l.tiles_y as usize);
        let w = tx * p;
        let mut px = vec![0f32; w * ty * p];
        let (mut a, mut tmp, mut o, mut col) = (
            vec![0f32; n * c],
            vec![0f32; n * c],
            vec![0f32; n * ff],
            Vec::new(),
        );
        for t in 0..tx * ty {
            for gi in 0..g {
                let z = &codes.values[(t * g + gi) * n * m..(t * g + gi + 1) * n * m];
                let proj = &self.projection[gi * m * fg..(gi + 1) * m * fg];
                // SAFETY: dst is the [n, fg] block of `a` at column gi * fg (row stride c);
                // lhs z is [n, m]; rhs A_g is [m, fg] row-major.
                unsafe {
                    gemm(
                        n,
                        fg,
                        m,
                        a.as_mut_ptr().add(gi * fg),
                        1,
                        c as isize,
                        false,
                        z.as_ptr(),
                        1,
                        m as isize,
                        proj.as_ptr(),
                        1,
                        fg as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        Parallelism::None,
                    );
                }
            }
            for b in &self.dec {
                b.apply(&mut a, side, &mut tmp, &mut col);
            }
            self.dec_out.apply(&a, side, &mut o, false, &mut col);
            let (ox, oy) = ((t % tx) * p, (t / tx) * p);
            for y in 0..side {
                for x in 0..side {
                    for dy in 0..f {
                        for dx in 0..f {
                            let v = o[(y * side + x) * ff + dy * f + dx];
                            px[(oy + y * f + dy) * w + ox + x * f + dx] =
                                ((v + 1.0) * 0.5).clamp(0.0, 1.0);
                        }
                    }
                }
            }
        }
        Ok(GrayImage::new(w as u32, (ty * p) as u32, px)?)
    }
}
