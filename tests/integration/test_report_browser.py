"""The report's HTML page rendered for real, in headless Chromium (Debian's `chromium` package,
installed by scripts/setup-host), at phone width: the title, every fault section laid out and
visible, and nothing wider than the screen (document and every table), in both languages; plus a
screenshot whose pixels show the page.

Chromium's headless window is never narrower than 500 px, so the page is laid out in a 360 px
wide iframe (a small phone) of a measuring page written by this test; its script writes what the
browser computed into the DOM, which `--dump-dom` returns. The report itself has no script.
The records are the two-fault incident of tests/unit/report_records.py (written as the CLI
writes them); tests/integration/test_report_lab.py makes a report from a real lab's records.
A machine without chromium fails here (CI installs it), unless KUBEMEDIC_SKIP_BROWSER=1.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubemedic.main import cli
from tests.unit.report_records import SECRET, two_fault_incident

PHONE = 360
WINDOW = (500, 1800)

MEASURE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>measure</title>
<style>body{margin:0;background:#fff}iframe{border:0;width:%(w)dpx;height:1700px;display:block}
#result{display:none}</style>
</head><body><iframe id="page" srcdoc="%(srcdoc)s"></iframe><pre id="result"></pre>
<script>
document.getElementById('page').addEventListener('load', function () {
  var doc = this.contentDocument, root = doc.documentElement;
  this.style.height = root.scrollHeight + 'px';  /* the whole page, no scrollbar of its own */
  var width = root.clientWidth;
  var wide = [];
  doc.querySelectorAll('body *').forEach(function (el) {
    var box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1) wide.push(el.tagName + ' ' + el.className);
  });
  var result = {
    title: doc.title, clientWidth: width, scrollWidth: root.scrollWidth,
    innerWidth: this.contentWindow.innerWidth, wide: wide.slice(0, 10),
    tables: Array.prototype.map.call(doc.querySelectorAll('table'), function (t) {
      return {scrollWidth: t.scrollWidth, clientWidth: t.clientWidth,
              right: t.getBoundingClientRect().right}; }),
    faults: Array.prototype.map.call(doc.querySelectorAll('section.fault'), function (s) {
      return {id: s.id, heading: s.querySelector('h2').textContent,
              height: s.getBoundingClientRect().height,
              h3: Array.prototype.map.call(s.querySelectorAll('h3'),
                                           function (h) { return h.textContent; })}; }),
    headerColor: getComputedStyle(doc.querySelector('header')).backgroundColor,
    sections: Array.prototype.map.call(doc.querySelectorAll('section'),
                                       function (s) { return s.id; })
  };
  document.getElementById('result').textContent = JSON.stringify(result);
});
</script></body></html>
"""


def chromium() -> str:
    if os.environ.get("KUBEMEDIC_SKIP_BROWSER") == "1":
        pytest.skip("KUBEMEDIC_SKIP_BROWSER=1")
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed: scripts/setup-host installs Debian's chromium"
    return found


def headless(*args: str) -> subprocess.CompletedProcess:
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    return subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                           "--no-first-run", "--disable-extensions", "--mute-audio",
                           f"--window-size={WINDOW[0]},{WINDOW[1]}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("report-browser")
    two_fault_incident(base / "state", base / "inventories")
    out = {}
    for lang in ("en", "zh"):
        result = CliRunner().invoke(cli, ["--state-dir", str(base / "state"), "--inventory-dir",
                                          str(base / "inventories"), "report", "-c", "acme",
                                          "--since", "2026-12-01", "--lang", lang, "--json"])
        assert result.exit_code == 0, result.output
        out[lang] = Path(json.loads(result.output)["html"])
    return out


def measure(page: Path) -> tuple[dict, Path]:
    wrapper = page.with_name(f"measure-{page.stem}.html")
    wrapper.write_text(MEASURE % {"w": PHONE, "srcdoc": html.escape(page.read_text(), quote=True)},
                       encoding="utf-8")
    done = headless("--virtual-time-budget=10000", "--dump-dom", wrapper.as_uri())
    found = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.S)
    assert found and found.group(1), f"no measurement in the rendered DOM: {done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1))), wrapper


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_rendered_at_phone_width(pages, lang) -> None:
    result, _wrapper = measure(pages[lang])
    title = {"en": "Incident record: acme", "zh": "生产环境异常恢复记录：acme"}[lang]
    assert result["title"] == title
    assert result["innerWidth"] == result["clientWidth"] == PHONE
    # nothing wider than the phone's screen: no horizontal scrolling, no table cut off
    assert result["scrollWidth"] <= result["clientWidth"], result
    assert result["wide"] == [], result["wide"]
    assert len(result["tables"]) == 2
    for table in result["tables"]:
        assert table["scrollWidth"] <= table["clientWidth"] and table["right"] <= PHONE, table
    # every fault has its section, laid out with the seed's parts
    assert [f["id"] for f in result["faults"]] == ["fault-1", "fault-2"]
    parts = {"en": ["Symptom", "Analysis", "Handling", "Verification", "Leftover items"],
             "zh": ["现象", "定位分析", "处理", "验证", "遗留待处理和优化的问题"]}[lang]
    for fault, check in zip(result["faults"], ["docker-daemon-json", "hosts-allow-subnet"],
                            strict=True):
        assert check in fault["heading"] and fault["height"] > 100, fault
        assert fault["h3"] == parts
    assert result["sections"] == ["basic", "faults", "fault-1", "fault-2", "leftovers", "grid",
                                  "timeline"]
    assert result["headerColor"] == "rgb(31, 78, 121)"  # the inline CSS was applied


def _png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and rows (RGB/RGBA, 8 bit) of a PNG, decoded with zlib (no image library)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6), (depth, color)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * channels, [], bytes(width * channels)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc
                                      else corner)) & 255
        rows.append(bytes(line))
        prev = bytes(line)
    return width, height, [bytes(r[j] for j in range(len(r)) if j % channels < 3) for r in rows]


def test_screenshot_shows_the_page(pages) -> None:
    _result, wrapper = measure(pages["en"])
    shot = wrapper.with_suffix(".png")
    done = headless("--virtual-time-budget=10000", f"--screenshot={shot}", wrapper.as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    width, height, rows = _png_pixels(shot)
    assert (width, height) == WINDOW
    # the header band (#1f4e79) spans the phone width at the top, and stops there
    band = rows[10]
    assert band[0:3] == bytes((31, 78, 121)) and band[(PHONE - 1) * 3:PHONE * 3] == bytes((31, 78, 121))
    assert band[(PHONE + 5) * 3:(PHONE + 6) * 3] == bytes((255, 255, 255))
    # text below the header: many different colours inside the phone's width
    body = {rows[y][x * 3:x * 3 + 3] for y in range(120, 1200, 7) for x in range(0, PHONE, 3)}
    assert len(body) > 20


def test_no_secret_and_nothing_fetched(pages) -> None:
    for page in pages.values():
        text = page.read_text()
        assert SECRET not in text
        assert not re.search(r"<(script|link|img|iframe)\b|url\(|src=|https?://", text)
