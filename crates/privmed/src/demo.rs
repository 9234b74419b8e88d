//! `privmed demo`: image -> latent -> encrypted classifier -> decrypted findings, with the
//! plaintext result beside it and the time of every stage.

use crate::{PrivmedError, Result};
use ckks_core::circuits::BootstrapPreset;
use ckks_core::ckks::{insecure_test_params, Decryptor, Encryptor, Parameters};
use ckks_core::rlwe::{PublicKey, SecretKey};
use he_nn::{CompileOptions, EncryptedModel, Model, Plan, ServerKeys, Shape, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use med_data::labels::NIH_FINDINGS;
use med_data::Preprocess;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The shipped default classifier: ResNet-20 + SE at f = 8, trained on SYNTHETIC latents.
pub const SHIPPED_RESNET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/weights/resnet20-se-f8.json.gz"
);
/// A LeNet on the same latents (small enough for the insecure test parameters).
pub const SHIPPED_LENET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/lenet-f8.json.gz");
/// The embedded real X-ray the demo reads by default (Kermany et al. 2018, CC BY 4.0;
/// bacterial pneumonia, so "Pneumonia" is its one true finding).
pub const DEFAULT_SAMPLE: &str = "person1946_bacteria_4874.png";
/// Multiplicative depth of the test parameter set.
pub const TEST_DEPTH: usize = 10;

/// Which CKKS parameters the encrypted stage uses.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamSet {
    /// `BootstrapPreset::N16`: N = 2^16, 128-bit, bootstrapping (the real setting).
    N16,
    /// TEST ONLY, INSECURE: N = 2^13 (4096 slots), depth 10, no bootstrapping; serves models
    /// as small as the shipped LeNet (quick runs and tests).
    Test,
}

/// Settings of the demo.
#[derive(clap::Args, Clone, Debug)]
pub struct DemoArgs {
    /// A chest X-ray (PNG, JPEG or DICOM); default: an embedded real sample.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Classifier (he-nn model, `.json` or `.json.gz`); default: the shipped ResNet-20 + SE,
    /// or the shipped LeNet with `--params test`.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// VQGAN weight file whose latents the classifier was trained on (default: the codec of
    /// the shipped classifiers); checked against the codec the model file names.
    #[arg(long)]
    pub codec: Option<PathBuf>,
    /// CKKS parameters of the encrypted stage.
    #[arg(long, value_enum, default_value_t = ParamSet::N16)]
    pub params: ParamSet,
    /// The classifier was trained on real data (drops the SYNTHETIC notice).
    #[arg(long)]
    pub real_trained: bool,
}

/// One finding of the result.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// NIH name.
    pub name: &'static str,
    /// Plaintext logit (he-nn's f64 reference).
    pub plain_logit: f64,
    /// Decrypted logit.
    pub encrypted_logit: f64,
}

/// What the demo measured.
#[derive(Clone, Debug)]
pub struct DemoReport {
    /// Image read.
    pub image: PathBuf,
    /// Classifier file.
    pub model: PathBuf,
    /// Model name (from the file).
    pub model_name: String,
    /// Parameter set name.
    pub params: String,
    /// Findings in NIH order.
    pub findings: Vec<Finding>,
    /// Stage names and seconds.
    pub stages: Vec<(String, f64)>,
    /// Bootstraps in the plan.
    pub bootstraps: usize,
    /// Rotation keys of the plan.
    pub rotation_keys: usize,
    /// Levels the plan consumes (input level - output level; bootstraps refill).
    pub levels: usize,
    /// Server key memory in bytes.
    pub key_bytes: usize,
}

impl DemoReport {
    /// Largest `|encrypted - plaintext|` over the logits.
    pub fn max_logit_error(&self) -> f64 {
        self.findings
            .iter()
            .map(|f| (f.encrypted_logit - f.plain_logit).abs())
            .fold(0.0, f64::max)
    }
}

/// Logistic sigmoid.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"),
    );
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// Runs `f` under a spinner named `name`, recording its time in `stages`.
pub fn stage<T>(
    stages: &mut Vec<(String, f64)>,
    name: &str,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let pb = spinner(name);
    let t = Instant::now();
    let out = f();
    pb.finish_and_clear();
    stages.push((name.to_string(), t.elapsed().as_secs_f64()));
    out
}

