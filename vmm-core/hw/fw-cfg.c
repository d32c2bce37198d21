/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fw_cfg: the item store, the selector/data ports and the DMA interface. The
 * model part touches guest RAM only through vmm_guest_ptr() on addresses it
 * has read once into locals, so a guest rewriting the DMA structure under a
 * running transfer changes nothing. See fw-cfg.h.
 */
#include "hw/fw-cfg.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/vm.h"

#define DIR_HEADER_SIZE 4
#define DIR_ENTRY_SIZE 64
#define DIR_NAME_SIZE 56

static const uint8_t signature[4] = {'Q', 'E', 'M', 'U'};
static const uint8_t empty_item[1];

static struct vmm_fw_cfg_item *lookup(struct vmm_fw_cfg *fw, uint16_t key)
{
    unsigned idx = key & FW_CFG_ENTRY_MASK;
    if (key & FW_CFG_ARCH_LOCAL)
        return idx < VMM_FW_CFG_FIXED_KEYS ? &fw->arch[idx] : NULL;
    if (idx < VMM_FW_CFG_FIXED_KEYS)
        return &fw->generic[idx];
    idx -= FW_CFG_FILE_FIRST;
    return idx < fw->nfiles ? &fw->files[idx] : NULL;
}

static void item_free(struct vmm_fw_cfg_item *it)
{
    if (it->owned)
        free(it->data);
    memset(it, 0, sizeof(*it));
}

/* Fills an empty item slot; copies data unless borrowed. */
static int item_set(struct vmm_fw_cfg_item *it, const void *data, size_t len, bool copy)
{
    if (len > VMM_FW_CFG_MAX_ITEM || (len && !data))
        return -EINVAL;
    if (copy && len) {
        uint8_t *buf = malloc(len);
        if (!buf)
            return -ENOMEM;
        memcpy(buf, data, len);
        it->data = buf;
        it->owned = true;
    } else {
        /* A zero-length item still exists: it points at a static byte. */
        it->data = len ? (uint8_t *)data : (uint8_t *)empty_item;
        it->owned = false;
    }
    it->len = (uint32_t)len;
    return 0;
}

/* ---- File directory ---- */

static int name_cmp(const void *a, const void *b)
{
    const struct vmm_fw_cfg_item *x = *(const struct vmm_fw_cfg_item *const *)a;
    const struct vmm_fw_cfg_item *y = *(const struct vmm_fw_cfg_item *const *)b;
    return strcmp(x->name, y->name);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    v = htobe32(v);
    memcpy(p, &v, 4);
}

static void put_be16(uint8_t *p, uint16_t v)
{
    v = htobe16(v);
    memcpy(p, &v, 2);
}

/* Rebuilds key 0x19 from the file list, sorted by name as SeaBIOS and Linux expect. */
static int rebuild_dir(struct vmm_fw_cfg *fw)
{
    size_t len = DIR_HEADER_SIZE + (size_t)fw->nfiles * DIR_ENTRY_SIZE;
    uint8_t *dir = calloc(1, len);
    struct vmm_fw_cfg_item **sorted = calloc(fw->nfiles ? fw->nfiles : 1, sizeof(*sorted));
    if (!dir || !sorted) {
        free(dir);
        free(sorted);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < fw->nfiles; i++)
        sorted[i] = &fw->files[i];
    qsort(sorted, fw->nfiles, sizeof(*sorted), name_cmp);

    put_be32(dir, fw->nfiles);
    for (unsigned i = 0; i < fw->nfiles; i++) {
        uint8_t *e = dir + DIR_HEADER_SIZE + (size_t)i * DIR_ENTRY_SIZE;
        const struct vmm_fw_cfg_item *it = sorted[i];
        put_be32(e, it->len);
        put_be16(e + 4, (uint16_t)(FW_CFG_FILE_FIRST + (it - fw->files)));
        memcpy(e + 8, it->name, strlen(it->name)); /* NUL-padded by calloc */
    }
    free(sorted);

    struct vmm_fw_cfg_item *d = &fw->generic[FW_CFG_FILE_DIR];
    item_free(d);
    d->data = dir;
    d->len = (uint32_t)len;
    d->owned = true;
    return 0;
}

/* ---- Item API ---- */

