#include "api/validate.h"

#include <cstring>
#include <map>
#include <mutex>
#include <regex>
#include <string_view>
#include <vector>

#include "common/base64.h"

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

const Operation* FindOperation(const std::string& name) {
    for (const auto& op : kOperations)
        if (name == op.name) return &op;
    return nullptr;
}

// Length as Java counts it (UTF-16 code units), which is what the model's min/max mean.
long long JavaLength(std::string_view s) {
    long long n = 0;
    for (unsigned char c : s) {
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

class Validator {
public:
    Status Run(int shape, const Json& value) {
        Check(kShapes[shape], value, "");
        if (!serialization_.ok()) return serialization_;
        if (errors_.empty()) return Status::Ok();
        std::string msg = std::to_string(errors_.size()) + (errors_.size() == 1
                                                                ? " validation error detected: "
                                                                : " validation errors detected: ");
        for (std::size_t i = 0; i < errors_.size(); ++i) msg += (i ? "; " : "") + errors_[i];
        return Error(ErrorCode::kValidation, msg);
    }

private:
    static std::string CamelCase(const char* name) {
        std::string s(name);
        if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
        return s;
    }

    void Violation(const Shape& s, const std::string& shown, const std::string& path,
                   const std::string& constraint) {
        std::string value = s.sensitive ? "Value" : "Value '" + shown + "'";
        errors_.push_back(value + " at '" + path + "' failed to satisfy constraint: " + constraint);
    }

    void TypeError(const std::string& path) {
        if (serialization_.ok())
            serialization_ =
                Error(ErrorCode::kSerialization, "Unexpected value type for member '" + path + "'");
    }

    void Range(const Shape& s, long long n, const std::string& shown, const std::string& path,
               const char* what) {
        if (s.has_min && n < s.min)
            Violation(s, shown, path,
                      std::string("Member must have ") + what + " greater than or equal to " +
                          std::to_string(s.min));
        if (s.has_max && n > s.max)
            Violation(s, shown, path,
                      std::string("Member must have ") + what + " less than or equal to " +
                          std::to_string(s.max));
    }

    static std::string Show(const Json& v) {
        if (v.is_string()) return ToStd(v.get_ref<const SecureString&>());
        return ToStd(v.dump());
    }

    void Check(const Shape& s, const Json& v, const std::string& path) {
        switch (s.type) {
            case Type::kStructure: {
                if (!v.is_object()) return TypeError(path);
                for (int i = 0; i < s.n_members; ++i) {
                    const Member& m = s.members[i];
                    std::string child =
                        path.empty() ? CamelCase(m.name) : path + "." + CamelCase(m.name);
                    auto it = v.find(m.name);
                    if (it == v.end() || it->is_null()) {
                        if (m.required)
                            errors_.push_back("Value null at '" + child +
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
                std::string str = ToStd(v.get_ref<const SecureString&>());
                Range(s, JavaLength(str), str, path, "length");
                if (s.n_enums > 0) {
                    bool found = false;
                    std::string set;
                    for (int i = 0; i < s.n_enums; ++i) {
                        found = found || str == s.enums[i];
                        set += (i ? ", " : "") + std::string(s.enums[i]);
                    }
                    if (!found)
                        Violation(s, str, path,
                                  "Member must satisfy enum value set: [" + set + "]");
                }
                if (s.pattern && !MatchesModelPattern(s.pattern, str))
                    Violation(s, str, path,
                              std::string("Member must satisfy regular expression pattern: ") +
                                  s.pattern);
                return;
            }
            case Type::kBlob: {
                if (!v.is_string()) return TypeError(path);
                auto decoded = Base64Decode(v.get_ref<const SecureString&>());
                if (!decoded) {
                    if (serialization_.ok())
                        serialization_ = Error(ErrorCode::kSerialization,
                                               "Invalid base64 in member '" + path + "'");
                    return;
                }
                const auto n = static_cast<long long>(decoded->size());
                Range(s, n,
                      "java.nio.HeapByteBuffer[pos=0 lim=" + std::to_string(n) +
                          " cap=" + std::to_string(n) + "]",
                      path, "length");
                return;
            }
            case Type::kInteger:
            case Type::kLong: {
                if (!v.is_number_integer()) return TypeError(path);
                long long n = v.is_number_unsigned()
                                  ? static_cast<long long>(v.get<unsigned long long>())
                                  : v.get<long long>();
                if (s.type == Type::kInteger && (n > INT32_MAX || n < INT32_MIN))
                    return TypeError(path);
                Range(s, n, std::to_string(n), path, "value");
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
                Range(s, static_cast<long long>(v.size()), Show(v), path, "length");
                int i = 1;
                for (const auto& e : v)
                    Check(kShapes[s.element], e, path + "." + std::to_string(i++) + ".member");
                return;
            }
            case Type::kMap: {
                if (!v.is_object()) return TypeError(path);
                Range(s, static_cast<long long>(v.size()), Show(v), path, "length");
                for (auto it = v.begin(); it != v.end(); ++it) {
                    Check(kShapes[s.key], Str(ToStd(it.key())), path + ".key");
                    Check(kShapes[s.element], it.value(), path + ".value");
                }
                return;
            }
        }
    }

    std::vector<std::string> errors_;
    Status serialization_;
};

}  // namespace

bool IsModelOperation(const std::string& operation) { return FindOperation(operation) != nullptr; }

Status ValidateInput(const std::string& operation, const Json& input) {
    const Operation* op = FindOperation(operation);
    if (op == nullptr) return Error(ErrorCode::kUnknownOperation);
    if (op->input < 0) return Status::Ok();
    return Validator().Run(op->input, input);
}

bool MatchesModelPattern(const char* pattern, const std::string& value) {
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
    static std::mutex mu;
    static std::map<std::string, std::regex> cache;
    const std::regex* re;
    {
        std::lock_guard lock(mu);
        auto it = cache.find(pattern);
        if (it == cache.end()) it = cache.emplace(pattern, std::regex(pattern)).first;
        re = &it->second;
    }
    return std::regex_match(value, *re);
}

}  // namespace kmsd::api
