# syntax=docker/dockerfile:1
# Build: a static, cgo-free binary (the SQLite driver is pure Go) with templates and static files
# embedded, so the final image needs nothing but the binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/auctionhouse . \
 && mkdir -p /out/data/uploads

# Run: distroless, no shell, non-root (uid 65532). /data holds uploaded photos (and the SQLite
# file if no DATABASE_URL is given); it is owned by the runtime user so a fresh volume is writable.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/auctionhouse /app/auctionhouse
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV PORT=3000 \
    UPLOAD_DIR=/data/uploads \
    SQLITE_PATH=/data/auction.db
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/app/auctionhouse", "healthcheck"]
ENTRYPOINT ["/app/auctionhouse"]
