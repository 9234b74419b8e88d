//! Ambiguation statistics: noise and true values indistinguishable in distribution
//! (two-sample Kolmogorov-Smirnov per code map), and no support guess better than chance,
//! including the bottom-S guess that breaks the public reference code's noise; decoy layers
//! also pass the within-vector rank test that i.i.d. noise fails once vectors differ in
//! scale.

use rand::{Rng, SeedableRng};
use rand_chacha::{ChaCha20Rng, ChaCha8Rng};
use sca_privacy::ambiguation::{ambiguate, ambiguate_with_decoys};
use sca_privacy::codec::{CodeLayout, Codes};
use sca_privacy::share::{
    chance_recovery, support_recovery, within_vector_ranks, PublicCode, PublicHeader, SupportGuess,
};
use sca_privacy::sparse::{sparsify, SupportKey};
use sca_privacy::stats::ks_two_sample;
use sca_privacy::SparsityKind;

const LAYOUT: CodeLayout = CodeLayout {
    tiles_x: 4,
    tiles_y: 4,
    groups: 4,
    side: 8,
    code_dim: 64,
};

/// Dense codes with a different heavy-tailed, skewed distribution per code map (Laplace
/// with map-dependent scale and a positive shift), like an encoder's outputs.
fn dense_codes(seed: u64) -> Codes {
    dense_codes_with_scales(seed, 0.0)
}

/// [`dense_codes`] with every vector multiplied by its own scale `exp(spread * N(0, 1))`
/// (an encoder's vectors differ in energy from flat to textured regions).
fn dense_codes_with_scales(seed: u64, spread: f32) -> Codes {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let l = LAYOUT;
    let mut values = vec![0f32; l.values()];
    for v in 0..l.vectors() {
        let g = l.group_of(v) as f32;
        // Box-Muller normal for the vector's log-scale.
        let (a, b): (f32, f32) = (rng.gen_range(1e-6..1.0), rng.gen());
        let scale = (spread * (-2.0 * a.ln()).sqrt() * (std::f32::consts::TAU * b).cos()).exp();
        for x in &mut values[v * 64..(v + 1) * 64] {
            let u: f32 = rng.gen_range(-0.499..0.499);
            *x = scale * (-(0.5 + g) * u.signum() * (1.0 - 2.0 * u.abs()).ln() + 0.3 * g);
        }
    }
    Codes { layout: l, values }
}

fn public(codes: Codes, s: usize, s_n: usize) -> PublicCode {
    PublicCode {
        header: PublicHeader {
            weights: [0; 16],
            layout: codes.layout,
            sparsity: s as u16,
            noise: s_n as u16,
        },
        codes,
    }
}

/// True nonzeros and noise values of code map `g`.
fn split_values(p: &Codes, key: &SupportKey, g: usize) -> (Vec<f32>, Vec<f32>) {
    let l = p.layout;
    let (mut t, mut n) = (Vec::new(), Vec::new());
    for v in (0..l.vectors()).filter(|&v| l.group_of(v) == g) {
        for (i, &x) in p.vector(v).iter().enumerate() {
            if key.support(v).binary_search(&(i as u8)).is_ok() {
                t.push(x);
            } else if x != 0.0 {
                n.push(x);
            }
        }
    }
    (t, n)
}

