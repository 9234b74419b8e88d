//! Dataset readers: CheXpert, NIH ChestX-ray14, MedMNIST `.npz`, plain folders.
//!
//! Every reader first parses its label table into [`Record`]s (rows it cannot
//! parse are skipped and listed in [`RecordDataset::parse_skipped`]); iterating
//! then loads each image lazily. An image that cannot be read is reported in
//! [`SampleIter::skipped`], counted, and skipped: the iteration goes on.
//!
//! Label policies (label vectors are `f32` 0/1, in the order of
//! [`RecordDataset::class_names`]):
//!
//! * **CheXpert** (`train.csv` / `valid.csv`): frontal views only (rows whose
//!   `Frontal/Lateral` is `Lateral` are left out), the 14 observation columns in file
//!   order ([`CHEXPERT_OBSERVATIONS`]); an observation is positive only when its cell
//!   is `1` (`1.0`); `0`, `-1` (uncertain) and blank are 0. [`UncertainPolicy::Ones`]
//!   turns `-1` into 1 instead (the "U-Ones" policy).
//! * **NIH ChestX-ray14** (`Data_Entry_2017*.csv`): the 14 findings of
//!   [`NIH_FINDINGS`] from the `Finding Labels` column; `No Finding` is the all-zero
//!   vector. When `train_val_list.txt` / `test_list.txt` sit next to the CSV or in the
//!   image root, each record gets its official split.
//! * **MedMNIST** (`.npz`): `{split}_images` (N,H,W) or (N,H,W,3) `uint8` and
//!   `{split}_labels` (N,L). L > 1 (ChestMNIST: 14) is taken as multi-label 0/1; L = 1
//!   with values 0/1 (PneumoniaMNIST) as one binary label; L = 1 with larger values as
//!   a class index, one-hot encoded.
//! * **Folder**: `root/<class>/<file>` with one-hot labels over the sorted class
//!   folder names; or a CSV whose first column is the file and whose `label` column
//!   holds a class name (several joined by `|` for multi-label), or whose other
//!   columns are 0/1 label columns.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::image::{GrayImage, Preprocess};
use crate::io::load_image;
use crate::labels::{parse_nih_labels, CHEXPERT_OBSERVATIONS, NIH_FINDINGS};

/// One loaded example.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Identifier (file name, CSV path, or `split/index` for arrays).
    pub id: String,
    /// The image, preprocessed when the dataset has a [`Preprocess`] set.
    pub image: GrayImage,
    /// 0/1 label vector in the dataset's class order.
    pub labels: Vec<f32>,
}

/// Dataset split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Split {
    /// Training data.
    Train,
    /// Validation data.
    Val,
    /// Test data.
    Test,
}

impl Split {
    /// The MedMNIST array-name prefix (`train`, `val`, `test`).
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

/// One row of a label table: where the image is and what it shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Identifier as written in the table.
    pub id: String,
    /// Resolved image path (may not exist; then iteration skips it).
    pub path: PathBuf,
    /// 0/1 label vector.
    pub labels: Vec<f32>,
    /// Official split, when known.
    pub split: Option<Split>,
    /// Patient identifier, when the table has one.
    pub patient: Option<String>,
    /// View (`PA`, `AP`, `Frontal`, ...), when the table has one.
    pub view: Option<String>,
}

/// Random access to labelled images, whatever their source: a label table with image
/// files ([`RecordDataset`]), arrays in memory ([`MedMnist`]) or generated phantoms
/// ([`crate::phantom::PhantomSet`]). Training and evaluation code can take
/// `&dyn ImageDataset` and run on any of them.
pub trait ImageDataset {
    /// A human-readable name (synthetic sets say so).
    fn name(&self) -> String;
    /// Label names, in label-vector order.
    fn class_names(&self) -> Vec<String>;
    /// Number of items.
    fn len(&self) -> usize;
    /// Whether there are no items.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Item `index`, loaded (and preprocessed, when the set has a [`Preprocess`]).
    fn sample(&self, index: usize) -> Result<Sample>;
}

