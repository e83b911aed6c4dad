/*
 * virtio-vsock-user: a virtio socket device whose transport runs in QEMU
 *
 * The device owns its three virtqueues (rx, tx, event) and drives one
 * interface, its backends (vsock-user-backend.h): every tx chain goes to
 * the backend that claims its packet, rx chains are filled from the
 * backends in turn.  Its own backend (vsock-user-local.c) is the protocol
 * engine, which terminates connections to the parent CID in QEMU, so no
 * vhost backend is needed; each vsock-user-link attached to the device is
 * another.  This file is only the plumbing between the virtqueues and the
 * backends: when to pop and fill, when to notify the guest, a timer for
 * the backends' deadlines, reset and migration.
 *
 * One rule keeps it re-entrancy safe: every pass over the queues runs in
 * the device's bottom half (vsock_user_bh()).  A kick (through the
 * ioeventfd or inline in the transport's register write) and the timer
 * call that bottom half directly with aio_bh_call(), backends schedule
 * it.  It is made by virtio_bh_new_guarded(), so whichever way a pass
 * starts it holds the transport's re-entrancy guard: a guest buffer
 * placed on the transport's own registers cannot reset the device in the
 * middle of the pass.  The properties and counters are in
 * virtio-vsock-user-props.c, how objects attach in
 * virtio-vsock-user-attach.c.
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
#include "vsock-user-backend.h"
#include "vsock-user-local.h"
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

/* Pop and process one tx chain; false if the queue is empty. */
static bool vsock_user_tx_one(VirtIOVsockUser *s)
{
    VirtQueueElement *elem = virtqueue_pop(s->tx_vq,
                                           sizeof(VirtQueueElement));
    VsockBackend *b;
    VsockHdr h;

    if (!elem) {
        return false;
    }
    if (elem->in_num) {
        qemu_log_mask(LOG_GUEST_ERROR, "virtio-vsock-user: tx chain has "
                      "%u device-writable descriptor(s); dropped\n",
                      elem->in_num);
    } else if (!vsock_hdr_from_iov(&h, elem->out_sg, elem->out_num)) {
        qemu_log_mask(LOG_GUEST_ERROR, "virtio-vsock-user: tx chain of %zu "
                      "bytes is shorter than a packet header; dropped\n",
                      iov_size(elem->out_sg, elem->out_num));
    } else {
        b = vsock_backends_route(s->backends, &h);
        b->ops->tx(b, &h, elem->out_sg, elem->out_num);
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
 * a backend pauses tx instead, the chains left are taken when rx drains,
 * without a kick.
 */
static bool vsock_user_process_tx(VirtIOVsockUser *s)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    unsigned done = 0;
    bool more = false;

    for (;;) {
        virtio_queue_set_notification(s->tx_vq, 0);
        while (vsock_backends_tx_ready(s->backends) && !vdev->broken &&
               done < VSOCK_USER_BATCH && vsock_user_tx_one(s)) {
            done++;
        }
        if (done == VSOCK_USER_BATCH) {
            more = true;        /* a bottom half goes on, kicks stay off */
            break;
        }
        virtio_queue_set_notification(s->tx_vq, 1);
        if (!vsock_backends_tx_ready(s->backends) || vdev->broken ||
            virtio_queue_empty(s->tx_vq)) {
            break;
        }
    }
    s->tx_unnotified += done;
    s->tx_paused = !vsock_backends_tx_ready(s->backends);
    if (s->tx_paused) {
        trace_virtio_vsock_user_tx_paused();
    }
    return more;
}

/* Returns true if work is left for another pass. */
static bool vsock_user_process_rx(VirtIOVsockUser *s)
{
    unsigned done = 0;
    bool more = false;

    while (vsock_backends_rx_pending(s->backends)) {
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
        } else if (!vsock_backends_fill_rx(s->backends, elem->in_sg,
                                           elem->in_num, &len)) {
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
    int64_t deadline = vsock_backends_deadline(s->backends);

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

/*
 * The pass: everything the device does happens here, in its bottom half
 * (see the top of the file).
 */
static void vsock_user_bh(void *opaque)
{
    VirtIOVsockUser *s = opaque;
    bool more = false;

    vsock_backends_run_timers(s->backends);
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

/* Now rather than after the main loop's next turn, guarded all the same. */
static void vsock_user_pass_now(VirtIOVsockUser *s)
{
    aio_bh_call(s->bh);
}

static void vsock_user_timer_cb(void *opaque)
{
    vsock_user_pass_now(opaque);
}

/* New rx buffers: owed packets can go, and a paused tx can resume. */
static void vsock_user_handle_rx(VirtIODevice *vdev, VirtQueue *vq)
{
    vsock_user_pass_now(VIRTIO_VSOCK_USER(vdev));
}

static void vsock_user_handle_tx(VirtIODevice *vdev, VirtQueue *vq)
{
    vsock_user_pass_now(VIRTIO_VSOCK_USER(vdev));
}

static void vsock_user_handle_event(VirtIODevice *vdev, VirtQueue *vq)
{
    vsock_user_pass_now(VIRTIO_VSOCK_USER(vdev));
}

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

    /* STREAM needs no bit; the backends speak SEQPACKET (auto: on) */
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
    vsock_backends_set_seqpacket(s->backends, on);
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
    vsock_backends_reset(s->backends);
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

static void vsock_user_unrealize(DeviceState *dev);

static void vsock_user_realize(DeviceState *dev, Error **errp)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(dev);
    VsockLocalConfig cfg;

    if (!virtio_vsock_user_check_props(s, errp)) {
        return;
    }
    cfg = (VsockLocalConfig) {
        .guest_cid = s->guest_cid,
        .parent_cid = s->parent_cid,
        .max_conns = s->max_connections,
        .buf_size = s->buf_size,
        .max_pending = s->host_max_pending,
        .uds_path = s->uds_path,
        .uds_timeout_ms = s->uds_timeout_ms,
        .uds_max_handshakes = s->uds_max_handshakes,
        .uds_seqpacket = s->seqpacket != ON_OFF_AUTO_OFF,
    };
    s->local = vsock_local_new(&cfg, errp);
    if (!s->local) {
        return;
    }

    s->bh = virtio_bh_new_guarded(dev, vsock_user_bh, s);
    s->backends = g_new0(VsockBackends, 1);
    vsock_backends_init(s->backends, s->bh);
    vsock_backends_add(s->backends, vsock_local_backend(s->local));
    notifier_list_init(&s->detach);
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
    if (!virtio_vsock_user_heartbeat_start(s, errp)) {
        vsock_user_unrealize(dev);
        return;
    }
    trace_virtio_vsock_user_realize(s->guest_cid, s->parent_cid,
                                    s->heartbeat_dev != NULL);
}

/*
 * The objects attached to the device (links, forwards, chardevs) let go
 * of it first; then the engine closes every connection and the host
 * sockets go.
 */
static void vsock_user_unrealize(DeviceState *dev)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(dev);

    qemu_del_vm_change_state_handler(s->vmstate);
    virtio_vsock_user_heartbeat_stop(s);
    notifier_list_notify(&s->detach, s);
    vsock_local_free(s->local);
    s->local = NULL;
    g_free(s->backends);
    s->backends = NULL;
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
