//! Metrics against hand-computed cases and against scikit-learn / scikit-image values
//! committed by scripts/metrics_reference.py.

mod common;

use common::{data, floats};
use med_data::metrics::{
    self, auroc, image_metrics, multilabel_auroc, multilabel_f1, subset_accuracy,
};
use med_data::GrayImage;

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: got {a}, want {b}");
}

#[test]
fn hand_computed_image_errors() {
    let a = GrayImage::new(2, 2, vec![0.0, 0.5, 1.0, 0.25]).unwrap();
    let b = GrayImage::new(2, 2, vec![0.1, 0.5, 0.8, 0.25]).unwrap();
    // Differences b - a: 0.1, 0, -0.2, 0.
    close(metrics::mae(&a, &b).unwrap(), 0.075, 1e-7, "mae");
    close(metrics::me(&a, &b).unwrap(), -0.025, 1e-7, "me");
    close(metrics::mse(&a, &b).unwrap(), 0.0125, 1e-7, "mse");
    close(
        metrics::rmse(&a, &b).unwrap(),
        0.0125f64.sqrt(),
        1e-7,
        "rmse",
    );
    // PSNR = 10 log10(1 / 0.0125) = 19.0309 dB.
    close(
        metrics::psnr(&a, &b, 1.0).unwrap(),
        10.0 * 80f64.log10(),
        1e-5,
        "psnr",
    );
    assert_eq!(metrics::psnr(&a, &a, 1.0).unwrap(), f64::INFINITY);
    let c = GrayImage::filled(3, 2, 0.0).unwrap();
    assert!(metrics::mae(&a, &c).is_err());
    assert!(metrics::psnr(&a, &b, 0.0).is_err());
}

#[test]
fn ssim_basic_properties() {
    let a = GrayImage::from_fn(32, 24, |x, y| ((x * 3 + y * 5) % 17) as f32 / 16.0).unwrap();
    close(metrics::ssim(&a, &a, 1.0).unwrap(), 1.0, 1e-12, "identical");
    // Two constant images c1, c2: SSIM = (2 c1 c2 + C1) / (c1^2 + c2^2 + C1) exactly.
    let p = GrayImage::filled(16, 16, 0.2).unwrap();
    let q = GrayImage::filled(16, 16, 0.6).unwrap();
    let c1 = (0.01f64).powi(2);
    let (m1, m2) = (0.2f32 as f64, 0.6f32 as f64);
    close(
        metrics::ssim(&p, &q, 1.0).unwrap(),
        (2.0 * m1 * m2 + c1) / (m1 * m1 + m2 * m2 + c1),
        1e-9,
        "constants",
    );
    // Map covers the valid region only.
    let map = metrics::ssim_map(&a, &a, 1.0).unwrap();
    assert_eq!((map.width(), map.height()), (22, 14));
    let tiny = GrayImage::filled(10, 30, 0.0).unwrap();
    assert!(metrics::ssim(&tiny, &tiny, 1.0).is_err());
}

#[test]
fn image_metrics_match_scikit_image() {
    let text = std::fs::read_to_string(data("metrics_reference.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for case in v["images"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (w, h) = (
            case["width"].as_u64().unwrap() as u32,
            case["height"].as_u64().unwrap() as u32,
        );
        let r: Vec<f32> = floats(&case["reference"])
            .iter()
            .map(|&x| x as f32)
            .collect();
        let t: Vec<f32> = floats(&case["test"]).iter().map(|&x| x as f32).collect();
        let (r, t) = (
            GrayImage::new(w, h, r).unwrap(),
            GrayImage::new(w, h, t).unwrap(),
        );
        let m = image_metrics(&r, &t, case["data_range"].as_f64().unwrap()).unwrap();
        close(
            m.psnr,
            case["psnr"].as_f64().unwrap(),
            1e-6,
            &format!("{name} psnr"),
        );
        close(
            m.ssim,
            case["ssim"].as_f64().unwrap(),
            1e-6,
            &format!("{name} ssim"),
        );
        let scale = case["data_range"].as_f64().unwrap();
        close(
            m.mae,
            case["mae"].as_f64().unwrap(),
            1e-9 * scale,
            &format!("{name} mae"),
        );
        close(
            m.me,
            case["me"].as_f64().unwrap(),
            1e-9 * scale,
            &format!("{name} me"),
        );
        close(
            m.rmse,
            case["rmse"].as_f64().unwrap(),
            1e-9 * scale,
            &format!("{name} rmse"),
        );
    }
}

