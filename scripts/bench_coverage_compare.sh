#!/usr/bin/env bash
# Coverage workloads side by side: Vigie, PostGIS and shapely's STRtree, on
# the same seeded synthetic scene (see ground/src/coverage/synth.rs).
#
#   scripts/bench_coverage_compare.sh            # full scale (100k cameras)
#   CAMERAS=20000 POINTS=20000 scripts/bench_coverage_compare.sh
#   PROFILE=dev CARGO_PROFILE_DEV_OPT_LEVEL=3 scripts/bench_coverage_compare.sh
#       (reuses the dev build's dependencies instead of a release build)
#
# Installs Debian's postgresql + postgis (apt-get) and shapely (PyPI, in a
# virtualenv under the work directory) when missing, starts a throwaway
# PostgreSQL on 127.0.0.1 only, and stops it on exit.
#
# Workloads:
#   who-sees batch   all POINTS points against every polygon (one join / one
#                    vectorised query), points per second;
#   who-sees single  SINGLE_POINTS points one query at a time, points per second;
#   zone             covered fraction of a 10 km² square, 5,000 clipped camera
#                    polygons, 20,000 buildings removed from the open area.
#                    Vigie rasterises at 2 m; PostGIS and shapely compute exact
#                    vector areas (union, intersection, difference).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d -t vigie-compare.XXXXXX)}
CAMERAS=${CAMERAS:-100000}
POINTS=${POINTS:-100000}
SINGLE_POINTS=${SINGLE_POINTS:-10000}
PGPORT=${PGPORT:-55432}
DATA="$WORK/data"
mkdir -p "$WORK"
chmod 755 "$WORK"
echo "work directory: $WORK"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. Tools.
if ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
    echo "installing postgresql and postgis (Debian packages)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgis >/dev/null
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if [ ! -x "$WORK/venv/bin/python" ]; then
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install -q shapely
fi

# 2. The scene, and Vigie's timings on it (release build, one core).
PROFILE=${PROFILE:-release}
(cd "$ROOT" && cargo run -q --profile "$PROFILE" -p vigie-ground --example coverage_compare -- "$DATA" "$CAMERAS" "$POINTS" >/dev/null)
chmod -R a+rX "$DATA"

# 3. PostgreSQL on loopback, as an unprivileged user.
PGDATA="$WORK/pg"
SOCK="$WORK/sock"
rm -rf "$PGDATA"
mkdir -p "$SOCK"
RUN=()
if [ "$(id -u)" = 0 ]; then
    chown -R postgres "$SOCK"
    mkdir -p "$PGDATA" && chown postgres "$PGDATA"
    : > "$WORK/pg.log" && chown postgres "$WORK/pg.log"
    RUN=(runuser -u postgres --)
fi
"${RUN[@]}" "$PGBIN/initdb" -A trust -U vigie -D "$PGDATA" >/dev/null
"${RUN[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $SOCK -c max_parallel_workers_per_gather=0 -c shared_buffers=256MB -c work_mem=256MB" start >/dev/null
stop_pg() { "${RUN[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true; }
trap stop_pg EXIT
PSQL=("$PGBIN/psql" -X -q -t -A -h 127.0.0.1 -p "$PGPORT" -U vigie -d postgres -v ON_ERROR_STOP=1)

"${PSQL[@]}" <<SQL
CREATE EXTENSION postgis;
CREATE TABLE src_raw (id text, wkt text);
CREATE TABLE pts_raw (x float8, y float8);
CREATE TABLE zsrc_raw (id text, wkt text);
CREATE TABLE bld_raw (wkt text, height_m float8);
\copy src_raw FROM '$DATA/sources.csv' CSV HEADER
\copy pts_raw FROM '$DATA/points.csv' CSV HEADER
\copy zsrc_raw FROM '$DATA/zone_sources.csv' CSV HEADER
\copy bld_raw FROM '$DATA/buildings.csv' CSV HEADER
CREATE TABLE src AS SELECT id, ST_GeomFromText(wkt) AS geom FROM src_raw;
CREATE TABLE pts AS SELECT row_number() OVER () AS i, ST_MakePoint(x, y) AS geom FROM pts_raw;
CREATE TABLE zsrc AS SELECT id, ST_MakeValid(ST_GeomFromText(wkt)) AS geom FROM zsrc_raw;
CREATE TABLE bld AS SELECT ST_GeomFromText(wkt) AS geom FROM bld_raw;
CREATE INDEX ON src USING gist (geom);
ANALYZE;
CREATE FUNCTION elapsed(q text) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN EXECUTE q; RETURN extract(epoch FROM clock_timestamp() - t0); END \$\$;
CREATE FUNCTION single(n int) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp(); p geometry; c bigint;
BEGIN
  FOR p IN SELECT geom FROM pts ORDER BY i LIMIT n LOOP
    SELECT count(*) INTO c FROM src WHERE ST_Contains(geom, p);
  END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - t0);
