"""A synthetic ANPR region: towns, roads, cameras, vehicles and their trips, with planted truth.

Everything is generated from a seed, so the same arguments give the same files:

* **Towns** with invented names and populations (a few large towns, many villages) are
  scattered over a box in Great Britain, on land only (a coarse coastline per region).
* **Roads** join neighbouring towns (a Delaunay triangulation, longest links dropped, kept
  connected by its minimum spanning tree); each link is a dual carriageway, an A road or a
  B road with its own speed.
* **Cameras** stand at town entry points (one per direction) and along roads (one or both
  directions); each reads its direction of travel and has its own detection and misread
  rates, and some report make, model and colour.
* **Vehicles** have a home town, and most commute on weekdays (a habitual time with daily
  jitter, slower in the peaks); all make errands, evening and weekend trips chosen by a
  gravity model. Trips follow the quickest path; every camera on the path may read the
  plate (about 9 in 10 passages), with a confidence of 0.6–0.99 and, now and then, a
  look-alike character swapped (0/O/D/Q, 1/I, 2/Z, 5/S, 8/B, 6/G).
* **Planted truth** (``truth.json``): convoys (followers trailing a target by 10–90 s on
  several trips), cloned plates (a second car with the same plate but another make and
  colour, living elsewhere in the region, so impossible journeys appear) and county-lines
  runners (repeated short-dwell round trips from a hub town to distant towns).

The work is vectorised: quickest paths and the cameras on them are computed once per pair of
towns, trips are drawn for all vehicles at once, and reads are expanded from trips with
numpy. Output (``write``): ``cameras.csv``, ``register.csv``, ``reads/reads-YYYY-MM-DD.*``
(Parquet, CSV or NDJSON, in the columns the importer takes) and ``truth.json``.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra, minimum_spanning_tree
from scipy.spatial import Delaunay

from peel.anpr import plates
from peel.core.errors import InvalidInput

FORMATS = ("parquet", "csv", "ndjson")
#: A Monday; the default start keeps output identical for a seed whatever today is.
DEFAULT_START = datetime(2025, 3, 3, tzinfo=UTC)
LOCAL = ZoneInfo("Europe/London")
KM_PER_DEG_LAT = 110.57
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Region:
    """A box in Great Britain (degrees), its land outline and local plate memory tags."""

    key: str
    name: str
    south: float
    west: float
    north: float
    east: float
    #: (lon, lat) outline of the land inside the box; towns and roads stay on it.
    land: tuple[tuple[float, float], ...]
    camera_prefix: str
    #: First letters of local memory tags (DVLA areas), e.g. A = Anglia, E = Essex.
    local_tags: str
    #: Road-number zone (A1xx in the east, A3xx in the south).
    road_zone: str


def _region(key: str, name: str, box: str, land: str, codes: str) -> Region:
    """A region from compact text: box "south west north east", land "lon lat, …"."""
    south, west, north, east = (float(v) for v in box.split())
    outline = tuple((float(x), float(y)) for x, y in (p.split() for p in land.split(",")))
    prefix, tags, zone = codes.split()
    return Region(key, name, south, west, north, east, outline, prefix, tags, zone)


REGIONS: dict[str, Region] = {
    "east-anglia": _region(
        "east-anglia",
        "Essex and East Anglia (synthetic)",
        "51.5 0.0 52.1 1.2",
        "0 51.5, .7 51.5, .8 51.53, .95 51.6, .88 51.7, .98 51.78, 1.2 51.81, 1.2 52.1, 0 52.1",
        "EA AE 1",
    ),
    "wessex": _region(
        "wessex",
        "Wessex: Dorset and the New Forest (synthetic)",
        "50.70 -2.55 51.15 -1.45",
        "-2.55 50.7, -2 50.7, -1.95 50.715, -1.75 50.73, -1.45 50.74, -1.45 51.15, -2.55 51.15",
        "WX HW 3",
    ),
}
DEFAULT_REGION = REGIONS["east-anglia"]

#: Invented place names (checked against no gazetteer: do not read anything into them).
TOWN_NAMES = (
    "Wexmoor Brackholt Quenbury Yarlmere Ulverstead Fennick Orminster Pellbridge Saxholt "
    "Tamberley Rookhythe Kellingmere Haxwold Mordwick Ludgrave Nettlemarsh Embercott Gorsewick "
    "Vellham Frithmere Calderholt Dunsmire Esslingford Brinwold Ashquay Wendlestow Thistlebury "
    "Marrowfield Oxhollow Sedgecastle Hollowmere Crowhythe Linnetby Starling_Cross Wrenborough "
    "Kestrelford Fallowmead Hartmoss Birchquay Tollmarsh Saltmead Reedlow Otterwold "
    "Mallowbridge Sorrelton Teasel_End Cobbleford Wintermere Amberhythe Greywick Lanternby "
    "Pewterham Quillstead Bramblecote Hazelmire Ravensholt Swanmere Larkhollow Mothwold "
    "Fernhythe Coldmarsh Whetstow Dovecott Plovermead Harebell_Green Tidewell Gullhaven "
    "Sandlow Marlowick Yewbridge Hawkmere Copperstead Brindleholt Osierford Wychmere Ferrowby "
    "Cinderwick Rushmoss Thornquay Alderhythe Foxwold Marlpit_Cross Chalkmere Emberford "
    "Vetchley Quarrenwick Hemlow Shingleby Wadeholt Stoatbury Bittern_Fen"
)
TOWN_NAME_LIST = tuple(name.replace("_", " ") for name in TOWN_NAMES.split())

ROAD_CLASSES = ("dual carriageway", "A road", "B road")
ROAD_SPEED_KMH = np.array([95.0, 70.0, 55.0])
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
BOUND = {"N": "northbound", "E": "eastbound", "S": "southbound", "W": "westbound"}

#: (make, model, share) for a plausible UK car park.
MODEL_TABLE = (
    "Ford/Fiesta/5; Ford/Focus/4; Ford/Kuga/2; Ford/Transit/2; Vauxhall/Corsa/4.5; "
    "Vauxhall/Astra/3; Volkswagen/Golf/4; Volkswagen/Polo/3; Volkswagen/Tiguan/1.5; "
    "BMW/1 Series/2; BMW/3 Series/2; Mercedes-Benz/A-Class/2; Mercedes-Benz/C-Class/1.5; "
    "Audi/A3/2; Audi/Q3/1; Toyota/Yaris/2; Toyota/Corolla/1.5; Nissan/Qashqai/3; "
    "Nissan/Juke/2; Kia/Sportage/2; Kia/Picanto/1; Hyundai/Tucson/1.5; Peugeot/208/2; "
    "Peugeot/3008/1; Land Rover/Range Rover Evoque/1; MINI/Hatch/2; Skoda/Octavia/1.5; "
    "Honda/Jazz/1; Tesla/Model 3/1; Renault/Clio/1.5; Volvo/XC60/1; Citroen/C3/1"
)
MODELS: tuple[tuple[str, str, float], ...] = tuple(
    (make, model, float(share))
    for make, model, share in (item.split("/") for item in MODEL_TABLE.split("; "))
)
MAKES = tuple(sorted({make for make, _, _ in MODELS}))
COLOURS = ("Grey", "Black", "White", "Blue", "Silver", "Red", "Green", "Orange", "Yellow", "Brown")
COLOUR_SHARES = np.array([20, 17, 16, 15, 12, 10, 3, 2, 1, 1], dtype=float)
#: Colours a camera may confuse: Grey/Silver, Black/Blue, White/Silver.
COLOUR_CONFUSION = np.array([4, 3, 4, 1, 0, 5, 6, 7, 8, 9])
TAG_LETTERS = "ABCDEFGHJKLMNOPRSTUVWXY"  # memory tag: never I, Q or Z
TAIL_LETTERS = "ABCDEFGHJKLMNOPRSTUVWXYZ"  # last three letters: never I or Q


# --------------------------------------------------------------------------- geometry


def _projection(region: Region) -> tuple[float, float, float]:
    lat0 = (region.south + region.north) / 2
    return region.west, region.south, 111.32 * math.cos(math.radians(lat0))


def to_km(region: Region, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Local kilometres east and north of the region's south-west corner."""
    west, south, km_lon = _projection(region)
    return np.column_stack([(lon - west) * km_lon, (lat - south) * KM_PER_DEG_LAT])