static bool reserved_key(uint16_t key)
{
    if (key & FW_CFG_ARCH_LOCAL)
        return (key & ~FW_CFG_ARCH_LOCAL) >= VMM_FW_CFG_FIXED_KEYS;
    return key >= VMM_FW_CFG_FIXED_KEYS || key == FW_CFG_SIGNATURE || key == FW_CFG_ID ||
           key == FW_CFG_FILE_DIR;
}

static int add_bytes(struct vmm_fw_cfg *fw, uint16_t key, const void *data, size_t len, bool copy)
{
    if (reserved_key(key))
        return -EINVAL;
    pthread_mutex_lock(&fw->dev.lock);
    struct vmm_fw_cfg_item *it = lookup(fw, key);
    int r = it->data ? -EEXIST : item_set(it, data, len, copy);
    pthread_mutex_unlock(&fw->dev.lock);
    return r;
}

int vmm_fw_cfg_add_bytes(struct vmm_fw_cfg *fw, uint16_t key, const void *data, size_t len)
{
    return add_bytes(fw, key, data, len, true);
}

int vmm_fw_cfg_add_bytes_ref(struct vmm_fw_cfg *fw, uint16_t key, const void *data, size_t len)
{
    return add_bytes(fw, key, data, len, false);
}

int vmm_fw_cfg_add_u16(struct vmm_fw_cfg *fw, uint16_t key, uint16_t val)
{
    uint16_t le = htole16(val);
    return add_bytes(fw, key, &le, sizeof(le), true);
}

int vmm_fw_cfg_add_u32(struct vmm_fw_cfg *fw, uint16_t key, uint32_t val)
{
    uint32_t le = htole32(val);
    return add_bytes(fw, key, &le, sizeof(le), true);
}

int vmm_fw_cfg_add_u64(struct vmm_fw_cfg *fw, uint16_t key, uint64_t val)
{
    uint64_t le = htole64(val);
    return add_bytes(fw, key, &le, sizeof(le), true);
}

static int add_file(struct vmm_fw_cfg *fw, const char *name, const void *data, size_t len,
                    bool copy, bool writable, vmm_fw_cfg_write_fn cb, void *opaque)
{
    size_t nlen = name ? strnlen(name, VMM_FW_CFG_MAX_NAME + 1) : 0;
    if (nlen == 0 || nlen > VMM_FW_CFG_MAX_NAME)
        return -EINVAL;
    int r;
    pthread_mutex_lock(&fw->dev.lock);
    for (unsigned i = 0; i < fw->nfiles; i++) {
        if (strcmp(fw->files[i].name, name) == 0) {
            r = -EEXIST;
            goto out;
        }
    }
    if (fw->nfiles >= VMM_FW_CFG_MAX_FILES) {
        r = -ENOSPC;
        goto out;
    }
    struct vmm_fw_cfg_item *files = realloc(fw->files, (fw->nfiles + 1) * sizeof(*files));
    if (!files) {
        r = -ENOMEM;
        goto out;
    }
    fw->files = files;
    struct vmm_fw_cfg_item *it = &files[fw->nfiles];
    memset(it, 0, sizeof(*it));
    /* A writable item is written in place: it must be our own copy. */
    r = item_set(it, data, len, copy || writable);
    if (r < 0)
        goto out;
    it->writable = writable && it->owned; /* a zero-length item has nothing to write */
    it->write_cb = cb;
    it->write_opaque = opaque;
    memcpy(it->name, name, nlen);
    it->name[nlen] = '\0';
    fw->nfiles++;
    r = rebuild_dir(fw);
    if (r < 0) {
        fw->nfiles--;
        item_free(it);
        goto out;
    }
    r = FW_CFG_FILE_FIRST + (int)fw->nfiles - 1;
out:
    pthread_mutex_unlock(&fw->dev.lock);
    return r;
}

int vmm_fw_cfg_add_file(struct vmm_fw_cfg *fw, const char *name, const void *data, size_t len)
{
    return add_file(fw, name, data, len, true, false, NULL, NULL);
}

int vmm_fw_cfg_add_file_ref(struct vmm_fw_cfg *fw, const char *name, const void *data, size_t len)
{
    return add_file(fw, name, data, len, false, false, NULL, NULL);
}

int vmm_fw_cfg_add_file_writable(struct vmm_fw_cfg *fw, const char *name, const void *data,
                                 size_t len, vmm_fw_cfg_write_fn cb, void *opaque)
{
    return add_file(fw, name, data, len, true, true, cb, opaque);
}

/* ---- Guest interface ---- */

