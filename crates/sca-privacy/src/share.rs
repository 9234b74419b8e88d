//! Sharing and revealing: the public code file, authorized reconstruction (purify with the
//! key, decode) and the unauthorized reconstructions (decode the public code as it is, or
//! after the attacker's best support guess).

use med_data::GrayImage;
use rand::rngs::OsRng;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use med_data::phantom::PhantomGenerator;

use crate::ambiguation::{
    ambiguate_with, ambiguate_with_layers, Ambiguation, DecoyLayer, DecoySource,
};
use crate::codec::{CodeLayout, Codes, Sca};
use crate::config::SparsityKind;
use crate::error::{Result, ScaError};
use crate::format::{corrupted, seal, unseal};
use crate::keys::{code_hash, unwrap, wrap, KeyBundle, RecipientPublic, RecipientSecret};
use crate::sparse::{bits_per_support, log2_binomial, sparsify, top_s_support, SupportKey};

const PUBLIC_MAGIC: &[u8; 8] = b"SCAPUBC\0";
const PUBLIC_VERSION: u16 = 1;

/// Header of a public code: what decodes it and its shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicHeader {
    /// Fingerprint of the weights that made it ([`Sca::fingerprint`]).
    pub weights: [u8; 16],
    /// Code shape.
    pub layout: CodeLayout,
    /// S_x, true nonzeros per vector.
    pub sparsity: u16,
    /// S_n, ambiguation noise values per vector.
    pub noise: u16,
}

/// The public, ambiguated code of one image: anyone may hold it.
#[derive(Clone, Debug, PartialEq)]
pub struct PublicCode {
    /// Header.
    pub header: PublicHeader,
    /// Ambiguated codes (`S_x + S_n` nonzeros per vector).
    pub codes: Codes,
}

impl PublicCode {
    /// File bytes: magic `SCAPUBC`, version, postcard header, values as f32 LE, CRC-32.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = postcard::to_allocvec(&self.header).expect("postcard to a Vec");
        let start = body.len();
        body.resize(start + self.codes.values.len() * 4, 0);
        for (b, v) in body[start..].chunks_exact_mut(4).zip(&self.codes.values) {
            b.copy_from_slice(&v.to_le_bytes());
        }
        seal(PUBLIC_MAGIC, PUBLIC_VERSION, &body)
    }

    /// Parse a public code file.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self> {
        let body = unseal(
            bytes,
            PUBLIC_MAGIC,
            PUBLIC_VERSION,
            "sca-privacy public code",
            what,
        )?;
        let (header, rest): (PublicHeader, &[u8]) =
            postcard::take_from_bytes(body).map_err(|e| corrupted(what, &e.to_string()))?;
        let l = header.layout;
        if l.tiles() == 0 || l.code_dim == 0 || l.groups == 0 || l.side == 0 {
            return Err(corrupted(what, "empty code shape"));
        }
        if header.sparsity == 0 || (header.sparsity + header.noise) > l.code_dim {
            return Err(corrupted(what, "S_x + S_n outside 1..=M"));
        }
        if rest.len() as u64 != l.values() as u64 * 4 {
            return Err(corrupted(what, "value count does not match the header"));
        }
        let values = rest
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Ok(Self {
            header,
            codes: Codes { layout: l, values },
        })
    }
}

/// Result of sharing one image.
#[derive(Clone, Debug)]
pub struct Shared {
    /// The public code.
    pub public: PublicCode,
    /// Its file bytes (what the wrapped keys are bound to).
    pub public_bytes: Vec<u8>,
    /// The wrapped keys.
    pub keys: KeyBundle,
}

