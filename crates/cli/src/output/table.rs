//! A small table printer: left-aligned columns sized to their content, the last column
//! unpadded, optional colour per cell.

use super::Out;
use super::style::{Color, paint};
use crate::error::Result;

/// One cell: its text and optional colour.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    text: String,
    color: Option<Color>,
}

impl<T: Into<String>> From<T> for Cell {
    fn from(text: T) -> Self {
        Cell {
            text: text.into(),
            color: None,
        }
    }
}

impl Cell {
    /// A coloured cell.
    pub fn colored(text: impl Into<String>, color: Option<Color>) -> Self {
        Cell {
            text: text.into(),
            color,
        }
    }
}

/// Rows under headers.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
    indent: usize,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
            indent: 0,
        }
    }

    /// Indents every line by `n` spaces.
    pub fn indent(mut self, n: usize) -> Self {
        self.indent = n;
        self
    }

    /// Appends a row (missing cells are empty).
    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines of text.
    pub fn render(&self, out: &Out) -> Vec<String> {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(n) {
                widths[i] = widths[i].max(cell.text.chars().count());
            }
        }
        let pad = " ".repeat(self.indent);
        let mut lines = Vec::with_capacity(self.rows.len() + 1);
        let header: Vec<Cell> = self
            .headers
            .iter()
            .map(|h| Cell::colored(*h, Some(Color::Bold)))
            .collect();
        for row in std::iter::once(&header).chain(self.rows.iter()) {
            let mut line = pad.clone();
            for (i, width) in widths.iter().enumerate() {
                let cell = row.get(i).cloned().unwrap_or_default();
                let len = cell.text.chars().count();
                let text = match cell.color {
                    Some(c) => paint(out.color, &cell.text, c),
                    None => cell.text,
                };
                line.push_str(&text);
                if i + 1 < n {
                    line.push_str(&" ".repeat(width - len + 2));
                }
            }
            lines.push(line.trim_end().to_string());
        }
        lines
    }

    /// Prints the table to stdout.
    pub fn print(&self, out: &Out) -> Result<()> {
        for line in self.render(out) {
            crate::outln!("{line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut t = Table::new(&["A", "BB", "C"]);
        t.row(vec!["long".into(), "x".into(), "last".into()]);
        t.row(vec!["y".into()]);
        let out = Out {
            json: false,
            color: false,
            tty: false,
        };
        assert_eq!(t.render(&out), vec!["A     BB  C", "long  x   last", "y"]);
    }
}
