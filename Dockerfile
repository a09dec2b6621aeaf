# kiro-edge container image: a small non-root runtime with the gateway only.
#
#   docker build -t kiro-edge .
#   mkdir -p kiro-state && cp credentials.json kiro-state/ && sudo chown -R 10001 kiro-state
#   docker run -d --name kiro-edge -p 8080:8080 -p 9464:9464 \
#     -e KIRO_EDGE_API_KEYS=change-me -v "$PWD/kiro-state:/var/lib/kiro-edge" kiro-edge
#
# Mount the state directory, not the credentials file: rotated tokens are written back by
# renaming a new file over the old one.
#
# Configuration: /etc/kiro-edge/kiro-edge.yaml (conf/docker.yaml; mount your own over it).

FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so source changes do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src/bin/kiro-mock benches && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > src/bin/kiro-mock/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin kiro-edge || true
COPY src ./src
COPY benches ./benches
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin kiro-edge

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/kiro-edge --shell /usr/sbin/nologin kiro-edge \
    && mkdir -p /etc/kiro-edge /var/lib/kiro-edge /run/kiro-edge \
    && chown kiro-edge:kiro-edge /var/lib/kiro-edge /run/kiro-edge && chmod 0700 /var/lib/kiro-edge
COPY --from=build /src/target/release/kiro-edge /usr/local/bin/kiro-edge
COPY conf/docker.yaml /etc/kiro-edge/kiro-edge.yaml
USER kiro-edge
EXPOSE 8080 9464
VOLUME ["/var/lib/kiro-edge"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/kiro-edge"]
CMD ["-c", "/etc/kiro-edge/kiro-edge.yaml"]
