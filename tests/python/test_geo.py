"""Geo-redundant storage and cross-region restore, end to end on object
storage: the vault's region (westeurope) keeps its stores on one moto S3
server and the paired region (northeurope) on another, each behind a relay
the test can stop. Through the Azure SDK (the backup client and the
passive-stamp client az uses for the secondary region):
- a GRS vault's full and incremental points reach the secondary, whose
  store verifies and restores every point bit for bit on its own, while a
  LocallyRedundant vault writes nothing there;
- the primary's storage taken away in the middle of a backup, and the
  secondary's in the middle of replication, then brought back: the backup
  completes with a point that restores, replication catches up, both
  stores verify;
- with the primary's storage gone, a cross-region restore of every point
  reads the secondary alone: bit for bit;
- deletion reaches the secondary."""
import json
import os
import subprocess
import time

import pytest
import requests
from azure.mgmt.recoveryservices.models import Sku, Vault, VaultProperties
from azure.mgmt.recoveryservicesbackup.models import AzureIaaSComputeVMProtectedItem, ProtectedItemResource

from conftest import SUB, HttpBearerPolicy, TokenCredential, clients, rsvault_bin, temp_server
from object_storage import Moto, Relay, connection
from test_backup_now import wait_job
from test_lifecycle import backup, trigger_backup
from test_protection import RG, VM_RG

SECONDARY = "northeurope"
API = "api-version=2025-02-01"


def passive(server):
    from azure.mgmt.recoveryservicesbackup.passivestamp import RecoveryServicesBackupPassiveClient
    cred = TokenCredential(server.token)
    return RecoveryServicesBackupPassiveClient(cred, SUB, base_url=server.endpoint, polling_interval=1,
                                               authentication_policy=HttpBearerPolicy(cred, "https://management.azure.com/.default"))


def raw_vm(server, tmp_path, name, mib):
    """A VM whose OS disk is a raw image of `mib` MiB of random bytes."""
    img = tmp_path / f"{name}.raw"
    img.write_bytes(os.urandom(mib << 20))
    r = requests.put(f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/{name}",
                     headers={"Authorization": f"Bearer {server.token}"},
                     json={"location": "westeurope", "properties": {"storageProfile": {"osDisk": {
                         "osType": "Linux", "vhd": {"uri": f"file://{img}"}}}}})
    assert r.status_code == 201, r.text
    return img, f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};{name}", f"VM;iaasvmcontainerv2;{VM_RG};{name}"


def replication(server, vault):
    r = requests.get(f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/{vault}"
                     f"/backupstorageconfig/vaultstorageconfig?{API}", headers={"Authorization": f"Bearer {server.token}"})
    assert r.status_code == 200, r.text
    return r.json()["properties"].get("rsvaultReplication")


def in_sync(server, vault, timeout=240):
    deadline = time.time() + timeout
    while True:
        r = replication(server, vault)
        if r["state"] == "InSync":
            return r
        assert time.time() < deadline, f"replication did not catch up: {r}"
        time.sleep(0.5)


