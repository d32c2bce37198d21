# Terrarium: `make run` installs, builds and launches; `make check` installs,
# builds and runs every test suite. Everything else is a helper for those two.

BUILD ?= build
MESON_OPTS ?=
ifeq ($(CI),true)
MESON_OPTS += -Dwerror=true
endif
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PACKAGES := $(shell sed -e 's/\#.*//' .ci/debian-packages.txt)

.PHONY: all deps build run app check format clean

all: build

deps:
	@missing=$$(dpkg-query -W -f='$${db:Status-Abbrev} $${Package}\n' $(PACKAGES) 2>/dev/null \
		| awk '$$1 == "ii" { print $$2 }' | sort > .deps-have; \
		for p in $(PACKAGES); do grep -qx "$$p" .deps-have || echo $$p; done); \
	rm -f .deps-have; \
	if [ -n "$$missing" ]; then \
		echo "Installing: $$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

run: build
	./app/runner/run-demo.sh $(BUILD)

app: build
	GSETTINGS_SCHEMA_DIR=$(BUILD)/data $(BUILD)/app/ui/terrarium

check: build
	python3 tests/check.py $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)
