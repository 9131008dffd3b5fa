#!/usr/bin/env python3
"""Builds world-110m.txt, the world map that node/src/charts embeds.

Run from anywhere: `python3 node/src/charts/data/build-world.py`. It fetches two npm
packages with `npm pack` (the only step that needs the network), decodes Natural Earth's
1:110m admin-0 countries from world-atlas's TopoJSON, names each country by its ISO 3166-1
alpha-2 code (world-atlas gives the numeric code; i18n-iso-countries maps it), rounds every
coordinate to 0.1 degree and writes one line per country. striae's build never runs this:
the output is committed. See README.md beside it for the data's origin and licence.

Output, after `#` comment lines, one country a line, tab-separated:
    CODE  LON LAT  NAME  RINGS
CODE is alpha-2 (`-` for shapes with no code, such as Somaliland); LON LAT is the arc
endpoint (the centroid of the country's largest polygon) in tenths of a degree; RINGS are
`|`-separated rings of space-separated `lon,lat` points in tenths of a degree (empty for
small states that 1:110m does not draw: their position comes from the 1:50m file).
"""

import json
import os
import subprocess
import sys
import tarfile
import tempfile

WORLD_ATLAS = "world-atlas@2.0.2"
ISO_CODES = "i18n-iso-countries@7.14.0"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "world-110m.txt")
# Shapes world-atlas leaves without a numeric id; Kosovo's user-assigned code is in use.
NAMED_CODES = {"Kosovo": "XK"}
# Antarctica takes a fifth of an equirectangular map and no firearm route ends there.
SKIP = {"AQ"}


def fetch(spec, into):
    """Downloads one npm package and unpacks it; returns its `package/` folder."""
    name = subprocess.run(
        ["npm", "pack", spec, "--silent"], cwd=into, check=True, capture_output=True, text=True
    ).stdout.strip().splitlines()[-1]
    with tarfile.open(os.path.join(into, name)) as tar:
        tar.extractall(os.path.join(into, spec.split("@")[0]), filter="data")
    return os.path.join(into, spec.split("@")[0], "package")


def decode_arcs(topo):
    """TopoJSON quantized, delta-encoded arcs to lists of (lon, lat) in degrees."""
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring(arcs, indexes):
    """Joins a ring's arcs (a negative index is arc ~i reversed), dropping shared ends."""
    points = []
    for i in indexes:
        arc = arcs[i] if i >= 0 else list(reversed(arcs[~i]))
        points.extend(arc if not points else arc[1:])
    return points


def unwrap(points):
    """Makes longitudes continuous, so a ring across the antimeridian goes past 180."""
    out = [points[0]]
    for x, y in points[1:]:
        px = out[-1][0]
        while x - px > 180:
            x -= 360
        while px - x > 180:
            x += 360
        out.append((x, y))
    return out


def clip(points, edge, keep_below):
    """Sutherland-Hodgman: the part of a ring on one side of the meridian `edge`."""
    inside = (lambda p: p[0] <= edge) if keep_below else (lambda p: p[0] >= edge)
    out = []
    for a, b in zip(points, points[1:] + points[:1]):
        if inside(a):
            out.append(a)
        if inside(a) != inside(b):
            t = (edge - a[0]) / (b[0] - a[0])
            out.append((edge, a[1] + t * (b[1] - a[1])))
    return out


def split_antimeridian(points):
    """An unwrapped ring as rings within -180..180: the map is equirectangular."""
    points = unwrap(points)
    lo, hi = min(p[0] for p in points), max(p[0] for p in points)
    if hi > 180:
        return [clip(points, 180, True), [(x - 360, y) for x, y in clip(points, 180, False)]]
    if lo < -180:
        return [clip(points, -180, False), [(x + 360, y) for x, y in clip(points, -180, True)]]
    return [points]


def polygons(geometry, arcs):
    """A geometry's polygons, each a list of rings (the first is the outer one)."""
    if geometry["type"] == "Polygon":
        return [[ring(arcs, r) for r in geometry["arcs"]]]
    if geometry["type"] == "MultiPolygon":
        return [[ring(arcs, r) for r in p] for p in geometry["arcs"]]
    return []


def area_centroid(points):
    """Signed area and centroid of a ring (planar, in degrees)."""
    a = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]):
        cross = x0 * y1 - x1 * y0
        a += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if a == 0:
        n = len(points)
        return 0.0, (sum(p[0] for p in points) / n, sum(p[1] for p in points) / n)
    return a / 2, (cx / (3 * a), cy / (3 * a))


def position(polys):
    """The centroid of the largest polygon: an arc lands in mainland France, not Guiana."""
    best = max(polys, key=lambda p: abs(area_centroid(unwrap(p[0]))[0]))
    x, y = area_centroid(unwrap(best[0]))[1]
    return (x + 180) % 360 - 180, y


def tenths(points):
    """Rounds to 0.1 degree, dropping repeated points; None when too few remain."""
    out = []
    for x, y in points:
        p = (round(x * 10), round(y * 10))
        if not out or out[-1] != p:
            out.append(p)
    if len(out) > 1 and out[0] == out[-1]:
        out.pop()
    return out if len(out) >= 3 else None


def countries(path, numeric):
    """(code, name, polygons) for every country of a world-atlas file."""
    topo = json.load(open(path))
    arcs = decode_arcs(topo)
    for g in topo["objects"]["countries"]["geometries"]:
        name = g["properties"]["name"]
        code = numeric.get(g.get("id")) or NAMED_CODES.get(name, "-")
        yield code, name, polygons(g, arcs)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        atlas = fetch(WORLD_ATLAS, tmp)
        iso = fetch(ISO_CODES, tmp)
        numeric = {n: a2 for a2, _a3, n, _ in json.load(open(os.path.join(iso, "codes.json")))}
        lines = []
        drawn = set()
        for code, name, polys in countries(os.path.join(atlas, "countries-110m.json"), numeric):
            if code in SKIP or not polys:
                continue
            parts = [part for p in polys for r in p for part in split_antimeridian(r)]
            rings = [r for r in (tenths(p) for p in parts if p) if r]
            x, y = position(polys)
            drawn.add(code)
            lines.append((code, round(x * 10), round(y * 10), name, rings))
        for code, name, polys in countries(os.path.join(atlas, "countries-50m.json"), numeric):
            if code in drawn or code in SKIP or code == "-" or not polys:
                continue
            x, y = position(polys)
            drawn.add(code)
            lines.append((code, round(x * 10), round(y * 10), name, []))
    lines.sort(key=lambda l: (l[0] == "-", l[0], l[3]))
    with open(OUT, "w") as out:
        out.write(f"# Natural Earth 4.1.0 admin-0 countries, 1:110m (1:50m positions for small\n")
        out.write(f"# states), from npm {WORLD_ATLAS}; codes from npm {ISO_CODES}.\n")
        out.write("# Public domain map data. Generated by build-world.py: do not edit.\n")
        for code, x, y, name, rings in lines:
            shape = "|".join(" ".join(f"{a},{b}" for a, b in r) for r in rings)
            out.write(f"{code}\t{x} {y}\t{name}\t{shape}\n")
    print(f"{OUT}: {len(lines)} countries, {os.path.getsize(OUT)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
