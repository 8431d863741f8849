//! The YQL subset the backend generates, as the fake reads it: a tokenizer (names,
//! strings with escapes, integers, symbols) and a recursive-descent parser of
//! `select … from sources … where … [order by … asc|desc]` into a [`Statement`] whose
//! [`Condition`] is built from `and`, `or`, `!`, parentheses, `true`, `userQuery()`,
//! `contains` and integer comparisons. Anything else is a parse error, as in Vespa.

use std::collections::HashSet;

/// A parsed `select`: the schemas it reads, its `where` condition and its order.
#[derive(Debug)]
pub(super) struct Statement {
    /// Empty for `sources *`.
    pub(super) sources: HashSet<String>,
    pub(super) condition: Condition,
    /// The field to order by, and whether descending.
    pub(super) order_by: Option<(String, bool)>,
}

/// A `where` clause; comparisons hold the field, the operator and the number.
#[derive(Debug)]
pub(super) enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    True,
    UserQuery,
    Contains(String, String),
    Compare(String, String, i64),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(i64),
    Symbol(String),
}

fn tokenize(yql: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = yql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string".into()),
                    Some('"') => break,
                    Some('\\') => {
                        i += 1;
                        match chars.get(i) {
                            Some('n') => text.push('\n'),
                            Some('t') => text.push('\t'),
                            Some('r') => text.push('\r'),
                            Some('u') => {
                                let hex: String = chars[i + 1..i + 5].iter().collect();
                                text.push(
                                    char::from_u32(
                                        u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?,
                                    )
                                    .unwrap(),
                                );
                                i += 4;
                            }
                            Some(other) => text.push(*other),
                            None => return Err("dangling escape".into()),
                        }
                    }
                    Some(other) => text.push(*other),
                }
                i += 1;
            }
            i += 1;
            tokens.push(Token::Text(text));
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while chars.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
            let number: String = chars[start..i].iter().collect();
            tokens.push(Token::Number(number.parse().map_err(|_| "bad number")?));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if [">=", "<=", "!="].contains(&two.as_str()) {
                tokens.push(Token::Symbol(two));
                i += 2;
            } else if "()*,<>=!".contains(c) {
                tokens.push(Token::Symbol(c.to_string()));
                i += 1;
            } else {
                return Err(format!("unexpected character {c:?}"));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }
    fn next(&mut self) -> Result<Token, String> {
        let token = self.tokens.get(self.at).cloned().ok_or("unexpected end")?;
        self.at += 1;
        Ok(token)
    }
    fn word(&mut self, expected: &str) -> Result<(), String> {
        match self.next()? {
            Token::Word(word) if word == expected => Ok(()),
            other => Err(format!("expected {expected}, found {other:?}")),
        }
    }
    fn symbol(&mut self, expected: &str) -> Result<(), String> {
        match self.next()? {
            Token::Symbol(symbol) if symbol == expected => Ok(()),
            other => Err(format!("expected {expected}, found {other:?}")),
        }
    }
    fn is_word(&self, expected: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(word)) if word == expected)
    }
    fn identifier(&mut self) -> Result<String, String> {
        match self.next()? {
            Token::Word(word) => Ok(word),
            other => Err(format!("expected a name, found {other:?}")),
        }
    }
    /// `*` or `name, name, …`; empty for `*`.
    fn names(&mut self) -> Result<HashSet<String>, String> {
        if self.peek() == Some(&Token::Symbol("*".into())) {
            self.at += 1;
            return Ok(HashSet::new());
        }
        let mut names = HashSet::from([self.identifier()?]);
        while self.peek() == Some(&Token::Symbol(",".into())) {
            self.at += 1;
            names.insert(self.identifier()?);
        }
        Ok(names)
    }
    fn or(&mut self) -> Result<Condition, String> {
        let mut parts = vec![self.and()?];
        while self.is_word("or") {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap()
        } else {
            Condition::Or(parts)
        })
    }
    fn and(&mut self) -> Result<Condition, String> {
        let mut parts = vec![self.unary()?];
        while self.is_word("and") {
            self.at += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap()
        } else {
            Condition::And(parts)
        })
    }
    fn unary(&mut self) -> Result<Condition, String> {
        match self.next()? {
            Token::Symbol(symbol) if symbol == "!" => Ok(Condition::Not(Box::new(self.unary()?))),
            Token::Symbol(symbol) if symbol == "(" => {
                let inner = self.or()?;
                self.symbol(")")?;
                Ok(inner)
            }
            Token::Word(word) if word == "true" => Ok(Condition::True),
            Token::Word(word) if word == "userQuery" => {
                self.symbol("(")?;
                self.symbol(")")?;
                Ok(Condition::UserQuery)
            }
            Token::Word(field) => match self.next()? {
                Token::Word(operator) if operator == "contains" => match self.next()? {
                    Token::Text(value) => Ok(Condition::Contains(field, value)),
                    other => Err(format!("contains needs a string, found {other:?}")),
                },
                Token::Symbol(operator)
                    if ["<", "<=", ">", ">=", "="].contains(&operator.as_str()) =>
                {
                    match self.next()? {
                        Token::Number(number) => Ok(Condition::Compare(field, operator, number)),
                        other => Err(format!("{operator} needs a number, found {other:?}")),
                    }
                }
                other => Err(format!("unexpected {other:?} after {field}")),
            },
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

pub(super) fn parse(yql: &str) -> Result<Statement, String> {
    let mut parser = Parser {
        tokens: tokenize(yql)?,
        at: 0,
    };
    parser.word("select")?;
    parser.names()?;
    parser.word("from")?;
    let sources = if parser.is_word("sources") {
        parser.at += 1;
        parser.names()?
    } else {
        HashSet::from([parser.identifier()?])
    };
    parser.word("where")?;
    let condition = parser.or()?;
    let mut order_by = None;
    if parser.is_word("order") {
        parser.at += 1;
        parser.word("by")?;
        let field = parser.identifier()?;
        let descending = match parser.peek() {
            Some(Token::Word(word)) if word == "desc" => true,
            Some(Token::Word(word)) if word == "asc" => false,
            _ => return Err("order by needs asc or desc".into()),
        };
        parser.at += 1;
        order_by = Some((field, descending));
    }
    if parser.at != parser.tokens.len() {
        return Err(format!("trailing tokens from {:?}", parser.peek()));
    }
    Ok(Statement {
        sources,
        condition,
        order_by,
    })
}
