"""Helpers for browser tests (real headless Chromium through Playwright): axe-core, screenshots, keyboard.

The fixtures that hand out browsers and pages live in tests/browser/conftest.py; these helpers
take a Playwright `Page` and work on any page of govcast (portal, console, subscription center).

- `axe(page)`: axe-core's serious and critical violations, readable in an assertion message.
- `horizontal_overflow(page)`: what sticks out sideways (at phone width: sideways scrolling).
- `screenshot(page, name)`: full-page PNGs at desktop (1280) and phone (390) width under
  `test-artifacts/screenshots/` (GOVCAST_TEST_ARTIFACTS moves the root).
- `tab_through(page)`: walks the page with Tab only and checks that every stop shows a visible
  focus indicator; `tab_to(page, ...)` moves focus by Tab/Shift+Tab to one element.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageChops

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("GOVCAST_CHROMIUM", "/usr/bin/chromium"))
AXE_JS = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
# Without the background-networking flags Chromium keeps calling Google services, which this closed network refuses.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SERIOUS = ("serious", "critical")


def artifacts_dir() -> Path:
    return Path(os.environ.get("GOVCAST_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def screenshots_dir() -> Path:
    return artifacts_dir() / "screenshots"


def missing_browser_parts() -> list[str]:
    """What keeps browser tests from running here (empty when they can)."""
    missing = []
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if not AXE_JS.exists():
        missing.append("axe-core (npm ci --prefix tests/browser)")
    return missing


# -- axe-core -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One axe-core rule broken on a page, with every element that breaks it."""

    rule: str
    impact: str
    help: str
    help_url: str
    targets: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"[{self.impact}] {self.rule}: {self.help}", f"    {self.help_url}"]
        for target, summary in zip(self.targets, self.summaries, strict=True):
            lines.append(f"    at {target}")
            lines += [f"       {line}" for line in summary.splitlines() if line.strip()]
        return "\n".join(lines)


class Violations(list[Violation]):
    """A list whose repr is the readable report, so `assert not axe(page)` explains itself."""

    def __repr__(self) -> str:
        if not self:
            return "no serious or critical axe-core violations"
        return f"{len(self)} serious/critical axe-core violation(s):\n" + "\n".join(map(str, self))


def axe(page: Page, *, impacts: tuple[str, ...] = SERIOUS, context: str | None = None) -> Violations:
    """Run axe-core (from npm, tests/browser/package-lock.json) on the page as it is now.

    Returns the violations with an impact in `impacts` (serious and critical by default), each
    naming the rule, its help URL and the selectors of the offending elements. `context` limits
    the run to a CSS selector. Injected through the DevTools protocol, so a page's
    Content-Security-Policy does not keep it out (and is not weakened for the page's own scripts).
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;undefined")
    result: dict[str, Any] = page.evaluate(
        """async (context) => axe.run(context ? document.querySelector(context) : document,
                                      {resultTypes: ["violations"]})""",
        context,
    )
    found = Violations()
    for v in result["violations"]:
        if v.get("impact") not in impacts:
            continue
        nodes = v.get("nodes", [])
        found.append(Violation(
            rule=v["id"], impact=v["impact"], help=v["help"], help_url=v["helpUrl"],
            targets=[" ".join(map(str, n.get("target", []))) for n in nodes],
            summaries=[n.get("failureSummary") or "" for n in nodes],
        ))
    return found


# -- screenshots ----------------------------------------------------------------------------

_written: list[Path] = []


def written_screenshots() -> list[Path]:
    """Every screenshot this test session saved (the pytest summary lists where they are)."""
    return list(_written)


def screenshot(page: Page, name: str) -> list[Path]:
    """Full-page PNGs of the page at desktop (1280 wide) and phone (390 wide) width.

    Saved as `<artifacts>/screenshots/<name>-desktop.png` and `<name>-phone.png`; the page's
    viewport is restored afterwards. Returns the two paths.
    """
    safe = re.sub(r"[^\w.-]+", "-", name).strip("-")
    folder = screenshots_dir()
    folder.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size
    paths = []
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        path = folder / f"{safe}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
        _written.append(path)
    if before:
        page.set_viewport_size(before)
    return paths


_OVERFLOW = """() => {
  const sticksOut = el => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1;
  return [...document.body.querySelectorAll("*")]
    .filter(el => sticksOut(el) && !(el.parentElement && el.parentElement !== document.body && sticksOut(el.parentElement)))
    .map(el => `${el.tagName.toLowerCase()}${el.className ? "." + String(el.className).trim().replace(/\\s+/g, ".") : ""}`
               + ` (right edge at ${Math.round(el.getBoundingClientRect().right)} px): ${(el.innerText || "").trim().slice(0, 40)}`);
}"""


def horizontal_overflow(page: Page) -> list[str]:
    """The outermost elements that stick out of the viewport sideways (on a phone: sideways scrolling).

    Empty when the page fits its viewport's width. Check at PHONE width.
    """
    found: list[str] = page.evaluate(_OVERFLOW)
    return found


# -- keyboard -------------------------------------------------------------------------------

_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const r = el.getBoundingClientRect();
  const path = [];
  for (let n = el; n && n.nodeType === 1 && path.length < 4; n = n.parentElement) {
    let part = n.tagName.toLowerCase();
    if (n.id) { path.unshift(part + "#" + n.id); break; }
    const same = n.parentElement ? [...n.parentElement.children].filter(c => c.tagName === n.tagName) : [];
    if (same.length > 1) part += `:nth-of-type(${same.indexOf(n) + 1})`;
    path.unshift(part);
  }
  return {mark: el.dataset.govcastKb ?? null, tag: el.tagName.toLowerCase(), id: el.id || null,
          text: (el.innerText || el.value || el.getAttribute("aria-label") || "").trim(),
          href: el.getAttribute("href"), url: el.href || null, selector: path.join(" > "),
          x: r.x, y: r.y, width: r.width, height: r.height,
          inViewport: r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0
                      && r.top < innerHeight && r.left < innerWidth};
}"""

