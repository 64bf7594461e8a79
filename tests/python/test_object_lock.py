"""Immutable vaults on S3 with Object Lock, against moto's server: what the
server's rules keep, a stolen storage key cannot delete either.
- Unlocked: every object of the vault's store is locked in governance mode
  for the lock window (the soft-delete period, at least 14 days) as soon as
  the backup that wrote it ends.
- Locked: the scheduler hardens every lock to compliance mode.
- With the storage's own credentials (moto takes any, as a thief's would
  be), deleting a version of a locked object is refused even with the
  governance bypass; a plain delete only hides the object behind a delete
  marker, and its data is still there, byte for byte.
- A vault in a bucket made without object lock keeps the server's
  protection only, and the server says so in its log."""
import time
from datetime import datetime, timedelta, timezone

import botocore.exceptions
import pytest
from azure.mgmt.recoveryservices.models import Sku, Vault, VaultProperties
from azure.mgmt.recoveryservicesbackup.models import AzureIaaSComputeVMProtectedItem, ProtectedItemResource

from conftest import clients, temp_server
from object_storage import Moto, connection
from test_geo import raw_vm
from test_immutability import call, immutability, vault_url
from test_lifecycle import backup
from test_protection import RG


def s3(moto):
    """A client with the storage's own key, as a thief who stole it has."""
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id="stolen",
                        aws_secret_access_key="stolen", config=Config(s3={"addressing_style": "path"}))


def objects(c, bucket, prefix):
    """Each key's current version id."""
    out = {}
    for page in c.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        out.update({v["Key"]: v["VersionId"] for v in page.get("Versions", []) if v["IsLatest"]})
    return out


def lock_of(c, bucket, key):
    h = c.head_object(Bucket=bucket, Key=key)
    return h.get("ObjectLockMode"), h.get("ObjectLockRetainUntilDate")


def all_locked(c, bucket, prefix, mode, timeout=60):
    deadline = time.time() + timeout
    while True:
        keys = objects(c, bucket, prefix)
        locks = {k: lock_of(c, bucket, k) for k in keys}
        if keys and all(m == mode for m, _ in locks.values()):
            return keys, locks
        assert time.time() < deadline, f"not all {mode}: {locks}"
        # Not faster: moto's versioned buckets are not safe against reads
        # racing the server's retention writes on a loaded machine.
        time.sleep(2)


def protect_and_back_up(server, rs, bk, tmp_path, vault):
    rs.vaults.begin_create_or_update(RG, vault, Vault(location="westeurope", sku=Sku(name="Standard"), properties=VaultProperties(
        redundancy_settings={"standardTierStorageRedundancy": "LocallyRedundant"}))).result()
    assert call(server, "PATCH", vault_url(server, vault), immutability("Unlocked")).status_code == 200
    img, c, i = raw_vm(server, tmp_path, f"vm-{vault}", 8)
    policy = bk.protection_policies.get(vault, RG, "DefaultPolicy").id
    bk.protected_items.begin_create_or_update(vault, RG, "Azure", c, i, ProtectedItemResource(
        properties=AzureIaaSComputeVMProtectedItem(policy_id=policy))).result()
    done = backup(bk, vault, c, i)
    assert done.properties.status == "Completed", [e.error_string for e in done.properties.error_details]
    return img


def test_object_lock_keeps_an_immutable_vaults_data_from_the_storage_key(tmp_path):
    moto = Moto(tmp_path / "moto.log")
    try:
        moto.bucket("locked", object_lock=True)
        moto.bucket("plain")
        config = ("[scheduler]\ninterval_seconds = 1\n"
                  '[storage.regions.westeurope]\nurl = "s3://locked/we"\n'
                  f"[storage.regions.westeurope.connection]\n{connection(moto.url)}")
        with temp_server(config=config) as server:
            rs, bk = clients(server)
            c = s3(moto)
            started = datetime.now(timezone.utc)
            protect_and_back_up(server, rs, bk, tmp_path, "v-lock")
            keys, locks = all_locked(c, "locked", "we/", "GOVERNANCE", timeout=30)
            assert any("/packs/" in k for k in keys) and any("/points/" in k for k in keys), keys
            for k, (_, until) in locks.items():
                assert until >= started + timedelta(days=14) - timedelta(seconds=5), (k, until)

            # Locked: the next scheduler tick hardens every lock.
            assert call(server, "PATCH", vault_url(server, "v-lock"), immutability("Locked")).status_code == 200
            keys, _ = all_locked(c, "locked", "we/", "COMPLIANCE")

            # The thief, with the storage key: no version can go, not even
            # with the governance bypass; a plain delete hides, and the
            # data stays.
            key = max((k for k in keys if "/packs/" in k), key=lambda k: c.head_object(Bucket="locked", Key=k)["ContentLength"])
            before = c.get_object(Bucket="locked", Key=key)["Body"].read()
            for bypass in (False, True):
                with pytest.raises(botocore.exceptions.ClientError) as e:
                    c.delete_object(Bucket="locked", Key=key, VersionId=keys[key], BypassGovernanceRetention=bypass)
                assert e.value.response["Error"]["Code"] == "AccessDenied", e.value.response
            # (S3 also refuses to shorten a compliance lock; moto does not
            # model that, so it is not tried here.)
            assert c.delete_object(Bucket="locked", Key=key)["DeleteMarker"] is True
            with pytest.raises(botocore.exceptions.ClientError):
                c.head_object(Bucket="locked", Key=key)
            kept = c.get_object(Bucket="locked", Key=key, VersionId=keys[key])["Body"].read()
            assert kept == before and len(before) > 0

        # A bucket without object lock: the server's rules only, said once.
        config = ("[scheduler]\ninterval_seconds = 1\n"
                  '[storage.regions.westeurope]\nurl = "s3://plain/we"\n'
                  f"[storage.regions.westeurope.connection]\n{connection(moto.url)}")
        with temp_server(config=config) as server:
            rs, bk = clients(server)
            protect_and_back_up(server, rs, bk, tmp_path, "v-plain")
            deadline = time.time() + 30
            while "has no object lock" not in server.output():
                assert time.time() < deadline, server.output()[-3000:]
                time.sleep(0.5)
            assert server.output().count("has no object lock") == 1
            c = s3(moto)
            assert all(lock_of(c, "plain", k) == (None, None) for k in objects(c, "plain", "we/"))
    finally:
        moto.stop()
