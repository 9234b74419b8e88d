//! Captioned image grids for figures (a built-in 5x7 bitmap font, upper case).
//!
//! Used by the phantom example to write the labelled grid shown in the docs; other
//! crates can use it to print reconstructions side by side. Captions are upper-cased;
//! characters without a glyph are drawn as `?`.

use crate::error::{Error, Result};
use crate::image::GrayImage;

/// 5x7 glyphs, one string of 7 rows of 5 columns (`#` = ink) per character.
const GLYPHS: &[(char, [&str; 7])] = &[
    (
        'A',
        [
            " ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #",
        ],
    ),
    (
        'B',
        [
            "#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### ",
        ],
    ),
    (
        'C',
        [
            " ### ", "#   #", "#    ", "#    ", "#    ", "#   #", " ### ",
        ],
    ),
    (
        'D',
        [
            "#### ", "#   #", "#   #", "#   #", "#   #", "#   #", "#### ",
        ],
    ),
    (
        'E',
        [
            "#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####",
        ],
    ),
    (
        'F',
        [
            "#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    ",
        ],
    ),
    (
        'G',
        [
            " ### ", "#   #", "#    ", "# ###", "#   #", "#   #", " ####",
        ],
    ),
    (
        'H',
        [
            "#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #",
        ],
    ),
    (
        'I',
        [
            " ### ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### ",
        ],
    ),
    (
        'J',
        [
            "  ###", "   # ", "   # ", "   # ", "   # ", "#  # ", " ##  ",
        ],
    ),
    (
        'K',
        [
            "#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #",
        ],
    ),
    (
        'L',
        [
            "#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####",
        ],
    ),
    (
        'M',
        [
            "#   #", "## ##", "# # #", "# # #", "#   #", "#   #", "#   #",
        ],
    ),
    (
        'N',
        [
            "#   #", "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #",
        ],
    ),
    (
        'O',
        [
            " ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### ",
        ],
    ),
    (
        'P',
        [
            "#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    ",
        ],
    ),
    (
        'Q',
        [
            " ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #",
        ],
    ),
    (
        'R',
        [
            "#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #",
        ],
    ),
    (
        'S',
        [
            " ####", "#    ", "#    ", " ### ", "    #", "    #", "#### ",
        ],
    ),
    (
        'T',
        [
            "#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ",
        ],
    ),
    (
        'U',
        [
            "#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### ",
        ],
    ),
    (
        'V',
        [
            "#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  ",
        ],
    ),
    (
        'W',
        [
            "#   #", "#   #", "#   #", "# # #", "# # #", "# # #", " # # ",
        ],
    ),
    (
        'X',
        [
            "#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #",
        ],
    ),
    (
        'Y',
        [
            "#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  ",
        ],
    ),
    (
        'Z',
        [
            "#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####",
        ],
    ),
    (
        '0',
        [
            " ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### ",
        ],
    ),
    (
        '1',
        [
            "  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### ",
        ],
    ),
    (
        '2',
        [
            " ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####",
        ],
    ),
    (
        '3',
        [
            "#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### ",
        ],
    ),
    (
        '4',
        [
            "   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # ",
        ],
    ),
    (
        '5',
        [
            "#####", "#    ", "#### ", "    #", "    #", "#   #", " ### ",
        ],
    ),
    (
        '6',
        [
            "  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### ",
        ],
    ),
    (
        '7',
        [
            "#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   ",
        ],
    ),
    (
        '8',
        [
            " ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### ",
        ],
    ),
    (
        '9',
        [
            " ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  ",
        ],
    ),
    (
        ' ',
        [
            "     ", "     ", "     ", "     ", "     ", "     ", "     ",
        ],
    ),
    (
        '-',
        [
            "     ", "     ", "     ", "#####", "     ", "     ", "     ",
        ],
    ),
    (
        '_',
        [
            "     ", "     ", "     ", "     ", "     ", "     ", "#####",
        ],
    ),
    (
        '.',
        [
            "     ", "     ", "     ", "     ", "     ", " ##  ", " ##  ",
        ],
    ),
    (
        ',',
        [
            "     ", "     ", "     ", "     ", " ##  ", "  #  ", " #   ",
        ],
    ),
    (
        ':',
        [
            "     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     ",
        ],
    ),
    (
        '(',
        [
            "   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # ",
        ],
    ),
    (
        ')',
        [
            " #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   ",
        ],
    ),
    (
        '/',
        [
            "     ", "    #", "   # ", "  #  ", " #   ", "#    ", "     ",
        ],
    ),
    (
        '|',
        [
            "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ",
        ],
    ),
    (
        '=',
        [
            "     ", "     ", "#####", "     ", "#####", "     ", "     ",
        ],
    ),
    (
        '+',
        [
            "     ", "  #  ", "  #  ", "#####", "  #  ", "  #  ", "     ",
        ],
    ),
    (
        '#',
        [
            " # # ", "#####", " # # ", " # # ", "#####", " # # ", "     ",
        ],
    ),
    (
        '?',
        [
            " ### ", "#   #", "    #", "   # ", "  #  ", "     ", "  #  ",
        ],
    ),
];

