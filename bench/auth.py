"""What authentication costs: the median latency of one authenticated ARM
GET (a vault list, on one kept-alive connection) through a binary of before
the identity work (a static admin token, plain HTTP) and through this one
(an ES256 JWT verified, its principal and credential looked up, the RBAC
check; over plain HTTP with --insecure-http, and over HTTPS), and the
median of a client-credentials login (an argon2id verify). The servers run
one at a time, in alternating rounds.

usage: python3 bench/auth.py OLD_RSVAULT NEW_RSVAULT [ROUNDS]"""
import json, os, socket, statistics, subprocess, sys, tempfile, time
from pathlib import Path
import requests
old, new = sys.argv[1], sys.argv[2]
SUB = "00000000-0000-0000-0000-000000000001"
def free():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]
def start(binary, data, port, extra):
    p = subprocess.Popen([binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}", *extra],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p
def wait(url, verify):
    for _ in range(200):
        try:
            if requests.get(url + "/healthz", verify=verify, timeout=1).status_code == 200: return
        except (requests.RequestException, OSError): pass
        time.sleep(0.05)
    raise SystemExit(f"no server at {url}")
def timed(s, url, headers, verify, n=300):
    path = f"{url}/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults?api-version=2026-07-01"
    out = []
    for _ in range(n):
        t = time.perf_counter(); r = s.get(path, headers=headers, verify=verify); out.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text
    return statistics.median(out) * 1e3
res = {"old-http": [], "new-http": [], "new-https": [], "login": []}
for rnd in range(int(sys.argv[3]) if len(sys.argv) > 3 else 3):
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as d:
        po = free(); p = start(old, d + "/o", po, [])
        wait(f"http://127.0.0.1:{po}", True)
        tok = Path(d, "o/admin-token").read_text().strip()
        res["old-http"].append(timed(requests.Session(), f"http://127.0.0.1:{po}", {"Authorization": f"Bearer {tok}"}, True))
        p.terminate(); p.wait()
        for mode, extra in (("new-http", ["--insecure-http"]), ("new-https", [])):
            port = free()
            data = f"{d}/{mode}"
            p = start(new, data, port, extra)
            scheme = "http" if extra else "https"
            verify = True if extra else f"{data}/tls/server.crt"
            url = f"{scheme}://127.0.0.1:{port}"
            wait(url, verify)
            owner = json.loads(Path(data, "identity/owner.json").read_text())
            logins = []
            for _ in range(10):
                t = time.perf_counter()
                r = requests.post(f"{url}/{owner['tenant']}/oauth2/v2.0/token", verify=verify, data={
                    "grant_type": "client_credentials", "client_id": owner["appId"], "client_secret": owner["password"],
                    "scope": "https://management.azure.com/.default"})
                logins.append(time.perf_counter() - t)
            res["login"].append(statistics.median(logins) * 1e3)
            tok = r.json()["access_token"]
            res[mode].append(timed(requests.Session(), url, {"Authorization": f"Bearer {tok}"}, verify))
            p.terminate(); p.wait()
for k, v in res.items():
    print(f"{k:10s} median of round medians {statistics.median(v):.3f} ms  rounds {[round(x, 3) for x in v]}")
