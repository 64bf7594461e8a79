"""Vaults through the Azure SDK for Python (azure-mgmt-recoveryservices and
azure-mgmt-recoveryservicesbackup from PyPI), against `rsvault serve`."""
import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.recoveryservices.models import (PatchVault, Sku, Vault, VaultProperties)

from conftest import SUB

RG = "rg-backup"


def test_healthz_needs_no_token_but_the_api_does(server):
    assert requests.get(server.endpoint + "/healthz").status_code == 200
    url = f"{server.endpoint}/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/vaults"
    r = requests.get(url)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "AuthenticationFailed"
    r = requests.get(url, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
    r = requests.get(url, headers={"Authorization": f"Bearer {server.token}"})
    assert r.status_code == 200 and r.json() == {"value": [], "nextLink": None}


def test_identity_files_are_private(server):
    ident = server.data_dir / "identity"
    assert ident.stat().st_mode & 0o777 == 0o700
    for f in [ident / "owner.json", ident / "tenant", *(ident / "keys").iterdir()]:
        assert f.stat().st_mode & 0o777 == 0o600, f
    assert not (server.data_dir / "admin-token").exists()
    # The host Owner's secret is in no log.
    assert server.owner["password"] not in server.output()


def test_vault_lifecycle(rs, bk):
    v = rs.vaults.begin_create_or_update(
        RG, "Vault-1", Vault(location="westeurope", sku=Sku(name="Standard"), properties=VaultProperties())).result()
    assert v.name == "Vault-1"
    assert v.id == f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/Vault-1"
    assert v.properties.provisioning_state == "Succeeded"
    assert v.properties.redundancy_settings.standard_tier_storage_redundancy == "GeoRedundant"
    assert v.properties.security_settings.soft_delete_settings.soft_delete_retention_period_in_days == 14

    # Names match case-insensitively; the stored casing comes back.
    got = rs.vaults.get(RG.upper(), "vault-1")
    assert got.name == "Vault-1" and got.location == "westeurope"
    assert [x.name for x in rs.vaults.list_by_resource_group(RG)] == ["Vault-1"]
    assert [x.name for x in rs.vaults.list_by_subscription_id()] == ["Vault-1"]

    # Every vault comes with DefaultPolicy.
    p = bk.protection_policies.get("Vault-1", RG, "DefaultPolicy")
    assert p.properties.schedule_policy.schedule_run_frequency == "Daily"
    assert p.properties.retention_policy.daily_schedule.retention_duration.count == 30
    assert p.properties.instant_rp_retention_range_in_days == 2
    assert [x.name for x in bk.backup_policies.list("Vault-1", RG)] == ["DefaultPolicy"]

    # Storage redundancy: vault PATCH, then the backupstorageconfig route.
    patch = PatchVault(properties=VaultProperties(redundancy_settings={"standardTierStorageRedundancy": "LocallyRedundant"}))
    v = rs.vaults.begin_update(RG, "Vault-1", patch).result()
    assert v.properties.redundancy_settings.standard_tier_storage_redundancy == "LocallyRedundant"
    sc = bk.backup_resource_storage_configs_non_crr.get("Vault-1", RG)
    assert sc.properties.storage_type == "LocallyRedundant"
    assert sc.properties.storage_type_state == "Unlocked"
    from azure.mgmt.recoveryservicesbackup.models import BackupResourceConfig, BackupResourceConfigResource
    bk.backup_resource_storage_configs_non_crr.patch(
        "Vault-1", RG, BackupResourceConfigResource(properties=BackupResourceConfig(storage_type="GeoRedundant")))
    assert rs.vaults.get(RG, "Vault-1").properties.redundancy_settings.standard_tier_storage_redundancy == "GeoRedundant"

    rs.vaults.begin_delete(RG, "Vault-1").result()
    with pytest.raises(ResourceNotFoundError):
        rs.vaults.get(RG, "Vault-1")


@pytest.mark.parametrize("name", ["a", "1vault", "has_underscore", "x" * 51, "dots.not.allowed"])
def test_vault_name_rule(rs, name):
    with pytest.raises(HttpResponseError) as e:
        rs.vaults.begin_create_or_update(RG, name, Vault(location="westeurope", sku=Sku(name="Standard"))).result()
    assert e.value.status_code == 400
    assert e.value.error.code == "InvalidResourceName"
    assert "2 to 50 characters" in e.value.error.message


def test_bad_requests_use_the_arm_error_envelope(server, rs):
    h = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    base = f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults"
    r = requests.put(base + "/v2?api-version=2026-11-01", data="{not json", headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequestContent"
    r = requests.put(base + "/v2?api-version=2026-11-01", json={}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "LocationRequired"
    r = requests.get(base + "/nope", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    # Paths are case-insensitive, any api-version is accepted, casing is canonical.
    r = requests.put(base + "/v2?api-version=2016-06-01", json={"location": "eastus"}, headers=h)
    assert r.status_code == 201
    mixed = base.replace("/resourceGroups/", "/RESOURCEGROUPS/").replace("Microsoft.RecoveryServices", "microsoft.recoveryservices")
    r = requests.get(mixed + "/V2?api-version=1999-01-01", headers=h)
    assert r.status_code == 200 and "/resourceGroups/" in r.json()["id"] and r.json()["name"] == "v2"
    # A vault cannot move between regions.
    r = requests.put(base + "/v2", json={"location": "westus"}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidResourceLocation"


def test_zone_redundant_storage_is_refused_not_a_label(rs):
    zrs = VaultProperties(redundancy_settings={"standardTierStorageRedundancy": "ZoneRedundant"})
    with pytest.raises(HttpResponseError) as e:
        rs.vaults.begin_create_or_update(RG, "v-zrs", Vault(location="japaneast", sku=Sku(name="Standard"),
                                                             properties=zrs)).result()
    assert e.value.status_code == 400
    assert e.value.error.code == "UserErrorStorageRedundancyNotSupported"
    assert "GeoRedundant" in e.value.error.message
    rs.vaults.begin_create_or_update(RG, "v-zrs", Vault(location="japaneast", sku=Sku(name="Standard"))).result()
    with pytest.raises(HttpResponseError) as e:
        rs.vaults.begin_update(RG, "v-zrs", PatchVault(properties=zrs)).result()
    assert e.value.error.code == "UserErrorStorageRedundancyNotSupported"
    v = rs.vaults.get(RG, "v-zrs")
    assert v.properties.redundancy_settings.standard_tier_storage_redundancy == "GeoRedundant"
    rs.vaults.begin_delete(RG, "v-zrs").result()


def test_unknown_regions_are_refused(rs):
    with pytest.raises(HttpResponseError) as e:
        rs.vaults.begin_create_or_update(RG, "v-mars", Vault(location="mars", sku=Sku(name="Standard"))).result()
    assert e.value.status_code == 400
    assert e.value.error.code == "LocationNotAvailableForResourceType"
    assert "'mars'" in e.value.error.message and "westeurope" in e.value.error.message
    # Display names are regions too.
    assert rs.vaults.begin_create_or_update(RG, "v-we", Vault(location="West Europe", sku=Sku(name="Standard"))).result()


@pytest.mark.parametrize("rg", ["bad%00rg", "a" * 5000, "a" * 91, "ends.", "sp%20ace"])
def test_resource_group_names_follow_azure_rule(server, rg):
    h = {"Authorization": f"Bearer {server.token}"}
    url = f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults/v1"
    r = requests.put(url, json={"location": "westeurope"}, headers=h)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "InvalidResourceGroup" and err["message"].startswith("resourceGroupName:")


@pytest.mark.parametrize("method,path,code,status", [
    ("GET", "/rsvault/clock", "MethodNotAllowed", 405),
    ("POST", "/healthz", "MethodNotAllowed", 405),
    ("GET", "/portal/none.js", "NotFound", 404),
    ("GET", "/portal/%FF", "InvalidRequestUri", 400),
])
def test_answers_made_outside_the_handlers_use_the_envelope(server, method, path, code, status):
    r = requests.request(method, server.endpoint + path, headers={"Authorization": f"Bearer {server.token}"})
    assert r.status_code == status
    assert r.json()["error"]["code"] == code


def test_bodies_over_2_mib_get_request_entity_too_large(server):
    url = f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/big"
    r = requests.put(url, data=b" " * (3 << 20), headers={"Authorization": f"Bearer {server.token}",
                                                           "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "RequestEntityTooLarge"
