#include "server/auth.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "kiln/runtime/v1/runtime.grpc.pb.h"
#include "server/test_certificates.h"
#include "server/tls.h"

namespace kiln::auth {
namespace {

constexpr char kInferenceToken[] = "inference-token-0123456789";
constexpr char kAdminToken[] = "admin-token-0123456789abcdef";

TokenTable Table() {
  auto table = TokenTable::Parse(absl::StrCat("# kilnd tokens\n\ninference ", kInferenceToken,
                                              "\n  admin\t", kAdminToken, "  \n"),
                                 "tokens");
  EXPECT_TRUE(table.ok()) << table.status();
  return *std::move(table);
}

TEST(TokenTableTest, ParsesRolesSkippingCommentsAndBlankLines) {
  TokenTable table = Table();
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.Find(kInferenceToken), Role::kInference);
  EXPECT_EQ(table.Find(kAdminToken), Role::kAdmin);
  EXPECT_EQ(table.Find("admin-token-0123456789abcdeX"), std::nullopt);
  EXPECT_EQ(table.Find(""), std::nullopt);
  EXPECT_EQ(table.Find(absl::StrCat(kAdminToken, " ")), std::nullopt);
}

TEST(TokenTableTest, ATokenMayContainAHash) {
  auto table = TokenTable::Parse("admin abc#def#ghi#jkl#mno\n", "t");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->Find("abc#def#ghi#jkl#mno"), Role::kAdmin);
}

void ExpectParseError(std::string_view text, const std::string& message) {
  auto table = TokenTable::Parse(text, "/etc/kiln/tokens");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(table.status().message()), message);
}

TEST(TokenTableTest, RejectsMalformedLinesNamingFileAndLine) {
  ExpectParseError("# only a comment\n", "/etc/kiln/tokens: no tokens");
  ExpectParseError("", "/etc/kiln/tokens: no tokens");
  ExpectParseError("# c\nroot 0123456789abcdef\n",
                   "/etc/kiln/tokens:2: unknown role 'root' (inference or admin)");
  ExpectParseError("admin\n",
                   "/etc/kiln/tokens:1: expected 'ROLE TOKEN' (ROLE: inference or admin)");
  ExpectParseError("admin 0123456789abcdef extra\n",
                   "/etc/kiln/tokens:1: expected 'ROLE TOKEN' (ROLE: inference or admin)");
  ExpectParseError("inference 0123456789abcde\n",
                   "/etc/kiln/tokens:1: token shorter than 16 characters");
  ExpectParseError("inference 0123456789abcdef\xc3\xa9\n",
                   "/etc/kiln/tokens:1: token has characters other than printable ASCII");
  ExpectParseError("inference 0123456789abcdef\nadmin 0123456789abcdef\n",
                   "/etc/kiln/tokens:2: token listed twice");
}

class TokenFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "kiln-auth-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text, mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }

  std::string dir_;
};

TEST_F(TokenFileTest, LoadsAPrivateFile) {
  std::string path = Write("tokens", absl::StrCat("admin ", kAdminToken, "\n"), 0600);
  auto table = TokenTable::Load(path);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->Find(kAdminToken), Role::kAdmin);
  // Read-only for the owner is fine too.
  ASSERT_EQ(chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(TokenTable::Load(path).ok());
}

