"""The VM inventory over the ARM API: Microsoft.Compute virtual machines and
managed disks, classic VMs, with disk images made by qemu-img."""
import subprocess

import requests

from conftest import SUB

RG = "rg-vms"


def api(server):
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {server.token}"
    return s, f"{server.endpoint}/subscriptions/{SUB}/resourceGroups/{RG}/providers"


def image(tmp_path, name, fmt, size="64M"):
    p = tmp_path / name
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(p), size], check=True)
    return f"file://{p}"


def test_vms_with_unmanaged_and_managed_disks(server, tmp_path):
    s, base = api(server)
    os_uri = image(tmp_path, "os.qcow2", "qcow2")
    data_uri = image(tmp_path, "data.vhdx", "vhdx", "32M")
    r = s.put(f"{base}/Microsoft.Compute/disks/data-1?api-version=2024-03-02",
              json={"location": "westeurope", "sku": {"name": "Premium_LRS"},
                    "properties": {"creationData": {"createOption": "Import", "sourceUri": data_uri}}})
    assert r.status_code == 201, r.text
    disk = r.json()
    assert disk["properties"]["diskSizeBytes"] == 32 << 20 and disk["properties"]["imageFormat"] == "vhdx"
    vm = {"location": "westeurope", "properties": {
        "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
        "storageProfile": {"osDisk": {"name": "os", "osType": "Linux", "vhd": {"uri": os_uri}},
                           "dataDisks": [{"lun": 0, "name": "data-1", "managedDisk": {"id": disk["id"]}}]}}}
    r = s.put(f"{base}/Microsoft.Compute/virtualMachines/vm1?api-version=2024-07-01", json=vm)
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["id"] == f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/vm1"
    assert len(v["properties"]["vmId"]) == 36
    assert s.get(f"{base}/Microsoft.Compute/disks/data-1").json()["properties"]["diskState"] == "Attached"

    r = s.get(f"{base}/microsoft.compute/VIRTUALMACHINES/VM1?$expand=instanceView")
    assert r.status_code == 200 and r.json()["name"] == "vm1"
    assert r.json()["properties"]["instanceView"]["statuses"][1]["code"] == "PowerState/running"
    assert s.post(f"{base}/Microsoft.Compute/virtualMachines/vm1/powerOff").status_code == 200
    iv = s.get(f"{base}/Microsoft.Compute/virtualMachines/vm1/instanceView").json()
    assert iv["statuses"][1]["code"] == "PowerState/stopped"
    names = [x["name"] for x in s.get(f"{server.endpoint}/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines").json()["value"]]
    assert names == ["vm1"]

    # A managed disk belongs to one VM; it cannot be deleted while attached.
    r = s.put(f"{base}/Microsoft.Compute/virtualMachines/vm2", json=vm)
    assert r.status_code == 409 and r.json()["error"]["code"] == "OperationNotAllowed"
    r = s.delete(f"{base}/Microsoft.Compute/disks/data-1")
    assert r.status_code == 409
    assert s.delete(f"{base}/Microsoft.Compute/virtualMachines/vm1").status_code == 200
    assert s.delete(f"{base}/Microsoft.Compute/disks/data-1").status_code == 200
    assert s.get(f"{base}/Microsoft.Compute/virtualMachines/vm1").status_code == 404


def test_classic_vms_are_their_own_kind(server, tmp_path):
    s, base = api(server)
    vm = {"location": "japaneast", "properties": {"storageProfile": {
        "osDisk": {"osType": "Windows", "vhd": {"uri": image(tmp_path, "c.vhd", "vpc")}}}}}
    r = s.put(f"{base}/Microsoft.ClassicCompute/virtualMachines/classic1", json=vm)
    assert r.status_code == 201 and r.json()["type"] == "Microsoft.ClassicCompute/virtualMachines"
    assert s.get(f"{base}/Microsoft.Compute/virtualMachines/classic1").status_code == 404


def test_bad_disks_are_refused_naming_the_field(server, tmp_path):
    s, base = api(server)
    bad = tmp_path / "bad.qcow2"
    bad.write_bytes(b"QFI\xfb" + b"\xff" * 200)
    cases = [
        ("http://example/x.vhd", "properties.storageProfile.osDisk.vhd.uri"),
        (f"file://{tmp_path}/missing.raw", "properties.storageProfile.osDisk.vhd.uri"),
        (f"file://{bad}", "properties.storageProfile.osDisk.vhd.uri"),
    ]
    for uri, field in cases:
        r = s.put(f"{base}/Microsoft.Compute/virtualMachines/bad",
                  json={"location": "westeurope", "properties": {"storageProfile": {"osDisk": {"osType": "Linux", "vhd": {"uri": uri}}}}})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "InvalidParameter"
        assert r.json()["error"]["message"].startswith(field), r.json()