#[test]
fn hand_computed_auroc_with_ties() {
    // scikit-learn's documented example.
    close(
        auroc(&[0.0, 0.0, 1.0, 1.0], &[0.1, 0.4, 0.35, 0.8])
            .unwrap()
            .unwrap(),
        0.75,
        1e-12,
        "doc example",
    );
    // Perfect and inverted.
    assert_eq!(auroc(&[0.0, 1.0], &[0.2, 0.9]).unwrap(), Some(1.0));
    assert_eq!(auroc(&[0.0, 1.0], &[0.9, 0.2]).unwrap(), Some(0.0));
    // All tied: 0.5. One tied pair among 2x2: (1 + 1 + 1 + 0.5) / 4.
    assert_eq!(auroc(&[0.0, 1.0, 0.0, 1.0], &[0.3; 4]).unwrap(), Some(0.5));
    assert_eq!(
        auroc(&[0.0, 0.0, 1.0, 1.0], &[0.1, 0.5, 0.5, 0.9]).unwrap(),
        Some(0.875)
    );
    // Undefined with a single class; errors on bad input.
    assert_eq!(auroc(&[1.0, 1.0], &[0.1, 0.2]).unwrap(), None);
    assert!(auroc(&[1.0], &[0.1, 0.2]).is_err());
    assert!(auroc(&[1.0, 0.0], &[f32::NAN, 0.2]).is_err());
}

#[test]
fn hand_computed_f1_and_subset_accuracy() {
    let y = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]];
    let s = [[0.9, 0.2, 0.4], [0.6, 0.7, 0.1], [0.8, 0.3, 0.0]];
    // Class 0: tp 2, fp 1, fn 0 -> 4/5. Class 1: tp 1, fp 0, fn 1 -> 2/3. Class 2: tp 0, fn 1 -> 0.
    let f = multilabel_f1(&y, &s, 0.5).unwrap();
    let want = [0.8, 2.0 / 3.0, 0.0];
    for (g, w) in f.per_class.iter().zip(want) {
        close(g.unwrap(), w, 1e-12, "per class");
    }
    // Micro: tp 3, fp 1, fn 2 -> 6 / 9.
    close(f.micro.unwrap(), 6.0 / 9.0, 1e-12, "micro");
    close(
        f.macro_avg.unwrap(),
        (0.8 + 2.0 / 3.0) / 3.0,
        1e-12,
        "macro",
    );
    // Weighted by support 2, 2, 1.
    close(
        f.weighted.unwrap(),
        (0.8 * 2.0 + 2.0 / 3.0 * 2.0) / 5.0,
        1e-12,
        "weighted",
    );
    assert_eq!(f.support, [2, 2, 1]);
    // Only the second row is predicted exactly? No: row 2 predicts class 0 too. None match.
    assert_eq!(subset_accuracy(&y, &s, 0.5).unwrap(), 0.0);
    assert_eq!(subset_accuracy(&y, &y, 0.5).unwrap(), 1.0);
    assert!(multilabel_f1(&y, &s[..2], 0.5).is_err());
}

#[test]
fn classification_metrics_match_scikit_learn() {
    let text = std::fs::read_to_string(data("metrics_reference.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let c = &v["classification"];
    let rows = |k: &str| -> Vec<Vec<f32>> {
        c[k].as_array()
            .unwrap()
            .iter()
            .map(|r| floats(r).iter().map(|&x| x as f32).collect())
            .collect()
    };
    let (y, s) = (rows("labels"), rows("scores"));
    let t = c["threshold"].as_f64().unwrap() as f32;
    let a = multilabel_auroc(&y, &s).unwrap();
    for (g, w) in a.per_class.iter().zip(floats(&c["auroc_per_class"])) {
        close(g.unwrap(), w, 1e-12, "auroc per class");
    }
    close(
        a.micro.unwrap(),
        c["auroc_micro"].as_f64().unwrap(),
        1e-12,
        "auroc micro",
    );
    close(
        a.macro_avg.unwrap(),
        c["auroc_macro"].as_f64().unwrap(),
        1e-12,
        "auroc macro",
    );
    close(
        a.weighted.unwrap(),
        c["auroc_weighted"].as_f64().unwrap(),
        1e-12,
        "auroc weighted",
    );
    let f = multilabel_f1(&y, &s, t).unwrap();
    for (g, w) in f.per_class.iter().zip(floats(&c["f1_per_class"])) {
        close(g.unwrap(), w, 1e-12, "f1 per class");
    }
    close(
        f.micro.unwrap(),
        c["f1_micro"].as_f64().unwrap(),
        1e-12,
        "f1 micro",
    );
    close(
        f.macro_avg.unwrap(),
        c["f1_macro"].as_f64().unwrap(),
        1e-12,
        "f1 macro",
    );
    close(
        f.weighted.unwrap(),
        c["f1_weighted"].as_f64().unwrap(),
        1e-12,
        "f1 weighted",
    );
    close(
        subset_accuracy(&y, &s, t).unwrap(),
        c["subset_accuracy"].as_f64().unwrap(),
        1e-12,
        "subset accuracy",
    );
}
