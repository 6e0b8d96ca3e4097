// Catch2 checks several unit test files share.
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "support/fakes.h"

namespace kmsd::testing {

// The reply is the AWS error `type` with `message`, answered with HTTP `status`.
inline void CheckError(const TestKms::Reply& r, const std::string& type, const std::string& message,
                       int status = 400) {
    INFO(r.body);
    CHECK(r.status == status);
    CHECK(r.type() == type);
    CHECK(r.message() == message);
}

}  // namespace kmsd::testing
