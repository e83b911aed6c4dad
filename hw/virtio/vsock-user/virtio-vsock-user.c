/*
 * virtio-vsock-user: a virtio socket device whose transport runs in QEMU
 *
 * The device owns its three virtqueues (rx, tx, event) and hands the
 * guest's packets to the protocol engine (vsock-user-engine.c), which
 * terminates the connections to the parent CID itself, so no vhost backend
 * is needed.  This file is only the plumbing between the virtqueues and the
 * engine: popping tx chains into it, filling rx chains from it, a timer for
 * its timeouts, reset and migration.  Packets for a CID that a
 * vsock-user-link carries (another QEMU's guest) go to that link instead,
 * and rx buffers are filled from the engine and the links in turn.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/error-report.h"
#include "qemu/iov.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "qemu/units.h"
#include "hw/qdev-properties.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-vsock-user.h"
#include "hw/virtio/vsock-user-engine.h"
#include "hw/virtio/vsock-user-endpoint.h"
#include "hw/virtio/vsock-user-heartbeat.h"
#include "hw/virtio/vsock-user-link.h"
#include "hw/virtio/vsock-user-forward.h"
#include "migration/vmstate.h"
#include "system/runstate.h"
#include "standard-headers/linux/virtio_ids.h"
#include "standard-headers/linux/virtio_vsock.h"
#include "trace.h"

/* VSOCK_CID_FIRST_GUEST..VSOCK_CID_MAX_GUEST, for messages */
#define VSOCK_CID_RANGE "3..4294967294"

/* Limits of the tunables */
#define VSOCK_USER_MAX_CONNECTIONS 65536
#define VSOCK_USER_MIN_BUF_SIZE (4 * KiB)
#define VSOCK_USER_MAX_BUF_SIZE (64 * MiB)

/*
 * Packets handled per tx or rx pass before the device yields to the main
 * loop (the rest continues in a bottom half), so a busy guest cannot
 * starve everything else.
 */
#define VSOCK_USER_BATCH 256

/*
 * The guest only frees memory when it learns that a tx chain was used, so
 * that notification can wait: it rides along with the next rx notification
 * (one interrupt serves both queues), or goes out once a quarter of the
 * queue is waiting, or after VSOCK_USER_TX_NOTIFY_DELAY_NS at the latest.
 * Each interrupt spared is a guest interrupt handler and work item fewer,
 * and a vCPU that need not wait for the BQL while the device still works.
 */
#define VSOCK_USER_TX_NOTIFY_BATCH (VIRTIO_VSOCK_USER_QUEUE_SIZE / 4)
#define VSOCK_USER_TX_NOTIFY_DELAY_NS (200 * SCALE_US)

static bool vsock_user_ready(VirtIOVsockUser *s)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);

    return vdev->vm_running && !vdev->broken &&
           virtio_device_started(vdev, vdev->status);
}

/* A packet's tx result: guest mistakes are logged, everything is traced. */
static void vsock_user_tx_result(VsockTxResult r)
{
    switch (r) {
    case VSOCK_TX_OK:
        return;
    case VSOCK_TX_NO_CONN:
    case VSOCK_TX_NO_LISTENER:
    case VSOCK_TX_BAD_DST_CID:
    case VSOCK_TX_CONN_LIMIT:
    case VSOCK_TX_RST_DROPPED:
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "virtio-vsock-user: tx packet: %s\n",
                      vsock_tx_result_str(r));
        break;
    }
    trace_virtio_vsock_user_tx_result(vsock_tx_result_str(r));
}

/* Pop and process one tx chain; false if the queue is empty. */
static bool vsock_user_tx_one(VirtIOVsockUser *s)
{
    VirtQueueElement *elem = virtqueue_pop(s->tx_vq,
                                           sizeof(VirtQueueElement));

    if (!elem) {
        return false;
    }
    if (elem->in_num) {
        qemu_log_mask(LOG_GUEST_ERROR, "virtio-vsock-user: tx chain has "
                      "%u device-writable descriptor(s); dropped\n",
                      elem->in_num);
    } else if (!vsock_links_tx(s->links, elem->out_sg, elem->out_num)) {
        vsock_user_tx_result(
            vsock_engine_handle_tx(s->engine, elem->out_sg, elem->out_num,
                                   iov_size(elem->out_sg, elem->out_num)));
    }
    virtqueue_push(s->tx_vq, elem, 0);
    g_free(elem);
    return true;
}

