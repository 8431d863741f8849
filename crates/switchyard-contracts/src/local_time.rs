//! [`local_to_utc`]: a wall-clock time in a time zone, as the instant the contracts carry
//! (UTC). Calendar importers and availability both read local times, and both must resolve
//! the hour a daylight-saving change skips or repeats the same way.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};

/// Converts a local time in `tz` to UTC; an ambiguous time takes its first occurrence and
/// a time in a daylight-saving gap the offset before the gap (as RFC 5545 says).
pub fn local_to_utc<T: TimeZone>(tz: &T, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(time) | LocalResult::Ambiguous(time, _) => time.with_timezone(&Utc),
        LocalResult::None => {
            let hour = TimeDelta::hours(1);
            local
                .checked_sub_signed(hour)
                .and_then(|earlier| tz.from_local_datetime(&earlier).earliest())
                .and_then(|time| time.with_timezone(&Utc).checked_add_signed(hour))
                .unwrap_or_else(|| local.and_utc())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    #[test]
    fn a_fixed_offset_converts_exactly() {
        let tz = FixedOffset::east_opt(2 * 3600).unwrap();
        let local = "2024-03-31T10:00:00".parse::<NaiveDateTime>().unwrap();
        assert_eq!(
            local_to_utc(&tz, local).to_rfc3339(),
            "2024-03-31T08:00:00+00:00"
        );
    }
}
