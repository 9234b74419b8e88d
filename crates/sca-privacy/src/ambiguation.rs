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
//!
//! **Decoy layers** ([`Ambiguation::Decoys`], [`ambiguate_with_decoys`]): i.i.d. noise hides
//! neither the spatial coherence of the true codes nor their per-vector scale, and a trained
//! inversion network or a rank-based support guess finds them. A decoy layer is instead the
//! S-sparse code of a *decoy image* (a fresh SYNTHETIC phantom) under the same S-sparsity
//! operator, restricted to the positions still free; its values are then mapped, per code map
//! and rank-preserving, onto the distribution of the true values (`x -> Q_true(F_decoy(x))`,
//! with the rank jittered inside its cell), so the per-map marginals match as before while
//! each decoy layer keeps the spatial and per-vector structure of a real code.

use rand::Rng;
use rand_chacha::ChaCha20Rng;

use crate::codec::Codes;
use crate::config::SparsityKind;
use crate::error::{Result, ScaError};
use crate::sparse::{order_key, top_s_among, top_s_support, SupportKey};

/// Empirical distribution of one sign's magnitudes (sorted).
#[derive(Clone, Debug, Default)]
struct Side {
    sorted: Vec<f32>,
}

impl Side {
    fn new(v: Vec<f32>) -> Result<Self> {
        if v.is_empty() {
            return Err(ScaError::InvalidArgument(
                "code map without nonzeros".into(),
            ));
        }
        // Sort by `order_key` (the `total_cmp` order) with the integer radix sort.
        let mut keys: Vec<u64> = v
            .iter()
            .zip(0u64..)
            .map(|(&x, i)| ((order_key(x) as u64) << 32) | i)
            .collect();
        radix_sort_high(&mut keys, &mut Vec::new());
        let sorted = keys.iter().map(|k| v[(k & 0xFFFF_FFFF) as usize]).collect();
        Ok(Self { sorted })
    }

    /// Linearly interpolated empirical quantile at `u in [0, 1)`.
    fn quantile(&self, u: f64) -> f32 {
        let n = self.sorted.len();
        if n == 1 {
            return self.sorted[0];
        }
        let x = u * (n - 1) as f64;
        // `u >= 0`: truncation is the floor (and needs no libm call).
        let i = (x as usize).min(n - 2);
        let t = (x - i as f64) as f32;
        let (a, b) = (self.sorted[i], self.sorted[i + 1]);
        if (a < 0.0) != (b < 0.0) {
            // A signed distribution has a gap around 0: take the nearer order statistic
            // rather than a value inside the gap.
            return if t < 0.5 { a } else { b };
        }
        a * (1.0 - t) + b * t
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
            positive: Side::new(pos).unwrap_or_default(),
            negative: Side::new(neg).unwrap_or_default(),
        })
    }

    /// One noise value, from one 64-bit draw: `w ~ U(0, 1)` chooses the sign
    /// (`w < p_positive`) and, rescaled to `(0, 1)` within the chosen side, the quantile.
    pub fn draw<R: Rng>(&self, rng: &mut R) -> f32 {
        let w = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let p = self.p_positive;
        if w < p {
            self.positive.quantile(w / p)
        } else {
            -self.negative.quantile((w - p) / (1.0 - p))
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
    let mut buf = [0u8; 256];
    for v in 0..l.vectors() {
        let mut taken = [false; 256];
        for &i in key.support(v) {
            taken[i as usize] = true;
        }
        let complement = free_positions(&taken[..m], &mut buf);
        // Uniform S_n-subset of the complement: a partial Fisher-Yates shuffle.
        let len = complement.len();
        if s_n < len {
            for i in 0..s_n {
                complement.swap(i, rng.gen_range(i..len));
            }
        }
        let dist = &dists[l.group_of(v)];
        for &i in &complement[..s_n] {
            out.values[v * m + i as usize] = scale[v] * dist.draw(rng);
        }
    }
    Ok(out)
}

/// The positions `i` with `!taken[i]`, in `buf`.
fn free_positions<'a>(taken: &[bool], buf: &'a mut [u8; 256]) -> &'a mut [u8] {
    let mut c = 0;
    for (i, _) in taken.iter().enumerate().filter(|(_, t)| !**t) {
        buf[c] = i as u8;
        c += 1;
    }
    &mut buf[..c]
}

