//! The planner: compiles a [`Model`] into a sequence of homomorphic steps for one parameter
//! set, with the level and scale of every step, the bootstraps, and the exact rotation keys.
//!
//! **Linear layers** (convolution, batch normalization, pooling, dense, flatten, the
//! squeeze-and-excitation broadcast) are affine maps of the logical tensor
//! ([`AffineMap`]); consecutive ones are composed symbolically and cost nothing until a
//! non-linear step needs their result. Then the composed map, placed into slots by the input
//! and output [`Layout`]s and repeated on every batch block, is one matrix `M` over the slots,
//! evaluated by the diagonal method with baby-step giant-step and hoisted rotations
//! (Juvekar, Vaikuntanathan, Chandrakasan, *GAZELLE*, USENIX Security 2018, §4 for
//! convolutions as diagonals; Halevi-Shoup 2018 §4 for BSGS; `ckks_core::circuits::LinearTransform`):
//! `M x = Σ_k d_k ⊙ rot_k(x)`, `d_k[s] = M[s][(s + k) mod n]`. Its diagonals are encoded at
//! scale `Δ q_ℓ / s_in`, so that after the rescale the output scale is exactly `Δ`: one
//! level per group of linear layers.
//!
//! **Quadratic activations** `a x² + b x + c` cost one level in the factored form
//! `a · x ⊙ (x + b/a) + c`: `+ b/a` is a plaintext addition (no level), the product
//! `y = x ⊙ (x + b/a)` one ciphertext multiplication and rescale, and the per-element affine
//! map `a (·) + c` is left pending, folded into the next linear layer. The product is as
//! precise as any evaluation of the quadratic (its error is the derivative `2ax + b` times the
//! input's error, plus the product's own absolute noise scaled by `a`), but it is not
//! normalized: `|y| ≈ |x| (|x| + |b/a|)`. So the planner never bootstraps `y` (a pending map
//! from the product is applied first; the product is placed so that one level is left for
//! that) nor folds its map into the next activation, and it takes the product form only for
//! `|b/a| <= `[`CompileOptions::max_shift`]. Beyond that bound (or with `a = 0` on some but
//! not all elements) the activation is evaluated as `x ⊙ (a x + b) + c` in two levels with
//! exact scales. A pending element-wise affine map of a linear layer before an activation is
//! folded into its coefficients.
//! **The cubic sigmoid**, as a layer of its own, goes through `ckks_core`'s
//! `PolynomialEvaluator` (2 levels, exact output scale `Δ`).
//!
//! **Residual adds** flush both branches to the same layout at scale `Δ` and drop the higher
//! one to the lower level. **Squeeze-and-excitation**: the pooling and the first dense layer
//! are one matrix (rotations sum over the slots), the second dense layer and the broadcast
//! over `H x W` another, then the gate multiplies the input: for a cubic sigmoid `p`, the
//! gate `x ⊙ p(y)` is one two-level step ([`CubicGate`]: `x ⊙ p(y) = c_0' x + (x ⊙ w) ⊙
//! (c_1' + c_3 w²)` with `w = y + c_2 / 3c_3`) instead of the sigmoid's two levels and the
//! product's one, so an SE block costs five levels (pool + dense, quadratic, dense, gate).
//!
//! **Bootstrapping** is inserted right before a step that needs more levels than the
//! ciphertext has (greedy, as late as possible: for a chain of steps this gives the fewest
//! bootstraps, since any other placement can be moved later without adding one); the
//! bootstrapper's own chain and output level are read from it, so the planner works with
//! any `Bootstrapper`.

use crate::affine::AffineMap;
use crate::error::{HeNnError, Result};
use crate::layout::{Layout, Strides};
use crate::model::{Layer, Model, Quadratic, Shape};
use ckks_core::circuits::{
    BootstrapConfig, BootstrapParameters, Bootstrapper, DiagonalStorage, LinearTransform,
    Polynomial,
};
use ckks_core::ckks::{Context, Parameters, Plaintext, SecretDistribution};
use ckks_core::Complex64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Settings of [`EncryptedModel::compile`].
#[derive(Clone, Debug, PartialEq)]
pub struct CompileOptions {
    /// Inputs packed in one ciphertext (SIMD batching); each gets `slots / batch` slots.
    pub batch: usize,
    /// Level of the input ciphertexts (default: the lowest level that serves the model when it
    /// needs no bootstrap, else the top of the chain).
    pub input_level: Option<usize>,
    /// Bootstrapping circuit, if the chain is laid out for it (full slots).
    pub bootstrap: Option<BootstrapConfig>,
    /// Largest `|b / a|` for the one-level product form `a · x ⊙ (x + b/a) + c` of a quadratic
    /// activation (default `2^16`). The product grows as `|x| |b/a|`: with `|x| <= 8` it stays
    /// below `2^19`, far inside the headroom `q_{ℓ-1} / s` of the level it lands on (at least
    /// two primes, as the planner leaves a level to apply the pending map). The next layer's
    /// diagonal rounding grows with the product; the planner's input scaling
    /// (`Compiler::product_scaling`) balances it against the convolution's own noise.
    pub max_shift: f64,
    /// Bytes of encoded diagonals the plan may hold; the linear steps past this budget keep
    /// their diagonals as slot values and encode them during inference
    /// ([`DiagonalStorage::Deferred`]: about a third of the memory per diagonal at `ℓ = 2`,
    /// a tenth at `ℓ = 9`, for one FFT and `ℓ + 1` NTTs per diagonal per inference).
    pub encoded_budget: usize,
    /// Working scale `Δ` of every step's output (default: the parameters' scale). A scale
    /// below `q_ℓ` leaves headroom for bootstrapping: EvalMod's sine is exact only for
    /// `|Δ m| ≪ q_0`, its error growing as `(2π Δ m / q_0)^3`, while the bootstrap's additive
    /// error costs precision as `1 / Δ`; `Δ ≈ q_0 / 2^13` balances the two for activations
    /// of a few units.
    pub scale: Option<f64>,
    /// The bootstrapper's Galois keys of this level and above that no linear step of the
    /// network uses keep only the seeds of their uniform halves and regenerate them in each
    /// rotation (`ckks_core::ckks::EvaluationKeys::generate_leveled_compacted`): half
    /// the memory of the largest keys, CoeffToSlot's at the top of the chain, used once per
    /// bootstrap, for one ChaCha20 expansion per use (default: none).
    pub compact_keys_from: Option<usize>,
    /// Bootstrap with as few slots as the bootstrapped tensors allow (default): with one
    /// input per ciphertext every tensor repeats with a period `P` (cyclic replication,
    /// [`crate::layout`]), so when every bootstrapped tensor has `P < N/2` the plan
    /// bootstraps `P`-slot views of its ciphertexts (`ckks_core`'s sparse bootstrapping:
    /// one EvalMod instead of two, smaller CoeffToSlot / SlotToCoeff transforms), with `P`
    /// the largest such period. `false`: always full slots.
    pub sparse_bootstrap: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        Self {
            batch: 1,
            input_level: None,
            bootstrap: None,
            max_shift: 65536.0,
            encoded_budget: 1 << 30,
            scale: None,
            compact_keys_from: None,
            sparse_bootstrap: true,
        }
    }
}

impl CompileOptions {
    /// The memory-lean options for a bootstrapping set at full size (see docs/he-nn.md): its
    /// circuit with CoeffToSlot/SlotToCoeff diagonals deferred, the working scale
    /// `Δ = 2^(round(log2 q_0) - 13)` (bootstrapping headroom; `2^45` for `BTS-N16-L9`),
    /// every convolution diagonal encoded during inference (a periodic diagonal costs one
    /// period's FFT and NTTs, see `ckks_core::circuits::linear`), and every key that only
    /// bootstrapping uses compacted (CoeffToSlot's at the top of the chain, a sparse
    /// bootstrapper's SlotToCoeff keys, the conjugation key).
    pub fn full_size(set: &BootstrapParameters) -> Self {
        let log_q0 = (set.params.q()[0] as f64).log2().round() as i32;
        Self::default()
            .bootstrap(BootstrapConfig {
                diagonals: DiagonalStorage::Deferred,
                ..set.config
            })
            .scale(2f64.powi(log_q0 - 13))
            .encoded_budget(0)
            .compact_keys_from(0)
    }

