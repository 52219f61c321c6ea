# BIRD 2 (Debian bookworm) as the on-premises router, for machines with a
# registry. Offline, build the image from the host with local-image.sh.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends bird2 iproute2 iputils-ping \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /run/bird
# bird-entrypoint.sh comes with the lab folder, mounted at /etc/vgw-bird.
ENTRYPOINT ["/bin/sh", "/etc/vgw-bird/bird-entrypoint.sh"]