/// An item that was skipped, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// Row number (1-based, header = 1) or identifier of the item.
    pub item: String,
    /// The file concerned, if any.
    pub path: Option<PathBuf>,
    /// Why it was skipped.
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "skipped {}: {}", self.item, self.reason)
    }
}

/// A dataset described by a label table: records plus a lazy image loader.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordDataset {
    /// Dataset name (`CheXpert`, `NIH ChestX-ray14`, `folder`).
    pub name: String,
    class_names: Vec<String>,
    records: Vec<Record>,
    parse_skipped: Vec<Skipped>,
    /// Applied to every loaded image, when set.
    pub preprocess: Option<Preprocess>,
}

impl RecordDataset {
    /// Label names, in label-vector order.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The parsed rows.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Rows of the label table that could not be parsed.
    pub fn parse_skipped(&self) -> &[Skipped] {
        &self.parse_skipped
    }

    /// Keep only the records of `split` (records without a split are dropped).
    pub fn with_split(mut self, split: Split) -> Self {
        self.records.retain(|r| r.split == Some(split));
        self
    }

    /// Set the preprocessing applied to every image.
    pub fn with_preprocess(mut self, pre: Preprocess) -> Self {
        self.preprocess = Some(pre);
        self
    }

    /// Per-class number of positive records.
    pub fn positives(&self) -> Vec<usize> {
        let mut out = vec![0; self.class_names.len()];
        for r in &self.records {
            for (o, &l) in out.iter_mut().zip(&r.labels) {
                if l > 0.5 {
                    *o += 1;
                }
            }
        }
        out
    }

    /// Load one record's image.
    pub fn load(&self, record: &Record) -> Result<Sample> {
        let img = load_image(&record.path)?;
        let image = match &self.preprocess {
            Some(p) => p.apply(&img).map_err(|e| e.with_path(&record.path))?,
            None => img,
        };
        Ok(Sample {
            id: record.id.clone(),
            image,
            labels: record.labels.clone(),
        })
    }

    /// Iterate over the loadable samples; unreadable ones are skipped and counted.
    pub fn iter(&self) -> SampleIter<'_> {
        SampleIter {
            dataset: self,
            pos: 0,
            skipped: Vec::new(),
        }
    }
}

impl ImageDataset for RecordDataset {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn class_names(&self) -> Vec<String> {
        self.class_names.clone()
    }

    fn len(&self) -> usize {
        self.records.len()
    }

    fn sample(&self, index: usize) -> Result<Sample> {
        let rec = self.records.get(index).ok_or_else(|| {
            Error::InvalidArgument(format!("index {index} past {} records", self.records.len()))
        })?;
        self.load(rec)
    }
}

impl ImageDataset for MedMnist {
    fn name(&self) -> String {
        format!("MedMNIST {} split", self.split.as_str())
    }

    fn class_names(&self) -> Vec<String> {
        self.class_names.clone()
    }

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn sample(&self, index: usize) -> Result<Sample> {
        self.get(index)
    }
}

/// Iterator over a [`RecordDataset`]'s samples. Items that fail to load are not
/// yielded; they are collected in [`SampleIter::skipped`].
#[derive(Debug)]
pub struct SampleIter<'a> {
    dataset: &'a RecordDataset,
    pos: usize,
    skipped: Vec<Skipped>,
}

impl SampleIter<'_> {
    /// Items skipped so far, with the reason.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Number of items skipped so far.
    pub fn skipped_count(&self) -> usize {
        self.skipped.len()
    }
}

impl Iterator for SampleIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        while let Some(rec) = self.dataset.records.get(self.pos) {
            self.pos += 1;
            match self.dataset.load(rec) {
                Ok(s) => return Some(s),
                Err(e) => self.skipped.push(Skipped {
                    item: rec.id.clone(),
                    path: Some(rec.path.clone()),
                    reason: e.to_string(),
                }),
            }
        }
        None
    }
}

/// A CSV file opened with its header.
struct Table {
    path: PathBuf,
    headers: Vec<String>,
    reader: csv::Reader<std::fs::File>,
}

