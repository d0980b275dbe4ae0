# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each creates its own virtualenv (.venv) with the host's python3.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PAYLOAD ?= {"name": "world"}
MARK   ?= not network

.PHONY: demo test test-all test-lowest lint bench bench-quick clean launcher-pyc venv profiles zlib-ng

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/.installed

demo: $(BIN)/.installed
	mkdir -p out
	$(BIN)/ignite-pack build fixtures/python-hello -o out/hello.tar.gz
	$(BIN)/ignite-pack invoke out/hello.tar.gz -p '$(PAYLOAD)'

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m "$(MARK)"

# The dependency and CLI tests with exactly the lowest versions pyproject.toml allows.
test-lowest:
	bash .ci/lowest

test-all: $(BIN)/.installed
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check packager launcher tests
	$(BIN)/mypy
	@$(BIN)/python -c 'import importlinter' 2>/dev/null || { echo "make lint: import-linter is missing (it needs Python 3.10+; PYTHON=$(PYTHON))" >&2; exit 1; }
	$(BIN)/lint-imports --no-cache

# Regenerate the launcher's committed bytecode (CPython 3.12 and 3.13) and the default build's
# premade launcher segment after editing launcher/.
launcher-pyc: $(BIN)/.installed
	$(BIN)/python -m packager.artifact.embed

# Regenerate the target profiles from the package index (pins kept; `make profiles UPGRADE=--upgrade` moves them):
# each pinned distribution's dependencies and extras are read from its metadata for the target.
# The arm64 and 3.13 profiles take the default profile's pins as constraints (the same image
# release on another architecture or Python), so they move with it. docs/targets.md explains.
IMAGE_ROOTS := numpy pandas requests httpx pydantic boto3 cloudpickle
PROFILES_DIR := packager/deps/profiles
GEN_PROFILE := $(BIN)/python -m packager.deps.profiles.generate --glibc 2.36 --roots $(IMAGE_ROOTS)
UPGRADE ?=
profiles: $(BIN)/.installed
	$(GEN_PROFILE) --name python3.12 --image python:3.12 --python 3.12.12 --arch x86_64 $(UPGRADE) \
		-o $(PROFILES_DIR)/python3.12.toml
	$(GEN_PROFILE) --name python3.12-arm64 --image python:3.12 --python 3.12.12 --arch aarch64 \
		--pins-from $(PROFILES_DIR)/python3.12.toml -o $(PROFILES_DIR)/python3.12-arm64.toml
	$(GEN_PROFILE) --name python3.13 --image python:3.13 --python 3.13.9 --arch x86_64 \
		--pins-from $(PROFILES_DIR)/python3.12.toml -o $(PROFILES_DIR)/python3.13.toml
	$(GEN_PROFILE) --name python3.13-arm64 --image python:3.13 --python 3.13.9 --arch aarch64 \
		--pins-from $(PROFILES_DIR)/python3.12.toml -o $(PROFILES_DIR)/python3.13-arm64.toml

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py --full

bench-quick: $(BIN)/.installed
	$(BIN)/python bench/run.py --quick

# A second deflate implementation for tests/test_deflate.py: zlib-ng in zlib-compat mode (the zlib
# Fedora >= 40 links CPython against), built from the source that the zlib-ng Python package's
# sdist carries (pip downloads it; cmake and a C compiler build it, ~20 s). The test preloads it.
ZLIB_NG_VERSION ?= 1.1.0
zlib-ng: .zlib-ng/libz.so.1
.zlib-ng/libz.so.1: $(BIN)/.installed
	rm -rf .zlib-ng && mkdir -p .zlib-ng/src
	$(BIN)/python -m pip download -q --no-deps --no-binary :all: zlib-ng==$(ZLIB_NG_VERSION) -d .zlib-ng
	tar xzf .zlib-ng/zlib_ng-$(ZLIB_NG_VERSION).tar.gz -C .zlib-ng/src
	cmake -S .zlib-ng/src/zlib_ng-$(ZLIB_NG_VERSION)/src/zlib_ng/zlib-ng -B .zlib-ng/build -DZLIB_COMPAT=ON \
		-DZLIB_ENABLE_TESTS=OFF -DZLIBNG_ENABLE_TESTS=OFF -DWITH_GTEST=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build .zlib-ng/build -j2 --target zlib-ng >/dev/null
	cp .zlib-ng/build/libz.so.1.*zlib-ng .zlib-ng/libz.so.1
