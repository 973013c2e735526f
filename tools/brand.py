"""Draw the MQTT Fleet brand images (icon, logo and their dark variants).

The mark is a broker hub with four device nodes on thick spokes; the logo adds the
wordmark "MQTT Fleet", whose letters are drawn here as stroked paths so that no font
has to be installed and every machine renders the same pixels. The SVG is built in
code, rendered with resvg (the ``resvg-py`` wheel, no system library) and written as
trimmed RGBA PNGs into ``custom_components/mqtt_fleet/brand/``, which Home Assistant
(2026.3+) serves at ``/api/brands/integration/mqtt_fleet/...``.

Regenerate from the repository root with:

    .venv/bin/python tools/brand.py
"""

from __future__ import annotations

from dataclasses import dataclass
import io
import math
from pathlib import Path

from PIL import Image
import resvg_py

BRAND_DIR = Path(__file__).resolve().parent.parent / "custom_components" / "mqtt_fleet" / "brand"


@dataclass(frozen=True)
class Palette:
    """Colours of one variant: light UIs get deep tones, dark UIs light ones."""

    device: str
    hub: str
    text: str


LIGHT = Palette(device="#660066", hub="#B5179E", text="#3A1E45")
DARK = Palette(device="#E7A8E4", hub="#FF6FD8", text="#F4EEF6")

# The mark lives in a 100 x 100 box that it fills edge to edge (trimmed by design).
MARK = 100.0
DEVICE = 26.0  # side of a device square
DEVICE_RADIUS = 6.0
SPOKE = 9.0  # spoke width: about 3 px at 32 px, so the spokes survive a small icon
HUB = 17.0  # hub radius
HUB_GAP = 5.0  # transparent ring between hub and spokes, keeps the hub a separate shape


