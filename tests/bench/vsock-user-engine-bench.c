/*
 * Micro-benchmark of the virtio-vsock-user engine (not a test)
 *
 * Moves 64 KiB RW packets through the engine to a null endpoint (guest ->
 * host) and 64 KiB packets from a null endpoint back into rx buffers
 * (host -> guest), and prints MiB/s next to a plain memcpy of the same
 * bytes measured in the same run.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/virtio/vsock-user/vsock-user-endpoint.h"

#define PKT (64 * 1024)
#define GUEST 16
#define PARENT 3
#define PORT 5000

static size_t null_write(VsockConn *conn, void *opaque,
                         const struct iovec *iov, unsigned iov_cnt,
                         uint32_t flags)
{
    return iov_size(iov, iov_cnt);
}

static size_t null_read(VsockConn *conn, void *opaque,
                        const struct iovec *iov, unsigned iov_cnt,
                        uint32_t *flags)
{
    /* a real endpoint recv()s here: copy from a source buffer */
    return iov_from_buf(iov, iov_cnt, 0, opaque,
                        iov_size(iov, iov_cnt));
}

static const VsockConnOps null_ops = {
    .write = null_write,
    .read = null_read,
};

static uint8_t *src_data;

static VsockAcceptResult null_accept(VsockListener *l, VsockConn *conn,
                                     void *opaque)
{
    *(VsockConn **)opaque = conn;
    vsock_conn_set_ops(conn, &null_ops, src_data);
    return VSOCK_ACCEPT_NOW;
}

static void send_pkt(VsockEngine *e, uint8_t *buf, uint16_t op,
                     uint32_t len, uint32_t fwd_cnt)
{
    VsockHdr h = {
        .src_cid = GUEST, .dst_cid = PARENT, .src_port = 1234,
        .dst_port = PORT, .len = len, .type = VIRTIO_VSOCK_TYPE_STREAM,
        .op = op, .buf_alloc = 256 * 1024, .fwd_cnt = fwd_cnt,
    };
    struct iovec iov = { buf, VSOCK_HDR_SIZE + len };

    vsock_hdr_encode(&h, buf);
    if (vsock_engine_handle_tx(e, &iov, 1, iov.iov_len) != VSOCK_TX_OK) {
        fprintf(stderr, "unexpected tx result\n");
        exit(1);
    }
}

static double mibs(uint64_t bytes, int64_t ns)
{
    return ns > 0 ? bytes / (1024.0 * 1024.0) / (ns / 1e9) : 0;
}

int main(int argc, char **argv)
{
    uint64_t total = (argc > 1 ? g_ascii_strtoull(argv[1], NULL, 0) : 2048) *
                     1024 * 1024;
    VsockEngineConfig cfg;
    VsockEngine *e;
    VsockConn *conn = NULL;
    uint8_t *txbuf = g_malloc0(VSOCK_HDR_SIZE + PKT);
    uint8_t *rxbuf = g_malloc0(VSOCK_HDR_SIZE + PKT);
    uint8_t *dst = g_malloc0(PKT);
    uint64_t done, guest_fwd = 0;
    int64_t t0, t_tx, t_rx, t_cpy;
    size_t len;
    volatile uint8_t sink = 0; /* keeps the memcpy loop alive */

    src_data = g_malloc(PKT);
    memset(src_data, 0x5a, PKT);
    vsock_engine_config_init(&cfg);
    cfg.guest_cid = GUEST;
    cfg.local_cid = PARENT;
    e = vsock_engine_new(&cfg);
    vsock_engine_listen(e, PARENT, PORT, VIRTIO_VSOCK_TYPE_STREAM, null_accept,
                        &conn);
    send_pkt(e, txbuf, VIRTIO_VSOCK_OP_REQUEST, 0, 0);
    {
        struct iovec iov = { rxbuf, VSOCK_HDR_SIZE + PKT };

        vsock_engine_fill_rx(e, &iov, 1, &len);
    }

    /* guest -> host: 64 KiB RW packets, CREDIT_UPDATEs drained */
    memset(txbuf + VSOCK_HDR_SIZE, 0xa5, PKT);
    t0 = g_get_monotonic_time();
    for (done = 0; done < total; done += PKT) {
        struct iovec iov = { rxbuf, VSOCK_HDR_SIZE + PKT };

        send_pkt(e, txbuf, VIRTIO_VSOCK_OP_RW, PKT, 0);
        while (vsock_engine_fill_rx(e, &iov, 1, &len)) {
            /* CREDIT_UPDATE */
        }
    }
    t_tx = (g_get_monotonic_time() - t0) * 1000;

    /* host -> guest: the engine pulls into 44 + 64 KiB rx buffers */
    t0 = g_get_monotonic_time();
    vsock_conn_notify_readable(conn);
    for (done = 0; done < total;) {
        struct iovec iov[2] = {
            { rxbuf, VSOCK_HDR_SIZE }, { rxbuf + VSOCK_HDR_SIZE, PKT },
        };
        VsockHdr h;

        if (!vsock_engine_fill_rx(e, iov, 2, &len)) {
            /* the guest read it all: return credit */
            guest_fwd = done;
            send_pkt(e, txbuf, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0,
                     (uint32_t)guest_fwd);
            continue;
        }
        vsock_hdr_decode(&h, rxbuf);
        done += h.len;
    }
    t_rx = (g_get_monotonic_time() - t0) * 1000;

    /* memcpy of the same bytes, same packet size */
    t0 = g_get_monotonic_time();
    for (done = 0; done < total; done += PKT) {
        memcpy(dst, txbuf + VSOCK_HDR_SIZE, PKT);
        sink ^= dst[done % PKT];
    }
    t_cpy = (g_get_monotonic_time() - t0) * 1000;

    printf("bytes per direction: %llu MiB in %d-byte RW packets\n",
           (unsigned long long)(total >> 20), PKT);
    printf("guest->host (engine, null endpoint): %10.1f MiB/s\n",
           mibs(total, t_tx));
    printf("host->guest (engine, copy into rx):  %10.1f MiB/s\n",
           mibs(total, t_rx));
    printf("memcpy of the same bytes:            %10.1f MiB/s\n",
           mibs(total, t_cpy));
    printf("engine stats: rx_pkts %llu tx_pkts %llu credit updates %llu\n",
           (unsigned long long)vsock_engine_get_stats(e)->rx_pkts,
           (unsigned long long)vsock_engine_get_stats(e)->tx_pkts,
           (unsigned long long)
           vsock_engine_get_stats(e)->credit_updates_sent);
    vsock_engine_free(e);
    g_free(txbuf);
    g_free(rxbuf);
    g_free(dst);
    g_free(src_data);
    return sink == 0xff;
}
