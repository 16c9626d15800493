// System headers first: gRPC's port_platform.h defines feature macros (_BSD_SOURCE & co.) that
// change how glibc spells fd_set's members; parsed here before it, glibc's structs match the ones
// Dispatch and Foundation see, and the Clang modules merge.
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <pthread.h>
#include <time.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>

#include <grpc/grpc.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/status.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <grpc/support/log.h>
#include <grpc/grpc_security.h>

// Macro equivalents Swift cannot import: where a slice's bytes start, and how many there are
// (small slices keep their bytes inline in the struct, large ones behind a refcount).
static inline uint8_t *cgrpc_slice_start(grpc_slice *slice) { return GRPC_SLICE_START_PTR(*slice); }
static inline size_t cgrpc_slice_length(const grpc_slice *slice) { return GRPC_SLICE_LENGTH(*slice); }