/* dev.lock held. */
static void select_key(struct vmm_fw_cfg *fw, uint16_t key)
{
    fw->selector = key;
    fw->offset = 0;
}

/* Bytes of the selected item left from the offset (0 if it is absent). */
static uint32_t remaining(struct vmm_fw_cfg *fw, struct vmm_fw_cfg_item **out)
{
    struct vmm_fw_cfg_item *it = lookup(fw, fw->selector);
    *out = it;
    if (!it || !it->data || fw->offset >= it->len)
        return 0;
    return it->len - fw->offset;
}

static uint8_t data_read_byte(struct vmm_fw_cfg *fw)
{
    struct vmm_fw_cfg_item *it;
    if (!remaining(fw, &it))
        return 0;
    return it->data[fw->offset++];
}

static uint64_t port_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_fw_cfg *fw = opaque;
    uint64_t val = 0;
    if (off != 1)
        return 0; /* the selector is write-only */
    pthread_mutex_lock(&fw->dev.lock);
    /* An 8-bit port: a wider access is a string of byte reads. */
    for (unsigned i = 0; i < size && i < 8; i++)
        val |= (uint64_t)data_read_byte(fw) << (8 * i);
    pthread_mutex_unlock(&fw->dev.lock);
    return val;
}

static void port_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_fw_cfg *fw = opaque;
    /* The selector is a 16-bit register; data port writes are ignored (QEMU >= 2.4). */
    if (off != 0 || size != 2)
        return;
    pthread_mutex_lock(&fw->dev.lock);
    select_key(fw, (uint16_t)val);
    pthread_mutex_unlock(&fw->dev.lock);
}

const struct vmm_io_ops vmm_fw_cfg_ops = {.read = port_read, .write = port_write};

static uint32_t get_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return be32toh(v);
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return be64toh(v);
}

/* One DMA operation, dev.lock held. Returns false for the ERROR bit. */
static bool dma_run(struct vmm_fw_cfg *fw, uint32_t control, uint32_t length, uint64_t address)
{
    struct vmm_fw_cfg_item *it;

    if (control & FW_CFG_DMA_CTL_SELECT)
        select_key(fw, (uint16_t)(control >> 16));
    uint32_t avail = remaining(fw, &it);

    if (control & FW_CFG_DMA_CTL_READ) {
        if (!length)
            return true;
        uint8_t *dst = vmm_guest_ptr(fw->mem, address, length);
        if (!dst)
            return false;
        uint32_t n = length < avail ? length : avail;
        if (n)
            memcpy(dst, it->data + fw->offset, n);
        memset(dst + n, 0, length - n); /* past the end reads as zeros */
        fw->offset += n;
        return true;
    }
    if (control & FW_CFG_DMA_CTL_WRITE) {
        /* Only into writable items, and never past their end (no resizing, no partial writes). */
        if (!it || !it->data || !it->writable || length > avail)
            return false;
        if (!length)
            return true;
        const uint8_t *src = vmm_guest_ptr(fw->mem, address, length);
        if (!src)
            return false;
        uint32_t at = fw->offset;
        memcpy(it->data + at, src, length);
        fw->offset += length;
        if (it->write_cb)
            it->write_cb(it->write_opaque, at, length);
        return true;
    }
    if (control & FW_CFG_DMA_CTL_SKIP)
        fw->offset += length < avail ? length : avail;
    return true;
}

/* dev.lock held. */
static void dma_transfer(struct vmm_fw_cfg *fw, uint64_t addr)
{
    /* FWCfgDmaAccess: control, length, address, all big-endian. */
    uint8_t *desc = vmm_guest_ptr(fw->mem, addr, 16);
    if (!desc)
        return; /* nowhere to even report the error */
    uint32_t control = get_be32(desc);
    uint32_t length = get_be32(desc + 4);
    uint64_t address = get_be64(desc + 8);
    bool ok = dma_run(fw, control, length, address);
    /* Done (all bits clear) or failed (ERROR): the transfer is synchronous. */
    put_be32(desc, ok ? 0 : FW_CFG_DMA_CTL_ERROR);
}

static uint64_t dma_read(void *opaque, uint64_t off, unsigned size)
{
    uint64_t val = 0;
    /* The register reads as "QEMU CFG" in big-endian byte order. */
    for (unsigned i = 0; i < size && off + i < 8; i++)
        val |= ((FW_CFG_DMA_SIGNATURE >> (56 - 8 * (off + i))) & 0xff) << (8 * i);
    return val;
}