/// Encode, sparsify and ambiguate an image as `ambiguation` says, all randomness (noise
/// values, positions, decoy images) from ChaCha20 keyed by `noise_seed` or by 32 bytes from
/// the OS CSPRNG; returns the public code and the secret support key.
pub fn obfuscate(
    sca: &Sca,
    img: &GrayImage,
    ambiguation: Ambiguation,
    noise_seed: Option<[u8; 32]>,
) -> Result<(PublicCode, SupportKey)> {
    let cfg = sca.config();
    let mut seed = noise_seed.unwrap_or_else(|| {
        let mut s = [0u8; 32];
        OsRng.fill_bytes(&mut s);
        s
    });
    let mut rng = ChaCha20Rng::from_seed(seed);
    seed.zeroize();
    let (dense, codes, key) = match ambiguation {
        Ambiguation::Iid { noise, matching } => {
            let dense = sca.encode_dense(img)?;
            let (sparse, key) = sparsify(&dense, cfg.sparsity, cfg.kind)?;
            let codes = ambiguate_with(&sparse, &key, noise as usize, matching, &mut rng)?;
            (dense, codes, key)
        }
        Ambiguation::Decoys {
            count,
            images,
            source,
        } => {
            let n = images.clamp(1, count.max(1)) as usize;
            let mut imgs = vec![img.clone()];
            match source {
                DecoySource::Phantom => imgs.extend(decoy_images(img, n, &mut rng)?),
                DecoySource::OwnTiles => {
                    for _ in 0..n {
                        imgs.push(transformed_tiles(img, cfg.patch, &mut rng)?);
                    }
                }
            }
            let mut dense = sca.encode_dense_all(&imgs)?;
            let sources = dense.split_off(1);
            let dense = dense.remove(0);
            let layers = (0..count as usize)
                .map(|k| DecoyLayer {
                    source: k % sources.len(),
                    block: k / sources.len(),
                    tiles: tile_permutation(dense.layout.tiles(), &mut rng),
                })
                .collect::<Vec<_>>();
            let (sparse, key) = sparsify(&dense, cfg.sparsity, cfg.kind)?;
            let codes =
                ambiguate_with_layers(&sparse, &key, cfg.kind, &sources, &layers, &mut rng)?;
            (dense, codes, key)
        }
    };
    Ok((
        PublicCode {
            header: PublicHeader {
                weights: sca.fingerprint(),
                layout: dense.layout,
                sparsity: cfg.sparsity as u16,
                noise: ambiguation.noise(cfg.sparsity) as u16,
            },
            codes,
        },
        key,
    ))
}

/// `dense` with the `k` entries the S-sparsity operator `kind` ranks first zeroed in every
/// vector, so that the operator then picks entries of rank `k + 1 ..= k + S_x` (a deeper
/// decoy layer from the same decoy image).
pub fn without_top(dense: &Codes, k: usize, kind: SparsityKind) -> Codes {
    let mut out = dense.clone();
    if k == 0 {
        return out;
    }
    let m = dense.layout.code_dim as usize;
    let mut top = vec![0u8; k.min(m)];
    for v in 0..dense.layout.vectors() {
        let x = &mut out.values[v * m..(v + 1) * m];
        top_s_support(x, top.len(), kind, &mut top);
        for &i in &top {
            x[i as usize] = 0.0;
        }
    }
    out
}

/// Permute the tiles of `codes` uniformly at random (Fisher-Yates). Tiles are encoded
/// independently, so the result is as much a code as before, but decoys no longer share the
/// anatomy's layout with each other (which would correlate their energies at every
/// position, and set the true layer apart as the odd one out).
pub fn shuffle_tiles(codes: &mut Codes, rng: &mut ChaCha20Rng) {
    let n = codes.layout.tiles();
    let block = codes.layout.values() / n.max(1);
    for i in (1..n).rev() {
        let j = rng.gen_range(0..=i);
        if i != j {
            let (a, b) = codes.values.split_at_mut(i * block);
            a[j * block..(j + 1) * block].swap_with_slice(&mut b[..block]);
        }
    }
}

/// A uniformly random permutation of `n` tiles, drawn as [`shuffle_tiles`] draws it:
/// `perm[t]` is the tile that [`shuffle_tiles`] with the same generator state moves to `t`.
pub fn tile_permutation(n: usize, rng: &mut ChaCha20Rng) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = rng.gen_range(0..=i);
        perm.swap(i, j);
    }
    perm
}

