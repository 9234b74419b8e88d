//! Parameter sets laid out for bootstrapping, and the failure probability of the circuit.
//!
//! The chain, from `q_0` up (the order in which levels are consumed is top down):
//!
//! ```text
//! q_0 | residual levels (computation, ~Δ each) | SlotToCoeff | EvalMod (~q_0 each) | CoeffToSlot
//! ```
//!
//! * `q_0` holds the message during ModRaise; the message ratio `q_0 / Δ` (here `2^10`) bounds
//!   `|ε| = |t / q_0|` in EvalMod.
//! * The residual levels are what a computation gets after each bootstrap.
//! * SlotToCoeff runs at the message scale `Δ`, its primes only set the precision of its
//!   encoded diagonals; EvalMod works at scale `q_0`, so its primes are about `q_0`; CoeffToSlot
//!   runs at scale `q_0` too.
//!
//! The user key is dense ternary, so the 128-bit bound of the HomomorphicEncryption.org table
//! (on `log2 QP`, special primes included) applies as for every other set. The ephemeral sparse
//! key of encapsulation only ever appears in a switching key over `q_0 P`
//! ([`BootstrapParameters::ephemeral_log_modulus`]).

use super::bootstrap::BootstrapConfig;
use crate::ckks::{Parameters, ParametersBuilder, SecretDistribution};
use crate::error::{CkksError, Result};

/// Builder of a [`BootstrapParameters`] set.
#[derive(Clone, Debug)]
pub struct BootstrapParametersBuilder {
    name: String,
    log_n: u32,
    log_q0: u32,
    residual: usize,
    log_scale: u32,
    log_stc: u32,
    log_eval_mod: u32,
    log_cts: u32,
    special: usize,
    log_special: u32,
    ephemeral_weight: usize,
    secret: SecretDistribution,
    config: BootstrapConfig,
}

/// A CKKS parameter set with the bootstrapping circuit it was laid out for.
#[derive(Clone, Debug)]
pub struct BootstrapParameters {
    /// The CKKS parameters.
    pub params: Parameters,
    /// The bootstrapping circuit.
    pub config: BootstrapConfig,
    /// Hamming weight of the ephemeral sparse key of encapsulation.
    pub ephemeral_weight: usize,
    /// Levels left for computation after each bootstrap.
    pub residual_levels: usize,
}

impl BootstrapParametersBuilder {
    /// A set named `name` (it must contain `insecure` unless it is 128-bit by the table) for
    /// `N = 2^log_n`, with the defaults of [`BootstrapPreset::N16`] otherwise.
    pub fn new(name: impl Into<String>, log_n: u32) -> Self {
        Self {
            name: name.into(),
            log_n,
            log_q0: 58,
            residual: 9,
            log_scale: 50,
            log_stc: 50,
            log_eval_mod: 61,
            log_cts: 57,
            special: 6,
            log_special: 61,
            ephemeral_weight: 32,
            secret: SecretDistribution::Ternary,
            config: BootstrapConfig::default(),
        }
    }

    /// Levels left for computation after bootstrapping, and their size (`log2 Δ`).
    pub fn residual(mut self, levels: usize, log_scale: u32) -> Self {
        self.residual = levels;
        self.log_scale = log_scale;
        self
    }

    /// Size of `q_0` in bits (the message ratio is `q_0 / Δ`).
    pub fn log_q0(mut self, bits: u32) -> Self {
        self.log_q0 = bits;
        self
    }

    /// Sizes of the SlotToCoeff, EvalMod and CoeffToSlot primes.
    pub fn circuit_primes(mut self, log_stc: u32, log_eval_mod: u32, log_cts: u32) -> Self {
        (self.log_stc, self.log_eval_mod, self.log_cts) = (log_stc, log_eval_mod, log_cts);
        self
    }

    /// Number and size of the special primes (`dnum = ceil((L+1) / count)`).
    pub fn special_primes(mut self, count: usize, bits: u32) -> Self {
        (self.special, self.log_special) = (count, bits);
        self
    }

    /// Hamming weight of the ephemeral sparse key.
    pub fn ephemeral_weight(mut self, h: usize) -> Self {
        self.ephemeral_weight = h;
        self
    }

    /// The user key's distribution (dense ternary by default; a sparse user key, which lets
    /// bootstrapping skip encapsulation, is outside the standard's table and so only allowed
    /// in sets named `insecure`).
    pub fn secret(mut self, secret: SecretDistribution) -> Self {
        self.secret = secret;
        self
    }

    /// The bootstrapping circuit.
    pub fn config(mut self, config: BootstrapConfig) -> Self {
        self.config = config;
        self
    }

    /// Lays out the chain and checks it (security bound, prime sizes).
    pub fn build(self) -> Result<BootstrapParameters> {
        let c = &self.config;
        if self.ephemeral_weight == 0 || self.ephemeral_weight >= 1 << self.log_n {
            return Err(CkksError::InvalidParameters(format!(
                "ephemeral Hamming weight {} out of range",
                self.ephemeral_weight
            )));
        }
        let mut log_q = vec![self.log_q0];
        log_q.extend(vec![self.log_scale; self.residual]);
        log_q.extend(vec![self.log_stc; c.stc_levels]);
        log_q.extend(vec![self.log_eval_mod; c.eval_mod_depth()?]);
        log_q.extend(vec![self.log_cts; c.cts_levels]);
        let limbs = log_q.len();
        let params = ParametersBuilder::new(self.name)
            .log_n(self.log_n)
            .log_q(&log_q)
            .log_p(&vec![self.log_special; self.special])
            .dnum(limbs.div_ceil(self.special.max(1)))
            .log_scale(self.log_scale as f64)
            .secret(self.secret)
            .build()?;
        Ok(BootstrapParameters {
            params,
            config: self.config,
            ephemeral_weight: self.ephemeral_weight,
            residual_levels: self.residual,
        })
    }
}

/// Named bootstrapping sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootstrapPreset {
    /// `N = 2^16`, `2^15` slots, 9 levels of `2^50` left after each bootstrap, dense ternary
    /// user key, 128-bit by the table (log2 QP <= 1747), ephemeral key of weight 32.
    N16,
}

impl BootstrapPreset {
    /// The set.
    pub fn build(self) -> Result<BootstrapParameters> {
        match self {
            Self::N16 => BootstrapParametersBuilder::new("BTS-N16-L9", 16).build(),
        }
    }
}

impl BootstrapParameters {
    /// `log2 (q_0 P)`: the modulus of the only switching key that involves the ephemeral
    /// sparse key (its RLWE instance is `N`-dimensional with this modulus and a secret of
    /// weight [`ephemeral_weight`](Self::ephemeral_weight)).
    pub fn ephemeral_log_modulus(&self) -> f64 {
        (self.params.q()[0] as f64).log2() + self.params.log_p()
    }

    /// Upper bound on the probability that one bootstrap fails
    /// ([`failure_probability`]).
    pub fn failure_probability(&self) -> f64 {
        failure_probability(
            self.ephemeral_weight,
            self.config.eval_mod.k,
            self.params.n(),
        )
    }
}

/// Probability that one bootstrap of a ring of degree `n` fails, for an ephemeral key of
/// Hamming weight `h` and EvalMod interval `[-K, K]`.
///
/// After ModRaise under a key `s'` of weight `h`, coefficient `i` of `c_0 + c_1 s'` is
/// `t_i + q_0 I_i`, and `(c_0 + c_1 s')_i / q_0` is a sum of `h + 1` independent values
/// uniform on `[-1/2, 1/2)` (the coefficients of `c_0` and `±c_1`, uniform modulo `q_0`), plus
/// the negligible `t_i / q_0`. EvalMod is exact only for `|I_i| <= K - 1`, so a coefficient
/// fails when the sum reaches `K - 1/2` in absolute value. The tail of the sum is the
/// Irwin-Hall distribution, `P(S_m <= x) = (1/m!) Σ_{k <= x} (-1)^k C(m, k) (x - k)^m` for `m`
/// uniforms on `[0, 1]` (Hall 1927); the union bound over the `n` coefficients gives the
/// result (Bossuat et al., ACNS 2022, §4 use the same model).
pub fn failure_probability(h: usize, k: f64, n: usize) -> f64 {
    let m = h + 1;
    // P(|S - m/2| >= K - 1/2) = 2 P(S <= m/2 - K + 1/2)
    let x = m as f64 / 2.0 - (k - 0.5);
    if x <= 0.0 {
        return 0.0;
    }
    let ln_fact = |v: usize| (1..=v).map(|i| (i as f64).ln()).sum::<f64>();
    let ln_m_fact = ln_fact(m);
    let mut sum = 0.0;
    for kk in 0..=(x.floor() as usize).min(m) {
        let ln_binom = ln_m_fact - ln_fact(kk) - ln_fact(m - kk);
        let term = (ln_binom + m as f64 * (x - kk as f64).ln() - ln_m_fact).exp();
        sum += if kk % 2 == 0 { term } else { -term };
    }
    (2.0 * sum.max(0.0) * n as f64).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_n16_preset_is_secure_and_leaves_nine_levels() {
        let p = BootstrapPreset::N16.build().unwrap();
        assert!(!p.params.is_insecure());
        assert!(p.params.log_qp() <= 1747.0, "{}", p.params.log_qp());
        assert_eq!(p.residual_levels, 9);
        assert_eq!(
            p.params.max_level(),
            9 + p.config.depth().unwrap(),
            "levels above q_0"
        );
        let fail = p.failure_probability();
        assert!(fail < 2f64.powi(-30) && fail > 0.0, "{fail:e}");
    }

    #[test]
    fn an_oversized_chain_is_refused_unless_insecure() {
        let big = BootstrapParametersBuilder::new("BTS-N15", 15).build();
        assert!(big.is_err());
        assert!(BootstrapParametersBuilder::new("BTS-N15-insecure", 15)
            .build()
            .is_ok());
    }

    #[test]
    fn irwin_hall_tail_matches_a_direct_count() {
        // m = 2 uniforms: P(|S - 1| >= 1 - t) = t^2 exactly (triangle distribution)
        for t in [0.1, 0.3, 0.5] {
            let k = 1.0 - t + 0.5;
            let p = failure_probability(1, k, 1);
            assert!((p - t * t).abs() < 1e-12, "{p} vs {}", t * t);
        }
        // lighter than the Gaussian tail, and decreasing in K
        let (a, b) = (
            failure_probability(32, 12.0, 1),
            failure_probability(32, 13.0, 1),
        );
        assert!(b < a && b < 1e-15, "{a:e} {b:e}");
    }
}
