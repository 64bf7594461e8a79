"""A real Linux guest under TCG (Debian's kernel, qemu-ga in an initramfs)
backed up live: pre/post scripts from /etc/azure/VMSnapshotScriptPluginConfig.json,
fsfreeze through the guest agent, each consistency type, a hung agent, and
the restored file system's content read with debugfs."""
import json
import subprocess
import time

from azure.mgmt.recoveryservices.models import Sku, Vault

from conftest import Server, clients
from qemu_vm import Vm, guest_dir, register_vm
from test_live import LOC, bag, backup, codes, points, restore_disks
from test_protection import RG, VM_RG, protect

CONFIG = {"pluginName": "ScriptRunner", "preScriptLocation": "/data/scripts/pre.sh",
          "postScriptLocation": "/data/scripts/post.sh", "preScriptParams": ["a1"], "postScriptParams": [],
          "preScriptNoOfRetries": 0, "postScriptNoOfRetries": 0, "timeoutInSeconds": 30,
          "continueBackupOnFailure": False, "fsFreezeEnabled": True}

SERVER = """
[live]
freeze_timeout_seconds = 3
"""


def make_fs(tmp_path):
    src = tmp_path / "fs"
    (src / "scripts").mkdir(parents=True)
    (src / "etc-azure").mkdir()
    (src / "etc-azure" / "VMSnapshotScriptPluginConfig.json").write_text(json.dumps(CONFIG))
    for name, body in [("pre.sh", 'echo "pre $*" > /data/pre-marker; sync'),
                       ("post.sh", "echo post > /data/post-marker; sync"),
                       ("fail.sh", "echo 'database refused to quiesce' >&2; exit 3")]:
        p = src / "scripts" / name
        p.write_text(f"#!/bin/sh\n{body}\n")
        p.chmod(0o700)
    (src / "hello.txt").write_text("hello from the guest's disk\n")
    raw = tmp_path / "fs.raw"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(src), str(raw), "64M"], check=True)
    img = tmp_path / "guest.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(img)], check=True)
    return img


def debugfs(img, request):
    r = subprocess.run(["debugfs", "-R", request, str(img)], capture_output=True, text=True)
    return r.stdout, r.stderr


def set_config(agent, **changes):
    cfg = dict(CONFIG, **changes)
    code, _ = agent.sh(f"cat > /data/etc-azure/VMSnapshotScriptPluginConfig.json <<'EOF'\n{json.dumps(cfg)}\nEOF\nsync")
    assert code == 0


def with_agent(vm, fn):
    a = vm.agent()
    try:
        return fn(a)
    finally:
        a.close()


