//! RFC 3339 timestamps for `expiresAt`, as Unix milliseconds. Pure; no time crate needed.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into Unix milliseconds. A space instead
/// of `T` and a lowercase `z` are accepted. Fractions beyond milliseconds are truncated
/// (kiro-cli writes nanoseconds).
pub fn parse_rfc3339_millis(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    if b.get(16) != Some(&b':') {
        return None;
    }
    let year = digits(s, 0, 4)?;
    let month = digits(s, 5, 7)?;
    let day = digits(s, 8, 10)?;
    let hour = digits(s, 11, 13)?;
    let minute = digits(s, 14, 16)?;
    let second = digits(s, 17, 19)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // 60 allows a leap second; it lands on the next minute's first second.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }

    let mut rest = s.get(19..)?;
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let len = frac.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        let ms_digits = frac.get(..len.min(3))?;
        millis = ms_digits.parse::<i64>().ok()? * 10i64.pow(3 - ms_digits.len() as u32);
        rest = frac.get(len..)?;
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            let oh = digits(rest, 1, 3)?;
            let om = digits(rest, 4, 6)?;
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 60 + om)
        }
    };

    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(secs * 1_000 + millis)
}

/// Formats Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`, the shape Kiro writes.
pub fn format_rfc3339_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1_000);
    let millis = ms.rem_euclid(1_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3_600,
        (sod % 3_600) / 60,
        sod % 60
    )
}

/// The first instant (Unix milliseconds) of the calendar month after the one holding `ms`,
/// in UTC: when Kiro renews monthly quotas whose reset date is unknown.
pub fn start_of_next_month_utc(ms: i64) -> i64 {
    let (y, m, _) = civil_from_days(ms.div_euclid(86_400_000));
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    days_from_civil(y, m, 1).saturating_mul(86_400_000)
}

fn digits(s: &str, from: usize, to: usize) -> Option<i64> {
    let part = s.get(from..to)?;
    if !part.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_instants() {
        assert_eq!(parse_rfc3339_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_millis("2025-12-31T02:32:45.144Z"),
            Some(1_767_148_365_144)
        );
        // Offsets, nanoseconds, a space separator.
        assert_eq!(
            parse_rfc3339_millis("2025-12-31T04:32:45.144123456+02:00"),
            Some(1_767_148_365_144)
        );
        assert_eq!(
            parse_rfc3339_millis("2025-12-30 21:32:45.1-05:00"),
            Some(1_767_148_365_100)
        );
        assert_eq!(
            parse_rfc3339_millis("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in [
            "",
            "2025-12-31",
            "2025-12-31T02:32:45",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-12-31T24:00:00Z",
            "2025-12-31T02:32:45.Z",
            "2025-12-31T02:32:45+0200",
            "2025-12-31T02:32:45Zjunk",
            "２０２５-12-31T02:32:45Z",
            "1767148365",
        ] {
            assert_eq!(parse_rfc3339_millis(bad), None, "{bad}");
        }
    }

    #[test]
    fn finds_the_next_month() {
        let at = |s: &str| parse_rfc3339_millis(s).unwrap();
        assert_eq!(
            start_of_next_month_utc(at("2025-12-31T23:59:59.999Z")),
            at("2026-01-01T00:00:00Z")
        );
        assert_eq!(
            start_of_next_month_utc(at("2024-02-01T00:00:00Z")),
            at("2024-03-01T00:00:00Z")
        );
        assert_eq!(
            start_of_next_month_utc(at("2025-06-15T12:00:00+05:00")),
            at("2025-07-01T00:00:00Z")
        );
    }

    #[test]
    fn formats_and_round_trips() {
        assert_eq!(format_rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_rfc3339_millis(1_767_148_365_144),
            "2025-12-31T02:32:45.144Z"
        );
        for ms in [
            -86_400_001,
            951_782_400_000,
            1_709_164_800_999,
            4_102_444_800_000,
        ] {
            assert_eq!(parse_rfc3339_millis(&format_rfc3339_millis(ms)), Some(ms));
        }
    }
}
