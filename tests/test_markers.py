"""The server markers hold for every test: ``-m "not mqtt and not postgres and not browser and not erp"`` starts
no server, and each marker selects what it says.

Two independent views are compared. One is collection: ``tests/conftest.py`` marks each test from the fixtures
it uses and from its list of tests that start servers themselves; a separate ``pytest --collect-only`` run
(plugin ``tests.collected_items``) reports every test's markers, fixtures and parameters. The other is the
source: every test module's syntax tree is searched for what starts a server (a broker, a PostgreSQL cluster,
a Tryton server, a box or hub process, a browser, the demo, a server benchmark), followed through the module's
own helpers, fixtures and conftests. A test that the source shows starting a server must carry its marker.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import pytest

from devkit.services import BoxProcess, HubProcess, MosquittoServer, PostgresServer
from tests.collected_items import OUTPUT_ENV
from tests.conftest import POSTGRES_PARAM, SELF_STARTING, SERVER_FIXTURES, covers, server_markers
from tests.hub.tryton_server import TrytonServer

ROOT: Final = Path(__file__).resolve().parents[1]
TESTS: Final = ROOT / "tests"
COLLECT_TIMEOUT_S: Final = 300.0
"""Bound on one ``pytest --collect-only`` of the whole suite (it imports every test module)."""
COLLECT_ARGS: Final = ("--collect-only", "-q", "-p", "no:cacheprovider", "-p", "tests.collected_items")
SERVER_MARKERS: Final = frozenset({"mqtt", "postgres", "browser", "erp"})
NO_SERVER: Final = "not mqtt and not postgres and not browser and not erp"

STARTER_CALLS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "MosquittoServer": frozenset({"mqtt"}),
        "PostgresServer": frozenset({"postgres"}),
        "TrytonServer": frozenset({"erp"}),
        "BoxProcess": frozenset({"mqtt"}),  # a box process talks to its broker
        "HubProcess": frozenset({"mqtt"}),
        "Chrome": frozenset({"browser"}),  # selenium's webdriver.Chrome starts chromedriver and Chromium
    }
)
"""A call of one of these (a name or an attribute) starts a server, or a process that needs one."""
STARTER_RUNS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "bench_ingest": frozenset({"mqtt", "postgres"}),
        "bench_latency": frozenset({"mqtt", "postgres"}),
        "bench_ledger": frozenset({"postgres"}),
    }
)
"""``module.run(...)`` of these benchmarks starts the servers named."""
STARTER_COMMANDS: Final[Mapping[str, frozenset[str]]] = MappingProxyType({"devkit.demo": frozenset({"mqtt"})})
"""A string argument naming one of these modules (``python -m devkit.demo``) starts the servers named."""


# -- the source's view ---------------------------------------------------------------------------------------


def _body_nodes(unit: ast.AST) -> Iterator[ast.AST]:
    """Every node of a definition's body: not its decorators (parameters of other tests), nor annotations."""
    stack: list[ast.AST] = list(unit.body) if isinstance(unit, ast.FunctionDef | ast.ClassDef) else [unit]
    while stack:
        node = stack.pop()
        yield node
        for name, value in ast.iter_fields(node):
            if name in {"annotation", "returns", "decorator_list"}:
                continue
            children = value if isinstance(value, list) else [value]
            stack.extend(child for child in children if isinstance(child, ast.AST))


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def direct_starts(unit: ast.AST) -> frozenset[str]:
    """The markers of the servers a definition's own body starts."""
    found: set[str] = set()
    for node in _body_nodes(unit):
        if not isinstance(node, ast.Call):
            continue
        found |= STARTER_CALLS.get(_called_name(node) or "", frozenset())
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "run" and isinstance(func.value, ast.Name):
            found |= STARTER_RUNS.get(func.value.id, frozenset())
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found |= STARTER_COMMANDS.get(arg.value, frozenset())
    return frozenset(found)


