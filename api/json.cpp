#include "api/json.h"

#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <cassert>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>
#include <vector>

#include "common/base64.h"
#include "common/json_limits.h"
#include "common/secure_bytes.h"

namespace kmsd::api {

namespace {

constexpr char kDuplicateMember[] = "Duplicate member in JSON object";
constexpr char kMalformed[] = "Malformed JSON request body";

// The bodies the fast path takes: every hot request is far smaller. A thread's simdjson buffers
// are sized for this once (about 30 KB), so one large request cannot leave them grown.
constexpr std::size_t kFastParseMax = 8192;

// A thread's simdjson parser and the padded copy of the body it reads (simdjson reads up to 64
// bytes past the end). Both may hold plaintext: they are wiped after every parse.
class FastParser {
public:
    // simdjson refuses a document nested deeper than its max_depth (DEPTH_ERROR), counting as
    // JsonNestingWithin does (the root object is level 1): a body this parser accepts is within
    // kMaxJsonDepth, so it needs no scan of its own (the scan cost 200 ns on a Decrypt body).
    FastParser() : input_(kFastParseMax + simdjson::SIMDJSON_PADDING) {
        ready_ = parser_.allocate(kFastParseMax, kMaxJsonDepth) == simdjson::SUCCESS;
    }
    ~FastParser() { SecureWipe(input_.data(), input_.size()); }

    bool ready() const { return ready_; }

    // Parses `body` and hands the root to `use`, then wipes the copy and the unescaped strings.
    template <typename Use>
    auto Parse(std::string_view body, Use&& use) {
        std::memcpy(input_.data(), body.data(), body.size());
        std::memset(input_.data() + body.size(), 0, simdjson::SIMDJSON_PADDING);
        simdjson::dom::element root;
        const auto error = parser_.parse(input_.data(), body.size(), false).get(root);
        auto result = use(error, root);
        SecureWipe(input_.data(), body.size());
        // simdjson writes each string as a 4-byte length, the bytes and a NUL: never more than
        // 5/3 of the input plus its padding, which is how document::allocate sizes the buffer.
        SecureWipe(parser_.doc.string_buf.get(), 5 * body.size() / 3 + simdjson::SIMDJSON_PADDING);
        return result;
    }

private:
    simdjson::dom::parser parser_{kFastParseMax};
    std::vector<char> input_;
    bool ready_ = false;
};

enum class Built { kOk, kDuplicate };

// Builds the request's Json from simdjson's document. Recursive, but over a document whose
// depth JsonNestingWithin has already bounded.
Built Build(simdjson::dom::element e, Json& out) {
    using simdjson::dom::element_type;
    switch (e.type()) {
        case element_type::OBJECT: {
            out = Json::object();
            auto& members = out.get_ref<Json::object_t&>();
            // Held by value: value_unsafe() refers into the simdjson_result temporary, which a
            // range-for over it would outlive.
            const simdjson::dom::object object = e.get_object().value_unsafe();
            for (const auto field : object) {
                Json value;
                if (Build(field.value, value) == Built::kDuplicate) return Built::kDuplicate;
                if (!members.emplace(ToSecure(field.key), std::move(value)).second)
                    return Built::kDuplicate;
            }
            return Built::kOk;
        }
        case element_type::ARRAY: {
            out = Json::array();
            auto& items = out.get_ref<Json::array_t&>();
            const simdjson::dom::array array = e.get_array().value_unsafe();
            for (const auto item : array) {
                items.emplace_back();
                if (Build(item, items.back()) == Built::kDuplicate) return Built::kDuplicate;
            }
            return Built::kOk;
        }
        case element_type::STRING:
            out = ToSecure(e.get_string().value_unsafe());
            return Built::kOk;
        case element_type::INT64: {
            // nlohmann keeps a literal without a minus sign unsigned. ("-0" comes back 0 and
            // unsigned here, signed there: the same integer to every reader.)
            const std::int64_t v = e.get_int64().value_unsafe();
            if (v >= 0)
                out = static_cast<std::uint64_t>(v);
            else
                out = v;
            return Built::kOk;
        }
        case element_type::UINT64:
            out = e.get_uint64().value_unsafe();
            return Built::kOk;
        case element_type::DOUBLE:
            out = e.get_double().value_unsafe();
            return Built::kOk;
        case element_type::BOOL:
            out = e.get_bool().value_unsafe();
            return Built::kOk;
        case element_type::NULL_VALUE:
            out = nullptr;
            return Built::kOk;
    }
    return Built::kOk;
}

}  // namespace

std::optional<Result<Json>> ParseRequestBodyFast(std::string_view body) {
    if (body.size() > kFastParseMax) return std::nullopt;
    thread_local FastParser fast;
    if (!fast.ready()) return std::nullopt;
    return fast.Parse(
        body,
        [](simdjson::error_code error, simdjson::dom::element root) -> std::optional<Result<Json>> {
            // Another top-level type is left to nlohmann too: its error for an array holding an
            // object with a repeated member is the duplicate, not the wrong type (fuzz_json).
            if (error != simdjson::SUCCESS || root.type() != simdjson::dom::element_type::OBJECT)
                return std::nullopt;
            Json j;
            if (Build(root, j) == Built::kDuplicate)
                return Result<Json>(Error(ErrorCode::kSerialization, kDuplicateMember));
            return Result<Json>(std::move(j));
        });
}

Result<Json> ParseRequestBodySlow(std::string_view body) {
    // One set of member names per open object: a repeated name is a SerializationException,
    // where nlohmann alone would silently keep the last value.
    std::vector<std::set<SecureString>> open;
    bool duplicate = false;
    auto callback = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
        switch (event) {
            case Json::parse_event_t::object_start:
                open.emplace_back();
                break;
            case Json::parse_event_t::object_end:
                if (!open.empty()) open.pop_back();
                break;
            case Json::parse_event_t::key:
                if (!open.empty() &&
                    !open.back().insert(parsed.get_ref<const SecureString&>()).second)
                    duplicate = true;
                break;
            default:
                break;
        }
        return true;
    };
    Json j = Json::parse(body.begin(), body.end(), callback, /*allow_exceptions=*/false);
    if (j.is_discarded() || duplicate || !j.is_object())
        return Error(ErrorCode::kSerialization, duplicate ? kDuplicateMember : kMalformed);
    return j;
}

