"""The real Azure CLI (`az`, from PyPI's azure-cli) pointed at an rsvault
server. `az` speaks only HTTPS to Resource Manager and gets its tokens from
an identity provider, so the harness puts three small things around the
server, all on this machine:
- a TLS relay (a self-signed certificate made with openssl; `az` is told
  not to verify it) in front of the server, whose `[server] public_url` is
  the relay's URL, so operation URLs lead back through it;
- a managed-identity token endpoint (App Service style, IDENTITY_ENDPOINT)
  that hands out the server's admin token;
- an AZURE_CONFIG_DIR with a cloud whose Resource Manager is the relay and
  a managed-identity account of the test subscription.
`az` is found at $RSVAULT_AZ or in the virtualenv scripts/test.sh makes
(~/.cache/rsvault/az-venv); tests using it are skipped without one."""
import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import SUB, HttpBearerPolicy, Server, TokenCredential, free_port


def az_bin():
    path = os.environ.get("RSVAULT_AZ") or str(Path.home() / ".cache/rsvault/az-venv/bin/az")
    return path if os.access(path, os.X_OK) else None


def _pump(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class TlsRelay:
    """Accepts TLS on `port` and relays the bytes to 127.0.0.1:`target`."""

    def __init__(self, port, target, certdir):
        cert, key = certdir / "cert.pem", certdir / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.target = target
        self.sock = socket.create_server(("127.0.0.1", port))
        self.closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn):
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
            back = socket.create_connection(("127.0.0.1", self.target))
        except OSError:
            conn.close()
            return
        threading.Thread(target=_pump, args=(back, tls), daemon=True).start()
        _pump(tls, back)

    def close(self):
        self.closed = True
        self.sock.close()


def token_endpoint(token):
    """An App Service managed-identity endpoint handing out `token`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"access_token": token, "expires_on": str(int(time.time()) + 3600),
                               "resource": "https://management.core.windows.net/", "token_type": "Bearer"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def write_config(config_dir, arm_url):
    (config_dir / "clouds.config").write_text(
        "[rsvault]\n"
        f"endpoint_resource_manager = {arm_url}/\n"
        "endpoint_active_directory = https://login.microsoftonline.com\n"
        "endpoint_active_directory_resource_id = https://management.core.windows.net/\n"
        "endpoint_management = https://management.core.windows.net/\n"
        "endpoint_active_directory_graph_resource_id = https://graph.windows.net/\n")
    (config_dir / "config").write_text("[cloud]\nname = rsvault\n\n[core]\ncollect_telemetry = false\n"
                                       "first_run = false\nsurvey_message = false\n")
    profile = {"installationId": "00000000-0000-0000-0000-00000000a2c1", "subscriptions": [{
        "id": SUB, "name": "rsvault", "state": "Enabled", "isDefault": True,
        "tenantId": "00000000-0000-0000-0000-000000000000", "environmentName": "rsvault",
        "homeTenantId": "00000000-0000-0000-0000-000000000000",
        "user": {"name": "systemAssignedIdentity", "type": "servicePrincipal", "assignedIdentityInfo": "MSI"}}]}
    (config_dir / "azureProfile.json").write_text(json.dumps(profile))


class Az:
    """Runs `az` against one rsvault server."""

    def __init__(self, server, relay_url, env):
        self.server, self.relay_url, self.env = server, relay_url, env

    def run(self, *args, ok=True):
        p = subprocess.run([az_bin(), *args], capture_output=True, text=True, env=self.env,
                           stdin=subprocess.DEVNULL, timeout=300)
        if ok:
            assert p.returncode == 0, f"az {' '.join(args)}: exit {p.returncode}\n{p.stderr}"
        return p

    def sdk_clients(self):
        """The Python SDK's clients through the relay (whose certificate they
        are told not to check), so they follow the operation URLs too."""
        from azure.mgmt.recoveryservices import RecoveryServicesClient
        from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
        cred = TokenCredential(self.server.token)
        kw = dict(base_url=self.relay_url, polling_interval=1, connection_verify=False,
                  authentication_policy=HttpBearerPolicy(cred, "https://management.azure.com/.default"))
        return RecoveryServicesClient(cred, SUB, **kw), RecoveryServicesBackupClient(cred, SUB, **kw)

    def json(self, *args):
        out = self.run(*args, "-o", "json").stdout
        return json.loads(out) if out.strip() else None


@contextlib.contextmanager
def az_server(config=""):
    """A server on a fresh data directory behind a TLS relay, and `az` set up
    for it; `config` is more of the server's configuration file."""
    if not az_bin():
        pytest.skip("the Azure CLI is not installed (scripts/test.sh installs it into ~/.cache/rsvault/az-venv)")
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed for the TLS relay")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        data, cfg = d / "data", d / "az"
        data.mkdir()
        cfg.mkdir()
        port = free_port()
        relay_url = f"https://127.0.0.1:{port}"
        server = Server(data, config=f'[server]\npublic_url = "{relay_url}"\n{config}')
        relay = TlsRelay(port, server.port, d)
        tokens = token_endpoint(server.token)
        write_config(cfg, relay_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "MSI_", "IDENTITY_"))}
        env.update({"AZURE_CONFIG_DIR": str(cfg), "AZURE_CLI_DISABLE_CONNECTION_VERIFICATION": "1",
                    "AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CORE_ONLY_SHOW_ERRORS": "true",
                    "IDENTITY_ENDPOINT": f"http://127.0.0.1:{tokens.server_address[1]}/msi/token",
                    "IDENTITY_HEADER": "rsvault-test", "PYTHONWARNINGS": "ignore"})
        try:
            yield Az(server, relay_url, env)
        finally:
            tokens.shutdown()
            relay.close()
            assert server.stop() == 0
