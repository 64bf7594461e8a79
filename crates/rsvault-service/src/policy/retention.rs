//! Which recovery points a policy keeps: a pure function of (policy,
//! points, now).
//!
//! Scheduled points are tagged by the tiers they qualify for, in the
//! policy's local time:
//! - daily: the first point of each day (every point, for hourly schedules),
//!   kept for the daily count of days;
//! - weekly: the first point of a day on one of the weekly days;
//! - monthly: the first point of a day matching the monthly days (dates or
//!   last day, or weekdays of given weeks);
//! - yearly: the same, in one of the yearly months.
//!
//! A point expires when every tier it has has run out. A scheduled point with
//! no tier is kept for the instant-restore window only. An on-demand ("Backup
//! now") point expires at the time the user chose.

use super::model::{MonthDays, Policy, Schedule, WeekOfMonth};
use jiff::civil::{Date, DateTime};
use jiff::{Timestamp, ToSpan};
use std::collections::HashSet;

/// A recovery point as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointInfo {
    pub id: String,
    pub time: Timestamp,
    /// Set for on-demand points: when the user asked it to expire.
    pub on_demand_expiry: Option<Timestamp>,
}

/// A retention tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// The verdict on one point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub id: String,
    pub tiers: Vec<Tier>,
    pub expires: Timestamp,
    /// False once `now` has reached `expires`.
    pub keep: bool,
}

/// The numbered week of a date (days 29 to 31 are in none).
fn week_of_month(d: Date) -> Option<WeekOfMonth> {
    Some(match d.day() {
        1..=7 => WeekOfMonth::First,
        8..=14 => WeekOfMonth::Second,
        15..=21 => WeekOfMonth::Third,
        22..=28 => WeekOfMonth::Fourth,
        _ => return None,
    })
}

fn matches_month_days(days: &MonthDays, d: Date) -> bool {
    match days {
        MonthDays::Daily { dates, last } => {
            dates.contains(&(d.day() as u8)) || (*last && d.day() == d.days_in_month())
        }
        MonthDays::Weekly { days, weeks } => {
            let in_last_week = d.day() > d.days_in_month() - 7;
            days.contains(&d.weekday())
                && (week_of_month(d).is_some_and(|w| weeks.contains(&w))
                    || (in_last_week && weeks.contains(&WeekOfMonth::Last)))
        }
    }
}

fn add(policy: &Policy, local: DateTime, span: jiff::Span) -> Timestamp {
    let end = local.checked_add(span).unwrap_or(DateTime::MAX);
    policy
        .time_zone
        .to_ambiguous_timestamp(end)
        .compatible()
        .unwrap_or(Timestamp::MAX)
}