def _fmt(value: float) -> str:
    """Print a coordinate compactly and identically on every run."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def mark_svg(palette: Palette, x: float = 0.0, y: float = 0.0, size: float = MARK) -> str:
    """Return the mark as SVG elements, scaled into the square at (x, y)."""
    half = DEVICE / 2
    centres = [(half, half), (MARK - half, half), (half, MARK - half), (MARK - half, MARK - half)]
    spokes = "".join(
        f'<line x1="50" y1="50" x2="{_fmt(cx)}" y2="{_fmt(cy)}"/>' for cx, cy in centres
    )
    devices = "".join(
        f'<rect x="{_fmt(cx - half)}" y="{_fmt(cy - half)}" width="{_fmt(DEVICE)}" '
        f'height="{_fmt(DEVICE)}" rx="{_fmt(DEVICE_RADIUS)}"/>'
        for cx, cy in centres
    )
    scale = size / MARK
    # The mask cuts a ring around the hub out of the spokes, so the hub reads as its own
    # node on any background instead of melting into the lines.
    mask_id = f"gap{palette.device[1:]}"
    return (
        f'<g transform="translate({_fmt(x)} {_fmt(y)}) scale({_fmt(scale)})">'
        f'<mask id="{mask_id}" maskUnits="userSpaceOnUse" x="0" y="0" width="100" height="100">'
        f'<rect width="100" height="100" fill="#fff"/>'
        f'<circle cx="50" cy="50" r="{_fmt(HUB + HUB_GAP)}" fill="#000"/></mask>'
        f'<g mask="url(#{mask_id})" stroke="{palette.device}" stroke-width="{_fmt(SPOKE)}">'
        f"{spokes}</g>"
        f'<g fill="{palette.device}">{devices}</g>'
        f'<circle cx="50" cy="50" r="{_fmt(HUB)}" fill="{palette.hub}"/>'
        "</g>"
    )


# Wordmark metrics, in units where the capital height is CAP and the baseline is y = 0.
CAP = 100.0
XHEIGHT = 74.0
ASCENDER = 104.0
STROKE = 17.0  # bold monoline weight
TRACK = 13.0  # space between letters
WORD_SPACE = 34.0
OVERSHOOT = 2.0  # round letters reach slightly past the flat ones, as in type


@dataclass(frozen=True)
class Glyph:
    """One letter: stroked centre-line paths and its clip box, in wordmark units."""

    width: float
    paths: tuple[str, ...]
    clip: tuple[float, float, float, float]  # x0, y0, x1, y1: squares off stroke ends


def _glyph_m() -> Glyph:
    width, half = 92.0, STROKE / 2
    path = (
        f"M{_fmt(half)} {_fmt(half)}V{_fmt(-CAP)}L{_fmt(width / 2)} {_fmt(-CAP * 0.3)}"
        f"L{_fmt(width - half)} {_fmt(-CAP)}V{_fmt(half)}"
    )
    return Glyph(width, (path,), (0, -CAP, width, 0))


def _glyph_q() -> Glyph:
    radius = CAP / 2 + OVERSHOOT - STROKE / 2
    cx, cy = CAP / 2 + OVERSHOOT, -CAP / 2
    ring = (
        f"M{_fmt(cx - radius)} {_fmt(cy)}a{_fmt(radius)} {_fmt(radius)} 0 1 0 "
        f"{_fmt(2 * radius)} 0a{_fmt(radius)} {_fmt(radius)} 0 1 0 {_fmt(-2 * radius)} 0Z"
    )
    tail = f"M{_fmt(cx + 8)} {_fmt(-24)}L{_fmt(cx + 44)} {_fmt(12)}"
    width = CAP + 2 * OVERSHOOT
    return Glyph(width, (ring, tail), (-OVERSHOOT, -CAP - OVERSHOOT, width + 6, 12))


def _glyph_t_cap() -> Glyph:
    width, half = 76.0, STROKE / 2
    path = f"M0 {_fmt(-CAP + half)}H{_fmt(width)}M{_fmt(width / 2)} {_fmt(-CAP)}V0"
    return Glyph(width, (path,), (0, -CAP, width, 0))


def _glyph_f() -> Glyph:
    width, half = 62.0, STROKE / 2
    path = (
        f"M{_fmt(half)} 0V{_fmt(-CAP)}M0 {_fmt(-CAP + half)}H{_fmt(width)}"
        f"M0 {_fmt(-CAP * 0.48)}H{_fmt(width - 8)}"
    )
    return Glyph(width, (path,), (0, -CAP, width, 0))


def _glyph_l() -> Glyph:
    half = STROKE / 2
    return Glyph(STROKE, (f"M{_fmt(half)} 0V{_fmt(-ASCENDER)}",), (0, -ASCENDER, STROKE, 0))


def _glyph_e() -> Glyph:
    radius = XHEIGHT / 2 + OVERSHOOT - STROKE / 2
    cx, cy = XHEIGHT / 2 + OVERSHOOT, -XHEIGHT / 2
    angle = math.radians(42)
    end_x, end_y = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
    bar_y = cy
    path = (
        f"M{_fmt(cx - radius)} {_fmt(bar_y)}H{_fmt(cx + radius)}"
        f"A{_fmt(radius)} {_fmt(radius)} 0 1 0 {_fmt(end_x)} {_fmt(end_y)}"
    )
    width = XHEIGHT + 2 * OVERSHOOT
    return Glyph(width, (path,), (0, -XHEIGHT - OVERSHOOT, width, OVERSHOOT))


def _glyph_t() -> Glyph:
    half = STROKE / 2
    stem_x, foot = 20.0, 16.0
    width = 46.0
    path = (
        f"M{_fmt(stem_x)} {_fmt(-CAP * 0.9)}V{_fmt(-half - foot)}"
        f"A{_fmt(foot)} {_fmt(foot)} 0 0 0 {_fmt(stem_x + foot)} {_fmt(-half)}H{_fmt(width)}"
        f"M0 {_fmt(-XHEIGHT + half)}H{_fmt(width - 4)}"
    )
    return Glyph(width, (path,), (0, -CAP, width, 0))


GLYPHS = {
    "M": _glyph_m,
    "Q": _glyph_q,
    "T": _glyph_t_cap,
    "F": _glyph_f,
    "l": _glyph_l,
    "e": _glyph_e,
    "t": _glyph_t,
}


def wordmark_svg(text: str, colour: str, clip_prefix: str) -> tuple[str, float]:
    """Return the wordmark's SVG elements (baseline y = 0) and its advance width."""
    defs: list[str] = []
    body: list[str] = []
    x = 0.0
    for index, char in enumerate(text):
        if char == " ":
            x += WORD_SPACE - TRACK
            continue
        glyph = GLYPHS[char]()
        x0, y0, x1, y1 = glyph.clip
        clip_id = f"{clip_prefix}{index}"
        defs.append(
            f'<clipPath id="{clip_id}"><rect x="{_fmt(x0)}" y="{_fmt(y0)}" '
            f'width="{_fmt(x1 - x0)}" height="{_fmt(y1 - y0)}"/></clipPath>'
        )
        paths = "".join(f'<path d="{d}"/>' for d in glyph.paths)
        body.append(
            f'<g transform="translate({_fmt(x)} 0)"><g clip-path="url(#{clip_id})">{paths}</g></g>'
        )
        x += glyph.width + TRACK
    width = x - TRACK
    svg = (
        f"<defs>{''.join(defs)}</defs>"
        f'<g fill="none" stroke="{colour}" stroke-width="{_fmt(STROKE)}" '
        f'stroke-linejoin="miter" stroke-miterlimit="10">{"".join(body)}</g>'
    )
    return svg, width


