//! UTC calendar arithmetic without a date crate: Unix milliseconds ⇄ civil dates.
//!
//! Uses Howard Hinnant's days-from-civil algorithm, exact over the proleptic Gregorian
//! calendar for the years a log line can carry.

/// Days since 1970-01-01 of the civil date `y-m-d` (month 1..=12, day 1..=31).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `2024-01-31T10:00:00.123Z` for a Unix-millisecond timestamp.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

fn num(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0i64, |acc, c| {
        acc.checked_mul(10)?.checked_add(i64::from(c - b'0'))
    })
}

fn check_ranges(mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<()> {
    let ok = (1..=12).contains(&mo)
        && (1..=31).contains(&d)
        && (0..=23).contains(&h)
        && (0..=59).contains(&mi)
        && (0..=60).contains(&s);
    ok.then_some(())
}

/// Parses `+hh:mm`, `+hhmm`, `Z` (or nothing) into an offset in seconds.
fn parse_offset(b: &[u8]) -> Option<i64> {
    match b {
        [] | [b'Z'] | [b'z'] => Some(0),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let digits: Vec<u8> = rest.iter().copied().filter(|c| *c != b':').collect();
            if digits.len() != 4 {
                return None;
            }
            let h = num(&digits[..2])?;
            let m = num(&digits[2..])?;
            let off = h * 3600 + m * 60;
            Some(if *sign == b'-' { -off } else { off })
        }
        _ => None,
    }
}

/// Parses ISO 8601 / RFC 3339 (`2024-01-31T10:00:00+00:00`, fractional seconds optional) into
/// Unix milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let (h, mi, sec) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    check_ranges(mo, d, h, mi, sec)?;
    let mut rest = &b[19..];
    let mut millis = 0;
    if let [b'.', tail @ ..] = rest {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let frac = &tail[..n.min(3)];
        millis = num(frac)? * 10i64.pow(3 - frac.len() as u32);
        rest = &tail[n..];
    }
    let off = parse_offset(rest)?;
    let days = days_from_civil(y, mo as u32, d as u32);
    Some((days * 86_400 + h * 3600 + mi * 60 + sec - off) * 1000 + millis)
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Parses nginx's `$time_local` (`10/Oct/2000:13:55:36 -0700`) into Unix milliseconds.
pub fn parse_clf_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let d = num(&b[0..2])?;
    let mo = MONTHS.iter().position(|m| &b[3..6] == m.as_slice())? as i64 + 1;
    let y = num(&b[7..11])?;
    let (h, mi, sec) = (num(&b[12..14])?, num(&b[15..17])?, num(&b[18..20])?);
    check_ranges(mo, d, h, mi, sec)?;
    let off = parse_offset(&b[21..])?;
    let days = days_from_civil(y, mo as u32, d as u32);
    Some((days * 86_400 + h * 3600 + mi * 60 + sec - off) * 1000)
}

/// Parses nginx's `$msec` (`1706695200.123`, seconds with a fractional part) into Unix ms.
pub fn parse_epoch_seconds_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs = num(int.as_bytes())?;
    let frac = &frac.as_bytes()[..frac.len().min(3)];
    let millis = if frac.is_empty() {
        0
    } else {
        num(frac)? * 10i64.pow(3 - frac.len() as u32)
    };
    secs.checked_mul(1000)?.checked_add(millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2024-01-31T10:00:00+00:00"),
            Some(1_706_695_200_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-01-31T12:00:00.5+02:00"),
            Some(1_706_695_200_500)
        );
        assert_eq!(
            parse_clf_ms("31/Jan/2024:03:00:00 -0700"),
            Some(1_706_695_200_000)
        );
        assert_eq!(
            parse_epoch_seconds_ms("1706695200.123"),
            Some(1_706_695_200_123)
        );
        assert_eq!(
            format_rfc3339_ms(1_706_695_200_123),
            "2024-01-31T10:00:00.123Z"
        );
        assert_eq!(
            format_rfc3339_ms(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn garbage_is_rejected() {
        for s in [
            "",
            "2024-13-01T00:00:00Z",
            "2024-01-01",
            "31/Foo/2024:03:00:00 -0700",
            "x.5",
        ] {
            assert!(
                parse_rfc3339_ms(s).is_none() && parse_clf_ms(s).is_none(),
                "{s:?} parsed"
            );
        }
        assert!(parse_epoch_seconds_ms("12a").is_none());
    }

    proptest! {
        #[test]
        fn days_round_trip(z in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(z);
            prop_assert_eq!(days_from_civil(y, m, d), z);
        }

        #[test]
        fn format_then_parse(ms in 0i64..4_102_444_800_000) {
            prop_assert_eq!(parse_rfc3339_ms(&format_rfc3339_ms(ms)), Some(ms));
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = parse_rfc3339_ms(&s);
            let _ = parse_clf_ms(&s);
            let _ = parse_epoch_seconds_ms(&s);
        }
    }
}
