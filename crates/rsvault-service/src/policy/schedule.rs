//! When a policy's backups run: pure functions of (policy, time).
//!
//! A schedule's time of day is wall-clock time in the policy's time zone,
//! so a 21:00 backup stays at 21:00 local across daylight-saving changes.
//! A local time that does not exist (the spring-forward gap) runs at the
//! first valid moment after it; a local time that happens twice (fall back)
//! runs once, at its first occurrence.

use super::model::{Policy, Schedule};
use jiff::civil::{Date, DateTime};
use jiff::{Timestamp, ToSpan};

/// Scheduled run times in `(after, until]`, oldest first.
pub fn runs_between(policy: &Policy, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
    times_between(&policy.time_zone, after, until, |day| {
        local_runs(&policy.schedule, day)
    })
}

/// The instants in `(after, until]` of the wall-clock times `runs_of(day)`
/// gives for each day in `tz`, oldest first. A local time that does not
/// exist runs at the first valid moment after it; one that happens twice
/// runs at its first occurrence.
pub(crate) fn times_between(
    tz: &jiff::tz::TimeZone,
    after: Timestamp,
    until: Timestamp,
    runs_of: impl Fn(Date) -> Vec<DateTime>,
) -> Vec<Timestamp> {
    if until <= after {
        return Vec::new();
    }
    // One day of slack either side covers offsets and windows past midnight.
    let first = tz
        .to_datetime(after)
        .date()
        .checked_sub(1.day())
        .unwrap_or(Date::MIN);
    let last = tz
        .to_datetime(until)
        .date()
        .checked_add(1.day())
        .unwrap_or(Date::MAX);
    let mut out = Vec::new();
    let mut day = first;
    while day <= last {
        for local in runs_of(day) {
            if let Ok(t) = tz.to_ambiguous_timestamp(local).compatible()
                && t > after
                && t <= until
            {
                out.push(t);
            }
        }
        match day.checked_add(1.day()) {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Local run times that start on `day`.
fn local_runs(schedule: &Schedule, day: Date) -> Vec<DateTime> {
    match schedule {
        Schedule::Daily { time } => vec![day.to_datetime(*time)],
        Schedule::Weekly { days, time } => {
            if days.contains(&day.weekday()) {
                vec![day.to_datetime(*time)]
            } else {
                Vec::new()
            }
        }
        Schedule::Hourly {
            interval_hours,
            start,
            window_hours,
        } => {
            let begin = day.to_datetime(*start);
            (0..window_hours / interval_hours)
                .filter_map(|k| {
                    begin
                        .checked_add(i64::from(k * interval_hours).hours())
                        .ok()
                })
                .collect()
        }
    }
}

/// The first scheduled time after `after` (searching up to 8 days ahead,
/// which covers every schedule).
pub fn next_run(policy: &Policy, after: Timestamp) -> Option<Timestamp> {
    let until = after
        .checked_add(jiff::SignedDuration::from_hours(24 * 8))
        .ok()?;
    runs_between(policy, after, until).into_iter().next()
}

/// What the scheduler runs at `now` when it last looked at `last_checked`:
/// the latest scheduled time in between, once — after downtime it catches up
/// with one backup, not one per missed slot.
pub fn due(policy: &Policy, last_checked: Timestamp, now: Timestamp) -> Option<Timestamp> {
    runs_between(policy, last_checked, now).pop()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(tz: &str, schedule: serde_json::Value, v2: bool) -> Policy {
        let daily = json!({"retentionDuration": {"count": 30, "durationType": "Days"}});
        let weekly_days = schedule.get("scheduleRunDays").cloned();
        let mut ret = json!({"retentionPolicyType": "LongTermRetentionPolicy"});
        match &weekly_days {
            Some(days) => {
                ret["weeklySchedule"] = json!({"daysOfTheWeek": days, "retentionDuration": {"count": 4, "durationType": "Weeks"}})
            }
            None => ret["dailySchedule"] = daily,
        }
        let mut p = json!({"backupManagementType": "AzureIaasVM", "timeZone": tz, "schedulePolicy": schedule, "retentionPolicy": ret});
        if v2 {
            p["policyType"] = json!("V2");
        } else if weekly_days.is_some() {
            p["instantRpRetentionRangeInDays"] = json!(5);
        }
        crate::policy::model::parse_json(&p).unwrap()
    }

    fn daily(tz: &str, hhmm: &str) -> Policy {
        policy(
            tz,
            json!({"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": [format!("2020-01-01T{hhmm}:00Z")]}),
            false,
        )
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn next_run_table() {
        let la = "Pacific Standard Time";
        let cases = [
            // (zone, local time of day, after, expected next run in UTC)
            (
                "UTC",
                "21:00",
                "2026-01-01T20:00:00Z",
                "2026-01-01T21:00:00Z",
            ),
            (
                "UTC",
                "21:00",
                "2026-01-01T21:00:00Z",
                "2026-01-02T21:00:00Z",
            ),
            // Spring forward in Los Angeles on 2026-03-08: 21:00 PST, then 21:00 PDT.
            (la, "21:00", "2026-03-07T12:00:00Z", "2026-03-08T05:00:00Z"),
            (la, "21:00", "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"),
            // Fall back on 2026-11-01: 21:00 PDT, then 21:00 PST.
            (la, "21:00", "2026-10-31T12:00:00Z", "2026-11-01T04:00:00Z"),
            (la, "21:00", "2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"),
            // 02:00 does not exist on 2026-03-08: it runs at 03:00 PDT.
            (la, "02:00", "2026-03-08T00:00:00Z", "2026-03-08T10:00:00Z"),
            // 01:30 happens twice on 2026-11-01: it runs once, at the first (PDT).
            (la, "01:30", "2026-11-01T00:00:00Z", "2026-11-01T08:30:00Z"),
            (la, "01:30", "2026-11-01T08:30:00Z", "2026-11-02T09:30:00Z"),
            // India has no daylight saving: +05:30 all year.
            (
                "India Standard Time",
                "08:00",
                "2026-06-01T00:00:00Z",
                "2026-06-01T02:30:00Z",
            ),
        ];
        for (tz, hhmm, after, want) in cases {
            assert_eq!(
                next_run(&daily(tz, hhmm), ts(after)),
                Some(ts(want)),
                "{tz} {hhmm} after {after}"
            );
        }
    }

    #[test]
    fn weekly_and_hourly_schedules() {
        let weekly = policy(
            "Tokyo Standard Time",
            json!({"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Weekly",
                "scheduleRunDays": ["Monday", "Thursday"], "scheduleRunTimes": ["2020-01-01T10:00:00Z"]}),
            false,
        );
        // 2026-11-23 is a Monday. 10:00 JST = 01:00Z.
        let runs = runs_between(
            &weekly,
            ts("2026-11-22T00:00:00Z"),
            ts("2026-12-01T00:00:00Z"),
        );
        assert_eq!(
            runs,
            vec![
                ts("2026-11-23T01:00:00Z"),
                ts("2026-11-26T01:00:00Z"),
                ts("2026-11-30T01:00:00Z")
            ]
        );

        let hourly = |start: &str, window: u32| {
            policy(
                "India Standard Time",
                json!({"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Hourly",
                    "hourlySchedule": {"interval": 4, "scheduleWindowStartTime": format!("2021-12-17T{start}:00Z"), "scheduleWindowDuration": window}}),
                true,
            )
        };
        let runs = runs_between(
            &hourly("08:00", 16),
            ts("2026-06-01T00:00:00Z"),
            ts("2026-06-02T00:00:00Z"),
        );
        let want: Vec<Timestamp> = ["02:30", "06:30", "10:30", "14:30"]
            .iter()
            .map(|t| ts(&format!("2026-06-01T{t}:00Z")))
            .collect();
        assert_eq!(runs, want, "08, 12, 16 and 20 IST");
        // A window across midnight: 20:00 and 00:00 IST.
        let runs = runs_between(
            &hourly("20:00", 8),
            ts("2026-06-01T12:00:00Z"),
            ts("2026-06-02T12:00:00Z"),
        );
        assert_eq!(
            runs,
            vec![ts("2026-06-01T14:30:00Z"), ts("2026-06-01T18:30:00Z")]
        );
    }

    #[test]
    fn catching_up_after_downtime_runs_once() {
        let p = daily("UTC", "21:00");
        // Down from Monday to Thursday night: four slots missed, one backup.
        assert_eq!(
            runs_between(&p, ts("2026-11-23T00:00:00Z"), ts("2026-11-26T23:00:00Z")).len(),
            4
        );
        assert_eq!(
            due(&p, ts("2026-11-23T00:00:00Z"), ts("2026-11-26T23:00:00Z")),
            Some(ts("2026-11-26T21:00:00Z"))
        );
        assert_eq!(
            due(&p, ts("2026-11-26T21:00:00Z"), ts("2026-11-26T23:00:00Z")),
            None
        );
        assert_eq!(
            due(&p, ts("2026-11-26T23:00:00Z"), ts("2026-11-26T22:00:00Z")),
            None,
            "clock went back"
        );
    }
}