#[test]
fn noise_matches_true_values_per_code_map() {
    for (s, s_n) in [(4usize, 12usize), (8, 56), (16, 48)] {
        let (sparse, key) = sparsify(&dense_codes(s as u64), s, SparsityKind::Magnitude).unwrap();
        let mut rng = ChaCha20Rng::from_seed([s as u8; 32]);
        let p = ambiguate(&sparse, &key, s_n, &mut rng).unwrap();
        for v in 0..LAYOUT.vectors() {
            assert_eq!(p.vector(v).iter().filter(|x| **x != 0.0).count(), s + s_n);
        }
        for g in 0..4 {
            let (t, n) = split_values(&p, &key, g);
            let (d, pval) = ks_two_sample(&t, &n);
            assert!(pval > 0.001, "S={s} map {g}: KS D={d:.4} p={pval:.2e}");
            let frac = |v: &[f32]| v.iter().filter(|x| **x > 0.0).count() as f64 / v.len() as f64;
            assert!((frac(&t) - frac(&n)).abs() < 0.02, "sign fractions differ");
            // And the test has power: noise drawn from the wrong map's distribution fails it.
            let (t_other, _) = split_values(&p, &key, (g + 1) % 4);
            assert!(ks_two_sample(&t_other, &n).1 < 1e-6);
        }
    }
}

#[test]
fn no_support_guess_beats_chance() {
    for (s, s_n) in [(4usize, 12usize), (8, 24), (16, 48)] {
        let (sparse, key) =
            sparsify(&dense_codes(100 + s as u64), s, SparsityKind::Magnitude).unwrap();
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        let p = public(ambiguate(&sparse, &key, s_n, &mut rng).unwrap(), s, s_n);
        // 16384 vectors: the standard error of the rate is below 0.005.
        assert_guesses_at_chance(&p, &key, 0.02, &format!("S={s}"));
    }
}

/// Every [`SupportGuess`] recovers the chance rate `S_x / (S_x + S_n)` within `tol`.
fn assert_guesses_at_chance(p: &PublicCode, key: &SupportKey, tol: f64, what: &str) {
    let chance = chance_recovery(p.header.sparsity as usize, p.header.noise as usize);
    for g in SupportGuess::ALL {
        let r = support_recovery(key, &g.guess(p).unwrap());
        assert!(
            (r - chance).abs() < tol,
            "{what}, {}: recovered {r:.4}, chance {chance:.4}",
            g.name()
        );
    }
}

/// The public reference code's noise: positive noise from the positive values' range, but
/// negative noise drawn in `(min_neg_true_max, 0)`, i.e. always above the true negatives.
fn flawed_ambiguate(sparse: &Codes, key: &SupportKey, s_n: usize, rng: &mut ChaCha8Rng) -> Codes {
    let m = 64;
    let mut out = sparse.clone();
    for v in 0..sparse.layout.vectors() {
        let x = sparse.vector(v);
        let max_neg = key
            .support(v)
            .iter()
            .map(|&i| x[i as usize])
            .filter(|x| *x < 0.0)
            .fold(0f32, f32::max);
        let top = key
            .support(v)
            .iter()
            .map(|&i| x[i as usize].abs())
            .fold(0f32, f32::max);
        let free: Vec<usize> = (0..m)
            .filter(|i| key.support(v).binary_search(&(*i as u8)).is_err())
            .collect();
        for &i in free.iter().take(s_n) {
            out.values[v * m + i] = if rng.gen_bool(0.5) {
                rng.gen_range(0.0..top)
            } else {
                max_neg * rng.gen::<f32>() + 0.0
            };
        }
    }
    out
}

#[test]
fn bottom_s_attacker_gets_chance_only() {
    let (s, s_n) = (8usize, 24usize);
    let (sparse, key) = sparsify(&dense_codes(5), s, SparsityKind::Magnitude).unwrap();
    // The flaw: the bottom-S guess finds (nearly) every true negative value.
    let mut r8 = ChaCha8Rng::seed_from_u64(1);
    let flawed = public(flawed_ambiguate(&sparse, &key, s_n, &mut r8), s, s_n);
    let bottom = support_recovery(&key, &SupportGuess::Bottom.guess(&flawed).unwrap());
    let chance = chance_recovery(s, s_n);
    assert!(
        bottom > chance + 0.15,
        "flawed noise: bottom-S recovers {bottom:.3}, chance {chance:.3}"
    );
    // This crate's ambiguation: chance only.
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let fixed = public(ambiguate(&sparse, &key, s_n, &mut rng).unwrap(), s, s_n);
    let bottom = support_recovery(&key, &SupportGuess::Bottom.guess(&fixed).unwrap());
    assert!(
        (bottom - chance).abs() < 0.02,
        "bottom-S recovers {bottom:.3}, chance {chance:.3}"
    );
}