/*
 * Returns true if work is left for another pass.  While it drains the
 * queue the guest need not kick: notifications are off, and turned back on
 * (then the queue checked once more) only when it stops for lack of work.
 *
 * Turning them on publishes the guest's current avail index as the point
 * to kick at, so it must happen exactly once per stop and be followed by a
 * look at the queue: a second enable after that look would skip a chain
 * the guest added in between, and the guest would not kick for it.  When
 * the engine pauses tx instead, the chains left are taken when rx drains,
 * without a kick.
 */
static bool vsock_user_process_tx(VirtIOVsockUser *s)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    unsigned done = 0;
    bool more = false;

    for (;;) {
        virtio_queue_set_notification(s->tx_vq, 0);
        while (vsock_engine_tx_ready(s->engine) && !vdev->broken &&
               done < VSOCK_USER_BATCH && vsock_user_tx_one(s)) {
            done++;
        }
        if (done == VSOCK_USER_BATCH) {
            more = true;        /* a bottom half goes on, kicks stay off */
            break;
        }
        virtio_queue_set_notification(s->tx_vq, 1);
        if (!vsock_engine_tx_ready(s->engine) || vdev->broken ||
            virtio_queue_empty(s->tx_vq)) {
            break;
        }
    }
    s->tx_unnotified += done;
    s->tx_paused = !vsock_engine_tx_ready(s->engine);
    if (s->tx_paused) {
        trace_virtio_vsock_user_tx_paused();
    }
    return more;
}

static bool vsock_user_rx_pending(VirtIOVsockUser *s)
{
    return vsock_engine_rx_pending(s->engine) ||
           vsock_links_rx_pending(s->links);
}

/* The engine and the links take turns, so that neither starves the other. */
static bool vsock_user_fill_rx(VirtIOVsockUser *s, VirtQueueElement *elem,
                               size_t *len)
{
    bool links_first = s->rx_links_turn;

    s->rx_links_turn = !links_first;
    if (links_first &&
        vsock_links_fill_rx(s->links, elem->in_sg, elem->in_num, len)) {
        return true;
    }
    if (vsock_engine_fill_rx(s->engine, elem->in_sg, elem->in_num, len)) {
        return true;
    }
    return !links_first &&
           vsock_links_fill_rx(s->links, elem->in_sg, elem->in_num, len);
}

/* Returns true if work is left for another pass. */
static bool vsock_user_process_rx(VirtIOVsockUser *s)
{
    unsigned done = 0;
    bool more = false;

    while (vsock_user_rx_pending(s)) {
        VirtQueueElement *elem;
        size_t len = 0;

        if (done == VSOCK_USER_BATCH) {
            more = true;
            break;
        }
        elem = virtqueue_pop(s->rx_vq, sizeof(VirtQueueElement));
        if (!elem) {
            trace_virtio_vsock_user_rx_no_buffer();
            break;
        }
        if (elem->out_num ||
            iov_size(elem->in_sg, elem->in_num) < VSOCK_HDR_SIZE) {
            qemu_log_mask(LOG_GUEST_ERROR, "virtio-vsock-user: rx chain "
                          "with %u readable descriptor(s) and %zu writable "
                          "bytes is unusable; discarded\n", elem->out_num,
                          iov_size(elem->in_sg, elem->in_num));
        } else if (!vsock_user_fill_rx(s, elem, &len)) {
            /* Nothing to say after all: keep the buffer for later. */
            virtqueue_unpop(s->rx_vq, elem, 0);
            g_free(elem);
            break;
        }
        virtqueue_push(s->rx_vq, elem, len);
        g_free(elem);
        done++;
    }
    if (done) {
        s->rx_unnotified = true;
    }
    return more;
}

/* Deliver a pending TRANSPORT_RESET if the guest gave an event buffer. */
static void vsock_user_send_event(VirtIOVsockUser *s)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    struct virtio_vsock_event event = {
        .id = cpu_to_le32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET),
    };
    VirtQueueElement *elem;
    size_t len;

    if (!s->event_pending) {
        return;
    }
    elem = virtqueue_pop(s->event_vq, sizeof(VirtQueueElement));
    if (!elem) {
        return;
    }
    len = iov_from_buf(elem->in_sg, elem->in_num, 0, &event, sizeof(event));
    if (elem->out_num || len < sizeof(event)) {
        qemu_log_mask(LOG_GUEST_ERROR, "virtio-vsock-user: event buffer "
                      "too small or not writable; discarded\n");
        len = 0;
    } else {
        s->event_pending = false;
        trace_virtio_vsock_user_transport_reset();
    }
    virtqueue_push(s->event_vq, elem, len);
    virtio_notify(vdev, s->event_vq);
    g_free(elem);
}