/// The image at `path` (or the default sample) at 256 x 256 in `[0, 1]`.
pub fn read_image(path: Option<&Path>) -> Result<(PathBuf, med_data::GrayImage)> {
    let path = path.map_or_else(
        || med_data::datasets::embedded_samples_dir().join(DEFAULT_SAMPLE),
        Path::to_path_buf,
    );
    let err = |e: med_data::Error| PrivmedError::Image {
        path: path.clone(),
        detail: e.to_string(),
    };
    let img = med_data::load_image(&path).map_err(err)?;
    let pre = Preprocess {
        range: (0.0, 1.0),
        ..Preprocess::latent_he().with_upscale()
    };
    Ok((path.clone(), pre.apply(&img).map_err(err)?))
}

/// The classifier at `path`, or the default for `params`.
pub fn read_model(path: Option<&Path>, params: ParamSet) -> Result<(PathBuf, Model)> {
    let path = path.map_or_else(
        || {
            PathBuf::from(match params {
                ParamSet::N16 => SHIPPED_RESNET,
                ParamSet::Test => SHIPPED_LENET,
            })
        },
        Path::to_path_buf,
    );
    let model = he_nn_train::weights::load_model(&path).map_err(|e| PrivmedError::Weights {
        path: path.clone(),
        detail: match e {
            he_nn_train::TrainError::Io { detail, .. } => detail,
            other => other.to_string(),
        },
    })?;
    Ok((path, model))
}

/// The parameters and compile options of `set`.
pub fn parameters(set: ParamSet) -> Result<(Parameters, CompileOptions)> {
    Ok(match set {
        ParamSet::N16 => {
            // he-nn's memory-lean full-size options (working scale 2^45, deferred diagonals)
            let bp = BootstrapPreset::N16.build()?;
            let options = CompileOptions::full_size(&bp);
            (bp.params, options)
        }
        ParamSet::Test => (
            insecure_test_params(13, TEST_DEPTH)?,
            CompileOptions::default(),
        ),
    })
}

/// The client's keys and the server's compiled plan and evaluation keys for one model.
pub struct Session {
    /// The compiled plan.
    pub plan: Plan,
    sk: SecretKey,
    pk: PublicKey,
    /// What the server holds.
    pub server: ServerKeys,
}

impl Session {
    /// Compiles `model` for `set` with `batch` inputs per ciphertext (SIMD batching, he-nn's
    /// `CompileOptions::batch`) and generates the keys, timing both stages into `stages`;
    /// `log` receives a line describing the parameters.
    pub fn new(
        model: &Model,
        set: ParamSet,
        batch: usize,
        stages: &mut Vec<(String, f64)>,
        mut log: impl FnMut(&str),
    ) -> Result<Self> {
        let (params, options) = parameters(set)?;
        let options = options.batch(batch);
        log(&format!(
            "parameters {}: N = {}, log2 QP = {:.0}{}",
            params.name(),
            params.n(),
            params.log_qp(),
            if params.is_insecure() {
                " (INSECURE, test only)"
            } else {
                ", 128-bit"
            }
        ));
        let plan = stage(stages, "compile plan", || {
            Ok(EncryptedModel::compile(model, &params, &options)?)
        })?;
        let (sk, pk, server) = stage(stages, "key generation", || {
            let mut kg = plan.context().key_generator();
            let sk = kg.secret_key(None);
            let pk = kg.public_key(&sk);
            let server = plan.generate_keys(&sk);
            Ok((sk, pk, server))
        })?;
        Ok(Self {
            plan,
            sk,
            pk,
            server,
        })
    }

    /// Encrypts `x` under the public key, runs the plan on the ciphertext with the server keys
    /// only, decrypts the logits; the three stages are timed into `stages`.
    pub fn infer(&self, x: &Tensor, stages: &mut Vec<(String, f64)>) -> Result<Vec<f64>> {
        Ok(self
            .infer_batch(std::slice::from_ref(x), stages)?
            .swap_remove(0))
    }

