//! Circuits at small insecure parameters: linear transforms equal plaintext matrix products.

use ckks_core::circuits::{DiagonalStorage, Hoisting, LinearTransform};
use ckks_core::ckks::{
    insecure_test_params, Context, Decryptor, Encryptor, EvaluationKeys, Evaluator, PrecisionStats,
};
use ckks_core::{CkksError, Complex64};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;

fn matvec(m: &[Vec<Complex64>], x: &[Complex64]) -> Vec<Complex64> {
    m.iter()
        .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
        .collect()
}

fn setup(rotations: &[i64]) -> (Context, Evaluator, Decryptor, Encryptor) {
    let ctx = Context::new(&insecure_test_params(11, 3).unwrap()).unwrap();
    let mut kg = ctx.key_generator();
    let sk = kg.secret_key(None);
    let keys = EvaluationKeys::generate(&ctx, &mut kg, &sk, false, rotations, false);
    let eval = Evaluator::new(&ctx, keys);
    let dec = Decryptor::new(&ctx, &sk);
    let enc = Encryptor::with_secret_key(&ctx, &sk);
    (ctx, eval, dec, enc)
}

#[test]
fn dense_transform_equals_matrix_vector_product() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for slots in [8usize, 64, 256] {
        let m: Vec<Vec<Complex64>> = (0..slots)
            .map(|_| {
                (0..slots)
                    .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)))
                    .collect()
            })
            .collect();
        let x: Vec<Complex64> = (0..slots)
            .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), 0.0))
            .collect();
        let probe = Context::new(&insecure_test_params(11, 3).unwrap()).unwrap();
        let level = probe.max_level();
        let scale = probe.params().q()[level] as f64;
        let lt_probe = LinearTransform::from_dense(&probe, &m, level, scale).unwrap();
        let (ctx, eval, dec, mut enc) = setup(&lt_probe.rotations());
        let lt = LinearTransform::from_dense(&ctx, &m, level, scale).unwrap();
        assert_eq!(lt.rotations().len(), lt_probe.rotations().len());
        // BSGS: about 2 sqrt(n) rotations instead of n - 1
        assert!(lt.rotations().len() <= 2 * (slots as f64).sqrt().ceil() as usize);
        let ct = enc.encrypt_values(&x, slots).unwrap();
        let want = matvec(&m, &x);
        // the same diagonals, single- and double-hoisted (baby steps kept over Q P), encoded
        // at construction or at evaluation
        let diagonals: BTreeMap<usize, Vec<Complex64>> = (0..slots)
            .map(|k| (k, (0..slots).map(|s| m[s][(s + k) % slots]).collect()))
            .collect();
        for (storage, hoisting) in [
            (DiagonalStorage::Encoded, Hoisting::Single),
            (DiagonalStorage::Encoded, Hoisting::Double),
            (DiagonalStorage::Deferred, Hoisting::Double),
        ] {
            let lt = LinearTransform::from_diagonals_with(
                &ctx, &diagonals, slots, level, scale, storage, hoisting,
            )
            .unwrap();
            let y = eval.rescale(&lt.evaluate(&eval, &ct).unwrap()).unwrap();
            assert!((y.scale() / ct.scale() - 1.0).abs() < 1e-9);
            let got = dec.decrypt_values(&y).unwrap();
            let stats = PrecisionStats::compare(&want, &got);
            // entries of M x are sums of `slots` products: allow log2(slots) bits of growth
            assert!(
                stats.complex.min > 25.0 - (slots as f64).log2(),
                "slots {slots}, {storage:?}, {hoisting:?}: {stats}"
            );
        }
    }
}

