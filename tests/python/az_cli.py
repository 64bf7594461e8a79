"""The real Azure CLI (`az`, from PyPI's azure-cli) pointed at an rsvault
server over HTTPS, verifying the server's certificate with the CA bundle
(REQUESTS_CA_BUNDLE) as a user would, and logged in as a user does:
`az cloud register` (which discovers the server's endpoints), then
`az login --service-principal` against the server's own token issuer,
with a service principal `rsvault ad sp create-for-rbac` made on the
server's host. `az` is found at $RSVAULT_AZ or in the virtualenv
scripts/test.sh makes (~/.cache/rsvault/az-venv); tests using it are
skipped without one."""
import contextlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import SUB, HttpBearerPolicy, Server, TokenCredential, rsvault_bin


def az_bin():
    path = os.environ.get("RSVAULT_AZ") or str(Path.home() / ".cache/rsvault/az-venv/bin/az")
    return path if os.access(path, os.X_OK) else None


def create_for_rbac(server, name, role, scope):
    """`rsvault ad sp create-for-rbac` on the server's host: az's JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RSVAULT_")}
    env["RSVAULT_CA_FILE"] = os.environ["RSVAULT_CA_FILE"]
    p = subprocess.run([rsvault_bin(), "ad", "--endpoint", server.endpoint, "--data-dir", str(server.data_dir),
                        "sp", "create-for-rbac", "--name", name, "--role", role, "--scopes", scope],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


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
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "MSI_", "IDENTITY_"))}
        env.update({"AZURE_CONFIG_DIR": str(cfg), "AZURE_CORE_INSTANCE_DISCOVERY": "false",
                    "AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CORE_ONLY_SHOW_ERRORS": "true",
                    "PYTHONWARNINGS": "ignore"})
        az = Az(server, env)
        sp = create_for_rbac(server, "az-walkthrough", "Owner", f"/subscriptions/{SUB}")
        az.run("cloud", "register", "--name", "rsvault", "--endpoint-resource-manager", server.endpoint + "/")
        az.run("cloud", "set", "--name", "rsvault")
        az.run("login", "--service-principal", "-u", sp["appId"], f"--password={sp['password']}", "--tenant", sp["tenant"])
        az.run("account", "set", "--subscription", SUB)
        try:
            yield az
        finally:
            assert server.stop() == 0
