"""Two hypervisor hosts run `rsvault agent` against one vault server on
this machine (the second in a network namespace of its own, over a veth
link): one on the real libvirtd (a running TCG domain, backed up
live through libvirt's backup API on the agent's side), one on libvirt's
test driver (its own connection, no daemon: a shut-off domain read from
its files). Each enrols with a one-time token for its own resource group
and region, pins the server's certificate (a wrong pin is refused before
any secret is sent), and its VMs land in its region's vault. An agent
killed in the middle of a backup fails the job with Azure's
UserErrorGuestAgentStatusUnavailable, keeps no point, shows Disconnected,
and after a restart the next backup works and restores bit for bit.
Restores go through the agent: a new VM is a shut-off domain the host's
libvirt defines, registered as the target VM; in place, refused while the
domain runs."""
import json
import os
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from azure.mgmt.recoveryservices.models import Sku, Vault

from azure.core.exceptions import HttpResponseError

from conftest import SUB, Server, clients, rsvault_bin
from test_live import backup, bag, codes, restore_disks, same, snapshot_raw, start_backup, wait
from test_protection import RG, protect
from test_restore import trigger
from qemu_vm import Vm

URI = os.environ.get("RSVAULT_TEST_LIBVIRT", "")
if not URI:
    assert os.environ.get("CI") != "true", "CI=true but RSVAULT_TEST_LIBVIRT names no libvirt connection"
    pytest.skip("RSVAULT_TEST_LIBVIRT is not set", allow_module_level=True)

HYBRID = "api-version=2024-07-10"

DOMAIN = """<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{os}'/><target dev='vda' bus='virtio'/></disk>
</devices></domain>"""

# libvirt's test driver: a node of its own, with one shut-off domain.
TEST_NODE = """<node><domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
<name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{disk}'/><target dev='vda' bus='virtio'/></disk>
</devices><test:runstate>5</test:runstate></domain></node>"""


def virsh(*args, check=True):
    r = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True)
    assert r.returncode == 0 or not check, r.stdout + r.stderr
    return r.stdout


def api(server, method, path, **kw):
    return requests.request(method, f"{server.endpoint}/subscriptions/{SUB}{path}",
                            headers={"Authorization": f"Bearer {server.token}"}, verify=server.verify(),
                            timeout=60, **kw)


def enroll_token(server, rg, location):
    r = api(server, "POST", f"/resourceGroups/{rg}/providers/Microsoft.HybridCompute/enrollmentTokens?{HYBRID}",
            json={"location": location, "expiresInMinutes": 10})
    assert r.status_code == 200, r.text
    return r.json()


def machine(server, rg, name):
    r = api(server, "GET", f"/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{name}?{HYBRID}")
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(what, check, timeout=60):
    deadline = time.time() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


class Netns:
    """A network namespace of its own, joined to this one by a veth pair:
    a second host, whose only way to the server is that link."""

    def __init__(self):
        # A free link name and subnet (another run may hold one).
        n = next(k for k in [(os.getpid() + i) % 250 + 1 for i in range(250)]
                 if subprocess.run(["ip", "link", "show", f"rsva{k}"], capture_output=True).returncode != 0)
        self.name, self.outer, self.inner = f"rsv-agent-{os.getpid()}", f"rsva{n}", f"rsvb{n}"
        self.host_ip, self.ns_ip = f"10.231.{n}.1", f"10.231.{n}.2"
        ip = lambda *a: subprocess.run(["ip", *a], check=True, capture_output=True)
        ip("netns", "add", self.name)
        ip("link", "add", self.outer, "type", "veth", "peer", "name", self.inner)
        ip("link", "set", self.inner, "netns", self.name)
        ip("addr", "add", f"{self.host_ip}/30", "dev", self.outer)
        ip("link", "set", self.outer, "up")
        for cmd in (["addr", "add", f"{self.ns_ip}/30", "dev", self.inner], ["link", "set", self.inner, "up"],
                    ["link", "set", "lo", "up"]):
            ip("netns", "exec", self.name, "ip", *cmd)

    def remove(self):
        subprocess.run(["ip", "link", "del", self.outer], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class Agent:
    def __init__(self, server, state, name, libvirt, token=None, netns=None, extra=()):
        self.state = Path(state)
        self.log = self.state.parent / f"{name}.log"
        url = server.endpoint if netns is None else f"https://{netns.host_ip}:{server.port}"
        args = [rsvault_bin(), "agent", "--server", url, "--state-dir", str(self.state), "--name", name,
                *(["--libvirt", libvirt] if libvirt else []), *extra]
        if netns is not None:
            args = ["ip", "netns", "exec", netns.name, *args]
        if token:
            args += ["--enroll", token]
        env = {k: v for k, v in os.environ.items() if not k.startswith("RSVAULT_")}
        env["RUST_LOG"] = "info"
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=20)

    def output(self):
        return self.log.read_text(errors="replace")


