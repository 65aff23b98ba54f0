"""What git, curl, OpenSSH and the big hosts print, and what we tell the user it means."""

from __future__ import annotations

import pytest

from services.git.command import GitCommandError, Scrubber, diagnose

MESSAGES = [
    ("fatal: Authentication failed for 'https://github.com/a/b.git/'", "auth_failed"),
    ("fatal: could not read Username for 'https://x': terminal prompts disabled", "auth_failed"),
    ("remote: HTTP Basic: Access denied\nfatal: Authentication failed", "auth_failed"),
    ("git@github.com: Permission denied (publickey).", "auth_failed"),
    ("remote: Repository not found.\nfatal: repository 'https://x/' not found", "not_found"),
    ("remote: The project you were looking for could not be found", "not_found"),
    ("fatal: '/srv/x.git' does not appear to be a git repository", "not_found"),
    ("fatal: couldn't find remote ref refs/heads/prod", "branch_missing"),
    ("remote: Permission to acme/flows.git denied to bot.", "no_write_access"),
    ("ERROR: The key you are authenticating with has been marked as read only.", "no_write_access"),
    ("remote: You are not allowed to push code to this project.", "no_write_access"),
    ("fatal: unable to access 'https://x/': The requested URL returned error: 403", "auth_failed"),
    ("fatal: unable to access 'https://x/': Could not resolve host: x", "unreachable"),
    (
        "fatal: unable to access 'https://x/': Failed to connect to x port 443: Connection refused",
        "unreachable",
    ),
    ("ssh: connect to host x port 22: Connection timed out", "timeout"),
    ("fatal: unable to access: Operation too slow. Less than 1000 bytes/sec", "timeout"),
    (
        "fatal: unable to access 'https://x/': SSL certificate problem: self-signed certificate",
        "tls_error",
    ),
    (
        "No ED25519 host key is known for x and you have requested strict checking.\n"
        "Host key verification failed.",
        "host_key_unknown",
    ),
    ("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@", "host_key_mismatch"),
    ("fatal: unable to access 'https://x/': The requested URL returned error: 301", "moved"),
    (
        "remote: GitLab: You are not allowed to force push code to a protected branch",
        "push_rejected",
    ),
    ("remote: error: GH006: Protected branch update failed", "push_rejected"),
    ("fatal: something nobody expected", "error"),
]


@pytest.mark.parametrize(("stderr", "reason"), MESSAGES)
def test_diagnosis(stderr, reason):
    assert diagnose(GitCommandError(["fetch"], 128, stderr)).reason == reason


def test_a_403_while_pushing_is_no_write_access():
    stderr = "fatal: unable to access 'https://x/': The requested URL returned error: 403"
    assert diagnose(GitCommandError(["push"], 128, stderr), writing=True).reason == (
        "no_write_access"
    )


def test_a_timeout_is_a_timeout():
    assert diagnose(GitCommandError(["fetch"], -9, "", timed_out=True)).reason == "timeout"


def test_the_message_ends_with_gits_last_words():
    error = diagnose(GitCommandError(["fetch"], 128, "noise\nremote: Repository not found."))
    assert error.message.endswith("(noise / remote: Repository not found.)")
    assert error.details == {"reason": "not_found"} and error.code == "git_not_found"


def test_a_leaked_looking_output_is_scrubbed():
    scrub = Scrubber(["s3cr3t-token"])
    text = (
        "fatal: https://user:s3cr3t-token@host/x.git said s3cr3t-token\n"
        "Authorization: Basic czNjcjN0LXRva2Vu\n"
        "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
        "said s3cr3t-token"
    )
    cleaned = scrub(text)
    assert "s3cr3t" not in cleaned and "czNjcjN0" not in cleaned and "abc" not in cleaned
    assert "https://***@host/x.git" in cleaned


def test_encoded_forms_of_a_secret_are_scrubbed_too():
    cleaned = Scrubber(["p@ss/w:rd"])("in a URL: p%40ss%2Fw%3Ard, in base64: cEBzcy93OnJk")
    assert cleaned == "in a URL: ***, in base64: ***"
