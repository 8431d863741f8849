//! Snippets made on the client from a hit's returned `content`: the HTML-escaped excerpt
//! around the first word of the query text, with matched words in `<b></b>`, or the
//! escaped beginning of the text, the same shape the tantivy backend returns.
//!
//! Matching is on whole words, case-insensitively; Vespa's own dynamic summaries (with
//! its linguistics) could replace this once a deployed cluster can be tested.

use std::collections::HashSet;

use switchyard_search::escape_html;

/// Length of a snippet, in characters.
const SNIPPET_CHARS: usize = 150;

/// How many characters before the first match a snippet starts at most.
const LEAD_CHARS: usize = 40;

/// The words of a query text to highlight: lowercased words, without field prefixes
/// (`title:budget` → `budget`) and boolean operators.
pub(crate) fn query_terms(text: &str) -> HashSet<String> {
    text.split_whitespace()
        .map(|token| token.rsplit(':').next().unwrap_or(token))
        .filter(|token| !matches!(*token, "AND" | "OR" | "NOT"))
        .flat_map(words)
        .map(|(_, word)| word.to_lowercase())
        .collect()
}

/// The snippet of `content` for `terms` (empty outside of text searches).
pub(crate) fn snippet(terms: &HashSet<String>, content: &str) -> String {
    let chars: Vec<(usize, char)> = content.char_indices().collect();
    let matches: Vec<(usize, &str)> = words(content)
        .filter(|(_, word)| terms.contains(&word.to_lowercase()))
        .collect();
    let Some(&(first_byte, _)) = matches.first() else {
        let beginning: String = content.chars().take(SNIPPET_CHARS).collect();
        return escape_html(&beginning);
    };
    let first_char = chars.partition_point(|&(byte, _)| byte < first_byte);
    // Start at a word boundary at most LEAD_CHARS before the first match.
    let mut start = first_char.saturating_sub(LEAD_CHARS);
    while start > 0 && start < first_char && chars[start - 1].1.is_alphanumeric() {
        start += 1;
    }
    let end = (start + SNIPPET_CHARS).min(chars.len());
    let start_byte = chars.get(start).map_or(content.len(), |&(byte, _)| byte);
    let end_byte = chars.get(end).map_or(content.len(), |&(byte, _)| byte);
    let mut out = String::new();
    let mut cursor = start_byte;
    for &(byte, word) in &matches {
        let word_end = byte + word.len();
        if byte < start_byte || word_end > end_byte {
            continue;
        }
        out.push_str(&escape_html(&content[cursor..byte]));
        out.push_str("<b>");
        out.push_str(&escape_html(word));
        out.push_str("</b>");
        cursor = word_end;
    }
    out.push_str(&escape_html(&content[cursor..end_byte]));
    out.trim().to_string()
}

/// The alphanumeric words of `text` with their byte offsets.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(move |word| (word.as_ptr() as usize - text.as_ptr() as usize, word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, content: &str, expected: &str) {
        assert_eq!(snippet(&query_terms(query), content), expected, "{query:?}");
    }

    #[test]
    fn snippets_highlight_whole_words_and_escape_everything_else() {
        check(
            "budget",
            "Tom & Jerry: the <quarterly> budget is final",
            "Tom &amp; Jerry: the &lt;quarterly&gt; <b>budget</b> is final",
        );
        check("report", "no match <here>", "no match &lt;here&gt;");
        check(
            "title:Budget OR plan",
            "Plan the BUDGET",
            "<b>Plan</b> the <b>BUDGET</b>",
        );
        check("bud", "budget", "budget");
        check("", "", "");
        let long = format!("{} budget {}", "word ".repeat(100), "tail ".repeat(100));
        let cut = snippet(&query_terms("budget"), &long);
        assert!(
            cut.starts_with("word") && cut.contains("<b>budget</b>"),
            "{cut}"
        );
        assert!(cut.len() < 200, "{cut}");
    }
}
