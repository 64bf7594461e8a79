"""Fixtures: a real `rsvault serve` process and Azure SDK clients pointed at it."""
import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.pipeline.policies import BearerTokenCredentialPolicy

from libvirtd_lock import libvirtd  # noqa: F401  (the fixture, for the tests that use libvirtd)

SUB = "00000000-0000-0000-0000-000000000001"

# Tests make disk images in pytest's temporary folders; the server may read
# images only under its image roots, so by default it is given that folder.
IMAGE_ROOTS = []


@pytest.fixture(autouse=True, scope="session")
def _image_roots(tmp_path_factory):
    IMAGE_ROOTS[:] = [str(tmp_path_factory.getbasetemp())]


def rsvault_bin():
    if os.environ.get("RSVAULT_BIN"):
        return os.environ["RSVAULT_BIN"]
    root = Path(__file__).resolve().parents[2]
    target = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
    return str(target / "debug" / "rsvault")


def _test_tls():
    """A CA and a certificate it signed for 127.0.0.1 and localhost, which
    every test server of the session serves (tests of the certificate a
    server makes itself ask for that). Every client trusts the CA the way
    a user would: REQUESTS_CA_BUNDLE (the SDKs and az), RSVAULT_CA_FILE
    (the rsvault CLI), SSL_CERT_FILE (urllib)."""
    d = Path(tempfile.mkdtemp(prefix="rsvault-test-tls-"))
    atexit.register(shutil.rmtree, d, True)
    subprocess.run(["bash", str(Path(__file__).resolve().parents[2] / "scripts" / "test-tls.sh"), str(d)],
                   check=True, capture_output=True)
    for var in ("REQUESTS_CA_BUNDLE", "RSVAULT_CA_FILE", "SSL_CERT_FILE"):
        os.environ[var] = str(d / "ca.crt")
    return d


TEST_TLS = _test_tls()


# RSVAULT_TEST_DATABASE=postgres runs every server on PostgreSQL: each new
# data directory gets a fresh database on the cluster RSVAULT_TEST_POSTGRES
# names (created with psql), and a server restarted on the same data
# directory gets the same database again.
ON_POSTGRES = os.environ.get("RSVAULT_TEST_DATABASE", "sqlite") == "postgres"
_DATABASES = {}


def _psql(sql):
    admin = os.environ["RSVAULT_TEST_POSTGRES"]
    psql = shutil.which("psql") or str(Path(os.environ.get("RSVAULT_PG_BIN", "/usr/bin")) / "psql")
    subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", admin, "-c", sql],
                   check=True, capture_output=True, text=True)


def database_url(data_dir):
    """The PostgreSQL database of a data directory: a new one for a new
    directory (one no server has used: no host Owner credential yet), else
    its own."""
    key = os.path.realpath(data_dir)
    if key not in _DATABASES or not (Path(data_dir) / "identity" / "owner.json").exists():
        name = "rsv_" + secrets.token_hex(6)
        _psql(f"CREATE DATABASE {name}")
        u = urlsplit(os.environ["RSVAULT_TEST_POSTGRES"])
        _DATABASES[key] = (name, urlunsplit(u._replace(path="/" + name)))
    return _DATABASES[key][1]


def drop_database(data_dir):
    """Drops a data directory's PostgreSQL database (its servers stopped)."""
    entry = _DATABASES.pop(os.path.realpath(data_dir), None)
    if entry:
        _psql(f"DROP DATABASE IF EXISTS {entry[0]} WITH (FORCE)")


def vault_stores(data_dir, secondaries=False):
    """The engine stores of the vaults on a local data directory: each
    region's under stores/<region>/ (and a bare stores/<name>/ of vaults
    made by earlier versions). A geo-redundant vault's secondary, in its
    paired region's folder, has its primary's name and is created just
    after it: only primaries are listed unless `secondaries`."""
    # The two configs can share a timestamp (the clock's tick): on a tie, the
    # copy in a region the tests only ever use as a pair comes second.
    pairs = {"northeurope", "japanwest"}
    found = sorted(((c.stat().st_mtime_ns, c.parent.parent.name in pairs), c.parent)
                   for c in (Path(data_dir) / "stores").glob("**/config"))
    seen, out = set(), []
    for _, store in found:
        if store.name in seen and not secondaries:
            continue
        seen.add(store.name)
        out.append(store)
    return sorted(out)


