//! XEP-0082 date-time strings, without pulling in a calendar crate for one format.

/// `YYYY-MM-DDThh:mm:ss.sssZ` (UTC) for milliseconds since the Unix epoch.
pub fn datetime(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Why a string is not an XEP-0082 DateTime (`CCYY-MM-DDThh:mm:ss[.s+](Z|±hh:mm)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeError {
    /// Not the shape of the profile (a year of other than four digits, a missing part, text after it).
    Format,
    /// A month or day that does not exist (`2021-02-29`).
    Date,
    /// An hour, minute or second out of range.
    Time,
    /// An offset beyond ±23:59.
    Offset,
}

impl std::fmt::Display for DateTimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Format => "not an XEP-0082 DateTime (CCYY-MM-DDThh:mm:ss[.sss]TZD)",
            Self::Date => "no such date",
            Self::Time => "no such time of day",
            Self::Offset => "the time zone offset is beyond ±23:59",
        })
    }
}

impl std::error::Error for DateTimeError {}

/// Parses an XEP-0082 DateTime (`2010-06-07T00:00:00Z`, optional fraction, `Z` or `±hh:mm`)
/// into milliseconds since the Unix epoch. Strict: exactly the profile's digits, real dates
/// and times (a leap second allowed), offsets within a day; so every accepted string is an
/// instant between the years 0000 and 9999, and no arithmetic on it can overflow.
pub fn parse_datetime(s: &str) -> Result<i64, DateTimeError> {
    let mut at = Cursor(s.as_bytes());
    let year = at.digits(4)?;
    at.expect(b'-')?;
    let month = at.digits(2)?;
    at.expect(b'-')?;
    let day = at.digits(2)?;
    at.expect(b'T')?;
    let hour = at.digits(2)?;
    at.expect(b':')?;
    let minute = at.digits(2)?;
    at.expect(b':')?;
    let second = at.digits(2)?;
    let millis = if at.0.first() == Some(&b'.') {
        at.0 = &at.0[1..];
        at.fraction_ms()?
    } else {
        0
    };
    let offset_min = match at.0 {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let sign = if *sign == b'-' { -1 } else { 1 };
            at.0 = rest;
            let (oh, _, om) = (at.digits(2)?, at.expect(b':')?, at.digits(2)?);
            if !at.0.is_empty() {
                return Err(DateTimeError::Format);
            }
            if oh > 23 || om > 59 {
                return Err(DateTimeError::Offset);
            }
            sign * (oh * 60 + om)
        }
        _ => return Err(DateTimeError::Format),
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(DateTimeError::Date);
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(DateTimeError::Time);
    }
    let days = days_from_civil(year, month as u32, day as u32);
    Ok((days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60) * 1000 + millis)
}

/// What is left of a DateTime being parsed.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    /// Exactly `n` ASCII digits (no sign, no more, no fewer).
    fn digits(&mut self, n: usize) -> Result<i64, DateTimeError> {
        let (head, rest) = self.0.split_at_checked(n).ok_or(DateTimeError::Format)?;
        if !head.iter().all(u8::is_ascii_digit) {
            return Err(DateTimeError::Format);
        }
        self.0 = rest;
        Ok(head.iter().fold(0, |v, d| v * 10 + i64::from(d - b'0')))
    }

    fn expect(&mut self, byte: u8) -> Result<(), DateTimeError> {
        match self.0.split_first() {
            Some((b, rest)) if *b == byte => {
                self.0 = rest;
                Ok(())
            }
            _ => Err(DateTimeError::Format),
        }
    }

    /// The digits of a fraction of a second (at least one), as whole milliseconds.
    fn fraction_ms(&mut self) -> Result<i64, DateTimeError> {
        let n = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return Err(DateTimeError::Format);
        }
        let ms = self.0[..n].iter().chain(b"000").take(3).fold(0, |v, d| v * 10 + i64::from(d - b'0'));
        self.0 = &self.0[n..];
        Ok(ms)
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A proleptic Gregorian date to days since 1970-01-01 (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(datetime(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(datetime(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(datetime(1_795_651_200_000), "2026-11-26T00:00:00.000Z");
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for ms in [0, 951_782_400_123, 1_795_651_200_000, 1_795_700_000_999] {
            assert_eq!(parse_datetime(&datetime(ms)), Ok(ms));
        }
        assert_eq!(parse_datetime("2026-11-26T01:00:00+01:00"), Ok(1_795_651_200_000));
        assert_eq!(parse_datetime("2026-11-25T23:30:00-00:30"), Ok(1_795_651_200_000));
        assert_eq!(parse_datetime("2026-11-26T00:00:00.5Z"), Ok(1_795_651_200_500));
        assert_eq!(parse_datetime("2026-11-26T00:00:00.987654321Z"), Ok(1_795_651_200_987));
        assert_eq!(parse_datetime("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000));
        assert_eq!(parse_datetime("0000-01-01T00:00:00+23:59"), Ok(-62_167_305_540_000));
        assert_eq!(parse_datetime("9999-12-31T23:59:59-23:59"), Ok(253_402_387_139_000));
    }

    #[test]
    fn refuses_everything_outside_the_profile() {
        use DateTimeError::*;
        for (bad, why) in [
            ("", Format),
            ("2026-11-26", Format),
            ("2026-11-26T00:00:00", Format),
            ("xT00:00:00Z", Format),
            ("1000000000000000000-01-01T00:00:00Z", Format),
            ("+2026-11-26T00:00:00Z", Format),
            ("-2026-11-26T00:00:00Z", Format),
            ("2026-1-26T00:00:00Z", Format),
            ("2026-11-26t00:00:00z", Format),
            ("2026-11-26T00:00:00.Z", Format),
            ("2026-11-26T00:00:00Z ", Format),
            ("2026-11-26T00:00:00+01:00Z", Format),
            ("2026-11-26T00:00:00+1:00", Format),
            ("2026-11-26T00:00:00+99999:00", Format),
            ("2026-11-26T00:00:00+24:00", Offset),
            ("2026-11-26T00:00:00-00:60", Offset),
            ("2026-13-01T00:00:00Z", Date),
            ("2026-00-01T00:00:00Z", Date),
            ("2021-02-29T00:00:00Z", Date),
            ("2100-02-29T00:00:00Z", Date),
            ("2026-04-31T00:00:00Z", Date),
            ("2026-11-26T25:00:00Z", Time),
            ("2026-11-26T23:60:00Z", Time),
            ("2026-11-26T23:59:61Z", Time),
        ] {
            assert_eq!(parse_datetime(bad), Err(why), "{bad}");
        }
    }
}
