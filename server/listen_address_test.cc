#include "server/listen_address.h"

#include "gtest/gtest.h"

namespace kiln {
namespace {

TEST(IsLoopbackAddressTest, LoopbackAndUnixSockets) {
  for (const char* address :
       {"127.0.0.1:8001", "127.1.2.3:0", "localhost:8001", "LocalHost:1", "[::1]:8001",
        "[::ffff:127.0.0.1]:8001", "unix:/run/kilnd.sock", "unix-abstract:kilnd"}) {
    EXPECT_TRUE(IsLoopbackAddress(address)) << address;
  }
}

TEST(IsLoopbackAddressTest, WildcardsHostsAndNamesAreNot) {
  for (const char* address : {"0.0.0.0:8001", "0.0.0.0:0", "[::]:8001", ":8001", "10.0.0.5:8001",
                              "128.0.0.1:1", "[::ffff:10.0.0.1]:1", "[fe80::1]:1",
                              "kilnd.example.com:8001", "localhost.evil:1", "::1", "[::1", ""}) {
    EXPECT_FALSE(IsLoopbackAddress(address)) << address;
  }
}

TEST(CheckExposureTest, NonLoopbackNeedsTlsAndTokensOrInsecure) {
  EXPECT_TRUE(CheckExposure("--listen", "127.0.0.1:1", false, false, false).ok());
  EXPECT_TRUE(CheckExposure("--listen", "0.0.0.0:1", true, true, false).ok());
  EXPECT_TRUE(CheckExposure("--listen", "0.0.0.0:1", false, false, true).ok());

  absl::Status status = CheckExposure("--listen", "0.0.0.0:0", false, false, false);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(),
            "refusing to serve --listen 0.0.0.0:0, which is not a loopback address, without TLS "
            "(--tls-cert, --tls-key) and bearer tokens (--token-file); pass --insecure to serve "
            "it anyway");
  EXPECT_EQ(CheckExposure("--metrics-listen", "[::]:9", true, false, false).message(),
            "refusing to serve --metrics-listen [::]:9, which is not a loopback address, without "
            "bearer tokens (--token-file); pass --insecure to serve it anyway");
  EXPECT_EQ(CheckExposure("--listen", "10.1.1.1:9", false, true, false).message(),
            "refusing to serve --listen 10.1.1.1:9, which is not a loopback address, without TLS "
            "(--tls-cert, --tls-key); pass --insecure to serve it anyway");
}

}  // namespace
}  // namespace kiln
