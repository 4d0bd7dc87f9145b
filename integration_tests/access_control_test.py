#!/usr/bin/python3
"""End-to-end access control (issue 15): kilnd with TLS (--tls-cert/--tls-key), mutual TLS
(--tls-client-ca) and bearer tokens (--token-file), driven by the kiln CLI and the Python
client. A CA, server and client certificates are made with the `openssl` command at test time.
Checks: plaintext clients fail; health needs no token; no or unknown token is UNAUTHENTICATED;
an inference token may infer and read metadata but not compile, load, unload, evict or use the
repository (PERMISSION_DENIED); an admin token may do everything; /metrics is HTTPS and wants a
token; kilnd refuses a non-loopback address without TLS and tokens unless --insecure."""
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kiln_harness import Kilnd, RpcAssertions, free_port, run_cli, suite_args  # noqa: E402

ARGS = None
grpc = None
KilnClient = None
CERTS = None  # the directory of certificates and token files

ADMIN_TOKEN = "admin-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
INFERENCE_TOKEN = "inference-00112233445566778899aabbccdd"

DOUBLE_MODEL = """#id = affine_map<(i) -> (i)>
func.func @main(%x: tensor<4xf32> {kiln.name = "x"}) -> (tensor<4xf32> {kiln.name = "y"}) {
  %e = tensor.empty() : tensor<4xf32>
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = arith.addf %v, %v : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %y : tensor<4xf32>
}
"""


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=CERTS)


def make_ca(name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "1", "-subj", f"/CN={name}")


