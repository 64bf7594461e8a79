//! A backup policy, parsed and validated from its typed ARM `properties`.
//!
//! Parsing enforces Azure's rules (schedule times on :00 or :30, one time,
//! V1/V2 frequencies, hourly windows, instant-restore days, retention
//! ranges); each failure names the field at fault. (A field of the wrong
//! JSON type does not read into the model; the server names it with the
//! same code.)

use crate::error::{Result, ServiceError};
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use rsvault_arm::common::{DayOfWeek, MonthOfYear, WeekOfMonth as ArmWeek};
use rsvault_arm::policy::{
    Day, IaasVmPolicyType, ProtectionPolicy, RetentionDuration, RetentionPolicy,
    RetentionScheduleFormat, SchedulePolicy, ScheduleRunType, WeeklyRetentionFormat,
};

const CODE: &str = super::INVALID_POLICY;

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

fn weekday(d: &DayOfWeek, field: &str) -> Result<Weekday> {
    Ok(match d {
        DayOfWeek::Monday => Weekday::Monday,
        DayOfWeek::Tuesday => Weekday::Tuesday,
        DayOfWeek::Wednesday => Weekday::Wednesday,
        DayOfWeek::Thursday => Weekday::Thursday,
        DayOfWeek::Friday => Weekday::Friday,
        DayOfWeek::Saturday => Weekday::Saturday,
        DayOfWeek::Sunday => Weekday::Sunday,
        DayOfWeek::Other(s) => return Err(bad(field, format!("'{s}' is not a day of the week"))),
    })
}

fn weekdays(v: Option<&Vec<DayOfWeek>>, field: &str) -> Result<Vec<Weekday>> {
    let arr = v
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad(field, "at least one day is required"))?;
    let mut out = Vec::new();
    for d in arr {
        let w = weekday(d, field)?;
        if !out.contains(&w) {
            out.push(w);
        }
    }
    Ok(out)
}

/// Parses one schedule time: ISO 8601, UTC, on a multiple of 30 minutes.
fn schedule_time(v: Option<&str>, field: &str) -> Result<Time> {
    let s = v.ok_or_else(|| bad(field, "a time such as 2024-01-01T21:00:00Z is required"))?;
    let t = schedule_time_loose(s)
        .ok_or_else(|| bad(field, format!("'{s}' is not an ISO 8601 time")))?;
    if t.minute() % 30 != 0 || t.second() != 0 || t.subsec_nanosecond() != 0 {
        return Err(bad(
            field,
            "ScheduleTimes in Schedule should be in UTC Timezone, have ONE time and must be of multiples of 30 Mins",
        ));
    }
    Ok(t)
}

fn one_time(v: Option<&Vec<String>>, field: &str) -> Result<Time> {
    match v.map(Vec::as_slice) {
        Some([t]) => schedule_time(Some(t), &format!("{field}[0]")),
        _ => Err(bad(
            field,
            "ScheduleTimes in Schedule should be in UTC Timezone, have ONE time and must be of multiples of 30 Mins",
        )),
    }
}

fn count(
    d: Option<&RetentionDuration>,
    field: &str,
    unit: &str,
    min: u32,
    max: u32,
) -> Result<u32> {
    let c = d.and_then(|d| d.count).ok_or_else(|| {
        bad(
            &format!("{field}.retentionDuration.count"),
            "a count is required",
        )
    })?;
    if let Some(u) = d.and_then(|d| d.duration_type.as_ref())
        && !u.as_str().eq_ignore_ascii_case(unit)
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
    Ok(c)
}