    /// With `batch` inputs per ciphertext.
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }
    /// With input ciphertexts at `level`.
    pub fn input_level(mut self, level: usize) -> Self {
        self.input_level = Some(level);
        self
    }
    /// With bootstrapping.
    pub fn bootstrap(mut self, config: BootstrapConfig) -> Self {
        self.bootstrap = Some(config);
        self
    }
    /// With every step's output at scale `scale`.
    pub fn scale(mut self, scale: f64) -> Self {
        self.scale = Some(scale);
        self
    }
    /// With at most `bytes` of encoded diagonals (the rest deferred).
    pub fn encoded_budget(mut self, bytes: usize) -> Self {
        self.encoded_budget = bytes;
        self
    }
    /// With the Galois keys of `level` and above compacted (see
    /// [`compact_keys_from`](Self::compact_keys_from)).
    pub fn compact_keys_from(mut self, level: usize) -> Self {
        self.compact_keys_from = Some(level);
        self
    }
    /// With every key held whole.
    pub fn no_compact_keys(mut self) -> Self {
        self.compact_keys_from = None;
        self
    }
    /// With every bootstrap over the full slots (see
    /// [`sparse_bootstrap`](Self::sparse_bootstrap)).
    pub fn full_slot_bootstrap(mut self) -> Self {
        self.sparse_bootstrap = false;
        self
    }
}

/// One homomorphic step of a plan.
pub(crate) enum Op {
    /// `rescale(M x) + bias`.
    Linear {
        lt: LinearTransform,
        bias: Plaintext,
    },
    /// `rescale(x ⊙ (x + b/a))`, the factored quadratic; `shift` holds `b/a`.
    FactoredQuadratic { shift: Plaintext },
    /// `x ⊙ (a x + b) + c` in two levels.
    Quadratic {
        a: Plaintext,
        b: Plaintext,
        c: Plaintext,
    },
    /// A polynomial with exact output scale.
    Poly { poly: Polynomial, scale: f64 },
    /// Refresh.
    Bootstrap,
    /// `x += rot(x, s)` for each `s` in turn (pooling or broadcasting, no level).
    RotateSum { rotations: Vec<i64> },
    /// `body(x) + shortcut(x)` at `level`.
    Residual {
        body: Vec<Step>,
        shortcut: Vec<Step>,
        level: usize,
    },
    /// `x' ⊙ gate(x)` with `x' = x_steps(x)`, both dropped to `level` before the product;
    /// with `cubic`, `x' ⊙ p(gate(x))` for that cubic, from `level` to `level - 2`.
    Gate {
        gate: Vec<Step>,
        x_steps: Vec<Step>,
        level: usize,
        cubic: Option<CubicGate>,
    },
}

/// The gate `x ⊙ p(y)` of a cubic `p(y) = c_0 + c_1 y + c_2 y² + c_3 y³` with `c_3 ≠ 0`, in
/// two levels instead of the three of `p` followed by the product.
///
/// With `w = y + h`, `h = c_2 / 3c_3` (added by the linear step that computes `y`), `p` is
/// the depressed cubic `p(y) = c_0' + w (c_1' + c_3 w²)` with `c_0' = p(-h)`, `c_1' = p'(-h)`.
/// So `x ⊙ p(y) = c_0' x + (x ⊙ w) ⊙ (c_1' + c_3 w²)`: the products `x ⊙ w` and `w²` at
/// level `ℓ`, then one product at `ℓ - 1`; `c_3` is folded into the scale of `w²`
/// (`Evaluator::relabel`), `c_0'` into a constant product of `x`. The output scale is `Δ`
/// exactly: one factor, one level above `ℓ`, first gets the scale that makes the last
/// product's rescale land on `Δ` (a product by the constant 1 at the right scale).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CubicGate {
    /// `h = c_2 / 3c_3`.
    pub(crate) shift: f64,
    /// `c_0' = p(-h)`.
    pub(crate) c0: f64,
    /// `c_1' = p'(-h)`.
    pub(crate) c1: f64,
    /// `c_3`.
    pub(crate) c3: f64,
}

impl CubicGate {
    /// The depressed form of `[c_0, c_1, c_2, c_3]`, or `None` when `c_3 = 0`.
    pub(crate) fn new(c: &[f64; 4]) -> Option<Self> {
        let [c0, c1, c2, c3] = *c;
        if c3 == 0.0 || !c.iter().all(|x| x.is_finite()) {
            return None;
        }
        let h = c2 / (3.0 * c3);
        let p = |y: f64| ((c3 * y + c2) * y + c1) * y + c0;
        let dp = |y: f64| (3.0 * c3 * y + 2.0 * c2) * y + c1;
        Some(Self {
            shift: h,
            c0: p(-h),
            c1: dp(-h),
            c3,
        })
    }

    /// `Δ |c_3| q_ℓ² q_{ℓ-1}`, what `s_x s_w³` must equal at the products' level `ℓ` for the
    /// output to land on `delta` (`q_l`, `q_l1`: the primes `q_ℓ`, `q_{ℓ-1}`).
    pub(crate) fn scale_product(&self, delta: f64, q_l: f64, q_l1: f64) -> f64 {
        delta * self.c3.abs() * q_l * q_l * q_l1
    }

    /// The level of the first products for factors at levels `lx` and `lw`: the lower one,
    /// if the other has a level to spare for its change of scale; one lower on a tie.
    pub(crate) fn level(lx: usize, lw: usize) -> usize {
        if lx == lw {
            lx.saturating_sub(1)
        } else {
            lx.min(lw)
        }
    }
}

/// A step with its planned levels.
pub(crate) struct Step {
    pub(crate) info: StepInfo,
    pub(crate) op: Op,
}

/// What one step does and at which levels (the plan's level trace).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    /// The model layers it evaluates (paths such as `layers[2].body[0]`).
    pub name: String,
    /// Kind: `linear`, `square`, `quadratic`, `polynomial`, `bootstrap`, `residual-add`,
    /// `gate`.
    pub kind: String,
    /// Level of its input.
    pub level_in: usize,
    /// Level of its output.
    pub level_out: usize,
    /// Rotation keys it uses (linear steps).
    pub rotations: usize,
    /// Nonzero diagonals (linear steps).
    pub diagonals: usize,
}

/// The symbolic state of the ciphertext during planning.
#[derive(Clone)]
struct Sym {
    level: usize,
    scale: f64,
    /// Layout of the values the ciphertext holds.
    layout: Layout,
    /// Affine map still to apply, from the ciphertext's values to the current tensor.
    pending: Option<AffineMap>,
    /// Names of the layers folded into `pending`.
    pending_names: Vec<String>,
    /// Current logical shape.
    shape: Shape,
    /// Multiplexing strides of the current tensor (`None`: compact).
    strides: Option<Strides>,
    /// Slots outside the layout hold partial sums of a rotate-and-sum (not zero): flushed
    /// before anything non-linear or a bootstrap.
    junk: bool,
    /// The ciphertext holds the product `x ⊙ (x + b/a)` of a factored quadratic, its map
    /// `a (·) + c` pending: too large to bootstrap or to fold into another activation, so the
    /// map is applied first.
    raw: bool,
}

