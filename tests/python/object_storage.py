"""S3 servers for the tests that need their own (geo-redundant storage):
moto's server from PyPI on a loopback port, and a plain TCP relay in front
of it that can be stopped and started again on the same port, which is how
a test takes the storage away without losing what moto holds in memory.
moto_server is found at $RSVAULT_MOTO_SERVER (scripts/common.sh sets it)
or in ~/.cache/rsvault/moto-venv; tests using it are skipped without one,
and fail when CI is true."""
import contextlib
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import free_port


def moto_bin():
    path = os.environ.get("RSVAULT_MOTO_SERVER") or str(Path.home() / ".cache/rsvault/moto-venv/bin/moto_server")
    if os.access(path, os.X_OK):
        return path
    assert os.environ.get("CI") != "true", "CI=true but moto_server is missing"
    pytest.skip("moto_server is not installed (scripts/test.sh installs it into ~/.cache/rsvault/moto-venv)")



def _pump(src, dst):
    """Copies bytes from `src` to `dst` until either side closes."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

class Moto:
    """One moto S3 server, in memory."""

    def __init__(self, log):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w")
        self.proc = subprocess.Popen([moto_bin(), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            try:
                requests.get(self.url, timeout=1)
                break
            except requests.ConnectionError:
                assert self.proc.poll() is None and time.time() < deadline, "moto_server did not start"
                time.sleep(0.1)

    def bucket(self, name, object_lock=False):
        """Creates a bucket; with `object_lock`, S3 Object Lock (and so
        versioning) is on, which can only be chosen at creation."""
        headers = {"x-amz-bucket-object-lock-enabled": "true"} if object_lock else {}
        assert requests.put(f"{self.url}/{name}", headers=headers, timeout=10).status_code == 200

    def keys(self, bucket, prefix=""):
        """Every key under a prefix."""
        out, token = [], None
        while True:
            q = {"list-type": "2", "prefix": prefix, **({"continuation-token": token} if token else {})}
            body = requests.get(f"{self.url}/{bucket}", params=q, timeout=30).text
            out += re.findall(r"<Key>([^<]*)</Key>", body)
            m = re.search(r"<NextContinuationToken>([^<]*)</NextContinuationToken>", body)
            if not m:
                return out
            token = m.group(1)

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=20)
        self.log.close()


class Relay:
    """Relays 127.0.0.1:port to 127.0.0.1:target; `stop()` closes the port and
    every connection (the storage is gone), `start()` opens it again."""

    def __init__(self, target):
        self.target, self.port = target, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.conns, self.lock, self.sock = set(), threading.Lock(), None
        self.start()

    def start(self):
        self.sock = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        threading.Thread(target=self._serve, args=(self.sock,), daemon=True).start()

    def _serve(self, sock):
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            try:
                back = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                conn.close()
                continue
            with self.lock:
                self.conns |= {conn, back}
            threading.Thread(target=_pump, args=(back, conn), daemon=True).start()
            threading.Thread(target=_pump, args=(conn, back), daemon=True).start()

    def stop(self):
        with contextlib.suppress(OSError):
            self.sock.close()
        with self.lock:
            for c in self.conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                    c.close()
            self.conns.clear()


def connection(endpoint):
    """A `[…connection]` table for a moto server (moto takes any key)."""
    return (f'endpoint = "{endpoint}"\nallow_http = true\npath_style = true\ns3_region = "us-east-1"\n'
            'access_key_id = "rsvault-test"\nsecret_access_key = "rsvault-test-secret"\n')
