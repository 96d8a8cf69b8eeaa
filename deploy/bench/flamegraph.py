#!/usr/bin/env python3
"""Turn Linux `perf script` output into a flame graph SVG (standard library only).

Each perf sample (a header line followed by its call stack, leaf first, and a
blank line) is folded into one "root;...;leaf" stack, weighted by the header's
period (or 1 when there is none) and prefixed with the thread/command name, so
threads such as the SQLite writer and the tokio workers appear side by side.
Folding is streamed line by line, so inputs of hundreds of MB are fine: only
the distinct stacks are kept.

The SVG is a classic flame graph (root at the bottom, 1200 px wide, 16 px rows).
Frames narrower than 0.1% of the total are left out; hovering a frame shows its
full name, sample count and share. Colours are derived from a hash of the frame
name, so a function has the same colour in every graph; frames of Rhein's own
crates (paths starting with ``rhein::`` or ``rhein_*::``) are blue so they
stand out.

Usage:
    perf record -F 999 -g -p PID -- sleep 30
    perf script -i perf.data | python3 deploy/bench/flamegraph.py \\
        --title "Rhein, messages scenario" > out.svg
    python3 deploy/bench/flamegraph.py --input perf.script --title T \\
        --output out.svg --collapsed-out out.folded

The folded stacks written by --collapsed-out ("frame;frame;frame count" per
line, sorted) are handy for diffing two runs.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import sys
from dataclasses import dataclass, field
from typing import IO, Iterable, Iterator, Optional

SVG_WIDTH = 1200
ROW_HEIGHT = 16
SIDE_PAD = 10
TOP_PAD = 62  # room for the title and the subtitle
BOTTOM_PAD = 10
FONT_SIZE = 12
CHAR_WIDTH = 7.0  # approximate width of one character at FONT_SIZE
MIN_LABEL_CHARS = 3
DEFAULT_MIN_PERCENT = 0.1
ROOT_NAME = "all"
# A frame is Rhein's when its path starts in the `rhein` binary crate or one of
# the `rhein_*` library crates (after a leading "<" or "&" of a trait impl).
RHEIN_FRAME_RE = re.compile(r"^[<&\s]*(?:(?:mut|dyn)\s+)*rhein(?:_\w+)?::")

# "comm pid[/tid] [cpu] time: [period] event: [ip sym (dso)]"; the command name
# may contain spaces, the event may contain colons (cycles:P, cpu-clock:ppp).
HEADER_RE = re.compile(
    r"^(?P<comm>.+?)\s+(?P<pid>-?\d+)(?:/(?P<tid>-?\d+))?"
    r"(?:\s+\[(?P<cpu>\d+)\])?"
    r"(?:\s+(?P<time>\d+(?:\.\d+)?):)?"
    r"(?:\s+(?P<period>\d+))?"
    r"\s+(?P<event>\S+?):(?:\s+(?P<rest>.*))?$"
)
# "55d0c1a2b3c4 symbol+0x1f (/path/to/binary)"
FRAME_RE = re.compile(r"^(?P<addr>[0-9a-fA-F]+)\s+(?P<rest>.+)$")
SYMBOL_WITH_OFFSET_RE = re.compile(r"^(?P<sym>.*)\+0x[0-9a-fA-F]+ \((?P<dso>.*)\)$")
OFFSET_RE = re.compile(r"\+0x[0-9a-fA-F]+$")
RUST_HASH_RE = re.compile(r"::h[0-9a-f]{16}$")
EVENT_MODIFIERS_RE = re.compile(r":[ukhIGHpPSDWe]+$")  # cycles:P -> cycles
INVALID_XML_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
UNKNOWN = "[unknown]"
FRAME_CACHE_LIMIT = 1_000_000


# ---------------------------------------------------------------- parsing


@dataclass
class Header:
    """The fields of a sample header line that the flame graph needs."""

    comm: str
    weight: int
    event: str
    inline_frame: Optional[str]  # the frame printed on the header line, if any


@dataclass
class Folded:
    """Folded stacks: "root;...;leaf" -> [weight, number of samples]."""

    stacks: dict[str, list[int]] = field(default_factory=dict)
    samples: int = 0
    weight: int = 0
    events: set[str] = field(default_factory=set)
    has_period: bool = True


def parse_header(line: str) -> Optional[Header]:
    """Parse a sample header line; None if the line is not one."""
    match = HEADER_RE.match(line.rstrip())
    if match is None:
        return None
    period = match.group("period")
    rest = match.group("rest")
    inline = frame_name_from_text(rest) if rest else None
    return Header(
        comm=match.group("comm").strip(),
        weight=int(period) if period is not None else 0,
        event=match.group("event"),
        inline_frame=inline,
    )


def split_symbol_and_dso(text: str) -> tuple[str, str]:
    """Split "symbol+0x1f (/path/bin)" into ("symbol", "/path/bin")."""
    match = SYMBOL_WITH_OFFSET_RE.match(text)
    if match is not None:
        return match.group("sym"), match.group("dso")
    if text.endswith(" (deleted))"):
        text = text[: -len(" (deleted))")] + ")"
    if text.endswith(")"):
        cut = text.rfind(" (")
        if cut >= 0:
            return text[:cut], text[cut + 2 : -1]
    return text, UNKNOWN


def clean_symbol(symbol: str) -> str:
    """Strip the "+0x.." offset and a trailing Rust hash from a symbol."""
    symbol = OFFSET_RE.sub("", symbol.strip())
    symbol = RUST_HASH_RE.sub("", symbol)
    return symbol.replace(";", ":")  # ";" separates frames in folded stacks


def frame_name(symbol: str, dso: str) -> str:
    """The display name of a frame: its symbol, or "[unknown] (module)"."""
    symbol = clean_symbol(symbol)
    if symbol and symbol != UNKNOWN:
        return symbol
    module = os.path.basename(dso.rstrip("/")) or dso
    if not module or module == UNKNOWN:
        return UNKNOWN
    return f"{UNKNOWN} ({module})".replace(";", ":")


def frame_name_from_text(text: str) -> Optional[str]:
    """Name of the frame in "addr symbol+off (dso)", or None if not a frame."""
    match = FRAME_RE.match(text.strip())
    if match is None:
        return None
    return frame_name(*split_symbol_and_dso(match.group("rest")))


class FrameNamer:
    """Memoised frame_name_from_text: the same frame lines recur constantly."""

    def __init__(self) -> None:
        self._cache: dict[str, Optional[str]] = {}

    def __call__(self, line: str) -> Optional[str]:
        name = self._cache.get(line)
        if name is None and line not in self._cache:
            if len(self._cache) >= FRAME_CACHE_LIMIT:
                self._cache.clear()
            name = frame_name_from_text(line)
            self._cache[line] = name
        return name


def add_sample(folded: Folded, header: Header, frames_leaf_first: list[str]) -> None:
    """Fold one sample into the stack table."""
    frames = list(reversed(frames_leaf_first))
    if not frames and header.inline_frame:
        frames = [header.inline_frame]
    stack = ";".join([header.comm.replace(";", ":")] + frames)
    weight = header.weight if header.weight > 0 else 1
    if header.weight <= 0:
        folded.has_period = False
    entry = folded.stacks.get(stack)
    if entry is None:
        folded.stacks[stack] = [weight, 1]
    else:
        entry[0] += weight
        entry[1] += 1
    folded.samples += 1
    folded.weight += weight
    folded.events.add(header.event)


def fold_perf_script(lines: Iterable[str], use_period: bool = True) -> Folded:
    """Fold the samples of `perf script` output, streaming line by line."""
    folded = Folded()
    namer = FrameNamer()
    header: Optional[Header] = None
    frames: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if header is not None:
                name = namer(line)
                if name is not None:
                    frames.append(name)
            continue
        if header is not None:  # blank line, or a new header without one
            add_sample(folded, header, frames)
            header, frames = None, []
        if line.strip():
            header = parse_header(line)
            if header is not None and not use_period:
                header.weight = 0
    if header is not None:
        add_sample(folded, header, frames)
    if not use_period:
        folded.has_period = False
    return folded


def write_collapsed(folded: Folded, out: IO[str]) -> None:
    """Write "frame;frame;frame weight" lines, sorted by stack."""
    for stack in sorted(folded.stacks):
        out.write(f"{stack} {folded.stacks[stack][0]}\n")


# ---------------------------------------------------------------- layout


class Node:
    """One frame of the merged call tree."""

    __slots__ = ("name", "weight", "samples", "children")

    def __init__(self, name: str) -> None:
        self.name = name
        self.weight = 0
        self.samples = 0
        self.children: dict[str, Node] = {}


@dataclass
class Box:
    """A frame placed on the graph: x and width in weight units, depth 0 = root."""

    node: Node
    x: int
    depth: int


def build_tree(folded: Folded) -> Node:
    """Merge the folded stacks into a call tree under a synthetic root."""
    root = Node(ROOT_NAME)
    for stack, (weight, samples) in folded.stacks.items():
        node = root
        node.weight += weight
        node.samples += samples
        for name in stack.split(";"):
            child = node.children.get(name)
            if child is None:
                child = node.children[name] = Node(name)
            child.weight += weight
            child.samples += samples
            node = child
    return root


def place_frames(root: Node, min_weight: float) -> list[Box]:
    """Lay out the tree (children sorted by name), dropping too-narrow frames."""
    boxes: list[Box] = []
    pending: list[tuple[Node, int, int]] = [(root, 0, 0)]
    while pending:
        node, x, depth = pending.pop()
        if node.weight < min_weight:
            continue
        boxes.append(Box(node, x, depth))
        child_x = x
        placed: list[tuple[Node, int, int]] = []
        for name in sorted(node.children):
            child = node.children[name]
            placed.append((child, child_x, depth + 1))
            child_x += child.weight
        pending.extend(reversed(placed))
    return boxes


# ---------------------------------------------------------------- rendering


def name_hash(name: str) -> tuple[float, float, float]:
    """Three stable values in [0, 1] derived from a name (not Python's hash())."""
    digest = hashlib.md5(name.encode("utf-8", "replace")).digest()
    return digest[0] / 255, digest[1] / 255, digest[2] / 255


def is_rhein_frame(name: str) -> bool:
    """Whether a frame is Rhein's own code: its path starts in a rhein crate.

    "rhein_c2s::stream::run" and "<rhein_core::Jid as Display>::fmt" count;
    a tokio or std function that merely has a Rhein type among its generic
    arguments does not, or all of tokio's scaffolding would turn blue.
    """
    return RHEIN_FRAME_RE.match(name) is not None


def frame_colour(name: str) -> str:
    """Warm colour for a frame; blue-ish for Rhein's own crates."""
    v1, v2, v3 = name_hash(name)
    if is_rhein_frame(name):
        red, green, blue = 50 + 60 * v1, 120 + 70 * v2, 205 + 50 * v3
    else:
        red, green, blue = 205 + 50 * v1, 230 * v2, 55 * v3
    return f"rgb({int(red)},{int(green)},{int(blue)})"


def xml_text(text: str) -> str:
    """Escape text for XML content and attributes, dropping invalid characters."""
    text = INVALID_XML_RE.sub("?", text)
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def fit_label(name: str, width_px: float) -> str:
    """The text that fits in a frame width_px wide ("" if under 3 chars fit)."""
    fits = int((width_px - 6) / CHAR_WIDTH)
    if fits < MIN_LABEL_CHARS:
        return ""
    if len(name) <= fits:
        return name
    return name[: fits - 2] + ".."


def format_count(node: Node, total: int, unit: Optional[str]) -> str:
    """Tooltip numbers: samples, weight (when it differs) and percentage."""
    percent = 100.0 * node.weight / total if total else 0.0
    parts = [f"{node.samples:,} sample{'' if node.samples == 1 else 's'}"]
    if unit is not None:
        parts.append(f"{node.weight:,} {unit}")
    parts.append(f"{percent:.2f}%")
    return ", ".join(parts)


def weight_unit(folded: Folded) -> Optional[str]:
    """Name of the weight unit (the event) if samples were weighted by period."""
    if not folded.has_period:
        return None
    if len(folded.events) != 1:
        return "weight"
    return EVENT_MODIFIERS_RE.sub("", next(iter(folded.events)))


def render_frame(box: Box, scale: float, height: int, total: int, unit: Optional[str]) -> str:
    """One <g> with the frame's tooltip, rectangle and label."""
    x = SIDE_PAD + box.x * scale
    width = box.node.weight * scale
    y = height - BOTTOM_PAD - (box.depth + 1) * ROW_HEIGHT
    name = box.node.name
    title = f"{name} ({format_count(box.node, total, unit)})"
    label = fit_label(name, width)
    colour = "rgb(200,200,200)" if box.depth == 0 else frame_colour(name)
    parts = [
        f'<g><title>{xml_text(title)}</title>',
        f'<rect x="{x:.2f}" y="{y}" width="{width:.2f}" height="{ROW_HEIGHT - 1}" '
        f'fill="{colour}" rx="2" ry="2"/>',
    ]
    if label:
        parts.append(f'<text x="{x + 3:.2f}" y="{y + 11.5}">{xml_text(label)}</text>')
    parts.append("</g>")
    return "".join(parts)


def subtitle_text(folded: Folded, unit: Optional[str]) -> str:
    """The line under the title: the number of samples and their total weight."""
    text = f"{folded.samples:,} samples"
    if unit is not None:
        text += f", {folded.weight:,} {unit}"
    return text


def render_svg(folded: Folded, title: str, min_percent: float) -> Iterator[str]:
    """Yield the SVG document piece by piece."""
    total = folded.weight
    unit = weight_unit(folded)
    boxes = place_frames(build_tree(folded), total * min_percent / 100.0) if total else []
    depth = max((box.depth for box in boxes), default=0)
    height = TOP_PAD + (depth + 1) * ROW_HEIGHT + BOTTOM_PAD
    scale = (SVG_WIDTH - 2 * SIDE_PAD) / total if total else 0.0
    subtitle = subtitle_text(folded, unit) if total else "no samples found in the input"
    if total:
        subtitle += f"; frames under {min_percent:g}% omitted; hover for details"
    yield (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{SVG_WIDTH}" '
        f'height="{height}" viewBox="0 0 {SVG_WIDTH} {height}">\n'
        '<defs><linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">'
        '<stop stop-color="#eeeeee" offset="5%"/><stop stop-color="#eeeeb0" offset="95%"/>'
        "</linearGradient></defs>\n"
        "<style>text { font-family: Verdana, 'DejaVu Sans', sans-serif; "
        f"font-size: {FONT_SIZE}px; fill: #000; }} "
        "g:hover > rect { stroke: #000; stroke-width: 0.5; } "
        ".title { font-size: 17px; } .subtitle { fill: #555; }</style>\n"
        f'<rect x="0" y="0" width="{SVG_WIDTH}" height="{height}" fill="url(#bg)"/>\n'
        f'<text class="title" x="{SVG_WIDTH / 2}" y="24" text-anchor="middle">'
        f"{xml_text(title)}</text>\n"
        f'<text class="subtitle" x="{SVG_WIDTH / 2}" y="44" text-anchor="middle">'
        f"{xml_text(subtitle)}</text>\n"
    )
    for box in boxes:
        yield render_frame(box, scale, height, total, unit) + "\n"
    yield "</svg>\n"


# ---------------------------------------------------------------- command line


def open_input(path: Optional[str]) -> IO[str]:
    """The perf script text: a file, or standard input for None or "-"."""
    if path is None or path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        description="Turn `perf script` output into a flame graph SVG."
    )
    parser.add_argument("--input", "-i", help="perf script text (default: standard input)")
    parser.add_argument("--output", "-o", help="SVG file to write (default: standard output)")
    parser.add_argument("--title", default="Flame Graph", help="title shown at the top")
    parser.add_argument("--collapsed-out", metavar="FILE",
                        help="also write the folded stacks ('a;b;c weight' lines, sorted)")
    parser.add_argument("--min-percent", type=float, default=DEFAULT_MIN_PERCENT,
                        help="omit frames narrower than this share of the total (default 0.1)")
    parser.add_argument("--no-period", action="store_true",
                        help="count every sample as 1 instead of weighting it by its period")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    """Fold the input, write the folded stacks if asked, then the SVG."""
    args = parse_args(argv)
    with open_input(args.input) as source:
        folded = fold_perf_script(source, use_period=not args.no_period)
    if folded.samples == 0:
        print("flamegraph.py: no samples found in the input", file=sys.stderr)
    if args.collapsed_out:
        with open(args.collapsed_out, "w", encoding="utf-8") as out:
            write_collapsed(folded, out)
    svg = render_svg(folded, args.title, args.min_percent)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.writelines(svg)
    else:
        sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
        sys.stdout.writelines(svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
