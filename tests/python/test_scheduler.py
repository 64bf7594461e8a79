"""The scheduler of a running server on a simulated clock: a policy's daily
backups start at its local time across a daylight-saving change, and
retention expires the points no tier keeps. Time moves with POST
/rsvault/clock, which also runs a scheduler tick at the new time."""
import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
import requests
from azure.mgmt.recoveryservices.models import Sku, Vault
from azure.mgmt.recoveryservicesbackup.models import (AzureIaaSVMProtectionPolicy, DailyRetentionSchedule,
                                                      LongTermRetentionPolicy, ProtectionPolicyResource,
                                                      RetentionDuration, SimpleSchedulePolicy)

from conftest import Server, clients, temp_server
from test_backup_now import wait_job
from test_protection import RG, VM_RG, make_vm, protect

CONFIG = """
[scheduler]
interval_seconds = 3600
max_concurrent_backups = 2

[testing]
simulated_clock = "2026-03-27T12:00:00Z"
"""


@pytest.fixture
def sim_server():
    with temp_server(CONFIG) as s:
        yield s


def move_clock(server, **body):
    r = requests.post(f"{server.endpoint}/rsvault/clock", json=body,
                      headers={"Authorization": f"Bearer {server.token}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_schedule_follows_local_time_across_dst_and_retention_expires(sim_server, tmp_path):
    server = sim_server
    rs, bk = clients(server)
    rs.vaults.begin_create_or_update(RG, "v-sched", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    t = dt.datetime(2026, 1, 1, 21, 0, tzinfo=dt.timezone.utc)
    pol = bk.protection_policies.create_or_update("v-sched", RG, "nightly", ProtectionPolicyResource(
        properties=AzureIaaSVMProtectionPolicy(
            policy_type="V1", time_zone="W. Europe Standard Time", instant_rp_retention_range_in_days=2,
            schedule_policy=SimpleSchedulePolicy(schedule_run_frequency="Daily", schedule_run_times=[t]),
            retention_policy=LongTermRetentionPolicy(daily_schedule=DailyRetentionSchedule(
                retention_times=[t], retention_duration=RetentionDuration(count=7, duration_type="Days"))))))
    src = make_vm(server, tmp_path, "vm-s", "westeurope")
    c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};vm-s", f"VM;iaasvmcontainerv2;{VM_RG};vm-s"
    protect(bk, "v-sched", c, i, src, pol.id)
    nxt = bk.protected_items.get("v-sched", RG, "Azure", c, i).properties["extendedInfo"]["nextScheduledBackupTime"]
    assert nxt == "2026-03-27T20:00:00Z", "21:00 in Berlin (CET) is the next run"

    started = []
    now = None
    while now is None or now < dt.datetime(2026, 3, 31, 12, tzinfo=dt.timezone.utc):
        r = move_clock(server, advanceSeconds=1800)
        now = dt.datetime.fromisoformat(r["now"].replace("Z", "+00:00"))
        for job_id in r["startedJobs"]:
            job = wait_job(bk, "v-sched", job_id)
            assert job.properties.status == "Completed", job.properties.error_details
            assert job.properties.is_user_triggered is False
            started.append(job.properties.start_time)
    utc = [t.astimezone(dt.timezone.utc).strftime("%m-%d %H:%M") for t in started]
    assert utc == ["03-27 20:00", "03-28 20:00", "03-29 19:00", "03-30 19:00"], "21:00 in Berlin, CET then CEST"
    assert all(t.astimezone(ZoneInfo("Europe/Berlin")).hour == 21 for t in started)
    assert len(list(bk.recovery_points.list("v-sched", RG, "Azure", c, i))) == 4

    # Nine days later the first points have outlived their seven days.
    expired = []
    for _ in range(9):
        expired += move_clock(server, advanceSeconds=86400)["expiredRecoveryPoints"]
        for job in bk.backup_jobs.list("v-sched", RG, filter="status eq 'InProgress'"):
            wait_job(bk, "v-sched", job.name)
    rps = list(bk.recovery_points.list("v-sched", RG, "Azure", c, i))
    now = dt.datetime(2026, 4, 9, 12, tzinfo=dt.timezone.utc)
    times = sorted(p.properties.recovery_point_time for p in rps)
    assert all(now - t < dt.timedelta(days=7) for t in times), times
    assert len(times) == 7, times
    assert len(expired) == 13 - 7, expired
    assert set(expired).isdisjoint(p.name for p in rps)


@pytest.mark.parametrize("body", [{"advanceSeconds": 2**64 - 1}, {"advanceSeconds": 2**63 - 1}, {"advanceSeconds": -1},
                                  {"advanceSeconds": "60"}, {"now": "9999-12-31T23:00:00Z"}, {}])
def test_clock_refuses_moves_it_cannot_make(sim_server, body):
    """An overflowing or malformed move is refused in the envelope; the clock and server carry on."""
    h = {"Authorization": f"Bearer {sim_server.token}"}
    r = requests.post(f"{sim_server.endpoint}/rsvault/clock", json=body, headers=h)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "InvalidRequestContent"
    assert move_clock(sim_server, advanceSeconds=60)["now"] == "2026-03-27T12:01:00Z"