/// The image with every `patch x patch` tile under its own uniformly drawn non-identity
/// symmetry of the square (the 7 rotations and reflections other than the identity): an
/// X-ray's own texture, statistics and intensities, in no tile the true content in place.
/// The decoy image of [`DecoySource::OwnTiles`].
pub fn transformed_tiles(img: &GrayImage, patch: u32, rng: &mut ChaCha20Rng) -> Result<GrayImage> {
    let (w, h) = (img.width(), img.height());
    if patch == 0 || !w.is_multiple_of(patch) || !h.is_multiple_of(patch) {
        return Err(ScaError::BadImageSize {
            width: w,
            height: h,
            patch,
        });
    }
    let (wu, p) = (w as usize, patch as usize);
    let src = img.data();
    let mut out = vec![0f32; src.len()];
    for ty in 0..(h / patch) as usize {
        for tx in 0..(w / patch) as usize {
            // 1..=7: bit 0 transposes, bit 1 mirrors x, bit 2 mirrors y.
            let d = rng.gen_range(1..8u32);
            for y in 0..p {
                for x in 0..p {
                    let (mut a, mut b) = if d & 1 == 1 { (y, x) } else { (x, y) };
                    if d & 2 == 2 {
                        a = p - 1 - a;
                    }
                    if d & 4 == 4 {
                        b = p - 1 - b;
                    }
                    out[(ty * p + y) * wu + tx * p + x] = src[(ty * p + b) * wu + tx * p + a];
                }
            }
        }
    }
    Ok(GrayImage::new(w, h, out)?)
}

/// `count` decoy images of `like`'s size: SYNTHETIC chest phantoms
/// ([`med_data::phantom::PhantomGenerator`]) with generator seeds from `rng` (so nobody can
/// regenerate them without the noise seed, which is not kept), each mirrored with
/// probability 1/2.
pub fn decoy_images(
    like: &GrayImage,
    count: usize,
    rng: &mut ChaCha20Rng,
) -> Result<Vec<GrayImage>> {
    (0..count)
        .map(|_| {
            let p = PhantomGenerator::new(rng.next_u64()).generate(0).image;
            let p = if (p.width(), p.height()) == (like.width(), like.height()) {
                p
            } else {
                p.resize(like.width(), like.height())?
            };
            Ok(if rng.next_u32() & 1 == 1 {
                p.flip_horizontal()
            } else {
                p
            })
        })
        .collect()
}

/// Share an image with `recipients`: public code plus the support key wrapped for each.
pub fn share(
    sca: &Sca,
    img: &GrayImage,
    ambiguation: Ambiguation,
    recipients: &[RecipientPublic],
) -> Result<Shared> {
    if recipients.is_empty() {
        return Err(ScaError::InvalidArgument("no recipients".into()));
    }
    let (public, key) = obfuscate(sca, img, ambiguation, None)?;
    let packed = zeroize::Zeroizing::new(key.pack()?);
    let public_bytes = public.to_bytes();
    let hash = code_hash(&public_bytes);
    let keys = recipients
        .iter()
        .map(|r| wrap(&packed, r, &hash))
        .collect::<Result<Vec<_>>>()?;
    Ok(Shared {
        public,
        public_bytes,
        keys: KeyBundle {
            code_hash: hash,
            keys,
        },
    })
}

/// Check that a public code was made with `sca`'s weights.
pub fn check_weights(sca: &Sca, header: &PublicHeader) -> Result<()> {
    if header.weights != sca.fingerprint() || header.sparsity as usize != sca.config().sparsity {
        return Err(ScaError::ModelMismatch {
            what: "public code".into(),
            detail: format!(
                "made with weights {} at S_x = {}, these are {} at S_x = {}",
                hex(&header.weights),
                header.sparsity,
                hex(&sca.fingerprint()),
                sca.config().sparsity
            ),
        });
    }
    sca.check_layout(&header.layout)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Authorized reconstruction with a support key: purify, decode.
pub fn reconstruct(sca: &Sca, public: &PublicCode, key: &SupportKey) -> Result<GrayImage> {
    check_weights(sca, &public.header)?;
    sca.decode(&key.purify(&public.codes)?)
}

/// Reveal a shared image: unwrap the key of `secret`'s recipient (bound to the hash of
/// `public_bytes`), purify the public code, decode.
pub fn reveal(
    sca: &Sca,
    public_bytes: &[u8],
    keys: &KeyBundle,
    secret: &RecipientSecret,
) -> Result<GrayImage> {
    let public = PublicCode::from_bytes(public_bytes, "public code")?;
    check_weights(sca, &public.header)?;
    let packed = unwrap(
        keys.for_recipient(&secret.name)?,
        secret,
        &code_hash(public_bytes),
    )?;
    let key = SupportKey::from_packed(
        public.header.layout,
        public.header.sparsity as usize,
        &packed,
    )?;
    reconstruct(sca, &public, &key)
}

/// The support guesses of an attacker without the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SupportGuess {
    /// The S_x entries of largest magnitude.
    TopMagnitude,
    /// The S_x/2 largest and S_x/2 most negative entries.
    TopBottom,
    /// The S_x most negative entries.
    Bottom,
    /// The S_x nonzero entries of smallest magnitude.
    SmallestMagnitude,
    /// The S_x nonzero entries whose `ln |x|` is closest to the vector's median `ln |x|`
    /// (an attacker who noticed that true values are neither the largest nor the smallest).
    MiddleMagnitude,
    /// S_x of the nonzero entries drawn uniformly at random (fixed seed): no information at
    /// all, the chance baseline of the other guesses, in recovery and in what it decodes to.
    Random,
    /// Across a whole code map: with `L = S_n / S_x` ambiguation entries per true one, the
    /// map's `N` nonzeros in their pooled order (by value) fall in blocks of `L + 1`
    /// consecutive ranks; entry of pooled rank `p` scores by how close its offset `p mod
    /// (L + 1)` is to `L * q`, `q = p / N`. This finds rank-mapped layers whose quantile
    /// levels are stratified (one value of every layer between consecutive true values, so
    /// exactly one true value per block, at offset 0 in the low tail and `L` in the high
    /// tail): the flaw of sessions 2-4's rank map, fixed in session 5.
    PooledRank,
}

