//! [`mask_address`]: how a recipient appears in logs — enough to tell two apart, not
//! enough to read the address.

/// `alice@example.com` → `al***@example.com`: the first two characters of the local part
/// (one of a two-character one, none of a single character, so that at least one stays
/// hidden), then `***`, then the domain. Something that is not an address gives `***`.
pub fn mask_address(address: &str) -> String {
    let Some((local, domain)) = address.trim().rsplit_once('@') else {
        return "***".to_string();
    };
    if local.is_empty() || domain.is_empty() {
        return "***".to_string();
    }
    let shown = local.chars().count().saturating_sub(1).min(2);
    let prefix: String = local.chars().take(shown).collect();
    format!("{prefix}***@{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(address: &str, masked: &str) {
        assert_eq!(mask_address(address), masked, "{address}");
    }

    #[test]
    fn addresses_keep_two_characters_and_the_domain() {
        check("abigail@example.com", "ab***@example.com");
        check("ab@example.com", "a***@example.com");
        check("a@example.com", "***@example.com");
        check("  bob.smith@mail.example.org ", "bo***@mail.example.org");
        check("\"odd@local\"@example.com", "\"o***@example.com");
        check("nguyễn@ví-dụ.vn", "ng***@ví-dụ.vn");
        check("not an address", "***");
        check("@example.com", "***");
        check("alice@", "***");
    }
}
