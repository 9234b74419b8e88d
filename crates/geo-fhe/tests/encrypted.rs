//! Encrypted geometric products equal the plaintext products over random batches, in both
//! layouts, at small insecure test parameters (N = 2^10, 512 slots).

use ckks_core::ckks::{
    insecure_test_params, Context, Decryptor, Encryptor, EvaluationKeys, Evaluator,
};
use ckks_core::rlwe::{PublicKey, SecretKey};
use geo_fhe::algebra::{Multivector, BLADES};
use geo_fhe::encrypted::*;
use geo_fhe::GeoError;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::sync::OnceLock;

const LOG_N: u32 = 10;
const SLOTS: usize = 1 << (LOG_N - 1);
/// Expected precision: fresh public-key encryptions at scale 2^40 keep about 2^-30 absolute
/// error at N = 2^10; one product of values of modulus <= 1 (8 terms per output) stays far
/// below 2^-20.
const TOL: f64 = 1e-6;

struct Fixture {
    ctx: Context,
    sk: SecretKey,
    pk: PublicKey,
    eval: Evaluator,
    conv: LayoutConverter,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let ctx = Context::new(&insecure_test_params(LOG_N, 3).unwrap()).unwrap();
        let mut kg = ctx.key_generator();
        let sk = kg.secret_key(None);
        let pk = kg.public_key(&sk);
        let conv = LayoutConverter::new(&ctx, SLOTS, ctx.max_level()).unwrap();
        let mut steps = interleaved_rotation_steps();
        steps.extend(conv.rotation_steps());
        let keys = EvaluationKeys::generate(&ctx, &mut kg, &sk, true, &steps, false);
        let eval = Evaluator::new(&ctx, keys);
        Fixture {
            ctx,
            sk,
            pk,
            eval,
            conv,
        }
    })
}

fn batch(seed: u64, n: usize) -> Vec<Multivector> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| Multivector(std::array::from_fn(|_| rng.gen_range(-1.0..1.0))))
        .collect()
}

fn enc_planar(mvs: &[Multivector]) -> PlanarCiphertext {
    let f = fixture();
    let scale = f.ctx.params().default_scale();
    let pt = encode_planar(&f.ctx, mvs, SLOTS, f.ctx.max_level(), scale).unwrap();
    encrypt_planar(&mut Encryptor::with_public_key(&f.ctx, &f.pk), &pt).unwrap()
}

fn enc_interleaved(mvs: &[Multivector]) -> ckks_core::ckks::Ciphertext {
    let f = fixture();
    let scale = f.ctx.params().default_scale();
    let pt = encode_interleaved(&f.ctx, mvs, SLOTS, f.ctx.max_level(), scale).unwrap();
    Encryptor::with_public_key(&f.ctx, &f.pk)
        .encrypt(&pt)
        .unwrap()
}

