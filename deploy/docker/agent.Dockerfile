# pier-agent: the edge agent. Built by `node scripts/build-images.ts` on top of pier-base, like
# pier-server. It runs the bundle with V8's small-footprint flags (footprintFlags in
# scripts/build-bundle.ts; the build checks the entrypoint below carries them).
ARG BASE=pier-base:latest
FROM ${BASE}
COPY node /usr/local/bin/node
COPY pier /opt/pier
ENV PIER_AGENT_DATA=/data
VOLUME /data
# The agent dials out and listens on nothing. It runs as root because it talks to the Docker
# Engine through /var/run/docker.sock, which only root and the host's docker group may open
# (its gid differs per host): `--user 10001:<gid of the socket>` runs it unprivileged, and the
# Helm chart (no Docker socket on Kubernetes) runs it as 10001.
ENTRYPOINT ["/usr/local/bin/node", "--lite-mode", "--max-semi-space-size=1", "/opt/pier/main.cjs", "agent"]
