# syntax=docker/dockerfile:1
# The Faultline runner image: `chaos` as the entrypoint, for `chaos schedule`'s CronJobs and for CI.
# Build: docker build -t ghcr.io/faultline/chaos:$(node -p "require('./package.json').version") .
# See docs/image.md.

# Override to pin by digest (node:20-bookworm-slim@sha256:…) for reproducible builds.
ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: compile TypeScript with the dev dependencies --------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# The workspaces (packages/core, packages/sandbox): all of them here, since the CLI compiles against
# both packages' declarations.
COPY package.json package-lock.json ./
COPY packages/core/package.json ./packages/core/
COPY packages/sandbox/package.json ./packages/sandbox/
# --ignore-scripts: `prepare` would build before the sources are here, and no dependency needs an
# install script to compile (esbuild's, for tsx, is only for running tests).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY packages/core/tsconfig.json ./packages/core/
COPY packages/core/src ./packages/core/src
COPY packages/sandbox/tsconfig.json ./packages/sandbox/
COPY packages/sandbox/src ./packages/sandbox/src
RUN npm run build

# --- runtime: production dependencies and the compiled code only, without the sandbox ---------
# The CLI's package and @faultline/core (Istio's model, errors, durations). Not packages/sandbox: a
# workspace whose folder is absent is not installed, nor are its dependencies (ws, spdy-transport),
# and the CLI loads the sandbox only on demand (src/runner/sandbox.ts), saying that it is absent.
FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="faultline" \
      org.opencontainers.image.description="chaos: declarative, header-targeted chaos experiments for Istio service meshes" \
      org.opencontainers.image.source="https://github.com/faultline/faultline" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

ENV NODE_ENV=production \
    NO_UPDATE_NOTIFIER=1 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    HOME=/tmp
WORKDIR /opt/faultline
COPY package.json package-lock.json ./
COPY packages/core/package.json ./packages/core/
# --omit=dev: no compiler, test runner or browser driver in the image. --ignore-scripts: `prepare`
# would try to build (tsc is a dev dependency); dist/ comes from the build stage instead.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && ln -s /opt/faultline/bin/chaos /usr/local/bin/chaos
COPY --from=build /src/dist ./dist
COPY --from=build /src/packages/core/dist ./packages/core/dist
COPY --from=build /src/oclif.manifest.json ./
COPY bin ./bin
COPY schema ./schema
COPY packages/core/schema ./packages/core/schema
COPY experiments ./experiments

# A numeric user, so the kubelet can verify runAsNonRoot without a passwd lookup; the same UID
# `chaos schedule` sets in the pod's securityContext. No home directory: HOME is /tmp.
RUN groupadd --system --gid 10001 chaos \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin chaos
USER 10001:10001

ENTRYPOINT ["chaos"]
CMD ["--help"]