FOCUSABLE = ("a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), "
             "textarea:not([disabled]), summary, [tabindex]:not([tabindex='-1'])")
# Numbers every control a user could reach (rendered, not hidden or inert) so the tour can tell which it missed.
_MARK_REACHABLE = """(selector) => [...document.querySelectorAll(selector)]
  .filter(el => { const s = getComputedStyle(el);
                  return s.visibility !== "hidden" && s.display !== "none" && !el.closest("[hidden],[inert]")
                         && el.getClientRects().length > 0; })
  .map((el, i) => { el.dataset.govcastKb = String(i);
                    const label = (el.innerText || el.value || "").trim().slice(0, 40);
                    return (el.getAttribute("href") ?? el.tagName.toLowerCase()) + " " + label; })"""


@dataclass(frozen=True)
class FocusStop:
    """Where focus landed after a key press."""

    tag: str
    text: str
    href: str | None
    selector: str
    url: str | None = None  # the link's absolute address
    mark: str | None = None  # set by assert_keyboard_reaches_all
    id: str | None = None  # the element's id attribute

    def __str__(self) -> str:
        target = f" → {self.href}" if self.href else ""
        return f"<{self.tag}> {self.text[:40]!r}{target} ({self.selector})"


def _focused(page: Page) -> dict[str, Any] | None:
    info: dict[str, Any] | None = page.evaluate(_FOCUSED)
    return info


def _stop(info: dict[str, Any]) -> FocusStop:
    return FocusStop(tag=info["tag"], text=info["text"], href=info["href"], selector=info["selector"], url=info["url"],
                     mark=info["mark"], id=info["id"])


def _ring_pixels(page: Page, info: dict[str, Any]) -> tuple[int, int]:
    """Pixels around and on the focused element that change when it loses focus, and the box's perimeter."""
    pad = 6
    clip = {"x": max(info["x"] - pad, 0), "y": max(info["y"] - pad, 0),
            "width": info["width"] + 2 * pad, "height": info["height"] + 2 * pad}
    focused = page.screenshot(clip=clip, animations="disabled", caret="hide")
    page.evaluate("() => { window.__govcastRefocus = document.activeElement; document.activeElement.blur(); }")
    blurred = page.screenshot(clip=clip, animations="disabled", caret="hide")
    page.evaluate("() => window.__govcastRefocus.focus()")
    diff = ImageChops.difference(Image.open(io.BytesIO(focused)).convert("RGB"), Image.open(io.BytesIO(blurred)).convert("RGB"))
    red, green, blue = diff.split()
    strongest = ImageChops.lighter(red, ImageChops.lighter(green, blue))  # per pixel, the channel that changed most
    changed = strongest.point(lambda v: 255 if v > 40 else 0).histogram()[255]
    return changed, int(2 * (info["width"] + info["height"]))


