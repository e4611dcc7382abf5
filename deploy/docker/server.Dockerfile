# pier-server: the control plane. Built by `node scripts/build-images.ts` on top of pier-base
# (glibc and libstdc++ from Debian packages, no shell, no package manager), with a context that
# holds the Node.js runtime (`node`), the bundle (`pier/`), the web UI (`ui/`) and the agent's
# Helm chart the server serves at /charts/ (`charts/pier-agent`).
ARG BASE=pier-base:latest
FROM ${BASE}
COPY node /usr/local/bin/node
COPY pier /opt/pier
COPY ui /opt/pier/ui
COPY charts /opt/pier/charts
ENV PIER_DATA=/data
# /data exists in pier-base, owned by pier (10001): a new named volume inherits that owner.
VOLUME /data
# 9443: HTTPS (web UI and API); 8000: the edge tunnel (TLS). Both are TLS-only listeners.
EXPOSE 9443 8000
# The server needs no privilege: ports above 1024, its own /data. Certificate files mounted
# from the host must be readable by uid 10001 (docs/deploy.md).
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/node", "/opt/pier/main.cjs", "server"]
