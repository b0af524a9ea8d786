# gatebot — the two commands a newcomer needs:
#   make run    start gatebot locally (dry run, SQLite, no GitHub App needed)
#   make test   run the whole test suite (installs what it needs)

CARGO ?= cargo
RUN_DB ?= gatebot-dev.db
RUN_ADDR ?= 127.0.0.1:8080
export GITHUB_WEBHOOK_SECRET ?= dev-secret

.PHONY: run test lint fmt build clean

build:
	$(CARGO) build --locked

run:
	$(CARGO) run --locked -- serve --dry-run --config events/gatebot.yml --store sqlite:$(RUN_DB) --addr $(RUN_ADDR)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

test: lint
	$(CARGO) test --locked --all-targets
	$(CARGO) test --locked --doc

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -f $(RUN_DB) $(RUN_DB)-wal $(RUN_DB)-shm
