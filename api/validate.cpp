#include "api/validate.h"

#include <re2/re2.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "api/audit.h"
#include "common/base64.h"
#include "common/name_index.h"

namespace kmsd::api {
namespace {

enum class Type {
    kString,
    kBlob,
    kInteger,
    kLong,
    kBoolean,
    kList,
    kMap,
    kStructure,
    kTimestamp,
    kDouble
};
struct Member {
    const char* name;
    int shape;
    bool required;
};
struct Shape {
    const char* name;
    Type type;
    bool has_min;
    long long min;
    bool has_max;
    long long max;
    const char* pattern;
    const char* const* enums;
    int n_enums;
    bool sensitive;
    const Member* members;
    int n_members;
    int element;  // list member or map value shape
    int key;      // map key shape
};
struct Operation {
    const char* name;
    int input;
};

#include "api/model/kms_model.inc"

const Operation* FindOperation(std::string_view name) { return FindByName(kOperations, name); }

// Length as Java counts it (UTF-16 code units), which is what the model's min/max mean.
long long JavaLength(std::string_view s) {
    // ASCII, one unit a byte, eight bytes at a step while it lasts (key IDs, ARNs and most other
    // strings are all ASCII; this ran over every string member of every request a byte at a time).
    std::size_t ascii = 0;
    for (; ascii + 8 <= s.size(); ascii += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + ascii, sizeof w);
        if ((w & 0x8080808080808080ULL) != 0) break;
    }
    long long n = static_cast<long long>(ascii);
    for (unsigned char c : s.substr(ascii)) {
        if ((c & 0xC0) != 0x80) ++n;  // a leading byte starts a code point
        if (c >= 0xF0) ++n;           // outside the BMP: a surrogate pair
    }
    return n;
}

// Decodes UTF-8 into code points (invalid sequences become U+FFFD).
std::vector<char32_t> CodePoints(std::string_view s) {
    std::vector<char32_t> out;
    for (std::size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        int extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
        char32_t cp = extra == 0 ? c : (c & (0x3F >> extra));
        if (i + static_cast<std::size_t>(extra) >= s.size() && extra > 0) {
            out.push_back(0xFFFD);
            break;
        }
        for (int k = 1; k <= extra; ++k)
            cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        out.push_back(cp);
        i += static_cast<std::size_t>(extra) + 1;
    }
    return out;
}

// Where a value sits in the input, as a chain of frames on the stack: the dotted path AWS prints
// ("grantTokens.1.member", "encryptionContext.key") is only built when a violation is reported.
struct Path {
    const Path* parent = nullptr;
    const char* member = nullptr;  // a structure member (model name, printed in camelCase)
    long long index = 0;           // a list element (1-based), when member is null and suffix is
    const char* suffix = nullptr;  // "member" for lists, "key"/"value" for maps

    std::string Str() const {
        std::string out = parent ? parent->Str() : std::string();
        if (member != nullptr) {
            if (!out.empty()) out += '.';
            std::string name(member);
            if (!name.empty())
                name[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[0])));
            out += name;
        } else if (suffix != nullptr) {
            if (index > 0) out += "." + std::to_string(index);
            out += '.';
            out += suffix;
        }
        return out;
    }
};

// A model pattern compiled once. RE2 matches in linear time without recursion, so no string a
// client sends can exhaust the stack (std::regex recursed once per character).
class Pattern {
public:
    explicit Pattern(const char* pattern) : re_(pattern, Options()) {}
    bool Matches(std::string_view s) const { return re_.ok() && RE2::FullMatch(s, re_); }

private:
    static RE2::Options Options() {
        RE2::Options o;
        o.set_log_errors(false);
        return o;
    }
    RE2 re_;
};

