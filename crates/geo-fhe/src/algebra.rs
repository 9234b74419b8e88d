//! The Clifford algebra Cl(3,0): blades as bitmasks, the Cayley table derived from the
//! canonical reordering sign, and multivector operations.
//!
//! **Blades as bitmasks** (Dorst, Fontijne, Mann, *Geometric Algebra for Computer Science*,
//! Morgan Kaufmann 2007, ch. 19). The basis blade `e_{i1} ∧ ... ∧ e_{ik}` with
//! `i1 < ... < ik` is the bitmask with bits `i1 - 1, ..., ik - 1` set. The geometric product of
//! two basis blades is
//!
//! ```text
//!     e_A e_B = σ(A, B) · Π_{i ∈ A ∩ B} m_i · e_{A xor B},
//! ```
//!
//! where `σ(A, B) = (-1)^s` and `s` counts the transpositions needed to bring the
//! concatenated list of basis vectors into canonical order,
//! `s = Σ_{b ∈ B} #{a ∈ A : a > b}`, and `m_i = e_i^2` is the metric (`+1` for all three
//! vectors of Cl(3,0)). [`CAYLEY`] is computed from this formula by a `const fn` at compile
//! time; no entry is written by hand.
//!
//! **Component order** (the order of [`Multivector`]'s array and of the encrypted layouts):
//! blades sorted by grade, then by bitmask — `1, e1, e2, e3, e12, e13, e23, e123` — also
//! derived in code ([`COMPONENT_MASKS`]).
//!
//! **Reverse, involutions, norm and inverse** (Hestenes, Sobczyk, *Clifford Algebra to
//! Geometric Calculus*, Reidel 1984, ch. 1; Dorst et al. ch. 2-6). The reverse of a grade-`k`
//! blade is `(-1)^{k(k-1)/2}` times the blade, the grade involution `(-1)^k`, the Clifford
//! conjugate their composition `(-1)^{k(k+1)/2}`. In Cl(3,0) every basis blade `E` satisfies
//! `E Ẽ = 1`, so `|A|^2 = <A Ã>_0 = Σ_c a_c^2` (Euclidean norm of the 8 coordinates). The
//! product `A Ā` (`Ā` the Clifford conjugate) has grades 0 and 3 only, both central, and
//! `(α + β I)^{-1} = (α - β I)/(α^2 + β^2)` since `I^2 = -1`; hence
//! `A^{-1} = Ā (A Ā)^{-1}`, defined iff `α^2 + β^2 ≠ 0`.

use crate::error::{GeoError, Result};
use std::ops::{Add, AddAssign, BitXor, Mul, Neg, Sub};

/// Dimension of the vector space.
pub const DIM: usize = 3;
/// Number of basis blades (`2^DIM`).
pub const BLADES: usize = 1 << DIM;
/// `e_i^2` for `i = 1, 2, 3`: the signature (3, 0).
pub const METRIC: [i8; DIM] = [1, 1, 1];

/// A basis blade as a bitmask (bit `i - 1` set iff `e_i` is a factor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Blade(pub u8);

impl Blade {
    /// Grade (number of basis vectors).
    pub const fn grade(self) -> u32 {
        self.0.count_ones()
    }

    /// Canonical reordering sign `σ(A, B)` of `e_A e_B` (Dorst et al. ch. 19): `+1` or `-1`.
    pub const fn reordering_sign(a: Blade, b: Blade) -> i8 {
        let mut x = a.0 >> 1;
        let mut swaps = 0u32;
        while x != 0 {
            swaps += (x & b.0).count_ones();
            x >>= 1;
        }
        if swaps & 1 == 0 {
            1
        } else {
            -1
        }
    }

    /// Product of the metric over the shared basis vectors `A ∩ B`.
    pub const fn metric_factor(a: Blade, b: Blade) -> i8 {
        let common = a.0 & b.0;
        let mut f = 1i8;
        let mut i = 0;
        while i < DIM {
            if common & (1 << i) != 0 {
                f *= METRIC[i];
            }
            i += 1;
        }
        f
    }

