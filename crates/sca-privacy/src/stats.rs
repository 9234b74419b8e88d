//! The two-sample Kolmogorov-Smirnov test (Smirnov 1948), used to check that ambiguation
//! noise and true code values are indistinguishable in distribution.
//!
//! `D = sup_x |F_1(x) - F_2(x)|` over the two empirical CDFs; under the null hypothesis
//! (same continuous distribution) `P(D > d) ~ Q_KS((sqrt(n_e) + 0.12 + 0.11/sqrt(n_e)) d)`
//! with `n_e = n_1 n_2 / (n_1 + n_2)` and `Q_KS(t) = 2 sum_{j>=1} (-1)^{j-1} exp(-2 j^2 t^2)`
//! (Press et al., Numerical Recipes, 3rd ed., Sec. 14.3.3).

/// Statistic `D` and asymptotic p-value of the two-sample KS test.
pub fn ks_two_sample(a: &[f32], b: &[f32]) -> (f64, f64) {
    if a.is_empty() || b.is_empty() {
        return (1.0, 0.0);
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f32::total_cmp);
    b.sort_by(f32::total_cmp);
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() && j < b.len() {
        let x = if a[i] <= b[j] { a[i] } else { b[j] };
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n1 - j as f64 / n2).abs());
    }
    let ne = n1 * n2 / (n1 + n2);
    let t = (ne.sqrt() + 0.12 + 0.11 / ne.sqrt()) * d;
    (d, q_ks(t))
}

/// Kolmogorov's survival function `Q_KS(t)`.
pub fn q_ks(t: f64) -> f64 {
    if t < 0.2 {
        return 1.0;
    }
    let mut sum = 0.0;
    for j in 1..=100 {
        let term = (-2.0 * (j as f64 * t).powi(2)).exp();
        sum += if j % 2 == 1 { term } else { -term };
        if term < 1e-12 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// CPU time of this process (all its threads) in milliseconds, `CLOCK_PROCESS_CPUTIME_ID`.
/// With one working thread (`RAYON_NUM_THREADS=1`, the fast passes use one) this is the
/// single-thread cost of the work in between two readings, without the time the process
/// waited for a CPU on a loaded machine.
pub fn cpu_time_ms() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid `timespec` for the call to write.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 * 1e-6
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn ks_separates_shifted_samples_only() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let a: Vec<f32> = (0..2000).map(|_| rng.gen()).collect();
        let b: Vec<f32> = (0..2000).map(|_| rng.gen()).collect();
        let c: Vec<f32> = (0..2000).map(|_| rng.gen::<f32>() + 0.1).collect();
        let (_, p_same) = ks_two_sample(&a, &b);
        let (d, p_shift) = ks_two_sample(&a, &c);
        assert!(p_same > 0.01, "{p_same}");
        assert!(p_shift < 1e-6 && d > 0.05, "{p_shift} {d}");
        // Known values of Q_KS: Q(1.36) ~ 0.049, Q(1.63) ~ 0.0098.
        assert!((q_ks(1.36) - 0.0494).abs() < 1e-3);
        assert!((q_ks(1.63) - 0.0098).abs() < 1e-3);
    }
}