def to_latlon(region: Region, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    west, south, km_lon = _projection(region)
    return south + xy[:, 1] / KM_PER_DEG_LAT, west + xy[:, 0] / km_lon


def _compass(dx: np.ndarray, dy: np.ndarray) -> list[str]:
    bearing = (np.degrees(np.arctan2(dx, dy)) + 360) % 360
    return [COMPASS[int(((b + 22.5) % 360) // 45)] for b in bearing]


# --------------------------------------------------------------------------- the network


@dataclass
class Network:
    """Towns, roads, cameras and the quickest path between every pair of towns."""

    region: Region
    names: list[str]
    population: np.ndarray
    xy: np.ndarray  # (T, 2) km
    edges: np.ndarray  # (E, 2) town indices
    edge_km: np.ndarray
    edge_s: np.ndarray
    edge_class: np.ndarray
    edge_road: list[str]
    camera_id: list[str]
    camera_name: list[str]
    camera_xy: np.ndarray
    camera_direction: list[str]
    camera_town: np.ndarray  # town of an entry-point camera, else -1
    p_detect: np.ndarray
    p_misread: np.ndarray
    reads_vehicle: np.ndarray  # reports make, model and colour
    spaced: np.ndarray  # writes plates with a space, "AB51 CDE"
    travel_s: np.ndarray  # (T, T) quickest time
    path_km: np.ndarray  # (T, T) length of that path
    od_start: np.ndarray  # (T*T + 1,) offsets into od_camera / od_offset
    od_camera: np.ndarray
    od_offset: np.ndarray  # seconds from departure

    @property
    def towns(self) -> int:
        return len(self.names)

    def camera_latlon(self) -> tuple[np.ndarray, np.ndarray]:
        return to_latlon(self.region, self.camera_xy)

    def town_latlon(self) -> tuple[np.ndarray, np.ndarray]:
        return to_latlon(self.region, self.xy)

    def cameras_on(self, origin: int, dest: int) -> np.ndarray:
        k = origin * self.towns + dest
        return self.od_camera[self.od_start[k] : self.od_start[k + 1]]


def _place_towns(rng: np.random.Generator, region: Region, n: int) -> np.ndarray:
    land = shapely.Polygon(region.land)
    corner = to_km(region, np.array([region.north]), np.array([region.east]))[0]
    spacing = 0.55 * math.sqrt(corner[0] * corner[1] * land.area / _box_area(region) / n)
    points: list[np.ndarray] = []
    while len(points) < n:
        batch = rng.uniform([2.0, 2.0], corner - 2.0, size=(256, 2))
        lat, lon = to_latlon(region, batch)
        inside = shapely.contains_xy(land, lon, lat)
        for point in batch[inside]:
            if all(np.hypot(*(point - p)) >= spacing for p in points):
                points.append(point)
                if len(points) == n:
                    break
        spacing *= 0.97  # a crowded box still finishes
    return np.array(points)


def _box_area(region: Region) -> float:
    return (region.east - region.west) * (region.north - region.south)


def _roads(
    rng: np.random.Generator, region: Region, xy: np.ndarray, population: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges of a triangulation of the towns, long or seaborne links dropped, still connected."""
    pairs = set()
    for simplex in Delaunay(xy).simplices:
        for a, b in ((0, 1), (1, 2), (0, 2)):
            u, v = sorted((int(simplex[a]), int(simplex[b])))
            pairs.add((u, v))
    edges = np.array(sorted(pairs))
    km = np.hypot(*(xy[edges[:, 0]] - xy[edges[:, 1]]).T)
    n = len(xy)
    tree = minimum_spanning_tree(coo_matrix((km, (edges[:, 0], edges[:, 1])), shape=(n, n)))
    in_tree = {(min(u, v), max(u, v)) for u, v in zip(*tree.nonzero(), strict=True)}
    land = shapely.Polygon(region.land)
    keep = []
    for i, (u, v) in enumerate(edges):
        on_land = all(
            shapely.contains_xy(
                land, *reversed(to_latlon(region, (xy[u] * (1 - f) + xy[v] * f)[None]))
            )
            for f in (0.25, 0.5, 0.75)
        )
        short = km[i] <= 2.2 * np.median(km)
        keep.append((int(u), int(v)) in in_tree or (on_land and short))
    edges, km = edges[np.array(keep)], km[np.array(keep)] * 1.25  # roads wind
    importance = np.sqrt(population[edges[:, 0]] * population[edges[:, 1]]) / (km + 5)
    rank = np.argsort(np.argsort(-importance)) / len(edges)
    road_class = np.where(rank < 0.2, 0, np.where(rank < 0.6, 1, 2))
    return edges, km * rng.uniform(0.95, 1.05, len(km)), road_class


def _road_names(rng: np.random.Generator, region: Region, road_class: np.ndarray) -> list[str]:
    numbers = rng.permutation(np.arange(10, 1000))
    names = []
    for i, cls in enumerate(road_class):
        number = int(numbers[i])
        if cls == 0:
            names.append(f"A{region.road_zone}{number % 90 + 10}")
        elif cls == 1:
            names.append(f"A{region.road_zone}{number:03d}")
        else:
            names.append(f"B{region.road_zone}{number:03d}")
    return names


@dataclass
class _CameraPlan:
    dedge: list[int] = field(default_factory=list)  # directed edge: 2*e (u->v) or 2*e+1
    fraction: list[float] = field(default_factory=list)
    town: list[int] = field(default_factory=list)


def _plan_cameras(
    rng: np.random.Generator,
    edges: np.ndarray,
    edge_km: np.ndarray,
    road_class: np.ndarray,
    population: np.ndarray,
    total: int,
) -> _CameraPlan:
    """Town entry points (a camera each way) for about half, roadside sites for the rest."""
    plan = _CameraPlan()
    ends = [(e, side) for e in range(len(edges)) for side in (0, 1)]
    weight = np.array([math.sqrt(population[edges[e, side]]) for e, side in ends])
    sites = min(len(ends), total // 4)
    for k in rng.choice(len(ends), size=sites, replace=False, p=weight / weight.sum()):
        e, side = ends[int(k)]
        near = min(0.8, 0.3 * edge_km[e]) / edge_km[e]
        town = int(edges[e, side])
        # side 0: the town is u; inbound is v->u (2e+1) near its end, outbound u->v near start
        inbound, outbound = (2 * e + 1, 2 * e) if side == 0 else (2 * e, 2 * e + 1)
        plan.dedge += [inbound, outbound]
        plan.fraction += [1 - near, near]
        plan.town += [town, town]
    weight = (3 - road_class) * edge_km
    while len(plan.dedge) < total:
        e = int(rng.choice(len(edges), p=weight / weight.sum()))
        f = float(rng.uniform(0.25, 0.75))
        both = rng.random() < 0.5 and total - len(plan.dedge) >= 2
        ways = [2 * e, 2 * e + 1] if both else [2 * e + int(rng.integers(2))]
        for way in ways:
            plan.dedge.append(way)
            plan.fraction.append(f if way % 2 == 0 else 1 - f)
            plan.town.append(-1)
    return plan


def build_network(seed: int, cameras: int = 120, region: Region = DEFAULT_REGION) -> Network:
    """The towns, roads and cameras of a region; depends only on the seed and camera count."""
    if cameras < 8:
        raise InvalidInput({"cameras": "at least 8 cameras are needed for a region"})
    rng = np.random.default_rng([seed, 1])
    n_towns = int(np.clip(cameras // 4, 8, len(TOWN_NAME_LIST)))
    xy = _place_towns(rng, region, n_towns)
    population = np.round(
        110_000 / np.arange(1, n_towns + 1) ** 1.05 * rng.uniform(0.8, 1.2, n_towns)
    )
    population = np.maximum(population, 1500)
    names = [str(n) for n in rng.choice(TOWN_NAME_LIST, size=n_towns, replace=False)]
    edges, edge_km, road_class = _roads(rng, region, xy, population)
    edge_s = edge_km / ROAD_SPEED_KMH[road_class] * 3600
    roads = _road_names(rng, region, road_class)
    plan = _plan_cameras(rng, edges, edge_km, road_class, population, cameras)
    dedge = np.array(plan.dedge)
    e, backwards = dedge // 2, dedge % 2 == 1
    start = np.where(backwards, edges[e, 1], edges[e, 0])
    end = np.where(backwards, edges[e, 0], edges[e, 1])
    frac = np.array(plan.fraction)
    delta = xy[end] - xy[start]
    normal = np.column_stack([delta[:, 1], -delta[:, 0]]) / np.hypot(*delta.T)[:, None]
    cam_xy = xy[start] + delta * frac[:, None] + normal * 0.015  # keep-left carriageway
    direction = _compass(delta[:, 0], delta[:, 1])
    n_cams = len(dedge)
    camera_town = np.array(plan.town)
    cam_names = []
    for i in range(n_cams):
        bound = BOUND[direction[i][0]]
        road = roads[e[i]]
        if camera_town[i] >= 0:
            here = names[camera_town[i]]
            way = "into" if end[i] == camera_town[i] else "leaving"
            cam_names.append(f"{road} {way} {here}, {bound}")
        else:
            cam_names.append(f"{road} between {names[start[i]]} and {names[end[i]]}, {bound}")
    travel_s, path_km, od_start, od_camera, od_offset = _paths(
        edges, edge_km, edge_s, dedge, frac, camera_town, n_towns
    )
    return Network(
        region=region,
        names=names,
        population=population,
        xy=xy,
        edges=edges,
        edge_km=edge_km,
        edge_s=edge_s,
        edge_class=road_class,
        edge_road=roads,
        camera_id=[f"{region.camera_prefix}{i + 1:04d}" for i in range(n_cams)],
        camera_name=cam_names,
        camera_xy=cam_xy,
        camera_direction=direction,
        camera_town=camera_town,
        p_detect=rng.uniform(0.86, 0.95, n_cams),
        p_misread=rng.uniform(0.004, 0.02, n_cams),
        reads_vehicle=rng.random(n_cams) < 0.6,
        spaced=rng.random(n_cams) < 0.3,
        travel_s=travel_s,
        path_km=path_km,
        od_start=od_start,
        od_camera=od_camera,
        od_offset=od_offset,
    )


NODE_DELAY_S = 60.0  # passing through a town


def _paths(
    edges: np.ndarray,
    edge_km: np.ndarray,
    edge_s: np.ndarray,
    dedge: np.ndarray,
    frac: np.ndarray,
    camera_town: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Quickest paths between all towns, and the cameras each passes with their time offsets."""
    weight = coo_matrix((edge_s + NODE_DELAY_S, (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, predecessors = dijkstra(weight.tocsr(), directed=False, return_predecessors=True)
    edge_of = {}
    for i, (u, v) in enumerate(edges):
        edge_of[(int(u), int(v))] = (i, 0)
        edge_of[(int(v), int(u))] = (i, 1)
    on_dedge: dict[int, list[tuple[float, int]]] = {}
    for cam, (way, f) in enumerate(zip(dedge, frac, strict=True)):
        on_dedge.setdefault(int(way), []).append((float(f), cam))
    for sites in on_dedge.values():
        sites.sort()
    town_cams = {t: np.flatnonzero(camera_town == t) for t in range(n)}
    travel = np.zeros((n, n))
    length = np.zeros((n, n))
    starts, cam_chunks, offset_chunks = [0], [], []
    for o in range(n):
        for d in range(n):
            cams: list[int] = []
            offsets: list[float] = []
            if o == d:  # a trip within a town may pass its entry cameras
                local = town_cams[d]
                cams, offsets = local.tolist(), [0.0] * len(local)  # times drawn per trip
            else:
                nodes = [d]
                while nodes[-1] != o:
                    nodes.append(int(predecessors[o, nodes[-1]]))
                nodes.reverse()
                elapsed = 0.0
                for a, b in itertools.pairwise(nodes):
                    i, way = edge_of[(a, b)]
                    for f, cam in on_dedge.get(2 * i + way, []):
                        cams.append(cam)
                        offsets.append(elapsed + f * edge_s[i])
                    elapsed += edge_s[i] + NODE_DELAY_S
                    length[o, d] += edge_km[i]
                travel[o, d] = elapsed - NODE_DELAY_S
            cam_chunks.append(np.array(cams, dtype=np.int32))
            offset_chunks.append(np.array(offsets, dtype=np.float32))
            starts.append(starts[-1] + len(cams))
    return (
        travel,
        length,
        np.array(starts, dtype=np.int64),
        np.concatenate(cam_chunks),
        np.concatenate(offset_chunks),
    )


# --------------------------------------------------------------------------- vehicles


def _make_plates(rng: np.random.Generator, n: int, local_tags: str) -> list[str]:
    """``n`` distinct current-format plates, most with the region's memory tags."""
    out: list[str] = []
    seen: set[str] = set()
    tag, tail = np.array(list(TAG_LETTERS)), np.array(list(TAIL_LETTERS))
    while len(out) < n:
        m = (n - len(out)) * 11 // 10 + 16
        local = rng.random(m) < 0.75
        first = np.where(local, rng.choice(np.array(list(local_tags)), m), rng.choice(tag, m))
        second = rng.choice(tag, m)
        year = 2024 - np.minimum(rng.gamma(2.2, 4.0, m).astype(int), 21)
        age = np.where(rng.random(m) < 0.5, year % 100 + 50, year % 100)
        letters = rng.choice(tail, (m, 3))
        for i in range(m):
            plate = f"{first[i]}{second[i]}{age[i]:02d}{''.join(letters[i])}"
            if plate not in seen and plates.classify(plate) == plates.PlateFormat.current:
                seen.add(plate)
                out.append(plate)
                if len(out) == n:
                    break
    return out


def _misread_variants(rng: np.random.Generator, plate: str) -> list[str]:
    """Up to three plates a camera might read instead, each one look-alike swapped."""
    options = []
    for pos, ch in enumerate(plate):
        for group in plates.LOOKALIKES:
            if ch in group:
                options += [
                    plate[:pos] + other + plate[pos + 1 :] for other in group if other != ch
                ]
    if not options:
        return []
    picked = rng.choice(len(options), size=min(3, len(options)), replace=False)
    return [options[int(i)] for i in picked]


@dataclass
class Fleet:
    """Every vehicle: its plate, description, home and habits. Several may share a plate."""

    plates: list[str]
    plate: np.ndarray  # vehicle -> plate index
    model: np.ndarray  # vehicle -> MODELS index
    colour: np.ndarray  # vehicle -> COLOURS index
    home: np.ndarray
    work: np.ndarray
    commuter: np.ndarray
    morning: np.ndarray  # habitual local departure, seconds after midnight
    evening: np.ndarray
    activity: np.ndarray
    regular: np.ndarray  # follows an ordinary daily routine
    followers: list[list[int]]  # per planted convoy, its follower vehicles
    clones: list[tuple[int, int]]  # (original vehicle, clone vehicle)
    couriers: list[tuple[int, list[int]]]  # (vehicle, destination towns); home is the hub

    @property
    def size(self) -> int:
        return len(self.plate)


def _gravity_cdf(network: Network, decay_km: float, self_weight: float) -> np.ndarray:
    distance = network.path_km + np.eye(network.towns) * 2.0
    weight = network.population[None, :] * np.exp(-distance / decay_km)
    weight[np.diag_indices(network.towns)] *= self_weight
    cdf = np.cumsum(weight, axis=1)
    return cdf / cdf[:, -1:]


def _draw(rng: np.random.Generator, cdf: np.ndarray, origin: np.ndarray) -> np.ndarray:
    u = rng.random(len(origin))
    return np.minimum((cdf[origin] < u[:, None]).sum(axis=1), cdf.shape[1] - 1)


def _straight_km(network: Network) -> np.ndarray:
    xy = network.xy
    return np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])


def _hub_and_destinations(
    rng: np.random.Generator, network: Network, far_km: float
) -> tuple[int, list[int]]:
    """A large town, and distant towns on whose quickest paths there and back cameras read a
    vehicle both near the hub and more than ``far_km`` from it."""
    straight = _straight_km(network)

    def reach(o: int, d: int, hub: int) -> tuple[bool, bool]:
        km = np.hypot(*(network.camera_xy[network.cameras_on(o, d)] - network.xy[hub]).T)
        return bool((km <= 2.5).any()), bool((km >= far_km + 1).any())

    hubs: list[tuple[float, int, list[int]]] = []
    for hub in (int(t) for t in np.argsort(-network.population)[: max(3, network.towns // 3)]):
        far = [int(t) for t in np.flatnonzero(straight[hub] >= far_km)]
        good = [t for t in far if all(reach(hub, t, hub)) and all(reach(t, hub, hub))]
        if far:
            score = network.population[hub] * (len(good) if len(good) >= 2 else 1e-3 * len(far))
            hubs.append((score, hub, good if len(good) >= 2 else far))
    if not hubs:  # a small region: take the two towns furthest apart
        o, d = np.unravel_index(np.argmax(straight), straight.shape)
        hubs = [(0.0, int(o), [int(d)])]
    hubs.sort(reverse=True)
    usable = [h for h in hubs if h[0] >= 1] or hubs  # prefer hubs with two good destinations
    _, hub, candidates = usable[int(rng.integers(min(3, len(usable))))]
    picked = rng.choice(
        candidates, size=min(len(candidates), int(rng.integers(2, 4))), replace=False
    )
    return hub, [int(t) for t in picked]


def build_fleet(
    seed: int, network: Network, vehicles: int, convoys: int, clones: int, county_lines: int
) -> Fleet:
    """Vehicles with plates, descriptions, homes and habits, including the planted ones."""
    rng = np.random.default_rng([seed, 2])
    n_followers = [1 + int(rng.random() < 0.35) for _ in range(convoys)]
    total = vehicles + clones + sum(n_followers) + county_lines
    towns = network.towns
    pop_share = network.population / network.population.sum()
    share = np.array([s for _, _, s in MODELS])
    home = rng.choice(towns, size=total, p=pop_share)
    commuter = rng.random(total) < 0.62
    work = _draw(rng, _gravity_cdf(network, 14.0, 1.0), home)
    morning = np.clip(rng.normal(7.6 * 3600, 2700, total), 5.5 * 3600, 10 * 3600)
    evening = np.clip(rng.normal(17.3 * 3600, 3600, total), 15 * 3600, 20 * 3600)
    fleet = Fleet(
        plates=_make_plates(rng, total, network.region.local_tags),
        plate=np.arange(total),
        model=rng.choice(len(MODELS), size=total, p=share / share.sum()),
        colour=rng.choice(len(COLOURS), size=total, p=COLOUR_SHARES / COLOUR_SHARES.sum()),
        home=home,
        work=work,
        commuter=commuter,
        morning=morning,
        evening=evening,
        activity=rng.gamma(4.0, 0.25, total),
        regular=np.zeros(total, dtype=bool),
        followers=[],
        clones=[],
        couriers=[],
    )
    fleet.regular[:vehicles] = True
    straight = _straight_km(network)
    # Cloned plates: a commuter's plate copied onto a busy van of another make and colour that
    # works its rounds in a part of the region far from the commuter's home and work.
    commute_cams = np.array(
        [len(network.cameras_on(h, w)) for h, w in zip(home, work, strict=True)]
    )
    for least in (3, 2, 1, 0):
        busy = np.flatnonzero((commuter & (work != home) & (commute_cams >= least))[:vehicles])
        if len(busy) >= 5 * clones:
            break
    originals = rng.choice(
        busy if len(busy) >= clones else np.arange(vehicles), clones, replace=False
    )
    for k, original in enumerate(originals):
        twin = vehicles + k
        apart = np.minimum(straight[home[original]], straight[work[original]])
        far = np.flatnonzero(apart >= 25.0)
        fleet.home[twin] = int(rng.choice(far if len(far) else np.argsort(-apart)[:3]))
        fleet.plate[twin] = fleet.plate[original]
        # The van keeps the commuter's hours, so both are on the road at the same moments.
        fleet.morning[twin], fleet.evening[twin] = fleet.morning[original], fleet.evening[original]
        make = MODELS[fleet.model[original]][0]
        fleet.model[twin] = int(rng.choice([i for i, m in enumerate(MODELS) if m[0] != make]))
        colours = [c for c in range(len(COLOURS)) if c != fleet.colour[original]]
        fleet.colour[twin] = int(rng.choice(colours))
        fleet.clones.append((int(original), twin))
    next_vehicle = vehicles + clones
    for count in n_followers:
        fleet.followers.append(list(range(next_vehicle, next_vehicle + count)))
        next_vehicle += count
    for _ in range(county_lines):
        hub, destinations = _hub_and_destinations(rng, network, 30.0)
        fleet.home[next_vehicle] = hub
        fleet.couriers.append((next_vehicle, destinations))
        next_vehicle += 1
    return fleet


# --------------------------------------------------------------------------- trips

Day = tuple[float, bool, int]  # local midnight (epoch seconds), weekday?, day of week
LEG_FIELDS = ("vehicle", "origin", "dest", "depart", "arrive", "factor", "day", "source")


@dataclass
class Legs:
    """One row per trip leg (origin town to destination town), all vehicles, all days."""

    vehicle: np.ndarray
    origin: np.ndarray
    dest: np.ndarray
    depart: np.ndarray  # epoch seconds
    arrive: np.ndarray
    factor: np.ndarray  # travel-time multiplier (traffic, driver)
    day: np.ndarray  # index of the local day
    source: np.ndarray  # for a follower, the target's leg it trails; else -1

    def __len__(self) -> int:
        return len(self.vehicle)


class _LegBuilder:
    """Collects legs day by day; ``add`` returns arrival times so trips can be chained."""

    def __init__(self, network: Network, fleet: Fleet, rng: np.random.Generator) -> None:
        self.network, self.fleet, self.rng = network, fleet, rng
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.free = np.full(fleet.size, -np.inf)  # when each vehicle is next available
        self.day, self.midnight, self.weekday = 0, 0.0, True

    def on(self, day: int, when: Day) -> None:
        self.day, (self.midnight, self.weekday, _) = day, when

    def add(
        self,
        vehicle: np.ndarray,
        origin: np.ndarray,
        dest: np.ndarray,
        depart: np.ndarray,
        factor: np.ndarray | None = None,
        source: np.ndarray | None = None,
    ) -> np.ndarray:
        n = len(vehicle)
        if factor is None:
            hour = (depart - self.midnight) / 3600 % 24
            peak = self.weekday & (((hour >= 7) & (hour < 9.5)) | ((hour >= 16.5) & (hour < 18.5)))
            slow = np.where(peak, 1.3, np.where((hour >= 22) | (hour < 5.5), 0.92, 1.0))
            factor = np.exp(self.rng.normal(0, 0.07, n)) * slow
        travel = self.network.travel_s[origin, dest]
        travel = np.where(origin == dest, self.rng.uniform(600, 1500, n), travel)
        arrive = depart + travel * factor
        source = np.full(n, -1) if source is None else source
        self.parts.append(
            (vehicle, origin, dest, depart, arrive, factor, np.full(n, self.day), source)
        )
        self.free[vehicle] = arrive
        return arrive

    def round_trip(
        self,
        idx: np.ndarray,
        dest: np.ndarray,
        hours: tuple[float, float],
        dwell: tuple[float, float],
    ) -> None:
        """Leave home between ``hours`` (local), stay ``dwell`` seconds, come back."""
        home = self.fleet.home[idx]
        wanted = self.midnight + self.rng.uniform(*hours, len(idx)) * 3600
        arrive = self.add(idx, home, dest, np.maximum(wanted, self.free[idx] + 900))
        self.add(idx, dest, home, arrive + self.rng.uniform(*dwell, len(idx)))

    def build(self) -> Legs:
        types = (np.int32, np.int32, np.int32, float, float, np.float32, np.int32, np.int64)
        cols = [np.concatenate([p[i] for p in self.parts]).astype(t) for i, t in enumerate(types)]
        return Legs(**dict(zip(LEG_FIELDS, cols, strict=True)))


def local_days(start: datetime, end: datetime) -> list[Day]:
    """(local midnight as epoch seconds, weekday?, day of week) for each local day touched."""
    day = start.astimezone(LOCAL).date()
    last = (end - timedelta(microseconds=1)).astimezone(LOCAL).date()
    out = []
    while day <= last:
        midnight = datetime(day.year, day.month, day.day, tzinfo=LOCAL).timestamp()
        out.append((midnight, day.weekday() < 5, day.weekday()))
        day += timedelta(days=1)
    return out


@dataclass
class ConvoyPlan:
    target: int
    followers: list[int]
    legs: list[int] = field(default_factory=list)  # the target's legs that were trailed


def _routine_legs(b: _LegBuilder, days: list[Day]) -> None:
    """Commutes, errands, afternoon and evening trips for every ordinary vehicle."""
    network, fleet, rng = b.network, b.fleet, b.rng
    errand, outing = _gravity_cdf(network, 12.0, 1.5), _gravity_cdf(network, 10.0, 1.0)
    everyone = np.flatnonzero(fleet.regular)
    home, work, activity = fleet.home, fleet.work, fleet.activity

    def some(idx: np.ndarray, chance: float) -> np.ndarray:
        return idx[rng.random(len(idx)) < chance * activity[idx]]

    for day, when in enumerate(days):
        b.on(day, when)
        midnight, weekday, dow = when
        commuting = weekday & fleet.commuter[everyone] & (rng.random(len(everyone)) < 0.92)
        c, rest = everyone[commuting], everyone[~commuting]
        out = midnight + fleet.morning[c] + rng.normal(0, 360, len(c))
        b.add(c, home[c], work[c], np.maximum(out, b.free[c] + 600))
        errands = some(rest, 0.30 if weekday else 0.5)
        b.round_trip(errands, _draw(rng, errand, home[errands]), (9.0, 12.5), (1800, 9000))
        back = midnight + fleet.evening[c] + rng.normal(0, 600, len(c))
        b.add(c, work[c], home[c], np.maximum(back, b.free[c] + 300))
        errands = some(rest, 0.25 if weekday else 0.45)
        b.round_trip(errands, _draw(rng, errand, home[errands]), (14.0, 17.5), (1200, 7200))
        evening = some(everyone, 0.3 if dow in (4, 5) else 0.17)
        b.round_trip(evening, _draw(rng, outing, home[evening]), (18.5, 21.5), (2700, 10800))


def _round_legs(b: _LegBuilder, days: list[Day]) -> None:
    """A working day of jobs: hop between nearby towns from about 8 until about 6, then home."""
    rng, fleet = b.rng, b.fleet
    nearby = _gravity_cdf(b.network, 8.0, 0.5)
    vans = np.array([twin for _, twin in fleet.clones], dtype=np.int64)
    for day, when in enumerate(days):
        b.on(day, when)
        midnight = when[0]
        working = vans[rng.random(len(vans)) < 0.9]
        here = fleet.home[working].copy()
        start = midnight + fleet.morning[working] + rng.normal(0, 300, len(working))
        leave = np.maximum(start, b.free[working])
        stop = midnight + fleet.evening[working] + rng.normal(0, 300, len(working))
        while len(working):
            dest = _draw(rng, nearby, here)
            arrive = b.add(working, here, dest, leave)
            here, leave = dest, arrive + rng.uniform(900, 3600, len(working))
            done = leave > stop
            home = fleet.home[working[done]]
            b.add(working[done], here[done], home, np.maximum(stop[done], leave[done] - 3000))
            working, here, leave, stop = working[~done], here[~done], leave[~done], stop[~done]


def _courier_legs(b: _LegBuilder, days: list[Day]) -> None:
    """County-lines runs: hub to a distant town, a short stop, straight back; 1-2 a day."""
    rng = b.rng
    for day, when in enumerate(days):
        b.on(day, when)
        for vehicle, destinations in b.fleet.couriers:
            if rng.random() > 0.8:
                continue
            for hours in ((10.0, 14.0), (16.0, 20.0)):
                if hours[0] > 12 and rng.random() > 0.45:
                    break
                b.free[vehicle] += 1800  # at least 45 minutes at the hub between runs
                dest = np.array([rng.choice(destinations)])
                b.round_trip(np.array([vehicle]), dest, hours, (900, 4500))


def _plant_convoys(b: _LegBuilder, days: list[Day]) -> list[ConvoyPlan]:
    """Pick targets with camera-rich routines; followers trail all their trips on a few days."""
    network, fleet, rng = b.network, b.fleet, b.rng
    legs = b.build()
    od = legs.origin.astype(np.int64) * network.towns + legs.dest
    cams = np.where(legs.origin != legs.dest, network.od_start[od + 1] - network.od_start[od], 0)
    taken = {v for pair in fleet.clones for v in pair}
    passages = np.bincount(legs.vehicle, weights=cams, minlength=fleet.size)
    day_cams = np.zeros((fleet.size, len(days)))
    np.add.at(day_cams, (legs.vehicle, legs.day), cams)
    active = (day_cams > 0).sum(axis=1) >= 2
    rich = np.bincount(legs.vehicle, weights=cams >= 2, minlength=fleet.size)
    good = (passages >= 12) & (rich >= 4) & active & fleet.regular
    eligible = [int(v) for v in np.flatnonzero(good) if int(v) not in taken]
    if len(eligible) < len(fleet.followers):
        eligible = [int(v) for v in np.argsort(-rich) if fleet.regular[v] and v not in taken]
    day_rich = np.zeros((fleet.size, len(days)))
    np.add.at(day_rich, (legs.vehicle, legs.day), cams >= 2)
    plans = []
    for target, followers in zip(
        rng.choice(eligible, size=len(fleet.followers), replace=False), fleet.followers, strict=True
    ):
        plan = ConvoyPlan(int(target), followers)
        mine = np.flatnonzero(legs.vehicle == target)
        for follower in followers:
            chosen: list[int] = []
            # Enough trips past two or more cameras that the trailing shows on three or more.
            for day in rng.permutation(np.flatnonzero(day_cams[target] > 0)):
                chosen.append(int(day))
                if day_rich[target, chosen].sum() >= 4:
                    break
            trailed = mine[np.isin(legs.day[mine], chosen)]
            for day in chosen:
                b.on(day, days[day])
                sel = trailed[legs.day[trailed] == day]
                lag = rng.uniform(10, 85, len(sel))
                vehicle = np.full(len(sel), follower)
                origin, dest, factor = legs.origin[sel], legs.dest[sel], legs.factor[sel]
                b.add(vehicle, origin, dest, legs.depart[sel] + lag, factor=factor, source=sel)
            plan.legs = sorted(set(plan.legs) | {int(i) for i in trailed})
        plans.append(plan)
    return plans


# --------------------------------------------------------------------------- reads


@dataclass
class Reads:
    """Every read, sorted by time: arrays of equal length."""

    at_ms: np.ndarray  # epoch milliseconds
    camera: np.ndarray
    vehicle: np.ndarray
    leg: np.ndarray
    plate_text: np.ndarray  # index into Simulation.plate_texts (as the camera wrote it)
    misread: np.ndarray
    confidence: np.ndarray
    model: np.ndarray  # MODELS index seen by the camera, -1 when not reported
    make: np.ndarray  # MAKES index, -1 when not reported
    colour: np.ndarray  # COLOURS index, -1 when not reported

    def __len__(self) -> int:
        return len(self.at_ms)


def _passages(
    network: Network, legs: Legs, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera passages of every leg that a camera read: (time in ms, camera, leg)."""
    od = legs.origin.astype(np.int64) * network.towns + legs.dest
    first = network.od_start[od]
    count = network.od_start[od + 1] - first
    leg = np.repeat(np.arange(len(legs), dtype=np.int64), count)
    position = np.arange(len(leg)) - np.repeat(np.cumsum(count) - count, count)
    flat = first[leg] + position
    camera = network.od_camera[flat]
    local = legs.origin[leg] == legs.dest[leg]
    # A trip within a town passes one of its entry cameras now and then, at some point on the way.
    along = legs.depart[leg] + rng.uniform(0.1, 0.9, len(leg)) * (legs.arrive - legs.depart)[leg]
    seconds = np.where(local, along, legs.depart[leg] + network.od_offset[flat] * legs.factor[leg])
    seconds += rng.normal(0, 2.0, len(leg))
    chance = np.where(local, 0.6 / np.maximum(count[leg], 1), 1.0)
    read = rng.random(len(leg)) < network.p_detect[camera] * chance
    return np.round(seconds[read] * 1000).astype(np.int64), camera[read], leg[read]


class Simulation:
    """A synthetic region and its traffic, in memory; ``write`` puts it on disk."""

    def __init__(
        self,
        seed: int,
        days: int = 7,
        vehicles: int = 5000,
        cameras: int = 120,
        start: datetime | None = None,
        region: Region = DEFAULT_REGION,
        convoys: int | None = None,
        clones: int | None = None,
        county_lines: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        if days < 1:
            raise InvalidInput({"days": "must be at least 1"})
        if vehicles < 50:
            raise InvalidInput({"vehicles": "must be at least 50"})
        start = start or DEFAULT_START
        if start.tzinfo is None:
            raise InvalidInput({"start": "must include a time zone (UTC)"})
        report = progress or (lambda stage, fraction: None)
        self.seed, self.days, self.start = seed, days, start.astimezone(UTC)
        self.end = self.start + timedelta(days=days)
        self.convoy_count = max(2, min(20, vehicles // 1500)) if convoys is None else convoys
        self.clone_count = max(2, min(20, vehicles // 2000)) if clones is None else clones
        self.courier_count = (
            max(1, min(10, vehicles // 4000)) if county_lines is None else county_lines
        )
        self.parameters = {
            "seed": seed,
            "days": days,
            "vehicles": vehicles,
            "cameras": cameras,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "region": region.key,
            "convoys": self.convoy_count,
            "clones": self.clone_count,
            "county_lines": self.courier_count,
        }
        report("Laying out towns, roads and cameras", 0.05)
        self.network = build_network(seed, cameras, region)
        self.fleet = build_fleet(
            seed, self.network, vehicles, self.convoy_count, self.clone_count, self.courier_count
        )
        report("Planning trips", 0.2)
        self.local_days = local_days(self.start, self.end)
        builder = _LegBuilder(self.network, self.fleet, np.random.default_rng([seed, 3]))
        _routine_legs(builder, self.local_days)
        _round_legs(builder, self.local_days)
        self.convoys = _plant_convoys(builder, self.local_days)
        _courier_legs(builder, self.local_days)
        self.legs = builder.build()
        report("Reading plates", 0.45)
        self._plate_table()
        self.reads = self._reads(np.random.default_rng([seed, 4]))
        report("Reads ready", 0.6)

    # ---- plates as cameras write them

    def _plate_table(self) -> None:
        rng = np.random.default_rng([self.seed, 5])
        base = self.fleet.plates
        variants = [_misread_variants(rng, p) for p in base]
        self.variant_count = np.array([len(v) for v in variants], dtype=np.int64)
        self.variant_start = len(base) + np.cumsum(self.variant_count) - self.variant_count
        texts = base + [v for vs in variants for v in vs]
        self.spaced_offset = len(texts)
        self.plate_texts = pa.array(texts + [plates.display(t) for t in texts], pa.string())

    def _reads(self, rng: np.random.Generator) -> Reads:
        network, fleet = self.network, self.fleet
        at_ms, camera, leg = _passages(network, self.legs, rng)
        inside = (at_ms >= self.start.timestamp() * 1000) & (at_ms < self.end.timestamp() * 1000)
        order = np.argsort(at_ms[inside], kind="stable")
        at_ms, camera, leg = at_ms[inside][order], camera[inside][order], leg[inside][order]
        n = len(at_ms)
        vehicle = self.legs.vehicle[leg]
        plate = fleet.plate[vehicle]
        misread = (rng.random(n) < network.p_misread[camera]) & (self.variant_count[plate] > 0)
        pick = (rng.random(n) * np.maximum(self.variant_count[plate], 1)).astype(np.int64)
        text = np.where(misread, self.variant_start[plate] + pick, plate)
        text = np.where(network.spaced[camera], text + self.spaced_offset, text)
        confidence = np.where(
            misread, 0.6 + 0.39 * rng.beta(2.0, 2.5, n), 0.6 + 0.39 * rng.beta(5.0, 1.3, n)
        )
        described = network.reads_vehicle[camera]
        model = np.where(described & (rng.random(n) < 0.75), fleet.model[vehicle], -1)
        make_of = np.array([MAKES.index(m) for m, _, _ in MODELS])
        make = np.where(described, make_of[fleet.model[vehicle]], -1)
        colour = fleet.colour[vehicle]
        colour = np.where(rng.random(n) < 0.02, COLOUR_CONFUSION[colour], colour)
        return Reads(
            at_ms=at_ms,
            camera=camera.astype(np.int32),
            vehicle=vehicle,
            leg=leg,
            plate_text=text,
            misread=misread,
            confidence=np.round(confidence, 2).astype(np.float32),
            model=model,
            make=make,
            colour=np.where(described, colour, -1),
        )

    # ---- tables

    def cameras_table(self) -> pa.Table:
        lat, lon = self.network.camera_latlon()
        return pa.table(
            {
                "camera_id": self.network.camera_id,
                "name": self.network.camera_name,
                "lat": np.round(lat, 6),
                "lon": np.round(lon, 6),
                "direction": self.network.camera_direction,
            }
        )

    def register_table(self) -> pa.Table:
        """One row per plate, describing the vehicle the plate was issued to."""
        fleet = self.fleet
        plate_ids, first = np.unique(fleet.plate, return_index=True)
        return pa.table(
            {
                "plate": [plates.display(fleet.plates[p]) for p in plate_ids],
                "make": [MODELS[fleet.model[v]][0] for v in first],
                "model": [MODELS[fleet.model[v]][1] for v in first],
                "colour": [COLOURS[fleet.colour[v]] for v in first],
            }
        )

    def days_covered(self) -> list[date]:
        if not len(self.reads):
            return []
        first = int(self.reads.at_ms[0] // 86_400_000)
        last = int(self.reads.at_ms[-1] // 86_400_000)
        return [date(1970, 1, 1) + timedelta(days=d) for d in range(first, last + 1)]

    def reads_table(
        self, rows: slice | np.ndarray | None = None, id_prefix: str | None = None
    ) -> pa.Table:
        """Reads in the importer's input columns (``read_at`` as a UTC timestamp)."""
        r = self.reads
        sel = np.arange(len(r))[rows] if rows is not None else np.arange(len(r))

        def labels(values: tuple[str, ...], index: np.ndarray) -> pa.Array:
            return pa.array(values, pa.string()).take(pa.array(index, mask=index < 0))

        prefix = id_prefix or f"{self.network.region.camera_prefix}{self.seed}-"
        numbers = pc.utf8_lpad(pc.cast(pa.array(sel, pa.int64()), pa.string()), 9, "0")
        return pa.table(
            {
                "camera_id": pa.array(self.network.camera_id, pa.string()).take(
                    pa.array(r.camera[sel])
                ),
                "plate": self.plate_texts.take(pa.array(r.plate_text[sel])),
                "read_at": pa.array(r.at_ms[sel], pa.timestamp("ms", tz="UTC")),
                "confidence": pa.array(r.confidence[sel], pa.float32()),
                "make": labels(MAKES, r.make[sel]),
                "model": labels(tuple(m for _, m, _ in MODELS), r.model[sel]),
                "colour": labels(COLOURS, r.colour[sel]),
                "read_id": pc.binary_join_element_wise(pa.scalar(prefix), numbers, ""),
            }
        )

    def day_tables(self) -> Iterator[tuple[date, pa.Table]]:
        """The reads of each UTC day, in time order."""
        day_of = self.reads.at_ms // 86_400_000
        for day in self.days_covered():
            number = (day - date(1970, 1, 1)).days
            lo, hi = np.searchsorted(day_of, [number, number + 1])
            yield day, self.reads_table(slice(int(lo), int(hi)))

    # ---- planted truth

    def plate_of(self, vehicle: int) -> str:
        return self.fleet.plates[self.fleet.plate[vehicle]]

    def _iso(self, seconds: float) -> str:
        return datetime.fromtimestamp(round(float(seconds), 3), UTC).isoformat()

    def _trailed_trips(self, follower: int) -> int:
        """Trips on which the follower was read at a camera within 90 s of its target."""
        r, legs = self.reads, self.legs
        mine = np.flatnonzero(r.vehicle == follower)
        sources = legs.source[r.leg[mine]]
        target_reads: dict[tuple[int, int], list[int]] = {}
        for i in np.flatnonzero(np.isin(r.leg, sources)):
            target_reads.setdefault((int(r.leg[i]), int(r.camera[i])), []).append(int(r.at_ms[i]))
        trips = set()
        for i, source in zip(mine, sources, strict=True):
            for at in target_reads.get((int(source), int(r.camera[i])), []):
                if abs(int(r.at_ms[i]) - at) <= 90_000:
                    trips.add(int(source))
        return len(trips)

    def _impossible_pairs(self, vehicles: tuple[int, int], max_speed_kmh: float = 180) -> int:
        r = self.reads
        sel = np.flatnonzero(np.isin(r.vehicle, vehicles))
        xy = self.network.camera_xy[r.camera[sel]]
        km = np.hypot(*(xy[1:] - xy[:-1]).T)
        hours = np.maximum(np.diff(r.at_ms[sel]), 1) / 3_600_000
        switch = r.vehicle[sel][1:] != r.vehicle[sel][:-1]
        return int((switch & (km / hours > max_speed_kmh) & (km > 1.0)).sum())

    def truth(self) -> dict[str, Any]:
        """What was planted, in plates and times a reader can check against search results."""
        net, fleet, legs = self.network, self.fleet, self.legs
        lat, lon = net.town_latlon()

        def town(t: int) -> dict[str, Any]:
            return {
                "name": net.names[t],
                "lat": round(float(lat[t]), 6),
                "lon": round(float(lon[t]), 6),
            }

        def describe(v: int) -> dict[str, str]:
            make, model, _ = MODELS[fleet.model[v]]
            return {
                "make": make,
                "model": model,
                "colour": COLOURS[fleet.colour[v]],
                "home": net.names[fleet.home[v]],
            }

        convoys = []
        for plan in self.convoys:
            convoys.append(
                {
                    "target": self.plate_of(plan.target),
                    "followers": [self.plate_of(f) for f in plan.followers],
                    "windows": [
                        {
                            "start": self._iso(legs.depart[i]),
                            "end": self._iso(legs.arrive[i] + 90),
                            "from": net.names[legs.origin[i]],
                            "to": net.names[legs.dest[i]],
                        }
                        for i in plan.legs
                    ],
                    "trips_trailed_seen": {
                        self.plate_of(f): self._trailed_trips(f) for f in plan.followers
                    },
                }
            )
        clones = [
            {
                "plate": self.plate_of(original),
                "vehicles": [
                    describe(original) | {"registered": True},
                    describe(twin) | {"registered": False},
                ],
                "impossible_pairs_seen": self._impossible_pairs((original, twin)),
            }
            for original, twin in fleet.clones
        ]
        county_lines = []
        for vehicle, destinations in fleet.couriers:
            mine = np.flatnonzero(legs.vehicle == vehicle)
            hub = int(fleet.home[vehicle])
            trips = [
                {
                    "destination": net.names[legs.dest[out]],
                    "depart": self._iso(legs.depart[out]),
                    "return": self._iso(legs.arrive[back]),
                }
                for out, back in zip(mine[::2], mine[1::2], strict=True)
                if self.start.timestamp() <= legs.depart[out] < self.end.timestamp()
            ]
            county_lines.append(
                {
                    "plate": self.plate_of(vehicle),
                    "hub": town(hub) | {"radius_m": 3000},
                    "destinations": [net.names[t] for t in destinations],
                    "trips": trips,
                }
            )
        planted = {v for pair in fleet.clones for v in pair} | {p.target for p in self.convoys}
        planted |= {f for fs in fleet.followers for f in fs} | {v for v, _ in fleet.couriers}
        counts = np.bincount(self.reads.vehicle, minlength=fleet.size)
        busy = [int(v) for v in np.argsort(-counts, kind="stable") if int(v) not in planted][:10]
        return {
            "generator": "peel.anpr.simulate",
            "seed": self.seed,
            "parameters": self.parameters,
            "region": {k: v for k, v in asdict(net.region).items() if k != "land"},
            "towns": [town(t) | {"population": int(net.population[t])} for t in range(net.towns)],
            "convoys": convoys,
            "clones": clones,
            "county_lines": county_lines,
            "busy_plates": [{"plate": self.plate_of(v), "reads": int(counts[v])} for v in busy],
            "stats": {
                "reads": len(self.reads),
                "misreads": int(self.reads.misread.sum()),
                "vehicles": fleet.size,
                "plates": len(np.unique(fleet.plate)),
                "cameras": len(net.camera_id),
                "towns": net.towns,
                "roads": len(net.edges),
                "trips": len(legs),
            },
        }

    # ---- files

    def write(
        self, out_dir: Path, fmt: str = "parquet", progress: Progress | None = None
    ) -> SimulationResult:
        """Write cameras, register, reads by day and truth.json into ``out_dir``."""
        if fmt not in FORMATS:
            raise InvalidInput({"format": f"must be one of {', '.join(FORMATS)}"})
        report = progress or (lambda stage, fraction: None)
        started = time.perf_counter()
        out_dir = Path(out_dir)
        reads_dir = out_dir / "reads"
        reads_dir.mkdir(parents=True, exist_ok=True)
        pacsv.write_csv(self.cameras_table(), out_dir / "cameras.csv")
        pacsv.write_csv(self.register_table(), out_dir / "register.csv")
        files = []
        days = self.days_covered()
        for i, (day, table) in enumerate(self.day_tables()):
            report(f"Writing reads for {day.isoformat()}", 0.6 + 0.35 * i / max(len(days), 1))
            path = reads_dir / f"reads-{day.isoformat()}.{fmt}"
            write_reads(table, path, fmt)
            files.append(path)
        truth_path = out_dir / "truth.json"
        truth_path.write_text(json.dumps(self.truth(), indent=1), encoding="utf-8")
        report("Done", 1.0)
        return SimulationResult(
            out_dir=out_dir,
            format=fmt,
            reads=len(self.reads),
            cameras=len(self.network.camera_id),
            vehicles=self.fleet.size,
            days=days,
            files=files,
            truth_path=truth_path,
            convoys=len(self.convoys),
            clones=len(self.fleet.clones),
            county_lines=len(self.fleet.couriers),
            write_seconds=time.perf_counter() - started,
        )


@dataclass(frozen=True)
class SimulationResult:
    out_dir: Path
    format: str
    reads: int
    cameras: int
    vehicles: int
    days: list[date]
    files: list[Path]
    truth_path: Path
    convoys: int
    clones: int
    county_lines: int
    write_seconds: float
    generate_seconds: float = 0.0


def write_reads(table: pa.Table, path: Path, fmt: str) -> None:
    """One file of reads in the importer's input format."""
    if fmt == "parquet":
        pq.write_table(table, path, compression="zstd")
        return
    text = table.set_column(
        table.schema.get_field_index("read_at"),
        "read_at",
        pc.strftime(table["read_at"], format="%Y-%m-%dT%H:%M:%SZ"),
    )
    text = text.set_column(
        text.schema.get_field_index("confidence"),
        "confidence",
        pc.round(pc.cast(text["confidence"], pa.float64()), 2),
    )
    if fmt == "csv":
        pacsv.write_csv(text, path)
        return
    import duckdb

    con = duckdb.connect()
    try:
        con.register("reads_out", text)
        target = str(path).replace("'", "''")
        con.execute(f"COPY reads_out TO '{target}' (FORMAT JSON)")
    finally:
        con.close()


def simulate(
    out_dir: Path,
    seed: int,
    days: int = 7,
    vehicles: int = 5000,
    cameras: int = 120,
    start: datetime | None = None,
    region: Region | str = DEFAULT_REGION,
    fmt: str = "parquet",
    progress: Progress | None = None,
    **planted: int | None,
) -> SimulationResult:
    """Generate a region's cameras, register, reads and planted truth into ``out_dir``."""
    if isinstance(region, str):
        if region not in REGIONS:
            raise InvalidInput({"region": f"must be one of {', '.join(REGIONS)}"})
        region = REGIONS[region]
    if fmt not in FORMATS:
        raise InvalidInput({"format": f"must be one of {', '.join(FORMATS)}"})
    started = time.perf_counter()
    sim = Simulation(seed, days, vehicles, cameras, start, region, progress=progress, **planted)
    generated = time.perf_counter() - started
    result = sim.write(Path(out_dir), fmt, progress)
    return SimulationResult(**{**asdict(result), "generate_seconds": generated})


def parse_start(text: str | None, days: int, now: datetime | None = None) -> datetime:
    """``--start`` as a UTC time; by default the last ``days`` whole UTC days before today."""
    if not text:
        today = (now or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
        return today - timedelta(days=days)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            {"--start": "must be an ISO 8601 date or time, e.g. 2025-03-03 or 2025-03-03T06:00Z"}
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def load_truth(path_or_dir: Path) -> dict[str, Any]:
    """``truth.json`` from a simulation folder (or the file itself)."""
    path = Path(path_or_dir)
    if path.is_dir():
        path = path / "truth.json"
    if not path.exists():
        raise InvalidInput({"truth": f"{path} not found; run `peel anpr simulate` first"})
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("generator") != "peel.anpr.simulate":
        raise InvalidInput({"truth": f"{path} is not a truth file written by peel anpr simulate"})
    return dict(data)
