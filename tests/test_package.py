"""The package as installed: its modules import downwards, and it installs and runs from any folder."""

import ast
from pathlib import Path

import dot_core

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dot_core"


def _package_imports(path: Path) -> list[str]:
    """Names a module takes from the package itself (``from . import x`` / ``from dot_core import x``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if (node.level == 1 and node.module is None) or (node.level == 0 and node.module == "dot_core"):
                found += [alias.name for alias in node.names]
    return found


def test_no_engine_module_imports_the_package_init():
    """``from . import __version__`` made calibration_file → dot_core → calibration_file a cycle."""
    submodules = {p.stem for p in PACKAGE.glob("*.py")}
    for path in PACKAGE.glob("*.py"):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        not_modules = [name for name in _package_imports(path) if name not in submodules]
        assert not not_modules, f"{path.name} imports {not_modules} from the package's __init__"


def test_version_lives_in_its_own_module():
    from dot_core._version import __version__

    assert dot_core.__version__ == __version__ and __version__.count(".") == 2
