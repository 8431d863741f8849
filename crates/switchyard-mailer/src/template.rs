//! The verification email's text per language: [`Language`] (`en`, `vi`; any other
//! locale reads as `en`) and [`render_verification`], a subject, a plain-text body and an
//! HTML alternative carrying the one-time code and when it expires (UTC). The code is in
//! the bodies only, never in the subject, which mail clients show in notifications.

use chrono::{DateTime, Utc};

/// A language the mailer has templates for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// English, the fallback.
    En,
    /// Vietnamese.
    Vi,
}

impl Language {
    /// The language of a BCP 47 `locale` by its primary subtag (`vi`, `vi-VN` → `Vi`);
    /// `En` for every language without templates.
    pub fn from_locale(locale: &str) -> Language {
        let primary = locale.trim().split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("vi") {
            Language::Vi
        } else {
            Language::En
        }
    }

    /// Its tag: `en` or `vi` (the email's `Content-Language`, a metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Vi => "vi",
        }
    }
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// The language it is written in.
    pub language: Language,
    /// Its subject (without the code).
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML alternative.
    pub html: String,
}

/// The verification email carrying `otp_code`, valid until `expires_at`, in `language`.
pub fn render_verification(
    language: Language,
    otp_code: &str,
    expires_at: DateTime<Utc>,
) -> RenderedEmail {
    let time = expires_at.format("%H:%M UTC");
    let (subject, greeting, code_line, expiry_line, ignore_line) = match language {
        Language::En => (
            "Your verification code".to_string(),
            "Hello,",
            "Your verification code is:",
            format!("It expires at {time} on {}.", expires_at.format("%Y-%m-%d")),
            "If you did not ask for this code, you can ignore this email.",
        ),
        Language::Vi => (
            "Mã xác minh của bạn".to_string(),
            "Xin chào,",
            "Mã xác minh của bạn là:",
            format!(
                "Mã hết hạn lúc {time} ngày {}.",
                expires_at.format("%d/%m/%Y")
            ),
            "Nếu bạn không yêu cầu mã này, hãy bỏ qua email này.",
        ),
    };
    let text =
        format!("{greeting}\n\n{code_line}\n\n    {otp_code}\n\n{expiry_line}\n\n{ignore_line}\n");
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><body>\n<p>{greeting}</p>\n<p>{code_line}</p>\n\
         <p style=\"font-size:24px;font-weight:bold;letter-spacing:4px\">{code}</p>\n\
         <p>{expiry}</p>\n<p>{ignore_line}</p>\n</body></html>\n",
        lang = language.as_str(),
        code = escape_html(otp_code),
        expiry = escape_html(&expiry_line),
    );
    RenderedEmail {
        language,
        subject,
        text,
        html,
    }
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_read_by_their_primary_language_and_fall_back_to_english() {
        for (locale, language) in [
            ("en", Language::En),
            ("vi", Language::Vi),
            ("vi-VN", Language::Vi),
            ("VI_vn", Language::Vi),
            ("sv-SE", Language::En),
            ("", Language::En),
            ("video", Language::En),
        ] {
            assert_eq!(Language::from_locale(locale), language, "{locale}");
        }
    }

    #[test]
    fn each_language_carries_the_code_and_expiry_in_its_bodies_only() {
        let expires_at = "2025-03-01T10:15:00Z".parse().unwrap();
        let en = render_verification(Language::En, "482913", expires_at);
        assert_eq!(en.subject, "Your verification code");
        assert!(en.text.contains("482913") && en.html.contains("482913"));
        assert!(
            en.text.contains("It expires at 10:15 UTC on 2025-03-01."),
            "{}",
            en.text
        );
        let vi = render_verification(Language::Vi, "482913", expires_at);
        assert_eq!(vi.subject, "Mã xác minh của bạn");
        assert!(
            vi.text
                .contains("Mã hết hạn lúc 10:15 UTC ngày 01/03/2025."),
            "{}",
            vi.text
        );
        assert!(vi.html.contains("<html lang=\"vi\">"));
        for email in [&en, &vi] {
            assert!(!email.subject.contains("482913"));
        }
        let odd = render_verification(Language::En, "<b>&1", expires_at);
        assert!(odd.html.contains("&lt;b&gt;&amp;1"), "{}", odd.html);
    }
}