fn max_err(want: &[Multivector], got: &[Multivector]) -> f64 {
    assert_eq!(want.len(), got.len());
    want.iter()
        .zip(got)
        .map(|(a, b)| a.max_abs_diff(b))
        .fold(0.0, f64::max)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn planar_ct_ct(seed in any::<u64>()) {
        let f = fixture();
        let (a, b) = (batch(seed, SLOTS), batch(seed ^ 1, SLOTS));
        let prod = gp_planar(&f.eval, &enc_planar(&a), &enc_planar(&b)).unwrap();
        prop_assert_eq!(prod.level(), f.ctx.max_level() - 1);
        let got = decrypt_planar(&Decryptor::new(&f.ctx, &f.sk), &prod, SLOTS).unwrap();
        let want: Vec<_> = a.iter().zip(&b).map(|(x, y)| x.gp(y)).collect();
        let err = max_err(&want, &got);
        prop_assert!(err < TOL, "max error {err}");
    }

    #[test]
    fn planar_ct_pt_both_sides(seed in any::<u64>()) {
        let f = fixture();
        let (a, b) = (batch(seed, SLOTS), batch(seed ^ 2, SLOTS));
        let ca = enc_planar(&a);
        let level = ca.level();
        let pb = encode_planar(&f.ctx, &b, SLOTS, level, f.ctx.params().q()[level] as f64).unwrap();
        let dec = Decryptor::new(&f.ctx, &f.sk);
        let right = gp_planar_plain(&f.eval, &ca, &pb, PlainSide::Right).unwrap();
        let left = gp_planar_plain(&f.eval, &ca, &pb, PlainSide::Left).unwrap();
        prop_assert!(((right.scale() / ca.scale()) - 1.0).abs() < 1e-9);
        let want_r: Vec<_> = a.iter().zip(&b).map(|(x, y)| x.gp(y)).collect();
        let want_l: Vec<_> = a.iter().zip(&b).map(|(x, y)| y.gp(x)).collect();
        let er = max_err(&want_r, &decrypt_planar(&dec, &right, SLOTS).unwrap());
        let el = max_err(&want_l, &decrypt_planar(&dec, &left, SLOTS).unwrap());
        prop_assert!(er < TOL && el < TOL, "errors {er} {el}");
    }

    #[test]
    fn interleaved_ct_ct_and_ct_pt(seed in any::<u64>()) {
        let f = fixture();
        let n = SLOTS / BLADES;
        let (a, b) = (batch(seed, n), batch(seed ^ 3, n));
        let dec = Decryptor::new(&f.ctx, &f.sk);
        let want: Vec<_> = a.iter().zip(&b).map(|(x, y)| x.gp(y)).collect();
        let ca = enc_interleaved(&a);
        let prod = gp_interleaved(&f.eval, &ca, &enc_interleaved(&b)).unwrap();
        prop_assert_eq!(prod.level(), f.ctx.max_level() - 2);
        let e1 = max_err(&want, &decrypt_interleaved(&dec, &prod, n).unwrap());
        let prod_pt = gp_interleaved_plain(&f.eval, &ca, &b).unwrap();
        prop_assert_eq!(prod_pt.level(), f.ctx.max_level() - 1);
        let e2 = max_err(&want, &decrypt_interleaved(&dec, &prod_pt, n).unwrap());
        prop_assert!(e1 < TOL && e2 < TOL, "errors {e1} {e2}");
    }
}

#[test]
fn layout_conversion_round_trip() {
    let f = fixture();
    let a = batch(11, SLOTS);
    let dec = Decryptor::new(&f.ctx, &f.sk);
    let inter = f.conv.to_interleaved(&f.eval, &enc_planar(&a)).unwrap();
    assert_eq!(inter.len(), BLADES);
    let m = SLOTS / BLADES;
    for (j, ct) in inter.iter().enumerate() {
        let got = decrypt_interleaved(&dec, ct, m).unwrap();
        let err = max_err(&a[j * m..(j + 1) * m], &got);
        assert!(err < TOL, "block {j}: {err}");
    }
    // Back: interleaved ciphertexts encrypted fresh at the converter's level.
    let fresh: Vec<_> = (0..BLADES)
        .map(|j| enc_interleaved(&a[j * m..(j + 1) * m]))
        .collect();
    let planar = f.conv.to_planar(&f.eval, &fresh).unwrap();
    let err = max_err(&a, &decrypt_planar(&dec, &planar, SLOTS).unwrap());
    assert!(err < TOL, "to_planar: {err}");
}

#[test]
fn sums_of_products_relinearize_once() {
    let f = fixture();
    let (a, b, c, d) = (
        batch(1, SLOTS),
        batch(2, SLOTS),
        batch(3, SLOTS),
        batch(4, SLOTS),
    );
    let mut sum = PlanarProductSum::new();
    sum.add_product(&f.eval, &enc_planar(&a), &enc_planar(&b))
        .unwrap();
    sum.add_product(&f.eval, &enc_planar(&c), &enc_planar(&d))
        .unwrap();
    let got = decrypt_planar(
        &Decryptor::new(&f.ctx, &f.sk),
        &sum.finish(&f.eval).unwrap(),
        SLOTS,
    )
    .unwrap();
    let want: Vec<_> = (0..SLOTS).map(|i| a[i] * b[i] + c[i] * d[i]).collect();
    assert!(max_err(&want, &got) < TOL);
    // Scalar part only.
    let mut s0 = PlanarProductSum::for_components(&[0]);
    s0.add_product(&f.eval, &enc_planar(&a), &enc_planar(&b))
        .unwrap();
    let got = decrypt_planar(
        &Decryptor::new(&f.ctx, &f.sk),
        &s0.finish(&f.eval).unwrap(),
        SLOTS,
    )
    .unwrap();
    for i in 0..SLOTS {
        assert!((got[i].0[0] - (a[i] * b[i]).0[0]).abs() < TOL);
        assert!(got[i].0[1..].iter().all(|x| x.abs() < TOL));
    }
}

