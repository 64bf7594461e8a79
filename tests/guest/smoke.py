#!/usr/bin/env python3
"""Smoke test of the rsvault test guest (tests/guest/build-guest.sh).

Boots the guest under QEMU TCG (no /dev/kvm needed) with one virtio-blk disk
holding ext4, waits for qemu-ga to answer on its virtio-serial socket, and
exercises what rsvault's live-VM backups rely on: guest-info, fsfreeze
freeze/status/thaw with a test-injected hook, guest-exec with captured
output, guest-file-open/read/close and /etc/azure on the disk. Quits QEMU
through QMP and checks on the host that the guest's write reached the image.

    python3 tests/guest/smoke.py [--guest-dir DIR] [--format qcow2|raw] [--keep]

Plain python3, standard library only. Needs qemu-system-x86, e2fsprogs
(mkfs.ext4, debugfs) and, for --format qcow2 (the default when available),
qemu-img. The guest is built (or reused from cache) in --guest-dir, default
$RSVAULT_GUEST_DIR or ~/.cache/rsvault/guest.
"""
import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


class AgentError(Exception):
    """qemu-ga (or QMP) answered a command with an error."""


class LineSocket:
    """A Unix stream socket read line by line, with deadlines."""

    def __init__(self, path, timeout):
        deadline = time.monotonic() + timeout
        while True:  # QEMU creates the listening socket shortly after start
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer in time")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no answer in time") from None
        if not chunk:
            raise ConnectionError("socket closed by QEMU")
        self.buf += chunk

    def skip_past(self, marker: bytes, deadline):
        """Drop input up to and including the next `marker` byte."""
        while marker not in self.buf:
            self.buf = b""
            self._fill(deadline)
        self.buf = self.buf[self.buf.index(marker) + 1:]

    def readline(self, deadline) -> bytes:
        while b"\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def close(self):
        self.sock.close()


class GuestAgent:
    """qemu-ga client: JSON commands in, one JSON answer line each out."""

    def __init__(self, path, timeout=30):
        self.conn = LineSocket(path, timeout)
        self.next_id = int(time.time()) % 100000 * 1000

    def sync(self, deadline):
        """Resynchronise with guest-sync-delimited; retries until `deadline`.

        Before the guest opens its port, QEMU leaves our requests queued; once
        qemu-ga starts it answers every queued one. Each answer starts with a
        0xFF byte; only the answer carrying our latest id counts.
        """
        while True:
            self.next_id += 1
            sync_id = self.next_id
            req = {"execute": "guest-sync-delimited", "arguments": {"id": sync_id}}
            self.conn.send(b"\xff" + json.dumps(req).encode() + b"\n")
            attempt = min(deadline, time.monotonic() + 2)
            try:
                while True:
                    self.conn.skip_past(b"\xff", attempt)
                    answer = json.loads(self.conn.readline(attempt))
                    if answer.get("return") == sync_id:
                        return
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise TimeoutError("qemu-ga did not answer guest-sync-delimited") from None

    def execute(self, command, timeout=30, **arguments):
        req = {"execute": command}
        if arguments:
            req["arguments"] = arguments
        self.conn.send(json.dumps(req).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            line = self.conn.readline(deadline).strip(b"\xff \r")
            if not line:
                continue
            answer = json.loads(line)
            if "error" in answer:
                raise AgentError(f"{command}: {answer['error']}")
            if "return" in answer:
                return answer["return"]

    # Helpers for the commands the tests use most.
    def exec(self, argv, timeout=60):
        """guest-exec with captured output; returns the final guest-exec-status."""
        pid = self.execute("guest-exec", path=argv[0], arg=list(argv[1:]), **{"capture-output": True})["pid"]
        deadline = time.monotonic() + timeout
        while True:
            status = self.execute("guest-exec-status", pid=pid)
            if status["exited"]:
                for key in ("out-data", "err-data"):
                    if key in status:
                        status[key] = base64.b64decode(status[key]).decode(errors="replace")
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"guest-exec {argv} still running")
            time.sleep(0.1)

    def read_file(self, path):
        handle = self.execute("guest-file-open", path=path, mode="r")
        try:
            data = b""
            while True:
                chunk = self.execute("guest-file-read", handle=handle, count=65536)
                data += base64.b64decode(chunk["buf-b64"])
                if chunk["eof"] or not chunk["count"]:
                    return data
        finally:
            self.execute("guest-file-close", handle=handle)

    def close(self):
        self.conn.close()


