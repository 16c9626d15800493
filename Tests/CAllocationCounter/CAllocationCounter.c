// See include/CAllocationCounter.h.
#define _GNU_SOURCE
#include "CAllocationCounter.h"
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#ifdef __GLIBC__
#include <dlfcn.h>
#include <pthread.h>
#include <sys/prctl.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_bool counting;
static atomic_ulong starter;                 // pthread_t of the thread that started counting
static atomic_long ours, blas;
static _Thread_local int inside;             // dladdr may allocate: never count (or recurse into) our own
static _Thread_local int isWorker = -1;      // this thread's name starts with "ls-worker" (-1: not looked up)

static int counted_thread(void) {
    if ((unsigned long)pthread_self() == atomic_load_explicit(&starter, memory_order_relaxed)) return 1;
    if (isWorker < 0) {
        char name[16] = {0};
        isWorker = prctl(PR_GET_NAME, name) == 0 && strncmp(name, "ls-worker", 9) == 0;
    }
    return isWorker;
}

static void count(void *caller) {
    if (!atomic_load_explicit(&counting, memory_order_relaxed) || inside) return;
    inside = 1;
    if (counted_thread()) {
        Dl_info info;
        const char *file = dladdr(caller, &info) && info.dli_fname ? info.dli_fname : "";
        const int library = strstr(file, "libopenblas") || strstr(file, "libdnnl") || strstr(file, "libgomp");
        atomic_fetch_add_explicit(library ? &blas : &ours, 1, memory_order_relaxed);
    }
    inside = 0;
}

void *malloc(size_t size) { count(__builtin_return_address(0)); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(__builtin_return_address(0)); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(__builtin_return_address(0)); return __libc_realloc(p, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(__builtin_return_address(0)); return __libc_memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    count(__builtin_return_address(0));
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(alignment, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

int ck_allocation_counting_available(void) { return 1; }

void ck_allocation_counting_start(void) {
    atomic_store(&ours, 0);
    atomic_store(&blas, 0);
    atomic_store(&starter, (unsigned long)pthread_self());
    atomic_store(&counting, 1);
}

ck_allocation_counts ck_allocation_counting_stop(void) {
    atomic_store(&counting, 0);
    return (ck_allocation_counts){atomic_load(&ours), atomic_load(&blas)};
}
#else
int ck_allocation_counting_available(void) { return 0; }
void ck_allocation_counting_start(void) {}
ck_allocation_counts ck_allocation_counting_stop(void) { return (ck_allocation_counts){0, 0}; }
#endif
