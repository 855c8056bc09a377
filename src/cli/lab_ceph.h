/* lab_ceph.h: the lab's Ceph cluster (ferry lab up --ceph; docs/lab.md):
 * three storage hosts, namespaces ferry-ceph1..3 on the management network
 * (10.78.0.11-13), each with a monitor and a bluestore OSD on a sparse
 * file, a manager on ceph1; a replicated pool "ferry" (size 3, min_size 2,
 * one copy per host); cephx keys made per lab (mode 0600). No systemd:
 * ferry starts every daemon and lab down ends them by pid. */
#ifndef FERRY_LAB_CEPH_H
#define FERRY_LAB_CEPH_H

#include <jansson.h>
#include <stdbool.h>

#define LAB_CEPH_RUN "/run/ferry-lab/ceph"           /* conf, keyrings, pids */
#define LAB_CEPH_CONF LAB_CEPH_RUN "/ceph.conf"
#define LAB_CEPH_USER "ferry"                         /* client.ferry: rbd on the pool */
/* What the agents get (their ceph_dirs): a client configuration naming
 * client.ferry's keyring only, never the admin's. */
#define LAB_CEPH_CLIENT_DIR LAB_CEPH_RUN "/client"
#define LAB_CEPH_CLIENT_CONF LAB_CEPH_CLIENT_DIR "/ceph.conf"
#define LAB_CEPH_POOL "ferry"
#define LAB_CEPH_HOSTS 3

/* Made by cmd_lab.c: "ip ARGS". */
int lab_ip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True if the cluster was brought up (its namespaces exist). */
bool lab_ceph_present(void);
/* Brings the cluster up, or checks it is (idempotent): 0, or -1 after
 * saying why. */
int lab_ceph_up(void);
/* Health, daemons and their memory, bring-up time; NULL if absent. */
json_t *lab_ceph_status(void);
/* Stops one storage host's daemons (the fault bench), or starts them
 * again; host 1..3. 0 or -1. */
int lab_ceph_host_stop(int host);
int lab_ceph_host_start(int host);
/* Ends every daemon, then removes the namespaces. */
void lab_ceph_down(bool quiet);

#endif