/// How the S_n ambiguation entries of every vector are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Ambiguation {
    /// `noise` i.i.d. values per vector on uniformly drawn free positions, matched to the
    /// true values as `matching` says (PRIMIS's ambiguation; [`ambiguate_with`]).
    Iid {
        /// S_n.
        noise: u16,
        /// Distribution matching.
        matching: Matching,
    },
    /// `count` decoy layers of S_x entries each, S_n = `count * S_x`
    /// ([`ambiguate_with_decoys`]), made from `images` decoy images: layer `k` is block
    /// `k / images` (entries of rank `b S_x + 1 ..= (b + 1) S_x` under the S-sparsity
    /// operator) of decoy image `k mod images`, its tiles shuffled independently
    /// ([`crate::share::obfuscate`]).
    Decoys {
        /// Decoy layers.
        count: u16,
        /// Decoy images they are made from (each costs one encoder pass).
        images: u16,
        /// What the decoy images are.
        source: DecoySource,
    },
}

/// What decoy images are made of ([`Ambiguation::Decoys`]).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
pub enum DecoySource {
    /// Fresh SYNTHETIC chest phantoms (`med_data::phantom`), mirrored with probability 1/2.
    Phantom,
    /// The image's own tiles, every one under its own random non-identity rotation or
    /// reflection ([`crate::share::transformed_tiles`]): X-ray codes for X-rays, but the
    /// decoys carry the patient's own (moved, rotated) content.
    #[default]
    OwnTiles,
}

/// The command-line choice of the ambiguation, shared by `sca-privacy share`, `sca-attack`
/// and `sca-eval` (`#[command(flatten)]`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct AmbiguationArgs {
    /// Decoy layers (default: as many as fit, `Ambiguation::default_for`).
    #[arg(long)]
    pub decoys: Option<u16>,
    /// Decoy images the layers are made from (default `DEFAULT_DECOY_IMAGES`).
    #[arg(long)]
    pub decoy_images: Option<u16>,
    /// Instead of decoys: S_n i.i.d. noise values per vector, matched per code map (PRIMIS).
    #[arg(long)]
    pub noise: Option<u16>,
    /// Instead of decoys: i.i.d. noise with S_n = M - S_x at every sparsity.
    #[arg(long)]
    pub full_noise: bool,
    /// With i.i.d. noise: scale-normalised matching (`Matching::PerMapScaled`).
    #[arg(long)]
    pub scaled: bool,
    /// Decoy images: the image's own tiles rotated/reflected (`own-tiles`) or SYNTHETIC
    /// phantoms (`phantom`); default `DEFAULT_DECOY_SOURCE`.
    #[arg(long, value_enum)]
    pub decoy_source: Option<DecoySource>,
}

impl AmbiguationArgs {
    /// The ambiguation these options choose for codes of dimension `m` at sparsity `s_x`.
    pub fn resolve(&self, m: usize, s_x: usize) -> Result<Ambiguation> {
        let iid = if self.full_noise {
            Some(m.saturating_sub(s_x) as u16)
        } else {
            self.noise
        };
        let images = self.decoy_images.unwrap_or(DEFAULT_DECOY_IMAGES).max(1);
        let source = self.decoy_source.unwrap_or(DEFAULT_DECOY_SOURCE);
        let with_images = |count: u16| Ambiguation::Decoys {
            count,
            images: images.min(count.max(1)),
            source,
        };
        match (self.decoys, iid) {
            (Some(_), Some(_)) => Err(ScaError::InvalidArgument(
                "choose decoy layers or i.i.d. noise, not both".into(),
            )),
            (Some(count), None) => Ok(with_images(count)),
            (None, Some(noise)) => Ok(Ambiguation::Iid {
                noise,
                matching: if self.scaled {
                    Matching::PerMapScaled
                } else {
                    Matching::PerMap
                },
            }),
            (None, None) => Ok(match Ambiguation::default_for(m, s_x) {
                Ambiguation::Decoys { count, .. } => with_images(count),
                other => other,
            }),
        }
    }
}

/// Decoy images of the shipped default ([`Ambiguation::default_for`]).
pub const DEFAULT_DECOY_IMAGES: u16 = 1;

/// What the decoy images of the shipped default are ([`Ambiguation::default_for`]).
pub const DEFAULT_DECOY_SOURCE: DecoySource = DecoySource::OwnTiles;

impl Ambiguation {
    /// The default for codes of dimension `m` at sparsity `s_x`: as many decoy layers as
    /// fit, `(m - s_x) / s_x` (every entry of a public vector nonzero where `s_x` divides
    /// `m`), from [`DEFAULT_DECOY_IMAGES`] decoy image(s) of [`DEFAULT_DECOY_SOURCE`].
    pub fn default_for(m: usize, s_x: usize) -> Self {
        Self::Decoys {
            count: (m.saturating_sub(s_x) / s_x.max(1)) as u16,
            images: DEFAULT_DECOY_IMAGES,
            source: DEFAULT_DECOY_SOURCE,
        }
    }

    /// S_n, the ambiguation entries per vector at sparsity `s_x`.
    pub fn noise(&self, s_x: usize) -> usize {
        match *self {
            Self::Iid { noise, .. } => noise as usize,
            Self::Decoys { count, .. } => count as usize * s_x,
        }
    }

