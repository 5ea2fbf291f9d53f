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
# 100,000 pods, and returns it only to malloc_trim, which Node never calls; jemalloc returns it as it is freed
# (bench/README.md, "The image's allocator"). The chart's memory.allocator=glibc turns it off (LD_PRELOAD="").
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
# By soname, so the loader finds it in the architecture's library directory. Decay 0: freed pages go back to the
# system at once. jemalloc's default keeps them for 10 s: under bursts of 16,384-record reviews the peak RSS was then
# 64-71% of the chart's limit against 47-49% with decay 0 (bench stress; glibc 50-51%).
ENV LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=dirty_decay_ms:0,muzzy_decay_ms:0
EXPOSE 9443 9090
ENTRYPOINT ["node", "dist/webhook/cli/main.js"]
CMD ["serve"]