def icon_svg(palette: Palette) -> str:
    """Return the square icon: the mark alone, filling its canvas."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_fmt(MARK)} {_fmt(MARK)}">'
        f"{mark_svg(palette)}</svg>"
    )


LOGO_TEXT = "MQTT Fleet"
TEXT_SCALE = 0.5  # cap height as a share of the mark's height
TEXT_GAP = 0.22  # space between mark and wordmark, as a share of the mark's height


def logo_svg(palette: Palette) -> str:
    """Return the landscape logo: the mark, then the wordmark centred on it."""
    words, words_width = wordmark_svg(LOGO_TEXT, palette.text, f"c{palette.text[1:]}")
    scale = MARK * TEXT_SCALE / CAP
    text_x = MARK * (1 + TEXT_GAP)
    baseline = MARK / 2 + CAP * scale / 2
    width = text_x + words_width * scale
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_fmt(width)} {_fmt(MARK)}">'
        f"{mark_svg(palette)}"
        f'<g transform="translate({_fmt(text_x)} {_fmt(baseline)}) scale({_fmt(scale)})">'
        f"{words}</g></svg>"
    )


def render(svg: str, height: int) -> bytes:
    """Render at the given pixel height, trim any transparent edge, and re-encode small.

    Only the height is passed: resvg derives the width from the viewBox, while passing
    both makes it fit the width and round the height up by a pixel.
    """
    png = resvg_py.svg_to_bytes(svg_string=svg, height=height, skip_system_fonts=True)
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    bbox = image.getbbox()
    if bbox is not None and bbox != (0, 0, *image.size):
        image = image.crop(bbox)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    """Write the icon and logo in both variants and both resolutions."""
    BRAND_DIR.mkdir(parents=True, exist_ok=True)
    jobs = {
        "icon.png": (icon_svg(LIGHT), 256),
        "icon@2x.png": (icon_svg(LIGHT), 512),
        "dark_icon.png": (icon_svg(DARK), 256),
        "dark_icon@2x.png": (icon_svg(DARK), 512),
        "logo.png": (logo_svg(LIGHT), 128),
        "logo@2x.png": (logo_svg(LIGHT), 256),
        "dark_logo.png": (logo_svg(DARK), 128),
        "dark_logo@2x.png": (logo_svg(DARK), 256),
    }
    for name, (svg, height) in jobs.items():
        data = render(svg, height)
        (BRAND_DIR / name).write_bytes(data)
        with Image.open(io.BytesIO(data)) as image:
            print(f"{name}: {image.width}x{image.height}, {len(data)} bytes")


if __name__ == "__main__":
    main()
