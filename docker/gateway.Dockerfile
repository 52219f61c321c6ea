# syntax=docker/dockerfile:1
# vnet-gateway image: vgwd, vgw, iproute2, ping. Runs with cap_add NET_ADMIN and
# /dev/net/tun; no --privileged.
#
# Two ways to build, chosen automatically by what the base image holds:
#   * official image (default NODE_IMAGE=node:20-slim, needs a registry):
#       builds from source in the image: apt toolchain, npm ci (node-gyp builds
#       the TUN addon), npm run build, production node_modules only.
#   * local base image (NODE_IMAGE=$(docker/local-base-image.sh), offline):
#       that image has node but no npm and no compiler, so the HOST's build is
#       used: run `npm ci && npm run build` on the host first. The addon was
#       built against the host's node, which is the node in that image.
# Both paths end in the same runtime stage.
#
#   docker build -f docker/gateway.Dockerfile -t vgw-gateway .
#   docker build -f docker/gateway.Dockerfile --build-arg NODE_IMAGE=$(docker/local-base-image.sh) -t vgw-gateway .
ARG NODE_IMAGE=node:20-slim

FROM ${NODE_IMAGE} AS build
# Lets .ci/docker-lab.sh prune this stage's leftover images (and only those).
LABEL org.vgw.lab=build
WORKDIR /src
COPY . .
RUN set -e; \
    if command -v npm >/dev/null 2>&1; then \
        echo "gateway.Dockerfile: building from source (npm ci + npm run build)"; \
        if ! command -v g++ >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
            apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
            && rm -rf /var/lib/apt/lists/*; \
        fi; \
        rm -rf node_modules dist build; \
        npm ci --no-audit --no-fund; \
        npm run build; \
    else \
        echo "gateway.Dockerfile: no npm in the base image: using the host's build (dist/, build/Release, node_modules)"; \
    fi; \
    node docker/stage-runtime.mjs /src /opt/vgw

FROM ${NODE_IMAGE} AS runtime
# The official slim image has neither ip, ping nor arping (gratuitous ARP on an
# HA takeover); the local base image has them (arping if the host has it).
RUN set -e; \
    missing=""; \
    command -v ip >/dev/null 2>&1 || missing="$missing iproute2"; \
    command -v ping >/dev/null 2>&1 || missing="$missing iputils-ping"; \
    command -v arping >/dev/null 2>&1 || missing="$missing iputils-arping"; \
    if [ -n "$missing" ] && command -v apt-get >/dev/null 2>&1; then \
        apt-get update && apt-get install -y --no-install-recommends $missing \
        && rm -rf /var/lib/apt/lists/*; \
    fi; \
    command -v ip >/dev/null 2>&1 && command -v ping >/dev/null 2>&1; \
    mkdir -p /run/vgw /etc/vgw /usr/local/bin /usr/local/lib/vgw-lab
COPY --from=build /opt/vgw /opt/vgw
COPY docker/lab/*.sh /usr/local/lib/vgw-lab/
RUN ln -s /opt/vgw/bin/vgwd.js /usr/local/bin/vgwd && ln -s /opt/vgw/bin/vgw.js /usr/local/bin/vgw \
    && chmod +x /opt/vgw/bin/vgwd.js /opt/vgw/bin/vgw.js /usr/local/lib/vgw-lab/*.sh
ENV NODE_ENV=production
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/lib/vgw-lab/gateway-entrypoint.sh"]