/// Evaluates retention for every point.
pub fn evaluate(policy: &Policy, points: &[PointInfo], now: Timestamp) -> Vec<Verdict> {
    let hourly = matches!(policy.schedule, Schedule::Hourly { .. });
    // The first scheduled point of each local day.
    let mut sorted: Vec<&PointInfo> = points
        .iter()
        .filter(|p| p.on_demand_expiry.is_none())
        .collect();
    sorted.sort_by_key(|p| p.time);
    let mut seen_days = HashSet::new();
    let first_of_day: HashSet<&str> = sorted
        .iter()
        .filter(|p| seen_days.insert(policy.time_zone.to_datetime(p.time).date()))
        .map(|p| p.id.as_str())
        .collect();
    let r = &policy.retention;
    points
        .iter()
        .map(|p| {
            if let Some(exp) = p.on_demand_expiry {
                return Verdict {
                    id: p.id.clone(),
                    tiers: Vec::new(),
                    expires: exp,
                    keep: now < exp,
                };
            }
            let local = policy.time_zone.to_datetime(p.time);
            let day = local.date();
            let first = first_of_day.contains(p.id.as_str());
            let mut tiers = Vec::new();
            let mut expires = add(policy, local, i64::from(policy.instant_rp_days).days());
            let mut tier = |t: Tier, span: jiff::Span| {
                tiers.push(t);
                expires = expires.max(add(policy, local, span));
            };
            if let Some(n) = r.daily_days
                && (first || hourly)
            {
                tier(Tier::Daily, i64::from(n).days());
            }
            if first {
                if let Some((days, n)) = &r.weekly
                    && days.contains(&day.weekday())
                {
                    tier(Tier::Weekly, i64::from(*n).weeks());
                }
                if let Some((md, n)) = &r.monthly
                    && matches_month_days(md, day)
                {
                    tier(Tier::Monthly, i64::from(*n).months());
                }
                if let Some((months, md, n)) = &r.yearly
                    && months.contains(&day.month())
                    && matches_month_days(md, day)
                {
                    tier(Tier::Yearly, i64::from(*n).years());
                }
            }
            Verdict {
                id: p.id.clone(),
                tiers,
                expires,
                keep: now < expires,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> Policy {
        let t = "2020-01-01T21:00:00Z";
        crate::policy::model::parse_json(&json!({"backupManagementType": "AzureIaasVM", "timeZone": "UTC", "instantRpRetentionRangeInDays": 2,
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": [t]},
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionDuration": {"count": 7, "durationType": "Days"}},
                "weeklySchedule": {"daysOfTheWeek": ["Sunday"], "retentionDuration": {"count": 4, "durationType": "Weeks"}},
                "monthlySchedule": {"retentionScheduleFormatType": "Daily",
                    "retentionScheduleDaily": {"daysOfTheMonth": [{"date": 1}, {"isLast": true}]},
                    "retentionDuration": {"count": 3, "durationType": "Months"}},
                "yearlySchedule": {"retentionScheduleFormatType": "Weekly", "monthsOfYear": ["January"],
                    "retentionScheduleWeekly": {"daysOfTheWeek": ["Sunday"], "weeksOfTheMonth": ["First"]},
                    "retentionDuration": {"count": 2, "durationType": "Years"}}}}))
        .unwrap()
    }

    fn pt(id: &str, t: &str) -> PointInfo {
        PointInfo {
            id: id.into(),
            time: t.parse().unwrap(),
            on_demand_expiry: None,
        }
    }

    #[test]
    fn tiers_and_expiry_table() {
        let p = policy();
        let now: Timestamp = "2026-02-10T00:00:00Z".parse().unwrap();
        let points = vec![
            pt("jan04-sun", "2026-01-04T21:00:00Z"), // first Sunday of January: daily, weekly, yearly
            pt("jan31-sat", "2026-01-31T21:00:00Z"), // last day of the month: daily, monthly
            pt("feb01-sun", "2026-02-01T21:00:00Z"), // 1st and a Sunday: daily, weekly, monthly
            pt("feb01-extra", "2026-02-01T22:00:00Z"), // a second point that day: no tier
            pt("feb05-thu", "2026-02-05T21:00:00Z"), // plain day: daily
            pt("jan20-tue", "2026-01-20T21:00:00Z"), // plain day, long ago: expired
            PointInfo {
                id: "now1".into(),
                time: "2026-01-10T10:00:00Z".parse().unwrap(),
                on_demand_expiry: Some("2026-03-01T00:00:00Z".parse().unwrap()),
            },
            PointInfo {
                id: "now2".into(),
                time: "2026-01-10T11:00:00Z".parse().unwrap(),
                on_demand_expiry: Some("2026-02-01T00:00:00Z".parse().unwrap()),
            },
        ];
        let v = evaluate(&p, &points, now);
        let get = |id: &str| v.iter().find(|x| x.id == id).unwrap();
        let cases: [(&str, &[Tier], &str, bool); 8] = [
            (
                "jan04-sun",
                &[Tier::Daily, Tier::Weekly, Tier::Yearly],
                "2028-01-04T21:00:00Z",
                true,
            ),
            (
                "jan31-sat",
                &[Tier::Daily, Tier::Monthly],
                "2026-04-30T21:00:00Z",
                true,
            ),
            (
                "feb01-sun",
                &[Tier::Daily, Tier::Weekly, Tier::Monthly],
                "2026-05-01T21:00:00Z",
                true,
            ),
            ("feb01-extra", &[], "2026-02-03T22:00:00Z", false),
            ("feb05-thu", &[Tier::Daily], "2026-02-12T21:00:00Z", true),
            ("jan20-tue", &[Tier::Daily], "2026-01-27T21:00:00Z", false),
            ("now1", &[], "2026-03-01T00:00:00Z", true),
            ("now2", &[], "2026-02-01T00:00:00Z", false),
        ];
        for (id, tiers, exp, keep) in cases {
            let got = get(id);
            assert_eq!(got.tiers, tiers, "{id}");
            assert_eq!(got.expires, exp.parse::<Timestamp>().unwrap(), "{id}");
            assert_eq!(got.keep, keep, "{id}");
        }
    }

    #[test]
    fn weeks_of_the_month() {
        let d = |s: &str| s.parse::<Date>().unwrap();
        let last_sunday = MonthDays::Weekly {
            days: vec![jiff::civil::Weekday::Sunday],
            weeks: vec![WeekOfMonth::Last],
        };
        assert!(matches_month_days(&last_sunday, d("2026-05-31")));
        assert!(!matches_month_days(&last_sunday, d("2026-05-24")));
        let fourth = MonthDays::Weekly {
            days: vec![jiff::civil::Weekday::Sunday],
            weeks: vec![WeekOfMonth::Fourth],
        };
        assert!(matches_month_days(&fourth, d("2026-05-24")));
        assert!(
            !matches_month_days(&fourth, d("2026-05-31")),
            "day 29+ is in no numbered week"
        );
        let last_day = MonthDays::Daily {
            dates: vec![],
            last: true,
        };
        assert!(matches_month_days(&last_day, d("2028-02-29")));
        assert!(!matches_month_days(&last_day, d("2028-02-28")));
    }
}
