"""Protobuf wire bytes written and read by hand, and gRPC calls carrying raw bytes (grpcio): the
integration tests' independent client, which shares no code with ours. Imported by the probes of
service-untrusted-input.sh and service-tls.sh (PYTHONPATH=Tests/Integration)."""
import grpc


def varint(n):
    out = b""
    while True:
        b = n & 0x7F; n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out


def read_varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]; i += 1
        value |= (b & 0x7F) << shift; shift += 7
        if not b & 0x80: return value, i


def field(num, payload):            # length-delimited field
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def vfield(num, value):             # varint field
    return varint(num << 3) + varint(value)


def fields(buf):                    # (number, wire type, value) of one message
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        if key & 7 == 0: value, i = read_varint(buf, i)
        elif key & 7 == 2:
            n, i = read_varint(buf, i); value = buf[i:i + n]; i += n
        elif key & 7 == 5: value = buf[i:i + 4]; i += 4
        elif key & 7 == 1: value = buf[i:i + 8]; i += 8
        else: raise ValueError(key)
        yield key >> 3, key & 7, value


def call(target, credentials, method, body, metadata=(), stream=False, timeout=30):
    """("OK", response bytes or the list of streamed ones), or (status name, details). `credentials`
    None: plaintext."""
    ident = lambda b: b
    channel = grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
    with channel as ch:
        try:
            if stream:
                return "OK", list(ch.unary_stream(method, request_serializer=ident, response_deserializer=ident)(
                    body, timeout=timeout, metadata=metadata))
            return "OK", ch.unary_unary(method, request_serializer=ident, response_deserializer=ident)(
                body, timeout=timeout, metadata=metadata)
        except grpc.RpcError as e:
            return e.code().name, e.details()
