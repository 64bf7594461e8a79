"""The real Azure CLI (`az`, from PyPI's azure-cli) pointed at an rsvault
server over HTTPS, verifying the server's certificate with the CA bundle
(REQUESTS_CA_BUNDLE) as a user would. `az` gets its tokens from an
identity provider, so the harness adds, on this machine:
- a managed-identity token endpoint (App Service style, IDENTITY_ENDPOINT)
  that hands out the server's admin token;
- an AZURE_CONFIG_DIR with a cloud whose Resource Manager is the server and
  a managed-identity account of the test subscription.
`az` is found at $RSVAULT_AZ or in the virtualenv scripts/test.sh makes
(~/.cache/rsvault/az-venv); tests using it are skipped without one."""
import contextlib
import json
import os
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import SUB, HttpBearerPolicy, Server, TokenCredential


def az_bin():
    path = os.environ.get("RSVAULT_AZ") or str(Path.home() / ".cache/rsvault/az-venv/bin/az")
    return path if os.access(path, os.X_OK) else None


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

    def __init__(self, server, env):
        self.server, self.env = server, env

    def run(self, *args, ok=True):
        p = subprocess.run([az_bin(), *args], capture_output=True, text=True, env=self.env,
                           stdin=subprocess.DEVNULL, timeout=300)
        if ok:
            assert p.returncode == 0, f"az {' '.join(args)}: exit {p.returncode}\n{p.stderr}"
        return p

    def sdk_clients(self):
        """The Python SDK's clients of the same server."""
        from azure.mgmt.recoveryservices import RecoveryServicesClient
        from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
        cred = TokenCredential(self.server.token)
        kw = dict(base_url=self.server.endpoint, polling_interval=1,
                  authentication_policy=HttpBearerPolicy(cred, "https://management.azure.com/.default"))
        return RecoveryServicesClient(cred, SUB, **kw), RecoveryServicesBackupClient(cred, SUB, **kw)

    def json(self, *args):
        out = self.run(*args, "-o", "json").stdout
        return json.loads(out) if out.strip() else None


@contextlib.contextmanager
def az_server(config=""):
    """A server on a fresh data directory and `az` set up for it; `config`
    is more of the server's configuration file."""
    if not az_bin():
        pytest.skip("the Azure CLI is not installed (scripts/test.sh installs it into ~/.cache/rsvault/az-venv)")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        data, cfg = d / "data", d / "az"
        data.mkdir()
        cfg.mkdir()
        server = Server(data, config=config or None)
        tokens = token_endpoint(server.token)
        write_config(cfg, server.endpoint)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "MSI_", "IDENTITY_"))}
        env.update({"AZURE_CONFIG_DIR": str(cfg),
                    "AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CORE_ONLY_SHOW_ERRORS": "true",
                    "IDENTITY_ENDPOINT": f"http://127.0.0.1:{tokens.server_address[1]}/msi/token",
                    "IDENTITY_HEADER": "rsvault-test", "PYTHONWARNINGS": "ignore"})
        try:
            yield Az(server, env)
        finally:
            tokens.shutdown()
            assert server.stop() == 0
