// Tags: TagResource, UntagResource, ListResourceTags.
#include <algorithm>

#include "api/ops/common.h"

namespace kmsd::api::ops {

Result<Json> TagResource(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_RETURN_IF_ERROR(MutateKey(ctx, *key, [&](storage::KeyRecord& k) {
                             return MergeTags(k.tags, req.At("Tags"));
                         }).status());
    return Json();
}

Result<Json> UntagResource(OpContext& ctx, const Request& req) {
    const auto remove = req.StringList("TagKeys");
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_RETURN_IF_ERROR(MutateKey(ctx, *key, [&](storage::KeyRecord& k) {
                             // Keys that are not there are a no-op, as in AWS.
                             std::erase_if(k.tags, [&](const auto& t) {
                                 return std::find(remove.begin(), remove.end(), t.first) !=
                                        remove.end();
                             });
                             return Status::Ok();
                         }).status());
    return Json();
}

Result<Json> ListResourceTags(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    const std::size_t limit = PageLimit(req, 50, 50);
    // Listed by tag key, which is also the marker order.
    storage::Tags sorted = key->tags;
    std::sort(sorted.begin(), sorted.end());
    return SortedPage(
        req, "tags", "Tags", sorted, limit,
        [](const auto& t) -> const std::string& { return t.first; },
        [](const auto& t) {
            return Json{{"TagKey", Str(t.first)}, {"TagValue", Str(t.second)}};
        });
}

}  // namespace kmsd::api::ops