def _is_fixture(node: ast.FunctionDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr == "fixture":
            return True
    return False


@dataclass
class ModuleStarts:
    """What a module's top-level definitions start, each followed through the module's other definitions."""

    by_name: dict[str, frozenset[str]] = field(default_factory=dict)
    fixtures: set[str] = field(default_factory=set)
    module_level: frozenset[str] = frozenset()


def module_starts(source: str) -> ModuleStarts:
    tree = ast.parse(source)
    units = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    direct = {name: direct_starts(node) for name, node in units.items()}
    refers = {
        name: {n.id for n in _body_nodes(node) if isinstance(n, ast.Name) and n.id in units and n.id != name}
        for name, node in units.items()
    }
    closure = dict(direct)
    changed = True
    while changed:  # a fixpoint: helpers calling helpers
        changed = False
        for name, used in refers.items():
            grown = closure[name].union(*(closure[u] for u in used))
            if grown != closure[name]:
                closure[name], changed = grown, True
    loose = [node for node in tree.body if not isinstance(node, ast.FunctionDef | ast.ClassDef)]
    module_level = frozenset[str]().union(*(direct_starts(node) for node in loose))
    fixtures = {name for name, node in units.items() if isinstance(node, ast.FunctionDef) and _is_fixture(node)}
    return ModuleStarts(closure, fixtures, module_level)


@pytest.fixture(scope="module")
def sources() -> dict[str, ModuleStarts]:
    return {
        path.relative_to(ROOT).as_posix(): module_starts(path.read_text(encoding="utf-8"))
        for path in sorted(TESTS.rglob("*.py"))
    }


def _fixture_scopes(path: str) -> list[str]:
    """Where a fixture a test in ``path`` uses may be defined: its module, then the conftests above it."""
    scopes = [path]
    folder = Path(path).parent
    while True:
        scopes.append((folder / "conftest.py").as_posix())
        if folder == Path("tests") or folder == Path():
            return scopes
        folder = folder.parent


def source_requires(item: Mapping[str, Any], sources: Mapping[str, ModuleStarts]) -> frozenset[str]:
    """The markers the source says a collected test needs: its own function's, and its fixtures'."""
    module = sources[item["path"]]
    unit = item["nodeid"].split("::")[1].split("[")[0]
    needed = set(module.module_level | module.by_name.get(unit, frozenset()))
    scopes = [sources[s] for s in _fixture_scopes(item["path"]) if s in sources]
    for fixture in item["fixturenames"]:
        for scope in scopes:
            if fixture in scope.fixtures:
                needed |= scope.by_name[fixture]
                break
    return frozenset(needed)


# -- the collection's view -----------------------------------------------------------------------------------


def collect(tmp_path: Path, markexpr: str) -> list[dict[str, Any]]:
    """Every test ``pytest -m MARKEXPR`` selects (``""``: every test, the soaks too), as reported by the plugin."""
    output = tmp_path / "items.json"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *COLLECT_ARGS, "-m", markexpr, "tests"],
        cwd=ROOT,
        env={**os.environ, OUTPUT_ENV: str(output)},
        capture_output=True,
        text=True,
        timeout=COLLECT_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"collecting with -m {markexpr!r} failed:\n{result.stdout[-3000:]}{result.stderr}"
    items: list[dict[str, Any]] = json.loads(output.read_text(encoding="utf-8"))
    return items


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return collect(tmp_path_factory.mktemp("all"), "")


@pytest.fixture(scope="module")
def serverless(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return collect(tmp_path_factory.mktemp("serverless"), NO_SERVER)


def _conftest_requires(item: Mapping[str, Any]) -> frozenset[str]:
    return server_markers(item["nodeid"], item["fixturenames"], item["params"])


def _missing(items: Iterable[Mapping[str, Any]], sources: Mapping[str, ModuleStarts]) -> list[str]:
    problems = []
    for item in items:
        needed = _conftest_requires(item) | source_requires(item, sources)
        lacking = needed - set(item["markers"])
        if lacking:
            problems.append(f"{item['nodeid']}: starts a server but lacks {sorted(lacking)}")
    return problems


# -- the checks ----------------------------------------------------------------------------------------------


def test_every_test_that_starts_a_server_carries_its_marker(
    everything: list[dict[str, Any]], sources: dict[str, ModuleStarts]
) -> None:
    problems = _missing(everything, sources)
    assert not problems, (
        "tests whose fixtures or source start a server without the marker; name the fixture in SERVER_FIXTURES "
        "or the test in SELF_STARTING (tests/conftest.py):\n" + "\n".join(problems)
    )


def test_deselecting_the_server_markers_leaves_no_test_that_starts_a_server(
    everything: list[dict[str, Any]], serverless: list[dict[str, Any]], sources: dict[str, ModuleStarts]
) -> None:
    assert 0 < len(serverless) < len(everything)
    starting = []
    for item in serverless:
        servers = set(item["fixturenames"]) & set(SERVER_FIXTURES)
        if servers or POSTGRES_PARAM in item["params"].values() or source_requires(item, sources):
            starting.append(f"{item['nodeid']}: fixtures {sorted(servers)}, parameters {item['params']}")
        if any(covers(key, item["nodeid"]) for key in SELF_STARTING):
            starting.append(f"{item['nodeid']}: listed in SELF_STARTING")
    assert not starting, f"-m {NO_SERVER!r} still runs tests that start servers:\n" + "\n".join(starting)


def test_every_server_marker_selects_a_test_that_starts_that_server(
    everything: list[dict[str, Any]], sources: dict[str, ModuleStarts]
) -> None:
    started = {m for item in everything for m in _conftest_requires(item) | source_requires(item, sources)}
    assert started == SERVER_MARKERS


def test_each_self_starting_entry_names_a_collected_test(everything: list[dict[str, Any]]) -> None:
    stale = [key for key in SELF_STARTING if not any(covers(key, item["nodeid"]) for item in everything)]
    assert not stale, f"SELF_STARTING in tests/conftest.py names tests that no longer exist: {stale}"


def test_a_fixture_asking_for_postgresql_at_run_time_is_parametrised_on_it() -> None:
    """``request.getfixturevalue("pg_server")`` hides the server from ``item.fixturenames``: only the fixture's
    ``postgresql`` parameter tells collection the test runs on PostgreSQL."""
    problems = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef):
                continue
            asked = {
                str(call.args[0].value)
                for call in ast.walk(node)
                if isinstance(call, ast.Call)
                and _called_name(call) == "getfixturevalue"
                and call.args
                and isinstance(call.args[0], ast.Constant)
            }
            servers = asked & set(SERVER_FIXTURES)
            params = {c.value for d in node.decorator_list for c in ast.walk(d) if isinstance(c, ast.Constant)}
            if servers - {"pg_server"} or (servers and POSTGRES_PARAM not in params):
                problems.append(f"{path.relative_to(ROOT)}::{node.name} asks for {sorted(servers)} at run time")
    assert not problems, (
        "take the server fixture as an argument, or parametrise the fixture on 'postgresql':\n" + "\n".join(problems)
    )


