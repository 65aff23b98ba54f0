"""A remote over SSH with a deploy key: a private sshd of Debian's openssh-server on
loopback (own host key, own authorized_keys, own port; the system's sshd is never touched),
serving real git-upload-pack and git-receive-pack."""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import socket
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from services import git
from services.git import command, ssh_keys
from services.git.transport import Credentials, parse_remote_url
from tests.git.server import git as run_git

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclasses.dataclass
class SshServer:
    port: int
    host_key: str  # "ssh-ed25519 AAAA..."
    deploy_key: str  # the private key sshd accepts
    repos: Path

    @property
    def known_hosts(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key}\n"

    def create_repository(self) -> tuple[Path, str]:
        path = self.repos / f"flows-{uuid.uuid4().hex[:8]}.git"
        run_git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
        return path, f"ssh://{os.environ.get('USER') or 'root'}@127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not Path(SSHD).exists():
        pytest.skip("openssh-server is not installed (apt-get install openssh-server)")
    home = tmp_path_factory.mktemp("sshd")
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "host_key")], check=True
    )
    deploy_key = ssh_keys.generate_private_key()
    (home / "authorized_keys").write_text(ssh_keys.public_key_of(deploy_key) + "\n")
    port = _free_port()
    user = os.environ.get("USER") or "root"
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\n"
        f"PidFile {home / 'sshd.pid'}\nAuthorizedKeysFile {home / 'authorized_keys'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        f"UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nAllowUsers {user}\n"
        "LogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(home / "sshd_config")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.skip(f"the private sshd did not start: {process.stderr.read()!r}")
            time.sleep(0.1)
    repos = home / "repos"
    repos.mkdir()
    host_key = " ".join((home / "host_key.pub").read_text().split()[:2])
    yield SshServer(port, host_key, deploy_key, repos)
    process.terminate()
    process.wait(5)


@pytest.fixture
def ssh_remote(app, sshd):
    path, url = sshd.create_repository()
    target = git.GitTarget(
        uuid.uuid4(),
        None,
        parse_remote_url(url, allow_http=False),
        "main",
        "dev",
        Credentials(ssh_key=sshd.deploy_key, known_hosts=sshd.known_hosts),
    )
    return path, target


def _with(target, **credentials):
    return dataclasses.replace(
        target, credentials=dataclasses.replace(target.credentials, **credentials)
    )


def test_commit_and_read_over_ssh_with_a_deploy_key(ssh_remote):
    path, target = ssh_remote
    result = git.commit_changes(
        target, changes={"dev/a.json": b"over ssh"}, message="ssh", operation="test"
    )
    assert run_git("-C", str(path), "rev-parse", "refs/heads/main").strip() == result.sha
    assert git.read_file(target, "dev/a.json").content == b"over ssh"
    check = git.check(target)
    assert (check.ok, check.status, check.writable) == (True, "ok", True)


def test_an_unknown_host_key_is_refused(ssh_remote):
    _, target = ssh_remote
    with pytest.raises(git.GitRemoteError) as caught:
        git.head(_with(target, known_hosts=None))
    assert caught.value.reason == "host_key_unknown"
    assert git.check(_with(target, known_hosts=None)).status == "host_key_unknown"


def test_a_changed_host_key_is_refused(ssh_remote, sshd):
    _, target = ssh_remote
    impostor = ssh_keys.public_key_of(ssh_keys.generate_private_key()).rsplit(" ", 1)[0]
    with pytest.raises(git.GitRemoteError) as caught:
        git.head(_with(target, known_hosts=f"[127.0.0.1]:{sshd.port} {impostor}\n"))
    assert caught.value.reason == "host_key_mismatch"


def test_a_key_the_server_does_not_know_is_auth_failed(ssh_remote):
    _, target = ssh_remote
    with pytest.raises(git.GitRemoteError) as caught:
        git.head(_with(target, ssh_key=ssh_keys.generate_private_key()))
    assert caught.value.reason == "auth_failed"
    assert "PRIVATE KEY" not in str(caught.value)


def test_the_key_file_is_private_and_gone_afterwards(ssh_remote, monkeypatch):
    _, target = ssh_remote
    seen = []
    real = subprocess.Popen

    def spy(args, **kwargs):
        ssh_command = (kwargs.get("env") or {}).get("GIT_SSH_COMMAND")
        if ssh_command:
            words = shlex.split(ssh_command)
            key_file = Path(words[words.index("-i") + 1])
            seen.append((key_file, stat.S_IMODE(key_file.stat().st_mode), key_file.parent.stat()))
            assert target.credentials.ssh_key.strip() not in " ".join(args)
        return real(args, **kwargs)

    monkeypatch.setattr(command.subprocess, "Popen", spy)
    git.head(target)
    assert seen
    for key_file, mode, folder in seen:
        assert mode == 0o600 and stat.S_IMODE(folder.st_mode) == 0o700
        assert not key_file.exists() and not key_file.parent.exists()
