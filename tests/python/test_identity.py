"""The built-in token issuer (OpenID configuration, keys, the token
endpoints), token verification on every request, Azure's SDK logging in
with azure-identity, and the RBAC matrix: every role against a set of
requests, the expected answer derived from Azure's published role
definitions (`azure-builtin-roles.json`, copied from Azure's docs) by this
file's own action matcher and its own table of which action each request
needs (from Azure's REST operations), not from the server's code."""
import base64
import fnmatch
import json
import time
import uuid
from pathlib import Path

import pytest
import requests

from conftest import SUB, login

RG = "rg-ident"

ROLES_JSON = Path(__file__).resolve().parents[2] / "crates/rsvault-service/src/identity/azure-builtin-roles.json"
AZURE_ROLES = {r["roleName"]: r for r in json.loads(ROLES_JSON.read_text())}
VAULT_API = "2026-07-01"
BACKUP_API = "2026-08-01"


def get(server, path, token=None, **kw):
    return requests.get(server.endpoint + path, headers={"Authorization": f"Bearer {token or server.token}"},
                        verify=server.verify(), timeout=30, **kw)


def post_token(server, tenant, data, v2=True):
    path = f"/{tenant}/oauth2/v2.0/token" if v2 else f"/{tenant}/oauth2/token"
    return requests.post(server.endpoint + path, data=data, verify=server.verify(), timeout=30)


def claims(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_openid_configuration_and_keys_are_published_without_a_token(server):
    for path in (f"/{server.tenant}/v2.0/.well-known/openid-configuration",
                 f"//{server.tenant.upper()}/V2.0/.well-known/openid-configuration",
                 "/organizations/v2.0/.well-known/openid-configuration"):
        r = requests.get(server.endpoint + path, verify=server.verify(), timeout=30)
        assert r.status_code == 200, (path, r.text)
        doc = r.json()
        for key in ("authorization_endpoint", "token_endpoint", "device_authorization_endpoint", "issuer", "jwks_uri"):
            assert doc[key], key
        assert doc["token_endpoint"].startswith("https://")
    keys = requests.get(doc["jwks_uri"], verify=server.verify(), timeout=30).json()["keys"]
    assert keys and all(k["kty"] == "EC" and k["crv"] == "P-256" and k["kid"] for k in keys)
    r = requests.get(server.endpoint + "/not-a-tenant/v2.0/.well-known/openid-configuration", verify=server.verify())
    assert r.status_code == 400 and "AADSTS90002" in r.json()["error_description"]


def test_tokens_are_signed_jwts_with_entra_claims(server):
    owner = server.owner
    for v2, data in ((True, {"scope": "https://management.core.windows.net//.default"}),
                     (False, {"resource": "https://management.core.windows.net/"})):
        r = post_token(server, server.tenant, {"grant_type": "client_credentials", "client_id": owner["appId"],
                                               "client_secret": owner["password"], **data}, v2=v2)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["token_type"] == "Bearer" and isinstance(body["expires_in"], int) and body["expires_in"] >= 300
        c = claims(body["access_token"])
        assert c["aud"] == "https://management.core.windows.net/"
        assert c["tid"] == server.tenant and c["appid"] == owner["appId"] and c["idtyp"] == "app"
        for k in ("oid", "sub", "iss", "iat", "nbf", "exp"):
            assert c[k], k
        assert c["exp"] - c["iat"] == body["expires_in"]
        header = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[0] + "=="))
        assert header["alg"] == "ES256" and header["kid"]
        assert get(server, "/subscriptions?api-version=2022-12-01", body["access_token"]).status_code == 200


