#include "api/authz/policy.h"

#include <arpa/inet.h>

#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/json_limits.h"

namespace kmsd::api::authz {

namespace {

using nlohmann::json;

std::string Lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

Status Malformed(const std::string& why) { return Error(ErrorCode::kMalformedPolicy, why); }

// A string or a list of strings, as policies allow almost everywhere.
Result<std::vector<std::string>> Strings(const json& v, const std::string& what) {
    std::vector<std::string> out;
    if (v.is_string()) {
        out.push_back(v.get<std::string>());
    } else if (v.is_array()) {
        for (const auto& e : v) {
            if (!e.is_string() && !e.is_boolean() && !e.is_number())
                return Malformed(what + " must be a string or a list of strings");
            out.push_back(e.is_string() ? e.get<std::string>() : e.dump());
        }
    } else if (v.is_boolean() || v.is_number()) {
        out.push_back(v.dump());
    } else {
        return Malformed(what + " must be a string or a list of strings");
    }
    return out;
}

}  // namespace

struct Condition {
    std::string op;  // base operator, e.g. StringEquals
    // The operator, classified once at parse time (the hot path never compares names).
    enum class Kind {
        kExact,
        kIgnoreCase,
        kLike,
        kArn,
        kNumeric,
        kDate,
        kBool,
        kNull,
        kIp
    } kind = Kind::kExact;
    enum class Cmp { kEq, kLt, kLe, kGt, kGe } cmp = Cmp::kEq;
    bool negated = false;
    bool if_exists = false;
    enum class Set { kSingle, kAnyValue, kAllValues } set = Set::kSingle;
    std::string key;  // lower-case
    std::vector<std::string> values;
    // kNumeric, kDate: the values as numbers (dates as epoch seconds), NAN for one that is not
    // one (it never matches).
    std::vector<double> numbers;
};

// A principal as written in a policy, classified once at parse time so that matching a caller
// is a couple of string comparisons (this runs for every principal of every statement).
struct PrincipalRef {
    enum class Kind { kStar, kAccount, kRole, kOther } kind = Kind::kOther;
    std::string text;     // as written
    std::string account;  // kAccount, kRole
    std::string role;     // kRole: the role name (path included)
};

// The caller as principals see it, computed once per evaluation.
struct CallerView {
    std::string_view arn, account;
    std::string_view role;  // the role of an assumed-role session, else empty
    bool root = false;
};

struct Policy::Statement {
    bool allow = true;
    bool any_principal = false;  // "*"
    bool not_principal = false;
    bool has_principal = false;
    std::vector<std::string> principals;  // AWS principals as written (ARNs or account IDs)
    std::vector<PrincipalRef> parsed;     // the same, classified
    bool not_action = false;
    std::vector<std::string> actions;
    bool not_resource = false;
    std::vector<std::string> resources;
    std::vector<Condition> conditions;
};

// ASCII case folding: IAM folds action names and *IgnoreCase values as ASCII, and the C
// library's locale-aware tolower is a hot spot here.
inline char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool WildcardMatch(std::string_view pattern, std::string_view value, bool fold_case) {
    auto eq = [&](char a, char b) { return fold_case ? AsciiLower(a) == AsciiLower(b) : a == b; };
    // Fast paths for the common shapes: "*", a literal, and "prefix*".
    if (pattern.size() == 1 && pattern[0] == '*') return true;
    std::size_t wild = 0;  // a plain loop: find_first_of runs memchr per character
    while (wild < pattern.size() && pattern[wild] != '*' && pattern[wild] != '?') ++wild;
    if (wild == pattern.size()) wild = std::string_view::npos;
    if (wild == std::string_view::npos || (wild == pattern.size() - 1 && pattern[wild] == '*')) {
        const std::size_t n = wild == std::string_view::npos ? pattern.size() : wild;
        if (wild == std::string_view::npos ? value.size() != n : value.size() < n) return false;
        for (std::size_t i = 0; i < n; ++i)
            if (!eq(pattern[i], value[i])) return false;
        return true;
    }
    // Iterative glob with backtracking to the last '*'.
    std::size_t p = 0, v = 0, star = std::string_view::npos, mark = 0;
    while (v < value.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || eq(pattern[p], value[v]))) {
            ++p;
            ++v;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            mark = v;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            v = ++mark;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

namespace {

const char* const kOperators[] = {"StringEquals",
                                  "StringNotEquals",
                                  "StringEqualsIgnoreCase",
                                  "StringNotEqualsIgnoreCase",
                                  "StringLike",
                                  "StringNotLike",
                                  "NumericEquals",
                                  "NumericNotEquals",
                                  "NumericLessThan",
                                  "NumericLessThanEquals",
                                  "NumericGreaterThan",
                                  "NumericGreaterThanEquals",
                                  "DateEquals",
                                  "DateNotEquals",
                                  "DateLessThan",
                                  "DateLessThanEquals",
                                  "DateGreaterThan",
                                  "DateGreaterThanEquals",
                                  "Bool",
                                  "Null",
                                  "ArnEquals",
                                  "ArnLike",
                                  "ArnNotEquals",
                                  "ArnNotLike",
                                  "IpAddress",
                                  "NotIpAddress",
                                  "BinaryEquals"};

double ParseNumber(const std::string& s);

// Epoch seconds of an ISO 8601 date (YYYY-MM-DD, or YYYY-MM-DDThh:mm:ss with an optional
// fraction of a second and an optional Z) or of a number as ParseNumber reads one; NAN for
// anything else: no "inf" or "nan" (strtod's), no trailing text, no month 13 or hour 25 (which
// timegm would carry into the next year or day).
double ParseDate(const std::string& s) {
    if (const double n = ParseNumber(s); !std::isnan(n)) return n;
    std::size_t i = 0;
    const auto field = [&](std::size_t width, int& out) {
        out = 0;
        for (std::size_t k = 0; k < width; ++k, ++i) {
            if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
            out = out * 10 + (s[i] - '0');
        }
        return true;
    };
    const auto literal = [&](char c) { return i < s.size() && s[i++] == c; };
    std::tm tm{};
    if (!field(4, tm.tm_year) || !literal('-') || !field(2, tm.tm_mon) || !literal('-') ||
        !field(2, tm.tm_mday))
        return NAN;
    if (i < s.size()) {
        if (!literal('T') || !field(2, tm.tm_hour) || !literal(':') || !field(2, tm.tm_min) ||
            !literal(':') || !field(2, tm.tm_sec))
            return NAN;
        if (i < s.size() && s[i] == '.') {
            ++i;
            const std::size_t start = i;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
            if (i == start) return NAN;
        }
        if (i < s.size() && !literal('Z')) return NAN;
        if (i != s.size()) return NAN;
    }
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return NAN;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<double>(timegm(&tm));
}

// Classifies a (known) base operator name.
void Classify(Condition& c) {
    const std::string& op = c.op;
    c.negated = op.find("Not") != std::string::npos;
    using K = Condition::Kind;
    if (op == "Null")
        c.kind = K::kNull;
    else if (op.find("IpAddress") != std::string::npos)
        c.kind = K::kIp;
    else if (op == "Bool")
        c.kind = K::kBool;
    else if (op.find("IgnoreCase") != std::string::npos)
        c.kind = K::kIgnoreCase;
    else if (op.rfind("Arn", 0) == 0)
        c.kind = K::kArn;
    else if (op.find("Like") != std::string::npos)
        c.kind = K::kLike;
    else if (op.rfind("Numeric", 0) == 0)
        c.kind = K::kNumeric;
    else if (op.rfind("Date", 0) == 0)
        c.kind = K::kDate;
    else
        c.kind = K::kExact;  // StringEquals, StringNotEquals, BinaryEquals
    if (c.kind == K::kNumeric || c.kind == K::kDate) {
        const std::string cmp = op.substr(c.kind == K::kNumeric ? 7 : 4);
        using C = Condition::Cmp;
        c.cmp = cmp == "LessThan"            ? C::kLt
                : cmp == "LessThanEquals"    ? C::kLe
                : cmp == "GreaterThan"       ? C::kGt
                : cmp == "GreaterThanEquals" ? C::kGe
                                             : C::kEq;
    }
}

// The number IAM reads in a Numeric condition: an optional sign, digits with an optional
// fraction and an optional exponent. NAN for anything else: strtod alone would also take
// "inf", "nan", hex, leading blanks and a numeric prefix of "12abc".
double ParseNumber(const std::string& s) {
    std::size_t i = 0;
    auto digits = [&] {
        const std::size_t start = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        return i - start;
    };
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    std::size_t mantissa = digits();
    if (i < s.size() && s[i] == '.') {
        ++i;
        mantissa += digits();
    }
    if (mantissa == 0) return NAN;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
        if (digits() == 0) return NAN;
    }
    if (i != s.size()) return NAN;
    return std::strtod(s.c_str(), nullptr);
}

// An ARN's six colon-separated parts: "arn", partition, service, Region, account, and the
// resource, which keeps any further colons. False when `arn` has fewer than six parts or does
// not start with "arn".
bool SplitArn(std::string_view arn, std::string_view (&parts)[6]) {
    std::size_t start = 0;
    for (int i = 0; i < 5; ++i) {
        const std::size_t colon = arn.find(':', start);
        if (colon == std::string_view::npos) return false;
        parts[i] = arn.substr(start, colon - start);
        start = colon + 1;
    }
    parts[5] = arn.substr(start);
    return parts[0] == "arn";
}

// ArnEquals/ArnLike as IAM documents them: "Each of the six colon-delimited components of the
// ARN is checked separately and each can include multi-character match wildcards (*) or
// single-character match wildcards (?)", so a '*' never spans a ':' between components. A
// value with fewer than six components (in the request or the policy) matches nothing, so the
// negated operators hold for it: a Deny with ArnNotLike still applies to a malformed ARN.
bool ArnMatches(std::string_view pattern, std::string_view arn) {
    std::string_view p[6], a[6];
    if (!SplitArn(pattern, p) || !SplitArn(arn, a)) return false;
    for (int i = 0; i < 6; ++i)
        if (!WildcardMatch(p[i], a[i], /*fold_case=*/false)) return false;
    return true;
}

// Whether the IPv4 or IPv6 address `ip` is in `cidr` ("203.0.113.0/24", "2001:db8::/32", or a
// bare address).
bool InCidr(const std::string& cidr, const std::string& ip) {
    const auto slash = cidr.find('/');
    const std::string net = cidr.substr(0, slash);
    unsigned char a[16] = {}, b[16] = {};
    const int family = net.find(':') == std::string::npos ? AF_INET : AF_INET6;
    const int bytes = family == AF_INET ? 4 : 16;
    if (inet_pton(family, net.c_str(), a) != 1 || inet_pton(family, ip.c_str(), b) != 1)
        return false;
    int bits = bytes * 8;
    if (slash != std::string::npos) {
        char* end = nullptr;
        const long n = std::strtol(cidr.c_str() + slash + 1, &end, 10);
        if (*end != '\0' || n < 0 || n > bits) return false;
        bits = static_cast<int>(n);
    }
    for (int i = 0; i < bytes && bits > 0; ++i, bits -= 8) {
        const unsigned mask = bits >= 8 ? 0xFFu : (0xFFu << (8 - bits)) & 0xFFu;
        if ((a[i] & mask) != (b[i] & mask)) return false;
    }
    return true;
}

bool EqualsFolded(const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
    return true;
}

// Epoch-second or numeric comparison; false when either side is NAN.
bool Compare(Condition::Cmp cmp, double a, double b) {
    if (std::isnan(a) || std::isnan(b)) return false;
    switch (cmp) {
        case Condition::Cmp::kEq:
            return a == b;
        case Condition::Cmp::kLt:
            return a < b;
        case Condition::Cmp::kLe:
            return a <= b;
        case Condition::Cmp::kGt:
            return a > b;
        case Condition::Cmp::kGe:
            return a >= b;
    }
    return false;
}

// One request value against one policy value under the positive form of the operator.
bool Matches(const Condition& c, const std::string& policy, const std::string& request) {
    using K = Condition::Kind;
    switch (c.kind) {
        case K::kExact:
            return policy == request;
        case K::kIgnoreCase:
        case K::kBool:
            return EqualsFolded(policy, request);
        case K::kLike:
            return WildcardMatch(policy, request, false);
        case K::kArn:
            return ArnMatches(policy, request);
        case K::kNull:
            return false;  // handled by Holds
        case K::kIp:
            return InCidr(policy, request);
        case K::kNumeric:  // handled by NumericHolds
        case K::kDate:
            return false;
    }
    return false;
}

// Numeric operators compare numbers. A value that is not a number, in the request or in the
// policy, makes its comparison false whatever the operator, so NumericNotEquals does not hold
// for it either: "not equal" between a number and a word is not an answer. IAM does not document
// the case; IAM policy simulators built to mirror IAM treat it so. (Arn operators differ: a
// non-ARN is simply not like the pattern, so ArnNotLike holds for it and a Deny written with
// it still applies; see ArnMatches.) Date operators are the same over epoch seconds: a value
// that is not a date is not before, after or other than any date.
bool NumericHolds(const Condition& c, const std::string& request) {
    const double r = c.kind == Condition::Kind::kDate ? ParseDate(request) : ParseNumber(request);
    if (std::isnan(r)) return false;
    if (!c.negated)
        return std::any_of(c.numbers.begin(), c.numbers.end(),
                           [&](double n) { return Compare(c.cmp, r, n); });
    return std::all_of(c.numbers.begin(), c.numbers.end(),
                       [&](double n) { return !std::isnan(n) && r != n; });
}

bool AnyPolicyValueMatches(const Condition& c, const std::string& request) {
    for (const auto& v : c.values)
        if (Matches(c, v, request)) return true;
    return false;
}

bool Holds(const Condition& c, const RequestContext& req) {
    auto it = req.keys.find(c.key);
    const bool present = it != req.keys.end() && !it->second.empty();
    if (c.kind == Condition::Kind::kNull) {
        // "true": the key must be absent; "false": present.
        return !c.values.empty() && (Lower(c.values[0]) == "true") == !present;
    }
    if (!present) {
        if (c.set == Condition::Set::kAllValues) return true;  // vacuously
        if (c.if_exists) return true;
        return c.set == Condition::Set::kSingle && c.negated;
    }
    const bool negated = c.negated;
    auto value_ok = [&](const std::string& v) {
        if (c.kind == Condition::Kind::kNumeric || c.kind == Condition::Kind::kDate)
            return NumericHolds(c, v);
        bool m = AnyPolicyValueMatches(c, v);
        return negated ? !m : m;
    };
    const auto& values = it->second;
    switch (c.set) {
        case Condition::Set::kSingle:
            return value_ok(values.front());
        case Condition::Set::kAnyValue:
            return std::any_of(values.begin(), values.end(), value_ok);
        case Condition::Set::kAllValues:
            return std::all_of(values.begin(), values.end(), value_ok);
    }
    return false;
}

bool IsAccountId(std::string_view s) {
    return s.size() == 12 && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// Splits "arn:<partition>:<service>::<account>:<resource>"; false for another shape.
bool SplitIamArn(std::string_view arn, std::string_view service, std::string_view& account,
                 std::string_view& resource) {
    if (arn.substr(0, 4) != "arn:") return false;
    const auto p1 = arn.find(':', 4);  // after the partition
    if (p1 == std::string_view::npos || arn.substr(p1 + 1, service.size()) != service) return false;
    const auto p2 = p1 + 1 + service.size();
    if (arn.substr(p2, 2) != "::") return false;
    const auto p3 = arn.find(':', p2 + 2);
    if (p3 == std::string_view::npos) return false;
    account = arn.substr(p2 + 2, p3 - p2 - 2);
    resource = arn.substr(p3 + 1);
    return true;
}

PrincipalRef ClassifyPrincipal(const std::string& p) {
    PrincipalRef r;
    r.text = p;
    std::string_view account, resource;
    if (p == "*") {
        r.kind = PrincipalRef::Kind::kStar;
    } else if (IsAccountId(p)) {
        r.kind = PrincipalRef::Kind::kAccount;
        r.account = p;
    } else if (SplitIamArn(p, "iam", account, resource)) {
        if (resource == "root") {
            r.kind = PrincipalRef::Kind::kAccount;
            r.account = account;
        } else if (resource.substr(0, 5) == "role/") {
            r.kind = PrincipalRef::Kind::kRole;
            r.account = account;
            // A role ARN may carry a path (role/path/name); sessions name the role alone.
            const auto slash = resource.rfind('/');
            r.role = resource.substr(slash + 1);
        }
    }
    return r;
}

CallerView ViewOf(const RequestContext& req) {
    CallerView v{req.principal_arn, req.principal_account, {}, false};
    std::string_view account, resource;
    if (SplitIamArn(req.principal_arn, "sts", account, resource) &&
        resource.substr(0, 13) == "assumed-role/") {
        const auto rest = resource.substr(13);
        const auto slash = rest.find('/');
        if (slash != std::string_view::npos) v.role = rest.substr(0, slash);
    } else if (SplitIamArn(req.principal_arn, "iam", account, resource)) {
        v.root = resource == "root";
    }
    return v;
}

bool NamesAccountOf(const PrincipalRef& p, const CallerView& c) {
    return p.kind == PrincipalRef::Kind::kAccount && p.account == c.account;
}

// The principal itself: "*", its exact ARN, or (a role ARN) the role of its session.
bool NamesPrincipal(const PrincipalRef& p, const CallerView& c) {
    if (p.kind == PrincipalRef::Kind::kStar || p.text == c.arn) return true;
    return p.kind == PrincipalRef::Kind::kRole && !c.role.empty() && p.role == c.role &&
           p.account == c.account;
}

// For Deny with NotPrincipal: whether every identity of the caller is listed.
bool SparedByNotPrincipal(const std::vector<PrincipalRef>& listed, const CallerView& c) {
    bool self = false, role = false, account = false;
    for (const auto& p : listed) {
        if (p.text == c.arn)
            self = true;
        else if (!c.role.empty() && NamesPrincipal(p, c))
            role = true;
        if (NamesAccountOf(p, c)) account = true;
    }
    // An account's root is its account: naming either spares it.
    if (c.root) return self || account;
    return self && account && (c.role.empty() || role);
}

Result<Policy::Statement> ParseStatement(const json& s, bool require_principal) {
    if (!s.is_object()) return Malformed("a statement must be a JSON object");
    Policy::Statement st;
    auto effect = s.find("Effect");
    if (effect == s.end() || !effect->is_string() || (*effect != "Allow" && *effect != "Deny"))
        return Malformed("Effect must be Allow or Deny");
    st.allow = *effect == "Allow";
    auto principal = s.find("Principal");
    auto not_principal = s.find("NotPrincipal");
    if (principal != s.end() && not_principal != s.end())
        return Malformed("Principal and NotPrincipal cannot both be present");
    auto p = principal != s.end() ? principal : not_principal;
    st.has_principal = p != s.end();
    if (require_principal && !st.has_principal)
        return Malformed("Policy contains a statement with no principal.");
    // An identity policy applies to whoever it is attached to: IAM refuses one that names
    // principals (CreatePolicy/PutUserPolicy answer MalformedPolicyDocument with this text).
    if (!require_principal && st.has_principal)
        return Malformed("Policy document should not specify a principal.");
    if (st.has_principal) {
        st.not_principal = p == not_principal;
        if (p->is_string()) {
            if (*p != "*")
                return Malformed(
                    "Policy contains a statement with one or more invalid principals.");
            st.any_principal = true;
        } else if (p->is_object()) {
            for (auto it = p->begin(); it != p->end(); ++it) {
                KMSD_ASSIGN_OR_RETURN(auto names, Strings(it.value(), "Principal"));
                for (auto& n : names) {
                    if (it.key() != "AWS") continue;  // service principals never match a caller
                    const bool account_id =
                        n.size() == 12 && n.find_first_not_of("0123456789") == std::string::npos;
                    if (n != "*" && !account_id && n.rfind("arn:", 0) != 0)
                        return Malformed(
                            "Policy contains a statement with one or more invalid principals.");
                    if (n == "*") st.any_principal = true;
                    st.principals.push_back(n);
                    st.parsed.push_back(ClassifyPrincipal(n));
                }
            }
        } else {
            return Malformed("Policy contains a statement with one or more invalid principals.");
        }
    }
    auto read_list = [&](const char* positive, const char* negative, bool& negated,
                         std::vector<std::string>& out) -> Status {
        auto a = s.find(positive);
        auto n = s.find(negative);
        if (a != s.end() && n != s.end())
            return Malformed(std::string(positive) + " and " + negative +
                             " cannot both be present");
        if (a == s.end() && n == s.end()) return Status::Ok();  // accepted, never matches
        negated = a == s.end();
        KMSD_ASSIGN_OR_RETURN(out, Strings(negated ? *n : *a, positive));
        return Status::Ok();
    };
    KMSD_RETURN_IF_ERROR(read_list("Action", "NotAction", st.not_action, st.actions));
    KMSD_RETURN_IF_ERROR(read_list("Resource", "NotResource", st.not_resource, st.resources));
    if (auto cond = s.find("Condition"); cond != s.end()) {
        if (!cond->is_object()) return Malformed("Condition must be an object");
        for (auto op = cond->begin(); op != cond->end(); ++op) {
            Condition base;
            std::string name = op.key();
            if (name.rfind("ForAnyValue:", 0) == 0) {
                base.set = Condition::Set::kAnyValue;
                name = name.substr(12);
            } else if (name.rfind("ForAllValues:", 0) == 0) {
                base.set = Condition::Set::kAllValues;
                name = name.substr(13);
            }
            if (name.size() > 8 && name.compare(name.size() - 8, 8, "IfExists") == 0) {
                base.if_exists = true;
                name = name.substr(0, name.size() - 8);
            }
            if (std::find(std::begin(kOperators), std::end(kOperators), name) ==
                std::end(kOperators))
                return Malformed("Unknown condition operator " + op.key());
            base.op = name;
            Classify(base);
            if (!op.value().is_object()) return Malformed("Condition values must be objects");
            for (auto key = op.value().begin(); key != op.value().end(); ++key) {
                Condition c = base;
                c.key = Lower(key.key());
                KMSD_ASSIGN_OR_RETURN(c.values, Strings(key.value(), "Condition value"));
                if (c.kind == Condition::Kind::kNumeric)
                    for (const auto& v : c.values) c.numbers.push_back(ParseNumber(v));
                if (c.kind == Condition::Kind::kDate)
                    for (const auto& v : c.values) c.numbers.push_back(ParseDate(v));
                st.conditions.push_back(std::move(c));
            }
        }
    }
    return st;
}

}  // namespace

Result<Policy> Policy::Parse(const std::string& text, bool require_principal) {
    // Before the parser: the author chooses the depth, and copying or printing a parsed document
    // recurses once per level. Nothing below reads deeper than about 6 levels.
    if (!JsonNestingWithin(text))
        return Malformed("The policy document nests arrays and objects deeper than " +
                         std::to_string(kMaxJsonDepth) + " levels.");
    json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object())
        return Malformed("The policy document is not valid JSON.");
    auto statements = doc.find("Statement");
    if (statements == doc.end()) return Malformed("Policy must contain at least one statement.");
    auto list = std::make_shared<std::vector<Statement>>();
    const json all = statements->is_array() ? *statements : json::array({*statements});
    if (all.empty()) return Malformed("Policy must contain at least one statement.");
    for (const auto& s : all) {
        KMSD_ASSIGN_OR_RETURN(Statement st, ParseStatement(s, require_principal));
        list->push_back(std::move(st));
    }
    Policy p;
    auto keys = std::make_shared<std::vector<std::string>>();
    for (const auto& st : *list)
        for (const auto& c : st.conditions)
            if (std::find(keys->begin(), keys->end(), c.key) == keys->end()) keys->push_back(c.key);
    p.has_conditions_ = !keys->empty();
    p.condition_keys_ = std::move(keys);
    p.statements_ = std::move(list);
    return p;
}

std::vector<std::string> Policy::Principals() const {
    std::vector<std::string> out;
    if (statements_)
        for (const auto& st : *statements_)
            out.insert(out.end(), st.principals.begin(), st.principals.end());
    return out;
}

Evaluation Policy::Evaluate(const RequestContext& req) const {
    Evaluation out;
    if (!statements_) return out;
    const CallerView caller = ViewOf(req);
    for (const auto& st : *statements_) {
        // Action and Resource: a statement without them never applies.
        if (st.actions.empty() || st.resources.empty()) continue;
        // Cheapest and most selective test first: who the statement is about.
        bool direct = !st.has_principal || st.any_principal;
        bool account = false;
        for (const auto& p : st.parsed) {
            direct = direct || NamesPrincipal(p, caller);
            account = account || NamesAccountOf(p, caller);
        }
        if (st.not_principal) {
            // NotPrincipal applies to everyone it does not name. With Deny, IAM checks each of
            // the caller's identities (user or session, its role, its account): a caller is
            // spared only when all of them are listed.
            bool spared = direct || account;
            if (!st.allow && !st.any_principal) spared = SparedByNotPrincipal(st.parsed, caller);
            direct = !spared;
            account = false;
        }
        if (!direct && !account) continue;
        bool action = std::any_of(st.actions.begin(), st.actions.end(), [&](const auto& a) {
            return WildcardMatch(a, req.action, /*fold_case=*/true);
        });
        if (action == st.not_action) continue;
        bool resource = std::any_of(st.resources.begin(), st.resources.end(), [&](const auto& r) {
            return WildcardMatch(r, req.resource, /*fold_case=*/false);
        });
        if (resource == st.not_resource) continue;
        // Conditions last: they cost the most.
        if (!std::all_of(st.conditions.begin(), st.conditions.end(),
                         [&](const Condition& c) { return Holds(c, req); }))
            continue;
        if (!st.allow)
            out.deny = true;
        else if (direct)
            out.allow_principal = true;
        else
            out.allow_account = true;
    }
    return out;
}

}  // namespace kmsd::api::authz
