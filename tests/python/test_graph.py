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


def test_az_logs_in_with_a_certificate(az, tmp_path):
    """`az ad sp create-for-rbac --create-cert` uploads a certificate; `az
    login --service-principal --certificate` signs a client assertion with
    its key (RS256, x5t), and azure-identity's CertificateCredential does
    the same; another key, or another app's certificate, is refused."""
    server = az.server
    owner = json.loads((server.data_dir / "identity" / "owner.json").read_text())
    env, run = az_for(server, tmp_path / "owner-az")
    run("login", "--service-principal", "-u", owner["appId"], f"--password={owner['password']}", "--tenant", owner["tenant"])
    scope = f"/subscriptions/{SUB}/resourceGroups/{RG}"
    made = json.loads(run("ad", "sp", "create-for-rbac", "--name", "cert-bot", "--create-cert", "--role", "Reader", "--scopes", scope))
    pem_file = made["fileWithCertAndPrivateKey"]
    assert "password" not in made or made["password"] is None
    app = json.loads(run("ad", "app", "show", "--id", made["appId"]))
    (cred,) = app["keyCredentials"]
    assert cred["type"] == "AsymmetricX509Cert" and len(cred["customKeyIdentifier"]) == 40
    env2, run2 = az_for(server, tmp_path / "cert-az")
    run2("login", "--service-principal", "-u", made["appId"], "--certificate", pem_file, "--tenant", made["tenant"])
    run2("account", "set", "--subscription", SUB)
    assert json.loads(run2("backup", "vault", "list", "-g", RG)) == []
    p = subprocess.run([az_bin(), "backup", "vault", "create", "-g", RG, "-n", "v-cert", "-l", "westeurope"],
                       capture_output=True, text=True, env=env2, stdin=subprocess.DEVNULL, timeout=120)
    assert p.returncode != 0 and "AuthorizationFailed" in p.stderr, "a Reader writes nothing"

    # azure-identity's CertificateCredential, from the same PEM.
    from azure.identity import CertificateCredential
    cred = CertificateCredential(made["tenant"], made["appId"], certificate_path=pem_file,
                                 authority=server.endpoint, disable_instance_discovery=True)
    token = cred.get_token("https://management.azure.com/.default").token
    r = requests.get(f"{server.endpoint}{scope}/providers/Microsoft.RecoveryServices/vaults?api-version=2026-07-01",
                     headers={"Authorization": f"Bearer {token}"}, verify=server.verify(), timeout=30)
    assert r.status_code == 200, r.text

    # A certificate the app does not hold: refused.
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(other), "-out", str(tmp_path / "o.crt"),
                    "-days", "1", "-subj", "/CN=other"], check=True, capture_output=True)
    other.write_text(other.read_text() + (tmp_path / "o.crt").read_text())
    env3, _ = az_for(server, tmp_path / "other-az")
    p = subprocess.run([az_bin(), "login", "--service-principal", "-u", made["appId"], "--certificate", str(other),
                        "--tenant", made["tenant"]], capture_output=True, text=True, env=env3, stdin=subprocess.DEVNULL, timeout=120)
    assert p.returncode != 0 and "AADSTS700027" in p.stderr, p.stderr


def test_rsvault_cli_resets_a_credential_to_a_certificate(az, tmp_path):
    from test_cli import run as cli
    server = az.server
    h = {"Authorization": f"Bearer {server.token}"}
    bot = requests.post(server.endpoint + "/rsvault/directory/servicePrincipals?api-version=2022-04-01", headers=h,
                        verify=server.verify(), json={"displayName": "cli-cert-bot"}, timeout=30).json()
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "2", "-subj", "/CN=cli-cert-bot"], check=True, capture_output=True)
    out = json.loads(cli(server, "ad", "sp", "credential", "reset", "--id", bot["appId"], "--cert", str(crt), "-o", "json").stdout)
    assert out["appId"] == bot["appId"] and out["password"] is None
    from test_identity import post_token
    r = post_token(server, bot["tenant"], {"grant_type": "client_credentials", "client_id": bot["appId"], "client_secret": bot["password"],
                                           "scope": "https://management.azure.com/.default"})
    assert r.status_code == 401, "the secret was replaced"
    # azure-identity signs its assertion with the certificate's key.
    from azure.identity import CertificateCredential
    both = tmp_path / "both.pem"
    both.write_text(key.read_text() + crt.read_text())
    cred = CertificateCredential(bot["tenant"], bot["appId"], certificate_path=str(both), authority=server.endpoint,
                                 disable_instance_discovery=True)
    assert cred.get_token("https://management.azure.com/.default").token
    p = cli(server, "ad", "sp", "credential", "reset", "--id", bot["appId"], "--cert", str(key), ok=False)
    assert p.returncode != 0 and "X.509" in p.stderr, p.stderr
