//! Accounts: what a registration must carry (address, password and locale rules), the
//! stored [`Account`] with its argon2id password hash, and its one-time verification
//! code — six digits from the operating system's CSPRNG, kept only as a digest, compared
//! in constant time, valid ten minutes and for five attempts.

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{CodeRefusal, IdentityError};

/// How long a verification code is accepted unless configured otherwise.
pub const CODE_LIFETIME: Duration = Duration::minutes(10);
/// Wrong attempts after which a code no longer counts.
pub const MAX_ATTEMPTS: u32 = 5;
/// Shortest time between two codes sent to one account.
pub const RESEND_INTERVAL: Duration = Duration::seconds(60);
/// Codes one account may be sent in [`RESEND_WINDOW`].
pub const MAX_SENDS_PER_WINDOW: usize = 5;
/// The window of [`MAX_SENDS_PER_WINDOW`].
pub const RESEND_WINDOW: Duration = Duration::hours(1);

/// Longest accepted address, as SMTP allows.
const MAX_EMAIL_BYTES: usize = 254;
const MIN_PASSWORD_CHARS: usize = 8;
/// Long enough for any passphrase, short enough that hashing stays cheap.
const MAX_PASSWORD_BYTES: usize = 128;

/// The languages verification mail is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    /// English.
    En,
    /// Vietnamese.
    Vi,
}

impl Locale {
    /// Its tag, `en` or `vi`.
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Vi => "vi",
        }
    }

    /// Reads `en` or `vi` (any case); anything else is a 400 naming `locale`.
    pub fn parse(value: &str) -> Result<Self, IdentityError> {
        match value.to_ascii_lowercase().as_str() {
            "en" => Ok(Locale::En),
            "vi" => Ok(Locale::Vi),
            _ => Err(IdentityError::invalid(
                "locale",
                format!("`{value}` is not supported: use `en` or `vi`"),
            )),
        }
    }
}

/// The address in the form it is stored and looked up by: trimmed, lowercase, checked
/// against RFC 5322's addr-spec (the `email_address` crate) and 254 bytes at most.
pub fn normalize_email(value: &str) -> Result<String, IdentityError> {
    let email = value.trim().to_lowercase();
    if email.is_empty() {
        return Err(IdentityError::invalid("email", "is required"));
    }
    if email.len() > MAX_EMAIL_BYTES {
        return Err(IdentityError::invalid(
            "email",
            format!("is longer than {MAX_EMAIL_BYTES} bytes"),
        ));
    }
    let parsed = email_address::EmailAddress::parse_with_options(
        &email,
        email_address::Options::default()
            .without_display_text()
            .without_domain_literal(),
    )
    .map_err(|err| IdentityError::invalid("email", format!("is not an address: {err}")))?;
    if !parsed.domain().contains('.') {
        return Err(IdentityError::invalid(
            "email",
            "the domain has no dot: use a full domain such as example.com",
        ));
    }
    Ok(email)
}

/// Checks the password rules: 8 characters at least, 128 bytes at most, with a letter
/// and a digit, and not the address itself.
pub fn check_password(password: &str, email: &str) -> Result<(), IdentityError> {
    let refuse = |message: &str| Err(IdentityError::invalid("password", message));
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return refuse("must be at least 8 characters");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return refuse("must be at most 128 bytes");
    }
    if !password.chars().any(char::is_alphabetic) || !password.chars().any(|c| c.is_ascii_digit()) {
        return refuse("must contain a letter and a digit");
    }
    if password.eq_ignore_ascii_case(email) {
        return refuse("must not be the email address");
    }
    Ok(())
}

/// Checks that a code as typed is six ASCII digits.
pub fn check_code_format(code: &str) -> Result<(), IdentityError> {
    if code.len() == 6 && code.bytes().all(|byte| byte.is_ascii_digit()) {
        Ok(())
    } else {
        Err(IdentityError::invalid("otp", "must be exactly 6 digits"))
    }
}

/// The argon2id hash of `password` in the PHC string format, with a fresh random salt
/// (OWASP's minimum parameters: 19 MiB, 2 passes, 1 lane).
pub fn hash_password(password: &str) -> Result<String, IdentityError> {
    let mut salt = [0_u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|err| IdentityError::store(format!("no randomness for a salt: {err}"), true))?;
    let salt = SaltString::encode_b64(&salt).expect("16 bytes always encode as a salt");
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| IdentityError::store(format!("failed to hash the password: {err}"), false))
}

