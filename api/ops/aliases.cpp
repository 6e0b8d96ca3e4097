// Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases.
#include "api/managed_keys.h"
#include "api/ops/common.h"

namespace kmsd::api::ops {
namespace {

constexpr std::size_t kMaxAliasesPerKey = 50;
constexpr char kAliasPrefix[] = "alias/";

// Name rules beyond the model's pattern (kms-reference §2.1, §8 rows 6-7).
Status CheckAliasName(const std::string& name) {
    if (name.rfind(kAliasPrefix, 0) != 0)
        return Error(ErrorCode::kValidation,
                     "Alias must start with the prefix \"alias/\". Please see "
                     "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html");
    if (name.rfind(kManagedAliasPrefix, 0) == 0) return Error(ErrorCode::kNotAuthorized);
    if (name.find(':') != std::string::npos)
        return Error(ErrorCode::kValidation, name + " contains invalid characters for an alias");
    if (name.size() == std::string(kAliasPrefix).size())
        return Error(ErrorCode::kValidation, "Alias name must not be empty after alias/");
    return Status::Ok();
}

// Alias operations need permission on the alias itself (IAM) as well as on its keys.
Status CheckAlias(OpContext& ctx, const std::string& name) {
    KMSD_RETURN_IF_ERROR(CheckAliasName(name));
    return ctx.AuthorizeAlias();
}

// The target of CreateAlias/UpdateAlias (the route's target key) with room for one more alias.
Result<storage::KeyPtr> AliasTarget(OpContext& ctx) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.TargetKey());
    if (ctx.services.catalog.AliasesOf(key->scoped()).size() >= kMaxAliasesPerKey)
        return Error(ErrorCode::kLimitExceeded,
                     "Too many aliases for key " + key->arn + ". The limit is 50.");
    return key;
}

// AWS lists the predefined alias/aws/<service> names of an account before their keys exist,
// without a target (kms-reference §5.7): each one not made yet joins `aliases` (name order) as
// a record without a key ID.
void AddPredefinedAliases(const OpContext& ctx, std::vector<storage::AliasPtr>& aliases) {
    std::vector<storage::AliasPtr> merged;
    merged.reserve(aliases.size() + 20);
    auto it = aliases.begin();
    for (const std::string& name : ManagedAliasNames()) {
        for (; it != aliases.end() && (*it)->alias_name < name; ++it) merged.push_back(*it);
        if (it != aliases.end() && (*it)->alias_name == name) continue;  // made: listed as it is
        auto alias = std::make_shared<storage::AliasRecord>();
        alias->account = ctx.caller.account;
        alias->region = ctx.caller.region;
        alias->alias_name = name;
        merged.push_back(std::move(alias));
    }
    merged.insert(merged.end(), it, aliases.end());
    aliases = std::move(merged);
}

}  // namespace

Result<Json> CreateAlias(OpContext& ctx, const Request& req) {
    const std::string name = req.String("AliasName");
    KMSD_RETURN_IF_ERROR(CheckAlias(ctx, name));
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        KMSD_ASSIGN_OR_RETURN(auto key, AliasTarget(ctx));
        if (ctx.services.catalog.FindAlias({ctx.caller.account, ctx.caller.region, name}))
            return Error(ErrorCode::kAlreadyExists,
                         "An alias with the name " +
                             AliasArn(ctx.caller.region, ctx.caller.account, name) +
                             " already exists");
        auto alias = std::make_shared<storage::AliasRecord>();
        alias->account = ctx.caller.account;
        alias->region = ctx.caller.region;
        alias->alias_name = name;
        alias->key_id = key->key_id;
        alias->creation_date = alias->last_updated = Timestamp(ctx.Now());
        storage::Change change;
        change.put_aliases.push_back(alias);
        return change;
    }));
    return Json();
}

Result<Json> UpdateAlias(OpContext& ctx, const Request& req) {
    const std::string name = req.String("AliasName");
    KMSD_RETURN_IF_ERROR(CheckAlias(ctx, name));
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        KMSD_ASSIGN_OR_RETURN(auto current, ctx.Alias());
        KMSD_ASSIGN_OR_RETURN(auto key, AliasTarget(ctx));
        auto alias = std::make_shared<storage::AliasRecord>(*current);
        alias->key_id = key->key_id;
        alias->last_updated = Timestamp(ctx.Now());
        storage::Change change;
        change.put_aliases.push_back(alias);
        return change;
    }));
    return Json();
}

Result<Json> DeleteAlias(OpContext& ctx, const Request& req) {
    const std::string name = req.String("AliasName");
    KMSD_RETURN_IF_ERROR(CheckAlias(ctx, name));
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        storage::ScopedName scoped{ctx.caller.account, ctx.caller.region, name};
        KMSD_RETURN_IF_ERROR(ctx.Alias().status());
        storage::Change change;
        change.delete_aliases.push_back(scoped);
        return change;
    }));
    return Json();
}

Result<Json> ListAliases(OpContext& ctx, const Request& req) {
    const std::size_t limit = PageLimit(req, 50, 100);
    std::vector<storage::AliasPtr> aliases;
    if (req.Has("KeyId")) {
        KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
        aliases = ctx.services.catalog.AliasesOf(key->scoped());
    } else {
        aliases = ctx.services.catalog.ListAliases(ctx.caller.account, ctx.caller.region);
        AddPredefinedAliases(ctx, aliases);
    }
    // The Catalog lists aliases in name order.
    return SortedPage(
        req, "aliases", "Aliases", aliases, limit,
        [](const storage::AliasPtr& a) -> const std::string& { return a->alias_name; },
        [](const storage::AliasPtr& alias) {
            const auto& a = *alias;
            Json entry = Json::object();
            entry["AliasArn"] = Str(AliasArn(a.region, a.account, a.alias_name));
            entry["AliasName"] = Str(a.alias_name);
            if (a.key_id.empty()) return entry;  // a predefined alias/aws/ name not used yet
            entry["CreationDate"] = a.creation_date;
            entry["LastUpdatedDate"] = a.last_updated;
            entry["TargetKeyId"] = Str(a.key_id);
            return entry;
        });
}

}  // namespace kmsd::api::ops
