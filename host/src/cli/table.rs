//! Plain-text tables whose columns are as wide as their widest cell, so a
//! long name widens its column instead of pushing the rest of its row out of
//! line. Every cell is escaped before it is measured.

use llmnode::escape::escape;

/// How a column's cells line up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table being filled, printed once complete.
pub struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
    indent: usize,
}

impl Table {
    /// A table with these headers and alignments.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Table { columns: columns.iter().map(|(h, a)| (h.to_string(), *a)).collect(), rows: Vec::new(), indent: 0 }
    }

    /// Start every line with `spaces` spaces.
    pub fn indent(mut self, spaces: usize) -> Self {
        self.indent = spaces;
        self
    }

    /// Add a row of cells (shown escaped).
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        self.rows.push(cells.iter().map(|c| escape(c.as_ref()).into_owned()).collect());
    }

    /// The table as lines, columns two spaces apart, no trailing spaces.
    pub fn render(&self) -> String {
        let width = |i: usize| {
            let cells = self.rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count());
            cells.chain([self.columns[i].0.chars().count()]).max().unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.columns.len()).map(width).collect();
        let header: Vec<&str> = self.columns.iter().map(|(h, _)| h.as_str()).collect();
        let mut out = String::new();
        for cells in std::iter::once(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>()).chain(&self.rows) {
            let mut line = " ".repeat(self.indent);
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count());
                if i > 0 {
                    line.push_str("  ");
                }
                match self.columns.get(i).map_or(Align::Left, |c| c.1) {
                    Align::Left => {
                        line.push_str(cell);
                        line.push_str(&" ".repeat(pad));
                    }
                    Align::Right => {
                        line.push_str(&" ".repeat(pad));
                        line.push_str(cell);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Print the table on standard output.
    pub fn print(&self) {
        print!("{}", self.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_grow_with_their_widest_cell() {
        let mut t = Table::new(&[("name", Align::Left), ("n", Align::Right), ("status", Align::Left)]);
        t.row(&["a-connection-with-a-long-name", "7", "Active"]);
        t.row(&["b", "1234", "Error\x1b[2J"]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "name                              n  status");
        assert_eq!(lines[1], "a-connection-with-a-long-name     7  Active");
        assert_eq!(lines[2], "b                              1234  Error\\x1b[2J");
    }
}
