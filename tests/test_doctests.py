"""The Python API's docstrings: every function and class ``dot_core`` exports shows an ``Examples``
section (scikit-image's habit), and those examples run and print what they say."""

import inspect
import os
import types

import dot_core

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

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