#[test]
fn convolution_like_diagonals_and_exact_key_set() {
    // A 3x3 convolution over a 32x32 image in 1024 slots touches 9 diagonals.
    let (w, slots) = (32usize, 1024usize);
    let taps: Vec<(i64, f64)> = vec![
        (-(w as i64) - 1, 0.1),
        (-(w as i64), 0.2),
        (-(w as i64) + 1, 0.1),
        (-1, 0.2),
        (0, 0.5),
        (1, 0.2),
        (w as i64 - 1, 0.1),
        (w as i64, 0.2),
        (w as i64 + 1, 0.1),
    ];
    let mut diagonals = BTreeMap::new();
    for (off, c) in &taps {
        diagonals.insert(
            off.rem_euclid(slots as i64) as usize,
            vec![Complex64::new(*c, 0.0); slots],
        );
    }
    let probe = Context::new(&insecure_test_params(11, 3).unwrap()).unwrap();
    let level = probe.max_level();
    let scale = probe.params().q()[level] as f64;
    let needed = LinearTransform::from_diagonals(&probe, &diagonals, slots, level, scale)
        .unwrap()
        .rotations();
    assert!(
        needed.len() < taps.len() - 1,
        "BSGS should need fewer rotations than taps: {needed:?}"
    );
    let (ctx, eval, dec, mut enc) = setup(&needed);
    let lt = LinearTransform::from_diagonals(&ctx, &diagonals, slots, level, scale).unwrap();
    let x: Vec<Complex64> = (0..slots)
        .map(|i| Complex64::new(((i * 37) % 101) as f64 / 101.0, 0.0))
        .collect();
    let ct = enc.encrypt_values(&x, slots).unwrap();
    let got = dec
        .decrypt_values(&eval.rescale(&lt.evaluate(&eval, &ct).unwrap()).unwrap())
        .unwrap();
    let want: Vec<Complex64> = (0..slots)
        .map(|s| {
            taps.iter()
                .map(|(off, c)| x[(s as i64 + off).rem_euclid(slots as i64) as usize] * *c)
                .sum()
        })
        .collect();
    let stats = PrecisionStats::compare(&want, &got);
    assert!(stats.complex.min > 20.0, "{stats}");

    // Deferred diagonals (encoded during evaluation) give the same ciphertext from less memory.
    let deferred = |values: &BTreeMap<usize, Vec<Complex64>>| {
        LinearTransform::from_diagonals_stored(
            &ctx,
            values,
            slots,
            level,
            scale,
            DiagonalStorage::Deferred,
        )
    };
    let lazy = deferred(&diagonals).unwrap();
    assert_eq!(
        lazy.evaluate(&eval, &ct).unwrap(),
        lt.evaluate(&eval, &ct).unwrap()
    );
    assert_eq!(lazy.diagonal_count(), lt.diagonal_count());
    assert!(lazy.memory_bytes() * 4 < lt.memory_bytes());
    // a diagonal that cannot be encoded at this level is refused at construction
    let mut huge = diagonals.clone();
    huge.insert(5, vec![Complex64::new(1e30, 0.0); slots]);
    assert!(matches!(
        deferred(&huge),
        Err(CkksError::EncodingOverflow(_))
    ));

    // With one of the reported keys missing, evaluation fails with a typed error.
    let (ctx2, eval2, _, mut enc2) = setup(&needed[1..]);
    let lt2 = LinearTransform::from_diagonals(&ctx2, &diagonals, slots, level, scale).unwrap();
    let ct2 = enc2.encrypt_values(&x, slots).unwrap();
    assert!(matches!(
        lt2.evaluate(&eval2, &ct2),
        Err(CkksError::MissingGaloisKey(_))
    ));
    // A ciphertext at another level is rejected.
    let low = eval.drop_level(&ct, 1).unwrap();
    assert!(matches!(
        lt.evaluate(&eval, &low),
        Err(CkksError::LevelMismatch(_, _))
    ));
}

mod polynomials {
    use ckks_core::circuits::{Polynomial, PolynomialEvaluator};
    use ckks_core::ckks::{
        insecure_test_params, Context, Decryptor, Encryptor, EvaluationKeys, Evaluator,
        PrecisionStats,
    };
    use ckks_core::{CkksError, Complex64};
    use std::sync::OnceLock;

    struct Fx {
        ctx: Context,
        eval: Evaluator,
        dec: Decryptor,
        sk: ckks_core::rlwe::SecretKey,
    }

