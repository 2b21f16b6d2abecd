# kmirror container image: a release build on Debian bookworm, run as a
# non-root user on debian:bookworm-slim with only the runtime libraries.
#
#   docker build -t kmirror .
#   docker run --rm -u 10001 \
#     -v /etc/krb5.conf:/etc/krb5.conf:ro \
#     -v /etc/kmirror:/etc/kmirror:ro \
#     -v /etc/kmirror/keytabs:/keytabs:ro \
#     --read-only --tmpfs /tmp \
#     kmirror --consumer.config /etc/kmirror/source.properties \
#             --producer.config /etc/kmirror/target.properties \
#             --jaas /etc/kmirror/kerberos.jaas --whitelist 'orders'
#
# The keytab must be owned by uid 10001 and mode 0600 (kmirror refuses
# anything looser). docker/docker-compose.yml runs this image in a complete
# kerberized rig; see docker/README.md.

FROM rust:bookworm AS builder
# librdkafka (built by the rdkafka crate with cmake) with SSL, SASL/GSSAPI,
# zlib and zstd; clang/libclang for the GSSAPI bindings (bindgen).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake pkg-config \
      libssl-dev libsasl2-dev libsasl2-modules-gssapi-mit libkrb5-dev \
      libcurl4-openssl-dev zlib1g-dev libzstd-dev \
      clang libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kmirror --bin kmirror \
 && install -D -m 0755 target/release/kmirror /out/usr/local/bin/kmirror \
 && mkdir -p /out/usr/share/man/man1 /out/usr/share/bash-completion/completions \
             /out/usr/share/zsh/vendor-completions /out/usr/share/fish/vendor_completions.d \
 && target/release/kmirror manpage --dir /out/usr/share/man/man1 \
 && gzip -9n /out/usr/share/man/man1/*.1 \
 && target/release/kmirror completions bash > /out/usr/share/bash-completion/completions/kmirror \
 && target/release/kmirror completions zsh > /out/usr/share/zsh/vendor-completions/_kmirror \
 && target/release/kmirror completions fish > /out/usr/share/fish/vendor_completions.d/kmirror.fish

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libsasl2-2 libsasl2-modules-gssapi-mit libssl3 libkrb5-3 libgssapi-krb5-2 \
      libcurl4 zlib1g libzstd1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 kmirror \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin kmirror \
 && mkdir -p /etc/kmirror /keytabs
COPY --from=builder /out/ /
# Configuration (properties, JAAS) and the keytab are mounted read-only:
#   /etc/kmirror  properties and JAAS files    /keytabs  the mirror's keytab
#   /etc/krb5.conf (or KRB5_CONFIG)            /tmp      kmirror's private ticket cache
VOLUME ["/etc/kmirror", "/keytabs"]
USER 10001:10001
WORKDIR /tmp
# --metrics.addr 0.0.0.0:9404 serves /metrics, /healthz and /readyz here.
EXPOSE 9404
STOPSIGNAL SIGTERM
ENTRYPOINT ["kmirror"]
CMD ["--help"]
