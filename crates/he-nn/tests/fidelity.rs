//! Encrypted inference equals the plaintext reference, at small insecure parameters:
//! LeNet-like, squeeze-and-excitation, and a small ResNet with bootstraps in the middle.

use ckks_core::circuits::{BootstrapConfig, EvalModConfig};
use ckks_core::ckks::{
    insecure_test_params, Decryptor, Encryptor, Parameters, ParametersBuilder, PrecisionStats,
    SecretDistribution,
};
use ckks_core::Complex64;
use he_nn::model::{Layer, Model, Quadratic, Shape};
use he_nn::zoo::{lenet, resnet, RandomInit, ResNetConfig};
use he_nn::{CompileOptions, EncryptedModel, HeNnError, Plan, Tensor};

fn inputs(init: &mut RandomInit, shape: Shape, count: usize) -> Vec<Tensor> {
    (0..count)
        .map(|_| Tensor::new(shape, init.uniform(shape.len(), 1.0)).unwrap())
        .collect()
}

/// The kind of every step of the plan, in order.
fn step_kinds(plan: &Plan) -> Vec<String> {
    plan.trace().into_iter().map(|s| s.kind).collect()
}

/// Runs the plan on `xs` (one ciphertext) and compares with the reference.
fn check(model: &Model, plan: &Plan, xs: &[Tensor], min_bits: f64) -> PrecisionStats {
    let ctx = plan.context().clone();
    let sk = ctx.key_generator().secret_key(None);
    let server = plan.generate_keys(&sk);
    assert_eq!(
        server.memory_bytes(),
        plan.key_memory_bytes(),
        "planned key memory"
    );
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

#[test]
fn lenet_matches_the_reference_with_simd_batching() {
    let mut rng = RandomInit::new(1);
    let model = lenet(Shape::new(1, 8, 8), 10, &mut rng);
    let params = insecure_test_params(11, 5).unwrap();
    let options = CompileOptions::default().batch(4);
    let plan = EncryptedModel::compile(&model, &params, &options).unwrap();
    println!("{}", plan.report());
    assert_eq!(plan.bootstraps(), 0);
    // conv+bn, square, pool+conv, square, dense: five levels
    assert_eq!(plan.input_level() - plan.output_level(), 5);
    let xs = inputs(&mut rng, model.input, 4);
    check(&model, &plan, &xs, 18.0);

    // Deferred diagonals (no encoded budget): far less memory, the identical ciphertext.
    let lazy =
        EncryptedModel::compile(&model, &params, &options.clone().encoded_budget(0)).unwrap();
    assert!(lazy.diagonal_bytes() * 4 < plan.diagonal_bytes());
    let ctx = plan.context().clone();
    let sk = ctx.key_generator().secret_key(None);
    let server = plan.generate_keys(&sk);
    let ct = plan
        .encrypt_input(&mut Encryptor::with_secret_key(&ctx, &sk), &xs)
        .unwrap();
    assert_eq!(
        lazy.infer(&ct, &server).unwrap(),
        plan.infer(&ct, &server).unwrap()
    );
}

fn se_model(init: &mut RandomInit) -> Model {
    Model {
        name: "se-block".into(),
        input: Shape::new(4, 8, 8),
        layers: vec![
            init.conv(4, 8, 3, 1),
            init.quad(8),
            init.se(8, 4),
            Layer::GlobalAvgPool,
            Layer::Dense(init.dense(8, 5)),
        ],
        encoder: None,
    }
}

#[test]
fn squeeze_excitation_matches_the_reference() {
    let mut rng = RandomInit::new(2);
    let model = se_model(&mut rng);
    let params = insecure_test_params(11, 10).unwrap();
    let plan =
        EncryptedModel::compile(&model, &params, &CompileOptions::default().batch(2)).unwrap();
    println!("{}", plan.report());
    let xs = inputs(&mut rng, model.input, 2);
    check(&model, &plan, &xs, 18.0);
}

#[test]
fn the_se_gate_takes_two_levels_for_any_cubic_sigmoid() {
    // c_2 != 0 (shifted into the expand step's bias), the default c_2 = 0, and a sigmoid
    // without cubic term (the polynomial-then-product path: three levels)
    for (coeffs, gate_levels) in [
        ([0.5, 0.2, 0.03, -0.004], 5),
        ([0.5, 0.15012, 0.0, -0.001593], 5),
        ([0.45, 0.2, 0.01, 0.0], 6),
    ] {
        let mut rng = RandomInit::new(3);
        let mut model = se_model(&mut rng);
        match &mut model.layers[2] {
            Layer::SqueezeExcitation(se) => se.sigmoid.coeffs = coeffs,
            other => panic!("not an SE layer: {other:?}"),
        }
        let params = insecure_test_params(11, 10).unwrap();
        let plan = EncryptedModel::compile(&model, &params, &CompileOptions::default()).unwrap();
        let trace = plan.trace();
        let gate = trace.iter().find(|s| s.kind == "gate").unwrap();
        // pool + dense, quadratic, dense, then the gate's own levels
        assert_eq!(
            gate.level_in - gate.level_out,
            gate_levels,
            "{coeffs:?}: {}",
            plan.report()
        );
        let xs = inputs(&mut rng, model.input, 1);
        check(&model, &plan, &xs, 22.0);
    }
}

#[test]
fn two_level_and_affine_activation_forms_match_the_reference() {
    let mut rng = RandomInit::new(5);
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
    let kinds = step_kinds(&plan);
    assert_eq!(kinds.iter().filter(|k| *k == "quadratic").count(), 2);
    let xs = inputs(&mut rng, model.input, 1);
    check(&model, &plan, &xs, 18.0);
}

#[test]
fn near_linear_quadratics_take_one_level() {
    // a = 0.002, b = 1: |b / a| = 500 (the earlier shifted-square form allowed |b / 2a| <= 16
    // and took two levels here); the product form takes one level per activation
    let mut rng = RandomInit::new(6);
    let model = Model {
        name: "near-linear quadratics".into(),
        input: Shape::new(2, 8, 8),
        layers: vec![
            rng.conv(2, 4, 3, 1),
            Layer::Quadratic(Quadratic::per_layer(0.002, 1.0, 0.1)),
            rng.conv(4, 4, 3, 1),
            Layer::Quadratic(Quadratic::per_layer(-0.003, 0.8, 0.0)),
            Layer::GlobalAvgPool,
            Layer::Dense(rng.dense(4, 3)),
        ],
        encoder: None,
    };
    let params = insecure_test_params(11, 5).unwrap();
    let plan =
        EncryptedModel::compile(&model, &params, &CompileOptions::default().batch(2)).unwrap();
    println!("{}", plan.report());
    let kinds = step_kinds(&plan);
    assert_eq!(
        kinds.iter().filter(|k| *k == "quadratic-product").count(),
        2,
        "{kinds:?}"
    );
    // conv, product, conv, product, pooling + dense: five levels (seven with two-level forms)
    assert_eq!(plan.input_level() - plan.output_level(), 5);
    let xs = inputs(&mut rng, model.input, 2);
    // measured 29.3 min bits (two-level forms: 30.8; the product without the input scaling
    // folded into the convolutions: 22.4, i.e. log2 |b/a| bits lost to the next layer's rounding)
    check(&model, &plan, &xs, 26.0);
}

#[test]
fn se_residual_block_matches_the_reference() {
    let mut rng = RandomInit::new(8);
    let cfg = ResNetConfig {
        input: Shape::new(2, 8, 8),
        widths: vec![4],
        blocks: 1,
        convs_per_block: 2,
        se_reduction: Some(2),
        classes: 3,
    };
    let model = resnet(&cfg, &mut rng);
    let params = insecure_test_params(11, 14).unwrap();
    let plan =
        EncryptedModel::compile(&model, &params, &CompileOptions::default().batch(2)).unwrap();
    println!("{}", plan.report());
    // the gate lands on the working scale: the body needs no re-scaling step before the add
    let trace = plan.trace();
    let level_out = |kind: &str| trace.iter().find(|s| s.kind == kind).unwrap().level_out;
    assert_eq!(
        level_out("gate"),
        level_out("residual-add"),
        "{}",
        plan.report()
    );
    let xs = inputs(&mut rng, model.input, 2);
    check(&model, &plan, &xs, 22.0);
}

fn small_resnet(init: &mut RandomInit) -> Model {
    let cfg = ResNetConfig {
        input: Shape::new(2, 8, 8),
        widths: vec![4, 8],
        blocks: 1,
        convs_per_block: 2,
        se_reduction: None,
        classes: 3,
    };
    resnet(&cfg, init)
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
    let mut rng = RandomInit::new(3);
    let model = small_resnet(&mut rng);
    let params = bootstrapping_params(SecretDistribution::Ternary);
    // inputs start at the bootstrapper's output level, so the chain forces bootstraps; the
    // CoeffToSlot keys (the top of the chain) keep only their seeds' uniform halves
    let options = CompileOptions::default()
        .batch(4)
        .bootstrap(bootstrap_config())
        .input_level(3)
        .compact_keys_from(params.max_level());
    let plan = EncryptedModel::compile(&model, &params, &options).unwrap();
    println!("{}", plan.report());
    assert!(plan.bootstraps() >= 2, "{}", plan.report());
    // an unnormalized quadratic product is never what a bootstrap refreshes
    let kinds = step_kinds(&plan);
    assert!(kinds.iter().any(|k| k == "quadratic-product"));
    for w in kinds.windows(2) {
        assert!(
            !(w[0] == "quadratic-product" && w[1] == "bootstrap"),
            "{}",
            plan.report()
        );
    }
    assert!(plan.needs_encapsulation());
    let sk = plan.context().key_generator().secret_key(None);
    assert_eq!(
        plan.generate_keys(&sk).memory_bytes(),
        plan.key_memory_bytes()
    );
    let whole = EncryptedModel::compile(&model, &params, &options.clone().no_compact_keys())
        .unwrap()
        .key_memory_bytes();
    assert!(plan.key_memory_bytes() < whole, "compaction saves memory");
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
fn one_input_per_ciphertext_bootstraps_a_sparse_view() {
    // one input per ciphertext: every tensor repeats with its period (at most 256 of the 1024
    // slots here), so the plan bootstraps 256-slot views (one EvalMod)
    let mut rng = RandomInit::new(4);
    let model = small_resnet(&mut rng);
    let params = bootstrapping_params(SecretDistribution::Ternary);
    let options = CompileOptions::default()
        .bootstrap(bootstrap_config())
        .input_level(3);
    let plan = EncryptedModel::compile(&model, &params, &options).unwrap();
    println!("{}", plan.report());
    assert!(plan.bootstraps() >= 2, "{}", plan.report());
    let slots = plan.bootstrapper().unwrap().slots();
    assert!(slots < params.max_slots() && slots >= 128, "{slots} slots");
    let full =
        EncryptedModel::compile(&model, &params, &options.clone().full_slot_bootstrap()).unwrap();
    assert_eq!(full.bootstrapper().unwrap().slots(), params.max_slots());
    assert_eq!(full.trace(), plan.trace(), "same levels either way");
    let xs = inputs(&mut rng, model.input, 1);
    check(&model, &plan, &xs, 22.0);
}

#[test]
fn bad_input_is_rejected_before_any_work() {
    let mut rng = RandomInit::new(4);
    let model = lenet(Shape::new(1, 8, 8), 10, &mut rng);
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
    bad.layers[7] = Layer::Dense(rng.dense(100, 10));
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
    // (at the top of its longer chain: at a level both chains share, its primes are the same)
    let other = EncryptedModel::compile(
        &model,
        &insecure_test_params(11, 6).unwrap(),
        &CompileOptions::default().batch(2).input_level(6),
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

#[test]
fn cyclic_replication_needs_nine_diagonals_per_channel() {
    let mut init = RandomInit::new(6);
    let model = Model {
        name: "conv".into(),
        input: Shape::new(4, 8, 8),
        layers: vec![init.conv(4, 4, 3, 1), Layer::Square],
        encoder: None,
    };
    let params = insecure_test_params(11, 3).unwrap();
    let diagonals = |batch: usize| {
        let plan =
            EncryptedModel::compile(&model, &params, &CompileOptions::default().batch(batch))
                .unwrap();
        plan.trace()[0].diagonals
    };
    // one copy: channel differences -3..=3 times 9 taps; replicated: differences mod 4
    assert_eq!(diagonals(2), 9 * 7);
    assert_eq!(diagonals(1), 9 * 4);
}

#[test]
fn full_size_options_leave_bootstrapping_headroom() {
    let set = ckks_core::circuits::BootstrapPreset::N16.build().unwrap();
    let options = CompileOptions::full_size(&set);
    assert_eq!(options.scale, Some(2f64.powi(45)));
    assert_eq!(
        options.bootstrap.map(|c| c.diagonals),
        Some(ckks_core::circuits::DiagonalStorage::Deferred)
    );
    assert_eq!(options.encoded_budget, 0);
    // every key only bootstrapping uses is compacted
    assert_eq!(options.compact_keys_from, Some(0));
    assert!(options.sparse_bootstrap);
}