def test_the_token_endpoint_answers_entra_errors(server):
    owner = server.owner
    base = {"grant_type": "client_credentials", "client_id": owner["appId"],
            "scope": "https://management.azure.com/.default"}
    cases = [
        (dict(base, client_secret="wrong"), 401, "invalid_client", "AADSTS7000215"),
        (dict(base, client_id=str(uuid.uuid4()), client_secret="x"), 401, "invalid_client", "AADSTS7000215"),
        (dict(base, grant_type="authorization_code", client_secret=owner["password"]), 400, "unsupported_grant_type", "AADSTS70003"),
        (dict(base, grant_type="password", client_secret=owner["password"]), 400, "invalid_request", "AADSTS900144"),
        (dict(base, client_secret=owner["password"], scope="https://graph.microsoft.com/.default"), 400, "invalid_resource", "AADSTS500011"),
        ({k: v for k, v in base.items() if k != "scope"} | {"client_secret": owner["password"]}, 400, "invalid_request", "AADSTS900144"),
    ]
    for data, status, error, code in cases:
        r = post_token(server, server.tenant, data)
        assert (r.status_code, r.json()["error"]) == (status, error), r.text
        assert r.json()["error_description"].startswith(code) and r.json()["error_codes"]
        assert owner["password"] not in r.text
    r = post_token(server, str(uuid.uuid4()), dict(base, client_secret=owner["password"]))
    assert r.status_code == 400 and "AADSTS90002" in r.text


def test_failed_logins_are_limited_per_address(server):
    data = {"grant_type": "client_credentials", "client_id": server.owner["appId"], "client_secret": "guess",
            "scope": "https://management.azure.com/.default"}
    codes = [post_token(server, server.tenant, data).status_code for _ in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429], codes
    r = post_token(server, server.tenant, dict(data, client_secret=server.owner["password"]))
    assert r.status_code == 429 and r.headers["Retry-After"] == "60", "even the right secret waits"


def test_bad_tokens_get_401_with_a_challenge(server, tmp_path):
    url = f"/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/vaults?api-version={VAULT_API}"
    r = requests.get(server.endpoint + url, verify=server.verify())
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationFailed"
    assert r.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    good = server.token
    head, body, sig = good.split(".")
    c = claims(good)
    forged = ".".join([head, base64.urlsafe_b64encode(json.dumps(dict(c, oid=str(uuid.uuid4()))).encode()).decode().rstrip("="), sig])
    unsigned = ".".join([base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("="), body, ""])
    for bad in ("not-a-jwt", forged, unsigned, good[:-4] + "AAAA"):
        r = get(server, url, bad)
        assert r.status_code == 401, bad
        assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
        assert "insufficient_claims" not in r.headers["WWW-Authenticate"]


def test_a_token_of_another_server_is_refused(server):
    from conftest import temp_server
    with temp_server() as other:
        foreign = other.token
    r = get(server, f"/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/vaults?api-version={VAULT_API}", foreign)
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"


