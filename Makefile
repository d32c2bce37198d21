# Terrarium: `make run` installs, builds and launches the app; `make check`
# installs, builds and runs every test suite. Everything else is a helper for
# those two.

BUILD ?= build
MESON_OPTS ?=
ifeq ($(CI),true)
MESON_OPTS += -Dwerror=true
endif
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PACKAGES := $(shell sed -e 's/\#.*//' .ci/debian-packages.txt)

.PHONY: all deps build run app run-serial check format clean

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

# The app from the build tree: its settings schema and the demo machine's
# guest are found there (the machine processes it starts inherit both).
run: build
	@if [ -z "$$DISPLAY" ] && [ -z "$$WAYLAND_DISPLAY" ]; then \
		echo "make run opens the Terrarium window and needs a graphical session."; \
		echo "'make run-serial' boots a small Linux VM on this console instead."; \
		exit 1; \
	fi
	GSETTINGS_SCHEMA_DIR=$(CURDIR)/$(BUILD)/data \
	TERRARIUM_DEMO_KERNEL=$(CURDIR)/$(BUILD)/app/demo/demo.elf \
		$(BUILD)/app/ui/terrarium

app: run

# terrarium-run on this console: the Debian kernel of this machine with busybox.
run-serial: build
	./app/runner/run-demo.sh $(BUILD)

check: build
	python3 tests/check.py $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)
