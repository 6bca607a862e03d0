# Thin wrapper over Meson.  The two commands a newcomer needs:
#   make demo    - the main job: three built-in VMs under balloond
#   make check   - every test, in a -Werror build and an ASan+UBSan build
# Both install missing Debian packages first (scripts/deps).

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
MESON_FLAGS ?=

.PHONY: all deps build asan fuzz-build check check-build check-asan check-fuzz \
	format format-check demo clean

all: build

deps:
	@scripts/deps all

$(BUILD)/build.ninja:
	meson setup $(BUILD) --werror $(MESON_FLAGS)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --werror -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debug $(MESON_FLAGS)

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_lundef=false \
		-Dbuildtype=debugoptimized $(MESON_FLAGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

fuzz-build: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@scripts/format-check

check-build: build
	scripts/run-tests $(BUILD) normal

check-asan: asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		scripts/run-tests $(ASAN_BUILD) asan

check-fuzz: fuzz-build
	scripts/run-fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

check: deps
	@scripts/check-all

demo: build
	scripts/demo $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
