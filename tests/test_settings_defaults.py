"""Each setting has one default, in arena/settings.py: app code reads `settings.NAME`, never
`getattr(settings, "NAME", default)` (a second default that silently wins when the setting is renamed or
dropped), and every setting it reads is defined there."""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]
APPS = ("arena", "judges", "leaderboard", "live")


def _app_modules() -> list[Path]:
    return sorted(
        path for app in APPS for path in (ROOT / app).rglob("*.py") if "migrations" not in path.parts
    )


def _is_settings(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "settings") or (
        isinstance(node, ast.Attribute) and node.attr == "settings"
    )


def _settings_defaults(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, source) of every `getattr(settings, ..., default)` and `hasattr(settings, ...)`."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args):
            continue
        with_default = node.func.id == "getattr" and len(node.args) == 3
        if (with_default or node.func.id == "hasattr") and _is_settings(node.args[0]):
            found.append((node.lineno, ast.unparse(node)))
    return found


def _settings_read(tree: ast.AST) -> set[str]:
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr.isupper() and _is_settings(node.value)
    }


def test_the_checker_finds_a_default_given_beside_the_settings_module():
    code = 'x = getattr(settings, "LEADERBOARD_SEED", 0)\ny = getattr(django.conf.settings, "A", 1)\n'
    assert [line for line, _ in _settings_defaults(ast.parse(code))] == [1, 2]
    assert _settings_defaults(ast.parse('getattr(settings, "ARENA_QUEUES")\ngetattr(obj, "x", 1)')) == []


def test_app_code_gives_no_second_default_for_a_setting():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {source}"
        for path in _app_modules()
        for line, source in _settings_defaults(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not found, (
        "Read settings as settings.NAME and give the default once, in arena/settings.py (from the environment "
        "with arena.env helpers, and in .env.example):\n" + "\n".join(found)
    )


def test_every_setting_app_code_reads_is_defined():
    read: dict[str, list[str]] = {}
    for path in _app_modules():
        for name in _settings_read(ast.parse(path.read_text(encoding="utf-8"))):
            read.setdefault(name, []).append(str(path.relative_to(ROOT)))
    missing = {name: where for name, where in read.items() if not hasattr(settings, name)}
    assert len(read) > 50  # the walk found the app's settings at all
    assert not missing, f"settings read by app code but defined nowhere: {missing}"
