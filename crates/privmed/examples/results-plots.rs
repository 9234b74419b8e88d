//! The PNG plots of docs/results/he-nn.md, drawn from the committed data files only:
//!
//! * `he-nn-zoo-metrics.png` (Table 1 / Table 2 analogue): test AUROC macro and F1 micro /
//!   macro of every training run whose `metrics.json` is kept in `DATA/zoo/`;
//! * `he-nn-encrypted-vs-plain.png` (Table 3 analogue): every decrypted logit against its
//!   plaintext logit, and the distribution of `log10 |encrypted - plaintext|`, for every
//!   `privmed evaluate --records` file in `DATA/` (`*.jsonl`);
//! * `he-nn-factor.png` (Table 4 / Fig. 5 analogue): test metrics and encrypted seconds per
//!   sample against the codec's downsampling factor f, from the manifest `DATA/factors.json`
//!   (`[{"f": 8, "metrics": "zoo/....json", "records": "....jsonl"}, ...]`, paths relative to
//!   `DATA`).
//!
//! Every figure is of SYNTHETIC data (the phantom latents) and says so in its caption.
//!
//! ```sh
//! cargo run --release -p privmed --example results-plots -- \
//!     [DATA=docs/results/data] [OUT=docs/img] [FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf]
//! ```
//!
//! The font is any TrueType file (text is rasterized with `ab_glyph`; no system font lookup).

use he_nn_train::classify::Scores;
use plotters::prelude::*;
use privmed::evaluate::SampleRecord;
use serde::Deserialize;
use std::error::Error;
use std::path::{Path, PathBuf};

type Res<T> = Result<T, Box<dyn Error>>;

/// The fields of a training run's `metrics.json` the plot needs.
#[derive(Deserialize)]
struct RunMetrics {
    name: String,
    epochs: usize,
    test: Scores,
}

/// One row of `factors.json`.
#[derive(Deserialize)]
struct FactorRow {
    f: usize,
    metrics: PathBuf,
    records: PathBuf,
}

/// One `--records` file: its model and every sample's logits.
struct Evaluation {
    label: String,
    records: Vec<SampleRecord>,
}

const FONT: &str = "sans-serif";

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data = PathBuf::from(args.first().map_or("docs/results/data", String::as_str));
    let out = PathBuf::from(args.get(1).map_or("docs/img", String::as_str));
    let font = args.get(2).map_or(
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        String::as_str,
    );
    let bytes = std::fs::read(font).map_err(|e| format!("font {font}: {e}"))?;
    plotters::style::register_font(FONT, FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
        .map_err(|_| format!("font {font}: not a TrueType font"))?;
    std::fs::create_dir_all(&out)?;

    let runs = read_runs(&data.join("zoo"))?;
    let path = out.join("he-nn-zoo-metrics.png");
    zoo_metrics(&runs, &path)?;
    println!("{}: {} runs", path.display(), runs.len());

    let evals = read_evaluations(&data)?;
    let path = out.join("he-nn-encrypted-vs-plain.png");
    encrypted_vs_plain(&evals, &path)?;
    for e in &evals {
        println!(
            "{}: {} ({} samples)",
            path.display(),
            e.label,
            e.records.len()
        );
    }

    let manifest = data.join("factors.json");
    let text =
        std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let rows: Vec<FactorRow> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let path = out.join("he-nn-factor.png");
    factors(&data, &rows, &path)?;
    let fs: Vec<usize> = rows.iter().map(|r| r.f).collect();
    println!("{}: f = {fs:?}", path.display());
    Ok(())
}

/// Files of `dir` ending in `ext`, sorted by name.
fn files(dir: &Path, ext: &str) -> Res<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    Ok(v)
}

fn read_run(p: &Path) -> Res<RunMetrics> {
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()).into())
}

fn read_runs(dir: &Path) -> Res<Vec<RunMetrics>> {
    files(dir, "json")?.iter().map(|p| read_run(p)).collect()
}

