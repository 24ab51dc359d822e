# tq -- one non-recursive Makefile.
#
#   make            build/tq, build/tq-worker, build/libtq.a, build/libtq.so
#   make test       install what is missing (as root), build, run every test
#   make python-test  the Python package's tests (python/tests, unittest)
#   make demo       install what is missing, build, run a worker on real work
#   make bench      the benchmark (table + bench/results/*.json)
#   make bench-peers  the same workloads through tq and its peers (bench/peers/)
#   make asan       ASan + UBSan build in build/asan, then every test on it
#   make valgrind   the integration path with the worker under valgrind
#   make install PREFIX=/usr/local
#   make examples   install into build/prefix, build examples/ against it
#   make deb        the Debian packages tq, libtq0, libtq-dev in build/deb (debian/)
#
# Libraries come from pkg-config; nothing is vendored.

PKG_CONFIG ?= pkg-config
CC ?= cc
PREFIX ?= /usr/local
BUILD ?= build
OPT ?= -O2 -g

# libevent_openssl and openssl: rediss:// (broker/tls.c bridges hiredis,
# which has no TLS, through a libevent OpenSSL bufferevent)
PKGS := hiredis libevent jansson libevent_openssl openssl
DEP_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
DEP_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -fPIC -MMD -MP \
	-I. -Iinclude -I$(BUILD)/gen $(DEP_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS_ALL := $(EXTRA_LDFLAGS)
LIBS := $(DEP_LIBS) -lm -pthread

LIB_SRC := $(wildcard proto/*.c) $(wildcard broker/*.c) \
	$(wildcard client/*.c) \
	$(wildcard worker/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
TQ_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard cmd/tq/*.c))
# the help renderer both programs share (cmd/common/help.h)
HELP_OBJ := $(BUILD)/obj/cmd/common/help.o
WORKER_OBJ := $(BUILD)/obj/cmd/tq-worker/main.o $(BUILD)/obj/cmd/tq-worker/help.o $(HELP_OBJ)
LUA := $(wildcard broker/lua/*.lua)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

SOVERSION := 0
# written once, in include/tq/tq.h (TQ_VERSION)
VERSION := $(shell sed -n 's/^\#define TQ_VERSION "\(.*\)"$$/\1/p' include/tq/tq.h)
ifeq ($(VERSION),)
$(error include/tq/tq.h does not define TQ_VERSION "x.y.z")
endif

.PHONY: all deps test unit units integration demo bench asan valgrind install examples clean
.SECONDARY:

all: $(BUILD)/tq $(BUILD)/tq-worker $(BUILD)/libtq.a $(BUILD)/libtq.so $(BUILD)/tq.pc

# ---------------------------------------------------------------- generated

# broker/gen-scripts.sh: from broker/lua/*.lua, the enum tq_script (every
# file that includes broker/broker.h needs it: made before any object), and
# the scripts' sources, SHAs and table for broker/scripts.c, with the job
# defaults of proto/proto.h written into the prelude. Adding (or removing) a
# script is adding (or removing) a file: broker/lua, the folder, is a
# prerequisite for that. The enum is replaced only when it changed (its
# stamp records the check), so that editing a script rebuilds scripts.o alone.
GEN_IDS := $(BUILD)/gen/tq_script_ids.h

$(GEN_IDS): $(GEN_IDS:.h=.stamp)
	@test -f $@ || sh broker/gen-scripts.sh ids broker/lua > $@
$(GEN_IDS:.h=.stamp): broker/lua $(LUA) broker/gen-scripts.sh
	@mkdir -p $(@D)
	sh broker/gen-scripts.sh ids broker/lua > $(GEN_IDS).tmp
	@cmp -s $(GEN_IDS).tmp $(GEN_IDS) && rm $(GEN_IDS).tmp || mv $(GEN_IDS).tmp $(GEN_IDS)
	@touch $@

$(BUILD)/gen/tq_scripts.h: broker/lua $(LUA) broker/gen-scripts.sh proto/proto.h
	@mkdir -p $(@D)
	sh broker/gen-scripts.sh src broker/lua proto/proto.h > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/broker/scripts.o: $(BUILD)/gen/tq_scripts.h

# web/gen-assets.sh: the dashboard's page (web/index.html, app.js, app.css)
# as C strings, served by cmd/tq/dashboard.c from the binary.
WEB := $(wildcard web/*.html web/*.js web/*.css)
$(BUILD)/gen/tq_assets.h: $(WEB) web/gen-assets.sh
	@mkdir -p $(@D)
	sh web/gen-assets.sh web > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/cmd/tq/dashboard.o: $(BUILD)/gen/tq_assets.h

# tq_build_info's commit (worker/metrics.c): `git describe` of the checkout,
# else "unknown"; the header is rewritten only when that changes.
TQ_COMMIT := $(or $(shell git -C $(CURDIR) describe --always --dirty 2>/dev/null | tr -cd 'A-Za-z0-9._+-'),unknown)
$(BUILD)/gen/tq_commit.h: FORCE
	@mkdir -p $(@D)
	@printf '#define TQ_COMMIT "%s"\n' '$(TQ_COMMIT)' > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@
$(BUILD)/obj/worker/metrics.o: $(BUILD)/gen/tq_commit.h
$(BUILD)/obj/cmd/tq/main.o $(BUILD)/obj/cmd/tq-worker/main.o: $(BUILD)/gen/tq_commit.h
.PHONY: FORCE
FORCE:

# test_help checks the help renderer and both programs' tables.
$(BUILD)/tests/test_help: $(HELP_OBJ) $(BUILD)/obj/cmd/tq/help.o $(BUILD)/obj/cmd/tq-worker/help.o

# test_broker reads broker/lua/ to check the generated table against it.
$(BUILD)/obj/tests/unit/test_broker.o: CFLAGS_ALL += -DTQ_SOURCE_DIR='"$(CURDIR)"'

# Man pages and shell completion, from the same tables as --help
# (cmd/tq/help.c, cmd/tq-worker/help.c, rendered by cmd/common/help.c
# through the programs' hidden --help-man and --help-completion), and
# libtq(3) from docs/api.md by man/md2man.awk. The pages' date: the last
# commit's (reproducible), else today.
MAN_DATE := $(or $(shell git -C $(CURDIR) log -1 --format=%cs 2>/dev/null),$(shell date -u +%Y-%m-%d))
MAN_PAGES := $(BUILD)/man/tq.1 $(BUILD)/man/tq-worker.8 $(BUILD)/man/libtq.3
COMPLETIONS := $(BUILD)/completion/bash/tq $(BUILD)/completion/bash/tq-worker \
	$(BUILD)/completion/zsh/_tq $(BUILD)/completion/zsh/_tq-worker
all: $(MAN_PAGES) $(COMPLETIONS)

$(BUILD)/man/tq.1: $(BUILD)/tq
	@mkdir -p $(@D)
	$(BUILD)/tq --help-man $(MAN_DATE) > $@.tmp && mv $@.tmp $@
$(BUILD)/man/tq-worker.8: $(BUILD)/tq-worker
	@mkdir -p $(@D)
	$(BUILD)/tq-worker --help-man $(MAN_DATE) > $@.tmp && mv $@.tmp $@
$(BUILD)/man/libtq.3: docs/api.md man/md2man.awk include/tq/tq.h
	@mkdir -p $(@D)
	awk -v title=LIBTQ -v section=3 -v version=$(VERSION) -v date=$(MAN_DATE) \
		-v name=libtq -v summary="the C API of the tq task queue: clients and workers" \
		-f man/md2man.awk docs/api.md > $@.tmp && mv $@.tmp $@
$(BUILD)/completion/bash/%: $(BUILD)/%
	@mkdir -p $(@D)
	$< --help-completion bash > $@.tmp && mv $@.tmp $@
$(BUILD)/completion/zsh/_%: $(BUILD)/%
	@mkdir -p $(@D)
	$< --help-completion zsh > $@.tmp && mv $@.tmp $@

# ---------------------------------------------------------------- objects

$(BUILD)/obj/%.o: %.c | $(GEN_IDS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# libtq.so exports the public API alone: what include/tq/ marks TQ_API.
$(LIB_OBJ): CFLAGS_ALL += -fvisibility=hidden

$(BUILD)/libtq.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libtq.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libtq.so.$(SOVERSION) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/tq: $(TQ_OBJ) $(HELP_OBJ) $(BUILD)/libtq.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/tq-worker: $(WORKER_OBJ) $(BUILD)/libtq.a
	$(CC) $(LDFLAGS_ALL) -rdynamic -o $@ $^ $(LIBS) -ldl

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libtq.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) $(CMOCKA_LIBS)

# The public headers use jansson (worker.h) and take a libevent base, so
# those two are Requires: a program gets their flags too. hiredis (and its
# header-only libevent adapter) is libtq's own business: Requires.private,
# as are OpenSSL and libevent's OpenSSL bufferevents (rediss://).
define TQ_PC
prefix=$(1)
libdir=$${prefix}/lib
includedir=$${prefix}/include

Name: tq
Description: distributed task queue on Redis
Version: $(VERSION)
Requires: libevent jansson
Requires.private: hiredis libevent_openssl openssl
Cflags: -I$${includedir}
Libs: -L$${libdir} -ltq
Libs.private: -lm -pthread
endef
export TQ_PC_TEXT = $(call TQ_PC,$(PREFIX))

$(BUILD)/tq.pc: Makefile include/tq/tq.h
	@mkdir -p $(@D)
	printf '%s\n' "$$TQ_PC_TEXT" > $@

# ---------------------------------------------------------------- fuzzing
#
# make fuzz [FUZZ_S=60] [FUZZ_TARGETS="args job"]: builds the libFuzzer
# targets of fuzz/ (clang, -fsanitize=fuzzer,address,undefined; libtq built
# again into build/fuzz with the same instrumentation), then runs each for
# FUZZ_S seconds on a copy of its seed corpus; fails when one crashes.
# make fuzz-build only builds them. Needs clang and libclang-rt-*-dev
# (fuzz/README.md; .ci/deps fuzz installs them as root); make test does not.

FUZZ_CC ?= clang
FUZZ_S ?= 60
FUZZ_TARGETS ?= $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_BIN := $(BUILD)/fuzz-bin

.PHONY: fuzz fuzz-build fuzz-targets
fuzz-build:
	@sh .ci/deps fuzz
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=$(FUZZ_CC) \
		OPT="-O1 -g -fno-omit-frame-pointer" \
		EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" fuzz-targets

fuzz-targets: $(FUZZ_TARGETS:%=$(FUZZ_BIN)/fuzz_%)

# A harness may #include the .c file whose static decoder it drives (fuzz/README.md):
# its object then defines that file's symbols, and the archive member is never pulled.
$(FUZZ_BIN)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(BUILD)/libtq.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(BUILD)/libtq.a $(LIBS) -ldl

-include $(wildcard $(FUZZ_BIN)/*.d)

fuzz: fuzz-build
	@FUZZ_S=$(FUZZ_S) sh fuzz/run.sh build/fuzz/fuzz-bin $(FUZZ_TARGETS)

# ---------------------------------------------------------------- chaos
#
# make chaos [CHAOS_S=600] [CHAOS_JOBS=100000] [CHAOS_SEED=N]: tq across
# network namespaces (Redis, replica, 3 Sentinels, 3 worker hosts, a client)
# under a seeded schedule of faults, then the checker (docs/chaos.md). Needs
# root (ip netns); without it, says SKIP and passes. chaos-short is the
# 60 s run that make test ends with. The plugin (chaos/plugin.c) is loaded by
# tq-worker, which has the API: not linked with -ltq.
CHAOS_S ?= 600
CHAOS_JOBS ?= 100000
CHAOS_PLUGIN := $(BUILD)/plugins/chaos.so

.PHONY: chaos chaos-short chaos-plugin
chaos-plugin: $(CHAOS_PLUGIN)

$(CHAOS_PLUGIN): chaos/plugin.c include/tq/worker.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -fPIC -shared -Iinclude $(DEP_CFLAGS) \
		$(EXTRA_CFLAGS) $(EXTRA_LDFLAGS) -o $@ $<

chaos: deps
	@$(MAKE) --no-print-directory all chaos-plugin
	@python3 chaos/run.py --bin $(BUILD) --out $(BUILD)/chaos \
		--seconds $(CHAOS_S) --jobs $(CHAOS_JOBS) $(if $(CHAOS_SEED),--seed $(CHAOS_SEED))

chaos-short: all chaos-plugin
	@python3 tests/chaos/test_check.py -q
	@python3 chaos/run.py --bin $(BUILD) \
		--out $(BUILD)/chaos-short --seconds 60 --jobs 6000 $(if $(CHAOS_SEED),--seed $(CHAOS_SEED))

# ---------------------------------------------------------------- the README's two commands

deps:
	@sh .ci/deps

test: deps
	@$(MAKE) --no-print-directory all units
	@$(MAKE) --no-print-directory unit integration python-test
	@$(MAKE) --no-print-directory chaos-short

units: $(UNIT_BIN)

unit: $(UNIT_BIN)
	@sh tests/run-unit.sh $(UNIT_BIN)

integration: all
	@TQ_BIN=$(abspath $(BUILD)) bash tests/integration/run.sh

# The Python package (python/): its unittest suite against a private
# redis-server, the built tq-worker and libtq.so (python/README.md). One
# line, and success, where there is no python3.
.PHONY: python-test
python-test: all
	@if command -v python3 >/dev/null 2>&1; then \
		TQ_BIN=$(abspath $(BUILD)) python3 -m unittest discover -s python/tests -t python/tests; \
	else echo 'tq: python-test skipped: no python3'; fi

demo: deps
	@$(MAKE) --no-print-directory all
	@TQ_BIN=$(abspath $(BUILD)) bash deploy/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@TQ_BIN=$(abspath $(BUILD)) bash bench/bench.sh

# tq against BullMQ, bee-queue, Sidekiq, Celery and RQ (bench/peers/README.md)
.PHONY: bench-peers
bench-peers: deps
	@$(MAKE) --no-print-directory all
	@TQ_BIN=$(abspath $(BUILD)) bash bench/peers/run.sh

# One make with the flags on its command line: they reach every make below it
# through MAKEFLAGS (t_embed's `make install` too), so nothing in build/asan
# is ever rebuilt without the sanitizers.
ASAN_MAKE := $(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	EXTRA_LDFLAGS="-fsanitize=address,undefined"

asan: deps
	@$(ASAN_MAKE) all units unit integration
	@$(ASAN_MAKE) chaos-short

valgrind: deps
	@command -v valgrind >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq valgrind >/dev/null; } || \
		{ echo 'tq: make valgrind needs valgrind (apt-get install valgrind)' >&2; exit 1; }
	@$(MAKE) --no-print-directory all
	@TQ_BIN=$(abspath $(BUILD)) TQ_VALGRIND=1 bash tests/integration/run.sh

ZSH_COMPDIR ?= $(if $(filter /usr,$(PREFIX)),share/zsh/vendor-completions,share/zsh/site-functions)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/tq $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/tq $(BUILD)/tq-worker $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libtq.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libtq.so $(DESTDIR)$(PREFIX)/lib/libtq.so.$(VERSION)
	ln -sf libtq.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libtq.so.$(SOVERSION)
	ln -sf libtq.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libtq.so
	install -m 644 include/tq/*.h $(DESTDIR)$(PREFIX)/include/tq/
	printf '%s\n' "$$TQ_PC_TEXT" > $(DESTDIR)$(PREFIX)/lib/pkgconfig/tq.pc
	@# the worker's unit (paths made $(PREFIX)'s), its env file example, the
	@# Redis configs, and the docs the unit points at (deploy/scaling.md)
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/tq/redis \
		$(DESTDIR)$(PREFIX)/share/doc/tq
	sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|g' -e 's|/usr/local/share/|$(PREFIX)/share/|g' \
		deploy/systemd/tq-worker@.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/tq-worker@.service
	chmod 644 $(DESTDIR)$(PREFIX)/lib/systemd/system/tq-worker@.service
	install -m 644 deploy/systemd/tq-worker.env.example $(DESTDIR)$(PREFIX)/share/tq/
	install -m 644 deploy/redis/redis.conf deploy/redis/redis-replica.conf \
		deploy/redis/sentinel.conf deploy/redis/users.acl $(DESTDIR)$(PREFIX)/share/tq/redis/
	install -m 644 README.md deploy/scaling.md $(DESTDIR)$(PREFIX)/share/doc/tq/
	@# man pages and completion (README "Help, completion, man pages"); zsh
	@# reads /usr/share/zsh/vendor-completions and /usr/local/share/zsh/site-functions
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man3 \
		$(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/$(ZSH_COMPDIR)
	install -m 644 $(BUILD)/man/tq.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(BUILD)/man/libtq.3 $(DESTDIR)$(PREFIX)/share/man/man3/
	install -m 644 $(BUILD)/man/tq-worker.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 $(BUILD)/completion/bash/tq $(BUILD)/completion/bash/tq-worker \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/
	install -m 644 $(BUILD)/completion/zsh/_tq $(BUILD)/completion/zsh/_tq-worker \
		$(DESTDIR)$(PREFIX)/$(ZSH_COMPDIR)/

# The examples are built as a user would: against the installed library,
# with nothing but `pkg-config tq` (examples/Makefile).
examples:
	@$(MAKE) --no-print-directory install PREFIX=$(abspath $(BUILD))/prefix
	@PKG_CONFIG_PATH=$(abspath $(BUILD))/prefix/lib/pkgconfig$${PKG_CONFIG_PATH:+:$$PKG_CONFIG_PATH} \
		$(MAKE) --no-print-directory -C examples OUT=$(abspath $(BUILD))/examples

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------- Debian packages
#
# make deb: tq, libtq0 and libtq-dev built by dpkg-buildpackage (debhelper)
# from a copy of the tree in build/deb/src; the .debs and lintian's report
# land in build/deb (debian/make-deb.sh; README "Install from the Debian
# packages"). Needs dpkg-dev and debhelper (.ci/deps).
.PHONY: deb
deb:
	@sh debian/make-deb.sh '$(VERSION)' '$(TQ_COMMIT)' build/deb
