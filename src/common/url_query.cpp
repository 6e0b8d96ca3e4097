#include "common/url_query.h"

namespace kmsd {
namespace {

int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

Result<std::string> Decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%') {
            const int hi = i + 2 < s.size() ? HexValue(s[i + 1]) : -1;
            const int lo = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return Error(ErrorCode::kValidation, "malformed percent-escape in the query");
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

}  // namespace

Result<QueryParams> ParseUrlQuery(std::string_view query) {
    QueryParams out;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        KMSD_ASSIGN_OR_RETURN(std::string name, Decode(pair.substr(0, eq)));
        std::string value;
        if (eq != std::string_view::npos) {
            KMSD_ASSIGN_OR_RETURN(value, Decode(pair.substr(eq + 1)));
        }
        out.emplace_back(std::move(name), std::move(value));
    }
    return out;
}

}  // namespace kmsd
