//! A backup policy, parsed and validated from its ARM body.
//!
//! Parsing enforces Azure's rules (schedule times on :00 or :30, one time,
//! V1/V2 frequencies, hourly windows, instant-restore days, retention
//! ranges); each failure names the field at fault.

use crate::error::{Result, ServiceError};
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use serde_json::Value;

const CODE: &str = "BMSUserErrorInvalidPolicyInput";

fn bad(field: &str, msg: impl std::fmt::Display) -> ServiceError {
    ServiceError::bad_request(CODE, format!("properties.{field}: {msg}"))
}

/// Standard (V1) or Enhanced (V2) policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyVersion {
    V1,
    V2,
}

/// When backups run, in the policy's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every day at `time`.
    Daily { time: Time },
    /// On `days` at `time`.
    Weekly { days: Vec<Weekday>, time: Time },
    /// Every `interval_hours` within a window of `window_hours` starting at
    /// `start` each day (V2 only).
    Hourly {
        interval_hours: u32,
        start: Time,
        window_hours: u32,
    },
}

/// Week of a month, for monthly and yearly retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeekOfMonth {
    First,
    Second,
    Third,
    Fourth,
    Last,
}

/// Which days of a month a monthly or yearly tier keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonthDays {
    /// Dates 1–28, and/or the last day of the month.
    Daily { dates: Vec<u8>, last: bool },
    /// Given weekdays of given weeks.
    Weekly {
        days: Vec<Weekday>,
        weeks: Vec<WeekOfMonth>,
    },
}

/// The retention tiers of a LongTermRetentionPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Retention {
    /// Days each daily point is kept.
    pub daily_days: Option<u32>,
    /// Weekdays kept weekly, and for how many weeks.
    pub weekly: Option<(Vec<Weekday>, u32)>,
    /// Days kept monthly, and for how many months.
    pub monthly: Option<(MonthDays, u32)>,
    /// Months (1–12) and days kept yearly, and for how many years.
    pub yearly: Option<(Vec<i8>, MonthDays, u32)>,
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub version: PolicyVersion,
    pub time_zone: TimeZone,
    pub time_zone_name: String,
    pub schedule: Schedule,
    pub retention: Retention,
    pub instant_rp_days: u32,
}

fn weekday(s: &str, field: &str) -> Result<Weekday> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => return Err(bad(field, format!("'{s}' is not a day of the week"))),
    })
}

fn weekdays(v: &Value, field: &str) -> Result<Vec<Weekday>> {
    let arr = v
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad(field, "at least one day is required"))?;
    let mut out = Vec::new();
    for d in arr {
        let w = weekday(
            d.as_str()
                .ok_or_else(|| bad(field, "days are names such as Monday"))?,
            field,
        )?;
        if !out.contains(&w) {
            out.push(w);
        }
    }
    Ok(out)
}

/// Parses one schedule time: ISO 8601, UTC, on a multiple of 30 minutes.
fn schedule_time(v: &Value, field: &str) -> Result<Time> {
    let s = v
        .as_str()
        .ok_or_else(|| bad(field, "a time such as 2024-01-01T21:00:00Z is required"))?;
    let ts: jiff::Timestamp = s
        .parse()
        .or_else(|_| format!("{s}Z").parse())
        .map_err(|_| bad(field, format!("'{s}' is not an ISO 8601 time")))?;
    let t = TimeZone::UTC.to_datetime(ts).time();
    if t.minute() % 30 != 0 || t.second() != 0 || t.subsec_nanosecond() != 0 {
        return Err(bad(
            field,
            "ScheduleTimes in Schedule should be in UTC Timezone, have ONE time and must be of multiples of 30 Mins",
        ));
    }
    Ok(t)
}

fn one_time(v: &Value, field: &str) -> Result<Time> {
    match v.as_array().map(Vec::as_slice) {
        Some([t]) => schedule_time(t, &format!("{field}[0]")),
        _ => Err(bad(
            field,
            "ScheduleTimes in Schedule should be in UTC Timezone, have ONE time and must be of multiples of 30 Mins",
        )),
    }
}

