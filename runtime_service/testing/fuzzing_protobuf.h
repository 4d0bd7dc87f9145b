// For fuzz targets that parse protobuf messages from their input.
#ifndef KILN_RUNTIME_SERVICE_TESTING_FUZZING_PROTOBUF_H_
#define KILN_RUNTIME_SERVICE_TESTING_FUZZING_PROTOBUF_H_

#include <cstdio>
#include <string>

#include "google/protobuf/stubs/common.h"
#if GOOGLE_PROTOBUF_VERSION < 4022000  // later versions log through Abseil
#include "google/protobuf/stubs/logging.h"
#endif

namespace kiln::fuzzing {

// Protobuf logs an error for every string field with invalid UTF-8 it parses (and then fails
// the parse), which fuzzed inputs hit constantly: keep only fatal messages.
inline void QuietProtobufErrors() {
#if GOOGLE_PROTOBUF_VERSION < 4022000
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
        if (level == google::protobuf::LOGLEVEL_FATAL)
          std::fprintf(stderr, "[libprotobuf FATAL %s:%d] %s\n", file, line, message.c_str());
      });
#endif
}

}  // namespace kiln::fuzzing

#endif  // KILN_RUNTIME_SERVICE_TESTING_FUZZING_PROTOBUF_H_
