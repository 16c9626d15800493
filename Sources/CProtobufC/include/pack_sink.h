// Pack a protobuf-c message piece by piece into a callback (hand-written, see pack_sink.c).
#ifndef CPROTOBUFC_PACK_SINK_H
#define CPROTOBUFC_PACK_SINK_H
#include <protobuf-c/protobuf-c.h>

typedef void (*cprotobufc_sink_fn)(void *context, size_t length, const uint8_t *data);

/// Calls `sink(context, length, data)` for each piece of the encoding, in order; returns the total length.
size_t cprotobufc_pack_to_sink(const ProtobufCMessage *message, void *context, cprotobufc_sink_fn sink);
#endif
