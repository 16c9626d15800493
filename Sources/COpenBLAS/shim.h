// OpenBLAS's cblas.h (Debian: openblas-pthread) also declares openblas_set_num_threads and
// openblas_get_num_threads, which the kernels use to pin threads per rank.
#include <cblas.h>
