"""`GET /metadata/endpoints` without a token, in the shape `az cloud
register` and Terraform read, and the real `az` registering the server as
a cloud with endpoint discovery (no --skip-endpoint-discovery), verifying
the server's certificate with REQUESTS_CA_BUNDLE."""
import json
import os
import subprocess
import tempfile

import pytest
import requests

from az_cli import az_bin


def test_endpoints_need_no_token_and_name_this_server(server):
    for path in ("/metadata/endpoints?api-version=2022-09-01", "//metadata/endpoints?api-version=2015-01-01"):
        r = requests.get(server.endpoint + path)
        assert r.status_code == 200, r.text
        d = r.json()
        assert d["resourceManager"] == server.endpoint + "/"
        assert d["authentication"]["loginEndpoint"] == server.endpoint
        assert d["authentication"]["audiences"][0] == "https://management.core.windows.net/"
        assert d["suffixes"] == {} and d["microsoftGraphResourceId"]


def test_az_cloud_register_discovers_the_endpoints(server):
    if not az_bin():
        pytest.skip("the Azure CLI is not installed (scripts/test.sh installs it)")
    with tempfile.TemporaryDirectory() as cfg:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("AZURE_")},
               "AZURE_CONFIG_DIR": cfg, "AZURE_CORE_COLLECT_TELEMETRY": "false"}
        run = lambda *a: subprocess.run([az_bin(), *a], capture_output=True, text=True, env=env, timeout=300)
        p = run("cloud", "register", "--name", "rsvault", "--endpoint-resource-manager", server.endpoint + "/")
        assert p.returncode == 0, p.stderr
        p = run("cloud", "show", "--name", "rsvault", "-o", "json")
        assert p.returncode == 0, p.stderr
        endpoints = json.loads(p.stdout)["endpoints"]
        assert endpoints["resourceManager"] == server.endpoint + "/"
        assert endpoints["activeDirectory"] == server.endpoint
        assert endpoints["activeDirectoryResourceId"] == "https://management.core.windows.net/"
