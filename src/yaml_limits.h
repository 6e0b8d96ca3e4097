// Bounds on YAML documents read from files (principals, seed), checked once right after parsing
// and before anything converts or walks the document. yaml-cpp limits its own parser's recursion
// (2000 levels), but our conversions walk what it built: a recursive walk would use stack in
// proportion to a depth the file chooses, and aliases let a few hundred bytes name billions of
// nodes ("billion laughs": each alias is walked again wherever it is used).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace kmsd {

// The deepest sensible principals file is about 9 levels (accounts / id / users / user /
// policies / policy / Statement / statement / Condition / operator / key / values); 32 leaves
// room, as for JSON (common/json_limits.h).
inline constexpr int kMaxYamlDepth = 32;
// Nodes as conversions see them (aliases expanded). A principals file with a hundred users, each
// with a few policies, is a few thousand.
inline constexpr std::size_t kMaxYamlNodes = 100000;

// OK when `root`, walked as a tree (an alias counted again wherever it appears), has no more than
// `max_depth` maps and sequences nested in each other and at most `max_nodes` nodes; otherwise
// kValidation saying which. The walk is iterative and stops at the first limit, so it costs at most
// `max_nodes` steps.
inline Status CheckYamlLimits(const YAML::Node& root, int max_depth = kMaxYamlDepth,
                              std::size_t max_nodes = kMaxYamlNodes) {
    std::vector<std::pair<YAML::Node, int>> pending;
    pending.emplace_back(root, 1);
    std::size_t seen = 0;
    while (!pending.empty()) {
        auto [node, depth] = std::move(pending.back());
        pending.pop_back();
        if (++seen > max_nodes)
            return Error(ErrorCode::kValidation,
                         "the document has more than " + std::to_string(max_nodes) +
                             " nodes (aliases count each time they are used)");
        if (!node.IsMap() && !node.IsSequence()) continue;
        if (depth > max_depth)
            return Error(ErrorCode::kValidation,
                         "the document nests deeper than " + std::to_string(max_depth) + " levels");
        for (const auto& child : node) {
            if (node.IsMap()) {
                pending.emplace_back(child.first, depth + 1);
                pending.emplace_back(child.second, depth + 1);
            } else {
                pending.emplace_back(child, depth + 1);
            }
        }
    }
    return Status::Ok();
}

}  // namespace kmsd
