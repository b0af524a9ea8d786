# gatebot's container image: the static Linux binary on distroless/static,
# which has no shell and no package manager, only CA certificates (for
# GitHub's and AWS's TLS), /etc/passwd with the `nonroot` user (65532) and
# tzdata. Nothing is compiled here: the binary is built first, outside
# Docker, by cargo-zigbuild for musl, and copied in:
#
#   make image        # dist/linux/amd64/gatebot, then `docker build` if an engine runs
#   docker build -t ghcr.io/OWNER/gatebot:dev .
#
# .github/workflows/image.yml builds dist/linux/{amd64,arm64}/gatebot and
# both platforms of the image (buildx sets TARGETARCH); with no RUN step,
# the arm64 image needs no emulation. docs/KUBERNETES.md runs it.
FROM gcr.io/distroless/static:nonroot

# Set by BuildKit to the platform being built (amd64, arm64).
ARG TARGETARCH

COPY --chmod=0555 dist/linux/${TARGETARCH}/gatebot /gatebot

# distroless's `nonroot`, by number so that Kubernetes' runAsNonRoot can
# verify it without reading /etc/passwd.
USER 65532:65532

EXPOSE 8080

ENTRYPOINT ["/gatebot"]
# A real server on every address of the container (gatebot's own default is
# 127.0.0.1:8080). The store and the secrets come from the environment: see
# the README's table (GATEBOT_STORE, GITHUB_WEBHOOK_SECRET, GITHUB_APP_ID, …).
CMD ["serve", "--addr", "0.0.0.0:8080"]
