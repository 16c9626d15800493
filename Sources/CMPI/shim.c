// Intentionally empty: SwiftPM needs one source file to build the CMPI shim target.
