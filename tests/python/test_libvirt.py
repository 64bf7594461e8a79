"""A libvirt host (`rsvault serve --libvirt URI`) on a real libvirtd with a
TCG domain: discovery into the inventory, live backups through libvirt's
backup API (pull mode, checkpoints, NBD) with changed-block tracking, no
taint, restores bit for bit, a stopped domain read from its files, a
rename that keeps the VM's id, and a domain that goes away; restores as
a new domain defined from the saved definition, and in place into the
stopped domain."""
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.recoveryservices.models import Sku, Vault

from conftest import SUB, Server, clients
from test_live import backup, bag, codes, restore_disks, same, snapshot_raw
from test_protection import RG, protect
from test_restore import trigger
from qemu_vm import guest_dir

URI = os.environ.get("RSVAULT_TEST_LIBVIRT", "")
KVM_RG = "rg-kvm"
LOC = "westeurope"

if not URI:
    assert os.environ.get("CI") != "true", "CI=true but RSVAULT_TEST_LIBVIRT names no libvirt connection"
    pytest.skip("RSVAULT_TEST_LIBVIRT is not set", allow_module_level=True)


def virsh(*args, check=True):
    r = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True)
    assert r.returncode == 0 or not check, r.stdout + r.stderr
    return r.stdout


DOMAIN = """<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{os}'/><target dev='vda' bus='virtio'/></disk>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{data}'/><target dev='vdb' bus='virtio'/></disk>
<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='sda' bus='sata'/><readonly/></disk>
<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
</devices></domain>"""


def api(server, method, path, **kw):
    return requests.request(method, f"{server.endpoint}/subscriptions/{SUB}{path}",
                            headers={"Authorization": f"Bearer {server.token}"}, verify=server.verify(),
                            timeout=60, **kw)


def vm_body(server, name):
    r = api(server, "GET", f"/resourceGroups/{KVM_RG}/providers/Microsoft.Compute/virtualMachines/{name}"
            "?api-version=2024-07-01&$expand=instanceView")
    assert r.status_code == 200, r.text
    return r.json()


def guest_write(name, offset, length, pattern):
    # The lab's write through HMP qemu-io (this taints the domain with
    # custom-monitor, so it comes after the taint check).
    out = virsh("qemu-monitor-command", name, "--hmp",
                f'qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P {pattern} {offset} {length}"')
    assert "error" not in out.lower(), out


def tainted(name):
    log = Path("/var/log/libvirt/qemu") / f"{name}.log"
    return [l for l in log.read_text(errors="replace").splitlines() if "taint" in l.lower()] if log.exists() else []


def cbt(job):
    return bag(job)["Changed-block tracking (os)"]


def restart_libvirtd():
    subprocess.run(["pkill", "-x", "libvirtd"], check=False)
    for _ in range(100):
        if subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True).returncode != 0:
            break
        time.sleep(0.1)
    subprocess.run(["libvirtd", "-d"], check=True)
    for _ in range(100):
        if subprocess.run(["virsh", "-c", URI, "version"], capture_output=True).returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError("libvirtd did not come back")


def kill_qemu(name):
    pid = int(Path(f"/run/libvirt/qemu/{name}.pid").read_text().strip())
    os.kill(pid, 9)
    for _ in range(100):
        if virsh("domstate", name).strip() == "shut off":
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} still runs after kill -9")


def refresh(bk, vault="v-kvm"):
    bk.protection_containers.refresh(vault, RG, "Azure")


