// protobuf-c messages generated from Protos/ by scripts/generate-protos (do not edit those files),
// plus pack_sink.h (hand-written) for packing by pieces.
#ifndef CPROTOBUFC_H
#define CPROTOBUFC_H
#include <protobuf-c/protobuf-c.h>
#include "latentserve.pb-c.h"
#include "health.pb-c.h"
#include "pack_sink.h"
#endif