class Qmp:
    """Minimal QMP client (greeting, qmp_capabilities, commands; events skipped)."""

    def __init__(self, path, timeout=30):
        self.conn = LineSocket(path, timeout)
        self.conn.readline(time.monotonic() + timeout)  # {"QMP": {...}} greeting
        self.execute("qmp_capabilities")

    def execute(self, command, timeout=30, **arguments):
        req = {"execute": command, **({"arguments": arguments} if arguments else {})}
        self.conn.send(json.dumps(req).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            answer = json.loads(self.conn.readline(deadline))
            if "error" in answer:
                raise AgentError(f"QMP {command}: {answer['error']}")
            if "return" in answer:
                return answer["return"]

    def close(self):
        self.conn.close()


def qemu_command(kernel, initrd, disk, disk_format, ga_sock, qmp_sock, console_log):
    """The QEMU command line: TCG, q35, serial console to a file, no display."""
    return [
        "qemu-system-x86_64",
        "-machine", "q35,accel=tcg", "-m", "256", "-smp", "1",
        "-kernel", str(kernel), "-initrd", str(initrd),
        "-append", "console=ttyS0 quiet panic=-1",
        "-drive", f"file={disk},if=virtio,format={disk_format},cache=writeback",
        "-device", "virtio-serial",
        "-chardev", f"socket,path={ga_sock},server=on,wait=off,id=qga0",
        "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
        "-qmp", f"unix:{qmp_sock},server=on,wait=off",
        "-serial", f"file:{console_log}",
        "-display", "none", "-monitor", "none", "-nodefaults", "-no-reboot",
    ]


def make_disk(work, disk_format):
    """An ext4 image whose content tests the guest's boot-time conventions."""
    src = work / "disk-src"
    hooks = src / ".guest-hooks"
    hooks.mkdir(parents=True)
    # Runs with "freeze" before the freeze and "thaw" after the thaw.
    (hooks / "10-marker").write_text('#!/bin/sh\necho "hook $1" >> /data/hook-marker.log\n')
    # Fails the freeze while /data/fail-freeze exists (a failing pre-script).
    (hooks / "20-maybe-fail").write_text(
        '#!/bin/sh\n[ "$1" = freeze ] && [ -e /data/fail-freeze ] && { echo refusing; exit 3; }\nexit 0\n')
    for hook in hooks.iterdir():
        hook.chmod(0o755)
    (src / "etc-azure").mkdir()
    (src / "etc-azure" / "VMSnapshotScriptPluginConfig.json").write_text('{"pluginName": "ScriptRunner"}\n')
    (src / "hello.txt").write_text("hello from the host\n")

    raw = work / "disk.raw"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(src), str(raw), "64M"], check=True)
    if disk_format == "raw":
        return raw
    qcow2 = work / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True)
    raw.unlink()
    return qcow2


def read_from_image(image, disk_format, path, work):
    """Read a file out of the ext4 image on the host (debugfs; no mount, no root)."""
    if disk_format != "raw":
        raw = work / "check.raw"
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(raw)], check=True)
        image = raw
    out = subprocess.run(["debugfs", "-R", f"cat {path}", str(image)],
                         check=True, capture_output=True)
    return out.stdout


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"  ok  {what}")


