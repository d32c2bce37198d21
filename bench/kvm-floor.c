/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The floor for exit cost: the least a VMM can do per port write. A bare
 * KVM VM (no irqchip, no devices) runs real-mode code that writes port 0x80
 * N times; this loop answers each exit and nothing else. Prints nanoseconds
 * per exit, measured around the KVM_RUN loop. With a second argument
 * "first", it writes one byte to standard output as soon as the first exit
 * comes back (the start-up timing's mark, as the other VMMs' guests give it
 * through their debug console).
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 100000;
    if (n == 0)
        n = 1;
    const int first_mode = argc > 2 && strcmp(argv[2], "first") == 0;
    int mark_first = first_mode;
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        perror("/dev/kvm");
        return 77;
    }
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    size_t memsz = 0x10000;
    uint8_t *mem = mmap(NULL, memsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* mov ecx, n; l: out 0x80, al; dec ecx; jnz l; out 0xf4, al; hlt */
    uint8_t code[] = {0x66, 0xb9, 0, 0, 0, 0, 0xe6, 0x80, 0x66, 0x49, 0x75, 0xfa, 0xe6, 0xf4, 0xf4};
    memcpy(&code[2], &n, 4);
    memcpy(mem + 0x1000, code, sizeof(code));
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = memsz, .userspace_addr = (uintptr_t)mem};
    if (vm < 0 || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
        perror("KVM VM setup");
        return 1;
    }
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    int mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    struct kvm_sregs sregs;
    ioctl(vcpu, KVM_GET_SREGS, &sregs);
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    ioctl(vcpu, KVM_SET_SREGS, &sregs);
    struct kvm_regs regs = {.rip = 0x1000, .rflags = 2};
    ioctl(vcpu, KVM_SET_REGS, &regs);

    uint64_t exits = 0;
    double t0 = now();
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            perror("KVM_RUN");
            return 1;
        }
        if (mark_first) {
            mark_first = 0;
            if (write(STDOUT_FILENO, "!", 1) != 1)
                return 1;
        }
        if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0x80) {
            exits++;
            continue;
        }
        if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0xf4)
            break;
        fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
        return 1;
    }
    double t1 = now();
    if (first_mode) /* the start-up mark: nothing but it on standard output */
        return 0;
    printf("exits=%llu ns_per_exit=%.1f\n", (unsigned long long)exits, (t1 - t0) * 1e9 / exits);
    return 0;
}