/// An optional whole number: absent or null is `None`; anything else must
/// be a JSON integer from 0 to `u32::MAX` (never a string, never wrapped).
fn whole(v: &Value, field: &str) -> Result<Option<u32>> {
    if v.is_null() {
        return Ok(None);
    }
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| {
            bad(
                field,
                format!("{v} is not a whole number of the allowed range"),
            )
        })
}

fn count(v: &Value, field: &str, unit: &str, min: u64, max: u64) -> Result<u32> {
    let d = &v["retentionDuration"];
    let c = d["count"].as_u64().ok_or_else(|| {
        bad(
            &format!("{field}.retentionDuration.count"),
            "a count is required",
        )
    })?;
    if let Some(u) = d["durationType"].as_str()
        && !u.eq_ignore_ascii_case(unit)
    {
        return Err(bad(
            &format!("{field}.retentionDuration.durationType"),
            format!("must be {unit}"),
        ));
    }
    if !(min..=max).contains(&c) {
        return Err(bad(
            &format!("{field}.retentionDuration.count"),
            format!("{c} is out of range: {unit} retention must be between {min} and {max}"),
        ));
    }
    u32::try_from(c).map_err(|_| bad(&format!("{field}.retentionDuration.count"), "out of range"))
}

fn retention_times(v: &Value, field: &str, schedule_time: Option<Time>) -> Result<()> {
    if let (Some(arr), Some(want)) = (v["retentionTimes"].as_array(), schedule_time) {
        for (i, t) in arr.iter().enumerate() {
            let got = schedule_time_loose(t).ok_or_else(|| {
                bad(
                    &format!("{field}.retentionTimes[{i}]"),
                    "not an ISO 8601 time",
                )
            })?;
            if got != want {
                return Err(bad(
                    &format!("{field}.retentionTimes[{i}]"),
                    "retention times must equal the schedule time",
                ));
            }
        }
    }
    Ok(())
}

fn schedule_time_loose(v: &Value) -> Option<Time> {
    let s = v.as_str()?;
    let ts: jiff::Timestamp = s.parse().or_else(|_| format!("{s}Z").parse()).ok()?;
    Some(TimeZone::UTC.to_datetime(ts).time())
}

fn month_days(v: &Value, field: &str) -> Result<MonthDays> {
    let fmt = v["retentionScheduleFormatType"]
        .as_str()
        .unwrap_or("Weekly");
    if fmt.eq_ignore_ascii_case("Daily") {
        let arr = v["retentionScheduleDaily"]["daysOfTheMonth"]
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                bad(
                    &format!("{field}.retentionScheduleDaily.daysOfTheMonth"),
                    "at least one day is required",
                )
            })?;
        let (mut dates, mut last) = (Vec::new(), false);
        for (i, d) in arr.iter().enumerate() {
            if d["isLast"].as_bool() == Some(true) {
                last = true;
                continue;
            }
            match d["date"].as_u64() {
                Some(n @ 1..=28) => dates.push(n as u8),
                _ => {
                    return Err(bad(
                        &format!("{field}.retentionScheduleDaily.daysOfTheMonth[{i}].date"),
                        "dates must be 1 to 28, or isLast",
                    ));
                }
            }
        }
        Ok(MonthDays::Daily { dates, last })
    } else if fmt.eq_ignore_ascii_case("Weekly") {
        let w = &v["retentionScheduleWeekly"];
        let days = weekdays(
            &w["daysOfTheWeek"],
            &format!("{field}.retentionScheduleWeekly.daysOfTheWeek"),
        )?;
        let wf = format!("{field}.retentionScheduleWeekly.weeksOfTheMonth");
        let arr = w["weeksOfTheMonth"]
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| bad(&wf, "at least one week is required"))?;
        let mut weeks = Vec::new();
        for x in arr {
            weeks.push(
                match x.as_str().unwrap_or("").to_ascii_lowercase().as_str() {
                    "first" => WeekOfMonth::First,
                    "second" => WeekOfMonth::Second,
                    "third" => WeekOfMonth::Third,
                    "fourth" => WeekOfMonth::Fourth,
                    "last" => WeekOfMonth::Last,
                    other => {
                        return Err(bad(
                            &wf,
                            format!("'{other}' is not First, Second, Third, Fourth or Last"),
                        ));
                    }
                },
            );
        }
        Ok(MonthDays::Weekly { days, weeks })
    } else {
        Err(bad(
            &format!("{field}.retentionScheduleFormatType"),
            "must be Daily or Weekly",
        ))
    }
}

