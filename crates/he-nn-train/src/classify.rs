//! Training and evaluation of the zoo ([`crate::zoo`]) on the latent dataset
//! ([`crate::latents`]): multi-label binary cross-entropy on the logits, Adam (lr 2e-4 as in
//! Latent-HE), seeded shuffling and initialisation, a checkpoint after every epoch (the model
//! only: a resumed run restarts Adam's moments), the best epoch by validation macro AUROC
//! kept, metrics from `med_data::metrics` (AUROC and F1 micro / macro / weighted at 0.5).

use crate::latents::{load_or_encode, LatentSample, LatentSet, Split};
use crate::zoo::{ActKind, Arch, GateKind, Net, ZooConfig};
use crate::{io, values, Result, TrainError};
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::store::ModuleRecord;
use burn::tensor::activation::log_sigmoid;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use med_data::metrics::{multilabel_auroc, multilabel_f1};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Settings of a training run (`privmed train-classifier`).
#[derive(clap::Args, Clone, Debug, Serialize, Deserialize)]
pub struct TrainArgs {
    /// Architecture family.
    #[arg(long, value_enum, default_value_t = ArchArg::Resnet)]
    pub arch: ArchArg,
    /// ResNet depth (6k + 2: 20, 32, 44, 56) or VGG depth (3k convolutions: 3, 6, 9).
    #[arg(long, default_value_t = 20)]
    pub depth: usize,
    /// Squeeze-and-excitation in every residual block (VGG: every stage; HefNet: every block).
    #[arg(long)]
    pub se: bool,
    /// One convolution per residual block (the Latent-HE code's variant).
    #[arg(long)]
    pub one_conv: bool,
    /// ReLU instead of the learnable quadratics (comparison; does not export to he-nn).
    #[arg(long)]
    pub relu: bool,
    /// True sigmoid instead of the cubic SE gate (comparison; does not export to he-nn).
    #[arg(long)]
    pub sigmoid: bool,
    /// SYNTHETIC phantoms to encode and use (rounded up to shards of 250; 80/10/10 split).
    #[arg(long, default_value_t = 2500)]
    pub images: usize,
    /// Latent cache folder.
    #[arg(long, default_value = "runs-zoo/latents")]
    pub cache: PathBuf,
    /// VQGAN weight file whose latents the network is trained on (any f); the caller's
    /// default when absent (`privmed`: the codec of the shipped classifiers).
    #[arg(long)]
    #[serde(default)]
    pub codec: Option<PathBuf>,
    /// Run folder: checkpoint.bin, best.bin, train.log, metrics.json, model.json.gz.
    #[arg(long)]
    pub out: PathBuf,
    /// Epochs (a resumed run continues to this many).
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 2e-4)]
    pub lr: f64,
    /// Seed of the initialisation and of the shuffling.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop after the epoch that passes this many minutes.
    #[arg(long)]
    pub max_minutes: Option<f64>,
    /// Resume from OUT/checkpoint.bin.
    #[arg(long)]
    pub resume: bool,
    /// Initial `a` of the quadratic activations `a x² + x`.
    #[arg(long, default_value_t = crate::zoo::QUAD_INIT_A)]
    pub quad_a: f32,
    /// Also write the exported he-nn model here (for example the shipped weights' path).
    #[arg(long)]
    pub export: Option<PathBuf>,
}

/// Architecture family on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArchArg {
    /// ResNet-n.
    Resnet,
    /// LeNet.
    Lenet,
    /// VGG-style plain network (`--depth 3k`).
    Vgg,
    /// HefNet (grouped convolutions).
    Hefnet,
}

impl TrainArgs {
    /// The architecture these settings describe.
    pub fn zoo_config(&self) -> ZooConfig {
        ZooConfig {
            arch: match self.arch {
                ArchArg::Resnet => Arch::ResNet,
                ArchArg::Lenet => Arch::LeNet,
                ArchArg::Vgg => Arch::Vgg,
                ArchArg::Hefnet => Arch::HefNet,
            },
            depth: self.depth,
            se: self.se,
            one_conv: self.one_conv,
            act: if self.relu {
                ActKind::Relu
            } else {
                ActKind::Quadratic
            },
            gate: if self.sigmoid {
                GateKind::Sigmoid
            } else {
                GateKind::Cubic
            },
            quad_a: self.quad_a,
            ..ZooConfig::resnet(self.depth, self.se)
        }
    }
}

