"""Headless Chromium for the pages people read (report.html, class.html): a probe injected into
the page reports errors, images, sideways overflow and positions; a phone's width is a frame."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

_CAPTURE = """
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push(String(e.message || (e.target && (e.target.src || e.target.href)) || e));
}, true);
(function () {
  var original = console.error;
  console.error = function () {
    window.__errors.push(Array.prototype.join.call(arguments, ' '));
    return original.apply(console, arguments);
  };
})();
"""

_PROBE = """
window.addEventListener('load', function () {
  var images = Array.prototype.map.call(document.images, function (img) {
    var style = getComputedStyle(img), box = img.getBoundingClientRect();
    return {alt: img.alt, complete: img.complete, naturalWidth: img.naturalWidth,
            naturalHeight: img.naturalHeight, width: box.width, height: box.height,
            visible: style.display !== 'none' && style.visibility !== 'hidden'};
  });
  var width = window.innerWidth;
  // an element past the right edge must sit in a box that scrolls sideways
  function scroller(element) {
    for (var e = element.parentElement; e; e = e.parentElement) {
      var overflow = getComputedStyle(e).overflowX;
      if (overflow === 'auto' || overflow === 'scroll') { return e; }
    }
    return null;
  }
  var unreachable = [], clipped = [];
  Array.prototype.forEach.call(document.querySelectorAll('main *'), function (e) {
    var box = e.getBoundingClientRect(), style = getComputedStyle(e);
    if (box.width && box.right > width + 1 && !scroller(e)) {
      unreachable.push(e.tagName + ' ' + (e.textContent || '').slice(0, 40));
    }
    if ((style.overflowX === 'hidden' || style.textOverflow === 'ellipsis') &&
        e.scrollWidth > e.clientWidth + 1) {
      clipped.push(e.tagName + ' ' + (e.textContent || '').slice(0, 40));
    }
  });
  var tablesOutside = Array.prototype.filter.call(document.querySelectorAll('table'),
    function (t) { return !t.parentElement.classList.contains('scroll'); }).length;
  function top(selector) {
    var e = document.querySelector(selector);
    return e ? e.getBoundingClientRect().top + window.scrollY : null;
  }
  var result = {errors: window.__errors, images: images, innerWidth: width,
                scrollWidth: document.documentElement.scrollWidth,
                unreachable: unreachable, clipped: clipped, tablesOutside: tablesOutside,
                tops: {badge: top('.badge'), diagnosis: top('#diagnosis'),
                       mismatch: top('#worst-mismatch'), counts: top('#counts'),
                       countsEnd: (function () { var e = document.querySelector('#counts');
                         return e ? e.getBoundingClientRect().bottom + window.scrollY : null; })(),
                       failing: top('a[href="#failing"]'), lecture: top('#lecture')},
                resources: performance.getEntriesByType('resource').map(function (r) {
                  return r.name; })};
  var pre = document.createElement('pre');
  pre.id = 'probe-result';
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
  if (window.parent !== window) { window.parent.postMessage(pre.textContent, '*'); }
});
"""

#: Headless Chromium's window is at least 500 px wide: a phone's 390 px is a frame in a page.
_PHONE = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="probed.html" style="border:0; width:WIDTHpx; height:800px"></iframe>
<script>window.addEventListener('message', function (e) {
  var pre = document.createElement('pre'); pre.id = 'probe-result'; pre.textContent = e.data;
  document.body.appendChild(pre); });</script></body></html>
"""


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


def browser() -> str:
    found = chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("headless Chromium is missing; .ci/run installs Debian's chromium")
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    return found


def headless(browser: str, tmp_path, width: int, height: int, *args: str) -> list[str]:
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
        "--virtual-time-budget=10000",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]


def probe_page(html: str, tmp_path, width: int) -> dict:
    """The probe's findings on ``html`` rendered ``width`` CSS pixels wide (a frame below 500)."""
    found = chromium()
    assert html.count("<head>") == 1
    assert html.count("</body>") == 1
    probed = html.replace("<head>", f"<head><script>{_CAPTURE}</script>", 1).replace(
        "</body>", f"<script>{_PROBE}</script></body>", 1
    )
    page = tmp_path / "probed.html"
    page.write_text(probed, encoding="utf-8")
    if width < 500:
        page = tmp_path / "phone.html"
        page.write_text(_PHONE.replace("WIDTH", str(width)), encoding="utf-8")
    command = headless(found, tmp_path, max(width, 500), 800, "--dump-dom", page.as_uri())
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    result = re.search(r'<pre id="probe-result">(.*?)</pre>', done.stdout, re.S)
    assert result, f"no probe result; exit {done.returncode}: {done.stderr[-2000:]}"
    probe = json.loads(result.group(1).replace("&amp;", "&").replace("&lt;", "<"))
    probe["page"] = page
    return probe
