//! `privmed evaluate`: a classifier on the first `n` latents of the SYNTHETIC test split,
//! in plaintext (he-nn's f64 reference) and encrypted, with the metrics of both, the number
//! of identical predictions and the largest logit difference.

use crate::demo::{latent_tensor, read_model, stage, ParamSet, Session};
use crate::Result;
use he_nn_train::classify::{scores, Scores};
use he_nn_train::latents::{load_or_encode, Split};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

/// Settings of the evaluation.
#[derive(clap::Args, Clone, Debug)]
pub struct EvalArgs {
    /// Classifier (default: as `demo` picks it for `--params`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// CKKS parameters of the encrypted stage.
    #[arg(long, value_enum, default_value_t = ParamSet::Test)]
    pub params: ParamSet,
    /// Test samples to evaluate encrypted (the first ones of the split).
    #[arg(long, default_value_t = 16)]
    pub samples: usize,
    /// SYNTHETIC phantoms of the latent set (as in `train-classifier`; its test split).
    #[arg(long, default_value_t = 2000)]
    pub images: usize,
    /// Latent cache folder.
    #[arg(long, default_value = "runs-zoo/latents")]
    pub cache: PathBuf,
}

/// What the evaluation measured.
#[derive(Clone, Debug)]
pub struct EvalReport {
    /// Model name.
    pub model: String,
    /// Samples evaluated.
    pub samples: usize,
    /// Plaintext scores on them.
    pub plain: Scores,
    /// Encrypted scores on them.
    pub encrypted: Scores,
    /// Samples whose 14 thresholded (0.5) predictions agree.
    pub identical: usize,
    /// Largest `|encrypted - plaintext logit|`.
    pub max_logit_error: f64,
    /// Mean seconds of plaintext inference per sample.
    pub plain_seconds: f64,
    /// Mean seconds of encryption + encrypted inference + decryption per sample.
    pub encrypted_seconds: f64,
    /// Compile and key generation seconds.
    pub setup_seconds: f64,
}

/// Runs the evaluation.
pub fn run(args: &EvalArgs, mut log: impl FnMut(&str)) -> Result<EvalReport> {
    let (_, model) = read_model(args.model.as_deref(), args.params)?;
    let codec = crate::classifier_codec()?;
    let set = load_or_encode(&codec, &args.cache, args.images, |_, _| {})?;
    let test: Vec<_> = set
        .split(Split::Test)
        .into_iter()
        .take(args.samples)
        .collect();
    log(&format!(
        "{}: {} SYNTHETIC test latents",
        model.name,
        test.len()
    ));
    let mut setup = Vec::new();
    let session = Session::new(&model, args.params, &mut setup, &mut log)?;
    let (mut plain, mut enc, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    let mut plain_stages = Vec::new();
    let mut enc_stages = Vec::new();
    let pb = ProgressBar::new(test.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} encrypted")
            .expect("valid template"),
    );
    for s in &test {
        let x = latent_tensor(set.shape, &s.latent)?;
        plain.push(
            stage(&mut plain_stages, "plaintext", || Ok(model.forward(&x)?))?
                .data
                .clone(),
        );
        enc.push(session.infer(&x, &mut enc_stages)?);
        labels.push(s.label_vector());
        pb.inc(1);
    }
    pb.finish_and_clear();
    let positive = |z: &[f64]| z.iter().map(|&v| v >= 0.0).collect::<Vec<_>>();
    let n = test.len().max(1) as f64;
    let secs = |st: &[(String, f64)]| st.iter().map(|(_, t)| t).sum::<f64>() / n;
    Ok(EvalReport {
        model: model.name.clone(),
        samples: test.len(),
        plain: scores(&labels, &plain)?,
        encrypted: scores(&labels, &enc)?,
        identical: plain
            .iter()
            .zip(&enc)
            .filter(|(p, e)| positive(p) == positive(e))
            .count(),
        max_logit_error: plain
            .iter()
            .flatten()
            .zip(enc.iter().flatten())
            .map(|(p, e)| (p - e).abs())
            .fold(0.0, f64::max),
        plain_seconds: secs(&plain_stages),
        encrypted_seconds: secs(&enc_stages),
        setup_seconds: setup.iter().map(|(_, t)| t).sum(),
    })
}

fn cell(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.4}"))
}

/// The report as a markdown table.
pub fn render(r: &EvalReport) -> String {
    let row = |name: &str, s: &Scores, t: f64| {
        format!(
            "| {name} | {} | {} | {} | {} | {t:.3} |\n",
            cell(s.auroc_macro),
            cell(s.f1_micro),
            cell(s.f1_macro),
            cell(s.f1_weighted)
        )
    };
    format!(
        "{} on {} SYNTHETIC test latents\n\n| | AUROC macro | F1 micro | F1 macro | F1 weighted | s / sample |\n|---|---|---|---|---|---|\n{}{}\nidentical predictions {}/{}, max |encrypted - plaintext logit| {:.3e}, AUROC difference {:.2e}, setup (compile + keys) {:.1} s\n",
        r.model,
        r.samples,
        row("plaintext", &r.plain, r.plain_seconds),
        row("encrypted", &r.encrypted, r.encrypted_seconds),
        r.identical,
        r.samples,
        r.max_logit_error,
        (r.plain.auroc_macro.unwrap_or(0.0) - r.encrypted.auroc_macro.unwrap_or(0.0)).abs(),
        r.setup_seconds
    )
}