/// The compiled model: steps, keys, levels. Built by [`EncryptedModel::compile`].
pub struct Plan {
    pub(crate) ctx: Context,
    pub(crate) name: String,
    pub(crate) input_shape: Shape,
    pub(crate) output_shape: Shape,
    pub(crate) batch: usize,
    pub(crate) span: usize,
    pub(crate) slots: usize,
    pub(crate) input_layout: Layout,
    pub(crate) output_layout: Layout,
    pub(crate) input_level: usize,
    pub(crate) output_level: usize,
    pub(crate) scale: f64,
    pub(crate) steps: Vec<Step>,
    pub(crate) bootstrapper: Option<Bootstrapper>,
    pub(crate) needs_encapsulation: bool,
    pub(crate) rotations: Vec<i64>,
    /// Highest level each rotation is used at.
    pub(crate) rotation_levels: BTreeMap<i64, usize>,
    pub(crate) bootstraps: usize,
    /// Bytes held by the linear steps' diagonals (encoded or deferred).
    pub(crate) diagonal_bytes: usize,
    /// Galois keys of this level and above are compacted, unless the network uses them.
    pub(crate) compact_keys_from: Option<usize>,
    /// Galois elements of the rotations the network's own steps use (their keys are never
    /// compacted).
    pub(crate) network_galois: std::collections::BTreeSet<u64>,
    /// Level of the bootstrapper's conjugation key.
    pub(crate) conjugation_level: usize,
}

/// Entry point of the encrypted executor.
pub struct EncryptedModel;

impl EncryptedModel {
    /// Validates `model` and compiles it for `params`: every step's level, the bootstraps,
    /// the rotation keys. Fails with [`HeNnError::Plan`] when the chain is too short (without
    /// bootstrapping), a tensor does not fit its batch block, or the bootstrapper's output
    /// level cannot hold the deepest single step.
    pub fn compile(model: &Model, params: &Parameters, options: &CompileOptions) -> Result<Plan> {
        let output_shape = model.validate()?;
        let ctx = Context::new(params)?;
        let slots = params.max_slots();
        if options.batch == 0 || options.batch > slots {
            return Err(HeNnError::Plan(format!(
                "batch {} for {slots} slots",
                options.batch
            )));
        }
        if options.max_shift.is_nan() || options.max_shift < 0.0 {
            return Err(HeNnError::Plan("max_shift must be >= 0".into()));
        }
        let delta = options.scale.unwrap_or(params.default_scale());
        if !(delta.is_finite() && delta >= 2.0) {
            return Err(HeNnError::Plan(format!(
                "scale {delta} must be finite and >= 2"
            )));
        }
        let span = slots / options.batch;
        let bootstrapper = options
            .bootstrap
            .map(|c| Bootstrapper::new(&ctx, c))
            .transpose()
            .map_err(|e| HeNnError::Plan(format!("bootstrapping: {e}")))?;
        let input_level = options.input_level.unwrap_or(ctx.max_level());
        if input_level > ctx.max_level() {
            return Err(HeNnError::Plan(format!(
                "input level {input_level} above the chain's top {}",
                ctx.max_level()
            )));
        }
        let strides = Strides::row_major(model.input);
        let replicate = options.batch == 1;
        let mut input_layout = Layout::multiplexed(model.input, strides, span)?;
        if replicate {
            input_layout = input_layout.replicated(span);
        }
        let mut c = Compiler {
            ctx: &ctx,
            slots,
            span,
            batch: options.batch,
            delta,
            bts: bootstrapper.as_ref(),
            max_shift: options.max_shift,
            rotations: BTreeMap::new(),
            bootstraps: 0,
            bootstrap_period: 0,
            encoded_budget: options.encoded_budget,
            replicate,
            dry: false,
            encoded_bytes: 0,
            diagonal_bytes: 0,
        };
        let mut st = Sym {
            level: input_level,
            scale: delta,
            layout: input_layout.clone(),
            pending: None,
            pending_names: Vec::new(),
            shape: model.input,
            strides: Some(strides),
            junk: false,
            raw: false,
        };
        if options.input_level.is_none() {
            // a model that fits the chain without bootstrapping starts at the lowest level
            // that serves it (fewer primes: faster, smaller keys and ciphertexts)
            let mut d = c.dry_run();
            let mut s = st.clone();
            d.sequence("layers", &model.layers, &mut s, &mut Vec::new())?;
            d.flush(&mut s, None, &mut Vec::new(), "output")?;
            if d.bootstraps == 0 {
                st.level -= s.level;
            }
        }
        let input_level = st.level;
        let mut steps = Vec::new();
        c.sequence("layers", &model.layers, &mut st, &mut steps)?;
        // the logits take the first slots of the last layout (after pooling: one slot per
        // channel), which keeps the final matrix's diagonals few and its copies aligned
        let output_layout = if st.layout.slots.len() >= output_shape.len() {
            Layout {
                shape: output_shape,
                slots: st.layout.slots[..output_shape.len()].to_vec(),
                ..st.layout.clone()
            }
        } else {
            c.replicated(Layout::compact(output_shape, span)?)
        };
        c.flush(&mut st, Some(&output_layout), &mut steps, "output")?;
        let Compiler {
            rotations: mut rotation_levels,
            bootstraps,
            bootstrap_period,
            diagonal_bytes,
            ..
        } = c;
        let network_galois = rotation_levels
            .keys()
            .map(|&r| ctx.galois_element_for_rotation(r))
            .collect();
        // a plan that never bootstraps needs none of the bootstrapper's keys; the others
        // reach the highest level either uses them at (SlotToCoeff's run below EvalMod)
        let bootstrapper = match (bootstrapper, options.bootstrap) {
            (Some(b), Some(config)) if bootstraps > 0 => Some(sparse_bootstrapper(
                &ctx,
                b,
                config,
                options.sparse_bootstrap.then_some(bootstrap_period),
            )?),
            _ => None,
        };
        let mut conjugation_level = ctx.max_level();
        if let Some(b) = bootstrapper.as_ref() {
            for (r, l) in b.rotation_levels() {
                use_rotations(&mut rotation_levels, slots, &[r], l);
            }
            conjugation_level = b.conjugation_level();
        }
        let rotations = rotation_levels.keys().copied().collect();
        let plan = Plan {
            needs_encapsulation: bootstraps > 0 && params.secret() == SecretDistribution::Ternary,
            ctx: ctx.clone(),
            name: model.name.clone(),
            input_shape: model.input,
            output_shape,
            batch: options.batch,
            span,
            slots,
            input_layout,
            output_layout,
            input_level,
            output_level: st.level,
            scale: delta,
            steps,
            bootstrapper,
            rotations,
            rotation_levels,
            bootstraps,
            diagonal_bytes,
            compact_keys_from: options.compact_keys_from,
            conjugation_level,
            network_galois,
        };
        Ok(plan)
    }
}

/// Records in `used` (rotation step -> highest level) that `rotations` are used at `level`
/// (each key must reach its highest level), for `slots = N/2` slots. Steps are kept as one
/// representative per Galois element (`r mod N/2` in `(-N/4, N/4]`; none for 0): `-N/4`
/// and `N/4` share a key.
fn use_rotations(used: &mut BTreeMap<i64, usize>, slots: usize, rotations: &[i64], level: usize) {
    let n = slots as i64;
    for &r in rotations {
        let mut r = r.rem_euclid(n);
        if r == 0 {
            continue;
        }
        if r > n / 2 {
            r -= n;
        }
        let e = used.entry(r).or_insert(level);
        *e = (*e).max(level);
    }
}

/// The bootstrapper for ciphertexts whose values repeat every `period` slots: `full` itself
/// when `period` is `None` or the full slot count, else the circuit of `config` over
/// `period` slots (same chain, so the same output level the plan was made with).
fn sparse_bootstrapper(
    ctx: &Context,
    full: Bootstrapper,
    config: BootstrapConfig,
    period: Option<usize>,
) -> Result<Bootstrapper> {
    let Some(n) = period.filter(|&n| n < full.slots()) else {
        return Ok(full);
    };
    let sparse = Bootstrapper::with_slots(ctx, config, n)
        .map_err(|e| HeNnError::Plan(format!("bootstrapping {n} slots: {e}")))?;
    if sparse.output_level() != full.output_level() {
        return Err(HeNnError::Plan(format!(
            "bootstrapping {n} slots ends at level {}, full slots at {}",
            sparse.output_level(),
            full.output_level()
        )));
    }
    Ok(sparse)
}

