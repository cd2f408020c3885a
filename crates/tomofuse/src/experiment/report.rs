//! `report.html`: one self-contained page (inline CSS, SVG figures, images as data URIs), so it
//! can be mailed or archived with the run and opened anywhere without the run directory.

use std::fmt::Write;

/// One piece of report content.
#[derive(Debug, Clone)]
pub enum Block {
    Heading(String),
    Paragraph(String),
    /// A table: header cells, then rows.
    Table {
        caption: String,
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// An inline SVG document (from the plotting functions).
    Svg {
        caption: String,
        svg: String,
    },
    /// A greyscale+overlay image as RGB rows, embedded as a BMP data URI.
    Image {
        caption: String,
        width: usize,
        height: usize,
        rgb: Vec<[u8; 3]>,
    },
    /// Pre-formatted text (provenance, logs).
    Pre(String),
}

/// A report: a title and blocks in order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub title: String,
    pub blocks: Vec<Block>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Report {
    pub fn new(title: &str) -> Self {
        Self {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    pub fn push(&mut self, b: Block) {
        self.blocks.push(b);
    }

    /// Renders the page.
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(1 << 20);
        let _ = write!(
            h,
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{}</style></head><body><h1>{}</h1>",
            esc(&self.title),
            CSS,
            esc(&self.title)
        );
        let mut fig = 0;
        for b in &self.blocks {
            match b {
                Block::Heading(t) => {
                    let _ = write!(h, "<h2>{}</h2>", esc(t));
                }
                Block::Paragraph(t) => {
                    let _ = write!(h, "<p>{}</p>", esc(t));
                }
                Block::Pre(t) => {
                    let _ = write!(h, "<pre>{}</pre>", esc(t));
                }
                Block::Table {
                    caption,
                    header,
                    rows,
                } => {
                    let _ = write!(h, "<table><caption>{}</caption><tr>", esc(caption));
                    for c in header {
                        let _ = write!(h, "<th>{}</th>", esc(c));
                    }
                    h.push_str("</tr>");
                    for r in rows {
                        h.push_str("<tr>");
                        for c in r {
                            let _ = write!(h, "<td>{}</td>", esc(c));
                        }
                        h.push_str("</tr>");
                    }
                    h.push_str("</table>");
                }
                Block::Svg { caption, svg } => {
                    fig += 1;
                    // Drop any XML declaration: inline SVG must start at <svg.
                    let body = svg.find("<svg").map(|i| &svg[i..]).unwrap_or(svg);
                    let _ = write!(
                        h,
                        "<figure>{body}<figcaption>Figure {fig}. {}</figcaption></figure>",
                        esc(caption)
                    );
                }
                Block::Image {
                    caption,
                    width,
                    height,
                    rgb,
                } => {
                    fig += 1;
                    let uri = bmp_data_uri(*width, *height, rgb);
                    let _ = write!(
                        h,
                        "<figure><img src=\"{uri}\" width=\"{}\" height=\"{}\" style=\"image-rendering:pixelated\" alt=\"{}\"><figcaption>Figure {fig}. {}</figcaption></figure>",
                        width * 3,
                        height * 3,
                        esc(caption),
                        esc(caption)
                    );
                }
            }
        }
        h.push_str("</body></html>\n");
        h
    }
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}\
th{background:#eee}caption{font-weight:bold;text-align:left;padding:4px 0}\
figure{display:inline-block;margin:.5em;vertical-align:top}figcaption{font-size:90%;color:#444;max-width:600px}\
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;font-size:85%}";

/// Encodes RGB pixels (row-major, top row first) as a 24-bit BMP data URI.
pub fn bmp_data_uri(width: usize, height: usize, rgb: &[[u8; 3]]) -> String {
    let row = (width * 3).div_ceil(4) * 4;
    let size = 54 + row * height;
    let mut b = Vec::with_capacity(size);
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&(size as u32).to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&(width as i32).to_le_bytes());
    b.extend_from_slice(&(height as i32).to_le_bytes()); // positive: bottom-up rows
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[0; 24]);
    for y in (0..height).rev() {
        let start = b.len();
        for x in 0..width {
            let p = rgb.get(y * width + x).copied().unwrap_or([0, 0, 0]);
            b.extend_from_slice(&[p[2], p[1], p[0]]);
        }
        b.resize(start + row, 0);
    }
    format!("data:image/bmp;base64,{}", base64(&b))
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Greyscale CT slice (windowed) with a heat overlay (values in [0, 1], alpha-blended where
/// above `threshold`) and an optional contour mask drawn in green.
pub fn overlay_rgb(
    ct: &[f32],
    heat: Option<&[f32]>,
    contour: Option<&[bool]>,
    width: usize,
    height: usize,
    window: (f32, f32),
) -> Vec<[u8; 3]> {
    let (lo, hi) = window;
    let mut out = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            let g = ((ct[i] - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0;
            let mut px = [g, g, g];
            if let Some(h) = heat {
                let v = h[i].clamp(0.0, 1.0);
                if v > 0.2 {
                    // jet-like ramp: blue -> yellow -> red
                    let c = [
                        255.0 * (2.0 * v).min(1.0),
                        255.0 * (2.0 - 2.0 * v).min(1.0) * v.min(1.0),
                        255.0 * (1.0 - v),
                    ];
                    let a = 0.5 * v;
                    for k in 0..3 {
                        px[k] = px[k] * (1.0 - a) + c[k] * a;
                    }
                }
            }
            if let Some(m) = contour
                && m[i]
            {
                let edge = (x == 0 || !m[i - 1])
                    || (x + 1 == width || !m[i + 1])
                    || (y == 0 || !m[i - width])
                    || (y + 1 == height || !m[i + width]);
                if edge {
                    px = [0.0, 255.0, 0.0];
                }
            }
            out.push([px[0] as u8, px[1] as u8, px[2] as u8]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn bmp_header_and_padding() {
        let uri = bmp_data_uri(3, 2, &[[1, 2, 3]; 6]);
        // "BM" then the file size 78 = 0x4E: base64 "Qk1O".
        assert!(uri.starts_with("data:image/bmp;base64,Qk1O"));
        // 54-byte header + 2 rows of 12 bytes (9 padded to 12).
        let b64 = &uri["data:image/bmp;base64,".len()..];
        assert_eq!(b64.len(), (54 + 24usize).div_ceil(3) * 4);
    }

    #[test]
    fn html_escapes_text() {
        let mut r = Report::new("a<b");
        r.push(Block::Paragraph("x & y".into()));
        let h = r.to_html();
        assert!(h.contains("a&lt;b") && h.contains("x &amp; y"));
    }
}
