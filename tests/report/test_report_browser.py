"""The report in a real browser: Debian's Chromium driven by Playwright (no browser download, no network).

Opens the report from file://, and checks what a reader would notice: console errors, images that do not
decode, any network request, sections that do not show, a page wider than a laptop screen, and how it prints.
A full-page screenshot is kept in the test's tmp_path (pytest keeps the last runs) for a human to look at, and
copied into $LOSSADVISOR_SCREENSHOT_DIR when that is set (e.g. by CI, to keep it as an artefact).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from report_runs import write_run_folder

from lossadvisor.profile._schema import SkippedFile
from lossadvisor.report import build_report
from lossadvisor.report._context import SECTIONS

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}  # an iPhone 12-15 screen in CSS pixels
# The complete fixture report prints on 7 A4 pages today (verdict and ranking on page 1, then the code, the
# dataset, rules, trials, LR tests, seeds, samples and the environment); 8 leaves one page of slack for
# wording, and catches a return of the 11-page layout with its third-empty pages.
MAX_A4_PAGES = 8
# A value a reader copies (a loss name, a learning rate, a parameter): letters or digits, _ . - + = inside.
TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-+=]*[A-Za-z0-9]")


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A page with every request, console error, page error and dialog recorded."""

    def __init__(self, browser: Any) -> None:
        self.page = browser.new_page(viewport=LAPTOP)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def open(self, report: Path) -> Any:
        self.page.goto(report.resolve().as_uri(), wait_until="load")
        return self.page


def test_report_in_chromium(browser: Any, build_stage: Callable[[str], Path], tmp_path: Path) -> None:
    watched = Watched(browser)
    page = watched.open(build_stage("complete"))

    assert watched.errors == []
    assert watched.requests and all(u.startswith(("file:", "data:")) for u in watched.requests), (
        watched.requests
    )
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.alt])")
    assert len(images) == 27
    undecoded = [alt for complete, width, alt in images if not complete or width <= 0]
    assert undecoded == []
    for section_id, title in SECTIONS:
        heading = page.locator(f"#{section_id} > h2")
        assert heading.is_visible() and heading.inner_text() == title
    assert page.locator("#recommended-loss").inner_text() == "dice_ce"
    assert page.locator("#recommended-lr").inner_text() == "2.0e-03"
    # readable on a laptop: the page itself never scrolls sideways (wide tables scroll inside their box)
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    shot = tmp_path / "report-complete.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    _keep(shot)

    page.emulate_media(media="print")
    assert not page.locator("nav").is_visible()  # the navigation is not printed
    assert page.pdf(format="A4")[:4] == b"%PDF"
    page.close()


