"""Check the interpreter and keep .venv in step with setup.cfg and constraints.txt.

Run by `make` with the host interpreter before anything else. Written for any Python 3, so
that an unsupported one gets one clear line instead of a syntax error:

    python3 scripts/bootstrap.py --check          # exit 0 if this interpreter is supported
    python3 scripts/bootstrap.py --extras dev,test
    python3 scripts/bootstrap.py --lock           # rewrite constraints.txt from a fresh venv

.venv is rebuilt, never reused, when its interpreter is missing, broken, unsupported or of
another version than the one running this, or when pip cannot start in it.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv")
VENV_PYTHON = os.path.join(VENV, "bin", "python")
STAMP = os.path.join(VENV, ".n8nops-installed")
CONSTRAINTS = os.path.join(ROOT, "constraints.txt")
#: Supported (major, minor) versions, oldest and newest; setup.cfg's python_requires agrees.
OLDEST = (3, 11)
NEWEST = (3, 13)
SUPPORTED = "3.11 to 3.13"


def _version_text(info):
    return "%d.%d.%d" % (info[0], info[1], info[2])


def check_interpreter():
    """None if this interpreter is supported, else the one line to print."""
    if OLDEST <= tuple(sys.version_info[:2]) <= NEWEST:
        return None
    return (
        "n8n-ops needs Python %s; %s is %s. Install a supported one and run"
        " `make PYTHON=/path/to/python3.12 ...`"
        % (SUPPORTED, sys.executable, _version_text(sys.version_info))
    )


def _venv_version():
    """The venv interpreter's (major, minor), or None when it is missing or cannot run pip."""
    if not os.path.exists(VENV_PYTHON):
        return None
    try:
        out = subprocess.check_output(
            [VENV_PYTHON, "-c", "import sys, pip; print('%d.%d' % sys.version_info[:2])"],
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return tuple(int(part) for part in out.decode().strip().split("."))


def _fingerprint(extras):
    digest = hashlib.sha256()
    for name in ("setup.cfg", "pyproject.toml", "constraints.txt"):
        with open(os.path.join(ROOT, name), "rb") as handle:
            digest.update(handle.read())
    digest.update(extras.encode())
    digest.update(("%d.%d" % sys.version_info[:2]).encode())
    return digest.hexdigest()


def _pip(python, *args):
    subprocess.check_call([python, "-m", "pip", "--quiet", *args], cwd=ROOT)


def ensure_venv(extras):
    """Create or repair .venv and install the checkout with ``extras`` under the constraints."""
    wanted = tuple(sys.version_info[:2])
    found = _venv_version()
    if os.path.exists(VENV) and found != wanted:
        reason = "it is broken" if found is None else "it runs Python %d.%d" % found
        print("n8n-ops: rebuilding .venv (%s; this is Python %d.%d)" % ((reason,) + wanted))
        shutil.rmtree(VENV)
    fingerprint = _fingerprint(extras)
    if os.path.exists(STAMP):
        with open(STAMP) as handle:
            if handle.read().strip() == fingerprint:
                return
    if not os.path.exists(VENV):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        _pip(VENV_PYTHON, "install", "--upgrade", "pip")
    target = ".[%s]" % extras if extras else "."
    _pip(VENV_PYTHON, "install", "-c", CONSTRAINTS, "-e", target)
    with open(STAMP, "w") as handle:
        handle.write(fingerprint + "\n")


def lock():
    """Resolve the newest allowed versions in a scratch venv and pin them all."""
    scratch = tempfile.mkdtemp(prefix="n8nops-lock-")
    try:
        subprocess.check_call([sys.executable, "-m", "venv", scratch])
        python = os.path.join(scratch, "bin", "python")
        _pip(python, "install", "--upgrade", "pip")
        _pip(python, "install", ROOT + "[dev,test]")
        frozen = subprocess.check_output(
            [python, "-m", "pip", "freeze", "--exclude-editable", "--exclude", "n8n-ops"]
        ).decode()
    finally:
        shutil.rmtree(scratch)
    with open(CONSTRAINTS, "w") as handle:
        handle.write(
            "# Exact versions of every dependency, production and development (make lock writes\n"
            "# this file; CI and `make` install with -c constraints.txt, production through\n"
            "# requirements.txt). Resolved on Python %d.%d; installs on %s.\n"
            % (sys.version_info[0], sys.version_info[1], SUPPORTED)
        )
        handle.write(frozen)


def main():
    parser = argparse.ArgumentParser(description="Check Python and keep .venv in step.")
    parser.add_argument("--check", action="store_true", help="only check this interpreter")
    parser.add_argument("--extras", default="dev,test", help="extras of the editable install")
    parser.add_argument("--lock", action="store_true", help="rewrite constraints.txt")
    args = parser.parse_args()
    problem = check_interpreter()
    if problem:
        sys.stderr.write(problem + "\n")
        return 1
    if args.check:
        return 0
    if args.lock:
        lock()
        return 0
    ensure_venv(args.extras)
    return 0


if __name__ == "__main__":
    sys.exit(main())
