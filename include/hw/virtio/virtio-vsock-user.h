/*
 * virtio-vsock-user: a virtio socket device whose transport runs in QEMU
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VIRTIO_VSOCK_USER_H
#define HW_VIRTIO_VIRTIO_VSOCK_USER_H

#include "hw/virtio/virtio.h"
#include "hw/virtio/vsock-user/vsock-user-packet.h"
#include "qapi/qapi-types-common.h"
#include "qom/object.h"
#include "system/runstate.h"

typedef struct VsockEndpoints VsockEndpoints;
typedef struct VsockEngine VsockEngine;
typedef struct VsockPoll VsockPoll;

#define TYPE_VIRTIO_VSOCK_USER "virtio-vsock-user"
OBJECT_DECLARE_SIMPLE_TYPE(VirtIOVsockUser, VIRTIO_VSOCK_USER)

#define VIRTIO_VSOCK_USER_QUEUE_SIZE    128

struct VirtIOVsockUser {
    VirtIODevice parent_obj;

    VirtQueue *rx_vq;
    VirtQueue *tx_vq;
    VirtQueue *event_vq;

    VsockEngine *engine;
    VsockEndpoints *endpoints;  /* heartbeat, host sockets, forwards, links */
    bool rx_links_turn;         /* the links fill the next rx buffer */
    QEMUBH *bh;                 /* flush rx/tx outside the guest's kicks */
    VsockPoll *poll;            /* the endpoints' host sockets */
    QEMUBH *poll_bh;            /* their handlers, then a flush (guarded) */
    bool in_poll;               /* inside them: wakeups wait for the flush */
    QEMUTimer *timer;           /* the engine's next deadline */
    QEMUTimer *tx_notify_timer; /* bounds how long tx completions wait */
    unsigned tx_unnotified;     /* tx chains used but not yet notified */
    bool rx_unnotified;         /* rx chains used but not yet notified */
    VMChangeStateEntry *vmstate;
    bool tx_paused;             /* engine full until rx drains */
    bool event_pending;         /* TRANSPORT_RESET owed (after load) */

    /* properties */
    uint64_t guest_cid;
    bool guest_cid_set;         /* given, rather than the default */
    bool allow_multiple;        /* the guest drives several vsock devices */
    uint32_t parent_cid;
    OnOffAuto heartbeat;
    OnOffAuto seqpacket;        /* offer VIRTIO_VSOCK_F_SEQPACKET */
    uint32_t max_connections;
    uint32_t buf_size;
    char *uds_path;             /* hybrid vsock Unix socket */
    uint32_t uds_timeout_ms;    /* CONNECT line deadline */
    uint32_t uds_max_handshakes; /* clients before their CONNECT line */
    uint32_t host_max_pending;  /* host connections not accepted yet */
};

/*
 * The device's counters, each a read-only QOM property of the same name
 * and an entry of query-vsock-user's counters.
 */
typedef struct VirtIOVsockUserStat {
    const char *name;
    const char *description;
    uint64_t (*get)(VirtIOVsockUser *s);
} VirtIOVsockUserStat;

extern const VirtIOVsockUserStat virtio_vsock_user_stats[];
extern const size_t virtio_vsock_user_n_stats;

/* virtio-vsock-user-props.c: the properties and counters of the class */
void virtio_vsock_user_class_add_props(ObjectClass *klass);
/*
 * At realize: settle guest-cid's default, check every property, and warn
 * if the guest has several virtio-vsock devices.
 */
bool virtio_vsock_user_check_props(VirtIOVsockUser *s, Error **errp);

#endif
