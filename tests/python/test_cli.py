"""The `rsvault backup …` and `rsvault vm …` commands (az backup / az vm
style) driven as a user would, against a real `rsvault serve`."""
import datetime as dt
import json
import os
import subprocess
import tempfile

import pytest

from conftest import SUB, Server, rsvault_bin

RG = "rg-cli"
VM_RG = "rg-cli-vms"


def run(server, *args, ok=True, token=True, extra_env=None):
    """Runs the CLI; returns the finished process (checked when ok)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RSVAULT_")}
    env["RSVAULT_SUBSCRIPTION"] = SUB
    env["RSVAULT_CA_FILE"] = os.environ["RSVAULT_CA_FILE"]  # the test CA (conftest)
    if token:
        env["RSVAULT_TOKEN"] = server.token
    env.update(extra_env or {})
    p = subprocess.run([rsvault_bin(), *args[:1], "--endpoint", server.endpoint, *args[1:]],
                       capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300)
    if ok:
        assert p.returncode == 0, f"{args}: exit {p.returncode}\n{p.stderr}"
    return p


def js(server, *args):
    return json.loads(run(server, *args).stdout)


def table(server, *args):
    """A `-o table` output as (header cells, rows of cells), split on the
    column starts that the dashed rule shows."""
    lines = run(server, *args, "-o", "table").stdout.splitlines()
    rule = lines[1]
    starts = [i for i, c in enumerate(rule) if c == "-" and (i == 0 or rule[i - 1] == " ")]
    cut = lambda line: [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
    return cut(lines[0]), [cut(line) for line in lines[2:]]


def image(tmp_path, name, pattern, size="64M"):
    p = tmp_path / name
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(p), size], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P {pattern} 0 1M", str(p)], check=True, capture_output=True)
    return p


def raw_of(img, tmp_path):
    out = tmp_path / (img.name + ".raw")
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(img), str(out)], check=True)
    return out.read_bytes()


def vault(name):
    return ["-v", name, "-g", RG]


def test_vm_backup_restore_workflow(server, tmp_path):
    os_img = image(tmp_path, "os.qcow2", "0x5a")
    data_img = image(tmp_path, "data.qcow2", "0x33", "32M")

    vm = js(server, "vm", "create", "-g", VM_RG, "-n", "vm-cli", "-l", "westeurope",
            "--os-disk", str(os_img), "--data-disk", str(data_img))
    assert vm["id"] == f"/subscriptions/{SUB}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/vm-cli"
    assert vm["properties"]["storageProfile"]["osDisk"]["vhd"]["uri"] == f"file://{os_img}"
    assert vm["properties"]["storageProfile"]["dataDisks"][0]["lun"] == 0
    head, rows = table(server, "vm", "list")
    assert head == ["Name", "ResourceGroup", "Location", "PowerState", "OsType", "DataDisks"]
    assert rows == [["vm-cli", VM_RG, "westeurope", "VM running", "Linux", "1"]]

    v = js(server, "backup", "vault", "create", "-n", "v-cli", "-g", RG, "-l", "westeurope")
    assert v["name"] == "v-cli" and v["location"] == "westeurope" and v["resourceGroup"] == RG
    assert table(server, "backup", "vault", "list", "-g", RG) == (["Location", "Name", "ResourceGroup"],
                                                                  [["westeurope", "v-cli", RG]])
    props = js(server, "backup", "vault", "backup-properties", "set", "-n", "v-cli", "-g", RG,
               "--backup-storage-redundancy", "LocallyRedundant")
    assert props[0]["properties"]["storageType"] == "LocallyRedundant"
    assert js(server, "backup", "vault", "show", "-n", "v-cli", "-g", RG)["properties"]["redundancySettings"][
        "standardTierStorageRedundancy"] == "LocallyRedundant"

    # A custom daily policy made from the default one, as az users do.
    default = js(server, "backup", "policy", "get-default-for-vm", *vault("v-cli"))
    assert default["name"] == "DefaultPolicy"
    assert default["properties"]["schedulePolicy"]["scheduleRunFrequency"] == "Daily"
    assert js(server, "backup", "policy", "show", *vault("v-cli"), "-n", "DefaultPolicy") == default
    custom = dict(default, name="daily-7")
    p = custom["properties"]
    p["schedulePolicy"]["scheduleRunTimes"] = ["2024-01-01T02:30:00Z"]
    p["retentionPolicy"]["dailySchedule"]["retentionTimes"] = ["2024-01-01T02:30:00Z"]
    p["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"] = 7
    (tmp_path / "policy.json").write_text(json.dumps(custom))
    got = js(server, "backup", "policy", "set", *vault("v-cli"), "--policy", f"@{tmp_path / 'policy.json'}")
    assert got["name"] == "daily-7"
    assert got["properties"]["retentionPolicy"]["dailySchedule"]["retentionDuration"]["count"] == 7
    assert got["properties"]["schedulePolicy"]["scheduleRunTimes"][0].startswith("2024-01-01T02:30:00")
    assert table(server, "backup", "policy", "list", *vault("v-cli"))[1] == [
        ["DefaultPolicy", RG, "AzureIaasVM"], ["daily-7", RG, "AzureIaasVM"]]

    job = js(server, "backup", "protection", "enable-for-vm", *vault("v-cli"), "--vm", vm["id"], "-p", "daily-7")
    assert job["properties"]["operation"] == "ConfigureBackup" and job["properties"]["status"] == "Completed"
    # Enabling twice is refused as az refuses it: the VM is no longer protectable.
    again = run(server, "backup", "protection", "enable-for-vm", *vault("v-cli"), "--vm", vm["id"],
                "-p", "daily-7", ok=False)
    assert again.returncode != 0 and "already Protected" in again.stderr

    until = (dt.date.today() + dt.timedelta(days=60)).strftime("%d-%m-%Y")
    job = js(server, "backup", "protection", "backup-now", *vault("v-cli"), "-c", "vm-cli", "-i", "vm-cli",
             "--retain-until", until)
    assert job["properties"]["operation"] == "Backup" and job["properties"]["entityFriendlyName"] == "vm-cli"
    assert job["properties"]["status"] in ("InProgress", "Completed")
    done = js(server, "backup", "job", "wait", *vault("v-cli"), "-n", job["name"], "--timeout", "120")
    assert done["properties"]["status"] == "Completed", done["properties"]["errorDetails"]
    head, rows = table(server, "backup", "job", "list", *vault("v-cli"), "--operation", "backup", "--status", "Completed")
    assert head == ["Name", "Operation", "Status", "Item Name", "Backup Management Type", "Start Time UTC", "Duration"]
    assert [r[:5] for r in rows] == [[job["name"], "Backup", "Completed", "vm-cli", "AzureIaasVM"]]
    assert rows[0][6].startswith("0:00:")
    assert js(server, "backup", "job", "list", *vault("v-cli"), "--status", "Failed") == []

    c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};vm-cli", f"VM;iaasvmcontainerv2;{VM_RG};vm-cli"
    rps = js(server, "backup", "recoverypoint", "list", *vault("v-cli"), "-c", c, "-i", i)
    assert len(rps) == 1 and rps[0]["properties"]["recoveryPointType"] == "CrashConsistent"
    assert rps[0]["tierType"] == "VaultStandard"
    today = dt.date.today()
    within = [(today - dt.timedelta(days=1)).strftime("%d-%m-%Y"), (today + dt.timedelta(days=1)).strftime("%d-%m-%Y")]
    assert [r["name"] for r in js(server, "backup", "recoverypoint", "list", *vault("v-cli"), "-c", "vm-cli",
                                   "-i", "vm-cli", "--start-date", within[0], "--end-date", within[1])] == [rps[0]["name"]]
    assert js(server, "backup", "recoverypoint", "list", *vault("v-cli"), "-c", "vm-cli", "-i", "vm-cli",
              "--start-date", "01-01-2020", "--end-date", "31-01-2020") == []
    rp = js(server, "backup", "recoverypoint", "show", *vault("v-cli"), "-c", "vm-cli", "-i", "vm-cli",
            "-n", rps[0]["name"])
    assert rp["id"] == rps[0]["id"]

    # The VM's disks change after the backup; the restore gives them back as they were.
    before = raw_of(os_img, tmp_path), raw_of(data_img, tmp_path)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x77 0 2M", str(os_img)], check=True, capture_output=True)
    job = js(server, "backup", "restore", "restore-disks", *vault("v-cli"), "-c", "vm-cli", "-i", "vm-cli",
             "--rp-name", rps[0]["name"], "--storage-account", "clirestore")
    assert job["properties"]["operation"] == "Restore"
    done = js(server, "backup", "job", "wait", *vault("v-cli"), "-n", job["name"])
    assert done["properties"]["status"] == "Completed", done["properties"]["errorDetails"]
    bag = done["properties"]["extendedInfo"]["propertyBag"]
    assert bag["Target Storage Account Name"] == "clirestore"
    assert open(bag["OS disk"], "rb").read() == before[0], "the restored OS disk is the disk at the recovery point"
    assert open(bag["Data disk (LUN 0)"], "rb").read() == before[1]
    # As a new VM (az's --target-vm-name), and in place (refused while the VM runs).
    rp_args = ("-c", "vm-cli", "-i", "vm-cli", "--rp-name", rps[0]["name"], "--storage-account", "clirestore")
    job = js(server, "backup", "restore", "restore-disks", *vault("v-cli"), *rp_args,
             "--target-vm-name", "vm-cli-copy", "--target-resource-group", "rg-cli-copy")
    done = js(server, "backup", "job", "wait", *vault("v-cli"), "-n", job["name"])
    assert done["properties"]["status"] == "Completed", done["properties"]["errorDetails"]
    assert done["properties"]["extendedInfo"]["propertyBag"]["Target VM Name"] == "vm-cli-copy"
    assert js(server, "vm", "show", "-g", "rg-cli-copy", "-n", "vm-cli-copy")["name"] == "vm-cli-copy"
    p = run(server, "backup", "restore", "restore-disks", *vault("v-cli"), *rp_args,
            "--restore-mode", "OriginalLocation", ok=False)
    assert p.returncode != 0 and "UserErrorVmNotShutDown" in p.stderr, p.stderr
    p = run(server, "backup", "restore", "restore-disks", *vault("v-cli"), *rp_args, "--target-vm-name", "x", ok=False)
    assert p.returncode != 0 and "--target-resource-group" in p.stderr, p.stderr

    head, rows = table(server, "backup", "item", "list", *vault("v-cli"))
    assert head == ["Name", "Friendly Name", "Container name", "Resource Group", "Type", "Last Backup Status",
                    "Last Recovery Point", "Protection Status", "Protection State", "Health Status"]
    assert len(rows) == 1
    assert rows[0][:6] == [i, "vm-cli", f"iaasvmcontainerv2;{VM_RG};vm-cli", RG, "VM", "Completed"]
    assert rows[0][8] == "Protected"
    assert table(server, "backup", "item", "show", *vault("v-cli"), "-c", c, "-n", "vm-cli")[1] == rows
    assert table(server, "backup", "container", "list", *vault("v-cli"))[1] == [
        [c, "vm-cli", RG, "AzureIaasVM", "Registered"]]

    # Stop and delete the data (soft delete), then undelete, then resume.
    refused = run(server, "backup", "protection", "disable", *vault("v-cli"), "-c", "vm-cli", "-i", "vm-cli",
                  "--delete-backup-data", "true", ok=False)
    assert refused.returncode != 0 and "--yes" in refused.stderr
    run(server, "backup", "protection", "disable", *vault("v-cli"), "-c", "vm-cli", "-i", "vm-cli",
        "--delete-backup-data", "true", "--yes")
    item = js(server, "backup", "item", "show", *vault("v-cli"), "-c", "vm-cli", "-n", "vm-cli")
    assert item["properties"]["isScheduledForDeferredDelete"] is True
    assert item["properties"]["protectionState"] == "ProtectionStopped"
    run(server, "backup", "protection", "undelete", *vault("v-cli"), "-c", c, "-i", i)
    item = js(server, "backup", "item", "show", *vault("v-cli"), "-c", c, "-n", i)
    assert item["properties"]["isScheduledForDeferredDelete"] is False
    assert item["properties"]["protectionState"] == "ProtectionStopped"
    assert len(js(server, "backup", "recoverypoint", "list", *vault("v-cli"), "-c", c, "-i", i)) == 1
    run(server, "backup", "protection", "resume", *vault("v-cli"), "-c", "vm-cli", "-i", "vm-cli", "-p", "daily-7")
    item = js(server, "backup", "item", "show", *vault("v-cli"), "-c", "vm-cli", "-n", "vm-cli")
    assert item["properties"]["protectionState"] == "Protected" and item["properties"]["policyName"] == "daily-7"

    # A policy in use cannot go; an unused one can.
    busy = run(server, "backup", "policy", "delete", *vault("v-cli"), "-n", "daily-7", "--yes", ok=False)
    assert busy.returncode != 0 and busy.stderr.startswith("error: (")
    assert [x["name"] for x in js(server, "backup", "policy", "list-associated-items", *vault("v-cli"),
                                  "-n", "daily-7")] == [i]


def test_errors_name_the_azure_code(server, tmp_path):
    p = run(server, "backup", "vault", "create", "-n", "1-bad", "-g", RG, "-l", "westeurope", ok=False)
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.startswith("error: (InvalidResourceName) The vault name '1-bad' is invalid")
    p = run(server, "backup", "vault", "show", "-n", "nope", "-g", RG, ok=False)
    assert p.returncode == 1 and "(ResourceNotFound)" in p.stderr
    p = run(server, "backup", "vault", "list", "--token", "wrong", ok=False)
    assert p.returncode == 1 and "(InvalidAuthenticationToken)" in p.stderr
    p = run(server, "backup", "vault", "list", "--resource-grop", RG, ok=False)
    assert p.returncode == 2 and "--resource-group" in p.stderr, "clap suggests the flag"
    js(server, "backup", "vault", "create", "-n", "v-err", "-g", RG, "-l", "westeurope")
    p = run(server, "backup", "job", "list", "-v", "v-err", "-g", RG, "--start-date", "2024/01/01", ok=False)
    assert p.returncode == 1 and "31-12-2017" in p.stderr
    p = run(server, "backup", "item", "show", "-v", "v-err", "-g", RG, "-c", "ghost", "-n", "ghost", ok=False)
    assert p.returncode == 1 and "Item not found" in p.stderr
    p = run(server, "backup", "policy", "set", "-v", "v-err", "-g", RG, "--policy", "{not json", ok=False)
    assert p.returncode == 1 and "not valid JSON" in p.stderr
    p = run(server, "vm", "create", "-g", VM_RG, "-n", "x", "-l", "westeurope", "--os-disk", str(tmp_path / "missing"), ok=False)
    assert p.returncode == 1 and "missing" in p.stderr
    bad = tmp_path / "bad.qcow2"
    bad.write_bytes(b"QFI\xfb" + b"\xff" * 200)
    p = run(server, "vm", "create", "-g", VM_RG, "-n", "x", "-l", "westeurope", "--os-disk", str(bad), ok=False)
    assert p.returncode == 1 and "(InvalidParameter)" in p.stderr
    # Without --token, the CLI logs in as the host Owner, whose credential is
    # in the server's data directory.
    p = run(server, "backup", "vault", "list", "-o", "tsv", token=False,
            extra_env={"RSVAULT_DATA_DIR": str(server.data_dir)})
    assert p.stdout.split("\t")[1] == "v-err"
    p = run(server, "backup", "vault", "list", token=False, extra_env={"RSVAULT_DATA_DIR": str(tmp_path)}, ok=False)
    assert p.returncode == 1 and "owner.json" in p.stderr
    # Or as a service principal, with its app id and secret.
    p = run(server, "backup", "vault", "list", "-o", "tsv", token=False,
            extra_env={"RSVAULT_CLIENT_ID": server.owner["appId"], "RSVAULT_CLIENT_SECRET": server.owner["password"]})
    assert p.stdout.split("\t")[1] == "v-err"
    p = run(server, "backup", "vault", "list", token=False, ok=False,
            extra_env={"RSVAULT_CLIENT_ID": server.owner["appId"], "RSVAULT_CLIENT_SECRET": "wrong-secret"})
    assert p.returncode == 1 and "AADSTS7000215" in p.stderr


def test_job_stop_cancels_a_running_backup(server, tmp_path):
    img = tmp_path / "big.raw"
    with open(img, "wb") as f:
        for _ in range(384):
            f.write(os.urandom(1 << 20))
    vm = js(server, "vm", "create", "-g", VM_RG, "-n", "vm-big", "-l", "westeurope", "--os-disk", str(img))
    js(server, "backup", "vault", "create", "-n", "v-stop", "-g", RG, "-l", "westeurope")
    js(server, "backup", "protection", "enable-for-vm", *vault("v-stop"), "--vm", vm["id"], "-p", "DefaultPolicy")
    job = js(server, "backup", "protection", "backup-now", *vault("v-stop"), "-c", "vm-big", "-i", "vm-big")
    assert job["properties"]["status"] == "InProgress", "384 MiB of random data take a while to back up"
    stopped = js(server, "backup", "job", "stop", *vault("v-stop"), "-n", job["name"])
    assert stopped["name"] == job["name"]
    assert stopped["properties"]["status"] in ("Cancelling", "Cancelled")
    done = js(server, "backup", "job", "wait", *vault("v-stop"), "-n", job["name"])
    assert done["properties"]["status"] == "Cancelled"
    assert js(server, "backup", "recoverypoint", "list", *vault("v-stop"), "-c", "vm-big", "-i", "vm-big") == []


def test_lists_follow_next_link():
    with tempfile.TemporaryDirectory() as d:
        server = Server(d, config="[api]\npage_size = 2\n")
        try:
            for n in range(5):
                js(server, "backup", "vault", "create", "-n", f"pv{n}", "-g", "rg-page", "-l", "westeurope")
            assert sorted(v["name"] for v in js(server, "backup", "vault", "list")) == [f"pv{n}" for n in range(5)]
            _, rows = table(server, "backup", "vault", "list", "-g", "rg-page")
            assert [r[1] for r in rows] == [f"pv{n}" for n in range(5)]
        finally:
            assert server.stop() == 0


def test_cross_region_restore_from_the_cli(tmp_path):
    """A geo-redundant vault's point, restored with `--use-secondary-region`
    after the primary region's store is lost; its job in the secondary
    region's list."""
    import time
    from conftest import temp_server, vault_stores
    with temp_server(config="[scheduler]\ninterval_seconds = 1\n") as server:
        os_img = image(tmp_path, "geo.qcow2", "0x4d")
        vm = js(server, "vm", "create", "-g", VM_RG, "-n", "vm-geo", "-l", "westeurope", "--os-disk", str(os_img))
        js(server, "backup", "vault", "create", "-n", "v-geo", "-g", RG, "-l", "westeurope")
        props = js(server, "backup", "vault", "backup-properties", "set", "-n", "v-geo", "-g", RG, "--cross-region-restore-flag", "True")
        assert props[0]["properties"]["crossRegionRestoreFlag"] is True
        js(server, "backup", "protection", "enable-for-vm", *vault("v-geo"), "--vm", vm["id"], "-p", "DefaultPolicy")
        job = js(server, "backup", "protection", "backup-now", *vault("v-geo"), "-c", "vm-geo", "-i", "vm-geo")
        assert js(server, "backup", "job", "wait", *vault("v-geo"), "-n", job["name"])["properties"]["status"] == "Completed"
        deadline = time.time() + 60
        while not (rps := js(server, "backup", "recoverypoint", "list", *vault("v-geo"), "-c", "vm-geo", "-i", "vm-geo",
                             "--use-secondary-region")):
            assert time.time() < deadline, "the point did not reach the secondary region"
            time.sleep(0.5)
        assert rps[0]["tierType"] == "VaultStandard"
        want = raw_of(os_img, tmp_path)
        (primary,) = vault_stores(server.data_dir)
        primary.rename(primary.with_name(primary.name + ".lost"))
        js(server, "storage", "account", "create", "-g", RG, "-n", "geostage", "-l", "northeurope")
        job = js(server, "backup", "restore", "restore-disks", *vault("v-geo"), "-c", "vm-geo", "-i", "vm-geo",
                 "-r", rps[0]["name"], "--storage-account", "geostage", "--use-secondary-region")
        assert job["properties"]["operation"] == "CrossRegionRestore"
        done = js(server, "backup", "job", "wait", *vault("v-geo"), "-n", job["name"], "--use-secondary-region")
        assert done["properties"]["status"] == "Completed", done
        bag = done["properties"]["extendedInfo"]["propertyBag"]
        assert open(bag["OS disk"], "rb").read() == want
        head, rows = table(server, "backup", "job", "list", *vault("v-geo"), "--use-secondary-region")
        assert [r[:3] for r in rows] == [[job["name"], "CrossRegionRestore", "Completed"]]
