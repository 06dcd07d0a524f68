"""The Python API's docstrings: every function and class ``dot_core`` exports shows an ``Examples``
section (scikit-image's habit), and those examples run and print what they say."""

import doctest
import inspect
import io
import itertools
import os
import types

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # an example never reaches the network

import pytest  # noqa: E402
import torch  # noqa: E402

import dot_core  # noqa: E402

# the exported objects that are functions or classes; constants (MODES, KNOWN_VAES, ...) carry no docstring
API = sorted(name for name in dot_core.__all__
             if inspect.isfunction(getattr(dot_core, name)) or inspect.isclass(getattr(dot_core, name)))


def test_all_lists_exactly_the_public_names():
    """``__all__`` names every public name the package binds (submodules aside), and only those."""
    bound = {name for name, value in vars(dot_core).items()
             if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert len(dot_core.__all__) == len(set(dot_core.__all__))
    assert set(dot_core.__all__) - {"__version__"} == bound
    assert "__version__" in dot_core.__all__


def test_the_api_is_functions_and_classes_besides_a_few_constants():
    constants = set(dot_core.__all__) - set(API)
    assert constants == {"__version__", "MODES", "COLOR_FIXES", "DEFAULT_ALPHAS", "KNOWN_VAES", "WEIGHT_FREE"}


@pytest.mark.parametrize("name", API)
def test_docstring_has_an_examples_section(name):
    doc = inspect.getdoc(getattr(dot_core, name)) or ""
    lines = doc.splitlines()
    assert any(a.strip() == "Examples" and set(b.strip()) == {"-"} for a, b in itertools.pairwise(lines)), (
        f"dot_core.{name} has no numpydoc 'Examples' section (a heading 'Examples' underlined with dashes)")
    assert ">>>" in doc.split("Examples", 1)[1], f"dot_core.{name}'s Examples section has no >>> line"


@pytest.fixture
def one_seeded_thread():
    """Examples run as a reader would paste them: seeded, deterministic, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_examples(obj, name: str) -> tuple[int, int, str]:
    """Run the doctests of ``obj`` (its docstring and its methods') with empty globals:
    (examples tried, failed, the runner's report)."""
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.REPORT_NDIFF)
    report = io.StringIO()
    attempted = failed = 0
    for test in finder.find(obj, f"dot_core.{name}", module=inspect.getmodule(obj), globs={}):
        torch.manual_seed(0)
        result = runner.run(test, out=report.write)
        attempted, failed = attempted + result.attempted, failed + result.failed
    return attempted, failed, report.getvalue()


@pytest.mark.parametrize("name", API)
def test_examples_run(name, one_seeded_thread):
    attempted, failed, report = run_examples(getattr(dot_core, name), name)
    assert attempted > 0, f"dot_core.{name} has no example to run"
    assert failed == 0, f"{failed} of {attempted} examples of dot_core.{name} failed:\n{report}"