fn glyph(c: char) -> &'static [&'static str; 7] {
    let c = c.to_ascii_uppercase();
    GLYPHS
        .iter()
        .find(|(g, _)| *g == c)
        .or_else(|| GLYPHS.iter().find(|(g, _)| *g == '?'))
        .map(|(_, rows)| rows)
        .unwrap_or(&GLYPHS[0].1)
}

/// Width in pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: u32) -> u32 {
    text.chars().count() as u32 * 6 * scale
}

/// Draw `text` with its top-left corner at `(x, y)`, ink value `ink`; clipped to the image.
pub fn draw_text(img: &mut GrayImage, x: u32, y: u32, text: &str, scale: u32, ink: f32) {
    let (w, h) = (img.width(), img.height());
    let data = img.data_mut();
    for (i, ch) in text.chars().enumerate() {
        let rows = glyph(ch);
        let gx = x + i as u32 * 6 * scale;
        for (ry, row) in rows.iter().enumerate() {
            for (rx, b) in row.bytes().enumerate() {
                if b != b'#' {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = gx + rx as u32 * scale + dx;
                        let py = y + ry as u32 * scale + dy;
                        if px < w && py < h {
                            data[(py * w + px) as usize] = ink;
                        }
                    }
                }
            }
        }
    }
}

/// Greedy word wrap to at most `width` characters per line (words separated by spaces).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !cur.is_empty() && cur.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Lay out `tiles` (all the same size, `[0, 1]` values) in `cols` columns, each with a
/// caption below it (wrapped, at most `caption_lines` lines), and `title` lines on top.
/// Background is black, text white.
pub fn captioned_grid(
    tiles: &[(GrayImage, String)],
    cols: u32,
    caption_lines: u32,
    title: &[&str],
) -> Result<GrayImage> {
    let (first, _) = tiles
        .first()
        .ok_or_else(|| Error::InvalidArgument("no tiles to lay out".into()))?;
    let (tw, th) = (first.width(), first.height());
    if tiles
        .iter()
        .any(|(t, _)| t.width() != tw || t.height() != th)
    {
        return Err(Error::InvalidArgument("tiles differ in size".into()));
    }
    if cols == 0 {
        return Err(Error::InvalidArgument("cols must be positive".into()));
    }
    let scale = if tw >= 200 { 2 } else { 1 };
    let line_h = 9 * scale;
    let pad = 4;
    let rows = (tiles.len() as u32).div_ceil(cols);
    let cell_w = tw + pad;
    let cell_h = th + caption_lines * line_h + pad + 2;
    let title_h = title.len() as u32 * line_h + if title.is_empty() { 0 } else { pad * 2 };
    let width = cols * cell_w + pad;
    let height = title_h + rows * cell_h + pad;
    let mut out = GrayImage::filled(width, height, 0.0)?;
    for (i, line) in title.iter().enumerate() {
        let tx = width.saturating_sub(text_width(line, scale)) / 2;
        draw_text(&mut out, tx, pad + i as u32 * line_h, line, scale, 1.0);
    }
    let chars_per_line = ((tw / (6 * scale)) as usize).max(1);
    for (i, (tile, caption)) in tiles.iter().enumerate() {
        let (cx, cy) = (i as u32 % cols, i as u32 / cols);
        let x0 = pad + cx * cell_w;
        let y0 = title_h + cy * cell_h + pad;
        {
            let data = out.data_mut();
            for y in 0..th {
                let src = &tile.data()[(y * tw) as usize..((y + 1) * tw) as usize];
                let dst = ((y0 + y) * width + x0) as usize;
                data[dst..dst + tw as usize].copy_from_slice(src);
            }
        }
        for (l, line) in wrap(caption, chars_per_line)
            .iter()
            .take(caption_lines as usize)
            .enumerate()
        {
            draw_text(
                &mut out,
                x0,
                y0 + th + 2 + l as u32 * line_h,
                line,
                scale,
                1.0,
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_and_layout() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert!(wrap("", 5).is_empty());
        assert_eq!(text_width("ABC", 2), 36);
        let tile = GrayImage::filled(40, 30, 0.5).unwrap();
        let tiles = vec![(tile.clone(), "ONE".to_string()); 3];
        let g = captioned_grid(&tiles, 2, 1, &["TITLE"]).unwrap();
        // Two columns of 44 px plus padding; title + two rows of tiles with captions.
        assert_eq!(g.width(), 2 * 44 + 4);
        assert!(g.height() > 2 * 30 + 9);
        // The title is drawn in white somewhere in the top band.
        assert!(g.data()[..(g.width() * 12) as usize].contains(&1.0));
        assert!(captioned_grid(&[], 2, 1, &[]).is_err());
        let other = GrayImage::filled(10, 10, 0.0).unwrap();
        assert!(
            captioned_grid(&[(tile, String::new()), (other, String::new())], 2, 1, &[]).is_err()
        );
    }

    #[test]
    fn every_glyph_is_5x7() {
        for (c, rows) in GLYPHS {
            assert!(rows.iter().all(|r| r.len() == 5), "{c}");
        }
        // Unknown characters fall back to '?'.
        assert_eq!(glyph('~'), glyph('?'));
        assert_eq!(glyph('a'), glyph('A'));
    }
}