def focus_problem(page: Page) -> str | None:
    """Why the focused element's focus is not visible, or None when it is.

    Visible means: inside the viewport (scrolled into view) and drawn differently when focused,
    by at least as many clearly changed pixels as a 1-pixel ring around its box would take
    (outline, box-shadow, background or underline; measured, not inferred from CSS).
    """
    info = _focused(page)
    if info is None:
        return "nothing is focused"
    if not info["inViewport"]:
        return f"{_stop(info)} is focused but not inside the viewport"
    changed, needed = _ring_pixels(page, info)
    if changed < needed:
        return f"{_stop(info)} shows no visible focus indicator ({changed} pixels change on focus, a 1px ring needs {needed})"
    return None


def tab_through(page: Page, *, max_stops: int = 300, check_focus: bool = True) -> list[FocusStop]:
    """Press Tab from the top of the page until focus leaves the page or comes back round.

    Returns every stop in order. With `check_focus`, fails at the first stop whose focus is not
    visible (see `focus_problem`), naming the element.
    """
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
    stops: list[FocusStop] = []
    first: str | None = None
    for _ in range(max_stops):
        page.keyboard.press("Tab")
        info = _focused(page)
        if info is None:
            break
        stop = _stop(info)
        if first is not None and stop.selector == first:
            break
        first = first or stop.selector
        if check_focus and (problem := focus_problem(page)):
            raise AssertionError(f"focus stop {len(stops) + 1}: {problem}")
        stops.append(stop)
    else:
        raise AssertionError(f"Tab never left the page after {max_stops} stops: a keyboard trap?")
    return stops


def assert_keyboard_reaches_all(page: Page, selector: str = FOCUSABLE) -> list[FocusStop]:
    """Tab through the page (checking visible focus) and fail naming every visible control Tab never reached."""
    controls: list[str] = page.evaluate(_MARK_REACHABLE, selector)
    stops = tab_through(page)
    reached = {s.mark for s in stops}
    missed = [label for i, label in enumerate(controls) if str(i) not in reached]
    assert not missed, "Tab never reaches:\n  " + "\n  ".join(missed) + "\nstops:\n  " + "\n  ".join(map(str, stops))
    return stops


def tab_to(page: Page, *, href: str | None = None, url: str | None = None, text: str | None = None,
           element_id: str | None = None, backwards: bool = False, max_stops: int = 300) -> FocusStop:
    """Move focus with Tab (or Shift+Tab) until it rests on the element with this href (as written),
    url (absolute), text (part of it) or id; fails naming the stops it passed if it never does."""
    key = "Shift+Tab" if backwards else "Tab"
    seen: list[FocusStop] = []
    for _ in range(max_stops):
        page.keyboard.press(key)
        info = _focused(page)
        if info is None:
            continue
        stop = _stop(info)
        if ((href is None or stop.href == href) and (url is None or stop.url == url)
                and (text is None or text in stop.text) and (element_id is None or stop.id == element_id)):
            return stop
        if seen and stop.selector == seen[0].selector:
            break
        seen.append(stop)
    wanted = f"href={href!r} url={url!r} text={text!r} id={element_id!r}"
    raise AssertionError(f"{key} never reached {wanted}; stops:\n  " + "\n  ".join(map(str, seen)))


def sign_in_by_keyboard(page: Page, login_url: str, token: str) -> None:
    """Open the console's login page and sign in with the keyboard alone: the page starts in the token field.

    Chromium focuses an `autofocus` field at its next rendering step, which can come after the load event on a
    busy machine; keys typed before that are lost. So wait (up to 5 s) for the field to take the focus by itself:
    a page without autofocus still fails here.
    """
    page.goto(login_url)
    page.wait_for_function("document.activeElement && document.activeElement.id === 'token'", timeout=5000)
    page.keyboard.type(token)
    page.keyboard.press("Enter")
