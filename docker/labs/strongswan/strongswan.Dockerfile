# strongSwan 5.9 (Debian bookworm) as an on-premises VPN device, for machines
# with a registry. Offline, build the image from the host with local-image.sh.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins \
        libstrongswan-standard-plugins iproute2 iputils-ping \
    && rm -rf /var/lib/apt/lists/*
COPY docker/labs/strongswan/strongswan-entrypoint.sh /usr/local/bin/strongswan-entrypoint.sh
ENTRYPOINT ["/usr/local/bin/strongswan-entrypoint.sh"]
