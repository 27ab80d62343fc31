# A synthetic city as OPL, for scripts/bench.sh --city (osmium cat turns it into .osm.pbf; it is
# generated into the scratch directory, never committed): 9.70-10.30 E, 53.40-53.70 N (about
# Hamburg's size), 5,032,500 nodes (a 450 x 450 street grid, 150,000 POIs with amenity, name
# and opening_hours, the corners of 1,170,000 buildings), 1,270,800 ways (100,800 streets with
# highway, name, maxspeed, surface or lit; 1,170,000 buildings with building, addr:street,
# addr:housenumber, addr:postcode and building:levels) and 22,000 relations (2,000 bus routes of
# 20 streets, 20,000 multipolygons of two buildings). Deterministic (srand(42)).
BEGIN {
  srand(42)
  lon0 = 9.70; lat0 = 53.40; dlon = 0.60; dlat = 0.30
  ts = "2024-05-01T12:00:00Z"
  nid = 0; wid = 0; rid = 0
  split("residential residential residential service tertiary secondary primary unclassified living_street footway", hw, " ")
  split("yes yes house apartments residential garage commercial retail", bt, " ")
  split("asphalt asphalt paving_stones cobblestone concrete", sf, " ")
  split("cafe restaurant pharmacy bakery supermarket school bank post_office fuel kindergarten", am, " ")
  G = 450            # grid lines each way: G*G intersections
  for (i = 0; i < G; i++) for (j = 0; j < G; j++) {
    nid++; x = lon0 + dlon * j / (G - 1); y = lat0 + dlat * i / (G - 1)
    printf "n%d v%d dV c%d t%s i%d umapper%d T x%.7f y%.7f\n", nid, 1 + int(rand() * 5), 1000 + nid % 50000, ts, nid % 3000 + 1, nid % 3000 + 1, x, y
  }
  grid = nid
  # POIs
  for (k = 0; k < 150000; k++) {
    nid++; x = lon0 + rand() * dlon; y = lat0 + rand() * dlat
    a = am[1 + int(rand() * 10)]
    printf "n%d v1 dV c%d t%s i%d umapper%d Tamenity=%s,name=%s%%20%%%d,opening_hours=Mo-Fr%%20%%08:00-18:00 x%.7f y%.7f\n", nid, 2000 + k % 40000, ts, k % 3000 + 1, k % 3000 + 1, a, a, k, x, y
  }
  # buildings: 4 corners each
  nb = 0
  for (b = 0; b < 1170000; b++) {
    cx = lon0 + rand() * dlon; cy = lat0 + rand() * dlat; w = 0.00012; h = 0.00008
    for (c = 0; c < 4; c++) {
      nid++
      x = cx + (c == 1 || c == 2 ? w : 0); y = cy + (c >= 2 ? h : 0)
      printf "n%d v1 dV c%d t%s i%d umapper%d T x%.7f y%.7f\n", nid, 3000 + b % 60000, ts, b % 3000 + 1, b % 3000 + 1, x, y
    }
  }
  # ways: streets along grid rows and columns, split every 4 cells
  for (i = 0; i < G; i++) for (j = 0; j + 4 < G; j += 4) {
    wid++; t = hw[1 + int(rand() * 10)]
    printf "w%d v%d dV c%d t%s i%d umapper%d Thighway=%s,name=Street%%20%%%d,maxspeed=%d,surface=%s N", wid, 1 + int(rand() * 3), 5000 + wid % 30000, ts, wid % 3000 + 1, wid % 3000 + 1, t, i, (t == "primary" ? 50 : 30), sf[1 + int(rand() * 5)]
    for (k = 0; k <= 4; k++) printf "%sn%d", (k ? "," : ""), i * G + j + k + 1
    printf "\n"
  }
  for (j = 0; j < G; j++) for (i = 0; i + 4 < G; i += 4) {
    wid++; t = hw[1 + int(rand() * 10)]
    printf "w%d v%d dV c%d t%s i%d umapper%d Thighway=%s,name=Avenue%%20%%%d,maxspeed=30,lit=yes N", wid, 1 + int(rand() * 3), 5000 + wid % 30000, ts, wid % 3000 + 1, wid % 3000 + 1, t, j
    for (k = 0; k <= 4; k++) printf "%sn%d", (k ? "," : ""), (i + k) * G + j + 1
    printf "\n"
  }
  streets = wid
  first = grid + 150000
  for (b = 0; b < 1170000; b++) {
    wid++; n0 = first + 4 * b
    printf "w%d v%d dV c%d t%s i%d umapper%d Tbuilding=%s,addr:street=Street%%20%%%d,addr:housenumber=%d,addr:postcode=2%04d,building:levels=%d Nn%d,n%d,n%d,n%d,n%d\n", wid, 1 + int(rand() * 4), 7000 + b % 60000, ts, b % 3000 + 1, b % 3000 + 1, bt[1 + int(rand() * 8)], int(rand() * G), 1 + int(rand() * 120), int(rand() * 10000), 1 + int(rand() * 6), n0 + 1, n0 + 2, n0 + 3, n0 + 4, n0 + 1
  }
  # relations: bus routes over 20 street ways each, multipolygons over 2 buildings each
  for (r = 0; r < 2000; r++) {
    rid++
    printf "r%d v1 dV c%d t%s i1 umapper1 Ttype=route,route=bus,ref=%d,name=Bus%%20%%%d M", rid, 9000 + r, ts, r, r
    s = 1 + int(rand() * (streets - 20))
    for (k = 0; k < 20; k++) printf "%sw%d@", (k ? "," : ""), s + k
    printf "\n"
  }
  for (r = 0; r < 20000; r++) {
    rid++; b = streets + 1 + int(rand() * 1169998)
    printf "r%d v1 dV c%d t%s i1 umapper1 Ttype=multipolygon,landuse=residential Mw%d@outer,w%d@inner\n", rid, 9500 + r, ts, b, b + 1
  }
}
