//! Dataset readers on the real NIH and CheXpert label-table excerpts, MedMNIST-layout
//! `.npz` files written by numpy, the embedded real samples, and bad rows.

mod common;

use common::{data, expected, floats, repo, tempdir};
use med_data::datasets::{self, ChexpertOptions, MedMnist, Split, UncertainPolicy};
use med_data::io::{save_png, PngDepth};
use med_data::labels::{CHEXPERT_OBSERVATIONS, NIH_FINDINGS};
use med_data::{Error, GrayImage, Preprocess};

/// Independent reading of the NIH excerpt: (image, labels cell) per row.
fn nih_rows() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(data("nih_data_entry_2017_v2020_excerpt.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split(',');
            (f.next().unwrap().to_string(), f.next().unwrap().to_string())
        })
        .collect()
}

#[test]
fn nih_excerpt_labels_follow_the_policy() {
    let ds = datasets::nih(
        data("nih_data_entry_2017_v2020_excerpt.csv"),
        data("no-images-here"),
    )
    .unwrap();
    let rows = nih_rows();
    assert!(rows.len() >= 300);
    assert_eq!(ds.len(), rows.len());
    assert!(ds.parse_skipped().is_empty());
    assert_eq!(ds.class_names(), NIH_FINDINGS.map(String::from).as_slice());
    for (rec, (name, cell)) in ds.records().iter().zip(&rows) {
        assert_eq!(&rec.id, name);
        for (k, f) in NIH_FINDINGS.iter().enumerate() {
            let want = cell.split('|').any(|p| p == *f);
            assert_eq!(rec.labels[k] == 1.0, want, "{name} {f}");
        }
        if cell == "No Finding" {
            assert!(rec.labels.iter().all(|&v| v == 0.0));
        }
    }
    // The table's first real row.
    let first = &ds.records()[0];
    assert_eq!(first.id, "00000001_000.png");
    assert_eq!(first.patient.as_deref(), Some("1"));
    assert_eq!(first.view.as_deref(), Some("PA"));
    // Every finding occurs in the excerpt.
    assert!(
        ds.positives().iter().all(|&c| c > 0),
        "{:?}",
        ds.positives()
    );
}

