"""Backup policies through azure-mgmt-recoveryservicesbackup against `rsvault serve`."""
import datetime as dt

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.recoveryservices.models import Sku, Vault
from conftest import SUB
from azure.mgmt.recoveryservicesbackup.models import (
    AzureIaaSVMProtectionPolicy, DailyRetentionFormat, DailyRetentionSchedule, Day, HourlySchedule,
    LongTermRetentionPolicy, MonthlyRetentionSchedule, ProtectionPolicyResource, RetentionDuration,
    SimpleSchedulePolicy, SimpleSchedulePolicyV2, WeeklyRetentionFormat, WeeklyRetentionSchedule,
    YearlyRetentionSchedule)

RG = "rg-pol"
T = dt.datetime(2024, 1, 1, 21, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def vault(rs):
    rs.vaults.begin_create_or_update(RG, "pv", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    return "pv"


def daily_policy(time=T, days=30, irp=2, tz="UTC"):
    return ProtectionPolicyResource(properties=AzureIaaSVMProtectionPolicy(
        policy_type="V1", time_zone=tz, instant_rp_retention_range_in_days=irp,
        schedule_policy=SimpleSchedulePolicy(schedule_run_frequency="Daily", schedule_run_times=[time]),
        retention_policy=LongTermRetentionPolicy(
            daily_schedule=DailyRetentionSchedule(retention_times=[time], retention_duration=RetentionDuration(count=days, duration_type="Days")),
            weekly_schedule=WeeklyRetentionSchedule(days_of_the_week=["Sunday"], retention_times=[time],
                                                    retention_duration=RetentionDuration(count=12, duration_type="Weeks")),
            monthly_schedule=MonthlyRetentionSchedule(
                retention_schedule_format_type="Daily",
                retention_schedule_daily=DailyRetentionFormat(days_of_the_month=[Day(date=1), Day(is_last=True)]),
                retention_times=[time], retention_duration=RetentionDuration(count=12, duration_type="Months")),
            yearly_schedule=YearlyRetentionSchedule(
                retention_schedule_format_type="Weekly", months_of_year=["January"],
                retention_schedule_weekly=WeeklyRetentionFormat(days_of_the_week=["Sunday"], weeks_of_the_month=["First"]),
                retention_times=[time], retention_duration=RetentionDuration(count=10, duration_type="Years")))))


def test_create_read_update_delete(bk, vault):
    p = bk.protection_policies.create_or_update(vault, RG, "daily-30", daily_policy(tz="Tokyo Standard Time"))
    assert p.name == "daily-30"
    assert p.properties.time_zone == "Tokyo Standard Time"
    assert p.properties.retention_policy.yearly_schedule.retention_duration.count == 10
    assert p.properties.protected_items_count == 0
    p = bk.protection_policies.create_or_update(vault, RG, "daily-30", daily_policy(days=60))
    assert p.properties.retention_policy.daily_schedule.retention_duration.count == 60
    assert sorted(x.name for x in bk.backup_policies.list(vault, RG)) == ["DefaultPolicy", "daily-30"]
    bk.protection_policies.begin_delete(vault, RG, "daily-30").result()
    with pytest.raises(ResourceNotFoundError):
        bk.protection_policies.get(vault, RG, "daily-30")


def test_weekly_and_enhanced_hourly(bk, vault):
    weekly = ProtectionPolicyResource(properties=AzureIaaSVMProtectionPolicy(
        time_zone="Pacific Standard Time", instant_rp_retention_range_in_days=5,
        schedule_policy=SimpleSchedulePolicy(schedule_run_frequency="Weekly", schedule_run_days=["Monday", "Thursday"], schedule_run_times=[T]),
        retention_policy=LongTermRetentionPolicy(weekly_schedule=WeeklyRetentionSchedule(
            days_of_the_week=["Monday"], retention_times=[T], retention_duration=RetentionDuration(count=4, duration_type="Weeks")))))
    assert bk.protection_policies.create_or_update(vault, RG, "weekly", weekly).properties.schedule_policy.schedule_run_days == ["Monday", "Thursday"]
    hourly = ProtectionPolicyResource(properties=AzureIaaSVMProtectionPolicy(
        policy_type="V2", time_zone="India Standard Time", instant_rp_retention_range_in_days=7,
        schedule_policy=SimpleSchedulePolicyV2(schedule_run_frequency="Hourly", hourly_schedule=HourlySchedule(
            interval=4, schedule_window_start_time=dt.datetime(2021, 12, 17, 8, 0, tzinfo=dt.timezone.utc), schedule_window_duration=16)),
        retention_policy=LongTermRetentionPolicy(daily_schedule=DailyRetentionSchedule(
            retention_duration=RetentionDuration(count=180, duration_type="Days")))))
    p = bk.protection_policies.create_or_update(vault, RG, "enhanced-4h", hourly)
    assert p.properties.policy_type == "V2"
    assert p.properties.schedule_policy.hourly_schedule.interval == 4


@pytest.mark.parametrize("policy,field", [
    (lambda: daily_policy(time=dt.datetime(2024, 1, 1, 21, 15, tzinfo=dt.timezone.utc)), "schedulePolicy.scheduleRunTimes[0]"),
    (lambda: daily_policy(days=6), "retentionPolicy.dailySchedule.retentionDuration.count"),
    (lambda: daily_policy(irp=6), "instantRpRetentionRangeInDays"),
    (lambda: daily_policy(tz="Nowhere Standard Time"), "timeZone"),
])
def test_invalid_policies_name_the_field(bk, vault, policy, field):
    with pytest.raises(HttpResponseError) as e:
        bk.protection_policies.create_or_update(vault, RG, "bad-policy", policy())
    assert e.value.status_code == 400
    assert e.value.error.code == "BMSUserErrorInvalidPolicyInput"
    assert e.value.error.message.startswith(f"properties.{field}:"), e.value.error.message


def hourly_body():
    return ProtectionPolicyResource(properties=AzureIaaSVMProtectionPolicy(
        policy_type="V2", time_zone="UTC", instant_rp_retention_range_in_days=7,
        schedule_policy=SimpleSchedulePolicyV2(schedule_run_frequency="Hourly", hourly_schedule=HourlySchedule(
            interval=4, schedule_window_start_time=dt.datetime(2021, 12, 17, 8, 0, tzinfo=dt.timezone.utc), schedule_window_duration=16)),
        retention_policy=LongTermRetentionPolicy(daily_schedule=DailyRetentionSchedule(
            retention_duration=RetentionDuration(count=180, duration_type="Days"))))).as_dict()


def set_irp(value):
    def edit(b):
        b["properties"]["instantRpRetentionRangeInDays"] = value
    return edit


def set_hourly(key, value):
    def edit(b):
        b["properties"]["schedulePolicy"]["hourlySchedule"][key] = value
    return edit


@pytest.mark.parametrize("body,edit,field", [
    (lambda: daily_policy().as_dict(), set_irp(-5), "instantRpRetentionRangeInDays"),
    (lambda: daily_policy().as_dict(), set_irp("3"), "instantRpRetentionRangeInDays"),
    (lambda: daily_policy().as_dict(), set_irp(2**32 + 2), "instantRpRetentionRangeInDays"),
    (hourly_body, set_hourly("interval", 2**32 + 4), "schedulePolicy.hourlySchedule.interval"),
    (hourly_body, set_hourly("scheduleWindowDuration", 2**32 + 16), "schedulePolicy.hourlySchedule.scheduleWindowDuration"),
])
def test_numbers_are_refused_not_wrapped(server, vault, body, edit, field):
    """Numbers out of range or of the wrong type get the field's error; nothing is truncated and stored."""
    b = body()
    edit(b)
    url = (f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices"
           f"/vaults/{vault}/backupPolicies/odd?api-version=2023-04-01")
    r = requests.put(url, json=b, headers={"Authorization": f"Bearer {server.token}"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "BMSUserErrorInvalidPolicyInput"
    assert err["message"].startswith(f"properties.{field}:"), err["message"]
    assert requests.get(url, headers={"Authorization": f"Bearer {server.token}"}).status_code == 404


def test_policy_name_rule(bk, vault):
    with pytest.raises(HttpResponseError) as e:
        bk.protection_policies.create_or_update(vault, RG, "x1", daily_policy())
    assert e.value.status_code == 400 and "3 to 150 characters" in e.value.error.message