static void vsock_user_rearm_timer(VirtIOVsockUser *s)
{
    int64_t deadline = vsock_engine_next_deadline(s->engine);

    if (deadline == INT64_MAX) {
        timer_del(s->timer);
    } else {
        timer_mod(s->timer, deadline);
    }
}

/* The timer only runs while chains wait, so none waiting: nothing to do. */
static void vsock_user_notify_tx(VirtIOVsockUser *s)
{
    if (!s->tx_unnotified) {
        return;
    }
    timer_del(s->tx_notify_timer);
    trace_virtio_vsock_user_tx_notify(s->tx_unnotified);
    s->tx_unnotified = 0;
    virtio_notify(VIRTIO_DEVICE(s), s->tx_vq);
}

/*
 * Notify the guest once a pass is over, not in the middle of it: an
 * interrupt makes the vCPU take the BQL, which the pass still holds.
 */
static void vsock_user_notify(VirtIOVsockUser *s)
{
    if (s->rx_unnotified) {
        s->rx_unnotified = false;
        vsock_user_notify_tx(s);
        virtio_notify(VIRTIO_DEVICE(s), s->rx_vq);
    } else if (s->tx_unnotified >= VSOCK_USER_TX_NOTIFY_BATCH ||
               (s->tx_unnotified && s->tx_paused)) {
        vsock_user_notify_tx(s);
    } else if (s->tx_unnotified && !timer_pending(s->tx_notify_timer)) {
        timer_mod(s->tx_notify_timer,
                  qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL) +
                  VSOCK_USER_TX_NOTIFY_DELAY_NS);
    }
}

static void vsock_user_tx_notify_cb(void *opaque)
{
    VirtIOVsockUser *s = opaque;

    if (vsock_user_ready(s)) {
        vsock_user_notify_tx(s);
    }
}

/* Everything the device does outside the guest's kicks happens here. */
static void vsock_user_flush(VirtIOVsockUser *s)
{
    bool more = false;

    if (vsock_user_ready(s)) {
        vsock_user_send_event(s);
        more |= vsock_user_process_rx(s);
        more |= vsock_user_process_tx(s);
        more |= vsock_user_process_rx(s);
        vsock_user_notify(s);
    }
    vsock_user_rearm_timer(s);
    if (more) {
        qemu_bh_schedule(s->bh);
    }
}

static void vsock_user_bh(void *opaque)
{
    vsock_user_flush(opaque);
}

static void vsock_user_timer_cb(void *opaque)
{
    VirtIOVsockUser *s = opaque;

    vsock_engine_run_timers(s->engine);
    vsock_user_flush(s);
}

static void vsock_user_handle_rx(VirtIODevice *vdev, VirtQueue *vq)
{
    /* New rx buffers: owed packets can go, and a paused tx can resume. */
    vsock_user_flush(VIRTIO_VSOCK_USER(vdev));
}

static void vsock_user_handle_tx(VirtIODevice *vdev, VirtQueue *vq)
{
    vsock_user_flush(VIRTIO_VSOCK_USER(vdev));
}

static void vsock_user_handle_event(VirtIODevice *vdev, VirtQueue *vq)
{
    vsock_user_flush(VIRTIO_VSOCK_USER(vdev));
}

/* Engine callbacks */

static int64_t vsock_user_clock(void *opaque)
{
    return qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
}

static void vsock_user_wakeup(void *opaque)
{
    VirtIOVsockUser *s = opaque;

    qemu_bh_schedule(s->bh);
}

static void vsock_user_trace_packet(void *opaque, bool to_guest,
                                    const VsockHdr *h)
{
    if (to_guest) {
        trace_virtio_vsock_user_rx_pkt(h->src_cid, h->src_port, h->dst_cid,
                                       h->dst_port, vsock_op_str(h->op),
                                       h->type, h->len, h->flags,
                                       h->buf_alloc, h->fwd_cnt);
    } else {
        trace_virtio_vsock_user_tx_pkt(h->src_cid, h->src_port, h->dst_cid,
                                       h->dst_port, vsock_op_str(h->op),
                                       h->type, h->len, h->flags,
                                       h->buf_alloc, h->fwd_cnt);
    }
}

static void vsock_user_trace_state(void *opaque, const VsockConn *c,
                                   VsockConnState old_state,
                                   VsockConnState new_state)
{
    trace_virtio_vsock_user_conn_state(vsock_conn_get_local_cid(c),
                                       vsock_conn_get_local_port(c),
                                       vsock_conn_get_peer_port(c),
                                       vsock_conn_state_str(old_state),
                                       vsock_conn_state_str(new_state));
}