def test_a_libvirt_host_is_discovered_backed_up_and_restored(libvirtd):
    work = Path(tempfile.mkdtemp(prefix="rsvault-libvirt-", dir="/tmp"))
    work.chmod(0o755)  # libvirt's QEMU user reaches the images
    name = f"rsvault-pytest-{os.getpid()}"
    server = None
    try:
        os_img, data_img = work / "os.qcow2", work / "data.raw"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(os_img), "64M"], check=True)
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 8M", "-c", "write -P 0x22 40M 4M",
                        str(os_img)], check=True, capture_output=True)
        data_img.write_bytes(os.urandom(4 << 20))
        (work / "d.xml").write_text(DOMAIN.format(name=name, os=os_img, data=data_img))
        virsh("define", str(work / "d.xml"))
        virsh("start", name)
        uuid = virsh("domuuid", name).strip()
        inactive = virsh("dumpxml", "--inactive", name)

        cfg = f'[libvirt]\nsubscription = "{SUB}"\nresource_group = "{KVM_RG}"\nlocation = "{LOC}"\n'
        server = Server(work / "srv", config=cfg, extra=["--libvirt", URI])
        rs, bk = clients(server)

        # Discovery: the domain is a VM with its two disks (no CD-ROM),
        # keyed by its UUID.
        vm = vm_body(server, name)
        p = vm["properties"]
        assert p["vmId"] == uuid and p["libvirt"]["domainUuid"] == uuid and p["libvirt"]["uri"] == URI
        assert p["storageProfile"]["osDisk"]["vhd"]["uri"] == f"file://{os_img}"
        assert [d["vhd"]["uri"] for d in p["storageProfile"]["dataDisks"]] == [f"file://{data_img}"]
        assert p["libvirt"]["devices"] == ["vda", "vdb"]
        assert any(s["code"] == "PowerState/running" for s in p["instanceView"]["statuses"])
        # Nobody names a libvirt domain through the API.
        forged = {"location": LOC, "properties": {"storageProfile": p["storageProfile"],
                                                  "libvirt": {"uri": URI, "domainUuid": uuid}}}
        r = api(server, "PUT", f"/resourceGroups/{KVM_RG}/providers/Microsoft.Compute/virtualMachines/forged"
                "?api-version=2024-07-01", json=forged)
        assert r.status_code == 400 and "properties.libvirt" in r.json()["error"]["message"], r.text

        rs.vaults.begin_create_or_update(RG, "v-kvm", Vault(location=LOC, sku=Sku(name="Standard"))).result()
        refresh(bk)
        found = list(bk.backup_protectable_items.list("v-kvm", RG, filter="backupManagementType eq 'AzureIaasVM'"))
        # (Other domains of the host are listed too.)
        assert name in [f.properties["friendlyName"] for f in found]
        c, i = f"IaasVMContainer;iaasvmcontainerv2;{KVM_RG};{name}", f"VM;iaasvmcontainerv2;{KVM_RG};{name}"
        policy = bk.protection_policies.get("v-kvm", RG, "DefaultPolicy")
        protect(bk, "v-kvm", c, i, vm["id"], policy.id)

        # A live backup: crash-consistent (no agent answers), full.
        j1 = backup(bk, "v-kvm", c, i)
        assert j1.properties.status == "CompletedWithWarnings", j1.properties.error_details
        assert codes(j1) == ["UserErrorGuestAgentStatusUnavailable"]
        assert bag(j1)["Consistency"] == "CrashConsistent"
        assert "first backup" in bag(j1)["Changed-block tracking (os)"]
        assert "raw" in bag(j1)["Changed-block tracking (lun-0)"]
        assert tainted(name) == [], "libvirt's backup API leaves the domain untainted"
        assert virsh("dumpxml", "--inactive", name) == inactive, "the definition is unchanged"
        cps = virsh("checkpoint-list", name, "--name").split()
        assert len(cps) == 1 and cps[0].startswith("rsvault-"), cps

        # After 1 MiB of guest writes: only the changed extents are read.
        guest_write(name, 20 << 20, 1 << 20, 0x77)
        j2 = backup(bk, "v-kvm", c, i)
        assert bag(j2)["Changed-block tracking (os)"] == "used", bag(j2)
        read = lambda j: float(bag(j)["Data Read"].split()[0])
        assert read(j2) < read(j1), (bag(j1), bag(j2))
        cps2 = virsh("checkpoint-list", name, "--name").split()
        assert len(cps2) == 1 and cps2 != cps, "the older checkpoint is retired"
        expected = snapshot_raw(os_img, "qcow2", work / "rp2.raw")
        rp2 = sorted(bk.recovery_points.list("v-kvm", RG, "Azure", c, i),
                     key=lambda p: p.properties.recovery_point_time)[-1]
        out = restore_disks(bk, "v-kvm", c, i, rp2.name, vm["id"])
        assert same(expected, "raw", out["OS disk"]), out
        assert same(data_img, "raw", out["Data disk (LUN 0)"]), out
        # RestoreDisks keeps the domain's definition at backup time beside them.
        saved = Path(out["Domain XML"]).read_text()
        assert f"<name>{name}</name>" in saved and uuid in saved, saved

        # In place while the domain runs: refused.
        with pytest.raises(HttpResponseError) as e:
            trigger(bk, "v-kvm", c, i, rp2.name, recovery_type="OriginalLocation")
        assert e.value.error.code == "UserErrorVmNotShutDown", e.value

        # A new VM: a domain of its own on restored images, left shut off.
        copy = name + "-copy"
        copy_rg = KVM_RG + "-restored"
        target = f"/subscriptions/{SUB}/resourceGroups/{copy_rg}/providers/Microsoft.Compute/virtualMachines/{copy}"
        j = trigger(bk, "v-kvm", c, i, rp2.name, recovery_type="AlternateLocation",
                    target_virtual_machine_id=target, source_resource_id=vm["id"])
        assert j.properties.status == "Completed", j.properties.error_details
        b = j.properties.extended_info.property_bag
        assert b["Libvirt Domain"] == copy and b["Target Resource Group"] == copy_rg, b
        assert virsh("domstate", copy).strip() == "shut off"
        copy_uuid = virsh("domuuid", copy).strip()
        assert copy_uuid != uuid and b["Libvirt Domain UUID"] == copy_uuid
        copy_os, copy_data = Path(b["OS disk"]), Path(b["Data disk (LUN 0)"])
        assert copy_os.parent == work and copy_os.name == f"{copy}-vda.qcow2", b
        assert same(expected, "raw", copy_os, "qcow2") and same(data_img, "raw", copy_data, "qcow2"), b
        x = virsh("dumpxml", "--inactive", copy)
        assert str(copy_os) in x and str(copy_data) in x and str(os_img) not in x, x
        assert "org.qemu.guest_agent.0" in x and "device='cdrom'" in x, x
        r = api(server, "GET", f"/resourceGroups/{copy_rg}/providers/Microsoft.Compute/virtualMachines/{copy}"
                "?api-version=2024-07-01")
        assert r.status_code == 200 and r.json()["properties"]["libvirt"]["domainUuid"] == copy_uuid, r.text
        virsh("start", copy)
        virsh("destroy", copy)
        # The same name again: refused, nothing touched.
        with pytest.raises(HttpResponseError) as e:
            trigger(bk, "v-kvm", c, i, rp2.name, recovery_type="AlternateLocation",
                    target_virtual_machine_id=target, source_resource_id=vm["id"])
        assert e.value.error.code == "UserErrorVmAlreadyExists", e.value

        # The checkpoint outlives a restart of the domain (libvirt saves its
        # bitmap when QEMU closes the image) ...
        virsh("destroy", name)
        virsh("start", name)
        guest_write(name, 24 << 20, 1 << 20, 0x78)
        assert cbt(backup(bk, "v-kvm", c, i)) == "used"
        # ... and of libvirtd (its metadata is on disk), where the test
        # started libvirtd itself.
        if os.environ.get("RSVAULT_TEST_LIBVIRT_RESTART") == "1":
            with libvirtd.alone():
                restart_libvirtd()
            guest_write(name, 28 << 20, 1 << 20, 0x79)
            assert cbt(backup(bk, "v-kvm", c, i)) == "used"
        # A deleted checkpoint: the disk is read whole, and the job says why.
        (cp,) = virsh("checkpoint-list", name, "--name").split()
        virsh("checkpoint-delete", name, cp)
        j = backup(bk, "v-kvm", c, i)
        assert cbt(j).startswith("not used") and "missing" in cbt(j), bag(j)
        # QEMU killed (its bitmap never saved): libvirt refuses the
        # checkpoint, and the disk is read whole again.
        kill_qemu(name)
        virsh("start", name)
        guest_write(name, 32 << 20, 1 << 20, 0x7a)
        j = backup(bk, "v-kvm", c, i)
        assert j.properties.status in ("Completed", "CompletedWithWarnings"), j.properties.error_details
        assert cbt(j).startswith("not used"), bag(j)
        # (QEMU writes its qcow2 metadata back when it closes the image.)
        virsh("destroy", name)
        latest = snapshot_raw(os_img, "qcow2", work / "latest.raw")
        rp = sorted(bk.recovery_points.list("v-kvm", RG, "Azure", c, i),
                    key=lambda p: p.properties.recovery_point_time)[-1]
        got = restore_disks(bk, "v-kvm", c, i, rp.name, vm["id"])["OS disk"]
        assert same(latest, "raw", got), subprocess.run(["cmp", str(latest), got], capture_output=True, text=True).stdout
        # The next one builds on the new checkpoint.
        virsh("start", name)
        guest_write(name, 36 << 20, 1 << 20, 0x7b)
        assert cbt(backup(bk, "v-kvm", c, i)) == "used"

        # Shut off: read from the files, crash-consistent.
        virsh("destroy", name)
        j3 = backup(bk, "v-kvm", c, i)
        assert j3.properties.status in ("Completed", "CompletedWithWarnings"), j3.properties.error_details
        assert bag(j3)["Consistency"] == "CrashConsistent"

        # In place into the stopped domain: its disks are the point's again,
        # and the checkpoint that no longer describes them is gone, so the
        # next backup reads the disks whole, and says why. (libvirt's word
        # that the domain is off counts, before any refresh.)
        j = trigger(bk, "v-kvm", c, i, rp2.name, recovery_type="OriginalLocation")
        assert j.properties.status == "Completed", j.properties.error_details
        assert same(expected, "raw", os_img, "qcow2")
        assert virsh("checkpoint-list", name, "--name").split() == []
        virsh("start", name)
        j4 = backup(bk, "v-kvm", c, i)
        assert j4.properties.status in ("Completed", "CompletedWithWarnings"), j4.properties.error_details
        assert bag(j4)["Changed-block tracking (os)"].startswith("not used"), bag(j4)
        virsh("destroy", name)

        # A rename keeps the VM (keyed by UUID); a removed domain is marked.
        virsh("domrename", name, name + "-renamed")
        refresh(bk)
        p = vm_body(server, name)["properties"]
        assert p["libvirt"]["domainName"] == name + "-renamed" and p["vmId"] == uuid
        virsh("undefine", name + "-renamed", "--checkpoints-metadata")
        refresh(bk)
        p = vm_body(server, name)["properties"]
        assert p["libvirt"]["state"] == "Removed"
        assert any(s["code"] == "PowerState/deallocated" for s in p["instanceView"]["statuses"])
    except BaseException:
        if server:
            print("rsvault serve's log, last lines:\n" + "\n".join(server.output().splitlines()[-100:]))
        raise
    finally:
        for n in (name, name + "-renamed", name + "-copy"):
            virsh("destroy", n, check=False)
            virsh("undefine", n, "--checkpoints-metadata", check=False)
        if server:
            assert server.stop() == 0
        shutil.rmtree(work, ignore_errors=True)


