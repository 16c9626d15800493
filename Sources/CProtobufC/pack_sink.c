// Packing into a callback instead of a flat buffer: protobuf-c hands each piece of the encoding
// to `sink` as it goes, bytes fields straight from their own memory, so a large payload can be
// sent by reference (see Wire's MessageEncoder.encodePieces). Hand-written, not generated.
#include "pack_sink.h"

typedef struct {
    ProtobufCBuffer base;
    void *context;
    cprotobufc_sink_fn sink;
} cprotobufc_sink_buffer;

static void cprotobufc_sink_append(ProtobufCBuffer *buffer, size_t length, const uint8_t *data) {
    cprotobufc_sink_buffer *self = (cprotobufc_sink_buffer *)buffer;
    self->sink(self->context, length, data);
}

size_t cprotobufc_pack_to_sink(const ProtobufCMessage *message, void *context, cprotobufc_sink_fn sink) {
    cprotobufc_sink_buffer buffer = {{cprotobufc_sink_append}, context, sink};
    return protobuf_c_message_pack_to_buffer(message, &buffer.base);
}