/// Multi-label scores of a set of predictions (SYNTHETIC data unless a user trained on real).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Samples.
    pub n: usize,
    /// Mean binary cross-entropy.
    pub loss: f64,
    /// AUROC, macro average over the findings where it is defined.
    pub auroc_macro: Option<f64>,
    /// AUROC, micro (all pairs pooled).
    pub auroc_micro: Option<f64>,
    /// AUROC, support-weighted.
    pub auroc_weighted: Option<f64>,
    /// F1 at probability 0.5, micro.
    pub f1_micro: Option<f64>,
    /// F1 at 0.5, macro.
    pub f1_macro: Option<f64>,
    /// F1 at 0.5, weighted.
    pub f1_weighted: Option<f64>,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Scores of `logits` (one row per sample) against 0/1 `labels`. Non-finite logits (a
/// diverged network) give an infinite loss and no AUROC / F1.
pub fn scores<L: AsRef<[f32]>, G: AsRef<[f64]>>(labels: &[L], logits: &[G]) -> Result<Scores> {
    if logits
        .iter()
        .flat_map(|r| r.as_ref())
        .any(|z| !z.is_finite())
    {
        return Ok(Scores {
            n: labels.len(),
            loss: f64::INFINITY,
            auroc_macro: None,
            auroc_micro: None,
            auroc_weighted: None,
            f1_micro: None,
            f1_macro: None,
            f1_weighted: None,
        });
    }
    let probs: Vec<Vec<f32>> = logits
        .iter()
        .map(|r| r.as_ref().iter().map(|&z| sigmoid(z) as f32).collect())
        .collect();
    let loss = labels
        .iter()
        .zip(logits)
        .flat_map(|(l, z)| l.as_ref().iter().zip(z.as_ref()).map(|(&y, &z)| (y, z)))
        .map(|(y, z)| (1.0 - f64::from(y)) * z - log_sigmoid_f64(z))
        .sum::<f64>()
        / (labels.len() * labels.first().map_or(1, |l| l.as_ref().len())).max(1) as f64;
    let auroc = multilabel_auroc(labels, &probs)?;
    let f1 = multilabel_f1(labels, &probs, 0.5)?;
    Ok(Scores {
        n: labels.len(),
        loss,
        auroc_macro: auroc.macro_avg,
        auroc_micro: auroc.micro,
        auroc_weighted: auroc.weighted,
        f1_micro: f1.micro,
        f1_macro: f1.macro_avg,
        f1_weighted: f1.weighted,
    })
}

fn log_sigmoid_f64(z: f64) -> f64 {
    -((-z.abs()).exp().ln_1p() + (-z).max(0.0))
}

/// Latents `[b, c, h, w]` and labels `[b, classes]` of `samples`.
pub fn batch(
    samples: &[&LatentSample],
    shape: [usize; 3],
    device: &Device,
) -> (Tensor<4>, Tensor<2>) {
    let b = samples.len();
    let x: Vec<f32> = samples
        .iter()
        .flat_map(|s| s.latent.iter().copied())
        .collect();
    let y: Vec<f32> = samples.iter().flat_map(|s| s.label_vector()).collect();
    let classes = y.len() / b.max(1);
    let [c, h, w] = shape;
    (
        Tensor::from_data(TensorData::new(x, [b, c, h, w]), device),
        Tensor::from_data(TensorData::new(y, [b, classes]), device),
    )
}

/// Mean binary cross-entropy with logits: `mean((1 - y) z - log σ(z))`.
fn bce_with_logits(z: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    ((y.neg() + 1.0) * z.clone() - log_sigmoid(z)).mean()
}

/// Logits of `samples` under `net` (inference mode), in batches of 64.
pub fn predict(net: &Net, samples: &[&LatentSample], shape: [usize; 3]) -> Result<Vec<Vec<f64>>> {
    let device = Device::flex();
    let mut out = Vec::with_capacity(samples.len());
    for chunk in samples.chunks(64) {
        let (x, _) = batch(chunk, shape, &device);
        let logits = net.forward(x);
        let classes = logits.dims()[1];
        out.extend(values(logits)?.chunks(classes).map(<[f64]>::to_vec));
    }
    Ok(out)
}

/// Scores of `net` on `samples`.
pub fn evaluate(net: &Net, samples: &[&LatentSample], shape: [usize; 3]) -> Result<Scores> {
    let logits = predict(net, samples, shape)?;
    let labels: Vec<Vec<f32>> = samples.iter().map(|s| s.label_vector()).collect();
    scores(&labels, &logits)
}

/// burn's record bytes of a module.
pub fn record_bytes<M: Module>(module: M) -> Result<Vec<u8>> {
    module
        .into_record()
        .into_bytes()
        .map(|b| b.to_vec())
        .map_err(|e| TrainError::Tensor(e.to_string()))
}

/// `module` with the parameters of record bytes read from `path`.
pub fn load_record<M: Module>(module: M, bytes: Vec<u8>, path: &Path) -> Result<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| io(path, e))?;
    module
        .try_load_record(record)
        .map_err(|e| io(path, format!("{e:?}")))
}