#[test]
fn noise_is_keyed() {
    let (sparse, key) = sparsify(&dense_codes(3), 8, SparsityKind::Magnitude).unwrap();
    let a = ambiguate(&sparse, &key, 8, &mut ChaCha20Rng::from_seed([1; 32])).unwrap();
    let b = ambiguate(&sparse, &key, 8, &mut ChaCha20Rng::from_seed([1; 32])).unwrap();
    let c = ambiguate(&sparse, &key, 8, &mut ChaCha20Rng::from_seed([2; 32])).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(ambiguate(&sparse, &key, 57, &mut ChaCha20Rng::from_seed([1; 32])).is_err());
}

/// Within-vector rank test (true entries' ranks by |x| against the ambiguation entries'):
/// i.i.d. noise matched per code map fails it once vectors differ in scale (the "middle-S"
/// leak), decoy layers from codes of the same kind pass it, reach chance with every support
/// guess and still match the per-map distribution.
#[test]
fn decoy_layers_hide_within_vector_ranks() {
    let (s, spread) = (16usize, 0.6f32);
    let (sparse, key) = sparsify(
        &dense_codes_with_scales(21, spread),
        s,
        SparsityKind::Magnitude,
    )
    .unwrap();
    // i.i.d. noise, S_n = M - S_x: ranks give the true entries away.
    let iid = public(
        ambiguate(&sparse, &key, 64 - s, &mut ChaCha20Rng::from_seed([3; 32])).unwrap(),
        s,
        64 - s,
    );
    let (t, n) = within_vector_ranks(&iid, &key);
    let (d_iid, p_iid) = ks_two_sample(&t, &n);
    assert!(
        p_iid < 1e-6,
        "i.i.d. noise: rank KS D={d_iid:.4} p={p_iid:.2e}"
    );
    let middle = support_recovery(&key, &SupportGuess::MiddleMagnitude.guess(&iid).unwrap());
    assert!(
        middle > chance_recovery(s, 64 - s) + 0.02,
        "middle-S {middle:.4}"
    );
    // Three decoy layers of codes of the same kind (other seeds): exchangeable ranks.
    let decoys: Vec<Codes> = (0..3)
        .map(|j| dense_codes_with_scales(500 + j, spread))
        .collect();
    let mut rng = ChaCha20Rng::from_seed([4; 32]);
    let codes =
        ambiguate_with_decoys(&sparse, &key, SparsityKind::Magnitude, &decoys, &mut rng).unwrap();
    let p = public(codes, s, 3 * s);
    for v in 0..LAYOUT.vectors() {
        assert_eq!(
            p.codes.vector(v).iter().filter(|x| **x != 0.0).count(),
            4 * s
        );
        for &i in key.support(v) {
            assert_eq!(p.codes.vector(v)[i as usize], sparse.vector(v)[i as usize]);
        }
    }
    let (t, n) = within_vector_ranks(&p, &key);
    let (d, pval) = ks_two_sample(&t, &n);
    assert!(pval > 0.001, "decoys: rank KS D={d:.4} p={pval:.2e}");
    assert_guesses_at_chance(&p, &key, 0.01, "decoys");
    for g in 0..4 {
        let (t, n) = split_values(&p.codes, &key, g);
        let (d, pval) = ks_two_sample(&t, &n);
        assert!(pval > 0.001, "decoys, map {g}: KS D={d:.4} p={pval:.2e}");
    }
    // Too many layers for M are refused; shapes must agree.
    let four: Vec<Codes> = (0..4).map(|j| dense_codes(600 + j)).collect();
    assert!(
        ambiguate_with_decoys(&sparse, &key, SparsityKind::Magnitude, &four, &mut rng).is_err()
    );
}

