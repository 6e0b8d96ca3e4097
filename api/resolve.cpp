#include "api/resolve.h"

#include <array>
#include <cstdint>

#include "api/managed_keys.h"
#include "hsm/crypto.h"

namespace kmsd::api {
namespace {

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// What each byte may be in a key ID: a hex digit of either case (ASCII only: std::tolower is a
// locale call per character), a dash, or neither.
enum : std::uint8_t { kOther = 0, kHexDigit = 1, kDash = 2 };
constexpr std::array<std::uint8_t, 256> kUuidClass = [] {
    std::array<std::uint8_t, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = kHexDigit;
    for (int c = 'a'; c <= 'f'; ++c) t[static_cast<std::size_t>(c)] = kHexDigit;
    for (int c = 'A'; c <= 'F'; ++c) t[static_cast<std::size_t>(c)] = kHexDigit;
    t['-'] = kDash;
    return t;
}();

// 8-4-4-4-12. Every request naming a key by ID or ARN asks (it was 630 instructions a call with a
// position test and two range tests per character): one table lookup per character, compared
// with what the position wants, and no branch until the end.
bool IsUuid(const std::string& s) {
    if (s.size() != 36) return false;
    constexpr std::uint64_t kDashes = (1ULL << 8) | (1ULL << 13) | (1ULL << 18) | (1ULL << 23);
    unsigned wrong = 0;
    for (std::size_t i = 0; i < 36; ++i) {
        const unsigned want = (kDashes >> i) & 1 ? kDash : kHexDigit;
        wrong |= kUuidClass[static_cast<unsigned char>(s[i])] ^ want;
    }
    return wrong == 0;
}

// Splits "arn:partition:kms:region:account:resource" into views of `s`; false if the shape is
// wrong.
struct Arn {
    std::string_view partition, service, region, account, resource;
};
bool ParseArn(std::string_view s, Arn& out) {
    std::string_view parts[5];
    std::size_t start = 0;
    for (auto& part : parts) {
        const auto colon = s.find(':', start);
        if (colon == std::string_view::npos) return false;
        part = s.substr(start, colon - start);
        start = colon + 1;
    }
    if (parts[0] != "arn") return false;
    out = {parts[1], parts[2], parts[3], parts[4], s.substr(start)};
    return true;
}

Result<storage::KeyPtr> FindById(const OpContext& ctx, const std::string& account,
                                 const std::string& region, const std::string& id) {
    if (!IsKeyIdForm(id)) return Error(ErrorCode::kNotFound, "Invalid keyId '" + id + "'");
    auto key = ctx.services.catalog.FindKey({account, region, id});
    if (!key)
        return Error(ErrorCode::kNotFound,
                     "Key '" + KeyArn(region, account, id) + "' does not exist");
    return key;
}

Result<storage::KeyPtr> FindByAlias(const OpContext& ctx, const std::string& account,
                                    const std::string& region, const std::string& name) {
    auto alias = ctx.services.catalog.FindAlias({account, region, name});
    // The first use of a predefined alias/aws/<service> in the caller's account makes its key.
    if (!alias && account == ctx.caller.account && IsManagedAlias(name))
        return FindOrCreateManagedKey(ctx, name);
    auto key = alias ? ctx.services.catalog.FindKey({account, region, alias->key_id}) : nullptr;
    if (!key)
        return Error(ErrorCode::kNotFound,
                     "Alias " + AliasArn(region, account, name) + " is not found.");
    return key;
}

}  // namespace

void PrefetchKey(const Services& services, const Caller& caller, std::string_view ref) {
    std::string_view account = caller.account;
    std::string_view region = caller.region;
    std::string_view id = ref;
    if (ref.starts_with("arn:")) {
        Arn arn;
        if (!ParseArn(ref, arn) || !arn.resource.starts_with("key/")) return;
        region = arn.region;
        account = arn.account;
        id = arn.resource.substr(4);
    } else if (ref.starts_with("alias/")) {
        return;
    }
    services.catalog.PrefetchKey({account, region, id});
}

std::string Partition(const std::string& region) {
    if (region.rfind("cn-", 0) == 0) return "aws-cn";
    if (region.rfind("us-gov-", 0) == 0) return "aws-us-gov";
    return "aws";
}

std::string KeyArn(const std::string& region, const std::string& account, const std::string& id) {
    return "arn:" + Partition(region) + ":kms:" + region + ":" + account + ":key/" + id;
}

std::string AliasArn(const std::string& region, const std::string& account,
                     const std::string& alias_name) {
    return "arn:" + Partition(region) + ":kms:" + region + ":" + account + ":" + alias_name;
}

std::string NewUuid() {
    SecureBytes b = hsm::RandomBytes(16);
    b[6] = static_cast<std::uint8_t>((b[6] & 0x0F) | 0x40);
    b[8] = static_cast<std::uint8_t>((b[8] & 0x3F) | 0x80);
    static const char* kHex = "0123456789abcdef";
    std::string out(36, '-');  // sized once: every request gets an ID
    std::size_t o = 0;
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) ++o;  // the dash already there
        out[o++] = kHex[b[i] >> 4];
        out[o++] = kHex[b[i] & 15];
    }
    return out;
}