Result<Json> ParseRequestBody(std::string_view body) {
    // The nesting is bounded before anything walks the value (validation, dump(), the
    // destructor, Build above), so that they may recurse without a client choosing how deep: the
    // fast parser bounds it itself; anything it leaves is scanned before nlohmann parses it.
    if (auto fast = ParseRequestBodyFast(body)) return std::move(*fast);
    if (!JsonNestingWithin(body))
        return Error(ErrorCode::kSerialization,
                     "JSON nesting exceeds the maximum depth of " + std::to_string(kMaxJsonDepth));
    return ParseRequestBodySlow(body);
}

namespace {

// True when every byte is printable ASCII other than '"' and '\\' (every string of every reply
// and audit record is checked: a ciphertext blob is a few hundred base64 characters). Sixteen
// bytes per step where SSE2 is there (every x86-64), then eight: a byte b is flagged when
// b < 0x20, b >= 0x7f, or it equals one of the two; the classic has-zero-byte test finds the
// equalities.
bool Plain(std::string_view s) {
    std::size_t i = 0;
#if defined(__SSE2__)
    const __m128i space = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    for (; i + 16 <= s.size(); i += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
        // Signed comparison: bytes 0x80-0xff are negative, so one test finds them with the
        // control characters.
        const __m128i bad =
            _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, del)),
                         _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
        if (_mm_movemask_epi8(bad) != 0) return false;
    }
    // The rest in one step too, overlapping bytes already checked (most strings are longer than
    // 16 bytes: ARNs, IDs, base64).
    if (i < s.size() && s.size() >= 16) {
        const __m128i v =
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + s.size() - 16));
        const __m128i bad =
            _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, del)),
                         _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
        return _mm_movemask_epi8(bad) == 0;
    }
#endif
    constexpr std::uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
    auto zero_byte = [](std::uint64_t v) { return (v - kOnes) & ~v & kHigh; };
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        const std::uint64_t low = (w - kOnes * 0x20) & ~w & kHigh;  // b < 0x20
        const std::uint64_t high = (w + kOnes * 0x01) & kHigh;      // b >= 0x7f (b + 1 >= 0x80)
        if ((low | high | (w & kHigh) | zero_byte(w ^ (kOnes * '"')) |
             zero_byte(w ^ (kOnes * '\\'))) != 0)
            return false;
    }
    for (; i < s.size(); ++i) {
        const char c = s[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
    }
    return true;
}

