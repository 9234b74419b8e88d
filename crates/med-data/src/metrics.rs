//! Image-quality and classification metrics.
//!
//! Image metrics compare a *reference* with a *test* image of the same size:
//! MSE, RMSE, MAE, ME (mean signed error, `mean(test - reference)`), PSNR
//! (`10 log10(range^2 / MSE)`, infinite for identical images) and SSIM as defined by
//! Wang, Bovik, Sheikh and Simoncelli (IEEE TIP 2004): 11x11 Gaussian window with
//! sigma 1.5, `K1 = 0.01`, `K2 = 0.03`, averaged over every position where the window
//! fits inside the image (the "valid" region, as in the authors' reference code and in
//! scikit-image's `structural_similarity(..., gaussian_weights=True, sigma=1.5,
//! use_sample_covariance=False)`).
//!
//! Classification metrics take one row of `C` values per sample (labels 0/1, scores
//! any real number). AUROC is the Mann-Whitney statistic with tied scores counted as
//! one half (average ranks); a class whose labels are all equal has no AUROC and is
//! left out of the averages. F1 uses `score >= threshold` as a positive prediction and
//! counts 0/0 as 0 (scikit-learn's `zero_division=0`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::image::GrayImage;

fn check_same(a: &GrayImage, b: &GrayImage) -> Result<()> {
    if a.width() != b.width() || a.height() != b.height() {
        return Err(Error::InvalidArgument(format!(
            "images differ in size: {}x{} vs {}x{}",
            a.width(),
            a.height(),
            b.width(),
            b.height()
        )));
    }
    Ok(())
}

/// Mean squared error.
pub fn mse(reference: &GrayImage, test: &GrayImage) -> Result<f64> {
    check_same(reference, test)?;
    let n = reference.data().len() as f64;
    Ok(reference
        .data()
        .iter()
        .zip(test.data())
        .map(|(&a, &b)| {
            let d = b as f64 - a as f64;
            d * d
        })
        .sum::<f64>()
        / n)
}

/// Root mean squared error.
pub fn rmse(reference: &GrayImage, test: &GrayImage) -> Result<f64> {
    mse(reference, test).map(f64::sqrt)
}

/// Mean absolute error.
pub fn mae(reference: &GrayImage, test: &GrayImage) -> Result<f64> {
    check_same(reference, test)?;
    let n = reference.data().len() as f64;
    Ok(reference
        .data()
        .iter()
        .zip(test.data())
        .map(|(&a, &b)| (b as f64 - a as f64).abs())
        .sum::<f64>()
        / n)
}

/// Mean signed error, `mean(test - reference)`.
pub fn me(reference: &GrayImage, test: &GrayImage) -> Result<f64> {
    check_same(reference, test)?;
    let n = reference.data().len() as f64;
    Ok(reference
        .data()
        .iter()
        .zip(test.data())
        .map(|(&a, &b)| b as f64 - a as f64)
        .sum::<f64>()
        / n)
}

/// Peak signal-to-noise ratio in dB for images whose values span `data_range`
/// (1 for `[0, 1]`, 2 for `[-1, 1]`, 255 for 8-bit). Infinite when the images are equal.
pub fn psnr(reference: &GrayImage, test: &GrayImage, data_range: f64) -> Result<f64> {
    if !(data_range > 0.0 && data_range.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "data range must be positive, got {data_range}"
        )));
    }
    let m = mse(reference, test)?;
    Ok(if m == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (data_range * data_range / m).log10()
    })
}

/// Side of the SSIM window.
pub const SSIM_WINDOW: usize = 11;
/// Standard deviation of the SSIM Gaussian window.
pub const SSIM_SIGMA: f64 = 1.5;

