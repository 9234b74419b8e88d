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

/// A 3x3 convolution (stride 1, zero padding 1) by Winograd's minimal filtering
/// F(2x2, 3x3) (Lavin and Gray, "Fast algorithms for convolutional neural networks", 2016):
/// every 2x2 block of outputs from a 4x4 block of inputs as `A^T [(G g G^T) . (B^T d B)] A`,
/// i.e. 16 products per input/output channel pair instead of 36; over all channels the 16
/// elementwise products are 16 matrix products `[blocks, c_in] x [c_in, c_out]` (`gemm`,
/// one thread), for all tiles of a batch at once. The same convolution as [`Conv3`] up to
/// the order and grouping of floating-point sums (tested: `winograd_equals_direct`).
#[derive(Clone, Debug)]
struct Wino3 {
    cin: usize,
    cout: usize,
    /// `[16, cin, cout]`: `U_xi = (G g G^T)_xi` for every channel pair, `xi = 4 r + c`.
    u: Vec<f32>,
    b: Vec<f32>,
}

impl Wino3 {
    fn new(c: &Conv3) -> Self {
        let (cin, cout) = (c.cin, c.cout);
        const G: [[f32; 3]; 4] = [
            [1.0, 0.0, 0.0],
            [0.5, 0.5, 0.5],
            [0.5, -0.5, 0.5],
            [0.0, 0.0, 1.0],
        ];
        let mut u = vec![0f32; 16 * cin * cout];
        for ci in 0..cin {
            for co in 0..cout {
                // g[ky][kx] of this channel pair (`Conv3` row (ky * 3 + kx) * cin + ci).
                let g = |ky: usize, kx: usize| c.w[((ky * 3 + kx) * cin + ci) * cout + co];
                for r in 0..4 {
                    for cc in 0..4 {
                        let mut acc = 0f32;
                        for (ky, &gr) in G[r].iter().enumerate() {
                            for (kx, &gc) in G[cc].iter().enumerate() {
                                acc += gr * g(ky, kx) * gc;
                            }
                        }
                        u[((r * 4 + cc) * cin + ci) * cout + co] = acc;
                    }
                }
            }
        }
        Self {
            cin,
            cout,
            u,
            b: c.b.clone(),
        }
    }