/// Stratified rank mapping (the rank map of sessions 2-4): every layer's values, per code
/// map, at the quantile levels `(r + w) / n` of the true values, on uniformly drawn free
/// positions. Exactly one value of every layer then falls between consecutive true values.
fn stratified_layers(sparse: &Codes, key: &SupportKey, layers: usize, seed: u64) -> Codes {
    let l = sparse.layout;
    let (m, s) = (64usize, key.sparsity as usize);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = sparse.clone();
    for g in 0..l.groups as usize {
        let vs: Vec<usize> = (0..l.vectors()).filter(|&v| l.group_of(v) == g).collect();
        let mut truth: Vec<f32> = vs
            .iter()
            .flat_map(|&v| {
                key.support(v)
                    .iter()
                    .map(move |&i| sparse.vector(v)[i as usize])
            })
            .collect();
        truth.sort_by(f32::total_cmp);
        let n = truth.len();
        let q = |u: f64| {
            let x = u * (n - 1) as f64;
            let i = (x as usize).min(n - 2);
            let t = (x - i as f64) as f32;
            truth[i] * (1.0 - t) + truth[i + 1] * t
        };
        for _ in 0..layers {
            // Levels in a random order over the map's vectors (the order of a decoy code).
            let mut levels: Vec<f32> = (0..n)
                .map(|r| q((r as f64 + rng.gen::<f64>()) / n as f64))
                .collect();
            for i in (1..n).rev() {
                levels.swap(i, rng.gen_range(0..=i));
            }
            for (j, &v) in vs.iter().enumerate() {
                // S_x uniformly drawn free positions (partial Fisher-Yates).
                let mut free: Vec<usize> =
                    (0..m).filter(|&i| out.values[v * m + i] == 0.0).collect();
                for k in 0..s {
                    let t = rng.gen_range(k..free.len());
                    free.swap(k, t);
                    out.values[v * m + free[k]] = levels[j * s + k];
                }
            }
        }
    }
    out
}

/// The pooled-rank guess (one code map's nonzeros in one order, blocks of `L + 1`): it
/// recovers far more than chance from stratified rank-mapped layers, and only chance from
/// this crate's decoy layers (independent sorted quantile levels).
#[test]
fn pooled_rank_guess_gets_chance_only() {
    let s = 8usize;
    let (sparse, key) = sparsify(
        &dense_codes_with_scales(31, 0.6),
        s,
        SparsityKind::Magnitude,
    )
    .unwrap();
    let chance = chance_recovery(s, 3 * s);
    let flawed = public(stratified_layers(&sparse, &key, 3, 1), s, 3 * s);
    for v in 0..LAYOUT.vectors() {
        assert_eq!(
            flawed.codes.vector(v).iter().filter(|x| **x != 0.0).count(),
            4 * s
        );
    }
    let r = support_recovery(&key, &SupportGuess::PooledRank.guess(&flawed).unwrap());
    println!("stratified levels: pooled rank recovers {r:.4}, chance {chance:.4}");
    assert!(
        r > chance + 0.05,
        "stratified levels: pooled rank recovers {r:.4}, chance {chance:.4}"
    );
    let decoys: Vec<Codes> = (0..3)
        .map(|j| dense_codes_with_scales(700 + j, 0.6))
        .collect();
    let mut rng = ChaCha20Rng::from_seed([6; 32]);
    let p = public(
        ambiguate_with_decoys(&sparse, &key, SparsityKind::Magnitude, &decoys, &mut rng).unwrap(),
        s,
        3 * s,
    );
    let r = support_recovery(&key, &SupportGuess::PooledRank.guess(&p).unwrap());
    assert!(
        (r - chance).abs() < 0.01,
        "decoys: pooled rank recovers {r:.4}, chance {chance:.4}"
    );
}
