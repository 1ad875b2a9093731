# Two entry points: `make run` and `make test`. Both set up what is missing first.
SHELL := /bin/bash
ELIXIR_CODER_CPU ?= $(shell scripts/host-cpu.sh)
export ELIXIR_CODER_CPU
SWIFT_FLAGS := -c release -Xswiftc -enable-testing
BIN := .build/release/elixir-coder
BENCH := .build/release/elixir-coder-bench
TASK ?= Write a function that returns the sum of the squares of a list of integers.

.PHONY: setup build run test bench clean

setup:
	@scripts/setup.sh

build:
	@echo "==> swift build $(SWIFT_FLAGS) (cpu: $(ELIXIR_CODER_CPU))" >&2
	@swift build $(SWIFT_FLAGS)

# The main job on the embedded default model.
run: setup build
	@$(BIN) models pull
	@# Exit 3 (problems remain, best candidate printed) and 4 (asked for clarification) are answers, not failures.
	@$(BIN) generate "$(TASK)"; s=$$?; [ $$s -eq 0 ] || [ $$s -eq 3 ] || [ $$s -eq 4 ]

test: setup build
	@$(BIN) models pull
	@swift test $(SWIFT_FLAGS) --no-parallel

bench: setup build
	@$(BIN) models pull
	@$(BENCH) engine

clean:
	rm -rf .build