/// A registered account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Its id (a UUIDv7), the `user_id` of its events.
    pub user_id: String,
    /// The normalized address.
    pub email: String,
    /// The argon2id hash of the password (PHC string).
    pub password_hash: String,
    /// The language of its mail.
    pub locale: Locale,
    /// When it registered.
    pub created_at: DateTime<Utc>,
    /// When its address was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
    /// The code waiting to be entered, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<PendingCode>,
    /// When codes were sent, within the last [`RESEND_WINDOW`].
    #[serde(default)]
    pub sent_at: Vec<DateTime<Utc>>,
}

/// A verification code as stored: its digest, never the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCode {
    /// Hex SHA-256 of `{user_id}:{code}`.
    pub digest: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// Wrong attempts so far.
    pub attempts: u32,
}

/// A code just issued: the plain code (for the event, never stored or logged) and when
/// it expires.
pub struct IssuedCode {
    /// The six digits.
    pub code: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl Account {
    /// A new, unverified account.
    pub fn new(email: String, password_hash: String, locale: Locale, now: DateTime<Utc>) -> Self {
        Account {
            user_id: uuid::Uuid::now_v7().to_string(),
            email,
            password_hash,
            locale,
            created_at: now,
            verified_at: None,
            code: None,
            sent_at: Vec::new(),
        }
    }

    /// Issues a new code valid for `lifetime` (the previous one stops counting), or refuses when the last was
    /// sent less than [`RESEND_INTERVAL`] ago or [`MAX_SENDS_PER_WINDOW`] were sent in
    /// the last [`RESEND_WINDOW`].
    pub fn issue_code(
        &mut self,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> Result<IssuedCode, IdentityError> {
        if self.verified_at.is_some() {
            return Err(IdentityError::Code(CodeRefusal::AlreadyVerified));
        }
        self.sent_at.retain(|sent| now - *sent < RESEND_WINDOW);
        if let Some(last) = self.sent_at.last() {
            let wait = *last + RESEND_INTERVAL - now;
            if wait > Duration::zero() {
                return Err(rate_limited("a code was sent less than a minute ago", wait));
            }
        }
        if self.sent_at.len() >= MAX_SENDS_PER_WINDOW {
            let wait = self.sent_at[0] + RESEND_WINDOW - now;
            return Err(rate_limited("5 codes were sent within the hour", wait));
        }
        let code = random_code()?;
        let expires_at = now + lifetime;
        self.code = Some(PendingCode {
            digest: code_digest(&self.user_id, &code),
            expires_at,
            attempts: 0,
        });
        self.sent_at.push(now);
        Ok(IssuedCode { code, expires_at })
    }

    /// Checks an entered code. Whatever the answer, the account as returned must be
    /// stored: a wrong attempt counts, a right one verifies.
    pub fn verify(&mut self, code: &str, now: DateTime<Utc>) -> Result<(), CodeRefusal> {
        if self.verified_at.is_some() {
            return Err(CodeRefusal::AlreadyVerified);
        }
        let Some(pending) = &mut self.code else {
            return Err(CodeRefusal::Expired);
        };
        if pending.attempts >= MAX_ATTEMPTS {
            return Err(CodeRefusal::TooManyAttempts);
        }
        let expected = hex::decode(&pending.digest).unwrap_or_default();
        let given = hex::decode(code_digest(&self.user_id, code)).unwrap_or_default();
        if !bool::from(expected.ct_eq(&given)) {
            pending.attempts += 1;
            return Err(if pending.attempts >= MAX_ATTEMPTS {
                CodeRefusal::TooManyAttempts
            } else {
                CodeRefusal::Wrong {
                    attempts_left: MAX_ATTEMPTS - pending.attempts,
                }
            });
        }
        if now >= pending.expires_at {
            return Err(CodeRefusal::Expired);
        }
        self.code = None;
        self.verified_at = Some(now);
        Ok(())
    }
}

fn rate_limited(message: &str, wait: Duration) -> IdentityError {
    IdentityError::RateLimited {
        message: format!("{message}: try again in {} s", wait.num_seconds().max(1)),
        retry_after_secs: wait.num_seconds().max(1) as u64,
    }
}

/// Six uniformly drawn digits: rejection sampling over 32 random bits, so no value is
/// more likely than another.
fn random_code() -> Result<String, IdentityError> {
    const LIMIT: u32 = u32::MAX - u32::MAX % 1_000_000;
    loop {
        let mut bytes = [0_u8; 4];
        getrandom::fill(&mut bytes).map_err(|err| {
            IdentityError::store(format!("no randomness for a code: {err}"), true)
        })?;
        let value = u32::from_le_bytes(bytes);
        if value < LIMIT {
            return Ok(format!("{:06}", value % 1_000_000));
        }
    }
}

fn code_digest(user_id: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{user_id}:{code}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account::new(
            "alice@example.com".into(),
            "hash".into(),
            Locale::En,
            Utc::now(),
        )
    }

    #[test]
    fn addresses_are_normalized_and_checked() {
        assert_eq!(
            normalize_email(" Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@localhost",
            "a b@example.com",
        ] {
            let err = normalize_email(bad).unwrap_err();
            assert!(
                matches!(err, IdentityError::Invalid { field: "email", .. }),
                "{bad}: {err}"
            );
        }
        assert!(normalize_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn password_rules_name_the_field() {
        assert!(check_password("correct horse 9", "alice@example.com").is_ok());
        for bad in ["short1", "onlyletters", "1234567890", &"a1".repeat(65)] {
            let err = check_password(bad, "alice@example.com").unwrap_err();
            assert!(matches!(
                err,
                IdentityError::Invalid {
                    field: "password",
                    ..
                }
            ));
        }
    }

    #[test]
    fn locales_are_en_or_vi() {
        assert_eq!(Locale::parse("VI").unwrap(), Locale::Vi);
        assert!(matches!(
            Locale::parse("sv-SE"),
            Err(IdentityError::Invalid {
                field: "locale",
                ..
            })
        ));
    }

    #[test]
    fn argon2id_hashes_are_salted() {
        let first = hash_password("correct horse 9").unwrap();
        let second = hash_password("correct horse 9").unwrap();
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second);
    }

    #[test]
    fn a_code_verifies_once_and_never_after_expiry() {
        let now = Utc::now();
        let mut account = account();
        let issued = account.issue_code(now, CODE_LIFETIME).unwrap();
        assert_eq!(issued.code.len(), 6);
        assert!(
            !serde_json::to_string(&account)
                .unwrap()
                .contains(&issued.code)
        );
        let mut expired = account.clone();
        assert_eq!(
            expired.verify(&issued.code, now + CODE_LIFETIME),
            Err(CodeRefusal::Expired)
        );
        account.verify(&issued.code, now).unwrap();
        assert!(account.verified_at.is_some());
        assert_eq!(
            account.verify(&issued.code, now),
            Err(CodeRefusal::AlreadyVerified)
        );
    }

    #[test]
    fn wrong_attempts_lock_the_code() {
        let now = Utc::now();
        let mut account = account();
        let issued = account.issue_code(now, CODE_LIFETIME).unwrap();
        let wrong = if issued.code == "000000" {
            "111111"
        } else {
            "000000"
        };
        for left in (1..MAX_ATTEMPTS).rev() {
            assert_eq!(
                account.verify(wrong, now),
                Err(CodeRefusal::Wrong {
                    attempts_left: left
                })
            );
        }
        assert_eq!(
            account.verify(wrong, now),
            Err(CodeRefusal::TooManyAttempts)
        );
        // Even the right code no longer counts.
        assert_eq!(
            account.verify(&issued.code, now),
            Err(CodeRefusal::TooManyAttempts)
        );
    }

    #[test]
    fn resends_are_limited() {
        let start = Utc::now();
        let mut account = account();
        account.issue_code(start, CODE_LIFETIME).unwrap();
        assert!(matches!(
            account.issue_code(start + Duration::seconds(10), CODE_LIFETIME),
            Err(IdentityError::RateLimited {
                retry_after_secs: 50,
                ..
            })
        ));
        for minute in 1..MAX_SENDS_PER_WINDOW as i64 {
            account
                .issue_code(start + Duration::minutes(minute), CODE_LIFETIME)
                .unwrap();
        }
        assert!(matches!(
            account.issue_code(start + Duration::minutes(30), CODE_LIFETIME),
            Err(IdentityError::RateLimited { .. })
        ));
        account
            .issue_code(start + Duration::minutes(61), CODE_LIFETIME)
            .unwrap();
    }

    #[test]
    fn codes_are_spread_over_every_digit() {
        let codes: Vec<String> = (0..200).map(|_| random_code().unwrap()).collect();
        assert!(codes.iter().all(|code| code.len() == 6));
        for digit in '0'..='9' {
            assert!(codes.iter().any(|code| code.starts_with(digit)), "{digit}");
        }
    }
}