/*
 * A host socket's event handler asks for the packets it allowed to move
 * now: flush in this main-loop pass rather than after one more, as the
 * bottom half would.  The engine only calls this outside its own calls,
 * hence never from inside a flush.  Like the bottom half (see
 * virtio_bh_new_guarded()) it holds the transport's re-entrancy guard, so
 * guest buffers placed on the transport's registers cannot reach them.
 */
static void vsock_user_run_now(void *opaque)
{
    VirtIOVsockUser *s = opaque;
    DeviceState *transport = qdev_get_parent_bus(DEVICE(s))->parent;
    MemReentrancyGuard *guard = &transport->mem_reentrancy_guard;

    if (guard->engaged_in_io) {
        return;                 /* the bottom half is still scheduled */
    }
    qemu_bh_cancel(s->bh);
    guard->engaged_in_io = true;
    vsock_user_flush(s);
    guard->engaged_in_io = false;
}

static const VsockEngineOps vsock_user_engine_ops = {
    .clock = vsock_user_clock,
    .wakeup = vsock_user_wakeup,
    .run_now = vsock_user_run_now,
    .packet = vsock_user_trace_packet,
    .state_change = vsock_user_trace_state,
};

/* virtio plumbing */

static void vsock_user_get_config(VirtIODevice *vdev, uint8_t *config)
{
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(vdev);
    struct virtio_vsock_config cfg = {};

    /* vsock is a virtio 1.x device: its config is little-endian */
    stq_le_p(&cfg.guest_cid, s->guest_cid);
    memcpy(config, &cfg, sizeof(cfg));
}

static uint64_t vsock_user_get_features(VirtIODevice *vdev, uint64_t features,
                                        Error **errp)
{
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(vdev);

    /* STREAM needs no bit; the engine speaks SEQPACKET itself (auto: on) */
    if (s->seqpacket != ON_OFF_AUTO_OFF) {
        virtio_add_feature(&features, VIRTIO_VSOCK_F_SEQPACKET);
    }
    return features;
}

static void vsock_user_set_features(VirtIODevice *vdev, uint64_t features)
{
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(vdev);
    bool on = virtio_has_feature(features, VIRTIO_VSOCK_F_SEQPACKET);

    trace_virtio_vsock_user_features(features, on);
    vsock_engine_set_seqpacket(s->engine, on);
    vsock_links_set_seqpacket(s->links, on);
}

static int vsock_user_set_status(VirtIODevice *vdev, uint8_t status)
{
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(vdev);

    if (virtio_device_started(vdev, status)) {
        qemu_bh_schedule(s->bh);
    }
    return 0;
}

static void vsock_user_vm_state_change(void *opaque, bool running,
                                       RunState state)
{
    VirtIOVsockUser *s = opaque;

    if (running) {
        /* Catch up on kicks and endpoint work that came while stopped. */
        qemu_bh_schedule(s->bh);
    }
}

/* Drop every connection and what the device kept between passes. */
static void vsock_user_drop_state(VirtIOVsockUser *s)
{
    trace_virtio_vsock_user_reset(vsock_engine_conn_count(s->engine));
    vsock_engine_reset(s->engine);
    vsock_links_guest_reset(s->links);
    s->tx_paused = false;
    s->tx_unnotified = 0;
    s->rx_unnotified = false;
    timer_del(s->timer);
    timer_del(s->tx_notify_timer);
}

static void vsock_user_reset(VirtIODevice *vdev)
{
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(vdev);

    vsock_user_drop_state(s);
    s->event_pending = false;
}

/*
 * Without guest-cid the guest is a Nitro enclave's first CID when its
 * parent is CID 3 (as on -M nitro-enclave), otherwise the first guest CID.
 * No host-wide CID space exists for it to collide in.
 */
static uint64_t vsock_user_guest_cid(VirtIOVsockUser *s)
{
    if (s->guest_cid_set) {
        return s->guest_cid;
    }
    return s->parent_cid == VSOCK_CID_PARENT ?
           VSOCK_CID_FIRST_ENCLAVE : VSOCK_CID_FIRST_GUEST;
}

/* guest-cid: a uint64 that knows whether it was given */
static void vsock_user_get_guest_cid(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    uint64_t value = vsock_user_guest_cid(VIRTIO_VSOCK_USER(obj));

    visit_type_uint64(v, name, &value, errp);
}

static void vsock_user_set_guest_cid(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(obj);
    uint64_t value;

    if (visit_type_uint64(v, name, &value, errp)) {
        s->guest_cid = value;
        s->guest_cid_set = true;
    }
}

