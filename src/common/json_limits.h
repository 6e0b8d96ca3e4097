// Limits on JSON that comes from outside (request bodies, key policies, admin bodies), checked
// before any parser or printer walks it: nlohmann's dump() and our own printers recurse once per
// nesting level, so a client that chooses the depth would choose the stack use.
#pragma once

#include <cstddef>
#include <string_view>

namespace kmsd {

// Deepest nesting any KMS input needs is 4 (CreateGrant Constraints, DryRunModifiers); the
// deepest sensible key policy about 6 (Statement / Condition / operator / key / values). 32 leaves
// room and keeps every recursive walk shallow.
inline constexpr int kMaxJsonDepth = 32;

// True when no array or object in `text` nests deeper than `max_depth`. A linear scan that
// understands strings (brackets inside them do not count) and nothing else: it does not validate,
// the parser that runs next does.
constexpr bool JsonNestingWithin(std::string_view text, int max_depth = kMaxJsonDepth) {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\')
                ++i;  // the escaped character never ends the string
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) return false;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return true;
}

}  // namespace kmsd