fn month(s: &str) -> Option<i8> {
    const M: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    M.iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as i8 + 1)
}

impl Policy {
    /// Parses and validates a policy's ARM `properties`.
    pub fn parse(p: &Value) -> Result<Policy> {
        match p["backupManagementType"].as_str() {
            Some(t) if t.eq_ignore_ascii_case("AzureIaasVM") => {}
            _ => {
                return Err(bad(
                    "backupManagementType",
                    "must be AzureIaasVM (virtual machine policies)",
                ));
            }
        }
        let version = match p["policyType"].as_str() {
            None => PolicyVersion::V1,
            Some(v) if v.eq_ignore_ascii_case("V1") => PolicyVersion::V1,
            Some(v) if v.eq_ignore_ascii_case("V2") => PolicyVersion::V2,
            Some(v) => return Err(bad("policyType", format!("'{v}' is not V1 or V2"))),
        };
        let tz_name = p["timeZone"].as_str().unwrap_or("UTC").to_owned();
        let time_zone = super::timezone::resolve(&tz_name).ok_or_else(|| {
            bad(
                "timeZone",
                format!("'{tz_name}' is not a known Windows time zone id"),
            )
        })?;
        let sp = &p["schedulePolicy"];
        let spt = sp["schedulePolicyType"].as_str().unwrap_or("");
        let freq = sp["scheduleRunFrequency"]
            .as_str()
            .unwrap_or("")
            .to_ascii_lowercase();
        let schedule = match version {
            PolicyVersion::V1 => {
                if !spt.eq_ignore_ascii_case("SimpleSchedulePolicy") {
                    return Err(bad(
                        "schedulePolicy.schedulePolicyType",
                        "a V1 policy needs SimpleSchedulePolicy",
                    ));
                }
                let time = one_time(&sp["scheduleRunTimes"], "schedulePolicy.scheduleRunTimes")?;
                match freq.as_str() {
                    "daily" => Schedule::Daily { time },
                    "weekly" => Schedule::Weekly {
                        days: weekdays(&sp["scheduleRunDays"], "schedulePolicy.scheduleRunDays")?,
                        time,
                    },
                    "hourly" => {
                        return Err(bad(
                            "schedulePolicy.scheduleRunFrequency",
                            "Hourly backups need an Enhanced policy (policyType V2 with SimpleSchedulePolicyV2)",
                        ));
                    }
                    _ => {
                        return Err(bad(
                            "schedulePolicy.scheduleRunFrequency",
                            "must be Daily or Weekly",
                        ));
                    }
                }
            }
            PolicyVersion::V2 => {
                if !spt.eq_ignore_ascii_case("SimpleSchedulePolicyV2") {
                    return Err(bad(
                        "schedulePolicy.schedulePolicyType",
                        "a V2 policy needs SimpleSchedulePolicyV2",
                    ));
                }
                let present = ["hourlySchedule", "dailySchedule", "weeklySchedule"]
                    .iter()
                    .filter(|k| sp[**k].is_object())
                    .count();
                if present != 1 {
                    return Err(bad(
                        "schedulePolicy",
                        "exactly one of hourlySchedule, dailySchedule and weeklySchedule is required",
                    ));
                }
                match freq.as_str() {
                    "hourly" => {
                        let h = &sp["hourlySchedule"];
                        let f = "schedulePolicy.hourlySchedule";
                        if !h.is_object() {
                            return Err(bad(f, "required when scheduleRunFrequency is Hourly"));
                        }
                        let interval =
                            whole(&h["interval"], &format!("{f}.interval"))?.unwrap_or(0);
                        if ![4, 6, 8, 12, 24].contains(&interval) {
                            return Err(bad(
                                &format!("{f}.interval"),
                                "must be 4, 6, 8, 12 or 24 hours",
                            ));
                        }
                        let wf = format!("{f}.scheduleWindowDuration");
                        let window = whole(&h["scheduleWindowDuration"], &wf)?.unwrap_or(0);
                        if !(4..=24).contains(&window) || window % interval != 0 {
                            return Err(bad(
                                &wf,
                                format!(
                                    "must be 4 to 24 hours and a multiple of the {interval}-hour interval"
                                ),
                            ));
                        }
                        let start = schedule_time(
                            &h["scheduleWindowStartTime"],
                            &format!("{f}.scheduleWindowStartTime"),
                        )?;
                        Schedule::Hourly {
                            interval_hours: interval,
                            start,
                            window_hours: window,
                        }
                    }
                    "daily" => Schedule::Daily {
                        time: one_time(
                            &sp["dailySchedule"]["scheduleRunTimes"],
                            "schedulePolicy.dailySchedule.scheduleRunTimes",
                        )?,
                    },
                    "weekly" => Schedule::Weekly {
                        days: weekdays(
                            &sp["weeklySchedule"]["scheduleRunDays"],
                            "schedulePolicy.weeklySchedule.scheduleRunDays",
                        )?,
                        time: one_time(
                            &sp["weeklySchedule"]["scheduleRunTimes"],
                            "schedulePolicy.weeklySchedule.scheduleRunTimes",
                        )?,
                    },
                    _ => {
                        return Err(bad(
                            "schedulePolicy.scheduleRunFrequency",
                            "must be Hourly, Daily or Weekly",
                        ));
                    }
                }
            }
        };
        let instant_rp_days = match whole(
            &p["instantRpRetentionRangeInDays"],
            "instantRpRetentionRangeInDays",
        )? {
            None => match version {
                PolicyVersion::V1 if matches!(schedule, Schedule::Weekly { .. }) => 5,
                PolicyVersion::V1 => 2,
                PolicyVersion::V2 => 7,
            },
            Some(d) => d,
        };
        let f = "instantRpRetentionRangeInDays";
        match (version, &schedule) {
            (PolicyVersion::V1, Schedule::Weekly { .. }) if instant_rp_days != 5 => {
                return Err(bad(f, "must be 5 for a weekly Standard (V1) policy"));
            }
            (PolicyVersion::V1, _) if !(1..=5).contains(&instant_rp_days) => {
                return Err(bad(
                    f,
                    "must be between 1 and 5 days for a Standard (V1) policy",
                ));
            }
            (PolicyVersion::V2, _) if !(1..=30).contains(&instant_rp_days) => {
                return Err(bad(
                    f,
                    "must be between 1 and 30 days for an Enhanced (V2) policy",
                ));
            }
            _ => {}
        }
        let retention = Self::parse_retention(&p["retentionPolicy"], &schedule)?;
        Ok(Policy {
            version,
            time_zone,
            time_zone_name: tz_name,
            schedule,
            retention,
            instant_rp_days,
        })
    }