impl SupportGuess {
    /// All guesses.
    pub const ALL: [SupportGuess; 7] = [
        Self::TopMagnitude,
        Self::TopBottom,
        Self::Bottom,
        Self::SmallestMagnitude,
        Self::MiddleMagnitude,
        Self::Random,
        Self::PooledRank,
    ];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Self::TopMagnitude => "top-S |x|",
            Self::TopBottom => "top-S/2 + bottom-S/2",
            Self::Bottom => "bottom-S",
            Self::SmallestMagnitude => "smallest-S |x|",
            Self::MiddleMagnitude => "middle-S |x|",
            Self::Random => "random S (chance)",
            Self::PooledRank => "pooled rank per map",
        }
    }

    /// The guessed support of every vector of the public code.
    pub fn guess(self, public: &PublicCode) -> Result<SupportKey> {
        let s = public.header.sparsity as usize;
        let l = public.header.layout;
        let mut supports = vec![0u8; l.vectors() * s];
        let mut rng = ChaCha20Rng::seed_from_u64(0x5CA);
        let pooled = match self {
            Self::PooledRank => pooled_rank_scores(public),
            _ => Vec::new(),
        };
        for (v, x) in public.codes.vectors().enumerate() {
            let out = &mut supports[v * s..(v + 1) * s];
            match self {
                Self::TopMagnitude => top_s_support(x, s, SparsityKind::Magnitude, out),
                Self::TopBottom => {
                    // An odd S gives the extra entry to the top half.
                    let mut even = vec![0u8; s + s % 2];
                    if even.len() <= x.len() {
                        top_s_support(x, even.len(), SparsityKind::Signed, &mut even);
                    }
                    out.copy_from_slice(&even[..s]);
                    out.sort_unstable();
                }
                Self::Bottom => ranked_support(x, |v| -v, out),
                // Zeros rank last: only nonzero entries are candidates.
                Self::SmallestMagnitude => ranked_support(
                    x,
                    |v| {
                        if v == 0.0 {
                            f32::NEG_INFINITY
                        } else {
                            -v.abs()
                        }
                    },
                    out,
                ),
                Self::MiddleMagnitude => {
                    let mut logs: Vec<f32> = x
                        .iter()
                        .filter(|v| **v != 0.0)
                        .map(|v| v.abs().ln())
                        .collect();
                    logs.sort_by(f32::total_cmp);
                    let med = logs.get(logs.len() / 2).copied().unwrap_or(0.0);
                    let score = |v: f32| {
                        if v == 0.0 {
                            f32::NEG_INFINITY
                        } else {
                            -(v.abs().ln() - med).abs()
                        }
                    };
                    ranked_support(x, score, out)
                }
                Self::PooledRank => {
                    let m = x.len();
                    let sc = &pooled[v * m..(v + 1) * m];
                    let mut idx: Vec<u8> = (0..m as u8).collect();
                    idx.sort_by(|&a, &b| sc[b as usize].total_cmp(&sc[a as usize]).then(a.cmp(&b)));
                    out.copy_from_slice(&idx[..s]);
                    out.sort_unstable();
                }
                Self::Random => {
                    // Uniform scores on the nonzero entries: a uniform S_x-subset of them.
                    let u: Vec<f32> = x
                        .iter()
                        .map(|&v| if v == 0.0 { -1.0 } else { rng.gen::<f32>() })
                        .collect();
                    let mut idx: Vec<u8> = (0..x.len() as u8).collect();
                    idx.sort_by(|&a, &b| u[b as usize].total_cmp(&u[a as usize]));
                    out.copy_from_slice(&idx[..s]);
                    out.sort_unstable();
                }
            }
        }
        SupportKey::from_supports(l, s, supports)
    }
}

