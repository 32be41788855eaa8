"""The install paths a newcomer and an operator take: the locks agree, the Docker image gets
only runtime dependencies from a pinned installer, and the documented Docker commands refer
to files that exist from the repository root."""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+) \\$")


def _locked(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """package -> (version, hashes) of a pip-compile lock file."""
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    current = ""
    for line in (REPO / name).read_text(encoding="utf-8").splitlines():
        if m := PIN.match(line):
            current = m[1].lower().replace("_", "-")
            pins[current] = (m[2], frozenset())
        elif (h := line.strip()).startswith("--hash=") and current:
            version, hashes = pins[current]
            pins[current] = (version, hashes | {h.removeprefix("--hash=").rstrip(" \\")})
    return pins


def _project() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]  # type: ignore[no-any-return]


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>~! ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_runtime_lock_has_the_full_locks_pins_and_no_dev_tools() -> None:
    full, runtime = _locked("requirements.lock"), _locked("requirements-runtime.lock")
    assert runtime, "requirements-runtime.lock is empty"
    for package, pin in runtime.items():
        assert full.get(package) == pin, f"{package}: the two locks disagree"
    project = _project()
    dev = {_name(r) for r in project["optional-dependencies"]["dev"]}  # type: ignore[index]
    assert not dev & runtime.keys(), f"dev tools in the runtime lock: {sorted(dev & runtime.keys())}"
    missing = {_name(r) for r in project["dependencies"]} - runtime.keys()  # type: ignore[attr-defined]
    assert not missing, f"runtime dependencies missing from requirements-runtime.lock: {sorted(missing)}"


def test_every_dependency_is_pinned_exactly() -> None:
    project = _project()
    requirements = [*project["dependencies"], *project["optional-dependencies"]["dev"]]  # type: ignore[index,misc]
    loose = [r for r in requirements if "==" not in r]
    assert not loose, f"unpinned in pyproject.toml: {loose}"
    bootstrap = _locked("requirements-bootstrap.lock")
    assert set(bootstrap) == {"pip"} and all(hashes for _, hashes in bootstrap.values())


def _dockerignored(path: str) -> bool:
    patterns = [p.strip().rstrip("/") for p in (REPO / ".dockerignore").read_text().splitlines() if p.strip()]
    return any(fnmatch.fnmatch(path, p) or path.startswith(p + "/") for p in patterns)


def test_dockerfile_installs_a_pinned_pip_then_runtime_deps_only() -> None:
    steps = (REPO / "docker" / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    copies = [shlex.split(line)[1:-1] for line in steps.splitlines() if line.startswith("COPY ")]
    for source in (s for sources in copies for s in sources if not s.startswith("--")):
        assert (REPO / source).exists(), f"COPY {source}: no such file in the build context (the repository root)"
        assert not _dockerignored(source), f"COPY {source}: excluded by .dockerignore"
    installs = re.findall(r"pip install [^&\n]*", steps)
    assert "requirements-bootstrap.lock" in installs[0], "the pinned installer must come first"
    assert any("requirements-runtime.lock" in i for i in installs)
    assert not any(re.search(r"requirements\.lock|\[dev\]|pytest|mypy|ruff", i) for i in installs), installs


@pytest.mark.parametrize("doc", ["README.md", "docker/README.md", "docker/compose.yaml"])
def test_documented_compose_commands_work_from_the_repository_root(doc: str) -> None:
    """`docker compose` finds no compose file at the root: every command names docker/compose.yaml
    and the env file that holds the secrets its variables require."""
    commands = re.findall(r"docker compose [^\n`]*", (REPO / doc).read_text(encoding="utf-8"))
    assert commands, f"{doc} documents no docker compose command"
    for command in commands:
        argv = shlex.split(command)
        assert "-f" in argv, f"{command}: no compose file at the repository root"
        assert argv[argv.index("-f") + 1] == "docker/compose.yaml", command
        env_file = argv[argv.index("--env-file") + 1] if "--env-file" in argv else None
        assert env_file == "docker/.env", f"{command}: without --env-file docker/.env the secrets are unset"
    assert (REPO / "docker" / ".env.example").exists()
