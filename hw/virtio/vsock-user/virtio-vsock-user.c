/*
 * virtio-vsock-user: a virtio socket device whose transport runs in QEMU
 *
 * The device owns its three virtqueues (rx, tx, event) and hands the
 * guest's packets to the protocol engine (vsock-user-engine.c), which
 * terminates the connections to the parent CID itself, so no vhost backend
 * is needed.  This file is only the plumbing between the virtqueues and the
 * engine: popping tx chains into it, filling rx chains from it, when to
 * notify the guest, a timer for its timeouts, running the endpoints' host
 * socket handlers, reset and migration.  Packets for a CID that a
 * vsock-user-link carries (another QEMU's guest) go to that link instead,
 * and rx buffers are filled from the engine and the links in turn.  The
 * endpoints are put together in vsock-user-endpoints.c, the properties
 * and counters are in virtio-vsock-user-props.c.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/iov.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-vsock-user.h"
#include "vsock-user-engine.h"
#include "vsock-user-endpoints.h"
#include "migration/vmstate.h"
#include "system/runstate.h"
#include "standard-headers/linux/virtio_ids.h"
#include "standard-headers/linux/virtio_vsock.h"
#include "trace.h"

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

/* Other QEMUs' guests, which the device routes to before the engine */
static VsockLinks *vsock_user_links(VirtIOVsockUser *s)
{
    return vsock_endpoints_links(s->endpoints);
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
    } else if (!vsock_links_tx(vsock_user_links(s), elem->out_sg,
                               elem->out_num)) {
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
           vsock_links_rx_pending(vsock_user_links(s));
}

/* The engine and the links take turns, so that neither starves the other. */
static bool vsock_user_fill_rx(VirtIOVsockUser *s, VirtQueueElement *elem,
                               size_t *len)
{
    VsockLinks *links = vsock_user_links(s);
    bool links_first = s->rx_links_turn;

    s->rx_links_turn = !links_first;
    if (links_first &&
        vsock_links_fill_rx(links, elem->in_sg, elem->in_num, len)) {
        return true;
    }
    if (vsock_engine_fill_rx(s->engine, elem->in_sg, elem->in_num, len)) {
        return true;
    }
    return !links_first &&
           vsock_links_fill_rx(links, elem->in_sg, elem->in_num, len);
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

    if (!s->in_poll) {          /* else the flush follows at once */
        qemu_bh_schedule(s->bh);
    }
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
 * Host sockets in the device's epoll set are ready.  Their handlers tell
 * the engine what moved, and one flush then passes on what that allowed,
 * in this main-loop pass rather than after one more, as the bottom half
 * would.  Both run as one guarded bottom-half call (aio_bh_call() on a
 * bottom half of virtio_bh_new_guarded(), never scheduled), which holds
 * the transport's re-entrancy guard, so guest buffers placed on the
 * transport's registers cannot reach them.
 */
static void vsock_user_poll_ready(void *opaque)
{
    VirtIOVsockUser *s = opaque;

    aio_bh_call(s->poll_bh);
}

static void vsock_user_poll_bh(void *opaque)
{
    VirtIOVsockUser *s = opaque;
    unsigned ready;

    s->in_poll = true;
    ready = vsock_poll_dispatch(s->poll);
    s->in_poll = false;
    if (ready) {
        vsock_user_flush(s);
    }
}

static const VsockEngineOps vsock_user_engine_ops = {
    .clock = vsock_user_clock,
    .wakeup = vsock_user_wakeup,
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
    vsock_links_set_seqpacket(vsock_user_links(s), on);
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
    vsock_links_guest_reset(vsock_user_links(s));
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
 * The engine and its endpoints, in the order they need: the endpoints stop
 * taking connections, the engine closes the open ones, then the host
 * sockets go.  Also after a realize that failed half way.
 */
static void vsock_user_free_backends(VirtIOVsockUser *s)
{
    vsock_endpoints_stop(s->endpoints);
    vsock_engine_free(s->engine);
    s->engine = NULL;
    vsock_endpoints_free(s->endpoints);
    s->endpoints = NULL;
    vsock_poll_free(s->poll);
    s->poll = NULL;
    qemu_bh_delete(s->poll_bh);
    s->poll_bh = NULL;
}

static void vsock_user_realize(DeviceState *dev, Error **errp)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(dev);
    VsockEngineConfig cfg;
    VsockEndpointsConfig ep;

    if (!virtio_vsock_user_check_props(s, errp)) {
        return;
    }

    s->poll_bh = virtio_bh_new_guarded(dev, vsock_user_poll_bh, s);
    s->poll = vsock_poll_new(vsock_user_poll_ready, s, errp);
    if (!s->poll) {
        qemu_bh_delete(s->poll_bh);
        s->poll_bh = NULL;
        return;
    }
    vsock_engine_config_init(&cfg);
    cfg.guest_cid = s->guest_cid;
    cfg.local_cid = s->parent_cid;
    cfg.max_conns = s->max_connections;
    cfg.buf_alloc = s->buf_size;
    cfg.ops = &vsock_user_engine_ops;
    cfg.opaque = s;
    s->engine = vsock_engine_new(&cfg);
    ep = (VsockEndpointsConfig) {
        .dev = OBJECT(dev),
        .engine = s->engine,
        .poll = s->poll,
        .guest_cid = s->guest_cid,
        .parent_cid = s->parent_cid,
        .heartbeat = s->heartbeat,
        .max_conns = s->max_connections,
        .max_pending = s->host_max_pending,
        .uds_path = s->uds_path,
        .uds_timeout_ms = s->uds_timeout_ms,
        .uds_max_handshakes = s->uds_max_handshakes,
        .uds_seqpacket = s->seqpacket != ON_OFF_AUTO_OFF,
        .wakeup = vsock_user_wakeup,
        .opaque = s,
    };
    s->endpoints = vsock_endpoints_new(&ep);
    if (!vsock_endpoints_start(s->endpoints, errp)) {
        vsock_user_free_backends(s);
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
    trace_virtio_vsock_user_realize(s->guest_cid, s->parent_cid,
                                    vsock_endpoints_heartbeat(s->endpoints));
}

static void vsock_user_unrealize(DeviceState *dev)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(dev);

    qemu_del_vm_change_state_handler(s->vmstate);
    vsock_user_free_backends(s);
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

static void vsock_user_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    VirtioDeviceClass *vdc = VIRTIO_DEVICE_CLASS(klass);

    virtio_vsock_user_class_add_props(klass);
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
