# fleet: plain Makefile, pkg-config for every library, no autotools.
#
#   make            build/fleet and the test helpers
#   make deps       install missing Debian packages (root) or print the line
#   make test       deps + build + unit and end-to-end tests
#   make asan-test  the same suite built with ASan+UBSan (in build-asan/)
#   make demo       bring demo-echo up on the local provider and down again
#   make install    PREFIX=/usr/local (binary, templates, man page)
#   make fuzz       libFuzzer targets (needs clang)
#   make fuzz-run   build them and run each for FUZZ_SECONDS (20)
#   make analyze    clang's static analyzer (scan-build): zero findings

PREFIX	?= /usr/local
BUILD	?= build
CC	?= cc

PKGS	 = libcurl libcjson libssh2 yaml-0.1 libevent libevent_openssl \
	   sqlite3 openssl
DEB_PKGS = build-essential pkg-config libcurl4-openssl-dev libcjson-dev \
	   libssh2-1-dev libyaml-dev libevent-dev libsqlite3-dev \
	   libcmocka-dev libssl-dev openssl openssh-server openssh-client curl \
	   procps iproute2 psmisc

# What make analyze, fuzz and fuzz-run need besides DEB_PKGS.
DEV_PKGS = clang clang-tools libclang-rt-14-dev

WARN	 = -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
	   -Wshadow -Wwrite-strings -Wundef -Werror
CFLAGS	?= -O2 -g
XCFLAGS	 = -std=c11 -D_GNU_SOURCE $(WARN) -Iorchestrator -Idrivers \
	   $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
	   -DFLEET_DATADIR='"$(PREFIX)/share/fleet"'
LIBS	 = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
TLIBS	 = $(shell pkg-config --libs cmocka 2>/dev/null)

# Every orchestrator/ and drivers/ file goes into the binary; fleet.c holds
# main() and is left out of libfleet.a, which the test programs link.
SRCS	 = $(sort $(wildcard orchestrator/*.c drivers/*.c))
OBJS	 = $(SRCS:%.c=$(BUILD)/%.o)
LIBOBJS	 = $(filter-out $(BUILD)/orchestrator/fleet.o,$(OBJS))
UNIT_SRCS = $(sort $(wildcard tests/unit/test-*.c))
UNITS	 = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FAKE_SRCS = $(sort $(wildcard tests/fakecloud/*.c))
HDRS	 = $(wildcard orchestrator/*.h drivers/*.h tests/unit/*.h \
	   tests/fakecloud/*.h)

all: $(BUILD)/fleet $(BUILD)/fakecloud $(UNITS)

$(BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(XCFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/fleet: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LIBS)

# Test programs link the archive, so they pull in only what they use.
$(BUILD)/libfleet.a: $(LIBOBJS)
	rm -f $@
	ar rcs $@ $(LIBOBJS)

$(BUILD)/fakecloud: $(FAKE_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/libfleet.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/test-%: $(BUILD)/tests/unit/test-%.o $(BUILD)/libfleet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(TLIBS)

deps:
	@sh tests/deps.sh $(DEB_PKGS)

test: deps
	@$(MAKE) --no-print-directory all
	@sh tests/run.sh $(BUILD)

asan-test: deps
	@$(MAKE) --no-print-directory BUILD=build-asan \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" all
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    sh tests/run.sh build-asan

demo: deps
	@echo "building fleet (make all)..."
	@$(MAKE) -s --no-print-directory all
	@sh tests/demo.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory all
	@sh tests/bench.sh $(BUILD)

install: $(BUILD)/fleet
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/fleet/templates \
	    $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BUILD)/fleet $(DESTDIR)$(PREFIX)/bin/fleet
	install -m 0644 templates/*.yaml $(DESTDIR)$(PREFIX)/share/fleet/templates/
	install -m 0644 fleet.yaml $(DESTDIR)$(PREFIX)/share/fleet/fleet.yaml.example
	install -m 0644 docs/fleet.1 $(DESTDIR)$(PREFIX)/share/man/man1/fleet.1
	# Completion scripts, written by the binary being installed (they ask
	# it for the words at completion time, so they never go stale).
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	    $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	    $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	$(BUILD)/fleet completion bash > \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/fleet
	$(BUILD)/fleet completion zsh > \
	    $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_fleet
	$(BUILD)/fleet completion fish > \
	    $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/fleet.fish

# libFuzzer targets: the library rebuilt with clang and the fuzzer's
# coverage hooks, each tests/fuzz/fuzz-*.c linked against it.
FUZZ_SRCS = $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_CFLAGS = -O1 -g -fsanitize=fuzzer-no-link,address,undefined
fuzz:
	@sh tests/deps.sh $(DEB_PKGS) $(DEV_PKGS)
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
	    CFLAGS="$(FUZZ_CFLAGS)" build-fuzz/libfleet.a
	@for f in $(FUZZ_SRCS); do \
	    n=$$(basename $$f .c); \
	    clang $(XCFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined \
	        -o build-fuzz/$$n $$f build-fuzz/libfleet.a $(LIBS) || exit 1; \
	    echo "built build-fuzz/$$n (run: build-fuzz/$$n -max_total_time=60)"; \
	done

# Every fuzz target for a bounded time, from an empty corpus each run
# (kept in build-fuzz/corpus-NAME); a crash or leak fails the target.
FUZZ_SECONDS ?= 20
fuzz-run: fuzz
	@for f in $(FUZZ_SRCS); do \
	    n=$$(basename $$f .c); mkdir -p build-fuzz/corpus-$$n; \
	    echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	    build-fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	        -rss_limit_mb=2048 -print_final_stats=1 \
	        -artifact_prefix=build-fuzz/$$n- build-fuzz/corpus-$$n \
	        > build-fuzz/$$n.log 2>&1 || { tail -n 40 build-fuzz/$$n.log; \
	        echo "fuzz: $$n FAILED"; exit 1; }; \
	    grep -E '^stat::number_of_executed_units' build-fuzz/$$n.log; \
	done

# clang's static analyzer over the binary and the fakes; any finding
# fails (a kept one needs a comment saying why, and a code change the
# analyzer understands).
analyze:
	@sh tests/deps.sh $(DEB_PKGS) $(DEV_PKGS)
	@rm -rf build-analyze
	@scan-build --status-bugs -o build-analyze/report \
	    $(MAKE) -s --no-print-directory BUILD=build-analyze \
	    build-analyze/fleet build-analyze/fakecloud

clean:
	rm -rf build build-asan build-fuzz build-analyze

.PHONY: all deps test asan-test demo bench install fuzz fuzz-run analyze clean
.SECONDARY:
