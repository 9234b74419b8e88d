//! Ambiguation (PRIMIS, Shiri et al. 2024, Sec. 3.2): to every S_x-sparse code vector add
//! S_n noise values on positions drawn uniformly from the complement of its support, so
//! that the public code `x_pub = x + n` has `S_x + S_n` nonzeros of which only the key
//! holder knows the true ones.
//!
//! The noise is drawn from a keyed ChaCha20 CSPRNG and matches, per code map, the
//! distribution of the true nonzeros in sign and magnitude: with `P_g` the positive true
//! values and `N_g` the magnitudes of the negative ones in map `g`, a noise value is
//! positive with probability `|P_g| / (|P_g| + |N_g|)`, and its magnitude is the empirical
//! quantile `Q(u)` of the chosen side at `u ~ U(0, 1)`, interpolated linearly between order
//! statistics (continuous, so no noise value repeats a true value exactly).
//!
//! The flaw this avoids: the public reference code draws negative noise from a range that
//! lies above the true negative values, so the S/2 most negative entries of every vector are
//! exactly the true negative ones and a bottom-S attacker recovers half the support
//! (see the test `bottom_s_attacker_gets_chance_only`).

use rand::seq::index::sample;
use rand::Rng;
use rand_chacha::ChaCha20Rng;

use crate::codec::Codes;
use crate::error::{Result, ScaError};
use crate::sparse::SupportKey;

/// Empirical distribution of one sign's magnitudes (sorted).
#[derive(Clone, Debug, Default)]
struct Side {
    sorted: Vec<f32>,
}

impl Side {
    fn new(mut v: Vec<f32>) -> Self {
        v.sort_by(f32::total_cmp);
        Self { sorted: v }
    }

    /// Linearly interpolated empirical quantile at `u in [0, 1)`.
    fn quantile(&self, u: f64) -> f32 {
        let n = self.sorted.len();
        if n == 1 {
            return self.sorted[0];
        }
        let x = u * (n - 1) as f64;
        let i = (x.floor() as usize).min(n - 2);
        let t = (x - i as f64) as f32;
        self.sorted[i] * (1.0 - t) + self.sorted[i + 1] * t
    }
}

/// The sign and magnitude distribution of the true nonzeros of one code map.
#[derive(Clone, Debug)]
pub struct MapDistribution {
    positive: Side,
    negative: Side,
    p_positive: f64,
}

impl MapDistribution {
    /// From the true nonzero values of a code map (at least one).
    pub fn fit(values: impl IntoIterator<Item = f32>) -> Result<Self> {
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        for v in values {
            if v > 0.0 {
                pos.push(v);
            } else if v < 0.0 {
                neg.push(-v);
            }
        }
        let n = pos.len() + neg.len();
        if n == 0 {
            return Err(ScaError::InvalidArgument(
                "code map without nonzeros".into(),
            ));
        }
        Ok(Self {
            p_positive: pos.len() as f64 / n as f64,
            positive: Side::new(pos),
            negative: Side::new(neg),
        })
    }

    /// One noise value.
    pub fn draw<R: Rng>(&self, rng: &mut R) -> f32 {
        let u: f64 = rng.gen();
        if rng.gen_bool(self.p_positive) {
            self.positive.quantile(u)
        } else {
            -self.negative.quantile(u)
        }
    }
}

/// Add `s_n` noise values per vector of the sparse `codes` (supports in `key`), drawn from
/// `rng`, matching each code map's distribution of true nonzeros. Needs
/// `S_x + S_n <= M`.
pub fn ambiguate(
    codes: &Codes,
    key: &SupportKey,
    s_n: usize,
    rng: &mut ChaCha20Rng,
) -> Result<Codes> {
    ambiguate_with(codes, key, s_n, Matching::PerMap, rng)
}

/// How the noise distribution is matched to the true values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Matching {
    /// Per code map, as in PRIMIS: every vector's noise from the map's distribution.
    PerMap,
    /// Per code map after dividing every vector by the RMS `r_v` of its true values: noise
    /// `r_v * u` with `u` from the map's distribution of `x / r_v`, so that within a vector
    /// noise and true values also share a scale.
    PerMapScaled,
}

/// [`ambiguate`] with a choice of [`Matching`].
pub fn ambiguate_with(
    codes: &Codes,
    key: &SupportKey,
    s_n: usize,
    matching: Matching,
    rng: &mut ChaCha20Rng,
) -> Result<Codes> {
    let l = codes.layout;
    let (m, s) = (l.code_dim as usize, key.sparsity as usize);
    if key.layout != l {
        return Err(ScaError::KeyMismatch("key and code shapes differ".into()));
    }
    if s + s_n > m {
        return Err(ScaError::InvalidConfig(format!(
            "S_x + S_n = {} exceeds M = {m}",
            s + s_n
        )));
    }
    let true_values = |v: usize| {
        key.support(v)
            .iter()
            .map(move |&i| codes.values[v * m + i as usize])
    };
    let scale: Vec<f32> = (0..l.vectors())
        .map(|v| match matching {
            Matching::PerMap => 1.0,
            Matching::PerMapScaled => {
                let r = (true_values(v).map(|x| x * x).sum::<f32>() / s as f32).sqrt();
                if r > 0.0 {
                    r
                } else {
                    1.0
                }
            }
        })
        .collect();
    let dists =
        (0..l.groups as usize)
            .map(|g| {
                MapDistribution::fit((0..l.vectors()).filter(|&v| l.group_of(v) == g).flat_map(
                    |v| {
                        let r = scale[v];
                        true_values(v).map(move |x| x / r)
                    },
                ))
            })
            .collect::<Result<Vec<_>>>()?;
    let mut out = codes.clone();
    let mut complement = Vec::with_capacity(m);
    for v in 0..l.vectors() {
        let support = key.support(v);
        complement.clear();
        complement.extend((0..m as u8).filter(|i| support.binary_search(i).is_err()));
        let dist = &dists[l.group_of(v)];
        for j in sample(rng, complement.len(), s_n) {
            out.values[v * m + complement[j] as usize] = scale[v] * dist.draw(rng);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn quantiles_interpolate_within_range() {
        let s = Side::new(vec![3.0, 1.0, 2.0]);
        assert_eq!(s.quantile(0.0), 1.0);
        assert_eq!(s.quantile(0.25), 1.5);
        assert!((s.quantile(0.999_999) - 3.0).abs() < 1e-4);
        let d = MapDistribution::fit([1.0, -2.0, 0.0]).unwrap();
        assert_eq!(d.p_positive, 0.5);
        assert!(MapDistribution::fit([0.0]).is_err());
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for _ in 0..100 {
            let x = d.draw(&mut rng);
            assert!(x == 1.0 || x == -2.0);
        }
    }
}
