//! The `From ` line that opens each message of an mbox mailbox, read for what it tells
//! about the message: the envelope sender and the delivery time, which stand in for a
//! missing `From` or `Date` header (`mail.rs`). Knows nothing of the message itself.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};

/// What a mailbox's `From ` separator line says about the message after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Separator {
    /// The envelope sender, when it is an address (not `MAILER-DAEMON` or `-`).
    pub(crate) sender: Option<String>,
    /// The delivery time.
    pub(crate) date: Option<DateTime<Utc>>,
}

impl Separator {
    /// Reads `From sender Www Mmm dd hh:mm:ss yyyy` (asctime, as UTC), tolerating a
    /// missing weekday or seconds, a zone name and a `+hhmm` offset anywhere after the
    /// time. What cannot be read is left out.
    pub(crate) fn parse(line: &[u8]) -> Self {
        const MONTHS: [&str; 12] = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        let text = String::from_utf8_lossy(line);
        let mut tokens = text.split_ascii_whitespace().skip(1);
        let sender = tokens
            .next()
            .map(|token| token.trim_start_matches('<').trim_end_matches('>'))
            .filter(|token| token.contains('@'))
            .map(str::to_string);
        let (mut year, mut month, mut day, mut time) = (None, None, None, None);
        let mut offset_minutes = 0i64;
        for token in tokens {
            let token = token.trim_end_matches(',');
            let month_index = (month.is_none() && token.len() >= 3 && token.is_char_boundary(3))
                .then(|| {
                    MONTHS
                        .iter()
                        .position(|name| token[..3].eq_ignore_ascii_case(name))
                })
                .flatten();
            if let Some(index) = month_index {
                month = Some(index as u32 + 1);
            } else if token.contains(':') {
                time = time.or_else(|| {
                    NaiveTime::parse_from_str(token, "%H:%M:%S")
                        .or_else(|_| NaiveTime::parse_from_str(token, "%H:%M"))
                        .ok()
                });
            } else if token.bytes().all(|byte| byte.is_ascii_digit())
                && let Ok(number) = token.parse::<u32>()
            {
                if token.len() == 4 {
                    year = year.or(i32::try_from(number).ok());
                } else {
                    day = day.or(Some(number));
                }
            } else if let Some(sign) = token
                .strip_prefix('+')
                .map(|rest| (1, rest))
                .or_else(|| token.strip_prefix('-').map(|rest| (-1, rest)))
                .filter(|(_, rest)| rest.len() == 4)
                && let Ok(hhmm) = sign.1.parse::<i64>()
            {
                offset_minutes = sign.0 * (hhmm / 100 * 60 + hhmm % 100);
            }
        }
        let date = year
            .zip(month)
            .zip(day)
            .and_then(|((year, month), day)| NaiveDate::from_ymd_opt(year, month, day))
            .zip(time)
            .map(|(date, time)| date.and_time(time).and_utc())
            .and_then(|date| date.checked_sub_signed(TimeDelta::minutes(offset_minutes)));
        Separator { sender, date }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_separator(line: &str, sender: Option<&str>, date: Option<&str>) {
        let separator = Separator::parse(line.as_bytes());
        assert_eq!(separator.sender.as_deref(), sender, "{line}");
        assert_eq!(
            separator.date.map(|date| date.to_rfc3339()).as_deref(),
            date,
            "{line}"
        );
    }

    #[test]
    fn separator_lines_give_sender_and_date() {
        let noon = Some("2024-01-04T12:00:00+00:00");
        check_separator("From a@x Thu Jan  4 12:00:00 2024\n", Some("a@x"), noon);
        check_separator("From a@x Thu Jan 4 12:00:00 2024", Some("a@x"), noon);
        check_separator("From <a@x> Jan 04 12:00 2024\r\n", Some("a@x"), noon);
        check_separator("From a@x Thu Jan  4 14:00:00 +0200 2024", Some("a@x"), noon);
        check_separator("From a@x Thu Jan  4 12:00:00 UTC 2024", Some("a@x"), noon);
        check_separator(
            "From wang.yi59@zte.com.cn Mon Feb 12 8:54:21 2018",
            Some("wang.yi59@zte.com.cn"),
            Some("2018-02-12T08:54:21+00:00"),
        );
        check_separator("From MAILER-DAEMON Thu Jan  4 12:00:00 2024", None, noon);
        check_separator("From nobody", None, None);
        check_separator("From A", None, None);
        check_separator("From a@x Thu Feb 30 12:00:00 2024", Some("a@x"), None);
        check_separator("From a@x Thü Jän 4 12:00:00 2024", Some("a@x"), None);
    }
}
