"""A small Python client for kilnd: kiln's own compile/load/invoke API and the KServe v2
(Open Inference Protocol) API with Triton's repository and statistics extensions.

Uses Debian's python3-grpcio and numpy; the protobuf/gRPC stubs are generated at build time
next to this file in the build tree (build/client_cli/python), so:

    PYTHONPATH=build/client_cli/python /usr/bin/python3
    >>> from kiln_client import KilnClient
    >>> c = KilnClient("127.0.0.1:8001")
    >>> digest = c.compile("examples/mlp/1/model.mlir").digest
    >>> c.load(digest, "mlp2")
    >>> c.infer("mlp2", {"x": np.ones((1, 64), np.float32)})["logits"]

A kilnd with TLS and tokens: KilnClient(address, tls_ca="ca.pem", token="...").

Errors are grpc.RpcError with the server's status code and message.
"""
import concurrent.futures
import hashlib
import os
import struct

import numpy as np
import grpc

from inference import grpc_service_pb2 as kserve_pb2
from inference import grpc_service_pb2_grpc as kserve_grpc
from kiln.compiler.v1 import compiler_pb2, compiler_pb2_grpc
from kiln.module.v1 import module_pb2
from kiln.runtime.v1 import runtime_pb2, runtime_pb2_grpc

# kiln's own element types (kiln.module.v1.DataType) and numpy. BF16 has no numpy type: its
# elements travel as their uint16 bit patterns.
_KILN_TO_NUMPY = {
    module_pb2.DATA_TYPE_F32: np.float32, module_pb2.DATA_TYPE_F64: np.float64,
    module_pb2.DATA_TYPE_F16: np.float16, module_pb2.DATA_TYPE_BF16: np.uint16,
    module_pb2.DATA_TYPE_I8: np.int8, module_pb2.DATA_TYPE_I16: np.int16,
    module_pb2.DATA_TYPE_I32: np.int32, module_pb2.DATA_TYPE_I64: np.int64,
    module_pb2.DATA_TYPE_U8: np.uint8, module_pb2.DATA_TYPE_U16: np.uint16,
    module_pb2.DATA_TYPE_U32: np.uint32, module_pb2.DATA_TYPE_U64: np.uint64,
    module_pb2.DATA_TYPE_BOOL: np.bool_,
}
_NUMPY_TO_KILN = {np.dtype(v): k for k, v in _KILN_TO_NUMPY.items()
                  if k not in (module_pb2.DATA_TYPE_BF16,)}

# KServe datatype names, their numpy types and the typed `contents` field each one uses.
_KSERVE = {
    "FP32": (np.float32, "fp32_contents"), "FP64": (np.float64, "fp64_contents"),
    "FP16": (np.float16, "fp32_contents"), "BF16": (np.uint16, None),
    "INT8": (np.int8, "int_contents"), "INT16": (np.int16, "int_contents"),
    "INT32": (np.int32, "int_contents"), "INT64": (np.int64, "int64_contents"),
    "UINT8": (np.uint8, "uint_contents"), "UINT16": (np.uint16, "uint_contents"),
    "UINT32": (np.uint32, "uint_contents"), "UINT64": (np.uint64, "uint64_contents"),
    "BOOL": (np.bool_, "bool_contents"),
}
_NUMPY_TO_KSERVE = {np.dtype(v[0]): k for k, v in _KSERVE.items() if k != "BF16"}

# Sources at least this large are named by their digest first (CompileRequest.source_digest):
# a cache hit then sends nothing and the server hashes nothing.
PROBE_MIN_BYTES = 1 << 20
_TREE_CHUNK_BYTES = 1 << 22


