//! Encrypted inference equals the plaintext reference, at small insecure parameters:
//! LeNet-like, squeeze-and-excitation, and a small ResNet with bootstraps in the middle.

use ckks_core::circuits::{BootstrapConfig, EvalModConfig};
use ckks_core::ckks::{
    insecure_test_params, Decryptor, Encryptor, Parameters, ParametersBuilder, PrecisionStats,
    SecretDistribution,
};
use ckks_core::Complex64;
use he_nn::model::{
    ApproxSigmoid, BatchNorm, Conv2d, Dense, Layer, Model, Quadratic, Shape, SqueezeExcitation,
};
use he_nn::{CompileOptions, EncryptedModel, HeNnError, Plan, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn uniform(rng: &mut ChaCha20Rng, n: usize, r: f64) -> Vec<f64> {
    (0..n).map(|_| rng.gen_range(-r..r)).collect()
}

fn conv(rng: &mut ChaCha20Rng, cin: usize, cout: usize, k: usize, stride: usize) -> Layer {
    let fan_in = (cin * k * k) as f64;
    Layer::Conv2d(Conv2d {
        in_channels: cin,
        out_channels: cout,
        kernel: k,
        stride,
        padding: k / 2,
        groups: 1,
        weight: uniform(rng, cout * cin * k * k, 1.5 / fan_in.sqrt()),
        bias: uniform(rng, cout, 0.1),
    })
}

fn bn(rng: &mut ChaCha20Rng, c: usize) -> Layer {
    Layer::BatchNorm(BatchNorm {
        gamma: (0..c).map(|_| rng.gen_range(0.8..1.2)).collect(),
        beta: uniform(rng, c, 0.1),
        mean: uniform(rng, c, 0.1),
        var: (0..c).map(|_| rng.gen_range(0.8..1.2)).collect(),
        eps: 1e-5,
    })
}

fn quad(rng: &mut ChaCha20Rng, channels: usize) -> Layer {
    Layer::Quadratic(Quadratic {
        a: (0..channels).map(|_| rng.gen_range(0.1..0.3)).collect(),
        b: (0..channels).map(|_| rng.gen_range(0.6..1.0)).collect(),
        c: uniform(rng, channels, 0.1),
    })
}

fn dense(rng: &mut ChaCha20Rng, inputs: usize, outputs: usize) -> Dense {
    Dense {
        inputs,
        outputs,
        weight: uniform(rng, inputs * outputs, 1.5 / (inputs as f64).sqrt()),
        bias: uniform(rng, outputs, 0.1),
    }
}

fn inputs(rng: &mut ChaCha20Rng, shape: Shape, count: usize) -> Vec<Tensor> {
    (0..count)
        .map(|_| Tensor::new(shape, uniform(rng, shape.len(), 1.0)).unwrap())
        .collect()
}

/// Runs the plan on `xs` (one ciphertext) and compares with the reference.
fn check(model: &Model, plan: &Plan, xs: &[Tensor], min_bits: f64) -> PrecisionStats {
    let ctx = plan.context().clone();
    let sk = ctx.key_generator().secret_key(None);
    let server = plan.generate_keys(&sk);
    let mut enc = Encryptor::with_secret_key(&ctx, &sk);
    let ct = plan.encrypt_input(&mut enc, xs).unwrap();
    let (out, trace) = plan.infer_traced(&ct, &server).unwrap();
    let got = plan
        .decrypt_logits(&Decryptor::new(&ctx, &sk), &out, xs.len())
        .unwrap();
    let mut want = Vec::new();
    let mut have = Vec::new();
    for (x, g) in xs.iter().zip(&got) {
        let r = model.forward(x).unwrap();
        assert_eq!(r.argmax(), he_nn::argmax(g), "prediction differs");
        want.extend(r.data);
        have.extend(g.iter().map(|&v| Complex64::new(v, 0.0)));
    }
    let stats = PrecisionStats::compare_real(&want, &have);
    let secs: f64 = trace
        .iter()
        .filter(|t| !matches!(t.step.kind.as_str(), "residual-add" | "gate"))
        .map(|t| t.seconds)
        .sum();
    println!(
        "{}: {} logits, {} bootstraps, {} rotation keys, {:.2} s: {}",
        model.name,
        want.len(),
        plan.bootstraps(),
        plan.rotations().len(),
        secs,
        stats.real
    );
    assert!(stats.real.min > min_bits, "{}: {stats}", model.name);
    stats
}

fn lenet(rng: &mut ChaCha20Rng) -> Model {
    Model {
        name: "lenet".into(),
        input: Shape::new(1, 8, 8),
        layers: vec![
            conv(rng, 1, 4, 3, 1),
            bn(rng, 4),
            quad(rng, 4),
            Layer::AvgPool {
                kernel: 2,
                stride: 2,
            },
            conv(rng, 4, 8, 3, 2),
            Layer::Square,
            Layer::Flatten,
            Layer::Dense(dense(rng, 8 * 2 * 2, 10)),
        ],
    }
}

#[test]
fn lenet_matches_the_reference_with_simd_batching() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let model = lenet(&mut rng);
    let params = insecure_test_params(11, 5).unwrap();
    let plan =
        EncryptedModel::compile(&model, &params, &CompileOptions::default().batch(4)).unwrap();
    println!("{}", plan.report());
    assert_eq!(plan.bootstraps(), 0);
    // conv+bn, square, pool+conv, square, dense: five levels
    assert_eq!(plan.input_level() - plan.output_level(), 5);
    let xs = inputs(&mut rng, model.input, 4);
    check(&model, &plan, &xs, 18.0);
}

