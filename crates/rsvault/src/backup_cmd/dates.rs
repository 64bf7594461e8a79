//! Dates as `az backup` takes them (`31-12-2017`, `31-12-2017-05:30:00`,
//! UTC) and as it writes them into `$filter`s and requests.

use anyhow::{Result, bail};
use jiff::civil::DateTime;

/// Parses an `az`-style UTC date; ISO dates (`2017-12-31`,
/// `2017-12-31T05:30:00Z`) are accepted too.
pub fn parse(s: &str) -> Result<DateTime> {
    let s = s.trim();
    for fmt in [
        "%d-%m-%Y-%H:%M:%S",
        "%d-%m-%Y %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(t) = DateTime::strptime(fmt, s) {
            return Ok(t);
        }
    }
    if let Ok(d) = jiff::civil::Date::strptime("%d-%m-%Y", s) {
        return Ok(d.to_datetime(jiff::civil::Time::midnight()));
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return Ok(d.to_datetime(jiff::civil::Time::midnight()));
    }
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(jiff::tz::TimeZone::UTC.to_datetime(t));
    }
    bail!("Input '{s}' is not valid. Valid example: 31-12-2017, 31-12-2017-05:30:00")
}

/// Whether the text names a whole day (no time of day).
pub fn is_day(s: &str) -> bool {
    let s = s.trim();
    jiff::civil::Date::strptime("%d-%m-%Y", s).is_ok() || s.parse::<jiff::civil::Date>().is_ok()
}

/// The last second of a day given as a date (an end date includes its
/// whole day); a time given with a date is kept.
pub fn parse_end(s: &str) -> Result<DateTime> {
    let t = parse(s)?;
    Ok(if is_day(s) {
        t.date().to_datetime(jiff::civil::time(23, 59, 59, 0))
    } else {
        t
    })
}

/// The `$filter` form `az` sends: `2016-01-01 00:00:00 AM`… in its
/// `%Y-%m-%d %I:%M:%S %p` format.
pub fn filter(t: DateTime) -> String {
    t.strftime("%Y-%m-%d %I:%M:%S %p").to_string()
}

/// ISO 8601 UTC, as request bodies carry times.
pub fn iso(t: DateTime) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string()
}

/// The range `az` queries when one end is missing: 30 days from the other.
pub fn range(start: Option<&str>, end: Option<&str>) -> Result<Option<(DateTime, DateTime)>> {
    let month = jiff::Span::new().days(30);
    let r = match (start, end) {
        (None, None) => None,
        (Some(s), Some(e)) => Some((parse(s)?, parse_end(e)?)),
        (Some(s), None) => {
            let s = parse(s)?;
            Some((s, s.checked_add(month)?))
        }
        (None, Some(e)) => {
            let e = parse_end(e)?;
            Some((e.checked_sub(month)?, e))
        }
    };
    if let Some((s, e)) = r
        && s > e
    {
        bail!("--start-date must not be after --end-date");
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn az_formats() {
        let t = parse("31-12-2017").unwrap();
        assert_eq!(iso(t), "2017-12-31T00:00:00.000Z");
        assert_eq!(
            filter(parse("01-01-2016").unwrap()),
            "2016-01-01 12:00:00 AM"
        );
        assert_eq!(
            filter(parse("31-12-2017-13:30:00").unwrap()),
            "2017-12-31 01:30:00 PM"
        );
        assert_eq!(
            iso(parse("2017-12-31").unwrap()),
            "2017-12-31T00:00:00.000Z"
        );
        assert_eq!(
            iso(parse_end("31-12-2017").unwrap()),
            "2017-12-31T23:59:59.000Z"
        );
        assert!(parse("2017/12/31").is_err());
        assert!(parse("32-01-2017").is_err());
    }

    #[test]
    fn ranges_fill_thirty_days() {
        let (s, e) = range(Some("01-01-2020"), None).unwrap().unwrap();
        assert_eq!(
            (iso(s), iso(e)),
            (
                "2020-01-01T00:00:00.000Z".into(),
                "2020-01-31T00:00:00.000Z".into()
            )
        );
        assert!(range(None, None).unwrap().is_none());
        assert!(range(Some("02-01-2020"), Some("01-01-2020")).is_err());
    }
}
