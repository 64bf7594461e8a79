"""Multi-user authorization and the activity log, driven by the real `az`.

A security admin owns a resource guard in a resource group of its own; a
backup admin (Backup Contributor on the vault's group, Reader on the
guard) links the vault to it. From then on the backup admin's critical
operations (soft delete off, shorter retention, stop protection with
delete, removing the guard) are refused until the security admin grants
the Backup MUA Operator role on the guard, as in Azure. Every write lands
in the activity log, refusals included, which `az monitor activity-log
list` reads."""
import json
import subprocess
import uuid

import pytest
import requests

from az_cli import az_bin, az_server
from conftest import SUB
from test_identity import az_for
from test_lifecycle import backup, put
from test_protection import RG, VM_RG, make_vm

SEC_RG = "rg-security"
GUARD_API = "2025-07-01"
MUA_OPERATOR = "f54b6d04-23c6-443e-b462-9c16ab7b4a52"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"


def guard_id(name):
    return f"/subscriptions/{SUB}/resourceGroups/{SEC_RG}/providers/Microsoft.DataProtection/resourceGuards/{name}"


def call(server, method, path, body=None, api=GUARD_API, token=None):
    return requests.request(method, server.endpoint + path, params={"api-version": api}, json=body, timeout=60,
                            headers={"Authorization": f"Bearer {token or server.token}"}, verify=server.verify())


def assign(server, scope, role, principal):
    name = str(uuid.uuid4())
    r = call(server, "PUT", f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}", api="2022-04-01",
             body={"properties": {"roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{role}",
                                  "principalId": principal, "principalType": "ServicePrincipal"}})
    assert r.status_code == 201, r.text
    return f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"