    fn parse_retention(r: &Value, schedule: &Schedule) -> Result<Retention> {
        let f = "retentionPolicy";
        if !r["retentionPolicyType"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("LongTermRetentionPolicy"))
        {
            return Err(bad(
                &format!("{f}.retentionPolicyType"),
                "must be LongTermRetentionPolicy",
            ));
        }
        let stime = match schedule {
            Schedule::Daily { time } | Schedule::Weekly { time, .. } => Some(*time),
            Schedule::Hourly { .. } => None,
        };
        let mut ret = Retention::default();
        let d = &r["dailySchedule"];
        if d.is_object() {
            if matches!(schedule, Schedule::Weekly { .. }) {
                return Err(bad(
                    &format!("{f}.dailySchedule"),
                    "a weekly schedule cannot have daily retention",
                ));
            }
            retention_times(d, &format!("{f}.dailySchedule"), stime)?;
            ret.daily_days = Some(count(d, &format!("{f}.dailySchedule"), "Days", 7, 9999)?);
        } else if !matches!(schedule, Schedule::Weekly { .. }) {
            return Err(bad(
                &format!("{f}.dailySchedule"),
                "daily retention is required for daily and hourly schedules",
            ));
        }
        let w = &r["weeklySchedule"];
        if w.is_object() {
            let wf = format!("{f}.weeklySchedule");
            let days = weekdays(&w["daysOfTheWeek"], &format!("{wf}.daysOfTheWeek"))?;
            if let Schedule::Weekly { days: run, .. } = schedule
                && let Some(d) = days.iter().find(|d| !run.contains(d))
            {
                return Err(bad(
                    &format!("{wf}.daysOfTheWeek"),
                    format!("{d:?} is not a day the schedule runs"),
                ));
            }
            retention_times(w, &wf, stime)?;
            ret.weekly = Some((days, count(w, &wf, "Weeks", 1, 5163)?));
        } else if matches!(schedule, Schedule::Weekly { .. }) {
            return Err(bad(
                &format!("{f}.weeklySchedule"),
                "weekly retention is required for weekly schedules",
            ));
        }
        let m = &r["monthlySchedule"];
        if m.is_object() {
            let mf = format!("{f}.monthlySchedule");
            retention_times(m, &mf, stime)?;
            ret.monthly = Some((month_days(m, &mf)?, count(m, &mf, "Months", 1, 1188)?));
        }
        let y = &r["yearlySchedule"];
        if y.is_object() {
            let yf = format!("{f}.yearlySchedule");
            let arr = y["monthsOfYear"]
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    bad(
                        &format!("{yf}.monthsOfYear"),
                        "at least one month is required",
                    )
                })?;
            let mut months = Vec::new();
            for x in arr {
                months.push(x.as_str().and_then(month).ok_or_else(|| {
                    bad(
                        &format!("{yf}.monthsOfYear"),
                        format!("{x} is not a month name"),
                    )
                })?);
            }
            retention_times(y, &yf, stime)?;
            ret.yearly = Some((months, month_days(y, &yf)?, count(y, &yf, "Years", 1, 99)?));
        }
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: &str = "2024-01-01T21:00:00Z";

    fn v1_daily() -> Value {
        json!({"backupManagementType": "AzureIaasVM", "timeZone": "UTC", "instantRpRetentionRangeInDays": 2,
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": [T]},
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionTimes": [T], "retentionDuration": {"count": 30, "durationType": "Days"}},
                "weeklySchedule": {"daysOfTheWeek": ["Sunday"], "retentionTimes": [T], "retentionDuration": {"count": 12, "durationType": "Weeks"}},
                "monthlySchedule": {"retentionScheduleFormatType": "Daily", "retentionScheduleDaily": {"daysOfTheMonth": [{"date": 1}, {"isLast": true}]},
                    "retentionTimes": [T], "retentionDuration": {"count": 12, "durationType": "Months"}},
                "yearlySchedule": {"retentionScheduleFormatType": "Weekly", "monthsOfYear": ["January"],
                    "retentionScheduleWeekly": {"daysOfTheWeek": ["Sunday"], "weeksOfTheMonth": ["First"]},
                    "retentionTimes": [T], "retentionDuration": {"count": 10, "durationType": "Years"}}}})
    }

    fn v1_weekly() -> Value {
        json!({"backupManagementType": "AzureIaasVM", "timeZone": "Pacific Standard Time", "instantRpRetentionRangeInDays": 5,
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Weekly",
                "scheduleRunDays": ["Monday", "Thursday"], "scheduleRunTimes": ["2018-01-24T10:00:00Z"]},
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                "weeklySchedule": {"daysOfTheWeek": ["Monday"], "retentionTimes": ["2018-01-24T10:00:00Z"],
                    "retentionDuration": {"count": 4, "durationType": "Weeks"}}}})
    }

    fn v2_hourly() -> Value {
        json!({"backupManagementType": "AzureIaasVM", "policyType": "V2", "timeZone": "India Standard Time", "instantRpRetentionRangeInDays": 30,
            "schedulePolicy": {"schedulePolicyType": "SimpleSchedulePolicyV2", "scheduleRunFrequency": "Hourly",
                "hourlySchedule": {"interval": 4, "scheduleWindowStartTime": "2021-12-17T08:00:00Z", "scheduleWindowDuration": 16}},
            "retentionPolicy": {"retentionPolicyType": "LongTermRetentionPolicy",
                "dailySchedule": {"retentionTimes": ["2021-12-17T08:00:00+00:00"], "retentionDuration": {"count": 180, "durationType": "Days"}}}})
    }

    #[test]
    fn valid_policies_parse() {
        let p = Policy::parse(&v1_daily()).unwrap();
        assert_eq!(
            p.schedule,
            Schedule::Daily {
                time: Time::constant(21, 0, 0, 0)
            }
        );
        assert_eq!(p.retention.daily_days, Some(30));
        assert_eq!(
            p.retention.monthly.as_ref().unwrap().0,
            MonthDays::Daily {
                dates: vec![1],
                last: true
            }
        );
        assert_eq!(p.retention.yearly.as_ref().unwrap().0, vec![1]);
        let p = Policy::parse(&v1_weekly()).unwrap();
        assert!(matches!(p.schedule, Schedule::Weekly { ref days, .. } if days.len() == 2));
        let p = Policy::parse(&v2_hourly()).unwrap();
        assert_eq!(
            p.schedule,
            Schedule::Hourly {
                interval_hours: 4,
                start: Time::constant(8, 0, 0, 0),
                window_hours: 16
            }
        );
        assert_eq!(p.instant_rp_days, 30);
        Policy::parse(&crate::policy::default_policy_properties()).unwrap();
    }

    /// Each case breaks one rule of a valid policy; the error must name the field.
    #[test]
    fn every_rule_names_its_field() {
        type Edit = fn(&mut Value);
        type Case = (&'static str, fn() -> Value, Edit, &'static str);
        let cases: Vec<Case> = vec![
            (
                "time not on :00/:30",
                v1_daily,
                |p| p["schedulePolicy"]["scheduleRunTimes"] = json!(["2024-01-01T21:15:00Z"]),
                "schedulePolicy.scheduleRunTimes[0]",
            ),
            (
                "two times",
                v1_daily,
                |p| p["schedulePolicy"]["scheduleRunTimes"] = json!([T, "2024-01-01T09:00:00Z"]),
                "schedulePolicy.scheduleRunTimes",
            ),
            (
                "no time",
                v1_daily,
                |p| p["schedulePolicy"]["scheduleRunTimes"] = json!([]),
                "schedulePolicy.scheduleRunTimes",
            ),
            (
                "hourly on V1",
                v1_daily,
                |p| p["schedulePolicy"]["scheduleRunFrequency"] = json!("Hourly"),
                "schedulePolicy.scheduleRunFrequency",
            ),
            (
                "bad frequency",
                v1_daily,
                |p| p["schedulePolicy"]["scheduleRunFrequency"] = json!("Monthly"),
                "schedulePolicy.scheduleRunFrequency",
            ),
            (
                "V1 instant restore 6",
                v1_daily,
                |p| p["instantRpRetentionRangeInDays"] = json!(6),
                "instantRpRetentionRangeInDays",
            ),
            (
                "V1 instant restore 0",
                v1_daily,
                |p| p["instantRpRetentionRangeInDays"] = json!(0),
                "instantRpRetentionRangeInDays",
            ),
            (
                "weekly V1 instant restore 2",
                v1_weekly,
                |p| p["instantRpRetentionRangeInDays"] = json!(2),
                "instantRpRetentionRangeInDays",
            ),
            (
                "daily count 6",
                v1_daily,
                |p| p["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"] = json!(6),
                "retentionPolicy.dailySchedule.retentionDuration.count",
            ),
            (
                "daily count 10000",
                v1_daily,
                |p| {
                    p["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"] =
                        json!(10000)
                },
                "retentionPolicy.dailySchedule.retentionDuration.count",
            ),
            (
                "weekly count 5164",
                v1_daily,
                |p| {
                    p["retentionPolicy"]["weeklySchedule"]["retentionDuration"]["count"] =
                        json!(5164)
                },
                "retentionPolicy.weeklySchedule.retentionDuration.count",
            ),
            (
                "monthly count 1189",
                v1_daily,
                |p| {
                    p["retentionPolicy"]["monthlySchedule"]["retentionDuration"]["count"] =
                        json!(1189)
                },
                "retentionPolicy.monthlySchedule.retentionDuration.count",
            ),
            (
                "yearly count 100",
                v1_daily,
                |p| {
                    p["retentionPolicy"]["yearlySchedule"]["retentionDuration"]["count"] =
                        json!(100)
                },
                "retentionPolicy.yearlySchedule.retentionDuration.count",
            ),
            (
                "monthly date 29",
                v1_daily,
                |p| {
                    p["retentionPolicy"]["monthlySchedule"]["retentionScheduleDaily"]["daysOfTheMonth"] =
                        json!([{"date": 29}])
                },
                "retentionPolicy.monthlySchedule.retentionScheduleDaily.daysOfTheMonth[0].date",
            ),
            (
                "bad week of month",
                v1_daily,
                |p| {
                    p["retentionPolicy"]["yearlySchedule"]["retentionScheduleWeekly"]["weeksOfTheMonth"] =
                        json!(["Fifth"])
                },
                "retentionPolicy.yearlySchedule.retentionScheduleWeekly.weeksOfTheMonth",
            ),
            (
                "bad month",
                v1_daily,
                |p| p["retentionPolicy"]["yearlySchedule"]["monthsOfYear"] = json!(["Smarch"]),
                "retentionPolicy.yearlySchedule.monthsOfYear",
            ),
            (
                "wrong duration unit",
                v1_daily,
                |p| {
                    p["retentionPolicy"]["dailySchedule"]["retentionDuration"]["durationType"] =
                        json!("Weeks")
                },
                "retentionPolicy.dailySchedule.retentionDuration.durationType",
            ),
            (
                "retention time differs",
                v1_daily,
                |p| {
                    p["retentionPolicy"]["dailySchedule"]["retentionTimes"] =
                        json!(["2024-01-01T09:00:00Z"])
                },
                "retentionPolicy.dailySchedule.retentionTimes[0]",
            ),
            (
                "daily missing",
                v1_daily,
                |p| {
                    p["retentionPolicy"]
                        .as_object_mut()
                        .unwrap()
                        .remove("dailySchedule");
                },
                "retentionPolicy.dailySchedule",
            ),
            (
                "weekly schedule with daily retention",
                v1_weekly,
                |p| {
                    p["retentionPolicy"]["dailySchedule"] =
                        json!({"retentionDuration": {"count": 7, "durationType": "Days"}})
                },
                "retentionPolicy.dailySchedule",
            ),
            (
                "weekly retention day not scheduled",
                v1_weekly,
                |p| p["retentionPolicy"]["weeklySchedule"]["daysOfTheWeek"] = json!(["Sunday"]),
                "retentionPolicy.weeklySchedule.daysOfTheWeek",
            ),
            (
                "weekly without days",
                v1_weekly,
                |p| p["schedulePolicy"]["scheduleRunDays"] = json!([]),
                "schedulePolicy.scheduleRunDays",
            ),
            (
                "bad day name",
                v1_weekly,
                |p| p["schedulePolicy"]["scheduleRunDays"] = json!(["Funday"]),
                "schedulePolicy.scheduleRunDays",
            ),
            (
                "unknown time zone",
                v1_daily,
                |p| p["timeZone"] = json!("Mars Standard Time"),
                "timeZone",
            ),
            (
                "not a VM policy",
                v1_daily,
                |p| p["backupManagementType"] = json!("AzureSql"),
                "backupManagementType",
            ),
            (
                "bad policy type",
                v1_daily,
                |p| p["policyType"] = json!("V3"),
                "policyType",
            ),
            (
                "V1 with V2 schedule type",
                v1_daily,
                |p| p["schedulePolicy"]["schedulePolicyType"] = json!("SimpleSchedulePolicyV2"),
                "schedulePolicy.schedulePolicyType",
            ),
            (
                "hourly interval 5",
                v2_hourly,
                |p| p["schedulePolicy"]["hourlySchedule"]["interval"] = json!(5),
                "schedulePolicy.hourlySchedule.interval",
            ),
            (
                "hourly window 18 for 4h",
                v2_hourly,
                |p| p["schedulePolicy"]["hourlySchedule"]["scheduleWindowDuration"] = json!(18),
                "schedulePolicy.hourlySchedule.scheduleWindowDuration",
            ),
            (
                "hourly window 2",
                v2_hourly,
                |p| {
                    p["schedulePolicy"]["hourlySchedule"]["scheduleWindowDuration"] = json!(2);
                },
                "schedulePolicy.hourlySchedule.scheduleWindowDuration",
            ),
            (
                "hourly start 08:10",
                v2_hourly,
                |p| {
                    p["schedulePolicy"]["hourlySchedule"]["scheduleWindowStartTime"] =
                        json!("2021-12-17T08:10:00Z")
                },
                "schedulePolicy.hourlySchedule.scheduleWindowStartTime",
            ),
            (
                "V2 instant restore 31",
                v2_hourly,
                |p| p["instantRpRetentionRangeInDays"] = json!(31),
                "instantRpRetentionRangeInDays",
            ),
            (
                "two V2 schedules",
                v2_hourly,
                |p| p["schedulePolicy"]["dailySchedule"] = json!({"scheduleRunTimes": [T]}),
                "schedulePolicy",
            ),
            (
                "hourly without daily retention",
                v2_hourly,
                |p| {
                    p["retentionPolicy"]
                        .as_object_mut()
                        .unwrap()
                        .remove("dailySchedule");
                },
                "retentionPolicy.dailySchedule",
            ),
            (
                "instant restore -5",
                v1_daily,
                |p| p["instantRpRetentionRangeInDays"] = json!(-5),
                "instantRpRetentionRangeInDays",
            ),
            (
                "instant restore as a string",
                v1_daily,
                |p| p["instantRpRetentionRangeInDays"] = json!("3"),
                "instantRpRetentionRangeInDays",
            ),
            (
                "instant restore 2^32+2",
                v1_daily,
                |p| p["instantRpRetentionRangeInDays"] = json!(4_294_967_298u64),
                "instantRpRetentionRangeInDays",
            ),
            (
                "hourly interval 2^32+4",
                v2_hourly,
                |p| p["schedulePolicy"]["hourlySchedule"]["interval"] = json!(4_294_967_300u64),
                "schedulePolicy.hourlySchedule.interval",
            ),
            (
                "hourly window 2^32+16",
                v2_hourly,
                |p| {
                    p["schedulePolicy"]["hourlySchedule"]["scheduleWindowDuration"] =
                        json!(4_294_967_312u64)
                },
                "schedulePolicy.hourlySchedule.scheduleWindowDuration",
            ),
            (
                "not long-term retention",
                v1_daily,
                |p| p["retentionPolicy"]["retentionPolicyType"] = json!("SimpleRetentionPolicy"),
                "retentionPolicy.retentionPolicyType",
            ),
        ];
        for (what, base, edit, field) in cases {
            let mut p = base();
            edit(&mut p);
            let e = Policy::parse(&p).expect_err(what);
            assert_eq!(e.code(), CODE, "{what}");
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("properties.{field}:")),
                "{what}: {msg}"
            );
        }
    }
}
