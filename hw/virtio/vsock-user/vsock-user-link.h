/*
 * virtio-vsock-user: links between devices in different QEMU processes
 *
 * A vsock-user-link object carries the packets of a virtio-vsock-user
 * device's guest to and from another QEMU's device over a stream socket,
 * so that the two guests talk AF_VSOCK to each other.  The device routes:
 * it hands the links every guest packet whose dst_cid one of them
 * carries, and fills rx buffers from them; the links only wake it up.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_LINK_H
#define HW_VIRTIO_VSOCK_USER_LINK_H

#include "qom/object.h"

#define TYPE_VSOCK_USER_LINK "vsock-user-link"
OBJECT_DECLARE_SIMPLE_TYPE(VsockUserLink, VSOCK_USER_LINK)

/* What a device tells the links it takes. */
typedef struct VsockLinkOwner {
    Object *dev;                /* named in messages; matched by vsock= */
    uint64_t guest_cid;
    uint32_t max_conns;         /* connections tracked per link */
    /* Packets for the guest became pending (schedule a flush, no more). */
    void (*wakeup)(void *opaque);
    void *opaque;
} VsockLinkOwner;

/* The links one device holds. */
typedef struct VsockLinks VsockLinks;

/*
 * Take every vsock-user-link object that names @owner->dev (or names no
 * device and is not taken yet) and start them.  Returns NULL with @errp
 * set if a link cannot serve this device (its CIDs overlap another
 * link's or the guest's own).  The result may hold no link at all.
 */
VsockLinks *vsock_links_attach(const VsockLinkOwner *owner, Error **errp);

/* Stop and release the links (connections through them are dropped). */
void vsock_links_detach(VsockLinks *ls);

/* Does a link carry @cid? */
bool vsock_links_carry(const VsockLinks *ls, uint64_t cid);

/*
 * A tx chain from the guest: if its dst_cid is carried by a link, the
 * link takes it (sends it, or refuses it with an RST to the guest) and
 * this returns true; otherwise false and the engine gets it.
 */
bool vsock_links_tx(VsockLinks *ls, const struct iovec *iov,
                    unsigned iov_cnt);

/* Packets for the guest are waiting. */
bool vsock_links_rx_pending(const VsockLinks *ls);

/*
 * Fill one rx buffer (header and payload) with the next packet, or the
 * next piece of one that does not fit; *@len gets the bytes written.
 * Returns false if no link had anything.
 */
bool vsock_links_fill_rx(VsockLinks *ls, const struct iovec *iov,
                         unsigned iov_cnt, size_t *len);

/*
 * The guest was reset (or its state replaced by loadvm): tell each
 * link's other end, with an RST per connection that crossed the link,
 * and forget the packets still waiting for this guest.
 */
void vsock_links_guest_reset(VsockLinks *ls);

/*
 * Whether the guest's driver took VIRTIO_VSOCK_F_SEQPACKET: SEQPACKET
 * packets cross the links only then (else a peer's REQUEST gets RST).
 */
void vsock_links_set_seqpacket(VsockLinks *ls, bool on);

#endif