    /// `e_A e_B = sign · e_{A xor B}`.
    pub const fn product(a: Blade, b: Blade) -> (Blade, i8) {
        (
            Blade(a.0 ^ b.0),
            Blade::reordering_sign(a, b) * Blade::metric_factor(a, b),
        )
    }

    /// Human-readable name: `1`, `e1`, `e12`, ...
    pub fn name(self) -> String {
        if self.0 == 0 {
            return "1".into();
        }
        let digits: String = (0..DIM)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| char::from(b'1' + i as u8))
            .collect();
        format!("e{digits}")
    }
}

/// The bitmasks in component order: sorted by grade, then by bitmask (derived, not typed).
pub const COMPONENT_MASKS: [u8; BLADES] = component_masks();

const fn component_masks() -> [u8; BLADES] {
    let mut out = [0u8; BLADES];
    let mut n = 0;
    let mut g = 0;
    while g <= DIM as u32 {
        let mut m = 0;
        while m < BLADES {
            if (m as u8).count_ones() == g {
                out[n] = m as u8;
                n += 1;
            }
            m += 1;
        }
        g += 1;
    }
    out
}

/// Component index of each bitmask (inverse of [`COMPONENT_MASKS`]).
pub const COMPONENT_OF_MASK: [usize; BLADES] = component_of_mask();

const fn component_of_mask() -> [usize; BLADES] {
    let mut out = [0usize; BLADES];
    let mut c = 0;
    while c < BLADES {
        out[COMPONENT_MASKS[c] as usize] = c;
        c += 1;
    }
    out
}

/// One entry of the Cayley table: `e_i e_j = sign · e_index` (component indices).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CayleyEntry {
    /// Component index of the product blade.
    pub index: usize,
    /// `+1` or `-1`.
    pub sign: i8,
}

/// The geometric-product Cayley table in component order, derived at compile time from
/// [`Blade::product`].
pub const CAYLEY: [[CayleyEntry; BLADES]; BLADES] = derive_cayley();

const fn derive_cayley() -> [[CayleyEntry; BLADES]; BLADES] {
    let mut t = [[CayleyEntry { index: 0, sign: 1 }; BLADES]; BLADES];
    let mut i = 0;
    while i < BLADES {
        let mut j = 0;
        while j < BLADES {
            let (b, s) = Blade::product(Blade(COMPONENT_MASKS[i]), Blade(COMPONENT_MASKS[j]));
            t[i][j] = CayleyEntry {
                index: COMPONENT_OF_MASK[b.0 as usize],
                sign: s,
            };
            j += 1;
        }
        i += 1;
    }
    t
}

/// The terms `(i, j, sign)` contributing to output component `k`: `Σ sign · a_i b_j`.
/// Exactly [`BLADES`] terms per output (one per `j`).
pub fn terms_for_output(k: usize) -> Vec<(usize, usize, i8)> {
    let mut out = Vec::with_capacity(BLADES);
    for (i, row) in CAYLEY.iter().enumerate() {
        for (j, e) in row.iter().enumerate() {
            if e.index == k {
                out.push((i, j, e.sign));
            }
        }
    }
    out
}

/// Grade of component `c`.
pub const fn grade_of(c: usize) -> u32 {
    COMPONENT_MASKS[c].count_ones()
}

/// Names of the components in order.
pub fn component_names() -> [String; BLADES] {
    std::array::from_fn(|c| Blade(COMPONENT_MASKS[c]).name())
}

/// A multivector of Cl(3,0): coefficients of `1, e1, e2, e3, e12, e13, e23, e123`.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Multivector(pub [f64; BLADES]);

impl Multivector {
    /// The zero multivector.
    pub const ZERO: Multivector = Multivector([0.0; BLADES]);

    /// From the 8 coefficients in component order.
    pub const fn new(c: [f64; BLADES]) -> Self {
        Multivector(c)
    }

    /// A scalar.
    pub fn scalar(s: f64) -> Self {
        let mut m = Self::ZERO;
        m.0[0] = s;
        m
    }