END \$\$;
SQL

PG_HITS=$("${PSQL[@]}" -c "SELECT count(*) FROM pts p JOIN src s ON ST_Contains(s.geom, p.geom)")
PG_BATCH_S=$("${PSQL[@]}" -c "SELECT elapsed('SELECT count(*) FROM pts p JOIN src s ON ST_Contains(s.geom, p.geom)')")
PG_SINGLE_S=$("${PSQL[@]}" -c "SELECT single($SINGLE_POINTS)")
ZONE_WKT=$(cat "$DATA/zone.wkt")
ZONE_SQL="WITH z AS (SELECT ST_GeomFromText('$ZONE_WKT') AS g),
  open AS (SELECT ST_Difference(z.g, (SELECT ST_Union(geom) FROM bld)) AS g FROM z),
  cov AS (SELECT ST_Intersection(open.g, (SELECT ST_Union(geom) FROM zsrc)) AS g FROM open)
  SELECT ST_Area(cov.g) / ST_Area(open.g) FROM cov, open"
PG_ZONE_S=$("${PSQL[@]}" -c "SELECT elapsed(\$q\$$ZONE_SQL\$q\$)")
PG_ZONE_FRAC=$("${PSQL[@]}" -c "$ZONE_SQL")

# 4. shapely.
SHAPELY=$("$WORK/venv/bin/python" - "$DATA" "$SINGLE_POINTS" <<'PY'
import csv, json, sys, time
import numpy as np
import shapely
from shapely import wkt as W
from shapely.strtree import STRtree
data, single_n = sys.argv[1], int(sys.argv[2])
polys = [W.loads(r["wkt"]) for r in csv.DictReader(open(f"{data}/sources.csv"))]
xy = np.loadtxt(f"{data}/points.csv", delimiter=",", skiprows=1)
pts = shapely.points(xy)
tree = STRtree(polys)
t = time.perf_counter(); pairs = tree.query(pts, predicate="within"); batch_s = time.perf_counter() - t
t = time.perf_counter()
hits = 0
for p in pts[:single_n]:
    hits += len(tree.query(p, predicate="within"))
single_s = time.perf_counter() - t
zs = [shapely.make_valid(W.loads(r["wkt"])) for r in csv.DictReader(open(f"{data}/zone_sources.csv"))]
bl = [W.loads(r["wkt"]) for r in csv.DictReader(open(f"{data}/buildings.csv"))]
zone = W.loads(open(f"{data}/zone.wkt").read())
t = time.perf_counter()
open_g = zone.difference(shapely.union_all(bl))
cov = open_g.intersection(shapely.union_all(zs))
frac = cov.area / open_g.area
zone_s = time.perf_counter() - t
print(json.dumps({"hits": int(pairs.shape[1]), "batch_s": batch_s, "single_s": single_s,
                  "zone_s": zone_s, "zone_fraction": frac, "version": shapely.__version__}))
PY
)

# 5. Report.
"$WORK/venv/bin/python" - "$DATA/vigie.json" "$SHAPELY" "$PG_HITS" "$PG_BATCH_S" "$PG_SINGLE_S" "$PG_ZONE_FRAC" "$PG_ZONE_S" "$SINGLE_POINTS" <<'PY' | tee "$WORK/report.md"
import json, os, sys
v = json.load(open(sys.argv[1])); s = json.loads(sys.argv[2])
pg_hits, pg_batch, pg_single, pg_frac, pg_zone, single_n = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
n = v["points"]
rows = [
  ("who-sees batch (points/s)", v["batch_points_per_s"], n / s["batch_s"], n / pg_batch),
  ("who-sees single (points/s)", v["single_points_per_s"], single_n / s["single_s"], single_n / pg_single),
  ("zone 10 km² (s)", v["zone_s"], s["zone_s"], pg_zone),
]
print(f"scene: {v['sources']} sources, {n} points; hits vigie {v['hits']}, shapely {s['hits']}, postgis {pg_hits}")
print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
print(f"zone covered fraction: vigie {v['zone_covered_fraction']:.4f} (2 m cells), shapely {s['zone_fraction']:.4f}, postgis {pg_frac:.4f} (exact areas)")
print()
print("| workload | vigie | shapely | postgis | vigie/shapely | vigie/postgis |")
print("|---|---|---|---|---|---|")
for name, a, b, c in rows:
    if "(s)" in name:
        print(f"| {name} | {a:.3f} | {b:.3f} | {c:.3f} | {b/a:.1f}x faster | {c/a:.1f}x faster |")
    else:
        print(f"| {name} | {a:,.0f} | {b:,.0f} | {c:,.0f} | {a/b:.1f}x | {a/c:.1f}x |")
PY