    fn fx() -> &'static Fx {
        static F: OnceLock<Fx> = OnceLock::new();
        F.get_or_init(|| {
            let ctx = Context::new(&insecure_test_params(11, 9).unwrap()).unwrap();
            let mut kg = ctx.key_generator();
            let sk = kg.secret_key(None);
            let keys = EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &[], false);
            Fx {
                eval: Evaluator::new(&ctx, keys),
                dec: Decryptor::new(&ctx, &sk),
                ctx,
                sk,
            }
        })
    }

    /// Encrypts `xs`, evaluates `poly`, and returns (plaintext polynomial values, decrypted).
    fn run(poly: &Polynomial, xs: &[f64]) -> (Vec<f64>, Vec<Complex64>, usize, f64) {
        let f = fx();
        let ct = Encryptor::with_secret_key(&f.ctx, &f.sk)
            .encrypt_values(
                &xs.iter()
                    .map(|&x| Complex64::new(x, 0.0))
                    .collect::<Vec<_>>(),
                xs.len(),
            )
            .unwrap();
        let target = f.ctx.params().default_scale();
        let out = PolynomialEvaluator::new(&f.eval)
            .evaluate(&ct, poly, target)
            .unwrap();
        assert_eq!(ct.level() - out.level(), poly.depth(), "depth");
        assert!(
            (out.scale() / target - 1.0).abs() < 1e-12,
            "scale {} vs {}",
            out.scale(),
            target
        );
        let want: Vec<f64> = xs.iter().map(|&x| poly.eval(x)).collect();
        (
            want,
            f.dec.decrypt_values(&out).unwrap(),
            out.level(),
            out.scale(),
        )
    }

    fn grid(a: f64, b: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
            .collect()
    }

    fn check_function(
        f: impl Fn(f64) -> f64 + Copy,
        a: f64,
        b: f64,
        degree: usize,
        approx_tol: f64,
    ) {
        let poly = Polynomial::interpolate(f, a, b, degree).unwrap();
        let xs = grid(a, b, 1024);
        // the interpolant is close to the function ...
        let approx = xs
            .iter()
            .map(|&x| (poly.eval(x) - f(x)).abs())
            .fold(0.0, f64::max);
        assert!(
            approx < approx_tol,
            "degree {degree}: approximation error {approx}"
        );
        // ... and the homomorphic evaluation is close to the interpolant
        let (want, got, _, _) = run(&poly, &xs);
        let stats = PrecisionStats::compare_real(&want, &got);
        println!("degree {degree} on [{a}, {b}]: approximation error {approx:.2e}; homomorphic vs interpolant: {stats}");
        assert!(stats.real.min > 22.0, "degree {degree}: {stats}");
        // optimal depth: ceil(log2(d + 1)) plus the change of variable
        let m = (degree as f64 + 1.0).log2().ceil() as usize;
        assert_eq!(poly.depth(), m + usize::from((a, b) != (-1.0, 1.0)));
    }

    #[test]
    fn sigmoid() {
        check_function(|x| 1.0 / (1.0 + (-x).exp()), -8.0, 8.0, 31, 1e-4);
    }

    #[test]
    fn tanh() {
        check_function(|x: f64| x.tanh(), -4.0, 4.0, 63, 1e-5);
    }

    #[test]
    fn relu_approximation() {
        // ReLU is not smooth: the Chebyshev error decays like 1/d.
        check_function(|x: f64| x.max(0.0), -1.0, 1.0, 127, 0.01);
    }

    #[test]
    fn baby_step_giant_step_matches_and_spends_one_more_level() {
        let f = fx();
        let xs = grid(-1.0, 1.0, 512);
        let ct = Encryptor::with_secret_key(&f.ctx, &f.sk)
            .encrypt_values(
                &xs.iter()
                    .map(|&x| Complex64::new(x, 0.0))
                    .collect::<Vec<_>>(),
                512,
            )
            .unwrap();
        let target = f.ctx.params().default_scale();
        let pe = PolynomialEvaluator::new(&f.eval);
        for (poly, baby_log) in [
            (
                Polynomial::interpolate(|x: f64| (3.0 * x).sin(), -1.0, 1.0, 63).unwrap(),
                3,
            ),
            (
                Polynomial::interpolate(|x: f64| x.max(0.0), -1.0, 1.0, 127).unwrap(),
                4,
            ),
            (
                Polynomial::monomial(&[0.1, -0.5, 0.25, 0.3, -0.2, 0.05, 0.7]).unwrap(),
                2,
            ),
        ] {
            let out = pe.evaluate_bsgs(&ct, &poly, target, baby_log).unwrap();
            assert_eq!(
                ct.level() - out.level(),
                PolynomialEvaluator::depth_bsgs(&poly, baby_log)
            );
            assert!((out.scale() / target - 1.0).abs() < 1e-12);
            let want: Vec<f64> = xs.iter().map(|&x| poly.eval(x)).collect();
            let stats = PrecisionStats::compare_real(&want, &f.dec.decrypt_values(&out).unwrap());
            println!("BSGS degree {} baby_log {baby_log}: {stats}", poly.degree());
            assert!(stats.real.min > 20.0, "{stats}");
        }
    }

    #[test]
    fn monomial_activation_and_low_degrees() {
        // learnable quadratic activation a x^2 + b x + c
        for coeffs in [
            vec![0.1, 0.5, 0.25],
            vec![0.3],
            vec![-0.2, 1.5],
            vec![0.0, 0.0, 0.0, 0.7],
        ] {
            let poly = Polynomial::monomial(&coeffs).unwrap();
            let xs = grid(-1.0, 1.0, 256);
            let (want, got, _, _) = run(&poly, &xs);
            let stats = PrecisionStats::compare_real(&want, &got);
            assert!(stats.real.min > 20.0, "{coeffs:?}: {stats}");
        }
    }

    #[test]
    fn outputs_of_the_same_scale_add_without_correction() {
        let f = fx();
        let xs = grid(-1.0, 1.0, 64);
        let ct = Encryptor::with_secret_key(&f.ctx, &f.sk)
            .encrypt_values(
                &xs.iter()
                    .map(|&x| Complex64::new(x, 0.0))
                    .collect::<Vec<_>>(),
                64,
            )
            .unwrap();
        let pe = PolynomialEvaluator::new(&f.eval);
        let target = f.ctx.params().default_scale();
        let p3 = Polynomial::monomial(&[0.0, 1.0, 0.0, 1.0]).unwrap(); // depth 2
        let p7 = Polynomial::interpolate(|x: f64| x.sin(), -1.0, 1.0, 7).unwrap(); // depth 3
        let a = pe.evaluate(&ct, &p3, target).unwrap();
        let b = pe.evaluate(&ct, &p7, target).unwrap();
        let (a, b) = f.eval.match_levels(&a, &b).unwrap();
        let sum = f.dec.decrypt_values(&f.eval.add(&a, &b).unwrap()).unwrap();
        let want: Vec<f64> = xs.iter().map(|&x| p3.eval(x) + p7.eval(x)).collect();
        assert!(PrecisionStats::compare_real(&want, &sum).real.min > 20.0);
        // not enough levels: typed error
        let low = f.eval.drop_to_level(&ct, 1).unwrap();
        assert!(matches!(
            pe.evaluate(&low, &p7, target),
            Err(CkksError::LevelTooLow { .. })
        ));
    }
}