struct Compiler<'a> {
    ctx: &'a Context,
    slots: usize,
    span: usize,
    batch: usize,
    delta: f64,
    bts: Option<&'a Bootstrapper>,
    max_shift: f64,
    /// Rotation step -> highest level it is used at.
    rotations: BTreeMap<i64, usize>,
    bootstraps: usize,
    /// Largest period (slots after which the values repeat) of a bootstrapped ciphertext.
    bootstrap_period: usize,
    encoded_budget: usize,
    /// Replicate tensors cyclically across the slots (one input per ciphertext).
    replicate: bool,
    /// Levels and bootstraps only (no diagonals, no encoding): used to compare placements.
    dry: bool,
    encoded_bytes: usize,
    diagonal_bytes: usize,
}

/// Whether `a x² + b x + c` takes the one-level product form `a · x ⊙ (x + b/a) + c`.
fn product_form(a: &[f64], b: &[f64], max_shift: f64) -> bool {
    a.iter()
        .zip(b)
        .all(|(&a, &b)| a != 0.0 && (b / a).abs() <= max_shift)
}

/// Whether two scales are equal up to rounding.
fn same_scale(a: f64, b: f64) -> bool {
    (a / b - 1.0).abs() < 1e-9
}

fn step(name: &str, kind: &str, level_in: usize, level_out: usize, op: Op) -> Step {
    Step {
        info: StepInfo {
            name: name.to_string(),
            kind: kind.to_string(),
            level_in,
            level_out,
            rotations: 0,
            diagonals: 0,
        },
        op,
    }
}

