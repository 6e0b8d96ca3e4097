// [logging]: --log-format json's escaping. Every byte value, alone and inside UTF-8 sequences,
// must leave a line that a strict JSON parser (nlohmann, which rejects invalid UTF-8) reads back.
#include "src/logging.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace {

std::string RoundTrip(const std::string& text) {
    return nlohmann::json::parse("\"" + kmsd::JsonEscape(text) + "\"").get<std::string>();
}

}  // namespace

TEST_CASE("JSON log messages keep text and escape what JSON needs", "[logging]") {
    CHECK(RoundTrip("plain text") == "plain text");
    CHECK(RoundTrip("q\"b\\n\nt\tz") == "q\"b\\n\nt\tz");
    CHECK(kmsd::JsonEscape(std::string("\x00\x1f\x7f", 3)) == "\\u0000\\u001f\\u007f");
    CHECK(RoundTrip("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91") ==
          "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
}

TEST_CASE("bytes that are not valid UTF-8 become U+FFFD, never an unparseable line", "[logging]") {
    const std::string replacement = "\xef\xbf\xbd";
    CHECK(RoundTrip("a\xff"
                    "b") == "a" + replacement + "b");
    CHECK(RoundTrip("\xc0\xaf") == replacement + replacement);                    // overlong '/'
    CHECK(RoundTrip("\xed\xa0\x80") == replacement + replacement + replacement);  // surrogate
    CHECK(RoundTrip("\xf4\x90\x80\x80").size() == 4 * replacement.size());        // above U+10FFFF
    CHECK(RoundTrip("\xe2\x82") == replacement + replacement);                    // cut short
    for (int b = 0; b < 256; ++b)
        for (int c : {0x41, 0x80, 0xbf, 0xc3}) {
            const std::string text{static_cast<char>(b), static_cast<char>(c)};
            CHECK_NOTHROW(RoundTrip(text));
        }
}
