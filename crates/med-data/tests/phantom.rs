//! The synthetic phantom generator: determinism, label sampling, and that every
//! finding changes the image where it should (and only there).

use med_data::labels::{LabelStats, NIH_FINDINGS};
use med_data::phantom::{LabelSource, Phantom, PhantomConfig, PhantomGenerator};

fn only(k: usize) -> [bool; 14] {
    let mut l = [false; 14];
    l[k] = true;
    l
}

#[test]
fn deterministic_and_seed_dependent() {
    let g = PhantomGenerator::new(11);
    let a = g.generate(5);
    let b = g.generate(5);
    assert_eq!(a, b);
    assert_ne!(a.image, g.generate(6).image);
    assert_ne!(a.image, PhantomGenerator::new(12).generate(5).image);
    assert_eq!(a.labels, g.labels_for(5));
    assert!(a.synthetic);
    assert_eq!(a.id, "synthetic-phantom-s11-000005");
    assert_eq!((a.image.width(), a.image.height()), (256, 256));
    let (lo, hi) = a.image.min_max();
    assert!(
        lo >= 0.0 && hi <= 1.0 && hi - lo > 0.6,
        "contrast {lo}..{hi}"
    );
    // Anatomy and noise do not depend on the labels.
    let normal = g.generate_with_labels(5, [false; 14]);
    let with_mass = g.generate_with_labels(5, only(4));
    let changed = normal
        .image
        .data()
        .iter()
        .zip(with_mass.image.data())
        .filter(|(x, y)| x != y)
        .count();
    assert!(
        changed > 0 && changed < 256 * 256 / 20,
        "{changed} pixels changed"
    );
}

#[test]
fn looks_like_a_chest_radiograph() {
    let p = PhantomGenerator::new(3).generate_with_labels(0, [false; 14]);
    let a = p.anatomy;
    let at = |u: f32, v: f32| p.image.get((u * 256.0) as u32, (v * 256.0) as u32).unwrap();
    let lung = a.lung_box(0);
    let lung_mid = at((lung[0] + lung[2]) / 2.0, (lung[1] + lung[3]) / 2.0 - 0.05);
    let abdomen = at(a.cx - 0.15, 0.93);
    let outside = at(0.01, 0.5);
    let spine = at(a.cx, 0.15);
    assert!(
        lung_mid < abdomen - 0.2,
        "lungs darker than the abdomen: {lung_mid} vs {abdomen}"
    );
    assert!(
        outside < lung_mid,
        "air outside the body is darkest: {outside}"
    );
    assert!(spine > lung_mid + 0.2, "mediastinum/spine bright: {spine}");
    let ctr = a.cardiothoracic_ratio();
    assert!((0.38..0.5).contains(&ctr), "normal heart size, ratio {ctr}");
}

/// For each finding: the change it makes, where it is, and its sign.
#[test]
fn every_finding_changes_the_image_where_it_should() {
    for seed in [1u64, 2] {
        let g = PhantomGenerator::new(seed);
        for index in 0..3u64 {
            let base = g.generate_with_labels(index, [false; 14]);
            for k in 0..14 {
                let with = g.generate_with_labels(index, only(k));
                check_finding(&base, &with, k);
            }
        }
    }
}

fn check_finding(base: &Phantom, with: &Phantom, k: usize) {
    let name = NIH_FINDINGS[k];
    assert_eq!(with.findings.len(), 1, "{name}");
    let f = &with.findings[0];
    assert_eq!(f.finding, k);
    let n = 256u32;
    let region = f.region.grow(2, n);
    let (mut inside, mut outside, mut signed, mut count, mut peak) =
        (0f64, 0f64, 0f64, 0usize, 0f32);
    let (mut cu, mut cv) = (0f64, 0f64);
    for y in 0..n {
        for x in 0..n {
            let d = with.image.get(x, y).unwrap() - base.image.get(x, y).unwrap();
            let ad = d.abs() as f64;
            cu += ad * x as f64;
            cv += ad * y as f64;
            if region.contains(x, y) {
                inside += ad;
                signed += d as f64;
                count += 1;
                peak = peak.max(d.abs());
            } else {
                outside += ad;
            }
        }
    }
    let total = inside + outside;
    assert!(total > 0.0, "{name} changes nothing");
    // Local: essentially all of the change lies in the reported region.
    assert!(
        outside <= 1e-3 * total,
        "{name}: {:.4} of the change outside its region",
        outside / total
    );
    // Visible: a clear local contrast (> 10 grey levels somewhere).
    assert!(peak > 10.0 / 255.0, "{name}: peak change {peak}");
    let (cu, cv) = (
        (cu / total) as f32 / n as f32,
        (cv / total) as f32 / n as f32,
    );
    let a = base.anatomy;
    let l = a.lung_box(0);
    let r = a.lung_box(1);
    let in_lungs =
        |u: f32, v: f32| u > l[0] && u < r[2] && v > l[1].min(r[1]) && v < l[3].max(r[3]);
    // Where: anatomical expectations per finding.
    match name {
        "Cardiomegaly" => {
            let h = a.heart;
            assert!(
                (cu - h[0]).abs() < h[2] * 1.2 && (cv - h[1]).abs() < h[3] * 1.3,
                "{name} at ({cu},{cv})"
            );
            assert!(with.anatomy.cardiothoracic_ratio() > 0.55);
        }
        "Hernia" => {
            assert!((cu - a.cx).abs() < 0.06, "{name} central: {cu}");
            assert!(
                cv > a.heart[1] - a.heart[3] && cv < a.diaphragm[1],
                "{name} retrocardiac: {cv}"
            );
        }
        "Effusion" | "Atelectasis" => {
            let side = f.side.expect("one-sided");
            let b = a.lung_box(side);
            assert!(cv > b[1] + 0.5 * (b[3] - b[1]), "{name} basal: {cv}");
            assert!(cu > b[0] && cu < b[2], "{name} in lung {side}");
        }
        "Pneumothorax" => {
            let b = a.lung_box(f.side.unwrap());
            assert!(cu > b[0] && cu < b[2], "{name} in its lung");
        }
        "Emphysema" | "Edema" | "Fibrosis" => {
            assert!((cu - a.cx).abs() < 0.12, "{name} bilateral: {cu}");
            assert!(in_lungs(cu, cv), "{name} in the lungs: ({cu},{cv})");
        }
        _ => assert!(in_lungs(cu, cv), "{name} in the lungs: ({cu},{cv})"),
    }
    // Sign: air-like findings darken, everything else is an opacity.
    let mean = signed / count as f64;
    match name {
        "Emphysema" | "Pneumothorax" => assert!(mean < 0.0, "{name} darkens: {mean}"),
        _ => assert!(mean > 0.0, "{name} brightens: {mean}"),
    }
}

