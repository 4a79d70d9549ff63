"""LibreOffice headless: recalculate a workbook, or render it to PDF and PNG.

LibreOffice shows an .xlsx file's cached results unless told otherwise, so recalculation
runs with a private profile whose settings say "always recalculate on load"; the private
profile also keeps parallel runs from fighting over the user's own profile lock.
Needs Debian's ``libreoffice-calc`` (and ``poppler-utils`` for PNG).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tally.errors import ConfigError, TallyError

RECALC_ALWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
 <prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop>
</item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
 <prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop>
</item>
</oor:items>
"""


def soffice() -> str:
    """The LibreOffice executable, or a ConfigError saying which package to install."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if not found:
        raise ConfigError(
            "LibreOffice is not installed: apt-get install -y --no-install-recommends "
            "libreoffice-calc"
        )
    return found


def _convert(sources: list[Path], out_dir: Path, target: str, timeout: float) -> list[Path]:
    """One LibreOffice start converts every source (a start costs seconds)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tally-lo-") as profile:
        settings = Path(profile) / "user" / "registrymodifications.xcu"
        settings.parent.mkdir(parents=True)
        settings.write_text(RECALC_ALWAYS, encoding="utf-8")
        command = [
            soffice(),
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--norestore",
            "--convert-to",
            target,
            "--outdir",
            str(out_dir),
            *(str(source) for source in sources),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    results = [out_dir / f"{source.stem}.{target.split(':')[0]}" for source in sources]
    missing = [
        str(source) for source, result in zip(sources, results, strict=True) if not result.exists()
    ]
    if done.returncode != 0 or missing:
        raise TallyError(
            f"LibreOffice could not convert {', '.join(missing) or sources} to {target}: "
            f"{done.stderr.strip() or done.stdout.strip()}"
        )
    return results


def convert(source: Path, out_dir: Path, target: str, timeout: float = 180) -> Path:
    """One workbook converted by LibreOffice (e.g. an .xlsb template to .xlsx)."""
    (result,) = _convert([source], out_dir, target, timeout)
    return result


def recalculate(workbooks: list[Path], out_dir: Path, timeout: float = 180) -> list[Path]:
    """Copies of the workbooks in ``out_dir``, every formula recalculated by LibreOffice."""
    if any(out_dir.resolve() == book.parent.resolve() for book in workbooks):
        raise ConfigError("recalculate: out_dir must differ from the workbooks' folders")
    if len({book.name for book in workbooks}) != len(workbooks):
        raise ConfigError("recalculate: workbooks need distinct file names")
    return _convert(workbooks, out_dir, "xlsx:Calc MS Excel 2007 XML", timeout)


def render_png(
    workbook: Path, out_dir: Path, timeout: float = 120, showing: str | None = None
) -> Path:
    """One page of the workbook as a PNG, via PDF and pdftoppm: the first page, or the
    first page whose text holds ``showing`` (e.g. a sheet's title line)."""
    (pdf,) = _convert([workbook], out_dir, "pdf", timeout)
    pdftoppm = shutil.which("pdftoppm")
    if not pdftoppm:
        raise ConfigError("pdftoppm is missing: apt-get install -y poppler-utils")
    page = _page_showing(pdf, showing, timeout) if showing else 1
    stem = out_dir / f"{workbook.stem}-{page}"
    subprocess.run(
        [pdftoppm, "-png", "-r", "110", "-f", str(page), "-l", str(page), "-singlefile"]
        + [str(pdf), str(stem)],
        check=True,
        capture_output=True,
        timeout=timeout,
    )
    return stem.with_suffix(".png")


def _page_showing(pdf: Path, text: str, timeout: float) -> int:
    pdftotext = shutil.which("pdftotext")
    if not pdftotext:
        raise ConfigError("pdftotext is missing: apt-get install -y poppler-utils")
    done = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, timeout=timeout
    )
    for number, page in enumerate(done.stdout.split("\f"), start=1):
        if text in page:
            return number
    raise TallyError(f"no page of {pdf.name} shows {text!r}")