def disk_cli(server, moto, url, sub, *args):
    key = server.data_dir / "keys" / f"{url.rsplit('/', 1)[1]}.key"
    env = {**os.environ, "AWS_ENDPOINT_URL": moto.url, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "rsvault-test", "AWS_SECRET_ACCESS_KEY": "rsvault-test-secret"}
    r = subprocess.run([rsvault_bin(), "disk", sub, "--store", url, "--key-file", str(key), *args],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, f"rsvault disk {sub}: {r.stdout}{r.stderr}"
    return r.stdout


def crr_restore(pc, vault_id, c, i, rp, sa, tmp_path):
    """A cross-region restore as az runs it (aad properties, the point's
    token, the trigger, the operation, the job); returns the finished job."""
    from azure.mgmt.recoveryservicesbackup.passivestamp.models import (CrossRegionRestoreRequest, CrrJobRequest,
                                                                       IaasVMRestoreRequest)
    aad = pc.aad_properties.get(SECONDARY)
    token = pc.recovery_points.get_access_token("v-geo", RG, "Azure", c, i, rp, aad).properties
    token.object_type = "CrrAccessToken"
    req = CrossRegionRestoreRequest(cross_region_restore_access_details=token, restore_request=IaasVMRestoreRequest(
        recovery_point_id=rp, recovery_type="RestoreDisks", storage_account_id=sa, region=SECONDARY,
        source_resource_id=f"/subscriptions/{SUB}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/vm-geo"))
    resp = pc.cross_region_restore.begin_trigger(SECONDARY, req, polling=False,
                                                 cls=lambda r, *_: r.http_response).result()
    op = resp.headers["Azure-AsyncOperation"].split("?")[0].rsplit("/", 1)[1]
    status = pc.crr_operation_status.get(SECONDARY, op)
    deadline = time.time() + 120
    while True:
        job = pc.backup_crr_job_details.get(SECONDARY, CrrJobRequest(resource_id=vault_id, job_name=status.properties.job_id))
        if job.properties.status not in ("InProgress", "Cancelling"):
            return job
        assert time.time() < deadline
        time.sleep(0.5)


@pytest.fixture
def storage(tmp_path):
    servers = {r: Moto(tmp_path / f"moto-{r}.log") for r in ("primary", "secondary")}
    for m in servers.values():
        m.bucket("vaults")
    relays = {r: Relay(m.port) for r, m in servers.items()}
    yield servers, relays
    for r in relays.values():
        r.stop()
    for m in servers.values():
        m.stop()


def test_grs_on_s3_replicates_survives_outages_and_restores_across_regions(storage, tmp_path):
    servers, relays = storage
    config = ("[scheduler]\ninterval_seconds = 1\n"
              '[storage.regions.westeurope]\nurl = "s3://vaults/we"\n'
              f"[storage.regions.westeurope.connection]\n{connection(relays['primary'].url)}"
              '[storage.regions.northeurope]\nurl = "s3://vaults/ne"\n'
              f"[storage.regions.northeurope.connection]\n{connection(relays['secondary'].url)}")
    with temp_server(config=config) as server:
        rs, bk = clients(server)
        pc = passive(server)
        policy = lambda v: bk.protection_policies.get(v, RG, "DefaultPolicy").id
        put = lambda v, c, i: bk.protected_items.begin_create_or_update(v, RG, "Azure", c, i, ProtectedItemResource(
            properties=AzureIaaSComputeVMProtectedItem(policy_id=policy(v)))).result()

        # A LocallyRedundant vault first: nothing of it may reach the pair.
        rs.vaults.begin_create_or_update(RG, "v-lrs", Vault(location="westeurope", sku=Sku(name="Standard"), properties=VaultProperties(
            redundancy_settings={"standardTierStorageRedundancy": "LocallyRedundant"}))).result()
        _, lc, li = raw_vm(server, tmp_path, "vm-lrs", 4)
        put("v-lrs", lc, li)
        assert backup(bk, "v-lrs", lc, li).properties.status == "Completed"
        assert replication(server, "v-lrs") is None
        assert servers["secondary"].keys("vaults") == [], "an LRS vault writes nothing to the paired region"

        vault = rs.vaults.begin_create_or_update(RG, "v-geo", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
        assert vault.properties.redundancy_settings.standard_tier_storage_redundancy == "GeoRedundant"
        cfg = bk.backup_resource_storage_configs_non_crr.get("v-geo", RG)
        cfg.properties.cross_region_restore_flag = True
        bk.backup_resource_storage_configs_non_crr.patch("v-geo", RG, cfg)
        assert replication(server, "v-geo")["secondaryRegion"] == SECONDARY
        img, c, i = raw_vm(server, tmp_path, "vm-geo", 48)

        # The full backup, with the primary's storage gone for 8 s part way
        # (longer than ten of object_store's randomised backoffs can take).
        put("v-geo", c, i)
        expected = {}
        job = trigger_backup(bk, "v-geo", c, i)
        deadline = time.time() + 60
        while bk.job_details.get("v-geo", RG, job).properties.extended_info.progress_percentage < 5:
            assert time.time() < deadline
            time.sleep(0.05)
        relays["primary"].stop()
        time.sleep(8)
        relays["primary"].start()
        done = wait_job(bk, "v-geo", job, timeout=300)
        assert done.properties.status == "Completed", [e.error_string for e in done.properties.error_details]
        expected[done.properties.extended_info.property_bag["Recovery Point"]] = img.read_bytes()
        in_sync(server, "v-geo")

        # The incremental, with the secondary's storage gone for 3 s as it
        # replicates.
        with open(img, "r+b") as f:
            f.seek(8 << 20)
            f.write(os.urandom(4 << 20))
        done = backup(bk, "v-geo", c, i)
        assert done.properties.status == "Completed", [e.error_string for e in done.properties.error_details]
        relays["secondary"].stop()
        time.sleep(3)
        relays["secondary"].start()
        expected[done.properties.extended_info.property_bag["Recovery Point"]] = img.read_bytes()
        r = in_sync(server, "v-geo")
        assert (r["pendingRecoveryPoints"], r["lagInSeconds"], r["lastError"]) == (0, 0, None), r

        # The secondary store, alone, verifies and holds every point.
        keys = servers["secondary"].keys("vaults")
        (name,) = {k.split("/")[1] for k in keys}
        assert all(k.startswith(f"ne/{name}/") for k in keys), "only the GRS vault's store is in the pair"
        secondary_url = f"s3://vaults/ne/{name}"
        disk_cli(server, servers["secondary"], secondary_url, "verify")
        disk_cli(server, servers["primary"], f"s3://vaults/we/{name}", "verify")
        points = json.loads(disk_cli(server, servers["secondary"], secondary_url, "points", "--json"))
        assert len(points) == 2, points
        for p in points:
            out = tmp_path / f"sec-{p['id']}.raw"
            disk_cli(server, servers["secondary"], secondary_url, "restore", "--name", p["name"], "--point", p["id"],
                     "--output", str(out))
            assert out.read_bytes() in expected.values(), "a secondary point restores bit for bit"

        # The secondary region's view, as the passive client reads it.
        items = list(pc.backup_protected_items_crr.list("v-geo", RG, filter="backupManagementType eq 'AzureIaasVM' and itemType eq 'VM'"))
        assert [x.properties.friendly_name for x in items] == ["vm-geo"]
        rps = list(pc.recovery_points_crr.list("v-geo", RG, "Azure", c, i))
        assert sorted(p.name for p in rps) == sorted(expected)
        assert all([t.type for t in p.properties.recovery_point_tier_details] == ["HardenedRP"] for p in rps)

        # The primary region's storage is gone: every point restores from
        # the secondary, bit for bit.
        relays["primary"].stop()
        servers["primary"].stop()
        sa = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/crrsa"
        for rp, want in expected.items():
            job = crr_restore(pc, vault.id, c, i, rp, sa, tmp_path)
            assert job.properties.status == "Completed", job.properties.error_details
            assert job.properties.operation == "CrossRegionRestore"
            bag = job.properties.extended_info.property_bag
            assert bag["Restore Source"] == "Secondary region vault (HardenedRP)"
            assert open(bag["OS disk"], "rb").read() == want, f"point {rp} restores from the secondary"
        from azure.mgmt.recoveryservicesbackup.passivestamp.models import CrrJobRequest
        crr_jobs = list(pc.backup_crr_jobs.list(SECONDARY, CrrJobRequest(resource_id=vault.id)))
        assert len(crr_jobs) == 2 and all(j.properties.operation == "CrossRegionRestore" for j in crr_jobs)

        # A token is for its own point and vault only.
        from azure.core.exceptions import HttpResponseError
        from azure.mgmt.recoveryservicesbackup.passivestamp.models import CrossRegionRestoreRequest, IaasVMRestoreRequest
        aad = pc.aad_properties.get(SECONDARY)
        rp1, rp2 = sorted(expected)
        token = pc.recovery_points.get_access_token("v-geo", RG, "Azure", c, i, rp1, aad).properties
        token.access_token_string = token.access_token_string[:-2] + ("00" if not token.access_token_string.endswith("00") else "11")
        with pytest.raises(HttpResponseError) as e:
            pc.cross_region_restore.begin_trigger(SECONDARY, CrossRegionRestoreRequest(
                cross_region_restore_access_details=token, restore_request=IaasVMRestoreRequest(
                    recovery_point_id=rp1, recovery_type="RestoreDisks", storage_account_id=sa, region=SECONDARY)), polling=False).result()
        assert e.value.error.code == "BMSUserErrorInvalidCrrAccessToken"
        with pytest.raises(HttpResponseError) as e:
            pc.recovery_points.get_access_token("v-lrs", RG, "Azure", lc, li, rp1, aad)
        assert e.value.error.code == "BMSUserErrorCrossRegionRestoreNotEnabled"