    /// Short description.
    pub fn name(&self) -> String {
        match *self {
            Self::Iid { noise, matching } => format!("i.i.d. {matching:?}, S_n = {noise}"),
            Self::Decoys {
                count,
                images,
                source,
            } => match source {
                DecoySource::Phantom => format!("{count} decoy layer(s) from {images} phantom(s)"),
                DecoySource::OwnTiles => {
                    format!("{count} decoy layer(s) from {images} own-tile image(s)")
                }
            },
        }
    }
}

/// One decoy layer: block `block` (entries of rank `block * S_x + 1 ..= (block + 1) * S_x`
/// under the S-sparsity operator) of the dense decoy code `source`, with tile `t` of the
/// public code taking tile `tiles[t]` of the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoyLayer {
    /// Index of the dense decoy code it comes from.
    pub source: usize,
    /// Rank block.
    pub block: usize,
    /// Source tile of every tile (a permutation of the tiles).
    pub tiles: Vec<u32>,
}

/// Ambiguation by decoy layers made from the whole dense `decoys` (block 0, tiles in place):
/// [`ambiguate_with_layers`] with layer `k` = decoy `k`.
pub fn ambiguate_with_decoys(
    codes: &Codes,
    key: &SupportKey,
    kind: SparsityKind,
    decoys: &[Codes],
    rng: &mut ChaCha20Rng,
) -> Result<Codes> {
    let tiles: Vec<u32> = (0..codes.layout.tiles() as u32).collect();
    let layers: Vec<DecoyLayer> = (0..decoys.len())
        .map(|k| DecoyLayer {
            source: k,
            block: 0,
            tiles: tiles.clone(),
        })
        .collect();
    ambiguate_with_layers(codes, key, kind, decoys, &layers, rng)
}

/// The entries of one vector of a decoy source in the order of the S-sparsity operator
/// (Magnitude: larger `|x|` first, ties to the lower index), as `u8` indices.
fn operator_order(x: &[f32], out: &mut [u8]) {
    let mut keys = [0u64; 256];
    let keys = &mut keys[..x.len()];
    for (i, (k, v)) in keys.iter_mut().zip(x).enumerate() {
        *k = ((v.abs().to_bits() as u64) << 8) | (255 - i as u64);
    }
    keys.sort_unstable_by(|a, b| b.cmp(a));
    for (o, k) in out.iter_mut().zip(keys.iter()) {
        *o = (255 - (k & 0xFF)) as u8;
    }
}

