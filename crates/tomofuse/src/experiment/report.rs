//! `report.html`: one self-contained page (inline CSS, SVG figures, images as data URIs), so it
//! can be mailed or archived with the run and opened anywhere without the run directory.

use std::fmt::Write;
use tomofuse_metrics::viewer::base64;

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
    /// A PNG (slice overlays, mesh renderings), embedded as a data URI at its own size.
    Image {
        caption: String,
        png: Vec<u8>,
        width: u32,
        height: u32,
    },
    /// A trusted HTML fragment built by a renderer (the interactive 3D view), numbered as a
    /// figure.
    Html {
        caption: String,
        html: String,
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
                Block::Html { caption, html } => {
                    fig += 1;
                    let _ = write!(
                        h,
                        "<figure>{html}<figcaption>Figure {fig}. {}</figcaption></figure>",
                        esc(caption)
                    );
                }
                Block::Image {
                    caption,
                    png,
                    width,
                    height,
                } => {
                    fig += 1;
                    let _ = write!(
                        h,
                        "<figure><img src=\"data:image/png;base64,{}\" width=\"{width}\" height=\"{height}\" alt=\"{}\"><figcaption>Figure {fig}. {}</figcaption></figure>",
                        base64(png),
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
figure{display:inline-block;margin:.5em;vertical-align:top}img{max-width:100%;height:auto}figcaption{font-size:90%;color:#444;max-width:880px}\
pre{background:#f6f6f6;padding:.5em;overflow-x:auto;font-size:85%}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_inline_png_at_their_size() {
        let mut r = Report::new("t");
        r.push(Block::Image {
            caption: "c".into(),
            png: b"foobar".to_vec(),
            width: 300,
            height: 200,
        });
        let h = r.to_html();
        assert!(
            h.contains("src=\"data:image/png;base64,Zm9vYmFy\" width=\"300\" height=\"200\""),
            "{h}"
        );
    }

    #[test]
    fn html_escapes_text() {
        let mut r = Report::new("a<b");
        r.push(Block::Paragraph("x & y".into()));
        let h = r.to_html();
        assert!(h.contains("a&lt;b") && h.contains("x &amp; y"));
    }
}
