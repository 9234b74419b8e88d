//! `privmed evaluate`: a classifier on the first `n` latents of the SYNTHETIC test split,
//! in plaintext (he-nn's f64 reference) and encrypted, with the metrics of both, the number
//! of identical predictions and the largest logit difference.
//!
//! `--batch B` packs `B` latents into one ciphertext (he-nn's SIMD batching: one encrypted
//! inference serves `B` samples). `--records FILE` appends every evaluated sample to a JSON
//! lines file and skips the samples already there for the same model and parameters, so a
//! long evaluation (ResNet-20 + SE at N = 2^16 takes minutes per sample) can be stopped and
//! resumed; the report covers every recorded sample. Each run draws fresh keys; a sample's
//! encrypted logits do not depend on which keys encrypted it beyond the CKKS error.

use crate::demo::{latent_tensor, parameters, read_model, stage, ParamSet, Session};
use crate::{PrivmedError, Result};
use he_nn_train::classify::{scores, Scores};
use he_nn_train::latents::{load_or_encode, LatentSample, Split};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Settings of the evaluation.
#[derive(clap::Args, Clone, Debug)]
pub struct EvalArgs {
    /// Classifier (default: as `demo` picks it for `--params`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// CKKS parameters of the encrypted stage.
    #[arg(long, value_enum, default_value_t = ParamSet::Test)]
    pub params: ParamSet,
    /// Test samples to evaluate encrypted (the first ones of the split; more than the split
    /// holds evaluates the whole split).
    #[arg(long, default_value_t = 16)]
    pub samples: usize,
    /// Latents packed into one ciphertext (SIMD batching).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// JSON lines file of evaluated samples: appended to, and read to skip what is done.
    #[arg(long)]
    pub records: Option<PathBuf>,
    /// SYNTHETIC phantoms of the latent set (as in `train-classifier`; its test split).
    #[arg(long, default_value_t = 2000)]
    pub images: usize,
    /// Latent cache folder.
    #[arg(long, default_value = "runs-zoo/latents")]
    pub cache: PathBuf,
    /// VQGAN weight file whose latents the model was trained on (default: the codec of the
    /// shipped classifiers, as in `train-classifier`); checked against the codec the model
    /// file names.
    #[arg(long)]
    pub codec: Option<PathBuf>,
}

/// One evaluated test sample: a line of the `--records` file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// Model name.
    pub model: String,
    /// CKKS parameter set name.
    pub params: String,
    /// Position in the SYNTHETIC test split.
    pub index: usize,
    /// Plaintext logits (he-nn's f64 reference).
    pub plain: Vec<f64>,
    /// Decrypted logits.
    pub encrypted: Vec<f64>,
    /// Seconds of plaintext inference.
    pub plain_seconds: f64,
    /// Seconds of encryption + encrypted inference + decryption, this sample's share of its
    /// batch.
    pub encrypted_seconds: f64,
    /// Inputs in the ciphertext this sample was evaluated in.
    pub batch: usize,
}

/// What the evaluation measured.
#[derive(Clone, Debug)]
pub struct EvalReport {
    /// Model name.
    pub model: String,
    /// Samples evaluated.
    pub samples: usize,
    /// Of them, read from the records file (evaluated by an earlier run).
    pub resumed: usize,
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
    /// Compile and key generation seconds of this run (0 when every sample was recorded).
    pub setup_seconds: f64,
}

/// The records of `model` at `params` in `path` (none when it does not exist), by index.
fn read_records(path: &Path, model: &str, params: &str) -> Result<BTreeMap<usize, SampleRecord>> {
    let err = |detail: String| PrivmedError::Records {
        path: path.to_path_buf(),
        detail,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(err(e.to_string())),
    };
    let mut out = BTreeMap::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let r: SampleRecord =
            serde_json::from_str(line).map_err(|e| err(format!("line {}: {e}", n + 1)))?;
        if r.model == model && r.params == params {
            out.insert(r.index, r);
        }
    }
    Ok(out)
}