def stop_all(agents, server):
    """The end of a test: every agent still running killed, the server stopped."""
    for ag in agents:
        if ag.proc.poll() is None:
            ag.kill()
    if server:
        server.stop()


def vm_in(server, rg, name):
    r = api(server, "GET", f"/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}?api-version=2024-07-01")
    return r.json() if r.status_code == 200 else None


def test_two_agents_enrol_report_back_up_and_survive_a_kill(libvirtd):
    work = Path(tempfile.mkdtemp(prefix="rsvault-agents-", dir="/tmp"))
    work.chmod(0o755)  # libvirt's QEMU user reaches the images
    name = f"rsvault-agent-{os.getpid()}"
    agents = []
    server = None
    ns = Netns()
    try:
        os_img = work / "os.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(os_img), "64M"], check=True)
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 12M", "-c", "write -P 0x22 40M 4M",
                        str(os_img)], check=True, capture_output=True)
        (work / "d.xml").write_text(DOMAIN.format(name=name, os=os_img))
        virsh("define", str(work / "d.xml"))
        virsh("start", name)
        b_disk = work / "b.raw"
        b_disk.write_bytes(os.urandom(3 << 20))
        b_uuid = "6b0b7c1e-2f7a-4c0e-9d55-0a1b2c3d4e5f"
        node = work / "node-b.xml"
        node.write_text(TEST_NODE.format(name="test-vm-b", uuid=b_uuid, disk=b_disk))

        # A slow snapshot copy (1 MiB/s), so that an agent can be killed
        # while its first backup runs; heartbeats every second.
        cfg = "[agents]\nheartbeat_seconds = 1\nstale_after_seconds = 5\n[live]\nsnapshot_rate_limit_mib = 1\n"
        # kvm-b is another host: its own network namespace, reaching the
        # server over a veth link at an address the certificate does not
        # name (the pin, not the name, is what the agent trusts).
        server = Server(work / "srv", config=cfg, listen_host="0.0.0.0")
        rs, bk = clients(server)

        ta = enroll_token(server, "rg-kvm1", "japaneast")
        tb = enroll_token(server, "rg-kvm2", "westeurope")
        assert ta["token"].startswith("rsv1.") and ta["location"] == "japaneast"
        pin = ta["serverCertificateSha256"]
        assert len(pin) == 64 and ta["token"].endswith(pin)

        # A token that pins another certificate: refused before enrolment,
        # and the token is still good afterwards.
        wrong = ta["token"][: -len(pin)] + ("0" * 64)
        bad = Agent(server, work / "state-bad", "kvm-bad", URI, token=wrong)
        assert bad.proc.wait(timeout=60) != 0
        assert "not the one pinned" in bad.output() or "certificate" in bad.output().lower(), bad.output()
        assert not (work / "state-bad" / "agent.json").exists()

        a = Agent(server, work / "state-a", "kvm-a", URI, token=ta["token"])
        b = Agent(server, work / "state-b", "kvm-b", f"test://{node}", token=tb["token"], netns=ns)
        agents += [a, b]
        for ag in (a, b):
            cred = wait_for("the agent's credential", lambda: (ag.state / "agent.json").exists() or ag.proc.poll() is not None)
            assert ag.proc.poll() is None, ag.output()
            mode = stat.S_IMODE((ag.state / "agent.json").stat().st_mode)
            assert mode == 0o600, oct(mode)
            assert json.loads((ag.state / "agent.json").read_text())["certificateSha256"] == pin
        # A token works once.
        again = Agent(server, work / "state-again", "kvm-again", URI, token=ta["token"])
        assert again.proc.wait(timeout=60) != 0
        assert "InvalidEnrollmentToken" in again.output(), again.output()

        # Both hosts connected, their VMs in their own groups and regions.
        wait_for("kvm-a's VM", lambda: vm_in(server, "rg-kvm1", name))
        wait_for("kvm-b's VM", lambda: vm_in(server, "rg-kvm2", "test-vm-b"))
        ma, mb = machine(server, "rg-kvm1", "kvm-a"), machine(server, "rg-kvm2", "kvm-b")
        assert ma["properties"]["status"] == "Connected" and mb["properties"]["status"] == "Connected", (ma, mb)
        assert ma["type"] == "Microsoft.HybridCompute/machines" and ma["location"] == "japaneast"
        assert mb["properties"]["detectedProperties"]["vmCount"] == "1"
        assert f"server https://{ns.host_ip}:" in b.output(), "kvm-b reaches the server over its veth link"
        listed = subprocess.run([rsvault_bin(), "host", "list", "--endpoint", server.endpoint, "--token", server.token,
                                 "--subscription", SUB, "-o", "json"], capture_output=True, text=True)
        assert listed.returncode == 0, listed.stderr
        assert sorted(m["name"] for m in json.loads(listed.stdout)) == ["kvm-a", "kvm-b"]
        vb = vm_in(server, "rg-kvm2", "test-vm-b")
        assert vb["location"] == "westeurope" and vb["properties"]["vmId"] == b_uuid
        # The agent's principal may not touch what its role leaves out.
        cred_b = json.loads((b.state / "agent.json").read_text())
        r = requests.post(f"{server.endpoint}/{cred_b['tenantId']}/oauth2/v2.0/token",
                          data={"grant_type": "client_credentials", "client_id": cred_b["clientId"],
                                "client_secret": cred_b["clientSecret"],
                                "scope": "https://management.azure.com/.default"}, timeout=30)
        tok_b = r.json()["access_token"]
        r = requests.delete(f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
                            f"Microsoft.RecoveryServices/vaults/nope?api-version=2023-04-01",
                            headers={"Authorization": f"Bearer {tok_b}"}, timeout=30)
        assert r.status_code == 403, r.text
        r = requests.post(f"{server.endpoint}/rsvault/agent/hosts/{cred_b['hostId']}/heartbeat".replace(
            cred_b["hostId"], json.loads((a.state / "agent.json").read_text())["hostId"]),
            headers={"Authorization": f"Bearer {tok_b}"}, json={"agentVersion": "x", "vms": []}, timeout=30)
        assert r.status_code == 403, "one agent cannot speak for another host"

        # Vaults in both regions; each host's VM protected in its region.
        rs.vaults.begin_create_or_update(RG, "v-jp", Vault(location="japaneast", sku=Sku(name="Standard"))).result()
        rs.vaults.begin_create_or_update(RG, "v-we", Vault(location="westeurope", sku=Sku(name="Standard"))).result()
        for v in ("v-jp", "v-we"):
            bk.protection_containers.refresh(v, RG, "Azure")
        va = vm_in(server, "rg-kvm1", name)
        ca, ia = f"IaasVMContainer;iaasvmcontainerv2;rg-kvm1;{name}", f"VM;iaasvmcontainerv2;rg-kvm1;{name}"
        cb, ib = "IaasVMContainer;iaasvmcontainerv2;rg-kvm2;test-vm-b", "VM;iaasvmcontainerv2;rg-kvm2;test-vm-b"
        protect(bk, "v-jp", ca, ia, va["id"], bk.protection_policies.get("v-jp", RG, "DefaultPolicy").id)
        protect(bk, "v-we", cb, ib, vb["id"], bk.protection_policies.get("v-we", RG, "DefaultPolicy").id)

        # kvm-b's stopped VM: read in place on its host.
        jb = backup(bk, "v-we", cb, ib)
        assert jb.properties.status == "Completed", jb.properties.error_details
        assert bag(jb)["Host"] == "kvm-b" and bag(jb)["Consistency"] == "CrashConsistent", bag(jb)
        (rpb,) = bk.recovery_points.list("v-we", RG, "Azure", cb, ib)
        out = restore_disks(bk, "v-we", cb, ib, rpb.name, vb["id"])
        assert same(b_disk, "raw", out["OS disk"]), out

        # kvm-a killed in the middle of its first (slow) live backup.
        job = start_backup(bk, "v-jp", ca, ia)
        wait_for("the agent's progress", lambda: (bk.job_details.get("v-jp", RG, job).properties.extended_info.progress_percentage or 0) > 0, 120)
        a.kill()
        failed = wait(bk, "v-jp", job, 60)
        assert failed.properties.status == "Failed", failed.properties
        assert codes(failed) == ["UserErrorGuestAgentStatusUnavailable"], failed.properties.error_details
        assert list(bk.recovery_points.list("v-jp", RG, "Azure", ca, ia)) == [], "nothing partial is kept"
        wait_for("kvm-a disconnected", lambda: machine(server, "rg-kvm1", "kvm-a")["properties"]["status"] == "Disconnected", 30)
        # While it is down, a backup fails at once, with the recommended action.
        down = backup(bk, "v-jp", ca, ia)
        assert down.properties.status == "Failed" and codes(down) == ["UserErrorGuestAgentStatusUnavailable"]
        assert "rsvault agent" in down.properties.error_details[0].recommendations[0]

        # Restarted (enrolled already: no token), it backs up again.
        a = Agent(server, work / "state-a", "kvm-a", URI)
        agents.append(a)
        wait_for("kvm-a connected", lambda: machine(server, "rg-kvm1", "kvm-a")["properties"]["status"] == "Connected", 30)
        j1 = backup(bk, "v-jp", ca, ia)
        assert j1.properties.status in ("Completed", "CompletedWithWarnings"), (j1.properties.error_details, a.output())
        assert bag(j1)["Host"] == "kvm-a", bag(j1)
        rp1 = sorted(bk.recovery_points.list("v-jp", RG, "Azure", ca, ia), key=lambda p: p.properties.recovery_point_time)[-1]
        expected = snapshot_raw(os_img, "qcow2", work / "rp1.raw")
        out = restore_disks(bk, "v-jp", ca, ia, rp1.name, va["id"])
        assert same(expected, "raw", out["OS disk"]), out
        # After 1 MiB of guest writes, the next backup builds on the
        # agent's checkpoint and reads only what changed.
        out = virsh("qemu-monitor-command", name, "--hmp",
                    'qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend "write -P 0x77 20M 1M"')
        assert "error" not in out.lower(), out
        j2 = backup(bk, "v-jp", ca, ia)
        assert bag(j2)["Changed-block tracking (os)"] == "used", bag(j2)
        read = lambda j: float(bag(j)["Data Read"].split()[0])
        assert 1 <= read(j2) < read(j1), (bag(j1), bag(j2))
        for label, j in (("full", j1), ("incremental", j2)):
            print(f"agent backup {label}: read {bag(j)['Data Read']}, stored {bag(j)['Backup Size']}, "
                  f"took {j.properties.duration}")

        # Restores onto kvm-a go through its agent. A new VM there: a
        # shut-off domain of its own, defined by the host's libvirt on an
        # image beside the source's, registered in the target group and
        # kept there by the host's heartbeats (never listed twice).
        copy = name + "-copy"
        target = f"/subscriptions/{SUB}/resourceGroups/rg-kvm1-restored/providers/Microsoft.Compute/virtualMachines/{copy}"
        new = trigger(bk, "v-jp", ca, ia, rp1.name, recovery_type="AlternateLocation",
                      target_virtual_machine_id=target, source_resource_id=va["id"])
        assert new.properties.status == "Completed", (new.properties.error_details, a.output())
        nb = bag(new)
        assert nb["Host"] == "kvm-a" and nb["Libvirt Domain"] == copy, nb
        assert nb["Target Resource Group"] == "rg-kvm1-restored", nb
        assert virsh("domstate", copy).strip() == "shut off"
        copy_uuid = virsh("domuuid", copy).strip()
        assert nb["Libvirt Domain UUID"] == copy_uuid and copy_uuid != va["properties"]["vmId"], nb
        assert nb["OS disk"] == str(work / f"{copy}-vda.qcow2"), nb
        assert same(expected, "raw", Path(nb["OS disk"]), "qcow2"), "the new domain's disk is the point's"
        x = virsh("dumpxml", "--inactive", copy)
        assert nb["OS disk"] in x and str(os_img) not in x, x
        time.sleep(3)  # heartbeats every second: the new domain is reported now
        vc = vm_in(server, "rg-kvm1-restored", copy)
        assert vc and vc["properties"]["vmId"] == copy_uuid and vc["location"] == "japaneast", vc
        assert vm_in(server, "rg-kvm1", copy) is None, "the new domain is the target VM, not a second one"
        assert not list((a.state / "restores").glob("*.json")), "the restore's list of files is gone"
        # The same name again: refused, nothing touched.
        with pytest.raises(HttpResponseError) as e:
            trigger(bk, "v-jp", ca, ia, rp1.name, recovery_type="AlternateLocation",
                    target_virtual_machine_id=target, source_resource_id=va["id"])
        assert e.value.error.code == "UserErrorVmAlreadyExists", e.value
        # A name only the host has (a domain the vault does not list in
        # that group): refused on the host, nothing written.
        taken = trigger(bk, "v-jp", ca, ia, rp1.name, recovery_type="AlternateLocation",
                        target_virtual_machine_id=target.replace("rg-kvm1-restored", "rg-other").replace(copy, name),
                        source_resource_id=va["id"])
        assert taken.properties.status == "Failed" and codes(taken) == ["UserErrorVmAlreadyExists"], taken.properties
        assert not (work / f"{name}-vda.qcow2").exists() and not list(work.glob("*.rsvault-restore*"))
        # In place while the domain runs: refused on the host.
        running = trigger(bk, "v-jp", ca, ia, rp1.name, recovery_type="OriginalLocation", source_resource_id=va["id"])
        assert running.properties.status == "Failed", running.properties
        assert codes(running) == ["UserErrorVmNotShutDown"], running.properties.error_details
        # Shut off and damaged, then replaced in place by rp1, bit for bit.
        virsh("destroy", name)
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x66 0 4M", str(os_img)], check=True, capture_output=True)
        assert not same(expected, "raw", os_img, "qcow2")
        done = trigger(bk, "v-jp", ca, ia, rp1.name, recovery_type="OriginalLocation", source_resource_id=va["id"])
        assert done.properties.status == "Completed", (done.properties.error_details, a.output())
        assert bag(done)["OS disk"] == str(os_img), bag(done)
        assert same(expected, "raw", os_img, "qcow2"), "the disk is the point's again"
        assert not list(work.glob("*.rsvault-restore")), "no temporary file is left"
        # Its checkpoints no longer describe the disk: the next backup reads it whole.
        virsh("start", name)
        j3 = backup(bk, "v-jp", ca, ia)
        assert j3.properties.status in ("Completed", "CompletedWithWarnings"), j3.properties.error_details
        assert bag(j3)["Changed-block tracking (os)"].startswith("not used"), bag(j3)
    finally:
        stop_all(agents, server)
        virsh("destroy", name, check=False)
        virsh("undefine", name, "--checkpoints-metadata", check=False)
        virsh("undefine", name + "-copy", check=False)
        ns.remove()