def test_app_consistent_scripts_freeze_and_a_hung_agent(tmp_path):
    guest = guest_dir()
    img = make_fs(tmp_path)
    (tmp_path / "srv").mkdir()
    server = Server(tmp_path / "srv", config=SERVER)
    vm = Vm(tmp_path, [(img, "qcow2")], guest=guest)
    try:
        with_agent(vm, lambda a: a.cmd("guest-ping"))  # booted, agent up
        rs, bk = clients(server)
        rs.vaults.begin_create_or_update(RG, "v-guest", Vault(location=LOC, sku=Sku(name="Standard"))).result()
        vm_id = register_vm(server, "guest-1", LOC, [(img, "qcow2")], qmp=vm.qmp_sock, agent=vm.ga_sock)
        c, i = f"IaasVMContainer;iaasvmcontainerv2;{VM_RG};guest-1", f"VM;iaasvmcontainerv2;{VM_RG};guest-1"
        protect(bk, "v-guest", c, i, vm_id, bk.protection_policies.get("v-guest", RG, "DefaultPolicy").id)

        # Scripts and freeze succeed: application-consistent.
        j = backup(bk, "v-guest", c, i)
        assert j.properties.status == "Completed", j.properties.error_details
        assert bag(j)["Consistency"] == "AppConsistent" and "File systems frozen for" in bag(j)
        assert bag(j)["Guest agent version"].startswith("7.")
        rp = points(bk, "v-guest", c, i)[-1]
        assert rp.properties.recovery_point_type == "AppConsistent"
        item = bk.protected_items.get("v-guest", RG, "Azure", c, i).properties
        assert item["healthStatus"] == "Passed" and item["guestAgent"]["status"] == "Ready"
        assert with_agent(vm, lambda a: a.cmd("guest-fsfreeze-status")) == "thawed"
        # The post-script ran after the snapshot: the live disk has its mark.
        assert with_agent(vm, lambda a: a.sh("cat /data/post-marker"))[1] == "post\n"
        out = restore_disks(bk, "v-guest", c, i, rp.name, vm_id)
        disk = out["OS disk"]
        assert subprocess.run(["e2fsck", "-fn", disk], capture_output=True).returncode == 0, "frozen: a clean file system"
        assert debugfs(disk, "cat /pre-marker")[0] == "pre a1\n", "the pre-script ran before the snapshot"
        assert debugfs(disk, "cat /hello.txt")[0] == "hello from the guest's disk\n"
        assert "not found" in debugfs(disk, "stat /post-marker")[1], "the post-script ran after it"

        # A failing pre-script without continueBackupOnFailure: no backup.
        with_agent(vm, lambda a: set_config(a, preScriptLocation="/data/scripts/fail.sh"))
        n = len(points(bk, "v-guest", c, i))
        j = backup(bk, "v-guest", c, i)
        assert j.properties.status == "Failed" and codes(j) == ["UserErrorPreScriptFailed"]
        err = j.properties.error_details[0]
        assert "status 3" in err.error_string and "database refused to quiesce" in err.error_string
        assert err.recommendations
        assert len(points(bk, "v-guest", c, i)) == n
        assert with_agent(vm, lambda a: a.cmd("guest-fsfreeze-status")) == "thawed"

        # ... and with it: a crash-consistent point and a warning.
        with_agent(vm, lambda a: set_config(a, preScriptLocation="/data/scripts/fail.sh", continueBackupOnFailure=True))
        j = backup(bk, "v-guest", c, i)
        assert j.properties.status == "CompletedWithWarnings" and codes(j) == ["UserErrorPreScriptFailed"]
        assert points(bk, "v-guest", c, i)[-1].properties.recovery_point_type == "CrashConsistent"

        # No script configuration: freeze only, file-system-consistent.
        with_agent(vm, lambda a: a.sh("rm /data/etc-azure/VMSnapshotScriptPluginConfig.json; sync"))
        j = backup(bk, "v-guest", c, i)
        assert j.properties.status == "Completed", j.properties.error_details
        assert points(bk, "v-guest", c, i)[-1].properties.recovery_point_type == "FileSystemConsistent"
        assert bag(j)["Changed-block tracking (os)"] == "used"

        # A hung agent (a freeze hook that blocks): the freeze times out, the
        # point is crash-consistent, and the guest is thawed once it answers.
        hook = "/etc/qemu/fsfreeze-hook.d/slow"
        code, _ = with_agent(vm, lambda a: a.sh(f"printf '#!/bin/sh\\n[ \"$1\" = freeze ] && sleep 8\\nexit 0\\n' > {hook}; chmod +x {hook}"))
        assert code == 0
        t0 = time.time()
        j = backup(bk, "v-guest", c, i)
        assert time.time() - t0 < 8, "the job did not wait for the hung agent"
        assert j.properties.status == "CompletedWithWarnings" and codes(j) == ["UserErrorFsFreezeTimeout"]
        assert points(bk, "v-guest", c, i)[-1].properties.recovery_point_type == "CrashConsistent"
        # The agent is busy until the hook ends; then the late thaw lands.
        assert with_agent(vm, lambda a: a.cmd("guest-fsfreeze-status")) == "thawed"
        with_agent(vm, lambda a: a.sh(f"rm {hook}"))
    finally:
        vm.kill()
        assert server.stop() == 0
