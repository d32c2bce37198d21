/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The split virtqueue engine against fake guest RAM (3 GiB low + 1 MiB
 * high, sparse): well-formed chains, a corpus of malicious rings that must
 * break the queue (never crash), event-index suppression both ways, the
 * work budget and the iovec helpers.
 */
#include <errno.h>

#include "fake-guest-mem.h"
#include "fake-virtq.h"
#include "test.h"
#include "virtio/queue.h"

#define RING 0x10000ULL  /* rings */
#define BUF 0x100000ULL  /* buffers */
#define TABLE 0x80000ULL /* indirect tables */

static struct vmm_guest_mem mem;
static unsigned errors;

static void on_error(void *opaque, struct vmm_virtqueue *vq)
{
    errors++;
}

/* A queue of `size` entries, enabled, with its driver side in *f. */
static void setup(struct vmm_virtqueue *vq, struct fake_vq *f, uint16_t size, bool indirect,
                  bool event_idx)
{
    errors = 0;
    fvq_init(f, &mem, RING, size);
    vmm_virtq_init(vq, 0, 256, &mem, on_error, NULL);
    vq->size = size;
    vq->desc_gpa = f->desc;
    vq->avail_gpa = f->avail;
    vq->used_gpa = f->used;
    vq->indirect = indirect;
    vq->event_idx = event_idx;
    CHECK_EQ(vmm_virtq_enable(vq), 0);
    vmm_virtq_begin(vq);
}

static struct vmm_virtq_elem elem;

/* Pops once and expects the queue to break with exactly one error report. */
static void expect_broken(struct vmm_virtqueue *vq, const char *what)
{
    int r = vmm_virtq_pop(vq, &elem);
    if (r != -EIO || !vq->broken || errors != 1)
        fprintf(stderr, "  malicious ring not rejected: %s (r=%d errors=%u)\n", what, r, errors);
    CHECK_EQ(r, -EIO);
    CHECK(vq->broken);
    CHECK_EQ(errors, 1);
    /* Stays stopped, reports once. */
    CHECK_EQ(vmm_virtq_pop(vq, &elem), -EIO);
    CHECK_EQ(errors, 1);
}

static void test_simple_chain(void)
{
    struct vmm_virtqueue vq;
    struct fake_vq f;
    setup(&vq, &f, 16, false, false);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 0); /* empty */
    fvq_desc(&f, 3, BUF, 16, VIRTQ_DESC_F_NEXT, 7);
    fvq_desc(&f, 7, BUF + 0x1000, 100, VIRTQ_DESC_F_NEXT, 1);
    fvq_desc(&f, 1, BUF + 0x2000, 513, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&f, 3);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    CHECK_EQ(elem.head, 3);
    CHECK_EQ(elem.n_out, 2);
    CHECK_EQ(elem.n_in, 1);
    CHECK_EQ(elem.out_len, 116);
    CHECK_EQ(elem.in_len, 513);
    CHECK(elem.iov[0].iov_base == gp(&mem, BUF, 16));
    CHECK(elem.iov[2].iov_base == gp(&mem, BUF + 0x2000, 513));
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 0);
    vmm_virtq_push(&vq, &elem, 40);
    CHECK_EQ(fvq_used_idx(&f), 1);
    uint32_t id, len;
    fvq_used_elem(&f, 0, &id, &len);
    CHECK_EQ(id, 3);
    CHECK_EQ(len, 40);
    CHECK(vmm_virtq_need_interrupt(&vq));
    CHECK_EQ(errors, 0);
}

static void test_used_wraps_and_clamps(void)
{
    struct vmm_virtqueue vq;
    struct fake_vq f;
    setup(&vq, &f, 4, false, false);
    for (unsigned round = 0; round < 3; round++) {
        for (uint16_t i = 0; i < 4; i++) {
            fvq_desc(&f, i, BUF + 64 * i, 8, VIRTQ_DESC_F_WRITE, 0);
            fvq_publish(&f, i);
        }
        for (uint16_t i = 0; i < 4; i++) {
            CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
            CHECK_EQ(elem.head, i);
            vmm_virtq_push(&vq, &elem, 1000); /* more than the buffer: clamped */
        }
        CHECK_EQ(fvq_used_idx(&f), (uint16_t)(4 * (round + 1)));
        uint32_t id, len;
        fvq_used_elem(&f, 2, &id, &len);
        CHECK_EQ(id, 2);
        CHECK_EQ(len, 8);
    }
    /* The avail index wraps at 65536 like any other. */
    setup(&vq, &f, 4, false, false);
    vq.last_avail = 0xfffe;
    fvq_set_avail_idx(&f, 0xfffe);
    fvq_desc(&f, 0, BUF, 8, 0, 0);
    fvq_publish(&f, 0);
    fvq_publish(&f, 0);
    fvq_publish(&f, 0);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    CHECK_EQ(vq.last_avail, 1);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 0);
    CHECK_EQ(errors, 0);
}