def smoke(guest_dir, disk_format, work, boot_timeout):
    disk = make_disk(work, disk_format)
    ga_sock, qmp_sock, console_log = work / "ga.sock", work / "qmp.sock", work / "console.log"
    cmd = qemu_command(guest_dir / "vmlinuz", guest_dir / "initramfs.gz", disk, disk_format,
                       ga_sock, qmp_sock, console_log)
    print("qemu command line:\n  " + " ".join(cmd))

    started = time.monotonic()
    qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    try:
        ga = GuestAgent(ga_sock)
        ga.sync(started + boot_timeout)
        boot = time.monotonic() - started
        print(f"qemu-ga ready {boot:.1f} s after QEMU start (TCG)")
        console = console_log.read_text(errors="replace")
        check("rsvault-guest: qemu-ga started" in console, "console shows the qemu-ga marker")

        info = ga.execute("guest-info")
        enabled = {c["name"] for c in info["supported_commands"] if c["enabled"]}
        needed = {"guest-exec", "guest-exec-status", "guest-file-open", "guest-file-read",
                  "guest-file-write", "guest-file-close", "guest-fsfreeze-freeze",
                  "guest-fsfreeze-status", "guest-fsfreeze-thaw"}
        check(needed <= enabled, f"guest-info {info['version']}: {', '.join(sorted(needed))} enabled")

        frozen = ga.execute("guest-fsfreeze-freeze", timeout=60)
        check(frozen >= 1, f"guest-fsfreeze-freeze froze {frozen} file system(s)")
        check(ga.execute("guest-fsfreeze-status") == "frozen", "guest-fsfreeze-status: frozen")
        thawed = ga.execute("guest-fsfreeze-thaw", timeout=60)
        check(thawed == frozen, f"guest-fsfreeze-thaw thawed {thawed}")
        check(ga.execute("guest-fsfreeze-status") == "thawed", "guest-fsfreeze-status: thawed")
        marker = ga.read_file("/data/hook-marker.log").decode()
        check(marker == "hook freeze\nhook thaw\n", f"hook from /data/.guest-hooks ran: {marker!r}")

        status = ga.exec(["/bin/sh", "-c", "echo hi > /data/x; sync; cat /data/x"])
        check(status["exitcode"] == 0 and status.get("out-data") == "hi\n",
              f"guest-exec sh -c 'echo hi > /data/x; sync': exit {status['exitcode']}, "
              f"output {status.get('out-data')!r}")
        check(ga.read_file("/data/x") == b"hi\n", "guest-file-open/read/close of /data/x")
        check(ga.read_file("/data/hello.txt") == b"hello from the host\n", "host-made file readable")
        azure = ga.read_file("/etc/azure/VMSnapshotScriptPluginConfig.json")
        check(b"ScriptRunner" in azure, "/etc/azure -> /data/etc-azure")

        # A failing freeze hook makes the freeze fail and leaves nothing frozen.
        ga.exec(["/bin/touch", "/data/fail-freeze"])
        try:
            ga.execute("guest-fsfreeze-freeze", timeout=60)
            failed = None
        except AgentError as e:
            failed = str(e)
        check(failed is not None, f"freeze refused by a failing hook: {failed}")
        check(ga.execute("guest-fsfreeze-status") == "thawed", "still thawed after the refused freeze")
        ga.exec(["/bin/rm", "/data/fail-freeze"])
        ga.exec(["/bin/sync"])
        ga.close()

        qmp = Qmp(qmp_sock)
        qmp.execute("quit")
        qmp.close()
        check(qemu.wait(timeout=30) == 0, "QEMU quit through QMP")
        check(read_from_image(disk, disk_format, "/x", work) == b"hi\n", "guest's write is in the image")
        return boot
    except BaseException:
        print("---- guest console ----", file=sys.stderr)
        if console_log.exists():
            print(console_log.read_text(errors="replace")[-4000:], file=sys.stderr)
        raise
    finally:
        if qemu.poll() is None:
            qemu.kill()
            qemu.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_dir = os.environ.get("RSVAULT_GUEST_DIR") or str(Path.home() / ".cache/rsvault/guest")
    parser.add_argument("--guest-dir", default=default_dir, help=f"guest build/cache dir (default {default_dir})")
    parser.add_argument("--format", choices=("qcow2", "raw"),
                        default="qcow2" if shutil.which("qemu-img") else "raw", help="disk image format")
    parser.add_argument("--boot-timeout", type=float, default=120, help="seconds to wait for qemu-ga")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (disk, console.log)")
    args = parser.parse_args()

    guest_dir = Path(args.guest_dir)
    subprocess.run([str(HERE / "build-guest.sh"), str(guest_dir)], check=True)
    print((guest_dir / "guest-info.txt").read_text().strip())

    work = Path(tempfile.mkdtemp(prefix="rsvault-smoke."))
    try:
        boot = smoke(guest_dir, args.format, work, args.boot_timeout)
    finally:
        if args.keep:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"PASS: guest boot to qemu-ga ready in {boot:.1f} s (TCG, disk {args.format})")


if __name__ == "__main__":
    main()
