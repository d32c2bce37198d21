/* SPDX-License-Identifier: GPL-2.0-or-later */
/* iotrap: range dispatch, overlap refusal, boundaries, split accesses. */
#include <errno.h>

#include "core/iotrap.h"
#include "test.h"

struct fake_dev {
    uint8_t regs[16];
    unsigned reads, writes;
    uint64_t last_off;
    unsigned last_size;
};

static uint64_t fake_read(void *opaque, uint64_t off, unsigned size)
{
    struct fake_dev *d = opaque;
    d->reads++;
    d->last_off = off;
    d->last_size = size;
    uint64_t v = 0;
    for (unsigned i = 0; i < size && off + i < sizeof(d->regs); i++)
        v |= (uint64_t)d->regs[off + i] << (8 * i);
    return v;
}

static void fake_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct fake_dev *d = opaque;
    d->writes++;
    d->last_off = off;
    d->last_size = size;
    for (unsigned i = 0; i < size && off + i < sizeof(d->regs); i++)
        d->regs[off + i] = (uint8_t)(val >> (8 * i));
}

static const struct vmm_io_ops fake_ops = {.read = fake_read, .write = fake_write};

static void test_overlaps_refused(void)
{
    struct vmm_iotrap_map m;
    struct fake_dev a = {0}, b = {0};
    vmm_iotrap_map_init(&m);
    CHECK_EQ(vmm_iotrap_map_add(&m, 0x3f8, 8, &fake_ops, &a), 0);
    CHECK_EQ(vmm_iotrap_map_add(&m, 0x3f8, 8, &fake_ops, &b), -EEXIST);
    CHECK_EQ(vmm_iotrap_map_add(&m, 0x3f0, 9, &fake_ops, &b), -EEXIST);    /* last byte overlaps */
    CHECK_EQ(vmm_iotrap_map_add(&m, 0x3ff, 1, &fake_ops, &b), -EEXIST);    /* first byte overlaps */
    CHECK_EQ(vmm_iotrap_map_add(&m, 0x3fa, 1, &fake_ops, &b), -EEXIST);    /* inside */
    CHECK_EQ(vmm_iotrap_map_add(&m, 0x3f0, 0x20, &fake_ops, &b), -EEXIST); /* covers */
    CHECK_EQ(vmm_iotrap_map_add(&m, 0x3f0, 8, &fake_ops, &b), 0);          /* adjacent below */
    CHECK_EQ(vmm_iotrap_map_add(&m, 0x400, 8, &fake_ops, &b), 0);          /* adjacent above */
    CHECK_EQ(vmm_iotrap_map_add(&m, 0x10, 0, &fake_ops, &b), -EINVAL);
    CHECK_EQ(vmm_iotrap_map_add(&m, ~0ULL - 3, 8, &fake_ops, &b), -EINVAL); /* wraps */
    CHECK_EQ(vmm_iotrap_map_add(&m, ~0ULL - 7, 8, &fake_ops, &b), 0);       /* ends at top */
    CHECK_EQ(m.count, 4);
    for (unsigned i = 1; i < m.count; i++)
        CHECK(m.ranges[i - 1].base + m.ranges[i - 1].len <= m.ranges[i].base);
    vmm_iotrap_map_free(&m);
}

static void test_boundaries(void)
{
    struct vmm_iotrap_map m;
    struct fake_dev a = {0};
    vmm_iotrap_map_init(&m);
    CHECK_EQ(vmm_iotrap_map_add(&m, 0x100, 4, &fake_ops, &a), 0);
    CHECK(vmm_iotrap_map_find(&m, 0xff) == NULL);
    CHECK(vmm_iotrap_map_find(&m, 0x100) != NULL);
    CHECK(vmm_iotrap_map_find(&m, 0x103) != NULL);
    CHECK(vmm_iotrap_map_find(&m, 0x104) == NULL);
    CHECK_EQ(vmm_iotrap_map_read(&m, 0x0ff, 1), 0xff); /* unclaimed reads as ones */
    CHECK_EQ(vmm_iotrap_map_read(&m, 0x104, 2), 0xffff);
    CHECK_EQ(a.reads, 0);
    vmm_iotrap_map_write(&m, 0x100, 4, 0x44332211);
    CHECK_EQ(a.writes, 1);
    CHECK_EQ(a.last_size, 4);
    CHECK_EQ(vmm_iotrap_map_read(&m, 0x101, 2), 0x3322);
    CHECK_EQ(a.last_off, 1);
    /* A dword read straddling the end: in-range bytes from the device, the rest ones. */
    CHECK_EQ(vmm_iotrap_map_read(&m, 0x102, 4), 0xffff4433);
    /* A straddling write only reaches the device for its own bytes. */
    unsigned w = a.writes;
    vmm_iotrap_map_write(&m, 0x0fe, 4, 0xaabbccdd);
    CHECK_EQ(a.writes, w + 2);
    CHECK_EQ(a.regs[0], 0xbb);
    CHECK_EQ(a.regs[1], 0xaa);
    CHECK_EQ(a.regs[2], 0x33);
    /* Bad sizes are ignored, never dispatched. */
    unsigned r = a.reads;
    CHECK_EQ(vmm_iotrap_map_read(&m, 0x100, 0), ~0ULL);
    CHECK_EQ(vmm_iotrap_map_read(&m, 0x100, 9), ~0ULL);
    CHECK_EQ(a.reads, r);
    vmm_iotrap_map_free(&m);
}

static void test_many_ranges_and_remove(void)
{
    struct vmm_iotrap_map m;
    static struct fake_dev devs[200];
    vmm_iotrap_map_init(&m);
    /* Insert out of order; lookups must find the right owner for every address. */
    for (unsigned i = 0; i < 200; i++) {
        unsigned k = (i * 73) % 200;
        CHECK_EQ(vmm_iotrap_map_add(&m, 0x1000 + k * 0x10, 8, &fake_ops, &devs[k]), 0);
    }
    CHECK_EQ(m.count, 200);
    unsigned wrong = 0;
    for (unsigned k = 0; k < 200; k++) {
        for (unsigned o = 0; o < 0x10; o++) {
            const struct vmm_iotrap_range *r = vmm_iotrap_map_find(&m, 0x1000 + k * 0x10 + o);
            if (o < 8 ? (!r || r->opaque != &devs[k]) : r != NULL)
                wrong++;
        }
    }
    CHECK_EQ(wrong, 0);
    CHECK_EQ(vmm_iotrap_map_remove(&m, 0x1000 + 5 * 0x10, &devs[6]), -ENOENT); /* wrong owner */
    CHECK_EQ(vmm_iotrap_map_remove(&m, 0x1000 + 5 * 0x10 + 1, &devs[5]), -ENOENT);
    CHECK_EQ(vmm_iotrap_map_remove(&m, 0x1000 + 5 * 0x10, &devs[5]), 0);
    CHECK(vmm_iotrap_map_find(&m, 0x1000 + 5 * 0x10) == NULL);
    CHECK(vmm_iotrap_map_find(&m, 0x1000 + 6 * 0x10)->opaque == &devs[6]);
    CHECK_EQ(vmm_iotrap_map_add(&m, 0x1000 + 5 * 0x10, 16, &fake_ops, &devs[5]), 0);
    vmm_iotrap_map_free(&m);
}

int main(void)
{
    RUN_TEST(test_overlaps_refused);
    RUN_TEST(test_boundaries);
    RUN_TEST(test_many_ranges_and_remove);
    return test_finish();
}
