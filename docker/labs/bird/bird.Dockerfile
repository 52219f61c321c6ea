ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends bird2 iproute2 iputils-ping \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /run/bird
ENTRYPOINT ["/usr/sbin/bird", "-f", "-c", "/etc/vgw-bird/bird.conf"]