static const PropertyInfo vsock_user_prop_guest_cid = {
    .type = "uint64",
    .get = vsock_user_get_guest_cid,
    .set = vsock_user_set_guest_cid,
};

static bool vsock_user_cid_reserved(uint64_t cid)
{
    return cid < VSOCK_CID_FIRST_GUEST || cid == VSOCK_CID_ANY;
}

static bool vsock_user_check_props(VirtIOVsockUser *s, Error **errp)
{
    if (s->guest_cid > VSOCK_CID_ANY) {
        error_setg(errp, "guest-cid %" PRIu64 " is out of range; CIDs are "
                   "32-bit, use " VSOCK_CID_RANGE, s->guest_cid);
        return false;
    }
    if (vsock_user_cid_reserved(s->guest_cid)) {
        error_setg(errp, "guest-cid %" PRIu64 " is reserved (0, 1 and 2 "
                   "are the hypervisor, local and host CIDs, 4294967295 "
                   "is any); use " VSOCK_CID_RANGE, s->guest_cid);
        return false;
    }
    if (s->parent_cid == VSOCK_CID_ANY) {
        error_setg(errp, "parent-cid 4294967295 is reserved (any)");
        return false;
    }
    if (s->parent_cid == s->guest_cid) {
        error_setg(errp, "parent-cid and guest-cid are both %" PRIu32
                   "; they must differ", s->parent_cid);
        return false;
    }
    if (s->max_connections < 1 ||
        s->max_connections > VSOCK_USER_MAX_CONNECTIONS) {
        error_setg(errp, "max-connections %" PRIu32 " is out of range "
                   "1..%u", s->max_connections, VSOCK_USER_MAX_CONNECTIONS);
        return false;
    }
    if (s->uds_path && !s->uds_path[0]) {
        error_setg(errp, "uds-path must not be empty");
        return false;
    }
    if (s->uds_timeout_ms < 1) {
        error_setg(errp, "uds-connect-timeout must be at least 1 ms");
        return false;
    }
    if (s->uds_max_handshakes < 1 ||
        s->uds_max_handshakes > VSOCK_USER_MAX_CONNECTIONS) {
        error_setg(errp, "uds-max-handshakes %" PRIu32 " is out of range "
                   "1..%u", s->uds_max_handshakes,
                   VSOCK_USER_MAX_CONNECTIONS);
        return false;
    }
    if (s->host_max_pending < 1 ||
        s->host_max_pending > VSOCK_USER_MAX_CONNECTIONS) {
        error_setg(errp, "host-max-pending %" PRIu32 " is out of range "
                   "1..%u", s->host_max_pending, VSOCK_USER_MAX_CONNECTIONS);
        return false;
    }
    if (s->buf_size < VSOCK_USER_MIN_BUF_SIZE ||
        s->buf_size > VSOCK_USER_MAX_BUF_SIZE) {
        error_setg(errp, "buf-size %" PRIu32 " is out of range "
                   "%llu..%llu", s->buf_size,
                   (unsigned long long)VSOCK_USER_MIN_BUF_SIZE,
                   (unsigned long long)VSOCK_USER_MAX_BUF_SIZE);
        return false;
    }
    return true;
}

static int vsock_user_count_other(Object *obj, void *opaque)
{
    VirtIODevice *vdev = (VirtIODevice *)
        object_dynamic_cast(obj, TYPE_VIRTIO_DEVICE);

    if (vdev && DEVICE(vdev)->realized &&
        vdev->device_id == VIRTIO_ID_VSOCK) {
        (*(unsigned *)opaque)++;
    }
    return 0;
}

/*
 * A Linux guest drives the first virtio-vsock device it finds and leaves
 * the others unused, which is easy to miss: say so once, unless the user
 * says the guest uses several (allow-multiple=on).
 */
static void vsock_user_warn_multiple(VirtIOVsockUser *s)
{
    unsigned others = 0;

    if (s->allow_multiple) {
        return;
    }
    /* this device is not realized yet, so it does not count itself */
    object_child_foreach_recursive(object_get_root(), vsock_user_count_other,
                                   &others);
    if (others) {
        warn_report_once("this guest has %u virtio-vsock devices; a Linux "
                         "guest drives only the first it finds (set "
                         "allow-multiple=on on a device meant for a guest "
                         "that uses several)", others + 1);
    }
}

