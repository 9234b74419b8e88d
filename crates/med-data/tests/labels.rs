//! The embedded NIH label statistics agree with the committed prior and
//! co-occurrence tables (all derived from the real NIH table by scripts/label_tables.py).

mod common;

use common::repo;
use med_data::labels::{format_nih_labels, parse_nih_labels, LabelStats, NIH_FINDINGS};
use rand::SeedableRng;

#[test]
fn embedded_stats_match_committed_tables() {
    let s = LabelStats::nih();
    assert_eq!(s.total(), 112_120);
    let mut rdr = csv::Reader::from_path(repo("data/nih_label_stats/priors.csv")).unwrap();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let count: u64 = rec[1].parse().unwrap();
        if &rec[0] == "No Finding" {
            assert_eq!(
                (s.no_finding_fraction() * s.total() as f64).round() as u64,
                count
            );
        } else {
            let k = NIH_FINDINGS.iter().position(|f| *f == &rec[0]).unwrap();
            assert_eq!(s.cooccurrence(k, k), count, "{}", &rec[0]);
        }
    }
    let mut rdr = csv::Reader::from_path(repo("data/nih_label_stats/cooccurrence.csv")).unwrap();
    let mut rows = 0;
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.unwrap();
        assert_eq!(&rec[0], NIH_FINDINGS[i]);
        for j in 0..14 {
            assert_eq!(s.cooccurrence(i, j), rec[j + 1].parse::<u64>().unwrap());
        }
        rows += 1;
    }
    assert_eq!(rows, 14);
    // Known figure from the NIH table: Infiltration is the most frequent finding.
    let most = (0..14).max_by_key(|&k| s.cooccurrence(k, k)).unwrap();
    assert_eq!(NIH_FINDINGS[most], "Infiltration");
}

#[test]
fn sampling_reproduces_priors() {
    let s = LabelStats::nih();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let n = 20_000;
    let mut counts = [0usize; 14];
    let mut none = 0;
    for _ in 0..n {
        let l = s.sample(&mut rng);
        none += (!l.iter().any(|&b| b)) as usize;
        for k in 0..14 {
            counts[k] += l[k] as usize;
        }
    }
    close(none as f64 / n as f64, s.no_finding_fraction(), 0.015);
    for (k, &c) in counts.iter().enumerate() {
        close(c as f64 / n as f64, s.prior(k), 0.012);
    }
    // Pairwise co-occurrence follows the table too (not just the marginals): the
    // strongest pairs of the NIH table, e.g. Effusion with Atelectasis.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let pairs = [
        ("Effusion", "Atelectasis"),
        ("Effusion", "Infiltration"),
        ("Atelectasis", "Infiltration"),
        ("Mass", "Nodule"),
    ];
    let idx = |n: &str| NIH_FINDINGS.iter().position(|f| *f == n).unwrap();
    let mut both = [0usize; 4];
    for _ in 0..n {
        let l = s.sample(&mut rng);
        for (c, (a, b)) in both.iter_mut().zip(pairs) {
            *c += (l[idx(a)] && l[idx(b)]) as usize;
        }
    }
    for (c, (a, b)) in both.iter().zip(pairs) {
        let want = s.cooccurrence(idx(a), idx(b)) as f64 / s.total() as f64;
        close(*c as f64 / n as f64, want, 0.006);
        // And well above independence: these findings cluster.
        assert!(want > 1.5 * s.prior(idx(a)) * s.prior(idx(b)), "{a} & {b}");
    }
    // Conditioned on abnormal: never empty.
    for _ in 0..1000 {
        assert!(s.sample_abnormal(&mut rng).iter().any(|&b| b));
    }
}

fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() < tol, "{a} vs {b}");
}

#[test]
fn label_strings_round_trip() {
    let l = parse_nih_labels("Cardiomegaly|Emphysema").unwrap();
    assert!(l[1] && l[10] && l.iter().filter(|&&b| b).count() == 2);
    assert_eq!(format_nih_labels(&l), "Cardiomegaly|Emphysema");
    assert_eq!(parse_nih_labels("No Finding").unwrap(), [false; 14]);
    assert_eq!(format_nih_labels(&[false; 14]), "No Finding");
    assert!(parse_nih_labels("Pleural Thickening").unwrap()[12]);
    assert_eq!(parse_nih_labels("Mass|Covid").unwrap_err(), "Covid");
}

#[test]
fn label_table_files_are_validated() {
    let dir = std::env::temp_dir().join(format!("med-data-labels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("combos.csv");
    std::fs::write(&p, "labels,count,extra\nMass,3,1\n").unwrap();
    assert!(matches!(
        LabelStats::from_csv(&p),
        Err(med_data::Error::UnknownColumn { .. })
    ));
    std::fs::write(&p, "labels,count\nMass,3\nNo Finding,1\n").unwrap();
    let s = LabelStats::from_csv(&p).unwrap();
    assert_eq!(s.total(), 4);
    close(s.prior(4), 0.75, 1e-12);
    std::fs::write(&p, "labels,count\nMass,many\n").unwrap();
    assert!(LabelStats::from_csv(&p).is_err());
}