fn read_records(p: &Path) -> Res<Vec<SampleRecord>> {
    std::fs::read_to_string(p)
        .map_err(|e| format!("{}: {e}", p.display()))?
        .lines()
        .map(serde_json::from_str::<SampleRecord>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", p.display()).into())
}

fn read_evaluations(dir: &Path) -> Res<Vec<Evaluation>> {
    let mut evals = Vec::new();
    for p in files(dir, "jsonl")? {
        let records = read_records(&p)?;
        let Some(first) = records.first() else {
            continue;
        };
        let stem = p.file_stem().map_or("?".into(), |s| s.to_string_lossy());
        let label = format!("{stem}, {} per ciphertext", first.batch);
        evals.push(Evaluation { label, records });
    }
    Ok(evals)
}

/// Horizontal bars: per run, AUROC macro, F1 micro and F1 macro on the test split.
fn zoo_metrics(runs: &[RunMetrics], path: &Path) -> Res<()> {
    let height = 140 + 60 * runs.len() as u32;
    let root = BitMapBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let n = runs.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Classifier zoo on SYNTHETIC phantom latents (f = 8): test split, 200 latents",
            (FONT, 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(260)
        .build_cartesian_2d(0.0..1.25, 0.0..n)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("score")
        .label_style((FONT, 16))
        .draw()?;
    let bar = 0.8 / METRICS.len() as f64;
    for (j, ((name, get), color)) in METRICS.iter().zip(COLORS).enumerate() {
        let bars = runs.iter().enumerate().filter_map(|(i, r)| {
            let y0 = n - 1.0 - i as f64 + 0.1 + bar * j as f64;
            get(&r.test).map(|v| Rectangle::new([(0.0, y0), (v, y0 + bar)], color.filled()))
        });
        chart
            .draw_series(bars)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
    }
    for (i, r) in runs.iter().enumerate() {
        let (_, py) = chart.backend_coord(&(0.0, n - 0.5 - i as f64));
        let label = format!("{} ({} ep.)", r.name, r.epochs);
        root.draw(&Text::new(label, (10, py - 8), (FONT, 16).into_font()))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight, 16)?;
    root.present()?;
    Ok(())
}

/// The legend of `chart`'s labelled series, boxed, at `position`, in `size`-pixel text.
fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    size: u32,
) -> Res<()>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((FONT, size))
        .draw()?;
    Ok(())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// A white `size` PNG at `path` under `title` (`font_size` pixels), cut into a 650-pixel left
/// panel and the right one: `[whole, left, right]` (present the whole when drawn).
fn two_panels<'a>(
    path: &'a Path,
    size: (u32, u32),
    title: &str,
    font_size: u32,
) -> Res<[Area<'a>; 3]> {
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, font_size))?;
    let (left, right) = root.split_horizontally(650);
    Ok([root, left, right])
}

/// A test score of a run.
type Metric = fn(&Scores) -> Option<f64>;

/// The scores every figure shows.
const METRICS: [(&str, Metric); 3] = [
    ("AUROC macro", |s| s.auroc_macro),
    ("F1 micro", |s| s.f1_micro),
    ("F1 macro", |s| s.f1_macro),
];

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Left: decrypted against plaintext logits (the diagonal is equality). Right: histogram of
/// `log10 |encrypted - plaintext|` over every logit.
fn encrypted_vs_plain(evals: &[Evaluation], path: &Path) -> Res<()> {
    let title = "Encrypted vs plaintext logits, 128-bit CKKS, SYNTHETIC phantom test latents";
    let [root, left, right] = two_panels(path, (1400, 650), title, 24)?;
    let pairs = |e: &Evaluation| -> Vec<(f64, f64)> {
        e.records
            .iter()
            .flat_map(|r| r.plain.iter().copied().zip(r.encrypted.iter().copied()))
            .collect()
    };
    let (lo, hi) = evals
        .iter()
        .flat_map(pairs)
        .fold((0f64, 0f64), |(lo, hi), (p, _)| (lo.min(p), hi.max(p)));
    let pad = 0.05 * (hi - lo).max(1.0);
    let range = (lo - pad)..(hi + pad);
    let mut scatter = ChartBuilder::on(&left)
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(range.clone(), range.clone())?;
    scatter
        .configure_mesh()
        .x_desc("plaintext logit (he-nn f64 reference)")
        .y_desc("decrypted logit")
        .label_style((FONT, 16))
        .draw()?;
    scatter.draw_series(LineSeries::new(
        [(range.start, range.start), (range.end, range.end)],
        BLACK.mix(0.4),
    ))?;
    for (e, &color) in evals.iter().zip(COLORS.iter().cycle()) {
        scatter
            .draw_series(
                pairs(e)
                    .into_iter()
                    .map(|p| Circle::new(p, 2, color.mix(0.6).filled())),
            )?
            .label(format!("{} ({} samples)", e.label, e.records.len()))
            .legend(move |(x, y)| Circle::new((x + 7, y), 4, color.filled()));
    }
    legend(&mut scatter, SeriesLabelPosition::UpperLeft, 14)?;

    // log10 |difference| in bins of 0.25 from -12 to -2
    let (b0, width, bins) = (-12.0, 0.25, 40usize);
    let counts: Vec<Vec<usize>> = evals
        .iter()
        .map(|e| {
            let mut c = vec![0usize; bins];
            for (p, q) in pairs(e) {
                let l = (p - q).abs().max(1e-300).log10();
                let k = ((l - b0) / width).floor().clamp(0.0, (bins - 1) as f64) as usize;
                c[k] += 1;
            }
            c
        })
        .collect();
    let top = counts.iter().flatten().copied().max().unwrap_or(1) as f64 * 1.1;
    let mut hist = ChartBuilder::on(&right)
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(b0..b0 + width * bins as f64, 0.0..top)?;
    hist.configure_mesh()
        .x_desc("log10 |decrypted - plaintext logit|  (target: below -3, the dashed line)")
        .y_desc("logits")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FONT, 16))
        .draw()?;
    for (c, &color) in counts.iter().zip(COLORS.iter().cycle()) {
        hist.draw_series(c.iter().enumerate().filter(|(_, &k)| k > 0).map(|(k, &v)| {
            let x = b0 + width * k as f64;
            Rectangle::new([(x, 0.0), (x + width, v as f64)], color.mix(0.5).filled())
        }))?;
    }
    hist.draw_series(DashedLineSeries::new(
        [(-3.0, 0.0), (-3.0, top)],
        8,
        6,
        BLACK.stroke_width(2),
    ))?;
    root.present()?;
    Ok(())
}

