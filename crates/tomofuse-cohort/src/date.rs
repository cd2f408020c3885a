//! A calendar date without a date-time dependency: acquisition dates only need parsing,
//! ordering and printing.

use crate::error::{CohortError, Result};
use std::fmt;

/// A proleptic Gregorian date, stored as days since 1970-01-01 (so it orders and subtracts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

impl Date {
    /// Builds from year, month (1-12) and day (1-31), rejecting impossible dates.
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Option<Self> {
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        Some(Self(days_from_civil(y, m, d)))
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i32 {
        self.0
    }

    /// The date `days` after 1970-01-01.
    pub fn from_days(days: i32) -> Self {
        Self(days)
    }

    /// `(year, month, day)`.
    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    /// Parses `YYYY-MM-DD` (ISO 8601) or `YYYYMMDD` (DICOM DA).
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        let err = |reason| CohortError::Date {
            text: text.to_string(),
            reason,
        };
        let (y, m, d) = if t.len() == 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-' {
            (&t[0..4], &t[5..7], &t[8..10])
        } else if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
            (&t[0..4], &t[4..6], &t[6..8])
        } else {
            return Err(err("unrecognised format"));
        };
        let num = |s: &str| -> Option<u32> {
            s.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| s.parse().ok())
                .flatten()
        };
        let (Some(y), Some(m), Some(d)) = (num(y), num(m), num(d)) else {
            return Err(err("non-digit characters"));
        };
        Self::from_ymd(y as i32, m, d).ok_or_else(|| err("no such calendar day"))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl std::str::FromStr for Date {
    type Err = CohortError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's civil-calendar algorithms (public domain), exact for all i32 years used here.
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u32;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i32 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_day_numbers() {
        // Independent reference: Unix time of midnight UTC / 86400 (e.g. `date -d 2000-03-01 +%s`).
        assert_eq!(Date::parse("1970-01-01").unwrap().days(), 0);
        assert_eq!(
            Date::parse("2000-03-01").unwrap().days(),
            951_868_800 / 86_400
        );
        assert_eq!(
            Date::parse("20240229").unwrap().days(),
            1_709_164_800 / 86_400
        );
        assert_eq!(Date::from_days(19_782).to_string(), "2024-02-29");
    }

    #[test]
    fn round_trip_and_rejects() {
        // Every day from 1900-01-01 to 2100-12-31 prints and parses back to itself, and
        // consecutive days never repeat a printed date.
        let (a, b) = (
            Date::parse("1900-01-01").unwrap(),
            Date::parse("2100-12-31").unwrap(),
        );
        assert_eq!(b.days() - a.days() + 1, 201 * 365 + 49); // 49 leap days in 1900..=2100
        let mut prev = String::new();
        for z in a.days()..=b.days() {
            let s = Date::from_days(z).to_string();
            assert_eq!(Date::parse(&s).unwrap().days(), z);
            assert_ne!(s, prev);
            prev = s;
        }
        for bad in [
            "2023-02-29",
            "2023-13-01",
            "2023-1-01",
            "abcd-ef-gh",
            "",
            "2023-00-10",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
        assert!(Date::parse("2024-02-29").is_ok());
    }
}
