//! Algebra: axioms as property tests, and every derived Cayley entry against two independent
//! constructions (basis-vector lists multiplied by bubble sort, and the Pauli-matrix
//! representation Cl(3,0) ≅ M_2(C)).

#![allow(clippy::needless_range_loop)] // index loops mirror the (i, j) table notation

use geo_fhe::algebra::{Blade, Multivector, BLADES, CAYLEY, COMPONENT_MASKS};
use geo_fhe::GeoError;
use num_complex::Complex64 as C;
use proptest::prelude::*;

/// Brute force: `e_{a1..} e_{b1..}` as the concatenated list of basis-vector indices, sorted
/// by adjacent transpositions (each flips the sign), then equal neighbours cancelled
/// (`e_i e_i = 1`). Shares nothing with the bitmask formula.
fn brute_force(a: &[usize], b: &[usize]) -> (Vec<usize>, i32) {
    let mut v: Vec<usize> = a.iter().chain(b).copied().collect();
    let mut sign = 1;
    for i in 0..v.len() {
        for j in 0..v.len() - 1 - i {
            if v[j] > v[j + 1] {
                v.swap(j, j + 1);
                sign = -sign;
            }
        }
    }
    let mut out: Vec<usize> = Vec::new();
    for x in v {
        if out.last() == Some(&x) {
            out.pop();
        } else {
            out.push(x);
        }
    }
    (out, sign)
}

/// The basis-vector list of component `c`, written out independently of the bitmasks.
const LISTS: [&[usize]; 8] = [&[], &[1], &[2], &[3], &[1, 2], &[1, 3], &[2, 3], &[1, 2, 3]];

type M2 = [[C; 2]; 2];

fn mat_mul(a: &M2, b: &M2) -> M2 {
    let mut o = [[C::new(0.0, 0.0); 2]; 2];
    for i in 0..2 {
        for j in 0..2 {
            for k in 0..2 {
                o[i][j] += a[i][k] * b[k][j];
            }
        }
    }
    o
}

/// Pauli matrices: e1 = σx, e2 = σy, e3 = σz.
fn pauli(i: usize) -> M2 {
    let (z, o, im) = (C::new(0.0, 0.0), C::new(1.0, 0.0), C::new(0.0, 1.0));
    match i {
        1 => [[z, o], [o, z]],
        2 => [[z, -im], [im, z]],
        _ => [[o, z], [z, -o]],
    }
}

fn blade_matrix(c: usize) -> M2 {
    let id = [
        [C::new(1.0, 0.0), C::new(0.0, 0.0)],
        [C::new(0.0, 0.0), C::new(1.0, 0.0)],
    ];
    LISTS[c].iter().fold(id, |m, &i| mat_mul(&m, &pauli(i)))
}

fn rep(m: &Multivector) -> M2 {
    let mut o = [[C::new(0.0, 0.0); 2]; 2];
    for c in 0..BLADES {
        let b = blade_matrix(c);
        for i in 0..2 {
            for j in 0..2 {
                o[i][j] += b[i][j] * m.0[c];
            }
        }
    }
    o
}

fn mat_close(a: &M2, b: &M2, tol: f64) -> bool {
    (0..2).all(|i| (0..2).all(|j| (a[i][j] - b[i][j]).norm() <= tol))
}

#[test]
fn component_lists_match_masks() {
    for c in 0..BLADES {
        let mask: u8 = LISTS[c].iter().map(|&i| 1u8 << (i - 1)).sum();
        assert_eq!(mask, COMPONENT_MASKS[c], "component {c}");
    }
}

#[test]
fn every_cayley_entry_matches_brute_force() {
    for i in 0..BLADES {
        for j in 0..BLADES {
            let (list, sign) = brute_force(LISTS[i], LISTS[j]);
            let e = CAYLEY[i][j];
            assert_eq!(LISTS[e.index], list.as_slice(), "blade of e_{i} e_{j}");
            assert_eq!(i32::from(e.sign), sign, "sign of e_{i} e_{j}");
        }
    }
}

#[test]
fn every_cayley_entry_matches_pauli_representation() {
    // The 8 blade matrices are linearly independent over R (so the representation is
    // faithful) and multiply as the table says.
    for i in 0..BLADES {
        for j in 0..BLADES {
            let e = CAYLEY[i][j];
            let lhs = mat_mul(&blade_matrix(i), &blade_matrix(j));
            let mut rhs = blade_matrix(e.index);
            rhs.iter_mut()
                .flatten()
                .for_each(|x| *x *= f64::from(e.sign));
            assert!(mat_close(&lhs, &rhs, 1e-12), "e_{i} e_{j}");
        }
    }
    // Faithfulness: the real 8x8 matrix of the 8 blades (real and imaginary parts of the 4
    // entries) has full rank.
    let mut rows: Vec<Vec<f64>> = (0..BLADES)
        .map(|c| {
            let b = blade_matrix(c);
            b.iter().flatten().flat_map(|z| [z.re, z.im]).collect()
        })
        .collect();
    let mut rank = 0;
    for col in 0..8 {
        if let Some(p) = (rank..8).find(|&r| rows[r][col].abs() > 1e-9) {
            rows.swap(rank, p);
            for r in 0..8 {
                if r != rank {
                    let f = rows[r][col] / rows[rank][col];
                    let pivot = rows[rank].clone();
                    rows[r]
                        .iter_mut()
                        .zip(&pivot)
                        .for_each(|(x, y)| *x -= f * y);
                }
            }
            rank += 1;
        }
    }
    assert_eq!(rank, 8);
}