def test_escaped_names_do_not_run_in_the_browser(browser: Any, tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    folder = write_run_folder(
        tmp_path / "run",
        stage="profile",
        class_name=evil,
        skipped=(SkippedFile(path=f"{evil}.png", reason="corrupt"),),
    )
    watched = Watched(browser)
    page = watched.open(build_report(folder))
    assert watched.dialogs == [] and watched.errors == []
    assert page.locator("script").count() == 0
    assert f"{evil}.png" in page.locator("#skipped-files").inner_text()
    assert page.locator("#verdict .missing").inner_text().startswith("No recommendation yet")
    page.screenshot(path=str(tmp_path / "report-profile-only.png"), full_page=True)
    _keep(tmp_path / "report-profile-only.png")
    page.close()


def _tokens(text: str) -> Counter[str]:
    """Values to keep whole: 4 characters or more with a digit or an underscore (weighted_ce, 2.0e-03)."""
    text = unicodedata.normalize("NFKC", text)  # PDF text spells "fi" as a ligature
    return Counter(w for w in TOKEN.findall(text) if len(w) >= 4 and re.search(r"[_\d]", w))


def test_print_keeps_the_verdict_on_page_one_and_never_breaks_a_value(
    browser: Any, build_stage: Callable[[str], Path], tmp_path: Path
) -> None:
    pypdf = pytest.importorskip("pypdf")
    watched = Watched(browser)
    page = watched.open(build_stage("complete"))
    page.emulate_media(media="print")
    printed = page.evaluate("document.body.innerText")  # what the print layout shows (no navigation)
    pdf = page.pdf(format="A4")
    (tmp_path / "report-a4.pdf").write_bytes(pdf)
    _keep(tmp_path / "report-a4.pdf")
    page.close()
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    pages = [unicodedata.normalize("NFKC", p.extract_text()) for p in reader.pages]
    page_one_images = len(reader.pages[0].images)  # the verdict section's only image is the paired plot
    assert 2 <= len(pages) <= MAX_A4_PAGES
    first = pages[0]
    assert "Recommended loss" in first.replace("RECOMMENDED LOSS", "Recommended loss")
    assert "dice_ce" in first and "Confidence medium" in first
    assert "Ranking of the configurations" in first and "focal lr=8.0e-03" in first  # the whole ranking
    assert "Does the winner beat each finalist" not in first  # plot text is an image, not PDF text...
    assert page_one_images >= 1  # ...so check the paired plot by the images drawn on page 1
    # every value appears as often, whole, in the PDF's text as on the page: none was split by a line break
    expected, found = _tokens(printed), _tokens("\n".join(pages))
    assert len(expected) > 50
    broken = {w: (n, found.get(w, 0)) for w, n in expected.items() if found.get(w, 0) < n}
    assert broken == {}


def test_phone_shows_the_verdict_and_the_ranking_iou_without_sideways_scroll(
    browser: Any, build_stage: Callable[[str], Path], tmp_path: Path
) -> None:
    page = browser.new_page(viewport=PHONE, device_scale_factor=2)
    page.goto(build_stage("complete").resolve().as_uri(), wait_until="load")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    headers = page.locator("#ranking thead th")
    names = headers.all_inner_texts()
    for wanted in ("configuration", "mean IoU", "score"):
        box = headers.nth(names.index(wanted)).bounding_box()
        assert box is not None and box["width"] > 0, wanted
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (wanted, box)
    # the ranking's own box does not scroll sideways either
    assert page.evaluate(
        "(() => { const w = document.querySelector('#ranking').parentElement; "
        "return w.scrollWidth <= w.clientWidth; })()"
    )
    for selector in ("#recommended-loss", "#confidence", "#confidence-advice"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"], selector
    shot = tmp_path / "report-phone.png"
    page.screenshot(path=str(shot), full_page=False)
    _keep(shot)
    page.close()


def _keep(shot: Path) -> None:
    keep_dir = os.environ.get("LOSSADVISOR_SCREENSHOT_DIR")
    if keep_dir:
        Path(keep_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep_dir) / shot.name)


# What tune's sample_views writes for two two-class volumes: per class the slice through its largest and its
# smallest lesion (one slice where the class has one lesion), the size in voxels and mm³, the slice and axis.
VOLUME_CAPTIONS = [
    "hippocampus_004 · slice 17 of D · class 1, largest of 2 lesions: 2,104 voxels, 2,104 mm³, "
    "centre (17, 20, 14)",
    "hippocampus_004 · slice 9 of D · class 1, smallest of 2 lesions: 3 voxels, 3 mm³, centre (9, 31, 12)",
    "hippocampus_011 · slice 20 of D · class 1, the only lesion: 1,877 voxels, 1,877 mm³, "
    "centre (20, 22, 15)",
    "hippocampus_011 · slice 12 of D · class 2, the only lesion: 25 voxels, 25 mm³, centre (12, 28, 18)",
]


def _as_volume_run(folder: Path) -> Path:
    """The fixture run folder turned into a 3-D one: validation over volumes with spacing, mm³ buckets, and
    sample rows that are slices through the largest and smallest lesion of each class of two volumes,
    captioned."""
    import json

    import numpy as np

    result = json.loads((folder / "result.json").read_text())
    result["validation"] = {
        "tiles": 20, "objects": {"tiny": 1, "small": 3, "medium": 36, "large": 0}, "size_unit": "mm³",
        "spacing": {"axes": ["D", "H", "W"], "volumes": 20, "median_mm": [5.0, 0.8, 0.8],
                    "min_mm": [4.5, 0.75, 0.75], "max_mm": [6.0, 0.9, 0.9], "median_anisotropy": 6.25,
                    "max_anisotropy": 8.0, "anisotropic_volumes": 20, "anisotropy_threshold": 3.0},
    }  # fmt: skip
    (folder / "result.json").write_text(json.dumps(result))
    with np.load(folder / "samples.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    take = [0, 1, 0, 2]  # four slices of two volumes
    for key in [k for k in arrays if k in ("images", "masks") or k.startswith("pred__")]:
        arrays[key] = arrays[key][take]
    arrays["captions"] = np.array(json.dumps(VOLUME_CAPTIONS))
    np.savez(folder / "samples.npz", **arrays)
    return folder


def test_volume_sections_in_chromium(browser: Any, tmp_path: Path) -> None:
    """The 3-D parts a reader of a volume run sees: the spacing and anisotropy table, recall buckets in mm³,
    and each sample row's caption naming the case, the slice and the lesion it passes through."""
    folder = _as_volume_run(write_run_folder(tmp_path / "hippocampus"))
    watched = Watched(browser)
    page = watched.open(build_report(folder))
    assert watched.errors == []
    spacing = page.locator("#spacing-table")
    assert spacing.is_visible()
    rows = spacing.locator("tbody tr").all_inner_texts()
    assert [r.split("\t")[:2] for r in rows] == [["D", "5"], ["H", "0.8"], ["W", "0.8"]]
    caption = spacing.locator("xpath=../following-sibling::p[@class='caption'][1]").inner_text()
    assert "20 volume(s) above 3" in caption and "native spacing" in caption
    header = page.locator("#recall-table thead").inner_text()
    assert "mm³" in header and " px" not in header
    assert "20 volumes holding" in page.locator("#validation-set").inner_text()
    captions = page.locator("#samples tr.sample-caption").all_inner_texts()
    assert [c.strip() for c in captions] == VOLUME_CAPTIONS
    legend = page.locator("#samples p.legend").inner_text()
    assert "slice through the largest and the smallest lesion of each class" in legend
    assert "validation tiles" not in legend
    images = page.eval_on_selector_all("#samples img", "els => els.map(e => [e.complete, e.naturalWidth])")
    assert len(images) == 4 * 5 and all(complete and width > 0 for complete, width in images)
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.screenshot(path=str(tmp_path / "report-volumes.png"), full_page=True)
    _keep(tmp_path / "report-volumes.png")
    page.close()