def sp(server, name, role=None, scope=None):
    body = {"displayName": name, **({"role": role, "scopes": [scope]} if role else {})}
    r = requests.post(server.endpoint + "/rsvault/directory/servicePrincipals?api-version=2022-04-01", json=body,
                      headers={"Authorization": f"Bearer {server.token}"}, verify=server.verify(), timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_reset_or_deleted_principal_s_tokens_stop_working(server):
    bot = sp(server, "bot", "Reader", f"/subscriptions/{SUB}")
    token, _ = login(server, bot["appId"], bot["password"])
    vaults = f"/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/vaults?api-version={VAULT_API}"
    assert get(server, vaults, token).status_code == 200
    r = requests.post(f"{server.endpoint}/rsvault/directory/principals/{bot['appId']}/resetCredential?api-version=2022-04-01",
                      json={}, headers={"Authorization": f"Bearer {server.token}"}, verify=server.verify())
    assert r.status_code == 200 and r.json()["password"] != bot["password"]
    assert get(server, vaults, token).status_code == 401, "the old credential's token is revoked"
    token2, _ = login(server, bot["appId"], r.json()["password"])
    assert get(server, vaults, token2).status_code == 200
    r = requests.delete(f"{server.endpoint}/rsvault/directory/principals/{bot['objectId']}?api-version=2022-04-01",
                        headers={"Authorization": f"Bearer {server.token}"}, verify=server.verify())
    assert r.status_code == 204
    assert get(server, vaults, token2).status_code == 401


def test_the_last_owner_cannot_be_removed(server):
    owner = claims(server.token)["oid"]
    r = requests.delete(f"{server.endpoint}/rsvault/directory/principals/{owner}?api-version=2022-04-01",
                        headers={"Authorization": f"Bearer {server.token}"}, verify=server.verify())
    assert r.status_code == 409 and r.json()["error"]["code"] == "LastOwner"


def test_azure_identity_client_secret_credential_drives_the_sdk(server):
    from azure.identity import ClientSecretCredential
    from azure.mgmt.recoveryservices import RecoveryServicesClient
    from azure.mgmt.recoveryservices.models import Sku, Vault, VaultProperties
    bot = sp(server, "sdk-bot", "Backup Contributor", f"/subscriptions/{SUB}")
    cred = ClientSecretCredential(bot["tenant"], bot["appId"], bot["password"], authority=server.endpoint,
                                  disable_instance_discovery=True, connection_verify=server.verify())
    rs = RecoveryServicesClient(cred, SUB, base_url=server.endpoint, polling_interval=1)
    v = rs.vaults.begin_create_or_update(RG, "sdk-vault", Vault(location="westeurope", sku=Sku(name="Standard"),
                                                                 properties=VaultProperties())).result()
    assert v.name == "sdk-vault"
    from azure.core.exceptions import HttpResponseError
    with pytest.raises(HttpResponseError) as e:
        rs.vaults.begin_delete(RG, "sdk-vault").result()
    assert e.value.status_code == 403 and "AuthorizationFailed" in str(e.value)


# --- The RBAC matrix -------------------------------------------------------

def azure_allows(role, action):
    """Whether an Azure role definition allows an action: some permission
    block has a matching action and no matching notAction; `*` matches any
    run of characters, regardless of case."""
    def match(pattern, a):
        return fnmatch.fnmatchcase(a.lower(), pattern.lower().replace("[", "[[]"))
    return any(any(match(p, action) for p in perm["actions"]) and not any(match(p, action) for p in perm["notActions"])
               for perm in role["permissions"])


AGENT_ALLOWS = {  # rsvault's own agent role: reads, inventory writes and Backup now; nothing else
    "Microsoft.RecoveryServices/Vaults/read", "Microsoft.RecoveryServices/Vaults/backupPolicies/read",
    "Microsoft.RecoveryServices/Vaults/backupProtectedItems/read", "Microsoft.RecoveryServices/Vaults/backupJobs/read",
    "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/read",
    "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/backup/action",
    "Microsoft.Compute/virtualMachines/read",
}

V = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/matrix"
ITEM = f"{V}/backupFabrics/Azure/protectionContainers/iaasvmcontainer;iaasvmcontainerv2;{RG};ghost/protectedItems/vm;iaasvmcontainerv2;{RG};ghost"
# (method, path, body, the Azure action the operation needs)
MATRIX = [
    ("GET", f"{V}?api-version={VAULT_API}", None, "Microsoft.RecoveryServices/Vaults/read"),
    ("PUT", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/made-{{n}}?api-version={VAULT_API}",
     {"location": "westeurope", "sku": {"name": "Standard"}, "properties": {}}, "Microsoft.RecoveryServices/Vaults/write"),
    ("DELETE", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/ghost?api-version={VAULT_API}", None,
     "Microsoft.RecoveryServices/Vaults/delete"),
    ("GET", f"{V}/backupstorageconfig/vaultstorageconfig?api-version={BACKUP_API}", None, "Microsoft.RecoveryServices/Vaults/backupstorageconfig/read"),
    ("GET", f"{V}/backupconfig/vaultconfig?api-version={BACKUP_API}", None, "Microsoft.RecoveryServices/Vaults/backupconfig/read"),
    ("GET", f"{V}/backupPolicies?api-version={BACKUP_API}", None, "Microsoft.RecoveryServices/Vaults/backupPolicies/read"),
    ("DELETE", f"{V}/backupPolicies/ghost?api-version={BACKUP_API}", None, "Microsoft.RecoveryServices/Vaults/backupPolicies/delete"),
    ("GET", f"{V}/backupProtectedItems?api-version={BACKUP_API}", None, "Microsoft.RecoveryServices/Vaults/backupProtectedItems/read"),
    ("GET", f"{V}/backupProtectableItems?api-version={BACKUP_API}", None, "Microsoft.RecoveryServices/Vaults/backupProtectableItems/read"),
    ("GET", f"{ITEM}?api-version={BACKUP_API}", None, "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/read"),
    ("DELETE", f"{ITEM}?api-version={BACKUP_API}", None, "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/delete"),
    ("POST", f"{ITEM}/backup?api-version={BACKUP_API}", {"properties": {"objectType": "IaasVMBackupRequest"}},
     "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/backup/action"),
    ("GET", f"{ITEM}/recoveryPoints?api-version={BACKUP_API}", None,
     "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints/read"),
    ("GET", f"{V}/backupJobs?api-version={BACKUP_API}", None, "Microsoft.RecoveryServices/Vaults/backupJobs/read"),
    ("POST", f"{V}/backupJobs/ghost/cancel?api-version={BACKUP_API}", None, "Microsoft.RecoveryServices/Vaults/backupJobs/cancel/action"),
    ("GET", f"{V}/usages?api-version={VAULT_API}", None, "Microsoft.RecoveryServices/Vaults/usages/read"),
    ("GET", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines?api-version=2024-07-01", None,
     "Microsoft.Compute/virtualMachines/read"),
    ("DELETE", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/disks/ghost?api-version=2024-07-01", None,
     "Microsoft.Compute/disks/delete"),
    ("GET", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01", None,
     "Microsoft.Authorization/roleAssignments/read"),
    ("GET", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-05-01-preview", None,
     "Microsoft.Authorization/roleDefinitions/read"),
    ("PUT", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Authorization/roleAssignments/{{guid}}?api-version=2022-04-01",
     {"properties": {"roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
                     "principalId": "{self}"}}, "Microsoft.Authorization/roleAssignments/write"),
]


def call(server, token, method, path, body, n, me):
    path = path.replace("{n}", str(n)).replace("{guid}", str(uuid.uuid4()))
    if body is not None:
        body = json.loads(json.dumps(body).replace("{self}", me))
    return requests.request(method, server.endpoint + path, json=body, headers={"Authorization": f"Bearer {token}"},
                            verify=server.verify(), timeout=60)


def test_rbac_matrix_follows_azure_role_definitions(server):
    r = call(server, server.token, "PUT", f"{V}?api-version={VAULT_API}",
             {"location": "westeurope", "sku": {"name": "Standard"}, "properties": {}}, 0, "")
    assert r.status_code in (200, 201), r.text
    rg_scope, other_scope = f"/subscriptions/{SUB}/resourceGroups/{RG}", f"/subscriptions/{SUB}/resourceGroups/elsewhere"
    cases = [(name, AZURE_ROLES[name], rg_scope) for name in
             ("Owner", "Contributor", "Reader", "Backup Contributor", "Backup Operator", "Backup Reader")]
    cases += [("rsvault Backup Agent", None, rg_scope), ("no role", None, None), ("Owner at another group", AZURE_ROLES["Owner"], other_scope)]
    failures = []
    for n, (label, role, scope) in enumerate(cases, start=1):
        name = label if scope is not None else None
        bot = sp(server, f"matrix-{n}", label.replace(" at another group", "") if name else None, scope)
        token, _ = login(server, bot["appId"], bot["password"])
        me = claims(token)["oid"]
        for method, path, body, action in MATRIX:
            if role is not None:
                allowed = azure_allows(role, action) and scope == rg_scope
            else:
                allowed = label == "rsvault Backup Agent" and action in AGENT_ALLOWS
            got = call(server, token, method, path, body, n, me)
            refused = got.status_code == 403
            if refused:
                assert got.json()["error"]["code"] == "AuthorizationFailed"
                assert action.lower() in got.json()["error"]["message"].lower(), got.text
            if refused == allowed or got.status_code == 401:
                failures.append(f"{label}: {method} {path.split('?')[0]} ({action}) -> {got.status_code}, expected {'allowed' if allowed else '403'}")
    assert not failures, "\n".join(failures)


def test_an_expired_token_signed_with_the_server_s_own_key_is_refused(server):
    import jwt
    from cryptography.hazmat.primitives.serialization import load_der_private_key
    key_file = next((server.data_dir / "identity" / "keys").iterdir())
    key = load_der_private_key(key_file.read_bytes(), password=None)
    kid = key_file.stem.split("-", 1)[1]
    c = claims(server.token)
    url = f"/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/vaults?api-version={VAULT_API}"
    fresh = jwt.encode(c, key, algorithm="ES256", headers={"kid": kid})
    assert get(server, url, fresh).status_code == 200, "the same claims, re-signed, are good"
    now = int(time.time())
    for changed in ({"exp": now - 120, "nbf": now - 3600, "iat": now - 3600},   # expired (beyond the skew)
                    {"nbf": now + 3600},                                        # not valid yet
                    {"aud": "https://vault.azure.net/"},                        # another audience
                    {"iss": "https://sts.windows.net/" + c["tid"] + "/"}):      # another issuer
        r = get(server, url, jwt.encode(dict(c, **changed), key, algorithm="ES256", headers={"kid": kid}))
        assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken", changed


def test_lists_show_only_what_the_caller_may_read(server):
    for name in ("seen", "hidden"):
        r = call(server, server.token, "PUT", f"/subscriptions/{SUB}/resourceGroups/{name}-rg/providers/Microsoft.RecoveryServices/vaults/{name}?api-version={VAULT_API}",
                 {"location": "westeurope", "sku": {"name": "Standard"}, "properties": {}}, 0, "")
        assert r.status_code in (200, 201), r.text
    bot = sp(server, "narrow", "Backup Reader", f"/subscriptions/{SUB}/resourceGroups/seen-rg")
    token, _ = login(server, bot["appId"], bot["password"])
    r = get(server, f"/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/vaults?api-version={VAULT_API}", token)
    assert r.status_code == 200 and [v["name"] for v in r.json()["value"]] == ["seen"]
    subs = get(server, "/subscriptions?api-version=2022-12-01", token).json()["value"]
    assert [s["subscriptionId"] for s in subs] == [SUB] and subs[0]["state"] == "Enabled"
    r = get(server, f"/subscriptions/{SUB}/resourceGroups/hidden-rg/providers/Microsoft.RecoveryServices/vaults/hidden?api-version={VAULT_API}", token)
    assert r.status_code == 403


AZ_CLIENT = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"  # the az CLI's app id, as az sends it


def user(server, upn, password, role=None, scope=None):
    r = requests.post(server.endpoint + "/rsvault/directory/users?api-version=2022-04-01",
                      json={"userPrincipalName": upn, "displayName": upn.split("@")[0], "password": password},
                      headers={"Authorization": f"Bearer {server.token}"}, verify=server.verify(), timeout=30)
    assert r.status_code == 201, r.text
    u = r.json()
    if role:
        defs = get(server, f"{scope}/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-05-01-preview",
                   params={"$filter": f"roleName eq '{role}'"}).json()["value"]
        r = requests.put(f"{server.endpoint}{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}?api-version=2022-04-01",
                         json={"properties": {"roleDefinitionId": defs[0]["id"], "principalId": u["objectId"], "principalType": "User"}},
                         headers={"Authorization": f"Bearer {server.token}"}, verify=server.verify(), timeout=30)
        assert r.status_code == 201, r.text
    return u


def test_users_log_in_with_a_password_and_refresh_tokens(server):
    u = user(server, "alice@rsvault.local", "correct horse battery", "Backup Reader", f"/subscriptions/{SUB}")
    assert u["userPrincipalName"] == "alice@rsvault.local" and u["password"] == "correct horse battery"
    scope = "https://management.core.windows.net//.default offline_access openid profile"
    r = post_token(server, "organizations", {"grant_type": "password", "client_id": AZ_CLIENT, "scope": scope,
                                             "username": "ALICE@rsvault.local", "password": "correct horse battery"})
    assert r.status_code == 200, r.text
    body = r.json()
    idt = claims(body["id_token"])
    assert idt["tid"] == server.tenant and idt["preferred_username"] == "alice@rsvault.local" and idt["aud"] == AZ_CLIENT
    info = json.loads(base64.urlsafe_b64decode(body["client_info"] + "=="))
    assert info == {"uid": u["objectId"], "utid": server.tenant}
    at = claims(body["access_token"])
    assert at["upn"] == "alice@rsvault.local" and at["idtyp"] == "user" and at["scp"] == "user_impersonation"
    vaults = f"/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/vaults?api-version={VAULT_API}"
    assert get(server, vaults, body["access_token"]).status_code == 200
    assert get(server, vaults, body["refresh_token"]).status_code == 401, "a refresh token is no access token"
    assert get(server, vaults, body["id_token"]).status_code == 401, "nor is an ID token"
    tenants = get(server, "/tenants?api-version=2022-12-01", body["access_token"]).json()["value"]
    assert [t["tenantId"] for t in tenants] == [server.tenant]
    r = post_token(server, server.tenant, {"grant_type": "refresh_token", "client_id": AZ_CLIENT, "scope": scope,
                                           "refresh_token": body["refresh_token"]})
    assert r.status_code == 200 and get(server, vaults, r.json()["access_token"]).status_code == 200
    r = post_token(server, "organizations", {"grant_type": "password", "client_id": AZ_CLIENT, "scope": scope,
                                             "username": "alice@rsvault.local", "password": "wrong horse"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant" and "AADSTS50126" in r.text
    # A new password revokes the old refresh token.
    r = requests.post(f"{server.endpoint}/rsvault/directory/principals/alice@rsvault.local/resetCredential?api-version=2022-04-01",
                      json={"password": "a new long password"}, headers={"Authorization": f"Bearer {server.token}"},
                      verify=server.verify())
    assert r.status_code == 200, r.text
    r = post_token(server, server.tenant, {"grant_type": "refresh_token", "client_id": AZ_CLIENT, "scope": scope,
                                           "refresh_token": body["refresh_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"



def test_device_code_sign_in_on_the_server_s_page(server):
    user(server, "carol@rsvault.local", "carols long password", "Reader", f"/subscriptions/{SUB}")
    r = post_token(server, "organizations", {}, v2=True)  # a bare token POST
    assert r.status_code == 400
    r = requests.post(f"{server.endpoint}/organizations/oauth2/v2.0/devicecode", verify=server.verify(), timeout=30,
                      data={"client_id": AZ_CLIENT, "scope": "https://management.core.windows.net//.default offline_access openid profile"})
    assert r.status_code == 200, r.text
    flow = r.json()
    assert flow["verification_uri"] == f"{server.endpoint}/devicelogin" and flow["user_code"] in flow["message"]
    assert isinstance(flow["interval"], int) and isinstance(flow["expires_in"], int)
    poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": AZ_CLIENT, "device_code": flow["device_code"]}
    r = post_token(server, "organizations", poll)
    assert r.status_code == 400 and r.json()["error"] == "authorization_pending"
    page = requests.get(flow["verification_uri"], verify=server.verify(), headers={"Accept-Language": "ja"})
    assert page.status_code == 200 and 'lang="ja"' in page.text and "unsafe-inline" not in page.headers["Content-Security-Policy"]
    r = requests.post(flow["verification_uri"], verify=server.verify(),
                      data={"code": flow["user_code"], "username": "carol@rsvault.local", "password": "wrong password!"})
    assert r.status_code == 401 and "text/html" in r.headers["Content-Type"]
    r = requests.post(flow["verification_uri"], verify=server.verify(),
                      data={"code": "ZZZZ-ZZZZ", "username": "carol@rsvault.local", "password": "carols long password"})
    assert r.status_code == 400
    r = requests.post(flow["verification_uri"], verify=server.verify(),
                      data={"code": flow["user_code"].lower(), "username": "carol@rsvault.local", "password": "carols long password"})
    assert r.status_code == 200 and "<script" not in r.text
    r = post_token(server, "organizations", poll)
    assert r.status_code == 200, r.text
    assert claims(r.json()["id_token"])["preferred_username"] == "carol@rsvault.local"
    assert post_token(server, "organizations", poll).json()["error"] == "expired_token", "a code is used once"


def az_for(server, config_dir, **extra):
    """(env, run) of `az` with its own config, the server registered as a
    cloud and selected; run(*args) returns stdout and fails on errors."""
    import os
    import subprocess
    from az_cli import az_bin
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "MSI_", "IDENTITY_"))}
    env.update({"AZURE_CONFIG_DIR": str(config_dir), "AZURE_CORE_INSTANCE_DISCOVERY": "false",
                "AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CORE_ONLY_SHOW_ERRORS": "true", "PYTHONWARNINGS": "ignore", **extra})

    def az(*args):
        p = subprocess.run([az_bin(), *args], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300)
        assert p.returncode == 0, f"az {args}: {p.stderr}"
        return p.stdout

    az("cloud", "register", "--name", "rsvault", "--endpoint-resource-manager", server.endpoint + "/")
    az("cloud", "set", "--name", "rsvault")
    return env, az


def test_az_login_with_a_device_code(server, tmp_path):
    from az_cli import az_bin
    if not az_bin():
        pytest.skip("the Azure CLI is not installed")
    import re
    import subprocess
    user(server, "dave@rsvault.local", "daves long password", "Backup Reader", f"/subscriptions/{SUB}")
    env, az = az_for(server, tmp_path)
    login = subprocess.Popen([az_bin(), "login", "--use-device-code", "--tenant", server.tenant], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        seen = ""
        deadline = time.time() + 120
        while "enter the code" not in seen and time.time() < deadline:
            line = login.stderr.readline()
            if not line:
                break
            seen += line
        m = re.search(r"open the page (\S+) and enter the code (\S+)", seen)
        assert m, seen
        r = requests.post(m.group(1), data={"code": m.group(2), "username": "dave@rsvault.local",
                                            "password": "daves long password"}, verify=server.verify(), timeout=30)
        assert r.status_code == 200, r.text
        out, err = login.communicate(timeout=120)
        assert login.returncode == 0, err
    finally:
        if login.poll() is None:
            login.kill()
    account = json.loads(az("account", "show", "-o", "json"))
    assert account["id"] == SUB and account["user"] == {"name": "dave@rsvault.local", "type": "user"}
    assert json.loads(az("backup", "vault", "list", "-o", "json")) == []


def test_az_login_with_the_host_s_managed_identity(server, tmp_path):
    header_file = server.data_dir / "identity" / "managed-identity-header"
    assert header_file.stat().st_mode & 0o777 == 0o600
    secret = header_file.read_text().strip()
    url = f"{server.endpoint}/metadata/identity/oauth2/token"
    q = {"api-version": "2019-08-01", "resource": "https://management.core.windows.net/"}
    assert requests.get(url, params=q, verify=server.verify()).status_code == 401, "the header is required"
    assert requests.get(url, params=q, headers={"X-IDENTITY-HEADER": "x" * 64}, verify=server.verify()).status_code == 401
    r = requests.get(url, params=q, headers={"X-IDENTITY-HEADER": secret}, verify=server.verify())
    assert r.status_code == 200, r.text
    body = r.json()
    assert int(body["expires_on"]) > time.time() + 300 and claims(body["access_token"])["tid"] == server.tenant
    vaults = f"/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/vaults?api-version={VAULT_API}"
    assert get(server, vaults, body["access_token"]).status_code == 403, "no role until an Owner assigns one"
    # The Owner gives the host identity a role, as it would any principal.
    mi = next(p for p in get(server, "/rsvault/directory/principals?api-version=2022-04-01").json()["value"]
              if p["principalType"] == "ManagedIdentity")
    reader = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
    r = requests.put(f"{server.endpoint}/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}?api-version=2022-04-01",
                     json={"properties": {"roleDefinitionId": reader, "principalId": mi["id"]}},
                     headers={"Authorization": f"Bearer {server.token}"}, verify=server.verify())
    assert r.status_code == 201, r.text
    assert get(server, vaults, body["access_token"]).status_code == 200
    from az_cli import az_bin
    if not az_bin():
        return
    _, az = az_for(server, tmp_path, IDENTITY_ENDPOINT=url, IDENTITY_HEADER=secret)
    az("login", "--identity")
    account = json.loads(az("account", "show", "-o", "json"))
    assert account["id"] == SUB and account["user"]["type"] == "servicePrincipal"
    assert json.loads(az("backup", "vault", "list", "-o", "json")) == []
