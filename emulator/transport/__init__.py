"""The emulator's transports, apart from the services they carry (as GAPIC's `transports/`):
`grpc.py` (one gRPC server, unary methods per service) and `rest.py` (JSON over HTTP)."""
