"""Immutable vaults: Disabled ↔ Unlocked → Locked, Locked final; while on,
no stop-with-delete and no change that shortens retention (a policy's, or
an item's move to another policy), as Azure's immutable vaults promise."""
import copy

import requests

from conftest import SUB
from test_lifecycle import put, setup
from test_protection import RG

API = "2026-07-01"
BK_API = "2026-08-01"


def vault_url(server, name):
    return f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/{name}"


def call(server, method, url, body=None, api=API):
    return requests.request(method, url, params={"api-version": api}, json=body,
                            headers={"Authorization": f"Bearer {server.token}"}, verify=server.verify(), timeout=60)


def state(server, name):
    return call(server, "GET", vault_url(server, name)).json()["properties"]["securitySettings"]["immutabilitySettings"]["state"]


def immutability(s):
    return {"properties": {"securitySettings": {"immutabilitySettings": {"state": s}}}}


def test_immutable_vaults_keep_points_until_they_expire(server, rs, bk, tmp_path):
    c, i, policy = setup(server, rs, bk, tmp_path, "v-imm", "vm-imm")
    v = vault_url(server, "v-imm")
    assert state(server, "v-imm") == "Disabled"
    r = call(server, "PATCH", v, immutability("Locked"))
    assert r.status_code == 400 and r.json()["error"]["code"] == "UserErrorUnsupportedVaultImmutabilityStateChange"
    assert call(server, "PATCH", v, immutability("unlocked")).status_code == 200
    assert state(server, "v-imm") == "Unlocked"

    # Stop protection with deletion: refused; stop and retain: allowed.
    item = f"{v}/backupFabrics/Azure/protectionContainers/{c}/protectedItems/{i}"
    r = call(server, "DELETE", item, api=BK_API)
    assert r.status_code == 400 and r.json()["error"]["code"] == "UserErrorDeleteBackupItemOnImmutableItem", r.text

    # A policy change that shortens retention: refused; one that lengthens it: allowed.
    pol = call(server, "GET", f"{v}/backupPolicies/DefaultPolicy", api=BK_API).json()
    days = pol["properties"]["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"]
    shorter = copy.deepcopy(pol)
    shorter["properties"]["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"] = days - 1
    r = call(server, "PUT", f"{v}/backupPolicies/DefaultPolicy", shorter, api=BK_API)
    assert r.status_code == 400 and r.json()["error"]["code"] == "UserErrorOperationDeniedOnImmutableItem", r.text
    assert "shortens the daily retention" in r.json()["error"]["message"]
    longer = copy.deepcopy(pol)
    longer["properties"]["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"] = days + 10
    assert call(server, "PUT", f"{v}/backupPolicies/DefaultPolicy", longer, api=BK_API).status_code == 200
    # A new short policy may be made, but the item may not move to it.
    short = copy.deepcopy(pol)
    short["properties"]["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"] = 7
    assert call(server, "PUT", f"{v}/backupPolicies/short", short, api=BK_API).status_code == 200
    r = requests.put(item, params={"api-version": BK_API}, headers={"Authorization": f"Bearer {server.token}"}, verify=server.verify(),
                     json={"properties": {"protectedItemType": "Microsoft.Compute/virtualMachines", "policyId": f"{v}/backupPolicies/short",
                                          "sourceResourceId": f"/subscriptions/{SUB}/resourceGroups/rg-vms/providers/Microsoft.Compute/virtualMachines/vm-imm"}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "UserErrorOperationDeniedOnImmutableItem", r.text
    put(bk, "v-imm", c, i, policy_id=policy, protection_state="ProtectionStopped")

    # Unlocked can be disabled; Locked cannot be undone, by anyone (the host Owner here).
    assert call(server, "PATCH", v, immutability("Disabled")).status_code == 200
    assert call(server, "PATCH", v, immutability("Unlocked")).status_code == 200
    assert call(server, "PATCH", v, immutability("Locked")).status_code == 200
    for undo in ("Unlocked", "Disabled"):
        r = call(server, "PATCH", v, immutability(undo))
        assert r.status_code == 400 and r.json()["error"]["code"] == "UserErrorUnsupportedVaultImmutabilityStateChange"
    # A full PUT without security settings keeps it locked.
    assert call(server, "PUT", v, {"location": "westeurope", "sku": {"name": "Standard"}, "properties": {}}).status_code == 200
    assert state(server, "v-imm") == "Locked"
    r = call(server, "DELETE", item, api=BK_API)
    assert r.status_code == 400 and r.json()["error"]["code"] == "UserErrorDeleteBackupItemOnImmutableItem"


def test_a_vault_cannot_be_created_locked_and_soft_delete_always_on_stays(server):
    r = call(server, "PUT", vault_url(server, "v-born-locked"),
             {"location": "westeurope", "sku": {"name": "Standard"}, **immutability("Locked")})
    assert r.status_code == 400 and r.json()["error"]["code"] == "UserErrorUnsupportedVaultImmutabilityStateChange"
    v = vault_url(server, "v-always")
    body = {"location": "westeurope", "sku": {"name": "Standard"},
            "properties": {"securitySettings": {"softDeleteSettings": {"softDeleteState": "AlwaysOn", "softDeleteRetentionPeriodInDays": 30}}}}
    assert call(server, "PUT", v, body).status_code == 201
    off = {"location": "westeurope", "sku": {"name": "Standard"},
           "properties": {"securitySettings": {"softDeleteSettings": {"softDeleteState": "Disabled"}}}}
    r = call(server, "PUT", v, off)
    assert r.status_code == 400 and r.json()["error"]["code"] == "BMSUserErrorDisablingSoftDeleteStateNotAllowed", r.text
    assert call(server, "PUT", v, {"location": "westeurope", "sku": {"name": "Standard"}, "properties": {}}).status_code == 200
    sd = call(server, "GET", v).json()["properties"]["securitySettings"]["softDeleteSettings"]
    assert sd["softDeleteState"] == "AlwaysON" and sd["softDeleteRetentionPeriodInDays"] == 30
