# syntax=docker/dockerfile:1
# The plano-operator image: one binary that runs as `operator` or `webhook`
# (the chart passes the subcommand as the first argument).
#
#   docker build -t plano-operator:0.1.0 --build-arg PLANO_VERSION=0.1.0 .
#
# Both stages are Debian bookworm, so the runtime libraries are the very
# versions the binary was linked against. For releases, pin both FROM lines
# by digest.

ARG DEBIAN_RELEASE=bookworm

# --- build ------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE} AS build
# The C++ toolchain and libraries of scripts/setup.sh. Its test-only packages
# (googletest, python3-venv, openssl, curl, wrk) are left out: tests are not
# built here (PLANO_BUILD_TESTS=OFF).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libcpprest-dev libboost-dev libssl-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Sources only (see .dockerignore); bench/ because the top-level
# CMakeLists.txt always adds it, although only plano-operator is built.
COPY CMakeLists.txt ./
COPY core core
COPY operator operator
COPY webhook webhook
COPY cli cli
COPY bench bench
ARG PLANO_VERSION=0.1.0
# RelWithDebInfo is what scripts/test.sh builds and tests (-O2), so the image
# runs the code CI ran; strip drops the debug info. PLANO_VERSION shows in the startup log line
# and the plano_operator_build_info metric.
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLANO_BUILD_TESTS=OFF \
      "-DCMAKE_CXX_FLAGS=-DPLANO_VERSION='\"${PLANO_VERSION}\"'" \
 && ninja -C build plano-operator \
 && strip build/plano-operator \
 && build/plano-operator --help >/dev/null

# --- runtime ----------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
# Shared libraries the binary links (ldd): cpprestsdk (which brings Boost,
# brotli and zlib), yaml-cpp, spdlog and fmt, OpenSSL. No CA bundle: the only
# server it calls is the API server, trusted through the service account's CA.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcpprest2.10 libyaml-cpp0.7 libspdlog1.10 libfmt9 libssl3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/plano-operator /usr/local/bin/plano-operator
# A numeric user, so the kubelet can verify runAsNonRoot without /etc/passwd;
# the chart sets the same runAsUser. Nothing in the image needs to be written.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/plano-operator"]
CMD ["--help"]
