//! Regular expressions of the courier data: the conversion from their Ruby/PCRE dialect to
//! Rust syntax, and the choice of engine.
//!
//! The definitions are written for Ruby's Onigmo. Conversion is systematic and runs at load
//! time, never by hand-editing the data:
//!
//! - `(?<Name>…)` becomes `(?P<Name>…)` (look-behinds `(?<=`, `(?<!` are left alone);
//! - `\s` becomes *horizontal* whitespace (tab, space, no-break space), inside and outside
//!   character classes: the data lets a number contain spaces, and in free text we never
//!   let one run across a line break, which would glue unrelated lines together;
//! - Onigmo's `\h` (a hex digit, not horizontal space) becomes `[0-9a-fA-F]`, `\Z` becomes
//!   `\z`;
//! - a literal space inside a character class becomes `\x20`, because under `(?x)` the Rust
//!   engines ignore whitespace inside classes while Onigmo keeps it; `(?x)` itself, with
//!   its `#` comments, means the same in both dialects and passes through.
//!
//! The `regex` crate (finite automata, linear time) compiles every pattern it accepts.
//! It has no look-around, which four definitions (DHL E-Commerce, USPS IMpb N and C, and
//! the `serial_number_format` rules) use to pin lengths; those fall back to `fancy-regex`,
//! a backtracking engine with Onigmo's leftmost-first semantics that delegates every
//! look-around-free part to the same automata.

use crate::error::{ShipmentsError, ShipmentsErrorKind};

/// The characters `\s` stands for after conversion (see the module docs).
const HORIZONTAL_SPACE: &str = r"\t\x20\x{A0}";

