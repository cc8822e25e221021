"""The parts of the official `kubernetes` client opsbot uses, imported without the parts it does not.

opsbot calls the API through the client's own `ApiClient`, `Configuration`, REST layer, exceptions and
kubeconfig loading (`kubernetes.config`), and reads the raw JSON (see `bot.k8s.api`). But
`import kubernetes.client` (through `kubernetes/__init__.py`) also imports the dynamic client (which
imports jsonschema when `kubernetes-validate` is installed), watch, stream (websocket), leader election,
informers, `utils.create_from_yaml`, every generated API class and the models package: about 40% of
an `opsbot debug` run's imports, for code a one-shot command never runs.

`load()` registers the packages `kubernetes`, `kubernetes.client`, `kubernetes.client.models`,
`kubernetes.client.api` and `kubernetes.utils` as module objects whose `__init__` has not run yet,
then imports the modules opsbot needs (their own imports of sibling modules work as usual, because a
package's `__path__` is all the import system needs). A package's `__init__` runs, in full and once, the
first time anyone asks it for a name it does not have yet (PEP 562 module `__getattr__`): code that
wants `kubernetes.client.CoreV1Api` or `kubernetes.watch` still gets it, from the same modules. If the
client was imported before (by a test, a plugin), nothing is done.

Libraries the client imports at the top of a module but uses only on paths a run rarely takes:
`requests_oauthlib` and `oauthlib` (with `requests` under them) to refresh an OIDC token in
`kube_config`; `dateutil.parser` for a model's dates and `multiprocessing.pool` for `async_req` calls in
`api_client` (opsbot reads the raw JSON, on its own threads); `importlib.metadata` (with `zipfile`,
`csv`...), which urllib3's HTTP/2 package imports to check the `h2` version when HTTP/2 is turned on.
While the client is imported, each stands for a placeholder (`bot.plumbing.later`) that imports the
real module the first time it is used (the OIDC refresh calls the real `OAuth2Session`; its
`except oauthlib.oauth2.rfc6749.errors...` clause finds the real class). ~55 ms of every start.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from typing import Any

from bot.plumbing.later import Later, placeholders

LAZY_PACKAGES = ("kubernetes", "kubernetes.client", "kubernetes.client.api", "kubernetes.client.models",
                 "kubernetes.utils")
_lock = threading.RLock()


def _deferred_package(name: str) -> types.ModuleType:
    spec = importlib.util.find_spec(name)  # the parent package is in sys.modules already: it is not run
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not an importable package", name=name)
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader
    state = {"ran": False}

    def __getattr__(attribute: str) -> Any:
        # dunder lookups (copy, pickle, the import system's probes) never run the package
        if attribute.startswith("__"):
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        with _lock:
            if not state["ran"]:
                state["ran"] = True
                loader.exec_module(module)
        if attribute in module.__dict__:
            return module.__dict__[attribute]
        own = module.__dict__.get("__getattr__")
        if own is not None and own is not __getattr__:
            return own(attribute)  # a package that is lazy itself (the models, since client 35)
        raise AttributeError(f"module {name!r} has no attribute {attribute!r}")

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def _rarely_used() -> tuple[Later, ...]:
    return (Later("oauthlib", submodules=("oauth2",)), Later("requests_oauthlib", calls=("OAuth2Session",)),
            Later("dateutil.parser", calls=("parse",)), Later("multiprocessing.pool", calls=("ThreadPool",)),
            Later("importlib.metadata", calls=("version",)))


def load() -> None:
    """Import the client's `ApiClient`, `Configuration`, REST layer, exceptions and `kubernetes.config`
    (idempotent; thread-safe)."""
    with _lock:
        if "kubernetes" in sys.modules:
            return
        with placeholders(*_rarely_used()):
            _import_client()


def _import_client() -> None:
    try:
        for name in LAZY_PACKAGES:
            _deferred_package(name)
        import kubernetes.client.api_client as api_client
        import kubernetes.client.configuration as configuration
        import kubernetes.client.exceptions
        import kubernetes.client.rest

        client = sys.modules["kubernetes.client"]
        # what kubernetes.config imports from the package, bound as its __init__ would bind them
        client.ApiClient = api_client.ApiClient  # type: ignore[attr-defined]
        client.Configuration = configuration.Configuration  # type: ignore[attr-defined]
        import kubernetes.config
    except Exception:
        # a client laid out differently (another version): forget the half-made packages, import it whole
        for name in [n for n in sys.modules if n == "kubernetes" or n.startswith("kubernetes.")]:
            del sys.modules[name]
        import kubernetes.client
        import kubernetes.config  # noqa: F401
