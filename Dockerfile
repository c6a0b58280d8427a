# syntax=docker/dockerfile:1
# The auditor's image: built with the pinned toolchain, run as a non-root
# user on a slim base. `docker compose up -d` (compose.yaml) runs it as
# `auditctl run` beside PostgreSQL.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The toolchain file pins the same version; no download happens when it matches.
COPY rust-toolchain.toml Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY crates crates
COPY xtask xtask
COPY migrations migrations
COPY config config
RUN cargo build --release --locked -p auditctl \
 && install -D target/release/auditctl /out/auditctl

FROM debian:bookworm-slim
# ca-certificates for the Chutes API over TLS; curl for the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --create-home auditor
COPY --from=build /out/auditctl /usr/local/bin/auditctl
USER auditor
WORKDIR /data
ENV AUDITCTL_DATA_DIR=/data
EXPOSE 9464
HEALTHCHECK --interval=60s --timeout=5s --start-period=120s \
  CMD curl -fsS http://127.0.0.1:9464/healthz || exit 1
ENTRYPOINT ["auditctl"]
CMD ["run", "--listen", "0.0.0.0:9464"]