impl Table {
    fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
        let headers = reader
            .headers()
            .map_err(|e| Error::Csv {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            headers,
            reader,
        })
    }

    fn col(&self, name: &str) -> Result<usize> {
        self.headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| Error::MissingColumn {
                path: self.path.clone(),
                column: name.into(),
            })
    }

    fn opt_col(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// Fail on a non-empty column name outside `known`.
    fn check_known(&self, known: &[&str]) -> Result<()> {
        for h in &self.headers {
            if !h.is_empty() && !known.contains(&h.as_str()) {
                return Err(Error::UnknownColumn {
                    path: self.path.clone(),
                    column: h.clone(),
                    expected: known.join(", "),
                });
            }
        }
        Ok(())
    }

    /// Visit each data row; rows the CSV parser rejects are reported to `skip`.
    fn rows(
        &mut self,
        mut f: impl FnMut(usize, &csv::StringRecord) -> std::result::Result<Option<Record>, String>,
    ) -> (Vec<Record>, Vec<Skipped>) {
        let mut records = Vec::new();
        let mut skipped = Vec::new();
        for (i, rec) in self.reader.records().enumerate() {
            let row = i + 2;
            let outcome = rec.map_err(|e| e.to_string()).and_then(|r| f(row, &r));
            match outcome {
                Ok(Some(r)) => records.push(r),
                Ok(None) => {}
                Err(reason) => skipped.push(Skipped {
                    item: format!("{}:{row}", self.path.display()),
                    path: Some(self.path.clone()),
                    reason,
                }),
            }
        }
        (records, skipped)
    }
}

fn cell<'r>(
    rec: &'r csv::StringRecord,
    i: usize,
    name: &str,
) -> std::result::Result<&'r str, String> {
    rec.get(i)
        .map(str::trim)
        .ok_or_else(|| format!("row has no {name:?} field"))
}

/// How CheXpert's uncertain (`-1`) labels are treated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UncertainPolicy {
    /// Uncertain is negative (positive only when the cell is 1).
    #[default]
    Zeros,
    /// Uncertain is positive.
    Ones,
}

/// Options of [`chexpert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChexpertOptions {
    /// Keep frontal views only (default true).
    pub frontal_only: bool,
    /// Uncertain-label policy (default [`UncertainPolicy::Zeros`]).
    pub uncertain: UncertainPolicy,
}

impl Default for ChexpertOptions {
    fn default() -> Self {
        Self {
            frontal_only: true,
            uncertain: UncertainPolicy::Zeros,
        }
    }
}

const CHEXPERT_META: [&str; 5] = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA"];

