//! The zoo trains, checkpoints, and exports to he-nn models that compute what burn computes
//! (small shapes and random latents so the test stays fast; the real runs are in
//! docs/results/he-nn.md).

use burn::tensor::Device;
use ckks_core::ckks::{insecure_test_params, Decryptor, Encryptor};
use he_nn::model::{Layer, Model};
use he_nn::{CompileOptions, EncryptedModel, Tensor};
use he_nn_train::classify::{batch, load_record, train_on, ArchArg, TrainArgs};
use he_nn_train::latents::{LatentSample, FINDINGS};
use he_nn_train::weights::load_model;
use he_nn_train::zoo::Net;
use he_nn_train::{export_gap, TrainError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::path::PathBuf;

const SHAPE: [usize; 3] = [4, 16, 16];

/// Random latents whose finding `k` is present when channel `k mod 4` has a positive mean
/// (learnable, so the loss must fall).
fn samples(n: usize, seed: u64) -> Vec<LatentSample> {
    samples_of(n, seed, SHAPE)
}

fn samples_of(n: usize, seed: u64, shape: [usize; 3]) -> Vec<LatentSample> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let len = shape.iter().product::<usize>();
    (0..n as u64)
        .map(|index| {
            let shift: [f32; 4] = std::array::from_fn(|_| rng.gen_range(-1.0..1.0));
            let latent: Vec<f32> = (0..len)
                .map(|i| shift[i / (len / 4)] + rng.gen_range(-1.0..1.0))
                .collect();
            LatentSample {
                index,
                labels: std::array::from_fn(|k| shift[k % 4] > 0.0),
                latent,
            }
        })
        .collect()
}

fn args(name: &str) -> TrainArgs {
    TrainArgs {
        arch: ArchArg::Resnet,
        depth: 8,
        se: false,
        one_conv: false,
        relu: false,
        sigmoid: false,
        images: 0,
        cache: PathBuf::new(),
        codec: None,
        out: std::env::temp_dir().join(format!("he-nn-train-zoo-{}-{name}", std::process::id())),
        epochs: 2,
        batch: 16,
        lr: 3e-3,
        seed: 3,
        max_minutes: None,
        resume: false,
        quad_a: he_nn_train::zoo::QUAD_INIT_A,
        export: None,
    }
}

/// Trains `a`, then checks the exported model against burn on the test samples.
fn train_and_compare(a: &TrainArgs) -> Option<f64> {
    train_compare_export(a, SHAPE).map(|t| t.gap)
}

/// A trained and exported network.
struct Exported {
    /// Largest |burn - he-nn reference| logit difference on the test latents.
    gap: f64,
    model: Model,
    /// The test latents.
    latents: Vec<Vec<f32>>,
}

/// [`train_and_compare`] on latents of `shape`, also returning the exported model and the test
/// latents.
fn train_compare_export(a: &TrainArgs, shape: [usize; 3]) -> Option<Exported> {
    let data = samples_of(96, 1, shape);
    let refs: Vec<&LatentSample> = data.iter().collect();
    let (train, val, test) = (&refs[..64], &refs[64..80], &refs[80..]);
    let mut cfg = a.zoo_config();
    cfg.input = shape;
    let summary = train_on(a, &cfg, train, val, test, shape, Some("vqgan-f8-c0123abcd")).unwrap();
    assert_eq!(summary.codec.as_deref(), Some("vqgan-f8-c0123abcd"));
    assert_eq!(summary.split_sizes, [64, 16, 16]);
    assert!(summary.test.auroc_macro.is_some());
    let model_path = summary.model?;
    let model = load_model(&model_path).unwrap();
    assert_eq!(model.encoder.as_deref(), Some("vqgan-f8-c0123abcd"));
    let best = std::fs::read(a.out.join("best.bin")).unwrap();
    let net = load_record(
        Net::new(&cfg, &Device::flex(), a.seed).unwrap(),
        best,
        &a.out,
    )
    .unwrap();
    let (x, _) = batch(test, shape, &Device::flex());
    let xs: Vec<f32> = test.iter().flat_map(|s| s.latent.clone()).collect();
    let logits: Vec<f32> = net
        .forward(x)
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    assert_eq!(logits.len(), test.len() * FINDINGS);
    let _ = std::fs::remove_dir_all(&a.out);
    let gap = export_gap(&model, &xs, &logits).unwrap();
    Some(Exported {
        gap,
        model,
        latents: test.iter().map(|s| s.latent.clone()).collect(),
    })
}

