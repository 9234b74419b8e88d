//! The `privmed` binary end to end: the demo at the insecure test parameters (encrypted
//! logits equal the plaintext ones), and one clear line plus a non-zero exit for a bad path,
//! an unreadable image and corrupted weights.

use std::path::PathBuf;
use std::process::{Command, Output};

fn privmed(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_privmed"))
        .args(args)
        .output()
        .expect("the privmed binary runs")
}

fn temp(name: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("privmed-test-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The one stderr line of a failed run.
fn failure(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("privmed: error: "), "{err}");
    err
}

/// The error line of `privmed demo --params test FLAG VALUE`.
fn demo_failure(flag: &str, value: &str) -> String {
    failure(&privmed(&["demo", "--params", "test", flag, value]))
}

#[test]
fn demo_at_test_parameters_matches_the_plaintext_result() {
    let stdout = success(&privmed(&["demo", "--params", "test"]));
    for name in med_data::labels::NIH_FINDINGS {
        assert!(stdout.contains(name), "{name} missing:\n{stdout}");
    }
    assert!(stdout.contains("SYNTHETIC"), "{stdout}");
    assert!(stdout.contains("encrypted inference"), "{stdout}");
    let err: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("max |encrypted - plaintext logit|: "))
        .expect("error line")
        .parse()
        .unwrap();
    assert!(err < 1e-3, "{err}");
}

#[test]
fn a_missing_image_is_one_line_and_a_failure() {
    let err = demo_failure("--image", "/no/such/xray.png");
    assert!(err.contains("/no/such/xray.png"), "{err}");
}

#[test]
fn an_unreadable_image_is_one_line_and_a_failure() {
    let p = temp("garbage.png", b"\x89PNG\r\n\x1a\nthis is not a png");
    let err = demo_failure("--image", p.to_str().unwrap());
    assert!(err.contains("cannot read image"), "{err}");
    let _ = std::fs::remove_file(p);
}

#[test]
fn corrupted_weights_are_one_line_and_a_failure() {
    let shipped = std::fs::read(privmed::demo::SHIPPED_LENET).unwrap();
    for (name, bytes) in [
        ("truncated.json.gz", &shipped[..shipped.len() / 2]),
        ("garbage.json.gz", &b"not gzip at all"[..]),
        ("garbage.json", &b"{\"name\": 3}"[..]),
    ] {
        let p = temp(name, bytes);
        let err = demo_failure("--model", p.to_str().unwrap());
        assert!(err.contains("cannot load classifier weights"), "{err}");
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn a_classifier_of_another_codec_is_refused() {
    let (_, mut model) = privmed::demo::read_model(None, privmed::demo::ParamSet::Test).unwrap();
    model.encoder = Some("vqgan-f8-c00000000".into());
    let p = std::env::temp_dir().join(format!(
        "privmed-test-{}-other-codec.json",
        std::process::id()
    ));
    he_nn_train::weights::save_model(&model, &p).unwrap();
    let err = demo_failure("--model", p.to_str().unwrap());
    assert!(
        err.contains("trained on the latents of codec vqgan-f8-c00000000"),
        "{err}"
    );
    let _ = std::fs::remove_file(p);
}

/// The stdout of a successful run.
fn success(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn evaluate_records_every_sample_and_resumes_from_the_records() {
    let dir = std::env::temp_dir().join(format!("privmed-test-{}-eval", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cache, records) = (dir.join("latents"), dir.join("records.jsonl"));
    let eval = |samples: &str| {
        privmed(&[
            "evaluate",
            "--samples",
            samples,
            "--images",
            "30",
            "--cache",
            cache.to_str().unwrap(),
            "--records",
            records.to_str().unwrap(),
        ])
    };
    let lines = || std::fs::read_to_string(&records).unwrap().lines().count();
    let first = success(&eval("2"));
    assert!(first.contains("(0 already recorded)"), "{first}");
    assert!(first.contains("identical predictions 2/2"), "{first}");
    assert_eq!(lines(), 2);
    // the second run evaluates only the third sample; the report covers all three
    let second = success(&eval("3"));
    assert!(second.contains("(2 already recorded)"), "{second}");
    assert!(second.contains("identical predictions 3/3"), "{second}");
    assert!(
        second.contains("(2 samples from earlier runs' records)"),
        "{second}"
    );
    assert_eq!(lines(), 3);
    // a run with nothing left to do reads the records only
    let third = success(&eval("3"));
    assert!(third.contains("(3 already recorded)"), "{third}");
    assert_eq!(lines(), 3);
    // a damaged records file is one line and a failure, and is left as it was
    std::fs::write(&records, "{\"model\": 1}\n").unwrap();
    let err = failure(&eval("3"));
    assert!(err.contains("evaluation records"), "{err}");
    assert_eq!(lines(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