/// Left: test AUROC macro, F1 micro and F1 macro against f. Right: encrypted seconds per sample
/// (this sample's share of its ciphertext) against f, log scale.
fn factors(data: &Path, rows: &[FactorRow], path: &Path) -> Res<()> {
    let mut points = Vec::new();
    for r in rows {
        let run = read_run(&data.join(&r.metrics))?;
        let records = read_records(&data.join(&r.records))?;
        let secs =
            records.iter().map(|s| s.encrypted_seconds).sum::<f64>() / records.len().max(1) as f64;
        points.push((r.f as f64, run, secs));
    }
    let title =
        "LeNet on latents of codecs with downsampling factor f: SYNTHETIC phantom test latents";
    let [root, left, right] = two_panels(path, (1300, 600), title, 22)?;
    let fs = 0.5..4.5; // log2 f: f = 2, 4, 8, 16
    let mut m = ChartBuilder::on(&left)
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(fs.clone(), 0.0..1.0)?;
    m.configure_mesh()
        .x_desc("f (log2 scale)")
        .y_desc("test score")
        .x_labels(5)
        .x_label_formatter(&|v| format!("{}", 2f64.powf(*v).round()))
        .label_style((FONT, 16))
        .draw()?;
    for ((name, get), color) in METRICS.iter().zip(COLORS) {
        let line: Vec<(f64, f64)> = points
            .iter()
            .filter_map(|(f, run, _)| get(&run.test).map(|v| (f.log2(), v)))
            .collect();
        m.draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        m.draw_series(line.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
    }
    legend(&mut m, SeriesLabelPosition::LowerRight, 16)?;
    let top = points.iter().map(|p| p.2).fold(1e-3, f64::max) * 3.0;
    let bottom = points.iter().map(|p| p.2).fold(top, f64::min) / 3.0;
    let mut t = ChartBuilder::on(&right)
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(fs, (bottom..top).log_scale())?;
    t.configure_mesh()
        .x_desc("f (log2 scale)")
        .y_desc("encrypted s / sample (128-bit N = 2^16)")
        .x_labels(5)
        .x_label_formatter(&|v| format!("{}", 2f64.powf(*v).round()))
        .label_style((FONT, 16))
        .draw()?;
    let line: Vec<(f64, f64)> = points.iter().map(|(f, _, s)| (f.log2(), *s)).collect();
    t.draw_series(LineSeries::new(line.clone(), COLORS[1].stroke_width(2)))?;
    t.draw_series(
        line.into_iter()
            .map(|p| Circle::new(p, 4, COLORS[1].filled())),
    )?;
    root.present()?;
    Ok(())
}