bool IsKeyIdForm(const std::string& s) {
    if (s.rfind("mrk-", 0) != 0) return IsUuid(s);
    if (s.size() != 4 + 32) return false;
    for (std::size_t i = 4; i < s.size(); ++i)
        if (!IsHex(s[i])) return false;
    return true;
}

Result<storage::KeyPtr> LookupKey(const OpContext& ctx, const std::string& ref, AliasRefs aliases,
                                  bool cross_account, std::string* alias) {
    const std::string& account = ctx.caller.account;
    const std::string& region = ctx.caller.region;
    if (ref.rfind("arn:", 0) == 0) {
        Arn arn;
        if (!ParseArn(ref, arn) || arn.service != "kms")
            return Error(ErrorCode::kNotFound, "Invalid arn");
        if (arn.region != region)
            return Error(ErrorCode::kNotFound, "Invalid arn " + std::string(arn.region));
        if (arn.resource.starts_with("key/")) {
            const std::string id(arn.resource.substr(4));
            // Another account's key, for the operations AWS allows across accounts; the key
            // policy then decides.
            if (arn.account != account && !cross_account && IsKeyIdForm(id))
                return Error(ErrorCode::kNotFound, "Key '" + ref + "' does not exist");
            return FindById(ctx, std::string(arn.account), region, id);
        }
        if (arn.resource.starts_with("alias/") && aliases == AliasRefs::kAllowed) {
            // An alias ARN names another account's key for the operations AWS allows across
            // accounts; an alias name is always the caller's.
            if (arn.account != account && !cross_account)
                return Error(ErrorCode::kNotFound, "Alias " + ref + " is not found.");
            if (alias) *alias = arn.resource;
            return FindByAlias(ctx, std::string(arn.account), region, std::string(arn.resource));
        }
        return Error(ErrorCode::kNotFound, "Invalid keyId '" + ref + "'");
    }
    if (ref.rfind("alias/", 0) == 0) {
        if (aliases != AliasRefs::kAllowed)
            return Error(ErrorCode::kNotFound, "Invalid keyId '" + ref + "'");
        if (alias) *alias = ref;
        return FindByAlias(ctx, account, region, ref);
    }
    return FindById(ctx, account, region, ref);
}

Status RequireEnabled(const storage::KeyRecord& key) {
    // A key in a disconnected custom key store, whatever its own state (kms-reference §5.2).
    if (key.unavailable()) return Error(ErrorCode::kInvalidState, key.arn + " is unavailable.");
    switch (key.state) {
        case storage::KeyState::kEnabled:
            return Status::Ok();
        case storage::KeyState::kDisabled:
            return Error(ErrorCode::kDisabled, key.arn + " is disabled.");
        case storage::KeyState::kPendingDeletion:
        case storage::KeyState::kPendingReplicaDeletion:
            return Error(ErrorCode::kInvalidState, key.arn + " is pending deletion.");
        case storage::KeyState::kPendingImport:
            return Error(ErrorCode::kInvalidState, key.arn + " is pending import.");
    }
    return Error(ErrorCode::kInvalidState, key.arn + " is unavailable.");
}

Status RequireNotPendingDeletion(const storage::KeyRecord& key) {
    if (key.pending_deletion())
        return Error(ErrorCode::kInvalidState, key.arn + " is pending deletion.");
    return Status::Ok();
}

Status CheckKeyState(const storage::KeyRecord& key, KeyStates states) {
    switch (states) {
        case KeyStates::kAny:
            return Status::Ok();
        case KeyStates::kEnabled:
            return RequireEnabled(key);
        case KeyStates::kNotPendingDeletion:
            return RequireNotPendingDeletion(key);
        case KeyStates::kNotPendingDeletionOrImport:
            // Disabled is fine; the other unusable states give RequireEnabled's errors.
            if (key.pending_deletion() || key.state == storage::KeyState::kPendingImport)
                return RequireEnabled(key);
            return Status::Ok();
        case KeyStates::kPendingDeletion:
            if (!key.pending_deletion())
                return Error(ErrorCode::kInvalidState, key.arn + " is not pending deletion.");
            return Status::Ok();
    }
    return Status::Ok();
}

}  // namespace kmsd::api
