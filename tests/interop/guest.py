"""The guest image: Debian's generic kernel, a busybox initramfs, and the qemu command line that boots it.

The guest runs the host's own root filesystem (read-only over virtio-9p, a tmpfs overlay on top), so every
program the host has installed (strongSwan, xl2tpd, pppd, iperf3, python3) runs inside a real kernel with
ESP, L2TP and PPP. Downloads and builds live in a cache directory outside the repository
(``$IKEL2TP_INTEROP_CACHE``, default ``/var/cache/ikel2tp-interop``); a prepared cache needs no network.
"""

from __future__ import annotations

import fcntl
import gzip
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "IKEL2TP_INTEROP_CACHE"
DEFAULT_CACHE = Path("/var/cache/ikel2tp-interop")
KERNEL_META_PACKAGE = "linux-image-amd64"
KERNEL_PACKAGE_RE = re.compile(r"^linux-image-(6\.1\.0-\d+-amd64)$")
QEMU = "qemu-system-x86_64"
BUSYBOX = Path("/bin/busybox")
INITRAMFS_MODULES = ("virtio_pci", "virtio_net", "9p", "9pnet_virtio", "netfs", "fscache", "overlay")
IMAGE_FORMAT = 2  # bump when the initramfs layout changes so old caches are rebuilt

Log = Callable[[str], None]


class GuestUnavailable(RuntimeError):
    """The guest cannot be had on this machine (no qemu, no kernel package reachable, no /dev/net/tun)."""


@dataclass(frozen=True)
class GuestImage:
    """A prepared guest: kernel, initramfs and the unpacked modules tree for ``/lib/modules/<version>``."""

    version: str
    vmlinuz: Path
    initrd: Path
    modules_dir: Path


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=600, **kwargs)


def missing_tools() -> list[str]:
    """Host programs the harness needs; an empty list means the guest can boot here."""
    needed = [QEMU, "ip", "nft", "dpkg", "depmod", "swanctl", "xl2tpd", "pppd", "iperf3"]
    missing = [name for name in needed if shutil.which(name) is None]
    if not BUSYBOX.exists():
        missing.append(str(BUSYBOX))
    if not Path("/usr/lib/ipsec/charon").exists():
        missing.append("/usr/lib/ipsec/charon")
    if not Path("/dev/net/tun").exists():
        missing.append("/dev/net/tun")
    return missing