/// Ambiguation by decoy layers. `decoys` are the *dense* codes of decoy images (same
/// layout as `codes`); `layers` say which block of which decoy, under which tile
/// permutation, every layer is. Layer by layer, every vector takes the S-sparse values of
/// its block of the decoy's vector (the operator `kind` applied after zeroing the entries
/// the operator ranks before the block, [`top_s_support`]): where such a value's position is
/// already held (by the true support or an earlier layer) it moves, largest first, to the
/// next positions the operator restricted to the free ones picks ([`top_s_among`]), so every
/// layer is a top-S_x value set like the true one. Then, per code map `g` and layer, the
/// set of every vector is rebuilt from the true values' statistics of that map: its scale
/// `r_v = sqrt(mean x^2)` is rank-mapped onto the distribution of the true vectors' scales
/// (the decoy's energy map stays, with the real image's spread of energies), its
/// magnitudes become `r'_v` times the profile (`|x| / r_u`, decreasing) of a uniformly drawn
/// true vector `u` of the map, assigned in the set's own order and with its own signs; so a
/// set's spread within a vector is that of a true set, and a value's rank within its vector
/// says nothing of membership. Last, the values are rank-mapped onto the true values of the
/// map (order kept), so the per-map marginals follow the true values' distribution. A rank
/// map sends the `r`-th smallest of `n` to `Q(u_(r))`, `u_(r)` the `r`-th smallest of `n`
/// independent uniform levels from `rng` ([`Side::quantile`], interpolated, never inside the
/// gap around 0; [`rank_map`] says why not stratified levels). Needs `(1 + layers) S_x <= M`.
///
/// Cost: one sort of every decoy vector (shared by all layers of that decoy), then per layer
/// and vector one walk down that order; per layer and map two rank maps (integer radix
/// sorts). The result is the same as selecting with [`top_s_among`] per layer (the test
/// `fast_layers_equal_the_reference` compares it with that direct implementation).
pub fn ambiguate_with_layers(
    codes: &Codes,
    key: &SupportKey,
    kind: SparsityKind,
    decoys: &[Codes],
    layers: &[DecoyLayer],
    rng: &mut ChaCha20Rng,
) -> Result<Codes> {
    let l = codes.layout;
    let (m, s) = (l.code_dim as usize, key.sparsity as usize);
    check_layers(codes, key, decoys, layers.len())?;
    let n_tiles = l.tiles();
    if layers.iter().any(|d| {
        d.source >= decoys.len()
            || d.tiles.len() != n_tiles
            || d.tiles.iter().any(|&t| t as usize >= n_tiles)
            || (d.block + 1) * s > m
    }) {
        return Err(ScaError::InvalidArgument(
            "decoy layer outside its sources".into(),
        ));
    }
    if kind != SparsityKind::Magnitude {
        return direct::ambiguate(codes, key, kind, decoys, layers, rng);
    }
    let groups = l.groups as usize;
    // Per code map: the distribution of the true vectors' scales and of their shapes.
    let targets = true_targets(codes, key)?;
    let mut taken = support_mask(key);
    // The operator's order of every vector of every decoy that a layer uses.
    let mut orders: Vec<Vec<u8>> = vec![Vec::new(); decoys.len()];
    for d in layers {
        if orders[d.source].is_empty() {
            let mut o = vec![0u8; l.values()];
            for (x, out) in decoys[d.source]
                .values
                .chunks_exact(m)
                .zip(o.chunks_exact_mut(m))
            {
                operator_order(x, out);
            }
            orders[d.source] = o;
        }
    }
    let per_tile = l.vectors() / n_tiles.max(1);
    let mut out = codes.clone();
    // Per vector of the layer: the slots of its S values in the set's order (decreasing
    // |x|), their signs, and the set's scale.
    let mut slots = vec![0u32; l.vectors() * s];
    let mut signs = vec![0f32; l.vectors() * s];
    let mut scales = vec![0f32; l.vectors()];
    let mut pending = vec![0usize; s];
    let mut early = [false; 256];
    let mut rs = RankScratch::default();
    for layer in layers {
        let (src, order) = (&decoys[layer.source].values, &orders[layer.source]);
        let start = layer.block * s;
        for v in 0..l.vectors() {
            let sv = layer.tiles[v / per_tile] as usize * per_tile + v % per_tile;
            let (x, ord) = (&src[sv * m..(sv + 1) * m], &order[sv * m..(sv + 1) * m]);
            let held = &mut taken[v * m..(v + 1) * m];
            let (vs, vg) = (
                &mut slots[v * s..(v + 1) * s],
                &mut signs[v * s..(v + 1) * s],
            );
            // The walk: entries of rank >= start with x != 0 in the operator's order, then
            // (the block's operator sees them as zeros) the others by increasing index.
            let mut w = Walk {
                v,
                m,
                s,
                k: 0,
                moved: 0,
                next: 0,
                energy: 0.0,
            };
            let mut going = true;
            for &i in &ord[start..] {
                let i = i as usize;
                if x[i] != 0.0 && !w.step(i, x[i], held, vs, vg, &mut pending) {
                    going = false;
                    break;
                }
            }
            if going {
                early[..m].fill(false);
                for &i in &ord[..start] {
                    early[i as usize] = true;
                }
                for (i, (&e, &xi)) in early[..m].iter().zip(x).enumerate() {
                    if (e || xi == 0.0) && !w.step(i, 0.0, held, vs, vg, &mut pending) {
                        break;
                    }
                }
            }
            let energy = w.energy;
            scales[v] = (energy / s as f32).sqrt();
        }
        for (g, target) in targets.iter().enumerate() {
            // The vectors of map g: per tile, a run of `per_map` consecutive vectors.
            let pm = l.per_map();
            let vs: Vec<usize> = (0..n_tiles)
                .flat_map(|t| (t * groups + g) * pm..(t * groups + g + 1) * pm)
                .collect();
            let mut sc: Vec<f32> = vs.iter().map(|&v| scales[v]).collect();
            rank_map(&mut sc, &target.0, rng, &mut rs);
            let profiles = &target.1;
            let n_true = profiles.len() / s;
            let mut mapped = vec![0f32; vs.len() * s];
            for (j, &v) in vs.iter().enumerate() {
                // The profile of a random true vector of the map, in this set's order.
                let u = rng.gen_range(0..n_true);
                let profile = &profiles[u * s..(u + 1) * s];
                for ((o, &g), &q) in mapped[j * s..(j + 1) * s]
                    .iter_mut()
                    .zip(&signs[v * s..(v + 1) * s])
                    .zip(profile)
                {
                    *o = g * sc[j] * q;
                }
            }
            // Last, the values themselves onto the true values' distribution of the map
            // (order kept): the per-map marginals then match by construction.
            rank_map(&mut mapped, &target.2, rng, &mut rs);
            for (j, &v) in vs.iter().enumerate() {
                for (&slot, &x) in slots[v * s..(v + 1) * s]
                    .iter()
                    .zip(&mapped[j * s..(j + 1) * s])
                {
                    out.values[slot as usize] = x;
                }
            }
        }
    }
    Ok(out)
}

