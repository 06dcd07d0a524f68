"""The package as installed: its modules import downwards, and it installs and runs from any folder."""

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dot_core

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dot_core"


def _modules() -> dict[str, Path]:
    """Dotted module name inside dot_core (``ot.gaussian_maps``, ``cli``) → its file; packages by their __init__."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and "__pycache__" not in parts:
            found[".".join(parts)] = path
    return found


def _imported(path: Path, name: str, modules: dict) -> set[str]:
    """The dot_core modules (dotted, inside the package) that module ``name`` imports, lazy imports included."""
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    deps = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = here[: len(here) - node.level + 1]
        elif (node.module or "").split(".")[0] == "dot_core":
            base, node = [], ast.ImportFrom(module=node.module.partition(".")[2] or None, names=node.names, level=0)
        else:
            continue
        target = ".".join(base + (node.module.split(".") if node.module else []))
        for alias in node.names:  # ``from pkg import mod`` imports the module pkg.mod, else a name of pkg
            module = f"{target}.{alias.name}".lstrip(".")
            deps.add(module if module in modules else target)
    return deps


def _engine_import_graph() -> dict[str, set[str]]:
    """Module → the dot_core modules it imports (``from .ot import patches`` counts as ot.patches)."""
    modules = _modules()
    return {name: (_imported(path, name, modules) & set(modules)) - {name, ""} for name, path in modules.items()}


def test_no_engine_module_imports_the_package_init():
    """``from . import __version__`` made calibration_file → dot_core → calibration_file a cycle:
    no module but ``__main__`` takes a name from the top-level ``dot_core/__init__``."""
    for name, path in _modules().items():
        if name in ("", "__main__"):
            continue
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                top = (node.level and node.level - 1 == len(here) and not node.module) or node.module == "dot_core"
                assert not top, f"{name} imports {[a.name for a in node.names]} from the package's __init__"


def test_engine_modules_import_without_cycles():
    """Issue 10: encoders ↔ detail and calibration_file → dot_core → calibration_file were cycles;
    every arrow between engine modules now points one way (lazy imports count too)."""
    graph, done, path = _engine_import_graph(), set(), []
    graph = {name: deps for name, deps in graph.items() if name}  # the top __init__ re-exports everything

    def visit(name):
        assert name not in path, "import cycle: " + " → ".join(path[path.index(name):] + [name])
        if name in done:
            return
        path.append(name)
        for dep in sorted(graph[name]):
            visit(dep)
        path.pop()
        done.add(name)

    assert graph["latents.detail"] <= {"latents.base", "ot.gaussian_taps"}, graph["latents.detail"]  # not the registry
    for name in sorted(graph):
        visit(name)


# Issue 20: each subpackage imports only the ones below it (and the leaf _version); the top-level
# modules may import any.
LAYERS = {
    "ot": set(),
    "io": set(),
    "latents": {"ot", "io"},
    "quality": {"ot", "io"},
    "calibration": {"ot", "io", "latents", "quality"},
    "evaluation": {"ot", "io", "latents", "quality", "calibration"},
    "presets": {"ot", "io", "latents", "quality", "calibration", "fsrcnn"},
    "cli": None,  # the top: the command line may import anything below it
}


def test_subpackages_import_only_the_layers_below_them():
    graph = _engine_import_graph()
    assert set(LAYERS) == {name.split(".")[0] for name in graph if "." in name}, "a subpackage without a layer"
    for name, deps in graph.items():
        group = name.split(".")[0]
        if LAYERS.get(group) is None:
            continue
        outside = {d for d in deps if d.split(".")[0] not in LAYERS[group] | {group, "_version"}}
        assert not outside, f"{name} imports {sorted(outside)}, above its layer"


def test_version_lives_in_its_own_module():
    from dot_core._version import __version__

    assert dot_core.__version__ == __version__ and __version__.count(".") == 2


def _requirement(text: str, package: str) -> str:
    """The version specifier of ``package`` in a requirements list (text), e.g. '>=11.0'."""
    match = re.search(rf'^\s*"?{package}\s*([<>=!~][^"#\n]*)', text, flags=re.MULTILINE | re.IGNORECASE)
    assert match, f"{package} is not listed"
    return match.group(1).strip()


def test_pillow_pin_is_the_version_the_16_bit_png_path_needs():
    """The 16-bit RGB(A) PNG path reads decode tiles as named tuples (``tile.args``), which
    Pillow 11.0 introduced; older Pillow silently gives 8-bit precision (checked with 10.4)."""
    import PIL

    for name in ("requirements.txt", "pyproject.toml"):
        assert _requirement((ROOT / name).read_text(), "pillow") == ">=11.0", name
    assert tuple(int(x) for x in PIL.__version__.split(".")[:2]) >= (11, 0)


def test_pip_install_editable_gives_a_command_that_runs_from_any_folder(tmp_path):
    """``pip install -e .`` (offline: no build isolation, no dependencies) into a fresh virtual
    environment; then ``dot-core`` and ``python -m dot_core`` run from a folder outside the project."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(PACKAGE, source / "dot_core", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # the new environment sees this interpreter's packages (torch, pip, setuptools) and nothing else
    (Path(site) / "parent.pth").write_text("\n".join(p for p in sys.path if p.endswith("-packages")) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-e", str(source)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in ([str(bin_dir / "dot-core")], [str(python), "-m", "dot_core"]):
        helped = subprocess.run([*command, "--help"], cwd=elsewhere, capture_output=True, text=True, env=env, timeout=120)
        assert helped.returncode == 0, helped.stderr[-2000:]
        assert "calibrate" in helped.stdout and "enhance" in helped.stdout
        usage = "dot-core" if len(command) == 1 else "python -m dot_core"
        assert helped.stdout.startswith(f"usage: {usage} "), helped.stdout[:200]
        info = subprocess.run([*command, "info"], cwd=elsewhere, capture_output=True, text=True, env=env, timeout=120)
        assert info.returncode == 0, info.stderr[-2000:]
        assert info.stdout.startswith(f"dot_core {dot_core.__version__}, torch ")
    where = subprocess.run([str(python), "-c", "import dot_core; print(dot_core.__file__)"], cwd=elsewhere,
                           capture_output=True, text=True, env=env, timeout=120)
    assert Path(where.stdout.strip()).parent == source / "dot_core"  # the editable source, not a copy


def test_the_engine_and_serving_never_import_gradio_or_the_web_app():
    """Every module of dot_core and serving, imported in a fresh interpreter, pulls in no gradio,
    gradio_client or webui (the engine must run where Gradio is not installed)."""
    import subprocess
    import sys

    code = (
        "import importlib, pkgutil, sys\n"
        "import dot_core, serving\n"
        "for pkg in (dot_core, serving):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if not m.name.endswith('.__main__'):\n"
        "            importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('gradio', 'gradio_client', 'webui'))\n"
        "print(len([n for n in sys.modules if n.startswith(('dot_core.', 'serving.'))]), bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    count, bad = out.stdout.split(" ", 1)
    assert int(count) >= 20 and bad.strip() == "[]", out.stdout


def test_a_test_run_leaves_no_gradio_cache_folder_behind(tmp_path):
    """conftest gives each run its own GRADIO_TEMP_DIR (dot-tests-gradio-*) and removes it at exit."""
    import os
    import subprocess
    import sys

    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_nothing.py")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert not list(scratch.glob("dot-tests-gradio-*"))


def _layout_tree() -> set[str]:
    """The paths README's "Layout" tree names: one entry per line, nested by two-space indent;
    ``(+ x.py)`` names a sibling on the same line."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    stack, named = [], set()
    for line in block.splitlines():
        if not line.strip() or line.startswith(" " * 20):  # a continued description
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        del stack[depth:]
        folder = "".join(stack)
        named.add(folder + name)
        named |= {folder + extra for extra in re.findall(r"\(\+ ([\w.]+\.py)", line)}
        if name.endswith("/"):
            stack.append(name)
    return named


def test_readme_layout_names_every_module_and_no_other():
    """The Layout tree is the architecture's map: a module added, moved or removed shows there."""
    named = _layout_tree()
    files = {p.relative_to(ROOT).as_posix() for top in ("dot_core", "webui", "serving")
             for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts}
    files = {f for f in files if not f.endswith("/__init__.py") or f.count("/") == 1 and f.startswith("dot_core")}
    missing = sorted(f for f in files if f not in named)
    assert not missing, f"README's Layout does not name {missing}"
    gone = sorted(n for n in named if n.endswith(".py") and "/" in n and not (ROOT / n).is_file())
    assert not gone, f"README's Layout names modules that do not exist: {gone}"


def test_every_name_a_bench_script_imports_from_the_engine_exists():
    """The scripts under bench/ are not run by the suite; a move inside dot_core must not break them
    (bench/tune_detail.py and tune_preset_eps.py imported a name the regrouping had moved)."""
    import importlib

    root = Path(__file__).resolve().parents[1]
    missing = []
    for script in sorted((root / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "dot_core":
                module = importlib.import_module(node.module)
                missing += [f"{script.name}: {node.module}.{a.name}" for a in node.names
                            if not hasattr(module, a.name) and importlib.util.find_spec(f"{node.module}.{a.name}") is None]
    assert not missing, missing