#[test]
fn nih_iterator_loads_found_images_skips_missing_and_uses_official_lists() {
    let root = tempdir("nih");
    let sub = root.join("images_001/images");
    std::fs::create_dir_all(&sub).unwrap();
    let rows = nih_rows();
    let img = GrayImage::from_fn(300, 280, |x, y| ((x + y) % 256) as f32 / 255.0).unwrap();
    for (name, _) in rows.iter().take(3) {
        save_png(&img, sub.join(name), PngDepth::Eight).unwrap();
    }
    // A corrupt file for the 4th row.
    std::fs::write(sub.join(&rows[3].0), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    std::fs::write(
        root.join("test_list.txt"),
        format!("{}\n{}\n", rows[0].0, rows[2].0),
    )
    .unwrap();
    std::fs::write(root.join("train_val_list.txt"), format!("{}\n", rows[1].0)).unwrap();
    let csv = data("nih_data_entry_2017_v2020_excerpt.csv");
    let ds = datasets::nih(&csv, &root)
        .unwrap()
        .with_preprocess(Preprocess::latent_he());
    let mut it = ds.iter();
    let samples: Vec<_> = it.by_ref().collect();
    assert_eq!(samples.len(), 3);
    assert_eq!(it.skipped_count(), ds.len() - 3);
    let corrupt = &it.skipped()[0];
    assert_eq!(corrupt.item, rows[3].0);
    assert!(
        corrupt.reason.contains(&rows[3].0) && corrupt.reason.contains("decode"),
        "{corrupt}"
    );
    assert!(
        it.skipped()[1].reason.contains("cannot read file"),
        "{}",
        it.skipped()[1]
    );
    for s in &samples {
        assert_eq!((s.image.width(), s.image.height()), (256, 256));
        assert_eq!(s.labels.len(), 14);
    }
    let test = datasets::nih(&csv, &root).unwrap().with_split(Split::Test);
    assert_eq!(
        test.records()
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        [rows[0].0.as_str(), rows[2].0.as_str()]
    );
    assert_eq!(
        datasets::nih(&csv, &root)
            .unwrap()
            .with_split(Split::Train)
            .len(),
        1
    );
}

#[test]
fn chexpert_excerpt_frontal_only_positive_only_when_one() {
    let csv = data("chexpert_train_excerpt.csv");
    let ds = datasets::chexpert(&csv, "/data", ChexpertOptions::default()).unwrap();
    // Independent reading with the csv crate.
    let mut rdr = csv::Reader::from_path(&csv).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let frontal: Vec<&csv::StringRecord> = rows
        .iter()
        .filter(|r| &r[col("Frontal/Lateral")] == "Frontal")
        .collect();
    assert!(frontal.len() < rows.len(), "the excerpt has lateral views");
    assert_eq!(ds.len(), frontal.len());
    let mut uncertain_seen = 0;
    for (rec, row) in ds.records().iter().zip(&frontal) {
        assert_eq!(rec.id, &row[col("Path")]);
        assert_eq!(
            rec.path,
            std::path::Path::new("/data").join(&row[col("Path")])
        );
        for (k, o) in CHEXPERT_OBSERVATIONS.iter().enumerate() {
            let cell = &row[col(o)];
            uncertain_seen += (cell == "-1.0") as usize;
            assert_eq!(
                rec.labels[k] == 1.0,
                cell == "1.0",
                "{} {o} = {cell:?}",
                rec.id
            );
        }
    }
    assert!(
        uncertain_seen > 0,
        "the excerpt exercises the uncertain policy"
    );
    // U-Ones turns -1 into positives; lateral views kept on request.
    let ones = datasets::chexpert(
        &csv,
        "/data",
        ChexpertOptions {
            frontal_only: false,
            uncertain: UncertainPolicy::Ones,
        },
    )
    .unwrap();
    assert_eq!(ones.len(), rows.len());
    let pos_zero: usize = ds.positives().iter().sum();
    let ones_frontal: usize = ones
        .records()
        .iter()
        .filter(|r| r.id.contains("frontal"))
        .map(|r| r.labels.iter().filter(|&&v| v == 1.0).count())
        .sum();
    assert_eq!(ones_frontal, pos_zero + uncertain_seen);
    // Root given as the CheXpert folder itself: the first path component is stripped.
    let ds2 = datasets::chexpert(
        &csv,
        "/data/CheXpert-v1.0-small",
        ChexpertOptions::default(),
    )
    .unwrap();
    assert_eq!(ds2.records()[0].path, ds.records()[0].path);
}

#[test]
fn csv_with_unknown_column_names_file_and_column() {
    let dir = tempdir("unknown-col");
    let text = std::fs::read_to_string(data("chexpert_train_excerpt.csv")).unwrap();
    let mut lines = text.lines();
    let header = format!("{},Secret Column", lines.next().unwrap());
    let body: Vec<String> = lines.take(3).map(|l| format!("{l},x")).collect();
    let p = dir.join("train.csv");
    std::fs::write(&p, format!("{header}\n{}\n", body.join("\n"))).unwrap();
    match datasets::chexpert(&p, &dir, ChexpertOptions::default()) {
        Err(e @ Error::UnknownColumn { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("train.csv") && msg.contains("Secret Column"),
                "{msg}"
            );
        }
        other => panic!("expected UnknownColumn, got {other:?}"),
    }
    // NIH table without its labels column.
    let p = dir.join("Data_Entry.csv");
    std::fs::write(&p, "Image Index,Patient ID\na.png,1\n").unwrap();
    assert!(
        matches!(datasets::nih(&p, &dir), Err(Error::MissingColumn { ref column, .. }) if column == "Finding Labels")
    );
    // Missing label table.
    assert!(matches!(
        datasets::nih(dir.join("none.csv"), &dir),
        Err(Error::Io { .. })
    ));
}

#[test]
fn bad_rows_are_skipped_counted_and_reported() {
    let dir = tempdir("bad-rows");
    let p = dir.join("Data_Entry_2017.csv");
    std::fs::write(
        &p,
        "Image Index,Finding Labels,Patient ID\n\
         a.png,Mass|Nodule,1\n\
         b.png,Martian Lung,2\n\
         ,Mass,3\n\
         c.png,No Finding,4\n",
    )
    .unwrap();
    let ds = datasets::nih(&p, &dir).unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds.parse_skipped().len(), 2);
    assert!(ds.parse_skipped()[0].reason.contains("Martian Lung"));
    assert!(ds.parse_skipped()[0].item.ends_with(":3"));
    assert_eq!(ds.records()[0].labels[4..6], [1.0, 1.0]);
    // CheXpert: a label cell that is not 1/0/-1/blank.
    let text = std::fs::read_to_string(data("chexpert_train_excerpt.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().take(6).map(str::to_string).collect();
    let fields: Vec<&str> = lines[1].split(',').collect();
    let mut broken: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
    broken[3] = "Frontal".into();
    broken[7] = "maybe".into();
    lines[1] = broken.join(",");
    let p = dir.join("valid.csv");
    std::fs::write(&p, lines.join("\n")).unwrap();
    let ds = datasets::chexpert(
        &p,
        &dir,
        ChexpertOptions {
            frontal_only: false,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ds.len(), 4);
    assert_eq!(ds.parse_skipped().len(), 1);
    assert!(
        ds.parse_skipped()[0].reason.contains("maybe"),
        "{}",
        ds.parse_skipped()[0]
    );
}

#[test]
fn medmnist_npz_matches_numpy() {
    let e = expected();
    let m = MedMnist::open(data("formats/chestmnist_tiny.npz"), Split::Test).unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m.shape, (28, 28));
    assert_eq!(m.class_names(), NIH_FINDINGS.map(String::from).as_slice());
    let imgs = floats(&e["chestmnist_tiny.npz"]["test_images"]);
    let labs = floats(&e["chestmnist_tiny.npz"]["test_labels"]);
    let samples: Vec<_> = m.iter().collect();
    assert_eq!(samples.len(), 3);
    for (i, s) in samples.iter().enumerate() {
        assert_eq!(s.id, format!("test/{i}"));
        for (j, &v) in s.image.data().iter().enumerate() {
            assert_eq!(v, (imgs[i * 784 + j] / 255.0) as f32);
        }
        let want: Vec<f32> = labs[i * 14..(i + 1) * 14]
            .iter()
            .map(|&v| v as f32)
            .collect();
        assert_eq!(s.labels, want);
    }
    // PneumoniaMNIST: one binary label, stored uncompressed.
    let p = MedMnist::open(data("formats/pneumoniamnist_tiny.npz"), Split::Train).unwrap();
    assert_eq!(p.class_names(), ["pneumonia".to_string()]);
    let want = floats(&e["pneumoniamnist_tiny.npz"]["train_labels"]);
    let got: Vec<f64> = p.iter().map(|s| s.labels[0] as f64).collect();
    assert_eq!(got, want);
    // Any size, with upscaling.
    let up = p.with_preprocess(Preprocess::square(64).with_upscale());
    assert_eq!(up.get(0).unwrap().image.width(), 64);
    assert!(up.get(99).is_err());
}

#[test]
fn medmnist_bad_archives_name_the_file() {
    let p = data("formats/truncated.png");
    let err = MedMnist::open(&p, Split::Train).unwrap_err();
    assert!(
        matches!(err, Error::Npz { .. }) && err.to_string().contains("truncated.png"),
        "{err}"
    );
    // A valid archive without the requested arrays.
    let dir = tempdir("npz");
    let q = dir.join("empty.npz");
    {
        let f = std::fs::File::create(&q).unwrap();
        let mut z = zip::ZipWriter::new(f);
        z.start_file(
            "other.npy",
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
        z.finish().unwrap();
    }
    let err = MedMnist::open(&q, Split::Val).unwrap_err();
    assert!(
        err.to_string().contains("val_images") && err.to_string().contains("empty.npz"),
        "{err}"
    );
}

#[test]
fn folder_layout_one_hot_and_skips_unreadable_files() {
    let root = tempdir("folder");
    for (class, n) in [("normal", 2), ("pneumonia", 3)] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..n {
            let img = GrayImage::filled(20, 20, i as f32 / 4.0).unwrap();
            save_png(
                &img,
                root.join(class).join(format!("{i}.png")),
                PngDepth::Eight,
            )
            .unwrap();
        }
    }
    std::fs::write(root.join("pneumonia/broken.png"), b"garbage").unwrap();
    std::fs::write(root.join("pneumonia/notes.txt"), b"not an image").unwrap();
    let ds = datasets::folder(&root).unwrap();
    assert_eq!(
        ds.class_names(),
        ["normal".to_string(), "pneumonia".to_string()]
    );
    assert_eq!(ds.len(), 6);
    let mut it = ds.iter();
    let got: Vec<_> = it.by_ref().collect();
    assert_eq!(got.len(), 5);
    assert_eq!(it.skipped_count(), 1);
    assert!(it.skipped()[0].reason.contains("broken.png"));
    assert_eq!(got[0].labels, [1.0, 0.0]);
    assert_eq!(got[4].labels, [0.0, 1.0]);
    assert!(matches!(
        datasets::folder(tempdir("empty-folder")),
        Err(Error::EmptyDataset { .. })
    ));
}

#[test]
fn embedded_real_samples_read_as_a_folder_csv() {
    let csv = repo("data/samples/labels.csv");
    let ds = datasets::folder_csv(&csv, repo("data/samples"), None)
        .unwrap()
        .with_preprocess(Preprocess::latent_he());
    assert_eq!(
        ds.class_names(),
        ["normal".to_string(), "pneumonia".to_string()]
    );
    let mut it = ds.iter();
    let samples: Vec<_> = it.by_ref().collect();
    assert_eq!(samples.len(), 16);
    assert_eq!(it.skipped_count(), 0);
    assert_eq!(samples.iter().filter(|s| s.labels == [0.0, 1.0]).count(), 8);
    for s in &samples {
        assert_eq!((s.image.width(), s.image.height()), (256, 256));
        let (lo, hi) = s.image.min_max();
        assert!(
            lo >= -1.0 && hi <= 1.0 && hi - lo > 1.0,
            "{}: real X-ray has contrast",
            s.id
        );
        assert_eq!(s.labels[1] == 1.0, s.id.contains("bacteria"));
    }
    // The same through the convenience reader.
    let real = datasets::real_samples(datasets::embedded_samples_dir()).unwrap();
    assert_eq!(real.len(), 16);
    assert!(real.name.contains("Kermany"));
    // Explicit 0/1 columns.
    let ds = datasets::folder_csv(&csv, repo("data/samples"), Some(&["pneumonia"])).unwrap();
    assert_eq!(ds.positives(), [8]);
    let err = datasets::folder_csv(&csv, repo("data/samples"), Some(&["nope"])).unwrap_err();
    assert!(matches!(err, Error::UnknownColumn { .. }) && err.to_string().contains("labels.csv"));
}

#[test]
fn every_source_is_an_image_dataset() {
    use med_data::datasets::ImageDataset;
    use med_data::phantom::{PhantomGenerator, PhantomSet};
    let real = datasets::real_samples(datasets::embedded_samples_dir()).unwrap();
    let mnist = MedMnist::open(data("formats/chestmnist_tiny.npz"), Split::Train).unwrap();
    let phantoms = PhantomSet {
        generator: PhantomGenerator::new(1),
        start: 100,
        count: 3,
    };
    let sets: [&dyn ImageDataset; 3] = [&real, &mnist, &phantoms];
    let lens: Vec<usize> = sets.iter().map(|d| d.len()).collect();
    assert_eq!(lens, [16, 6, 3]);
    for d in sets {
        let s = d.sample(d.len() - 1).unwrap();
        assert_eq!(s.labels.len(), d.class_names().len(), "{}", d.name());
        assert!(d.sample(d.len()).is_err());
    }
    assert!(phantoms.name().contains("SYNTHETIC"));
    assert_eq!(
        phantoms.sample(0).unwrap().id,
        "synthetic-phantom-s1-000100"
    );
}
