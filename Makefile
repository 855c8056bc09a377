# ferry: build, test guest, tests and demo. GNU make (see docs/build.md).
CC      ?= gcc
PKGS    := gnutls jansson libnfs libzstd libxxhash ext2fs com_err fdisk zlib
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wmissing-prototypes -Wshadow \
           -D_GNU_SOURCE -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
# ferryd's RBD pools (librbd-dev has no .pc in Debian 12); only what links ferryd's code.
RBD_LIBS := -lrbd -lrados
B       ?= build
ifeq ($(SAN),1)
B       := build/asan
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -O1
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC    := $(wildcard src/bench/*.c src/mover/*.c src/save/*.c src/util/*.c src/config/*.c src/qmp/*.c src/proto/*.c src/net/*.c src/stats/*.c src/probe/*.c src/report/*.c src/preflight/*.c src/convert/*.c src/evac/*.c)
FERRYD_SRC := $(wildcard src/ferryd/*.c)
CLI_SRC    := $(wildcard src/cli/*.c)
UNIT_SRC   := $(wildcard tests/unit/*/*.c)

LIB_OBJ    := $(LIB_SRC:%.c=$(B)/obj/%.o)
FERRYD_OBJ := $(FERRYD_SRC:%.c=$(B)/obj/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(B)/obj/%.o)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
# ferryd's modules except its main, for unit tests of its parts.
FERRYD_LIB_OBJ := $(filter-out $(B)/obj/src/ferryd/main.o,$(FERRYD_OBJ))

.PHONY: all deps guest apache-guest pv-guest demo-convert check unit integration demo asan clean fuzz fuzz-build fuzz-regress install
all: $(B)/ferry $(B)/ferryd $(B)/ferry-guest $(B)/tools/fake_peer $(B)/tools/fake_qemu

deps:
	@scripts/install-deps all

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/libferry.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(B)/ferryd: $(FERRYD_OBJ) $(B)/libferry.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(RBD_LIBS)

$(B)/ferry: $(CLI_OBJ) $(B)/libferry.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ferry-guest runs inside the test guest: static, no libraries.
$(B)/ferry-guest: guest/ferry-guest.c guest/packet.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O2 -static -o $@ $<

$(B)/tests/%: tests/unit/%.c $(FERRYD_LIB_OBJ) $(B)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $^ $(LDFLAGS) $(LDLIBS) $(RBD_LIBS) -lcmocka -lpthread

# test_migsm drives the migration state machines against tests/tools/fake_qemu
# and a fake peer agent (peer_* wrapped at link time), on a clock it moves.
$(B)/tests/ferryd/test_migsm: tests/unit/ferryd/migsm/harness.c | $(B)/tools/fake_qemu
$(B)/tests/ferryd/test_migsm: CFLAGS += -Itests/unit/ferryd/migsm
$(B)/tests/ferryd/test_migsm: LDFLAGS += -Wl,--wrap=time_mono_us,--wrap=peer_connect,--wrap=peer_call,--wrap=peer_call_timeout,--wrap=peer_free,--wrap=peer_forget,--wrap=server_client_idle_us,--wrap=server_client_local_addr

# Test tools (tests/tools/*.c): programs the integration and unit tests run.
$(B)/tools/%: tests/tools/%.c $(B)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(B)/libferry.a $(LDFLAGS) $(LDLIBS)