static void vsock_user_realize(DeviceState *dev, Error **errp)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(dev);
    VsockEngineConfig cfg;
    VsockLinkOwner owner;
    bool heartbeat;

    s->guest_cid = vsock_user_guest_cid(s);
    if (!vsock_user_check_props(s, errp)) {
        return;
    }
    vsock_user_warn_multiple(s);
    owner = (VsockLinkOwner) {
        .dev = OBJECT(dev),
        .guest_cid = s->guest_cid,
        .max_conns = s->max_connections,
        .wakeup = vsock_user_wakeup,
        .opaque = s,
    };
    s->links = vsock_links_attach(&owner, errp);
    if (!s->links) {
        return;
    }
    /* a linked parent CID is a real guest, which answers for itself */
    heartbeat = s->heartbeat == ON_OFF_AUTO_ON ||
                (s->heartbeat == ON_OFF_AUTO_AUTO &&
                 s->parent_cid == VSOCK_CID_PARENT &&
                 !vsock_links_carry(s->links, s->parent_cid));

    vsock_engine_config_init(&cfg);
    cfg.guest_cid = s->guest_cid;
    cfg.local_cid = s->parent_cid;
    cfg.max_conns = s->max_connections;
    cfg.buf_alloc = s->buf_size;
    cfg.ops = &vsock_user_engine_ops;
    cfg.opaque = s;
    s->engine = vsock_engine_new(&cfg);
    if (heartbeat) {
        s->heartbeat_ep = vsock_heartbeat_new(s->engine, s->parent_cid,
                                              VSOCK_HEARTBEAT_PORT);
    }
    s->host = vsock_host_new(s->engine, s->parent_cid, s->max_connections,
                             s->host_max_pending, errp);
    if (!s->host ||
        (s->uds_path &&
         !vsock_host_set_uds(s->host, s->uds_path, s->uds_timeout_ms,
                             s->uds_max_handshakes,
                             s->seqpacket != ON_OFF_AUTO_OFF, errp)) ||
        !vsock_user_forward_attach_all(s->host, OBJECT(dev), errp)) {
        vsock_heartbeat_free(s->heartbeat_ep);
        s->heartbeat_ep = NULL;
        vsock_engine_free(s->engine);
        s->engine = NULL;
        vsock_host_free(s->host);
        s->host = NULL;
        vsock_links_detach(s->links);
        s->links = NULL;
        return;
    }

    s->bh = virtio_bh_new_guarded(dev, vsock_user_bh, s);
    s->timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, vsock_user_timer_cb, s);
    s->tx_notify_timer = timer_new_ns(QEMU_CLOCK_VIRTUAL,
                                      vsock_user_tx_notify_cb, s);
    s->vmstate = qemu_add_vm_change_state_handler(vsock_user_vm_state_change,
                                                  s);

    virtio_init(vdev, VIRTIO_ID_VSOCK, sizeof(struct virtio_vsock_config));
    s->rx_vq = virtio_add_queue(vdev, VIRTIO_VSOCK_USER_QUEUE_SIZE,
                                vsock_user_handle_rx);
    s->tx_vq = virtio_add_queue(vdev, VIRTIO_VSOCK_USER_QUEUE_SIZE,
                                vsock_user_handle_tx);
    s->event_vq = virtio_add_queue(vdev, VIRTIO_VSOCK_USER_QUEUE_SIZE,
                                   vsock_user_handle_event);
    trace_virtio_vsock_user_realize(s->guest_cid, s->parent_cid, heartbeat);
}

static void vsock_user_unrealize(DeviceState *dev)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(dev);

    qemu_del_vm_change_state_handler(s->vmstate);
    if (s->heartbeat_ep) {
        vsock_heartbeat_free(s->heartbeat_ep);
        s->heartbeat_ep = NULL;
    }
    vsock_user_forward_detach_all(s->host);
    vsock_links_detach(s->links);
    s->links = NULL;
    vsock_engine_free(s->engine);
    s->engine = NULL;
    vsock_host_free(s->host);
    s->host = NULL;
    timer_free(s->timer);
    timer_free(s->tx_notify_timer);
    qemu_bh_delete(s->bh);
    virtio_delete_queue(s->rx_vq);
    virtio_delete_queue(s->tx_vq);
    virtio_delete_queue(s->event_vq);
    virtio_cleanup(vdev);
}

/*
 * Migration: the device's configuration and rings move; connections do
 * not (their peers live in this process).  The destination drops whatever
 * it has and tells the guest with a TRANSPORT_RESET event, so the guest's
 * sockets see ECONNRESET and new connections work at once.
 */
