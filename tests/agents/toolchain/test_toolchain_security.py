"""security: Bandit and detect-secrets really run; secrets are reported, never repeated."""

from __future__ import annotations

from pathlib import Path

import pytest
from toolchain_support import all_bytes_under, run, snapshot, write_tree

from claude_pm.agents.toolchain import EXIT_TOOL_MISSING
from claude_pm.agents.toolchain.security import redact

# Obviously fake values in the shapes the detectors look for.
FAKE_KEY_ID = "AKIA" + "EXAMPLEFAKEKEY99"
FAKE_PASSWORD = "hunter2-" + "not-a-real-password"
FAKE_PRIVATE_KEY = "\n".join(
    [
        "-----BEGIN RSA " + "PRIVATE KEY-----",
        "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu",
        "-----END RSA " + "PRIVATE KEY-----",
    ]
)


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(
        tmp_path_factory.mktemp("leaky"),
        {
            "app/config.py": f'''
                """Configuration."""

                import subprocess

                ACCESS_KEY_ID = "{FAKE_KEY_ID}"
                DB_PASSWORD = "{FAKE_PASSWORD}"


                def deploy(target):
                    """Deploy."""
                    return subprocess.call("deploy " + target, shell=True)
            ''',
            "deploy/id_rsa.txt": FAKE_PRIVATE_KEY + "\n",
            "README.md": "# leaky\n",
        },
    )


def _never_anywhere(outcome, *secrets: str) -> None:
    files = all_bytes_under(outcome.run_dir)
    for secret in secrets:
        assert secret not in outcome.report
        assert secret not in outcome.stderr
        assert secret.encode() not in files


def test_secrets_are_security_findings_and_never_repeated(leaky: Path, tmp_path: Path):
    before = snapshot(leaky)
    outcome = run("security", leaky, tmp_path / "run", options={"severity": "low"})
    assert outcome.code == 0, outcome.stderr
    by_place = {(f.path, f.line): f for f in outcome.findings}
    key = by_place[("app/config.py", 5)]
    assert (key.marker, key.priority) == ("SECURITY", "high")
    assert "AWS Access Key" in key.message
    private = by_place[("deploy/id_rsa.txt", 1)]
    assert "Private Key" in private.message
    assert private.priority == "high"
    password = by_place[("app/config.py", 6)]
    assert password.message == "B105 possible hard-coded password (value redacted)"
    assert password.priority == "low"
    shell = by_place[("app/config.py", 11)]
    assert shell.message.startswith("B602 ")
    assert shell.priority == "high"
    _never_anywhere(outcome, FAKE_KEY_ID, FAKE_PASSWORD, FAKE_PRIVATE_KEY.splitlines()[1])
    assert snapshot(leaky) == before


def test_default_severity_is_medium_and_up(leaky: Path, tmp_path: Path):
    outcome = run("security", leaky, tmp_path / "run", options={"secrets": False})
    assert {(f.path, f.line, f.priority) for f in outcome.findings} == {
        ("app/config.py", 11, "high")
    }
    assert "- skipped: detect-secrets: turned off by the secrets option" in outcome.report


def test_file_paths_restrict_the_scan(leaky: Path, tmp_path: Path):
    outcome = run("security", leaky, tmp_path / "run", context={"file_paths": ["deploy"]})
    assert outcome.located() == {("SECURITY", "deploy/id_rsa.txt", 1)}


def test_more_files_than_the_limit_are_reported_as_skipped(tmp_path: Path):
    project = write_tree(
        tmp_path / "p", {f"pkg/m{i:02}.py": f'"""Module {i}."""\n' for i in range(12)}
    )
    outcome = run("security", project, tmp_path / "run", options={"max_files": 5})
    assert outcome.code == 0
    assert "7 more matching file(s) not read: the limit is 5 (option max_files)" in outcome.report
    assert "on 5 Python file(s)" in outcome.report


def test_files_over_the_size_limit_are_skipped(tmp_path: Path):
    project = write_tree(tmp_path / "p", {"big.py": "x = 1\n" * 400, "small.py": '"""Small."""\n'})
    outcome = run("security", project, tmp_path / "run", options={"max_file_bytes": 1000})
    assert "1 file(s) over 1000 bytes not read (option max_file_bytes): big.py" in outcome.report


def test_missing_bandit_is_an_error(leaky: Path, tmp_path: Path, bare_python: str):
    outcome = run("security", leaky, tmp_path / "run", python=bare_python)
    assert outcome.code == EXIT_TOOL_MISSING
    assert "bandit is not installed" in outcome.stderr


def test_redact_replaces_every_quoted_text():
    assert redact("Possible hardcoded password: 'abc'") == (
        "Possible hardcoded password: '<redacted>'"
    )
    assert redact("key \"x y\" and 'z'") == "key '<redacted>' and '<redacted>'"
