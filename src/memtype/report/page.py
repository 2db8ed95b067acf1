"""The HTML page around the sections: one self-contained file.

No network at all: no CDN, no web font, no image but inline SVG, and a Content-Security-Policy that
forbids every fetch (``default-src 'none'``), so a link that slipped in could not load either. Readable
with JavaScript off: the charts are SVG drawn in Python and the tables plain HTML. The script (under 2
KB) only sorts tables, shows a tooltip at once (the SVG ``<title>`` is the browser's slower one), and
lets a chart be zoomed to twice the width. Light and dark themes follow the reader's setting; print
keeps the charts and drops the navigation.
"""

from __future__ import annotations

from memtype._version import __version__
from memtype.report.sections import Section
from memtype.report.svg import FILLS, FONT, esc

CSS = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1b1b;--mut:#5b5b5b;--line:#ddd;--head:#f4f4f4}
@media (prefers-color-scheme:dark){:root{--bg:#161616;--fg:#e8e8e8;--mut:#a8a8a8;--line:#3a3a3a;--head:#222}}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 FONT}
header,main{max-width:1100px;margin:0 auto;padding:0 16px}
header{padding-top:18px}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .3em;border-bottom:1px solid var(--line)}
.prov{color:var(--mut);font-size:.9em;margin:.2em 0}
nav{font-size:.9em;margin:.6em 0;display:flex;flex-wrap:wrap;gap:.2em 1em}nav a{white-space:nowrap}
a{color:#0072B2}@media (prefers-color-scheme:dark){a{color:#56B4E9}}
.explain{max-width:75ch}.note{color:var(--mut);font-size:.9em;max-width:90ch}
.cw{overflow-x:auto;margin:.4em 0 .8em}
svg.chart{display:block;width:100%;min-width:700px;height:auto;color:var(--fg)}
svg.chart[data-chart=treemap]{min-width:0}
.cw.zoom svg.chart{width:200%}
svg .seg,svg .tmh{fill:#000;paint-order:stroke;stroke:#fff;stroke-width:2.5px;stroke-linejoin:round}
svg .tmh{font-size:10px}
svg [data-bytes]:hover{opacity:.8}
.tw{overflow-x:auto;max-height:34em;overflow-y:auto;border:1px solid var(--line);margin:.5em 0}
table{border-collapse:collapse;font-size:.85em;width:100%}
caption{text-align:left;color:var(--mut);padding:4px 6px;caption-side:top}
th,td{padding:2px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{position:sticky;top:0;background:var(--head);cursor:pointer;user-select:none}
th[aria-sort=descending]::after{content:" \\25BE"}th[aria-sort=ascending]::after{content:" \\25B4"}
.n{text-align:right;font-variant-numeric:tabular-nums}
.sw{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .6em;vertical-align:-.05em;border:1px solid #0003}
.legend{font-size:.85em;margin:.1em 0 .2em;display:flex;flex-wrap:wrap;gap:.1em 1em}.key{white-space:nowrap}
.legend .sw{margin-left:0}figure{margin:0 0 1.1em}figcaption{font-weight:600;font-size:.9em;margin:.2em 0}figure .note{margin:.1em 0}
dl.kinds dt{font-weight:600;margin-top:.4em}dl.kinds dd{margin-left:1.6em;color:var(--mut)}
#tip{position:fixed;pointer-events:none;background:#222;color:#fff;padding:3px 7px;border-radius:3px;
font-size:12px;display:none;max-width:40em;z-index:9}
@media (max-width:700px){body{font-size:14px}header,main{padding:0 8px}}
@media print{nav,#tip{display:none}.tw{max-height:none;overflow:visible}svg.chart{min-width:0}
h2{break-after:avoid}.cw{break-inside:avoid}}
""".replace("FONT", FONT)
CSS += "".join(f".sw.k-{k}{{background:{c}}}" for k, c in FILLS.items())  # the legends' swatches

SCRIPT = """
(function(){
var tip=document.getElementById('tip');
document.addEventListener('mousemove',function(e){
 var t=e.target.closest&&e.target.closest('[data-bytes] , .tm > rect');var n=t&&t.querySelector('title');
 if(!n){tip.style.display='none';return}
 tip.textContent=n.textContent;tip.style.display='block';
 var x=e.clientX+14,y=e.clientY+14;if(x+tip.offsetWidth>innerWidth)x=e.clientX-tip.offsetWidth-8;
 tip.style.left=x+'px';tip.style.top=y+'px'});
document.querySelectorAll('.cw').forEach(function(w){w.addEventListener('dblclick',function(){
 w.classList.toggle('zoom')})});
document.querySelectorAll('table.sortable th').forEach(function(th,i){th.addEventListener('click',function(){
 var tb=th.closest('table').tBodies[0],k=th.dataset.key,num=th.classList.contains('n');
 var d=th.getAttribute('aria-sort')==='descending'?1:-1;
 th.parentNode.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort')});
 th.setAttribute('aria-sort',d<0?'descending':'ascending');
 var rows=Array.prototype.slice.call(tb.rows);
 var v=function(r){return k?r.getAttribute('data-'+k):r.cells[i].textContent};
 rows.sort(function(a,b){var x=v(a),y=v(b);
  if(num){x=x==='null'?-1:+x;y=y==='null'?-1:+y;return d*(x-y)}return d*String(x).localeCompare(String(y))});
 rows.forEach(function(r){tb.appendChild(r)})})});
})();
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def page(title: str, provenance: list[str], sections: list[Section], glossary: str) -> str:
    """The whole document: provenance, a table of contents, the sections, the kinds explained."""
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections) + '<a href="#kinds">The kinds</a>'
    body = []
    for s in sections:
        charts = "".join(f'<figure><figcaption>{esc(c.label)}</figcaption><div class="cw">{c.done()}</div>'
                         f"{c.key_html()}</figure>" for c in s.charts)
        body.append(f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2><p class="explain">{esc(s.explain)}</p>'
                    f"{charts}{s.html}</section>")
    prov = "".join(f'<p class="prov">{esc(line)}</p>' for line in provenance)
    return ("<!DOCTYPE html>\n"
            f'<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="color-scheme" '
            f'content="light dark"><meta name="generator" content="memtype {esc(__version__)}">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f'<body><header><h1>{esc(title)}</h1>{prov}<nav>{nav}</nav></header><main>'
            + "".join(body)
            + f'<section id="kinds"><h2>The kinds</h2>{glossary}<p class="note">Double-click a chart to zoom it; '
            "click a column title to sort. Sizes: K, M, G = KiB, MiB, GiB (1024-based).</p></section>"
            f'</main><div id="tip"></div><script>{SCRIPT}</script></body></html>\n')