static int vsock_user_post_load(void *opaque, int version_id)
{
    VirtIOVsockUser *s = opaque;

    vsock_user_drop_state(s);
    /* the guest's features came with the device; no set_features here */
    vsock_user_set_features(VIRTIO_DEVICE(s),
                            VIRTIO_DEVICE(s)->guest_features);
    s->event_pending = true;
    qemu_bh_schedule(s->bh);
    return 0;
}

static const VMStateDescription vmstate_virtio_vsock_user = {
    .name = "virtio-vsock-user",
    .minimum_version_id = 1,
    .version_id = 1,
    .post_load = vsock_user_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_VIRTIO_DEVICE,
        VMSTATE_END_OF_LIST()
    },
};

/* The read-only counters, as QOM properties of the device */

static uint64_t stat_connections(VirtIOVsockUser *s)
{
    return vsock_engine_conn_count(s->engine);
}

#define ENGINE_STAT(fn, field)                                        \
    static uint64_t fn(VirtIOVsockUser *s)                            \
    {                                                                 \
        return vsock_engine_get_stats(s->engine)->field;              \
    }
#define HOST_STAT(fn, field)                                          \
    static uint64_t fn(VirtIOVsockUser *s)                            \
    {                                                                 \
        return vsock_host_get_stats(s->host)->field;                  \
    }

ENGINE_STAT(stat_rst_sent, rst_sent)
ENGINE_STAT(stat_rst_received, rst_received)
ENGINE_STAT(stat_tx_packets, tx_pkts)
ENGINE_STAT(stat_rx_packets, rx_pkts)
ENGINE_STAT(stat_spoofed, results[VSOCK_TX_BAD_SRC_CID])
HOST_STAT(stat_host_sockets, bridges)
HOST_STAT(stat_host_refused, refused)
HOST_STAT(stat_host_connect_failed, connect_failed)
HOST_STAT(stat_host_bad_connect, bad_connect)
HOST_STAT(stat_host_handshakes, handshakes)
HOST_STAT(stat_host_handshake_refused, handshake_refused)
HOST_STAT(stat_host_pending, pending)
HOST_STAT(stat_host_pending_refused, pending_refused)

const VirtIOVsockUserStat virtio_vsock_user_stats[] = {
    { "connections", "connections open now", stat_connections },
    { "rst-sent", "RST packets sent to the guest", stat_rst_sent },
    { "rst-received", "RST packets from the guest", stat_rst_received },
    { "tx-packets", "packets from the guest", stat_tx_packets },
    { "rx-packets", "packets to the guest", stat_rx_packets },
    { "spoofed-packets", "guest packets with a src_cid not the guest's, "
      "dropped", stat_spoofed },
    { "host-sockets", "host sockets bridged to guest connections",
      stat_host_sockets },
    { "host-refused", "host connections refused at max-connections",
      stat_host_refused },
    { "host-connect-failed", "guest connections to host sockets that could "
      "not connect", stat_host_connect_failed },
    { "host-bad-connect", "host clients on uds-path with a malformed "
      "CONNECT line", stat_host_bad_connect },
    { "host-handshakes", "uds-path clients sending their CONNECT line now",
      stat_host_handshakes },
    { "host-handshake-refused", "uds-path clients closed at once because "
      "uds-max-handshakes were in the handshake", stat_host_handshake_refused },
    { "host-pending", "host connections waiting for the guest to accept now",
      stat_host_pending },
    { "host-pending-refused", "host connections closed at once because "
      "host-max-pending were waiting", stat_host_pending_refused },
};
const size_t virtio_vsock_user_n_stats = ARRAY_SIZE(virtio_vsock_user_stats);

static void vsock_user_get_stat(Object *obj, Visitor *v, const char *name,
                                void *opaque, Error **errp)
{
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(obj);
    const VirtIOVsockUserStat *stat = opaque;
    uint64_t value = s->engine ? stat->get(s) : 0;

    visit_type_uint64(v, name, &value, errp);
}

