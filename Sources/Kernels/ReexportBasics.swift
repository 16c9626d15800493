// Every layer above Kernels times itself with Basics' monotonic clock; re-exported so
// `import Kernels` keeps giving it (Engine, the daemons and ContextParallel call it).
@_exported import Basics