def make_cert(name, ca, san=None):
    """A key and certificate `name` signed by CA `ca` (for a server when `san` is given)."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
    extensions = f"{name}.ext"
    with open(os.path.join(CERTS, extensions), "w") as f:
        f.write(f"subjectAltName={san}\n" if san else "extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "1", "-extfile", extensions)


def path(name):
    return os.path.join(CERTS, name)


def write_tokens(name, text, mode=0o600):
    p = path(name)
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, mode)
    return p


def setUpModule():
    global CERTS
    if shutil.which("openssl") is None:
        raise unittest.SkipTest("no openssl command (scripts/install-deps.sh installs it)")
    CERTS = tempfile.mkdtemp(prefix="kiln-access-")
    make_ca("ca")
    make_cert("server", "ca", san="DNS:localhost,IP:127.0.0.1")
    make_ca("client-ca")
    make_cert("client", "client-ca")
    make_ca("stranger")  # a self-signed certificate no CA of kilnd's signed
    write_tokens("tokens", f"# test tokens\nadmin {ADMIN_TOKEN}\ninference {INFERENCE_TOKEN}\n")


def tearDownModule():
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


def tls_args(mtls=False):
    args = ["--tls-cert", path("server.pem"), "--tls-key", path("server.key"),
            "--token-file", path("tokens")]
    return args + (["--tls-client-ca", path("client-ca.pem")] if mtls else [])


class TlsKilnd(Kilnd):
    """A kilnd with TLS and tokens; its CLI calls verify it with the test CA (and present the
    client certificate for mutual TLS), with no token unless the call passes one."""

    def __init__(self, mtls=False):
        self.client_args = ["--tls-ca", path("ca.pem")]
        if mtls:
            self.client_args += ["--tls-cert", path("client.pem"), "--tls-key", path("client.key")]
        super().__init__(ARGS.kilnd, ARGS.kiln, extra_args=tls_args(mtls))

    def cli(self, *args, check=True, json_output=False, token=None, tls=True):
        extra = (self.client_args if tls else []) + (["--token", token] if token else [])
        return run_cli(self.kiln, self.address, [*args, *extra], check=check,
                       json_output=json_output, logs=self.logs)

    def client(self, token=None, **kwargs):
        options = {"tls_ca": path("ca.pem"), "token": token}
        options.update(kwargs)
        return KilnClient(self.address, timeout=60, **options)


def kilnd_refuses(*args):
    """Runs kilnd with `args` on a throwaway cache; returns (exit code, stderr)."""
    cache = tempfile.mkdtemp(prefix="kiln-refused-")
    try:
        r = subprocess.run([ARGS.kilnd, "--cache-dir", cache, *args], capture_output=True,
                           text=True, timeout=60)
        return r.returncode, r.stderr
    finally:
        shutil.rmtree(cache, ignore_errors=True)


class AccessControlTest(unittest.TestCase, RpcAssertions):
    @classmethod
    def setUpClass(cls):
        cls.kilnd = TlsKilnd()
        cls.kilnd.wait_ready()
        cls.admin = cls.kilnd.client(ADMIN_TOKEN)
        cls.inference = cls.kilnd.client(INFERENCE_TOKEN)
        cls.anonymous = cls.kilnd.client()
        cls.digest = cls.admin.compile(DOUBLE_MODEL.encode(), source_name="double.mlir").digest
        cls.admin.load(cls.digest, "double")

    @classmethod
    def tearDownClass(cls):
        for client in (cls.admin, cls.inference, cls.anonymous):
            client.close()
        cls.kilnd.stop_cleanly()

    def test_log_says_what_protects_kilnd(self):
        self.assertIn("access: TLS, bearer tokens (2)", self.kilnd.logs())

    def test_plaintext_clients_cannot_talk_to_it(self):
        r = self.kilnd.cli("health", check=False, tls=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("cannot reach kilnd", r.stderr)
        with KilnClient(self.kilnd.address, timeout=10) as plain:
            self.assert_rpc_error(grpc.StatusCode.UNAVAILABLE, "", plain.server_live)

    def test_health_needs_no_token(self):
        r = self.kilnd.cli("health")
        self.assertEqual(r.stdout.strip(), "SERVING")

    def test_no_or_unknown_token_is_unauthenticated(self):
        self.assert_rpc_error(
            grpc.StatusCode.UNAUTHENTICATED,
            "/inference.GRPCInferenceService/ModelInfer needs a bearer token of role inference "
            "(metadata 'authorization: Bearer TOKEN')",
            self.anonymous.infer, "double", {"x": np.ones(4, np.float32)})
        self.assert_rpc_error(
            grpc.StatusCode.UNAUTHENTICATED,
            "/kiln.compiler.v1.CompilerService/Compile needs a bearer token of role admin",
            self.anonymous.compile, DOUBLE_MODEL.encode())
        with self.kilnd.client("not-a-token-0123456789abcdef") as wrong:
            self.assert_rpc_error(grpc.StatusCode.UNAUTHENTICATED, "unknown bearer token",
                                  wrong.server_ready)
        r = self.kilnd.cli("list", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("UNAUTHENTICATED: /kiln.runtime.v1.RuntimeService/ListModules needs a "
                      "bearer token of role inference", r.stderr)

    def test_inference_token_infers_and_reads_metadata(self):
        x = np.array([1, 2, 3, 4.5], np.float32)
        np.testing.assert_array_equal(self.inference.infer("double", {"x": x})["y"], 2 * x)
        np.testing.assert_array_equal(self.inference.invoke("double", {"x": x})["y"], 2 * x)
        self.assertTrue(self.inference.server_live())
        self.assertTrue(self.inference.server_ready())
        self.assertTrue(self.inference.model_ready("double"))
        self.assertEqual(self.inference.model_metadata("double").name, "double")
        self.assertIn("double", [m.name for m in self.inference.list()])
        self.inference.model_statistics("double")
        r = self.kilnd.cli("infer", "double", "-i", "x=4xf32=1,2,3,4", json_output=True,
                           token=INFERENCE_TOKEN)
        self.assertEqual(r.json["outputs"][0]["data"], [2, 4, 6, 8])

    def test_inference_token_may_not_administer(self):
        def denied(method):
            return f"/{method} needs role admin; this token has role inference"
        self.assert_rpc_error(grpc.StatusCode.PERMISSION_DENIED,
                              denied("kiln.compiler.v1.CompilerService/Compile"),
                              self.inference.compile, DOUBLE_MODEL.encode())
        self.assert_rpc_error(grpc.StatusCode.PERMISSION_DENIED,
                              denied("kiln.runtime.v1.RuntimeService/LoadModule"),
                              self.inference.load, self.digest, "double2")
        self.assert_rpc_error(grpc.StatusCode.PERMISSION_DENIED,
                              denied("kiln.runtime.v1.RuntimeService/UnloadModule"),
                              self.inference.unload, "double")
        self.assert_rpc_error(grpc.StatusCode.PERMISSION_DENIED,
                              denied("inference.GRPCInferenceService/RepositoryIndex"),
                              self.inference.repository_index)
        self.assert_rpc_error(grpc.StatusCode.PERMISSION_DENIED,
                              denied("inference.GRPCInferenceService/RepositoryModelUnload"),
                              self.inference.unload_model, "double")
        r = self.kilnd.cli("artifacts", "evict", "--all", check=False, token=INFERENCE_TOKEN)
        self.assertEqual(r.returncode, 1)
        self.assertIn("PERMISSION_DENIED: " + denied("kiln.compiler.v1.CompilerService/"
                                                      "EvictArtifacts"), r.stderr)
        # Nothing happened: the model still serves.
        self.assertTrue(self.inference.model_ready("double"))

    def test_admin_token_may_do_everything(self):
        x = np.array([0.5, -1, 2, 8], np.float32)
        self.assertTrue(self.admin.compile(DOUBLE_MODEL.encode()).cache_hit)
        self.admin.load(self.digest, "double_admin")
        np.testing.assert_array_equal(self.admin.infer("double_admin", {"x": x})["y"], 2 * x)
        self.admin.repository_index()
        self.admin.unload("double_admin")
        r = self.kilnd.cli("artifacts", "list", json_output=True, token=ADMIN_TOKEN)
        self.assertIn(self.digest, json.dumps(r.json))
        self.kilnd.cli("load", self.digest, "--name", "double_cli", token=ADMIN_TOKEN)
        self.kilnd.cli("unload", "double_cli", token=ADMIN_TOKEN)

    def test_metrics_are_https_and_want_a_token(self):
        url = f"https://{self.kilnd.metrics_address}/metrics"
        context = ssl.create_default_context(cafile=path("ca.pem"))
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(url, context=context, timeout=10)
        self.assertEqual(ctx.exception.code, 401)
        self.assertEqual(ctx.exception.read().decode(),
                         "GET /metrics needs a bearer token of role inference (metadata "
                         "'authorization: Bearer TOKEN')\n")
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {INFERENCE_TOKEN}"})
        with urllib.request.urlopen(request, context=context, timeout=10) as r:
            self.assertIn("kiln_requests_total", r.read().decode())
        with self.assertRaises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(f"http://{self.kilnd.metrics_address}/metrics", timeout=10)
        r = self.kilnd.cli("metrics", "--metrics-address", self.kilnd.metrics_address,
                           token=INFERENCE_TOKEN)
        self.assertIn("kiln_requests_total", r.stdout)
        r = self.kilnd.cli("metrics", "--metrics-address", self.kilnd.metrics_address,
                           check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("answered HTTP 401: GET /metrics needs a bearer token", r.stderr)


class MutualTlsTest(unittest.TestCase, RpcAssertions):
    @classmethod
    def setUpClass(cls):
        cls.kilnd = TlsKilnd(mtls=True)
        cls.kilnd.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.kilnd.stop_cleanly()

    def test_client_certificate_required(self):
        self.assertIn("access: mutual TLS, bearer tokens (2)", self.kilnd.logs())
        r = self.kilnd.cli("list", token=ADMIN_TOKEN, json_output=True)
        self.assertEqual(r.returncode, 0)
        with self.kilnd.client(ADMIN_TOKEN, tls_cert=path("client.pem"),
                               tls_key=path("client.key")) as client:
            self.assertTrue(client.server_ready())
        # No client certificate, or one no --tls-client-ca CA signed: no connection.
        for cert in (None, "stranger"):
            args = ["--tls-ca", path("ca.pem"), "--token", ADMIN_TOKEN]
            if cert:
                args += ["--tls-cert", path(f"{cert}.pem"), "--tls-key", path(f"{cert}.key")]
            r = run_cli(self.kilnd.kiln, self.kilnd.address, ["list", *args], check=False)
            self.assertEqual(r.returncode, 2, (cert, r.stderr))
            self.assertIn("cannot reach kilnd", r.stderr)
        with self.kilnd.client(ADMIN_TOKEN) as client:
            self.assert_rpc_error(grpc.StatusCode.UNAVAILABLE, "", client.server_ready)


class ExposureTest(unittest.TestCase):
    def test_non_loopback_needs_tls_and_tokens(self):
        code, stderr = kilnd_refuses("--listen", "0.0.0.0:0", "--metrics-listen", "")
        self.assertNotEqual(code, 0)
        self.assertIn("refusing to serve --listen 0.0.0.0:0, which is not a loopback address, "
                      "without TLS (--tls-cert, --tls-key) and bearer tokens (--token-file); "
                      "pass --insecure to serve it anyway", stderr)
        code, stderr = kilnd_refuses("--listen", f"127.0.0.1:{free_port()}", "--metrics-listen",
                                     "[::]:0")
        self.assertNotEqual(code, 0)
        self.assertIn("refusing to serve --metrics-listen [::]:0", stderr)
        self.assertIn("--insecure", stderr)

    def test_token_file_needs_tls_and_privacy(self):
        code, stderr = kilnd_refuses("--listen", f"127.0.0.1:{free_port()}", "--token-file",
                                     path("tokens"))
        self.assertNotEqual(code, 0)
        self.assertIn("--token-file needs --tls-cert and --tls-key: kilnd takes bearer tokens "
                      "only over TLS", stderr)
        shared = write_tokens("shared-tokens", f"admin {ADMIN_TOKEN}\n", mode=0o644)
        code, stderr = kilnd_refuses("--listen", f"127.0.0.1:{free_port()}",
                                     "--tls-cert", path("server.pem"), "--tls-key",
                                     path("server.key"), "--token-file", shared)
        self.assertNotEqual(code, 0)
        self.assertIn(f"token file {shared} is accessible to group or others (mode 0644); "
                      "chmod 600 it", stderr)
        code, stderr = kilnd_refuses("--listen", f"127.0.0.1:{free_port()}",
                                     "--tls-cert", path("server.pem"), "--tls-key",
                                     path("client.key"))
        self.assertNotEqual(code, 0)
        self.assertIn(f"--tls-key {path('client.key')} is not the key of the certificate in "
                      f"{path('server.pem')}", stderr)

    def test_insecure_allows_it(self):
        port = free_port()
        cache = tempfile.mkdtemp(prefix="kiln-insecure-")
        proc = subprocess.Popen([ARGS.kilnd, "--listen", f"0.0.0.0:{port}", "--insecure",
                                 "--metrics-listen", "", "--http-listen", "", "--cache-dir", cache],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while True:
                r = run_cli(ARGS.kiln, f"127.0.0.1:{port}", ["health"], check=False)
                if r.returncode == 0 or time.time() > deadline or proc.poll() is not None:
                    break
                time.sleep(0.2)
            self.assertEqual(r.stdout.strip(), "SERVING", r.stderr)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            shutil.rmtree(cache, ignore_errors=True)
        self.assertEqual(proc.returncode, 0)


def main():
    global ARGS, grpc, KilnClient
    ARGS, argv = suite_args(client_dir=True)
    import grpc as grpc_module
    from kiln_client import KilnClient as client_class
    grpc, KilnClient = grpc_module, client_class
    unittest.main(argv=argv, verbosity=2)


if __name__ == "__main__":
    main()
