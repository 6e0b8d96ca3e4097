// The request body parser (api/json.h): simdjson's fast path must agree with nlohmann's on every
// body it takes, so clients see the same values and the same errors whichever parser ran. For
// any input within the nesting limit: when the fast path answers, the slow one must give the
// same verdict, and for a parsed body the same tree (same members, same values, same numeric
// kind apart from "-0", which nlohmann alone keeps signed).
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "api/json.h"
#include "common/json_limits.h"

namespace {

using kmsd::api::Json;

// Equal trees, with integers compared by kind as well as value (operator== alone treats 2 and
// 2.0 as equal, and a float where an integer was sent would change what validation says).
bool Same(const Json& a, const Json& b) {
    if (a.is_number_integer() && b.is_number_integer())
        return a == b && (a.is_number_unsigned() == b.is_number_unsigned() || a == 0);
    if (a.type() != b.type()) return false;
    if (a.is_object()) {
        if (a.size() != b.size()) return false;
        for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j)
            if (i.key() != j.key() || !Same(*i, *j)) return false;
        return true;
    }
    if (a.is_array()) {
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (!Same(a[i], b[i])) return false;
        return true;
    }
    if (a.is_number_float()) {
        const double x = a.get<double>(), y = b.get<double>();
        return x == y || (x != x && y != y);
    }
    return a == b;
}

[[noreturn]] void Fail(const char* what, std::string_view body) {
    std::fprintf(stderr, "fuzz_json: %s for body of %zu bytes\n", what, body.size());
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    auto fast = kmsd::api::ParseRequestBodyFast(body);
    // The fast parser bounds the nesting itself: what it takes, the scanner passes, and what the
    // scanner refuses, the public entry point refuses.
    if (!kmsd::JsonNestingWithin(body)) {
        if (fast) Fail("the fast parser took a body nested too deep", body);
        auto refused = kmsd::api::ParseRequestBody(body);
        if (refused.ok() || refused.status().message().rfind("JSON nesting exceeds", 0) != 0)
            Fail("a body nested too deep was not refused for its nesting", body);
        return 0;
    }
    if (!fast) return 0;
    auto slow = kmsd::api::ParseRequestBodySlow(body);
    if (fast->ok() != slow.ok()) Fail("the parsers disagree on success", body);
    if (!fast->ok()) {
        if (fast->status().message() != slow.status().message())
            Fail("the parsers give different errors", body);
        return 0;
    }
    if (!Same(**fast, *slow)) Fail("the parsers build different trees", body);
    // The public entry point gives the same.
    auto both = kmsd::api::ParseRequestBody(body);
    if (!both.ok() || !Same(*both, *slow)) Fail("ParseRequestBody differs", body);
    return 0;
}