fn gaussian_kernel() -> [f64; SSIM_WINDOW] {
    let mut k = [0.0; SSIM_WINDOW];
    let r = (SSIM_WINDOW / 2) as f64;
    for (i, v) in k.iter_mut().enumerate() {
        let x = i as f64 - r;
        *v = (-x * x / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp();
    }
    let s: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

/// Separable "valid" Gaussian filtering of a `w x h` field.
fn filter_valid(src: &[f64], w: usize, h: usize, k: &[f64; SSIM_WINDOW]) -> Vec<f64> {
    let ow = w + 1 - SSIM_WINDOW;
    let oh = h + 1 - SSIM_WINDOW;
    let mut tmp = vec![0.0; ow * h];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for x in 0..ow {
            tmp[y * ow + x] = k
                .iter()
                .zip(&row[x..x + SSIM_WINDOW])
                .map(|(a, b)| a * b)
                .sum();
        }
    }
    let mut out = vec![0.0; ow * oh];
    for y in 0..oh {
        for x in 0..ow {
            out[y * ow + x] = k
                .iter()
                .enumerate()
                .map(|(i, kv)| kv * tmp[(y + i) * ow + x])
                .sum();
        }
    }
    out
}

/// The SSIM map over the valid region (`(w - 10) x (h - 10)` values).
pub fn ssim_map(reference: &GrayImage, test: &GrayImage, data_range: f64) -> Result<GrayImage> {
    let (w, h, map) = ssim_values(reference, test, data_range)?;
    GrayImage::new(w, h, map.into_iter().map(|v| v as f32).collect())
}

fn ssim_values(
    reference: &GrayImage,
    test: &GrayImage,
    data_range: f64,
) -> Result<(u32, u32, Vec<f64>)> {
    check_same(reference, test)?;
    let (w, h) = (reference.width() as usize, reference.height() as usize);
    if w < SSIM_WINDOW || h < SSIM_WINDOW {
        return Err(Error::ImageTooSmall {
            path: None,
            width: w as u32,
            height: h as u32,
            required_width: SSIM_WINDOW as u32,
            required_height: SSIM_WINDOW as u32,
        });
    }
    if !(data_range > 0.0 && data_range.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "data range must be positive, got {data_range}"
        )));
    }
    let k = gaussian_kernel();
    let a: Vec<f64> = reference.data().iter().map(|&v| v as f64).collect();
    let b: Vec<f64> = test.data().iter().map(|&v| v as f64).collect();
    let aa: Vec<f64> = a.iter().map(|v| v * v).collect();
    let bb: Vec<f64> = b.iter().map(|v| v * v).collect();
    let ab: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    let mu_a = filter_valid(&a, w, h, &k);
    let mu_b = filter_valid(&b, w, h, &k);
    let e_aa = filter_valid(&aa, w, h, &k);
    let e_bb = filter_valid(&bb, w, h, &k);
    let e_ab = filter_valid(&ab, w, h, &k);
    let c1 = (0.01 * data_range).powi(2);
    let c2 = (0.03 * data_range).powi(2);
    let map: Vec<f64> = (0..mu_a.len())
        .map(|i| {
            let (ma, mb) = (mu_a[i], mu_b[i]);
            let va = e_aa[i] - ma * ma;
            let vb = e_bb[i] - mb * mb;
            let cov = e_ab[i] - ma * mb;
            ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
        })
        .collect();
    Ok((
        (w + 1 - SSIM_WINDOW) as u32,
        (h + 1 - SSIM_WINDOW) as u32,
        map,
    ))
}

/// Mean SSIM (Wang et al. 2004) for images whose values span `data_range`.
pub fn ssim(reference: &GrayImage, test: &GrayImage, data_range: f64) -> Result<f64> {
    let (_, _, map) = ssim_values(reference, test, data_range)?;
    Ok(map.iter().sum::<f64>() / map.len() as f64)
}

/// All image metrics at once.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageMetrics {
    /// PSNR in dB.
    pub psnr: f64,
    /// Mean SSIM.
    pub ssim: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Mean signed error (test - reference).
    pub me: f64,
    /// Root mean squared error.
    pub rmse: f64,
}

