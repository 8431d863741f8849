//! Snippets on tantivy: the HTML-escaped excerpt of a hit's text with the matched words
//! in `<b></b>`, or the text's escaped beginning (escaped as every engine escapes,
//! `switchyard_search::escape_html`) when no word of it matched.

use switchyard_search::escape_html;
use tantivy::snippet::SnippetGenerator;

/// Length of the snippet taken from the start of the content when no term matched it.
const SNIPPET_FALLBACK_CHARS: usize = 150;

/// The highlighted excerpt of `content`, or its escaped beginning when nothing matched.
pub(crate) fn snippet(snippets: Option<&SnippetGenerator>, content: &str) -> String {
    if let Some(snippet) = snippets.map(|generator| generator.snippet(content))
        && !snippet.is_empty()
    {
        return snippet.to_html();
    }
    let beginning: String = content.chars().take(SNIPPET_FALLBACK_CHARS).collect();
    escape_html(&beginning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_generator_the_escaped_beginning_is_the_snippet() {
        assert_eq!(
            snippet(None, "a <b> & 'c'"),
            "a &lt;b&gt; &amp; &#x27;c&#x27;"
        );
        let long = "x".repeat(SNIPPET_FALLBACK_CHARS + 10);
        assert_eq!(snippet(None, &long).len(), SNIPPET_FALLBACK_CHARS);
    }
}
