//! Label vocabularies and the real NIH ChestX-ray14 label statistics.
//!
//! The statistics are derived from the NIH `Data_Entry_2017_v2020.csv` table
//! (112,120 images) shipped in the PyPI package `torchxrayvision` 1.5.7, by
//! `scripts/label_tables.py`; the committed tables live in `data/nih_label_stats/`
//! and `combinations.csv` is embedded in this crate.

use std::path::Path;
use std::sync::OnceLock;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The 14 NIH ChestX-ray14 findings in the order used by every label vector of this
/// crate (the order of the NIH paper and of torchxrayvision). "No Finding" is the
/// all-zero vector.
pub const NIH_FINDINGS: [&str; 14] = [
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
];

/// The 14 CheXpert observations in the column order of CheXpert's `train.csv`.
pub const CHEXPERT_OBSERVATIONS: [&str; 14] = [
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
];

/// Index of an NIH finding name (exact match, or with a space instead of `_`).
pub fn nih_index(name: &str) -> Option<usize> {
    let name = name.trim();
    NIH_FINDINGS
        .iter()
        .position(|f| *f == name || f.replace('_', " ") == name)
}

/// Parse an NIH `Finding Labels` cell (`"Cardiomegaly|Emphysema"`, `"No Finding"`)
/// into a 14-element 0/1 vector. Unknown names are returned as `Err(name)`.
pub fn parse_nih_labels(cell: &str) -> std::result::Result<[bool; 14], String> {
    let mut out = [false; 14];
    let cell = cell.trim();
    if cell == "No Finding" || cell.is_empty() {
        return Ok(out);
    }
    for part in cell.split('|') {
        match nih_index(part) {
            Some(i) => out[i] = true,
            None => return Err(part.trim().to_string()),
        }
    }
    Ok(out)
}

/// Format a 14-element NIH label vector as NIH does (`"No Finding"` when empty).
pub fn format_nih_labels(labels: &[bool; 14]) -> String {
    let names: Vec<&str> = NIH_FINDINGS
        .iter()
        .zip(labels)
        .filter(|(_, &on)| on)
        .map(|(n, _)| *n)
        .collect();
    if names.is_empty() {
        "No Finding".into()
    } else {
        names.join("|")
    }
}

/// The empirical joint distribution of NIH label sets: every distinct set of
/// findings that occurs in the table, with its count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelStats {
    combos: Vec<([bool; 14], u64)>,
    total: u64,
    /// Where the counts come from.
    pub provenance: String,
}

const NIH_COMBINATIONS: &str = include_str!("../../../data/nih_label_stats/combinations.csv");

impl LabelStats {
    /// The statistics of the full NIH ChestX-ray14 table (embedded).
    pub fn nih() -> &'static LabelStats {
        static STATS: OnceLock<LabelStats> = OnceLock::new();
        STATS.get_or_init(|| {
            Self::parse(
                NIH_COMBINATIONS.as_bytes(),
                Path::new("data/nih_label_stats/combinations.csv"),
                "NIH ChestX-ray14 Data_Entry_2017_v2020.csv (112,120 images), via torchxrayvision 1.5.7 data/; scripts/label_tables.py".into(),
            )
            .unwrap_or_else(|e| unreachable!("embedded NIH label table is valid: {e}"))
        })
    }

    /// Read a `labels,count` table in the format of `data/nih_label_stats/combinations.csv`.
    pub fn from_csv(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&bytes, path, path.display().to_string())
    }

    fn parse(bytes: &[u8], path: &Path, provenance: String) -> Result<Self> {
        let csv_err = |detail: String| Error::Csv {
            path: path.to_path_buf(),
            detail,
        };
        let mut rdr = csv::Reader::from_reader(bytes);
        let headers = rdr.headers().map_err(|e| csv_err(e.to_string()))?.clone();
        for h in headers.iter() {
            if h != "labels" && h != "count" {
                return Err(Error::UnknownColumn {
                    path: path.to_path_buf(),
                    column: h.to_string(),
                    expected: "labels, count".into(),
                });
            }
        }
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| Error::MissingColumn {
                    path: path.to_path_buf(),
                    column: name.into(),
                })
        };
        let (li, ci) = (col("labels")?, col("count")?);
        let mut combos = Vec::new();
        let mut total = 0u64;
        for (row, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| csv_err(e.to_string()))?;
            let labels = parse_nih_labels(rec.get(li).unwrap_or(""))
                .map_err(|name| csv_err(format!("row {}: unknown finding {name:?}", row + 2)))?;
            let count: u64 = rec
                .get(ci)
                .unwrap_or("")
                .trim()
                .parse()
                .map_err(|_| csv_err(format!("row {}: count is not an integer", row + 2)))?;
            total += count;
            combos.push((labels, count));
        }
        if total == 0 {
            return Err(Error::EmptyDataset {
                path: path.to_path_buf(),
                detail: "label table has no counts".into(),
            });
        }
        Ok(Self {
            combos,
            total,
            provenance,
        })
    }

    /// Number of images the statistics were counted on.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The distinct label sets and their counts.
    pub fn combinations(&self) -> &[([bool; 14], u64)] {
        &self.combos
    }

    /// Fraction of images with finding `i` (index into [`NIH_FINDINGS`]); 0 past the end.
    pub fn prior(&self, i: usize) -> f64 {
        self.cooccurrence(i, i) as f64 / self.total as f64
    }

    /// Number of images with both findings `i` and `j` (`i == j`: images with `i`).
    pub fn cooccurrence(&self, i: usize, j: usize) -> u64 {
        if i >= 14 || j >= 14 {
            return 0;
        }
        self.combos
            .iter()
            .filter(|(l, _)| l[i] && l[j])
            .map(|(_, c)| c)
            .sum()
    }

    /// Fraction of images with no finding.
    pub fn no_finding_fraction(&self) -> f64 {
        self.combos
            .iter()
            .filter(|(l, _)| !l.iter().any(|&b| b))
            .map(|(_, c)| *c)
            .sum::<u64>() as f64
            / self.total as f64
    }

    /// Draw a label set with its empirical probability.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> [bool; 14] {
        self.sample_filtered(rng, |_| true).unwrap_or([false; 14])
    }

    /// Draw a label set conditioned on having at least one finding.
    pub fn sample_abnormal<R: Rng + ?Sized>(&self, rng: &mut R) -> [bool; 14] {
        self.sample_filtered(rng, |l| l.iter().any(|&b| b))
            .unwrap_or([false; 14])
    }

    /// Draw a label set conditioned on `keep`; `None` when no set satisfies it.
    pub fn sample_filtered<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        keep: impl Fn(&[bool; 14]) -> bool,
    ) -> Option<[bool; 14]> {
        let total: u64 = self
            .combos
            .iter()
            .filter(|(l, _)| keep(l))
            .map(|(_, c)| c)
            .sum();
        if total == 0 {
            return None;
        }
        let mut t = rng.gen_range(0..total);
        for (l, c) in self.combos.iter().filter(|(l, _)| keep(l)) {
            if t < *c {
                return Some(*l);
            }
            t -= c;
        }
        None
    }
}