GUEST_DOMAIN = """<domain type='qemu'><name>{name}</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
<cmdline>console=ttyS0 quiet panic=-1</cmdline></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/><target dev='vda' bus='virtio'/></disk>
<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
</devices></domain>"""

HOOK = """#!/bin/sh
# The application's quiesce, run by qemu-ga itself at freeze and thaw.
[ "$1" = freeze ] && echo "app quiesced for the snapshot" >> /data/app.log && sync
exit 0
"""


def test_a_guest_with_its_agent_is_frozen_through_libvirt_and_its_fsfreeze_hook_runs_inside_the_point(libvirtd):
    """The real guest (Debian's kernel, qemu-ga) under libvirt: libvirt's
    own FSFreeze/FSThaw around the backup's start, so the point is
    file-system consistent, and the application's quiesce (qemu-ga's
    fsfreeze hook, the untainted way) is inside it; nothing taints the
    domain."""
    work = Path(tempfile.mkdtemp(prefix="rsvault-libvirt-guest-", dir="/tmp"))
    work.chmod(0o755)
    name = f"rsvault-guest-{os.getpid()}"
    server = None
    try:
        g = guest_dir()
        for f in ("vmlinuz", "initramfs.gz"):
            shutil.copy(g / f, work / f)
        stage = work / "stage"
        (stage / ".guest-hooks").mkdir(parents=True)
        (stage / ".guest-hooks" / "app").write_text(HOOK)
        (stage / ".guest-hooks" / "app").chmod(0o755)
        raw = work / "data.raw"
        subprocess.run(["truncate", "-s", "64M", str(raw)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(stage), str(raw)], check=True)
        disk = work / "data.qcow2"
        subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(disk)], check=True)
        (work / "d.xml").write_text(GUEST_DOMAIN.format(name=name, kernel=work / "vmlinuz",
                                                        initrd=work / "initramfs.gz", disk=disk))
        virsh("define", str(work / "d.xml"))
        virsh("start", name)
        # The agent answers once the guest has booted (asked through
        # libvirt's API, which does not taint).
        deadline = time.time() + 180
        while subprocess.run(["virsh", "-c", URI, "domfsinfo", name], capture_output=True).returncode != 0:
            assert time.time() < deadline, "the guest agent did not come up"
            time.sleep(1)

        cfg = f'[libvirt]\nsubscription = "{SUB}"\nresource_group = "{KVM_RG}"\nlocation = "{LOC}"\n'
        server = Server(work / "srv", config=cfg, extra=["--libvirt", URI])
        rs, bk = clients(server)
        vm = vm_body(server, name)
        rs.vaults.begin_create_or_update(RG, "v-guest", Vault(location=LOC, sku=Sku(name="Standard"))).result()
        refresh(bk, "v-guest")
        c, i = f"IaasVMContainer;iaasvmcontainerv2;{KVM_RG};{name}", f"VM;iaasvmcontainerv2;{KVM_RG};{name}"
        protect(bk, "v-guest", c, i, vm["id"], bk.protection_policies.get("v-guest", RG, "DefaultPolicy").id)

        j = backup(bk, "v-guest", c, i)
        assert j.properties.status == "Completed", j.properties.error_details
        b = bag(j)
        assert b["Consistency"] == "FileSystemConsistent", b
        assert "File systems frozen for" in b, b
        assert "Thawed 0 filesystem" in virsh("domfsthaw", name), "the guest was thawed"
        assert tainted(name) == [], "freezing through libvirt leaves the domain untainted"
        # The hook ran at the freeze, so its write is in the point.
        rp = sorted(bk.recovery_points.list("v-guest", RG, "Azure", c, i),
                    key=lambda p: p.properties.recovery_point_time)[-1]
        out = restore_disks(bk, "v-guest", c, i, rp.name, vm["id"])
        log = subprocess.run(["debugfs", "-R", "cat /app.log", out["OS disk"]],
                             capture_output=True, text=True).stdout
        assert "app quiesced for the snapshot" in log, log
        subprocess.run(["e2fsck", "-fn", out["OS disk"]], check=True, capture_output=True)

        # The domain's metadata declares that the hook quiesces the
        # application (set through libvirt's API, which does not taint):
        # the next frozen point is application-consistent.
        virsh("metadata", name, "--uri", "urn:rsvault:backup:1", "--key", "rsvault",
              "--set", "<backup quiesce='application'/>", "--live", "--config")
        j = backup(bk, "v-guest", c, i)
        assert j.properties.status == "Completed", j.properties.error_details
        assert bag(j)["Consistency"] == "AppConsistent", bag(j)
        rp = sorted(bk.recovery_points.list("v-guest", RG, "Azure", c, i),
                    key=lambda p: p.properties.recovery_point_time)[-1]
        assert rp.properties.recovery_point_type == "AppConsistent", rp.properties
        assert tainted(name) == [], "metadata set through libvirt leaves the domain untainted"
    except BaseException:
        if server:
            print("rsvault serve's log, last lines:\n" + "\n".join(server.output().splitlines()[-100:]))
        raise
    finally:
        virsh("destroy", name, check=False)
        virsh("undefine", name, "--checkpoints-metadata", check=False)
        if server:
            assert server.stop() == 0
        shutil.rmtree(work, ignore_errors=True)