def test_the_markers_in_pyproject_are_the_ones_the_suite_uses(everything: list[dict[str, Any]]) -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {line.split(":", 1)[0] for line in config["tool"]["pytest"]["ini_options"]["markers"]}
    used = {marker for item in everything for marker in item["markers"]}
    assert declared == SERVER_MARKERS | {"slow", "dates"}
    assert declared <= used, f"declared in pyproject.toml but marking no test: {sorted(declared - used)}"


def test_a_slow_test_has_a_short_version_that_make_test_runs(everything: list[dict[str, Any]]) -> None:
    short = {(item["path"], item["function"]) for item in everything if "slow" not in item["markers"]}
    alone = [item["nodeid"] for item in everything if "slow" in item["markers"]]
    alone = [nodeid for nodeid in alone if not any(nodeid.startswith(f"{p}::{f}[") for p, f in short)]
    assert not alone, f"soaks (marker slow) with no short version for make test: {alone}"


# -- the source scan finds what it must ----------------------------------------------------------------------

SAMPLE: Final = """
import pytest
from devkit.services import HubProcess, MosquittoServer

class Cluster:
    def __init__(self, broker: MosquittoServer) -> None:
        self.hub = HubProcess(broker)

def helper(broker: MosquittoServer) -> Cluster:
    return Cluster(broker)

@pytest.fixture
def own_broker() -> MosquittoServer:
    return MosquittoServer().start()

@pytest.mark.parametrize("module", [bench_ingest])
def test_runs_a_benchmark(module: object) -> None:
    module.run(quick=True)

def test_runs_the_demo() -> None:
    run("-m", "devkit.demo")

def test_pure(broker: MosquittoServer) -> None:
    assert broker
"""


def test_the_source_scan_follows_helpers_and_ignores_annotations_and_decorators() -> None:
    found = module_starts(SAMPLE)
    assert found.by_name["Cluster"] == {"mqtt"}
    assert found.by_name["helper"] == {"mqtt"}  # through Cluster
    assert found.by_name["own_broker"] == {"mqtt"} and found.fixtures == {"own_broker"}
    assert found.by_name["test_runs_the_demo"] == {"mqtt"}
    assert found.by_name["test_pure"] == frozenset()  # an annotation starts nothing
    assert found.by_name["test_runs_a_benchmark"] == frozenset()  # decided per parameter: SELF_STARTING
    assert direct_starts(ast.parse("bench_latency.run(quick=True)")) == {"mqtt", "postgres"}


def test_an_unmarked_test_using_a_server_fixture_is_reported() -> None:
    item = {
        "nodeid": "tests/hub/test_x.py::test_y[sqlite]",
        "path": "tests/hub/test_x.py",
        "function": "test_y",
        "markers": ["postgres"],
        "fixturenames": ["broker", "hub_db_url"],
        "params": {"hub_db_url": POSTGRES_PARAM},
    }
    sources = {"tests/hub/test_x.py": ModuleStarts()}
    assert _missing([item], sources) == ["tests/hub/test_x.py::test_y[sqlite]: starts a server but lacks ['mqtt']"]


def test_an_unmarked_test_that_starts_a_server_fails_before_the_server_starts() -> None:
    # The class's own ``start`` with no instance: a constructor call here would make the source scan (rightly)
    # require the markers.
    for server_class in (MosquittoServer, BoxProcess, HubProcess, PostgresServer, TrytonServer):
        start = server_class.__dict__["start"]
        with pytest.raises(pytest.fail.Exception, match="is not marked"):
            start()


@pytest.mark.mqtt
def test_a_marked_test_starts_its_server() -> None:
    assert MosquittoServer.start.__qualname__ == "MosquittoServer.start"
    assert PostgresServer.start.__qualname__.startswith("_refusal.")  # marked mqtt only
