"""Real QEMU VMs for the live-backup tests: qemu-system-x86_64 under TCG,
its QMP monitor and the QEMU guest agent, spoken to directly."""
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from conftest import SUB

ROOT = Path(__file__).resolve().parents[2]


def guest_dir():
    """The small Linux guest (Debian's kernel, an initramfs with qemu-ga),
    built once and cached."""
    d = Path(os.environ.get("RSVAULT_GUEST_DIR", Path.home() / ".cache" / "rsvault" / "guest"))
    subprocess.run(["bash", str(ROOT / "tests" / "guest" / "build-guest.sh"), str(d)], check=True,
                   stdout=subprocess.DEVNULL)
    return d


class Qmp:
    """A short-lived QMP connection (QEMU serves one client per socket)."""

    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(timeout)
        self.s.connect(str(path))
        self.f = self.s.makefile("rw")
        json.loads(self.f.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, command, **args):
        self.f.write(json.dumps({"execute": command, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError(f"{command}: {r['error']}")
            return r["return"]

    def close(self):
        self.s.close()


class Agent:
    """A connection to qemu-ga, synchronised with guest-sync-delimited."""

    def __init__(self, path, timeout=60):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(timeout)
        self.s.connect(str(path))
        self.buf = b""
        deadline = time.time() + timeout
        n = 1000
        while True:
            n += 1
            self.s.sendall(b"\xff" + json.dumps({"execute": "guest-sync-delimited", "arguments": {"id": n}}).encode() + b"\n")
            self.s.settimeout(2)
            try:
                while not self.buf.endswith(b"\n") or f'"return": {n}'.encode() not in self.buf:
                    chunk = self.s.recv(4096)
                    if not chunk:
                        raise RuntimeError("agent closed")
                    self.buf += chunk
                break
            except socket.timeout:
                assert time.time() < deadline, "the guest agent did not answer"
        self.buf = b""
        self.s.settimeout(timeout)

    def cmd(self, name, **args):
        self.s.sendall(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        while b"\n" not in self.buf:
            self.buf += self.s.recv(65536)
        line, self.buf = self.buf.split(b"\n", 1)
        r = json.loads(line)
        if "error" in r:
            raise RuntimeError(f"{name}: {r['error']}")
        return r["return"]

    def sh(self, script, timeout=30):
        """Runs a shell script in the guest; returns (exit code, stdout)."""
        import base64
        pid = self.cmd("guest-exec", path="/bin/sh", arg=["-c", script], **{"capture-output": True})["pid"]
        deadline = time.time() + timeout
        while True:
            st = self.cmd("guest-exec-status", pid=pid)
            if st["exited"]:
                return st.get("exitcode"), base64.b64decode(st.get("out-data", "")).decode()
            assert time.time() < deadline, f"guest command did not finish: {script}"
            time.sleep(0.1)

    def close(self):
        self.s.close()


class Vm:
    """A QEMU process with its disks on virtio-blk, a QMP socket for rsvault
    (`qmp.sock`), one for the test (`test.sock`) and, optionally, the guest
    agent's port (`ga.sock`) and a Linux guest to boot."""

    def __init__(self, workdir, disks, guest=None, agent=True, paused=False):
        self.dir = Path(workdir)
        self.disks = disks
        self.qmp_sock = self.dir / "qmp.sock"
        self.test_sock = self.dir / "test.sock"
        self.ga_sock = self.dir / "ga.sock"
        args = ["qemu-system-x86_64", "-machine", "q35,accel=tcg", "-m", "256", "-smp", "1",
                "-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
                "-qmp", f"unix:{self.qmp_sock},server=on,wait=off",
                "-qmp", f"unix:{self.test_sock},server=on,wait=off",
                "-serial", f"file:{self.dir / 'console.log'}"]
        for i, (path, fmt) in enumerate(disks):
            args += ["-drive", f"if=none,id=drive{i},file={path},format={fmt},node-name=disk{i}",
                     "-device", f"virtio-blk-pci,drive=drive{i},id=vd{i}"]
        if agent:
            args += ["-device", "virtio-serial",
                     "-chardev", f"socket,path={self.ga_sock},server=on,wait=off,id=qga0",
                     "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0"]
        if guest:
            args += ["-kernel", str(guest / "vmlinuz"), "-initrd", str(guest / "initramfs.gz"),
                     "-append", "console=ttyS0 quiet panic=-1"]
        if paused:
            args.append("-S")
        for s in (self.qmp_sock, self.test_sock, self.ga_sock):
            s.unlink(missing_ok=True)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while not self.test_sock.exists():
            assert self.proc.poll() is None, self.proc.stderr.read().decode()
            assert time.time() < deadline, "QEMU did not start"
            time.sleep(0.05)
        # The socket exists once QEMU has made its chardevs, before it has
        # opened the disks; QMP answers only after the machine is set up.
        while True:
            try:
                self.qmp("query-status")
                break
            except (OSError, RuntimeError, json.JSONDecodeError):
                assert self.proc.poll() is None, self.proc.stderr.read().decode()
                assert time.time() < deadline, "QEMU did not answer on QMP"
                time.sleep(0.05)

    def qmp(self, command, **args):
        q = Qmp(self.test_sock)
        try:
            return q.cmd(command, **args)
        finally:
            q.close()

    def write(self, drive, offset, length, pattern):
        """A guest write, made with qemu-io on the device's own backend."""
        out = self.qmp("human-monitor-command", **{"command-line": f'qemu-io drive{drive} "write -P {pattern} {offset} {length}"'})
        assert "error" not in out.lower(), out  # qemu-io prints its report on QEMU's stdout

    def bitmaps(self, drive=0):
        for b in self.qmp("query-block"):
            if b.get("device") == f"drive{drive}":
                return b["inserted"].get("dirty-bitmaps", [])
        return []

    def agent(self, timeout=60):
        return Agent(self.ga_sock, timeout)

    def quit(self):
        """A clean shutdown: QEMU saves persistent bitmaps into the qcow2."""
        try:
            self.qmp("quit")
        except (OSError, RuntimeError, json.JSONDecodeError):
            pass
        self.proc.wait(timeout=30)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def alive(self):
        return self.proc.poll() is None


def register_vm(server, name, location, disks, qmp=None, agent=None, rg="rg-vms"):
    """Registers a VM whose OS disk is disks[0] and data disks the rest,
    linked to a running QEMU by its sockets."""
    data = [{"lun": n, "vhd": {"uri": f"file://{p}"}, "name": f"{name}-data{n}"} for n, (p, _) in enumerate(disks[1:])]
    props = {"storageProfile": {"osDisk": {"osType": "Linux", "vhd": {"uri": f"file://{disks[0][0]}"}, "name": f"{name}-os"},
                                "dataDisks": data}}
    if qmp:
        props["qemu"] = {"qmpSocket": str(qmp)}
        if agent:
            props["qemu"]["guestAgentSocket"] = str(agent)
    r = requests.put(f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}",
                     headers={"Authorization": f"Bearer {server.token}"}, json={"location": location, "properties": props})
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]