impl Compiler<'_> {
    fn q(&self, level: usize) -> f64 {
        self.ctx.params().q()[level] as f64
    }

    /// Bootstraps `st` if it has fewer than `depth` levels.
    fn ensure(
        &mut self,
        st: &mut Sym,
        depth: usize,
        steps: &mut Vec<Step>,
        name: &str,
    ) -> Result<()> {
        if st.level >= depth {
            return Ok(());
        }
        if st.junk {
            return Err(HeNnError::Plan(format!(
                "{name}: a bootstrap would refresh the partial sums of a rotate-and-sum"
            )));
        }
        let bts = self.bts.ok_or_else(|| {
            HeNnError::Plan(format!(
                "{name} needs {depth} levels, the ciphertext has {} left and no bootstrapping is configured",
                st.level
            ))
        })?;
        if bts.output_level() < depth {
            return Err(HeNnError::Plan(format!(
                "{name} needs {depth} levels, bootstrapping leaves only {}",
                bts.output_level()
            )));
        }
        if st.raw {
            // a factored quadratic's product gets its map applied before any bootstrap
            if st.pending.is_none() || st.level == 0 {
                return Err(HeNnError::Plan(format!(
                    "{name}: a bootstrap would refresh an unnormalized quadratic product"
                )));
            }
            self.flush(st, None, steps, name)?;
        }
        steps.push(step(
            name,
            "bootstrap",
            st.level,
            bts.output_level(),
            Op::Bootstrap,
        ));
        st.level = bts.output_level();
        self.bootstraps += 1;
        // one input per ciphertext: the layout's copies fill the slots
        let period = if self.batch == 1 {
            st.layout.period
        } else {
            self.slots
        };
        self.bootstrap_period = self.bootstrap_period.max(period);
        Ok(())
    }

    /// A plaintext of `values[i]` at every copy of element `i` of every batch block.
    fn encode(
        &self,
        layout: &Layout,
        values: &[f64],
        level: usize,
        scale: f64,
    ) -> Result<Plaintext> {
        let values: Vec<Complex64> = values.iter().map(|&x| Complex64::new(x, 0.0)).collect();
        let mut v = vec![Complex64::new(0.0, 0.0); self.slots];
        for block in v.chunks_mut(self.span) {
            layout.scatter(&values, block);
        }
        Ok(self.ctx.encode(&v, self.slots, level, scale)?)
    }

    /// `layout`, replicated across the block when the plan replicates.
    fn replicated(&self, layout: Layout) -> Layout {
        if self.replicate {
            layout.replicated(self.span)
        } else {
            layout
        }
    }

    /// The layout the current tensor gets when materialized.
    fn natural_layout(&self, st: &Sym) -> Result<Layout> {
        let l = match st.strides {
            Some(s) => Layout::multiplexed(st.shape, s, self.span)
                .or_else(|_| Layout::compact(st.shape, self.span)),
            None => Layout::compact(st.shape, self.span),
        }?;
        Ok(self.replicated(l))
    }

    /// Applies the pending affine map (or re-lays out / re-scales) so that the ciphertext
    /// holds the current tensor at scale `Δ`, in `target` if given.
    fn flush(
        &mut self,
        st: &mut Sym,
        target: Option<&Layout>,
        steps: &mut Vec<Step>,
        name: &str,
    ) -> Result<()> {
        self.flush_at(st, target, self.delta, steps, name)
    }

    /// [`Compiler::flush`] to the output scale `scale`.
    fn flush_at(
        &mut self,
        st: &mut Sym,
        target: Option<&Layout>,
        scale: f64,
        steps: &mut Vec<Step>,
        name: &str,
    ) -> Result<()> {
        let same_layout = target.is_none_or(|t| *t == st.layout);
        if st.pending.is_none() && same_layout && same_scale(st.scale, scale) {
            return Ok(());
        }
        let out = match target {
            Some(t) => t.clone(),
            None => self.natural_layout(st)?,
        };
        let map = st
            .pending
            .take()
            .unwrap_or_else(|| AffineMap::identity(st.shape.len()));
        let label = if st.pending_names.is_empty() {
            format!("{name} (re-layout)")
        } else {
            st.pending_names.join(" + ")
        };
        self.ensure(st, 1, steps, &label)?;
        if self.dry {
            steps.push(step(
                &label,
                "linear",
                st.level,
                st.level - 1,
                Op::Bootstrap,
            ));
            st.level -= 1;
            st.scale = scale;
            st.layout = out;
            st.junk = false;
            st.raw = false;
            st.pending_names.clear();
            return Ok(());
        }
        let diagonals = self.diagonals(&map, &st.layout, &out);
        let l = st.level;
        let encoded = diagonals.len() * 8 * self.ctx.params().n() * (l + 1);
        let storage = if self.encoded_bytes + encoded <= self.encoded_budget {
            self.encoded_bytes += encoded;
            DiagonalStorage::Encoded
        } else {
            DiagonalStorage::Deferred
        };
        let lt = LinearTransform::from_diagonals_stored(
            self.ctx,
            &diagonals,
            self.slots,
            l,
            scale * self.q(l) / st.scale,
            storage,
        )?;
        self.diagonal_bytes += lt.memory_bytes();
        let bias = self.encode(&out, &map.bias, l - 1, scale)?;
        let mut s = step(&label, "linear", l, l - 1, Op::Linear { lt, bias });
        if let Op::Linear { lt, .. } = &s.op {
            s.info.rotations = lt.rotations().len();
            self.use_rotations(&lt.rotations(), l);
        }
        s.info.diagonals = diagonals.len();
        steps.push(s);
        st.level = l - 1;
        st.scale = scale;
        st.layout = out;
        st.junk = false;
        st.raw = false;
        st.pending_names.clear();
        Ok(())
    }

    /// The nonzero diagonals of `map` placed from layout `from` to layout `to` on every batch
    /// block and every copy of `to`. An input repeated with period `P < N/2` is read at its
    /// offset mod `P` (whichever copy that lands in); a batch block only inside itself.
    fn diagonals(
        &self,
        map: &AffineMap,
        from: &Layout,
        to: &Layout,
    ) -> BTreeMap<usize, Vec<Complex64>> {
        let (modulus, replicated_input) = if self.batch == 1 {
            (from.period, true)
        } else {
            (self.slots, false)
        };
        let zero = Complex64::new(0.0, 0.0);
        let mut index = vec![usize::MAX; modulus];
        let mut found: Vec<(usize, Vec<Complex64>)> = Vec::new();
        for b in 0..self.batch {
            let off = b * self.span;
            for (o, row) in map.rows.iter().enumerate() {
                for r in 0..to.copies {
                    let os = off + to.slots[o] + r * to.period;
                    for &(i, w) in row {
                        let is = from.slots[i] + if replicated_input { 0 } else { off };
                        let k = (is + modulus - os % modulus) % modulus;
                        if index[k] == usize::MAX {
                            index[k] = found.len();
                            found.push((k, vec![zero; self.slots]));
                        }
                        found[index[k]].1[os].re += w;
                    }
                }
            }
        }
        if found.is_empty() {
            found.push((0, vec![zero; self.slots]));
        }
        found.into_iter().collect()
    }

    /// Records that `rotations` are used at `level` ([`use_rotations`]).
    fn use_rotations(&mut self, rotations: &[i64], level: usize) {
        use_rotations(&mut self.rotations, self.slots, rotations, level);
    }

    /// `x + rot(x, s)` for each step `s` in turn (no level): with steps `δ, 2δ, ..., 2^{j-1} δ`
    /// every slot receives the sum of the `2^j` slots `δ` apart that follow it — pooling when
    /// read at a window's first slot, broadcasting when only that slot was nonzero.
    fn rotate_sum(&mut self, st: &mut Sym, rotations: Vec<i64>, steps: &mut Vec<Step>, name: &str) {
        let l = st.level;
        self.use_rotations(&rotations, l);
        let mut s = step(name, "rotate-sum", l, l, Op::RotateSum { rotations });
        s.info.rotations = match &s.op {
            Op::RotateSum { rotations } => rotations.len(),
            _ => 0,
        };
        steps.push(s);
    }

    /// The pixel strides `(Ry, Rx)` of `layout` if every element `(c, y, x)` sits at
    /// `slot(c, 0, 0) + y Ry + x Rx` and `H`, `W` are powers of two (what rotate-and-sum
    /// pooling needs).
    fn pixel_strides(layout: &Layout) -> Option<(usize, usize)> {
        let sh = layout.shape;
        if !(sh.h.is_power_of_two() && sh.w.is_power_of_two()) {
            return None;
        }
        let at = |c, y, x| layout.slots[sh.index(c, y, x)];
        let rx = if sh.w > 1 {
            at(0, 0, 1).checked_sub(at(0, 0, 0))?
        } else {
            0
        };
        let ry = if sh.h > 1 {
            at(0, 1, 0).checked_sub(at(0, 0, 0))?
        } else {
            0
        };
        (0..sh.c)
            .all(|c| {
                (0..sh.h).all(|y| (0..sh.w).all(|x| at(c, y, x) == at(c, 0, 0) + y * ry + x * rx))
            })
            .then_some((ry, rx))
    }

    /// The rotations that sum (`sign = 1`) or broadcast (`sign = -1`) over the pixels of a
    /// channel with strides `(ry, rx)`.
    fn pixel_rotations(shape: Shape, (ry, rx): (usize, usize), sign: i64) -> Vec<i64> {
        let steps =
            |n: usize, d: usize| (0..n.trailing_zeros()).map(move |j| sign * (d << j) as i64);
        steps(shape.w, rx).chain(steps(shape.h, ry)).collect()
    }

    /// Global average pooling by rotate-and-sum when the layout allows it and any pending
    /// element-wise map scales whole channels: `GAP(a ⊙ z + g)_c = a_c S_c / HW + mean_p g`
    /// with `S_c = Σ_p z_cp` left at `slot(c, 0, 0)` by `log2(H W)` rotations. The other slots
    /// then hold partial sums (`junk`), never read, and flushed away before anything
    /// non-linear. Returns `false` (nothing done) when it does not apply.
    fn pool_by_rotations(
        &mut self,
        st: &mut Sym,
        steps: &mut Vec<Step>,
        name: &str,
    ) -> Result<bool> {
        let x = st.shape;
        let hw = x.h * x.w;
        let Some(strides) = Self::pixel_strides(&st.layout) else {
            return Ok(false);
        };
        let (a, g) = match &st.pending {
            None => (vec![1.0; x.len()], vec![0.0; x.len()]),
            Some(p) => match p.as_diagonal() {
                Some(d) => d,
                None => return Ok(false),
            },
        };
        if (0..x.len()).any(|i| a[i] != a[(i / hw) * hw]) || hw == 1 {
            return Ok(false);
        }
        // the flush that follows must not bootstrap the junk
        self.ensure(st, 1, steps, name)?;
        self.rotate_sum(st, Self::pixel_rotations(x, strides, 1), steps, name);
        let out = Shape::new(x.c, 1, 1);
        let base: Vec<usize> = (0..x.c)
            .map(|c| st.layout.slots[x.index(c, 0, 0)])
            .collect();
        st.layout = Layout {
            shape: out,
            slots: base,
            ..st.layout.clone()
        };
        let scale: Vec<f64> = (0..x.c).map(|c| a[c * hw] / hw as f64).collect();
        let mean: Vec<f64> = (0..x.c)
            .map(|c| g[c * hw..(c + 1) * hw].iter().sum::<f64>() / hw as f64)
            .collect();
        st.pending = Some(AffineMap::diagonal(&scale, &mean));
        st.pending_names
            .push(format!("global-avgpool {name} (rotate-and-sum)"));
        st.shape = out;
        st.strides = None;
        st.junk = true;
        Ok(true)
    }

    /// The layout of `n` values (shape `n x 1 x 1`) at the slots of pixel `(0, 0)` of the
    /// first `n` channels of a tensor of shape `x` in `layout` (same replication), when the
    /// layout has pixel strides and `H W > 1`.
    fn channel_slots(layout: &Layout, x: Shape, n: usize) -> Option<Layout> {
        Self::pixel_strides(layout)?;
        (x.h * x.w > 1 && n <= x.c).then(|| Layout {
            shape: Shape::new(n, 1, 1),
            slots: (0..n).map(|c| layout.slots[x.index(c, 0, 0)]).collect(),
            ..layout.clone()
        })
    }

    /// Scales the output of the pending map element-wise by `r` (for a product-form activation,
    /// [`Compiler::product_scaling`]).
    fn scale_output(&self, st: &mut Sym, r: &[f64], name: &str) {
        let shape = st.shape;
        let map = AffineMap::diagonal(r, &vec![0.0; r.len()]);
        self.compose(st, map, shape, name, "scale");
    }

    /// Folds a linear layer into the pending map.
    fn compose(&self, st: &mut Sym, map: AffineMap, shape: Shape, name: &str, kind: &str) {
        st.pending = Some(match st.pending.take() {
            Some(p) => map.compose(&p),
            None => map,
        });
        st.shape = shape;
        st.pending_names.push(format!("{kind} {name}"));
    }

    /// `a x² + b x + c` with per-element coefficients of the current tensor.
    fn activation(
        &mut self,
        st: &mut Sym,
        mut coef: [Vec<f64>; 3],
        steps: &mut Vec<Step>,
        name: &str,
    ) -> Result<()> {
        // a pending element-wise map of a linear layer is folded into the coefficients (free);
        // any other pending map is applied by a linear step first
        let flush_first = st.junk
            || st.raw
            || st
                .pending
                .as_ref()
                .is_some_and(|p| p.as_diagonal().is_none());
        if !flush_first {
            if let Some((pa, pg)) = st.pending.take().and_then(|p| p.as_diagonal()) {
                // a (pa z + pg)² + b (pa z + pg) + c as a quadratic in z
                let [a, b, c] = &coef;
                let n = a.len();
                coef = [
                    (0..n).map(|i| a[i] * pa[i] * pa[i]).collect(),
                    (0..n)
                        .map(|i| 2.0 * a[i] * pa[i] * pg[i] + b[i] * pa[i])
                        .collect(),
                    (0..n)
                        .map(|i| a[i] * pg[i] * pg[i] + b[i] * pg[i] + c[i])
                        .collect(),
                ];
                st.pending_names.push(format!("(folded into {name})"));
            }
        }
        let [mut a, mut b, c] = coef;
        // (not when the product would bootstrap the scaled value: the bootstrap's error
        // would grow by 1 / r on the way back)
        if flush_first && st.level > self.product_depth() && product_form(&a, &b, self.max_shift) {
            if let Some(r) = self.product_scaling(&a, st.level - 1) {
                // the linear step outputs u = r x instead of x, and
                // a x² + b x + c = (a / r²) u² + (b / r) u + c
                self.scale_output(st, &r, name);
                b = b.iter().zip(&r).map(|(b, r)| b / r).collect();
                a = a.iter().zip(&r).map(|(a, r)| a / (r * r)).collect();
            }
        }
        if flush_first {
            self.flush(st, None, steps, name)?;
        }
        if a.iter().all(|&x| x == 0.0) {
            st.pending = Some(AffineMap::diagonal(&b, &c));
            st.pending_names.push(format!("affine {name}"));
            return Ok(());
        }
        let shifts = product_form(&a, &b, self.max_shift)
            .then(|| a.iter().zip(&b).map(|(a, b)| b / a).collect::<Vec<f64>>());
        match shifts {
            Some(shift) => {
                // one level for the product, and with bootstrapping one more to apply its
                // map before the next bootstrap
                self.ensure(st, self.product_depth(), steps, name)?;
                let l = st.level;
                let op = if self.dry {
                    Op::Bootstrap
                } else {
                    Op::FactoredQuadratic {
                        shift: self.encode(&st.layout, &shift, l, st.scale)?,
                    }
                };
                steps.push(step(name, "quadratic-product", l, l - 1, op));
                st.level = l - 1;
                st.scale = st.scale * st.scale / self.q(l);
                st.pending = Some(AffineMap::diagonal(&a, &c));
                st.pending_names = vec![format!("scale {name}")];
                st.raw = true;
            }
            None => {
                self.ensure(st, 2, steps, name)?;
                let l = st.level;
                // u = a x at scale r, r = Δ q_{l-1} / s, so that (x · u) / q_{l-1} has scale Δ
                let r = self.delta * self.q(l - 1) / st.scale;
                let op = if self.dry {
                    Op::Bootstrap
                } else {
                    Op::Quadratic {
                        a: self.encode(&st.layout, &a, l, r * self.q(l) / st.scale)?,
                        b: self.encode(&st.layout, &b, l - 1, r)?,
                        c: self.encode(&st.layout, &c, l - 2, self.delta)?,
                    }
                };
                steps.push(step(name, "quadratic", l, l - 2, op));
                st.level = l - 2;
                st.scale = self.delta;
                st.pending_names.clear();
            }
        }
        Ok(())
    }

    /// The per-element coefficients of a quadratic activation layer (`Square` is `x²`), or
    /// `None` for any other layer.
    fn activation_coeffs(layer: &Layer, shape: Shape) -> Option<[Vec<f64>; 3]> {
        match layer {
            Layer::Quadratic(q) => Some(Self::quadratic_coeffs(q, shape)),
            Layer::Square => Some(Self::quadratic_coeffs(
                &Quadratic::per_layer(1.0, 0.0, 0.0),
                shape,
            )),
            _ => None,
        }
    }

    fn quadratic_coeffs(q: &Quadratic, shape: Shape) -> [Vec<f64>; 3] {
        let hw = shape.h * shape.w;
        let per = |f: fn((f64, f64, f64)) -> f64| -> Vec<f64> {
            (0..shape.len()).map(|i| f(q.coeffs(i / hw))).collect()
        };
        [per(|t| t.0), per(|t| t.1), per(|t| t.2)]
    }

    /// A polynomial with output scale `Δ`, or, for a gate `gate = (x level, x scale)` that
    /// multiplies the result with `x` without a bootstrap in between, the scale
    /// `Δ q_ℓ / s_x` at which the product's rescale lands exactly on `Δ`.
    fn polynomial(
        &mut self,
        st: &mut Sym,
        coeffs: &[f64],
        gate: Option<(usize, f64)>,
        steps: &mut Vec<Step>,
        name: &str,
    ) -> Result<()> {
        self.flush(st, None, steps, name)?;
        let poly = Polynomial::monomial(coeffs)?;
        let depth = poly.depth();
        let scale = match gate {
            Some((x_level, x_scale)) if st.level > depth && x_level >= 1 => {
                self.delta * self.q(x_level.min(st.level - depth)) / x_scale
            }
            _ => self.delta,
        };
        self.ensure(st, depth, steps, name)?;
        let l = st.level;
        steps.push(step(
            name,
            "polynomial",
            l,
            l - depth,
            Op::Poly { poly, scale },
        ));
        st.level = l - depth;
        st.scale = scale;
        Ok(())
    }

    fn sequence(
        &mut self,
        prefix: &str,
        layers: &[Layer],
        st: &mut Sym,
        steps: &mut Vec<Step>,
    ) -> Result<()> {
        for (i, layer) in layers.iter().enumerate() {
            let next = layers.get(i + 1);
            self.layer(&format!("{prefix}[{i}]"), layer, next, st, steps)?;
        }
        Ok(())
    }

    /// Compiles `layer`; `next` (the layer after it, if any) lets a residual add scale its
    /// output for a following activation's product form.
    fn layer(
        &mut self,
        name: &str,
        layer: &Layer,
        next: Option<&Layer>,
        st: &mut Sym,
        steps: &mut Vec<Step>,
    ) -> Result<()> {
        let x = st.shape;
        let out = layer.output_shape(name, x)?;
        let kind = layer.kind();
        match layer {
            Layer::Conv2d(conv) => {
                self.compose(st, AffineMap::conv2d(conv, x, out), out, name, kind);
                st.strides = st.strides.map(|s| s.downsampled(conv.stride));
            }
            Layer::BatchNorm(bn) => self.compose(st, AffineMap::batch_norm(bn, x), out, name, kind),
            Layer::AvgPool { kernel, stride } => {
                self.compose(
                    st,
                    AffineMap::avg_pool(*kernel, *stride, x, out),
                    out,
                    name,
                    kind,
                );
                st.strides = st.strides.map(|s| s.downsampled(*stride));
            }
            Layer::GlobalAvgPool => {
                if !self.pool_by_rotations(st, steps, name)? {
                    self.compose(st, AffineMap::global_avg_pool(x), out, name, kind);
                    st.strides = None;
                }
            }
            Layer::Dense(d) => {
                self.compose(st, AffineMap::dense(d), out, name, kind);
                st.strides = None;
            }
            Layer::Flatten => {
                st.shape = out;
                st.strides = None;
            }
            Layer::Quadratic(_) | Layer::Square => {
                let coef = Self::activation_coeffs(layer, x)
                    .ok_or_else(|| HeNnError::Plan(format!("{name}: not an activation")))?;
                self.activation(st, coef, steps, name)?
            }
            Layer::ApproxSigmoid(s) => self.polynomial(st, &s.coeffs, None, steps, name)?,
            Layer::SqueezeExcitation(se) => {
                self.flush(st, None, steps, name)?;
                let mut g = st.clone();
                let mut gate = Vec::new();
                let reduced = Shape::new(se.reduce.outputs, 1, 1);
                let reduce = format!("{name}.reduce");
                let squeeze = if self.pool_by_rotations(&mut g, &mut gate, &reduce)? {
                    AffineMap::dense(&se.reduce)
                } else {
                    AffineMap::dense(&se.reduce).compose(&AffineMap::global_avg_pool(x))
                };
                self.compose(&mut g, squeeze, reduced, &reduce, "pool+dense");
                g.strides = None;
                if let Some(slots) = Self::channel_slots(&st.layout, x, reduced.c) {
                    // the reduced vector at the slots of the first channels' first pixels:
                    // both dense maps then shift by multiples of H W only (few diagonals and
                    // rotation keys), where a compact replicated layout would need a diagonal
                    // for nearly every offset within the input's period
                    self.flush(&mut g, Some(&slots), &mut gate, &reduce)?;
                }
                let act = format!("{name}.activation");
                self.activation(
                    &mut g,
                    Self::quadratic_coeffs(&se.activation, reduced),
                    &mut gate,
                    &act,
                )?;
                let expand = format!("{name}.expand");
                // with the two-level cubic gate, the linear step adds the shift of its
                // depressed form
                let cubic = CubicGate::new(&se.sigmoid.coeffs);
                let shift = |c: &Self, g: &mut Sym| {
                    if let Some(k) = cubic.filter(|k| k.shift != 0.0) {
                        let n = g.shape.len();
                        let map = AffineMap::diagonal(&vec![1.0; n], &vec![k.shift; n]);
                        c.compose(g, map, g.shape, &expand, "shift");
                    }
                };
                let sw = cubic.map_or(self.delta, |k| self.cubic_gate_scale(&k, st.level, g.level));
                match (
                    Self::pixel_strides(&st.layout),
                    Self::channel_slots(&st.layout, x, x.c),
                ) {
                    // the C gate values at slot(c, 0, 0) (zeros elsewhere), then copied over
                    // the pixels by rotate-and-sum
                    (Some(strides), Some(base)) => {
                        self.compose(
                            &mut g,
                            AffineMap::dense(&se.expand),
                            base.shape,
                            &expand,
                            "dense",
                        );
                        shift(self, &mut g);
                        self.flush_at(&mut g, Some(&base), sw, &mut gate, &expand)?;
                        let broadcast = format!("{name}.broadcast");
                        self.rotate_sum(
                            &mut g,
                            Self::pixel_rotations(x, strides, -1),
                            &mut gate,
                            &broadcast,
                        );
                        g.layout = st.layout.clone();
                        g.shape = x;
                    }
                    _ => {
                        let excite = AffineMap::broadcast(x).compose(&AffineMap::dense(&se.expand));
                        self.compose(&mut g, excite, x, &expand, "dense+broadcast");
                        shift(self, &mut g);
                        self.flush_at(&mut g, Some(&st.layout), sw, &mut gate, name)?;
                    }
                }
                let mut x_steps = Vec::new();
                let gate_name = format!("{name}.gate");
                let level_in = st.level;
                let (level, level_out) = match cubic {
                    Some(_) => {
                        // the lower factor (either, on a tie) is refreshed until the products
                        // have two levels
                        while CubicGate::level(st.level, g.level) < 2 {
                            if g.level <= st.level {
                                self.ensure(&mut g, 3, &mut gate, &gate_name)?;
                            } else {
                                self.ensure(st, 3, &mut x_steps, &gate_name)?;
                            }
                        }
                        let level = CubicGate::level(st.level, g.level);
                        st.scale = self.delta;
                        (level, level - 2)
                    }
                    None => {
                        self.polynomial(
                            &mut g,
                            &se.sigmoid.coeffs,
                            Some((st.level, st.scale)),
                            &mut gate,
                            &format!("{name}.sigmoid"),
                        )?;
                        // the product needs one level on both factors; the one left lower (the
                        // gate, unless it was bootstrapped) is refreshed if it has none
                        if g.level <= st.level {
                            self.ensure(&mut g, 1, &mut gate, &gate_name)?;
                        } else {
                            self.ensure(st, 1, &mut x_steps, &gate_name)?;
                        }
                        let level = g.level.min(st.level);
                        st.scale = g.scale * st.scale / self.q(level);
                        (level, level - 1)
                    }
                };
                steps.push(step(
                    name,
                    "gate",
                    level_in,
                    level_out,
                    Op::Gate {
                        gate,
                        x_steps,
                        level,
                        cubic,
                    },
                ));
                st.level = level_out;
            }
            Layer::Residual { body, shortcut } => {
                if self.entry_bootstrap_pays(name, body, shortcut, st) {
                    let top = self.bts.map_or(0, |b| b.output_level());
                    self.ensure(st, top, steps, name)?;
                }
                self.residual(name, body, shortcut, next, st, steps)?;
            }
        }
        Ok(())
    }

    /// A compiler that only tracks levels and bootstraps, for comparing placements.
    fn dry_run(&self) -> Compiler<'_> {
        Compiler {
            ctx: self.ctx,
            slots: self.slots,
            span: self.span,
            batch: self.batch,
            delta: self.delta,
            bts: self.bts,
            max_shift: self.max_shift,
            rotations: BTreeMap::new(),
            bootstraps: 0,
            bootstrap_period: 0,
            encoded_budget: 0,
            replicate: self.replicate,
            dry: true,
            encoded_bytes: 0,
            diagonal_bytes: 0,
        }
    }

    /// Whether bootstrapping the block's input beats bootstrapping inside its branches (the
    /// greedy as-late-as-possible rule): fewer bootstraps, or as many and a higher level
    /// after the addition (a branch refreshed alone is dropped back to the other's level).
    fn entry_bootstrap_pays(
        &self,
        name: &str,
        body: &[Layer],
        shortcut: &[Layer],
        st: &Sym,
    ) -> bool {
        let Some(bts) = self.bts else {
            return false;
        };
        if self.dry || st.level >= bts.output_level() || st.junk {
            return false;
        }
        let outcome = |entry: bool| -> Option<(usize, usize)> {
            let mut c = self.dry_run();
            let mut s = st.clone();
            if entry {
                c.ensure(&mut s, bts.output_level(), &mut Vec::new(), name)
                    .ok()?;
            }
            c.residual(name, body, shortcut, None, &mut s, &mut Vec::new())
                .ok()?;
            Some((c.bootstraps, s.level))
        };
        match (outcome(false), outcome(true)) {
            (None, Some(_)) => true,
            (Some((lb, ll)), Some((eb, el))) => eb < lb || (eb == lb && el > ll),
            _ => false,
        }
    }

    /// The output scale of the linear step computing a [`CubicGate`]'s `w` from a tensor at
    /// level `lg`, for `x` at level `lx`: when the gate then needs no bootstrap and adjusts
    /// `x`, the scale that gives `x` and `w` the same scale `(Δ |c_3| q_ℓ² q_{ℓ-1})^{1/4}`
    /// at the products' level `ℓ` (the two factors share the bits the constraint
    /// `s_x s_w³ = Δ |c_3| q_ℓ² q_{ℓ-1}` leaves); otherwise `Δ`.
    fn cubic_gate_scale(&self, k: &CubicGate, lx: usize, lg: usize) -> f64 {
        let Some(lw) = lg.checked_sub(1) else {
            return self.delta;
        };
        let l = CubicGate::level(lx, lw);
        if l >= 2 && l == lw && lx > l {
            k.scale_product(self.delta, self.q(l), self.q(l - 1))
                .powf(0.25)
        } else {
            self.delta
        }
    }

    /// Whether `scale` is the working scale `Δ` (up to rounding).
    fn exact(&self, scale: f64) -> bool {
        same_scale(scale, self.delta)
    }

    /// Levels the product form of a quadratic needs: one, and with bootstrapping one more to
    /// apply its map before the next bootstrap.
    fn product_depth(&self) -> usize {
        1 + usize::from(self.bts.is_some())
    }

    /// The per-element factor `r` by which a linear step landing on `level` scales its output
    /// `x` for a product-form activation with quadratic coefficients `a` (the activation then
    /// has `a / r²` and `b / r`), or `None` when no scaling pays.
    ///
    /// The product's error has two parts: the linear step's own noise `ε ≈ 1/Δ` in `u = r x`,
    /// carried to the output by the derivative `≈ b / r`, and the next layer's diagonal
    /// rounding `1 / s_d` times the product `|y| ≈ r² |b / a|`, with
    /// `s_d = Δ q_ℓ / s_y = q_ℓ q_{ℓ-1} / Δ`. Their sum `|b| (1 / (r Δ) + r² / (|a| s_d))` is
    /// least at `r = (|a| s_d / 2Δ)^{1/3}`, kept within `[min(√|a|, 1), 1]`. At the full-size
    /// working scale (`Δ = 2^45` under 50-bit primes: `s_d / Δ = 2^10`) this is `r = 1` for
    /// any `|a| >= 2^-9`; with `Δ` equal to the primes it is close to `√|a|`.
    fn product_scaling(&self, a: &[f64], level: usize) -> Option<Vec<f64>> {
        let sd_over_delta = self.q(level) * self.q(level - 1) / (self.delta * self.delta);
        let r: Vec<f64> = a
            .iter()
            .map(|a| {
                let a = a.abs();
                (a * sd_over_delta / 2.0)
                    .cbrt()
                    .clamp(a.sqrt().min(1.0), 1.0)
            })
            .collect();
        r.iter().any(|&r| r < 1.0).then_some(r)
    }

    /// [`Compiler::product_scaling`] for the quadratic activation `next` (if it is one and
    /// takes the product form) of a tensor of `shape`, landing on `level`.
    fn product_prescale(
        &self,
        next: Option<&Layer>,
        shape: Shape,
        level: usize,
    ) -> Option<Vec<f64>> {
        let [a, b, _] = Self::activation_coeffs(next?, shape)?;
        if !product_form(&a, &b, self.max_shift) {
            return None;
        }
        self.product_scaling(&a, level)
    }

    /// `body(x) + shortcut(x)`: both branches flushed to the same layout at scale `Δ`, the
    /// higher one dropped to the lower level. When the next layer is a quadratic activation in
    /// product form, both branches may output `r ⊙ (·)` ([`Compiler::product_scaling`]) and
    /// the sum carries the pending map `(·) / r`, which the activation folds into its
    /// coefficients.
    fn residual(
        &mut self,
        name: &str,
        body: &[Layer],
        shortcut: &[Layer],
        next: Option<&Layer>,
        st: &mut Sym,
        steps: &mut Vec<Step>,
    ) -> Result<()> {
        let mut b = st.clone();
        let mut body_steps = Vec::new();
        self.sequence(&format!("{name}.body"), body, &mut b, &mut body_steps)?;
        let mut s = st.clone();
        let mut short_steps = Vec::new();
        self.sequence(
            &format!("{name}.shortcut"),
            shortcut,
            &mut s,
            &mut short_steps,
        )?;
        // scaled only when the body is flushed anyway and the sum keeps the levels of the
        // product (each branch's flush costs one), so that the scaled sum is not what a
        // bootstrap refreshes
        let body_flushed = b.pending.is_some() || !self.exact(b.scale);
        let lowest = b.level.min(s.level);
        let prescale = if body_flushed && lowest > self.product_depth() {
            self.product_prescale(next, b.shape, lowest - 1)
        } else {
            None
        };
        if let Some(r) = &prescale {
            self.scale_output(&mut b, r, name);
            self.scale_output(&mut s, r, name);
        }
        self.flush(&mut b, None, &mut body_steps, &format!("{name}.body"))?;
        self.flush(
            &mut s,
            Some(&b.layout),
            &mut short_steps,
            &format!("{name}.shortcut"),
        )?;
        let level = b.level.min(s.level);
        let level_in = st.level;
        steps.push(step(
            name,
            "residual-add",
            level_in,
            level,
            Op::Residual {
                body: body_steps,
                shortcut: short_steps,
                level,
            },
        ));
        let unscale = prescale.map(|r| {
            let inv: Vec<f64> = r.iter().map(|r| 1.0 / r).collect();
            AffineMap::diagonal(&inv, &vec![0.0; inv.len()])
        });
        *st = Sym {
            level,
            scale: self.delta,
            pending_names: match unscale {
                Some(_) => vec![format!("unscale {name}")],
                None => Vec::new(),
            },
            pending: unscale,
            ..b
        };
        Ok(())
    }
}

