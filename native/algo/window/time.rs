//! Event times as epoch milliseconds: from numbers and from RFC 3339 strings.
//!
//! The engine's resolution is the millisecond (REQUIREMENTS: times are epoch ms). Finer
//! parts are dropped toward −∞, which never moves an event to another grid window since
//! window boundaries are whole milliseconds.

use super::MAX_TIME;

/// Why an event time was refused; the message is the error output's reason.
pub type Reason = String;

fn out_of_range(v: impl std::fmt::Display) -> Reason {
    format!("event time {v} ms is beyond ±(2^53 − 1) ms")
}

/// An integer epoch-ms time, checked against ±(2^53 − 1).
pub fn from_i64(v: i64) -> Result<i64, Reason> {
    if v.unsigned_abs() <= MAX_TIME as u64 {
        Ok(v)
    } else {
        Err(out_of_range(v))
    }
}

/// A float epoch-ms time, floored to the millisecond; NaN and ±∞ are refused.
pub fn from_f64(v: f64) -> Result<i64, Reason> {
    if !v.is_finite() {
        return Err(format!("event time {v} is not a finite number"));
    }
    let floor = v.floor();
    if floor.abs() > MAX_TIME as f64 {
        return Err(out_of_range(v));
    }
    Ok(floor as i64)
}

/// Days from 1970-01-01 to the proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (the inverse of
/// [`days_from_civil`]).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Epoch ms of a civil date-time at `offset_s` seconds east of UTC.
pub fn civil_to_ms(
    (year, month, day): (i64, u32, u32),
    (hour, minute, second): (u32, u32, u32),
    millis: u32,
    offset_s: i64,
) -> i64 {
    let secs = days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second)
        - offset_s;
    secs * 1000 + i64::from(millis)
}

/// Parses an RFC 3339 date-time (`2025-01-01T12:00:00.250Z`, `…+02:00`; `t`, `z` and a
/// space separator accepted) to epoch ms. An offset is required: a time without one is
/// ambiguous. Digits past the millisecond are dropped.
pub fn parse_rfc3339(s: &str) -> Result<i64, Reason> {
    let bad = |why: &str| format!("event time '{s}' is not an RFC 3339 date-time: {why}");
    let b = s.as_bytes();
    if b.len() < 19 {
        return Err(bad(
            "too short (expected YYYY-MM-DDTHH:MM:SS and an offset)",
        ));
    }
    let num = |range: std::ops::Range<usize>| -> Result<u32, Reason> {
        let part = &b[range];
        if part.iter().all(u8::is_ascii_digit) {
            Ok(part
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
        } else {
            Err(bad("expected digits"))
        }
    };
    let sep = |i: usize, ok: &[u8]| -> Result<(), Reason> {
        if ok.contains(&b[i]) {
            Ok(())
        } else {
            Err(bad(&format!(
                "unexpected {:?} at position {i}",
                b[i] as char
            )))
        }
    };
    sep(4, b"-")?;
    sep(7, b"-")?;
    sep(10, b"Tt ")?;
    sep(13, b":")?;
    sep(16, b":")?;
    let (year, month, day) = (i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(bad("no such date"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(bad("no such time of day (leap seconds are not accepted)"));
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad("expected digits after the decimal point"));
        }
        for k in 0..3 {
            millis = millis * 10
                + if k < digits {
                    u32::from(b[i + k] - b'0')
                } else {
                    0
                };
        }
        i += digits;
    }
    let offset_s = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(bad("malformed UTC offset"));
            }
            let d = |k: usize| i64::from(digits[k] - b'0');
            let (oh, om) = (d(0) * 10 + d(1), d(2) * 10 + d(3));
            if oh > 23 || om > 59 {
                return Err(bad("UTC offset out of range"));
            }
            let offset = oh * 3600 + om * 60;
            if *sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        [] => return Err(bad("no UTC offset (add Z or ±HH:MM)")),
        _ => return Err(bad("malformed UTC offset")),
    };
    Ok(civil_to_ms(
        (year, month, day),
        (hour, minute, second),
        millis,
        offset_s,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers() {
        assert_eq!(from_i64(25_000), Ok(25_000));
        assert_eq!(from_i64(MAX_TIME), Ok(MAX_TIME));
        assert_eq!(from_i64(-MAX_TIME), Ok(-MAX_TIME));
        assert!(from_i64(MAX_TIME + 1).is_err());
        assert!(from_i64(i64::MIN).is_err());
        assert_eq!(from_f64(9_999.999_6), Ok(9_999));
        assert_eq!(from_f64(-0.5), Ok(-1));
        assert_eq!(from_f64(-0.0), Ok(0));
        for bad in [f64::NAN, f64::INFINITY, -f64::INFINITY, 1e300] {
            assert!(from_f64(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339() {
        let ok = [
            ("1970-01-01T00:00:00Z", 0),
            ("1970-01-01T00:00:25Z", 25_000),
            ("1970-01-01T00:00:00.1Z", 100),
            ("1970-01-01T00:00:00.123999z", 123),
            ("1969-12-31T23:59:59.999Z", -1),
            ("1970-01-01 02:00:00+02:00", 0),
            ("1970-01-01t00:00:00-01:30", 5_400_000),
            ("2025-01-01T00:00:00Z", 1_735_689_600_000),
            ("2024-02-29T12:00:00Z", 1_709_208_000_000),
            ("0000-01-01T00:00:00Z", -62_167_219_200_000),
            ("9999-12-31T23:59:59.999Z", 253_402_300_799_999),
        ];
        for (s, ms) in ok {
            assert_eq!(parse_rfc3339(s), Ok(ms), "{s}");
        }
        let bad = [
            "",
            "2025-01-01",
            "2025-01-01T00:00:00",
            "2025-01-01T00:00:00+0200",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T23:59:60Z",
            "2025-01-01T00:00:00.Z",
            "2025-01-01T00:00:00+24:00",
            "2025-01-01X00:00:00Z",
            "20a5-01-01T00:00:00Z",
            "2025-01-01T00:00:00Zjunk",
            "2025-01-01T00:00:00+02:00 ",
        ];
        for s in bad {
            let err = parse_rfc3339(s).unwrap_err();
            assert!(err.contains("RFC 3339"), "{s}: {err}");
        }
    }

    proptest! {
        #[test]
        fn civil_days_round_trip_through_the_calendar(days in -719_468i64..2_932_896) {
            // Walk back from the day count to a date by brute force per year, then check.
            let mut year = 1970 + days.div_euclid(366);
            while days_from_civil(year + 1, 1, 1) <= days { year += 1; }
            while days_from_civil(year, 1, 1) > days { year -= 1; }
            let mut month = 1;
            while month < 12 && days_from_civil(year, month + 1, 1) <= days { month += 1; }
            let day = (days - days_from_civil(year, month, 1)) as u32 + 1;
            prop_assert!(day <= days_in_month(year, month));
            prop_assert_eq!(days_from_civil(year, month, day), days);
            prop_assert_eq!(civil_from_days(days), (year, month, day));
        }
    }
}