/// A checkpoint: the epochs done, the best validation macro AUROC so far, the model record.
#[derive(Serialize, Deserialize)]
struct Checkpoint {
    config: ZooConfig,
    epoch: usize,
    best: f64,
    best_epoch: usize,
    record: Vec<u8>,
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| io(path, e))
}

fn save_checkpoint(path: &Path, c: &Checkpoint) -> Result<()> {
    let bytes = postcard::to_allocvec(c).map_err(|e| io(path, e))?;
    write_file(path, &bytes)
}

fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    postcard::from_bytes(&bytes).map_err(|e| io(path, format!("corrupted checkpoint ({e})")))
}

/// What a run produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSummary {
    /// Architecture name (`resnet20-se-quad`).
    pub name: String,
    /// Settings.
    pub args: TrainArgs,
    /// Epochs done.
    pub epochs: usize,
    /// Epoch (1-based) of the kept weights.
    pub best_epoch: usize,
    /// Trainable parameters.
    pub parameters: usize,
    /// Train / validation / test sizes.
    pub split_sizes: [usize; 3],
    /// Validation scores of the kept weights.
    pub validation: Scores,
    /// Test scores of the kept weights.
    pub test: Scores,
    /// Seconds of training (this invocation).
    pub train_seconds: f64,
    /// Where the he-nn model was written (`None` for ReLU / sigmoid variants).
    pub model: Option<PathBuf>,
    /// `latent_codec::Codec::id` of the codec whose latents it was trained on (also in the
    /// exported model's `encoder`).
    #[serde(default)]
    pub codec: Option<String>,
}

fn bar(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb
}

/// Encodes with `codec` (or reads from the cache) the latent set of a run.
pub fn latent_set(args: &TrainArgs, codec: &latent_codec::Codec) -> Result<LatentSet> {
    let pb = bar(args.images as u64);
    pb.set_message("encoding SYNTHETIC phantoms (cached)");
    let set = load_or_encode(codec, &args.cache, args.images, |d, t| {
        pb.set_length(t as u64);
        pb.set_position(d as u64);
    })?;
    pb.finish_and_clear();
    Ok(set)
}

/// Trains one zoo network as `args` says on the latents of `codec`, writes its run folder,
/// returns the summary.
pub fn run(args: &TrainArgs, codec: &latent_codec::Codec) -> Result<RunSummary> {
    if args.batch == 0 || args.epochs == 0 {
        return Err(TrainError::Config(
            "batch and epochs must be positive".into(),
        ));
    }
    let cfg = args.zoo_config();
    let set = latent_set(args, codec)?;
    let mut cfg = cfg;
    cfg.input = set.shape;
    let (train, val, test) = (
        set.split(Split::Train),
        set.split(Split::Validation),
        set.split(Split::Test),
    );
    let id = codec.id()?;
    train_on(args, &cfg, &train, &val, &test, set.shape, Some(&id))
}

