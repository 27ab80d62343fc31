# syntax=docker/dockerfile:1
# The osmtrack image: one static binary and what it needs at run time, running as UID 10001
# (the CronJobs' runAsUser; etl/manifest checks both agree). Build:
#   docker build --build-arg VERSION=$(git describe --tags) -t ghcr.io/osmtrack/osmtrack:TAG .

# Leaflet, copied into every published site (publish finds it next to the binary).
FROM node:22.11.0-bookworm-slim AS assets
WORKDIR /src/site
COPY site/package.json site/package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev

# The binary: static (no cgo), templates and migrations embedded.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" -o /out/osmtrack ./jobs

# influxd (1.8, the server version) does `osmtrack backup influxdb` / `restore influxdb`
# over the RPC port.
FROM influxdb:1.8.10 AS influxdb

FROM debian:12.8-slim
# ca-certificates: HTTPS to the OSM servers. postgresql-client-15: pg_dump and pg_restore for
# `osmtrack backup postgis` / `restore postgis` (first on PATH, not via pg_wrapper).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates postgresql-client-15 tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 osmtrack \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin osmtrack
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY --from=influxdb /usr/bin/influxd /usr/local/bin/influxd
COPY --from=assets /src/site/node_modules/leaflet/dist /usr/local/share/osmtrack/leaflet
COPY --from=build /out/osmtrack /usr/local/bin/osmtrack
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/osmtrack"]
CMD ["help"]
