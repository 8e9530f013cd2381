# syntax=docker/dockerfile:1
# Multi-stage image for the idp, the gateway and the CLI. Node runs the TypeScript
# sources directly (type stripping), so there is no compile stage: the first stage only
# installs production dependencies (argon2's native module needs a toolchain).
FROM node:24-slim AS deps
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# --ignore-scripts=false: argon2 loads its prebuilt binary or builds one here.
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    SATUPINTU_DATA_DIR=/var/lib/satupintu \
    UV_THREADPOOL_SIZE=4
WORKDIR /app
# .ci/production-install copies the same files and starts each service from them.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY config ./config
COPY examples ./examples
RUN mkdir -p /var/lib/satupintu && chown node:node /var/lib/satupintu
USER node
EXPOSE 3000 8080
# The healthcheck asks the service's liveness endpoint on whichever port it uses.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/satupintu.js"]
CMD ["idp"]