def test_an_agent_backs_up_and_restores_a_plain_qemu_vm(libvirtd):
    """A host without libvirt: its agent lists the QEMU VMs of its
    --qemu-vms file (disks only under its --image-root), snapshots them
    live over QMP on the host, builds incrementals on QEMU's dirty bitmaps,
    and restores one in place once it is off."""
    work = Path(tempfile.mkdtemp(prefix="rsvault-agent-qemu-", dir="/tmp"))
    root = work / "vms"
    root.mkdir()
    os_img, data_img = root / "web-os.qcow2", root / "web-data.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(os_img), "32M"], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x41 0 6M", str(os_img)], check=True, capture_output=True)
    data_img.write_bytes(os.urandom(2 << 20))
    expected = snapshot_raw(os_img, "qcow2", work / "rp1-os.raw")
    expected_data = snapshot_raw(data_img, "raw", work / "rp1-data.raw")
    (work / "q").mkdir()
    vm = Vm(work / "q", [(os_img, "qcow2"), (data_img, "raw")], agent=False)
    agents, server = [], None
    try:
        vms = work / "vms.toml"
        entry = '[[vm]]\nname = "qemu-web"\nqmp_socket = "{q}"\nmemory_mib = 256\ndisks = ["{a}", "{b}"]\n'
        server = Server(work / "srv", config="[agents]\nheartbeat_seconds = 1\nstale_after_seconds = 5\n")
        rs, bk = clients(server)
        tok = enroll_token(server, "rg-qemu", "japaneast")["token"]
        flags = lambda f: ["--no-libvirt", "--qemu-vms", str(f), "--image-root", str(root)]
        # A disk outside the image roots: the agent refuses to start, and
        # the token is still good.
        outside = work / "outside.raw"
        outside.write_bytes(b"\0" * 4096)
        bad = work / "bad.toml"
        bad.write_text(entry.format(q=vm.qmp_sock, a=os_img, b=outside))
        refused = Agent(server, work / "state-bad", "kvm-bad", None, token=tok, extra=flags(bad))
        assert refused.proc.wait(timeout=60) != 0
        assert "outside.raw" in refused.output(), refused.output()
        assert not (work / "state-bad" / "agent.json").exists()

        vms.write_text(entry.format(q=vm.qmp_sock, a=os_img, b=data_img))
        a = Agent(server, work / "state", "kvm-q", None, token=tok, extra=flags(vms))
        agents.append(a)
        v = wait_for("the QEMU VM", lambda: vm_in(server, "rg-qemu", "qemu-web"))
        assert v["location"] == "japaneast" and len(v["properties"]["storageProfile"]["dataDisks"]) == 1, v
        rs.vaults.begin_create_or_update(RG, "v-q", Vault(location="japaneast", sku=Sku(name="Standard"))).result()
        bk.protection_containers.refresh("v-q", RG, "Azure")
        c, i = "IaasVMContainer;iaasvmcontainerv2;rg-qemu;qemu-web", "VM;iaasvmcontainerv2;rg-qemu;qemu-web"
        protect(bk, "v-q", c, i, v["id"], bk.protection_policies.get("v-q", RG, "DefaultPolicy").id)

        j1 = backup(bk, "v-q", c, i)
        assert j1.properties.status in ("Completed", "CompletedWithWarnings"), (j1.properties.error_details, a.output())
        assert bag(j1)["Host"] == "kvm-q" and bag(j1)["Consistency"] == "CrashConsistent", bag(j1)
        (rp1,) = bk.recovery_points.list("v-q", RG, "Azure", c, i)
        vm.write(0, "10M", "1M", "0x5a")
        j2 = backup(bk, "v-q", c, i)
        assert bag(j2)["Changed-block tracking (os)"] == "used", bag(j2)
        read = lambda j: float(bag(j)["Data Read"].split()[0])
        assert read(j2) < read(j1), (bag(j1), bag(j2))
        out = restore_disks(bk, "v-q", c, i, rp1.name, v["id"])
        assert same(expected, "raw", out["OS disk"]) and same(expected_data, "raw", out["Data disk (LUN 0)"]), out

        # No definition to make a new VM from: refused at the request.
        with pytest.raises(HttpResponseError) as e:
            trigger(bk, "v-q", c, i, rp1.name, recovery_type="AlternateLocation", source_resource_id=v["id"],
                    target_virtual_machine_id=v["id"].replace("qemu-web", "qemu-web2"))
        assert e.value.error.code == "BMSUserErrorInvalidInput", e.value
        # In place: refused while QEMU runs; once it is off, the disks are rp1's.
        running = trigger(bk, "v-q", c, i, rp1.name, recovery_type="OriginalLocation", source_resource_id=v["id"])
        assert running.properties.status == "Failed" and codes(running) == ["UserErrorVmNotShutDown"], running.properties
        vm.quit()
        assert not same(expected, "raw", os_img, "qcow2"), "the guest's write is on the disk"
        done = trigger(bk, "v-q", c, i, rp1.name, recovery_type="OriginalLocation", source_resource_id=v["id"])
        assert done.properties.status == "Completed", (done.properties.error_details, a.output())
        assert same(expected, "raw", os_img, "qcow2") and same(expected_data, "raw", data_img, "raw")
        assert not list(root.glob("*.rsvault-restore*")), "no temporary file is left"
    finally:
        stop_all(agents, server)
        if vm.alive():
            vm.kill()
