//! he-nn model files: JSON, gzip-compressed when the name ends in `.gz` (the shipped
//! classifier), with weights rounded to the `f32` values burn trained (shortest decimal form).

use crate::{io, Result};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use he_nn::model::Model;
use std::io::{Read, Write};
use std::path::Path;

fn is_gz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// Writes `model` to `path` (gzip if it ends in `.gz`), creating the folder.
pub fn save_model(model: &Model, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let json = model.to_json()?;
    let bytes = if is_gz(path) {
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(json.as_bytes()).map_err(|e| io(path, e))?;
        enc.finish().map_err(|e| io(path, e))?
    } else {
        json.into_bytes()
    };
    std::fs::write(path, bytes).map_err(|e| io(path, e))
}

/// Reads a model written by [`save_model`] (or any he-nn JSON model), validated.
pub fn load_model(path: &Path) -> Result<Model> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let text = if is_gz(path) {
        let mut s = String::new();
        GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .map_err(|e| io(path, format!("not a gzip-compressed model file ({e})")))?;
        s
    } else {
        String::from_utf8(bytes).map_err(|_| io(path, "not a UTF-8 JSON model file"))?
    };
    Model::from_json(&text).map_err(|e| io(path, e))
}