/// Appends `records` to `path`, one JSON object per line, flushed before returning.
fn append_records(path: &Path, records: &[SampleRecord]) -> Result<()> {
    let err = |e: std::io::Error| PrivmedError::Records {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    let mut text = String::new();
    for r in records {
        text += &serde_json::to_string(r).expect("records serialize");
        text.push('\n');
    }
    f.write_all(text.as_bytes()).map_err(err)?;
    f.flush().map_err(err)
}

/// Evaluates `todo` (indices into `test`) `args.batch` at a time, appending each batch's
/// records to the records file as soon as it is decrypted.
fn evaluate_samples(
    args: &EvalArgs,
    model: &he_nn::Model,
    params: &str,
    test: &[&LatentSample],
    shape: [usize; 3],
    todo: &[usize],
    log: &mut impl FnMut(&str),
) -> Result<(Vec<SampleRecord>, f64)> {
    let mut setup = Vec::new();
    let session = Session::new(model, args.params, args.batch, &mut setup, &mut *log)?;
    let pb = ProgressBar::new(todo.len() as u64);
    pb.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} encrypted (eta {eta})",
        )
        .expect("valid template"),
    );
    let mut out = Vec::new();
    for chunk in todo.chunks(args.batch) {
        let xs = chunk
            .iter()
            .map(|&i| latent_tensor(shape, &test[i].latent))
            .collect::<Result<Vec<_>>>()?;
        let mut batch = Vec::new();
        for (&index, x) in chunk.iter().zip(&xs) {
            let mut t = Vec::new();
            let plain = stage(&mut t, "plaintext", || Ok(model.forward(x)?))?.data;
            batch.push(SampleRecord {
                model: model.name.clone(),
                params: params.to_string(),
                index,
                plain,
                encrypted: Vec::new(),
                plain_seconds: t[0].1,
                encrypted_seconds: 0.0,
                batch: chunk.len(),
            });
        }
        let mut t = Vec::new();
        let logits = session.infer_batch(&xs, &mut t)?;
        let share = t.iter().map(|(_, s)| s).sum::<f64>() / chunk.len() as f64;
        for (r, z) in batch.iter_mut().zip(logits) {
            r.encrypted = z;
            r.encrypted_seconds = share;
        }
        if let Some(path) = &args.records {
            append_records(path, &batch)?;
        }
        out.extend(batch);
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    Ok((out, setup.iter().map(|(_, t)| t).sum()))
}

/// Runs the evaluation.
pub fn run(args: &EvalArgs, mut log: impl FnMut(&str)) -> Result<EvalReport> {
    let (_, model) = read_model(args.model.as_deref(), args.params)?;
    let params = parameters(args.params)?.0.name().to_string();
    let codec = crate::codec_for(&model, args.codec.as_deref())?;
    let set = load_or_encode(&codec, &args.cache, args.images, |_, _| {})?;
    let test: Vec<_> = set
        .split(Split::Test)
        .into_iter()
        .take(args.samples)
        .collect();
    let mut done = match &args.records {
        Some(path) => read_records(path, &model.name, &params)?,
        None => BTreeMap::new(),
    };
    done.retain(|&i, _| i < test.len());
    let resumed = done.len();
    let todo: Vec<usize> = (0..test.len()).filter(|i| !done.contains_key(i)).collect();
    log(&format!(
        "{}: {} SYNTHETIC test latents ({resumed} already recorded), {} per ciphertext",
        model.name,
        test.len(),
        args.batch
    ));
    let mut setup_seconds = 0.0;
    if !todo.is_empty() {
        let (new, setup) =
            evaluate_samples(args, &model, &params, &test, set.shape, &todo, &mut log)?;
        setup_seconds = setup;
        done.extend(new.into_iter().map(|r| (r.index, r)));
    }
    let records: Vec<&SampleRecord> = done.values().collect();
    let labels: Vec<_> = records
        .iter()
        .map(|r| test[r.index].label_vector())
        .collect();
    let plain: Vec<&[f64]> = records.iter().map(|r| r.plain.as_slice()).collect();
    let enc: Vec<&[f64]> = records.iter().map(|r| r.encrypted.as_slice()).collect();
    let positive = |z: &[f64]| z.iter().map(|&v| v >= 0.0).collect::<Vec<_>>();
    let n = records.len().max(1) as f64;
    Ok(EvalReport {
        model: model.name.clone(),
        samples: records.len(),
        resumed,
        plain: scores(&labels, &plain)?,
        encrypted: scores(&labels, &enc)?,
        identical: plain
            .iter()
            .zip(&enc)
            .filter(|(p, e)| positive(p) == positive(e))
            .count(),
        max_logit_error: plain
            .iter()
            .zip(&enc)
            .flat_map(|(p, e)| p.iter().zip(e.iter()))
            .map(|(p, e)| (p - e).abs())
            .fold(0.0, f64::max),
        plain_seconds: records.iter().map(|r| r.plain_seconds).sum::<f64>() / n,
        encrypted_seconds: records.iter().map(|r| r.encrypted_seconds).sum::<f64>() / n,
        setup_seconds,
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
        "{} on {} SYNTHETIC test latents\n\n| | AUROC macro | F1 micro | F1 macro | F1 weighted | s / sample |\n|---|---|---|---|---|---|\n{}{}\nidentical predictions {}/{}, max |encrypted - plaintext logit| {:.3e}, AUROC difference {:.2e}, setup (compile + keys) {:.1} s ({} samples from earlier runs' records)\n",
        r.model,
        r.samples,
        row("plaintext", &r.plain, r.plain_seconds),
        row("encrypted", &r.encrypted, r.encrypted_seconds),
        r.identical,
        r.samples,
        r.max_logit_error,
        (r.plain.auroc_macro.unwrap_or(0.0) - r.encrypted.auroc_macro.unwrap_or(0.0)).abs(),
        r.setup_seconds,
        r.resumed
    )
}