/// Compute [`ImageMetrics`] for two images whose values span `data_range`.
pub fn image_metrics(
    reference: &GrayImage,
    test: &GrayImage,
    data_range: f64,
) -> Result<ImageMetrics> {
    Ok(ImageMetrics {
        psnr: psnr(reference, test, data_range)?,
        ssim: ssim(reference, test, data_range)?,
        mae: mae(reference, test)?,
        me: me(reference, test)?,
        rmse: rmse(reference, test)?,
    })
}

/// Binary AUROC of `scores` against 0/1 `labels` (label > 0.5 is positive), with
/// ties counted as one half. `None` when all labels are equal (AUROC undefined).
pub fn auroc(labels: &[f32], scores: &[f32]) -> Result<Option<f64>> {
    if labels.len() != scores.len() {
        return Err(Error::InvalidArgument(format!(
            "{} labels but {} scores",
            labels.len(),
            scores.len()
        )));
    }
    if scores.iter().any(|s| s.is_nan()) {
        return Err(Error::InvalidArgument("NaN score".into()));
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&i, &j| scores[i].total_cmp(&scores[j]));
    // Sum of (average) ranks of the positives.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k] > 0.5 {
                rank_sum += avg_rank;
            }
        }
        i = j + 1;
    }
    let pos = labels.iter().filter(|&&l| l > 0.5).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return Ok(None);
    }
    Ok(Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)))
}

/// Per-class scores and their averages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Averaged {
    /// One value per class (`None` where undefined).
    pub per_class: Vec<Option<f64>>,
    /// Pooled over all (sample, class) pairs.
    pub micro: Option<f64>,
    /// Unweighted mean of the defined per-class values.
    pub macro_avg: Option<f64>,
    /// Mean of the defined per-class values weighted by the number of positives.
    pub weighted: Option<f64>,
    /// Positives per class.
    pub support: Vec<usize>,
}

fn columns<T: AsRef<[f32]>>(rows: &[T], what: &str) -> Result<usize> {
    let c = rows.first().map(|r| r.as_ref().len()).unwrap_or(0);
    if rows.is_empty() || c == 0 {
        return Err(Error::InvalidArgument(format!(
            "{what}: no samples or no classes"
        )));
    }
    if rows.iter().any(|r| r.as_ref().len() != c) {
        return Err(Error::InvalidArgument(format!(
            "{what}: rows of different lengths"
        )));
    }
    Ok(c)
}

fn check_shapes<T: AsRef<[f32]>, U: AsRef<[f32]>>(labels: &[T], scores: &[U]) -> Result<usize> {
    let c = columns(labels, "labels")?;
    let c2 = columns(scores, "scores")?;
    if c != c2 || labels.len() != scores.len() {
        return Err(Error::InvalidArgument(format!(
            "labels are {}x{c} but scores are {}x{c2}",
            labels.len(),
            scores.len()
        )));
    }
    Ok(c)
}

fn average(per_class: &[Option<f64>], support: &[usize]) -> (Option<f64>, Option<f64>) {
    let defined: Vec<(f64, usize)> = per_class
        .iter()
        .zip(support)
        .filter_map(|(v, &s)| v.map(|v| (v, s)))
        .collect();
    if defined.is_empty() {
        return (None, None);
    }
    let macro_avg = defined.iter().map(|(v, _)| v).sum::<f64>() / defined.len() as f64;
    let total: usize = defined.iter().map(|(_, s)| s).sum();
    let weighted =
        (total > 0).then(|| defined.iter().map(|(v, s)| v * *s as f64).sum::<f64>() / total as f64);
    (Some(macro_avg), weighted)
}

