//! What a user id may look like. User ids become parts of keys everywhere downstream
//! (`chunks:{user}:{document}`, search document ids, contact rows, claim-check keys), so
//! they are checked once at every boundary — the HTTP API, credentials, importers, and
//! the office contract — and no separator those keys use (`:`, `/`, `#`, `%`, spaces,
//! control characters) can ever appear in one.

/// The longest user id accepted, in bytes.
pub const MAX_USER_ID_BYTES: usize = 128;

/// Why a text is not a user id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserIdError {
    /// Empty or blank.
    #[error("the user id is empty")]
    Empty,
    /// Longer than [`MAX_USER_ID_BYTES`].
    #[error("the user id is {0} bytes long; at most {MAX_USER_ID_BYTES} are allowed")]
    TooLong(usize),
    /// Holds a character outside `A-Z a-z 0-9 . _ - @ +`.
    #[error(
        "the user id holds {0:?}: only ASCII letters, digits and `.` `_` `-` `@` `+` are allowed"
    )]
    Character(char),
}

/// Checks that `user_id` is 1 to [`MAX_USER_ID_BYTES`] of ASCII letters, digits and
/// `.` `_` `-` `@` `+` — enough for opaque ids, UUIDs and email addresses.
pub fn check_user_id(user_id: &str) -> Result<(), UserIdError> {
    if user_id.is_empty() {
        return Err(UserIdError::Empty);
    }
    if user_id.len() > MAX_USER_ID_BYTES {
        return Err(UserIdError::TooLong(user_id.len()));
    }
    match user_id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')))
    {
        Some(c) => Err(UserIdError::Character(c)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_emails_and_uuids_pass_and_key_separators_do_not() {
        for good in [
            "alice",
            "u-1",
            "first.last+tag@example.com",
            "0190f3c2-7d7e-7c4a-9d5e-1a2b3c4d5e6f",
        ] {
            assert_eq!(check_user_id(good), Ok(()), "{good}");
        }
        for (bad, error) in [
            ("", UserIdError::Empty),
            ("a:b", UserIdError::Character(':')),
            ("a/b", UserIdError::Character('/')),
            ("a#1", UserIdError::Character('#')),
            ("a b", UserIdError::Character(' ')),
            ("a%2F", UserIdError::Character('%')),
            ("é", UserIdError::Character('é')),
            ("a\0", UserIdError::Character('\0')),
        ] {
            assert_eq!(check_user_id(bad), Err(error), "{bad:?}");
        }
        let long = "a".repeat(MAX_USER_ID_BYTES + 1);
        assert_eq!(
            check_user_id(&long),
            Err(UserIdError::TooLong(MAX_USER_ID_BYTES + 1))
        );
        assert_eq!(check_user_id(&long[1..]), Ok(()));
    }
}
