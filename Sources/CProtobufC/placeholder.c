// Generated protobuf-c code lands here (scripts/generate-protos).