/// State of one vector's walk down a decoy's operator order
/// ([`ambiguate_with_layers`]).
struct Walk {
    v: usize,
    m: usize,
    s: usize,
    /// Values of the block seen so far.
    k: usize,
    /// Of those, the ones whose position was held (waiting in `pending`).
    moved: usize,
    /// Pending values placed so far.
    next: usize,
    /// Sum of squares of the block's values.
    energy: f32,
}

impl Walk {
    /// Visit entry `i` (value `value` as the block's operator sees it); false when the
    /// vector's layer is complete.
    fn step(
        &mut self,
        i: usize,
        value: f32,
        held: &mut [bool],
        slots: &mut [u32],
        signs: &mut [f32],
        pending: &mut [usize],
    ) -> bool {
        let slot = (self.v * self.m + i) as u32;
        if self.k < self.s {
            // One of the block's own S values (the k-th largest): it stays where it is, or
            // waits for the next free position the operator picks.
            signs[self.k] = if value < 0.0 { -1.0 } else { 1.0 };
            self.energy += value * value;
            if held[i] {
                pending[self.moved] = self.k;
                self.moved += 1;
            } else {
                slots[self.k] = slot;
                held[i] = true;
            }
            self.k += 1;
        } else if self.next < self.moved && !held[i] {
            slots[pending[self.next]] = slot;
            held[i] = true;
            self.next += 1;
        }
        self.k < self.s || self.next < self.moved
    }
}

/// Per code map: the distribution of the true vectors' scales, their profiles (consecutive
/// sets of S_x) and the distribution of the true values.
fn true_targets(codes: &Codes, key: &SupportKey) -> Result<Vec<(Side, Vec<f32>, Side)>> {
    let l = codes.layout;
    let (m, s) = (l.code_dim as usize, key.sparsity as usize);
    (0..l.groups as usize)
        .map(|g| {
            let values: Vec<f32> = (0..l.vectors())
                .filter(|&v| l.group_of(v) == g)
                .flat_map(|v| {
                    key.support(v)
                        .iter()
                        .map(move |&i| codes.values[v * m + i as usize])
                })
                .collect();
            let (scales, profiles) = scales_and_profiles(&values, s);
            Ok((Side::new(scales)?, profiles, Side::new(values)?))
        })
        .collect()
}

/// The dense code of one decoy layer: block `layer.block` of `decoy` (the entries the
/// operator ranks before it zeroed), tiles permuted as `layer.tiles` says.
pub fn layer_code(decoy: &Codes, layer: &DecoyLayer, s: usize, kind: SparsityKind) -> Codes {
    let l = decoy.layout;
    let m = l.code_dim as usize;
    let block = l.values() / l.tiles().max(1);
    let mut out = decoy.clone();
    for (t, &src) in layer.tiles.iter().enumerate() {
        out.values[t * block..(t + 1) * block]
            .copy_from_slice(&decoy.values[src as usize * block..(src as usize + 1) * block]);
    }
    let k = (layer.block * s).min(m);
    if k > 0 {
        let mut top = vec![0u8; k];
        for x in out.values.chunks_exact_mut(m) {
            top_s_support(x, k, kind, &mut top);
            for &i in &top {
                x[i as usize] = 0.0;
            }
        }
    }
    out
}

/// The direct implementation of decoy layers: every layer materialised ([`layer_code`]) and
/// selected with [`top_s_among`] per vector. Used for the Signed operator, and as the
/// reference the fast walk of [`ambiguate_with_layers`] is tested against.
pub mod direct {
    use super::*;

    /// [`ambiguate_with_layers`] the direct way.
    pub fn ambiguate(
        codes: &Codes,
        key: &SupportKey,
        kind: SparsityKind,
        decoys: &[Codes],
        layers: &[DecoyLayer],
        rng: &mut ChaCha20Rng,
    ) -> Result<Codes> {
        let s = key.sparsity as usize;
        let dense: Vec<Codes> = layers
            .iter()
            .map(|d| layer_code(&decoys[d.source], d, s, kind))
            .collect();
        materialised(codes, key, kind, &dense, rng)
    }

