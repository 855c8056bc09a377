/* harness.h: the harness of test_migsm.c (split only to keep each file short):
 * an agent on a private state folder, VMs run by tests/tools/fake_qemu, a
 * fake peer agent (peer_* wrapped at link time), a clock the test can move. */
#ifndef TEST_MIGSM_H
#define TEST_MIGSM_H

#include <jansson.h>
#include <stdbool.h>
#include "ferryd/agent.h"

extern struct agent *ag;
extern char tmp[256];
extern int64_t clock_offset_us;

/* The fake peer's answers: to op (the from-th call and later), a result
 * (JSON text), an error sentence, or none at all (hang). */
void peer_rule(const char *op, int from, const char *result, const char *err, bool hang);
/* peer_connect fails with err (NULL: succeeds), from the from-th call on. */
void peer_connect_fails(int from, const char *err);
/* The ops the peer got, in order, joined by ','. */
const char *peer_ops(void);

/* The fake QEMU's scenario for VMs started from now on: a transcript under
 * tests/unit/ferryd/qmp/ (NULL: none) and rules (a JSON array, text). */
void qemu_script(const char *transcript, const char *rules_json);
/* The QMP commands the fake QEMUs got, in order, joined by ','. */
const char *qmp_sent(void);
/* The arguments of the n-th (0-based) command named cmd, or NULL. */
json_t *qmp_args(const char *cmd, int n);

/* The source agent's connection as the destination's server sees it:
 * idle this long (-1: closed). source_connection_closes runs the server's
 * client-gone hooks, as server.c does when a connection closes. */
extern long long source_idle_us;
void source_connection_closes(long client_id);

void harness_setup(void);
void harness_teardown(void);
/* Starts web1 (no disk, a dummy kernel) and waits until it runs. */
struct vm *boot_web1(void);
/* The same with a 1 MiB disk vda at path, not shared (made here). */
struct vm *boot_web1_disk(const char *path);
/* A request from the test as a client; its answers are kept. */
struct request *client_request(long id);
/* Runs the loop until request id is answered (not a progress message) or
 * max_ms of real time passed; the answer, or NULL. Borrowed. */
json_t *wait_reply(long id, int max_ms);
/* Runs the loop for ms of real time. */
void run_for(int ms);
/* After delay_ms of real time, the clock jumps by jump_ms. */
void clock_jump_after(int delay_ms, int jump_ms);
/* The newest record in the history file, or NULL (new reference). */
json_t *last_record(void);
/* Its phases joined by '>'. */
const char *phases_of(json_t *rec);
/* "migrate" args to host b (10.9.0.2:7480) with the options in opts_json. */
json_t *migrate_args(const char *opts_json);

#endif
