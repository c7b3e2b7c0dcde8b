"browser_check reads a report as a document: NaN/None a reader sees, pandas default indexes, where the findings end and the appendix starts."
import struct
from pathlib import Path
import numpy as np, pandas as pd
import pytest
from xstilts.grid import browser, browser_check

pytestmark = pytest.mark.skipif(browser() is None, reason="no Chromium on this machine (Debian: apt install chromium): browser_check cannot run")

SLACK = 12   # px: the body's default 8 px margin, and a little for fonts

def png_size(p) -> tuple:
    b = Path(p).read_bytes()[:24]
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", b[16:24])

def page(tmp_path, body, name="page.html") -> Path:
    p = tmp_path/name
    p.write_text(f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>t</title></head><body>\n{body}\n</body></html>', encoding="utf-8")
    return p

def test_tables_and_nan(tmp_path):
    indexed = pd.DataFrame({"task": ["xnli", "pawsx", "xcopa"], "delta": [1.5, -0.25, 0.75]})
    tables = [indexed.to_html(),                                                     # a pandas default index: counted
              indexed.to_html(index=False),                                          # no index column
              indexed.set_index("task").to_html(),                                   # a named index
              indexed.head(1).to_html(),                                             # n = 1: not counted
              pd.DataFrame({"x": [5, 6]}, index=[1, 2]).to_html(),                   # 1, 2: not 0..n-1
              pd.DataFrame({"a": [7, 8], "b": [9, 10]}, index=[1, 0]).to_html(),     # 1, 0: not in order
              "<table><tr><td>0</td><td>a</td></tr><tr><td>1</td><td>b</td></tr></table>",   # bare <td> 0, 1 (tbody implied): counted
              pd.DataFrame({"score": [0.5, np.nan]}).to_html(index=False)]           # shows NaN
    body = "\n".join(tables) + """
<p>Nonetheless, NaNs and Nones are other words; nan is lower case.</p>
<p>The baseline was None of the above.</p>
<details><summary>closed</summary><p>this None is hidden and so is NaN</p></details>
<details open><summary>open</summary><p>an open one shows None</p></details>"""
    r = browser_check(page(tmp_path, body))
    assert r["index_columns"] == 2, r
    assert len(r["nan_text"]) == 3, r["nan_text"]
    assert "NaN" in r["nan_text"][0] and "0.5" in r["nan_text"][0]
    assert "was None of the" in r["nan_text"][1] and "shows None" in r["nan_text"][2]
    assert not any("hidden" in s for s in r["nan_text"])   # three: not Nonetheless, NaNs, Nones, nan, nor the closed <details>
    assert all(len(s) <= 60 and "\n" not in s for s in r["nan_text"])
    # the existing keys are still there
    assert (r["images"], r["shown"], r["error_outputs"], r["tracebacks"], r["external"], r["js_errors"]) == (0, 0, 0, 0, [], []), r

def test_nan_text_caps_at_ten(tmp_path):
    r = browser_check(page(tmp_path, "<p>" + " ".join(["NaN"] * 25) + "</p>"))
    assert len(r["nan_text"]) == 10 and r["index_columns"] == 0

def test_findings_and_appendix(tmp_path):
    body = """<div style="height:500px">spacer</div>
<div id="findings" style="height:100px">the findings</div>
<div style="height:1300px">the body of the report</div>
<details id="appendix"><summary>Appendix</summary><div style="height:5000px">None of this is seen</div></details>
<div style="height:200px">after</div>"""
    r = browser_check(page(tmp_path, body), first_screen=tmp_path/"shots"/"first.png")
    assert abs(r["findings_bottom"] - 600) <= SLACK, r
    assert abs(r["before_appendix"] - 1900) <= SLACK, r
    assert r["screens_before_appendix"] == pytest.approx(r["before_appendix"]/900)
    assert 1900 + 200 < r["page_height"] < 1900 + 5000, r   # the closed appendix's 5000 px are not laid out
    assert r["nan_text"] == []
    assert r["first_screen"] == str(tmp_path/"shots"/"first.png") and png_size(r["first_screen"]) == (1400, 900)
    assert "screenshot" not in r

def test_no_marks_and_window(tmp_path):
    # no #findings, no #appendix: the whole page is before the appendix; a narrower window wraps text onto more lines
    text = "<p>" + "word " * 3000 + "</p>"
    p = page(tmp_path, text)
    wide = browser_check(p)
    narrow = browser_check(p, window=(700, 600), first_screen=tmp_path/"narrow.png", screenshot=tmp_path/"full.png", height=800)
    for r in (wide, narrow):
        assert r["findings_bottom"] is None and r["before_appendix"] == r["page_height"], r
    assert narrow["page_height"] > 1.5*wide["page_height"], (wide, narrow)
    assert wide["screens_before_appendix"] == pytest.approx(wide["page_height"]/900)
    assert narrow["screens_before_appendix"] == pytest.approx(narrow["page_height"]/600)
    assert png_size(narrow["first_screen"]) == (700, 600)
    assert narrow["screenshot"] == str(tmp_path/"full.png") and png_size(narrow["screenshot"]) == (1280, 800)   # the existing screenshot: as before