    /// [`infer`](Self::infer) of up to the plan's batch of inputs packed in one ciphertext:
    /// their logits in order.
    pub fn infer_batch(
        &self,
        xs: &[Tensor],
        stages: &mut Vec<(String, f64)>,
    ) -> Result<Vec<Vec<f64>>> {
        let ctx = self.plan.context();
        let ct = stage(stages, "encrypt latent", || {
            Ok(self
                .plan
                .encrypt_input(&mut Encryptor::with_public_key(ctx, &self.pk), xs)?)
        })?;
        let (out, _trace) = stage(stages, "encrypted inference", || {
            Ok(self.plan.infer_traced(&ct, &self.server)?)
        })?;
        stage(stages, "decrypt logits", || {
            Ok(self
                .plan
                .decrypt_logits(&Decryptor::new(ctx, &self.sk), &out, xs.len())?)
        })
    }
}

/// A latent as he-nn's input tensor.
pub fn latent_tensor(shape: [usize; 3], values: &[f32]) -> Result<Tensor> {
    let [c, h, w] = shape;
    Ok(Tensor::new(
        Shape::new(c, h, w),
        values.iter().map(|&v| f64::from(v)).collect(),
    )?)
}

/// The whole demo; `log` receives a line after the first stages.
pub fn run(args: &DemoArgs, mut log: impl FnMut(&str)) -> Result<DemoReport> {
    let mut stages = Vec::new();
    let (image_path, image) = stage(&mut stages, "read image", || {
        read_image(args.image.as_deref())
    })?;
    log(&format!("image {} (256x256)", image_path.display()));
    let (model_path, model) = stage(&mut stages, "load classifier", || {
        read_model(args.model.as_deref(), args.params)
    })?;
    log(&format!(
        "classifier {}: {}",
        model_path.display(),
        model.name
    ));
    let latent = stage(&mut stages, "encode (VQGAN)", || {
        let codec = crate::codec_for(&model, args.codec.as_deref())?;
        Ok(codec.encode(&image)?)
    })?;
    let x = latent_tensor(latent.shape, &latent.continuous)?;
    let plain = stage(
        &mut stages,
        "plaintext inference",
        || Ok(model.forward(&x)?),
    )?;
    let session = Session::new(&model, args.params, 1, &mut stages, &mut log)?;
    let encrypted = session.infer(&x, &mut stages)?;
    let plan = &session.plan;
    let findings = NIH_FINDINGS
        .iter()
        .zip(&plain.data)
        .zip(&encrypted)
        .map(|((&name, &p), &e)| Finding {
            name,
            plain_logit: p,
            encrypted_logit: e,
        })
        .collect();
    Ok(DemoReport {
        image: image_path,
        model: model_path,
        model_name: model.name.clone(),
        params: plan.context().params().name().to_string(),
        findings,
        stages,
        bootstraps: plan.bootstraps(),
        rotation_keys: plan.rotations().len(),
        levels: plan.input_level() - plan.output_level(),
        key_bytes: session.server.memory_bytes(),
    })
}

/// The report as the demo prints it.
pub fn render(r: &DemoReport, real_trained: bool) -> String {
    let mut s = format!(
        "\n{:<20} {:>10} {:>10} {:>10}\n",
        "finding", "plaintext", "encrypted", "|diff|"
    );
    for f in &r.findings {
        let (p, e) = (sigmoid(f.plain_logit), sigmoid(f.encrypted_logit));
        s += &format!(
            "{:<20} {p:>10.4} {e:>10.4} {:>10.2e}\n",
            f.name,
            (p - e).abs()
        );
    }
    s += &format!(
        "\nmax |encrypted - plaintext logit|: {:.3e}\nplan: levels {} -> output, {} bootstraps, {} rotation keys, server keys {:.1} MB, parameters {}\n\nstage times (s):\n",
        r.max_logit_error(),
        r.levels,
        r.bootstraps,
        r.rotation_keys,
        r.key_bytes as f64 / 1e6,
        r.params
    );
    for (name, secs) in &r.stages {
        s += &format!("  {name:<22} {secs:>9.3}\n");
    }
    if !real_trained {
        s += "\nNOTE: the classifier was trained on SYNTHETIC phantom data (med-data's generator with \
              NIH label statistics); these probabilities demonstrate the encrypted pipeline and are \
              not a diagnosis.\n";
    }
    s
}
