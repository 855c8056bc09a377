# ferry: build, test guest, tests and demo. GNU make (see docs/build.md).
CC      ?= gcc
PKGS    := gnutls jansson
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wmissing-prototypes -Wshadow \
           -D_GNU_SOURCE -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
B       ?= build
ifeq ($(SAN),1)
B       := build/asan
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -O1
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC    := $(wildcard src/util/*.c src/config/*.c src/qmp/*.c src/proto/*.c src/net/*.c src/stats/*.c src/probe/*.c src/report/*.c)
FERRYD_SRC := $(wildcard src/ferryd/*.c)
CLI_SRC    := $(wildcard src/cli/*.c)
UNIT_SRC   := $(wildcard tests/unit/*/*.c)

LIB_OBJ    := $(LIB_SRC:%.c=$(B)/obj/%.o)
FERRYD_OBJ := $(FERRYD_SRC:%.c=$(B)/obj/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(B)/obj/%.o)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
# ferryd's modules except its main, for unit tests of its parts.
FERRYD_LIB_OBJ := $(filter-out $(B)/obj/src/ferryd/main.o,$(FERRYD_OBJ))

.PHONY: all deps guest check unit integration demo asan clean
all: $(B)/ferry $(B)/ferryd $(B)/ferry-guest

deps:
	@scripts/install-deps all

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/libferry.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(B)/ferryd: $(FERRYD_OBJ) $(B)/libferry.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/ferry: $(CLI_OBJ) $(B)/libferry.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ferry-guest runs inside the test guest: static, no libraries.
$(B)/ferry-guest: guest/ferry-guest.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O2 -static -o $@ $<

$(B)/tests/%: tests/unit/%.c $(FERRYD_LIB_OBJ) $(B)/libferry.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $^ $(LDFLAGS) $(LDLIBS) -lcmocka -lpthread

GUEST_IN := scripts/build-guest guest/init guest/poweroff $(wildcard guest/www/* guest/cgi-bin/*) $(B)/ferry-guest
guest: build/guest/.stamp
build/guest/.stamp: $(GUEST_IN)
	scripts/build-guest build/guest
	@touch $@

unit: $(UNIT_BIN)

# The whole test suite: installs what is missing, builds, runs unit tests
# (also under ASan+UBSan) and the integration tests on a real lab.
check:
	@scripts/install-deps test
	@$(MAKE) --no-print-directory all unit guest
	@$(MAKE) --no-print-directory SAN=1 all unit
	@tests/run

demo:
	@scripts/install-deps all
	@$(MAKE) --no-print-directory all guest
	@scripts/demo

asan:
	@$(MAKE) --no-print-directory SAN=1 all unit

clean:
	rm -rf build/obj build/asan build/tests build/ferry build/ferryd build/ferry-guest build/libferry.a

-include $(shell find $(B) -name '*.d' 2>/dev/null)