def load_image(cache: Path | None = None) -> GuestImage | None:
    """The image a previous ``prepare`` left in the cache, or None. Never touches the network."""
    cache = cache or cache_dir()
    try:
        meta = json.loads((cache / "image.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("format") != IMAGE_FORMAT:
        return None
    image = GuestImage(
        version=meta["version"],
        vmlinuz=Path(meta["vmlinuz"]),
        initrd=Path(meta["initrd"]),
        modules_dir=Path(meta["modules_dir"]),
    )
    needed = (image.vmlinuz, image.initrd, image.modules_dir / "modules.dep")
    if not all(path.is_file() for path in needed):
        return None
    return image


def kernel_package_name() -> str:
    """The exact ``linux-image-6.1.0-N-amd64`` that Debian's meta package currently depends on."""
    try:
        out = _run(["apt-cache", "depends", KERNEL_META_PACKAGE]).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise GuestUnavailable(f"apt-cache depends {KERNEL_META_PACKAGE} failed: {exc}") from exc
    for line in out.splitlines():
        name = line.split(":", 1)[-1].strip()
        if line.strip().startswith("Depends:") and KERNEL_PACKAGE_RE.match(name):
            return name
    raise GuestUnavailable(f"apt-cache depends {KERNEL_META_PACKAGE} names no linux-image-6.1.0-N-amd64")


def prepare(cache: Path | None = None, *, log: Log = print, force: bool = False) -> GuestImage:
    """Download the kernel package (exact name, never a glob), unpack it, run depmod, build the initramfs."""
    cache = cache or cache_dir()
    if not force and (image := load_image(cache)) is not None:
        return image
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:  # two test runs preparing one cache take turns
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and (image := load_image(cache)) is not None:
            return image
        return _prepare_locked(cache, log)


def _prepare_locked(cache: Path, log: Log) -> GuestImage:
    missing = missing_tools()
    if missing:
        raise GuestUnavailable("missing on this host: " + ", ".join(missing) + " (tools/test installs them)")
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    try:
        package, deb = _download_kernel(debs, log)
    except GuestUnavailable as first:
        log(f"{first}; running apt-get update once and trying again")
        try:
            _run(["apt-get", "update", "-q"])
        except (OSError, subprocess.SubprocessError) as exc:
            raise GuestUnavailable(f"{first}; apt-get update failed too: {exc}") from exc
        package, deb = _download_kernel(debs, log)
    version = KERNEL_PACKAGE_RE.match(package).group(1)
    root = cache / "kernel" / version
    if not (root / "lib" / "modules" / version / "modules.dep").is_file():
        log(f"unpacking {deb.name}")
        tmp = root.with_name(version + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _run(["dpkg", "-x", str(deb), str(tmp)])
        _run(["depmod", "-b", str(tmp), version])
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    modules_dir = root / "lib" / "modules" / version
    initrd = cache / f"initrd-{version}.cpio.gz"
    log(f"building {initrd.name}")
    initrd_tmp = initrd.with_suffix(".partial")
    initrd_tmp.write_bytes(build_initramfs(modules_dir))
    initrd_tmp.rename(initrd)
    image = GuestImage(version, root / "boot" / f"vmlinuz-{version}", initrd, modules_dir)
    meta = {"format": IMAGE_FORMAT, "version": version, "package": package, "vmlinuz": str(image.vmlinuz),
            "initrd": str(initrd), "modules_dir": str(modules_dir)}
    (cache / "image.json").write_text(json.dumps(meta, indent=2) + "\n")
    return image


def _download_kernel(debs: Path, log: Log) -> tuple[str, Path]:
    """The current kernel package's .deb in ``debs``: already there, or fetched by its exact name."""
    package = kernel_package_name()
    deb = next((p for p in sorted(debs.iterdir()) if p.name.startswith(package + "_")), None)
    if deb is None:
        log(f"downloading {package}")
        try:
            _run(["apt-get", "download", package], cwd=debs)
        except subprocess.CalledProcessError as exc:
            raise GuestUnavailable(f"apt-get download {package} failed: {exc.stderr.strip()}") from exc
        deb = next(p for p in sorted(debs.iterdir()) if p.name.startswith(package + "_"))
    return package, deb


def parse_modules_dep(text: str) -> dict[str, list[str]]:
    """``modules.dep``: ``path: dep-path ...`` keyed here by module name (``-`` spelled ``_``)."""
    deps: dict[str, list[str]] = {}
    paths: dict[str, str] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        path, rest = line.split(":", 1)
        paths[module_name(path)] = path
        deps[path] = rest.split()
    return {name: [path, *deps[path]] for name, path in paths.items()}


def module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    base = re.sub(r"\.ko(\.xz|\.zst|\.gz)?$", "", base)
    return base.replace("-", "_")


def load_order(dep: dict[str, list[str]], wanted: Iterable[str]) -> list[str]:
    """Module paths to insmod, each after everything it depends on (depth-first over modules.dep)."""
    by_path = {entry[0]: entry[1:] for entry in dep.values()}
    order: list[str] = []

    def visit(path: str, trail: tuple[str, ...]) -> None:
        if path in order:
            return
        if path in trail:
            raise ValueError(f"dependency cycle through {path}")
        for needed in by_path.get(path, []):
            visit(needed, (*trail, path))
        order.append(path)

    for name in wanted:
        key = name.replace("-", "_")
        if key not in dep:
            raise GuestUnavailable(f"module {name} is not in modules.dep")
        visit(dep[key][0], ())
    return order


INIT_SCRIPT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.list); do insmod /modules/$m || echo "initramfs: insmod $m failed"; done
kver=$(uname -r)
mkdir -p /lower /rw /newroot
opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o $opts,ro,cache=loose hostroot /lower || { echo "initramfs: no hostroot"; reboot -f; }
mount -t tmpfs -o size=256m,mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot \
  || { echo "initramfs: overlay failed"; reboot -f; }
mkdir -p /newroot/interop /newroot/lib/modules/$kver
mount -t 9p -o $opts results /newroot/interop || { echo "initramfs: no results share"; reboot -f; }
mount -t 9p -o $opts,ro modules /newroot/lib/modules/$kver || echo "initramfs: no modules share"
# /tmp stays the host's (writable through the overlay): a checkout or venv under it must be visible
mount -t tmpfs -o mode=1777 tmpfs /newroot/run
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
[ -x /newroot/interop/init.sh ] || { echo "initramfs: /interop/init.sh missing"; reboot -f; }
exec switch_root /newroot /interop/init.sh
"""


def build_initramfs(modules_dir: Path) -> bytes:
    """A gzip'd newc cpio: busybox, /init, and the modules that mount the 9p root and the overlay."""
    dep = parse_modules_dep((modules_dir / "modules.dep").read_text())
    order = load_order(dep, INITRAMFS_MODULES)
    cpio = CpioWriter()
    for d in ("bin", "dev", "proc", "sys", "modules", "lower", "rw", "newroot"):
        cpio.add_dir(d)
    cpio.add_file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
    cpio.add_file("init", INIT_SCRIPT.encode(), 0o755)
    names = []
    for path in order:
        name = path.rsplit("/", 1)[-1]
        names.append(name)
        cpio.add_file(f"modules/{name}", (modules_dir / path).read_bytes(), 0o644)
    cpio.add_file("modules.list", ("\n".join(names) + "\n").encode(), 0o644)
    return gzip.compress(cpio.finish(), compresslevel=6, mtime=0)


class CpioWriter:
    """The ``newc`` cpio format the kernel unpacks as an initramfs (kernel: early-userspace docs)."""

    def __init__(self) -> None:
        self._out = io.BytesIO()
        self._ino = 1

    def _entry(self, name: str, mode: int, data: bytes) -> None:
        encoded = name.encode() + b"\0"
        fields = (self._ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self._ino += 1
        self._out.write(header + encoded)
        self._pad()
        self._out.write(data)
        self._pad()

    def _pad(self) -> None:
        self._out.write(b"\0" * (-self._out.tell() % 4))

    def add_dir(self, name: str) -> None:
        self._entry(name, 0o040755, b"")

    def add_file(self, name: str, data: bytes, perm: int) -> None:
        self._entry(name, 0o100000 | perm, data)

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0, b"")
        return self._out.getvalue()


@dataclass(frozen=True)
class Nic:
    """One virtio NIC: the TAP device (already created in the namespace qemu runs in) and its MAC."""

    tap: str
    mac: str


def qemu_argv(image: GuestImage, share: Path, nics: list[Nic], *, memory_mb: int = 768,
              console: Path | None = None) -> list[str]:
    """qemu under TCG (KVM does not work on these machines), host ``/`` read-only, ``share`` writable."""
    argv = [
        QEMU, "-accel", "tcg", "-cpu", "max", "-m", str(memory_mb), "-smp", "1",
        "-nographic", "-nodefaults", "-no-user-config", "-no-reboot", "-monitor", "none",
        "-serial", f"file:{console or share / 'console.log'}",
        "-kernel", str(image.vmlinuz), "-initrd", str(image.initrd),
        "-append", "console=ttyS0 panic=-1 loglevel=4 rdinit=/init",
        "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        "-virtfs", f"local,path={share},mount_tag=results,security_model=none,multidevs=remap",
        "-virtfs", f"local,path={image.modules_dir},mount_tag=modules,security_model=none,readonly=on",
    ]
    for i, nic in enumerate(nics):
        argv += ["-netdev", f"tap,id=n{i},ifname={nic.tap},script=no,downscript=no",
                 "-device", f"virtio-net-pci,netdev=n{i},mac={nic.mac}"]
    return argv