impl Plan {
    /// The context the plan was compiled for.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
    /// Rotation steps whose Galois keys inference needs (the layers' and the bootstrapper's).
    pub fn rotations(&self) -> &[i64] {
        &self.rotations
    }
    /// The highest level each rotation of [`rotations`](Self::rotations) is used at: its key
    /// need only live over `Q_level P` (the bootstrapper's are taken at the top).
    pub fn rotation_levels(&self) -> &BTreeMap<i64, usize> {
        &self.rotation_levels
    }
    /// Bytes the plan's linear steps hold (encoded and deferred diagonals).
    pub fn diagonal_bytes(&self) -> usize {
        self.diagonal_bytes
    }
    /// Whether inference needs the conjugation key (bootstrapping does).
    pub fn needs_conjugation(&self) -> bool {
        self.bootstraps > 0
    }
    /// Whether inference needs encapsulation keys (bootstrapping with a dense user key).
    pub fn needs_encapsulation(&self) -> bool {
        self.needs_encapsulation
    }
    /// Number of bootstraps per inference.
    pub fn bootstraps(&self) -> usize {
        self.bootstraps
    }
    /// Level the input ciphertext must be at.
    pub fn input_level(&self) -> usize {
        self.input_level
    }
    /// Level of the output ciphertext.
    pub fn output_level(&self) -> usize {
        self.output_level
    }
    /// Inputs per ciphertext.
    pub fn batch(&self) -> usize {
        self.batch
    }
    /// Input shape.
    pub fn input_shape(&self) -> Shape {
        self.input_shape
    }
    /// Output shape (logits: `K x 1 x 1`).
    pub fn output_shape(&self) -> Shape {
        self.output_shape
    }
    /// The bootstrapper, if the plan bootstraps.
    pub fn bootstrapper(&self) -> Option<&Bootstrapper> {
        self.bootstrapper.as_ref()
    }