fn se_model(rng: &mut ChaCha20Rng) -> Model {
    Model {
        name: "se-block".into(),
        input: Shape::new(4, 8, 8),
        layers: vec![
            conv(rng, 4, 8, 3, 1),
            quad(rng, 8),
            Layer::SqueezeExcitation(SqueezeExcitation {
                reduce: dense(rng, 8, 2),
                activation: Quadratic::per_layer(0.2, 1.0, 0.0),
                expand: dense(rng, 2, 8),
                sigmoid: ApproxSigmoid::default(),
            }),
            Layer::GlobalAvgPool,
            Layer::Dense(dense(rng, 8, 5)),
        ],
    }
}

#[test]
fn squeeze_excitation_matches_the_reference() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let model = se_model(&mut rng);
    let params = insecure_test_params(11, 10).unwrap();
    let plan =
        EncryptedModel::compile(&model, &params, &CompileOptions::default().batch(2)).unwrap();
    println!("{}", plan.report());
    let xs = inputs(&mut rng, model.input, 2);
    check(&model, &plan, &xs, 18.0);
}

#[test]
fn two_level_and_affine_activation_forms_match_the_reference() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut model = se_model(&mut rng);
    model.name = "se-block, two-level quadratics".into();
    // a = 0 on every channel: a purely affine activation, folded for free
    model
        .layers
        .insert(2, Layer::Quadratic(Quadratic::per_layer(0.0, 0.9, 0.1)));
    let params = insecure_test_params(11, 12).unwrap();
    let options = CompileOptions {
        max_shift: 0.0,
        ..CompileOptions::default()
    };
    let plan = EncryptedModel::compile(&model, &params, &options).unwrap();
    println!("{}", plan.report());
    let kinds: Vec<String> = plan.trace().into_iter().map(|s| s.kind).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "quadratic").count(), 2);
    let xs = inputs(&mut rng, model.input, 1);
    check(&model, &plan, &xs, 18.0);
}

fn small_resnet(rng: &mut ChaCha20Rng) -> Model {
    let block = |rng: &mut ChaCha20Rng, cin: usize, cout: usize, stride: usize| Layer::Residual {
        body: vec![
            conv(rng, cin, cout, 3, stride),
            bn(rng, cout),
            quad(rng, cout),
            conv(rng, cout, cout, 3, 1),
            bn(rng, cout),
        ],
        shortcut: if stride == 1 && cin == cout {
            vec![]
        } else {
            vec![conv(rng, cin, cout, 1, stride), bn(rng, cout)]
        },
    };
    Model {
        name: "small-resnet".into(),
        input: Shape::new(2, 8, 8),
        layers: vec![
            conv(rng, 2, 4, 3, 1),
            bn(rng, 4),
            quad(rng, 4),
            block(rng, 4, 4, 1),
            quad(rng, 4),
            block(rng, 4, 8, 2),
            quad(rng, 8),
            Layer::GlobalAvgPool,
            Layer::Dense(dense(rng, 8, 3)),
        ],
    }
}