static void test_loops(void)
{
    struct vmm_virtqueue vq;
    struct fake_vq f;
    setup(&vq, &f, 8, false, false);
    fvq_desc(&f, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 0); /* self loop */
    fvq_publish(&f, 0);
    expect_broken(&vq, "self loop");

    setup(&vq, &f, 8, false, false);
    fvq_desc(&f, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
    fvq_desc(&f, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 2);
    fvq_desc(&f, 2, BUF, 8, VIRTQ_DESC_F_NEXT, 0);
    fvq_publish(&f, 0);
    expect_broken(&vq, "3-cycle");

    /* A chain through every descriptor is fine; one more hop is a loop. */
    setup(&vq, &f, 8, false, false);
    for (uint16_t i = 0; i < 8; i++)
        fvq_desc(&f, i, BUF + 16 * i, 16, i < 7 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    fvq_publish(&f, 0);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    CHECK_EQ(elem.n_out, 8);
    fvq_desc(&f, 7, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
    fvq_publish(&f, 0);
    expect_broken(&vq, "full-length cycle");
}

static void test_indexes(void)
{
    struct vmm_virtqueue vq;
    struct fake_vq f;
    setup(&vq, &f, 8, false, false);
    fvq_desc(&f, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 8);
    fvq_publish(&f, 0);
    expect_broken(&vq, "next index out of range");

    setup(&vq, &f, 8, false, false);
    fvq_desc(&f, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 0xffff);
    fvq_publish(&f, 0);
    expect_broken(&vq, "next index 0xffff");

    setup(&vq, &f, 8, false, false);
    fvq_publish(&f, 8);
    expect_broken(&vq, "head out of range");

    /* The avail index may run ahead by exactly the queue size, not one more. */
    setup(&vq, &f, 8, false, false);
    for (uint16_t i = 0; i < 8; i++)
        fvq_desc(&f, i, BUF, 8, 0, 0);
    fvq_set_avail_idx(&f, 8);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    CHECK_EQ(errors, 0);
    fvq_set_avail_idx(&f, 8 + 9);
    expect_broken(&vq, "avail index jump of size + 1");

    setup(&vq, &f, 8, false, false);
    fvq_set_avail_idx(&f, 0x8000);
    expect_broken(&vq, "avail index jump of 0x8000");

    /* An avail index that goes backwards is a jump of almost 65536. */
    setup(&vq, &f, 8, false, false);
    fvq_desc(&f, 0, BUF, 8, 0, 0);
    fvq_publish(&f, 0);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    fvq_set_avail_idx(&f, 0);
    expect_broken(&vq, "avail index backwards");
}

static void test_bad_buffers(void)
{
    struct vmm_virtqueue vq;
    struct fake_vq f;
    struct {
        uint64_t addr;
        uint32_t len;
        const char *what;
    } bad[] = {
        {BUF, 0, "zero-length buffer"},
        {BUF, 0xffffffffu, "huge length running past low RAM"},
        {0xfffffffffffff000ULL, 0x2000, "64-bit address overflow"},
        {0xffffffffffffffffULL, 1, "address at the top of the space"},
        {VMM_PCI_HOLE_START - 0x1000, 0x2000, "buffer straddling the PCI hole"},
        {VMM_PCI_HOLE_START, 16, "buffer inside the PCI hole"},
        {VMM_4GIB + MIB - 8, 16, "buffer running past high RAM"},
        {VMM_4GIB + 2 * MIB, 16, "buffer past all RAM"},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setup(&vq, &f, 8, false, false);
        fvq_desc(&f, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
        fvq_desc(&f, 1, bad[i].addr, bad[i].len, VIRTQ_DESC_F_WRITE, 0);
        fvq_publish(&f, 0);
        expect_broken(&vq, bad[i].what);
    }
    /* The same shapes inside RAM are fine: last bytes of low RAM, high RAM. */
    setup(&vq, &f, 8, false, false);
    fvq_desc(&f, 0, VMM_PCI_HOLE_START - 16, 16, VIRTQ_DESC_F_NEXT, 1);
    fvq_desc(&f, 1, VMM_4GIB + MIB - 16, 16, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&f, 0);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    CHECK(elem.iov[1].iov_base == gp(&mem, VMM_4GIB + MIB - 16, 16));

    /* Write-before-read: a device-readable buffer after a device-writable one. */
    setup(&vq, &f, 8, false, false);
    fvq_desc(&f, 0, BUF, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    fvq_desc(&f, 1, BUF + 16, 16, 0, 0);
    fvq_publish(&f, 0);
    expect_broken(&vq, "readable after writable");

    /* Lengths summed in 64 bits: 8 x 4 GiB - 1 must neither wrap nor pass (not RAM). */
    setup(&vq, &f, 8, false, false);
    for (uint16_t i = 0; i < 8; i++)
        fvq_desc(&f, i, 0, 0x80000000u, i < 7 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    fvq_publish(&f, 0);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    CHECK_EQ(elem.out_len, 8ULL * 0x80000000u);
}

static void test_indirect(void)
{
    struct vmm_virtqueue vq;
    struct fake_vq f;
    setup(&vq, &f, 8, true, false);
    fvq_desc_at(&f, TABLE, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
    fvq_desc_at(&f, TABLE, 2, BUF + 0x100, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    fvq_desc_at(&f, TABLE, 1, BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
    /* The WRITE flag on the descriptor naming the table is ignored, as the spec says. */
    fvq_desc(&f, 5, BUF + 0x800, 16, VIRTQ_DESC_F_NEXT, 6);
    fvq_desc(&f, 6, TABLE, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&f, 5);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    CHECK_EQ(elem.head, 5);
    CHECK_EQ(elem.n_out, 2);
    CHECK_EQ(elem.n_in, 2);
    CHECK_EQ(elem.out_len, 32);
    CHECK_EQ(elem.in_len, 513);
    CHECK(elem.iov[3].iov_base == gp(&mem, BUF + 0x400, 1));
    CHECK_EQ(errors, 0);

    setup(&vq, &f, 8, false, false);
    fvq_desc_at(&f, TABLE, 0, BUF, 16, 0, 0);
    fvq_desc(&f, 0, TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
    fvq_publish(&f, 0);
    expect_broken(&vq, "indirect without the feature");

    setup(&vq, &f, 8, true, false);
    fvq_desc_at(&f, TABLE, 0, TABLE + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
    fvq_desc_at(&f, TABLE + 0x100, 0, BUF, 16, 0, 0);
    fvq_desc(&f, 0, TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
    fvq_publish(&f, 0);
    expect_broken(&vq, "indirect inside indirect");

    const uint32_t bad_len[] = {0, 8, 20, 16 * 9 /* more entries than the queue */};
    for (unsigned i = 0; i < 4; i++) {
        setup(&vq, &f, 8, true, false);
        fvq_desc_at(&f, TABLE, 0, BUF, 16, 0, 0);
        fvq_desc(&f, 0, TABLE, bad_len[i], VIRTQ_DESC_F_INDIRECT, 0);
        fvq_publish(&f, 0);
        expect_broken(&vq, "indirect table of a bad length");
    }

    setup(&vq, &f, 8, true, false);
    fvq_desc(&f, 0, TABLE, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    fvq_desc(&f, 1, BUF, 16, 0, 0);
    fvq_publish(&f, 0);
    expect_broken(&vq, "indirect with NEXT");

    setup(&vq, &f, 8, true, false);
    fvq_desc_at(&f, TABLE, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
    fvq_desc_at(&f, TABLE, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
    fvq_desc(&f, 0, TABLE, 32, VIRTQ_DESC_F_INDIRECT, 0);
    fvq_publish(&f, 0);
    expect_broken(&vq, "loop inside an indirect table");

    setup(&vq, &f, 8, true, false);
    fvq_desc_at(&f, TABLE, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
    fvq_desc(&f, 0, TABLE, 32, VIRTQ_DESC_F_INDIRECT, 0);
    fvq_publish(&f, 0);
    expect_broken(&vq, "indirect next out of the table");

    setup(&vq, &f, 8, true, false);
    fvq_desc(&f, 0, VMM_PCI_HOLE_START - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    fvq_publish(&f, 0);
    expect_broken(&vq, "indirect table straddling the PCI hole");

    setup(&vq, &f, 8, true, false);
    fvq_desc_at(&f, TABLE, 0, BUF, 0, 0, 0);
    fvq_desc(&f, 0, TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
    fvq_publish(&f, 0);
    expect_broken(&vq, "zero-length buffer in an indirect table");
}

static void test_enable_checks(void)
{
    struct vmm_virtqueue vq;
    errors = 0;
    vmm_virtq_init(&vq, 0, 256, &mem, on_error, NULL);
    vq.size = 48;
    vq.desc_gpa = RING;
    vq.avail_gpa = RING + 0x1000;
    vq.used_gpa = RING + 0x2000;
    CHECK_EQ(vmm_virtq_enable(&vq), -EINVAL); /* not a power of two */
    CHECK_EQ(errors, 1);
    vmm_virtq_reset(&vq);
    CHECK_EQ(vq.size, 256);
    vq.size = 512; /* over the maximum */
    CHECK_EQ(vmm_virtq_enable(&vq), -EINVAL);
    vmm_virtq_reset(&vq);
    vq.desc_gpa = RING + 8; /* misaligned */
    vq.avail_gpa = RING + 0x1000;
    vq.used_gpa = RING + 0x2000;
    CHECK_EQ(vmm_virtq_enable(&vq), -EINVAL);
    vmm_virtq_reset(&vq);
    vq.desc_gpa = RING;
    vq.avail_gpa = RING + 0x1000;
    vq.used_gpa = VMM_PCI_HOLE_START - 0x100; /* runs into the hole */
    CHECK_EQ(vmm_virtq_enable(&vq), -EINVAL);
    CHECK(!vmm_virtq_ready(&vq));
    vmm_virtq_reset(&vq);
    vq.used_gpa = RING + 0x2000;
    errors = 0;
    CHECK_EQ(vmm_virtq_enable(&vq), 0);
    CHECK(vmm_virtq_ready(&vq));
    CHECK_EQ(errors, 0);
    /* A disabled queue pops nothing and pushes nothing. */
    vmm_virtq_reset(&vq);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 0);
}

static void test_event_idx(void)
{
    struct vmm_virtqueue vq;
    struct fake_vq f;
    setup(&vq, &f, 8, false, true);
    for (uint16_t i = 0; i < 8; i++)
        fvq_desc(&f, i, BUF + 16 * i, 16, VIRTQ_DESC_F_WRITE, 0);
    /* Empty: the device asks to be kicked at the next entry. */
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 0);
    CHECK_EQ(fvq_avail_event(&f), 0);
    fvq_publish(&f, 0);
    fvq_publish(&f, 1);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    vmm_virtq_push(&vq, &elem, 1);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    vmm_virtq_push(&vq, &elem, 1);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 0);
    CHECK_EQ(fvq_avail_event(&f), 2);
    /* Used index 0 -> 2: the first interrupt always goes. */
    fvq_set_used_event(&f, 0);
    CHECK(vmm_virtq_need_interrupt(&vq));
    /* The driver wants one when the used index passes 3: after 2 -> 3 nothing, 3 -> 4 yes. */
    fvq_set_used_event(&f, 3);
    fvq_publish(&f, 2);
    fvq_publish(&f, 3);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    vmm_virtq_push(&vq, &elem, 1);
    CHECK(!vmm_virtq_need_interrupt(&vq));
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    vmm_virtq_push(&vq, &elem, 1);
    CHECK(vmm_virtq_need_interrupt(&vq));
    /* Nothing new pushed: no interrupt. */
    CHECK(!vmm_virtq_need_interrupt(&vq));
    /* A batch stepping over used_event interrupts once. */
    fvq_set_used_event(&f, 4);
    for (uint16_t i = 4; i < 7; i++)
        fvq_publish(&f, i);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
        vmm_virtq_push(&vq, &elem, 1);
    }
    CHECK(vmm_virtq_need_interrupt(&vq));
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 0);
    CHECK_EQ(fvq_avail_event(&f), 7);

    /* The spec's formula itself, across the wrap. */
    CHECK(vmm_virtq_need_event(0xffff, 0, 0xfffe));
    CHECK(!vmm_virtq_need_event(0, 0, 0xfffe));
    CHECK(vmm_virtq_need_event(5, 6, 5));
    CHECK(!vmm_virtq_need_event(6, 6, 5));

    /* Without EVENT_IDX: avail->flags NO_INTERRUPT. */
    setup(&vq, &f, 8, false, false);
    fvq_desc(&f, 0, BUF, 16, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&f, 0);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    vmm_virtq_push(&vq, &elem, 1);
    fvq_set_avail_flags(&f, VIRTQ_AVAIL_F_NO_INTERRUPT);
    CHECK(!vmm_virtq_need_interrupt(&vq));
    fvq_set_avail_flags(&f, 0);
    CHECK(vmm_virtq_need_interrupt(&vq));
    /* avail_event is not touched without the feature. */
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 0);
    CHECK_EQ(fvq_avail_event(&f), 0);
}

static void test_budget(void)
{
    struct vmm_virtqueue vq;
    struct fake_vq f;
    setup(&vq, &f, 8, false, false);
    vq.budget = 2;
    vmm_virtq_begin(&vq);
    for (uint16_t i = 0; i < 5; i++) {
        fvq_desc(&f, i, BUF, 16, 0, 0);
        fvq_publish(&f, i);
    }
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 0);
    CHECK(vq.budget_hit);
    vmm_virtq_begin(&vq);
    CHECK(!vq.budget_hit);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 0);
    CHECK(vq.budget_hit);
    vmm_virtq_begin(&vq);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    CHECK_EQ(elem.head, 4);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 0);
    CHECK(!vq.budget_hit); /* empty, not out of budget */
}

static void test_iov_helpers(void)
{
    struct vmm_virtqueue vq;
    struct fake_vq f;
    setup(&vq, &f, 8, false, false);
    memcpy(gp(&mem, BUF, 4), "abcd", 4);
    memcpy(gp(&mem, BUF + 0x100, 3), "efg", 3);
    fvq_desc(&f, 0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
    fvq_desc(&f, 1, BUF + 0x100, 3, VIRTQ_DESC_F_NEXT, 2);
    fvq_desc(&f, 2, BUF + 0x200, 2, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
    fvq_desc(&f, 3, BUF + 0x300, 4, VIRTQ_DESC_F_WRITE, 0);
    fvq_publish(&f, 0);
    CHECK_EQ(vmm_virtq_pop(&vq, &elem), 1);
    char buf[16] = {0};
    CHECK_EQ(vmm_virtq_read(&elem, 2, buf, sizeof(buf)), 5);
    CHECK(memcmp(buf, "cdefg", 5) == 0);
    CHECK_EQ(vmm_virtq_write(&elem, 1, "XYZW!", 5), 5);
    CHECK(memcmp(gp(&mem, BUF + 0x200, 2), "\0X", 2) == 0);
    CHECK(memcmp(gp(&mem, BUF + 0x300, 4), "YZW!", 4) == 0);
    CHECK_EQ(vmm_virtq_write(&elem, 6, "12", 2), 0);
    struct iovec out[4];
    CHECK_EQ(vmm_virtq_iov_slice(elem.iov, elem.n_out, 3, 3, out, 4), 2);
    CHECK_EQ(out[0].iov_len, 1);
    CHECK_EQ(out[1].iov_len, 2);
    CHECK_EQ(vmm_virtq_iov_slice(elem.iov, elem.n_out, 3, 5, out, 4), -ERANGE);
    CHECK_EQ(vmm_virtq_iov_slice(elem.iov, elem.n_out, 0, 7, out, 1), -ERANGE);
}

int main(void)
{
    mem = fake_mem_new(VMM_PCI_HOLE_START, MIB);
    RUN_TEST(test_simple_chain);
    RUN_TEST(test_used_wraps_and_clamps);
    RUN_TEST(test_loops);
    RUN_TEST(test_indexes);
    RUN_TEST(test_bad_buffers);
    RUN_TEST(test_indirect);
    RUN_TEST(test_enable_checks);
    RUN_TEST(test_event_idx);
    RUN_TEST(test_budget);
    RUN_TEST(test_iov_helpers);
    fake_mem_free(&mem);
    return test_finish();
}