    /// `out = conv(x) + bias (+ out if accumulate)` on `tiles` tiles of `side x side`
    /// positions (`side` even), `x` `[tiles * side^2, cin]` and `out` `[tiles * side^2,
    /// cout]` position-major; `sc` is scratch.
    fn apply(
        &self,
        x: &[f32],
        tiles: usize,
        side: usize,
        out: &mut [f32],
        accumulate: bool,
        sc: &mut Scratch,
    ) {
        let (v, m) = (&mut sc.v, &mut sc.m);
        let (cin, cout, n) = (self.cin, self.cout, side * side);
        let half = side / 2;
        let nb = tiles * half * half;
        // Both are overwritten in full below.
        if v.len() < 16 * nb * cin {
            v.resize(16 * nb * cin, 0.0);
        }
        if m.len() < 16 * nb * cout {
            m.resize(16 * nb * cout, 0.0);
        }
        let zeros = vec![0f32; cin];
        let mut rows = vec![0f32; 16 * cin];
        // Input transform: V_xi[b] = (B^T d B)_xi, per channel.
        for t in 0..tiles {
            for by in 0..half {
                for bx in 0..half {
                    let b = (t * half + by) * half + bx;
                    let d = |r: usize, c: usize| -> &[f32] {
                        let (y, xx) = ((2 * by + r) as isize - 1, (2 * bx + c) as isize - 1);
                        if y < 0 || y >= side as isize || xx < 0 || xx >= side as isize {
                            &zeros
                        } else {
                            let p = t * n + y as usize * side + xx as usize;
                            &x[p * cin..(p + 1) * cin]
                        }
                    };
                    // B^T d: per column c, rows d0 - d2, d1 + d2, d2 - d1, d1 - d3.
                    {
                        let mut it = rows.chunks_exact_mut(cin);
                        let r: [&mut [f32]; 16] = std::array::from_fn(|_| it.next().unwrap());
                        for c in 0..4 {
                            let (d0, d1, d2, d3) = (d(0, c), d(1, c), d(2, c), d(3, c));
                            let [r0, r1, r2, r3] = [0, 1, 2, 3].map(|k| k * 4 + c);
                            let (d0, d1, d2, d3) = (&d0[..cin], &d1[..cin], &d2[..cin], &d3[..cin]);
                            for i in 0..cin {
                                r[r0][i] = d0[i] - d2[i];
                                r[r1][i] = d1[i] + d2[i];
                                r[r2][i] = d2[i] - d1[i];
                                r[r3][i] = d1[i] - d3[i];
                            }
                        }
                    }
                    // (.) B: per row r, columns s0 - s2, s1 + s2, s2 - s1, s1 - s3.
                    for r in 0..4 {
                        let s = |c: usize| &rows[(r * 4 + c) * cin..(r * 4 + c + 1) * cin];
                        let (s0, s1, s2, s3) = (s(0), s(1), s(2), s(3));
                        let at = |c: usize| ((r * 4 + c) * nb + b) * cin;
                        // (a + sign * b is exact for sign = +-1.)
                        let combos = [
                            (s0, s2, -1.0),
                            (s1, s2, 1.0),
                            (s2, s1, -1.0),
                            (s1, s3, -1.0),
                        ];
                        for (c, (a, bb, sign)) in combos.into_iter().enumerate() {
                            let o = &mut v[at(c)..at(c) + cin];
                            for ((o, a), bb) in o.iter_mut().zip(a).zip(bb) {
                                *o = a + sign * bb;
                            }
                        }
                    }
                }
            }
        }
        for xi in 0..16 {
            // SAFETY: m_xi is [nb, cout], v_xi [nb, cin], u_xi [cin, cout], all row-major,
            // inside their buffers and not overlapping.
            unsafe {
                gemm(
                    nb,
                    cout,
                    cin,
                    m.as_mut_ptr().add(xi * nb * cout),
                    1,
                    cout as isize,
                    false,
                    v.as_ptr().add(xi * nb * cin),
                    1,
                    cin as isize,
                    self.u.as_ptr().add(xi * cin * cout),
                    1,
                    cout as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        }
        // Output transform: the 2x2 block A^T M A, plus the bias. Per block, first A^T M
        // (rows 0 + 1 + 2 and 1 - 2 - 3, for each of the 4 columns) into `rows`.
        rows.resize(16 * cin.max(cout), 0.0);
        for t in 0..tiles {
            for by in 0..half {
                for bx in 0..half {
                    let b = (t * half + by) * half + bx;
                    let mv = |xi: usize| &m[(xi * nb + b) * cout..(xi * nb + b + 1) * cout];
                    {
                        let mut it = rows.chunks_exact_mut(cout);
                        let mut q: [&mut [f32]; 8] = std::array::from_fn(|_| it.next().unwrap());
                        for c in 0..4 {
                            let (m0, m1, m2, m3) = (mv(c), mv(4 + c), mv(8 + c), mv(12 + c));
                            let (q0, q1) = q.split_at_mut(4);
                            let (q0, q1) = (&mut q0[c][..cout], &mut q1[c][..cout]);
                            for i in 0..cout {
                                q0[i] = m0[i] + m1[i] + m2[i];
                                q1[i] = m1[i] - m2[i] - m3[i];
                            }
                        }
                    }
                    // Then (.) A: columns 0 + 1 + 2 and 1 - 2 - 3; outputs (2 by + i, 2 bx + j).
                    let p0 = t * n + 2 * by * side + 2 * bx;
                    for i in 0..2 {
                        let q = |c: usize| &rows[(i * 4 + c) * cout..(i * 4 + c + 1) * cout];
                        let (q0, q1, q2, q3) = (q(0), q(1), q(2), q(3));
                        for j in 0..2 {
                            let o = &mut out
                                [(p0 + i * side + j) * cout..(p0 + i * side + j + 1) * cout];
                            let bias = &self.b[..cout];
                            for k in 0..cout {
                                let y = if j == 0 {
                                    q0[k] + q1[k] + q2[k]
                                } else {
                                    q1[k] - q2[k] - q3[k]
                                };
                                o[k] = if accumulate {
                                    o[k] + bias[k] + y
                                } else {
                                    bias[k] + y
                                };
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Scratch buffers of a batch pass.
#[derive(Default)]
struct Scratch {
    col: Vec<f32>,
    v: Vec<f32>,
    m: Vec<f32>,
}

/// A 3x3 convolution applied to a batch of tiles: by Winograd F(2x2, 3x3) where the tile
/// side is even, else directly tile by tile.
#[derive(Clone, Debug)]
struct Conv {
    direct: Conv3,
    wino: Option<Wino3>,
}

impl Conv {
    fn new(c: &Conv2d, side: usize) -> Result<Self> {
        let direct = Conv3::from_burn(c)?;
        let wino = (side.is_multiple_of(2)).then(|| Wino3::new(&direct));
        Ok(Self { direct, wino })
    }

    /// `out = conv(x) + bias (+ out if accumulate)` on `tiles` tiles, position-major.
    fn apply(
        &self,
        x: &[f32],
        tiles: usize,
        side: usize,
        out: &mut [f32],
        accumulate: bool,
        sc: &mut Scratch,
    ) {
        match &self.wino {
            Some(w) => w.apply(x, tiles, side, out, accumulate, sc),
            None => {
                let n = side * side;
                let (ci, co) = (self.direct.cin, self.direct.cout);
                for t in 0..tiles {
                    self.direct.apply(
                        &x[t * n * ci..(t + 1) * n * ci],
                        side,
                        &mut out[t * n * co..(t + 1) * n * co],
                        accumulate,
                        &mut sc.col,
                    );
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
struct Res {
    c1: Conv,
    c2: Conv,
}

impl Res {
    fn from_burn(b: &ResBlock, side: usize) -> Result<Self> {
        let (c1, c2) = b.convs();
        Ok(Self {
            c1: Conv::new(c1, side)?,
            c2: Conv::new(c2, side)?,
        })
    }

    /// `x += conv2(relu(conv1(x)))` in place, on `tiles` tiles.
    fn apply(&self, x: &mut [f32], tiles: usize, side: usize, tmp: &mut [f32], sc: &mut Scratch) {
        self.c1.apply(x, tiles, side, tmp, false, sc);
        tmp.iter_mut().for_each(|v| *v = v.max(0.0));
        self.c2.apply(tmp, tiles, side, x, true, sc);
    }
}

/// Tiles per batch of the passes: large enough for long matrix products, small enough for
/// the Winograd buffers (16 x 64 blocks x 64 channels x 4 bytes = 256 KiB per tile and
/// buffer) to stay in cache.
const BATCH_TILES: usize = 4;

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
        let side = cfg.patch as usize / cfg.factor.max(1);
        Ok(Self {
            patch: cfg.patch as usize,
            factor: cfg.factor,
            width: cfg.width,
            groups: cfg.groups,
            code_dim: cfg.code_dim,
            enc_in: Conv3::from_burn(enc_in)?,
            enc: enc
                .iter()
                .map(|b| Res::from_burn(b, side))
                .collect::<Result<_>>()?,
            dec: dec
                .iter()
                .map(|b| Res::from_burn(b, side))
                .collect::<Result<_>>()?,
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
        let mut all = self.encode_all(std::slice::from_ref(img))?;
        Ok(all.remove(0))
    }

    /// [`encode`](Self::encode) of several images of the same size, their tiles in batches
    /// of [`BATCH_TILES`].
    pub fn encode_all(&self, imgs: &[GrayImage]) -> Result<Vec<Codes>> {
        let first = imgs
            .first()
            .ok_or_else(|| ScaError::InvalidArgument("no image to encode".into()))?;
        let (w, h, p) = (first.width() as usize, first.height() as usize, self.patch);
        crate::codec::check_tiling(first.width(), first.height(), p as u32)?;
        if imgs
            .iter()
            .any(|i| (i.width(), i.height()) != (first.width(), first.height()))
        {
            return Err(ScaError::InvalidArgument(
                "images of different sizes in one batch".into(),
            ));
        }
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
        let per_image = tx * ty;
        let total = per_image * imgs.len();
        let mut out: Vec<Vec<f32>> = imgs.iter().map(|_| vec![0f32; layout.values()]).collect();
        let bt = BATCH_TILES.min(total);
        let (mut s2d, mut a, mut tmp, mut sc) = (
            vec![0f32; n * ff],
            vec![0f32; bt * n * c],
            vec![0f32; bt * n * c],
            Scratch::default(),
        );
        for start in (0..total).step_by(bt) {
            let count = bt.min(total - start);
            for k in 0..count {
                let (im, t) = ((start + k) / per_image, (start + k) % per_image);
                let px = imgs[im].data();
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
                self.enc_in.apply(
                    &s2d,
                    side,
                    &mut a[k * n * c..(k + 1) * n * c],
                    false,
                    &mut sc.col,
                );
            }
            for b in &self.enc {
                b.apply(
                    &mut a[..count * n * c],
                    count,
                    side,
                    &mut tmp[..count * n * c],
                    &mut sc,
                );
            }
            for k in 0..count {
                let (im, t) = ((start + k) / per_image, (start + k) % per_image);
                let ak = &a[k * n * c..(k + 1) * n * c];
                for gi in 0..g {
                    let dst = &mut out[im][(t * g + gi) * n * m..(t * g + gi + 1) * n * m];
                    let proj = &self.projection[gi * m * fg..(gi + 1) * m * fg];
                    // SAFETY: dst is [n, m]; lhs the [n, fg] block of `ak` starting at column
                    // gi * fg (row stride c); rhs is A_g^T: element (j, mi) at mi * fg + j.
                    unsafe {
                        gemm(
                            n,
                            m,
                            fg,
                            dst.as_mut_ptr(),
                            1,
                            m as isize,
                            false,
                            ak.as_ptr().add(gi * fg),
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
        }
        Ok(out
            .into_iter()
            .map(|values| Codes { layout, values })
            .collect())
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
        let total = tx * ty;
        let bt = BATCH_TILES.min(total.max(1));
        let mut px = vec![0f32; w * ty * p];
        let (mut a, mut tmp, mut o, mut sc) = (
            vec![0f32; bt * n * c],
            vec![0f32; bt * n * c],
            vec![0f32; n * ff],
            Scratch::default(),
        );
        for start in (0..total).step_by(bt) {
            let count = bt.min(total - start);
            for k in 0..count {
                let t = start + k;
                let ak = &mut a[k * n * c..(k + 1) * n * c];
                for gi in 0..g {
                    let z = &codes.values[(t * g + gi) * n * m..(t * g + gi + 1) * n * m];
                    let proj = &self.projection[gi * m * fg..(gi + 1) * m * fg];
                    // SAFETY: dst is the [n, fg] block of `ak` at column gi * fg (row stride
                    // c); lhs z is [n, m]; rhs A_g is [m, fg] row-major.
                    unsafe {
                        gemm(
                            n,
                            fg,
                            m,
                            ak.as_mut_ptr().add(gi * fg),
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
            }
            for b in &self.dec {
                b.apply(
                    &mut a[..count * n * c],
                    count,
                    side,
                    &mut tmp[..count * n * c],
                    &mut sc,
                );
            }
            for k in 0..count {
                let t = start + k;
                self.dec_out.apply(
                    &a[k * n * c..(k + 1) * n * c],
                    side,
                    &mut o,
                    false,
                    &mut sc.col,
                );
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
        }
        Ok(GrayImage::new(w as u32, (ty * p) as u32, px)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn conv(cin: usize, cout: usize, seed: u64) -> Conv3 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Conv3 {
            cin,
            cout,
            w: (0..9 * cin * cout)
                .map(|_| rng.gen_range(-0.2..0.2))
                .collect(),
            b: (0..cout).map(|_| rng.gen_range(-0.5..0.5)).collect(),
        }
    }

    /// Winograd F(2x2, 3x3) on a batch of tiles is the direct convolution of every tile
    /// (zero padding at every tile border), with and without accumulation.
    #[test]
    fn winograd_equals_direct() {
        let (cin, cout, side, tiles) = (8, 16, 6, 3);
        let c = conv(cin, cout, 1);
        let w = Wino3::new(&c);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let n = side * side;
        let x: Vec<f32> = (0..tiles * n * cin)
            .map(|_| rng.gen_range(-1.0..1.0))
            .collect();
        let init: Vec<f32> = (0..tiles * n * cout)
            .map(|_| rng.gen_range(-1.0..1.0))
            .collect();
        for accumulate in [false, true] {
            let mut want = init.clone();
            let mut col = Vec::new();
            for t in 0..tiles {
                c.apply(
                    &x[t * n * cin..(t + 1) * n * cin],
                    side,
                    &mut want[t * n * cout..(t + 1) * n * cout],
                    accumulate,
                    &mut col,
                );
            }
            let mut got = init.clone();
            w.apply(
                &x,
                tiles,
                side,
                &mut got,
                accumulate,
                &mut Scratch::default(),
            );
            let err = want
                .iter()
                .zip(&got)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(err < 1e-5, "accumulate {accumulate}: max error {err}");
            // Not trivially equal: the outputs vary.
            assert!(want.iter().any(|v| (v - want[0]).abs() > 0.1));
        }
    }
}