    /// Every step in execution order (nested branches flattened), with its levels.
    pub fn trace(&self) -> Vec<StepInfo> {
        fn walk(steps: &[Step], out: &mut Vec<StepInfo>) {
            for s in steps {
                match &s.op {
                    Op::Residual { body, shortcut, .. } => {
                        walk(body, out);
                        walk(shortcut, out);
                    }
                    Op::Gate { gate, x_steps, .. } => {
                        walk(gate, out);
                        walk(x_steps, out);
                    }
                    _ => {}
                }
                out.push(s.info.clone());
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, &mut out);
        out
    }

    /// Levels consumed by the whole inference, not counting the bootstraps' own.
    pub fn depth(&self) -> usize {
        self.trace()
            .iter()
            .filter(|s| s.kind != "bootstrap" && s.kind != "residual-add" && s.kind != "gate")
            .map(|s| s.level_in - s.level_out)
            .sum::<usize>()
            + self.trace().iter().filter(|s| s.kind == "gate").count()
    }

    /// A text table of the plan: one row per step.
    pub fn report(&self) -> String {
        let mut s = format!(
            "plan '{}' for {}: input {} x{} at level {}, output {} at level {}, {} bootstraps{}, {} rotation keys{}\n",
            self.name,
            self.ctx.params().name(),
            self.input_shape,
            self.batch,
            self.input_level,
            self.output_shape,
            self.output_level,
            self.bootstraps,
            self.bootstrapper
                .as_ref()
                .map_or(String::new(), |b| format!(" of {} slots", b.slots())),
            self.rotations.len(),
            if self.needs_conjugation() { " + conjugation" } else { "" },
        );
        s.push_str(
            "| step | kind | level in -> out | rotations | diagonals |\n|---|---|---|---|---|\n",
        );
        for t in self.trace() {
            s.push_str(&format!(
                "| {} | {} | {} -> {} | {} | {} |\n",
                t.name, t.kind, t.level_in, t.level_out, t.rotations, t.diagonals
            ));
        }
        s
    }
}
