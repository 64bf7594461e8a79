"""`$filter` and paging done by the server's query, as Azure's clients use
them: two VMs protected with different policies and one unprotected, on a
server with two items a page.

- `az backup container show --name <friendly>` lists containers with
  `friendlyName eq '<vm>'` and must get exactly that VM's container;
- `az backup policy list-associated-items` lists protected items with
  `policyName eq '<policy>'`; `az backup item list` sends
  `backupManagementType` and `itemType`;
- jobs are filtered by operation, status and start time, and paged by
  `$skiptoken` tokens the server gives out (followed through `nextLink`)."""
import datetime as dt
import time

import pytest
import requests
from azure.mgmt.recoveryservices.models import Sku, Vault
from azure.mgmt.recoveryservicesbackup.models import BackupRequestResource, IaasVMBackupRequest

from conftest import SUB, clients, temp_server
from test_policies import daily_policy
from test_protection import RG, VM_RG, make_vm, protect

VAULT = "v-filters"


def container(vm):
    return f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};{vm}"


def item(vm):
    return f"VM;iaasvmcontainerv2;{VM_RG};{vm}"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A paged server: vm-f1 and vm-f3 on DefaultPolicy, vm-f2 on pol-b,
    vm-f4 unprotected; one completed backup of vm-f1."""
    tmp_path = tmp_path_factory.mktemp("filters")
    with temp_server("[api]\npage_size = 2\n") as server:
        rs, bk = clients(server)
        rs.vaults.begin_create_or_update(RG, VAULT, Vault(location="westeurope", sku=Sku(name="Standard"))).result()
        bk.protection_policies.create_or_update(VAULT, RG, "pol-b", daily_policy())
        default = bk.protection_policies.get(VAULT, RG, "DefaultPolicy").id
        pol_b = bk.protection_policies.get(VAULT, RG, "pol-b").id
        ids = {vm: make_vm(server, tmp_path, vm, "westeurope") for vm in ["vm-f1", "vm-f2", "vm-f3", "vm-f4"]}
        for vm, policy in [("vm-f1", default), ("vm-f2", pol_b), ("vm-f3", default)]:
            protect(bk, VAULT, container(vm), item(vm), ids[vm], policy)
        headers = bk.backups.trigger(VAULT, RG, "Azure", container("vm-f1"), item("vm-f1"),
                                     BackupRequestResource(properties=IaasVMBackupRequest()),
                                     cls=lambda resp, _b, _h: resp.http_response.headers)
        op = headers["Azure-AsyncOperation"].split("?")[0].rsplit("/", 1)[1]
        job = bk.backup_operation_statuses.get(VAULT, RG, op).properties.job_id
        deadline = time.time() + 60
        while bk.job_details.get(VAULT, RG, job).properties.status in ("InProgress", "Cancelling"):
            assert time.time() < deadline, "the backup did not end"
            time.sleep(0.2)
        yield server, rs, bk


def names(items):
    return sorted(i.properties["friendlyName"] for i in items)


def raw_pages(server, path, query=""):
    """Every page of a list, by following nextLink with plain requests."""
    h = {"Authorization": f"Bearer {server.token}"}
    url = f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/{VAULT}/{path}?api-version=2026-08-01{query}"
    pages = []
    while url:
        r = requests.get(url, headers=h)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body["value"])
        url = body["nextLink"]
        assert len(pages) < 50
    return pages


def test_protected_items_are_filtered_by_policy_container_and_name(world):
    server, rs, bk = world
    lst = bk.backup_protected_items.list
    assert names(lst(VAULT, RG, filter="backupManagementType eq 'AzureIaasVM' and itemType eq 'VM'")) == ["vm-f1", "vm-f2", "vm-f3"]
    # az backup policy list-associated-items
    assert names(lst(VAULT, RG, filter="policyName eq 'pol-b' and backupManagementType eq 'AzureIaasVM'")) == ["vm-f2"]
    assert names(lst(VAULT, RG, filter="policyName eq 'defaultpolicy'")) == ["vm-f1", "vm-f3"]
    assert names(lst(VAULT, RG, filter="friendlyName eq 'VM-F3'")) == ["vm-f3"]
    assert names(lst(VAULT, RG, filter=f"containerName eq 'iaasvmcontainerv2;{VM_RG};vm-f2'")) == ["vm-f2"]
    assert names(lst(VAULT, RG, filter=f"containerName eq '{container('vm-f1')}'")) == ["vm-f1"]
    assert names(lst(VAULT, RG, filter="containerName eq 'iaasvmcontainerv2;other-rg;vm-f2'")) == []
    assert names(lst(VAULT, RG, filter="backupManagementType eq 'AzureStorage'")) == []
    assert names(lst(VAULT, RG, filter="itemType eq 'SQLDataBase'")) == []
    assert names(lst(VAULT, RG, filter="policyName eq 'pol-b' and friendlyName eq 'vm-f1'")) == []
    # Paged by the query: two a page, the last page what is left.
    pages = raw_pages(server, "backupProtectedItems", "&$filter=backupManagementType eq 'AzureIaasVM'")
    assert [len(p) for p in pages] == [2, 1]
    assert sorted(i["properties"]["friendlyName"] for p in pages for i in p) == ["vm-f1", "vm-f2", "vm-f3"]
    assert [len(p) for p in raw_pages(server, "backupProtectedItems", "&$filter=policyName eq 'pol-b'")] == [1]


def test_container_show_by_friendly_name_finds_that_vm(world):
    server, rs, bk = world
    lst = bk.backup_protection_containers.list
    # What `az backup container show --name vm-f2` sends.
    got = list(lst(VAULT, RG, filter="backupManagementType eq 'AzureIaasVM' and status eq 'Registered' and friendlyName eq 'vm-f2'"))
    assert [c.name for c in got] == [container("vm-f2")]
    assert got[0].properties["friendlyName"] == "vm-f2"
    assert len(list(lst(VAULT, RG, filter="backupManagementType eq 'AzureIaasVM' and status eq 'Registered'"))) == 3
    assert list(lst(VAULT, RG, filter="friendlyName eq 'vm-f4'")) == [], "not protected, no container"
    assert list(lst(VAULT, RG, filter="status eq 'NotRegistered'")) == []
    assert list(lst(VAULT, RG, filter="backupManagementType eq 'MAB'")) == []
    assert [len(p) for p in raw_pages(server, "backupProtectionContainers")] == [2, 1]


def test_protectable_items_and_policies_by_management_type(world):
    server, rs, bk = world
    found = bk.backup_protectable_items.list(VAULT, RG, filter="backupManagementType eq 'AzureIaasVM'")
    assert [p.properties["friendlyName"] for p in found] == ["vm-f4"]
    assert list(bk.backup_protectable_items.list(VAULT, RG, filter="backupManagementType eq 'AzureStorage'")) == []
    policies = bk.backup_policies.list(VAULT, RG, filter="backupManagementType eq 'AzureIaasVM'")
    assert sorted(p.name for p in policies) == ["DefaultPolicy", "pol-b"]
    assert list(bk.backup_policies.list(VAULT, RG, filter="backupManagementType eq 'AzureSql'")) == []


def az_time(t):
    """A time as `az backup job list --start-date` formats it."""
    return t.strftime("%Y-%m-%d %I:%M:%S %p")


def test_jobs_are_filtered_and_paged_in_the_query(world):
    server, rs, bk = world
    jobs = bk.backup_jobs.list
    every = list(jobs(VAULT, RG))
    assert sorted(j.properties.operation for j in every) == ["Backup"] + ["ConfigureBackup"] * 3
    starts = [j.properties.start_time for j in every]
    assert starts == sorted(starts, reverse=True), "newest first, across pages"
    assert len({j.name for j in every}) == 4
    assert [j.properties.entity_friendly_name for j in jobs(VAULT, RG, filter="operation eq 'Backup'")] == ["vm-f1"]
    assert len(list(jobs(VAULT, RG, filter="operation eq 'configurebackup' and status eq 'Completed'"))) == 3
    assert list(jobs(VAULT, RG, filter="status eq 'Failed'")) == []
    assert list(jobs(VAULT, RG, filter="backupManagementType eq 'AzureStorage'")) == []
    now = dt.datetime.now(dt.timezone.utc)
    window = f"startTime eq '{az_time(now - dt.timedelta(hours=1))}' and endTime eq '{az_time(now + dt.timedelta(hours=1))}'"
    assert len(list(jobs(VAULT, RG, filter=f"{window} and backupManagementType eq 'AzureIaasVM'"))) == 4
    past = f"startTime eq '{az_time(now - dt.timedelta(days=3))}' and endTime eq '{az_time(now - dt.timedelta(days=2))}'"
    assert list(jobs(VAULT, RG, filter=past)) == []
    # The pages: two jobs each, tokens the server gave out, no job twice.
    pages = raw_pages(server, "backupJobs")
    assert [len(p) for p in pages] == [2, 2]
    assert sorted(j["name"] for p in pages for j in p) == sorted(j.name for j in every)
    pages = raw_pages(server, "backupJobs", "&$filter=operation eq 'ConfigureBackup'")
    assert [len(p) for p in pages] == [2, 1]
    h = {"Authorization": f"Bearer {server.token}"}
    base = f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/{VAULT}/backupJobs"
    for bad in ["nope", "12", "-1_x"]:
        r = requests.get(f"{base}?$skiptoken={bad}", headers=h)
        assert (r.status_code, r.json()["error"]["code"]) == (400, "InvalidSkipToken"), bad
    r = requests.get(f"{base}?$filter=startTime eq 'someday'", headers=h)
    assert (r.status_code, r.json()["error"]["code"]) == (400, "BMSUserErrorInvalidInput")
