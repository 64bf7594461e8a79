"""Issue 9, part 2: the API must not read or write host files outside the
image roots, restored data is private, and operation URLs never come from
the request's Host header."""
import os
import stat
import subprocess
import tempfile
import time

import pytest
import requests
from azure.core.exceptions import HttpResponseError

from conftest import ON_POSTGRES, SUB, Server, free_port, rsvault_bin
from test_lifecycle import setup
from test_protection import RG, VM_RG
from test_restore import trigger


def vm_url(server, name):
    return f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/{name}"


def put_vm(server, name, uri, data=()):
    body = {"location": "westeurope", "properties": {"storageProfile": {
        "osDisk": {"osType": "Linux", "vhd": {"uri": uri}},
        "dataDisks": [{"lun": lun, "vhd": {"uri": u}} for lun, u in data]}}}
    return requests.put(vm_url(server, name), headers={"Authorization": f"Bearer {server.token}"}, json=body)


def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def assert_metadata_private(data_dir):
    """The SQLite metadata database is readable by its owner only; on
    PostgreSQL there is no such file in the data directory at all."""
    path = os.path.join(data_dir, "metadata.db")
    if ON_POSTGRES:
        assert not os.path.exists(path), "the metadata lives in PostgreSQL"
    else:
        assert mode(path) == 0o600


def test_images_outside_the_roots_are_refused(server, tmp_path):
    outside = tempfile.mkdtemp(dir=server.data_dir)  # not an image root
    secret = os.path.join(outside, "secret.raw")
    with open(secret, "wb") as f:
        f.truncate(1 << 20)
    os.symlink(secret, tmp_path / "link.raw")
    overlay = tmp_path / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", secret, str(overlay)], check=True)
    for uri in ["file:///etc/shadow", "file:///etc/passwd", f"file://{secret}", f"file://{tmp_path}/../../../etc/passwd",
                f"file://{tmp_path / 'link.raw'}", f"file://{overlay}", "file:///no/such/file.raw"]:
        r = put_vm(server, "vm-evil", uri)
        assert r.status_code == 400, (uri, r.status_code, r.text)
        err = r.json()["error"]
        assert err["code"] == "ImagePathNotAllowed", (uri, err)
        assert err["message"].startswith("properties.storageProfile.osDisk.vhd.uri: "), err
        assert "image_roots" in err["message"]
    # A managed disk is confined the same way.
    r = requests.put(f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/disks/d1",
                     headers={"Authorization": f"Bearer {server.token}"},
                     json={"location": "westeurope", "properties": {"creationData": {"sourceUri": "file:///etc/shadow"}}})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "ImagePathNotAllowed")
    # An image under the roots is fine.
    ok = tmp_path / "ok.raw"
    ok.write_bytes(b"\0" * (1 << 20))
    assert put_vm(server, "vm-ok", f"file://{ok}").status_code == 201


def test_default_image_root_is_the_data_dirs_images(tmp_path):
    with tempfile.TemporaryDirectory() as d:
        s = Server(d, config="[inventory]\n")  # no image_roots: the default applies
        try:
            img = os.path.join(d, "images", "os.raw")
            assert mode(os.path.join(d, "images")) == 0o700
            with open(img, "wb") as f:
                f.truncate(1 << 20)
            assert put_vm(s, "vm-a", f"file://{img}").status_code == 201
            other = tmp_path / "os.raw"
            other.write_bytes(b"\0" * (1 << 20))
            assert put_vm(s, "vm-b", f"file://{other}").json()["error"]["code"] == "ImagePathNotAllowed"
            assert_metadata_private(d)
        finally:
            assert s.stop() == 0


def test_protected_disks_cannot_be_repointed_nor_overwritten_elsewhere(server, rs, bk, tmp_path):
    c, i, _ = setup(server, rs, bk, tmp_path, "v-sec", "vm-sec")
    victim = tmp_path / "victim.raw"
    victim.write_bytes(b"precious" * 8192)
    before = victim.read_bytes()
    img = tmp_path / "vm-sec.qcow2"
    # Re-pointing the protected OS disk is refused; adding a disk at a new LUN is not.
    r = put_vm(server, "vm-sec", f"file://{victim}")
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "PropertyChangeNotAllowed"
    assert put_vm(server, "vm-sec", f"file://{img}", data=[(0, f"file://{victim}")]).status_code == 200
    # Going around it (drop the data disk, then re-point the OS disk) does not let an in-place restore write it.
    assert put_vm(server, "vm-sec", f"file://{img}").status_code == 200
    rp = list(bk.recovery_points.list("v-sec", RG, "Azure", c, i))[0].name
    h = {"Authorization": f"Bearer {server.token}"}
    assert put_vm(server, "vm-sec", f"file://{victim}").status_code == 409
    # A VM deleted and registered again on another file: an in-place restore refuses that file.
    assert requests.delete(vm_url(server, "vm-sec"), headers=h).status_code in (200, 204)
    assert put_vm(server, "vm-sec", f"file://{victim}").status_code == 201
    assert requests.post(f"{vm_url(server, 'vm-sec')}/powerOff", headers=h).status_code == 200
    with pytest.raises(HttpResponseError) as e:
        trigger(bk, "v-sec", c, i, rp, recovery_type="OriginalLocation")
    assert e.value.error.code == "UserErrorOriginalDiskChanged", e.value.error
    assert "not" in e.value.error.message and str(img) in e.value.error.message
    assert victim.read_bytes() == before, "the other file is untouched"
    # Back on its own image, the in-place restore works.
    assert requests.delete(vm_url(server, "vm-sec"), headers=h).status_code in (200, 204)
    assert put_vm(server, "vm-sec", f"file://{img}").status_code == 201
    assert requests.post(f"{vm_url(server, 'vm-sec')}/powerOff", headers=h).status_code == 200
    job = trigger(bk, "v-sec", c, i, rp, recovery_type="OriginalLocation")
    assert job.properties.status == "Completed", job.properties.error_details
    assert mode(img) == 0o600