#[test]
fn labels_follow_nih_statistics() {
    let g = PhantomGenerator::new(99);
    let n = 4000u64;
    let mut none = 0;
    let mut counts = [0usize; 14];
    for i in 0..n {
        let l = g.labels_for(i);
        none += (!l.iter().any(|&b| b)) as usize;
        for k in 0..14 {
            counts[k] += l[k] as usize;
        }
    }
    let s = LabelStats::nih();
    assert!((none as f64 / n as f64 - s.no_finding_fraction()).abs() < 0.03);
    for k in 0..14 {
        assert!(
            (counts[k] as f64 / n as f64 - s.prior(k)).abs() < 0.025,
            "{}",
            NIH_FINDINGS[k]
        );
    }
    let abnormal = PhantomGenerator::with_config(
        99,
        PhantomConfig {
            labels: LabelSource::NihAbnormal,
            ..Default::default()
        },
    )
    .unwrap();
    assert!((0..200).all(|i| abnormal.labels_for(i).iter().any(|&b| b)));
    let fixed = PhantomGenerator::with_config(
        1,
        PhantomConfig {
            labels: LabelSource::Fixed(only(13)),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(fixed.generate(0).label_string(), "Hernia");
}

#[test]
fn other_sizes_and_bad_configs() {
    let cfg = PhantomConfig {
        size: 64,
        noise: 0.0,
        labels: LabelSource::Fixed(only(2)),
    };
    let p = PhantomGenerator::with_config(4, cfg).unwrap().generate(0);
    assert_eq!(p.image.width(), 64);
    assert_eq!(p.findings[0].name, "Effusion");
    assert!(PhantomGenerator::with_config(4, PhantomConfig { size: 8, ..cfg }).is_err());
    assert!(PhantomGenerator::with_config(
        4,
        PhantomConfig {
            noise: f32::NAN,
            ..cfg
        }
    )
    .is_err());
    // Invalid settings set through the public fields are clamped, not a panic.
    let mut raw = PhantomGenerator::new(4);
    raw.config.size = 0;
    raw.config.noise = f32::INFINITY;
    let p = raw.generate(0);
    assert_eq!(p.image.width(), 32);
    assert!(p.image.data().iter().all(|v| v.is_finite()));
    let samples: Vec<_> = PhantomGenerator::with_config(4, cfg)
        .unwrap()
        .samples(10, 3)
        .collect();
    assert_eq!(samples.len(), 3);
    assert!(samples
        .iter()
        .all(|s| s.id.starts_with("synthetic-phantom-") && s.labels[2] == 1.0));
}

#[test]
fn saved_png_says_synthetic() {
    let dir = std::env::temp_dir().join(format!("med-data-phantom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = PhantomGenerator::new(8).generate_with_labels(1, only(1));
    let path = p.save_png(&dir).unwrap();
    assert!(path
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("synthetic-phantom-s8-"));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let reader = decoder.read_info().unwrap();
    let texts: Vec<(String, String)> = reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .map(|t| (t.keyword.clone(), t.text.clone()))
        .collect();
    assert!(
        texts
            .iter()
            .any(|(k, v)| k == "Description" && v.contains("SYNTHETIC")),
        "{texts:?}"
    );
    assert!(texts
        .iter()
        .any(|(k, v)| k == "Labels" && v == "Cardiomegaly"));
    let back = med_data::load_image(&path).unwrap();
    assert_eq!(
        back.data(),
        p.image.map(|v| (v * 255.0).round() / 255.0).data()
    );
}

#[test]
fn phantoms_and_samples_cross_process_boundaries() {
    let p = PhantomGenerator::new(21).generate_with_labels(2, only(5));
    let json = serde_json::to_string(&p).unwrap();
    let back: Phantom = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    let s = p.to_sample();
    let back: med_data::datasets::Sample =
        serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
    // Generator settings too.
    let g = PhantomGenerator::new(3);
    let back: PhantomGenerator = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
    assert_eq!(back.generate(1), g.generate(1));
}