mod bootstrapping {
    use ckks_core::circuits::{
        BootstrapConfig, BootstrapParametersBuilder, Bootstrapper, DiagonalStorage,
        EncapsulationKeys, EvalModConfig,
    };
    use ckks_core::ckks::serialize::{from_bytes, to_bytes};
    use ckks_core::ckks::{
        Ciphertext, Context, Decryptor, Encryptor, EvaluationKeys, Evaluator, Parameters,
        PrecisionStats, SecretDistribution,
    };
    use ckks_core::{CkksError, Complex64};

    /// N = 2^11 test chain: q_0 | 2 levels at 2^50 | SlotToCoeff 3 x 50 | change of scale and
    /// EvalMod (60-bit) | CoeffToSlot 3 x 58; message ratio q_0 / Δ = 2^(log_q0 - 50).
    fn bootstrapping_params(
        name: &str,
        secret: SecretDistribution,
        config: BootstrapConfig,
        log_q0: u32,
    ) -> Parameters {
        BootstrapParametersBuilder::new(name, 11)
            .log_q0(log_q0)
            .residual(2, 50)
            .special_primes(3, 61)
            .secret(secret)
            .config(config)
            .build()
            .unwrap()
            .params
    }

    struct Fixture {
        ctx: Context,
        bts: Bootstrapper,
        eval: Evaluator,
        dec: Decryptor,
        enc: Encryptor,
        encapsulation: Option<EncapsulationKeys>,
    }