    /// A vector `x e1 + y e2 + z e3`.
    pub fn vector(v: [f64; 3]) -> Self {
        let mut m = Self::ZERO;
        m.0[1..4].copy_from_slice(&v);
        m
    }

    /// The basis blade of component `c` (`None` if `c >= 8`).
    pub fn basis(c: usize) -> Option<Self> {
        (c < BLADES).then(|| {
            let mut m = Self::ZERO;
            m.0[c] = 1.0;
            m
        })
    }

    /// The unit pseudoscalar `I = e123`.
    pub fn pseudoscalar() -> Self {
        let mut m = Self::ZERO;
        m.0[BLADES - 1] = 1.0;
        m
    }

    /// Coefficients.
    pub fn coeffs(&self) -> &[f64; BLADES] {
        &self.0
    }

    /// Product restricted to pairs of blades accepted by `keep(mask_a, mask_b)`.
    fn product_filtered(&self, other: &Self, keep: impl Fn(u8, u8) -> bool) -> Self {
        let mut out = [0.0; BLADES];
        for (i, &a) in self.0.iter().enumerate() {
            if a == 0.0 {
                continue;
            }
            for (j, &b) in other.0.iter().enumerate() {
                if keep(COMPONENT_MASKS[i], COMPONENT_MASKS[j]) {
                    let e = CAYLEY[i][j];
                    out[e.index] += f64::from(e.sign) * a * b;
                }
            }
        }
        Multivector(out)
    }

    /// Geometric product `A B` (bilinear extension of the blade product).
    pub fn gp(&self, other: &Self) -> Self {
        self.product_filtered(other, |_, _| true)
    }

    /// Outer product `A ∧ B`: blade pairs with `grade(AB) = grade(A) + grade(B)`, i.e. no
    /// common basis vector.
    pub fn outer(&self, other: &Self) -> Self {
        self.product_filtered(other, |a, b| a & b == 0)
    }

    /// Left contraction `A ⌋ B` (Dorst et al. ch. 3): blade pairs with `A ⊆ B`, giving grade
    /// `grade(B) - grade(A)`.
    pub fn left_contraction(&self, other: &Self) -> Self {
        self.product_filtered(other, |a, b| a & b == a)
    }

    /// Hestenes inner product `A · B` (Hestenes-Sobczyk 1984, ch. 1): blade pairs of
    /// non-zero grade with `grade(AB) = |grade(A) - grade(B)|`.
    pub fn inner(&self, other: &Self) -> Self {
        self.product_filtered(other, |a, b| {
            let (ga, gb) = (a.count_ones() as i32, b.count_ones() as i32);
            ga != 0 && gb != 0 && (a ^ b).count_ones() as i32 == (ga - gb).abs()
        })
    }

    /// Scalar product `<A B>_0`.
    pub fn scalar_product(&self, other: &Self) -> f64 {
        self.gp(other).0[0]
    }

    fn map_grades(&self, sign: impl Fn(u32) -> f64) -> Self {
        Multivector(std::array::from_fn(|c| self.0[c] * sign(grade_of(c))))
    }

    /// Reverse `Ã`: grade `k` times `(-1)^{k(k-1)/2}`.
    pub fn reverse(&self) -> Self {
        self.map_grades(|k| {
            if (k * k.saturating_sub(1) / 2) % 2 == 0 {
                1.0
            } else {
                -1.0
            }
        })
    }

    /// Grade involution `Â`: grade `k` times `(-1)^k`.
    pub fn grade_involution(&self) -> Self {
        self.map_grades(|k| if k % 2 == 0 { 1.0 } else { -1.0 })
    }

    /// Clifford conjugate `Ā` (reverse of the grade involution): `(-1)^{k(k+1)/2}`.
    pub fn clifford_conjugate(&self) -> Self {
        self.map_grades(|k| {
            if (k * (k + 1) / 2) % 2 == 0 {
                1.0
            } else {
                -1.0
            }
        })
    }

