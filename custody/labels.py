"""The COI label, as SVG at label size (101.6 × 50.8 mm, a 4 × 2 inch ISBT 128 label).

It carries the DIN as Code 128 (``=`` + DIN + flags, drawn by python-barcode's SVG writer)
and as a DataMatrix (ppf-datamatrix), the eye-readable DIN with its check character boxed,
the product, the patient's initials and date of birth. Presentation attributes only, no
``style``: our content security policy refuses inline styles.
"""

from __future__ import annotations

import io
import re
from xml.sax.saxutils import escape

import barcode
from barcode.writer import SVGWriter
from ppf.datamatrix import DataMatrix

WIDTH_MM, HEIGHT_MM = 101.6, 50.8


def code128_bars(data: str) -> tuple[float, float, list[tuple[float, float]]]:
    """(width mm, bar height mm, [(x mm, bar width mm)]) from python-barcode's SVG output."""
    symbol = barcode.get("code128", data, writer=SVGWriter())
    buffer = io.BytesIO()
    symbol.write(buffer, options={"module_width": 0.25, "module_height": 12.0,
                                  "quiet_zone": 2.5, "write_text": False})
    svg = buffer.getvalue().decode()
    width = float(re.search(r'<svg[^>]* width="([\d.]+)mm"', svg).group(1))
    bars = [(float(x), float(w)) for x, w in re.findall(
        r'<rect x="([\d.]+)mm" y="[\d.]+mm" width="([\d.]+)mm" height="[\d.]+mm" '
        r'style="fill:black;"', svg)]
    return width, 12.0, bars


def datamatrix_path(data: str) -> tuple[int, str]:
    """(size in modules including the quiet zone, SVG path) from ppf-datamatrix."""
    matrix = DataMatrix(data)
    svg = matrix.svg()
    path = re.search(r'<path d="([^"]+)"', svg).group(1)
    size = int(re.search(r'width="(\d+)px"', svg).group(1))
    return size, path


def label_svg(*, barcode_data: str, coi_groups: str, flags: str, check: str | None,
              product: str, initials: str, date_of_birth: str, site: str) -> str:
    width, bar_height, bars = code128_bars(barcode_data)
    scale = 64.0 / width  # stretch the modules to the space beside the DataMatrix
    modules, path = datamatrix_path(barcode_data)
    dm_size = 26.0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_MM}mm" height="{HEIGHT_MM}mm" '
        f'viewBox="0 0 {WIDTH_MM} {HEIGHT_MM}" font-family="DejaVu Sans, Arial, sans-serif" '
        f'class="coi-label" role="img">',
        f"<title>COI label {escape(coi_groups)}</title>",
        f'<rect x="0.5" y="0.5" width="{WIDTH_MM - 1}" height="{HEIGHT_MM - 1}" fill="#ffffff" '
        'stroke="#000000" stroke-width="0.3" rx="2"/>',
        f'<g class="code128" transform="translate(2 3) scale({scale:.4f} 1)">',
    ]
    out += [f'<rect x="{x:.3f}" y="0" width="{w:.3f}" height="{bar_height}" fill="#000000"/>'
            for x, w in bars]
    out.append("</g>")
    # Eye-readable DIN, the flags, and the check character in its box.
    out.append(f'<text x="4.5" y="22" font-size="5.2" font-weight="bold" '
               f'class="eye-readable">{escape(coi_groups)}</text>')
    if flags:
        out.append(f'<text x="57" y="22" font-size="3" class="flags">{escape(flags)}</text>')
    if check:
        out.append('<rect x="62" y="17.4" width="5.6" height="5.8" fill="none" '
                   'stroke="#000000" stroke-width="0.35" class="check-box"/>')
        out.append(f'<text x="64.8" y="22" font-size="4.6" font-weight="bold" '
                   f'text-anchor="middle" class="check-character">{escape(check)}</text>')
    out.append(f'<g class="datamatrix" transform="translate(72 3) scale({dm_size / modules:.4f})">'
               f'<rect x="0" y="0" width="{modules}" height="{modules}" fill="#ffffff"/>'
               f'<path d="{path}" stroke="#000000" stroke-width="1" fill="none"/></g>')
    lines = [("Product", product), ("Initials", initials), ("Date of birth", date_of_birth),
             ("Manufacturing site", site)]
    for i, (label, value) in enumerate(lines):
        y = 29.5 + i * 5.2
        out.append(f'<text x="4.5" y="{y}" font-size="2.8" fill="#333333">{escape(label)}</text>'
                   f'<text x="33" y="{y}" font-size="3.6" font-weight="bold">{escape(value)}'
                   '</text>')
    out.append("</svg>")
    return "".join(out)
