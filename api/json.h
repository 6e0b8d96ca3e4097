// The JSON type of the API layer: nlohmann::json whose strings use the cleansing allocator, so
// base64 plaintext and data keys in requests and responses are wiped when freed (design.md §4).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/secure_bytes.h"
#include "common/status.h"

namespace kmsd::api {

using Json = nlohmann::basic_json<std::map, std::vector, SecureString>;

// Parses a request body. The body must be one JSON object; malformed JSON, another top-level
// type or an object with a duplicate member is kSerialization.
//
// Small bodies are parsed by simdjson into the tree directly (about 5x faster than nlohmann's
// character-by-character lexer and callback); anything simdjson refuses, and every larger body,
// goes to nlohmann, which then decides: the two agree on every document simdjson accepts
// (fuzz_json checks this), so errors and edge cases (a BOM, integers beyond 64 bits) are
// nlohmann's as before.
Result<Json> ParseRequestBody(std::string_view body);

// The two halves, for fuzz_json's comparison. The fast one answers nullopt when it leaves the
// body to the slow one, as it does every body nested deeper than kMaxJsonDepth (a body it takes
// passes JsonNestingWithin). The slow one does not check the depth: call it only on bodies that
// passed JsonNestingWithin.
std::optional<Result<Json>> ParseRequestBodyFast(std::string_view body);
Result<Json> ParseRequestBodySlow(std::string_view body);

inline std::string ToStd(const SecureString& s) { return std::string(s.data(), s.size()); }
inline SecureString ToSecure(std::string_view s) { return SecureString(s.data(), s.size()); }

// j.dump(-1, ' ', false, replace), byte for byte, in a fraction of the time: strings of
// printable ASCII without quotes or backslashes (nearly all of KMS's: ARNs, IDs, base64, enums)
// are copied whole instead of escaped byte by byte, and the output is reserved up front
// (growing a cleansing string wipes each old buffer). Anything else goes through nlohmann.
// Recursive over kmsd's own response trees, whose depth kmsd decides.
SecureString Serialize(const Json& j);
// The same, appended to `out` (which keeps its storage between calls).
void AppendJson(const Json& j, SecureString& out);
// A string as AppendJson writes it (quoted, escaped where it must be).
void AppendJsonString(const SecureString& s, SecureString& out);

// A JSON object written straight as text, as Serialize would write the same tree: the fixed-shape
// replies of the hot operations (Encrypt, Decrypt, GenerateDataKey), where building a tree and
// serializing it was about a tenth of the work. Add members sorted by name, as a tree holds them
// (debug builds assert it).
class ObjectWriter {
public:
    ObjectWriter();
    ObjectWriter& String(std::string_view name, std::string_view value);
    // The bytes as a base64 string (blobs, and plaintext: the text is a cleansing string).
    ObjectWriter& Base64(std::string_view name, ByteView bytes);
    SecureString Finish() &&;

private:
    void Name(std::string_view name);
    SecureString text_;
    std::string_view last_;
};

// Builds a JSON string value from a std::string.
inline Json Str(std::string_view s) { return Json(ToSecure(s)); }

}  // namespace kmsd::api