static const Property vsock_user_properties[] = {
    /* no default value: see vsock_user_guest_cid() */
    DEFINE_PROP("guest-cid", VirtIOVsockUser, guest_cid,
                vsock_user_prop_guest_cid, uint64_t),
    DEFINE_PROP_UINT32("parent-cid", VirtIOVsockUser, parent_cid,
                       VSOCK_CID_HOST),
    DEFINE_PROP_ON_OFF_AUTO("heartbeat", VirtIOVsockUser, heartbeat,
                            ON_OFF_AUTO_AUTO),
    DEFINE_PROP_UINT32("max-connections", VirtIOVsockUser, max_connections,
                       1024),
    DEFINE_PROP_UINT32("buf-size", VirtIOVsockUser, buf_size, 256 * KiB),
    DEFINE_PROP_STRING("uds-path", VirtIOVsockUser, uds_path),
    DEFINE_PROP_UINT32("uds-connect-timeout", VirtIOVsockUser, uds_timeout_ms,
                       VSOCK_CONNECT_TIMEOUT_MS),
    DEFINE_PROP_UINT32("uds-max-handshakes", VirtIOVsockUser,
                       uds_max_handshakes, VSOCK_MAX_HANDSHAKES),
    DEFINE_PROP_UINT32("host-max-pending", VirtIOVsockUser, host_max_pending,
                       VSOCK_MAX_PENDING),
    DEFINE_PROP_BOOL("allow-multiple", VirtIOVsockUser, allow_multiple, false),
    DEFINE_PROP_ON_OFF_AUTO("seqpacket", VirtIOVsockUser, seqpacket,
                            ON_OFF_AUTO_AUTO),
};

static const struct {
    const char *name;
    const char *description;
} vsock_user_property_help[] = {
    { "guest-cid", "the guest's CID, " VSOCK_CID_RANGE " (default: 16 when "
      "parent-cid is 3, otherwise 3)" },
    { "parent-cid", "the CID whose connections end in QEMU: heartbeat, "
      "uds-path, vsock-user-forward objects" },
    { "heartbeat", "answer the Nitro Enclaves heartbeat on the parent's port "
      "9000 (auto: when parent-cid is 3 and no vsock-user-link carries "
      "it)" },
    { "max-connections", "connections at once, 1..65536; a REQUEST beyond "
      "them gets RST" },
    { "buf-size", "receive buffer per connection (buf_alloc announced to the "
      "guest), 4096..67108864 bytes" },
    { "uds-path", "hybrid vsock Unix socket: a host client sends \"CONNECT "
      "<port>\\n\"; guest connections to port P go to <uds-path>_P; "
      "SOCK_SEQPACKET clients use <uds-path>.seqpacket" },
    { "uds-connect-timeout", "milliseconds a host client on uds-path has to "
      "send its CONNECT line" },
    { "seqpacket", "offer SOCK_SEQPACKET (VIRTIO_VSOCK_F_SEQPACKET); auto "
      "means on" },
    { "allow-multiple", "the guest drives several virtio-vsock devices: no "
      "warning when there is more than one (Linux drives only the first)" },
    { "uds-max-handshakes", "uds-path clients that may be sending their "
      "CONNECT line at once (1..65536); more are closed at once, counted in "
      "host-handshake-refused" },
    { "host-max-pending", "host connections (uds-path CONNECTs, listen= "
      "forwards) that may wait at once for the guest to accept (1..65536); "
      "more are closed at once, counted in host-pending-refused" },
};

static void vsock_user_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    VirtioDeviceClass *vdc = VIRTIO_DEVICE_CLASS(klass);

    device_class_set_props(dc, vsock_user_properties);
    for (size_t i = 0; i < ARRAY_SIZE(vsock_user_property_help); i++) {
        object_class_property_set_description(klass,
            vsock_user_property_help[i].name,
            vsock_user_property_help[i].description);
    }
    for (size_t i = 0; i < virtio_vsock_user_n_stats; i++) {
        const VirtIOVsockUserStat *stat = &virtio_vsock_user_stats[i];
        g_autofree char *desc = g_strdup_printf("%s (read-only counter)",
                                                stat->description);

        object_class_property_add(klass, stat->name, "uint64",
                                  vsock_user_get_stat, NULL, NULL,
                                  (void *)stat);
        object_class_property_set_description(klass, stat->name, desc);
    }
    dc->vmsd = &vmstate_virtio_vsock_user;
    dc->desc = "virtio socket device with an in-process transport";
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    vdc->realize = vsock_user_realize;
    vdc->unrealize = vsock_user_unrealize;
    vdc->get_features = vsock_user_get_features;
    vdc->set_features = vsock_user_set_features;
    vdc->get_config = vsock_user_get_config;
    vdc->set_status = vsock_user_set_status;
    vdc->reset = vsock_user_reset;
}

static const TypeInfo vsock_user_info = {
    .name = TYPE_VIRTIO_VSOCK_USER,
    .parent = TYPE_VIRTIO_DEVICE,
    .instance_size = sizeof(VirtIOVsockUser),
    .class_init = vsock_user_class_init,
};

static void vsock_user_register_types(void)
{
    type_register_static(&vsock_user_info);
}

type_init(vsock_user_register_types)
