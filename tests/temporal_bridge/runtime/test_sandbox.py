"""The modules the sandbox passes through are exactly the Django-free ones the workflows import."""
from __future__ import annotations

import ast
import configparser
import importlib.util
from pathlib import Path

from temporal_bridge.runtime import sandbox

ROOT = Path(__file__).resolve().parents[3]


def _pure_contract_modules() -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return set(config["importlinter:contract:workflow-code-is-pure"]["source_modules"].split())


def _workflow_files() -> list[Path]:
    files = []
    for name in sandbox.WORKFLOW_MODULES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin
        origin = Path(spec.origin)
        files += sorted(origin.parent.glob("*.py")) if origin.name == "__init__.py" else [origin]
    return files


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _bridge_imports(path: Path) -> set[str]:
    """The temporal_bridge modules a file imports, `from package import module` resolved to the module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("temporal_bridge"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if _is_module(child) else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("temporal_bridge")}
    return found


def _inside_a_workflow(name: str) -> bool:
    return any(name == w or name.startswith(w + ".") for w in sandbox.WORKFLOW_MODULES)


def test_the_passed_through_modules_are_the_pure_contract_s_message_modules():
    # A new message module goes into both lists, or the workers re-import it for every order.
    assert set(sandbox.MESSAGE_MODULES) == _pure_contract_modules() - set(sandbox.WORKFLOW_MODULES)


def test_every_bridge_module_a_workflow_imports_is_passed_through():
    imported = set().union(*(_bridge_imports(path) for path in _workflow_files()))
    missing = {name for name in imported if not _inside_a_workflow(name)} - set(sandbox.MESSAGE_MODULES)
    assert missing == set()


def test_no_workflow_module_or_parent_is_passed_through():
    # A passed-through parent would hand the workflows' own modules over too, shared between instances.
    for name in sandbox.MESSAGE_MODULES:
        assert not any(w == name or w.startswith(name + ".") for w in sandbox.WORKFLOW_MODULES), name


def test_the_workflows_own_modules_have_bytecode_for_their_current_source():
    # The sandbox loads them afresh for every order: without bytecode, every order compiles them again.
    files = _workflow_files()
    assert len(files) > 10
    for path in files:
        Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)
    assert sandbox.compile_workflow_modules.__wrapped__() >= len(files)
    sandbox.workflow_runner()
    assert sandbox.compile_workflow_modules.cache_info().currsize == 1  # the workers' runner did it (once per process)
    for path in files:
        cached = Path(importlib.util.cache_from_source(str(path)))
        assert cached.exists(), path
        # What the import system checks before using it: the source's time and size, in the header.
        header = cached.read_bytes()[:16]
        stat = path.stat()
        assert int.from_bytes(header[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF, path
        assert int.from_bytes(header[12:16], "little") == stat.st_size & 0xFFFFFFFF, path


def test_a_tree_the_worker_cannot_write_leaves_the_workflows_to_compile_as_before(monkeypatch, caplog):
    def read_only(*args, **kwargs):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(sandbox.py_compile, "compile", read_only)
    assert sandbox.compile_workflow_modules.__wrapped__() == 0
    assert "Workflow bytecode not written" in caplog.text
    assert sandbox.workflow_runner() is not None  # the worker starts all the same
