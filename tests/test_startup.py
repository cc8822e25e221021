"""Start-up is part of every one-shot command: `opsbot --help` and `opsbot redact` import neither
the settings (pydantic-settings), nor the models, nor the kubernetes client, nor the pattern
table; each command imports what it needs when it runs. (The time itself is bench/README.md's.)"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pydantic_settings", "bot.config", "bot.models", "kubernetes", "playbooks.patterns", "httpx", "asyncio")


def _imported(code: str, stdin: str = "") -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)), file=sys.stderr)"
    done = subprocess.run([sys.executable, "-c", probe], input=stdin, capture_output=True, text=True, timeout=60,
                          check=False)
    return set(done.stderr.split())


def test_the_cli_module_imports_nothing_heavy() -> None:
    loaded = _imported("import bot.cli")
    assert "bot.cli" in loaded
    assert not [m for m in HEAVY if m in loaded]


def test_redact_runs_without_the_models_or_settings() -> None:
    code = ("from bot.cli import app\ntry:\n    app(['redact'])\nexcept SystemExit:\n    pass")
    loaded = _imported(code, stdin="password=hunter2\n")
    assert "bot.redact" in loaded
    assert not [m for m in ("pydantic_settings", "bot.config", "bot.models", "kubernetes") if m in loaded]


def test_a_command_that_reads_a_cluster_imports_only_the_client_parts_it_uses() -> None:
    loaded = _imported("import bot.k8s")
    assert {"kubernetes.client.api_client", "kubernetes.client.rest", "kubernetes.config.kube_config"} <= loaded
    unused = ("kubernetes.dynamic", "kubernetes.watch", "kubernetes.stream", "kubernetes.leaderelection",
              "kubernetes.informer", "kubernetes.utils.create_from_yaml", "kubernetes.client.api.core_v1_api")
    assert not [m for m in unused if m in loaded]


def test_the_rest_of_the_client_is_still_there_for_whoever_asks() -> None:
    code = ("import bot.k8s, kubernetes, kubernetes.client\n"
            "from kubernetes.client import CoreV1Api, V1Pod\n"
            "import kubernetes.watch\n"
            "assert kubernetes.client.ApiClient is kubernetes.client.api_client.ApiClient\n"
            "assert CoreV1Api.__module__ == 'kubernetes.client.api.core_v1_api'\n"
            "assert kubernetes.client.models.V1PodList.__name__ == 'V1PodList'\n"
            "assert V1Pod(metadata=None).metadata is None\n"
            "assert kubernetes.watch.Watch and kubernetes.utils.parse_quantity('1Ki') == 1024\n")
    loaded = _imported(code)
    assert "kubernetes.client.api.core_v1_api" in loaded and "kubernetes.watch" in loaded


def test_the_client_s_oidc_and_date_libraries_wait_until_used() -> None:
    loaded = _imported("import bot.k8s")
    assert not [m for m in ("requests", "requests_oauthlib", "oauthlib", "dateutil.parser") if m in loaded]


def test_the_waiting_libraries_are_the_real_ones_once_used() -> None:
    # the OIDC refresh builds the real OAuth2Session and its `except` clause names the real error class;
    # api_client's date parsing is dateutil's; whoever imports them afterwards gets the real modules
    code = ("import sys, bot.k8s\n"
            "from kubernetes.config import kube_config\n"
            "from kubernetes.client import api_client\n"
            "session = kube_config.OAuth2Session(client_id='opsbot')\n"
            "import requests_oauthlib, oauthlib.oauth2.rfc6749.errors as errors, dateutil.parser\n"
            "assert type(session) is requests_oauthlib.OAuth2Session\n"
            "assert kube_config.oauthlib.oauth2.rfc6749.errors.InvalidClientIdError is errors.InvalidClientIdError\n"
            "assert api_client.parse('2024-05-01T10:00:00Z').isoformat() == '2024-05-01T10:00:00+00:00'\n"
            "assert type(sys.modules['oauthlib']).__name__ == 'module'\n"
            "assert sys.modules['dateutil'].parser is dateutil.parser and dateutil.parser.parse.__module__ "
            "== 'dateutil.parser._parser'\n")
    loaded = _imported(code)
    assert {"requests_oauthlib", "oauthlib.oauth2", "dateutil.parser"} <= loaded


def test_commands_skip_pydantic_s_plugin_search_unless_asked_for() -> None:
    import os

    def modules(env: dict[str, str]) -> set[str]:
        probe = ("import runpy, sys\nsys.argv = ['opsbot', 'redact']\n"
                 "import atexit\natexit.register(lambda: print(' '.join(sorted(sys.modules)), file=sys.stderr))\n"
                 "import bot.__main__ as m\nimport os\nos._exit = lambda code: sys.exit(code)\nm.main()\n")
        done = subprocess.run([sys.executable, "-c", probe], input="token=abc\n", capture_output=True, text=True,
                              timeout=60, check=False, env=env)
        assert "[REDACTED" in done.stdout
        return set(done.stderr.split())

    base = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    assert "importlib.metadata" not in modules(base)
    # a user who set it (even empty: plugins on) gets pydantic as it is
    assert "importlib.metadata" in modules({**base, "PYDANTIC_DISABLE_PLUGINS": ""})


def test_a_placeholder_is_only_put_where_the_module_was_not_imported_and_leaves_after() -> None:
    code = ("import sys, json\n"
            "from bot.plumbing.later import Later, placeholders\n"
            "with placeholders(Later('json', calls=('dumps',)), Later('colorsys', calls=('rgb_to_hsv',))):\n"
            "    assert sys.modules['json'] is json and type(sys.modules['colorsys']) is Later\n"
            "    from colorsys import rgb_to_hsv\n"
            "assert 'colorsys' not in sys.modules\n"
            "assert rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)\n"
            "assert type(sys.modules['colorsys']).__name__ == 'module'\n")
    assert "colorsys" in _imported(code)



def test_a_placeholder_used_while_still_in_place_is_the_real_module() -> None:
    # a library imported during the block may use the module at once (pydantic's plugin loader, imported
    # by the client's first model, asks importlib.metadata for entry_points): it gets the real one
    code = ("import sys\n"
            "from bot.plumbing.later import Later, placeholders\n"
            "with placeholders(Later('colorsys', calls=('rgb_to_hsv',))):\n"
            "    from colorsys import hls_to_rgb\n"
            "    assert hls_to_rgb(0.0, 0.5, 1.0) == (1.0, 0.0, 0.0)\n"
            "    assert type(sys.modules['colorsys']).__name__ == 'module'\n"
            "assert type(sys.modules['colorsys']).__name__ == 'module'\n")
    assert "colorsys" in _imported(code)


def test_the_cli_reads_a_cluster_without_importlib_metadata() -> None:
    # urllib3's HTTP/2 package imports it (with zipfile, csv, email...) for the h2 version check
    start = "import os\nos.environ.pop('PYDANTIC_DISABLE_PLUGINS', None)\n" \
            "from bot.__main__ import _without_pydantic_plugins\n_without_pydantic_plugins()\n"
    loaded = _imported(start + "import bot.k8s, bot.runtime\n")
    assert "urllib3.http2" in loaded and not {"importlib.metadata", "zipfile", "csv"} & loaded
    code = start + ("import bot.k8s, urllib3, urllib3.http2, sys\n"
                    "assert urllib3.http2.version('urllib3') == urllib3.__version__\n"
                    "assert type(sys.modules['importlib.metadata']).__name__ == 'module'\n")
    assert "importlib.metadata" in _imported(code)

MODEL_MODULES = ("bot.models", "bot.changes", "bot.config", "bot.alertmanager", "playbooks.checklists")


def test_model_modules_keep_clear_of_what_makes_pydantic_slow_to_build() -> None:
    """bot/models.py's docstring: string annotations and builtin default factories cost every run."""
    import __future__

    import importlib
    import inspect
    import types

    from pydantic import BaseModel

    for name in MODEL_MODULES:
        module = importlib.import_module(name)
        assert getattr(module, "annotations", None) is not __future__.annotations, name
        models = [c for c in vars(module).values()
                  if inspect.isclass(c) and issubclass(c, BaseModel) and c.__module__ == name]
        assert models, name
        for model in models:
            for field_name, field in model.model_fields.items():
                factory = field.default_factory
                assert factory is None or isinstance(factory, types.FunctionType), \
                    f"{name}.{model.__name__}.{field_name}: default_factory={factory!r} (use = [] / = {{}} or a lambda)"


def test_httpx_comes_without_its_command_line_tool() -> None:
    # bot/__init__.py: `import httpx` would import click and rich for the `httpx` command
    loaded = _imported("import bot.github, bot.prometheus")
    assert "httpx" in loaded
    assert not {"click", "rich.console", "rich.progress"} & loaded
