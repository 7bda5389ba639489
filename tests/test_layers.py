"""The layer contract of docs/architecture.md: imports run one way, and the engine never imports streamlit."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "uqviz"

# Lowest first; a module may import its own layer and the layers before it, never a later one.
LAYERS = ("format", "models", "engine", "statistics", "measures", "scoring", "workflows", "viz", "interface")
INTERFACE_MODULES = {"uqviz", "uqviz.__main__", "uqviz.cli", "uqviz.api"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    if module in INTERFACE_MODULES:
        return "interface"
    layer = module.split(".")[1]
    if layer not in LAYERS:
        raise AssertionError(f"{module} is in no layer; put it in one of the folders {LAYERS[:-1]}")
    return layer


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name an import statement in the file names (in functions and TYPE_CHECKING blocks too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                raise AssertionError(f"{path}: relative import; write the full uqviz path so the layer shows")
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def uqviz_imports(path: Path, known: dict[str, Path]) -> set[str]:
    return {name for name in imported_modules(path) if name in known and name != "uqviz"}


def test_every_module_belongs_to_a_layer():
    for module in project_modules():
        layer_of(module)


def test_imports_run_from_lower_layers_to_higher_ones_only():
    known = project_modules()
    violations = []
    for module, path in known.items():
        own = LAYERS.index(layer_of(module))
        for imported in uqviz_imports(path, known):
            if LAYERS.index(layer_of(imported)) > own:
                violations.append(f"{module} ({layer_of(module)}) imports {imported} ({layer_of(imported)})")
    assert violations == []


def test_no_import_cycles_between_modules():
    known = project_modules()
    graph = {module: uqviz_imports(path, known) - {module} for module, path in known.items()}
    # packages' __init__ only re-export their own children
    graph = {module: {name for name in targets if not module.startswith(name + ".")} for module, targets in graph.items()}
    visiting, done, cycles = set(), set(), []

    def visit(module: str, trail: list[str]) -> None:
        if module in done:
            return
        if module in visiting:
            cycles.append(trail[trail.index(module):] + [module])
            return
        visiting.add(module)
        for target in sorted(graph[module]):
            visit(target, trail + [module])
        visiting.discard(module)
        done.add(module)

    for module in graph:
        visit(module, [])
    assert cycles == []


def test_the_engine_never_imports_streamlit():
    offenders = [
        module for module, path in project_modules().items()
        if any(name == "streamlit" or name.startswith("streamlit.") for name in imported_modules(path))
    ]
    assert offenders == []


def test_nothing_in_the_package_imports_the_pages():
    offenders = [
        module for module, path in project_modules().items()
        if any(name == "pages" or name.startswith("pages.") or name == "app" for name in imported_modules(path))
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("uqviz.statistics.base", ("uqviz.measures", "uqviz.engine.attention", "uqviz.engine.sampling")),
        ("uqviz.format.run", ("uqviz.models", "uqviz.measures", "torch")),
        ("uqviz.measures.logprob", ("uqviz.engine", "uqviz.scoring", "torch")),
    ],
)
def test_importing_a_low_layer_loads_nothing_above_it(module, forbidden):
    """Checked in a fresh interpreter: sys.modules after the import holds none of the higher layers."""
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert [name for name in loaded if name.startswith(forbidden)] == []


def test_only_the_session_module_builds_run_statistics():
    builders = [
        path.name for path in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
        if any(
            isinstance(node, ast.Call) and getattr(node.func, "id", None) == "RunStatistics"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert builders == ["session.py"]


def test_code_cites_only_documents_in_the_repository():
    """Citations name docs/methods.md sections that exist; nothing points at a file outside the repository."""
    import re

    sections = set(re.findall(r"^#+ (\d+(?:\.\d+)?)[. ]", (ROOT / "docs" / "methods.md").read_text(encoding="utf-8"), re.M))
    sources = [*PACKAGE.rglob("*.py"), *(ROOT / "pages").glob("*.py"), ROOT / "app.py", ROOT / "README.md"]
    outside, unknown = [], []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        outside += [path.name for name in ("ALGORITHMS.md", "DESIGN.md", "STREAMLIT_NOTES.md", "shared/") if name in text]
        for cited in re.findall(r"docs/methods\.md §(\d+(?:\.\d+)?)", text):
            if cited not in sections:
                unknown.append(f"{path.name}: §{cited}")
    assert outside == [] and unknown == []


def test_every_page_file_is_a_listed_view_that_renders_through_one_function():
    from pages.views import VIEWS

    listed = {view.path for view in VIEWS}
    files = {f"pages/{path.name}" for path in (ROOT / "pages").glob("*.py")} - {
        "pages/__init__.py", "pages/common.py", "pages/session.py", "pages/views.py", "pages/token_weights.py"
    }
    assert listed == files
    for path in listed:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        assert any(isinstance(node, ast.FunctionDef) and node.name == "render" for node in tree.body), path
        statements = [node for node in tree.body if not isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign, ast.Expr))]
        assert [ast.unparse(node.test) for node in statements] == ["__name__ == '__main__'"], path
