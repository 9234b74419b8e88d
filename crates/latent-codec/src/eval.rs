//! Evaluation: PSNR, SSIM, MAE (`med_data::metrics`, data range 1 on `[0, 1]` images),
//! codebook usage and single-image encode/decode time.

use std::time::Instant;

use med_data::metrics::image_metrics;

use crate::codec::Codec;
use crate::data::EvalImage;
use crate::error::Result;
use crate::train::perplexity;

/// Metrics of one image.
#[derive(Clone, Debug)]
pub struct ImageResult {
    /// Identifier.
    pub id: String,
    /// PSNR in dB.
    pub psnr: f64,
    /// SSIM.
    pub ssim: f64,
    /// Mean absolute error on `[0, 1]`.
    pub mae: f64,
}

/// Summary over a set of images.
#[derive(Clone, Debug)]
pub struct SetResult {
    /// Per image.
    pub images: Vec<ImageResult>,
    /// Mean PSNR.
    pub psnr: f64,
    /// Mean SSIM.
    pub ssim: f64,
    /// Mean MAE.
    pub mae: f64,
    /// Distinct codes used over the set.
    pub codes_used: usize,
    /// Perplexity of the codes over the set.
    pub perplexity: f64,
    /// Median encode time per image, milliseconds.
    pub encode_ms: f64,
    /// Median decode time per image, milliseconds.
    pub decode_ms: f64,
}

impl SetResult {
    /// The Markdown table cells `images | PSNR | SSIM | MAE | codes | perplexity | encode ms |
    /// decode ms` shared by the binaries' reports.
    pub fn table_cells(&self) -> String {
        format!(
            "{} | {:.2} | {:.4} | {:.4} | {} | {:.1} | {:.1} | {:.1}",
            self.images.len(),
            self.psnr,
            self.ssim,
            self.mae,
            self.codes_used,
            self.perplexity,
            self.encode_ms,
            self.decode_ms
        )
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Encode and decode each image, score the reconstruction, time both halves.
pub fn evaluate(codec: &Codec, images: &[EvalImage]) -> Result<SetResult> {
    let mut out = Vec::new();
    let mut hist = vec![0u64; codec.config().codebook_size];
    let (mut enc, mut dec) = (Vec::new(), Vec::new());
    for e in images {
        let t = Instant::now();
        let latent = codec.encode(&e.image)?;
        enc.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let rec = codec.decode(&latent)?;
        dec.push(t.elapsed().as_secs_f64() * 1e3);
        latent
            .codes
            .indices
            .iter()
            .for_each(|&i| hist[i as usize] += 1);
        let m = image_metrics(&e.image, &rec, 1.0)?;
        out.push(ImageResult {
            id: e.id.clone(),
            psnr: m.psnr,
            ssim: m.ssim,
            mae: m.mae,
        });
    }
    let n = out.len().max(1) as f64;
    Ok(SetResult {
        psnr: out.iter().map(|r| r.psnr).sum::<f64>() / n,
        ssim: out.iter().map(|r| r.ssim).sum::<f64>() / n,
        mae: out.iter().map(|r| r.mae).sum::<f64>() / n,
        codes_used: hist.iter().filter(|&&c| c > 0).count(),
        perplexity: perplexity(&hist),
        encode_ms: median(enc),
        decode_ms: median(dec),
        images: out,
    })
}