const Pattern& CompiledPattern(const char* pattern) {
    // The model has about fifteen patterns; each is compiled on first use and kept for good.
    static std::mutex mu;
    static std::map<std::string, std::unique_ptr<Pattern>> cache;
    std::lock_guard lock(mu);
    auto& slot = cache[pattern];
    if (!slot) slot = std::make_unique<Pattern>(pattern);
    return *slot;
}

class Validator {
public:
    Status Run(int shape, const Json& value) {
        Check(kShapes[shape], value, Path{});
        if (!serialization_.ok()) return serialization_;
        if (errors_.empty()) return Status::Ok();
        std::string msg = std::to_string(errors_.size()) + (errors_.size() == 1
                                                                ? " validation error detected: "
                                                                : " validation errors detected: ");
        for (std::size_t i = 0; i < errors_.size(); ++i) msg += (i ? "; " : "") + errors_[i];
        return Error(ErrorCode::kValidation, msg);
    }

private:
    // `shown` renders the value; it runs only when there is a violation to report.
    template <typename Shown>
    void Violation(const Shape& s, const Shown& shown, const Path& path,
                   const std::string& constraint) {
        std::string value = s.sensitive ? "Value" : "Value '" + shown() + "'";
        errors_.push_back(value + " at '" + path.Str() +
                          "' failed to satisfy constraint: " + constraint);
    }

    void TypeError(const Path& path) {
        if (serialization_.ok())
            serialization_ = Error(ErrorCode::kSerialization,
                                   "Unexpected value type for member '" + path.Str() + "'");
    }

    // Checks min/max; returns false after reporting a violation. AWS reports one violation per
    // member, so a value that fails its range is not also checked against enum or pattern.
    template <typename Shown>
    bool Range(const Shape& s, long long n, const Shown& shown, const Path& path,
               const char* what) {
        if (s.has_min && n < s.min) {
            Violation(s, shown, path,
                      std::string("Member must have ") + what + " greater than or equal to " +
                          std::to_string(s.min));
            return false;
        }
        if (s.has_max && n > s.max) {
            Violation(s, shown, path,
                      std::string("Member must have ") + what + " less than or equal to " +
                          std::to_string(s.max));
            return false;
        }
        return true;
    }

    // The nesting of `v` is bounded before validation (JsonNestingWithin), so dump() is shallow.
    static std::string Show(const Json& v) {
        if (v.is_string()) return ToStd(v.get_ref<const SecureString&>());
        return ToStd(v.dump());
    }

    void CheckString(const Shape& s, std::string_view str, const Path& path) {
        auto shown = [&] { return std::string(str); };
        if (!Range(s, JavaLength(str), shown, path, "length")) return;
        if (s.n_enums > 0) {
            bool found = false;
            for (int i = 0; i < s.n_enums && !found; ++i) found = str == s.enums[i];
            if (!found) {
                std::string set;
                for (int i = 0; i < s.n_enums; ++i)
                    set += (i ? ", " : "") + std::string(s.enums[i]);
                Violation(s, shown, path, "Member must satisfy enum value set: [" + set + "]");
                return;
            }
        }
        if (s.pattern && !MatchesModelPattern(s.pattern, str))
            Violation(s, shown, path,
                      std::string("Member must satisfy regular expression pattern: ") + s.pattern);
    }

