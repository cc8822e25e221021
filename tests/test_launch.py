"""The console script's start and end (bot.__main__) and the trust store loaded ahead (bot.plumbing.tls)."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from bot.__main__ import _exit_status
from bot.plumbing import tls

OPSBOT = str(Path(sys.executable).with_name("opsbot"))


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (3, 3), ("opsbot: boom", 1)])
def test_exit_status_is_what_sys_exit_makes_of_it(
    code: object, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _exit_status(code) == status
    if isinstance(code, str):
        assert capsys.readouterr().err.strip() == code


def test_trust_store_is_loaded_once_in_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls, "_pending", None)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    first = tls.prepare()
    assert tls.prepare() is first
    context = tls.context()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 10  # certifi's bundle


def test_trust_store_honours_ssl_cert_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tls, "_pending", None)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(FileNotFoundError):
        tls.context()  # the error reaches whoever asks for the context, as httpx's own would


def test_piped_output_cut_short_ends_quietly(tmp_path: Path) -> None:
    # `opsbot redact big.log | head -1`: the reader leaves while opsbot still writes (far more than a
    # pipe holds): opsbot ends with status 1 and says nothing, no traceback, no "Exception ignored"
    big = tmp_path / "big.log"
    big.write_text("password=hunter2 in a line\n" * 100_000)
    script = f"{OPSBOT} redact {big} | head -1; echo status=${{PIPESTATUS[0]}} >&2"
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout == "password=[REDACTED:password] in a line\n"
    assert done.stderr.strip() == "status=1"


def test_python_dash_m_bot_runs_the_cli() -> None:
    line = "QueuePool limit of size 5 overflow 10 reached\n"
    done = subprocess.run([sys.executable, "-m", "bot", "patterns", "match"], input=line,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"pattern": "sqlalchemy-pool-exhausted"' in done.stdout
