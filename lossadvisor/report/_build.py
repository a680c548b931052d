"""Render the run folder into one self-contained ``report.html``.

Jinja2 with autoescaping on for every template: file names, class names and failure reasons come from the
user's data and are shown as text, never markup. A ``finalize`` hook redacts credentials in every rendered
value as a last line of defence. The CSS is inlined and plots are PNG data URIs, so the file opens offline,
makes no network request and needs no JavaScript.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from pathlib import Path
from typing import Any

from lossadvisor import runfolder
from lossadvisor._atomic import write_text
from lossadvisor._redact import redact
from lossadvisor._text import safe_text
from lossadvisor.errors import ConfigError
from lossadvisor.report._context import SECTIONS, build_context
from lossadvisor.report._load import load_run

logger = logging.getLogger(__name__)

TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"
REPORT_NAME = runfolder.REPORT_HTML


def build_report(run_dir: str | Path, *, out: str | Path | None = None, progress: bool = False) -> Path:
    """Write the HTML report of a run folder and return its path.

    Reads only the saved files of ``run_dir`` (profile.json, recommendation.json, trials.csv, ...; see
    ``docs/ARCHITECTURE.md``); whatever is missing is said plainly in its section, so the report works after
    ``profile`` alone, after ``advise``, and while ``tune`` is still running.

    Args:
        run_dir: the run folder written by ``lossadvisor profile/advise/tune --out``.
        out: where to write the report; default ``run_dir/report.html``.
        progress: show a progress bar on stderr, one step per section (drawing the plots takes seconds).

    Returns:
        The path of the written report.

    Raises:
        DataError: if ``run_dir`` is not a folder or holds none of the run files.
        ConfigError: if ``out`` is an existing folder or does not end in ``.html``/``.htm``.

    Example:
        >>> import lossadvisor
        >>> lossadvisor.build_report("reports/buildings")  # doctest: +SKIP
        PosixPath('reports/buildings/report.html')
    """
    target = Path(run_dir) / REPORT_NAME if out is None else Path(out)
    if target.is_dir():
        raise ConfigError(
            f"The 'out' argument of build_report must be a file path; got the folder {str(target)!r}. "
            f"Pass e.g. {str(target / REPORT_NAME)!r}."
        )
    if target.suffix.lower() not in {".html", ".htm"}:
        raise ConfigError(f"The 'out' argument of build_report must end in .html; got {str(target)!r}.")
    with _Steps(enabled=progress, total=len(SECTIONS) + 2) as steps:
        steps.advance("reading the run folder")
        run = load_run(run_dir)
        context = build_context(run, on_section=steps.advance)
        steps.advance("writing the HTML")
        html = render_html(context)
    write_text(target, html)  # atomic: a reader never sees half a report (tune rebuilds it while running)
    logger.info("Wrote %s", target)
    return target


def render_html(context: dict[str, Any]) -> str:
    """Render the report template with ``context`` (autoescaped; credentials redacted)."""
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lossadvisor.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["keep"] = keep_values_whole
    css = resources.files("lossadvisor.report").joinpath("templates", STYLESHEET).read_text(encoding="utf-8")
    if "</" in css:
        raise ConfigError(f"{STYLESHEET} must not contain '</' (it is inlined in a <style> element).")
    return env.get_template(TEMPLATE).render(css=Markup(css), **context)


# A word a line must not break inside: a hyphen (a break opportunity for browsers) with a digit or an
# underscore in the same word, e.g. "2.0e-03", "lr=1.0e-03", "2026-11-30", "dice_ce-16b777".
_FRAGILE = re.compile(r"\S*[\d_]\S*-\S+|\S+-\S*[\d_]\S*")


def keep_values_whole(value: Any) -> Any:
    """Escape ``value`` (credentials redacted) and keep every value-like word on one line.

    Browsers break lines after a hyphen, so "2.0e-03" or a date can end up split across lines, on screen and
    in print; such words are wrapped in ``<span class="nowrap">``. Prose still wraps at its spaces.

    Example:
        >>> str(keep_values_whole("lr=2.0e-03 <b>"))
        '<span class="nowrap">lr=2.0e-03</span> &lt;b&gt;'
    """
    from markupsafe import Markup, escape

    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    text = safe_text(redact(value))
    parts, last = [], 0
    for match in _FRAGILE.finditer(text):
        parts.append(escape(text[last : match.start()]))
        parts.append(Markup('<span class="nowrap">') + escape(match.group()) + Markup("</span>"))
        last = match.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


def _finalize(value: Any) -> Any:
    """Redact credentials in every plain string the template prints and escape its control characters
    (``safe_text``, the one rule for names; autoescaping then makes it HTML). Markup from the code is left
    alone."""
    from markupsafe import Markup

    if isinstance(value, str) and not isinstance(value, Markup):
        return safe_text(redact(value))
    return value


class _Steps:
    """A tqdm bar over the report's steps (stderr; silent when disabled), named after the step running."""

    def __init__(self, *, enabled: bool, total: int) -> None:
        self._bar = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total, desc="report", unit="step", leave=False, dynamic_ncols=True, mininterval=0
            )
        self._started = False

    def advance(self, name: str) -> None:
        """Mark the previous step done and show ``name`` as the one running."""
        if self._bar is None:
            return
        if self._started:
            self._bar.update(1)
        self._started = True
        self._bar.set_postfix_str(name, refresh=True)

    def __enter__(self) -> _Steps:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            if self._started and exc[0] is None:
                self._bar.update(1)
            self._bar.close()