    fn materialised(
        codes: &Codes,
        key: &SupportKey,
        kind: SparsityKind,
        decoys: &[Codes],
        rng: &mut ChaCha20Rng,
    ) -> Result<Codes> {
        let l = codes.layout;
        let (m, s) = (l.code_dim as usize, key.sparsity as usize);
        check_layers(codes, key, decoys, decoys.len())?;
        let groups = l.groups as usize;
        // Per code map: the distribution of the true vectors' scales and of their shapes.
        let targets = true_targets(codes, key)?;
        let mut taken = support_mask(key);
        let mut out = codes.clone();
        let mut buf = [0u8; 256];
        let mut chosen = vec![0u8; s];
        let mut natural = vec![0u8; s];
        let (mut moved, mut extra) = (Vec::with_capacity(s), Vec::with_capacity(s));
        let mut per_map: Vec<Vec<(u32, f32)>> = vec![Vec::new(); groups];
        let mut rs = RankScratch::default();
        for decoy in decoys {
            per_map.iter_mut().for_each(Vec::clear);
            for v in 0..l.vectors() {
                let free = free_positions(&taken[v * m..(v + 1) * m], &mut buf);
                let x = decoy.vector(v);
                top_s_among(x, free, kind, &mut chosen);
                top_s_support(x, s, kind, &mut natural);
                // The layer keeps the decoy's own S-sparse values (a top-S_x set, like the true
                // layer's): those whose position is free stay, those on taken positions move,
                // largest first, to the free positions the restricted operator added.
                moved.clear();
                moved.extend(
                    natural
                        .iter()
                        .filter(|&&i| taken[v * m + i as usize])
                        .map(|&i| x[i as usize]),
                );
                extra.clear();
                extra.extend(
                    chosen
                        .iter()
                        .copied()
                        .filter(|i| natural.binary_search(i).is_err()),
                );
                moved.sort_unstable_by(|a, b| b.abs().total_cmp(&a.abs()));
                extra.sort_unstable_by(|&a, &b| {
                    x[b as usize]
                        .abs()
                        .total_cmp(&x[a as usize].abs())
                        .then(a.cmp(&b))
                });
                let entries = &mut per_map[l.group_of(v)];
                for &i in &chosen {
                    let slot = v * m + i as usize;
                    taken[slot] = true;
                    let value = match extra.iter().position(|&e| e == i) {
                        Some(k) => moved[k],
                        None => x[i as usize],
                    };
                    entries.push((slot as u32, value));
                }
            }
            for (g, entries) in per_map.iter().enumerate() {
                let values: Vec<f32> = entries.iter().map(|e| e.1).collect();
                let mut scales = vector_scales(&values, s);
                rank_map(&mut scales, &targets[g].0, rng, &mut rs);
                let profiles = &targets[g].1;
                let n_true = profiles.len() / s;
                let mut mapped = vec![0f32; values.len()];
                let mut order: Vec<usize> = Vec::with_capacity(s);
                for (v, set) in values.chunks_exact(s).enumerate() {
                    // The profile of a random true vector of the map, in this set's order.
                    let u = rng.gen_range(0..n_true);
                    let profile = &profiles[u * s..(u + 1) * s];
                    order.clear();
                    order.extend(0..s);
                    order.sort_unstable_by(|&a, &b| {
                        set[b].abs().total_cmp(&set[a].abs()).then(a.cmp(&b))
                    });
                    for (k, &i) in order.iter().enumerate() {
                        mapped[v * s + i] = set[i].signum() * scales[v] * profile[k];
                    }
                }
                // Last, the values themselves onto the true values' distribution of the map
                // (order kept): the per-map marginals then match by construction.
                rank_map(&mut mapped, &targets[g].2, rng, &mut rs);
                for (&(slot, _), &x) in entries.iter().zip(&mapped) {
                    out.values[slot as usize] = x;
                }
            }
        }
        Ok(out)
    }
}

/// Fails unless `key` and every decoy have the layout of `codes`, and `layers` decoy layers
/// of `S_x` values fit beside the true one in `M` (shared by both implementations of
/// [`ambiguate_with_layers`]).
fn check_layers(codes: &Codes, key: &SupportKey, decoys: &[Codes], layers: usize) -> Result<()> {
    let l = codes.layout;
    let (m, s) = (l.code_dim as usize, key.sparsity as usize);
    if key.layout != l
        || decoys
            .iter()
            .any(|d| d.layout != l || d.values.len() != l.values())
    {
        return Err(ScaError::KeyMismatch(
            "key, code and decoy shapes differ".into(),
        ));
    }
    if (1 + layers) * s > m {
        return Err(ScaError::InvalidConfig(format!(
            "{layers} decoy layers of S_x = {s} and the true one exceed M = {m}"
        )));
    }
    Ok(())
}

/// `true` at every value the key's true support holds (code vector `v`, entry `i` at
/// `v M + i`).
fn support_mask(key: &SupportKey) -> Vec<bool> {
    let l = key.layout;
    let m = l.code_dim as usize;
    let mut taken = vec![false; l.values()];
    for v in 0..l.vectors() {
        for &i in key.support(v) {
            taken[v * m + i as usize] = true;
        }
    }
    taken
}

/// The scale `r_v = sqrt(mean x^2)` of every set of `s` consecutive `values`.
fn vector_scales(values: &[f32], s: usize) -> Vec<f32> {
    values
        .chunks_exact(s)
        .map(|c| (c.iter().map(|x| x * x).sum::<f32>() / s as f32).sqrt())
        .collect()
}

