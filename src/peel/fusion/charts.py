"""Network charts for the fusion pages: a seeded spring layout and the shapes of each node type.

The layout is computed on the server (networkx ``spring_layout`` with a fixed seed, so the same
network is always drawn the same way) and drawn as inline SVG by the templates: the chart
works without JavaScript, and a table beside it says the same in words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import networkx as nx

from peel.fusion.schemas import Network, NetworkEdge, NetworkNode

#: The same network is always laid out the same way.
LAYOUT_SEED = 7
#: Room left round the edge of the chart for labels (a fraction of its width and height).
MARGIN = 0.08
#: Labels longer than this are cut short on the chart (the table shows them whole).
LABEL_CHARS = 30

#: How each entity type is drawn: (shape, colour class, legend text).
NODE_STYLES: dict[str, tuple[str, str, str]] = {
    "Person": ("circle", "person", "Person"),
    "Address": ("square", "address", "Address"),
    "Event": ("diamond", "event", "Event"),
    "Vehicle": ("rect", "vehicle", "Vehicle"),
    "Phone": ("triangle", "phone", "Phone"),
    "Email": ("triangle", "email", "Email"),
    "Organisation": ("hexagon", "organisation", "School or organisation"),
}
OTHER_STYLE = ("circle", "other", "Other")


def style_of(schema: str) -> tuple[str, str, str]:
    return NODE_STYLES.get(schema, OTHER_STYLE)


def short_label(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1].rstrip() + "…"


def layout(
    node_ids: Iterable[str], edges: Iterable[tuple[str, str]]
) -> dict[str, tuple[float, float]]:
    """Positions from 0 to 1 (inside the margin) for every node, the same on every call."""
    graph: nx.Graph[str] = nx.Graph()
    graph.add_nodes_from(sorted(node_ids))
    graph.add_edges_from(sorted((a, b) for a, b in edges if a != b))
    if graph.number_of_nodes() == 0:
        return {}
    if graph.number_of_nodes() == 1:
        return {next(iter(graph.nodes)): (0.5, 0.5)}
    raw = nx.spring_layout(graph, seed=LAYOUT_SEED, iterations=100)
    xs = [float(p[0]) for p in raw.values()]
    ys = [float(p[1]) for p in raw.values()]
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    inner = 1 - 2 * MARGIN
    return {
        str(node): (
            MARGIN + inner * (float(p[0]) - min(xs)) / span_x,
            MARGIN + inner * (float(p[1]) - min(ys)) / span_y,
        )
        for node, p in raw.items()
    }


def placed(nodes: list[NetworkNode], edges: list[NetworkEdge], left_out: int = 0) -> Network:
    """The network with every node given its place in the chart."""
    positions = layout((n.id for n in nodes), ((e.source, e.target) for e in edges))
    for node in nodes:
        node.x, node.y = positions.get(node.id, (0.5, 0.5))
    ordered = sorted(nodes, key=lambda n: (n.hops, n.schema_name, n.label, n.id))
    return Network(nodes=ordered, edges=edges, left_out=left_out)


#: The chart's size in SVG units (it scales to the page's width).
WIDTH = 960
HEIGHT = 600
NODE_SIZE = 11


def _points(pairs: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in pairs)


def node_shape(
    schema: str, x: float, y: float, size: float = NODE_SIZE
) -> tuple[str, dict[str, str]]:
    """The SVG element and attributes drawing one node of this type centred on (x, y)."""
    shape = style_of(schema)[0]
    s = size
    if shape == "circle":
        return "circle", {"cx": f"{x:.1f}", "cy": f"{y:.1f}", "r": f"{s:.1f}"}
    if shape in ("square", "rect"):
        w, h = (s * 0.9, s * 0.9) if shape == "square" else (s * 1.3, s * 0.75)
        return "rect", {
            "x": f"{x - w:.1f}",
            "y": f"{y - h:.1f}",
            "width": f"{2 * w:.1f}",
            "height": f"{2 * h:.1f}",
        }
    if shape == "diamond":
        corners = [(x, y - s * 1.2), (x + s * 1.2, y), (x, y + s * 1.2), (x - s * 1.2, y)]
    elif shape == "triangle":
        corners = [(x, y - s * 1.1), (x + s * 1.1, y + s * 0.8), (x - s * 1.1, y + s * 0.8)]
    else:
        corners = [
            (x + s * math.cos(math.pi / 3 * k), y + s * math.sin(math.pi / 3 * k)) for k in range(6)
        ]
    return "polygon", {"points": _points(corners)}


def legend(network: Network) -> list[tuple[str, str, str, dict[str, str]]]:
    """One entry per node type in the chart: (css class, text, SVG element, attributes)."""
    seen = sorted({n.schema_name for n in network.nodes}, key=lambda s: style_of(s)[2])
    return [(style_of(s)[1], style_of(s)[2], *node_shape(s, 12, 12, 8)) for s in seen]