    void Check(const Shape& s, const Json& v, const Path& path) {
        switch (s.type) {
            case Type::kStructure: {
                if (!v.is_object()) return TypeError(path);
                for (int i = 0; i < s.n_members; ++i) {
                    const Member& m = s.members[i];
                    const Path child{&path, m.name};
                    auto it = v.find(std::string_view(m.name));  // no key string built
                    if (it == v.end() || it->is_null()) {
                        if (m.required)
                            errors_.push_back("Value null at '" + child.Str() +
                                              "' failed to satisfy constraint: Member must not "
                                              "be null");
                        continue;
                    }
                    Check(kShapes[m.shape], *it, child);
                }
                return;
            }
            case Type::kString: {
                if (!v.is_string()) return TypeError(path);
                const SecureString& str = v.get_ref<const SecureString&>();
                return CheckString(s, std::string_view(str.data(), str.size()), path);
            }
            case Type::kBlob: {
                if (!v.is_string()) return TypeError(path);
                const auto decoded = Base64DecodedSize(v.get_ref<const SecureString&>());
                if (!decoded) {
                    if (serialization_.ok())
                        serialization_ = Error(ErrorCode::kSerialization,
                                               "Invalid base64 in member '" + path.Str() + "'");
                    return;
                }
                const auto n = static_cast<long long>(*decoded);
                Range(
                    s, n,
                    [n] {
                        return "java.nio.HeapByteBuffer[pos=0 lim=" + std::to_string(n) +
                               " cap=" + std::to_string(n) + "]";
                    },
                    path, "length");
                return;
            }
            case Type::kInteger:
            case Type::kLong: {
                if (!v.is_number_integer()) return TypeError(path);
                if (v.is_number_unsigned() && v.get<unsigned long long>() > INT64_MAX)
                    return TypeError(path);
                const long long n = v.is_number_unsigned()
                                        ? static_cast<long long>(v.get<unsigned long long>())
                                        : v.get<long long>();
                if (s.type == Type::kInteger && (n > INT32_MAX || n < INT32_MIN))
                    return TypeError(path);
                Range(
                    s, n, [n] { return std::to_string(n); }, path, "value");
                return;
            }
            case Type::kBoolean:
                if (!v.is_boolean()) TypeError(path);
                return;
            case Type::kTimestamp:
            case Type::kDouble:
                if (!v.is_number()) TypeError(path);
                return;
            case Type::kList: {
                if (!v.is_array()) return TypeError(path);
                Range(
                    s, static_cast<long long>(v.size()), [&v] { return Show(v); }, path, "length");
                long long i = 1;
                for (const auto& e : v) {
                    const Path element{&path, nullptr, i++, "member"};
                    Check(kShapes[s.element], e, element);
                }
                return;
            }
            case Type::kMap: {
                if (!v.is_object()) return TypeError(path);
                Range(
                    s, static_cast<long long>(v.size()), [&v] { return Show(v); }, path, "length");
                const Path key{&path, nullptr, 0, "key"};
                const Path value{&path, nullptr, 0, "value"};
                for (auto it = v.begin(); it != v.end(); ++it) {
                    // Map keys are strings in the model.
                    CheckString(kShapes[s.key], std::string_view(it.key().data(), it.key().size()),
                                key);
                    Check(kShapes[s.element], it.value(), value);
                }
                return;
            }
        }
    }

    std::vector<std::string> errors_;
    Status serialization_;
};

}  // namespace