/// The scores of [`SupportGuess::PooledRank`], one per entry of the public code (`-inf` on
/// zeros).
fn pooled_rank_scores(public: &PublicCode) -> Vec<f32> {
    let l = public.header.layout;
    let m = l.code_dim as usize;
    let s = public.header.sparsity.max(1) as usize;
    let layers = (public.header.noise as usize / s) as f64;
    let period = layers as usize + 1;
    let mut scores = vec![f32::NEG_INFINITY; l.values()];
    for g in 0..l.groups as usize {
        let mut entries: Vec<(u32, u32)> = (0..l.vectors())
            .filter(|&v| l.group_of(v) == g)
            .flat_map(|v| (v * m..(v + 1) * m).map(|j| j as u32))
            .filter(|&j| public.codes.values[j as usize] != 0.0)
            .map(|j| (crate::sparse::order_key(public.codes.values[j as usize]), j))
            .collect();
        entries.sort_unstable();
        let n = entries.len().max(1) as f64;
        for (p, &(_, j)) in entries.iter().enumerate() {
            let offset = (p % period) as f64;
            let expected = layers * p as f64 / n;
            scores[j as usize] = -(offset - expected).abs() as f32;
        }
    }
    scores
}

/// The `out.len()` indices of largest `score(x_i)` (ties to the lower index), sorted.
fn ranked_support(x: &[f32], score: impl Fn(f32) -> f32, out: &mut [u8]) {
    let mut idx: Vec<u8> = (0..x.len() as u8).collect();
    idx.sort_by(|&a, &b| {
        score(x[b as usize])
            .total_cmp(&score(x[a as usize]))
            .then(a.cmp(&b))
    });
    out.copy_from_slice(&idx[..out.len()]);
    out.sort_unstable();
}

/// Fraction of the true support entries that `guess` contains (over all vectors).
pub fn support_recovery(truth: &SupportKey, guess: &SupportKey) -> f64 {
    let n = truth.layout.vectors();
    let hits: usize = (0..n)
        .map(|v| {
            truth
                .support(v)
                .iter()
                .filter(|i| guess.support(v).binary_search(i).is_ok())
                .count()
        })
        .sum();
    hits as f64 / (n * truth.sparsity as usize) as f64
}

/// Within-vector ranks of the true and of the ambiguation entries: in every vector the
/// nonzero entries are ranked by `|x|` (ascending, ties by index) and entry of rank `r` of
/// `n` gets `(r + 1/2) / n`. If true and ambiguation entries are exchangeable within a vector
/// (nothing about a value's rank among its vector's values tells membership), both samples
/// have the same distribution, whatever the marginals; a two-sample test of the two
/// ([`crate::stats::ks_two_sample`]) checks it. (i.i.d. noise matched per code map fails it:
/// a vector's true values share its scale, the noise does not.)
pub fn within_vector_ranks(public: &PublicCode, key: &SupportKey) -> (Vec<f32>, Vec<f32>) {
    let (mut truth, mut noise) = (Vec::new(), Vec::new());
    let mut idx: Vec<u8> = Vec::new();
    for (v, x) in public.codes.vectors().enumerate() {
        idx.clear();
        idx.extend((0..x.len() as u8).filter(|&i| x[i as usize] != 0.0));
        idx.sort_by(|&a, &b| {
            x[a as usize]
                .abs()
                .total_cmp(&x[b as usize].abs())
                .then(a.cmp(&b))
        });
        let n = idx.len() as f32;
        for (r, &i) in idx.iter().enumerate() {
            let q = (r as f32 + 0.5) / n;
            if key.support(v).binary_search(&i).is_ok() {
                truth.push(q);
            } else {
                noise.push(q);
            }
        }
    }
    (truth, noise)
}

