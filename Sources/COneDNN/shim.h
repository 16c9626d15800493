// oneDNN's C API (Debian: libdnnl-dev, built on OpenMP) for dnnl_sgemm, and the one OpenMP call the
// GEMM backend makes: clang does not ship GCC's omp.h, so it is declared here (libgomp's ABI).
#include <oneapi/dnnl/dnnl.h>

void omp_set_num_threads(int count);