/// Per vector of `values` (consecutive sets of `s`): its scale `r_v = sqrt(mean x^2)`, and
/// its profile, the magnitudes `|x| / r_v` in decreasing order (0 where `r_v = 0`).
fn scales_and_profiles(values: &[f32], s: usize) -> (Vec<f32>, Vec<f32>) {
    let scales = vector_scales(values, s);
    let mut profiles = Vec::with_capacity(values.len());
    for (c, &r) in values.chunks_exact(s).zip(&scales) {
        let start = profiles.len();
        profiles.extend(c.iter().map(|x| if r > 0.0 { x.abs() / r } else { 0.0 }));
        profiles[start..].sort_unstable_by(|a: &f32, b: &f32| b.total_cmp(a));
    }
    (scales, profiles)
}

/// Scratch buffers of [`rank_map`] and the radix sorts.
#[derive(Default)]
struct RankScratch {
    order: Vec<u64>,
    levels: Vec<u64>,
    draws: Vec<u32>,
    tmp: Vec<u64>,
}

/// Replace every value by a fresh draw from `target`, keeping the values' order: `n` levels
/// `u ~ U(0, 1)` drawn independently (32 bits each, from `rng` in one bulk fill) and sorted;
/// the `r`-th smallest value becomes `Q(u_(r))`. So the values follow `target`'s distribution
/// (interpolated, [`Side::quantile`]) and keep their order.
///
/// Not the stratified `Q((r + w) / n)`, `w ~ U(0, 1)` of sessions 2-4: a decoy layer has as
/// many values per code map as the true layer, so stratified levels put exactly one value of
/// every layer between two consecutive true values, and the true values were every
/// `(L + 1)`-th entry of a code map's pooled order (the pooled-rank guess,
/// [`crate::share::SupportGuess::PooledRank`]; `tests/ambiguation.rs`).
fn rank_map(values: &mut [f32], target: &Side, rng: &mut ChaCha20Rng, sc: &mut RankScratch) {
    let n = values.len();
    sc.order.clear();
    sc.order.extend(
        values
            .iter()
            .zip(0u64..)
            .map(|(&x, i)| ((order_key(x) as u64) << 32) | i),
    );
    radix_sort_high(&mut sc.order, &mut sc.tmp);
    sorted_levels(n, rng, &mut sc.draws, &mut sc.levels);
    const SCALE: f64 = 1.0 / 4_294_967_296.0;
    for (&k, &u) in sc.order.iter().zip(&sc.levels) {
        let u = (u as f64 + 0.5) * SCALE;
        values[(k & 0xFFFF_FFFF) as usize] = target.quantile(u);
    }
}

/// Sort `(key << 32) | index` pairs whose indices are `0..n` in increasing order (as they
/// are built): a stable LSD radix sort on the high 32 bits in three passes of 11 bits, so
/// the result is that of `sort_unstable` on the `u64`s (equal keys keep increasing index).
/// `tmp` is scratch.
fn radix_sort_high(v: &mut Vec<u64>, tmp: &mut Vec<u64>) {
    const BITS: u32 = 11;
    const BUCKETS: usize = 1 << BITS;
    if tmp.len() < v.len() {
        tmp.resize(v.len(), 0);
    }
    tmp.truncate(v.len());
    // The three histograms in one read of the keys.
    let mut counts = vec![[0u32; BUCKETS]; 3];
    for &x in v.iter() {
        for (pass, c) in counts.iter_mut().enumerate() {
            c[((x >> (32 + pass as u32 * BITS)) as usize) & (BUCKETS - 1)] += 1;
        }
    }
    for (pass, c) in counts.iter_mut().enumerate() {
        let shift = 32 + pass as u32 * BITS;
        // A digit all keys share leaves the order as it is: skip the pass.
        if c.iter().any(|&k| k as usize == v.len()) {
            continue;
        }
        let mut sum = 0u32;
        for k in c.iter_mut() {
            let n = *k;
            *k = sum;
            sum += n;
        }
        for &x in v.iter() {
            let b = ((x >> shift) as usize) & (BUCKETS - 1);
            tmp[c[b] as usize] = x;
            c[b] += 1;
        }
        std::mem::swap(v, tmp);
    }
}

