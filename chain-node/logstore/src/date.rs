//! UTC days: files are named by the day of their lines.

use crate::{Error, Result};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The day (since 1970-01-01) of a time in ms since 1970.
pub fn day_of_ms(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// Today (UTC), in days since 1970-01-01.
pub fn today() -> i64 {
    day_of_ms(now_ms())
}

/// Now, ms since 1970.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `YYYY-MM-DD` of a day since 1970-01-01 (H. Hinnant's civil_from_days).
pub fn format_day(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day of a `YYYY-MM-DD` date; refuses anything else.
pub fn parse_day(s: &str) -> Result<i64> {
    let bad = || Error::Invalid(format!("`{s}` is not a date YYYY-MM-DD"));
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64> {
        let part = &s[r];
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse::<i64>().map_err(|_| bad())
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // days_from_civil
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let day = era * 146_097 + doe - 719_468;
    // 2023-02-30 and the like do not come back the same.
    if format_day(day) != s {
        return Err(bad());
    }
    Ok(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        assert_eq!(format_day(0), "1970-01-01");
        assert_eq!(parse_day("2024-02-29").map(format_day).ok().as_deref(), Some("2024-02-29"));
        for day in [0, 59, 60, 365, 10_956, 19_782, 20_000, 40_000] {
            assert_eq!(parse_day(&format_day(day)).ok(), Some(day));
        }
        for bad in ["2023-02-30", "2023-13-01", "20230101", "2023-1-01", "abcd-ef-gh", "", "1969-12-31"] {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
    }
}