/// The rate a guess of S_x entries among the `S_x + S_n` nonzeros achieves by chance:
/// `S_x / (S_x + S_n)` of the true entries (hypergeometric mean).
pub fn chance_recovery(s_x: usize, s_n: usize) -> f64 {
    s_x as f64 / (s_x + s_n) as f64
}

/// Support uncertainty of an attacker who sees which `S_x + S_n` entries are nonzero:
/// `log2 C(S_x + S_n, S_x)` bits per vector.
pub fn uncertainty_bits_per_vector(s_x: usize, s_n: usize) -> f64 {
    log2_binomial((s_x + s_n) as u64, s_x as u64)
}

/// Size of the packed key in bits per vector, `ceil(log2 C(M, S_x))`.
pub fn key_bits_per_vector(m: usize, s_x: usize) -> Result<u32> {
    bits_per_support(m, s_x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes() -> Codes {
        let layout = CodeLayout {
            tiles_x: 3,
            tiles_y: 2,
            groups: 2,
            side: 2,
            code_dim: 8,
        };
        let values = (0..layout.values())
            .map(|i| ((i * 37) % 101) as f32 - 50.0)
            .collect();
        Codes { layout, values }
    }

    #[test]
    fn tile_shuffle_permutes_whole_tiles() {
        let c = codes();
        let mut d = c.clone();
        shuffle_tiles(&mut d, &mut ChaCha20Rng::from_seed([1; 32]));
        let block = c.layout.values() / c.layout.tiles();
        let mut a: Vec<&[f32]> = c.values.chunks(block).collect();
        let mut b: Vec<&[f32]> = d.values.chunks(block).collect();
        assert_ne!(a, b);
        a.sort_by(|x, y| x[0].total_cmp(&y[0]));
        b.sort_by(|x, y| x[0].total_cmp(&y[0]));
        assert_eq!(a, b);
    }

    #[test]
    fn deeper_blocks_drop_the_top_entries() {
        let c = codes();
        let d = without_top(&c, 3, SparsityKind::Magnitude);
        for (x, y) in c.vectors().zip(d.vectors()) {
            let mut top = [0u8; 3];
            top_s_support(x, 3, SparsityKind::Magnitude, &mut top);
            for i in 0..x.len() {
                let dropped = top.contains(&(i as u8));
                assert_eq!(y[i], if dropped { 0.0 } else { x[i] });
            }
        }
        assert_eq!(without_top(&c, 0, SparsityKind::Magnitude), c);
    }

    #[test]
    fn own_tiles_are_moved_symmetries_of_each_tile() {
        let img = GrayImage::from_fn(8, 4, |x, y| {
            ((x * 37 + y * 11 + x * x * y) % 23) as f32 / 23.0
        })
        .unwrap();
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let t = transformed_tiles(&img, 4, &mut rng).unwrap();
        for tile in 0..2u32 {
            let a = img.crop(tile * 4, 0, 4, 4).unwrap();
            let b = t.crop(tile * 4, 0, 4, 4).unwrap();
            // These tiles have no symmetry: a non-identity transform changes them ...
            assert_ne!(a.data(), b.data());
            // ... and keeps their pixels.
            let mut x = a.data().to_vec();
            let mut y = b.data().to_vec();
            x.sort_by(f32::total_cmp);
            y.sort_by(f32::total_cmp);
            assert_eq!(x, y);
        }
        assert!(transformed_tiles(&img, 3, &mut rng).is_err());
        // The permutation draws as the shuffle does.
        let c = codes();
        let mut d = c.clone();
        shuffle_tiles(&mut d, &mut ChaCha20Rng::from_seed([7; 32]));
        let perm = tile_permutation(c.layout.tiles(), &mut ChaCha20Rng::from_seed([7; 32]));
        let block = c.layout.values() / c.layout.tiles();
        for (t, &src) in perm.iter().enumerate() {
            let src = src as usize;
            assert_eq!(
                d.values[t * block..(t + 1) * block],
                c.values[src * block..(src + 1) * block]
            );
        }
    }
}