GUEST_IN := scripts/build-guest guest/init guest/poweroff $(wildcard guest/www/* guest/cgi-bin/*) $(B)/ferry-guest
guest: build/guest/.stamp
build/guest/.stamp: $(GUEST_IN)
	scripts/build-guest build/guest
	@touch $@

# The storage bench's guest: Debian 12 with Apache and fio on an ext4 disk,
# booted by the test guest's kernel and initramfs (scripts/build-apache-guest;
# its debootstrap is cached in /var/cache/ferry across checkouts).
APACHE_IN := scripts/build-apache-guest $(wildcard guest/apache/*) $(B)/ferry-guest
apache-guest: build/apache-guest/.stamp
build/apache-guest/.stamp: $(APACHE_IN) build/guest/.stamp
	scripts/build-apache-guest build/apache-guest
	@touch $@

# The Xen-style PV guest (Debian, Apache, its own kernel; one ext4 file system
# in a sparse 6500 MB image, fstab on /dev/xvda, console hvc0) and its xl and
# ferry configs: scripts/build-pv-guest, docs/convert.md.
pv-guest: build/pv-guest/.stamp
build/pv-guest/.stamp: scripts/build-pv-guest
	scripts/build-pv-guest build/pv-guest
	@touch $@

unit: $(UNIT_BIN)

# The whole test suite: installs what is missing, builds, runs unit tests
# (also under ASan+UBSan) and the integration tests on a real lab.
check:
	@scripts/install-deps test
	@$(MAKE) --no-print-directory all unit guest apache-guest pv-guest
	@$(MAKE) --no-print-directory SAN=1 all unit
	@$(MAKE) --no-print-directory fuzz-build
	@tests/run

demo:
	@scripts/install-deps all
	@$(MAKE) --no-print-directory all guest apache-guest
	@scripts/demo

# The lab's third part: PV guest -> xl import -> PV-style run -> convert ->
# HVM boot -> a VMDK for the cloud (docs/convert.md).
demo-convert:
	@scripts/install-deps all
	@$(MAKE) --no-print-directory all guest pv-guest
	@scripts/demo-convert

asan:
	@$(MAKE) --no-print-directory SAN=1 all unit

# libFuzzer targets (tests/fuzz/fuzz_*.c), one per parser, built with clang,
# ASan and UBSan. `make fuzz` runs each for FUZZ_SECONDS (default 60) and
# grows its corpus in build/fuzz/corpus/; `make fuzz-regress` (part of
# `make check`) replays tests/fuzz/corpus/ and fuzzes each for 5 s.
FUZZ_CC      := clang
FUZZ_FLAGS   := -std=gnu11 -g -O1 -D_GNU_SOURCE -Isrc -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_LIB_SRC := $(LIB_SRC) src/ferryd/mig.c src/ferryd/pool_name.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=build/fuzz/obj/%.o)
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 60

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	@for t in $(FUZZ_BIN); do n=$$(basename $$t); mkdir -p build/fuzz/corpus/$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz/corpus/$$n tests/fuzz/corpus/$$n 2>&1 | \
	    grep -E 'stat::number_of_executed_units|cov:|ERROR|SUMMARY' | tail -3 || exit 1; done

fuzz-regress: fuzz-build
	@tests/fuzz/run-regress

# Installs like a Debian tool: binaries, man pages, the systemd unit, the
# example config and the bash completion, under DESTDIR/PREFIX.
PREFIX  ?= /usr/local
DESTDIR ?=
install: $(B)/ferry $(B)/ferryd
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/doc/ferry \
		$(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0755 $(B)/ferry $(DESTDIR)$(PREFIX)/bin/ferry
	install -m 0755 $(B)/ferryd $(DESTDIR)$(PREFIX)/sbin/ferryd
	install -m 0644 man/ferry.1 $(DESTDIR)$(PREFIX)/share/man/man1/ferry.1
	install -m 0644 man/ferry.cfg.5 $(DESTDIR)$(PREFIX)/share/man/man5/ferry.cfg.5
	install -m 0644 man/ferryd.8 $(DESTDIR)$(PREFIX)/share/man/man8/ferryd.8
	install -m 0644 contrib/bash-completion/ferry $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ferry
	install -m 0644 contrib/ferryd.conf.example README.md docs/security.md $(DESTDIR)$(PREFIX)/share/doc/ferry/
	sed 's|/usr/local/sbin/ferryd|$(PREFIX)/sbin/ferryd|g' contrib/ferryd.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/ferryd.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/ferryd.service

clean:
	rm -rf build/obj build/asan build/tests build/ferry build/ferryd build/ferry-guest build/libferry.a

-include $(shell find $(B) -name '*.d' 2>/dev/null)
-include $(shell find build/fuzz -name '*.d' 2>/dev/null)