/// Read a CheXpert `train.csv` / `valid.csv`.
///
/// `image_root` is the folder that holds the `CheXpert-v1.0*` directory (the
/// `Path` column starts with it); pointing it at the `CheXpert-v1.0*` directory
/// itself also works.
pub fn chexpert(
    csv_path: impl AsRef<Path>,
    image_root: impl AsRef<Path>,
    opts: ChexpertOptions,
) -> Result<RecordDataset> {
    let csv_path = csv_path.as_ref();
    let root = image_root.as_ref();
    let mut t = Table::open(csv_path)?;
    let known: Vec<&str> = CHEXPERT_META
        .iter()
        .chain(CHEXPERT_OBSERVATIONS.iter())
        .copied()
        .collect();
    t.check_known(&known)?;
    let path_col = t.col("Path")?;
    let fl_col = t.opt_col("Frontal/Lateral");
    let ap_col = t.opt_col("AP/PA");
    let obs_cols: Vec<usize> = CHEXPERT_OBSERVATIONS
        .iter()
        .map(|o| t.col(o))
        .collect::<Result<_>>()?;
    let root_name = root
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string);
    let (records, skipped) = t.rows(|row, rec| {
        let rel = cell(rec, path_col, "Path")?;
        if rel.is_empty() {
            return Err(format!("row {row}: empty Path"));
        }
        let frontal = match fl_col {
            Some(c) => cell(rec, c, "Frontal/Lateral")?.to_string(),
            None if rel.contains("frontal") => "Frontal".into(),
            None => "Lateral".into(),
        };
        if opts.frontal_only && frontal != "Frontal" {
            return Ok(None);
        }
        let mut labels = Vec::with_capacity(14);
        for (&c, name) in obs_cols.iter().zip(CHEXPERT_OBSERVATIONS) {
            let v = cell(rec, c, name)?;
            let y = match v {
                "" => 0.0,
                _ => match v.parse::<f32>() {
                    Ok(1.0) => 1.0,
                    Ok(0.0) => 0.0,
                    Ok(-1.0) => match opts.uncertain {
                        UncertainPolicy::Zeros => 0.0,
                        UncertainPolicy::Ones => 1.0,
                    },
                    _ => {
                        return Err(format!(
                            "row {row}: {name} has value {v:?}, expected 1, 0, -1 or blank"
                        ))
                    }
                },
            };
            labels.push(y);
        }
        // `CheXpert-v1.0-small/train/patient00001/...`: strip the dataset folder
        // when the root is that folder itself.
        let path = match (rel.split_once('/'), &root_name) {
            (Some((first, rest)), Some(name)) if first == name => root.join(rest),
            _ => root.join(rel),
        };
        let patient = rel
            .split('/')
            .find(|p| p.starts_with("patient"))
            .map(str::to_string);
        let view = match ap_col {
            Some(c) => Some(cell(rec, c, "AP/PA")?.to_string()).filter(|s| !s.is_empty()),
            None => Some(frontal),
        };
        Ok(Some(Record {
            id: rel.to_string(),
            path,
            labels,
            split: None,
            patient,
            view,
        }))
    });
    Ok(RecordDataset {
        name: "CheXpert".into(),
        class_names: CHEXPERT_OBSERVATIONS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        records,
        parse_skipped: skipped,
        preprocess: None,
    })
}

const NIH_COLUMNS: [&str; 12] = [
    "Image Index",
    "Finding Labels",
    "Follow-up #",
    "Patient ID",
    "Patient Age",
    "Patient Gender",
    "View Position",
    "OriginalImage[Width",
    "Height]",
    "OriginalImagePixelSpacing[x",
    "y]",
    "Unnamed: 11",
];

/// Read an NIH ChestX-ray14 `Data_Entry_2017*.csv`.
///
/// Images are looked up by file name anywhere under `image_root` (up to three
/// folder levels, so both `images/` and the `images_001/images/ ...` layout work).
/// When `train_val_list.txt` and/or `test_list.txt` exist next to the CSV or in
/// `image_root`, records get [`Split::Train`] / [`Split::Test`].
pub fn nih(csv_path: impl AsRef<Path>, image_root: impl AsRef<Path>) -> Result<RecordDataset> {
    let csv_path = csv_path.as_ref();
    let root = image_root.as_ref();
    let mut t = Table::open(csv_path)?;
    t.check_known(&NIH_COLUMNS)?;
    let idx_col = t.col("Image Index")?;
    let lab_col = t.col("Finding Labels")?;
    let pid_col = t.opt_col("Patient ID");
    let view_col = t.opt_col("View Position");
    let index = index_files(root, 3);
    let mut split_of: HashMap<String, Split> = HashMap::new();
    let dirs: Vec<PathBuf> = [
        csv_path.parent().map(Path::to_path_buf),
        Some(root.to_path_buf()),
    ]
    .into_iter()
    .flatten()
    .collect();
    for (file, split) in [
        ("train_val_list.txt", Split::Train),
        ("test_list.txt", Split::Test),
    ] {
        if let Some(p) = dirs.iter().map(|d| d.join(file)).find(|p| p.is_file()) {
            let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                split_of.insert(line.to_string(), split);
            }
        }
    }
    let (records, skipped) = t.rows(|row, rec| {
        let name = cell(rec, idx_col, "Image Index")?;
        if name.is_empty() {
            return Err(format!("row {row}: empty Image Index"));
        }
        let flags = parse_nih_labels(cell(rec, lab_col, "Finding Labels")?)
            .map_err(|f| format!("row {row}: unknown finding {f:?}"))?;
        let path = index.get(name).cloned().unwrap_or_else(|| root.join(name));
        Ok(Some(Record {
            id: name.to_string(),
            path,
            labels: flags.iter().map(|&b| b as u8 as f32).collect(),
            split: split_of.get(name).copied(),
            patient: pid_col
                .and_then(|c| rec.get(c))
                .map(|s| s.trim().to_string()),
            view: view_col
                .and_then(|c| rec.get(c))
                .map(|s| s.trim().to_string()),
        }))
    });
    Ok(RecordDataset {
        name: "NIH ChestX-ray14".into(),
        class_names: NIH_FINDINGS.iter().map(|s| s.to_string()).collect(),
        records,
        parse_skipped: skipped,
        preprocess: None,
    })
}

/// Map file name -> path for files under `root`, `depth` folder levels deep.
fn index_files(root: &Path, depth: usize) -> HashMap<String, PathBuf> {
    let mut out = HashMap::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, d)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if d < depth {
                    stack.push((p, d + 1));
                }
            } else if let Some(n) = p.file_name().and_then(|n| n.to_str()) {
                out.entry(n.to_string()).or_insert(p);
            }
        }
    }
    out
}

fn is_image_file(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref(),
        Some("png" | "jpg" | "jpeg" | "dcm" | "dicom")
    )
}

/// Read `root/<class>/<file>`: one-hot labels over the sorted class folder names.
pub fn folder(root: impl AsRef<Path>) -> Result<RecordDataset> {
    let root = root.as_ref();
    let entries = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
    let mut classes: Vec<(String, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter_map(|p| Some((p.file_name()?.to_str()?.to_string(), p)))
        .collect();
    classes.sort();
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    let n = classes.len();
    for (ci, (class, dir)) in classes.iter().enumerate() {
        let files = match std::fs::read_dir(dir) {
            Ok(f) => f,
            Err(e) => {
                skipped.push(Skipped {
                    item: class.clone(),
                    path: Some(dir.clone()),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let mut paths: Vec<PathBuf> = files
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && is_image_file(p))
            .collect();
        paths.sort();
        for p in paths {
            let mut labels = vec![0.0; n];
            labels[ci] = 1.0;
            let name = p.file_name().and_then(|s| s.to_str()).unwrap_or_default();
            records.push(Record {
                id: format!("{class}/{name}"),
                path: p.clone(),
                labels,
                split: None,
                patient: None,
                view: None,
            });
        }
    }
    if records.is_empty() {
        return Err(Error::EmptyDataset {
            path: root.to_path_buf(),
            detail: "no class folder with PNG, JPEG or DICOM files".into(),
        });
    }
    Ok(RecordDataset {
        name: "folder".into(),
        class_names: classes.into_iter().map(|(c, _)| c).collect(),
        records,
        parse_skipped: skipped,
        preprocess: None,
    })
}

/// Read a CSV of `file,label...` with images relative to `image_root`.
///
/// The file column is the first one named `file`, `path`, `filename` or
/// `image` (else the first column). With `label_columns = None`: a `label`
/// column (class names, `|` for several) gives one-hot / multi-hot labels over the
/// sorted distinct names; without one, every other column is a 0/1 label column.
/// With `label_columns = Some(..)`, exactly those columns are 0/1 label columns;
/// a name that is not in the header is [`Error::UnknownColumn`].
pub fn folder_csv(
    csv_path: impl AsRef<Path>,
    image_root: impl AsRef<Path>,
    label_columns: Option<&[&str]>,
) -> Result<RecordDataset> {
    let csv_path = csv_path.as_ref();
    let root = image_root.as_ref();
    let mut t = Table::open(csv_path)?;
    let file_col = ["file", "path", "filename", "image"]
        .iter()
        .find_map(|n| t.opt_col(n))
        .unwrap_or(0);
    enum Mode {
        Names(usize),
        Columns(Vec<usize>),
    }
    let mode = match label_columns {
        Some(cols) => Mode::Columns(
            cols.iter()
                .map(|c| {
                    t.opt_col(c).ok_or_else(|| Error::UnknownColumn {
                        path: csv_path.to_path_buf(),
                        column: c.to_string(),
                        expected: t.headers.join(", "),
                    })
                })
                .collect::<Result<_>>()?,
        ),
        None => match t.opt_col("label") {
            Some(c) => Mode::Names(c),
            None => Mode::Columns((0..t.headers.len()).filter(|&c| c != file_col).collect()),
        },
    };
    let headers = t.headers.clone();
    let mut raw: Vec<(String, Vec<String>)> = Vec::new();
    let (_, mut skipped) = t.rows(|row, rec| {
        let file = cell(rec, file_col, "file")?;
        if file.is_empty() {
            return Err(format!("row {row}: empty file name"));
        }
        let vals = match &mode {
            Mode::Names(c) => vec![cell(rec, *c, "label")?.to_string()],
            Mode::Columns(cs) => cs
                .iter()
                .map(|&c| cell(rec, c, &headers[c]).map(str::to_string))
                .collect::<std::result::Result<_, _>>()?,
        };
        raw.push((file.to_string(), vals));
        Ok(None)
    });
    let (class_names, records) = match &mode {
        Mode::Names(_) => {
            let names: BTreeSet<String> = raw
                .iter()
                .flat_map(|(_, v)| v[0].split('|').map(|s| s.trim().to_string()))
                .filter(|s| !s.is_empty())
                .collect();
            let names: Vec<String> = names.into_iter().collect();
            let recs = raw
                .into_iter()
                .map(|(file, v)| {
                    let mut labels = vec![0.0; names.len()];
                    for part in v[0].split('|').map(str::trim) {
                        if let Some(i) = names.iter().position(|n| n == part) {
                            labels[i] = 1.0;
                        }
                    }
                    Record {
                        path: root.join(&file),
                        id: file,
                        labels,
                        split: None,
                        patient: None,
                        view: None,
                    }
                })
                .collect();
            (names, recs)
        }
        Mode::Columns(cs) => {
            let names: Vec<String> = cs.iter().map(|&c| headers[c].clone()).collect();
            let mut recs = Vec::new();
            for (i, (file, v)) in raw.into_iter().enumerate() {
                let parsed: std::result::Result<Vec<f32>, String> = v
                    .iter()
                    .zip(&names)
                    .map(|(s, n)| match s.parse::<f32>() {
                        Ok(x) if x == 0.0 || x == 1.0 => Ok(x),
                        _ => Err(format!("{file}: column {n:?} has {s:?}, expected 0 or 1")),
                    })
                    .collect();
                match parsed {
                    Ok(labels) => recs.push(Record {
                        path: root.join(&file),
                        id: file,
                        labels,
                        split: None,
                        patient: None,
                        view: None,
                    }),
                    Err(reason) => skipped.push(Skipped {
                        item: format!("{}:{}", csv_path.display(), i + 2),
                        path: Some(csv_path.to_path_buf()),
                        reason,
                    }),
                }
            }
            (names, recs)
        }
    };
    Ok(RecordDataset {
        name: "folder".into(),
        class_names,
        records,
        parse_skipped: skipped,
        preprocess: None,
    })
}

/// The folder of the 16 real chest X-rays shipped with this source tree
/// (`data/samples/` at the workspace root; see `data/README.md`). The path is fixed at
/// compile time, so it is valid in the checkout the crate was built from.
pub fn embedded_samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/samples")
}

/// Read the real pediatric chest X-ray samples (Kermany et al. 2018, CC BY 4.0) from
/// `dir` (for example [`embedded_samples_dir`]): classes `normal` and `pneumonia`,
/// one-hot labels, 256x256 8-bit PNGs listed in `dir/labels.csv`.
pub fn real_samples(dir: impl AsRef<Path>) -> Result<RecordDataset> {
    let dir = dir.as_ref();
    let mut ds = folder_csv(dir.join("labels.csv"), dir, None)?;
    ds.name = "pediatric chest X-ray samples (Kermany et al. 2018, CC BY 4.0)".into();
    Ok(ds)
}

/// A MedMNIST split held in memory (`.npz` arrays).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MedMnist {
    /// Which split was read.
    pub split: Split,
    /// Image side lengths (height, width).
    pub shape: (u32, u32),
    images: Vec<u8>,
    labels: Vec<Vec<f32>>,
    class_names: Vec<String>,
    /// Applied to every image, when set (use [`Preprocess::with_upscale`] for 28x28).
    pub preprocess: Option<Preprocess>,
}

struct NpyArray {
    shape: Vec<u64>,
    data: Vec<i64>,
}

fn read_npy(zip: &mut zip::ZipArchive<std::fs::File>, path: &Path, name: &str) -> Result<NpyArray> {
    let npz_err = |detail: String| Error::Npz {
        path: path.to_path_buf(),
        detail,
    };
    let mut entry = zip
        .by_name(&format!("{name}.npy"))
        .map_err(|e| npz_err(format!("array {name:?}: {e}")))?;
    let mut bytes = Vec::with_capacity(entry.size().min(1 << 30) as usize);
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| npz_err(format!("array {name:?}: {e}")))?;
    let npy =
        npyz::NpyFile::new(&bytes[..]).map_err(|e| npz_err(format!("array {name:?}: {e}")))?;
    let shape = npy.shape().to_vec();
    let dtype = npy.dtype();
    let type_err = || {
        npz_err(format!(
            "array {name:?} has dtype {dtype:?}, expected an integer type"
        ))
    };
    let data: Vec<i64> = match &dtype {
        npyz::DType::Plain(ts) => match (ts.type_char(), ts.size_field()) {
            (npyz::TypeChar::Uint, 1) => npy
                .into_vec::<u8>()
                .map(|v| v.into_iter().map(i64::from).collect()),
            (npyz::TypeChar::Uint, 2) => npy
                .into_vec::<u16>()
                .map(|v| v.into_iter().map(i64::from).collect()),
            (npyz::TypeChar::Int, 1) => npy
                .into_vec::<i8>()
                .map(|v| v.into_iter().map(i64::from).collect()),
            (npyz::TypeChar::Int, 2) => npy
                .into_vec::<i16>()
                .map(|v| v.into_iter().map(i64::from).collect()),
            (npyz::TypeChar::Int, 4) => npy
                .into_vec::<i32>()
                .map(|v| v.into_iter().map(i64::from).collect()),
            (npyz::TypeChar::Int, 8) => npy.into_vec::<i64>(),
            _ => return Err(type_err()),
        }
        .map_err(|e| npz_err(format!("array {name:?}: {e}")))?,
        _ => return Err(type_err()),
    };
    let n = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| npz_err(format!("array {name:?}: shape {shape:?} overflows")))?;
    if data.len() as u64 != n {
        return Err(npz_err(format!(
            "array {name:?}: shape {shape:?} but {} values",
            data.len()
        )));
    }
    Ok(NpyArray { shape, data })
}