/// The bootstrapping circuit of the tests: ckks-core's default with the arcsine correction,
/// since activations of a few units have large encoding coefficients (the sine's cubic error).
fn bootstrap_config() -> BootstrapConfig {
    BootstrapConfig {
        eval_mod: EvalModConfig {
            arcsine_degree: 3,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// N = 2^11 bootstrapping chain: q_0 (60) | 3 levels at 2^50 | SlotToCoeff 3 x 55 | change of
/// scale and EvalMod (60-bit) | CoeffToSlot 3 x 58, as in ckks-core's tests.
fn bootstrapping_params(secret: SecretDistribution) -> Parameters {
    let mut log_q = vec![60, 50, 50, 50, 55, 55, 55];
    log_q.extend(vec![60; bootstrap_config().eval_mod_depth().unwrap()]);
    log_q.extend([58; 3]);
    ParametersBuilder::new("HE-NN-BTS-N11-insecure")
        .log_n(11)
        .log_q(&log_q)
        .log_p(&[61, 61, 61])
        .log_scale(50.0)
        .secret(secret)
        .build()
        .unwrap()
}

#[test]
fn small_resnet_with_bootstraps_matches_the_reference() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let model = small_resnet(&mut rng);
    let params = bootstrapping_params(SecretDistribution::Ternary);
    // inputs start at the bootstrapper's output level, so the chain forces bootstraps
    let options = CompileOptions::default()
        .batch(4)
        .bootstrap(bootstrap_config())
        .input_level(3);
    let plan = EncryptedModel::compile(&model, &params, &options).unwrap();
    println!("{}", plan.report());
    assert!(plan.bootstraps() >= 2, "{}", plan.report());
    assert!(plan.needs_encapsulation());
    let xs = inputs(&mut rng, model.input, 4);
    // measured 26.5 min / 28.2 mean bits with the arcsine (15.0 / 15.4 without)
    check(&model, &plan, &xs, 22.0);

    // Without bootstrapping the same chain cannot serve the model from level 3.
    let err = EncryptedModel::compile(
        &model,
        &params,
        &CompileOptions::default().batch(4).input_level(3),
    )
    .err()
    .unwrap();
    assert!(matches!(err, HeNnError::Plan(_)), "{err}");
}

#[test]
fn bad_input_is_rejected_before_any_work() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let model = lenet(&mut rng);
    // too shallow a chain
    let err = EncryptedModel::compile(
        &model,
        &insecure_test_params(11, 3).unwrap(),
        &CompileOptions::default(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("no bootstrapping"), "{err}");
    // a tensor that does not fit its batch block
    let err = EncryptedModel::compile(
        &model,
        &insecure_test_params(11, 5).unwrap(),
        &CompileOptions::default().batch(8),
    )
    .err()
    .unwrap();
    assert!(matches!(err, HeNnError::Plan(_)), "{err}");
    // shapes: a dense layer of the wrong width
    let mut bad = model.clone();
    bad.layers[7] = Layer::Dense(dense(&mut rng, 100, 10));
    assert!(matches!(bad.validate(), Err(HeNnError::Shape { .. })));

    let params = insecure_test_params(11, 5).unwrap();
    let plan =
        EncryptedModel::compile(&model, &params, &CompileOptions::default().batch(2)).unwrap();
    let ctx = plan.context().clone();
    let sk = ctx.key_generator().secret_key(None);
    let server = plan.generate_keys(&sk);
    let mut enc = Encryptor::with_secret_key(&ctx, &sk);
    let xs = inputs(&mut rng, model.input, 3);
    assert!(matches!(
        plan.encrypt_input(&mut enc, &xs),
        Err(HeNnError::Batch { given: 3, batch: 2 })
    ));
    let ct = plan.encrypt_input(&mut enc, &xs[..2]).unwrap();
    // a ciphertext at the wrong level
    let low = server.evaluator.drop_level(&ct, 1).unwrap();
    assert!(matches!(
        plan.infer(&low, &server),
        Err(HeNnError::Ciphertext(_))
    ));
    // missing rotation keys
    let mut kg = ctx.key_generator();
    let partial = he_nn::ServerKeys {
        evaluator: ckks_core::ckks::Evaluator::new(
            &ctx,
            ckks_core::ckks::EvaluationKeys::generate(
                &ctx,
                &mut kg,
                &sk,
                true,
                &plan.rotations()[1..],
                false,
            ),
        ),
        encapsulation: None,
    };
    let err = plan.infer(&ct, &partial).err().unwrap();
    assert!(matches!(err, HeNnError::MissingKeys(_)), "{err}");
    // a ciphertext of other parameters
    let other = EncryptedModel::compile(
        &model,
        &insecure_test_params(11, 6).unwrap(),
        &CompileOptions::default().batch(2),
    )
    .unwrap();
    let other_ctx = other.context().clone();
    let other_sk = other_ctx.key_generator().secret_key(None);
    let foreign = other
        .encrypt_input(
            &mut Encryptor::with_secret_key(&other_ctx, &other_sk),
            &xs[..2],
        )
        .unwrap();
    assert!(plan.infer(&foreign, &server).is_err());
}