namespace {

bool Unrecorded(const Shape& s) { return s.type == Type::kBlob || s.sensitive; }

// Walks the model's shape, not the client's nesting: the depth is the model's (a few levels).
void RemoveUnrecorded(const Shape& s, Json& v) {
    switch (s.type) {
        case Type::kStructure:
            if (!v.is_object()) return;
            for (int i = 0; i < s.n_members; ++i) {
                const Member& m = s.members[i];
                auto it = v.find(std::string_view(m.name));
                if (it == v.end()) continue;
                if (Unrecorded(kShapes[m.shape]))
                    v.erase(it);
                else
                    RemoveUnrecorded(kShapes[m.shape], *it);
            }
            return;
        case Type::kList:
            if (!v.is_array()) return;
            if (Unrecorded(kShapes[s.element])) return v.clear();
            for (auto& e : v) RemoveUnrecorded(kShapes[s.element], e);
            return;
        case Type::kMap:
            if (!v.is_object()) return;
            if (Unrecorded(kShapes[s.element])) return v.clear();
            for (auto& e : v) RemoveUnrecorded(kShapes[s.element], e);
            return;
        default:
            return;
    }
}

std::string LowerCamel(const char* name) {
    std::string out(name);
    if (!out.empty() && out[0] >= 'A' && out[0] <= 'Z') out[0] = static_cast<char>(out[0] + 32);
    return out;
}

nlohmann::ordered_json ToPlain(const Json& v) {
    switch (v.type()) {
        case Json::value_t::string: {
            const auto& s = v.get_ref<const SecureString&>();
            return std::string(s.data(), s.size());
        }
        case Json::value_t::boolean:
            return v.get<bool>();
        case Json::value_t::number_integer:
            return v.get<long long>();
        case Json::value_t::number_unsigned:
            return v.get<unsigned long long>();
        case Json::value_t::number_float:
            return v.get<double>();
        default:
            return nullptr;
    }
}

nlohmann::ordered_json CloudTrailNames(const Shape& s, const Json& v) {
    switch (s.type) {
        case Type::kStructure: {
            auto out = nlohmann::ordered_json::object();
            if (!v.is_object()) return out;
            for (int i = 0; i < s.n_members; ++i) {
                auto it = v.find(std::string_view(s.members[i].name));
                if (it == v.end() || it->is_null()) continue;
                out[LowerCamel(s.members[i].name)] =
                    CloudTrailNames(kShapes[s.members[i].shape], *it);
            }
            return out;
        }
        case Type::kList: {
            auto out = nlohmann::ordered_json::array();
            if (v.is_array())
                for (const auto& e : v) out.push_back(CloudTrailNames(kShapes[s.element], e));
            return out;
        }
        case Type::kMap: {
            auto out = nlohmann::ordered_json::object();
            if (v.is_object())
                for (auto it = v.begin(); it != v.end(); ++it)
                    out[std::string(it.key().data(), it.key().size())] =
                        CloudTrailNames(kShapes[s.element], it.value());
            return out;
        }
        case Type::kTimestamp:
            if (v.is_number()) return CloudTrailDate(v.get<double>());
            return ToPlain(v);
        default:
            return ToPlain(v);
    }
}

}  // namespace

namespace {

const Operation* OperationAt(int index) {
    return index >= 0 && static_cast<std::size_t>(index) < std::size(kOperations)
               ? &kOperations[index]
               : nullptr;
}

}  // namespace

namespace {

const Member* FindMember(const Shape& s, std::string_view name) {
    for (int i = 0; i < s.n_members; ++i)
        if (name == s.members[i].name) return &s.members[i];
    return nullptr;
}

// RemoveUnrecorded and AppendJson in one walk: the value's members in its own (sorted) order, as
// AppendJson writes them, each skipped where RemoveUnrecorded would erase it. Walks the model's
// shape, as RemoveUnrecorded does: the depth is the model's; what is not in the model (an unknown
// member, a value of another type) is written as it is.
void AppendRecorded(const Shape& s, const Json& v, bool top, SecureString& out) {
    switch (s.type) {
        case Type::kStructure: {
            if (!v.is_object()) return AppendJson(v, out);
            out.push_back('{');
            bool first = true;
            for (auto it = v.begin(); it != v.end(); ++it) {
                const std::string_view name(it.key().data(), it.key().size());
                if (top && (name == "GrantTokens" || name == "GrantToken")) continue;
                const Member* m = FindMember(s, name);
                if (m != nullptr && Unrecorded(kShapes[m->shape])) continue;
                if (!first) out.push_back(',');
                first = false;
                AppendJsonString(it.key(), out);
                out.push_back(':');
                if (m != nullptr)
                    AppendRecorded(kShapes[m->shape], it.value(), false, out);
                else
                    AppendJson(it.value(), out);
            }
            out.push_back('}');
            return;
        }
        case Type::kList: {
            if (!v.is_array()) return AppendJson(v, out);
            if (Unrecorded(kShapes[s.element])) {
                out.append("[]");
                return;
            }
            out.push_back('[');
            bool first = true;
            for (const auto& e : v) {
                if (!first) out.push_back(',');
                first = false;
                AppendRecorded(kShapes[s.element], e, false, out);
            }
            out.push_back(']');
            return;
        }
        case Type::kMap: {
            if (!v.is_object()) return AppendJson(v, out);
            if (Unrecorded(kShapes[s.element])) {
                out.append("{}");
                return;
            }
            out.push_back('{');
            bool first = true;
            for (auto it = v.begin(); it != v.end(); ++it) {
                if (!first) out.push_back(',');
                first = false;
                AppendJsonString(it.key(), out);
                out.push_back(':');
                AppendRecorded(kShapes[s.element], it.value(), false, out);
            }
            out.push_back('}');
            return;
        }
        default:
            return AppendJson(v, out);
    }
}

}  // namespace