def secondary_store(data_dir, primary):
    """The secondary of a geo-redundant vault's primary store, if it has one."""
    (other,) = [s for s in vault_stores(data_dir, secondaries=True) if s.name == primary.name and s != primary] or [None]
    return other


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`rsvault serve` on a data directory. `tls`: "test" serves the
    session's certificate, "own" the one the server makes itself, "none"
    plain HTTP (`--insecure-http`)."""

    def __init__(self, data_dir, config=None, extra=(), image_roots=None, tls="test", listen_host="127.0.0.1"):
        self.data_dir, self.tls = Path(data_dir), tls
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.port = free_port()
        self.endpoint = f"{'http' if tls == 'none' else 'https'}://127.0.0.1:{self.port}"
        args = [rsvault_bin(), "serve", "--listen", f"{listen_host}:{self.port}", "--data-dir", str(self.data_dir), *extra]
        if listen_host != "127.0.0.1":
            # Listening wider (for other network namespaces), the server
            # still names itself as the tests' clients reach it.
            config = (config or "") + f'\n[server]\npublic_url = "{self.endpoint}"\n'
        args += {"test": ["--tls-cert", str(TEST_TLS / "server.crt"), "--tls-key", str(TEST_TLS / "server.key")],
                 "own": [], "none": ["--insecure-http"]}[tls]
        if ON_POSTGRES and "--database" not in extra and "[database]" not in (config or ""):
            args += ["--database", database_url(self.data_dir)]
        roots = IMAGE_ROOTS if image_roots is None else image_roots
        config = config or ""
        if "[inventory]" not in config:
            config += "\n[inventory]\nimage_roots = [%s]\n" % ", ".join(f'"{r}"' for r in roots)
        if config.strip():
            path = self.data_dir / "rsvault.toml"
            path.write_text(config)
            path.chmod(0o600)  # it may hold storage keys
            args += ["--config", str(path)]
        # The server's log goes to a file in its data directory, never to a
        # pipe nobody drains (a full pipe would stall the server's logging).
        self.log = self.data_dir / "serve.log"
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rsvault serve exited: {self.output()}")
            try:
                if requests.get(self.endpoint + "/healthz", timeout=1, verify=self.verify()).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"rsvault serve did not become healthy: {self.output()}")
            time.sleep(0.05)
        self.owner = json.loads((self.data_dir / "identity" / "owner.json").read_text())
        self.tenant = self.owner["tenant"]
        self._token = None

    @property
    def token(self):
        """An access token of the host Owner, got from the server's token
        endpoint (client credentials) and renewed before it expires."""
        if self._token is None or self._token[1] < time.time() + 300:
            self._token = login(self, self.owner["appId"], self.owner["password"])
        return self._token[0]

    def verify(self):
        """What a client verifies this server's certificate with."""
        own = self.data_dir / "tls" / "server.crt"
        return str(own) if self.tls == "own" and own.exists() else True

    def output(self):
        """What the server has logged so far."""
        return self.log.read_text(errors="replace")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


def login(server, app_id, secret, tenant=None, scope="https://management.azure.com/.default"):
    """(token, expiry) of a service principal, from the server's v2 token
    endpoint with the client-credentials grant."""
    r = requests.post(f"{server.endpoint}/{tenant or server.tenant}/oauth2/v2.0/token",
                      data={"grant_type": "client_credentials", "client_id": app_id,
                            "client_secret": secret, "scope": scope},
                      verify=server.verify(), timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["expires_in"], int) and body["expires_in"] >= 300, body
    return body["access_token"], time.time() + body["expires_in"]


@contextlib.contextmanager
def temp_server(config=None):
    """A server on a fresh data directory, stopped (cleanly) at the end."""
    with tempfile.TemporaryDirectory() as d:
        s = Server(d, config=config)
        try:
            yield s
        except BaseException:
            print("rsvault serve's log, last lines:\n" + "\n".join(s.output().splitlines()[-200:]))
            raise
        finally:
            code = s.stop() if s.proc.poll() is None else s.proc.returncode
        assert code == 0, "rsvault serve exits cleanly on SIGTERM"
        drop_database(d)


@pytest.fixture
def server():
    with temp_server() as s:
        yield s


class TokenCredential:
    def __init__(self, token):
        self.token = token

    def get_token(self, *scopes, **kwargs):
        return AccessToken(self.token, int(time.time()) + 3600)


class HttpBearerPolicy(BearerTokenCredentialPolicy):
    """The SDK's bearer policy, allowed over http:// (the test server is local)."""

    def on_request(self, request):
        request.context["enforce_https"] = False
        return super().on_request(request)


def clients(server, sub=SUB):
    from azure.mgmt.recoveryservices import RecoveryServicesClient
    from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
    cred = TokenCredential(server.token)
    kw = dict(base_url=server.endpoint, polling_interval=1,
              authentication_policy=HttpBearerPolicy(cred, "https://management.azure.com/.default"))
    return RecoveryServicesClient(cred, sub, **kw), RecoveryServicesBackupClient(cred, sub, **kw)


@pytest.fixture
def rs(server):
    return clients(server)[0]


@pytest.fixture
def bk(server):
    return clients(server)[1]
