//! Reply text: what the author wrote, without the history they quoted.
//!
//! This is the first cut: it stops at our own "reply above this line"
//! marker, at a signature delimiter (`-- `), at an "-----Original
//! Message-----" block, and drops a trailing quoted block (`>` lines) with
//! the attribution line before it. The full text stays in the raw message.

/// The marker line our notifications carry above the quoted history.
pub const REPLY_MARKER: &str = "reply above this line";

pub fn extract(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        let lower = t.to_ascii_lowercase();
        if lower.contains(REPLY_MARKER)
            || *line == "-- "
            || t == "--"
            || lower.starts_with("-----original message-----")
        {
            end = i;
            break;
        }
    }
    let mut kept = &lines[..end];
    // Drop a trailing quoted block and blank lines around it.
    while let Some(last) = kept.last() {
        let t = last.trim();
        if t.is_empty() || t.starts_with('>') {
            kept = &kept[..kept.len() - 1];
        } else {
            break;
        }
    }
    // ...and the attribution line that introduced it ("On …, … wrote:").
    if end == lines.len()
        && kept.len() < lines.len()
        && let Some(last) = kept.last()
        && last.trim_end().ends_with("wrote:")
    {
        kept = &kept[..kept.len() - 1];
    }
    kept.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts() {
        let cases = [
            ("Yes, still available.\n", "Yes, still available."),
            (
                "Thanks!\n\nOn Mon, 1 Jan 2026, Ana <a@b> wrote:\n> Is it there?\n",
                "Thanks!",
            ),
            ("Fine.\n-- \nMaria\n", "Fine."),
            ("Ok\n\n-----Original Message-----\nFrom: x\n", "Ok"),
            ("Sure\n## reply above this line ##\nold\n", "Sure"),
            ("> quoted first\nmy answer\n", "> quoted first\nmy answer"),
        ];
        for (input, want) in cases {
            assert_eq!(extract(input), want, "{input:?}");
        }
    }
}
