"""The part of Microsoft Graph that `az ad` and `az role` use, driven by
the real `az`: names resolve in `az role assignment create --assignee`,
`az role assignment list` shows principal names, and `az ad sp
create-for-rbac` makes a working service principal, as in Azure. Every
signed-in principal reads the directory; only an Owner at `/` (the host's
Owner here) changes it."""
import json
import subprocess

import pytest
import requests

from az_cli import az_bin, az_server
from conftest import SUB
from test_identity import az_for

RG = "rg-graph"


@pytest.fixture
def az():
    with az_server() as a:
        yield a


def test_az_resolves_names_through_graph_and_creates_service_principals(az, tmp_path):
    server = az.server
    h = {"Authorization": f"Bearer {server.token}"}
    user = requests.post(server.endpoint + "/rsvault/directory/users?api-version=2022-04-01", headers=h, verify=server.verify(),
                         json={"userPrincipalName": "alice@rsvault.local", "displayName": "Alice", "password": "a long test password"},
                         timeout=30).json()
    scope = f"/subscriptions/{SUB}/resourceGroups/{RG}"
    # The subscription Owner that az_server logged in: names resolve.
    a = az.json("role", "assignment", "create", "--assignee", "alice@rsvault.local", "--role", "Backup Reader", "--scope", scope)
    assert (a["principalId"], a["principalType"]) == (user["objectId"], "User")
    bot = requests.post(server.endpoint + "/rsvault/directory/servicePrincipals?api-version=2022-04-01", headers=h,
                        verify=server.verify(), json={"displayName": "graph-bot"}, timeout=30).json()
    a = az.json("role", "assignment", "create", "--assignee", bot["appId"], "--role", "Backup Operator", "--scope", scope)
    assert (a["principalId"], a["principalType"]) == (bot["objectId"], "ServicePrincipal")
    listed = az.json("role", "assignment", "list", "--scope", scope)
    names = {x["principalName"] for x in listed}
    assert {"alice@rsvault.local", bot["appId"]} <= names, listed
    p = az.run("role", "assignment", "create", "--assignee", "nobody@rsvault.local", "--role", "Reader", "--scope", scope, ok=False)
    assert p.returncode != 0 and "nobody@rsvault.local" in p.stderr, p.stderr
    # The subscription Owner may read the directory but not change it.
    p = az.run("ad", "sp", "create-for-rbac", "--name", "not-allowed", ok=False)
    assert p.returncode != 0 and "perform action 'Microsoft.Authorization/principals/write'" in p.stderr, p.stderr
    assert az.json("ad", "sp", "list", "--display-name", "graph-bot")[0]["appId"] == bot["appId"]

    # The host's Owner (Owner at /) runs az ad sp create-for-rbac as in Azure.
    owner = json.loads((server.data_dir / "identity" / "owner.json").read_text())
    env, run = az_for(server, tmp_path / "owner-az")
    run("login", "--service-principal", "-u", owner["appId"], f"--password={owner['password']}", "--tenant", owner["tenant"])
    run("account", "set", "--subscription", SUB)
    made = json.loads(run("ad", "sp", "create-for-rbac", "--name", "az-made", "--role", "Backup Contributor", "--scopes", scope))
    assert set(made) >= {"appId", "password", "displayName", "tenant"} and made["displayName"] == "az-made"
    assigned = json.loads(run("role", "assignment", "list", "--assignee", made["appId"], "--all"))
    assert [(x["roleDefinitionName"], x["scope"]) for x in assigned] == [("Backup Contributor", scope)], assigned
    # It logs in with what create-for-rbac printed, and holds that role.
    env2, run2 = az_for(server, tmp_path / "made-az")
    run2("login", "--service-principal", "-u", made["appId"], f"--password={made['password']}", "--tenant", made["tenant"])
    run2("account", "set", "--subscription", SUB)
    vault = json.loads(run("backup", "vault", "create", "-g", RG, "-n", "v-graph", "-l", "westeurope"))
    assert json.loads(run2("backup", "policy", "list", "-g", RG, "-v", "v-graph"))[0]["name"] == "DefaultPolicy"
    assert vault["name"] == "v-graph"
    # Again with the same name: the application is patched and its password replaced.
    again = json.loads(run("ad", "sp", "create-for-rbac", "--name", "az-made"))
    assert again["appId"] == made["appId"] and again["password"] != made["password"]
    p = subprocess.run([az_bin(), "login", "--service-principal", "-u", made["appId"], f"--password={made['password']}",
                        "--tenant", made["tenant"]], capture_output=True, text=True, env=env2, stdin=subprocess.DEVNULL, timeout=120)
    assert p.returncode != 0, "the old password was removed"
    run("ad", "sp", "delete", "--id", made["appId"])
    assert json.loads(run("ad", "sp", "list", "--display-name", "az-made")) == []
