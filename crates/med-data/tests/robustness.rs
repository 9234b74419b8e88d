//! Corrupted inputs: truncations and byte flips of each test file must give `Ok` or a
//! typed error naming the file, never a panic, and quickly: a corrupt DICOM length
//! field must not make the parser allocate gigabytes (the whole test takes well under a
//! second). A panic inside the third-party RLE decoder on corrupt segments is caught by
//! `load_dicom` and turned into an error; its message still shows on stderr.

mod common;

use common::{data, tempdir};
use med_data::datasets::{MedMnist, Split};
use med_data::load_image;

fn mutations(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let n = bytes.len();
    // Truncations at 64 evenly spaced points (and the first bytes).
    for i in (0..n).step_by((n / 64).max(1)).chain(0..16.min(n)) {
        out.push(bytes[..i].to_vec());
    }
    // Byte flips with a fixed LCG, biased to the headers.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for k in 0..160 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let limit = if k % 2 == 0 { n.min(1024) } else { n };
        let pos = (state >> 33) as usize % limit.max(1);
        let mut b = bytes.to_vec();
        if !b.is_empty() {
            b[pos] ^= (state >> 8) as u8 | 1;
        }
        out.push(b);
    }
    out
}

/// Silence the (caught) panics of the third-party DICOM codecs so that the test log only
/// shows real failures; every other panic goes to the default hook.
fn quiet_codec_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_codec = info
                .location()
                .is_some_and(|l| l.file().contains("dicom-transfer-syntax-registry"));
            if !in_codec {
                default(info);
            }
        }));
    });
}

#[test]
fn corrupted_images_never_panic() {
    quiet_codec_panics();
    let dir = tempdir("fuzz");
    let files = [
        "formats/gray8.png",
        "formats/gray16.png",
        "formats/gray8.jpg",
        "formats/mono2_rescale.dcm",
        "formats/mono1_rescale_window.dcm",
        "pydicom/CT_small.dcm",
        "pydicom/MR_small_RLE.dcm",
        "pydicom/SC_rgb_jpeg_dcmtk.dcm",
    ];
    let mut errors = 0;
    let mut total = 0;
    for f in files {
        let bytes = std::fs::read(data(f)).unwrap();
        let ext = f.rsplit('.').next().unwrap();
        for (i, m) in mutations(&bytes).into_iter().enumerate() {
            let p = dir.join(format!("m{i}.{ext}"));
            std::fs::write(&p, &m).unwrap();
            total += 1;
            let res = load_image(&p);
            if let Err(e) = res {
                errors += 1;
                assert!(e.to_string().contains(&format!("m{i}.{ext}")), "{f}: {e}");
            }
        }
    }
    assert!(
        errors > total / 4,
        "most truncations fail: {errors} of {total}"
    );
}

#[test]
fn corrupted_npz_never_panics() {
    let dir = tempdir("fuzz-npz");
    let bytes = std::fs::read(data("formats/pneumoniamnist_tiny.npz")).unwrap();
    for (i, m) in mutations(&bytes).into_iter().enumerate() {
        let p = dir.join(format!("m{i}.npz"));
        std::fs::write(&p, &m).unwrap();
        if let Ok(ds) = MedMnist::open(&p, Split::Train) {
            assert!(ds.iter().count() <= ds.len());
        }
    }
}
