/* preflight.h: the requirements of a move, checked and explained
 * (docs/requirements.md). Facts are gathered on each host by its agent
 * (ferryd/facts.c) and measured between them (the source's preflight job);
 * this module only judges them: facts in, one verdict per requirement out,
 * with the facts seen on both hosts and why the requirement matters. Pure: no
 * I/O, so every verdict is unit-tested on facts alone. */
#ifndef FERRY_PREFLIGHT_H
#define FERRY_PREFLIGHT_H

#include <jansson.h>
#include <stdbool.h>
#include "util/util.h"

enum pf_kind { PF_LIVE, PF_COLD_SUSPEND, PF_COLD_REBOOT };

/* The move the requirements are checked for (from mig_opts). */
struct pf_mode {
	enum pf_kind kind;
	bool copy_storage;   /* live: unshared disks mirrored over NBD */
	bool insecure;       /* plaintext stream */
	bool postcopy;       /* post-copy asked (or auto) */
	bool auto_converge;
	int downtime_ms;     /* the pause target */
};

/* Bounds of what a host's facts may hold (a peer's reply is hostile). */
#define PF_MAX_LIST 64       /* disks, bridges, MACs taken */
#define PF_MAX_FLAGS 512     /* CPU flags */
#define PF_MAX_STR 128

/* Checks a host's facts (the reply of a peer, or this host's own) against
 * their schema: every member of the right type, strings and lists bounded,
 * numbers in range. guest: the source's facts, which also describe the
 * guest. 0, or -EPROTO with err saying which member is wrong. Nothing else
 * reads a facts object before it passed here. */
int pf_facts_check(json_t *facts, bool guest, struct ferr *err);

/* The verdicts: an array of {"id", "title", "verdict" ("ok" | "warning" |
 * "blocking" | "not-needed"), "overridable", "source", "destination" (the
 * facts seen, as sentences), "why" (why it matters for this kind of move),
 * "facts" (the figures)}. src and dst passed pf_facts_check; net is the
 * source's measurements of the link ({"rtt_ms", "clock_offset_ms",
 * "clock_error_ms", "bandwidth_mb_s" (< 0: not measured), "l2": [{"bridge",
 * "seen"}]}) or NULL. */
json_t *pf_evaluate(json_t *src, json_t *dst, json_t *net, const struct pf_mode *m);

/* The verdict for a destination that could not be reached or spoke
 * another protocol: the checks array with that one blocking entry. */
json_t *pf_unreachable(const char *src_host, const char *dst_host, const char *why);

/* How many checks block; with force, how many block that cannot be
 * overridden (forced_out: the ids overridden, comma-separated, or ""). */
int pf_blocking(json_t *checks, bool force, char *forced_out, size_t n);
/* The first blocking check's sentence ("<title>: <destination facts>"),
 * for a refusal; "" when none blocks. force skips the overridable ones. */
void pf_refusal(json_t *checks, bool force, char *out, size_t n);

/* Pre-copy's time to move ram_bytes at bandwidth_bps with the guest
 * dirtying dirty_bps: each round sends what the one before let the guest
 * dirty, until the rest fits the pause target (downtime_s) at the link's
 * rate. Sets *rounds and returns the seconds; -1 when it cannot converge
 * (dirty_bps at or above the link's rate, or the rest never fits). */
double pf_precopy_seconds(double ram_bytes, double bandwidth_bps, double dirty_bps, double downtime_s, int *rounds);

#endif
