# syntax=docker/dockerfile:1
# Build: docker build -t chathooks --build-arg VERSION=v1.0.0 .
# Run:   docker run -p 8080:8080 -v chathooks-data:/data chathooks

# At least the go line of go.mod (the official images build with GOTOOLCHAIN=local).
ARG GO_VERSION=1.26.8
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# A static binary: the SQLite driver is pure Go (SQLite translated from WebAssembly to Go
# source), so cgo is not needed. The empty /out/data becomes the volume, owned by the runtime user.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
        -ldflags "-s -w -X github.com/chathooks/chathooks/internal/version.Version=${VERSION}" \
        -o /out/chathooks ./cmd/chathooks \
    && mkdir -p /out/data

# distroless/static: CA certificates (for https deliveries), tzdata, a nonroot user, no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/chathooks /chathooks
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV CHATHOOKS_ADDR=:8080 \
    CHATHOOKS_DATA=/data
VOLUME /data
EXPOSE 8080
# The image has no curl: the binary checks its own /readyz (on CHATHOOKS_ADDR, via loopback).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/chathooks", "healthcheck"]
ENTRYPOINT ["/chathooks"]
CMD ["serve"]
