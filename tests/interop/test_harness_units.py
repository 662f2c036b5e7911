"""Fast checks of the harness's own pieces (no guest, no namespaces): initramfs, module order, configs."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from . import guest, harness
from .profiles import PROFILES, CertAuth, ReferenceServer, client_files

MODULES_DEP = """kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko \
kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko
kernel/fs/netfs/netfs.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet.ko:
kernel/drivers/virtio/virtio.ko:
kernel/drivers/net/ppp/ppp-generic.ko:
"""


def read_newc(data: bytes) -> dict[str, tuple[int, bytes]]:
    """Parse a newc cpio archive (independently of CpioWriter) into name -> (mode, data)."""
    entries, pos = {}, 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        fields = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[pos + 110: pos + 110 + namesize - 1].decode()
        pos = (pos + 110 + namesize + 3) & ~3
        body = data[pos: pos + size]
        pos = (pos + size + 3) & ~3
        if name == "TRAILER!!!":
            return entries
        entries[name] = (mode, body)


def test_cpio_writer_round_trips_files_and_directories():
    cpio = guest.CpioWriter()
    cpio.add_dir("bin")
    cpio.add_file("bin/tool", b"\x7fELF" + bytes(range(7)), 0o755)
    cpio.add_file("init", b"#!/bin/sh\n", 0o755)
    entries = read_newc(cpio.finish())
    assert entries == {"bin": (0o040755, b""), "bin/tool": (0o100755, b"\x7fELF" + bytes(range(7))),
                       "init": (0o100755, b"#!/bin/sh\n")}


def test_busybox_cpio_lists_what_we_wrote(tmp_path):
    if not guest.BUSYBOX.exists():
        pytest.skip("busybox-static is not installed")
    cpio = guest.CpioWriter()
    cpio.add_dir("d")
    cpio.add_file("d/f", b"x" * 5, 0o644)
    archive = tmp_path / "a.cpio"
    archive.write_bytes(cpio.finish())
    out = subprocess.run([str(guest.BUSYBOX), "cpio", "-t"], input=archive.read_bytes(), capture_output=True,
                         timeout=10).stdout.decode()
    assert out.split() == ["d", "d/f"]


def test_modules_load_after_their_dependencies():
    dep = guest.parse_modules_dep(MODULES_DEP)
    assert "ppp_generic" in dep  # file names with '-' are looked up with '_', as modprobe does
    order = [p.rsplit("/", 1)[-1] for p in guest.load_order(dep, ["9p", "9pnet_virtio", "netfs"])]
    assert order.index("netfs.ko") < order.index("fscache.ko") < order.index("9p.ko")
    assert order.index("9pnet.ko") < order.index("9p.ko")
    assert order.index("virtio.ko") < order.index("9pnet_virtio.ko")
    assert len(order) == len(set(order)) == 6


def test_unknown_module_is_reported():
    with pytest.raises(guest.GuestUnavailable, match="not_there"):
        guest.load_order(guest.parse_modules_dep(MODULES_DEP), ["not_there"])


def test_initramfs_holds_busybox_init_and_modules(tmp_path):
    if not guest.BUSYBOX.exists():
        pytest.skip("busybox-static is not installed")
    mods = tmp_path / "modules"
    for line in MODULES_DEP.splitlines():
        path = mods / line.split(":")[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"ko:" + path.name.encode())
    (mods / "modules.dep").write_text(MODULES_DEP)
    original = guest.INITRAMFS_MODULES
    try:
        guest.INITRAMFS_MODULES = ("9p", "9pnet_virtio")
        entries = read_newc(gzip.decompress(guest.build_initramfs(mods)))
    finally:
        guest.INITRAMFS_MODULES = original
    assert entries["init"][0] == 0o100755 and b"switch_root /newroot /interop/init.sh" in entries["init"][1]
    assert entries["bin/busybox"][1][:4] == b"\x7fELF"
    listed = entries["modules.list"][1].decode().split()
    assert listed[-1] == "9pnet_virtio.ko" and "netfs.ko" in listed
    assert all(entries[f"modules/{m}"][1] == b"ko:" + m.encode() for m in listed)


def test_qemu_command_line_is_tcg_with_readonly_root_and_taps(tmp_path):
    image = guest.GuestImage("6.1.0-9-amd64", tmp_path / "vmlinuz", tmp_path / "initrd", tmp_path / "mods")
    argv = guest.qemu_argv(image, tmp_path, [guest.Nic("tc0", "52:54:00:00:00:01")])
    line = " ".join(argv)
    assert "-accel tcg" in line and "kvm" not in line
    assert "path=/,mount_tag=hostroot,security_model=none,readonly=on" in line
    assert f"path={tmp_path},mount_tag=results" in line
    assert "tap,id=n0,ifname=tc0,script=no,downscript=no" in line


def test_windows_profile_lists_each_combination_as_its_own_proposal():
    files = client_files(PROFILES["windows"], "203.0.113.1", "alice", 'pa"ss', psk="k", cert=None)
    conf = files["/etc/swanctl/swanctl.conf"]["text"]
    assert ("proposals = aes256-sha1-ecp384, aes128-sha1-ecp256, aes256-sha1-modp2048, aes128-sha1-modp2048, "
            "3des-sha1-modp2048, 3des-sha1-modp1024") in conf
    assert "esp_proposals = aes256-sha1, aes128-sha1, 3des-sha1\n" in conf  # no DH group: no PFS
    assert "version = 1" in conf and "mode = transport" in conf
    assert "local_ts = dynamic[udp/1701]" in conf and "remote_ts = dynamic[udp/1701]" in conf
    assert "secret = 0x6b" in conf
    ppp = files["/etc/ppp/options.ikel2tp-client"]["text"].splitlines()
    for option in ("refuse-pap", "refuse-chap", "refuse-mschap", "refuse-eap", "noauth", "usepeerdns",
                   "mtu 1400", "mru 1400", 'password "pa\\"ss"'):
        assert option in ppp
    assert "require-mschap-v2" not in ppp  # a server option: on a client it demands the server authenticate
    assert "lns = 203.0.113.1" in files["/etc/xl2tpd/xl2tpd.conf"]["text"]


def test_certificate_client_loads_cert_key_and_ca(tmp_path):
    for name in ("c.pem", "k.pem", "ca.pem"):
        (tmp_path / name).write_text(f"-----{name}-----\n")
    cert = CertAuth(tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem", peer_id="vpn.example.org")
    files = client_files(PROFILES["modern"], "198.51.100.1", "alice", "pw", psk=None, cert=cert)
    conf = files["/etc/swanctl/swanctl.conf"]["text"]
    assert "auth = pubkey" in conf and "certs = client.pem" in conf and "id = vpn.example.org" in conf
    assert "secrets" not in conf
    assert files["/etc/swanctl/private/client.key"] == {"text": "-----k.pem-----\n", "mode": "0600"}
    with pytest.raises(ValueError):
        client_files(PROFILES["modern"], "198.51.100.1", "a", "p", psk="k", cert=cert)


def test_reference_server_requires_mschapv2_and_accepts_every_profile():
    files = ReferenceServer(psk="k", users={"alice": "pw"}).files("203.0.113.1")
    conf = files["/etc/swanctl/swanctl.conf"]["text"]
    for profile in PROFILES.values():
        for proposal in profile.ike + profile.esp:
            assert proposal in conf
    assert "require-mschap-v2" in files["/etc/ppp/options.ikel2tp-server"]["text"]
    assert files["/etc/ppp/chap-secrets"]["text"] == '"alice" * "pw" *\n'
    assert "l2tp-psk {" in conf and "l2tp-cert" not in conf


def test_client_result_from_agent_status(tmp_path):
    status = {"done": True, "assigned_address": "10.77.1.10", "dns": ["10.77.0.53"], "ping_ok": False,
              "boot_seconds": 8.0, "steps": [
                  {"name": "charon", "ok": True, "started": 1.0, "finished": 2.0},
                  {"name": "ike_sa", "ok": True, "started": 2.0, "finished": 4.5,
                   "detail": {"ike_algorithms": "X", "nat": "NAT-T"}},
                  {"name": "ping", "ok": False, "started": 5.0, "finished": 9.0, "error": "no reply"}]}
    (tmp_path / "status.json").write_text(json.dumps(status))
    (tmp_path / "pppd.log").write_text("")
    run = harness.GuestRun("c", tmp_path, process=None)
    result = harness._client_result(run, harness.ClientSpec("windows"))
    assert (result.ok, result.reached) == (False, "ike_sa")
    assert (result.failed_step, result.error) == ("ping", "no reply")
    assert result.ike == {"ike_algorithms": "X", "nat": "NAT-T"}
    assert result.step("ike_sa").seconds == 2.5
    assert result.to_json()["logs"] == ["pppd.log"]


def test_unfinished_guest_names_the_step_it_was_in(tmp_path):
    status = {"done": False, "steps": [{"name": "l2tp_tunnel", "ok": None, "started": 1.0, "finished": None}]}
    (tmp_path / "status.json").write_text(json.dumps(status))
    result = harness._client_result(harness.GuestRun("c", tmp_path, process=None), harness.ClientSpec())
    assert not result.ok and result.failed_step == "l2tp_tunnel"
    assert "during l2tp_tunnel" in result.error


def test_topology_rejects_unknown_kind():
    with pytest.raises(ValueError, match="direct"):
        harness.Topology(kind="mesh")


def test_agent_source_is_stdlib_only():
    source = Path(harness.AGENT).read_text()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines()
               if line.startswith(("import ", "from ")) and "__future__" not in line}
    assert imports <= {"json", "os", "re", "subprocess", "sys", "time", "pathlib"}


def test_prune_keeps_the_newest_runs_and_nothing_else(tmp_path):
    names = [f"20260101-00000{i}-nat-abcdef" for i in range(5)]
    for name in [*names, "keep-me"]:
        (tmp_path / name).mkdir()
    harness._prune_runs(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names[-2:], "keep-me"])
