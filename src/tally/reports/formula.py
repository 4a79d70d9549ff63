"""openpyxl's Excel formula tokenizer, without the rest of openpyxl.

``openpyxl/__init__`` imports the whole package (workbook, styles, charts: ~0.4 s of CPU),
and ``tally pivot`` needs only ``openpyxl/formula/tokenizer.py``, which imports nothing but
``re``. So that one file is loaded on its own, under a name of ours; where that fails (a
future openpyxl whose tokenizer imports its package) the ordinary import is used.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

OWN_NAME = "tally.reports._openpyxl_tokenizer"


def _tokenizer_module() -> ModuleType:
    """openpyxl's ``formula.tokenizer`` module, loaded from its file alone when possible."""
    already = sys.modules.get("openpyxl.formula.tokenizer") or sys.modules.get(OWN_NAME)
    if already is not None:
        return already
    module: ModuleType
    try:
        package = importlib.util.find_spec("openpyxl")  # finds, does not run __init__
        if package is None:
            raise ImportError("openpyxl")
        folder = Path(next(iter(package.submodule_search_locations or ())))
        spec = importlib.util.spec_from_file_location(OWN_NAME, folder / "formula" / "tokenizer.py")
        if spec is None or spec.loader is None:
            raise ImportError(OWN_NAME)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (ImportError, AttributeError, StopIteration, OSError, TypeError):
        import openpyxl.formula.tokenizer

        module = openpyxl.formula.tokenizer
    sys.modules.setdefault(OWN_NAME, module)
    return module


_module = _tokenizer_module()
Tokenizer = _module.Tokenizer
Token = _module.Token
TokenizerError = _module.TokenizerError

__all__ = ["Token", "Tokenizer", "TokenizerError"]
