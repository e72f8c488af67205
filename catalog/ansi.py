"""ANSI escape codes to HTML as JupyterLab shows them (pure; linear in the text's length).

The classes are nbconvert's and JupyterLab's (`ansi-red-fg`, `ansi-green-intense-bg`,
`ansi-bold`, `ansi-underline`, `ansi-default-inverse-fg`), styled in notebook.css; 256-colour
and true-colour codes become inline `rgb()` colours; bold makes the eight basic colours
intense, as in JupyterLab. Not nbconvert's own `ansi2html`: it slices the rest of the text at
every escape code, which is quadratic (18 s for 90,000 coloured words), and its pattern scans
to the end of a line for an unterminated code.
"""

from __future__ import annotations

import html
import re

_NAMES = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")
# CSI (ESC [ parameters intermediates final), OSC (ESC ] ... BEL or ESC \), other two-byte escapes.
_ESCAPE = re.compile(r"\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?")

Colour = int | tuple[int, int, int] | None


def _extended(numbers: list[int], at: int) -> tuple[Colour, int]:
    """Read a 38/48 colour (5;n or 2;r;g;b) from numbers at index at; return it and the next index."""
    if at < len(numbers) and numbers[at] == 5 and at + 1 < len(numbers):
        n = numbers[at + 1]
        if n < 16:
            return n, at + 2
        if n < 232:
            r, g, b = (n - 16) // 36, (n - 16) // 6 % 6, (n - 16) % 6
            return tuple(55 + 40 * c if c else 0 for c in (r, g, b)), at + 2  # type: ignore[return-value]
        if n < 256:
            grey = 8 + 10 * (n - 232)
            return (grey, grey, grey), at + 2
        return None, at + 2
    if at < len(numbers) and numbers[at] == 2 and at + 3 < len(numbers):
        rgb = tuple(numbers[at + 1 : at + 4])
        return (rgb if all(0 <= c <= 255 for c in rgb) else None), at + 4  # type: ignore[return-value]
    return None, len(numbers)


def _open_tag(fg: Colour, bg: Colour, bold: bool, underline: bool, inverse: bool) -> str:
    """Return the <span> opening tag for a style, or "" for the default style."""
    if bold and isinstance(fg, int) and fg < 8:
        fg += 8
    if inverse:
        fg, bg = bg, fg
    classes: list[str] = []
    styles: list[str] = []
    for colour, layer, default in ((fg, "fg", inverse), (bg, "bg", inverse)):
        if isinstance(colour, int):
            intense = "-intense" if colour >= 8 else ""
            classes.append(f"ansi-{_NAMES[colour % 8]}{intense}-{layer}")
        elif isinstance(colour, tuple):
            prop = "color" if layer == "fg" else "background-color"
            styles.append(f"{prop}: rgb({colour[0]}, {colour[1]}, {colour[2]})")
        elif default:
            classes.append(f"ansi-default-inverse-{layer}")
    if bold:
        classes.append("ansi-bold")
    if underline:
        classes.append("ansi-underline")
    if not classes and not styles:
        return ""
    attrs = f' class="{" ".join(classes)}"' if classes else ""
    attrs += f' style="{"; ".join(styles)}"' if styles else ""
    return f"<span{attrs}>"


def carriage_returns_apply(text: str) -> str:
    """Drop what a carriage return overwrites on its line (progress bars), as JupyterLab's output area does."""
    if "\r" not in text:
        return text
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join(line.rsplit("\r", 1)[-1] for line in lines)


def ansi_to_html(text: str) -> str:
    """Return text as HTML-escaped markup with its ANSI colours and styles as spans; other escapes dropped."""
    if "\x1b" not in text:
        return html.escape(text, quote=False)
    fg: Colour = None
    bg: Colour = None
    bold = underline = inverse = False
    out: list[str] = []
    tag = ""
    position = 0
    for match in _ESCAPE.finditer(text):
        chunk = text[position : match.start()]
        position = match.end()
        if chunk:
            out.append(f"{tag}{html.escape(chunk, quote=False)}</span>" if tag else html.escape(chunk, quote=False))
        if match.group(2) != "m":
            continue  # cursor movement, titles, hyperlinks...: nothing to show
        params = match.group(1) or "0"
        try:
            numbers = [int(n) if n else 0 for n in params.replace(":", ";").split(";")]
        except ValueError:
            continue
        i = 0
        while i < len(numbers):
            n = numbers[i]
            i += 1
            if n == 0:
                fg = bg = None
                bold = underline = inverse = False
            elif n in (1, 5):  # blink shows as bold, as in nbconvert
                bold = True
            elif n == 4:
                underline = True
            elif n == 7:
                inverse = True
            elif n in (21, 22):
                bold = False
            elif n == 24:
                underline = False
            elif n == 27:
                inverse = False
            elif 30 <= n <= 37:
                fg = n - 30
            elif n == 38:
                fg, i = _extended(numbers, i)
            elif n == 39:
                fg = None
            elif 40 <= n <= 47:
                bg = n - 40
            elif n == 48:
                bg, i = _extended(numbers, i)
            elif n == 49:
                bg = None
            elif 90 <= n <= 97:
                fg = n - 90 + 8
            elif 100 <= n <= 107:
                bg = n - 100 + 8
        tag = _open_tag(fg, bg, bold, underline, inverse)
    chunk = text[position:]
    if chunk:
        out.append(f"{tag}{html.escape(chunk, quote=False)}</span>" if tag else html.escape(chunk, quote=False))
    return "".join(out)
