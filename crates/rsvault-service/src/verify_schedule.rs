//! When a vault's verify job runs: a small calendar, as Proxmox Backup
//! Server writes its verify schedules (`sun 03:00`, `daily 02:30`,
//! `mon..fri 22:00`, `mon,thu 01:00`, `off`), in UTC.
//!
//! Everything here is a pure function of the schedule, the last time
//! handled and now, so the scheduler can be tested without a clock.

use crate::error::{Result, ServiceError};
use jiff::Timestamp;
use jiff::civil::Weekday;

/// The server-wide default: weekly, Sunday 03:00 UTC.
pub const DEFAULT: &str = "sun 03:00";

const DAY_NAMES: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

/// A verify schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifySchedule {
    /// No scheduled verify (on demand only).
    Off,
    /// On the chosen weekdays (Monday first) at `hour:minute` UTC.
    At {
        days: [bool; 7],
        hour: u8,
        minute: u8,
    },
}

impl Default for VerifySchedule {
    fn default() -> Self {
        parse(DEFAULT).expect("the default schedule parses")
    }
}

fn bad(text: &str, why: &str) -> ServiceError {
    ServiceError::bad_request(
        "BMSUserErrorInvalidInput",
        format!(
            "verify schedule '{text}': {why}; write e.g. 'sun 03:00', 'daily 02:30', 'mon..fri 22:00', 'mon,thu 01:00' or 'off' (times in UTC)"
        ),
    )
}

fn day_index(name: &str) -> Option<usize> {
    DAY_NAMES.iter().position(|(n, _)| *n == name)
}

fn parse_days(text: &str, spec: &str) -> Result<[bool; 7]> {
    let mut days = [false; 7];
    match spec {
        "daily" => return Ok([true; 7]),
        "weekly" => {
            days[6] = true;
            return Ok(days);
        }
        _ => {}
    }
    for part in spec.split(',') {
        let (from, to) = part.split_once("..").unwrap_or((part, part));
        let (Some(a), Some(b)) = (day_index(from), day_index(to)) else {
            return Err(bad(text, &format!("'{part}' is not a weekday (mon … sun)")));
        };
        if a > b {
            return Err(bad(text, &format!("the range '{part}' runs backwards")));
        }
        days[a..=b].iter_mut().for_each(|d| *d = true);
    }
    Ok(days)
}

fn parse_time(text: &str, spec: &str) -> Result<(u8, u8)> {
    let err = || bad(text, &format!("'{spec}' is not a time HH:MM"));
    let (h, m) = spec.split_once(':').ok_or_else(err)?;
    match (h.parse::<u8>(), m.parse::<u8>()) {
        (Ok(hour), Ok(minute)) if hour < 24 && minute < 60 && m.len() == 2 => Ok((hour, minute)),
        _ => Err(err()),
    }
}

/// Parses a schedule (case-insensitive). The time defaults to 00:00.
pub fn parse(text: &str) -> Result<VerifySchedule> {
    let lower = text.trim().to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    match words.as_slice() {
        ["off" | "none" | "disabled"] => Ok(VerifySchedule::Off),
        [days] => Ok(VerifySchedule::At {
            days: parse_days(text, days)?,
            hour: 0,
            minute: 0,
        }),
        [days, time] => {
            let (hour, minute) = parse_time(text, time)?;
            Ok(VerifySchedule::At {
                days: parse_days(text, days)?,
                hour,
                minute,
            })
        }
        _ => Err(bad(text, "expected weekdays and a time")),
    }
}

impl std::fmt::Display for VerifySchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let VerifySchedule::At { days, hour, minute } = self else {
            return f.write_str("off");
        };
        let list = if days.iter().all(|d| *d) {
            "daily".to_owned()
        } else {
            DAY_NAMES
                .iter()
                .zip(days)
                .filter(|(_, on)| **on)
                .map(|((n, _), _)| *n)
                .collect::<Vec<_>>()
                .join(",")
        };
        write!(f, "{list} {hour:02}:{minute:02}")
    }
}