#[test]
fn costs_are_as_documented() {
    let p = planar_ct_ct_cost(SLOTS);
    assert_eq!(
        (p.depth, p.tensor_products, p.key_switches(), p.rescales),
        (1, 64, 8, 8)
    );
    let pp = planar_ct_pt_cost(SLOTS);
    assert_eq!(
        (pp.depth, pp.plaintext_products, pp.key_switches()),
        (1, 64, 0)
    );
    let i = interleaved_ct_ct_cost(SLOTS);
    assert_eq!(i.depth, 2);
    assert_eq!(i.relinearizations, 1);
    assert_eq!(i.multivectors, SLOTS / 8);
    // Offsets p - k and q - k lie in -7..=7.
    let steps = interleaved_rotation_steps();
    assert!(steps.iter().all(|s| (-7..=7).contains(s) && *s != 0));
    assert!(i.rotations <= 28);
    let ip = interleaved_ct_pt_cost(SLOTS);
    assert_eq!((ip.depth, ip.relinearizations), (1, 0));
    // Per multivector, planar needs fewer key switches.
    let per = |c: ProductCost| c.key_switches() as f64 / c.multivectors as f64;
    assert!(per(p) < per(i));
}

#[test]
fn mismatches_are_typed_errors() {
    let f = fixture();
    let a = enc_planar(&batch(5, 4));
    let low = a.drop_to_level(&f.eval, 1).unwrap();
    assert!(matches!(
        gp_planar(&f.eval, &a, &low),
        Err(GeoError::Ckks(_))
    ));
    assert!(matches!(
        PlanarCiphertext::from_components(a.components()[..3].to_vec()),
        Err(GeoError::Layout(_))
    ));
    assert!(matches!(
        encode_planar(&f.ctx, &batch(6, SLOTS + 1), SLOTS, 1, 1e10),
        Err(GeoError::Layout(_))
    ));
    assert!(matches!(
        encode_interleaved(&f.ctx, &batch(6, SLOTS / 8 + 1), SLOTS, 1, 1e10),
        Err(GeoError::Layout(_))
    ));
    let bottom = enc_interleaved(&batch(7, 2));
    let bottom = f.eval.drop_to_level(&bottom, 1).unwrap();
    assert!(gp_interleaved(&f.eval, &bottom, &bottom).is_err());
}

#[test]
fn pauli_products_match_the_geometric_product() {
    use geo_fhe::pauli::{PauliProductSum, PreparedInput, PreparedWeight};
    let f = fixture();
    let (x1, x2) = (batch(21, SLOTS), batch(22, SLOTS));
    let (w1, w2) = (batch(23, 1)[0], batch(24, 1)[0]);
    let (c1, c2) = (enc_planar(&x1), enc_planar(&x2));
    let level = c1.level();
    let q = f.ctx.params().q()[level] as f64;
    let mut enc = Encryptor::with_public_key(&f.ctx, &f.pk);
    let pw1 = PreparedWeight::encrypt(&f.ctx, &mut enc, &w1, SLOTS, level, q).unwrap();
    let pw2 = PreparedWeight::encrypt(&f.ctx, &mut enc, &w2, SLOTS, level, q).unwrap();
    let mut sum = PauliProductSum::new();
    sum.add_product(&f.eval, &pw1, &PreparedInput::new(&f.eval, &c1).unwrap())
        .unwrap();
    sum.add_product(&f.eval, &pw2, &PreparedInput::new(&f.eval, &c2).unwrap())
        .unwrap();
    let out = sum.finish(&f.eval).unwrap();
    assert!(((out.scale() / c1.scale()) - 1.0).abs() < 1e-9);
    let got = decrypt_planar(&Decryptor::new(&f.ctx, &f.sk), &out, SLOTS).unwrap();
    let want: Vec<_> = (0..SLOTS).map(|i| w1 * x1[i] + w2 * x2[i]).collect();
    let err = max_err(&want, &got);
    assert!(err < TOL, "max error {err}");
}
