//! Aligned tables for the operator commands (`status`, `strategy ls`,
//! `history`): boxed and coloured with comfy-table on a terminal, plain
//! space-aligned columns (no colour, no trailing blanks) when piped. Knows
//! nothing of what the cells mean beyond a tone for colour.

use comfy_table::{presets, Attribute, Cell as CtCell, Color, ContentArrangement, Table};

/// How a cell should stand out when colour is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    #[default]
    Plain,
    Good,
    Warn,
    Bad,
    Dim,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub tone: Tone,
}

impl Cell {
    pub fn new(text: impl Into<String>) -> Cell {
        Cell::tone(text, Tone::Plain)
    }

    /// Control characters in `text` are shown escaped ([`super::printable`]):
    /// a cell is one line, whatever the database holds. A connection
    /// string in it is masked here, as every output is
    /// ([`crate::config::redact_echoed`]), so that its column is as wide as
    /// what is shown (a masked name's row went out of line: an outside
    /// check).
    pub fn tone(text: impl Into<String>, tone: Tone) -> Cell {
        let text = super::printable(&text.into());
        Cell {
            text: crate::config::redact_echoed(&text).into_owned(),
            tone,
        }
    }
}

/// Where the table goes: a terminal gets borders (and colour unless
/// `NO_COLOR` is set), anything else plain aligned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub tty: bool,
    pub color: bool,
}

pub fn render(headers: &[&str], rows: &[Vec<Cell>], style: Style) -> String {
    if style.tty {
        boxed(headers, rows, style.color)
    } else {
        plain(headers, rows)
    }
}

fn boxed(headers: &[&str], rows: &[Vec<Cell>], color: bool) -> String {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !color {
        t.force_no_tty();
    }
    t.set_header(headers.iter().map(|h| {
        let c = CtCell::new(h);
        if color {
            c.add_attribute(Attribute::Bold)
        } else {
            c
        }
    }));
    for row in rows {
        t.add_row(row.iter().map(|cell| {
            let c = CtCell::new(&cell.text);
            match (color, cell.tone) {
                (false, _) | (_, Tone::Plain) => c,
                (true, Tone::Good) => c.fg(Color::Green),
                (true, Tone::Warn) => c.fg(Color::Yellow),
                (true, Tone::Bad) => c.fg(Color::Red),
                (true, Tone::Dim) => c.fg(Color::DarkGrey),
            }
        }));
    }
    format!("{t}\n")
}

/// Plain aligned columns (kubectl's style) on a terminal too, with the
/// tones as colours when `color`: for tables that must stay narrow.
pub fn render_plain(headers: &[&str], rows: &[Vec<Cell>], color: bool) -> String {
    if !color {
        return plain(headers, rows);
    }
    let text = plain(headers, rows);
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        let painted = match i.checked_sub(1).and_then(|r| rows.get(r)) {
            None => {
                let bold = anstyle::Style::new().bold();
                format!("{}{line}{}", bold.render(), bold.render_reset())
            }
            Some(row) => {
                let mut l = line.to_string();
                for cell in row
                    .iter()
                    .filter(|c| c.tone != Tone::Plain && !c.text.is_empty())
                {
                    let c = match cell.tone {
                        Tone::Good => anstyle::AnsiColor::Green,
                        Tone::Warn => anstyle::AnsiColor::Yellow,
                        Tone::Bad => anstyle::AnsiColor::Red,
                        Tone::Dim | Tone::Plain => anstyle::AnsiColor::BrightBlack,
                    };
                    let st = anstyle::Style::new().fg_color(Some(c.into()));
                    l = l.replacen(
                        &cell.text,
                        &format!("{}{}{}", st.render(), cell.text, st.render_reset()),
                        1,
                    );
                }
                l
            }
        };
        out.push_str(&painted);
        out.push('\n');
    }
    out
}

/// Columns separated by two spaces, padded to the widest cell, trailing
/// blanks trimmed: stable for `grep`, `awk` and tests.
fn plain(headers: &[&str], rows: &[Vec<Cell>]) -> String {
    let lines: Vec<Vec<&str>> = std::iter::once(headers.to_vec())
        .chain(
            rows.iter()
                .map(|r| r.iter().map(|c| c.text.as_str()).collect()),
        )
        .collect();
    let cols = headers.len();
    let width = |i: usize| {
        lines
            .iter()
            .filter_map(|l| l.get(i))
            .map(|s| crate::model::display_width(s))
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..cols).map(width).collect();
    let mut out = String::new();
    for line in &lines {
        let mut s = String::new();
        for (i, cell) in line.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(cell);
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(crate::model::display_width(cell));
            s.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(s.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wide and combining characters take their display width: a name
    /// with an emoji or a decomposed `ü` shifted the columns after it.
    #[test]
    fn plain_tables_align_by_display_width() {
        let rows = vec![
            vec![Cell::new("日本"), Cell::new("x")],
            vec![Cell::new("u\u{308}"), Cell::new("y")],
            vec![Cell::new("abcd"), Cell::new("z")],
        ];
        let text = plain(&["NAME", "V"], &rows);
        let col: Vec<usize> = text
            .lines()
            .map(|l| {
                let at = l.rfind(' ').map_or(0, |i| i + 1);
                crate::model::display_width(&l[..at])
            })
            .collect();
        assert_eq!(col, vec![6, 6, 6, 6], "{text}");
        assert_eq!(crate::model::fit_width("日本語です", 5), "日本…");
        assert_eq!(crate::model::fit_width("abc", 5), "abc");
    }

    /// A name holding what looks like a password is masked before the
    /// columns are measured: the row of `pw password=hunter2` went out of
    /// line once masked (an outside check).
    #[test]
    fn a_masked_cell_is_measured_as_shown() {
        let rows = vec![
            vec![Cell::new("pw password=hunter2"), Cell::new("x")],
            vec![Cell::new("a"), Cell::new("y")],
        ];
        let text = plain(&["NAME", "V"], &rows);
        assert!(!text.contains("hunter2"), "{text}");
        let col: Vec<usize> = text.lines().map(|l| l.rfind(' ').unwrap_or(0)).collect();
        assert!(col.windows(2).all(|w| w[0] == w[1]), "{text}");
    }

    #[test]
    fn plain_tables_align_and_trim() {
        let rows = vec![
            vec![Cell::new("analytics"), Cell::tone("Converged", Tone::Good)],
            vec![Cell::new("x"), Cell::new("")],
        ];
        let s = render(
            &["NAME", "CONDITION"],
            &rows,
            Style {
                tty: false,
                color: false,
            },
        );
        assert_eq!(s, "NAME       CONDITION\nanalytics  Converged\nx\n", "{s}");
    }

    #[test]
    fn boxed_tables_without_colour_have_no_escape_codes() {
        let rows = vec![vec![Cell::tone("Invalid", Tone::Bad)]];
        let s = render(
            &["CONDITION"],
            &rows,
            Style {
                tty: true,
                color: false,
            },
        );
        assert!(s.contains("Invalid"), "{s}");
        assert!(!s.contains('\u{1b}'), "{s:?}");
    }
}