void AppendRecordedRequest(int operation, const Json& input, SecureString& out) {
    const Operation* op = OperationAt(operation);
    if (op == nullptr || op->input < 0) {
        // No model shape: only the grant tokens go (as the removal left everything else).
        if (!input.is_object()) return AppendJson(input, out);
        Json copy = input;
        copy.erase("GrantTokens");
        copy.erase("GrantToken");
        return AppendJson(copy, out);
    }
    AppendRecorded(kShapes[op->input], input, true, out);
}

void RemoveUnrecordedMembers(int operation, Json& input) {
    const Operation* op = OperationAt(operation);
    if (op == nullptr || op->input < 0) return;
    RemoveUnrecorded(kShapes[op->input], input);
}

nlohmann::ordered_json CloudTrailParameters(std::string_view operation, const Json& params) {
    const Operation* op = FindOperation(operation);
    if (op == nullptr || op->input < 0 || !params.is_object()) return nullptr;
    return CloudTrailNames(kShapes[op->input], params);
}

bool IsModelOperation(const std::string& operation) { return FindOperation(operation) != nullptr; }

std::size_t OperationCount() { return std::size(kOperations); }

int OperationIndex(std::string_view operation) {
    const Operation* op = FindOperation(operation);
    return op == nullptr ? -1 : static_cast<int>(op - kOperations);
}

int OperationIndexOfTarget(std::string_view target) {
    constexpr std::string_view kPrefix = "TrentService.";
    if (target.substr(0, kPrefix.size()) != kPrefix) return -1;
    return OperationIndex(target.substr(kPrefix.size()));
}

std::string_view OperationName(std::size_t index) { return kOperations[index].name; }

bool ModelInputHasMember(const std::string& operation, std::string_view member) {
    const Operation* op = FindOperation(operation);
    if (op == nullptr || op->input < 0) return false;
    const Shape& shape = kShapes[op->input];
    for (int i = 0; i < shape.n_members; ++i)
        if (member == shape.members[i].name) return true;
    return false;
}

Status ValidateInput(int operation, const Json& input) {
    const Operation* op = OperationAt(operation);
    if (op == nullptr) return Error(ErrorCode::kUnknownOperation);
    if (op->input < 0) return Status::Ok();
    return Validator().Run(op->input, input);
}

bool MatchesModelPattern(const char* pattern, std::string_view value) {
    // Two patterns are code-point ranges that std::regex cannot express over UTF-8.
    if (std::strcmp(pattern, "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+") == 0 ||
        std::strcmp(pattern, "[\\u0020-\\u00FF]*") == 0) {
        const bool allow_ws = pattern[2] == 'u' && pattern[6] == '9';
        auto cps = CodePoints(value);
        if (cps.empty()) return !allow_ws;  // '+' needs one character, '*' does not
        for (char32_t c : cps) {
            bool ok =
                (c >= 0x20 && c <= 0xFF) || (allow_ws && (c == 0x09 || c == 0x0A || c == 0x0D));
            if (!ok) return false;
        }
        return true;
    }
    return CompiledPattern(pattern).Matches(value);
}

}  // namespace kmsd::api