def test_restored_files_and_folders_are_private(server, rs, bk, tmp_path):
    c, i, _ = setup(server, rs, bk, tmp_path, "v-priv", "vm-priv")
    rp = list(bk.recovery_points.list("v-priv", RG, "Azure", c, i))[0].name
    sa = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/privsa"
    job = trigger(bk, "v-priv", c, i, rp, recovery_type="RestoreDisks", storage_account_id=sa)
    assert job.properties.status == "Completed", job.properties.error_details
    bag = job.properties.extended_info.property_bag
    assert mode(bag["OS disk"]) == 0o600
    assert mode(bag["Config Blob Name"]) == 0o600
    folder = os.path.dirname(bag["OS disk"])
    for d in [folder, os.path.dirname(folder), server.data_dir / "storageAccounts"]:
        assert mode(d) == 0o700, d
    assert_metadata_private(server.data_dir)


def lro_headers(server, host=None, **extra):
    h = {"Authorization": f"Bearer {server.token}", **extra}
    if host:
        h["Host"] = host
    url = f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults/v-url"
    r = requests.put(url, headers=h, json={"location": "westeurope"})
    assert r.status_code in (200, 201), r.text
    r = requests.post(f"{url}/backupFabrics/Azure/refreshContainers", headers=h)
    assert r.status_code == 202, r.text
    return r.headers


def test_operation_urls_ignore_the_host_header(server):
    h = lro_headers(server, host="evil.example:443")
    assert h["Location"].startswith(server.endpoint + "/"), h["Location"]
    h = lro_headers(server, **{"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"})
    assert h["Location"].startswith(server.endpoint + "/"), "no proxy is trusted by default"


def test_next_link_ignores_the_host_header():
    with tempfile.TemporaryDirectory() as d:
        s = Server(d, config="[api]\npage_size = 1\n")
        try:
            h = {"Authorization": f"Bearer {s.token}", "Host": "evil.example"}
            base = f"{s.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.RecoveryServices/vaults"
            for v in ["a1", "a2"]:
                requests.put(f"{base}/{v}", headers=h, json={"location": "westeurope"}).raise_for_status()
            page = requests.get(base, headers=h).json()
            assert page["nextLink"].startswith(s.endpoint + "/"), page["nextLink"]
        finally:
            assert s.stop() == 0


def test_public_url_and_trusted_proxies():
    with tempfile.TemporaryDirectory() as d:
        s = Server(d, config='[server]\npublic_url = "https://vault.example.com/"\n')
        try:
            assert lro_headers(s, host="evil.example")["Location"].startswith("https://vault.example.com/subscriptions/")
        finally:
            assert s.stop() == 0
    with tempfile.TemporaryDirectory() as d:
        s = Server(d, config='[server]\ntrusted_proxies = ["127.0.0.1"]\n')
        try:
            h = lro_headers(s, host="evil.example", **{"X-Forwarded-Host": "proxy.example:8443", "X-Forwarded-Proto": "https"})
            assert h["Location"].startswith("https://proxy.example:8443/subscriptions/"), h["Location"]
            assert lro_headers(s, host="evil.example")["Location"].startswith(s.endpoint + "/")
        finally:
            assert s.stop() == 0


def test_plain_http_is_refused_off_loopback():
    """`--insecure-http` on an address other hosts reach is refused at
    start, unless a TLS-terminating proxy is named by `[server] public_url`."""
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([rsvault_bin(), "serve", "--insecure-http", "--listen", f"0.0.0.0:{free_port()}",
                            "--data-dir", d], capture_output=True, text=True, timeout=60)
        assert r.returncode != 0, r.stdout
        assert "not a loopback address" in r.stderr and "--insecure-http" in r.stderr, r.stderr


@pytest.mark.skipif(not os.environ.get("RSVAULT_TEST_POSTGRES"), reason="needs a PostgreSQL test cluster (RSVAULT_TEST_POSTGRES)")
def test_the_database_password_is_never_shown():
    """`--database` with a password: the server's log names the database
    with `***` for it, and so does the error of one it cannot reach."""
    from urllib.parse import urlsplit, urlunsplit
    import conftest
    with tempfile.TemporaryDirectory() as d:
        u = urlsplit(conftest.database_url(d))
        with_pw = urlunsplit(u._replace(netloc=u.netloc.replace("@", ":s3cret-pw@", 1)))
        s = Server(d, extra=["--database", with_pw])
        try:
            assert requests.get(s.endpoint + "/healthz").status_code == 200
        finally:
            assert s.stop() == 0
        out = s.output()
        assert "s3cret-pw" not in out and ":***@" in out, out
        missing = urlunsplit(u._replace(netloc=u.netloc.replace("@", ":s3cret-pw@", 1), path="/no_such_db"))
        with pytest.raises(RuntimeError) as e:
            Server(tempfile.mkdtemp(dir=d), extra=["--database", missing])
        assert "no_such_db" in str(e.value) and "s3cret-pw" not in str(e.value), e.value
        conftest.drop_database(d)


def test_the_portal_is_served_with_a_strict_content_security_policy(server):
    for path in ("/", "/portal/app.js", "/portal/style.css"):
        r = requests.get(server.endpoint + path, verify=server.verify(), timeout=30)
        assert r.status_code == 200, path
        csp = r.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
        assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
    page = requests.get(server.endpoint + "/", verify=server.verify(), timeout=30).text
    assert "<script>" not in page and " style=" not in page, "no inline script or style on the page"