fn retention_times(
    times: Option<&Vec<String>>,
    field: &str,
    schedule_time: Option<Time>,
) -> Result<()> {
    if let (Some(arr), Some(want)) = (times, schedule_time) {
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

fn schedule_time_loose(s: &str) -> Option<Time> {
    let ts: jiff::Timestamp = s.parse().or_else(|_| format!("{s}Z").parse()).ok()?;
    Some(TimeZone::UTC.to_datetime(ts).time())
}

/// The days of a monthly or yearly tier, in its format (weekly when none
/// is named).
fn month_days(
    format: Option<&RetentionScheduleFormat>,
    daily: Option<&[Day]>,
    weekly: Option<&WeeklyRetentionFormat>,
    field: &str,
) -> Result<MonthDays> {
    match format.unwrap_or(&RetentionScheduleFormat::Weekly) {
        RetentionScheduleFormat::Daily => {
            let arr = daily.filter(|a| !a.is_empty()).ok_or_else(|| {
                bad(
                    &format!("{field}.retentionScheduleDaily.daysOfTheMonth"),
                    "at least one day is required",
                )
            })?;
            let (mut dates, mut last) = (Vec::new(), false);
            for (i, d) in arr.iter().enumerate() {
                if d.is_last == Some(true) {
                    last = true;
                    continue;
                }
                match d.date.and_then(|n| u8::try_from(n).ok()) {
                    Some(n @ 1..=28) => dates.push(n),
                    _ => {
                        return Err(bad(
                            &format!("{field}.retentionScheduleDaily.daysOfTheMonth[{i}].date"),
                            "dates must be 1 to 28, or isLast",
                        ));
                    }
                }
            }
            Ok(MonthDays::Daily { dates, last })
        }
        RetentionScheduleFormat::Weekly => {
            let days = weekdays(
                weekly.and_then(|w| w.days_of_the_week.as_ref()),
                &format!("{field}.retentionScheduleWeekly.daysOfTheWeek"),
            )?;
            let wf = format!("{field}.retentionScheduleWeekly.weeksOfTheMonth");
            let arr = weekly
                .and_then(|w| w.weeks_of_the_month.as_ref())
                .filter(|a| !a.is_empty())
                .ok_or_else(|| bad(&wf, "at least one week is required"))?;
            let mut weeks = Vec::new();
            for x in arr {
                weeks.push(match x {
                    ArmWeek::First => WeekOfMonth::First,
                    ArmWeek::Second => WeekOfMonth::Second,
                    ArmWeek::Third => WeekOfMonth::Third,
                    ArmWeek::Fourth => WeekOfMonth::Fourth,
                    ArmWeek::Last => WeekOfMonth::Last,
                    other => {
                        return Err(bad(
                            &wf,
                            format!(
                                "'{}' is not First, Second, Third, Fourth or Last",
                                other.as_str().to_ascii_lowercase()
                            ),
                        ));
                    }
                });
            }
            Ok(MonthDays::Weekly { days, weeks })
        }
        _ => Err(bad(
            &format!("{field}.retentionScheduleFormatType"),
            "must be Daily or Weekly",
        )),
    }
}

/// A month's number (1–12).
fn month(m: &MonthOfYear) -> Option<i8> {
    Some(match m {
        MonthOfYear::January => 1,
        MonthOfYear::February => 2,
        MonthOfYear::March => 3,
        MonthOfYear::April => 4,
        MonthOfYear::May => 5,
        MonthOfYear::June => 6,
        MonthOfYear::July => 7,
        MonthOfYear::August => 8,
        MonthOfYear::September => 9,
        MonthOfYear::October => 10,
        MonthOfYear::November => 11,
        MonthOfYear::December => 12,
        MonthOfYear::Invalid | MonthOfYear::Other(_) => return None,
    })
}

impl Policy {
    /// Parses and validates a policy's ARM `properties`.
    pub fn parse(p: &ProtectionPolicy) -> Result<Policy> {
        let Some(p) = p.as_iaas_vm() else {
            return Err(bad(
                "backupManagementType",
                "must be AzureIaasVM (virtual machine policies)",
            ));
        };
        let version = match &p.policy_type {
            None | Some(IaasVmPolicyType::V1) => PolicyVersion::V1,
            Some(IaasVmPolicyType::V2) => PolicyVersion::V2,
            Some(v) => return Err(bad("policyType", format!("'{v}' is not V1 or V2"))),
        };
        let tz_name = p.time_zone.clone().unwrap_or_else(|| "UTC".into());
        let time_zone = super::timezone::resolve(&tz_name).ok_or_else(|| {
            bad(
                "timeZone",
                format!("'{tz_name}' is not a known Windows time zone id"),
            )
        })?;
        let schedule = match (version, &p.schedule_policy) {
            (PolicyVersion::V1, Some(SchedulePolicy::Simple(sp))) => {
                let time = one_time(
                    sp.schedule_run_times.as_ref(),
                    "schedulePolicy.scheduleRunTimes",
                )?;
                match sp.schedule_run_frequency {
                    Some(ScheduleRunType::Daily) => Schedule::Daily { time },
                    Some(ScheduleRunType::Weekly) => Schedule::Weekly {
                        days: weekdays(
                            sp.schedule_run_days.as_ref(),
                            "schedulePolicy.scheduleRunDays",
                        )?,
                        time,
                    },
                    Some(ScheduleRunType::Hourly) => {
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
            (PolicyVersion::V1, _) => {
                return Err(bad(
                    "schedulePolicy.schedulePolicyType",
                    "a V1 policy needs SimpleSchedulePolicy",
                ));
            }
            (PolicyVersion::V2, Some(SchedulePolicy::SimpleV2(sp))) => {
                let present = [
                    sp.hourly_schedule.is_some(),
                    sp.daily_schedule.is_some(),
                    sp.weekly_schedule.is_some(),
                ]
                .iter()
                .filter(|p| **p)
                .count();
                if present != 1 {
                    return Err(bad(
                        "schedulePolicy",
                        "exactly one of hourlySchedule, dailySchedule and weeklySchedule is required",
                    ));
                }
                match sp.schedule_run_frequency {
                    Some(ScheduleRunType::Hourly) => {
                        let f = "schedulePolicy.hourlySchedule";
                        let Some(h) = &sp.hourly_schedule else {
                            return Err(bad(f, "required when scheduleRunFrequency is Hourly"));
                        };
                        let interval = h.interval.unwrap_or(0);
                        if ![4, 6, 8, 12, 24].contains(&interval) {
                            return Err(bad(
                                &format!("{f}.interval"),
                                "must be 4, 6, 8, 12 or 24 hours",
                            ));
                        }
                        let window = h.schedule_window_duration.unwrap_or(0);
                        if !(4..=24).contains(&window) || window % interval != 0 {
                            return Err(bad(
                                &format!("{f}.scheduleWindowDuration"),
                                format!(
                                    "must be 4 to 24 hours and a multiple of the {interval}-hour interval"
                                ),
                            ));
                        }
                        let start = schedule_time(
                            h.schedule_window_start_time.as_deref(),
                            &format!("{f}.scheduleWindowStartTime"),
                        )?;
                        Schedule::Hourly {
                            interval_hours: interval,
                            start,
                            window_hours: window,
                        }
                    }
                    Some(ScheduleRunType::Daily) => Schedule::Daily {
                        time: one_time(
                            sp.daily_schedule
                                .as_ref()
                                .and_then(|d| d.schedule_run_times.as_ref()),
                            "schedulePolicy.dailySchedule.scheduleRunTimes",
                        )?,
                    },
                    Some(ScheduleRunType::Weekly) => {
                        let w = sp.weekly_schedule.as_ref();
                        Schedule::Weekly {
                            days: weekdays(
                                w.and_then(|w| w.schedule_run_days.as_ref()),
                                "schedulePolicy.weeklySchedule.scheduleRunDays",
                            )?,
                            time: one_time(
                                w.and_then(|w| w.schedule_run_times.as_ref()),
                                "schedulePolicy.weeklySchedule.scheduleRunTimes",
                            )?,
                        }
                    }
                    _ => {
                        return Err(bad(
                            "schedulePolicy.scheduleRunFrequency",
                            "must be Hourly, Daily or Weekly",
                        ));
                    }
                }
            }
            (PolicyVersion::V2, _) => {
                return Err(bad(
                    "schedulePolicy.schedulePolicyType",
                    "a V2 policy needs SimpleSchedulePolicyV2",
                ));
            }
        };
        let instant_rp_days = match p.instant_rp_retention_range_in_days {
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
        let retention = Self::parse_retention(p.retention_policy.as_ref(), &schedule)?;
        Ok(Policy {
            version,
            time_zone,
            time_zone_name: tz_name,
            schedule,
            retention,
            instant_rp_days,
        })
    }

    fn parse_retention(r: Option<&RetentionPolicy>, schedule: &Schedule) -> Result<Retention> {
        let f = "retentionPolicy";
        let Some(RetentionPolicy::LongTerm(r)) = r else {
            return Err(bad(
                &format!("{f}.retentionPolicyType"),
                "must be LongTermRetentionPolicy",
            ));
        };
        let stime = match schedule {
            Schedule::Daily { time } | Schedule::Weekly { time, .. } => Some(*time),
            Schedule::Hourly { .. } => None,
        };
        let weekly_schedule = matches!(schedule, Schedule::Weekly { .. });
        let mut ret = Retention::default();
        if let Some(d) = &r.daily_schedule {
            let df = format!("{f}.dailySchedule");
            if weekly_schedule {
                return Err(bad(&df, "a weekly schedule cannot have daily retention"));
            }
            retention_times(d.retention_times.as_ref(), &df, stime)?;
            ret.daily_days = Some(count(d.retention_duration.as_ref(), &df, "Days", 7, 9999)?);
        } else if !weekly_schedule {
            return Err(bad(
                &format!("{f}.dailySchedule"),
                "daily retention is required for daily and hourly schedules",
            ));
        }
        if let Some(w) = &r.weekly_schedule {
            let wf = format!("{f}.weeklySchedule");
            let days = weekdays(w.days_of_the_week.as_ref(), &format!("{wf}.daysOfTheWeek"))?;
            if let Schedule::Weekly { days: run, .. } = schedule
                && let Some(d) = days.iter().find(|d| !run.contains(d))
            {
                return Err(bad(
                    &format!("{wf}.daysOfTheWeek"),
                    format!("{d:?} is not a day the schedule runs"),
                ));
            }
            retention_times(w.retention_times.as_ref(), &wf, stime)?;
            ret.weekly = Some((
                days,
                count(w.retention_duration.as_ref(), &wf, "Weeks", 1, 5163)?,
            ));
        } else if weekly_schedule {
            return Err(bad(
                &format!("{f}.weeklySchedule"),
                "weekly retention is required for weekly schedules",
            ));
        }
        if let Some(m) = &r.monthly_schedule {
            let mf = format!("{f}.monthlySchedule");
            retention_times(m.retention_times.as_ref(), &mf, stime)?;
            let days = month_days(
                m.retention_schedule_format_type.as_ref(),
                m.retention_schedule_daily
                    .as_ref()
                    .and_then(|d| d.days_of_the_month.as_deref()),
                m.retention_schedule_weekly.as_ref(),
                &mf,
            )?;
            ret.monthly = Some((
                days,
                count(m.retention_duration.as_ref(), &mf, "Months", 1, 1188)?,
            ));
        }
        if let Some(y) = &r.yearly_schedule {
            let yf = format!("{f}.yearlySchedule");
            let arr = y
                .months_of_year
                .as_ref()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    bad(
                        &format!("{yf}.monthsOfYear"),
                        "at least one month is required",
                    )
                })?;
            let mut months = Vec::new();
            for x in arr {
                months.push(month(x).ok_or_else(|| {
                    bad(
                        &format!("{yf}.monthsOfYear"),
                        format!("{:?} is not a month name", x.as_str()),
                    )
                })?);
            }
            retention_times(y.retention_times.as_ref(), &yf, stime)?;
            let days = month_days(
                y.retention_schedule_format_type.as_ref(),
                y.retention_schedule_daily
                    .as_ref()
                    .and_then(|d| d.days_of_the_month.as_deref()),
                y.retention_schedule_weekly.as_ref(),
                &yf,
            )?;
            ret.yearly = Some((
                months,
                days,
                count(y.retention_duration.as_ref(), &yf, "Years", 1, 99)?,
            ));
        }
        Ok(ret)
    }
}

/// Reads a policy's JSON `properties` into their model and validates them,
/// naming a field of the wrong type as the server does (for tests that
/// write policies as JSON).
#[cfg(test)]
pub(crate) fn parse_json(p: &serde_json::Value) -> Result<Policy> {
    let typed: ProtectionPolicy =
        rsvault_arm::de::from_value(p.clone()).map_err(|e| bad(&e.path, e.message))?;
    Policy::parse(&typed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

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
        let p = parse_json(&v1_daily()).unwrap();
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
        let p = parse_json(&v1_weekly()).unwrap();
        assert!(matches!(p.schedule, Schedule::Weekly { ref days, .. } if days.len() == 2));
        let p = parse_json(&v2_hourly()).unwrap();
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
            let e = parse_json(&p).expect_err(what);
            assert_eq!(e.code(), CODE, "{what}");
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("properties.{field}:")),
                "{what}: {msg}"
            );
        }
    }
}
