//! Plain-text tables for `kmirror check` and `kmirror lag`: left-aligned
//! columns as Kafka's own tools print them, laid out by `tabwriter`
//! (elastic tabstops) so neither command carries its own width arithmetic.

use std::io::Write;

/// Renders `rows` (the header first) as left-aligned columns separated by
/// at least `gap` blanks. The last column is not padded, so no line ends in
/// blanks; widths count characters, not bytes. A tab inside a cell would
/// start a new column, so it is shown as a blank.
pub(crate) fn aligned_columns<R, C>(rows: impl IntoIterator<Item = R>, gap: usize) -> String
where
    R: IntoIterator<Item = C>,
    C: AsRef<str>,
{
    let mut tw = tabwriter::TabWriter::new(Vec::new())
        .minwidth(0)
        .padding(gap);
    for row in rows {
        let line: Vec<String> = row
            .into_iter()
            .map(|c| c.as_ref().replace('\t', " "))
            .collect();
        // Writing into a Vec cannot fail.
        writeln!(tw, "{}", line.join("\t")).expect("write to memory");
    }
    let bytes = tw.into_inner().expect("flush to memory");
    // Trimmed after the layout, not before: a row whose last cells are empty
    // keeps its tabs, so it does not end the columns above it.
    let text = String::from_utf8(bytes).expect("cells are UTF-8");
    text.lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_start_where_the_widest_cell_ends_plus_the_gap() {
        let rows = vec![
            vec!["GROUP", "TOPIC", "LAG"],
            vec!["g", "orders-ü", "12"],
            vec!["a-long-group", "t", "-"],
        ];
        assert_eq!(
            aligned_columns(rows.clone(), 1),
            "GROUP        TOPIC    LAG\n\
             g            orders-ü 12\n\
             a-long-group t        -\n"
        );
        assert_eq!(
            aligned_columns(rows, 2),
            "GROUP         TOPIC     LAG\n\
             g             orders-ü  12\n\
             a-long-group  t         -\n"
        );
    }

    #[test]
    fn no_trailing_blanks_and_tabs_in_cells_stay_in_their_column() {
        let out = aligned_columns(vec![vec!["A", "B", ""], vec!["x\ty", "z", ""]], 2);
        assert_eq!(out, "A    B\nx y  z\n");
        // An empty cell mid-table does not break the columns after it.
        let out = aligned_columns(
            vec![
                vec!["A", "B", "C"],
                vec!["a", "", ""],
                vec!["aa", "bbbb", "c"],
            ],
            1,
        );
        assert_eq!(out, "A  B    C\na\naa bbbb c\n");
    }
}