/// Rewrites one pattern from the Ruby dialect of the data into Rust syntax.
pub(crate) fn convert_pattern(ruby: &str) -> String {
    let mut out = String::with_capacity(ruby.len() + 16);
    let mut chars = ruby.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('s') if in_class => out.push_str(HORIZONTAL_SPACE),
                Some('s') => {
                    out.push('[');
                    out.push_str(HORIZONTAL_SPACE);
                    out.push(']');
                }
                Some('h') if in_class => out.push_str("0-9a-fA-F"),
                Some('h') => out.push_str("[0-9a-fA-F]"),
                Some('Z') => out.push_str(r"\z"),
                Some(escaped) => {
                    out.push('\\');
                    out.push(escaped);
                }
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                // A `]` right after `[` or `[^` is a literal in both dialects.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str(r"\]");
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            ' ' if in_class => out.push_str(r"\x20"),
            '(' if !in_class => {
                out.push('(');
                let mut lookahead = chars.clone();
                if lookahead.next() == Some('?')
                    && lookahead.next() == Some('<')
                    && !matches!(lookahead.next(), Some('=') | Some('!'))
                {
                    out.push_str("?P");
                    chars.next();
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A compiled pattern on the engine that accepts it.
#[derive(Debug)]
pub(crate) enum CompiledRegex {
    /// Finite automata from the `regex` crate: every pattern without look-around.
    Automaton(regex::Regex),
    /// `fancy-regex` backtracking, for the patterns with look-around.
    Backtracking(fancy_regex::Regex),
}

impl CompiledRegex {
    /// Compiles an already converted pattern; `context` names it in errors.
    pub(crate) fn compile(converted: &str, context: &str) -> Result<Self, ShipmentsError> {
        match regex::Regex::new(converted) {
            Ok(regex) => Ok(Self::Automaton(regex)),
            Err(automaton_error) => match fancy_regex::Regex::new(converted) {
                Ok(regex) => Ok(Self::Backtracking(regex)),
                Err(backtracking_error) => Err(ShipmentsError::new(
                    ShipmentsErrorKind::InvalidPattern,
                    format!("failed to compile the regex of {context}"),
                    format!(
                        "regex: {}; fancy-regex: {backtracking_error}",
                        first_line(&automaton_error.to_string())
                    ),
                )),
            },
        }
    }

    /// Converts a Ruby pattern and compiles it.
    pub(crate) fn from_ruby(ruby: &str, context: &str) -> Result<Self, ShipmentsError> {
        Self::compile(&convert_pattern(ruby), context)
    }

    /// Whether this pattern needed the backtracking engine.
    pub(crate) fn is_backtracking(&self) -> bool {
        matches!(self, Self::Backtracking(_))
    }

    /// The pattern string, for building a `RegexSet` over automaton patterns.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Automaton(regex) => regex.as_str(),
            Self::Backtracking(regex) => regex.as_str(),
        }
    }

    /// The span of the first match starting at or after byte `pos`.
    ///
    /// A backtracking search that exceeds its step limit counts as no match: a number
    /// that costs a million steps to read is not one we want to report.
    pub(crate) fn find_from(&self, text: &str, pos: usize) -> Option<(usize, usize)> {
        match self {
            Self::Automaton(regex) => regex.find_at(text, pos).map(|m| (m.start(), m.end())),
            Self::Backtracking(regex) => regex
                .find_from_pos(text, pos)
                .ok()
                .flatten()
                .map(|m| (m.start(), m.end())),
        }
    }

    /// Whether the pattern matches anywhere in `text`.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.find_from(text, 0).is_some()
    }

    /// The text of each named group of the first match, in the order of `names`, or
    /// `None` when the pattern does not match.
    pub(crate) fn named_groups<'t>(
        &self,
        text: &'t str,
        names: &[String],
    ) -> Option<Vec<Option<&'t str>>> {
        match self {
            Self::Automaton(regex) => {
                let captures = regex.captures(text)?;
                Some(
                    names
                        .iter()
                        .map(|name| captures.name(name).map(|m| m.as_str()))
                        .collect(),
                )
            }
            Self::Backtracking(regex) => {
                let captures = regex.captures(text).ok().flatten()?;
                Some(
                    names
                        .iter()
                        .map(|name| captures.name(name).map(|m| m.as_str()))
                        .collect(),
                )
            }
        }
    }

    /// The names of the pattern's named groups.
    pub(crate) fn group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = match self {
            Self::Automaton(regex) => regex.capture_names().flatten().map(str::to_owned).collect(),
            Self::Backtracking(regex) => {
                regex.capture_names().flatten().map(str::to_owned).collect()
            }
        };
        names.sort();
        names.dedup();
        names
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|line| line.starts_with("error"))
        .unwrap_or(text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ruby: &str, expected: &str) {
        assert_eq!(convert_pattern(ruby), expected, "converting {ruby:?}");
    }

    #[test]
    fn converts_named_groups_but_not_lookbehinds() {
        check("(?<SerialNumber>[0-9])", "(?P<SerialNumber>[0-9])");
        check("(?<=a)(?<!b)", "(?<=a)(?<!b)");
        check("(?:x)(?=y)(?!z)", "(?:x)(?=y)(?!z)");
    }

    #[test]
    fn whitespace_becomes_horizontal_space() {
        check(r"1\s*Z", r"1[\t\x20\x{A0}]*Z");
        check(r"[0-9A-Z\s]{10}", r"[0-9A-Z\t\x20\x{A0}]{10}");
        check("[ a]", r"[\x20a]");
        check(r"[\]\s]", r"[\]\t\x20\x{A0}]");
    }

    #[test]
    fn onigmo_escapes() {
        check(r"\h\Z", r"[0-9a-fA-F]\z");
        check(r"[\h]", "[0-9a-fA-F]");
        check(r"\d\b\(", r"\d\b\(");
    }

    #[test]
    fn engine_choice() {
        let plain = CompiledRegex::from_ruby(r"\s*1\s*Z(?<S>[0-9]{3})", "test").unwrap();
        assert!(!plain.is_backtracking());
        let fancy = CompiledRegex::from_ruby(r"^(?!9\s*1).+", "test").unwrap();
        assert!(fancy.is_backtracking());
        assert!(fancy.is_match("123") && !fancy.is_match("9 1x"));
        let groups = plain.named_groups("x1 Z123", &["S".to_owned()]).unwrap();
        assert_eq!(groups, vec![Some("123")]);
        let error = CompiledRegex::from_ruby("(", "ups/UPS").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("failed to compile the regex of ups/UPS")
        );
    }
}