impl MedMnist {
    /// Read `{split}_images` and `{split}_labels` from a MedMNIST `.npz` file.
    /// Class names default to the NIH findings for 14-label sets, `["pneumonia"]`
    /// for one binary label, and `class_<i>` otherwise.
    pub fn open(npz_path: impl AsRef<Path>, split: Split) -> Result<Self> {
        let path = npz_path.as_ref();
        let npz_err = |detail: String| Error::Npz {
            path: path.to_path_buf(),
            detail,
        };
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| npz_err(e.to_string()))?;
        let imgs = read_npy(&mut zip, path, &format!("{}_images", split.as_str()))?;
        let labs = read_npy(&mut zip, path, &format!("{}_labels", split.as_str()))?;
        let (n, h, w, c) = match imgs.shape[..] {
            [n, h, w] => (n, h, w, 1),
            [n, h, w, c] if c == 1 || c == 3 => (n, h, w, c),
            _ => {
                return Err(npz_err(format!(
                    "images have shape {:?}, expected (N,H,W) or (N,H,W,3)",
                    imgs.shape
                )))
            }
        };
        if h == 0 || w == 0 || h > 1 << 16 || w > 1 << 16 {
            return Err(npz_err(format!("images of {w}x{h}")));
        }
        let l = match labs.shape[..] {
            [m] if m == n => 1,
            [m, l] if m == n && l > 0 => l,
            _ => {
                return Err(npz_err(format!(
                    "labels have shape {:?}, expected ({n},L)",
                    labs.shape
                )))
            }
        } as usize;
        if imgs.data.iter().any(|&v| !(0..=255).contains(&v)) {
            return Err(npz_err("image values outside 0..=255".into()));
        }
        let images: Vec<u8> = if c == 3 {
            imgs.data
                .chunks_exact(3)
                .map(|p| {
                    (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32).round() as u8
                })
                .collect()
        } else {
            imgs.data.iter().map(|&v| v as u8).collect()
        };
        let max_label = labs.data.iter().copied().max().unwrap_or(0);
        if labs.data.iter().any(|&v| v < 0) {
            return Err(npz_err("negative label".into()));
        }
        let (labels, class_names): (Vec<Vec<f32>>, Vec<String>) = if l > 1 || max_label <= 1 {
            if max_label > 1 {
                return Err(npz_err(format!(
                    "multi-label array with value {max_label}, expected 0/1"
                )));
            }
            let names = if l == 14 {
                NIH_FINDINGS.iter().map(|s| s.to_string()).collect()
            } else if l == 1 {
                vec!["pneumonia".to_string()]
            } else {
                (0..l).map(|i| format!("class_{i}")).collect()
            };
            (
                labs.data
                    .chunks_exact(l)
                    .map(|r| r.iter().map(|&v| v as f32).collect())
                    .collect(),
                names,
            )
        } else {
            let k = max_label as usize + 1;
            let onehot = labs
                .data
                .iter()
                .map(|&v| {
                    let mut o = vec![0.0; k];
                    o[v as usize] = 1.0;
                    o
                })
                .collect();
            (onehot, (0..k).map(|i| format!("class_{i}")).collect())
        };
        Ok(Self {
            split,
            shape: (h as u32, w as u32),
            images,
            labels,
            class_names,
            preprocess: None,
        })
    }

    /// Replace the class names (must match the label width).
    pub fn with_class_names(mut self, names: Vec<String>) -> Result<Self> {
        if names.len() != self.class_names.len() {
            return Err(Error::InvalidArgument(format!(
                "{} class names for {} labels",
                names.len(),
                self.class_names.len()
            )));
        }
        self.class_names = names;
        Ok(self)
    }

    /// Set the preprocessing applied to every image.
    pub fn with_preprocess(mut self, pre: Preprocess) -> Self {
        self.preprocess = Some(pre);
        self
    }

    /// Label names.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Sample `i` (`[0, 1]` intensities `v / 255`, then the preprocessing if set).
    pub fn get(&self, i: usize) -> Result<Sample> {
        let (h, w) = self.shape;
        let labels = self
            .labels
            .get(i)
            .ok_or_else(|| {
                Error::InvalidArgument(format!("index {i} past {} samples", self.len()))
            })?
            .clone();
        let px = h as usize * w as usize;
        let data = self.images[i * px..(i + 1) * px]
            .iter()
            .map(|&v| v as f32 / 255.0)
            .collect();
        let img = GrayImage::new(w, h, data)?;
        let image = match &self.preprocess {
            Some(p) => p.apply(&img)?,
            None => img,
        };
        Ok(Sample {
            id: format!("{}/{i}", self.split.as_str()),
            image,
            labels,
        })
    }

    /// Iterate over all samples (every item is in memory, so none is skipped unless the
    /// preprocessing rejects it; such items are left out).
    pub fn iter(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..self.len()).filter_map(|i| self.get(i).ok())
    }
}
