/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * User networking loads libslirp with dlopen() when the first network
 * starts. A machine without it (Debian package libslirp0 not installed), or
 * with a libslirp that lacks a function of the 4.1 API, must get one clear
 * sentence, not a crash and not a retry at every call.
 *
 * Built with dlopen, dlerror and dlsym wrapped (-Wl,--wrap): the wrappers
 * pass everything through except what the case in TEST_MODE takes away.
 * Each case runs in a child process, since the library is looked up once
 * per process.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/user.h"
#include "test.h"
#include "vmm/error.h"

enum mode { MODE_REAL, MODE_MISSING, MODE_NO_HOSTFWD };
static enum mode mode;
static int slirp_opens; /* dlopen calls for libslirp */
static bool fake_error; /* the next dlerror() is ours */

void *__real_dlopen(const char *file, int flags);
char *__real_dlerror(void);
void *__real_dlsym(void *handle, const char *name);
void *__wrap_dlopen(const char *file, int flags);
char *__wrap_dlerror(void);
void *__wrap_dlsym(void *handle, const char *name);

void *__wrap_dlopen(const char *file, int flags)
{
    if (file && strncmp(file, "libslirp.so", 11) == 0) {
        slirp_opens++;
        if (mode == MODE_MISSING) {
            fake_error = true;
            return NULL;
        }
    }
    return __real_dlopen(file, flags);
}

char *__wrap_dlerror(void)
{
    if (fake_error) {
        fake_error = false;
        return (char *)"libslirp.so.0: cannot open shared object file: No such file or directory";
    }
    return __real_dlerror();
}

void *__wrap_dlsym(void *handle, const char *name)
{
    if (mode == MODE_NO_HOSTFWD && strcmp(name, "slirp_add_hostfwd") == 0)
        return NULL;
    return __real_dlsym(handle, name);
}

/* In the child: two attempts at a network; both must fail with the sentence, one load. */
static int child(enum mode m, const char *want_detail)
{
    mode = m;
    struct vmm_net_user_opts opts = {0}; /* never reached: the library check comes first */
    for (int attempt = 0; attempt < 2; attempt++) {
        struct vmm_error err = {0};
        struct vmm_net_user *u = vmm_net_user_new(&opts, &err);
        CHECK(u == NULL);
        CHECK_EQ(err.code, -ENOENT);
        CHECK(strstr(err.msg, "user networking needs libslirp (Debian package libslirp0)") != NULL);
        CHECK(strstr(err.msg, want_detail) != NULL);
        if (attempt == 0)
            printf("  sentence: %s\n", err.msg);
    }
    CHECK_EQ(slirp_opens, 1);
    fflush(stdout);
    return test_failures ? 1 : 0;
}

static void run_case(enum mode m, const char *want_detail)
{
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(child(m, want_detail));
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    /* A crash in the child is a signal; a failed check an exit status of 1. */
    CHECK(WIFEXITED(status));
    CHECK_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), 0);
}

static void test_missing(void)
{
    run_case(MODE_MISSING, "cannot open shared object file");
}

static void test_incomplete(void)
{
    run_case(MODE_NO_HOSTFWD, "lacks the functions of libslirp 4.1");
}

/* The wrappers change nothing else: the real library is found where it is installed. */
static void test_real_library_found(void)
{
    void *h = __wrap_dlopen("libslirp.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        printf("  (libslirp0 is not installed here: %s)\n", __real_dlerror());
        return;
    }
    CHECK(__wrap_dlsym(h, "slirp_new") != NULL);
    CHECK(__wrap_dlsym(h, "slirp_add_hostfwd") != NULL);
}

int main(void)
{
    RUN_TEST(test_missing);
    RUN_TEST(test_incomplete);
    RUN_TEST(test_real_library_found);
    return test_finish();
}