void AppendString(std::string_view s, SecureString& out) {
    if (!Plain(s)) {
        out += Json(ToSecure(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
        return;
    }
    // One resize and one copy: a push_back per quote was a capacity check and a call each.
    const std::size_t at = out.size();
    out.resize(at + s.size() + 2);
    char* p = out.data() + at;
    p[0] = '"';
    std::memcpy(p + 1, s.data(), s.size());
    p[s.size() + 1] = '"';
}

// Numbers as nlohmann's serializer writes them (the unit test compares): integers in decimal,
// finite doubles by its own shortest round-trip formatter (detail::to_chars, which dump() calls),
// others as null. dump() per number cost a serializer and a string each (KeyMetadata has
// several).
void AppendNumber(const Json& j, SecureString& out) {
    char buf[64];
    char* end = buf;
    switch (j.type()) {
        case Json::value_t::number_integer:
            end = std::to_chars(buf, buf + sizeof buf, j.get<std::int64_t>()).ptr;
            break;
        case Json::value_t::number_unsigned:
            end = std::to_chars(buf, buf + sizeof buf, j.get<std::uint64_t>()).ptr;
            break;
        default: {
            const double x = j.get<double>();
            if (!std::isfinite(x)) {
                out += "null";
                return;
            }
            end = nlohmann::detail::to_chars(buf, buf + sizeof buf, x);
        }
    }
    out.append(buf, static_cast<std::size_t>(end - buf));
}

}  // namespace

void AppendJsonString(const SecureString& s, SecureString& out) { AppendString(s, out); }

void AppendJson(const Json& j, SecureString& out) {
    switch (j.type()) {
        case Json::value_t::string:
            return AppendString(j.get_ref<const SecureString&>(), out);
        case Json::value_t::object: {
            out.push_back('{');
            bool first = true;
            for (const auto& [key, value] : j.items()) {
                if (!first) out.push_back(',');
                first = false;
                AppendString(key, out);
                out.push_back(':');
                AppendJson(value, out);
            }
            out.push_back('}');
            return;
        }
        case Json::value_t::array: {
            out.push_back('[');
            bool first = true;
            for (const auto& value : j) {
                if (!first) out.push_back(',');
                first = false;
                AppendJson(value, out);
            }
            out.push_back(']');
            return;
        }
        case Json::value_t::boolean:
            out += j.get<bool>() ? "true" : "false";
            return;
        case Json::value_t::number_integer:
        case Json::value_t::number_unsigned:
        case Json::value_t::number_float:
            return AppendNumber(j, out);
        default:  // null (and discarded, which kmsd never builds): nlohmann's text, exactly
            out += j.dump(-1, ' ', false, Json::error_handler_t::replace);
    }
}

SecureString Serialize(const Json& j) {
    SecureString out;
    out.reserve(1024);
    AppendJson(j, out);
    return out;
}

ObjectWriter::ObjectWriter() {
    // One allocation for the hot replies (Encrypt's is about 400 bytes, GenerateDataKey's 500):
    // growing a cleansing string wipes and frees each old buffer.
    text_.reserve(512);
    text_.push_back('{');
}

void ObjectWriter::Name(std::string_view name) {
    // A tree writes its members sorted by name; a text reply must come out the same.
    assert(last_.empty() || last_ < name);
    last_ = name;
    // Member names are the model's: plain, so written without the check, in one resize.
    assert(Plain(name));
    const std::size_t at = text_.size();
    const bool comma = at > 1;
    text_.resize(at + comma + name.size() + 3);
    char* p = text_.data() + at;
    if (comma) *p++ = ',';
    *p++ = '"';
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    p[0] = '"';
    p[1] = ':';
}

ObjectWriter& ObjectWriter::String(std::string_view name, std::string_view value) {
    Name(name);
    AppendString(value, text_);
    return *this;
}

ObjectWriter& ObjectWriter::Base64(std::string_view name, ByteView bytes) {
    Name(name);
    text_.push_back('"');
    Base64EncodeAppend(bytes, text_);
    text_.push_back('"');
    return *this;
}

SecureString ObjectWriter::Finish() && {
    text_.push_back('}');
    return std::move(text_);
}

}  // namespace kmsd::api