/// The training loop of [`run`] on given splits; `codec` (`latent_codec::Codec::id` of the
/// codec that made the latents, if any) is recorded in the summary and the exported model.
pub fn train_on(
    args: &TrainArgs,
    cfg: &ZooConfig,
    train: &[&LatentSample],
    val: &[&LatentSample],
    test: &[&LatentSample],
    shape: [usize; 3],
    codec: Option<&str>,
) -> Result<RunSummary> {
    std::fs::create_dir_all(&args.out).map_err(|e| io(&args.out, e))?;
    let device = Device::flex().autodiff();
    let ckpt_path = args.out.join("checkpoint.bin");
    let best_path = args.out.join("best.bin");
    let mut net = Net::new(cfg, &device, args.seed)?;
    let (mut start, mut best, mut best_epoch) = (0, f64::NEG_INFINITY, 0);
    if args.resume && ckpt_path.exists() {
        let c = read_checkpoint(&ckpt_path)?;
        if &c.config != cfg {
            return Err(TrainError::Config(format!(
                "{} holds a {} run, not {}",
                ckpt_path.display(),
                c.config.name(),
                cfg.name()
            )));
        }
        net = load_record(net, c.record, &ckpt_path)?;
        (start, best, best_epoch) = (c.epoch, c.best, c.best_epoch);
    }
    let parameters = net.num_params();
    let log_path = args.out.join("train.log");
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| io(&log_path, e))?;
    let mut say = |line: String| {
        println!("{line}");
        let _ = writeln!(log, "{line}");
    };
    say(format!(
        "{}: {parameters} parameters; SYNTHETIC latents {} train / {} validation / {} test; {:?}",
        cfg.name(),
        train.len(),
        val.len(),
        test.len(),
        args
    ));
    let mut opt: ModuleOptimizer = AdamConfig::new().init();
    let mut order: Vec<&LatentSample> = train.to_vec();
    let t0 = Instant::now();
    let mut epoch = start;
    while epoch < args.epochs {
        let mut rng = ChaCha20Rng::seed_from_u64(args.seed ^ ((epoch as u64 + 1) << 20));
        order.shuffle(&mut rng);
        let pb = bar(order.len().div_ceil(args.batch) as u64);
        let mut total = 0.0;
        for chunk in order.chunks(args.batch) {
            let (x, y) = batch(chunk, shape, &device);
            let loss = bce_with_logits(net.forward(x), y);
            let l = values(loss.clone())?[0];
            if !l.is_finite() {
                return Err(TrainError::Config(format!(
                    "the loss diverged at epoch {} (try a smaller learning rate)",
                    epoch + 1
                )));
            }
            total += l * chunk.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = opt.step(args.lr, net, grads);
            pb.inc(1);
            pb.set_message(format!("epoch {} loss {l:.4}", epoch + 1));
        }
        pb.finish_and_clear();
        epoch += 1;
        let v = evaluate(&net.valid(), val, shape)?;
        let auroc = v.auroc_macro.unwrap_or(0.0);
        if auroc > best {
            (best, best_epoch) = (auroc, epoch);
            write_file(&best_path, &record_bytes(net.valid())?)?;
        }
        save_checkpoint(
            &ckpt_path,
            &Checkpoint {
                config: cfg.clone(),
                epoch,
                best,
                best_epoch,
                record: record_bytes(net.valid())?,
            },
        )?;
        say(format!(
            "epoch {epoch:>3}  train loss {:.4}  val loss {:.4}  val AUROC macro {auroc:.4}  ({:.0} s)",
            total / order.len() as f64,
            v.loss,
            t0.elapsed().as_secs_f64()
        ));
        if args
            .max_minutes
            .is_some_and(|m| t0.elapsed().as_secs_f64() > m * 60.0)
        {
            say(format!("time limit reached after epoch {epoch}"));
            break;
        }
    }
    let kept = std::fs::read(&best_path).map_err(|e| io(&best_path, e))?;
    let final_net = load_record(Net::new(cfg, &Device::flex(), args.seed)?, kept, &best_path)?;
    let (validation, test_scores) = (
        evaluate(&final_net, val, shape)?,
        evaluate(&final_net, test, shape)?,
    );
    let name = cfg.name();
    let model = match final_net.export(
        cfg,
        &format!(
            "{name} (burn, SYNTHETIC phantom latents, {} train images, epoch {best_epoch}, seed {}; test AUROC macro {:.4})",
            train.len(),
            args.seed,
            test_scores.auroc_macro.unwrap_or(f64::NAN)
        ),
    ) {
        Ok(mut m) => {
            m.encoder = codec.map(str::to_string);
            let path = args.out.join("model.json.gz");
            crate::weights::save_model(&m, &path)?;
            if let Some(extra) = &args.export {
                crate::weights::save_model(&m, extra)?;
            }
            Some(path)
        }
        Err(TrainError::Config(_)) => None,
        Err(e) => return Err(e),
    };
    let summary = RunSummary {
        name,
        args: args.clone(),
        epochs: epoch,
        best_epoch,
        parameters,
        split_sizes: [train.len(), val.len(), test.len()],
        validation,
        test: test_scores,
        train_seconds: t0.elapsed().as_secs_f64(),
        model,
        codec: codec.map(str::to_string),
    };
    let json =
        serde_json::to_string_pretty(&summary).map_err(|e| TrainError::Tensor(e.to_string()))?;
    write_file(&args.out.join("metrics.json"), json.as_bytes())?;
    Ok(summary)
}
