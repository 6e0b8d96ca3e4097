// Where kmsd's log lines go and in what shape: stderr, as text (the default) or as one JSON
// object per line (--log-format json) for CI log collectors. Log lines never carry a request
// body, a plaintext or key material.
#pragma once

#include <string>
#include <string_view>

namespace kmsd {

// Installs the default logger. `format` is "text" or "json"; `level` one of spdlog's names.
void SetUpLogging(const std::string& level, const std::string& format);

// `text` as the inside of a JSON string: quotes, backslashes and control characters escaped,
// and any byte that is not part of valid UTF-8 replaced by U+FFFD (a header a client sent may
// hold anything, and one bad byte must not make a collector drop the line).
std::string JsonEscape(std::string_view text);

}  // namespace kmsd
