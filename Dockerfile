# trigd container image: `docker build -t trigd .`, or `docker-compose up` with docker-compose.yml.
# The image runs /etc/trigd/trigd.json (the quick-start config); mount your own there. To be reachable
# from outside the container, the config must listen on 0.0.0.0 ("http": {"listen": "0.0.0.0:9070"}).
# The working directory is /var/lib/trigd (the trigd user's, writable), where examples/functions/ and
# the C runtime of examples/runtimes/c/ are found, so the quick-start config's relative paths work as they do in the source tree.

FROM debian:12-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential autoconf automake libtool pkg-config \
       libev-dev librdkafka-dev libhiredis-dev libmosquitto-dev libcurl4-openssl-dev libcjson-dev \
       libmicrohttpd-dev libmimalloc-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN autoreconf -fi \
    && ./configure --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
    && make -j"$(nproc)" \
    && make install-strip DESTDIR=/out

FROM debian:12-slim
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends libev4 librdkafka1 libhiredis0.14 libmosquitto1 libcurl4 \
       libcjson1 libmicrohttpd12 libmimalloc2.0 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/trigd --shell /usr/sbin/nologin trigd \
    && install -d -o trigd -g trigd -m 0750 /var/lib/trigd /var/lib/trigd/state \
    && install -d -m 0755 /etc/trigd /usr/share/trigd/examples \
    && ln -s /usr/share/trigd/examples /var/lib/trigd/examples
COPY --from=build /out/usr/bin/trigd /out/usr/bin/trigctl /usr/bin/
COPY config/trigd.json /etc/trigd/trigd.json
COPY examples/functions /usr/share/trigd/examples/functions
# the quick-start config's runtime function: the C custom runtime that make built
COPY --from=build /src/examples/runtimes/c/bootstrap /usr/share/trigd/examples/runtimes/c/bootstrap
USER trigd
WORKDIR /var/lib/trigd
EXPOSE 9070
ENTRYPOINT ["trigd"]
CMD ["-c", "/etc/trigd/trigd.json"]
