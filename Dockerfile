# syntax=docker/dockerfile:1
# spiderpool-guard image: `docker build -t spiderpool-guard .`
# Runs `node dist/webhook/cli/main.js serve` by default; the chart passes `serve --flags...` as args, and any
# other command (check, reconcile, review) can be run with the same image.
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: full dependency set, compile TypeScript to dist/
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY lib ./lib
COPY webhook ./webhook
COPY certs ./certs
RUN npm run build

# ---- runtime: production dependencies only, non-root, nothing written at runtime (readOnlyRootFilesystem)
FROM ${NODE_IMAGE} AS runtime
# jemalloc for the process's native memory (I/O and TLS buffers, V8's own tables): glibc's malloc keeps the
# buffers a first sync churns through as free memory inside its heap, about a quarter of the caches' cost at
# 100,000 pods, and returns it only to malloc_trim, which Node never calls (bench/README.md, "The image's
# allocator"). The chart's memory.allocator=glibc turns it off (LD_PRELOAD="").
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force && rm -rf /root/.npm /tmp/*
COPY --from=build /src/dist/lib ./dist/lib
COPY --from=build /src/dist/webhook ./dist/webhook
COPY --from=build /src/dist/certs ./dist/certs
# Numeric user so that Kubernetes' runAsNonRoot can verify it (the image's "node" user is uid 1000).
USER 1000:1000
# By soname, so the loader finds it in the architecture's library directory. dirty_decay_ms: freed pages go back to
# the system after about 1 s instead of jemalloc's default 10 s, which under bursts of large reviews kept peak RSS at
# 58-80% of the chart's limit against glibc's 50-66%; with 1 s it is 48-66%, as glibc's. With no decay at all every
# freed page was faulted in again, which cost throughput (bench/README.md, "The image's allocator").
ENV LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=dirty_decay_ms:1000
EXPOSE 9443 9090
ENTRYPOINT ["node", "dist/webhook/cli/main.js"]
CMD ["serve"]