static void dma_write(void *opaque, uint64_t off, unsigned size, uint64_t val)
{
    struct vmm_fw_cfg *fw = opaque;
    if (size != 4 || (off != 0 && off != 4))
        return;
    /* The guest stores each half big-endian: the port sees it byte-swapped. */
    uint32_t half = be32toh(htole32((uint32_t)val));
    pthread_mutex_lock(&fw->dev.lock);
    if (off == 0) {
        fw->dma_high = half;
    } else {
        uint64_t addr = (uint64_t)fw->dma_high << 32 | half;
        fw->dma_high = 0; /* the register reads back 0 after an operation */
        dma_transfer(fw, addr);
    }
    pthread_mutex_unlock(&fw->dev.lock);
}

const struct vmm_io_ops vmm_fw_cfg_dma_ops = {.read = dma_read, .write = dma_write};

/* ---- Lifecycle ---- */

void vmm_fw_cfg_reset(struct vmm_fw_cfg *fw)
{
    pthread_mutex_lock(&fw->dev.lock);
    select_key(fw, FW_CFG_SIGNATURE);
    fw->dma_high = 0;
    pthread_mutex_unlock(&fw->dev.lock);
}

int vmm_fw_cfg_init(struct vmm_fw_cfg *fw, const struct vmm_guest_mem *mem)
{
    memset((char *)fw + sizeof(fw->dev), 0, sizeof(*fw) - sizeof(fw->dev));
    fw->mem = mem;
    uint32_t id = htole32(FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA);
    int r = item_set(&fw->generic[FW_CFG_SIGNATURE], signature, sizeof(signature), false);
    if (!r)
        r = item_set(&fw->generic[FW_CFG_ID], &id, sizeof(id), true);
    if (!r)
        r = rebuild_dir(fw);
    if (r < 0)
        vmm_fw_cfg_fini(fw);
    return r;
}

void vmm_fw_cfg_fini(struct vmm_fw_cfg *fw)
{
    for (unsigned i = 0; i < VMM_FW_CFG_FIXED_KEYS; i++) {
        item_free(&fw->generic[i]);
        item_free(&fw->arch[i]);
    }
    for (unsigned i = 0; i < fw->nfiles; i++)
        item_free(&fw->files[i]);
    free(fw->files);
    fw->files = NULL;
    fw->nfiles = 0;
}

static int fw_cfg_realize(struct vmm_device *dev, struct vmm_vm *vm, struct vmm_error *err)
{
    struct vmm_fw_cfg *fw = (struct vmm_fw_cfg *)dev;
    int r = vmm_fw_cfg_init(fw, &vm->mem);
    if (r < 0) {
        vmm_error_set(err, r, "fw_cfg: out of memory");
        return r;
    }
    r = vmm_iotrap_add(vm, VMM_IO_PIO, VMM_FW_CFG_PORT, VMM_FW_CFG_PORT_LEN, &vmm_fw_cfg_ops, fw);
    if (!r) {
        r = vmm_iotrap_add(vm, VMM_IO_PIO, VMM_FW_CFG_DMA_PORT, VMM_FW_CFG_DMA_PORT_LEN,
                           &vmm_fw_cfg_dma_ops, fw);
        /* The device is freed on failure: its first range must not outlive it. */
        if (r < 0 && vmm_iotrap_remove(vm, VMM_IO_PIO, VMM_FW_CFG_PORT, fw) < 0)
            r = -EFAULT; /* cannot happen: we added it a moment ago */
    }
    if (r < 0) {
        vmm_fw_cfg_fini(fw);
        vmm_error_set(err, r, "fw_cfg: I/O ports 0x510-0x51b already claimed");
    }
    return r;
}

static void fw_cfg_dev_reset(struct vmm_device *dev)
{
    vmm_fw_cfg_reset((struct vmm_fw_cfg *)dev);
}

static void fw_cfg_unrealize(struct vmm_device *dev)
{
    vmm_fw_cfg_fini((struct vmm_fw_cfg *)dev);
}

const struct vmm_device_type vmm_fw_cfg_type = {
    .name = "fw-cfg",
    .instance_size = sizeof(struct vmm_fw_cfg),
    .realize = fw_cfg_realize,
    .reset = fw_cfg_dev_reset,
    .unrealize = fw_cfg_unrealize,
};