    /// Grade projection `<A>_k` (zero for `k > 3`).
    pub fn grade(&self, k: u32) -> Self {
        self.map_grades(|g| if g == k { 1.0 } else { 0.0 })
    }

    /// `|A|^2 = <A Ã>_0`, which in Cl(3,0) is the sum of squared coefficients.
    pub fn norm_squared(&self) -> f64 {
        self.scalar_product(&self.reverse())
    }

    /// `|A|`.
    pub fn norm(&self) -> f64 {
        self.norm_squared().max(0.0).sqrt()
    }

    /// `A^{-1} = Ā (A Ā)^{-1}` (see the module docs); [`GeoError::NotInvertible`] when
    /// `A Ā = α + β I` has `α^2 + β^2` below `1e-24 · |A|^4`.
    pub fn inverse(&self) -> Result<Self> {
        let conj = self.clifford_conjugate();
        let p = self.gp(&conj);
        let (alpha, beta) = (p.0[0], p.0[BLADES - 1]);
        let det = alpha * alpha + beta * beta;
        let n2 = self.norm_squared();
        if !det.is_finite() || det <= 1e-24 * n2 * n2 || n2 == 0.0 {
            return Err(GeoError::NotInvertible(det));
        }
        let mut central_inv = Multivector::ZERO;
        central_inv.0[0] = alpha / det;
        central_inv.0[BLADES - 1] = -beta / det;
        Ok(conj.gp(&central_inv))
    }

    /// `s · A`.
    pub fn scale(&self, s: f64) -> Self {
        Multivector(self.0.map(|x| x * s))
    }

    /// Largest absolute coefficient difference.
    pub fn max_abs_diff(&self, other: &Self) -> f64 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    }
}

impl Add for Multivector {
    type Output = Multivector;
    fn add(self, rhs: Self) -> Self {
        Multivector(std::array::from_fn(|c| self.0[c] + rhs.0[c]))
    }
}

impl AddAssign for Multivector {
    fn add_assign(&mut self, rhs: Self) {
        for (a, b) in self.0.iter_mut().zip(rhs.0) {
            *a += b;
        }
    }
}

impl Sub for Multivector {
    type Output = Multivector;
    fn sub(self, rhs: Self) -> Self {
        Multivector(std::array::from_fn(|c| self.0[c] - rhs.0[c]))
    }
}

impl Neg for Multivector {
    type Output = Multivector;
    fn neg(self) -> Self {
        self.scale(-1.0)
    }
}

/// `A * B` is the geometric product.
impl Mul for Multivector {
    type Output = Multivector;
    fn mul(self, rhs: Self) -> Self {
        self.gp(&rhs)
    }
}

/// `A ^ B` is the outer product.
impl BitXor for Multivector {
    type Output = Multivector;
    fn bitxor(self, rhs: Self) -> Self {
        self.outer(&rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_order_is_the_documented_one() {
        let names = component_names();
        assert_eq!(
            names,
            ["1", "e1", "e2", "e3", "e12", "e13", "e23", "e123"].map(String::from)
        );
    }

    #[test]
    fn reordering_sign_small_cases() {
        // e2 e1 = -e12, e1 e2 = +e12, e3 e12 = +e123 (two swaps), e23 e1 = +e123.
        assert_eq!(Blade::reordering_sign(Blade(2), Blade(1)), -1);
        assert_eq!(Blade::reordering_sign(Blade(1), Blade(2)), 1);
        assert_eq!(Blade::reordering_sign(Blade(4), Blade(3)), 1);
        assert_eq!(Blade::reordering_sign(Blade(6), Blade(1)), 1);
        assert_eq!(Blade::reordering_sign(Blade(2), Blade(5)), -1);
    }

    #[test]
    fn every_output_has_eight_terms() {
        for k in 0..BLADES {
            let t = terms_for_output(k);
            assert_eq!(t.len(), BLADES);
            let mut js: Vec<usize> = t.iter().map(|x| x.1).collect();
            js.sort_unstable();
            assert_eq!(js, (0..BLADES).collect::<Vec<_>>());
        }
    }
}
