//! Billing cycles (calendar months, UTC) and days.

use picket_shared::time::{civil_from_days, days_from_civil};

pub const DAY_MS: i64 = 86_400_000;

/// One billing cycle: `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Cycle {
    /// The calendar month (UTC) containing `ms`.
    pub fn containing(ms: i64) -> Cycle {
        let (y, m, _) = civil_from_days(day_of(ms));
        let start = days_from_civil(y, m, 1) * DAY_MS;
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        Cycle {
            start_ms: start,
            end_ms: days_from_civil(ny, nm, 1) * DAY_MS,
        }
    }

    /// The cycle before this one.
    pub fn previous(self) -> Cycle {
        Cycle::containing(self.start_ms - 1)
    }

    /// The cycle `n` cycles before this one.
    pub fn back(self, n: u32) -> Cycle {
        (0..n).fold(self, |c, _| c.previous())
    }

    pub fn len_ms(self) -> i64 {
        self.end_ms - self.start_ms
    }
}

/// Days since 1970-01-01 (UTC) of a Unix-ms instant.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// `YYYY-MM-DD` of a day number.
pub fn date_string(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_shared::time::parse_rfc3339_ms;

    fn at(s: &str) -> i64 {
        parse_rfc3339_ms(s).unwrap()
    }

    #[test]
    fn months_years_and_leap_days() {
        let c = Cycle::containing(at("2024-02-29T23:59:59Z"));
        assert_eq!(
            (c.start_ms, c.end_ms),
            (at("2024-02-01T00:00:00Z"), at("2024-03-01T00:00:00Z"))
        );
        assert_eq!(c.len_ms(), 29 * DAY_MS);
        let dec = Cycle::containing(at("2026-12-31T23:59:59.999Z"));
        assert_eq!(dec.end_ms, at("2027-01-01T00:00:00Z"));
        assert_eq!(Cycle::containing(dec.end_ms).previous(), dec);
        assert_eq!(
            Cycle::containing(at("2026-03-15T00:00:00Z"))
                .back(13)
                .start_ms,
            at("2025-02-01T00:00:00Z")
        );
        assert_eq!(
            date_string(day_of(at("2028-02-29T12:00:00Z"))),
            "2028-02-29"
        );
        assert_eq!(
            Cycle::containing(at("2025-02-10T00:00:00Z")).len_ms(),
            28 * DAY_MS
        );
    }
}