#[test]
fn basis_identities() {
    let e = |c| Multivector::basis(c).unwrap();
    let one = Multivector::scalar(1.0);
    for i in 1..=3 {
        assert_eq!(e(i) * e(i), one, "e{i}^2 = 1");
        for j in 1..=3 {
            if i != j {
                assert_eq!(e(i) * e(j), -(e(j) * e(i)), "e{i} e{j} = -e{j} e{i}");
            }
        }
    }
    let i3 = Multivector::pseudoscalar();
    assert_eq!(i3 * i3, Multivector::scalar(-1.0));
    assert_eq!(e(1) * e(2) * e(3), i3);
    assert_eq!(e(1) * e(2), e(4));
    assert_eq!(Blade(0b011).name(), "e12");
    assert!(Multivector::basis(8).is_none());
}

#[test]
fn non_invertible_is_a_typed_error() {
    // (1 + e1)(1 - e1) = 0: 1 + e1 is a zero divisor.
    let mut m = Multivector::scalar(1.0);
    m.0[1] = 1.0;
    assert!(matches!(m.inverse(), Err(GeoError::NotInvertible(_))));
    assert!(matches!(
        Multivector::ZERO.inverse(),
        Err(GeoError::NotInvertible(_))
    ));
}

fn mv() -> impl Strategy<Value = Multivector> {
    proptest::array::uniform8(-2.0f64..2.0).prop_map(Multivector)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn associativity(a in mv(), b in mv(), c in mv()) {
        prop_assert!(((a * b) * c).max_abs_diff(&(a * (b * c))) < 1e-10);
    }

    #[test]
    fn distributivity(a in mv(), b in mv(), c in mv()) {
        prop_assert!((a * (b + c)).max_abs_diff(&(a * b + a * c)) < 1e-10);
        prop_assert!(((a + b) * c).max_abs_diff(&(a * c + b * c)) < 1e-10);
    }

    #[test]
    fn product_is_the_matrix_product(a in mv(), b in mv()) {
        prop_assert!(mat_close(&rep(&(a * b)), &mat_mul(&rep(&a), &rep(&b)), 1e-10));
    }

    #[test]
    fn vectors_square_to_their_norm(v in proptest::array::uniform3(-2.0f64..2.0)) {
        let x = Multivector::vector(v);
        let n2: f64 = v.iter().map(|t| t * t).sum();
        prop_assert!((x * x).max_abs_diff(&Multivector::scalar(n2)) < 1e-12);
    }

    #[test]
    fn outer_and_inner_of_vectors(u in proptest::array::uniform3(-2.0f64..2.0), v in proptest::array::uniform3(-2.0f64..2.0)) {
        // u v = u·v + u∧v; u∧v = -v∧u; u⌋v = u·v (scalar).
        let (x, y) = (Multivector::vector(u), Multivector::vector(v));
        prop_assert!((x * y).max_abs_diff(&(x.inner(&y) + (x ^ y))) < 1e-12);
        prop_assert!((x ^ y).max_abs_diff(&-(y ^ x)) < 1e-12);
        prop_assert!(x.left_contraction(&y).max_abs_diff(&x.inner(&y)) < 1e-12);
        let dot: f64 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
        prop_assert!((x.inner(&y).0[0] - dot).abs() < 1e-12);
    }

    #[test]
    fn outer_product_is_associative_and_alternating(a in mv(), b in mv(), c in mv(), v in proptest::array::uniform3(-2.0f64..2.0)) {
        prop_assert!(((a ^ b) ^ c).max_abs_diff(&(a ^ (b ^ c))) < 1e-10);
        let x = Multivector::vector(v);
        prop_assert!((x ^ x).norm() < 1e-12);
    }

    #[test]
    fn reverse_is_an_anti_automorphism(a in mv(), b in mv()) {
        prop_assert!((a * b).reverse().max_abs_diff(&(b.reverse() * a.reverse())) < 1e-10);
        prop_assert!((a * b).grade_involution().max_abs_diff(&(a.grade_involution() * b.grade_involution())) < 1e-10);
    }

    #[test]
    fn grades_partition(a in mv()) {
        let sum = (0..=3).fold(Multivector::ZERO, |s, k| s + a.grade(k));
        prop_assert_eq!(sum, a);
        prop_assert!(a.grade(4).norm() == 0.0);
    }

    #[test]
    fn norm_is_euclidean_and_multiplicative_for_versors(a in mv(), u in proptest::array::uniform3(-2.0f64..2.0)) {
        let n2: f64 = a.0.iter().map(|x| x * x).sum();
        prop_assert!((a.norm_squared() - n2).abs() < 1e-10 * n2.max(1.0));
        let x = Multivector::vector(u);
        prop_assert!(((x * a).norm() - x.norm() * a.norm()).abs() < 1e-9 * (1.0 + x.norm() * a.norm()));
    }

    #[test]
    fn inverse(a in mv()) {
        if let Ok(inv) = a.inverse() {
            let one = Multivector::scalar(1.0);
            let tol = 1e-8 * (1.0 + a.norm() * inv.norm());
            prop_assert!((a * inv).max_abs_diff(&one) < tol);
            prop_assert!((inv * a).max_abs_diff(&one) < tol);
        }
    }
}