def source_digest(source):
    """The tree hash kilnd keys a source by, "sha256:<hex>": SHA-256 over the length as 8
    little-endian bytes and then each 4 MiB chunk's SHA-256 (chunks hashed on threads;
    hashlib releases the GIL)."""
    view = memoryview(source)
    chunks = [view[i:i + _TREE_CHUNK_BYTES] for i in range(0, len(view), _TREE_CHUNK_BYTES)]
    workers = max(1, min(len(chunks), os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        digests = list(pool.map(lambda c: hashlib.sha256(c).digest(), chunks))
    return "sha256:" + hashlib.sha256(struct.pack("<Q", len(view)) + b"".join(digests)).hexdigest()


_SOURCE_FORMATS = {
    None: compiler_pb2.SOURCE_FORMAT_AUTO, "auto": compiler_pb2.SOURCE_FORMAT_AUTO,
    "linalg": compiler_pb2.SOURCE_FORMAT_MLIR_LINALG, "tosa": compiler_pb2.SOURCE_FORMAT_MLIR_TOSA,
    "onnx": compiler_pb2.SOURCE_FORMAT_ONNX,
}

_EXECUTION_MODELS = {
    None: module_pb2.EXECUTION_MODEL_UNSPECIFIED, "auto": module_pb2.EXECUTION_MODEL_UNSPECIFIED,
    "async": module_pb2.EXECUTION_MODEL_ASYNC,
    "inline-dynamic": module_pb2.EXECUTION_MODEL_INLINE_DYNAMIC,
}


def _bf16_from_float(values):
    """float32 values -> bfloat16 bit patterns (uint16), rounded to nearest even."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32)
    rounded = bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    return (rounded >> np.uint32(16)).astype(np.uint16)


def _bf16_to_float(bits):
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)


def _read(path):
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


class KilnClient:
    def __init__(self, address, timeout=60.0, max_message_bytes=256 << 20, tls_ca=None,
                 tls_cert=None, tls_key=None, token=None):
        """tls_ca: PEM file of the CA that signed kilnd's --tls-cert (connects over TLS);
        tls_cert/tls_key: a client certificate for a kilnd with --tls-client-ca; token: a
        bearer token from kilnd's --token-file. A token implies TLS (kilnd takes tokens only
        over TLS; without tls_ca the system's CA certificates verify kilnd's)."""
        self.address = address
        self.timeout = timeout
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
        if tls_ca or tls_cert or token:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(tls_ca), private_key=_read(tls_key),
                certificate_chain=_read(tls_cert))
            if token:
                credentials = grpc.composite_channel_credentials(
                    credentials, grpc.access_token_call_credentials(token))
            self.channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(address, options=options)
        self.compiler = compiler_pb2_grpc.CompilerServiceStub(self.channel)
        self.runtime = runtime_pb2_grpc.RuntimeServiceStub(self.channel)
        self.kserve = kserve_grpc.GRPCInferenceServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def wait_ready(self, timeout=60.0):
        grpc.channel_ready_future(self.channel).result(timeout=timeout)

    # ---- kiln's own API ----

    def compile(self, source, source_name=None, execution_model=None, do_not_cache=False,
                source_format=None, input_shapes=None):
        """Compiles MLIR or an ONNX model: `source` is a path (str) or the program itself
        (bytes). `source_format`: None/"auto" (a path ending in .onnx is ONNX, else detected
        from the content), "linalg", "tosa", "onnx" or a SourceFormat number. `input_shapes`:
        {ONNX input name: dims} for inputs with dynamic dims. Returns the CompileResponse
        (digest, cache_hit, functions, timings)."""
        if source_format is None and isinstance(source, str) and source.endswith(".onnx"):
            source_format = "onnx"
        if isinstance(source, str):
            source_name = source_name or source
            with open(source, "rb") as f:
                source = f.read()
        shapes = [compiler_pb2.InputShape(name=name, dims=dims)
                  for name, dims in (input_shapes or {}).items()]
        fields = dict(
            source_name=source_name or "<python>",
            source_format=_SOURCE_FORMATS.get(source_format, source_format),
            options=compiler_pb2.CompileOptions(
                execution_model=_EXECUTION_MODELS[execution_model], do_not_cache=do_not_cache,
                input_shapes=shapes))
        if len(source) >= PROBE_MIN_BYTES and not do_not_cache:
            # Built without the source: a message holding 46 MB costs 0.3 s to make here.
            probe = compiler_pb2.CompileRequest(source_digest=source_digest(source), **fields)
            try:
                return self.compiler.Compile(probe, timeout=self.timeout)
            except grpc.RpcError:
                pass  # NOT_FOUND: not compiled yet; anything else: the full request says why
        request = compiler_pb2.CompileRequest(source=source, **fields)
        return self.compiler.Compile(request, timeout=self.timeout)

    def load(self, digest, name):
        request = runtime_pb2.LoadModuleRequest(digest=digest, name=name)
        return self.runtime.LoadModule(request, timeout=self.timeout).module

    def unload(self, name):
        self.runtime.UnloadModule(runtime_pb2.UnloadModuleRequest(name=name), timeout=self.timeout)

    def list(self):
        return list(self.runtime.ListModules(runtime_pb2.ListModulesRequest(),
                                             timeout=self.timeout).modules)

    def invoke(self, module, inputs, function="", request_id=""):
        """Runs a function through kiln's RuntimeService. `inputs`: {name: array} or a list
        (positional). Returns {output name: numpy array}."""
        items = inputs.items() if isinstance(inputs, dict) else [("", a) for a in inputs]
        tensors = []
        for name, array in items:
            # Not ascontiguousarray: it turns a 0-d array (a scalar input, shape []) into [1].
            array = np.asarray(array, order="C")
            tensors.append(runtime_pb2.Tensor(name=name, dtype=_NUMPY_TO_KILN[array.dtype],
                                              shape=array.shape, data=array.tobytes()))
        response = self.runtime.Invoke(
            runtime_pb2.InvokeRequest(module=module, function=function, inputs=tensors,
                                      request_id=request_id), timeout=self.timeout)
        return {t.name: np.frombuffer(t.data, dtype=_KILN_TO_NUMPY[t.dtype]).reshape(t.shape)
                for t in response.outputs}

    # ---- KServe v2 ----

    def server_live(self):
        return self.kserve.ServerLive(kserve_pb2.ServerLiveRequest(), timeout=self.timeout).live

    def server_ready(self):
        return self.kserve.ServerReady(kserve_pb2.ServerReadyRequest(), timeout=self.timeout).ready

    def server_metadata(self):
        return self.kserve.ServerMetadata(kserve_pb2.ServerMetadataRequest(),
                                          timeout=self.timeout)

    def model_ready(self, name, version=""):
        return self.kserve.ModelReady(kserve_pb2.ModelReadyRequest(name=name, version=version),
                                      timeout=self.timeout).ready

    def model_metadata(self, name, version=""):
        return self.kserve.ModelMetadata(
            kserve_pb2.ModelMetadataRequest(name=name, version=version), timeout=self.timeout)

    @staticmethod
    def infer_request(model, inputs, outputs=None, raw=True, request_id="", version=""):
        """A ModelInferRequest. `inputs`: {name: array} or {name: (array, "DATATYPE")} (the
        datatype defaults from the array; "BF16" takes float arrays). raw: bytes in
        raw_input_contents, else typed `contents`."""
        request = kserve_pb2.ModelInferRequest(model_name=model, model_version=version,
                                               id=request_id)
        for name, value in inputs.items():
            array, datatype = value if isinstance(value, tuple) else (value, None)
            array = np.asarray(array)
            datatype = datatype or _NUMPY_TO_KSERVE[array.dtype]
            tensor = request.inputs.add(name=name, datatype=datatype, shape=array.shape)
            np_type, field = _KSERVE[datatype]
            if datatype == "BF16":
                bits = (array if array.dtype == np.uint16 else _bf16_from_float(array))
                if raw:
                    request.raw_input_contents.append(np.ascontiguousarray(bits).tobytes())
                else:
                    # kiln takes BF16 from fp32_contents; the bits are exactly representable.
                    tensor.contents.fp32_contents.extend(_bf16_to_float(bits).reshape(-1))
                continue
            array = np.ascontiguousarray(array, dtype=np_type)
            if raw:
                request.raw_input_contents.append(array.tobytes())
            else:
                values = array.reshape(-1)
                if datatype == "FP16":
                    values = values.astype(np.float32)
                getattr(tensor.contents, field).extend(values.tolist())
        for name in outputs or []:
            request.outputs.add(name=name)
        return request

    @staticmethod
    def decode_outputs(response):
        """{name: numpy array} from a ModelInferResponse (raw or typed outputs); BF16 outputs
        come back as float32."""
        result = {}
        for i, out in enumerate(response.outputs):
            np_type, field = _KSERVE[out.datatype]
            if i < len(response.raw_output_contents):
                array = np.frombuffer(response.raw_output_contents[i], dtype=np_type)
            else:
                array = np.array(getattr(out.contents, field or "fp32_contents"), dtype=np_type)
            if out.datatype == "BF16":
                array = _bf16_to_float(array)
            result[out.name] = array.reshape(tuple(out.shape))
        return result

    def infer(self, model, inputs, outputs=None, raw=True, request_id="", version="",
              return_response=False, timeout=None):
        request = self.infer_request(model, inputs, outputs, raw, request_id, version)
        response = self.kserve.ModelInfer(request, timeout=timeout or self.timeout)
        decoded = self.decode_outputs(response)
        return (decoded, response) if return_response else decoded

    def repository_index(self, ready=False):
        response = self.kserve.RepositoryIndex(kserve_pb2.RepositoryIndexRequest(ready=ready),
                                               timeout=self.timeout)
        return [{"name": m.name, "version": m.version, "state": m.state, "reason": m.reason}
                for m in response.models]

    def load_model(self, name):
        self.kserve.RepositoryModelLoad(kserve_pb2.RepositoryModelLoadRequest(model_name=name),
                                        timeout=self.timeout)

    def unload_model(self, name):
        self.kserve.RepositoryModelUnload(
            kserve_pb2.RepositoryModelUnloadRequest(model_name=name), timeout=self.timeout)

    def model_statistics(self, name="", version=""):
        return list(self.kserve.ModelStatistics(
            kserve_pb2.ModelStatisticsRequest(name=name, version=version),
            timeout=self.timeout).model_stats)
