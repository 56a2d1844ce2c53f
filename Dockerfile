# syntax=docker/dockerfile:1
#
# nerdy-k8s-volume-manager: the portal backend (catalog, auth, permissions, volume-manager plugin)
# serving the built frontend on port 7007, as a non-root user, on a read-only root filesystem.
#
#   docker build \
#     --build-arg BUILD_IMAGE=node:20-bookworm-slim \
#     --build-arg RUNTIME_IMAGE=node:20-bookworm-slim \
#     -t ghcr.io/<org>/nerdy-k8s-volume-manager:<tag> .
#
# How the backend runs: the workspace packages publish TypeScript sources (`main: src/index.ts`),
# so the image runs packages/backend through Backstage's own Node transform
# (@backstage/cli/config/nodeTransform.cjs, swc in memory, no cache on disk), exactly as the
# tests do. The backend *bundle* (`backstage-cli package build` for role `backend`) needs
# `yarn pack`, which this npm workspace does not use. packages/deploy-tests rehearses the runtime
# stage outside Docker: same command, same config files, same env defaults, as UID 10001 with
# nothing writable but the data directories. See docs/adrs/002-*.md.
#
# No kubectl in the image: every Kubernetes call (lists, pod create/delete, exec streaming) is
# made by the backend's own client (plugins/volume-manager-backend/src/kubernetes/).

ARG BUILD_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${BUILD_IMAGE} AS build

# Toolchain for native modules (better-sqlite3, ssh2's cpu-features) when no prebuilt binary fits.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The whole workspace (see .dockerignore): npm workspaces need every package.json in place
# before `npm ci`, and the sources are small next to node_modules.
COPY . .
RUN npm ci --no-audit --no-fund

# The frontend: packages/app/dist (index.html.tmpl, so app-backend injects the runtime config
# in memory and never writes into the image).
RUN cd packages/app && npx backstage-cli package build

# Nothing of the tests, benchmarks or simulator is needed at runtime.
RUN rm -rf packages/e2e-tests packages/kube-sim packages/deploy-tests bench \
      node_modules/@nkvm/kube-sim node_modules/@nkvm/deploy-tests node_modules/@nkvm/e2e-tests \
      node_modules/.cache

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime

ARG NKVM_UID=10001
ARG NKVM_GID=10001

# rsync and ssh for the RSYNC destination (it stages the archive, then runs `rsync -e ssh`).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rsync openssh-client \
 && rm -rf /var/lib/apt/lists/*

# The user and the only writable directories. /tmp is for a tmpfs/emptyDir mount when the root
# filesystem is read-only; the backups and data directories are for volumes.
RUN groupadd --system --gid ${NKVM_GID} nkvm \
 && useradd --system --uid ${NKVM_UID} --gid ${NKVM_GID} --home-dir /home/nkvm --create-home \
      --shell /usr/sbin/nologin nkvm \
 && mkdir -p /var/lib/nkvm/backups /var/lib/nkvm/data /etc/nkvm \
 && chown -R ${NKVM_UID}:${NKVM_GID} /var/lib/nkvm /home/nkvm \
 && chmod 0750 /var/lib/nkvm/backups /var/lib/nkvm/data

WORKDIR /app
# Owned by root and not writable by nkvm: the application is immutable at runtime.
# (Includes deploy/docker/healthcheck.cjs, the HEALTHCHECK below.)
COPY --from=build --chown=root:root /app /app

ENV NODE_ENV=production \
    APP_BASE_URL=http://localhost:7007 \
    NKVM_BACKUP_DIR=/var/lib/nkvm/backups \
    NKVM_METADATA_DB_PATH=/var/lib/nkvm/data/backups.db \
    NKVM_DEFAULT_AUTH_MODE=in-cluster

USER ${NKVM_UID}:${NKVM_GID}
EXPOSE 7007
VOLUME ["/var/lib/nkvm/backups", "/var/lib/nkvm/data"]

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "/app/deploy/docker/healthcheck.cjs"]

# Extra config files (for example the Kubernetes ConfigMap's) are appended as more
# `--config <file>` arguments: `docker run … <image> --config /etc/nkvm/app-config.kubernetes.yaml`.
ENTRYPOINT ["node", "--require", "@backstage/cli/config/nodeTransform.cjs", "packages/backend/src/index.ts", \
            "--config", "app-config.yaml", "--config", "app-config.production.yaml"]