/// Multi-label AUROC: per class, micro (all pairs pooled), macro and
/// support-weighted averages over the classes where it is defined.
pub fn multilabel_auroc<T: AsRef<[f32]>, U: AsRef<[f32]>>(
    labels: &[T],
    scores: &[U],
) -> Result<Averaged> {
    let c = check_shapes(labels, scores)?;
    let mut per_class = Vec::with_capacity(c);
    let mut support = Vec::with_capacity(c);
    for k in 0..c {
        let l: Vec<f32> = labels.iter().map(|r| r.as_ref()[k]).collect();
        let s: Vec<f32> = scores.iter().map(|r| r.as_ref()[k]).collect();
        support.push(l.iter().filter(|&&v| v > 0.5).count());
        per_class.push(auroc(&l, &s)?);
    }
    let all_l: Vec<f32> = labels
        .iter()
        .flat_map(|r| r.as_ref().iter().copied())
        .collect();
    let all_s: Vec<f32> = scores
        .iter()
        .flat_map(|r| r.as_ref().iter().copied())
        .collect();
    let micro = auroc(&all_l, &all_s)?;
    let (macro_avg, weighted) = average(&per_class, &support);
    Ok(Averaged {
        per_class,
        micro,
        macro_avg,
        weighted,
        support,
    })
}

fn f1_from(tp: usize, fp: usize, fn_: usize) -> f64 {
    let d = 2 * tp + fp + fn_;
    if d == 0 {
        0.0
    } else {
        2.0 * tp as f64 / d as f64
    }
}

/// Multi-label F1 at `threshold` (`score >= threshold` is positive): per class,
/// micro (pooled counts), macro and support-weighted. 0/0 counts as 0.
pub fn multilabel_f1<T: AsRef<[f32]>, U: AsRef<[f32]>>(
    labels: &[T],
    scores: &[U],
    threshold: f32,
) -> Result<Averaged> {
    let c = check_shapes(labels, scores)?;
    let mut per_class = Vec::with_capacity(c);
    let mut support = Vec::with_capacity(c);
    let (mut ttp, mut tfp, mut tfn) = (0, 0, 0);
    for k in 0..c {
        let (mut tp, mut fp, mut fn_) = (0, 0, 0);
        for (l, s) in labels.iter().zip(scores) {
            let y = l.as_ref()[k] > 0.5;
            let p = s.as_ref()[k] >= threshold;
            match (y, p) {
                (true, true) => tp += 1,
                (false, true) => fp += 1,
                (true, false) => fn_ += 1,
                (false, false) => {}
            }
        }
        ttp += tp;
        tfp += fp;
        tfn += fn_;
        support.push(tp + fn_);
        per_class.push(Some(f1_from(tp, fp, fn_)));
    }
    let (macro_avg, weighted) = average(&per_class, &support);
    let total_support: usize = support.iter().sum();
    Ok(Averaged {
        per_class,
        micro: Some(f1_from(ttp, tfp, tfn)),
        macro_avg,
        // scikit-learn: weighted average is 0 when there are no positives at all.
        weighted: if total_support == 0 {
            Some(0.0)
        } else {
            weighted
        },
        support,
    })
}

/// Fraction of samples whose whole predicted label vector (`score >= threshold`)
/// equals the true one.
pub fn subset_accuracy<T: AsRef<[f32]>, U: AsRef<[f32]>>(
    labels: &[T],
    scores: &[U],
    threshold: f32,
) -> Result<f64> {
    check_shapes(labels, scores)?;
    let hits = labels
        .iter()
        .zip(scores)
        .filter(|(l, s)| {
            l.as_ref()
                .iter()
                .zip(s.as_ref())
                .all(|(&y, &p)| (y > 0.5) == (p >= threshold))
        })
        .count();
    Ok(hits as f64 / labels.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_window_is_normalised_and_symmetric() {
        let k = gaussian_kernel();
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for i in 0..SSIM_WINDOW {
            assert_eq!(k[i], k[SSIM_WINDOW - 1 - i]);
        }
        assert!(k[5] > k[4] && k[4] > k[0]);
    }

    #[test]
    fn valid_filter_keeps_constants() {
        let k = gaussian_kernel();
        let out = filter_valid(&[2.5; 13 * 12], 13, 12, &k);
        assert_eq!(out.len(), 3 * 2);
        assert!(out.iter().all(|v| (v - 2.5).abs() < 1e-12));
    }
}
