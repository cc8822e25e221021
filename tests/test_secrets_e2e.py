"""Nothing secret leaves: secrets planted in a service's logs (tests/data/scenarios/secrets.yaml, fake
values in the real formats) reach neither Slack (messages, uploaded files, button results, ephemeral
answers) nor the terminal report nor `--json`; the harmless ids beside them stay readable."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.console import Console

from bot.cli import print_report
from bot.config import load_settings
from bot.k8s import KubernetesGateway
from bot.render.terminal import render_report
from bot.runtime import demo_settings
from bot.sandbox import Sandbox, load_scenario
from playbooks.checklists import ChecklistCatalogue
from playbooks.debug import run_debug
from playbooks.patterns import PatternTable
from playbooks.runtime import Runtime
from tests.fakes.slack import FakeSlack
from tests.test_slackapp import ActionId, actions_body, as_payload_message, settings_for, start_bot, stop_bot
from tests.test_slackapp import thread_messages as thread_of

SCENARIO = Path(__file__).parent / "data" / "scenarios" / "secrets.yaml"
SECRETS = [
    "sk_live_51H8xYzAbCdEfGhIjKlMnOpQrStUvWx", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh2iJk",
    "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "Zx9%2Bq8YtUv3Wx1Yz2Ab4Cd5Ef6Gh7Ij8Kl9Mn0Op1Qr",
    "S3cr3tPassw0rd!x", "XmlPassw0rd#2024", "yamlSecretValue9876",
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
    "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "PgPassw0rdXyz", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
]
HARMLESS = ["3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345", "7f3a9c2e-1b2c-4d5e-8f90-123456789abc",
            "ledger-api-7c9d8e6f5-zx8kq"]


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text or s.replace("/", "\\/") in text]


@pytest.fixture
async def secrets_rt() -> AsyncIterator[Runtime]:
    scenario = load_scenario(str(SCENARIO))
    async with Sandbox(scenario) as sandbox:
        settings = demo_settings(load_settings(), scenario)
        rt = Runtime(settings, patterns=PatternTable.default(), checklists=ChecklistCatalogue.default(), github=None,
                     kubernetes={None: KubernetesGateway.for_url(sandbox.url)})
        try:
            yield rt
        finally:
            await rt.close()


async def test_planted_secrets_reach_no_terminal_and_no_json(secrets_rt: Runtime, capsys: pytest.CaptureFixture[str],
                                                             tmp_path: Path) -> None:
    report = await run_debug(secrets_rt, "ledger-api")
    assert report.findings, "the errors around the secrets were read (the test is about something)"
    out = tmp_path / "terminal.txt"
    with out.open("w") as handle:
        render_report(report, Console(file=handle, width=200))
    assert leaks(out.read_text()) == []
    with pytest.raises(SystemExit) if report.errors else _nothing():
        print_report(report, as_json=True)
    printed = capsys.readouterr().out
    assert leaks(printed) == []
    assert json.loads(printed)["service"] == "ledger-api"
    assert any(h in printed for h in HARMLESS), "ids that are not secrets stay readable"


async def test_planted_secrets_reach_nothing_in_slack(fake: FakeSlack, tmp_path: Path, secrets_rt: Runtime) -> None:
    settings = settings_for(fake, tmp_path / "opsbot.db")
    secrets_rt.settings = settings.model_copy(update={"services": secrets_rt.settings.services,
                                                      "kubernetes": secrets_rt.settings.kubernetes})
    bot = await start_bot(fake, settings, secrets_rt)
    try:
        assert (await bot.command("/debug", "ledger-api")).status == 200
        await bot.service.drain()
        (root,) = bot.roots()
        # press every next-step button: container logs, previous logs, events
        for message in thread_of(bot, root["ts"]):
            if ActionId.NEXT_STEP not in json.dumps(message.get("blocks")):
                continue
            shown = as_payload_message(message)
            for block in shown["blocks"]:
                for element in block.get("elements") or []:
                    if block["type"] == "actions" and element.get("type") == "button":
                        action = {**element, "block_id": block["block_id"], "action_ts": "1700001000.000300"}
                        assert (await bot.action(actions_body(shown, action, user="U0BOB"))).status == 200
        await bot.service.drain()
    finally:
        await stop_bot(bot)
    sent = json.dumps([c.args for c in fake.calls], default=str)
    files = "\n".join(f.content.decode(errors="replace") if isinstance(f.content, bytes) else str(f.content)
                      for f in fake.files.values())
    assert files, "logs went up as files: they are checked too"
    assert leaks(sent) == [] and leaks(files) == []
    assert any(h in sent + files for h in HARMLESS)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
