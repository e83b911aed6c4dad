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
#include "qapi/qapi-types-common.h"
#include "qemu/notify.h"
#include "qom/object.h"
#include "system/runstate.h"

/* A Nitro enclave reaches its parent instance at CID 3; the first is 16. */
#define VIRTIO_VSOCK_USER_PARENT_CID        3
#define VIRTIO_VSOCK_USER_FIRST_ENCLAVE_CID 16

typedef struct VsockBackend VsockBackend;
typedef struct VsockBackends VsockBackends;
typedef struct VsockEngine VsockEngine;
typedef struct VsockHost VsockHost;
typedef struct VsockLocal VsockLocal;

#define TYPE_VIRTIO_VSOCK_USER "virtio-vsock-user"
OBJECT_DECLARE_SIMPLE_TYPE(VirtIOVsockUser, VIRTIO_VSOCK_USER)

#define VIRTIO_VSOCK_USER_QUEUE_SIZE    128

struct VirtIOVsockUser {
    VirtIODevice parent_obj;

    VirtQueue *rx_vq;
    VirtQueue *tx_vq;
    VirtQueue *event_vq;

    /*
     * What the device drives (vsock-user-backend.h): its own engine and
     * endpoints (@local) and the vsock-user-links attached to it.
     */
    VsockBackends *backends;
    VsockLocal *local;
    NotifierList detach;        /* objects attached to the device */
    DeviceState *heartbeat_dev; /* heartbeat=: a nitro-heartbeat */
    QEMUBH *bh;                 /* every pass over the queues runs here */
    QEMUTimer *timer;           /* the backends' next deadline */
    QEMUTimer *tx_notify_timer; /* bounds how long tx completions wait */
    unsigned tx_unnotified;     /* tx chains used but not yet notified */
    bool rx_unnotified;         /* rx chains used but not yet notified */
    VMChangeStateEntry *vmstate;
    bool tx_paused;             /* a backend is full until rx drains */
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

/*
 * virtio-vsock-user-heartbeat.c: the heartbeat= property, a
 * nitro-heartbeat on a vsock-user chardev on port 9000 of the device
 * (nothing when the property says no).  Start it once the device's
 * engine exists; stop it before the device goes.
 */
bool virtio_vsock_user_heartbeat_start(VirtIOVsockUser *s, Error **errp);
void virtio_vsock_user_heartbeat_stop(VirtIOVsockUser *s);

/*
 * Objects that work through a device (vsock-user-link, vsock-user-forward,
 * the vsock-user chardev) name it with vsock=ID and attach to it.
 *
 * The realized device whose id, or whose PCI proxy's id, is @id; with
 * @id NULL, the only virtio-vsock-user device.  NULL with @errp set
 * (naming @what, e.g. "vsock-user-link 'l0'") when there is none, or,
 * without @id, more than one.
 */
VirtIOVsockUser *virtio_vsock_user_find(const char *id, const char *what,
                                        Error **errp);
/* The id the user gave the device: its own or its PCI proxy's, or NULL. */
const char *virtio_vsock_user_id(VirtIOVsockUser *s);

/*
 * Objects are created before devices, so they attach when the machine is
 * ready; one created later (object-add) attaches at once.  An object
 * embeds a VirtIOVsockUserAttach, sets @attach and calls
 * virtio_vsock_user_attach_when_ready() when it is complete.  An error of
 * a deferred attach ends QEMU with its message, as a bad -object does.
 */
typedef struct VirtIOVsockUserAttach VirtIOVsockUserAttach;
struct VirtIOVsockUserAttach {
    bool (*attach)(VirtIOVsockUserAttach *a, Error **errp);
    Notifier machine_done;
    bool waiting;
};
bool virtio_vsock_user_attach_when_ready(VirtIOVsockUserAttach *a,
                                         Error **errp);
/* The object goes before the machine was ready: nothing to attach. */
void virtio_vsock_user_attach_cancel(VirtIOVsockUserAttach *a);

/*
 * While attached, @n runs when the device goes away (unrealize): the
 * object must forget the device, its engine and its host endpoints.
 */
void virtio_vsock_user_add_detach_notifier(VirtIOVsockUser *s, Notifier *n);
void virtio_vsock_user_remove_detach_notifier(Notifier *n);

/* A backend (a vsock-user-link) joins the device; it may be removed again. */
void virtio_vsock_user_add_backend(VirtIOVsockUser *s, VsockBackend *b);

/* The device's engine and host endpoints, for endpoint objects. */
VsockEngine *virtio_vsock_user_get_engine(VirtIOVsockUser *s);
VsockHost *virtio_vsock_user_get_host(VirtIOVsockUser *s);

#endif