def new_sp(server, name):
    r = requests.post(server.endpoint + "/rsvault/directory/servicePrincipals?api-version=2022-04-01",
                      json={"displayName": name}, headers={"Authorization": f"Bearer {server.token}"},
                      verify=server.verify(), timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def az():
    with az_server() as a:
        yield a


def refused(p):
    assert p.returncode != 0 and "LinkedAuthorizationFailed" in p.stderr, p.stderr


def test_a_resource_guard_approves_critical_operations(az, tmp_path):
    server = az.server
    rs, bk = az.sdk_clients()
    from azure.mgmt.recoveryservices.models import Sku, Vault
    rs.vaults.begin_create_or_update(RG, "v-mua", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    make_vm(server, tmp_path, "vm-mua", "westeurope")
    c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};vm-mua", f"VM;iaasvmcontainerv2;{VM_RG};vm-mua"
    put(bk, "v-mua", c, i, policy_id=bk.protection_policies.get("v-mua", RG, "DefaultPolicy").id)
    assert backup(bk, "v-mua", c, i).properties.status == "Completed"

    # The security admin's guard, in another resource group and region rules.
    g = guard_id("guard-1")
    r = call(server, "PUT", g, {"location": "japaneast", "properties": {}})
    assert r.status_code == 201, r.text
    bad = call(server, "PUT", guard_id("guard-bad"), {"location": "westeurope", "properties": {
        "vaultCriticalOperationExclusionList": ["Microsoft.RecoveryServices/vaults/backupconfig/write"]}})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "BMSUserErrorInvalidCriticalOperationExclusionList"
    r = call(server, "PUT", g, {"location": "westeurope", "properties": {}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidResourceLocation", r.text
    call(server, "DELETE", g)
    r = call(server, "PUT", g, {"location": "westeurope", "tags": {"owner": "secops"}, "properties": {"description": "backup MUA"}})
    assert r.status_code == 201, r.text
    ops = {o["vaultCriticalOperation"] for o in r.json()["properties"]["resourceGuardOperations"]}
    assert "Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/delete" in ops and len(ops) == 7, ops
    d = call(server, "GET", f"{g}/deleteProtectedItemRequests/default").json()
    assert d == {"id": f"{g}/deleteProtectedItemRequests/default", "name": "default",
                 "type": "Microsoft.DataProtection/resourceGuards/deleteProtectedItemRequests"}
    listed = call(server, "GET", f"/subscriptions/{SUB}/resourceGroups/{SEC_RG}/providers/Microsoft.DataProtection/resourceGuards")
    assert [x["name"] for x in listed.json()["value"]] == ["guard-1"]

    # The backup admin: Backup Contributor on the vault's group, Reader on the guard.
    admin = new_sp(server, "backup-admin")
    assign(server, f"/subscriptions/{SUB}/resourceGroups/{RG}", "5e467623-bb1f-42f4-a55d-6e525e11384b", admin["objectId"])
    assign(server, g, READER, admin["objectId"])
    env, run = az_for(server, tmp_path / "admin-az")
    run("login", "--service-principal", "-u", admin["appId"], f"--password={admin['password']}", "--tenant", admin["tenant"])
    run("account", "set", "--subscription", SUB)

    def admin_az(*args):
        return subprocess.run([az_bin(), *args], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300)

    # A guard the admin may not read cannot be linked.
    other = guard_id("guard-2")
    assert call(server, "PUT", other, {"location": "westeurope", "properties": {}}).status_code == 201
    refused(admin_az("backup", "vault", "resource-guard-mapping", "update", "-g", RG, "-n", "v-mua", "--resource-guard-id", other))
    p = admin_az("backup", "vault", "resource-guard-mapping", "update", "-g", RG, "-n", "v-mua", "--resource-guard-id", g, "-o", "json")
    assert p.returncode == 0, p.stderr
    mapping = json.loads(p.stdout)
    assert mapping["properties"]["resourceGuardResourceId"].lower() == g.lower()
    details = {d["vaultCriticalOperation"]: d["defaultResourceRequest"] for d in mapping["properties"]["resourceGuardOperationDetails"]}
    assert details["Microsoft.RecoveryServices/vaults/backupconfig/write"] == f"{g}/disableSoftDeleteRequests/default"
    vault = call(server, "GET", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/v-mua",
                 api="2026-07-01").json()
    assert vault["properties"]["securitySettings"]["multiUserAuthorization"] == "Enabled"
    r = call(server, "DELETE", g)
    assert r.status_code == 409 and r.json()["error"]["code"] == "UserErrorResourceGuardInUse"

    # Without rights on the guard, every critical operation is refused.
    refused(admin_az("backup", "vault", "backup-properties", "set", "-g", RG, "-n", "v-mua", "--soft-delete-feature-state", "Disable"))
    policy = json.loads(admin_az("backup", "policy", "show", "-g", RG, "-v", "v-mua", "-n", "DefaultPolicy", "-o", "json").stdout)
    days = policy["properties"]["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"]
    policy["properties"]["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"] = days - 5
    pfile = tmp_path / "policy.json"
    pfile.write_text(json.dumps(policy))
    refused(admin_az("backup", "policy", "set", "-g", RG, "-v", "v-mua", "-n", "DefaultPolicy", "--policy", f"@{pfile}"))
    disable = ("backup", "protection", "disable", "-g", RG, "-v", "v-mua", "-c", c, "-i", i,
               "--backup-management-type", "AzureIaasVM", "--delete-backup-data", "true", "--yes")
    refused(admin_az(*disable))
    refused(admin_az("backup", "vault", "resource-guard-mapping", "delete", "-g", RG, "-n", "v-mua", "--yes"))
    # A raw call that names no approval gets the same refusal, saying what to name.
    r = call(server, "PATCH", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/v-mua",
             {"properties": {"securitySettings": {"softDeleteSettings": {"softDeleteState": "Disabled"}}}}, api="2026-07-01")
    assert r.status_code == 403 and "disableSoftDeleteRequests/default" in r.json()["error"]["message"], r.text
    # Changes that weaken nothing need no approval.
    policy["properties"]["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"] = days + 5
    pfile.write_text(json.dumps(policy))
    assert admin_az("backup", "policy", "set", "-g", RG, "-v", "v-mua", "-n", "DefaultPolicy", "--policy", f"@{pfile}").returncode == 0
    assert [p.name for p in bk.recovery_points.list("v-mua", RG, "Azure", c, i)], "the point is still there"

    # The security admin grants Backup MUA Operator on the guard, just in time.
    grant = assign(server, g, MUA_OPERATOR, admin["objectId"])
    policy["properties"]["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"] = days - 5
    pfile.write_text(json.dumps(policy))
    p = admin_az("backup", "policy", "set", "-g", RG, "-v", "v-mua", "-n", "DefaultPolicy", "--policy", f"@{pfile}")
    assert p.returncode == 0, p.stderr
    p = admin_az("backup", "vault", "backup-properties", "set", "-g", RG, "-n", "v-mua", "--soft-delete-feature-state", "Disable")
    assert p.returncode == 0, p.stderr
    p = admin_az(*disable)
    assert p.returncode == 0, p.stderr
    assert not list(bk.backup_protected_items.list("v-mua", RG)), "soft delete off: the item is gone"
    # An unlock serves one delete: a second DELETE of the mapping without one is refused.
    r = call(server, "DELETE", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/v-mua"
                               "/backupResourceGuardProxies/VaultProxy", api="2026-08-01", token=None)
    assert r.status_code == 403, r.text
    p = admin_az("backup", "vault", "resource-guard-mapping", "delete", "-g", RG, "-n", "v-mua", "--yes")
    assert p.returncode == 0, p.stderr
    assert call(server, "DELETE", grant, api="2022-04-01").status_code == 200
    vault = call(server, "GET", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/v-mua",
                 api="2026-07-01").json()
    assert vault["properties"]["securitySettings"]["multiUserAuthorization"] == "Disabled"
    assert call(server, "DELETE", g).status_code == 200

    # The activity log holds every write: who, what, where, the outcome, from where.
    events = json.loads(az.run("monitor", "activity-log", "list", "-g", RG, "--offset", "1h", "--max-events", "500", "-o", "json").stdout)
    mine = [e for e in events if e["caller"] == admin["appId"]]
    ops = [(e["operationName"]["value"].lower(), e["status"]["value"]) for e in mine]
    assert ("microsoft.recoveryservices/vaults/backupresourceguardproxies/unlockdelete/action", "Failed") in ops, ops
    assert ("microsoft.recoveryservices/vaults/backupresourceguardproxies/unlockdelete/action", "Succeeded") in ops, ops
    assert ("microsoft.recoveryservices/vaults/backuppolicies/write", "Failed") in ops, ops
    refusal = next(e for e in mine if e["status"]["value"] == "Failed")
    assert refusal["httpRequest"]["clientIpAddress"] == "127.0.0.1" and refusal["level"] == "Error"
    assert refusal["resourceGroupName"] == RG and refusal["subscriptionId"] == SUB
    assert "LinkedAuthorizationFailed" in refusal["properties"]["statusMessage"]
    assert all(e["eventTimestamp"] >= f["eventTimestamp"] for e, f in zip(events, events[1:])), "newest first"
    assert not [e for e in events if e["resourceGroupName"] != RG]
    security = json.loads(az.run("monitor", "activity-log", "list", "-g", SEC_RG, "--offset", "1h", "-o", "json").stdout)
    assert {e["operationName"]["value"] for e in security} >= {
        "Microsoft.DataProtection/subscriptions/resourceGroups/providers/resourceGuards/write",
        "Microsoft.DataProtection/subscriptions/resourceGroups/providers/resourceGuards/delete"}
    # Reading is not a write: no event for the GETs.
    assert not [e for e in events + security if e["httpRequest"]["method"] == "GET"]
    # The backup admin reads only what it may read: Reader on guard-1 shows
    # guard-1's events in the security group, not guard-2's.
    p = admin_az("monitor", "activity-log", "list", "-g", SEC_RG, "--offset", "1h", "-o", "json")
    assert p.returncode == 0, p.stderr
    seen = json.loads(p.stdout)
    assert seen and all(e["resourceId"].lower().startswith(g.lower()) for e in seen), seen
    assert len(seen) < len(security)


def test_excluded_operations_need_no_approval(az, tmp_path):
    server = az.server
    rs, bk = az.sdk_clients()
    from azure.mgmt.recoveryservices.models import Sku, Vault
    rs.vaults.begin_create_or_update(RG, "v-ex", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    g = guard_id("guard-ex")
    r = call(server, "PUT", g, {"location": "westeurope", "properties": {
        "vaultCriticalOperationExclusionList": ["microsoft.recoveryservices/vaults/backuppolicies/write"]}})
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["vaultCriticalOperationExclusionList"] == ["Microsoft.RecoveryServices/vaults/backupPolicies/write"]
    v = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/v-ex"
    r = call(server, "PUT", f"{v}/backupResourceGuardProxies/VaultProxy", {"properties": {"resourceGuardResourceId": g}}, api="2026-08-01")
    assert r.status_code == 200, r.text
    assert "Microsoft.RecoveryServices/vaults/backupPolicies/write" not in {
        d["vaultCriticalOperation"] for d in r.json()["properties"]["resourceGuardOperationDetails"]}
    pol = call(server, "GET", f"{v}/backupPolicies/DefaultPolicy", api="2026-08-01").json()
    pol["properties"]["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"] = 7
    r = call(server, "PUT", f"{v}/backupPolicies/DefaultPolicy", pol, api="2026-08-01")
    assert r.status_code == 200, r.text
    # The host's Owner holds every action, so it approves what it names.
    sd = {"properties": {"softDeleteFeatureState": "Disabled"}}
    r = call(server, "PUT", f"{v}/backupconfig/vaultconfig", sd, api="2026-08-01")
    assert r.status_code == 403, r.text
    sd["properties"]["resourceGuardOperationRequests"] = [f"{g}/disableSoftDeleteRequests/default"]
    r = call(server, "PUT", f"{v}/backupconfig/vaultconfig", sd, api="2026-08-01")
    assert r.status_code == 200 and r.json()["properties"]["softDeleteFeatureState"] == "Disabled", r.text
    unlock = call(server, "POST", f"{v}/backupResourceGuardProxies/VaultProxy/unlockDelete",
                  {"resourceGuardOperationRequests": [f"{g}/deleteResourceGuardProxyRequests/default"]}, api="2026-08-01")
    assert unlock.status_code == 200 and unlock.json()["unlockDeleteExpiryTime"], unlock.text
    assert call(server, "DELETE", f"{v}/backupResourceGuardProxies/VaultProxy", api="2026-08-01").status_code == 200
    assert call(server, "GET", f"{v}/backupResourceGuardProxies", api="2026-08-01").json()["value"] == []


def sp_token(server, sp):
    from test_identity import post_token
    r = post_token(server, sp["tenant"], {"grant_type": "client_credentials", "client_id": sp["appId"],
                                          "client_secret": sp["password"], "scope": "https://management.azure.com/.default"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_the_rsvault_cli_asks_the_guard_as_az_does(server, rs, bk, tmp_path):
    from test_cli import run
    from test_lifecycle import setup
    c, i, _ = setup(server, rs, bk, tmp_path, "v-cli-mua", "vm-cli-mua")
    assert backup(bk, "v-cli-mua", c, i).properties.status == "Completed"
    g = json.loads(run(server, "dataprotection", "resource-guard", "create", "-g", SEC_RG, "-n", "g-cli", "-l", "westeurope",
                       "--tags", "owner=secops", "-o", "json").stdout)
    assert g["id"] == guard_id("g-cli") and g["tags"] == {"owner": "secops"}
    g = json.loads(run(server, "dataprotection", "resource-guard", "update", "-g", SEC_RG, "-n", "g-cli",
                       "--critical-operation-exclusion-list", "Microsoft.RecoveryServices/vaults/backupPolicies/write",
                       "-o", "json").stdout)
    assert g["properties"]["vaultCriticalOperationExclusionList"] == ["Microsoft.RecoveryServices/vaults/backupPolicies/write"]
    p = run(server, "dataprotection", "resource-guard", "update", "-g", SEC_RG, "-n", "g-cli",
            "--critical-operation-exclusion-list", "Microsoft.RecoveryServices/vaults/backupconfig/write", ok=False)
    assert p.returncode != 0 and "BMSUserErrorInvalidCriticalOperationExclusionList" in p.stderr, p.stderr
    assert [x["name"] for x in json.loads(run(server, "dataprotection", "resource-guard", "list", "-o", "json").stdout)] == ["g-cli"]

    admin = new_sp(server, "cli-backup-admin")
    assign(server, f"/subscriptions/{SUB}/resourceGroups/{RG}", "5e467623-bb1f-42f4-a55d-6e525e11384b", admin["objectId"])
    assign(server, g["id"], READER, admin["objectId"])
    as_admin = {"RSVAULT_TOKEN": sp_token(server, admin)}

    def cli(*args, ok=True):
        return run(server, *args, ok=ok, token=False, extra_env=as_admin)

    cli("backup", "vault", "resource-guard-mapping", "update", "-g", RG, "-n", "v-cli-mua", "--resource-guard-id", g["id"])
    shown = json.loads(cli("backup", "vault", "resource-guard-mapping", "show", "-g", RG, "-n", "v-cli-mua", "-o", "json").stdout)
    assert shown["properties"]["resourceGuardResourceId"] == g["id"]
    soft_off = ("backup", "vault", "backup-properties", "set", "-g", RG, "-n", "v-cli-mua", "--soft-delete-feature-state", "Disable")
    delete = ("backup", "protection", "disable", "-v", "v-cli-mua", "-g", RG, "-c", c, "-i", i, "--delete-backup-data", "true", "--yes")
    cli("backup", "vault", "update", "-g", RG, "-n", "v-cli-mua", "--immutability-state", "Unlocked")
    immutability_off = ("backup", "vault", "update", "-g", RG, "-n", "v-cli-mua", "--immutability-state", "Disabled")
    for args in (soft_off, delete, immutability_off):
        p = cli(*args, ok=False)
        assert p.returncode != 0 and "LinkedAuthorizationFailed" in p.stderr, p.stderr

    grant = assign(server, g["id"], MUA_OPERATOR, admin["objectId"])
    cli(*soft_off)
    v = json.loads(cli(*immutability_off, "-o", "json").stdout)
    assert v["properties"]["securitySettings"]["immutabilitySettings"]["state"] == "Disabled"
    cli(*delete)
    assert not list(bk.backup_protected_items.list("v-cli-mua", RG))
    cli("backup", "vault", "resource-guard-mapping", "delete", "-g", RG, "-n", "v-cli-mua", "--yes")
    assert call(server, "DELETE", grant, api="2022-04-01").status_code == 200
    p = cli("backup", "vault", "resource-guard-mapping", "show", "-g", RG, "-n", "v-cli-mua", ok=False)
    assert p.returncode != 0 and "BMSUserErrorResourceGuardProxyNotFound" in p.stderr, p.stderr

    # The Owner's own vault update, immutability off again with a guard: the CLI names the request.
    run(server, "backup", "vault", "resource-guard-mapping", "update", "-g", RG, "-n", "v-cli-mua", "--resource-guard-id", g["id"])
    run(server, "backup", "vault", "update", "-g", RG, "-n", "v-cli-mua", "--immutability-state", "Unlocked")
    v = json.loads(run(server, "backup", "vault", "update", "-g", RG, "-n", "v-cli-mua", "--immutability-state", "Disabled",
                       "-o", "json").stdout)
    assert v["properties"]["securitySettings"]["immutabilitySettings"]["state"] == "Disabled"
    assert v["properties"]["securitySettings"]["multiUserAuthorization"] == "Enabled"

    events = json.loads(run(server, "monitor", "activity-log", "list", "-g", RG, "--offset", "1h", "--max-events", "500",
                            "-o", "json").stdout)
    failed = [e for e in events if e["caller"] == admin["appId"] and e["status"]["value"] == "Failed"]
    assert {e["operationName"]["value"] for e in failed} >= {
        "Microsoft.RecoveryServices/Vaults/write", "Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/unlockDelete/action"}, failed
    only = json.loads(run(server, "monitor", "activity-log", "list", "--caller", admin["appId"], "--status", "Failed",
                          "--offset", "1h", "-o", "json").stdout)
    assert {e["eventDataId"] for e in only} == {e["eventDataId"] for e in failed}
    out = run(server, "monitor", "activity-log", "list", "-g", RG, "--offset", "1h", "-o", "table").stdout
    assert out.splitlines()[0].split()[:4] == ["EventTimestamp", "Caller", "Operation", "Status"]
    p = run(server, "monitor", "activity-log", "list", "--offset", "1w", ok=False)
    assert p.returncode != 0 and "unit is d, h, m or s" in p.stderr


def test_permissions_at_a_scope_are_the_caller_s_own(server):
    """Azure's Microsoft.Authorization/permissions: what the portal reads
    to disable what a role may not do."""
    reader = new_sp(server, "perm-reader")
    vault = f"/subscriptions/{SUB}/resourceGroups/rg-perm/providers/Microsoft.RecoveryServices/vaults/v-perm"
    assert call(server, "PUT", vault, {"location": "westeurope", "sku": {"name": "Standard"}}, api="2026-07-01").status_code == 201
    assign(server, f"/subscriptions/{SUB}/resourceGroups/rg-perm", "a795c7a0-d4a2-40c1-ae25-d81f01202912", reader["objectId"])
    token = sp_token(server, reader)
    r = call(server, "GET", f"{vault}/providers/Microsoft.Authorization/permissions", api="2022-04-01", token=token)
    assert r.status_code == 200, r.text
    (block,) = r.json()["value"]
    assert "Microsoft.RecoveryServices/Vaults/backupPolicies/read" in block["actions"]
    assert not [a for a in block["actions"] if a.endswith("/delete")], "Backup Reader deletes nothing"
    r = call(server, "GET", f"/subscriptions/{SUB}/resourceGroups/rg-other/providers/Microsoft.Authorization/permissions",
             api="2022-04-01", token=token)
    assert r.status_code == 200 and r.json()["value"] == []
    from azure.mgmt.authorization import AuthorizationManagementClient
    from conftest import HttpBearerPolicy, TokenCredential
    cred = TokenCredential(token)
    client = AuthorizationManagementClient(cred, SUB, base_url=server.endpoint,
                                           authentication_policy=HttpBearerPolicy(cred, "https://management.azure.com/.default"))
    got = list(client.permissions.list_for_resource_group("rg-perm"))
    assert got and "Microsoft.RecoveryServices/Vaults/read" in got[0].actions
