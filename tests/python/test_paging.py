"""nextLink paging: a server with two items a page; the SDKs follow nextLink
and see every item, raw requests see the pages."""

import pytest
import requests
from azure.mgmt.recoveryservices.models import Sku, Vault

from conftest import SUB, Server, clients, temp_server
from test_policies import daily_policy

RG = "rg-page"


@pytest.fixture
def paged_server():
    with temp_server("[api]\npage_size = 2\n") as s:
        yield s


def test_lists_are_paged_and_sdks_follow_next_link(paged_server):
    server = paged_server
    rs, bk = clients(server)
    for n in range(5):
        rs.vaults.begin_create_or_update(RG, f"pv{n}", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    assert sorted(v.name for v in rs.vaults.list_by_resource_group(RG)) == [f"pv{n}" for n in range(5)]
    assert len(list(rs.vaults.list_by_subscription_id())) == 5
    for n in range(4):
        bk.protection_policies.create_or_update("pv0", RG, f"pol-{n}", daily_policy())
    names = [p.name for p in bk.backup_policies.list("pv0", RG, filter="backupManagementType eq 'AzureIaasVM'")]
    assert sorted(names) == sorted(["DefaultPolicy"] + [f"pol-{n}" for n in range(4)])

    h = {"Authorization": f"Bearer {server.token}"}
    url = f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults?api-version=2023-04-01"
    seen = []
    pages = 0
    while url:
        page = requests.get(url, headers=h).json()
        assert len(page["value"]) <= 2
        seen += [v["name"] for v in page["value"]]
        url = page["nextLink"]
        pages += 1
    assert pages == 3 and sorted(seen) == [f"pv{n}" for n in range(5)]
    r = requests.get(f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults?$skiptoken=x", headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidSkipToken"
