"""openpyxl's formula tokenizer loaded from its file alone: same tokens, none of openpyxl."""

from __future__ import annotations

import subprocess
import sys

from openpyxl.formula.tokenizer import Tokenizer as OpenpyxlTokenizer

from tally.reports.formula import Token, Tokenizer

FORMULA = '=GETPIVOTDATA("value",\'Active subscriber\'!$A$5,"Meta 2","a ""b"";c",DATE(2017,1,2))'


def test_tokens_are_openpyxls() -> None:
    ours = [(t.value, t.type, t.subtype) for t in Tokenizer(FORMULA).items]
    theirs = [(t.value, t.type, t.subtype) for t in OpenpyxlTokenizer(FORMULA).items]
    assert ours == theirs
    assert ('"a ""b"";c"', Token.OPERAND, Token.TEXT) in ours  # quotes and ; inside a string


def test_importing_it_leaves_openpyxl_unimported() -> None:
    script = "import sys, tally.reports.formula; print('openpyxl' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