    fn fixture(
        name: &str,
        secret: SecretDistribution,
        config: BootstrapConfig,
        log_q0: u32,
    ) -> Fixture {
        let params = bootstrapping_params(name, secret, config, log_q0);
        let ctx = Context::new(&params).unwrap();
        let bts = Bootstrapper::new(&ctx, config).unwrap();
        let mut kg = ctx.key_generator();
        let sk = kg.secret_key(None);
        // every Galois key only up to the highest level it serves
        let keys = bts.generate_keys(&mut kg, &sk);
        let encapsulation = (secret == SecretDistribution::Ternary)
            .then(|| EncapsulationKeys::generate(&mut kg, &sk, 32));
        Fixture {
            eval: Evaluator::new(&ctx, keys),
            dec: Decryptor::new(&ctx, &sk),
            enc: Encryptor::with_secret_key(&ctx, &sk),
            ctx,
            bts,
            encapsulation,
        }
    }

    impl Fixture {
        fn encrypt(&mut self, x: &[Complex64]) -> Ciphertext {
            let params = self.ctx.params();
            let pt = self
                .ctx
                .encode(x, params.max_slots(), 0, params.default_scale())
                .unwrap();
            self.enc.encrypt(&pt).unwrap()
        }

        fn precision(&self, x: &[Complex64], ct: &Ciphertext) -> PrecisionStats {
            PrecisionStats::compare(x, &self.dec.decrypt_values(ct).unwrap())
        }
    }

    /// A slowly varying signal: few, large encoding coefficients (the hard case for the sine).
    fn smooth(slots: usize) -> Vec<Complex64> {
        (0..slots)
            .map(|i| Complex64::new((i as f64 * 0.05).sin() * 0.8, (i as f64 * 0.03).cos() * 0.8))
            .collect()
    }

    #[test]
    fn bootstrapping_restores_levels_and_values_and_iterates() {
        let mut fx = fixture(
            "BTS-TEST-N11-h32-insecure",
            SecretDistribution::HammingWeight(32),
            BootstrapConfig::default(),
            60,
        );
        assert_eq!(fx.bts.output_level(), 2);
        // the factored transforms need far fewer rotations than the dense 1024 x 1024 (~64)
        println!("bootstrapping rotation keys: {}", fx.bts.rotations().len());
        let slots = fx.ctx.params().max_slots();
        let x: Vec<Complex64> = (0..slots)
            .map(|i| {
                Complex64::new(
                    ((i * 13) % 29) as f64 / 29.0 - 0.5,
                    ((i * 7) % 17) as f64 / 17.0 - 0.5,
                )
            })
            .collect();
        let ct = fx.encrypt(&x);
        assert_eq!(ct.level(), 0);
        let fresh = fx.bts.bootstrap(&fx.eval, None, &ct).unwrap();
        assert_eq!(fresh.level(), 2);
        assert!((fresh.scale() / ct.scale() - 1.0).abs() < 1e-12);
        // deferred CoeffToSlot / SlotToCoeff diagonals: the identical ciphertext
        let deferred = BootstrapConfig {
            diagonals: DiagonalStorage::Deferred,
            ..BootstrapConfig::default()
        };
        let lazy = Bootstrapper::new(&fx.ctx, deferred).unwrap();
        assert_eq!(lazy.bootstrap(&fx.eval, None, &ct).unwrap(), fresh);
        let stats = fx.precision(&x, &fresh);
        println!("bootstrapping N=2^11, h=32: {stats}");
        assert!(stats.real.min > 26.0 && stats.imag.min > 26.0, "{stats}");
        assert!(stats.real.mean > 29.0 && stats.imag.mean > 29.0, "{stats}");
        // the refreshed levels compute: one multiplication and rescale
        let sq = fx
            .eval
            .rescale(&fx.eval.mul_relin(&fresh, &fresh).unwrap())
            .unwrap();
        let want: Vec<Complex64> = x.iter().map(|v| v * v).collect();
        assert!(fx.precision(&want, &sq).complex.min > 24.0);
        // iterated: the second pass corrects the first one's error, one level lower
        let twice = fx.bts.bootstrap_iterated(&fx.eval, None, &ct, 24).unwrap();
        assert_eq!(twice.level(), 1);
        let better = fx.precision(&x, &twice);
        println!("iterated bootstrapping N=2^11, h=32: {better}");
        assert!(better.real.mean > stats.real.mean + 6.0, "{better}");
        assert!(better.imag.mean > stats.imag.mean + 6.0, "{better}");
        // bad input: a gain that would overflow the message range is refused
        assert!(fx.bts.bootstrap_iterated(&fx.eval, None, &ct, 60).is_err());
    }