/// `n` independent uniform 32-bit levels from `rng` (one bulk fill), sorted ascending, into
/// `out`: a bucket sort into `n` buckets by the top bits (one counting pass, then a sort
/// within buckets of expected size 1). `draws` is scratch.
fn sorted_levels(n: usize, rng: &mut ChaCha20Rng, draws: &mut Vec<u32>, out: &mut Vec<u64>) {
    draws.clear();
    draws.resize(n, 0);
    rng.fill(&mut draws[..]);
    out.clear();
    out.resize(n, 0);
    let bucket = |u: u32| ((u as u64 * n as u64) >> 32) as usize;
    let mut starts = vec![0u32; n + 1];
    for &u in draws.iter() {
        starts[bucket(u) + 1] += 1;
    }
    for i in 0..n {
        starts[i + 1] += starts[i];
    }
    let mut fill = starts.clone();
    for &u in draws.iter() {
        let b = bucket(u);
        out[fill[b] as usize] = u as u64;
        fill[b] += 1;
    }
    for w in starts.windows(2) {
        let run = &mut out[w[0] as usize..w[1] as usize];
        if run.len() > 1 {
            run.sort_unstable();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn quantiles_interpolate_within_range() {
        let s = Side::new(vec![3.0, 1.0, 2.0]).unwrap();
        // Signed: never inside the gap around 0.
        let g = Side::new(vec![-2.0, -1.0, 1.0, 2.0]).unwrap();
        assert_eq!(g.quantile(0.45), -1.0);
        assert_eq!(g.quantile(0.55), 1.0);
        assert!(Side::new(Vec::new()).is_err());
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

    fn toy(seed: u64) -> Codes {
        let layout = crate::codec::CodeLayout {
            tiles_x: 3,
            tiles_y: 2,
            groups: 2,
            side: 4,
            code_dim: 32,
        };
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let values = (0..layout.values())
            .map(|_| {
                let u: f32 = rng.gen_range(-1.0..1.0);
                // Some exact zeros, as a block of a decoy can meet them.
                if u.abs() < 0.02 {
                    0.0
                } else {
                    u * u * u
                }
            })
            .collect();
        Codes { layout, values }
    }

    #[test]
    fn fast_layers_equal_the_reference() {
        let s = 8;
        let (sparse, key) = crate::sparse::sparsify(&toy(1), s, SparsityKind::Magnitude).unwrap();
        let decoys = vec![toy(2), toy(3)];
        let mut prng = ChaCha20Rng::seed_from_u64(9);
        let layers: Vec<DecoyLayer> = (0..3)
            .map(|k| DecoyLayer {
                source: k % 2,
                block: k / 2 + k % 2,
                tiles: crate::share::tile_permutation(6, &mut prng),
            })
            .collect();
        let kind = SparsityKind::Magnitude;
        let fast = ambiguate_with_layers(
            &sparse,
            &key,
            kind,
            &decoys,
            &layers,
            &mut ChaCha20Rng::seed_from_u64(5),
        )
        .unwrap();
        let slow = direct::ambiguate(
            &sparse,
            &key,
            kind,
            &decoys,
            &layers,
            &mut ChaCha20Rng::seed_from_u64(5),
        )
        .unwrap();
        assert_eq!(fast, slow);
        // Every entry nonzero or held, the true values untouched.
        for v in 0..sparse.layout.vectors() {
            let nz = fast.vector(v).iter().filter(|x| **x != 0.0).count();
            assert_eq!(nz, 4 * s, "vector {v}");
            for &i in key.support(v) {
                assert_eq!(fast.vector(v)[i as usize], sparse.vector(v)[i as usize]);
            }
        }
        // Layers outside their sources are refused.
        let mut bad = layers.clone();
        bad[0].tiles[0] = 6;
        assert!(ambiguate_with_layers(&sparse, &key, kind, &decoys, &bad, &mut prng).is_err());
    }

    #[test]
    fn sorted_levels_are_sorted_draws() {
        for n in [0usize, 1, 2, 9, 4096] {
            let mut rng = ChaCha20Rng::seed_from_u64(n as u64);
            let (mut draws, mut out) = (Vec::new(), Vec::new());
            sorted_levels(n, &mut rng, &mut draws, &mut out);
            // The same draws as one bulk fill, sorted.
            let mut want = vec![0u32; n];
            ChaCha20Rng::seed_from_u64(n as u64).fill(&mut want[..]);
            want.sort_unstable();
            assert_eq!(out, want.iter().map(|&u| u as u64).collect::<Vec<_>>());
        }
    }

    #[test]
    fn radix_sort_is_the_integer_sort() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for n in [0usize, 1, 7, 5000] {
            let mut v: Vec<u64> = (0..n as u64)
                .map(|i| ((rng.gen_range(0..40u64) << 28 | rng.gen::<u32>() as u64 >> 4) << 32) | i)
                .collect();
            let mut w = v.clone();
            w.sort_unstable();
            radix_sort_high(&mut v, &mut Vec::new());
            assert_eq!(v, w);
            // Keys below 2^11: the two upper digits are shared and their passes skipped.
            let mut v: Vec<u64> = (0..n as u64)
                .map(|i| (rng.gen_range(0..2000u64) << 32) | i)
                .collect();
            let mut w = v.clone();
            w.sort_unstable();
            radix_sort_high(&mut v, &mut Vec::new());
            assert_eq!(v, w);
        }
    }
}