/// The schedule's times in `(after, until]`, oldest first.
fn runs_between(s: &VerifySchedule, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
    let VerifySchedule::At { days, hour, minute } = *s else {
        return Vec::new();
    };
    if !days.iter().any(|d| *d) || until <= after {
        return Vec::new();
    }
    // Only the latest time matters to a catch-up: look back at most 8 days.
    let week = jiff::SignedDuration::from_hours(24 * 8);
    let after = after.max(until.checked_sub(week).unwrap_or(after));
    let at = jiff::civil::time(hour as i8, minute as i8, 0, 0);
    crate::policy::schedule::times_between(&jiff::tz::TimeZone::UTC, after, until, |day| {
        let wd = day.weekday().to_monday_zero_offset() as usize;
        if days[wd] {
            vec![day.to_datetime(at)]
        } else {
            Vec::new()
        }
    })
}

/// The latest scheduled time in `(last_handled, now]`: a verify is due.
pub fn due(s: &VerifySchedule, last_handled: Timestamp, now: Timestamp) -> Option<Timestamp> {
    runs_between(s, last_handled, now).pop()
}

/// The next scheduled time after `now`.
pub fn next_run(s: &VerifySchedule, now: Timestamp) -> Option<Timestamp> {
    let until = now
        .checked_add(jiff::SignedDuration::from_hours(24 * 8))
        .ok()?;
    runs_between(s, now, until).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_display_table() {
        for (text, shown) in [
            ("sun 03:00", Some("sun 03:00")),
            ("SUN 3:00", Some("sun 03:00")),
            ("weekly", Some("sun 00:00")),
            ("daily 02:30", Some("daily 02:30")),
            ("mon..sun 01:00", Some("daily 01:00")),
            ("mon..fri 22:00", Some("mon,tue,wed,thu,fri 22:00")),
            ("mon,thu 01:05", Some("mon,thu 01:05")),
            ("off", Some("off")),
            ("Disabled", Some("off")),
            ("fri..mon 01:00", None),
            ("someday 01:00", None),
            ("sun 24:00", None),
            ("sun 03:60", None),
            ("sun 03:5", None),
            ("sun 0300", None),
            ("sun 03:00 extra", None),
            ("", None),
        ] {
            let got = parse(text).ok().map(|s| s.to_string());
            assert_eq!(got.as_deref(), shown, "{text:?}");
        }
        assert_eq!(VerifySchedule::default().to_string(), "sun 03:00");
    }

    #[test]
    fn due_and_next_table() {
        let weekly = parse("sun 03:00").unwrap();
        let daily = parse("daily 02:30").unwrap();
        let off = parse("off").unwrap();
        // 2026-03-29 is a Sunday.
        for (s, after, now, want) in [
            (
                &weekly,
                "2026-03-27T12:00:00Z",
                "2026-03-29T02:59:59Z",
                None,
            ),
            (
                &weekly,
                "2026-03-27T12:00:00Z",
                "2026-03-29T03:00:00Z",
                Some("2026-03-29T03:00:00Z"),
            ),
            // Handled already: not due again.
            (
                &weekly,
                "2026-03-29T03:00:00Z",
                "2026-04-04T23:00:00Z",
                None,
            ),
            // After downtime, one catch-up: the latest time.
            (
                &weekly,
                "2026-01-01T00:00:00Z",
                "2026-04-13T00:00:00Z",
                Some("2026-04-12T03:00:00Z"),
            ),
            (
                &daily,
                "2026-03-27T12:00:00Z",
                "2026-03-30T12:00:00Z",
                Some("2026-03-30T02:30:00Z"),
            ),
            (&off, "2026-01-01T00:00:00Z", "2026-04-13T00:00:00Z", None),
        ] {
            assert_eq!(
                due(s, t(after), t(now)),
                want.map(t),
                "{s} after {after} at {now}"
            );
        }
        for (s, now, want) in [
            (
                &weekly,
                "2026-03-27T12:00:00Z",
                Some("2026-03-29T03:00:00Z"),
            ),
            (
                &weekly,
                "2026-03-29T03:00:00Z",
                Some("2026-04-05T03:00:00Z"),
            ),
            (&daily, "2026-03-29T03:00:00Z", Some("2026-03-30T02:30:00Z")),
            (&off, "2026-03-29T03:00:00Z", None),
        ] {
            assert_eq!(next_run(s, t(now)), want.map(t), "{s} at {now}");
        }
    }
}
