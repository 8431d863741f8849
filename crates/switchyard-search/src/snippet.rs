//! The HTML escaping every engine's snippets share: a snippet is safe HTML whose only
//! markup is the `<b></b>` around matched words, whichever engine made it.

/// Escapes text the way tantivy escapes snippets, so every snippet is safe HTML (also
/// for other backends' snippets).
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            escape_html("a <b> & \"c\" 'd' é"),
            "a &lt;b&gt; &amp; &quot;c&quot; &#x27;d&#x27; é"
        );
    }
}