/// Runs `model` encrypted on `latents` (one ciphertext, SIMD-batched) at insecure test
/// parameters (N = 2^11, 34 levels: no bootstrapping) and returns the largest logit difference
/// from he-nn's plaintext reference.
fn encrypted_gap(model: &Model, latents: &[Vec<f32>]) -> f64 {
    let params = insecure_test_params(11, 34).unwrap();
    let options = CompileOptions::default().batch(latents.len());
    let plan = EncryptedModel::compile(model, &params, &options).unwrap();
    println!("{}", plan.report());
    let ctx = plan.context().clone();
    let sk = ctx.key_generator().secret_key(None);
    let keys = plan.generate_keys(&sk);
    let xs: Vec<Tensor> = latents
        .iter()
        .map(|l| Tensor::new(model.input, l.iter().map(|&v| f64::from(v)).collect()).unwrap())
        .collect();
    let ct = plan
        .encrypt_input(&mut Encryptor::with_secret_key(&ctx, &sk), &xs)
        .unwrap();
    let out = plan.infer(&ct, &keys).unwrap();
    let got = plan
        .decrypt_logits(&Decryptor::new(&ctx, &sk), &out, xs.len())
        .unwrap();
    let mut gap = 0f64;
    for (x, g) in xs.iter().zip(&got) {
        let want = model.forward(x).unwrap();
        for (w, h) in want.data.iter().zip(g) {
            gap = gap.max((w - h).abs());
        }
    }
    gap
}

#[test]
fn vgg_hefnet_and_lenet_with_se_export_exactly_and_run_encrypted() {
    for arch in [ArchArg::Vgg, ArchArg::Hefnet, ArchArg::Lenet] {
        let mut a = args(&format!("{arch:?}"));
        a.arch = arch;
        a.depth = 3;
        a.se = true;
        // 16 x 8 x 8 = 1024 slots: one N = 2^11 ciphertext
        let Exported {
            gap,
            model,
            latents,
        } = train_compare_export(&a, [4, 8, 8]).expect("quadratic variants export");
        assert!(gap < 1e-4, "{arch:?}: burn vs export {gap}");
        let se = model
            .layers
            .iter()
            .filter(|l| matches!(l, Layer::SqueezeExcitation(_)))
            .count();
        assert_eq!(se, if arch == ArchArg::Lenet { 1 } else { 3 }, "{arch:?}");
        if arch == ArchArg::Hefnet {
            // the grouped convolutions are grouped in the export
            let groups: Vec<usize> = model
                .layers
                .iter()
                .filter_map(|l| match l {
                    Layer::Conv2d(c) => Some(c.groups),
                    _ => None,
                })
                .collect();
            assert_eq!(groups, [1, 4, 1, 4, 1, 4, 1], "{arch:?}");
        }
        let gap = encrypted_gap(&model, &latents[..1]);
        println!("{arch:?}: max |encrypted - plaintext logit| {gap:.2e}");
        assert!(gap < 1e-6, "{arch:?}: encrypted vs plaintext {gap}");
    }
    // VGG's depth is a multiple of 3
    let mut cfg = args("vgg-bad").zoo_config();
    cfg.arch = he_nn_train::zoo::Arch::Vgg;
    cfg.depth = 4;
    assert!(matches!(
        Net::new(&cfg, &Device::flex(), 1),
        Err(TrainError::Config(_))
    ));
}

#[test]
fn resnet8_with_se_exports_exactly() {
    let mut a = args("se");
    a.se = true;
    let gap = train_and_compare(&a).expect("quadratic SE ResNet exports");
    assert!(gap < 1e-4, "{gap}");
}

#[test]
fn one_conv_resnet_and_lenet_export_exactly() {
    let mut a = args("1conv");
    a.one_conv = true;
    assert!(train_and_compare(&a).unwrap() < 1e-4);
    let mut l = args("lenet");
    l.arch = ArchArg::Lenet;
    assert!(train_and_compare(&l).unwrap() < 1e-4);
}

#[test]
fn relu_and_sigmoid_variants_train_but_do_not_export() {
    let mut a = args("relu");
    a.relu = true;
    a.se = true;
    a.sigmoid = true;
    assert!(train_and_compare(&a).is_none());
    let mut cfg = a.zoo_config();
    cfg.input = SHAPE;
    let net = Net::new(&cfg, &Device::flex(), 1).unwrap();
    assert!(matches!(net.export(&cfg, "x"), Err(TrainError::Config(_))));
}

#[test]
fn learning_lowers_the_loss_and_resume_continues() {
    let a = args("resume");
    let data = samples(96, 4);
    let refs: Vec<&LatentSample> = data.iter().collect();
    let mut cfg = a.zoo_config();
    cfg.input = SHAPE;
    let train = |a: &TrainArgs| {
        train_on(
            a,
            &cfg,
            &refs[..64],
            &refs[64..80],
            &refs[80..],
            SHAPE,
            None,
        )
        .unwrap()
    };
    let first = train(&a);
    let mut more = a.clone();
    more.epochs = 4;
    more.resume = true;
    let second = train(&more);
    assert_eq!((first.epochs, second.epochs), (2, 4));
    assert!(second.validation.loss < first.validation.loss + 0.05);
    let log = std::fs::read_to_string(a.out.join("train.log")).unwrap();
    assert_eq!(log.matches("epoch ").count(), 4, "{log}");
    // a bad architecture is a typed error
    let mut bad = cfg.clone();
    bad.depth = 21;
    assert!(matches!(
        Net::new(&bad, &Device::flex(), 1),
        Err(TrainError::Config(_))
    ));
    let _ = std::fs::remove_dir_all(&a.out);
}