TEST_F(TokenFileTest, RefusesAFileOthersMayRead) {
  std::string path = Write("tokens", absl::StrCat("admin ", kAdminToken, "\n"), 0644);
  auto table = TokenTable::Load(path);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(table.status().message(),
            absl::StrCat("token file ", path,
                         " is accessible to group or others (mode 0644); chmod 600 it"));
  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  EXPECT_EQ(TokenTable::Load(path).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(TokenFileTest, ReportsMissingFilesDirectoriesAndBadContent) {
  auto missing = TokenTable::Load(dir_ + "/absent");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            absl::StrCat("cannot open token file ", dir_, "/absent: No such file or directory"));
  auto directory = TokenTable::Load(dir_);
  EXPECT_EQ(directory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(directory.status().message(),
            absl::StrCat("token file ", dir_, " is not a regular file"));
  std::string path = Write("bad", "admin short\n", 0600);
  EXPECT_EQ(TokenTable::Load(path).status().message(),
            absl::StrCat(path, ":1: token shorter than 16 characters"));
}

TEST(RequiredRoleTest, MapsEveryServedMethod) {
  for (const char* method : {
           "/grpc.health.v1.Health/Check",
           "/grpc.health.v1.Health/Watch",
           "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
           "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
       }) {
    EXPECT_EQ(RequiredRole(method), Role::kOpen) << method;
  }
  for (const char* method : {
           "/inference.GRPCInferenceService/ServerLive",
           "/inference.GRPCInferenceService/ServerReady",
           "/inference.GRPCInferenceService/ModelReady",
           "/inference.GRPCInferenceService/ServerMetadata",
           "/inference.GRPCInferenceService/ModelMetadata",
           "/inference.GRPCInferenceService/ModelInfer",
           "/inference.GRPCInferenceService/ModelStatistics",
           "/kiln.runtime.v1.RuntimeService/Invoke",
           "/kiln.runtime.v1.RuntimeService/ListModules",
       }) {
    EXPECT_EQ(RequiredRole(method), Role::kInference) << method;
  }
  for (const char* method : {
           "/kiln.compiler.v1.CompilerService/Compile",
           "/kiln.compiler.v1.CompilerService/GetArtifact",
           "/kiln.compiler.v1.CompilerService/CacheStats",
           "/kiln.compiler.v1.CompilerService/ListArtifacts",
           "/kiln.compiler.v1.CompilerService/EvictArtifacts",
           "/kiln.runtime.v1.RuntimeService/LoadModule",
           "/kiln.runtime.v1.RuntimeService/UnloadModule",
           "/inference.GRPCInferenceService/RepositoryIndex",
           "/inference.GRPCInferenceService/RepositoryModelLoad",
           "/inference.GRPCInferenceService/RepositoryModelUnload",
           // Unknown methods and look-alikes are closed.
           "/kiln.runtime.v1.RuntimeService/NewMethod",
           "/inference.GRPCInferenceService/ModelInferX",
           "/grpc.health.v1.HealthX/Check",
           "",
       }) {
    EXPECT_EQ(RequiredRole(method), Role::kAdmin) << method;
  }
}

TEST(AuthorizeTest, ChecksTokenAndRole) {
  TokenTable table = Table();
  const std::string infer = "/inference.GRPCInferenceService/ModelInfer";
  const std::string compile = "/kiln.compiler.v1.CompilerService/Compile";
  const std::string inference_bearer = absl::StrCat("Bearer ", kInferenceToken);
  const std::string admin_bearer = absl::StrCat("Bearer ", kAdminToken);

  EXPECT_EQ(*Authorize(table, infer, inference_bearer), Role::kInference);
  EXPECT_EQ(*Authorize(table, infer, admin_bearer), Role::kAdmin);
  EXPECT_EQ(*Authorize(table, compile, admin_bearer), Role::kAdmin);
  // The scheme is case-insensitive.
  EXPECT_EQ(*Authorize(table, compile, absl::StrCat("bearer ", kAdminToken)), Role::kAdmin);
  // Open methods need nothing and ignore a bad token.
  EXPECT_EQ(*Authorize(table, "/grpc.health.v1.Health/Check", std::nullopt), Role::kOpen);
  EXPECT_EQ(*Authorize(table, "/grpc.health.v1.Health/Check", "Bearer nope"), Role::kOpen);

  auto denied = Authorize(table, compile, inference_bearer);
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.status().message(),
            "/kiln.compiler.v1.CompilerService/Compile needs role admin; this token has role "
            "inference");
  auto missing = Authorize(table, infer, std::nullopt);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(missing.status().message(),
            "/inference.GRPCInferenceService/ModelInfer needs a bearer token of role inference "
            "(metadata 'authorization: Bearer TOKEN')");
  auto unknown = Authorize(table, infer, "Bearer inference-token-0123456788");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(unknown.status().message(), "unknown bearer token");
  for (const char* malformed : {"", "Bearer", "Bearer ", "Basic abc", kInferenceToken}) {
    auto status = Authorize(table, infer, malformed).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << malformed;
    EXPECT_EQ(status.message(), "authorization is not 'Bearer TOKEN'") << malformed;
  }
  auto metrics = AuthorizeRole(table, Role::kInference, "GET /metrics", std::nullopt);
  EXPECT_EQ(metrics.status().message(),
            "GET /metrics needs a bearer token of role inference (metadata 'authorization: "
            "Bearer TOKEN')");
}

// The processor in a real gRPC server over TLS. The services are the generated bases, which
// answer UNIMPLEMENTED: a call that passes the processor gets that.
class TokenAuthProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    certificate_ = kiln::testing::MakeSelfSignedCertificate("localhost");
    tls::TlsMaterial material{certificate_.cert_pem, certificate_.key_pem, ""};
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.RegisterService(&kserve_);
    builder.RegisterService(&runtime_);
    builder.AddListeningPort(
        "127.0.0.1:0",
        tls::GrpcServerCredentials(material, std::make_shared<TokenAuthProcessor>(Table())), &port);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);
    ASSERT_GT(port, 0);
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = certificate_.cert_pem;
    channel_ = grpc::CreateChannel(absl::StrCat("localhost:", port), grpc::SslCredentials(options));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  grpc::Status Call(const std::string& method, std::optional<std::string> authorization) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (authorization) context.AddMetadata("authorization", *authorization);
    // An empty message (a ByteBuffer without a slice is not a message at all).
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1), response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                   [&done](grpc::Status status) { done.set_value(std::move(status)); });
    return done.get_future().get();
  }

  kiln::testing::TestCertificate certificate_;
  inference::GRPCInferenceService::Service kserve_;
  kiln::runtime::v1::RuntimeService::Service runtime_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(TokenAuthProcessorTest, EnforcesRolesBeforeTheServiceRuns) {
  const std::string infer = "/inference.GRPCInferenceService/ModelInfer";
  const std::string load = "/kiln.runtime.v1.RuntimeService/LoadModule";
  const std::string inference_bearer = absl::StrCat("Bearer ", kInferenceToken);
  const std::string admin_bearer = absl::StrCat("Bearer ", kAdminToken);

  grpc::Status status = Call(infer, std::nullopt);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(),
            "/inference.GRPCInferenceService/ModelInfer needs a bearer token of role inference "
            "(metadata 'authorization: Bearer TOKEN')");
  status = Call(infer, "Bearer wrong-token-0123456789");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(), "unknown bearer token");
  status = Call(load, inference_bearer);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(),
            "/kiln.runtime.v1.RuntimeService/LoadModule needs role admin; this token has role "
            "inference");
  // Authorized calls reach the service.
  EXPECT_EQ(Call(infer, inference_bearer).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Call(infer, admin_bearer).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Call(load, admin_bearer).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(TokenAuthProcessorTest, HealthNeedsNoToken) {
  grpc::Status status = Call("/grpc.health.v1.Health/Check", std::nullopt);
  // The empty request is a valid HealthCheckRequest for the whole server.
  EXPECT_TRUE(status.ok()) << status.error_message();
}

}  // namespace
}  // namespace kiln::auth
