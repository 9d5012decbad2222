"""The image runs every `routetax` command: the files deploy/Dockerfile copies, laid out alone, serve the commands
the README and docs/deploy.md list — nothing of the repository beside them on the path.

No container runtime is needed: the Dockerfile's build stage copies source folders and installs them, so the
test copies the same folders into an empty directory and runs `routetax` with only that directory and the
project's dependencies on `sys.path` (`python -S`: the venv's editable install of this repository is not
loaded, so a package the image leaves out cannot be found anyway). Once the image left out `emulator/` and
`demo/`, and `routetax demo` and `routetax mock-upstream` crashed there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from cli.main import COMMANDS
from router.servers import bind_socket
from tests.redis_server import RedisServer
from tests.running import Processes

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def copied_sources() -> list[str]:
    """What the Dockerfile's build stage copies from the build context (the repository root)."""
    sources = []
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            sources.extend(line.split()[1:-1])
    return sources


def test_the_image_copies_every_package_of_the_distribution() -> None:
    """`pip install .` in the image installs what pyproject's packages.find finds among the copied files."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    included = {pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert included <= set(copied_sources()), f"deploy/Dockerfile leaves out {sorted(included - set(copied_sources()))}"


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """The image's application files, and nothing else, in a directory of their own."""
    app = tmp_path / "app"
    app.mkdir()
    for source in copied_sources():
        origin = ROOT / source
        if origin.is_dir():
            shutil.copytree(origin, app / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(origin, app / source)
    return app


def routetax(processes: Processes, image: Path, *args: str, env: dict[str, str] | None = None, **run: object):
    """`routetax ARGS` as the image runs it: its files, the dependencies, no site hooks (no editable install)."""
    command = [sys.executable, "-S", "-c", "import sys; from cli import main; sys.exit(main(sys.argv[1:]))", *args]
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(image.parent),
        "PYTHONPATH": f"{image}{os.pathsep}{sysconfig.get_paths()['purelib']}",
        **(env or {}),
    }
    return processes.run(command, cwd=image.parent, env=environ, capture_output=True, text=True, **run)


def test_every_command_runs_from_the_image_alone(image: Path, processes: Processes, tmp_path: Path) -> None:
    where = routetax(processes, image, "price", "--model", "nano", "--prompt", "10", "--completion", "1", timeout=60)
    assert where.returncode == 0, where.stderr
    for command in COMMANDS:  # every subcommand loads, and says what it does
        name = command.__name__.rsplit(".", 1)[-1].replace("_", "-")
        helped = routetax(processes, image, name, "--help", timeout=60)
        assert helped.returncode == 0 and "usage: routetax" in helped.stdout, f"{name}: {helped.stderr[-2000:]}"

    demo = routetax(processes, image, "demo", "--tasks", "3", "--json", timeout=180)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert json.loads(demo.stdout)["measured"]["requests"] >= 3

    model = routetax(processes, image, "model", "--json", timeout=60)
    assert model.returncode == 0 and json.loads(model.stdout), model.stderr[-2000:]


def test_mock_upstream_serves_from_the_image(image: Path, processes: Processes) -> None:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    command = [sys.executable, "-S", "-c", "import sys; from cli import main; sys.exit(main(sys.argv[1:]))"]
    env = {"PYTHONPATH": f"{image}{os.pathsep}{sysconfig.get_paths()['purelib']}", "PATH": os.environ["PATH"]}
    upstream = processes.start(
        [*command, "mock-upstream", "--port", str(port)],
        cwd=image.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 20
    while True:
        assert upstream.poll() is None, upstream.stdout.read()[-3000:]  # type: ignore[union-attr]
        try:
            models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "mock-upstream did not answer in 20 s"
            time.sleep(0.1)
    assert models.status_code == 200 and models.json()["data"]


def test_the_compose_commands_run_from_the_image(
    image: Path, processes: Processes, redis_server: RedisServer, tmp_path: Path
) -> None:
    """docs/deploy.md's `routetax keys create`, then `ledger export` and `report`, with the compose configuration."""
    env = {
        "ROUTETAX_CONFIG": str(ROOT / "deploy" / "routetax.yaml"),
        "ROUTETAX_STORE__REDIS_URL": redis_server.url,
        "ROUTETAX_STORE__SPOOL_DIR": str(tmp_path / "spool"),
        "OPENAI_API_KEY": "sk-image-test",
        "ROUTETAX_ADMIN_KEY": "admin-image-test",
    }
    created = routetax(
        processes, image, "keys", "create", "--name", "my-app", "--budget-usd", "50", "--period", "month", "--json",
        env=env, timeout=60,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr[-2000:]
    assert json.loads(created.stdout)["key"]
    exported = routetax(processes, image, "ledger", "export", "--redis-url", redis_server.url, env=env, timeout=60)
    assert exported.returncode == 0, exported.stderr[-2000:]
    report = routetax(processes, image, "report", "--json", env=env, timeout=60)
    assert report.returncode == 0 and json.loads(report.stdout), report.stderr[-2000:]
