"""The runtime's layers: arrows only point down, and no actor imports a sibling actor.

messages <- infrastructure <- actor parts <- actors <- core <- facades. Every module of
``actors/`` is placed in a layer here, so a new module has to be placed deliberately.
"""

from __future__ import annotations

import ast
from pathlib import Path

ACTORS = Path(__file__).parent.parent / "actors"

LAYERS: dict[str, int] = {
    # 2: infrastructure (values, time, errors, routing, the loop, the one bleak caller)
    **dict.fromkeys(
        [
            "errors",
            "_bleak_errors",
            "_capability",
            "_clock",
            "_faults",
            "_lanes",
            "_link",
            "_loop",
            "_loop_actor",
            "_metrics",
            "_operations",
            "_policy",
            "_router",
            "_slot",
            "_hub",
            "_sink",
            "_state",
            "_validate",
            "_values",
            "_waiters",
            "_scan",
            "_transport",
            "_host_policy",
        ],
        2,
    ),
    # 3: what actors are made of
    **dict.fromkeys(["_actor_base", "_attempt", "_radio_connect", "_radio_ops", "_radio_state"], 3),
    # 4: the actors
    **dict.fromkeys(["_radio", "_reconnect", "_notify", "_supervisor"], 4),
    # 5: the core (wiring, validation + sending, shutdown)
    **dict.fromkeys(
        [
            "_wiring",
            "_assembly",
            "_group",
            "_device_core",
            "_plans",
            "_shutdown",
            "_targets",
            "_host_main",
            "_hosts",
            "_host_table",
        ],
        5,
    ),
    # 6: the facades
    **dict.fromkeys(["_subscription", "_device", "_scanning", "_runtime", "__init__"], 6),
}
ACTOR_MODULES = {name for name, layer in LAYERS.items() if layer == 4}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _modules() -> dict[str, Path]:
    return {p.stem: p for p in ACTORS.glob("*.py")}


def test_every_module_has_a_layer() -> None:
    assert set(_modules()) <= set(LAYERS), set(_modules()) - set(LAYERS)


def test_imports_only_point_down() -> None:
    for name, path in _modules().items():
        for module in _imports(path):
            if module.startswith("blerun.actors."):
                target = module.removeprefix("blerun.actors.")
                assert LAYERS[target] <= LAYERS[name], f"{name} -> {target}"
                if name in ACTOR_MODULES and target in ACTOR_MODULES:
                    raise AssertionError(f"actor {name} imports actor {target}")
            elif module.startswith("blerun.") and LAYERS[name] < 6:
                assert module.split(".")[1] in ("messages", "gatt"), f"{name} -> {module}"


def test_messages_and_gatt_import_nothing_of_the_runtime() -> None:
    root = ACTORS.parent
    for package, allowed in (("messages", {"messages", "gatt"}), ("gatt", {"gatt"})):
        for path in (root / package).glob("*.py"):
            for module in _imports(path):
                if module.startswith("blerun."):
                    assert module.split(".")[1] in allowed, f"{path.name} -> {module}"