    #[test]
    fn encapsulation_bootstraps_a_dense_user_key() {
        let mut fx = fixture(
            "BTS-TEST-N11-dense-insecure",
            SecretDistribution::Ternary,
            BootstrapConfig::default(),
            60,
        );
        let x = smooth(fx.ctx.params().max_slots());
        let ct = fx.encrypt(&x);
        let stats = fx.precision(
            &x,
            &fx.bts
                .bootstrap(&fx.eval, fx.encapsulation.as_ref(), &ct)
                .unwrap(),
        );
        println!("bootstrapping N=2^11, dense key + encapsulation (h' = 32): {stats}");
        assert!(stats.real.min > 23.0 && stats.real.mean > 25.0, "{stats}");
        // the encapsulation keys travel to the server: serialized, validated, same result
        let keys = fx.encapsulation.as_ref().unwrap();
        let bytes = to_bytes(&fx.ctx, keys).unwrap();
        let back: EncapsulationKeys = from_bytes(&fx.ctx, &bytes).unwrap();
        assert_eq!(to_bytes(&fx.ctx, &back).unwrap(), bytes);
        let again = fx.bts.bootstrap(&fx.eval, Some(&back), &ct).unwrap();
        assert_eq!(fx.precision(&x, &again), stats);
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(from_bytes::<EncapsulationKeys>(&fx.ctx, &bytes[..cut]).is_err());
        }
        let other = Context::new(&bootstrapping_params(
            "BTS-TEST-N11-other-insecure",
            SecretDistribution::Ternary,
            BootstrapConfig::default(),
            58,
        ))
        .unwrap();
        assert!(matches!(
            from_bytes::<EncapsulationKeys>(&other, &bytes),
            Err(CkksError::FingerprintMismatch)
        ));
        // Without encapsulation, the dense key's |I| exceeds K and the result is garbage.
        let bad = fx.precision(&x, &fx.bts.bootstrap(&fx.eval, None, &ct).unwrap());
        assert!(bad.real.min < 5.0, "{bad}");
    }

    /// Keys generated to the level they serve: the SlotToCoeff keys (below EvalMod) are
    /// smaller than full keys, no key is above the top, and every rotation has a key.
    #[test]
    fn leveled_bootstrapping_keys_are_smaller_than_full_ones() {
        let params = bootstrapping_params(
            "BTS-TEST-N11-keys-insecure",
            SecretDistribution::Ternary,
            BootstrapConfig::default(),
            60,
        );
        let ctx = Context::new(&params).unwrap();
        let bts = Bootstrapper::new(&ctx, BootstrapConfig::default()).unwrap();
        let levels = bts.rotation_levels();
        let steps: Vec<i64> = levels.iter().map(|&(r, _)| r).collect();
        assert_eq!(steps, bts.rotations());
        let top = ctx.max_level();
        assert!(levels.iter().all(|&(_, l)| l <= top));
        // SlotToCoeff runs below EvalMod: some rotation is needed only there
        assert!(levels.iter().any(|&(_, l)| l < top / 2), "{levels:?}");
        let mut kg = ctx.key_generator();
        let sk = kg.secret_key(None);
        let leveled = bts.generate_keys(&mut kg, &sk);
        let full = EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &bts.rotations(), true);
        assert_eq!(leveled.galois.len(), full.galois.len());
        assert!(leveled.memory_bytes() < full.memory_bytes());
        println!(
            "bootstrapping keys at N = 2^11: {} bytes leveled, {} full",
            leveled.memory_bytes(),
            full.memory_bytes()
        );
    }

    #[test]
    fn fewer_slots_bootstrap_through_the_trace_with_one_eval_mod() {
        let fx = fixture(
            "BTS-TEST-N11-sparse-slots-insecure",
            SecretDistribution::Ternary,
            BootstrapConfig::default(),
            60,
        );
        let max = fx.ctx.params().max_slots();
        for slots in [max / 4, 8] {
            let bts = Bootstrapper::with_slots(&fx.ctx, BootstrapConfig::default(), slots).unwrap();
            // the trace's rotations and the 2n-slot transforms need their own keys
            let missing: Vec<i64> = bts
                .rotations()
                .into_iter()
                .filter(|r| !fx.bts.rotations().contains(r))
                .collect();
            let mut kg = fx.ctx.key_generator();
            let sk = kg.secret_key(None);
            let keys = bts.generate_keys(&mut kg, &sk);
            let encapsulation = EncapsulationKeys::generate(&mut kg, &sk, 32);
            let eval = Evaluator::new(&fx.ctx, keys);
            let dec = Decryptor::new(&fx.ctx, &sk);
            let x: Vec<Complex64> = (0..slots)
                .map(|i| {
                    Complex64::new(
                        ((i * 5) % 11) as f64 / 11.0 - 0.5,
                        ((i * 3) % 7) as f64 / 7.0 - 0.5,
                    )
                })
                .collect();
            let pt = fx
                .ctx
                .encode(&x, slots, 0, fx.ctx.params().default_scale())
                .unwrap();
            let ct = Encryptor::with_secret_key(&fx.ctx, &sk)
                .encrypt(&pt)
                .unwrap();
            let (out, steps) = bts
                .bootstrap_timed(&eval, Some(&encapsulation), &ct)
                .unwrap();
            assert_eq!((out.slots(), out.level()), (slots, 2));
            let stats = PrecisionStats::compare(&x, &dec.decrypt_values(&out).unwrap());
            println!(
                "bootstrapping N=2^11, {slots} slots ({} extra rotation keys), {steps:?}: {stats}",
                missing.len()
            );
            // (8 slots: 16 large encoding coefficients, the sine's cubic error shows)
            assert!(stats.real.min > 22.0 && stats.real.mean > 24.0, "{stats}");
            assert!(stats.imag.min > 22.0 && stats.imag.mean > 24.0, "{stats}");
            if slots == max / 4 {
                assert!(stats.real.mean > 28.0 && stats.imag.mean > 28.0, "{stats}");
            }
            // a full-slot bootstrapper refuses it, and so does a wrong slot count
            assert!(fx.bts.bootstrap(&eval, Some(&encapsulation), &ct).is_err());
        }
        assert!(Bootstrapper::with_slots(&fx.ctx, BootstrapConfig::default(), 3).is_err());
        // 4 slots have 2 butterfly stages, fewer than the 3 transform levels of the chain
        assert!(Bootstrapper::with_slots(&fx.ctx, BootstrapConfig::default(), 4).is_err());
        assert!(Bootstrapper::with_slots(&fx.ctx, BootstrapConfig::default(), 2 * max).is_err());
    }

    #[test]
    fn double_angle_and_arcsine_handle_large_coefficients() {
        // cosine of degree 63, two double angles, arcsine of degree 3
        let config = BootstrapConfig {
            eval_mod: EvalModConfig {
                degree: 63,
                double_angle: 2,
                arcsine_degree: 3,
                baby_log: 3,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut fx = fixture(
            "BTS-TEST-N11-cos-asin-insecure",
            SecretDistribution::Ternary,
            config,
            58,
        );
        let x = smooth(fx.ctx.params().max_slots());
        let ct = fx.encrypt(&x);
        let out = fx
            .bts
            .bootstrap(&fx.eval, fx.encapsulation.as_ref(), &ct)
            .unwrap();
        assert_eq!(out.level(), 2);
        let stats = fx.precision(&x, &out);
        println!("bootstrapping N=2^11, cosine + double angle + arcsine, smooth input: {stats}");
        // at this message ratio (2^8) the plain sine leaves the cubic error of the smooth real
        // part at about 22.6 bits (measured); the arcsine removes it
        assert!(stats.real.mean > 28.0 && stats.real.min > 26.0, "{stats}");
    }
}
