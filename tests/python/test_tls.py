"""HTTPS by default: a server with no certificate given makes a self-signed
ECDSA P-256 one at `<data-dir>/tls/server.crt` on first start (key 0600),
prints its path and SHA-256 fingerprint, keeps it across restarts, and
answers plain HTTP with a 400 that says to use https. Clients verify it
with that file alone: requests and the Azure SDK (REQUESTS_CA_BUNDLE /
connection_verify) and the rsvault CLI (its --data-dir)."""
import hashlib
import os
import re
import socket
import ssl
import subprocess
import tempfile
from pathlib import Path

import requests

from conftest import SUB, HttpBearerPolicy, Server, TokenCredential, rsvault_bin


def fingerprint(server):
    der = ssl.PEM_cert_to_DER_cert((server.data_dir / "tls" / "server.crt").read_text())
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def test_a_server_makes_its_certificate_once_and_clients_verify_it():
    with tempfile.TemporaryDirectory() as d:
        s = Server(d, tls="own")
        try:
            out = s.output()
            cert = Path(d) / "tls" / "server.crt"
            assert oct((Path(d) / "tls" / "server.key").stat().st_mode & 0o777) == "0o600"
            first = fingerprint(s)
            assert f"TLS certificate: {cert} (made now; SHA-256 {first})" in out, out
            assert "BEGIN" not in out, "no key material in the log"

            # requests and the SDK trust it with the file alone; the test CA
            # of the session does not vouch for it.
            h = {"Authorization": f"Bearer {s.token}"}
            vaults = f"{s.endpoint}/subscriptions/{SUB}/providers/Microsoft.RecoveryServices/vaults?api-version=2026-07-01"
            assert requests.get(vaults, headers=h, verify=str(cert)).status_code == 200
            try:
                requests.get(vaults, headers=h)
                raise AssertionError("a certificate no CA vouches for was accepted")
            except requests.exceptions.SSLError:
                pass
            from azure.mgmt.recoveryservices import RecoveryServicesClient
            cred = TokenCredential(s.token)
            rs = RecoveryServicesClient(cred, SUB, base_url=s.endpoint, connection_verify=str(cert),
                                        authentication_policy=HttpBearerPolicy(cred, "https://management.azure.com/.default"))
            assert list(rs.vaults.list_by_subscription_id()) == []

            # The CLI on the vault host trusts the data dir's certificate.
            env = {k: v for k, v in os.environ.items() if k not in ("RSVAULT_CA_FILE", "RSVAULT_TOKEN")}
            r = subprocess.run([rsvault_bin(), "backup", "vault", "list", "--endpoint", s.endpoint, "--data-dir", d,
                                "--subscription", SUB], capture_output=True, text=True, env=env)
            assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
            r = subprocess.run([rsvault_bin(), "backup", "vault", "list", "--endpoint", s.endpoint, "--token", s.token,
                                "--data-dir", str(Path(d) / "elsewhere"), "--subscription", SUB],
                               capture_output=True, text=True, env=env)
            assert r.returncode != 0 and re.search(r"certificate|UnknownIssuer|TLS", r.stderr, re.I), r.stderr

            # Plain HTTP to the HTTPS port: a 400 that says what to do.
            with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = c.recv(4096)
            assert answer.startswith(b"HTTP/1.1 400") and b"speaks HTTPS" in answer, answer
            assert requests.get(f"http://127.0.0.1:{s.port}/healthz").status_code == 400
        finally:
            assert s.stop() == 0
        s = Server(d, tls="own")
        try:
            assert fingerprint(s) == first, "the certificate is kept across restarts"
            assert f"(kept; SHA-256 {first})" in s.output()
        finally:
            assert s.stop() == 0


def test_a_given_certificate_is_served_and_plain_http_needs_the_flag():
    with tempfile.TemporaryDirectory() as d:
        s = Server(d)  # the session's test CA signed this one
        try:
            assert s.endpoint.startswith("https://")
            assert requests.get(s.endpoint + "/healthz").text == "ok"
            assert not (Path(d) / "tls").exists(), "nothing is made when a certificate is given"
        finally:
            assert s.stop() == 0
    with tempfile.TemporaryDirectory() as d:
        s = Server(d, tls="none")
        try:
            assert requests.get(s.endpoint + "/healthz").text == "ok"
            assert "SECURITY: --insecure-http" in s.output()
        finally:
            assert s.stop() == 0
    with tempfile.TemporaryDirectory() as d:
        key = Path(d) / "key.pem"
        key.write_text("not a key")
        r = subprocess.run([rsvault_bin(), "serve", "--data-dir", d, "--listen", "127.0.0.1:0",
                            "--tls-cert", str(key), "--tls-key", str(key)], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "key.pem" in r.stderr, r.stderr
